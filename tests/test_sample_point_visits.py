"""Botanists report sample point visits: by pushing a relevé made at the point, or through the report endpoint."""

import uuid

import pytest

from classification.models import SamplePoint, SamplePointEvent, VisitState
from classification.services.sampling import sample_point_assign
from fieldcollect.models import Releve, Role
from tests.conftest import token_client
from tests.sync_helpers import make_world, push, releve
from tests.test_sync_pull import pull_all
from tests.test_sync_pull_sample_points import make_plan


@pytest.fixture(autouse=True)
def _no_clock_margin(settings) -> None:
    settings.SYNC_CLOCK_MARGIN_S = 0


@pytest.fixture
def field(botanist, other_botanist, coordinator):
    world = make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST), (coordinator, Role.COORDINATOR))
    plan = make_plan(world, coordinator, size=4)
    mine, theirs, spare, last = plan.points.order_by("number")
    sample_point_assign(actor=coordinator, points=[mine.pk, spare.pk, last.pk], assignee=botanist)
    sample_point_assign(actor=coordinator, points=[theirs.pk], assignee=other_botanist)
    return world, mine, theirs, spare, last


def report(client, point_id, body):
    return client.post(f"/api/v1/sample-points/{point_id}/report/", body, format="json")


@pytest.mark.django_db(transaction=True)
def test_a_relevé_pushed_at_an_assigned_point_marks_it_visited(botanist, field):
    world, mine, theirs, _, _ = field
    client = token_client(botanist)
    # given relevés naming the botanist's point, another botanist's point and points that do not exist
    at_mine = releve(world, sample_point=str(mine.pk))
    at_theirs = releve(world, sample_point=str(theirs.pk))
    unknown = releve(world, sample_point="999999")
    not_an_id = releve(world, sample_point="P-12")
    # when the tablet pushes them
    results = push(client, [at_mine, at_theirs, unknown, not_an_id]).json()["results"]
    # then every relevé is accepted (a wrong point is QC's business, never a lost relevé)
    assert [r["result"] for r in results] == ["created"] * 4
    assert Releve.objects.count() == 4
    # and only the botanist's own pending point is visited, linked to the relevé, with an audit event
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.state, str(mine.releve_uuid)) == (VisitState.VISITED, at_mine["uuid"])
    assert mine.visited_at is not None
    assert theirs.state == VisitState.PENDING
    assert SamplePointEvent.objects.filter(point=mine, action="reported", state="visited", actor=botanist).count() == 1
    # and the tablet pulls the visited state
    changes, _ = pull_all(client)
    visited = [c["sample_point"] for c in changes if c["type"] == "sample_point" and c["id"] == mine.pk]
    assert visited[-1]["state"] == "visited"
    # when a second relevé names the same point, the first visit stands
    push(client, [releve(world, sample_point=str(mine.pk))])
    mine.refresh_from_db()
    assert str(mine.releve_uuid) == at_mine["uuid"]


@pytest.mark.django_db(transaction=True)
def test_report_endpoint_records_inaccessible_and_refused_points_with_a_reason(botanist, coordinator, field):
    _, _, _, spare, last = field
    client = token_client(botanist)
    # when the botanist reports a point inaccessible with a reason
    response = report(client, spare.pk, {"state": "inaccessible", "reason": "  Fenced pasture, bull inside "})
    # then it is recorded, reason trimmed, and answered with the point's new state
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "inaccessible"
    assert response.json()["reason"] == "Fenced pasture, bull inside"
    spare.refresh_from_db()
    assert (spare.state, spare.reason) == ("inaccessible", "Fenced pasture, bull inside")
    # and a visit with the relevé's UUID is recorded too
    made = uuid.uuid4()
    response = report(client, last.pk, {"state": "visited", "releve": str(made)})
    assert response.status_code == 200
    assert response.json()["releve_uuid"] == str(made)
    # and the campaign's coordinator may reopen a point
    response = report(token_client(coordinator), spare.pk, {"state": "pending"})
    assert response.status_code == 200
    assert SamplePoint.objects.get(pk=spare.pk).state == "pending"
    assert list(spare.events.filter(action="reopened").values_list("actor__username", flat=True)) == ["coordinator"]


@pytest.mark.django_db(transaction=True)
def test_report_endpoint_bad_input(botanist, other_botanist, field):
    _, mine, theirs, spare, _ = field
    client = token_client(botanist)
    before = list(SamplePoint.objects.order_by("pk").values_list("state", "reason"))
    # a refusal without a reason
    response = report(client, mine.pk, {"state": "refused", "reason": "   "})
    assert response.status_code == 400
    assert response.json()["code"] == "reason_required"
    assert "reason" in response.json()["errors"]
    # an unknown state, a malformed relevé UUID
    response = report(client, mine.pk, {"state": "lost"})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["state"])
    response = report(client, mine.pk, {"state": "visited", "releve": "not-a-uuid"})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["releve"])
    # a botanist may not reopen a point
    response = report(client, spare.pk, {"state": "pending"})
    assert (response.status_code, response.json()["code"]) == (403, "not_allowed")
    # another botanist's point and a point that does not exist look the same: not found
    assert report(client, theirs.pk, {"state": "visited"}).status_code == 404
    assert report(client, 10**9, {"state": "visited"}).status_code == 404
    # nothing changed
    assert list(SamplePoint.objects.order_by("pk").values_list("state", "reason")) == before
    # and the points of the other botanist are theirs to report
    assert report(token_client(other_botanist, "t2"), theirs.pk, {"state": "visited"}).status_code == 200
