"""Statistics: Bouckaert–Frank and Holm against hand computation, the Bayesian test, ties."""

import doctest
import math

import numpy as np
import pytest
from scipy import stats as sps

from denselab import stats

# 2 repeats × 3 folds of two arms, paired; d = a − b = [.02, .01, .05, .05, −.02, .04]
A = [0.80, 0.75, 0.90, 0.85, 0.70, 0.80]
B = [0.78, 0.74, 0.85, 0.80, 0.72, 0.76]


def test_bouckaert_frank_hand_computed():
    # mean(d) = 0.15 / 6 = 0.025; Σ(d − mean)² = 0.00375, var = 0.00375 / 5 = 0.00075;
    # factor 1/(k·r) + n_test/n_train = 1/6 + 1/2 = 2/3 → var · factor = 0.0005;
    # t = 0.025 / √0.0005 = √5 / 2 = 1.118034, df = 5, two-sided p = 0.314373
    r = stats.repeated_kfold_ttest(A, B, folds=3, repeats=2)
    assert r.mean_diff == pytest.approx(0.025)
    assert r.t == pytest.approx(math.sqrt(5) / 2)
    assert r.df == 5
    assert r.p == pytest.approx(0.314373, abs=1e-6)
    # explicit fold sizes: 40 training rows, 20 held out, the same ratio
    assert stats.repeated_kfold_ttest(A, B, 3, 2, n_train=40, n_test=20).t == pytest.approx(r.t)
    # unequal sizes: 1/6 + 10/40 = 5/12 → t = 0.025 / √(0.00075 · 5/12)
    assert stats.repeated_kfold_ttest(A, B, 3, 2, n_train=40, n_test=10).t == \
        pytest.approx(0.025 / math.sqrt(0.00075 * 5 / 12))
    with pytest.raises(ValueError, match="2 repeats × 4 folds"):
        stats.repeated_kfold_ttest(A, B, folds=4, repeats=2)


def test_corrected_ttest_edge_cases():
    assert stats.corrected_ttest([0.5, 0.7], [0.5, 0.7], 10, 5).p == 1.0
    r = stats.corrected_ttest([0.75, 0.5], [0.5, 0.25], 10, 5)  # exactly 0.25 apart in binary
    assert r.t == math.inf and r.p == 0.0
    with pytest.raises(ValueError, match="paired 1-D"):
        stats.corrected_ttest([1, 2, 3], [1, 2], 10, 5)


def test_search_keeps_its_import():
    from denselab.search import TTest, corrected_ttest

    assert corrected_ttest is stats.corrected_ttest and TTest is stats.TTest


def test_holm_hand_computed():
    # sorted: 0.01·4 = 0.04; 0.03·3 = 0.09; 0.04·2 = 0.08 → running max 0.09; 0.20·1 = 0.20
    assert stats.holm([0.01, 0.04, 0.03, 0.20]) == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # the best's own untested row (nan) stays nan and is not counted as a test
    out = stats.holm([math.nan, 0.01, 0.04, 0.03, 0.20])
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]  # 0.5·2 = 1.0 (capped at 1), and never below an earlier step



def test_holm_equals_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(1)
    cases = [rng.random(m) ** 3 for m in (1, 2, 5, 12)] + [np.array([0.02, 0.02, 0.4, 0.02]), np.array([0.6, 0.7])]
    for p in cases:
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), rel=1e-15)
    assert stats.holm([]) == [] and all(math.isnan(v) for v in stats.holm([math.nan, math.nan]))

def test_bayesian_ttest_against_the_papers_formula():
    # Benavoli et al. 2017 (their R reference, correlatedBayesianTtest): scale =
    # sd(d) · √(1/n + ρ/(1 − ρ)), ρ = n_test/(n_test + n_train) = 1/3 for 3 folds;
    # P(left) = T_df((−rope − mean)/scale), P(right) = 1 − T_df((rope − mean)/scale)
    rope, n = 0.01, 6
    rho = 1 / 3
    scale = math.sqrt(0.00075) * math.sqrt(1 / n + rho / (1 - rho))
    worse = sps.t.cdf((-rope - 0.025) / scale, n - 1)
    better = 1 - sps.t.cdf((rope - 0.025) / scale, n - 1)
    r = stats.bayesian_ttest(A, B, rope, n_train=2, n_test=1)
    assert (r.p_worse, r.p_equivalent, r.p_better) == pytest.approx((worse, 1 - worse - better, better))
    # lower-is-better metrics (rmse): the same numbers from the other side
    flipped = stats.bayesian_ttest(A, B, rope, 2, 1, greater_is_better=False)
    assert (flipped.p_worse, flipped.p_better) == pytest.approx((r.p_better, r.p_worse))


def test_bayesian_ttest_equals_baycomp_shortcut():
    from baycomp import CorrelatedTTest

    # baycomp's own entry point for r runs of k-fold CV (diff = y − x, so x is the other arm)
    left, rope, right = CorrelatedTTest.probs(np.array(B), np.array(A), rope=0.02, runs=2)
    r = stats.bayesian_ttest(A, B, 0.02, n_train=2, n_test=1)
    assert (r.p_worse, r.p_equivalent, r.p_better) == pytest.approx((left, rope, right))
    no_rope = stats.bayesian_ttest(A, B, 0.0, 2, 1)
    assert no_rope.p_equivalent == 0.0
    assert no_rope.p_worse + no_rope.p_better == pytest.approx(1.0)


def test_ties_exact_and_statistical():
    scores = {
        "first": [0.80, 0.90, 0.85, 0.85],
        "same_mean": [0.90, 0.80, 0.85, 0.85],    # an exact tie: trial order must not crown `first`
        "noisy": [0.70, 0.95, 0.80, 0.90],        # mean 0.8375, within noise
        "clearly_worse": [0.50, 0.52, 0.51, 0.50],
    }
    t = stats.ties(scores, greater_is_better=True, n_train=30, n_test=10)
    assert t.best == "first"
    assert t.exact == ["first", "same_mean"]
    assert t.statistical == ["noisy"]
    assert t.tied == ["first", "same_mean", "noisy"]
    # lower is better: the error-like view of the same arms
    errors = {k: [1 - v for v in s] for k, s in scores.items()}
    assert stats.ties(errors, False, 30, 10).tied == t.tied


def test_simplest_of_ties():
    n_params = {"first": 900, "same_mean": 120, "noisy": 40, "clearly_worse": 10}
    assert stats.simplest_of(["first", "same_mean", "noisy"], n_params) == "noisy"
    assert stats.simplest_of(["b", "a"], {"a": 5, "b": 5}) == "b"  # equal counts: the first listed
    with pytest.raises(ValueError, match="no parameter count"):
        stats.simplest_of(["x"], {})


def test_versus_best_columns():
    scores = {"net": [0.80, 0.90, 0.85, 0.85], "ridge": [0.70, 0.72, 0.71, 0.69]}
    out = stats.versus_best(scores, True, 30, 10, rope=0.01)
    assert out["net"]["diff_vs_best"] == 0.0 and math.isnan(out["net"]["p_holm"])
    row = out["ridge"]
    assert row["diff_vs_best"] == pytest.approx(0.145)
    assert row["p_vs_best"] == stats.corrected_ttest(scores["net"], scores["ridge"], 30, 10).p
    assert row["p_holm"] == pytest.approx(row["p_vs_best"])  # one test: Holm changes nothing
    assert row["p_worse"] > 0.9 and row["p_worse"] + row["p_equivalent"] + row["p_better"] == pytest.approx(1)


def test_docstring_examples():
    assert doctest.testmod(stats).failed == 0
