import csv
import json
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from fieldcollect.models import (
    ChangeLog,
    HabitatAssignment,
    Releve,
    ReleveRevision,
    ReleveStatus,
    Role,
    SpeciesObservation,
)
from fieldcollect.models.releve import BRAUN_BLANQUET_COVER_PCT
from fieldcollect.services.releves import InvalidTransition, releve_set_status
from tests.conftest import token_client
from tests.factories import new_uuid
from tests.sync_helpers import make_world, push, releve, snapshot


@pytest.fixture
def world(botanist, other_botanist, coordinator):
    return make_world((botanist, Role.BOTANIST), (other_botanist, Role.BOTANIST), (coordinator, Role.COORDINATOR))


@pytest.fixture
def existing(world, botanist_client):
    """A relevé already on the server (version 1)."""
    payload = releve(world)
    assert push(botanist_client, [payload]).json()["results"][0]["result"] == "created"
    return payload


def test_braun_blanquet_covers_are_turboveg_scale_02(shared_data):
    with open(shared_data / "vegetation" / "braun_blanquet_cover_conversion.csv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0][2] == "turboveg_tvscale_02_pct"
    # the row of the old code "2" has an unquoted ";" in its second column: read the value from the end
    table = {row[0]: float(row[-4]) for row in rows[1:]}
    assert table == BRAUN_BLANQUET_COVER_PCT


@pytest.mark.django_db
def test_push_creates_a_releve_with_its_content(world, botanist, botanist_client):
    # given a new relevé with a plot polygon and a photo in its manifest
    photo = {"uuid": new_uuid(), "sha256": "a" * 64, "size": 1234, "content_type": "image/jpeg", "bearing_deg": 90}
    plot = {"type": "Polygon", "coordinates": [[[3.8767, 43.6108], [3.8768, 43.6108], [3.8768, 43.6109],
                                                [3.8767, 43.6108]]]}  # fmt: skip
    payload = releve(world, plot=plot, photos=[photo], unknown_future_field={"kept": True})
    # when the tablet pushes it
    response = push(botanist_client, [payload])
    # then one relevé exists in Lambert-93 with derived covers, and the payload is kept verbatim
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"uuid": payload["uuid"], "result": "created", "version": 1, "status": "submitted",
             "missing_photos": [photo["uuid"]]}
        ]
    }  # fmt: skip
    stored = Releve.objects.get(uuid=payload["uuid"])
    assert (stored.observer, stored.version, stored.status, stored.device_id) == (botanist, 1, "submitted", "tablet-01")
    assert stored.location.srid == 2154
    assert (round(stored.location.x), round(stored.location.y)) == (770796, 6279476)  # pyproj: (770795.5, 6279476.1)
    assert stored.plot is not None and stored.plot.srid == 2154
    assert list(HabitatAssignment.objects.filter(releve=stored).values_list("habitat_id", "cover_pct", "rank")) == [
        (51641, 80.0, 0),
        (51642, 20.0, 1),
    ]
    species = SpeciesObservation.objects.filter(releve=stored)
    assert species.count() == 30
    assert set(species.values_list("braun_blanquet", "cover_pct")) == {("2a", 8.0)}
    revision = ReleveRevision.objects.get(uuid=payload["uuid"])
    assert revision.outcome == "created" and revision.releve == stored
    assert json.loads(revision.payload_json) == payload
    assert ChangeLog.objects.filter(releve=stored).count() == 1


@pytest.mark.django_db
def test_replayed_push_creates_one_releve(world, botanist_client, existing):
    # given a relevé already pushed
    before = snapshot()
    # when the tablet pushes the same batch again
    response = push(botanist_client, [existing])
    # then one row exists, the answer is "unchanged", and nothing was written
    assert response.json()["results"] == [
        {"uuid": existing["uuid"], "result": "unchanged", "version": 1, "status": "submitted", "missing_photos": []}
    ]
    assert Releve.objects.count() == 1
    assert snapshot() == before


@pytest.mark.django_db
def test_update_with_current_base_version_replaces_content(world, botanist_client, existing):
    # given the server at version 1
    edited = dict(existing, base_version=1, notes="second visit", species=existing["species"][:3])
    # when the tablet pushes an edit based on version 1
    result = push(botanist_client, [edited]).json()["results"][0]
    # then it is version 2 with the new content
    assert (result["result"], result["version"]) == ("updated", 2)
    stored = Releve.objects.get(uuid=existing["uuid"])
    assert (stored.notes, stored.species.count(), stored.version) == ("second visit", 3, 2)
    assert list(ReleveRevision.objects.order_by("id").values_list("outcome", "resulting_version")) == [
        ("created", 1),
        ("updated", 2),
    ]


@pytest.mark.django_db
def test_stale_base_version_is_a_conflict_that_keeps_both_copies(world, botanist_client, existing):
    # given a second device edited the relevé (version 2)
    push(botanist_client, [dict(existing, base_version=1, notes="from tablet B")])
    # when the first device pushes its own edit based on version 1
    mine = dict(existing, base_version=1, notes="from tablet A")
    result = push(botanist_client, [mine]).json()["results"][0]
    # then the server keeps its copy, returns it, and stores the tablet's payload as a conflict revision
    assert (result["result"], result["code"], result["version"]) == ("conflict", "stale_base", 2)
    assert result["server_copy"]["notes"] == "from tablet B"
    stored = Releve.objects.get(uuid=existing["uuid"])
    assert (stored.notes, stored.version, stored.has_open_conflict) == ("from tablet B", 2, True)
    conflict = ReleveRevision.objects.get(outcome="conflict")
    assert json.loads(conflict.payload_json)["notes"] == "from tablet A"
    assert conflict.server_copy["notes"] == "from tablet B"


@pytest.mark.django_db
def test_validated_releve_cannot_be_edited_from_a_tablet(world, botanist_client, coordinator, existing):
    # given a validated relevé
    stored = Releve.objects.get(uuid=existing["uuid"])
    for status in ("qc_passed", "validated"):
        releve_set_status(releve=stored, to_status=status, actor=coordinator)
    # when the botanist pushes an edit on the current version
    result = push(botanist_client, [dict(existing, base_version=1, notes="late edit")]).json()["results"][0]
    # then it is a "locked" conflict and the relevé is unchanged
    assert (result["result"], result["code"], result["status"]) == ("conflict", "locked", "validated")
    assert Releve.objects.get(pk=stored.pk).notes == ""


@pytest.mark.django_db
def test_status_changes_follow_the_workflow_and_are_logged(world, coordinator, existing):
    stored = Releve.objects.get(uuid=existing["uuid"])
    with pytest.raises(InvalidTransition):
        releve_set_status(releve=stored, to_status=ReleveStatus.VALIDATED, actor=coordinator)
    releve_set_status(releve=stored, to_status=ReleveStatus.QC_FLAGGED, actor=coordinator)
    releve_set_status(releve=stored, to_status=ReleveStatus.NEEDS_CHANGES, actor=coordinator)
    assert list(ChangeLog.objects.filter(releve=stored).order_by("id").values_list("kind", flat=True)) == [
        "releve",
        "status",
        "status",
    ]
    assert Releve.objects.get(pk=stored.pk).status == "needs_changes"


@pytest.mark.django_db
def test_resending_after_needs_changes_resubmits(world, botanist_client, coordinator, existing):
    stored = Releve.objects.get(uuid=existing["uuid"])
    releve_set_status(releve=stored, to_status=ReleveStatus.QC_FLAGGED, actor=coordinator)
    releve_set_status(releve=stored, to_status=ReleveStatus.NEEDS_CHANGES, actor=coordinator)
    result = push(botanist_client, [dict(existing, base_version=1, notes="fixed")]).json()["results"][0]
    assert (result["result"], result["version"], result["status"]) == ("updated", 2, "submitted")


@pytest.mark.django_db
def test_one_bad_releve_does_not_sink_the_batch(world, botanist_client):
    good, bad = releve(world), releve(world, species=[{"cd_nom": 999_999_999, "layer": "herb", "braun_blanquet": "1"}])
    results = push(botanist_client, [good, bad]).json()["results"]
    assert [r["result"] for r in results] == ["created", "invalid"]
    assert results[1]["errors"] == {"species.0.cd_nom": ["Unknown taxon cd_nom 999999999."]}
    assert results[1]["error_codes"] == {"species.0.cd_nom": ["unknown_taxon"]}
    assert list(Releve.objects.values_list("uuid", flat=True)) == [__import__("uuid").UUID(good["uuid"])]
    rejected = ReleveRevision.objects.get(outcome="invalid")
    assert json.loads(rejected.payload_json) == bad and rejected.releve is None


BAD_RELEVES: list[tuple[str, dict[str, Any], str, str]] = [
    ("wrong type", {"altitude_m": "high"}, "altitude_m", "float_type"),
    ("wrong list type", {"species": "many"}, "species", "list_type"),
    ("missing field", {"geometry": None}, "geometry", "model_type"),
    ("unknown campaign", {"campaign": "nowhere-1999"}, "campaign", "unknown_campaign"),
    ("naive date", {"observed_at": "2026-05-14T10:32:00"}, "observed_at", "timezone_aware"),
    ("future date", {"observed_at": "2099-05-14T10:32:00+02:00"}, "observed_at", "in_future"),
    ("out of range", {"geometry": {"type": "Point", "coordinates": [43.61, 3.87]}}, "geometry.coordinates",
     "coordinates_out_of_range"),
    ("absurd coordinates", {"geometry": {"type": "Point", "coordinates": [1e9, -1e9]}}, "geometry.coordinates",
     "coordinates_out_of_range"),
    ("unknown srid", {"geometry": {"type": "Point", "coordinates": [3.87, 43.61],
                                   "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}},
     "geometry.crs.properties.name", "unsupported_srid"),
    ("free-form srs", {"geometry": {"type": "Point", "coordinates": [3.87, 43.61],
                                    "crs": {"type": "name", "properties": {"name": "+proj=longlat +init=/etc/x"}}}},
     "geometry.crs.properties.name", "unsupported_srid"),
    ("self-intersecting plot", {"plot": {"type": "Polygon", "coordinates": [[[3.87, 43.61], [3.88, 43.62],
                                                                             [3.88, 43.61], [3.87, 43.62],
                                                                             [3.87, 43.61]]]}},
     "plot.coordinates", "geometry_invalid"),
    ("open ring", {"plot": {"type": "Polygon", "coordinates": [[[3.87, 43.61], [3.88, 43.62], [3.88, 43.61],
                                                                [3.87, 43.6101]]]}},
     "plot.coordinates.0", "ring_not_closed"),
    ("unknown habitat", {"habitats": [{"cd_hab": 1}]}, "habitats.0.cd_hab", "unknown_habitat"),
    ("unknown habitat code", {"habitats": [{"typology": 22, "code": "99.99"}]}, "habitats.0.code", "unknown_habitat"),
    ("unnamed habitat", {"habitats": [{"cover_pct": 10}]}, "habitats.0", "habitat_unnamed"),
    ("no habitat", {"habitats": []}, "habitats", "too_short"),
    ("unknown taxon", {"species": [{"cd_nom": 1, "layer": "herb", "braun_blanquet": "1"}]}, "species.0.cd_nom",
     "unknown_taxon"),
    ("bad braun-blanquet", {"species": [{"cd_nom": 81263, "layer": "herb", "braun_blanquet": "6"}]},
     "species.0.braun_blanquet", "literal_error"),
    ("cover over 100", {"layers": {"tree": {"cover_pct": 140}}}, "layers.tree.cover_pct", "less_than_equal"),
    ("bad photo hash", {"photos": [{"uuid": new_uuid(), "sha256": "xyz", "size": 1, "content_type": "image/jpeg"}]},
     "photos.0.sha256", "string_pattern_mismatch"),
    ("unknown co-observer", {"observers": ["nobody"]}, "observers.0", "unknown_user"),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "change", "path", "code"), BAD_RELEVES, ids=[b[0] for b in BAD_RELEVES])
def test_bad_releve_is_refused_with_a_stable_code_and_changes_nothing(
    world, botanist_client, existing, label, change, path, code
):
    # given a relevé on the server, and an edit of it that is wrong in one way
    before = snapshot()
    bad = dict(existing, base_version=1, **change)
    # when the tablet pushes it
    response = push(botanist_client, [bad])
    # then the relevé is "invalid" with that code at that path, and the stored relevé is untouched
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert (result["result"], result["code"]) == ("invalid", "invalid")
    assert result["error_codes"][path] == [code], result["error_codes"]
    assert (result["version"], result["status"]) == (1, "submitted")
    after = json.loads(snapshot())
    assert json.loads(before)[0] == after[0] and json.loads(before)[1] == after[1]
    assert ReleveRevision.objects.filter(outcome="invalid").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"device_id": "t", "releves": [', "application/json", 400, "malformed_json"),
        (b'{"releves": []}', "application/json", 400, "invalid"),
        (b'{"device_id": "t", "releves": {}}', "application/json", 400, "invalid"),
        (b"[1, 2]", "application/json", 400, "invalid"),
        (b"device_id=t", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bad_request_bodies_are_refused(world, botanist_client, existing, body, content_type, status, code):
    before = snapshot()
    response = botanist_client.generic("POST", "/api/v1/sync/push/", body, content_type=content_type)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert snapshot() == before


@pytest.mark.django_db
def test_oversized_batch_and_body_are_refused(world, botanist_client, existing):
    before = snapshot()
    response = push(botanist_client, [releve(world) for _ in range(201)])
    assert (response.status_code, response.json()["code"]) == (413, "batch_too_large")
    with override_settings(SYNC_PUSH_MAX_BYTES=10_000):
        response = push(botanist_client, [releve(world) for _ in range(5)])
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
    assert snapshot() == before


@pytest.mark.django_db
def test_revoked_or_unknown_token_is_refused(world, botanist, botanist_client, existing):
    before = snapshot()
    assert botanist_client.delete("/api/v1/auth/token/").status_code == 204
    response = push(botanist_client, [dict(existing, base_version=1, notes="after revocation")])
    assert (response.status_code, response.json()["code"]) == (401, "token_invalid")
    anonymous = APIClient()
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert push(anonymous, [releve(world)]).status_code == 401
    assert snapshot() == before


@pytest.mark.django_db
def test_another_botanist_cannot_overwrite_my_releve(world, other_botanist, existing):
    before = snapshot()
    result = push(token_client(other_botanist), [dict(existing, base_version=1, notes="hijack")]).json()["results"][0]
    assert (result["result"], result["code"], result["error_codes"]) == (
        "invalid",
        "forbidden",
        {"uuid": ["forbidden"]},
    )
    after = json.loads(snapshot())
    assert json.loads(before)[0] == after[0]


@pytest.mark.django_db
def test_co_observer_may_edit_and_read(world, botanist_client, other_botanist):
    payload = releve(world, observers=["other_botanist"])
    push(botanist_client, [payload])
    other = token_client(other_botanist)
    assert other.get(f"/api/v1/releves/{payload['uuid']}/").status_code == 200
    result = push(other, [dict(payload, base_version=1, notes="co")]).json()["results"][0]
    assert (result["result"], result["version"]) == ("updated", 2)


@pytest.mark.django_db
def test_reading_releves_follows_roles(world, botanist_client, coordinator, existing, django_user_model):
    from tests.conftest import make_user

    stranger = make_user("stranger", Role.BOTANIST)
    outsider_coordinator = make_user("elsewhere", Role.COORDINATOR)
    url = f"/api/v1/releves/{existing['uuid']}/"
    assert botanist_client.get(url).json()["notes"] == ""
    assert token_client(coordinator).get(url).status_code == 200
    assert token_client(stranger).get(url).status_code == 404
    assert token_client(outsider_coordinator).get(url).json()["code"] == "not_found"


@pytest.mark.django_db
def test_pushes_are_throttled_per_device_token(world, botanist):
    from django.core.cache import cache

    cache.clear()
    tablet_a, tablet_b = token_client(botanist, "tablet-a"), token_client(botanist, "tablet-b")
    with override_settings(SYNC_THROTTLE_RATE="2/min"):
        codes = [push(tablet_a, []).status_code for _ in range(3)]
        other = push(tablet_b, []).status_code
        refused = push(tablet_a, [])
    assert codes == [200, 200, 429] and other == 200
    assert refused.json()["code"] == "throttled" and int(refused["Retry-After"]) > 0
    cache.clear()


@pytest.mark.django_db
def test_push_query_count_does_not_grow_with_species(world, botanist_client):
    # the content of a relevé is written with bulk inserts: a 50-relevé batch costs a bounded number of queries
    push(botanist_client, [])  # the token's first use of the minute is recorded: keep it out of the counts
    counts = []
    for species in (3, 30):
        batch = [dict(releve(world), species=releve(world)["species"][:species]) for _ in range(50)]
        with CaptureQueriesContext(connection) as queries:
            assert push(botanist_client, batch).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def _push_from_thread(key: str, payload: dict[str, Any], out: list, barrier: threading.Barrier) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    try:
        barrier.wait()
        out.append(push(client, [payload]).json()["results"][0]["result"])
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_uuid_create_one_releve(botanist):
    # given one relevé payload and two devices (two threads, two database connections)
    from fieldcollect.services.accounts import device_token_issue

    world = make_world((botanist, Role.BOTANIST))
    for attempt in range(5):
        payload = releve(world)
        keys = [device_token_issue(user=botanist, device_id=f"tablet-{attempt}-{n}")[1] for n in range(2)]
        out: list[str] = []
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=_push_from_thread, args=(key, payload, out, barrier)) for key in keys]
        # when both push it at the same moment
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # then exactly one relevé exists: one push created it, the other saw it unchanged
        assert sorted(out) == ["created", "unchanged"]
        assert Releve.objects.filter(uuid=payload["uuid"]).count() == 1
        assert ReleveRevision.objects.filter(uuid=payload["uuid"]).count() == 1


@pytest.mark.django_db
def test_coordinator_sees_open_conflicts_with_both_versions_in_admin(world, botanist_client, existing, client):
    from tests.conftest import make_user

    push(botanist_client, [dict(existing, base_version=1, notes="from tablet B")])
    push(botanist_client, [dict(existing, base_version=1, notes="from tablet A")])
    admin_user = make_user("chief", Role.COORDINATOR)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    listing = client.get("/admin/fieldcollect/releverevision/?conflict=open")
    assert listing.status_code == 200
    conflict = ReleveRevision.objects.get(outcome="conflict")
    assert listing.context["cl"].result_count == 1
    page = client.get(f"/admin/fieldcollect/releverevision/{conflict.pk}/change/").content.decode()
    assert "from tablet A" in page and "from tablet B" in page
    assert client.get("/admin/fieldcollect/releve/?has_open_conflict__exact=1").context["cl"].result_count == 1
    client.post("/admin/fieldcollect/releverevision/", {"action": "mark_resolved", "_selected_action": [conflict.pk]})
    assert Releve.objects.get(uuid=existing["uuid"]).has_open_conflict is False
