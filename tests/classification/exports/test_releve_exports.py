"""Relevé exports reopened with the readers modellers use: pyogrio/GDAL, pyarrow, python-dwca-reader."""

import csv
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pyogrio
import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.core.management import CommandError, call_command
from dwca.read import DwCAReader
from dwca.rows import CoreRow

from classification.exports.errors import ExportError
from classification.exports.releves import ReleveSelection, releve_selection_parse
from classification.exports.services import releve_export_write

from .world import PHOTO_BYTES, make_export_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_export_world()


def test_geopackage_has_one_layer_per_table_in_lambert93(world, tmp_path):
    # given two validated relevés (one submitted and one deleted that must stay out)
    path = tmp_path / "releves.gpkg"
    # when they are exported as a GeoPackage
    counts = releve_export_write(selection=ReleveSelection(chunk_size=1), fmt="gpkg", path=path)
    # then GDAL sees six layers with the right counts, types and CRS
    assert counts == {"releves": 2, "plots": 1, "habitats": 2, "species": 4, "layers": 2, "photos": 2}
    layers = {name: kind for name, kind in pyogrio.list_layers(path)}
    assert layers == {
        "releves": "Point", "plots": "Polygon", "habitats": None, "species": None, "layers": None, "photos": None,
    }  # fmt: skip
    info = pyogrio.read_info(path, layer="releves")
    assert (info["crs"], info["features"]) == ("EPSG:2154", 2)
    assert pyogrio.read_info(path, layer="plots")["crs"] == "EPSG:2154"
    meta, _, geometry, fields = pyogrio.raw.read(path, layer="releves")
    row = list(meta["fields"]).index
    first = 0 if fields[row("releve_uuid")][0] == str(world.main.uuid) else 1
    point = GEOSGeometry(memoryview(geometry[first]))
    assert (point.x, point.y) == (world.main.location.x, world.main.location.y)
    assert fields[row("co_observers")][first] == "lucas"
    assert fields[row("main_cd_hab")][first] == 51641
    assert fields[row("main_habitat_code")][first] == "32.4"
    assert fields[row("notes")][first] == "Grazed\tby sheep\nlast spring"
    plot = GEOSGeometry(memoryview(pyogrio.raw.read(path, layer="plots")[2][0]))
    assert plot.area == pytest.approx(100.0)
    meta, _, _, fields = pyogrio.raw.read(path, layer="species")
    species = [dict(zip(meta["fields"], values, strict=True)) for values in zip(*fields, strict=True)]
    assert [(s["scientific_name"], s["layer"], s["braun_blanquet"], s["cover_pct"]) for s in species[:3]] == [
        ("Thymus vulgaris L., 1753", "herb", "2a", 8.0),
        ("Quercus ilex L., 1753", "shrub", "2b", 18.0),
        ("Carex sp.", "herb", "r", 1.0),
    ]


def test_geopackage_in_wgs84_on_request(world, tmp_path):
    # given the main relevé at 3.8767 E, 43.6108 N
    path = tmp_path / "wgs84.gpkg"
    # when exported with crs=4326
    releve_export_write(selection=releve_selection_parse(crs="EPSG:4326"), fmt="gpkg", path=path)
    # then the layers are in EPSG:4326 and the point is back at its longitude and latitude
    assert pyogrio.read_info(path, layer="releves")["crs"] == "EPSG:4326"
    meta, _, geometry, fields = pyogrio.raw.read(path, layer="releves", where=f"releve_uuid = '{world.main.uuid}'")
    point = GEOSGeometry(memoryview(geometry[0]))
    assert (round(point.x, 9), round(point.y, 9)) == (3.8767, 43.6108)
    assert round(fields[list(meta["fields"]).index("x")][0], 9) == 3.8767


def test_csv_zip_has_one_file_per_table(world, tmp_path):
    # given the world; when exported as zipped CSV
    path = tmp_path / "releves.zip"
    counts = releve_export_write(selection=ReleveSelection(), fmt="csv", path=path)
    # then each table is a CSV with a header row and one line per row
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(f"{name}.csv" for name in counts)
        releves = list(csv.DictReader(io.TextIOWrapper(archive.open("releves.csv"), encoding="utf-8")))
        habitats = list(csv.DictReader(io.TextIOWrapper(archive.open("habitats.csv"), encoding="utf-8")))
    main = next(r for r in releves if r["releve_uuid"] == str(world.main.uuid))
    assert main["observed_at"] == "2027-05-14T08:32:00Z"
    assert main["campaign"] == "occitanie-2027"
    assert main["notes"] == "Grazed\tby sheep\nlast spring"
    assert GEOSGeometry(main["geometry_wkt"]).coords == world.main.location.coords
    assert [(h["code"], h["cover_pct"], h["certainty"]) for h in habitats] == [
        ("32.4", "80", "sure"), ("T2-1", "20", "probable"),
    ]  # fmt: skip


def test_geoparquet_carries_wkb_and_projjson(world, tmp_path):
    # given the world; when exported as GeoParquet
    path = tmp_path / "releves-parquet.zip"
    releve_export_write(selection=ReleveSelection(), fmt="parquet", path=path)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "parquet")
    table = pq.read_table(tmp_path / "parquet" / "releves.parquet")
    # then the geo metadata names a WKB point column with the Lambert-93 CRS as PROJJSON
    geo = json.loads(table.schema.metadata[b"geo"])
    column = geo["columns"]["geometry"]
    assert (geo["version"], geo["primary_column"], column["encoding"], column["geometry_types"]) == (
        "1.1.0", "geometry", "WKB", ["Point"],
    )  # fmt: skip
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 2154}
    rows = table.to_pylist()
    main = next(r for r in rows if r["releve_uuid"] == str(world.main.uuid))
    assert GEOSGeometry(memoryview(main["geometry"])).coords == world.main.location.coords
    assert (table.num_rows, main["gnss_accuracy_m"], main["status"]) == (2, 3.5, "validated")
    species = pq.read_table(tmp_path / "parquet" / "species.parquet")
    assert b"geo" not in (species.schema.metadata or {})
    assert species.column("braun_blanquet").to_pylist() == ["2a", "2b", "r", "+"]


def test_darwin_core_archive_reads_back(world, tmp_path):
    # given the world; when exported as a Darwin Core Archive
    path = tmp_path / "dwca.zip"
    counts = releve_export_write(selection=ReleveSelection(), fmt="dwca", path=path)
    assert counts == {"event.txt": 2, "occurrence.txt": 4, "measurementorfact.txt": 8 + 3}
    # then python-dwca-reader reads the Event core with its two extensions
    with DwCAReader(str(path)) as archive:
        assert archive.descriptor.core.type == "http://rs.tdwg.org/dwc/terms/Event"
        rows: list[CoreRow] = list(archive)
        event = next(r for r in rows if r.id == str(world.main.uuid))
        d = {key.rsplit("/", 1)[-1]: value for key, value in event.data.items()}
        assert d["eventDate"] == "2027-05-14T10:32:00+02:00"
        assert (d["decimalLatitude"], d["decimalLongitude"], d["geodeticDatum"]) == ("43.6108", "3.8767", "EPSG:4326")
        assert (d["sampleSizeValue"], d["sampleSizeUnit"]) == ("100", "square metre")
        assert (d["coordinateUncertaintyInMeters"], d["minimumElevationInMeters"]) == ("3.5", "85")
        assert d["habitat"] == "CORINE_BIOTOPES 32.4 Garrigues calcicoles (80 %) | EUNIS_2022 T2-1 Forêts (20 %)"
        assert d["recordedBy"] == "marie | lucas"
        assert d["eventRemarks"] == "Grazed by sheep last spring"
        assert d["footprintWKT"].startswith("POLYGON((3.87") and d["footprintSRS"] == "EPSG:4326"
        assert GEOSGeometry(d["footprintWKT"]).contains(GEOSGeometry("POINT(3.8767 43.6108)"))
        occurrences = [r for r in event.extensions if r.rowtype.endswith("Occurrence")]
        o = [{k.rsplit("/", 1)[-1]: v for k, v in r.data.items()} for r in occurrences]
        assert [(x["occurrenceID"], x["scientificName"], x["taxonID"], x["organismQuantity"]) for x in o] == [
            (f"{world.main.uuid}:0", "Thymus vulgaris L., 1753", "126628", "2a"),
            (f"{world.main.uuid}:1", "Quercus ilex L., 1753", "116751", "2b"),
            (f"{world.main.uuid}:2", "Carex sp.", "", "r"),
        ]
        assert {(x["basisOfRecord"], x["occurrenceStatus"], x["organismQuantityType"]) for x in o} == {
            ("HumanObservation", "present", "braunBlanquetScale")
        }
        facts = [r for r in event.extensions if r.rowtype.endswith("MeasurementOrFact")]
        m = [{k.rsplit("/", 1)[-1]: v for k, v in r.data.items()} for r in facts]
        assert [(x["measurementType"], x["measurementValue"], x["measurementUnit"]) for x in m] == [
            ("total vegetation cover", "90", "%"),
            ("herb layer cover", "40", "%"),
            ("herb layer height", "0.4", "m"),
            ("tree layer cover", "60", "%"),
            ("tree layer height", "12", "m"),
            ("GNSS horizontal accuracy", "3.5", "m"),
            ("slope", "5", "degrees"),
            ("aspect", "S", ""),
        ]
        assert "Vegetation relevés" in archive.metadata.find("dataset/title").text


def test_filters_by_date_bbox_and_status(world, tmp_path):
    # given relevés in May (Montpellier) and July (Roussillon), one submitted
    def count(**filters) -> int:
        path = tmp_path / "f.zip"
        return releve_export_write(selection=releve_selection_parse(**filters), fmt="csv", path=path)["releves"]

    # when filtered, then only the matching relevés are exported
    assert count(date_from="2027-06-01") == 1
    assert count(date_from="2027-05-14", date_to="2027-05-14") == 1
    assert count(bbox="3.8,43.5,3.9,43.7") == 1
    assert count(bbox=[600_000, 6_000_000, 800_000, 6_400_000], bbox_crs="2154") == 2
    assert count(bbox=[700_000, 6_000_000, 800_000, 6_400_000], bbox_crs="2154") == 1
    assert count(statuses=["submitted", "validated"]) == 3
    assert count(campaign="occitanie-2027") == 2


def test_photo_zip_streams_complete_photos(world, tmp_path):
    # given one complete photo and one still declared
    path = tmp_path / "photos.zip"
    # when photos are exported
    counts = releve_export_write(selection=ReleveSelection(), fmt="photos", path=path)
    # then the zip holds the complete one, byte for byte, where the photos table says
    assert counts == {"photos": 1}
    with zipfile.ZipFile(path) as archive:
        name = f"photos/{world.main.uuid}/{world.photo.uuid}.jpg"
        assert archive.namelist() == [name]
        assert archive.read(name) == PHOTO_BYTES


@pytest.mark.parametrize(
    ("filters", "code"),
    [
        ({"bbox": "1,2,3"}, "bad_bbox"),
        ({"bbox": "3,43,2,44"}, "bad_bbox"),
        ({"bbox": "a,b,c,d"}, "bad_bbox"),
        ({"bbox": "0,0,nan,1"}, "bad_bbox"),
        ({"bbox": "700000,6000000,800000,6400000"}, "bad_bbox"),  # metres given as degrees
        ({"crs": "3857"}, "bad_crs"),
        ({"bbox_crs": "+proj=longlat"}, "bad_crs"),
        ({"date_from": "14/05/2027"}, "bad_date"),
        ({"date_from": "2027-06-01", "date_to": "2027-05-01"}, "bad_date_range"),
        ({"statuses": ["approved"]}, "unknown_status"),
        ({"campaign": "nowhere"}, "unknown_campaign"),
    ],
)
def test_bad_filters_are_refused_with_a_code(world, filters, code):
    with pytest.raises(ExportError) as caught:
        releve_selection_parse(**filters)
    assert caught.value.code == code


def test_unknown_format_and_empty_selection_write_nothing(world, tmp_path):
    # given a selection matching nothing, and a format that does not exist
    path = tmp_path / "out.gpkg"
    with pytest.raises(ExportError) as unknown:
        releve_export_write(selection=ReleveSelection(), fmt="shapefile", path=path)
    with pytest.raises(ExportError) as empty:
        releve_export_write(selection=releve_selection_parse(date_from="2030-01-01"), fmt="gpkg", path=path)
    # then both are refused with their codes, no file is written, and the relevés are untouched
    assert (unknown.value.code, empty.value.code) == ("unknown_format", "empty_selection")
    assert not path.exists()
    world.main.refresh_from_db()
    assert (world.main.status, world.main.species.count()) == ("validated", 3)


def test_command_writes_the_file_and_reports_codes(world, tmp_path):
    # given the world; when the command exports a GeoPackage
    out = io.StringIO()
    path = tmp_path / "cmd.gpkg"
    args = ["--format", "gpkg", "--output", str(path), "--campaign", "occitanie-2027"]
    call_command("export_releves", *args, stdout=out)
    # then the file is there and the summary counts rows
    assert out.getvalue().strip() == (
        f"Wrote {path} (gpkg): releves 2, plots 1, habitats 2, species 4, layers 2, photos 2"
    )
    assert pyogrio.read_info(path, layer="species")["features"] == 4
    # and bad input ends with the stable code
    with pytest.raises(CommandError, match=r"\[unknown_format\]"):
        call_command("export_releves", "--format", "xlsx", "--output", str(tmp_path / "x"))
    with pytest.raises(CommandError, match=r"\[bad_bbox\]"):
        call_command("export_releves", "--format", "csv", "--output", str(tmp_path / "x"), "--bbox", "1,2")
    with pytest.raises(CommandError, match=r"\[bad_output\]"):
        call_command("export_releves", "--format", "csv", "--output", str(Path("/nonexistent/dir/x.zip")))
    assert not (tmp_path / "x").exists()
