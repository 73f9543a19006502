"""Quality control of relevés: a registry of small versioned rules over plain snapshots (no ORM here).

Loading snapshots from the database and storing results live in the Django-facing services; this
package only needs GEOS (for region and footprint geometry), numpy and, for the DEM sampler, rasterio.
"""

from . import rules as _rules  # noqa: F401 - registers the rules
from .context import (
    AltitudeRange,
    CampaignInfo,
    CharacteristicIndex,
    HomogeneitySource,
    LegendRequirement,
    PointSampler,
    QCContext,
    QCSettings,
    SpectralFeatureSource,
)
from .engine import QCReport, qc_evaluate, qc_prepare
from .registry import REGISTRY, Finding, Flag, Rule, Severity, qc_rule, rules_all
from .rules import OCCITANIE_ALTITUDE_RANGES
from .snapshot import (
    BRAUN_BLANQUET,
    XY,
    HabitatEntry,
    HabitatUnitInfo,
    LayerCover,
    PhotoEntry,
    PlotRef,
    ReleveSnapshot,
    SpeciesEntry,
)

__all__ = [
    "BRAUN_BLANQUET",
    "OCCITANIE_ALTITUDE_RANGES",
    "REGISTRY",
    "XY",
    "AltitudeRange",
    "CampaignInfo",
    "CharacteristicIndex",
    "Finding",
    "Flag",
    "HabitatEntry",
    "HabitatUnitInfo",
    "HomogeneitySource",
    "LayerCover",
    "LegendRequirement",
    "PhotoEntry",
    "PlotRef",
    "PointSampler",
    "QCContext",
    "QCReport",
    "QCSettings",
    "ReleveSnapshot",
    "Rule",
    "Severity",
    "SpeciesEntry",
    "SpectralFeatureSource",
    "qc_evaluate",
    "qc_prepare",
    "qc_rule",
    "rules_all",
]
