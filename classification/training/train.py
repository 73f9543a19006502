"""Fit a classifier, cross-validate it on given folds, and record what it cost.

Random forest and extra trees are the default frugal models (trees fit in parallel threads, hard-voting
prediction). Gradient boosting (scikit-learn's histogram gradient boosting) is available, but it fits one
tree per class per iteration, so at hundreds of classes it is one to two orders of magnitude slower.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score

from classification.training.folds import FoldError
from classification.training.frugality import DEFAULT_WATTS_PER_CORE, Frugality, measure
from classification.training.voting import predict_with_confidence


class Algorithm(StrEnum):
    RANDOM_FOREST = "random_forest"
    EXTRA_TREES = "extra_trees"
    GRADIENT_BOOSTING = "gradient_boosting"


#: Frugal defaults: 100 trees; leaves of at least one sample; sqrt(features) tried per split.
DEFAULT_PARAMS: dict[Algorithm, dict[str, Any]] = {
    Algorithm.RANDOM_FOREST: {"n_estimators": 100, "max_features": "sqrt", "min_samples_leaf": 1},
    Algorithm.EXTRA_TREES: {"n_estimators": 100, "max_features": "sqrt", "min_samples_leaf": 1},
    Algorithm.GRADIENT_BOOSTING: {"max_iter": 100, "learning_rate": 0.1, "early_stopping": False},
}

_ALLOWED_PARAMS: dict[Algorithm, frozenset[str]] = {
    Algorithm.RANDOM_FOREST: frozenset(
        {
            "n_estimators",
            "max_features",
            "min_samples_leaf",
            "max_depth",
            "max_samples",
            "class_weight",
            "criterion",
            "bootstrap",
            "min_samples_split",
        }
    ),
    Algorithm.EXTRA_TREES: frozenset(
        {
            "n_estimators",
            "max_features",
            "min_samples_leaf",
            "max_depth",
            "max_samples",
            "class_weight",
            "criterion",
            "bootstrap",
            "min_samples_split",
        }
    ),
    Algorithm.GRADIENT_BOOSTING: frozenset(
        {
            "max_iter",
            "learning_rate",
            "max_leaf_nodes",
            "max_depth",
            "min_samples_leaf",
            "l2_regularization",
            "early_stopping",
            "class_weight",
            "max_bins",
        }
    ),
}


class TrainingError(ValueError):
    """Invalid training inputs: unknown algorithm or parameter, shape mismatch, too few classes."""


def make_estimator(algorithm: str, params: Mapping[str, Any] | None = None, *, n_jobs: int = 1, seed: int = 0) -> Any:
    """A fresh, unfitted estimator; unknown algorithms or parameters are refused (no silent typos)."""
    try:
        algo = Algorithm(algorithm)
    except ValueError as exc:
        raise TrainingError(f"unknown algorithm {algorithm!r}; choose one of {[a.value for a in Algorithm]}") from exc
    given = dict(params or {})
    unknown = sorted(set(given) - _ALLOWED_PARAMS[algo])
    if unknown:
        raise TrainingError(f"unknown parameters for {algo.value}: {', '.join(unknown)}")
    merged = {**DEFAULT_PARAMS[algo], **given}
    if algo is Algorithm.RANDOM_FOREST:
        return RandomForestClassifier(**merged, n_jobs=n_jobs, random_state=seed)
    if algo is Algorithm.EXTRA_TREES:
        return ExtraTreesClassifier(**merged, n_jobs=n_jobs, random_state=seed)
    return HistGradientBoostingClassifier(**merged, random_state=seed)


def _check_xy(X: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float32], NDArray]:
    features = np.asarray(X, dtype=np.float32)
    labels = np.asarray(y)
    if features.ndim != 2 or labels.ndim != 1 or features.shape[0] != labels.shape[0]:
        raise TrainingError("X must be (n_samples, n_features) and y (n_samples,)")
    if features.shape[0] == 0:
        raise TrainingError("no samples to train on")
    if not np.isfinite(features).all():
        raise TrainingError("features contain NaN or infinite values; drop or fill those pixels first")
    if np.unique(labels).size < 2:
        raise TrainingError("at least two classes are needed")
    return features, labels


def model_size_bytes(model: Any) -> int:
    """Size of the pickled model (what is stored as the artifact, before compression)."""
    return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


@dataclass
class FoldMetrics:
    fold: int
    n_train: int
    n_test: int
    overall_accuracy: float
    kappa: float
    f1_per_class: dict[str, float]
    confusion: list[list[int]]  # rows = reference, columns = predicted, in `labels` order

    def as_dict(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "overall_accuracy": self.overall_accuracy,
            "kappa": self.kappa,
            "f1_per_class": self.f1_per_class,
            "confusion": self.confusion,
        }


@dataclass
class CVResult:
    scheme: str  # "random" or "spatial"
    labels: list[Any]
    folds: list[FoldMetrics]
    cost: Frugality
    pooled_confusion: list[list[int]] = field(default_factory=list)

    @property
    def overall_accuracy(self) -> float:
        """Accuracy of the pooled out-of-fold predictions (every sample predicted once)."""
        cm = np.asarray(self.pooled_confusion)
        return float(np.trace(cm) / cm.sum()) if cm.size else float("nan")

    @property
    def mean_kappa(self) -> float:
        return float(np.mean([f.kappa for f in self.folds]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "labels": [_label_key(v) for v in self.labels],
            "overall_accuracy": self.overall_accuracy,
            "mean_kappa": self.mean_kappa,
            "folds": [f.as_dict() for f in self.folds],
            "pooled_confusion": self.pooled_confusion,
            "cost": self.cost.as_dict(),
        }


def _label_key(value: Any) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any]) -> dict[str, Any]:
    """OA, Cohen's kappa, per-class F1 and the confusion matrix (rows reference, columns predicted)."""
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(truth, pred, labels=list(labels))
    f1 = f1_score(truth, pred, labels=list(labels), average=None, zero_division=0)
    kappa = float(cohen_kappa_score(truth, pred, labels=list(labels))) if truth.size else float("nan")
    return {
        "overall_accuracy": float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan"),
        "kappa": 0.0 if np.isnan(kappa) else kappa,  # kappa is undefined when one class fills the fold
        "f1_per_class": {_label_key(lab): float(v) for lab, v in zip(labels, f1, strict=True)},
        "confusion": cm.astype(int).tolist(),
    }


def cross_validate(
    X: ArrayLike,
    y: ArrayLike,
    folds: ArrayLike,
    *,
    algorithm: str = Algorithm.RANDOM_FOREST,
    params: Mapping[str, Any] | None = None,
    scheme: str = "spatial",
    n_jobs: int = 1,
    seed: int = 0,
    watts_per_core: float = DEFAULT_WATTS_PER_CORE,
    progress: Callable[[int, int], None] | None = None,
) -> CVResult:
    """Fit on all folds but one, predict the held-out fold with hard voting; metrics per fold and pooled."""
    features, labels = _check_xy(X, y)
    fold = np.asarray(folds)
    if fold.shape != labels.shape:
        raise FoldError("folds must give one fold index per sample")
    classes = np.unique(labels).tolist()
    fold_ids = np.unique(fold)
    if fold_ids.size < 2:
        raise FoldError("cross-validation needs at least two folds")
    pooled = np.zeros((len(classes), len(classes)), dtype=np.int64)
    results: list[FoldMetrics] = []
    with measure(watts_per_core=watts_per_core) as cost:
        for i, k in enumerate(fold_ids):
            test = fold == k
            train = ~test
            if np.unique(labels[train]).size < 2:
                raise FoldError(f"fold {int(k)}: the training part has a single class")
            model = make_estimator(algorithm, params, n_jobs=n_jobs, seed=seed)
            model.fit(features[train], labels[train])
            pred, _ = predict_with_confidence(model, features[test])
            m = classification_metrics(labels[test], pred, classes)
            pooled += np.asarray(m["confusion"], dtype=np.int64)
            results.append(FoldMetrics(fold=int(k), n_train=int(train.sum()), n_test=int(test.sum()), **m))
            if progress is not None:
                progress(i + 1, fold_ids.size)
    return CVResult(scheme=scheme, labels=classes, folds=results, cost=cost, pooled_confusion=pooled.tolist())


def compare_cv(
    X: ArrayLike,
    y: ArrayLike,
    *,
    random_fold: ArrayLike,
    spatial_fold: ArrayLike,
    algorithm: str = Algorithm.RANDOM_FOREST,
    params: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Random-CV and spatial-CV of the same model side by side; `inflation` = random OA − spatial OA."""
    rnd = cross_validate(
        X, y, random_fold, algorithm=algorithm, params=params, scheme="random", n_jobs=n_jobs, seed=seed
    )
    spa = cross_validate(
        X, y, spatial_fold, algorithm=algorithm, params=params, scheme="spatial", n_jobs=n_jobs, seed=seed
    )
    return {
        "random": rnd,
        "spatial": spa,
        "inflation": rnd.overall_accuracy - spa.overall_accuracy,
    }


def feature_importances(
    model: Any, X: ArrayLike, y: ArrayLike, names: Sequence[str], *, seed: int = 0, max_samples: int = 2000
) -> dict[str, float]:
    """Impurity importances for forests; permutation importances (on ≤ max_samples samples) otherwise."""
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=np.float64)
    else:
        features, labels = np.asarray(X, dtype=np.float32), np.asarray(y)
        if features.shape[0] > max_samples:
            keep = np.random.default_rng(seed).choice(features.shape[0], max_samples, replace=False)
            features, labels = features[keep], labels[keep]
        values = permutation_importance(model, features, labels, n_repeats=3, random_state=seed).importances_mean
    if len(names) != values.size:
        raise TrainingError("one name per feature is needed")
    return {name: float(v) for name, v in zip(names, values, strict=True)}


@dataclass
class TrainResult:
    model: Any
    algorithm: str
    params: dict[str, Any]
    classes: list[Any]
    cost: Frugality
    importances: dict[str, float]


def train(
    X: ArrayLike,
    y: ArrayLike,
    *,
    feature_names: Sequence[str],
    algorithm: str = Algorithm.RANDOM_FOREST,
    params: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    seed: int = 0,
    watts_per_core: float = DEFAULT_WATTS_PER_CORE,
) -> TrainResult:
    """Fit the final model on every sample; its fit cost and pickled size are recorded."""
    features, labels = _check_xy(X, y)
    if len(feature_names) != features.shape[1]:
        raise TrainingError("one name per feature is needed")
    model = make_estimator(algorithm, params, n_jobs=n_jobs, seed=seed)
    with measure(watts_per_core=watts_per_core) as cost:
        model.fit(features, labels)
    cost.model_size_bytes = model_size_bytes(model)
    return TrainResult(
        model=model,
        algorithm=str(Algorithm(algorithm).value),
        params={**DEFAULT_PARAMS[Algorithm(algorithm)], **dict(params or {})},
        classes=np.unique(labels).tolist(),
        cost=cost,
        importances=feature_importances(model, features, labels, feature_names, seed=seed),
    )
