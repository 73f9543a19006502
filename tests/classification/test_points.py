"""Stratified random points: reproducibility, minimum distance, exclusions, inclusion probabilities."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from classification.sampling import SamplingError, StrataBlock, strata_count, stratified_random_points
from classification.sampling.points import GridSpec, _complement_positions

GRID = GridSpec(xmin=600_000.0, ymax=6_300_000.0, resolution=10.0)


def make_source(strata, excluded=None, block=64):
    def source():
        for r in range(0, strata.shape[0], block):
            for c in range(0, strata.shape[1], block):
                ex = None if excluded is None else excluded[r : r + block, c : c + block]
                yield StrataBlock(r, c, strata[r : r + block, c : c + block], ex)

    return source


@pytest.fixture
def strata():
    # 3 strata in a 300×300 grid (3 km): left third 1, middle 2, right third 3 except a 0 (no stratum) band
    grid = np.ones((300, 300), dtype=np.int64)
    grid[:, 100:200] = 2
    grid[:, 200:] = 3
    grid[:20] = 0
    return grid


def test_counts_and_exclusions(strata):
    excluded = np.zeros_like(strata, dtype=bool)
    excluded[:, 250:] = True
    total, eligible = strata_count(make_source(strata, excluded), 3)
    assert total.tolist() == [6000, 28000, 28000, 28000]
    assert eligible.tolist() == [6000 - 1000, 28000, 28000, 14000]


def test_same_seed_same_points_other_seed_other_points(strata):
    source = make_source(strata)
    _, eligible = strata_count(source, 3)
    a = stratified_random_points(source, GRID, {1: 20, 2: 10, 3: 5}, eligible, seed=11, min_distance=50)
    b = stratified_random_points(source, GRID, {1: 20, 2: 10, 3: 5}, eligible, seed=11, min_distance=50)
    c = stratified_random_points(source, GRID, {1: 20, 2: 10, 3: 5}, eligible, seed=12, min_distance=50)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and np.array_equal(a.stratum, b.stratum)
    assert not np.array_equal(np.sort(a.x), np.sort(c.x))


def test_points_fall_in_their_stratum_with_the_allocated_count_and_probability(strata):
    source = make_source(strata)
    _, eligible = strata_count(source, 3)
    points = stratified_random_points(source, GRID, {1: 20, 2: 10, 3: 5}, eligible, seed=3)
    cols = np.floor((points.x - GRID.xmin) / GRID.resolution).astype(int)
    rows = np.floor((GRID.ymax - points.y) / GRID.resolution).astype(int)
    assert np.array_equal(strata[rows, cols], points.stratum)
    assert np.bincount(points.stratum, minlength=4).tolist() == [0, 20, 10, 5]
    expected = {1: 20 / 28000, 2: 10 / 28000, 3: 5 / 28000}
    assert np.allclose(points.inclusion_probability, [expected[int(h)] for h in points.stratum])
    assert points.shortfall == {}


def test_minimum_distance_is_respected_across_strata(strata):
    source = make_source(strata)
    _, eligible = strata_count(source, 3)
    points = stratified_random_points(source, GRID, {1: 40, 2: 40, 3: 40}, eligible, seed=5, min_distance=150)
    distances, _ = cKDTree(np.c_[points.x, points.y]).query(np.c_[points.x, points.y], k=2)
    assert distances[:, 1].min() >= 150
    assert len(points.x) == 120


def test_exclusions_are_never_sampled(strata):
    excluded = np.zeros_like(strata, dtype=bool)
    excluded[100:, :] = True
    source = make_source(strata, excluded)
    _, eligible = strata_count(source, 3)
    points = stratified_random_points(source, GRID, {1: 30, 2: 30, 3: 30}, eligible, seed=9)
    rows = np.floor((GRID.ymax - points.y) / GRID.resolution).astype(int)
    assert rows.max() < 100
    # and the inclusion probability is on the eligible cells: 30 / (80 rows × 100 cols)
    assert np.allclose(points.inclusion_probability, 30 / 8000)


def test_exclusions_covering_a_stratum_leave_it_empty_and_asking_for_points_there_fails(strata):
    excluded = strata == 3
    source = make_source(strata, excluded)
    _, eligible = strata_count(source, 3)
    assert eligible[3] == 0
    with pytest.raises(SamplingError) as error:
        stratified_random_points(source, GRID, {1: 5, 3: 5}, eligible, seed=1)
    assert error.value.code == "stratum_too_small"


def test_no_room_for_the_minimum_distance_is_reported_not_hidden(strata):
    source = make_source(strata)
    _, eligible = strata_count(source, 3)
    # stratum 2 is 1 km × 2.8 km: 100 points 500 m apart cannot fit
    points = stratified_random_points(source, GRID, {2: 100}, eligible, seed=1, min_distance=500)
    assert points.shortfall[2] > 80
    assert len(points.x) + points.shortfall[2] == 100


def test_existing_points_are_kept_at_a_distance(strata):
    source = make_source(strata)
    _, eligible = strata_count(source, 3)
    first = stratified_random_points(source, GRID, {1: 10}, eligible, seed=1, min_distance=200)
    second = stratified_random_points(
        source, GRID, {1: 10}, eligible, seed=2, min_distance=200, existing=(first.x, first.y)
    )
    d, _ = cKDTree(np.c_[first.x, first.y]).query(np.c_[second.x, second.y])
    assert d.min() >= 200


def test_complement_positions():
    # free ranks of 0…9 without {2, 3, 7} are 0 1 4 5 6 8 9
    assert _complement_positions(np.array([2, 3, 7]), np.arange(7)).tolist() == [0, 1, 4, 5, 6, 8, 9]


def test_strata_combination_of_class_altitude_band_and_departement():
    from classification.sampling.strata import altitude_band, strata_combine, strata_split

    premap = np.array([1, 2, 3, 0, 3])
    band = altitude_band(np.array([100.0, 900.0, 2500.0, 50.0, np.nan]), [500, 1500])
    departement = np.array([1, 1, 2, 2, 2])
    assert band.tolist() == [1, 2, 3, 1, 0]
    combined = strata_combine([premap, band, departement], [3, 3, 2])
    # 1 + (c1−1)·6 + (c2−1)·2 + (c3−1): (1,1,1) → 1, (2,2,1) → 9, (3,3,2) → 18; any 0 → 0
    assert combined.tolist() == [1, 9, 18, 0, 0]
    assert strata_split(18, [3, 3, 2]) == (3, 3, 2)
    with pytest.raises(SamplingError):
        strata_combine([np.array([4])], [3])
