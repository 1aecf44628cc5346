"""scikit-learn estimators over denselab networks: `Classifier` and `Regressor`.

Why: many users live in scikit-learn (the tutorials wrapped Keras in
`KerasClassifier` to call `cross_val_score` and `GridSearchCV`). These estimators
take the same fields as `ModelSpec` and `TrainSpec`, honour scikit-learn's
estimator contract (`__init__` only stores its arguments, `fit` validates and
returns `self`, learned attributes end in `_`; they pass
`sklearn.utils.estimator_checks.check_estimator`), and so work in `Pipeline`,
`cross_val_score` and `GridSearchCV`. Our own `denselab.train.evaluate`
`cross_validate` and search remain the fast path: they train every fold and seed
of a configuration together on the fleet.

Inputs are not scaled here: put a `StandardScaler` before the estimator in a
`Pipeline`, as the tutorials do, so the scaler is fitted on training rows only.

Owns: the mapping from estimator parameters to `ModelSpec`/`TrainSpec` (in
`_specs`), the label encoding of `Classifier` (`classes_`), and the pickled form
of a fitted estimator (weights and specs instead of a live `keras.Model`).

Example:
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from denselab.estimators import Classifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), Classifier(epochs=20, batch_size=30)).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
"""

from __future__ import annotations

import functools
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is first imported

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from denselab.errors import SpecError, suggest, unknown
from denselab.data.prepare import Dataset
from denselab.spec import ENGINES, DataSpec, Experiment, LayerSpec, ModelSpec, TrainSpec
from denselab.train.plan import Plan

_CHUNK = 65536  # most rows per compiled prediction call


class _Network(BaseEstimator):
    """Shared parameters, fitting and pickling of `Classifier` and `Regressor`."""

    _task = ""  # "classification" or "regression", set by the subclasses

    def __init__(self, hidden=((20, "relu"),), output_activation=None,
                 kernel_initializer="glorot_uniform", optimizer="adam", learning_rate=0.001,
                 epochs=100, batch_size=32, loss=None, patience=None, validation_split=0.0,
                 engine="fit", random_state=0):
        self.hidden = hidden
        self.output_activation = output_activation
        self.kernel_initializer = kernel_initializer
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.loss = loss
        self.patience = patience
        self.validation_split = validation_split
        self.engine = engine
        self.random_state = random_state

    # --- fitting ---------------------------------------------------------------

    def _specs(self) -> tuple[ModelSpec, TrainSpec]:
        """The ModelSpec and TrainSpec these parameters stand for (SpecError = ValueError)."""
        try:
            return self._build_specs()
        except SpecError as exc:  # name the estimator's parameter, not the spec section
            message = str(exc)
            for section in ("train.", "model."):
                if message.startswith(section):
                    message = message[len(section):]
            raise SpecError(message) from None

    def _build_specs(self) -> tuple[ModelSpec, TrainSpec]:
        model = ModelSpec(hidden=_layers(self.hidden), output_activation=self.output_activation,
                          kernel_initializer=self.kernel_initializer)
        train = TrainSpec(optimizer=self.optimizer, learning_rate=_number("learning_rate", self.learning_rate),
                          epochs=_integer("epochs", self.epochs),
                          batch_size=_integer("batch_size", self.batch_size), loss=self.loss,
                          patience=None if self.patience is None else _integer("patience", self.patience),
                          validation_split=_number("validation_split", self.validation_split))
        return model, train

    def _train(self, X: np.ndarray, codes: np.ndarray, n_targets: int):
        """Train one network on (X, codes) with the chosen engine and keep the result."""
        from denselab.models.build import build_model, head_for

        model_spec, train_spec = self._specs()
        _warn_if_unscaled(X, getattr(self, "feature_names_in_", None), type(self).__name__)
        engine = _engine(self.engine, model_spec)
        head = head_for(self._task, n_targets, model_spec, train_spec)
        x = np.asarray(X, dtype=np.float32)
        # No eval rows: nothing is scored here (score() does that). history_ has val_
        # curves only when a validation split is asked for (it also drives early stopping).
        # The member comes from the comparison core, as every other one does: one plan whose
        # single split is "all rows", unscaled (estimators leave scaling to a Pipeline).
        classes = tuple(range(n_targets)) if self._task == "classification" else None
        ds = Dataset(x_train=x, y_train=np.asarray(codes), x_test=x[:0], y_test=np.asarray(codes)[:0],
                     task=self._task, target="y", feature_names=[], raw_features=[], classes=classes,
                     scaling="none")
        exp = Experiment(data=DataSpec(source="estimator", scaling="none"), model=model_spec, train=train_spec,
                         seed=_seed(self.random_state))
        member = Plan.holdout(exp, ds).members(exp, head)[0]
        result = engine(model_spec, train_spec, head, [member]).results[0]
        self._model_spec, self._head = model_spec, head
        self.model_ = build_model(model_spec, head, x.shape[1:])
        self.model_.set_weights(result.weights)
        self.history_ = result.history
        self.n_iter_ = result.epochs_run
        return self

    def _forward(self, X) -> np.ndarray:
        """The network's outputs on validated rows, in float64 (see `_outputs`)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return _outputs(self.model_, self._model_spec, self._head, np.asarray(X, dtype=np.float32))

    def save(self, path):
        """Write the trained network to `path` (.keras) with its labels, for `denselab.load_model`.

        Only the network is saved, taking rows as `fit` got them: a `Pipeline`'s scaler is
        not in the file (pickle the whole pipeline with joblib to keep both).
        """
        from denselab.trained import model_meta, write_model

        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        names = [f"x{i}" for i in range(self.n_features_in_)] if names is None else list(names)
        meta = model_meta(self._head, getattr(self, "classes_", None), names, "y")
        return write_model(self.model_, meta, path)

    # --- pickling: weights and specs, not a live keras.Model -------------------

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            model = state["model_"]  # weights in get_weights() order
            state["model_"] = _Weights([np.asarray(v.value) for v in model.weights],
                                       tuple(model.input_shape[1:]))
        return state

    def __setstate__(self, state):
        weights = state.get("model_")
        if isinstance(weights, _Weights):
            from denselab.models.build import build_model

            model = build_model(state["_model_spec"], state["_head"], weights.input_shape)
            model.set_weights(weights.arrays)
            state = {**state, "model_": model}
        super().__setstate__(state)


class Classifier(ClassifierMixin, _Network):
    """A dense network classifier with scikit-learn's estimator contract.

    Why: to use a denselab network wherever scikit-learn expects a classifier
    (`Pipeline`, `cross_val_score`, `GridSearchCV`) without a Keras wrapper. Labels
    may be of any type (strings included); the output layer and loss follow from the
    number of classes (sigmoid + binary cross-entropy for two, softmax + categorical
    cross-entropy for more). Inputs are used as given: scale them with a
    `StandardScaler` in a `Pipeline`.

    Args:
        hidden: the hidden layers, in order: `(units, activation)` pairs, dicts of
            `LayerSpec` fields (e.g. `{"units": 20, "dropout": 0.2}`), `LayerSpec`s
            or plain unit counts (default `((20, "relu"),)`).
        output_activation: default inferred (sigmoid or softmax).
        kernel_initializer: every layer's default initializer (default `glorot_uniform`).
        optimizer: sgd, adam, adadelta, adagrad, rmsprop, nadam… (default `adam`).
        learning_rate: default 0.001.
        epochs: passes over the training rows (default 100).
        batch_size: rows per gradient step (default 32).
        loss: default inferred (binary or categorical cross-entropy).
        patience: early stopping after this many epochs without a lower validation
            loss, keeping the best weights (default None: off).
        validation_split: fraction of the rows held out for `history_` curves and
            early stopping (default 0.0; 0.1 when `patience` is set).
        engine: `fit` (Keras `model.fit`, default), `fleet` (denselab's compiled
            trainer) or `auto` (the fleet where it carries the model).
        random_state: int seed, `None` or a `numpy.random.RandomState` (default 0:
            the same data and parameters give the same network).

    Attributes (after `fit`): `classes_`, `n_features_in_`, `model_` (the trained
    `keras.Model`), `history_` (per-epoch `loss`, `accuracy`, `val_loss`,
    `val_accuracy`; without a validation split the `val_` curves are measured on the
    training rows in inference mode), `n_iter_` (epochs run).

    Example:
        >>> import numpy as np
        >>> X = np.array([[0.0], [0.1], [0.9], [1.0]] * 8)
        >>> y = np.array(["no", "no", "yes", "yes"] * 8)
        >>> clf = Classifier(epochs=20, learning_rate=0.05).fit(X, y)
        >>> clf.predict([[0.0], [1.0]]).tolist()
        ['no', 'yes']
    """

    _task = "classification"

    def fit(self, X, y):
        """Train on rows `X` (n_samples, n_features) and labels `y` (n_samples,)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y: got only one class ({self.classes_.tolist()[0]!r}); a classifier needs at least 2 classes")
        return self._train(X, codes, len(self.classes_))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in `classes_` order."""
        out = self._forward(X)
        if out.shape[1] == 1:  # binary head: one sigmoid unit, P(classes_[1])
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.column_stack([1.0 - p, p])
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row, as a label from `classes_`."""
        proba = self.predict_proba(X)  # checks fitted before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


class Regressor(RegressorMixin, _Network):
    """A dense network regressor with scikit-learn's estimator contract.

    Why: to use a denselab network wherever scikit-learn expects a regressor
    (`Pipeline`, `cross_val_score`, `GridSearchCV`). A 1-D `y` gives 1-D
    predictions; a 2-D `y` (n_samples, n_targets) gives one linear output per
    column. Inputs and targets are used as given: scale inputs with a
    `StandardScaler` in a `Pipeline`, and targets with
    `sklearn.compose.TransformedTargetRegressor` when they are far from unit scale.

    Args:
        hidden: the hidden layers, in order: `(units, activation)` pairs, dicts of
            `LayerSpec` fields, `LayerSpec`s or plain unit counts
            (default `((20, "relu"),)`).
        output_activation: default `linear`.
        kernel_initializer: every layer's default initializer (default `glorot_uniform`).
        optimizer: sgd, adam, adadelta, adagrad, rmsprop, nadam… (default `adam`).
        learning_rate: default 0.001.
        epochs: passes over the training rows (default 100).
        batch_size: rows per gradient step (default 32).
        loss: default `mse`; also `mae`, `huber`.
        patience: early stopping after this many epochs without a lower validation
            loss, keeping the best weights (default None: off).
        validation_split: fraction of the rows held out for `history_` curves and
            early stopping (default 0.0; 0.1 when `patience` is set).
        engine: `fit` (Keras `model.fit`, default), `fleet` or `auto`.
        random_state: int seed, `None` or a `numpy.random.RandomState` (default 0).

    Attributes (after `fit`): `n_features_in_`, `model_`, `history_` (per-epoch
    `loss`, `mse`, `val_loss`, `val_mse`), `n_iter_`.

    Example:
        >>> import numpy as np
        >>> X = np.linspace(-1, 1, 256).reshape(-1, 1)
        >>> reg = Regressor(epochs=30, learning_rate=0.01).fit(X, 2 * X[:, 0])
        >>> reg.predict(X[:2]).shape
        (2,)
    """

    _task = "regression"

    def fit(self, X, y):
        """Train on rows `X` (n_samples, n_features) and targets `y` (n_samples[, n_targets])."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        return self._train(X, y, 1 if y.ndim == 1 else y.shape[1])

    def predict(self, X) -> np.ndarray:
        """Predicted targets: shape (n_samples,) after a 1-D `y`, else (n_samples, n_targets)."""
        out = self._forward(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # a 2-D y trains one output unit per column
        return tags


UNSCALED = 10.0  # a column whose |mean| or std passes this is far from the unit scale nets are initialised for


_WARNED: set = set()


class UnscaledInputWarning(UserWarning):
    """`fit` got columns far from unit scale: the network will likely train poorly."""


def _warn_if_unscaled(X, names, estimator: str) -> None:
    """Warn (once per message, Python's default) naming the columns that look unscaled: on raw
    wine a Classifier scores 0.27, below chance, and nothing else says why."""
    x = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    if x.shape[1] > 1000 or not len(x):  # images and the like: not columns a user names
        return
    mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    bad = np.flatnonzero((np.abs(mean) > UNSCALED) | (std > UNSCALED))
    label = (lambda i: str(names[i])) if names is not None else (lambda i: f"column {i}")
    if not len(bad) or tuple(map(label, bad)) in _WARNED:  # once per column set: CV folds refit 5×
        return
    _WARNED.add(tuple(map(label, bad)))
    shown = ", ".join(f"{label(i)} (mean {mean[i]:.3g}, std {std[i]:.3g})" for i in bad[:8])
    more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
    warnings.warn(f"X: {shown}{more} look unscaled (|mean| or std above {UNSCALED:g}); networks train "
                  "poorly on such inputs: put a scaler first, make_pipeline(StandardScaler(), "
                  f"{estimator}(...))", UnscaledInputWarning, stacklevel=4)


def _outputs(model, model_spec: ModelSpec, head, x: np.ndarray) -> np.ndarray:
    """`model`'s outputs on `x` (float32 rows), computed one row at a time, in float64.

    Why one row at a time: XLA's CPU matrix product rounds a row's result
    differently depending on where the row sits in the batch (1 float32 ulp), so a
    batched forward pass gives a row a slightly different prediction when the other
    rows change. A compiled loop over rows (`jax.lax.map`) computes every row with
    the same kernel, so `predict` on a subset, a permutation or one row at a time
    gives the same numbers, as scikit-learn's estimator checks require. Rows are
    padded to a power of two so each structure compiles a few programs, not one per
    batch size.
    """
    import keras

    if len(x) == 0:
        return np.zeros((0, head.n_outputs))
    if keras.backend.backend() != "jax":  # a user's other backend: one batched pass
        return keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)
    try:
        program = _row_program(model_spec, head, tuple(x.shape[1:]))
    except TypeError:  # a spec holding a list is not hashable: build uncached
        program = _row_program.__wrapped__(model_spec, head, tuple(x.shape[1:]))
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    out = []
    for start in range(0, len(x), _CHUNK):
        block = x[start:start + _CHUNK]
        size = max(16, 1 << (len(block) - 1).bit_length())
        padded = np.zeros((size,) + block.shape[1:], np.float32)
        padded[:len(block)] = block
        out.append(np.asarray(program(trainable, non_trainable, padded))[:len(block)])
    return np.concatenate(out).astype(np.float64)


@functools.lru_cache(maxsize=32)
def _row_program(model_spec: ModelSpec, head, input_shape: tuple):
    """A jitted `(trainable, non_trainable, rows) -> outputs` for one network structure."""
    import jax

    from denselab.models.build import build_model

    template = build_model(model_spec, head, input_shape)  # its variables are never read

    def one_row(trainable, non_trainable, row):
        out, _ = template.stateless_call(trainable, non_trainable, row[None], training=False)
        return out[0]

    def rows(trainable, non_trainable, x):
        return jax.lax.map(lambda row: one_row(trainable, non_trainable, row), x)

    return jax.jit(rows)


class _Weights:
    """A fitted network in pickled form: its weights and input shape."""

    def __init__(self, arrays: list, input_shape: tuple):
        self.arrays = [np.asarray(a) for a in arrays]
        self.input_shape = input_shape


def _layers(hidden) -> tuple:
    """`hidden` as a tuple of LayerSpec; SpecError naming the bad item otherwise."""
    if isinstance(hidden, (LayerSpec, dict, int)) or (
            isinstance(hidden, tuple) and len(hidden) == 2 and isinstance(hidden[1], str)):
        hidden = [hidden]  # one layer given on its own
    if not isinstance(hidden, (list, tuple)):
        raise SpecError(f"hidden: got {hidden!r}; expected a list of layers, e.g. [(20, 'relu')]")
    layers = []
    for i, item in enumerate(hidden):
        if isinstance(item, LayerSpec):
            layers.append(item)
        elif isinstance(item, dict):
            names = [f for f in LayerSpec.__dataclass_fields__]
            for key in item:
                if key not in names:
                    raise SpecError(f"hidden[{i}]: unknown field `{key}`{suggest(str(key), names)}; "
                                    f"fields: {', '.join(names)}")
            layers.append(_layer(i, **item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            layers.append(_layer(i, units=int(item)))
        elif (isinstance(item, (list, tuple)) and len(item) == 2
              and isinstance(item[0], (int, np.integer)) and not isinstance(item[0], bool)):
            layers.append(_layer(i, units=int(item[0]), activation=item[1]))
        else:
            raise SpecError(f"hidden[{i}]: got {item!r}; expected (units, activation), "
                            f"a dict of LayerSpec fields, a LayerSpec or a number of units")
    return tuple(layers)


def _layer(index: int, **fields) -> LayerSpec:
    try:
        return LayerSpec(**fields)
    except SpecError as exc:
        raise SpecError(str(exc).replace("model.hidden[]", f"hidden[{index}]")) from None


def _integer(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)) \
            or not float(value).is_integer():
        raise SpecError(f"{name}: got {value!r}; expected an integer")
    return int(value)


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise SpecError(f"{name}: got {value!r}; expected a number")
    return float(value)


def _seed(random_state) -> int:
    """An int seed from an int, None or RandomState (sklearn's random_state convention)."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) & 0x7FFFFFFF
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _engine(name: str, model_spec: ModelSpec):
    """The `train_members` function for `engine` (fleet imported only when asked for)."""
    if name not in ENGINES:
        raise unknown("engine", name, ENGINES)
    from denselab.train import fit

    if name == "fit":
        return fit.train_members
    try:
        from denselab.train import fleet
    except ImportError:
        fleet = None
    reason = "the fleet engine is not installed" if fleet is None else fleet.unsupported(model_spec)
    if reason is None:
        return fleet.train_members
    warnings.warn(f"fleet does not carry this model ({reason}); training with model.fit instead",
                  stacklevel=4)  # the user's fit() call
    return fit.train_members


__all__ = ["Classifier", "Regressor"]
