"""Benchmark: a 10,000-point stratified plan over the full Occitanie extent, 100 strata, 200 m apart.

    .venv/bin/python bench/sampling_plan.py [--resolution 25]

Strata raster (built once under var/bench/): the real region boundary, 100 SYNTHETIC strata
(10 patchy "pre-map" classes × 10 west–east zones), 0 outside the region; tiled DEFLATE GeoTIFF.
Timed: counting eligible cells (one pass), proportional allocation with a minimum of 20, drawing and
placing the points with a 200 m minimum distance (second pass) — the numeric core of sampling_plan_create.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classification.landscape.generator import region_from_geojson  # noqa: E402
from classification.sampling import StrataBlock, allocate, strata_count, stratified_random_points  # noqa: E402
from classification.sampling.points import GridSpec  # noqa: E402

XMIN, YMIN, XMAX, YMAX = 450_000, 6_130_000, 850_000, 6_480_000  # Occitanie's extent in Lambert-93


def build(path: Path, resolution: float, data: Path) -> None:
    width, height = int((XMAX - XMIN) / resolution), int((YMAX - YMIN) / resolution)
    transform = Affine(resolution, 0, XMIN, 0, -resolution, YMAX)
    region = region_from_geojson(data / "boundaries" / "region-occitanie.geojson")
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 10, size=(height // 100 + 1, width // 100 + 1))
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "uint8", "crs": "EPSG:2154",
        "transform": transform, "nodata": 0, "tiled": True, "blockxsize": 1024, "blockysize": 1024,
        "compress": "deflate",
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, height, 1024):
            h = min(1024, height - row)
            window = rasterio.windows.Window(0, row, width, h)
            inside = rasterize(
                [(region, 1)], out_shape=(h, width), transform=rasterio.windows.transform(window, transform)
            )
            rows = (np.arange(row, row + h) / 100).astype(int)
            cls = classes[rows][:, np.arange(width) // 100]
            zone = np.minimum(9, np.arange(width) * 10 // width)[None, :]
            dst.write((np.where(inside == 1, 1 + cls * 10 + zone, 0)).astype(np.uint8), 1, window=window)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resolution", type=float, default=25.0)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--min-distance", type=float, default=200.0)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    path = ROOT / "var" / "bench" / f"occitanie-strata-{args.resolution:g}m.tif"
    if not path.exists():
        t = time.perf_counter()
        build(path, args.resolution, args.data)
        print(f"built {path} in {time.perf_counter() - t:.0f} s")

    def source():
        with rasterio.open(path) as dataset:
            for _, window in dataset.block_windows(1):
                yield StrataBlock(
                    int(window.row_off), int(window.col_off), dataset.read(1, window=window).astype(np.int64)
                )

    with rasterio.open(path) as dataset:
        cells = dataset.width * dataset.height
    for run in range(2):
        t0 = time.perf_counter()
        _, eligible = strata_count(source, 100)
        t1 = time.perf_counter()
        result = allocate(args.points, eligible[1:], "proportional", minimum=20)
        wanted = {h + 1: int(n) for h, n in enumerate(result.sizes)}
        points = stratified_random_points(
            source, GridSpec(XMIN, YMAX, args.resolution), wanted, eligible, seed=run, min_distance=args.min_distance
        )
        t2 = time.perf_counter()
        print(
            f"run {run + 1}: {len(points.x)} points, {np.count_nonzero(eligible[1:])} strata, "
            f"{cells / 1e6:.0f} M cells at {args.resolution:g} m, min distance {args.min_distance:g} m: "
            f"count {t1 - t0:.2f} s + allocate/draw/place {t2 - t1:.2f} s = {t2 - t0:.2f} s; "
            f"shortfall {points.shortfall or 'none'}, {points.candidates_drawn} candidates"
        )


if __name__ == "__main__":
    main()
