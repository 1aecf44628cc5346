"""The comparison core: one data set, its fixed splits, named arms → per-member results.

A *plan* is what every comparison in denselab stands on (a run, a search's trials,
every study and analysis, the playground, the estimators):

- one `Dataset` and its *splits*: `evaluate.repeats` fresh k-fold assignments of the
  training rows (`Plan.cv`), or the single split "all training rows → test rows"
  (`Plan.holdout`);
- `evaluate.seeds` initialisation seeds per split, so a member is (split, seed);
- a list of named *arms*: configurations that may differ in anything a spec says
  (depth, widths, activations, optimizer, initializer, dropout, L1/L2, noise) and in
  the share of each split's training rows they see (`Arm.fraction`, for sample-size
  curves).

Every arm gets the same splits and member seeds, so arms' scores are paired. `run`
groups the arms' members by structure (`engine.split_hparams`: members that differ
only in member hyperparameters share one engine call, which the fleet trains in as few
programs as pay), trains each group with one engine call and hands back one
`ArmResult` per arm (with its own head: output activation and loss). The seeds come from the root
seed and the member's (repeat, fold, seed) alone, never from its arm or group, so an
arm's scores do not depend on which other arms share its program.

This is the only place that derives fold and member seeds and builds members, as
scikit-learn's `_fit_and_score` is under every one of its CV utilities.

Example:
    >>> from denselab.spec import Experiment
    >>> exp = Experiment.from_dict({"data": {"source": "iris"}, "train": {"epochs": 3},
    ...                             "evaluate": {"folds": 3}})
    >>> plan = Plan.cv(exp)
    >>> wide = exp.replace(model=exp.model.__class__(units=40))
    >>> [r.name for r in plan.run([Arm("base", exp), Arm("wide", wide)])]  # doctest: +SKIP
    ['base', 'wide']
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats

from denselab import seeds
from denselab.data.augment import gaussian_copies
from denselab.data.prepare import Dataset, fold_indices, load_dataset
from denselab.errors import DataError, SpecError
from denselab.models.build import Head, head_for
from denselab.spec import Experiment
from denselab.train.engine import (EngineResult, Member, MemberResult, apply_hparams, member_head, split_hparams,
                                   targets)


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
        from denselab import metrics

        known = metrics.METRICS.get(metric)
        low, high = known.range if known else (-math.inf, math.inf)
        return cls(mean=mean, std=std, n=n, ci95=(max(mean - half, low), min(mean + half, high)))


@dataclass(frozen=True)
class Split:
    """Training and scored rows of one resample: indices into `x_train`, or the test rows.

    repeat, fold: which fold assignment and which of its folds (`fold` −1: the holdout).
    """

    repeat: int
    fold: int
    train: np.ndarray
    eval: np.ndarray | None  # None: the eval rows are the test rows


@dataclass(frozen=True)
class Arm:
    """One named configuration of a comparison.

    experiment: its spec (the plan's data, splits and root seed rule; the arm's
        `data.scaling`, `model` and `train` are its own).
    params: what distinguishes it, shown as table columns.
    fraction: share of each split's training rows it trains on (nested: a smaller
        share is a subset of a larger one), for sample-size curves.
    """

    name: str
    experiment: Experiment
    params: dict = field(default_factory=dict)
    fraction: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.fraction <= 1.0:
            raise SpecError(f"arm `{self.name}`: fraction {self.fraction} of the training rows; "
                            "expected a share in (0, 1]")


@dataclass
class ArmResult:
    """Per-member (repeat × fold × seed) scores and histories of one arm.

    scores: the primary metric on each member's scored rows; repeat/fold/seed: which
    member is which; members: the engines' `MemberResult`s (predictions, weights).
    """

    name: str
    params: dict
    metric: str
    scores: np.ndarray
    losses: np.ndarray
    repeat: np.ndarray
    fold: np.ndarray
    seed: np.ndarray
    summary: Summary
    histories: list
    engine: str
    compile_s: float
    run_s: float
    notes: list = field(default_factory=list)
    members: list = field(default_factory=list)
    y_eval: list = field(default_factory=list)
    head: Head | None = None
    preprocessors: list = field(default_factory=list)
    experiment: Experiment | None = None
    n_train: float = 0.0

    def values(self, metric: str) -> np.ndarray:
        """Any metric of `denselab.metrics` per member, from the members' predictions."""
        if metric == self.metric:
            return self.scores
        return _member_values(metric, self.head, self.members, self.y_eval)

    @property
    def split_scores(self) -> np.ndarray:
        """The primary metric averaged over seeds within each split, in split order:
        the paired values that tests between arms use (seeds on one split are not
        independent resamples)."""
        keys = sorted(set(zip(self.repeat.tolist(), self.fold.tolist())))
        return np.array([self.scores[(self.repeat == r) & (self.fold == k)].mean() for r, k in keys])


class Plan:
    """One data set's splits and member seeds; `run(arms)` trains and scores arms on them."""

    def __init__(self, experiment: Experiment, dataset: Dataset, splits: list[Split]):
        self.experiment = experiment
        self.dataset = dataset
        self.splits = splits

    @classmethod
    def cv(cls, experiment: Experiment, dataset: Dataset | None = None, *, data=None) -> "Plan":
        """`evaluate.repeats` × `evaluate.folds` splits of the training rows."""
        ds = dataset if dataset is not None else load_dataset(experiment.data, experiment.seed, data)
        ev = experiment.evaluate
        splits = []
        for r in range(ev.repeats):
            folds = fold_indices(ds.y_train, ev.folds, ev.stratified, ds.task,
                                 seeds.derive(experiment.seed, "folds", r))
            splits += [Split(r, k, tr, va) for k, (tr, va) in enumerate(folds)]
        return cls(experiment, ds, splits)

    @classmethod
    def holdout(cls, experiment: Experiment, dataset: Dataset) -> "Plan":
        """One split: every training row trains, the held-out test rows score."""
        return cls(experiment, dataset, [Split(0, -1, np.arange(len(dataset.y_train)), None)])

    @property
    def metric(self) -> str:
        """The primary metric (`evaluate.metric`; `auto`: accuracy or rmse): what tables rank."""
        return self.experiment.evaluate.metric_for(self.dataset.task)

    @property
    def n_seeds(self) -> int:
        return self.experiment.evaluate.seeds

    @property
    def repeats(self) -> int:
        return len({s.repeat for s in self.splits})

    @property
    def folds(self) -> int:
        return len({s.fold for s in self.splits})

    def member_seed(self, split: Split, seed: int) -> int:
        root = self.experiment.seed
        if split.fold < 0:
            return seeds.derive(root, "final") if seed == 0 else seeds.derive(root, "final", seed)
        return seeds.derive(root, "member", split.repeat, split.fold) if seed == 0 else \
            seeds.derive(root, "member", split.repeat, split.fold, "seed", seed)

    def rows(self, split: Split, fraction: float) -> np.ndarray:
        """The split's training rows an arm of `fraction` sees (nested across fractions)."""
        if fraction >= 1.0:
            return split.train
        order = np.random.default_rng(seeds.derive(self.experiment.seed, "rows", split.repeat, split.fold)) \
            .permutation(split.train)
        return np.sort(order[:max(2, int(math.ceil(fraction * len(order))))])

    def eval_rows(self, split: Split):
        ds = self.dataset
        if split.eval is None:
            return ds.x_test, ds.y_test
        return ds.x_train[split.eval], ds.y_train[split.eval]

    def members(self, experiment: Experiment, head: Head, hparams: dict | None = None,
                fraction: float = 1.0, tag: dict | None = None, seeds_per_split: int | None = None,
                dataset: Dataset | None = None) -> list[Member]:
        """Every (split, seed) member of one configuration, in split-then-seed order."""
        ds = dataset or self.dataset
        out = []
        for split in self.splits:
            x_eval, y_eval = self.eval_rows(split)
            for s in range(seeds_per_split or self.n_seeds):
                out.append(make_member(experiment, ds, head, self.rows(split, fraction), x_eval, y_eval,
                                       seed=self.member_seed(split, s), hparams=hparams,
                                       tag={**(tag or {}), "repeat": split.repeat, "fold": split.fold,
                                            "seed": s}))
        return out

    def groups(self, arms: list[Arm]) -> list[list[Arm]]:
        """Arms that train in one engine call: equal structure (`engine.split_hparams`)."""
        return [[arm for arm, _ in items] for _, items in _grouped(arms)]

    def run(self, arms: list[Arm], *, engine: str | None = None, progress=None) -> list[ArmResult]:
        """Train every arm's members, one engine call per group; results in arm order."""
        groups = _grouped(arms)
        by_name = {}
        total = sum(base.train.epochs for base, _ in groups)
        done = 0
        for base, items in groups:
            group = [arm for arm, _ in items]
            ds = self.dataset
            if base.data.scaling != ds.scaling:
                ds = replace(ds, scaling=base.data.scaling)
            head = head_for(ds.task, ds.n_targets, base.model, base.train)
            members = []
            for i, (arm, hp) in enumerate(items):
                members += self.members(base, head, hp, arm.fraction, {"arm": i}, dataset=ds)
            epochs = base.train.epochs
            sub = None if progress is None else \
                (lambda d, t, _o=done, _e=epochs: progress(_o + d * _e / max(t, 1), total))
            result = run_engine(base, head, members, engine, sub)
            done += epochs
            per = len(members) // len(group)
            for j, (arm, hp) in enumerate(items):
                chunk = slice(j * per, (j + 1) * per)
                own = member_head(head, *apply_hparams(base.model, base.train, hp), hp)  # its output and loss
                by_name[arm.name] = _arm_result(arm, own, members[chunk], result.results[chunk], result,
                                                self.metric)
        return [by_name[arm.name] for arm in arms]


def _grouped(arms: list[Arm]) -> list[tuple]:
    """[(structure, [(arm, member hyperparameters)])]: one `split_hparams` per arm."""
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise SpecError(f"arms: names must be unique, got {names}")
    groups: dict[str, tuple] = {}
    for arm in arms:
        base, hp = split_hparams(arm.experiment)
        key = json.dumps([base.to_dict(), sorted(hp)], sort_keys=True, default=str)
        groups.setdefault(key, (base, []))[1].append((arm, hp))
    return list(groups.values())


def _member_values(metric: str, head: Head, results: list, y_eval: list) -> np.ndarray:
    from denselab import metrics
    from denselab.train.engine import true_codes

    if head.task == "classification":
        return np.array([metrics.score(metric, true_codes(head, y), r.predictions, head.n_outputs
                                       if not head.binary else 2) for r, y in zip(results, y_eval)])
    return np.array([metrics.score(metric, np.asarray(y).reshape(-1), np.asarray(r.predictions).reshape(-1))
                     for r, y in zip(results, y_eval)])


def _arm_result(arm: Arm, head: Head, members: list, results: list, engine: EngineResult,
                metric: str) -> ArmResult:
    y_eval = [m.y_eval for m in members]
    scores = np.array([r.scores[metric] for r in results], dtype=float) if metric == head.metric else \
        _member_values(metric, head, results, y_eval)
    return ArmResult(
        name=arm.name, params=dict(arm.params), metric=metric, scores=scores,
        losses=np.array([r.scores["loss"] for r in results], dtype=float),
        repeat=np.array([m.tag["repeat"] for m in members]), fold=np.array([m.tag["fold"] for m in members]),
        seed=np.array([m.tag["seed"] for m in members]), summary=Summary.of(scores, metric),
        histories=[r.history for r in results], engine=engine.engine, compile_s=engine.compile_s,
        run_s=engine.run_s, notes=list(engine.notes), members=list(results),
        y_eval=y_eval, head=head,
        preprocessors=[m.tag["preprocessor"] for m in members], experiment=arm.experiment,
        n_train=float(np.mean([len(m.y_train) for m in members])),
    )


def make_member(experiment: Experiment, ds: Dataset, head: Head, train_idx, x_eval, y_eval,
                seed: int, tag: dict, hparams: dict | None = None) -> Member:
    """One engine member: fit rows (augmented), optional inner validation, eval rows, all scaled.

    Callers outside this module go through `Plan.members`, which picks the rows and seeds.
    """
    from sklearn.model_selection import train_test_split

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
    sigma = train.noise_sigma
    if train.noise_units == "std" and sigma > 0 and len(x_fit) > 1:
        sigma = sigma * x_fit.std(axis=0, ddof=1)  # per feature: σ in units of each column's spread
    x_fit, y_fit = gaussian_copies(x_fit, y_fit, sigma, train.noise_fraction, seeds.derive(seed, "noise"))
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
        from denselab.train import fleet

        reason = fleet.unsupported(experiment.model)
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


__all__ = ["Plan", "Arm", "ArmResult", "Split", "Summary", "make_member", "run_engine", "MemberResult"]
