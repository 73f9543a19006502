"""Reading finished class maps: class pixel counts and the map value at points, block by block.

Both read a map one internal block at a time, so memory does not grow with the map's size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio import windows

from classification.mapping.predict import CLASS_NODATA


def class_pixel_counts(path: str | os.PathLike[str]) -> dict[int, int]:
    """Pixels of each class value in a uint16 class map (nodata left out), read block by block."""
    counts = np.zeros(65536, dtype=np.int64)
    with rasterio.open(path) as ds:
        nodata = CLASS_NODATA if ds.nodata is None else int(ds.nodata)
        for _, window in ds.block_windows(1):
            counts += np.bincount(ds.read(1, window=window).ravel(), minlength=65536)
    counts[nodata] = 0
    return {int(v): int(counts[v]) for v in np.flatnonzero(counts)}


def values_at(
    path: str | os.PathLike[str], xs: Sequence[float] | NDArray, ys: Sequence[float] | NDArray
) -> NDArray[np.int64]:
    """The map value at each point (x, y in the map's CRS); the map's nodata where a point is off the map.

    Points are grouped by the map's internal block, so each block holding points is read once.
    """
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    with rasterio.open(path) as ds:
        nodata = CLASS_NODATA if ds.nodata is None else int(ds.nodata)
        out = np.full(x.shape, nodata, dtype=np.int64)
        if not x.size:
            return out
        inverse = ~ds.transform
        cols_f, rows_f = inverse @ (x, y)
        rows, cols = np.floor(rows_f).astype(np.int64), np.floor(cols_f).astype(np.int64)
        inside = (rows >= 0) & (rows < ds.height) & (cols >= 0) & (cols < ds.width)
        bh, bw = ds.block_shapes[0]
        block = np.where(inside, (rows // bh) * ((ds.width + bw - 1) // bw) + cols // bw, -1)
        for key in np.unique(block[inside]):
            members = np.flatnonzero(block == key)
            r0, c0 = int(rows[members[0]] // bh) * bh, int(cols[members[0]] // bw) * bw
            win = windows.Window(c0, r0, min(bw, ds.width - c0), min(bh, ds.height - r0))
            data = ds.read(1, window=win)
            out[members] = data[rows[members] - r0, cols[members] - c0]
    return out
