"""The lecture's three topologies (dense, convolutional, recurrent), each net with several seeds.

The catalogue study's `topologies` table: MLP vs CNN on scikit-learn's 8×8 `digits`,
SimpleRNN / LSTM / GRU on digits read row by row (8 steps of 8 pixels) and on the yearly
`sunspots` series (the previous 11 years → the next, one-step-ahead regression). Each
net trains `TOPOLOGY_SEEDS` times (initial weights, shuffles, dropout) on one holdout split
(`Plan.holdout` with `evaluate.seeds`), so the comparison table (`denselab.comparison`)
gives mean, sample std, n and a 95 % t-interval over the seeds:

- digits: 20 % stratified test rows, beside scikit-learn baselines on the same rows;
- sunspots: trained on 1711–1948, tested on the last 60 years (1949–2008), a chronological
  split with no shuffling across time. The target is standardised with the training years'
  mean and std for training; mse and rmse are in sunspot numbers, beside the persistence
  forecast (next = last year).

Owns: the networks, the splits (`sunspots_dataset`, table `topology_data`) and the table.

Example:
    >>> table, _ = topologies(0, digits_epochs=2, sunspot_epochs=2, rnns=("gru",), n_seeds=2)  # doctest: +SKIP
    >>> sorted(set(table["metric"]))                                                       # doctest: +SKIP
    ['accuracy', 'mse', 'rmse']
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from denselab import comparison
from denselab.data.prepare import load_dataset
from denselab.progress import phase
from denselab.report.catalogue_report import mean_curve
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.train.plan import Arm, Plan

TOPOLOGY_SEEDS = 3
BASELINES = ("majority", "logistic_regression", "random_forest")  # digits; sunspots: persistence
BATCH, DIGITS_EPOCHS, SUNSPOT_EPOCHS, SUNSPOT_LR = 32, 20, 150, 0.003
SUNSPOT_TEST_YEARS = 60
SUNSPOT_FIRST_YEAR = 1700  # statsmodels' yearly series runs 1700-2008
RNN_UNITS = 32
RNNS = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
MLP_DIGITS = (LayerSpec(units=128, activation="relu", dropout=0.2), LayerSpec(units=64, activation="relu"))
CNN_DIGITS = (  # the brief's: ≥ 97 % test accuracy on digits
    LayerSpec(type="conv2d", filters=32, kernel_size=3, activation="relu"), LayerSpec(type="maxpool2d", pool_size=2),
    LayerSpec(type="conv2d", filters=64, kernel_size=3, activation="relu"), LayerSpec(type="flatten"),
    LayerSpec(units=64, activation="relu", dropout=0.3))
MLP_SUNSPOTS = (LayerSpec(units=32, activation="relu"), LayerSpec(units=16, activation="relu"))


def sunspots_dataset(seed: int, test_years: int = SUNSPOT_TEST_YEARS):
    """The `sunspots` windows split in time: the last `test_years` rows are the test rows."""
    ds = load_dataset(DataSpec(source="sunspots", test_size=0.0), seed)
    x, y = ds.x_train, ds.y_train
    return dataclasses.replace(ds, x_train=x[:-test_years], y_train=y[:-test_years], x_test=x[-test_years:],
                               y_test=y[-test_years:])


def topology_data(seed) -> pd.DataFrame:
    """The holdout splits: rows, and for sunspots the years of each side."""
    digits, sun = load_dataset(DataSpec(source="digits"), seed), sunspots_dataset(seed)
    first = SUNSPOT_FIRST_YEAR + len(sun.feature_names)  # the first year with a full window of lags
    last_train = first + len(sun.y_train) - 1
    return pd.DataFrame([
        {"data": "digits", "rows": len(digits.y_train) + len(digits.y_test), "rows_train": len(digits.y_train),
         "rows_test": len(digits.y_test), "test_fraction": DataSpec(source="digits").test_size},
        {"data": "sunspots", "rows": len(sun.y_train) + len(sun.y_test), "rows_train": len(sun.y_train),
         "rows_test": len(sun.y_test), "lags": len(sun.feature_names), "first_year": SUNSPOT_FIRST_YEAR,
         "first_train_year": first, "last_train_year": last_train, "first_test_year": last_train + 1,
         "last_year": last_train + len(sun.y_test)}])


def _holdout(ds, seed: int, n_seeds: int, nets: list, progress, name: str, **train) -> tuple:
    """(plan, results): every (name, input, model) of `nets` on one holdout split, `n_seeds` seeds each."""
    base = Experiment(data=DataSpec(source=name), seed=seed, train=TrainSpec(batch_size=BATCH, **train),
                      evaluate=EvalSpec(seeds=n_seeds, engine="fleet"))
    plan = Plan.holdout(base, ds)
    return plan, plan.run([Arm(label, base.replace(model=model), {"input": seen}) for label, seen, model in nets],
                          progress=phase(progress, f"topologies · {name}"))


def _facts(frame: pd.DataFrame, results: list, data: str, seen: str) -> pd.DataFrame:
    """The data set first; each net's training seconds (compile included) and its input; baselines' input."""
    seconds = {r.name: r.compile_s + r.run_s for r in results}
    frame = frame.assign(seconds=frame["name"].map(seconds)).fillna({"input": seen})
    frame.insert(0, "data", data)
    return frame


def topologies(seed: int, digits_epochs: int, sunspot_epochs: int, rnns, n_seeds: int, progress=None) -> tuple:
    """(table, curves): the comparison tables of digits (accuracy) and sunspots (mse, rmse), concatenated;
    `{(data, net): test-row curve per epoch, mean over seeds}`."""
    digits = load_dataset(DataSpec(source="digits"), seed)
    nets = [("MLP 128-64", "64 pixels", ModelSpec(hidden=MLP_DIGITS)),
            ("CNN 32c3-pool-64c3-64", "8×8×1 image", ModelSpec(hidden=CNN_DIGITS, input_shape=(8, 8, 1)))]
    nets += [(f"{RNNS[r]} {RNN_UNITS}", "8 rows × 8 pixels",
              ModelSpec(hidden=(LayerSpec(type=r, units=RNN_UNITS),), input_shape=(8, 8))) for r in rnns]
    plan, rs = _holdout(digits, seed, n_seeds, nets, progress, "digits", epochs=digits_epochs)
    frame = comparison.table(plan, rs, comparison.score_baselines(plan, list(BASELINES)))
    tables = [_facts(frame, rs, "digits", "64 pixels")]
    curves = {("digits", r.name): mean_curve(r.histories, "val_accuracy") for r in rs}

    sun = sunspots_dataset(seed)
    mean, std = float(sun.y_train.mean()), float(sun.y_train.std())
    scaled = dataclasses.replace(sun, y_train=(sun.y_train - mean) / std, y_test=(sun.y_test - mean) / std)
    k = len(sun.feature_names)
    nets = [("MLP 32-16", f"{k} years", ModelSpec(hidden=MLP_SUNSPOTS))]
    nets += [(f"{RNNS[r]} {RNN_UNITS}", f"{k} years × 1", ModelSpec(hidden=(LayerSpec(type=r, units=RNN_UNITS),),
                                                                   input_shape=(k, 1))) for r in rnns]
    plan, rs = _holdout(scaled, seed, n_seeds, nets, progress, "sunspots", epochs=sunspot_epochs,
                        learning_rate=SUNSPOT_LR)
    persistence = float(np.mean((sun.x_test[:, sun.feature_names.index("lag_1")] - sun.y_test) ** 2))
    for metric, unit in (("mse", lambda v: v), ("rmse", np.sqrt)):  # in sunspot numbers: (std · scaled error)²
        entries = [dataclasses.replace(e, values=unit(e.values * std ** 2)) for e in
                   (comparison.network_entry(plan, r, "mse") for r in rs)]
        entries.append(comparison.Entry("persistence (next = lag_1)", "baseline", np.array([unit(persistence)]),
                                        [(0, -1, 0)]))
        frame = comparison.build(entries, metric, len(sun.y_train), len(sun.y_test), plan.experiment.evaluate.rope)
        tables.append(_facts(frame, rs, "sunspots", f"{k} years"))
    curves.update({("sunspots", r.name): mean_curve(r.histories, "val_loss") for r in rs})
    return pd.concat(tables, ignore_index=True), curves
