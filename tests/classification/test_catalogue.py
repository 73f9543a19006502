"""Raster catalogue: registering files, refusing the ones it cannot use, feature sets."""

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from django.core.management import call_command
from django.core.management.base import CommandError

from classification.models import FeatureSet, RasterLayer
from classification.services.rasters import (
    CatalogueError,
    FeatureDefinition,
    feature_set_create,
    feature_set_specs,
    raster_layer_register,
)

from .rasterfiles import write_tif

pytestmark = pytest.mark.django_db


def test_register_reads_metadata(tmp_path):
    # given a 3-band uint16 GeoTIFF in EPSG:2154 with nodata 0
    uri = write_tif(tmp_path / "s2.tif", np.ones((3, 20, 30), dtype=np.uint16), nodata=0)
    # when it is registered
    layer, created = raster_layer_register(
        uri=uri, name="s2-2027-06-15", kind="s2_band", date=dt.date(2027, 6, 15), band_names=["B03", "B04", "B08"]
    )
    # then its metadata are stored exactly
    assert created
    assert (layer.band_count, layer.dtype, layer.width, layer.height) == (3, "uint16", 30, 20)
    assert (layer.source_epsg, layer.resampling, layer.nodata) == (2154, "", 0.0)
    assert (layer.resolution_x, layer.resolution_y) == (10.0, 10.0)
    assert layer.band_names == ["B03", "B04", "B08"]
    assert layer.extent.extent == (700_000.0, 6_299_800.0, 700_300.0, 6_300_000.0)
    assert not layer.is_synthetic


def test_register_command_refuses_a_file_without_crs(tmp_path):
    # given a GeoTIFF without any CRS
    uri = write_tif(tmp_path / "nocrs.tif", np.ones((5, 5), dtype=np.float32), crs=None)
    # when the command registers it, then it fails with a clear message and nothing is stored
    with pytest.raises(CommandError, match=r"\[no_crs\].*no coordinate reference system"):
        call_command("register_raster", uri, "--name", "dem", "--kind", "dem")
    assert RasterLayer.objects.count() == 0


def test_register_refuses_another_crs_without_a_reprojection_choice(tmp_path):
    # given a raster in UTM 31N
    uri = write_tif(
        tmp_path / "utm.tif",
        np.ones((5, 5), dtype=np.float32),
        crs="EPSG:32631",
        transform=Affine(10, 0, 5e5, 0, -10, 48e5),
    )
    # when registered without a reprojection choice, then it is refused, naming the way out
    with pytest.raises(CatalogueError) as error:
        raster_layer_register(uri=uri, name="dem", kind="dem")
    assert error.value.code == "wrong_crs"
    assert "--reproject-from 32631" in error.value.message
    # when the declared EPSG code does not match the file, then it is refused
    with pytest.raises(CatalogueError) as error:
        raster_layer_register(uri=uri, name="dem", kind="dem", reproject_from_epsg=4326, resampling="bilinear")
    assert error.value.code == "crs_mismatch"
    # when no resampling method is given, then it is refused
    with pytest.raises(CatalogueError) as error:
        raster_layer_register(uri=uri, name="dem", kind="dem", reproject_from_epsg=32631)
    assert error.value.code == "resampling_required"
    assert RasterLayer.objects.count() == 0
    # when both are given, then it is registered with the choice recorded and a Lambert-93 extent
    layer, _ = raster_layer_register(uri=uri, name="dem", kind="dem", reproject_from_epsg=32631, resampling="bilinear")
    assert (layer.source_epsg, layer.resampling) == (32631, "bilinear")
    assert layer.extent.srid == 2154


def test_register_refuses_a_crs_without_epsg_code(tmp_path):
    # given a file whose CRS is a custom projection (no EPSG code)
    custom = "+proj=laea +lat_0=45 +lon_0=3 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"
    uri = write_tif(tmp_path / "custom.tif", np.ones((5, 5), dtype=np.float32), crs=custom)
    # when registered, then it is refused: only EPSG codes are accepted
    with pytest.raises(CatalogueError) as error:
        raster_layer_register(uri=uri, name="x", kind="other")
    assert error.value.code == "crs_not_epsg"


def test_register_refuses_corrupt_and_missing_files(tmp_path):
    # given a truncated GeoTIFF and a path that does not exist
    good = write_tif(tmp_path / "good.tif", np.arange(4096, dtype=np.float32).reshape(64, 64))
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(Path(good).read_bytes()[:300])
    # when registered, then both are refused as unreadable and nothing is stored
    for uri in (str(corrupt), str(tmp_path / "missing.tif")):
        with pytest.raises(CatalogueError) as error:
            raster_layer_register(uri=uri, name="x", kind="other")
        assert error.value.code == "unreadable"
    assert RasterLayer.objects.count() == 0


def test_registering_again_updates_the_layer(tmp_path):
    # given a registered layer
    uri = write_tif(tmp_path / "a.tif", np.ones((5, 5), dtype=np.uint8))
    raster_layer_register(uri=uri, name="geology", kind="geology", is_categorical=True)
    # when the same name is registered again with a new description
    _layer, created = raster_layer_register(uri=uri, name="geology", kind="geology", description="v2")
    # then the row is updated, not duplicated
    assert not created
    assert RasterLayer.objects.get().description == "v2"


def test_feature_set_keeps_ordered_named_features(tmp_path):
    # given a 4-band layer and a DEM
    s2 = write_tif(tmp_path / "s2.tif", np.ones((4, 8, 8), dtype=np.uint16))
    dem = write_tif(tmp_path / "dem.tif", np.ones((8, 8), dtype=np.float32))
    s2_layer, _ = raster_layer_register(uri=s2, name="s2", kind="s2_band")
    dem_layer, _ = raster_layer_register(uri=dem, name="dem", kind="dem")
    # when a feature set is defined
    feature_set = feature_set_create(
        name="fs1",
        features=[
            FeatureDefinition("B04", "band", [(s2_layer.pk, 3)]),
            FeatureDefinition("ndvi", "ndvi", [(s2_layer.pk, 4), (s2_layer.pk, 3)]),
            FeatureDefinition("slope", "slope", [(dem_layer.pk, 1)]),
        ],
    )
    # then the features keep their order and names, and read back as specs
    assert [s.name for s in feature_set_specs(feature_set)] == ["B04", "ndvi", "slope"]
    assert [s.derivation for s in feature_set_specs(feature_set)] == ["band", "ndvi", "slope"]


@pytest.mark.parametrize(
    ("features", "code"),
    [
        ([], "empty_feature_set"),
        ([FeatureDefinition("a", "band", [(999, 1)])], "unknown_layer"),
        ([FeatureDefinition("a", "band", [("S2", 9)])], "unknown_band"),
        ([FeatureDefinition("a", "ndvi", [("S2", 1)])], "wrong_inputs"),
        ([FeatureDefinition("a", "slope", [("S2", 1)])], "not_a_dem"),
        (
            [FeatureDefinition("a", "band", [("S2", 1)]), FeatureDefinition("a", "band", [("S2", 2)])],
            "duplicate_feature_name",
        ),
        ([FeatureDefinition("a", "evi", [("S2", 1)])], "unknown_derivation"),
    ],
)
def test_feature_set_bad_input(tmp_path, features, code):
    # given a 4-band layer
    layer, _ = raster_layer_register(
        uri=write_tif(tmp_path / "s2.tif", np.ones((4, 8, 8), dtype=np.uint16)), name="s2", kind="s2_band"
    )
    features = [
        FeatureDefinition(f.name, f.derivation, [(layer.pk if i == "S2" else i, b) for i, b in f.inputs])
        for f in features
    ]
    # when the feature set is created, then it is refused with a stable code and nothing is stored
    with pytest.raises(CatalogueError) as error:
        feature_set_create(name="bad", features=features)
    assert error.value.code == code
    assert FeatureSet.objects.count() == 0
