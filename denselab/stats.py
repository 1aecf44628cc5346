"""Do two configurations really differ? Corrected t-tests, Holm, a Bayesian test, ties.

Cross-validation scores of two configurations on the same folds are paired, but the
folds' training sets overlap, so the plain paired t-test is far too confident and
crowns noise. Nadeau & Bengio (2003) correct the variance of the mean difference by
the ratio of test to training rows of each resample:

    t = mean(d) / sqrt((1/n + n_test/n_train) · var(d)),   df = n − 1,   two-sided p

with d the per-member score differences and var the sample variance (ddof = 1). For
r repeats of k-fold CV (a fresh fold assignment per repeat) this is Bouckaert &
Frank's (2004) corrected repeated k-fold test: n = k·r, so the variance factor is
1/(k·r) + n_test/n_train (`repeated_kfold_ttest`).

Comparing many arms with the best is many tests: `holm` adjusts their p-values
(family-wise error ≤ α). The Bayesian correlated t-test (Benavoli et al. 2017, via
`baycomp`) answers what a p-value cannot: the probability that an arm is practically
better, equivalent (within the region of practical equivalence, `rope`) or worse.
`ties` reports exact and statistical ties with the best as ties, and `simplest_of`
picks the arm with the fewest parameters among them.

Example:
    >>> r = corrected_ttest([0.9, 0.8, 1.0], [0.8, 0.8, 0.9], n_train=20, n_test=10)
    >>> round(r.t, 4), r.df
    (1.2649, 2)
    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05


@dataclass(frozen=True)
class TTest:
    """Result of `corrected_ttest`: mean difference (a − b), t, degrees of freedom, p."""

    mean_diff: float
    t: float
    df: int
    p: float


def _paired(a, b, what: str) -> np.ndarray:
    """d = a − b of two paired 1-D score lists (at least 2), checked."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"{what}: a and b must be paired 1-D score lists; got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"{what}: needs at least 2 paired scores, got {len(a)}")
    return a - b


def _ratio(n_train: float, n_test: float, what: str) -> float:
    if not n_train > 0 or not n_test > 0:
        raise ValueError(f"{what}: n_train and n_test must be > 0, got {n_train} and {n_test}")
    return float(n_test) / float(n_train)


def corrected_ttest(a, b, n_train: float, n_test: float) -> TTest:
    """Nadeau–Bengio corrected resampled t-test of paired scores `a` vs `b`.

    Args:
        a, b: scores of two configurations on the same resamples (same order).
        n_train, n_test: rows used to train and to score in each resample (means if
            they vary a little between folds).

    Identical scores (no variance) give t = nan, p = 1; a constant non-zero difference
    gives t = ±inf, p = 0.
    """
    d = _paired(a, b, "corrected_ttest")
    ratio = _ratio(n_train, n_test, "corrected_ttest")
    n = len(d)
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return TTest(mean_diff=0.0, t=float("nan"), df=n - 1, p=1.0)
        return TTest(mean_diff=mean, t=math.copysign(math.inf, mean), df=n - 1, p=0.0)
    t = mean / math.sqrt((1.0 / n + ratio) * var)
    p = float(2.0 * stats.t.sf(abs(t), n - 1))
    return TTest(mean_diff=mean, t=float(t), df=n - 1, p=p)


def repeated_kfold_ttest(a, b, folds: int, repeats: int, n_train: float | None = None,
                         n_test: float | None = None) -> TTest:
    """Bouckaert–Frank corrected repeated k-fold t-test: r repeats × k folds, paired.

    t = mean(d) / sqrt((1/(k·r) + n_test/n_train) · var(d)), df = k·r − 1.

    Args:
        a, b: k·r paired scores each (any order, the same for both).
        folds, repeats: k and r.
        n_train, n_test: rows per fold's training and held-out side (default: equal
            folds, n_test/n_train = 1/(k − 1)).

    Example:
        >>> r = repeated_kfold_ttest([0.9, 0.8, 0.85, 0.95], [0.8, 0.8, 0.8, 0.9], folds=2, repeats=2)
        >>> round(r.t, 4), r.df
        (1.0954, 3)
    """
    n = len(np.asarray(a))
    if folds < 2 or repeats < 1 or n != folds * repeats:
        raise ValueError(f"repeated_kfold_ttest: {n} paired scores for {repeats} repeats × {folds} folds; "
                         "expected k·r scores with k ≥ 2, r ≥ 1")
    if n_train is None and n_test is None:
        n_train, n_test = folds - 1, 1
    return corrected_ttest(a, b, n_train, n_test)


def holm(pvalues) -> list:
    """Holm's step-down adjusted p-values: what statsmodels `multipletests(method="holm")` gives.

    The i-th smallest of m p-values becomes max over j ≤ i of (m − j + 1)·p_(j), capped at 1.
    nan entries (e.g. the best arm's own, untested row) stay nan and do not count as tests.
    """
    # Not multipletests itself: its holm branch calls gc.collect(), 0.1–0.2 s once JAX and
    # Keras fill the heap, and a comparison table adjusts twice.
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if len(tested):
        order = tested[np.argsort(p[tested], kind="stable")]
        steps = np.maximum.accumulate(p[order] * np.arange(len(order), 0, -1))
        out[order] = np.minimum(steps, 1.0)
    return out.tolist()


@dataclass(frozen=True)
class Bayes:
    """Posterior probabilities that arm a is worse, practically equivalent, or better than b."""

    p_worse: float
    p_equivalent: float
    p_better: float


def bayesian_ttest(a, b, rope: float, n_train: float, n_test: float, greater_is_better: bool = True) -> Bayes:
    """Bayesian correlated t-test (Benavoli et al. 2017) of paired CV scores `a` vs `b`.

    The posterior of the mean difference is a Student t with n − 1 degrees of freedom,
    centred on mean(a − b), scale² = (1/n + ρ/(1 − ρ)) · var(a − b), where the
    correlation of overlapping folds is ρ = n_test / (n_test + n_train), so
    ρ/(1 − ρ) = n_test/n_train, the same correction as `corrected_ttest`. The
    probabilities are its areas below −rope, within ±rope and above +rope
    (`baycomp.single.Posterior`).

    Args:
        a, b: paired scores on the same folds.
        rope: half-width of the region of practical equivalence, in the metric's units
            (0.01 = one accuracy point; for RMSE it is in the target's units).
        n_train, n_test: rows per resample, as for `corrected_ttest`.
        greater_is_better: False for losses and errors (log loss, RMSE): "better" is lower.

    Example:
        >>> r = bayesian_ttest([0.90, 0.85, 0.92, 0.88], [0.80, 0.82, 0.83, 0.79], 0.01, 30, 10)
        >>> r.p_better > 0.95
        True
    """
    from baycomp.single import Posterior

    d = _paired(a, b, "bayesian_ttest")
    if not rope >= 0:
        raise ValueError(f"bayesian_ttest: rope must be >= 0, got {rope}")
    ratio = _ratio(n_train, n_test, "bayesian_ttest")
    d = d if greater_is_better else -d  # positive: a is better
    n = len(d)
    var = float(d.var(ddof=1)) * (1.0 / n + ratio)
    probs = Posterior(float(d.mean()), var, n - 1, rope).probs()
    worse, equivalent, better = probs if rope > 0 else (probs[0], 0.0, probs[1])
    return Bayes(p_worse=float(worse), p_equivalent=float(equivalent), p_better=float(better))


def versus_best(scores: dict, greater_is_better: bool, n_train: float, n_test: float, rope: float) -> dict:
    """Every arm tested against the best (by mean): the statistics columns of a comparison table.

    Args:
        scores: `{name: paired per-member scores}` (same folds, same order).
        greater_is_better, n_train, n_test, rope: as for `bayesian_ttest`.

    Returns `{name: {diff_vs_best, p_vs_best, p_holm, p_better, p_equivalent, p_worse}}`:
    diff_vs_best = how much better the best's mean is (≥ 0, in the metric's units);
    p_vs_best the corrected t-test's two-sided p; p_holm Holm-adjusted over the arms
    compared; p_better/p_equivalent/p_worse the Bayesian probabilities of the arm
    against the best. The best's own row has diff 0 and nan tests.

    Example:
        >>> r = versus_best({"a": [0.9, 0.8, 0.85], "b": [0.7, 0.72, 0.69]}, True, 20, 10, 0.01)
        >>> r["b"]["diff_vs_best"] > 0, r["a"]["p_vs_best"]
        (True, nan)
    """
    best = best_name(scores, greater_is_better)
    sign = 1.0 if greater_is_better else -1.0
    out = {}
    for name, s in scores.items():
        if name == best:
            out[name] = {"diff_vs_best": 0.0, "p_vs_best": math.nan, "p_better": math.nan,
                         "p_equivalent": math.nan, "p_worse": math.nan}
            continue
        test = corrected_ttest(scores[best], s, n_train, n_test)
        bayes = bayesian_ttest(s, scores[best], rope, n_train, n_test, greater_is_better)
        out[name] = {"diff_vs_best": sign * test.mean_diff, "p_vs_best": test.p, "p_better": bayes.p_better,
                     "p_equivalent": bayes.p_equivalent, "p_worse": bayes.p_worse}
    for name, p in zip(out, holm([row["p_vs_best"] for row in out.values()])):
        out[name]["p_holm"] = p
    return out


def best_name(scores: dict, greater_is_better: bool) -> str:
    """The arm with the best mean score (the first listed among exact ties)."""
    means = {name: float(np.mean(s)) for name, s in scores.items()}
    sign = 1.0 if greater_is_better else -1.0
    return max(means, key=lambda name: sign * means[name])  # max keeps the first of equal values


@dataclass(frozen=True)
class Ties:
    """The best arm by mean, and the arms tied with it (the best included).

    exact: arms whose mean equals the best's; statistical: the others whose difference
    to the best is not significant (Holm-adjusted p ≥ α).
    """

    best: str
    exact: list
    statistical: list

    @property
    def tied(self) -> list:
        return self.exact + self.statistical


def ties(scores: dict, greater_is_better: bool, n_train: float, n_test: float, alpha: float = ALPHA) -> Ties:
    """Which arms the data cannot tell from the best: exact ties and statistical ties.

    An arm whose mean equals the best's is an exact tie (trial order must not crown
    it); an arm whose corrected t-test against the best is not significant after
    Holm's adjustment over all arms compared (p_holm ≥ alpha) is a statistical tie.

    Example:
        >>> t = ties({"a": [0.8, 0.9], "b": [0.9, 0.8], "c": [0.2, 0.3]}, True, 20, 10)
        >>> t.best, t.exact, t.statistical
        ('a', ['a', 'b'], [])
    """
    best = best_name(scores, greater_is_better)
    means = {name: float(np.mean(s)) for name, s in scores.items()}
    exact = [name for name in scores if means[name] == means[best]]
    others = [name for name in scores if name not in exact]
    p = [corrected_ttest(scores[best], scores[name], n_train, n_test).p for name in others]
    statistical = [name for name, q in zip(others, holm(p)) if q >= alpha]
    return Ties(best=best, exact=exact, statistical=statistical)


def simplest_of(arms, n_params: dict) -> str:
    """The arm with the fewest parameters among `arms` (the first listed on equal counts).

    Example:
        >>> simplest_of(["wide", "narrow", "tiny"], {"wide": 900, "narrow": 120, "tiny": 120})
        'narrow'
    """
    arms = list(arms)
    if not arms:
        raise ValueError("simplest_of: no arms to choose from")
    missing = [a for a in arms if a not in n_params]
    if missing:
        raise ValueError(f"simplest_of: no parameter count for {missing}")
    return min(arms, key=lambda a: n_params[a])  # min keeps the first of equal counts


__all__ = ["ALPHA", "TTest", "corrected_ttest", "repeated_kfold_ttest", "holm", "Bayes", "bayesian_ttest",
           "versus_best", "best_name", "Ties", "ties", "simplest_of"]
