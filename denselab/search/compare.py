"""The best configurations of a search side by side (`comparison_table`).

The tests themselves live in `denselab.stats`; `TTest`, `corrected_ttest` and `ALPHA`
are re-exported here so `denselab.search` callers keep working.

Example:
    >>> r = corrected_ttest([0.9, 0.8, 1.0], [0.8, 0.8, 0.9], n_train=20, n_test=10)
    >>> round(r.t, 4), r.df
    (1.2649, 2)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from denselab.stats import ALPHA, TTest, corrected_ttest  # noqa: F401  (re-exported)


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
