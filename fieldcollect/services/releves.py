"""The one write path for a relevé's status, deletion and change-log rows (what tablets pull)."""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from fieldcollect.models import ChangeLog, Releve, ReleveRevision, ReleveStatus, TrainingPoolEvent, User

# The review workflow (DESIGN.md). Pushing an edit sends a relevé back to "submitted"; un-validating
# is allowed (it leaves the live training pool); "validated" cannot be edited from a tablet.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    ReleveStatus.SUBMITTED: frozenset({ReleveStatus.QC_FLAGGED, ReleveStatus.QC_PASSED}),
    ReleveStatus.QC_FLAGGED: frozenset(
        {
            ReleveStatus.QC_PASSED,
            ReleveStatus.VALIDATED,
            ReleveStatus.NEEDS_CHANGES,
            ReleveStatus.REJECTED,
            ReleveStatus.SUBMITTED,
        }
    ),
    ReleveStatus.QC_PASSED: frozenset(
        {
            ReleveStatus.QC_FLAGGED,
            ReleveStatus.VALIDATED,
            ReleveStatus.NEEDS_CHANGES,
            ReleveStatus.REJECTED,
            ReleveStatus.SUBMITTED,
        }
    ),
    ReleveStatus.VALIDATED: frozenset(
        {ReleveStatus.QC_PASSED, ReleveStatus.QC_FLAGGED, ReleveStatus.NEEDS_CHANGES, ReleveStatus.REJECTED}
    ),
    ReleveStatus.NEEDS_CHANGES: frozenset({ReleveStatus.SUBMITTED, ReleveStatus.REJECTED}),
    ReleveStatus.REJECTED: frozenset({ReleveStatus.NEEDS_CHANGES, ReleveStatus.SUBMITTED}),
}
LOCKED_STATUSES = frozenset({ReleveStatus.VALIDATED})


class InvalidTransition(ValueError):
    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"A relevé cannot go from {from_status} to {to_status}.")
        self.from_status = from_status
        self.to_status = to_status


def releve_record_change(*, releve: Releve, kind: str = ChangeLog.Kind.RELEVE) -> None:
    """Log that ``releve`` changed, in the caller's transaction, so that its tablets pull it.

    Call it from any service that changes what a tablet sees of a relevé (QC results, comments, edits).
    """
    ChangeLog.objects.create(releve=releve, kind=kind)


def releve_record_changes(*, releve_ids: Iterable[int], kind: str = ChangeLog.Kind.RELEVE) -> None:
    """``releve_record_change`` for many relevés in one INSERT (same transaction semantics)."""
    ChangeLog.objects.bulk_create([ChangeLog(releve_id=releve_id, kind=kind) for releve_id in releve_ids])


def _training_pool_event(*, releve: Releve, added: bool) -> None:
    """Queue the relevé for the live training pool (classification consumes it after commit)."""
    from classification.services.pool import training_pool_schedule

    kind = TrainingPoolEvent.Kind.ADDED if added else TrainingPoolEvent.Kind.REMOVED
    TrainingPoolEvent.objects.create(releve=releve, kind=kind, releve_version=releve.version)
    training_pool_schedule()


@transaction.atomic
def releve_set_status(*, releve: Releve, to_status: str, actor: User | None, comment: str = "") -> Releve:
    """Move ``releve`` along the workflow (or raise InvalidTransition) and log the change for pull."""
    # Lock the row: a tablet push and a coordinator's decision must not interleave on one relevé.
    locked = Releve.objects.select_for_update().get(pk=releve.pk)
    if locked.status == to_status:
        return locked
    if to_status not in ALLOWED_TRANSITIONS[locked.status]:
        raise InvalidTransition(locked.status, to_status)
    from_status = locked.status
    locked.status = to_status
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "updated_at"])
    releve_record_change(releve=locked, kind=ChangeLog.Kind.STATUS)
    if ReleveStatus.VALIDATED in (from_status, to_status):
        _training_pool_event(releve=locked, added=to_status == ReleveStatus.VALIDATED)
    releve.status, releve.updated_at = locked.status, locked.updated_at
    return locked


@dataclass(frozen=True)
class StatusChange:
    releve_id: int
    from_status: str
    to_status: str
    version: int  # the relevé's content version at the change (for the caller's ReviewEvent)


@transaction.atomic
def releve_set_status_many(
    *, targets: Mapping[int, str], actor: User | None, only_from: Collection[str] | None = None
) -> list[StatusChange]:
    """``releve_set_status`` for many relevés at once, with the same effects in a fixed number of queries.

    Relevés already in their target status are left alone, and so are those whose status (read under the
    row lock) is not in ``only_from`` when it is given: a caller that decided on an older read of the
    status (automatic QC) never overrides a decision taken meanwhile. A forbidden transition raises
    ``InvalidTransition`` and changes nothing. Each change gets its change-log row (tablets pull it) and,
    into or out of "validated", its ``TrainingPoolEvent``, as one at a time would.
    """
    # Lock in id order: two bulk changes over overlapping relevés wait for each other instead of deadlocking.
    current = Releve.objects.select_for_update().filter(pk__in=list(targets)).order_by("pk")
    changes: list[StatusChange] = []
    for releve_id, status, version in current.values_list("pk", "status", "version"):
        to_status = targets[releve_id]
        if status == to_status or (only_from is not None and status not in only_from):
            continue
        if to_status not in ALLOWED_TRANSITIONS[status]:
            raise InvalidTransition(status, to_status)
        changes.append(StatusChange(releve_id, status, to_status, version))
    if not changes:
        return changes
    by_status: dict[str, list[int]] = defaultdict(list)
    for change in changes:
        by_status[change.to_status].append(change.releve_id)
    now = timezone.now()
    for to_status, ids in by_status.items():
        Releve.objects.filter(pk__in=ids).update(status=to_status, updated_at=now)
    releve_record_changes(releve_ids=[c.releve_id for c in changes], kind=ChangeLog.Kind.STATUS)
    pool = [c for c in changes if ReleveStatus.VALIDATED in (c.from_status, c.to_status)]
    if pool:
        from classification.services.pool import training_pool_schedule

        TrainingPoolEvent.objects.bulk_create(
            [
                TrainingPoolEvent(
                    releve_id=c.releve_id,
                    kind=TrainingPoolEvent.Kind.ADDED
                    if c.to_status == ReleveStatus.VALIDATED
                    else TrainingPoolEvent.Kind.REMOVED,
                    releve_version=c.version,
                )
                for c in pool
            ]
        )
        training_pool_schedule()
    return changes


@transaction.atomic
def releve_delete(*, releve: Releve, actor: User | None) -> Releve:
    """Soft-delete ``releve``: the row stays as a tombstone that tablets pull."""
    locked = Releve.objects.select_for_update().get(pk=releve.pk)
    if locked.deleted_at is None:
        locked.deleted_at = timezone.now()
        locked.updated_at = locked.deleted_at
        locked.save(update_fields=["deleted_at", "updated_at"])
        releve_record_change(releve=locked, kind=ChangeLog.Kind.TOMBSTONE)
        if locked.status == ReleveStatus.VALIDATED:
            _training_pool_event(releve=locked, added=False)
    return locked


@transaction.atomic
def releve_conflicts_resolve(*, revisions: Any, actor: User) -> int:
    """Mark conflict revisions resolved; a relevé's conflict flag drops when none of its conflicts is open."""
    now = timezone.now()
    open_conflicts = revisions.filter(outcome=ReleveRevision.Outcome.CONFLICT, resolved_at__isnull=True)
    releve_ids = set(open_conflicts.values_list("releve_id", flat=True))
    count = open_conflicts.update(resolved_at=now, resolved_by=actor)
    still_open = ReleveRevision.objects.filter(
        releve_id__in=releve_ids, outcome=ReleveRevision.Outcome.CONFLICT, resolved_at__isnull=True
    ).values_list("releve_id", flat=True)
    Releve.objects.filter(pk__in=releve_ids).exclude(pk__in=still_open).update(has_open_conflict=False)
    return count
