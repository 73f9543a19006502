"""Build a SYNTHETIC demo landscape over part of the real region and register its rasters."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from classification.landscape.classes import DEFAULT_CLASSES, SyntheticClass, classes_for_legend
from classification.landscape.generator import PRODUCTS, LandscapeSpec, landscape_generate, region_from_geojson
from classification.models import RasterLayer
from classification.services.rasters import CatalogueError, raster_layer_register

# The default window: Roussillon, with the Pyrenees to the south, the plain of Perpignan and the coast
# with its lagoons to the east (a 40 km window there holds mountains, plains and sea).
DEFAULT_CENTRE = (690_000.0, 6_180_000.0)


def landscape_classes(*, legend_id: int | None = None) -> list[SyntheticClass]:
    """The classes to paint: a map legend's classes when given (habitats.MapLegend), else the built-in list."""
    if legend_id is None:
        return list(DEFAULT_CLASSES)
    from habitats.models import MapClass

    rows = list(MapClass.objects.filter(legend_id=legend_id).order_by("value").values_list("value", "name"))
    if not rows:
        raise CatalogueError("empty_legend", f"map legend {legend_id} has no classes")
    return classes_for_legend(rows)


def departement_centre(code: str, *, data_dir: Path | None = None) -> tuple[float, float]:
    """Lambert-93 centre of the bounding box of an Occitanie département (by its code, e.g. '34')."""
    path = Path(data_dir or settings.SHARED_DATA_DIR) / "boundaries" / "departements-occitanie.geojson"
    document = json.loads(path.read_text(encoding="utf-8"))
    for feature in document["features"]:
        if feature["properties"].get("code") == code:
            geometry = region_from_geojson_feature(feature)
            xs = [x for polygon in geometry["coordinates"] for ring in polygon for x, _ in ring]
            ys = [y for polygon in geometry["coordinates"] for ring in polygon for _, y in ring]
            return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    raise CatalogueError("unknown_departement", f"no Occitanie département with code {code!r}")


def region_from_geojson_feature(feature: dict[str, Any]) -> dict[str, Any]:
    from rasterio.warp import transform_geom

    geometry = feature["geometry"]
    coordinates = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return transform_geom("EPSG:4326", "EPSG:2154", {"type": "MultiPolygon", "coordinates": coordinates})


def landscape_make(
    *,
    out_dir: Path,
    size: int,
    resolution: float = 10.0,
    seed: int = 0,
    centre: tuple[float, float] = DEFAULT_CENTRE,
    dates: tuple[str, ...] = ("2027-04-15", "2027-06-15", "2027-08-15"),
    cloud_cover: float = 0.1,
    products: tuple[str, ...] = PRODUCTS,
    classes: list[SyntheticClass] | None = None,
    register_prefix: str | None = None,
    data_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    reuse: bool = False,
) -> tuple[dict[str, Any], list[RasterLayer]]:
    """Generate a size × size landscape centred on ``centre`` and register its files as ``<prefix>-<product>``.

    With ``reuse``, files already written in ``out_dir`` for the same spec and classes are kept as they are.
    """
    if size <= 0 or size > 200_000:
        raise CatalogueError("invalid_size", "size must be between 1 and 200,000 cells")
    if not 0 <= cloud_cover < 1:
        raise CatalogueError("invalid_cloud_cover", "cloud cover must be in [0, 1)")
    for date in dates:
        try:
            dt.date.fromisoformat(date)
        except ValueError as exc:
            raise CatalogueError("invalid_date", f"{date!r} is not a YYYY-MM-DD date") from exc
    region = region_from_geojson(Path(data_dir or settings.SHARED_DATA_DIR) / "boundaries" / "region-occitanie.geojson")
    half = size * resolution / 2
    # Snap the corner to the resolution so landscapes nest on the common grid.
    xmin = round((centre[0] - half) / resolution) * resolution
    ymax = round((centre[1] + half) / resolution) * resolution
    spec = LandscapeSpec(
        xmin=xmin,
        ymax=ymax,
        width=size,
        height=size,
        resolution=resolution,
        seed=seed,
        dates=tuple(dates),
        cloud_cover=cloud_cover,
        products=tuple(products),
        classes=tuple(classes or DEFAULT_CLASSES),
    )
    existing = Path(out_dir) / "landscape.json"
    manifest = json.loads(existing.read_text(encoding="utf-8")) if reuse and existing.exists() else None
    wanted_spec = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.__dict__.items() if k not in ("classes", "extra")
    }
    wanted_classes = [{"value": c.value, "name": c.name} for c in spec.classes]
    if manifest is None or manifest.get("spec") != wanted_spec or manifest.get("classes") != wanted_classes:
        try:
            manifest = landscape_generate(spec, region=region, out_dir=out_dir, progress=progress)
        except ValueError as exc:
            raise CatalogueError("invalid_landscape", str(exc)) from exc
    layers: list[RasterLayer] = []
    if register_prefix:
        for key, info in manifest["files"].items():
            layer, _ = raster_layer_register(
                uri=str(Path(out_dir) / info["file"]),
                name=f"{register_prefix}-{key.replace('_', '-')}".lower(),
                kind=info["kind"],
                date=dt.date.fromisoformat(info["date"]) if info.get("date") else None,
                is_categorical=bool(info.get("categorical")),
                band_names=info["bands"],
                description=manifest["description"],
            )
            layers.append(layer)
    return manifest, layers
