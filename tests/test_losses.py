"""Loss registry: Janocha & Czarnecki's catalogue by hand, gradients, iris training, metadata."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from denselab.errors import SpecError
from denselab.models import losses

# Two rows, three classes: row 0 is class 0, row 1 is class 1.
Y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# Logit-losses get raw outputs o; ŷ = 2y − 1 is [1, −1, −1] and [−1, 1, −1].
O = np.array([[0.25, -1.0, 1.0], [1.0, 0.0, -2.0]])
# Probability-losses get σ(o) directly (any rows summing to 1 serve).
P = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])

HAND = {
    # |1−.25| + |0+1| + |0−1| = 2.75 ;  |0−1| + |1−0| + |0+2| = 4
    "l1": (O, [2.75, 4.0]),
    # .75² + 1 + 1 = 2.5625 ;  1 + 1 + 4 = 6
    "l2": (O, [2.5625, 6.0]),
    # ½ − ŷo = [.25, −.5, 1.5] → relu [.25, 0, 1.5] ;  ½ − ŷo = [1.5, .5, −1.5] → [1.5, .5, 0]
    "hinge": (O, [1.75, 2.0]),
    "squared_hinge": (O, [0.25**2 + 1.5**2, 1.5**2 + 0.5**2]),        # 2.3125, 2.5
    "cubed_hinge": (O, [0.25**3 + 1.5**3, 1.5**3 + 0.5**3]),          # 3.390625, 3.5
    # .3 + .2 + .1 ;  .5 + .75 + .25
    "expectation": (P, [0.6, 1.5]),
    # .09 + .04 + .01 ;  .25 + .5625 + .0625
    "regularised_expectation": (P, [0.14, 0.875]),
    # max(.3, .2, .1) ;  max(.5, .75, .25)
    "chebyshev": (P, [0.3, 0.75]),
    # −ln .7 ;  −ln .25
    "log": (P, [0.35667494, 1.38629436]),
    # (ln .7)² ;  (ln .25)²
    "squared_log": (P, [0.12721702, 1.92181205]),
    # −.7 / (.54 + 1 − .7) = −5/6 ;  −.25 / (.375 + 1 − .25) = −2/9
    "tanimoto": (P, [-5 / 6, -2 / 9]),
    # −ln(.7 / √.54) = ½ ln(.54/.49) ;  −ln(.25 / √.375) = ½ ln 6
    "cauchy_schwarz": (P, [0.5 * np.log(0.54 / 0.49), 0.5 * np.log(6.0)]),
}
OUTPUT = {"l1": "linear", "l2": "linear", "hinge": "linear", "squared_hinge": "linear",
          "cubed_hinge": "linear", "expectation": "softmax", "regularised_expectation": "softmax",
          "chebyshev": "softmax", "log": "softmax", "squared_log": "softmax", "tanimoto": "softmax",
          "cauchy_schwarz": "softmax"}


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_computed_value(name):
    y_pred, expected = HAND[name]
    rows = losses.function(name)(Y.astype("float32"), y_pred.astype("float32"))
    assert tuple(rows.shape) == (2,)
    np.testing.assert_allclose(np.asarray(rows), expected, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(HAND))
def test_gradient_matches_finite_differences(name):
    """jax.grad of the summed per-row loss w.r.t. y_pred vs central differences (float64)."""
    y_pred, _ = HAND[name]
    with jax.enable_x64(True):
        fn = losses.function(name)
        total = jax.jit(lambda z: jnp.sum(fn(jnp.asarray(Y), z)))
        grad = np.asarray(jax.grad(total)(jnp.asarray(y_pred)))
        h, numeric = 1e-6, np.zeros_like(y_pred)
        for idx in np.ndindex(*y_pred.shape):
            step = np.zeros_like(y_pred)
            step[idx] = h
            up, down = float(total(jnp.asarray(y_pred + step))), float(total(jnp.asarray(y_pred - step)))
            numeric[idx] = (up - down) / (2 * h)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    assert np.any(grad != 0)


def test_every_catalogue_loss_trains_iris():
    """One model holding an independent 4-10-3 net per loss (one compile); Adam's update of a
    weight depends only on its own gradient, so each net trains exactly as it would alone.
    20 epochs, Adam 0.01, batch 15: all reach ≥ 0.95 train accuracy here (Chebyshev, whose
    gradient reaches one class per row, included); we assert > 0.6."""
    from sklearn.datasets import load_iris

    x, codes = load_iris(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    y = np.eye(3, dtype="float32")[codes]
    names = sorted(HAND)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = [keras.layers.Dense(3, activation=losses.output_for(n), name=n)(
        keras.layers.Dense(10, activation="relu")(inputs)) for n in names]
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), loss={n: losses.function(n) for n in names})
    model.fit(x, {n: y for n in names}, epochs=20, batch_size=15, verbose=0)
    accuracy = {n: float(np.mean(np.asarray(p).argmax(1) == codes)) for n, p in zip(names, model(x))}
    assert all(a > 0.6 for a in accuracy.values()), accuracy


def test_names_aliases_and_metadata():
    assert losses.get("log") == "categorical_crossentropy"
    assert losses.get("Regularized-Expectation") == "regularised_expectation"
    assert losses.get({"name": "TANIMOTO"}) == "tanimoto"
    for name, output in OUTPUT.items():
        assert losses.output_for(name) == output, name
    for keras_name in ("binary_crossentropy", "mse", "mae", "huber", "sparse_categorical_crossentropy"):
        assert losses.get(keras_name) == keras_name and losses.output_for(keras_name) is None
    assert losses.get(losses.tanimoto) == "tanimoto"
    mine = lambda y, p: keras.ops.sum(p, axis=-1)  # noqa: E731
    assert losses.get(mine) is mine and losses.function(mine) is mine and losses.output_for(mine) is None


def test_typo_suggests_closest_name():
    with pytest.raises(SpecError, match=r"train.loss: unknown value `tanimotto` \(did you mean `tanimoto`\?\)"):
        losses.get("tanimotto")
    with pytest.raises(SpecError, match="`hinge` has no parameter `margin`"):
        losses.get({"name": "hinge", "margin": 1.0})
