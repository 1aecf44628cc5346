"""Where rows come from: files (csv, xlsx, xls, npz), Python objects, built-in sets.

Owns `DataSpec.source`, `sheet`, `header` and `n`: everything up to a pandas
DataFrame with named columns. Choosing and encoding columns is `prepare.py`'s job.

Example:
    >>> frame, target = read_table(DataSpec(source="iris"))
    >>> target, frame.shape
    ('species', (150, 5))
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from denselab.data import synthetic
from denselab.errors import DataError, suggest
from denselab.spec import DataSpec, written_source

FILES = Path(__file__).parent / "files"


@dataclass(frozen=True)
class Builtin:
    """A bundled data set: loader(spec) → frame, its default target, one-line story."""

    load: Callable[[DataSpec], pd.DataFrame]
    target: str
    about: str


def _rocks(spec):
    frame = pd.read_csv(FILES / "rocks" / "mamani2010_5class_majors.csv")
    oxides = ["SiO2", "TiO2", "Al2O3", "Fe2O3", "MnO", "MgO", "CaO", "Na2O", "K2O", "P2O5"]
    return frame[oxides + ["Rock_type"]]


def _workshop_regression(spec):
    path = FILES / "greght-workshop"
    parts = [pd.read_csv(path / f"dataRegression_{s}.csv", header=None, names=["x1", "x2", "y"])
             for s in ("train", "test")]
    return pd.concat(parts, ignore_index=True)


def _workshop_iris(spec):
    path = FILES / "greght-workshop"
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    parts = [pd.read_csv(path / f"iris_{s}.csv", header=None, names=names) for s in ("training", "test")]
    return pd.concat(parts, ignore_index=True)


def _lcpb(spec):
    path = FILES / "lcpb-dnn-2022"
    x = np.loadtxt(path / "data-for-DNN-1.dat")
    return pd.DataFrame({
        "x0": x[:, 0], "x1": x[:, 1],
        "f1": np.loadtxt(path / "labels-for-DNN-1.dat").astype(int),
        "f2": np.loadtxt(path / "labels-for-DNN-2.dat").astype(int),
    })


def _sklearn(loader_name: str, target: str):
    def load(spec):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
        frame = bunch.frame.rename(columns={"target": target})
        if hasattr(bunch, "target_names") and loader_name == "load_iris":
            frame[target] = np.asarray(bunch.target_names)[frame[target].to_numpy()]
        return frame
    return load


def _generator(name: str):
    def load(spec):
        return synthetic.frame(name, n=spec.n, seed=spec.seed)
    return load


SUNSPOT_LAGS = 11  # one solar cycle of previous years per row


def _sunspots(spec):
    """Yearly sunspot numbers 1700-2008 (statsmodels' bundled copy) as lagged windows.

    One row per predicted year 1711-2008, in time order: the previous SUNSPOT_LAGS
    years oldest first (lag_11 … lag_1, so `model.input_shape: [11, 1]` reads the
    window forwards in time) and the target `next`.
    """
    try:
        from statsmodels.datasets import sunspots
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("data.source: `sunspots` needs statsmodels (pip install statsmodels)") from None
    series = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=float)
    k = SUNSPOT_LAGS
    columns = {f"lag_{lag}": series[k - lag: len(series) - lag] for lag in range(k, 0, -1)}
    return pd.DataFrame({**columns, "next": series[k:]})


BUILTINS: dict[str, Builtin] = {
    "rocks": Builtin(_rocks, "Rock_type", "Central Andes whole-rock chemistry, 1178 samples x 10 oxides, "
                     "5 rock types (Mamani et al. 2010, GSA Data Repository Table DR2)"),
    "iris": Builtin(_sklearn("load_iris", "species"), "species", "Fisher's iris, 150 x 4, 3 species (scikit-learn)"),
    "workshop-regression": Builtin(_workshop_regression, "y", "2-input nonlinear regression, 150 rows "
                                   "(Teichert's Keras workshop; rows 0-109 train, 110-149 test)"),
    "workshop-iris": Builtin(_workshop_iris, "species", "iris as 120 + 30 rows, classes 0/1/2 "
                             "(Teichert's Keras workshop)"),
    "lcpb-2d": Builtin(_lcpb, "f1", "4000 points in [-50, 50]^2 with labels f1 (triangle) and f2 (cosine) "
                       "(LCPB 2021/22 course data)"),
    "digits": Builtin(_sklearn("load_digits", "digit"), "digit", "8x8 handwritten digits, 1797 x 64, "
                      "10 classes (scikit-learn; MNIST's offline stand-in)"),
    "f1": Builtin(_generator("f1"), "label", "points uniform in [-50, 50]^2, label x0>-20 & x1>-40 & x0+x1<40"),
    "f2": Builtin(_generator("f2"), "label", "points uniform in [-50, 50]^2, label "
                  "sign(x0+x1)*sign(x0)*cos(|x|/2pi) > 0"),
    "f3": Builtin(_generator("f3"), "label", "points uniform in [-50, 50]^2, label x1 < 50*exp(-x0^2/50)"),
    "circles": Builtin(_generator("circles"), "label", "2-D: a disk (0) inside a ring (1), in [-50, 50]^2"),
    "xor": Builtin(_generator("xor"), "label", "2-D: uniform points, label 1 where x0 and x1 have the same sign"),
    "spirals": Builtin(_generator("spirals"), "label", "2-D: two interleaved spirals (labels 0 and 1)"),
    "gaussians": Builtin(_generator("gaussians"), "label", "2-D: two overlapping Gaussian blobs (labels 0 and 1)"),
    "sunspots": Builtin(_sunspots, "next", "yearly sunspot numbers 1700-2008 as 298 windows: lag_11..lag_1 "
                        "(previous 11 years, oldest first) -> next year; rows in time order (statsmodels' "
                        "bundled copy of NOAA NGDC yearly data, public domain)"),
}


def read_table(spec: DataSpec, data=None) -> tuple[pd.DataFrame, str | int]:
    """The rows named by `spec.source` (or given as `data`) and the target column.

    data: an optional pandas DataFrame, or a tuple (X, y) of arrays, used instead of
    reading `spec.source`.
    """
    if data is not None:
        frame, default = _from_python(data)
    elif spec.source in BUILTINS:
        builtin = BUILTINS[spec.source]
        frame, default = builtin.load(spec), builtin.target
    else:
        frame, default = _read_file(spec), None
    target = spec.target if spec.target is not None else default
    if target is None:
        raise DataError(
            f"data.target: not given; name the column to predict, one of: {_columns(frame)}"
        )
    if frame.shape[0] == 0:
        raise DataError(f"data.source: `{spec.source}` has a header but no rows")
    seen: dict = {}
    for i, name in enumerate(str(c) for c in frame.columns):  # here, so an upload is refused at once
        if name in seen:
            raise DataError(f"data.source: column `{name}` appears twice in `{spec.source}` (columns "
                            f"{seen[name] + 1} and {i + 1}); rename one of them")
        seen[name] = i
    return frame, target


def _from_python(data) -> tuple[pd.DataFrame, str | None]:
    if isinstance(data, pd.DataFrame):
        return data, None
    if isinstance(data, tuple) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if x.ndim != 2 or len(x) != len(y):
            raise DataError(f"data: expected (X, y) with X of shape (rows, features) and len(y) == rows; "
                            f"got X {x.shape} and y {y.shape}")
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
        frame["y"] = y
        return frame, "y"
    raise DataError(f"data: expected a pandas DataFrame or a tuple (X, y), got {type(data).__name__}")


def _read_file(spec: DataSpec) -> pd.DataFrame:
    path = Path(spec.source).expanduser()
    try:
        found, folder = path.exists(), path.is_dir()
    except (OSError, ValueError):  # a name no file can have: NUL bytes, too long
        found = folder = False
    if not found:
        written = written_source(spec.source)
        if written:
            raise DataError(f"data.source: no file `{spec.source}`: the spec gives `{written[0]}`, and a relative "
                            f"path in a spec is read from the spec's folder `{written[1]}`; write the path from "
                            "there, or an absolute one")
        raise DataError(
            f"data.source: no file `{spec.source}` and no built-in set of that name"
            f"{suggest(spec.source, BUILTINS)}; give a csv/xlsx/xls/npz path or one of: {', '.join(BUILTINS)}"
        )
    if folder:
        raise DataError(f"data.source: `{spec.source}` is a folder; give a csv, xlsx, xls or npz file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"data.source: `{spec.source}` cannot be read ({exc.strerror}); "
                        "check the file's permissions") from None
    if not raw.strip():
        raise DataError(f"data.source: `{spec.source}` is empty; it needs a header row and data rows")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        frame = _with_header(_read_workbook(path, raw, spec.sheet), spec.header, spec.source)
        if spec.sheet is None and isinstance(spec.target, str) and spec.target not in frame.columns:
            _point_to_sheet(path, raw, spec)
        return frame
    if suffix == ".npz":
        return _read_npz(path)
    return _with_header(_read_csv(path, raw, spec.delimiter, spec.decimal), spec.header, spec.source)


def _point_to_sheet(path: Path, raw: bytes, spec: DataSpec) -> None:
    """The first sheet lacks the target: raise naming the sheets that have it (if any do)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xlrd's deprecation, as in _read_workbook (which read this book already)
        names = pd.ExcelFile(io.BytesIO(raw), engine="openpyxl" if raw[:2] == b"PK" else "xlrd").sheet_names
    having = []
    for name in names[1:]:
        try:
            columns = _with_header(_read_workbook(path, raw, name), spec.header, spec.source).columns
        except DataError:  # an empty or unreadable sheet has no target either
            continue
        if spec.target in columns:
            having.append(name)
    if having:
        raise DataError(f"data.sheet: the first sheet `{names[0]}` of `{path.name}` has no column `{spec.target}`; "
                        f"sheet(s) {', '.join(f'`{n}`' for n in having)} have it: set `data.sheet: {having[0]}`")


def _read_workbook(path: Path, raw: bytes, sheet) -> pd.DataFrame:
    is_zip = raw[:4] == b"PK\x03\x04"
    is_ole = raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    if not (is_zip or is_ole):
        raise DataError(f"data.source: `{path.name}` is not an Excel workbook (maybe a csv renamed "
                        f"{path.suffix}?); save it as real xlsx or rename it to .csv")
    engine = "openpyxl" if is_zip else "xlrd"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas marks xlrd deprecated; it still reads legacy .xls
            book = pd.ExcelFile(io.BytesIO(raw), engine=engine)
    except Exception as exc:  # openpyxl and xlrd raise a dozen types on a damaged file, none of them ours
        raise _unreadable(path, "a workbook", exc) from None
    names = book.sheet_names
    if not names:
        raise DataError(f"data.source: `{path.name}` is a workbook without sheets; open it in its program "
                        "and save it again, or export it as csv")
    if sheet is None:
        chosen = names[0]
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise DataError(f"data.sheet: index {sheet} is out of range; `{path.name}` has sheets "
                            f"{', '.join(map(repr, names))} (0-{len(names) - 1})")
        chosen = names[sheet]
    elif sheet not in names:
        raise DataError(f"data.sheet: no sheet `{sheet}` in `{path.name}`{suggest(sheet, names)}; "
                        f"sheets: {', '.join(names)}")
    else:
        chosen = sheet
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grid = pd.read_excel(book, sheet_name=chosen, header=None)
    except Exception as exc:  # a damaged sheet inside a readable archive: same as above
        raise _unreadable(path, f"a workbook (sheet `{chosen}`)", exc) from None
    if grid.dropna(how="all").empty:
        raise DataError(f"data.sheet: sheet `{chosen}` of `{path.name}` is empty")
    return grid


def _unreadable(path: Path, what: str, exc: Exception) -> DataError:
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return DataError(f"data.source: `{path.name}` cannot be read as {what} ({detail}); open it in its "
                     "program and save it again, or export it as csv")


SNIFF_CHARS = 4096  # the delimiter is guessed from at most this much of a csv's start


def _read_csv(path: Path, raw: bytes, delimiter: str | None = None, decimal: str | None = None) -> pd.DataFrame:
    """A csv's cells as a grid of text and numbers (the header is found later).

    delimiter: `data.delimiter`, else sniffed. decimal: `data.decimal`, else `,` when a
    csv separated by something other than commas writes more numbers as `0,5` than `0.5`.
    """
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a UTF-16 byte-order mark: Excel's "Unicode text"
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(f"data.source: `{path.name}` starts like UTF-16 text but does not decode as it; "
                            "save it as UTF-8 csv") from None
    elif b"\x00" in raw[:4096]:
        raise DataError(f"data.source: `{path.name}` looks binary, not a csv (it holds NUL bytes); if it is "
                        "UTF-16/32 text save it as UTF-8, else export it as csv, xlsx or npz")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # every byte is a latin-1 character: old Excel and European exports
    # csv.Sniffer's quote regex is worse than quadratic in the sample (64 KB of `","` took
    # 23 s and holds the GIL, freezing `denselab serve`): sniff the first lines, 4 KB at most.
    sample = "".join(text[:65536].splitlines(keepends=True)[:20])[:SNIFF_CHARS]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t| ").delimiter
        except csv.Error:
            delimiter = ","
    try:
        # dtype=object: every cell as written (typed later, per column, once the header is known);
        # pandas' own typing warns per chunk with a list of every column (118 KB on a wide file)
        grid = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, skipinitialspace=True, dtype=object,
                           engine="python" if delimiter == " " else "c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise DataError(f"data.source: `{path.name}` is not a regular table ({first}); every row needs the "
                        f"same number of fields (if they are not separated by `{delimiter}`, set `data.delimiter`)"
                        ) from None
    if grid.shape[1] == 1 and any(c in sample for c in ";\t|"):
        raise DataError(f"data.delimiter: `{path.name}` reads as a single column split by `{delimiter}`; set "
                        "`data.delimiter` to the character between its fields, e.g. `;` (and `data.decimal: \",\"` "
                        "if numbers are written 0,5)")
    if decimal is None:
        decimal = "," if delimiter != "," and _decimal_commas(grid) else "."
    if decimal == ",":  # 0,5 → 0.5 in cells that are numbers written so; other text stays as it is
        grid = grid.replace(_COMMA_NUMBER, r"\1.\2", regex=True)
    return grid


_COMMA_NUMBER = r"^\s*([+-]?\d*),(\d+(?:[eE][+-]?\d+)?)\s*$"
_DOT_NUMBER = r"^\s*[+-]?\d*\.\d+(?:[eE][+-]?\d+)?\s*$"


def _decimal_commas(grid: pd.DataFrame) -> bool:
    """True when more cells look like 0,5 than like 0.5 (a European export); the first 1 000 rows tell."""
    cells = pd.Series(grid.head(1000).to_numpy().ravel()).dropna().astype(str)
    return cells.str.match(_COMMA_NUMBER).sum() > cells.str.match(_DOT_NUMBER).sum()


def _read_npz(path: Path) -> pd.DataFrame:
    save = "save it with numpy.savez(path, x=X, y=y)"
    try:
        arrays = np.load(path, allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):
            raise DataError(f"data.source: `{path.name}` holds a single array, not an npz archive; {save}")
        with arrays:
            keys = {k.lower(): k for k in arrays.files}
            if "x" not in keys or "y" not in keys:
                raise DataError(f"data.source: `{path.name}` must hold arrays `x` and `y`, it has "
                                f"{', '.join(arrays.files) or 'none'}; {save}")
            x, y = arrays[keys["x"]], arrays[keys["y"]]
    except DataError:
        raise
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, BadZipFile… on a damaged archive
        raise _unreadable(path, "an npz archive", exc) from None
    if x.ndim == 0 or x.dtype.kind not in "biuf" or y.dtype.kind not in "biufUS":
        raise DataError(f"data.source: `{path.name}` needs numeric `x` (rows first) and numeric or text `y`, "
                        f"got x {x.dtype} {x.shape} and y {y.dtype} {y.shape}; {save}")
    if x.size == 0:
        raise DataError(f"data.source: `{path.name}` holds no rows (x has shape {x.shape}); {save}")
    if y.ndim != 1:
        raise DataError(f"data.source: `{path.name}`: `y` must be one label or value per row, got shape "
                        f"{y.shape}; {save}")
    return _from_python((x.reshape(len(x), -1), y))[0]


def _with_header(grid: pd.DataFrame, header, source) -> pd.DataFrame:
    grid = grid.dropna(how="all").dropna(axis=1, how="all").reset_index(drop=True)
    if header == "auto":
        header = _find_header(grid)
    elif header == "none":
        header = None
    if header is None:
        if len(grid) == 1 and not any(_is_number(v) for v in grid.iloc[0] if not pd.isna(v)):
            raise DataError(f"data.source: `{source}` has a single row of text (a header and no data?); "
                            "add the data rows below it")
        grid.columns = list(range(grid.shape[1]))
        return grid.apply(_numeric_if_possible)
    if not 0 <= header < len(grid):
        raise DataError(f"data.header: row {header} is outside `{source}` ({len(grid)} rows); give a row "
                        f"index from 0 to {len(grid) - 1}, `auto` or `none`")
    names = [str(v).strip() if not pd.isna(v) else f"column_{i}" for i, v in enumerate(grid.iloc[header])]
    body = grid.iloc[header + 1:].reset_index(drop=True)
    body.columns = names
    return body.apply(_numeric_if_possible)


def _find_header(grid: pd.DataFrame) -> int | None:
    """The first row that looks like column names above rows of data, else None.

    A header row has text in most columns and no numbers, and the row below it has
    at least one number (so a title row above the header is skipped).
    """
    width = grid.shape[1]
    for i in range(min(len(grid) - 1, 20)):
        row = grid.iloc[i]
        cells = [v for v in row if not pd.isna(v)]
        if len(cells) < max(1, width // 2) or any(_is_number(v) for v in cells):
            continue
        below = grid.iloc[i + 1]
        if any(_is_number(v) for v in below if not pd.isna(v)):
            return i
    return None


def _is_number(value) -> bool:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return True
    try:
        float(str(value))
        return True
    except ValueError:
        return False


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    converted = pd.to_numeric(column, errors="coerce")
    if converted.notna().sum() == column.notna().sum():
        return converted
    return column


def _columns(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:20]) + (" …" if len(names) > 20 else "")


def describe() -> list[tuple[str, str, str]]:
    """(name, default target, description) of every built-in set, for `denselab datasets`."""
    return [(name, b.target, b.about) for name, b in BUILTINS.items()]
