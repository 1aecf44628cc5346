"""Kernel initializers by name (the 2-D study's table plus the Keras defaults).

`get(spec)` accepts a name (`"xavier"` → `"glorot_uniform"`), a dict with the Keras
initializer's parameters (`{"name": "random_normal", "stddev": 0.1}`; `seed` is not
one: randomness comes from each member's seed), or a Keras initializer / callable
(returned unchanged). `function(spec)` is what `kernel_initializer=` takes: the name
itself, or a fresh configured Keras initializer for a dict.

Example:
    >>> get("Xavier"), get({"name": "random_normal", "stddev": 0.1})
    ('glorot_uniform', {'name': 'random_normal', 'stddev': 0.1})
"""

from __future__ import annotations

import inspect

import keras

from denselab.models import names
from denselab.models._registry import resolve, split

NAMES = names.INITIALIZERS  # the name tables live in names.py (checked without Keras)
ALIASES = names.INITIALIZER_ALIASES


def _defaults(name: str) -> dict:
    cls = type(keras.initializers.get(name))
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params
            if p.name not in ("self", "seed", "input_axes", "output_axes")
            and p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty}


PARAMS = {name: _defaults(name) for name in NAMES}


def get(spec):
    """The initializer's config (canonical name or dict), or a Keras initializer as given."""
    if callable(spec):
        return spec
    return resolve("kernel_initializer", spec, NAMES, ALIASES, PARAMS)


def function(spec):
    """What `kernel_initializer=` takes: the canonical name, or a fresh configured initializer."""
    config = get(spec)
    if callable(config):
        return config
    name, params = split(config)
    if not params:
        return name
    return type(keras.initializers.get(name))(**params)
