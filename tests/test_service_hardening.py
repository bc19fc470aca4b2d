"""Hardening of the risk service (issue 23): failed logins, the key store's connection, keys in headers only,
stream tickets, the dashboard's headers, sequencer keys, body and stream limits, bounded restarts, one writer
per journal and clean errors at start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import get_args

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from starlette.websockets import WebSocketDisconnect  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from ramparts.engine import Engine  # noqa: E402
from ramparts.engine.node import Node, replay  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402
from ramparts.service import auth as auth_module  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from ramparts.service.auth import ROLES, FailureThrottle, KeyStore  # noqa: E402
from ramparts.service.stream import Dropped, Hub  # noqa: E402
from ramparts.service.writer import JournalInUse, JournalLease  # noqa: E402
from service_kit import PG_URL, SRC, drop_pg, make_keys, new_namespace, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILL = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.19"}


def _ok(r, status=(200, 201)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()


def _err(r, status: int, error: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field", "message"} and body["message"], body
    if error is not None:
        assert body["error"] == error, body
    return body


def _app(tmp_path, **kw):
    kw.setdefault("rate_limit", (0, 0))
    app = create_app(str(tmp_path / "journal.sqlite"), **kw)
    return app, make_keys(app.state.svc.keys)


def _other_client(c: TestClient, app, ip: str) -> TestClient:
    """A second client, from another address, on the running app of ``c`` (same event loop, no second lifespan)."""
    other = TestClient(app, client=(ip, 40000))
    other.portal = c.portal
    return other


@pytest.fixture
def scrypt_calls(monkeypatch):
    calls: list[bytes] = []
    real = auth_module.hash_secret

    def counting(secret, salt):
        calls.append(salt)
        return real(secret, salt)

    monkeypatch.setattr(auth_module, "hash_secret", counting)
    return calls


# ------------------------------------------------------------------------------------------- 1. failed logins
def test_an_unknown_key_id_fails_like_a_wrong_secret_and_costs_the_same_scrypt(tmp_path, scrypt_calls):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        known_id = keys.ids["auditor"]
        scrypt_calls.clear()
        wrong_secret = _err(c.get("/v1/markets", headers={"X-API-Key": f"rk_{known_id}_not-the-secret"}), 401)
        assert len(scrypt_calls) == 1
        unknown_id = _err(c.get("/v1/markets", headers={"X-API-Key": "rk_0123456789abcdef_not-the-secret"}), 401)
        assert len(scrypt_calls) == 2  # the unknown key id ran scrypt too (against a dummy hash)
        assert wrong_secret == unknown_id == {"error": "unauthorized", "field": None, "message": "unknown or invalid API key"}


def test_failed_logins_from_one_client_are_throttled_without_scrypt(tmp_path, scrypt_calls):
    app, keys = _app(tmp_path, auth_throttle=FailureThrottle(threshold=3, base_s=30.0))
    with TestClient(app, client=("10.0.0.66", 50000)) as attacker:
        legit = _other_client(attacker, app, "10.0.0.7")
        scrypt_calls.clear()
        for i in range(3):  # three different (unknown) key ids: the client address is what is throttled
            _err(attacker.get("/v1/markets", headers={"X-API-Key": f"rk_{i:016x}_guess"}), 401, "unauthorized")
        assert len(scrypt_calls) == 3
        for i in range(20):
            r = attacker.get("/v1/markets", headers={"X-API-Key": f"rk_{i + 100:016x}_guess"})
            body = _err(r, 429, "auth_throttled")
            assert 1 <= int(r.headers["Retry-After"]) <= 30 and "10.0.0.66" in body["message"]
        # a body-carrying request is refused by the same throttle, before its body is read
        _err(attacker.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "1"}, headers={"X-API-Key": "rk_ab_cd"}),
             429, "auth_throttled")
        assert len(scrypt_calls) == 3  # no scrypt while throttled
        # the same address is throttled even with a real key it never used (it cannot be told apart without scrypt)
        _err(attacker.get("/v1/markets", headers=keys.h("oracle")), 429, "auth_throttled")
        # a legitimate key from another client still works
        assert _ok(legit.get("/v1/markets", headers=keys.h("auditor")))["markets"] == []
        assert len(scrypt_calls) == 4


def test_a_hammered_key_id_backs_off_but_its_verified_owner_is_never_locked_out(tmp_path, scrypt_calls):
    app, keys = _app(tmp_path, auth_throttle=FailureThrottle(threshold=2, base_s=30.0))
    with TestClient(app) as owner:
        _ok(owner.get("/v1/markets", headers=keys.h("auditor")))  # verified once: the owner's token is known
        app.state.svc.auth.recheck_s = 0.0  # every request goes back to the store (revocation check)
        victim = keys.ids["auditor"]
        for n in range(2):  # from two addresses, against the same key id
            _err(_other_client(owner, app, f"10.9.0.{n}").get("/v1/markets", headers={"X-API-Key": f"rk_{victim}_guess"}), 401)
        r = _other_client(owner, app, "10.9.0.99").get("/v1/markets", headers={"X-API-Key": f"rk_{victim}_guess"})
        assert f"key id {victim}" in _err(r, 429, "auth_throttled")["message"]
        before = len(scrypt_calls)
        assert _ok(owner.get("/v1/markets", headers=keys.h("auditor")))["markets"] == []  # the owner is not locked out
        assert len(scrypt_calls) == before


def test_the_back_off_doubles_and_is_forgotten(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: now[0])
    t = FailureThrottle(threshold=2, base_s=1.0, max_s=8.0, forget_s=100.0)
    waits = []
    for _ in range(7):
        t.failed("k", "1.2.3.4")
        w = t.wait("k", "1.2.3.4")
        waits.append(None if w is None else w[0])
        now[0] += 0 if w is None else w[0]  # wait out the block, then fail again
    assert waits == [None, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    t.succeeded("k")  # a verified key forgets its own failures, not the address's
    assert t.wait("k", None) is None and t.wait(None, "1.2.3.4") is None
    t.failed("k", "1.2.3.4")
    assert t.wait(None, "1.2.3.4")[0] == 8.0
    now[0] += 200.0  # long after the last failure: forgotten
    t.failed(None, "1.2.3.4")
    assert t.wait(None, "1.2.3.4") is None


def test_scrypt_runs_off_the_event_loop(tmp_path, monkeypatch):
    app, keys = _app(tmp_path)
    real = auth_module.hash_secret

    def slow(secret, salt):
        time.sleep(3.0)  # a blocking scrypt
        return real(secret, salt)

    with TestClient(app) as c:
        _ok(c.get("/v1/markets", headers=keys.h("auditor")))  # cached
        monkeypatch.setattr(auth_module, "hash_secret", slow)
        slow_done = []
        t = threading.Thread(target=lambda: slow_done.append(c.get("/v1/markets", headers={"X-API-Key": "rk_feedfacefeedface_x"})))
        t.start()
        time.sleep(0.3)
        t0 = time.perf_counter()
        _ok(c.get("/v1/markets", headers=keys.h("auditor")))
        assert time.perf_counter() - t0 < 2.0 and not slow_done  # served while the other request's scrypt ran
        t.join(10)
        assert slow_done[0].status_code == 401


# ------------------------------------------------------------------------------------------- 2. key store reconnects
def _terminate(pid: int) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def test_the_key_store_reconnects_when_postgres_drops_its_connection():
    ns = new_namespace()
    try:
        app = create_app(PG_URL, namespace=ns, rate_limit=(0, 0))
        keys = make_keys(app.state.svc.keys)
        store = app.state.svc.keys
        with TestClient(app) as c:
            _ok(c.get("/v1/state", headers=keys.h("auditor")))
            first = store._conn.info.backend_pid
            _terminate(first)
            time.sleep(0.2)
            _ok(c.get("/v1/markets", headers=keys.h("oracle")))  # not cached: a read of the key store
            assert store._conn.info.backend_pid != first
            _terminate(store._conn.info.backend_pid)
            time.sleep(0.2)
            made = _ok(c.post("/v1/keys", json={"role": "auditor", "label": "after-drop"}, headers=keys.h("risk")), 201)
            _ok(c.get("/v1/markets", headers={"X-API-Key": made["token"]}))
            assert [e["detail"]["key_id"] for e in store.audit_entries(1)] == [made["key_id"]]  # written once
    finally:
        drop_pg(ns)


# ------------------------------------------------------------------------------------------- 3. keys, tickets, dashboard
def test_keys_in_the_url_are_refused_everywhere(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        token = keys.tokens["auditor"]
        for r in (c.get("/v1/markets", params={"key": token}),
                  c.get("/v1/markets", params={"key": token}, headers=keys.h("auditor")),
                  c.post("/v1/prices", params={"key": keys.tokens["oracle"]}, json={"instrument": "BTC-PERP", "price": "1"}),
                  c.post("/v1/tickets", params={"key": token})):
            assert "X-API-Key header" in _err(r, 401, "key_in_url")["message"]
        with c.websocket_connect(f"/v1/stream?key={token}") as ws:
            assert ws.receive_json()["error"] == "key_in_url"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
        schemes = c.get("/openapi.json").json()["components"]["securitySchemes"]
        assert {s.get("in") for s in schemes.values()} == {"header", None}  # no scheme in the query any more


def test_stream_tickets_are_single_use_short_lived_and_die_with_their_key(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        _err(c.post("/v1/tickets"), 401, "unauthorized")
        t = _ok(c.post("/v1/tickets", headers=keys.h("alice")), 201)
        assert t["ticket"].startswith("rt_") and 0 < t["expires_in_s"] <= 60 and t["key_id"] == keys.ids["alice"]
        with c.websocket_connect(f"/v1/stream?ticket={t['ticket']}") as ws:
            hello = ws.receive_json()
            assert hello["type"] == "hello" and hello["role"] == "trader"
        for bad in (t["ticket"], "rt_made-up", ""):  # used, unknown, empty
            with c.websocket_connect(f"/v1/stream?ticket={bad}") as ws:
                assert ws.receive_json()["error"] == "invalid_ticket"
        app.state.svc.auth.tickets.ttl_s = 0.0  # expired at once
        stale = _ok(c.post("/v1/tickets", headers=keys.h("alice")), 201)["ticket"]
        with c.websocket_connect(f"/v1/stream?ticket={stale}") as ws:
            assert ws.receive_json()["error"] == "invalid_ticket"
        app.state.svc.auth.tickets.ttl_s = 60.0
        doomed = _ok(c.post("/v1/tickets", headers=keys.h("oracle")), 201)["ticket"]
        _ok(c.delete(f"/v1/keys/{keys.ids['oracle']}", headers=keys.h("risk")))
        with c.websocket_connect(f"/v1/stream?ticket={doomed}") as ws:
            assert ws.receive_json()["error"] == "invalid_ticket"  # revoking a key voids its tickets
        # a revocation made elsewhere (the CLI) is seen at redemption too
        other = _ok(c.post("/v1/tickets", headers=keys.h("bob")), 201)["ticket"]
        KeyStore(str(tmp_path / "journal.sqlite")).revoke(keys.ids["bob"])
        with c.websocket_connect(f"/v1/stream?ticket={other}") as ws:
            assert ws.receive_json()["error"] == "revoked"


def test_the_dashboard_carries_security_headers_and_uses_tickets(tmp_path):
    app, _ = _app(tmp_path)
    with TestClient(app) as c:
        page = c.get("/")
        assert page.status_code == 200
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "'unsafe-eval'" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in page.text  # no inline script: script-src 'self' is enough
        js = c.get("/static/dashboard.js")
        assert js.headers["X-Content-Type-Options"] == "nosniff"
        assert "/v1/tickets" in js.text and "?ticket=" in js.text and "stream?key=" not in js.text


# ------------------------------------------------------------------------------------------- 4. sequencer keys
def test_a_risk_officer_creates_a_key_of_every_role_through_the_api(tmp_path):
    from ramparts.service.models import KeyReq

    assert set(get_args(KeyReq.model_fields["role"].annotation)) == set(ROLES)  # no role is held back
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        made = _ok(c.post("/v1/keys", json={"role": "sequencer", "label": "venue sequencer"}, headers=keys.h("risk")), 201)
        assert made["role"] == "sequencer"
        now = _ok(c.get("/v1/state", headers=keys.h("auditor")))["time_ns"]
        body = {"instruments": ["BTC-PERP"], "item_kind": "P", "time": [now + 1], "instrument": [0], "buyer": [-1],
                "seller": [-1], "price": [500_100], "size": [0]}
        assert _ok(c.post("/v1/batches", json=body, headers={"X-API-Key": made["token"]}), 201)["kind"] == "TradeBatch"
        for role in ROLES:
            extra = {"account": "dave"} if role == "trader" else {}
            _ok(c.post("/v1/keys", json={"role": role, **extra}, headers=keys.h("risk")), 201)


# ------------------------------------------------------------------------------------------- 5. body and stream limits
def test_a_body_over_the_limit_is_413_after_authentication(tmp_path):
    app, keys = _app(tmp_path, max_body_bytes=4096)
    with TestClient(app) as c:
        setup_venue(c, keys)
        big = {"fills": [FILL] * 60}
        assert len(json.dumps(big)) > 4096
        _err(c.post("/v1/fills", json=big), 401, "unauthorized")  # no key: 401, not 413
        _err(c.post("/v1/fills", json=big, headers={"X-API-Key": "rk_0000000000000000_nope"}), 401, "unauthorized")
        body = _err(c.post("/v1/fills", json=big, headers=keys.h("matcher")), 413, "body_too_large")
        assert "4096" in body["message"]

        def chunks():  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b" " * 1000

        _err(c.post("/v1/fills", content=chunks(), headers={**keys.h("matcher"), "content-type": "application/json"}),
             413, "body_too_large")
        out = _ok(c.post("/v1/fills", json={"fills": [FILL] * 10}, headers=keys.h("matcher")))
        assert out["accepted"] + out["rejected"] == 10  # under the limit: parsed and applied as before


def test_an_unauthenticated_body_is_never_read(tmp_path):
    app, keys = _app(tmp_path, max_body_bytes=1024)
    reads: list[str] = []

    async def call(headers: list[tuple[bytes, bytes]]) -> tuple[int, dict]:
        async def receive():
            reads.append("read")
            return {"type": "http.request", "body": b"{}" * 10, "more_body": True}

        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": "/v1/fills", "raw_path": b"/v1/fills", "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
                 "client": ("10.1.2.3", 1234), "server": ("testserver", 80)}
        await app(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])

    status, body = asyncio.run(call([(b"content-length", b"50000000")]))
    assert (status, body["error"]) == (401, "unauthorized") and reads == []
    status, body = asyncio.run(call([(b"transfer-encoding", b"chunked")]))
    assert (status, body["error"]) == (401, "unauthorized") and reads == []
    status, body = asyncio.run(call([(b"content-length", b"50000000"), (b"x-api-key", keys.tokens["matcher"].encode())]))
    assert (status, body["error"]) == (413, "body_too_large") and reads == []  # refused on its declared length
    app.state.svc.keys.close()


def test_one_key_holds_a_bounded_number_of_streams(tmp_path):
    app, keys = _app(tmp_path, max_ws_per_key=2)
    with TestClient(app) as c:
        h = keys.h("auditor")
        with c.websocket_connect("/v1/stream", headers=h) as a, c.websocket_connect("/v1/stream", headers=h) as b:
            assert a.receive_json()["type"] == b.receive_json()["type"] == "hello"
            with c.websocket_connect("/v1/stream", headers=h) as third:
                assert third.receive_json()["error"] == "too_many_streams"
                with pytest.raises(WebSocketDisconnect) as closed:
                    third.receive_json()
                assert closed.value.code == 4429 and "2 streams" in closed.value.reason
            with c.websocket_connect("/v1/stream", headers=keys.h("bob")) as other:  # another key is not affected
                assert other.receive_json()["type"] == "hello"
        with c.websocket_connect("/v1/stream", headers=h) as again:  # closed streams free their places
            assert again.receive_json()["type"] == "hello"
        assert app.state.svc.hub.subscribers == 0


def test_a_subscriber_that_falls_behind_is_closed_with_a_reason(tmp_path):
    hub = Hub(maxsize=3)
    from ramparts.service.auth import Principal

    q = hub.subscribe(Principal("k", "auditor", None, ""))
    hub.publish([{"type": "commit", "seq": i} for i in range(5)])
    assert q.qsize() == 1 and isinstance(q.get_nowait(), Dropped) and hub.subscribers == 0

    app, keys = _app(tmp_path, ws_queue=4)
    svc = app.state.svc
    with TestClient(app) as c:
        with c.websocket_connect("/v1/stream", headers=keys.h("auditor")) as ws:
            assert ws.receive_json()["type"] == "hello"
            c.portal.call(svc.hub.publish, [{"type": "commit", "seq": i, "events": 1} for i in range(10)])  # one burst
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4008 and "too slow" in closed.value.reason and "/v1/events" in closed.value.reason
        assert svc.hub.subscribers == 0


# ------------------------------------------------------------------------------------------- 6. bounded restarts
def test_a_restart_replays_only_the_events_after_the_last_snapshot(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    # snapshots on the writer thread: a forked one still encoding makes the next due one wait (by design),
    # so under load the last snapshot may lag by more than snapshot_every
    app, keys = _app(tmp_path, snapshot_every=5, snapshot_mode="inline")
    with TestClient(app) as c:
        setup_venue(c, keys)
        for price in ("50100", "50200", "50300"):
            _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": price}, headers=keys.h("oracle")))
        _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=keys.h("matcher")))
        before = _ok(c.get("/v1/state", headers=keys.h("auditor")))
    with open_journal(path) as j:
        snap_seq = j.latest_snapshot()[0]
        full = replay(j, use_snapshot=False)
    assert 0 < snap_seq <= before["seq"] and before["seq"] - snap_seq < 5 and before["seq"] >= 12
    again = create_app(path, rate_limit=(0, 0), snapshot_every=5, snapshot_mode="inline")
    with TestClient(again) as c:
        rec = again.state.svc.writer.recovery
        assert rec["snapshot_seq"] == snap_seq and rec["replayed"] == before["seq"] - snap_seq and rec["seq"] == before["seq"]
        assert rec["seconds"] > 0 and rec["bootstrapped"] == 0
        after = _ok(c.get("/v1/state", headers=keys.h("auditor")))
    assert after == before and full.state_hash() == before["state_hash"]


def test_snapshots_are_also_taken_on_an_interval(tmp_path):
    path = str(tmp_path / "journal.sqlite")
    app, keys = _app(tmp_path, snapshot_every=0, snapshot_interval_s=0.2)
    with TestClient(app) as c:
        _ok(c.post("/v1/instruments", json={"symbol": "BTC-PERP", "underlying": "BTC", "size_step": "0.001", "tick_size": "0.1",
                                            "margin": {"tiers": [["0", "0.1", "0.05"]], "size_premium": "0"}}, headers=keys.h("risk")))
        seq = _ok(c.get("/v1/state", headers=keys.h("auditor")))["seq"]
        deadline = time.time() + 10
        while time.time() < deadline:  # no further event needed: the timer takes it
            with open_journal(path) as j:
                snap = j.latest_snapshot()
            if snap is not None and snap[0] == seq:
                break
            time.sleep(0.1)
        assert snap is not None and snap[0] == seq


def _serve(monkeypatch, *args: str):
    """``ramparts serve`` up to the point where uvicorn would start (uvicorn.run records instead)."""
    import uvicorn

    from ramparts.cli import app as root

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda api, **kw: started.append((api, kw)))
    logger = logging.getLogger("ramparts")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        res = CliRunner().invoke(root, ["serve", *args])
    finally:  # serve pointed the JSON logs at the runner's stream, closed now
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    for api, _ in started:  # what uvicorn's shutdown would do: release the journal
        w = api.state.svc.writer
        if w.node is not None:
            w._ex.submit(w.node.close).result()
            w.node = None
        w.lease.release()
        api.state.svc.keys.close()
    return res, started


def test_serve_prints_its_recovery(tmp_path, monkeypatch):
    journal = str(tmp_path / "j.sqlite")
    res, started = _serve(monkeypatch, "--journal", journal, "--snapshot-every", "3", "--snapshot-interval", "60")
    assert res.exit_code == 0 and started, res.output
    assert "recovered to seq 1 in" in res.output and "no snapshot, 0 events replayed, 1 bootstrap event" in res.output
    with Node.open(journal) as node:  # three more events, and a snapshot taken at seq 3 (by hand)
        node.submit({"kind": "OpenSubAccount", "subaccount": "a/main", "ts": 1})
        node.submit({"kind": "OpenSubAccount", "subaccount": "b/main", "ts": 2})
        node.take_snapshot()
        node.submit({"kind": "OpenSubAccount", "subaccount": "c/main", "ts": 3})
    res, started = _serve(monkeypatch, "--journal", journal)
    assert res.exit_code == 0, res.output
    assert "recovered to seq 4" in res.output and "snapshot at seq 3, 1 events replayed" in res.output
    kw = started[0][0].state.svc.writer
    assert kw.snapshot_every == 100_000 and kw.snapshot_interval_s == 0.0


# ------------------------------------------------------------------------------------------- 7. clean starts, one writer
def _clean_error(res, *words: str) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.strip().splitlines() if line.strip()]
    text = " ".join(lines)
    assert lines[-1].startswith("error:") or text.startswith("error:"), res.output
    for w in words:
        assert w in text, (w, res.output)
    return text


def test_a_second_serve_on_the_same_journal_is_refused_at_start(tmp_path, monkeypatch):
    journal = str(tmp_path / "journal.sqlite")
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        res, started = _serve(monkeypatch, "--journal", journal)
        _clean_error(res, "in use by another ramparts serve", f"pid {os.getpid()}", "journal.sqlite.lock")
        assert not started
        with pytest.raises(JournalInUse), TestClient(create_app(journal)):
            pass
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50001"}, headers=keys.h("oracle")))  # the first goes on
    res, started = _serve(monkeypatch, "--journal", journal)  # released when the first stopped
    assert res.exit_code == 0 and started, res.output
    other = create_app(journal, namespace="other")  # another namespace of the same file is another journal
    with TestClient(other):
        pass


@pytest.mark.parametrize("holder", ["ramparts serve", "ramparts run"])
def test_a_journal_lease_on_postgres_admits_one_writer(holder):
    ns = new_namespace()
    first, second = JournalLease(PG_URL, ns, program=holder), JournalLease(PG_URL, ns)
    try:
        first.acquire()
        with pytest.raises(JournalInUse, match=f"in use by another {holder} \\(PostgreSQL backend pid \\d+\\)"):
            second.acquire()
        first.release()
        second.acquire()
        assert second.held
    finally:
        first.release()
        second.release()


@pytest.mark.parametrize("holder", ["ramparts serve", "ramparts run"])
def test_a_refused_lease_names_the_program_that_holds_it(tmp_path, holder):
    """The journal lease message names what holds it (a ``ramparts run`` is not a second server)."""
    journal = str(tmp_path / "j.sqlite")
    first, second = JournalLease(journal, program=holder), JournalLease(journal, program="ramparts serve")
    first.acquire()
    try:
        with pytest.raises(JournalInUse, match=f"in use by another {holder} \\(pid {os.getpid()}\\)"):
            second.acquire()
    finally:
        first.release()
    (tmp_path / "j.sqlite.lock").write_text("12345\n")  # a lock file written by an earlier release: pid only
    assert "another ramparts process (pid 12345)" in _holder_text(journal, tmp_path)


def _holder_text(journal: str, tmp_path) -> str:
    import fcntl

    fd = os.open(str(tmp_path / "j.sqlite.lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by this descriptor: the lease below is refused
    try:
        with pytest.raises(JournalInUse) as info:
            JournalLease(journal).acquire()
        return str(info.value)
    finally:
        os.close(fd)


def test_a_journal_that_moved_on_under_the_service_is_a_409(tmp_path):
    journal = str(tmp_path / "journal.sqlite")
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        with Node.open(journal) as intruder:  # another program appends behind the service's back (no lease)
            intruder.submit({"kind": "Deposit", "subaccount": "bob/main", "asset": "USDC", "amount": "5",
                             "ts": intruder.engine.time_ns + 1})
        r = c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "1"}, headers=keys.h("custody"))
        body = _err(r, 409, "journal_conflict")
        assert "moved on" in body["message"] and "retry" in body["message"]
        _ok(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "1"}, headers=keys.h("custody")), 201)
        state = _ok(c.get("/v1/state", headers=keys.h("auditor")))
        with open_journal(journal) as j:
            assert j.last_seq() == state["seq"] and replay(j).state_hash() == state["state_hash"]
        assert _ok(c.get("/v1/subaccounts/bob/main", headers=keys.h("bob")))["cash"] == "100005.000000"


_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _nobody_runs_this_checkout(env: dict) -> bool:
    """Whether the unprivileged user can run this interpreter on this checkout (not from a 0700 clone)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run([*_NOBODY, sys.executable, "-c", "import ramparts.service.cli"], capture_output=True, env=env,
                           timeout=60, cwd="/")
    return probe.returncode == 0


def test_a_read_only_journal_is_one_line_and_exit_code_2(monkeypatch):
    """A journal file the server's user may not write: one line naming it, exit code 2, no traceback, nothing
    created. Root writes read-only files anyway: as root the server runs as nobody, for whom the file really
    is read-only; where nobody cannot run this checkout, the same command runs in process and is told (through
    os.access) what nobody would be."""
    folder = Path(tempfile.mkdtemp(prefix="ramparts-ro-"))
    try:
        folder.chmod(0o777)
        journal = folder / "ro.sqlite"
        with open_journal(str(journal)):
            pass
        journal.chmod(0o444)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
        if os.geteuid() != 0 or _nobody_runs_this_checkout(env):
            cmd = [sys.executable, "-m", "ramparts.service", "serve", "--journal", str(journal), "--port", "0"]
            res = subprocess.run(_NOBODY + cmd if os.geteuid() == 0 else cmd, capture_output=True, text=True, timeout=60,
                                 env=env, cwd=folder)
            code, err = res.returncode, res.stderr.strip()
        else:
            real_access = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == journal else real_access(p, mode, **kw))
            res, started = _serve(monkeypatch, "--journal", str(journal), "--port", "0")
            code, err = res.exit_code, res.output.strip()
            assert not started
        assert code == 2, (code, err)
        assert "Traceback" not in err and len(err.splitlines()) == 1 and str(journal) in err and "read-only" in err, err
        assert sorted(p.name for p in folder.iterdir()) == ["ro.sqlite"]  # refused before anything was created
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


# ------------------------------------------------------------------------------------------- the schema
def test_the_openapi_schema_lists_the_new_statuses(tmp_path):
    app, _ = _app(tmp_path)
    spec = app.openapi()
    paths = spec["paths"]
    for path in ("/v1/fills", "/v1/prices", "/v1/deposits", "/v1/keys", "/v1/tickets"):
        assert {"401", "409", "413", "429"} <= set(paths[path]["post"]["responses"]), path
    assert {"401", "429"} <= set(paths["/v1/markets"]["get"]["responses"]) and "413" not in paths["/v1/markets"]["get"]["responses"]
    assert "auth_throttled" in paths["/v1/fills"]["post"]["responses"]["429"]["description"]
    assert "journal_conflict" in paths["/v1/fills"]["post"]["responses"]["409"]["description"]
    assert "sequencer" in json.dumps(spec["components"]["schemas"]["KeyReq"])
    app.state.svc.keys.close()


def test_the_writer_puts_the_process_switch_interval_back_when_it_stops(tmp_path):
    """The writer lowers the interpreter's GIL switch interval while it runs (its commits take the GIL back sooner);
    a process that embeds the service gets its own setting back when the service stops."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        with TestClient(create_app(str(tmp_path / "j.sqlite"))):
            assert sys.getswitchinterval() <= 0.0005
        assert sys.getswitchinterval() == 0.004
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("mode", ["fork", "inline"])
def test_snapshots_encoded_in_a_forked_child_or_inline_restore_the_state_of_their_seq(tmp_path, mode):
    """A snapshot taken while the service runs (in a forked child by default, on the writer thread inline) is the
    state of the commit it was taken at: its hash is that of the journal's replay to that seq, and a restart from it
    reproduces the state."""
    path = str(tmp_path / "journal.sqlite")
    app, keys = _app(tmp_path, snapshot_every=4, snapshot_mode=mode)
    with TestClient(app) as c:
        w = app.state.svc.writer
        assert w.snapshot_mode == mode
        setup_venue(c, keys)
        for price in ("50100", "50200", "50300", "50400"):
            _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": price}, headers=keys.h("oracle")))
            _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=keys.h("matcher")))
        before = _ok(c.get("/v1/state", headers=keys.h("auditor")))
    assert w.snapshot_stats["taken"] >= 1 and w.snapshot_stats["failed"] == 0
    with open_journal(path) as j:
        seq, state_hash, blob = j.latest_snapshot()
        assert replay(j, use_snapshot=False, to_seq=seq).state_hash() == state_hash
        assert Engine.restore(blob, expect_hash=state_hash).seq == seq
        assert replay(j).state_hash() == before["state_hash"]


def test_a_failed_snapshot_child_is_logged_and_changes_nothing(tmp_path, monkeypatch, caplog):
    from ramparts.service import writer as writer_mod

    def broken(engine):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer_mod, "_snapshot_bytes", broken)
    app, keys = _app(tmp_path, snapshot_every=3, snapshot_mode="fork")
    with caplog.at_level(logging.ERROR, logger="ramparts"), TestClient(app) as c:
        setup_venue(c, keys)
        for price in ("50100", "50200", "50300"):
            _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": price}, headers=keys.h("oracle")))
        w = app.state.svc.writer
        deadline = time.time() + 10
        while w.snapshot_stats["failed"] == 0 and time.time() < deadline:
            time.sleep(0.05)
        state = _ok(c.get("/v1/state", headers=keys.h("auditor")))  # the service goes on
    assert w.snapshot_stats["failed"] >= 1 and w.snapshot_stats["taken"] == 0
    assert any("snapshot at seq" in r.getMessage() for r in caplog.records)
    with open_journal(str(tmp_path / "journal.sqlite")) as j:
        assert j.latest_snapshot() is None
        assert replay(j).state_hash() == state["state_hash"]
