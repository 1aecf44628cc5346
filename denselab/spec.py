"""Experiment specs: frozen dataclasses, their validation, and YAML round trips.

A spec says *what* to run; every other module reads it and none writes it.
Owners: `DataSpec` is read by `denselab.data`, `ModelSpec` by `denselab.models`,
`TrainSpec` by `denselab.train` (both engines), `EvalSpec` by
`denselab.train.evaluate`. Registries of names (activations, optimizers, losses,
initializers) are checked here through their resolvers, so a typo fails before
any data is read.

Example:
    >>> from denselab.spec import Experiment
    >>> exp = Experiment.from_dict({"data": {"source": "iris", "target": "species"}})
    >>> exp.train.optimizer
    'adam'
"""

from __future__ import annotations

import dataclasses
import copy
import math
import numbers
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union

import yaml

from denselab.errors import SpecError, suggest, unknown

LAYER_TYPES = (
    "dense", "dropout", "batchnorm", "conv2d", "maxpool2d", "flatten",
    "embedding", "simplernn", "lstm", "gru",
)
LAYER_ALIASES = {
    "batchnormalization": "batchnorm", "batch_normalization": "batchnorm",
    "maxpooling2d": "maxpool2d", "max_pooling2d": "maxpool2d",
    "rnn": "simplernn", "simple_rnn": "simplernn",
}
TASKS = ("auto", "classification", "regression")
MISSING = ("error", "drop", "mean")
SCALINGS = ("standard", "minmax", "none")
DECIMALS = (".", ",")
ENGINES = ("auto", "fleet", "fit")
NOISE_UNITS = ("data", "std")
MAX_INT = 2**31 - 1  # the engines count epochs, rows and seeds in int32; larger values only overflow there
_NAME = re.compile(r"^[^/\\\x00-\x1f.][^/\\\x00-\x1f]*$")  # a folder and study name: no path, no control


_RESOLVERS = {"activation": ("activations", "get"), "kernel_initializer": ("initializers", "get"),
              "optimizer": ("optimizers", "check"), "loss": ("losses", "get")}


def _named(field_name: str, registry: str, value):
    """The registry's config of `value`, its error naming `field_name`: the registries only know
    `activation`, not where. A plain name is checked against `models.names` without importing
    Keras (a typo answers at once); dicts and callables need the registry itself."""
    if isinstance(value, str):
        from denselab.models import names

        return names.check(registry, field_name, value)
    import importlib

    module, function = _RESOLVERS[registry]
    try:
        return getattr(importlib.import_module(f"denselab.models.{module}"), function)(value)
    except SpecError as exc:
        raise SpecError(f"{field_name}: {str(exc).partition(': ')[2]}") from None


def _seed(field_name: str, value) -> None:
    if not 0 <= value <= MAX_INT:
        raise SpecError(f"{field_name}: got {value}; expected an integer from 0 to {MAX_INT}, e.g. 0")


def _shape(field_name: str, value) -> None:
    """A size or shape: a positive integer, or a list of them (kernel_size, pool_size, input_shape)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else () if value is None else (value,)
    if not items and value is not None or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 < v <= MAX_INT for v in items):
        raise SpecError(f"{field_name}: got `{_plain(value)}`; expected a positive integer or a list of them, "
                        "e.g. [8, 8, 1]")



@dataclass(frozen=True)
class DataSpec:
    """Where the rows come from and how they become arrays.

    Args:
        source: a csv/xlsx/xls/npz path (in a spec file: from the spec's folder) or a
            built-in name (`denselab datasets`).
        target: the column to predict (name, or index for header-less files).
        features: columns to use (default: all but target and `drop`).
        drop: columns to ignore, e.g. an id column.
        categorical: columns to one-hot encode as categories: numeric ones, and text columns
            of more than 20 values (refused otherwise, as free text or a mistyped number column).
        missing: `error` (default), `drop` rows, or fill with the training `mean`.
        scaling: `standard` (default), `minmax` or `none`; fitted on training rows only.
        test_size: fraction held out as the test set, never seen by CV (default 0.2).
        sheet: xlsx/xls sheet name or index (default the first).
        header: header row index, `none` for header-less files, `auto` to find it.
        n: number of points for the generators f1, f2, f3 (default 4000).
        seed: the generators' seed (default 0).
        task: `auto` (default: strings or few integer values → classification).
        delimiter: the character between a csv's fields (default: sniffed from its first lines).
        decimal: `.` or `,` (default: `,` where a `;`/tab-separated csv writes numbers like 0,5).
        na_values: cell values that mean "missing", e.g. ["?", n/a] (quote `?` in YAML);
            `missing` then decides what happens to those rows.
    """

    source: str
    target: Union[str, int, None] = None
    features: Union[tuple, None] = None
    drop: tuple = ()
    categorical: tuple = ()
    missing: str = "error"
    scaling: str = "standard"
    test_size: float = 0.2
    sheet: Union[str, int, None] = None
    header: Union[int, str, None] = "auto"
    n: int = 4000
    seed: int = 0
    task: str = "auto"
    delimiter: Union[str, None] = None
    decimal: Union[str, None] = None
    na_values: tuple = ()

    def __post_init__(self):
        _choice("data.missing", self.missing, MISSING)
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in "\"\r\n"):
            raise SpecError(f"data.delimiter: got `{self.delimiter}`; expected the one character between "
                            "fields, e.g. `;` or `\\t` (quoted in YAML)")
        if self.decimal is not None:
            _choice("data.decimal", self.decimal, DECIMALS)
        _choice("data.scaling", self.scaling, SCALINGS)
        _choice("data.task", self.task, TASKS)
        if not 0.0 <= self.test_size < 1.0:
            raise SpecError(
                f"data.test_size: got {self.test_size}; expected a fraction in [0, 1), e.g. 0.2"
            )
        if self.n < 10:
            raise SpecError(f"data.n: got {self.n}; expected at least 10 points")
        _seed("data.seed", self.seed)
        for name in ("features", "drop", "categorical"):
            for column in getattr(self, name) or ():
                if isinstance(column, bool) or not isinstance(column, (str, numbers.Integral)):
                    raise SpecError(f"data.{name}: got `{column}` in the list; expected column names "
                                    "(or indices of a header-less file), e.g. [SiO2, MgO]")
        for value in self.na_values:
            if isinstance(value, bool) or not isinstance(value, (str, numbers.Number)):
                raise SpecError(f"data.na_values: got `{value}` in the list; expected cell texts or numbers "
                                "that mean missing, quoted where YAML would read them otherwise: [\"?\", n/a]")
        if isinstance(self.header, str) and self.header not in ("auto", "none"):
            raise SpecError(
                f"data.header: got `{self.header}`; expected a row index, `auto` or `none`"
            )


@dataclass(frozen=True)
class LayerSpec:
    """One hidden layer. `type` defaults to `dense`; `dropout` adds a Dropout after it.

    Args:
        type: dense, dropout, batchnorm, conv2d, maxpool2d, flatten, embedding,
            simplernn, lstm, gru.
        units: neurons (dense) or state size (recurrent layers).
        activation: any name `denselab.models.activations.get` resolves (default relu).
        dropout: rate of a Dropout layer placed after this one (default 0).
        kernel_initializer: overrides `model.kernel_initializer` for this layer.
        l1, l2: weight penalties on this layer's kernel (default 0).
        rate: the rate of a `dropout` layer.
        filters, kernel_size, pool_size: convolution and pooling shapes.
        input_dim, output_dim: vocabulary and vector size of an `embedding` layer.
        return_sequences: recurrent layers feeding another recurrent layer.
    """

    type: str = "dense"
    units: Union[int, None] = None
    activation: Union[str, dict, None] = None
    dropout: float = 0.0
    kernel_initializer: Union[str, dict, None] = None
    l1: float = 0.0
    l2: float = 0.0
    rate: Union[float, None] = None
    filters: Union[int, None] = None
    kernel_size: Union[int, tuple, None] = None
    pool_size: Union[int, tuple, None] = None
    input_dim: Union[int, None] = None
    output_dim: Union[int, None] = None
    return_sequences: bool = False

    def __post_init__(self):
        kind = LAYER_ALIASES.get(str(self.type).lower(), str(self.type).lower())
        if kind not in LAYER_TYPES:
            raise unknown("model.hidden[].type", self.type, LAYER_TYPES)
        object.__setattr__(self, "type", kind)
        needs = {
            "dense": ("units",), "simplernn": ("units",), "lstm": ("units",),
            "gru": ("units",), "conv2d": ("filters", "kernel_size"),
            "embedding": ("input_dim", "output_dim"), "dropout": ("rate",),
        }.get(kind, ())
        for name in needs:
            if getattr(self, name) is None:
                raise SpecError(f"model.hidden[].{name}: a `{kind}` layer needs `{name}`")
        for name in ("units", "filters", "input_dim", "output_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SpecError(f"model.hidden[].{name}: got {value}; expected a positive integer")
        for name in ("dropout", "rate"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise SpecError(f"model.hidden[].{name}: got {value}; expected a rate in [0, 1)")
        for name in ("l1", "l2"):
            if getattr(self, name) < 0:
                raise SpecError(f"model.hidden[].{name}: got {getattr(self, name)}; expected >= 0")
        for name in ("kernel_size", "pool_size"):
            _shape(f"model.hidden[].{name}", getattr(self, name))
        if self.activation is not None:
            _named("model.hidden[].activation", "activation", self.activation)
        if self.kernel_initializer is not None:
            _named("model.hidden[].kernel_initializer", "kernel_initializer", self.kernel_initializer)


@dataclass(frozen=True)
class ModelSpec:
    """The network between inputs and the output layer.

    Args:
        hidden: the hidden layers, in order (default one Dense 20 relu).
        output_activation: default inferred from the task (softmax, sigmoid, linear).
        kernel_initializer: default initializer of every layer (glorot_uniform).
        input_shape: reshape each row's features, e.g. [8, 8, 1] for digits images.
        depth: the number of hidden layers, each a copy of `layer` (or, without
            `layer`, of the first of `hidden`); 0 leaves no hidden layer. Searchable
            like any integer: `depth: {low: 1, high: 4}`.
        units: the width of every hidden dense and recurrent layer (searchable).
        layer: the template layer that `depth` repeats, e.g. {units: 32, dropout: 0.1}.

    `depth`, `units` and `layer` are kept as given and `hidden` holds what they make,
    so the spec reads back to the same network (`from_dict(to_dict())` is equal).
    """

    # a factory, not an instance: building a LayerSpec checks its activation through the
    # registry, which imports Keras, and `denselab datasets` imports this module
    hidden: tuple = field(default_factory=lambda: (LayerSpec(units=20, activation="relu"),))
    output_activation: Union[str, dict, None] = None
    kernel_initializer: Union[str, dict] = "glorot_uniform"
    input_shape: Union[tuple, None] = None
    depth: Union[int, None] = None
    units: Union[int, None] = None
    layer: Union[LayerSpec, None] = None

    def __post_init__(self):
        if self.output_activation is not None:
            _named("model.output_activation", "activation", self.output_activation)
        _named("model.kernel_initializer", "kernel_initializer", self.kernel_initializer)
        _shape("model.input_shape", self.input_shape)
        object.__setattr__(self, "hidden", _architecture(self))


MAX_DEPTH = 64


def _architecture(model: "ModelSpec") -> tuple:
    """`hidden` as `depth`, `units` and `layer` make it."""
    hidden = tuple(model.hidden)
    if model.layer is not None and model.depth is None:
        raise SpecError("model.layer: a template layer needs `model.depth`, the number of copies; "
                        "add e.g. `depth: 2`, or put the layer in `model.hidden`")
    if model.depth is not None:
        if not 0 <= model.depth <= MAX_DEPTH:
            raise SpecError(f"model.depth: got {model.depth}; expected a number of hidden layers "
                            f"from 0 to {MAX_DEPTH}, e.g. 2")
        template = model.layer if model.layer is not None else hidden[0] if hidden else LayerSpec(units=20)
        hidden = (template,) * model.depth
    if model.units is not None:
        if model.units < 1:
            raise SpecError(f"model.units: got {model.units}; expected a positive number of neurons, e.g. 32")
        widths = [i for i, layer in enumerate(hidden) if layer.type in ("dense",) + RECURRENT]
        if not widths:
            raise SpecError("model.units: the network has no dense or recurrent hidden layer to widen; "
                            "add one to `model.hidden` or set `model.depth`")
        hidden = tuple(dataclasses.replace(layer, units=model.units) if i in widths else layer
                       for i, layer in enumerate(hidden))
    return hidden


@dataclass(frozen=True)
class TrainSpec:
    """How each network is trained (both engines read exactly these fields).

    Args:
        optimizer: sgd, adam, adadelta, adagrad, rmsprop, nadam (default adam).
        learning_rate: default 0.001.
        momentum, nesterov: SGD only.
        epochs: passes over the training rows (default 100).
        batch_size: rows per gradient step (default 32).
        loss: default inferred from the task (categorical/binary cross-entropy, mse).
        patience: early stopping after this many epochs without a lower validation
            loss; the best weights are kept (default off).
        validation_split: fraction of training rows held out for curves and early
            stopping (default 0: curves use the held-out fold or test rows, and
            0.1 is used when `patience` is set, so stopping never sees scored rows).
        noise_sigma, noise_fraction: gaussian-noise augmentation: add
            `noise_fraction` × training rows as copies shifted by N(0, sigma²),
            before scaling (default off).
        noise_units: `data` (sigma in the features' own units, as the 2-D study) or
            `std` (sigma in units of each feature's std on the member's training rows).
    """

    optimizer: Union[str, dict] = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.0
    nesterov: bool = False
    epochs: int = 100
    batch_size: int = 32
    loss: Union[str, dict, None] = None
    patience: Union[int, None] = None
    validation_split: float = 0.0
    noise_sigma: float = 0.0
    noise_fraction: float = 0.0
    noise_units: str = "data"

    def __post_init__(self):
        _choice("train.noise_units", self.noise_units, NOISE_UNITS)

        name = _named("train.optimizer", "optimizer", self.optimizer)
        name = name if isinstance(name, str) else name.get("name") if isinstance(name, dict) else None
        if (self.momentum or self.nesterov) and name not in ("sgd", None):
            raise SpecError(f"train.momentum / train.nesterov: only `sgd` uses them, the optimizer is "
                            f"`{name}`; remove them or set `train.optimizer: sgd`")
        if self.loss is not None:
            _named("train.loss", "loss", self.loss)
        if self.epochs < 1:
            raise SpecError(f"train.epochs: got {self.epochs}; expected a positive integer, e.g. 100")
        if self.batch_size < 1:
            raise SpecError(f"train.batch_size: got {self.batch_size}; expected a positive integer")
        if not self.learning_rate > 0:
            raise SpecError(f"train.learning_rate: got {self.learning_rate}; expected > 0, e.g. 0.001")
        if self.patience is not None and self.patience < 1:
            raise SpecError(f"train.patience: got {self.patience}; expected a positive integer or none")
        if not 0.0 <= self.validation_split < 1.0:
            raise SpecError(
                f"train.validation_split: got {self.validation_split}; expected a fraction in [0, 1)"
            )
        if self.noise_sigma < 0 or self.noise_fraction < 0:
            raise SpecError("train.noise_sigma / train.noise_fraction: expected values >= 0")
        if self.momentum < 0:
            raise SpecError(f"train.momentum: got {self.momentum}; expected >= 0")

    @property
    def effective_validation_split(self) -> float:
        """The validation fraction actually held out of the training rows."""
        if self.validation_split == 0.0 and self.patience is not None:
            return 0.1
        return self.validation_split


@dataclass(frozen=True)
class EvalSpec:
    """How a configuration is scored.

    Args:
        folds: k of the (stratified) k-fold cross-validation on training rows (10).
        seeds: initialisation and shuffling seeds trained on every split (1).
        repeats: fresh k-fold assignments of the training rows (1): r × k splits,
            tested with Bouckaert & Frank's corrected repeated k-fold t-test.
        stratified: keep class proportions in every fold (classification only).
        engine: `fleet` (all folds and seeds in one compiled program), `fit`
            (Keras `model.fit`, the reference), or `auto` (fleet where it applies).
        metric: the primary metric (`denselab.metrics.METRICS`): what searches optimize
            and tables rank and test; `auto` (default) is accuracy / rmse by task.
        rope: half-width of the region of practical equivalence of the Bayesian test
            (default 0.01: one point of accuracy). In the metric's own units, so for
            rmse or mae it is in the target's units: set it for regression.
        baselines: scikit-learn models scored on the same folds: `default` (all four
            of the task), `none`, a list of names, or estimator import paths such as
            `sklearn.svm:SVC` (`denselab.baselines`).
    """

    folds: int = 10
    seeds: int = 1
    repeats: int = 1
    stratified: bool = True
    engine: str = "auto"
    metric: str = "auto"
    rope: float = 0.01
    baselines: Union[str, tuple] = "default"

    def __post_init__(self):
        from denselab.models.names import BASELINE_NAMES, METRIC_NAMES

        _choice("evaluate.engine", self.engine, ENGINES)
        _choice("evaluate.metric", self.metric, ("auto", *(m for task in METRIC_NAMES.values() for m in task)))
        if not self.rope >= 0:
            raise SpecError(f"evaluate.rope: got {self.rope}; expected >= 0 (in the metric's units), e.g. 0.01")
        known = {"default", "none", *(b for task in BASELINE_NAMES.values() for b in task)}
        for item in (self.baselines,) if isinstance(self.baselines, str) else self.baselines:
            if not isinstance(item, str) or item not in known and not any(c in item for c in ".:"):
                raise SpecError(f"evaluate.baselines: unknown baseline `{item}`{suggest(str(item), known)}; "
                                f"expected default, none, a list of: {', '.join(sorted(known - {'default', 'none'}))}"
                                ", or a scikit-learn estimator's import path such as sklearn.svm:SVC")
            if item not in known:
                from denselab import baselines

                baselines.import_estimator(item)  # a typo in a path fails before any data is read
        if self.folds < 2:
            raise SpecError(f"evaluate.folds: got {self.folds}; expected at least 2, e.g. 10")
        if self.seeds < 1:
            raise SpecError(f"evaluate.seeds: got {self.seeds}; expected a positive integer")
        if self.repeats < 1:
            raise SpecError(f"evaluate.repeats: got {self.repeats}; expected a positive integer, e.g. 3")

    def metric_for(self, task: str) -> str:
        """The primary metric's name for `task` (`auto` → accuracy / rmse); one that does not fit fails here."""
        from denselab import metrics

        if self.metric == "auto":
            return metrics.default_metric(task)
        if metrics.METRICS[self.metric].task != task:
            raise SpecError(f"evaluate.metric: `{self.metric}` is a {metrics.METRICS[self.metric].task} metric "
                            f"and this is a {task} task; use one of: {', '.join(metrics.names(task))} or auto")
        return self.metric


@dataclass(frozen=True)
class Experiment:
    """A whole run: data, model, training, evaluation, new samples to predict.

    Args:
        data: required; `data.source` names the rows and `data.target` the column.
        name: used for the output folder and the search study (default `experiment`).
        description: one line shown in reports and `denselab examples`.
        seed: the root of every random number of the run (default 0).
        predict: optional new rows (raw feature values, in feature order).
    """

    data: DataSpec
    name: str = "experiment"
    description: str = ""
    seed: int = 0
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    evaluate: EvalSpec = field(default_factory=EvalSpec)
    predict: Union[tuple, None] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise SpecError(f"name: got `{self.name}`; expected a plain name for the output folder and the "
                            "search study, without `/`, `\\` or a leading `.`, e.g. iris-dropout")
        _seed("seed", self.seed)
        _check_ranks(self.model)
        _check_members(self.evaluate)

    @classmethod
    def from_dict(cls, raw: dict) -> "Experiment":
        """Build and validate an Experiment from plain data (parsed YAML)."""
        if not isinstance(raw, dict):
            raise SpecError(f"spec: expected a mapping of sections (data, model, train…), got {type(raw).__name__}")
        if "search" in raw:
            raise SpecError("search: this spec describes a search; run it with `denselab search SPEC`")
        if "data" not in raw:
            raise SpecError("data: missing section; add `data: {source: FILE_OR_NAME, target: COLUMN}`")
        return _build(cls, raw, "")

    def to_dict(self) -> dict:
        """Plain data that `from_dict` reads back to an equal Experiment."""
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, **changes) -> "Experiment":
        return dataclasses.replace(self, **changes)


def load(path_or_name: str | Path, overrides: list[str] | None = None) -> Experiment:
    """Read a YAML spec file, or a bundled example by name, then apply `--set` overrides.

    Example:
        >>> load("iris", ["train.epochs=5"]).train.epochs
        5
    """
    return with_overrides(read_yaml(path_or_name), overrides)


def with_overrides(raw: dict, overrides: list[str] | None) -> Experiment:
    """The Experiment of `raw` with `--set` overrides applied on top of its defaults.

    Overrides reach fields the file leaves at their defaults (e.g. `model.hidden[0].units`
    of the default network), because they are applied to the full, defaulted spec.
    """
    if overrides:
        try:
            raw = Experiment.from_dict(raw).to_dict()
        except SpecError:
            raw = copy.deepcopy(raw)  # an override may be what fixes it; the caller's dict stays as it was
        for item in overrides:
            apply_override(raw, item)
    return Experiment.from_dict(raw)


def read_yaml(path_or_name: str | Path) -> dict:
    """The raw mapping of a spec file or of a bundled example."""
    path = Path(path_or_name)
    if not _exists(path):
        names = example_names()
        bundled = Path(__file__).parent / "examples" / f"{path_or_name}.yaml"
        if str(path_or_name) not in names:
            raise SpecError(
                f"spec: `{path_or_name}` is neither a file nor a bundled example"
                f"{suggest(str(path_or_name), names)}; examples: {', '.join(names)}"
            )
        path = bundled
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"spec {path}: cannot be read ({exc.strerror}); give a readable YAML file") from None
    try:
        # bytes, not text: PyYAML then reads UTF-8 and UTF-16 with a byte-order mark
        raw = yaml.load(text, Loader=_SpecLoader)
    except yaml.reader.ReaderError as exc:
        byte = f"0x{exc.character:02x}" if isinstance(exc.character, int) else repr(exc.character)
        raise SpecError(f"spec {path}: not UTF-8 text (byte {byte} at position {exc.position}); "
                        "save the spec as UTF-8 YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = f" ({exc.problem})" if getattr(exc, "problem", None) else ""
        fix = ("keep one of them" if isinstance(exc, _DuplicateKey) else
               "write the values out instead of nesting aliases" if isinstance(exc, _AliasBomb) else
               "check indentation, colons and brackets")
        raise SpecError(f"spec {path}: invalid YAML{where}{problem}; {fix}") from None
    except RecursionError:
        raise SpecError(f"spec {path}: nested too deeply to read; flatten it") from None
    if raw is None:
        raise SpecError(f"spec {path}: the file is empty; it needs at least `data: {{source: …, target: …}}`")
    if not isinstance(raw, dict):
        raise SpecError(f"spec {path}: expected a mapping of sections (data, model, train…)")
    return _from_spec_folder(raw, path)


_WRITTEN: dict = {}  # a data.source joined to its spec's folder → (as written, the folder), for the error


def written_source(source: str) -> tuple | None:
    """(as written, spec folder) when `source` is a spec's relative `data.source` joined to its folder."""
    return _WRITTEN.get(source)


def _from_spec_folder(raw: dict, path: Path) -> dict:
    """`data.source` read from the spec file's folder (as Docker Compose reads a compose file's
    paths), so a spec and its data can move together and run from any folder.

    A built-in name (no folder, no suffix) stays as it is; so does an absolute path or `~/…`.
    A `--set data.source=…` is applied afterwards and, like any command-line path, is read from
    the current folder.
    """
    data = raw.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str) or not source.strip():
        return raw
    given = Path(source)
    looks_like_file = given.suffix != "" or len(given.parts) > 1 or "\\" in source
    if not looks_like_file or given.is_absolute() or source.startswith("~"):
        return raw
    joined = str(path.parent / given)
    _WRITTEN[joined] = (source, str(path.parent))
    return {**raw, "data": {**data, "source": joined}}


def example_names() -> list[str]:
    return sorted(p.stem for p in (Path(__file__).parent / "examples").glob("*.yaml"))


def _exists(path: Path) -> bool:
    """Path.exists that says False for names no file can have (NUL bytes, too long)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


MAX_SPEC_VALUES = 100_000  # values of a spec with its aliases written out; real specs have a few hundred


class _AliasBomb(yaml.constructor.ConstructorError):
    pass


def _expanded_size(node, sizes: dict) -> int:
    """How many values `node` stands for once every alias in it is written out.

    Aliases share one node in PyYAML's graph, so this counts each node once (memoised
    by id) and stops as soon as the count passes MAX_SPEC_VALUES: a 400-byte "billion
    laughs" is refused in microseconds instead of being expanded later by `from_dict`.
    """
    key = id(node)
    if key in sizes:
        if sizes[key] is None:  # met again while its own children are counted: `&a [*a]`
            raise _AliasBomb(None, None, "an alias refers to the list or mapping it is in", node.start_mark)
        return sizes[key]
    sizes[key] = None
    total = 1
    children = node.value if isinstance(node.value, list) else ()
    for child in children:
        for part in child if isinstance(child, tuple) else (child,):  # mapping items are (key, value)
            total += _expanded_size(part, sizes)
            if total > MAX_SPEC_VALUES:
                raise _AliasBomb(None, None, f"aliases (`*name`) expand it past {MAX_SPEC_VALUES} values",
                                 node.start_mark)
    sizes[key] = total
    return total


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML would silently keep the last one) and
    aliases that expand past MAX_SPEC_VALUES values (an alias bomb)."""

    def construct_document(self, node):
        _expanded_size(node, {})
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                try:
                    key = self.construct_object(key_node, deep=True)
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: SafeLoader reports it below
                    continue
                if first is not key_node:
                    raise _DuplicateKey(None, None, f"the key `{key}` appears twice, also at line "
                                        f"{first.start_mark.line + 1}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def apply_override(raw: dict, item: str) -> None:
    """Apply one `a.b[0].c=value` override (value parsed as YAML) to a raw spec."""
    if not isinstance(item, str) or "=" not in item:
        raise SpecError(f"--set {item}: expected KEY=VALUE, e.g. train.epochs=5")
    key, _, text = item.partition("=")
    try:
        value = yaml.load(text, Loader=_SpecLoader)  # an alias bomb on the command line is refused too
    except (yaml.YAMLError, RecursionError):
        raise SpecError(f"--set {item}: the value `{text}` is not valid YAML; quote text, "
                        "write lists as [a, b]") from None
    parts = path_parts(key.strip(), f"--set {key}")
    node: Any = raw
    for i, part in enumerate(parts):
        if isinstance(part, int):
            if not isinstance(node, list):
                raise SpecError(f"--set {key}: `{_dotted(parts[:i]) or 'the spec'}` is not a list, so "
                                f"[{part}] indexes nothing; remove the index")
            if not 0 <= part < len(node):
                raise SpecError(f"--set {key}: index [{part}] is out of range; "
                                f"`{_dotted(parts[:i])}` has {len(node)} item(s), indexed from 0")
        elif not isinstance(node, dict):
            raise SpecError(f"--set {key}: `{_dotted(parts[:i])}` holds `{node}`, not a section, so it has "
                            f"no field `{part}`; set `{_dotted(parts[:i])}` itself")
        if i == len(parts) - 1:
            node[part] = value
        elif isinstance(part, str) and part not in node:
            node = node.setdefault(part, {} if isinstance(parts[i + 1], str) else [])
        else:
            node = node[part]


def _dotted(parts: list) -> str:
    """['model', 'hidden', 0, 'units'] → 'model.hidden[0].units' (the inverse of path_parts)."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def path_parts(path: str, where: str) -> list:
    """`model.hidden[0].units` → ['model', 'hidden', 0, 'units']; errors name `where`."""
    parts: list = []
    for piece in path.split("."):
        name, *indices = piece.split("[")
        if not name and not indices:
            raise SpecError(f"{where}: `{path}` is not a dotted path like model.hidden[0].units")
        if name:
            parts.append(name.strip())
        for idx in indices:
            try:
                parts.append(int(idx.rstrip("]")))
            except ValueError:
                raise SpecError(f"{where}: `[{idx}` is not an integer index, e.g. model.hidden[0]") from None
    return parts


# --- generic dict → dataclass builder with typed, named errors ---------------

def _build(cls, raw: dict, prefix: str):
    if not isinstance(raw, dict):
        name = prefix.rstrip(".") or "spec"
        raise SpecError(f"{name}: expected a mapping of fields, got `{raw}`")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        where = f"{prefix}{key}"
        if key not in names:
            raise SpecError(f"{where}: unknown field{suggest(str(key), names)}; fields here: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], where)
    try:
        return cls(**kwargs)
    except SpecError as exc:
        # a layer validates itself without knowing its position; the builder knows it
        generic = "model.hidden[]."
        if cls is LayerSpec and str(exc).startswith(generic):
            raise SpecError(prefix + str(exc)[len(generic):]) from None
        raise
    except TypeError as exc:  # a required field is missing
        missing = [f.name for f in fields(cls) if f.name not in kwargs
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        raise SpecError(f"{prefix}{missing[0] if missing else ''}: required field is missing") from exc


def _coerce(value, hint, where: str):
    if hint in (DataSpec, ModelSpec, TrainSpec, EvalSpec):
        return _build(hint, value if value is not None else {}, f"{where}.")
    if hint is LayerSpec:
        return _build(LayerSpec, value, f"{where}.")
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except SpecError as exc:
                errors.append(str(exc))
        raise SpecError(errors[0] if errors else f"{where}: got `{value}`")
    if hint is tuple:
        if where == "model.hidden":
            if not isinstance(value, (list, tuple)):
                raise SpecError(f"model.hidden: expected a list of layers, e.g. [{{units: 20, activation: relu}}]")
            return tuple(_build(LayerSpec, layer, f"model.hidden[{i}].") for i, layer in enumerate(value))
        if isinstance(value, (str, int, float)):
            return (value,)
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{where}: expected a list, got `{value}`")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    if hint is dict:
        if isinstance(value, dict):
            return dict(value)
        raise SpecError(f"{where}: expected a name or a mapping, got `{value}`")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(where, "true or false", value)
    if hint is int:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (isinstance(value, float) and not value.is_integer())):
            raise _wrong_type(where, "an integer", value)
        if not -MAX_INT <= value <= MAX_INT:
            raise SpecError(f"{where}: got {value}; expected an integer of at most {MAX_INT}")
        return int(value)
    if hint is float:
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _wrong_type(where, "a number", value)
        if not math.isfinite(number):
            raise SpecError(f"{where}: got {value}; expected a finite number")
        return float(number)
    if hint is str:
        if isinstance(value, (str, Path)):
            return str(value)
        raise _wrong_type(where, "a name", value)
    return value


RECURRENT = ("simplernn", "lstm", "gru")


def _check_members(ev: EvalSpec) -> None:
    """folds × seeds members, bounded before anything is built (each holds a copy of its rows)."""
    from denselab.train.limits import MAX_MEMBERS

    repeats = getattr(ev, "repeats", 1)
    members = ev.folds * ev.seeds * repeats
    if members > MAX_MEMBERS:
        times = f" × {repeats} repeats" if repeats > 1 else ""
        raise SpecError(f"evaluate.seeds: {ev.folds} folds × {ev.seeds} seeds{times} = {members} members, more than "
                        f"the {MAX_MEMBERS} one run trains; lower evaluate.seeds or evaluate.folds"
                        f"{' or evaluate.repeats' if repeats > 1 else ''}")


def _check_ranks(model: ModelSpec) -> None:
    """Every layer gets data of the rank it takes, and the output layer gets flat rows.

    Keras would say so only while building the network, deep in training, as a shape error
    of one of its layers. Checked for an Experiment (not a bare ModelSpec, which tools build
    as layer probes): only there is the input known to be the data's feature rows.
    """
    rank = len(model.input_shape) if model.input_shape else 1
    for i, layer in enumerate(model.hidden):
        where, t = f"model.hidden[{i}].type", layer.type
        if t in ("conv2d", "maxpool2d") and rank != 3:
            raise SpecError(f"{where}: a `{t}` layer takes images (height, width, channels) but gets {rank}-D "
                            "rows; set `model.input_shape`, e.g. [8, 8, 1], and flatten after the image layers")
        if t in RECURRENT and rank != 2:
            raise SpecError(f"{where}: a `{t}` layer takes sequences (steps, features) but gets {rank}-D rows; "
                            "set `model.input_shape`, e.g. [11, 1], or `return_sequences: true` on the "
                            "recurrent layer before it")
        if t == "embedding" and rank != 1:
            raise SpecError(f"{where}: an `embedding` layer takes rows of integer ids (1-D) but gets {rank}-D "
                            "rows; put it first and drop `model.input_shape`")
        rank = (1 if t == "flatten" else 2 if t == "embedding" else
                (2 if layer.return_sequences else 1) if t in RECURRENT else rank)
    if rank != 1:
        raise SpecError(f"model.hidden: the last hidden layer gives {rank}-D output per row and the output layer "
                        "takes 1-D; end with `{type: flatten}` (or `return_sequences: false` on a last "
                        "recurrent layer)")


def _wrong_type(where: str, expected: str, value) -> SpecError:
    # a list or a {low, high} range at a single-value field is how a search is written
    searched = isinstance(value, list) or isinstance(value, dict) and {"low", "high"} <= set(value)
    hint = "; a list or a range here is a search space: run the spec with `denselab search SPEC`" if searched else ""
    return SpecError(f"{where}: expected {expected}, got `{value}`{hint}")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _choice(field_name: str, value, valid) -> None:
    if value not in valid:
        raise unknown(field_name, value, valid)


__all__ = [
    "DataSpec", "LayerSpec", "ModelSpec", "TrainSpec", "EvalSpec", "Experiment",
    "load", "read_yaml", "apply_override", "with_overrides", "example_names",
]
