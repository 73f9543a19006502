"""Sample rasters at many points: points grouped by block, each block read once.

Every point gets a status: OK, NODATA (a band is nodata there) or OFF_RASTER (outside the file), so a
caller never mistakes a missing value for a real one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window

from .catalogue import LAMBERT93
from .features import FeatureReader
from .grid import LayerSource

OK, NODATA, OFF_RASTER = 0, 1, 2
STATUS_NAMES = {OK: "ok", NODATA: "nodata", OFF_RASTER: "off_raster"}


@dataclass
class PointSample:
    values: np.ndarray  # (n_points, n_bands) float64, NaN where not OK
    status: np.ndarray  # (n_points,) uint8: OK, NODATA, OFF_RASTER
    reads: int  # windows read from the file(s)

    def counts(self) -> dict[str, int]:
        return {name: int(np.count_nonzero(self.status == code)) for code, name in STATUS_NAMES.items()}


def _group_by_block(rows: np.ndarray, cols: np.ndarray, inside: np.ndarray, block: int) -> list[np.ndarray]:
    """Indices of the inside points, one array per block, blocks in row-major order."""
    index = np.flatnonzero(inside)
    if index.size == 0:
        return []
    keys = (rows[index] // block) * (1 << 32) + cols[index] // block
    order = np.argsort(keys, kind="stable")
    index, keys = index[order], keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.split(index, starts[1:])


def raster_sample_points(
    source: LayerSource, xs: np.ndarray, ys: np.ndarray, *, bands: list[int] | None = None, block: int | None = None
) -> PointSample:
    """Values of ``bands`` (default all) at points given in EPSG:2154, nearest cell, one read per block.

    A layer registered with a reprojection is sampled by projecting the points into its CRS (nearest cell).
    ``block`` defaults to the file's internal tile size, so no tile is decompressed twice.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    with rasterio.open(source.uri) as dataset:
        bands = bands or list(range(1, dataset.count + 1))
        if source.source_epsg != LAMBERT93:
            px, py = warp_transform(f"EPSG:{LAMBERT93}", f"EPSG:{source.source_epsg}", xs, ys)
            px, py = np.asarray(px), np.asarray(py)
        else:
            px, py = xs, ys
        inverse = ~dataset.transform
        fcols, frows = inverse @ (px, py)
        rows = np.floor(np.asarray(frows)).astype(np.int64)
        cols = np.floor(np.asarray(fcols)).astype(np.int64)
        inside = (rows >= 0) & (rows < dataset.height) & (cols >= 0) & (cols < dataset.width)
        block = block or max(dataset.block_shapes[0])
        values = np.full((xs.size, len(bands)), np.nan)
        status = np.where(inside, OK, OFF_RASTER).astype(np.uint8)
        nodata = source.nodata if source.nodata is not None else dataset.nodata
        reads = 0
        for group in _group_by_block(rows, cols, inside, block):
            r, c = rows[group], cols[group]
            # The bounding window of the block's points: one read, never more than one tile.
            window = Window(int(c.min()), int(r.min()), int(c.max() - c.min() + 1), int(r.max() - r.min() + 1))
            data = dataset.read(bands, window=window, masked=True)
            reads += 1
            picked = data[:, r - int(window.row_off), c - int(window.col_off)]
            mask = np.ma.getmaskarray(picked)
            got = np.ma.filled(picked.astype(np.float64), np.nan)
            if nodata is not None and not np.isnan(nodata):
                mask |= got == nodata
            got[mask] = np.nan
            values[group] = got.T
            status[group[mask.any(axis=0)]] = NODATA
    return PointSample(values=values, status=status, reads=reads)


def features_sample_points(reader: FeatureReader, xs: np.ndarray, ys: np.ndarray, *, block: int = 256) -> PointSample:
    """Feature vectors at points (EPSG:2154): points grouped by grid block, each block's bounding window read once.

    ``reader`` is an open FeatureReader; the result's ``reads`` counts windows (each reads every input once).
    """
    grid = reader.grid
    rows, cols = grid.rowcol(xs, ys)
    inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
    values = np.full((np.size(xs), len(reader.specs)), np.nan)
    status = np.where(inside, OK, OFF_RASTER).astype(np.uint8)
    reads = 0
    for group in _group_by_block(rows, cols, inside, block):
        r, c = rows[group], cols[group]
        window = Window(int(c.min()), int(r.min()), int(c.max() - c.min() + 1), int(r.max() - r.min() + 1))
        data = reader.read(window)
        reads += 1
        got = data[:, r - int(window.row_off), c - int(window.col_off)].astype(np.float64)
        values[group] = got.T
        status[group[np.isnan(got).any(axis=0)]] = NODATA
    return PointSample(values=values, status=status, reads=reads)
