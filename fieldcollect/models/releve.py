"""Relevés (vegetation plots) as the tablets send them, their content rows, and every payload received."""

import json
from typing import Any

from django.conf import settings
from django.contrib.gis.db import models
from django.utils import timezone

from .campaign import LAMBERT93, Campaign


class ReleveStatus(models.TextChoices):
    """The review workflow of DESIGN.md; every change goes through ``releve_set_status``."""

    SUBMITTED = "submitted", "Submitted"
    QC_FLAGGED = "qc_flagged", "QC flagged"
    QC_PASSED = "qc_passed", "QC passed"
    VALIDATED = "validated", "Validated"
    NEEDS_CHANGES = "needs_changes", "Needs changes"
    REJECTED = "rejected", "Rejected"


class Layer(models.TextChoices):
    TREE = "tree", "Tree layer"
    TREE_1 = "tree_1", "Tree layer 1"
    TREE_2 = "tree_2", "Tree layer 2"
    TREE_3 = "tree_3", "Tree layer 3"
    SHRUB = "shrub", "Shrub layer"
    SHRUB_1 = "shrub_1", "Shrub layer 1"
    SHRUB_2 = "shrub_2", "Shrub layer 2"
    HERB = "herb", "Herb layer"
    MOSS = "moss", "Moss layer"


class BraunBlanquet(models.TextChoices):
    R = "r", "r — solitary"
    PLUS = "+", "+ — few, cover < 1 %"
    ONE = "1", "1 — numerous, cover < 5 %"
    TWO = "2", "2 — 5–25 %"
    TWO_M = "2m", "2m — very numerous, cover < 5 %"
    TWO_A = "2a", "2a — 5–12.5 %"
    TWO_B = "2b", "2b — 12.5–25 %"
    THREE = "3", "3 — 25–50 %"
    FOUR = "4", "4 — 50–75 %"
    FIVE = "5", "5 — 75–100 %"


# Mean % cover of each code on Turboveg scale 02 (shared/data/vegetation/braun_blanquet_cover_conversion.csv,
# column turboveg_tvscale_02_pct; a test checks these values against the file).
BRAUN_BLANQUET_COVER_PCT: dict[str, float] = {
    "r": 1,
    "+": 2,
    "1": 3,
    "2": 13,
    "2m": 4,
    "2a": 8,
    "2b": 18,
    "3": 38,
    "4": 68,
    "5": 88,
}


class Aspect(models.TextChoices):
    """Exposure in 16 directions (SINP nomenclature), plus flat."""

    N = "N"
    NNE = "NNE"
    NE = "NE"
    ENE = "ENE"
    E = "E"
    ESE = "ESE"
    SE = "SE"
    SSE = "SSE"
    S = "S"
    SSW = "SSW"
    SW = "SW"
    WSW = "WSW"
    W = "W"
    WNW = "WNW"
    NW = "NW"
    NNW = "NNW"
    FLAT = "flat", "Flat"


class Releve(models.Model):
    """One vegetation plot, identified by the UUID its tablet generated (the idempotency key).

    ``version`` counts content changes (tablet pushes and coordinator edits), not status changes: a
    tablet whose base version is older than ``version`` is in conflict. ``deleted_at`` is a tombstone.
    """

    uuid = models.UUIDField(unique=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="releves")
    observer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="releves")
    co_observers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="co_observed_releves")
    observed_at = models.DateTimeField()
    location = models.PointField(srid=LAMBERT93)
    plot = models.PolygonField(srid=LAMBERT93, null=True, blank=True, help_text="Plot footprint, if drawn.")
    gnss_accuracy_m = models.FloatField(null=True, blank=True)
    plot_area_m2 = models.FloatField(null=True, blank=True)
    altitude_m = models.FloatField(null=True, blank=True)
    slope_deg = models.FloatField(null=True, blank=True)
    aspect = models.CharField(max_length=4, choices=Aspect.choices, blank=True)
    total_cover_pct = models.FloatField(null=True, blank=True)
    notes = models.TextField(blank=True)
    sample_point_ref = models.CharField(
        max_length=64, blank=True, help_text="Identifier of the assigned sample point, as sent by the tablet."
    )
    device_id = models.CharField(max_length=100, blank=True)
    app_version = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, choices=ReleveStatus.choices, default=ReleveStatus.SUBMITTED)
    version = models.PositiveIntegerField(default=1)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the accepted payload (replay detection).")
    has_open_conflict = models.BooleanField(
        default=False, help_text="A tablet sent a payload based on an older version; a coordinator should look."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Tombstone: deleted relevés stay as rows.")

    class Meta:
        ordering = ["-observed_at"]
        indexes = [
            models.Index(fields=["campaign", "status"], name="releve_campaign_status"),
            models.Index(fields=["observer", "observed_at"], name="releve_observer_time"),
            # The review list's order (newest first, then id): its pages and map read the newest rows in
            # index order instead of sorting the whole filtered set.
            models.Index(fields=["observed_at", "id"], name="releve_observed_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(version__gte=1), name="releve_version_positive"),
        ]

    def __str__(self) -> str:
        return f"relevé {self.uuid} ({self.get_status_display()}, v{self.version})"


class ReleveLayer(models.Model):
    """Cover and height of one vegetation layer of a relevé."""

    releve = models.ForeignKey(Releve, on_delete=models.CASCADE, related_name="layers")
    layer = models.CharField(max_length=10, choices=Layer.choices)
    cover_pct = models.FloatField(null=True, blank=True)
    height_m = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["releve", "layer"], name="unique_releve_layer")]

    def __str__(self) -> str:
        return f"{self.layer}: {self.cover_pct} %"


class HabitatAssignment(models.Model):
    """A habitat unit (of any typology) recorded on a relevé, with its share of a mosaic."""

    class Certainty(models.TextChoices):
        SURE = "sure", "Sure"
        PROBABLE = "probable", "Probable"
        UNCERTAIN = "uncertain", "Uncertain"

    releve = models.ForeignKey(Releve, on_delete=models.CASCADE, related_name="habitats")
    habitat = models.ForeignKey("habitats.HabitatUnit", on_delete=models.PROTECT, related_name="+")
    cover_pct = models.FloatField(null=True, blank=True)
    rank = models.PositiveSmallIntegerField(help_text="Order on the tablet, 0 = main habitat.")
    certainty = models.CharField(max_length=10, choices=Certainty.choices, default=Certainty.SURE)

    class Meta:
        ordering = ["releve", "rank"]

    def __str__(self) -> str:
        return f"{self.habitat_id} ({self.cover_pct} %)"


class SpeciesObservation(models.Model):
    """A taxon seen in one layer of a relevé, with its Braun-Blanquet code and the derived mean cover."""

    releve = models.ForeignKey(Releve, on_delete=models.CASCADE, related_name="species")
    taxon = models.ForeignKey(
        "habitats.Taxon", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when the botanist could not match the name (QC flags it).",
    )  # fmt: skip
    name_cited = models.CharField(max_length=300, blank=True)
    layer = models.CharField(max_length=10, choices=Layer.choices)
    braun_blanquet = models.CharField(max_length=2, choices=BraunBlanquet.choices)
    cover_pct = models.FloatField(help_text="Mean cover of the code on Turboveg scale 02.")
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["releve", "rank"]

    def __str__(self) -> str:
        return f"{self.name_cited or self.taxon_id} {self.layer} {self.braun_blanquet}"


class ReleveRevision(models.Model):
    """One relevé payload exactly as a tablet sent it, whatever became of it: nothing sent is ever lost."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        CONFLICT = "conflict", "Conflict"
        INVALID = "invalid", "Invalid"

    uuid = models.UUIDField(null=True, blank=True, db_index=True, help_text="The relevé UUID the payload names.")
    releve = models.ForeignKey(Releve, null=True, blank=True, on_delete=models.SET_NULL, related_name="revisions")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    device_id = models.CharField(max_length=100, blank=True)
    app_version = models.CharField(max_length=50, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    base_version = models.PositiveIntegerField(null=True, blank=True)
    resulting_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Server version after this payload (the unchanged server version if refused)."
    )
    payload_json = models.TextField(help_text="The payload as received (key order kept; not normalised).")
    payload_hash = models.CharField(max_length=64)
    errors = models.JSONField(default=dict, blank=True)
    server_copy = models.JSONField(null=True, blank=True, help_text="The server's copy when a conflict was answered.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["outcome", "resolved_at"], name="revision_outcome_open")]

    def __str__(self) -> str:
        return f"{self.uuid} {self.outcome} at {self.received_at:%Y-%m-%d %H:%M}"

    @property
    def payload(self) -> Any:
        return json.loads(self.payload_json)
