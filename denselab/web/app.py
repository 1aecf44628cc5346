"""`denselab serve`: a FastAPI app with one static page for training small networks live.

Endpoints (all JSON unless said; `S` a session id, `J` a job id of that session):
    GET  /                              the page (static/index.html)
    GET  /static/{file}                 the page's js and css
    GET  /vendor/plotly.min.js          plotly.js from the installed `plotly` package (no CDN)
    GET  /api/options                   data sets, activations, optimizers, initializers, limits
    POST /api/sessions                  a new session (one per open page): {session}
    POST /api/sessions/S/close          cancel its jobs, delete its temporary folder
    POST /api/sessions/S/uploads?name=F the file itself as the body (csv/xlsx/xls), streamed to disk
                                        under the limits: {upload, name, columns, numeric, rows, target,
                                        sheets, sheet, missing, …}
    GET  /api/sessions/S/uploads/U?sheet=N   the same for another sheet of a workbook
    POST /api/sessions/S/preview        the form (JSON) → the data points the map will show, before training
    POST /api/sessions/S/jobs           the form (JSON) → {job}; training starts at once
    GET  /api/sessions/S/jobs/J/events  server-sent events: status, setup, frame…, done | stopped | error
    POST /api/sessions/S/jobs/J/control {action: stop | pause | resume | step}
    POST /api/sessions/S/jobs/J/stop    the same as action stop
    GET  /api/sessions/S/jobs/J/model.keras  the trained (or stopped) network 1, scaling included
    GET  /api/sessions/S/jobs/J/model.keras.json  its class labels and input names (`trained.load` reads both)
    GET  /api/sessions/S/jobs/J/model.py     the same as a self-contained Keras script
    GET  /api/sessions/S/jobs/J/spec.yaml    the spec that reproduces it with `denselab run`
    GET  /api/sessions/S/jobs/J/report.zip   `denselab run`'s report of that spec (cross-validation + test)

Errors are `{"error": "<one line>"}` with status 400 (bad input), 403 (foreign Host or
Origin, see `guard.py`), 404 (unknown or expired id), 409 (not trained yet), 413
(upload over a limit), 429 (too many pages) or 507 (the server's upload space is
full); never a server path. Closing the event stream (the page went away) cancels
its job; a job nobody watches stops by itself (`sessions.Limits.unwatched_s`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import traceback
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from denselab.errors import DenselabError
from denselab.web import guard, jobs
from denselab.web.sessions import MB, Limits, Refusal, Registry

STATIC = Path(__file__).parent / "static"
DEFAULT_UPLOAD_LIMIT = 20 * MB


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the `plotly` Python package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(upload_limit: int = DEFAULT_UPLOAD_LIMIT, *, host: str = "127.0.0.1", allow_hosts=(),
               limits: Limits | None = None, clock=None) -> FastAPI:
    """The app. `host`: the address it binds (decides which `Host` headers are its own);
    `allow_hosts`: more names it answers to; `limits`: see `sessions.Limits`
    (`upload_limit` overrides its `upload_bytes`); `clock`: a test hook for expiry."""
    import dataclasses
    import time

    limits = dataclasses.replace(limits or Limits(), upload_bytes=upload_limit)
    clock = clock or time.monotonic
    registry = Registry(limits, clock)

    @asynccontextmanager
    async def lifespan(app):
        async def reaper():  # expire unused pages (and their files) even when no request comes
            while True:
                await asyncio.sleep(min(60.0, max(1.0, limits.idle_s / 4)))
                registry.reap()

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            registry.close_all()

    app = FastAPI(title="denselab", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.registry, app.state.limits = registry, limits
    app.state.allowed_hosts = guard.host_names(host) | {h.lower() for h in allow_hosts}
    app.add_middleware(guard.Guard, allowed=app.state.allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def error(request: Request | None, message: str, status: int = 400) -> JSONResponse:
        known = {}
        sid = request.path_params.get("sid") if request is not None else None
        if sid and sid in registry.sessions:
            known = registry.sessions[sid].known_paths()
        return JSONResponse({"error": guard.scrub(" ".join(str(message).split()), known)}, status_code=status)

    @app.exception_handler(DenselabError)
    async def bad_input(request: Request, exc: DenselabError):
        return error(request, str(exc), exc.status if isinstance(exc, Refusal) else 400)

    @app.exception_handler(guard.BadForm)
    async def bad_form(request: Request, exc: guard.BadForm):
        return error(request, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return error(request, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(request, str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception):  # pragma: no cover - a bug: log it, say little
        traceback.print_exc()
        return error(request, f"internal error ({type(exc).__name__}); the server log has the details", 500)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly():
        path = plotly_js()
        if not path.exists():  # pragma: no cover - a broken plotly install
            return error(None, "plotly.min.js is missing from the installed plotly package", 500)
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
            "initializers": list(initializers.NAMES), "missing": list(jobs.MISSING),
            "max_upload_bytes": limits.upload_bytes, "max_members": jobs.MAX_MEMBERS,
            "max_layers": jobs.MAX_LAYERS,
        }

    @app.post("/api/sessions")
    def new_session():
        return {"session": registry.open().id}

    @app.post("/api/sessions/{sid}/close")
    def close_session(sid: str):
        if not registry.close(sid):
            raise Refusal("session: unknown or already closed", 404)
        return {"closed": sid}

    @app.post("/api/sessions/{sid}/uploads")
    async def upload(sid: str, request: Request, name: str = ""):
        s = registry.get(sid)
        declared = request.headers.get("content-length", "")
        registry.room(s, int(declared) if declared.isdigit() else 0)  # 413 before a byte is read
        if request.headers.get("content-type", "").startswith("multipart/"):
            raise Refusal("upload: send the file itself as the request body, its name as ?name= "
                          "(the page does)", 400)
        uid, shown, path = jobs.new_upload(s, name)
        written = 0
        try:
            with open(path, "wb") as f:
                async for chunk in request.stream():  # the cap holds while the body streams in
                    written += len(chunk)
                    registry.room(s, written)
                    f.write(chunk)
            if not written:
                raise Refusal(f"upload: `{shown}` is empty; it needs a header row and data rows", 400)
            up = await asyncio.to_thread(jobs.add_upload, s, uid, shown, path)
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        return {"upload": up.id, "name": up.name, "size": up.size, **up.info}

    @app.get("/api/sessions/{sid}/uploads/{uid}")
    async def table(sid: str, uid: str, sheet: str | None = None):
        s = registry.get(sid)
        up = s.uploads.get(uid)
        if up is None:
            raise Refusal("upload: unknown; upload the file again", 404)
        if sheet is not None and up.info.get("sheets") is not None and sheet not in up.info["sheets"]:
            raise Refusal(f"data.sheet: no sheet `{sheet[:40]}` in `{up.name}`; sheets: "
                          f"{', '.join(up.info['sheets'])}", 400)
        if sheet is not None and sheet != up.info.get("sheet"):
            up.info = await asyncio.to_thread(jobs.describe_table, up, sheet)
        return {"upload": up.id, "name": up.name, "size": up.size, **up.info}

    async def form_of(request: Request) -> dict:
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limits.form_bytes:
                break
        return guard.parse_form(bytes(raw), limits.form_bytes)

    @app.post("/api/sessions/{sid}/preview")
    async def preview(sid: str, request: Request):
        s = registry.get(sid)
        form = await form_of(request)
        return await asyncio.to_thread(jobs.preview, form, s)

    @app.post("/api/sessions/{sid}/jobs")
    async def start(sid: str, request: Request):
        s = registry.get(sid)
        form = await form_of(request)
        plan = await asyncio.to_thread(jobs.plan_from_form, form, s)
        job = jobs.Job(s, plan, limits, clock)
        registry.add_job(s, job)
        job.start()
        return {"job": job.id, "labels": plan.labels}

    @app.get("/api/sessions/{sid}/jobs/{jid}/events")
    async def events(sid: str, jid: str, request: Request):
        job = registry.job(sid, jid)

        async def stream():
            sent = 0
            job.watch(+1)
            try:
                yield ": denselab\n\n"
                while True:
                    while sent < len(job.events):
                        kind, data = job.events[sent]
                        sent += 1
                        if kind == "error":
                            data = {**data, "message": guard.scrub(data["message"], job.session.known_paths())}
                        yield f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
                    if job.finished.is_set() and sent >= len(job.events):
                        return
                    if await request.is_disconnected():
                        return
                    job.session.seen = clock()  # a page watching a run is in use: it does not expire
                    await asyncio.sleep(0.03)
            finally:
                job.watch(-1)
                if not job.finished.is_set():
                    job.cancel("stopped: the page went away")

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/sessions/{sid}/jobs/{jid}/control")
    async def control(sid: str, jid: str, request: Request):
        job = registry.job(sid, jid)
        form = await form_of(request)
        return {"job": jid, "state": job.control(form.get("action", "stop"))}

    @app.post("/api/sessions/{sid}/jobs/{jid}/stop")
    def stop(sid: str, jid: str):
        job = registry.job(sid, jid)
        return {"job": jid, "state": job.control("stop")}

    def trained_file(sid: str, jid: str, what: str, make, media_type: str, filename: str):
        """A download that needs trained weights (done, or stopped after a frame): 409 before."""
        job = registry.job(sid, jid)
        if job.final is None:
            raise Refusal(f"{what}: nothing trained yet; press Train and wait for a frame", 409)
        path = make(job)
        return FileResponse(path, media_type=media_type, filename=filename.format(name=job.plan.experiment.name))

    @app.get("/api/sessions/{sid}/jobs/{jid}/model.keras")
    def model(sid: str, jid: str):
        return trained_file(sid, jid, "model", lambda job: job.model_file(), "application/octet-stream",
                            "{name}.keras")

    @app.get("/api/sessions/{sid}/jobs/{jid}/model.keras.json")
    def labels(sid: str, jid: str):
        return trained_file(sid, jid, "model", lambda job: job.model_file().with_suffix(".keras.json"),
                            "application/json", "{name}.keras.json")

    @app.get("/api/sessions/{sid}/jobs/{jid}/model.py")
    def script(sid: str, jid: str):
        job = registry.job(sid, jid)
        if job.final is None:
            raise Refusal("script: nothing trained yet; press Train and wait for a frame", 409)
        name = f"{job.plan.experiment.name}.py"
        return PlainTextResponse(job.script(), media_type="text/x-python",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/sessions/{sid}/jobs/{jid}/spec.yaml")
    def spec(sid: str, jid: str):
        job = registry.job(sid, jid)
        name = f"{job.plan.experiment.name}.yaml"
        return PlainTextResponse(jobs.spec_yaml(job.plan), media_type="application/x-yaml",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/sessions/{sid}/jobs/{jid}/report.zip")
    def report(sid: str, jid: str):
        return trained_file(sid, jid, "report", lambda job: job.report_zip(), "application/zip",
                            "{name}-report.zip")

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, upload_limit: int = DEFAULT_UPLOAD_LIMIT,
          allow_hosts=()) -> None:
    """Run the app with uvicorn until interrupted; prints the address it binds (opens nothing)."""
    import uvicorn

    app = create_app(upload_limit, host=host, allow_hosts=allow_hosts)
    print(bind_message(host, port, app.state.allowed_hosts), flush=True)
    os.environ.setdefault("MPLBACKEND", "Agg")  # reports draw figures off screen
    uvicorn.run(app, host=host, port=port, log_level="warning")


def bind_message(host: str, port: int, allowed: set) -> str:
    """What `serve` prints: the address it really binds, and a warning when that is not loopback."""
    shown = f"[{host}]" if ":" in host else host
    lines = [f"denselab: serving on http://{shown}:{port}/  (Ctrl+C to stop)"]
    if host not in guard.LOOPBACK:
        others = sorted(a for a in allowed if a not in guard.LOOPBACK)
        where = "every network interface" if host in ("0.0.0.0", "::", "") else f"the address {host}"
        lines.append(f"denselab: WARNING: bound to {where}: anyone who can reach this machine can upload "
                     "files and use its CPUs (there is no password). Keep the default --host 127.0.0.1 "
                     "unless you mean that.")
        if others:
            lines.append(f"denselab: it answers to: {', '.join(others)} (port {port}); add names with --allow-host")
    return "\n".join(lines)
