"""A run's honest numbers: every task metric, baselines on the same folds, the verdict, notes.

`workflow.summarize` adds what this returns to `results.json`, and the run's page
(`report/experiment.py`) shows it:

- every metric of the task (`denselab.metrics`) for the CV members (mean, std, n, 95 %
  CI over members) and for the test rows (value, n, interval);
- baselines (`denselab.baselines`) scored on the plan's very splits, and the
  comparison of the network with them on the primary metric (`evaluate.metric`):
  corrected t-test, Holm, Bayesian probabilities (`denselab.stats`), and whether the
  network beats, ties or loses to the best baseline;
- members that failed to train (`report.diagnosis.health`);
- notes on edge data: a constant target, a fold whose rows hold one class, classes
  rarer than the fold count.

Example:
    >>> import denselab
    >>> r = denselab.run("iris", overrides=["train.epochs=3", "evaluate.folds=3"], report=False)  # doctest: +SKIP
    >>> r.results["verdict"]["outcome"]                                                             # doctest: +SKIP
    'ties with'
"""

from __future__ import annotations

import math

import numpy as np

from denselab import baselines, metrics, seeds, stats
from denselab.train.engine import true_codes

NETWORK = "network"
CHANCE = {"classification": "majority", "regression": "mean"}  # the chance-level baseline of each task


def summary(values, name: str) -> dict:
    """mean, sample std, n and the t-based 95 % CI over the finite values, clipped to the metric's range."""
    from denselab.train.evaluate import Summary

    v = np.asarray(values, dtype=float)
    s = Summary.of(v[np.isfinite(v)])
    low, high = metrics.METRICS[name].range
    return {"mean": s.mean, "std": s.std, "n": s.n, "ci95": [max(s.ci95[0], low), min(s.ci95[1], high)]}


def truth(head, y) -> np.ndarray:
    """Class codes or target values from the engines' target arrays (one-hot, 0/1 column, values)."""
    if head.task == "classification":
        return true_codes(head, y)
    y = np.asarray(y, dtype=float)
    return y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y


def score_run(exp, ds, cv, final) -> dict:
    """The run's metrics, baselines, comparison, verdict, health and notes as plain data.

    Args:
        exp: the Experiment; `evaluate.metric`, `rope`, `baselines` are read here.
        ds: the run's Dataset.
        cv: the CV `ArmResult` (per-member predictions on the plan's splits).
        final: the `Holdout` (refit on every training row, predictions on the test rows).
    """
    from denselab.report import diagnosis
    from denselab.train.plan import Plan

    task, ev = ds.task, exp.evaluate
    k = ds.n_targets if task == "classification" else None
    primary = ev.metric_for(task)
    greater = metrics.METRICS[primary].greater_is_better
    splits = Plan.cv(exp, ds).splits  # the same splits the network was scored on (the plan derives them)
    folds = [(s.train, s.eval) for s in splits]
    split_of = {(s.repeat, s.fold): i for i, s in enumerate(splits)}
    member_split = [split_of[(int(r), int(f))] for r, f in zip(cv.repeat, cv.fold)]

    per_member = [metrics.score_all(task, truth(cv.head, y), m.predictions, k)
                  for m, y in zip(cv.members, cv.y_eval)]
    cv_metrics = {name: summary([m[name] for m in per_member], name) for name in metrics.names(task)}

    chosen = baselines.resolve(task, ev.baselines, seed=seeds.derive(exp.seed, "baselines"))
    chance_name = CHANCE[task]
    scoring = dict(chosen) if chance_name in chosen else \
        {**chosen, chance_name: baselines.resolve(task, [chance_name])[chance_name]}
    on_folds = baselines.score_on_folds(scoring, ds, folds, task)
    chance_scores = [on_folds[chance_name]["scores"][primary][i] for i in member_split]
    member_primary = [m[primary] for m in per_member]
    h = diagnosis.health(cv.histories, member_primary, chance_scores, greater)

    # the network's paired values: its members' primary metric averaged over seeds within each split
    net_split = []
    for j in range(len(splits)):
        finite = [v for v, i in zip(member_primary, member_split) if i == j and math.isfinite(v)]
        net_split.append(float(np.mean(finite)) if finite else math.nan)  # a split whose members all diverged
    scores = {NETWORK: net_split, **{name: on_folds[name]["scores"][primary] for name in chosen}}
    n_train = float(np.mean([len(s.train) for s in splits]))
    n_test = float(np.mean([len(s.eval) for s in splits]))
    results = {
        "primary_metric": primary,
        "greater_is_better": greater,
        "rope": ev.rope,
        "cv_metrics": cv_metrics,
        "test_metrics": _test_metrics(task, ds, final, k, seeds.derive(exp.seed, "test_interval")),
        "baselines": {name: {"cv": {m: summary(v, m) for m, v in on_folds[name]["scores"].items()},
                             "folds": on_folds[name]["scores"][primary]} for name in chosen},
        "comparison": comparison(scores, primary, greater, n_train, n_test, ev.rope),
        "verdict": verdict(scores, primary, greater, n_train, n_test, ev.rope) if chosen else None,
        "health": {key: v for key, v in h.items() if key != "members"},
        "notes": edge_notes(ds, splits, ev.folds) + [n for name in scoring for n in on_folds[name]["notes"]],
    }
    if ds.y_test is not None and len(ds.y_test) and chosen:
        on_test = baselines.score_on_test(chosen, ds, task)
        for name in chosen:
            results["baselines"][name]["test"] = on_test[name]["scores"]
            results["notes"] += [n for n in on_test[name]["notes"] if n not in results["notes"]]
    return results


def _test_metrics(task, ds, final, k, seed) -> dict:
    if not len(ds.y_test):
        return {}
    y = ds.y_test if task == "classification" else truth(final.head, ds.y_test)
    out = {}
    for name in metrics.names(task):
        low, high = metrics.test_interval(name, y, final.predictions, seed, k)
        out[name] = {"value": metrics.score(name, y, final.predictions, k), "n": int(len(y)), "ci95": [low, high],
                     "interval": "wilson" if name == "accuracy" else "bootstrap"}
    return out


def comparison(scores: dict, metric: str, greater: bool, n_train: float, n_test: float, rope: float) -> list:
    """Rows of the network and its baselines on the primary metric, best first (the table contract's columns)."""
    tests = stats.versus_best(scores, greater, n_train, n_test, rope)
    rows = []
    for name, values in scores.items():
        s = summary(values, metric)
        rows.append({"name": name, "kind": "network" if name == NETWORK else "baseline", "metric": metric,
                     "mean": s["mean"], "std": s["std"], "n": s["n"], "ci_low": s["ci95"][0],
                     "ci_high": s["ci95"][1], **tests[name]})
    sign = -1.0 if greater else 1.0
    return sorted(rows, key=lambda r: (sign * r["mean"] if math.isfinite(r["mean"]) else math.inf))


def verdict(scores: dict, metric: str, greater: bool, n_train: float, n_test: float, rope: float) -> dict:
    """Does the network beat the best baseline? outcome `beats`, `ties with` or `loses to`, with its numbers.

    Significant means the corrected t-test's p < `stats.ALPHA` on the paired split
    scores; anything else is a tie ("no detectable difference"), whatever the means say.
    """
    base = {name: v for name, v in scores.items() if name != NETWORK}
    best = stats.best_name(base, greater)
    net, ref = np.asarray(scores[NETWORK], dtype=float), np.asarray(base[best], dtype=float)
    keep = np.isfinite(net) & np.isfinite(ref)
    out = {"metric": metric, "best_baseline": best, "network_mean": float(np.nanmean(net)) if keep.any() else math.nan,
           "baseline_mean": float(np.nanmean(ref)), "n": int(keep.sum()), "alpha": stats.ALPHA, "rope": rope}
    if keep.sum() < 2:
        return {**out, "outcome": "cannot be compared with", "p": math.nan, "p_better": math.nan,
                "p_equivalent": math.nan, "p_worse": math.nan}
    t = stats.corrected_ttest(net[keep], ref[keep], n_train, n_test)
    b = stats.bayesian_ttest(net[keep], ref[keep], rope, n_train, n_test, greater)
    better = t.mean_diff > 0 if greater else t.mean_diff < 0
    outcome = "ties with" if not t.p < stats.ALPHA else "beats" if better else "loses to"
    return {**out, "outcome": outcome, "diff": t.mean_diff, "p": t.p, "p_better": b.p_better,
            "p_equivalent": b.p_equivalent, "p_worse": b.p_worse}


def edge_notes(ds, splits, folds: int) -> list:
    """Plain-words notes on data whose scores need a caveat (a list of strings, possibly empty)."""
    notes = []
    if ds.task == "regression":
        y = np.asarray(ds.y_train, dtype=float)
        if len(y) and np.all(y == y.flat[0]):
            notes.append(f"The target `{ds.target}` is constant ({y.flat[0]:g}) in the training rows: every model "
                         "predicts it exactly, R² is undefined, and no score here says anything about the features.")
        return notes
    counts = np.bincount(ds.y_train, minlength=len(ds.classes))
    rare = [f"`{ds.classes[i]}` ({c})" for i, c in enumerate(counts) if c < folds]
    if rare:
        notes.append(f"{len(rare)} class(es) have fewer training rows than the {folds} folds: {', '.join(rare)}. "
                     "Some folds score without them, so their per-fold recall is undefined and a fold's "
                     "balanced accuracy and macro F1 cover fewer classes.")
    single = [s for s in splits if len(np.unique(ds.y_train[s.eval])) < 2 or len(np.unique(ds.y_train[s.train])) < 2]
    if single:
        notes.append(f"{len(single)} of {len(splits)} folds hold a single class in their training or held-out "
                     "rows: their accuracy is that class's recall alone, and a baseline fitted on one class "
                     "predicts it everywhere.")
    if len(ds.y_test) and len(np.unique(ds.y_test)) < len(ds.classes):
        missing = sorted(set(range(len(ds.classes))) - set(np.unique(ds.y_test).tolist()))
        notes.append(f"The test rows lack class(es) {', '.join(f'`{ds.classes[i]}`' for i in missing)}: the test "
                     "score says nothing about them.")
    return notes


__all__ = ["score_run", "summary", "truth", "comparison", "verdict", "edge_notes", "NETWORK"]
