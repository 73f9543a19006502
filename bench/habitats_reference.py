"""Benchmark of the reference data: full import of the shared HABREF files (10,473 units, 47,309 crosswalk
rows), the 28,612-name flora and the EUNIS-ESy lists into empty tables, the same import again (nothing
changed), habitat search latency, legend resolution and the reference bundle (cold and cached).

Runs against DATABASE_URL (use a scratch database: the habitats tables are emptied first).

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/fc_bench .venv/bin/python bench/habitats_reference.py
"""

import os
import random
import statistics
import sys
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fieldcollect.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402

from fieldcollect.models import User  # noqa: E402
from habitats import selectors  # noqa: E402
from habitats.models import HabitatUnit, MapLegend  # noqa: E402
from habitats.services.demo import reference_demo_load  # noqa: E402
from habitats.services.reference_bundle import reference_bundle_get  # noqa: E402


def timed(label: str, action):
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed:.2f} s")
    return result, elapsed


def main() -> None:
    data = Path(settings.SHARED_DATA_DIR)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE habitats_legendrule, habitats_mapclass, habitats_maplegend, habitats_characteristicspecies, "
            "habitats_correspondence, habitats_habitatunit, habitats_relationtype, habitats_typology, habitats_taxon, "
            "habitats_referenceversion CASCADE"
        )
    (reports, _), first = timed(
        "full import (HABREF + flora + EUNIS-ESy + legend), empty tables", lambda: reference_demo_load(data_dir=data)
    )
    for r in reports:
        print("   ", r.summary()[:150])
    (reports, _), again = timed("re-import, nothing changed", lambda: reference_demo_load(data_dir=data))
    print(f"    changed rows on re-import: {sum(r.changed for r in reports)}")

    rng = random.Random(7)
    names = list(HabitatUnit.objects.exclude(name_fr="").values_list("name_fr", flat=True))
    codes = list(HabitatUnit.objects.values_list("code", flat=True))
    queries = []
    for _ in range(300):
        if rng.random() < 0.5:
            word = rng.choice(rng.choice(names).split())
            queries.append(word[: rng.randint(3, max(3, len(word)))])
        else:
            code = rng.choice(codes) or "T"
            queries.append(code[: rng.randint(1, len(code))])
    selectors.habitat_unit_search(query="chene")  # warm the connection
    latencies = []
    for q in queries:
        start = time.perf_counter()
        selectors.habitat_unit_search(query=q)
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    p50, p95 = statistics.median(latencies), latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"habitat search, {len(queries)} prefixes (names and codes): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"max {latencies[-1]:.1f} ms"
    )

    taxa_lat = []
    for q in ["que", "quercus pub", "car fla", "thym", "fes rub", "ach mil", "jun", "pinus", "sal", "ros can"] * 20:
        start = time.perf_counter()
        selectors.taxon_autocomplete(query=q)
        taxa_lat.append((time.perf_counter() - start) * 1000)
    taxa_lat.sort()
    print(f"taxa autocomplete, 200 queries: p50 {statistics.median(taxa_lat):.1f} ms, p95 {taxa_lat[189]:.1f} ms")

    legend = MapLegend.objects.get(is_active=True)
    all_units = list(HabitatUnit.objects.values_list("cd_hab", flat=True))
    mapping, _ = timed(
        f"legend resolution of all {len(all_units)} units",
        lambda: selectors.habitat_unit_map_class(legend=legend, units=all_units),
    )
    print(f"    units classified: {len(mapping)}")

    user, _ = User.objects.get_or_create(username="bench-botanist")
    cache.clear()
    bundle, _ = timed(
        "reference bundle, cold (built, gzipped, cached)", lambda: reference_bundle_get(user=user, since=None)
    )
    print(f"    gzipped size: {len(bundle.gzipped) / 1e6:.2f} MB")
    timed("reference bundle, cached", lambda: reference_bundle_get(user=user, since=None))
    timed(
        "reference bundle, If-None-Match (304)",
        lambda: reference_bundle_get(user=user, since=None, if_none_match=bundle.etag),
    )
    print(f"summary: full import {first:.1f} s, re-import {again:.1f} s, search p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
