"""Accuracy of a stored map run: the validation plan drawn from the map, the assessment from validated relevés."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command
from django.core.management.base import CommandError

from classification.accuracy import ValidationSample, allocate, error_matrix, estimate_olofsson, estimate_stehman
from classification.mapping.maps import class_pixel_counts, values_at
from classification.models import AccuracyAssessment, JobStatus, SamplePoint, SamplingPlan
from classification.services.accuracy import (
    AccuracyServiceError,
    accuracy_assessment_run,
    map_run_classes_path,
    validation_plan_create,
)
from classification.services.mapping import map_run_finish, map_run_start, map_tile_predict
from classification.services.sampling import sampling_plan_create, stratification_create_from_polygons
from fieldcollect.models import ReleveStatus, Role
from habitats.models import LegendRule, MapClass
from tests.conftest import make_user, token_client
from tests.factories import HabitatAssignmentFactory, HabitatUnitFactory, ReleveFactory, TypologyFactory
from tests.qc.db_builders import campaign_2026, coordinate

from .test_mapping_services import trained

pytestmark = pytest.mark.django_db
X0, Y0 = 600_000.0, 6_300_000.0  # the synthetic landscape's top-left corner, 10 m cells, 600 × 400 px
HA = 0.01  # one 10 m pixel in hectares


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def truth_at(x):
    """The synthetic truth: vertical bands of class 1, 2, 3 (200 columns each)."""
    col = int((x - X0) // 10)
    return 1 if col < 200 else 2 if col < 400 else 3


def finished_run(tmp_path, django_capture_on_commit_callbacks, *, campaign=None):
    """A finished 3-class map of the synthetic landscape, its legend with one habitat unit per class."""
    _, model = trained(tmp_path)
    with django_capture_on_commit_callbacks(execute=False):
        run = map_run_start(actor=None, model=model, name="map 2026", campaign=campaign, tile_size=256)
    for tile in run.tiles.all():
        map_tile_predict(tile_id=tile.pk)
    run = map_run_finish(run_id=run.pk)
    assert run.status == JobStatus.SUCCEEDED
    legend = model.training_set.legend
    typology = TypologyFactory(cd_typo=107)
    units = {}
    for value in (1, 2, 3):
        units[value] = HabitatUnitFactory(cd_hab=920_000 + value, typology=typology, code=f"Y{value}")
        LegendRule.objects.create(map_class=MapClass.objects.get(legend=legend, value=value), unit=units[value])
    return run, units


@pytest.fixture
def world(tmp_path, media, botanist, django_capture_on_commit_callbacks):
    campaign = campaign_2026()
    run, units = finished_run(tmp_path, django_capture_on_commit_callbacks, campaign=campaign)
    return {"run": run, "units": units, "campaign": campaign, "botanist": botanist}


def visit(world, point, value, *, status=ReleveStatus.VALIDATED, link="uuid", unit=None):
    """A relevé at the point recording habitat class ``value``, linked by the visit report or the tablet's ref."""
    releve = ReleveFactory(
        campaign=world["campaign"],
        observer=world["botanist"],
        location=point.location,
        status=status,
        sample_point_ref=str(point.pk) if link == "ref" else "",
    )
    HabitatAssignmentFactory(releve=releve, habitat=unit or world["units"][value])
    if link == "uuid":
        SamplePoint.objects.filter(pk=point.pk).update(state="visited", releve_uuid=releve.uuid)
    return releve


def plan_of(world, **kwargs):
    options = {"total_size": 60, "minimum": 15, "seed": 7, "name": "validation 2026", **kwargs}
    return validation_plan_create(actor=None, map_run=world["run"], campaign=world["campaign"], **options)


def test_the_validation_plan_is_stratified_by_the_map_classes(world):
    run = world["run"]
    # when a 60-point validation plan is drawn from the finished map, at least 15 points per class
    plan = plan_of(world)
    # then its strata are the map's classes with their mapped pixel counts
    mapped = class_pixel_counts(map_run_classes_path(run))
    strata = {s.value: s.pixel_count for s in plan.stratification.strata.all()}
    assert strata == mapped and set(strata) == {1, 2, 3}
    # and the counts are those of the accuracy allocation helper (minimum then proportional)
    expected = allocate(
        60, mapped_area={str(v): float(n) for v, n in mapped.items()}, method="minimum_then_proportional", minimum=15
    )
    per_stratum = {ps.stratum.value: ps.allocated for ps in plan.plan_strata.select_related("stratum")}
    assert per_stratum == {int(k): n for k, n in expected.items()}
    assert plan.points.count() == 60 and plan.allocation == "minimum_then_proportional"
    # and every point lies on a pixel of its own class, with inclusion probability n_h / N_h
    points = list(plan.points.select_related("stratum"))
    values = values_at(map_run_classes_path(run), [p.location.x for p in points], [p.location.y for p in points])
    assert [p.stratum.value for p in points] == values.tolist()
    for p in points:
        assert p.inclusion_probability == pytest.approx(per_stratum[p.stratum.value] / mapped[p.stratum.value])
    design = plan.parameters["validation"]
    assert design["map_run"] == run.pk and 0 < design["anticipated_se"]["overall_accuracy"] < 0.1
    # when a second plan is sized for a target standard error, it reuses the stratification
    second = plan_of(world, name="validation 2026 b", total_size=None, target_overall_se=0.05, seed=8)
    assert second.stratification_id == plan.stratification_id
    assert second.points.count() == sum(second.parameters["validation"]["counts"].values()) > 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"total_size": None}, "size_required"),
        ({"target_overall_se": 0.05}, "size_required"),
        ({"total_size": 1}, "invalid_size"),
        ({"allocation": "by_hand"}, "bad_parameter"),
        ({"expected_users_accuracy": {9: 0.8}}, "unknown_class"),
        ({"name": "taken"}, "duplicate"),
    ],
)
def test_validation_plan_refusals(world, change, code):
    plan_of(world, name="taken")
    with pytest.raises(AccuracyServiceError) as err:
        plan_of(world, **change)
    assert err.value.code == code
    assert SamplingPlan.objects.count() == 1


def test_an_assessment_from_truthful_releves_agrees_with_the_synthetic_truth(world):
    # given a validation plan whose every point got a validated relevé recording the synthetic truth
    plan = plan_of(world, total_size=90, minimum=25)
    for point in plan.points.all():
        visit(world, point, truth_at(point.location.x))
    # when the map run is assessed with the plan
    assessment = accuracy_assessment_run(map_run=world["run"], sampling_plan=plan, actor=None)
    # then the strata are the map classes (Olofsson et al. 2014), every point is used
    assert (assessment.method, assessment.n_points, assessment.n_used) == ("olofsson2014", 90, 90)
    assert assessment.exclusions == [] and assessment.area_unit == "ha"
    report = assessment.report
    assert report["classes"] == ["C1", "C2", "C3"] and report["sample_size"] == 90
    # and the estimated class areas and overall accuracy agree with the synthetic truth (within the mapped
    # pixels) to 3 standard errors (+1 %: a class whose sampled units are all correct has a zero SE)
    with rasterio.open(map_run_classes_path(world["run"])) as ds:
        classes = ds.read(1)
    truth = np.broadcast_to(np.where(np.arange(600) < 200, 1, np.where(np.arange(600) < 400, 2, 3)), (400, 600))
    mapped = classes != 0
    for row in report["per_class"]:
        value = int(row["class"][1:])
        true_area = float(np.sum(truth[mapped] == value)) * HA
        assert abs(row["area"]["estimate"] - true_area) <= 3 * row["area"]["se"] + 0.01 * true_area, row
        assert row["mapped_area"] == pytest.approx(float(np.sum(classes == value)) * HA)
    agreement = float(np.mean(classes[mapped] == truth[mapped]))
    oa = report["overall_accuracy"]
    assert abs(oa["estimate"] - agreement) <= 3 * oa["se"] + 0.01, (oa, agreement)
    assert {c["value"] for c in assessment.classes} == {1, 2, 3}


def test_errors_and_unused_points_are_counted_and_reported(world):
    run = world["run"]
    legend = run.model.training_set.legend
    # given a fourth legend class that the map never predicts, reached by its own habitat unit
    rare = HabitatUnitFactory(cd_hab=920_004, typology=TypologyFactory(cd_typo=107), code="Y4")
    LegendRule.objects.create(
        map_class=MapClass.objects.create(legend=legend, value=4, code="C4", name="rare"), unit=rare
    )
    orphan = HabitatUnitFactory(cd_hab=920_009, typology=TypologyFactory(cd_typo=107), code="Y9")  # no rule
    plan = plan_of(world, total_size=60, minimum=15)
    points = list(plan.points.select_related("stratum").order_by("number"))
    by_class = {v: [p for p in points if p.stratum.value == v] for v in (1, 2, 3)}
    # and relevés: two say class 4, two disagree with the map, one linked by the tablet's point reference;
    # and unusable points of every kind
    special = {
        by_class[1][0].pk: lambda p: visit(world, p, 4, unit=rare),
        by_class[2][0].pk: lambda p: visit(world, p, 4, unit=rare),
        by_class[2][1].pk: lambda p: visit(world, p, 3),
        by_class[3][1].pk: lambda p: visit(world, p, 1),
        by_class[3][2].pk: lambda p: visit(world, p, 3, link="ref"),
        by_class[1][1].pk: lambda p: None,  # never visited
        by_class[1][2].pk: lambda p: visit(world, p, 1, status=ReleveStatus.QC_PASSED),
        by_class[2][2].pk: lambda p: visit(world, p, 2, unit=orphan),
        by_class[3][0].pk: lambda p: SamplePoint.objects.filter(pk=p.pk).update(state="inaccessible", reason="cliff"),
    }  # fmt: skip
    for p in points:
        if p.pk in special:
            special[p.pk](p)
        else:
            visit(world, p, p.stratum.value)
    reference = {p.pk: p.stratum.value for p in points if p.pk not in special}
    reference |= {by_class[1][0].pk: 4, by_class[2][0].pk: 4, by_class[2][1].pk: 3, by_class[3][1].pk: 1}
    reference[by_class[3][2].pk] = 3
    # when the run is assessed
    assessment = accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=world["botanist"])
    # then the four unusable points are listed with their reasons, none dropped silently
    assert assessment.exclusion_counts == {
        "not_visited": 1, "releve_not_validated": 1, "unmapped_habitat": 1, "inaccessible": 1,
    }  # fmt: skip
    assert sorted(e["point"] for e in assessment.exclusions) == sorted(
        p.number for p in (by_class[1][1], by_class[1][2], by_class[2][2], by_class[3][0])
    )
    assert (assessment.n_points, assessment.n_used) == (60, 56)
    # and the report is exactly Olofsson's estimator on these counts and the mapped areas (ha), class 4 included
    used = [p for p in points if p.pk in reference]
    names = ["C1", "C2", "C3", "C4"]
    counts = error_matrix([f"C{p.stratum.value}" for p in used], [f"C{reference[p.pk]}" for p in used], names)
    mapped = class_pixel_counts(map_run_classes_path(run))
    expected = estimate_olofsson(
        counts=counts, classes=names, mapped_area={f"C{v}": mapped.get(v, 0) * HA for v in (1, 2, 3, 4)}
    ).as_dict()
    report = assessment.report
    assert report["error_matrix"]["sample_counts"] == counts.tolist()
    assert report["error_matrix"]["sample_counts"][1][3] == 1 and report["error_matrix"]["sample_counts"][2][0] == 1
    assert report["overall_accuracy"] == expected["overall_accuracy"]
    assert report["per_class"] == expected["per_class"]
    assert any("C4 never mapped" in note for note in report["notes"])
    assert any("4 of 60 points unused" in note for note in report["notes"])
    assert report["per_class"][3]["producers_accuracy"]["estimate"] == 0.0


def test_a_plan_not_stratified_by_the_map_uses_stehman(world):
    # given a plan stratified by two polygons (west and east halves of the landscape), points validated
    campaign = world["campaign"]
    west = MultiPolygon(Polygon.from_bbox((X0, Y0 - 4000, X0 + 3000, Y0)), srid=2154)
    east = MultiPolygon(Polygon.from_bbox((X0 + 3000, Y0 - 4000, X0 + 6000, Y0)), srid=2154)
    stratification = stratification_create_from_polygons(
        campaign=campaign, name="halves", strata=[(1, "west", west), (2, "east", east)]
    )
    plan = sampling_plan_create(
        actor=None, campaign=campaign, stratification=stratification, name="halves", allocation="equal",
        total_size=40, seed=3,
    )  # fmt: skip
    points = list(plan.points.select_related("stratum").order_by("number"))
    for p in points:
        visit(world, p, truth_at(p.location.x))
    # when the run is assessed
    assessment = accuracy_assessment_run(map_run=world["run"], sampling_plan=plan, actor=None)
    # then Stehman's estimator is used, with the strata's eligible cells as their sizes (ha)
    assert assessment.method == "stehman2014"
    map_values = values_at(
        map_run_classes_path(world["run"]), [p.location.x for p in points], [p.location.y for p in points]
    )
    keep = [i for i, v in enumerate(map_values.tolist()) if v != 0]  # points in the nodata hole are unused
    expected = estimate_stehman(
        sample=ValidationSample(
            stratum=[f"stratum {points[i].stratum.value}" for i in keep],
            map_class=[f"C{map_values[i]}" for i in keep],
            reference_class=[f"C{truth_at(points[i].location.x)}" for i in keep],
        ),
        stratum_sizes={f"stratum {ps.stratum.value}": ps.eligible_pixel_count * HA for ps in plan.plan_strata.all()},
        classes=["C1", "C2", "C3"],
    ).as_dict()
    assert assessment.report["overall_accuracy"] == expected["overall_accuracy"]
    assert assessment.report["per_class"] == expected["per_class"]
    assert assessment.n_used == len(keep)
    assert assessment.exclusion_counts == ({"map_nodata": 40 - len(keep)} if len(keep) < 40 else {})


def test_refusals_store_nothing(world, tmp_path, django_capture_on_commit_callbacks):
    run = world["run"]
    plan = plan_of(world)
    # a plan whose points were never visited
    with pytest.raises(AccuracyServiceError) as err:
        accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=None)
    assert err.value.code == "no_usable_point" and "60 not_visited" in err.value.message
    # a class left with a single usable point
    points = list(plan.points.select_related("stratum"))
    for p in points:
        if p.stratum.value != 2 or p == next(q for q in points if q.stratum.value == 2):
            visit(world, p, p.stratum.value)
    with pytest.raises(AccuracyServiceError) as err:
        accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=None)
    assert err.value.code == "stratum_too_small"
    assert "'C2'" in err.value.message and "not_visited" in err.value.message
    # a plan of another campaign than the run's
    other = campaign_2026(slug="elsewhere-2026", name="Elsewhere")
    foreign = SamplingPlan.objects.create(
        campaign=other, stratification=plan.stratification, name="x", allocation="equal", total_size=0, seed=0
    )
    with pytest.raises(AccuracyServiceError) as err:
        accuracy_assessment_run(map_run=run, sampling_plan=foreign, actor=None)
    assert (err.value.code, err.value.field) == ("wrong_campaign", "plan")
    with pytest.raises(AccuracyServiceError) as err:
        validation_plan_create(actor=None, map_run=run, campaign=other, name="v", seed=1, total_size=30)
    assert err.value.code == "wrong_campaign"
    # a run that has not finished
    run.status = JobStatus.RUNNING
    run.save()
    with pytest.raises(AccuracyServiceError) as err:
        accuracy_assessment_run(map_run=run, sampling_plan=plan, actor=None)
    assert (err.value.code, err.value.field) == ("run_not_finished", "map_run")
    assert AccuracyAssessment.objects.count() == 0


def _all_visited(world, plan):
    for p in plan.points.select_related("stratum"):
        visit(world, p, truth_at(p.location.x))


def test_command_assesses_a_stored_run_and_prints_a_stored_assessment(world):
    run = world["run"]
    plan = plan_of(world)
    _all_visited(world, plan)
    # when the command assesses the run with the plan
    out, err = io.StringIO(), io.StringIO()
    call_command("accuracy_report", "--map-run", str(run.pk), "--plan", str(plan.pk), stdout=out, stderr=err)
    # then the assessment is stored and printed as JSON
    stored = AccuracyAssessment.objects.get()
    document = json.loads(out.getvalue())
    assert document["id"] == stored.pk and document["report"] == stored.report
    assert f"Stored accuracy assessment {stored.pk} (olofsson2014): 60 of 60 points used" in err.getvalue()
    # and a stored assessment prints as CSV rows: overall accuracy, then 4 measures × 3 classes
    out = io.StringIO()
    call_command("accuracy_report", "--assessment", str(stored.pk), "--format", "csv", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "measure,class,estimate,se,ci_low,ci_high" and len(lines) == 1 + 1 + 12
    assert lines[1].startswith(f"overall_accuracy,,{stored.report['overall_accuracy']['estimate']}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map-run", "1"], r"--map-run needs --plan"),
        (["--plan", "1"], r"--map-run needs --plan"),
        (["--map-run", "999999", "--plan", "1"], r"\[unknown_map_run\]"),
        (["--assessment", "999999"], r"\[not_found\]"),
        (["--assessment", "1", "--plan", "1"], r"either --assessment"),
    ],
)
def test_command_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("accuracy_report", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_command_refuses_an_unfinished_run_and_an_unknown_plan(world):
    run = world["run"]
    with pytest.raises(CommandError, match=r"\[unknown_plan\]"):
        call_command("accuracy_report", "--map-run", str(run.pk), "--plan", "999999", stderr=io.StringIO())
    plan = plan_of(world)
    run.status = JobStatus.FAILED
    run.save()
    with pytest.raises(CommandError, match=r"\[run_not_finished\]"):
        call_command("accuracy_report", "--map-run", str(run.pk), "--plan", str(plan.pk), stderr=io.StringIO())
    assert AccuracyAssessment.objects.count() == 0


def test_make_validation_plan_command(world):
    out = io.StringIO()
    call_command(
        "make_validation_plan", "--map-run", str(world["run"].pk), "--campaign", world["campaign"].slug,
        "--name", "v", "--seed", "1", "--total", "45", "--minimum", "10", "--activate", stdout=out,
    )  # fmt: skip
    plan = SamplingPlan.objects.get(name="v")
    assert plan.status == "active" and plan.points.count() == 45
    assert f"Plan {plan.pk} 'v': 45 points in 3 map classes" in out.getvalue()
    with pytest.raises(CommandError, match=r"\[unknown_map_run\]"):
        call_command("make_validation_plan", "--map-run", "999999", "--campaign", "x", "--name", "w", "--seed", "1",
                     "--total", "10")  # fmt: skip
    with pytest.raises(CommandError, match=r"\[unknown_campaign\]"):
        call_command("make_validation_plan", "--map-run", str(world["run"].pk), "--campaign", "nope", "--name", "w",
                     "--seed", "1", "--total", "10")  # fmt: skip


def test_api_assesses_for_modellers_and_the_campaigns_coordinators(world, coordinator):
    run = world["run"]
    plan = plan_of(world)
    _all_visited(world, plan)
    modeller = make_user("modeller", Role.MODELLER)
    coordinate(coordinator, world["campaign"])
    outsider = make_user("outsider", Role.COORDINATOR)
    coordinate(outsider, campaign_2026(slug="elsewhere-2026", name="Elsewhere"))
    url = "/api/v1/accuracy-assessments/"
    # a modeller assesses: 201 with the report, the classes and the (empty) exclusions
    response = token_client(modeller, "m").post(url, {"map_run": run.pk, "plan": plan.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["method"] == "olofsson2014" and body["n_used"] == 60 and body["exclusions"] == []
    assert body["report"]["error_matrix"]["rows"] == "map class"
    # the campaign's coordinator too; a coordinator of another campaign and a botanist are refused
    assert (
        token_client(coordinator, "c").post(url, {"map_run": run.pk, "plan": plan.pk}, format="json").status_code == 201
    )
    refused = token_client(outsider, "o").post(url, {"map_run": run.pk, "plan": plan.pk}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    botanist = token_client(world["botanist"], "b").post(url, {"map_run": run.pk, "plan": plan.pk}, format="json")
    assert botanist.status_code == 403
    # reading: the modeller sees both, the outsider none (404 on the detail)
    assert len(token_client(modeller, "m2").get(f"{url}?map_run={run.pk}").json()["results"]) == 2
    assert token_client(outsider, "o2").get(url).json()["results"] == []
    assert token_client(outsider, "o3").get(f"{url}{body['id']}/").status_code == 404
    detail = token_client(coordinator, "c2").get(f"{url}{body['id']}/").json()
    assert detail["report"] == body["report"]
    assert AccuracyAssessment.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"plan": 1}, 400, "required", "map_run"),
        ({"map_run": "abc", "plan": 1}, 400, "invalid", "map_run"),
        ({"map_run": True, "plan": 1}, 400, "invalid", "map_run"),
        ({"map_run": 999999, "plan": 1}, 400, "unknown_map_run", "map_run"),
        ({"map_run": "RUN", "plan": 999999}, 400, "unknown_plan", "plan"),
        ({"map_run": "RUN", "plan": "PLAN"}, 400, "no_usable_point", "plan"),
        ({"map_run": "UNFINISHED", "plan": "PLAN"}, 409, "run_not_finished", "map_run"),
    ],
)
def test_api_bad_input(world, payload, status, code, field):
    modeller = make_user("modeller", Role.MODELLER)
    plan = plan_of(world)
    run = world["run"]
    if payload.get("map_run") == "UNFINISHED":
        run.status = JobStatus.RUNNING
        run.save()
    ids = {"RUN": run.pk, "UNFINISHED": run.pk, "PLAN": plan.pk}
    payload = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    response = token_client(modeller, "m").post("/api/v1/accuracy-assessments/", payload, format="json")
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert field in body["errors"]
    assert AccuracyAssessment.objects.count() == 0


def test_admin_shows_the_error_matrix_and_the_estimates(world, admin_client):
    plan = plan_of(world)
    _all_visited(world, plan)
    assessment = accuracy_assessment_run(map_run=world["run"], sampling_plan=plan, actor=None)
    page = admin_client.get(f"/admin/classification/accuracyassessment/{assessment.pk}/change/").content.decode()
    assert 'class="error-matrix"' in page
    counts = assessment.report["error_matrix"]["sample_counts"]
    assert f"<td><b>{sum(map(sum, counts))}</b></td></tr></table>" in page
    oa = assessment.report["overall_accuracy"]
    assert f"{oa['estimate']:,.3f} ± {1.96 * oa['se']:,.3f} [{oa['ci_low']:,.3f}, {oa['ci_high']:,.3f}]" in page
    assert "user&#x27;s accuracy" in page or "user's accuracy" in page
    run_page = admin_client.get(f"/admin/classification/maprun/{world['run'].pk}/change/").content.decode()
    assert f"/admin/classification/accuracyassessment/{assessment.pk}/change/" in run_page
    assert admin_client.get("/admin/classification/accuracyassessment/").status_code == 200
    assert Path(map_run_classes_path(world["run"])).is_file()
