"""Search: the space in the spec, the ask → fleet → tell loop, resume after a crash, statistics."""

import json
import re
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from denselab.search import runner
from denselab.errors import DenselabError, SpecError
from denselab.search import corrected_ttest, mask_url, parse, search, split_hparams
from denselab.search.store import open_storage
from denselab.train.engine import apply_hparams

TINY = {"epochs": 3, "batch_size": 32}


def tiny_spec(name, **search_section):
    return {
        "name": name,
        "data": {"source": "iris"},
        "model": {"hidden": [{"units": 4, "activation": "relu", "dropout": 0.1}]},
        "train": dict(TINY),
        "evaluate": {"folds": 2},
        "search": search_section,
    }


# --- the space -------------------------------------------------------------------

def test_inline_list_and_dotted_range():
    raw = tiny_spec("s", space={"model.hidden[0].units": {"low": 5, "high": 100, "log": True},
                                "train.learning_rate": {"low": "1e-4", "high": 0.1, "log": True}})
    raw["train"]["optimizer"] = ["sgd", "rmsprop", "adagrad", "adam", "nadam"]
    raw["data"]["drop"] = ["petal_width"]  # a list at a list field is just a list
    space = parse(raw)
    by = {p.path: p for p in space.params}
    assert set(by) == {"train.optimizer", "model.hidden[0].units", "train.learning_rate"}
    assert by["train.optimizer"].choices == ("sgd", "rmsprop", "adagrad", "adam", "nadam")
    assert (by["model.hidden[0].units"].kind, by["model.hidden[0].units"].low, by["model.hidden[0].units"].log) == ("int", 5, True)
    assert by["train.learning_rate"].low == 1e-4  # YAML 1.1 reads 1e-4 as a string
    assert space.base.data.drop == ("petal_width",)
    exp = space.experiment({"train.optimizer": "sgd", "model.hidden[0].units": 37, "train.learning_rate": 0.01})
    assert (exp.train.optimizer, exp.model.hidden[0].units, exp.train.learning_rate) == ("sgd", 37, 0.01)


def test_choice_of_architectures_and_structure_split():
    space = parse(tiny_spec("s", space={"model.hidden": [[{"units": 4}], [{"units": 8, "dropout": 0.2}, {"units": 4, "dropout": 0.2}]]}))
    (param,) = space.params
    exp = space.experiment({"model.hidden": param.choices[1]})
    assert [layer.units for layer in exp.model.hidden] == [8, 4]
    base, hp = split_hparams(exp)
    assert hp["dropout"] == 0.2 and apply_hparams(base.model, base.train, hp) == (exp.model, exp.train)


@pytest.mark.parametrize("section, inline, match", [
    ({"space": {"model.hiden[0].units": [4, 8]}}, None, r"unknown field `hiden` \(did you mean `hidden`\?\)"),
    ({"space": {"train.learning_rat": {"low": 0.01, "high": 0.1}}}, None, r"did you mean `learning_rate`"),
    ({"space": {"model.hidden[3].units": [4, 8]}}, None, r"model.hidden\[3\]` does not exist; the spec has 1"),
    ({"space": {"train.learning_rate": {"low": 0.1, "high": 0.01}}}, None, r"low \(0.1\) must be below high \(0.01\)"),
    ({"space": {"train.learning_rate": {"low": 0, "high": 0.1, "log": True}}}, None, r"a log range needs low > 0"),
    ({"space": {"train.learning_rate": {"lo": 0.01, "high": 0.1}}}, None, r"unknown range key `lo` \(did you mean `low`\?\)"),
    ({"space": {"train.optimizer": {"low": 1, "high": 3}}}, None, r"a range needs a numeric field"),
    ({"space": {"data.test_size": [0.2, 0.3]}}, None, r"`data.test_size` cannot be searched"),
    ({"sampler": "grid", "space": {"train.learning_rate": {"low": 0.01, "high": 0.1}}}, None, r"grid sampler needs a finite set of values; give the range a `step`"),
    ({"sampler": "tpee"}, ("train", "optimizer", ["adam", "sgd"]), r"search.sampler: unknown value `tpee` \(did you mean `tpe`\?\)"),
    ({}, ("train", "optimizer", ["adam", "sggd"]), r"train.optimizer: the value `sggd` is not valid here: .*did you mean `sgd`"),
    ({}, ("model", "hidden", [{"units": 4, "dropout": [0.1, 1.5]}]), r"model.hidden\[0\].dropout: the value `1.5` is not valid"),
    ({}, None, r"search: nothing to search"),
])
def test_space_errors_are_one_line_spec_errors(section, inline, match):
    raw = tiny_spec("s", **section)
    if inline:
        raw[inline[0]][inline[1]] = inline[2]
    with pytest.raises(SpecError, match=match) as info:
        parse(raw)
    assert "\n" not in str(info.value)


# --- statistics and storage -------------------------------------------------------

def test_corrected_ttest_hand_computed():
    # d = [0.1, 0, 0.1]: mean 1/15, var (ddof 1) 1/300; correction 1/3 + 10/20 = 5/6
    # t = (1/15) / sqrt(5/6 · 1/300) = sqrt(1.6); with df = 2, p = 1 − t/sqrt(t² + 2) = 1/3
    r = corrected_ttest([0.9, 0.8, 1.0], [0.8, 0.8, 0.9], n_train=20, n_test=10)
    assert r.df == 2 and math.isclose(r.mean_diff, 1 / 15)
    assert math.isclose(r.t, math.sqrt(1.6), rel_tol=1e-12)
    assert math.isclose(r.p, 1 / 3, rel_tol=1e-9)
    from scipy import stats  # the uncorrected paired test is far more confident

    assert stats.ttest_rel([0.9, 0.8, 1.0], [0.8, 0.8, 0.9]).statistic == pytest.approx(2.0)
    same = corrected_ttest([0.5, 0.7], [0.5, 0.7], 10, 5)
    assert same.p == 1.0 and math.isnan(same.t)


def test_password_is_masked_everywhere(tmp_path, capsys):
    url = "postgresql://ann:s3cr3t-pw@localhost:1/studies"
    assert mask_url(url) == "postgresql://ann:***@localhost:1/studies"
    assert mask_url("sqlite:///denselab.db") == "sqlite:///denselab.db"
    with pytest.raises(DenselabError) as info:
        open_storage(url)
    assert "s3cr3t-pw" not in str(info.value) and "ann:***@" in str(info.value)
    from denselab.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text(json.dumps(tiny_spec("pw", space={"train.learning_rate": [0.01, 0.1]})))
    assert main(["search", str(spec), "--storage", url, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "s3cr3t-pw" not in err and "***" in err and "\n" == err[-1] and err.count("\n") == 1


# --- the loop --------------------------------------------------------------------

def _counting(monkeypatch):
    calls = []
    from denselab.train import plan

    real = plan.run_engine

    def counted(experiment, head, members, engine, progress):
        if members[0].tag["fold"] >= 0:  # a trial's CV, not the refit of the best on every training row
            calls.append(len(members))
        return real(experiment, head, members, engine, progress)

    monkeypatch.setattr(plan, "run_engine", counted)
    return calls


def test_grid_search_groups_members_writes_report_and_tops_up(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    db = f"sqlite:///{tmp_path / 'search.db'}"
    raw = tiny_spec("grid", sampler="grid", batch=8,
                    space={"train.learning_rate": [0.01, 0.1], "model.hidden[0].dropout": [0.1, 0.3]})
    raw["model"]["hidden"][0]["units"] = [4, 8]  # widths are member data too: the fleet packs them
    r = search(raw, 8, storage=db, out=tmp_path / "report")
    assert r.results["trials"]["complete"] == 8 and r.new_trials == 8
    assert calls[0] == 8 * 2  # 8 trials in 1 engine call, 2 folds each (then the best one's refit)
    params = [tuple(sorted(t.params.items())) for t in r.study.trials]
    assert len(set(params)) == 8  # every grid point once

    out = json.loads((tmp_path / "report" / "results.json").read_text())
    assert {"trials", "comparison", "best"} <= set(out["tables"])
    nets = [row for row in out["tables"]["comparison"] if row["kind"] == "network"]
    base = [row for row in out["tables"]["comparison"] if row["kind"] == "baseline"]
    assert len(out["tables"]["trials"]) == 8 and 2 <= len(nets) <= 5
    assert {b["name"] for b in base} == {"majority", "logistic_regression", "random_forest", "hist_gradient_boosting"}
    assert all(row["n"] == 2 for row in base) and out["verdict"]
    assert set(out["best"]) >= {"params", "cv", "test"} and "accuracy" in out["best"]["test"]
    cv = out["best"]["cv"]
    assert cv["ci95"][0] <= cv["mean"] <= cv["ci95"][1] and len(cv["scores"]) == 2
    assert nets[0]["trial"] == out["best"]["trial"]
    html = (tmp_path / "report" / "report.html").read_text()
    for heading in ("Best configuration", "Top configurations", "Optimisation history", "corrected"):
        assert heading in html
    trial = r.study.best_trial
    assert set(trial.user_attrs) >= {"cv", "history", "manifest", "engine"}
    assert len(json.dumps(trial.user_attrs)) < 5000  # compact

    calls.clear()  # same command again: nothing is redone (the test score is reused too)
    again = search(raw, 8, storage=db, report=False)
    assert again.new_trials == 0 and calls == [] and again.best == r.results["best"]


def test_rerun_tops_up_and_batching_does_not_change_scores(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    raw = tiny_spec("topup", sampler="random", batch=1, space={"train.learning_rate": {"low": 0.01, "high": 0.1, "log": True}})
    first = search(raw, 2, storage=f"sqlite:///{tmp_path / 'a.db'}", report=False)
    assert first.new_trials == 2 and len(calls) == 2
    before = {t.number: (t.value, t.params) for t in first.study.trials}
    more = search(raw, 3, storage=f"sqlite:///{tmp_path / 'a.db'}", report=False)
    assert more.new_trials == 1 and len(calls) == 3
    trials = more.study.trials
    assert len(trials) == 3 and {t.number: (t.value, t.params) for t in trials[:2]} == before
    # the same configurations in one batch (one engine call) or one by one score the same
    raw2 = dict(raw, search={"batch": 8, "space": {"train.learning_rate": [t.params["train.learning_rate"] for t in trials[:2]]}})
    raw2["name"] = "batched"
    calls.clear()
    batched = search(raw2, 2, storage=f"sqlite:///{tmp_path / 'b.db'}", report=False)
    assert len(calls) == 1
    got = {t.params["train.learning_rate"]: t.user_attrs["cv"]["scores"] for t in batched.study.trials}
    single = search(dict(raw2, name="single", search={**raw2["search"], "batch": 1}), 2,
                    storage=f"sqlite:///{tmp_path / 'b.db'}", report=False)
    assert {t.params["train.learning_rate"]: t.user_attrs["cv"]["scores"] for t in single.study.trials} == got


# The child runs the real CLI; its second engine call (trial 1) sleeps, so the kill lands
# deterministically after trial 0 is COMPLETE and while trial 1 is RUNNING.
_CHILD = """
import sys, time
from denselab.train import plan as runner
real, calls = runner.run_engine, []
def slow(*args):
    calls.append(1)
    if len(calls) == 2:
        time.sleep(120)
    return real(*args)
runner.run_engine = slow
from denselab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_search_then_resume(tmp_path):
    import sqlite3

    from optuna.trial import TrialState

    spec = tmp_path / "kill.yaml"
    raw = tiny_spec("kill", sampler="grid", batch=1, space={"train.learning_rate": [0.01, 0.03, 0.1]})
    spec.write_text(json.dumps(raw))
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    env = dict(os.environ, KERAS_BACKEND="jax")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, "search", str(spec), "--trials", "3",
                             "--storage", db, "--out", str(tmp_path / "never"), "--quiet"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    states = []
    try:  # poll the file directly (cheap) until trial 0 is COMPLETE and trial 1 RUNNING
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                with sqlite3.connect(tmp_path / "kill.db", timeout=1) as con:
                    states = [row[0] for row in con.execute("SELECT state FROM trials ORDER BY number")]
                    n_params = con.execute("SELECT count(*) FROM trial_params").fetchone()[0]
            except sqlite3.Error:  # not created yet, or locked for a moment
                continue
            if states == ["COMPLETE", "RUNNING"] and n_params == 2:  # trial 1 drew its params: training
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert states == ["COMPLETE", "RUNNING"], proc.stderr.read().decode()[-2000:]
    result = search(str(spec), 3, storage=db, report=False)
    trials = result.study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 3 and result.new_trials == 2
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len({t.params["train.learning_rate"] for t in done}) == 3  # every grid point once, none twice
    assert trials[1].state == TrialState.FAIL
    redo = [t for t in done if t.user_attrs.get("denselab_retry_of") == 1]
    assert len(redo) == 1 and redo[0].params == trials[1].params


def test_recover_trial_asked_but_never_marked(tmp_path):
    """Killed between `study.ask()` and recording its owner: no params yet, a grid point assigned."""
    import optuna
    from optuna.trial import TrialState

    from denselab.search import recovery

    space = parse(tiny_spec("s", sampler="grid", space={"train.learning_rate": [0.01, 0.1]}))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    study = optuna.create_study(study_name="s", storage=url, sampler=space.make_sampler(), direction="maximize")
    orphan = study.ask()
    live = study.ask()
    recovery.mark(study, live._trial_id)  # owned by this (live) process: left alone
    assert recovery.recover(study, recovery.Watch(url), ["train.learning_rate"], retries=2) == [orphan.number]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    queued = trials[2].system_attrs["fixed_params"]["train.learning_rate"]
    assert queued in (0.01, 0.1) and {"train.learning_rate": queued} != recovery._grid_params(study.sampler, trials[1])
    assert trials[2].user_attrs == {"denselab_retry_of": 0, "denselab_attempt": 2}


def test_ctrl_c_mid_batch_requeues_the_unfinished_trial(tmp_path, monkeypatch):
    from optuna.trial import TrialState

    from denselab.train import plan

    real, calls = plan.run_engine, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(plan, "run_engine", interrupted)
    raw = tiny_spec("ctrlc", sampler="grid", batch=1, space={"train.learning_rate": [0.01, 0.1]})
    db = f"sqlite:///{tmp_path / 'c.db'}"
    with pytest.raises(KeyboardInterrupt):
        search(raw, 2, storage=db, report=False)
    monkeypatch.setattr(plan, "run_engine", real)
    result = search(raw, 2, storage=db, report=False)
    states = [t.state for t in result.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE] and result.new_trials == 1
    assert result.study.trials[2].params == result.study.trials[1].params


# --- architecture is searchable ---------------------------------------------------

def test_depth_units_and_layer_lists_are_searchable_and_match_their_specs(tmp_path):
    from denselab.train.evaluate import cross_validate

    raw = tiny_spec("arch", sampler="grid", batch=8)
    raw["model"] = {"depth": [1, 2], "units": [3, 6], "layer": {"units": 4, "activation": ["relu", "tanh"]}}
    space = parse(raw)
    assert [p.path for p in space.params] == ["model.depth", "model.units", "model.layer.activation"]
    exp = space.experiment({"model.depth": 2, "model.units": 6, "model.layer.activation": "tanh"})
    assert [(layer.units, layer.activation) for layer in exp.model.hidden] == [(6, "tanh"), (6, "tanh")]
    r = search(raw, 8, storage=f"sqlite:///{tmp_path / 'arch.db'}", report=False)
    assert r.results["trials"]["complete"] == 8
    trial = next(t for t in r.study.trials if t.params == {"model.depth": 2, "model.units": 3,
                                                          "model.layer.activation": "relu"})
    alone = cross_validate(space.experiment(trial.params))
    np.testing.assert_allclose(trial.user_attrs["cv"]["scores"], alone.scores, atol=1e-6)
    nets = [row for row in r.results["tables"]["comparison"] if row["kind"] == "network"]
    assert all(row["n_params"] > 0 for row in nets) and {"model.depth", "model.units"} <= set(nets[0])
    # a choice among explicit layer lists
    choice = parse({"data": {"source": "iris"}, "model": {"hidden": [[{"units": 8}], [{"units": 4}, {"units": 4}]]}})
    assert choice.params[0].path == "model.hidden" and choice.params[0].kind == "categorical"
    assert len(choice.experiment({"model.hidden": choice.params[0].choices[1]}).model.hidden) == 2


def test_architecture_fields_reject_bad_values_in_one_line():
    for model, message in (({"depth": -1}, "model.depth: got -1"), ({"units": 0}, "model.units: got 0"),
                           ({"layer": {"units": 3}}, "needs `model.depth`"),
                           ({"depth": {"low": 1, "high": 2.5}}, "takes integers")):
        with pytest.raises(SpecError, match=re.escape(message)):
            parse({"data": {"source": "iris"}, "model": model, "train": {"epochs": [1, 2]}})
