"""One self-contained HTML page per study, plus results.json and a CSV per table.

`write_report` renders `Section`s (heading, text, figures, names of tables) with
the Jinja2 template `templates/report.html.j2`: figures become base64 PNGs, tables
HTML with 4 significant digits; no external URL is referenced. Everything is
written into a temporary sibling folder that is renamed to `out_dir` only when
complete, so an interrupted report never leaves a half-written folder; `check_out_dir`
(called before training) claims the folder for this process, so a second run started
with the same `--out` is refused at once instead of after its training.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> write_report(out, "Demo", [Section("Scores", "All good.", tables=["scores"])],
    ...              {"accuracy": 0.9}, {"scores": tables.scores_table({"accuracy": 0.9})}).name
    'report.html'
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from denselab.errors import DenselabError
from denselab.report import plots, tables  # noqa: F401  (plots chooses the Agg backend first)

FIGURE_DPI = 100
SIGNIFICANT_DIGITS = 4
_TABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Section:
    """One part of the page: a heading, plain text (blank lines split paragraphs),
    figures (rendered and closed by `write_report`) and names of tables to show."""

    heading: str
    text: str = ""
    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)


def _plain(obj):
    """Recursively turn `obj` into JSON-ready Python: numpy → lists/scalars, NaN/inf → None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_plain(v) for v in items]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, pd.DataFrame):
        return _plain(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return _plain(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (Path, datetime, date)):
        return str(obj) if isinstance(obj, Path) else obj.isoformat()
    return obj


def to_json(obj, indent: int | None = 2) -> str:
    """Strict JSON text of `obj`: numpy scalars and arrays as numbers and lists, NaN/±inf as null.

    Raises TypeError for objects with no JSON form (e.g. a fitted model).
    """
    return json.dumps(_plain(obj), indent=indent, allow_nan=False)


def _format_number(v) -> str:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "—"
        return f"{v:.{SIGNIFICANT_DIGITS}g}"
    return str(v)


def table_html(frame: pd.DataFrame) -> str:
    """A frame as an HTML table, numbers to 4 significant digits, NaN as a dash."""
    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(_format_number)
    show_index = not isinstance(frame.index, pd.RangeIndex)
    return shown.to_html(index=show_index, na_rep="—", border=0, classes="data", escape=True)


def figure_png(fig) -> str:
    """A figure as a base64 PNG string, and close it (figures hold a lot of memory).

    A figure laid out by constrained layout already fits its canvas, so it is drawn once;
    any other (or one with figure-level legends, which that layout may leave outside) is
    cropped to what it draws (`bbox_inches="tight"`, which costs a second drawing)."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    buffer = io.BytesIO()
    fits = isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine) and not fig.legends
    try:
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches=None if fits else "tight", facecolor="white")
    finally:
        _close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)  # a no-op for figures made without pyplot (every figure of `plots`)


_CLAIMS: dict = {}  # real path of an out folder → the open lock file this process holds for it


def _claim(out_dir: Path) -> None:
    """Hold an exclusive `flock` on `out_dir` until `write_report` has written it (or this process
    ends: the kernel drops the lock of a killed process, so nothing stale is left to clean up).

    Two runs started with the same `--out` both see the folder missing; without the lock both
    would train and the second would fail only when renaming its report into place.
    """
    import fcntl

    try:
        key = os.path.realpath(out_dir)
    except ValueError as exc:  # NUL bytes in the path
        raise DenselabError(f"--out: `{out_dir}` is not a usable path ({exc}); choose another folder") from None
    if key in _CLAIMS:  # this process claimed it already (write_report checks again)
        return
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    handle = open(os.path.join(tempfile.gettempdir(), f"denselab-out-{name}.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise DenselabError(f"--out: `{out_dir}` is being written by another denselab process"
                            f"{f' (pid {holder})' if holder.isdigit() else ''}; choose another folder, "
                            "or wait until that one has finished") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _CLAIMS[key] = handle


def release_out_dir(out_dir: Path) -> None:
    """Give up this process's claim on `out_dir` (done by `write_report`; harmless if none)."""
    try:
        handle = _CLAIMS.pop(os.path.realpath(out_dir), None)
    except ValueError:  # a path no claim can have been made for
        return
    if handle is not None:
        handle.close()  # closing the file drops its flock


def check_out_dir(out_dir: Path) -> None:
    """Raise DenselabError unless `write_report` can create `out_dir` (call before training).

    `out_dir` must not exist (or be an empty folder), no other process may be about to write
    it (it is claimed for this process until `write_report` has written it, see `_claim`), and
    its nearest existing parent must take a new folder: a temporary one is made and removed
    there, because permission bits do not tell (read-only mounts, root, ACLs).
    """
    out_dir = Path(out_dir)
    _claim(out_dir)
    try:
        _check_out_dir(out_dir)
    except BaseException:
        release_out_dir(out_dir)
        raise


def _check_out_dir(out_dir: Path) -> None:
    try:
        taken = out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir()))
        parent = next(p for p in out_dir.absolute().parents if p.exists())
    except ValueError as exc:  # NUL bytes in the path
        raise DenselabError(f"--out: `{out_dir}` is not a usable path ({exc}); choose another folder") from None
    except OSError as exc:
        raise _write_error(out_dir, exc) from None
    if taken:
        raise DenselabError(f"--out: `{out_dir}` already exists; choose a new folder or remove it")
    if not parent.is_dir():
        raise DenselabError(f"--out: `{parent}` is a file, so `{out_dir}` cannot be made inside it; "
                            "choose another folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".denselab-check-", dir=parent))
    except OSError as exc:
        raise _write_error(out_dir, exc) from None


def _write_error(out_dir: Path, exc: OSError) -> DenselabError:
    return DenselabError(f"--out: cannot write the report into `{out_dir}` ({exc.strerror or exc}); "
                         "choose a folder you can write to, with free space")


def _check(out_dir: Path, sections: list, frames: dict) -> None:
    check_out_dir(out_dir)
    for name in frames:
        if not _TABLE_NAME.match(str(name)):
            raise ValueError(f"write_report: table name `{name}` is not a safe file name; "
                             "use letters, digits, `_`, `-` or `.`")
    for s in sections:
        missing = [t for t in s.tables if t not in frames]
        if missing:
            raise ValueError(f"write_report: section `{s.heading}` shows table(s) {missing} "
                             f"that are not in `tables` (have: {sorted(frames)})")


def _render(title: str, sections: list, results: dict, frames: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    page = []
    for s in sections:
        page.append({
            "heading": s.heading,
            "paragraphs": [p.strip() for p in re.split(r"\n\s*\n", s.text or "") if p.strip()],
            "figures": [figure_png(f) for f in s.figures],
            "tables": [{"name": t, "html": table_html(frames[t])} for t in s.tables],
        })
    manifest = results.get("manifest")
    return env.get_template("report.html.j2").render(
        title=title, sections=page, generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        manifest=json.loads(to_json(manifest)) if manifest is not None else None,
        spec_yaml=results.get("spec_yaml"),
    )


def write_report(out_dir: Path, title: str, sections: list, results: dict, tables: dict) -> Path:
    """Write `report.html`, `results.json` and `<name>.csv` per table into a new `out_dir`.

    Args:
        out_dir: a folder that does not exist yet (or is empty).
        title: the page title.
        sections: `Section`s in page order; their figures are closed once rendered.
        results: every number of the study, saved as strict JSON (NaN → null). Optional keys
            `manifest` (seed, versions) and `spec_yaml` are shown under "Reproducibility".
        tables: `{name: DataFrame}`; each becomes `<name>.csv`, and sections show them by name.

    Returns the path of report.html. Raises DenselabError if `out_dir` exists and is not empty,
    or when writing fails (disk full, no permission); nothing is left behind then.
    """
    out_dir = Path(out_dir)
    try:
        _check(out_dir, sections, tables)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
        try:
            (tmp / "results.json").write_text(to_json(results) + "\n", encoding="utf-8")
            for name, frame in tables.items():
                frame.to_csv(tmp / f"{name}.csv", index=not isinstance(frame.index, pd.RangeIndex))
            (tmp / "report.html").write_text(_render(title, sections, results, tables), encoding="utf-8")
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; a report folder is ordinary
            if out_dir.exists():
                out_dir.rmdir()  # empty (checked above); rename cannot replace it everywhere
            tmp.rename(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as exc:  # disk full, or permissions changed since check_out_dir
        raise _write_error(out_dir, exc) from None
    finally:
        release_out_dir(out_dir)
        for s in sections:  # close figures even when rendering failed part-way
            for f in s.figures:
                _close(f)
    return out_dir / "report.html"
