"""The terminal (issue 15, "Terminal"): light commands import no JAX, Keras or matplotlib;
progress bars show loss, metric and ETA (a search: trials, best so far); Ctrl-C ends a run
within about a second, leaving nothing written; `denselab dashboard` reads denselab's
database with optuna-dashboard. Start-up *times* are measured in benchmarks/startup.py,
never asserted here."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import denselab
from denselab.errors import DenselabError

ROOT = Path(__file__).resolve().parents[1]
DENSELAB = str(Path(sys.executable).with_name("denselab"))
HEAVY = ("jax", "keras", "matplotlib")
TINY = ["--set", "train.epochs=3", "--set", "evaluate.folds=2", "--set", "train.batch_size=32"]
ENV = {**os.environ, "MPLBACKEND": "Agg"}


def _imports_after(argv: list[str]) -> tuple[int, list[str], str]:
    """(exit code, heavy modules imported, stderr) of `denselab ARGV` in a fresh interpreter."""
    code = ("import sys\nfrom denselab.cli import main\nrc = main(sys.argv[1:])\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=ENV, timeout=120)
    line = [x for x in r.stdout.splitlines() if x.startswith("HEAVY")][-1]
    return r.returncode, eval(line.removeprefix("HEAVY ")), r.stderr


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["datasets"], 0),
    (["examples"], 0),
    (["run"], 2),  # argparse: the spec is missing
    (["runn", "iris"], 2),  # a typo in the command
    (["run", "iris", "--engine", "jet"], 2),
    (["run", "no-such-spec.yaml"], 2),
    (["search", "iris-search", "--workers", "zero"], 2),
    (["run", "iris", "--set", "model.hidden[0].activation=rellu"], 2),  # spec errors: names checked without Keras
    (["run", "iris", "--set", "train.optimizer=adamm"], 2),
    (["run", "iris", "--set", "train.epochs=abc"], 2),
])
def test_light_commands_import_no_jax_keras_or_matplotlib(argv, code):
    rc, heavy, err = _imports_after(argv)
    assert rc == code, err
    assert heavy == [], f"`denselab {' '.join(argv)}` imported {heavy}"
    if code == 2:
        assert err.startswith("denselab: error: ") and "Traceback" not in err


def test_importing_denselab_is_light_and_the_api_loads_on_use():
    code = ("import sys, denselab\nassert not [m for m in ('jax', 'keras', 'matplotlib', 'pandas') if m in sys.modules]\n"
            "import denselab.search.status\nassert callable(denselab.search) and denselab.run.__name__ == 'run'\n"
            "assert denselab.load_model.__module__ == 'denselab.trained'\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.stdout.strip() == "ok", r.stderr[-2000:]


def test_engines_publish_loss_and_metric_for_the_bar():
    from denselab.progress import latest

    for engine in ("fleet", "fit"):
        seen = []
        denselab.run("iris", overrides=["train.epochs=3", "evaluate.folds=2"], engine=engine, report=False,
                     progress=lambda done, total, phase: seen.append((phase, dict(latest()))))
        logs = [logs for phase, logs in seen if phase == "cross-validation" and logs]
        assert logs, engine
        assert {"loss", "accuracy"} <= set(logs[-1]) and 0 <= logs[-1]["accuracy"] <= 1, (engine, logs[-1])


def _in_terminal(argv: list[str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    """Run `denselab ARGV` with stderr on a pseudo-terminal (where bars are drawn); its screen text."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    p = subprocess.Popen([DENSELAB, *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=slave, env={**ENV, "COLUMNS": "160"})
    os.close(slave)
    screen, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                screen += os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
        elif p.poll() is not None:
            break
    p.wait(timeout=30)
    os.close(master)
    return p.returncode, screen.decode(errors="replace") + p.stdout.read().decode()


def test_run_bar_shows_loss_metric_eta_and_the_report_phase(tmp_path):
    rc, screen = _in_terminal(["run", "iris", "--out", str(tmp_path / "out"), *TINY], tmp_path)
    assert rc == 0, screen[-3000:]
    assert "cross-validation" in screen and "refit on all training rows" in screen
    assert "/3 epochs" in screen and "loss " in screen and "accuracy " in screen and "ETA" in screen
    assert "writing the report" in screen


@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """A small real search (4 trials) in its own SQLite file, run with the bar drawn."""
    work = tmp_path_factory.mktemp("search")
    rc, screen = _in_terminal(["search", "iris-search", "--trials", "4", "--storage", "sqlite:///s.db", "--out",
                               str(work / "out"), *TINY, "--set", "search.sampler=random"], work)
    assert rc == 0, screen[-3000:]
    return work / "s.db", screen


def test_search_bar_shows_trials_best_and_eta(study_db):
    _, screen = study_db
    assert "/4 trials" in screen and "best so far accuracy" in screen and "ETA" in screen
    assert "trial 0: accuracy" in screen  # the per-trial lines print above the bar


def test_dashboard_reads_denselab_database(study_db):
    from wsgiref.util import setup_testing_defaults

    from denselab.search.dashboard import app

    wsgi = app(f"sqlite:///{study_db[0]}")

    def get(path):
        env, status = {}, []
        setup_testing_defaults(env)
        env["PATH_INFO"] = path
        body = b"".join(wsgi(env, lambda s, headers, *rest: status.append(s)))
        assert status[0].startswith("200"), (path, status)
        return json.loads(body)

    (summary,) = get("/api/studies")["study_summaries"]
    assert summary["study_name"] == "iris-search" and summary["directions"] == ["maximize"]
    study = get(f"/api/studies/{summary['study_id']}/")
    complete = [t for t in study["trials"] if t["state"] == "Complete"]
    assert len(complete) == 4 and all(0 <= t["values"][0] <= 1 for t in complete)
    attrs = {a["key"]: a["value"] for a in complete[0]["user_attrs"]}
    cv = json.loads(attrs["cv"])
    assert len(cv["scores"]) == 2 and {p["name"] for p in complete[0]["params"]} >= {"train.optimizer"}


def test_dashboard_errors_are_one_line(tmp_path, monkeypatch):
    from denselab.search import dashboard

    with pytest.raises(DenselabError, match=r"--storage: no database `.*none.db` here; run `denselab search"):
        dashboard.app(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if the extra were not installed
    with pytest.raises(DenselabError, match=r"optuna-dashboard is not installed; pip install 'denselab\[dashboard\]'"):
        dashboard.app(f"sqlite:///{tmp_path / 'none.db'}")
    r = subprocess.run([DENSELAB, "dashboard", "--storage", f"sqlite:///{tmp_path / 'none.db'}"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no database" in r.stderr


def test_ctrl_c_mid_chunk_stops_within_a_second_and_writes_nothing(tmp_path):
    """A long chunk (300 epochs of the rock table per compiled call) is running when SIGINT comes."""
    out = tmp_path / "out"
    p = subprocess.Popen([DENSELAB, "run", "rocks", "--out", str(out), "--set", "train.epochs=3000",
                          "--set", "evaluate.folds=4", "--set", "train.batch_size=5", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(20)  # start-up and compilation are done; the first chunks take minutes
    assert p.poll() is None, p.communicate()[1][-2000:]
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    waited = time.monotonic() - sent
    assert p.returncode == 130 and "denselab: interrupted" in err and "Traceback" not in err, err[-2000:]
    assert waited < 2.5, f"Ctrl-C took {waited:.1f} s"
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no report, no partial folder


def test_ctrl_c_while_the_report_is_written_leaves_no_partial_folder(tmp_path):
    """The other half of "nothing half-written": Ctrl-C in the report phase (Python code, so the
    worker thread sees the interrupt at once) removes the temporary folder, as any error does."""
    script = f"""
import sys
from matplotlib.figure import Figure
from denselab.cli import _interruptible
from denselab.report.html import Section, write_report

def figure(i):
    fig = Figure(figsize=(6, 4))
    fig.subplots().plot(range(20000), [x % (i + 7) for x in range(20000)])
    return fig

sections = [Section(f"s{{i}}", "text", figures=[figure(i)]) for i in range(300)]
print("writing", flush=True)
_interruptible(lambda: write_report({str(tmp_path / 'out')!r}, "t", sections, {{}}, {{}}))
print("finished", flush=True)
"""
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=ENV)
    assert p.stdout.readline().strip() == "writing", p.stderr.read()[-2000:]
    time.sleep(1.5)  # the temporary folder exists and figures are being rendered into the page
    partial = [x.name for x in tmp_path.iterdir()]
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "finished" not in out, err[-2000:]
    assert any(name.startswith(".out.partial-") for name in partial), partial  # it was mid-write
    assert list(tmp_path.iterdir()) == []
