"""Reads never block writes (issue 23, item 7) and the dashboard's data survives restarts (issue 21, item 4).

Every read is answered from a published view (:mod:`ramparts.service.readview`): no read runs on the
writer thread (instrumented), the state hash served is the engine's at the seq served with it
(computed in a forked child), ``?min_seq=`` gives read-your-writes or 425, polling with nothing new
costs the writer nothing, and the answers equal the engine's own views at the same seq. The history
(:mod:`ramparts.service.history`) is the journal's: the same after a restart, counters equal to the
effects journaled, funds equal to the engine's. Throughput is not measured here:
``benchmarks/bench_service_reads.py`` does.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import Counter
from decimal import Decimal

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from ramparts.engine.engine import Engine  # noqa: E402
from ramparts.engine.node import replay  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402
from ramparts.service import readview, views  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from ramparts.service.history import COUNTED  # noqa: E402
from ramparts.service.writer import Writer  # noqa: E402
from service_kit import make_keys, perp_body, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILL = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.19"}
READ_FUNCTIONS = ("accounts", "account_risk", "queue", "insurance", "markets", "adl", "breakers", "ratio_histogram", "nearest",
                  "liquidating", "at_risk_counts", "account_count", "summary")


def _ok(r, status=(200, 201)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()


def _app(tmp_path, **kw):
    kw.setdefault("rate_limit", (0, 0))
    app = create_app(str(tmp_path / "journal.sqlite"), **kw)
    return app, make_keys(app.state.svc.keys)


def _crash_and_liquidate(c, keys) -> None:
    """alice long 0.19 BTC at 50,000 from bob; carol funded, flat; the price falls: alice is margin-called,
    then liquidated by the keeper."""
    setup_venue(c, keys)
    _ok(c.post("/v1/subaccounts", json={"subaccount": "carol/main"}, headers=keys.h("risk")))
    _ok(c.post("/v1/deposits", json={"subaccount": "carol/main", "amount": "500"}, headers=keys.h("custody")))
    assert _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=keys.h("matcher")))["accepted"] == 1
    _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "45000"}, headers=keys.h("oracle")))
    _ok(c.post("/v1/liquidations/tick", json={}, headers=keys.h("liquidator")))


def _get_paths(app) -> list[str]:
    """Every GET route of /v1 that reads the venue (the key store's and custody's own reads aside)."""
    out = []
    for path, item in app.openapi()["paths"].items():
        if "get" not in item or not path.startswith("/v1/") or path.startswith(("/v1/keys", "/v1/audit", "/v1/custody")):
            continue
        out.append(path.replace("{account}/{sub}", "alice/main").replace("{symbol}", "BTC-PERP"))
    return out


# ------------------------------------------------------------------------------------------- reads off the writer thread
def test_no_read_runs_on_the_writer_thread(tmp_path, monkeypatch):
    app, keys = _app(tmp_path)
    threads: list[tuple[str, str]] = []
    for name in READ_FUNCTIONS:
        real = getattr(readview, name)

        def spy(*a, _real=real, _name=name, **kw):
            threads.append((_name, threading.current_thread().name))
            return _real(*a, **kw)

        monkeypatch.setattr(readview, name, spy)
    real_hash = Engine.state_hash

    def hash_spy(self):
        threads.append(("state_hash", threading.current_thread().name))
        return real_hash(self)

    writer_calls: list[str] = []
    real_read, real_journal = Writer.read, Writer.journal

    async def read_spy(self, fn, *a):
        writer_calls.append(f"read {getattr(fn, '__name__', fn)}")
        return await real_read(self, fn, *a)

    async def journal_spy(self, fn, *a):
        writer_calls.append(f"journal {getattr(fn, '__name__', fn)}")
        return await real_journal(self, fn, *a)

    with TestClient(app) as c:
        _crash_and_liquidate(c, keys)
        monkeypatch.setattr(Engine, "state_hash", hash_spy)
        monkeypatch.setattr(Writer, "read", read_spy)
        monkeypatch.setattr(Writer, "journal", journal_spy)
        paths = _get_paths(app)
        assert {"/v1/state", "/v1/overview", "/v1/dashboard", "/v1/history", "/v1/risk/nearest", "/v1/risk/adl",
                "/v1/risk/liquidating", "/v1/risk/histogram", "/v1/events", "/v1/subaccounts/alice/main"} <= set(paths)
        for path in paths:
            r = c.get(path, headers=keys.h("auditor"))
            assert r.status_code == 200, (path, r.text)
            assert path == "/v1/events" or int(r.headers["X-Ramparts-Seq"]) >= 1, path  # events: last_seq in the body
        _ok(c.get("/v1/subaccounts", headers=keys.h("alice")))  # a trader's own accounts
        assert "ramparts_accounts_at_risk" in c.get("/metrics").text
        writer_thread = {t.name for t in threading.enumerate() if t.name.startswith("ramparts-writer")}
        assert writer_thread, "the writer thread is running"
    assert writer_calls == []  # no read queued on the writer
    assert {n for n, _ in threads} >= {"accounts", "account_risk", "queue", "markets", "adl", "nearest", "ratio_histogram"}
    on_writer = [(n, t) for n, t in threads if t.startswith("ramparts-writer")]
    assert on_writer == []
    if app.state.svc.reads.hash_mode == "fork":  # the hash was computed in a child process, never in this one
        assert not [n for n, _ in threads if n == "state_hash"]
        assert app.state.svc.reads.stats["forks"] >= 1


# ------------------------------------------------------------------------------------------- the hash served
def test_the_state_hash_served_is_the_engines_at_that_seq_while_writes_go_on(tmp_path):
    app, keys = _app(tmp_path, hash_budget=1.0)  # hash whenever asked: as many distinct seqs as possible
    path = str(tmp_path / "journal.sqlite")
    stop = threading.Event()
    served: list[dict] = []
    with TestClient(app) as c:
        setup_venue(c, keys, alice="1000000", bob="1000000")

        def trade() -> None:
            i = 0
            while not stop.is_set():
                fill = {**FILL, "size": "0.001"} if i % 2 else {**FILL, "buyer": "bob/main", "seller": "alice/main", "size": "0.001"}
                c.post("/v1/fills", json={"fills": [fill]}, headers=keys.h("matcher"))
                if i % 5 == 0:
                    c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": str(50000 + i % 50)}, headers=keys.h("oracle"))
                i += 1

        writer = threading.Thread(target=trade)
        writer.start()
        try:
            deadline = time.time() + 20
            while len({s["seq"] for s in served}) < 6 and time.time() < deadline:
                served.append(_ok(c.get("/v1/state", headers=keys.h("auditor"))))
                r = c.get("/v1/overview", params={"min_seq": 0}, headers=keys.h("auditor"))
                ov = _ok(r)
                assert int(r.headers["X-Ramparts-Seq"]) == ov["seq"]
                served.append({k: ov[k] for k in ("seq", "time_ns", "state_hash")})
        finally:
            stop.set()
            writer.join(30)
        last = _ok(c.get("/v1/state", headers=keys.h("auditor")))
    seqs = sorted({s["seq"] for s in served})
    assert len(seqs) >= 3, seqs
    with open_journal(path) as j:
        for s in [*served, last]:
            e = replay(j, to_seq=s["seq"])
            assert (e.seq, e.time_ns, e.state_hash()) == (s["seq"], s["time_ns"], s["state_hash"])
        assert last["seq"] == j.last_seq()  # the default read waits for the last commit


def test_the_overview_pairs_its_data_with_the_hash_of_its_seq(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        _crash_and_liquidate(c, keys)
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "44000"}, headers=keys.h("oracle")))
        ov = _ok(c.get("/v1/overview", headers=keys.h("auditor")))
    with open_journal(str(tmp_path / "journal.sqlite")) as j:
        e = replay(j, to_seq=ov["seq"])
        assert ov["seq"] == j.last_seq() and ov["state_hash"] == e.state_hash() and ov["time_ns"] == e.time_ns
    assert ov["queue"] == views.queue(e)[:200] and ov["markets"] == views.markets(e)
    assert ov["ratio_histogram"] == views.ratio_histogram(e) and ov["insurance"] == views.insurance(e)
    assert ov["accounts"] == 3


def test_a_failed_hash_child_falls_back_to_the_writer_thread(tmp_path, monkeypatch):
    def broken(engine):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a child that dies before answering
            os._exit(3)
        os.close(w)
        return pid, r

    monkeypatch.setattr(readview, "_fork_hash", broken)
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        state = _ok(c.get("/v1/state", headers=keys.h("auditor")))
        assert app.state.svc.reads.hash_mode == "inline"
    with open_journal(str(tmp_path / "journal.sqlite")) as j:
        assert replay(j).state_hash() == state["state_hash"] and j.last_seq() == state["seq"]


# ------------------------------------------------------------------------------------------- which seq a read reflects
def test_min_seq_gives_read_your_writes_or_425(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        ack = _ok(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "7"}, headers=keys.h("custody")))
        r = c.get("/v1/subaccounts/alice/main", params={"min_seq": ack["seq"]}, headers=keys.h("alice"))
        assert r.status_code == 200 and int(r.headers["X-Ramparts-Seq"]) >= ack["seq"] and r.json()["cash"] == "1007.000000"
        # by default a read reflects every write acknowledged before it
        r = c.get("/v1/liquidations/queue", headers=keys.h("auditor"))
        assert r.json()["seq"] == int(r.headers["X-Ramparts-Seq"]) == ack["seq"]
        # a seq not committed, nor in flight: 425 at once
        t0 = time.perf_counter()
        r = c.get("/v1/state", params={"min_seq": ack["seq"] + 1000}, headers=keys.h("auditor"))
        assert r.status_code == 425 and r.json()["error"] == "seq_not_committed" and r.headers["Retry-After"] == "1"
        assert time.perf_counter() - t0 < 0.5
        # a seq in flight is waited for: the read starts before the write it asks for is committed
        writer = app.state.svc.writer
        real_commit = writer._commit

        def slow_commit(events):
            time.sleep(0.3)
            return real_commit(events)

        writer._commit = slow_commit
        try:
            posted = threading.Thread(target=lambda: c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "2"},
                                                            headers=keys.h("custody")))
            posted.start()
            deadline = time.time() + 5
            while writer.pending == 0 and time.time() < deadline:
                time.sleep(0.005)
            r = c.get("/v1/subaccounts/alice/main", params={"min_seq": ack["seq"] + 1}, headers=keys.h("alice"))
            posted.join(10)
        finally:
            writer._commit = real_commit
        assert r.status_code == 200 and int(r.headers["X-Ramparts-Seq"]) == ack["seq"] + 1 and r.json()["cash"] == "1009.000000"
        assert c.get("/v1/risk/nearest", params={"min_seq": ack["seq"] + 1000}, headers=keys.h("auditor")).status_code == 425
        # malformed
        r = c.get("/v1/markets", params={"min_seq": "-1"}, headers=keys.h("auditor"))
        assert r.status_code == 422 and r.json()["field"] == "min_seq"
        assert c.get("/v1/risk/nearest", params={"min_seq": "x"}, headers=keys.h("auditor")).status_code == 422
        # min_seq=0: whatever is published, never waiting (here the last read's view)
        _ok(c.post("/v1/deposits", json={"subaccount": "alice/main", "amount": "1"}, headers=keys.h("custody")))
        r = c.get("/v1/insurance", params={"min_seq": 0}, headers=keys.h("auditor"))
        assert r.status_code == 200 and int(r.headers["X-Ramparts-Seq"]) <= ack["seq"] + 2


def test_polling_with_nothing_new_costs_the_writer_nothing(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        _crash_and_liquidate(c, keys)
        for path in ("/v1/dashboard", "/v1/overview", "/v1/state"):
            _ok(c.get(path, headers=keys.h("auditor")))
        stats = dict(app.state.svc.reads.stats)
        for _ in range(20):
            for path in ("/v1/dashboard", "/v1/overview", "/v1/state", "/v1/subaccounts", "/v1/risk/adl"):
                _ok(c.get(path, headers=keys.h("auditor")))
        assert app.state.svc.reads.stats == stats  # no capture, no fork: the published view and hash answered
        # one commit, many readers: one capture answers them all
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "45100"}, headers=keys.h("oracle")))
        for _ in range(10):
            _ok(c.get("/v1/dashboard", headers=keys.h("auditor")))
        assert app.state.svc.reads.stats["views"] == stats["views"] + 1


# ------------------------------------------------------------------------------------------- the answers
def test_the_answers_equal_the_engines_own_views_at_their_seq(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        _crash_and_liquidate(c, keys)
        _ok(c.post("/v1/instruments", json=perp_body("ETH-PERP", "ETH"), headers=keys.h("risk")))
        _ok(c.post("/v1/prices", json={"instrument": "ETH-PERP", "price": "3000"}, headers=keys.h("oracle")))
        fill = {"instrument": "ETH-PERP", "buyer": "carol/main", "seller": "bob/main", "price": "3000", "size": "0.1"}
        _ok(c.post("/v1/fills", json={"fills": [fill]}, headers=keys.h("matcher")))
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "44000"}, headers=keys.h("oracle")))
        a = keys.h("auditor")
        got = {
            "accounts": _ok(c.get("/v1/subaccounts", headers=a))["accounts"],
            "queue": _ok(c.get("/v1/liquidations/queue", headers=a))["accounts"],
            "insurance": _ok(c.get("/v1/insurance", headers=a)),
            "markets": _ok(c.get("/v1/markets", headers=a))["markets"],
            "breakers": _ok(c.get("/v1/breakers", headers=a)),
            "histogram": _ok(c.get("/v1/risk/histogram", headers=a)),
            "risk": {s: _ok(c.get(f"/v1/subaccounts/{s}", headers=a)) for s in ("alice/main", "bob/main", "carol/main")},
            "adl": {s: _ok(c.get(f"/v1/markets/{s}/adl", headers=a)) for s in ("BTC-PERP", "ETH-PERP")},
            "adl_all": _ok(c.get("/v1/risk/adl", params={"limit": 1}, headers=a)),
            "nearest": _ok(c.get("/v1/risk/nearest", headers=a)),
            "liquidating": _ok(c.get("/v1/risk/liquidating", headers=a)),
        }
        e = app.state.svc.writer.node.engine  # idle: the engine is at the seq of the reads
        assert got["histogram"]["seq"] == e.seq
        assert got["accounts"] == views.accounts(e) and got["queue"] == views.queue(e)
        assert got["insurance"] == views.insurance(e) and got["markets"] == views.markets(e) and got["breakers"] == views.breakers(e)
        assert got["histogram"]["buckets"] == views.ratio_histogram(e) and got["histogram"]["accounts"] == 3
        for s, risk in got["risk"].items():
            assert risk == views.account_risk(e, s), s
        for sym, ranking in got["adl"].items():
            assert ranking == views.adl(e, sym)
        for row in got["adl_all"]["markets"]:
            full = views.adl(e, row["instrument"])
            assert row["longs"] == full["longs"][:1] and row["shorts"] == full["shorts"][:1]
            assert (row["longs_total"], row["shorts_total"]) == (len(full["longs"]), len(full["shorts"]))
        ratios = {r["subaccount"]: r["equity_to_maintenance"] for r in got["nearest"]["accounts"]}
        equity, n = e.equity_array(), len(e.subs)
        expect = {str(e.subs[s].id): int(equity[s]) / int(e.sub_mm[s]) for s in range(n) if e.sub_mm[s] > 0 and not e.is_system[s]}
        assert ratios == pytest.approx(expect) and len(ratios) >= 2
        assert list(ratios.values()) == sorted(ratios.values())
        assert [r["subaccount"] for r in got["liquidating"]["accounts"]] == \
            [r["subaccount"] for r in views.queue(e) if r["state"] in ("in_liquidation", "bankrupt")]


def test_the_histogram_shows_the_accounts_without_positions(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        _ok(c.post("/v1/subaccounts", json={"subaccount": "carol/main"}, headers=keys.h("risk")))
        h = _ok(c.get("/v1/risk/histogram", headers=keys.h("auditor")))
        assert h["buckets"]["no positions"] == 3 and sum(h["buckets"].values()) == 3
        _ok(c.post("/v1/fills", json={"fills": [FILL]}, headers=keys.h("matcher")))
        h = _ok(c.get("/v1/risk/histogram", headers=keys.h("auditor")))
        assert h["buckets"]["no positions"] == 1 and sum(h["buckets"].values()) == 3
        assert _ok(c.get("/v1/dashboard", headers=keys.h("auditor")))["ratio_histogram"] == h["buckets"]


def test_the_new_read_routes_are_documented_and_for_auditors(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        setup_venue(c, keys)
        schema = c.get("/openapi.json").json()
        for path in ("/v1/risk/nearest", "/v1/risk/liquidating", "/v1/risk/adl", "/v1/risk/histogram", "/v1/history", "/v1/dashboard"):
            op = schema["paths"][path]["get"]
            assert op.get("description") or op.get("summary"), path
            assert "X-Ramparts-Seq" in op["responses"]["200"]["headers"] and "403" in op["responses"], path
            assert c.get(path, headers=keys.h("auditor")).status_code == 200, path
            assert c.get(path, headers=keys.h("alice")).status_code == 403, path
        for path in ("/v1/state", "/v1/overview", "/v1/subaccounts", "/v1/markets/{symbol}/adl"):
            op = schema["paths"][path]["get"]
            assert "min_seq" in [p["name"] for p in op["parameters"]] and "425" in op["responses"], path
        assert c.get("/v1/risk/adl", headers=keys.h("liquidator")).status_code == 200


# ------------------------------------------------------------------------------------------- the history
def _journal_counts(c, keys) -> Counter:
    counts: Counter = Counter({k: 0 for k in COUNTED})
    nxt = 1
    while nxt is not None:
        page = _ok(c.get("/v1/events", params={"from_seq": nxt, "limit": 1000}, headers=keys.h("auditor")))
        for ev in page["events"]:
            counts.update(fx["kind"] for fx in ev["effects"] if fx["kind"] in COUNTED)
        nxt = page["next_from_seq"]
    return counts


def test_the_history_is_the_journals_and_survives_a_restart(tmp_path):
    app, keys = _app(tmp_path)
    with TestClient(app) as c:
        _crash_and_liquidate(c, keys)
        now = _ok(c.get("/v1/state", headers=keys.h("auditor")))["time_ns"]
        batch = {"instruments": ["BTC-PERP"], "subaccounts": ["bob/main", "carol/main"], "item_kind": "PFP", "time": [now + 1, now + 2, now + 3],
                 "instrument": [0, 0, 0], "buyer": [-1, 1, -1], "seller": [-1, 0, -1], "price": [441_000, 441_000, 0], "size": [0, 1, 0]}
        ack = _ok(c.post("/v1/batches", json=batch, headers=keys.h("sequencer")))
        assert [fx["item"] for fx in ack["effects"] if fx["kind"] == "Rejected"] == [2]  # the price item 2 (0) is refused
        _ok(c.post("/v1/insurance/deposits", json={"amount": "123.5"}, headers=keys.h("risk")))
        before = _ok(c.get("/v1/history", headers=keys.h("auditor")))
        insurance = _ok(c.get("/v1/insurance", headers=keys.h("auditor")))
        counts = _journal_counts(c, keys)
        dash = _ok(c.get("/v1/dashboard", headers=keys.h("auditor")))
    assert before["ready"] and before["mismatches"] == 0
    assert before["counters"] == dict(counts) == dash["counters"]
    assert counts["MarginCall"] >= 1 and counts["LiquidationStep"] >= 1
    prices = [Decimal(p["price"]) for p in before["prices"]["BTC-PERP"]]
    assert prices == [50000, 45000, 44100]  # setup, the crash, the batch's accepted price item (not the refused one)
    assert before["prices"]["BTC-PERP"][-1]["price"] == dash["markets"][0]["index_price"]  # as the engine shows it
    assert before["insurance"][-1]["funds"] == insurance["funds"] and before["insurance"][-1]["total"] == insurance["total"]
    assert before["insurance"][0]["total"] == "50000.000000"
    # a new service on the same journal: the same series, read back from the journal
    again = create_app(str(tmp_path / "journal.sqlite"), rate_limit=(0, 0))
    with TestClient(again) as c:
        after = _ok(c.get("/v1/history", headers=keys.h("auditor")))
        assert after["rebuilt_to_seq"] == after["seq"] == before["seq"]
        assert _ok(c.get("/v1/history", params={"after_seq": after["seq"]}, headers=keys.h("auditor")))["insurance"] == []
        _ok(c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "44200"}, headers=keys.h("oracle")))
        more = _ok(c.get("/v1/history", params={"after_seq": after["seq"]}, headers=keys.h("auditor")))
    assert {k: after[k] for k in ("counters", "prices", "insurance", "mismatches")} == \
        {k: before[k] for k in ("counters", "prices", "insurance", "mismatches")}
    assert [Decimal(p["price"]) for p in more["prices"]["BTC-PERP"]] == [44200] and more["seq"] == after["seq"] + 1
