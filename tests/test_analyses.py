"""The documents' analyses on any table: `denselab study NAME --data FILE --target COLUMN`."""

import json

import numpy as np
import pandas as pd
import pytest

import denselab
from denselab import comparison
from denselab.analyses import ANALYSIS_NAMES, arms_of
from denselab.cli import main
from denselab.report.audit import missing_numbers
from denselab.spec import Experiment

TINY = ["train.epochs=3", "evaluate.folds=2", "evaluate.baselines=[majority, logistic_regression]"]
TINY_REGRESSION = ["train.epochs=3", "evaluate.folds=2", "evaluate.baselines=[mean, ridge]"]


def _tables(tmp_path, rows=120):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    cls = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                        "label": np.where(x[:, 0] + x[:, 1] ** 2 > 0.5, "high", "low")})
    reg = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": 2 * x[:, 0] - x[:, 1]})
    cls.to_csv(tmp_path / "cls.csv", index=False)
    reg.to_csv(tmp_path / "reg.csv", index=False)
    return tmp_path / "cls.csv", tmp_path / "reg.csv"


def test_arms_differ_in_their_factor_only():
    base = Experiment.from_dict({"data": {"source": "iris"}, "model": {"hidden": [{"units": 7, "dropout": 0.1}]}})
    arch = arms_of("architectures", base)
    assert len(arch) == 18 and {(len(a.experiment.model.hidden), a.experiment.model.hidden[0].units)
                                for a in arch} >= {(1, 8), (3, 128)}
    assert all(a.experiment.model.hidden[0].dropout == 0.1 for a in arch)  # the template's other fields stay
    reg = {a.name: a.experiment for a in arms_of("regularization", base)}
    assert reg["none"].model.hidden[0].dropout == 0 and reg["L1 1e-3"].model.hidden[0].l1 == 1e-3
    assert reg["early stopping (patience 10)"].train.patience == 10
    noise = arms_of("noise", base)
    assert all(a.experiment.train.noise_units == "std" for a in noise) and noise[0].experiment.train.noise_sigma == 0
    assert [a.fraction for a in arms_of("samples", base)] == [0.1, 0.25, 0.5, 0.75, 1.0]
    assert {a.experiment.train.loss for a in arms_of("losses", base, task="regression")} == {"mse", "mae", "huber"}


@pytest.mark.parametrize("name", [n for n in ANALYSIS_NAMES if n != "overview"])
def test_each_analysis_on_a_classification_and_a_regression_table(tmp_path, name):
    cls, reg = _tables(tmp_path)
    for path, target, metric in ((cls, "label", "accuracy"), (reg, "y", "rmse")):
        out = tmp_path / f"{name}-{target}"
        r = denselab.study(name, out, data=str(path), target=target, quick=True,
                           overrides=TINY if metric == "accuracy" else TINY_REGRESSION)
        table = pd.DataFrame(r["tables"][name])
        assert list(table.columns[:len(comparison.COLUMNS)]) == list(comparison.COLUMNS)
        assert table["metric"].eq(metric).all() and table["n"].eq(2).all()
        assert set(table["kind"]) == {"network", "baseline"} and r["verdicts"][name]
        nets = table[table["kind"] == "network"]
        assert len(nets) == len(arms_of(name, Experiment.from_dict({"data": {"source": "iris"}}), quick=True,
                                        task="regression" if target == "y" else "classification", n_classes=2))
        html = (out / "report.html").read_text()
        assert name in html and missing_numbers(html, json.loads((out / "results.json").read_text())) == []


def test_overview_cli_on_a_300_row_table_recommends_a_network_with_a_test_score(tmp_path):
    cls, _ = _tables(tmp_path, rows=300)
    out = tmp_path / "overview"
    code = main(["study", "overview", "--data", str(cls), "--target", "label", "--quick", "--out", str(out),
                 "--quiet", *sum((["--set", s] for s in TINY), [])])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for part in ("architectures", "training", "regularization", "overview_arms"):
        rows = results["tables"][part]
        assert set(comparison.COLUMNS) <= set(rows[0]) and any(r["kind"] == "network" for r in rows)
    rec = results["recommended"]
    assert rec["name"] in {r["name"] for r in results["tables"]["overview_arms"]}
    assert 0 <= rec["test"]["accuracy"] <= 1 and rec["test"]["n"] == 60
    assert rec["test"]["ci_low"] <= rec["test"]["accuracy"] <= rec["test"]["ci_high"]
    assert {r["analysis"] for r in results["tables"]["factors"]} == {"architectures", "training", "regularization"}
    html = (out / "report.html").read_text()
    assert "Recommended network" in html and missing_numbers(html, results) == []


def test_study_errors_are_one_line(tmp_path, capsys):
    assert main(["study", "architectures", "--quiet", "--out", str(tmp_path / "x")]) == 2
    assert "--data FILE --target COLUMN" in capsys.readouterr().err
    assert main(["study", "rocks", "--set", "train.epochs=2", "--quiet"]) == 2
    assert "--spec and --set go with the analyses" in capsys.readouterr().err
    assert main(["study", "architecture", "--quiet"]) == 2
    assert "did you mean `architectures`" in capsys.readouterr().err


def test_a_study_result_shows_itself_in_a_notebook(tmp_path):
    cls, _ = _tables(tmp_path)
    r = denselab.study("samples", tmp_path / "nb", data=str(cls), target="label", quick=True, overrides=TINY)
    assert repr(r).startswith("<StudyResult denselab study · samples · ") and len(repr(r)) < 600
    html = r._repr_html_()
    assert "<table" in html and "data:image/png;base64," in html and r["verdicts"]["samples"] in html
    assert r.table("samples").equals(pd.DataFrame(r.tables()["samples"])) and "samples_2" in r.figures()
    assert r["out"] == str(tmp_path / "nb") and json.loads((tmp_path / "nb" / "results.json").read_text())[
        "verdicts"] == r["verdicts"]
