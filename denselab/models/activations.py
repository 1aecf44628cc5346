"""Activation functions by name: Keras's own plus the lecture's that Keras lacks.

The lecture's table (identity, binary step, logistic, tanh, arctan, ReLU, PReLU,
ELU, softplus) and Keras's usual ones (selu, gelu, swish, softsign, leaky relu, …).

`get(spec)` resolves what a spec may hold: a name (canonical or alias, any case:
`get("logistic") == "sigmoid"`), a dict with parameters
(`get({"name": "elu", "alpha": 0.5})`; only `elu` and `leaky_relu` take any), or a
callable (returned unchanged; our own and Keras's functions map back to their name).
It returns the *config* (a name, or a dict when a parameter differs from its default)
and raises a SpecError suggesting the closest name for a typo.

`function(spec)` returns what a Keras layer's `activation=` takes: a Keras name, a
registered denselab function, or a serializable `Parametric` object. `prelu` is a
layer (a learned slope α per unit), so `function("prelu")` is `"linear"` and
`build.py` places a `keras.layers.PReLU` after the layer.

Everything here is registered with `keras.saving` under the package `denselab`:
a saved `.keras` model reloads once `denselab.models.activations` is imported
(importing `denselab` does it).

Example:
    >>> get("Identity"), get({"name": "elu", "alpha": 1.0}), get({"name": "elu", "alpha": 0.5})
    ('linear', 'elu', {'name': 'elu', 'alpha': 0.5})
"""

from __future__ import annotations

import keras
from keras import ops

from denselab.models import names
from denselab.models._registry import resolve, split


@keras.saving.register_keras_serializable(package="denselab")
def arctan(x):
    """arctan(x): a bounded (±π/2), smooth, zero-centred squashing function."""
    return ops.arctan(x)


@keras.saving.register_keras_serializable(package="denselab")
def binary_step(x):
    """Heaviside step (1 for x ≥ 0, 0 for x < 0, as in the lecture's table), trained
    with a straight-through estimator.

    The true derivative is zero almost everywhere (undefined at 0), so gradient
    descent through it could never move the weights below it. The straight-through
    estimator (Bengio, Léonard & Courville 2013) keeps the exact step in the forward
    pass and uses the identity's gradient (1) in the backward pass:
    `step(x) + (x - stop_gradient(x))` — the added term is exactly 0 in value and
    has derivative 1. Networks trained this way are trained on a surrogate gradient,
    not the step's own.
    """
    x = ops.convert_to_tensor(x)
    step = ops.cast(ops.greater_equal(x, 0), x.dtype)
    return step + (x - ops.stop_gradient(x))


CUSTOM = {"arctan": arctan, "binary_step": binary_step}
KERAS = names.ACTIVATIONS_KERAS  # the name tables live in names.py (checked without Keras)
LAYER = names.ACTIVATIONS_LAYER
NAMES = KERAS + tuple(CUSTOM) + LAYER
ALIASES = names.ACTIVATION_ALIASES
assert tuple(CUSTOM) == names.ACTIVATIONS_CUSTOM, "activations.CUSTOM and names.ACTIVATIONS_CUSTOM differ"
# Parameters (with Keras's defaults) of the activations that take any.
PARAMS = {"elu": {"alpha": 1.0}, "leaky_relu": {"negative_slope": 0.2}}


@keras.saving.register_keras_serializable(package="denselab")
class Parametric:
    """A Keras activation with parameters, e.g. ELU with α = 0.5, as a saveable callable."""

    def __init__(self, name: str, **params):
        self.name, self.params = name, params

    def __call__(self, x):
        return getattr(keras.activations, self.name)(x, **self.params)

    def get_config(self) -> dict:
        return {"name": self.name, **self.params}

    @classmethod
    def from_config(cls, config: dict) -> Parametric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"Parametric({self.get_config()!r})"


def get(spec):
    """The config of an activation spec: canonical name, parameter dict, or a callable."""
    if isinstance(spec, Parametric):
        spec = spec.get_config()
    elif callable(spec):
        return _name_of(spec) or spec
    return resolve("activation", spec, NAMES, ALIASES, PARAMS)


def function(spec):
    """What a Keras layer's `activation=` takes for `spec` (prelu: linear; see module doc)."""
    config = get(spec)
    if callable(config):
        return config
    name, params = split(config)
    if params:
        return Parametric(name, **params)
    if name in CUSTOM:
        return CUSTOM[name]
    if name == "prelu":
        return "linear"
    return name


def _name_of(fn) -> str | None:
    """The registry name of one of our or Keras's activation functions, else None."""
    for name, custom in CUSTOM.items():
        if fn is custom:
            return name
    name = getattr(fn, "__name__", None)
    if name in KERAS and getattr(keras.activations, name, None) is fn:
        return name
    return None

