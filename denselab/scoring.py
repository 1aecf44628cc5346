"""A run's honest numbers: every task metric, baselines on the same folds, the verdict, notes.

`workflow.summarize` adds what this returns to `results.json`, and the run's page
(`report/experiment.py`) shows it:

- every metric of the task (`denselab.metrics`) for the CV members (mean, std, n, 95 %
  CI over members) and for the test rows (value, n, interval);
- the comparison table of the network and its baselines on the plan's very splits
  (`denselab.comparison`, the one table builder) and its one-sentence verdict: does
  the network beat, tie with or lose to the best baseline;
- members that failed to train (`report.diagnosis.health`);
- notes on edge data: a constant target, a fold whose rows hold one class, classes
  rarer than the fold count.

Example:
    >>> import denselab
    >>> r = denselab.run("iris", overrides=["train.epochs=3", "evaluate.folds=3"], report=False)  # doctest: +SKIP
    >>> sorted(r.results["cv"]["metrics"])                                                          # doctest: +SKIP
    ['accuracy', 'balanced_accuracy', 'f1_macro', 'log_loss']
"""

from __future__ import annotations

import numpy as np

from denselab import baselines, metrics, seeds
from denselab.train.engine import true_codes

CHANCE = {"classification": "majority", "regression": "mean"}  # the chance-level baseline of each task


def summary(values, name: str) -> dict:
    """mean, sample std, n and the t-based 95 % CI (clipped to the metric's range) over the finite values."""
    from denselab.train.plan import Summary

    v = np.asarray(values, dtype=float)
    s = Summary.of(v[np.isfinite(v)], name)
    return {"mean": s.mean, "std": s.std, "n": s.n, "ci95": list(s.ci95)}


def truth(head, y) -> np.ndarray:
    """Class codes or target values from the engines' target arrays (one-hot, 0/1 column, values)."""
    if head.task == "classification":
        return true_codes(head, y)
    y = np.asarray(y, dtype=float)
    return y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y


def score_run(exp, ds, cv, final) -> dict:
    """The run's metrics, comparison with its baselines, verdict, health and notes as plain data.

    Args:
        exp: the Experiment; `evaluate.metric`, `rope`, `baselines` are read here.
        ds: the run's Dataset.
        cv: the CV `ArmResult` (per-member predictions on the plan's splits).
        final: the `Holdout` (refit on every training row, predictions on the test rows).
    """
    from denselab import comparison
    from denselab.report import diagnosis
    from denselab.train.plan import Plan

    task = ds.task
    k = ds.n_targets if task == "classification" else None
    plan = Plan.cv(exp, ds)  # the same splits the network was scored on (the plan derives them)
    primary = plan.metric
    greater = metrics.METRICS[primary].greater_is_better
    folds = [(s.train, s.eval) for s in plan.splits]
    split_of = {(s.repeat, s.fold): i for i, s in enumerate(plan.splits)}
    member_split = [split_of[(int(r), int(f))] for r, f in zip(cv.repeat, cv.fold)]

    base = comparison.score_baselines(plan)
    frame = comparison.table(plan, [cv], base)
    # the chance-level model (majority class / mean) on every split, for the health rule
    chance_name = CHANCE[task]
    chance = next((b.scores for b in base if b.name == chance_name), None) or baselines.score_on_folds(
        baselines.resolve(task, [chance_name]), ds, folds, task)[chance_name]["scores"]
    h = diagnosis.health(cv.histories, cv.values(primary), [chance[primary][i] for i in member_split], greater)
    results = {
        "primary_metric": primary,
        "greater_is_better": greater,
        "rope": exp.evaluate.rope,
        "cv_metrics": {name: summary(cv.values(name), name) for name in metrics.names(task)},
        "test_metrics": _test_metrics(task, ds, final, k, seeds.derive(exp.seed, "test_interval")),
        "baselines": {b.name: {"cv": {m: summary(v, m) for m, v in b.scores.items()}} for b in base},
        "comparison": frame.to_dict(orient="records"),
        "verdict": comparison.verdict(frame),
        "health": {key: v for key, v in h.items() if key != "members"},
        "notes": list(dict.fromkeys(edge_notes(ds, plan.splits, exp.evaluate.folds) + [n for b in base for n in b.notes])),
    }
    if len(ds.y_test) and base:
        scored_on_folds = {b.name for b in base}  # the same set (the default drops some for many classes)
        estimators = {name: est for name, est in baselines.resolve(task, exp.evaluate.baselines, seed=exp.seed).items()
                      if name in scored_on_folds}
        for name, scored in baselines.score_on_test(estimators, ds, task).items():
            results["baselines"][name]["test"] = scored["scores"]
            results["notes"] += [n for n in scored["notes"] if n not in results["notes"]]
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


__all__ = ["score_run", "summary", "truth", "edge_notes"]
