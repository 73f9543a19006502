"""Review by stratum and by habitat class: the list's stratum filter and the dashboard's progress tables."""

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from classification.models import FeatureSet, PlanStratum, SamplePoint, SamplingPlan, Stratification, Stratum
from classification.models import TrainingSample as Sample
from fieldcollect.admin_review import campaign_dashboard
from fieldcollect.models import ReleveStatus
from fieldcollect.selectors import releve_filter_stratum
from fieldcollect.services.accounts import role_permissions_sync
from fieldcollect.services.quality import qc_snapshots_load
from habitats.models import LegendRule, MapClass, MapLegend
from tests.factories import HabitatUnitFactory

from .db_builders import campaign_2026, coordinate, make_releve, reference

pytestmark = pytest.mark.django_db

LIST = "admin:fieldcollect_releve_changelist"
DASHBOARD = "admin:fieldcollect_releve_dashboard"


@pytest.fixture
def staff(client, coordinator):
    role_permissions_sync()
    coordinator.is_staff = True
    coordinator.save()
    client.force_login(coordinator)
    return client


def make_plan(campaign, labels, *, status=SamplingPlan.Status.ACTIVE, allocated=4, name="plan"):
    stratification = Stratification.objects.create(
        campaign=campaign, name=f"zones of {name}", source="vector", resolution=10
    )
    strata = [
        Stratum.objects.create(stratification=stratification, value=i + 1, label=label, pixel_count=1, area_m2=1)
        for i, label in enumerate(labels)
    ]
    plan = SamplingPlan.objects.create(
        campaign=campaign, stratification=stratification, name=name, allocation="equal", total_size=8, seed=1,
        status=status,
    )  # fmt: skip
    for stratum in strata:
        PlanStratum.objects.create(
            plan=plan, stratum=stratum, eligible_pixel_count=1, eligible_area_m2=1, allocated=allocated
        )
    return plan, strata


def add_point(plan, stratum, *, releve=None, state="pending"):
    number = plan.points.count() + 1
    return SamplePoint.objects.create(
        plan=plan, stratum=stratum, number=number, location=Point(720_000 + number, 6_280_000, srid=2154),
        inclusion_probability=0.5, releve_uuid=releve.uuid if releve is not None else None, state=state,
    )  # fmt: skip


@pytest.fixture
def world(botanist, coordinator):
    grassland, taxa = reference()
    campaign = campaign_2026()
    coordinate(coordinator, campaign)
    plan, (garrigue, forest) = make_plan(campaign, ["lowland garrigue", "montane forest"])
    make = lambda **kw: make_releve(observer=botanist, campaign=campaign, habitat=grassland, taxa=taxa, **kw)  # noqa: E731
    recorded = make()  # its point recorded its UUID
    add_point(plan, garrigue, releve=recorded, state="visited")
    named_point = add_point(plan, forest)
    named = make(sample_point_ref=str(named_point.pk))  # the tablet named the point, the visit is not reported
    # names the forest point but the garrigue point recorded it: the recorded visit wins
    both = make(sample_point_ref=str(named_point.pk), status=ReleveStatus.VALIDATED)
    add_point(plan, garrigue, releve=both, state="visited")
    loose = make(sample_point_ref="not-a-point")
    add_point(plan, forest, state="inaccessible")
    # a relevé of another campaign naming the garrigue point by id is not of that stratum
    other = campaign_2026(slug="elsewhere-2026", name="Elsewhere")
    foreign = make_releve(observer=botanist, campaign=other, habitat=grassland, taxa=taxa,
                          sample_point_ref=str(plan.points.first().pk))  # fmt: skip
    return {
        "campaign": campaign, "plan": plan, "garrigue": garrigue, "forest": forest, "recorded": recorded,
        "named": named, "both": both, "loose": loose, "foreign": foreign, "grassland": grassland, "taxa": taxa,
    }  # fmt: skip


def test_stratum_filter_follows_the_sample_point_of_the_campaign_plan(world):
    from fieldcollect.models import Releve

    def ids(stratum):
        return set(releve_filter_stratum(Releve.objects.all(), stratum_id=stratum.pk).values_list("pk", flat=True))

    assert ids(world["garrigue"]) == {world["recorded"].pk, world["both"].pk}
    assert ids(world["forest"]) == {world["named"].pk}
    # and QC's snapshots place the relevés in the same strata
    names = ("recorded", "named", "both", "loose", "foreign")
    batch = qc_snapshots_load(releve_ids=[world[name].pk for name in names])
    strata = {s.key: s.stratum for s in batch.snapshots}
    assert [strata[world[name].pk] for name in names] == [
        "lowland garrigue", "montane forest", "lowland garrigue", None, None,
    ]  # fmt: skip


def test_list_filters_by_stratum_with_a_fixed_number_of_queries(staff, world, botanist):
    # given the list with the stratum filter offered for the coordinated campaign
    response = staff.get(reverse(LIST))
    choices = [c["display"] for spec in response.context["cl"].filter_specs if spec.title == "stratum"
               for c in spec.choices(response.context["cl"])]  # fmt: skip
    assert choices == ["All", "1 lowland garrigue", "2 montane forest"]
    # when filtering by the garrigue stratum
    with CaptureQueriesContext(connection) as few:
        response = staff.get(reverse(LIST), {"stratum": world["garrigue"].pk})
    # then only its two relevés are listed and counted
    assert {r.pk for r in response.context["cl"].result_list} == {world["recorded"].pk, world["both"].pk}
    html = response.content.decode()
    assert 'data-status="validated">Validated: 1<' in html
    assert 'data-status="submitted">Submitted: 1<' in html
    # and 30 more relevés in the stratum cost no extra query
    for _ in range(30):
        add_point(world["plan"], world["garrigue"], releve=make_releve(observer=botanist, campaign=world["campaign"]))
    with CaptureQueriesContext(connection) as many:
        response = staff.get(reverse(LIST), {"stratum": world["garrigue"].pk})
    assert response.context["cl"].result_count == 32
    assert len(many.captured_queries) == len(few.captured_queries)


def test_stratum_filter_ignores_bad_values(staff, world):
    # a value that is not a stratum id leaves the list unfiltered; an unknown id lists nothing
    response = staff.get(reverse(LIST), {"stratum": "x'; drop"})
    assert (response.status_code, response.context["cl"].result_count) == (200, 4)
    response = staff.get(reverse(LIST), {"stratum": "999999"})
    assert (response.status_code, response.context["cl"].result_count) == (200, 0)


@pytest.fixture
def legend(world):
    grassland = world["grassland"]
    legend = MapLegend.objects.create(name="habitat map", version=1, is_active=True)
    grasslands = MapClass.objects.create(legend=legend, value=1, code="GRASS", name="Dry grasslands")
    MapClass.objects.create(legend=legend, value=2, code="FOREST", name="Forests")
    LegendRule.objects.create(map_class=grasslands, unit=grassland)
    return legend


def test_dashboard_progress_per_stratum_and_class(staff, world, legend):
    # given one validated relevé included in the training pool, and one relevé of an unmapped habitat
    feature_set = FeatureSet.objects.create(name="s2-2026")
    Sample.objects.create(releve=world["both"], releve_version=1, legend=legend, feature_set=feature_set,
                          status="included", label=1, n_pixels=1)  # fmt: skip
    unmapped = HabitatUnitFactory(cd_hab=51_999, typology=world["grassland"].typology, code="X9", level=3)
    make_releve(observer=world["recorded"].observer, campaign=world["campaign"], habitat=unmapped)
    # when the coordinator opens the dashboard
    figures = campaign_dashboard(world["campaign"])
    # then each stratum shows its allocation, visits and relevés; relevés without a point have their row
    strata = [(r["label"], r["allocated"], r["visited"], r["inaccessible"], r["pending"], r["releves"],
               r["validated"], r["visited_pct"]) for r in figures["strata"]]  # fmt: skip
    assert strata == [
        ("lowland garrigue", 4, 2, 0, 0, 2, 1, 50.0),
        ("montane forest", 4, 0, 1, 1, 1, 0, 0.0),
        ("no sample point", 0, 0, 0, 0, 2, 0, None),
    ]
    # and each class of the legend its relevés, validated ones and training samples (empty classes too)
    classes = [(c["value"], c["releves"], c["validated"], c["in_pool"]) for c in figures["classes"]]
    assert classes == [(1, 4, 1, 1), (2, 0, 0, 0), (None, 1, 0, 0)]
    html = staff.get(reverse(DASHBOARD), {"campaign": world["campaign"].pk}).content.decode()
    assert "Progress per stratum" in html and "Progress per habitat class (habitat map v1)" in html
    assert f"stratum={world['garrigue'].pk}" in html  # each stratum links to its filtered list
    assert "1 class without any relevé yet" in html
    assert html.count('class="fc-chart"') == 6


def test_dashboard_query_count_does_not_grow(staff, world, legend, botanist):
    with CaptureQueriesContext(connection) as few:
        assert staff.get(reverse(DASHBOARD), {"campaign": world["campaign"].pk}).status_code == 200
    # more strata, points, classes, habitat units and relevés
    plan, strata = make_plan(world["campaign"], [f"extra {i}" for i in range(5)], name="second")
    for i, stratum in enumerate(strata):
        unit = HabitatUnitFactory(cd_hab=52_000 + i, typology=world["grassland"].typology, code=f"R{i}", level=3)
        map_class = MapClass.objects.create(legend=legend, value=10 + i, code=f"C{i}", name=f"class {i}")
        LegendRule.objects.create(map_class=map_class, unit=unit)
        for _ in range(3):
            releve = make_releve(observer=botanist, campaign=world["campaign"], habitat=unit)
            add_point(plan, stratum, releve=releve, state="visited")
    with CaptureQueriesContext(connection) as many:
        response = staff.get(reverse(DASHBOARD), {"campaign": world["campaign"].pk})
    assert len(campaign_dashboard(world["campaign"])["strata"]) == 8
    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
