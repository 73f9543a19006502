"""The bulk status change: the same effects as one relevé at a time, in a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldcollect.models import ChangeLog, Releve, ReleveStatus, TrainingPoolEvent
from fieldcollect.services.releves import InvalidTransition, releve_set_status, releve_set_status_many

from .db_builders import campaign_2026, make_releve

pytestmark = pytest.mark.django_db

S = ReleveStatus


def statuses(releves):
    return list(Releve.objects.filter(pk__in=[r.pk for r in releves]).order_by("pk").values_list("status", flat=True))


def xid_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return cursor.fetchone()[0]


def test_bulk_change_matches_one_at_a_time(botanist, settings):
    settings.TRAINING_POOL_LIVE = False  # the pool's consumer has its own tests
    campaign = campaign_2026()
    start = (S.SUBMITTED, S.QC_PASSED, S.VALIDATED)
    one = [make_releve(observer=botanist, campaign=campaign, status=s) for s in start]
    many = [make_releve(observer=botanist, campaign=campaign, status=s) for s in start]
    targets = [S.QC_FLAGGED, S.VALIDATED, S.NEEDS_CHANGES]
    # when the same changes are made one at a time and in bulk
    for releve, target in zip(one, targets, strict=True):
        releve_set_status(releve=releve, to_status=target, actor=None)
    changes = releve_set_status_many(targets={r.pk: t for r, t in zip(many, targets, strict=True)}, actor=None)
    # then statuses, change-log rows (in this transaction) and training-pool events are the same
    assert statuses(many) == statuses(one) == targets
    assert [(c.releve_id, c.from_status, c.to_status, c.version) for c in changes] == [
        (many[0].pk, "submitted", "qc_flagged", 1),
        (many[1].pk, "qc_passed", "validated", 1),
        (many[2].pk, "validated", "needs_changes", 1),
    ]

    def effects(releves):
        return [
            (
                list(ChangeLog.objects.filter(releve=r).values_list("kind", "xid")),
                list(TrainingPoolEvent.objects.filter(releve=r).values_list("kind", "releve_version")),
            )
            for r in releves
        ]

    assert effects(many) == effects(one)
    assert effects(many)[1] == ([("status", xid_now())], [("added", 1)])
    assert effects(many)[2][1] == [("removed", 1)]
    assert Releve.objects.get(pk=many[0].pk).updated_at > many[0].updated_at


def test_bulk_change_skips_relevés_decided_meanwhile_and_already_there(botanist):
    campaign = campaign_2026()
    checked = make_releve(observer=botanist, campaign=campaign, status=S.QC_PASSED)
    decided = make_releve(observer=botanist, campaign=campaign, status=S.VALIDATED)
    there = make_releve(observer=botanist, campaign=campaign, status=S.QC_FLAGGED)
    # when QC moves relevés it read as "in QC", one of which a coordinator validated since
    changes = releve_set_status_many(
        targets={checked.pk: S.QC_FLAGGED, decided.pk: S.QC_FLAGGED, there.pk: S.QC_FLAGGED},
        actor=None,
        only_from={S.SUBMITTED, S.QC_PASSED, S.QC_FLAGGED},
    )
    # then only the relevé still in QC moves; nothing is logged for the others
    assert [c.releve_id for c in changes] == [checked.pk]
    assert statuses([checked, decided, there]) == [S.QC_FLAGGED, S.VALIDATED, S.QC_FLAGGED]
    assert ChangeLog.objects.filter(releve__in=[decided, there]).count() == 0


def test_bulk_change_refuses_a_forbidden_transition_and_changes_nothing(botanist):
    campaign = campaign_2026()
    fine = make_releve(observer=botanist, campaign=campaign, status=S.SUBMITTED)
    forbidden = make_releve(observer=botanist, campaign=campaign, status=S.NEEDS_CHANGES)
    with pytest.raises(InvalidTransition, match="from needs_changes to validated"):
        releve_set_status_many(targets={fine.pk: S.QC_PASSED, forbidden.pk: S.VALIDATED}, actor=None)
    assert statuses([fine, forbidden]) == [S.SUBMITTED, S.NEEDS_CHANGES]
    assert ChangeLog.objects.count() == 0


def test_bulk_change_costs_the_same_queries_for_many_relevés(botanist, settings):
    settings.TRAINING_POOL_LIVE = False
    campaign = campaign_2026()
    few = [make_releve(observer=botanist, campaign=campaign, photos=0) for _ in range(2)]
    many = [make_releve(observer=botanist, campaign=campaign, photos=0) for _ in range(40)]
    with CaptureQueriesContext(connection) as small:
        releve_set_status_many(targets={r.pk: S.QC_PASSED for r in few}, actor=None)
    with CaptureQueriesContext(connection) as large:
        releve_set_status_many(targets={r.pk: S.QC_PASSED for r in many}, actor=None)
    assert len(large.captured_queries) == len(small.captured_queries)
