"""The `denselab serve` API through FastAPI's TestClient: every endpoint, bad uploads, Stop."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from denselab.web.app import create_app  # noqa: E402

SMALL = {"source": "f1", "points": 200, "epochs": 4, "batch_size": 32, "hidden": [{"units": 4, "activation": "tanh"}]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(upload_limit=20_000)) as c:
        yield c


@pytest.fixture(scope="module")
def session(client):
    return client.post("/api/sessions").json()["session"]


def events(client, job):
    out = []
    with client.stream("GET", f"/api/jobs/{job}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((kind, json.loads(line[6:])))
    return out


def test_page_static_and_plotly(client):
    page = client.get("/")
    assert page.status_code == 200 and "plotly.min.js" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000


def test_options(client):
    o = client.get("/api/options").json()
    names = [d["name"] for d in o["datasets"]]
    assert names == ["f1", "f2", "f3", "lcpb-2d", "circles", "xor", "spirals", "gaussians"]
    assert "relu" in o["activations"] and "adam" in o["optimizers"] and "he_normal" in o["initializers"]
    assert o["max_upload_bytes"] == 20_000


def test_train_streams_frames_and_downloads(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "members": 3})
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    ev = events(client, job)
    kinds = [k for k, _ in ev]
    assert kinds[-1] == "done" and "setup" in kinds and kinds.count("frame") >= 2
    setup = dict(ev)["setup"]
    assert setup["task"] == "classification" and setup["binary"] and setup["map"]["fx"] == "x0"
    frames = [d for k, d in ev if k == "frame"]
    assert frames[-1]["epoch"] == 4 and set(frames[-1]["histories"]) == {"0", "1", "2"}
    z = frames[-1]["maps"]["0"]
    assert len(z) == 60 and len(z[0]) == 60 and all(0 <= v <= 1 for row in z for v in row)
    done = ev[-1][1]
    assert len(done["scores"]) == 3 and 0 <= done["mean"] <= 1
    model = client.get(f"/api/jobs/{job}/model.keras")
    assert model.status_code == 200 and model.content[:2] == b"PK"
    spec = client.get(f"/api/jobs/{job}/spec.yaml")
    from denselab.spec import Experiment
    import yaml
    exp = Experiment.from_dict(yaml.safe_load(spec.text))
    assert exp.data.source == "f1" and exp.train.epochs == 4 and exp.model.hidden[0].units == 4


def test_learning_rate_sweep_labels(client, session):
    r = client.post(f"/api/sessions/{session}/jobs",
                    json={**SMALL, "vary": "learning_rate", "learning_rates": "0.001, 0.1"})
    assert r.json()["labels"] == ["lr 0.001", "lr 0.1"]
    assert events(client, r.json()["job"])[-1][0] == "done"


def test_bad_form_is_one_line(client, session):
    for form, word in [({**SMALL, "optimizer": "adamm"}, "adam"), ({**SMALL, "epochs": 0}, "epochs"),
                       ({**SMALL, "source": "nope"}, "data.source"),
                       ({**SMALL, "hidden": [{"units": 4, "activation": "relux"}]}, "activation"),
                       ({**SMALL, "vary": "learning_rate", "learning_rates": "fast"}, "learning rates")]:
        r = client.post(f"/api/sessions/{session}/jobs", json=form)
        assert r.status_code == 400 and word in r.json()["error"] and "\n" not in r.json()["error"]


def test_upload_csv_train_and_report(client, session, tmp_path):
    rows = "\n".join(f"{i % 7},{(i * 3) % 11},{'a' if i % 2 else 'b'},{(i % 7) + 0.5 * ((i * 3) % 11)}"
                     for i in range(120))
    csv = b"u,v,kind,y\n" + rows.encode()
    up = client.post(f"/api/sessions/{session}/uploads", files={"file": ("my data.csv", csv, "text/csv")})
    assert up.status_code == 200, up.text
    info = up.json()
    assert info["columns"] == ["u", "v", "kind", "y"] and info["numeric"] == ["u", "v", "y"] and info["rows"] == 120
    assert info["name"] == "my_data.csv"
    r = client.post(f"/api/sessions/{session}/jobs", json={
        **SMALL, "source": f"upload:{info['upload']}", "target": "y", "features": ["u", "v", "kind"],
        "map": ["u", "v"], "folds": 2, "epochs": 2})
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    ev = events(client, job)
    assert ev[-1][0] == "done", ev[-1]
    setup = dict(ev)["setup"]
    assert setup["task"] == "regression" and setup["map"]["held"] in ({"kind": "a"}, {"kind": "b"})
    spec = client.get(f"/api/jobs/{job}/spec.yaml").text
    assert "source: my_data.csv" in spec
    report = client.get(f"/api/jobs/{job}/report.zip")
    assert report.status_code == 200, report.text
    names = zipfile.ZipFile(io.BytesIO(report.content)).namelist()
    assert "report/report.html" in names and "report/results.json" in names and "report/spec.yaml" in names


@pytest.mark.parametrize("name, content, status, words", [
    ("data.pdf", b"%PDF-1.4", 400, "not a csv, xlsx or xls"),
    ("big.csv", b"a,b\n" + b"1,2\n" * 10_000, 413, "larger than"),
    ("fake.xlsx", b"a,b\n1,2\n", 400, "not an Excel workbook"),
    ("bin.csv", b"\x00\x01\x02" * 50, 400, "looks binary"),
    ("empty.csv", b"   ", 400, "is empty"),
    ("../../etc/evil.csv", b"a,b\n1,2,3,4\n", 400, "`evil.csv` is not a regular table"),
])
def test_bad_uploads_same_error_as_cli(client, session, name, content, status, words):
    r = client.post(f"/api/sessions/{session}/uploads", files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert words in message and "\n" not in message


def test_uploads_stay_in_the_session_folder(client, session):
    s = client.app.state.sessions[session]
    client.post(f"/api/sessions/{session}/uploads", files={"file": ("../../x.csv", b"a,b\n1,2\n3,4\n", "text/csv")})
    for up in s.uploads.values():
        assert s.dir in up.path.parents


def test_stop_and_unknown_ids(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "epochs": 3000, "points": 2000})
    job = r.json()["job"]
    assert client.post(f"/api/jobs/{job}/stop").status_code == 200
    assert events(client, job)[-1][0] == "stopped"
    assert client.get(f"/api/jobs/{job}/model.keras").status_code == 409
    assert client.get("/api/jobs/nope/events").status_code == 404
    assert client.post("/api/jobs/nope/stop").status_code == 404
    assert client.get("/api/jobs/nope/spec.yaml").status_code == 404
    assert client.get("/api/jobs/nope/report.zip").status_code == 404
    assert client.post("/api/sessions/nope/jobs", json=SMALL).status_code == 404


def test_closing_session_removes_its_folder(client):
    sid = client.post("/api/sessions").json()["session"]
    folder = client.app.state.sessions[sid].dir
    assert folder.exists()
    assert client.post(f"/api/sessions/{sid}/close").status_code == 200
    assert not folder.exists()
    assert client.post(f"/api/sessions/{sid}/close").status_code == 404


def test_stream_disconnect_cancels_job(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "epochs": 3000, "points": 2000})
    job = client.app.state.jobs[r.json()["job"]]
    with client.stream("GET", f"/api/jobs/{job.id}/events") as s:
        next(s.iter_lines())
    assert job.finished.wait(60)
    assert job.state == "stopped"
