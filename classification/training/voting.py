"""Hard-voting prediction for tree ensembles: the class most trees vote for, and the share that did.

Each tree votes for the class of the leaf a sample falls in (the argmax of the leaf's class counts, the
same rule as `tree.predict`); votes are counted with one `np.bincount` per chunk of samples. Only class
indices (n × trees) and a count table (chunk × classes) are held, never the (n × classes) float
probabilities of every tree, which is what makes it cheaper than `predict_proba` at hundreds of classes.
Ties go to the class listed first in `model.classes_` (the lowest label), as `np.argmax` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

FOREST_TYPES = (RandomForestClassifier, ExtraTreesClassifier)

#: Samples per vote-counting chunk: bounds the count table to chunk × classes × 8 bytes.
DEFAULT_CHUNK = 16384


def is_forest(model: Any) -> bool:
    return isinstance(model, FOREST_TYPES)


def _leaf_classes(model: Any) -> list[NDArray[np.intp]]:
    """Per tree, the class index each node votes for (cached on the model: computed once per model)."""
    cached = getattr(model, "_hard_vote_leaf_classes", None)
    if cached is None:
        cached = [est.tree_.value[:, 0, :].argmax(axis=1).astype(np.intp) for est in model.estimators_]
        model._hard_vote_leaf_classes = cached
    return cached


def tree_votes(model: Any, X: NDArray) -> NDArray[np.intp]:
    """(n_samples, n_trees) class indices voted by each tree of a fitted random forest or extra trees."""
    if not is_forest(model):
        raise TypeError("hard voting needs a RandomForestClassifier or ExtraTreesClassifier")
    if getattr(model, "n_outputs_", 1) != 1:
        raise TypeError("hard voting supports single-output classifiers only")
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    leaves = model.apply(X32)  # (n, n_trees) leaf ids, parallel over trees with model.n_jobs threads
    per_tree = _leaf_classes(model)
    votes = np.empty(leaves.shape, dtype=np.intp)
    for t, classes_of_node in enumerate(per_tree):
        votes[:, t] = classes_of_node[leaves[:, t]]
    return votes


def hard_vote(model: Any, X: NDArray, *, chunk: int = DEFAULT_CHUNK) -> tuple[NDArray, NDArray[np.float64]]:
    """Predicted labels (from `model.classes_`) and confidence = share of trees voting for the winner (0–1)."""
    if not is_forest(model):
        raise TypeError("hard voting needs a RandomForestClassifier or ExtraTreesClassifier")
    n = X.shape[0]
    n_classes = len(model.classes_)
    n_trees = len(model.estimators_)
    winners = np.empty(n, dtype=np.intp)
    share = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        votes = tree_votes(model, X[start:stop])
        m = stop - start
        offsets = (np.arange(m, dtype=np.intp) * n_classes)[:, None] + votes
        counts = np.bincount(offsets.ravel(), minlength=m * n_classes).reshape(m, n_classes)
        winners[start:stop] = counts.argmax(axis=1)
        share[start:stop] = counts[np.arange(m), winners[start:stop]] / n_trees
    return model.classes_[winners], share


def predict_with_confidence(model: Any, X: NDArray, *, chunk: int = DEFAULT_CHUNK) -> tuple[NDArray, NDArray]:
    """Labels and confidence (0–1) for any classifier: hard voting for forests, max probability otherwise."""
    if is_forest(model):
        return hard_vote(model, X, chunk=chunk)
    labels = np.empty(X.shape[0], dtype=model.classes_.dtype)
    conf = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], chunk):
        proba = model.predict_proba(X[start : start + chunk])
        best = proba.argmax(axis=1)
        labels[start : start + chunk] = model.classes_[best]
        conf[start : start + chunk] = proba[np.arange(best.size), best]
    return labels, conf


def confidence_percent(share: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Confidence share 0–1 → uint8 percent 0–100 (rounded half to even)."""
    return np.rint(np.clip(share, 0.0, 1.0) * 100.0).astype(np.uint8)
