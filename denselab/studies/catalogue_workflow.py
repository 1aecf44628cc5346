"""The lecture's Keras workflow, shown on one trained net (the catalogue study's last section).

The lecture's cheat sheet walks through `summary`, `get_config`, `get_weights`,
`evaluate`, `predict`, saving and loading, and builds an `Embedding` + `LSTM` text
classifier. Here one Dense 20 → 20 relu net is trained on iris (refit on its training
rows, scored on its test rows) and each call is made on the real `keras.Model` inside
denselab's `TrainedModel`; the Embedding + LSTM net is built and called on one batch of
token ids (it is not trained: the study has no text data).

Owns: the table `keras_workflow` (call, result) and the numbers it quotes.

Example:
    >>> from denselab.studies.catalogue_workflow import run_workflow
    >>> table, numbers = run_workflow(seed=0, epochs=2)   # doctest: +SKIP
    >>> table["call"].tolist()[:2]                         # doctest: +SKIP
    ['model.summary()', 'model.get_config()']
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from denselab.data.prepare import load_dataset
from denselab.spec import Experiment
from denselab.train.evaluate import holdout
from denselab.trained import TrainedModel, load

LSTM_EXAMPLE = {"vocabulary": 1000, "embedding": 64, "lstm_units": 128, "dropout": 0.2, "tokens": 20, "batch": 4}


def run_workflow(seed: int, epochs: int) -> tuple[pd.DataFrame, dict]:
    """(the table of calls and results, the numbers it shows) for one iris net trained `epochs` epochs."""
    import keras

    exp = Experiment.from_dict({"name": "catalogue-keras-workflow", "data": {"source": "iris"},
                                "model": {"hidden": [{"units": 20, "activation": "relu"},
                                                     {"units": 20, "activation": "relu"}]},
                                "train": {"epochs": epochs, "batch_size": 16}, "seed": seed})
    ds = load_dataset(exp.data, seed)
    final = holdout(exp, ds)
    trained = TrainedModel.from_weights(exp.model, final.head, ds, final.weights, final.preprocessor)
    net = trained.keras_model
    lines: list = []
    net.summary(print_fn=lambda line, *a, **k: lines.append(line))
    config = net.get_config()
    shapes = [list(w.shape) for w in net.get_weights()]
    x_test = ds.x_test.tolist()
    labels = [ds.classes[c] for c in ds.y_test]
    scores = trained.evaluate(x_test, labels)
    proba = trained.predict_proba(x_test[:3])
    with tempfile.TemporaryDirectory() as tmp:
        path = trained.save(Path(tmp) / "net.keras")
        again = load(path).predict_proba(x_test[:3])
    same = float(np.max(np.abs(np.asarray(again) - np.asarray(proba))))
    lstm = keras.Sequential([keras.Input(shape=(LSTM_EXAMPLE["tokens"],), dtype="int32"),
                             keras.layers.Embedding(LSTM_EXAMPLE["vocabulary"], LSTM_EXAMPLE["embedding"]),
                             keras.layers.LSTM(LSTM_EXAMPLE["lstm_units"], dropout=LSTM_EXAMPLE["dropout"],
                                               recurrent_dropout=LSTM_EXAMPLE["dropout"]),
                             keras.layers.Dense(1, activation="sigmoid")])
    tokens = np.random.default_rng(seed).integers(0, LSTM_EXAMPLE["vocabulary"],
                                                  (LSTM_EXAMPLE["batch"], LSTM_EXAMPLE["tokens"]))
    out = np.asarray(lstm(tokens))
    numbers = {"params": int(net.count_params()), "layers": len(config["layers"]), "test_rows": len(labels),
               "evaluate": {k: float(v) for k, v in scores.items()}, "max_abs_diff_after_load": same,
               "lstm_params": int(lstm.count_params()), "lstm_output_shape": list(out.shape), "epochs": epochs,
               "lstm": LSTM_EXAMPLE}
    numbers["summary_lines"] = len("\n".join(lines).splitlines())  # Keras hands the whole table to one call
    rows = [("model.summary()", f"{numbers['summary_lines']} lines; total params {numbers['params']}"),
            ("model.get_config()", f"{numbers['layers']} layers: " + ", ".join(
                layer["class_name"] for layer in config["layers"])),
            ("model.get_weights() shapes", "; ".join(str(s) for s in shapes)),
            ("model.evaluate(test rows)", ", ".join(f"{k} {v:.4f}" for k, v in numbers["evaluate"].items())
             + f" on {numbers['test_rows']} rows"),
            ("model.predict(3 test rows)", "; ".join("[" + ", ".join(f"{p:.3f}" for p in row) + "]" for row in proba)),
            ("save → load → predict", f"largest difference from the saved net's probabilities: {same:.3g}"),
            ("Embedding(1000, 64) → LSTM(128, dropout=0.2, recurrent_dropout=0.2) → Dense(1, sigmoid)",
             f"{numbers['lstm_params']} params; called on a batch of {LSTM_EXAMPLE['batch']} × "
             f"{LSTM_EXAMPLE['tokens']} token ids → output shape {tuple(out.shape)} (built, not trained)")]
    numbers["weight_shapes"] = shapes
    numbers["proba"] = np.asarray(proba).tolist()
    return pd.DataFrame(rows, columns=["call", "result"]), numbers
