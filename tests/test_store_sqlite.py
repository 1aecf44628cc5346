"""SQLite, the default study database, under processes that start together (issue 15).

Two searches started at the same moment on a new database used to collide while Optuna
created its tables (`UNIQUE constraint failed: alembic_version` in 2 of 5 tries), and a held
study lock blocked a search silently for as long as it was held. These tests start real
processes at one agreed instant (the collision is between processes), several times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from denselab.search import store

OPEN_AND_CREATE = textwrap.dedent("""
    import sys, time
    start = float(sys.argv[2])
    from denselab.search import store  # imports first, so the processes meet at `start` ready
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    while time.time() < start:
        time.sleep(0.0005)
    storage = store.open_storage("sqlite:///" + sys.argv[1])
    optuna.create_study(study_name="together", storage=storage, load_if_exists=True)
    print("opened")
""")


@pytest.mark.parametrize("attempt", range(4))
def test_processes_opening_a_new_database_at_the_same_moment_all_succeed(tmp_path, attempt):
    db = tmp_path / "new.db"
    start = time.time() + 8  # after the slowest import on a busy 2-core machine
    runs = [subprocess.Popen([sys.executable, "-c", OPEN_AND_CREATE, str(db), str(start)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]
    done = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    assert [(rc, out.strip()) for rc, out, _ in done] == [(0, "opened")] * 3, done


def test_a_held_study_lock_is_said_and_given_up_after_the_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "LOCK_NOTICE_S", 0.2)
    monkeypatch.setattr(store, "LOCK_WAIT_S", 1.0)
    db = str(tmp_path / "study.db")
    taken, release = threading.Event(), threading.Event()

    def hold():  # another worker of this machine, counting trials (a separate open file: its own flock)
        with store._file_lock(db, "s"):
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    lines: list[str] = []
    started = time.monotonic()
    try:
        with store._file_lock(db, "s", lines.append):
            waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert 1.0 <= waited < 5
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"waiting for the lock of study `s`, held by process {os.getpid()} on this machine")
    assert "going on without it after 1 s" in lines[0]
    assert lines[1] == (f"the lock of study `s` has been held for 1 s by process {os.getpid()} on this machine "
                        "(stuck?); going on without it")
    # free again: taken at once, nothing said
    lines.clear()
    with store._file_lock(db, "s", lines.append):
        pass
    assert lines == []


def test_a_quiet_search_still_says_why_it_waits(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(store, "LOCK_NOTICE_S", 0.0)
    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.3)
    db = str(tmp_path / "study.db")
    with store._file_lock(db, "s"):
        holder_done = threading.Event()

        def wait_quietly():
            with store._file_lock(db, "s", None):  # no log: `--quiet`
                holder_done.set()

        waiter = threading.Thread(target=wait_quietly)
        waiter.start()
        waiter.join(5)
    assert holder_done.is_set()
    err = capsys.readouterr().err
    assert err.startswith("denselab: waiting for the lock of study `s`") and "going on without it" in err
