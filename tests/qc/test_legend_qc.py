"""QC's "precise enough for the legend" resolves classes like the training pool: crosswalk rules count."""

import pytest

from classification.models import FeatureSet, TrainingSample
from classification.services.pool import training_pool_update
from fieldcollect.models import QCResult, Releve, ReleveStatus
from fieldcollect.services.quality import qc_snapshots_load, releve_run_qc
from habitats.models import Correspondence, LegendRule, MapClass, MapLegend, RelationType
from tests.factories import HabitatUnitFactory, TaxonFactory, TypologyFactory

from .db_builders import campaign_2026, make_releve

pytestmark = pytest.mark.django_db


@pytest.fixture
def legend_world(botanist):
    eunis, corine = TypologyFactory(cd_typo=107), TypologyFactory(cd_typo=22)
    dry = HabitatUnitFactory(cd_hab=61_001, typology=eunis, code="R1-A", code_normalized="R1A", level=3)
    # a CORINE unit HABREF says is the same as the EUNIS one, and one no rule reaches
    corine_dry = HabitatUnitFactory(cd_hab=61_002, typology=corine, code="34.32", level=3)
    orphan = HabitatUnitFactory(cd_hab=61_003, typology=corine, code="87.1", level=2)
    RelationType.objects.create(cd_type_rel=1, short_label="=", between_habitats=True)
    Correspondence.objects.create(cd_corresp=1, source=corine_dry, target=dry, relation_id=1)
    legend = MapLegend.objects.create(name="habitat map", version=1, is_active=True)
    grass = MapClass.objects.create(legend=legend, value=7, code="GRASS", name="Dry grasslands")
    rule = LegendRule.objects.create(map_class=grass, unit=dry, via_crosswalk=True)
    taxa = [TaxonFactory() for _ in range(6)]
    campaign = campaign_2026()
    crosswalked = make_releve(observer=botanist, campaign=campaign, habitat=corine_dry, taxa=taxa)
    uncovered = make_releve(observer=botanist, campaign=campaign, habitat=orphan, taxa=taxa)
    return {"rule": rule, "grass": grass, "crosswalked": crosswalked, "uncovered": uncovered}


def legend_findings(releve):
    found = QCResult.objects.filter(releve=releve, rule="habitat.legend_precision")
    return list(found.values_list("message", flat=True))


def test_a_unit_reached_through_a_crosswalk_rule_is_precise_enough(legend_world, settings):
    settings.TRAINING_POOL_LIVE = False  # the pool is updated by hand below
    crosswalked, uncovered = legend_world["crosswalked"], legend_world["uncovered"]
    # when QC loads and checks the relevés
    batch = qc_snapshots_load(releve_ids=[crosswalked.pk, uncovered.pk])
    classes = {s.key: s.habitats[0].map_class for s in batch.snapshots}
    releve_run_qc(releve_ids=[crosswalked.pk, uncovered.pk])
    # then the CORINE unit crosswalked into the rule's EUNIS unit has the rule's class and passes
    assert classes == {crosswalked.pk: "GRASS", uncovered.pk: None}
    assert legend_findings(crosswalked) == []
    assert legend_findings(uncovered) == [
        "Habitat 87.1 maps to no class of the legend habitat map (too general or not covered)."
    ]
    # and the training pool labels the validated relevé with that same class
    FeatureSet.objects.create(name="s2-test")
    Releve.objects.filter(pk=crosswalked.pk).update(status=ReleveStatus.VALIDATED)
    training_pool_update(releve_ids=[crosswalked.pk])
    assert TrainingSample.objects.get(releve=crosswalked).label == legend_world["grass"].value


def test_without_the_crosswalk_the_same_unit_is_not_precise_enough(legend_world):
    # given the legend rule no longer follows crosswalks
    LegendRule.objects.filter(pk=legend_world["rule"].pk).update(via_crosswalk=False)
    crosswalked = legend_world["crosswalked"]
    # when QC checks the relevé
    releve_run_qc(releve_ids=[crosswalked.pk])
    # then its CORINE unit maps to no class
    assert legend_findings(crosswalked) == [
        "Habitat 34.32 maps to no class of the legend habitat map (too general or not covered)."
    ]
