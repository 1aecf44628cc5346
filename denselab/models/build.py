"""Spec → `keras.Model`, and the output head inferred from the task.

Owns: the layer stack (ModelSpec), the output layer and the loss/metric pairing
(`Head`). Both training engines build their network here, so a spec means the same
network on the fleet and on `model.fit`.

Example:
    >>> from denselab.spec import ModelSpec, TrainSpec
    >>> head = head_for("classification", 3, ModelSpec(), TrainSpec())
    >>> build_model(ModelSpec(), head, 4).output_shape
    (None, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from denselab.errors import SpecError
from denselab.models import activations, initializers, losses
from denselab.spec import LayerSpec, ModelSpec, TrainSpec


@dataclass(frozen=True)
class Head:
    """What the output layer predicts and how it is scored.

    task: classification | regression; n_outputs: units of the output layer
    (1 for binary classification); metric: `accuracy` or `mse`.
    """

    task: str
    n_outputs: int
    output_activation: str
    loss: str
    metric: str

    @property
    def binary(self) -> bool:
        return self.task == "classification" and self.n_outputs == 1


def head_for(task: str, n_targets: int, model: ModelSpec, train: TrainSpec) -> Head:
    """Infer output layer, loss and metric: softmax+CCE, sigmoid+BCE or linear+MSE.

    n_targets: number of classes (classification) or target columns (regression).
    """
    if task == "classification":
        if n_targets < 2:
            raise SpecError("data.target: only one class present; classification needs at least 2")
        binary = n_targets == 2
        n_out = 1 if binary else n_targets
        default_act, default_loss = ("sigmoid", "binary_crossentropy") if binary else (
            "softmax", "categorical_crossentropy")
        metric = "accuracy"
    else:
        n_out, default_act, default_loss, metric = n_targets, "linear", "mse", "mse"
    loss = losses.get(train.loss) if train.loss else default_loss
    if task == "classification" and losses.output_for(loss):  # one-hot loss: ≥2 columns, its own output
        n_out, default_act = n_targets, losses.output_for(loss)
    act = activations.get(model.output_activation) if model.output_activation else default_act
    return Head(task=task, n_outputs=n_out, output_activation=act, loss=loss, metric=metric)


def build_model(model: ModelSpec, head: Head, input_shape, name: str = "denselab") -> keras.Model:
    """A fresh, uncompiled Keras model for `model` with `head` on top.

    input_shape: number of features (flat rows) or a shape tuple.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    inputs = keras.Input(shape=shape)
    x = inputs
    if model.input_shape is not None:
        target = tuple(int(d) for d in model.input_shape)
        if _prod(target) != _prod(shape):
            raise SpecError(
                f"model.input_shape: {list(target)} holds {_prod(target)} values but each row has "
                f"{_prod(shape)} features; give a shape whose values multiply to {_prod(shape)}, "
                f"e.g. [{_prod(shape)}] or [{_prod(shape)}, 1]"
            )
        x = keras.layers.Reshape(target)(x)
    for i, layer in enumerate(model.hidden):
        for keras_layer in _layers(layer, model.kernel_initializer, i):
            x = keras_layer(x)
    outputs = keras.layers.Dense(
        head.n_outputs, activation=activations.function(head.output_activation),
        kernel_initializer=initializers.function(model.kernel_initializer), name="output",
    )(x)
    if head.output_activation == "prelu":
        outputs = keras.layers.PReLU(name="output_prelu")(outputs)
    return keras.Model(inputs, outputs, name=name)


def _layers(spec: LayerSpec, default_init: str, index: int) -> list:
    init = initializers.function(spec.kernel_initializer or default_init)
    reg = keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2) if (spec.l1 or spec.l2) else None
    t = spec.type
    act_name = activations.get(spec.activation) if spec.activation else None
    if t == "dense":
        act_name = act_name or "relu"
        out = [keras.layers.Dense(spec.units, activation=activations.function(act_name),
                                  kernel_initializer=init, kernel_regularizer=reg)]
    elif t == "conv2d":
        act_name = act_name or "relu"
        out = [keras.layers.Conv2D(spec.filters, spec.kernel_size, activation=activations.function(act_name),
                                   kernel_initializer=init, kernel_regularizer=reg, padding="same")]
    elif t in ("simplernn", "lstm", "gru"):
        cls = {"simplernn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[t]
        kwargs = {"activation": activations.function(act_name)} if act_name else {}
        out = [cls(spec.units, kernel_initializer=init, kernel_regularizer=reg,
                   return_sequences=spec.return_sequences, **kwargs)]
    elif t == "dropout":
        out = [keras.layers.Dropout(spec.rate)]
    elif t == "batchnorm":
        out = [keras.layers.BatchNormalization()]
    elif t == "maxpool2d":
        out = [keras.layers.MaxPooling2D(spec.pool_size or 2, padding="same")]
    elif t == "flatten":
        out = [keras.layers.Flatten()]
    elif t == "embedding":
        out = [keras.layers.Embedding(spec.input_dim, spec.output_dim)]
    else:  # guarded by LayerSpec validation
        raise SpecError(f"model.hidden[{index}].type: `{t}` cannot be built")
    if act_name == "prelu":
        out.append(keras.layers.PReLU())
    if spec.dropout:
        out.append(keras.layers.Dropout(spec.dropout))
    return out


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n
