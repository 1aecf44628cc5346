"""`denselab serve` in real headless Chromium (Debian's `chromium`, driven by Playwright).

Needs `/usr/bin/chromium` (apt-get install -y chromium); never downloads a browser.
Screenshots go to test-artifacts/ (gitignored). Set DENSELAB_SKIP_BROWSER=1 to skip.
Covers the issue's "done when": the data drawn before training, ≥ 20 frames for a
200-epoch run, Stop keeping the partial results and downloads, a two-sheet workbook
with missing values trained through the page, the settings' URL round trip, and the
exported Keras script predicting like the model in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _browser_or_fail():
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the Python package `playwright` is missing: pip install playwright (no `playwright install`)"
    if CHROMIUM is None:
        reason = "chromium is not installed: run `apt-get install -y chromium` (CI installs it)"
    if reason is None:
        return
    if os.environ.get("DENSELAB_SKIP_BROWSER") == "1":
        pytest.skip(f"SKIPPED BROWSER TEST (DENSELAB_SKIP_BROWSER=1): {reason}")
    pytest.fail(f"{reason}; or set DENSELAB_SKIP_BROWSER=1 to skip this test", pytrace=False)


@pytest.fixture(scope="module")
def server():
    _browser_or_fail()
    import uvicorn

    from denselab.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = b.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        yield context
        b.close()


@pytest.fixture(scope="module")
def page(server, browser):
    pg = browser.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server[0])
    pg.wait_for_selector("body[data-ready='1']", timeout=20_000)
    yield pg
    assert not errors, errors


def _train_and_wait(page, timeout=90_000):
    page.evaluate("delete document.body.dataset.done")
    page.click("#train")
    page.wait_for_selector("body[data-done='1']", timeout=timeout)
    assert page.is_hidden("#error"), page.inner_text("#error")


def _job(app, page):
    sid, jid = page.evaluate("[window.denselab.session, window.denselab.job]")
    return app.state.registry.job(sid, jid)


def test_live_page_before_during_and_after_stop(page, server, tmp_path):
    page.select_option("#source", "f1")
    page.fill("#points", "1000")
    page.dispatch_event("#points", "change")
    page.wait_for_function("Number(document.body.dataset.preview || 0) === 800", timeout=20_000)
    traces = page.evaluate("document.getElementById('map-plot').data.map(t => [t.type, t.x.length])")
    assert traces == [["scattergl", 800]], traces  # the data, drawn before any training
    assert page.inner_text("#legend").split("\n") == ["label = 0", "label = 1"]
    page.screenshot(path=str(ARTIFACTS / "web-1-before-training.png"), full_page=True)

    page.fill("#epochs", "200")
    page.click("#train")  # compiles the network, then paced: about 100 frames in 10 s
    page.wait_for_function("Number(document.body.dataset.frames || 0) >= 15", timeout=60_000)
    t = time.perf_counter()
    page.screenshot(path=str(ARTIFACTS / "web-2a-live.png"))
    print(f"\n(the live screenshot took {time.perf_counter() - t:.1f} s)")
    page.wait_for_selector("body[data-done='1']", timeout=90_000)
    assert page.is_hidden("#error"), page.inner_text("#error")
    frames, drawn = page.evaluate("[window.denselab.frames, window.denselab.drawn]")
    assert page.evaluate("window.denselab.states").count("compiling") == 1  # said while it compiled
    loss = page.evaluate("window.denselab.histories['0'].loss")
    assert frames >= 20 and len(loss) == 200 and loss[-1] < loss[0], (frames, len(loss))
    traces = page.evaluate("document.getElementById('map-plot').data.map(t => t.type)")
    assert "heatmap" in traces and "contour" in traces, traces
    _train_and_wait(page)  # compiled now: the time to the first frame on screen
    first = page.evaluate("window.denselab.firstFrame")
    print(f"200-epoch f1 run: {frames} frames received, {drawn} drawn; first frame on screen {first:.2f} s after pressing Train (warm)")

    page.fill("#epochs", "3000")  # several networks, caught mid-training, then stopped
    page.fill("#members", "4")
    page.evaluate("delete document.body.dataset.frames; delete document.body.dataset.stopped")
    page.click("#train")
    page.wait_for_function("Number(document.body.dataset.frames || 0) >= 3", timeout=60_000)
    page.click("#pause")  # held mid-run (a screenshot of a busy page can outlast a paced run)
    page.wait_for_selector("body[data-state='paused']", timeout=20_000)
    assert page.is_disabled("#epochs") and page.is_visible("#locked")  # settings are locked while it runs
    page.screenshot(path=str(ARTIFACTS / "web-2-during-training.png"), full_page=True)
    before = page.evaluate("window.denselab.frames")
    page.click("#step")  # one more chunk, then paused again
    page.wait_for_function(f"window.denselab.frames === {before + 1} && document.body.dataset.state === 'paused'",
                           timeout=20_000)
    page.click("#pause")  # resume
    page.wait_for_function(f"window.denselab.frames >= {before + 3}", timeout=20_000)
    page.click("#stop")
    page.wait_for_selector("body[data-stopped='1']", timeout=30_000)
    latency = page.evaluate("window.denselab.stopLatency")
    print(f"Stop pressed → stopped on screen in {latency:.2f} s (4 networks, 3000 epochs)")
    assert page.is_visible("#results") and "Stopped at epoch" in page.inner_text("#results-title")
    assert len(page.query_selector_all("#scores tr")) == 6  # header, 4 networks, mean ± std
    assert page.is_enabled("#epochs")
    page.screenshot(path=str(ARTIFACTS / "web-3-after-stop.png"), full_page=True)
    for link, suffix in (("#dl-model", ".keras"), ("#dl-labels", ".json"), ("#dl-script", ".py"), ("#dl-spec", ".yaml")):
        with page.expect_download(timeout=30_000) as download:
            page.click(link)
        saved = tmp_path / f"stopped{suffix}"
        download.value.save_as(saved)
        assert saved.stat().st_size > 200, link
    assert saved.read_text().startswith("# denselab run")


def test_settings_round_trip_through_the_url(page, browser):
    page.select_option("#source", "xor")
    page.fill("#epochs", "37")
    page.select_option("#optimizer", "sgd")
    page.fill("#learning_rate", "0.05")
    page.select_option("#speed", "fast")
    page.click("#add-layer")
    page.select_option("#layers .layer:nth-child(1) select", "tanh")
    page.fill("#layers .layer:nth-child(3) .units", "5")
    page.fill("#layers .layer:nth-child(3) .rate", "0.1")
    url = page.evaluate("location.href")
    assert "epochs=37" in url and "layers=8%3Atanh%3A0%2C8%3Arelu%3A0%2C5%3Arelu%3A0.1" in url, url
    other = browser.new_page()
    other.goto(url)
    other.wait_for_selector("body[data-ready='1']", timeout=20_000)
    read = ("[...['source','epochs','optimizer','learning_rate','speed']].map(id => document.getElementById(id).value)"
            ".concat([...document.querySelectorAll('#layers .layer')].map(r => "
            "[r.querySelector('.units').value, r.querySelector('select').value, r.querySelector('.rate').value].join(':')))")
    assert other.evaluate(read) == ["xor", "37", "sgd", "0.05", "fast", "8:tanh:0", "8:relu:0", "5:relu:0.1"]
    other.close()


def _workbook(path: Path) -> None:
    import pandas as pd

    rows = []
    for i in range(150):
        species = ["Adelie", "Gentoo", "Chinstrap"][i % 3]
        rows.append({"species": species, "island": ["Biscoe", "Dream", "Torgersen"][(i // 3) % 3],
                     "bill_length_mm": 38 + (i % 3) * 6 + (i % 7) * 0.4, "bill_depth_mm": 18.5 - (i % 3) * 2 + (i % 5) * 0.2,
                     "flipper_length_mm": 185 + (i % 3) * 15 + i % 4, "body_mass_g": 3600 + (i % 3) * 700 + (i % 9) * 20,
                     "sex": None if i % 13 == 0 else ["male", "female"][i % 2], "year": 2007 + i % 3})
    with pd.ExcelWriter(path) as w:
        pd.DataFrame({"About": ["Palmer-like penguins, made up for this test", "data on sheet 2"]}).to_excel(
            w, sheet_name="About", index=False)
        pd.DataFrame(rows).to_excel(w, sheet_name="Penguins", index=False)


def test_workbook_with_two_sheets_and_missing_values(page, server, tmp_path):
    book = tmp_path / "penguins.xlsx"
    _workbook(book)
    page.select_option("#speed", "live")
    page.fill("#epochs", "30")
    page.select_option("#source", "upload")
    page.set_input_files("#file", str(book))
    page.wait_for_selector("#sheet-row:not([hidden])", timeout=20_000)
    assert page.evaluate("[...document.querySelectorAll('#sheet option')].map(o => o.value)") == ["About", "Penguins"]
    assert page.input_value("#sheet") == "Penguins"  # the sheet with the table, not the notes before it
    page.select_option("#sheet", "About")
    page.wait_for_function("document.getElementById('upload-note').textContent.includes('sheet About')", timeout=20_000)
    page.select_option("#sheet", "Penguins")
    page.wait_for_function("document.getElementById('target').value === 'species'", timeout=20_000)
    assert "12 of 150 rows have a missing value (sex: 12)" in page.inner_text("#missing-note")
    page.wait_for_selector("#error:not([hidden])", timeout=20_000)  # the preview: missing values stop it
    assert "data.missing" in page.inner_text("#error")
    page.select_option("#missing", "drop")
    page.wait_for_function("document.body.dataset.preview === String(Math.round(138 * 0.8))", timeout=20_000)
    assert page.is_hidden("#error")  # a preview that works clears the error
    _train_and_wait(page)
    title, note = page.inner_text("#map-title"), page.inner_text("#map-note")
    assert title == "Predicted class of species over bill_length_mm × bill_depth_mm", title
    assert "the map shows bill_length_mm (horizontal) and bill_depth_mm (vertical)" in note, note
    assert page.inner_text("#legend").split("\n") == ["species = Adelie", "species = Chinstrap", "species = Gentoo"]
    page.screenshot(path=str(ARTIFACTS / "web-4-workbook-done.png"), full_page=True)


def test_exported_script_predicts_like_the_model(page, server, tmp_path):
    with page.expect_download(timeout=30_000) as download:
        page.click("#dl-script")
    script = tmp_path / "penguins_model.py"
    download.value.save_as(script)
    rows = [["Biscoe", 39.1, 18.7, 181, 3750, "male", 2007], ["Dream", 46.5, 17.9, 192, 3500, "female", 2008],
            ["Torgersen", 50.0, 15.2, 218, 5700, "male", 2009], ["Biscoe", 44.0, 16.0, 200, 4300, "female", 2008]]
    header = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
    (tmp_path / "rows.csv").write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    out = subprocess.run([sys.executable, script.name, "rows.csv"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={"KERAS_BACKEND": "jax", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    expected = _job(server[1], page).trained().predict(rows)
    assert out.stdout.split() == expected, (out.stdout, expected)
