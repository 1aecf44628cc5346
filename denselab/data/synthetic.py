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
    """Sinusoidal clusters: sign(x0 + x1) · sign(x0) · cos(‖x‖ / 2π) > 0.

    Two sign lines cut the plane into wedges and the cosine into rings about 20 units wide,
    so a net needs many more steps than for f1 or f3 (the course's f2 labels are this formula).
    """
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
    """A DataFrame with columns x0, x1 and the 0/1 `label` of function or generator `name`."""
    if name in GENERATORS:
        x, label = GENERATORS[name](n, np.random.default_rng(seed))
        return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "label": label.astype(int)})
    x = points(n, seed)
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "label": FUNCTIONS[name](x)})


# --- 2-D teaching sets (as in the TensorFlow playground), also in [-50, 50]² ----------

def circles(n: int, rng) -> tuple:
    """A disk (label 0, radius < 20) inside a ring (label 1, radius 30-45), slightly noisy."""
    label = np.arange(n) % 2
    radius = np.where(label == 0, rng.uniform(0, 20, n), rng.uniform(30, 45, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1) + rng.normal(0, 2, (n, 2))
    return x, label


def xor(n: int, rng) -> tuple:
    """Uniform points; label 1 where x0 and x1 have the same sign (the four quadrants)."""
    x = (rng.random((n, 2)) - 0.5) * 100
    return x, ((x[:, 0] > 0) == (x[:, 1] > 0)).astype(int)


def spirals(n: int, rng) -> tuple:
    """Two interleaved spirals (labels 0 and 1), 1.5 turns each, slightly noisy."""
    label = np.arange(n) % 2
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    angle = t + np.pi * label
    r = t / (3 * np.pi) * 45
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) + rng.normal(0, 1.5, (n, 2))
    return x, label


def gaussians(n: int, rng) -> tuple:
    """Two overlapping Gaussian blobs centred at (-15, -15) (label 0) and (15, 15) (label 1)."""
    label = np.arange(n) % 2
    centre = np.where(label[:, None] == 0, -15.0, 15.0)
    return centre + rng.normal(0, 12, (n, 2)), label


GENERATORS = {"circles": circles, "xor": xor, "spirals": spirals, "gaussians": gaussians}
