"""Activations registry: names, dicts, callables, training, straight-through step, save/load."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from denselab.errors import SpecError
from denselab.models import activations
from denselab.models.build import Head, build_model
from denselab.spec import LayerSpec, ModelSpec

LECTURE = {  # the lecture's table and the Keras extras → canonical name
    "identity": "linear", "binary step": "binary_step", "logistic": "sigmoid", "tanh": "tanh",
    "ArcTan": "arctan", "ReLU": "relu", "PReLU": "prelu", "ELU": "elu", "SoftPlus": "softplus",
    "selu": "selu", "gelu": "gelu", "swish": "silu", "softsign": "softsign", "leaky-relu": "leaky_relu",
}


@pytest.mark.parametrize("name", sorted(LECTURE))
def test_lecture_names_resolve(name):
    assert activations.get(name) == LECTURE[name]
    assert activations.get(activations.get(name)) == LECTURE[name]  # a config resolves to itself


def test_typo_suggests_closest_name():
    with pytest.raises(SpecError, match=r"activation: unknown value `arctna` \(did you mean `arctan`\?\)"):
        activations.get("arctna")


def test_dict_and_callable_forms_round_trip():
    assert activations.get({"name": "ELU"}) == "elu"
    assert activations.get({"name": "elu", "alpha": 1}) == "elu"  # the default is dropped
    config = activations.get({"name": "elu", "alpha": 0.5})
    assert config == {"name": "elu", "alpha": 0.5}
    assert activations.get(config) == config
    fn = activations.function(config)
    assert activations.get(fn) == config  # the callable maps back to its config
    np.testing.assert_allclose(np.asarray(fn(jnp.array([-1.0, 2.0]))), [0.5 * (np.exp(-1) - 1), 2.0], rtol=1e-6)
    assert activations.get(activations.arctan) == "arctan"
    assert activations.get(keras.activations.relu) == "relu"
    mine = lambda x: x  # noqa: E731
    assert activations.get(mine) is mine and activations.function(mine) is mine
    with pytest.raises(SpecError, match=r"`elu` has no parameter `alpah` \(did you mean `alpha`\?\)"):
        activations.get({"name": "elu", "alpah": 2.0})
    with pytest.raises(SpecError, match="`relu` has no parameter `alpha`; it takes no parameters"):
        activations.get({"name": "relu", "alpha": 2.0})
    with pytest.raises(SpecError, match="without a `name` key"):
        activations.get({"alpha": 2.0})
    with pytest.raises(SpecError, match="parameter `alpha` got 'big'"):
        activations.get({"name": "elu", "alpha": "big"})


def test_binary_step_is_exact_forward_and_straight_through_backward():
    x = jnp.array([-1e8, -0.5, 0.0, 0.3, 1e8])
    np.testing.assert_array_equal(np.asarray(activations.binary_step(x)), [0, 0, 1, 1, 1])  # f(0) = 1
    grad = jax.grad(lambda w: jnp.sum(activations.binary_step(w * x)))(1.0)
    assert float(grad) == pytest.approx(float(jnp.sum(x)))  # d/dw Σ step(w x) via STE = Σ x
    assert "straight-through" in activations.binary_step.__doc__


def test_prelu_is_a_layer():
    head = Head(task="classification", n_outputs=3, output_activation="softmax",
                loss="categorical_crossentropy", metric="accuracy")
    model = build_model(ModelSpec(hidden=(LayerSpec(units=5, activation="PReLU"),)), head, 4)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Dense", "PReLU", "Dense"]
    assert model.layers[1].activation is keras.activations.linear


def test_every_activation_trains():
    """One model, one branch per activation (one compile): each branch's weights move, all finite."""
    specs = list(activations.NAMES) + [{"name": "elu", "alpha": 0.5}, {"name": "leaky_relu", "negative_slope": 0.1}]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)]
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    branches, firsts = [], []
    for spec in specs:
        layer = keras.layers.Dense(4, activation=activations.function(spec))
        h = layer(inputs)
        if activations.get(spec) == "prelu":
            h = keras.layers.PReLU()(h)
        branches.append(h)
        firsts.append(layer)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()(branches))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy")
    before = [layer.get_weights()[0].copy() for layer in firsts]
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < 5.0
    for spec, layer, w0 in zip(specs, firsts, before):
        w1 = layer.get_weights()[0]
        assert np.all(np.isfinite(w1)), spec
        assert not np.allclose(w0, w1), f"{spec}: no gradient reached the layer below it"


def test_saved_model_with_custom_activations_reloads(tmp_path):
    """arctan, binary_step and a parametrised ELU survive a .keras save/load, and so does a catalogue loss."""
    from denselab.train.fit import compile_model
    from denselab.spec import TrainSpec

    head = Head(task="classification", n_outputs=3, output_activation="linear", loss="hinge", metric="accuracy")
    spec = ModelSpec(hidden=(LayerSpec(units=6, activation="arctan"), LayerSpec(units=6, activation="step")))
    model = build_model(spec, head, 4)
    model = compile_model(model, TrainSpec(optimizer="adam", learning_rate=0.01), head)
    x = np.random.default_rng(1).normal(size=(40, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(40) % 3]
    model.fit(x, y, epochs=2, batch_size=20, verbose=0)
    elu = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activations.function(
        {"name": "elu", "alpha": 0.5}))])
    for m, name in ((model, "net.keras"), (elu, "elu.keras")):
        m.save(tmp_path / name)
        again = keras.saving.load_model(tmp_path / name)
        np.testing.assert_allclose(np.asarray(again(x)), np.asarray(m(x)), rtol=1e-6)
    again = keras.saving.load_model(tmp_path / "net.keras")
    assert [layer.activation.__name__ for layer in again.layers[1:3]] == ["arctan", "binary_step"]
    assert again.loss.__name__ == "hinge"
    assert activations.get(keras.saving.load_model(tmp_path / "elu.keras").layers[-1].activation) == {
        "name": "elu", "alpha": 0.5}
