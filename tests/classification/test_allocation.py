"""Allocation arithmetic, checked against worked textbook examples."""

import numpy as np
import pytest

from classification.sampling import SamplingError, allocate, largest_remainder, sample_size_for_accuracy


def test_proportional_allocation_lohr_census_of_agriculture():
    # Lohr, Sampling: Design and Analysis, 2nd ed. (2010), ch. 3, the stratified sample of the 1992 US
    # Census of Agriculture (agstrat): counties by region NC 1054, NE 220, S 1382, W 422; n = 300 with
    # proportional allocation gives 103, 21, 135, 41.
    result = allocate(300, [1054, 220, 1382, 422], "proportional")
    assert result.sizes.tolist() == [103, 21, 135, 41]


def test_olofsson_2014_sample_size_and_proportional_allocation():
    # Olofsson et al. (2014) Remote Sensing of Environment 148:42–57, §5.1: map strata of 200,000,
    # 150,000, 3,200,000 and 6,450,000 pixels, anticipated user's accuracies 0.70, 0.60, 0.90, 0.95 and a
    # target standard error of overall accuracy of 0.01 give n = 641 (their eq. 13); proportional
    # allocation of 641 gives 13, 10, 205, 413.
    n_h = [200_000, 150_000, 3_200_000, 6_450_000]
    weights = np.array(n_h) / sum(n_h)
    s = np.sqrt(np.array([0.7, 0.6, 0.9, 0.95]) * (1 - np.array([0.7, 0.6, 0.9, 0.95])))
    assert sample_size_for_accuracy(weights, s, 0.01) == 641
    assert allocate(641, n_h, "proportional").sizes.tolist() == [13, 10, 205, 413]


def test_minimum_per_stratum_then_proportional_share_of_the_rest():
    # given the Olofsson strata and a minimum of 50 per stratum
    result = allocate(641, [200_000, 150_000, 3_200_000, 6_450_000], "proportional", minimum=50)
    # then the two rare strata are raised to 50 and 541 are shared 3.2 : 6.45
    # (179.40 and 361.60 → 179 and 362 by largest remainder)
    assert result.sizes.tolist() == [50, 50, 179, 362]
    assert result.sizes.sum() == 641


def test_neyman_allocation_cochran_formula():
    # Cochran (1977), Sampling Techniques, 3rd ed., eq. 5.60: n_h = n N_h S_h / Σ N_h S_h.
    # N = 1000, 2000, 3000; S = 10, 5, 2 → N·S = 10,000, 10,000, 6,000; n = 130 → 50, 50, 30.
    assert allocate(130, [1000, 2000, 3000], "neyman", std_devs=[10, 5, 2]).sizes.tolist() == [50, 50, 30]
    # from anticipated accuracies, S = √(p(1−p)): 0.5 → 0.5, 0.9 → 0.3; N equal → shares 5 : 3
    assert allocate(80, [100, 100], "neyman", expected_accuracies=[0.5, 0.9]).sizes.tolist() == [50, 30]


def test_neyman_over_allocation_is_capped_at_the_stratum_size():
    # Cochran §5.9: when Neyman gives n_h > N_h, take the whole stratum and re-share the rest.
    # N = 10, 1000; S = 100, 1 → raw shares 1000 : 1000 of 100 = 50, 50 > 10
    result = allocate(100, [10, 1000], "neyman", std_devs=[100, 1])
    assert result.sizes.tolist() == [10, 90]


def test_equal_allocation_rounding_adds_up():
    # 100 / 3 = 33.33…: one stratum gets the extra point, the first listed on a tie
    assert allocate(100, [500, 500, 500], "equal").sizes.tolist() == [34, 33, 33]


def test_largest_remainder_is_exact_and_within_one_of_the_quota():
    rng = np.random.default_rng(7)
    for _ in range(200):
        quotas = rng.random(rng.integers(1, 40)) * 50
        total = round(quotas.sum())
        quotas *= total / quotas.sum() if quotas.sum() else 1
        sizes = largest_remainder(quotas, total)
        assert sizes.sum() == total
        assert np.all(np.abs(sizes - quotas) < 1 + 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"total": 10, "sizes": [100, 100, 100], "method": "equal", "minimum": 4}, "minimum_exceeds_total"),
        ({"total": 10, "sizes": [100, 0, 100], "method": "proportional"}, "empty_stratum"),
        ({"total": 500, "sizes": [100, 100], "method": "proportional"}, "total_exceeds_population"),
        ({"total": 10, "sizes": [100, 100], "method": "neyman"}, "std_devs_required"),
        ({"total": 10, "sizes": [100, 100], "method": "neyman", "std_devs": [0, 0]}, "zero_weights"),
        ({"total": 10, "sizes": [100, 100], "method": "neyman", "std_devs": [-1, 1]}, "invalid_std_dev"),
        ({"total": 10, "sizes": [], "method": "equal"}, "no_strata"),
        ({"total": 10, "sizes": [100], "method": "optimal"}, "unknown_method"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code(kwargs, code):
    with pytest.raises(SamplingError) as error:
        allocate(**kwargs)
    assert error.value.code == code


def test_empty_strata_may_be_dropped_explicitly():
    result = allocate(10, [100, 0, 100], "proportional", allow_empty=True)
    assert result.sizes.tolist() == [5, 0, 5]
    assert result.empty == [1]
