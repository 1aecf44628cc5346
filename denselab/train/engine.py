"""The training contract both engines honour, and the helpers they share.

An *engine* is one function

    train_members(model, train, head, members, progress=None) -> EngineResult

that trains every `Member` (its own rows, seed and hyperparameters) of one network
structure (for plain Dense MLPs, members may also differ in depth, widths and
activation) and returns per-member histories, scores and weights. The fleet
(`fleet.py`) trains them all in one compiled program; `fit.py` loops over
`model.fit` as the reference. `evaluate.py` builds members and never cares which
engine ran them.

Owns: `Member` hyperparameter overrides (`depth`, `units`, `activation`,
`learning_rate`, `dropout`, `l1`, `l2`, `optimizer`, `output_activation`, `loss`) and
their meaning, in `apply_hparams`, so both engines agree on it (a member's own head:
`member_head`); and which of a trial's settings are member data, in `split_hparams`
(the one place that decides what trains in one engine call).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from denselab.models.build import Head
from denselab.spec import ModelSpec, TrainSpec

HPARAMS = ("depth", "units", "activation", "learning_rate", "dropout", "l1", "l2",
           "optimizer", "output_activation", "loss")
STRUCTURAL = ("depth", "units", "activation")  # change the network's shapes: the fleet packs them
SELECTED = ("optimizer", "output_activation", "loss")  # change its code, not its shapes: selected per member
_PLACEHOLDER = {"depth": 1, "units": 32, "activation": "relu",
                "learning_rate": 0.001, "dropout": 0.5, "l1": 0.0, "l2": 0.0,
                "optimizer": "adam", "output_activation": None, "loss": None}
_PENALISED = ("dense", "conv2d", "simplernn", "lstm", "gru")


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
    """The specs a member's overrides stand for (the reference meaning of each).

    depth, units, activation: only for a Dense chain (`dense_chain`). For a plain Dense
    MLP (`plain_mlp`): `depth` hidden layers, each a copy of the template layer
    (`model.layer`, else the first hidden layer). For a chain with Dropout layers or
    per-layer dropouts: its first `depth` blocks (a Dense layer and the dropouts after
    it), then copies of its last block. `units` the Dense layers' width (an int: every
    layer's; a list: one per layer, which also gives the depth); `activation` every
    hidden layer's activation.
    learning_rate: `train.learning_rate`. dropout: the rate of every dropout in the
    model. l1, l2: the penalty of every kernel.
    optimizer, loss: `train.optimizer`, `train.loss`; output_activation:
    `model.output_activation` (None: the task's default). The member's head is
    `member_head`'s.
    """
    unknown = set(hparams) - set(HPARAMS)
    if unknown:
        raise ValueError(f"unknown member hyperparameter(s) {sorted(unknown)}; expected {HPARAMS}")
    if "learning_rate" in hparams:
        train = dataclasses.replace(train, learning_rate=float(hparams["learning_rate"]))
    if "optimizer" in hparams or "loss" in hparams:
        train = dataclasses.replace(train, **{k: hparams[k] for k in ("optimizer", "loss") if k in hparams})
    if "output_activation" in hparams:
        model = dataclasses.replace(model, output_activation=hparams["output_activation"])
    if any(name in hparams for name in STRUCTURAL):
        if dense_chain(model) is None:
            raise ValueError(f"member hyperparameters {[n for n in STRUCTURAL if n in hparams]} need a plain "
                             "Dense MLP (hidden Dense layers that differ in `units` and dropout only)")
        model = _shape(model, hparams)

    def change(layer):
        changes = {}
        if "dropout" in hparams:
            if layer.type == "dropout":
                changes["rate"] = float(hparams["dropout"])
            elif layer.dropout > 0:
                changes["dropout"] = float(hparams["dropout"])
        for name in ("l1", "l2"):
            if name in hparams and layer.type in _PENALISED:
                changes[name] = float(hparams[name])
        return changes

    return _with_layers(model, change), train


def plain_mlp(model: ModelSpec):
    """The template layer of a plain Dense MLP (≥ 1 hidden dense layers equal but for
    `units`, no reshaping), else None: the networks `depth`/`units`/`activation` describe."""
    hidden = tuple(model.hidden)
    if not hidden:  # `depth: 0`: no hidden layer to describe
        return None
    template = model.layer if model.layer is not None else hidden[0]
    if template.type != "dense" or model.input_shape is not None:
        return None
    if any(dataclasses.replace(layer, units=template.units) != template for layer in hidden):
        return None
    return template


def dense_chain(model: ModelSpec):
    """The blocks of a Dense chain, else None: hidden layers that are Dense layers equal but
    for `units` and `dropout`, each followed by any number of Dropout layers (no reshaping).
    Each block is (Dense layer, its Dropout layers); a plain MLP is a chain."""
    hidden = tuple(model.hidden)
    if not hidden or model.input_shape is not None or hidden[0].type != "dense":
        return None
    blocks = []
    for layer in hidden:
        if layer.type == "dense":
            blocks.append((layer, []))
        elif layer.type == "dropout":
            blocks[-1][1].append(layer)
        else:
            return None
    first = blocks[0][0]
    if any(dataclasses.replace(d, units=first.units, dropout=first.dropout) != first for d, _ in blocks):
        return None
    return [(d, tuple(drops)) for d, drops in blocks]


def chain_pattern(model: ModelSpec):
    """What `depth`, `units` and `activation` leave of a chain (None if not one): its blocks
    with units and activation blanked, cut after the first block equal to the last (so the
    chains one `depth` extends share a pattern: `_blank` keeps that many blocks)."""
    blocks = dense_chain(model)
    if blocks is None:
        return None
    def blank(block):  # which layers have a dropout matters here, not its rate
        dense, drops = block
        return (dataclasses.replace(dense, units=1, activation="relu", dropout=0.5 if dense.dropout > 0 else 0.0),
                tuple(dataclasses.replace(d, rate=0.5) for d in drops))
    shapes = [blank(b) for b in blocks]
    cut = next(i for i, b in enumerate(shapes) if all(b == later for later in shapes[i:]))
    return tuple(shapes[:cut + 1])


def _shape(model: ModelSpec, hparams: dict) -> ModelSpec:
    """`model` with the depth, widths and activation of `hparams` (see `apply_hparams`)."""
    if plain_mlp(model) is None:
        return _shape_chain(model, hparams)
    units = hparams.get("units", None)
    widths = tuple(int(w) for w in units) if isinstance(units, (tuple, list)) else None
    depth = int(hparams["depth"]) if "depth" in hparams else (len(widths) if widths else None)
    if widths is not None and depth != len(widths):
        raise ValueError(f"member hyperparameters: `units` lists {len(widths)} widths but `depth` is {depth}")
    if depth is not None and depth < 1:
        raise ValueError(f"member hyperparameter `depth`: got {depth}; expected at least 1 hidden layer")
    if "activation" in hparams:
        act = hparams["activation"]
        model = _with_layers(model, lambda layer: {"activation": act} if layer.type == "dense" else {})
    if widths is not None and len(set(widths)) > 1:  # per-layer widths: written out as `hidden`
        template = plain_mlp(model)
        return dataclasses.replace(model, depth=None, units=None, layer=None,
                                   hidden=tuple(dataclasses.replace(template, units=w) for w in widths))
    width = widths[0] if widths else (int(units) if units is not None else None)
    if model.depth is not None or model.units is not None:  # the spec's own fields: they rebuild `hidden`
        return dataclasses.replace(model, depth=depth if depth is not None else model.depth,
                                   units=width if width is not None else model.units)
    template = plain_mlp(model)
    width = width if width is not None else template.units
    n = depth if depth is not None else len(model.hidden)
    return dataclasses.replace(model, hidden=(dataclasses.replace(template, units=width),) * n)


def _shape_chain(model: ModelSpec, hparams: dict) -> ModelSpec:
    """A chain that is not a plain MLP: its first `depth` blocks then copies of its last block,
    widths and activation set (written out as `hidden`)."""
    blocks = dense_chain(model)
    units = hparams.get("units", None)
    widths = tuple(int(w) for w in units) if isinstance(units, (tuple, list)) else None
    depth = int(hparams["depth"]) if "depth" in hparams else (len(widths) if widths else len(blocks))
    if widths is not None and depth != len(widths):
        raise ValueError(f"member hyperparameters: `units` lists {len(widths)} widths but `depth` is {depth}")
    if depth < 1:
        raise ValueError(f"member hyperparameter `depth`: got {depth}; expected at least 1 hidden layer")
    blocks = blocks[:depth] + [blocks[-1]] * (depth - len(blocks))
    hidden = []
    for k, (dense, drops) in enumerate(blocks):
        changes = {"units": widths[k]} if widths else {"units": int(units)} if units is not None else {}
        if "activation" in hparams:
            changes["activation"] = hparams["activation"]
        hidden += [dataclasses.replace(dense, **changes), *drops]
    return dataclasses.replace(model, depth=None, units=None, layer=None, hidden=tuple(hidden))


def member_head(head: Head, model: ModelSpec, train: TrainSpec, hparams: dict | None = None) -> Head:
    """The head of a member whose own specs are `model`, `train` (`apply_hparams`'s), on the
    call's `head`'s task and targets: `head` itself unless `hparams` set its output
    activation or loss (then `head_for` of the member's specs; same number of outputs)."""
    if hparams is not None and not ({"output_activation", "loss"} & set(hparams)):
        return head
    from denselab.models.build import head_for

    own = head_for(head.task, 2 if head.binary else head.n_outputs, model, train)
    if own.n_outputs != head.n_outputs:
        raise ValueError(f"member loss {own.loss!r}: the network has {head.n_outputs} outputs, this loss "
                         f"wants {own.n_outputs}; give it its own engine call")
    return own


def _with_layers(model: ModelSpec, change) -> ModelSpec:
    """`model` with `change(layer)` (a dict of fields) applied to every hidden layer and the template."""
    def apply(layer):
        changes = change(layer)
        return dataclasses.replace(layer, **changes) if changes else layer

    layer = apply(model.layer) if model.layer is not None else None
    return dataclasses.replace(model, hidden=tuple(apply(layer_) for layer_ in model.hidden), layer=layer)


def split_hparams(exp):
    """(structure, member hyperparameters) of a trial's experiment.

    The structure is `exp` with the member hyperparameters blanked; trials with equal
    structures train in one engine call. A hyperparameter becomes a member override
    only where `apply_hparams` gives it back exactly (e.g. `dropout` only when every
    dropout in the model has the same rate; `depth`, `units`, `activation` only for a
    Dense chain, whose members the fleet packs into one program where that pays;
    `optimizer` unless SGD's momentum is set; `loss` unless it wants one-hot targets
    (which may change the number of outputs); `output_activation` unless it adds a
    layer, `prelu`); otherwise it stays part of the structure.
    `apply_hparams(structure, hparams)` is always the same network as `exp` (equal to
    it, once `depth`/`units`/`layer` are written out as `hidden` where the network is
    member data).
    """
    model, train = exp.model, exp.train
    candidates = {}
    blocks = dense_chain(model)
    if blocks is not None:
        widths = tuple(dense.units for dense, _ in blocks)
        if model.depth is not None:
            candidates["depth"] = model.depth
        candidates["units"] = widths[0] if len(set(widths)) == 1 else widths
        candidates["activation"] = blocks[0][0].activation
    candidates["learning_rate"] = train.learning_rate
    rates = {layer.rate for layer in model.hidden if layer.type == "dropout"} | \
        {layer.dropout for layer in model.hidden if layer.type != "dropout" and layer.dropout > 0}
    if len(rates) == 1:
        candidates["dropout"] = rates.pop()
    for name in ("l1", "l2"):
        values = {getattr(layer, name) for layer in model.hidden if layer.type in _PENALISED}
        if len(values) == 1:
            candidates[name] = values.pop()
    if "units" in candidates and "depth" not in candidates and model.units is None:
        candidates["depth"] = len(blocks)  # explicit layers: the depth is member data too
    candidates.update(_selectable(model, train))
    every = {name: candidates[name] for name in HPARAMS if name in candidates}
    if _same_network(apply_hparams(*_blank(model, train, every), every), (model, train)):
        kept = every  # the usual case, checked once (a grid of 2 000 arms splits in seconds)
    else:
        kept = {}
        for name in HPARAMS:
            if name not in candidates:
                continue
            trial = {**kept, name: candidates[name]}
            blank = _blank(model, train, trial)
            if _same_network(apply_hparams(*blank, trial), (model, train)):
                kept = trial
    blank_model, blank_train = _blank(model, train, kept)
    return exp.replace(model=blank_model, train=blank_train), kept


def _selectable(model: ModelSpec, train: TrainSpec) -> dict:
    """The optimizer, loss and output activation of a trial that can be member data (see `split_hparams`)."""
    from denselab.models import activations, losses

    out = {}
    if isinstance(train.optimizer, (str, dict)) and not (train.momentum or train.nesterov):
        out["optimizer"] = train.optimizer
    if train.loss is None or (not callable(train.loss) and losses.output_for(train.loss) is None):
        out["loss"] = train.loss
    if model.output_activation is None or activations.get(model.output_activation) != "prelu":
        out["output_activation"] = model.output_activation
    return out


def _same_network(got, want) -> bool:
    """Equal specs, or equal once `depth`/`units`/`layer` are written out as `hidden`."""
    if got == want:
        return True
    (gm, gt), (wm, wt) = got, want
    def plain(m):
        return dataclasses.replace(m, depth=None, units=None, layer=None, hidden=tuple(m.hidden))
    return gt == wt and plain(gm) == plain(wm)


def _blank(model, train, hparams: dict):
    structural = {name: _PLACEHOLDER[name] for name in STRUCTURAL if name in hparams}
    if isinstance(hparams.get("units"), (tuple, list)):  # per-layer widths give the depth too
        structural["depth"] = _PLACEHOLDER["depth"]
    if "depth" in structural and plain_mlp(model) is None:  # a chain keeps the blocks its depth extends
        structural["depth"] = len(chain_pattern(model))
    if structural:  # written out as `hidden`: one structure however the trials wrote their layers
        model = _shape(model, structural)
        model = dataclasses.replace(model, depth=None, units=None, layer=None, hidden=tuple(model.hidden))

    def change(layer):
        changes = {}
        if "dropout" in hparams:
            if layer.type == "dropout":
                changes["rate"] = _PLACEHOLDER["dropout"]
            elif layer.dropout > 0:
                changes["dropout"] = _PLACEHOLDER["dropout"]
        for name in ("l1", "l2"):
            if name in hparams and layer.type in _PENALISED:
                changes[name] = _PLACEHOLDER[name]
        return changes

    if "learning_rate" in hparams:
        train = dataclasses.replace(train, learning_rate=_PLACEHOLDER["learning_rate"])
    selected = {name: _PLACEHOLDER[name] for name in SELECTED if name in hparams}
    if selected:
        model, train = apply_hparams(model, train, selected)
    return _with_layers(model, change), train


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
