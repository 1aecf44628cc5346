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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from denselab.data.prepare import Dataset, load_dataset
from denselab.progress import phase
from denselab.report.notebook import ReportView
from denselab.spec import Experiment, load, read_yaml, with_overrides
from denselab.trained import TrainedModel, ordered_rows
from denselab.train.evaluate import CVResult, Holdout, cross_validate, holdout


@dataclass(repr=False)  # ReportView's one-line repr, not every array the run holds
class RunResult(ReportView):
    """Everything one run produced; `results` is what `results.json` holds.

    In a notebook it shows its headline numbers, the CV table and the learning curves and
    confusion matrix; `tables()` / `table(name)` give the report's tables as DataFrames
    (`cv_summary`, `cv_folds`, `diagnosis`, `predictions`, …) and `figures()` /
    `figure(name)` its figures (`learning_curves`, `confusion_matrix_test_rows`, …).
    """

    experiment: Experiment
    dataset: Dataset
    cv: CVResult
    holdout: Holdout
    model: TrainedModel
    results: dict
    out: Path | None = None
    timings: dict = field(default_factory=dict)  # seconds per phase: data_s, cv_s, refit_s, scoring_s, report_s

    _shown_tables = ("cv_summary", "predictions")
    # the pair plot and correlation stay out of the inline view (seconds, and wide): `figure(name)`
    _shown_figures = ("learning_curves", "confusion_matrix_test_rows", "decision_boundary", "predicted_surface")

    def _compose(self):
        from denselab.report.experiment import compose

        return compose(self)

    def _title(self) -> str:
        return f"denselab run · {self.experiment.name}"

    def _headline(self) -> list[str]:
        r = self.results
        cv, test = r["cv"], r["test"]
        lines = [f"CV {cv['metric']} {cv['mean']:.4f} ± {cv['std']:.4f} (95 % CI {cv['ci95'][0]:.4f}–"
                 f"{cv['ci95'][1]:.4f}, {cv['n']} members, {cv['engine']})"]
        if test.get("n") and cv["metric"] in test:
            lines.append(f"test {cv['metric']} {test[cv['metric']]:.4f} on {test['n']} rows")
        if self.out is not None:
            lines.append(f"report {Path(self.out) / 'report.html'}")
        return lines


def resolve(experiment, overrides: list[str] | None = None, data=None) -> Experiment:
    """An Experiment from an Experiment, a dict, a spec path or a bundled example name.

    With `data` (a DataFrame or (X, y)) the spec needs no `data.source`: it is set to a
    description of the object, which is what results.json then says the rows were.
    """
    if data is not None and not isinstance(experiment, Experiment):
        raw = dict(experiment) if isinstance(experiment, dict) else read_yaml(experiment)
        section = raw.get("data") or {}
        if isinstance(section, dict) and section.get("source") is None:
            return with_overrides({**raw, "data": {**section, "source": _described(data)}}, overrides)
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
        data: a DataFrame or (X, y) used instead of `data.source` (which may then be left out;
            a DataFrame needs `data.target`, (X, y) predicts `y` from `x0`, `x1`, …).
        overrides: `["train.epochs=5", ...]` applied to the spec.
        engine: `fleet` or `fit`, overriding `evaluate.engine`.
        progress: callback(done_epochs, total_epochs, phase) for a progress bar.
        report: write report.html, results.json and CSVs (default True).

    The result's `timings` say where the time went: `data_s`, `cv_s`, `refit_s` (the
    holdout training and the trained model), `scoring_s` (every metric, baselines,
    intervals: `summarize`), `report_s`; all but the last are in `results["timing"]` too.
    """
    exp = resolve(experiment, overrides, data)
    out_dir = Path(out) if out else Path("runs") / f"{exp.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if report:
        from denselab.report.html import check_out_dir

        check_out_dir(out_dir)
    started = time.perf_counter()
    lap = Laps()
    ds = load_dataset(exp.data, exp.seed, data)
    if exp.predict:
        ds.encode_rows(ordered_rows(exp.predict, ds.raw_features))  # bad new samples fail before any training
    lap("data_s")
    cv = cross_validate(exp, ds, engine=engine, progress=phase(progress, "cross-validation"))
    lap("cv_s")
    final = holdout(exp, ds, engine=engine, progress=phase(progress, "refit on all training rows"))
    model = TrainedModel.from_weights(exp.model, final.head, ds, final.weights, final.preprocessor)
    lap("refit_s")
    results = summarize(exp, ds, cv, final, model, time.perf_counter() - started)
    lap("scoring_s")
    results["timing"].update(lap.seconds)
    result = RunResult(exp, ds, cv, final, model, results, timings=lap.seconds)
    if report:
        from denselab.report.experiment import write

        writing = phase(progress, "writing the report")  # figures take seconds: say so
        if writing:
            writing(0, 1)
        result.out = write(result, out_dir)
        lap("report_s")
        if writing:
            writing(1, 1)
    return result


class Laps:
    """`lap(name)` records the seconds since the previous lap (or since it was made) under `name`."""

    def __init__(self):
        self.seconds, self._last = {}, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self._last = now


def summarize(exp: Experiment, ds: Dataset, cv: CVResult, final: Holdout, model: TrainedModel,
              wall_s: float) -> dict:
    """The `results.json` contract: task, cv, test, predictions, manifest (+ details).

    From `scoring.score_run`: `cv.metrics` / `test.metrics` (every task metric with its
    interval), `primary_metric`, `baselines`, `comparison`, `verdict`, `health`, `notes`.
    """
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
        rows = ordered_rows(exp.predict, ds.raw_features)  # mappings {column: value} → lists in column order
        results["predictions"] = {"rows": rows, "predicted": _plain(model.predict(rows))}
        if ds.task == "classification":
            results["predictions"]["probabilities"] = np.round(model.predict_proba(rows), 6).tolist()
    from denselab.scoring import score_run

    honest = score_run(exp, ds, cv, final)  # every metric, baselines on the same folds, verdict, notes
    results["cv"]["metrics"] = honest.pop("cv_metrics")
    results["test"]["metrics"] = honest.pop("test_metrics")
    for name, scored in results["test"]["metrics"].items():  # `test.<primary metric>` for every reader
        results["test"].setdefault(name, scored["value"])
    results.update(honest)
    return results


def _described(data) -> str:
    """`data.source` for rows handed over in Python (a marker, never read as a file)."""
    shape = getattr(data, "shape", None) or (getattr(data[0], "shape", None) if isinstance(data, tuple) else None)
    size = f" ({shape[0]} × {shape[1]})" if shape is not None and len(shape) == 2 else ""
    return f"{'DataFrame' if hasattr(data, 'columns') else '(X, y)'}{size} given to run()"


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
