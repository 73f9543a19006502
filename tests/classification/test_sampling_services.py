"""Sampling plans in the database: strata, plan creation, assignment, visits, progress, top-ups, exports, pull hook."""

import csv
import datetime as dt
import io
import uuid

import numpy as np
import pyogrio
import pytest
from affine import Affine
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.utils import timezone

from classification.models import SamplePoint, SamplePointEvent, SamplingPlan, Stratification, Stratum
from classification.sampling import SamplingError
from classification.selectors import (
    sample_point_list_for_user,
    sample_point_unassigned_for_user,
    sampling_plan_progress,
)
from classification.services.rasters import raster_layer_register
from classification.services.sampling import (
    Exclusion,
    sample_point_assign,
    sample_point_report,
    sample_points_assign_by_zone,
    sampling_plan_create,
    sampling_plan_export_csv,
    sampling_plan_export_gpkg,
    sampling_plan_top_up,
    stratification_create_from_polygons,
    stratification_create_from_raster,
)
from fieldcollect.models import Campaign

from .rasterfiles import write_tif

pytestmark = pytest.mark.django_db
X0, Y1 = 700_000.0, 6_300_000.0


@pytest.fixture
def campaign():
    region = MultiPolygon(Polygon.from_bbox((X0, Y1 - 3000, X0 + 3000, Y1)), srid=2154)
    return Campaign.objects.create(
        slug="c", name="C", year=2027, region=region, starts_on=dt.date(2027, 4, 1), ends_on=dt.date(2027, 9, 30)
    )


@pytest.fixture
def layers(tmp_path):
    # a 300×300 strata raster at 10 m: 1 west, 2 middle, 3 east; nodata 0 on the top 10 rows;
    # and a "slope" raster, steep (40°) on the eastern 50 columns
    strata = np.ones((300, 300), dtype=np.uint16)
    strata[:, 100:200] = 2
    strata[:, 200:] = 3
    strata[:10] = 0
    slope = np.zeros((300, 300), dtype=np.float32)
    slope[:, 250:] = 40
    t = Affine(10, 0, X0, 0, -10, Y1)
    strata_layer, _ = raster_layer_register(
        uri=write_tif(tmp_path / "strata.tif", strata, nodata=0, transform=t), name="premap", kind="strata",
        is_categorical=True,
    )  # fmt: skip
    slope_layer, _ = raster_layer_register(
        uri=write_tif(tmp_path / "slope.tif", slope, transform=t), name="slope", kind="slope"
    )
    return strata_layer, slope_layer


@pytest.fixture
def stratification(campaign, layers):
    return stratification_create_from_raster(
        campaign=campaign, name="premap", layer=layers[0], labels={1: "forest", 2: "grassland", 3: "scrub"}
    )


def make_plan(campaign, stratification, **kw):
    args = {
        "actor": None,
        "campaign": campaign,
        "stratification": stratification,
        "name": "plan",
        "allocation": "proportional",
        "total_size": 30,
        "seed": 1,
        "min_distance_m": 100.0,
    }
    return sampling_plan_create(**{**args, **kw})


def test_strata_areas_from_a_raster_are_exact(stratification):
    strata = {s.value: (s.label, s.pixel_count, s.area_m2) for s in stratification.strata.all()}
    assert strata == {
        1: ("forest", 29000, 2_900_000.0),
        2: ("grassland", 29000, 2_900_000.0),
        3: ("scrub", 29000, 2_900_000.0),
    }


def test_strata_from_polygons_keep_exact_polygon_areas(campaign):
    west = MultiPolygon(Polygon.from_bbox((X0, Y1 - 1000, X0 + 1000, Y1)), srid=2154)
    east = MultiPolygon(Polygon(((X0 + 1000, Y1), (X0 + 2000, Y1), (X0 + 1000, Y1 - 1000), (X0 + 1000, Y1))), srid=2154)
    stratification = stratification_create_from_polygons(
        campaign=campaign, name="zones", strata=[(1, "west", west), (2, "east triangle", east)], resolution=10
    )
    strata = {s.value: s for s in stratification.strata.all()}
    assert strata[1].area_m2 == 1_000_000.0 and strata[1].pixel_count == 10_000
    assert strata[2].area_m2 == 500_000.0  # exact, whatever the rasterised count
    assert 4_900 <= strata[2].pixel_count <= 5_100
    plan = make_plan(campaign, stratification, total_size=20, allocation="equal")
    for point in plan.points.select_related("stratum"):
        assert point.stratum.geometry.contains(point.location)


def test_plan_with_exclusion_and_minimum_distance(campaign, stratification, layers):
    # when a plan excludes slopes above 30°
    plan = make_plan(campaign, stratification, exclusions=[Exclusion(layer_id=layers[1].pk, above=30, label="steep")])
    # then allocation follows the eligible areas (stratum 3 half excluded): 29000 : 29000 : 14500 of 30 → 12, 12, 6
    rows = {
        ps.stratum.value: (ps.eligible_pixel_count, ps.allocated) for ps in plan.plan_strata.select_related("stratum")
    }
    assert rows == {1: (29000, 12), 2: (29000, 12), 3: (14500, 6)}
    points = list(plan.points.select_related("stratum"))
    assert len(points) == 30
    assert all(p.location.x < X0 + 2500 for p in points)  # never on the steep band
    assert [p.number for p in points] == list(range(1, 31))
    p3 = next(p for p in points if p.stratum.value == 3)
    assert p3.inclusion_probability == pytest.approx(6 / 14500)
    xy = np.array([(p.location.x, p.location.y) for p in points])
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + np.eye(30) * 1e9
    assert d.min() >= 100
    # and the same seed gives the same plan
    again = make_plan(campaign, stratification, name="again", exclusions=[Exclusion(layer_id=layers[1].pk, above=30)])
    assert [p.location.coords for p in again.points.all()] == [p.location.coords for p in points]


def test_exclusion_covering_a_stratum_is_an_error_unless_dropped(campaign, stratification, layers):
    # given an exclusion of stratum 3's whole area (values of the strata raster itself)
    exclusion = Exclusion(layer_id=layers[0].pk, values=(3,))
    # when a plan is made, then it is refused and nothing is stored
    with pytest.raises(SamplingError) as error:
        make_plan(campaign, stratification, exclusions=[exclusion])
    assert error.value.code == "empty_stratum"
    assert error.value.details == {"strata": [3]}
    assert SamplingPlan.objects.count() == 0 and SamplePoint.objects.count() == 0
    # when the caller drops empty strata explicitly, then the plan is made and says so
    plan = make_plan(campaign, stratification, exclusions=[exclusion], drop_empty_strata=True)
    assert plan.parameters["dropped_strata"] == [3]
    assert plan.points.filter(stratum__value=3).count() == 0
    assert plan.points.count() == 30


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"min_per_stratum": 11}, "minimum_exceeds_total"),
        ({"allocation": "neyman"}, "std_devs_required"),
        ({"min_distance_m": 2000.0}, "not_enough_room"),
        ({"min_distance_m": -1.0}, "invalid_distance"),
        ({"total_size": 10**6}, "total_exceeds_population"),
    ],
)
def test_bad_plans_are_refused_and_store_nothing(campaign, stratification, kw, code):
    with pytest.raises(SamplingError) as error:
        make_plan(campaign, stratification, **kw)
    assert error.value.code == code
    assert SamplingPlan.objects.count() == 0 and SamplePoint.objects.count() == 0


def test_neyman_from_expected_accuracies(campaign, stratification):
    Stratum.objects.filter(stratification=stratification, value=1).update(expected_accuracy=0.5)
    Stratum.objects.filter(stratification=stratification, value__in=[2, 3]).update(expected_accuracy=0.9)
    plan = make_plan(campaign, stratification, allocation="neyman", total_size=22)
    # S = 0.5, 0.3, 0.3 with equal areas: 22 × 5/11, 3/11, 3/11 = 10, 6, 6
    assert [ps.allocated for ps in plan.plan_strata.order_by("stratum__value")] == [10, 6, 6]


def test_assignment_by_zone_and_by_hand_is_audited_and_reaches_the_pull(
    campaign, stratification, botanist, other_botanist, coordinator
):
    plan = make_plan(campaign, stratification)
    plan.status = SamplingPlan.Status.ACTIVE
    plan.save()
    before = timezone.now()
    west = Polygon.from_bbox((X0, Y1 - 3000, X0 + 1500, Y1))
    west.srid = 2154
    east = Polygon.from_bbox((X0 + 1500, Y1 - 3000, X0 + 3000, Y1))
    east.srid = 2154
    counts = sample_points_assign_by_zone(
        actor=coordinator, plan=plan, zones=[(botanist, west), (other_botanist, east)]
    )
    assert counts["botanist"] + counts["other_botanist"] == 30
    mine = list(sample_point_list_for_user(botanist))
    assert len(mine) == counts["botanist"]
    assert all(p.location.x < X0 + 1500 for p in mine)
    # when the coordinator moves one point to the other botanist
    moved = mine[0]
    sample_point_assign(actor=coordinator, points=[moved.pk], assignee=other_botanist)
    # then the first botanist's pull shows it taken away, the other's shows it changed since `before`
    assert sample_point_unassigned_for_user(botanist, since=before) == [moved.pk]
    assert moved.pk in [p.pk for p in sample_point_list_for_user(other_botanist, since=before)]
    assert SamplePointEvent.objects.filter(point=moved).count() == 2
    # points of a draft plan never reach tablets
    plan.status = SamplingPlan.Status.DRAFT
    plan.save()
    assert list(sample_point_list_for_user(other_botanist)) == []


def test_visits_progress_and_top_up(campaign, stratification, botanist, other_botanist, coordinator):
    plan = make_plan(campaign, stratification)
    points = list(plan.points.select_related("stratum").order_by("number"))
    sample_point_assign(actor=coordinator, points=[p.pk for p in points], assignee=botanist)
    releve = uuid.uuid4()
    sample_point_report(actor=botanist, point=points[0], state="visited", releve_uuid=releve)
    sample_point_report(actor=botanist, point=points[1], state="inaccessible", reason="cliff")
    sample_point_report(actor=botanist, point=points[2], state="refused", reason="owner refused")
    # bad reports are refused and change nothing
    with pytest.raises(SamplingError) as error:
        sample_point_report(actor=botanist, point=points[3], state="refused", reason="  ")
    assert error.value.code == "reason_required"
    with pytest.raises(SamplingError) as error:
        sample_point_report(actor=other_botanist, point=points[3], state="visited")
    assert error.value.code == "not_assigned"
    with pytest.raises(SamplingError) as error:
        sample_point_report(actor=botanist, point=points[3], state="lost")
    assert error.value.code == "invalid_state"
    assert SamplePoint.objects.get(pk=points[3].pk).state == "pending"
    assert SamplePoint.objects.get(pk=points[0].pk).releve_uuid == releve
    # progress per stratum and botanist
    progress = sampling_plan_progress(plan)
    s1 = next(s for s in progress["strata"] if s["value"] == points[0].stratum.value)
    assert s1["visited"] >= 1
    assert sum(s["visited"] for s in progress["strata"]) == 1
    assert sum(s["inaccessible"] + s["refused"] for s in progress["strata"]) == 2
    assert progress["botanists"] == [
        {"username": "botanist", "pending": 27, "visited": 1, "inaccessible": 1, "refused": 1, "points": 30}
    ]
    # re-allocation: the two lost points are replaced in their strata, in a new batch, far enough from all
    added = sampling_plan_top_up(actor=coordinator, plan=plan, seed=99)
    assert sum(added.values()) == 2
    new = list(plan.points.filter(batch=1))
    assert len(new) == 2 and [p.number for p in new] == [31, 32]
    assert sorted(p.stratum.value for p in new) == sorted([points[1].stratum.value, points[2].stratum.value])
    # a second top-up adds nothing: the losses are already replaced
    assert sampling_plan_top_up(actor=coordinator, plan=plan, seed=100) == {}


def test_exports_gpkg_and_csv(tmp_path, campaign, stratification, botanist, coordinator):
    plan = make_plan(campaign, stratification)
    sample_point_assign(actor=coordinator, points=list(plan.points.values_list("pk", flat=True))[:5], assignee=botanist)
    assert sampling_plan_export_gpkg(plan=plan, path=tmp_path / "plan.gpkg") == 30
    info = pyogrio.read_info(tmp_path / "plan.gpkg", layer="sample_points")
    assert info["features"] == 30 and info["crs"] == "EPSG:2154" and info["geometry_type"] == "Point"
    _, _, _geometry, fields = pyogrio.raw.read(tmp_path / "plan.gpkg", layer="sample_points")
    assert fields[0].tolist() == list(range(1, 31))
    stream = io.StringIO()
    assert sampling_plan_export_csv(plan=plan, stream=stream) == 30
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert len(rows) == 30
    assert sum(r["assignee"] == "botanist" for r in rows) == 5
    first = plan.points.get(number=1)
    assert float(rows[0]["x_l93"]) == pytest.approx(first.location.x, abs=0.01)
    assert 2.9 < float(rows[0]["longitude"]) < 3.1 and 43 < float(rows[0]["latitude"]) < 45


def test_stratification_bad_input(campaign, layers):
    with pytest.raises(SamplingError) as error:
        stratification_create_from_raster(campaign=campaign, name="x", layer=layers[1])
    assert error.value.code == "not_categorical"
    with pytest.raises(SamplingError) as error:
        stratification_create_from_polygons(campaign=campaign, name="x", strata=[])
    assert error.value.code == "no_strata"
    assert Stratification.objects.count() == 0


def test_make_sampling_plan_command(campaign, layers):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command(
        "make_sampling_plan", "--campaign", "c", "--strata", "premap", "--name", "cmd", "--total", "12",
        "--seed", "4", "--min-distance", "100", "--exclude", "slope:above=30", "--activate", stdout=out,
    )  # fmt: skip
    plan = SamplingPlan.objects.get(name="cmd")
    assert plan.points.count() == 12 and plan.status == "active"
    assert plan.exclusions[0]["above"] == 30.0
    with pytest.raises(CommandError, match=r"\[minimum_exceeds_total\]"):
        call_command(
            "make_sampling_plan", "--campaign", "c", "--strata", "premap", "--name", "bad", "--total", "5",
            "--minimum", "2", "--seed", "1",
        )  # fmt: skip
    with pytest.raises(CommandError, match=r"\[invalid_exclusion\]"):
        call_command(
            "make_sampling_plan", "--campaign", "c", "--strata", "premap", "--name", "bad", "--total", "5",
            "--seed", "1", "--exclude", "slope:steeper=3",
        )  # fmt: skip
    assert SamplingPlan.objects.count() == 1
