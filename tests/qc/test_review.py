"""The review services: decisions, waivers, comments, optimistic locking, permissions, training pool."""

import pytest

from fieldcollect.models import ChangeLog, QCResult, ReleveStatus, ReviewEvent, TrainingPoolEvent
from fieldcollect.services.quality import releve_run_qc
from fieldcollect.services.review import (
    ReviewError,
    qc_result_waive,
    releve_comment,
    releve_review,
    releve_review_bulk,
    training_pool_events_claim,
)

from .db_builders import campaign_2026, coordinate, make_releve, reference

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked(botanist, coordinator):
    """A relevé that passed QC and one flagged with an error, in a campaign the coordinator coordinates."""
    grassland, taxa = reference()
    campaign = campaign_2026()
    coordinate(coordinator, campaign)
    ok = make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa)
    flagged = make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa, gnss=35.0)
    releve_run_qc(releve_ids=[ok.pk, flagged.pk])
    ok.refresh_from_db()
    flagged.refresh_from_db()
    return ok, flagged


def refused(code, **kwargs):
    with pytest.raises(ReviewError) as info:
        releve_review(**kwargs)
    assert info.value.code == code
    return info.value


def test_validate_writes_event_and_feeds_training_pool(checked, coordinator):
    ok, _ = checked
    event = releve_review(
        releve_id=ok.pk, actor=coordinator, action="validate", expected_version=1, expected_status="qc_passed"
    )
    ok.refresh_from_db()
    assert ok.status == ReleveStatus.VALIDATED
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "validate",
        "qc_passed",
        "validated",
        coordinator,
    )
    assert list(TrainingPoolEvent.objects.values_list("releve_id", "kind", "releve_version")) == [(ok.pk, "added", 1)]
    assert ChangeLog.objects.filter(releve=ok, kind=ChangeLog.Kind.STATUS).count() == 2  # QC, then validation
    # un-validating takes it out of the pool
    releve_review(releve_id=ok.pk, actor=coordinator, action="request_changes", comment="Check the moss layer")
    assert list(TrainingPoolEvent.objects.order_by("id").values_list("kind", flat=True)) == ["added", "removed"]


def test_qc_error_blocks_validation_until_waived(checked, coordinator):
    _, flagged = checked
    error = refused("qc_errors", releve_id=flagged.pk, actor=coordinator, action="validate")
    assert error.message == "QC errors block validation until waived with a reason: gnss.accuracy."
    flagged.refresh_from_db()
    assert flagged.status == ReleveStatus.QC_FLAGGED
    assert not ReviewEvent.objects.filter(releve=flagged, action="validate").exists()
    # waiving without a reason is refused, with a reason accepted
    result = QCResult.objects.get(releve=flagged, rule="gnss.accuracy")
    with pytest.raises(ReviewError) as info:
        qc_result_waive(result_id=result.pk, actor=coordinator, reason="   ")
    assert info.value.code == "reason_required"
    qc_result_waive(result_id=result.pk, actor=coordinator, reason="Position checked on the orthophoto")
    flagged.refresh_from_db()
    assert flagged.status == ReleveStatus.QC_PASSED  # nothing unwaived left but infos
    assert ReviewEvent.objects.filter(releve=flagged, action="waive", qc_result=result).count() == 1
    releve_review(releve_id=flagged.pk, actor=coordinator, action="validate")
    flagged.refresh_from_db()
    assert flagged.status == ReleveStatus.VALIDATED


def test_comment_required_to_reject_or_send_back(checked, coordinator):
    ok, _ = checked
    refused("comment_required", releve_id=ok.pk, actor=coordinator, action="reject", comment=" ")
    refused("comment_required", releve_id=ok.pk, actor=coordinator, action="request_changes")
    ok.refresh_from_db()
    assert ok.status == ReleveStatus.QC_PASSED
    releve_review(releve_id=ok.pk, actor=coordinator, action="reject", comment="Plot straddles a road")
    ok.refresh_from_db()
    assert ok.status == ReleveStatus.REJECTED


def test_stale_decision_is_refused(checked, coordinator, django_user_model):
    # given two coordinators looking at the same relevé at version 1, qc_passed
    ok, _ = checked
    other = django_user_model.objects.create_user(username="coordinator2", password="a-long-test-password")
    coordinate(other, ok.campaign)
    releve_review(
        releve_id=ok.pk, actor=coordinator, action="validate", expected_version=1, expected_status="qc_passed"
    )
    # when the second one rejects from what they saw
    error = refused(
        "stale",
        releve_id=ok.pk,
        actor=other,
        action="reject",
        comment="bad",
        expected_version=1,
        expected_status="qc_passed",
    )
    # then they are told, and the first decision stands
    assert "changed while you were looking" in error.message
    ok.refresh_from_db()
    assert ok.status == ReleveStatus.VALIDATED


def test_other_campaign_and_botanists_are_refused(checked, botanist, django_user_model):
    ok, _ = checked
    stranger = django_user_model.objects.create_user(username="elsewhere", password="a-long-test-password")
    coordinate(stranger, campaign_2026(slug="another-2027", name="Another"))
    refused("not_coordinator", releve_id=ok.pk, actor=stranger, action="validate")
    refused("not_coordinator", releve_id=ok.pk, actor=botanist, action="validate")
    with pytest.raises(ReviewError) as info:
        releve_comment(releve_id=ok.pk, actor=stranger, comment="hello")
    assert info.value.code == "not_coordinator"
    assert not ReviewEvent.objects.filter(releve=ok).exclude(action="qc").exists()


def test_submitted_releve_cannot_be_validated_before_qc(botanist, coordinator):
    grassland, taxa = reference()
    campaign = campaign_2026()
    coordinate(coordinator, campaign)
    releve = make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa)
    refused("qc_pending", releve_id=releve.pk, actor=coordinator, action="validate")


def test_bulk_decides_each_relevé_on_its_own(checked, coordinator):
    ok, flagged = checked
    outcome = releve_review_bulk(releve_ids=[ok.pk, flagged.pk], actor=coordinator, action="validate")
    assert outcome.done == [ok.pk]
    assert {pk: e.code for pk, e in outcome.refused.items()} == {flagged.pk: "qc_errors"}
    outcome = releve_review_bulk(releve_ids=[flagged.pk], actor=coordinator, action="request_changes", comment="")
    assert {pk: e.code for pk, e in outcome.refused.items()} == {flagged.pk: "comment_required"}


def test_comment_is_an_event_tablets_pull(checked, coordinator):
    ok, _ = checked
    before = ChangeLog.objects.filter(releve=ok).count()
    event = releve_comment(releve_id=ok.pk, actor=coordinator, comment="Nice plot; add the moss layer next time")
    assert (event.action, event.comment) == ("comment", "Nice plot; add the moss layer next time")
    assert ChangeLog.objects.filter(releve=ok).count() == before + 1


def test_training_pool_claim_marks_processed(checked, coordinator):
    ok, _ = checked
    releve_review(releve_id=ok.pk, actor=coordinator, action="validate")
    claimed = training_pool_events_claim(limit=10)
    assert [(e.releve_id, e.kind) for e in claimed] == [(ok.pk, "added")]
    assert training_pool_events_claim(limit=10) == []
