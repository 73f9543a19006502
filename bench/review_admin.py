"""Benchmark of QC against the database and of the coordinators' relevé list, on 10,000 SYNTHETIC relevés.

Runs in its own database (created and migrated here), e.g.:

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/fc_bench_qc .venv/bin/python bench/review_admin.py

Prints: the first QC pass of the campaign and a re-run (relevés/s, status changes, queries per chunk; skip
both with ``--keep-qc`` once they ran), then the admin list's server time (median of 5 requests) with its
query count, unfiltered, filtered by QC rule, for a campaign (map of 5,000 plots), filtered by stratum,
then the relevé page and the dashboard.
"""

import os
import statistics
import sys
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
os.environ.setdefault("QC_RUN_ON_PUSH", "0")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from synthetic_releves import analyze, populate, qc_forget, qc_timed  # noqa: E402

from classification.models import Stratum  # noqa: E402
from fieldcollect.models import Releve, User  # noqa: E402

N = int(os.environ.get("BENCH_RELEVES", "10000"))


def timed_get(client: Client, url: str) -> tuple[float, float, float, int, int]:
    """Medians of 5 requests: wall time, this process's CPU time and the time spent waiting for SQL (ms).

    On a machine shared with other jobs the wall time includes waiting for a CPU; CPU + SQL is what the
    request costs, the server time a quiet machine would show.
    """
    walls, cpus, sqls, queries, status = [], [], [], 0, 0
    for _ in range(5):
        spent: list[float] = []

        def timer(execute, sql, params, many, context, spent=spent):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent.append(time.perf_counter() - t)

        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
            t, c = time.perf_counter(), time.process_time()
            response = client.get(url)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        sqls.append(sum(spent))
        queries, status = len(captured.captured_queries), response.status_code
    ms = [statistics.median(v) * 1000 for v in (walls, cpus, sqls)]
    return ms[0], ms[1], ms[2], queries, status


def main() -> None:
    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    campaign = populate(N)
    analyze()
    print(f"SYNTHETIC campaign with {Releve.objects.filter(campaign=campaign).count()} relevés "
          f"(30 species, 1 photo each) ready in {time.perf_counter() - t:.1f} s")  # fmt: skip
    if "--keep-qc" not in sys.argv:
        qc_forget(campaign)
        qc_timed(campaign, "first QC pass from the database (every relevé leaves submitted)")
        analyze()
        qc_timed(campaign, "QC re-run, nothing changed")
    ids = list(Releve.objects.filter(campaign=campaign).order_by("observed_at").values_list("id", flat=True))
    strata = Stratum.objects.filter(stratification__campaign=campaign).order_by("value")
    stratum = strata.values_list("pk", flat=True)[3]
    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(admin)
    for label, url in (
        ("list, no filter", "/admin/fieldcollect/releve/"),
        ("list, QC rule filter", "/admin/fieldcollect/releve/?qc_rule=gnss.accuracy"),
        ("list, campaign (map of 5,000 plots)", f"/admin/fieldcollect/releve/?campaign__id__exact={campaign.pk}"),
        ("list, stratum filter", f"/admin/fieldcollect/releve/?stratum={stratum}"),
        ("relevé page", f"/admin/fieldcollect/releve/{ids[0]}/change/"),
        ("campaign dashboard", f"/admin/fieldcollect/releve/dashboard/?campaign={campaign.pk}"),
    ):
        wall, cpu, sql, queries, status = timed_get(client, url)
        print(f"{label}: {wall:.0f} ms server time (median of 5; CPU {cpu:.0f} ms + SQL {sql:.0f} ms = "
              f"{cpu + sql:.0f} ms), {queries} queries, HTTP {status}")  # fmt: skip


if __name__ == "__main__":
    main()
