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
                    "or less regularisation (dropout, L2).")
# At chance even on its own training rows, a network usually failed to train (a rate too large
# makes the loss jump or stall, unscaled inputs saturate units), which more capacity would not fix.
_TRAINING_REMEDY = ("Check that training works before adding capacity, in the learning curves: a loss that "
                    "jumps, stalls or overflows wants a lower learning rate; one still falling at the last "
                    "epoch wants more epochs; and the inputs should be scaled (`data.scaling: standard`).")
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
                "was trained on.", _TRAINING_REMEDY)
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


# --- per-member health and the interval-based verdict of a run's page ------------------------

def health(histories: list, scores, chance_scores, greater_is_better: bool) -> dict:
    """Count members that failed to train, by three stated rules.

    - diverged: a non-finite training loss in any epoch, or a non-finite score;
    - loss not decreasing: finite, but the last epoch's training loss is not below the
      first's (needs at least 2 epochs);
    - at or below chance: a finite score no better than the chance-level model's
      (majority class / mean) on the same rows (`chance_scores`, one per member).

    Returns counts (`n`, `diverged`, `not_decreasing`, `at_chance`, `failed`: members
    with any of them; `still_learning`: members at chance whose loss was falling) and
    `members`: the per-member flags, in member order.

    Example:
        >>> h = health([{"loss": [1.0, 0.5]}, {"loss": [1.0, float("nan")]}, {"loss": [0.7, 0.9]}],
        ...            [0.9, float("nan"), 0.4], [0.5, 0.5, 0.5], greater_is_better=True)
        >>> h["diverged"], h["not_decreasing"], h["at_chance"], h["failed"]
        (1, 1, 1, 2)
    """
    members = []
    for history, score, chance in zip(histories, scores, chance_scores):
        loss = np.asarray(history.get("loss", []), dtype=float)
        score = float(score)
        diverged = bool(not math.isfinite(score) or (len(loss) and not np.all(np.isfinite(loss))))
        flat = bool(not diverged and len(loss) >= 2 and loss[-1] >= loss[0])
        worse = score <= chance if greater_is_better else score >= chance
        at_chance = bool(not diverged and math.isfinite(float(chance)) and worse)
        members.append({"diverged": diverged, "not_decreasing": flat, "at_chance": at_chance})
    count = {key: sum(m[key] for m in members) for key in ("diverged", "not_decreasing", "at_chance")}
    learning = sum(m["at_chance"] and not m["not_decreasing"] for m in members)
    return {"n": len(members), **count, "failed": sum(any(m.values()) for m in members),
            "still_learning": learning, "members": members}


def health_text(h: dict, learning_rate: float, metric: str) -> str:
    """The health counts in words, with advice about the learning rate and scaling ('' when all trained)."""
    if not h["failed"]:
        return ""
    parts = [f"{h[key]} of {h['n']} members {what}" for key, what in (
        ("diverged", "diverged (a NaN or infinite loss or score)"),
        ("not_decreasing", "ended with a training loss not below their first epoch's"),
        ("at_chance", f"scored {metric} at or below the chance-level model on their rows")) if h[key]]
    advice = []
    if h["diverged"] or h["not_decreasing"]:  # a rate too large: never advise a larger one
        advice.append(f"Lower the learning rate (it is {learning_rate:g}; try a tenth of it) and keep the inputs "
                      "scaled (`data.scaling: standard`): a rate too large makes the loss jump, stall or overflow.")
    if h.get("still_learning"):
        advice.append(f"{h['still_learning']} member(s) at chance had a training loss still falling: they had not "
                      "finished learning, so train longer (more `train.epochs`); a regression target far from "
                      "zero takes many epochs to reach from a network's zero-centred start.")
    return (f"Training failed for some members: {'; '.join(parts)}. Rules: non-finite loss or score; last "
            f"training loss ≥ first; score no better than always predicting the majority class (or the "
            f"mean) on the same rows. {' '.join(advice)} Check the learning curves.")


def _ci(values, metric: str | None = None) -> tuple:
    """mean and 95 % CI (Student t over members), clipped to `metric`'s range (none for a gap)."""
    from denselab.metrics import METRICS
    from denselab.train.evaluate import Summary

    s = Summary.of(values)
    low, high = METRICS[metric].range if metric else (-math.inf, math.inf)
    return s.mean, max(s.ci95[0], low), min(s.ci95[1], high)


def _interval(name: str, values, metric: str | None = None, points: bool = False) -> str:
    mean, low, high = _ci(values, metric)
    f = (lambda v: f"{100 * v:.1f}") if points else _fmt
    unit = " points" if points else ""
    return f"{name} {f(mean)}{unit} (95 % CI {f(low)}–{f(high)}{unit})"


def interval_verdict(metric: str, train_scores, val_scores, chance: float,
                     level_with: str | None = None) -> tuple[str, dict]:
    """Under- or overfitting from intervals: (paragraph with each rule and its numbers, measures row).

    Paired per member: the last epoch's training score and the held-out score. A rule
    fires only when the whole 95 % CI of the mean (Student t over members) is past its
    threshold; an effect whose interval straddles the threshold (or zero, for the
    training–validation gap) is reported as "no detectable difference".

    Args:
        metric: `accuracy` (higher is better) or `mse` (lower is better): the engines'
            per-epoch metric.
        train_scores, val_scores: one per member, same order (non-finite members are
            left out; count them with `health`).
        chance: the chance-level score (majority-class accuracy, or the target variance).
        level_with: the best baseline, when the network is level with it or better on
            held-out rows (`comparison` table): then a poor training score is the data's
            noise rather than too little capacity, and the text says so.

    Example:
        >>> text, row = interval_verdict("accuracy", [0.99, 0.98, 1.0], [0.80, 0.78, 0.83], chance=0.34)
        >>> "overfitting" in text, row["rule"]
        (True, 'overfit')
    """
    train, val = np.asarray(train_scores, dtype=float), np.asarray(val_scores, dtype=float)
    keep = np.isfinite(train) & np.isfinite(val)
    train, val = train[keep], val[keep]
    if len(train) < 2 or not math.isfinite(float(chance)):
        return ("No fit diagnosis: fewer than 2 members with finite training and validation scores.",
                {"metric": metric, "rule": "none", "n": int(len(train))})
    gap = train - val if metric == "accuracy" else val - train
    t_mean, t_low, t_high = _ci(train, metric)
    g_mean, g_low, g_high = _ci(gap)
    row = {"metric": metric, "n": int(len(train)), "training": t_mean, "training_ci_low": t_low,
           "training_ci_high": t_high, "validation": float(val.mean()), "chance": float(chance),
           "gap": g_mean, "gap_ci_low": g_low, "gap_ci_high": g_high}
    if metric == "accuracy":  # the rules' thresholds, which the paragraph prints
        row.update(near_chance_margin=NEAR_BASELINE_ACCURACY, poor_training_below=POOR_TRAIN_ACCURACY,
                   overfit_gap=OVERFIT_ACCURACY_GAP)
    else:
        row.update(near_chance_ratio=NEAR_BASELINE_MSE_RATIO, poor_training_ratio=POOR_TRAIN_MSE_RATIO,
                   poor_training_above=POOR_TRAIN_MSE_RATIO * float(chance), overfit_ratio=OVERFIT_MSE_RATIO)
    lines = [f"Over {len(train)} members: {_interval(f'training {metric}', train, metric)}, validation {metric} "
             f"{_fmt(val.mean())}, chance level {_fmt(chance)}."]
    if metric == "accuracy":
        near = t_high < chance + NEAR_BASELINE_ACCURACY
        near_rule = (f"training accuracy CI upper bound {_fmt(t_high)} < chance {_fmt(chance)} + "
                     f"{NEAR_BASELINE_ACCURACY:g}")
        poor, poor_unclear = t_high < POOR_TRAIN_ACCURACY, t_low < POOR_TRAIN_ACCURACY <= t_high
        threshold = f"{POOR_TRAIN_ACCURACY:g}"
        poor_rule = f"training accuracy {_fmt(t_mean)} (CI upper bound {_fmt(t_high)}) < {threshold}"
        material = g_mean >= OVERFIT_ACCURACY_GAP - 1e-9
        gap_text = _interval("the training − validation gap", gap, points=True)
        material_rule = f"≥ {100 * OVERFIT_ACCURACY_GAP:g} points"
    else:
        near = t_low > NEAR_BASELINE_MSE_RATIO * chance
        near_rule = (f"training mse CI lower bound {_fmt(t_low)} > {NEAR_BASELINE_MSE_RATIO:g} × the "
                     f"target variance {_fmt(chance)}")
        limit = POOR_TRAIN_MSE_RATIO * chance
        poor, poor_unclear = t_low > limit, t_low <= limit < t_high
        threshold = _fmt(limit)
        poor_rule = f"training mse {_fmt(t_mean)} (CI lower bound {_fmt(t_low)}) > {POOR_TRAIN_MSE_RATIO:g} × " \
                    f"the variance = {_fmt(limit)}"
        material = val.mean() > OVERFIT_MSE_RATIO * train.mean()
        gap_text = _interval("the validation − training mse gap", gap)
        material_rule = f"validation mse > {OVERFIT_MSE_RATIO:g} × training mse"
    if near and level_with:
        row["rule"] = "no_signal"
        lines.append(f"Rule: {near_rule}; the best baseline, {level_with}, does no better on held-out rows: the "
                     "features may not predict the target at all, which no network fixes.")
        return " ".join(lines), row
    if near:
        row["rule"] = "near_chance"
        lines.append(f"Rule: {near_rule}, so this is underfitting at chance level. {_TRAINING_REMEDY}")
        return " ".join(lines), row
    detectable = g_low > 0
    if detectable and material:
        row["rule"] = "overfit"
        extra = f" The training score is also modest ({poor_rule}): look at capacity too." if poor else ""
        lines.append(f"Rule: {gap_text} lies above 0 and is {material_rule}, so this is overfitting.{extra} "
                     f"{_OVERFIT_REMEDY}")
        return " ".join(lines), row
    if not detectable:
        lines.append(f"No detectable difference between training and validation: {gap_text} includes 0.")
    else:
        lines.append(f"{gap_text[0].upper() + gap_text[1:]} lies above 0 but is not {material_rule}: a small gap.")
    if poor and level_with:
        row["rule"] = "data_limited"
        lines.append(f"By the rule {poor_rule} the training fit is poor, yet on held-out rows the network is level "
                     f"with (or better than) the best baseline, {level_with}: the error left looks like noise in "
                     "the data that none of these models removes, so more capacity is unlikely to help; better "
                     "features or more rows would.")
    elif poor:
        row["rule"] = "underfit"
        lines.append(f"Rule: {poor_rule}, so this is underfitting. {_UNDERFIT_REMEDY}")
    elif poor_unclear:
        row["rule"] = "unclear"
        lines.append(f"The training score's CI ({_fmt(t_low)}–{_fmt(t_high)}) straddles the rule's threshold "
                     f"({threshold}): no detectable under- or overfitting; more "
                     "folds or repeats narrow it.")
    else:
        row["rule"] = "good_fit"
        lines.append("Training is good by the rule and validation is close to it: a good fit. Remaining gains "
                     "will likely come from better data or features rather than a bigger network.")
    return " ".join(lines), row

