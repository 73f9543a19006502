"""What the QC rules see: a plain, immutable picture of one relevé, detached from the ORM.

Coordinates are metres in Lambert-93 (EPSG:2154), as ``(x, y)`` tuples. The optional plot footprint is
a GEOS polygon (GEOS comes with GeoDjango's system libraries; using it here needs no Django settings).
Everything a rule needs about referenced rows (habitat unit, accepted taxon name, legend class) is
resolved by the loader in bulk and carried here, so a rule never queries anything.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.gis.geos import GEOSGeometry

XY = tuple[float, float]

# Braun-Blanquet codes → (mean % cover, lower bound of the class %, upper bound %).
# Means are Turboveg scale 02 (see shared/data/vegetation/braun_blanquet_cover_conversion.csv).
BRAUN_BLANQUET: dict[str, tuple[float, float, float]] = {
    "r": (1.0, 0.0, 1.0),
    "+": (2.0, 0.0, 1.0),
    "1": (3.0, 0.0, 5.0),
    "2m": (4.0, 0.0, 5.0),
    "2a": (8.0, 5.0, 12.5),
    "2b": (18.0, 12.5, 25.0),
    "2": (13.0, 5.0, 25.0),
    "3": (38.0, 25.0, 50.0),
    "4": (68.0, 50.0, 75.0),
    "5": (88.0, 75.0, 100.0),
}


def distance_m(a: XY, b: XY) -> float:
    """Euclidean distance in metres between two Lambert-93 points."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclass(frozen=True, slots=True)
class HabitatUnitInfo:
    """The reference unit a habitat assignment resolved to (HABREF)."""

    cd_hab: int
    typology: int
    code: str
    name: str = ""
    level: int | None = None
    validity: str = "NR"  # NR reference, SYN synonym, SUPPR deleted, ERR error (HABREF_VALIDITE)
    ancestors: tuple[int, ...] = ()  # cd_hab of the ancestors, root first


@dataclass(frozen=True, slots=True)
class HabitatEntry:
    """One habitat assignment of a relevé (several make a mosaic)."""

    code_cited: str  # what the tablet sent: "cd_hab:51641" or "22:32.4"
    unit: HabitatUnitInfo | None  # None when the code matched no unit
    cover_pct: float | None = None
    rank: int = 1
    certainty: str = ""
    map_class: str | None = None  # legend class code the unit maps to, None when not precise enough
    eunis_codes: tuple[str, ...] = ()  # EUNIS level-3 codes (EEA form, e.g. "T21") the unit corresponds to


@dataclass(frozen=True, slots=True)
class SpeciesEntry:
    """One species observation: the taxon as sent and as resolved to its accepted name."""

    name_cited: str
    cd_nom: int | None  # the TAXREF id the tablet sent; None when only a name was cited
    known: bool = True  # False when cd_nom is not in the reference
    cd_ref: int | None = None  # accepted name id (equal to cd_nom when accepted)
    accepted_name: str = ""  # accepted scientific name without author
    name_normalized: str = ""  # accepted name, unaccented lower case, no author (for EUNIS-ESy lists)
    layer: str = "herb"
    braun_blanquet: str | None = None

    @property
    def is_synonym(self) -> bool:
        return self.cd_nom is not None and self.cd_ref is not None and self.cd_nom != self.cd_ref

    @property
    def cover_mean_pct(self) -> float | None:
        code = BRAUN_BLANQUET.get(self.braun_blanquet or "")
        return code[0] if code else None

    @property
    def cover_min_pct(self) -> float | None:
        code = BRAUN_BLANQUET.get(self.braun_blanquet or "")
        return code[1] if code else None


@dataclass(frozen=True, slots=True)
class PhotoEntry:
    """A photo declared by the relevé; EXIF position already transformed to Lambert-93."""

    uuid: str
    sha256: str
    complete: bool = True  # bytes received and verified
    exif_time: datetime | None = None  # aware
    exif_xy: XY | None = None


@dataclass(frozen=True, slots=True)
class LayerCover:
    cover_pct: float | None = None
    height_m: float | None = None


@dataclass(frozen=True, slots=True)
class ReleveSnapshot:
    """One relevé as QC sees it. ``key`` identifies it in findings (the database id, or any hashable)."""

    key: Hashable
    observer_id: int | None = None
    observed_at: datetime | None = None  # aware
    location: XY | None = None  # EPSG:2154
    plot: GEOSGeometry | None = None  # footprint polygon, EPSG:2154
    gnss_accuracy_m: float | None = None
    plot_area_m2: float | None = None
    altitude_m: float | None = None
    layers: dict[str, LayerCover] = field(default_factory=dict)
    habitats: tuple[HabitatEntry, ...] = ()
    species: tuple[SpeciesEntry, ...] = ()
    photos: tuple[PhotoEntry, ...] = ()
    sample_point: XY | None = None  # the assigned sample point, EPSG:2154
    stratum: str | None = None

    @property
    def has_valid_location(self) -> bool:
        return self.location is not None and all(math.isfinite(v) for v in self.location)

    @property
    def primary_habitat(self) -> HabitatEntry | None:
        if not self.habitats:
            return None
        return max(self.habitats, key=lambda h: (h.cover_pct or 0.0, -h.rank))

    def as_ref(self) -> PlotRef:
        return PlotRef(
            key=self.key,
            observer_id=self.observer_id,
            observed_at=self.observed_at,
            location=self.location if self.has_valid_location else None,
            habitats=frozenset(h.unit.cd_hab for h in self.habitats if h.unit is not None),
            taxa=frozenset(s.cd_ref for s in self.species if s.cd_ref is not None),
            photo_hashes=frozenset(p.sha256 for p in self.photos if p.sha256),
        )


@dataclass(frozen=True, slots=True)
class PlotRef:
    """The little QC needs to know about *other* relevés of the campaign (duplicates, travel, photos)."""

    key: Hashable
    observer_id: int | None
    observed_at: datetime | None
    location: XY | None
    habitats: frozenset[int] = frozenset()
    taxa: frozenset[int] = frozenset()
    photo_hashes: frozenset[str] = frozenset()
