"""Who runs which trial, how the others notice that it died, and how often a trial is retried.

Every trial a worker asks records its owner (host, a machine id, process id and the
process's start time) and then a heartbeat, written every `stale_after() / 4`
seconds by a thread while the worker holds the trial, through compiles included.
Another worker decides that a RUNNING trial is an orphan:

- same machine: at once, when the owner process is gone (the process id alone could
  have been reused, hence the start time);
- another machine: when the trial's heartbeat value has not changed for
  `stale_after()` seconds *of the observer's own clock*, looking at least every half
  of that time (`Watch`). Comparing against the beat's timestamp would trust two
  machines' clocks to agree, and counting a database outage would fail every trial
  whose owner merely could not write during it (optuna/optuna#4234: never fail a
  live trial).

An orphan is failed with the reason and its params are enqueued again. Every failure
of a trial's own making (it raised, or its process died) spends one of the spec's
`search.retries`; a trial that used them all stays FAIL for good. A diverged trial
(non-finite CV mean) is not retried: its seeds are fixed, so it would diverge again.
A Ctrl-C costs nothing (the user stopped it, the trial did not fail). Optuna's own
retry callback only covers heartbeat-stale trials (optuna/optuna#6085), hence ours.

Owns the trial attributes `denselab_owner`, `denselab_heartbeat`, `denselab_retry_of`,
`denselab_attempt` (1 for a first try) and `denselab_failure` ({kind, attempt,
requeued}), and env `DENSELAB_STALE_AFTER_S` (default 120) and `DENSELAB_MACHINE_ID`
(default: hostname, boot id and process-id namespace; workers with different ids
never judge each other by process id).

Example:
    >>> next_attempt({"denselab_attempt": 3}, retries=2) is None     # tried 3 times: for good
    True
"""

from __future__ import annotations

import os
import socket
import threading
import time

from denselab.search import store

OWNER_ATTR = "denselab_owner"
HEARTBEAT_ATTR = "denselab_heartbeat"
RETRY_ATTR = "denselab_retry_of"
ATTEMPT_ATTR = "denselab_attempt"
FAILURE_ATTR = "denselab_failure"
STALE_AFTER_S = 120.0


def stale_after() -> float:
    return float(os.environ.get("DENSELAB_STALE_AFTER_S", STALE_AFTER_S))


def beat_every() -> float:
    return max(0.1, min(30.0, stale_after() / 4))


# --- owners ---------------------------------------------------------------------

def machine() -> str:
    """This machine's identity for recovery: processes with equal ids see each other's pids."""
    if os.environ.get("DENSELAB_MACHINE_ID"):
        return os.environ["DENSELAB_MACHINE_ID"]
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            parts.append(f.read().strip())
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        pass
    return "/".join(parts)


def owner() -> dict:
    """Who runs a trial: host, machine id, process id and that process's start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "machine": machine(), "pid": pid, "start": _process_start(pid)}


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks
    except (OSError, IndexError):
        return None


def _alive(who: dict) -> bool:
    pid = who.get("pid")
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _process_start(pid)
    return start is None or who.get("start") is None or start == who.get("start")


def _local(who: dict) -> bool:
    if "machine" in who:
        return who["machine"] == machine()
    return who.get("host") == socket.gethostname()  # written by an older denselab


def mark(study, trial_id: int) -> None:
    """Record this process as the owner of a trial, with a first heartbeat."""
    study._storage.set_trial_user_attr(trial_id, OWNER_ATTR, owner())
    study._storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, time.time())


class Heartbeat:
    """A daemon thread that beats, every `beat_every()` seconds, for the trials this process holds.

    A thread rather than the engine's progress callback: a compile or a long epoch chunk
    must not look like a dead worker. Its storage calls never wait out an outage (the
    main thread does that); a missed beat is retried at the next one.
    """

    def __init__(self, study):
        self.study, self.held, self.lock = study, set(), threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="denselab-heartbeat", daemon=True)
        self.thread.start()

    def hold(self, trial_ids) -> None:
        with self.lock:
            self.held |= set(trial_ids)

    def release(self, trial_ids) -> None:
        with self.lock:
            self.held -= set(trial_ids)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        every = beat_every()
        with store.no_wait():
            while not self.stop.wait(every):
                with self.lock:
                    held = sorted(self.held)
                for trial_id in held:
                    try:
                        self.study._storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, time.time())
                    except Exception:  # finished meanwhile, or the database is away: next beat
                        pass


# --- orphans --------------------------------------------------------------------

class Watch:
    """Tells orphaned RUNNING trials from live ones (see the module docstring).

    Per trial of another machine it keeps the heartbeat value last seen, since when it
    has not changed, and when this process last looked (its monotonic clock). A gap of
    more than half the stale time between two looks restarts the count: this process
    may have been busy while the database was away, and then an unchanged beat proves
    nothing (a gap that short cannot hide an outage long enough to matter, since the
    owner beats every quarter of it). So the Watch must live as long as the worker's loop.
    """

    def __init__(self, url: str):
        self.url, self.seen = str(url), {}

    def orphans(self, running: list, now: float | None = None) -> list:
        now = time.monotonic() if now is None else now
        limit = stale_after()
        found, seen = [], {}
        for t in running:
            who = t.user_attrs.get(OWNER_ATTR)
            if isinstance(who, dict) and _local(who):
                if not _alive(who):
                    found.append(t)
                continue
            if who is None and self.url.startswith("sqlite"):
                found.append(t)  # asked and marked under the study lock: unmarked means killed between
                continue
            beat = (t.user_attrs.get(HEARTBEAT_ATTR), repr(who))
            value, since, looked = self.seen.get(t._trial_id, (None, now, now))
            if value != beat or now - looked > limit / 2:
                since = now
            seen[t._trial_id] = (beat, since, now)
            if now - since >= limit:
                found.append(t)
        self.seen = seen
        return found


def recover(study, watch: Watch, names: list[str], retries: int, log=None) -> list[int]:
    """Fail every orphaned RUNNING trial and enqueue its params again (within `retries`).

    names: the space's param names; a trial killed while its params were being drawn is
    enqueued only if they are complete (or, on a grid, from its grid point). Returns
    the numbers of the trials this call failed.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    failed = []
    for t in watch.orphans(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
        who = t.user_attrs.get(OWNER_ATTR) or {}
        reason = (f"its worker ({who.get('host', '?')} pid {who.get('pid', '?')}) died or stopped beating"
                  if who else "its worker died before recording itself")
        try:
            requeued = fail(study, t, reason, "orphaned", params_of(study.sampler, t, names),
                            next_attempt(t.user_attrs, retries))
        except UpdateFinishedTrialError:  # another worker recovered it, or its owner finished it
            continue
        failed.append(t.number)
        if log:
            fate = "it will be redone" if requeued else "not retried (no retries left)"
            log(f"trial {t.number}: {reason}; {fate}")
    return failed


def params_of(sampler, trial, names: list[str]) -> dict | None:
    """A frozen trial's params when all are known: drawn, enqueued (`fixed_params`) or its grid point."""
    for params in (dict(trial.params), trial.system_attrs.get("fixed_params"), _grid_params(sampler, trial)):
        if params and set(params) == set(names):
            return dict(params)
    return None


def _grid_params(sampler, trial) -> dict | None:
    """The grid point a GridSampler assigned to `trial` (its system attr `grid_id`)."""
    grid_id = trial.system_attrs.get("grid_id")
    grids, names = getattr(sampler, "_all_grids", None), getattr(sampler, "_param_names", None)
    if grid_id is None or grids is None or names is None or not 0 <= grid_id < len(grids):
        return None
    return dict(zip(names, grids[grid_id]))


# --- failures and retries -----------------------------------------------------------

def attempt_of(user_attrs: dict) -> int:
    return int(user_attrs.get(ATTEMPT_ATTR, 1))


def next_attempt(user_attrs: dict, retries: int) -> int | None:
    """The attempt number a retry would get, or None when `retries` are spent."""
    attempt = attempt_of(user_attrs)
    return attempt + 1 if attempt <= retries else None


def fail(study, trial, reason: str, kind: str, params: dict | None, attempt: int | None) -> bool:
    """Mark `trial` FAIL with its reason; enqueue `params` again as `attempt` (None: for good).

    kind: `raised`, `diverged`, `orphaned` or `interrupted`. Raises
    UpdateFinishedTrialError when the trial was already finished (by another worker
    that took it for an orphan). Returns whether the params were enqueued again. FAIL
    comes before the enqueue: dying in between loses a retry, the other order could
    count a configuration twice.
    """
    from optuna.trial import TrialState

    storage, trial_id = study._storage, trial._trial_id
    attrs = trial.user_attrs
    requeue = attempt is not None and bool(params)
    storage.set_trial_user_attr(trial_id, "error", reason[:500])
    storage.set_trial_user_attr(trial_id, FAILURE_ATTR, {"kind": kind, "attempt": attempt_of(attrs),
                                                         "requeued": requeue})
    storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
    if requeue:
        study.enqueue_trial(params, user_attrs={RETRY_ATTR: trial.number, ATTEMPT_ATTR: attempt})
    return requeue
