"""Many workers on one PostgreSQL study: the faults that must lose nothing, status, same results.

Every test that needs PostgreSQL gets a fresh database on the session's private server
(`pg_server` in conftest.py). Worker processes run the real CLI through `_CHILD`, which
can make the first engine call hang (a unit to kill mid-way) or every call slow (a run
long enough to restart the database under it).
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from denselab.search import recovery, runner, search, store
from denselab.train import plan

_CHILD = """
import os, sys, time
from denselab.train import plan as runner
real, calls = runner.run_engine, []
def patched(*args):
    calls.append(1)
    if os.environ.get("TEST_HANG") and len(calls) == 1:
        time.sleep(600)  # killed mid-unit, heartbeat thread still beating
    time.sleep(float(os.environ.get("TEST_SLOW", "0")))
    return real(*args)
runner.run_engine = patched
from denselab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def grid_spec(name, rates, **search_section):
    return {"name": name, "data": {"source": "iris"}, "seed": 3,
            "model": {"hidden": [{"units": 4, "activation": "relu"}]},
            "train": {"epochs": 3, "batch_size": 32}, "evaluate": {"folds": 2},
            "search": {"sampler": "grid", "batch": 1, "space": {"train.learning_rate": rates}, **search_section}}


def write(tmp_path, raw):
    path = tmp_path / f"{raw['name']}.json"
    path.write_text(json.dumps(raw))
    return str(path)


def start(tmp_path, tag, args, env, cwd=None):
    """A worker process running the CLI; its stderr goes to tmp_path/<tag>.err."""
    err = open(tmp_path / f"{tag}.err", "w")
    full = dict(os.environ, KERAS_BACKEND="jax", **env)
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, *args], cwd=cwd or tmp_path, env=full,
                            stdout=subprocess.DEVNULL, stderr=err)
    proc.err_path = tmp_path / f"{tag}.err"
    return proc


def study_of(url, name):
    import optuna

    return optuna.load_study(study_name=name, storage=store.open_storage(url))


def by_state(study):
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return {s.name: [t for t in trials if t.state == s] for s in TrialState}


def wait_until(condition, timeout, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise AssertionError(f"worker exited early ({dead[0].returncode}): {dead[0].err_path.read_text()[-2000:]}")
        time.sleep(0.2)
    raise AssertionError("timed out: " + " | ".join(p.err_path.read_text()[-1500:] for p in procs))


def finish(proc, timeout):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"worker did not stop: {proc.err_path.read_text()[-2000:]}")
    return proc.returncode


def assert_exact(study, rates):
    """Exactly one COMPLETE trial per grid point, nothing left RUNNING or WAITING."""
    states = by_state(study)
    done = sorted(t.params["train.learning_rate"] for t in states["COMPLETE"])
    assert done == sorted(rates), done
    assert not states["RUNNING"] and not states["WAITING"]
    return states


# --- stale detection without a database --------------------------------------------

def test_watch_needs_an_unchanged_beat_seen_continuously(monkeypatch):
    monkeypatch.setenv("DENSELAB_STALE_AFTER_S", "10")
    remote = {"host": "elsewhere", "machine": "another-machine", "pid": 1}
    trial = SimpleNamespace(_trial_id=7, number=7, user_attrs={recovery.OWNER_ATTR: remote,
                                                               recovery.HEARTBEAT_ATTR: 100.0})
    watch = recovery.Watch("postgresql://db/x")
    assert watch.orphans([trial], now=0.0) == []  # first sight: no judgement
    for t in range(1, 10):  # looked every second: 9 s unchanged is not yet stale
        assert watch.orphans([trial], now=float(t)) == []
    assert watch.orphans([trial], now=10.0) == [trial]
    trial.user_attrs[recovery.HEARTBEAT_ATTR] = 101.0  # it beat: alive again
    assert watch.orphans([trial], now=11.0) == []
    # this process was busy (or the database away) for 30 s: an unchanged beat proves nothing yet
    assert watch.orphans([trial], now=41.0) == []
    assert watch.orphans([trial], now=46.0) == [] and watch.orphans([trial], now=51.0) == [trial]


def test_retry_budget_counts_attempts():
    assert recovery.next_attempt({}, retries=2) == 2
    assert recovery.next_attempt({recovery.ATTEMPT_ATTR: 2}, retries=2) == 3
    assert recovery.next_attempt({recovery.ATTEMPT_ATTR: 3}, retries=2) is None
    assert recovery.next_attempt({}, retries=0) is None


def test_retries_is_a_search_field():
    from denselab.errors import SpecError
    from denselab.search import parse

    assert parse(grid_spec("r", [0.1, 0.2])).retries == 2
    assert parse(grid_spec("r", [0.1, 0.2], retries=0)).retries == 0
    with pytest.raises(SpecError, match=r"search.retries: got `-1`; expected an integer >= 0"):
        parse(grid_spec("r", [0.1, 0.2], retries=-1))


# --- faults with a real PostgreSQL server ---------------------------------------------

def test_sigkill_mid_unit_is_redone_by_a_live_worker(tmp_path, pg_url, pg_server):
    rates = [0.01, 0.02, 0.03, 0.05, 0.07, 0.1]
    spec = write(tmp_path, grid_spec("kill", rates))
    args = ["worker", spec, "--storage", pg_url, "--trials", str(len(rates))]
    stale = {"DENSELAB_STALE_AFTER_S": "3"}  # different machine ids: judged by heartbeat, not by pid
    a = start(tmp_path, "a", args, {**stale, "DENSELAB_MACHINE_ID": "machine-a", "TEST_HANG": "1"}, cwd="/proc")
    b = None
    try:
        study = None

        def a_is_training():
            nonlocal study
            try:
                study = study or study_of(pg_url, "kill")
            except Exception:  # not created yet
                return False
            return any(t.user_attrs.get(recovery.OWNER_ATTR, {}).get("pid") == a.pid and t.params
                       for t in by_state(study)["RUNNING"])

        wait_until(a_is_training, 90, [a])
        # B never needs a writable folder: its working directory is /proc
        b = start(tmp_path, "b", args, {**stale, "DENSELAB_MACHINE_ID": "machine-b"}, cwd="/proc")
        wait_until(lambda: len(by_state(study)["COMPLETE"]) == len(rates) - 1, 90, [a, b])
        (held,) = by_state(study)["RUNNING"]
        time.sleep(7)  # > 2 × stale: B watches a long unit whose owner beats; it must not fail it (#4234)
        assert by_state(study)["RUNNING"][0].number == held.number
        a.send_signal(signal.SIGKILL)
        a.wait()
        assert finish(b, 90) == 0, b.err_path.read_text()[-2000:]
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    states = assert_exact(study, rates)
    (killed,) = states["FAIL"]
    assert killed.number == held.number
    assert killed.user_attrs[recovery.FAILURE_ATTR] == {"kind": "orphaned", "attempt": 1, "requeued": True}
    (redo,) = [t for t in states["COMPLETE"] if t.user_attrs.get(recovery.RETRY_ATTR) == killed.number]
    assert redo.params == killed.params and recovery.attempt_of(redo.user_attrs) == 2
    log = b.err_path.read_text()
    assert f"trial {killed.number}: its worker" in log and "it will be redone" in log
    assert pg_server.password not in log


def test_database_restart_while_workers_run(tmp_path, pg_url, pg_server):
    rates = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1]
    spec = write(tmp_path, grid_spec("restart", rates))
    args = ["worker", spec, "--storage", pg_url, "--trials", str(len(rates))]
    env = {"DENSELAB_STALE_AFTER_S": "4", "DENSELAB_DB_WAIT_S": "90", "TEST_SLOW": "1.0"}
    procs = [start(tmp_path, tag, args, {**env, "DENSELAB_MACHINE_ID": f"machine-{tag}"}) for tag in "ab"]
    try:
        study = None

        def two_done():
            nonlocal study
            try:
                study = study or study_of(pg_url, "restart")
            except Exception:
                return False
            return len(by_state(study)["COMPLETE"]) >= 2

        wait_until(two_done, 90, procs)
        assert len(by_state(study)["COMPLETE"]) < len(rates) - 2  # work is left on both sides of the outage
        pg_server.restart(down_s=5)  # longer than the stale time: a live trial must survive it
        codes = [finish(p, 120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    logs = [p.err_path.read_text() for p in procs]
    assert codes == [0, 0], logs
    states = assert_exact(study, rates)
    kinds = {t.user_attrs[recovery.FAILURE_ATTR]["kind"] for t in states["FAIL"]}
    assert kinds <= {"interrupted"}, kinds  # at most a claim cut by the outage, given back; no live trial failed
    text = "\n".join(logs)
    assert "unreachable" in text and "is back" in text and "***" in text
    assert pg_server.password not in text


def test_a_raising_unit_is_retried_at_most_r_times_and_status_says_so(tmp_path, pg_url, pg_server,
                                                                         monkeypatch, capsys):
    from denselab.cli import main

    raw = grid_spec("raises", [0.05], retries=1)
    # batch sizes are structure (widths would pack into one engine call, one unit for all three)
    raw["search"]["space"]["train.batch_size"] = [3, 4, 5]
    spec = write(tmp_path, raw)
    real, calls = plan.run_engine, []

    def raising(experiment, head, members, engine, progress):
        if members[0].tag["fold"] >= 0:  # a trial's unit, not the refit of the best
            calls.append(experiment.train.batch_size)
        if experiment.train.batch_size == 4:
            raise FloatingPointError("loss is nan at epoch 2")
        return real(experiment, head, members, engine, progress)

    monkeypatch.setattr(plan, "run_engine", raising)
    assert main(["search", spec, "--storage", pg_url, "--out", str(tmp_path / "r"), "--quiet"]) == 3
    out = capsys.readouterr().out
    assert "only 2 of 3 trials finished" in out and (tmp_path / "r" / "report.html").exists()
    assert sorted(calls) == [3, 4, 4, 5]  # the failing unit ran 1 + R times, no more
    states = by_state(study_of(pg_url, "raises"))
    assert len(states["COMPLETE"]) == 2 and not states["RUNNING"] and not states["WAITING"]
    failed = states["FAIL"]
    assert [t.user_attrs[recovery.FAILURE_ATTR] for t in failed] == [
        {"kind": "raised", "attempt": 1, "requeued": True}, {"kind": "raised", "attempt": 2, "requeued": False}]
    assert {t.user_attrs["error"] for t in failed} == {"FloatingPointError: loss is nan at epoch 2"}
    assert failed[0].params == failed[1].params and failed[1].user_attrs[recovery.RETRY_ATTR] == failed[0].number

    assert main(["status", spec, "--storage", pg_url]) == 0
    text = capsys.readouterr().out
    assert "finished 2 (3 wanted) · running 0 · waiting 0 · failed 2 (1 redone, 1 for good)" in text
    assert "FloatingPointError: loss is nan" in text and "best so far: trial" in text
    assert pg_server.password not in text and "denselab:***@" in text
    assert main(["status", spec, "--storage", pg_url, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["finished"], info["failed"], info["retried"], info["failed_for_good"]) == (2, 2, 1, 1)
    assert info["best"]["params"] and pg_server.password not in json.dumps(info)


def test_configurations_failing_every_attempt_stop_a_random_search(pg_url, monkeypatch):
    from denselab.errors import DenselabError

    def broken(*args):
        raise RuntimeError("XLA: resource exhausted")

    monkeypatch.setattr(plan, "run_engine", broken)
    raw = grid_spec("endless", [0.1], sampler="random", retries=1)
    raw["search"]["space"] = {"train.learning_rate": {"low": 0.001, "high": 0.1, "log": True}}
    with pytest.raises(DenselabError, match=r"3 configurations in a row failed on every attempt.*resource exhausted"):
        search(raw, 10, storage=pg_url, report=False)
    states = by_state(study_of(pg_url, "endless"))
    assert len(states["FAIL"]) == 6 and not states["RUNNING"] and not states["WAITING"]  # 3 × (1 + 1 retry)


def test_one_or_two_workers_give_the_same_scores(pg_server, monkeypatch):
    from optuna.trial import TrialState

    rates = [0.01, 0.02, 0.03, 0.05, 0.07, 0.1]
    raw = grid_spec("same", rates)
    one = search(raw, len(rates), storage=pg_server.create_database("same_one"), report=False)
    url = pg_server.create_database("same_two")
    real, mine = plan.run_engine, os.getpid()

    def another_process_finished_one():
        done = study_of(url, "same").get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return any(t.user_attrs[recovery.OWNER_ATTR]["pid"] != mine for t in done)

    def after_the_other_worker(*args):  # so that both processes surely take part
        wait_until(another_process_finished_one, 90)
        return real(*args)

    monkeypatch.setattr(plan, "run_engine", after_the_other_worker)
    two = search(raw, len(rates), storage=url, report=False, workers=2)
    scores = [{t.params["train.learning_rate"]: t.user_attrs["cv"]["scores"] for t in r.study.trials
               if t.state == TrialState.COMPLETE} for r in (one, two)]
    assert scores[0] == scores[1] and len(scores[0]) == len(rates)
    owners = {t.user_attrs[recovery.OWNER_ATTR]["pid"] for t in two.study.trials}
    assert len(owners) == 2
    assert [two.best[k] for k in ("params", "cv", "test")] == [one.best[k] for k in ("params", "cv", "test")]


def test_a_failing_report_loses_no_trial(tmp_path, pg_url, monkeypatch, capsys):
    from denselab.cli import main
    from denselab.report import search_report

    def disk_full(result, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir))

    monkeypatch.setattr(search_report, "write", disk_full)
    spec = write(tmp_path, grid_spec("full", [0.01, 0.1]))
    assert main(["search", spec, "--storage", pg_url, "--out", str(tmp_path / "r"), "--quiet"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    again = search(spec, 2, storage=pg_url, report=False)
    assert again.new_trials == 0 and again.results["trials"]["complete"] == 2


def test_an_outage_longer_than_the_wait_is_a_clear_error(pg_server, monkeypatch):
    import optuna

    from denselab.errors import DenselabError

    url = pg_server.create_database("gone")
    study = optuna.create_study(study_name="gone", storage=store.open_storage(url))
    monkeypatch.setenv("DENSELAB_DB_WAIT_S", "2")
    pg_server.stop()
    try:
        with pytest.raises(DenselabError, match=r"unreachable for 2 s \(DENSELAB_DB_WAIT_S\); giving up") as info:
            study.get_trials()
    finally:
        pg_server.start()
    assert pg_server.password not in str(info.value) and "denselab:***@" in str(info.value)
    assert study.get_trials() == []  # and back once the server is
