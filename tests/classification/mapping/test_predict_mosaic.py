import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio import features as rio_features

from classification.mapping.grid import tiles_for_area
from classification.mapping.mosaic import MosaicError, colour_table, mosaic, preview_png, sieve_raster
from classification.mapping.predict import (
    CLASS_NODATA,
    CONFIDENCE_NODATA,
    RasterStack,
    predict_tile,
    predict_tiles,
    tile_is_done,
    tile_paths,
)
from classification.training.voting import hard_vote

from .synthetic import landscape

COLOURS = {1: "#1b9e77", 2: "#d95f02", 3: (117, 112, 179)}


@pytest.fixture
def scene(tmp_path):
    grid, paths, truth, model = landscape(tmp_path)
    return grid, RasterStack(paths, grid=grid), truth, model, tmp_path / "tiles"


def _predict_all(grid, source, model, tile_dir, **kwargs):
    tiles = list(tiles_for_area(grid, tile_size=512))
    results, total = predict_tiles(tiles=tiles, model=model, source=source, grid=grid, out_dir=tile_dir, **kwargs)
    return tiles, results, total


def test_tile_prediction_writes_classes_confidence_and_nodata(scene):
    grid, source, truth, model, tile_dir = scene
    tile = next(iter(tiles_for_area(grid, tile_size=512)))
    # when the first tile is predicted
    result = predict_tile(model=model, source=source, grid=grid, tile=tile, out_dir=tile_dir, model_tag="m1")
    classes_path, conf_path = tile_paths(tile_dir, tile)
    with rasterio.open(classes_path) as c, rasterio.open(conf_path) as f:
        classes, conf = c.read(1), f.read(1)
        # then the files are georeferenced on the tile, typed and tagged
        assert (c.dtypes[0], f.dtypes[0]) == ("uint16", "uint8")
        assert (c.nodata, f.nodata) == (CLASS_NODATA, CONFIDENCE_NODATA)
        assert c.transform == grid.transform
        assert c.tags()["FC_MODEL"] == "m1"
    # the 40 × 60 px hole in the inputs is nodata in both
    assert np.all(classes[100:140, 200:260] == CLASS_NODATA)
    assert np.all(conf[100:140, 200:260] == CONFIDENCE_NODATA)
    assert result.valid_pixels == 512 * 512 - 40 * 60
    # elsewhere: classes and confidence are the hard vote of the model
    feats, valid = source.read(tile.window)
    labels, share = hard_vote(model, feats[:, valid].T)
    assert np.array_equal(classes[valid], labels)
    assert np.array_equal(conf[valid], np.rint(share * 100).astype(np.uint8))
    # and the map agrees with the synthetic truth on most pixels
    assert np.mean(classes[valid] == truth[:512, :512][valid]) > 0.9
    assert result.cost.cpu_seconds > 0


def test_tiles_are_restartable(scene):
    grid, source, _, model, tile_dir = scene
    tiles, first, _ = _predict_all(grid, source, model, tile_dir, model_tag="m1")
    assert [r.skipped for r in first] == [False] * 6
    # given a tile whose class file is lost, one truncated, and one whose worker died before the rename
    tile_paths(tile_dir, tiles[1])[0].unlink()
    Path(tile_paths(tile_dir, tiles[2])[1]).write_bytes(b"II*\x00 truncated")
    tile_paths(tile_dir, tiles[3])[0].rename(tile_paths(tile_dir, tiles[3])[0].with_name(".x.tmp.tif"))
    untouched = tile_paths(tile_dir, tiles[0])[0].stat().st_mtime_ns
    # when the run is started again
    _, again, _ = _predict_all(grid, source, model, tile_dir, model_tag="m1")
    # then exactly the three damaged tiles are redone, the others are left as they were
    assert [r.skipped for r in again] == [True, False, False, False, True, True]
    assert tile_paths(tile_dir, tiles[0])[0].stat().st_mtime_ns == untouched
    assert all(tile_is_done(tile_dir, t, model_tag="m1") for t in tiles)
    # and no temporary file is left next to the tiles except the stranded one we made
    leftovers = sorted(p.name for p in (tile_dir / "classes").iterdir() if p.name.startswith("."))
    assert leftovers == [".x.tmp.tif"]


def test_a_different_model_redoes_the_tiles(scene):
    grid, source, _, model, tile_dir = scene
    _predict_all(grid, source, model, tile_dir, model_tag="m1")
    _, results, _ = _predict_all(grid, source, model, tile_dir, model_tag="m2")
    assert not any(r.skipped for r in results)


def test_mosaic_is_a_cog_with_mode_overviews_and_a_colour_table(scene, tmp_path):
    grid, source, truth, model, tile_dir = scene
    tiles, _, _ = _predict_all(grid, source, model, tile_dir, model_tag="m1")
    # when mosaicked with a 20 px minimum mapping unit
    paths = mosaic(
        grid=grid, tiles=tiles, tile_dir=tile_dir, out_dir=tmp_path / "map", colours=COLOURS, min_mapping_unit_px=20
    )
    with rasterio.open(paths["classes"]) as ds:
        # then the class map is a COG over the whole grid, with overviews and the legend's colours
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert (ds.width, ds.height, ds.transform) == (grid.width, grid.height, grid.transform)
        assert ds.overviews(1) == [2, 4]
        assert ds.colormap(1)[2] == (217, 95, 2, 255)
        assert ds.colormap(1)[3] == (117, 112, 179, 255)
        classes = ds.read(1)
    with rasterio.open(paths["classes"], overview_level=0) as ov:
        # mode overviews only hold real class values (an average would invent 1.5, 2.5, …)
        assert set(np.unique(ov.read(1)).tolist()) <= {0, 1, 2, 3}
    with rasterio.open(paths["confidence"]) as ds:
        assert ds.dtypes[0] == "uint8"
        assert ds.overviews(1) == [2, 4]
    # the sieve removed every patch smaller than 20 px (nodata excluded) and kept the hole as nodata
    valid = classes != CLASS_NODATA
    for value in (1, 2, 3):
        shapes = rio_features.shapes(classes, mask=(classes == value) & valid, connectivity=4)
        sizes = [abs(rio_features.geometry_mask([g], classes.shape, rasterio.Affine.identity(), invert=True).sum())
                 for g, _ in shapes]  # fmt: skip
        assert min(sizes) >= 20
    assert np.all(classes[100:140, 200:260] == CLASS_NODATA)
    assert np.mean(classes[valid] == truth[valid]) > 0.97


def test_tiled_sieve_equals_a_whole_raster_sieve(tmp_path):
    # given a noisy class raster of 700 × 900 px with nodata stripes
    rng = np.random.default_rng(0)
    data = rng.integers(1, 4, size=(700, 900)).astype(np.uint16)
    data = np.repeat(np.repeat(data[::3, ::3], 3, axis=0), 3, axis=1)[:700, :900]  # patches of 9 px and more
    data[:, 300:302] = 0
    src = tmp_path / "in.tif"
    profile = {"driver": "GTiff", "width": 900, "height": 700, "count": 1, "dtype": "uint16", "nodata": 0,
               "tiled": True, "blockxsize": 256, "blockysize": 256, "crs": "EPSG:2154",
               "transform": rasterio.Affine(10.0, 0.0, 600_000.0, 0.0, -10.0, 6_300_000.0)}  # fmt: skip
    with rasterio.open(src, "w", **profile) as dst:
        dst.write(data, 1)
    # when sieved in 256 px blocks and in one piece
    sieve_raster(src, tmp_path / "out.tif", min_pixels=30, block=256)
    whole = rio_features.sieve(data, size=30, mask=data != 0)
    whole = np.where(data == 0, data, whole)
    with rasterio.open(tmp_path / "out.tif") as ds:
        tiled = ds.read(1)
    # then the small patches removed are the same
    changed_tiled, changed_whole = tiled != data, whole != data
    assert changed_whole.sum() > 1000
    assert np.array_equal(changed_tiled, changed_whole)
    assert np.mean(tiled == whole) > 0.999


def test_preview_png_uses_the_legend_colours(scene, tmp_path):
    grid, source, _, model, tile_dir = scene
    tiles, _, _ = _predict_all(grid, source, model, tile_dir)
    paths = mosaic(grid=grid, tiles=tiles, tile_dir=tile_dir, out_dir=tmp_path / "map", colours=COLOURS)
    # when a 256 px preview is drawn from the COG's own colour table
    size = preview_png(paths["classes"], tmp_path / "p.png", max_size=256)
    img = np.asarray(Image.open(tmp_path / "p.png"))
    # then it keeps the aspect ratio, shows class 1 in its colour on the left and 3 on the right
    assert size == (256, 163)
    assert img.shape == (163, 256, 4)
    assert tuple(img[150, 5]) == (27, 158, 119, 255)
    assert tuple(img[150, 250]) == (117, 112, 179, 255)


def test_missing_tiles_and_bad_colours_are_refused(scene, tmp_path):
    grid, _, _, _, tile_dir = scene
    tiles = list(tiles_for_area(grid, tile_size=512))
    with pytest.raises(MosaicError, match="has no classes file"):
        mosaic(grid=grid, tiles=tiles, tile_dir=tile_dir, out_dir=tmp_path / "map")
    assert not any(p.name.endswith(".tmp.tif") for p in (tmp_path / "map").iterdir())
    with pytest.raises(MosaicError, match="#rrggbb"):
        colour_table({1: "#12345"})
    with pytest.raises(MosaicError, match="uint16"):
        colour_table({70000: "#123456"})
    with pytest.raises(MosaicError, match="at least 2"):
        sieve_raster(tmp_path / "a.tif", tmp_path / "b.tif", min_pixels=1)


def test_threads_are_capped_during_prediction(scene):
    from threadpoolctl import threadpool_info

    grid, source, _, model, tile_dir = scene
    tile = next(iter(tiles_for_area(grid, tile_size=256)))
    seen = {}

    class Spy:
        def read(self, window):
            seen["threads"] = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
            return source.read(window)

    predict_tile(model=model, source=Spy(), grid=grid, tile=tile, out_dir=tile_dir, threads=1)
    assert seen["threads"] and set(seen["threads"].values()) == {1}
    assert model.n_jobs is None  # restored after the tile
    assert os.listdir(tile_dir / "classes") == [f"{tile.key}.tif"]
