"""Cross-validation folds for spatially clustered plots.

Every pixel of a plot goes to the same fold (groups = plots). Spatial folds go further: plots are binned
into square blocks and whole blocks are dealt to folds, so a validation plot has no training plot closer
than roughly one block. The block side is given, or estimated as the range of spatial autocorrelation of
the data (empirical variogram). Folds are stratified by class where the blocks allow it
(scikit-learn's StratifiedGroupKFold on block ids), so random-CV and spatial-CV differ only in the grouping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import curve_fit
from scipy.spatial.distance import pdist
from sklearn.model_selection import StratifiedGroupKFold


class FoldError(ValueError):
    """The inputs cannot be split as asked (too few plots or blocks for the number of folds, bad shapes)."""


@dataclass(frozen=True)
class Variogram:
    """An empirical semivariogram and the exponential model fitted to it."""

    lags: NDArray[np.float64]  # centre of each distance bin
    semivariance: NDArray[np.float64]
    pair_counts: NDArray[np.int64]
    nugget: float
    sill: float  # total sill (nugget + partial sill)
    range: float  # practical range: distance at which the model reaches 95 % of its partial sill


def _exponential(h: NDArray[np.float64], nugget: float, psill: float, practical_range: float) -> NDArray[np.float64]:
    return nugget + psill * (1.0 - np.exp(-3.0 * h / practical_range))


def empirical_variogram(
    xy: ArrayLike,
    values: ArrayLike,
    *,
    n_lags: int = 20,
    max_distance: float | None = None,
    log_lags: bool = True,
    max_points: int = 2000,
    seed: int = 0,
) -> Variogram:
    """Semivariogram of `values` (n,) or (n, k) at points `xy` (n, 2) and its fitted practical range.

    Multivariate values (several features, or one-hot labels for an indicator variogram) are standardised
    per column and their semivariances averaged. At most `max_points` points are used (a random subset),
    which keeps the pair count bounded (~2 × 10⁶ pairs). `max_distance` defaults to half the largest
    distance, the usual limit beyond which bins hold too few independent pairs. Lag bins are spaced
    logarithmically by default (from limit / 1000), which resolves short ranges in clustered designs
    where most pairs are far apart; `log_lags=False` gives equal-width bins.
    """
    pts = np.asarray(xy, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim == 1:
        vals = vals[:, None]
    if pts.ndim != 2 or pts.shape[1] != 2 or vals.ndim != 2 or vals.shape[0] != pts.shape[0]:
        raise FoldError("xy must be (n, 2) and values (n,) or (n, k) with the same n")
    if pts.shape[0] < 10:
        raise FoldError("at least 10 points are needed to estimate a variogram")
    if pts.shape[0] > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(pts.shape[0], max_points, replace=False))
        pts, vals = pts[keep], vals[keep]
    std = vals.std(axis=0)
    usable = std > 0
    if not usable.any():
        raise FoldError("values are constant: no spatial structure to estimate")
    vals = (vals[:, usable] - vals[:, usable].mean(axis=0)) / std[usable]

    dist = pdist(pts)
    gamma = np.zeros_like(dist)
    for col in range(vals.shape[1]):
        gamma += 0.5 * pdist(vals[:, col : col + 1], "sqeuclidean")
    gamma /= vals.shape[1]

    limit = float(max_distance) if max_distance is not None else float(dist.max()) / 2.0
    if limit <= 0:
        raise FoldError("all points are at the same place")
    if log_lags:
        edges = np.concatenate([[0.0], np.geomspace(limit / 1000.0, limit, n_lags)])
    else:
        edges = np.linspace(0.0, limit, n_lags + 1)
    which = np.digitize(dist, edges) - 1
    inside = (which >= 0) & (which < n_lags)
    counts = np.bincount(which[inside], minlength=n_lags).astype(np.int64)
    sums = np.bincount(which[inside], weights=gamma[inside], minlength=n_lags)
    filled = counts > 0
    # Each bin's lag is the mean distance of its pairs (not the bin centre, which is off for log bins).
    dist_sums = np.bincount(which[inside], weights=dist[inside], minlength=n_lags)
    lags = dist_sums[filled] / counts[filled]
    semivariance = sums[filled] / counts[filled]

    nugget, psill, practical_range = _fit_exponential(lags, semivariance, counts[filled], limit)
    return Variogram(
        lags=lags,
        semivariance=semivariance,
        pair_counts=counts[filled],
        nugget=nugget,
        sill=nugget + psill,
        range=practical_range,
    )


def _fit_exponential(
    lags: NDArray[np.float64], gamma: NDArray[np.float64], counts: NDArray[np.int64], limit: float
) -> tuple[float, float, float]:
    sill0 = float(np.mean(gamma[-max(1, len(gamma) // 4) :]))
    # The first-crossing rule gives the starting range and the answer if the fit fails.
    crossing = np.flatnonzero(gamma >= 0.95 * sill0)
    range0 = float(lags[crossing[0]]) if crossing.size else limit
    try:
        params, _ = curve_fit(
            _exponential,
            lags,
            gamma,
            p0=(float(gamma[0]) / 2.0, sill0, max(range0, limit / 100.0)),
            sigma=1.0 / np.sqrt(counts),  # weight bins by their pair counts (Cressie's weighting, simplified)
            bounds=([0.0, 0.0, limit / 1000.0], [np.inf, np.inf, 10.0 * limit]),
            maxfev=5000,
        )
    except (RuntimeError, ValueError):
        return 0.0, sill0, range0
    nugget, psill, practical_range = (float(v) for v in params)
    return nugget, psill, practical_range


def block_ids(xy: ArrayLike, block_size: float, *, origin: tuple[float, float] | None = None) -> NDArray[np.int64]:
    """Id of the square block (side `block_size`, aligned on `origin` or the data's lower-left) of each point."""
    pts = np.asarray(xy, dtype=np.float64)
    if block_size <= 0 or not np.isfinite(block_size):
        raise FoldError("block_size must be a positive distance")
    x0, y0 = origin if origin is not None else (float(pts[:, 0].min()), float(pts[:, 1].min()))
    col = np.floor((pts[:, 0] - x0) / block_size).astype(np.int64)
    row = np.floor((pts[:, 1] - y0) / block_size).astype(np.int64)
    ncols = int(col.max()) + 1
    return row * ncols + col


def _plot_anchor(xy: NDArray[np.float64], groups: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per sample, the centroid of its plot, so that a plot's pixels never straddle two blocks."""
    _, inverse = np.unique(groups, return_inverse=True)
    n = int(inverse.max()) + 1
    counts = np.bincount(inverse, minlength=n)
    cx = np.bincount(inverse, weights=xy[:, 0], minlength=n) / counts
    cy = np.bincount(inverse, weights=xy[:, 1], minlength=n) / counts
    return np.column_stack([cx[inverse], cy[inverse]])


def _check(xy: ArrayLike, y: ArrayLike, groups: ArrayLike | None) -> tuple[NDArray, NDArray, NDArray]:
    pts = np.asarray(xy, dtype=np.float64)
    labels = np.asarray(y)
    grp = np.arange(labels.shape[0]) if groups is None else np.asarray(groups)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise FoldError("xy must be an (n, 2) array of coordinates")
    if not (pts.shape[0] == labels.shape[0] == grp.shape[0]):
        raise FoldError("xy, y and groups must have the same length")
    if not np.isfinite(pts).all():
        raise FoldError("coordinates must be finite")
    return pts, labels, grp


def _deal(y: NDArray, grouping: NDArray, n_folds: int, seed: int, what: str) -> NDArray[np.int64]:
    n_units = np.unique(grouping).size
    if n_units < n_folds:
        raise FoldError(f"{n_units} {what} cannot make {n_folds} folds; use fewer folds or smaller blocks")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.full(y.shape[0], -1, dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros((y.shape[0], 1)), y, grouping)):
        fold[test] = k
    return fold


def random_folds(
    y: ArrayLike, *, groups: ArrayLike | None = None, n_folds: int = 5, seed: int = 0
) -> NDArray[np.int64]:
    """Fold index (0..n_folds-1) per sample: plots dealt at random, stratified by class, pixels kept together."""
    labels = np.asarray(y)
    _, labels, grp = _check(np.zeros((labels.shape[0], 2)), labels, groups)
    return _deal(labels, grp, n_folds, seed, "plots")


def spatial_block_folds(
    xy: ArrayLike,
    y: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    block_size: float,
    n_folds: int = 5,
    seed: int = 0,
) -> NDArray[np.int64]:
    """Fold index per sample from square blocks of side `block_size`, stratified by class where possible.

    A plot is placed in the block of its centroid, so all its pixels share a fold.
    """
    pts, labels, grp = _check(xy, y, groups)
    blocks = block_ids(_plot_anchor(pts, grp), block_size)
    return _deal(labels, blocks, n_folds, seed, "blocks")


def estimate_block_size(
    xy: ArrayLike,
    *,
    features: ArrayLike | None = None,
    labels: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> tuple[float, Variogram]:
    """Block side = the practical range of the empirical variogram of the features (or labels, one-hot).

    With several pixels per plot, the plot means are used (one point per plot) so that the within-plot
    pixels do not dominate the short lags.
    """
    if features is None and labels is None:
        raise FoldError("give features or labels to estimate the autocorrelation range")
    pts = np.asarray(xy, dtype=np.float64)
    if features is not None:
        values = np.asarray(features, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
    else:
        lab = np.asarray(labels)
        classes, idx = np.unique(lab, return_inverse=True)
        values = np.eye(classes.size)[idx]  # indicator variogram of the class labels
    if values.shape[0] != pts.shape[0]:
        raise FoldError("xy and the values must have the same length")
    if groups is not None:
        grp = np.asarray(groups)
        _, inverse = np.unique(grp, return_inverse=True)
        n = int(inverse.max()) + 1
        counts = np.bincount(inverse, minlength=n)[:, None]
        pts = np.column_stack([np.bincount(inverse, weights=pts[:, i], minlength=n) for i in range(2)]) / counts
        values = (
            np.column_stack([np.bincount(inverse, weights=values[:, i], minlength=n) for i in range(values.shape[1])])
            / counts
        )
    vario = empirical_variogram(pts, values, max_points=max_points, seed=seed)
    return vario.range, vario


def cap_block_size(
    xy: ArrayLike, block_size: float, *, n_folds: int, groups: ArrayLike | None = None, min_blocks_per_fold: int = 2
) -> float:
    """The largest block side ≤ `block_size` (shrunk by steps of 1/1.25) giving at least
    `min_blocks_per_fold` × `n_folds` occupied blocks. An estimated range can exceed what the area allows
    (a trend across the whole study area fits a very long range); then the folds need smaller blocks."""
    pts = np.asarray(xy, dtype=np.float64)
    grp = np.arange(pts.shape[0]) if groups is None else np.asarray(groups)
    anchors = _plot_anchor(pts, grp)
    size = float(block_size)
    while size > 0 and np.unique(block_ids(anchors, size)).size < min_blocks_per_fold * n_folds:
        size /= 1.25
        if size < 1e-6:
            raise FoldError("the plots are too close together to make spatial blocks")
    return size
