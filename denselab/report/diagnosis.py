"""Plain-words diagnosis of a fit: underfitting, overfitting or a good fit.

Compares the training score, the validation score and the chance-level baseline
(accuracy of always predicting the majority class, or the MSE of always predicting
the mean, i.e. the target variance). The thresholds are rules of thumb for
teaching, not statistics; each is a named constant with its reason.

Example:
    >>> "overfitting" in diagnose("classification", "accuracy", 1.0, 0.7, baseline=0.34)
    True
"""

from __future__ import annotations

import math

import numpy as np

# Accuracy within this of the majority-class rate means the network learned next to nothing.
NEAR_BASELINE_ACCURACY = 0.05
# Below this training accuracy a dense network on tabular data usually has capacity to spare.
POOR_TRAIN_ACCURACY = 0.90
# A train–validation accuracy gap above this (5 points) is more than fold-to-fold noise on
# data sets of a few hundred rows.
OVERFIT_ACCURACY_GAP = 0.05
# Training MSE above this share of the baseline (variance) explains < 10 % of it: near chance.
NEAR_BASELINE_MSE_RATIO = 0.90
# Training MSE above this share of the variance (R² < 0.8) is a poor fit of the training rows.
POOR_TRAIN_MSE_RATIO = 0.20
# Validation MSE more than this multiple of training MSE: the model fits noise of the training rows.
OVERFIT_MSE_RATIO = 1.5

_UNDERFIT_REMEDY = ("Give the network more capacity or more time: more units or layers, more epochs, "
                    "a higher learning rate, or less regularisation (dropout, L2).")
_OVERFIT_REMEDY = ("Constrain it: add dropout or L2 regularisation, use early stopping, make the "
                   "network smaller, or train on more (or augmented) data.")


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def diagnose(task: str, metric: str, train_score: float, val_score: float, baseline: float) -> str:
    """One paragraph saying whether the fit under- or overfits, with the numbers and remedies.

    Args:
        task: `classification` or `regression` (used for wording only).
        metric: `accuracy` (higher is better) or `mse` (lower is better).
        train_score, val_score: the metric on training and on validation rows.
        baseline: the chance-level score (majority-class accuracy, or MSE of the mean).
    """
    if metric not in ("accuracy", "mse"):
        raise ValueError(f"diagnose: metric `{metric}` is not supported; expected `accuracy` or `mse`")
    if any(not math.isfinite(float(v)) for v in (train_score, val_score, baseline)):
        return (f"No diagnosis: a score is missing or not finite (training {train_score}, "
                f"validation {val_score}, baseline {baseline}); training may have diverged.")
    numbers = (f"Training {metric} is {_fmt(train_score)}, validation {metric} is {_fmt(val_score)}, "
               f"and the chance level (always predicting "
               f"{'the majority class' if metric == 'accuracy' else 'the mean'}) is {_fmt(baseline)}.")
    verdict, remedy = _verdict(metric, float(train_score), float(val_score), float(baseline))
    return f"{numbers} {verdict} {remedy}".strip()


def measures(metric: str, train_score: float, val_score: float, baseline: float) -> dict:
    """The numbers `diagnose` words, as one table row (a report's results.json keeps them).

    `gap` is training − validation for accuracy (the text shows it in points) and
    validation ÷ training error for mse (the text shows it as a multiple).
    """
    train, val = float(train_score), float(val_score)
    if metric == "accuracy":
        gap = train - val
    else:
        gap = val / train if train > 0 else math.inf
    return {"metric": metric, "training": train, "validation": val, "chance": float(baseline), "gap": gap}


def _verdict(metric: str, train: float, val: float, base: float) -> tuple[str, str]:
    if metric == "accuracy":
        near_base = train - base < NEAR_BASELINE_ACCURACY
        overfit = train - val >= OVERFIT_ACCURACY_GAP - 1e-9  # a gap of exactly 5 points counts
        poor = train < POOR_TRAIN_ACCURACY
        gap = f"{100 * (train - val):.1f} points"
    else:
        ratio = train / base if base > 0 else math.inf
        near_base = ratio > NEAR_BASELINE_MSE_RATIO
        overfit = val > OVERFIT_MSE_RATIO * train and val - train > 1e-12
        poor = ratio > POOR_TRAIN_MSE_RATIO
        gap = f"{val / train:.2g}× the training error" if train > 0 else "far above the training error"
    if near_base:
        return ("This is underfitting: the network does barely better than chance even on the rows it "
                "was trained on.", _UNDERFIT_REMEDY)
    if overfit:
        extra = " The training score itself is also modest, so look at capacity too." if poor else ""
        return (f"This is overfitting: the network does much better on the training rows than on unseen "
                f"rows (the gap is {gap}).{extra}", _OVERFIT_REMEDY)
    if poor:
        return ("This is underfitting: training and validation scores are close, but both are poor, "
                "so the network cannot represent the pattern well enough.", _UNDERFIT_REMEDY)
    return ("This looks like a good fit: the training score is good and validation is close to it.",
            "Remaining gains will likely come from better data or features rather than a bigger network.")


def baseline(ds, metric: str) -> float:
    """Chance level of a Dataset: majority-class accuracy, or the MSE of predicting the mean."""
    if metric == "accuracy":
        return float(np.bincount(ds.y_train).max() / len(ds.y_train))
    return float(np.var(ds.y_train))
