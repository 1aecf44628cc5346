"""The results database: Optuna's own storage, opened from a URL, and crash recovery.

Every evaluated configuration is a plain Optuna trial, so `optuna-dashboard
denselab.db` reads a search as it reads any study. This module owns the storage URL
(default `sqlite:///denselab.db` in the current folder: a file, nothing to start;
any SQLAlchemy URL, e.g. PostgreSQL, for many workers), the masking of its password
in every message, and the recovery of trials left RUNNING by a dead process.

Recovery: each trial the runner starts records its owner (host, process id and the
process's start time) and a heartbeat (unix time, refreshed while it trains). At
start, a RUNNING trial whose owner is a dead process on this host, or whose
heartbeat is older than `STALE_AFTER_S` (another host), is marked FAIL and its params
are enqueued again (`study.enqueue_trial`), so it is redone once and never counted
twice.

Example:
    >>> mask_url("postgresql://ann:s3cret@db.example.org/studies")
    'postgresql://ann:***@db.example.org/studies'
"""

from __future__ import annotations

import os
import socket
import time

from denselab.errors import DenselabError

DEFAULT_STORAGE = "sqlite:///denselab.db"
STALE_AFTER_S = 1800.0  # a trial of another host with no heartbeat for this long is dead
UNOWNED_GRACE_S = 60.0  # shared database: a trial asked but never marked for this long is dead
HEARTBEAT_EVERY_S = 30.0
OWNER_ATTR = "denselab_owner"
HEARTBEAT_ATTR = "denselab_heartbeat"
RETRY_ATTR = "denselab_retry_of"


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***` (safe for logs, reports and errors)."""
    text = str(url)
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(text)
        if parsed.password is None:
            return text
        return parsed.render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide anything between `:` and `@`
        head, sep, tail = text.rpartition("@")
        if not sep or "://" not in head:
            return text
        scheme, _, auth = head.partition("://")
        user = auth.split(":", 1)[0]
        return f"{scheme}://{user}:***@{tail}" if ":" in auth else text


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        return make_url(str(url)).password
    except Exception:
        return None


def scrub(message: str, url: str) -> str:
    """`message` with the URL's password (and the raw URL) masked."""
    text = str(message).replace(str(url), mask_url(url))
    secret = _password(url)
    if secret:
        text = text.replace(str(secret), "***")
    return text


def open_storage(url: str | None = None):
    """An Optuna RDB storage for `url` (default `sqlite:///denselab.db`); errors are masked.

    Raises DenselabError with a one-line message (the password masked) when the URL is
    malformed, its driver is missing or the database cannot be reached.
    """
    import optuna

    url = url or DEFAULT_STORAGE
    if "://" not in str(url):
        raise DenselabError(f"--storage: `{mask_url(url)}` is not a database URL; expected e.g. "
                            f"{DEFAULT_STORAGE} or postgresql://user:password@host/db")
    try:
        return optuna.storages.RDBStorage(str(url), skip_compatibility_check=False)
    except Exception as exc:  # sqlalchemy / driver errors: one masked line
        first = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
        raise DenselabError(f"--storage {mask_url(url)}: cannot open the database ({first})") from None


def owner() -> dict:
    """Who runs a trial: host, process id and that process's start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _process_start(pid)}


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


def is_orphan(trial, url: str = "", now: float | None = None) -> bool:
    """True when a RUNNING trial's owner is gone (dead local process, or stale heartbeat).

    A trial with no owner yet was asked by a process that died before `mark` (a few
    milliseconds later): with SQLite (one machine) it is an orphan at once, with a
    shared database after UNOWNED_GRACE_S.
    """
    who = trial.user_attrs.get(OWNER_ATTR)
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    now = time.time() if now is None else now
    if isinstance(who, dict) and who.get("host") == socket.gethostname():
        return not _alive(who)
    started = trial.datetime_start.timestamp() if trial.datetime_start is not None else None
    if who is None:
        return str(url).startswith("sqlite") or started is None or now - started > UNOWNED_GRACE_S
    if beat is None:
        beat = started
    return beat is not None and now - float(beat) > STALE_AFTER_S


def recover(study, names: list[str], url: str = "", log=None) -> list[int]:
    """Fail every orphaned RUNNING trial and enqueue its params again; returns their numbers.

    names: the space's param names; a trial killed while its params were being drawn is
    enqueued only if they are complete (or, on a grid, from its grid point).
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    redone = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_orphan(t, url):
            continue
        try:
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another worker recovered it first
            continue
        params = dict(t.params)
        if set(params) != set(names):
            params = _grid_params(study.sampler, t) or {}
        if params:
            study.enqueue_trial(params, user_attrs={RETRY_ATTR: t.number})
            redone.append(t.number)
            if log:
                log(f"trial {t.number} was left running by a process that is gone; it will be redone")
    return redone


def _grid_params(sampler, trial) -> dict | None:
    """The grid point a GridSampler assigned to `trial` (its system attr `grid_id`)."""
    grid_id = trial.system_attrs.get("grid_id")
    grids, names = getattr(sampler, "_all_grids", None), getattr(sampler, "_param_names", None)
    if grid_id is None or grids is None or names is None or not 0 <= grid_id < len(grids):
        return None
    return dict(zip(names, grids[grid_id]))


def mark(study, trial_id: int) -> None:
    """Record this process as the owner of a trial, with a first heartbeat."""
    study._storage.set_trial_user_attr(trial_id, OWNER_ATTR, owner())
    study._storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, time.time())


class Heartbeat:
    """Refreshes the heartbeat of running trials, at most every HEARTBEAT_EVERY_S seconds.

    Called from the engine's progress callback (the main thread), so no thread writes.
    """

    def __init__(self, study, trial_ids: list[int]):
        self.study, self.trial_ids, self.last = study, list(trial_ids), time.monotonic()

    def __call__(self, *_args) -> None:
        if time.monotonic() - self.last < HEARTBEAT_EVERY_S:
            return
        self.last = time.monotonic()
        now = time.time()
        for trial_id in self.trial_ids:
            try:
                self.study._storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, now)
            except Exception:  # a heartbeat must never stop training
                pass
