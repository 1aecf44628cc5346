"""Property tests: no input makes the spec parser or the data loaders fail with anything but
our own error (`DenselabError`, one line), and what they accept round-trips.

Each property runs a bounded number of examples (`EXAMPLES`, or DENSELAB_PROPERTY_EXAMPLES
for a longer hunt) so the file stays under a minute; the strategies lean towards near-valid
input (real field names, real-looking csv rows, damaged archives), where the interesting
failures hide. `--hypothesis-show-statistics` shows which check refused each example.
"""

from __future__ import annotations

import atexit
import copy
import io
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from denselab.data.prepare import fold_indices, load_dataset
from denselab.errors import DenselabError
from denselab.models.build import build_model, head_for
from denselab.spec import DataSpec, EvalSpec, Experiment, LayerSpec, ModelSpec, TrainSpec, apply_override, load

pytestmark = pytest.mark.filterwarnings("ignore:The least populated class")  # sklearn on tiny stratified folds
EXAMPLES = int(os.environ.get("DENSELAB_PROPERTY_EXAMPLES", "60"))  # raise it for a long hunt
bounded = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCRATCH = Path(tempfile.mkdtemp(prefix="denselab-properties-"))  # one folder for every example
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


def one_line(exc: BaseException) -> bool:
    text = str(exc)
    return bool(text.strip()) and "\n" not in text


def only_ours(call, *args, **kwargs):
    """Run `call`: success, or a one-line DenselabError; anything else fails the test."""
    try:
        result = call(*args, **kwargs)
    except DenselabError as exc:
        assert one_line(exc), repr(str(exc))
        event(f"refused: {str(exc).split(':')[0][:30]}")  # --hypothesis-show-statistics shows the mix
        return None
    event("accepted")
    return result


# --- the spec parser ------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats()
           | st.text(max_size=12) | st.sampled_from(["relu", "adam", "iris", "species", "none", "auto", "dense",
                                                     "sgd", "mse", "[1, 2]", "1e400", "nan"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def fields_of(cls) -> list[str]:
    return list(cls.__dataclass_fields__)


def section(cls):
    return st.dictionaries(st.sampled_from(fields_of(cls)) | st.text(max_size=8), values, max_size=5)


# values a user might plausibly write at each field (right or slightly wrong), so most
# examples get past the first check and exercise the later ones
plausible = st.one_of(
    st.integers(-3, 300), st.floats(-1, 2), st.sampled_from([0, 1, 0.5, 1e-3, "none", None, True, "auto"]),
    st.sampled_from(["relu", "rleu", "tanh", {"name": "elu", "alpha": 0.5}, {"name": "elu", "alpah": 1},
                     "adam", "sgd", {"name": "adam", "beta_1": 0.8}, "mse", "categorical_crossentropy",
                     "glorot_uniform", "dense", "dropout", "conv2d", "lstm", "species", "iris", "f1",
                     [8, 8, 1], [3, 3], [[5.1, 3.5, 1.4, 0.2]], ["a", "b"], "drop", "mean", "minmax"]),
)
PATHS = ([("data", f) for f in fields_of(DataSpec)] + [("model", f) for f in fields_of(ModelSpec)]
         + [("model", "hidden", i, f) for f in fields_of(LayerSpec) for i in (0, 1)]
         + [("train", f) for f in fields_of(TrainSpec)] + [("evaluate", f) for f in fields_of(EvalSpec)]
         + [(f,) for f in fields_of(Experiment)])


MODELS = [  # valid networks of each kind, for the mutations to start from
    {"hidden": [{"units": 3}]},
    {"input_shape": [2, 2, 1], "hidden": [{"type": "conv2d", "filters": 2, "kernel_size": 2},
                                          {"type": "maxpool2d"}, {"type": "flatten"}]},
    {"input_shape": [4, 1], "hidden": [{"type": "lstm", "units": 2, "return_sequences": True},
                                       {"type": "gru", "units": 2}]},
    {"hidden": [{"type": "embedding", "input_dim": 9, "output_dim": 2}, {"type": "simplernn", "units": 2}]},
]


@st.composite
def near_valid_specs(draw):
    model = copy.deepcopy(draw(st.sampled_from(MODELS)))
    raw = {"data": {"source": "iris"}, "model": model, "train": {"epochs": 2}}
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=3)):
        node = raw
        for key in path[:-1]:  # an earlier mutation may have replaced a section by a scalar
            if isinstance(node, dict):
                node = node.setdefault(key, {})
            elif isinstance(node, list) and len(node) > key:
                node = node[key]
            else:
                break
        else:
            if isinstance(node, dict):
                node[path[-1]] = draw(plausible | values)
    return raw


layers = st.lists(section(LayerSpec) | values, max_size=3)
spec_dicts = near_valid_specs() | near_valid_specs() | near_valid_specs() | st.fixed_dictionaries(
    {"data": st.fixed_dictionaries({"source": st.sampled_from(["iris", "f1"]) | values},
                                   optional={k: values for k in fields_of(DataSpec) if k != "source"})},
    optional={"model": section(ModelSpec) | st.fixed_dictionaries({"hidden": layers}),
              "train": section(TrainSpec), "evaluate": section(EvalSpec), "name": values, "seed": values,
              "predict": values, "description": values},
) | st.dictionaries(st.text(max_size=8) | st.sampled_from(fields_of(Experiment)), values, max_size=4) | values


@bounded
@given(spec_dicts)
def test_spec_builder_raises_only_our_errors_and_round_trips(raw):
    exp = only_ours(Experiment.from_dict, raw)
    if exp is not None:  # compared by repr: a NaN in `predict` is equal to itself there
        assert repr(Experiment.from_dict(exp.to_dict())) == repr(exp)
        assert repr(Experiment.from_dict(yaml.safe_load(exp.to_yaml()))) == repr(exp)
        head = only_ours(head_for, "classification", 3, exp.model, exp.train)
        if head is not None and small(exp.model):  # an accepted spec builds its network
            only_ours(build_model, exp.model, head, math.prod(exp.model.input_shape or (4,)))


def small(model: ModelSpec) -> bool:
    """A network this test may build: a valid spec may ask for gigabytes of weights."""
    sizes = [getattr(layer, name) or 1 for layer in model.hidden
             for name in ("units", "filters", "input_dim", "output_dim")]
    return max(sizes + [math.prod(model.input_shape or (1,))]) <= 4096


yaml_fragments = st.lists(st.sampled_from([
    "data:", "  source: iris", "  target: species", "model:", "  hidden:", "    - {units: 3}", "train: {epochs: 2}",
    "data: {source: iris}", "- a", "key: [1, 2", "  \t", "&a [*a]", "!!python/object:os.system x", "name: x",
    "data: {source: iris}", "evaluate: {folds: .nan}", "'", "? [a]\n: 1", "%YAML 1.1", "---", "...", "{", "}",
]) | st.text(max_size=20), max_size=8).map("\n".join)


@bounded
@given(yaml_fragments | st.text())
def test_load_reads_any_text_as_a_spec_or_says_why(text):
    path = SCRATCH / "spec.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    only_ours(load, path)


@bounded
@given(st.binary(max_size=200))
def test_load_reads_any_bytes_as_a_spec_or_says_why(raw):
    path = SCRATCH / "spec-bytes.yaml"
    path.write_bytes(raw)
    only_ours(load, path)


@bounded
@given(st.text(max_size=30) | st.sampled_from(["iris", "", ".", "/", "\x00", "a" * 5000, "../iris", "iris.yaml"]))
def test_load_of_any_name_is_a_file_an_example_or_our_error(name):
    only_ours(load, name)


paths = st.lists(st.sampled_from(["data", "model", "train", "evaluate", "hidden", "units", "epochs", "source",
                                  "[0]", "[1]", "[-1]", "[x]", "seed", "name", "", "predict"]) | st.text(max_size=5),
                 min_size=1, max_size=4).map(".".join)
overrides = st.tuples(paths, st.sampled_from(["=", "", "=="]), st.text(max_size=10) | st.sampled_from(
    ["3", "[1, 2]", "{a: 1}", ".nan", "-1", "1e400", "null", "[", "relu", "{units: 4}"])).map("".join)


@bounded
@given(st.lists(overrides | st.text(max_size=30), max_size=3))
def test_overrides_raise_only_our_errors(items):
    raw = Experiment.from_dict({"data": {"source": "iris"}}).to_dict()
    for item in items:
        if only_ours(apply_override, raw, item) is None and "=" not in item:
            return
    only_ours(Experiment.from_dict, raw)


# --- the data loaders ------------------------------------------------------------------

numbers = st.floats(-1e3, 1e3).map(lambda v: f"{v:.3g}") | st.integers(-5, 5).map(str)
cells = st.one_of(numbers, numbers, numbers, numbers, numbers, numbers, st.text("abyé -", max_size=4),
                  st.sampled_from(["", "nan", "inf", "-inf", "NA", "1e309", "1e39", "\t"]))
wild = st.text(max_size=6) | st.floats().map(repr) | st.sampled_from(["3,5", '"q"', "1;2", "a b", "'"])
targets = st.none() | st.sampled_from(["y", "x0", "a", "0", 0, 1, -1, 99]) | st.text(max_size=5)


@st.composite
def csv_text(draw):
    """A header, then rows as wide as the header (one ragged row now and then) with a class under `y`."""
    header = draw(st.sampled_from([["x0", "x1", "y"], ["y", "x0"], ["x0", "y", "y"], ["a", "", "y"]])
                  | st.lists(st.sampled_from(["x0", "x1", "y", "a", ""]) | st.text(max_size=4), min_size=1, max_size=4))
    label = st.sampled_from([st.sampled_from(["p", "q"])] * 9 + [cells]).flatmap(lambda s: s)
    n = draw(st.integers(0, 14))
    ragged = draw(st.sampled_from([None] * 7 + list(range(n))))
    rows = [header]
    for i in range(n):
        width = len(header) + (i == ragged)
        row = draw(st.lists(st.sampled_from([numbers] * 30 + [cells] * 3 + [wild]).flatmap(lambda c: c),
                            min_size=width, max_size=width))
        if "y" in header:
            row[header.index("y")] = draw(label)
        rows.append(row)
    return "\n".join(",".join(row) for row in rows)


def load_file(raw: bytes, suffix: str, target, **spec):
    path = SCRATCH / f"data{suffix}"
    path.write_bytes(raw)
    try:
        data = DataSpec(source=str(path), target=target, **spec)
    except DenselabError:
        return None
    ds = only_ours(load_dataset, data, 0)
    if ds is not None:
        assert np.isfinite(ds.x_train[~np.isnan(ds.x_train)]).all()
        for folds in (2, 5):
            only_ours(fold_indices, ds.y_train, folds, True, ds.task, 0)
    return ds


@bounded
@given(csv_text(), targets, st.sampled_from(["error", "drop", "mean"]), st.sampled_from(["auto", 0, "none"]))
def test_csv_loader_raises_only_our_errors(text, target, missing, header):
    load_file(text.encode("utf-8"), ".csv", target, missing=missing, header=header)


@bounded
@given(st.binary(max_size=300), st.sampled_from([".csv", ".xlsx", ".xls", ".npz", ".txt", ""]))
def test_any_bytes_under_any_suffix_raise_only_our_errors(raw, suffix):
    load_file(raw, suffix, "y")


@bounded
@given(csv_text(), st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf-8-sig"]))
def test_csv_in_other_encodings_raise_only_our_errors(text, encoding):
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    load_file(raw, ".csv", "y")


def damaged(raw: bytes, data) -> bytes:
    """A valid archive truncated or with a few bytes overwritten.

    Positions are drawn independently of len(raw): an xlsx embeds the time it was written,
    so its length can differ when hypothesis replays an example.
    """
    how = data.draw(st.sampled_from(["truncate", "flip", "keep"]))
    position = st.integers(0, 2**20)
    if how == "truncate":
        return raw[:data.draw(position) % (len(raw) + 1)]
    if how == "flip":
        out = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            out[data.draw(position) % len(out)] = data.draw(st.integers(0, 255))
        return bytes(out)
    return raw


small_frames = st.integers(0, 12).flatmap(lambda n: st.fixed_dictionaries({
    "x0": st.lists(st.floats(width=32) | st.integers(-5, 5), min_size=n, max_size=n),
    "y": st.lists(st.sampled_from(["a", "b", "c"]) | st.integers(0, 2), min_size=n, max_size=n),
})).map(pd.DataFrame)


@bounded
@given(small_frames, st.data())
def test_xlsx_loader_raises_only_our_errors(frame, data):
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    load_file(damaged(buffer.getvalue(), data), ".xlsx", "y")


@bounded
@given(st.data())
def test_npz_loader_raises_only_our_errors(data):
    n, k = data.draw(st.integers(0, 12)), data.draw(st.integers(1, 3))
    x = np.asarray(data.draw(st.lists(st.floats(width=32), min_size=n * k, max_size=n * k)), np.float32)
    with np.errstate(invalid="ignore"):  # NaN cast to int64: any value will do
        x = x.reshape(n, k).astype(data.draw(st.sampled_from([np.float32, np.int64, np.bool_, "U2", np.complex64])))
    y = np.asarray(data.draw(st.lists(st.sampled_from([0, 1, 2]), min_size=n, max_size=n)), np.int64)
    y = y.astype(data.draw(st.sampled_from([np.int64, np.float64, "U1"])))
    arrays = {"x": x, "y": y}
    if data.draw(st.booleans()):  # a wrong shape, a missing or renamed array
        name = data.draw(st.sampled_from(["x", "y"]))
        arrays[name] = data.draw(st.sampled_from([x[:-1], y[:, None], np.zeros(()), np.zeros((n, 2, 2))]))
        arrays[data.draw(st.sampled_from(["X", "z", name]))] = arrays.pop(name)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    load_file(damaged(buffer.getvalue(), data), ".npz", None)


column_values = st.one_of(
    st.lists(st.floats(), max_size=12), st.lists(st.integers(-3, 3), max_size=12),
    st.lists(st.text(max_size=3), max_size=12), st.lists(st.booleans(), max_size=12),
    st.lists(st.none() | st.floats(allow_nan=True) | st.text(max_size=2) | st.integers(0, 2), max_size=12),
)
column_names = st.text(max_size=4) | st.integers(0, 3) | st.sampled_from(["y", "x", "1.0", 1.0])


@bounded
@given(st.lists(st.tuples(column_names, column_values), min_size=1, max_size=4), st.data(),
       st.sampled_from(["error", "drop", "mean"]), st.sampled_from(["auto", "classification", "regression"]),
       st.sampled_from(["standard", "minmax", "none"]), st.sampled_from([0.0, 0.2, 0.5]))
def test_any_small_data_frame_loads_or_says_why(columns, data, missing, task, scaling, test_size):
    target = data.draw(st.sampled_from([name for name, _ in columns]) | targets)
    n = min(len(v) for _, v in columns)
    frame = pd.DataFrame({i: pd.Series(v[:n], dtype=object if any(isinstance(x, str) for x in v) else None)
                          for i, (_, v) in enumerate(columns)})
    frame.columns = [name for name, _ in columns]
    spec = DataSpec(source="data frame", target=target, missing=missing, task=task, scaling=scaling,
                    test_size=test_size)
    ds = only_ours(load_dataset, spec, 0, frame)
    if ds is not None:
        assert len(ds.x_train) + len(ds.x_test) <= n
        assert ds.x_train.dtype == np.float32 and not np.isinf(ds.x_train).any()
        if ds.task == "classification":
            assert set(np.unique(ds.y_train)) <= set(range(len(ds.classes)))
        if len(ds.x_train):  # what every member does first: fit its scaler (and imputer)
            ds.preprocessor().fit(ds.x_train)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e300])
def test_non_finite_or_huge_feature_values_are_refused(value):
    frame = pd.DataFrame({"x0": [1.0, 2.0, value, 4.0] * 3, "y": ["a", "b"] * 6})
    with pytest.raises(DenselabError, match=r"^data(\.missing)?: .*(missing|infinite|float32)"):
        load_dataset(DataSpec(source="frame", target="y"), 0, frame)


# --- issue 15: European exports, stray text, alias bombs --------------------------------

finite = st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: round(v, 3))


@bounded
@given(st.lists(st.tuples(finite, finite), min_size=12, max_size=30), st.sampled_from([";", "\t"]))
def test_decimal_comma_exports_read_back_as_the_same_numbers(rows, sep):
    frame = pd.DataFrame(rows, columns=["x0", "x1"]).assign(y=["p", "q"] * (len(rows) // 2) + ["p"] * (len(rows) % 2))
    assume((frame[["x0", "x1"]] != frame[["x0", "x1"]].round()).to_numpy().any())  # some decimals to write
    path = SCRATCH / "export.csv"
    frame.to_csv(path, sep=sep, decimal=",", index=False)
    ds = load_dataset(DataSpec(source=str(path), target="y", test_size=0), 0)
    assert ds.feature_names == ["x0", "x1"]
    np.testing.assert_array_equal(ds.x_train, frame[["x0", "x1"]].to_numpy(np.float32))  # test_size 0: in order


@bounded
@given(st.lists(finite, min_size=10, max_size=40), st.data())
def test_text_in_a_column_of_numbers_is_never_encoded_silently(values, data):
    stray = data.draw(st.lists(st.sampled_from(["?", "-", "n.a.", "x", "1.2.3", "missing", "—"]), min_size=1,
                               max_size=max(1, len(values) // 3)))
    where = data.draw(st.lists(st.integers(0, len(values) - 1), min_size=len(stray), max_size=len(stray),
                               unique=True))
    column = pd.Series(values, dtype=object)
    column.iloc[where] = stray
    frame = pd.DataFrame({"x0": column, "y": ["p", "q"] * (len(values) // 2) + ["p"] * (len(values) % 2)})
    with pytest.raises(DenselabError) as info:
        load_dataset(DataSpec(source="frame", target="y"), 0, frame)
    message = str(info.value)
    assert "column `x0` holds numbers but" in message and "data.na_values" in message and "\n" not in message
    for text in set(stray):
        assert f"`{text}`" in message or "other text(s)" in message
    # marked as missing it loads, with x0 one numeric feature
    ds = load_dataset(DataSpec(source="frame", target="y", na_values=tuple(set(stray)), missing="drop"), 0, frame)
    assert ds.feature_names == ["x0"] and ds.dropped_rows == len(where)


@bounded
@given(st.integers(1, 12), st.integers(1, 12))
def test_yaml_aliases_load_while_small_and_are_refused_when_they_explode(width, depth):
    from denselab.spec import MAX_SPEC_VALUES

    lines = [f"l0: &l0 [{', '.join(['1'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    text = "data: {source: iris}\nanchors:\n" + "".join(f"  {line}\n" for line in lines)
    path = SCRATCH / "aliases.yaml"
    path.write_text(text)
    sizes = [1 + width]  # a list and its values, every alias written out
    for _ in range(1, depth):
        sizes.append(1 + width * sizes[-1])
    expanded = sum(sizes)  # the anchors themselves; the rest of the document is a few dozen values
    try:
        load(str(path))
    except DenselabError as exc:
        assert one_line(exc)
        if expanded > MAX_SPEC_VALUES:
            assert "aliases (`*name`) expand it past" in str(exc)
        elif expanded < MAX_SPEC_VALUES - 100:
            assert "anchors: unknown field" in str(exc)  # read in full, then refused as a field
    else:
        raise AssertionError("an unknown section was accepted")
