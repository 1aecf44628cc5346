"""`denselab serve` is safe to leave running: each rule of `web/guard.py` and `web/sessions.py`.

Foreign Host (DNS rebinding) and Origin (CSRF) refused, job ids bound to their
session, the upload cap holding while the body streams, quotas, expiry, jobs
nobody watches, Stop within a second, bounded csv sniffing, server paths kept out
of messages, and a fuzzed body corpus that never gets a 500.
"""

from __future__ import annotations

import csv
import json
import select
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from denselab.errors import DenselabError  # noqa: E402
from denselab.web import guard, jobs  # noqa: E402
from denselab.web.app import bind_message, create_app  # noqa: E402
from denselab.web.sessions import Limits  # noqa: E402

BASE = "http://127.0.0.1:8000"
SMALL = {"source": "f1", "points": 200, "epochs": 3, "speed": "fast", "hidden": [{"units": 4, "activation": "tanh"}]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(upload_limit=100_000), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def session(client):
    return client.post("/api/sessions").json()["session"]


def one_line(r) -> str:
    message = r.json()["error"]
    assert "\n" not in message and "/tmp" not in message and "Traceback" not in message, message
    return message


# --- Host and Origin -------------------------------------------------------------------

@pytest.mark.parametrize("base, status", [("http://127.0.0.1:8000", 200), ("http://localhost:8000", 200),
                                          ("http://[::1]:8000", 200), ("http://evil.example:8000", 403),
                                          ("http://127.0.0.1.evil.example", 403)])
def test_foreign_host_is_refused(base, status):
    with TestClient(create_app(), base_url=base) as c:
        for r in (c.get("/"), c.get("/api/options"), c.post("/api/sessions")):
            assert r.status_code == status, (base, r.text)
        if status == 403:
            assert "DNS rebinding" in one_line(r)


def test_bound_name_and_allowed_hosts_are_accepted():
    with TestClient(create_app(host="10.1.2.3", allow_hosts=["box.lan"]), base_url="http://box.lan:8000") as c:
        assert c.get("/api/options").status_code == 200
        assert c.get("/api/options", headers={"host": "10.1.2.3:8000"}).status_code == 200
        assert c.get("/api/options", headers={"host": "other.lan"}).status_code == 403


@pytest.mark.parametrize("headers, status", [
    ({}, 200),  # curl, scripts: not a browser acting for another page
    ({"origin": BASE}, 200),
    ({"origin": BASE, "sec-fetch-site": "same-origin"}, 200),
    ({"origin": "http://evil.example"}, 403),
    ({"origin": "http://127.0.0.1:9999"}, 403),  # another local server is another origin
    ({"origin": "null"}, 403),
    ({"sec-fetch-site": "cross-site"}, 403),
])
def test_state_changing_requests_from_other_origins_are_refused(client, session, headers, status):
    for r in (client.post("/api/sessions", headers=headers),
              client.post(f"/api/sessions/{session}/preview", json={"source": "xor", "points": 60}, headers=headers)):
        assert r.status_code == status, r.text
        if status == 403:
            assert "cross-site request forgery" in one_line(r)
    assert client.get("/api/options", headers=headers).status_code == 200  # reading is not changing


def test_job_ids_belong_to_their_session(client, session):
    job = client.post(f"/api/sessions/{session}/jobs", json=SMALL).json()["job"]
    other = client.post("/api/sessions").json()["session"]
    for path in ("events", "model.keras", "model.py", "spec.yaml", "report.zip"):
        assert client.get(f"/api/sessions/{other}/jobs/{job}/{path}").status_code == 404
    r = client.post(f"/api/sessions/{other}/jobs/{job}/stop")
    assert r.status_code == 404 and "this session" in one_line(r)
    client.post(f"/api/sessions/{session}/jobs/{job}/stop")


# --- uploads: streaming cap, quotas -----------------------------------------------------

@pytest.fixture(scope="module")
def live_server():
    """A real uvicorn server (the cap must hold on a real socket, not only in TestClient)."""
    import uvicorn

    app = create_app(upload_limit=100_000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    yield app, port
    server.should_exit = True
    thread.join(10)


def _raw(port: int, head: bytes, body_chunks=(), total=0):
    """Send `head`, then chunks until the server answers; returns (status line, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    answer, sent = b"", 0
    try:
        sock.sendall(head)
        for chunk in body_chunks:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if sent >= total:
                break
        deadline = time.time() + 10
        while b"\r\n" not in answer and time.time() < deadline:
            try:
                part = sock.recv(4096)
            except ConnectionResetError:
                break
            if not part:
                break
            answer += part
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent


def _session_on(port: int) -> str:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/sessions")
    sid = json.loads(conn.getresponse().read())["session"]
    conn.close()
    return sid


def test_upload_cap_holds_while_the_body_streams(live_server):
    app, port = live_server
    sid = _session_on(port)
    folder = app.state.registry.sessions[sid].dir
    head = (f"POST /api/sessions/{sid}/uploads?name=big.csv HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: text/csv\r\n\r\n").encode()
    piece = b"1,2\n" * 16384
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    total = 256 * 1024 * 1024  # 256 MB offered; the limit is 100 kB
    status, sent = _raw(port, head, iter(lambda: chunk, None), total)
    assert " 413 " in status, status
    assert sent < total / 4, sent  # answered long before the body ended (the rest was never read)
    assert not any(p.is_file() for p in folder.rglob("*")), list(folder.rglob("*"))  # nothing left on disk


def test_declared_size_over_the_limit_is_refused_before_reading(live_server):
    _, port = live_server
    sid = _session_on(port)
    head = (f"POST /api/sessions/{sid}/uploads?name=huge.csv HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Length: 3000000000\r\n\r\n").encode()
    status, _ = _raw(port, head)
    assert " 413 " in status, status


def test_quotas_per_session_and_for_the_server():
    limits = Limits(session_bytes=2500, total_bytes=4000, uploads_per_session=3, sessions=3)
    table = b"a,b\n" + b"1,2\n" * 200  # 804 bytes
    with TestClient(create_app(upload_limit=1000, limits=limits), base_url=BASE) as c:
        one, two = (c.post("/api/sessions").json()["session"] for _ in range(2))
        up = lambda sid: c.post(f"/api/sessions/{sid}/uploads", params={"name": "t.csv"}, content=table)  # noqa: E731
        assert [up(one).status_code for _ in range(3)] == [200, 200, 200]
        r = up(one)
        assert r.status_code == 413 and "3 uploads" in one_line(r)
        assert up(two).status_code == 200  # 3 216 bytes on the server now
        r = up(two)
        assert r.status_code == 507 and "4 MB" not in one_line(r) and "in all" in one_line(r)
        c.post("/api/sessions")
        r = c.post("/api/sessions")
        assert r.status_code == 429 and "3 pages are open" in one_line(r)
        r = c.post(f"/api/sessions/{two}/uploads", params={"name": "t.csv"}, content=b"a,b\n" + b"1,2\n" * 400)
        assert r.status_code == 413 and "larger than" in one_line(r)


def test_a_page_keeps_only_its_newest_jobs():
    with TestClient(create_app(limits=Limits(jobs_per_session=2)), base_url=BASE) as c:
        sid = c.post("/api/sessions").json()["session"]
        ids = [c.post(f"/api/sessions/{sid}/jobs", json=SMALL).json()["job"] for _ in range(3)]
        jobs_now = c.app.state.registry.sessions[sid].jobs
        assert list(jobs_now) == ids[1:]  # the oldest is stopped and forgotten, its files deleted
        assert c.get(f"/api/sessions/{sid}/jobs/{ids[0]}/spec.yaml").status_code == 404
        assert all(j.finished.wait(60) for j in jobs_now.values())


def test_sessions_and_their_files_expire():
    now = [1000.0]
    with TestClient(create_app(limits=Limits(idle_s=60), clock=lambda: now[0]), base_url=BASE) as c:
        reg = c.app.state.registry
        old, kept = (c.post("/api/sessions").json()["session"] for _ in range(2))
        c.post(f"/api/sessions/{old}/uploads", params={"name": "t.csv"}, content=b"a,b\n1,2\n3,4\n")
        folder = reg.sessions[old].dir
        now[0] += 50
        assert c.post(f"/api/sessions/{kept}/preview", json={"source": "xor", "points": 60}).status_code == 200
        now[0] += 20  # `old` unseen for 70 s, `kept` for 20 s
        assert reg.reap() == [old]
        assert not folder.exists() and kept in reg.sessions
        r = c.post(f"/api/sessions/{old}/preview", json={"source": "xor"})
        assert r.status_code == 404 and "expired" in one_line(r)
        now[0] += 61  # expiry on the next request too, without the reaper
        r = c.post(f"/api/sessions/{kept}/jobs", json=SMALL)
        assert r.status_code == 404 and kept not in reg.sessions


# --- jobs: nobody watching, Stop latency, form budget ----------------------------------

def test_a_job_nobody_watches_is_stopped():
    with TestClient(create_app(limits=Limits(unwatched_s=0.3)), base_url=BASE) as c:
        sid = c.post("/api/sessions").json()["session"]
        jid = c.post(f"/api/sessions/{sid}/jobs", json={**SMALL, "epochs": 3000, "speed": "live"}).json()["job"]
        job = c.app.state.registry.job(sid, jid)
        assert job.finished.wait(60)
        assert job.state == "stopped" and "no page watched it" in job.reason


def test_stop_answers_within_a_second_on_the_largest_allowed_epoch(client, session):
    form = {"source": "f1", "points": 20000, "epochs": 1000, "speed": "fast",
            "hidden": [{"units": 150, "activation": "relu"}] * 3}
    plan = jobs.plan_from_form(form, client.app.state.registry.sessions[session])
    assert jobs.MAX_EPOCH_S * 0.6 < plan.epoch_s <= jobs.MAX_EPOCH_S  # near the per-epoch limit
    job = client.post(f"/api/sessions/{session}/jobs", json=form).json()["job"]
    base = f"/api/sessions/{session}/jobs/{job}"
    stopped_at = latency = None
    with client.stream("GET", f"{base}/events") as s:
        for line in s.iter_lines():
            if line == "event: frame" and stopped_at is None:
                stopped_at = time.perf_counter()
                client.post(f"{base}/stop")
            elif line == "event: stopped":
                latency = time.perf_counter() - stopped_at
            elif line.startswith("data: ") and latency is not None:
                inside = json.loads(line[6:])["stop_s"]
                break
    print(f"\nstop latency on a {plan.epoch_s:.2f} s (estimated) epoch: {latency:.2f} s "
          f"({inside:.2f} s from the cancel to the stopped event)")
    assert latency < 1.5, latency  # an epoch (at most 0.3 s estimated) and the partial scores; margin for a busy CI


# --- bounded parsing, messages, the fuzzed corpus --------------------------------------

def test_csv_sniffing_is_bounded(client, session, monkeypatch):
    from denselab.data import sources

    seen = []
    real = csv.Sniffer.sniff
    monkeypatch.setattr(csv.Sniffer, "sniff", lambda self, sample, *a, **k: seen.append(len(sample)) or real(self, sample, *a, **k))
    t = time.perf_counter()
    r = client.post(f"/api/sessions/{session}/uploads", params={"name": "quotes.csv"}, content=b'","' * 21845)
    took = time.perf_counter() - t
    print(f"\n64 kB of `\",\"` answered in {took:.2f} s (23 s before the sniffing bound)")
    assert r.status_code == 400 and seen and max(seen) <= sources.SNIFF_CHARS
    one_line(r)


def test_messages_do_not_reveal_server_paths(client, session):
    r = client.post(f"/api/sessions/{session}/uploads", params={"name": "header.csv"}, content=b"a,b,c\n")
    message = one_line(r)
    assert r.status_code == 400 and "header.csv" in message, message
    folder = str(client.app.state.registry.sessions[session].dir)
    assert folder not in message and "denselab-web-" not in message
    assert guard.scrub("data.source: `/srv/x/uploads/ab12/my.csv` is empty; see /etc/passwd") == \
        "data.source: `my.csv` is empty; see passwd"


DEEP = b"[" * 100_000 + b"]" * 100_000
CORPUS = [
    b"", b"null", b"[]", b"42", b'"text"', b"{", b"\xff\xfe\x00", b"{}" * 3, DEEP, b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"epochs": Infinity}', b'{"epochs": NaN}', b'{"learning_rate": -Infinity}', b'{"epochs": 1e400}',
    b'{"epochs": 1e30}', b'{"epochs": 10000000000000000000000000000}', b'{"epochs": "many"}', b'{"epochs": true}',
    b'{"epochs": [1]}', b'{"epochs": {"n": 1}}', b'{"epochs": 2.5}', b'{"seed": -1}', b'{"points": 1e9}',
    b'{"source": 5}', b'{"source": ["f1"]}', b'{"source": "upload:nope"}', b'{"source": "upload:"}',
    b'{"source": "/etc/passwd"}', b'{"source": "x' + b"y" * 5000 + b'"}', b'{"hidden": "8,8"}',
    b'{"hidden": [1, 2]}', b'{"hidden": [{"units": "eight"}]}', b'{"hidden": [{"units": 1e400}]}',
    b'{"hidden": [{"units": 8, "activation": 3}]}', b'{"hidden": [{"units": 8, "dropout": 2}]}',
    b'{"hidden": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}', b'{"vary": "learning_rate", "learning_rates": [true]}',
    b'{"vary": "learning_rate", "learning_rates": {"a": 1}}', b'{"vary": "learning_rate", "learning_rates": 5}',
    b'{"vary": "learning_rate", "learning_rates": "' + b"0.1," * 5000 + b'"}', b'{"vary": 1}', b'{"map": 5}',
    b'{"map": ["nope"]}', b'{"features": [1]}', b'{"target": {}}', b'{"task": "magic"}', b'{"speed": 0}',
    b'{"optimizer": null, "initializer": []}', b'{"batch_size": 0}', b'{"test_size": 1}', b'{"folds": 1}',
    b'{"action": "explode"}', b'{"action": ["stop"]}', b'{"sheet": 3}', b'{"missing": "guess"}',
    b'{"noise_sigma": 1e308, "noise_fraction": 1e308}', b'{"members": 0}', b'{"members": 11}',
    json.dumps({"x" * 200: "y" * 60_000}).encode(),
]


def test_fuzzed_bodies_never_get_a_500(client, session):
    up = client.post(f"/api/sessions/{session}/uploads", params={"name": "t.csv"},
                     content=b"a,b,label\n" + b"\n".join(b"%d,%d,%s" % (i, i % 3, b"xy"[i % 2:i % 2 + 1])
                                                         for i in range(40))).json()["upload"]
    job = client.post(f"/api/sessions/{session}/jobs", json=SMALL).json()["job"]
    paths = ["/preview", "/jobs", f"/jobs/{job}/control"]
    for body in CORPUS + [b'{"source": "upload:%s", "target": 3}' % up.encode(),
                          b'{"source": "upload:%s", "sheet": "S"}' % up.encode(),
                          b'{"source": "upload:%s", "features": ["a", "a", "label"]}' % up.encode()]:
        for path in paths:
            r = client.post(f"/api/sessions/{session}{path}", content=body, headers={"content-type": "application/json"})
            assert r.status_code != 500 and r.status_code in (200, 400, 404, 409), (path, body[:80], r.text)
            if r.status_code == 400:
                assert one_line(r), (path, body[:80])
            elif path == "/jobs" and r.status_code == 200:
                client.post(f"/api/sessions/{session}/jobs/{r.json()['job']}/stop")
    for name in ("", "..", "a" * 5000 + ".csv", "x.exe", "%00.csv", "ok.csv?x=1"):
        r = client.post(f"/api/sessions/{session}/uploads", params={"name": name}, content=b"a,b\n1,2\n")
        assert r.status_code in (200, 400), r.text
    for sheet in ("", "Nope", "x" * 3000):
        assert client.get(f"/api/sessions/{session}/uploads/{up}", params={"sheet": sheet}).status_code in (200, 400)
    assert client.post(f"/api/sessions/{session}/uploads", files={"file": ("a.csv", b"a,b\n")}).status_code == 400


JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.integers()
                    | st.text(max_size=20), lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FIELDS = ["source", "points", "test_size", "task", "hidden", "dropout", "l1", "l2", "seed", "members", "vary",
          "learning_rate", "learning_rates", "initializer", "optimizer", "epochs", "batch_size", "noise_sigma",
          "noise_fraction", "folds", "map", "speed", "target", "features", "missing", "sheet"]
LAYER = st.fixed_dictionaries({}, optional={"units": JSON | st.integers(-5, 2000), "activation": JSON | st.sampled_from(jobs.ACTIVATIONS),
                                            "dropout": JSON | st.floats(-1, 2)})
FORM = st.fixed_dictionaries({}, optional={**{f: JSON for f in FIELDS}, "hidden": st.lists(LAYER, max_size=10) | JSON,
                                           "source": st.sampled_from(["f1", "xor", "lcpb-2d", "upload:x", "UPLOAD"]) | JSON,
                                           "target": st.sampled_from(["a", "b", "label", "nope"]) | JSON,
                                           "features": st.lists(st.sampled_from(["a", "b", "label"])) | JSON,
                                           "missing": st.sampled_from(jobs.MISSING) | JSON})


@pytest.fixture(scope="module")
def fuzz_upload(client, session):
    table = b"a,b,label\n" + b"\n".join(b"%d,%d,%s" % (i, i % 3, b"xy"[i % 2:i % 2 + 1]) for i in range(40))
    return client.post(f"/api/sessions/{session}/uploads", params={"name": "t.csv"}, content=table).json()["upload"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=FORM)
def test_any_form_is_a_plan_or_a_one_line_error(client, session, fuzz_upload, form):
    s = client.app.state.registry.sessions[session]
    if form.get("source") == "UPLOAD":
        form["source"] = f"upload:{fuzz_upload}"
    try:
        jobs.plan_from_form(form, s)
    except DenselabError as exc:
        assert "\n" not in str(exc) and str(exc).split(":")[0], exc


def test_binding_every_interface_says_so():
    text = bind_message("0.0.0.0", 8000, guard.host_names("0.0.0.0"))
    assert "http://0.0.0.0:8000/" in text and "WARNING" in text and "every network interface" in text
    assert "WARNING" not in bind_message("127.0.0.1", 8000, guard.host_names("127.0.0.1"))


def test_serve_on_every_interface_prints_what_it_binds(monkeypatch, capsys):
    import uvicorn

    from denselab import cli

    ran = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: ran.update(host=host, port=port, app=app))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123", "--allow-host", "Box.lan"]) == 0
    out = capsys.readouterr().out
    assert "serving on http://0.0.0.0:8123/" in out and "WARNING" in out and "box.lan" in out, out
    assert ran["host"] == "0.0.0.0" and "box.lan" in ran["app"].state.allowed_hosts
