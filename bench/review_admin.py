"""Benchmark of QC against the database and of the coordinators' relevé list, on 10,000 SYNTHETIC relevés.

Runs in its own database (created and migrated here), e.g.:

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/fc_bench_qc .venv/bin/python bench/review_admin.py

Prints: bulk QC of the campaign (relevés/s, queries per chunk) and the admin list's server time (median of
5 requests) with its query count, unfiltered, filtered by QC rule, and for a campaign (map of 5,000 plots).
"""

import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
os.environ.setdefault("QC_RUN_ON_PUSH", "0")
django.setup()

from django.contrib.gis.geos import MultiPolygon, Point, Polygon  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from fieldcollect.models import (  # noqa: E402
    Campaign,
    HabitatAssignment,
    Photo,
    Releve,
    ReleveLayer,
    SpeciesObservation,
    User,
)
from fieldcollect.services.quality import releve_run_qc  # noqa: E402
from habitats.models import HabitatUnit, Taxon, Typology  # noqa: E402

N = int(os.environ.get("BENCH_RELEVES", "10000"))


def populate() -> Campaign:
    rng = random.Random(5)
    eunis, _ = Typology.objects.get_or_create(cd_typo=107, defaults={"name": "EUNIS_2022"})
    units = [
        HabitatUnit.objects.get_or_create(
            cd_hab=60_000 + i,
            defaults={"typology": eunis, "code": f"R{i % 9}-{i}", "code_normalized": f"R{i % 9}{i}", "level": 3,
                      "path": f"/{60_000 + i}/", "name_fr": f"Synthetic grassland {i}"},
        )[0]
        for i in range(40)
    ]  # fmt: skip
    taxa = [
        Taxon.objects.get_or_create(
            cd_nom=900_000 + i,
            defaults={"cd_ref": 900_000 + i, "name": f"Planta bench{i}", "full_name": f"Planta bench{i} L.",
                      "name_normalized": f"planta bench{i}"},
        )[0]
        for i in range(400)
    ]  # fmt: skip
    campaign, _ = Campaign.objects.get_or_create(
        slug="bench-2026",
        defaults={"name": "SYNTHETIC bench", "year": 2026, "starts_on": "2026-04-01", "ends_on": "2026-09-30",
                  "region": MultiPolygon(Polygon.from_bbox((450_000, 6_130_000, 850_000, 6_420_000)), srid=2154)},
    )  # fmt: skip
    observers = [User.objects.get_or_create(username=f"bench-botanist-{i}")[0] for i in range(30)]
    if Releve.objects.filter(campaign=campaign).count() >= N:
        return campaign
    start = datetime(2026, 4, 2, 7, tzinfo=UTC)
    releves = [
        Releve(
            uuid=uuid.uuid4(), campaign=campaign, observer=observers[i % 30],
            observed_at=start + timedelta(days=(i // 30) // 60, minutes=(i // 30) % 60 * 7),
            location=Point(rng.uniform(460_000, 840_000), rng.uniform(6_140_000, 6_410_000), srid=2154),
            gnss_accuracy_m=rng.choice([2.0, 4.0, 8.0, 15.0, 30.0]), plot_area_m2=100.0, content_hash="x" * 64,
        )
        for i in range(N)
    ]  # fmt: skip
    Releve.objects.bulk_create(releves, batch_size=2000)
    children_h, children_s, children_l, children_p = [], [], [], []
    for r in releves:
        children_l.append(ReleveLayer(releve=r, layer="herb", cover_pct=70))
        children_h.append(HabitatAssignment(releve=r, habitat=rng.choice(units), cover_pct=None, rank=0))
        for rank, taxon in enumerate(rng.sample(taxa, 30)):
            children_s.append(
                SpeciesObservation(releve=r, taxon=taxon, name_cited=taxon.name, layer="herb",
                                   braun_blanquet="1", cover_pct=3, rank=rank)
            )  # fmt: skip
        children_p.append(
            Photo(uuid=uuid.uuid4(), releve=r, sha256=uuid.uuid4().hex * 2, size=1, content_type="image/jpeg")
        )
    ReleveLayer.objects.bulk_create(children_l, batch_size=5000)
    HabitatAssignment.objects.bulk_create(children_h, batch_size=5000)
    SpeciesObservation.objects.bulk_create(children_s, batch_size=10000)
    Photo.objects.bulk_create(children_p, batch_size=5000)
    return campaign


def timed_get(client: Client, url: str) -> tuple[float, int, int]:
    times, queries, status = [], 0, 0
    for _ in range(5):
        with CaptureQueriesContext(connection) as captured:
            t = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t)
        queries, status = len(captured.captured_queries), response.status_code
    return statistics.median(times) * 1000, queries, status


def main() -> None:
    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    campaign = populate()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh planner statistics after the bulk load, as autovacuum would give
    print(f"SYNTHETIC campaign with {Releve.objects.filter(campaign=campaign).count()} relevés "
          f"(30 species, 1 photo each) ready in {time.perf_counter() - t:.1f} s")  # fmt: skip
    ids = list(
        Releve.objects.filter(campaign=campaign).order_by("observer_id", "observed_at").values_list("id", flat=True)
    )
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        t = time.perf_counter()
        outcome = releve_run_qc(releve_ids=ids)
        elapsed = time.perf_counter() - t
    print(f"QC from the database: {outcome.checked} relevés in {elapsed:.1f} s ({outcome.checked / elapsed:,.0f}/s), "
          f"{outcome.findings} findings, {len(captured.captured_queries)} queries "
          f"({len(captured.captured_queries) / max(1, len(ids) / 500):.0f} per chunk of 500)")  # fmt: skip
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(admin)
    for label, url in (
        ("list, no filter", "/admin/fieldcollect/releve/"),
        ("list, QC rule filter", "/admin/fieldcollect/releve/?qc_rule=gnss.accuracy"),
        ("list, campaign (map of 5,000 plots)", f"/admin/fieldcollect/releve/?campaign__id__exact={campaign.pk}"),
        ("relevé page", f"/admin/fieldcollect/releve/{ids[0]}/change/"),
        ("campaign dashboard", f"/admin/fieldcollect/releve/dashboard/?campaign={campaign.pk}"),
    ):
        ms, queries, status = timed_get(client, url)
        print(f"{label}: {ms:.0f} ms server time (median of 5), {queries} queries, HTTP {status}")


if __name__ == "__main__":
    main()
