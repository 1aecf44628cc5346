"""Optimizers by name → configured `keras.optimizers.Optimizer` instances."""

from __future__ import annotations

import keras

from denselab.models._registry import canonical

CLASSES = {
    "sgd": "SGD", "adam": "Adam", "adadelta": "Adadelta", "adagrad": "Adagrad",
    "rmsprop": "RMSprop", "nadam": "Nadam", "adamw": "AdamW", "adamax": "Adamax",
}
ALIASES = {"gradient_descent": "sgd", "rms_prop": "rmsprop"}


def check(name) -> str:
    """The canonical optimizer name, or a SpecError naming `train.optimizer`."""
    return canonical("train.optimizer", name, CLASSES, ALIASES)


def make(train_spec, learning_rate: float | None = None) -> keras.optimizers.Optimizer:
    """A fresh optimizer configured from a TrainSpec (learning rate overridable)."""
    name = check(train_spec.optimizer)
    cls = getattr(keras.optimizers, CLASSES[name])
    lr = train_spec.learning_rate if learning_rate is None else learning_rate
    if name == "sgd":
        return cls(learning_rate=lr, momentum=train_spec.momentum, nesterov=train_spec.nesterov)
    return cls(learning_rate=lr)
