"""The report of one `denselab run`: which figures and tables, in which order.

Pure composition: every figure comes from `plots`, every table from the run's
numbers, and `html.write_report` writes the page, results.json and CSVs atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from denselab.report import diagnosis, plots
from denselab.report import tables as tb
from denselab.report.html import Section, write_report
from denselab.train.engine import predicted_codes

MAX_PAIRPLOT_FEATURES = 12
MAX_PROBABILITY_COLUMNS = 10  # P(class) columns in the predictions table; past it, the likeliest classes
TOP_CONFUSIONS = 20  # rows of the mistakes table shown when the matrix cannot hold every class
CI_LEVEL = 0.95  # `Summary.ci95` (train/evaluate.py); the page writes "95 % CI"


def write(result, out_dir: Path) -> Path:
    """Write the run's report folder; returns it."""
    sections, tables = compose(result)
    results = dict(result.results)
    results["spec_yaml"] = result.experiment.to_yaml()
    results["tables"] = {name: df.to_dict(orient="records") for name, df in tables.items()}
    if "top_confusions" in tables:  # the page's sentence about what the matrix and the table show
        results["confusion_shown"] = {"classes": len(result.dataset.classes),
                                      "matrix_classes": plots.MAX_MATRIX_CLASSES - 1, "mistakes": TOP_CONFUSIONS}
    write_report(Path(out_dir), f"denselab · {result.experiment.name}", sections, results, tables)
    return Path(out_dir)


def compose(result) -> tuple[list, dict]:
    exp, ds, cv, final, model = result.experiment, result.dataset, result.cv, result.holdout, result.model
    r = result.results
    metric = cv.metric
    s = cv.summary
    tables = {
        "cv_summary": pd.DataFrame([{
            "metric": metric, "mean": s.mean, "std": s.std, "n": s.n, "ci95_low": s.ci95[0],
            "ci95_high": s.ci95[1], f"test_{metric}": final.scores[metric], "test_loss": final.scores["loss"],
            "ci_level": CI_LEVEL, "engine": cv.engine, "compile_s": cv.compile_s, "run_s": cv.run_s}]),
        "cv_folds": pd.DataFrame({"seed": cv.seed, "fold": cv.fold, metric: cv.scores, "loss": cv.losses}),
    }
    summary_text = (
        f"{exp.description + '. ' if exp.description else ''}"
        f"{ds.task.capitalize()} of `{ds.target}` from {len(ds.feature_names)} feature(s); "
        f"{len(ds.y_train)} training rows, {len(ds.y_test)} held-out test rows"
        f"{f', {ds.dropped_rows} rows with missing values dropped' if ds.dropped_rows else ''}. "
        f"{exp.evaluate.folds}-fold cross-validation × {exp.evaluate.seeds} seed(s) on the training rows: "
        f"{metric} {s.mean:.4f} ± {s.std:.4f} (sample std; {100 * CI_LEVEL:g} % CI of the mean "
        f"{s.ci95[0]:.4f}–{s.ci95[1]:.4f}). "
        f"Refit on all training rows, the test {metric} is {final.scores[metric]:.4f}. "
        f"Engine: {cv.engine} (compile {cv.compile_s:.2f} s, run {cv.run_s:.2f} s)."
    )
    if ds.categories:
        summary_text += f" One-hot encoded categorical columns: {', '.join(map(str, ds.categories))}."
    for note in cv.notes:
        summary_text += f" Note: {note}."
    sections = [Section("Result", summary_text, tables=["cv_summary"])]

    train_score = float(np.nanmean([h[metric][-1] for h in cv.histories]))
    chance = diagnosis.baseline(ds, metric)
    tables["diagnosis"] = pd.DataFrame([diagnosis.measures(metric, train_score, s.mean, chance)])
    sections.append(Section(
        "Diagnosis",
        diagnosis.diagnose(ds.task, metric, train_score, s.mean, chance)
        + " Training: the last epoch's score, mean over the cross-validation members.",
        tables=["diagnosis"],
    ))
    val_label = "validation split" if exp.train.effective_validation_split > 0 else "held-out fold"
    sections.append(Section(
        "Learning curves",
        f"Mean over the {len(cv.histories)} cross-validation members (band: min–max). "
        f"Training values are averaged over each epoch's minibatches (dropout on); "
        f"validation values come from each member's {val_label}.",
        figures=[plots.curves(cv.histories, metric, val_label=val_label)],
        tables=["cv_folds"],
    ))
    if ds.task == "classification" and len(ds.y_test):
        y_true = ds.decode(ds.y_test)
        y_pred = ds.decode(predicted_codes(final.head, final.predictions))
        many = len(ds.classes) > plots.MAX_MATRIX_CLASSES
        if many:
            tables["top_confusions"] = tb.top_confusions(y_true, y_pred, TOP_CONFUSIONS)
        sections.append(Section(
            "Confusion matrix (test rows)",
            f"{len(ds.classes)} classes: the matrix shows the {plots.MAX_MATRIX_CLASSES - 1} most frequent, the "
            f"table the {TOP_CONFUSIONS} most frequent mistakes among all classes." if many else "",
            figures=[plots.confusion(y_true, y_pred, list(map(str, ds.classes)))],
            tables=["top_confusions"] if many else []))
    sections += _data_figures(ds, model)
    if r.get("predictions"):
        p = r["predictions"]
        rows = pd.DataFrame({"row": [str(x) for x in p["rows"]], "predicted": p["predicted"]})
        if "probabilities" in p and len(ds.classes) <= MAX_PROBABILITY_COLUMNS:
            for i, c in enumerate(ds.classes):
                rows[f"P({c})"] = [probs[i] for probs in p["probabilities"]]
        elif "probabilities" in p:  # one column per class would be 1 000 columns: the likeliest few
            rows["most likely"] = [", ".join(f"{ds.classes[i]} {probs[i]:.3f}" for i in
                                             np.argsort(probs)[::-1][:MAX_PROBABILITY_COLUMNS])
                                   for probs in p["probabilities"]]
        tables["predictions"] = rows
        sections.append(Section("Predictions for new samples", "", tables=["predictions"]))
    return sections, tables


def _data_figures(ds, model) -> list:
    frame = ds.train_frame
    numeric = [c for c in ds.raw_features if c not in ds.categories]
    out = []
    if len(numeric) == 2 and not ds.categories:
        x = frame[numeric].to_numpy(dtype=float)
        if ds.task == "classification":
            codes = np.searchsorted(np.array(ds.classes, dtype=object).astype(str),
                                    frame[ds.target].astype(str).to_numpy())
            out.append(Section("Decision boundary", "The trained network's predicted class over the "
                               "input plane, with the training rows on top.", figures=[
                plots.decision_boundary(model.predict_proba, x, codes, list(map(str, ds.classes)), numeric)]))
        else:
            out.append(Section("Predicted surface", "The trained network's prediction over the input "
                               "plane (surface) and the training rows (points).", figures=[
                plots.surface3d(lambda pts: np.asarray(model.predict(pts), dtype=float), x,
                                frame[ds.target].to_numpy(dtype=float), numeric, ds.target)]))
    elif 2 <= len(numeric) <= MAX_PAIRPLOT_FEATURES and ds.task == "classification":
        out.append(Section("The data", "Pair plot of the training rows (KDE on the diagonal) and the "
                           "correlation of the input features.", figures=[
            plots.pairplot(frame[numeric + [ds.target]].astype({ds.target: str}), ds.target),
            plots.correlation(frame[numeric])]))
    elif 2 <= len(numeric) <= MAX_PAIRPLOT_FEATURES:
        out.append(Section("The data", "Correlation of the input features and the target.", figures=[
            plots.correlation(frame[numeric + [ds.target]])]))
    return out
