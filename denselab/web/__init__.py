"""`denselab serve`: a local web page to train small networks and watch them learn.

`create_app()` builds the FastAPI app (see `denselab.web.app` for the endpoints);
`serve()` runs it with uvicorn on 127.0.0.1.
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    from denselab.web.app import create_app as make

    return make(*args, **kwargs)


def serve(*args, **kwargs):
    from denselab.web.app import serve as run

    return run(*args, **kwargs)


__all__ = ["create_app", "serve"]
