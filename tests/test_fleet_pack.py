"""Packs and selections: members of different widths, depths, activations, optimizers, output
activations and losses trained in one fleet program.

Exactness is pinned the way `test_fleet.py` pins the fleet to `model.fit`: a packed or
selecting member's weights and curves after training equal the same network trained alone
on the fleet (its own program, its own optimizer, output and loss), to float tolerance.
Small data, few epochs.
"""

from __future__ import annotations

import numpy as np
import pytest

import denselab  # noqa: F401  (selects the JAX backend before Keras loads)

from denselab.models.build import build_model, head_for
from denselab.spec import DataSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.train import _fleet_pack, fit, fleet
from denselab.train.engine import Member, apply_hparams, member_head, split_hparams, targets


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    if not fleet._CACHE_READY:
        monkeypatch.setenv("DENSELAB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "jax-cache"))


def _members(head, hparams, rows=(40, 33, 27, 36)):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    y = targets(head, (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5))
    return [Member(x[:rows[i]], y[:rows[i]], x[60:], y[60:], seed=20 + i, hparams=dict(hp))
            for i, hp in enumerate(hparams)]


def _alone(spec, train, head, member):
    """The member trained by itself: its own network (written out), no structural overrides."""
    own, rest = _fleet_pack.network_of(spec, member.hparams)
    result = fleet.train_members(own, train, head, [Member(**{**member.__dict__, "hparams": rest})])
    assert fleet.last_timings()["packed"] == 0
    return result.results[0]


SPEC = ModelSpec(hidden=(LayerSpec(units=32, dropout=0.2),))
CASES = {
    "width": [{"units": 5}, {"units": 9}, {"units": 3}],
    "depth": [{"units": (6,)}, {"units": (6, 4)}, {"units": (5, 7, 3)}],
    "activation": [{"units": 6, "activation": "relu"}, {"units": 6, "activation": "tanh"},
                   {"units": (4, 8), "activation": "sigmoid"}],
    # denselab's own activations (not Keras names): binary_step's straight-through gradient, arctan
    "own_activation": [{"units": 6, "activation": "binary_step"}, {"units": 6, "activation": "arctan"},
                       {"units": 5, "activation": "relu"}],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_packed_member_equals_its_network_trained_alone(case):
    """Dropout 0.2 (masks drawn at each member's own layout), L1 + L2, unequal rows,
    shuffling, partial batches: every member's weights, curves and scores match."""
    train = TrainSpec(epochs=3, batch_size=8, learning_rate=0.01)
    head = head_for("classification", 3, SPEC, train)
    hparams = [dict(hp, dropout=0.2, learning_rate=0.01 * (i + 1), l1=0.001, l2=0.01)
               for i, hp in enumerate(CASES[case])]
    members = _members(head, hparams)
    before = fleet.cache_info()["misses"]
    packed = fleet.train_members(SPEC, train, head, members)
    assert fleet.last_timings()["programs"] == 1 and fleet.last_timings()["packed"] == 1
    assert fleet.cache_info()["misses"] == before + 1
    assert any("3 networks in 1 programs (1 packed)" in n for n in packed.notes)
    for member, got in zip(members, packed.results):
        want = _alone(SPEC, train, head, member)
        assert [w.shape for w in got.weights] == [w.shape for w in want.weights]
        for a, b in zip(got.weights, want.weights):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        for k in want.history:
            np.testing.assert_allclose(got.history[k], want.history[k], rtol=1e-4, atol=1e-6)
        assert got.scores == pytest.approx(want.scores, rel=1e-4)


def test_packed_start_is_the_narrow_networks_initial_weights():
    """Each packed member starts at exactly its own network's initial weights (drawn
    for its own fan-in/fan-out), and those load into the Keras model of that network."""
    train = TrainSpec(epochs=1)
    spec = ModelSpec(hidden=(LayerSpec(units=32),), kernel_initializer="he_normal")
    head = head_for("classification", 3, spec, train)
    members = _members(head, [{"units": (3, 9)}, {"units": (12,)}, {"units": (2, 2, 2)}])
    packed = fleet.initial_weights(spec, train, head, members)
    for member, got in zip(members, packed):
        own, rest = _fleet_pack.network_of(spec, member.hparams)
        want = fleet.initial_weights(own, train, head, [Member(**{**member.__dict__, "hparams": rest})])[0]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
        build_model(own, head, 4).set_weights(got)


def test_split_turns_depth_width_and_activation_into_member_data():
    """Trials that differ in depth, widths or activation get one structure; the
    overrides give each trial's network back."""
    trials = [ModelSpec(hidden=(LayerSpec(units=8, dropout=0.1), LayerSpec(units=4, dropout=0.1))),
              ModelSpec(hidden=(LayerSpec(units=64, dropout=0.3, activation="tanh"),)),
              ModelSpec(depth=3, units=16, layer=LayerSpec(units=10, dropout=0.2)),
              ModelSpec(depth=2, layer=LayerSpec(units=12, dropout=0.2, activation="elu"))]
    structures = set()
    for model in trials:
        exp = Experiment(data=DataSpec(source="iris"), model=model)
        base, hp = split_hparams(exp)
        structures.add(repr(base.model))
        got, _ = apply_hparams(base.model, base.train, hp)
        assert [(l.units, l.activation, l.dropout) for l in got.hidden] == \
            [(l.units, l.activation, l.dropout) for l in model.hidden]
        assert {"units", "dropout"} <= set(hp)
    assert len(structures) == 1
    # not a plain MLP (or no hidden layer at all): the layers stay structure
    for model in (ModelSpec(depth=0, layer=LayerSpec(units=5)),
                  ModelSpec(hidden=(LayerSpec(units=8), LayerSpec(type="batchnorm")))):
        exp = Experiment(data=DataSpec(source="iris"), model=model)
        assert not {"depth", "units", "activation"} & set(split_hparams(exp)[1])
    with pytest.raises(ValueError, match="plain Dense MLP"):
        apply_hparams(exp.model, exp.train, {"units": 3})


def test_fit_engine_builds_each_members_own_network():
    spec = ModelSpec(hidden=(LayerSpec(units=32),))
    train = TrainSpec(epochs=1, batch_size=16)
    head = head_for("classification", 3, spec, train)
    members = _members(head, [{"units": (3, 5)}, {"units": 7, "activation": "tanh"}])
    shapes = [[w.shape for w in r.weights] for r in fit.train_members(spec, train, head, members).results]
    assert shapes == [[(4, 3), (3,), (3, 5), (5,), (5, 3), (3,)], [(4, 7), (7,), (7, 3), (3,)]]


def test_plan_packs_where_it_pays_and_not_where_padding_costs_more():
    spec = ModelSpec(hidden=(LayerSpec(units=32),))
    small = dict(epochs=20, rows=100, n_in=4, n_out=3)
    units = _fleet_pack.plan(spec, [{"units": w} for w in (8, 16, 24, 32)], **small)
    assert [(u.packed, sorted(u.index)) for u in units] == [(("relu",), [0, 1, 2, 3])]
    # a tiny net and a huge one, many members, long training: padding the tiny ones costs more
    hp = [{"units": (4,)}] * 50 + [{"units": (512, 512, 512)}] * 2
    units = _fleet_pack.plan(spec, hp, epochs=200, rows=5000, n_in=4, n_out=3)
    assert sorted(len(u.index) for u in units) == [2, 50] and not any(u.packed for u in units)
    # what a pack cannot hold gets programs of its own
    for other in (ModelSpec(hidden=(LayerSpec(units=32, activation="prelu"),)),
                  ModelSpec(hidden=(LayerSpec(units=32),), kernel_initializer="orthogonal")):
        units = _fleet_pack.plan(other, [{"units": 3}, {"units": 5}], **small)
        assert len(units) == 2 and not any(u.packed for u in units)


def test_call_with_several_programs_reports_chunks_per_member():
    """A network a pack cannot hold (prelu) gets its own program in the same call
    (compiled alongside the pack's); live chunks name each member by its position in
    the call and carry its own network's weights."""
    train = TrainSpec(epochs=2, batch_size=8)
    head = head_for("classification", 3, SPEC, train)
    hparams = [{"units": 4, "activation": "prelu"}, {"units": (3, 5)}, {"units": 6}]
    members = _members(head, hparams)
    seen = {}
    result = fleet.train_members(SPEC, train, head, members,
                                 on_chunk=lambda index, h, w: seen.update(zip(index, w)))
    assert (fleet.last_timings()["programs"], fleet.last_timings()["packed"]) == (2, 1)
    assert sorted(seen) == [0, 1, 2]
    for i, member in enumerate(members):
        want = _alone(SPEC, train, head, member)
        assert [w.shape for w in seen[i]] == [w.shape for w in want.weights]
        for a, b in zip(result.results[i].weights, want.weights):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# --- selected optimizers, output activations and losses ---------------------------------

def _binary_members(head, hparams, rows=(40, 33, 27, 36, 31)):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    y = targets(head, (x[:, 0] * x[:, 1] + x[:, 2] > 0).astype(int))
    return [Member(x[:rows[i % len(rows)]], y[:rows[i % len(rows)]], x[60:], y[60:], seed=30 + i % 3,
                   hparams=dict(hp)) for i, hp in enumerate(hparams)]


def _alone_own(spec, train, head, member):
    """The member trained by itself with its own network, optimizer, output activation and loss."""
    own, own_train, rest = _fleet_pack.own_specs(spec, train, member.hparams)
    own_head = member_head(head, *apply_hparams(spec, train, member.hparams), member.hparams)
    result = fleet.train_members(own, own_train, own_head, [Member(**{**member.__dict__, "hparams": rest})])
    assert fleet.last_timings()["packed"] == 0
    return result.results[0]


def _assert_same(got, want):
    assert [w.shape for w in got.weights] == [w.shape for w in want.weights]
    for a, b in zip(got.weights, want.weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for k in want.history:
        np.testing.assert_allclose(got.history[k], want.history[k], rtol=1e-4, atol=1e-6)
    assert got.scores == pytest.approx(want.scores, rel=1e-4, abs=1e-7)
    np.testing.assert_allclose(got.predictions, want.predictions, rtol=1e-4, atol=1e-6)


# the 2-D study's pairs: a sigmoid output with binary cross-entropy, the others with MSE on 0/1
GRID_SELECTED = [{"optimizer": "sgd", "output_activation": "sigmoid", "loss": "binary_crossentropy"},
                 {"optimizer": "rmsprop", "output_activation": "tanh", "loss": "mse"},
                 {"optimizer": "adagrad", "output_activation": "relu", "loss": "mse"},
                 {"optimizer": "adam", "output_activation": "elu", "loss": "mse"},
                 {"optimizer": "nadam", "output_activation": "sigmoid", "loss": "binary_crossentropy"},
                 {"optimizer": "adam", "output_activation": "tanh", "loss": "binary_crossentropy"}]


@pytest.mark.parametrize("budget", [None, 1], ids=["optimizer groups", "every update selected"])
def test_selected_optimizer_output_and_loss_equal_each_network_trained_alone(monkeypatch, budget):
    """Five optimizer classes, four output activations and two losses in one program (dropout,
    L2, per-member learning rates, unequal rows): every member's weights, curves, scores and
    predictions equal its own network trained alone with its own optimizer, output and loss.
    One memory group updates each optimizer's members as a group; split into groups (a
    short memory budget), every member selects its own among all candidates' updates."""
    spec = ModelSpec(hidden=(LayerSpec(units=7, dropout=0.2), LayerSpec(units=5)))
    train = TrainSpec(epochs=3, batch_size=8)
    head = head_for("classification", 2, spec, train)
    hparams = [dict(hp, learning_rate=0.01 * (1 + i % 3), dropout=0.2, l2=0.01) for i, hp in enumerate(GRID_SELECTED)]
    members = _binary_members(head, hparams)
    monkeypatch.setattr(fleet, "memory_budget_bytes", budget)
    together = fleet.train_members(spec, train, head, members)
    monkeypatch.setattr(fleet, "memory_budget_bytes", None)
    assert (fleet.last_timings()["programs"], fleet.last_timings()["packed"]) == (1, 0)
    assert fleet.last_timings()["groups"] == (1 if budget is None else len(members))
    for member, got in zip(members, together.results):
        _assert_same(got, _alone_own(spec, train, head, member))


def test_chain_pack_with_selection_equals_each_network_trained_alone():
    """The 2-D study's nets (Dense, Dropout, then Dense layers) at several depths and hidden
    activations, each with its own optimizer, output activation and loss: one packed program,
    every member as its own network alone (dropout masks drawn at its own layout)."""
    spec = ModelSpec(hidden=(LayerSpec(units=6), LayerSpec(type="dropout", rate=0.3), LayerSpec(units=6)))
    train = TrainSpec(epochs=2, batch_size=8)
    head = head_for("classification", 2, spec, train)
    shapes = [{"depth": 2, "activation": "relu"}, {"depth": 4, "activation": "tanh"},
              {"depth": 3, "activation": "sigmoid"}, {"depth": 2, "activation": "elu"},
              {"depth": 4, "activation": "relu"}, {"depth": 3, "activation": "tanh"}]
    hparams = [dict(s, **sel, units=6, dropout=0.1 * (1 + i % 4), learning_rate=0.02)
               for i, (s, sel) in enumerate(zip(shapes, GRID_SELECTED))]
    members = _binary_members(head, hparams)
    together = fleet.train_members(spec, train, head, members)
    assert (fleet.last_timings()["programs"], fleet.last_timings()["packed"]) == (1, 1)
    for member, got in zip(members, together.results):
        _assert_same(got, _alone_own(spec, train, head, member))
    # the start too: each member's initial weights are its own network's
    for member, got in zip(members, fleet.initial_weights(spec, train, head, members)):
        own, own_train, rest = _fleet_pack.own_specs(spec, train, member.hparams)
        want = fleet.initial_weights(own, own_train, head, [Member(**{**member.__dict__, "hparams": rest})])[0]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_split_makes_the_2d_grid_one_structure():
    """Grid points that differ in optimizer, hidden and output activation, loss, depth and
    dropout rate are one structure (one engine call); the overrides give each back exactly."""
    structures = set()
    for opt, act, out, depth, rate in [("sgd", "relu", "sigmoid", 5, 0.1), ("nadam", "tanh", "elu", 25, 0.5),
                                       ("adagrad", "elu", "relu", 10, 0.3)]:
        hidden = (LayerSpec(units=20, activation=act), LayerSpec(type="dropout", rate=rate)) + \
            tuple(LayerSpec(units=20, activation=act) for _ in range(depth - 1))
        loss = "binary_crossentropy" if out == "sigmoid" else "mse"
        exp = Experiment(data=DataSpec(source="iris"), model=ModelSpec(hidden=hidden, output_activation=out),
                         train=TrainSpec(optimizer=opt, loss=loss, learning_rate=0.01))
        base, hp = split_hparams(exp)
        structures.add(repr((base.model, base.train)))
        assert {"depth", "activation", "optimizer", "output_activation", "loss", "dropout"} <= set(hp)
        assert apply_hparams(base.model, base.train, hp) == (exp.model, exp.train)
    assert len(structures) == 1
    # what the fleet cannot select stays structure: SGD's momentum, a one-hot loss, a prelu output
    for train, model in ((TrainSpec(optimizer="sgd", momentum=0.9), ModelSpec()),
                         (TrainSpec(loss="categorical_crossentropy"), ModelSpec()),
                         (TrainSpec(), ModelSpec(output_activation="prelu"))):
        _, hp = split_hparams(Experiment(data=DataSpec(source="iris"), model=model, train=train))
        assert not ({"optimizer"} if train.momentum else {"loss"} if train.loss else {"output_activation"}) & set(hp)


def test_plan_selects_optimizers_where_it_pays():
    spec = ModelSpec(hidden=(LayerSpec(units=20),))
    hp = [{"optimizer": o, "learning_rate": 0.001} for o in ("sgd", "adam", "rmsprop")]
    units = _fleet_pack.plan(spec, hp, epochs=20, rows=100, n_in=2, n_out=1)
    assert [(u.select, sorted(u.index)) for u in units] == [(("optimizer",), [0, 1, 2])]
    # the 2-D grid (400 networks × 15 members): one program per depth and hidden activation;
    # a pack of the 4 activations would cost more than its 3 compiles
    grid = [{"depth": d, "units": 20, "activation": a, "optimizer": o, "output_activation": out,
             "loss": "binary_crossentropy" if out == "sigmoid" else "mse", "dropout": r}
            for d in (5, 10, 15, 20, 25) for a in ("sigmoid", "tanh", "relu", "elu")
            for o in ("sgd", "rmsprop", "adagrad", "adam", "nadam") for out in ("sigmoid", "tanh", "relu", "elu")
            for r in (0.1, 0.2, 0.3, 0.4, 0.5) for _ in range(3)]
    chain = ModelSpec(hidden=(LayerSpec(units=32), LayerSpec(type="dropout", rate=0.5), LayerSpec(units=32)))
    units = _fleet_pack.plan(chain, grid, epochs=50, rows=2667, n_in=2, n_out=1)
    assert sorted(len(u.index) for u in units) == [300] * 20
    assert all(u.select == ("optimizer", "output_activation", "loss") and not u.packed for u in units)
    # what a program cannot select (a hinge loss) gets a program of its own
    units = _fleet_pack.plan(spec, [{"loss": "mse"}, {"loss": "hinge"}], epochs=2, rows=10, n_in=2, n_out=1)
    assert len(units) == 2


def test_fit_builds_each_members_own_output_and_loss():
    spec = ModelSpec(hidden=(LayerSpec(units=5),))
    train = TrainSpec(epochs=1, batch_size=16)
    head = head_for("classification", 2, spec, train)
    members = _binary_members(head, [{"output_activation": "tanh", "loss": "mse"}, {}])
    tanh, sigmoid = fit.train_members(spec, train, head, members).results
    assert tanh.scores["loss"] == pytest.approx(float(np.mean((tanh.predictions - members[0].y_eval) ** 2)), rel=1e-5)
    assert (tanh.predictions < 0).any() and (sigmoid.predictions > 0).all()


def test_long_runs_of_exponential_layers_compile_with_the_new_emitters(monkeypatch):
    """A long run of tanh layers compiles its chunk with XLA's newer fusion emitters (faster
    exp/tanh); its members train as with the classic ones, to float tolerance."""
    spec = ModelSpec(hidden=(LayerSpec(units=6, activation="tanh", dropout=0.2),))
    train = TrainSpec(epochs=2, batch_size=8)
    head = head_for("classification", 2, spec, train)
    members = _binary_members(head, [{"learning_rate": 0.01}, {"learning_rate": 0.02}])
    classic = fleet.train_members(spec, train, head, members)
    seen = []
    compile_ = fleet._compile
    monkeypatch.setattr(fleet, "_compile", lambda low, once=False, emitters=False:
                        seen.append(emitters) or compile_(low, once, emitters))
    monkeypatch.setattr(_fleet_pack, "_costs", lambda s, shape: (1.0, 100.0))  # "a long run"
    fleet._PROGRAMS.clear()
    emitted = fleet.train_members(spec, train, head, members)
    assert True in seen
    for a, b in zip(classic.results, emitted.results):
        _assert_same(b, a)
