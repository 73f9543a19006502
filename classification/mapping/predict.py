"""Predict one tile: read its features, vote, write a class tile (uint16) and a confidence tile (uint8).

A tile is restartable: its two files are written under temporary names and renamed into place (an atomic
step on one filesystem), confidence first and classes last, and a tile counts as done only when both
files open with the expected size, type and model tag. A crashed worker or a re-run therefore redoes
exactly the tiles that are missing. Memory per tile is bounded by the tile size, never by the area.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio import windows
from threadpoolctl import threadpool_limits

from classification.mapping.grid import Grid, Tile, area_mask
from classification.training.frugality import DEFAULT_WATTS_PER_CORE, Frugality, measure
from classification.training.voting import confidence_percent, is_forest, predict_with_confidence

CLASS_NODATA = 0
CONFIDENCE_NODATA = 255
TILE_PROFILE = {"driver": "GTiff", "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}


class FeatureSource(Protocol):
    """Reads the features of a window of the grid: (n_features, h, w) float32 and a (h, w) valid mask."""

    def read(self, window: windows.Window) -> tuple[NDArray[np.float32], NDArray[np.bool_]]: ...


class RasterStack:
    """Features from rasters on one grid: every band of each path, in order. Opened lazily, once per process.

    A pixel is valid when every band has a finite value that is not its raster's nodata.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], *, grid: Grid | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.grid = grid
        self._datasets: list[Any] | None = None

    def _open(self) -> list[Any]:
        if self._datasets is None:
            datasets = [rasterio.open(p) for p in self.paths]
            if self.grid is not None:
                for ds, path in zip(datasets, self.paths, strict=True):
                    if (ds.width, ds.height) != (self.grid.width, self.grid.height) or not ds.transform.almost_equals(
                        self.grid.transform
                    ):
                        raise ValueError(f"{path} is not on the feature grid")
            self._datasets = datasets
        return self._datasets

    @property
    def count(self) -> int:
        return sum(ds.count for ds in self._open())

    def read(self, window: windows.Window) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        h, w = int(window.height), int(window.width)
        out = np.empty((self.count, h, w), dtype=np.float32)
        valid = np.ones((h, w), dtype=bool)
        i = 0
        for ds in self._open():
            block = ds.read(window=window, out_dtype=np.float32)
            out[i : i + ds.count] = block
            valid &= np.isfinite(block).all(axis=0)
            for b, nodata in enumerate(ds.nodatavals):
                if nodata is not None and not np.isnan(nodata):
                    valid &= block[b] != np.float32(nodata)
            i += ds.count
        return out, valid

    def close(self) -> None:
        for ds in self._datasets or []:
            ds.close()
        self._datasets = None


@dataclass
class TileResult:
    key: str
    skipped: bool
    pixels: int
    valid_pixels: int
    cost: Frugality = field(default_factory=Frugality)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "skipped": self.skipped,
            "pixels": self.pixels,
            "valid_pixels": self.valid_pixels,
            "cost": self.cost.as_dict(),
        }


def tile_paths(out_dir: str | os.PathLike[str], tile: Tile) -> tuple[Path, Path]:
    base = Path(out_dir)
    return base / "classes" / f"{tile.key}.tif", base / "confidence" / f"{tile.key}.tif"


def _valid_tile_file(path: Path, tile: Tile, dtype: str, model_tag: str) -> bool:
    if not path.is_file():
        return False
    try:
        with rasterio.open(path) as ds:
            return (
                (ds.height, ds.width) == tile.shape
                and ds.count == 1
                and ds.dtypes[0] == dtype
                and ds.tags().get("FC_MODEL", "") == model_tag
            )
    except rasterio.errors.RasterioIOError:
        return False


def tile_is_done(out_dir: str | os.PathLike[str], tile: Tile, *, model_tag: str = "") -> bool:
    """Both tile files exist, open, and have the tile's shape, the expected types and the model's tag."""
    classes, confidence = tile_paths(out_dir, tile)
    return _valid_tile_file(confidence, tile, "uint8", model_tag) and _valid_tile_file(
        classes, tile, "uint16", model_tag
    )


def _write_atomic(path: Path, array: NDArray, grid: Grid, tile: Tile, nodata: int, model_tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.tif")
    profile = {
        **TILE_PROFILE,
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype.name,
        "crs": grid.crs,
        "transform": windows.transform(tile.window, grid.transform),
        "nodata": nodata,
    }
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
            dst.update_tags(FC_MODEL=model_tag)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def predict_tile(
    *,
    model: Any,
    source: FeatureSource,
    grid: Grid,
    tile: Tile,
    out_dir: str | os.PathLike[str],
    model_tag: str = "",
    derive: Callable[[NDArray[np.float32]], NDArray[np.float32]] | None = None,
    geometry: Mapping[str, Any] | None = None,
    class_values: Mapping[Any, int] | None = None,
    threads: int = 1,
    chunk: int = 65536,
    watts_per_core: float = DEFAULT_WATTS_PER_CORE,
) -> TileResult:
    """Predict one tile unless it is already done; returns what it did and what it cost.

    `derive` turns the features read with the halo into the model's features (same h, w); `geometry`
    limits the map to an area; `class_values` maps the model's labels to uint16 map values (default:
    the labels themselves). `threads` caps BLAS/OpenMP threads and the forest's joblib threads.
    """
    h, w = tile.shape
    if tile_is_done(out_dir, tile, model_tag=model_tag):
        return TileResult(key=tile.key, skipped=True, pixels=h * w, valid_pixels=-1)
    with measure(watts_per_core=watts_per_core) as cost, threadpool_limits(limits=threads):
        feats, valid = source.read(tile.read_window)
        if derive is not None:
            feats = derive(feats)
        rows, cols = tile.core_slices
        feats, valid = feats[:, rows, cols], valid[rows, cols]
        if geometry is not None:
            valid &= area_mask(tile, grid, geometry)
        classes = np.full((h, w), CLASS_NODATA, dtype=np.uint16)
        confidence = np.full((h, w), CONFIDENCE_NODATA, dtype=np.uint8)
        n_valid = int(valid.sum())
        if n_valid:
            X = feats[:, valid].T  # (n_valid, n_features), only the valid pixels
            previous = getattr(model, "n_jobs", None)
            if is_forest(model):
                model.n_jobs = threads
            try:
                labels, share = predict_with_confidence(model, X, chunk=chunk)
            finally:
                if is_forest(model):
                    model.n_jobs = previous
            if class_values is not None:
                # model.classes_ is sorted (np.unique), so a label's index is its searchsorted position.
                values = np.array([class_values[c] for c in model.classes_.tolist()], dtype=np.uint16)
                labels = values[np.searchsorted(model.classes_, labels)]
            classes[valid] = labels.astype(np.uint16)
            confidence[valid] = confidence_percent(share)
        class_path, conf_path = tile_paths(out_dir, tile)
        _write_atomic(conf_path, confidence, grid, tile, CONFIDENCE_NODATA, model_tag)
        _write_atomic(class_path, classes, grid, tile, CLASS_NODATA, model_tag)
    return TileResult(key=tile.key, skipped=False, pixels=h * w, valid_pixels=n_valid, cost=cost)


def predict_tiles(*, tiles: Sequence[Tile], **kwargs: Any) -> tuple[list[TileResult], Frugality]:
    """Predict tiles one after the other in this process (the Celery path runs one `predict_tile` per task)."""
    results = [predict_tile(tile=tile, **kwargs) for tile in tiles]
    total = Frugality(watts_per_core=kwargs.get("watts_per_core", DEFAULT_WATTS_PER_CORE))
    for result in results:
        total = total.add(result.cost)
    return results, total
