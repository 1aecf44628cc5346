"""`denselab serve` in real headless Chromium (Debian's `chromium`, driven by Playwright).

Needs `/usr/bin/chromium` (apt-get install -y chromium); never downloads a browser.
Screenshots go to test-artifacts/ (gitignored). Set DENSELAB_SKIP_BROWSER=1 to skip.
"""

from __future__ import annotations

import os
import shutil
import socket
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
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        pg = context.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(server)
        pg.wait_for_selector("body[data-ready='1']", timeout=20_000)
        yield pg
        assert not errors, errors
        browser.close()


def _train_and_wait(page, timeout=45_000):
    page.evaluate("delete document.body.dataset.done")
    page.click("#train")
    page.wait_for_selector("body[data-done='1']", timeout=timeout)
    assert page.is_hidden("#error"), page.inner_text("#error")


def test_f1_live_training_upload_and_download(page, tmp_path):
    page.select_option("#source", "f1")
    page.fill("#epochs", "20")
    page.fill("#points", "1000")
    _train_and_wait(page)  # the first run compiles the network
    loss = page.evaluate("window.denselab.lastFrame.histories['0'].loss")
    assert len(loss) == 20 and loss[-1] < loss[0], loss
    traces = page.evaluate("document.getElementById('map-plot').data.map(t => t.type)")
    assert "heatmap" in traces and "contour" in traces, traces
    page.screenshot(path=str(ARTIFACTS / "web-f1-done.png"), full_page=True)

    _train_and_wait(page)  # compiled now: time to the first frame on screen
    first = page.evaluate("window.denselab.firstFrame")
    print(f"\nfirst frame of a 2-D f1 run on screen {first:.2f} s after pressing Train (compiled)")

    page.fill("#epochs", "2000")  # several members, caught mid-training, then stopped
    page.fill("#members", "4")
    page.evaluate("delete document.body.dataset.frames")
    page.click("#train")
    page.wait_for_function("Number(document.body.dataset.frames || 0) >= 3", timeout=45_000)
    page.screenshot(path=str(ARTIFACTS / "web-f1-mid-training.png"), full_page=True)
    if page.is_enabled("#stop"):
        page.click("#stop")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('stopped') "
                           "|| document.body.dataset.done === '1'", timeout=30_000)

    csv = tmp_path / "plants.csv"
    lines = ["height,width,colour,species"] + [
        f"{h},{w},{'red' if (h + w) % 3 else 'blue'},{'tall' if h > 5 else 'short'}"
        for h in range(10) for w in range(12)]
    csv.write_text("\n".join(lines) + "\n")
    page.select_option("#source", "upload")
    page.set_input_files("#file", str(csv))
    page.wait_for_selector("#columns:not([hidden])", timeout=20_000)
    assert page.input_value("#target") == "species"
    page.fill("#epochs", "10")
    page.fill("#members", "1")
    _train_and_wait(page)
    page.screenshot(path=str(ARTIFACTS / "web-upload-done.png"), full_page=True)
    assert "species" in page.inner_text("#map-title")
    with page.expect_download(timeout=30_000) as download:
        page.click("#dl-model")
    saved = ARTIFACTS / "web-model.keras"
    download.value.save_as(saved)
    assert saved.stat().st_size > 1000 and saved.read_bytes()[:2] == b"PK"
