"""The `denselab serve` API through FastAPI's TestClient: every endpoint, uploads, live frames, controls.

The safety rules (Host/Origin, quotas, expiry, streaming cap, fuzzed bodies) are in
`test_web_safety.py`; the page itself in Chromium in `test_web_e2e.py`.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from denselab.web.app import create_app  # noqa: E402

SMALL = {"source": "f1", "points": 200, "epochs": 4, "batch_size": 32, "speed": "fast",
         "hidden": [{"units": 4, "activation": "tanh"}]}
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(upload_limit=20_000), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def session(client):
    return client.post("/api/sessions").json()["session"]


def events(client, session, job, timed=False):
    """The job's events as (kind, data), or (kind, data, arrival time) when `timed`."""
    out = []
    with client.stream("GET", f"/api/sessions/{session}/jobs/{job}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((kind, json.loads(line[6:]), time.perf_counter()))
    return out if timed else [(k, d) for k, d, _ in out]


def upload(client, session, name, content):
    return client.post(f"/api/sessions/{session}/uploads", params={"name": name}, content=content)


def curves(frames):
    """The page's view of the histories: each frame carries the epochs from `start` on."""
    out: dict = {}
    for f in frames:
        for i, h in f["histories"].items():
            mine = out.setdefault(i, {})
            for k, values in h.items():
                mine[k] = mine.get(k, [])[:f["start"]] + values
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
    assert o["max_upload_bytes"] == 20_000 and o["missing"] == ["error", "drop", "mean"]


def test_preview_draws_the_data_before_training(client, session):
    r = client.post(f"/api/sessions/{session}/preview", json={"source": "circles", "points": 300})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["task"] == "classification" and p["classes"] == ["0", "1"] and p["map"]["fx"] == "x0"
    assert len(p["map"]["points"]["x"]) == p["rows_train"] == 240 and set(p["map"]["points"]["c"]) == {0, 1}


def test_train_streams_frames_and_downloads(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "members": 3})
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    ev = events(client, session, job)
    kinds = [k for k, _ in ev]
    assert kinds[-1] == "done" and "setup" in kinds and kinds.count("frame") >= 2
    states = [d["state"] for k, d in ev if k == "status"]
    assert "compiling" in states and states.index("compiling") < states.index("running")
    setup = dict(ev)["setup"]
    assert setup["task"] == "classification" and setup["binary"] and setup["map"]["fx"] == "x0"
    frames = [d for k, d in ev if k == "frame"]
    h = curves(frames)
    assert frames[-1]["epoch"] == 4 and set(h) == {"0", "1", "2"} and all(len(v["loss"]) == 4 for v in h.values())
    z = frames[-1]["maps"]["0"]
    assert len(z) == 60 and len(z[0]) == 60 and all(0 <= v <= 1 for row in z for v in row)
    done = ev[-1][1]
    assert len(done["scores"]) == 3 and 0 <= done["mean"] <= 1
    base = f"/api/sessions/{session}/jobs/{job}"
    assert set(done["downloads"]) == {"model", "labels", "script", "spec", "report"}
    model = client.get(f"{base}/model.keras")
    assert model.status_code == 200 and model.content[:2] == b"PK"
    labels = client.get(f"{base}/model.keras.json").json()
    assert list(map(str, labels["classes"])) == ["0", "1"] and labels["features"] == ["x0", "x1"]
    spec = client.get(f"{base}/spec.yaml")
    from denselab.spec import Experiment
    import yaml
    exp = Experiment.from_dict(yaml.safe_load(spec.text))
    assert exp.data.source == "f1" and exp.train.epochs == 4 and exp.model.hidden[0].units == 4


def test_live_run_is_one_frame_per_epoch_at_most_ten_a_second(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "epochs": 25, "speed": "live"})
    ev = events(client, session, r.json()["job"], timed=True)
    frames = [(d, t) for k, d, t in ev if k == "frame"]
    assert ev[-1][0] == "done"
    assert [d["epoch"] for d, _ in frames[:-1]] == list(range(1, 26))  # every epoch shown, then the final frame
    gaps = [b - a for (_, a), (_, b) in zip(frames, frames[1:-1])]
    # paced to at most ten frames a second; arrival times jitter on a loaded machine (a frame
    # can wait in a buffer and come with the next), so the rate is checked over the run
    assert sum(gaps) / len(gaps) >= 0.09, gaps


def test_per_layer_activation_and_dropout(client, session):
    form = {**SMALL, "hidden": [{"units": 6, "activation": "tanh", "dropout": 0.2},
                                {"units": 5, "activation": "elu", "dropout": 0}]}
    job = client.post(f"/api/sessions/{session}/jobs", json=form).json()["job"]
    assert events(client, session, job)[-1][0] == "done"
    import yaml
    hidden = yaml.safe_load(client.get(f"/api/sessions/{session}/jobs/{job}/spec.yaml").text)["model"]["hidden"]
    assert hidden[0]["activation"] == "tanh" and hidden[0]["dropout"] == 0.2
    assert hidden[1]["activation"] == "elu" and not hidden[1].get("dropout")


def test_learning_rate_sweep_labels(client, session):
    r = client.post(f"/api/sessions/{session}/jobs",
                    json={**SMALL, "vary": "learning_rate", "learning_rates": "0.001, 0.1"})
    assert r.json()["labels"] == ["lr 0.001", "lr 0.1"]
    assert events(client, session, r.json()["job"])[-1][0] == "done"


def test_multiclass_map_is_the_predicted_class(client, session, tmp_path):
    rows = [f"{x},{y},{'abc'[(x + y) % 3]}" for x in range(12) for y in range(12)]
    info = upload(client, session, "three.csv", ("x,y,kind\n" + "\n".join(rows)).encode()).json()
    assert info["target"] == "kind"  # named like a label, and text with few values
    job = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "source": f"upload:{info['upload']}"}).json()["job"]
    ev = events(client, session, job)
    setup, frame = dict(ev)["setup"], [d for k, d in ev if k == "frame"][-1]
    assert setup["classes"] == ["a", "b", "c"] and not setup["binary"]
    assert {v for row in frame["maps"]["0"] for v in row} <= {0.0, 1.0, 2.0}


def test_bad_form_is_one_line(client, session):
    for form, word in [({**SMALL, "optimizer": "adamm"}, "adam"), ({**SMALL, "epochs": 0}, "epochs"),
                       ({**SMALL, "source": "nope"}, "data.source"),
                       ({**SMALL, "hidden": [{"units": 4, "activation": "relux"}]}, "activation"),
                       ({**SMALL, "vary": "learning_rate", "learning_rates": "fast"}, "learning rates"),
                       ({**SMALL, "points": 20000, "hidden": [{"units": 1024}] * 8}, "model.hidden"),
                       ({**SMALL, "epochs": 5000, "points": 8000, "batch_size": 1}, "train.epochs"),
                       ({**SMALL, "points": 50, "members": 10, "hidden": [{"units": 1024}] * 3}, "million")]:
        r = client.post(f"/api/sessions/{session}/jobs", json=form)
        assert r.status_code == 400 and word in r.json()["error"] and "\n" not in r.json()["error"], r.text


PENGUINS = ("species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"
            + "\n".join(f"{['Adelie', 'Gentoo', 'Chinstrap'][i % 3]},{['Biscoe', 'Dream', 'Torgersen'][i % 3]},"
                        f"{38 + (i % 3) * 5 + (i % 7) * 0.3:.1f},{17 + (i % 3):.1f},{180 + (i % 3) * 15 + i % 5},"
                        f"{3500 + (i % 3) * 600 + (i % 11) * 10},"
                        + ("" if i % 17 == 0 else ["male", "female"][i % 2]) + f",{2007 + i % 3}"
                        for i in range(90)) + "\n").encode()


def test_upload_penguins_default_target_missing_values(client, session):
    info = upload(client, session, "penguins.csv", PENGUINS).json()
    assert info["target"] == "species" and info["columns"][-1] == "year"
    assert info["missing"] == {"sex": 6} and info["missing_rows"] == 6 and info["sheets"] is None
    form = {**SMALL, "source": f"upload:{info['upload']}", "target": "species"}
    r = client.post(f"/api/sessions/{session}/preview", json=form)
    assert r.status_code == 400 and "data.missing" in r.json()["error"]
    r = client.post(f"/api/sessions/{session}/preview", json={**form, "missing": "drop"})
    assert r.status_code == 200 and r.json()["dropped_rows"] == 6
    assert r.json()["map"]["fx"] == "bill_length_mm" and "island" in r.json()["map"]["held"]
    job = client.post(f"/api/sessions/{session}/jobs", json={**form, "missing": "drop"}).json()["job"]
    ev = events(client, session, job)
    assert ev[-1][0] == "done", ev[-1]
    assert dict(ev)["setup"]["dropped_rows"] == 6


def test_workbook_sheets(client, session, tmp_path):
    import pandas as pd

    path = tmp_path / "two.xlsx"
    with pd.ExcelWriter(path) as w:
        pd.DataFrame({"note": ["made by hand", "see sheet 2"]}).to_excel(w, sheet_name="About", index=False)
        pd.DataFrame({"a": range(40), "b": [i % 5 for i in range(40)],
                      "label": ["x" if i % 2 else "y" for i in range(40)]}).to_excel(w, sheet_name="Data", index=False)
    info = client.post(f"/api/sessions/{session}/uploads", params={"name": "two.xlsx"},
                       content=path.read_bytes()).json()
    assert info["sheets"] == ["About", "Data"] and info["sheet"] == "Data"  # the sheet with the most cells
    assert info["columns"] == ["a", "b", "label"] and info["target"] == "label"
    other = client.get(f"/api/sessions/{session}/uploads/{info['upload']}", params={"sheet": "About"}).json()
    assert other["sheet"] == "About" and other["columns"] != info["columns"]
    assert client.get(f"/api/sessions/{session}/uploads/{info['upload']}", params={"sheet": "Nope"}).status_code == 400
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "source": f"upload:{info['upload']}",
                                                           "sheet": "Data"})
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    assert events(client, session, job)[-1][0] == "done"
    assert "sheet: Data" in client.get(f"/api/sessions/{session}/jobs/{job}/spec.yaml").text


def test_upload_csv_train_and_report(client, session):
    rows = "\n".join(f"{i % 7},{(i * 3) % 11},{'a' if i % 2 else 'b'},{(i % 7) + 0.5 * ((i * 3) % 11)}"
                     for i in range(120))
    up = upload(client, session, "my data.csv", b"u,v,kind,y\n" + rows.encode())
    assert up.status_code == 200, up.text
    info = up.json()
    assert info["columns"] == ["u", "v", "kind", "y"] and info["numeric"] == ["u", "v", "y"] and info["rows"] == 120
    assert info["name"] == "my_data.csv"
    r = client.post(f"/api/sessions/{session}/jobs", json={
        **SMALL, "source": f"upload:{info['upload']}", "target": "y", "features": ["u", "v", "kind"],
        "map": ["u", "v"], "folds": 2, "epochs": 2})
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    ev = events(client, session, job)
    assert ev[-1][0] == "done", ev[-1]
    setup = dict(ev)["setup"]
    assert setup["task"] == "regression" and setup["map"]["held"] in ({"kind": "a"}, {"kind": "b"})
    spec = client.get(f"/api/sessions/{session}/jobs/{job}/spec.yaml").text
    assert "source: my_data.csv" in spec
    report = client.get(f"/api/sessions/{session}/jobs/{job}/report.zip")
    assert report.status_code == 200, report.text
    names = zipfile.ZipFile(io.BytesIO(report.content)).namelist()
    assert "report/report.html" in names and "report/results.json" in names and "report/spec.yaml" in names


def test_exported_script_predicts_like_the_model(client, session, tmp_path):
    rows = [f"{x},{y},{'red' if (x * y) % 3 else 'blue'},{'tall' if x + y > 9 else 'short'}"
            for x in range(10) for y in range(12)]
    info = upload(client, session, "plants.csv", ("h,w,colour,size\n" + "\n".join(rows)).encode()).json()
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "source": f"upload:{info['upload']}",
                                                           "target": "size", "epochs": 15})
    job = r.json()["job"]
    assert events(client, session, job)[-1][0] == "done"
    script = client.get(f"/api/sessions/{session}/jobs/{job}/model.py")
    assert script.status_code == 200 and "keras.layers.Dense" in script.text
    (tmp_path / "model.py").write_text(script.text)
    test_rows = [[x, y, c] for x, y, c in [(0, 0, "red"), (9, 11, "blue"), (4, 6, "red"), (7, 1, "blue"), (2, 9, "red")]]
    (tmp_path / "rows.csv").write_text("h,w,colour\n" + "\n".join(",".join(map(str, r)) for r in test_rows) + "\n")
    out = subprocess.run([sys.executable, "model.py", "rows.csv"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={"KERAS_BACKEND": "jax", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    expected = client.app.state.registry.job(session, job).trained().predict(test_rows)
    assert out.stdout.split() == expected and set(expected) == {"tall", "short"}


@pytest.mark.parametrize("name, content, status, words", [
    ("data.pdf", b"%PDF-1.4", 400, "not a csv, xlsx or xls"),
    ("big.csv", b"a,b\n" + b"1,2\n" * 10_000, 413, "larger than"),
    ("fake.xlsx", b"a,b\n1,2\n", 400, "not an Excel workbook"),
    ("bin.csv", b"\x00\x01\x02" * 50, 400, "looks binary"),
    ("empty.csv", b"   ", 400, "is empty"),
    ("../../etc/evil.csv", b"a,b\n1,2,3,4\n", 400, "`evil.csv` is not a regular table"),
])
def test_bad_uploads_same_error_as_cli(client, session, name, content, status, words):
    r = upload(client, session, name, content)
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert words in message and "\n" not in message and "/tmp" not in message


def test_uploads_stay_in_the_session_folder(client, session):
    s = client.app.state.registry.sessions[session]
    upload(client, session, "../../x.csv", b"a,b\n1,2\n3,4\n")
    for up in s.uploads.values():
        assert s.dir in up.path.parents


def test_stop_keeps_partial_results_and_downloads(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "epochs": 3000, "points": 2000, "speed": "live"})
    job = r.json()["job"]
    base = f"/api/sessions/{session}/jobs/{job}"
    seen = []
    with client.stream("GET", f"{base}/events") as s:
        for line in s.iter_lines():
            if line.startswith("event: "):
                seen.append(line[7:])
                if seen.count("frame") == 3:
                    assert client.post(f"{base}/stop").status_code == 200
            elif line.startswith("data: ") and seen[-1] == "stopped":
                stopped = json.loads(line[6:])
    assert seen[-1] == "stopped" and 3 <= stopped["epoch"] < 3000
    assert len(stopped["scores"]) == 1 and 0 <= stopped["scores"][0]["accuracy"] <= 1
    trained = client.app.state.registry.job(session, job).trained()  # the kept weights are the ones scored
    from denselab.train.engine import targets
    from denselab.train.fit import score
    ds, head = trained.dataset, trained.head
    out = trained.keras_model.predict(trained.preprocessor.transform(ds.x_test).astype("float32"), verbose=0)
    assert score(head, targets(head, ds.y_test), out)["accuracy"] == pytest.approx(stopped["scores"][0]["accuracy"])
    assert client.get(f"{base}/model.keras").content[:2] == b"PK"
    assert "keras.Model" in client.get(f"{base}/model.py").text
    assert client.get(f"{base}/spec.yaml").status_code == 200


def test_pause_step_resume(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "epochs": 40, "speed": "live"})
    job = r.json()["job"]
    base = f"/api/sessions/{session}/jobs/{job}"
    log = []
    with client.stream("GET", f"{base}/events") as s:
        kind = None
        for line in s.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
                continue
            if not line.startswith("data: "):
                continue
            data = json.loads(line[6:])
            log.append((kind, data.get("state"), data.get("epoch")))
            if kind == "frame" and data["epoch"] == 2:
                assert client.post(f"{base}/control", json={"action": "pause"}).json()["state"] == "running"
            if kind == "status" and data["state"] == "paused" and ("step", None, None) not in log:
                log.append(("step", None, None))
                client.post(f"{base}/control", json={"action": "step"})
            elif kind == "status" and data["state"] == "paused":
                client.post(f"{base}/control", json={"action": "resume"})
    frames = [e for k, _, e in log if k == "frame"]
    paused = [i for i, (k, s, _) in enumerate(log) if s == "paused"]
    assert len(paused) == 2 and log[-1][0] == "done" and frames[-1] == 40
    between = [e for k, _, e in log[paused[0]:paused[1]] if k == "frame"]
    assert len(between) == 1  # a step is one chunk (one epoch here), then paused again
    assert client.post(f"{base}/control", json={"action": "jump"}).status_code == 400


def test_unknown_ids(client, session):
    for path in ("events", "model.keras", "model.keras.json", "model.py", "spec.yaml", "report.zip"):
        assert client.get(f"/api/sessions/{session}/jobs/nope/{path}").status_code == 404
    assert client.post(f"/api/sessions/{session}/jobs/nope/stop").status_code == 404
    assert client.post("/api/sessions/nope/jobs", json=SMALL).status_code == 404
    assert client.get("/api/nothing").json() == {"error": "Not Found"}


def test_closing_session_removes_its_folder(client):
    sid = client.post("/api/sessions").json()["session"]
    folder = client.app.state.registry.sessions[sid].dir
    assert folder.exists()
    assert client.post(f"/api/sessions/{sid}/close").status_code == 200
    assert not folder.exists()
    assert client.post(f"/api/sessions/{sid}/close").status_code == 404


def test_stream_disconnect_cancels_job(client, session):
    r = client.post(f"/api/sessions/{session}/jobs", json={**SMALL, "epochs": 3000, "points": 2000})
    job = client.app.state.registry.job(session, r.json()["job"])
    with client.stream("GET", f"/api/sessions/{session}/jobs/{job.id}/events") as s:
        next(s.iter_lines())
    assert job.finished.wait(60)
    assert job.state == "stopped" and "went away" in job.reason
