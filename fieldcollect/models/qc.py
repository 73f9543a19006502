"""Stored results of quality control, and campaign-wide QC runs with their progress."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class QCSeverity(models.TextChoices):
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class QCResult(models.Model):
    """One finding of one QC rule on one relevé; kept across re-runs (with its waiver) while it persists.

    ``fingerprint`` identifies the finding across runs (rule code + machine details): a re-run replaces
    the findings of a relevé, keeping the rows (and waivers) whose fingerprint reappears.
    """

    releve = models.ForeignKey("fieldcollect.Releve", on_delete=models.CASCADE, related_name="qc_results")
    rule = models.CharField(max_length=60, db_index=True)
    rule_version = models.PositiveIntegerField()
    severity = models.CharField(max_length=10, choices=QCSeverity.choices)
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64)
    releve_version = models.PositiveIntegerField(help_text="The relevé version the rule checked.")
    created_at = models.DateTimeField(default=timezone.now)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waived_at = models.DateTimeField(null=True, blank=True)
    waive_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["releve", "-severity", "rule"]
        verbose_name = "QC result"
        constraints = [
            models.UniqueConstraint(fields=["releve", "fingerprint"], name="unique_qc_finding"),
            models.CheckConstraint(
                condition=models.Q(waived_by__isnull=True) | ~models.Q(waive_reason=""), name="waiver_has_reason"
            ),
        ]
        indexes = [models.Index(fields=["severity", "rule"], name="qcresult_severity_rule")]

    def __str__(self) -> str:
        return f"{self.rule} v{self.rule_version} {self.severity}: {self.message}"

    @property
    def is_waived(self) -> bool:
        return self.waived_by_id is not None


class ReleveQCState(models.Model):
    """When a relevé was last checked, at which content version, and with which rule versions.

    Rules that found nothing leave no ``QCResult``; this row is what tells "checked and clean" from
    "never checked", and which relevés a new rule version or a new raster makes stale. ``open_errors`` and
    ``open_warnings`` count the unwaived findings of the relevé, kept by the two services that change them
    (storing QC results, waiving a finding) in their transaction: the review list counts, badges and
    filters on them without looking at every finding.
    """

    releve = models.OneToOneField("fieldcollect.Releve", on_delete=models.CASCADE, related_name="qc_state")
    checked_at = models.DateTimeField()
    releve_version = models.PositiveIntegerField()
    rule_versions = models.JSONField(default=dict, help_text="Rule code → version of the rules that ran.")
    rules_signature = models.CharField(max_length=64, db_index=True)
    worst_severity = models.CharField(max_length=10, choices=QCSeverity.choices, blank=True)
    open_errors = models.PositiveIntegerField(default=0, help_text="Unwaived error findings.")
    open_warnings = models.PositiveIntegerField(default=0, help_text="Unwaived warning findings.")

    class Meta:
        verbose_name = "relevé QC state"

    def __str__(self) -> str:
        return f"QC of relevé {self.releve_id} at v{self.releve_version} ({self.checked_at:%Y-%m-%d %H:%M})"


class QCRun(models.Model):
    """A campaign-wide (re-)run of QC, processed in chunks by Celery; progress is visible in admin."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey("fieldcollect.Campaign", on_delete=models.CASCADE, related_name="qc_runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True, help_text="e.g. new rule version, new DEM.")
    only_stale = models.BooleanField(default=False, help_text="Only relevés checked with other rule versions.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    findings = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "QC run"

    def __str__(self) -> str:
        return f"QC run {self.pk} of {self.campaign} ({self.state}, {self.done}/{self.total})"

    @property
    def progress_pct(self) -> float:
        return 100.0 * self.done / self.total if self.total else (100.0 if self.state == self.State.DONE else 0.0)
