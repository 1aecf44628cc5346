"""From a DataFrame to arrays: columns, encoding, missing values, split, folds, scaling.

Owns `DataSpec.target`, `features`, `drop`, `categorical`, `missing`, `scaling`,
`test_size`, `task`. Scaling (and mean imputation) is *fitted per training set*
(`Dataset.preprocessor()` is a fresh scikit-learn pipeline each time), so neither a
CV fold's held-out rows nor the test set leak into what the network sees.

Example:
    >>> from denselab.spec import DataSpec
    >>> ds = load_dataset(DataSpec(source="iris"), seed=0)
    >>> ds.task, ds.classes, ds.x_train.shape
    ('classification', ('setosa', 'versicolor', 'virginica'), (120, 4))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from denselab.data.sources import read_table
from denselab.errors import DataError, suggest
from denselab.spec import DataSpec

MAX_CLASSES_FOR_INTEGERS = 20
MAX_AUTO_CATEGORIES = 20  # a text column with more values is one-hot encoded only when listed in data.categorical


@dataclass
class Dataset:
    """Encoded arrays of one experiment, split into training and held-out test rows.

    x_*: float32 feature matrices, one-hot columns included, *not yet scaled*.
    y_*: class codes 0..k-1 (classification) or float targets (regression).
    classes: the original class labels, indexed by code (None for regression).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    target: str
    feature_names: list
    raw_features: list
    classes: tuple | None = None
    categories: dict = field(default_factory=dict)
    scaling: str = "standard"
    impute: bool = False
    dropped_rows: int = 0
    train_frame: pd.DataFrame | None = None

    @property
    def n_targets(self) -> int:
        """Number of classes, or of regression target columns."""
        if self.task == "classification":
            return len(self.classes)
        return 1 if self.y_train.ndim == 1 else self.y_train.shape[1]

    def preprocessor(self):
        """A fresh, unfitted scikit-learn transformer: optional mean imputation + scaling."""
        scaler = {"standard": StandardScaler(), "minmax": MinMaxScaler(),
                  "none": FunctionTransformer()}[self.scaling]
        return make_pipeline(SimpleImputer(strategy="mean"), scaler) if self.impute else scaler

    def decode(self, codes) -> list:
        """Original class labels for class codes (classification only)."""
        return [self.classes[int(c)] for c in np.asarray(codes).ravel()]

    def encode_rows(self, rows) -> np.ndarray:
        """Raw new samples (values in `raw_features` order) → unscaled feature matrix."""
        try:
            frame = pd.DataFrame([list(r) for r in rows], columns=self.raw_features)
        except (ValueError, TypeError):
            raise DataError(
                f"predict: each row needs {len(self.raw_features)} values, in the order "
                f"{', '.join(map(str, self.raw_features))}"
            ) from None
        for name in self.raw_features:
            if name not in self.categories:
                values = pd.to_numeric(frame[name], errors="coerce")
                if values.isna().any():
                    raise DataError(f"predict: column `{name}` needs numbers, got {frame[name].tolist()}")
                frame[name] = values
        return _encode(frame, self.categories, "predict")


def load_dataset(spec: DataSpec, seed: int = 0, data=None) -> Dataset:
    """Read `spec.source` (or `data`) and return encoded, split arrays."""
    frame, target = read_table(spec, data)
    return from_frame(frame, target, spec, seed)


def from_frame(frame: pd.DataFrame, target, spec: DataSpec, seed: int) -> Dataset:
    """Select, check, encode and split the columns of `frame` (see module doc)."""
    frame = frame.copy()
    frame.columns = [c if isinstance(c, int) else str(c) for c in frame.columns]
    columns = list(frame.columns)
    target = _column(target, columns, "data.target")
    for name in spec.drop:
        _column(name, columns, "data.drop")
    if spec.features is not None:
        features = [_column(f, columns, "data.features") for f in spec.features]
        if target in features:
            raise DataError(f"data.features: the target `{target}` is also listed as a feature; remove it")
    else:
        dropped = {_column(d, columns, "data.drop") for d in spec.drop}
        features = [c for c in columns if c != target and c not in dropped]
    if not features:
        raise DataError("data.features: no feature columns left; check `data.drop` and `data.features`")
    categorical = [_column(c, columns, "data.categorical") for c in spec.categorical]
    frame = frame[features + [target]]
    if spec.na_values:
        frame = _as_missing(frame, spec.na_values)
    for name in features:
        if name not in categorical and not pd.api.types.is_numeric_dtype(frame[name]):
            _reject_stray_text(name, frame[name])  # first: measured numbers are all distinct, like ids
            _reject_id_column(name, frame[name])
            _reject_many_values(name, frame[name])
            categorical.append(name)
    frame, dropped_rows = _handle_missing(frame, features, target, spec.missing)
    task = _task(frame[target], spec.task)
    for name in categorical:
        if name in features:
            frame[name] = frame[name].astype(str).where(frame[name].notna(), None)
    categories = {c: sorted(frame[c].dropna().unique().tolist()) for c in categorical if c in features}
    y, classes = _encode_target(frame[target], task, target)
    x = _encode(frame[features], categories, "data")
    feature_names = _feature_names(features, categories)
    stratify = y if task == "classification" else None
    index = np.arange(len(frame))
    if spec.test_size > 0:
        try:
            train_idx, test_idx = train_test_split(index, test_size=spec.test_size,
                                                   random_state=seed, stratify=stratify)
        except ValueError as exc:
            raise DataError(f"data.test_size: cannot split {len(frame)} rows with test_size "
                            f"{spec.test_size} ({exc}); lower it or add rows") from None
    else:
        train_idx, test_idx = index, index[:0]
    return Dataset(
        x_train=x[train_idx], y_train=y[train_idx], x_test=x[test_idx], y_test=y[test_idx],
        task=task, target=str(target), feature_names=feature_names, raw_features=features,
        classes=classes, categories=categories, scaling=spec.scaling,
        impute=spec.missing == "mean", dropped_rows=dropped_rows,
        train_frame=frame.iloc[train_idx].reset_index(drop=True),
    )


def fold_indices(y: np.ndarray, folds: int, stratified: bool, task: str, seed: int) -> list:
    """(train, held-out) index pairs of a shuffled (stratified) k-fold split of `y`."""
    n = len(y)
    if n < folds:
        raise DataError(f"evaluate.folds: {folds} folds need at least {folds} training rows, "
                        f"there are {n}; lower `evaluate.folds` or add rows")
    if stratified and task == "classification":
        counts = np.bincount(y)
        if counts.max() < folds:  # scikit-learn refuses: no class can reach every fold
            raise DataError(f"evaluate.folds: {folds} stratified folds need a class with at least {folds} "
                            f"training rows, the largest has {counts.max()}; lower `evaluate.folds`, add rows "
                            "or set `evaluate.stratified: false`")
        if counts[counts > 0].min() >= 2:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            return list(splitter.split(np.zeros(n), y))
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(n)))


def _column(name, columns, field_name):
    if name in columns:
        return name
    if isinstance(name, str) and name.isdecimal() and int(name) in columns:
        return int(name)
    shown = [str(c) for c in columns]
    if isinstance(name, int) and not any(isinstance(c, int) for c in columns) and 0 <= name < len(columns):
        return columns[name]
    raise DataError(f"{field_name}: no column `{name}`{suggest(str(name), shown)}; columns: "
                    f"{', '.join(shown[:20])}{' …' if len(shown) > 20 else ''}")


def _handle_missing(frame, features, target, policy):
    numeric = frame.select_dtypes(include="number").astype(float)
    infinite = np.isinf(numeric.to_numpy(dtype=float, na_value=np.nan)).any(axis=0)
    if infinite.any():
        names = [str(c) for c, bad in zip(numeric.columns, infinite) if bad]
        raise DataError(f"data: infinite values in column(s) {', '.join(names)}; replace them or drop those rows")
    # the networks compute in float32: a larger value would become inf there
    huge = (numeric.abs() > np.finfo(np.float32).max).any(axis=0)
    if huge.any():
        names = [str(c) for c, bad in huge.items() if bad]
        raise DataError(f"data: column(s) {', '.join(names)} hold values beyond float32's ±3.4e38; "
                        "rescale them (e.g. a log or a change of units)")
    missing = frame.isna()
    if not missing.to_numpy().any():
        return frame, 0
    if policy == "drop" or (policy == "mean" and missing[target].any()):
        keep = ~missing.any(axis=1) if policy == "drop" else ~missing[target]
        kept = frame[keep].reset_index(drop=True)
        if kept.empty:
            raise DataError("data.missing: every row has a missing value; no rows left after `drop`")
        if policy == "drop" or not kept.isna().to_numpy().any():
            return kept, int((~keep).sum())
        frame, missing = kept, kept.isna()
    if policy == "mean":
        text = [c for c in features if missing[c].any() and not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise DataError(f"data.missing: `mean` cannot fill text column(s) {', '.join(map(str, text))}; "
                            "use `missing: drop`")
        return frame, 0
    per_column = missing.sum()
    per_column = per_column[per_column > 0]
    detail = ", ".join(f"{c} ({n})" for c, n in per_column.items())
    rows = int(missing.any(axis=1).sum())
    raise DataError(f"data: missing values in {rows} of {len(frame)} rows, column(s) {detail}; "
                    "set `data.missing: drop` (remove those rows) or `mean` (fill from training rows)")


def _task(y: pd.Series, requested: str) -> str:
    if requested != "auto":
        return requested
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna().to_numpy(dtype=float)
    integral = np.all(values == np.round(values))
    if integral and len(np.unique(values)) <= MAX_CLASSES_FOR_INTEGERS:
        return "classification"
    return "regression"


def _encode_target(y: pd.Series, task: str, name):
    if task == "classification":
        labels = y.astype(str) if not pd.api.types.is_numeric_dtype(y) else y
        classes, codes = np.unique(labels.to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"data.target: column `{name}` has one class only (`{classes[0]}`); "
                            "classification needs at least 2 classes")
        counts = np.bincount(codes)
        rare = [str(classes[i]) for i in np.flatnonzero(counts < 2)]
        if rare:
            shown = ", ".join(rare[:10]) + (f" … ({len(rare)} in all)" if len(rare) > 10 else "")
            hint = "; if it is a measured value, set `data.task: regression`" if len(rare) > 10 else ""
            raise DataError(f"data.target: class(es) {shown} of `{name}` have a single row; drop those rows "
                            f"or gather more, a stratified split needs 2 per class{hint}")
        labels = tuple(c.item() if hasattr(c, "item") else c for c in classes)
        return codes.astype(np.int32), labels
    values = pd.to_numeric(y, errors="coerce")
    if values.isna().any():
        raise DataError(f"data.target: column `{name}` has non-numeric values for a regression; "
                        "set `data.task: classification` or fix the values")
    return values.to_numpy(dtype=np.float32), None


def _reject_id_column(name, column: pd.Series) -> None:
    n = column.notna().sum()
    if n >= 10 and column.nunique() == n:
        raise DataError(f"data.features: column `{name}` has a different text value in every row "
                        f"(an id?); add it to `data.drop`")


def _as_missing(frame: pd.DataFrame, na_values) -> pd.DataFrame:
    """`data.na_values` cells → NaN; columns that are then all numbers become numeric."""
    texts = {str(v).strip() for v in na_values}
    out = {}
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column):
            column = column.mask(column.astype(str).str.strip().isin(texts))
            numbers = pd.to_numeric(column, errors="coerce")
            if numbers.notna().sum() == column.notna().sum():
                column = numbers
        else:
            column = column.mask(column.isin([v for v in na_values if not isinstance(v, str)]))
        out[name] = column
    return pd.DataFrame(out, index=frame.index)


def _reject_stray_text(name, column: pd.Series) -> None:
    """A column of numbers with a few text cells (`?`, `n/a`, `1.2.3`) is a data error, not categories.

    One-hot encoding it would silently turn every distinct number into a feature.
    """
    filled = column.dropna()
    numbers = pd.to_numeric(filled, errors="coerce")
    stray = filled[numbers.isna()]
    if len(stray) == 0 or numbers.notna().sum() < len(stray):  # mostly text: real categories (or ids)
        return
    rows = {}
    for position, value in zip(np.flatnonzero(column.notna().to_numpy())[numbers.isna().to_numpy()], stray):
        rows.setdefault(str(value), []).append(int(position) + 1)
    shown = "; ".join(f"`{v}` in row(s) {', '.join(map(str, r[:5]))}{' …' if len(r) > 5 else ''}"
                      for v, r in list(rows.items())[:5])
    more = f"; and {len(rows) - 5} other text(s)" if len(rows) > 5 else ""
    quoted = ", ".join(f'"{v}"' for v in list(rows)[:3])
    raise DataError(f"data: column `{name}` holds numbers but {len(stray)} cell(s) are text: {shown}{more} "
                    f"(data rows, from 1 below the header); if they mean missing, set `data.na_values: [{quoted}]`"
                    f" (then `data.missing` decides), else fix those cells or list `{name}` in `data.categorical`")


def _reject_many_values(name, column: pd.Series) -> None:
    """A text column with many distinct values (free text, a mistyped number column) would become as
    many one-hot features: encode it only when asked to."""
    distinct = column.dropna().nunique()
    if distinct > MAX_AUTO_CATEGORIES:
        raise DataError(f"data.categorical: text column `{name}` has {distinct} different values, which one-hot "
                        f"encoding would make into {distinct} features; list it in `data.categorical` to encode "
                        f"it anyway, or in `data.drop` to leave it out")


def _encode(frame: pd.DataFrame, categories: dict, where: str) -> np.ndarray:
    parts = []
    for name in frame.columns:
        if name in categories:
            values = frame[name].astype(str).where(frame[name].notna(), None)
            unseen = sorted(set(values.dropna()) - set(categories[name]))
            if unseen:
                raise DataError(f"{where}: column `{name}` has value(s) {', '.join(unseen)} never seen in "
                                f"training; known: {', '.join(categories[name])}")
            onehot = np.stack([(values == c).to_numpy() for c in categories[name]], axis=1)
            parts.append(onehot.astype(np.float32))
        else:
            parts.append(frame[[name]].to_numpy(dtype=np.float32, na_value=np.nan))
    return np.concatenate(parts, axis=1)


def _feature_names(features, categories) -> list:
    names = []
    for name in features:
        if name in categories:
            names += [f"{name}={c}" for c in categories[name]]
        else:
            names.append(str(name))
    return names
