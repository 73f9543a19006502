"""SYNTHETIC relevés in a benchmark database, shared by ``bench/qc_core.py`` and ``bench/review_admin.py``.

Import after ``django.setup()``. Every row written here is made up (labelled SYNTHETIC in the campaign).
"""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classification.models import PlanStratum, SamplePoint, SamplingPlan, Stratification, Stratum
from fieldcollect.models import (
    Campaign,
    ChangeLog,
    HabitatAssignment,
    Photo,
    QCResult,
    Releve,
    ReleveLayer,
    ReleveQCState,
    ReleveStatus,
    ReviewEvent,
    SpeciesObservation,
    User,
)
from fieldcollect.services.quality import releve_run_qc
from habitats.models import HabitatUnit, LegendRule, MapClass, MapLegend, Taxon, Typology


def require_bench_database() -> None:
    """These benchmarks write and delete rows: refuse any database not named for benchmarks."""
    name = connection.settings_dict["NAME"]
    if not str(name).startswith("fc_bench"):
        raise SystemExit(f"refusing to write SYNTHETIC rows into {name!r}: set DATABASE_URL to a fc_bench_… database")


def populate(n: int) -> Campaign:
    """A campaign with ``n`` relevés (30 species, 1 habitat, 1 photo each) by 30 botanists, its sampling plan
    (20 strata, one visited point per relevé) and an active legend (10 classes over the 40 habitat units);
    kept between runs."""
    require_bench_database()
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
    legend, created = MapLegend.objects.get_or_create(name="SYNTHETIC legend", version=1, defaults={"is_active": True})
    if created:
        classes = [
            MapClass.objects.create(legend=legend, value=k + 1, code=f"C{k}", name=f"class {k}") for k in range(10)
        ]
        for i, unit in enumerate(units):
            LegendRule.objects.create(map_class=classes[i % 10], unit=unit)
    if Releve.objects.filter(campaign=campaign).count() >= n:
        return campaign
    start = datetime(2026, 4, 2, 7, tzinfo=UTC)
    releves = [
        Releve(
            uuid=uuid.uuid4(), campaign=campaign, observer=observers[i % 30],
            observed_at=start + timedelta(days=(i // 30) // 60, minutes=(i // 30) % 60 * 7),
            location=Point(rng.uniform(460_000, 840_000), rng.uniform(6_140_000, 6_410_000), srid=2154),
            gnss_accuracy_m=rng.choice([2.0, 4.0, 8.0, 15.0, 30.0]), plot_area_m2=100.0, content_hash="x" * 64,
        )
        for i in range(n)
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
    _plan(campaign, releves, rng)
    return campaign


def _plan(campaign: Campaign, releves: list[Releve], rng: random.Random) -> None:
    """20 strata in west-east bands; each relevé recorded at a point 0–40 m from it (a visited point)."""
    stratification = Stratification.objects.create(
        campaign=campaign, name="SYNTHETIC bands", source=Stratification.Source.VECTOR, resolution=10
    )
    strata = [
        Stratum.objects.create(stratification=stratification, value=k + 1, label=f"band {k + 1}", pixel_count=1,
                               area_m2=1.0)
        for k in range(20)
    ]  # fmt: skip
    plan = SamplingPlan.objects.create(
        campaign=campaign, stratification=stratification, name="SYNTHETIC plan", status=SamplingPlan.Status.ACTIVE,
        allocation="equal", total_size=len(releves), seed=5,
    )  # fmt: skip
    PlanStratum.objects.bulk_create(
        PlanStratum(plan=plan, stratum=s, eligible_pixel_count=1, eligible_area_m2=1.0, allocated=len(releves) // 20)
        for s in strata
    )
    points = []
    for number, r in enumerate(releves, start=1):
        band = min(19, int((r.location.x - 460_000) / 19_000))
        where = Point(r.location.x + rng.uniform(-40, 40), r.location.y, srid=2154)
        points.append(SamplePoint(plan=plan, stratum=strata[band], number=number, location=where,
                                  inclusion_probability=0.01, releve_uuid=r.uuid, state="visited"))  # fmt: skip
    SamplePoint.objects.bulk_create(points, batch_size=5000)


def analyze() -> None:
    """Fresh planner statistics and no dead rows after bulk writes: the state autovacuum leaves."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def qc_forget(campaign: Campaign) -> None:
    """Back to "never checked": every relevé submitted, no QC result, state, event or change-log row."""
    releves = Releve.objects.filter(campaign=campaign)
    QCResult.objects.filter(releve__in=releves).delete()
    ReleveQCState.objects.filter(releve__in=releves).delete()
    ReviewEvent.objects.filter(releve__in=releves).delete()
    ChangeLog.objects.filter(releve__in=releves).delete()
    releves.update(status=ReleveStatus.SUBMITTED)
    analyze()


def qc_timed(campaign: Campaign, label: str) -> float:
    """Run QC over the campaign like a campaign run does (chunks of 500 in observer/time order); print it."""
    ids = list(
        Releve.objects.filter(campaign=campaign).order_by("observer_id", "observed_at").values_list("id", flat=True)
    )
    moved_before = ChangeLog.objects.filter(releve__campaign=campaign, kind=ChangeLog.Kind.STATUS).count()
    with CaptureQueriesContext(connection) as captured:
        t = time.perf_counter()
        outcome = releve_run_qc(releve_ids=ids)
        elapsed = time.perf_counter() - t
    moved = ChangeLog.objects.filter(releve__campaign=campaign, kind=ChangeLog.Kind.STATUS).count() - moved_before
    print(f"{label}: {outcome.checked} relevés in {elapsed:.1f} s ({outcome.checked / elapsed:,.0f}/s), "
          f"{moved} status changes, {outcome.findings} findings, {len(captured.captured_queries)} queries "
          f"({len(captured.captured_queries) / max(1, len(ids) / 500):.0f} per chunk of 500)")  # fmt: skip
    return elapsed
