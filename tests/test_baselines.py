"""Baselines: scored on exactly the given folds, behind per-fold preprocessing; `evaluate.baselines`."""

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline

from denselab import baselines, metrics
from denselab.data.prepare import fold_indices, from_frame
from denselab.errors import SpecError
from denselab.spec import DataSpec

SEEN = []  # what every Recorder clone was fitted on and asked about, in order


class Recorder(ClassifierMixin, BaseEstimator):
    """Predicts the majority class, remembering the rows (by their `id` feature) and their scaling."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.majority_ = np.bincount(y).argmax()
        SEEN.append(("fit", X))
        return self

    def predict_proba(self, X):
        SEEN.append(("predict", X))
        p = np.zeros((len(X), len(self.classes_)))
        p[:, np.searchsorted(self.classes_, self.majority_)] = 1.0
        return p


def _table(n=90, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return pd.DataFrame({"id": np.arange(n, dtype=float), "a": x[:, 0], "b": x[:, 1],
                         "y": np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "yes", "no")})


def test_scored_on_exactly_the_given_folds():
    ds = from_frame(_table(), "y", DataSpec(source="t", scaling="none"), seed=0)
    folds = fold_indices(ds.y_train, 3, True, ds.task, seed=5)
    SEEN.clear()
    out = baselines.score_on_folds({"rec": Recorder()}, ds, folds, "classification")
    ids = ds.x_train[:, 0]
    assert len(SEEN) == 2 * len(folds)
    for k, (train_idx, eval_idx) in enumerate(folds):
        (fit_kind, fit_x), (pred_kind, pred_x) = SEEN[2 * k], SEEN[2 * k + 1]
        assert (fit_kind, pred_kind) == ("fit", "predict")
        np.testing.assert_array_equal(fit_x[:, 0], ids[train_idx])   # fold indices equal
        np.testing.assert_array_equal(pred_x[:, 0], ids[eval_idx])
        assert out["rec"]["predictions"][k].shape == (len(eval_idx), 2)
    majority = [np.mean(ds.y_train[e] == np.bincount(ds.y_train[t]).argmax()) for t, e in folds]
    assert out["rec"]["scores"]["accuracy"] == pytest.approx(majority)


def test_preprocessing_is_fitted_on_each_folds_training_rows():
    ds = from_frame(_table(), "y", DataSpec(source="t"), seed=0)  # standard scaling
    folds = fold_indices(ds.y_train, 3, True, ds.task, seed=1)
    SEEN.clear()
    baselines.score_on_folds({"rec": Recorder()}, ds, folds, "classification")
    for k, (train_idx, eval_idx) in enumerate(folds):
        fit_x, pred_x = SEEN[2 * k][1], SEEN[2 * k + 1][1]
        np.testing.assert_allclose(fit_x.mean(axis=0), 0.0, atol=1e-6)  # scaled on these rows only
        scaler = StandardScaler().fit(ds.x_train[train_idx])
        np.testing.assert_allclose(pred_x, scaler.transform(ds.x_train[eval_idx]), rtol=1e-5, atol=1e-5)


def test_scores_equal_sklearn_cross_validate_on_the_same_folds():
    ds = from_frame(_table(120, seed=2), "y", DataSpec(source="t", drop=("id",)), seed=0)
    folds = fold_indices(ds.y_train, 4, True, ds.task, seed=3)
    out = baselines.score_on_folds(baselines.resolve("classification", ["logistic_regression"]), ds, folds,
                                   "classification")
    ref = cross_validate(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), ds.x_train,
                         ds.y_train, cv=folds, scoring=["accuracy", "balanced_accuracy", "neg_log_loss"])
    scores = out["logistic_regression"]["scores"]
    assert scores["accuracy"] == pytest.approx(ref["test_accuracy"].tolist())
    assert scores["balanced_accuracy"] == pytest.approx(ref["test_balanced_accuracy"].tolist())
    assert scores["log_loss"] == pytest.approx((-ref["test_neg_log_loss"]).tolist())



def test_fits_run_on_one_thread_with_one_limit_per_call(monkeypatch):
    from threadpoolctl import threadpool_info

    threads = []

    class Threads(Recorder):
        def fit(self, X, y):
            threads.append({lib["num_threads"] for lib in threadpool_info()})
            return super().fit(X, y)

    entered = []
    real = baselines.threadpool_limits
    monkeypatch.setattr(baselines, "threadpool_limits", lambda **kw: entered.append(kw) or real(**kw))
    ds = from_frame(_table(), "y", DataSpec(source="t"), seed=0)
    folds = fold_indices(ds.y_train, 3, True, ds.task, seed=0)
    baselines.score_on_folds({"a": Threads(), "b": Threads()}, ds, folds, "classification")
    baselines.score_on_test({"a": Threads()}, ds, "classification")
    assert entered == [{"limits": 1}] * 2  # once per call, not per fit (~3 ms each)
    assert len(threads) == 7 and all(t <= {1} for t in threads)

def test_regression_defaults_on_a_linear_truth():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(150, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                          "y": 2 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=150)})
    ds = from_frame(frame, "y", DataSpec(source="t"), seed=0)
    folds = fold_indices(ds.y_train, 3, False, ds.task, seed=0)
    out = baselines.score_on_folds(baselines.resolve("regression", "default", seed=0), ds, folds, "regression")
    assert list(out) == ["mean", "ridge", "random_forest", "hist_gradient_boosting"]
    assert min(out["ridge"]["scores"]["r2"]) > 0.99
    assert max(out["mean"]["scores"]["r2"]) <= 0.0  # the mean of the training rows explains nothing
    assert all(len(v) == 3 for v in out["random_forest"]["scores"].values())
    test = baselines.score_on_test({"ridge": baselines.resolve("regression", ["ridge"])["ridge"]}, ds,
                                   "regression")
    assert test["ridge"]["scores"]["rmse"] == pytest.approx(
        metrics.score("rmse", ds.y_test, test["ridge"]["predictions"]))


def test_a_fold_with_one_class_gives_nan_and_a_note():
    ds = from_frame(_table(), "y", DataSpec(source="t"), seed=0)
    only_no = np.flatnonzero(ds.y_train == 0)
    folds = [(only_no[:20], np.arange(10))]
    out = baselines.score_on_folds(baselines.resolve("classification", ["logistic_regression", "majority"]),
                                   ds, folds, "classification")
    assert math.isnan(out["logistic_regression"]["scores"]["accuracy"][0])
    assert "could not be fitted" in out["logistic_regression"]["notes"][0]
    assert out["majority"]["scores"]["accuracy"][0] == np.mean(ds.y_train[:10] == 0)


def test_resolve_choices_and_import_paths():
    assert baselines.resolve("classification", "none") == {}
    assert list(baselines.resolve("classification", "default")) == \
        ["majority", "logistic_regression", "random_forest", "hist_gradient_boosting"]
    forest = baselines.resolve("regression", ["random_forest"], seed=7)["random_forest"]
    assert forest.random_state == 7 and forest.n_jobs == 1
    both = baselines.resolve("classification", ["sklearn.svm:SVC", "sklearn.tree.DecisionTreeClassifier"], seed=3)
    assert list(both) == ["SVC", "DecisionTreeClassifier"] and both["DecisionTreeClassifier"].random_state == 3


@pytest.mark.parametrize("choice, message", [
    ("forest", r"evaluate.baselines: unknown baseline `forest` \(did you mean `random_forest`\?\); "
               r"expected default, none, or a list of: majority, logistic_regression"),
    (["ridge"], r"unknown baseline `ridge` for a classification task \(it is a regression baseline\)"),
    ("sklearn.nope:SVC", r"evaluate.baselines: cannot import module `sklearn.nope`"),
    ("sklearn.svm:Nope", r"evaluate.baselines: `sklearn.svm` has no class `Nope`"),
    ("sklearn.svm:SVR", r"evaluate.baselines: `sklearn.svm:SVR` is not a classifier"),
    (["majority", "majority"], r"`majority` is listed twice"),
    ([3], r"evaluate.baselines: got `3`; expected a name or an import path"),
])
def test_bad_baselines_name_the_field(choice, message):
    with pytest.raises(SpecError, match=message):
        baselines.resolve("classification", choice)


def test_docstring_examples():
    assert doctest.testmod(baselines).failed == 0


def test_evaluate_baselines_in_the_spec():
    from denselab.spec import Experiment

    def spec(value):
        return Experiment.from_dict({"data": {"source": "iris"}, "evaluate": {"baselines": value}})

    assert spec("none").evaluate.baselines == "none"
    exp = spec(["majority", "sklearn.svm:SVC"])
    assert exp.evaluate.baselines == ("majority", "sklearn.svm:SVC")
    assert Experiment.from_dict(exp.to_dict()) == exp
    assert Experiment.from_dict({"data": {"source": "iris"}}).evaluate.baselines == "default"
    with pytest.raises(SpecError, match=r"evaluate.baselines: unknown baseline `ridgee` \(did you mean `ridge`\?\)"):
        spec(["ridgee"])
    with pytest.raises(SpecError, match=r"evaluate.baselines: `sklearn.svm` has no class `SVX`"):
        spec(["sklearn.svm:SVX"])  # before any data is read
    with pytest.raises(SpecError, match=r"evaluate.baselines: `pandas:DataFrame` is not a scikit-learn estimator"):
        spec("pandas:DataFrame")


def test_plain_name_lists_match_the_registries():
    """spec.py checks names from `models.names` (no scikit-learn import): they must be the real ones."""
    from denselab import metrics
    from denselab.baselines import _FACTORIES
    from denselab.models.names import BASELINE_NAMES, METRIC_NAMES

    assert {task: tuple(f) for task, f in _FACTORIES.items()} == BASELINE_NAMES
    assert {task: tuple(metrics.names(task)) for task in METRIC_NAMES} == METRIC_NAMES
