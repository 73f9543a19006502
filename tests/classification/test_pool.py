"""The live training pool: validation feeds it, un-validation empties it, mosaics, freezing."""

import time
import zipfile

import pyogrio
import pytest
import rasterio
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.core.management import CommandError, call_command

from classification.models import SamplePoint, TrainingSample, TrainingSet
from classification.services.pool import (
    PoolError,
    releve_label,
    training_pool_consume,
    training_pool_freeze,
    training_pool_rebuild,
)
from classification.services.sampling import sampling_plan_create, stratification_create_from_polygons
from fieldcollect.models import HabitatAssignment, ReleveStatus, TrainingPoolEvent
from fieldcollect.services.releves import releve_delete
from fieldcollect.services.review import releve_review
from habitats.models import LegendRule, MapClass
from tests.factories import HabitatUnitFactory, TypologyFactory
from tests.qc.db_builders import campaign_2026, coordinate, make_releve

from .test_training_services import make_scene

pytestmark = pytest.mark.django_db

X0, Y0 = 600_000.0, 6_300_000.0  # the synthetic landscape's top-left corner, 10 m cells


def centre(row, col):
    return X0 + 10 * col + 5, Y0 - 10 * row - 5


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def pool(tmp_path, media, settings, coordinator):
    scene = make_pool(tmp_path, coordinator)
    settings.TRAINING_POOL_FEATURE_SET = scene["feature_set"].name
    settings.TRAINING_POOL_LEGEND = scene["legend"].name
    return scene


def make_pool(tmp_path, coordinator):
    """The landscape's feature set and active legend, one habitat unit per class, a coordinated campaign."""
    _, feature_set, legend, _ = make_scene(tmp_path)
    typology = TypologyFactory(cd_typo=107)
    units = {}
    for value in (1, 2, 3):
        unit = HabitatUnitFactory(cd_hab=910_000 + value, typology=typology, code=f"X{value}")
        LegendRule.objects.create(map_class=MapClass.objects.get(legend=legend, value=value), unit=unit)
        units[value] = unit
    campaign = campaign_2026()
    coordinate(coordinator, campaign)
    bands = [rasterio.open(tmp_path / f"band{b}.tif").read(1) for b in (1, 2)]
    return {"feature_set": feature_set, "legend": legend, "units": units, "campaign": campaign, "bands": bands}


def passed(pool, botanist, *, at, habitats=(), **fields):
    releve = make_releve(
        observer=botanist, campaign=pool["campaign"], location=at, status=ReleveStatus.QC_PASSED, **fields
    )
    for rank, (value, cover) in enumerate(habitats):
        HabitatAssignment.objects.create(releve=releve, habitat=pool["units"][value], cover_pct=cover, rank=rank)
    return releve


def validate(releve, coordinator):
    releve_review(releve_id=releve.pk, actor=coordinator, action="validate")


def test_a_validated_releve_becomes_a_labelled_sample_with_its_pixel_features(
    pool, botanist, coordinator, django_capture_on_commit_callbacks
):
    # given a 25 m² plot in class 2 at cell (10, 250), and a drawn 20 m × 20 m plot in class 3
    point = passed(pool, botanist, at=centre(10, 250), habitats=[(2, None)])
    x, y = X0 + 10 * 500, Y0 - 10 * 20
    square = Polygon(((x, y), (x + 20, y), (x + 20, y - 20), (x, y - 20), (x, y)), srid=2154)
    drawn = passed(pool, botanist, at=(x + 10, y - 10), habitats=[(3, 100.0)], plot=square)
    # when the coordinator validates both (each schedules the consumer after commit) and the queue is consumed
    with django_capture_on_commit_callbacks() as callbacks:
        validate(point, coordinator)
        validate(drawn, coordinator)
    outcome = training_pool_consume()
    # then each relevé is one included sample with its class and the features of its pixels
    assert len(callbacks) == 2
    assert (outcome.included, outcome.excluded, outcome.removed) == (2, 0, 0)
    b1, b2 = pool["bands"]
    s = TrainingSample.objects.get(releve=point)
    assert (s.status, s.label, s.dominant_share, s.footprint, s.n_pixels) == ("included", 2, 1.0, "buffer", 1)
    assert s.pixels["cell"] == [10 * 600 + 250]
    assert s.pixels["x"] == [centre(10, 250)[0]] and s.pixels["y"] == [centre(10, 250)[1]]
    assert s.pixels["values"] == [[float(b1[10, 250]), float(b2[10, 250])]]
    d = TrainingSample.objects.get(releve=drawn)
    assert (d.label, d.footprint, d.n_pixels) == (3, "plot", 4)
    assert d.pixels["cell"] == [20 * 600 + 500, 20 * 600 + 501, 21 * 600 + 500, 21 * 600 + 501]
    assert d.pixels["values"][3] == [float(b1[21, 501]), float(b2[21, 501])]
    # and the queue is empty: consuming again changes nothing
    assert TrainingPoolEvent.objects.filter(processed_at__isnull=True).count() == 0
    assert (training_pool_consume().included, TrainingSample.objects.count()) == (0, 2)


def test_unvalidating_or_deleting_removes_the_sample(pool, botanist, coordinator):
    # given two validated relevés in the pool
    a = passed(pool, botanist, at=centre(5, 5), habitats=[(1, None)])
    b = passed(pool, botanist, at=centre(5, 450), habitats=[(3, None)])
    validate(a, coordinator)
    validate(b, coordinator)
    training_pool_consume()
    assert TrainingSample.objects.count() == 2
    # when one is sent back to its botanist and the other deleted
    releve_review(releve_id=a.pk, actor=coordinator, action="request_changes", comment="Check the moss layer")
    b.refresh_from_db()
    releve_delete(releve=b, actor=coordinator)
    outcome = training_pool_consume()
    # then both leave the pool, and the relevés themselves are untouched
    assert outcome.removed == 2
    assert TrainingSample.objects.count() == 0
    a.refresh_from_db()
    assert a.status == ReleveStatus.NEEDS_CHANGES


def test_mosaics_below_the_threshold_are_excluded_with_a_reason(pool, botanist, coordinator, settings):
    # given a 60/40 mosaic, an 80/20 mosaic, a mosaic without covers and a plot in the nodata hole
    below = passed(pool, botanist, at=centre(300, 50), habitats=[(1, 60.0), (2, 40.0)])
    above = passed(pool, botanist, at=centre(300, 60), habitats=[(1, 80.0), (2, 20.0)])
    unknown = passed(pool, botanist, at=centre(300, 70), habitats=[(1, None), (2, 30.0)])
    hole = passed(pool, botanist, at=centre(120, 230), habitats=[(2, None)])
    for releve in (below, above, unknown, hole):
        validate(releve, coordinator)
    # when the pool is updated with the default 75 % threshold
    outcome = training_pool_consume()
    # then only the 80/20 mosaic is included, and each exclusion says why
    assert outcome.reasons == {"mosaic_below_threshold": 1, "mosaic_without_shares": 1, "no_features": 1}
    got = {s.releve_id: (s.status, s.label, s.dominant_share, s.reason) for s in TrainingSample.objects.all()}
    assert got == {
        below.pk: ("excluded", None, 0.6, "mosaic_below_threshold"),
        above.pk: ("included", 1, 0.8, ""),
        unknown.pk: ("excluded", None, None, "mosaic_without_shares"),
        hole.pk: ("excluded", None, 1.0, "no_features"),
    }
    # and with a 60 % threshold a rebuild includes the 60/40 mosaic
    settings.TRAINING_POOL_MOSAIC_THRESHOLD = 0.6
    training_pool_rebuild()
    assert TrainingSample.objects.get(releve=below).label == 1


def test_releves_of_a_validation_sample_never_enter_the_training_pool(pool, botanist, coordinator):
    # given a field plan and a validation plan of the campaign, each with points
    zone = MultiPolygon(Polygon.from_bbox((X0, Y0 - 2000, X0 + 2000, Y0)), srid=2154)
    plans = []
    for name in ("field", "validation"):
        stratification = stratification_create_from_polygons(
            campaign=pool["campaign"], name=name, strata=[(1, "all", zone)], resolution=10
        )
        plans.append(sampling_plan_create(
            actor=coordinator, campaign=pool["campaign"], stratification=stratification, name=name,
            allocation="proportional", total_size=3, seed=1, min_distance_m=50.0,
        ))  # fmt: skip
    field, validation = plans
    validation.parameters = {**validation.parameters, "validation": {"map_run": 1}}
    validation.save(update_fields=["parameters"])
    f1 = field.points.order_by("number").first()
    v1, v2 = validation.points.order_by("number")[:2]
    # and relevés made at a field point, at a validation point (named by the tablet), and at another
    # validation point (linked by the visit report only)
    at_field = passed(pool, botanist, at=centre(5, 5), habitats=[(1, None)], sample_point_ref=str(f1.pk))
    named = passed(pool, botanist, at=centre(5, 15), habitats=[(1, None)], sample_point_ref=str(v1.pk))
    reported = passed(pool, botanist, at=centre(5, 25), habitats=[(2, None)])
    SamplePoint.objects.filter(pk=v2.pk).update(state="visited", releve_uuid=reported.uuid)
    # when all three are validated and the pool updated
    for releve in (at_field, named, reported):
        validate(releve, coordinator)
    outcome = training_pool_consume()
    # then only the field relevé trains; the validation ones are excluded with their reason
    assert (outcome.included, outcome.reasons) == (1, {"validation_sample": 2})
    got = dict(TrainingSample.objects.values_list("releve_id", "reason"))
    assert got == {at_field.pk: "", named.pk: "validation_sample", reported.pk: "validation_sample"}


def test_label_rule_edge_cases():
    # a unit no rule reaches counts in the denominator; ties go to the lowest class value
    assert releve_label([], {}, 0.75).reason == "no_habitat"
    assert releve_label([(7, None)], {}, 0.75).reason == "unmapped_habitat"
    assert releve_label([(1, 80.0), (9, 20.0)], {1: 4}, 0.75).value == 4
    assert releve_label([(1, 70.0), (9, 30.0)], {1: 4}, 0.75).reason == "mosaic_below_threshold"
    tie = releve_label([(1, 50.0), (2, 50.0)], {1: 5, 2: 3}, 0.5)
    assert (tie.value, tie.share) == (3, 0.5)
    assert releve_label([(1, None), (2, None)], {1: 5, 2: 5}, 0.75).value == 5


def test_freezing_the_pool_twice_gives_the_same_hash_with_caps_and_thinning(pool, botanist, coordinator):
    # given 5 plots of class 1 (two of them on the same cell) and 2 of class 3
    ones = [passed(pool, botanist, at=centre(300 - 20 * i, 30), habitats=[(1, None)]) for i in range(4)]
    twin = passed(pool, botanist, at=(centre(300, 30)[0] + 2, centre(300, 30)[1]), habitats=[(1, None)])
    threes = [passed(pool, botanist, at=centre(30 + 20 * i, 500), habitats=[(3, None)]) for i in range(2)]
    for releve in [*ones, twin, *threes]:
        validate(releve, coordinator)
    training_pool_consume()
    # when the pool is frozen twice, without a cap then with at most 3 plots per class
    kwargs = {"actor": coordinator, "legend": pool["legend"], "feature_set": pool["feature_set"]}
    first = training_pool_freeze(name="pool-a", **kwargs)
    second = training_pool_freeze(name="pool-b", **kwargs)
    capped = training_pool_freeze(name="pool-c", max_plots_per_class=3, seed=1, **kwargs)
    # then the two plain freezes are byte-identical; the twin plot lost its shared pixel and dropped out
    assert first.content_hash == second.content_hash
    assert first.table.read() == second.table.read()
    assert (first.n_plots, first.n_samples) == (6, 6)
    assert first.class_counts == {"1": {"samples": 4, "plots": 4}, "3": {"samples": 2, "plots": 2}}
    assert first.provenance["thinning"] == {"pixels_dropped": 1}
    assert first.provenance["releves"] == {str(r.pk): 1 for r in [*ones, *threes]}
    assert first.provenance["options"]["mosaic_threshold"] == 0.75
    assert capped.class_counts == {"1": {"samples": 3, "plots": 3}, "3": {"samples": 2, "plots": 2}}
    assert capped.provenance["capped_plots"] == {"1": 1}


def test_bad_freezes_are_refused_and_nothing_is_stored(pool, coordinator):
    kwargs = {"actor": coordinator, "legend": pool["legend"], "feature_set": pool["feature_set"]}
    # an empty pool
    with pytest.raises(PoolError) as err:
        training_pool_freeze(name="empty", **kwargs)
    assert err.value.code == "empty"
    # a cap below one plot
    with pytest.raises(PoolError) as err:
        training_pool_freeze(name="zero", max_plots_per_class=0, **kwargs)
    assert err.value.code == "invalid_cap"
    assert TrainingSet.objects.count() == 0


def test_a_frozen_pool_exports_and_reopens_with_gdal(pool, botanist, coordinator, tmp_path):
    # given a training set frozen from two validated plots
    a = passed(pool, botanist, at=centre(50, 20), habitats=[(1, None)])
    b = passed(pool, botanist, at=centre(50, 520), habitats=[(3, None)])
    validate(a, coordinator)
    validate(b, coordinator)
    training_pool_consume()
    ts = training_pool_freeze(
        actor=coordinator, name="export-me", legend=pool["legend"], feature_set=pool["feature_set"]
    )
    # when it is exported with the command as a GeoPackage and as zipped CSV
    gpkg, csv = tmp_path / "ts.gpkg", tmp_path / "ts.zip"
    call_command("export_training_set", "export-me", "--format", "gpkg", "--output", str(gpkg))
    call_command("export_training_set", "export-me", "--format", "csv", "--output", str(csv))
    # then GDAL reads one point per pixel with its label, class code and features
    assert pyogrio.read_info(gpkg, layer="training_samples")["crs"] == "EPSG:2154"
    meta, _, geometry, fields = pyogrio.raw.read(gpkg, layer="training_samples")
    column = dict(zip(meta["fields"].tolist(), fields, strict=True))
    assert column["plot"].tolist() == [a.pk, b.pk]
    assert column["label"].tolist() == [1, 3]
    assert column["class_code"].tolist() == ["C1", "C3"]
    b1 = pool["bands"][0]
    assert column["b1"].tolist() == [float(b1[50, 20]), float(b1[50, 520])]
    points = [GEOSGeometry(memoryview(g)) for g in geometry]
    assert [(p.x, p.y) for p in points] == [centre(50, 20), centre(50, 520)]
    with zipfile.ZipFile(csv) as archive:
        lines = archive.read("training_samples.csv").decode().splitlines()
    assert len(lines) == 3
    assert ts.n_samples == 2


def test_training_set_export_refuses_bad_input(pool, tmp_path):
    # an unknown training set, and an unknown format: nothing is written
    with pytest.raises(CommandError, match="not_found"):
        call_command("export_training_set", "nope", "--format", "gpkg", "--output", str(tmp_path / "x.gpkg"))
    with pytest.raises(CommandError, match="bad_output"):
        call_command("export_training_set", "nope2", "--format", "gpkg", "--output", "/nonexistent/dir/x.gpkg")
    assert not (tmp_path / "x.gpkg").exists()


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_worker_updates_the_pool_after_the_validation_commits(
    celery_worker, tmp_path, settings, botanist, coordinator
):
    # given the landscape's pool (the worker uses the newest feature set and the active legend)
    scene = make_pool(tmp_path, coordinator)
    releve = passed(scene, botanist, at=centre(60, 300), habitats=[(2, None)])
    # when the coordinator validates it
    validate(releve, coordinator)
    # then a worker builds its sample after the commit
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not TrainingSample.objects.filter(releve=releve).exists():
        time.sleep(0.2)
    sample = TrainingSample.objects.get(releve=releve)
    assert (sample.status, sample.label, sample.n_pixels) == ("included", 2, 1)
    # and un-validating it removes the sample the same way
    releve_review(releve_id=releve.pk, actor=coordinator, action="reject", comment="Wrong plot")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and TrainingSample.objects.filter(releve=releve).exists():
        time.sleep(0.2)
    assert not TrainingSample.objects.filter(releve=releve).exists()
    assert TrainingPoolEvent.objects.filter(processed_at__isnull=True).count() == 0
