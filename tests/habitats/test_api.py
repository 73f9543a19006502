"""The read-only reference API, the tablets' reference bundle (ETag, incremental, gzip) and the admin pages."""

import gzip
import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from fieldcollect.models import User
from habitats.models import HabitatUnit, ReferenceVersion
from habitats.services.habref import HabrefFiles, habref_import
from habitats.services.legends import ClassSpec, RuleSpec, map_legend_define
from tests.conftest import token_client
from tests.habitats.conftest import read_rows, write_rows


@pytest.fixture
def client(habref_loaded, botanist):
    return token_client(botanist)


def test_unit_list_is_filtered_and_paginated(client):
    # when listing EUNIS 2022 level-2 units, 5 at a time
    response = client.get("/api/v1/habitat-units/", {"typology": 107, "level": 2, "limit": 5})
    # then the count covers them all and one page comes back
    assert response.status_code == 200
    assert response.json()["count"] == HabitatUnit.objects.filter(typology_id=107, level=2).count() == 91
    assert len(response.json()["results"]) == 5
    assert client.get("/api/v1/habitat-units/", {"code": "T21"}).json()["results"][0]["code"] == "T2-1"


def test_search_subtree_ancestors_crosswalk_endpoints(client):
    t1e = HabitatUnit.objects.get(typology_id=107, code="T1-E").pk
    found = client.get("/api/v1/habitat-units/search/", {"q": "chênaies acidiphiles mixtes", "typology": 22}).json()
    assert [u["code"] for u in found] == ["43.5"]
    assert client.get(f"/api/v1/habitat-units/{t1e}/subtree/").json()["count"] == 94
    assert [u["code"] for u in client.get(f"/api/v1/habitat-units/{t1e}/ancestors/").json()] == ["T", "T1"]
    crosswalk = client.get("/api/v1/habitat-units/26584/crosswalk/", {"typology": 22}).json()
    assert [(c["unit"]["code"], c["relation"]) for c in crosswalk] == [("15.72", "<")]


def test_bad_query_parameters_have_stable_codes(client):
    assert client.get("/api/v1/habitat-units/search/").json()["code"] == "invalid"
    response = client.get("/api/v1/habitat-units/26584/crosswalk/", {"typology": 4242})
    assert (response.status_code, response.json()["code"]) == (400, "unknown_typology")
    response = client.get("/api/v1/habitat-units/26584/crosswalk/", {"typology": "x"})
    assert (response.status_code, response.json()["errors"]) == (400, {"typology": ["Not an integer ≥ 0."]})
    assert client.get("/api/v1/taxa/autocomplete/").status_code == 400
    assert client.get("/api/v1/habitat-units/999999999/").json()["code"] == "not_found"


def test_reference_api_needs_authentication(db, api_client):
    assert api_client.get("/api/v1/habitat-units/").status_code == 401
    assert api_client.get("/api/v1/sync/reference/").status_code == 401


def bundle(client, **params):
    response = client.get("/api/v1/sync/reference/", params, HTTP_ACCEPT_ENCODING="gzip")
    return response, (json.loads(gzip.decompress(response.content)) if response.status_code == 200 else None)


def test_reference_bundle_full_then_304_then_incremental(client, habref_files, tmp_path):
    cache.clear()
    # given the HABREF data and a legend
    map_legend_define(
        name="demo", version=1, classes=[ClassSpec(1, "FOREST", "Forests", rules=(RuleSpec(107, "T"),))], activate=True
    )
    # when a tablet downloads everything
    response, body = bundle(client)
    # then it gets every unit, gzip-encoded, with an ETag and the version to send next time
    assert response["Content-Encoding"] == "gzip"
    version = ReferenceVersion.objects.latest("pk").pk
    assert (body["reference_version"], body["full"], len(body["habitat_units"])) == (version, True, 10473)
    assert body["legends"][0]["classes"] == [{"value": 1, "code": "FOREST", "name": "Forests", "color": "#808080"}]
    forest_units = HabitatUnit.objects.filter(path__startswith=HabitatUnit.objects.get(typology_id=107, code="T").path)
    assert len(body["legends"][0]["unit_classes"]) == forest_units.count()
    # when it asks again with the ETag
    again = client.get("/api/v1/sync/reference/", HTTP_IF_NONE_MATCH=response["ETag"])
    # then nothing is sent
    assert (again.status_code, again.content) == (304, b"")
    # when one unit changes and the tablet asks since its version
    header, rows = read_rows(habref_files.units)
    for row in rows:
        if row[0] == "51643":
            row[header.index("LB_HAB_FR")] = "Frênaies des Pyrénées"
    habref_import(files=HabrefFiles(units=write_rows(tmp_path / "u.csv", header, rows)))
    response, body = bundle(client, since=version)
    # then only that unit comes, with the legends resent whole
    assert [(u["cd_hab"], u["name_fr"]) for u in body["habitat_units"]] == [(51643, "Frênaies des Pyrénées")]
    assert (body["since"], body["full"], body["typologies"], body["taxa"]) == (version, False, [], [])
    assert len(body["legends"]) == 1
    # and without gzip support the body is plain JSON
    plain = client.get("/api/v1/sync/reference/", {"since": body["reference_version"]})
    assert "Content-Encoding" not in plain
    assert json.loads(plain.content)["habitat_units"] == []


def test_reference_bundle_bad_since(client):
    response = client.get("/api/v1/sync/reference/", {"since": 10**6})
    assert (response.status_code, response.json()["code"]) == (400, "unknown_reference_version")
    response = client.get("/api/v1/sync/reference/", {"since": "-3"})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["since"])


def test_admin_pages_load(habref_loaded, flora_loaded, forest_legend_admin):
    admin = User.objects.create_superuser("root", "root@example.org", "a-long-test-password")
    browser = Client()
    browser.force_login(admin)
    legend, map_class = forest_legend_admin
    unit = HabitatUnit.objects.get(typology_id=107, code="T1-E")
    pages = [
        reverse("admin:habitats_typology_changelist"),
        reverse("admin:habitats_habitatunit_changelist") + "?q=chenaie",
        reverse("admin:habitats_habitatunit_changelist") + f"?parent__cd_hab__exact={unit.pk}",
        reverse("admin:habitats_habitatunit_change", args=[unit.pk]),
        reverse("admin:habitats_correspondence_changelist"),
        reverse("admin:habitats_taxon_changelist") + "?q=quercus",
        reverse("admin:habitats_characteristicspecies_changelist"),
        reverse("admin:habitats_maplegend_change", args=[legend.pk]),
        reverse("admin:habitats_mapclass_change", args=[map_class.pk]),
        reverse("admin:habitats_referenceversion_changelist"),
    ]
    for page in pages:
        response = browser.get(page)
        assert response.status_code == 200, page
    children = browser.get(pages[2]).content.decode()
    assert "T1-E1" in children and "?e=1" not in children
    preview = browser.get(pages[8]).content.decode()
    assert "94 unit(s)" in preview


@pytest.fixture
def forest_legend_admin(habref_loaded):
    legend, _ = map_legend_define(
        name="admin", version=1, classes=[ClassSpec(1, "OAK_HORNBEAM", "Oak–hornbeam", rules=(RuleSpec(107, "T1-E"),))]
    )
    return legend, legend.classes.get()
