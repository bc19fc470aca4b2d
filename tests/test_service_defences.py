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
        assert c.post("/v1/breakers/reset", json={"name": "nope"}, headers=keys.h("risk")).status_code == 422
        ack = _ok(c.post("/v1/breakers/reset", json={"name": "btc-move"}, headers=keys.h("risk")))
        assert [f["kind"] for f in ack["effects"]] == ["BreakerReset"]
        assert _ok(c.get("/v1/breakers", headers=keys.h("auditor")))["breakers"][0]["tripped"] is False
        audit = _ok(c.get("/v1/audit", headers=keys.h("auditor")))
        assert any(a["action"] == "breaker_reset" for a in (audit["entries"] if isinstance(audit, dict) else audit))
