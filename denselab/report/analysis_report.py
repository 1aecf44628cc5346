"""The page of an analysis (`denselab study NAME --data FILE --target COLUMN`): composition only.

Each analysis section shows its comparison table (`denselab.comparison`'s contract),
a chart of every arm's mean with its 95 % interval (networks blue, baselines grey),
the one-sentence verdict against the best baseline, and the rules the table follows.
The overview ends with the recommended network and its held-out test score.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from denselab.report.html import Section, write_report

RULES = ("Rules: every arm is trained on the same {splits} split(s) ({repeats} repeat(s) × {folds} folds) "
         "× {seeds} seed(s), with the same member seeds; mean, sample std and the 95 % t-interval are over "
         "those members. Each arm is tested against the best one split by split (its seeds averaged): the "
         "corrected repeated k-fold t-test (Bouckaert & Frank) with Holm's adjustment over the arms compared "
         "(p_holm), and the Bayesian correlated t-test with a region of practical equivalence of ±{rope:g} "
         "(p_better / p_equivalent / p_worse: the arm against the best). An arm is tied with the best when "
         "its mean equals the best's or p_holm ≥ 0.05; the recommended network is the one with the fewest "
         "parameters among the networks tied with the best network. Baselines (scikit-learn) are fitted on "
         "the same training rows of each split with the same preprocessing. A member diverged when its "
         "loss or outputs were not finite, collapsed when its training loss did not fall or it scored no "
         "better than chance.")


def chart(frame: pd.DataFrame, title: str) -> Figure:
    """Every arm's mean and 95 % interval, best first; baselines grey."""
    fig = Figure(figsize=(8, 1.4 + 0.38 * len(frame)), layout="constrained")
    ax = fig.subplots()
    pos = np.arange(len(frame))
    mean = frame["mean"].to_numpy(float)
    low = np.nan_to_num(mean - frame["ci_low"].to_numpy(float))
    high = np.nan_to_num(frame["ci_high"].to_numpy(float) - mean)
    colors = ["tab:gray" if k == "baseline" else "tab:blue" for k in frame["kind"]]
    ax.errorbar(mean, pos, xerr=[low, high], fmt="none", ecolor="black", elinewidth=1, capsize=3)
    ax.scatter(mean, pos, c=colors, zorder=3)
    labels = [f"{n}{' ★' if r else ''}" for n, r in zip(frame["name"], frame["recommended"])]
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.set(title=title, xlabel=f"{frame['metric'].iloc[0]} (mean, 95 % CI)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def samples_curve(frame: pd.DataFrame, n_train: float) -> Figure:
    """Score against the number of training rows (the 2-D study's Fig. 3)."""
    nets = frame[frame["kind"] == "network"].sort_values("fraction")
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    rows = nets["fraction"].to_numpy(float) * n_train
    ax.plot(rows, nets["mean"], marker="o", color="tab:blue", label="network")
    ax.fill_between(rows, nets["ci_low"], nets["ci_high"], color="tab:blue", alpha=0.2, label="95 % CI")
    for _, b in frame[frame["kind"] == "baseline"].iterrows():
        ax.axhline(b["mean"], color="tab:gray", lw=0.8, ls="--")
        ax.annotate(b["name"], (rows.max(), b["mean"]), fontsize=8, color="tab:gray", ha="right", va="bottom")
    ax.set(xlabel="training rows per fold", ylabel=frame["metric"].iloc[0], title="score vs sample size")
    ax.legend()
    return fig


def gap_table(result) -> pd.DataFrame:
    """Train − validation gap of the head's metric at the last epoch, per arm (mean over members)."""
    rows = []
    for r in result.results:
        metric = r.head.metric
        train = [h[metric][-1] for h in r.histories if h.get(metric)]
        val = [h[f"val_{metric}"][-1] for h in r.histories if h.get(f"val_{metric}")]
        t, v = float(np.nanmean(train)) if train else math.nan, float(np.nanmean(val)) if val else math.nan
        rows.append({"name": r.name, "curve_metric": metric, "train_last": t, "validation_last": v,
                     "gap": t - v, "epochs_run": float(np.mean([m.epochs_run for m in r.members]))})
    return pd.DataFrame(rows)


def compose(intro: str, parts: list, plan, extra: dict | None = None) -> tuple[list, dict, dict]:
    """(sections, tables, results) of the page: an intro, a section per analysis, the overview's
    recommendation (`extra`)."""
    ev = plan.experiment.evaluate
    rules = RULES.format(splits=len(plan.splits), repeats=plan.repeats, folds=plan.folds, seeds=ev.seeds,
                         rope=ev.rope)
    sections = [Section("What was run", intro + "\n\n" + rules)]
    tables, results = {}, {"verdicts": {}, "notes": {}, "timing": {}}
    for part in parts:
        name = part.name
        tables[name] = part.table
        results["verdicts"][name] = part.verdict
        results["timing"][name] = part.wall_s
        results["notes"][name] = part.notes
        figures = [chart(part.table, name)]
        shown = [name]
        text = part.verdict or "No baselines were scored (evaluate.baselines: none)."
        if name == "samples":
            figures.append(samples_curve(part.table, float(np.mean([len(s.train) for s in plan.splits]))))
        if name == "regularization":
            tables["regularization_gap"] = gap_table(part)
            shown.append("regularization_gap")
            text += (" The gap table: the training curve's metric at the last epoch (dropout on, as Keras "
                     "reports it) minus the validation curve's, mean over members.")
        if part.notes:
            text += " Notes: " + "; ".join(part.notes) + "."
        sections.append(Section(f"{name}", text, figures=figures, tables=shown))
    if extra:
        sections.append(extra["section"])
        tables.update(extra.get("tables", {}))
        results.update(extra.get("results", {}))
    results["tables"] = {k: v.to_dict(orient="records") for k, v in tables.items()}
    results.update(plan_info(plan))
    return sections, tables, results


def write(out: Path, title: str, sections: list, tables: dict, results: dict) -> Path:
    write_report(Path(out), title, sections, results, tables)
    return Path(out) / "report.html"


def plan_info(plan) -> dict:
    from denselab.workflow import manifest

    ds = plan.dataset
    return {"task": ds.task, "metric": plan.metric, "manifest": manifest(plan.experiment.seed),
            "spec_yaml": plan.experiment.to_yaml(),
            "data": {"source": plan.experiment.data.source, "target": ds.target, "rows_train": int(len(ds.y_train)),
                     "rows_test": int(len(ds.y_test)), "features": ds.feature_names},
            "evaluate": {"folds": plan.folds, "repeats": plan.repeats, "seeds": plan.experiment.evaluate.seeds,
                         "rope": plan.experiment.evaluate.rope, "splits": len(plan.splits)},
            "rules": {"alpha": 0.05, "ci_level": 0.95}}
