"""A private, throwaway PostgreSQL server: for the workers' tests, their benchmark, or a try-out.

`initdb` into a fresh temporary folder, a free port on 127.0.0.1, the unix socket in
that folder, `trust` authentication (so any password in the URL is accepted, which
lets tests check that it is masked), durability off (fsync, synchronous commit: a
test server need not survive a power cut). Run as root, the server runs as the
`postgres` user (PostgreSQL refuses root). `close()` stops it and deletes the folder.

The binaries are found with env `DENSELAB_PG_BINDIR`, `pg_config --bindir`,
`/usr/lib/postgresql/*/bin` (Debian) or `initdb` on the PATH; `PgUnavailable` says
what is missing.

Example:
    >>> with PgServer() as pg:                                      # doctest: +SKIP
    ...     url = pg.create_database("demo")    # postgresql://denselab:pw-…@127.0.0.1:PORT/demo
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "denselab"
SETTINGS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100 -c shared_buffers=16MB")


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot run here (binaries missing, no `postgres` user as root, start failed)."""


def bindir() -> Path | None:
    """The folder with `initdb`, `pg_ctl` and `postgres`, or None."""
    candidates = [os.environ.get("DENSELAB_PG_BINDIR")]
    try:
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                         timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    which = shutil.which("initdb")
    candidates.append(str(Path(which).parent) if which else None)
    for folder in candidates:
        if folder and all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


class PgServer:
    """One PostgreSQL server in a temporary folder; `start`, `stop`, `restart`, `close`."""

    def __init__(self, password: str | None = None):
        self.bin = bindir()
        if self.bin is None:
            raise PgUnavailable("no PostgreSQL binaries (initdb, pg_ctl, postgres): install the `postgresql` "
                                "package or set DENSELAB_PG_BINDIR")
        self.user = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            import pwd

            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no `postgres` user to run the server as") from None
        self.password = password or "pw-" + secrets.token_hex(8)  # ignored by `trust`; distinctive in logs
        self.port, self.running = None, False
        self.root = Path(tempfile.mkdtemp(prefix="denselab-pg-"))
        if self.user:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.data, self.logfile = self.root / "data", self.root / "server.log"
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str, timeout: float = 120) -> str:
        kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []} if self.user else {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        try:
            done = subprocess.run([str(self.bin / tool), *args], cwd=self.root, env=env, capture_output=True,
                                  text=True, timeout=timeout, **kwargs)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PgUnavailable(f"{tool} failed: {exc}") from None
        if done.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise PgUnavailable(f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}"
                                f"{' | server log: ' + log if log else ''}")
        return done.stdout

    def start(self) -> "PgServer":
        """Start the server (on the same port as before after a stop)."""
        if self.port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.root} {SETTINGS}", "start")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` disconnects clients at once, as a restart by an admin does."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down for `down_s` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name` (letters, digits, `_`); its URL."""
        import psycopg2

        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name `{name}`: use letters, digits and `_`")
        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return self.url(name)

    def close(self) -> None:
        """Stop the server (immediately) and delete its folder."""
        try:
            self.stop("immediate")
        except PgUnavailable:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgServer":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
