"""The tiles of a map run: square windows of the feature grid, aligned on multiples of the tile size.

Tiles are aligned on the grid (not on the area), so two runs over overlapping areas share tile keys and
tile files. Each tile has a core window (what it writes) and a read window (the core plus a halo, for
features or filters that need neighbours, clipped to the grid).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from rasterio import features as rio_features
from rasterio import windows

ALLOWED_TILE_SIZES = (256, 512, 1024, 2048)


class GridError(ValueError):
    """An invalid grid, tile size, halo or area."""


@dataclass(frozen=True)
class Grid:
    """A raster grid: affine transform (north-up), size in pixels and CRS (e.g. "EPSG:2154")."""

    transform: Affine
    width: int
    height: int
    crs: str

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise GridError("the grid must have a positive size")
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.e >= 0:
            raise GridError("only north-up grids without rotation are supported")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return windows.bounds(windows.Window(0, 0, self.width, self.height), self.transform)

    def as_dict(self) -> dict[str, Any]:
        return {"transform": list(self.transform)[:6], "width": self.width, "height": self.height, "crs": self.crs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grid:
        return cls(Affine(*data["transform"]), int(data["width"]), int(data["height"]), str(data["crs"]))


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    window: windows.Window  # the core, in grid pixels
    read_window: windows.Window  # the core plus the halo, clipped to the grid

    @property
    def key(self) -> str:
        return f"r{self.row:05d}_c{self.col:05d}"

    @property
    def core_slices(self) -> tuple[slice, slice]:
        """Where the core sits inside an array read from `read_window`."""
        r0 = int(self.window.row_off - self.read_window.row_off)
        c0 = int(self.window.col_off - self.read_window.col_off)
        return slice(r0, r0 + int(self.window.height)), slice(c0, c0 + int(self.window.width))

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.window.height), int(self.window.width)


def _clip(win: windows.Window, grid: Grid) -> windows.Window:
    return win.intersection(windows.Window(0, 0, grid.width, grid.height))


def area_window(grid: Grid, bounds: tuple[float, float, float, float] | None) -> windows.Window:
    """The grid window covering `bounds` (minx, miny, maxx, maxy), rounded outward; the whole grid if None."""
    if bounds is None:
        return windows.Window(0, 0, grid.width, grid.height)
    minx, miny, maxx, maxy = bounds
    if not (minx < maxx and miny < maxy):
        raise GridError("the area bounds are empty")
    win = windows.from_bounds(minx, miny, maxx, maxy, transform=grid.transform)
    win = win.round_offsets(op="floor").round_lengths(op="ceil")
    try:
        return _clip(win, grid)
    except windows.WindowError as exc:
        raise GridError("the area does not overlap the grid") from exc


def tile_for(grid: Grid, row: int, col: int, *, tile_size: int, halo: int = 0) -> Tile:
    """The tile at (row, col) of the grid's tiling."""
    core = _clip(windows.Window(col * tile_size, row * tile_size, tile_size, tile_size), grid)
    read = _clip(
        windows.Window(core.col_off - halo, core.row_off - halo, core.width + 2 * halo, core.height + 2 * halo), grid
    )
    return Tile(row=row, col=col, window=core, read_window=read)


def tiles_for_area(
    grid: Grid,
    *,
    tile_size: int = 512,
    halo: int = 0,
    bounds: tuple[float, float, float, float] | None = None,
    geometry: Mapping[str, Any] | None = None,
) -> Iterator[Tile]:
    """Tiles covering the area: the grid, or `bounds`, or a GeoJSON-like `geometry` in the grid's CRS.

    With a geometry, only tiles it touches are listed (rasterised on the coarse grid of tiles).
    """
    if tile_size not in ALLOWED_TILE_SIZES:
        raise GridError(f"tile_size must be one of {ALLOWED_TILE_SIZES}")
    if halo < 0 or halo >= tile_size:
        raise GridError("halo must be between 0 and the tile size")
    if geometry is not None and bounds is None:
        bounds = _geometry_bounds(geometry)
    win = area_window(grid, bounds)
    r0, c0 = int(win.row_off) // tile_size, int(win.col_off) // tile_size
    r1 = (int(win.row_off + win.height) - 1) // tile_size
    c1 = (int(win.col_off + win.width) - 1) // tile_size
    touched = None
    if geometry is not None:
        n_rows = (grid.height + tile_size - 1) // tile_size
        n_cols = (grid.width + tile_size - 1) // tile_size
        coarse = grid.transform @ Affine.scale(tile_size)
        touched = rio_features.rasterize(
            [(geometry, 1)], out_shape=(n_rows, n_cols), transform=coarse, all_touched=True, dtype="uint8"
        ).astype(bool)
    for row in range(r0, r1 + 1):
        for col in range(c0, c1 + 1):
            if touched is None or touched[row, col]:
                yield tile_for(grid, row, col, tile_size=tile_size, halo=halo)


def _geometry_bounds(geometry: Mapping[str, Any]) -> tuple[float, float, float, float]:
    coords = np.asarray(list(_flatten_coords(geometry["coordinates"])), dtype=np.float64)
    if coords.size == 0:
        raise GridError("the area geometry is empty")
    return float(coords[:, 0].min()), float(coords[:, 1].min()), float(coords[:, 0].max()), float(coords[:, 1].max())


def _flatten_coords(coords: Any) -> Iterator[tuple[float, float]]:
    if len(coords) and isinstance(coords[0], int | float):
        yield (float(coords[0]), float(coords[1]))
        return
    for part in coords:
        yield from _flatten_coords(part)


def area_mask(tile: Tile, grid: Grid, geometry: Mapping[str, Any]) -> np.ndarray:
    """Boolean (h, w) mask of the tile's core pixels whose centre lies inside the geometry."""
    transform = windows.transform(tile.window, grid.transform)
    return rio_features.geometry_mask([geometry], out_shape=tile.shape, transform=transform, invert=True)
