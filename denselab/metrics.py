"""The task's metrics, each computed by scikit-learn's own function.

A network's outputs (class probabilities, or predicted values) and the true targets
(class codes 0..k-1, or values) go in; plain floats and tables come out. Nothing here
is hand-written arithmetic: accuracy is `accuracy_score`, RMSE is
`root_mean_squared_error`, and so on, so a number on a page is the number
scikit-learn gives for the same predictions. The one exception is inside the test
bootstrap, whose hundreds of resamples per metric are scored at once from class counts
or per-row losses (`_resampled`; tests pin it to one scikit-learn call per resample).
`METRICS` says, for every name, whether larger is better and what range the score
lives in (searches optimize, tables rank and intervals are clipped by it). The
held-out test score gets an interval with its n: Wilson for accuracy (a binomial
proportion), a seeded bootstrap for the rest.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    >>> s = score_all("classification", [0, 1, 1, 1], proba, n_classes=2)
    >>> s["accuracy"], round(s["balanced_accuracy"], 3)
    (0.75, 0.833)
    >>> default_metric("regression"), METRICS["rmse"].greater_is_better
    ('rmse', False)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm

# A test interval's confidence level, and the bootstrap's resample counts. A percentile
# bound from B resamples has a Monte-Carlo error of about 2.7/√B of the score's standard
# error: 0.08 SE for 1 000 (one-target regression), 0.15 SE for 300 (classification and
# several targets). 300 dates from when those metrics cost one scikit-learn call per
# resample; every metric is now vectorized (a few ms for 300), and the count is kept so the
# published intervals keep their definition.
CI_LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_RESAMPLES_PER_CALL = 300
# Output rows whose sum is this far from 1 are not probabilities (e.g. a linear output
# layer chosen for a classifier); their log loss is reported as nan, not a made-up number.
PROBABILITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Metric:
    """A metric's name, its task, whether larger is better, and its (low, high) range."""

    name: str
    task: str
    greater_is_better: bool
    range: tuple


METRICS = {m.name: m for m in (
    Metric("accuracy", "classification", True, (0.0, 1.0)),
    Metric("balanced_accuracy", "classification", True, (0.0, 1.0)),
    Metric("f1_macro", "classification", True, (0.0, 1.0)),
    Metric("log_loss", "classification", False, (0.0, math.inf)),
    Metric("rmse", "regression", False, (0.0, math.inf)),
    Metric("mae", "regression", False, (0.0, math.inf)),
    Metric("r2", "regression", True, (-math.inf, 1.0)),
    Metric("mse", "regression", False, (0.0, math.inf)),  # the engines' regression loss
)}


def default_metric(task: str) -> str:
    """The primary metric of a task when `evaluate.metric` is `auto`: accuracy or rmse."""
    return {"classification": "accuracy", "regression": "rmse"}[task]


def names(task: str) -> list:
    """The metric names of `task`, in registry order."""
    return [m.name for m in METRICS.values() if m.task == task]


def probabilities(y_pred, n_classes: int) -> np.ndarray:
    """(n, k) class probabilities from a network's outputs; a binary head's one sigmoid column → [1 − p, p]."""
    p = np.asarray(y_pred, dtype=float)
    if n_classes == 2 and (p.ndim == 1 or p.shape[1] == 1):
        p = p.reshape(-1, 1)
        p = np.hstack([1.0 - p, p])
    return p.reshape(len(p), -1)


def predicted_classes(y_pred, n_classes: int) -> np.ndarray:
    """Class codes of the largest probability (for a sigmoid head: p > 0.5, as the engines score it)."""
    return probabilities(y_pred, n_classes).argmax(axis=1)


def score(name: str, y_true, y_pred, n_classes: int | None = None) -> float:
    """One metric of `METRICS` from true targets and the network's outputs (see `score_all`)."""
    metric = METRICS[name]
    y_pred = np.asarray(y_pred, dtype=float)
    if not np.all(np.isfinite(y_pred)):
        return float("nan")  # a diverged member: no score is honest
    with warnings.catch_warnings():
        # a fold without some class: scikit-learn warns for every ill-defined class ratio
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        if metric.task == "classification":
            k = n_classes or (2 if y_pred.ndim == 1 or y_pred.shape[1] == 1 else y_pred.shape[1])
            return _classification(name, np.asarray(y_true).astype(int).ravel(), y_pred, int(k))
        return _regression(name, np.asarray(y_true, dtype=float), y_pred)


def _classification(name: str, y_true, y_pred, n_classes: int) -> float:
    proba = probabilities(y_pred, n_classes)
    if name == "log_loss":
        if proba.min() < 0 or np.abs(proba.sum(axis=1) - 1.0).max() > PROBABILITY_TOLERANCE:
            return float("nan")
        # labels=: a fold (or test set) missing a class still scores against all k columns
        return float(skm.log_loss(y_true, proba, labels=list(range(n_classes))))
    codes = proba.argmax(axis=1)
    if name == "accuracy":
        return float(skm.accuracy_score(y_true, codes))
    if name == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y_true, codes))
    return float(skm.f1_score(y_true, codes, average="macro", zero_division=0))


_REGRESSION = {"rmse": skm.root_mean_squared_error, "mae": skm.mean_absolute_error,
               "r2": skm.r2_score, "mse": skm.mean_squared_error}


def _regression(name: str, y_true, y_pred) -> float:
    return float(_REGRESSION[name](y_true, y_pred.reshape(y_true.shape)))


def score_all(task: str, y_true, y_pred, n_classes: int | None = None) -> dict:
    """Every metric of `task`: `{name: float}`.

    Args:
        task: `classification` or `regression`.
        y_true: class codes 0..k-1, or target values.
        y_pred: class probabilities (n, k) (a binary sigmoid's (n, 1) column is fine),
            or predicted values.
        n_classes: k (classification only; default the outputs' width, 2 for one
            sigmoid column): the log loss scores against all k classes even when these
            rows miss some.

    Non-finite outputs (a diverged network) give nan for every metric.
    """
    return {name: score(name, y_true, y_pred, n_classes) for name in names(task)}


def per_class(y_true, y_pred, classes) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class (`precision_recall_fscore_support`).

    Args:
        y_true: class codes; y_pred: probabilities or outputs as for `score_all`.
        classes: the class names, indexed by code.

    Example:
        >>> per_class([0, 0, 1], [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]], ["a", "b"])["recall"].tolist()
        [0.5, 1.0]
    """
    k = len(classes)
    codes = predicted_classes(y_pred, k)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        np.asarray(y_true).astype(int), codes, labels=list(range(k)), zero_division=0)
    return pd.DataFrame({"class": [str(c) for c in classes], "precision": precision, "recall": recall,
                         "f1": f1, "support": support.astype(int)})


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts (rows: true class, columns: predicted class) of every class code, present or not."""
    codes = predicted_classes(y_pred, n_classes)
    return skm.confusion_matrix(np.asarray(y_true).astype(int), codes, labels=list(range(n_classes)))


def test_interval(name: str, y_true, y_pred, seed: int, n_classes: int | None = None) -> tuple:
    """A 95 % interval of a held-out test score: (low, high).

    Accuracy is a proportion of n independent rows, so it gets the Wilson score
    interval (statsmodels `proportion_confint`, good at small n and near 0 or 1).
    Every other metric gets a percentile bootstrap over test rows (`scipy.stats.bootstrap`,
    `BOOTSTRAP_RESAMPLES` or `BOOTSTRAP_RESAMPLES_PER_CALL` resamples, `seed` fixed, so
    the interval is reproducible);
    percentile rather than BCa, which is undefined when every resample scores the same.
    Bounds are clipped to the metric's range. Fewer than 2 rows or a non-finite
    score give (nan, nan).

    Example:
        >>> low, high = test_interval("accuracy", [0, 1, 1, 0] * 10, [[0.1, 0.9]] * 40, seed=0)
        >>> round(low, 3), round(high, 3)
        (0.352, 0.648)
    """
    from scipy import stats
    from statsmodels.stats.proportion import proportion_confint

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=float)
    n = len(y_true)
    value = score(name, y_true, y_pred, n_classes)
    if n < 2 or not math.isfinite(value):
        return (float("nan"), float("nan"))
    if name == "accuracy":
        low, high = proportion_confint(round(value * n), n, alpha=1 - CI_LEVEL, method="wilson")
    else:
        statistic = _resampled(name, y_true, y_pred, n_classes)
        one_target = METRICS[name].task == "regression" and y_true.ndim == 1
        resamples = BOOTSTRAP_RESAMPLES if one_target else BOOTSTRAP_RESAMPLES_PER_CALL
        res = stats.bootstrap((np.arange(n),), statistic, vectorized=True, n_resamples=resamples,
                              confidence_level=CI_LEVEL, method="percentile", rng=np.random.default_rng(seed))
        low, high = res.confidence_interval
    lo, hi = METRICS[name].range
    return (float(max(low, lo)), float(min(high, hi)))


# Resamples scored per step of `_resampled`'s statistics: bounds their temporaries to a
# few (4 M-element) arrays however many test rows there are.
_RESAMPLE_ELEMENTS = 4_000_000


def _resampled(name: str, y_true, y_pred, n_classes: int | None = None):
    """`statistic(index, axis=-1)`: metric `name` of every row of `index` (resamples × n row numbers).

    What `score(name, y_true[i], y_pred[i], n_classes)` gives for each row `i` of
    `index`, for all rows at once: scipy's vectorized bootstrap draws the very same
    resamples as its one-call-per-resample form, so only the time changes. The caller
    checks first that the outputs score (finite, valid probabilities).
    """
    y_pred = np.asarray(y_pred, dtype=float)
    if METRICS[name].task == "regression":
        y_true = np.asarray(y_true, dtype=float)
        truth = y_true.reshape(len(y_true), -1)  # one column per target
        pred = y_pred.reshape(truth.shape)

        def per_rows(rows):  # scikit-learn's multioutput average is the mean of the per-target scores
            return np.mean([_REGRESSION[name](truth[rows, j].T, pred[rows, j].T, multioutput="raw_values")
                            for j in range(truth.shape[1])], axis=0)
        return _in_chunks(per_rows)
    y = np.asarray(y_true).astype(int).ravel()
    k = int(n_classes or (2 if y_pred.ndim == 1 or y_pred.shape[1] == 1 else y_pred.shape[1]))
    proba = probabilities(y_pred, k)
    if name == "log_loss":  # log_loss's own clipping; a row's loss is −log p of its true class
        eps = np.finfo(proba.dtype).eps
        loss = -np.log(np.clip(proba[np.arange(len(y)), y], eps, 1 - eps))
        return _in_chunks(lambda rows: loss[rows].mean(axis=1))
    if name not in ("accuracy", "balanced_accuracy", "f1_macro"):  # a new metric needs its own vectorized form
        raise ValueError(f"metrics._resampled: no vectorized form of {name!r}")
    codes = proba.argmax(axis=1)
    hit = (codes == y).astype(float)
    if name == "accuracy":
        return _in_chunks(lambda rows: hit[rows].mean(axis=1))

    def per_rows(rows):
        offset = (np.arange(len(rows)) * k)[:, None]

        def counts(codes_of_rows, weights=None):  # (resamples, k) per-class counts
            flat = (offset + codes_of_rows).ravel()
            return np.bincount(flat, weights, minlength=len(rows) * k).reshape(len(rows), k)
        true, predicted, tp = counts(y[rows]), counts(codes[rows]), counts(y[rows], hit[rows].ravel())
        if name == "balanced_accuracy":  # mean recall over the classes present in the resample's truth
            present = true > 0
            recall = np.divide(tp, true, out=np.zeros_like(tp), where=present)
            return recall.sum(axis=1) / present.sum(axis=1)
        # f1_macro: 2·tp/(true + predicted) averaged over the classes in its truth or predictions
        present = (true + predicted) > 0
        f1 = np.divide(2 * tp, true + predicted, out=np.zeros_like(tp), where=present)
        return f1.sum(axis=1) / present.sum(axis=1)
    return _in_chunks(per_rows)


def _in_chunks(per_rows):
    """A scipy `statistic(index, axis=-1)` applying `per_rows` to a (resamples, n) index, a few resamples at a time."""
    def statistic(index, axis=-1):
        index = np.asarray(index)
        rows = index.reshape(-1, index.shape[-1])
        step = max(1, _RESAMPLE_ELEMENTS // max(1, rows.shape[1]))
        out = np.concatenate([per_rows(rows[i:i + step]) for i in range(0, len(rows), step)])
        return out.reshape(index.shape[:-1])
    return statistic


__all__ = ["Metric", "METRICS", "default_metric", "names", "score", "score_all", "per_class", "confusion",
           "test_interval", "probabilities", "predicted_classes"]
