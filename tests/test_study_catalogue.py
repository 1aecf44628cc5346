"""The `catalogue` study: the quick run writes the contract tables; the `sunspots` built-in;
every catalogue loss trains through the fleet; the activation derivatives match the lecture."""

import json
import re

import numpy as np
import pytest

from denselab.data.prepare import load_dataset
from denselab.data.sources import BUILTINS, describe
from denselab.errors import DataError
from denselab.report.audit import missing_numbers
from denselab.models.build import head_for
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.studies import catalogue, catalogue_topologies, findings, run_study
from denselab.train.evaluate import cross_validate

SPREAD = {"mean", "std", "n", "ci_low", "ci_high", "diverged", "collapsed"}  # comparison.build's columns
CONTRACT = {
    "activations": {"dataset", "activation", *SPREAD},
    "losses": {"dataset", "loss", "seconds_per_epoch", *SPREAD},
    "optimizers": {"optimizer", "learning_rate", "final_loss", "chance", *SPREAD},
    "topologies": {"data", "name", "kind", "metric", "seconds", *SPREAD},
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("catalogue") / "report"
    results = run_study("catalogue", out, quick=True)
    return results, json.loads((out / "results.json").read_text()), out


def test_quick_study_writes_report_and_contract_tables(quick):
    results, saved, out = quick
    assert (out / "report.html").is_file()
    html = (out / "report.html").read_text()
    for heading in ("Activation functions and their derivatives", "Losses", "Optimizers", "Topologies", "Run time"):
        assert heading in html
    for name, columns in CONTRACT.items():
        rows = saved["tables"][name]
        assert rows, name
        assert columns <= set(rows[0]), (name, set(rows[0]))
        assert (out / f"{name}.csv").is_file()
    q = catalogue.QUICK
    assert len(saved["tables"]["activations"]) == len(q["activations"]) * len(q["datasets"])
    assert len(saved["tables"]["optimizers"]) == len(q["optimizers"]) * len(q["learning_rates"])
    topologies = saved["tables"]["topologies"]
    assert {r["name"].split()[0] for r in topologies} >= {"MLP", "CNN", "GRU", "persistence"}
    # every topology is trained with several seeds on its holdout split: a spread and an interval
    for r in topologies:
        if r["kind"] == "network":
            assert r["n"] == q["topology_seeds"] and r["ci_low"] <= r["mean"] <= r["ci_high"], r
    for row in saved["tables"]["losses"]:
        assert row["seconds_per_epoch"] > 0


def test_every_number_on_the_page_is_in_results_json(quick):
    _, saved, out = quick
    assert missing_numbers((out / "report.html").read_text(encoding="utf-8"), saved) == []


def test_the_page_opens_with_the_lectures_findings_from_the_members_scores(quick):
    _, saved, out = quick
    html = (out / "report.html").read_text(encoding="utf-8")
    assert re.findall(r"<h2[^>]*>([^<]*)", html)[0] == findings.HEADING
    assert findings.problems(saved) == []
    found, numbers = saved["tables"]["findings"], saved["tables"]["findings_numbers"]
    assert len(found) == len(catalogue.QUICK["datasets"])  # relu vs identity on each data set
    means = {(r["dataset"], r["activation"]): r["mean"] for r in saved["tables"]["activations"]}
    for f, n in zip(found, numbers):
        label = f["finding"].split(":")[0]
        assert n["mean_a"] == pytest.approx(means[(label, "relu")])
        assert n["mean_b"] == pytest.approx(means[(label, "identity")])
    # optimizers: members that trained but learned nothing are counted, not hidden as "0 diverged"
    assert all(r["collapsed"] >= 0 and r["n"] == catalogue.QUICK["folds"] for r in saved["tables"]["optimizers"])


def test_keras_workflow_runs_every_call_on_one_net(quick):
    _, saved, out = quick
    calls = [r["call"] for r in saved["tables"]["keras_workflow"]]
    assert calls[:3] == ["model.summary()", "model.get_config()", "model.get_weights() shapes"]
    numbers = saved["keras_workflow"]
    assert numbers["max_abs_diff_after_load"] < 1e-5  # save → load → the same predictions
    assert numbers["weight_shapes"] == [[4, 20], [20], [20, 20], [20], [20, 3], [3]]
    assert numbers["lstm_output_shape"] == [4, 1] and numbers["test_rows"] == 30
    assert all(abs(sum(p) - 1) < 1e-5 for p in numbers["proba"])


def test_study_refuses_user_data(tmp_path):
    with pytest.raises(DataError, match="catalogue: the study uses its own built-in data"):
        catalogue.run(tmp_path / "x", data=(np.zeros((4, 2)), np.zeros(4)))


def test_sunspots_builtin_loads_in_time_order():
    assert "sunspots" in BUILTINS and any(name == "sunspots" for name, _, _ in describe())
    ds = load_dataset(DataSpec(source="sunspots", test_size=0.0), seed=0)
    k = 11
    assert ds.task == "regression"
    assert ds.x_train.shape == (309 - k, k)
    assert ds.feature_names == [f"lag_{i}" for i in range(k, 0, -1)]
    # each row's window is the previous row's shifted by one year, and lag_1 is last year's target
    np.testing.assert_allclose(ds.x_train[1:, :-1], ds.x_train[:-1, 1:])
    np.testing.assert_allclose(ds.x_train[1:, -1], ds.y_train[:-1])
    split = catalogue_topologies.sunspots_dataset(0)
    years = catalogue_topologies.SUNSPOT_TEST_YEARS
    assert split.x_test.shape == (years, k)
    np.testing.assert_allclose(split.x_test[0], ds.x_train[-years])


@pytest.mark.parametrize("loss", catalogue.LOSSES)
def test_every_catalogue_loss_trains_through_the_fleet(loss):
    exp = Experiment(data=DataSpec(source="iris"), model=ModelSpec(hidden=(LayerSpec(units=8),)),
                     train=TrainSpec(epochs=3, loss=loss), evaluate=EvalSpec(folds=2, engine="fleet"))
    cv = cross_validate(exp)
    assert cv.engine == "fleet"
    assert np.isfinite(cv.losses).all()
    assert all(np.isfinite(h["loss"]).all() for h in cv.histories)


def test_every_activation_resolves_and_builds():
    for name in catalogue.ACTIVATIONS:
        model = catalogue.dense_model(name)
        head = head_for("classification", 3, model, TrainSpec())
        from denselab.models.build import build_model

        assert build_model(model, head, 4).output_shape == (None, 3)


def test_derivatives_match_the_lecture_table():
    table, curves = catalogue.derivatives_table(catalogue.ACTIVATIONS)
    lecture = table[table["in_lecture_table"]]
    assert set(lecture["activation"]) == set(catalogue.LECTURE_ACTIVATIONS)
    assert (lecture["max_abs_diff_to_lecture"] < 1e-5).all()
    x, y, dy = curves["binary_step"]
    np.testing.assert_array_equal(y, (x >= 0).astype(float))
    np.testing.assert_allclose(dy, 1.0)  # what jax.grad sees: the straight-through surrogate


def test_cauchy_schwarz_survives_unequal_folds():
    exp = Experiment(data=DataSpec(source="iris"), model=ModelSpec(hidden=(LayerSpec(units=8),)),
                     train=TrainSpec(epochs=3, loss="cauchy_schwarz"), evaluate=EvalSpec(folds=7, engine="fleet"))
    cv = cross_validate(exp)  # 120 rows in 7 folds: members train on 102 or 103 rows, some are padded
    assert np.isfinite(cv.losses).all()
