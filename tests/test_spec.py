import pytest
import yaml

import denselab
from denselab.errors import SpecError
from denselab.spec import Experiment, apply_override, load


def make(**sections):
    raw = {"data": {"source": "iris"}}
    raw.update(sections)
    return Experiment.from_dict(raw)


def test_defaults_and_roundtrip():
    exp = make(model={"hidden": [{"units": 8, "activation": "tanh", "dropout": 0.1}]})
    assert exp.train.optimizer == "adam" and exp.evaluate.folds == 10
    again = Experiment.from_dict(yaml.safe_load(exp.to_yaml()))
    assert again == exp


def test_bundled_examples_all_load():
    from denselab.spec import example_names

    names = example_names()
    assert {"rocks", "iris", "f1", "workshop-iris-overfit"} <= set(names)
    from denselab.search import parse
    from denselab.spec import read_yaml

    for name in names:
        raw = read_yaml(name)
        parse(raw) if "search" in raw else load(name)


@pytest.mark.parametrize("raw, match", [
    ({"data": {"source": "iris"}, "trian": {}}, r"trian: unknown field \(did you mean `train`\?\)"),
    ({"data": {"source": "iris"}, "model": {"hidden": [{"units": 5, "activation": "rellu"}]}},
     r"activation: unknown value `rellu` \(did you mean `relu`\?\)"),
    ({"data": {"source": "iris"}, "train": {"epochs": -3}}, r"train.epochs: got -3; expected a positive integer"),
    ({"data": {"source": "iris"}, "train": {"epochs": "many"}}, r"train.epochs: expected an integer, got `many`"),
    ({"data": {"source": "iris"}, "train": {"optimizer": "adamm"}}, r"train.optimizer: unknown value `adamm` \(did you mean `adam`\?\)"),
    ({"data": {"source": "iris"}, "train": {"loss": "categorical_crossentropyy"}}, r"train.loss: unknown value"),
    ({"data": {"source": "iris"}, "model": {"hidden": [{"units": 5, "dropout": 1.5}]}}, r"dropout: got 1.5; expected a rate in \[0, 1\)"),
    ({"data": {"source": "iris"}, "model": {"hidden": [{"type": "dense"}]}}, r"a `dense` layer needs `units`"),
    ({"data": {"source": "iris"}, "model": {"hidden": [{"type": "dens", "units": 3}]}}, r"unknown value `dens` \(did you mean `dense`\?\)"),
    ({"data": {"source": "iris"}, "evaluate": {"folds": 1}}, r"evaluate.folds: got 1; expected at least 2"),
    ({"data": {"source": "iris", "missing": "dorp"}}, r"data.missing: unknown value `dorp` \(did you mean `drop`\?\)"),
    ({"data": {"source": "iris", "test_size": 1.5}}, r"data.test_size: got 1.5"),
    ({"model": {}}, r"data: missing section"),
    ({"data": {"target": "y"}}, r"data.source: required field is missing"),
    ({"data": {"source": "iris"}, "model": {"kernel_initializer": "glorot_unifrom"}}, r"did you mean `glorot_uniform`"),
])
def test_bad_specs_get_one_line_errors(raw, match):
    with pytest.raises(SpecError, match=match) as info:
        Experiment.from_dict(raw)
    assert "\n" not in str(info.value)


def test_overrides_parse_yaml_values_and_paths():
    raw = {"data": {"source": "iris"}, "model": {"hidden": [{"units": 5}]}}
    apply_override(raw, "train.epochs=7")
    apply_override(raw, "model.hidden[0].units=9")
    exp = Experiment.from_dict(raw)
    assert exp.train.epochs == 7 and exp.model.hidden[0].units == 9
    with pytest.raises(SpecError, match=r"expected KEY=VALUE"):
        apply_override(raw, "train.epochs")
    with pytest.raises(SpecError, match=r"index \[3\] is out of range"):
        apply_override(raw, "model.hidden[3].units=2")


def test_spec_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {source: iris\n  target: [")
    with pytest.raises(SpecError, match=r"invalid YAML at line"):
        load(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(SpecError, match=r"the file is empty"):
        load(empty)
    with pytest.raises(SpecError, match=r"neither a file nor a bundled example \(did you mean `iris`\?\)"):
        load("irsi")


def test_search_spec_given_to_run_says_use_search():
    with pytest.raises(SpecError, match=r"this spec describes a search; run it with `denselab search"):
        load("iris-search")


def test_public_api_names():
    for name in denselab.__all__:
        assert hasattr(denselab, name)
