"""Photos of relevés: declared in a relevé's manifest, uploaded in resumable chunks, stored once per content."""

from django.contrib.gis.db import models
from django.utils import timezone

from .campaign import LAMBERT93
from .releve import Releve


class PhotoBlob(models.Model):
    """The bytes of a photo, stored once per sha256 (several photos may link the same blob)."""

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=50)
    file = models.FileField(upload_to="photos/", max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    thumbnail = models.FileField(upload_to="thumbnails/", max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.sha256[:12]}… ({self.size} bytes)"


class Photo(models.Model):
    """A photo of a relevé, named by the UUID its tablet generated."""

    class State(models.TextChoices):
        DECLARED = "declared", "Declared"
        PARTIAL = "partial", "Partially uploaded"
        COMPLETE = "complete", "Complete"

    uuid = models.UUIDField(unique=True)
    releve = models.ForeignKey(Releve, on_delete=models.CASCADE, related_name="photos")
    sha256 = models.CharField(max_length=64, help_text="Declared by the tablet; verified on completion.")
    size = models.PositiveBigIntegerField(help_text="Declared size in bytes.")
    content_type = models.CharField(max_length=50)
    bearing_deg = models.FloatField(null=True, blank=True, help_text="As declared by the tablet.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.DECLARED)
    received_bytes = models.PositiveBigIntegerField(default=0)
    blob = models.ForeignKey(PhotoBlob, null=True, blank=True, on_delete=models.PROTECT, related_name="photos")
    exif_taken_at = models.DateTimeField(null=True, blank=True)
    exif_location = models.PointField(srid=LAMBERT93, null=True, blank=True)
    exif_bearing_deg = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state="complete") | models.Q(blob__isnull=False), name="complete_photo_has_blob"
            )
        ]

    def __str__(self) -> str:
        return f"photo {self.uuid} ({self.state})"
