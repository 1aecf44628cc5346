"""The 2-D study's labelling functions and their point generators.

Points are uniform in [-50, 50]², as in the LCPB course data (whose file
`lcpb-2d` is exactly `np.random.seed(12345)`, three draws, then this recipe).

Example:
    >>> frame("f1", n=5, seed=0).columns.tolist()
    ['x0', 'x1', 'label']
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def f1(x: np.ndarray) -> np.ndarray:
    """Triangle: x0 > -20 and x1 > -40 and x0 + x1 < 40."""
    return ((x[:, 0] > -20) & (x[:, 1] > -40) & (x[:, 0] + x[:, 1] < 40)).astype(int)


def f2(x: np.ndarray) -> np.ndarray:
    """Sinusoidal clusters: sign(x0 + x1) · sign(x0) · cos(‖x‖ / 2π) > 0."""
    r = np.sqrt((x ** 2).sum(axis=1))
    return (np.sign(x[:, 0] + x[:, 1]) * np.sign(x[:, 0]) * np.cos(r / (2 * np.pi)) > 0).astype(int)


def f3(x: np.ndarray) -> np.ndarray:
    """Gaussian bump: x1 < 50 · exp(-x0² / 50)."""
    return (x[:, 1] < 50 * np.exp(-(x[:, 0] ** 2) / 50)).astype(int)


FUNCTIONS = {"f1": f1, "f2": f2, "f3": f3}


def points(n: int, seed: int) -> np.ndarray:
    """n points uniform in [-50, 50]², reproducible from `seed`."""
    return (np.random.default_rng(seed).random((n, 2)) - 0.5) * 100


def frame(name: str, n: int, seed: int) -> pd.DataFrame:
    """A DataFrame with columns x0, x1 and the 0/1 `label` of function `name`."""
    x = points(n, seed)
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "label": FUNCTIONS[name](x)})
