"""Optimizers by name → configured `keras.optimizers.Optimizer` instances.

`TrainSpec.optimizer` may be:

- a name: sgd, adam, adadelta, adagrad, rmsprop, nadam, adamw, adamax (aliases and
  any case accepted);
- a dict naming the optimizer's own parameters, Keras's names and defaults:
  `{"name": "adam", "beta_1": 0.8}`, `{"name": "rmsprop", "rho": 0.95, "centered": True}`
  (see `PARAMS`; a misspelled parameter gets a suggestion);
- a `keras.optimizers.Optimizer` instance, used as a template (cloned per network).

Owners: the learning rate is always `TrainSpec.learning_rate` (a fleet
hyperparameter, so a dict may not set it); SGD's momentum and Nesterov flag are
`TrainSpec.momentum` / `TrainSpec.nesterov`.

Example:
    >>> from denselab.spec import TrainSpec
    >>> make(TrainSpec(optimizer="sgd", momentum=0.9, nesterov=True)).nesterov
    True
"""

from __future__ import annotations

import inspect

import keras

from denselab.errors import SpecError
from denselab.models import names
from denselab.models._registry import resolve, split

CLASSES = names.OPTIMIZER_CLASSES  # the name tables live in names.py (checked without Keras)
ALIASES = names.OPTIMIZER_ALIASES
# The parameters a dict may set, per optimizer (defaults read from Keras below).
_OWN = {
    "sgd": (),
    "adam": ("beta_1", "beta_2", "epsilon", "amsgrad"),
    "adadelta": ("rho", "epsilon"),
    "adagrad": ("initial_accumulator_value", "epsilon"),
    "rmsprop": ("rho", "momentum", "epsilon", "centered"),
    "nadam": ("beta_1", "beta_2", "epsilon"),
    "adamw": ("weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad"),
    "adamax": ("beta_1", "beta_2", "epsilon"),
}
_COMMON = ("clipnorm", "clipvalue")


def _defaults(name: str) -> dict:
    signature = inspect.signature(getattr(keras.optimizers, CLASSES[name]).__init__).parameters
    out = {}
    for p in _OWN[name] + _COMMON:
        default = signature[p].default
        out[p] = 0.0 if default is None else default  # clipnorm/clipvalue: None means off
    return out


PARAMS = {name: _defaults(name) for name in CLASSES}


def check(spec):
    """The optimizer's config (canonical name or dict), or a SpecError naming `train.optimizer`."""
    if isinstance(spec, keras.optimizers.Optimizer):
        return spec
    if isinstance(spec, dict):
        for owned, field in (("learning_rate", "train.learning_rate"), ("momentum", "train.momentum"),
                             ("nesterov", "train.nesterov")):
            if owned in spec and not (owned == "momentum" and _is(spec, "rmsprop")):
                raise SpecError(f"train.optimizer: `{owned}` is set by `{field}`, not inside the "
                                f"optimizer dict {spec!r}")
    return resolve("train.optimizer", spec, CLASSES, ALIASES, PARAMS)


def make(train_spec, learning_rate: float | None = None) -> keras.optimizers.Optimizer:
    """A fresh optimizer configured from a TrainSpec (learning rate overridable)."""
    lr = train_spec.learning_rate if learning_rate is None else learning_rate
    config = check(train_spec.optimizer)
    if isinstance(config, keras.optimizers.Optimizer):
        return type(config).from_config({**config.get_config(), "learning_rate": lr})
    name, params = split(config)
    for clip in _COMMON:  # 0 means off in a spec, None in Keras
        if params.get(clip) == 0.0:
            params.pop(clip)
    cls = getattr(keras.optimizers, CLASSES[name])
    if name == "sgd":
        params.update(momentum=train_spec.momentum, nesterov=train_spec.nesterov)
    return cls(learning_rate=lr, **params)


def _is(spec: dict, name: str) -> bool:
    try:
        return resolve("train.optimizer", spec.get("name"), CLASSES, ALIASES) == name
    except SpecError:
        return False
