"""The results database: Optuna's own storage, opened from a URL, that rides out outages.

Every evaluated configuration is a plain Optuna trial, so `optuna-dashboard
denselab.db` reads a search as it reads any study. This module owns the storage URL
(default `sqlite:///denselab.db` in the current folder: a file, nothing to start;
any SQLAlchemy URL, e.g. PostgreSQL, for many workers), the masking of its password
in every message, waiting out a database that went away, creating a new database from
processes started at the same moment (`_rdb_storage`), and the study lock that
makes "how many trials are missing, ask them" one step among many workers.
Who runs which trial, heartbeats and retries: `recovery.py`.

Outages: once the database has been opened, every storage call that fails because
the server cannot be reached (SQLAlchemy `OperationalError`, `InterfaceError`,
`DisconnectionError`, also when Optuna wraps them) is retried with exponential
backoff (0.5 s doubling to 30 s), one masked log line per wait, for at most
`DENSELAB_DB_WAIT_S` seconds (default 300), then a `DenselabError`. The first
connection fails at once instead: a wrong URL should not look like a slow server.

Example:
    >>> mask_url("postgresql://ann:s3cret@db.example.org/studies")
    'postgresql://ann:***@db.example.org/studies'
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
import time

from denselab.errors import DenselabError

DEFAULT_STORAGE = "sqlite:///denselab.db"
DB_WAIT_S = 300.0  # default of env DENSELAB_DB_WAIT_S: how long a worker waits for the database
LOCK_WAIT_S = 60.0  # a study lock held longer than this belongs to a stuck worker: go on without it
LOCK_NOTICE_S = 2.0  # a wait for the study lock longer than this is said, once
_BACKOFF = (0.5, 30.0)  # first and longest wait between attempts
_local = threading.local()  # per thread: nesting depth of waited calls, and "never wait" (heartbeats)


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


def first_line(exc: BaseException, url: str) -> str:
    """The first line of an error (its root cause for database errors), masked."""
    root, seen = exc, set()
    while id(root) not in seen:  # Optuna wraps SQLAlchemy, which wraps the driver: say the driver's words
        seen.add(id(root))
        deeper = getattr(root, "orig", None) or root.__cause__
        if deeper is None:
            break
        root = deeper
    text = str(root).strip()
    return scrub(" ".join(text.splitlines()[0].split()) if text else type(root).__name__, url)


def db_wait_s() -> float:
    return float(os.environ.get("DENSELAB_DB_WAIT_S", DB_WAIT_S))


def unreachable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (worth waiting for)."""
    from sqlalchemy import exc as sa

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class Waiter:
    """Runs storage calls, waiting out outages (see the module docstring)."""

    def __init__(self, url: str, log=None):
        self.url, self.log = url, log
        self.waits = 0  # outages waited out so far; a change means connections (and locks) were lost

    def call(self, fn, *args, **kwargs):
        if getattr(_local, "depth", 0) or getattr(_local, "no_wait", False):
            return fn(*args, **kwargs)  # the outermost call waits; inner ones would multiply it
        _local.depth = 1
        try:
            return self._call(fn, args, kwargs)
        finally:
            _local.depth = 0

    def _call(self, fn, args, kwargs):
        delay, deadline, attempt = _BACKOFF[0], None, 0
        while True:
            try:
                result = fn(*args, **kwargs)
                if attempt:
                    self._say(f"database {mask_url(self.url)} is back after {attempt} wait(s)")
                return result
            except Exception as exc:
                if not unreachable(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + db_wait_s()
                reason = first_line(exc, self.url)
                if now + delay > deadline:
                    raise DenselabError(f"--storage {mask_url(self.url)}: the database has been unreachable for "
                                        f"{db_wait_s():.0f} s (DENSELAB_DB_WAIT_S); giving up: {reason}") from None
                attempt += 1
                self.waits += 1
                self._say(f"database {mask_url(self.url)} unreachable ({reason}); retry {attempt} in {delay:.1f} s")
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF[1])

    def _say(self, line: str) -> None:
        if self.log:
            self.log(line)


@contextlib.contextmanager
def no_wait():
    """Storage calls in this block fail at once instead of waiting (the heartbeat thread)."""
    before = getattr(_local, "no_wait", False)
    _local.no_wait = True
    try:
        yield
    finally:
        _local.no_wait = before


def _storage_class():
    """Optuna's cached RDB storage whose public methods go through the storage's `Waiter`.

    The outermost layer is wrapped: the cache calls private methods of RDBStorage, and a
    failed call leaves the cache as it was, so the whole call can be repeated.
    """
    import optuna
    from optuna.storages._cached_storage import _CachedStorage

    names = [n for n in dir(optuna.storages.BaseStorage) if not n.startswith("_")]

    def waited(name):
        method = getattr(_CachedStorage, name)

        def call(self, *args, **kwargs):
            return self.waiter.call(method, self, *args, **kwargs)

        call.__name__ = name
        return call

    return type("WaitingStorage", (_CachedStorage,),
                {n: waited(n) for n in names if callable(getattr(_CachedStorage, n, None))})


_CLASS = None


def open_storage(url: str | None = None, log=None):
    """An Optuna RDB storage for `url` (default `sqlite:///denselab.db`) that waits out outages.

    Raises DenselabError with a one-line message (the password masked) when the URL is
    malformed, its driver is missing or the database cannot be reached now.
    """
    global _CLASS
    url = str(url or DEFAULT_STORAGE)
    if "://" not in url:
        raise DenselabError(f"--storage: `{mask_url(url)}` is not a database URL; expected e.g. "
                            f"{DEFAULT_STORAGE} or postgresql://user:password@host/db")
    _quiet_optuna_fallback()
    _CLASS = _CLASS or _storage_class()
    driver_url, kwargs = _with_driver(url), {}
    if driver_url.startswith(("postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")):
        # pre-ping: pooled connections die with a server restart; keepalives: notice a
        # vanished server mid-query instead of hanging on the socket.
        kwargs = {"pool_pre_ping": True, "connect_args": {
            "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
            "keepalives_interval": 10, "keepalives_count": 3}}
    try:
        backend = _rdb_storage(driver_url, kwargs)
    except Exception as exc:  # sqlalchemy / driver errors: one masked line
        raise DenselabError(f"--storage {mask_url(url)}: cannot open the database ({first_line(exc, url)})") from None
    storage = _CLASS(backend)
    storage.waiter = Waiter(url, log)
    return storage


def _rdb_storage(url: str, engine_kwargs: dict):
    """Optuna's RDBStorage, safe for processes that open a new database at the same moment.

    Opening creates the tables and stamps alembic's version row; two processes doing it at
    once collide (`UNIQUE constraint failed: alembic_version`, `table trials already exists`;
    2 of 5 tries with two searches started together). SQLite files: the creation is done
    under an flock of the file. Servers: a collision means the other process has just
    created them, so the opening is tried once more.
    """
    import optuna
    from sqlalchemy import exc as sa
    from sqlalchemy.engine import make_url

    database = make_url(url).database if url.startswith("sqlite") else None
    if database not in (None, "", ":memory:"):
        with _flock(database, "init"):
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except (sa.IntegrityError, sa.ProgrammingError):  # "duplicate key" / "relation already exists"
        time.sleep(0.5)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def _with_driver(url: str) -> str:
    """`postgresql://` (or `postgres://`) with the driver that is installed: SQLAlchemy 2.1
    reads the plain scheme as psycopg 3, while denselab's `postgres` extra installs psycopg2."""
    import importlib.util

    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return f"postgresql://{rest}"


def _quiet_optuna_fallback() -> None:
    """Optuna logs a whole SQL error when a query fails and it retries it another way;
    during an outage that repeats our one-line wait message in many lines."""
    logger = logging.getLogger("optuna.storages._rdb.storage")
    if not any(isinstance(f, _DropFallback) for f in logger.filters):
        logger.addFilter(_DropFallback())


class _DropFallback(logging.Filter):
    def filter(self, record) -> bool:
        return not str(record.msg).startswith("Caught an error from sqlalchemy")


# --- the study lock ------------------------------------------------------------

@contextlib.contextmanager
def study_lock(storage, study_name: str, log=None):
    """Hold the study's lock while counting and asking trials, so workers never overshoot.

    PostgreSQL: a session advisory lock (released by the server if the holder dies).
    SQLite: an exclusive `flock` (one machine), polled so that a wait is said after
    LOCK_NOTICE_S and given up after LOCK_WAIT_S, as on PostgreSQL. Other databases:
    no lock (a few trials more than asked can then be finished).
    """
    engine = getattr(getattr(storage, "_backend", None), "engine", None)
    name = engine.dialect.name if engine is not None else ""
    if name == "postgresql" and hasattr(storage, "waiter"):
        with _pg_lock(storage, study_name, log):
            yield
    elif name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _file_lock(engine.url.database, study_name, log):
            yield
    else:
        yield


@contextlib.contextmanager
def _pg_lock(storage, study_name: str, log):
    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(f"denselab:{study_name}".encode()).digest()[:8], "big", signed=True)

    def take():
        conn = storage._backend.engine.connect()
        try:
            wait = _LockWait(study_name, "another worker", log)
            while not conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.rollback()
                if wait.given_up():
                    conn.close()
                    return None
                time.sleep(0.05)
            conn.commit()
            return conn
        except BaseException:
            conn.invalidate()  # a half-open session must not go back to the pool holding the lock
            conn.close()
            raise

    conn = storage.waiter.call(take)
    try:
        yield
    finally:
        if conn is not None:
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception:  # the server went away, and the lock with it
                conn.invalidate()
            conn.close()


class _LockWait:
    """Says a wait for the study lock once it passes LOCK_NOTICE_S, and gives up after LOCK_WAIT_S.

    Without a log (`--quiet`) the lines go to stderr all the same: a search that sits still
    for a minute must say why.
    """

    def __init__(self, study_name: str, holder: str, log):
        self.study, self.holder, self.started, self.noticed = study_name, holder, time.monotonic(), False
        self.say = log or (lambda line: print(f"denselab: {line}", file=sys.stderr, flush=True))

    def given_up(self) -> bool:
        waited = time.monotonic() - self.started
        if waited > LOCK_NOTICE_S and not self.noticed:
            self.noticed = True
            self.say(f"waiting for the lock of study `{self.study}`, held by {self.holder} while it counts and "
                     f"asks trials; going on without it after {LOCK_WAIT_S:.0f} s")
        if waited > LOCK_WAIT_S:
            self.say(f"the lock of study `{self.study}` has been held for {LOCK_WAIT_S:.0f} s "
                     f"by {self.holder} (stuck?); going on without it")
            return True
        return False


@contextlib.contextmanager
def _flock(database: str, purpose: str, wait: "_LockWait | None" = None):
    """An flock in the temporary folder named after the database file (not beside it: no litter),
    one per purpose (`study`, `init`); the holder's pid is written into it for the waiting line.
    With `wait`, polled so the wait is said and bounded; without, a plain blocking lock."""
    import fcntl
    import tempfile

    key = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:16]
    suffix = "" if purpose == "study" else f".{purpose}"
    with open(os.path.join(tempfile.gettempdir(), f"denselab-{key}{suffix}.lock"), "a+") as handle:
        held = True
        if wait is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        else:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if not wait.noticed:
                        handle.seek(0)
                        pid = handle.read().strip()
                        wait.holder = f"process {pid} on this machine" if pid.isdigit() else wait.holder
                    if wait.given_up():
                        held = False
                        break
                    time.sleep(0.05)
        try:
            if held:
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
            yield
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _file_lock(database: str, study_name: str, log=None):
    """The SQLite study lock (see `study_lock`)."""
    with _flock(database, "study", _LockWait(study_name, "another search or worker", log)):
        yield
