"""Properties of the estimators that hold for every input (hypothesis), and exact unbiasedness by enumeration."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classification.accuracy import (
    ChangeSample,
    StratifiedDesign,
    ValidationSample,
    allocate,
    estimate_change_area,
    estimate_olofsson,
    estimate_stehman,
    sample_size_overall_accuracy,
    transition_matrix,
    transition_strata,
)


@st.composite
def stratified_matrices(draw):
    """A k×k error matrix with at least 2 units in every row, and positive mapped areas."""
    k = draw(st.integers(2, 5))
    counts = [draw(st.lists(st.integers(0, 30), min_size=k, max_size=k)) for _ in range(k)]
    for row in counts:
        if sum(row) < 2:
            row[draw(st.integers(0, k - 1))] += 2
    areas = draw(st.lists(st.floats(1.0, 1e7), min_size=k, max_size=k))
    classes = [f"c{i}" for i in range(k)]
    return classes, np.array(counts), dict(zip(classes, areas, strict=True))


@settings(max_examples=150, deadline=None)
@given(stratified_matrices())
def test_proportions_sum_to_one_and_standard_errors_are_not_negative(data):
    classes, counts, areas = data
    report = estimate_olofsson(counts=counts, classes=classes, mapped_area=areas)
    # the estimated cells sum to 1, each row to the class's mapped share, the reference areas to the map total
    assert report.cell_proportions.sum() == pytest.approx(1.0)
    total = sum(areas.values())
    assert report.cell_proportions.sum(axis=1) == pytest.approx([areas[c] / total for c in classes])
    assert sum(c.area_proportion.value for c in report.per_class) == pytest.approx(1.0)
    assert sum(c.area.value for c in report.per_class) == pytest.approx(total)
    estimates = [report.overall_accuracy] + [
        e for c in report.per_class for e in (c.users_accuracy, c.producers_accuracy, c.area_proportion)
    ]
    for e in estimates:
        if not np.isnan(e.value):
            assert -1e-12 <= e.value <= 1 + 1e-12
            assert e.se >= 0
            assert e.ci_low <= e.value <= e.ci_high


@settings(max_examples=150, deadline=None)
@given(stratified_matrices())
def test_stehman_with_map_classes_as_strata_is_olofsson(data):
    # given a sample stratified by map class, written unit by unit
    classes, counts, areas = data
    strata, mapped, reference = [], [], []
    for i, m in enumerate(classes):
        for j, r in enumerate(classes):
            strata += [m] * int(counts[i, j])
            mapped += [m] * int(counts[i, j])
            reference += [r] * int(counts[i, j])
    # when both estimators run (no finite population correction, as in Olofsson et al.)
    olof = estimate_olofsson(counts=counts, classes=classes, mapped_area=areas)
    steh = estimate_stehman(
        sample=ValidationSample(strata, mapped, reference), stratum_sizes=areas, classes=classes, fpc=False
    )
    # then every estimate and standard error agrees
    assert steh.cell_proportions == pytest.approx(olof.cell_proportions, abs=1e-12)
    assert steh.overall_accuracy.value == pytest.approx(olof.overall_accuracy.value)
    assert steh.overall_accuracy.se == pytest.approx(olof.overall_accuracy.se)
    for a, b in zip(steh.per_class, olof.per_class, strict=True):
        for field in ("users_accuracy", "producers_accuracy", "area_proportion", "area"):
            ea, eb = getattr(a, field), getattr(b, field)
            assert ea.value == pytest.approx(eb.value, nan_ok=True), field
            assert ea.se == pytest.approx(eb.se, rel=1e-9, abs=1e-12, nan_ok=True), field


@st.composite
def tiny_populations(draw):
    """Two or three strata of 3–5 units each, every unit with a reference label in {0, 1, 2}."""
    n_strata = draw(st.integers(2, 3))
    return [draw(st.lists(st.integers(0, 2), min_size=3, max_size=5)) for _ in range(n_strata)]


@settings(max_examples=40, deadline=None)
@given(tiny_populations())
def test_stratified_proportion_and_its_variance_are_unbiased_over_every_possible_sample(population):
    # given a tiny population, and every stratified random sample of 2 units per stratum
    sizes = {str(h): float(len(units)) for h, units in enumerate(population)}
    true_share = sum(u == 0 for units in population for u in units) / sum(len(u) for u in population)
    per_stratum = [list(itertools.combinations(units, 2)) for units in population]
    estimates, variances = [], []
    for picks in itertools.product(*per_stratum):
        strata = [str(h) for h, pick in enumerate(picks) for _ in pick]
        y = [float(u == 0) for pick in picks for u in pick]
        design = StratifiedDesign.build(unit_strata=strata, stratum_sizes=sizes, fpc=True)
        mean, var = design.mean(y)
        estimates.append(mean)
        variances.append(var)
    # then the estimator's mean is the true proportion, and with the fpc the variance estimator's mean is
    # the estimator's true variance over the design
    assert np.mean(estimates) == pytest.approx(true_share, abs=1e-12)
    assert np.mean(variances) == pytest.approx(np.var(estimates), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(1.0, 1e6), min_size=2, max_size=6),
    st.integers(0, 2000),
    st.sampled_from(["proportional", "equal", "neyman", "minimum_then_proportional"]),
)
def test_allocations_sum_to_n(areas, n, method):
    mapped = {f"c{i}": a for i, a in enumerate(areas)}
    expected = {c: 0.8 for c in mapped}
    counts = allocate(n, mapped_area=mapped, method=method, expected_users_accuracy=expected, minimum=50)
    assert sum(counts.values()) == n
    assert all(v >= 0 for v in counts.values())
    if method == "minimum_then_proportional":
        assert min(counts.values()) >= min(50, n // len(mapped))


@settings(max_examples=60, deadline=None)
@given(st.floats(0.001, 0.1), st.floats(0.5, 0.99))
def test_a_tighter_target_needs_a_larger_sample(target, accuracy):
    mapped = {"a": 1.0, "b": 3.0}
    expected = {"a": accuracy, "b": accuracy}
    loose = sample_size_overall_accuracy(mapped_area=mapped, expected_users_accuracy=expected, target_se=target)
    tight = sample_size_overall_accuracy(mapped_area=mapped, expected_users_accuracy=expected, target_se=target / 2)
    assert tight >= loose
    assert tight >= 4 * loose - 4  # n ∝ 1/SE², up to rounding


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_transition_matrix_accumulates_tile_by_tile(data):
    shape = (data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6)))
    cells = shape[0] * shape[1]
    before = np.array(data.draw(st.lists(st.integers(0, 3), min_size=cells, max_size=cells))).reshape(shape)
    after = np.array(data.draw(st.lists(st.integers(0, 3), min_size=cells, max_size=cells))).reshape(shape)
    whole = transition_matrix(before, after, n_classes=4, nodata=3)
    acc = np.zeros((4, 4), dtype=np.int64)
    for row in range(shape[0]):
        transition_matrix(before[row], after[row], n_classes=4, nodata=3, out=acc)
    assert (acc == whole).all()
    assert whole.sum() == int(((before != 3) & (after != 3)).sum())


def test_change_areas_balance():
    # given two maps of classes g(rassland), s(crub), f(orest) and the transitions they map
    classes = ["g", "s", "f"]
    matrix = np.array([[6000, 800, 0], [300, 2000, 200], [0, 100, 600]])
    sizes = transition_strata(matrix, classes)
    assert sizes == {"g→g": 6000, "g→s": 800, "s→g": 300, "s→s": 2000, "s→f": 200, "f→s": 100, "f→f": 600}
    # and a sample of 4 units per mapped transition, with reference labels for both years
    rng = np.random.default_rng(7)
    strata, mb, ma, rb, ra = [], [], [], [], []
    for label in sizes:
        b, a = label.split("→")
        for _ in range(4):
            strata.append(label)
            mb.append(b)
            ma.append(a)
            rb.append(b if rng.random() < 0.8 else str(rng.choice(classes)))
            ra.append(a if rng.random() < 0.8 else str(rng.choice(classes)))
    # when the change areas are estimated
    report = estimate_change_area(sample=ChangeSample(strata, mb, ma, rb, ra), stratum_sizes=sizes, classes=classes)
    # then the transition areas add up to the mapped total, net changes cancel, and net = gain − loss
    assert sum(e.value for e in report.transition_area.values()) == pytest.approx(10_000)
    assert sum(c.net_change.value for c in report.per_class) == pytest.approx(0, abs=1e-9)
    for c in report.per_class:
        assert c.net_change.value == pytest.approx(c.gross_gain.value - c.gross_loss.value)
        assert c.gross_loss.se >= 0 and c.net_change.se >= 0
    # and the transition map's accuracy is reported over the 9 transition classes
    assert len(report.transition_accuracy.classes) == 9
    assert report.transition_accuracy.overall_accuracy.value <= 1


def test_change_area_with_a_perfect_map_is_the_mapped_transition_area():
    # given reference labels that agree with both maps everywhere
    classes = ["g", "s"]
    sizes = {"g→g": 700.0, "g→s": 200.0, "s→s": 100.0}
    strata = [k for k in sizes for _ in range(3)]
    before = [k.split("→")[0] for k in strata]
    after = [k.split("→")[1] for k in strata]
    report = estimate_change_area(
        sample=ChangeSample(strata, before, after, before, after), stratum_sizes=sizes, classes=classes
    )
    # then the estimated area of each transition is its mapped area, with zero standard error
    assert report.transition_area[("g", "s")].value == pytest.approx(200)
    assert report.transition_area[("g", "s")].se == 0
    assert report.transition_area[("s", "g")].value == 0
    assert report.per_class[0].net_change.value == pytest.approx(-200)
    assert report.transition_accuracy.overall_accuracy.value == pytest.approx(1)
