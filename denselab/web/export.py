"""A trained playground network as a runnable, self-contained Keras Python script.

TensorFlow Playground users asked for the code of the network they trained
(tensorflow/playground#39). `keras_script` writes it: the layers as ordinary Keras
code, the trained weights inline (base64 float32, exact), and the preprocessing the
`.keras` file carries (one-hot columns, missing-value fill, scaling) as a few lines
of numpy, so `python model.py rows.csv` predicts the same labels as the model the
page trained, with nothing of denselab installed.
"""

from __future__ import annotations

import base64
import json

import numpy as np

from denselab.errors import DataError

TEMPLATE = '''#!/usr/bin/env python3
"""{name}: a network trained in `denselab serve`, as plain Keras.

    python {name}.py rows.csv   # a csv with a header naming the columns below; one prediction per row
    python {name}.py            # predicts the example rows at the bottom of this file

Needs numpy and keras 3 (any backend). Inputs, in this order: {features}
"""

import base64
import csv
import sys

import keras
import numpy as np

FEATURES = {features_py}
CATEGORIES = {categories}  # text columns: one input per value, in this order
CLASSES = {classes}  # class labels by output index (empty: regression)
TASK = "{task}"
FILL = {fill}  # per encoded input: the training mean filling a missing value (None: missing values are an error)
SCALE = np.array({scale}, dtype="float64")  # scaled input = raw * SCALE + SHIFT (fitted on the training rows)
SHIFT = np.array({shift}, dtype="float64")
EXAMPLE = {example}


def weights(shape, text):
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(shape)


def build():
    inputs = keras.Input(shape=({n_inputs},))
    x = inputs
{layers}
    model = keras.Model(inputs, x, name="{name}")
    model.set_weights([
{weights}
    ])
    return model


def encode(rows):
    """Raw rows (values in FEATURES order) -> the scaled inputs the network was trained on."""
    out = []
    for row in rows:
        if len(row) != len(FEATURES):
            sys.exit(f"each row needs {{len(FEATURES)}} values: {{', '.join(FEATURES)}}")
        vec = []
        for name, value in zip(FEATURES, row):
            if name in CATEGORIES:
                vec += [1.0 if str(value) == c else 0.0 for c in CATEGORIES[name]]
            else:
                vec.append(float("nan") if value in ("", None) else float(value))
        out.append(vec)
    x = np.asarray(out, dtype="float64")
    if FILL is not None:
        x = np.where(np.isnan(x), np.asarray(FILL, dtype="float64"), x)
    return (x * SCALE + SHIFT).astype("float32")


def predict(rows, model=None):
    out = np.asarray((model or build()).predict(encode(rows), verbose=0))
    if TASK == "classification":
        codes = (out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)
        return [CLASSES[int(c)] for c in codes]
    return out[:, 0].tolist()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        with open(sys.argv[1], newline="") as f:
            table = list(csv.DictReader(f))
        missing = [c for c in FEATURES if table and c not in table[0]]
        if missing:
            sys.exit(f"{{sys.argv[1]}}: no column(s) {{', '.join(missing)}}")
        rows = [[r[c] for c in FEATURES] for r in table]
    else:
        rows = EXAMPLE
    for label in predict(rows):
        print(label)
'''


def keras_script(trained, name: str) -> str:
    """The script for a `TrainedModel` (Dense and Dropout layers, as the playground builds)."""
    net, ds, head = trained.keras_model, trained.dataset, trained.head
    layers = []
    for layer in net.layers:
        kind = type(layer).__name__
        cfg = layer.get_config()
        if kind == "InputLayer":
            continue
        if kind == "Dense":
            act = cfg["activation"]
            if not isinstance(act, str):
                raise DataError(f"script: the activation of layer `{layer.name}` has parameters the script "
                                "cannot write; download the .keras model instead")
            layers.append(f'    x = keras.layers.Dense({cfg["units"]}, activation="{act}")(x)')
        elif kind == "Dropout":
            layers.append(f'    x = keras.layers.Dropout({cfg["rate"]!r})(x)')
        else:
            raise DataError(f"script: a `{kind}` layer is not written as a script; download the .keras model")
    blobs = [f'        weights({tuple(int(d) for d in w.shape)!r}, "{_b64(w)}"),' for w in net.get_weights()]
    pre = trained.preprocessor
    n = int(net.input_shape[-1])
    zero, one = pre.transform(np.zeros((1, n))), pre.transform(np.ones((1, n)))
    shift, scale = zero[0], one[0] - zero[0]  # every scaler here is per-column affine
    imputer = pre.steps[0][1] if hasattr(pre, "steps") and len(pre.steps) > 1 else None
    fill = [float(v) for v in imputer.statistics_] if imputer is not None else None
    sample = ds.train_frame[ds.raw_features].head(3)
    example = [["" if _missing(v) else v for v in row] for row in sample.itertuples(index=False)]
    features = [str(f) for f in ds.raw_features]
    return TEMPLATE.format(
        name=name, features=", ".join(features), features_py=json.dumps(features),
        categories=json.dumps({str(k): [str(v) for v in vals] for k, vals in ds.categories.items()}),
        classes=json.dumps([str(c) for c in (ds.classes or ())]), task=head.task,
        fill=repr(fill), scale=repr([float(v) for v in scale]), shift=repr([float(v) for v in shift]),
        example=repr([[_plain(v) for v in row] for row in example]), n_inputs=n,
        layers="\n".join(layers), weights="\n".join(blobs))


def _b64(w) -> str:
    return base64.b64encode(np.asarray(w, dtype="<f4").tobytes()).decode("ascii")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v if isinstance(v, (int, float)) else str(v)
