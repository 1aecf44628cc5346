"""The one comparison table: arms (networks and baselines) scored on a plan's splits.

Every comparison denselab shows (a run, a search, every study and analysis) is this
table, built here and nowhere else, with the same columns:

    name, kind (network | baseline), metric, mean, std, n, ci_low, ci_high,
    diff_vs_best, p_vs_best, p_holm, p_better, p_equivalent, p_worse,
    tied_with_best, recommended, n_params, diverged, collapsed, + the arm's parameters

Rules (stated on the pages that show the table):
- mean, std (ddof 1), n and the t-interval are over the members (splits × seeds);
- tests pair the arms split by split, each arm's seeds averaged first (seeds on one
  split are not independent resamples): the corrected repeated k-fold t-test
  (Bouckaert & Frank; Nadeau & Bengio's variance correction) against the best arm,
  Holm-adjusted over the arms compared, and the Bayesian correlated t-test with a
  region of practical equivalence `evaluate.rope` (`denselab.stats`);
- ties: an arm whose mean equals the best's, or whose Holm-adjusted p ≥ 0.05, is tied
  with it; the *recommended* arm is the network with the fewest parameters among the
  networks tied with the best network;
- health (`report.diagnosis.health`): a member *diverged* when its loss or score is not
  finite; it *collapsed* when its training loss ended no lower than it began, or it
  scored no better than chance (predicting its training rows' class shares, or mean) on
  its scored rows.

Example:
    >>> from denselab.spec import Experiment
    >>> from denselab.train.plan import Arm, Plan
    >>> exp = Experiment.from_dict({"data": {"source": "iris"}, "train": {"epochs": 3},
    ...                             "evaluate": {"folds": 3, "baselines": "none"}})
    >>> plan = Plan.cv(exp)
    >>> table(plan, plan.run([Arm("net", exp)])).columns[:4].tolist()  # doctest: +SKIP
    ['name', 'kind', 'metric', 'mean']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from denselab import metrics, stats
from denselab.train.plan import ArmResult, Plan, Summary

MANY_CLASSES = 20  # above this, the default baselines leave out gradient boosting (see score_baselines)
COLUMNS = ("name", "kind", "metric", "mean", "std", "n", "ci_low", "ci_high", "diff_vs_best", "p_vs_best",
           "p_holm", "p_better", "p_equivalent", "p_worse", "tied_with_best", "recommended", "n_params",
           "diverged", "collapsed")


@dataclass
class BaselineResult:
    """A scikit-learn baseline scored on a plan's splits (one fit per split)."""

    name: str
    scores: dict  # metric → per-split values
    notes: list = field(default_factory=list)

    def values(self, metric: str) -> np.ndarray:
        return np.asarray(self.scores[metric], dtype=float)


def score_baselines(plan: Plan, choice=None) -> list[BaselineResult]:
    """The baselines of `evaluate.baselines` (or `choice`) on the plan's splits, same preprocessing."""
    from denselab import baselines

    choice = plan.experiment.evaluate.baselines if choice is None else choice
    many = plan.dataset.task == "classification" and plan.dataset.n_targets > MANY_CLASSES
    note = []
    if choice == "default" and many:  # one tree per class per boosting round: minutes for 1 000 classes
        choice = [b for b in baselines.names("classification") if b != "hist_gradient_boosting"]
        note = [f"hist_gradient_boosting is left out of the default baselines above {MANY_CLASSES} classes "
                f"(this table has {plan.dataset.n_targets}); list it in evaluate.baselines to include it"]
    estimators = baselines.resolve(plan.dataset.task, choice, seed=plan.experiment.seed)
    if not estimators:
        return []
    if plan.splits[0].eval is None:  # the holdout: train on every training row, score the test rows
        scored = baselines.score_on_test(estimators, plan.dataset, plan.dataset.task)
        return [BaselineResult(name, {m: [v] for m, v in r["scores"].items()}, note + r["notes"])
                for name, r in scored.items()]
    folds = [(s.train, s.eval) for s in plan.splits]
    scored = baselines.score_on_folds(estimators, plan.dataset, folds, plan.dataset.task)
    return [BaselineResult(name, r["scores"], note + r["notes"]) for name, r in scored.items()]


@dataclass
class Entry:
    """One row to compare: a member's scores (in `keys` order: (repeat, fold, seed)) and its facts."""

    name: str
    kind: str
    values: np.ndarray
    keys: list
    params: dict = field(default_factory=dict)
    n_params: int | None = None
    diverged: int = 0
    collapsed: int = 0

    @property
    def per_split(self) -> np.ndarray:
        """Mean over seeds within each (repeat, fold), in split order: the paired values."""
        splits = sorted({(r, k) for r, k, _ in self.keys})
        out = []
        for split in splits:
            v = self.values[[i for i, (r, k, _) in enumerate(self.keys) if (r, k) == split]]
            out.append(np.nanmean(v) if np.isfinite(v).any() else math.nan)
        return np.array(out)


def network_entry(plan: Plan, r: ArmResult, metric: str) -> Entry:
    diverged, collapsed = health(plan, r)
    return Entry(r.name, "network", r.values(metric), list(zip(r.repeat.tolist(), r.fold.tolist(),
                                                               r.seed.tolist())),
                 dict(r.params), _n_params(r), diverged, collapsed)


def baseline_entry(plan: Plan, b: BaselineResult, metric: str) -> Entry:
    return Entry(b.name, "baseline", b.values(metric), [(s.repeat, s.fold, 0) for s in plan.splits])


def table(plan: Plan, networks: list[ArmResult], baselines: list[BaselineResult] | None = None,
          metric: str | None = None) -> pd.DataFrame:
    """The comparison table of `networks` and `baselines` on `plan`'s splits (see the module doc)."""
    metric = metric or plan.metric
    entries = [network_entry(plan, r, metric) for r in networks] + \
        [baseline_entry(plan, b, metric) for b in baselines or []]
    return build(entries, metric, *_sizes(plan), plan.experiment.evaluate.rope)


def build(entries: list[Entry], metric: str, n_train: float, n_test: float, rope: float) -> pd.DataFrame:
    """The table of `entries` (paired on the same splits); rows ranked best first, the simpler
    network first among exact ties."""
    greater = metrics.METRICS[metric].greater_is_better
    rows = []
    for e in entries:
        finite = e.values[np.isfinite(e.values)]
        s = Summary.of(finite if len(finite) else e.values, metric)
        rows.append({"name": e.name, "kind": e.kind, "metric": metric, "mean": s.mean, "std": s.std,
                     "n": int(len(e.values)), "ci_low": s.ci95[0], "ci_high": s.ci95[1], "n_params": e.n_params,
                     "diverged": e.diverged, "collapsed": e.collapsed, **e.params})
    paired = {e.name: np.nan_to_num(e.per_split, nan=_worst(metric)) for e in entries}
    tests = _versus_best(paired, greater, n_train, n_test, rope)
    nets = [e.name for e in entries if e.kind == "network"]
    tied = _tied(paired, greater, n_train, n_test)
    net_tied = _tied({k: paired[k] for k in nets}, greater, n_train, n_test)
    n_params = {e.name: e.n_params or 0 for e in entries}
    recommended = stats.simplest_of(net_tied, n_params) if net_tied else None
    untested = {"diff_vs_best": math.nan, "p_vs_best": math.nan, "p_holm": math.nan, "p_better": math.nan,
                "p_equivalent": math.nan, "p_worse": math.nan}
    for row in rows:
        row.update(tests.get(row["name"], {**untested, "diff_vs_best": 0.0 if len(rows) == 1 else math.nan}))
        row["tied_with_best"] = row["name"] in tied
        row["recommended"] = row["name"] == recommended
    frame = pd.DataFrame(rows, columns=list(COLUMNS)) if not rows else pd.DataFrame(rows)
    if rows:
        order = frame["mean"].fillna(_worst(metric)) * (-1 if greater else 1)
        frame = frame.assign(_o=order, _p=frame["n_params"].astype(float).fillna(math.inf))
        frame = frame.sort_values(["_o", "_p"], kind="stable").drop(columns=["_o", "_p"]).reset_index(drop=True)
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[list(COLUMNS) + extra]


def _versus_best(paired: dict, greater: bool, n_train: float, n_test: float, rope: float) -> dict:
    if len(paired) < 2 or len(next(iter(paired.values()))) < 2:
        return {}
    return stats.versus_best(paired, greater, n_train, n_test, rope)


def best_versus_baselines(plan: Plan, members: pd.DataFrame, by: str, metric: str = "accuracy") -> pd.DataFrame:
    """The best arm among `members` beside the baselines fitted on `plan`'s splits, with the verdict.

    For studies that keep per-member rows (`repeat`, `fold`, `seed`, `metric`, and the arm in
    column `by`) of networks trained on `plan`'s splits.
    """
    means = members.groupby(by, sort=False)[metric].mean()
    top = means.idxmax() if metrics.METRICS[metric].greater_is_better else means.idxmin()
    rows = members[members[by] == top].sort_values(["repeat", "fold", "seed"])
    entries = [Entry(f"best: {top}", "network", rows[metric].to_numpy(float),
                     list(zip(rows["repeat"], rows["fold"], rows["seed"])))]
    entries += [baseline_entry(plan, b, metric) for b in score_baselines(plan)]
    table = build(entries, metric, *_sizes(plan), plan.experiment.evaluate.rope)
    return table.assign(verdict=verdict(table))


def verdict(frame: pd.DataFrame) -> str:
    """One sentence: does the best network beat the best baseline, tie it, or lose to it?"""
    nets, base = frame[frame["kind"] == "network"], frame[frame["kind"] == "baseline"]
    if nets.empty or base.empty:
        return ""
    metric = frame["metric"].iloc[0]
    n, b = nets.iloc[0], base.iloc[0]
    best = frame.iloc[0]
    pair = (f"the best network `{n['name']}` ({metric} {n['mean']:.4f}) and the best baseline "
            f"`{b['name']}` ({b['mean']:.4f})")
    other = b if best["kind"] == "network" else n  # the one tested against the best
    p = f"Holm-adjusted p = {other['p_holm']:.3g}"
    if other["tied_with_best"]:
        splits = int(b["n"])  # a baseline has one score per split
        weak = (f" With only {splits} paired splits the test detects only large differences; more folds or "
                "`evaluate.repeats` make it sharper." if splits < 5 else "")
        return f"No detectable difference between {pair}: they are tied ({p}).{weak}"
    if best["kind"] == "network":
        return f"The best network beats the best baseline: {pair} ({p})."
    return f"The best network loses to the best baseline: {pair} ({p})."


def health(plan: Plan, r: ArmResult) -> tuple[int, int]:
    """(diverged, collapsed) member counts of one arm: `report.diagnosis.health`'s rules, with
    each member's chance level = the primary metric of predicting its split's training-row class
    shares (or mean) on its scored rows."""
    from denselab.report import diagnosis

    metric = metrics.METRICS[r.metric]
    by_split = {(s.repeat, s.fold): s for s in plan.splits}
    chance = {}
    for key in set(zip(r.repeat.tolist(), r.fold.tolist())):
        chance[key] = _chance(plan, by_split[key], r.metric)
    h = diagnosis.health(r.histories, r.scores, [chance[k] for k in zip(r.repeat.tolist(), r.fold.tolist())],
                         metric.greater_is_better)
    return h["diverged"], h["failed"] - h["diverged"]


def _chance(plan: Plan, split, metric: str) -> float:
    ds = plan.dataset
    y_fit = ds.y_train[split.train]
    y_eval = ds.y_test if split.eval is None else ds.y_train[split.eval]
    if ds.task == "classification":
        shares = np.bincount(y_fit, minlength=ds.n_targets) / len(y_fit)
        return metrics.score(metric, y_eval, np.tile(shares, (len(y_eval), 1)), ds.n_targets)
    return metrics.score(metric, y_eval, np.full(np.shape(y_eval), np.mean(y_fit, axis=0)))


def _n_params(r: ArmResult) -> int:
    return int(sum(np.asarray(w).size for w in r.members[0].weights)) if r.members else 0


def _sizes(plan: Plan) -> tuple[float, float]:
    n_train = float(np.mean([len(s.train) for s in plan.splits]))
    n_test = float(np.mean([len(s.eval) if s.eval is not None else len(plan.dataset.y_test) for s in plan.splits]))
    return n_train, max(n_test, 1.0)


def _worst(metric: str) -> float:
    low, high = metrics.METRICS[metric].range
    worst = low if metrics.METRICS[metric].greater_is_better else high
    return worst if math.isfinite(worst) else (-1e12 if metrics.METRICS[metric].greater_is_better else 1e12)


def _tied(scores: dict, greater: bool, n_train: float, n_test: float) -> list:
    """The arms tied with the best (exact or Holm-adjusted p ≥ 0.05): `stats.ties`' rule."""
    if not scores:
        return []
    if len(scores) < 2 or len(next(iter(scores.values()))) < 2:
        return list(scores)[:1] if len(scores) < 2 else [stats.best_name(scores, greater)]
    return stats.ties(scores, greater, n_train, n_test).tied


__all__ = ["table", "build", "Entry", "verdict", "health", "score_baselines", "BaselineResult", "COLUMNS"]
