"""The fused grid program computes what the per-config fleet computes, piece by piece.

`train/grid2d.py` re-writes the 2-D study's net by hand (forward, backward, Keras's
optimizer formulas) for speed; its random streams are its own, so whole-run accuracies
can only agree statistically (`test_study_synthetic2d.py`). These tests pin the parts
exactly: the forward pass against the Keras model the fleet builds from the same spec,
the hand-written backward pass against autodiff, and each optimizer step against Keras's.
"""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from denselab.models.build import build_model, head_for
from denselab.studies import synthetic2d as s2d
from denselab.train import grid2d

M, ROWS, DEPTH = 8, 32, 5
OUTPUT_INDEX = jnp.asarray([0, 1, 2, 3, 0, 1, 2, 3])


def _params(depth=DEPTH, seed=0):
    """M members' initial weights, laid out as the program keeps them (hidden stacks layer-first)."""
    init = jax.vmap(lambda k: grid2d._init(k, depth, 2))(jax.random.split(jax.random.key(seed), M))
    return jax.tree_util.tree_map(lambda a, ax: jnp.moveaxis(a, 0, ax), init, grid2d._member_axes(init))


def _member(params, i):
    return jax.tree_util.tree_map(lambda a, ax: np.asarray(jnp.take(a, i, axis=ax)), params,
                                  grid2d._member_axes(params))


@pytest.mark.parametrize("activation", grid2d.OUTPUTS)
def test_forward_pass_is_the_keras_model_of_the_same_spec(activation):
    params = _params()
    x = np.random.default_rng(0).normal(size=(M, ROWS, 2)).astype(np.float32)
    mine = np.asarray(grid2d._predict(params, jnp.asarray(x), activation, OUTPUT_INDEX))
    for i, out in enumerate(np.asarray(OUTPUT_INDEX)):
        spec = s2d.base_model(activation, DEPTH, 0.0, grid2d.OUTPUTS[out])
        output = grid2d.OUTPUTS[out]
        model = build_model(spec, head_for("classification", 2, spec, s2d.train_spec("adam", output)), 2)
        p = _member(params, i)
        weights = [p["w0"], p["b0"]]
        for layer in range(DEPTH - 1):
            weights += [p["wh"][layer], p["bh"][layer]]
        model.set_weights(weights + [p["wo"], p["bo"]])
        np.testing.assert_allclose(mine[i], model.predict(x[i], verbose=0)[:, 0], rtol=1e-5, atol=1e-6)
        y = (x[i, :, 0] > 0).astype(np.float32)
        keras_loss = keras.losses.get(s2d.train_spec("adam", output).loss)(y[:, None], mine[i][:, None])
        np.testing.assert_allclose(grid2d._loss_rows(out, y, mine[i]), keras_loss, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", grid2d.OUTPUTS)
def test_hand_written_backward_pass_equals_autodiff(activation):
    """Through dropout (per-member rates), padded rows (zero weight) and every output head."""
    params = _params()
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(M, ROWS, 2)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, (M, ROWS)), jnp.float32)
    real = np.array([32, 32, 10, 32, 5, 32, 32, 20])
    weights = jnp.asarray((np.arange(ROWS)[None] < real[:, None]).astype(np.float32))
    keep = jnp.asarray([1.0, 0.9, 0.7, 0.5, 1.0, 0.8, 0.6, 0.9], jnp.float32)
    u = jax.random.uniform(jax.random.key(1), (M, ROWS, grid2d.WIDTH))

    def loss(p):
        a0 = grid2d._act(activation, grid2d._dense(x, p["w0"], p["b0"]))
        h0 = jnp.where(u < keep[:, None, None], a0 / keep[:, None, None], 0.0)
        h, _ = grid2d._hidden(p, h0, activation)
        pred = grid2d._output(OUTPUT_INDEX[:, None], grid2d._dense(h, p["wo"], p["bo"])[..., 0])
        rows = grid2d._loss_rows(OUTPUT_INDEX[:, None], y, pred)
        return jnp.sum(jnp.sum(rows * weights, 1) / jnp.maximum(jnp.sum(weights, 1), 1.0))

    expected = jax.grad(loss)(params)
    got, _ = grid2d._grads(params, x, y, weights, keep, u, activation, OUTPUT_INDEX,
                           grid2d._scratch(params, ROWS))
    for name, value in expected.items():
        assert float(jnp.max(jnp.abs(value))) > 0, name
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("name", grid2d.OPTIMIZERS)
def test_optimizer_steps_are_keras_formulas(name):
    rate = s2d.LEARNING_RATES[name]
    rng = np.random.default_rng(2)
    start = {"a": rng.normal(size=(4, 3)).astype(np.float32), "b": rng.normal(size=(3,)).astype(np.float32)}
    optimizer = keras.optimizers.get({"class_name": name, "config": {"learning_rate": rate}})
    variables = [keras.Variable(start["a"]), keras.Variable(start["b"])]
    optimizer.build(variables)
    params = {k: jnp.asarray(v) for k, v in start.items()}
    state = grid2d._opt_init(name, params)
    for _ in range(30):
        grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in start.items()}
        optimizer.apply([jnp.asarray(grads["a"]), jnp.asarray(grads["b"])], variables)
        state, params = grid2d._opt_apply(name, state, grads, params, jnp.float32(rate))
    assert np.abs(np.asarray(params["a"]) - start["a"]).max() > 1e-3
    for variable, key in zip(variables, ("a", "b")):
        np.testing.assert_allclose(np.asarray(params[key]), np.asarray(variable.value), rtol=1e-5, atol=1e-6)
