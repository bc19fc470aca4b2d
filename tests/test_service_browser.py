"""The dashboard in a real browser: Debian's Chromium via Playwright against uvicorn on loopback.

A price crash posted through the API must show up on the page (queue and liquidation counters) over
the WebSocket (opened with a single-use ticket), under the page's Content-Security-Policy with no
violation; the key is given in the URL's fragment and leaves the address bar. A screenshot is saved
to ``tests/artifacts/dashboard.png``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from ramparts.service.app import create_app  # noqa: E402
from service_kit import free_port, make_keys, setup_venue  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def server(tmp_path):
    app = create_app(str(tmp_path / "journal.sqlite"), rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", keys
    finally:
        srv.should_exit = True
        thread.join(10)


def test_dashboard_shows_a_liquidation_live(server):
    base, keys = server
    with httpx.Client(base_url=base, timeout=10) as c:
        setup_venue(c, keys)
        fill = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.19"}
        assert c.post("/v1/fills", json={"fills": [fill]}, headers=keys.h("matcher")).json()["accepted"] == 1
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                violations: list[str] = []  # the page runs under its Content-Security-Policy: nothing it needs is blocked
                page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
                page.goto(f"{base}/#key={keys.tokens['auditor']}")  # the fragment never reaches the server
                page.wait_for_selector("#live.on", timeout=15_000)
                expect(page.locator("#breakers")).to_have_text("none configured", timeout=10_000)
                assert page.inner_text("#count-LiquidationStep") == "0"
                assert "no account in breach" in page.inner_text("#queue")
                assert "BTC-PERP" in page.inner_text("#markets")
                # the crash: alice is margin-called, and the page shows her in the queue without a reload
                r = c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "45000"}, headers=keys.h("oracle"))
                assert [fx["kind"] for fx in r.json()["effects"]] == ["MarginCall"]
                page.wait_for_selector('#queue tr[data-subaccount="alice/main"]', timeout=10_000)
                assert "margin_called" in page.inner_text("#queue")
                expect(page.locator("#count-MarginCall")).to_have_text("1", timeout=10_000)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "dashboard-margin-call.png"), full_page=True)
                # the keeper liquidates her: the counter moves, the queue empties, the feed shows the step
                assert c.post("/v1/liquidations/tick", json={}, headers=keys.h("liquidator")).status_code == 201
                expect(page.locator("#count-LiquidationStep")).to_have_text("1", timeout=10_000)
                expect(page.locator("#queue")).to_contain_text("no account in breach", timeout=10_000)
                assert "liquidation_step alice/main" in page.inner_text("#feed")
                assert page.locator("#ratio-chart .main-svg").count() > 0 and page.locator("#insurance-chart .main-svg").count() > 0
                page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
                assert not violations, violations
                assert "key=" not in page.url  # the key left the address bar
            finally:
                browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
