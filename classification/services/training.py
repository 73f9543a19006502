"""Training sets (frozen, content-hashed tables of samples) and trained models (Celery, `training` queue)."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone

from classification.models import FeatureSet, JobStatus, TrainedModel, TrainingSet
from classification.training.folds import (
    FoldError,
    cap_block_size,
    estimate_block_size,
    random_folds,
    spatial_block_folds,
)
from classification.training.frugality import Frugality
from classification.training.hashing import TableError, content_hash, table_from_bytes, table_to_bytes
from classification.training.train import TrainingError, cross_validate, make_estimator, train
from fieldcollect.models import User
from habitats.models import MapLegend

#: Columns every training table has besides one float column per feature of the feature set.
BASE_COLUMNS = ("plot", "pixel", "x", "y", "label")
TABLE_KEY = ("plot", "pixel")


class TrainingServiceError(ValueError):
    """A request the training services refuse; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _watts_per_core() -> float:
    return float(getattr(settings, "ENERGY_WATTS_PER_CORE", 10.0))


@transaction.atomic
def training_set_freeze(
    *,
    actor: User | None,
    name: str,
    feature_set: FeatureSet,
    legend: MapLegend,
    columns: Mapping[str, Any],
    provenance: Mapping[str, Any] | None = None,
) -> TrainingSet:
    """Freeze a sample table (plot, pixel, x, y, label, one column per feature) into a hashed training set.

    Rows are pixels; `plot` groups the pixels of one plot; `label` is a class value of `legend`. The
    table is stored as canonical bytes, so the same content always gives the same file and hash.
    """
    if TrainingSet.objects.filter(name=name).exists():
        raise TrainingServiceError("duplicate", f"training set {name!r} already exists (training sets are frozen)")
    feature_names = list(feature_set.features.order_by("position").values_list("name", flat=True))
    expected = set(BASE_COLUMNS) | set(feature_names)
    given = set(columns)
    if given != expected:
        missing, extra = sorted(expected - given), sorted(given - expected)
        raise TrainingServiceError(
            "wrong_columns", f"table columns do not match: missing {missing}, unexpected {extra}"
        )
    table: dict[str, np.ndarray] = {
        "plot": np.asarray(columns["plot"], dtype=np.int64),
        "pixel": np.asarray(columns["pixel"], dtype=np.int32),
        "x": np.asarray(columns["x"], dtype=np.float64),
        "y": np.asarray(columns["y"], dtype=np.float64),
        "label": np.asarray(columns["label"]),
        **{n: np.asarray(columns[n], dtype=np.float32) for n in feature_names},
    }
    if table["label"].size == 0:
        raise TrainingServiceError("empty", "the table has no samples")
    values = set(legend.classes.values_list("value", flat=True))
    unknown = sorted(set(np.unique(table["label"]).tolist()) - values)
    if unknown:
        raise TrainingServiceError("unknown_class", f"labels not in legend {legend}: {unknown}")
    table["label"] = table["label"].astype(np.uint16)
    if not all(np.isfinite(table[n]).all() for n in feature_names):
        raise TrainingServiceError("missing_features", "some samples have missing (NaN) features; drop them first")
    try:
        data = table_to_bytes(table, key=list(TABLE_KEY))
    except TableError as exc:
        raise TrainingServiceError("invalid_table", str(exc)) from exc
    digest = content_hash(data)
    counts: dict[str, dict[str, int]] = {}
    for value in np.unique(table["label"]).tolist():
        rows = table["label"] == value
        counts[str(value)] = {"samples": int(rows.sum()), "plots": int(np.unique(table["plot"][rows]).size)}
    training_set = TrainingSet(
        name=name,
        feature_set=feature_set,
        legend=legend,
        content_hash=digest,
        n_samples=int(table["label"].size),
        n_plots=int(np.unique(table["plot"]).size),
        class_counts=counts,
        provenance={
            "legend": {"id": legend.pk, "name": legend.name, "version": legend.version},
            "feature_set": {"id": feature_set.pk, "name": feature_set.name, "features": feature_names},
            **dict(provenance or {}),
        },
        created_by=actor,
    )
    training_set.table.save(f"{digest}.fctable", ContentFile(data), save=False)
    training_set.save()
    return training_set


@dataclass
class TrainingTable:
    X: np.ndarray
    y: np.ndarray
    xy: np.ndarray
    plot: np.ndarray
    feature_names: list[str]


def training_set_table(training_set: TrainingSet) -> TrainingTable:
    """Read a frozen table back, checking its hash (selector)."""
    with training_set.table.open("rb") as handle:
        data = handle.read()
    if content_hash(data) != training_set.content_hash:
        raise TrainingServiceError("corrupt", f"the stored table of {training_set.name} does not match its hash")
    columns, _ = table_from_bytes(data)
    names = list(training_set.provenance["feature_set"]["features"])
    return TrainingTable(
        X=np.column_stack([columns[n] for n in names]).astype(np.float32),
        y=columns["label"],
        xy=np.column_stack([columns["x"], columns["y"]]),
        plot=columns["plot"],
        feature_names=names,
    )


def trained_model_train(
    *,
    actor: User | None,
    training_set: TrainingSet,
    algorithm: str = "random_forest",
    params: Mapping[str, Any] | None = None,
    n_folds: int = 5,
    block_size_m: float | None = None,
    seed: int = 0,
) -> TrainedModel:
    """Queue the training of a model (random-CV, spatial-CV, final fit) on the `training` queue."""
    try:
        make_estimator(algorithm, params)
    except TrainingError as exc:
        raise TrainingServiceError("invalid_parameters", str(exc)) from exc
    if not 2 <= n_folds <= 20:
        raise TrainingServiceError("invalid_folds", "n_folds must be between 2 and 20")
    if block_size_m is not None and not block_size_m > 0:
        raise TrainingServiceError("invalid_block_size", "block_size_m must be a positive distance")
    with transaction.atomic():
        model = TrainedModel.objects.create(
            training_set=training_set,
            algorithm=algorithm,
            params=dict(params or {}),
            n_folds=n_folds,
            block_size_m=block_size_m,
            seed=seed,
            created_by=actor,
        )
        from classification.tasks import trained_model_fit_task

        transaction.on_commit(lambda: trained_model_fit_task.delay(model.pk))
    return model


def _set(model_id: int, **fields: Any) -> None:
    TrainedModel.objects.filter(pk=model_id).update(**fields)


def trained_model_fit(*, model_id: int) -> TrainedModel:
    """Cross-validate (random and spatial folds) and fit the final model; idempotent once it succeeded."""
    with transaction.atomic():
        # Lock the row so that a redelivered task and the original cannot both start the same model.
        model = TrainedModel.objects.select_for_update().get(pk=model_id)
        # A "running" model seen here was left by a worker that died (the task is acked late and
        # redelivered only then), so it is fitted again; a finished one is left alone.
        if model.status == JobStatus.SUCCEEDED:
            return model
        model.status = JobStatus.RUNNING
        model.started_at = timezone.now()
        model.progress = 0.0
        model.save(update_fields=["status", "started_at", "progress"])
    try:
        _fit(model)
    except (TrainingError, FoldError, TrainingServiceError) as exc:
        code = getattr(exc, "code", "invalid_training_data")
        _set(model.pk, status=JobStatus.FAILED, error_code=code, message=str(exc), finished_at=timezone.now())
    except Exception as exc:
        _set(model.pk, status=JobStatus.FAILED, error_code="error", message=repr(exc), finished_at=timezone.now())
        raise
    model.refresh_from_db()
    return model


def _fit(model: TrainedModel) -> None:
    table = training_set_table(model.training_set)
    watts = _watts_per_core()
    block = model.block_size_m
    estimated = block is None
    if block is None:
        block, _ = estimate_block_size(table.xy, features=table.X, groups=table.plot, seed=model.seed)
        block = cap_block_size(table.xy, block, n_folds=model.n_folds, groups=table.plot)
    rnd_fold = random_folds(table.y, groups=table.plot, n_folds=model.n_folds, seed=model.seed)
    spa_fold = spatial_block_folds(
        table.xy, table.y, groups=table.plot, block_size=block, n_folds=model.n_folds, seed=model.seed
    )
    n_jobs = int(getattr(settings, "TRAINING_N_JOBS", 1))
    results = {}
    for i, (scheme, fold) in enumerate((("random", rnd_fold), ("spatial", spa_fold))):

        def progress(done: int, total: int, i: int = i) -> None:
            _set(model.pk, progress=round(0.45 * (i + done / total), 4))

        results[scheme] = cross_validate(
            table.X, table.y, fold, algorithm=model.algorithm, params=model.params, scheme=scheme,
            n_jobs=n_jobs, seed=model.seed, watts_per_core=watts, progress=progress,
        )  # fmt: skip
    final = train(
        table.X, table.y, feature_names=table.feature_names, algorithm=model.algorithm, params=model.params,
        n_jobs=n_jobs, seed=model.seed, watts_per_core=watts,
    )  # fmt: skip
    total: Frugality = results["random"].cost.add(results["spatial"].cost).add(final.cost)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.joblib"
        joblib.dump(final.model, path, compress=3)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        with path.open("rb") as handle:
            model.artifact.save(f"{model.pk}-{sha[:12]}.joblib", File(handle), save=False)
    model.artifact_sha256 = sha
    model.block_size_m = float(block)
    model.block_size_estimated = estimated
    model.classes = [int(c) for c in final.classes]
    model.feature_names = table.feature_names
    model.cv_random = results["random"].as_dict()
    model.cv_spatial = results["spatial"].as_dict()
    model.importances = final.importances
    model.fit_seconds = final.cost.wall_seconds
    model.cpu_seconds = total.cpu_seconds
    model.peak_rss_bytes = total.peak_rss_bytes
    model.model_size_bytes = final.cost.model_size_bytes
    model.watts_per_core = watts
    model.energy_kwh = total.energy_kwh
    model.status = JobStatus.SUCCEEDED
    model.progress = 1.0
    model.finished_at = timezone.now()
    model.save()


_LOADED: dict[tuple[int, str], Any] = {}


def trained_model_load(model: TrainedModel) -> Any:
    """The fitted estimator, checked against its hash; kept in memory for the next tiles of this process."""
    key = (model.pk, model.artifact_sha256)
    if key not in _LOADED:
        with model.artifact.open("rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != model.artifact_sha256:
            raise TrainingServiceError("corrupt", f"the stored artifact of model {model.pk} does not match its hash")
        _LOADED.clear()  # one model per worker process: memory stays bounded
        _LOADED[key] = joblib.load(io.BytesIO(data))
    return _LOADED[key]
