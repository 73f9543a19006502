import numpy as np
import pytest

from classification.training.folds import (
    FoldError,
    block_ids,
    cap_block_size,
    empirical_variogram,
    estimate_block_size,
    random_folds,
    spatial_block_folds,
)
from classification.training.train import compare_cv

from .synthetic import clustered_campaign


def _fold_of_each_plot(fold: np.ndarray, plot: np.ndarray) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for f, p in zip(fold.tolist(), plot.tolist(), strict=True):
        out.setdefault(p, set()).add(f)
    return out


def test_block_ids_bin_points_into_squares():
    # given four points around a 1 km grid
    xy = np.array([[0.0, 0.0], [999.0, 10.0], [1000.0, 0.0], [10.0, 1500.0]])
    # when binned into 1 km blocks
    ids = block_ids(xy, 1000.0)
    # then the first two share a block, the others get their own (row * n_cols + col)
    assert ids.tolist() == [0, 0, 1, 2]


@pytest.mark.parametrize("size", [0.0, -5.0, float("nan"), float("inf")])
def test_block_ids_refuse_a_bad_block_size(size):
    with pytest.raises(FoldError, match="block_size"):
        block_ids(np.zeros((3, 2)), size)


def test_spatial_folds_keep_plots_and_blocks_together():
    # given a clustered campaign with 4 pixels per plot
    c = clustered_campaign(seed=1)
    # when dealt into 5 spatial folds of 5 km blocks
    fold = spatial_block_folds(c.xy, c.y, groups=c.plot, block_size=5000.0, n_folds=5, seed=0)
    # then every pixel has a fold, each plot sits in exactly one fold, and so does each block
    assert set(np.unique(fold).tolist()) == {0, 1, 2, 3, 4}
    assert all(len(folds) == 1 for folds in _fold_of_each_plot(fold, c.plot).values())
    blocks = block_ids(c.xy, 5000.0)
    per_block: dict[int, set[int]] = {}
    for b, f in zip(blocks.tolist(), fold.tolist(), strict=True):
        per_block.setdefault(b, set()).add(f)
    # (a plot straddling a block edge follows its centroid, so compare on plots' blocks)
    assert sum(len(v) > 1 for v in per_block.values()) <= 2


def test_spatial_folds_are_reproducible_for_a_seed():
    c = clustered_campaign(seed=2)
    a = spatial_block_folds(c.xy, c.y, groups=c.plot, block_size=5000.0, n_folds=4, seed=7)
    b = spatial_block_folds(c.xy, c.y, groups=c.plot, block_size=5000.0, n_folds=4, seed=7)
    assert np.array_equal(a, b)


def test_random_folds_keep_plot_pixels_together_and_stratify():
    # given 200 plots of 4 pixels, half class 1, half class 2
    plot = np.repeat(np.arange(200), 4)
    y = np.where(plot < 100, 1, 2)
    # when dealt into 4 random folds
    fold = random_folds(y, groups=plot, n_folds=4, seed=0)
    # then each plot is in one fold and each fold holds 25 plots of each class
    assert all(len(f) == 1 for f in _fold_of_each_plot(fold, plot).values())
    for k in range(4):
        assert np.sum((fold == k) & (y == 1)) == 100
        assert np.sum((fold == k) & (y == 2)) == 100


def test_too_few_blocks_for_the_folds_is_refused():
    # given all plots inside one 100 km block
    c = clustered_campaign(n_clusters=5, seed=3)
    with pytest.raises(FoldError, match="blocks cannot make 5 folds"):
        spatial_block_folds(c.xy, c.y, groups=c.plot, block_size=1_000_000.0, n_folds=5)


def test_mismatched_lengths_are_refused():
    with pytest.raises(FoldError, match="same length"):
        spatial_block_folds(np.zeros((4, 2)), np.zeros(3), block_size=10.0)


def test_variogram_range_of_an_exponential_field():
    # given 20 independent realisations (as 20 feature columns) of a Gaussian field along a 30 km
    # transect with exponential covariance of practical range 3000 m
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0, 30_000, 1000))
    d = np.abs(x[:, None] - x[None, :])
    cov = np.exp(-3.0 * d / 3000.0)
    fields = np.linalg.cholesky(cov + 1e-9 * np.eye(x.size)) @ rng.normal(size=(x.size, 20))
    xy = np.column_stack([x, np.zeros_like(x)])
    # when their mean variogram is fitted (lags up to 15 km)
    vario = empirical_variogram(xy, fields, n_lags=30)
    # then the fitted practical range is close to the true one and the nugget near zero
    assert 2000.0 < vario.range < 4500.0
    assert vario.nugget < 0.2


def test_block_size_is_estimated_from_the_clusters():
    # given clusters of ~500 m radius with cluster-wide feature offsets, 100 km apart on average
    c = clustered_campaign(seed=4)
    # when the block size is estimated from the plots' features
    size, vario = estimate_block_size(c.xy, features=c.X, groups=c.plot)
    # then it is at the scale of the clusters (hundreds of metres to a few km), not of the region
    assert 300.0 < size < 10_000.0
    assert vario.sill > vario.nugget


def test_a_block_size_too_large_for_the_folds_is_capped():
    # given 100 plots on a 10 km × 10 km square and an estimated range of 50 km (a regional trend)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 10_000, size=(100, 2))
    # when capped for 5 folds
    size = cap_block_size(xy, 50_000.0, n_folds=5)
    # then there are at least 10 occupied blocks, and one step larger there would not be
    assert np.unique(block_ids(xy, size)).size >= 10
    assert np.unique(block_ids(xy, size * 1.25)).size < 10
    # a block size that already works is kept
    assert cap_block_size(xy, 1000.0, n_folds=5) == 1000.0


def test_constant_values_have_no_range():
    with pytest.raises(FoldError, match="constant"):
        empirical_variogram(np.random.default_rng(0).uniform(size=(50, 2)), np.ones(50))


def test_spatial_cv_is_lower_than_random_cv_on_clustered_plots():
    # given plots clustered in space, each cluster shifting its features
    c = clustered_campaign(seed=5)
    rnd = random_folds(c.y, groups=c.plot, n_folds=5, seed=0)
    spa = spatial_block_folds(c.xy, c.y, groups=c.plot, block_size=5000.0, n_folds=5, seed=0)
    # when the same forest is cross-validated both ways
    result = compare_cv(c.X, c.y, random_fold=rnd, spatial_fold=spa, params={"n_estimators": 30})
    # then random CV is inflated well above spatial CV
    assert result["random"].overall_accuracy > 0.75
    assert result["spatial"].overall_accuracy < result["random"].overall_accuracy - 0.2
    assert result["inflation"] == pytest.approx(result["random"].overall_accuracy - result["spatial"].overall_accuracy)
    # and every sample was predicted exactly once in each scheme
    assert np.sum(result["random"].pooled_confusion) == c.y.size
    assert np.sum(result["spatial"].pooled_confusion) == c.y.size
