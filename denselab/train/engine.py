"""The training contract both engines honour, and the helpers they share.

An *engine* is one function

    train_members(model, train, head, members, progress=None) -> EngineResult

that trains every `Member` (its own rows, seed and numeric hyperparameters) of one
network structure and returns per-member histories, scores and weights. The fleet
(`fleet.py`) trains them all in one compiled program; `fit.py` loops over
`model.fit` as the reference. `evaluate.py` builds members and never cares which
engine ran them.

Owns: `Member` hyperparameter overrides (`learning_rate`, `dropout`, `l1`, `l2`)
and their meaning, in `apply_hparams`, so both engines agree on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from denselab.models.build import Head
from denselab.spec import ModelSpec, TrainSpec

HPARAMS = ("learning_rate", "dropout", "l1", "l2")


@dataclass
class Member:
    """One network to train: its rows, seed and numeric hyperparameter overrides.

    x_*: scaled float32 features; y_*: targets as `targets(head, codes)` returns.
    val: rows for the curves and early stopping (None → the eval rows give the
    curves and there is no early stopping). eval: the rows the member is scored on.
    hparams: overrides of `learning_rate`, `dropout` (the rate of every dropout in
    the model), `l1`, `l2` (the penalty of every kernel); see `apply_hparams`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    seed: int
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    hparams: dict = field(default_factory=dict)
    tag: dict = field(default_factory=dict)


@dataclass
class MemberResult:
    """What one member's training produced.

    history: per-epoch lists `loss`, `val_loss`, `<metric>`, `val_<metric>`.
    scores: `loss` and the head's metric on the eval rows, with the final weights
    (the best epoch's under early stopping). predictions: outputs on the eval rows.
    weights: `keras.Model.get_weights()` order, loadable with `set_weights`.
    """

    history: dict
    scores: dict
    predictions: np.ndarray
    weights: list
    best_epoch: int
    epochs_run: int


@dataclass
class EngineResult:
    results: list
    engine: str
    compile_s: float = 0.0
    run_s: float = 0.0
    notes: list = field(default_factory=list)


class Engine(Protocol):
    def __call__(self, model: ModelSpec, train: TrainSpec, head: Head, members: list,
                 progress: Callable[[int, int], None] | None = None) -> EngineResult: ...


def apply_hparams(model: ModelSpec, train: TrainSpec, hparams: dict) -> tuple[ModelSpec, TrainSpec]:
    """The specs a member's overrides stand for (the reference meaning of each)."""
    unknown = set(hparams) - set(HPARAMS)
    if unknown:
        raise ValueError(f"unknown member hyperparameter(s) {sorted(unknown)}; expected {HPARAMS}")
    if "learning_rate" in hparams:
        train = dataclasses.replace(train, learning_rate=float(hparams["learning_rate"]))
    layers = []
    for layer in model.hidden:
        changes = {}
        if "dropout" in hparams:
            if layer.type == "dropout":
                changes["rate"] = float(hparams["dropout"])
            elif layer.dropout > 0:
                changes["dropout"] = float(hparams["dropout"])
        for name in ("l1", "l2"):
            if name in hparams and layer.type in ("dense", "conv2d", "simplernn", "lstm", "gru"):
                changes[name] = float(hparams[name])
        layers.append(dataclasses.replace(layer, **changes) if changes else layer)
    return dataclasses.replace(model, hidden=tuple(layers)), train


def targets(head: Head, y: np.ndarray) -> np.ndarray:
    """Training targets for the head: one-hot, a 0/1 column, or float columns."""
    if head.task == "classification":
        if head.binary:
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        return np.eye(head.n_outputs, dtype=np.float32)[np.asarray(y, dtype=int)]
    y = np.asarray(y, dtype=np.float32)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def metric_value(head: Head, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy (classification) or mean squared error (regression), from targets()."""
    if head.task == "classification":
        return float(np.mean(predicted_codes(head, y_pred) == true_codes(head, y_true)))
    return float(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2))


def predicted_codes(head: Head, y_pred: np.ndarray) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    if head.binary:
        return (y_pred.reshape(-1) > 0.5).astype(int)
    return y_pred.argmax(axis=-1)


def true_codes(head: Head, y_true: np.ndarray) -> np.ndarray:
    y_true = np.asarray(y_true)
    if head.binary:
        return y_true.reshape(-1).astype(int)
    return y_true.argmax(axis=-1)
