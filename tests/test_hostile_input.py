"""Hostile input through the test client: SRS strings and file paths smuggled into geometry, CSRF on admin
actions, oversized form bodies. The live-server counterparts (slow and oversized requests, traversal in
URLs) are in tests/e2e/test_hostile_http.py."""

import pytest
from django.test import Client

from fieldcollect.models import DeviceToken, Releve, ReleveRevision, Role
from fieldcollect.services.accounts import device_token_issue
from tests.sync_helpers import make_world, push, releve

SMUGGLED_CRS = [
    "+proj=longlat +datum=WGS84 +init=/etc/passwd",
    "/etc/passwd",
    "../../../../etc/passwd",
    'GEOGCS["x",DATUM["y",SPHEROID["z",6378137,298.257223563]],PRIMEM["G",0],UNIT["degree",0.0174532925199433]]',
    "EPSG:99999",
    "EPSG:4326;SELECT 1",
    "urn:ogc:def:crs:EPSG::3857",
    "http://127.0.0.1:1/crs.prj",
    "/vsicurl/http://127.0.0.1:1/x",
]


@pytest.fixture
def world(botanist):
    return make_world((botanist, Role.BOTANIST))


@pytest.mark.parametrize("name", SMUGGLED_CRS)
@pytest.mark.parametrize("member", ["geometry", "plot"])
def test_srs_strings_and_paths_in_a_geojson_crs_are_refused_and_nothing_is_stored(botanist_client, world, name, member):
    # given a relevé whose point or plot names a CRS that is not a whitelisted EPSG code
    crs = {"type": "name", "properties": {"name": name}}
    if member == "geometry":
        item = releve(world, geometry={"type": "Point", "coordinates": [3.8767, 43.6108], "crs": crs})
    else:
        ring = [[3.8766, 43.6107], [3.8768, 43.6107], [3.8768, 43.6109], [3.8766, 43.6109], [3.8766, 43.6107]]
        item = releve(world, plot={"type": "Polygon", "coordinates": [ring], "crs": crs})

    # when pushed
    response = push(botanist_client, [item])

    # then it is refused as an invalid relevé with a stable code on the crs, and only the revision is kept
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["result"] == "invalid"
    assert result["error_codes"] == {f"{member}.crs.properties.name": ["unsupported_srid"]}
    assert not Releve.objects.filter(uuid=item["uuid"]).exists()
    assert ReleveRevision.objects.get(uuid=item["uuid"]).outcome == ReleveRevision.Outcome.INVALID


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "link", "properties": {"href": "file:///etc/passwd", "type": "proj4"}},
        {"type": "name", "properties": {"href": "/etc/passwd"}},
        "EPSG:2154",
    ],
)
def test_other_crs_shapes_are_refused_by_field(botanist_client, world, crs):
    # given a "crs" member that is not {"type": "name", "properties": {"name": ...}}
    item = releve(world, geometry={"type": "Point", "coordinates": [3.8767, 43.6108], "crs": crs})
    # when pushed, then the relevé is invalid with an error under geometry.crs, and not stored
    result = push(botanist_client, [item]).json()["results"][0]
    assert result["result"] == "invalid"
    assert all(path.startswith("geometry.crs") for path in result["errors"]), result["errors"]
    assert not Releve.objects.filter(uuid=item["uuid"]).exists()


def test_admin_actions_need_the_csrf_token(botanist, django_user_model):
    # given a superuser's browser session (CSRF checks on, as in a real browser) and a live device token
    token, _ = device_token_issue(user=botanist, device_id="tablet-csrf")
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "a-long-test-password")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    action = {"action": "revoke", "_selected_action": [token.pk]}

    # when a forged form posts the revoke action without the CSRF token
    forged = browser.post("/admin/fieldcollect/devicetoken/", action)

    # then it is refused and the token still works
    assert forged.status_code == 403
    assert DeviceToken.objects.get(pk=token.pk).revoked_at is None

    # when the admin page's own form posts it with the token from its cookie
    browser.get("/admin/fieldcollect/devicetoken/")
    csrf = browser.cookies["csrftoken"].value
    genuine = browser.post("/admin/fieldcollect/devicetoken/", {**action, "csrfmiddlewaretoken": csrf})

    # then the action runs
    assert genuine.status_code == 302
    assert DeviceToken.objects.get(pk=token.pk).revoked_at is not None


def test_admin_login_refuses_an_oversized_form_with_a_400(db, settings):
    # given a form body over DATA_UPLOAD_MAX_MEMORY_SIZE
    body = {"username": "x", "password": "y" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    # when posted to the admin login, then it is a 400, not a 500
    assert Client().post("/admin/login/", body).status_code == 400


def test_admin_login_refuses_too_many_form_fields_with_a_400(db, settings):
    # given a form with more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
    body = {f"f{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    # when posted, then it is a 400
    assert Client().post("/admin/login/", body).status_code == 400
