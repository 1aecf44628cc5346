"""Sessions of `denselab serve`: one per open page, with its uploads, jobs, quotas and expiry.

A session is a private temporary folder and the jobs started from that page; a job
id is only looked up inside its own session, so knowing a job id is not enough to
watch, stop or download it. The `Registry` owns every limit that protects the
machine when the server is left running: how many pages may be open, how many bytes
uploads may take per page and in all, how long an unused page keeps its files, and
how long a job may run with no page watching it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from denselab.errors import DataError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound of the server, in one place (bytes and seconds)."""

    upload_bytes: int = 20 * MB        # one file
    session_bytes: int = 100 * MB      # all uploads of one page
    total_bytes: int = 500 * MB        # all uploads of all pages
    uploads_per_session: int = 20
    sessions: int = 32                 # open pages
    jobs_per_session: int = 20         # finished jobs kept for their downloads (oldest go first)
    idle_s: float = 30 * 60            # a page not heard from for this long is closed, its files deleted
    unwatched_s: float = 10.0          # a job no page has watched for this long is stopped
    pause_s: float = 10 * 60           # a paused job holds the training slot at most this long
    form_bytes: int = 64 * 1024        # the JSON form


class Refusal(DataError):
    """A request over a limit: `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    id: str
    path: Path
    name: str
    size: int
    info: dict = field(default_factory=dict)  # columns, sheets, … (see jobs.describe_table)


@dataclass
class Session:
    id: str
    dir: Path
    uploads: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    seen: float = field(default_factory=time.monotonic)

    @property
    def bytes(self) -> int:
        return sum(u.size for u in self.uploads.values())

    def known_paths(self) -> dict:
        """Server paths that may appear in a message → what the page may see instead."""
        out = {str(u.path): u.name for u in self.uploads.values()}
        out[str(self.dir)] = "(session folder)"
        return out

    def close(self) -> None:
        for job in self.jobs.values():
            job.cancel()
        shutil.rmtree(self.dir, ignore_errors=True)


def safe_name(name: str) -> str:
    """The file name without folders, with only plain characters."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(name or "")).name)[-100:].lstrip(".")
    return base or "upload.csv"


class Registry:
    """All sessions of one server; `clock` is injectable so tests can expire sessions."""

    def __init__(self, limits: Limits, clock=time.monotonic):
        self.limits, self.clock = limits, clock
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def open(self) -> Session:
        with self.lock:
            self._reap_locked()
            if len(self.sessions) >= self.limits.sessions:
                raise Refusal(f"sessions: {self.limits.sessions} pages are open, the server's limit; close a "
                              f"page or wait {self.limits.idle_s / 60:g} minutes for unused ones to expire", 429)
            sid = uuid.uuid4().hex
            s = Session(sid, Path(tempfile.mkdtemp(prefix=f"denselab-web-{sid[:8]}-")), seen=self.clock())
            self.sessions[sid] = s
            return s

    def get(self, sid: str) -> Session:
        """The live session `sid` (its clock restarted), or a 404 Refusal."""
        with self.lock:
            s = self.sessions.get(sid)
            if s is not None and self.clock() - s.seen > self.limits.idle_s:
                self._close_locked(sid)
                s = None
            if s is None:
                raise Refusal("session: unknown or expired; reload the page", 404)
            s.seen = self.clock()
            return s

    def job(self, sid: str, jid: str):
        s = self.get(sid)
        job = s.jobs.get(jid)
        if job is None:
            raise Refusal("job: unknown in this session", 404)
        return job

    def add_job(self, s: Session, job) -> None:
        with self.lock:
            for old in s.jobs.values():  # one live job per page
                old.cancel()
            s.jobs[job.id] = job
            while len(s.jobs) > self.limits.jobs_per_session:
                oldest = next(iter(s.jobs))
                s.jobs.pop(oldest).discard()

    def close(self, sid: str) -> bool:
        with self.lock:
            return self._close_locked(sid)

    def reap(self) -> list[str]:
        """Close sessions idle longer than `idle_s`; returns their ids."""
        with self.lock:
            return self._reap_locked()

    def close_all(self) -> None:
        with self.lock:
            for sid in list(self.sessions):
                self._close_locked(sid)

    def _reap_locked(self) -> list[str]:
        now = self.clock()
        gone = [sid for sid, s in self.sessions.items() if now - s.seen > self.limits.idle_s]
        for sid in gone:
            self._close_locked(sid)
        return gone

    def _close_locked(self, sid: str) -> bool:
        s = self.sessions.pop(sid, None)
        if s is None:
            return False
        s.close()
        return True

    # uploads
    def room(self, s: Session, size: int) -> None:
        """Refuse (413/507) an upload of `size` bytes that would break a quota."""
        lim = self.limits
        if size > lim.upload_bytes:
            raise Refusal(f"upload: the file is larger than the {lim.upload_bytes / MB:g} MB limit", 413)
        if len(s.uploads) >= lim.uploads_per_session:
            raise Refusal(f"upload: this page already holds {lim.uploads_per_session} uploads, the limit; "
                          "reload the page to start afresh", 413)
        if s.bytes + size > lim.session_bytes:
            raise Refusal(f"upload: this page's uploads would pass {lim.session_bytes / MB:g} MB, the limit "
                          "per page; reload the page to start afresh", 413)
        with self.lock:
            total = sum(x.bytes for x in self.sessions.values())
        if total + size > lim.total_bytes:
            raise Refusal(f"upload: the server's uploads would pass {lim.total_bytes / MB:g} MB in all; try "
                          "again when other pages have closed", 507)
