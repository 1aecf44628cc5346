"""Losses by name: Keras's own, resolved to callables `(y_true, y_pred) -> per-row loss`."""

from __future__ import annotations

import keras

from denselab.models._registry import canonical

KERAS = {
    "categorical_crossentropy": keras.losses.categorical_crossentropy,
    "binary_crossentropy": keras.losses.binary_crossentropy,
    "mse": keras.losses.mean_squared_error,
    "mae": keras.losses.mean_absolute_error,
    "huber": keras.losses.huber,
    "sparse_categorical_crossentropy": keras.losses.sparse_categorical_crossentropy,
}
NAMES = dict(KERAS)
ALIASES = {
    "log": "categorical_crossentropy", "crossentropy": "categorical_crossentropy",
    "cross_entropy": "categorical_crossentropy",
    "mean_squared_error": "mse", "mean_absolute_error": "mae",
}


def get(name) -> str:
    """The canonical loss name (SpecError with a suggestion for a typo)."""
    return canonical("train.loss", name, NAMES, ALIASES)


def function(name):
    """The per-row loss callable for `name`."""
    return NAMES[get(name)]
