"""The `rocks` and `workshop` studies: quick runs write the contract tables; bad data fails in one line."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from denselab.cli import main
from denselab.errors import DataError
from denselab.report.audit import missing_numbers
from denselab.studies import findings, run_study

LADDER = {"data", "model", "epochs", "accuracy_mean", "accuracy_std", "p_value_vs_best", "ci95_low", "ci95_high"}
REGRESSION = {"net", "cv_mse_mean", "cv_mse_ci_low", "cv_mse_ci_high", "test_mse", "train_mse_last", "diagnosis"}
IRIS = {"net", "train_accuracy_last", "cv_accuracy_mean", "cv_accuracy_std", "test_accuracy", "gap",
        "cv_cross_entropy", "diagnosis"}
CNN = {"data", "test_accuracy", "epochs", "seconds"}


def _saved(out):
    assert (out / "report.html").is_file()
    saved = json.loads((out / "results.json").read_text())
    html = (out / "report.html").read_text(encoding="utf-8")
    # the page's promise: every number shown is also in results.json
    assert missing_numbers(html, saved) == []
    # the page opens with the findings, and each verdict is its rule applied to its own numbers
    assert findings.problems(saved) == []
    assert re.findall(r"<h2[^>]*>([^<]*)", html)[0] == findings.HEADING
    return saved


def _table_csv(path, rows=90, seed=0):
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, rows)
    frame = pd.DataFrame({"a": kind + rng.normal(0, 0.3, rows), "b": rng.normal(0, 1, rows),
                          "c": -kind + rng.normal(0, 0.3, rows), "kind": np.array(["x", "y", "z"])[kind]})
    frame.to_csv(path, index=False)
    return frame


def test_rocks_quick_writes_the_ladder_for_both_sizes(tmp_path):
    out = tmp_path / "rocks"
    results = run_study("rocks", out, quick=True)
    saved = _saved(out)
    ladder = saved["tables"]["ladder"]
    assert LADDER <= set(ladder[0])
    assert {row["data"] for row in ladder} == {"full", "subset-106"}
    assert {row["variant"] for row in ladder} == {"as published", "careful"}
    for label in ("full", "subset-106"):
        for variant in ("as published", "careful"):
            rows = [r for r in ladder if r["data"] == label and r["variant"] == variant]
            best = max(rows, key=lambda r: r["accuracy_mean"])
            assert best["p_value_vs_best"] == 1.0  # the best against itself; never NaN/null
            assert all(0.0 <= r["p_value_vs_best"] <= 1.0 for r in rows)
    # the climb is judged in all four settings, from the pair's own test; untrained rungs are untestable
    found = saved["tables"]["findings"]
    climbs = [f for f in found if f["source"].startswith("The ladder climbs")]
    assert len(climbs) == 4 and {f["verdict"] for f in climbs} <= {findings.HOLDS, findings.FAILS}
    numbers = {n["row"]: n for n in saved["tables"]["findings_numbers"]}
    for i, f in enumerate(found):
        if f in climbs:
            n = numbers[i]
            assert f"{100 * n['mean_a']:.1f} %" in f["evidence"] and f"p = {n['p']:.3g}" in f["evidence"]
            assert ("no detectable difference" in f["evidence"]) == (n["p"] >= 0.05)
    assert any(f["verdict"] == findings.UNTESTABLE and "sigmoid" in f["source"] for f in found)  # quick: not run
    preview = saved["tables"]["data_preview"]
    assert len(preview) == 5 and "Rock_type" in preview[0] and saved["table_shape"] == [1178, 11]
    counts = {r["class"]: r["rows in the table"] for r in saved["tables"]["class_counts"]}
    assert sum(counts.values()) == 1178 and len(counts) == 5
    sizes = {d["data"]: d["rows_train"] for d in saved["data"]}
    assert sizes["subset-106"] == 74  # 106 rows, 30 % held out as in the tutorial
    # paired: every rung of a data set is scored on the same folds
    folds = pd.DataFrame(saved["tables"]["ladder_folds"])
    per_rung = folds.groupby(["data", "model"])["fold"].apply(tuple)
    assert per_rung.groupby(level="data").nunique().eq(1).all()
    assert [r["p_value_vs_best"] for r in results["tables"]["ladder"]] == [r["p_value_vs_best"] for r in ladder]
    html = (out / "report.html").read_text()
    assert "ladder_side_by_side" in html and "pair plot" in html and "data_preview" in html


def test_rocks_runs_on_a_user_csv(tmp_path):
    path = tmp_path / "mine.csv"
    _table_csv(path)
    out = tmp_path / "mine"
    assert main(["study", "rocks", "--data", str(path), "--target", "kind", "--quick", "--quiet",
                 "--out", str(out)]) == 0
    saved = _saved(out)
    ladder = saved["tables"]["ladder"]
    assert {row["data"] for row in ladder} == {"full"}  # the 106-row subset is for the bundled table only
    assert saved["data"][0]["classes"] == ["x", "y", "z"]
    assert max(r["p_value_vs_best"] for r in ladder) == 1.0


def test_rocks_bad_data_is_one_line_data_error(tmp_path, capsys):
    frame = _table_csv(tmp_path / "ok.csv", rows=30)
    frame.loc[3, "b"] = np.nan
    frame.to_csv(tmp_path / "holes.csv", index=False)
    assert main(["study", "rocks", "--data", str(tmp_path / "holes.csv"), "--target", "kind",
                 "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "missing values" in err and "data.missing" in err
    assert main(["study", "rocks", "--data", str(tmp_path / "nope.csv"), "--target", "kind",
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no file" in err
    with pytest.raises(DataError, match="--target"):
        run_study("rocks", tmp_path / "c", data=str(tmp_path / "ok.csv"))
    with pytest.raises(DataError, match="--data"):
        run_study("rocks", tmp_path / "c", target="kind")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_workshop_quick_uses_its_own_split_and_judges_its_findings(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))  # MNIST absent: digits, and the page says so
    out = tmp_path / "workshop"
    run_study("workshop", out, quick=True)
    saved = _saved(out)
    tables = saved["tables"]
    # the workshop's own files: 110/40 and 120/30, not a re-split
    assert saved["own_split"] == {"regression": {"train": 110, "test": 40}, "iris": {"train": 120, "test": 30}}
    assert REGRESSION <= set(tables["regression"][0]) and len(tables["regression"]) == 2
    assert IRIS <= set(tables["iris"][0]) and [r["net"] for r in tables["iris"]] == [
        "as given (1000-500-70)", "dropout 0.4", "L1 0.01", "L2 0.01", "early stopping (patience 10)"]
    for row in tables["iris"]:  # every remedy has its interval, its gap and its penalty-free held-out loss
        assert row["cv_accuracy_ci_low"] <= row["cv_accuracy_mean"] <= row["cv_accuracy_ci_high"]
        assert row["gap_ci_low"] <= row["gap"] <= row["gap_ci_high"] and row["cv_cross_entropy"] > 0
    flowers = tables["iris_flowers"]
    assert len(flowers) == 5
    for row in flowers:  # both flowers predicted, with probabilities that sum to 1
        for i in (1, 2):
            probs = [row[f"flower {i}: p(class {c})"] for c in (0, 1, 2)]
            assert abs(sum(probs) - 1) < 1e-4 and row[f"flower {i}: class"] == int(np.argmax(probs))
    verdicts = [f for f in tables["findings"] if f["source"].startswith("The two new flowers")]
    assert [f["verdict"] == findings.HOLDS for f in verdicts] == [
        [r["flower 1: class"], r["flower 2: class"]] == [1, 2] for r in flowers]
    assert CNN <= set(tables["cnn"][0]) and [r["data"] for r in tables["cnn"]] == ["digits (8×8)"]
    assert tables["findings"][-1]["verdict"] == findings.UNTESTABLE  # MNIST absent
    html = (out / "report.html").read_text()
    assert html.count("Diagnosis of ") == 7  # 2 regression nets + 5 iris nets
    assert "mnist.load_data()" in html
    with pytest.raises(DataError, match="workshop"):
        run_study("workshop", tmp_path / "x", data="file.csv", target="y")


def test_workshop_split_is_the_workshops_files():
    from denselab.spec import load
    from denselab.studies.workshop import own_split

    ds = own_split(load("workshop-iris-overfit"))
    first_test = pd.read_csv("denselab/data/files/greght-workshop/iris_test.csv", header=None).iloc[0]
    assert len(ds.y_train) == 120 and len(ds.y_test) == 30
    np.testing.assert_allclose(ds.x_test[0], first_test.iloc[:4].to_numpy(dtype=float), rtol=1e-6)
    assert ds.classes[ds.y_test[0]] == int(first_test.iloc[4])
