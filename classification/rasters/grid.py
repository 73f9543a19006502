"""The common EPSG:2154 grid every feature is read on, and reading a layer's window on it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from .catalogue import LAMBERT93


@dataclass(frozen=True)
class Grid:
    """A north-up grid in EPSG:2154 whose origin is a multiple of the resolution (so grids nest)."""

    xmin: float
    ymax: float
    resolution: float
    width: int
    height: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], resolution: float = 10.0) -> Grid:
        """The smallest grid snapped to multiples of ``resolution`` that covers ``bounds``."""
        xmin = math.floor(bounds[0] / resolution) * resolution
        ymin = math.floor(bounds[1] / resolution) * resolution
        xmax = math.ceil(bounds[2] / resolution) * resolution
        ymax = math.ceil(bounds[3] / resolution) * resolution
        return cls(
            xmin, ymax, resolution, max(1, round((xmax - xmin) / resolution)), max(1, round((ymax - ymin) / resolution))
        )

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.xmin, 0.0, -self.resolution, self.ymax)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (
            self.xmin,
            self.ymax - self.height * self.resolution,
            self.xmin + self.width * self.resolution,
            self.ymax,
        )

    @property
    def cell_area(self) -> float:
        return self.resolution * self.resolution

    def blocks(self, size: int = 512) -> Iterator[Window]:
        """Windows of at most ``size`` × ``size`` cells covering the grid, row-major."""
        for row in range(0, self.height, size):
            for col in range(0, self.width, size):
                yield Window(col, row, min(size, self.width - col), min(size, self.height - row))

    def rowcol(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each point (may be outside the grid)."""
        cols = np.floor((np.asarray(xs, dtype=np.float64) - self.xmin) / self.resolution).astype(np.int64)
        rows = np.floor((self.ymax - np.asarray(ys, dtype=np.float64)) / self.resolution).astype(np.int64)
        return rows, cols

    def cell_centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.xmin + (cols + 0.5) * self.resolution, self.ymax - (rows + 0.5) * self.resolution


def _whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-6


@dataclass(frozen=True)
class LayerSource:
    """Where and how to read one catalogue layer (the numeric core's view of a RasterLayer)."""

    uri: str
    source_epsg: int = LAMBERT93
    resampling: str = ""
    nodata: float | None = None


class GridReader:
    """Read windows of one layer on a grid, reprojecting or resampling through a WarpedVRT only if needed.

    Use as a context manager; the file is opened once for all windows.
    """

    def __init__(self, source: LayerSource, grid: Grid, resampling: str = "bilinear") -> None:
        self.source = source
        self.grid = grid
        self.resampling = Resampling[source.resampling or resampling]
        self._dataset: rasterio.DatasetReader | None = None
        self._vrt: WarpedVRT | None = None
        self._offset: tuple[int, int] | None = None
        self.reads = 0

    def __enter__(self) -> GridReader:
        dataset = rasterio.open(self.source.uri)
        self._dataset = dataset
        t = dataset.transform
        aligned = (
            self.source.source_epsg == LAMBERT93
            and math.isclose(t.a, self.grid.resolution)
            and math.isclose(-t.e, self.grid.resolution)
            and _whole((t.c - self.grid.xmin) / self.grid.resolution)
            and _whole((self.grid.ymax - t.f) / self.grid.resolution)
        )
        if aligned:
            # Same grid up to an offset: plain windowed reads, no resampling at all.
            self._offset = (
                round((self.grid.ymax - t.f) / self.grid.resolution),
                round((t.c - self.grid.xmin) / self.grid.resolution),
            )
        else:
            self._vrt = WarpedVRT(
                dataset,
                crs=f"EPSG:{LAMBERT93}",
                transform=self.grid.transform,
                width=self.grid.width,
                height=self.grid.height,
                resampling=self.resampling,
                src_nodata=self.nodata,
                nodata=self.nodata,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._vrt is not None:
            self._vrt.close()
        if self._dataset is not None:
            self._dataset.close()

    @property
    def nodata(self) -> float | None:
        if self.source.nodata is not None:
            return self.source.nodata
        return self._dataset.nodata if self._dataset is not None else None

    @property
    def count(self) -> int:
        assert self._dataset is not None
        return self._dataset.count

    def read(self, bands: list[int], window: Window) -> np.ndarray:
        """Bands (1-based) of a grid window as float32; nodata and cells off the layer or grid are NaN."""
        self.reads += 1
        height, width = int(window.height), int(window.width)
        out = np.full((len(bands), height, width), np.nan, dtype=np.float32)
        # Clip to the grid: a window may overhang it (e.g. the margin slope needs at the edges).
        row0, col0 = max(0, int(window.row_off)), max(0, int(window.col_off))
        row1 = min(self.grid.height, int(window.row_off) + height)
        col1 = min(self.grid.width, int(window.col_off) + width)
        if row1 <= row0 or col1 <= col0:
            return out
        if self._vrt is not None:
            inner = Window(col0, row0, col1 - col0, row1 - row0)
            data = self._vrt.read(bands, window=inner, masked=True)
        else:
            assert self._dataset is not None and self._offset is not None
            row_off, col_off = self._offset
            inner = Window(col0 - col_off, row0 - row_off, col1 - col0, row1 - row0)
            data = self._dataset.read(bands, window=inner, boundless=True, masked=True)
        values = np.ma.filled(data.astype(np.float32), np.nan)
        nodata = self.source.nodata
        if nodata is not None and not math.isnan(nodata):
            values[values == np.float32(nodata)] = np.nan
        top, left = row0 - int(window.row_off), col0 - int(window.col_off)
        out[:, top : top + values.shape[1], left : left + values.shape[2]] = values
        return out
