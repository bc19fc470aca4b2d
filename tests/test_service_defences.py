"""The service's oracle-defence endpoints: multi-source quotes through the aggregator, breakers configured
through parameters, tripped by a price, shown in /v1/breakers, refusing new risk, and reset by a risk officer."""

from __future__ import annotations

import time
import warnings

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from ramparts.service.app import create_app  # noqa: E402
from service_kit import make_keys, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
S = 10**9


def _ok(r):
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_quotes_breakers_and_a_manual_reset_through_the_api(tmp_path):
    app = create_app(str(tmp_path / "j.sqlite"), rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    with TestClient(app) as c:
        setup_venue(c, keys)
        oracle = {"aggregator": {"sources": ["a", "b", "c"], "max_age_ns": 10 * S, "min_sources": 2}, "policy": {"min_sources": 2}}
        _ok(c.post("/v1/parameters", json={"target": "instrument:BTC-PERP", "key": "oracle", "value": oracle}, headers=keys.h("risk")))
        rules = [{"name": "btc-move", "trigger": "price_move", "instrument": "BTC-PERP", "move_ppm": 100_000, "window_ns": 3600 * S,
                  "auto_reset": False}]
        _ok(c.post("/v1/parameters", json={"target": "breakers", "key": "rules", "value": rules}, headers=keys.h("risk")))
        view = _ok(c.get("/v1/breakers", headers=keys.h("auditor")))
        assert view["configured"] and view["breakers"][0]["tripped"] is False
        # three sources quote a 15 % fall: one is an outlier, the median of the others is the index
        now = time.time_ns()  # the service stamps events with the wall clock; quotes are fresh
        ack = _ok(c.post("/v1/quotes", json={"instrument": "BTC-PERP", "quotes": [
            {"source": "a", "price": "42500", "ts_ns": now}, {"source": "b", "price": "42510", "ts_ns": now},
            {"source": "c", "price": "30000", "ts_ns": now}]}, headers=keys.h("oracle")))
        kinds = [f["kind"] for f in ack["effects"]]
        assert "OracleReading" in kinds and "BreakerTripped" in kinds
        reading = next(f for f in ack["effects"] if f["kind"] == "OracleReading")
        assert reading["rejected"] == {"c": "outlier"} and reading["valid"]
        view = _ok(c.get("/v1/breakers", headers=keys.h("auditor")))
        assert view["breakers"][0]["tripped"] is True and view["gates"]["BTC-PERP"]["valid"] is True
        # new risk is refused while the breaker holds
        r = c.post("/v1/fills", json={"fills": [{"instrument": "BTC-PERP", "buyer": "bob/main", "seller": "alice/main", "price": "42500",
                                                 "size": "0.01"}]}, headers=keys.h("matcher"))
        out = _ok(r)["outcomes"][0]
        assert not out["accepted"] and out["error"]["error"] == "risk_increasing_paused"
        # an oracle key cannot reset it; a risk officer can
        assert c.post("/v1/breakers/reset", json={"name": "btc-move"}, headers=keys.h("oracle")).status_code == 403
        assert c.post("/v1/breakers/reset", json={"name": "nope"}, headers=keys.h("risk")).status_code == 409  # the venue's state
        ack = _ok(c.post("/v1/breakers/reset", json={"name": "btc-move"}, headers=keys.h("risk")))
        assert [f["kind"] for f in ack["effects"]] == ["BreakerReset"]
        assert _ok(c.get("/v1/breakers", headers=keys.h("auditor")))["breakers"][0]["tripped"] is False
        audit = _ok(c.get("/v1/audit", headers=keys.h("auditor")))
        assert any(a["action"] == "breaker_reset" for a in (audit["entries"] if isinstance(audit, dict) else audit))


def test_collateral_assets_and_keeper_bids_through_the_api(tmp_path):
    app = create_app(str(tmp_path / "j.sqlite"), rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    with TestClient(app) as c:
        setup_venue(c, keys)
        _ok(c.post("/v1/assets", json={"symbol": "ETH", "decimals": 8, "collateral": {"haircut_ppm": 100_000}}, headers=keys.h("risk")))
        assert c.post("/v1/assets", json={"symbol": "SOL", "decimals": 9}, headers=keys.h("alice")).status_code == 403
        _ok(c.post("/v1/assets/prices", json={"asset": "ETH", "price": "3000"}, headers=keys.h("oracle")))
        assert c.post("/v1/assets/prices", json={"asset": "ETH", "price": "3000"}, headers=keys.h("alice")).status_code == 403
        r = c.post("/v1/assets/prices", json={"asset": "DOGE", "price": "1"}, headers=keys.h("oracle"))
        assert r.status_code in (404, 422) and r.json()["error"]
        # 2 ETH at 3,000 with a 10 % haircut count 5,400 toward bob's equity
        before = _ok(c.get("/v1/subaccounts/bob/main", headers=keys.h("bob")))
        _ok(c.post("/v1/deposits", json={"subaccount": "bob/main", "asset": "ETH", "amount": "2"}, headers=keys.h("custody")))
        after = _ok(c.get("/v1/subaccounts/bob/main", headers=keys.h("bob")))
        from decimal import Decimal

        assert Decimal(after["equity"]) - Decimal(before["equity"]) == 5_400
        # a keeper may only bid into its own sub-account; a bid on a healthy account is refused with 409
        bid = {"subaccount": "alice/main", "keeper": "keeper1/main"}
        assert c.post("/v1/liquidations/bids", json={**bid, "keeper": "bob/main"}, headers=keys.h("liquidator")).status_code == 403
        assert c.post("/v1/liquidations/bids", json=bid, headers=keys.h("oracle")).status_code == 403
        r = c.post("/v1/liquidations/bids", json=bid, headers=keys.h("liquidator"))
        assert r.status_code == 404 and r.json()["field"] == "liquidator"  # keeper1/main does not exist yet
        _ok(c.post("/v1/subaccounts", json={"subaccount": "keeper1/main"}, headers=keys.h("risk")))
        _ok(c.post("/v1/deposits", json={"subaccount": "keeper1/main", "amount": "100000"}, headers=keys.h("risk")))
        r = c.post("/v1/liquidations/bids", json=bid, headers=keys.h("liquidator"))
        assert r.status_code == 409 and r.json()["error"], r.text  # alice has no position: nothing to liquidate
        fill = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.19"}
        assert _ok(c.post("/v1/fills", json={"fills": [fill]}, headers=keys.h("matcher")))["accepted"] == 1
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "46000"}, headers=keys.h("oracle")))  # alice in breach
        ack = _ok(c.post("/v1/liquidations/bids", json=bid, headers=keys.h("liquidator")))
        step = next(f for f in ack["effects"] if f["kind"] == "LiquidationStep")
        assert step["subaccount"] == "alice/main" and step["lots"] < 0
