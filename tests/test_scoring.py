"""A run's honest numbers: every metric with intervals, baselines beside the network, edge-data notes."""

import json

import numpy as np
import pandas as pd
import pytest

import denselab
from denselab.data.prepare import fold_indices, from_frame
from denselab.report.audit import missing_numbers
from denselab.scoring import edge_notes
from denselab.spec import DataSpec
from denselab.train.plan import Split

TINY = ["train.epochs=5", "evaluate.folds=3"]


def _read(out):
    return json.loads((out / "results.json").read_text()), (out / "report.html").read_text()


def test_linear_truth_the_network_does_not_beat_ridge(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                          "y": 3 * x[:, 0] - 2 * x[:, 1] + x[:, 2] + 0.3 * rng.normal(size=150)})
    out = tmp_path / "linear"
    denselab.run({"name": "linear", "data": {"target": "y"}}, out=out, data=frame, overrides=TINY)
    results, html = _read(out)
    assert results["primary_metric"] == "rmse"
    assert set(results["cv"]["metrics"]) == {"rmse", "mae", "r2", "mse"}
    r2 = results["cv"]["metrics"]["r2"]
    assert set(r2) == {"mean", "std", "n", "ci95"} and r2["n"] == 3
    test = results["test"]["metrics"]["rmse"]
    assert test["n"] == 30 and test["ci95"][0] < test["value"] < test["ci95"][1] and test["interval"] == "bootstrap"
    rows = {row["name"]: row for row in results["comparison"]}
    assert rows["ridge"]["kind"] == "baseline" and rows["linear"]["kind"] == "network"
    assert rows["ridge"]["n"] == rows["linear"]["n"] == 3  # scored on the same 3 folds
    assert "beats" not in results["verdict"] and "ridge" in results["verdict"]
    assert results["verdict"] in html
    assert "Predicted vs actual" in html and "Every metric" in html
    assert missing_numbers(html, results) == []


def test_imbalanced_classes_show_balanced_accuracy_and_per_class_recall(tmp_path):
    rng = np.random.default_rng(1)
    n = 120
    y = np.where(rng.random(n) < 0.1, "rare", "common")
    frame = pd.DataFrame({"a": rng.normal(size=n) + (y == "rare"), "b": rng.normal(size=n), "y": y})
    out = tmp_path / "imbalanced"
    denselab.run({"name": "imbalanced", "data": {"target": "y"}}, out=out, data=frame, overrides=TINY)
    results, html = _read(out)
    cv = results["cv"]["metrics"]
    assert set(cv) == {"accuracy", "balanced_accuracy", "f1_macro", "log_loss"}
    assert results["test"]["metrics"]["accuracy"]["interval"] == "wilson"
    per_class = pd.DataFrame(results["tables"]["per_class"])
    assert set(per_class["class"]) == {"common", "rare"} and set(per_class["rows"]) == \
        {"cv (pooled held-out folds)", "test"}
    assert {"precision", "recall", "support"} <= set(per_class.columns)
    assert "balanced_accuracy" in html and "Per class" in html and "recall" in html
    majority = next(row for row in results["comparison"] if row["name"] == "majority")
    assert majority["kind"] == "baseline"
    assert results["health"]["n"] == 3 and "notes" in results
    assert missing_numbers(html, results) == []


def _splits(ds, folds, stratified=True):
    return [Split(0, k, tr, va) for k, (tr, va) in enumerate(fold_indices(ds.y_train, folds, stratified, ds.task, 0))]


def test_edge_data_notes():
    rng = np.random.default_rng(2)
    # a class of 3 rows with 5 folds: rarer than the fold count, and some folds score without it
    y = np.array(["a"] * 40 + ["b"] * 37 + ["c"] * 3)
    frame = pd.DataFrame({"x": rng.normal(size=80), "y": y})
    ds = from_frame(frame, "y", DataSpec(source="t", test_size=0.0), seed=0)
    notes = edge_notes(ds, _splits(ds, 5), 5)
    assert any("fewer training rows than the 5 folds: `c` (3)" in n for n in notes)
    # a fold holding one class only
    ds2 = from_frame(pd.DataFrame({"x": rng.normal(size=20), "y": ["a"] * 10 + ["b"] * 10}), "y",
                     DataSpec(source="t", test_size=0.0), seed=0)
    one_class = [Split(0, 0, np.arange(20), np.flatnonzero(ds2.y_train == 0))]
    assert any("1 of 1 folds hold a single class" in n for n in edge_notes(ds2, one_class, 2))
    # a constant regression target
    const = from_frame(pd.DataFrame({"x": rng.normal(size=30), "y": np.full(30, 4.0)}), "y",
                       DataSpec(source="t", task="regression"), seed=0)
    assert any("is constant (4)" in n for n in edge_notes(const, _splits(const, 3, False), 3))
    assert edge_notes(ds2, _splits(ds2, 2), 2) == []


def test_no_baselines_and_another_primary_metric(tmp_path):
    out = tmp_path / "iris"
    denselab.run("iris", out=out, overrides=TINY + ["evaluate.baselines=none", "evaluate.metric=balanced_accuracy"])
    results, html = _read(out)
    assert results["primary_metric"] == results["cv"]["metric"] == "balanced_accuracy"
    assert [row["kind"] for row in results["comparison"]] == ["network"] and results["verdict"] == ""
    assert "No baselines were scored" in html
    assert results["test"]["balanced_accuracy"] == results["test"]["metrics"]["balanced_accuracy"]["value"]
    assert results["health"]["n"] == 3  # the chance level is still the majority class, fitted per fold
    assert missing_numbers(html, results) == []
