"""The lecture's activation table: every activation of the registry and its derivative, checked.

The lecture ("Neural networks and Keras") lists nine activations with their derivatives.
Here f is the function the networks use (`models.activations`), f' is
`jax.vmap(jax.grad(f))`, and `derivatives_table` compares f' with the lecture's formula
on a grid (x = 0 left out: the lecture leaves step and relu undefined or one-sided there).

- `binary_step` trains through its straight-through estimator: jax.grad sees the
  identity's gradient 1, the true derivative is 0 (both are drawn);
- `prelu` is a layer with a learned slope per unit; here α = `PRELU_ALPHA`.

Owns: the lecture's derivative column (`lecture_derivative`), the grid, the table
`derivatives` (activation, in_lecture_table, autodiff, max_abs_diff_to_lecture).

Example:
    >>> table, curves = derivatives_table(("relu", "tanh"))   # doctest: +SKIP
    >>> table["max_abs_diff_to_lecture"].max() < 1e-5         # doctest: +SKIP
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from denselab.models import activations as registry

LECTURE_ACTIVATIONS = ("identity", "binary_step", "logistic", "tanh", "arctan", "relu", "prelu", "elu", "softplus")
PRELU_ALPHA = 0.25  # for the plot only; the layer learns its own
DERIVATIVE_X = (-4.0, 4.0)  # where the derivatives are drawn and checked


def activation_callable(name: str):
    """f(x) for plotting, from the registry (prelu: fixed α = PRELU_ALPHA)."""
    import keras

    if name == "prelu":
        return lambda x: keras.ops.where(x >= 0, x, PRELU_ALPHA * x)
    fn = registry.function(name)
    return keras.activations.get(fn) if isinstance(fn, str) else fn


def derivative(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f'(x)) on a grid, the derivative by jax.vmap(jax.grad(f)) (binary_step: the surrogate 1)."""
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
    """Per activation: the autodiff derivative against the lecture's formula (off x = 0), and
    the curves `{name: (x, f(x), f'(x))}` the page draws."""
    x = np.linspace(*DERIVATIVE_X, 401)
    x = x[np.abs(x) > 1e-9]
    rows, curves = [], {}
    for name in names:
        y, dy = derivative(name, x)
        curves[name] = (x, y, dy)
        row = {"activation": name, "in_lecture_table": name in LECTURE_ACTIVATIONS,
               "autodiff": "straight-through surrogate (1)" if name == "binary_step" else "jax.grad",
               "max_abs_diff_to_lecture": float("nan")}
        if name in LECTURE_ACTIVATIONS:
            true = lecture_derivative(name, x, y)
            shown = true if name == "binary_step" else dy
            row["max_abs_diff_to_lecture"] = float(np.max(np.abs(shown - true)))
        rows.append(row)
    return pd.DataFrame(rows), curves
