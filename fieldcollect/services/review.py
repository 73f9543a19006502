"""The coordinators' review: validate, reject, send back, waive, comment — one write path each.

Every action checks that the actor coordinates the relevé's campaign and that the relevé is still what
the coordinator looked at (optimistic locking on its version and status), writes a ``ReviewEvent`` in
the same transaction, and logs the change for the tablets' pull. Validation and un-validation also write
a ``TrainingPoolEvent`` (in ``releve_set_status``) that the classification module consumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fieldcollect.models import (
    CampaignMember,
    QCResult,
    QCSeverity,
    Releve,
    ReleveQCState,
    ReleveStatus,
    ReviewAction,
    ReviewEvent,
    Role,
    TrainingPoolEvent,
    User,
)
from fieldcollect.services.releves import InvalidTransition, releve_record_change, releve_set_status


class ReviewError(Exception):
    """A refused review action, with a stable ``code`` and a message a coordinator can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


ACTION_STATUS = {
    ReviewAction.VALIDATE: ReleveStatus.VALIDATED,
    ReviewAction.REJECT: ReleveStatus.REJECTED,
    ReviewAction.REQUEST_CHANGES: ReleveStatus.NEEDS_CHANGES,
}
COMMENT_REQUIRED = frozenset({ReviewAction.REJECT, ReviewAction.REQUEST_CHANGES})


def user_coordinates(*, user: User, campaign_id: int) -> bool:
    return user.is_active and (
        user.is_superuser
        or CampaignMember.objects.filter(user=user, campaign_id=campaign_id, role=Role.COORDINATOR).exists()
    )


def _lock(*, releve_id: int, actor: User, expected_version: int | None, expected_status: str | None) -> Releve:
    # Lock the relevé for the whole decision: two coordinators (or a coordinator and a tablet push)
    # acting on one relevé are serialised, and the second sees the first one's result.
    releve = Releve.objects.select_for_update().filter(pk=releve_id, deleted_at__isnull=True).first()
    if releve is None:
        raise ReviewError("not_found", "This relevé does not exist or was deleted.")
    if not user_coordinates(user=actor, campaign_id=releve.campaign_id):
        raise ReviewError("not_coordinator", "You do not coordinate the campaign of this relevé.")
    if (expected_version is not None and releve.version != expected_version) or (
        expected_status is not None and releve.status != expected_status
    ):
        raise ReviewError(
            "stale",
            f"This relevé changed while you were looking at it (now version {releve.version}, "
            f"{releve.get_status_display().lower()}); reload it and decide again.",
        )
    return releve


def _unwaived_errors(releve: Releve) -> list[str]:
    return sorted(
        set(
            QCResult.objects.filter(releve=releve, severity=QCSeverity.ERROR, waived_by__isnull=True).values_list(
                "rule", flat=True
            )
        )
    )


@transaction.atomic
def releve_review(
    *,
    releve_id: int,
    actor: User,
    action: str,
    comment: str = "",
    expected_version: int | None = None,
    expected_status: str | None = None,
) -> ReviewEvent:
    """Validate, reject or send back one relevé; refused with a ``ReviewError`` (nothing changed)."""
    if action not in ACTION_STATUS:
        raise ReviewError("unknown_action", f"Unknown review action {action!r}.")
    comment = comment.strip()
    if action in COMMENT_REQUIRED and not comment:
        raise ReviewError("comment_required", "Say why in a comment: the botanist will read it on the tablet.")
    releve = _lock(releve_id=releve_id, actor=actor, expected_version=expected_version, expected_status=expected_status)
    if action == ReviewAction.VALIDATE:
        if releve.status in (ReleveStatus.SUBMITTED,):
            raise ReviewError("qc_pending", "Automatic QC has not checked this relevé yet.")
        errors = _unwaived_errors(releve)
        if errors:
            raise ReviewError(
                "qc_errors", f"QC errors block validation until waived with a reason: {', '.join(errors)}."
            )
    from_status = releve.status
    to_status = ACTION_STATUS[ReviewAction(action)]
    if from_status == to_status:
        raise ReviewError("no_change", f"This relevé is already {releve.get_status_display().lower()}.")
    try:
        releve_set_status(releve=releve, to_status=to_status, actor=actor, comment=comment)
    except InvalidTransition as exc:
        raise ReviewError("invalid_transition", str(exc)) from exc
    event = ReviewEvent.objects.create(
        releve=releve,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        comment=comment,
        releve_version=releve.version,
    )
    # releve_set_status wrote the TrainingPoolEvent when the relevé entered or left "validated".
    return event


@dataclass
class BulkOutcome:
    done: list[int] = field(default_factory=list)
    refused: dict[int, ReviewError] = field(default_factory=dict)


def releve_review_bulk(*, releve_ids: Sequence[int], actor: User, action: str, comment: str = "") -> BulkOutcome:
    """The same decision on many relevés; each is decided on its own (one refusal never sinks the rest)."""
    outcome = BulkOutcome()
    for releve_id in releve_ids:
        try:
            releve_review(releve_id=releve_id, actor=actor, action=action, comment=comment)
        except ReviewError as exc:
            outcome.refused[releve_id] = exc
        else:
            outcome.done.append(releve_id)
    return outcome


@transaction.atomic
def qc_result_waive(*, result_id: int, actor: User, reason: str) -> QCResult:
    """Waive a QC finding with a reason; an error no longer blocks validation. Logged as a ReviewEvent."""
    reason = reason.strip()
    if not reason:
        raise ReviewError("reason_required", "A waiver needs a reason.")
    result = QCResult.objects.filter(pk=result_id).first()
    if result is None:
        raise ReviewError("not_found", "This QC finding no longer exists (QC ran again); reload the relevé.")
    releve = _lock(releve_id=result.releve_id, actor=actor, expected_version=None, expected_status=None)
    result = QCResult.objects.select_for_update().get(pk=result_id)
    if result.is_waived:
        raise ReviewError("already_waived", "This QC finding is already waived.")
    result.waived_by, result.waived_at, result.waive_reason = actor, timezone.now(), reason
    result.save(update_fields=["waived_by", "waived_at", "waive_reason"])
    # The relevé's open counts (the review list's badges and filters) follow in the same transaction.
    if result.severity in (QCSeverity.ERROR, QCSeverity.WARNING):
        column = "open_errors" if result.severity == QCSeverity.ERROR else "open_warnings"
        ReleveQCState.objects.filter(releve=releve, **{f"{column}__gt": 0}).update(**{column: F(column) - 1})
    ReviewEvent.objects.create(
        releve=releve,
        actor=actor,
        action=ReviewAction.WAIVE,
        from_status=releve.status,
        to_status=releve.status,
        comment=f"{result.rule}: {reason}",
        releve_version=releve.version,
        qc_result=result,
    )
    # With no unwaived error or warning left, the relevé passes QC.
    if (
        releve.status == ReleveStatus.QC_FLAGGED
        and not QCResult.objects.filter(
            releve=releve, waived_by__isnull=True, severity__in=[QCSeverity.ERROR, QCSeverity.WARNING]
        ).exists()
    ):
        releve_set_status(releve=releve, to_status=ReleveStatus.QC_PASSED, actor=actor)
    else:
        releve_record_change(releve=releve)
    return result


@transaction.atomic
def releve_comment(*, releve_id: int, actor: User, comment: str) -> ReviewEvent:
    """A coordinator's comment on a relevé (the botanist reads it on the tablet)."""
    comment = comment.strip()
    if not comment:
        raise ReviewError("comment_required", "The comment is empty.")
    releve = _lock(releve_id=releve_id, actor=actor, expected_version=None, expected_status=None)
    event = ReviewEvent.objects.create(
        releve=releve,
        actor=actor,
        action=ReviewAction.COMMENT,
        from_status=releve.status,
        to_status=releve.status,
        comment=comment,
        releve_version=releve.version,
    )
    releve_record_change(releve=releve)
    return event


@transaction.atomic
def training_pool_events_claim(*, limit: int = 500) -> list[TrainingPoolEvent]:
    """Pending training-pool events, oldest first, marked processed (for the classification consumer).

    SKIP LOCKED lets several consumers claim disjoint rows; the caller's transaction decides whether
    the claim sticks (a consumer that fails rolls back and the rows stay pending).
    """
    events = list(
        TrainingPoolEvent.objects.select_for_update(skip_locked=True)
        .filter(processed_at__isnull=True)
        .order_by("id")[:limit]
    )
    TrainingPoolEvent.objects.filter(pk__in=[e.pk for e in events]).update(processed_at=timezone.now())
    return events
