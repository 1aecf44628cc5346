"""Diagnoses that state their rule: failed members (the divergence rule), interval-based fit verdicts."""

import doctest
import math
import re

import pytest

from denselab.report import diagnosis

NAN = float("nan")


def test_divergence_rule_counts_each_kind():
    histories = [
        {"loss": [1.0, 0.6, 0.4]},        # healthy
        {"loss": [1.0, NAN, NAN]},        # diverged: a NaN loss
        {"loss": [1.0, 0.5, math.inf]},   # diverged: an overflow
        {"loss": [0.7, 0.9, 1.1]},        # loss not decreasing (a learning rate too large)
        {"loss": [1.0, 0.8]},             # trained, but no better than the majority class
        {"loss": [1.0]},                  # one epoch: "not decreasing" cannot be judged
    ]
    scores = [0.9, NAN, 0.8, 0.6, 0.5, 0.7]
    chance = [0.5] * 6
    h = diagnosis.health(histories, scores, chance, greater_is_better=True)
    assert (h["n"], h["diverged"], h["not_decreasing"], h["at_chance"], h["failed"]) == (6, 2, 1, 1, 4)
    assert [m["diverged"] for m in h["members"]] == [False, True, True, False, False, False]
    # lower is better (rmse): at or above the mean predictor's error is chance level
    low = diagnosis.health([{"loss": [2.0, 1.0]}] * 2, [3.0, 1.0], [3.0, 3.0], greater_is_better=False)
    assert low["at_chance"] == 1


def test_failed_members_get_learning_rate_advice_never_a_higher_rate():
    h = diagnosis.health([{"loss": [1.0, 2.0]}, {"loss": [1.0, NAN]}], [0.3, NAN], [0.34, 0.34], True)
    text = diagnosis.health_text(h, learning_rate=100.0, metric="accuracy")
    assert "1 of 2 members diverged" in text and "1 of 2 members ended with a training loss" in text
    assert "Lower the learning rate (it is 100" in text and "higher learning rate" not in text
    assert diagnosis.health_text(diagnosis.health([{"loss": [1.0, 0.5]}], [0.9], [0.3], True), 0.001,
                                 "accuracy") == ""
    # at chance with a loss still falling (an unscaled regression target, too few epochs): more epochs,
    # not a lower rate
    slow = diagnosis.health([{"loss": [9e4, 5e4]}] * 2, [103.0, 101.0], [78.0, 78.0], greater_is_better=False)
    assert (slow["at_chance"], slow["still_learning"]) == (2, 2)
    text = diagnosis.health_text(slow, learning_rate=0.001, metric="rmse")
    assert "train longer" in text and "Lower the learning rate" not in text and "higher learning rate" not in text


def test_interval_verdict_states_rule_and_numbers():
    train = [0.880, 0.885, 0.883, 0.884, 0.882, 0.884]
    text, row = diagnosis.interval_verdict("accuracy", train, [t - 0.01 for t in train], chance=0.34)
    assert row["rule"] == "underfit"
    # the rule with its numbers: mean 0.883, the CI's upper bound below 0.90
    assert re.search(r"training accuracy 0\.883 \(CI upper bound 0\.88\d\) < 0\.9, so this is underfitting", text)
    assert row["training"] == pytest.approx(0.883) and row["training_ci_high"] < 0.9
    assert "higher learning rate" not in text


def test_within_noise_is_no_detectable_difference():
    # training and validation differ by noise only: the gap's CI includes 0
    text, row = diagnosis.interval_verdict("accuracy", [0.95, 0.97, 0.96, 0.94], [0.97, 0.93, 0.96, 0.95],
                                           chance=0.34)
    assert "No detectable difference between training and validation" in text
    assert row["gap_ci_low"] < 0 < row["gap_ci_high"] and row["rule"] == "good_fit"
    # a training score whose CI straddles 0.90 is not called poor
    text, row = diagnosis.interval_verdict("accuracy", [0.80, 0.99, 0.85, 0.97], [0.79, 0.99, 0.86, 0.96],
                                           chance=0.34)
    assert row["rule"] == "unclear" and "straddles" in text


def test_overfit_needs_a_detectable_and_material_gap():
    text, row = diagnosis.interval_verdict("accuracy", [1.0, 0.99, 1.0, 0.98], [0.80, 0.84, 0.78, 0.82],
                                           chance=0.34)
    assert row["rule"] == "overfit" and "lies above 0" in text and "≥ 5 points" in text
    text, row = diagnosis.interval_verdict("mse", [0.05, 0.06, 0.04], [0.30, 0.28, 0.33], chance=1.0)
    assert row["rule"] == "overfit"
    text, row = diagnosis.interval_verdict("mse", [0.95, 0.97, 0.99], [0.97, 0.99, 1.0], chance=1.0)
    assert row["rule"] == "near_chance" and "a lower learning rate" in text and "higher learning rate" not in text


def test_too_few_members_give_no_verdict():
    text, row = diagnosis.interval_verdict("accuracy", [0.9, NAN], [0.8, NAN], chance=0.5)
    assert text.startswith("No fit diagnosis") and row["rule"] == "none"


def test_docstring_examples():
    assert doctest.testmod(diagnosis).failed == 0


def test_a_poor_fit_level_with_the_best_baseline_is_not_called_underfitting():
    # the diabetes case: training mse well above 0.2 × variance, but the network ties with ridge
    train, val = [2050.0, 1990.0, 2100.0, 2010.0], [3000.0, 2900.0, 3100.0, 3050.0]
    text, row = diagnosis.interval_verdict("mse", train, val, chance=6130.0)
    assert row["rule"] == "underfit" and "more units" in text
    text, row = diagnosis.interval_verdict("mse", train, val, chance=6130.0, level_with="ridge")
    assert row["rule"] == "data_limited" and "ridge" in text and "more capacity is unlikely to help" in text
    assert "more units" not in text
