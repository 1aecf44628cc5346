"""Losses by name → per-row callables `(y_true, y_pred) -> (batch,)`, and what output each wants.

Keras's own (categorical/binary/sparse cross-entropy, mse, mae, huber) plus the
classification catalogue of Janocha & Czarnecki (2017), "On loss functions for deep
neural networks in classification" (the lecture's table), written with `keras.ops`
so they run inside `jax.vmap`/`lax.scan` (fleet) and in `model.compile` (fit), and
registered with `keras.saving` (package `denselab`) so saved models reload.

Convention — logits or probabilities. In the table `o` is the network's raw output
(the logits) and σ the softmax. denselab's losses receive `y_pred` = the output
layer's activations, so each catalogue loss declares which output it wants, and
`output_for(name)` tells `head_for` which output activation to put on the network:

- `"linear"` (y_pred = o, the logits): `l1`, `l2`, `hinge`, `squared_hinge`,
  `cubed_hinge` — the table defines them on o itself.
- `"softmax"` (y_pred = σ(o), probabilities, used as is): `expectation`,
  `regularised_expectation`, `chebyshev`, `log` (= `categorical_crossentropy`),
  `squared_log`, `tanimoto`, `cauchy_schwarz`.
- `None` for the other Keras losses (`mse`, `mae`, `huber`, `binary_crossentropy`,
  `sparse_categorical_crossentropy`): the task's default output is kept.

So no loss applies a softmax itself, predictions stay the output layer's values,
and accuracy is the argmax of y_pred either way (softmax preserves the argmax).

Targets: every loss with an `output_for` wants `y_true` one-hot over C ≥ 2 columns
(a sum over classes j); for two classes use two one-hot columns, not one sigmoid
unit (on a single column log, tanimoto, expectation… are degenerate: the negative
class contributes nothing).

Hinge family (table, margin ½): Σⱼ max(0, ½ − ŷⱼ·oⱼ)^p, ŷ = 2y − 1 ∈ {−1, +1}; these
replace Keras's `hinge`/`squared_hinge` (margin 1, mean over classes) under those names.

`get(spec)` accepts a name (canonical or alias, any case), `{"name": ...}` or a
callable (returned unchanged; ours map back to their name); `function(spec)` returns
the per-row callable. A user's callable must itself be per-row (a `keras.losses.Loss`
instance is not: it returns the batch mean) and may carry an attribute `output`.

Example:
    >>> import numpy as np
    >>> y = np.array([[1.0, 0.0, 0.0]]); p = np.array([[0.5, 0.25, 0.25]])
    >>> float(function("chebyshev")(y, p)[0]), output_for("tanimoto"), output_for("hinge")
    (0.5, 'softmax', 'linear')
"""

from __future__ import annotations

import keras
from keras import ops

from denselab.models import names
from denselab.models._registry import resolve

EPS = 1e-7  # probabilities are clipped to [EPS, 1] inside logs, as Keras's cross-entropy does


def _pair(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    return ops.cast(y_true, y_pred.dtype), y_pred


def _register(fn):
    return keras.saving.register_keras_serializable(package="denselab")(fn)


def _abs_sum(y_true, y_pred):
    """Σⱼ |yⱼ − ŷⱼ|: L1 on logits and expectation on probabilities differ only by the output."""
    y, o = _pair(y_true, y_pred)
    return ops.sum(ops.abs(y - o), axis=-1)


def _square_sum(y_true, y_pred):
    """Σⱼ (yⱼ − ŷⱼ)²: L2 on logits, regularised expectation on probabilities."""
    y, o = _pair(y_true, y_pred)
    return ops.sum(ops.square(y - o), axis=-1)


# --- on logits o (linear output) ---------------------------------------------------

@_register
def l1(y_true, y_pred):
    """L1 loss ‖y − o‖₁ on the logits o (sum over classes)."""
    return _abs_sum(y_true, y_pred)


@_register
def l2(y_true, y_pred):
    """L2 loss ‖y − o‖²₂ on the logits o (sum over classes; mse is the mean)."""
    return _square_sum(y_true, y_pred)


def _hinge_power(y_true, y_pred, power: int):
    y, o = _pair(y_true, y_pred)
    margin = ops.relu(0.5 - (2.0 * y - 1.0) * o)
    return ops.sum(margin ** power, axis=-1)


@_register
def hinge(y_true, y_pred):
    """Hinge (margin) loss Σⱼ max(0, ½ − ŷⱼ oⱼ), ŷ = 2y − 1, on the logits o."""
    return _hinge_power(y_true, y_pred, 1)


@_register
def squared_hinge(y_true, y_pred):
    """Squared hinge Σⱼ max(0, ½ − ŷⱼ oⱼ)², ŷ = 2y − 1, on the logits o."""
    return _hinge_power(y_true, y_pred, 2)


@_register
def cubed_hinge(y_true, y_pred):
    """Cubed hinge Σⱼ max(0, ½ − ŷⱼ oⱼ)³, ŷ = 2y − 1, on the logits o."""
    return _hinge_power(y_true, y_pred, 3)


# --- on probabilities σ(o) (softmax output) ------------------------------------------

@_register
def expectation(y_true, y_pred):
    """Expectation loss ‖y − σ(o)‖₁; y_pred is σ(o)."""
    return _abs_sum(y_true, y_pred)


@_register
def regularised_expectation(y_true, y_pred):
    """Regularised expectation loss ‖y − σ(o)‖²₂ (the Brier score); y_pred is σ(o)."""
    return _square_sum(y_true, y_pred)


@_register
def chebyshev(y_true, y_pred):
    """Chebyshev loss maxⱼ |σ(o)ⱼ − yⱼ|; y_pred is σ(o). Its gradient reaches one
    class per row, so it trains slowly."""
    y, p = _pair(y_true, y_pred)
    return ops.max(ops.abs(p - y), axis=-1)


@_register
def squared_log(y_true, y_pred):
    """Squared log loss Σⱼ [yⱼ log σ(o)ⱼ]²; y_pred is σ(o).

    The table prints a leading minus, under which the loss would be minimised by
    driving the true class's probability to 0; this is the sign that is ≥ 0 and
    zero at the right answer (for one-hot y: (log p_true)²).
    """
    y, p = _pair(y_true, y_pred)
    return ops.sum(ops.square(y * ops.log(ops.clip(p, EPS, 1.0))), axis=-1)


@_register
def tanimoto(y_true, y_pred):
    """Tanimoto loss −Σ σy / (‖σ‖²₂ + ‖y‖²₂ − Σ σy); y_pred is σ(o).

    In [−1, 0], −1 at σ = y (negative by definition, as in the table)."""
    y, p = _pair(y_true, y_pred)
    dot = ops.sum(p * y, axis=-1)
    denominator = ops.sum(ops.square(p), axis=-1) + ops.sum(ops.square(y), axis=-1) - dot
    return -dot / ops.maximum(denominator, EPS)


@_register
def cauchy_schwarz(y_true, y_pred):
    """Cauchy–Schwarz divergence −log(Σ σy / (‖σ‖₂ ‖y‖₂)); y_pred is σ(o). ≥ 0, 0 at σ ∝ y."""
    y, p = _pair(y_true, y_pred)
    dot = ops.sum(p * y, axis=-1)
    # the floor sits inside the sqrt: sqrt'(0) = inf would make an all-zero row's gradient NaN
    norms = ops.sqrt(ops.maximum(ops.sum(ops.square(p), axis=-1) * ops.sum(ops.square(y), axis=-1), EPS ** 2))
    return -ops.log(ops.maximum(dot, EPS) / norms)


# --- the registry --------------------------------------------------------------------

CATALOGUE = {
    "l1": (l1, "linear"), "l2": (l2, "linear"),
    "expectation": (expectation, "softmax"),
    "regularised_expectation": (regularised_expectation, "softmax"),
    "chebyshev": (chebyshev, "softmax"),
    "hinge": (hinge, "linear"), "squared_hinge": (squared_hinge, "linear"),
    "cubed_hinge": (cubed_hinge, "linear"),
    "squared_log": (squared_log, "softmax"),
    "tanimoto": (tanimoto, "softmax"), "cauchy_schwarz": (cauchy_schwarz, "softmax"),
}
KERAS = {
    "categorical_crossentropy": (keras.losses.categorical_crossentropy, "softmax"),
    "binary_crossentropy": (keras.losses.binary_crossentropy, None),
    "mse": (keras.losses.mean_squared_error, None),
    "mae": (keras.losses.mean_absolute_error, None),
    "huber": (keras.losses.huber, None),
    "sparse_categorical_crossentropy": (keras.losses.sparse_categorical_crossentropy, None),
}
REGISTRY = {**KERAS, **CATALOGUE}
NAMES = {name: fn for name, (fn, _) in REGISTRY.items()}
ALIASES = names.LOSS_ALIASES  # the name tables live in names.py (checked without Keras)
assert tuple(KERAS) == names.LOSSES_KERAS and tuple(CATALOGUE) == names.LOSSES_CATALOGUE, \
    "losses.KERAS / CATALOGUE and names.LOSSES_* differ"


def get(spec):
    """The canonical loss name (SpecError with a suggestion for a typo), or a callable as given."""
    if callable(spec):
        return _name_of(spec) or spec
    return resolve("train.loss", spec, NAMES, ALIASES)


def function(spec):
    """The per-row loss callable `(y_true, y_pred) -> (batch,)` for `spec`."""
    config = get(spec)
    return config if callable(config) else NAMES[config]


def output_for(spec) -> str | None:
    """The output activation a loss wants: 'softmax', 'linear', or None (keep the task default).

    A loss with an answer here is defined on one-hot targets over ≥ 2 columns (see
    the module doc). A user callable may declare it as an attribute `output`.
    """
    config = get(spec)
    if callable(config):
        return getattr(config, "output", None)
    return REGISTRY[config][1]


def _name_of(fn) -> str | None:
    for name, (registered, _) in REGISTRY.items():
        if fn is registered:
            return name
    return None
