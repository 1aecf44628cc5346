"""The Python API as a notebook or script user meets it (issue 15, "Notebook and Python API"):
short reprs, `_repr_html_`, tables and figures, `summary`, `load_model` from every writer,
`run(spec, data=...)` without a source, mapping rows, the unscaled-input warning."""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import load_iris, load_wine

import denselab
from denselab.errors import DataError, DenselabError

FAST = ["train.epochs=4", "evaluate.folds=2", "train.batch_size=16"]
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def iris_run():
    return denselab.run("iris", overrides=FAST, report=False)


def test_run_result_repr_is_one_short_line(iris_run):
    text = repr(iris_run)
    assert len(text) < 300 and "\n" not in text
    assert text.startswith("<RunResult denselab run · iris · CV accuracy ") and "test accuracy" in text
    assert len(repr(iris_run.model)) < 200 and "3 classes (setosa, versicolor, virginica)" in repr(iris_run.model)


def test_run_result_tables_figures_and_html(iris_run):
    tables = iris_run.tables()
    assert {"cv_summary", "cv_folds", "diagnosis", "predictions"} <= set(tables)
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    folds = iris_run.table("cv_folds")
    assert len(folds) == 2 and np.allclose(sorted(folds["accuracy"]), sorted(iris_run.results["cv"]["folds"]))
    folds.loc[0, "accuracy"] = -1  # a copy: the result is untouched
    assert iris_run.table("cv_folds")["accuracy"].min() >= 0
    figures = iris_run.figures()
    assert {"learning_curves", "confusion_matrix_test_rows"} <= set(figures)
    assert isinstance(iris_run.figure("learning_curves"), Figure)
    with pytest.raises(DenselabError, match=r"table: no table `cv`; this result has: cv_summary, cv_folds"):
        iris_run.table("cv")
    with pytest.raises(DenselabError, match=r"figure: no figure `learning_curve` \(did you mean `learning_curves`"):
        iris_run.figure("learning_curve")
    html = iris_run._repr_html_()
    cv = iris_run.results["cv"]
    assert html.startswith('<div class="denselab-result">') and "denselab run · iris" in html
    assert f"CV accuracy {cv['mean']:.4f} ± {cv['std']:.4f}" in html
    assert html.count("data:image/png;base64,") == 2  # learning curves and confusion matrix, not the pair plot
    assert "<table" in html and "cv_summary" in html and "the_data_1" in html  # the rest named, not shown


def test_summary_prints_like_keras(iris_run, capsys):
    assert iris_run.model.summary() is None
    out = capsys.readouterr().out
    assert "Total params: 163" in out and "Layer (type)" in out and "Dense" in out
    assert "Predicts: `species`, one of setosa, versicolor, virginica" in out


def test_saved_run_model_predicts_labels_and_mapping_rows(iris_run, tmp_path):
    path = iris_run.model.save(tmp_path / "iris.keras")
    model = denselab.load_model(path)
    rows = [[6.4, 3.2, 4.5, 1.5], dict(zip(reversed(IRIS_COLUMNS), [1.7, 5.0, 3.1, 5.8]))]
    assert model.predict(rows) == iris_run.model.predict(rows)
    assert set(model.predict(rows)) <= {"setosa", "versicolor", "virginica"}
    assert iris_run.model.predict(rows[1:]) == iris_run.model.predict([[5.8, 3.1, 5.0, 1.7]])
    np.testing.assert_allclose(model.predict_proba(rows), iris_run.model.predict_proba(rows), atol=1e-5)
    frame = pd.DataFrame([[6.4, 3.2, 4.5, 1.5]], columns=IRIS_COLUMNS)
    assert model.predict(frame) == model.predict(rows[:1])
    # the labels travel inside the .keras file: a download without its .json still says labels
    path.with_suffix(".keras.json").unlink()
    assert denselab.load_model(path).predict(rows) == model.predict(rows)
    with pytest.raises(DataError, match=r"predict: row 1: missing petal width \(cm\); unknown petal_width"):
        model.predict([{**dict(zip(IRIS_COLUMNS[:3], [1, 2, 3])), "petal_width": 4}])


def test_categorical_rows_as_mappings(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"length": rng.normal(40, 5, 120), "island": rng.choice(["Biscoe", "Dream"], 120)})
    frame["species"] = np.where(frame["length"] + 5 * (frame["island"] == "Dream") > 42, "big", "small")
    spec = {"data": {"target": "species"},
            "predict": [{"island": "Dream", "length": 39.1}, [45.0, "Biscoe"]]}
    result = denselab.run(spec, data=frame, overrides=FAST, report=False)
    p = result.results["predictions"]
    assert p["rows"] == [[39.1, "Dream"], [45.0, "Biscoe"]] and set(p["predicted"]) <= {"big", "small"}
    model = denselab.load_model(result.model.save(tmp_path / "p.keras"))
    assert model.predict([{"length": 39.1, "island": "Dream"}]) == [p["predicted"][0]]


def test_run_with_data_needs_no_source():
    X, y = load_iris(return_X_y=True)
    frame = load_iris(as_frame=True).frame
    by_frame = denselab.run({"data": {"target": "target"}}, data=frame, overrides=FAST, report=False)
    by_arrays = denselab.run({}, data=(X, y), overrides=FAST, report=False)
    assert by_frame.results["data"]["source"] == "DataFrame (150 × 5) given to run()"
    assert by_arrays.results["data"]["source"] == "(X, y) (150 × 4) given to run()"
    assert by_arrays.results["data"]["features"] == ["x0", "x1", "x2", "x3"]
    assert by_frame.results["cv"]["n"] == by_arrays.results["cv"]["n"] == 2
    with pytest.raises(DataError, match="data.target: not given; name the column to predict"):
        denselab.run({}, data=frame, overrides=FAST, report=False)


def test_estimator_files_load_with_labels(tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = denselab.Classifier(epochs=3, batch_size=30).fit(X, names)
    model = denselab.load_model(clf.save(tmp_path / "clf.keras"))
    assert model.predict(X[:5].tolist()) == clf.predict(X[:5]).tolist()
    reg = denselab.Regressor(epochs=3, batch_size=30).fit(X[:, :3], X[:, 3])
    loaded = denselab.load_model(reg.save(tmp_path / "reg.keras"))
    np.testing.assert_allclose(loaded.predict(X[:4, :3].tolist()), reg.predict(X[:4, :3]), atol=1e-5)


def test_web_page_download_loads_with_labels(tmp_path):
    from fastapi.testclient import TestClient

    from denselab.web.app import create_app

    job_spec = {"source": "f1", "points": 200, "epochs": 3, "batch_size": 32, "speed": "fast",
                "hidden": [{"units": 4, "activation": "tanh"}], "members": 1}
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as client:
        session = client.post("/api/sessions").json()["session"]
        job = client.post(f"/api/sessions/{session}/jobs", json=job_spec).json()["job"]
        with client.stream("GET", f"/api/sessions/{session}/jobs/{job}/events") as r:
            assert any(line == "event: done" for line in r.iter_lines())
        content = client.get(f"/api/sessions/{session}/jobs/{job}/model.keras").content
    (tmp_path / "model.keras").write_bytes(content)  # the download alone, no .json beside it
    model = denselab.load_model(tmp_path / "model.keras")
    assert set(model.predict([[0.0, 0.0], [-45.0, -45.0]])) <= {0, 1, "0", "1"}
    assert model.head.task == "classification"


@pytest.fixture(scope="module")
def bad_files(iris_run, tmp_path_factory):
    """Damaged, truncated and foreign model files beside one good one, made once."""
    import keras

    tmp_path = tmp_path_factory.mktemp("models")
    good = iris_run.model.save(tmp_path / "good.keras")
    data = good.read_bytes()
    (tmp_path / "truncated.keras").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.keras").write_text("not a model")
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(tmp_path / "bare.keras")
    (tmp_path / "badjson.keras").write_bytes((tmp_path / "bare.keras").read_bytes())
    (tmp_path / "badjson.keras.json").write_text("{oops")
    (tmp_path / "foreignjson.keras").write_bytes((tmp_path / "bare.keras").read_bytes())
    (tmp_path / "foreignjson.keras.json").write_text(json.dumps({"name": "something else"}))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "noweights.keras", "w") as dst:
        for item in src.namelist():
            if not item.endswith(".h5"):
                dst.writestr(item, src.read(item))
    return tmp_path


@pytest.mark.parametrize("name, message", [
    ("truncated.keras", r"`[^`]*truncated.keras` is not a .keras archive \(corrupt or truncated"),
    ("text.keras", r"`[^`]*text.keras` is not a .keras archive"),
    ("bare.keras", r"`[^`]*bare.keras` has no denselab labels .* no `bare.keras.json` beside it"),
    ("badjson.keras", r"`[^`]*badjson.keras.json` does not hold denselab labels"),
    ("foreignjson.keras.json", r"`[^`]*foreignjson.keras.json` does not hold denselab labels"),
    ("noweights.keras", r"`[^`]*noweights.keras` is not a readable Keras model"),
    ("missing.keras", r"no file `[^`]*missing.keras`"),
])
def test_damaged_model_files_are_one_line_errors(bad_files, name, message):
    with pytest.raises(DataError, match=message) as info:
        denselab.load_model(bad_files / name)
    assert "\n" not in str(info.value) and str(info.value).startswith("load_model: ")


def test_unscaled_inputs_warn_once_naming_the_columns():
    X, y = load_wine(return_X_y=True, as_frame=True)
    from sklearn.model_selection import cross_val_score

    from denselab.estimators import UnscaledInputWarning, _WARNED

    _WARNED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cross_val_score(denselab.Classifier(epochs=2, batch_size=64), X, y, cv=2)
    unscaled = [w for w in caught if issubclass(w.category, UnscaledInputWarning)]
    assert len(unscaled) == 1, [str(w.message) for w in unscaled]
    text = str(unscaled[0].message)
    for column in ("alcohol", "alcalinity_of_ash", "magnesium", "proline"):
        assert column in text
    assert "malic_acid" not in text and "make_pipeline(StandardScaler(), Classifier(...))" in text
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnscaledInputWarning)  # scaled: silent
        make_pipeline(StandardScaler(), denselab.Classifier(epochs=2, batch_size=64)).fit(X, y)


def test_search_result_repr_html_tables_and_figures(tmp_path):
    from denselab.search import search

    r = search("iris-search", 2, storage=f"sqlite:///{tmp_path / 's.db'}", report=False,
               overrides=["train.epochs=2", "evaluate.folds=2", "search.sampler=random"])
    text = repr(r)
    assert len(text) < 400 and "\n" not in text
    assert text.startswith("<SearchResult denselab search · iris-search · best trial ") and "2 of 2 trials" in text
    assert {"best", "comparison", "trials"} <= set(r.tables())
    assert len(r.table("trials")) == 2 and r.table("best")["trial"].tolist() == [r.best["trial"]]
    assert isinstance(r.figure("optimisation_history"), Figure)
    html = r._repr_html_()
    assert "denselab search · iris-search" in html and f"CV accuracy {r.best['cv']['mean']:.4f}" in html
    assert "<h4>comparison</h4>" in html and "<h4>best</h4>" in html and "data:image/png;base64," in html
