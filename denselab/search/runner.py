"""`search`: run the loop (`loop.py`) until the study has its trials, refit the best, report.

The loop trains the asked trials as arms of the study's plan, one engine call per
structure group (`engine.split_hparams`), on the same folds and member seeds for every
trial, so scores are paired. Many workers share one study (`worker.py`, local worker
processes for `search(workers=K)`); workers never write files. The test rows are used
once, to score the best configuration refit on all training rows.

Owns: `SearchResult`, the refit of the best configuration (`denselab_test`), the
results.json contract of a search, and its comparison table: the top distinct trials and
the baselines on the study's folds, through `comparison.build` (the one table builder).
Storage and outages: `store.py`; the space and samplers: `space.py`.

Example:
    >>> from denselab.search import search                                  # doctest: +SKIP
    >>> r = search("iris-search", trials=4, storage="sqlite:///demo.db")      # doctest: +SKIP
    >>> r.best["params"], r.best["cv"]["mean"], r.best["test"]["accuracy"]    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from denselab import comparison
from denselab.errors import DenselabError, SpecError
from denselab.report.notebook import ReportView
from denselab.search import recovery, store
from denselab.search.loop import (TARGET_ATTR, Ctx, decoded, loop, open_search, raw_spec, show, wanted_trials)
from denselab.search.space import Space, parse
from denselab.train.evaluate import holdout
from denselab.workflow import manifest

TEST_ATTR = "denselab_test"


@dataclass(repr=False)  # ReportView's one-line repr, not the whole study
class SearchResult(ReportView):
    """What `search` produced; `results` is what results.json holds.

    In a notebook it shows the best configuration, the comparison table and the
    optimisation history; `table(name)` (`best`, `comparison`, `trials`) and
    `figure(name)` give the report's tables (DataFrames) and figures.
    """

    space: Space
    study: object
    best: dict
    results: dict
    storage: str  # masked
    new_trials: int = 0
    engine_calls: int = 0
    out: Path | None = None

    _shown_tables = ("best", "comparison")

    def _compose(self):
        from denselab.report.search_report import compose

        return compose(self.results)

    def _title(self) -> str:
        return f"denselab search · {self.results['name']}"

    def _headline(self) -> list[str]:
        b, t, metric = self.best, self.results["trials"], self.results["metric"]
        test = f"; test {metric} {b['test'][metric]:.4f} on {b['test']['n']} rows" if b.get("test") else ""
        return [f"best trial {b['trial']}: CV {metric} {b['cv']['mean']:.4f} ± {b['cv']['std']:.4f}{test}",
                f"{t['complete']} of {t['wanted']} trials complete in {self.storage}"]


def search(spec, trials: int | None = None, *, storage: str | None = None, out=None,
           overrides: list[str] | None = None, engine: str | None = None, report: bool = True,
           log: Callable[[str], None] | None = None, workers: int = 1) -> SearchResult:
    """Search the spec's space until `trials` trials are COMPLETE; refit and test the best.

    Args:
        spec: a YAML spec path, a bundled example name, or the raw dict (with searched
            fields inline and/or a `search:` section; see `denselab.search.space`).
        trials: finished trials wanted in the study in total (default `search.trials`);
            a re-run tops up to this number and never redoes a finished trial. Fewer
            finish when configurations fail for good (`results["trials"]`).
        storage: an SQLAlchemy URL (default `sqlite:///denselab.db` here); the Optuna
            study is named after the spec's `name`.
        out: report folder (default `runs/<name>-search-<timestamp>/`); must not exist.
        overrides: `["train.epochs=5", "search.sampler=random", ...]` applied to the spec.
        engine: `fleet` or `fit`, overriding `evaluate.engine`.
        report: write report.html, results.json and CSVs (default True).
        log: callback for one-line progress messages (default: silent).
        workers: processes on this machine (default 1); the extra ones are `worker.work`
            in child processes. Workers on other machines join with `denselab worker`.
    """
    from denselab.search import worker

    quiet = log is None
    log = log or (lambda message: None)
    raw = raw_spec(spec, overrides)
    space = parse(raw)
    wanted = wanted_trials(space, trials, log)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SpecError(f"--workers: got `{workers}`; expected a positive integer, e.g. --workers 2")
    out_dir = None
    if report:
        from datetime import datetime

        from denselab.report.html import check_out_dir

        out_dir = Path(out) if out else Path("runs") / f"{space.base.name}-search-{datetime.now():%Y%m%d-%H%M%S}"
        check_out_dir(out_dir)
    ctx = open_search(space, storage, engine, log)
    ctx.study.set_user_attr(TARGET_ATTR, wanted)
    with worker.local_workers(raw, ctx.url, engine, workers - 1, wanted, None if quiet else log):
        loop(ctx, lambda: wanted)
    best = _best(ctx, ctx.metric)
    results = summarize(ctx, raw, ctx.metric, ctx.direction, wanted, best)
    result = SearchResult(space=space, study=ctx.study, best=results["best"], results=results,
                          storage=store.mask_url(ctx.url), new_trials=ctx.new, engine_calls=ctx.calls)
    if report:
        from denselab.report.search_report import write

        result.out = write(result, out_dir)
    return result


# --- study, best, results ------------------------------------------------------

def _best(ctx: Ctx, metric: str) -> dict:
    from optuna.trial import TrialState

    done = ctx.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        raise DenselabError(f"search: study `{ctx.space.base.name}` has no finished trial")
    best = ctx.study.best_trial
    params = dict(best.params)
    exp = ctx.space.experiment(params)
    ds = ctx.plan.dataset
    test = None
    cached = ctx.study.user_attrs.get(TEST_ATTR)
    if len(ds.y_test):
        if isinstance(cached, dict) and cached.get("trial") == best.number:
            test = cached["scores"]
        else:
            if exp.data.scaling != ds.scaling:
                ds = dataclasses.replace(ds, scaling=exp.data.scaling)
            final = holdout(exp, ds, engine=ctx.engine)
            test = {**{k: float(v) for k, v in final.scores.items()}, "n": int(len(ds.y_test))}
            ctx.study.set_user_attr(TEST_ATTR, {"trial": best.number, "scores": test})
    cv = best.user_attrs["cv"]
    return {"trial": best.number, "params": decoded(ctx.space, params), "cv": cv, "test": test,
            "history": best.user_attrs.get("history"), "spec_yaml": exp.to_yaml()}


def summarize(ctx: Ctx, raw: dict, metric: str, direction: str, wanted: int, best: dict) -> dict:
    """The results.json contract: best {params, cv, test}, tables {trials, comparison}, manifest."""
    from optuna.trial import TrialState

    import yaml

    space, study = ctx.space, ctx.study
    names = _short_names([p.path for p in space.params])
    maximize = direction == "maximize"
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    rows, best_so_far = [], None
    for t in trials:
        cv = t.user_attrs.get("cv") or {}
        if t.state == TrialState.COMPLETE:
            v = float(t.value)
            best_so_far = v if best_so_far is None else (max if maximize else min)(best_so_far, v)
        row = {"trial": t.number, "state": t.state.name, "mean": cv.get("mean") if t.state == TrialState.COMPLETE else None,
               "std": cv.get("std"), "n": cv.get("n"),
               "ci95_low": (cv.get("ci95") or [None, None])[0], "ci95_high": (cv.get("ci95") or [None, None])[1],
               "best_so_far": best_so_far if t.state == TrialState.COMPLETE else None,
               "retry_of": t.user_attrs.get(recovery.RETRY_ATTR), "attempt": recovery.attempt_of(t.user_attrs),
               "error": t.user_attrs.get("error")}
        row.update(decoded(space, t.params))
        row["engine"] = (t.user_attrs.get("engine") or {}).get("engine")
        rows.append(row)
    complete = sorted([t for t in trials if t.state == TrialState.COMPLETE],
                      key=lambda t: (-t.value if maximize else t.value, t.number))
    entries, seen = [], set()
    for t in complete:
        key = json.dumps(t.params, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        cv = t.user_attrs["cv"]
        params = decoded(space, t.params)
        keys = list(zip(cv.get("repeat", [0] * len(cv["fold"])), cv["fold"], cv["seed"]))
        entries.append(comparison.Entry(
            f"#{t.number} " + ", ".join(f"{names[k]}={show(v)}" for k, v in params.items()), "network",
            np.array([math.nan if v is None else v for v in cv["scores"]], dtype=float), keys,
            {"trial": t.number, **params}, cv.get("n_params"), *cv.get("health", (0, 0))))
        if len(entries) >= space.top:
            break
    n_train = float(np.mean([len(split.train) for split in ctx.plan.splits]))
    n_test = float(np.mean([len(split.eval) for split in ctx.plan.splits]))
    entries += [comparison.baseline_entry(ctx.plan, b, metric) for b in comparison.score_baselines(ctx.plan)]
    table = comparison.build(entries, metric, n_train, n_test, space.base.evaluate.rope)
    ds = ctx.plan.dataset
    ev = space.base.evaluate
    shown_raw = dict(raw)
    return {
        "name": space.base.name,
        "study": space.base.name,
        "storage": store.mask_url(ctx.url),
        "task": ds.task,
        "metric": metric,
        "direction": direction,
        "sampler": space.sampler,
        "space": space.describe(),
        "objective": {"folds": ev.folds, "seeds": ev.seeds, "repeats": ev.repeats,
                      "members": len(ctx.plan.splits) * ev.seeds,
                      "n_train": n_train, "n_test": n_test},
        "trials": {"wanted": wanted, "complete": len(complete),
                   "failed": sum(t.state == TrialState.FAIL for t in trials),
                   "retried": sum(bool((t.user_attrs.get(recovery.FAILURE_ATTR) or {}).get("requeued"))
                                  for t in trials), "new": ctx.new,
                   "engine_calls": ctx.calls},
        "best": best,
        "tables": {"trials": rows, "comparison": table.to_dict(orient="records")},
        "verdict": comparison.verdict(table),
        "data": {"source": space.base.data.source, "target": ds.target, "rows_train": int(len(ds.y_train)),
                 "rows_test": int(len(ds.y_test))},
        "manifest": manifest(space.base.seed),
        "spec_yaml": yaml.safe_dump(shown_raw, sort_keys=False),
    }


# --- small helpers -------------------------------------------------------------

def _short_names(paths: list) -> dict:
    short = {p: p.rsplit(".", 1)[-1] for p in paths}
    counts = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    return {p: (s if counts[s] == 1 else p) for p, s in short.items()}


