"""The comparison core: one plan's splits and member seeds for every arm, grouping, the table contract."""

import numpy as np
import pandas as pd
import pytest

from denselab import comparison
from denselab.errors import SpecError
from denselab.spec import Experiment
from denselab.train.plan import Arm, Plan

BASE = {"data": {"source": "iris"}, "seed": 4, "train": {"epochs": 4, "batch_size": 16},
        "model": {"hidden": [{"units": 6, "activation": "relu"}]},
        "evaluate": {"folds": 3, "baselines": ["majority", "logistic_regression"]}}


def _exp(**changes):
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for section, values in changes.items():
        raw[section] = {**raw.get(section, {}), **values}
    return Experiment.from_dict(raw)


def test_every_arm_gets_the_same_splits_and_member_seeds():
    exp = _exp()
    plan = Plan.cv(exp)
    from denselab.models.build import head_for

    head = head_for(plan.dataset.task, plan.dataset.n_targets, exp.model, exp.train)
    a = plan.members(exp, head)
    b = plan.members(_exp(train={"learning_rate": 0.05}), head, fraction=0.5)
    assert [m.seed for m in a] == [m.seed for m in b] and len(a) == 3
    for ma, mb, split in zip(a, b, plan.splits):
        np.testing.assert_array_equal(ma.y_eval, mb.y_eval)  # same scored rows (scaled by each one's own fit)
        assert len(ma.y_eval) == len(split.eval)
        assert len(mb.y_train) < len(ma.y_train) == len(split.train)
    # repeats: fresh fold assignments; seeds: more members per split, same splits
    plan2 = Plan.cv(_exp(evaluate={"repeats": 2, "seeds": 2}))
    assert len(plan2.splits) == 6 and plan2.repeats == 2 and plan2.folds == 3
    assert not np.array_equal(plan2.splits[0].eval, plan2.splits[3].eval)
    np.testing.assert_array_equal(plan2.splits[0].eval, plan.splits[0].eval)  # repeat 0 is the 1-repeat split
    members = plan2.members(exp, head)
    assert len(members) == 12 and len({m.seed for m in members}) == 12


def test_an_arms_scores_do_not_depend_on_the_arms_that_share_its_program():
    exp = _exp()
    plan = Plan.cv(exp)
    arms = [Arm("a", exp), Arm("fast", _exp(train={"learning_rate": 0.02})),
            Arm("wide", _exp(model={"hidden": [{"units": 12, "activation": "relu"}]}))]
    assert [len(g) for g in plan.groups(arms)] in ([2, 1], [3])  # learning rates share a program
    together = plan.run(arms)
    alone = Plan.cv(exp).run([arms[1]])[0]
    np.testing.assert_allclose(together[1].scores, alone.scores, atol=1e-6)
    assert [r.name for r in together] == ["a", "fast", "wide"]
    with pytest.raises(SpecError, match="unique"):
        plan.groups([Arm("a", exp), Arm("a", exp)])


def test_cross_validate_and_holdout_are_plans_of_one_arm():
    from denselab.train.evaluate import cross_validate

    exp = _exp()
    cv = cross_validate(exp)
    arm = Plan.cv(exp).run([Arm(exp.name, exp)])[0]
    np.testing.assert_allclose(cv.scores, arm.scores)
    assert list(cv.fold) == [0, 1, 2] and cv.metric == "accuracy"


def test_comparison_table_follows_the_contract_with_baselines_on_the_same_folds():
    exp = _exp()
    plan = Plan.cv(exp)
    results = plan.run([Arm("net", exp, {"units": 6}), Arm("tiny", _exp(model={"depth": 1, "units": 2}),
                                                          {"units": 2})])
    base = comparison.score_baselines(plan)
    frame = comparison.table(plan, results, base)
    assert list(frame.columns[:len(comparison.COLUMNS)]) == list(comparison.COLUMNS)
    assert set(frame["kind"]) == {"network", "baseline"} and "units" in frame.columns
    assert frame.iloc[0]["diff_vs_best"] == 0 and (frame["diff_vs_best"].iloc[1:] >= 0).all()
    assert frame["recommended"].sum() == 1 and frame["n"].eq(3).all()
    majority = frame.set_index("name").loc["majority"]
    assert majority["mean"] == pytest.approx(np.mean([
        np.mean(plan.dataset.y_train[s.eval] == np.bincount(plan.dataset.y_train[s.train]).argmax())
        for s in plan.splits]))
    assert comparison.verdict(frame).startswith(("The best network", "No detectable difference"))


def test_exact_ties_rank_the_simpler_network_first_and_recommend_it():
    keys = [(0, k, 0) for k in range(4)]
    scores = np.array([0.8, 0.9, 0.85, 0.95])
    frame = comparison.build([comparison.Entry("big", "network", scores, keys, n_params=900),
                              comparison.Entry("small", "network", scores.copy(), keys, n_params=30),
                              comparison.Entry("bad", "network", scores - 0.5, keys, n_params=10)],
                             "accuracy", 30, 10, 0.01)
    assert frame["name"].tolist()[:2] == ["small", "big"]
    assert frame.set_index("name")["tied_with_best"].to_dict() == {"small": True, "big": True, "bad": False}
    assert frame.set_index("name").loc["small", "recommended"]


def test_health_counts_diverged_and_collapsed_members():
    exp = _exp(train={"learning_rate": 1.0e6, "optimizer": "sgd"})
    plan = Plan.cv(exp)
    r = plan.run([Arm("huge lr", exp)])[0]
    diverged, collapsed = comparison.health(plan, r)
    assert diverged + collapsed == 3
    row = comparison.table(plan, [r]).iloc[0]
    assert row["diverged"] + row["collapsed"] == 3


def test_regression_plans_rank_by_rmse():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ [1.0, -2.0, 0.5]})
    exp = Experiment.from_dict({"data": {"source": "frame", "target": "y"}, "train": {"epochs": 3},
                                "evaluate": {"folds": 3, "baselines": ["mean", "ridge"]}})
    plan = Plan.cv(exp, data=frame)
    assert plan.metric == "rmse"
    result = plan.run([Arm("net", exp)])[0]
    table = comparison.table(plan, [result], comparison.score_baselines(plan))
    assert table.iloc[0]["name"] == "ridge" and table["metric"].eq("rmse").all()
    np.testing.assert_allclose(result.values("mse"), result.scores ** 2, rtol=1e-5)


def test_many_classes_leave_gradient_boosting_out_of_the_default_baselines_and_say_so():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300),
                          "k": [f"c{i % 30}" for i in range(300)]})
    exp = Experiment.from_dict({"data": {"source": "frame", "target": "k", "test_size": 0.0},
                                "evaluate": {"folds": 2, "stratified": False}})
    base = comparison.score_baselines(Plan.cv(exp, data=frame))
    assert [b.name for b in base] == ["majority", "logistic_regression", "random_forest"]
    assert "hist_gradient_boosting is left out" in base[0].notes[0]
