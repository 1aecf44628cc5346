"""`denselab dashboard`: optuna-dashboard on the study database, as it is.

Why: a search's database is plain Optuna storage (DESIGN 5), so Optuna's own web
dashboard reads it without an export: history, parameter importances, slices, each
trial's stored attributes (CV scores per fold, histories). optuna-dashboard is an
optional extra (`pip install 'denselab[dashboard]'`); without it the command says so
in one line.

Example:
    >>> from denselab.search.dashboard import app   # doctest: +SKIP
    >>> wsgi = app("sqlite:///denselab.db")         # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from denselab.errors import DenselabError
from denselab.search import store

INSTALL = "pip install 'denselab[dashboard]' (or pip install optuna-dashboard)"


def app(storage: str | None = None):
    """optuna-dashboard's WSGI application over the study database at `storage`."""
    try:
        import optuna_dashboard
    except ImportError:
        raise DenselabError(f"dashboard: optuna-dashboard is not installed; {INSTALL}") from None
    url = str(storage or store.DEFAULT_STORAGE)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        # Optuna would create an empty database there, and the page would show nothing
        raise DenselabError(f"--storage: no database `{url.removeprefix('sqlite:///')}` here; run "
                            "`denselab search SPEC` first, or give --storage the URL a search used")
    return optuna_dashboard.wsgi(store.open_storage(url))


def serve(storage: str | None = None, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the dashboard until Ctrl-C (prints its URL, opens nothing)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):  # a line per request (the page polls) would bury the URL line
            pass

    wsgi = app(storage)
    try:
        server = make_server(host, port, wsgi, handler_class=Quiet)
    except OSError as exc:
        raise DenselabError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                            "choose another --port") from None
    print(f"optuna-dashboard on {store.mask_url(str(storage or store.DEFAULT_STORAGE))}: "
          f"http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    with server:
        server.serve_forever()
