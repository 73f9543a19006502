import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from fieldcollect.models import Campaign
from fieldcollect.services.campaigns import BoundaryError, boundary_from_geojson

pytestmark = pytest.mark.django_db


def test_occitanie_boundary_is_stored_in_lambert93(shared_data):
    call_command(
        "load_campaign",
        str(shared_data / "boundaries/region-occitanie.geojson"),
        slug="occ",
        name="Occitanie",
        year=2027,
        start=dt.date(2027, 4, 1),
        end=dt.date(2027, 9, 30),
    )
    campaign = Campaign.objects.get(slug="occ")
    assert campaign.region.srid == 2154
    # Occitanie is about 72,700 km²; the simplified boundary stays within 2 %.
    assert 71_000 < campaign.region.area / 1e6 < 74_500
    # Montpellier (EPSG:2154 ≈ 770 000, 6 280 000) is inside; Paris is not
    from django.contrib.gis.geos import Point

    assert campaign.region.contains(Point(770_000, 6_280_000, srid=2154))
    assert not campaign.region.contains(Point(652_000, 6_862_000, srid=2154))


def test_reloading_a_campaign_updates_it_in_place(shared_data):
    args = [str(shared_data / "boundaries/departements-occitanie.geojson")]
    opts = {"slug": "deps", "name": "D", "year": 2027, "start": dt.date(2027, 4, 1), "end": dt.date(2027, 9, 30)}
    call_command("load_campaign", *args, **opts)
    call_command("load_campaign", *args, **{**opts, "name": "Renamed"})
    assert Campaign.objects.filter(slug="deps").count() == 1
    assert Campaign.objects.get(slug="deps").name == "Renamed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a readable GeoJSON"),
        (json.dumps({"type": "Point", "coordinates": [3, 43]}), "not a Polygon"),
        (json.dumps({"type": "Polygon", "coordinates": [[[3, 43], [3]]]}), "invalid coordinates"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "no polygon"),
    ],
)
def test_bad_boundary_files_are_refused_and_store_nothing(tmp_path, content, message):
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(BoundaryError, match=message):
        boundary_from_geojson(path)
    with pytest.raises(CommandError):
        call_command(
            "load_campaign",
            str(path),
            slug="x",
            name="x",
            year=2027,
            start=dt.date(2027, 1, 1),
            end=dt.date(2027, 2, 1),
        )
    assert not Campaign.objects.exists()


def test_campaign_ending_before_it_starts_is_refused(shared_data):
    with pytest.raises(CommandError, match="end on or after"):
        call_command(
            "load_campaign",
            str(shared_data / "boundaries/region-occitanie.geojson"),
            slug="x",
            name="x",
            year=2027,
            start=dt.date(2027, 9, 1),
            end=dt.date(2027, 4, 1),
        )
