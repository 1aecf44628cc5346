"""The task's metrics: each equals scikit-learn's own function; the test-score intervals."""

import doctest
import math

import numpy as np
import pytest
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint

from denselab import metrics


def _proba(rng, n, k):
    p = rng.random((n, k)) + 0.05
    return p / p.sum(axis=1, keepdims=True)


def test_classification_metrics_equal_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    p = _proba(rng, 60, 3)
    codes = p.argmax(axis=1)
    s = metrics.score_all("classification", y, p, n_classes=3)
    assert set(s) == {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}
    assert s["accuracy"] == skm.accuracy_score(y, codes)
    assert s["balanced_accuracy"] == skm.balanced_accuracy_score(y, codes)
    assert s["f1_macro"] == skm.f1_score(y, codes, average="macro")
    assert s["log_loss"] == pytest.approx(skm.log_loss(y, p))


def test_log_loss_on_a_fold_missing_a_class():
    # class 2 is absent from these rows, yet the network gives it probability
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1]])
    with pytest.raises(ValueError):
        skm.log_loss(y, p)  # what the plain call does
    assert metrics.score("log_loss", y, p, 3) == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]))


def test_binary_sigmoid_column_is_two_probabilities():
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([[0.2], [0.9], [0.4], [0.6], [0.7]])  # one sigmoid output per row
    s = metrics.score_all("classification", y, p1, n_classes=2)
    codes = (p1.ravel() > 0.5).astype(int)
    assert s["accuracy"] == skm.accuracy_score(y, codes) == 0.6
    assert s["log_loss"] == pytest.approx(skm.log_loss(y, p1.ravel()))


def test_non_probabilities_and_diverged_outputs_give_nan():
    y = np.array([0, 1, 2])
    linear = np.array([[2.0, -1.0, 0.5], [0.1, 3.0, 0.0], [0.0, 0.0, 1.0]])  # a linear output layer
    assert math.isnan(metrics.score("log_loss", y, linear, 3))
    assert metrics.score("accuracy", y, linear, 3) == 1.0
    diverged = np.full((3, 3), np.nan)
    assert all(math.isnan(v) for v in metrics.score_all("classification", y, diverged, 3).values())


def test_regression_metrics_equal_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    pred = (y + rng.normal(scale=0.5, size=50)).reshape(-1, 1)  # the engines' (n, 1) column
    s = metrics.score_all("regression", y, pred)
    assert s["rmse"] == skm.root_mean_squared_error(y, pred.ravel())
    assert s["mae"] == skm.mean_absolute_error(y, pred.ravel())
    assert s["r2"] == skm.r2_score(y, pred.ravel())
    assert s["mse"] == skm.mean_squared_error(y, pred.ravel())


def test_registry_and_defaults():
    assert metrics.default_metric("classification") == "accuracy"
    assert metrics.default_metric("regression") == "rmse"
    assert metrics.METRICS["r2"].greater_is_better and not metrics.METRICS["log_loss"].greater_is_better
    assert metrics.METRICS["r2"].range == (-math.inf, 1.0)
    assert metrics.names("regression") == ["rmse", "mae", "r2", "mse"]


def test_per_class_table_and_confusion_equal_sklearn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 40)
    p = _proba(rng, 40, 3)
    codes = p.argmax(axis=1)
    table = metrics.per_class(y, p, ["a", "b", "c"])
    report = skm.classification_report(y, codes, labels=[0, 1, 2], output_dict=True, zero_division=0)
    for i, row in table.iterrows():
        ref = report[str(i)]
        assert (row["precision"], row["recall"], row["support"]) == \
            pytest.approx((ref["precision"], ref["recall"], ref["support"]))
    assert table["class"].tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(metrics.confusion(y, p, 3), skm.confusion_matrix(y, codes, labels=[0, 1, 2]))
    # a class never seen in these rows still gets its row and column
    assert metrics.confusion([0, 0], [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]], 3).shape == (3, 3)


def test_wilson_interval_for_accuracy():
    y = np.array([0, 1] * 15)
    p = np.tile([[0.9, 0.1]], (30, 1))  # always class 0: 15 of 30 right
    low, high = metrics.test_interval("accuracy", y, p, seed=0)
    assert (low, high) == pytest.approx(proportion_confint(15, 30, alpha=0.05, method="wilson"))


def test_bootstrap_interval_is_seeded_and_covers_the_score():
    rng = np.random.default_rng(3)
    y = rng.normal(size=80)
    pred = y + rng.normal(scale=0.3, size=80)
    first = metrics.test_interval("rmse", y, pred, seed=7)
    assert first == metrics.test_interval("rmse", y, pred, seed=7)
    assert first != metrics.test_interval("rmse", y, pred, seed=8)
    assert first[0] < metrics.score("rmse", y, pred) < first[1]
    low, high = metrics.test_interval("r2", y, pred, seed=0)
    assert high <= 1.0 and low < metrics.score("r2", y, pred) < high
    assert all(math.isnan(v) for v in metrics.test_interval("rmse", [1.0], [1.0], seed=0))


def test_vectorized_regression_bootstrap_equals_one_call_per_resample():
    from scipy import stats

    rng = np.random.default_rng(5)
    y = rng.normal(size=40)
    pred = y + rng.normal(scale=0.5, size=40)
    for name in ("rmse", "mae", "r2", "mse"):
        ref = stats.bootstrap((np.arange(40),), lambda i: metrics.score(name, y[i], pred[i]), vectorized=False,
                              n_resamples=metrics.BOOTSTRAP_RESAMPLES, method="percentile",
                              rng=np.random.default_rng(11)).confidence_interval
        assert metrics.test_interval(name, y, pred, seed=11) == pytest.approx((ref.low, min(ref.high, 1.0)))



def test_vectorized_bootstrap_hand_computed():
    # codes [0, 0, 1] for truth [0, 1, 1]; each row of `index` is one resample
    y = np.array([0, 1, 1])
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    index = np.array([[0, 1, 2], [1, 1, 1], [0, 0, 2], [2, 2, 2]])
    # [0, 1, 2]: recalls 1/1 and 1/2; F1 2·1/(1+2) for both classes.
    # [1, 1, 1]: only class 1 is true (recall 0); class 0 is predicted, so F1 averages 0 and 0.
    # [0, 0, 2]: all right. [2, 2, 2]: one class, all right.
    assert metrics._resampled("balanced_accuracy", y, p, 2)(index) == pytest.approx([0.75, 0.0, 1.0, 1.0])
    assert metrics._resampled("f1_macro", y, p, 2)(index) == pytest.approx([2 / 3, 0.0, 1.0, 1.0])
    assert metrics._resampled("accuracy", y, p, 2)(index) == pytest.approx([2 / 3, 0.0, 1.0, 1.0])
    loss = -np.log([0.9, 0.4, 0.8])
    assert metrics._resampled("log_loss", y, p, 2)(index) == pytest.approx(
        [loss.mean(), loss[1], (2 * loss[0] + loss[2]) / 3, loss[2]])


@pytest.mark.parametrize("case", ["three_classes", "missing_classes", "one_hot", "sigmoid", "five_classes"])
def test_vectorized_resamples_equal_one_sklearn_call_each(case):
    rng = np.random.default_rng(sum(map(ord, case)))  # fixed per case
    n, k = 25, {"three_classes": 3, "missing_classes": 4, "one_hot": 3, "sigmoid": 2, "five_classes": 5}[case]
    y = rng.integers(0, 2 if case == "missing_classes" else k, n)
    p = _proba(rng, n, k)
    if case == "one_hot":  # probabilities 0 and 1: log loss's clipping decides
        p = np.eye(k)[rng.integers(0, k, n)]
    if case == "sigmoid":  # one output column, p(class 1)
        p = p[:, 1:]
    index = rng.integers(0, n, (40, n))
    for name in metrics.names("classification"):
        want = [metrics.score(name, y[i], p[i], k) for i in index]
        assert metrics._resampled(name, y, p, k)(index) == pytest.approx(want, rel=1e-12, abs=1e-12), name


def test_vectorized_regression_resamples_equal_one_sklearn_call_each():
    rng = np.random.default_rng(8)
    for y in (rng.normal(size=30), rng.normal(size=(30, 1)), rng.normal(size=(30, 3))):
        pred = y + rng.normal(scale=0.5, size=y.shape)
        index = rng.integers(0, 30, (40, 30))
        for name in ("rmse", "mae", "r2", "mse"):
            want = [metrics.score(name, y[i], pred[i]) for i in index]
            assert metrics._resampled(name, y, pred)(index) == pytest.approx(want, rel=1e-12), (name, y.shape)


def test_vectorized_bootstrap_in_chunks_equals_all_at_once(monkeypatch):
    rng = np.random.default_rng(9)
    y, p = rng.integers(0, 3, 50), _proba(rng, 50, 3)
    whole = metrics.test_interval("f1_macro", y, p, seed=2)
    monkeypatch.setattr(metrics, "_RESAMPLE_ELEMENTS", 7 * 50)  # 7 resamples a step, the last one shorter
    assert metrics.test_interval("f1_macro", y, p, seed=2) == pytest.approx(whole, rel=1e-12)


def test_classification_bootstrap_equals_the_one_call_per_resample_definition():
    """The same draws, statistic and percentile rule as `scipy.stats.bootstrap` scoring each resample with
    scikit-learn (how the intervals were computed before they were vectorized)."""
    from scipy import stats

    rng = np.random.default_rng(6)
    y, p = rng.integers(0, 3, 45), _proba(rng, 45, 3)
    for name in ("balanced_accuracy", "f1_macro", "log_loss"):
        ref = stats.bootstrap((np.arange(45),), lambda i: metrics.score(name, y[i], p[i], 3), vectorized=False,
                              n_resamples=metrics.BOOTSTRAP_RESAMPLES_PER_CALL, method="percentile",
                              rng=np.random.default_rng(13)).confidence_interval
        assert metrics.test_interval(name, y, p, seed=13, n_classes=3) == pytest.approx((ref.low, ref.high))
    # several regression targets: 300 resamples, sklearn's average over the targets
    y2 = rng.normal(size=(30, 2))
    pred2 = y2 + rng.normal(scale=0.4, size=y2.shape)
    ref = stats.bootstrap((np.arange(30),), lambda i: metrics.score("mae", y2[i], pred2[i]), vectorized=False,
                          n_resamples=metrics.BOOTSTRAP_RESAMPLES_PER_CALL, method="percentile",
                          rng=np.random.default_rng(3)).confidence_interval
    assert metrics.test_interval("mae", y2, pred2, seed=3) == pytest.approx((ref.low, ref.high))

def test_docstring_examples():
    assert doctest.testmod(metrics).failed == 0


def test_evaluate_metric_and_rope_in_the_spec():
    from denselab.errors import SpecError
    from denselab.spec import Experiment

    def spec(**evaluate):
        return Experiment.from_dict({"data": {"source": "iris"}, "evaluate": evaluate})

    assert spec().evaluate.metric_for("classification") == "accuracy"
    assert spec().evaluate.metric_for("regression") == "rmse"
    assert spec(metric="balanced_accuracy").evaluate.metric_for("classification") == "balanced_accuracy"
    assert spec().evaluate.rope == 0.01 and spec(rope=0.5).evaluate.rope == 0.5
    with pytest.raises(SpecError, match=r"evaluate.metric: unknown value `balanced_acc` "
                                        r"\(did you mean `balanced_accuracy`\?\)"):
        spec(metric="balanced_acc")
    with pytest.raises(SpecError, match=r"evaluate.metric: `r2` is a regression metric and this is a "
                                        r"classification task; use one of: accuracy"):
        spec(metric="r2").evaluate.metric_for("classification")
    with pytest.raises(SpecError, match=r"evaluate.rope: got -0.1; expected >= 0"):
        spec(rope=-0.1)
