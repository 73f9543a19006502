"""Map runs: a trained model predicted over an area tile by tile on Celery workers (`mapping` queue).

Each tile is one task; the tile files on shared storage (MEDIA_ROOT) are the truth, so re-running a run
redoes only the tiles whose files are missing. A chord calls `map_run_finish` when every tile task has
returned: it mosaics the tiles into COGs, sieves, draws the preview and sums the cost.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone
from rasterio.windows import Window

from classification.mapping.grid import Grid as MapGrid
from classification.mapping.grid import GridError, tile_for, tiles_for_area
from classification.mapping.mosaic import mosaic, preview_png
from classification.mapping.predict import predict_tile
from classification.models import JobStatus, MapRun, MapTile, RasterLayer, TrainedModel
from classification.rasters.features import FeatureReader
from classification.rasters.grid import Grid
from classification.services.rasters import feature_set_specs
from classification.services.training import TrainingServiceError, trained_model_load
from classification.training.frugality import measure
from fieldcollect.models import Campaign, User


class MappingServiceError(TrainingServiceError):
    """A map run request the service refuses; ``code`` is stable."""


class _ReaderSource:
    """Adapts the catalogue's FeatureReader (NaN where an input is missing) to the mapping core."""

    def __init__(self, reader: FeatureReader) -> None:
        self.reader = reader

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        feats = self.reader.read(window)
        return feats, np.isfinite(feats).all(axis=0)


def _run_dir(run: MapRun) -> Path:
    return Path(settings.MEDIA_ROOT) / run.output_dir


def _feature_extent(model: TrainedModel) -> Any:
    layer_ids = {pair[0] for f in model.training_set.feature_set.features.all() for pair in f.inputs}
    extent: Any = None
    for layer in RasterLayer.objects.filter(pk__in=layer_ids):
        extent = layer.extent if extent is None else extent.intersection(layer.extent)
    return extent


def map_run_start(
    *,
    actor: User | None,
    model: TrainedModel,
    name: str,
    campaign: Campaign | None = None,
    area: MultiPolygon | Polygon | None = None,
    tile_size: int = 512,
    min_mapping_unit_px: int = 0,
    threads_per_worker: int = 1,
) -> MapRun:
    """Plan the tiles of a map over `area` (default: the campaign's region, else where every feature layer has
    data) and queue them. A run of a campaign can be assessed only with that campaign's validation plans."""
    if area is None and campaign is not None:
        area = campaign.region
    if model.status != JobStatus.SUCCEEDED:
        raise MappingServiceError("model_not_ready", f"model {model.pk} has not finished training")
    if min_mapping_unit_px == 1 or threads_per_worker < 1:
        raise MappingServiceError("invalid_parameters", "min_mapping_unit_px must be 0 or ≥ 2; threads ≥ 1")
    region_area: Any = MultiPolygon(area, srid=area.srid) if isinstance(area, Polygon) else area
    if region_area is not None and region_area.srid and region_area.srid != 2154:
        region_area = region_area.transform(2154, clone=True)
    extent = _feature_extent(model)
    if extent is None or extent.empty:
        raise MappingServiceError("no_features", "the model's feature layers do not overlap")
    region = extent if region_area is None else region_area.intersection(extent)
    if region.empty:
        raise MappingServiceError("empty_area", "the area does not overlap the feature layers")
    grid = Grid.covering(region.extent, model.training_set.feature_set.resolution)
    map_grid = MapGrid(grid.transform, grid.width, grid.height, "EPSG:2154")
    geometry = json.loads(region.geojson)
    try:
        tiles = list(tiles_for_area(map_grid, tile_size=tile_size, geometry=geometry))
    except GridError as exc:
        raise MappingServiceError("invalid_tiling", str(exc)) from exc
    with transaction.atomic():
        run = MapRun.objects.create(
            model=model,
            campaign=campaign,
            name=name,
            area=region if isinstance(region, MultiPolygon) else MultiPolygon(region, srid=2154),
            grid=map_grid.as_dict(),
            tile_size=tile_size,
            min_mapping_unit_px=min_mapping_unit_px,
            threads_per_worker=threads_per_worker,
            tiles_total=len(tiles),
            output_dir=f"map_runs/{uuid.uuid4().hex}",
            created_by=actor,
        )
        MapTile.objects.bulk_create(MapTile(run=run, row=t.row, col=t.col) for t in tiles)
        transaction.on_commit(lambda: map_run_schedule(run=run))
    return run


def map_run_schedule(*, run: MapRun) -> int:
    """Queue one task per tile not yet done, then the finishing step (a chord); returns the tiles queued."""
    from celery import chord

    from classification.tasks import map_run_finish_task, map_tile_predict_task

    pending = list(run.tiles.filter(done=False).values_list("pk", flat=True))
    MapRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, started_at=run.started_at or timezone.now())
    if not pending:
        map_run_finish_task.delay(run.pk)
        return 0
    chord(map_tile_predict_task.s(pk) for pk in pending)(map_run_finish_task.si(run.pk))
    return len(pending)


def map_run_resume(*, run: MapRun) -> int:
    """Re-queue the tiles of an interrupted run (a killed worker, a lost broker): done tiles are kept."""
    if run.status == JobStatus.SUCCEEDED:
        raise MappingServiceError("already_done", "this map run has finished")
    return map_run_schedule(run=run)


def map_tile_predict(*, tile_id: int, worker: str = "") -> MapTile:
    """Predict one tile (skipped if its files are already there) and record its cost."""
    tile = MapTile.objects.select_related("run__model__training_set__feature_set").get(pk=tile_id)
    run = tile.run
    grid = MapGrid.from_dict(run.grid)
    geometry = json.loads(run.area.geojson) if run.area is not None else None
    t = tile_for(grid, tile.row, tile.col, tile_size=run.tile_size)
    model = run.model
    estimator = trained_model_load(model)
    feature_set = model.training_set.feature_set
    catalogue_grid = Grid(grid.transform.c, grid.transform.f, feature_set.resolution, grid.width, grid.height)
    with FeatureReader(feature_set_specs(feature_set), catalogue_grid) as reader:
        result = predict_tile(
            model=estimator,
            source=_ReaderSource(reader),
            grid=grid,
            tile=t,
            out_dir=_run_dir(run) / "tiles",
            model_tag=f"{model.pk}:{model.artifact_sha256[:16]}",
            geometry=geometry,
            threads=run.threads_per_worker,
            watts_per_core=float(getattr(settings, "ENERGY_WATTS_PER_CORE", 10.0)),
        )
    if result.skipped and tile.done:
        return tile
    tile.done = True
    tile.worker = worker or socket.gethostname()
    tile.finished_at = timezone.now()
    if not result.skipped:
        tile.valid_pixels = result.valid_pixels
        tile.wall_seconds = result.cost.wall_seconds
        tile.cpu_seconds = result.cost.cpu_seconds
        tile.peak_rss_bytes = result.cost.peak_rss_bytes
        tile.energy_kwh = result.cost.energy_kwh
    tile.save()
    return tile


def map_run_finish(*, run_id: int) -> MapRun:
    """Mosaic, sieve and preview once every tile is done; otherwise mark the run failed (resume it)."""
    run = MapRun.objects.select_related("model__training_set__legend").get(pk=run_id)
    if run.status == JobStatus.SUCCEEDED:
        return run
    missing = run.tiles.filter(done=False).count()
    if missing:
        MapRun.objects.filter(pk=run.pk).update(
            status=JobStatus.FAILED,
            error_code="tiles_missing",
            message=f"{missing} tile(s) did not finish; resume the run to redo them",
        )
        run.refresh_from_db()
        return run
    grid = MapGrid.from_dict(run.grid)
    tiles = [tile_for(grid, r, c, tile_size=run.tile_size) for r, c in run.tiles.values_list("row", "col")]
    colours = dict(run.model.training_set.legend.classes.values_list("value", "color"))
    out = _run_dir(run)
    watts = float(getattr(settings, "ENERGY_WATTS_PER_CORE", 10.0))
    with measure(watts_per_core=watts) as cost:
        paths = mosaic(
            grid=grid, tiles=tiles, tile_dir=out / "tiles", out_dir=out, colours=colours,
            min_mapping_unit_px=run.min_mapping_unit_px,
        )  # fmt: skip
        preview_png(paths["classes"], out / "preview.png", max_size=1024)
    sums = run.tiles.aggregate(cpu=Sum("cpu_seconds"), energy=Sum("energy_kwh"), peak=Max("peak_rss_bytes"))
    media = Path(settings.MEDIA_ROOT)
    MapRun.objects.filter(pk=run.pk).update(
        status=JobStatus.SUCCEEDED,
        classes_cog=str(paths["classes"].relative_to(media)),
        confidence_cog=str(paths["confidence"].relative_to(media)),
        preview_png=str((out / "preview.png").relative_to(media)),
        cpu_seconds=(sums["cpu"] or 0.0) + cost.cpu_seconds,
        energy_kwh=(sums["energy"] or 0.0) + cost.energy_kwh,
        peak_rss_bytes=max(sums["peak"] or 0, cost.peak_rss_bytes),
        finished_at=timezone.now(),
        error_code="",
        message="",
    )
    run.refresh_from_db()
    return run


def map_run_progress(run: MapRun) -> dict[str, Any]:
    """Tiles done, fraction, elapsed and estimated remaining seconds (selector)."""
    done = run.tiles.filter(done=True).count()
    total = run.tiles_total
    elapsed = (timezone.now() - run.started_at).total_seconds() if run.started_at else 0.0
    if run.finished_at and run.started_at:
        elapsed = (run.finished_at - run.started_at).total_seconds()
    eta = None if not done or done == total else elapsed / done * (total - done)
    return {
        "done": done,
        "total": total,
        "fraction": done / total if total else 1.0,
        "elapsed_s": elapsed,
        "eta_s": eta,
    }
