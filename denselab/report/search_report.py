"""The report of one `denselab search`: which figures and tables, in which order.

Pure composition over `SearchResult.results`: the best configuration (CV and its one
test score), the top configurations as bars with ± std and the corrected t-test
against the best, the optimisation history, and the best trial's learning curves.
Every number shown is in results.json (`best`, `tables`), and each table is a CSV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from denselab.report import plots
from denselab.report.experiment import CI_LEVEL
from denselab.report.analysis_report import chart
from denselab.report.html import Section, write_report


def write(result, out_dir: Path) -> Path:
    """Write the search's report folder (report.html, results.json, CSVs); returns it."""
    r = result.results
    sections, frames = compose(r)
    results = dict(r)
    results["tables"] = {name: frame.to_dict(orient="records") for name, frame in frames.items()}
    write_report(Path(out_dir), f"denselab search · {r['name']}", sections, results, frames)
    return Path(out_dir)


def compose(r: dict) -> tuple[list, dict]:
    metric, best = r["metric"], r["best"]
    cv, test = best["cv"], best["test"]
    frames = {
        "best": pd.DataFrame([{"trial": best["trial"], "metric": metric, "cv_mean": cv["mean"], "cv_std": cv["std"],
                               "n": cv["n"], "ci95_low": cv["ci95"][0], "ci95_high": cv["ci95"][1],
                               "ci_level": CI_LEVEL,
                               f"test_{metric}": (test or {}).get(metric), "test_loss": (test or {}).get("loss"),
                               "test_rows": (test or {}).get("n"),
                               **{f"param {k}": _cell(v) for k, v in best["params"].items()}}]),
        "comparison": _frame(r["tables"]["comparison"]),
        "trials": _frame(r["tables"]["trials"]),
    }
    t = r["trials"]
    o = r["objective"]
    better = "higher" if r["direction"] == "maximize" else "lower"
    test_text = (f"Refit on all {r['data']['rows_train']} training rows, it scores {metric} "
                 f"{test[metric]:.4f} on the {test['n']} held-out test rows (used once, for this "
                 f"configuration only)." if test else "The spec holds out no test rows (data.test_size: 0).")
    failed = f", {t['failed']} failed" if t["failed"] else ""
    intro = (
        f"{t['complete']} trial(s) finished in study `{r['study']}` ({r['storage']}), sampler "
        f"{r['sampler']}; {t['new']} of them in this run, trained in {t['engine_calls']} engine call(s)"
        f"{failed}. Each trial is scored by "
        f"{o['folds']}-fold cross-validation × {o['seeds']} seed(s) on the training rows only, the same "
        f"folds for every trial ({better} {metric} is better).\n\n"
        f"Best: trial {best['trial']} ({_params_text(best['params'])}), CV {metric} {cv['mean']:.4f} ± "
        f"{cv['std']:.4f} (sample std; {100 * CI_LEVEL:g} % CI of the mean {cv['ci95'][0]:.4f}–"
        f"{cv['ci95'][1]:.4f}). {test_text}"
    )
    sections = [Section("Best configuration", intro, tables=["best"])]

    comp = frames["comparison"]
    nets = comp[comp["kind"] == "network"] if len(comp) else comp
    n_tied = int(nets["tied_with_best"].sum()) - 1 if len(nets) else 0
    ties = (f"{n_tied} of the {len(nets) - 1} runner(s-up) cannot be told apart from the best network at the 5 % "
            "level (Holm-adjusted): treat them as equally good; the recommended one (★) has the fewest "
            "parameters among them." if len(nets) > 1 else "Only one distinct configuration finished.")
    sections.append(Section(
        "Top configurations and baselines",
        f"The best {len(nets)} distinct configurations by CV mean, and the scikit-learn baselines fitted on "
        f"the same {o['members']} folds with the same preprocessing (dots: mean; lines: 95 % CI). "
        + RULES_SHORT.format(n_test=o["n_test"], n_train=o["n_train"]) + f" {ties} {r.get('verdict', '')} "
        "The best CV score is optimistic: it was selected on these folds; the test score of the refit "
        "is the unbiased one.",
        figures=[chart(comp, f"CV {metric}: top configurations and baselines")] if len(comp) else [],
        tables=["comparison"],
    ))
    sections.append(Section(
        "Optimisation history",
        f"CV {metric} of every finished trial in the order they were asked, and the best so far.",
        figures=[history_figure(frames["trials"], metric, r["direction"])], tables=["trials"],
    ))
    if best.get("history"):
        h = best["history"]
        sections.append(Section(
            "Learning curves of the best configuration",
            f"Per-epoch mean over its {o['members']} cross-validation members (stored compactly with the "
            "trial; the epochs shown are those stored).",
            figures=[plots.curves([{k: [np.nan if x is None else x for x in v]
                                    for k, v in h.items() if k != "epoch"}], metric, val_label="held-out fold")],
        ))
    return sections, frames


RULES_SHORT = ("Each is tested against the best, pairing the folds: the corrected resampled t-test "
               "(Nadeau–Bengio; Bouckaert–Frank for repeats), t = mean(d) / sqrt((1/n + n_test/n_train)·var(d)), "
               "n_test/n_train = {n_test:.4g}/{n_train:.4g}, which accounts for the overlap of the folds' "
               "training rows; p_holm adjusts for the many comparisons, and p_better / p_equivalent / p_worse "
               "are the Bayesian correlated t-test's probabilities (region of practical equivalence "
               "`evaluate.rope`).")


def history_figure(trials: pd.DataFrame, metric: str, direction: str) -> Figure:
    """CV score per trial number (points) and the best so far (step line)."""
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    done = trials[trials["state"] == "COMPLETE"] if len(trials) else trials
    if len(done):
        ax.scatter(done["trial"], done["mean"], s=22, color="tab:blue", label=f"trial CV {metric}", zorder=3)
        ax.step(done["trial"], done["best_so_far"], where="post", color="tab:red", label="best so far")
        ax.legend()
    ax.set(title=f"Optimisation history ({'higher' if direction == 'maximize' else 'lower'} is better)",
           xlabel="trial", ylabel=f"CV {metric}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return fig


def _frame(rows: list) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for col in frame.columns:
        if frame[col].map(lambda v: isinstance(v, (list, dict))).any():
            frame[col] = frame[col].map(_cell)
    return frame


def _cell(value):
    import json

    return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else value


def _params_text(params: dict) -> str:
    return ", ".join(f"{k} = {_cell(v)}" for k, v in params.items())
