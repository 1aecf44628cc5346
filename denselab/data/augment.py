"""Gaussian-noise augmentation, as in the 2-D study: extra noisy copies of training rows.

Owns `TrainSpec.noise_sigma` and `noise_fraction`. Noise is added in data units
(or in each feature's std, which `plan.make_member` turns into per-column sigmas),
before scaling, to copies of a random `fraction` of the training rows; the
originals stay. Held-out and test rows are never augmented.
"""

from __future__ import annotations

import numpy as np


def gaussian_copies(x: np.ndarray, y: np.ndarray, sigma, fraction: float, seed: int):
    """(x, y) with round(fraction·rows) extra rows: copies shifted by N(0, sigma²).

    sigma: one value, or one per feature column (`train.noise_units: std`).
    """
    n_extra = int(round(fraction * len(x)))
    if np.all(np.asarray(sigma) <= 0) or n_extra == 0:
        return x, y
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=n_extra, replace=n_extra > len(x))
    noisy = x[pick] + rng.normal(0.0, sigma, size=x[pick].shape).astype(x.dtype)
    return np.concatenate([x, noisy]), np.concatenate([y, y[pick]])
