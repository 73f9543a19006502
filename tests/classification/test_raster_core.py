"""Numeric raster core: aligned reads, derived features, bulk sampling at points."""

import math

import numpy as np
import pytest
from affine import Affine

from classification.rasters.features import FeatureReader, FeatureSpec, slope_aspect
from classification.rasters.grid import Grid, LayerSource
from classification.rasters.points import NODATA, OFF_RASTER, OK, features_sample_points, raster_sample_points

from .rasterfiles import write_tif


def test_grid_covering_snaps_to_the_resolution():
    grid = Grid.covering((700_003.0, 6_299_991.0, 700_021.0, 6_300_000.5), 10.0)
    assert (grid.xmin, grid.ymax, grid.width, grid.height) == (700_000.0, 6_300_010.0, 3, 2)


def test_slope_and_aspect_of_a_plane():
    # given a plane rising 1 m every 10 m eastwards (so it faces west)
    cols = np.arange(7, dtype=np.float64)
    dem = np.tile(cols * 1.0, (7, 1))
    slope, aspect = slope_aspect(dem, 10.0)
    assert slope.shape == (5, 5)
    assert np.allclose(slope, math.degrees(math.atan(0.1)), atol=1e-4)
    assert np.allclose(aspect, 270.0)
    # and one rising northwards faces south
    slope, aspect = slope_aspect(dem.T[::-1].copy(), 10.0)
    assert np.allclose(aspect, 180.0)


def test_feature_reader_aligns_a_20m_layer_and_derives_ndvi(tmp_path):
    # given red and nir at 10 m and a 20 m band shifted by half a 20 m cell
    red = np.full((2, 10, 10), 1000, dtype=np.uint16)
    red[1] = 3000  # band 2 is "nir"
    s2 = write_tif(tmp_path / "s2.tif", red)
    coarse = write_tif(
        tmp_path / "b11.tif", np.full((6, 6), 500, dtype=np.uint16), transform=Affine(20, 0, 700_000, 0, -20, 6_300_000)
    )
    grid = Grid(700_000.0, 6_300_000.0, 10.0, 10, 10)
    specs = [
        FeatureSpec("B04", "band", ((LayerSource(s2), 1),)),
        FeatureSpec("ndvi", "ndvi", ((LayerSource(s2), 2), (LayerSource(s2), 1))),
        FeatureSpec("B11", "band", ((LayerSource(coarse), 1),), resampling="nearest"),
    ]
    # when a window is read on the 10 m grid
    with FeatureReader(specs, grid) as reader:
        stack = reader.read(grid_window := next(grid.blocks(512)))
    # then each feature is on the grid: bands as read, ndvi = (3000-1000)/(3000+1000), the 20 m band resampled
    assert stack.shape == (3, 10, 10)
    assert grid_window.width == 10
    assert np.all(stack[0] == 1000)
    assert np.allclose(stack[1], 0.5)
    assert np.all(stack[2] == 500)


def test_feature_reader_marks_cells_off_the_layer_as_nan(tmp_path):
    # given a layer covering only the western half of the grid
    left = write_tif(tmp_path / "left.tif", np.ones((4, 2), dtype=np.float32))
    grid = Grid(700_000.0, 6_300_000.0, 10.0, 4, 4)
    with FeatureReader([FeatureSpec("v", "band", ((LayerSource(left), 1),))], grid) as reader:
        stack = reader.read(next(grid.blocks()))
    assert np.all(stack[0, :, :2] == 1)
    assert np.all(np.isnan(stack[0, :, 2:]))


def test_sampling_points_reads_each_block_once_and_flags_nodata_and_off_raster(tmp_path):
    # given a 2-band 64×64 tiled raster (16×16 tiles) with a nodata cell
    data = np.stack([np.arange(64 * 64, dtype=np.int32).reshape(64, 64), np.full((64, 64), 7, dtype=np.int32)])
    data[:, 5, 5] = -1
    uri = write_tif(tmp_path / "stack.tif", data, nodata=-1, tiled=True)
    t = Affine(10, 0, 700_000, 0, -10, 6_300_000)
    cells = [(0, 0), (1, 1), (5, 5), (20, 40), (63, 63), (22, 41)]
    xs = np.array([t.c + (c + 0.5) * 10 for _, c in cells] + [699_000.0])
    ys = np.array([t.f - (r + 0.5) * 10 for r, _ in cells] + [6_300_000 - 5.0])
    # when the points are sampled
    result = raster_sample_points(LayerSource(uri), xs, ys)
    # then values are exact, statuses explicit, and one read per 16×16 block holding points
    assert result.values[0].tolist() == [0, 7]
    assert result.values[1].tolist() == [65, 7]
    assert np.isnan(result.values[2]).all()
    assert result.values[3].tolist() == [20 * 64 + 40, 7]
    assert result.values[5].tolist() == [22 * 64 + 41, 7]
    assert result.status.tolist() == [OK, OK, NODATA, OK, OK, OK, OFF_RASTER]
    assert result.reads == 3  # block (0,0) holds 3 points, (1,2) holds 2, (3,3) holds 1
    assert result.counts() == {"ok": 5, "nodata": 1, "off_raster": 1}


def test_sampling_a_reprojected_layer_projects_the_points(tmp_path):
    # given a raster in EPSG:4326 (1 value per 0.01°) around Montpellier
    data = np.arange(100, dtype=np.float32).reshape(10, 10)
    uri = write_tif(tmp_path / "wgs.tif", data, crs="EPSG:4326", transform=Affine(0.01, 0, 3.8, 0, -0.01, 43.7))
    # the Lambert-93 position of 3.855 E, 43.635 N (cell row 6, col 5)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 2154, always_xy=True).transform(3.855, 43.635)
    result = raster_sample_points(
        LayerSource(uri, source_epsg=4326, resampling="nearest"), np.array([x]), np.array([y])
    )
    assert result.values[0, 0] == 65.0


def test_feature_sampling_at_points(tmp_path):
    # given a DEM plane and a grid
    dem = write_tif(tmp_path / "dem.tif", np.tile(np.arange(20, dtype=np.float32), (20, 1)))
    grid = Grid(700_000.0, 6_300_000.0, 10.0, 20, 20)
    specs = [
        FeatureSpec("elevation", "band", ((LayerSource(dem), 1),)),
        FeatureSpec("slope", "slope", ((LayerSource(dem), 1),)),
    ]
    with FeatureReader(specs, grid) as reader:
        result = features_sample_points(
            reader, np.array([700_055.0, 700_155.0, 800_000.0]), np.array([6_299_955.0] * 3), block=8
        )
    assert result.values[0, 0] == 5.0 and result.values[1, 0] == 15.0
    assert result.values[0, 1] == pytest.approx(math.degrees(math.atan(0.1)), abs=1e-4)
    assert result.status.tolist() == [OK, OK, OFF_RASTER]
    assert result.reads == 2


def test_a_layer_offset_by_whole_cells_is_read_without_resampling(tmp_path):
    # given a layer starting 2 cells east and 1 cell south of the grid origin
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    uri = write_tif(tmp_path / "off.tif", data, transform=Affine(10, 0, 700_020, 0, -10, 6_299_990))
    grid = Grid(700_000.0, 6_300_000.0, 10.0, 6, 4)
    with FeatureReader([FeatureSpec("v", "band", ((LayerSource(uri), 1),))], grid) as reader:
        stack = reader.read(next(grid.blocks()))
    # then its cells land exactly where they belong, NaN elsewhere
    assert stack[0, 1:3, 2:5].tolist() == data.tolist()
    assert np.isnan(stack[0, 0]).all() and np.isnan(stack[0, :, :2]).all() and np.isnan(stack[0, 3]).all()
