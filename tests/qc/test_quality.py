"""QC against the database: bulk loading, stored results, status changes, re-runs, campaign runs."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldcollect.models import ChangeLog, QCResult, QCRun, Releve, ReleveQCState, ReleveStatus, ReviewEvent
from fieldcollect.services.qc import REGISTRY
from fieldcollect.services.quality import qc_run_campaign, qc_snapshots_load, releve_run_qc, rules_signature
from fieldcollect.services.review import qc_result_waive

from .db_builders import HERE, OBSERVED, campaign_2026, coordinate, make_releve, reference

pytestmark = pytest.mark.django_db


def findings(releve):
    return sorted(QCResult.objects.filter(releve=releve).values_list("rule", "severity"))


def test_clean_releve_passes_and_flagged_one_is_flagged(botanist, other_botanist):
    # given a complete relevé and one outside the region with a coarse GNSS fix and two species
    grassland, taxa = reference()
    clean = make_releve(observer=botanist, habitat=grassland, taxa=taxa)
    bad = make_releve(
        observer=other_botanist, habitat=grassland, taxa=taxa[:2], location=(100_000.0, 6_000_000.0), gnss=35.0
    )
    # when QC runs on both
    outcome = releve_run_qc(releve_ids=[clean.pk, bad.pk])
    # then the clean one passes (only the pending photo upload, an info) and the bad one is flagged
    assert outcome.checked == 2
    assert findings(clean) == [("photos.present", "info")]
    assert findings(bad) == [
        ("geometry.in_region", "error"),
        ("gnss.accuracy", "error"),
        ("photos.present", "info"),
        ("species.min_count", "warning"),
    ]
    clean.refresh_from_db()
    bad.refresh_from_db()
    assert (clean.status, bad.status) == (ReleveStatus.QC_PASSED, ReleveStatus.QC_FLAGGED)
    # each status change is logged for the tablets' pull and as an automatic review event
    assert ChangeLog.objects.filter(releve=bad, kind=ChangeLog.Kind.STATUS).count() == 1
    assert list(ReviewEvent.objects.filter(releve=bad).values_list("action", "from_status", "to_status")) == [
        ("qc", "submitted", "qc_flagged")
    ]
    state = ReleveQCState.objects.get(releve=bad)
    assert (state.releve_version, state.worst_severity) == (1, "error")
    assert state.rule_versions == {code: rule.version for code, rule in REGISTRY.items()}


def test_rerun_is_idempotent_and_keeps_waivers(botanist, coordinator):
    # given a flagged relevé whose error was waived
    grassland, taxa = reference()
    releve = make_releve(observer=botanist, habitat=grassland, taxa=taxa[:3], gnss=35.0)
    coordinate(coordinator, releve.campaign)
    releve_run_qc(releve_ids=[releve.pk])

    def open_counts():
        return tuple(ReleveQCState.objects.filter(releve=releve).values_list("open_errors", "open_warnings").get())

    assert open_counts() == (1, 1)  # the GNSS error and the species-count warning
    error = QCResult.objects.get(releve=releve, rule="gnss.accuracy")
    qc_result_waive(result_id=error.pk, actor=coordinator, reason="RTK base was down; checked on ortho")
    assert open_counts() == (0, 1)
    ids_before = set(QCResult.objects.filter(releve=releve).values_list("pk", flat=True))
    changes_before = ChangeLog.objects.filter(releve=releve).count()
    # when QC runs again on the unchanged relevé
    releve_run_qc(releve_ids=[releve.pk])
    # then the same rows remain, the waiver with them, and tablets get no new change
    assert set(QCResult.objects.filter(releve=releve).values_list("pk", flat=True)) == ids_before
    assert QCResult.objects.get(pk=error.pk).waive_reason == "RTK base was down; checked on ortho"
    assert ChangeLog.objects.filter(releve=releve).count() == changes_before
    assert open_counts() == (0, 1)
    # and waiving the warning too leaves nothing open
    warning = QCResult.objects.get(releve=releve, rule="species.min_count")
    qc_result_waive(result_id=warning.pk, actor=coordinator, reason="Pioneer vegetation on fresh scree")
    assert open_counts() == (0, 0)


def test_fixed_releve_loses_its_findings_and_passes(botanist):
    grassland, taxa = reference()
    releve = make_releve(observer=botanist, habitat=grassland, taxa=taxa, gnss=35.0)
    releve_run_qc(releve_ids=[releve.pk])
    # when the botanist's fix arrives (a new version) and QC runs again
    Releve.objects.filter(pk=releve.pk).update(gnss_accuracy_m=2.0, version=2, status=ReleveStatus.SUBMITTED)
    releve_run_qc(releve_ids=[releve.pk])
    # then the GNSS finding is gone and the relevé passed
    assert findings(releve) == [("photos.present", "info")]
    releve.refresh_from_db()
    assert releve.status == ReleveStatus.QC_PASSED
    assert ReleveQCState.objects.get(releve=releve).releve_version == 2


def test_reviewed_releve_keeps_its_status_on_rerun(botanist):
    grassland, taxa = reference()
    releve = make_releve(observer=botanist, habitat=grassland, taxa=taxa, gnss=35.0, status=ReleveStatus.VALIDATED)
    releve_run_qc(releve_ids=[releve.pk])
    releve.refresh_from_db()
    assert releve.status == ReleveStatus.VALIDATED
    assert ("gnss.accuracy", "error") in findings(releve)


def test_partial_releve_is_reported(botanist):
    # given a relevé with no habitat, no species, no photo, no GNSS accuracy
    releve = make_releve(observer=botanist, photos=0, gnss=None)
    releve_run_qc(releve_ids=[releve.pk])
    assert findings(releve) == [
        ("gnss.accuracy", "warning"),
        ("habitat.codes_valid", "error"),
        ("layers.consistent", "info"),
        ("photos.present", "warning"),
        ("species.min_count", "warning"),
    ]


def test_duplicates_and_shared_photos_are_found_across_runs(botanist):
    # given a relevé already checked, then a second one 4 m away with the same habitat and the same photo
    grassland, taxa = reference()
    first = make_releve(observer=botanist, habitat=grassland, taxa=taxa)
    releve_run_qc(releve_ids=[first.pk])
    second = make_releve(
        observer=botanist, habitat=grassland, taxa=taxa, location=(first.location.x + 4, first.location.y), photos=0
    )
    from fieldcollect.models import Photo

    photo = first.photos.get()
    Photo.objects.create(
        uuid="00000000-0000-4000-8000-000000000001",
        releve=second,
        sha256=photo.sha256,
        size=10,
        content_type="image/jpeg",
    )
    # when only the second is checked
    releve_run_qc(releve_ids=[second.pk])
    # then it is flagged as a near duplicate of the first, sharing its photo
    rules = {r.rule: r.details for r in QCResult.objects.filter(releve=second)}
    assert rules["plots.near_duplicate"] == {"other": str(first.pk), "distance_m": 4.0, "jaccard": 1.0}
    assert rules["photos.reused"]["others"] == [str(first.pk)]


def test_loading_takes_a_fixed_number_of_queries(botanist):
    # given 3 and then 30 relevés
    grassland, taxa = reference()
    few = [make_releve(observer=botanist, habitat=grassland, taxa=taxa).pk for _ in range(3)]
    many = few + [make_releve(observer=botanist, habitat=grassland, taxa=taxa).pk for _ in range(27)]
    # when their snapshots are loaded
    with CaptureQueriesContext(connection) as small:
        assert len(qc_snapshots_load(releve_ids=few).snapshots) == 3
    with CaptureQueriesContext(connection) as large:
        assert len(qc_snapshots_load(releve_ids=many).snapshots) == 30
    # then the number of queries does not grow with the number of relevés
    assert len(large.captured_queries) == len(small.captured_queries) <= 10


def test_first_pass_changes_statuses_in_a_fixed_number_of_queries(botanist, other_botanist):
    # given 3 and then 30 submitted relevés, half of them with a coarse GNSS fix
    grassland, taxa = reference()
    campaign = campaign_2026()

    def submitted(n, observer):
        return [make_releve(observer=observer, campaign=campaign, habitat=grassland, taxa=taxa, gnss=3.0 + 30 * (i % 2))
                for i in range(n)]  # fmt: skip

    few, many = submitted(3, botanist), submitted(30, other_botanist)
    # when QC checks them for the first time
    with CaptureQueriesContext(connection) as small:
        releve_run_qc(releve_ids=[r.pk for r in few])
    with CaptureQueriesContext(connection) as large:
        releve_run_qc(releve_ids=[r.pk for r in many])
    # then every relevé moved, with its change-log row and QC review event, at no extra query per relevé
    assert len(large.captured_queries) == len(small.captured_queries)
    moved = Releve.objects.filter(pk__in=[r.pk for r in many]).values_list("status", flat=True)
    assert sorted(moved) == ["qc_flagged"] * 15 + ["qc_passed"] * 15
    assert ChangeLog.objects.filter(releve__in=many, kind=ChangeLog.Kind.STATUS).count() == 30
    assert ReviewEvent.objects.filter(releve__in=many, action="qc", comment="2 QC finding(s)").count() == 15


def test_campaign_run_reports_progress_and_only_stale(botanist, coordinator):
    grassland, taxa = reference()
    campaign = campaign_2026()
    # five plots 1 km apart, an hour apart: no duplicates, no travel problem
    ids = [
        make_releve(
            observer=botanist,
            campaign=campaign,
            habitat=grassland,
            taxa=taxa,
            location=(HERE[0] + 1000 * i, HERE[1]),
            observed_at=OBSERVED + dt.timedelta(hours=i),
        ).pk
        for i in range(5)
    ]
    run = QCRun.objects.create(campaign=campaign, requested_by=coordinator, reason="first pass")
    run = qc_run_campaign(run=run, chunk=2)
    assert (run.state, run.total, run.done, run.findings) == ("done", 5, 5, 5)
    assert ReleveQCState.objects.filter(releve_id__in=ids).count() == 5
    # a stale-only run after nothing changed has nothing to do
    _, signature = rules_signature()
    ReleveQCState.objects.filter(releve_id=ids[0]).update(rules_signature="an older rule set")
    stale = qc_run_campaign(run=QCRun.objects.create(campaign=campaign, only_stale=True), chunk=2)
    assert (stale.total, stale.done) == (1, 1)
    assert ReleveQCState.objects.get(releve_id=ids[0]).rules_signature == signature


def test_catalogue_dem_and_sample_point_feed_the_rules(botanist, tmp_path):
    # given a SYNTHETIC DEM of the catalogue giving 500 m around the plots
    import numpy as np
    import rasterio
    from django.contrib.gis.geos import Point
    from rasterio.transform import Affine

    from classification.models import SamplePoint, SamplingPlan, Stratification, Stratum
    from classification.services.rasters import raster_layer_register

    dem = tmp_path / "dem.tif"
    profile = {
        "driver": "GTiff", "width": 400, "height": 400, "count": 1, "dtype": "float32", "crs": "EPSG:2154",
        "transform": Affine(250, 0, HERE[0] - 50_000, 0, -250, HERE[1] + 50_000), "nodata": -9999,
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(dem, "w", **profile) as out:
        out.write(np.full((400, 400), 500, dtype="float32"), 1)
    raster_layer_register(uri=str(dem), name="test-dem", kind="dem")
    grassland, taxa = reference()
    releve = make_releve(observer=botanist, habitat=grassland, taxa=taxa, altitude_m=100.0)
    # and the sample point the relevé was made for, 80 m away, in a stratum
    stratification = Stratification.objects.create(
        campaign=releve.campaign, name="zones", source="vector", resolution=10
    )
    stratum = Stratum.objects.create(
        stratification=stratification, value=1, label="lowland garrigue", pixel_count=1, area_m2=100
    )
    plan = SamplingPlan.objects.create(
        campaign=releve.campaign, stratification=stratification, name="plan", allocation="equal", total_size=1, seed=1
    )
    SamplePoint.objects.create(
        plan=plan, stratum=stratum, number=1, location=Point(releve.location.x + 80, releve.location.y, srid=2154),
        inclusion_probability=0.5, releve_uuid=releve.uuid,
    )  # fmt: skip
    # when QC runs
    releve_run_qc(releve_ids=[releve.pk])
    # then the altitude is checked against the DEM and the distance to the sample point is reported
    rules = {r.rule: (r.severity, r.details) for r in QCResult.objects.filter(releve=releve)}
    assert rules["altitude.dem"] == ("error", {"altitude_m": 100.0, "dem_m": 500.0, "difference_m": -400.0})
    assert rules["sample_point.distance"] == ("warning", {"distance_m": 80.0, "limit_m": 30.0})
    assert qc_snapshots_load(releve_ids=[releve.pk]).snapshots[0].stratum == "lowland garrigue"
