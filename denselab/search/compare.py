"""Do the best configurations really differ? The corrected resampled t-test.

Cross-validation scores of two configurations on the same folds are paired, but the
folds' training sets overlap, so the plain paired t-test is far too confident and
crowns noise. Nadeau & Bengio (2003) correct the variance of the mean difference by
the ratio of test to training rows of each resample:

    t = mean(d) / sqrt((1/n + n_test/n_train) · var(d)),   df = n − 1,   two-sided p

with d the per-member (fold × seed) score differences and var the sample variance
(ddof = 1). For repeated k-fold CV (r seeds) this is Bouckaert & Frank's corrected
repeated k-fold test: n = k·r and n_test/n_train ≈ 1/(k − 1).

Example:
    >>> r = corrected_ttest([0.9, 0.8, 1.0], [0.8, 0.8, 0.9], n_train=20, n_test=10)
    >>> round(r.t, 4), r.df
    (1.2649, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True)
class TTest:
    """Result of `corrected_ttest`: mean difference (a − b), t, degrees of freedom, p."""

    mean_diff: float
    t: float
    df: int
    p: float


def corrected_ttest(a, b, n_train: float, n_test: float) -> TTest:
    """Nadeau–Bengio corrected resampled t-test of paired scores `a` vs `b`.

    Args:
        a, b: scores of two configurations on the same resamples (same order).
        n_train, n_test: rows used to train and to score in each resample (means if
            they vary a little between folds).

    Identical scores (no variance) give t = nan, p = 1; a constant non-zero difference
    gives t = ±inf, p = 0.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"corrected_ttest: a and b must be paired 1-D score lists; got shapes {a.shape} and {b.shape}")
    n = len(a)
    if n < 2:
        raise ValueError(f"corrected_ttest: needs at least 2 paired scores, got {n}")
    if not n_train > 0 or not n_test > 0:
        raise ValueError(f"corrected_ttest: n_train and n_test must be > 0, got {n_train} and {n_test}")
    d = a - b
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return TTest(mean_diff=0.0, t=float("nan"), df=n - 1, p=1.0)
        return TTest(mean_diff=mean, t=math.copysign(math.inf, mean), df=n - 1, p=0.0)
    t = mean / math.sqrt((1.0 / n + n_test / n_train) * var)
    p = float(2.0 * stats.t.sf(abs(t), n - 1))
    return TTest(mean_diff=mean, t=float(t), df=n - 1, p=p)


def comparison_table(candidates: list[dict], n_train: float, n_test: float, maximize: bool,
                     metric: str | None = None) -> pd.DataFrame:
    """The best configurations side by side, each tested against the best.

    Args:
        candidates: dicts with `trial`, `label`, `params`, `scores` (paired per-member
            scores), ordered best first.
        n_train, n_test: rows per resample (see `corrected_ttest`).
        maximize: whether larger scores are better (accuracy) or smaller (mse).

    Returns one row per configuration: rank, trial, label, mean, std, n, 95 % CI, the
    difference to the best (best − this, in the better direction), t, df, p and
    `differs` (p < 0.05). The best's own test columns are empty.
    """
    from denselab.train.evaluate import Summary

    rows = []
    best = np.asarray(candidates[0]["scores"], dtype=float) if candidates else None
    for rank, c in enumerate(candidates, start=1):
        scores = np.asarray(c["scores"], dtype=float)
        s = Summary.of(scores, metric)
        row = {"rank": rank, "trial": c["trial"], "configuration": c["label"], "mean": s.mean, "std": s.std,
               "n": s.n, "ci95_low": s.ci95[0], "ci95_high": s.ci95[1]}
        if rank == 1:
            row.update(diff_vs_best=0.0, t=float("nan"), df=float("nan"), p=float("nan"), differs=None)
        else:
            test = corrected_ttest(best, scores, n_train, n_test) if maximize else \
                corrected_ttest(scores, best, n_train, n_test)
            row.update(diff_vs_best=test.mean_diff, t=test.t, df=test.df, p=test.p, differs=bool(test.p < ALPHA))
        for path, value in c.get("params", {}).items():
            row[path] = value
        rows.append(row)
    return pd.DataFrame(rows)
