"""Benchmark: sample 10,000 points on a 10-band 10,000 × 10,000 raster stack (SYNTHETIC, 10 m, 100 km).

    .venv/bin/python bench/sample_points.py [--size 10000] [--points 10000]

The stack is generated once with the demo landscape generator (one Sentinel-2-like date, 10 bands,
tiled DEFLATE COG) under var/bench/ and reused; the figure is the sampling time only.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classification.landscape.generator import LandscapeSpec, landscape_generate, region_from_geojson  # noqa: E402
from classification.rasters.grid import LayerSource  # noqa: E402
from classification.rasters.points import raster_sample_points  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    out = ROOT / "var" / "bench" / f"stack-{args.size}"
    path = out / "s2_20270615.tif"
    spec = LandscapeSpec(
        xmin=640_000, ymax=6_260_000, width=args.size, height=args.size, resolution=10, seed=1,
        dates=("2027-06-15",), products=("s2",),
    )  # fmt: skip
    if not path.exists():
        t = time.perf_counter()
        region = region_from_geojson(args.data / "boundaries" / "region-occitanie.geojson")
        landscape_generate(spec, region=region, out_dir=out)
        print(f"generated {path} in {time.perf_counter() - t:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
    rng = np.random.default_rng(0)
    xmin, ymin, xmax, ymax = spec.bounds
    xs = rng.uniform(xmin, xmax, args.points)
    ys = rng.uniform(ymin, ymax, args.points)
    for run in range(3):
        t = time.perf_counter()
        result = raster_sample_points(LayerSource(str(path)), xs, ys)
        elapsed = time.perf_counter() - t
        print(
            f"run {run + 1}: {args.points} points × {result.values.shape[1]} bands on {args.size}² in {elapsed:.2f} s, "
            f"{result.reads} block reads, {result.counts()}"
        )


if __name__ == "__main__":
    main()
