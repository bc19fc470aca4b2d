"""The dashboard in a real browser: Debian's Chromium via Playwright against uvicorn on loopback.

A price crash posted through the API must show up on the page (queue and liquidation counters) over
the WebSocket (opened with a single-use ticket), under the page's Content-Security-Policy with no
violation; the key is given in the URL's fragment and leaves the address bar. A screenshot is saved
to ``tests/artifacts/dashboard.png``.

After a restart of the service on the same journal the page must show what happened before it: the
counters equal to the effects in the journal, a price chart per market and the insurance fund's
chart with their points, the accounts nearest liquidation, the ADL queue, the liquidation queue and
the accounts without positions in the margin histogram (``tests/artifacts/dashboard-restarted.png``).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from contextlib import contextmanager
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
from service_kit import free_port, make_keys, perp_body, setup_venue  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"


@contextmanager
def _serving(app):
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def server(tmp_path):
    app = create_app(str(tmp_path / "journal.sqlite"), rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    with _serving(app) as base:
        yield base, keys


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


def _journal_counts(c, keys) -> Counter:
    """The effects journaled, by kind, read through /v1/events."""
    counts: Counter = Counter()
    nxt = 1
    while nxt is not None:
        page = c.get("/v1/events", params={"from_seq": nxt, "limit": 1000}, headers=keys.h("auditor")).json()
        counts.update(fx["kind"] for ev in page["events"] for fx in ev["effects"])
        nxt = page["next_from_seq"]
    return counts


def test_the_dashboard_survives_a_restart(tmp_path):
    journal = str(tmp_path / "journal.sqlite")
    app = create_app(journal, rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    with _serving(app) as base, httpx.Client(base_url=base, timeout=10) as c:
        setup_venue(c, keys)
        c.post("/v1/instruments", json=perp_body("ETH-PERP", "ETH"), headers=keys.h("risk")).raise_for_status()
        for who in ("carol", "dave"):  # carol trades ETH, dave holds no position
            c.post("/v1/subaccounts", json={"subaccount": f"{who}/main"}, headers=keys.h("risk")).raise_for_status()
            c.post("/v1/deposits", json={"subaccount": f"{who}/main", "amount": "5000"}, headers=keys.h("custody")).raise_for_status()
        for price in ("3000", "3010", "2990"):
            c.post("/v1/prices", json={"instrument": "ETH-PERP", "price": price}, headers=keys.h("oracle")).raise_for_status()
        fills = [{"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.19"},
                 {"instrument": "ETH-PERP", "buyer": "carol/main", "seller": "bob/main", "price": "2990", "size": "1"}]
        assert c.post("/v1/fills", json={"fills": fills}, headers=keys.h("matcher")).json()["accepted"] == 2
        for price in ("48000", "45000"):  # alice margin-called, then liquidated
            c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": price}, headers=keys.h("oracle")).raise_for_status()
        assert c.post("/v1/liquidations/tick", json={}, headers=keys.h("liquidator")).status_code == 201
        c.post("/v1/insurance/deposits", json={"amount": "2500"}, headers=keys.h("risk")).raise_for_status()
        counts = _journal_counts(c, keys)
        insurance = c.get("/v1/insurance", headers=keys.h("auditor")).json()
    assert counts["MarginCall"] >= 1 and counts["LiquidationStep"] >= 1
    # a new service on the same journal: nothing of the above is in its memory but the journal
    again = create_app(journal, rate_limit=(0, 0))
    with _serving(again) as base, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{base}/#key={keys.tokens['auditor']}")
            page.wait_for_selector("#live.on", timeout=15_000)
            for kind in ("MarginCall", "LiquidationStep", "LiquidationEnded", "Bankruptcy", "InsuranceFundDraw"):
                expect(page.locator(f"#count-{kind}")).to_have_text(str(counts[kind]), timeout=10_000)
            # a price chart per market, with every price the journal holds
            page.wait_for_selector("#price-BTC-PERP .main-svg", timeout=10_000)
            points = {sym: page.evaluate(f"document.getElementById('price-{sym}').data[0].y.length") for sym in ("BTC-PERP", "ETH-PERP")}
            assert points == {"BTC-PERP": 3, "ETH-PERP": 3}, points
            assert page.evaluate("document.getElementById('price-ETH-PERP').data[0].y") == [3000, 3010, 2990]
            # the insurance fund's history: funded, the liquidation's penalty, the second deposit
            totals = page.evaluate("document.getElementById('insurance-chart').data[0].y")
            assert len(totals) >= 3 and totals[0] == 50000 and totals[-1] == float(insurance["total"]), totals
            # the risk tables
            expect(page.locator("#nearest")).to_contain_text("carol/main", timeout=10_000)
            assert page.locator('#adl .adl-market[data-market="ETH-PERP"] tr[data-subaccount="carol/main"]').count() == 1
            assert page.locator('#adl .adl-market[data-market="ETH-PERP"] tr[data-subaccount="bob/main"]').count() == 1
            assert "no account in" in page.inner_text("#liquidating") or page.locator("#liquidating tr[data-subaccount]").count() > 0
            hist = page.evaluate("Object.fromEntries(document.getElementById('ratio-chart').data[0].x.map("
                                 "(k, i) => [k, document.getElementById('ratio-chart').data[0].y[i]]))")
            assert hist["no positions"] >= 1 and sum(hist.values()) == 4, hist  # dave holds none
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-restarted.png"), full_page=True)
            assert not violations, violations
        finally:
            browser.close()
