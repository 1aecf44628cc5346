import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from denselab import seeds
from denselab.data.prepare import fold_indices, load_dataset
from denselab.spec import Experiment
from denselab.train.evaluate import Summary, cross_validate


def test_iris_cv_is_within_a_few_points_of_sklearn_mlp_on_the_same_folds():
    """The default network (Dense 20 relu, Adam 0.001, batch 32, 100 epochs) vs scikit-learn's
    MLPClassifier of the same shape and schedule, 10 stratified folds of the same rows."""
    exp = Experiment.from_dict({"data": {"source": "iris"}})
    ds = load_dataset(exp.data, exp.seed)
    cv = cross_validate(exp, ds)
    folds = fold_indices(ds.y_train, 10, True, ds.task, seeds.derive(exp.seed, "folds", 0))
    sk = []
    for k, (tr, va) in enumerate(folds):
        mlp = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(20,), learning_rate_init=0.001, batch_size=32, max_iter=100, random_state=k))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(ds.x_train[tr], ds.y_train[tr])
        sk.append(mlp.score(ds.x_train[va], ds.y_train[va]))
    assert cv.summary.n == 10
    assert abs(cv.summary.mean - np.mean(sk)) < 0.05, (cv.summary.mean, np.mean(sk))


def test_summary_statistics():
    s = Summary.of([0.8, 0.9, 1.0])
    assert s.mean == pytest.approx(0.9) and s.std == pytest.approx(0.1)
    # t(0.975, 2) = 4.3027; half-width = 4.3027 * 0.1 / sqrt(3)
    assert s.ci95[0] == pytest.approx(0.9 - 0.248418, abs=1e-5)
    assert Summary.of([0.8, 0.9, 1.0], "accuracy").ci95[1] == 1.0  # clipped to the metric's range


def test_repeats_give_new_splits_and_seeds_new_members_on_each_split():
    exp = Experiment.from_dict({"data": {"source": "iris"}, "train": {"epochs": 3},
                                "evaluate": {"folds": 3, "seeds": 2, "repeats": 2}})
    cv = cross_validate(exp)
    assert cv.repeat.tolist() == [0] * 6 + [1] * 6
    assert cv.fold.tolist() == [0, 0, 1, 1, 2, 2] * 2 and cv.seed.tolist() == [0, 1] * 6
    assert len(cv.split_scores) == 6  # the seeds of a split averaged: what tests between arms pair


def test_early_stopping_never_watches_the_scored_fold():
    exp = Experiment.from_dict({"data": {"source": "iris"}, "train": {"epochs": 40, "patience": 2},
                                "evaluate": {"folds": 3}})
    assert exp.train.effective_validation_split == 0.1
    cv = cross_validate(exp)
    assert all(len(h["loss"]) <= 40 for h in cv.histories)
