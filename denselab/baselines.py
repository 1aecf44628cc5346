"""Baselines: scikit-learn models scored on the very folds the networks are scored on.

A network's score means little until it is set beside what plain models reach on the
same rows. Each baseline is a scikit-learn estimator behind the run's own per-fold
preprocessing (`Dataset.preprocessor()`, fitted on each fold's training rows only, as
`train/evaluate.py`'s `make_member` does for a network), fitted and scored on the same
(train, held-out) index pairs, so its fold scores pair with the networks' for the
corrected t-test. Owns `EvalSpec.baselines`: `default`, `none`, a list of names, or
the import path of any scikit-learn estimator (`sklearn.svm:SVC`, `sklearn.svm.SVC`).

Example:
    >>> from denselab.data.prepare import fold_indices, load_dataset
    >>> from denselab.spec import DataSpec
    >>> ds = load_dataset(DataSpec(source="iris"), seed=0)
    >>> folds = fold_indices(ds.y_train, 3, True, ds.task, seed=0)
    >>> out = score_on_folds(resolve("classification", ["majority"]), ds, folds, "classification")
    >>> [round(a, 3) for a in out["majority"]["scores"]["accuracy"]]
    [0.325, 0.325, 0.325]
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from denselab import metrics
from denselab.errors import SpecError, suggest
from denselab.models.names import BASELINE_NAMES

# n_jobs=1: the machines this runs on have 2 cores, and the networks' engine uses them.
# 50 trees (half scikit-learn's default; a forest's accuracy has levelled off by then on
# tables of a few hundred rows) and the default 100 boosting rounds take a fraction of a
# second per fold.
_FACTORIES = {
    "classification": {
        "majority": lambda seed: DummyClassifier(strategy="most_frequent"),
        "logistic_regression": lambda seed: LogisticRegression(max_iter=1000),
        "random_forest": lambda seed: RandomForestClassifier(n_estimators=50, n_jobs=1, random_state=seed),
        "hist_gradient_boosting": lambda seed: HistGradientBoostingClassifier(random_state=seed),
    },
    "regression": {
        "mean": lambda seed: DummyRegressor(strategy="mean"),
        "ridge": lambda seed: Ridge(),
        "random_forest": lambda seed: RandomForestRegressor(n_estimators=50, n_jobs=1, random_state=seed),
        "hist_gradient_boosting": lambda seed: HistGradientBoostingRegressor(random_state=seed),
    },
}
FIELD = "evaluate.baselines"


def names(task: str) -> list:
    """The built-in baseline names of `task` (also what `default` picks; `models.names` lists them)."""
    return list(BASELINE_NAMES[task])


def resolve(task: str, choice="default", seed: int = 0) -> dict:
    """`{name: unfitted estimator}` for an `evaluate.baselines` value.

    Args:
        task: `classification` or `regression`.
        choice: `default` (all built-ins of the task), `none`, one name or import
            path, or a list of them.
        seed: `random_state` of every estimator that takes one.

    Example:
        >>> list(resolve("regression", "default"))
        ['mean', 'ridge', 'random_forest', 'hist_gradient_boosting']
        >>> type(resolve("classification", ["sklearn.svm:SVC"])["SVC"]).__name__
        'SVC'
    """
    if choice is None or choice == "none":
        return {}
    if choice == "default":
        choice = names(task)
    items = [choice] if isinstance(choice, str) else list(choice)
    out = {}
    for item in items:
        name, estimator = _one(task, item, seed)
        if name in out:
            raise SpecError(f"{FIELD}: `{item}` is listed twice; keep one")
        out[name] = estimator
    return out


def _one(task: str, item, seed: int) -> tuple:
    if not isinstance(item, str) or not item:
        raise SpecError(f"{FIELD}: got `{item}`; expected a name or an import path, e.g. "
                        f"[{', '.join(names(task))}] or sklearn.svm:SVC")
    if item in _FACTORIES[task]:
        return item, _FACTORIES[task][item](seed)
    if ":" not in item and "." not in item:
        other = next((t for t in _FACTORIES if t != task and item in _FACTORIES[t]), None)
        why = f" for a {task} task (it is a {other} baseline)" if other else ""
        raise SpecError(f"{FIELD}: unknown baseline `{item}`{why}{suggest(item, names(task))}; expected "
                        f"default, none, or a list of: {', '.join(names(task))}, or a scikit-learn estimator's "
                        "import path such as sklearn.svm:SVC")
    cls = import_estimator(item)
    fits_task = is_classifier if task == "classification" else is_regressor
    try:
        estimator = cls()
    except TypeError as exc:
        raise SpecError(f"{FIELD}: `{item}` cannot be built without arguments ({exc}); "
                        "name an estimator class that has defaults") from None
    if not fits_task(estimator):
        kind = "classifier" if task == "classification" else "regressor"
        raise SpecError(f"{FIELD}: `{item}` is not a {kind}; a {task} task needs one, e.g. "
                        f"{'sklearn.svm:SVC' if kind == 'classifier' else 'sklearn.svm:SVR'}")
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return cls.__name__, estimator


def import_estimator(path: str):
    """The class an import path (`pkg.mod:Class` or `pkg.mod.Class`) names; a one-line SpecError if none."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise SpecError(f"{FIELD}: cannot import module `{module_name}` of `{path}`; give an installed "
                        "estimator's path such as sklearn.svm:SVC") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise SpecError(f"{FIELD}: `{module_name}` has no class `{attr}`; give an estimator class's path "
                        "such as sklearn.svm:SVC")
    if not (hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise SpecError(f"{FIELD}: `{path}` is not a scikit-learn estimator (no fit/get_params)")
    return cls


def fit_predict(estimator, dataset, train_idx, x_eval) -> tuple:
    """(outputs on `x_eval`, note or None): a clone behind a fresh preprocessor, fitted on `train_idx`.

    Outputs are class probabilities over all k classes (columns of classes missing from
    these training rows stay 0; an estimator without `predict_proba` gives one-hot
    rows) or predicted values. A fit that fails (e.g. one class only in these rows)
    gives nan outputs and a note, not a crash of the whole run.
    """
    with _one_thread():
        return _fit_predict(estimator, dataset, train_idx, x_eval)


def _one_thread():
    # HistGradientBoosting's OpenMP pool (and BLAS) would otherwise take every core, and on a busy
    # 2-core machine its spinning threads made one fit of 940 rows take 53 s instead of 1.8 s.
    # Callers hold it around whole loops: entering it costs ~3 ms (it scans the loaded libraries).
    return threadpool_limits(limits=1)


def _fit_predict(estimator, dataset, train_idx, x_eval) -> tuple:
    """`fit_predict` for a caller that holds `_one_thread()`."""
    model = make_pipeline(dataset.preprocessor(), clone(estimator))
    y_fit = dataset.y_train[train_idx]
    k = dataset.n_targets
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=ConvergenceWarning)  # the fold's score says it
            model.fit(dataset.x_train[train_idx], y_fit)
    except ValueError as exc:
        shape = (len(x_eval), k) if dataset.task == "classification" else (len(x_eval),)
        return np.full(shape, np.nan), f"{type(estimator).__name__} could not be fitted: {exc}".split("\n")[0]
    return _outputs(model, x_eval, dataset.task, k, type(estimator).__name__)


def _outputs(model, x_eval, task: str, k: int, name: str) -> tuple:
    if task == "regression":
        return np.asarray(model.predict(x_eval), dtype=float), None
    out = np.zeros((len(x_eval), k))
    classes = np.asarray(model.classes_).astype(int)
    if hasattr(model, "predict_proba"):
        out[:, classes] = model.predict_proba(x_eval)
        return out, None
    out[np.arange(len(x_eval)), np.asarray(model.predict(x_eval)).astype(int)] = 1.0
    return out, f"{name} has no predict_proba: its log loss is of one-hot guesses"


def score_on_folds(estimators: dict, dataset, folds, task: str) -> dict:
    """Fit and score every baseline on every fold.

    Args:
        estimators: `{name: estimator}` as `resolve` returns.
        dataset: the run's `Dataset`; folds index its `x_train` / `y_train`.
        folds: `(train_idx, eval_idx)` pairs, the ones the networks are scored on.
        task: `classification` or `regression`.

    Returns `{name: {"predictions": [per-fold outputs], "scores": {metric: [per fold]},
    "notes": [...]}}`, folds in the order given.
    """
    out = {}
    with _one_thread():
        for name, estimator in estimators.items():
            out[name] = _on_folds(estimator, dataset, folds, task)
    return out


def _on_folds(estimator, dataset, folds, task: str) -> dict:
    predictions, scores, notes = [], {m: [] for m in metrics.names(task)}, []
    for train_idx, eval_idx in folds:
        pred, note = _fit_predict(estimator, dataset, train_idx, dataset.x_train[eval_idx])
        if note and note not in notes:
            notes.append(note)
        predictions.append(pred)
        for metric, value in metrics.score_all(task, dataset.y_train[eval_idx], pred, dataset.n_targets).items():
            scores[metric].append(value)
    return {"predictions": predictions, "scores": scores, "notes": notes}


def score_on_test(estimators: dict, dataset, task: str) -> dict:
    """Every baseline refit on all training rows and scored once on the test rows (as the network is).

    Returns `{name: {"predictions": outputs, "scores": {metric: value}, "notes": [...]}}`.
    """
    every = np.arange(len(dataset.y_train))
    out = {}
    with _one_thread():
        for name, estimator in estimators.items():
            pred, note = _fit_predict(estimator, dataset, every, dataset.x_test)
            out[name] = {"predictions": pred,
                         "scores": metrics.score_all(task, dataset.y_test, pred, dataset.n_targets),
                         "notes": [note] if note else []}
    return out


__all__ = ["names", "resolve", "import_estimator", "fit_predict", "score_on_folds", "score_on_test"]
