"""The demo's field season and model on the SYNTHETIC landscape: what botanists find at the sample points
(read from the landscape's "true" habitat map), the demo feature set, and the wait for Celery jobs."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from rasterio.warp import transform as warp_transform

from classification.models import LAMBERT93, FeatureDerivation, FeatureSet, RasterLayer, SamplePoint, VisitState
from classification.rasters.points import OK, raster_sample_points
from classification.services.rasters import FeatureDefinition, feature_set_create, raster_layer_source
from fieldcollect.client import Site
from habitats.models import CharacteristicSpecies, HabitatUnit, MapClass, MapLegend
from habitats.selectors import legend_units_by_class

EUNIS = 107
DEMO_FEATURE_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


class DemoError(RuntimeError):
    pass


def _class_units(legend: MapLegend) -> dict[int, list[tuple[int, list[tuple[int, str]]]]]:
    """{class value: [(cd_hab, characteristic taxa)…]}: the units a botanist records for each class, EUNIS
    units with characteristic species first (they are what the species lists support)."""
    by_class = legend_units_by_class(legend=legend)
    values = dict(MapClass.objects.filter(legend=legend).values_list("pk", "value"))
    units = HabitatUnit.objects.in_bulk([cd for ids in by_class.values() for cd in ids])
    taxa: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for habitat_id, cd_nom, name in (
        CharacteristicSpecies.objects.filter(habitat_id__in=list(units), taxon__isnull=False)
        .exclude(kind=CharacteristicSpecies.Kind.DOMINANT)
        .order_by("habitat_id", "-value", "taxon_id")
        .values_list("habitat_id", "taxon_id", "taxon__full_name")
    ):
        if all(cd_nom != seen for seen, _ in taxa[habitat_id]):
            taxa[habitat_id].append((cd_nom, name))
    result: dict[int, list[tuple[int, list[tuple[int, str]]]]] = {}
    for class_id, ids in by_class.items():
        usable = [units[cd] for cd in ids if units[cd].validity == HabitatUnit.Validity.REFERENCE]
        supported = [u for u in usable if u.typology_id == EUNIS and len(taxa[u.cd_hab]) >= 5]
        chosen = supported or [u for u in usable if u.typology_id == EUNIS] or usable
        result[values[class_id]] = [(u.cd_hab, taxa[u.cd_hab][:15]) for u in sorted(chosen, key=lambda u: u.cd_hab)]
    return result


def demo_field_sites(
    *,
    points: list[SamplePoint],
    truth: RasterLayer,
    dem: RasterLayer,
    legend: MapLegend,
    seed: int,
    mislabel_rate: float = 0.05,
    mosaic_rate: float = 0.25,
) -> dict[str, list[Site]]:
    """What each botanist records at their points (SYNTHETIC): the habitat of the landscape's true map there
    (a unit of its class, sometimes a small second habitat of another class, and now and then a wrong
    class, as in real fieldwork), its characteristic species and the altitude of the DEM; GNSS error of a
    few metres. Points on nodata or off the landscape are left out."""
    if not points:
        return {}
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    xs = np.array([p.location.x for p in points])
    ys = np.array([p.location.y for p in points])
    classes = raster_sample_points(raster_layer_source(truth), xs, ys, bands=[1])
    heights = raster_sample_points(raster_layer_source(dem), xs, ys, bands=[1])
    units = _class_units(legend)
    values = sorted(v for v, candidates in units.items() if candidates)
    if not values:
        raise DemoError(f"legend {legend} maps no habitat unit to any class")
    # A few metres of GNSS error, then WGS 84 as the tablet records it.
    jitter_x = [rng.gauss(0, 3) for _ in points]
    jitter_y = [rng.gauss(0, 3) for _ in points]
    lons, lats = warp_transform(
        f"EPSG:{LAMBERT93}", "EPSG:4326", list(xs + np.array(jitter_x)), list(ys + np.array(jitter_y))
    )
    sites: dict[str, list[Site]] = defaultdict(list)
    for i, point in enumerate(points):
        if point.assignee is None or classes.status[i] != OK:
            continue
        true_value = int(classes.values[i, 0])
        value = true_value
        if rng.random() < mislabel_rate or not units.get(value):
            value = rng.choice([v for v in values if v != true_value])
        cd_hab, taxa = rng.choice(units[value])
        habitats = [(cd_hab, 100)]
        if rng.random() < mosaic_rate:
            other, _ = rng.choice(units[rng.choice([v for v in values if v != value])])
            share = rng.choice([10, 15, 20])
            habitats = [(cd_hab, 100 - share), (other, share)]
        altitude = None if heights.status[i] != OK else round(float(heights.values[i, 0]) + rng.gauss(0, 5))
        sites[point.assignee.username].append(
            Site(
                lon=round(lons[i], 7),
                lat=round(lats[i], 7),
                habitats=habitats,
                sample_point=str(point.pk),
                altitude_m=altitude,
                taxa=rng.sample(taxa, k=min(len(taxa), rng.randint(6, 12))),
            )
        )
    return dict(sites)


def demo_pending_points(plan_id: int) -> list[SamplePoint]:
    return list(
        SamplePoint.objects.filter(plan_id=plan_id, state=VisitState.PENDING, assignee__isnull=False)
        .select_related("assignee")
        .order_by("number")
    )


def demo_feature_set(*, name: str, layers: dict[str, RasterLayer], resolution: float) -> FeatureSet:
    """The demo feature set: six Sentinel-2 bands, NDVI and NDMI of each date, the DEM and its slope."""
    existing = FeatureSet.objects.filter(name=name).first()
    if existing is not None:
        return existing
    features: list[FeatureDefinition] = []
    s2 = sorted((layer for layer in layers.values() if layer.kind == "s2_band"), key=lambda layer: layer.name)
    if not s2:
        raise DemoError("the demo landscape has no Sentinel-2-like layer")
    for layer in s2:
        date = layer.date.strftime("%m%d") if layer.date else layer.name.rsplit("-", 1)[-1]
        band = {b: i + 1 for i, b in enumerate(layer.band_names)}
        for name_ in DEMO_FEATURE_BANDS:
            features.append(FeatureDefinition(f"{name_}_{date}", FeatureDerivation.BAND, [(layer.pk, band[name_])]))
        features.append(
            FeatureDefinition(
                f"NDVI_{date}", FeatureDerivation.NDVI, [(layer.pk, band["B08"]), (layer.pk, band["B04"])]
            )
        )
        features.append(
            FeatureDefinition(
                f"NDMI_{date}", FeatureDerivation.NDMI, [(layer.pk, band["B08"]), (layer.pk, band["B11"])]
            )
        )
    dem = next(layer for layer in layers.values() if layer.kind == "dem")
    features.append(FeatureDefinition("elevation", FeatureDerivation.BAND, [(dem.pk, 1)]))
    features.append(FeatureDefinition("slope", FeatureDerivation.SLOPE, [(dem.pk, 1)]))
    return feature_set_create(
        name=name,
        features=features,
        resolution=resolution,
        description="SYNTHETIC demo landscape: 3 dates × (6 bands, NDVI, NDMI), elevation and slope.",
    )


def wait_for(
    fetch: Callable[[], Any],
    done: Callable[[Any], bool],
    *,
    timeout_s: float,
    what: str,
    report: Callable[[Any], None] | None = None,
    every_s: float = 10.0,
) -> Any:
    """Poll ``fetch()`` until ``done``; a clear error after ``timeout_s`` (no worker, a stuck queue)."""
    started = last = time.monotonic()
    while True:
        value = fetch()
        if done(value):
            return value
        now = time.monotonic()
        if now - started > timeout_s:
            raise DemoError(f"{what} did not finish within {timeout_s:.0f} s: is a Celery worker running?")
        if report is not None and now - last >= every_s:
            report(value)
            last = now
        time.sleep(0.5)


def map_agreement_with_truth(*, classes_path: str, truth: RasterLayer) -> dict[str, Any]:
    """Share of the map's pixels whose class is the SYNTHETIC true class (demo and tests only: real maps
    have no truth raster; their accuracy comes from a probability sample, classification.accuracy)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    with rasterio.open(classes_path) as mapped:
        predicted = mapped.read(1)
        bounds, nodata = mapped.bounds, mapped.nodata
    with rasterio.open(truth.uri) as source:
        window = from_bounds(*bounds, transform=source.transform)
        true = source.read(
            1, window=window, out_shape=predicted.shape, resampling=Resampling.nearest, boundless=True, fill_value=0
        )
    valid = (predicted != (nodata if nodata is not None else 0)) & (true != 0)
    if truth.nodata is not None:
        valid &= true != truth.nodata
    n = int(valid.sum())
    agree = int((predicted[valid] == true[valid]).sum())
    return {"pixels": n, "agreement": agree / n if n else None}
