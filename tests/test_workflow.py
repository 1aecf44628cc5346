"""End to end: spec → report, as a user runs it (small epochs)."""

import json

import numpy as np
import pandas as pd
import pytest

import denselab
from denselab.cli import main
from denselab.errors import DenselabError

FAST = ["train.epochs=15", "evaluate.folds=3", "train.batch_size=16"]


def test_iris_run_writes_report_and_contract(tmp_path):
    out = tmp_path / "iris"
    result = denselab.run("iris", out=out, overrides=FAST)
    r = json.loads((out / "results.json").read_text())
    assert r["task"] == "classification"
    assert set(r["cv"]) >= {"metric", "mean", "std", "n", "ci95", "folds"}
    assert r["cv"]["n"] == 3 and len(r["cv"]["folds"]) == 3
    assert r["cv"]["ci95"][0] <= r["cv"]["mean"] <= r["cv"]["ci95"][1]
    assert "accuracy" in r["test"]
    assert len(r["predictions"]["predicted"]) == 2
    assert set(r["predictions"]["predicted"]) <= {"setosa", "versicolor", "virginica"}
    assert r["manifest"]["seed"] == 0 and "keras" in r["manifest"]["versions"]
    html = (out / "report.html").read_text()
    for heading in ("Result", "Diagnosis", "Learning curves", "Confusion matrix", "Pair plot"):
        assert heading.lower() in html.lower()
    assert (out / "cv_folds.csv").exists()
    assert result.model.predict([[5.1, 3.5, 1.4, 0.2]]) == ["setosa"]


def test_same_seed_same_numbers():
    a = denselab.run("iris", overrides=FAST, report=False).results
    b = denselab.run("iris", overrides=FAST, report=False).results
    assert a["cv"]["folds"] == b["cv"]["folds"] and a["test"] == b["test"]


def test_own_csv_with_string_target_id_and_nans(tmp_path):
    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame({"Sample": [f"R{i}" for i in range(n)], "SiO2": rng.normal(60, 6, n),
                          "K2O": rng.normal(2, 1, n)})
    frame["rock type"] = np.where(frame["SiO2"] > 60, "dacite", "basaltic andesite")
    frame.loc[[4, 9], "K2O"] = np.nan
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    spec = {"name": "mine", "data": {"source": str(path), "target": "rock type", "drop": ["Sample"]},
            "train": {"epochs": 10}, "evaluate": {"folds": 3}}
    with pytest.raises(DenselabError, match="missing values in 2 of 60 rows"):
        denselab.run(spec, out=tmp_path / "first")
    assert not (tmp_path / "first").exists()
    spec["data"]["missing"] = "drop"
    result = denselab.run(spec, out=tmp_path / "second")
    assert result.results["data"]["rows_dropped"] == 2
    assert (tmp_path / "second" / "report.html").exists()


def test_regression_surface_report(tmp_path):
    out = tmp_path / "reg"
    denselab.run("workshop-regression-fixed", out=out,
                 overrides=["train.epochs=20", "evaluate.folds=2", "model.hidden[0].units=8"])
    r = json.loads((out / "results.json").read_text())
    # the primary metric is the task's default (RMSE); every regression metric has its interval
    assert r["task"] == "regression" and r["cv"]["metric"] == "rmse"
    assert set(r["cv"]["metrics"]) == set(r["test"]["metrics"]) == {"rmse", "mae", "r2", "mse"}
    page = (out / "report.html").read_text().lower()
    assert "predicted surface" in page and "predicted vs actual" in page


def test_model_save_load_predicts_the_same(tmp_path):
    result = denselab.run("iris", overrides=FAST, report=False)
    path = result.model.save(tmp_path / "iris.keras")
    loaded = denselab.load_model(path)
    rows = [[6.4, 3.2, 4.5, 1.5], [5.8, 3.1, 5.0, 1.7]]
    np.testing.assert_allclose(result.model.predict_proba(rows), loaded.predict_proba(rows), atol=1e-5)
    assert loaded.predict(rows) == result.model.predict(rows)
    assert json.loads(path.with_suffix(".keras.json").read_text())["classes"] == ["setosa", "versicolor", "virginica"]
    lines = []
    result.model.summary(print_fn=lines.append)
    assert any("Dense" in line for line in lines)


def test_cli_run_and_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["run", "iris", "--out", str(out), "--quiet", *sum((["--set", s] for s in FAST), [])])
    assert code == 0 and (out / "report.html").exists()
    assert "report:" in capsys.readouterr().out
    code = main(["run", "iris", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and "already exists" in captured.err and "Traceback" not in captured.err
    code = main(["run", "iris", "--set", "model.hidden[0].activation=rellu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean `relu`" in err and len(err.strip().splitlines()) == 1
    assert main(["datasets"]) == 0 and "rocks" in capsys.readouterr().out
