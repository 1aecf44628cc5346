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
    metric = cv.metric  # the primary metric (`evaluate.metric`)
    s = cv.summary
    test_score = r["test"]["metrics"][metric]["value"] if r["test"].get("metrics") else float("nan")
    tables = {
        "cv_summary": pd.DataFrame([{
            "metric": metric, "mean": s.mean, "std": s.std, "n": s.n, "ci95_low": s.ci95[0],
            "ci95_high": s.ci95[1], f"test_{metric}": test_score, "test_loss": final.scores["loss"],
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
        f"Refit on all training rows, the test {metric} is {test_score:.4f}. "
        f"Engine: {cv.engine} (compile {cv.compile_s:.2f} s, run {cv.run_s:.2f} s)."
    )
    if ds.categories:
        summary_text += f" One-hot encoded categorical columns: {', '.join(map(str, ds.categories))}."
    for note in cv.notes:
        summary_text += f" Note: {note}."
    for key in ("diverged", "not_decreasing", "at_chance"):  # members that failed to train, counted
        tables["cv_summary"][f"members_{key}"] = r["health"][key]
    sections = [Section("Result", summary_text, tables=["cv_summary"])]
    sections += _verdict_sections(r, tables)

    fit_metric = cv.head.metric  # what the engines record per epoch (accuracy or mse), on both sides
    train_scores = [h[fit_metric][-1] if len(h.get(fit_metric, [])) else np.nan for h in cv.histories]
    text, row = diagnosis.interval_verdict(fit_metric, train_scores, cv.values(fit_metric),
                                           diagnosis.baseline(ds, fit_metric), _level_with(r["comparison"]))
    tables["diagnosis"] = pd.DataFrame([row])
    health = diagnosis.health_text(r["health"], exp.train.learning_rate, r["primary_metric"])
    broken = r["health"]["diverged"] + r["health"]["not_decreasing"]
    if r["health"]["n"] and broken >= r["health"]["n"]:  # a fit verdict on training that failed misleads
        text = "No under- or overfitting verdict: every member diverged or ended no lower than it began."
    sections.append(Section(
        "Diagnosis",
        (health + "\n\n" if health else "") + text
        + " Training: each member's last-epoch score (averaged over its minibatches, dropout on).",
        tables=["diagnosis"],
    ))
    val_label = "validation split" if exp.train.effective_validation_split > 0 else "held-out fold"
    sections.append(Section(
        "Learning curves",
        f"Mean over the {len(cv.histories)} cross-validation members (band: min–max). "
        f"Training values are averaged over each epoch's minibatches (dropout on); "
        f"validation values come from each member's {val_label}.",
        figures=[plots.curves(cv.histories, fit_metric, val_label=val_label)],
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
    sections += _task_sections(result, tables)
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


def _level_with(rows: list) -> str | None:
    """The best baseline's name when the network ties with it or ranks above it, else None."""
    net = next((row for row in rows if row["kind"] == "network"), None)
    base = next((row for row in rows if row["kind"] == "baseline"), None)
    if net is None or base is None:
        return None
    return base["name"] if net["tied_with_best"] or rows.index(net) < rows.index(base) else None


def _verdict_sections(r: dict, tables: dict) -> list:
    """The network against its baselines (one sentence and the table), every metric, the data's notes."""
    out = []
    if r["comparison"]:
        tables["comparison"] = pd.DataFrame(r["comparison"])
        out.append(Section(
            "Network vs baselines",
            f"{r['verdict'] or 'No baselines were scored (`evaluate.baselines: none`).'} Baselines are "
            "scikit-learn models fitted on the same "
            f"folds with the same per-fold scaling; rows are ranked by CV {r['primary_metric']} "
            "(`evaluate.metric`), each tested against the best: corrected t-test p (`p_vs_best`), Holm-adjusted "
            "over the rows (`p_holm`), and the Bayesian correlated t-test's probabilities that the row is better, "
            f"equivalent (within ±{r['rope']:g}, `evaluate.rope`) or worse than the best.",
            tables=["comparison"]))
    rows = []
    for name, cv_m in r["cv"]["metrics"].items():
        test = r["test"].get("metrics", {}).get(name, {})
        rows.append({"metric": name, "cv_mean": cv_m["mean"], "cv_std": cv_m["std"], "cv_n": cv_m["n"],
                     "cv_ci95_low": cv_m["ci95"][0], "cv_ci95_high": cv_m["ci95"][1],
                     "test": test.get("value"), "test_n": test.get("n"),
                     "test_ci95_low": (test.get("ci95") or [None])[0],
                     "test_ci95_high": (test.get("ci95") or [None, None])[1], "test_interval": test.get("interval")})
    tables["metrics"] = pd.DataFrame(rows)
    out.append(Section(
        "Every metric",
        "Cross-validation: mean, sample std and t-based 95 % CI over the members' held-out folds (diverged "
        "members left out). Test rows: the refit network's score with a 95 % interval: Wilson for accuracy, a "
        "seeded percentile bootstrap over test rows for the others. Each is scikit-learn's own function.",
        tables=["metrics"]))
    if r["notes"]:
        out.append(Section("Notes on the data", "\n\n".join(r["notes"])))
    return out


def _task_sections(result, tables: dict) -> list:
    """Per-class precision/recall/support (classification), predicted-vs-actual and residuals (regression)."""
    from denselab import metrics
    from denselab.scoring import truth

    ds, cv, final = result.dataset, result.cv, result.holdout
    cv_true = np.concatenate([truth(cv.head, y) for y in cv.y_eval])
    cv_pred = np.concatenate([np.asarray(m.predictions) for m in cv.members])
    if ds.task == "classification":
        frames = [metrics.per_class(cv_true, cv_pred, ds.classes).assign(rows="cv (pooled held-out folds)")]
        if len(ds.y_test):
            frames.append(metrics.per_class(ds.y_test, final.predictions, ds.classes).assign(rows="test"))
        tables["per_class"] = pd.concat(frames, ignore_index=True)
        if len(ds.y_test) and len(ds.classes) <= plots.MAX_MATRIX_CLASSES:  # the figure's counts, for results.json
            tables["confusion_test"] = pd.DataFrame(metrics.confusion(ds.y_test, final.predictions, len(ds.classes)),
                                                    index=list(map(str, ds.classes)),
                                                    columns=list(map(str, ds.classes))).rename_axis("true").reset_index()
        return [Section("Per class", "Precision, recall, F1 and support of each class (scikit-learn's "
                        "`precision_recall_fscore_support`): on the cross-validation members' held-out rows "
                        "pooled, and on the test rows. A good accuracy can hide a class that is mostly wrong.",
                        tables=["per_class"])]
    groups = {"cv (held-out folds)": (cv_true, cv_pred)}
    if len(ds.y_test):
        groups["test"] = (truth(final.head, ds.y_test), final.predictions)
    return [Section("Predicted vs actual", "Each point is one row: the network's prediction against the truth "
                    "(left) and the residual, truth − prediction (right): residuals spread evenly around zero "
                    "leave no pattern for a better model to find.",
                    figures=[plots.predicted_vs_actual(groups, ds.target)])]


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
