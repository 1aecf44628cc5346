import numpy as np
import pandas as pd
import pytest

from denselab.data import synthetic
from denselab.data.prepare import fold_indices, load_dataset
from denselab.data.sources import BUILTINS, read_table
from denselab.errors import DataError
from denselab.spec import DataSpec


def table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "Sample": [f"S-{i:03d}" for i in range(n)],
        "SiO2": rng.normal(60, 5, n),
        "MgO": rng.normal(3, 1, n),
        "site": rng.choice(["north", "south"], n),
        "rock type": np.where(np.arange(n) % 2, "basaltic andesite", "dacite"),
    })


def test_builtins_load_with_their_targets():
    sizes = {"rocks": (1178, 11), "iris": (150, 5), "workshop-regression": (150, 3),
             "workshop-iris": (150, 5), "lcpb-2d": (4000, 4), "digits": (1797, 65)}
    for name, shape in sizes.items():
        frame, target = read_table(DataSpec(source=name))
        assert frame.shape == shape, name
        assert target in frame.columns
    assert set(BUILTINS) >= {"f1", "f2", "f3"}


def test_rocks_is_the_real_table():
    ds = load_dataset(DataSpec(source="rocks"), seed=0)
    assert ds.task == "classification"
    assert ds.classes == ("andesite", "basaltic andesite", "dacite", "rhyolite", "trachyandesite")
    assert ds.x_train.shape == (942, 10) and ds.x_test.shape == (236, 10)
    # stratified: class proportions kept in the test set
    assert np.bincount(ds.y_test).tolist() == [142, 8, 33, 45, 8]


def test_synthetic_functions_match_their_definitions():
    x = np.array([[0.0, 0.0], [-30.0, 0.0], [30.0, 30.0], [0.0, -45.0]])
    assert synthetic.f1(x).tolist() == [1, 0, 0, 0]
    assert synthetic.f3(np.array([[0.0, 49.0], [0.0, 51.0], [20.0, 1.0]])).tolist() == [1, 0, 0]
    frame = synthetic.frame("f2", n=500, seed=3)
    assert frame["label"].between(0, 1).all() and 0.3 < frame["label"].mean() < 0.7
    # same seed, same points
    assert synthetic.frame("f1", 10, 1).equals(synthetic.frame("f1", 10, 1))


def test_lcpb_labels_are_f1_and_f2_of_the_points():
    frame, _ = read_table(DataSpec(source="lcpb-2d"))
    x = frame[["x0", "x1"]].to_numpy()
    assert (synthetic.f1(x) == frame["f1"]).mean() == 1.0
    assert (synthetic.f2(x) == frame["f2"]).mean() > 0.99


def test_csv_with_strings_id_and_nans(tmp_path):
    frame = table()
    frame.loc[[3, 7], "MgO"] = np.nan
    path = tmp_path / "rocks.csv"
    frame.to_csv(path, sep=";", index=False)
    with pytest.raises(DataError, match=r"column `Sample` has a different text value in every row \(an id\?\); add it to `data.drop`"):
        load_dataset(DataSpec(source=str(path), target="rock type"))
    with pytest.raises(DataError, match=r"missing values in 2 of 40 rows, column\(s\) MgO \(2\); set `data.missing: drop`"):
        load_dataset(DataSpec(source=str(path), target="rock type", drop=("Sample",)))
    ds = load_dataset(DataSpec(source=str(path), target="rock type", drop=("Sample",), missing="drop"))
    assert ds.dropped_rows == 2 and len(ds.y_train) + len(ds.y_test) == 38
    assert ds.classes == ("basaltic andesite", "dacite")
    assert ds.feature_names == ["SiO2", "MgO", "site=north", "site=south"]
    mean = load_dataset(DataSpec(source=str(path), target="rock type", drop=("Sample",), missing="mean"))
    assert np.isnan(np.concatenate([mean.x_train, mean.x_test])).sum() == 2
    assert not np.isnan(mean.preprocessor().fit_transform(mean.x_train)).any()


def test_csv_without_header_and_sniffed_delimiter(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("\n".join(f"{i}\t{i * 2}\t{i % 3}" for i in range(30)))
    ds = load_dataset(DataSpec(source=str(path), target=2), seed=0)
    assert ds.task == "classification" and ds.x_train.shape[1] == 2


def test_xlsx_sheets_and_header(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["nothing here"]}).to_excel(writer, sheet_name="About", index=False)
        table().drop(columns="Sample").to_excel(writer, sheet_name="Measurements", index=False)
    ds = load_dataset(DataSpec(source=str(path), sheet="Measurements", target="rock type"))
    assert len(ds.y_train) == 32
    ds = load_dataset(DataSpec(source=str(path), sheet=1, target="rock type"))
    assert len(ds.y_train) == 32
    with pytest.raises(DataError, match=r"data.sheet: no sheet `Measurement` in `book.xlsx` \(did you mean `Measurements`\?\)"):
        load_dataset(DataSpec(source=str(path), sheet="Measurement", target="rock type"))
    with pytest.raises(DataError, match=r"data.sheet: index 5 is out of range"):
        load_dataset(DataSpec(source=str(path), sheet=5, target="rock type"))


def test_real_xls_workbook_with_title_row(data_dir):
    spec = DataSpec(source=str(data_dir / "Mamani09_Table_DR2.xls"), sheet="Table DR2", target="Rock_type")
    frame, target = read_table(spec)
    assert target == "Rock_type" and len(frame) == 1786
    assert {"SiO2", "K2O", "Rock_type", "Sample"} <= set(frame.columns)


@pytest.mark.parametrize("content, name, match", [
    (b"", "empty.csv", r"data.source: `.*empty.csv` is empty"),
    (b"\x00\x01\x02\x03binary", "blob.csv", r"looks binary, not a csv"),
    (b"a,b,c\n1,2,3\n", "fake.xlsx", r"is not an Excel workbook \(maybe a csv renamed .xlsx\?\)"),
    (b"a,b\n1,2\n3,4,5,6\n", "ragged.csv", r"is not a regular table"),
    (b"a,a,y\n1,2,0\n3,4,1\n", "dup.csv", r"column `a` appears twice"),
])
def test_bad_files(tmp_path, content, name, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_dataset(DataSpec(source=str(path), target="y"))


def test_bad_columns_and_classes(tmp_path):
    with pytest.raises(DataError, match=r"data.source: no file `nope.csv` and no built-in set"):
        load_dataset(DataSpec(source="nope.csv", target="y"))
    with pytest.raises(DataError, match=r"data.target: no column `Rock type` \(did you mean `Rock_type`\?\)"):
        load_dataset(DataSpec(source="rocks", target="Rock type"))
    frame = table().drop(columns="Sample")
    frame["rock type"] = "dacite"
    path = tmp_path / "one.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"has one class only \(`dacite`\)"):
        load_dataset(DataSpec(source=str(path), target="rock type"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("café,y\n1,0\n2,1\n3,0\n4,1\n".encode("latin-1"))
    assert load_dataset(DataSpec(source=str(latin), target="y", test_size=0.5)).feature_names == ["café"]
    inf = tmp_path / "inf.csv"
    inf.write_text("a,y\n1,0\ninf,1\n2,0\n3,1\n")
    with pytest.raises(DataError, match=r"infinite values in column\(s\) a"):
        load_dataset(DataSpec(source=str(inf), target="y"))


def test_fewer_rows_than_folds():
    with pytest.raises(DataError, match=r"evaluate.folds: 10 folds need at least 10 training rows, there are 6"):
        fold_indices(np.array([0, 1, 0, 1, 0, 1]), 10, True, "classification", 0)


def test_folds_partition_the_rows():
    y = np.array([0] * 13 + [1] * 7 + [2] * 9)
    folds = fold_indices(y, 5, True, "classification", 0)
    held = np.sort(np.concatenate([va for _, va in folds]))
    assert held.tolist() == list(range(len(y)))
    for tr, va in folds:
        assert not set(tr) & set(va)


def test_predict_rows_encoded_like_training(tmp_path):
    path = tmp_path / "t.csv"
    table().to_csv(path, index=False)
    ds = load_dataset(DataSpec(source=str(path), target="rock type", drop=("Sample",)))
    x = ds.encode_rows([[61.0, 2.5, "south"]])
    assert x.tolist() == [[61.0, 2.5, 0.0, 1.0]]
    with pytest.raises(DataError, match=r"column `site` has value\(s\) east never seen in training"):
        ds.encode_rows([[61.0, 2.5, "east"]])
    with pytest.raises(DataError, match=r"predict: each row needs 3 values"):
        ds.encode_rows([[61.0, 2.5]])


# --- European exports, stray text, free text, spec-relative paths (issue 15) ----------------

def test_semicolons_and_decimal_commas_are_read_as_numbers(tmp_path):
    frame = table().drop(columns="Sample")
    path = tmp_path / "export.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    assert path.read_text().splitlines()[1].count(",") == 2  # 59,4;2,7;north;dacite
    ds = load_dataset(DataSpec(source=str(path), target="rock type", test_size=0))
    assert ds.feature_names == ["SiO2", "MgO", "site=north", "site=south"]
    np.testing.assert_allclose(ds.x_train[:, :2], frame[["SiO2", "MgO"]].to_numpy(), rtol=1e-6)
    same = load_dataset(DataSpec(source=str(path), target="rock type", test_size=0, delimiter=";", decimal=","))
    np.testing.assert_array_equal(same.x_train, ds.x_train)  # said explicitly: the same


def test_stray_text_in_a_numeric_column_is_named_and_na_values_reads_it_as_missing(tmp_path):
    frame = table().drop(columns="Sample").astype({"MgO": object})
    frame.loc[[2, 9], "MgO"] = "?"
    path = tmp_path / "uci.xlsx"  # (`n/a`, `NA`, `null` are missing already: pandas' default na_values)
    frame.loc[20, "MgO"] = "n.a."
    frame.to_excel(path, index=False)
    with pytest.raises(DataError, match=r"column `MgO` holds numbers but 3 cell\(s\) are text: `\?` in row\(s\) "
                       r"3, 10; `n.a.` in row\(s\) 21 .* set `data.na_values: \[\"\?\", \"n.a.\"\]`"):
        load_dataset(DataSpec(source=str(path), target="rock type"))
    ds = load_dataset(DataSpec(source=str(path), target="rock type", na_values=("?", "n.a."), missing="drop"))
    assert ds.dropped_rows == 3 and ds.feature_names == ["SiO2", "MgO", "site=north", "site=south"]
    # asked for, the column is categories after all
    ds = load_dataset(DataSpec(source=str(path), target="rock type", categorical=("MgO",)))
    assert sum(name.startswith("MgO=") for name in ds.feature_names) == 39


def test_free_text_needs_asking_and_real_categories_stay_one_hot():
    frame = table().drop(columns="Sample")
    frame["colour"] = np.array(["red", "green", "blue"])[np.arange(40) % 3]
    frame["comment"] = [f"word {i % 25}" for i in range(40)]
    with pytest.raises(DataError, match=r"data.categorical: text column `comment` has 25 different values, which "
                       r"one-hot encoding would make into 25 features; list it in `data.categorical`"):
        load_dataset(DataSpec(source="frame", target="rock type"), data=frame)
    ds = load_dataset(DataSpec(source="frame", target="rock type", drop=("comment",)), data=frame)
    assert [n for n in ds.feature_names if "=" in n] == ["site=north", "site=south", "colour=blue",
                                                        "colour=green", "colour=red"]
    ds = load_dataset(DataSpec(source="frame", target="rock type", categorical=("comment",)), data=frame)
    assert sum(n.startswith("comment=") for n in ds.feature_names) == 25


def test_a_wide_csv_reads_without_pandas_warnings(tmp_path, recwarn):
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(1500, 400)).round(3), columns=[f"f{i}" for i in range(400)])
    wide["y"] = np.arange(1500) % 2
    wide.to_csv(tmp_path / "wide.csv", index=False)  # header-less reading used to warn about every column
    ds = load_dataset(DataSpec(source=str(tmp_path / "wide.csv"), target="y"))
    assert ds.x_train.shape == (1200, 400)
    assert [str(w.message)[:80] for w in recwarn.list] == []


def test_first_sheet_without_the_target_names_the_sheets_that_have_it(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["nothing here"]}).to_excel(writer, sheet_name="About", index=False)
        table().drop(columns="Sample").to_excel(writer, sheet_name="Run 1", index=False)
        pd.DataFrame({"other": [1, 2]}).to_excel(writer, sheet_name="Scratch", index=False)
        table().drop(columns="Sample").to_excel(writer, sheet_name="Run 2", index=False)
    with pytest.raises(DataError, match=r"data.sheet: the first sheet `About` of `book.xlsx` has no column "
                       r"`rock type`; sheet\(s\) `Run 1`, `Run 2` have it: set `data.sheet: Run 1`"):
        load_dataset(DataSpec(source=str(path), target="rock type"))
    with pytest.raises(DataError, match=r"data.target: no column `nope`"):  # no sheet has it: the usual error
        load_dataset(DataSpec(source=str(path), target="nope"))


def test_paths_in_a_spec_are_read_from_the_spec_folder(tmp_path, monkeypatch):
    from denselab.spec import load

    (tmp_path / "project" / "data").mkdir(parents=True)
    table().drop(columns="Sample").to_csv(tmp_path / "project" / "data" / "rocks.csv", index=False)
    spec = tmp_path / "project" / "spec.yaml"
    spec.write_text("data: {source: data/rocks.csv, target: rock type}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    exp = load(spec)
    assert exp.data.source == str(tmp_path / "project" / "data" / "rocks.csv")
    assert len(load_dataset(exp.data).y_train) == 32
    assert load("../project/spec.yaml").data.source == "../project/data/rocks.csv"
    assert load(spec, ["data.source=iris"]).data.source == "iris"  # --set is the command line's: as given
    spec.write_text("data: {source: rocks.csv, target: rock type}\n")
    with pytest.raises(DataError, match=r"data.source: no file `.*project/rocks.csv`: the spec gives `rocks.csv`, "
                       r"and a relative path in a spec is read from the spec's folder `.*project`; write the path"):
        load_dataset(load(spec).data)
    spec.write_text("data: {source: iris}\n")  # built-in names are not paths
    assert load(spec).data.source == "iris"
