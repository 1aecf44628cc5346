"""The 2-D study's nets and its grid: the source's net family, the grid's arms on plans.

Every net of the study is `base_model` × `train_spec`: `depth` Dense(20, activation) layers,
one Dropout after the first (the source's "we add a Dropout layer"), one output unit; a
sigmoid output trains on binary cross-entropy, tanh / relu / elu outputs on MSE against the
0/1 labels; each optimizer at its Keras default learning rate. An experiment's arms train on
one plan per function (`Plan.cv`: 3 stratified folds; `repeats` fresh fold assignments are
the study's seeds) through `Plan.run`, so points that differ only in numeric settings (the
dropout rate) share a program, and whatever the fleet packs together it packs here.

The grid (`grid_search`): one arm per point of optimizer × activation × output activation ×
depth × dropout, named `adam/relu/sigmoid/5/0.2`. Every point is one structure to the
engine (optimizer, activations, loss, depth and dropout rate are member data), so a grid is
one fleet call per function, which the fleet splits into programs (for 50 epochs: one per
(depth, hidden activation) of 300 members) and trains two at a time; `--full`'s 2 000 points
run the same way. `benchmarks/grid_speed.py` times it against Keras `fit`.

Owns: the net family and the grid's arms; `synthetic2d` picks sizes.

Example:
    >>> from denselab.studies import s2d_grid
    >>> [a.name for a in s2d_grid.grid_arms({"optimizer": ("adam",), "activation": ("relu",),
    ...     "output_activation": ("sigmoid",), "depth": (5,), "dropout": (0.2,)}, 30, 0)]
    ['adam/relu/sigmoid/5/0.2']
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import numpy as np
import pandas as pd

from denselab import comparison
from denselab.models.build import head_for
from denselab.progress import phase
from denselab.report import synthetic2d_report as page
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.train.plan import Arm, Plan

N_DEFAULT = 4000
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "nadam")
ACTIVATIONS = OUTPUTS = ("sigmoid", "tanh", "relu", "elu")
DEPTHS, DROPOUTS = (5, 10, 15, 20, 25), (0.1, 0.2, 0.3, 0.4, 0.5)
LEARNING_RATES = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.001, "adam": 0.001, "nadam": 0.001}
FOLDS, EPOCHS, BATCH, BASE_DROPOUT, UNITS = 3, 50, 32, 0.2, 20  # 20 units per hidden layer, as in the source
GRID_KEYS = ("optimizer", "activation", "output_activation", "depth", "dropout")
FULL_GRID = dict(zip(GRID_KEYS, (OPTIMIZERS, ACTIVATIONS, OUTPUTS, DEPTHS, DROPOUTS)))


def data_spec(function: str, n: int, seed: int) -> DataSpec:
    """The rows of one labelling function: generated (f1/f2/f3) or the lcpb-2d file (its f1 labels)."""
    if function == "lcpb-2d":
        return DataSpec(source="lcpb-2d", target="f1", features=("x0", "x1"), test_size=0.0, seed=seed)
    return DataSpec(source=function, n=n, test_size=0.0, seed=seed)


def base_model(activation="relu", depth=2, dropout=BASE_DROPOUT, output_activation="sigmoid",
               initializer="glorot_uniform") -> ModelSpec:
    """`depth` Dense(UNITS, activation) layers, a Dropout(dropout) after the first, one output unit."""
    hidden = [LayerSpec(units=UNITS, activation=activation)]
    hidden += [LayerSpec(type="dropout", rate=dropout)] if dropout > 0 else []
    hidden += [LayerSpec(units=UNITS, activation=activation) for _ in range(depth - 1)]
    return ModelSpec(hidden=tuple(hidden), output_activation=output_activation, kernel_initializer=initializer)


def train_spec(optimizer="adam", output_activation="sigmoid", epochs=EPOCHS, learning_rate=None,
               **changes) -> TrainSpec:
    """Keras's default learning rate per optimizer (unless given); BCE for a sigmoid output, MSE otherwise."""
    loss = "binary_crossentropy" if output_activation == "sigmoid" else "mse"
    return TrainSpec(optimizer=optimizer, learning_rate=learning_rate or LEARNING_RATES[optimizer], epochs=epochs,
                     batch_size=BATCH, loss=loss, **changes)


def experiment(model: ModelSpec, train: TrainSpec, seed: int, repeats: int = 1) -> Experiment:
    """An arm's spec: FOLDS-fold stratified CV, `repeats` fold assignments (the study's seeds), the fleet."""
    return Experiment(data=data_spec("f1", N_DEFAULT, seed), model=model, train=train, seed=seed,
                      evaluate=EvalSpec(folds=FOLDS, seeds=1, repeats=repeats, engine="fleet"))


def run_arms(ds, arms: list, progress, name: str) -> tuple:
    """(plan, results): `arms` on the plan of one function's rows (`Plan.run`: one call per structure)."""
    plan = Plan.cv(arms[0].experiment, ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return plan, plan.run(arms, engine="fleet", progress=phase(progress, name))


def member_rows(results: list, **tag) -> pd.DataFrame:
    """One row per member of every arm: its parameters, split (the study's seed is its `repeat`), scores."""
    rows = []
    for r in results:
        for i, h in enumerate(r.histories):
            val = bool(h.get("val_loss"))
            rows.append({**tag, **r.params, "arm": r.name, "repeat": int(r.repeat[i]), "fold": int(r.fold[i]),
                         "seed": int(r.repeat[i]), "accuracy": float(r.scores[i]), "loss": float(r.losses[i]),
                         "val_loss_min": float(np.nanmin(h["val_loss"])) if val else np.nan,
                         "val_accuracy_max": float(np.nanmax(h[f"val_{r.head.metric}"])) if val else np.nan})
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame, by: list) -> pd.DataFrame:
    """Mean and sample std of accuracy and loss per group of member rows (`data` shown as `function`)."""
    return frame.groupby(by, sort=False).agg(
        accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"), loss_mean=("loss", "mean"),
        loss_std=("loss", "std"), val_loss_min=("val_loss_min", "mean"),
        val_accuracy_max=("val_accuracy_max", "mean"), members=("accuracy", "size"),
    ).reset_index().rename(columns={"data": "function"})


def _name(point) -> str:
    return "/".join(str(v) for v in point)


def grid_arms(grid: dict, epochs: int, seed: int, initializer: str = "glorot_uniform") -> list[Arm]:
    """One arm per grid point, named `optimizer/activation/output/depth/dropout`."""
    arms = []
    for point in itertools.product(*(grid[k] for k in GRID_KEYS)):
        opt, act, out, depth, dropout = point
        exp = experiment(base_model(act, depth, dropout, out, initializer), train_spec(opt, out, epochs), seed)
        arms.append(Arm(_name(point), exp, dict(zip(GRID_KEYS, point))))
    return arms


def grid_runs(grid, datasets, epochs, seed, progress=None, initializer="glorot_uniform") -> dict:
    """{function: (plan, results, arms)}: every grid point on each function's plan."""
    arms = grid_arms(grid, epochs, seed, initializer)
    return {f: (*run_arms(ds, arms, progress, f"grid {initializer} {f}"), arms) for f, ds in datasets}


def grid_tables(runs: dict, keep_weights: bool) -> tuple:
    """(summary per point and function, member rows, each function's map net, engine calls) of `grid_runs`."""
    per_member = pd.concat([member_rows(results, data=f) for f, (_, results, _) in runs.items()], ignore_index=True)
    table = summary(per_member, ["data", *GRID_KEYS])
    best = {row.function: page.boundary_net(arm_of(runs[row.function][1], row), row.function)
            for row in best_per_function(table).itertuples()} if keep_weights else {}
    timings = pd.concat([page.engine_calls(f, plan, arms, results) for f, (plan, results, arms) in runs.items()],
                        ignore_index=True)
    return table, per_member, best, timings


def arm_of(results: list, row):
    """The result of the arm at a table row's grid point."""
    return next(r for r in results if r.name == _name(getattr(row, k) for k in GRID_KEYS))


def best_per_function(table: pd.DataFrame) -> pd.DataFrame:
    order = table.sort_values(["function", "accuracy_mean"], ascending=[True, False], kind="stable")
    return order.groupby("function", sort=False).head(1).reset_index(drop=True)


def grid_search(grid: dict, datasets: list, epochs: int, seed: int, progress=None, keep_weights=False,
                initializer: str = "glorot_uniform") -> tuple:
    """`grid_tables` of `grid_runs`: the map nets (`keep_weights`) are `synthetic2d_report.boundary_net`s."""
    return grid_tables(grid_runs(grid, datasets, epochs, seed, progress, initializer), keep_weights)


def versus_baselines(runs: dict, grid_best: pd.DataFrame) -> pd.DataFrame:
    """Per function, its `grid_best` point beside the baselines on the same plan (folds, scaling), tested."""
    out = []
    for row in grid_best.itertuples():
        plan, results, _ = runs[row.function]
        best = arm_of(results, row)
        table = comparison.table(plan, [best], comparison.score_baselines(plan))[list(comparison.COLUMNS)]
        table["name"] = table["name"].where(table["kind"] != "network", f"best: {best.name}")
        out.append(table.assign(verdict=comparison.verdict(table), function=row.function))
    return pd.concat(out, ignore_index=True)


def _cv_members(exp, datasets, n_seeds=1):
    """(head, members) of `exp` on each function's plan (`benchmarks/grid_speed.py`'s `fit` side)."""
    members = []
    for label, ds in datasets:
        head = head_for(ds.task, ds.n_targets, exp.model, exp.train)
        plan = Plan.cv(exp.replace(evaluate=dataclasses.replace(exp.evaluate, repeats=n_seeds)), ds)
        members += plan.members(exp, head, tag={"data": label})
    return head, members
