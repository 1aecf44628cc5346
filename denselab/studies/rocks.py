"""The rock tutorial's architecture ladder, on the real data and at the tutorial's size.

Dell'Aversana (2020) classifies 5 rock types from 10 oxides and climbs a ladder of
dense networks, each scored by 10-fold CV (batch 5, Adam, categorical cross-entropy):
one hidden layer of 20 → 2, 3 layers → 100 epochs → 4 layers → wider layers →
sigmoid instead of relu → a mixed sigmoid/relu net. This study runs every rung on the
same folds, so each rung's fold scores are paired with the best rung's and the
Nadeau–Bengio corrected resampled t-test (`search.compare`) says whether a rung is
really worse than the best or only looks so.

The default data is the bundled `rocks` table (1178 samples of the Mamani et al. 2010
data the tutorial's 106 came from), plus a 106-row stratified subset with the
tutorial's 30 % test split, so the report shows how the ladder's verdicts change with
data size. `--data FILE --target COLUMN` runs the ladder on any classification table
(full data only). Scaling: denselab standardises the features, fitted on each fold's
training rows (the tutorial fed raw oxides). Std is the sample std (ddof 1; the
tutorial printed numpy's ddof 0).

Owns: the rungs (`RUNGS`), the subset size and the `ladder` table; everything else
(spec, folds, training, statistics, figures, page) comes from the shared modules.

Example:
    >>> from denselab.studies import rocks
    >>> results = rocks.run("runs/rocks-quick", quick=True)     # doctest: +SKIP
    >>> results["tables"]["ladder"][0]["model"]                 # doctest: +SKIP
    '20 relu'
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from denselab.data.prepare import load_dataset
from denselab.data.sources import read_table
from denselab.errors import DataError
from denselab.report import plots
from denselab.report.html import Section, write_report
from denselab import comparison
from denselab.stats import ALPHA
from denselab.spec import DataSpec, LayerSpec, ModelSpec, load
from denselab.train.plan import Arm, Plan
from denselab.progress import phase
from denselab.workflow import manifest

SUBSET_ROWS = 106  # the tutorial's data set: 106 samples (its `df_rock.shape` is (107, 13) with the header)
SUBSET_TEST_SIZE = 0.3  # the tutorial's train_test_split(test_size=0.3): 74 rows enter its 10-fold CV
TUTORIAL_CV_ROWS = 74
QUICK_RUNGS = (0, 5)  # 20 relu; 20-100 relu: one layer, then two wider ones
QUICK_EPOCHS = 3
QUICK_FOLDS = 3


@dataclass(frozen=True)
class Rung:
    """One network of the ladder: hidden layers as (units, activation), epochs, the tutorial's score."""

    model: str
    layers: tuple
    epochs: int
    tutorial_mean: float
    tutorial_std: float


def _same(units, activation):
    return tuple((u, activation) for u in units)


# The tutorial's rungs in its order, with the accuracy it printed (mean, numpy std over 10 folds,
# 106 samples). The PDF extraction lost some code cells: the 50-epoch start is the bundled
# `rocks.yaml`'s; the two wide relu rungs and the sigmoid "less neurons" and mixed nets are
# rebuilt from the visible layer lines (e.g. Dense(100, input_dim=100) after Dense(20)).
RUNGS = (
    Rung("20 relu", _same([20], "relu"), 50, 0.4625, 0.2378),
    Rung("20-20 relu", _same([20, 20], "relu"), 50, 0.6893, 0.2597),
    Rung("20-20-20 relu", _same([20, 20, 20], "relu"), 50, 0.7232, 0.1453),
    Rung("20-20-20 relu, 100 epochs", _same([20, 20, 20], "relu"), 100, 0.7964, 0.1386),
    Rung("20-20-20-20 relu", _same([20, 20, 20, 20], "relu"), 100, 0.7679, 0.1802),
    Rung("20-100 relu", _same([20, 100], "relu"), 100, 0.8107, 0.2038),
    Rung("20-100-100 relu", _same([20, 100, 100], "relu"), 100, 0.8339, 0.1520),
    Rung("20-100-100 sigmoid", _same([20, 100, 100], "sigmoid"), 100, 0.7179, 0.1567),
    Rung("20-100-25 sigmoid", _same([20, 100, 25], "sigmoid"), 100, 0.7946, 0.1377),
    Rung("20s-50r-50s-50r-50s-500s (mixed)",
         ((20, "sigmoid"), (50, "relu"), (50, "sigmoid"), (50, "relu"), (50, "sigmoid"), (500, "sigmoid")),
         100, 0.6375, 0.1507),
)


def run(out, *, data=None, target=None, quick: bool = False, seed: int = 0, progress=None) -> dict:
    """Run the ladder and write `out/report.html`, `results.json` and one CSV per table.

    Args:
        out: the report folder (must not exist yet, or be empty).
        data: a csv/xlsx path (or a DataFrame) instead of the bundled rocks table.
        target: the class column of `data` (required with `data`).
        quick: 2 rungs, 3 epochs, 3 folds: a smoke run of the whole report.
        seed: root seed: folds, initial weights and the subset's rows.
        progress: callback(done_epochs, total_epochs, phase), one phase per rung and data set.
    """
    started = time.perf_counter()
    base = load("rocks").replace(seed=seed)
    frame = data if isinstance(data, pd.DataFrame) else None
    if target is not None and data is None:
        raise DataError("--target: names a column of --data; give --data FILE too (the bundled table's "
                        "target is Rock_type)")
    if data is not None:
        if target is None:
            raise DataError("--target: the study needs the class column of --data; e.g. --target Rock_type")
        base = base.replace(data=DataSpec(source="data frame" if frame is not None else str(data), target=target))
    rungs = [RUNGS[i] for i in QUICK_RUNGS] if quick else list(RUNGS)
    if quick:
        base = base.replace(evaluate=dataclasses.replace(base.evaluate, folds=QUICK_FOLDS))

    ds = load_dataset(base.data, seed, frame)
    if ds.task != "classification":
        raise DataError(f"--target: `{ds.target}` looks like a regression target (many numeric values); "
                        "the ladder compares classifiers, give a class column")
    datasets = [("full", ds, base)]
    if data is None:
        datasets.append(_subset(base, seed))

    ladders, folds, comps = [], [], []
    for label, d, exp in datasets:
        table, fold_rows, comp = _ladder(label, d, exp, rungs, quick, progress)
        ladders.append(table)
        folds += fold_rows
        comps.append(comp)
    ladder = pd.concat(ladders, ignore_index=True)
    frames = {"ladder": ladder, "ladder_side_by_side": _side_by_side(ladder, [d[0] for d in datasets]),
              "ladder_folds": pd.DataFrame(folds), "comparison": pd.concat(comps, ignore_index=True)}
    for label, _, _ in datasets:
        frames[f"ladder_{_safe(label)}"] = _shown(ladder[ladder["data"] == label])
    frames["ladder_summary"] = _summary(ladder, [d[0] for d in datasets], base.evaluate.folds)
    results = {
        "name": "rocks",
        "study": "rocks",
        "quick": quick,
        "data": [{"data": label, "source": exp.data.source, "target": d.target, "rows_train": int(len(d.y_train)),
                  "rows_test_unused": int(len(d.y_test)), "features": d.feature_names,
                  "classes": list(map(str, d.classes)), "class_counts": np.bincount(d.y_train).tolist()}
                 for label, d, exp in datasets],
        "tutorial": {"rows": SUBSET_ROWS, "test_size": SUBSET_TEST_SIZE, "rows_cv": TUTORIAL_CV_ROWS},
        "evaluate": {"folds": base.evaluate.folds, "seeds": base.evaluate.seeds, "batch_size": base.train.batch_size,
                     "optimizer": base.train.optimizer, "alpha": ALPHA},
        "spec_yaml": base.to_yaml(),
        "manifest": manifest(seed),
    }
    numeric = [c for c in ds.raw_features if c not in ds.categories]
    if len(numeric) >= 2:  # the heat map's numbers
        frames["correlation"] = ds.train_frame[numeric].corr(method="pearson").reset_index(names="feature")
    sections = _sections(results, frames, datasets, quick)
    results["timing"] = {"wall_s": time.perf_counter() - started}
    results["tables"] = {name: f.to_dict(orient="records") for name, f in frames.items()}
    write_report(Path(out), "denselab study · rocks: the tutorial's architecture ladder", sections, results, frames)
    return results


def _subset(base, seed):
    """The tutorial-sized data: SUBSET_ROWS rows stratified by class, 30 % of them held out."""
    frame, target = read_table(base.data)
    rows, _ = train_test_split(frame, train_size=SUBSET_ROWS, stratify=frame[target],
                               random_state=seed)
    spec = dataclasses.replace(base.data, test_size=SUBSET_TEST_SIZE, target=target)
    exp = base.replace(data=spec)
    return f"subset-{SUBSET_ROWS}", load_dataset(spec, seed, rows.reset_index(drop=True)), exp


def _ladder(label, ds, base, rungs, quick, progress):
    """Every rung as an arm of one plan (same folds, same member seeds), tested against the best."""
    arms = []
    for rung in rungs:
        hidden = tuple(LayerSpec(units=u, activation=a) for u, a in rung.layers)
        epochs = min(rung.epochs, QUICK_EPOCHS) if quick else rung.epochs
        arms.append(Arm(rung.model, base.replace(model=ModelSpec(hidden=hidden),
                                                 train=dataclasses.replace(base.train, epochs=epochs)),
                        {"epochs": epochs}))
    plan = Plan.cv(base, ds)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # a 2-row class in 10 folds: sklearn warns, the split is still valid
        warnings.filterwarnings("ignore", message="The least populated class")
        cvs = plan.run(arms, progress=phase(progress, f"{label}: {len(arms)} rungs"))
        baselines = comparison.score_baselines(plan)
    seconds = (time.perf_counter() - t0) / len(arms)
    comp = comparison.table(plan, cvs, baselines)
    by_name = comp.set_index("name")
    best_net = comp[comp["kind"] == "network"].iloc[0]["name"]
    rows, fold_rows = [], []
    for i, (rung, cv) in enumerate(zip(rungs, cvs)):
        row = by_name.loc[rung.model]
        rows.append({"data": label, "rung": i + 1, "model": rung.model, "epochs": arms[i].params["epochs"],
                     "seconds": seconds, "engine": cv.engine, "accuracy_mean": row["mean"],
                     "accuracy_std": row["std"], "n": row["n"], "ci95_low": row["ci_low"], "ci95_high": row["ci_high"],
                     "diff_vs_best": row["diff_vs_best"],
                     # the best network compared with itself: identical scores, p = 1
                     "p_value_vs_best": 1.0 if rung.model == comp.iloc[0]["name"] else row["p_vs_best"],
                     "p_holm": 1.0 if rung.model == comp.iloc[0]["name"] else row["p_holm"],
                     "differs_from_best": not row["tied_with_best"], "is_best": rung.model == best_net,
                     "recommended": bool(row["recommended"]), "n_params": row["n_params"],
                     "diverged": row["diverged"], "collapsed": row["collapsed"], "rows_cv": len(ds.y_train),
                     "tutorial_accuracy_mean": rung.tutorial_mean, "tutorial_accuracy_std": rung.tutorial_std})
        fold_rows += [{"data": label, "model": rung.model, "seed": int(s), "fold": int(f), "accuracy": float(a)}
                      for s, f, a in zip(cv.seed, cv.fold, cv.scores)]
    return pd.DataFrame(rows), fold_rows, comp.assign(data=label)


def _percent(mean, std) -> str:
    return f"{100 * mean:.2f}% ({100 * std:.2f}%)"


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """The columns one data set's table shows on the page."""
    cols = ["model", "epochs", "accuracy_mean", "accuracy_std", "ci95_low", "ci95_high", "p_value_vs_best",
            "seconds"]
    return table[cols].reset_index(drop=True)


def _side_by_side(ladder: pd.DataFrame, labels: list) -> pd.DataFrame:
    """One row per rung: the tutorial's printed score next to each data set's, as the tutorial wrote them."""
    first = ladder[ladder["data"] == labels[0]].reset_index(drop=True)
    out = pd.DataFrame({"model": first["model"], "epochs": first["epochs"],
                        f"tutorial ({SUBSET_ROWS} rows, ddof 0)": [_percent(m, s) for m, s in
                                                        zip(first["tutorial_accuracy_mean"],
                                                            first["tutorial_accuracy_std"])]})
    for label in labels:
        part = ladder[ladder["data"] == label].reset_index(drop=True)
        out[f"{label}: accuracy mean (std)"] = [_percent(m, s) for m, s in
                                                zip(part["accuracy_mean"], part["accuracy_std"])]
        out[f"{label}: p vs best"] = part["p_value_vs_best"].to_numpy()
    return out


def _safe(label: str) -> str:
    return label.replace(" ", "_")


def _summary(ladder: pd.DataFrame, labels: list, folds: int) -> pd.DataFrame:
    """Per data set, the numbers the page's text quotes: the best rung, how many differ, the fold noise."""
    rows = []
    for label in labels:
        part = ladder[ladder["data"] == label]
        best = part[part["is_best"]].iloc[0]
        rows_per_fold = part["rows_cv"].iloc[0] / folds
        rows.append({"data": label, "best_model": best["model"], "best_accuracy_mean": best["accuracy_mean"],
                     "best_accuracy_std": best["accuracy_std"], "other_rungs": len(part) - 1,
                     "rungs_worse": int(part["differs_from_best"].sum()),
                     "rungs_tied": int((~part["differs_from_best"] & ~part["is_best"]).sum()),
                     "mean_accuracy_std": part["accuracy_std"].mean(), "rows_per_fold": rows_per_fold,
                     # one misclassified sample moves a fold's accuracy by this much
                     "one_sample_accuracy": 1 / rows_per_fold})
    return pd.DataFrame(rows)


def _verdict(part: pd.DataFrame, summary: pd.Series) -> str:
    best = part[part["is_best"]].iloc[0]
    others = len(part) - 1
    worse = part[part["differs_from_best"]]["model"].tolist()
    if not worse:
        tested = f"none of the {others} other rung(s) is significantly worse (Holm-adjusted p ≥ {ALPHA} for all)"
    else:
        tested = (f"{len(worse)} of the {others} other rung(s) are significantly worse (Holm-adjusted "
                  f"p < {ALPHA}): {', '.join(worse)}; the rest cannot be told apart from it")
    return (f"Best: {best['model']}, accuracy {100 * best['accuracy_mean']:.2f}% (std "
            f"{100 * best['accuracy_std']:.2f}%); {tested}. Mean fold-to-fold std: "
            f"{100 * summary['mean_accuracy_std']:.1f} points.")


def _sections(results, frames, datasets, quick) -> list:
    ladder = frames["ladder"]
    ev = results["evaluate"]
    sizes = "; ".join(f"{d['data']}: {d['rows_train']} rows in the CV ({d['rows_test_unused']} held out, unused)"
                      for d in results["data"])
    quick_note = (f" Quick mode: {len(QUICK_RUNGS)} rungs, at most {QUICK_EPOCHS} epochs, {QUICK_FOLDS} folds; "
                  "the numbers only show that the report works." if quick else "")
    intro = (
        f"Dell'Aversana's ladder of dense networks, each scored by {ev['folds']}-fold cross-validation "
        f"(batch {ev['batch_size']}, {ev['optimizer']}, categorical cross-entropy, softmax output). "
        f"Every rung sees the same folds and member seeds, so its fold scores are paired with the best rung's; "
        f"p vs best is the Nadeau–Bengio corrected resampled t-test (two-sided; 1 for the best itself), "
        f"p_holm its Holm adjustment over the rungs and baselines compared, and a rung differs from the best "
        f"when p_holm < {ALPHA}. Scikit-learn baselines are fitted on the same folds with the same "
        f"preprocessing (table `comparison`). {sizes}. Features are standardised on each fold's training rows (the "
        f"tutorial used raw oxides); std is the sample std over folds (the tutorial printed numpy's "
        f"population std).{quick_note}\n\n"
        f"The tutorial's column is what it printed for its {SUBSET_ROWS} samples ({TUTORIAL_CV_ROWS} of them in "
        "its CV); some of its "
        "code cells were lost in the PDF's extraction, so rungs 6–10 are rebuilt from the visible layer lines."
    )
    sections = [Section("The ladder, side by side", intro, tables=["ladder_side_by_side"])]
    for label, d, _ in datasets:
        part = ladder[ladder["data"] == label]
        name = f"ladder_{_safe(label)}"
        comp = frames["comparison"][frames["comparison"]["data"] == label]
        sections.append(Section(
            f"{label}: {len(d.y_train)} rows in the cross-validation",
            _verdict(part, frames["ladder_summary"].set_index("data").loc[label])
            + " " + comparison.verdict(comp) + " Bars: mean accuracy; lines: ± std over folds.",
            figures=[plots.bar_scores(frames[name], "model", "accuracy_mean", "accuracy_std",
                                      f"{label}: {ev['folds']}-fold CV accuracy per rung")],
            tables=[name],
        ))
    if len(datasets) > 1:
        text = _size_text(frames["ladder_summary"])
        sections.append(Section("What the data size changes", text, tables=["ladder_summary"]))
    ds = datasets[0][1]
    numeric = [c for c in ds.raw_features if c not in ds.categories]
    if len(numeric) >= 2:
        frame = ds.train_frame
        sections.append(Section(
            "The data",
            f"Pair plot of the {len(ds.y_train)} training rows of the {datasets[0][0]} data (KDE on the "
            "diagonal) and the Pearson correlation of the features (table `correlation` in results.json), as "
            "the tutorial drew them.",
            figures=[plots.pairplot(frame[numeric + [ds.target]].astype({ds.target: str}), ds.target),
                     plots.correlation(frame[numeric])],
        ))
    return sections


def _size_text(summary: pd.DataFrame) -> str:
    parts = [f"{r['data']}: best {r['best_model']} at {100 * r['best_accuracy_mean']:.1f}%, {r['rungs_worse']} of "
             f"{r['other_rungs']} other rungs significantly worse, mean std {100 * r['mean_accuracy_std']:.1f} points"
             for _, r in summary.iterrows()]
    small, full = summary.iloc[-1], summary.iloc[0]
    noise = (f"On the small set {small['rungs_tied']} of {small['other_rungs']} rungs cannot be told apart from its "
             "best: differences of the size the tutorial reads as progress are within that noise. "
             if small["rungs_tied"] > small["other_rungs"] / 2 else "")
    if not full["rungs_worse"]:
        noise += ("On the full table no rung is significantly worse than the best either: on these data the "
                  "architecture matters far less than the tutorial's step-by-step numbers suggest. ")
    return ("; ".join(parts) + f". With about {small['rows_per_fold']:.0f} rows per held-out fold, one misclassified "
            f"sample moves a fold's accuracy by {100 * small['one_sample_accuracy']:.0f} points, so fold scores "
            "scatter widely and the "
            f"corrected t-test needs large differences to call a rung worse. {noise}Rankings on the small set are "
            "fragile; the full table measures the same ladder far more precisely.")
