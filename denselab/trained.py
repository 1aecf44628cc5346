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
import zipfile
from collections.abc import Mapping
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


META_ENTRY = "denselab.json"  # the labels inside the .keras zip (Keras ignores extra entries)
_LOAD_FIX = "save it again with `model.save(path)`, or load a bare Keras net with keras.saving.load_model"


@dataclass(repr=False)  # the generated repr printed every array of the dataset
class TrainedModel:
    """keras_model: the bare network; preprocessor: the fitted sklearn scaler pipeline.

    Rows for `predict`, `predict_proba` and `evaluate` are lists in `raw_features`
    order or mappings `{column: value}`.
    """

    keras_model: keras.Model
    preprocessor: object
    head: Head
    dataset: Dataset

    @classmethod
    def from_weights(cls, model: ModelSpec, head: Head, dataset: Dataset, weights, preprocessor):
        net = build_model(model, head, dataset.x_train.shape[1])
        net.set_weights(weights)
        return cls(keras_model=net, preprocessor=preprocessor, head=head, dataset=dataset)

    def __repr__(self) -> str:
        ds = self.dataset
        out = (f"{len(ds.classes)} classes ({', '.join(map(str, ds.classes[:5]))}{', …' if len(ds.classes) > 5 else ''})"
               if self.head.task == "classification" else f"`{ds.target}`" if ds.target else "values")
        return (f"<TrainedModel {self.head.task}: {len(ds.raw_features)} column(s) → {out}; "
                f"{self.keras_model.count_params()} weights>")

    def _features(self, rows) -> np.ndarray:
        x = self.dataset.encode_rows(ordered_rows(rows, self.dataset.raw_features))
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

    def summary(self, print_fn=None) -> None:
        """Print the network like Keras's `model.summary()`, then its inputs and outputs.

        print_fn: as in Keras, a function that takes each line (default: print; the
        network's table is Keras's own, drawn with rich).
        """
        self.keras_model.summary(print_fn=print_fn)
        ds = self.dataset
        numeric = [c for c in ds.raw_features if c not in ds.categories]
        lines = [f" Inputs: {len(ds.raw_features)} column(s), {len(ds.feature_names)} feature(s) after encoding: "
                 + ", ".join(map(str, numeric[:12])) + (", …" if len(numeric) > 12 else "")]
        if ds.categories:
            lines.append(" One-hot: " + "; ".join(f"{c} ({len(v)} values)" for c, v in ds.categories.items()))
        if self.head.task == "classification":
            lines.append(f" Predicts: `{ds.target}`, one of {', '.join(map(str, ds.classes))}")
        else:
            lines.append(f" Predicts: `{ds.target}` (regression, {self.head.metric})")
        for line in lines:
            (print_fn or print)(line)

    def save(self, path) -> Path:
        """Write `path` (.keras, the network with its scaling baked in, labels inside) and
        `path`.json (the labels, readable); `denselab.load_model(path)` reads it back."""
        path = Path(path)
        if path.suffix != ".keras":
            raise DataError(f"save: `{path}` must end in .keras")
        ds = self.dataset
        meta = model_meta(self.head, ds.classes, ds.feature_names, ds.target, ds.raw_features, ds.categories)
        return write_model(export_model(self), meta, path)


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


def ordered_rows(rows, columns: list) -> list:
    """New samples as lists in `columns` order: each row a list (already in order) or a
    mapping `{column: value}`; one row alone is taken as a batch of one; a DataFrame gives its
    rows by column name."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.to_dict(orient="records")
    if isinstance(rows, Mapping) or (len(rows) and not isinstance(rows[0], (list, tuple, Mapping, np.ndarray))):
        rows = [rows]
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            out.append(list(row))
            continue
        keys = {str(k): v for k, v in row.items()}
        names = {str(c): c for c in columns}
        missing = [n for n in names if n not in keys]
        extra = [k for k in keys if k not in names]
        if missing or extra:
            what = "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "",
                                           f"unknown {', '.join(extra)}" if extra else ""]))
            raise DataError(f"predict: row {i + 1}: {what}; a row names every input column: "
                            f"{', '.join(names)}")
        out.append([keys[n] for n in names])
    return out


def model_meta(head: Head, classes, features, target, raw_features=None, categories=None) -> dict:
    """What `load` needs beside the network: the head, labels, and how raw rows are encoded."""
    labels = [c.item() if hasattr(c, "item") else c for c in (classes if classes is not None else ())]
    return {"task": head.task, "classes": [c if isinstance(c, (str, int, float, bool)) else str(c) for c in labels],
            "binary": head.binary, "features": list(map(str, features)),
            "target": target if isinstance(target, (str, int)) else str(target),
            "raw_features": list(raw_features if raw_features is not None else features),
            "categories": [[name, list(values)] for name, values in (categories or {}).items()],
            "head": {"n_outputs": head.n_outputs, "output_activation": head.output_activation,
                     "loss": head.loss, "metric": head.metric}}


def write_model(net: keras.Model, meta: dict, path) -> Path:
    """`path` (.keras) with the labels inside it (`denselab.json`), and `path`.json beside it.

    The labels travel inside the file, so a `.keras` downloaded alone (the web page) still
    predicts labels; the sidecar is for people and for tools that read JSON.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise DataError(f"save: `{path}` must end in .keras")
    text = json.dumps(meta, indent=1)
    net.save(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(META_ENTRY, text)
    path.with_suffix(".keras.json").write_text(text)
    return path


def load(path) -> TrainedModel:
    """A saved model (from `run`, `Classifier.save`/`Regressor.save` or the web page) that
    predicts labels from raw rows, like the model that was saved.

    Raises DataError naming the file when it is missing, corrupt, truncated, or a Keras
    file without denselab's labels.
    """
    path = Path(path)
    if path.name.endswith(".keras.json"):
        path = path.with_suffix("")
    if not path.is_file():
        raise DataError(f"load_model: no file `{path}`; give the .keras file written by `save`")
    import denselab.models.activations  # noqa: F401  registers custom activations
    import denselab.models.losses  # noqa: F401  and losses

    meta = _read_meta(path)
    try:
        net = keras.saving.load_model(path)
    except Exception as exc:  # Keras raises ValueError, KeyError, OSError … for a damaged archive
        raise DataError(f"load_model: `{path}` is not a readable Keras model "
                        f"({' '.join(str(exc).split())[:160]}); {_LOAD_FIX}") from None
    return _from_meta(net, meta, path)


def _read_meta(path: Path) -> dict:
    """The labels: inside the archive, else the sidecar `.keras.json`."""
    side = path.with_suffix(".keras.json")
    try:
        with zipfile.ZipFile(path) as archive:
            inside = archive.read(META_ENTRY) if META_ENTRY in archive.namelist() else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"load_model: `{path}` is not a .keras archive (corrupt or truncated: {exc}); "
                        f"{_LOAD_FIX}") from None
    source, text = (f"{path}", inside) if inside is not None else (f"{side}", side.read_bytes() if side.is_file() else None)
    if text is None:
        raise DataError(f"load_model: `{path}` has no denselab labels (none inside it, no `{side.name}` "
                        f"beside it); {_LOAD_FIX}")
    try:
        meta = json.loads(text)
        ok = isinstance(meta, dict) and meta.get("task") in ("classification", "regression") and isinstance(
            meta.get("features"), list) and (meta["task"] == "regression" or len(meta.get("classes") or []) >= 2)
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise DataError(f"load_model: `{source}` does not hold denselab labels (damaged, or another "
                        f"program's JSON); {_LOAD_FIX}")
    return meta


def _from_meta(net: keras.Model, meta: dict, path: Path) -> TrainedModel:
    from sklearn.preprocessing import FunctionTransformer

    n = net.input_shape[-1]
    if len(meta["features"]) != n:
        raise DataError(f"load_model: `{path}` takes {n} inputs but its labels name {len(meta['features'])} "
                        f"features (files from different models?); {_LOAD_FIX}")
    task, classes = meta["task"], tuple(meta.get("classes") or ()) or None
    h = meta.get("head") or {}
    n_out = int(h.get("n_outputs") or net.output_shape[-1])
    head = Head(task=task, n_outputs=n_out, output_activation=h.get("output_activation", ""),
                loss=h.get("loss") or ("mse" if task == "regression" else "binary_crossentropy" if n_out == 1
                                       else "categorical_crossentropy"),
                metric=h.get("metric") or ("accuracy" if task == "classification" else "mse"))
    raw = meta.get("raw_features") or meta["features"]
    empty = np.zeros((0, n), dtype=np.float32)
    ds = Dataset(x_train=empty, y_train=np.zeros(0), x_test=empty, y_test=np.zeros(0), task=task,
                 target=meta.get("target", ""), feature_names=list(meta["features"]), raw_features=list(raw),
                 classes=classes, categories={name: list(values) for name, values in meta.get("categories", [])},
                 scaling="none")
    # the saved net has its scaling baked in (export_model): it takes encoded, unscaled rows
    return TrainedModel(keras_model=net, preprocessor=FunctionTransformer(), head=head, dataset=ds)
