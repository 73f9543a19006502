"""Search, tree walks, crosswalks, taxa and legend resolution on the real HABREF files."""

import pytest

from habitats import selectors
from habitats.models import HabitatUnit, MapLegend, ReferenceVersion, Taxon
from habitats.services.legends import ClassSpec, LegendError, RuleSpec, map_legend_define
from habitats.services.taxa import taxref_import
from tests.habitats.conftest import DATA


def codes(units):
    return [u.code for u in units]


def test_search_is_accent_insensitive_and_puts_code_matches_first(habref_loaded):
    # given HABREF units
    # when searching by a name prefix without accents, and by a code with its dash
    by_name = selectors.habitat_unit_search(query="chenaies acidi", typology=22)
    by_code = selectors.habitat_unit_search(query="T2-1", limit=3)
    # then the accented names and the code's subtree are found
    assert codes(by_name) == ["41.5", "43.5", "41.52", "41.56", "41.57", "41.561", "41.572", "41.5611", "41.5612"]
    assert codes(selectors.habitat_unit_search(query="CHÊNAIES acidiphiles mixtes", typology=22)) == ["43.5"]
    assert codes(by_code) == ["T2-1", "T2-11", "T2-12"]
    assert selectors.habitat_unit_search(query="   ") == []


def test_subtree_and_ancestors_follow_the_path(habref_loaded):
    # given the EUNIS 2022 unit T1-E (oak–hornbeam forests)
    unit = HabitatUnit.objects.get(typology_id=107, code="T1-E")
    # when walking its tree
    subtree = selectors.habitat_unit_subtree(unit=unit)
    ancestors = selectors.habitat_unit_ancestors(unit=unit)
    # then every unit below has its code prefix, and the ancestors are T then T1
    assert subtree.count() == 94
    assert all(u.code.startswith("T1-E") for u in subtree)
    assert codes(ancestors) == ["T", "T1"]


def test_crosswalk_gives_the_relation_and_turns_reverse_rows_around(habref_loaded):
    # given a PVF2 unit HABREF places inside a CORINE unit ("<")
    pvf2 = HabitatUnit.objects.get(cd_hab=26584)
    corine = HabitatUnit.objects.get(cd_hab=3899)
    # when crosswalking each into the other's typology
    forward = selectors.habitat_unit_crosswalk(unit=pvf2, typology=22)
    reverse = selectors.habitat_unit_crosswalk(unit=corine, typology=28)
    # then the relation is "<" one way and ">" the other
    assert [(t.unit.code, t.relation, t.direction) for t in forward] == [("15.72", "<", "forward")]
    assert (pvf2.pk, ">", "reverse") in [(t.unit.pk, t.relation, t.direction) for t in reverse]


def test_taxa_autocomplete_and_accepted_name(db):
    # given TAXREF names with a synonym
    taxref_import(path=DATA / "TAXREFv18_sample.txt", kingdom="Plantae")
    # when autocompleting abbreviated words, and resolving the synonym
    found = selectors.taxon_autocomplete(query="que pub")
    thymes = selectors.taxon_autocomplete(query="THYM")
    # then the accepted names come first, shorter first, and the synonym resolves to Quercus pubescens
    assert [t.name for t in found] == ["Quercus pubescens"]
    assert [t.name for t in thymes] == ["Thymus vulgaris", "Thymus vulgaris subsp. vulgaris", "Thymus webbianus"]
    assert selectors.taxon_accepted(cd_nom=116763).cd_nom == 116759
    assert selectors.taxon_accepted(cd_nom=611345).name == "Thymus vulgaris"
    assert selectors.taxon_accepted(cd_nom=1) is None
    assert selectors.taxon_accepted_map(cd_noms=[116763, 116744, 1]) == {
        116763: Taxon.objects.get(cd_nom=116759),
        116744: Taxon.objects.get(cd_nom=116744),
    }


@pytest.fixture
def forest_legend(habref_loaded):
    legend, changed = map_legend_define(
        name="test",
        version=1,
        classes=[
            ClassSpec(1, "FOREST", "Forests", rules=(RuleSpec(107, "T"),)),
            ClassSpec(2, "HOLM", "Holm oak", rules=(RuleSpec(107, "T2-12"),)),
            ClassSpec(3, "HOLM_ONLY", "Holm oak unit only", rules=(RuleSpec(107, "T21", include_subtree=False),)),
            ClassSpec(4, "SALT_SCRUB", "Halo-nitrophilous scrub", rules=(RuleSpec(22, "15.72", via_crosswalk=True),)),
            ClassSpec(5, "LOW_PRIORITY", "Duplicate of forests", rules=(RuleSpec(107, "T", priority=200),)),
        ],
        activate=True,
    )
    assert changed
    return legend


def test_map_class_most_specific_rule_wins(forest_legend):
    # given a legend with a broad rule (T), a deeper one (T2-12), a unit-only one (T2-1) and a crosswalk one
    def unit(typology, code):
        return HabitatUnit.objects.get(typology_id=typology, code=code).pk

    t2_12, t2_121 = unit(107, "T2-12"), unit(107, "T2-121")
    t2_1, t2_11, t1_e = unit(107, "T2-1"), unit(107, "T2-11"), unit(107, "T1-E")
    # when resolving units in bulk
    result = selectors.habitat_unit_map_class(legend=forest_legend, units=[t2_12, t2_121, t2_1, t2_11, t1_e, 26584])
    # then the deepest matched unit wins, unit-only rules stop at their unit, priority breaks ties,
    # and the PVF2 unit follows its "<" crosswalk into CORINE 15.72
    assert {cd: c.code for cd, c in result.items()} == {
        t2_12: "HOLM",
        t2_121: "HOLM",
        t2_1: "HOLM_ONLY",
        t2_11: "FOREST",
        t1_e: "FOREST",
        26584: "SALT_SCRUB",
    }
    assert unit(107, "R") not in selectors.habitat_unit_map_class(legend=forest_legend, units=[unit(107, "R")])


def test_legend_definition_is_idempotent_and_rejects_unknown_units(forest_legend):
    # given a defined legend
    versions = ReferenceVersion.objects.count()
    spec = [ClassSpec(1, "FOREST", "Forests", rules=(RuleSpec(107, "T"),))]
    # when the same specification is defined again under another name twice
    _, changed_first = map_legend_define(name="other", version=1, classes=spec)
    _, changed_again = map_legend_define(name="other", version=1, classes=spec)
    # then only the first call changes something
    assert (changed_first, changed_again) == (True, False)
    assert ReferenceVersion.objects.count() == versions + 1
    # and a rule on an unknown code is refused, with nothing written
    with pytest.raises(LegendError) as excinfo:
        map_legend_define(name="broken", version=1, classes=[ClassSpec(1, "X", "X", rules=(RuleSpec(107, "Z9-9"),))])
    assert excinfo.value.errors == {"classes.0.rules.0": ["no unit 'Z9-9' in typology 107"]}
    assert not MapLegend.objects.filter(name="broken").exists()


def test_demo_legend_covers_the_campaign_habitats(db, shared_data):
    # given the shared reference data
    from habitats.services.demo import DEMO_CLASSES, reference_demo_load

    # when the demo reference data is loaded twice
    reference_demo_load(data_dir=shared_data)
    reports, legend = reference_demo_load(data_dir=shared_data)
    # then the legend is active with its classes, every class reaches units, and the re-run changed nothing
    assert legend.is_active and legend.classes.count() == len(DEMO_CLASSES) == 34
    by_class = selectors.legend_units_by_class(legend=legend)
    assert all(by_class.get(c.pk) for c in legend.classes.all())
    assert sum(r.changed for r in reports) == 0
    lagoon = legend.classes.get(code="LAGOON")
    assert by_class[lagoon.pk] == [HabitatUnit.objects.get(typology_id=22, code="21").pk]
