"""A trained network with its preprocessing: predict, evaluate, summary, save, load.

The network itself is an ordinary `keras.Model`; this wrapper adds what Keras does
not know: the fitted scaler, the one-hot categories and the class names, so
`predict` takes raw rows and answers with the original labels.

Example:
    >>> result = denselab.run("iris", overrides=["train.epochs=5"])  # doctest: +SKIP
    >>> result.model.predict([[6.4, 3.2, 4.5, 1.5]])                  # doctest: +SKIP
    ['versicolor']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from denselab.data.prepare import Dataset
from denselab.errors import DataError
from denselab.models.build import Head, build_model
from denselab.spec import ModelSpec
from denselab.train.engine import predicted_codes, targets
from denselab.train.fit import score


@dataclass
class TrainedModel:
    """keras_model: the bare network; preprocessor: the fitted sklearn scaler pipeline."""

    keras_model: keras.Model
    preprocessor: object
    head: Head
    dataset: Dataset

    @classmethod
    def from_weights(cls, model: ModelSpec, head: Head, dataset: Dataset, weights, preprocessor):
        net = build_model(model, head, dataset.x_train.shape[1])
        net.set_weights(weights)
        return cls(keras_model=net, preprocessor=preprocessor, head=head, dataset=dataset)

    def _features(self, rows) -> np.ndarray:
        arr = np.asarray(rows, dtype=object)
        if arr.ndim == 1:
            rows = [list(rows)]
        x = self.dataset.encode_rows(rows)
        return self.preprocessor.transform(x).astype(np.float32)

    def predict_proba(self, rows) -> np.ndarray:
        """Class probabilities (columns in `classes` order) for raw rows."""
        out = self.keras_model.predict(self._features(rows), verbose=0)
        if self.head.binary:
            out = np.concatenate([1 - out, out], axis=1)
        return out

    def predict(self, rows) -> list:
        """Original class labels (classification) or predicted values (regression)."""
        out = self.keras_model.predict(self._features(rows), verbose=0)
        if self.head.task == "classification":
            return self.dataset.decode(predicted_codes(self.head, out))
        return out.squeeze(-1).tolist() if out.shape[-1] == 1 else out.tolist()

    def evaluate(self, rows, y) -> dict:
        """Loss and metric on raw rows with their true labels (or values)."""
        y = np.asarray(y)
        if self.head.task == "classification":
            index = {str(c): i for i, c in enumerate(self.dataset.classes)}
            missing = sorted({str(v) for v in y} - set(index))
            if missing:
                raise DataError(f"evaluate: unknown label(s) {', '.join(missing)}; "
                                f"known: {', '.join(map(str, self.dataset.classes))}")
            y = np.array([index[str(v)] for v in y])
        out = self.keras_model.predict(self._features(rows), verbose=0)
        return score(self.head, targets(self.head, y), out)

    def summary(self) -> str:
        lines = []
        self.keras_model.summary(print_fn=lambda line, **_: lines.append(line))
        return "\n".join(lines)

    def save(self, path) -> Path:
        """Write `path` (.keras, the network with its scaling baked in) and `path`.json (labels)."""
        path = Path(path)
        if path.suffix != ".keras":
            raise DataError(f"save: `{path}` must end in .keras")
        export_model(self).save(path)
        meta = {"task": self.head.task, "classes": list(map(str, self.dataset.classes or ())),
                "binary": self.head.binary, "features": list(map(str, self.dataset.feature_names))}
        path.with_suffix(".keras.json").write_text(json.dumps(meta, indent=1))
        return path


def export_model(trained: TrainedModel) -> keras.Model:
    """The network with its scaling as a first layer: it takes encoded, unscaled rows."""
    n = trained.keras_model.input_shape[-1]
    pre = trained.preprocessor
    scaler = pre.steps[-1][1] if hasattr(pre, "steps") else pre
    inputs = keras.Input(shape=(n,))
    x = inputs
    if hasattr(scaler, "mean_"):
        scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
        x = keras.layers.Normalization(mean=scaler.mean_, variance=scale ** 2)(x)
    elif hasattr(scaler, "data_min_"):
        span = np.where(scaler.data_range_ == 0, 1.0, scaler.data_range_)
        x = keras.layers.Normalization(mean=scaler.data_min_, variance=span ** 2)(x)
    return keras.Model(inputs, trained.keras_model(x), name="denselab_export")


def load(path) -> tuple[keras.Model, dict]:
    """Load a saved model: the keras model (scaling included) and its label metadata."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"load: no file `{path}`")
    import denselab.models.activations  # noqa: F401  registers custom activations

    meta_path = path.with_suffix(".keras.json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return keras.saving.load_model(path), meta
