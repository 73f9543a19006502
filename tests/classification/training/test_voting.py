import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier

from classification.training.voting import confidence_percent, hard_vote, predict_with_confidence, tree_votes


def _data(n_classes: int = 6, seed: int = 0):
    X, y = make_classification(
        n_samples=1500, n_features=12, n_informative=8, n_classes=n_classes, n_clusters_per_class=1, random_state=seed
    )
    return X.astype(np.float32), (y * 3 + 100).astype(np.uint16)  # labels 100, 103, … (not 0..k-1)


def _majority_of_trees(model, X):
    # Reference: each tree's own predict(), then the most frequent class index (lowest index on ties).
    per_tree = np.column_stack([est.predict(X).astype(int) for est in model.estimators_])
    counts = np.stack([(per_tree == k).sum(axis=1) for k in range(len(model.classes_))], axis=1)
    return model.classes_[counts.argmax(axis=1)], counts.max(axis=1) / len(model.estimators_)


@pytest.mark.parametrize("forest", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("leaf", [1, 5])
def test_hard_vote_equals_the_majority_of_trees(forest, leaf):
    # given a fitted forest (impure leaves when min_samples_leaf > 1)
    X, y = _data()
    model = forest(n_estimators=25, min_samples_leaf=leaf, random_state=0).fit(X[:1000], y[:1000])
    # when predicting unseen samples by hard voting, in small chunks
    labels, share = hard_vote(model, X[1000:], chunk=97)
    # then labels and vote shares equal the majority of the trees' own predictions
    expected_labels, expected_share = _majority_of_trees(model, X[1000:])
    assert np.array_equal(labels, expected_labels)
    assert np.array_equal(share, expected_share)
    assert labels.dtype == np.uint16


def test_tree_votes_are_class_indices_per_tree():
    X, y = _data()
    model = RandomForestClassifier(n_estimators=7, random_state=1).fit(X, y)
    votes = tree_votes(model, X[:50])
    assert votes.shape == (50, 7)
    assert np.array_equal(votes[:, 3], model.estimators_[3].predict(X[:50]).astype(int))


def test_ties_go_to_the_first_class():
    # given a 2-tree forest whose trees disagree on some sample
    X, y = _data(n_classes=2)
    model = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=3).fit(X, y)
    votes = tree_votes(model, X)
    split = votes[:, 0] != votes[:, 1]
    assert split.any()
    # when voting, then a 1–1 tie goes to classes_[0] with a share of 0.5
    labels, share = hard_vote(model, X)
    assert set(labels[split].tolist()) == {int(model.classes_[0])}
    assert np.all(share[split] == 0.5)


def test_other_classifiers_use_the_highest_probability():
    X, y = _data()
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)
    labels, conf = predict_with_confidence(model, X[:100], chunk=30)
    proba = model.predict_proba(X[:100])
    assert np.array_equal(labels, model.classes_[proba.argmax(axis=1)])
    assert np.allclose(conf, proba.max(axis=1))


def test_hard_vote_refuses_non_forests():
    X, y = _data()
    model = HistGradientBoostingClassifier(max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match="hard voting"):
        hard_vote(model, X)


def test_confidence_percent_rounds_and_clips():
    assert confidence_percent(np.array([0.0, 0.333, 0.995, 1.0, 1.2])).tolist() == [0, 33, 100, 100, 100]
