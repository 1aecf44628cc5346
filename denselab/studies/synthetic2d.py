"""The 2-D seed study: binary classification of points in [-50, 50]² by f1, f2, f3 and lcpb-2d.

Prodan et al. (2022, "A study on Deep Neural Networks using Keras") train Dense 20 → Dropout →
Dense 20 → 1 sigmoid (Adam, batch 32, binary cross-entropy) on uniform 2-D points labelled by
three functions. Each experiment here is a set of arms on one plan per function (same folds,
same member seeds): `curves`; `samples` (N = 250 … 8000 generated rows: separate data sets, not
the fraction arms of `analyses.samples`); `augmentation` (10 % / 20 % noisy copies, σ ∈ {1, 2, 3}
in data units, not `analyses.noise`'s std units); `initializers` (`analyses.initializers`' arms);
`grid` (one arm per optimizer × activation × output activation × depth × dropout point, named
e.g. `adam/relu/sigmoid/5/0.2`, run by `Plan.run`; the decision maps are fold nets of each
function's `grid_best` point).

Decisions (each a departure from, or a reading of, the source):

- Every number is 3-fold CV on the N generated rows; std is ddof 1; the initializer table's
  seeds are fresh fold assignments (`evaluate.repeats`).
- Sigmoid output → binary cross-entropy; tanh, relu, elu → MSE on the 0/1 labels (cross-entropy
  is undefined on their ranges). Learning rates: each optimizer's Keras default.
- The initializer table trains to convergence (`INIT_*`: no Dropout, Adam 2e-3, 400 epochs): at
  the base settings f2 stayed at 0.68-0.74 for every random initializer and Dropout 0.2 kept it
  at 0.82-0.87 after 300-600 epochs (measured), so the table measured the training budget.
- The grid uses glorot-uniform kernels (the source's zero kernels keep every net at chance, its
  own Table III); the zero-kernel grid is shown beside it. The default run evaluates
  `DEFAULT_GRID`; `--full` the 2 000-point `FULL_GRID`, the same way (`grid_runs`).

Owns: the sizes and the experiments' arms. The nets and the grid are `s2d_grid`'s (its names are
re-exported here), plans and tables the comparison core's, findings `s2d_findings`', figures and
the page `report/synthetic2d_report.py`'s.

Example:
    >>> from denselab.studies import synthetic2d
    >>> results = synthetic2d.run("runs/s2d-quick", quick=True)    # doctest: +SKIP
    >>> sorted(results["tables"])[:2]                               # doctest: +SKIP
    ['augmentation', 'curves']
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

from denselab import analyses
from denselab.data.prepare import load_dataset
from denselab.errors import DataError
from denselab.report import synthetic2d_report as page
from denselab.studies import findings as fnd
from denselab.studies import s2d_findings
from denselab.studies.s2d_grid import (  # noqa: F401  (some re-exported for tests)
    BASE_DROPOUT, BATCH, DROPOUTS, EPOCHS, FOLDS, FULL_GRID, LEARNING_RATES, N_DEFAULT, UNITS, base_model,
    best_per_function, data_spec, experiment, grid_runs, grid_search, grid_tables, member_rows, run_arms, summary,
    train_spec, versus_baselines)
from denselab.train.plan import Arm
from denselab.workflow import Laps, manifest

FUNCTIONS = ("f1", "f2", "f3", "lcpb-2d")
GENERATED = ("f1", "f2", "f3")  # functions whose N can be chosen (lcpb-2d is a fixed 4000-row file)
SAMPLES = (250, 500, 1000, 2000, 4000, 8000)
AUG_FRACTIONS, AUG_SIGMAS = (0.1, 0.2), (1.0, 2.0, 3.0)
AUG_N = 500  # at N = 4000 every variant scored the base net's ceiling (99.1-99.3 %): it measured nothing
INITIALIZERS = ("zeros", "ones", "random_uniform", "random_normal", "truncated_normal", "orthogonal")
DOMAIN = (-50.0, 50.0)  # of each coordinate (data/synthetic.py), shown on the page
INIT_EPOCHS, INIT_LEARNING_RATE, INIT_DROPOUT, INIT_SEEDS = 400, 0.002, 0.0, 2  # see "Decisions"
NEAR_CHANCE = 0.05  # report.diagnosis's margin: "not learned" = within 5 points of the majority class
# The default subset: the source's winners (SGD, Adam; sigmoid, relu) plus tanh, the natural sigmoid output,
# the shallowest and a middle depth, every dropout rate (the full grid does not fit the default run's minutes).
DEFAULT_GRID = {"optimizer": ("sgd", "adam"), "activation": ("sigmoid", "tanh", "relu"),
                "output_activation": ("sigmoid",), "depth": (5, 15), "dropout": DROPOUTS}
GRID_EPOCHS = 30
QUICK_GRID = {"optimizer": ("adam",), "activation": ("relu", "tanh"), "output_activation": ("sigmoid", "tanh"),
              "depth": (5,), "dropout": (0.1, 0.3)}
DEFAULT = {"n": N_DEFAULT, "samples": SAMPLES, "epochs": EPOCHS, "seeds": INIT_SEEDS, "sigmas": AUG_SIGMAS,
           "functions": FUNCTIONS, "initializers": INITIALIZERS, "aug_n": AUG_N, "init_epochs": INIT_EPOCHS,
           "grid": DEFAULT_GRID, "grid_epochs": GRID_EPOCHS}
QUICK = {"n": 600, "samples": (250, 600), "epochs": 4, "seeds": 1, "sigmas": (1.0, 3.0), "functions": ("f1", "f3"),
         "initializers": ("zeros", "random_normal"), "aug_n": 600, "init_epochs": 4, "grid": QUICK_GRID,
         "grid_epochs": 4}


def _data(function, n, seed):
    return load_dataset(data_spec(function, n, seed), seed)


def _with_members(table: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    table.attrs["members"] = members  # per-member scores for the findings' tests (pandas' metadata dict)
    return table


def _majority(ds) -> float:
    return float(max(np.mean(ds.y_train), 1 - np.mean(ds.y_train)))


def curves(datasets, epochs, seed, progress=None):
    """(per-epoch rows, histories per function, summary) of the source's net on every function."""
    arm = Arm("base", experiment(base_model(), train_spec(epochs=epochs), seed))
    results = {f: run_arms(ds, [arm], progress, f"curves {f}")[1][0] for f, ds in datasets}
    rows = [{"function": f, "fold": int(k), "epoch": e + 1, **{key: v[e] for key, v in h.items()}}
            for f, r in results.items() for k, h in zip(r.fold, r.histories) for e in range(len(h["loss"]))]
    members = pd.concat([member_rows([r], data=f) for f, r in results.items()], ignore_index=True)
    return pd.DataFrame(rows), {f: r.histories for f, r in results.items()}, summary(members, ["data"])


def samples(functions, sizes, epochs, seed, progress=None):
    """Accuracy and loss vs N: the base net on each function's N generated rows (not paired across N)."""
    arm = Arm("base", experiment(base_model(), train_spec(epochs=epochs), seed))
    members = pd.concat([member_rows(run_arms(_data(f, n, seed), [arm], progress, f"samples {f} N={n}")[1],
                                     data=f, n=n) for n in sizes for f in functions], ignore_index=True)
    return _with_members(summary(members, ["data", "n"]), members)


def augmentation(n, epochs, seed, sigmas=AUG_SIGMAS, fractions=AUG_FRACTIONS, progress=None):
    """f1 with 0 / 10 % / 20 % noisy copies (σ in data units): every variant an arm of one plan."""
    arms = [Arm(f"{frac:g} σ {sigma:g}", experiment(base_model(), train_spec(
        epochs=epochs, noise_fraction=frac, noise_sigma=sigma), seed), {"fraction": frac, "sigma": sigma})
        for frac, sigma in [(0.0, 0.0), *itertools.product(fractions, sigmas)]]
    members = member_rows(run_arms(_data("f1", n, seed), arms, progress, "augmentation")[1], data="f1")
    return _with_members(summary(members, ["fraction", "sigma"]).assign(n=n), members)


def initializers(datasets, epochs, n_seeds, seed, names=INITIALIZERS, progress=None):
    """`analyses.initializers`' arms named in `names`, trained as `INIT_*` says, with each function's
    chance level (`majority_rate`) and whether the net learned (above it by more than NEAR_CHANCE)."""
    base = experiment(base_model(dropout=INIT_DROPOUT), train_spec(epochs=epochs, learning_rate=INIT_LEARNING_RATE),
                      seed, repeats=n_seeds)
    arms = sorted((a for a in analyses.arms_of("initializers", base) if a.name in names),
                  key=lambda a: names.index(a.name))
    members = pd.concat([member_rows(run_arms(ds, arms, progress, f"initializers {f}")[1], data=f)
                         for f, ds in datasets], ignore_index=True)
    table = summary(members, ["data", "initializer"])
    table["majority_rate"] = table["function"].map({f: _majority(ds) for f, ds in datasets})
    table["learned"] = table["accuracy_mean"] > table["majority_rate"] + NEAR_CHANCE
    return _with_members(table, members)


def run(out, *, data=None, target=None, quick: bool = False, full: bool = False, seed: int = 0,
        progress=None) -> dict:
    """Run every experiment and write `out/report.html`, `results.json` and one CSV per table.

    Args:
        out: the report folder (must not exist yet, or be empty).
        data, target: not used: the study generates its own data (giving them is an error).
        quick: `QUICK` sizes (small N, few epochs, an 8-point grid on two functions): a smoke run of the page.
        full: the whole `FULL_GRID` (2 000 points × 4 functions × 3 folds, `EPOCHS` epochs), glorot and
            zero kernels: about 8 × the f1 grid's `benchmarks/grid_speed.py` minutes on 2 CPU cores.
        seed: root seed of points, folds, initial weights, shuffles, dropout and noise.
        progress: callback(done_epochs, total_epochs, phase).
    """
    if data is not None or target is not None:
        raise DataError("synthetic2d: the study generates its own 2-D data (f1, f2, f3, lcpb-2d); "
                        "drop --data/--target, or run `denselab run` on your data")
    started = time.perf_counter()
    s = {**(QUICK if quick else DEFAULT), **({"grid": FULL_GRID, "grid_epochs": EPOCHS} if full else {})}
    lap = Laps()

    datasets = [(f, _data(f, s["n"], seed)) for f in s["functions"]]
    curve_rows, hist, curve_summary = curves(datasets, s["epochs"], seed, progress)
    lap("curves_s")
    samples_table = samples([f for f in s["functions"] if f in GENERATED], s["samples"], s["epochs"], seed, progress)
    lap("samples_s")
    aug = augmentation(s["aug_n"], s["epochs"], seed, s["sigmas"], progress=progress)
    lap("augmentation_s")
    inits = initializers(datasets, s["init_epochs"], s["seeds"], seed, s["initializers"], progress)
    lap("initializers_s")
    runs = grid_runs(s["grid"], datasets, s["grid_epochs"], seed, progress)
    grid_table, grid_members, best, grid_timing = grid_tables(runs, keep_weights=True)
    _with_members(grid_table, grid_members)
    lap("grid_s")
    zeros_table = grid_search(s["grid"], datasets, s["grid_epochs"], seed, progress, initializer="zeros")[0]
    zeros_table["majority_rate"] = zeros_table["function"].map({f: _majority(ds) for f, ds in datasets})
    lap("grid_zeros_s")
    grid_best, zeros_best = best_per_function(grid_table), best_per_function(zeros_table)
    found = s2d_findings.findings(samples_table, aug, inits, grid_table, zeros_best)
    frames = {"findings": fnd.frame(found), "findings_numbers": fnd.numbers(found),
              "curves": curve_rows, "curves_summary": curve_summary, "samples": samples_table,
              "augmentation": aug, "initializers": inits, "grid": grid_table, "grid_best": grid_best,
              "grid_timing": grid_timing, "initializers_source": pd.DataFrame(s2d_findings.SOURCE_TABLE_III),
              "grid_boundary_nets": pd.DataFrame([b["row"] for b in best.values()]),
              "grid_zeros_best": zeros_best, "grid_source": pd.DataFrame(s2d_findings.SOURCE_TABLE_II)}
    frames["grid_vs_baselines"] = versus_baselines(runs, grid_best)
    results = {
        "name": "synthetic2d", "study": "synthetic2d", "quick": quick, "full": full,
        "settings": {"n": s["n"], "epochs": s["epochs"], "grid_epochs": s["grid_epochs"], "folds": FOLDS,
                     "batch_size": BATCH, "functions": list(s["functions"]),
                     "grid": {k: list(v) for k, v in s["grid"].items()},
                     "grid_points": int(np.prod([len(v) for v in s["grid"].values()])),
                     "full_grid_points": int(np.prod([len(v) for v in FULL_GRID.values()])),
                     "grid_engine": "fleet", "learning_rates": LEARNING_RATES,
                     "base_dropout": BASE_DROPOUT, "units": UNITS, "domain": list(DOMAIN),
                     "initializers": {"epochs": s["init_epochs"], "learning_rate": INIT_LEARNING_RATE,
                                      "dropout": INIT_DROPOUT, "seeds": s["seeds"]}},
        "manifest": manifest(seed), "rules": fnd.RULE_NUMBERS, "aug_n": s["aug_n"], "near_chance": NEAR_CHANCE,
        "aug_ceiling": {"n": N_DEFAULT, "measured": [0.991, 0.993]},  # Table I at N = 4000 (page text)
        "findings_counts": fnd.counts(frames["findings"]),
    }
    sections = page.sections(results, frames, hist, best, datasets, quick)
    timing = {**lap.seconds, "wall_s": time.perf_counter() - started}
    results["timing"] = timing
    results["tables"] = {name: f.to_dict(orient="records") for name, f in frames.items()}
    page.write(Path(out), sections, results, frames)
    return results
