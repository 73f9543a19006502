"""The QC rules. Each is a pure function of (relevé snapshot, context) registered with a code and a version.

Rules never raise on partial relevés: a rule that lacks what it needs (no geometry, no species…) stays
silent and leaves the report to the rule that owns that field (``geometry.valid``, ``species.min_count``…).
"""

from __future__ import annotations

import math
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta

import numpy as np

from .context import AltitudeRange, QCContext
from .registry import Flag, Severity, qc_rule
from .snapshot import ReleveSnapshot, distance_m

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741 - short names keep the rules readable

MAIN_LAYERS = ("tree", "shrub", "herb", "moss")


def _main_layer(layer: str) -> str:
    """tree_1 → tree, shrub_2 → shrub; juvenile and seedling plants sit in the herb layer."""
    base = layer.split("_", 1)[0].lower()
    return {"juvenile": "herb", "seedling": "herb"}.get(base, base)


# --- Geometry ------------------------------------------------------------------------------------


@qc_rule(
    code="geometry.valid",
    severity=E,
    version=1,
    description="The plot has a location, and its footprint polygon (if any) is valid and contains it.",
)
def geometry_valid(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if r.location is None:
        yield Flag("The relevé has no location.", {"reason": "missing"})
        return
    if not r.has_valid_location:
        yield Flag("The location has non-finite coordinates.", {"reason": "not_finite"})
        return
    if r.plot is None:
        return
    if r.plot.empty or r.plot.geom_type not in ("Polygon", "MultiPolygon"):
        yield Flag("The plot footprint is not a polygon.", {"reason": "not_polygon", "type": r.plot.geom_type})
        return
    if not r.plot.valid:
        yield Flag(f"The plot footprint is not a valid polygon ({r.plot.valid_reason}).", {"reason": "invalid"})
        return
    from django.contrib.gis.geos import Point

    point = Point(*r.location, srid=2154)
    gap = r.plot.distance(point)
    tolerance = r.gnss_accuracy_m or 0.0
    if gap > tolerance:
        yield Flag(
            f"The location lies {gap:.0f} m outside the plot footprint.",
            {"reason": "location_outside_plot", "distance_m": round(gap, 1)},
            W,
        )
    if r.plot_area_m2:
        area = r.plot.area
        if abs(area - r.plot_area_m2) > 0.5 * r.plot_area_m2:
            yield Flag(
                f"The footprint covers {area:.0f} m² but the plot area is {r.plot_area_m2:.0f} m².",
                {"reason": "area_mismatch", "footprint_m2": round(area, 1), "plot_area_m2": r.plot_area_m2},
                W,
            )


@qc_rule(
    code="geometry.in_region",
    severity=E,
    version=1,
    description="The plot lies inside the campaign region.",
)
def geometry_in_region(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    region = ctx.campaign.prepared_region
    if region is None or not r.has_valid_location or r.location is None:
        return
    from django.contrib.gis.geos import Point

    point = Point(*r.location, srid=2154)
    if not region.covers(point):
        gap = ctx.campaign.region.distance(point) if ctx.campaign.region is not None else math.nan
        yield Flag(
            f"The plot is {gap / 1000:.1f} km outside the campaign region.",
            {"distance_m": round(gap, 1), "x": r.location[0], "y": r.location[1]},
        )


@qc_rule(
    code="gnss.accuracy",
    severity=W,
    version=1,
    description="The GNSS accuracy places the plot on the right 10 m pixel.",
)
def gnss_accuracy(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    s = ctx.settings
    accuracy = r.gnss_accuracy_m
    if accuracy is None:
        yield Flag("The GNSS accuracy was not recorded.", {"reason": "missing"})
    elif accuracy > s.gnss_error_m:
        yield Flag(
            f"GNSS accuracy {accuracy:g} m is too coarse to place the plot on a {s.pixel_size_m:g} m pixel.",
            {"accuracy_m": accuracy, "limit_m": s.gnss_error_m},
            E,
        )
    elif accuracy > s.pixel_size_m:
        yield Flag(
            f"GNSS accuracy {accuracy:g} m exceeds the {s.pixel_size_m:g} m pixel: the plot may be on a neighbour.",
            {"accuracy_m": accuracy, "limit_m": s.pixel_size_m},
        )


@qc_rule(
    code="date.in_campaign",
    severity=E,
    version=1,
    description="The observation date is inside the campaign period and not in the future.",
)
def date_in_campaign(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    when = r.observed_at
    if when is None:
        yield Flag("The observation date is missing.", {"reason": "missing"})
        return
    if when.tzinfo is None:
        yield Flag("The observation time has no UTC offset.", {"reason": "naive"})
        return
    if when > ctx.now + timedelta(seconds=ctx.settings.clock_skew_s):
        yield Flag(
            f"The observation time {when.isoformat()} is in the future.",
            {"reason": "future", "observed_at": when.isoformat(), "now": ctx.now.isoformat()},
        )
        return
    day = when.astimezone(zoneinfo.ZoneInfo(ctx.campaign.timezone)).date()
    if not ctx.campaign.starts_on <= day <= ctx.campaign.ends_on:
        yield Flag(
            f"The observation date {day} is outside the campaign ({ctx.campaign.starts_on} to {ctx.campaign.ends_on}).",
            {
                "reason": "outside_period",
                "date": day.isoformat(),
                "starts_on": ctx.campaign.starts_on.isoformat(),
                "ends_on": ctx.campaign.ends_on.isoformat(),
            },
        )


# --- Habitats ------------------------------------------------------------------------------------


@qc_rule(
    code="habitat.codes_valid",
    severity=E,
    version=1,
    description="Every habitat code matches a current unit of the reference.",
)
def habitat_codes_valid(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if not r.habitats:
        yield Flag("No habitat is assigned.", {"reason": "missing"})
        return
    for h in r.habitats:
        if h.unit is None:
            yield Flag(f"Habitat code {h.code_cited} matches no unit of the reference.", {"code": h.code_cited})
        elif h.unit.validity in ("SUPPR", "ERR"):
            yield Flag(
                f"Habitat {h.unit.code} is {'deleted' if h.unit.validity == 'SUPPR' else 'an error'} in HABREF.",
                {"cd_hab": h.unit.cd_hab, "validity": h.unit.validity},
            )
        elif h.unit.validity == "SYN":
            yield Flag(
                f"Habitat {h.unit.code} is a synonym in HABREF; use its reference unit.",
                {"cd_hab": h.unit.cd_hab, "validity": "SYN"},
                W,
            )


@qc_rule(
    code="habitat.legend_precision",
    severity=W,
    version=2,  # 2: classes resolved like the training pool's labels (subtree and crosswalk rules)
    description="Every habitat is precise enough to be mapped to a class of the campaign's legend.",
)
def habitat_legend_precision(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    legend = ctx.legend
    if legend is None:
        return
    for h in r.habitats:
        if h.unit is None:
            continue
        minimum = legend.min_level.get(h.unit.typology)
        if minimum is not None and (h.unit.level or 0) < minimum:
            yield Flag(
                f"Habitat {h.unit.code} is level {h.unit.level}; the legend {legend.name} needs level {minimum}.",
                {"cd_hab": h.unit.cd_hab, "level": h.unit.level, "min_level": minimum},
            )
        elif h.map_class is None:
            yield Flag(
                f"Habitat {h.unit.code} maps to no class of the legend {legend.name} (too general or not covered).",
                {"cd_hab": h.unit.cd_hab, "legend": legend.name},
            )


@qc_rule(
    code="habitat.mosaic_cover",
    severity=W,
    version=1,
    description="The cover shares of a mosaic of habitats add up to about 100 %.",
)
def habitat_mosaic_cover(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if not r.habitats:
        return
    if len(r.habitats) == 1 and r.habitats[0].cover_pct is None:
        return  # a single habitat covers the plot
    missing = [h.code_cited for h in r.habitats if h.cover_pct is None]
    if missing:
        yield Flag("Some habitats of the mosaic have no cover share.", {"codes": missing})
        return
    total = sum(h.cover_pct or 0.0 for h in r.habitats)
    if abs(total - 100.0) > ctx.settings.mosaic_tolerance_pct:
        yield Flag(f"The habitat cover shares add up to {total:g} %, not 100 %.", {"total_pct": total})


# --- Species -------------------------------------------------------------------------------------


@qc_rule(
    code="species.known",
    severity=W,
    version=1,
    description="Every species is a known TAXREF name; synonyms are resolved to the accepted name.",
)
def species_known(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    seen: dict[tuple[int, str], str] = {}
    for s in r.species:
        if s.cd_nom is None:
            yield Flag(f"“{s.name_cited}” is not matched to a TAXREF name.", {"name_cited": s.name_cited})
            continue
        if not s.known:
            yield Flag(
                f"TAXREF id {s.cd_nom} (“{s.name_cited}”) is not in the reference.",
                {"cd_nom": s.cd_nom, "name_cited": s.name_cited},
                E,
            )
            continue
        if s.is_synonym:
            yield Flag(
                f"“{s.name_cited}” is a synonym of {s.accepted_name}; counted under the accepted name.",
                {"cd_nom": s.cd_nom, "cd_ref": s.cd_ref, "accepted_name": s.accepted_name},
                I,
            )
        ident = (s.cd_ref or s.cd_nom, _main_layer(s.layer))
        if ident in seen:
            yield Flag(
                f"{s.accepted_name or s.name_cited} is listed twice in the {ident[1]} layer "
                f"(as “{seen[ident]}” and “{s.name_cited}”).",
                {"cd_ref": ident[0], "layer": ident[1]},
            )
        else:
            seen[ident] = s.name_cited


SPARSE_VEGETATION_PREFIXES = ("U", "V1", "J")  # rocks, screes, arable land, built-up: few species is normal


@qc_rule(
    code="species.min_count",
    severity=W,
    version=1,
    description="A phytosociological relevé lists at least the minimum number of species.",
)
def species_min_count(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    taxa = {s.cd_ref or s.cd_nom or s.name_cited for s in r.species}
    minimum = ctx.settings.min_species
    if len(taxa) >= minimum:
        return
    primary = r.primary_habitat
    if primary and primary.eunis_codes and all(c.startswith(SPARSE_VEGETATION_PREFIXES) for c in primary.eunis_codes):
        return
    yield Flag(f"Only {len(taxa)} species listed (at least {minimum} expected).", {"count": len(taxa), "min": minimum})


@qc_rule(
    code="layers.consistent",
    severity=W,
    version=1,
    description="Each layer's cover is consistent with the covers of its species.",
)
def layers_consistent(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    tolerance = ctx.settings.layer_tolerance_pct
    largest: dict[str, tuple[float, str]] = {}
    counts: Counter[str] = Counter()
    for s in r.species:
        layer = _main_layer(s.layer)
        counts[layer] += 1
        low = s.cover_min_pct
        if low is not None and (layer not in largest or low > largest[layer][0]):
            largest[layer] = (low, s.accepted_name or s.name_cited)
    covers: dict[str, float | None] = defaultdict(lambda: None)
    for name, layer_cover in r.layers.items():
        main = _main_layer(name)
        if layer_cover.cover_pct is not None:
            covers[main] = max(covers[main] or 0.0, layer_cover.cover_pct)
    for layer in sorted(counts):
        cover = covers[layer]
        if cover is None or cover == 0:
            if layer in MAIN_LAYERS:
                yield Flag(
                    f"{counts[layer]} species in the {layer} layer, but the layer has no cover.",
                    {"layer": layer, "species": counts[layer], "layer_cover_pct": cover},
                )
            continue
        low, name = largest.get(layer, (0.0, ""))
        if low > cover + tolerance:
            yield Flag(
                f"{name} covers at least {low:g} % of the {layer} layer, whose cover is {cover:g} %.",
                {"layer": layer, "species": name, "species_min_pct": low, "layer_cover_pct": cover},
            )
    for layer in MAIN_LAYERS:
        cover = covers[layer]
        if cover and cover >= 25 and counts[layer] == 0:
            yield Flag(
                f"The {layer} layer covers {cover:g} % but lists no species.",
                {"layer": layer, "layer_cover_pct": cover, "species": 0},
                I,
            )


# --- Altitude ------------------------------------------------------------------------------------


@qc_rule(
    code="altitude.dem",
    severity=W,
    version=1,
    description="The recorded altitude agrees with the DEM at the plot.",
    uses_rasters=True,
)
def altitude_dem(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    dem = ctx.dem_altitude.get(r.key)
    if dem is None:
        return
    if r.altitude_m is None:
        yield Flag(f"No altitude recorded; the DEM gives {dem:.0f} m.", {"dem_m": round(dem, 1)}, I)
        return
    gap = r.altitude_m - dem
    if abs(gap) > ctx.settings.dem_error_m:
        severity: Severity | None = E
    elif abs(gap) > ctx.settings.dem_tolerance_m:
        severity = None
    else:
        return
    yield Flag(
        f"Recorded altitude {r.altitude_m:.0f} m differs from the DEM ({dem:.0f} m) by {gap:+.0f} m.",
        {"altitude_m": r.altitude_m, "dem_m": round(dem, 1), "difference_m": round(gap, 1)},
        severity,
    )


@qc_rule(
    code="habitat.altitude_range",
    severity=W,
    version=1,
    description="Each habitat is within its plausible altitude range (DEM altitude, else the recorded one).",
)
def habitat_altitude_range(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    dem = ctx.dem_altitude.get(r.key)
    altitude, source = (dem, "DEM") if dem is not None else (r.altitude_m, "recorded")
    if altitude is None or not ctx.altitude_ranges:
        return
    margin = ctx.settings.altitude_margin_m
    for h in r.habitats:
        found = ctx.altitude_range_for(h.eunis_codes)
        if found is None:
            continue
        prefix, rng = found
        if not rng.low_m - margin <= altitude <= rng.high_m + margin:
            yield Flag(
                f"Habitat {h.unit.code if h.unit else h.code_cited} is expected at {rng.low_m:.0f}–{rng.high_m:.0f} m, "
                f"the plot is at {altitude:.0f} m ({source}).",
                {
                    "code": h.unit.code if h.unit else h.code_cited,
                    "eunis_prefix": prefix,
                    "low_m": rng.low_m,
                    "high_m": rng.high_m,
                    "altitude_m": round(altitude, 1),
                    "source": source,
                },
            )


# Plausible altitude belts in Occitanie for EUNIS units whose name ties them to a belt (EUNIS 2021
# level-2/3 names: "coastal", "alpine and subalpine", "lowland"…). Generous by design: the rule catches
# typing errors and swapped codes (an alpine grassland at sea level), not ecological subtleties.
OCCITANIE_ALTITUDE_RANGES: dict[str, AltitudeRange] = {
    "N": AltitudeRange(0, 150),  # coastal dunes, shingle, cliffs
    "MA2": AltitudeRange(0, 20),  # littoral salt marshes
    "R4": AltitudeRange(1400, 3300),  # alpine and subalpine grasslands
    "S2": AltitudeRange(1300, 3300),  # arctic, alpine and subalpine scrub
    "S26": AltitudeRange(1400, 2600),  # subalpine Pinus mugo scrub
    "T34": AltitudeRange(1400, 2600),  # subalpine Larix, Pinus cembra and Pinus uncinata forest
    "U4": AltitudeRange(2200, 3400),  # snow and ice
    "U71": AltitudeRange(800, 3000),  # gravel bars of montane and alpine rivers
    "V36": AltitudeRange(1400, 3000),  # alpine and subalpine enriched grassland
    "Q45": AltitudeRange(1500, 3000),  # arctic-alpine rich fen
    "R32": AltitudeRange(0, 800),  # Mediterranean short moist grassland of lowlands
    "S5": AltitudeRange(0, 800),  # maquis, thermo-Mediterranean scrub
}


# --- Habitat vs species composition ----------------------------------------------------------------


@qc_rule(
    code="habitat.characteristic_species",
    severity=W,
    version=1,
    description="The species list supports the main habitat (EUNIS-ESy characteristic species), else suggests units.",
)
def habitat_characteristic_species(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    index = ctx.characteristic
    primary = r.primary_habitat
    if index is None or primary is None or not r.species:
        return
    codes = [c for c in primary.eunis_codes if c in index.habitat_codes]
    label = primary.unit.code if primary.unit else primary.code_cited
    if not codes:
        if primary.eunis_codes:
            yield Flag(
                f"No EUNIS-ESy species list for {', '.join(primary.eunis_codes)}; composition not checked.",
                {"eunis_codes": list(primary.eunis_codes)},
                I,
            )
        return
    scores = index.scores((s.cd_ref, s.name_normalized) for s in r.species)
    own_code = max(codes, key=lambda c: scores.get(c, 0.0))
    own = scores.get(own_code, 0.0)
    s = ctx.settings
    better = sorted(
        ((code, score) for code, score in scores.items() if code not in codes),
        key=lambda item: (-item[1], item[0]),
    )[:3]
    if own >= s.characteristic_min_score:
        return
    if better and better[0][1] >= s.characteristic_min_score and better[0][1] >= s.characteristic_better_ratio * own:
        suggestions = ", ".join(
            f"{code} {index.names.get(code, '')} ({score:.2f})".replace("  ", " ") for code, score in better
        )
        yield Flag(
            f"The species list weakly supports {label} ({own_code}, score {own:.2f}); better supported: {suggestions}.",
            {
                "eunis_code": own_code,
                "score": round(own, 3),
                "suggestions": [{"eunis_code": c, "score": round(v, 3)} for c, v in better],
            },
        )


# --- Between plots -------------------------------------------------------------------------------


@qc_rule(
    code="plots.near_duplicate",
    severity=W,
    version=1,
    description="No other plot of the campaign lies at the same place with the same habitats or species.",
)
def plots_near_duplicate(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if not r.has_valid_location or r.location is None:
        return
    me = r.as_ref()
    for other in ctx.plots_near(r.location, ctx.settings.duplicate_distance_m):
        if other.key == r.key or other.location is None:
            continue
        union = me.taxa | other.taxa
        jaccard = len(me.taxa & other.taxa) / len(union) if union else 0.0
        same_habitats = bool(me.habitats) and me.habitats == other.habitats
        if jaccard >= ctx.settings.duplicate_taxa_jaccard or same_habitats:
            gap = distance_m(r.location, other.location)
            yield Flag(
                f"Plot {other.key} lies {gap:.1f} m away with "
                + ("the same habitats" if same_habitats else f"{jaccard:.0%} of species in common")
                + ": a possible duplicate.",
                {"other": str(other.key), "distance_m": round(gap, 1), "jaccard": round(jaccard, 3)},
            )


@qc_rule(
    code="sample_point.distance",
    severity=W,
    version=1,
    description="The plot is close to its assigned sample point.",
)
def sample_point_distance(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if r.sample_point is None or not r.has_valid_location or r.location is None:
        return
    gap = distance_m(r.location, r.sample_point)
    s = ctx.settings
    if gap > s.sample_point_warning_m:
        yield Flag(
            f"The plot is {gap:.0f} m from its assigned sample point.",
            {"distance_m": round(gap, 1), "limit_m": s.sample_point_warning_m},
            E if gap > s.sample_point_error_m else None,
        )


@qc_rule(
    code="travel.speed",
    severity=W,
    version=1,
    description="The observer could have travelled between consecutive plots at a plausible speed.",
)
def travel_speed(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if r.observer_id is None or r.observed_at is None or r.location is None or not r.has_valid_location:
        return
    me = r.as_ref()
    s = ctx.settings
    for other in ctx.neighbours_in_time(me):
        if other is None or other.location is None or other.observed_at is None:
            continue
        gap = distance_m(r.location, other.location)
        if gap < s.min_travel_m:
            continue
        hours = abs((r.observed_at - other.observed_at).total_seconds()) / 3600.0
        speed = gap / 1000.0 / hours if hours > 0 else math.inf
        if speed > s.max_speed_kmh:
            yield Flag(
                f"{gap / 1000:.1f} km from plot {other.key} in {hours * 60:.0f} min "
                f"({'instantly' if math.isinf(speed) else f'{speed:.0f} km/h'}).",
                {
                    "other": str(other.key),
                    "distance_m": round(gap, 1),
                    "minutes": round(hours * 60, 1),
                    "speed_kmh": None if math.isinf(speed) else round(speed, 1),
                },
            )


# --- Photos --------------------------------------------------------------------------------------


@qc_rule(code="photos.present", severity=W, version=1, description="The relevé has photos, all uploaded.")
def photos_present(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    if not r.photos:
        yield Flag("The relevé has no photo.", {"declared": 0})
        return
    missing = [p.uuid for p in r.photos if not p.complete]
    if missing:
        yield Flag(f"{len(missing)} of {len(r.photos)} photos are not uploaded yet.", {"missing": missing}, I)


@qc_rule(
    code="photos.exif_consistent",
    severity=W,
    version=1,
    description="Photos were taken near the plot (EXIF GPS) and around the observation time (EXIF time).",
)
def photos_exif_consistent(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    s = ctx.settings
    for p in r.photos:
        if p.exif_xy is not None and r.has_valid_location and r.location is not None:
            gap = distance_m(p.exif_xy, r.location)
            if gap > s.photo_distance_m:
                yield Flag(
                    f"Photo {p.uuid} was taken {gap:.0f} m from the plot.",
                    {"photo": p.uuid, "distance_m": round(gap, 1), "limit_m": s.photo_distance_m},
                )
        if p.exif_time is not None and r.observed_at is not None and p.exif_time.tzinfo and r.observed_at.tzinfo:
            lag = (p.exif_time - r.observed_at).total_seconds()
            if abs(lag) > s.photo_time_s:
                yield Flag(
                    f"Photo {p.uuid} was taken {abs(lag) / 3600:.1f} h {'after' if lag > 0 else 'before'} the relevé.",
                    {"photo": p.uuid, "lag_s": round(lag), "limit_s": s.photo_time_s},
                )


@qc_rule(
    code="photos.reused",
    severity=W,
    version=1,
    description="No photo (same bytes) is attached to another plot.",
)
def photos_reused(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    for p in r.photos:
        if not p.sha256:
            continue
        others = sorted(str(k) for k in ctx.plots_with_photo(p.sha256) if k != r.key)
        if others:
            yield Flag(
                f"Photo {p.uuid} is also attached to plot(s) {', '.join(others)}.",
                {"photo": p.uuid, "sha256": p.sha256, "others": others},
            )


# --- Raster hooks --------------------------------------------------------------------------------


def robust_outlier_score(vector: np.ndarray, reference: np.ndarray) -> float:
    """Root-mean-square robust z-score of ``vector`` against ``reference`` rows (median, scaled MAD)."""
    median = np.median(reference, axis=0)
    mad = 1.4826 * np.median(np.abs(reference - median), axis=0)
    scale = np.where(mad > 1e-12, mad, np.std(reference, axis=0))
    # A feature all peers share exactly (a constant band) must not turn a rounding difference into z = 10¹².
    scale = np.maximum(scale, 1e-6 * (np.abs(median) + 1.0))
    z = (vector - median) / scale
    return float(np.sqrt(np.mean(z**2)))


@qc_rule(
    code="spectral.outlier",
    severity=W,
    version=2,  # 2: the plot itself is left out of its class's reference; minimum of peers in QCSettings
    description="The plot's raster features are typical of the validated plots of its map class.",
    uses_rasters=True,
)
def spectral_outlier(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    features = ctx.spectral_features.get(r.key)
    primary = r.primary_habitat
    if features is None or primary is None or primary.map_class is None or not len(features):
        return
    vector = np.asarray(features, dtype=float)
    peers = [
        v for key, v in ctx.spectral_reference(primary.map_class).items() if key != r.key and len(v) == len(vector)
    ]
    if len(peers) < ctx.settings.spectral_min_peers or not np.isfinite(vector).all():
        return  # too few validated plots of the class to say what is typical
    reference = np.asarray(peers, dtype=float)
    score = robust_outlier_score(vector, reference)
    if score > ctx.settings.spectral_z:
        yield Flag(
            f"The plot's raster features are atypical of class {primary.map_class} (robust z {score:.1f}).",
            {"map_class": primary.map_class, "z": round(score, 2), "reference_plots": int(reference.shape[0])},
        )


@qc_rule(
    code="plot.homogeneity",
    severity=W,
    version=1,
    description="The pixels within the plot footprint are homogeneous (one habitat, not an edge).",
    uses_rasters=True,
)
def plot_homogeneity(r: ReleveSnapshot, ctx: QCContext) -> Iterator[Flag]:
    cv = ctx.footprint_variability.get(r.key)
    if cv is None or cv <= ctx.settings.homogeneity_cv:
        return
    yield Flag(
        f"The pixels under the plot vary a lot (coefficient of variation {cv:.2f}): edge or mixed plot?",
        {"cv": round(cv, 3), "limit": ctx.settings.homogeneity_cv},
    )
