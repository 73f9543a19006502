"""Hard voting (per-tree leaf → class, one bincount per chunk) vs `predict_proba` at 30 and 300 classes.

Run: .venv/bin/python bench/bench_voting.py   (figures go in BENCHMARKS.md)
"""

import os
import platform
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from classification.training.frugality import measure
from classification.training.voting import hard_vote

N_JOBS = int(os.environ.get("BENCH_JOBS", "2"))
N_PREDICT = int(os.environ.get("BENCH_PIXELS", "100000"))


def run(n_classes: int) -> None:
    X, y = make_classification(
        n_samples=max(20_000, 100 * n_classes),
        n_features=20,
        n_informative=15,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=0,
    )
    X = X.astype(np.float32)
    model = RandomForestClassifier(n_estimators=100, n_jobs=N_JOBS, random_state=0).fit(X, y)
    rng = np.random.default_rng(1)
    P = (X[rng.integers(0, X.shape[0], N_PREDICT)] + rng.normal(0, 0.1, (N_PREDICT, X.shape[1]))).astype(np.float32)
    hard_vote(model, P[:1000])  # warm the per-tree leaf → class cache
    with measure() as hv:
        labels, _ = hard_vote(model, P)
    with measure() as pp:
        proba = model.predict_proba(P)
        soft = model.classes_[proba.argmax(axis=1)]
    agree = float(np.mean(labels == soft))
    print(
        f"classes={n_classes:4d} pixels={N_PREDICT} trees=100 jobs={N_JOBS} | "
        f"hard vote {hv.wall_seconds:6.2f} s wall {hv.cpu_seconds:6.2f} CPU-s "
        f"+{(hv.peak_rss_bytes - hv.rss_start_bytes) / 2**20:5.0f} MiB peak RSS | "
        f"predict_proba {pp.wall_seconds:6.2f} s wall {pp.cpu_seconds:6.2f} CPU-s "
        f"+{(pp.peak_rss_bytes - pp.rss_start_bytes) / 2**20:5.0f} MiB peak RSS | "
        f"speed-up {pp.wall_seconds / hv.wall_seconds:4.1f}× | labels agree with soft voting {agree:.3f}"
    )


if __name__ == "__main__":
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    for k in (30, 300):
        run(k)
