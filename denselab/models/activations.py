"""Activation functions by name: Keras's own plus the lecture's that Keras lacks.

`get(name)` returns the canonical name (and raises a SpecError with a suggestion for a
typo); `function(name)` returns the callable a Keras layer uses. `prelu` is a layer
(learned slope), so `build.py` places a `keras.layers.PReLU` after a linear layer.
"""

from __future__ import annotations

import keras
from keras import ops

from denselab.models._registry import canonical


@keras.saving.register_keras_serializable(package="denselab")
def arctan(x):
    """arctan(x): a bounded, smooth, zero-centred squashing function."""
    return ops.arctan(x)


@keras.saving.register_keras_serializable(package="denselab")
def binary_step(x):
    """Heaviside step (1 if x > 0 else 0), trained with a straight-through estimator.

    The true derivative is zero almost everywhere, so gradient descent could never
    move; the forward pass is the exact step while the backward pass uses the
    identity's gradient (Bengio et al. 2013, "straight-through").
    """
    step = ops.cast(x > 0, x.dtype)
    return x + ops.stop_gradient(step - x)


CUSTOM = {"arctan": arctan, "binary_step": binary_step}
KERAS = (
    "linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
    "gelu", "silu", "leaky_relu", "relu6", "hard_sigmoid", "exponential",
    "softmax", "mish",
)
LAYER = ("prelu",)
NAMES = KERAS + tuple(CUSTOM) + LAYER
ALIASES = {
    "identity": "linear", "logistic": "sigmoid", "swish": "silu",
    "step": "binary_step", "heaviside": "binary_step", "atan": "arctan",
    "leakyrelu": "leaky_relu",
}


def get(name) -> str:
    """The canonical activation name, e.g. get('logistic') == 'sigmoid'."""
    return canonical("activation", name, NAMES, ALIASES)


def function(name):
    """The callable for a Keras layer's `activation=` (prelu: linear; see module doc)."""
    key = get(name)
    if key in CUSTOM:
        return CUSTOM[key]
    if key == "prelu":
        return "linear"
    return key
