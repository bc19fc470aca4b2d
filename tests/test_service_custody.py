"""Custody through the service: money crosses the venue's boundary only by a custody (or risk officer) key.

A trader's direct deposit or withdrawal is a 403; a trader requests one, custody confirms it (the
journaled Deposit/Withdraw against the ledger account ``external``), a withdrawal is checked
against the free collateral at confirmation, a custody key moves at most the custody cap per
request, and ``GET /v1/custody`` shows ``external`` with the ledger totals adding up to zero. On
SQLite and (``-m postgres``) PostgreSQL.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from ramparts.engine.node import replay  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from ramparts.service.auth import PERMISSIONS, ROLES  # noqa: E402
from service_kit import PG_URL, drop_pg, make_keys, new_namespace, pg_available, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILL = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.1"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def svc(request, tmp_path):
    if request.param == "sqlite":
        url, ns = str(tmp_path / "journal.sqlite"), "ramparts"
    else:
        if not pg_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        url, ns = PG_URL, new_namespace()
    app = create_app(url, namespace=ns, rate_limit=(0, 0), custody_cap="5000")
    keys = make_keys(app.state.svc.keys)
    try:
        with TestClient(app) as client:
            setup_venue(client, keys, alice="1000", bob="4000")
            yield SimpleNamespace(c=client, keys=keys, url=url, ns=ns)
    finally:
        if request.param == "postgres":
            drop_pg(ns)


def _ok(r, status=(200, 201)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()


def _err(r, status: int, error: str) -> dict:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error, r.text
    return r.json()


def _cash(svc, who: str = "alice") -> str:
    return _ok(svc.c.get(f"/v1/subaccounts/{who}/main", headers=svc.keys.h(who)))["cash"]


def _ask(svc, kind: str, amount: str, who: str = "alice", **extra) -> dict:
    body = {"kind": kind, "subaccount": f"{who}/main", "amount": amount, **extra}
    return _ok(svc.c.post("/v1/custody/requests", json=body, headers=svc.keys.h(who)), 201)


def _journal_is_memory(svc) -> dict:
    state = _ok(svc.c.get("/v1/state", headers=svc.keys.h("auditor")))
    with open_journal(svc.url, namespace=svc.ns) as j:
        assert j.last_seq() == state["seq"] and replay(j).state_hash() == state["state_hash"]
    return state


def test_the_role_table_says_who_moves_money():
    assert "custody" in ROLES
    assert PERMISSIONS["deposit"] == PERMISSIONS["withdraw"] == {"custody", "risk_officer"}
    assert PERMISSIONS["request_cash"] == PERMISSIONS["cancel_cash_request"] == {"trader"}
    assert PERMISSIONS["decide_cash_request"] == {"custody", "risk_officer"}
    assert "trader" not in PERMISSIONS["read_custody"] and "custody" in PERMISSIONS["read_account"]


def test_a_trader_cannot_move_money_itself(svc):
    c, k = svc.c, svc.keys
    before = _journal_is_memory(svc)
    for path in ("/v1/deposits", "/v1/withdrawals"):
        _err(c.post(path, json={"subaccount": "alice/main", "amount": "1000000"}, headers=k.h("alice")), 403, "forbidden")
    for who in ("oracle", "matcher", "liquidator", "auditor", "sequencer"):
        _err(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "1"}, headers=k.h(who)), 403, "forbidden")
    _err(c.post("/v1/custody/requests", json={"kind": "deposit", "subaccount": "alice/main", "amount": "1"}, headers=k.h("custody")),
         403, "forbidden")  # custody confirms requests, it does not make them
    _err(c.get("/v1/custody", headers=k.h("alice")), 403, "forbidden")
    assert _journal_is_memory(svc) == before and _cash(svc) == "1000.000000"


def test_a_request_confirmed_by_custody_moves_the_money_from_the_outside_world(svc):
    c, k = svc.c, svc.keys
    view0 = _ok(c.get("/v1/custody", headers=k.h("custody")))
    assert view0["external"]["USDC"] == "-55000.000000" and view0["cap"] == "5000"  # 1,000 + 4,000 + 50,000 insurance
    asked = _ask(svc, "deposit", "250.5")
    assert asked["status"] == "pending" and asked["seq"] is None and _cash(svc) == "1000.000000"  # nothing moved yet
    assert [r["request_id"] for r in _ok(c.get("/v1/custody/requests", params={"status": "pending"}, headers=k.h("custody")))["requests"]] \
        == [asked["request_id"]]
    assert _ok(c.get("/v1/custody/requests", headers=k.h("bob")))["requests"] == []  # bob sees only his own
    _err(c.get(f"/v1/custody/requests/{asked['request_id']}", headers=k.h("bob")), 404, "unknown_entity")
    done = _ok(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", json={"note": "wire 42"}, headers=k.h("custody")), 201)
    assert done["status"] == "confirmed" and done["decided_by"] == k.ids["custody"] and done["note"] == "wire 42"
    assert _cash(svc) == "1250.500000"
    event = _ok(c.get("/v1/events", params={"from_seq": done["seq"], "limit": 1}, headers=k.h("auditor")))["events"][0]
    assert event["kind"] == "Deposit" and event["payload"]["amount"] == "250.5" and event["payload"]["subaccount"] == "alice/main"
    _err(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", headers=k.h("custody")), 409, "request_not_pending")
    view = _ok(c.get("/v1/custody", headers=k.h("auditor")))
    assert view["external"]["USDC"] == "-55250.500000" and view["pending"] == {"deposit": 0, "withdrawal": 0}
    assert sum(Decimal(v) for v in view["totals"].values()) == 0 and view["totals"]["external"] == "-55250.500000"
    actions = {(e["action"], e["detail"].get("request_id")) for e in _ok(c.get("/v1/audit", headers=k.h("auditor")))["entries"]}
    assert {("request_cash", asked["request_id"]), ("confirm_cash", asked["request_id"])} <= actions
    _journal_is_memory(svc)


def test_a_withdrawal_request_is_held_to_the_free_collateral_at_confirmation(svc):
    c, k = svc.c, svc.keys
    big = _ask(svc, "withdrawal", "900")  # fine when asked: alice has no position yet
    _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=k.h("matcher")))  # 5,000 notional: 500 initial margin
    before = _journal_is_memory(svc)
    _err(c.post(f"/v1/custody/requests/{big['request_id']}/confirm", headers=k.h("custody")), 409, "free_collateral")
    assert _ok(c.get(f"/v1/custody/requests/{big['request_id']}", headers=k.h("alice")))["status"] == "pending"  # still
    assert _journal_is_memory(svc) == before and _cash(svc) == "1000.000000"
    small = _ask(svc, "withdrawal", "400")
    done = _ok(c.post(f"/v1/custody/requests/{small['request_id']}/confirm", headers=k.h("custody")), 201)
    assert done["status"] == "confirmed" and _cash(svc) == "600.000000"
    rejected = _ok(c.post(f"/v1/custody/requests/{big['request_id']}/reject", json={"note": "insufficient"}, headers=k.h("custody")))
    assert rejected["status"] == "rejected" and rejected["note"] == "insufficient"
    _err(c.post(f"/v1/custody/requests/{big['request_id']}/confirm", headers=k.h("custody")), 409, "request_not_pending")
    # a direct custody withdrawal is held to the same rule
    _err(c.post("/v1/withdrawals", json={"subaccount": "alice/main", "amount": "500"}, headers=k.h("custody")), 409, "free_collateral")
    _journal_is_memory(svc)


def test_custody_moves_at_most_the_cap_a_risk_officer_more(svc):
    c, k = svc.c, svc.keys
    before = _journal_is_memory(svc)
    _err(c.post("/v1/deposits", json={"subaccount": "bob/main", "amount": "5000.000001"}, headers=k.h("custody")), 403, "over_custody_cap")
    asked = _ask(svc, "deposit", "20000", who="bob")
    _err(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", headers=k.h("custody")), 403, "over_custody_cap")
    assert _journal_is_memory(svc) == before
    assert _ok(c.get(f"/v1/custody/requests/{asked['request_id']}", headers=k.h("bob")))["status"] == "pending"
    _ok(c.post("/v1/deposits", json={"subaccount": "bob/main", "amount": "5000"}, headers=k.h("custody")), 201)  # at the cap
    done = _ok(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", headers=k.h("risk")), 201)
    assert done["decided_by"] == k.ids["risk"] and _cash(svc, "bob") == "29000.000000"
    _ok(c.post("/v1/withdrawals", json={"subaccount": "bob/main", "amount": "6000"}, headers=k.h("risk")), 201)
    assert _cash(svc, "bob") == "23000.000000"
    actions = [e["action"] for e in _ok(c.get("/v1/audit", headers=k.h("auditor")))["entries"]]
    assert actions.count("deposit") >= 3 and "withdraw" in actions  # direct moves are audit-logged with the key
    _journal_is_memory(svc)


def test_requests_are_checked_owned_cancellable_and_bounded(svc):
    c, k = svc.c, svc.keys
    a = k.h("alice")
    for body, status, error in (
        ({"kind": "deposit", "subaccount": "bob/main", "amount": "1"}, 403, "forbidden"),
        ({"kind": "deposit", "subaccount": "alice/nope", "amount": "1"}, 404, "unknown_entity"),
        ({"kind": "deposit", "subaccount": "alice/main", "amount": "1", "asset": "DOGE"}, 404, "unknown_entity"),
        ({"kind": "deposit", "subaccount": "alice/main", "amount": "0.0000001"}, 409, "invalid_input"),  # USDC has 6 decimals
        ({"kind": "deposit", "subaccount": "alice/main", "amount": "-1"}, 422, "invalid_input"),
        ({"kind": "gift", "subaccount": "alice/main", "amount": "1"}, 422, "invalid_input"),
    ):
        _err(c.post("/v1/custody/requests", json=body, headers=a), status, error)
    asked = _ask(svc, "deposit", "1")
    _err(c.post(f"/v1/custody/requests/{asked['request_id']}/cancel", headers=k.h("bob")), 404, "unknown_entity")
    _err(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", headers=a), 403, "forbidden")
    assert _ok(c.post(f"/v1/custody/requests/{asked['request_id']}/cancel", headers=a))["status"] == "cancelled"
    _err(c.post(f"/v1/custody/requests/{asked['request_id']}/confirm", headers=k.h("custody")), 409, "request_not_pending")
    _err(c.get("/v1/custody/requests/cr_0000000000000000", headers=k.h("custody")), 404, "unknown_entity")
    _err(c.get("/v1/custody/requests/nonsense", headers=k.h("custody")), 422, "invalid_input")
    assert _cash(svc) == "1000.000000"


def test_pending_requests_per_account_are_bounded(tmp_path):
    app = create_app(str(tmp_path / "j.sqlite"), rate_limit=(0, 0))
    app.state.custody.max_pending = 3
    keys = make_keys(app.state.svc.keys)
    with TestClient(app) as c:
        setup_venue(c, keys)
        body = {"kind": "deposit", "subaccount": "alice/main", "amount": "1"}
        codes = [c.post("/v1/custody/requests", json=body, headers=keys.h("alice")).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 409]
        assert c.post("/v1/custody/requests", json=body, headers=keys.h("alice")).json()["error"] == "too_many_requests"
        view = c.get("/v1/custody", headers=keys.h("custody")).json()
        assert view["cap"] is None and view["pending"] == {"deposit": 3, "withdrawal": 0}


def test_the_custody_cap_is_a_serve_option():
    from typer.testing import CliRunner

    from ramparts.service.cli import app as cli

    res = CliRunner().invoke(cli, ["serve", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "--custody-cap" in res.output
