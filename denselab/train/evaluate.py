"""Honest scores: k-fold cross-validation on training rows, the held-out test, statistics.

Owns `EvalSpec` (folds, seeds, stratified, engine) and the turning of folds and
seeds into engine `Member`s: per member, the preprocessor (imputation, scaling) is
fitted on that member's training rows only, noise augmentation is applied to those
rows only, and an inner validation split is carved from them when early stopping
needs one. Results are plain per-member arrays plus a summary, as scikit-learn's
`cross_validate` returns them.

Example:
    >>> from denselab.spec import Experiment
    >>> exp = Experiment.from_dict({"data": {"source": "iris"}, "train": {"epochs": 5},
    ...                             "evaluate": {"folds": 3}})
    >>> cv = cross_validate(exp)
    >>> len(cv.scores)
    3
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.model_selection import train_test_split

from denselab import seeds
from denselab.data.augment import gaussian_copies
from denselab.data.prepare import Dataset, fold_indices, load_dataset
from denselab.errors import DataError
from denselab.models.build import Head, head_for
from denselab.spec import Experiment
from denselab.train.engine import EngineResult, Member, targets


@dataclass
class Summary:
    """mean, sample std (ddof=1), n and the t-based 95 % confidence interval of the mean.

    The interval is clipped to the metric's range (accuracy in [0, 1], MSE ≥ 0): with
    few, spread folds the t-interval can pass a bound no mean can cross.
    """

    mean: float
    std: float
    n: int
    ci95: tuple

    @classmethod
    def of(cls, values, metric: str | None = None) -> "Summary":
        v = np.asarray(values, dtype=float)
        n = len(v)
        mean = float(v.mean()) if n else float("nan")
        std = float(v.std(ddof=1)) if n > 1 else 0.0
        half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
        low, high = METRIC_RANGE.get(metric, (-math.inf, math.inf))
        return cls(mean=mean, std=std, n=n, ci95=(max(mean - half, low), min(mean + half, high)))


METRIC_RANGE = {"accuracy": (0.0, 1.0), "mse": (0.0, math.inf)}


@dataclass
class CVResult:
    """Per-member (fold × seed) scores and histories of one configuration.

    scores: the metric on each member's held-out fold; fold/seed: which member is which.
    """

    metric: str
    scores: np.ndarray
    losses: np.ndarray
    fold: np.ndarray
    seed: np.ndarray
    summary: Summary
    histories: list
    engine: str
    compile_s: float
    run_s: float
    notes: list = field(default_factory=list)


@dataclass
class Holdout:
    """The configuration refit on all training rows and scored once on the test rows."""

    scores: dict
    history: dict
    weights: list
    predictions: np.ndarray
    preprocessor: object
    head: Head
    engine: str
    compile_s: float
    run_s: float


def cross_validate(experiment: Experiment, dataset: Dataset | None = None, *, data=None,
                   engine: str | None = None, progress=None) -> CVResult:
    """k-fold CV (× seeds) of `experiment` on the training rows of `dataset`.

    Args:
        experiment: the spec; `evaluate.folds`, `evaluate.seeds` set the members.
        dataset: prepared arrays (default: loaded from `experiment.data`, or `data`).
        engine: `fleet` or `fit`, overriding `evaluate.engine`.
        progress: optional callback(done_epochs, total_epochs).
    """
    ds = dataset if dataset is not None else load_dataset(experiment.data, experiment.seed, data)
    ev = experiment.evaluate
    head = head_for(ds.task, ds.n_targets, experiment.model, experiment.train)
    members = []
    for s in range(ev.seeds):
        split_seed = seeds.derive(experiment.seed, "folds", s)
        for k, (tr, va) in enumerate(fold_indices(ds.y_train, ev.folds, ev.stratified, ds.task, split_seed)):
            members.append(make_member(experiment, ds, head, tr, ds.x_train[va], ds.y_train[va],
                                       seed=seeds.derive(experiment.seed, "member", s, k),
                                       tag={"fold": k, "seed": s}))
    result = run_engine(experiment, head, members, engine, progress)
    scores = np.array([r.scores[head.metric] for r in result.results])
    return CVResult(
        metric=head.metric, scores=scores,
        losses=np.array([r.scores["loss"] for r in result.results]),
        fold=np.array([m.tag["fold"] for m in members]), seed=np.array([m.tag["seed"] for m in members]),
        summary=Summary.of(scores, head.metric), histories=[r.history for r in result.results],
        engine=result.engine, compile_s=result.compile_s, run_s=result.run_s, notes=result.notes,
    )


def holdout(experiment: Experiment, dataset: Dataset, *, engine: str | None = None, progress=None) -> Holdout:
    """Refit on every training row and score once on the held-out test rows."""
    head = head_for(dataset.task, dataset.n_targets, experiment.model, experiment.train)
    index = np.arange(len(dataset.y_train))
    member = make_member(experiment, dataset, head, index, dataset.x_test, dataset.y_test,
                         seed=seeds.derive(experiment.seed, "final"), tag={})
    result = run_engine(experiment, head, [member], engine, progress)
    r = result.results[0]
    return Holdout(scores=r.scores, history=r.history, weights=r.weights, predictions=r.predictions,
                   preprocessor=member.tag["preprocessor"], head=head, engine=result.engine,
                   compile_s=result.compile_s, run_s=result.run_s)


def make_member(experiment: Experiment, ds: Dataset, head: Head, train_idx, x_eval, y_eval,
                seed: int, tag: dict, hparams: dict | None = None) -> Member:
    """One engine member: fit rows (augmented), optional inner validation, eval rows, all scaled."""
    train = experiment.train
    x_fit, y_fit = ds.x_train[train_idx], ds.y_train[train_idx]
    x_val = y_val = None
    split = train.effective_validation_split
    if split > 0:
        stratify = y_fit if ds.task == "classification" and np.bincount(y_fit).min() >= 2 else None
        try:
            x_fit, x_val, y_fit, y_val = train_test_split(
                x_fit, y_fit, test_size=split, random_state=seeds.derive(seed, "validation"), stratify=stratify)
        except ValueError:  # too few rows of a class for a stratified inner split
            try:
                x_fit, x_val, y_fit, y_val = train_test_split(
                    x_fit, y_fit, test_size=split, random_state=seeds.derive(seed, "validation"))
            except ValueError:  # the split leaves one side empty
                raise DataError(f"train.validation_split: {split} of {len(y_fit)} training rows leaves no "
                                "rows on one side; lower it or add rows") from None
    x_fit, y_fit = gaussian_copies(x_fit, y_fit, train.noise_sigma, train.noise_fraction,
                                   seeds.derive(seed, "noise"))
    pre = ds.preprocessor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        x_fit_s = pre.fit_transform(x_fit).astype(np.float32)

    def transform(x):
        return pre.transform(x).astype(np.float32) if len(x) else x.astype(np.float32)

    return Member(
        x_train=x_fit_s, y_train=targets(head, y_fit),
        x_eval=transform(x_eval), y_eval=targets(head, y_eval),
        x_val=None if x_val is None else transform(x_val),
        y_val=None if y_val is None else targets(head, y_val),
        seed=seed, hparams=dict(hparams or {}), tag={**tag, "preprocessor": pre},
    )


def run_engine(experiment: Experiment, head: Head, members: list, engine: str | None, progress) -> EngineResult:
    """Train `members` on the chosen engine (`auto`: the fleet where it carries the model)."""
    from denselab.train import fit

    choice = engine or experiment.evaluate.engine
    notes = []
    if choice in ("auto", "fleet"):
        try:
            from denselab.train import fleet
        except ImportError:  # pragma: no cover - the fleet ships with the package
            fleet = None
        reason = fleet.unsupported(experiment.model) if fleet else "the fleet is not installed"
        if reason is None:
            started = time.perf_counter()
            result = fleet.train_members(experiment.model, experiment.train, head, members, progress)
            result.notes = notes + result.notes
            if not result.run_s:
                result.run_s = time.perf_counter() - started
            return result
        notes.append(f"fleet does not carry this model ({reason}); trained with model.fit instead")
        warnings.warn(notes[-1], stacklevel=2)
    result = fit.train_members(experiment.model, experiment.train, head, members, progress)
    result.notes = notes + result.notes
    return result
