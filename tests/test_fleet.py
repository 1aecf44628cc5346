"""The fleet against the reference engine (`model.fit`) and its own promises.

Small data and few epochs: the whole file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import denselab  # noqa: F401  (selects the JAX backend before Keras loads)
import keras

from denselab.data.prepare import load_dataset
from denselab.models.build import build_model, head_for
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.train import evaluate, fit, fleet
from denselab.train.engine import Member, targets


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Keep the tests' programs out of the user's cache dir (one dir for the session)."""
    if not fleet._CACHE_READY:
        monkeypatch.setenv("DENSELAB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "jax-cache"))


def _blobs(n=60, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centers = rng.normal(scale=2.0, size=(classes, features))
    x = (centers[y] + rng.normal(size=(n, features))).astype(np.float32)
    return x, y


def _members(head, sizes, seed=0, hparams=None, val=False, features=4, classes=3):
    x, y = _blobs(sum(sizes) + 20, features, classes, seed)
    out, start = [], 0
    for i, n in enumerate(sizes):
        xs, ys = x[start:start + n], targets(head, y[start:start + n])
        start += n
        member = Member(xs, ys, x[-20:], targets(head, y[-20:]), seed=100 + i,
                        hparams=dict((hparams or [{}] * len(sizes))[i]))
        if val:
            member.x_val, member.y_val = x[-20:-10], targets(head, y[-20:-10])
            member.x_eval, member.y_eval = x[-10:], targets(head, y[-10:])
        out.append(member)
    return out


# --- the fleet and model.fit reach the same accuracy ----------------------------------

def test_cross_validation_accuracy_matches_fit():
    """iris, 4-fold CV × 2 seeds (8 members per engine): Welch's t-test of the per-member
    accuracies must not reject equal means at p = 0.01, and the means must lie within
    2 pooled standard errors + 0.03 of each other."""
    exp = Experiment(data=DataSpec(source="iris"),
                     model=ModelSpec(hidden=(LayerSpec(units=10),)),
                     train=TrainSpec(epochs=25, batch_size=16, learning_rate=0.01),
                     evaluate=EvalSpec(folds=4, seeds=2))
    ds = load_dataset(exp.data, exp.seed)
    a = evaluate.cross_validate(exp, ds, engine="fleet")
    b = evaluate.cross_validate(exp, ds, engine="fit")
    assert a.engine == "fleet" and b.engine == "fit"
    assert len(a.scores) == len(b.scores) == 8
    se = np.sqrt(a.scores.var(ddof=1) / 8 + b.scores.var(ddof=1) / 8)
    assert abs(a.summary.mean - b.summary.mean) < 2 * se + 0.03, (a.scores, b.scores)
    if se > 0:
        assert stats.ttest_ind(a.scores, b.scores, equal_var=False).pvalue > 0.01
    assert a.summary.mean > 0.8
    assert set(a.histories[0]) == set(b.histories[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def _fleet_and_fit(spec, train):
    """One 30-row member trained by the fleet, and by model.fit from the same initial weights."""
    head = head_for("classification", 3, spec, train)
    member = _members(head, [30])[0]
    start = fleet.initial_weights(spec, train, head, [member])[0]
    result = fleet.train_members(spec, train, head, [member]).results[0]
    model = fit.compile_model(build_model(spec, head, 4), train, head)
    model.set_weights(start)
    history = model.fit(member.x_train, member.y_train, validation_data=(member.x_eval, member.y_eval),
                        epochs=train.epochs, batch_size=train.batch_size, shuffle=False, verbose=0).history
    return result, model, history, member, head


def test_single_member_matches_fit_weights(monkeypatch):
    """Same initial weights, rows in order (30 rows in batches of 7: a partial last batch),
    L1 + L2 penalties and BatchNormalization: the fleet's weights, moving statistics and
    curves equal model.fit's."""
    layers = (LayerSpec(units=8, l1=0.01, l2=0.01), LayerSpec(type="batchnorm"), LayerSpec(units=6, activation="tanh"))
    batch, epochs = 7, 3
    monkeypatch.setattr(fleet, "_shuffle", False)
    spec, train = ModelSpec(hidden=layers), TrainSpec(epochs=epochs, batch_size=batch, learning_rate=0.01)
    result, model, history, member, head = _fleet_and_fit(spec, train)
    for got, want in zip(result.weights, model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(result.history[k], history[k], rtol=1e-4, atol=1e-5)
    want = fit.score(head, member.y_eval, model.predict(member.x_eval, verbose=0))
    assert result.scores == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adadelta", "adagrad", "rmsprop", "nadam"])
def test_every_optimizer_matches_fit_after_one_epoch(monkeypatch, optimizer):
    """Each optimizer class steps exactly as Keras's fit does (rows in order, 2 steps)."""
    monkeypatch.setattr(fleet, "_shuffle", False)
    spec = ModelSpec(hidden=(LayerSpec(units=5),))
    train = TrainSpec(optimizer=optimizer, epochs=1, batch_size=16, learning_rate=0.05,
                      momentum=0.9 if optimizer == "sgd" else 0.0, nesterov=optimizer == "sgd")
    result, model, _, _, _ = _fleet_and_fit(spec, train)
    for got, want in zip(result.weights, model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# --- members: own hyperparameters, own rows, one program ---------------------------

def test_hyperparameters_are_data_in_one_program():
    spec = ModelSpec(hidden=(LayerSpec(units=8, dropout=0.2), LayerSpec(units=6, l2=0.001)))
    train = TrainSpec(epochs=4, batch_size=8)
    head = head_for("classification", 3, spec, train)
    hp = [{"learning_rate": 1e-9, "dropout": 0.0}, {"learning_rate": 0.05, "dropout": 0.5},
          {"learning_rate": 0.01, "dropout": 0.2, "l2": 0.1}, {"learning_rate": 0.01, "l1": 0.01}]
    members = _members(head, [20, 20, 20, 20], hparams=hp)
    before = fleet.cache_info()
    first = fleet.train_members(spec, train, head, members)
    after = fleet.cache_info()
    assert after["misses"] == before["misses"] + 1
    hp2 = [{"learning_rate": 0.02, "dropout": 0.1}, {"learning_rate": 0.003, "dropout": 0.4},
           {"learning_rate": 0.1, "dropout": 0.0, "l2": 0.01}, {"learning_rate": 0.001, "l1": 0.001}]
    fleet.train_members(spec, train, head, _members(head, [20, 20, 20, 20], hparams=hp2))
    again = fleet.cache_info()
    assert again["misses"] == after["misses"] and again["hits"] == after["hits"] + 1

    # a learning rate of 1e-9 leaves the member where it started; the others move
    start = fleet.initial_weights(spec, train, head, members)
    for got, want in zip(first.results[0].weights, start[0]):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(first.results[1].weights[0], start[1][0])
    losses = [r.history["loss"][-1] for r in first.results]
    assert len(set(np.round(losses, 6))) == 4


def test_member_is_independent_of_the_others_and_of_padding():
    """A 14-row member trained alone equals the same member in a fleet padded to 30 rows
    (batch 4: 4 steps vs the fleet's 8): no row dropped, duplicated or borrowed.
    (Not 13 rows: a one-row last batch makes BatchNormalization amplify rounding.)"""
    spec = ModelSpec(hidden=(LayerSpec(units=8, dropout=0.3), LayerSpec(type="batchnorm")))
    train = TrainSpec(epochs=3, batch_size=4, learning_rate=0.01)
    head = head_for("classification", 3, spec, train)
    small, big, other = _members(head, [14, 30, 7], hparams=[{"dropout": 0.3}, {"dropout": 0.1}, {"dropout": 0.5}])
    alone = fleet.train_members(spec, train, head, [small]).results[0]
    together = fleet.train_members(spec, train, head, [big, small, other]).results[1]
    for a, b in zip(alone.weights, together.weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(alone.history["loss"], together.history["loss"], rtol=1e-4)


def test_early_stopping_keeps_each_members_best_weights():
    spec = ModelSpec(hidden=(LayerSpec(units=32),))
    train = TrainSpec(epochs=40, batch_size=4, patience=2)
    head = head_for("classification", 3, spec, train)
    hp = [{"learning_rate": 0.3}, {"learning_rate": 0.05}, {"learning_rate": 0.0001}]
    members = _members(head, [20, 20, 20], hparams=hp, val=True, seed=3)
    results = fleet.train_members(spec, train, head, members).results
    runs = [r.epochs_run for r in results]
    assert min(runs) < 40 and len(set(runs)) > 1, runs
    for member, r in zip(members, results):
        assert len(r.history["val_loss"]) == r.epochs_run
        assert r.best_epoch == int(np.argmin(r.history["val_loss"]))
        model = fit.compile_model(build_model(spec, head, 4), train, head)
        model.set_weights(r.weights)
        val_loss = model.evaluate(member.x_val, member.y_val, verbose=0, batch_size=64)[0]
        np.testing.assert_allclose(val_loss, r.history["val_loss"][r.best_epoch], rtol=1e-4)


def test_weights_reload_into_keras_and_runs_are_deterministic():
    spec = ModelSpec(hidden=(LayerSpec(units=8, dropout=0.2), LayerSpec(type="batchnorm"), LayerSpec(units=5)))
    train = TrainSpec(epochs=5, batch_size=8)
    head = head_for("classification", 3, spec, train)
    members = _members(head, [25, 31])
    progress = []
    a = fleet.train_members(spec, train, head, members, progress=lambda d, t: progress.append((d, t)))
    b = fleet.train_members(spec, train, head, members)
    assert progress[-1] == (10, 10) and len(progress) >= 5
    assert all(x[0] <= y[0] for x, y in zip(progress, progress[1:]))
    for r, s, m in zip(a.results, b.results, members):
        assert r.history == s.history
        for u, v in zip(r.weights, s.weights):
            np.testing.assert_array_equal(u, v)
        model = build_model(spec, head, 4)
        model.set_weights(r.weights)
        np.testing.assert_allclose(model.predict(m.x_eval, verbose=0), r.predictions, rtol=1e-5, atol=1e-6)
        assert r.scores["accuracy"] == pytest.approx(float(np.mean(
            r.predictions.argmax(1) == m.y_eval.argmax(1))))
    assert a.compile_s >= 0 and a.run_s > 0


def test_members_split_into_groups_when_memory_is_short(monkeypatch):
    spec = ModelSpec(hidden=(LayerSpec(units=8),))
    train = TrainSpec(epochs=2, batch_size=8)
    head = head_for("classification", 3, spec, train)
    members = _members(head, [20, 17, 23, 20, 19])
    whole = fleet.train_members(spec, train, head, members)
    monkeypatch.setattr(fleet, "memory_budget_bytes", 1)
    split = fleet.train_members(spec, train, head, members)
    assert fleet.last_timings()["groups"] == 5
    for r, s in zip(whole.results, split.results):
        for u, v in zip(r.weights, s.weights):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


# --- layers beyond Dense -------------------------------------------------------------

@pytest.mark.parametrize("hidden,input_shape", [
    ((LayerSpec(type="conv2d", filters=2, kernel_size=3), LayerSpec(type="maxpool2d"),
      LayerSpec(type="flatten"), LayerSpec(units=4, dropout=0.2)), (4, 4, 1)),
    ((LayerSpec(type="batchnorm"), LayerSpec(type="conv2d", filters=2, kernel_size=3),
      LayerSpec(type="flatten")), (4, 4, 1)),  # BatchNorm over a single channel
    ((LayerSpec(type="lstm", units=3),), (4, 4)),  # GRU and SimpleRNN take the same path
])
def test_conv_and_recurrent_layers(hidden, input_shape):
    spec = ModelSpec(hidden=hidden, input_shape=input_shape)
    assert fleet.unsupported(spec) is None
    train = TrainSpec(epochs=2, batch_size=8)
    head = head_for("classification", 3, spec, train)
    members = _members(head, [20, 24], features=16)
    result = fleet.train_members(spec, train, head, members)
    for r, m in zip(result.results, members):
        assert np.isfinite(r.history["loss"]).all()
        model = build_model(spec, head, 16)
        model.set_weights(r.weights)
        np.testing.assert_allclose(model.predict(m.x_eval, verbose=0), r.predictions, rtol=1e-4, atol=1e-5)


def test_unsupported_model_falls_back_to_fit_loudly(monkeypatch):
    monkeypatch.setattr(fleet, "unsupported", lambda spec: "a layer the fleet lacks")
    exp = Experiment(data=DataSpec(source="iris"), train=TrainSpec(epochs=1))
    head = head_for("classification", 3, exp.model, exp.train)
    with pytest.warns(UserWarning, match="fleet does not carry this model"):
        result = evaluate.run_engine(exp, head, [], "fleet", None)
    assert result.engine == "fit" and "a layer the fleet lacks" in result.notes[0]
    monkeypatch.undo()  # the real one carries every layer type
    from denselab.spec import LAYER_TYPES
    assert all(fleet.unsupported(ModelSpec(hidden=(LayerSpec(type=t, units=2, rate=0.1, filters=2, kernel_size=2,
                                                                 input_dim=3, output_dim=2),))) is None
               for t in LAYER_TYPES)


def test_bad_members_are_refused():
    spec, train = ModelSpec(), TrainSpec(epochs=1)
    head = head_for("classification", 3, spec, train)
    a, b = _members(head, [10, 10])
    b.x_train = b.x_train[:, :3]
    with pytest.raises(ValueError, match="one fleet trains one input shape"):
        fleet.train_members(spec, train, head, [a, b])
    b.x_train = b.x_train[:0]
    with pytest.raises(ValueError, match="no training rows"):
        fleet.train_members(spec, train, head, [b])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fleet.train_members(spec, train, head, []).results == []
