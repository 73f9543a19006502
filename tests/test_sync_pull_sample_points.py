"""Pull carries the caller's assigned sample points with their visit state, and never skips a late commit."""

import threading
import uuid

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import connection, transaction

from classification.models import SamplePoint, SamplingPlan
from classification.services.sampling import (
    sample_point_assign,
    sample_point_report,
    sampling_plan_create,
    stratification_create_from_polygons,
)
from fieldcollect.models import Role
from fieldcollect.services.sync import Cursor, cursor_encode
from tests.conftest import token_client
from tests.sync_helpers import make_world
from tests.test_sync_pull import pull_all

X0, Y1 = 700_000.0, 6_300_000.0


def make_plan(world, coordinator, size: int = 6) -> SamplingPlan:
    zone = MultiPolygon(Polygon.from_bbox((X0, Y1 - 2000, X0 + 2000, Y1)), srid=2154)
    stratification = stratification_create_from_polygons(
        campaign=world.campaign, name="zone", strata=[(1, "lowland grassland", zone)], resolution=10
    )
    plan = sampling_plan_create(
        actor=coordinator, campaign=world.campaign, stratification=stratification, name="plan",
        allocation="proportional", total_size=size, seed=1, min_distance_m=100.0,
    )  # fmt: skip
    plan.status = SamplingPlan.Status.ACTIVE
    plan.save(update_fields=["status"])
    return plan


def points_of(changes: list[dict]) -> list[tuple[str, int]]:
    return [(c["type"], c["id"]) for c in changes if c["type"].startswith("sample_point")]


@pytest.fixture(autouse=True)
def _no_clock_margin(settings) -> None:
    settings.SYNC_CLOCK_MARGIN_S = 0


@pytest.mark.django_db(transaction=True)
def test_pull_carries_assigned_points_visits_and_removals(botanist, other_botanist, coordinator):
    # given a plan of six points, four assigned to the botanist
    world = make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST))
    plan = make_plan(world, coordinator)
    ids = list(plan.points.order_by("number").values_list("pk", flat=True))
    sample_point_assign(actor=coordinator, points=ids[:4], assignee=botanist)
    sample_point_assign(actor=coordinator, points=ids[4:], assignee=other_botanist)
    client = token_client(botanist)
    # when the tablet pulls
    changes, cursor = pull_all(client)
    # then it gets its four points with their stratum, position and visit state
    assert points_of(changes) == [("sample_point", pk) for pk in ids[:4]]
    first = SamplePoint.objects.get(pk=ids[0])
    item = changes[0]["sample_point"]
    assert item["number"] == first.number
    assert (item["plan"], item["campaign"], item["stratum"], item["state"]) == (
        "plan",
        world.campaign.slug,
        "lowland grassland",
        "pending",
    )
    assert item["geometry"]["type"] == "Point"
    # when one point is visited and another given to the other botanist
    visit = uuid.uuid4()
    sample_point_report(actor=botanist, point=first, state="visited", releve_uuid=visit)
    sample_point_assign(actor=coordinator, points=[ids[1]], assignee=other_botanist)
    # then the next pull brings the visit, then the removal, and nothing else
    later, cursor = pull_all(client, cursor)
    assert points_of(later) == [("sample_point", ids[0]), ("sample_point_removed", ids[1])]
    assert (later[0]["sample_point"]["state"], later[0]["sample_point"]["releve_uuid"]) == ("visited", str(visit))
    assert pull_all(client, cursor) == ([], cursor)
    # and the other botanist pulls the moved point among theirs
    theirs, _ = pull_all(token_client(other_botanist, "tablet-02"))
    assert sorted(pk for _, pk in points_of(theirs)) == sorted([ids[1], *ids[4:]])


@pytest.mark.django_db(transaction=True)
def test_points_page_after_releves_with_one_cursor(botanist, coordinator):
    # given five points of the botanist
    world = make_world((botanist, Role.BOTANIST))
    plan = make_plan(world, coordinator, size=5)
    ids = list(plan.points.order_by("pk").values_list("pk", flat=True))
    sample_point_assign(actor=coordinator, points=ids, assignee=botanist)
    # when the tablet pulls two at a time
    changes, _ = pull_all(token_client(botanist), limit=2)
    # then it pages through all five, in order of change
    assert sorted(pk for _, pk in points_of(changes)) == sorted(ids)
    assert len(changes) == 5


@pytest.mark.django_db(transaction=True)
def test_pull_never_skips_a_point_assigned_in_a_transaction_that_commits_late(botanist, coordinator):
    # given two unassigned points
    world = make_world((botanist, Role.BOTANIST))
    plan = make_plan(world, coordinator, size=2)
    early, late = plan.points.order_by("pk").values_list("pk", flat=True)
    client = token_client(botanist)
    started, release = threading.Event(), threading.Event()

    def slow_assignment() -> None:
        try:
            with transaction.atomic():
                sample_point_assign(actor=coordinator, points=[early], assignee=botanist)
                started.set()
                release.wait(20)
        finally:
            connection.close()

    # when a coordinator's transaction assigns the first point and stays open while the second is
    # assigned (and committed) and the tablet pulls
    thread = threading.Thread(target=slow_assignment)
    thread.start()
    assert started.wait(20)
    sample_point_assign(actor=coordinator, points=[late], assignee=botanist)
    during, cursor = pull_all(client)
    release.set()
    thread.join(20)
    after, _ = pull_all(client, cursor)
    # then the pull during the open transaction returns neither (the later one would pass the cursor
    # beyond the first), and the next pull returns both, oldest change first
    assert points_of(during) == []
    assert points_of(after) == [("sample_point", early), ("sample_point", late)]


@pytest.mark.django_db
def test_old_cursors_are_still_accepted(botanist_client):
    # given a cursor of the first format (relevé changes only)
    import base64

    v1 = base64.urlsafe_b64encode(b"v1:0:0").decode().rstrip("=")
    # when a tablet pulls with it
    answer = botanist_client.get("/api/v1/sync/pull/", {"cursor": v1})
    # then it is understood
    assert answer.status_code == 200
    assert answer.json() == {"changes": [], "next_cursor": cursor_encode(Cursor()), "has_more": False}
