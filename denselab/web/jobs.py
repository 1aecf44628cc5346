"""Sessions, uploads and training jobs of `denselab serve` (no training logic of its own).

A *session* is one open page: a private temporary folder (uploads, downloads) and
its jobs. A *job* turns the page's form into an `Experiment`, prepares the data with
`denselab.data`, builds members with `evaluate.make_member` and trains them with the
fleet, whose `on_chunk` hook gives the live curves and the weights from which the
map (decision boundary or predicted surface) is computed. Events are appended to
`job.events`; the app streams them as server-sent events. `job.cancel()` (Stop
button, or the page going away) makes the hook raise `Cancelled`.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from denselab.errors import DataError, DenselabError, SpecError

TWO_D = ("f1", "f2", "f3", "lcpb-2d", "circles", "xor", "spirals", "gaussians")
GENERATED = ("f1", "f2", "f3", "circles", "xor", "spirals", "gaussians")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "leaky_relu", "gelu", "silu", "softplus", "linear")
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
MAX_MEMBERS = 10
MAX_LAYERS = 8
GRID = 60  # map resolution per axis
MAX_POINTS = 800  # data points drawn on the map
TRAIN_LOCK = threading.Lock()  # one training at a time on this machine (the fleet uses every core)


class Cancelled(Exception):
    """Raised inside the training hook when the job was stopped."""


@dataclass
class Upload:
    id: str
    path: Path
    name: str
    columns: list
    numeric: list
    rows: int


@dataclass
class Session:
    id: str
    dir: Path
    uploads: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)

    def close(self) -> None:
        for job in self.jobs.values():
            job.cancel()
        shutil.rmtree(self.dir, ignore_errors=True)


def new_session() -> Session:
    sid = uuid.uuid4().hex
    return Session(sid, Path(tempfile.mkdtemp(prefix=f"denselab-web-{sid[:8]}-")))


def safe_name(name: str) -> str:
    """The file name without folders, with only plain characters."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(name or "")).name)[-100:].lstrip(".")
    return base or "upload.csv"


def save_upload(session: Session, filename: str, raw: bytes, limit: int) -> Upload:
    """Check and store an uploaded table in the session folder; read its columns."""
    from denselab.data.sources import read_table
    from denselab.spec import DataSpec

    name = safe_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"upload: `{name}` is not a csv, xlsx or xls file; export the table as csv or xlsx")
    if len(raw) > limit:
        raise DataError(f"upload: `{name}` is larger than the {limit / 1048576:g} MB limit")
    uid = uuid.uuid4().hex[:12]
    folder = session.dir / "uploads" / uid
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(raw)
    try:
        frame, _ = read_table(DataSpec(source=str(path), target=0))
    except DenselabError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    columns = [str(c) for c in frame.columns]
    import pandas as pd

    numeric = [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    up = Upload(uid, path, name, columns, numeric, int(len(frame)))
    session.uploads[uid] = up
    return up


# --- the form → an Experiment -----------------------------------------------------

def _num(form: dict, key: str, default, kind=float, low=None, high=None):
    value = form.get(key, default)
    if value in (None, ""):
        value = default
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise SpecError(f"{key}: got `{value}`; expected a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{key}: got `{value}`; expected a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise SpecError(f"{key}: got {value}; expected a value in [{low}, {high}]")
    return value


@dataclass
class Plan:
    """What one job trains: the experiment, the members' variations and the map."""

    experiment: object
    labels: list
    seeds: list
    learning_rates: list | None
    map_features: list
    upload: Upload | None
    vary: str


def plan_from_form(form: dict, session: Session) -> Plan:
    """Validate the page's form and build the Experiment (errors: SpecError/DataError one-liners)."""
    from denselab import seeds as seedlib
    from denselab.spec import Experiment

    if not isinstance(form, dict):
        raise SpecError("form: expected a JSON object")
    source = str(form.get("source") or "f1")
    upload = None
    if source.startswith("upload:"):
        upload = session.uploads.get(source.split(":", 1)[1])
        if upload is None:
            raise DataError("data.source: the uploaded file is gone; upload it again")
        target = form.get("target") or upload.columns[-1]
        features = form.get("features") or [c for c in upload.columns if c != target]
        data = {"source": str(upload.path), "target": target, "features": list(features)}
    elif source in TWO_D:
        target = "f1" if source == "lcpb-2d" else "label"
        if source == "lcpb-2d" and form.get("target") in ("f1", "f2"):
            target = form["target"]
        features = ["x0", "x1"]
        data = {"source": source, "target": target, "features": features}
        if source in GENERATED:
            data["n"] = _num(form, "points", 2000, int, 50, 20000)
    else:
        raise DataError(f"data.source: `{source}` is not one of the page's sets: {', '.join(TWO_D)}")
    data["test_size"] = _num(form, "test_size", 0.2, float, 0.05, 0.9)
    data["task"] = str(form.get("task") or "auto")
    hidden = form.get("hidden") or [{"units": 8, "activation": "relu"}]
    if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS:
        raise SpecError(f"model.hidden: expected 1 to {MAX_LAYERS} layers")
    dropout = _num(form, "dropout", 0.0, float, 0.0, 0.95)
    l1 = _num(form, "l1", 0.0, float, 0.0, 10.0)
    l2 = _num(form, "l2", 0.0, float, 0.0, 10.0)
    layers = []
    for i, layer in enumerate(hidden):
        if not isinstance(layer, dict):
            raise SpecError(f"model.hidden[{i}]: expected {{units, activation}}")
        spec = {"units": _num(layer, "units", 8, int, 1, 1024), "activation": str(layer.get("activation") or "relu")}
        if dropout:
            spec["dropout"] = dropout
        if l1:
            spec["l1"] = l1
        if l2:
            spec["l2"] = l2
        layers.append(spec)
    seed = _num(form, "seed", 0, int, 0, 2 ** 31 - 1)
    n_members = _num(form, "members", 1, int, 1, MAX_MEMBERS)
    vary = str(form.get("vary") or "seed")
    lr = _num(form, "learning_rate", 0.01, float, 1e-7, 10.0)
    lrs = None
    if vary == "learning_rate":
        raw = form.get("learning_rates") or []
        if isinstance(raw, str):
            raw = [v for v in re.split(r"[,\s;]+", raw) if v]
        try:
            lrs = [float(v) for v in raw]
        except (TypeError, ValueError):
            raise SpecError("learning rates: expected numbers separated by commas, e.g. 0.001, 0.01, 0.1") from None
        if not 1 <= len(lrs) <= MAX_MEMBERS or not all(1e-7 <= v <= 10 for v in lrs):
            raise SpecError(f"learning rates: expected 1 to {MAX_MEMBERS} values in [1e-7, 10], "
                            "e.g. 0.001, 0.01, 0.1")
        lr, n_members = lrs[0], len(lrs)
    elif vary != "seed":
        raise SpecError(f"vary: got `{vary}`; expected `seed` or `learning_rate`")
    name = re.sub(r"[^A-Za-z0-9_-]", "-", Path(upload.name).stem if upload else source)[:40] or "web"
    raw = {
        "name": f"web-{name}",
        "description": "trained in denselab serve",
        "seed": seed,
        "data": data,
        "model": {"hidden": layers, "kernel_initializer": str(form.get("initializer") or "glorot_uniform")},
        "train": {
            "optimizer": str(form.get("optimizer") or "adam"), "learning_rate": lr,
            "epochs": _num(form, "epochs", 50, int, 1, 5000),
            "batch_size": _num(form, "batch_size", 32, int, 1, 100000),
            "noise_sigma": _num(form, "noise_sigma", 0.0, float, 0.0, 1e6),
            "noise_fraction": _num(form, "noise_fraction", 0.0, float, 0.0, 10.0),
        },
        "evaluate": {"folds": _num(form, "folds", 5, int, 2, 20)},
    }
    exp = Experiment.from_dict(raw)
    final = seedlib.derive(seed, "final")
    if vary == "seed":
        member_seeds = [final] + [seedlib.derive(seed, "final", i) for i in range(1, n_members)]
        labels = [f"seed {i + 1}" for i in range(n_members)]
    else:
        member_seeds = [final] * n_members
        labels = [f"lr {v:g}" for v in lrs]
    map_features = form.get("map") or list(data["features"])[:2]
    return Plan(exp, labels, member_seeds, lrs, [str(f) for f in map_features], upload, vary)


def spec_yaml(plan: Plan) -> str:
    """The spec that reproduces member 1 with `denselab run` (uploads: the file's own name)."""
    exp = plan.experiment
    header = "# denselab run this-file.yaml  (written by denselab serve)\n"
    if plan.upload is not None:
        exp = exp.replace(data=_replace(exp.data, source=plan.upload.name))
        header += f"# put `{plan.upload.name}` next to where you run it, or write its full path in data.source\n"
    return header + exp.to_yaml()


def _replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


# --- the job ----------------------------------------------------------------------

class Job:
    def __init__(self, session: Session, plan: Plan):
        self.id = uuid.uuid4().hex
        self.session, self.plan = session, plan
        self.events: list = []
        self.state = "queued"
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self.final = None  # (dataset, head, weights, preprocessor) of member 1 when done
        self.report_lock = threading.Lock()
        self.report_path: Path | None = None
        self.thread = threading.Thread(target=self._run, name=f"denselab-job-{self.id[:8]}", daemon=True)

    def start(self) -> "Job":
        self.thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled.set()

    def emit(self, kind: str, data: dict) -> None:
        self.events.append((kind, data))

    # the worker thread
    def _run(self) -> None:
        try:
            self.emit("status", {"state": "queued", "message": "waiting for another training to finish"}
                      if TRAIN_LOCK.locked() else {"state": "starting", "message": "preparing data"})
            while not TRAIN_LOCK.acquire(timeout=0.2):
                if self.cancelled.is_set():
                    raise Cancelled()
            try:
                self.state = "running"
                self._train()
            finally:
                TRAIN_LOCK.release()
            self.state = "done"
        except Cancelled:
            self.state = "stopped"
            self.emit("stopped", {"message": "stopped"})
        except DenselabError as exc:
            self.state = "error"
            self.emit("error", {"message": f"error: {exc}"})
        except Exception as exc:  # pragma: no cover - a bug: show it, keep the server up
            traceback.print_exc()
            self.state = "error"
            self.emit("error", {"message": f"internal error: {type(exc).__name__}: {exc}"})
        finally:
            self.finished.set()

    def _train(self) -> None:
        from denselab.data.prepare import load_dataset
        from denselab.models.build import build_model, head_for
        from denselab.train import fleet
        from denselab.train.evaluate import make_member

        plan, exp = self.plan, self.plan.experiment
        t0 = time.perf_counter()
        ds = load_dataset(exp.data, exp.seed)
        head = head_for(ds.task, ds.n_targets, exp.model, exp.train)
        index = np.arange(len(ds.y_train))
        members = []
        for i, seed in enumerate(plan.seeds):
            hp = {"learning_rate": plan.learning_rates[i]} if plan.learning_rates else None
            members.append(make_member(exp, ds, head, index, ds.x_test, ds.y_test, seed=seed,
                                       tag={"member": i}, hparams=hp))
        grid = MapGrid.build(ds, plan.map_features)
        net = build_model(exp.model, head, ds.x_train.shape[1])
        scaled = [grid.scaled(m.tag["preprocessor"]) for m in members] if grid else None
        epochs = exp.train.epochs
        self.emit("setup", {
            "task": ds.task, "metric": head.metric, "classes": list(map(str, ds.classes or ())),
            "binary": bool(head.task == "classification" and head.binary), "labels": plan.labels,
            "epochs": epochs, "target": ds.target, "rows_train": int(len(ds.y_train)),
            "rows_test": int(len(ds.y_test)), "map": grid.describe() if grid else None,
            "prepare_s": round(time.perf_counter() - t0, 3),
        })
        histories: dict = {}

        def maps_for(index, weights):
            if grid is None:
                return {}
            out = {}
            for i, w in zip(index, weights):
                net.set_weights(w)
                out[i] = grid.values(head, np.asarray(net(scaled[i], training=False)))
            return out

        def on_chunk(index, hist, weights):
            if self.cancelled.is_set():
                raise Cancelled()
            for i, h in zip(index, hist):
                histories[i] = h
            self.emit("frame", {"epoch": max(len(h["loss"]) for h in histories.values()), "total": epochs,
                                "histories": histories_payload(histories), "maps": maps_for(index, weights)})
            if self.cancelled.is_set():
                raise Cancelled()

        self.emit("status", {"state": "running", "message": "training (the first run of a network compiles it)"})
        result = fleet.train_members(exp.model, exp.train, head, members, None, on_chunk=on_chunk)
        for i, r in enumerate(result.results):
            histories[i] = r.history
        final_maps = maps_for(range(len(members)), [r.weights for r in result.results])
        scores = [{"label": plan.labels[i], "loss": r.scores["loss"], head.metric: r.scores[head.metric]}
                  for i, r in enumerate(result.results)]
        values = np.array([s[head.metric] for s in scores], dtype=float)
        self.final = (ds, head, result.results[0].weights, members[0].tag["preprocessor"])
        self.emit("frame", {"epoch": epochs, "total": epochs, "histories": histories_payload(histories),
                            "maps": final_maps})
        self.emit("done", {
            "scores": scores, "metric": head.metric, "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "train_s": round(result.run_s, 3), "compile_s": round(result.compile_s, 3),
            "downloads": {"model": f"/api/jobs/{self.id}/model.keras", "spec": f"/api/jobs/{self.id}/spec.yaml",
                          "report": f"/api/jobs/{self.id}/report.zip"},
        })

    # downloads
    def model_file(self) -> Path:
        from denselab.trained import TrainedModel

        if self.final is None:
            raise DataError("model: this training has not finished; press Train and wait for it")
        ds, head, weights, pre = self.final
        path = self.session.dir / "jobs" / self.id / "model.keras"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            TrainedModel.from_weights(self.plan.experiment.model, head, ds, weights, pre).save(path)
        return path

    def report_zip(self) -> Path:
        """Run the spec through `denselab.run` (cross-validation + test) and zip its report."""
        from denselab.workflow import run

        with self.report_lock:
            if self.report_path is not None and self.report_path.exists():
                return self.report_path
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


def histories_payload(histories: dict) -> dict:
    return {str(i): {k: [round(v, 5) if math.isfinite(v) else None for v in vals] for k, vals in h.items()}
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
    def build(cls, ds, features) -> "MapGrid | None":
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
