"""The risk service's HTTP API: every endpoint, roles and ownership, revocation, errors, rate limit, stream.

The core tests run on SQLite and (``-m postgres``) on PostgreSQL with a namespace per test.
"""

from __future__ import annotations

import decimal
import json
import logging
import warnings
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from ramparts.engine.node import replay  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from service_kit import PG_URL, drop_pg, make_keys, new_namespace, perp_body, pg_available, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILL = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.19"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request, tmp_path):
    if request.param == "sqlite":
        url, ns = str(tmp_path / "journal.sqlite"), "ramparts"
    else:
        if not pg_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        url, ns = PG_URL, new_namespace()
    app = create_app(url, namespace=ns, rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    try:
        with TestClient(app) as client:
            yield SimpleNamespace(c=client, keys=keys, url=url, ns=ns, app=app)
    finally:
        if request.param == "postgres":
            drop_pg(ns)


def _ok(r, status=(200, 201)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()


def _err(r, status: int, error: str | None = None, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field", "message"} and body["message"], body
    if error is not None:
        assert body["error"] == error, body
    if field is not None:
        assert body["field"] == field, body
    return body


def test_every_endpoint(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    # a batch of fills: one transaction, one outcome per fill
    batch = _ok(c.post("/v1/fills", json={"fills": [FILL, {**FILL, "size": "5"}, {**FILL, "instrument": "ETH-PERP"}]}, headers=k.h("matcher")), 200)
    assert (batch["accepted"], batch["rejected"]) == (1, 2)
    assert batch["outcomes"][1]["error"]["error"] == "initial_margin"
    assert batch["outcomes"][2]["error"] == {"error": "unknown_entity", "field": "instrument", "message": "unknown instrument 'ETH-PERP'"}
    risk = _ok(c.get("/v1/subaccounts/alice/main", headers=k.h("alice")))
    assert risk["state"] == "healthy" and risk["positions"][0]["size"] == "0.190"
    assert float(risk["liquidation_price"]) < 50000 and 0 < risk["margin_ratio"] < 1
    # the price falls: alice is margin-called, the ack carries the decision
    ack = _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "45000"}, headers=k.h("oracle")), 201)
    assert [fx["kind"] for fx in ack["effects"]] == ["MarginCall"]
    queue = _ok(c.get("/v1/liquidations/queue", headers=k.h("liquidator")))
    assert [a["subaccount"] for a in queue["accounts"]] == ["alice/main"] and queue["accounts"][0]["state"] == "margin_called"
    assert _ok(c.get("/v1/subaccounts/alice/main", headers=k.h("auditor")))["margin_ratio"] > 1
    adl = _ok(c.get("/v1/markets/BTC-PERP/adl", headers=k.h("auditor")))
    assert [r["subaccount"] for r in adl["shorts"]] == ["bob/main"] and [r["subaccount"] for r in adl["longs"]] == ["alice/main"]
    assert adl["shorts"][0]["profit_pct"] == pytest.approx(10.0)
    tick = _ok(c.post("/v1/liquidations/tick", json={}, headers=k.h("liquidator")), 201)
    step = next(fx for fx in tick["effects"] if fx["kind"] == "LiquidationStep")
    assert step["subaccount"] == "alice/main" and step["liquidator"] == "keeper1"
    assert _ok(c.get("/v1/liquidations/queue", headers=k.h("auditor")))["accounts"] == []
    ins = _ok(c.get("/v1/insurance", headers=k.h("auditor")))
    assert ins["asset"] == "USDC" and float(ins["funds"]["global"]) > 50000
    markets = _ok(c.get("/v1/markets", headers=k.h("alice")))["markets"]
    assert markets[0]["symbol"] == "BTC-PERP" and markets[0]["mark"] == "45000.000"
    oi = _ok(c.get("/v1/open-interest", headers=k.h("oracle")))
    assert oi["BTC-PERP"]["open_interest"] == "0.190"  # the backstop vault took alice's side
    _ok(c.post("/v1/funding", json={"instrument": "BTC-PERP", "premium": "0.0001"}, headers=k.h("liquidator")), 201)
    pc = _ok(c.post("/v1/parameters", json={"target": "liquidation", "key": "penalty_ppm", "value": 20000}, headers=k.h("risk")), 201)
    assert pc["kind"] == "ParameterChange"
    assert _ok(c.get("/v1/breakers", headers=k.h("auditor"))) == {"configured": False, "breakers": [], "gates": {}}
    listed = [a["subaccount"] for a in _ok(c.get("/v1/subaccounts", headers=k.h("auditor")))["accounts"]]
    assert listed == ["alice/main", "bob/main"]
    ov = _ok(c.get("/v1/overview", headers=k.h("auditor")))
    assert ov["counters"]["MarginCall"] == 1 and ov["counters"]["LiquidationStep"] == 1 and ov["accounts"] == 2
    # event history, paged
    page1 = _ok(c.get("/v1/events", params={"limit": 5}, headers=k.h("auditor")))
    assert [e["seq"] for e in page1["events"]] == [1, 2, 3, 4, 5] and page1["events"][0]["kind"] == "Genesis"
    seqs, nxt = [], 1
    while nxt is not None:
        page = _ok(c.get("/v1/events", params={"from_seq": nxt, "limit": 4}, headers=k.h("auditor")))
        seqs += [e["seq"] for e in page["events"]]
        nxt = page["next_from_seq"]
    assert seqs == list(range(1, page1["last_seq"] + 1))
    kinds = {e["seq"]: e for e in _ok(c.get("/v1/events", params={"limit": 1000}, headers=k.h("auditor")))["events"]}
    assert kinds[tick["seq"]]["effects"] == tick["effects"] and kinds[ack["seq"]]["payload"]["price"] == "45000"
    # admin: keys and the audit log
    keys = _ok(c.get("/v1/keys", headers=k.h("risk")))["keys"]
    assert {x["role"] for x in keys} >= {"trader", "oracle", "matcher", "liquidator", "risk_officer", "auditor"}
    assert all("digest" not in x and "salt" not in x for x in keys)
    actions = [e["action"] for e in _ok(c.get("/v1/audit", headers=k.h("auditor")))["entries"]]
    assert "parameter_change" in actions and "create_key" in actions and "list_instrument" in actions
    # the state hash is the journal's replay
    state = _ok(c.get("/v1/state", headers=k.h("auditor")))
    with open_journal(svc.url, namespace=svc.ns) as j:
        assert replay(j).state_hash() == state["state_hash"] and j.last_seq() == state["seq"]
    # metrics
    text = c.get("/metrics").text
    assert "ramparts_tick_to_decision_seconds_count 2.0" in text
    assert 'ramparts_insurance_fund{fund="global"}' in text and "ramparts_accounts_at_risk 0.0" in text
    assert 'ramparts_events_total{kind="Fill",outcome="rejected"} 2.0' in text
    spec = c.get("/openapi.json").json()
    assert {"/v1/fills", "/v1/prices", "/v1/liquidations/queue", "/v1/markets/{symbol}/adl", "/v1/events"} <= set(spec["paths"])


def test_a_trader_only_touches_its_own_account(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    for r in (
        c.get("/v1/subaccounts/bob/main", headers=k.h("alice")),
        c.post("/v1/deposits", json={"subaccount": "bob/main", "amount": "1"}, headers=k.h("alice")),
        c.post("/v1/withdrawals", json={"subaccount": "bob/main", "amount": "1"}, headers=k.h("alice")),
        c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "1"}, headers=k.h("alice")),  # custody moves money
        c.post("/v1/withdrawals", json={"subaccount": "alice/main", "amount": "1"}, headers=k.h("alice")),
        c.post("/v1/custody/requests", json={"kind": "deposit", "subaccount": "bob/main", "amount": "1"}, headers=k.h("alice")),
        c.post("/v1/subaccounts", json={"subaccount": "bob/side"}, headers=k.h("alice")),
        c.get("/v1/liquidations/queue", headers=k.h("alice")),
        c.get("/v1/events", headers=k.h("alice")),
        c.post("/v1/fills", json={"fills": [FILL]}, headers=k.h("alice")),
    ):
        _err(r, 403, "forbidden")
    assert [a["subaccount"] for a in _ok(c.get("/v1/subaccounts", headers=k.h("alice")))["accounts"]] == ["alice/main"]
    _ok(c.post("/v1/subaccounts", json={"subaccount": "alice/side"}, headers=k.h("alice")), 201)
    asked = _ok(c.post("/v1/custody/requests", json={"kind": "withdrawal", "subaccount": "alice/main", "amount": "10"},
                       headers=k.h("alice")), 201)
    _ok(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", headers=k.h("custody")), 201)
    assert _ok(c.get("/v1/subaccounts/alice/main", headers=k.h("alice")))["cash"] == "990.000000"


def test_roles_are_enforced(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    _err(c.post("/v1/withdrawals", json={"subaccount": "alice/main", "amount": "1"}, headers=k.h("oracle")), 403, "forbidden")
    _err(c.post("/v1/fills", json={"fills": [FILL]}, headers=k.h("oracle")), 403)
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "1"}, headers=k.h("matcher")), 403)
    _err(c.post("/v1/parameters", json={"target": "liquidation", "key": "penalty_ppm", "value": 1}, headers=k.h("auditor")), 403)
    _err(c.post("/v1/keys", json={"role": "auditor"}, headers=k.h("auditor")), 403)
    _err(c.post("/v1/liquidations/tick", json={}, headers=k.h("risk")), 403)
    _err(c.post("/v1/keys", json={"role": "risk_officer"}, headers=k.h("liquidator")), 403)


def test_revoked_and_unknown_keys_are_refused(svc):
    c, k = svc.c, svc.keys
    created = _ok(c.post("/v1/keys", json={"role": "oracle", "label": "feed-2"}, headers=k.h("risk")), 201)
    _ok(c.post("/v1/instruments", json=perp_body(), headers=k.h("risk")), 201)
    h = {"X-API-Key": created["token"]}
    _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "100"}, headers=h), 201)
    revoked = _ok(c.delete(f"/v1/keys/{created['key_id']}", headers=k.h("risk")))
    assert revoked["revoked_ns"] is not None
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "101"}, headers=h), 401, "revoked")
    _err(c.get("/v1/markets"), 401, "unauthorized")
    _err(c.get("/v1/markets", headers={"X-API-Key": "rk_nothere_secret"}), 401, "unauthorized")
    _err(c.get("/v1/markets", headers={"X-API-Key": created["token"][:-2] + "xx"}), 401)
    _err(c.get("/v1/markets", headers={"X-API-Key": "garbage"}), 401)
    # the Bearer form; a key in the URL is refused, with a message telling to use the header
    _ok(c.get("/v1/markets", headers={"Authorization": f"Bearer {k.tokens['auditor']}"}))
    assert "X-API-Key header" in _err(c.get("/v1/markets", params={"key": k.tokens["auditor"]}), 401, "key_in_url")["message"]
    _err(c.delete("/v1/keys/doesnotexist", headers=k.h("risk")), 404, "unknown_entity")
    actions = [(e["action"], e["detail"].get("key_id")) for e in _ok(c.get("/v1/audit", headers=k.h("risk")))["entries"]]
    assert ("revoke_key", created["key_id"]) in actions and ("create_key", created["key_id"]) in actions


def test_bad_input_gives_a_clear_4xx(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    o, a = k.h("oracle"), k.h("custody")
    _err(c.post("/v1/prices", json={"instrument": "NOPE", "price": "1"}, headers=o), 404, "unknown_entity", "instrument")
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "NaN"}, headers=o), 422, "invalid_input", "price")
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "-5"}, headers=o), 422, "invalid_input")
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": 1e300}, headers=o), 422, "invalid_input", "price")
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "1", "colour": "red"}, headers=o), 422, "invalid_input", "colour")
    # a value the schema allows but the venue's state refuses (the engine's time, the asset's decimals): 409
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "1", "ts": 1}, headers=o), 409, "invalid_input", "ts")
    _err(c.post("/v1/prices", content=b"{not json", headers={**o, "content-type": "application/json"}), 422, "invalid_input")
    _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "-1"}, headers=a), 422, "invalid_input", "amount")
    _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "0.0000001"}, headers=a), 409, "invalid_input", "amount")
    _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "1", "asset": "DOGE"}, headers=a), 404, "unknown_entity", "asset")
    _err(c.post("/v1/deposits", json={"subaccount": "alice/nope", "amount": "1"}, headers=a), 404, "unknown_entity", "subaccount")
    _err(c.post("/v1/subaccounts", json={"subaccount": "alice/a/b"}, headers=k.h("alice")), 422, "invalid_input", "subaccount")
    _err(c.post("/v1/withdrawals", json={"subaccount": "alice/main", "amount": "5000"}, headers=a), 409, "free_collateral")
    _err(c.post("/v1/subaccounts", json={"subaccount": "alice/main"}, headers=k.h("alice")), 409, "duplicate")
    f = k.h("matcher")
    _err(c.post("/v1/fills", json={"fills": []}, headers=f), 422, "invalid_input", "fills")
    out = _ok(c.post("/v1/fills", json={"fills": [{**FILL, "price": "50000.05"}, {**FILL, "seller": "alice/main"}]}, headers=f))
    assert [x["error"]["field"] for x in out["outcomes"]] == ["price", "seller"]
    _err(c.post("/v1/parameters", json={"target": "liquidation", "key": "nope", "value": 1}, headers=k.h("risk")), 409, "invalid_input")
    _err(c.post("/v1/parameters", json={"target": "instrument:BTC-PERP", "key": "margin", "value": "x"}, headers=k.h("risk")), 409)
    _err(c.post("/v1/parameters", json={"target": "nowhere", "key": "x", "value": 1}, headers=k.h("risk")), 422, "invalid_input", "target")
    _err(c.post("/v1/keys", json={"role": "trader"}, headers=k.h("risk")), 422, "invalid_input", "account")
    _err(c.post("/v1/keys", json={"role": "wizard"}, headers=k.h("risk")), 422, "invalid_input", "role")
    _err(c.get("/v1/events", params={"limit": 0}, headers=k.h("auditor")), 422, "invalid_input", "limit")
    _err(c.get("/v1/markets/NOPE/adl", headers=k.h("auditor")), 404, "unknown_entity")
    _err(c.get("/v1/subaccounts/alice/ghost", headers=k.h("alice")), 404, "unknown_entity")
    _err(c.get("/v1/nowhere", headers=a), 404, "not_found")
    _err(c.put("/v1/prices", json={}, headers=o), 405, "method_not_allowed")


def test_rate_limit_gives_429(tmp_path):
    app = create_app(str(tmp_path / "j.sqlite"), rate_limit=(1.0, 3.0))
    keys = make_keys(app.state.svc.keys)
    with TestClient(app) as c:
        codes = [c.get("/v1/markets", headers=keys.h("auditor")).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.get("/v1/markets", headers=keys.h("auditor"))
        body = _err(r, 429, "rate_limited")
        assert "retry" in body["message"] and int(r.headers["Retry-After"]) >= 1
        assert c.get("/v1/markets", headers=keys.h("oracle")).status_code == 200  # the bucket is per key


def test_the_stream_pushes_what_was_journaled(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=k.h("matcher")))
    ticket = _ok(c.post("/v1/tickets", headers=k.h("auditor")), 201)["ticket"]
    with c.websocket_connect(f"/v1/stream?ticket={ticket}") as ws, \
         c.websocket_connect("/v1/stream", headers={"X-API-Key": k.tokens["bob"]}) as bob:
        assert ws.receive_json()["type"] == "hello" and bob.receive_json()["type"] == "hello"
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "45000"}, headers=k.h("oracle")))
        _ok(c.post("/v1/liquidations/tick", json={}, headers=k.h("liquidator")))
        got = [ws.receive_json() for _ in range(6)]
        assert [m["type"] for m in got] == ["price", "margin_call", "commit", "liquidation_step", "liquidation_ended", "commit"]
        assert got[1]["subaccount"] == "alice/main" and got[0]["price"] == "45000"
        # bob, a trader, sees prices and commits but not alice's margin call
        assert [bob.receive_json()["type"] for _ in range(3)] == ["price", "commit", "commit"]
    with c.websocket_connect("/v1/stream", headers={"X-API-Key": "rk_bad_key"}) as bad:
        assert bad.receive_json()["error"] == "unauthorized"
    with c.websocket_connect(f"/v1/stream?ticket={ticket}") as used:  # a ticket is single-use
        assert used.receive_json()["error"] == "invalid_ticket"


def test_the_first_key_comes_from_the_cli(tmp_path):
    from typer.testing import CliRunner

    from ramparts.service.cli import app as cli
    from ramparts.service.cli import create_first_key

    url = str(tmp_path / "j.sqlite")
    _, token = create_first_key(url, label="ops")
    res = CliRunner().invoke(cli, ["create-key", "--store", url, "--role", "auditor"])
    assert res.exit_code == 0, res.output
    auditor = res.stdout.strip().splitlines()[-1]
    bad = CliRunner().invoke(cli, ["create-key", "--store", url, "--role", "trader"])
    assert bad.exit_code == 2 and "account" in bad.output
    with TestClient(create_app(url)) as c:
        made = _ok(c.post("/v1/keys", json={"role": "trader", "account": "carol"}, headers={"X-API-Key": token}), 201)
        assert made["token"].startswith(f"rk_{made['key_id']}_")
        _ok(c.get("/v1/overview", headers={"X-API-Key": auditor}))
    # hashed at rest: neither token appears in the database file
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite*"))
    assert token.split("_", 2)[2].encode() not in raw and made["token"].split("_", 2)[2].encode() not in raw


def test_json_logs():
    import io

    from ramparts.service.metrics import configure_logging

    buf = io.StringIO()
    handler = configure_logging(logging.INFO, buf)
    try:
        logging.getLogger("ramparts.service").info("hello", extra={"fields": {"seq": 7}})
    finally:
        logging.getLogger("ramparts").removeHandler(handler)
        logging.getLogger("ramparts").propagate = True
    rec = json.loads(buf.getvalue().strip())
    assert rec["message"] == "hello" and rec["seq"] == 7 and rec["level"] == "info"


def test_keys_may_live_in_a_separate_store(tmp_path):
    from ramparts.service.auth import KeyStore

    store = KeyStore(str(tmp_path / "keys.sqlite"))
    _, token = store.create_key("auditor", label="separate")
    app = create_app(str(tmp_path / "journal.sqlite"), api_keys_store=store)
    with TestClient(app) as c:
        assert _ok(c.get("/v1/state", headers={"X-API-Key": token}))["seq"] == 1  # the default genesis
    assert [e["action"] for e in store.audit_entries()] == ["create_key"]
    store.close()


def test_batch_mode_through_the_service(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    now = _ok(c.get("/v1/state", headers=k.h("auditor")))["time_ns"]
    body = {"instruments": ["BTC-PERP"], "subaccounts": ["alice/main", "bob/main"], "item_kind": "FFPF",
            "time": [now + 1, now + 2, now + 3, now + 4], "instrument": [0, 0, 0, 0], "buyer": [0, 0, -1, 1],
            "seller": [1, 1, -1, 0], "price": [500_000, 500_000, 490_000, 490_000], "size": [190, 5_000, 0, 10]}  # fmt: skip
    ack = _ok(c.post("/v1/batches", json=body, headers=k.h("sequencer")), 201)
    assert ack["kind"] == "TradeBatch" and ack["ts"] == now + 4
    rejected = [f for f in ack["effects"] if f["kind"] == "Rejected"]
    assert [(f["item"], f["reason"]) for f in rejected] == [(1, "initial_margin")]
    risk = _ok(c.get("/v1/subaccounts/alice/main", headers=k.h("alice")))
    assert risk["positions"][0]["size"] == "0.180"  # bought 0.190, sold 0.010 back
    _err(c.post("/v1/batches", json=body, headers=k.h("matcher")), 403)  # a matcher may not move prices
    _err(c.post("/v1/batches", json={**body, "time": [now + 9, now + 8, now + 9, now + 9]}, headers=k.h("sequencer")), 409, field="time")
    _err(c.post("/v1/batches", json={**body, "subaccounts": ["alice/main", "zed/main"]}, headers=k.h("sequencer")), 404)
    assert replay(open_journal(svc.url, namespace=svc.ns)).state_hash() == _ok(c.get("/v1/state", headers=k.h("auditor")))["state_hash"]


# ------------------------------------------------------------------------------------------------ hardening
def _state(svc) -> dict:
    return _ok(svc.c.get("/v1/state", headers=svc.keys.h("auditor")))


def _assert_memory_is_the_journal(svc) -> dict:
    """The state the service serves is the journal's replay, seq and hash."""
    state = _state(svc)
    with open_journal(svc.url, namespace=svc.ns) as j:
        assert j.last_seq() == state["seq"]
        assert replay(j).state_hash() == state["state_hash"]
    return state


def test_a_poisoned_fill_batch_leaves_no_phantom_event(svc):
    """The issue's reproduction: a valid fill and the same fill with price 1E+999999999 gave a 500 and left the
    first fill in memory but not in the journal (seq 11 served, journal at 10, the next request refused)."""
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    before = _state(svc)
    r = c.post("/v1/fills", json={"fills": [FILL, {**FILL, "price": "1E+999999999"}]}, headers=k.h("matcher"))
    _err(r, 422, "invalid_input", "fills.1.price")
    assert _assert_memory_is_the_journal(svc) == before
    out = _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=k.h("matcher")))
    assert out["accepted"] == 1 and out["outcomes"][0]["seq"] == before["seq"] + 1
    _assert_memory_is_the_journal(svc)


def test_huge_numbers_anywhere_are_a_422_naming_the_field(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    before = _state(svc)
    now = before["time_ns"]
    huge = "1E+999999999"
    for path, body, who, field in [
        ("/v1/fills", {"fills": [{**FILL, "size": huge}]}, "matcher", "fills.0.size"),
        ("/v1/fills", {"fills": [{**FILL, "buyer_fee": "-" + huge}]}, "matcher", "fills.0.buyer_fee"),
        ("/v1/fills", {"fills": [{**FILL, "price": "1E-999999999"}]}, "matcher", "fills.0.price"),
        ("/v1/prices", {"instrument": "BTC-PERP", "price": huge}, "oracle", "price"),
        ("/v1/prices", {"instrument": "BTC-PERP", "price": "1", "book_price": huge}, "oracle", "book_price"),
        ("/v1/deposits", {"subaccount": "alice/main", "amount": huge}, "custody", "amount"),
        ("/v1/withdrawals", {"subaccount": "alice/main", "amount": huge}, "custody", "amount"),
        ("/v1/insurance/deposits", {"amount": huge}, "risk", "amount"),
        ("/v1/funding", {"instrument": "BTC-PERP", "premium": huge}, "liquidator", "premium"),
        ("/v1/quotes", {"instrument": "BTC-PERP", "quotes": [{"source": "a", "price": huge, "ts_ns": now}]}, "oracle", "quotes.0.price"),
        ("/v1/instruments", {**perp_body("X-PERP", "X"), "tick_size": huge}, "risk", "tick_size"),
        ("/v1/batches", {"instruments": ["BTC-PERP"], "item_kind": "P", "time": [2**63], "instrument": [0], "buyer": [-1],
                         "seller": [-1], "price": [500_000], "size": [0]}, "sequencer", "time.0"),
    ]:
        _err(c.post(path, json=body, headers=k.h(who)), 422, "invalid_input", field)
    assert _assert_memory_is_the_journal(svc) == before


def test_an_event_that_fails_inside_the_engine_changes_nothing_and_fails_no_other(svc, monkeypatch):
    """Whatever a defect raises mid-event (here OverflowError after the buyer's side was booked), the node
    rebuilds from the journal, the event gets a clear 422 ``event_failed`` and the rest of the group commit
    goes through."""
    from ramparts.engine import Engine

    c, k = svc.c, svc.keys
    setup_venue(c, k)
    trade = Engine.trade

    def defect(self, s, instr, delta, quote):
        out = trade(self, s, instr, delta, quote)
        if delta == -13:  # the seller's side of a 0.013 fill
            raise OverflowError("a defect")
        return out

    monkeypatch.setattr(Engine, "trade", defect)
    before = _state(svc)
    out = _ok(c.post("/v1/fills", json={"fills": [{**FILL, "size": "0.01"}, {**FILL, "size": "0.013"}, {**FILL, "size": "0.02"}]},
                     headers=k.h("matcher")))
    assert [o["accepted"] for o in out["outcomes"]] == [True, False, True]
    assert out["outcomes"][1]["error"]["error"] == "event_failed" and "OverflowError" in out["outcomes"][1]["error"]["message"]
    assert [o["seq"] for o in out["outcomes"]] == [before["seq"] + 1, None, before["seq"] + 2]
    _assert_memory_is_the_journal(svc)
    assert _ok(c.get("/v1/subaccounts/alice/main", headers=k.h("alice")))["positions"][0]["size"] == "0.030"
    body = _ok(c.post("/v1/fills", json={"fills": [{**FILL, "size": "0.013"}]}, headers=k.h("matcher")))
    assert body["outcomes"][0]["error"]["error"] == "event_failed"
    # a single event: a 422, not a 500
    deposit = Engine._on_Deposit

    def failing_deposit(self, e):
        out = deposit(self, e)  # the money is booked, then the defect
        if e.amount == 7:
            raise ZeroDivisionError("a defect")
        return out

    monkeypatch.setattr(Engine, "_on_Deposit", failing_deposit)
    _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "7"}, headers=k.h("custody")), 422, "event_failed")
    _assert_memory_is_the_journal(svc)
    monkeypatch.undo()
    _ok(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "7"}, headers=k.h("custody")), 201)
    _assert_memory_is_the_journal(svc)


def test_a_machine_ts_far_ahead_of_the_wall_clock_is_refused(svc):
    """Issue: one oracle price stamped INT64_MAX moved the engine time there for good, after which every fill
    stamped now was refused. The service refuses a ts more than 5 minutes ahead of its wall clock."""
    import time as _time

    c, k = svc.c, svc.keys
    setup_venue(c, k)
    before = _state(svc)
    o = k.h("oracle")
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000", "ts": 2**63 - 1}, headers=o), 409, "invalid_input", "ts")
    _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000", "ts": _time.time_ns() + 600 * 10**9}, headers=o),
         409, "invalid_input", "ts")
    _err(c.post("/v1/liquidations/tick", json={"ts": 2**63 - 1}, headers=k.h("liquidator")), 409, "invalid_input", "ts")
    assert _assert_memory_is_the_journal(svc) == before
    out = _ok(c.post("/v1/fills", json={"fills": [FILL, {**FILL, "size": "0.01", "ts": 2**63 - 1}]}, headers=k.h("matcher")))
    assert out["outcomes"][0]["accepted"] and out["outcomes"][1]["error"]["field"] == "ts"
    soon = _time.time_ns() + 60 * 10**9  # within the allowed skew
    assert _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000", "ts": soon}, headers=o), 201)["ts"] == soon
    _ok(c.post("/v1/fills", json={"fills": [{**FILL, "size": "0.001"}]}, headers=k.h("matcher")))  # stamped now, not refused
    assert _assert_memory_is_the_journal(svc)["time_ns"] == soon


def test_funding_through_the_service_keeps_to_the_interval(svc):
    """Issue: 50 funding ticks with premium 1 in 0.12 s took a 0.1 BTC long with 1,000 USDC to -9,000 USDC."""
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    _ok(c.post("/v1/fills", json={"fills": [{**FILL, "size": "0.1"}]}, headers=k.h("matcher")))
    liq = k.h("liquidator")
    codes = [c.post("/v1/funding", json={"instrument": "BTC-PERP", "premium": "1"}, headers=liq).status_code for _ in range(50)]
    assert codes == [409] * 50  # premium 1 is beyond the one at which the rate reaches its cap (the instrument's)
    paid = [c.post("/v1/funding", json={"instrument": "BTC-PERP", "premium": "0.0405"}, headers=liq) for _ in range(50)]
    assert [r.status_code for r in paid] == [201] + [409] * 49
    assert {r.json()["error"] for r in paid[1:]} == {"funding_too_soon"}
    alice = _ok(c.get("/v1/subaccounts/alice/main", headers=k.h("alice")))
    assert alice["cash"] == "800.000000" and alice["state"] == "healthy"  # one capped interval: 4 % of 5,000 USDC
    # the instrument's interval is the rule: a risk officer may configure a shorter one
    _ok(c.post("/v1/parameters", json={"target": "instrument:BTC-PERP", "key": "funding", "value": {"interval_seconds": 1}},
               headers=k.h("risk")), 201)
    last = paid[0].json()["ts"]
    _ok(c.post("/v1/funding", json={"instrument": "BTC-PERP", "ts": max(last + 10**9, _state(svc)["time_ns"])}, headers=liq), 201)
    _assert_memory_is_the_journal(svc)


def test_names_and_decimals_are_strict(svc):
    c, k = svc.c, svc.keys
    setup_venue(c, k)
    before = _state(svc)
    a = k.h("custody")
    _err(c.post("/v1/subaccounts", json={"subaccount": "alice/main2\n"}, headers=k.h("alice")), 422, "invalid_input", "subaccount")
    for amount in ("\uff11\uff12", "\u0663", "1_000", " 1", "1\n", 1.5, 1e2, True):
        _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": amount}, headers=a), 422, "invalid_input", "amount")
    _err(c.post("/v1/fills", json={"fills": [{**FILL, "price": 50000.0}]}, headers=k.h("matcher")), 422, "invalid_input", "fills.0.price")
    assert _assert_memory_is_the_journal(svc) == before
    # decimals are strings: JSON cannot tell 12 from 12.0, so no JSON number is money
    _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": 12}, headers=a), 422, "invalid_input", "amount")
    _ok(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "12"}, headers=a), 201)
    spec = c.get("/openapi.json").json()["components"]["schemas"]["CashReq"]["properties"]["amount"]
    assert spec["type"] == "string" and spec["pattern"].startswith("^") and "anyOf" not in spec


def test_the_clock_skew_is_configurable(tmp_path):
    import time as _time

    app = create_app(str(tmp_path / "journal.sqlite"), rate_limit=(0, 0), max_clock_skew_s=3600)
    keys = make_keys(app.state.svc.keys)
    with TestClient(app) as c:
        setup_venue(c, keys)
        ts = _time.time_ns() + 1800 * 10**9  # beyond the default 5 minutes, within this venue's hour
        assert _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000", "ts": ts}, headers=keys.h("oracle")))["ts"] == ts
        _err(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000", "ts": ts + 3600 * 10**9}, headers=keys.h("oracle")),
             409, "invalid_input", "ts")


def test_a_failing_event_does_not_fail_the_other_requests_of_its_group_commit(tmp_path, monkeypatch):
    """Three requests in one group commit; the second one's event meets a defect mid-application: it gets
    EventFailed, the other two are journaled as if it had never been sent, and memory equals the journal."""
    import asyncio

    from ramparts.engine import Engine
    from ramparts.errors import EventFailed
    from ramparts.service.writer import Writer

    deposit = Engine._on_Deposit

    def failing_deposit(self, e):
        out = deposit(self, e)  # booked, then the defect
        if e.amount == 7:
            raise decimal.Overflow("a defect")
        return out

    async def main():
        w = Writer(str(tmp_path / "journal.sqlite"))
        await w.start()
        try:
            await w.submit([{"kind": "OpenSubAccount", "subaccount": "alice/main"}])
            sizes: list[int] = []
            w.listeners.append(lambda events, outcomes, seconds, stats: sizes.append(len(events)))
            monkeypatch.setattr(Engine, "_on_Deposit", failing_deposit)
            results = await asyncio.gather(*(w.submit([{"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": a}])
                                             for a in ("1", "7", "2")))
            memory = await w.read(lambda e: (e.seq, e.state_hash(), int(e.ledger.sub_cash[e.sub_index("alice/main")])))
            journal = await w.journal(lambda j: (j.last_seq(), replay(j).state_hash()))
            return sizes, results, memory, journal
        finally:
            await w.stop()

    sizes, results, memory, journal = asyncio.run(main())
    assert sizes == [3]  # one group commit
    (ok1,), (bad,), (ok2,) = results
    assert ok1.accepted and ok2.accepted and isinstance(bad.error, EventFailed) and bad.error.cause == "Overflow"
    assert ok2.seq == ok1.seq + 1
    assert memory[:2] == journal and memory[2] == 3 * 10**6
