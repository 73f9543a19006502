"""Raster catalogue and feature sets: registering layers, defining feature stacks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import Polygon
from django.db import transaction

from classification.models import LAMBERT93, Feature, FeatureDerivation, FeatureSet, RasterKind, RasterLayer
from classification.rasters.catalogue import RasterError, raster_inspect
from classification.rasters.features import DERIVATIONS, FeatureSpec
from classification.rasters.grid import LayerSource


class CatalogueError(ValueError):
    """A request the catalogue refuses; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@transaction.atomic
def raster_layer_register(
    *,
    uri: str,
    name: str,
    kind: str,
    date: dt.date | None = None,
    is_categorical: bool = False,
    reproject_from_epsg: int | None = None,
    resampling: str = "",
    band_names: list[str] | None = None,
    description: str = "",
) -> tuple[RasterLayer, bool]:
    """Read ``uri``'s metadata and create or refresh the layer ``name``; raise CatalogueError if unusable."""
    if kind not in RasterKind.values:
        raise CatalogueError("unknown_kind", f"unknown raster kind {kind!r}; one of {', '.join(RasterKind.values)}")
    try:
        info = raster_inspect(uri, reproject_from_epsg=reproject_from_epsg, resampling=resampling)
    except RasterError as exc:
        raise CatalogueError(exc.code, exc.message) from exc
    if band_names is not None and len(band_names) != info.band_count:
        raise CatalogueError(
            "band_names_mismatch", f"{uri}: {len(band_names)} band names given for {info.band_count} bands"
        )
    if is_categorical and info.resampling not in ("", "nearest", "mode"):
        raise CatalogueError("categorical_resampling", "a categorical raster can only be resampled by nearest or mode")
    defaults: dict[str, Any] = {
        "uri": uri,
        "kind": kind,
        "date": date,
        "band_count": info.band_count,
        "band_names": band_names or info.band_names,
        "dtype": info.dtype,
        "width": info.width,
        "height": info.height,
        "source_epsg": info.source_epsg,
        "resampling": info.resampling,
        "resolution_x": info.resolution[0],
        "resolution_y": info.resolution[1],
        "transform": list(info.transform),
        "extent": Polygon.from_bbox(info.bounds_2154),
        "nodata": info.nodata,
        "is_categorical": is_categorical,
        "is_synthetic": info.is_synthetic,
        "description": description or info.tags.get("DESCRIPTION", ""),
    }
    defaults["extent"].srid = LAMBERT93
    return RasterLayer.objects.update_or_create(name=name, defaults=defaults)


def raster_layer_source(layer: RasterLayer) -> LayerSource:
    """The numeric core's view of a catalogue layer."""
    return LayerSource(uri=layer.uri, source_epsg=layer.source_epsg, resampling=layer.resampling, nodata=layer.nodata)


@dataclass(frozen=True)
class FeatureDefinition:
    name: str
    derivation: str
    inputs: list[tuple[int, int]]  # (layer id, 1-based band)
    resampling: str = "bilinear"


@transaction.atomic
def feature_set_create(
    *, name: str, features: list[FeatureDefinition], resolution: float = 10.0, description: str = ""
) -> FeatureSet:
    """Create a feature set of ordered, named features; every input band must exist in the catalogue."""
    if not features:
        raise CatalogueError("empty_feature_set", "a feature set needs at least one feature")
    if FeatureSet.objects.filter(name=name).exists():
        raise CatalogueError("duplicate", f"feature set {name!r} already exists (feature sets are immutable)")
    if resolution <= 0:
        raise CatalogueError("invalid_resolution", "the resolution must be positive")
    names = [feature.name for feature in features]
    if len(set(names)) != len(names):
        raise CatalogueError("duplicate_feature_name", "feature names must be unique within a feature set")
    layers = RasterLayer.objects.in_bulk({layer_id for f in features for layer_id, _ in f.inputs})
    for feature in features:
        if feature.derivation not in FeatureDerivation.values:
            raise CatalogueError(
                "unknown_derivation", f"feature {feature.name}: unknown derivation {feature.derivation!r}"
            )
        if len(feature.inputs) != DERIVATIONS[feature.derivation]:
            raise CatalogueError(
                "wrong_inputs",
                f"feature {feature.name}: {feature.derivation} takes {DERIVATIONS[feature.derivation]} band(s)",
            )
        for layer_id, band in feature.inputs:
            layer = layers.get(layer_id)
            if layer is None:
                raise CatalogueError("unknown_layer", f"feature {feature.name}: raster layer {layer_id} does not exist")
            if not 1 <= band <= layer.band_count:
                raise CatalogueError("unknown_band", f"feature {feature.name}: {layer.name} has no band {band}")
            if feature.derivation in ("slope", "aspect") and layer.kind != RasterKind.DEM:
                raise CatalogueError("not_a_dem", f"feature {feature.name}: {layer.name} is not a DEM")
    feature_set = FeatureSet.objects.create(name=name, resolution=resolution, description=description)
    Feature.objects.bulk_create(
        Feature(
            feature_set=feature_set,
            position=position,
            name=feature.name,
            derivation=feature.derivation,
            inputs=[list(pair) for pair in feature.inputs],
            resampling=feature.resampling,
        )
        for position, feature in enumerate(features)
    )
    return feature_set


def feature_set_specs(feature_set: FeatureSet) -> list[FeatureSpec]:
    """The ordered feature specs the numeric core reads (selector)."""
    features = list(feature_set.features.order_by("position"))
    layers = RasterLayer.objects.in_bulk({pair[0] for f in features for pair in f.inputs})
    return [
        FeatureSpec(
            name=f.name,
            derivation=f.derivation,
            inputs=tuple((raster_layer_source(layers[layer_id]), band) for layer_id, band in f.inputs),
            resampling=f.resampling,
        )
        for f in features
    ]
