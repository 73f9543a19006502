"""Bad input to the estimators fails with a stable code and a message that says what is wrong."""

import pytest

from classification.accuracy import (
    AccuracyInputError,
    ValidationSample,
    allocate,
    estimate_olofsson,
    estimate_stehman,
    sample_size_overall_accuracy,
)

CLASSES = ["a", "b"]
AREAS = {"a": 100.0, "b": 300.0}


def _code(call) -> str:
    with pytest.raises(AccuracyInputError) as info:
        call()
    return info.value.code


def test_non_square_matrix():
    assert _code(lambda: estimate_olofsson(counts=[[1, 2, 3], [4, 5, 6]], classes=CLASSES, mapped_area=AREAS)) == (
        "not_square"
    )


def test_negative_count_names_the_cell():
    with pytest.raises(AccuracyInputError) as info:
        estimate_olofsson(counts=[[5, -1], [2, 5]], classes=CLASSES, mapped_area=AREAS)
    assert info.value.code == "negative_count"
    assert "map 'a', reference 'b'" in info.value.message


def test_zero_sample_stratum():
    assert _code(lambda: estimate_olofsson(counts=[[5, 1], [0, 0]], classes=CLASSES, mapped_area=AREAS)) == (
        "empty_stratum"
    )


def test_single_unit_stratum():
    assert _code(lambda: estimate_olofsson(counts=[[5, 1], [1, 0]], classes=CLASSES, mapped_area=AREAS)) == (
        "stratum_too_small"
    )


def test_missing_and_unknown_areas():
    assert _code(lambda: estimate_olofsson(counts=[[5, 1], [1, 5]], classes=CLASSES, mapped_area={"a": 1})) == (
        "missing_area"
    )
    extra = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert _code(lambda: estimate_olofsson(counts=[[5, 1], [1, 5]], classes=CLASSES, mapped_area=extra)) == (
        "unknown_class"
    )
    negative = {"a": -1.0, "b": 1.0}
    assert _code(lambda: estimate_olofsson(counts=[[5, 1], [1, 5]], classes=CLASSES, mapped_area=negative)) == (
        "negative_area"
    )


def test_samples_in_a_class_with_no_mapped_area():
    zero = {"a": 0.0, "b": 1.0}
    assert _code(lambda: estimate_olofsson(counts=[[5, 1], [1, 5]], classes=CLASSES, mapped_area=zero)) == (
        "sample_outside_area"
    )


def test_stehman_unknown_stratum_points_at_the_unit():
    sample = ValidationSample(stratum=["1", "1", "9"], map_class=["a"] * 3, reference_class=["a"] * 3)
    with pytest.raises(AccuracyInputError) as info:
        estimate_stehman(sample=sample, stratum_sizes={"1": 10.0})
    assert (info.value.code, info.value.row) == ("unknown_stratum", 2)


def test_stehman_label_outside_the_legend():
    sample = ValidationSample(stratum=["1", "1"], map_class=["a", "z"], reference_class=["a", "a"])
    with pytest.raises(AccuracyInputError) as info:
        estimate_stehman(sample=sample, stratum_sizes={"1": 10.0}, classes=["a", "b"])
    assert (info.value.code, info.value.row) == ("unknown_class", 1)


def test_stehman_stratum_without_units():
    sample = ValidationSample(stratum=["1", "1"], map_class=["a", "a"], reference_class=["a", "b"])
    assert _code(lambda: estimate_stehman(sample=sample, stratum_sizes={"1": 10.0, "2": 5.0})) == "empty_stratum"


def test_design_helpers_reject_nonsense():
    assert _code(lambda: allocate(10, mapped_area=AREAS, method="random")) == "bad_parameter"
    assert _code(lambda: allocate(10, mapped_area=AREAS, method="neyman")) == "bad_parameter"
    expected = {"a": 0.9, "b": 1.2}
    assert _code(
        lambda: sample_size_overall_accuracy(mapped_area=AREAS, expected_users_accuracy=expected, target_se=0.01)
    ) == ("bad_parameter")
    assert _code(
        lambda: sample_size_overall_accuracy(mapped_area=AREAS, expected_users_accuracy={"a": 0.9}, target_se=0.01)
    ) == ("unknown_class")
