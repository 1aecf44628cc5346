"""`denselab serve`: a FastAPI app with one static page for training small networks live.

Endpoints (all JSON unless said):
    GET  /                              the page (static/index.html)
    GET  /static/{file}                 the page's js and css
    GET  /vendor/plotly.min.js          plotly.js from the installed `plotly` package (no CDN)
    GET  /api/options                   data sets, activations, optimizers, initializers, limits
    POST /api/sessions                  a new session (one per open page): {session}
    POST /api/sessions/{sid}/close      cancel its jobs, delete its temporary folder
    POST /api/sessions/{sid}/uploads    multipart `file` (csv/xlsx/xls): {upload, name, columns, numeric, rows}
    POST /api/sessions/{sid}/jobs       the form (JSON) → {job}; training starts at once
    GET  /api/jobs/{jid}/events         server-sent events: status, setup, frame…, done | stopped | error
    POST /api/jobs/{jid}/stop           cancel the job
    GET  /api/jobs/{jid}/model.keras    the trained network (member 1), scaling included
    GET  /api/jobs/{jid}/spec.yaml      the spec that reproduces it with `denselab run`
    GET  /api/jobs/{jid}/report.zip     `denselab run`'s report of that spec (cross-validation + test)

Errors are `{"error": "<one line>"}` with status 400 (bad input), 404 (unknown id),
409 (not finished) or 413 (upload too large). Closing the event stream (the page
went away) cancels its job.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from denselab.errors import DenselabError
from denselab.web import jobs

STATIC = Path(__file__).parent / "static"
DEFAULT_UPLOAD_LIMIT = 20 * 1024 * 1024


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the `plotly` Python package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(upload_limit: int = DEFAULT_UPLOAD_LIMIT) -> FastAPI:
    """The app; `upload_limit` in bytes (default 20 MB)."""
    sessions: dict[str, jobs.Session] = {}
    all_jobs: dict[str, jobs.Job] = {}

    @asynccontextmanager
    async def lifespan(app):
        yield
        for s in list(sessions.values()):
            s.close()

    app = FastAPI(title="denselab", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sessions, app.state.jobs = sessions, all_jobs
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly():
        path = plotly_js()
        if not path.exists():  # pragma: no cover - a broken plotly install
            return _error("plotly.min.js is missing from the installed plotly package", 500)
        return FileResponse(path, media_type="application/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/options")
    def options():
        from denselab.data.sources import BUILTINS
        from denselab.models import initializers, optimizers

        return {
            "datasets": [{"name": n, "about": BUILTINS[n].about, "target": "f1" if n == "lcpb-2d" else "label",
                          "features": ["x0", "x1"], "generated": n in jobs.GENERATED} for n in jobs.TWO_D],
            "activations": list(jobs.ACTIVATIONS), "optimizers": list(optimizers.CLASSES),
            "initializers": list(initializers.NAMES), "max_upload_bytes": upload_limit,
            "max_members": jobs.MAX_MEMBERS, "max_layers": jobs.MAX_LAYERS,
        }

    @app.post("/api/sessions")
    def new_session():
        s = jobs.new_session()
        sessions[s.id] = s
        return {"session": s.id}

    @app.post("/api/sessions/{sid}/close")
    def close_session(sid: str):
        s = sessions.pop(sid, None)
        if s is None:
            return _error("session: unknown or already closed", 404)
        for jid in list(s.jobs):
            all_jobs.pop(jid, None)
        s.close()
        return {"closed": sid}

    @app.post("/api/sessions/{sid}/uploads")
    async def upload(sid: str, file: UploadFile = File(...)):
        s = sessions.get(sid)
        if s is None:
            return _error("session: unknown; reload the page", 404)
        raw = await file.read(upload_limit + 1)
        if len(raw) > upload_limit:
            return _error(f"upload: `{jobs.safe_name(file.filename)}` is larger than the "
                          f"{upload_limit / 1048576:g} MB limit", 413)
        try:
            up = await asyncio.to_thread(jobs.save_upload, s, file.filename or "", raw, upload_limit)
        except DenselabError as exc:
            return _error(str(exc))
        return {"upload": up.id, "name": up.name, "columns": up.columns, "numeric": up.numeric,
                "rows": up.rows, "target": up.columns[-1]}

    @app.post("/api/sessions/{sid}/jobs")
    async def start(sid: str, request: Request):
        s = sessions.get(sid)
        if s is None:
            return _error("session: unknown; reload the page", 404)
        try:
            form = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error("form: expected a JSON object")
        try:
            plan = jobs.plan_from_form(form, s)
        except DenselabError as exc:
            return _error(str(exc))
        for old in s.jobs.values():  # one live job per page
            old.cancel()
        job = jobs.Job(s, plan)
        s.jobs[job.id] = job
        all_jobs[job.id] = job
        job.start()
        return {"job": job.id, "labels": plan.labels}

    def _job(jid: str):
        return all_jobs.get(jid)

    @app.get("/api/jobs/{jid}/events")
    async def events(jid: str, request: Request):
        job = _job(jid)
        if job is None:
            return _error("job: unknown", 404)

        async def stream():
            sent = 0
            try:
                yield ": denselab\n\n"
                while True:
                    while sent < len(job.events):
                        kind, data = job.events[sent]
                        sent += 1
                        yield f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
                    if job.finished.is_set() and sent >= len(job.events):
                        return
                    if await request.is_disconnected():
                        return
                    await asyncio.sleep(0.05)
            finally:
                if not job.finished.is_set():
                    job.cancel()  # the page went away

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/jobs/{jid}/stop")
    def stop(jid: str):
        job = _job(jid)
        if job is None:
            return _error("job: unknown", 404)
        job.cancel()
        return {"job": jid, "state": "stopping" if not job.finished.is_set() else job.state}

    def _finished_file(jid: str, what: str, make, media_type: str, filename: str):
        """A download that needs a finished training: 404, 409 or a one-line error otherwise."""
        job = _job(jid)
        if job is None:
            return _error("job: unknown", 404)
        if job.final is None:
            return _error(f"{what}: this training has not finished; press Train and wait for it", 409)
        try:
            path = make(job)
        except DenselabError as exc:
            return _error(str(exc))
        return FileResponse(path, media_type=media_type, filename=filename.format(name=job.plan.experiment.name))

    @app.get("/api/jobs/{jid}/model.keras")
    def model(jid: str):
        return _finished_file(jid, "model", lambda job: job.model_file(), "application/octet-stream",
                              "{name}.keras")

    @app.get("/api/jobs/{jid}/spec.yaml")
    def spec(jid: str):
        job = _job(jid)
        if job is None:
            return _error("job: unknown", 404)
        name = f"{job.plan.experiment.name}.yaml"
        return PlainTextResponse(jobs.spec_yaml(job.plan), media_type="application/x-yaml",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/jobs/{jid}/report.zip")
    def report(jid: str):
        return _finished_file(jid, "report", lambda job: job.report_zip(), "application/zip",
                              "{name}-report.zip")

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, upload_limit: int = DEFAULT_UPLOAD_LIMIT) -> None:
    """Run the app with uvicorn until interrupted; prints the local URL (opens nothing)."""
    import uvicorn

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"denselab: serving on http://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
    os.environ.setdefault("MPLBACKEND", "Agg")  # reports draw figures off screen
    uvicorn.run(create_app(upload_limit), host=host, port=port, log_level="warning")
