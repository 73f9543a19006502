import numpy as np
import pytest

from classification.training.folds import FoldError, random_folds
from classification.training.frugality import Frugality, energy_kwh, measure
from classification.training.train import (
    TrainingError,
    classification_metrics,
    cross_validate,
    make_estimator,
    train,
)

from .synthetic import clustered_campaign


def test_metrics_on_a_known_confusion():
    # given 10 reference labels and predictions with 2 errors
    truth = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    pred = np.array([1, 1, 1, 2, 2, 2, 2, 3, 3, 1])
    # when scored
    m = classification_metrics(truth, pred, [1, 2, 3])
    # then OA = 8/10, the confusion is exact (rows reference), F1 per class as computed by hand
    assert m["overall_accuracy"] == 0.8
    assert m["confusion"] == [[3, 1, 0], [0, 3, 0], [1, 0, 2]]
    assert m["f1_per_class"] == pytest.approx({"1": 0.75, "2": 6 / 7, "3": 0.8})
    # kappa: po = 0.8, pe = (4*4 + 3*4 + 3*2) / 100 = 0.34
    assert m["kappa"] == pytest.approx((0.8 - 0.34) / (1 - 0.34))


def test_train_records_cost_importances_and_classes():
    # given a clustered campaign
    c = clustered_campaign(n_clusters=10, seed=0)
    names = [f"b{i}" for i in range(c.X.shape[1])]
    # when a default extra-trees model is trained
    result = train(c.X, c.y, feature_names=names, algorithm="extra_trees", params={"n_estimators": 20})
    # then the cost is measured, the model is sized, importances cover every feature and sum to 1
    assert result.cost.wall_seconds > 0
    assert result.cost.cpu_seconds > 0
    assert result.cost.peak_rss_bytes >= result.cost.rss_start_bytes > 10_000_000
    assert result.cost.model_size_bytes is not None and result.cost.model_size_bytes > 1000
    assert result.cost.energy_kwh == pytest.approx(result.cost.cpu_seconds * 10.0 / 3.6e6)
    assert list(result.importances) == names
    assert sum(result.importances.values()) == pytest.approx(1.0)
    assert result.classes == [10, 11, 12, 13, 14]
    assert result.params["n_estimators"] == 20
    assert result.params["max_features"] == "sqrt"


def test_gradient_boosting_is_available_with_permutation_importances():
    c = clustered_campaign(n_clusters=5, plots_per_cluster=8, seed=0)
    result = train(
        c.X, c.y, feature_names=[f"b{i}" for i in range(6)], algorithm="gradient_boosting", params={"max_iter": 5}
    )
    assert len(result.importances) == 6
    assert type(result.model).__name__ == "HistGradientBoostingClassifier"


def test_cross_validate_gives_metrics_per_fold():
    c = clustered_campaign(n_clusters=10, seed=1)
    fold = random_folds(c.y, groups=c.plot, n_folds=3, seed=0)
    calls: list[tuple[int, int]] = []
    cv = cross_validate(
        c.X, c.y, fold, params={"n_estimators": 10}, scheme="random", progress=lambda i, n: calls.append((i, n))
    )
    assert [f.fold for f in cv.folds] == [0, 1, 2]
    assert sum(f.n_test for f in cv.folds) == c.y.size
    assert all(len(f.confusion) == 5 for f in cv.folds)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert cv.as_dict()["labels"] == ["10", "11", "12", "13", "14"]
    assert cv.cost.cpu_seconds > 0


@pytest.mark.parametrize(
    ("algorithm", "params", "message"),
    [
        ("svm", None, "unknown algorithm"),
        ("random_forest", {"n_estimator": 5}, "unknown parameters for random_forest: n_estimator"),
        ("gradient_boosting", {"n_estimators": 5}, "unknown parameters"),
    ],
)
def test_bad_algorithm_or_parameters_are_refused(algorithm, params, message):
    with pytest.raises(TrainingError, match=message):
        make_estimator(algorithm, params)


def test_bad_training_inputs_are_refused():
    X = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(TrainingError, match="two classes"):
        train(X, np.ones(4), feature_names=["a", "b"])
    with pytest.raises(TrainingError, match="NaN"):
        train(np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([1, 2]), feature_names=["a", "b"])
    with pytest.raises(TrainingError, match="one name per feature"):
        train(X, np.array([1, 2, 1, 2]), feature_names=["a"])
    with pytest.raises(FoldError, match="one fold index per sample"):
        cross_validate(X, np.array([1, 2, 1, 2]), np.array([0, 1]))


def test_measure_counts_cpu_time_of_worker_threads():
    # given work spread over 2 threads (numpy releases the GIL in large matrix products)
    from concurrent.futures import ThreadPoolExecutor

    a = np.random.default_rng(0).normal(size=(400, 400))

    def work(_):
        for _ in range(30):
            a @ a
        return 0

    # when measured
    with measure(watts_per_core=20.0) as cost, ThreadPoolExecutor(2) as pool:
        list(pool.map(work, range(2)))
    # then CPU-seconds include the threads' time and energy follows the given watts
    assert cost.cpu_seconds > 0
    assert cost.energy_kwh == pytest.approx(cost.cpu_seconds * 20.0 / 3.6e6)
    assert cost.peak_rss_scope == "run"


def test_energy_and_combination():
    assert energy_kwh(3600.0, watts_per_core=10.0) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        energy_kwh(-1.0)
    a = Frugality(wall_seconds=1, cpu_seconds=2, peak_rss_bytes=100, energy_kwh=0.5)
    b = Frugality(wall_seconds=3, cpu_seconds=4, peak_rss_bytes=50, energy_kwh=0.25, peak_rss_scope="process")
    total = a.add(b)
    assert (total.wall_seconds, total.cpu_seconds, total.peak_rss_bytes, total.energy_kwh) == (4, 6, 100, 0.75)
    assert total.peak_rss_scope == "process"
    assert total.as_dict()["cpu_hours"] == pytest.approx(6 / 3600)
