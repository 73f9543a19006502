"""Benchmark: exporting 10,000 validated relevés × 30 species in every format (time and peak memory).

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/fc_bench_exports .venv/bin/python bench/exports.py

Uses its own database (created and migrated if missing; DATABASE_URL must name it, never the demo's)
and fills it once with SYNTHETIC relevés: 30 species, 2 habitats, 2 layers, a 10 × 10 m footprint and
one photo row each, scattered over Occitanie. Each export runs `manage.py export_releves` in a fresh
process; the figures are its wall time and its peak resident memory (ru_maxrss from wait4).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    if name in ("fieldcollect", "") or not name.startswith("fc_bench"):
        sys.exit("DATABASE_URL must name a database starting with fc_bench (it is filled with synthetic rows)")
    admin = url.rsplit("/", 1)[0].replace("postgis://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url.replace("postgis://", "postgresql://"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def fill(n_releves: int, n_species: int) -> None:
    import datetime as dt
    import uuid

    import numpy as np
    from django.contrib.gis.geos import Point, Polygon
    from django.core.management import call_command

    from fieldcollect.models import HabitatAssignment, Photo, Releve, ReleveLayer, SpeciesObservation, User
    from fieldcollect.models.releve import BRAUN_BLANQUET_COVER_PCT
    from tests.factories import CampaignFactory, HabitatUnitFactory, TaxonFactory, TypologyFactory

    call_command("migrate", verbosity=0)
    if Releve.objects.count() >= n_releves:
        return
    campaign = CampaignFactory()
    observer, _ = User.objects.get_or_create(username="bench-botanist")
    typology = TypologyFactory(cd_typo=22)
    habitats = [HabitatUnitFactory(typology=typology) for _ in range(50)]
    taxa = [TaxonFactory() for _ in range(600)]
    rng = np.random.default_rng(0)
    codes = list(BRAUN_BLANQUET_COVER_PCT)
    start = dt.datetime(2027, 4, 1, 6, tzinfo=dt.UTC)
    for first in range(0, n_releves, 1000):
        releves = []
        for _ in range(first, min(first + 1000, n_releves)):
            x, y = rng.uniform(450_000, 850_000), rng.uniform(6_130_000, 6_480_000)
            releves.append(
                Releve(
                    uuid=uuid.uuid4(), campaign=campaign, observer=observer, content_hash="0" * 64,
                    observed_at=start + dt.timedelta(minutes=int(rng.integers(0, 180 * 24 * 60))),
                    location=Point(x, y, srid=2154), plot=Polygon.from_bbox((x - 5, y - 5, x + 5, y + 5)),
                    gnss_accuracy_m=float(rng.uniform(1, 15)), plot_area_m2=100.0,
                    altitude_m=float(rng.uniform(0, 2500)),
                    slope_deg=5.0, aspect="S", total_cover_pct=90.0, status="validated", notes="synthetic",
                )
            )  # fmt: skip
        releves = Releve.objects.bulk_create(releves)
        children_h, children_s, children_l, photos = [], [], [], []
        for releve in releves:
            for rank, habitat in enumerate(rng.choice(len(habitats), 2, replace=False)):
                children_h.append(
                    HabitatAssignment(releve=releve, habitat=habitats[habitat], cover_pct=50.0, rank=rank)
                )
            for rank, taxon in enumerate(rng.choice(len(taxa), n_species, replace=False)):
                code = codes[int(rng.integers(0, len(codes)))]
                children_s.append(
                    SpeciesObservation(
                        releve=releve, taxon=taxa[taxon], name_cited=taxa[taxon].full_name, layer="herb",
                        braun_blanquet=code, cover_pct=BRAUN_BLANQUET_COVER_PCT[code], rank=rank,
                    )
                )  # fmt: skip
            children_l += [ReleveLayer(releve=releve, layer="herb", cover_pct=60.0, height_m=0.5),
                           ReleveLayer(releve=releve, layer="shrub", cover_pct=20.0, height_m=2.0)]  # fmt: skip
            photos.append(Photo(uuid=uuid.uuid4(), releve=releve, sha256="0" * 64, size=5_000_000,
                                content_type="image/jpeg"))  # fmt: skip
        HabitatAssignment.objects.bulk_create(children_h)
        SpeciesObservation.objects.bulk_create(children_s, batch_size=5000)
        ReleveLayer.objects.bulk_create(children_l)
        Photo.objects.bulk_create(photos)


def run(fmt: str, output: Path, extra: list[str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "export_releves", "--format", fmt, "--output", str(output), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out = process.stdout.read() if process.stdout else ""
    if status != 0:
        sys.exit(f"{fmt} export failed: {out}")
    return elapsed, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releves", type=int, default=10_000)
    parser.add_argument("--species", type=int, default=30)
    args = parser.parse_args()
    ensure_database(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    t = time.perf_counter()
    fill(args.releves, args.species)
    print(f"database ready in {time.perf_counter() - t:.1f} s")
    baseline = subprocess.run(
        [sys.executable, "-c", "import resource, django, os;"
         "os.environ['DJANGO_SETTINGS_MODULE'] = 'fieldcollect.settings';"
         "django.setup(); import classification.exports.services, pyogrio, pyarrow.parquet;"
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(f"baseline (Django + pyogrio + pyarrow imported): peak RSS {int(baseline.stdout) / 1024:.0f} MB")
    with tempfile.TemporaryDirectory() as directory:
        for fmt, name, extra in [
            ("gpkg", "r.gpkg", []),
            ("gpkg", "r4326.gpkg", ["--crs", "4326"]),
            ("csv", "r.zip", []),
            ("parquet", "p.zip", []),
            ("dwca", "d.zip", []),
        ]:
            output = Path(directory) / name
            elapsed, rss, out = run(fmt, output, extra)
            size = output.stat().st_size / 1e6
            print(f"{fmt:8} {' '.join(extra):12} {elapsed:6.1f} s  peak RSS {rss:5.0f} MB  {size:6.1f} MB  {out}")


if __name__ == "__main__":
    main()
