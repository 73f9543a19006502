"""Training cost: RF / extra trees of 100 trees and gradient boosting on 10,000 samples × 50 features, 30 classes.

Gradient boosting runs 10 iterations (= 300 trees at 30 classes); its default of 100 iterations costs
about ten times that.

Run: .venv/bin/python bench/bench_training.py   (figures go in BENCHMARKS.md)
"""

import os
import platform
import time

import numpy as np
from sklearn.datasets import make_classification

from classification.training.train import train

N_JOBS = int(os.environ.get("BENCH_JOBS", "2"))


def main() -> None:
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    X, y = make_classification(
        n_samples=10_000, n_features=50, n_informative=30, n_classes=30, n_clusters_per_class=1, random_state=0
    )
    X = X.astype(np.float32)
    names = [f"f{i}" for i in range(50)]
    runs = [
        ("random_forest", {}),
        ("extra_trees", {}),
        # 10 boosting iterations only (the default is 100): each iteration fits one tree per class.
        ("gradient_boosting", {"max_iter": 10}),
    ]
    for algorithm, params in runs:
        result = train(X, y, feature_names=names, algorithm=algorithm, params=params, n_jobs=N_JOBS)
        c = result.cost
        label = algorithm + (f" ({params['max_iter']} it.)" if "max_iter" in params else "")
        print(
            f"{label:26s} fit {c.wall_seconds:7.2f} s wall {c.cpu_seconds:7.2f} CPU-s "
            f"peak RSS +{(c.peak_rss_bytes - c.rss_start_bytes) / 2**20:5.0f} MiB "
            f"model {c.model_size_bytes / 2**20:7.1f} MiB "
            f"energy {c.energy_kwh * 1000:.3f} Wh (10 W/core)"
        )


if __name__ == "__main__":
    main()
