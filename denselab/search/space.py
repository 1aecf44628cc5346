"""Search spaces written in the YAML spec, and the Optuna samplers that walk them.

Two ways to write a searched field, which can be mixed:

- **inline**, where one value is expected: a list at a scalar field is a choice, a
  mapping `{low, high[, step][, log]}` is a range. Scalar or not is read from the
  type hints of `spec.py`: `train.optimizer: [sgd, adam]` is a choice, while a list at
  `data.drop` is just a list.
- **dotted paths** in a `search:` section, for anything (the same value forms; there a
  list is always a choice, so `model.hidden: [[{units: 20}], [{units: 40}, {units: 10}]]`
  chooses between architectures):

      search:
        sampler: tpe           # grid | random | tpe (default tpe)
        trials: 30             # finished trials wanted (CLI --trials overrides)
        batch: 8               # trials asked together and trained as fleets
        top: 5                 # configurations in the comparison table
        retries: 2             # a trial that raised or whose worker died is redone at most this often
        space:
          model.hidden[0].units: {low: 5, high: 100, log: true}
          train.learning_rate: {low: 1.0e-4, high: 0.1, log: true}

Only `model.*`, `train.*` and `data.scaling` can be searched: every trial must be
scored on the same training rows and folds (paired scores), so the rows, the split,
`evaluate.*` and `seed` are fixed.

Owns the `search:` section of a spec (`sampler`, `trials`, `batch`, `top`, `retries`,
`space`) and the mapping from Optuna params (named by their dotted path) to an `Experiment`.

Example:
    >>> space = parse({"data": {"source": "iris"}, "train": {"optimizer": ["sgd", "adam"]}})
    >>> [p.path for p in space.params], space.experiment({"train.optimizer": "sgd"}).train.optimizer
    (['train.optimizer'], 'sgd')
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Union

from denselab import seeds
from denselab.errors import SpecError, suggest, unknown
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec, path_parts

SAMPLERS = ("grid", "random", "tpe")
SECTION_FIELDS = ("sampler", "trials", "batch", "top", "retries", "space")
RANGE_KEYS = ("low", "high", "step", "log")
SEARCHABLE_DATA = ("scaling",)
_SECTIONS = {"data": DataSpec, "model": ModelSpec, "train": TrainSpec, "evaluate": EvalSpec}


@dataclass(frozen=True)
class Param:
    """One searched field: a choice among `choices`, or a numeric range.

    kind: `categorical`, `int` or `float`. `encoded`: the choices are lists or mappings,
    stored in Optuna as compact JSON strings (Optuna params are scalars).
    """

    path: str
    kind: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    encoded: bool = False

    def suggest(self, trial):
        if self.kind == "categorical":
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)

    def decode(self, value):
        return json.loads(value) if self.encoded else value

    def grid_values(self) -> list:
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise SpecError(f"{self.path}: the grid sampler needs a finite set of values; give the "
                            f"range a `step`, or list the values, e.g. [{self.low:g}, {self.high:g}]")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def describe(self) -> dict:
        if self.kind == "categorical":
            return {"path": self.path, "choices": [self.decode(c) for c in self.choices]}
        out = {"path": self.path, "type": self.kind, "low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class Space:
    """A spec with searched fields: the base experiment, the params and the sampler settings."""

    base: Experiment
    params: tuple
    sampler: str = "tpe"
    trials: int = 20
    batch: int = 8
    top: int = 5
    retries: int = 2

    def experiment(self, params: dict) -> Experiment:
        """The Experiment of one trial: the base with each param's value at its path."""
        raw = self.base.to_dict()
        by_path = {p.path: p for p in self.params}
        for path, value in params.items():
            param = by_path.get(path)
            _set(raw, _parts(path), param.decode(value) if param else value)
        return Experiment.from_dict(raw)

    def suggest(self, trial) -> dict:
        return {p.path: p.suggest(trial) for p in self.params}

    def grid_size(self) -> int | None:
        if self.sampler != "grid":
            return None
        return math.prod(len(p.grid_values()) for p in self.params)

    def make_sampler(self):
        """The Optuna sampler, seeded from the spec's seed.

        Random and TPE draw trial n's params from a seed derived from (seed, n), so the
        same trial numbers get the same draws whichever worker asks them, and a resumed
        search goes on with new points instead of replaying the first ones (one shared
        seed would make two workers started together propose the same points). The
        grid's order depends on the seed only, so every process walks the same grid.
        """
        import optuna

        if self.sampler == "grid":
            return _Grid({p.path: p.grid_values() for p in self.params}, seed=self.base.seed)
        if self.sampler == "random":
            return _per_trial(optuna.samplers.RandomSampler)(self.base.seed)
        return _per_trial(optuna.samplers.TPESampler)(self.base.seed, constant_liar=True)

    def describe(self) -> dict:
        return {"sampler": self.sampler, "batch": self.batch, "top": self.top,
                "params": [p.describe() for p in self.params]}

    def fingerprint(self) -> str:
        """What makes trials comparable: the base spec (description aside), params, sampler."""
        spec = self.base.to_dict()
        spec.pop("description", None)
        spec.pop("predict", None)
        text = json.dumps({"spec": spec, "params": [p.describe() for p in self.params],
                           "sampler": self.sampler}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _grid_class():
    import optuna

    class Grid(optuna.samplers.GridSampler):
        """GridSampler whose `after_trial` does not call `study.stop()` (ask/tell has no loop
        to stop; the runner stops when the grid is exhausted)."""

        def after_trial(self, study, trial, state, values) -> None:
            return None

    return Grid


def _Grid(search_space, seed):
    return _grid_class()(search_space, seed=seed)


def _per_trial(base):
    """`base` sampler class whose random state is reset from (root seed, trial number)
    at each trial (its `_rng`, and TPE's start-up random sampler's)."""

    class PerTrial(base):
        def __init__(self, root: int, **kwargs):
            super().__init__(seed=root, **kwargs)
            self._root = root

        def before_trial(self, study, trial) -> None:
            seed = seeds.derive(self._root, "sampler", trial.number)
            for sampler in (self, getattr(self, "_random_sampler", None)):
                if sampler is not None:
                    sampler._rng.rng.seed(seed)
            super().before_trial(study, trial)

    PerTrial.__name__ = f"PerTrial{base.__name__}"
    return PerTrial


def parse(raw: dict) -> Space:
    """Read searched fields (inline and `search:`) from a raw spec; validate everything.

    Raises SpecError (one line, with a suggestion where one helps) for unknown paths,
    fields that cannot be searched, malformed or out-of-range ranges and choices.
    """
    if not isinstance(raw, dict):
        raise SpecError("spec: expected a mapping of sections (data, model, train…)")
    raw = copy.deepcopy(raw)
    section = raw.pop("search", None) or {}
    if not isinstance(section, dict):
        raise SpecError("search: expected a mapping, e.g. {sampler: tpe, trials: 20, space: {…}}")
    for key in section:
        if key not in SECTION_FIELDS:
            raise SpecError(f"search.{key}: unknown field{suggest(str(key), SECTION_FIELDS)}; "
                            f"fields here: {', '.join(SECTION_FIELDS)}")
    sampler = str(section.get("sampler", "tpe")).lower()
    if sampler not in SAMPLERS:
        raise unknown("search.sampler", section.get("sampler"), SAMPLERS)
    settings = {name: _positive(section, name, default, least)
                for name, default, least in (("trials", 20, 1), ("batch", 8, 1), ("top", 5, 2), ("retries", 2, 0))}

    found: list[tuple[str, str, Any]] = []  # (path, where, value form)
    _walk_inline(raw, found)
    space_raw = section.get("space") or {}
    if not isinstance(space_raw, dict):
        raise SpecError("search.space: expected a mapping of dotted paths to choices or ranges, "
                        "e.g. {train.optimizer: [adam, sgd]}")
    for path, form in space_raw.items():
        found.append((str(path).strip(), f"search.space.{path}", form))
    if not found:
        raise SpecError("search: nothing to search; give a field a list of choices or a range, e.g. "
                        "`train: {optimizer: [sgd, adam]}` or `search: {space: {train.learning_rate: "
                        "{low: 1.0e-4, high: 0.1, log: true}}}`")
    _check_overlaps(found)
    params = []
    for path, where, form in found:  # the forms first, then placeholders make a valid base
        parts = _parts(path, where)
        hint = _resolve(parts, raw, where)
        params.append(_param(path, where, form, hint, parts))
        _set(raw, parts, _placeholder(form, hint, where), create=True)
    base = Experiment.from_dict(raw)
    for param, (_, where, _) in zip(params, found):
        _check_values(base, param, where)
    space = Space(base=base, params=tuple(params), sampler=sampler, **settings)
    if sampler == "grid":
        for p in params:
            try:
                p.grid_values()
            except SpecError as exc:
                where = next(w for q, w, _ in found if q == p.path)
                raise SpecError(f"{where}: {str(exc).split(': ', 1)[1]}") from None
    return space


# --- the two written forms ------------------------------------------------------

def _walk_inline(raw: dict, found: list) -> None:
    for key, value in list(raw.items()):
        if key in _SECTIONS and isinstance(value, dict):
            cls = _SECTIONS[key]
            hints = typing.get_type_hints(cls)
            for name, v in value.items():
                if name not in hints:
                    continue  # Experiment.from_dict reports the unknown field
                if cls is ModelSpec and name == "hidden" and isinstance(v, list) and v \
                        and all(isinstance(layers, list) for layers in v):
                    found.append(("model.hidden", "model.hidden", v))  # a choice among architectures
                elif cls is ModelSpec and name == "layer" and isinstance(v, dict):
                    layer_hints = typing.get_type_hints(LayerSpec)
                    for lname, lv in v.items():
                        if lname in layer_hints and _is_form(lv, layer_hints[lname]):
                            found.append((f"model.layer.{lname}", f"model.layer.{lname}", lv))
                elif cls is ModelSpec and name == "hidden" and isinstance(v, list):
                    layer_hints = typing.get_type_hints(LayerSpec)
                    for i, layer in enumerate(v):
                        if isinstance(layer, dict):
                            for lname, lv in layer.items():
                                if lname in layer_hints and _is_form(lv, layer_hints[lname]):
                                    path = f"model.hidden[{i}].{lname}"
                                    found.append((path, path, lv))
                elif _is_form(v, hints[name]):
                    found.append((f"{key}.{name}", f"{key}.{name}", v))
        elif key not in _SECTIONS and key in typing.get_type_hints(Experiment) \
                and _is_form(value, typing.get_type_hints(Experiment)[key]):
            found.append((key, key, value))


def _is_form(value, hint) -> bool:
    """A list (choices) where one value is expected, or a mapping (range) where the field
    takes no mapping (`train.optimizer: {name: adam, beta_1: 0.8}` is a value)."""
    if not _scalar(hint):
        return False
    if isinstance(value, list):
        return True
    return isinstance(value, dict) and dict not in _options(hint)


def _options(hint) -> tuple:
    return typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)


def _scalar(hint) -> bool:
    if is_dataclass(hint):
        return False
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    return tuple not in options and list not in options


def _numeric(hint) -> str | None:
    options = typing.get_args(hint) if typing.get_origin(hint) in (Union, types.UnionType) else (hint,)
    if float in options:
        return "float"
    if int in options:
        return "int"
    return None


def _placeholder(form, hint, where: str):
    if isinstance(form, list):
        if not form:
            raise SpecError(f"{where}: an empty list of choices; give at least one value")
        return form[0]
    if isinstance(form, dict):
        if "choices" in form and isinstance(form["choices"], list) and form["choices"]:
            return form["choices"][0]
        if "low" in form:
            try:
                return _number(form["low"], where, "low")
            except SpecError:
                return form["low"]
    return form


def _param(path: str, where: str, form, hint, parts) -> Param:
    if isinstance(form, dict) and set(form) == {"choices"}:
        form = form["choices"]
        if not isinstance(form, list):
            raise SpecError(f"{where}: `choices` must be a list, e.g. [adam, sgd]")
    if isinstance(form, list):
        if not form:
            raise SpecError(f"{where}: an empty list of choices; give at least one value")
        encoded = any(isinstance(c, (list, dict)) for c in form)
        choices = tuple(json.dumps(c, separators=(",", ":")) if encoded else c for c in form)
        if len(set(map(repr, choices))) != len(choices):
            raise SpecError(f"{where}: the choices {form} repeat a value; list each value once")
        return Param(path, "categorical", choices=choices, encoded=encoded)
    if not isinstance(form, dict):
        raise SpecError(f"{where}: expected a list of choices or a range {{low, high[, step][, log]}}, "
                        f"got `{form}`")
    for key in form:
        if key not in RANGE_KEYS:
            raise SpecError(f"{where}: unknown range key `{key}`{suggest(str(key), RANGE_KEYS + ('choices',))}; "
                            f"a range is {{low, high[, step][, log]}}")
    kind = _numeric(hint)
    if kind is None:
        raise SpecError(f"{where}: a range needs a numeric field, and `{_label(parts)}` is not one; "
                        f"list the choices instead, e.g. [a, b]")
    for key in ("low", "high"):
        if key not in form:
            raise SpecError(f"{where}: the range has no `{key}`; expected {{low: …, high: …}}")
    low, high = _number(form["low"], where, "low"), _number(form["high"], where, "high")
    step = None if form.get("step") is None else _number(form["step"], where, "step")
    log = form.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{where}: `log` must be true or false, got `{log}`")
    if not low < high:
        raise SpecError(f"{where}: low ({low:g}) must be below high ({high:g})")
    if log and low <= 0:
        raise SpecError(f"{where}: a log range needs low > 0, got low = {low:g}; e.g. {{low: 1.0e-4, high: {high:g}, log: true}}")
    if step is not None and step <= 0:
        raise SpecError(f"{where}: step must be > 0, got {step:g}")
    if step is not None and log:
        raise SpecError(f"{where}: a range is either stepped or log, not both; drop `step` or `log`")
    if kind == "int":
        for key, v in (("low", low), ("high", high), ("step", step)):
            if v is not None and v != int(v):
                raise SpecError(f"{where}: `{_label(parts)}` takes integers; {key} = {v:g} is not one")
        return Param(path, "int", low=int(low), high=int(high), step=None if step is None else int(step), log=log)
    return Param(path, "float", low=float(low), high=float(high), step=step, log=log)


def _number(value, where: str, key: str) -> float:
    if isinstance(value, bool):
        raise SpecError(f"{where}: `{key}` must be a number, got `{value}`")
    if isinstance(value, (int, float)):
        return value
    try:
        return float(str(value))  # YAML 1.1 reads `1e-4` (no dot) as a string
    except ValueError:
        raise SpecError(f"{where}: `{key}` must be a number, got `{value}`") from None


def _check_values(base: Experiment, param: Param, where: str) -> None:
    """Each choice and both ends of a range must make a valid experiment."""
    if param.kind == "categorical":
        values = list(param.choices)
    else:
        values = [param.low, param.high]
    space = Space(base=base, params=(param,))
    for value in values:
        try:
            space.experiment({param.path: value})
        except SpecError as exc:
            shown = param.decode(value)
            raise SpecError(f"{where}: the value `{shown}` is not valid here: {exc}") from None


def _check_overlaps(found: list) -> None:
    seen: dict[str, str] = {}
    for path, where, _ in found:
        if path in seen:
            raise SpecError(f"{where}: `{path}` is searched twice (also at {seen[path]}); keep one")
        for other, other_where in seen.items():
            if path.startswith(other + ".") or path.startswith(other + "[") \
                    or other.startswith(path + ".") or other.startswith(path + "["):
                raise SpecError(f"{where}: `{path}` overlaps `{other}` ({other_where}); search one of them")
        seen[path] = where


# --- dotted paths ---------------------------------------------------------------

def _parts(path: str, where: str | None = None) -> list:
    """`model.hidden[0].units` → ['model', 'hidden', 0, 'units']."""
    return path_parts(str(path), where or str(path))


def _label(parts: list) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _resolve(parts: list, raw: dict, where: str):
    """The type hint at a path; SpecError for unknown names, bad indices, fixed fields."""
    cls, node = Experiment, raw
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(part, int):
            raise SpecError(f"{where}: `{_label(parts[:i + 1])}`: only model.hidden takes an index")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in fields(cls)]
        if part not in names:
            here = _label(parts[:i]) or "spec"
            if cls is Experiment and part == "search":
                names = names + ["search"]
            raise SpecError(f"{where}: unknown field `{part}`{suggest(str(part), names)}; "
                            f"fields of {here}: {', '.join(names)}")
        hint = hints[part]
        label = _label(parts[:i + 1])
        if cls is Experiment and part not in ("model", "train", "data"):
            raise _fixed(where, label)
        if cls is DataSpec and part not in SEARCHABLE_DATA:
            raise _fixed(where, label)
        child = node.get(part) if isinstance(node, dict) else None
        if cls is ModelSpec and part == "hidden" and i + 1 < len(parts):
            index = parts[i + 1]
            if not isinstance(index, int):
                raise SpecError(f"{where}: `model.hidden` is a list of layers; index it, e.g. model.hidden[0].units")
            layers = child if isinstance(child, list) else _default_hidden()
            if not 0 <= index < len(layers):
                raise SpecError(f"{where}: `model.hidden[{index}]` does not exist; the spec has "
                                f"{len(layers)} hidden layer(s), indices 0–{len(layers) - 1}")
            node = layers[index]
            cls = LayerSpec
            i += 2
            if i >= len(parts):
                return LayerSpec
            continue
        hint = _optional_section(hint)
        if is_dataclass(hint):
            if i + 1 == len(parts):
                raise SpecError(f"{where}: `{label}` is a whole section; search one of its fields, "
                                f"e.g. {label}.{fields(hint)[0].name}")
            cls, node = hint, child if isinstance(child, dict) else {}
            i += 1
            continue
        if i + 1 < len(parts):
            raise SpecError(f"{where}: `{label}` is a single value; `{_label(parts)}` goes too deep")
        return hint
    return cls


def _optional_section(hint):
    """`LayerSpec | None` (model.layer) → LayerSpec: a section that may be left out."""
    sections = [o for o in _options(hint) if is_dataclass(o)]
    return sections[0] if len(sections) == 1 and set(_options(hint)) <= {sections[0], type(None)} else hint


def _fixed(where: str, label: str) -> SpecError:
    return SpecError(f"{where}: `{label}` cannot be searched: every trial is scored on the same rows "
                     f"and folds; searchable: model.*, train.* and data.scaling")


def _set(raw: dict, parts: list, value, create: bool = False) -> None:
    node = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(part, int):
            node = node[part]
            continue
        if part not in node or node[part] is None:
            if not create:
                raise SpecError(f"`{_label(parts)}`: `{part}` is missing in the spec")
            if part == "hidden":  # searching a layer of the default architecture
                node[part] = _default_hidden()
            elif part == "layer":  # searching the template layer: it starts as the first hidden one
                node[part] = copy.deepcopy((node.get("hidden") or _default_hidden())[0])
            else:
                node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _default_hidden() -> list:
    return Experiment(data=DataSpec(source="-")).to_dict()["model"]["hidden"]


def _positive(section: dict, name: str, default: int, least: int) -> int:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SpecError(f"search.{name}: got `{value}`; expected an integer >= {least}")
    return value
