"""Assemble tiles into Cloud-Optimised GeoTIFFs, sieve to a minimum mapping unit, draw a PNG preview.

Everything works window by window (one tile or one block at a time), so memory does not grow with the
area. Class overviews use the mode (a class map must not invent classes by averaging), confidence
overviews the average.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray
from PIL import Image
from rasterio import features as rio_features
from rasterio import windows
from rasterio.enums import Resampling

from classification.mapping.grid import Grid, Tile
from classification.mapping.predict import CLASS_NODATA, CONFIDENCE_NODATA, tile_paths

Colour = tuple[int, int, int] | tuple[int, int, int, int] | str

_WORK_PROFILE = {
    "driver": "GTiff",
    "compress": "deflate",
    "tiled": True,
    "blockxsize": 512,
    "blockysize": 512,
    "bigtiff": "if_safer",
}


class MosaicError(ValueError):
    """Missing tiles, or an invalid sieve size or colour."""


def colour_table(colours: Mapping[int, Colour]) -> dict[int, tuple[int, int, int, int]]:
    """Legend colours ("#rrggbb" or RGB(A) tuples) by uint16 class value → a GDAL colour table."""
    table: dict[int, tuple[int, int, int, int]] = {}
    for value, colour in colours.items():
        if not 0 <= int(value) <= 65535:
            raise MosaicError(f"class value {value} is outside uint16")
        if isinstance(colour, str):
            text = colour.lstrip("#")
            if len(text) != 6:
                raise MosaicError(f"colour {colour!r} is not #rrggbb")
            try:
                rgb = tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))
            except ValueError as exc:
                raise MosaicError(f"colour {colour!r} is not #rrggbb") from exc
            table[int(value)] = (rgb[0], rgb[1], rgb[2], 255)
        else:
            rgba = tuple(int(c) for c in colour) + ((255,) if len(colour) == 3 else ())
            if len(rgba) != 4 or not all(0 <= c <= 255 for c in rgba):
                raise MosaicError(f"colour {colour!r} is not an RGB(A) tuple of 0–255")
            table[int(value)] = (rgba[0], rgba[1], rgba[2], rgba[3])
    table.setdefault(CLASS_NODATA, (0, 0, 0, 0))
    return table


def _tmp_next_to(path: Path) -> Path:
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.tif")


def _union_window(tiles: list[Tile]) -> windows.Window:
    return windows.union(*[t.window for t in tiles]) if len(tiles) > 1 else tiles[0].window


def assemble(
    *, grid: Grid, tiles: Iterable[Tile], tile_dir: str | os.PathLike[str], kind: str, out_path: Path
) -> windows.Window:
    """Copy every tile file of `kind` ("classes" or "confidence") into one tiled GTiff over the tiles' extent."""
    tile_list = list(tiles)
    if not tile_list:
        raise MosaicError("no tiles to assemble")
    area = _union_window(tile_list)
    dtype, nodata = ("uint16", CLASS_NODATA) if kind == "classes" else ("uint8", CONFIDENCE_NODATA)
    index = 0 if kind == "classes" else 1
    profile = {
        **_WORK_PROFILE,
        "width": int(area.width),
        "height": int(area.height),
        "count": 1,
        "dtype": dtype,
        "nodata": nodata,
        "crs": grid.crs,
        "transform": windows.transform(area, grid.transform),
    }
    with rasterio.open(out_path, "w", **profile) as dst:
        for tile in tile_list:
            path = tile_paths(tile_dir, tile)[index]
            if not path.is_file():
                raise MosaicError(f"tile {tile.key} has no {kind} file")
            with rasterio.open(path) as src:
                data = src.read(1)
            target = windows.Window(
                tile.window.col_off - area.col_off,
                tile.window.row_off - area.row_off,
                tile.window.width,
                tile.window.height,
            )
            dst.write(data, 1, window=target)
    return area


def sieve_raster(src_path: Path, dst_path: Path, *, min_pixels: int, connectivity: int = 4, block: int = 1024) -> None:
    """Replace patches smaller than `min_pixels` by their largest neighbour, block by block.

    Each block is read with a halo of `min_pixels` so that any patch smaller than the unit that touches
    the block lies wholly inside what is read; so a patch is removed exactly when a whole-raster sieve
    would remove it. Nodata pixels are neither sieved nor used as neighbours.
    """
    if min_pixels < 2:
        raise MosaicError("the minimum mapping unit must be at least 2 pixels")
    if connectivity not in (4, 8):
        raise MosaicError("connectivity must be 4 or 8")
    halo = min_pixels
    with rasterio.open(src_path) as src:
        profile = src.profile
        with rasterio.open(dst_path, "w", **profile) as dst:
            for row in range(0, src.height, block):
                for col in range(0, src.width, block):
                    core = windows.Window(col, row, min(block, src.width - col), min(block, src.height - row))
                    r0, c0 = max(0, row - halo), max(0, col - halo)
                    r1 = min(src.height, row + int(core.height) + halo)
                    c1 = min(src.width, col + int(core.width) + halo)
                    data = src.read(1, window=windows.Window(c0, r0, c1 - c0, r1 - r0))
                    mask = data != src.nodata if src.nodata is not None else None
                    sieved = rio_features.sieve(data, size=min_pixels, mask=mask, connectivity=connectivity)
                    sieved = np.where(data == src.nodata, data, sieved) if src.nodata is not None else sieved
                    inner = sieved[row - r0 : row - r0 + int(core.height), col - c0 : col - c0 + int(core.width)]
                    dst.write(inner.astype(profile["dtype"]), 1, window=core)


def to_cog(
    src_path: Path, out_path: Path, *, resampling: str, colours: Mapping[int, tuple[int, int, int, int]] | None = None
) -> None:
    """Write a COG (deflate, 512 px blocks, internal overviews with `resampling`), atomically."""
    if colours is not None:
        with rasterio.open(src_path, "r+") as ds:
            ds.write_colormap(1, colours)
    tmp = _tmp_next_to(out_path)
    try:
        rasterio.shutil.copy(
            src_path,
            tmp,
            driver="COG",
            COMPRESS="DEFLATE",
            BLOCKSIZE="512",
            OVERVIEW_RESAMPLING=resampling.upper(),
            BIGTIFF="IF_SAFER",
        )
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


def mosaic(
    *,
    grid: Grid,
    tiles: Iterable[Tile],
    tile_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    colours: Mapping[int, Colour] | None = None,
    min_mapping_unit_px: int = 0,
    connectivity: int = 4,
) -> dict[str, Path]:
    """Class and confidence COGs (and the class COG before sieving, if sieved) from the tile files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tile_list = list(tiles)
    table = colour_table(colours) if colours is not None else None
    paths: dict[str, Path] = {}
    work = [_tmp_next_to(out / "classes"), _tmp_next_to(out / "sieved"), _tmp_next_to(out / "confidence")]
    try:
        assemble(grid=grid, tiles=tile_list, tile_dir=tile_dir, kind="classes", out_path=work[0])
        if min_mapping_unit_px:
            to_cog(work[0], out / "classes_unsieved.tif", resampling="mode", colours=table)
            paths["classes_unsieved"] = out / "classes_unsieved.tif"
            sieve_raster(work[0], work[1], min_pixels=min_mapping_unit_px, connectivity=connectivity)
            to_cog(work[1], out / "classes.tif", resampling="mode", colours=table)
        else:
            to_cog(work[0], out / "classes.tif", resampling="mode", colours=table)
        paths["classes"] = out / "classes.tif"
        assemble(grid=grid, tiles=tile_list, tile_dir=tile_dir, kind="confidence", out_path=work[2])
        to_cog(work[2], out / "confidence.tif", resampling="average")
        paths["confidence"] = out / "confidence.tif"
    finally:
        for path in work:
            path.unlink(missing_ok=True)
    return paths


def preview_png(
    class_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    colours: Mapping[int, Colour] | None = None,
    max_size: int = 1024,
) -> tuple[int, int]:
    """A PNG of the class map at most `max_size` px on its longer side, read from the overviews (nearest
    of the mode overviews), coloured by the legend (or the file's colour table); nodata is transparent."""
    with rasterio.open(class_path) as ds:
        scale = max(ds.width, ds.height) / max_size
        width = max(1, round(ds.width / scale)) if scale > 1 else ds.width
        height = max(1, round(ds.height / scale)) if scale > 1 else ds.height
        data = ds.read(1, out_shape=(height, width), resampling=Resampling.nearest)
        if colours is not None:
            table = colour_table(colours)
        else:
            try:
                table = {int(k): tuple(v) for k, v in ds.colormap(1).items()}  # type: ignore[misc]
            except ValueError:
                table = {}
        nodata = ds.nodata
    rgba = _paint(data, table, nodata)
    Image.fromarray(rgba, mode="RGBA").save(png_path, format="PNG", optimize=True)
    return width, height


def _paint(data: NDArray, table: Mapping[int, tuple[int, ...]], nodata: float | None) -> NDArray[np.uint8]:
    lut = np.zeros((65536, 4), dtype=np.uint8)
    # Classes without a colour get a grey derived from their value, so they stay visible.
    grey = (np.arange(65536) * 37 % 200 + 30).astype(np.uint8)
    lut[:, 0] = lut[:, 1] = lut[:, 2] = grey
    lut[:, 3] = 255
    for value, colour in table.items():
        lut[int(value)] = (*colour[:3], colour[3] if len(colour) > 3 else 255)
    rgba = lut[data.astype(np.uint16)]
    if nodata is not None:
        rgba[data == nodata] = (0, 0, 0, 0)
    return rgba
