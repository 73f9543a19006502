"""The SYNTHETIC demo landscape: determinism, labelling, COG layout, plausibility, registration."""

import hashlib
import io
import json

import numpy as np
import pytest
import rasterio
from django.core.management import call_command
from django.core.management.base import CommandError

from classification.landscape.classes import DEFAULT_CLASSES, classes_for_legend
from classification.landscape.generator import LandscapeSpec, landscape_generate, region_from_geojson
from classification.models import RasterLayer


@pytest.fixture(scope="module")
def region():
    from django.conf import settings

    return region_from_geojson(settings.SHARED_DATA_DIR / "boundaries" / "region-occitanie.geojson")


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def small_spec(seed=3, **kw):
    # 40 km × 40 km at 100 m over Roussillon: the Pyrenees in the south, the plain, the coast and the sea.
    return LandscapeSpec(
        xmin=670_000, ymax=6_200_000, width=400, height=400, resolution=100, seed=seed, block=128, **kw
    )


def test_same_seed_same_files_other_seed_other_files(tmp_path, region):
    # when the same landscape is generated twice, and once with another seed
    landscape_generate(small_spec(), region=region, out_dir=tmp_path / "a")
    landscape_generate(small_spec(), region=region, out_dir=tmp_path / "b")
    landscape_generate(small_spec(seed=4), region=region, out_dir=tmp_path / "c")
    # then the files are byte-identical for the same seed and differ for another seed
    for name in ("dem.tif", "habitat_true.tif", "s2_20270615.tif", "landscape.json"):
        assert digest(tmp_path / "a" / name) == digest(tmp_path / "b" / name)
    assert digest(tmp_path / "a" / "habitat_true.tif") != digest(tmp_path / "c" / "habitat_true.tif")


def test_products_are_labelled_synthetic_tiled_cogs(tmp_path, region):
    manifest = landscape_generate(small_spec(), region=region, out_dir=tmp_path)
    assert manifest["synthetic"] is True
    assert json.loads((tmp_path / "landscape.json").read_text())["description"].startswith("SYNTHETIC")
    with rasterio.open(tmp_path / "s2_20270415.tif") as dataset:
        assert dataset.tags()["SYNTHETIC"] == "yes"
        assert dataset.descriptions[2] == "B04 (SYNTHETIC)"
        assert dataset.count == 10
        assert dataset.crs.to_epsg() == 2154
        assert dataset.profile["tiled"] and dataset.compression.name == "deflate"
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_relief_habitats_and_spectra_are_plausible(tmp_path, region):
    landscape_generate(small_spec(), region=region, out_dir=tmp_path)
    with rasterio.open(tmp_path / "dem.tif") as d:
        dem = d.read(1, masked=True)
    with rasterio.open(tmp_path / "habitat_true.tif") as d:
        habitat = d.read(1)
    with rasterio.open(tmp_path / "s2_20270615.tif") as d:
        s2 = d.read().astype(float)
    # the window reaches the sea (outside the region: nodata everywhere) and mountains in the south
    outside = habitat == 0
    assert 0.05 < outside.mean() < 0.6
    assert np.all(dem.mask == outside)
    south, north = dem[300:, :200].mean(), dem[:100, 100:300].mean()
    assert south > north + 200
    # many classes, none covering everything, lagoons next to the sea, high classes high up
    values, counts = np.unique(habitat[~outside], return_counts=True)
    assert len(values) >= 15
    assert counts.max() / counts.sum() < 0.35
    assert np.median(dem[habitat == 7]) > 1200  # alpine grasslands
    # water is dark in the near-infrared, vegetation bright; clouds are nodata (0)
    nir = s2[6]
    clear = nir > 0
    assert nir[(habitat == 23) & clear].mean() < 500 < nir[(habitat == 15) & clear].mean()
    cloudy = (~clear & ~outside).mean()
    assert cloudy < 0.3  # (the cloud cover itself: test_the_cloud_cover_asked_for_is_the_cloud_cover_written)


@pytest.mark.parametrize("cloud_cover", [0.02, 0.25])
def test_the_cloud_cover_asked_for_is_the_cloud_cover_written(tmp_path, region, cloud_cover):
    # given an inland window (all inside the region) and a cloud cover
    spec = LandscapeSpec(xmin=540_000, ymax=6_300_000, width=300, height=300, resolution=100, seed=5, block=128,
                         cloud_cover=cloud_cover)  # fmt: skip
    # when the landscape is generated
    landscape_generate(spec, region=region, out_dir=tmp_path)
    # then each date's share of cloudy (nodata) pixels is the one asked for, give or take a point
    for date in spec.dates:
        with rasterio.open(tmp_path / f"s2_{date.replace('-', '')}.tif") as dataset:
            cloudy = (dataset.read(7) == 0).mean()
        assert abs(cloudy - cloud_cover) < 0.01, (date, cloudy)


def test_legend_classes_take_builtin_niches():
    classes = classes_for_legend([(101, "Beech forests"), (102, "Something new"), (103, "Other")])
    assert [c.value for c in classes] == [101, 102, 103]
    assert classes[0].altitude == DEFAULT_CLASSES[14].altitude  # matched by name
    assert classes[1].altitude == DEFAULT_CLASSES[1].altitude  # by position
    with pytest.raises(ValueError, match="unique"):
        classes_for_legend([(1, "a"), (1, "b")])


@pytest.mark.django_db
def test_command_writes_and_registers_a_small_landscape(tmp_path):
    call_command(
        "make_demo_landscape",
        "--out",
        str(tmp_path),
        "--size",
        "200",
        "--resolution",
        "50",
        "--name",
        "t",
        "--dates",
        "2027-05-01",
        "--seed",
        "1",
        stdout=io.StringIO(),
    )
    layers = {layer.name: layer for layer in RasterLayer.objects.all()}
    assert sorted(layers) == ["t-aspect", "t-dem", "t-habitat", "t-s2-2027-05-01", "t-slope"]
    assert all(layer.is_synthetic for layer in layers.values())
    assert layers["t-habitat"].is_categorical
    assert layers["t-s2-2027-05-01"].band_names[:3] == ["B02", "B03", "B04"]
    assert str(layers["t-s2-2027-05-01"].date) == "2027-05-01"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "0"], "invalid_size"),
        (["--dates", "2027-13-01"], "invalid_date"),
        (["--products", "dem,lidar"], "unknown products"),
        (["--departement", "75"], "unknown_departement"),
        (["--cloud-cover", "1.5"], "invalid_cloud_cover"),
    ],
)
def test_command_bad_input(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("make_demo_landscape", "--out", str(tmp_path), "--size", "50", *args)
    assert RasterLayer.objects.count() == 0
