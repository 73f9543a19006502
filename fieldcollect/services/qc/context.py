"""What the QC rules know beyond one relevé, loaded once per run (in bulk) and shared by all relevés.

The context carries the campaign (region, period), the legend's precision requirement, the EUNIS-ESy
characteristic species lists, raster hooks (DEM sampler, spectral features, within-plot homogeneity) and
the population of the campaign's plots, from which it builds the indexes used by the "between plots"
rules (near duplicates, travel speed, reused photos). Nothing here touches the database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .snapshot import XY, PlotRef, distance_m

if TYPE_CHECKING:
    from django.contrib.gis.geos import GEOSGeometry


@dataclass(frozen=True)
class QCSettings:
    """Thresholds of the rules; defaults suit a 10 m pixel map and phytosociological relevés."""

    pixel_size_m: float = 10.0
    gnss_error_m: float = 20.0  # beyond this the plot cannot be placed on the right 10 m pixel at all
    clock_skew_s: float = 300.0  # tablets' clocks drift; "future" means beyond this
    mosaic_tolerance_pct: float = 5.0
    min_species: int = 5
    layer_tolerance_pct: float = 10.0
    dem_tolerance_m: float = 50.0
    dem_error_m: float = 200.0
    altitude_margin_m: float = 100.0
    characteristic_min_score: float = 0.05
    characteristic_better_ratio: float = 2.0
    duplicate_distance_m: float = 10.0
    duplicate_taxa_jaccard: float = 0.7
    sample_point_warning_m: float = 30.0
    sample_point_error_m: float = 200.0
    photo_distance_m: float = 100.0
    photo_time_s: float = 3 * 3600.0
    max_speed_kmh: float = 130.0
    min_travel_m: float = 500.0  # below this, GNSS noise and short walks make speeds meaningless
    spectral_z: float = 3.5
    spectral_min_peers: int = 10  # fewer validated plots of the class: too few to say what is typical
    homogeneity_cv: float = 0.35


@dataclass(frozen=True)
class CampaignInfo:
    key: Hashable
    region: GEOSGeometry | None  # EPSG:2154
    starts_on: date
    ends_on: date
    timezone: str = "Europe/Paris"

    @cached_property
    def prepared_region(self):  # -> PreparedGeometry | None
        return self.region.prepared if self.region is not None else None


@dataclass(frozen=True)
class LegendRequirement:
    """The map legend a campaign feeds: which typologies it reads, and how precise a unit must be.

    A unit is precise enough when the legend maps it to a class (the loader resolves ``map_class`` on
    each habitat entry); ``min_level`` adds a minimum hierarchy level per typology (CD_TYPO → level).
    """

    name: str
    min_level: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CharacteristicEntry:
    habitat_code: str  # EUNIS level-3 code, EEA form (T21)
    kind: str  # diagnostic / constant / dominant
    value: float  # phi x 100, frequency %, cover %


class CharacteristicIndex:
    """EUNIS-ESy characteristic species lists, indexed by species for scoring a relevé against every unit.

    Score of a habitat for a species list, in [0, 1]: 0.7 × (sum of phi of its diagnostic species that are
    present / sum of phi of all its diagnostic species) + 0.3 × (sum of frequencies of its constant species
    present / sum of frequencies of all its constant species). Species are matched by accepted TAXREF id
    when the list row was matched to TAXREF, else by normalised name.
    """

    DIAGNOSTIC_WEIGHT = 0.7
    CONSTANT_WEIGHT = 0.3

    def __init__(self, rows: Iterable[tuple[str, int | None, str, str, float]], names: Mapping[str, str] | None = None):
        """``rows``: (habitat_code, taxon cd_ref or None, normalised species name, kind, value)."""
        self.by_taxon: dict[int, list[CharacteristicEntry]] = defaultdict(list)
        self.by_name: dict[str, list[CharacteristicEntry]] = defaultdict(list)
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for habitat_code, cd_ref, name, kind, value in rows:
            entry = CharacteristicEntry(habitat_code, kind, float(value))
            if cd_ref is not None:
                self.by_taxon[cd_ref].append(entry)
            elif name:
                self.by_name[name].append(entry)
            totals[(habitat_code, kind)] += max(float(value), 0.0)
        self.totals = dict(totals)
        self.habitat_codes = frozenset(code for code, _ in totals)
        self.names = dict(names or {})

    def entries_for(self, cd_ref: int | None, name_normalized: str) -> list[CharacteristicEntry]:
        if cd_ref is not None and cd_ref in self.by_taxon:
            return self.by_taxon[cd_ref]
        return self.by_name.get(name_normalized, [])

    def scores(self, species: Iterable[tuple[int | None, str]]) -> dict[str, float]:
        """Score of every habitat supported by at least one of the species (others score 0)."""
        present: dict[tuple[str, str], float] = defaultdict(float)
        seen: set[int | str] = set()
        for cd_ref, name in species:
            ident: int | str = cd_ref if cd_ref is not None else name
            if ident in seen:  # the same taxon in two layers counts once
                continue
            seen.add(ident)
            for entry in self.entries_for(cd_ref, name):
                if entry.kind in ("diagnostic", "constant"):
                    present[(entry.habitat_code, entry.kind)] += max(entry.value, 0.0)
        result: dict[str, float] = defaultdict(float)
        for (code, kind), value in present.items():
            total = self.totals.get((code, kind)) or 1.0
            weight = self.DIAGNOSTIC_WEIGHT if kind == "diagnostic" else self.CONSTANT_WEIGHT
            result[code] += weight * value / total
        return dict(result)


@dataclass(frozen=True)
class AltitudeRange:
    low_m: float
    high_m: float


@runtime_checkable
class PointSampler(Protocol):
    """Samples one raster at many points in one call; implementations group points by raster block."""

    def sample(self, points: Sequence[XY]) -> list[float | None]:
        """Values at ``points`` (EPSG:2154), ``None`` outside the raster or on nodata."""
        ...


@runtime_checkable
class SpectralFeatureSource(Protocol):
    """Raster features of plots, and of the validated plots of each class (for the spectral outlier rule)."""

    def features(self, keys: Sequence[Hashable]) -> Mapping[Hashable, Sequence[float]]:
        """Feature vector of each plot that has one (e.g. the mean of its pixels' features)."""
        ...

    def class_reference(self, map_class: str) -> Mapping[Hashable, Sequence[float]]:
        """Feature vectors of the validated plots of ``map_class`` (the legend class code), by plot key: a
        plot that is itself one of them is left out of its own reference."""
        ...


@runtime_checkable
class HomogeneitySource(Protocol):
    """Variability of a plot's pixels within its footprint (e.g. coefficient of variation of NDVI)."""

    def variability(self, keys: Sequence[Hashable]) -> Mapping[Hashable, float]: ...


class _Grid:
    """A hash grid of points, for "which plots lie within d metres" in O(neighbours)."""

    def __init__(self, cell: float):
        self.cell = cell
        self.cells: dict[tuple[int, int], list[PlotRef]] = defaultdict(list)

    def add(self, ref: PlotRef) -> None:
        assert ref.location is not None
        self.cells[(int(ref.location[0] // self.cell), int(ref.location[1] // self.cell))].append(ref)

    def near(self, xy: XY, radius: float) -> list[PlotRef]:
        cx, cy = int(xy[0] // self.cell), int(xy[1] // self.cell)
        reach = math.ceil(radius / self.cell)
        found = []
        for i in range(cx - reach, cx + reach + 1):
            for j in range(cy - reach, cy + reach + 1):
                for ref in self.cells.get((i, j), ()):
                    if ref.location is not None and distance_m(ref.location, xy) <= radius:
                        found.append(ref)
        return found


@dataclass
class QCContext:
    """Everything shared by the relevés of one QC run. Build it once, then evaluate any number of relevés."""

    campaign: CampaignInfo
    now: datetime  # aware; injected so that "not in the future" is testable
    settings: QCSettings = field(default_factory=QCSettings)
    legend: LegendRequirement | None = None
    characteristic: CharacteristicIndex | None = None
    altitude_ranges: Mapping[str, AltitudeRange] = field(default_factory=dict)  # EUNIS code prefix → range
    dem: PointSampler | None = None
    spectral: SpectralFeatureSource | None = None
    homogeneity: HomogeneitySource | None = None
    known_sample_points: bool = True  # False: campaign without a sampling plan, skip the distance rule
    # Other plots of the campaign (the evaluated ones are added by the engine); for between-plot rules.
    population: list[PlotRef] = field(default_factory=list)
    # Filled by the engine's bulk preparation step (raster reads happen there, once per run).
    dem_altitude: dict[Hashable, float | None] = field(default_factory=dict)
    spectral_features: dict[Hashable, Sequence[float]] = field(default_factory=dict)
    footprint_variability: dict[Hashable, float] = field(default_factory=dict)
    _spectral_refs: dict[str, Mapping[Hashable, Sequence[float]]] = field(default_factory=dict)

    def add_population(self, refs: Iterable[PlotRef]) -> None:
        known = {ref.key for ref in self.population}
        self.population.extend(ref for ref in refs if ref.key not in known)
        for name in ("_grid", "_tracks", "_photo_index"):
            self.__dict__.pop(name, None)

    @cached_property
    def _grid(self) -> _Grid:
        grid = _Grid(max(self.settings.duplicate_distance_m, 1.0))
        for ref in self.population:
            if ref.location is not None:
                grid.add(ref)
        return grid

    def plots_near(self, xy: XY, radius: float) -> list[PlotRef]:
        return self._grid.near(xy, radius)

    @cached_property
    def _tracks(self) -> dict[int, list[PlotRef]]:
        tracks: dict[int, list[PlotRef]] = defaultdict(list)
        for ref in self.population:
            if ref.observer_id is not None and ref.observed_at is not None and ref.location is not None:
                tracks[ref.observer_id].append(ref)
        for track in tracks.values():
            track.sort(key=lambda r: (r.observed_at, str(r.key)))
        return dict(tracks)

    def neighbours_in_time(self, ref: PlotRef) -> tuple[PlotRef | None, PlotRef | None]:
        """The observer's plots just before and just after this one."""
        track = self._tracks.get(ref.observer_id) if ref.observer_id is not None else None
        if not track:
            return None, None
        for i, other in enumerate(track):
            if other.key == ref.key:
                return (track[i - 1] if i > 0 else None), (track[i + 1] if i + 1 < len(track) else None)
        return None, None

    @cached_property
    def _photo_index(self) -> dict[str, set[Hashable]]:
        index: dict[str, set[Hashable]] = defaultdict(set)
        for ref in self.population:
            for digest in ref.photo_hashes:
                index[digest].add(ref.key)
        return dict(index)

    def plots_with_photo(self, sha256: str) -> set[Hashable]:
        return self._photo_index.get(sha256, set())

    def altitude_range_for(self, eunis_codes: Sequence[str]) -> tuple[str, AltitudeRange] | None:
        """The most specific configured range whose EUNIS prefix matches one of the codes."""
        best: tuple[str, AltitudeRange] | None = None
        for code in eunis_codes:
            for prefix, rng in self.altitude_ranges.items():
                if code.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
                    best = (prefix, rng)
        return best

    def spectral_reference(self, map_class: str) -> Mapping[Hashable, Sequence[float]]:
        """The validated plots of the class by key (read once per run and class)."""
        if map_class not in self._spectral_refs and self.spectral is not None:
            self._spectral_refs[map_class] = self.spectral.class_reference(map_class)
        return self._spectral_refs.get(map_class, {})


Clock = Callable[[], datetime]
