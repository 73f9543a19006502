"""Accuracy of a finished map run from a validation sample, and the validation plan that draws it.

1. ``validation_plan_create`` stratifies a campaign by the map's own classes (the class COG is registered
   as a categorical raster), sizes and allocates the sample with ``classification.accuracy.sample_size``
   (Olofsson et al. 2014 §5.1: a minimum per class, the rest proportional, by default) and draws it as an
   ordinary sampling plan, so its points reach the botanists' tablets like any other.
2. ``accuracy_assessment_run`` reads, for every point of a plan, the map class under the point and the
   reference class of the validated relevé made there (the legend's rules and the pool's mosaic
   threshold, ``classification.services.pool.releve_label``), then estimates accuracy and areas:
   Olofsson et al. (2014) when the plan's strata are the map's classes, Stehman (2014) otherwise, with
   the sizes of the strata from the map raster (or the plan's eligible cells when exclusions applied).
   Points that cannot be used are listed with a stable reason, never dropped silently.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from classification.accuracy import (
    AccuracyInputError,
    AccuracyReport,
    ValidationSample,
    allocate,
    anticipated_standard_errors,
    error_matrix,
    estimate_olofsson,
    estimate_stehman,
    sample_size_overall_accuracy,
)
from classification.mapping.grid import Grid as MapGrid
from classification.mapping.maps import class_pixel_counts, values_at
from classification.models import (
    AccuracyAssessment,
    JobStatus,
    MapRun,
    RasterKind,
    SamplePoint,
    SamplingPlan,
    Stratification,
    VisitState,
)
from classification.sampling import SamplingError
from classification.services.pool import mosaic_threshold, releve_label
from classification.services.rasters import CatalogueError, raster_layer_register
from classification.services.sampling import sampling_plan_create, stratification_create_from_raster
from fieldcollect.models import Campaign, HabitatAssignment, Releve, ReleveStatus, User
from habitats.models import MapLegend
from habitats.selectors import habitat_unit_map_class

#: Expected user's accuracy of a class when the model's spatial cross-validation says nothing about it.
DEFAULT_EXPECTED_USERS_ACCURACY = 0.8
M2_PER_HA = 10_000.0

#: Why a plan point is left out of an assessment (stable codes; README "Map accuracy").
EXCLUSION_REASONS = {
    "not_visited": "The point has not been visited.",
    "inaccessible": "The point was reported inaccessible.",
    "refused": "Access to the point was refused.",
    "no_releve": "The point was reported visited but no relevé is linked to it.",
    "releve_deleted": "The relevé made at the point was deleted.",
    "releve_other_campaign": "The relevé linked to the point belongs to another campaign.",
    "releve_not_validated": "The relevé made at the point is not validated.",
    "no_habitat": "The relevé records no habitat.",
    "unmapped_habitat": "No legend rule reaches the relevé's habitats.",
    "mosaic_without_shares": "A mosaic of several classes with a cover missing.",
    "mosaic_below_threshold": "No class covers enough of the plot (mosaic threshold).",
    "map_nodata": "The map has no class at the point (outside the map or missing inputs).",
    "map_class_not_in_legend": "The map's value at the point is not a class of the legend.",
}


class AccuracyServiceError(ValueError):
    """A request the accuracy services refuse: stable ``code``, the ``field`` at fault, ``details``."""

    def __init__(
        self, code: str, message: str, *, field: str = "non_field_errors", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details or {}


# --- The map's side -------------------------------------------------------------------------------------


def map_run_classes_path(run: MapRun, *, field: str = "map_run") -> Path:
    """The class COG of a finished run; refuses a run that has not finished or whose file is gone."""
    if run.status != JobStatus.SUCCEEDED or not run.classes_cog:
        raise AccuracyServiceError(
            "run_not_finished", f"map run {run.pk} is {run.status}: only a finished run can be assessed", field=field
        )
    path = Path(settings.MEDIA_ROOT) / run.classes_cog
    if not path.is_file():
        raise AccuracyServiceError("map_missing", f"the class map of run {run.pk} is missing ({path})", field=field)
    return path


def map_run_pixel_area_m2(run: MapRun) -> float:
    """Area of one map pixel in m² (the grid is metric, EPSG:2154)."""
    t = MapGrid.from_dict(run.grid).transform
    return abs(t.a * t.e)


def map_run_class_pixels(run: MapRun) -> dict[int, int]:
    """Pixels of each class of a finished run's class map (selector; reads the COG block by block)."""
    return class_pixel_counts(map_run_classes_path(run))


def _legend_classes(legend: MapLegend) -> dict[int, dict[str, Any]]:
    rows = list(legend.classes.order_by("value").values("value", "code", "name"))
    codes = [r["code"] for r in rows]
    # Estimators key classes by name: the legend code when codes are unique and set, else the value.
    unique = len(set(codes)) == len(codes) and all(codes)
    return {r["value"]: {**r, "label": r["code"] if unique else str(r["value"])} for r in rows}


def _expected_users_accuracy(run: MapRun, values: list[int]) -> dict[int, float]:
    """User's accuracies the model's spatial cross-validation anticipates, clipped to [0.5, 0.95]."""
    cv = run.model.cv_spatial or {}
    expected = {v: DEFAULT_EXPECTED_USERS_ACCURACY for v in values}
    labels, confusion = cv.get("labels"), cv.get("pooled_confusion")
    if labels and confusion:
        cm = np.asarray(confusion, dtype=np.float64)  # rows reference, columns predicted
        predicted = cm.sum(axis=0)
        for k, label in enumerate(labels):
            if str(label).isdigit() and int(label) in expected and predicted[k] > 0:
                expected[int(label)] = float(np.clip(cm[k, k] / predicted[k], 0.5, 0.95))
    return expected


# --- Validation plan ------------------------------------------------------------------------------------


def _map_stratification(run: MapRun, campaign: Campaign, path: Path) -> Stratification:
    """The stratification of ``campaign`` by the run's classes (created once, then reused)."""
    try:
        layer, _ = raster_layer_register(
            uri=str(path),
            name=f"map-run-{run.pk}-classes",
            kind=RasterKind.HABITAT_MAP,
            is_categorical=True,
            description=f"Classes of map run {run.pk} ({run.name})",
        )
    except CatalogueError as exc:
        raise AccuracyServiceError(exc.code, exc.message, field="map_run") from exc
    existing = Stratification.objects.filter(campaign=campaign, raster=layer).order_by("pk").first()
    if existing is not None:
        return existing
    labels = {v: f"{c['code']} {c['name']}".strip() for v, c in _legend_classes(run.model.training_set.legend).items()}
    try:
        return stratification_create_from_raster(
            campaign=campaign,
            name=f"Map run {run.pk} classes",
            layer=layer,
            labels=labels,
            description=f"Strata = the classes of map run {run.pk} ({run.name}), for its validation sample.",
        )
    except SamplingError as exc:
        raise AccuracyServiceError(exc.code, exc.message, field="map_run") from exc


@transaction.atomic
def validation_plan_create(
    *,
    actor: User | None,
    map_run: MapRun,
    campaign: Campaign,
    name: str,
    seed: int,
    total_size: int | None = None,
    target_overall_se: float | None = None,
    allocation: str = "minimum_then_proportional",
    minimum: int = 50,
    expected_users_accuracy: Mapping[int, float] | None = None,
    min_distance_m: float = 0.0,
) -> SamplingPlan:
    """A stratified random validation plan over a finished map, its strata being the map's classes.

    The size is ``total_size``, or the n giving ``target_overall_se`` for overall accuracy (Olofsson et al.
    2014, eq. 13); ``allocation`` is one of ``classification.accuracy.ALLOCATIONS``. Expected user's
    accuracies (for Neyman and the sample size) default to the model's spatial-CV ones. The plan is a draft
    like any other: activate and assign it to send its points to the tablets.
    """
    path = map_run_classes_path(map_run)
    if map_run.campaign_id is not None and map_run.campaign_id != campaign.pk:
        raise AccuracyServiceError(
            "wrong_campaign", f"map run {map_run.pk} maps another campaign than {campaign}", field="campaign"
        )
    if (total_size is None) == (target_overall_se is None):
        raise AccuracyServiceError(
            "size_required", "give either a total size or a target standard error", field="total_size"
        )
    if total_size is not None and total_size < 2:
        raise AccuracyServiceError("invalid_size", "a validation sample needs at least 2 points", field="total_size")
    stratification = _map_stratification(map_run, campaign, path)
    strata = {s.value: s.pixel_count for s in stratification.strata.all()}
    expected = _expected_users_accuracy(map_run, list(strata))
    for value, u in (expected_users_accuracy or {}).items():
        if value not in expected:
            raise AccuracyServiceError(
                "unknown_class", f"class {value} does not occur in the map", field="expected_users_accuracy"
            )
        expected[value] = float(u)
    mapped = {str(v): float(n) for v, n in strata.items()}
    expected_by_name = {str(v): u for v, u in expected.items()}
    try:
        n = total_size or sample_size_overall_accuracy(
            mapped_area=mapped, expected_users_accuracy=expected_by_name, target_se=float(target_overall_se or 0)
        )
        counts = allocate(
            n, mapped_area=mapped, method=allocation, expected_users_accuracy=expected_by_name, minimum=minimum
        )
    except AccuracyInputError as exc:
        raise AccuracyServiceError(exc.code, exc.message, field="allocation") from exc
    # A class smaller than its allocation gets all its cells (a census of the class).
    capped = {v: min(counts[str(v)], strata[v]) for v in strata}
    oa_se, ua_se = anticipated_standard_errors(
        counts={str(v): n for v, n in capped.items()}, mapped_area=mapped, expected_users_accuracy=expected_by_name
    )
    design = {
        "map_run": map_run.pk,
        "allocation": allocation,
        "minimum": minimum,
        "target_overall_se": target_overall_se,
        "expected_users_accuracy": expected_by_name,
        "counts": {str(v): n for v, n in capped.items()},
        "capped_classes": sorted(str(v) for v in strata if capped[v] < counts[str(v)]),
        "anticipated_se": {
            "overall_accuracy": oa_se,
            "users_accuracy": {k: (None if not np.isfinite(v) else v) for k, v in ua_se.items()},
        },
    }
    try:
        return sampling_plan_create(
            actor=actor,
            campaign=campaign,
            stratification=stratification,
            name=name,
            allocation=allocation,
            total_size=sum(capped.values()),
            seed=seed,
            min_per_stratum=minimum if allocation == "minimum_then_proportional" else 0,
            min_distance_m=min_distance_m,
            counts=capped,
            parameters={"validation": design},
        )
    except SamplingError as exc:
        raise AccuracyServiceError(exc.code, exc.message, details=exc.details) from exc


# --- Assessment -----------------------------------------------------------------------------------------


def _linked_releves(plan: SamplingPlan, points: list[SamplePoint]) -> dict[int, Releve]:
    """The relevé made at each point: the one whose visit report named it, else the one whose tablet sent
    the point's id (a validated, live one first, then the latest)."""
    by_uuid = {r.uuid: r for r in Releve.objects.filter(uuid__in=[p.releve_uuid for p in points if p.releve_uuid])}
    by_ref: dict[str, list[Releve]] = defaultdict(list)
    for r in Releve.objects.filter(campaign_id=plan.campaign_id, sample_point_ref__in=[str(p.pk) for p in points]):
        by_ref[r.sample_point_ref].append(r)
    found: dict[int, Releve] = {}
    for p in points:
        if p.releve_uuid in by_uuid:
            found[p.pk] = by_uuid[p.releve_uuid]
        elif by_ref.get(str(p.pk)):
            found[p.pk] = max(
                by_ref[str(p.pk)],
                key=lambda r: (r.status == ReleveStatus.VALIDATED and r.deleted_at is None, r.updated_at, r.pk),
            )
    return found


def _reference_classes(legend: MapLegend, releves: list[Releve]) -> dict[int, tuple[int | None, str, str]]:
    """{relevé id: (class value, reason, message)} from the habitat assignments and the legend's rules."""
    assignments: dict[int, list[tuple[int, float | None]]] = defaultdict(list)
    for releve_id, cd_hab, cover in (
        HabitatAssignment.objects.filter(releve_id__in=[r.pk for r in releves])
        .order_by("releve_id", "rank", "id")
        .values_list("releve_id", "habitat_id", "cover_pct")
    ):
        assignments[releve_id].append((cd_hab, cover))
    units = {cd for rows in assignments.values() for cd, _ in rows}
    classes = {cd: mc.value for cd, mc in habitat_unit_map_class(legend=legend, units=units).items()}
    threshold = mosaic_threshold()
    out = {}
    for r in releves:
        label = releve_label(assignments.get(r.pk, []), classes, threshold)
        out[r.pk] = (label.value, label.reason, label.message)
    return out


def _exclusion(point: SamplePoint, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "point": point.number,
        "stratum": point.stratum.value,
        "reason": reason,
        "message": message or EXCLUSION_REASONS[reason],
    }


def _with_context(exc: AccuracyInputError, by_stratum: dict[str, Counter]) -> str:
    """The estimator's message plus why the stratum it names lacks sample units."""
    for key, reasons in by_stratum.items():
        if f"{key!r}" in exc.message and reasons:
            listed = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common())
            return f"{exc.message}; its unused points: {listed}"
    return exc.message


def accuracy_assessment_run(*, map_run: MapRun, sampling_plan: SamplingPlan, actor: User | None) -> AccuracyAssessment:
    """Assess a finished map run with a validation plan's validated relevés, and store the result.

    Olofsson et al. (2014) when the plan is stratified by this run's classes (and has no exclusion mask),
    Stehman (2014) otherwise. Areas are in hectares. Refuses (nothing stored) when the run has not
    finished, the plan belongs to another campaign, or a stratum is left with fewer than 2 usable points;
    unusable points are listed in the assessment with their reason.
    """
    path = map_run_classes_path(map_run)
    plan = sampling_plan
    if map_run.campaign_id is not None and map_run.campaign_id != plan.campaign_id:
        raise AccuracyServiceError(
            "wrong_campaign", f"plan {plan.name!r} belongs to another campaign than map run {map_run.pk}", field="plan"
        )
    legend = map_run.model.training_set.legend
    classes = _legend_classes(legend)
    points = list(plan.points.select_related("stratum").order_by("number"))
    if not points:
        raise AccuracyServiceError("empty_plan", f"plan {plan.name!r} has no point", field="plan")
    map_values = values_at(path, [p.location.x for p in points], [p.location.y for p in points])
    releves = _linked_releves(plan, points)
    references = _reference_classes(
        legend, [r for r in releves.values() if r.status == ReleveStatus.VALIDATED and r.deleted_at is None]
    )
    used: list[tuple[SamplePoint, int, int]] = []  # (point, map value, reference value)
    exclusions: list[dict[str, Any]] = []
    state_reason = {
        VisitState.PENDING: "not_visited",
        VisitState.INACCESSIBLE: "inaccessible",
        VisitState.REFUSED: "refused",
        VisitState.VISITED: "no_releve",
    }
    for point, map_value in zip(points, map_values.tolist(), strict=True):
        releve = releves.get(point.pk)
        if releve is None:
            exclusions.append(_exclusion(point, state_reason[VisitState(point.state)]))
        elif releve.deleted_at is not None:
            exclusions.append(_exclusion(point, "releve_deleted"))
        elif releve.campaign_id != plan.campaign_id:
            exclusions.append(_exclusion(point, "releve_other_campaign"))
        elif releve.status != ReleveStatus.VALIDATED:
            message = f"The relevé {releve.uuid} is {releve.get_status_display().lower()}, not validated."
            exclusions.append(_exclusion(point, "releve_not_validated", message))
        elif references[releve.pk][0] is None:
            exclusions.append(_exclusion(point, references[releve.pk][1], references[releve.pk][2]))
        elif map_value == 0:
            exclusions.append(_exclusion(point, "map_nodata"))
        elif map_value not in classes:
            exclusions.append(_exclusion(point, "map_class_not_in_legend", f"Map value {map_value} is not a class."))
        else:
            used.append((point, map_value, int(references[releve.pk][0] or 0)))
    if not used:
        counts = Counter(e["reason"] for e in exclusions)
        raise AccuracyServiceError(
            "no_usable_point",
            f"none of the {len(points)} points has a map class and a validated reference class ("
            + ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
            + ")",
            field="plan",
            details={"exclusion_counts": dict(counts)},
        )
    unknown_reference = sorted({ref for _, _, ref in used if ref not in classes})
    if unknown_reference:  # the pool's rules only reach the legend's classes; a guard, not a user error
        raise AccuracyServiceError("unknown_class", f"reference classes {unknown_reference} are not in the legend")

    ha = map_run_pixel_area_m2(map_run) / M2_PER_HA
    mapped_pixels = class_pixel_counts(path)
    label = {v: c["label"] for v, c in classes.items()}
    values = sorted({v for v, n in mapped_pixels.items() if n > 0 and v in classes} | {ref for _, _, ref in used})
    names = [label[v] for v in values]
    stratification = plan.stratification
    strata_are_map_classes = (
        stratification.raster is not None
        and os.path.realpath(stratification.raster.uri) == os.path.realpath(path)
        and not plan.exclusions
        and all(point.stratum.value == m for point, m, _ in used)
    )
    by_stratum: dict[str, Counter] = defaultdict(Counter)
    for e in exclusions:
        key = label.get(e["stratum"], str(e["stratum"])) if strata_are_map_classes else f"stratum {e['stratum']}"
        by_stratum[key][e["reason"]] += 1
    try:
        if strata_are_map_classes:
            method = AccuracyAssessment.Method.OLOFSSON
            report: AccuracyReport = estimate_olofsson(
                counts=error_matrix([label[m] for _, m, _ in used], [label[r] for _, _, r in used], names),
                classes=names,
                mapped_area={label[v]: mapped_pixels.get(v, 0) * ha for v in values},
            )
        else:
            method = AccuracyAssessment.Method.STEHMAN
            sizes = {
                f"stratum {ps.stratum.value}": ps.eligible_pixel_count * ha
                for ps in plan.plan_strata.select_related("stratum")
                if ps.eligible_pixel_count > 0
            }
            report = estimate_stehman(
                sample=ValidationSample(
                    stratum=[f"stratum {p.stratum.value}" for p, _, _ in used],
                    map_class=[label[m] for _, m, _ in used],
                    reference_class=[label[r] for _, _, r in used],
                ),
                stratum_sizes=sizes,
                classes=names,
            )
    except AccuracyInputError as exc:
        raise AccuracyServiceError(
            exc.code,
            _with_context(exc, by_stratum),
            field="plan",
            details={"exclusion_counts": dict(Counter(e["reason"] for e in exclusions))},
        ) from exc
    document = report.as_dict()
    notes = list(document["notes"])
    never_mapped = [label[v] for v in values if mapped_pixels.get(v, 0) == 0]
    if never_mapped:
        notes.append(f"reference class(es) {', '.join(never_mapped)} never mapped: their producer's accuracy is 0")
    if exclusions:
        counts = Counter(e["reason"] for e in exclusions)
        notes.append(
            f"{len(exclusions)} of {len(points)} points unused ("
            + ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
            + "); the estimates assume they are missing at random within their stratum"
        )
    document["notes"] = notes
    class_rows = [
        {
            "value": v,
            "code": classes[v]["code"],
            "name": classes[v]["name"],
            "label": label[v],
            "mapped_pixels": mapped_pixels.get(v, 0),
            "mapped_area": mapped_pixels.get(v, 0) * ha,
        }
        for v in values
    ]
    return AccuracyAssessment.objects.create(
        map_run=map_run,
        sampling_plan=plan,
        method=method,
        classes=class_rows,
        report=document,
        n_points=len(points),
        n_used=len(used),
        exclusions=exclusions,
        exclusion_counts=dict(Counter(e["reason"] for e in exclusions)),
        created_by=actor,
    )
