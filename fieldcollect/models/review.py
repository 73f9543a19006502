"""The coordinators' review: every decision is a ``ReviewEvent``; validation feeds the training pool."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReviewAction(models.TextChoices):
    VALIDATE = "validate", "Validated"
    REJECT = "reject", "Rejected"
    REQUEST_CHANGES = "request_changes", "Sent back for changes"
    WAIVE = "waive", "Waived a QC finding"
    COMMENT = "comment", "Commented"
    QC = "qc", "Automatic QC"


class ReviewEvent(models.Model):
    """One step of a relevé's review (the audit trail), written in the same transaction as the change."""

    releve = models.ForeignKey("fieldcollect.Releve", on_delete=models.CASCADE, related_name="review_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for automatic QC.",
    )
    action = models.CharField(max_length=20, choices=ReviewAction.choices)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    comment = models.TextField(blank=True)
    releve_version = models.PositiveIntegerField()
    qc_result = models.ForeignKey(
        "fieldcollect.QCResult", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["releve", "created_at", "id"]
        indexes = [models.Index(fields=["releve", "created_at"], name="reviewevent_releve_time")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} relevé {self.releve_id} ({self.from_status} → {self.to_status})"


class TrainingPoolEvent(models.Model):
    """A queue row for the classification module: a relevé entered or left the live training pool.

    Written with the validation (or un-validation) in one transaction; the consumer claims pending rows
    with ``training_pool_events_claim`` (SKIP LOCKED) and marks them processed.
    """

    class Kind(models.TextChoices):
        ADDED = "added", "Added to the training pool"
        REMOVED = "removed", "Removed from the training pool"

    releve = models.ForeignKey("fieldcollect.Releve", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    releve_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=models.Q(processed_at__isnull=True), name="trainingpool_pending")
        ]

    def __str__(self) -> str:
        return f"{self.kind} relevé {self.releve_id} (v{self.releve_version})"
