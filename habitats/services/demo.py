"""The reference data of the demo: HABREF (EUNIS 2022, CORINE Biotopes, PVF2 and their crosswalks), the
French flora, the EUNIS-ESy characteristic species, and a demo legend of about thirty classes."""

from __future__ import annotations

from pathlib import Path

from habitats.models import MapLegend
from habitats.services.characteristic_species import characteristic_species_import
from habitats.services.habref import HabrefFiles, habref_import
from habitats.services.importing import ImportReport
from habitats.services.legends import ClassSpec, RuleSpec, map_legend_define
from habitats.services.taxa import flora_import

EUNIS, CORINE = 107, 22
DEMO_LEGEND = "Occitanie habitats (demo)"


def _eunis(*codes: str, priority: int = 100) -> tuple[RuleSpec, ...]:
    return tuple(RuleSpec(EUNIS, code, priority=priority) for code in codes)


def _corine(*codes: str, via_crosswalk: bool = True) -> tuple[RuleSpec, ...]:
    # Through the crosswalks, PVF2 associations HABREF places inside these CORINE units follow them.
    return tuple(RuleSpec(CORINE, code, via_crosswalk=via_crosswalk) for code in codes)


DEMO_CLASSES = [
    ClassSpec(1, "OAK_ACID", "Acidophilous oak forests", "#1b7837", rules=_eunis("T1-B") + _corine("41.5")),
    ClassSpec(2, "OAK_THERMO", "Thermophilous deciduous oak forests", "#5aae61",
              rules=_eunis("T1-9") + _corine("41.7")),
    ClassSpec(3, "OAK_HOLM", "Holm and cork oak forests", "#00441b", rules=_eunis("T2-1") + _corine("45.3", "45.2")),
    ClassSpec(4, "OAK_HORNBEAM", "Oak–hornbeam forests", "#a6dba0", rules=_eunis("T1-E") + _corine("41.2")),
    ClassSpec(5, "BEECH", "Beech forests", "#4d9221", rules=_eunis("T1-7", "T1-8") + _corine("41.1")),
    ClassSpec(6, "RIPARIAN_FOREST", "Riparian and swamp forests", "#35978f",
              rules=_eunis("T1-1", "T1-2", "T1-3", "T1-4", "T1-5", "T1-6") + _corine("44")),
    ClassSpec(7, "PINE_MED", "Mediterranean pine forests", "#b8e186", rules=_eunis("T3-A", "T3-7")),
    ClassSpec(8, "PINE_MONTANE", "Montane and subalpine conifer forests", "#276419",
              rules=_eunis("T3-4", "T3-5", "T3-6", "T3-2", "T3-3")),
    ClassSpec(9, "PLANTATION", "Forest plantations", "#c2a5cf", rules=_eunis("T1-H", "T1-K", "T3-M", "T3-N", "T4")),
    ClassSpec(10, "ALPINE_GRASSLAND", "Alpine and subalpine grasslands", "#f6e8c3", rules=_eunis("R4") + _corine("36")),
    ClassSpec(11, "MOUNTAIN_HAY", "Mountain hay meadows", "#dfc27d", rules=_eunis("R2-3")),
    ClassSpec(12, "LOWLAND_HAY", "Lowland hay meadows and mesic pastures", "#f4a582",
              rules=_eunis("R2-1", "R2-2") + _corine("38")),
    ClassSpec(13, "DRY_CALC_GRASSLAND", "Semi-dry calcareous grasslands", "#fddbc7",
              rules=_eunis("R1-A", "R1-8") + _corine("34.3")),
    ClassSpec(14, "MED_DRY_GRASSLAND", "Mediterranean dry grasslands", "#e08214",
              rules=_eunis("R1-D", "R1-E", "R1-F") + _corine("34.5", "34.6")),
    ClassSpec(15, "WET_GRASSLAND", "Wet grasslands and tall-herb fringes", "#92c5de",
              rules=_eunis("R3", "R5-5", "R5-6") + _corine("37")),
    ClassSpec(16, "GARRIGUE", "Garrigues", "#bf812d", rules=_eunis("S6") + _corine("32.4", "32.6")),
    ClassSpec(17, "MAQUIS", "Maquis and thermo-Mediterranean scrub", "#8c510a", rules=_eunis("S5") + _corine("32.3")),
    ClassSpec(18, "HEATH", "Heathlands", "#c51b7d", rules=_eunis("S4", "S2-2") + _corine("31.1", "31.2")),
    ClassSpec(19, "TEMPERATE_SCRUB", "Temperate and sub-Mediterranean scrub", "#de77ae", rules=_eunis("S3", "S2-3")),
    ClassSpec(20, "REEDBED", "Reed beds and large sedge swamps", "#4393c3", rules=_corine("53")),
    ClassSpec(21, "FEN", "Fens, transition mires and springs", "#2166ac", rules=_corine("54", "51")),
    ClassSpec(22, "LAGOON", "Coastal lagoons", "#053061", rules=_corine("21")),
    ClassSpec(23, "SALT_MARSH", "Salt marshes and inland salt steppes", "#b2abd2", rules=_eunis("R6") + _corine("15")),
    ClassSpec(24, "COASTAL_DUNE", "Coastal dunes and sandy shores", "#fee090", rules=_eunis("N1") + _corine("16")),
    ClassSpec(25, "ROCKY_COAST", "Rocky coasts and sea cliffs", "#878787", rules=_eunis("N3", "N2") + _corine("18")),
    ClassSpec(26, "FRESH_WATER", "Standing and running fresh water", "#6baed6", rules=_corine("22", "24")),
    ClassSpec(27, "SCREE_CLIFF", "Screes, cliffs and rock pavements", "#bababa",
              rules=_eunis("U2", "U3") + _corine("61", "62")),
    ClassSpec(28, "HEDGEROW", "Hedgerows", "#7fbc41", rules=_eunis("V4") + _corine("84.2")),
    ClassSpec(29, "TREE_LINE", "Tree lines and small woods", "#66bd63",
              rules=_eunis("V6-3", "V6-4") + _corine("84.1", "84.3")),
    ClassSpec(30, "URBAN_GREEN", "Urban parks and gardens", "#d9f0a3", rules=_eunis("V2") + _corine("85")),
    ClassSpec(31, "VINEYARD", "Vineyards", "#762a83", rules=_eunis("V5-4") + _corine("83.21")),
    ClassSpec(32, "ORCHARD", "Orchards and olive groves", "#9970ab", rules=_eunis("V6-1", "V6-2") + _corine("83.1")),
    ClassSpec(33, "ARABLE", "Arable land and fallows", "#fee08b", rules=_eunis("V1") + _corine("82", "87")),
    ClassSpec(34, "GRASSLAND_IMPROVED", "Improved and anthropogenic grasslands", "#ffffbf",
              rules=_eunis("V3") + _corine("81")),
]  # fmt: skip


def reference_demo_load(
    *, data_dir: Path | str, progress: bool = False, activate_legend: bool = True
) -> tuple[list[ImportReport], MapLegend]:
    """Import the shared reference files and define (and by default activate) the demo legend; safe to re-run."""
    data = Path(data_dir)
    reports = habref_import(files=HabrefFiles.from_directory(data / "habref"), progress=progress, source="demo HABREF")
    reports.append(flora_import(path=data / "taxa" / "flora_fr_taxref_cd_nom_wetland_indicator.csv", progress=progress))
    reports.append(
        characteristic_species_import(
            path=data / "eunis" / "eunis_esy_characteristic_species_2021-06-01.csv", progress=progress
        )
    )
    legend, _ = map_legend_define(
        name=DEMO_LEGEND,
        version=1,
        description="Demo legend of the Occitanie habitat map: classes defined by EUNIS 2022 and CORINE Biotopes "
        "units of HABREF 7.0 (PVF2 units follow through crosswalks).",
        classes=DEMO_CLASSES,
        activate=activate_legend,
    )
    return reports, legend
