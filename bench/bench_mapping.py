"""Map production throughput per core: read alone, predict alone (in-memory), whole per-tile pipeline.

A 10-band float32 feature stack of 2048 × 2048 px (tiled GeoTIFFs in a temporary directory), a random
forest of 100 trees with 30 classes, one thread (so the figures are per core). Also the peak RSS of one
tile at 512 and 1024 px, and the time for the 10 m region (7.2 × 10⁸ px) with 2, 16 and 64 workers.

Run: .venv/bin/python bench/bench_mapping.py   (figures go in BENCHMARKS.md)
"""

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from sklearn.ensemble import RandomForestClassifier

from classification.mapping.grid import Grid, tiles_for_area
from classification.mapping.predict import RasterStack, predict_tile
from classification.training.frugality import measure
from classification.training.voting import hard_vote

SIZE = int(os.environ.get("BENCH_SIZE", "2048"))
BANDS = 10
CLASSES = 30
REGION_PX = 7.2e8


def make_stack(tmp: Path, grid: Grid, centres: np.ndarray) -> list[Path]:
    rng = np.random.default_rng(0)
    # A class field of 64 px patches; features = class centre + noise, band by band, written block by block.
    patch = rng.integers(0, CLASSES, size=(SIZE // 64 + 1, SIZE // 64 + 1))
    paths = []
    for b in range(BANDS):
        path = tmp / f"b{b}.tif"
        with rasterio.open(
            path, "w", driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="float32", crs=grid.crs,
            transform=grid.transform, tiled=True, blockxsize=512, blockysize=512, compress="deflate", nodata=-9999,
        ) as dst:  # fmt: skip
            for row in range(0, SIZE, 512):
                rows = np.arange(row, row + 512) // 64
                cls = patch[rows][:, np.arange(SIZE) // 64]
                block = centres[cls, b] + rng.normal(0, 1.0, cls.shape)
                dst.write(block.astype(np.float32), 1, window=rasterio.windows.Window(0, row, SIZE, 512))
        paths.append(path)
    return paths


def main() -> None:
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2.0, size=(CLASSES, BANDS))
    y = np.repeat(np.arange(CLASSES), 10_000 // CLASSES)
    X = (centres[y] + rng.normal(0, 1.0, (y.size, BANDS))).astype(np.float32)
    model = RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0).fit(X, y + 1)
    grid = Grid(Affine(10.0, 0, 600_000.0, 0, -10.0, 6_300_000.0), SIZE, SIZE, "EPSG:2154")
    tmp = Path(tempfile.mkdtemp(prefix="bench-mapping-"))
    try:
        paths = make_stack(tmp, grid, centres)
        tiles = list(tiles_for_area(grid, tile_size=512))
        n_px = SIZE * SIZE

        stack = RasterStack(paths, grid=grid)
        with measure() as read_cost:
            arrays = [stack.read(t.window) for t in tiles]
        read_rate = n_px / read_cost.cpu_seconds

        flat = [a[0][:, a[1]].T for a in arrays[:4]]
        del arrays
        hard_vote(model, flat[0][:100])
        with measure() as predict_cost:
            for block in flat:
                hard_vote(model, block)
        predict_rate = sum(b.shape[0] for b in flat) / predict_cost.cpu_seconds

        with measure() as pipe_cost:
            for t in tiles:
                predict_tile(model=model, source=stack, grid=grid, tile=t, out_dir=tmp / "tiles", threads=1)
        pipe_rate = n_px / pipe_cost.cpu_seconds
        limit = min(read_rate, predict_rate)
        print(f"read alone      {read_rate:12,.0f} px/s/core")
        print(
            f"predict alone   {predict_rate:12,.0f} px/s/core (hard vote, 100 trees, {CLASSES} classes, {BANDS} bands)"
        )
        print(f"whole pipeline  {pipe_rate:12,.0f} px/s/core (read + predict + write two tiles) = "
              f"{100 * pipe_rate / limit:.0f} % of the slower limit")  # fmt: skip
        for workers in (2, 16, 64):
            hours = REGION_PX / (pipe_rate * workers) / 3600
            print(f"region at 10 m (7.2e8 px) with {workers:2d} single-thread workers: {hours:6.2f} h")
        print(f"energy for the region: {REGION_PX / pipe_rate * 10.0 / 3.6e6:.2f} kWh at 10 W/core")

        for size in (512, 1024):
            tile = next(iter(tiles_for_area(grid, tile_size=size)))
            shutil.rmtree(tmp / "tiles", ignore_errors=True)
            result = predict_tile(model=model, source=stack, grid=grid, tile=tile, out_dir=tmp / "tiles", threads=1)
            print(f"tile {size:4d} px: peak RSS {result.cost.peak_rss_bytes / 2**20:6.0f} MiB, "
                  f"+{(result.cost.peak_rss_bytes - result.cost.rss_start_bytes) / 2**20:5.0f} MiB over the start "
                  f"({result.cost.peak_rss_scope}), {result.cost.wall_seconds:.2f} s")  # fmt: skip
        stack.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
