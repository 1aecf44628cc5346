"""The `synthetic2d` study: the quick run writes the contract tables (and every number it shows is in
results.json); zeros ≈ chance;
dropout as a fleet member trains exactly as one fleet per dropout rate."""

import json
import re

import numpy as np
import pytest

from denselab.cli import main
from denselab.data.prepare import load_dataset
from denselab.errors import DataError
from denselab.report.audit import missing_numbers
from denselab.studies import findings, run_study
from denselab.studies import synthetic2d as s2d

CONTRACT = {
    "samples": {"function", "n", "accuracy_mean", "accuracy_std"},
    "augmentation": {"fraction", "sigma", "val_loss_min", "val_accuracy_max"},
    "initializers": {"function", "initializer", "accuracy_mean", "accuracy_std", "loss_mean"},
    "grid": {"function", "optimizer", "activation", "output_activation", "depth", "dropout", "accuracy_mean",
             "accuracy_std"},
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("s2d") / "report"
    assert main(["study", "synthetic2d", "--quick", "--out", str(out)]) == 0
    return json.loads((out / "results.json").read_text()), out


def test_quick_study_writes_the_contract_tables(quick):
    saved, out = quick
    assert (out / "report.html").is_file()
    for name, columns in CONTRACT.items():
        rows = saved["tables"][name]
        assert rows, name
        assert columns <= set(rows[0]), (name, set(rows[0]))
    grid = saved["tables"]["grid"]
    assert len(grid) == len(s2d.QUICK["functions"]) * int(np.prod([len(v) for v in s2d.QUICK_GRID.values()]))
    assert {r["output_activation"] for r in grid} == set(s2d.QUICK_GRID["output_activation"])
    sizes = {r["n"] for r in saved["tables"]["samples"]}
    assert sizes == set(s2d.QUICK["samples"])


def test_zeros_initializer_is_near_chance(quick):
    saved, _ = quick
    zeros = [r for r in saved["tables"]["initializers"] if r["initializer"] == "zeros"]
    assert zeros
    for row in zeros:  # a constant output: the majority class at best, loss ≈ ln 2
        assert row["accuracy_mean"] < 0.65
        assert abs(row["loss_mean"] - np.log(2)) < 0.02


def test_every_number_on_the_page_is_in_results_json(quick):
    saved, out = quick
    assert missing_numbers((out / "report.html").read_text(encoding="utf-8"), saved) == []


def test_the_page_opens_with_findings_judged_by_their_own_numbers(quick):
    saved, out = quick
    html = (out / "report.html").read_text(encoding="utf-8")
    assert re.findall(r"<h2[^>]*>([^<]*)", html)[0] == findings.HEADING
    assert findings.problems(saved) == []
    found = saved["tables"]["findings"]
    numbers = {n["row"]: n for n in saved["tables"]["findings_numbers"]}
    inits = {(r["function"], r["initializer"]): r["accuracy_mean"] for r in saved["tables"]["initializers"]}
    rows = [(i, f) for i, f in enumerate(found) if f["finding"].endswith("random_normal vs zeros")]
    assert len(rows) == len(s2d.QUICK["functions"])
    for i, f in rows:  # the pair's means are the initializer table's
        function = f["finding"].split(":")[0]
        assert numbers[i]["mean_a"] == pytest.approx(inits[(function, "random_normal")])
        assert numbers[i]["mean_b"] == pytest.approx(inits[(function, "zeros")])
    assert saved["aug_n"] == s2d.QUICK["n"] and {r["n"] for r in saved["tables"]["augmentation"]} == {saved["aug_n"]}


def test_initializer_table_states_its_training_and_chance(quick):
    saved, _ = quick
    assert saved["settings"]["initializers"]["learning_rate"] == s2d.INIT_LEARNING_RATE
    assert saved["settings"]["initializers"]["dropout"] == s2d.INIT_DROPOUT
    for row in saved["tables"]["initializers"]:
        assert 0.5 <= row["majority_rate"] < 1
        if row["initializer"] == "zeros":  # a constant output scores the majority class exactly
            assert row["accuracy_mean"] == pytest.approx(row["majority_rate"], abs=5e-3)
    source = {r["initializer"]: r["accuracy"] for r in saved["tables"]["initializers_source"]}
    assert source["random_normal"] == 0.9474 and source["zeros"] == 0.5299  # the source's Table III


def test_dropout_members_train_as_separate_fleets():
    ds = load_dataset(s2d.data_spec("f3", 240, 0), 0)
    grid = {"optimizer": ("adam",), "activation": ("tanh",), "output_activation": ("sigmoid",), "depth": (2,),
            "dropout": (0.1, 0.4)}
    together, _, _, _ = s2d.grid_search(grid, [("f3", ds)], 3, seed=0)
    for rate in grid["dropout"]:
        alone, _, _, _ = s2d.grid_search({**grid, "dropout": (rate,)}, [("f3", ds)], 3, seed=0)
        row = together[together["dropout"] == rate].iloc[0]
        np.testing.assert_allclose(row["accuracy_mean"], alone["accuracy_mean"].iloc[0], atol=1e-6)
        np.testing.assert_allclose(row["loss_mean"], alone["loss_mean"].iloc[0], rtol=1e-4)


def test_study_refuses_user_data(tmp_path):
    with pytest.raises(DataError, match="generates its own 2-D data"):
        run_study("synthetic2d", tmp_path / "x", data="some.csv", target="y")


def test_a_grid_is_one_fleet_call_per_function_and_maps_its_best_point():
    """Every point differs only in member data (optimizer, output and loss, dropout rate), so the
    grid is one engine call; the map net is the winner's fold closest to its CV mean."""
    ds = load_dataset(s2d.data_spec("f3", 300, 0), 0)
    grid = {"optimizer": ("adam", "sgd"), "activation": ("tanh",), "output_activation": ("sigmoid", "tanh"),
            "depth": (2,), "dropout": (0.1, 0.3)}
    table, members, best, timings = s2d.grid_search(grid, [("f3", ds)], 6, seed=0, keep_weights=True)
    assert len(table) == 8 and table["members"].eq(s2d.FOLDS).all() and len(members) == 8 * s2d.FOLDS
    assert len(timings) == 1 and timings["points"].iloc[0] == 8
    winner = s2d.best_per_function(table).iloc[0]
    row = best["f3"]["row"]
    assert (row["optimizer"], row["output_activation"], row["dropout"]) == (
        winner["optimizer"], winner["output_activation"], winner["dropout"])
    assert row["cv_accuracy_mean"] == pytest.approx(winner["accuracy_mean"])
    assert len(best["f3"]["weights"]) == 2 * 3   # two hidden Dense layers and the output, kernel + bias each
