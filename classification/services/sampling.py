"""Strata, sampling plans and their points: creation, assignment to botanists, visit reports, top-ups, exports."""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import rasterio
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from rasterio.features import rasterize
from rasterio.windows import Window

from classification.models import (
    LAMBERT93,
    Allocation,
    PlanStratum,
    RasterLayer,
    SamplePoint,
    SamplePointEvent,
    SamplingPlan,
    Stratification,
    Stratum,
    VisitState,
)
from classification.rasters.grid import Grid, GridReader
from classification.sampling import SamplingError, StrataBlock, allocate, strata_count, stratified_random_points
from classification.sampling.points import BlockSource, GridSpec
from classification.services.rasters import raster_layer_source
from fieldcollect.models import Campaign, User

BLOCK = 1024


@dataclass(frozen=True)
class Exclusion:
    """Cells to leave out: those of ``layer`` whose value is in ``values``, or above / below a threshold."""

    layer_id: int
    values: tuple[float, ...] = ()
    above: float | None = None
    below: float | None = None
    label: str = ""


# --- Strata ------------------------------------------------------------------------------------------


def _raster_grid(layer: RasterLayer) -> Grid:
    t = layer.transform
    return Grid(xmin=t[2], ymax=t[5], resolution=layer.resolution_x, width=layer.width, height=layer.height)


def _raster_blocks(layer: RasterLayer) -> Iterator[tuple[Window, np.ndarray]]:
    with rasterio.open(layer.uri) as dataset:
        for _, window in dataset.block_windows(1) if dataset.block_shapes[0][0] >= BLOCK else _windows(dataset):
            data = dataset.read(1, window=window, masked=True)
            yield window, np.ma.filled(data, 0).astype(np.int64)


def _windows(dataset: rasterio.DatasetReader) -> Iterator[tuple[Any, Window]]:
    for row in range(0, dataset.height, BLOCK):
        for col in range(0, dataset.width, BLOCK):
            yield None, Window(col, row, min(BLOCK, dataset.width - col), min(BLOCK, dataset.height - row))


@transaction.atomic
def stratification_create_from_raster(
    *, campaign: Campaign, name: str, layer: RasterLayer, labels: dict[int, str] | None = None, description: str = ""
) -> Stratification:
    """Strata = the classes of a categorical Lambert-93 raster; areas = cells × cell area (exact on the grid)."""
    if not layer.is_categorical:
        raise SamplingError("not_categorical", f"{layer.name} is not a categorical raster")
    if layer.source_epsg != LAMBERT93 or layer.resolution_x != layer.resolution_y:
        raise SamplingError("strata_grid", f"{layer.name}: strata rasters must be in EPSG:2154 with square cells")
    if Stratification.objects.filter(campaign=campaign, name=name).exists():
        raise SamplingError("duplicate", f"stratification {name!r} already exists in {campaign}")
    counts = np.zeros(65536, dtype=np.int64)
    for _, data in _raster_blocks(layer):
        if data.size and (data.min() < 0 or data.max() > 65535):
            raise SamplingError("stratum_out_of_range", "stratum values must be within 0…65535")
        counts += np.bincount(data.ravel(), minlength=65536)
    values = [int(v) for v in np.flatnonzero(counts) if v != 0]
    if not values:
        raise SamplingError("no_strata", f"{layer.name} holds no stratum value (only 0 or nodata)")
    stratification = Stratification.objects.create(
        campaign=campaign,
        name=name,
        source=Stratification.Source.RASTER,
        raster=layer,
        resolution=layer.resolution_x,
        description=description,
    )
    cell = layer.resolution_x * layer.resolution_y
    Stratum.objects.bulk_create(
        Stratum(
            stratification=stratification,
            value=v,
            label=(labels or {}).get(v, f"stratum {v}"),
            pixel_count=int(counts[v]),
            area_m2=float(counts[v]) * cell,
        )
        for v in values
    )
    return stratification


@transaction.atomic
def stratification_create_from_polygons(
    *,
    campaign: Campaign,
    name: str,
    strata: list[tuple[int, str, MultiPolygon]],
    resolution: float = 10.0,
    description: str = "",
) -> Stratification:
    """Strata = polygons (Lambert-93); area = exact polygon area; points are drawn on a ``resolution`` grid."""
    if not strata:
        raise SamplingError("no_strata", "no polygons given")
    values = [value for value, _, _ in strata]
    if len(set(values)) != len(values) or any(not 0 < v <= 65535 for v in values):
        raise SamplingError("invalid_values", "stratum values must be unique and within 1…65535")
    for value, _, geometry in strata:
        if geometry.srid != LAMBERT93 or not geometry.valid or geometry.empty:
            raise SamplingError("invalid_geometry", f"stratum {value}: a valid, non-empty EPSG:2154 polygon is needed")
    stratification = Stratification.objects.create(
        campaign=campaign,
        name=name,
        source=Stratification.Source.VECTOR,
        resolution=resolution,
        description=description,
    )
    created = Stratum.objects.bulk_create(
        Stratum(stratification=stratification, value=v, label=label, pixel_count=0, area_m2=g.area, geometry=g)
        for v, label, g in strata
    )
    source, _, _ = strata_block_source(stratification, [])
    total, _ = strata_count(source, max(values))
    for stratum in created:
        stratum.pixel_count = int(total[stratum.value])
    Stratum.objects.bulk_update(created, ["pixel_count"])
    return stratification


def _vector_grid(stratification: Stratification) -> Grid:
    extent = MultiPolygon(
        [Polygon.from_bbox(s.geometry.extent) for s in stratification.strata.all() if s.geometry], srid=LAMBERT93
    ).extent
    return Grid.covering(extent, stratification.resolution)


def strata_block_source(
    stratification: Stratification, exclusions: Iterable[Exclusion]
) -> tuple[BlockSource, Grid, int]:
    """A re-iterable source of strata blocks (with their exclusions) for the numeric core, its grid and max value."""
    exclusions = list(exclusions)
    layers = RasterLayer.objects.in_bulk([e.layer_id for e in exclusions])
    for e in exclusions:
        if e.layer_id not in layers:
            raise SamplingError("unknown_layer", f"exclusion layer {e.layer_id} does not exist")
    strata = list(stratification.strata.all())
    max_value = max((s.value for s in strata), default=0)
    if stratification.source == Stratification.Source.RASTER:
        assert stratification.raster is not None
        grid = _raster_grid(stratification.raster)
    else:
        grid = _vector_grid(stratification)
    geojson_shapes = [(json.loads(s.geometry.json), s.value) for s in strata if s.geometry]

    def source() -> Iterator[StrataBlock]:
        readers = [GridReader(raster_layer_source(layers[e.layer_id]), grid, "nearest").__enter__() for e in exclusions]
        try:
            if stratification.source == Stratification.Source.RASTER:
                assert stratification.raster is not None
                blocks: Iterable[tuple[Window, np.ndarray]] = _raster_blocks(stratification.raster)
            else:
                blocks = (
                    (
                        w,
                        rasterize(
                            geojson_shapes,
                            out_shape=(int(w.height), int(w.width)),
                            transform=rasterio.windows.transform(w, grid.transform),
                            fill=0,
                            dtype="uint16",
                        ).astype(np.int64),
                    )
                    for w in grid.blocks(BLOCK)
                )
            for window, data in blocks:
                excluded = None
                for e, reader in zip(exclusions, readers, strict=True):
                    values = reader.read([1], window)[0]
                    mask = np.zeros(values.shape, dtype=bool)
                    if e.values:
                        mask |= np.isin(values, np.asarray(e.values, dtype=np.float32))
                    if e.above is not None:
                        mask |= values > e.above
                    if e.below is not None:
                        mask |= values < e.below
                    excluded = mask if excluded is None else excluded | mask
                yield StrataBlock(int(window.row_off), int(window.col_off), data, excluded)
        finally:
            for reader in readers:
                reader.__exit__(None, None, None)

    return source, grid, max_value


# --- Plans ------------------------------------------------------------------------------------------


@transaction.atomic
def sampling_plan_create(
    *,
    actor: User | None,
    campaign: Campaign,
    stratification: Stratification,
    name: str,
    allocation: str,
    total_size: int,
    seed: int,
    min_per_stratum: int = 0,
    min_distance_m: float = 0.0,
    exclusions: Iterable[Exclusion] = (),
    drop_empty_strata: bool = False,
    counts: Mapping[int, int] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> SamplingPlan:
    """Allocate, draw and store a stratified random plan; refuse rather than store a plan short of points.

    Strata left with no eligible cell (e.g. covered by exclusions) are an error unless ``drop_empty_strata``,
    in which case they get 0 points and the plan's parameters list them. ``counts`` ({stratum value: points})
    replaces the allocation by counts computed elsewhere (e.g. a validation design); ``total_size`` is then
    their sum. ``parameters`` are stored with the plan's own.
    """
    exclusions = list(exclusions)
    if stratification.campaign_id != campaign.pk:
        raise SamplingError("wrong_campaign", "the stratification belongs to another campaign")
    if SamplingPlan.objects.filter(campaign=campaign, name=name).exists():
        raise SamplingError("duplicate", f"plan {name!r} already exists in {campaign}")
    if min_distance_m < 0:
        raise SamplingError("invalid_distance", "the minimum distance must not be negative")
    strata = list(stratification.strata.order_by("value"))
    source, grid, max_value = strata_block_source(stratification, exclusions)
    _, eligible = strata_count(source, max_value)
    sizes = [int(eligible[s.value]) for s in strata]
    empty = [s.value for s, n in zip(strata, sizes, strict=True) if n == 0]
    if empty and not drop_empty_strata:
        raise SamplingError(
            "empty_stratum",
            f"strata {', '.join(map(str, empty))} have no eligible cell (empty, or covered by the exclusions)",
            details={"strata": empty},
        )
    if counts is not None:
        wanted = _explicit_counts(strata, sizes, counts)
        total_size = sum(wanted.values())
    else:
        wanted = _allocate(strata, sizes, allocation, total_size, min_per_stratum, drop_empty_strata)
    points = stratified_random_points(
        source,
        GridSpec(grid.xmin, grid.ymax, grid.resolution),
        wanted,
        eligible,
        seed=seed,
        min_distance=min_distance_m,
    )
    if points.shortfall:
        raise SamplingError(
            "not_enough_room",
            "the minimum distance leaves no room for all points in strata "
            + ", ".join(f"{h} (short by {n})" for h, n in sorted(points.shortfall.items())),
            details={"shortfall": points.shortfall},
        )
    plan = SamplingPlan.objects.create(
        campaign=campaign,
        stratification=stratification,
        name=name,
        allocation=allocation,
        total_size=total_size,
        min_per_stratum=min_per_stratum,
        min_distance_m=min_distance_m,
        seed=seed,
        exclusions=[asdict(e) for e in exclusions],
        parameters={
            **(parameters or {}),
            "grid": [grid.xmin, grid.ymax, grid.resolution],
            "dropped_strata": empty,
            "core": "sampling 1",
        },
        created_by=actor,
    )
    by_value = {s.value: s for s in strata}
    PlanStratum.objects.bulk_create(
        PlanStratum(
            plan=plan,
            stratum=s,
            eligible_pixel_count=n,
            eligible_area_m2=n * grid.cell_area,
            allocated=wanted[s.value],
            generated=wanted[s.value],
        )
        for s, n in zip(strata, sizes, strict=True)
    )
    _store_points(plan, by_value, points, batch=0, first_number=1)
    return plan


def _allocate(
    strata: list[Stratum], sizes: list[int], allocation: str, total_size: int, minimum: int, allow_empty: bool
) -> dict[int, int]:
    std_devs = None
    if allocation == Allocation.NEYMAN:
        std_devs = [
            s.std_dev
            if s.std_dev is not None
            else (
                float(np.sqrt(s.expected_accuracy * (1 - s.expected_accuracy)))
                if s.expected_accuracy is not None
                else None
            )
            for s in strata
        ]
        if any(v is None for v in std_devs):
            raise SamplingError(
                "std_devs_required", "Neyman allocation needs a std_dev or expected_accuracy per stratum"
            )
    # "A minimum per stratum, the rest proportional" is the core's proportional allocation with a minimum.
    method = Allocation.PROPORTIONAL if allocation == Allocation.MINIMUM_THEN_PROPORTIONAL else allocation
    result = allocate(
        total_size,
        sizes,
        method,
        std_devs=std_devs,  # type: ignore[arg-type]
        minimum=minimum,
        allow_empty=allow_empty,
    )
    return {s.value: int(n) for s, n in zip(strata, result.sizes, strict=True)}


def _explicit_counts(strata: list[Stratum], sizes: list[int], counts: Mapping[int, int]) -> dict[int, int]:
    """Counts given per stratum value: every stratum named, whole, ≥ 0 and at most its eligible cells."""
    values = {s.value for s in strata}
    unknown = sorted(set(counts) - values)
    if unknown:
        raise SamplingError("unknown_stratum", f"no stratum {', '.join(map(str, unknown))} in the stratification")
    wanted: dict[int, int] = {}
    for stratum, size in zip(strata, sizes, strict=True):
        n = counts.get(stratum.value, 0)
        if int(n) != n or n < 0:
            raise SamplingError("negative", f"stratum {stratum.value}: {n!r} is not a whole number of points ≥ 0")
        if n > size:
            raise SamplingError(
                "over_allocated", f"stratum {stratum.value}: {n} points asked for {size} eligible cells"
            )
        wanted[stratum.value] = int(n)
    if not sum(wanted.values()):
        raise SamplingError("no_points", "the counts ask for no point at all")
    return wanted


def _store_points(
    plan: SamplingPlan, by_value: dict[int, Stratum], points: Any, *, batch: int, first_number: int
) -> int:
    # Points are numbered by stratum then draw order, so numbers read well in the field.
    order = np.lexsort((np.arange(points.x.size), points.stratum))
    SamplePoint.objects.bulk_create(
        (
            SamplePoint(
                plan=plan,
                stratum=by_value[int(points.stratum[i])],
                number=first_number + k,
                location=Point(float(points.x[i]), float(points.y[i]), srid=LAMBERT93),
                inclusion_probability=float(points.inclusion_probability[i]),
                batch=batch,
            )
            for k, i in enumerate(order)
        ),
        batch_size=2000,
    )
    return int(points.x.size)


@transaction.atomic
def sampling_plan_top_up(
    *, actor: User | None, plan: SamplingPlan, seed: int, max_new: int | None = None
) -> dict[int, int]:
    """Re-allocate the remaining effort: replace each stratum's inaccessible or refused points with new ones.

    New points (a new batch) keep the minimum distance to every existing point. With ``max_new``, the
    replacements are shared among the strata in proportion to their deficits (largest remainder).
    Returns new points per stratum value.
    """
    plan = SamplingPlan.objects.select_for_update().get(pk=plan.pk)  # two top-ups at once would both draw
    plan_strata = list(plan.plan_strata.select_related("stratum"))
    lost = {
        row["stratum"]: row["n"]
        for row in plan.points.filter(state__in=[VisitState.INACCESSIBLE, VisitState.REFUSED])
        .values("stratum")
        .annotate(n=Count("id"))
    }
    already = {
        row["stratum"]: row["n"] for row in plan.points.filter(batch__gt=0).values("stratum").annotate(n=Count("id"))
    }
    deficits = {
        ps.stratum.value: max(0, lost.get(ps.stratum_id, 0) - already.get(ps.stratum_id, 0)) for ps in plan_strata
    }
    wanted = {h: n for h, n in deficits.items() if n > 0}
    if max_new is not None and sum(wanted.values()) > max_new:
        from classification.sampling import largest_remainder

        keys = sorted(wanted)
        total = sum(wanted.values())
        shares = largest_remainder([max_new * wanted[k] / total for k in keys], max_new)
        wanted = {k: int(n) for k, n in zip(keys, shares, strict=True) if n > 0}
    if not wanted:
        return {}
    stratification = plan.stratification
    exclusions = [Exclusion(**{**e, "values": tuple(e.get("values", ()))}) for e in plan.exclusions]
    source, grid, max_value = strata_block_source(stratification, exclusions)
    _, eligible = strata_count(source, max_value)
    existing = list(plan.points.values_list("location", flat=True))
    ex = (np.array([p.x for p in existing]), np.array([p.y for p in existing]))
    points = stratified_random_points(
        source,
        GridSpec(grid.xmin, grid.ymax, grid.resolution),
        wanted,
        eligible,
        seed=seed,
        min_distance=plan.min_distance_m,
        existing=ex,
    )
    if points.shortfall:
        raise SamplingError(
            "not_enough_room", "no room left for replacement points", details={"shortfall": points.shortfall}
        )
    batch = (plan.points.aggregate(b=Max("batch"))["b"] or 0) + 1
    first = (plan.points.aggregate(n=Max("number"))["n"] or 0) + 1
    by_value = {ps.stratum.value: ps.stratum for ps in plan_strata}
    # The design changes for the replacements: their inclusion probability is that of their own draw.
    _store_points(plan, by_value, points, batch=batch, first_number=first)
    for ps in plan_strata:
        n = wanted.get(ps.stratum.value, 0)
        if n:
            ps.generated += n
            ps.save(update_fields=["generated"])
    return wanted


# --- Assignment and visits ----------------------------------------------------------------------------


@transaction.atomic
def sample_point_assign(*, actor: User | None, points: list[int], assignee: User | None) -> int:
    """Assign points to a botanist (or unassign with None); each change is audited and reaches the tablets."""
    changed = 0
    # Locked so that two coordinators assigning the same points leave one consistent owner and trail.
    for point in SamplePoint.objects.select_for_update().filter(pk__in=points).order_by("pk"):
        if point.assignee_id == (assignee.pk if assignee else None):
            continue
        previous = point.assignee
        point.assignee = assignee
        point.save(update_fields=["assignee", "updated_at"])
        SamplePointEvent.objects.create(
            point=point,
            actor=actor,
            action=SamplePointEvent.Action.ASSIGNED if assignee else SamplePointEvent.Action.UNASSIGNED,
            from_user=previous,
            to_user=assignee,
        )
        changed += 1
    return changed


def sample_points_assign_by_zone(
    *,
    actor: User | None,
    plan: SamplingPlan,
    zones: list[tuple[User, Polygon | MultiPolygon]],
    only_unassigned: bool = True,
) -> dict[str, int]:
    """Assign the plan's pending points inside each zone (Lambert-93) to that zone's botanist."""
    result: dict[str, int] = {}
    for user, zone in zones:
        zone_l93 = zone if zone.srid == LAMBERT93 else zone.transform(LAMBERT93, clone=True)
        points = plan.points.filter(location__within=zone_l93, state=VisitState.PENDING)
        if only_unassigned:
            points = points.filter(assignee__isnull=True)
        result[user.username] = sample_point_assign(
            actor=actor, points=list(points.values_list("pk", flat=True)), assignee=user
        )
    return result


@transaction.atomic
def sample_point_report(
    *,
    actor: User,
    point: SamplePoint,
    state: str,
    reason: str = "",
    releve_uuid: uuid.UUID | None = None,
    at: dt.datetime | None = None,
) -> SamplePoint:
    """Record a visit: visited (with its relevé), inaccessible or refused (with a reason); audited."""
    point = SamplePoint.objects.select_for_update().get(pk=point.pk)
    if state not in VisitState.values:
        raise SamplingError("invalid_state", f"unknown visit state {state!r}")
    is_coordinator = actor.is_staff or actor.has_role("coordinator")
    if point.assignee_id != actor.pk and not is_coordinator:
        raise SamplingError(
            "not_assigned", "only the botanist the point is assigned to (or a coordinator) may report it"
        )
    if state in (VisitState.INACCESSIBLE, VisitState.REFUSED) and not reason.strip():
        raise SamplingError("reason_required", f"a reason is required when a point is {state}")
    if state == VisitState.PENDING and not is_coordinator:
        raise SamplingError("not_allowed", "only a coordinator may reopen a point")
    point.state = state
    point.reason = reason.strip() if state != VisitState.VISITED else ""
    point.releve_uuid = releve_uuid if state == VisitState.VISITED else None
    point.visited_at = (at or timezone.now()) if state != VisitState.PENDING else None
    point.save(update_fields=["state", "reason", "releve_uuid", "visited_at", "updated_at"])
    SamplePointEvent.objects.create(
        point=point,
        actor=actor,
        action=SamplePointEvent.Action.REOPENED if state == VisitState.PENDING else SamplePointEvent.Action.REPORTED,
        state=state,
        reason=point.reason,
    )
    return point


def sample_points_visit_from_releves(*, user: User, releves: Iterable[tuple[int, str, uuid.UUID, dt.datetime]]) -> int:
    """Mark as visited the points that relevés pushed from a tablet name in ``sample_point``.

    ``releves`` holds (campaign id, sample point reference, relevé UUID, observed at). Only a pending point
    of a plan of that campaign, assigned to ``user``, is marked; anything else (unknown reference, a point
    of another botanist or already reported) is left for QC's distance-to-point rule and the coordinator,
    and never refuses the relevé. Returns the number of points marked.
    """
    wanted: dict[int, tuple[int, uuid.UUID, dt.datetime]] = {}
    for campaign_id, ref, releve_uuid, observed_at in releves:
        ref = (ref or "").strip()
        if ref.isdigit() and int(ref) not in wanted:
            wanted[int(ref)] = (campaign_id, releve_uuid, observed_at)
    if not wanted:
        return 0
    points = list(
        SamplePoint.objects.select_for_update()
        .filter(pk__in=wanted, assignee=user, state=VisitState.PENDING)
        .select_related("plan")
        .order_by("pk")
    )
    marked = [point for point in points if point.plan.campaign_id == wanted[point.pk][0]]
    now = timezone.now()
    for point in marked:
        _, point.releve_uuid, point.visited_at = wanted[point.pk]
        point.state = VisitState.VISITED
        point.reason = ""
        point.updated_at = now
    SamplePoint.objects.bulk_update(marked, ["state", "reason", "releve_uuid", "visited_at", "updated_at"])
    SamplePointEvent.objects.bulk_create(
        SamplePointEvent(point=point, actor=user, action=SamplePointEvent.Action.REPORTED, state=VisitState.VISITED)
        for point in marked
    )
    return len(marked)


# --- Exports ------------------------------------------------------------------------------------------

EXPORT_FIELDS = ["number", "stratum", "stratum_label", "inclusion_probability", "batch", "assignee", "state", "reason"]


def _export_rows(plan: SamplingPlan) -> Iterator[dict[str, Any]]:
    for p in plan.points.select_related("stratum", "assignee").order_by("number").iterator(chunk_size=5000):
        yield {
            "number": p.number,
            "stratum": p.stratum.value,
            "stratum_label": p.stratum.label,
            "inclusion_probability": p.inclusion_probability,
            "batch": p.batch,
            "assignee": p.assignee.username if p.assignee else "",
            "state": p.state,
            "reason": p.reason,
            "x": p.location.x,
            "y": p.location.y,
            "wkb": bytes(p.location.wkb),
        }


def sampling_plan_export_csv(*, plan: SamplingPlan, stream: IO[str]) -> int:
    """Write the plan's points as CSV (x, y in Lambert-93 and longitude, latitude in WGS 84)."""
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(LAMBERT93, 4326, always_xy=True)
    writer = csv.writer(stream)
    writer.writerow([*EXPORT_FIELDS, "x_l93", "y_l93", "longitude", "latitude"])
    n = 0
    for row in _export_rows(plan):
        lon, lat = to_wgs84.transform(row["x"], row["y"])
        writer.writerow(
            [*(row[f] for f in EXPORT_FIELDS), f"{row['x']:.2f}", f"{row['y']:.2f}", f"{lon:.7f}", f"{lat:.7f}"]
        )
        n += 1
    return n


def sampling_plan_export_gpkg(*, plan: SamplingPlan, path: Path) -> int:
    """Write the plan's points as a GeoPackage layer ``sample_points`` in EPSG:2154 (opens in QGIS)."""
    from pyogrio.raw import write

    rows = list(_export_rows(plan))
    geometry = np.array([r["wkb"] for r in rows], dtype=object)
    field_data = [np.array([r[f] for r in rows]) for f in EXPORT_FIELDS]
    write(
        str(path),
        geometry,
        field_data,
        EXPORT_FIELDS,
        layer="sample_points",
        driver="GPKG",
        geometry_type="Point",
        crs=f"EPSG:{LAMBERT93}",
    )
    return len(rows)
