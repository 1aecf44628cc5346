"""One experiment end to end: spec → data → CV → refit + test → predictions → report.

This is what `denselab run` calls; the CLI adds nothing but parsing and printing.

Example:
    >>> import denselab
    >>> result = denselab.run("iris", overrides=["train.epochs=5", "evaluate.folds=3"])  # doctest: +SKIP
    >>> result.results["cv"]["mean"]                                                      # doctest: +SKIP
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from denselab.data.prepare import Dataset, load_dataset
from denselab.progress import phase
from denselab.spec import Experiment, load, with_overrides
from denselab.trained import TrainedModel
from denselab.train.evaluate import CVResult, Holdout, cross_validate, holdout


@dataclass
class RunResult:
    """Everything one run produced; `results` is what `results.json` holds."""

    experiment: Experiment
    dataset: Dataset
    cv: CVResult
    holdout: Holdout
    model: TrainedModel
    results: dict
    out: Path | None = None


def resolve(experiment, overrides: list[str] | None = None) -> Experiment:
    """An Experiment from an Experiment, a dict, a spec path or a bundled example name."""
    if isinstance(experiment, Experiment):
        return with_overrides(experiment.to_dict(), overrides) if overrides else experiment
    if isinstance(experiment, dict):
        return with_overrides(dict(experiment), overrides)
    return load(experiment, overrides)


def run(experiment, out=None, *, data=None, overrides=None, engine=None, progress=None,
        report: bool = True) -> RunResult:
    """Cross-validate, refit, test, predict and (optionally) write the report.

    Args:
        experiment: Experiment, dict, spec path or example name (`denselab run --help`).
        out: report folder (default `runs/<name>-<timestamp>/`); must not exist yet.
        data: a DataFrame or (X, y) used instead of `data.source`.
        overrides: `["train.epochs=5", ...]` applied to the spec.
        engine: `fleet` or `fit`, overriding `evaluate.engine`.
        progress: callback(done_epochs, total_epochs, phase) for a progress bar.
        report: write report.html, results.json and CSVs (default True).
    """
    exp = resolve(experiment, overrides)
    out_dir = Path(out) if out else Path("runs") / f"{exp.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if report:
        from denselab.report.html import check_out_dir

        check_out_dir(out_dir)
    started = time.perf_counter()
    ds = load_dataset(exp.data, exp.seed, data)
    if exp.predict:
        ds.encode_rows(exp.predict)  # bad new samples fail before any training
    cv = cross_validate(exp, ds, engine=engine, progress=phase(progress, "cross-validation"))
    final = holdout(exp, ds, engine=engine, progress=phase(progress, "refit on all training rows"))
    model = TrainedModel.from_weights(exp.model, final.head, ds, final.weights, final.preprocessor)
    results = summarize(exp, ds, cv, final, model, time.perf_counter() - started)
    result = RunResult(exp, ds, cv, final, model, results)
    if report:
        from denselab.report.experiment import write

        result.out = write(result, out_dir)
    return result


def summarize(exp: Experiment, ds: Dataset, cv: CVResult, final: Holdout, model: TrainedModel,
              wall_s: float) -> dict:
    """The `results.json` contract: task, cv, test, predictions, manifest (+ details)."""
    s = cv.summary
    results = {
        "name": exp.name,
        "task": ds.task,
        "cv": {"metric": cv.metric, "mean": s.mean, "std": s.std, "n": s.n, "ci95": list(s.ci95),
               "folds": cv.scores.tolist(), "fold": cv.fold.tolist(), "seed": cv.seed.tolist(),
               "losses": cv.losses.tolist(), "engine": cv.engine,
               "compile_s": cv.compile_s, "run_s": cv.run_s, "notes": cv.notes},
        "test": {**final.scores, "n": int(len(ds.y_test))},
        "data": {"source": exp.data.source, "target": ds.target, "rows_train": int(len(ds.y_train)),
                 "rows_test": int(len(ds.y_test)), "rows_dropped": ds.dropped_rows,
                 "features": ds.feature_names, "categorical": list(ds.categories),
                 "classes": list(map(str, ds.classes)) if ds.classes else None},
        "predictions": None,
        "manifest": manifest(exp.seed),
        "timing": {"wall_s": wall_s, "holdout_compile_s": final.compile_s, "holdout_run_s": final.run_s},
    }
    if exp.predict:
        rows = [list(r) for r in exp.predict]
        results["predictions"] = {"rows": rows, "predicted": _plain(model.predict(rows))}
        if ds.task == "classification":
            results["predictions"]["probabilities"] = np.round(model.predict_proba(rows), 6).tolist()
    return results


def manifest(seed: int) -> dict:
    """Seed and versions: what someone needs to reproduce the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for pkg in ("denselab", "keras", "jax", "jaxlib", "numpy", "scikit-learn", "pandas", "optuna"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return {"seed": seed, "versions": versions, "platform": platform.platform()}


def _plain(values):
    return [v.item() if hasattr(v, "item") else v for v in values]
