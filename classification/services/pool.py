"""The live training pool: validated relevés as labelled samples with their pixels' features.

Fed by the validation queue (``fieldcollect.TrainingPoolEvent``, written whenever a relevé enters or
leaves "validated"): ``training_pool_consume`` claims pending events and brings the pool of each target
(legend, feature set) in line with the relevés' current state, so replaying an event changes nothing.

Label rule (documented in README, "Modeller workflow"): each habitat assignment of the relevé is mapped
to a class of the legend through the legend rules; the share of a class is the summed cover of the
assignments it receives divided by the summed cover of all assignments (unmapped ones included). The
relevé is included with the dominant class when that share is at least ``TRAINING_POOL_MOSAIC_THRESHOLD``
(default 0.75); a single assignment, or several that all reach the same class, count as a share of 1.
Otherwise it is excluded with a reason code: ``no_habitat``, ``unmapped_habitat``,
``mosaic_without_shares`` (several classes, a cover missing), ``mosaic_below_threshold``, ``off_raster``
(no pixel on the feature grid) or ``no_features`` (every pixel has a nodata feature).

Pixels: the cells of the feature set's grid whose centres lie inside the plot footprint when one was
drawn, otherwise within a buffer around the point (radius √(plot area / π), or ``TRAINING_POOL_BUFFER_M``
when the area is unknown); the cell under the point is always taken. Pixels with a nodata feature are
dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import Q

from classification.models import FeatureSet, RasterLayer, SamplePoint, TrainingSample
from classification.rasters.features import FeatureReader
from classification.rasters.grid import Grid
from classification.rasters.points import OK, features_sample_points
from classification.services.rasters import feature_set_specs
from fieldcollect.models import HabitatAssignment, Releve, ReleveStatus
from habitats.models import MapLegend
from habitats.selectors import habitat_unit_map_class


class PoolError(ValueError):
    """A request the pool services refuse; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def mosaic_threshold() -> float:
    return float(getattr(settings, "TRAINING_POOL_MOSAIC_THRESHOLD", 0.75))


def default_buffer_m() -> float:
    return float(getattr(settings, "TRAINING_POOL_BUFFER_M", 5.0))


def training_pool_targets() -> list[tuple[MapLegend, FeatureSet]]:
    """The (legend, feature set) pools kept live (selector).

    The legend is the active one named ``TRAINING_POOL_LEGEND`` or, when unset, every active legend; the
    feature set is the one named ``TRAINING_POOL_FEATURE_SET`` or, when unset, the newest one.
    """
    legends = MapLegend.objects.filter(is_active=True).order_by("name")
    legend_name = getattr(settings, "TRAINING_POOL_LEGEND", "")
    if legend_name:
        legends = legends.filter(name=legend_name)
    fs_name = getattr(settings, "TRAINING_POOL_FEATURE_SET", "")
    feature_set = (
        FeatureSet.objects.filter(name=fs_name).first()
        if fs_name
        else FeatureSet.objects.order_by("-created_at", "-id").first()
    )
    if feature_set is None:
        return []
    return [(legend, feature_set) for legend in legends]


def feature_set_grid(feature_set: FeatureSet) -> Grid | None:
    """The feature set's grid: its resolution over the intersection of its layers' extents (selector)."""
    layer_ids = {pair[0] for f in feature_set.features.all() for pair in f.inputs}
    extent: Any = None
    for layer in RasterLayer.objects.filter(pk__in=layer_ids).order_by("pk"):
        extent = layer.extent if extent is None else extent.intersection(layer.extent)
    if extent is None or extent.empty:
        return None
    return Grid.covering(extent.extent, feature_set.resolution)


@dataclass
class Label:
    value: int | None
    share: float | None
    reason: str = ""
    message: str = ""


def releve_label(assignments: Sequence[tuple[int, float | None]], classes: dict[int, int], threshold: float) -> Label:
    """The map class of a relevé from its (cd_hab, cover %) assignments and {cd_hab: class value}."""
    if not assignments:
        return Label(None, None, "no_habitat", "The relevé records no habitat.")
    reached = {classes.get(cd_hab) for cd_hab, _ in assignments}
    if reached == {None}:
        return Label(None, None, "unmapped_habitat", "No legend rule reaches the relevé's habitats.")
    if len(reached) == 1:
        (value,) = reached
        return Label(value, 1.0)
    if any(cover is None or cover <= 0 for _, cover in assignments):
        return Label(None, None, "mosaic_without_shares", "A mosaic of several classes with a cover missing.")
    total = float(sum(cover for _, cover in assignments if cover is not None))
    shares: dict[int | None, float] = defaultdict(float)
    for cd_hab, cover in assignments:
        shares[classes.get(cd_hab)] += float(cover or 0.0) / total
    best_share, best = max((share, -(value or 0)) for value, share in shares.items() if value is not None)
    best_share = round(best_share, 6)
    if best_share < threshold:
        return Label(
            None,
            best_share,
            "mosaic_below_threshold",
            f"Dominant class {-best} covers {best_share:.0%} of the plot, below the {threshold:.0%} threshold.",
        )
    return Label(-best, best_share)


def _plot_cells(releve: Releve, grid: Grid, buffer_m: float) -> tuple[str, np.ndarray, np.ndarray]:
    """Rows and columns of the grid cells under a plot (footprint or buffer), sorted, deduplicated."""
    x0, y0 = float(releve.location.x), float(releve.location.y)
    shape: Any
    if releve.plot is not None and not releve.plot.empty:
        shape, kind = releve.plot, "plot"
    else:
        radius = math.sqrt(releve.plot_area_m2 / math.pi) if releve.plot_area_m2 else buffer_m
        shape, kind = Point(x0, y0, srid=2154).buffer(radius, quadsegs=16), "buffer"
    xmin, ymin, xmax, ymax = shape.extent
    r0, c0 = grid.rowcol(np.array([xmin]), np.array([ymax]))
    r1, c1 = grid.rowcol(np.array([xmax]), np.array([ymin]))
    rows, cols = np.mgrid[int(r0[0]) : int(r1[0]) + 1, int(c0[0]) : int(c1[0]) + 1]
    rows, cols = rows.ravel(), cols.ravel()
    xs, ys = grid.cell_centres(rows, cols)
    prepared = shape.prepared
    inside = np.array([prepared.contains(Point(x, y)) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)], bool)
    pr, pc = grid.rowcol(np.array([x0]), np.array([y0]))
    cells = set(zip(rows[inside].tolist(), cols[inside].tolist(), strict=True)) | {(int(pr[0]), int(pc[0]))}
    ordered = sorted(cells)
    return kind, np.array([r for r, _ in ordered], dtype=np.int64), np.array([c for _, c in ordered], dtype=np.int64)


@dataclass
class PoolOutcome:
    included: int = 0
    excluded: int = 0
    removed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def training_pool_update(*, releve_ids: Iterable[int]) -> PoolOutcome:
    """Bring the pool of every target in line with these relevés' current state (idempotent).

    Validated relevés get their sample (re)built; any other relevé (un-validated, deleted) loses its rows.
    """
    ids = sorted(set(releve_ids))
    outcome = PoolOutcome()
    if not ids:
        return outcome
    with transaction.atomic():
        # Lock the relevés: a concurrent review decision waits until this update is written.
        releves = list(Releve.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        live = [r for r in releves if r.status == ReleveStatus.VALIDATED and r.deleted_at is None]
        gone = [r.pk for r in releves if r not in live] + sorted(set(ids) - {r.pk for r in releves})
        outcome.removed, _ = TrainingSample.objects.filter(releve_id__in=gone).delete()
        targets = training_pool_targets()
        if not live:
            return outcome
        assignments: dict[int, list[tuple[int, float | None]]] = defaultdict(list)
        for releve_id, cd_hab, cover in (
            HabitatAssignment.objects.filter(releve_id__in=[r.pk for r in live])
            .order_by("releve_id", "rank", "id")
            .values_list("releve_id", "habitat_id", "cover_pct")
        ):
            assignments[releve_id].append((cd_hab, cover))
        all_units = {cd for rows in assignments.values() for cd, _ in rows}
        # Samples of targets no longer live (another legend activated) are left to the next rebuild.
        for legend, feature_set in targets:
            mapped = habitat_unit_map_class(legend=legend, units=all_units)
            classes = {cd: mc.value for cd, mc in mapped.items()}
            rows = _build_samples(live, assignments, classes, legend, feature_set)
            TrainingSample.objects.filter(
                releve_id__in=[r.pk for r in live], legend=legend, feature_set=feature_set
            ).delete()
            TrainingSample.objects.bulk_create(rows)
            for row in rows:
                if row.status == TrainingSample.Status.INCLUDED:
                    outcome.included += 1
                else:
                    outcome.excluded += 1
                    outcome.reasons[row.reason] = outcome.reasons.get(row.reason, 0) + 1
    return outcome


def validation_sample_releves(releves: Sequence[Releve]) -> set[int]:
    """Ids of the relevés made at a point of a validation plan (linked by the visit report or by the
    ``sample_point`` the tablet sent) (selector)."""
    by_uuid = {r.uuid: r.pk for r in releves}
    by_ref = {int(r.sample_point_ref): r.pk for r in releves if str(r.sample_point_ref or "").isdigit()}
    points = SamplePoint.objects.filter(plan__parameters__has_key="validation").filter(
        Q(releve_uuid__in=list(by_uuid)) | Q(pk__in=list(by_ref))
    )
    found: set[int] = set()
    for pk, releve_uuid in points.values_list("pk", "releve_uuid"):
        if releve_uuid in by_uuid:
            found.add(by_uuid[releve_uuid])
        if pk in by_ref:
            found.add(by_ref[pk])
    return found


def _build_samples(
    live: list[Releve],
    assignments: dict[int, list[tuple[int, float | None]]],
    classes: dict[int, int],
    legend: MapLegend,
    feature_set: FeatureSet,
) -> list[TrainingSample]:
    threshold = mosaic_threshold()
    buffer_m = default_buffer_m()
    grid = feature_set_grid(feature_set)
    samples: list[TrainingSample] = []
    pending: list[tuple[TrainingSample, str, np.ndarray, np.ndarray]] = []
    validation = validation_sample_releves(live)
    for releve in live:
        label = releve_label(assignments.get(releve.pk, []), classes, threshold)
        if releve.pk in validation:
            # Kept out of training so that the map's accuracy is assessed on independent plots.
            label = Label(None, None, "validation_sample", "The relevé was made at a point of a validation sample.")
        sample = TrainingSample(
            releve=releve,
            releve_version=releve.version,
            legend=legend,
            feature_set=feature_set,
            label=label.value,
            dominant_share=label.share,
            reason=label.reason,
            message=label.message,
        )
        samples.append(sample)
        if label.reason:
            sample.status = TrainingSample.Status.EXCLUDED
        elif grid is None:
            sample.status, sample.reason = TrainingSample.Status.EXCLUDED, "off_raster"
            sample.message = "The feature set has no raster extent."
        else:
            kind, rows, cols = _plot_cells(releve, grid, buffer_m)
            pending.append((sample, kind, rows, cols))
    if not pending or grid is None:
        return samples
    # One bulk read for every plot: the sampler groups the pixels by block.
    all_rows = np.concatenate([p[2] for p in pending])
    all_cols = np.concatenate([p[3] for p in pending])
    xs, ys = grid.cell_centres(all_rows, all_cols)
    with FeatureReader(feature_set_specs(feature_set), grid) as reader:
        result = features_sample_points(reader, xs, ys)
    start = 0
    for sample, kind, rows, cols in pending:
        stop = start + rows.size
        ok = result.status[start:stop] == OK
        inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        sample.footprint = kind
        if not ok.any():
            sample.status = TrainingSample.Status.EXCLUDED
            sample.label = None
            if inside.any():
                sample.reason, sample.message = "no_features", "Every pixel of the plot has a nodata feature."
            else:
                sample.reason, sample.message = "off_raster", "The plot lies outside the feature set's grid."
        else:
            values = result.values[start:stop][ok].astype(np.float32)
            sample.status = TrainingSample.Status.INCLUDED
            sample.pixels = {
                "cell": (rows[ok] * grid.width + cols[ok]).tolist(),
                "x": xs[start:stop][ok].tolist(),
                "y": ys[start:stop][ok].tolist(),
                "values": [[float(v) for v in row] for row in values],
            }
            sample.n_pixels = int(ok.sum())
        start = stop
    return samples


def training_pool_consume(*, limit: int = 500) -> PoolOutcome:
    """Claim pending validation events and update the pool for their relevés, in one transaction."""
    from fieldcollect.services.review import training_pool_events_claim

    total = PoolOutcome()
    while True:
        with transaction.atomic():
            events = training_pool_events_claim(limit=limit)
            if not events:
                return total
            done = training_pool_update(releve_ids={e.releve_id for e in events})
        total.included += done.included
        total.excluded += done.excluded
        total.removed += done.removed
        for reason, n in done.reasons.items():
            total.reasons[reason] = total.reasons.get(reason, 0) + n


def training_pool_rebuild() -> PoolOutcome:
    """Rebuild the whole pool from the validated relevés (after a new legend or feature set)."""
    ids = list(
        Releve.objects.filter(status=ReleveStatus.VALIDATED, deleted_at__isnull=True).values_list("pk", flat=True)
    )
    stale = set(TrainingSample.objects.values_list("releve_id", flat=True)) - set(ids)
    outcome = training_pool_update(releve_ids=[*ids, *stale])
    targets = training_pool_targets()
    keep = TrainingSample.objects.none()
    for legend, feature_set in targets:
        keep = keep | TrainingSample.objects.filter(legend=legend, feature_set=feature_set)
    TrainingSample.objects.exclude(pk__in=keep.values("pk")).delete()
    return outcome


def training_pool_schedule() -> None:
    """Consume the validation queue after the current transaction commits (Celery)."""
    if not getattr(settings, "TRAINING_POOL_LIVE", True):
        return
    from classification.tasks import training_pool_consume_task

    transaction.on_commit(lambda: training_pool_consume_task.delay(), robust=True)


def training_pool_freeze(
    *,
    actor: Any,
    name: str,
    legend: MapLegend,
    feature_set: FeatureSet,
    max_plots_per_class: int | None = None,
    thin_shared_pixels: bool = True,
    seed: int = 0,
) -> Any:
    """Freeze the included samples of a pool into a content-hashed TrainingSet.

    ``plot`` is the relevé id, ``pixel`` the pixel's rank in its plot. With ``thin_shared_pixels``, a grid
    cell claimed by several plots is kept only in the plot of the lowest relevé id (a plot left without
    pixels drops out). With ``max_plots_per_class``, classes with more plots keep a seeded random subset
    of them. Provenance records the relevé versions, the QC rule versions, the threshold and the options.
    """
    from classification.services.training import TrainingServiceError, training_set_freeze
    from fieldcollect.models import ReleveQCState

    if max_plots_per_class is not None and max_plots_per_class < 1:
        raise PoolError("invalid_cap", "max_plots_per_class must be at least 1")
    rows = list(
        TrainingSample.objects.filter(legend=legend, feature_set=feature_set, status=TrainingSample.Status.INCLUDED)
        .order_by("releve_id")
        .values_list("releve_id", "releve_version", "label", "pixels")
    )
    thinned = 0
    if thin_shared_pixels:
        claimed: set[int] = set()
        kept_rows = []
        for releve_id, version, label, pixels in rows:
            keep = [i for i, cell in enumerate(pixels["cell"]) if cell not in claimed]
            thinned += len(pixels["cell"]) - len(keep)
            claimed.update(pixels["cell"])
            if keep:
                pixels = {k: [pixels[k][i] for i in keep] for k in ("cell", "x", "y", "values")}
                kept_rows.append((releve_id, version, label, pixels))
        rows = kept_rows
    capped: dict[str, int] = {}
    if max_plots_per_class is not None:
        by_class: dict[int, list[int]] = defaultdict(list)
        for index, (_, _, label, _) in enumerate(rows):
            by_class[int(label or 0)].append(index)
        rng = np.random.default_rng(seed)
        keep_index: set[int] = set()
        for label in sorted(by_class):
            members = by_class[label]
            if len(members) > max_plots_per_class:
                capped[str(label)] = len(members) - max_plots_per_class
                members = sorted(rng.permutation(members)[:max_plots_per_class].tolist())
            keep_index.update(members)
        rows = [row for i, row in enumerate(rows) if i in keep_index]
    names = list(feature_set.features.order_by("position").values_list("name", flat=True))
    plot, pixel, xs, ys, labels = [], [], [], [], []
    values: list[list[float]] = []
    for releve_id, _, label, pixels in rows:
        n = len(pixels["cell"])
        plot += [releve_id] * n
        pixel += list(range(n))
        xs += pixels["x"]
        ys += pixels["y"]
        labels += [label] * n
        values += pixels["values"]
    matrix = np.asarray(values, dtype=np.float32).reshape(len(values), len(names))
    columns = {
        "plot": np.asarray(plot, dtype=np.int64),
        "pixel": np.asarray(pixel, dtype=np.int32),
        "x": np.asarray(xs, dtype=np.float64),
        "y": np.asarray(ys, dtype=np.float64),
        "label": np.asarray(labels, dtype=np.int64),
        **{n: matrix[:, i] for i, n in enumerate(names)},
    }
    qc_rules: dict[str, int] = {}
    for versions in ReleveQCState.objects.filter(releve_id__in=[r[0] for r in rows]).values_list(
        "rule_versions", flat=True
    ):
        for rule, version in versions.items():
            qc_rules[rule] = max(qc_rules.get(rule, 0), int(version))
    provenance = {
        "source": "live_pool",
        "releves": {str(r[0]): r[1] for r in rows},
        "qc_rules": dict(sorted(qc_rules.items())),
        "options": {
            "mosaic_threshold": mosaic_threshold(),
            "max_plots_per_class": max_plots_per_class,
            "thin_shared_pixels": thin_shared_pixels,
            "seed": seed,
        },
        "thinning": {"pixels_dropped": thinned},
        "capped_plots": capped,
    }
    try:
        return training_set_freeze(
            actor=actor, name=name, feature_set=feature_set, legend=legend, columns=columns, provenance=provenance
        )
    except TrainingServiceError as exc:
        raise PoolError(exc.code, exc.message) from exc
