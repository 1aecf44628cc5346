"""The concepts catalogue: every activation, loss, optimizer and topology of the lecture, trained.

The lecture ("Neural networks and Keras") lists activation functions, the loss
functions of Janocha & Czarnecki (2017), the Keras optimizers and three topologies
(dense, convolutional, recurrent). This study trains each of them on real or
generated data and puts the numbers side by side:

- `activations`: the hidden activation of a Dense 20 → Dense 20 net × the 2-D sets
  f1, f2, f3 (N = 1000) and iris: CV accuracy (mean ± sample std over folds), curves;
- `losses`: the catalogue's 12 losses × the same sets (hidden relu): CV accuracy and
  the fleet's training seconds per epoch;
- `optimizers`: sgd, adam, adadelta, adagrad, rmsprop, nadam × learning rates
  0.001 … 1 on f1: every learning rate and fold of one optimizer is one fleet call
  (learning rates are member hyperparameters), curves per optimizer;
- `topologies`: MLP vs CNN on the 8×8 `digits` images; SimpleRNN vs LSTM vs GRU on
  `digits` read row by row (8 steps of 8 pixels) and on the yearly `sunspots` series
  (the previous 11 years → next year, one-step-ahead regression);
- the activations and their derivatives drawn from our own registry (derivatives by
  `jax.vmap(jax.grad(f))`), checked against the lecture's derivative column.

Decisions:

- Every activation/loss/optimizer score is k-fold CV on the training rows (3 folds,
  30 epochs — iris 100, its folds are 3 steps per epoch — batch 32, Adam 0.001 unless
  the table varies it); iris keeps 20 % of its rows as an unused test set, as
  `denselab run` would.
- `binary_step` trains through its straight-through estimator (the forward pass is
  the exact step, the backward pass the identity's gradient); its plot shows the
  true derivative (0 everywhere but x = 0) and the surrogate separately.
- `prelu` is a layer with a learned slope per unit (Keras initialises it to 0, i.e.
  relu); its plot uses α = 0.25.
- Losses with a one-hot output (`losses.output_for`) get two output units on the
  binary sets; `log` is categorical cross-entropy.
- Seconds per epoch are the fleet's run time of that (loss, data) call divided by
  the epochs: all folds of one data set train together, so it is the cost of one
  epoch of 3 networks, compile time excluded (compile seconds are in the table).
- Topologies are scored once on held-out rows: digits 20 % stratified test rows;
  sunspots the last 60 years (1949–2008), trained on 1711–1948 — a chronological
  split, no shuffling, so no future year leaks into training. The sunspot target is
  standardised with the training years' mean and std for training; MSE/RMSE are
  reported in sunspot numbers, next to the persistence forecast (next = last year).

Owns: the study's lists, sizes, networks and tables (`activations`, `losses`,
`optimizers`, `topologies`, plus `derivatives`, `timing`). Training, CV and the page
come from the shared modules.

Example:
    >>> from denselab.studies import catalogue
    >>> results = catalogue.run("runs/catalogue-quick", quick=True)   # doctest: +SKIP
    >>> sorted(results["tables"])[:2]                                 # doctest: +SKIP
    ['activations', 'derivatives']
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from denselab.data.prepare import load_dataset
from denselab.errors import DataError
from denselab.models import activations as act_registry
from denselab.models.build import head_for
from denselab.progress import phase
from denselab.report import catalogue_report, diagnosis
from denselab.report.html import Section, write_report
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.studies import findings as fnd
from denselab.studies.catalogue_workflow import run_workflow
from denselab.studies import synthetic2d
from denselab.train.plan import Plan, run_engine
from denselab.workflow import manifest

ACTIVATIONS = ("identity", "binary_step", "logistic", "tanh", "arctan", "relu", "prelu", "elu", "softplus",
               "selu", "gelu", "swish", "softsign", "leaky_relu")
LECTURE_ACTIVATIONS = ACTIVATIONS[:9]  # the lecture's table; the rest are Keras's usual ones
LOSSES = ("l1", "l2", "expectation", "regularised_expectation", "chebyshev", "hinge", "squared_hinge",
          "cubed_hinge", "log", "squared_log", "tanimoto", "cauchy_schwarz")
OPTIMIZERS = ("sgd", "adam", "adadelta", "adagrad", "rmsprop", "nadam")
LEARNING_RATES = (0.001, 0.01, 0.1, 1.0)
DATASETS = ("f1", "f2", "f3", "iris")
OPTIMIZER_DATA = "f1"
N = 1000
FOLDS = 3
EPOCHS = 30
IRIS_EPOCHS = 100  # iris has 80 training rows per fold: 3 steps per epoch, 30 epochs would be 90 steps
BATCH = 32
HIDDEN = 20
PRELU_ALPHA = 0.25  # for the plot only; the layer learns its own
DERIVATIVE_X = (-4.0, 4.0)  # where the derivatives are drawn and checked

# Topologies (holdout). The CNN is the brief's: ≥ 97 % test accuracy on digits.
DIGITS_EPOCHS = 20
SUNSPOT_EPOCHS = 150
SUNSPOT_TEST_YEARS = 60
SUNSPOT_LR = 0.003
SUNSPOT_FIRST_YEAR = 1700  # statsmodels' yearly series runs 1700-2008
REFERENCES = {"losses": "Janocha & Czarnecki (2017), On loss functions for deep neural networks in classification"}
RNN_UNITS = 32
MLP_DIGITS = (LayerSpec(units=128, activation="relu", dropout=0.2), LayerSpec(units=64, activation="relu"))
CNN_DIGITS = (
    LayerSpec(type="conv2d", filters=32, kernel_size=3, activation="relu"),
    LayerSpec(type="maxpool2d", pool_size=2),
    LayerSpec(type="conv2d", filters=64, kernel_size=3, activation="relu"),
    LayerSpec(type="flatten"),
    LayerSpec(units=64, activation="relu", dropout=0.3),
)
MLP_SUNSPOTS = (LayerSpec(units=32, activation="relu"), LayerSpec(units=16, activation="relu"))

QUICK = {"n": 300, "folds": 2, "epochs": 3, "datasets": ("f1", "iris"),
         "activations": ("identity", "relu", "binary_step", "prelu"),
         "losses": ("tanimoto",), "optimizers": ("sgd", "adam"), "learning_rates": (0.01, 0.1),
         "digits_epochs": 2, "sunspot_epochs": 5, "rnns": ("gru",)}


# --- specs ----------------------------------------------------------------------

def dense_model(activation: str = "relu") -> ModelSpec:
    """Dense 20 → Dense 20, both with `activation`; the output layer comes from the head."""
    return ModelSpec(hidden=(LayerSpec(units=HIDDEN, activation=activation),
                             LayerSpec(units=HIDDEN, activation=activation)))


def epochs_for(label: str, epochs: int, quick: bool = False) -> int:
    """The epochs of a data set: iris (few rows, few steps per epoch) gets IRIS_EPOCHS."""
    return IRIS_EPOCHS if label == "iris" and not quick else epochs


def data_spec(name: str, n: int, seed: int) -> DataSpec:
    """Generated sets: all N rows are CV rows; real sets keep 20 % as a (here unused) test set."""
    if name in ("f1", "f2", "f3"):
        return DataSpec(source=name, n=n, seed=seed, test_size=0.0)
    return DataSpec(source=name, seed=seed)


def _experiment(model: ModelSpec, train: TrainSpec, seed: int, folds: int = FOLDS) -> Experiment:
    return Experiment(data=DataSpec(source="iris"), model=model, train=train, seed=seed,
                      evaluate=EvalSpec(folds=folds, engine="fleet"))


def _train(exp, head, members, progress, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_engine(exp, head, members, "fleet", phase(progress, name))


def cv(exp: Experiment, ds, hparams_list=({},), progress=None, name="cv"):
    """k-fold CV of `exp` on `ds`, every (fold, hparams) a member of one fleet call.

    Returns (members, EngineResult, head).
    """
    head = head_for(ds.task, ds.n_targets, exp.model, exp.train)
    plan = Plan.cv(exp.replace(evaluate=dataclasses.replace(exp.evaluate, seeds=1, repeats=1, stratified=True)), ds)
    members = [m for h in hparams_list for m in plan.members(exp, head, hparams=h, tag=dict(h))]
    return members, _train(exp, head, members, progress, name), head


def _score_row(members, result, head) -> dict:
    scores = np.array([r.scores[head.metric] for r in result.results], dtype=float)
    return {"accuracy_mean": float(np.mean(scores)),
            "accuracy_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0}


def _mean_history(result, key: str) -> list:
    rows = [np.asarray(r.history[key], dtype=float) for r in result.results if r.history.get(key)]
    if not rows:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(rows), axis=0).tolist()


# --- the experiments --------------------------------------------------------------

LINEAR_PAIR = ("relu", "identity")  # the lecture's "linear activations give linear decisions": its maps


def activations_table(names, datasets, epochs, folds, seed, progress=None, quick=False):
    """CV accuracy of the Dense 20 → 20 net per hidden activation and data set.

    The table's `attrs` (pandas' metadata dict) carry what the findings and maps need beyond the
    means: `members`, every member's score by fold; `nets`, fold 0's trained net of each
    `LINEAR_PAIR` activation on each 2-D set.
    """
    rows, curves, members_rows, nets = [], [], [], {}
    for name in names:
        for label, ds in datasets:
            train = TrainSpec(epochs=epochs_for(label, epochs, quick), batch_size=BATCH)
            exp = _experiment(dense_model(name), train, seed, folds)
            members, result, head = cv(exp, ds, progress=progress, name=f"activation {name} · {label}")
            rows.append({"dataset": label, "activation": name, **_score_row(members, result, head),
                         "compile_s": result.compile_s, "run_s": result.run_s})
            members_rows += [{"dataset": label, "activation": name, "repeat": m.tag["repeat"], "fold": m.tag["fold"],
                              "seed": m.tag["seed"], "accuracy": r.scores[head.metric]}
                             for m, r in zip(members, result.results)]
            if name in LINEAR_PAIR and len(ds.feature_names) == 2:
                nets[(label, name)] = (exp.model, head, result.results[0].weights, members[0].tag["preprocessor"],
                                       ds, result.results[0].scores[head.metric])
            curves.append({"dataset": label, "activation": name,
                           "val_accuracy": _mean_history(result, "val_accuracy")})
    table = pd.DataFrame(rows)
    table.attrs.update(members=pd.DataFrame(members_rows), nets=nets)
    return table, curves


def losses_table(names, datasets, epochs, folds, seed, progress=None, quick=False):
    """CV accuracy and seconds per epoch per loss and data set (hidden relu)."""
    rows, curves = [], []
    for name in names:
        for label, ds in datasets:
            n_epochs = epochs_for(label, epochs, quick)
            exp = _experiment(dense_model("relu"), TrainSpec(epochs=n_epochs, batch_size=BATCH, loss=name), seed,
                              folds)
            members, result, head = cv(exp, ds, progress=progress, name=f"loss {name} · {label}")
            losses = np.array([r.scores["loss"] for r in result.results], dtype=float)
            rows.append({"dataset": label, "loss": name, "epochs": n_epochs, **_score_row(members, result, head),
                         "seconds_per_epoch": result.run_s / n_epochs, "final_loss_mean": float(np.mean(losses)),
                         "output": head.output_activation, "compile_s": result.compile_s})
            curves.append({"dataset": label, "loss": name, "val_accuracy": _mean_history(result, "val_accuracy")})
    return pd.DataFrame(rows), curves


def optimizers_table(names, learning_rates, ds, epochs, folds, seed, progress=None):
    """Per optimizer one fleet call: folds × learning rates as members."""
    rows, curves = [], []
    hparams = [{"learning_rate": float(lr)} for lr in learning_rates]
    for name in names:
        exp = _experiment(dense_model("relu"), TrainSpec(optimizer=name, epochs=epochs, batch_size=BATCH),
                          seed, folds)
        members, result, head = cv(exp, ds, hparams, progress, f"optimizer {name}")
        chance = float(np.bincount(ds.y_train).max() / len(ds.y_train))  # always the majority class
        for lr in learning_rates:
            idx = [i for i, m in enumerate(members) if m.hparams["learning_rate"] == float(lr)]
            part = dataclasses.replace(result, results=[result.results[i] for i in idx])
            losses = np.array([r.scores["loss"] for r in part.results], dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                final = float(np.nanmean(losses)) if np.isfinite(losses).any() else float("nan")
            scores = [r.scores[head.metric] for r in part.results]
            health = diagnosis.health([r.history for r in part.results], scores, [chance] * len(scores), True)
            rows.append({"optimizer": name, "learning_rate": float(lr), **_score_row(None, part, head),
                         "final_loss": final, "diverged_members": int((~np.isfinite(losses)).sum()),
                         # trained but learned nothing: loss not falling, or at or below always-the-majority
                         "collapsed_members": int(health["failed"] - health["diverged"]), "chance": chance,
                         "seconds": result.compile_s + result.run_s})
            curves.append({"optimizer": name, "learning_rate": float(lr),
                           "loss": _mean_history(part, "loss"), "val_loss": _mean_history(part, "val_loss")})
    return pd.DataFrame(rows), curves


def _holdout(exp, ds, x_test, y_test, progress, name):
    """Train on every training row of `ds`, score on (x_test, y_test): one member."""
    head = head_for(ds.task, ds.n_targets, exp.model, exp.train)
    plan = Plan.holdout(exp.replace(evaluate=dataclasses.replace(exp.evaluate, seeds=1)),
                        dataclasses.replace(ds, x_test=x_test, y_test=y_test))
    member = plan.members(exp, head)[0]
    started = time.perf_counter()
    result = _train(exp, head, [member], progress, name)
    return result.results[0], time.perf_counter() - started, head


def sunspots_dataset(seed: int, test_years: int = SUNSPOT_TEST_YEARS):
    """The `sunspots` windows split in time: the last `test_years` rows are the test rows."""
    ds = load_dataset(DataSpec(source="sunspots", test_size=0.0), seed)
    x, y = ds.x_train, ds.y_train
    return dataclasses.replace(ds, x_train=x[:-test_years], y_train=y[:-test_years],
                               x_test=x[-test_years:], y_test=y[-test_years:])


def topology_data(seed) -> pd.DataFrame:
    """The holdout splits of the topology part: rows, and for sunspots the years of each side."""
    digits = load_dataset(DataSpec(source="digits"), seed)
    sun = sunspots_dataset(seed)
    first_target = SUNSPOT_FIRST_YEAR + len(sun.feature_names)  # the first year with a full window of lags
    last_train = first_target + len(sun.y_train) - 1
    return pd.DataFrame([
        {"data": "digits", "rows": len(digits.y_train) + len(digits.y_test), "rows_train": len(digits.y_train),
         "rows_test": len(digits.y_test), "test_fraction": DataSpec(source="digits").test_size},
        {"data": "sunspots", "rows": len(sun.y_train) + len(sun.y_test), "rows_train": len(sun.y_train),
         "rows_test": len(sun.y_test), "lags": len(sun.feature_names), "first_year": SUNSPOT_FIRST_YEAR,
         "first_train_year": first_target, "last_train_year": last_train, "first_test_year": last_train + 1,
         "last_year": last_train + len(sun.y_test)},
    ])


def _iris_sizes(ds, folds: int) -> dict:
    """Iris's rows, and what a CV fold leaves for training (few rows: few steps per epoch)."""
    if ds is None:
        return {}
    fold_rows = len(ds.y_train) * (folds - 1) // folds
    return {"iris_rows_train": len(ds.y_train), "iris_rows_test": len(ds.y_test), "iris_fold_rows": fold_rows,
            "iris_steps_per_epoch": math.ceil(fold_rows / BATCH)}


def topologies_table(seed, digits_epochs, sunspot_epochs, rnns=("simplernn", "lstm", "gru"), progress=None):
    """MLP vs CNN on digits; SimpleRNN vs LSTM vs GRU on digits rows and on sunspots (holdout)."""
    rows, curves = [], {}
    digits = load_dataset(DataSpec(source="digits"), seed)
    train = TrainSpec(epochs=digits_epochs, batch_size=BATCH)
    labels = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
    digit_models = [("MLP 128-64", "digits (64 pixels)", ModelSpec(hidden=MLP_DIGITS)),
                    ("CNN 32c3-pool-64c3-64", "digits (8×8×1 image)", ModelSpec(hidden=CNN_DIGITS,
                                                                               input_shape=(8, 8, 1)))]
    digit_models += [(f"{labels[r]} {RNN_UNITS}", "digits (8 rows × 8 pixels)",
                      ModelSpec(hidden=(LayerSpec(type=r, units=RNN_UNITS),), input_shape=(8, 8))) for r in rnns]
    for label, data_label, model in digit_models:
        exp = _experiment(model, train, seed)
        r, seconds, head = _holdout(exp, digits, digits.x_test, digits.y_test, progress, f"topology {label}")
        rows.append({"data": data_label, "model": label, "metric": "test accuracy",
                     "value": r.scores["accuracy"], "seconds": seconds})
        curves[(data_label, label)] = r.history

    sun = sunspots_dataset(seed)
    mean, std = float(sun.y_train.mean()), float(sun.y_train.std())
    scaled = dataclasses.replace(sun, y_train=(sun.y_train - mean) / std, y_test=(sun.y_test - mean) / std)
    lag1 = sun.feature_names.index("lag_1")
    persistence = float(np.mean((sun.x_test[:, lag1] - sun.y_test) ** 2))
    rows += [{"data": "sunspots (11 years × 1)", "model": "persistence (next = lag_1)", "metric": m,
              "value": v, "seconds": 0.0} for m, v in (("test mse", persistence), ("test rmse", math.sqrt(persistence)))]
    train = TrainSpec(epochs=sunspot_epochs, batch_size=BATCH, learning_rate=SUNSPOT_LR)
    k = len(sun.feature_names)
    sun_models = [("MLP 32-16", ModelSpec(hidden=MLP_SUNSPOTS))]
    sun_models += [(f"{labels[r]} {RNN_UNITS}", ModelSpec(hidden=(LayerSpec(type=r, units=RNN_UNITS),),
                                                         input_shape=(k, 1))) for r in rnns]
    for label, model in sun_models:
        exp = _experiment(model, train, seed)
        r, seconds, _ = _holdout(exp, scaled, scaled.x_test, scaled.y_test, progress, f"topology {label} sunspots")
        pred = np.asarray(r.predictions, dtype=float).reshape(-1) * std + mean
        mse = float(np.mean((pred - sun.y_test) ** 2))
        rows += [{"data": "sunspots (11 years × 1)", "model": label, "metric": m, "value": v, "seconds": seconds}
                 for m, v in (("test mse", mse), ("test rmse", math.sqrt(mse)))]
        curves[("sunspots", label)] = r.history
    return pd.DataFrame(rows), curves


# --- activations and their derivatives ------------------------------------------------

def activation_callable(name: str):
    """f(x) for plotting, from the registry (prelu: fixed α = PRELU_ALPHA)."""
    import keras

    if name == "prelu":
        return lambda x: keras.ops.where(x >= 0, x, PRELU_ALPHA * x)
    fn = act_registry.function(name)
    return keras.activations.get(fn) if isinstance(fn, str) else fn


def derivative(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f'(x)) on a grid, the derivative by jax.vmap(jax.grad(f)).

    For binary_step jax.grad returns the straight-through surrogate (1); the caller
    draws the true derivative (0) beside it.
    """
    import jax
    import jax.numpy as jnp

    f = activation_callable(name)
    xs = jnp.asarray(x, dtype=jnp.float32)
    y = jax.vmap(lambda v: jnp.asarray(f(v)).reshape(()))(xs)
    dy = jax.vmap(jax.grad(lambda v: jnp.asarray(f(v)).reshape(())))(xs)
    return np.asarray(y, dtype=float), np.asarray(dy, dtype=float)


def lecture_derivative(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The lecture table's derivative column (binary step: 0 for x ≠ 0)."""
    return {
        "identity": lambda: np.ones_like(x),
        "binary_step": lambda: np.zeros_like(x),
        "logistic": lambda: y * (1 - y),
        "tanh": lambda: 1 - y ** 2,
        "arctan": lambda: 1 / (x ** 2 + 1),
        "relu": lambda: (x >= 0).astype(float),
        "prelu": lambda: np.where(x >= 0, 1.0, PRELU_ALPHA),
        "elu": lambda: np.where(x >= 0, 1.0, y + 1.0),
        "softplus": lambda: 1 / (1 + np.exp(-x)),
    }[name]()


def derivatives_table(names) -> tuple[pd.DataFrame, dict]:
    """Per activation: the autodiff derivative against the lecture's formula (off x = 0)."""
    x = np.linspace(*DERIVATIVE_X, 401)
    x = x[np.abs(x) > 1e-9]  # 0 is where the lecture leaves step/relu undefined or one-sided
    rows, curves = [], {}
    for name in names:
        y, dy = derivative(name, x)
        curves[name] = (x, y, dy)
        row = {"activation": name, "in_lecture_table": name in LECTURE_ACTIVATIONS,
               "autodiff": "straight-through surrogate (1)" if name == "binary_step" else "jax.grad"}
        if name in LECTURE_ACTIVATIONS:
            true = lecture_derivative(name, x, y)
            shown = true if name == "binary_step" else dy
            row["max_abs_diff_to_lecture"] = float(np.max(np.abs(shown - true)))
        else:
            row["max_abs_diff_to_lecture"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows), curves


def _derivative_figure(curves: dict) -> Figure:
    names = list(curves)
    cols = 5
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(15, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, name in zip(axes, names):
        x, y, dy = curves[name]
        ax.plot(x, y, color="tab:blue", lw=2, label="f(x)")
        if name == "binary_step":
            ax.plot(x, np.zeros_like(x), color="tab:orange", lw=2, ls="--", label="f'(x) = 0 (true)")
            ax.plot(x, dy, color="tab:gray", lw=1.5, ls=":", label="STE surrogate (trained)")
        else:
            ax.plot(x, dy, color="tab:orange", lw=2, ls="--", label="f'(x) (jax.grad)")
        title = f"{name} (α = {PRELU_ALPHA})" if name == "prelu" else name
        ax.set_title(title + ("" if name in LECTURE_ACTIVATIONS else " · Keras"), fontsize=11)
        ax.axhline(0, color="black", lw=0.5)
        ax.axvline(0, color="black", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    lo, hi = DERIVATIVE_X
    fig.suptitle(f"Activation functions f (solid) and their derivatives f' (dashed), x ∈ [{lo:g}, {hi:g}]")
    return fig


# --- figures ------------------------------------------------------------------------

def _heatmap(table: pd.DataFrame, row: str, col: str, value: str, title: str, fmt="{:.3f}", cmap="viridis",
             n: int | None = None):
    """A value per (row, col); with `n`, each cell also shows the sample std over the n folds (the
    `*_std` column beside a `*_mean` value), so a difference can be read against its spread."""
    order = dict(index=list(dict.fromkeys(table[row])), columns=list(dict.fromkeys(table[col])))
    pivot = table.pivot(index=row, columns=col, values=value).reindex(**order)
    spread = value.replace("_mean", "_std")
    std = table.pivot(index=row, columns=col, values=spread).reindex(**order).to_numpy(float) \
        if n and value.endswith("_mean") and spread in table else None
    if std is not None:
        title += f" ± sample std, n = {n} folds"
    fig = Figure(figsize=(1.6 + 1.3 * pivot.shape[1], 1.0 + (0.5 if std is not None else 0.36) * pivot.shape[0]),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(pivot.to_numpy(float), aspect="auto", cmap=cmap)
    ax.set_xticks(range(pivot.shape[1]), pivot.columns)
    ax.set_yticks(range(pivot.shape[0]), pivot.index)
    values = pivot.to_numpy(float)
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(pivot.shape[0]):
        for j in range(pivot.shape[1]):
            v = values[i, j]
            shown = fmt.format(v) + (f"\n± {fmt.format(std[i, j])}" if std is not None and np.isfinite(std[i, j])
                                     else "")
            ax.text(j, i, "—" if not np.isfinite(v) else shown, ha="center", va="center", fontsize=8,
                    color="white" if np.isfinite(v) and v < middle else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title)
    return fig


def _curves_by(curves: list, panel: str, line: str, key: str, title: str, ylabel: str, log=False) -> Figure:
    panels = list(dict.fromkeys(c[panel] for c in curves))
    cols = min(len(panels), 3 if len(panels) > 4 else 2)
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5 * cols, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    lines = list(dict.fromkeys(c[line] for c in curves))
    cmap = __import__("matplotlib").colormaps["tab20" if len(lines) > 10 else "tab10"]
    for ax, p in zip(axes, panels):
        for i, c in enumerate(x for x in curves if x[panel] == p):
            values = np.asarray(c[key], dtype=float)
            if values.size:
                ax.plot(np.arange(1, len(values) + 1), values, color=cmap(lines.index(c[line]) % cmap.N),
                        lw=1.5, label=str(c[line]))
        ax.set(title=f"{panel} {p}", xlabel="epoch", ylabel=ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", fontsize=8, title=line)
    fig.suptitle(title)
    return fig


def _topology_curves(curves: dict) -> Figure:
    fig = Figure(figsize=(12, 4), layout="constrained")
    ax_d, ax_s = fig.subplots(1, 2)
    for (data, model), h in curves.items():
        if data == "sunspots":
            ax_s.plot(np.arange(1, len(h["val_loss"]) + 1), h["val_loss"], label=model)
        else:
            ax_d.plot(np.arange(1, len(h["val_accuracy"]) + 1), h["val_accuracy"], label=model)
    ax_d.set(title="digits: test accuracy per epoch", xlabel="epoch", ylabel="accuracy")
    ax_s.set(title="sunspots: test MSE per epoch (standardised target)", xlabel="epoch", ylabel="MSE",
             yscale="log")
    for ax in (ax_d, ax_s):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


# --- the study ----------------------------------------------------------------------

def run(out, *, data=None, target=None, quick: bool = False, seed: int = 0, progress=None) -> dict:
    """Run the catalogue and write `out/report.html`, `results.json` and one CSV per table.

    Args:
        out: the report folder (must not exist yet, or be empty).
        data, target: not used: the study uses its built-in sets (giving them is an error).
        quick: a few names, tiny sizes, 2-3 epochs: a smoke run of the page (< 60 s).
        seed: root seed of the generated points, folds, initial weights and shuffles.
        progress: callback(done_epochs, total_epochs, phase).
    """
    if data is not None or target is not None:
        raise DataError("catalogue: the study uses its own built-in data (f1, f2, f3, iris, digits, sunspots); "
                        "drop --data/--target, or run `denselab run` on your data")
    started, cpu_started = time.perf_counter(), time.process_time()
    q = QUICK if quick else {}
    n, folds, epochs = q.get("n", N), q.get("folds", FOLDS), q.get("epochs", EPOCHS)
    names = {"activations": q.get("activations", ACTIVATIONS), "losses": q.get("losses", LOSSES),
             "optimizers": q.get("optimizers", OPTIMIZERS), "learning_rates": q.get("learning_rates", LEARNING_RATES),
             "datasets": q.get("datasets", DATASETS)}
    digits_epochs = q.get("digits_epochs", DIGITS_EPOCHS)
    sunspot_epochs = q.get("sunspot_epochs", SUNSPOT_EPOCHS)
    rnns = q.get("rnns", ("simplernn", "lstm", "gru"))
    datasets = [(d, load_dataset(data_spec(d, n, seed), seed)) for d in names["datasets"]]
    timing = {}

    t = time.perf_counter()
    derivs, deriv_curves = derivatives_table(ACTIVATIONS)
    timing["derivatives_s"] = time.perf_counter() - t
    t = time.perf_counter()
    act, act_curves = activations_table(names["activations"], datasets, epochs, folds, seed, progress, quick)
    timing["activations_s"] = time.perf_counter() - t
    t = time.perf_counter()
    loss, loss_curves = losses_table(names["losses"], datasets, epochs, folds, seed, progress, quick)
    timing["losses_s"] = time.perf_counter() - t
    t = time.perf_counter()
    opt_data = OPTIMIZER_DATA if OPTIMIZER_DATA in names["datasets"] else names["datasets"][0]
    opt_ds = dict(datasets)[opt_data]
    opt, opt_curves = optimizers_table(names["optimizers"], names["learning_rates"], opt_ds, epochs, folds, seed,
                                       progress)
    timing["optimizers_s"] = time.perf_counter() - t
    t = time.perf_counter()
    topo, topo_curves = topologies_table(seed, digits_epochs, sunspot_epochs, rnns, progress)
    timing["topologies_s"] = time.perf_counter() - t
    t = time.perf_counter()
    workflow, workflow_numbers = run_workflow(seed, epochs_for("iris", epochs, quick))
    timing["keras_workflow_s"] = time.perf_counter() - t
    timing["wall_s"] = time.perf_counter() - started
    timing["cpu_s"] = time.process_time() - cpu_started  # all threads: less sensitive to a loaded machine

    settings = {"n": n, "folds": folds, "epochs": epochs, "iris_epochs": epochs_for("iris", epochs, quick),
                "batch_size": BATCH, "learning_rate": TrainSpec().learning_rate, "hidden": f"Dense {HIDDEN} → "
                f"Dense {HIDDEN}", "datasets": list(names["datasets"]), "optimizer_data": opt_data,
                "synthetic2d_n": synthetic2d.N_DEFAULT, **_iris_sizes(dict(datasets).get("iris"), folds),
                "learning_rates": list(names["learning_rates"]), "digits_epochs": digits_epochs,
                "sunspot_epochs": sunspot_epochs, "sunspot_test_years": SUNSPOT_TEST_YEARS,
                "sunspot_learning_rate": SUNSPOT_LR, "rnn_units": RNN_UNITS, "prelu_plot_alpha": PRELU_ALPHA,
                "derivative_x_range": list(DERIVATIVE_X)}
    found = _findings(act)
    versus = _versus_baselines(act.attrs["members"], datasets, folds, seed)
    frames = {"findings": fnd.frame(found), "findings_numbers": fnd.numbers(found), "activations": act,
              "activations_vs_baselines": versus,
              "activation_members": act.attrs["members"], "losses": loss, "optimizers": opt, "topologies": topo,
              "topology_data": topology_data(seed), "derivatives": derivs, "keras_workflow": workflow,
              "timing": pd.DataFrame([{"part": k.removesuffix("_s"), "seconds": v} for k, v in timing.items()])}
    results = {"name": "catalogue", "study": "catalogue", "quick": quick, "settings": settings,
               "references": REFERENCES, "rules": fnd.RULE_NUMBERS, "findings_counts": fnd.counts(frames["findings"]),
               "manifest": manifest(seed), "timing": timing, "keras_workflow": workflow_numbers,
               "curves": {"activations": act_curves, "losses": loss_curves, "optimizers": opt_curves},
               "tables": {k: f.to_dict(orient="records") for k, f in frames.items()}}
    sections = _sections(settings, frames, deriv_curves, act_curves, loss_curves, opt_curves, topo_curves, quick)
    write_report(Path(out), "denselab study · catalogue: activations, losses, optimizers, topologies", sections,
                 results, frames)
    return results


def _versus_baselines(members: pd.DataFrame, datasets: list, folds: int, seed: int) -> pd.DataFrame:
    """Per data set, the best activation's net beside the baselines on the same folds (`comparison`)."""
    from denselab import comparison

    exp = _experiment(dense_model("relu"), TrainSpec(), seed, folds)
    plans = {label: Plan.cv(exp.replace(evaluate=dataclasses.replace(exp.evaluate, seeds=1, repeats=1,
                                                                       stratified=True)), ds)
             for label, ds in datasets}
    return pd.concat([comparison.best_versus_baselines(plans[label], part, "activation").assign(dataset=label)
                      for label, part in members.groupby("dataset", sort=False)], ignore_index=True)


def _findings(act: pd.DataFrame) -> list:
    """The lecture's "linear activations give linear decisions no matter the network size", on each data set:
    relu against identity, paired on the same folds (`findings.higher`)."""
    from denselab import comparison

    out, members = [], act.attrs["members"]
    source = "Linear activations give linear decisions no matter the network size (lecture, \"Non linear decision\")"
    a, b = LINEAR_PAIR
    for label, part in members.groupby("dataset", sort=False):
        part = part[part["activation"].isin(LINEAR_PAIR)].sort_values(["activation", "repeat", "fold", "seed"])
        if set(part["activation"]) != set(LINEAR_PAIR):
            out.append(fnd.Finding(source, label, fnd.UNTESTABLE, f"this run did not train both {a} and {b}"))
            continue
        entries = [comparison.Entry(name, "network", g["accuracy"].to_numpy(float),
                                    list(zip(g["repeat"], g["fold"], g["seed"]))) for name, g in part.groupby("activation")]
        n = float(part.groupby(["repeat", "fold"]).size().mean()) / 2
        verdict, evidence, got = fnd.higher(comparison.build(entries, "accuracy", n * 2, n, EvalSpec().rope), a, b)
        out.append(fnd.Finding(source, f"{label}: CV accuracy, {a} vs {b} (identity: a linear net)", verdict,
                               evidence, got))
    return out


# --- the page -----------------------------------------------------------------------

def _best(table: pd.DataFrame, by: str, name: str) -> str:
    parts = []
    for d, part in table.groupby(by, sort=False):
        top = part.sort_values("accuracy_mean", ascending=False, kind="stable").iloc[0]
        parts.append(f"{d}: {top[name]} {100 * top['accuracy_mean']:.1f}%")
    return "Best per data set — " + "; ".join(parts) + "."


def _sections(s, frames, deriv_curves, act_curves, loss_curves, opt_curves, topo_curves, quick) -> list:
    quick_note = (" Quick mode: a few names, tiny sizes, 2-3 epochs: the numbers only show that the page works."
                  if quick else "")
    iris = (f" (iris: {s['iris_epochs']}, its folds have {s['iris_fold_rows']} training rows = "
            f"{s['iris_steps_per_epoch']} steps per epoch)" if "iris_fold_rows" in s else "")
    iris_rows = (f", iris {s['iris_rows_train']} training rows ({s['iris_rows_test']} test rows unused)"
                 if "iris_rows_train" in s else "")
    cv_text = (f"Net: {s['hidden']} (hidden activation as stated), output from the task (sigmoid for the binary "
               f"2-D sets, softmax for iris, or what the loss wants). {s['folds']}-fold stratified CV, "
               f"{s['epochs']} epochs{iris}, batch {s['batch_size']}, Adam {s['learning_rate']:g}; f1/f2/f3 with "
               f"N = {s['n']} generated points{iris_rows}. Mean ± sample std (ddof 1) over "
               f"folds; all folds of one configuration train as one fleet. f2 (sign-flipped cosine rings) is "
               f"beyond this small budget for every choice: its scores stay near chance here (the synthetic2d "
               f"study's initializer table trains it to convergence on N = {s['synthetic2d_n']}).{quick_note}")
    act, loss, opt, topo = (frames[k] for k in ("activations", "losses", "optimizers", "topologies"))
    dd, sd = (frames["topology_data"].set_index("data").loc[k].to_dict() for k in ("digits", "sunspots"))
    dd, sd = ({k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in d.items()} for d in (dd, sd))
    sections = [
        fnd.section(frames["findings"], "Quick mode: tiny sizes and 3 epochs: the verdicts only show that the rules "
                    "run." if quick else ""),
        Section("Activation functions and their derivatives",
                "Every activation of the registry, drawn from the function the networks use; the derivative is "
                "`jax.vmap(jax.grad(f))`. Table `derivatives` compares it with the lecture's derivative column "
                f"(x ∈ [{s['derivative_x_range'][0]:g}, {s['derivative_x_range'][1]:g}], x = 0 excluded). "
                "binary_step: the true derivative is 0 (undefined at 0), so no gradient would pass it; "
                "denselab trains it with a straight-through estimator (forward: the step; backward: the "
                "identity's gradient 1), drawn dotted. prelu: a learned slope per unit, "
                f"drawn with α = {PRELU_ALPHA}. The last five are Keras's own, not in the lecture's table.",
                figures=[_derivative_figure(deriv_curves)], tables=["derivatives"]),
        Section("Activations × data sets",
                cv_text + " " + _best(act, "dataset", "activation"),
                figures=[_heatmap(act, "activation", "dataset", "accuracy_mean", "CV accuracy (mean over folds)",
                                  n=s["folds"]),
                         _curves_by(act_curves, "dataset", "activation", "val_accuracy",
                                    "Held-out-fold accuracy per epoch (mean over folds)", "accuracy")]
                + catalogue_report.linear_maps(act.attrs["nets"]),
                tables=["activations"]),
        Section("Losses × data sets",
                f"The lecture's loss table ({REFERENCES['losses'].split(',')[0]}), hidden relu, same CV. Losses on logits "
                "(l1, l2, hinge family) get a linear output layer, the others a softmax; on the binary sets each "
                "gets two one-hot output units; `log` is categorical cross-entropy. seconds_per_epoch is that "
                "call's fleet run time / its epochs (3 networks, compile excluded). " + _best(loss, "dataset", "loss"),
                figures=[_heatmap(loss, "loss", "dataset", "accuracy_mean", "CV accuracy (mean over folds)", n=s["folds"]),
                         _heatmap(loss, "loss", "dataset", "seconds_per_epoch", "Seconds per epoch (fleet of 3)",
                                  fmt="{:.4f}", cmap="magma"),
                         _curves_by(loss_curves, "dataset", "loss", "val_accuracy",
                                    "Held-out-fold accuracy per epoch (mean over folds)", "accuracy")],
                tables=["losses"]),
        Section("Optimizers × learning rates",
                f"Data {s['optimizer_data']} (N = {s['n']}), Dense 20 → Dense 20 relu, binary cross-entropy, {s['folds']}-fold "
                f"CV, {s['epochs']} epochs. Each optimizer is one fleet call whose members are folds × learning "
                f"rates {s['learning_rates']}. final_loss: held-out-fold loss at the end (mean over folds; "
                "diverged members, if any, are counted and left out); seconds: the whole fleet call of that optimizer "
                "(every learning rate and fold, compile included). collapsed_members: members that trained without "
                "diverging but learned nothing (training loss not falling, or held-out accuracy at or below "
                "`chance`, always predicting the majority class). Curves: training loss per epoch.",
                figures=[_curves_by(opt_curves, "optimizer", "learning_rate", "loss",
                                    "Training loss per epoch (mean over folds), per learning rate", "loss",
                                    log=True)],
                tables=["optimizers"]),
        Section("Topologies: dense, convolutional, recurrent",
                f"digits (scikit-learn's {dd['rows']} 8×8 images): {100 * dd['test_fraction']:g} % stratified test "
                f"rows; Adam {s['learning_rate']:g}, batch {s['batch_size']}, "
                f"{s['digits_epochs']} epochs. The MLP reads 64 pixels; the CNN the 8×8×1 image "
                "(conv 32@3×3 → maxpool 2 → conv 64@3×3 → flatten → dense 64 → dropout 0.3 → softmax, 'same' "
                f"padding); the recurrent nets ({s['rnn_units']} units) read the image row by row: 8 steps of 8 "
                f"pixels. sunspots (yearly, {sd['first_year']}–{sd['last_year']}, statsmodels' bundled NOAA copy): "
                f"the previous {sd['lags']} years ({sd['lags']} steps × 1 value) → next year; trained on "
                f"{sd['first_train_year']}–{sd['last_train_year']}, tested on the last {s['sunspot_test_years']} "
                f"years, {sd['first_test_year']}–{sd['last_year']} (no shuffling across time); target standardised "
                "on the "
                f"training years, errors in sunspot numbers; Adam {s['sunspot_learning_rate']}, "
                f"{s['sunspot_epochs']} epochs; persistence = last year's value. seconds: wall time of the "
                "training call, compile included. The curves are the test rows after each epoch, shown only to "
                "see over-fitting: they choose nothing (the last epoch's weights are scored).",
                figures=[_topology_curves(topo_curves)], tables=["topologies", "topology_data"]),
        Section("The Keras workflow on one net",
                "The lecture's cheat sheet, call by call, on the real `keras.Model` of one Dense 20 → Dense 20 relu "
                "net trained on iris (refit on its training rows, scored on its test rows; numbers in "
                "results.json `keras_workflow`). Saving writes the net with its scaling as a first layer; loading "
                "it back gives the same probabilities. The Embedding + LSTM text classifier of the cheat sheet is "
                "built and called on random token ids only: this study has no text to train it on.",
                tables=["keras_workflow"]),
        Section("Run time", "Seconds per part of this run on this machine (compiles included); wall = the whole study, cpu = the "
                "process's CPU seconds over all threads (the machine may have been shared).", tables=["timing"]),
    ]
    vb = frames["activations_vs_baselines"]
    sections.append(Section(
        "The best activation against plain baselines",
        "Per data set, the net with the best mean activation beside scikit-learn baselines (majority class, "
        "logistic regression, random forest, gradient boosting) fitted on the same folds with the same scaling, "
        "tested as every comparison table is (`denselab.comparison`). "
        + " ".join(f"{d}: {v}" for d, v in vb.groupby("dataset", sort=False)["verdict"].first().items()),
        tables=["activations_vs_baselines"]))
    return sections
