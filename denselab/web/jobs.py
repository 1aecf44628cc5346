"""Uploads, forms and training jobs of `denselab serve` (no training logic of its own).

A *job* turns the page's form into an `Experiment`, prepares the data with
`denselab.data`, builds members with the comparison core (`Plan.holdout(...).members`) and trains them with the
fleet, whose `on_chunk` hook gives the live curves and the weights from which the
map (decision boundary or predicted surface) is computed. Events are appended to
`job.events`; the app streams them as server-sent events.

The hook is also where a job is controlled: it raises `Cancelled` (Stop, the page
going away, nobody watching), waits while paused, lets one chunk through per Step,
and paces a live run. The fleet runs `chunk_epochs` epochs per call, chosen so one
call lasts about `CHUNK_S` (stop within a second) and a run shows about `FRAMES`
frames at most `1 / FRAME_S` per second. Form limits (`budget`) keep one epoch under
`MAX_EPOCH_S` and a run under `MAX_RUN_S` on this machine's measured speed.
Sessions, quotas and expiry live in `sessions.py`.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import threading
import time
import traceback
import uuid
import zipfile
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from denselab.errors import DataError, DenselabError, SpecError
from denselab.web.sessions import Limits, Session, Upload, safe_name

TWO_D = ("f1", "f2", "f3", "lcpb-2d", "circles", "xor", "spirals", "gaussians")
GENERATED = ("f1", "f2", "f3", "circles", "xor", "spirals", "gaussians")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "leaky_relu", "gelu", "silu", "softplus", "linear")
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
MISSING = ("error", "drop", "mean")
MAX_MEMBERS = 10
MAX_LAYERS = 8
GRID = 60  # map resolution per axis
MAX_POINTS = 800  # data points drawn on the map
FRAMES = 100  # a run is shown in about this many frames (a 50-epoch run: one per epoch)
FRAME_S = 0.1  # at most ten frames a second: the page cannot draw faster, the stream need not carry more
CHUNK_S = 0.25  # aim of one fleet call (Stop is checked between calls)
MAX_EPOCH_S = 0.3  # one epoch must be shorter than this: the smallest unit Stop can interrupt (on a busy
                   # machine an epoch takes 2-3 times its estimate, and Stop must still answer within a second)
MAX_RUN_S = 600.0  # the playground's budget for one run; bigger runs belong to `denselab run`
MAX_WEIGHTS = 20_000_000  # weights of all networks of a run (x 4 bytes x optimizer state: well under 1 GB)
# Measured on the 2-core CI machine (fleet, CPU): about 2.8e-10 s per training row and
# parameter per member (0.24 s for an epoch of 6 400 rows x 132 k parameters) plus about
# 1e-5 s per minibatch step; the constants below are those with a margin.
ROW_PARAM_S = 3e-10
STEP_S = 3e-5
TRAIN_LOCK = threading.Lock()  # one training at a time on this machine (the fleet uses every core)
LABEL_NAMES = ("target", "label", "labels", "class", "classes", "y", "species", "outcome", "category",
               "diagnosis", "survived", "type", "kind", "grade", "quality")


class Cancelled(Exception):
    """Raised inside the training hook when the job was stopped (`reason` says why)."""


# --- uploads ----------------------------------------------------------------------

def new_upload(session: Session, filename: str) -> tuple[str, str, Path]:
    """(id, display name, path) for an upload about to be streamed in; refuses unknown types."""
    name = safe_name(filename)
    if Path(name).suffix.lower() not in SUFFIXES:
        raise DataError(f"upload: `{name}` is not a csv, xlsx or xls file; export the table as csv or xlsx")
    uid = uuid.uuid4().hex[:12]
    folder = session.dir / "uploads" / uid
    folder.mkdir(parents=True)
    return uid, name, folder / name


def add_upload(session: Session, uid: str, name: str, path: Path) -> Upload:
    """Read a stored upload's table (first sheet); the upload is deleted if it is not one."""
    up = Upload(uid, path, name, path.stat().st_size)
    try:
        up.info = describe_table(up, None)
    except DenselabError:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    session.uploads[uid] = up
    return up


def describe_table(up: Upload, sheet) -> dict:
    """What the page needs to pick a target and features: columns, kinds, missing counts, sheets."""
    import pandas as pd

    from denselab.data.sources import read_table
    from denselab.spec import DataSpec

    sheets = None
    if up.path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        frame, _ = read_table(DataSpec(source=str(up.path), target=0, sheet=sheet))  # its errors, one line
        if sheet is None:
            sheets, sheet = _largest_sheet(up.path)
            frame, _ = read_table(DataSpec(source=str(up.path), target=0, sheet=sheet))
        else:
            sheets = up.info.get("sheets")
    else:
        frame, _ = read_table(DataSpec(source=str(up.path), target=0))
    columns = [str(c) for c in frame.columns]
    numeric = [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    distinct = {str(c): int(frame[c].nunique()) for c in frame.columns}
    missing = {str(c): int(n) for c, n in frame.isna().sum().items() if n}
    return {"columns": columns, "numeric": numeric, "rows": int(len(frame)), "distinct": distinct,
            "missing": missing, "missing_rows": int(frame.isna().any(axis=1).sum()),
            "sheets": sheets, "sheet": sheet, "target": default_target(columns, numeric, distinct, len(frame))}


def _largest_sheet(path: Path) -> tuple[list, str]:
    """The workbook's sheet names and the one with the most filled cells: a title or notes
    sheet often comes first (read first, an xlsx showed "2 rows, 1 columns")."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xlrd's deprecation, openpyxl's style notes
        with pd.ExcelFile(path) as book:
            names = [str(n) for n in book.sheet_names]
            cells = {n: int(pd.read_excel(book, sheet_name=n, header=None).notna().to_numpy().sum()) for n in names}
    return names, max(names, key=lambda n: (cells[n], -names.index(n)))


def default_target(columns: list, numeric: list, distinct: dict, rows: int) -> str:
    """The column a new user most likely wants to predict.

    1. a column named like a label (`species`, `class`, `target`, `…_type`, …), text
       ones first (a numeric `y` may as well be a coordinate);
    2. else the last text column with 2 to 20 values (class labels are text more often
       than not, and usually few), skipping ids (every value different);
    3. else the last column (the convention of most exported tables).
    Penguins gives `species`, not its last column `year`; iris and the rock tables their label.
    """
    def label_like(c):
        low = c.lower().strip()
        named = low in LABEL_NAMES or low.endswith(("_type", " type", "_class", " class", "_label"))
        return named and 2 <= distinct.get(c, 0) and (distinct.get(c, 0) < rows or rows < 10)

    for c in [c for c in columns if c not in numeric] + [c for c in columns if c in numeric]:
        if label_like(c):
            return c
    for c in reversed(columns):
        if c not in numeric and 2 <= distinct.get(c, 0) <= 20:
            return c
    return columns[-1]


# --- the form → a Plan --------------------------------------------------------------

def _num(form: dict, key: str, default, kind=float, low=None, high=None):
    value = form.get(key, default)
    if value in (None, ""):
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(f"{key}: got a {type(value).__name__}; expected a number")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{key}: got `{str(value)[:40]}`; expected a number") from None
    if not math.isfinite(value):
        raise SpecError(f"{key}: got `{value}`; expected a finite number")
    if kind is int:
        if value != int(value):
            raise SpecError(f"{key}: got {value:g}; expected a whole number")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise SpecError(f"{key}: got {value:g}; expected a value in [{low:g}, {high:g}]")
    return value


def _text(form: dict, key: str, default: str, choices=None) -> str:
    value = form.get(key, default)
    if value in (None, ""):
        value = default
    if not isinstance(value, str):
        raise SpecError(f"{key}: got a {type(value).__name__}; expected text")
    if len(value) > 200:
        raise SpecError(f"{key}: longer than 200 characters")
    if choices is not None and value not in choices:
        raise SpecError(f"{key}: got `{value[:40]}`; expected one of: {', '.join(choices)}")
    return value


def _names(form: dict, key: str, known: list) -> list | None:
    """A list of column names from `known` (None when not given)."""
    value = form.get(key)
    if value in (None, "", []):
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{key}: expected a list of column names")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise SpecError(f"{key}: no column `{unknown[0][:40]}`; columns: {', '.join(known)[:300]}")
    return list(dict.fromkeys(value))


@dataclass
class Plan:
    """What one job trains: the experiment, the members' variations and the map."""

    experiment: object
    labels: list
    learning_rates: list | None  # one member per rate (one seed), else one member per seed
    map_features: list
    upload: Upload | None
    vary: str
    live: bool = True  # pace the run so it is watched (about FRAMES frames), else as fast as it goes
    epoch_s: float = 0.0  # estimated seconds per epoch (all members)


def data_from_form(form: dict, session: Session) -> tuple[dict, Upload | None]:
    """The `data:` section the form asks for (and the upload it reads)."""
    source = _text(form, "source", "f1")
    upload = None
    if source.startswith("upload:"):
        upload = session.uploads.get(source.split(":", 1)[1])
        if upload is None:
            raise DataError("data.source: the uploaded file is gone; upload it again")
        sheet = form.get("sheet")
        info = upload.info
        if sheet not in (None, "") and (info.get("sheets") is None or sheet not in info["sheets"]):
            raise SpecError(f"data.sheet: no sheet `{str(sheet)[:40]}` in `{upload.name}`"
                            + (f"; sheets: {', '.join(info['sheets'])}" if info.get("sheets") else " (not a workbook)"))
        if sheet not in (None, "") and sheet != info.get("sheet"):
            upload.info = info = describe_table(upload, sheet)
        columns = info["columns"]
        target = _text(form, "target", info["target"])
        if target not in columns:
            raise SpecError(f"data.target: no column `{target[:40]}`; columns: {', '.join(columns)[:300]}")
        features = _names(form, "features", columns) or [c for c in columns if c != target]
        data = {"source": str(upload.path), "target": target, "features": features,
                "missing": _text(form, "missing", "error", MISSING)}
        if info.get("sheet") is not None:
            data["sheet"] = info["sheet"]
    elif source in TWO_D:
        target = "f1" if source == "lcpb-2d" else "label"
        if source == "lcpb-2d" and form.get("target") in ("f1", "f2"):
            target = form["target"]
        data = {"source": source, "target": target, "features": ["x0", "x1"]}
        if source in GENERATED:
            data["n"] = _num(form, "points", 2000, int, 50, 20000)
    else:
        raise DataError(f"data.source: `{source[:40]}` is not one of the page's sets: {', '.join(TWO_D)}")
    data["test_size"] = _num(form, "test_size", 0.2, float, 0.05, 0.9)
    data["task"] = _text(form, "task", "auto", ("auto", "classification", "regression"))
    return data, upload


def plan_from_form(form: dict, session: Session) -> Plan:
    """Validate the page's form and build the Experiment (errors: SpecError/DataError one-liners)."""
    from denselab.spec import Experiment

    if not isinstance(form, dict):
        raise SpecError("form: expected a JSON object")
    data, upload = data_from_form(form, session)
    hidden = form.get("hidden") or [{"units": 8, "activation": "relu"}]
    if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS:
        raise SpecError(f"model.hidden: expected 1 to {MAX_LAYERS} layers")
    dropout = _num(form, "dropout", 0.0, float, 0.0, 0.95)
    l1 = _num(form, "l1", 0.0, float, 0.0, 10.0)
    l2 = _num(form, "l2", 0.0, float, 0.0, 10.0)
    layers = []
    for i, layer in enumerate(hidden):
        if not isinstance(layer, dict):
            raise SpecError(f"model.hidden[{i}]: expected {{units, activation, dropout}}")
        spec = {"units": _num(layer, "units", 8, int, 1, 1024),
                "activation": _text(layer, "activation", "relu")}
        rate = _num(layer, "dropout", dropout, float, 0.0, 0.95)  # per layer; the form-wide value by default
        if rate:
            spec["dropout"] = rate
        if l1:
            spec["l1"] = l1
        if l2:
            spec["l2"] = l2
        layers.append(spec)
    seed = _num(form, "seed", 0, int, 0, 2 ** 31 - 1)
    n_members = _num(form, "members", 1, int, 1, MAX_MEMBERS)
    vary = _text(form, "vary", "seed", ("seed", "learning_rate"))
    lr = _num(form, "learning_rate", 0.01, float, 1e-7, 10.0)
    lrs = None
    if vary == "learning_rate":
        raw = form.get("learning_rates") or []
        if isinstance(raw, str):
            raw = [v for v in re.split(r"[,\s;]+", raw) if v][:MAX_MEMBERS + 1]
        if not isinstance(raw, list):
            raw = [raw]
        try:
            lrs = [float(v) for v in raw if not isinstance(v, bool)]
        except (TypeError, ValueError):
            raise SpecError("learning rates: expected numbers separated by commas, e.g. 0.001, 0.01, 0.1") from None
        if not 1 <= len(lrs) <= MAX_MEMBERS or not all(1e-7 <= v <= 10 for v in lrs):
            raise SpecError(f"learning rates: expected 1 to {MAX_MEMBERS} values in [1e-7, 10], "
                            "e.g. 0.001, 0.01, 0.1")
        lr, n_members = lrs[0], len(lrs)
    name = re.sub(r"[^A-Za-z0-9_-]", "-", Path(upload.name).stem if upload else data["source"])[:40] or "web"
    raw = {
        "name": f"web-{name}",
        "description": "trained in denselab serve",
        "seed": seed,
        "data": data,
        "model": {"hidden": layers, "kernel_initializer": _text(form, "initializer", "glorot_uniform")},
        "train": {
            "optimizer": _text(form, "optimizer", "adam"), "learning_rate": lr,
            "epochs": _num(form, "epochs", 50, int, 1, 5000),
            "batch_size": _num(form, "batch_size", 32, int, 1, 100000),
            "noise_sigma": _num(form, "noise_sigma", 0.0, float, 0.0, 1e6),
            "noise_fraction": _num(form, "noise_fraction", 0.0, float, 0.0, 10.0),
        },
        "evaluate": {"folds": _num(form, "folds", 5, int, 2, 20)},
    }
    exp = Experiment.from_dict(raw)
    labels = [f"seed {i + 1}" for i in range(n_members)] if vary == "seed" else [f"lr {v:g}" for v in lrs]
    map_features = _names(form, "map", list(data["features"])) or list(data["features"])[:2]
    plan = Plan(exp, labels, lrs, map_features, upload, vary,
                live=_text(form, "speed", "live", ("live", "fast")) == "live")
    plan.epoch_s = budget(exp, _rows(data, upload), _inputs(data, upload), n_members)
    return plan


def _rows(data: dict, upload: Upload | None) -> int:
    if upload is not None:
        return upload.info["rows"]
    return data.get("n", 4000)  # lcpb-2d has 4000 rows


def _inputs(data: dict, upload: Upload | None) -> int:
    """Input width after one-hot encoding (text columns: one input per value)."""
    if upload is None:
        return len(data["features"])
    info = upload.info
    return sum(1 if f in info["numeric"] else max(1, info["distinct"].get(f, 1)) for f in data["features"])


def budget(exp, rows: int, inputs: int, members: int) -> float:
    """Estimated seconds per epoch; refuses a run over `MAX_EPOCH_S` per epoch or `MAX_RUN_S` in all."""
    train = exp.train
    n = max(1, int(rows * (1 - exp.data.test_size) * (1 + train.noise_fraction)))
    width, params = inputs, 0
    for layer in exp.model.hidden:
        params += width * layer.units + layer.units
        width = layer.units
    params += width * 10 + 10  # the output layer (at most ten classes' worth, generously)
    steps = math.ceil(n / train.batch_size)
    epoch = members * (n * params * ROW_PARAM_S + steps * STEP_S)
    if members * params > MAX_WEIGHTS:
        raise SpecError(f"model.hidden: {members} network(s) of {params} weights pass the playground's "
                        f"{MAX_WEIGHTS / 1e6:g} million (memory); use fewer units, layers or networks")
    epoch += members * GRID * GRID * params * ROW_PARAM_S / 3  # each frame's map: a forward pass over the grid
    if epoch > MAX_EPOCH_S:
        raise SpecError(f"model.hidden: one epoch of this network on {n} rows would take about {epoch:.1f} s "
                        f"here (the playground allows {MAX_EPOCH_S:g} s, so Stop answers at once); use fewer "
                        "units, rows or networks, a larger batch size, or `denselab run` with the spec")
    if epoch * train.epochs > MAX_RUN_S:
        raise SpecError(f"train.epochs: {train.epochs} epochs would take about {epoch * train.epochs / 60:.0f} "
                        f"min here (the playground allows {MAX_RUN_S / 60:g} min); use fewer epochs, or "
                        "`denselab run` with the spec for long runs")
    return epoch


def chunk_epochs(plan: Plan) -> int:
    """Epochs per fleet call: about FRAMES calls a run, none longer than about CHUNK_S."""
    epochs = plan.experiment.train.epochs
    by_time = max(1, int(CHUNK_S / max(plan.epoch_s, 1e-9)))
    return max(1, min(math.ceil(epochs / FRAMES), by_time))


def spec_yaml(plan: Plan) -> str:
    """The spec that reproduces member 1 with `denselab run` (uploads: the file's own name)."""
    exp = plan.experiment
    header = "# denselab run this-file.yaml  (written by denselab serve)\n"
    if plan.upload is not None:
        exp = exp.replace(data=dataclasses.replace(exp.data, source=plan.upload.name))
        header += f"# put `{plan.upload.name}` next to where you run it, or write its full path in data.source\n"
    return header + exp.to_yaml()


def preview(form: dict, session: Session) -> dict:
    """The data as the map will show them, before any training (the page draws them at once)."""
    from denselab.data.prepare import load_dataset
    from denselab.spec import DataSpec

    data, _ = data_from_form(form, session)
    ds = load_dataset(DataSpec(**data), _num(form, "seed", 0, int, 0, 2 ** 31 - 1))
    wanted = _names(form, "map", list(data["features"])) or list(data["features"])[:2]
    grid = MapGrid.build(ds, wanted, with_grid=False)
    return {"task": ds.task, "target": ds.target, "classes": list(map(str, ds.classes or ())),
            "rows_train": int(len(ds.y_train)), "rows_test": int(len(ds.y_test)),
            "dropped_rows": int(ds.dropped_rows), "map": grid.describe() if grid else None}


# --- the job ----------------------------------------------------------------------

class Job:
    def __init__(self, session: Session, plan: Plan, limits: Limits | None = None, clock=time.monotonic):
        self.id = uuid.uuid4().hex
        self.session, self.plan = session, plan
        self.limits, self.clock = limits or Limits(), clock
        self.events: list = []
        self.state = "queued"
        self.cancelled = threading.Event()
        self.reason, self.cancel_t = "stopped", 0.0
        self.finished = threading.Event()
        self.final = None  # (dataset, head, weights, preprocessor) of member 1 when done or stopped
        self.watchers, self.unwatched_since = 0, clock()
        self.paused, self.steps = False, 0
        self.live = None  # while training: dataset, head, members, net, latest weights (for Stop)
        self.wake = threading.Event()
        self.report_lock = threading.Lock()
        self.report_path: Path | None = None
        self.thread = threading.Thread(target=self._run, name=f"denselab-job-{self.id[:8]}", daemon=True)

    def start(self) -> "Job":
        self.thread.start()
        return self

    def cancel(self, reason: str = "stopped") -> None:
        if not self.cancelled.is_set():
            self.reason, self.cancel_t = reason, time.perf_counter()
        self.cancelled.set()
        self.wake.set()

    def control(self, action: str) -> str:
        """stop | pause | resume | step (one chunk, then paused again); returns the job's state."""
        if action == "stop":
            self.cancel()
        elif action == "pause":
            self.paused = True
        elif action == "resume":
            self.paused = False
        elif action == "step":
            self.paused, self.steps = True, self.steps + 1
        else:  # any JSON value may arrive here
            raise SpecError(f"action: got `{str(action)[:20]}`; expected stop, pause, resume or step")
        self.wake.set()
        return "stopping" if self.cancelled.is_set() and not self.finished.is_set() else self.state

    def watch(self, delta: int) -> None:
        """A page's event stream opened (+1) or closed (-1)."""
        self.watchers += delta
        if self.watchers <= 0:
            self.watchers, self.unwatched_since = 0, self.clock()

    def discard(self) -> None:
        """Dropped from its session (too many kept): stop it and delete its files."""
        self.cancel()
        shutil.rmtree(self.session.dir / "jobs" / self.id, ignore_errors=True)

    def emit(self, kind: str, data: dict) -> None:
        self.events.append((kind, data))

    def check(self) -> None:
        """Raise `Cancelled` when stopped or when no page has watched for `unwatched_s`."""
        if not self.cancelled.is_set() and self.watchers == 0 and \
                self.clock() - self.unwatched_since > self.limits.unwatched_s:
            self.cancel(f"stopped: no page watched it for {self.limits.unwatched_s:g} s")
        if self.cancelled.is_set():
            raise Cancelled(self.reason)

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking for a control; raises `Cancelled` when stopped."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self.check()
            self.wake.wait(min(left, 0.05))
            self.wake.clear()
        self.check()

    def gate(self) -> None:
        """Between chunks: stop, or hold while paused (a Step lets one chunk through)."""
        self.check()
        if not self.paused:
            return
        if self.steps > 0:
            self.steps -= 1
            return
        self.state = "paused"
        self.emit("status", {"state": "paused", "message": "paused"})
        since = self.clock()
        while self.paused and self.steps == 0:
            if self.clock() - since > self.limits.pause_s:
                self.cancel(f"stopped: paused for more than {self.limits.pause_s / 60:g} min")
            self.wait(0.05)
        if self.steps > 0:
            self.steps -= 1
        self.state = "running"
        self.emit("status", {"state": "running", "message": "training"})

    # the worker thread
    def _run(self) -> None:
        try:
            self.emit("status", {"state": "queued", "message": "waiting for another training to finish"}
                      if TRAIN_LOCK.locked() else {"state": "starting", "message": "preparing data"})
            while not TRAIN_LOCK.acquire(timeout=0.05):
                self.check()
            try:
                self.state = "running"
                self._train()
            finally:
                TRAIN_LOCK.release()
            self.state = "done"
        except Cancelled as why:
            self.state = "stopped"
            kept = self._keep_partial()
            self.emit("stopped", {"message": str(why) or "stopped", **kept,
                                  "stop_s": round(time.perf_counter() - self.cancel_t, 3)})
        except DenselabError as exc:
            self.state = "error"
            self.emit("error", {"message": f"error: {exc}"})
        except Exception as exc:  # pragma: no cover - a bug: show it, keep the server up
            traceback.print_exc()
            self.state = "error"
            self.emit("error", {"message": f"internal error: {type(exc).__name__}: {exc}"})
        finally:
            self.live = None  # the members' arrays; `final` keeps what the downloads need
            self.finished.set()

    def _train(self) -> None:
        from denselab.data.prepare import load_dataset
        from denselab.models.build import build_model, head_for
        from denselab.train import fleet
        from denselab.train.plan import Plan as Resamples

        plan, exp = self.plan, self.plan.experiment
        t0 = time.perf_counter()
        ds = load_dataset(exp.data, exp.seed)
        head = head_for(ds.task, ds.n_targets, exp.model, exp.train)
        # the comparison core's holdout split: every training row trains, the test rows score;
        # one member per seed, or one per learning rate (all on the first seed)
        seeds_n = 1 if plan.learning_rates else len(plan.labels)
        core = Resamples.holdout(exp.replace(evaluate=dataclasses.replace(exp.evaluate, seeds=seeds_n)), ds)
        if plan.learning_rates:
            members = [core.members(exp, head, hparams={"learning_rate": lr}, tag={"member": i})[0]
                       for i, lr in enumerate(plan.learning_rates)]
        else:
            members = core.members(exp, head)
            for i, m in enumerate(members):
                m.tag["member"] = i
        self.check()
        grid = MapGrid.build(ds, plan.map_features)
        net = build_model(exp.model, head, ds.x_train.shape[1])
        scaled = [grid.scaled(m.tag["preprocessor"]) for m in members] if grid else None
        epochs = exp.train.epochs
        chunk = chunk_epochs(plan)
        self.live = {"ds": ds, "head": head, "members": members, "net": net, "weights": {}, "epoch": 0}
        self.emit("setup", {
            "task": ds.task, "metric": head.metric, "classes": list(map(str, ds.classes or ())),
            "binary": bool(head.task == "classification" and head.binary), "labels": plan.labels,
            "epochs": epochs, "chunk_epochs": chunk, "target": ds.target, "rows_train": int(len(ds.y_train)),
            "rows_test": int(len(ds.y_test)), "dropped_rows": int(ds.dropped_rows),
            "map": grid.describe() if grid else None, "prepare_s": round(time.perf_counter() - t0, 3),
        })
        histories: dict = {}
        self.live["histories"] = histories
        clock = {"frame": 0.0}
        # multi-class and regression maps colour network 1 only; binary maps draw every network's line
        mapped = range(len(members)) if head.binary else range(1)

        def maps_for(index, weights):
            if grid is None:
                return {}
            out = {}
            for i, w in zip(index, weights):
                if i in mapped:
                    net.set_weights(w)
                    out[i] = grid.values(head, np.asarray(net(scaled[i], training=False)))
            return out

        def frame(maps) -> None:
            # only the epochs the page has not seen: a 5 000-epoch run must not resend its whole history
            start = clock.get("sent", 0)
            self.emit("frame", {"epoch": self.live["epoch"], "total": epochs, "start": start,
                                "histories": histories_payload(histories, start), "maps": maps})
            clock["frame"], clock["sent"] = time.perf_counter(), self.live["epoch"]

        def on_chunk(index, hist, weights):
            for i, h, w in zip(index, hist, weights):
                histories[i] = h
                self.live["weights"][i] = w
            self.live["epoch"] = max(len(h["loss"]) for h in histories.values())
            if clock["frame"] == 0.0:
                self.emit("status", {"state": "running", "message": "training"})
            wait = clock["frame"] + FRAME_S - time.perf_counter()
            last = self.live["epoch"] >= epochs
            if plan.live and wait > 0:
                self.wait(wait)  # paced: a run is watched, and Stop is heard while waiting
            elif wait > 0 and not last and not self.paused:
                self.check()
                return  # fast: skip the frame, at most ten a second
            frame(maps_for(index, weights))
            self.gate()

        self.emit("status", {"state": "compiling", "message": "compiling… (the first run of a network's shape; "
                                                              "later runs start at once)"})
        result = fleet.train_members(exp.model, exp.train, head, members, None, on_chunk=on_chunk,
                                     chunk_epochs=chunk)
        for i, r in enumerate(result.results):
            histories[i] = r.history
        final_maps = maps_for(range(len(members)), [r.weights for r in result.results])
        scores = [{"label": plan.labels[i], "loss": r.scores["loss"], head.metric: r.scores[head.metric]}
                  for i, r in enumerate(result.results)]
        self.final = (ds, head, result.results[0].weights, members[0].tag["preprocessor"])
        self.live["epoch"] = epochs
        frame(final_maps)
        self.emit("done", {**_summary(scores, head), "train_s": round(result.run_s, 3),
                           "compile_s": round(result.compile_s, 3), "downloads": self.downloads()})

    def _keep_partial(self) -> dict:
        """After Stop: network 1 as it was at the last chunk, downloadable; every network's test
        scores at that epoch, read from its curves (the fleet scores the test rows each epoch;
        calling the network here instead would trace new shapes, a second on a busy machine)."""
        live = self.live
        if not live or 0 not in live["weights"]:
            return {}
        head, histories = live["head"], live["histories"]
        metric = head.metric
        scores = [{"label": self.plan.labels[i], "loss": histories[i]["val_loss"][-1],
                   metric: histories[i][f"val_{metric}"][-1]} for i in sorted(histories)]
        members = live["members"]
        self.final = (live["ds"], head, live["weights"][0], members[0].tag["preprocessor"])
        return {**_summary(scores, head), "epoch": live["epoch"], "downloads": self.downloads()}

    def downloads(self) -> dict:
        base = f"/api/sessions/{self.session.id}/jobs/{self.id}"
        return {k: f"{base}/{f}" for k, f in (("model", "model.keras"), ("labels", "model.keras.json"),
                                              ("script", "model.py"), ("spec", "spec.yaml"),
                                              ("report", "report.zip"))}

    # downloads
    def trained(self):
        from denselab.trained import TrainedModel

        if self.final is None:
            raise DataError("model: this training has not finished; press Train and wait for it")
        ds, head, weights, pre = self.final
        return TrainedModel.from_weights(self.plan.experiment.model, head, ds, weights, pre)

    def model_file(self) -> Path:
        path = self.session.dir / "jobs" / self.id / "model.keras"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.trained().save(path)
        return path

    def script(self) -> str:
        from denselab.web.export import keras_script

        return keras_script(self.trained(), self.plan.experiment.name)

    def report_zip(self) -> Path:
        """Run the spec through `denselab.run` (cross-validation + test) and zip its report."""
        from denselab.workflow import run

        with self.report_lock:
            if self.report_path is not None and self.report_path.exists():
                return self.report_path
            runs = self.plan.experiment.evaluate.folds + 1  # each fold, then the final refit
            minutes = self.plan.epoch_s / len(self.plan.labels) * self.plan.experiment.train.epochs * runs / 60
            if minutes * 60 > MAX_RUN_S:  # it holds the only training slot and cannot be stopped
                raise DataError(f"report: its cross-validation would take about {minutes:.0f} min here (the "
                                f"playground allows {MAX_RUN_S / 60:g}); download the spec and run "
                                "`denselab run` with it")
            folder = self.session.dir / "jobs" / self.id
            out = folder / "report"
            shutil.rmtree(out, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            with TRAIN_LOCK:
                run(self.plan.experiment, out=out, report=True)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(out.rglob("*")):
                    if f.is_file():
                        z.write(f, Path("report") / f.relative_to(out))
                z.writestr("report/spec.yaml", spec_yaml(self.plan))
            path = folder / "report.zip"
            path.write_bytes(buffer.getvalue())
            self.report_path = path
            return path


def _summary(scores: list, head) -> dict:
    """Scores with their mean and sample std; a diverged network's NaN becomes null (valid JSON)."""
    values = np.array([s[head.metric] for s in scores], dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    scores = [{k: (_finite(v) if isinstance(v, float) else v) for k, v in s.items()} for s in scores]
    return {"scores": scores, "metric": head.metric, "mean": _finite(float(values.mean())), "std": _finite(std)}


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def histories_payload(histories: dict, start: int = 0) -> dict:
    """Per member, its curves from epoch `start` on (rounded; NaN and inf as null)."""
    return {str(i): {k: [round(v, 5) if math.isfinite(v) else None for v in vals[start:]] for k, vals in h.items()}
            for i, h in sorted(histories.items())}


@dataclass
class MapGrid:
    """A GRID × GRID grid over two raw features, the others held at their training medians."""

    fx: str
    fy: str
    xs: np.ndarray
    ys: np.ndarray
    encoded: np.ndarray
    held: dict
    points: dict

    @classmethod
    def build(cls, ds, features, with_grid: bool = True) -> "MapGrid | None":
        frame = ds.train_frame
        numeric = [f for f in ds.raw_features if f not in ds.categories]
        features = [f for f in features if f in numeric]
        for f in numeric:
            if len(features) >= 2:
                break
            if f not in features:
                features.append(f)
        if len(features) < 2:
            return None
        fx, fy = features[:2]
        axes = []
        for f in (fx, fy):
            lo, hi = float(frame[f].min()), float(frame[f].max())
            pad = (hi - lo) * 0.05 or 1.0
            axes.append(np.linspace(lo - pad, hi + pad, GRID))
        held = {}
        for f in ds.raw_features:
            if f in (fx, fy):
                continue
            col = frame[f]
            held[f] = col.mode().iloc[0] if f in ds.categories else float(col.median())
        encoded = None
        if with_grid:  # the preview draws the points only
            gx, gy = np.meshgrid(axes[0], axes[1])
            rows = []
            for x, y in zip(gx.ravel(), gy.ravel()):
                rows.append([x if f == fx else y if f == fy else held[f] for f in ds.raw_features])
            encoded = ds.encode_rows(rows)
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(frame), size=min(MAX_POINTS, len(frame)), replace=False))
        sub = frame.iloc[pick]
        if ds.task == "classification":
            lookup = {str(c): i for i, c in enumerate(ds.classes)}
            colour = [lookup.get(str(v), 0) for v in sub[ds.target]]
        else:
            colour = [round(float(v), 5) for v in sub[ds.target]]
        points = {"x": [round(float(v), 5) for v in sub[fx]], "y": [round(float(v), 5) for v in sub[fy]],
                  "c": colour}
        return cls(fx, fy, axes[0], axes[1], encoded, held, points)

    def scaled(self, pre) -> np.ndarray:
        return pre.transform(self.encoded).astype(np.float32)

    def describe(self) -> dict:
        held = {k: (round(v, 4) if isinstance(v, float) else str(v)) for k, v in self.held.items()}
        return {"fx": self.fx, "fy": self.fy, "x": [round(float(v), 5) for v in self.xs],
                "y": [round(float(v), 5) for v in self.ys], "held": held, "points": self.points}

    def values(self, head, out: np.ndarray) -> list:
        """Per grid cell: P(class 1) (binary), the class index (multi-class) or the prediction."""
        if head.task == "classification":
            z = out[:, 0] if head.binary else np.argmax(out, axis=1).astype(float)
        else:
            z = out[:, 0]
        z = np.round(z.reshape(GRID, GRID).astype(float), 4)
        return z.tolist()
