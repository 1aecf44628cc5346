"""The rock tutorial's architecture ladder, as published and done carefully, on the real data.

Dell'Aversana (2020) classifies 5 rock types from 10 oxides and climbs a ladder of
dense networks, each scored by 10-fold CV (batch 5, Adam, categorical cross-entropy):
one hidden layer of 20 → 2, 3 layers → 100 epochs → 4 layers → wider layers →
sigmoid instead of relu → a mixed sigmoid/relu net, 46 % → 83 % and down again.

Every rung runs twice on one plan (same folds, same member seeds, so all scores are
paired): *as published* (raw oxide percentages, `data.scaling: none`, the tutorial's
epochs and batch) and *careful* (features standardised on each fold's training rows,
otherwise the same). The findings table says whether the climb and the drops appear,
and whether they survive scaling, by the corrected t-test (`studies/findings.py`).

Data: the bundled `rocks` table (1178 samples of the Mamani et al. 2010 data the
tutorial's 106 came from) and a 106-row stratified subset with the tutorial's 30 %
test split (74 rows in its CV). `--data FILE --target COLUMN` runs the ladder on any
classification table (full data only). Std is the sample std (ddof 1; the tutorial
printed numpy's ddof 0).

Owns: the rungs (`RUNGS`), the two variants, the subset and the findings; the plan,
tables, tests, figures and page come from the shared modules (`report/rocks_report.py`).

Example:
    >>> from denselab.studies import rocks
    >>> results = rocks.run("runs/rocks-quick", quick=True)     # doctest: +SKIP
    >>> results["tables"]["findings"][0]["verdict"]             # doctest: +SKIP
    'holds'
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

from denselab import comparison
from denselab.data.prepare import load_dataset
from denselab.data.sources import read_table
from denselab.errors import DataError
from denselab.progress import phase
from denselab.report import rocks_report
from denselab.spec import DataSpec, LayerSpec, ModelSpec, load
from denselab.stats import ALPHA
from denselab.studies import findings as fnd
from denselab.train.plan import Arm, Plan
from denselab.workflow import manifest

SUBSET_ROWS = 106  # the tutorial's data set: 106 samples (its `df_rock.shape` is (107, 13) with the header)
SUBSET_TEST_SIZE = 0.3  # the tutorial's train_test_split(test_size=0.3): 74 rows enter its 10-fold CV
TUTORIAL_CV_ROWS = 74
QUICK_RUNGS = (0, 5)  # 20 relu; 20-100 relu: one layer, then two wider ones
QUICK_EPOCHS = 3
QUICK_FOLDS = 3
# the two ways every rung is trained: (label, data.scaling, what it means)
VARIANTS = (("as published", "none", "raw oxide percentages, as the tutorial fed them"),
            ("careful", "standard", "features standardised on each fold's training rows"))


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
TOP = "20-100-100 relu"  # the tutorial's best rung (83.39 %)


def run(out, *, data=None, target=None, quick: bool = False, seed: int = 0, progress=None) -> dict:
    """Run the ladder (both variants) and write `out/report.html`, `results.json` and the CSVs.

    Args:
        out: the report folder (must not exist yet, or be empty).
        data: a csv/xlsx path (or a DataFrame) instead of the bundled rocks table.
        target: the class column of `data` (required with `data`).
        quick: 2 rungs, 3 epochs, 3 folds: a smoke run of the whole report.
        seed: root seed: folds, initial weights and the subset's rows.
        progress: callback(done_epochs, total_epochs, phase), one phase per data set.
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
    datasets = [("full", ds, base)] + ([_subset(base, seed)] if data is None else [])

    ladders, folds, comps, found = [], [], [], []
    for label, d, exp in datasets:
        table, fold_rows, comp, plan, results = _ladder(label, d, exp, rungs, quick, progress)
        ladders.append(table)
        folds += fold_rows
        comps.append(comp)
        found += _findings(label, plan, results, rungs, subset=label != "full")
    ladder = pd.concat(ladders, ignore_index=True)
    table_frame, _ = read_table(base.data, frame)
    found = _ordered(found)
    frames = {"findings": fnd.frame(found), "findings_numbers": fnd.numbers(found), "ladder": ladder,
              "ladder_side_by_side": rocks_report.side_by_side(ladder, SUBSET_ROWS),
              "ladder_folds": pd.DataFrame(folds), "comparison": pd.concat(comps, ignore_index=True),
              "ladder_summary": _summary(ladder, base.evaluate.folds),
              "data_preview": table_frame[list(ds.raw_features) + [ds.target]].head(),
              "class_counts": _class_counts(table_frame[ds.target], datasets)}
    numeric = [c for c in ds.raw_features if c not in ds.categories]
    if len(numeric) >= 2:  # the heat map's numbers
        frames["correlation"] = ds.train_frame[numeric].corr(method="pearson").reset_index(names="feature")
    results = {
        "name": "rocks", "study": "rocks", "quick": quick,
        "data": [{"data": label, "source": exp.data.source, "target": d.target, "rows_train": int(len(d.y_train)),
                  "rows_test_unused": int(len(d.y_test)), "features": d.feature_names,
                  "classes": list(map(str, d.classes)), "class_counts": np.bincount(d.y_train).tolist()}
                 for label, d, exp in datasets],
        "table_shape": list(table_frame[list(ds.raw_features) + [ds.target]].shape),
        "tutorial": {"rows": SUBSET_ROWS, "test_size": SUBSET_TEST_SIZE, "rows_cv": TUTORIAL_CV_ROWS},
        "evaluate": {"folds": base.evaluate.folds, "seeds": base.evaluate.seeds, "batch_size": base.train.batch_size,
                     "optimizer": base.train.optimizer, "alpha": ALPHA},
        "variants": [{"variant": v, "scaling": s, "meaning": m} for v, s, m in VARIANTS],
        "quick_rungs": len(QUICK_RUNGS), "quick_epochs": QUICK_EPOCHS, "quick_folds": QUICK_FOLDS,
        "rules": fnd.RULE_NUMBERS, "findings_counts": fnd.counts(frames["findings"]), "spec_yaml": base.to_yaml(), "manifest": manifest(seed),
    }
    sections = rocks_report.sections(results, frames, datasets, quick)
    results["timing"] = {"wall_s": time.perf_counter() - started}
    results["tables"] = {name: f.to_dict(orient="records") for name, f in frames.items()}
    rocks_report.write(Path(out), sections, results, frames)
    return results


def _subset(base, seed):
    """The tutorial-sized data: SUBSET_ROWS rows stratified by class, 30 % of them held out."""
    frame, target = read_table(base.data)
    rows, _ = train_test_split(frame, train_size=SUBSET_ROWS, stratify=frame[target], random_state=seed)
    spec = dataclasses.replace(base.data, test_size=SUBSET_TEST_SIZE, target=target)
    return f"subset-{SUBSET_ROWS}", load_dataset(spec, seed, rows.reset_index(drop=True)), base.replace(data=spec)


def arm_name(rung: str, variant: str) -> str:
    return f"{rung} · {variant}"


def _ladder(label, ds, base, rungs, quick, progress):
    """Every rung × variant as an arm of one plan (same folds, same member seeds)."""
    arms = []
    for variant, scaling, _ in VARIANTS:
        for rung in rungs:
            hidden = tuple(LayerSpec(units=u, activation=a) for u, a in rung.layers)
            epochs = min(rung.epochs, QUICK_EPOCHS) if quick else rung.epochs
            exp = base.replace(model=ModelSpec(hidden=hidden), train=dataclasses.replace(base.train, epochs=epochs),
                               data=dataclasses.replace(base.data, scaling=scaling))
            arms.append(Arm(arm_name(rung.model, variant), exp, {"variant": variant, "rung": rung.model,
                                                                   "epochs": epochs, "scaling": scaling}))
    plan = Plan.cv(base, ds)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # a 2-row class in 10 folds: sklearn warns, the split is still valid
        warnings.filterwarnings("ignore", message="The least populated class")
        cvs = plan.run(arms, progress=phase(progress, f"{label}: {len(arms)} arms"))
        baselines = comparison.score_baselines(plan)
    seconds = (time.perf_counter() - t0) / len(arms)
    comp = comparison.table(plan, cvs, baselines).assign(data=label)
    results = dict(zip([a.name for a in arms], cvs))
    rows, fold_rows = [], []
    for variant, _, _ in VARIANTS:  # each variant's rungs against its own best rung
        mine = [results[arm_name(r.model, variant)] for r in rungs]
        own = comparison.table(plan, mine).set_index("name")
        best = own.index[0]
        for i, (rung, cv) in enumerate(zip(rungs, mine)):
            row = own.loc[cv.name]
            rows.append({"data": label, "variant": variant, "rung": i + 1, "model": rung.model,
                         "epochs": cv.params["epochs"], "seconds": seconds, "engine": cv.engine,
                         "accuracy_mean": row["mean"], "accuracy_std": row["std"], "n": row["n"],
                         "ci95_low": row["ci_low"], "ci95_high": row["ci_high"], "diff_vs_best": row["diff_vs_best"],
                         # the best rung compared with itself: identical scores, p = 1
                         "p_value_vs_best": 1.0 if cv.name == best else row["p_vs_best"],
                         "p_holm": 1.0 if cv.name == best else row["p_holm"],
                         "differs_from_best": not row["tied_with_best"], "is_best": cv.name == best,
                         "n_params": row["n_params"], "diverged": row["diverged"], "collapsed": row["collapsed"],
                         "rows_cv": len(ds.y_train), "tutorial_accuracy_mean": rung.tutorial_mean,
                         "tutorial_accuracy_std": rung.tutorial_std})
            fold_rows += [{"data": label, "variant": variant, "model": rung.model, "seed": int(s), "fold": int(f),
                           "accuracy": float(a)} for s, f, a in zip(cv.seed, cv.fold, cv.scores)]
    return pd.DataFrame(rows), fold_rows, comp, plan, results


def _findings(label, plan, results, rungs, subset: bool) -> list:
    """The tutorial's claims on one data set, per variant (see `findings.higher` for the rule)."""
    names = [r.model for r in rungs]
    top = TOP if TOP in names else [n for n in names if n.endswith("relu")][-1]
    where = f"{label} ({len(plan.dataset.y_train)} CV rows)"
    out = []

    def claim(kind, variant, a, b, source):
        if a not in names or b not in names:
            out.append((kind, fnd.Finding(source, f"{where}, {variant}", fnd.UNTESTABLE,
                                          f"this run did not train `{a if a not in names else b}` (quick run)")))
            return
        ra, rb = results[arm_name(a, variant)], results[arm_name(b, variant)]
        verdict, evidence, got = fnd.higher(comparison.table(plan, [ra, rb]), ra.name, rb.name)
        out.append((kind, fnd.Finding(source, f"{where}, {variant}: {a} vs {b}", verdict, evidence, got)))

    first = rungs[0]
    for variant, _, _ in VARIANTS:
        tut = next(r for r in RUNGS if r.model == top)
        claim(0, variant, top, first.model, f"The ladder climbs: {first.model} {fnd.pct(first.tutorial_mean)} → "
              f"{top} {fnd.pct(tut.tutorial_mean)} (tutorial, 106 rows, raw oxides)")
    for variant, _, _ in (VARIANTS if subset else VARIANTS[1:]):
        claim(1, variant, TOP, "20-100-100 sigmoid", "Sigmoid instead of relu drops: 20-100-100 sigmoid 71.8 % "
              "vs relu 83.4 % (tutorial)")
        claim(2, variant, TOP, RUNGS[-1].model, f"The mixed sigmoid/relu net drops: {fnd.pct(RUNGS[-1].tutorial_mean)}"
              f" vs {fnd.pct(RUNGS[6].tutorial_mean)} (tutorial)")
    if subset:  # the tutorial's own setting: does its best score fall in our interval?
        rung = next(r for r in RUNGS if r.model == top)
        row = comparison.table(plan, [results[arm_name(top, VARIANTS[0][0])]]).iloc[0]
        inside = row["ci_low"] <= rung.tutorial_mean <= row["ci_high"]
        out.append((3, fnd.Finding(f"{top} reaches {fnd.pct(rung.tutorial_mean)} (tutorial, 106 rows, raw)",
                                   f"{where}, as published: {top}",
                                   fnd.HOLDS if inside else fnd.FAILS,
                                   f"ours {fnd.interval(row)}: the tutorial's {fnd.pct(rung.tutorial_mean)} is "
                                   f"{'inside' if inside else 'outside'} the 95 % interval",
                                   {"rule": "inside", "value": rung.tutorial_mean, "ci_low": row["ci_low"],
                                    "ci_high": row["ci_high"]})))
    return out


def _ordered(found: list) -> list:
    """Findings grouped by claim (climb, sigmoid, mixed, reproduced), data sets in run order within each."""
    return [f for _, f in sorted(found, key=lambda kf: kf[0])]


def _class_counts(labels: pd.Series, datasets) -> pd.DataFrame:
    """Rows per class in the table and in each data set's CV rows (the tutorial printed its counts)."""
    out = labels.astype(str).value_counts().rename_axis("class").reset_index(name="rows in the table")
    for label, d, _ in datasets:
        counts = pd.Series(np.bincount(d.y_train, minlength=len(d.classes)), index=list(map(str, d.classes)))
        out[f"{label}: CV rows"] = out["class"].map(counts).fillna(0).astype(int)
    return out


def _summary(ladder: pd.DataFrame, folds: int) -> pd.DataFrame:
    """Per data set and variant, the numbers the page's text quotes: the best rung, how many differ."""
    rows = []
    for (label, variant), part in ladder.groupby(["data", "variant"], sort=False):
        best = part[part["is_best"]].iloc[0]
        rows_per_fold = part["rows_cv"].iloc[0] / folds
        rows.append({"data": label, "variant": variant, "best_model": best["model"],
                     "best_accuracy_mean": best["accuracy_mean"], "best_accuracy_std": best["accuracy_std"],
                     "spread": part["accuracy_mean"].max() - part["accuracy_mean"].min(),
                     "other_rungs": len(part) - 1, "rungs_worse": int(part["differs_from_best"].sum()),
                     "mean_accuracy_std": part["accuracy_std"].mean(), "rows_per_fold": rows_per_fold,
                     # one misclassified sample moves a fold's accuracy by this much
                     "one_sample_accuracy": 1 / rows_per_fold, "collapsed": int(part["collapsed"].sum())})
    return pd.DataFrame(rows)
