"""Optimizer registry: names, dict parameters, owners of learning rate and momentum, templates."""

import keras
import pytest

from denselab.errors import SpecError
from denselab.models import optimizers
from denselab.spec import TrainSpec

CLASSES = {"sgd": "SGD", "adam": "Adam", "Adadelta": "Adadelta", "adagrad": "Adagrad",
           "RMSprop": "RMSprop", "nadam": "Nadam", "rms-prop": "RMSprop", "gradient descent": "SGD"}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_name_makes_its_class_with_the_learning_rate(name):
    opt = optimizers.make(TrainSpec(optimizer=name, learning_rate=0.05))
    assert type(opt).__name__ == CLASSES[name]
    assert float(opt.learning_rate) == pytest.approx(0.05)
    assert float(optimizers.make(TrainSpec(optimizer=name), learning_rate=0.2).learning_rate) == pytest.approx(0.2)


def test_sgd_momentum_and_nesterov_come_from_the_train_spec():
    opt = optimizers.make(TrainSpec(optimizer="sgd", momentum=0.9, nesterov=True))
    assert opt.momentum == pytest.approx(0.9) and opt.nesterov is True
    with pytest.raises(SpecError, match="`momentum` is set by `train.momentum`"):
        optimizers.check({"name": "sgd", "momentum": 0.9})


def test_dict_parameters():
    assert optimizers.check({"name": "Adam", "beta_1": 0.9}) == "adam"  # default dropped
    config = optimizers.check({"name": "adam", "beta_1": 0.8, "epsilon": 1e-6})
    assert config == {"name": "adam", "beta_1": 0.8, "epsilon": 1e-6}
    assert optimizers.check(config) == config
    adam = optimizers.make(TrainSpec(optimizer=config))
    assert (adam.beta_1, adam.epsilon) == (0.8, 1e-6)
    rms = optimizers.make(TrainSpec(optimizer={"name": "rmsprop", "rho": 0.8, "momentum": 0.5, "centered": True}))
    assert (rms.rho, rms.momentum, rms.centered) == (0.8, 0.5, True)
    assert optimizers.make(TrainSpec(optimizer={"name": "adadelta", "rho": 0.9})).rho == 0.9
    assert optimizers.make(TrainSpec(optimizer={"name": "adagrad", "initial_accumulator_value": 0.5})) \
        .initial_accumulator_value == 0.5
    assert optimizers.make(TrainSpec(optimizer={"name": "nadam", "clipnorm": 1.0})).clipnorm == 1.0
    assert optimizers.make(TrainSpec(optimizer="nadam")).clipnorm is None


def test_errors_say_what_to_fix():
    with pytest.raises(SpecError, match=r"unknown value `adamm` \(did you mean `adam`\?\)"):
        optimizers.check("adamm")
    with pytest.raises(SpecError, match=r"`adam` has no parameter `beta1` \(did you mean `beta_1`\?\)"):
        optimizers.check({"name": "adam", "beta1": 0.8})
    with pytest.raises(SpecError, match="`learning_rate` is set by `train.learning_rate`"):
        optimizers.check({"name": "adam", "learning_rate": 0.1})
    with pytest.raises(SpecError, match="parameter `centered` got 1"):
        optimizers.check({"name": "rmsprop", "centered": 1})


def test_keras_instance_is_a_template():
    template = keras.optimizers.Adam(learning_rate=0.5, beta_1=0.7)
    spec = TrainSpec(optimizer=template, learning_rate=0.01)
    a, b = optimizers.make(spec), optimizers.make(spec)
    assert a is not b and a is not template
    assert a.beta_1 == 0.7 and float(a.learning_rate) == pytest.approx(0.01)
