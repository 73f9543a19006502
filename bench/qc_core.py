"""Benchmark of the QC core: 10,000 synthetic relevés through every rule, without and with a DEM.

Synthetic data (labelled as such): relevés scattered over Occitanie's bounding box in Lambert-93, 30
species each drawn from the real EUNIS-ESy characteristic species lists (so the composition rule scores
against the real 14,462-row index), 2 habitats, 4 photos. The DEM is a synthetic tiled GeoTIFF.

    .venv/bin/python bench/qc_core.py [--releves 10000]
    DATABASE_URL=postgis://postgres@127.0.0.1:5432/fc_bench_qc .venv/bin/python bench/qc_core.py --database

With ``--database`` it then loads SYNTHETIC relevés into that database (``bench/synthetic_releves.py``) and
times the first QC pass of the campaign (every relevé moves out of "submitted") and a re-run.
"""

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
django.setup()

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.gis.geos import MultiPolygon  # noqa: E402
from rasterio.transform import Affine  # noqa: E402

from fieldcollect.services.campaigns import boundary_from_geojson  # noqa: E402
from fieldcollect.services.qc import (  # noqa: E402
    OCCITANIE_ALTITUDE_RANGES,
    CampaignInfo,
    CharacteristicIndex,
    HabitatEntry,
    HabitatUnitInfo,
    LayerCover,
    LegendRequirement,
    PhotoEntry,
    QCContext,
    ReleveSnapshot,
    SpeciesEntry,
    qc_evaluate,
)
from fieldcollect.services.qc.dem import BlockPointSampler  # noqa: E402

X0, Y0, X1, Y1 = 450_000, 6_130_000, 850_000, 6_420_000  # Occitanie's extent in Lambert-93 (approx.)


def load_index() -> tuple[CharacteristicIndex, dict[str, list[str]]]:
    path = Path(settings.SHARED_DATA_DIR) / "eunis" / "eunis_esy_characteristic_species_2021-06-01.csv"
    rows, by_habitat = [], {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = row["species"].lower()
            rows.append((row["habitat_code"], None, name, row["species_type"].lower(), float(row["value"] or 0)))
            by_habitat.setdefault(row["habitat_code"], []).append(name)
    return CharacteristicIndex(rows), by_habitat


def region() -> MultiPolygon:
    return boundary_from_geojson(Path(settings.SHARED_DATA_DIR) / "boundaries" / "region-occitanie.geojson")


def make_releves(n: int, by_habitat: dict[str, list[str]], rng: random.Random) -> list[ReleveSnapshot]:
    codes = sorted(c for c in by_habitat if c[0] in "NRSTQUV")
    start = datetime(2027, 4, 1, 7, tzinfo=UTC)
    releves = []
    for i in range(n):
        code = rng.choice(codes)
        pool = by_habitat[code]
        names = [rng.choice(pool) for _ in range(30)]
        x, y = rng.uniform(X0, X1), rng.uniform(Y0, Y1)
        when = start + timedelta(days=i // 60, minutes=(i % 60) * 7)
        unit = HabitatUnitInfo(cd_hab=10_000 + i % 500, typology=107, code=code, level=3)
        releves.append(
            ReleveSnapshot(
                key=i,
                observer_id=i % 30,
                observed_at=when,
                location=(x, y),
                gnss_accuracy_m=rng.choice([2.0, 4.0, 8.0, 15.0]),
                plot_area_m2=100.0,
                altitude_m=rng.uniform(0, 2500),
                layers={"herb": LayerCover(70.0), "shrub": LayerCover(20.0)},
                habitats=(
                    HabitatEntry(f"cd_hab:{unit.cd_hab}", unit, 80.0, map_class=code[:2], eunis_codes=(code,)),
                    HabitatEntry(f"cd_hab:{unit.cd_hab + 1}", unit, 20.0, rank=2, map_class=None, eunis_codes=(code,)),
                ),
                species=tuple(
                    SpeciesEntry(
                        name_cited=name,
                        cd_nom=rng.randrange(1, 30_000),
                        cd_ref=None,
                        name_normalized=name,
                        layer=rng.choice(["herb", "herb", "shrub"]),
                        braun_blanquet=rng.choice(["r", "+", "1", "2a", "2b", "3"]),
                    )
                    for name in names
                ),
                photos=tuple(
                    PhotoEntry(uuid=f"{i}-{k}", sha256=f"{rng.getrandbits(256):064x}", exif_time=when, exif_xy=(x, y))
                    for k in range(4)
                ),
                sample_point=(x + rng.uniform(-40, 40), y + rng.uniform(-40, 40)),
            )
        )
    return releves


def write_dem(path: Path) -> None:
    res = 25.0
    width, height = int((X1 - X0) / res), int((Y1 - Y0) / res)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:2154",
        "transform": Affine(res, 0, X0, 0, -res, Y1),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "nodata": -9999,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for _, window in dst.block_windows(1):
            rows = np.arange(window.row_off, window.row_off + window.height, dtype="float32")[:, None]
            dst.write(np.broadcast_to(rows * 0.1, (window.height, window.width)).astype("float32"), 1, window=window)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releves", type=int, default=10_000)
    parser.add_argument(
        "--database",
        action="store_true",
        help="then the first QC pass and a re-run from the database (DATABASE_URL must name a fc_bench_… database)",
    )
    args = parser.parse_args()
    rng = random.Random(2027)
    t = time.perf_counter()
    index, by_habitat = load_index()
    campaign = CampaignInfo(key="bench", region=region(), starts_on=date(2027, 4, 1), ends_on=date(2027, 9, 30))
    releves = make_releves(args.releves, by_habitat, rng)
    print(f"setup (synthetic relevés, real EUNIS-ESy index, Occitanie boundary): {time.perf_counter() - t:.1f} s")

    def context(**extra) -> QCContext:
        return QCContext(
            campaign=campaign,
            now=datetime(2027, 10, 1, tzinfo=UTC),
            legend=LegendRequirement(name="bench", min_level={107: 3}),
            characteristic=index,
            altitude_ranges=OCCITANIE_ALTITUDE_RANGES,
            **extra,
        )

    t = time.perf_counter()
    report = qc_evaluate(snapshots=releves, context=context(), rasters=False)
    elapsed = time.perf_counter() - t
    print(
        f"core QC, non-raster rules ({len(report.rules)} rules): {len(releves)} relevés in {elapsed:.2f} s "
        f"({len(releves) / elapsed:,.0f} relevés/s), {len(report.findings)} findings"
    )
    with tempfile.TemporaryDirectory() as tmp:
        dem = Path(tmp) / "dem.tif"
        write_dem(dem)
        sampler = BlockPointSampler(str(dem))
        t = time.perf_counter()
        report = qc_evaluate(snapshots=releves, context=context(dem=sampler), rasters=True)
        elapsed = time.perf_counter() - t
    print(
        f"core QC with the DEM rules ({len(report.rules)} rules): {elapsed:.2f} s, "
        f"{report.raster_reads} block reads for {len(releves)} relevés "
        f"({report.raster_reads / len(releves):.3f} reads per relevé; synthetic 25 m DEM, 512×512 blocks)"
    )
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    print("findings per rule:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.database:
        from_database(args.releves)


def from_database(n: int) -> None:
    """The first pass as the workflow runs it: load snapshots in bulk, check, store, move every status."""
    from django.core.management import call_command
    from synthetic_releves import analyze, populate, qc_forget, qc_timed, require_bench_database

    from classification.models import RasterLayer

    require_bench_database()
    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    campaign = populate(n)
    rasters = RasterLayer.objects.count()
    print(f"SYNTHETIC campaign of {n} relevés in the database ready in {time.perf_counter() - t:.1f} s; "
          f"{rasters} rasters in its catalogue (none: only the non-raster rules report)")  # fmt: skip
    qc_forget(campaign)
    qc_timed(campaign, "first QC pass from the database (every relevé leaves submitted)")
    analyze()
    qc_timed(campaign, "QC re-run from the database, nothing changed")


if __name__ == "__main__":
    main()
