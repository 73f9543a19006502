"""A synthetic clustered field campaign: plots in spatial clusters whose features share a local offset."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Campaign:
    xy: np.ndarray  # (n_pixels, 2) metres
    X: np.ndarray  # (n_pixels, n_features)
    y: np.ndarray  # (n_pixels,) class values
    plot: np.ndarray  # (n_pixels,) plot id


def clustered_campaign(
    *,
    n_clusters: int = 40,
    plots_per_cluster: int = 15,
    pixels_per_plot: int = 4,
    n_classes: int = 5,
    n_features: int = 6,
    extent: float = 100_000.0,
    cluster_radius: float = 500.0,
    class_signal: float = 0.6,
    cluster_offset: float = 2.0,
    seed: int = 0,
) -> Campaign:
    """Each cluster mostly holds one class and shifts every feature by its own offset (spatial
    autocorrelation that a model can memorise), while the class itself moves features only a little."""
    rng = np.random.default_rng(seed)
    class_means = rng.normal(0.0, class_signal, size=(n_classes, n_features))
    centres = rng.uniform(0.0, extent, size=(n_clusters, 2))
    offsets = rng.normal(0.0, cluster_offset, size=(n_clusters, n_features))
    dominant = np.arange(n_clusters) % n_classes
    xy, X, y, plot = [], [], [], []
    plot_id = 0
    for c in range(n_clusters):
        for _ in range(plots_per_cluster):
            label = dominant[c] if rng.random() < 0.8 else rng.integers(n_classes)
            centre = centres[c] + rng.normal(0.0, cluster_radius, size=2)
            for _ in range(pixels_per_plot):
                xy.append(centre + rng.uniform(-10.0, 10.0, size=2))
                X.append(class_means[label] + offsets[c] + rng.normal(0.0, 0.3, size=n_features))
                y.append(10 + label)
                plot.append(plot_id)
            plot_id += 1
    return Campaign(np.array(xy), np.array(X, dtype=np.float32), np.array(y, dtype=np.uint16), np.array(plot))
