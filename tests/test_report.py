"""Reports: every plot returns a Figure, the page is self-contained and atomic, JSON is strict."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from denselab.errors import DenselabError
from denselab.report import Section, diagnose, plots, tables, to_json, write_report
from denselab.report import html as report_html


def _strict(text):
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def frame(rng):
    x = rng.normal(size=(60, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2] + x[:, 0],
                         "kind": np.array(["x", "y", "z"])[np.arange(60) % 3]})


def test_curves_handles_unequal_lengths():
    histories = [{"loss": [1, .5, .4], "val_loss": [1.1, .7, .6], "accuracy": [.5, .8, .9],
                  "val_accuracy": [.4, .7, .8]},
                 {"loss": [1, .6], "val_loss": [1.2, .8], "accuracy": [.5, .7], "val_accuracy": [.5, .6]}]
    fig = plots.curves(histories, "accuracy", val_label="test")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    assert "test" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()][1]
    assert isinstance(plots.curves([{"loss": [1.0, 0.5], "mse": [1.0, 0.5]}], "mse"), Figure)


def test_confusion_correlation_bars(frame):
    assert isinstance(plots.confusion(["a", "b", "a", "c"], ["a", "a", "a", "c"], ["a", "b", "c"]), Figure)
    assert isinstance(plots.correlation(frame), Figure)
    table = pd.DataFrame({"config": ["small", "big"], "mean": [0.8, 0.9], "std": [0.02, np.nan]})
    assert isinstance(plots.bar_scores(table, "config", "mean", "std", "Accuracy by size"), Figure)


def test_pairplot_samples_and_guards(rng, monkeypatch):
    import matplotlib.pyplot as plt

    wide = pd.DataFrame(rng.normal(size=(700, 4)), columns=["f0", "f1", "f2", "f3"])
    wide["kind"] = np.where(wide.f0 > 0, "up", "down")
    fig = plots.pairplot(wide[["f0", "f1", "kind"]], "kind")
    assert isinstance(fig, Figure)
    assert "sample of 600 of 700" in fig._suptitle.get_text()
    plt.close(fig)
    monkeypatch.setattr(plots, "MAX_PAIR_FEATURES", 3)  # the guard, without a slow 12 × 12 grid
    fig = plots.pairplot(wide.iloc[:50], "kind")
    labels = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert "first 3 features shown, 1 left out" in fig._suptitle.get_text() and "f3" not in labels
    plt.close(fig)
    regression = wide.drop(columns="kind").iloc[:40]
    fig = plots.pairplot(regression, "f3")  # numeric target: a variable, not a colour
    assert "f3" in {ax.get_xlabel() for ax in fig.axes}
    plt.close(fig)


def test_decision_boundary_binary_and_multiclass(rng):
    x = rng.normal(size=(30, 2))
    labels = np.where(x[:, 0] > 0, "yes", "no")
    binary = plots.decision_boundary(lambda p: 1 / (1 + np.exp(-p[:, :1])), x, labels, ["no", "yes"], ["u", "v"])
    assert isinstance(binary, Figure)
    codes = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)

    def three(p):
        logits = np.column_stack([-p[:, 0], p[:, 0], p[:, 1]])
        e = np.exp(logits)
        return e / e.sum(1, keepdims=True)
    assert isinstance(plots.decision_boundary(three, x, codes, ["a", "b", "c"], ["u", "v"]), Figure)


def test_surface3d(rng):
    x = rng.uniform(-1, 1, size=(40, 2))
    fig = plots.surface3d(lambda p: (p ** 2).sum(1, keepdims=True), x, (x ** 2).sum(1), ["u", "v"], "r2")
    assert isinstance(fig, Figure)


def test_tables():
    df = tables.fold_scores([0.9, 0.8, 0.85, 0.95], fold=[0, 1, 0, 1], seed=[0, 0, 1, 1], metric="accuracy")
    assert list(df.columns) == ["fold", "seed", "accuracy"]
    summary = tables.mean_std(df, by="seed", value="accuracy")
    assert summary["mean"].round(3).tolist() == [0.85, 0.9] and summary["n"].tolist() == [2, 2]
    long = tables.histories([{"loss": [1, 0.5, 0.2], "val_loss": [1, 0.6]}, {"loss": [1, 0.7]}],
                            tags=[{"fold": 0}, {"fold": 1}])
    assert len(long) == 5 and long["val_loss"].isna().sum() == 3 and set(long["fold"]) == {0, 1}
    confusion = tables.confusion_table(["a", "b", "a"], ["a", "a", "a"], ["a", "b"])
    assert confusion.set_index("true").loc["b", "a"] == 1


def test_diagnose_wording():
    under = diagnose("classification", "accuracy", 0.36, 0.35, baseline=0.34)
    # at chance even on its training rows: a training problem, never "a higher learning rate"
    assert "underfitting" in under and "a lower learning rate" in under and "higher learning rate" not in under
    assert "more units" in diagnose("classification", "accuracy", 0.80, 0.79, baseline=0.34)
    over = diagnose("classification", "accuracy", 1.0, 0.72, baseline=0.34)
    assert "overfitting" in over and "dropout" in over and "0.72" in over
    assert "good fit" in diagnose("classification", "accuracy", 0.97, 0.95, baseline=0.34)
    assert "underfitting" in diagnose("regression", "mse", 0.9, 0.95, baseline=1.0)
    assert "overfitting" in diagnose("regression", "mse", 0.05, 0.3, baseline=1.0)
    assert "good fit" in diagnose("regression", "mse", 0.05, 0.06, baseline=1.0)
    assert "No diagnosis" in diagnose("regression", "mse", float("nan"), 0.06, baseline=1.0)
    with pytest.raises(ValueError, match="metric `auc` is not supported"):
        diagnose("classification", "auc", 0.9, 0.9, 0.5)


def test_to_json_is_strict():
    text = to_json({"a": np.float32(0.5), "b": np.array([1.0, np.nan]), "c": float("inf"),
                    "d": np.int64(3), "e": (1, 2)})
    assert _strict(text) == {"a": 0.5, "b": [1.0, None], "c": None, "d": 3, "e": [1, 2]}


def _sections(rng):
    fig = plots.curves([{"loss": [1.0, 0.5], "val_loss": [1.1, 0.8]}], "accuracy")
    return [Section("Learning curves", "First paragraph.\n\nSecond <b>paragraph</b>.", figures=[fig]),
            Section("Scores", tables=["folds"])]


def test_write_report(tmp_path, rng):
    folds = tables.fold_scores([0.912345, np.nan], [0, 1], [0, 0], "accuracy")
    results = {"scores": np.array([0.912345, np.nan]), "manifest": {"seed": 7, "versions": {"keras": "3.0"}},
               "spec_yaml": "data:\n  source: iris\n"}
    path = write_report(tmp_path / "out", "Iris study", _sections(rng), results, {"folds": folds})
    page = path.read_text()
    assert path == tmp_path / "out" / "report.html"
    for heading in ["Iris study", "Learning curves", "Scores", "Reproducibility", "source: iris", "keras"]:
        assert heading in page
    assert "<img" in page and "data:image/png;base64," in page
    assert "&lt;b&gt;paragraph" in page  # text is escaped
    assert "0.9123" in page and "0.912345" not in page  # 4 significant digits
    assert not re.search(r"(src|href)=\"https?://", page)  # self-contained
    assert _strict((tmp_path / "out" / "results.json").read_text())["scores"] == [0.912345, None]
    assert pd.read_csv(tmp_path / "out" / "folds.csv").shape == (2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp folder left


def test_write_report_refuses_existing_folder(tmp_path, rng):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("keep me")
    with pytest.raises(DenselabError, match=r"--out: `.*out` already exists; choose a new folder"):
        write_report(tmp_path / "out", "t", _sections(rng), {}, {"folds": pd.DataFrame({"a": [1]})})
    assert (tmp_path / "out" / "old.txt").read_text() == "keep me"
    with pytest.raises(DenselabError, match="already exists"):
        report_html.check_out_dir(tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_report(empty, "t", [Section("Only text", "hi")], {}, {}).exists()


def test_write_report_unknown_table(tmp_path):
    with pytest.raises(ValueError, match="shows table.*'missing'"):
        write_report(tmp_path / "out", "t", [Section("S", tables=["missing"])], {}, {})
    assert not (tmp_path / "out").exists()


def test_failure_mid_write_leaves_nothing(tmp_path, rng, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(report_html, "_render", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(tmp_path / "out", "t", _sections(rng), {"a": 1}, {"folds": pd.DataFrame({"a": [1]})})
    assert list(tmp_path.iterdir()) == []


def test_unserialisable_result_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_report(tmp_path / "out", "t", [], {"model": object()}, {})
    assert list(tmp_path.iterdir()) == []


def test_figures_and_tables_stay_bounded_with_a_thousand_classes(rng):
    import matplotlib.pyplot as plt

    classes = [f"c{i:04d}" for i in range(1000)]
    y_true = [classes[i] for i in rng.integers(0, 1000, 3000)] + ["c0007"] * 30  # c0007 the most frequent
    y_pred = [c if rng.random() < 0.5 else classes[0] for c in y_true]
    fig = plots.confusion(y_true, y_pred, classes)
    small = plots.confusion(y_true[:40], y_pred[:40], classes[:20])
    assert tuple(fig.get_size_inches()) == tuple(small.get_size_inches())  # 20 rows whatever the classes
    ax = fig.axes[0]
    assert len(ax.texts) == plots.MAX_MATRIX_CLASSES ** 2
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "c0007"
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "other"
    assert "the 19 most frequent of 1000 classes, the rest as `other`; 3030 predictions" in ax.get_title()
    assert sum(int(t.get_text()) for t in ax.texts) == 3030  # nothing lost in `other`
    png = report_html.figure_png(fig)
    assert len(png) < 400_000
    report_html.figure_png(small)

    mistakes = tables.top_confusions(["a", "a", "a", "b", "b", "c"], ["b", "b", "a", "a", "b", "a"], k=2)
    assert mistakes.to_dict(orient="list") == {"true": ["a", "b"], "predicted": ["b", "a"], "count": [2, 1],
                                               "share_of_true": [2 / 3, 1 / 2]}
    assert len(tables.top_confusions(y_true, y_pred, k=20)) == 20

    x = rng.normal(size=(300, 2))
    codes = rng.integers(0, 30, 300)
    boundary = plots.decision_boundary(lambda p: np.full((len(p), 30), 1 / 30), x, codes,
                                       [f"k{i}" for i in range(30)], ["a", "b"])
    assert boundary.axes[0].get_legend() is None and "30 classes: no legend" in boundary.axes[0].get_title()
    report_html.figure_png(boundary)

    frame = pd.DataFrame({"f0": rng.normal(size=400), "f1": rng.normal(size=400),
                          "kind": [f"k{i % 60}" for i in range(400)]})
    pair = plots.pairplot(frame, "kind")
    legend = pair.legends[0]
    assert len(legend.get_texts()) == plots.MAX_MATRIX_CLASSES and legend.get_texts()[-1].get_text() == "other"
    assert "the 19 most frequent of 60 classes coloured" in pair._suptitle.get_text()
    plt.close(pair)


def test_a_run_with_many_classes_reports_the_top_confusions(tmp_path, rng):
    import denselab

    k = 25
    y = np.repeat([f"k{i:02d}" for i in range(k)], 6)
    frame = pd.DataFrame({"a": rng.normal(size=len(y)), "b": rng.normal(size=len(y)), "c": rng.normal(size=len(y)),
                          "y": y})
    spec = {"name": "many", "data": {"source": "frame", "target": "y", "test_size": 0.3},
            "model": {"hidden": [{"units": 4}]}, "train": {"epochs": 1}, "predict": [[0.1, 0.2, 0.3]],
            "evaluate": {"folds": 2, "baselines": "none"}}
    denselab.run(spec, tmp_path / "out", data=frame)
    mistakes = pd.read_csv(tmp_path / "out" / "top_confusions.csv")
    assert list(mistakes.columns) == ["true", "predicted", "count", "share_of_true"] and 0 < len(mistakes) <= 20
    predictions = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert list(predictions.columns) == ["row", "predicted", "most likely"]  # not 25 P(class) columns
    assert predictions["most likely"][0].count(",") == 9
    html = (tmp_path / "out" / "report.html").read_text()
    assert "25 classes: the matrix shows the 19 most frequent, the table the 20 most frequent mistakes" in html
