import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("MPLBACKEND", "Agg")

import pathlib

import pytest

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture
def data_dir():
    return DATA


# --- a private PostgreSQL server for the many-workers tests ---------------------------

@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL server for the session (see denselab/search/pgserver.py).

    Where it cannot start the tests that need it are skipped, loudly; on CI (env CI set,
    as `.ci/run` does, which also installs PostgreSQL) that is a failure instead.
    """
    import sys

    from denselab.search.pgserver import PgServer, PgUnavailable

    try:
        server = PgServer()
        server.start()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must run on CI for the workers' fault tests: {exc}")
        banner = f"PostgreSQL cannot start here, so the many-workers fault tests are SKIPPED: {exc}"
        print(f"\n{'!' * 20}\n{banner}\n{'!' * 20}", file=sys.__stderr__, flush=True)
        pytest.skip(banner)
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh database on the session's server, its URL with a password (to check masking)."""
    import re

    name = re.sub(r"\W", "_", request.node.name.lower())[:40] + f"_{os.getpid()}"
    return pg_server.create_database(name)
