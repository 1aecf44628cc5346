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
