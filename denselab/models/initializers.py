"""Kernel initializers by name (the 2-D study's table plus the Keras defaults)."""

from __future__ import annotations

from denselab.models._registry import canonical

NAMES = (
    "zeros", "ones", "random_uniform", "random_normal", "truncated_normal",
    "orthogonal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "variance_scaling",
)
ALIASES = {"zero": "zeros", "one": "ones", "xavier": "glorot_uniform",
           "xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal",
           "uniform": "random_uniform", "normal": "random_normal"}


def get(name) -> str:
    """The canonical initializer name, as Keras's `kernel_initializer=` accepts it."""
    return canonical("kernel_initializer", name, NAMES, ALIASES)
