"""The change log that ``GET /api/v1/sync/pull/`` reads.

Each row records the id of the transaction that wrote it (``pg_current_xact_id()``, an xid8 as bigint)
and a sequence number. A pull returns only rows of transactions older than the oldest one still
running, ordered by (xid, seq): a transaction that commits later has a larger xid than anything already
returned, so no change can land behind a cursor, whatever the commit order.
"""

from django.db import models
from django.db.models import Func


class CurrentXactId(Func):
    """``pg_current_xact_id()`` as a bigint (xid8 is epoch-extended and never wraps)."""

    template = "(pg_current_xact_id()::text::bigint)"
    output_field = models.BigIntegerField()


class ChangeLog(models.Model):
    """One change a tablet must pull: a relevé's content, status or review changed, or it was deleted."""

    class Kind(models.TextChoices):
        RELEVE = "releve", "Relevé changed"
        STATUS = "status", "Status changed"
        TOMBSTONE = "tombstone", "Relevé deleted"

    id = models.BigAutoField(primary_key=True)  # the sequence number
    xid = models.BigIntegerField(db_default=CurrentXactId(), editable=False)
    releve = models.ForeignKey("fieldcollect.Releve", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["xid", "id"], name="changelog_xid_seq")]

    def __str__(self) -> str:
        return f"{self.kind} of relevé {self.releve_id} (xid {self.xid}, seq {self.id})"
