"""The rocks study's page: findings, the data as the tutorial showed it, the ladder per data set.

Composition only: the numbers come from `studies/rocks.py` (tables built by
`denselab.comparison`); charts are `analysis_report.chart` (mean and 95 % interval per
arm, baselines grey) and the shared pair plot and correlation heat map.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from denselab.report import plots
from denselab.report.analysis_report import chart
from denselab.report.html import Section, write_report
from denselab.studies import findings as fnd

TITLE = "denselab study · rocks: the tutorial's architecture ladder, as published and careful"
SHOWN = ["variant", "model", "epochs", "accuracy_mean", "accuracy_std", "ci95_low", "ci95_high", "p_holm",
         "collapsed", "seconds"]


def _percent(mean, std) -> str:
    return f"{100 * mean:.2f}% ({100 * std:.2f}%)"


def side_by_side(ladder: pd.DataFrame, subset_rows: int) -> pd.DataFrame:
    """One row per rung: the tutorial's printed score next to each data set × variant's."""
    keys = list(dict.fromkeys(zip(ladder["data"], ladder["variant"])))
    first = ladder[(ladder["data"] == keys[0][0]) & (ladder["variant"] == keys[0][1])].reset_index(drop=True)
    out = pd.DataFrame({"model": first["model"], "epochs": first["epochs"],
                        f"tutorial ({subset_rows} rows, raw, ddof 0)": [
                            _percent(m, s) for m, s in zip(first["tutorial_accuracy_mean"],
                                                          first["tutorial_accuracy_std"])]})
    for label, variant in keys:
        part = ladder[(ladder["data"] == label) & (ladder["variant"] == variant)].reset_index(drop=True)
        out[f"{label}, {variant}"] = [_percent(m, s) for m, s in zip(part["accuracy_mean"], part["accuracy_std"])]
    return out


def sections(results: dict, frames: dict, datasets: list, quick: bool) -> list:
    ev = results["evaluate"]
    note = (f"Quick mode: {results['quick_rungs']} rungs, at most {results['quick_epochs']} epochs, "
            f"{results['quick_folds']} folds: the verdicts only show that the rules run." if quick else "")
    out = [fnd.section(frames["findings"], note)]
    out.append(_data_section(results, frames, datasets))
    sizes = "; ".join(f"{d['data']}: {d['rows_train']} rows in the CV ({d['rows_test_unused']} held out, unused)"
                      for d in results["data"])
    variants = "; ".join(f"{v['variant']}: {v['meaning']} (data.scaling: {v['scaling']})"
                         for v in results["variants"])
    intro = (f"Dell'Aversana's ladder of dense networks, each scored by {ev['folds']}-fold cross-validation "
             f"(batch {ev['batch_size']}, {ev['optimizer']}, categorical cross-entropy, softmax output), every rung "
             f"in two variants: {variants}. Every arm sees the same folds and member seeds, so its scores are paired "
             f"with every other's. Within a variant each rung is tested against that variant's best rung: p_holm is "
             f"the corrected resampled t-test (Nadeau–Bengio), Holm-adjusted over the rungs, and a rung differs "
             f"from the best when p_holm < {ev['alpha']}. {sizes}. Std is the sample std over folds (the tutorial "
             "printed numpy's population std). The tutorial's column is what it printed for its "
             f"{results['tutorial']['rows']} samples ({results['tutorial']['rows_cv']} of them in its CV); some of "
             "its code cells were lost in the PDF's extraction, so rungs 6–10 are rebuilt from the visible layer "
             "lines.")
    out.append(Section("The ladder, side by side", intro, tables=["ladder_side_by_side"]))
    comp = frames["comparison"]
    for label, d, _ in datasets:
        name = f"ladder_{label.replace(' ', '_')}"
        part = frames["ladder"][frames["ladder"]["data"] == label]
        frames[name] = part[SHOWN].reset_index(drop=True)
        mine = comp[comp["data"] == label].drop(columns="data")
        text = " ".join(_variant_text(r) for _, r in frames["ladder_summary"].iterrows() if r["data"] == label)
        out.append(Section(f"{label}: {len(d.y_train)} rows in the cross-validation",
                           text + " The chart: every arm of both variants and the scikit-learn baselines (grey), "
                           "mean and 95 % interval, on the same folds (table `comparison`).",
                           figures=[chart(mine, f"{label}: {ev['folds']}-fold CV accuracy")], tables=[name]))
    out.append(Section("What data size and scaling change", _size_text(frames["ladder_summary"]),
                       tables=["ladder_summary"]))
    return out


def _data_section(results, frames, datasets) -> Section:
    label, ds, _ = datasets[-1] if len(datasets) > 1 else datasets[0]  # the tutorial-sized rows when there
    rows, columns = results["table_shape"]
    numeric = [c for c in ds.raw_features if c not in ds.categories]
    figures = []
    if len(numeric) >= 2:
        frame = ds.train_frame[numeric + [ds.target]].astype({ds.target: str})
        figures = [plots.pairplot(frame, ds.target, height=2.2, max_rows=len(frame)),
                   plots.correlation(datasets[0][1].train_frame[numeric])]
    return Section("The data", f"The table as the tutorial shows it: `head` (table `data_preview`), shape "
                   f"({rows}, {columns}), rows per class in the table and in each data set's CV rows (table "
                   f"`class_counts`). The pair plot shows every one of the {len(ds.y_train)} CV rows of the {label} "
                   "data (KDE on the diagonal; the rarest classes drawn on top); the heat map is the Pearson "
                   f"correlation of the {datasets[0][0]} data's CV rows (table `correlation` in results.json).",
                   figures=figures, tables=["data_preview", "class_counts"])


def _variant_text(r) -> str:
    worse = (f"{r['rungs_worse']} of the {r['other_rungs']} other rungs are significantly worse"
             if r["rungs_worse"] else f"none of the {r['other_rungs']} other rungs is significantly worse "
             "(no detectable difference)")
    collapsed = f"; {r['collapsed']} member(s) collapsed (training loss not falling, or at chance)" \
        if r["collapsed"] else ""
    return (f"{r['variant'].capitalize()}: best {r['best_model']} at {100 * r['best_accuracy_mean']:.2f}% "
            f"(std {100 * r['best_accuracy_std']:.2f}%), rungs spread over {100 * r['spread']:.1f} points; "
            f"{worse}{collapsed}.")


def _size_text(summary: pd.DataFrame) -> str:
    parts = [f"{r['data']}, {r['variant']}: best {r['best_model']} at {100 * r['best_accuracy_mean']:.1f}%, "
             f"spread {100 * r['spread']:.1f} points, {r['rungs_worse']} of {r['other_rungs']} other rungs "
             "significantly worse" for _, r in summary.iterrows()]
    small = summary.iloc[-1]
    return ("; ".join(parts) + f". With about {small['rows_per_fold']:.0f} rows per held-out fold on the "
            f"{small['data']} data, one misclassified sample moves a fold's accuracy by "
            f"{100 * small['one_sample_accuracy']:.0f} points, so fold scores scatter widely and the corrected "
            "t-test needs large differences to call a rung worse. A reason the two variants can differ: raw "
            "oxides span very different ranges (table `data_preview`), so without scaling the first steps of a "
            "small network are dominated by the large columns; standardised, every rung sees each oxide on one "
            "scale.")


def write(out: Path, sections: list, results: dict, frames: dict) -> Path:
    return write_report(out, TITLE, sections, results, frames)
