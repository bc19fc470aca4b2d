"""The hostile alphabet: any leaf of a valid request replaced by a hostile value is applied and journaled, or
refused with a 4xx that changed nothing. Through the service, on SQLite and on PostgreSQL.

Each example takes one request that the venue would accept (a template per write route, a few reads; times
and ids filled in from the venue's current state), replaces one leaf of its JSON body (a value in an object
or an array, at any depth) with a value from the hostile alphabet (exponents of a billion, NaN and
infinities as strings and as JSON numbers, ``-0``, 2**63, 2**64, -1, floats, fullwidth and Arabic-Indic
digits, ``1_000``, unicode and control characters, very long strings, deeply nested objects and arrays,
null, booleans, hypothesis' own text and numbers; or, one time in six, nothing), sends it with the key of the role the route admits, and
compares the engine's state hash, its seq, the journal's last seq and the key store's audit log (keys, custody
requests, admin actions) before and after:

* 5xx: never;
* 4xx: nothing changed (hash, seq, journal, audit log);
* 2xx: the engine's seq moved by exactly the events the answer acknowledges (one, or the accepted fills),
  the journal ends at the engine's seq, and the hash changed only if the seq did (no silent change).

At the end the journal's replay has the live state hash. The figures (requests, 2xx, 4xx per code, 5xx,
silent changes) are printed per backend. ``RAMPARTS_FUZZ_REQUESTS`` sets the number of requests per
backend (default 10,000).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from collections import Counter

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from ramparts.engine.node import replay  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from service_kit import PG_URL, drop_pg, make_keys, new_namespace, perp_body, pg_available, setup_venue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REQUESTS = int(os.environ.get("RAMPARTS_FUZZ_REQUESTS", "10000"))
#: requests drawn in one hypothesis example (its per-example bookkeeping costs as much as a request)
PER_EXAMPLE = 20

#: The hostile alphabet.
HOSTILE: list = [
    "1E+999999999", "1E-999999999", "-1E+999999999", "1e309", "NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf",
    "-0", "-0.0", "0", "0.0", "", " ", "1 ", " 1", "+1", "1.", ".1", "01", "1_000", "1,000", "0x10", "1e2", "1E-7",
    "\uff11\uff12\uff13", "\u0661\u0662\u0663", "\u06f1", "\u0967", "١٠٠٠", "１０００", "𝟏",
    2**63, 2**63 - 1, 2**64, -(2**63) - 1, -1, 0, 1, 10**40, -(10**40), 10**400,
    0.1, 1.5, -0.0, 1e308, 1e-308, 5e-324, 1.0, 100.0, 2.0**63, 2.0**64,
    True, False, None,
    "alice/main", "bob/main", "alice/main\n", "alice/ma\u0131n", "\u00e5lice/main", "alice/m\u200bain", "ALICE/MAIN", "alice/",
    "/main", "alice//main", "alice/main/x", "../main", "a" * 64 + "/b", "\u202ealice/main", "\u0000", "\n", "\r\n", "\t",
    "\ud7ff", "\ud800", "\udfff", "a\udc80b", "\U0001f600", "\ufeff1", "\u00a0", "BTC-PERP\n", "btc-perp", "BTC-PERP ", "USDC", "usdc", "DOGE", "global", "x" * 10_000,
    "x" * 300_000, "€" * 50_000,
    {}, [], [[]], {"a": {"b": {"c": [1, {"d": None}]}}}, ["1"], [1, 2, 3], {"$ref": "#"}, {"__proto__": {"admin": True}},
]


def _nested(depth: int, kind: str):
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


#: Placeholders replaced in the encoded body by JSON nested deeper than any encoder would write it.
DEEP = {"<<deep-list>>": "[" * 100_000 + "]" * 100_000, "<<deep-dict>>": '{"a":' * 50_000 + "1" + "}" * 50_000}
HOSTILE += [_nested(50, "list"), _nested(50, "dict"), _nested(900, "list"), _nested(900, "dict"), *DEEP]


def _generated(n: int = 3000) -> list:
    """More of the alphabet, drawn once (cheaper per example than hypothesis' regex and decimal strategies):
    numbers in every notation and size, digits of other scripts mixed in, names with odd characters."""
    import random

    rng = random.Random(23)
    digits = "0123456789"
    odd = "\uff10\uff11\u0660\u0661\u06f0\u0966\u09e6\u0e50\u1040\U0001d7ce_,' +-eE.\u00a0\u200b\n\t/\\\"\x00"
    out: list = []
    for _ in range(n):
        k = rng.randrange(6)
        whole = "".join(rng.choice(digits) for _ in range(rng.randint(1, 70)))
        frac = "".join(rng.choice(digits) for _ in range(rng.randint(0, 70)))
        text = whole + ("." + frac if frac else "")
        if k == 0:
            out.append(text + rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 10**rng.randint(1, 12))))
        elif k == 1:
            i = rng.randrange(len(text) + 1)
            out.append(text[:i] + rng.choice(odd) + text[i:])
        elif k == 2:
            out.append(rng.choice(["-", "+", ""]) + text)
        elif k == 3:
            out.append(rng.choice([1, -1]) * int(whole) if rng.random() < 0.5 else float(text[:300]) * rng.choice([1, -1]))
        elif k == 4:
            name = "".join(rng.choice("abcXYZ09._:@-" + odd) for _ in range(rng.randint(0, 70)))
            out.append(rng.choice(["", "alice/", "BTC-"]) + name)
        else:
            out.append(rng.choice([text, whole]) * rng.randint(1, 40))
    return out


#: Sent as the template has it (so that the applied-and-journaled side is exercised too).
KEEP = object()

#: The alphabet as a strategy: the fixed values, more drawn once, and some of hypothesis' own text and numbers.
hostile = st.one_of(
    st.just(KEEP),
    st.sampled_from(HOSTILE),
    st.sampled_from(_generated()),
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zs", "Nd", "Lo"]), min_size=1, max_size=6),  # surrogates too
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _leaves(value, path=()):
    """Every leaf (a value that is not a non-empty container) of a JSON value, as a path."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _replace(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    out = list(value)
    out[head] = _replace(out[head], rest, new)
    return out


class Venue:
    """The service over one backend, with the templates of requests it would accept."""

    def __init__(self, client: TestClient, app, keys, url: str, ns: str):
        self.c, self.app, self.keys, self.url, self.ns = client, app, keys, url, ns
        self.svc = app.state.svc
        self.n = 0
        self.pending: list[str] = []

    def probe(self) -> tuple[int, str, int, int, int]:
        """(engine seq, state hash, journal last seq, engine time, last audit-log id): the engine read on the writer
        thread between two commits, the audit log (keys, custody requests, admin actions) in the key store."""
        writer, keys = self.svc.writer, self.svc.keys

        def read(e):
            return e.seq, e.state_hash(), writer.node.journal.last_seq(), e.time_ns

        audit = keys.query(f"SELECT MAX(id) FROM {keys.table('audit_log')}")[0][0]
        return (*self.c.portal.call(writer.read, read), audit)

    def templates(self, now: int, seq: int) -> list[tuple[str, str, str, object]]:
        """(method, path, key, body or query) of requests the venue accepts now (``now``: a ts it takes; ``seq``:
        the last event, so that reads show what the latest requests journaled)."""
        self.n += 1
        n = self.n % 16  # new names for a while, then duplicates (409): the venue stays small, each request cheap
        fill = {"instrument": "BTC-PERP", "buyer": "alice/main", "seller": "bob/main", "price": "50000", "size": "0.001",
                "buyer_fee": "0", "seller_fee": "0.01", "ts": now}
        batch = {"instruments": ["BTC-PERP"], "subaccounts": ["alice/main", "bob/main"], "item_kind": "FP", "time": [now, now],
                 "instrument": [0, 0], "buyer": [1, -1], "seller": [0, -1], "price": [500_000, 500_010], "size": [1, 0],
                 "buyer_fee": [0, 0], "seller_fee": [0, 0], "ts": now}
        request_id = self.pending[-1] if self.pending else "cr_0000000000000000"  # dropped once confirmed
        return [
            ("POST", "/v1/subaccounts", "alice", {"subaccount": f"alice/s{n}", "mode": "cross"}),
            ("POST", "/v1/subaccounts", "risk", {"subaccount": f"carol{n}/iso", "mode": "isolated", "instrument": "BTC-PERP"}),
            ("POST", "/v1/deposits", "custody", {"subaccount": "alice/main", "amount": "1.5", "asset": "USDC"}),
            ("POST", "/v1/deposits", "custody", {"subaccount": "bob/main", "amount": "0.01", "asset": "ETH"}),
            ("POST", "/v1/withdrawals", "custody", {"subaccount": "bob/main", "amount": "1", "asset": "USDC"}),
            ("POST", "/v1/custody/requests", "alice", {"kind": "deposit", "subaccount": "alice/main", "amount": "2", "asset": "USDC"}),
            ("POST", "/v1/custody/requests", "bob", {"kind": "withdrawal", "subaccount": "bob/main", "amount": "1"}),
            ("POST", f"/v1/custody/requests/{request_id}/confirm", "custody", {"note": "wire"}),
            ("POST", "/v1/fills", "matcher", {"fills": [fill, {**fill, "buyer": "bob/main", "seller": "alice/main"}]}),
            ("POST", "/v1/batches", "sequencer", batch),
            ("POST", "/v1/prices", "oracle", {"instrument": "BTC-PERP", "price": "50000", "book_price": "50001", "ts": now}),
            ("POST", "/v1/quotes", "oracle", {"instrument": "BTC-PERP", "quotes": [{"source": "a", "price": "50000", "conf": "1",
                                                                                  "ts_ns": now}], "ts": now}),
            ("POST", "/v1/assets/prices", "oracle", {"asset": "ETH", "price": "3000", "ts": now}),
            ("POST", "/v1/assets/rates", "oracle", {"asset": "ETH", "rate": "1", "ts": now}),
            ("POST", "/v1/funding", "liquidator", {"instrument": "BTC-PERP", "premium": "0.0001", "ts": now}),
            ("POST", "/v1/liquidations/tick", "liquidator", {"ts": now}),
            ("POST", "/v1/liquidations/bids", "liquidator", {"subaccount": "alice/main", "keeper": "keeper1/main",
                                                             "max_fraction_ppm": 1000, "min_discount_ppm": 0, "ts": now}),
            ("POST", "/v1/parameters", "risk", {"target": "liquidation", "key": "penalty_ppm", "value": 20000, "ts": now}),
            ("POST", "/v1/parameters", "risk", {"target": "breakers", "key": "rules", "value": [
                {"name": f"b{n}", "trigger": "insolvency", "instrument": "*", "cooldown_ns": 0, "auto_reset": True}]}),
            ("POST", "/v1/parameters", "risk", {"target": "instrument:BTC-PERP", "key": "margin",
                                                "value": {"tiers": [["0", "0.1", "0.05"]], "size_premium": "0"}}),
            ("POST", "/v1/instruments", "risk", {**perp_body(f"X{n}-PERP", "X"), "contract_size": "1", "expiry_ns": None,
                                                 "insurance_fund": "global", "oracle_max_age_ns": 0, "ts": now}),
            ("POST", "/v1/assets", "risk", {"symbol": f"A{n}", "decimals": 8, "collateral": {"haircut_ppm": 100_000}, "ts": now}),
            ("POST", "/v1/insurance/deposits", "risk", {"fund": "global", "amount": "1", "ts": now}),
            ("POST", "/v1/breakers/reset", "risk", {"name": "btc-move", "ts": now}),
            ("POST", "/v1/tickets", "auditor", None),
            ("POST", "/v1/keys", "risk", {"role": "trader", "account": f"dave{n}", "label": "desk 1"}),
            ("POST", "/v1/custody/requests", "alice", {"kind": "withdrawal", "subaccount": "alice/main", "amount": "0.5",
                                                       "asset": "USDC"}),
            ("GET", "/v1/events", "auditor", {"from_seq": max(1, seq - 3), "limit": 5}),
            ("GET", "/v1/breakers", "auditor", {}),
            ("GET", "/v1/overview", "auditor", {}),
            ("GET", "/v1/subaccounts/alice/main", "alice", {}),
            ("GET", "/v1/custody/requests", "custody", {"status": "pending", "limit": 5}),
            ("GET", "/v1/audit", "auditor", {"limit": 3}),
        ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def venue(request, tmp_path, monkeypatch):
    from ramparts.service import auth

    monkeypatch.setitem(auth._SCRYPT, "n", 2**4)  # new keys (the fuzz makes some) hash cheaply here
    if request.param == "sqlite":
        url, ns = str(tmp_path / "journal.sqlite"), "ramparts"
    else:
        if not pg_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        url, ns = PG_URL, new_namespace()
    app = create_app(url, namespace=ns, rate_limit=(0, 0), custody_cap="1000000", durability="normal")
    keys = make_keys(app.state.svc.keys)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            setup_venue(client, keys, alice="100000", bob="1000000")
            for body in ({"symbol": "ETH", "decimals": 8, "collateral": {"haircut_ppm": 100_000}},):
                assert client.post("/v1/assets", json=body, headers=keys.h("risk")).status_code == 201
            assert client.post("/v1/assets/prices", json={"asset": "ETH", "price": "3000"}, headers=keys.h("oracle")).status_code == 201
            assert client.post("/v1/subaccounts", json={"subaccount": "keeper1/main"}, headers=keys.h("risk")).status_code == 201
            v = Venue(client, app, keys, url, ns)
            app.state.custody.max_pending = 10_000
            for _ in range(300):  # requests for the confirm template to draw from
                r = client.post("/v1/custody/requests", json={"kind": "deposit", "subaccount": "bob/main", "amount": "3"},
                                headers=keys.h("bob"))
                assert r.status_code == 201, r.text
                v.pending.append(r.json()["request_id"])
            yield request.param, v
    finally:
        if request.param == "postgres":
            drop_pg(ns)


def _acknowledged(path: str, body: dict) -> int:
    """Events a 2xx answer says were journaled."""
    if path == "/v1/fills":
        return sum(1 for o in body["outcomes"] if o["accepted"])
    if "seq" in body and "kind" in body and "effects" in body:  # an EventAck
        return 1
    if path.endswith("/confirm"):
        return 1
    return 0


def test_any_hostile_leaf_is_applied_and_journaled_or_refused_with_a_4xx_and_no_change(venue):
    backend, v = venue
    figures: Counter = Counter()
    applied: Counter = Counter()  # 2xx per route
    problems: list[str] = []
    state = {"before": v.probe()}
    t0 = time.perf_counter()

    @settings(max_examples=-(-REQUESTS // PER_EXAMPLE), deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(data=st.data())
    def several(data):  # hypothesis' own cost is per example: several requests an example
        for _ in range(PER_EXAMPLE):
            one(data.draw(st.integers(0, 10**6)), data.draw(hostile), data.draw(st.none() | st.sampled_from(HOSTILE)))

    def one(pick, bad, bad2):
        before = state["before"]
        templates = v.templates(before[3] + 1, before[0])
        pairs = [(t, leaf) for t in templates for leaf in (list(_leaves(t[3])) if t[3] is not None else [()])]
        (method, path, who, body), chosen = pairs[pick % len(pairs)]  # every leaf of every template alike
        leaves = list(_leaves(body)) if body is not None else [()]
        leaf = leaves.index(chosen)
        sent = body if bad is KEEP else _replace(body, chosen, bad)
        if bad2 is not None and bad is not KEEP and len(leaves) > 1:  # and a second leaf
            sent = _replace(sent, leaves[(leaf + 1) % len(leaves)], bad2)
        headers = v.keys.h(who)
        if method == "GET":
            params = sent if isinstance(sent, dict) else {"limit": sent}
            try:
                r = v.c.get(path, params={k: (json.dumps(x) if not isinstance(x, str) else x) for k, x in params.items()},
                            headers=headers)
            except (UnicodeEncodeError, ValueError, httpx.InvalidURL):  # refused by the client, never sent
                figures["unsendable"] += 1
                return
        else:
            try:
                text = json.dumps(sent, allow_nan=True)
            except (RecursionError, ValueError):
                figures["unsendable"] += 1
                return
            for mark, raw in DEEP.items():
                text = text.replace(json.dumps(mark), raw)
            content = text.encode("utf-8", "surrogatepass")
            r = v.c.post(path, content=content, headers={**headers, "content-type": "application/json"})
        after = v.probe()
        state["before"] = after
        figures["requests"] += 1
        figures[f"{r.status_code // 100}xx"] += 1
        applied[re.sub(r"cr_[0-9a-f]{16}", "{request_id}", f"{method} {path}")] += r.status_code < 300
        if r.status_code >= 400:
            figures[r.status_code] += 1
        where = f"{method} {path} {chosen}={str(bad)[:60]!r}"
        if r.status_code >= 500:
            problems.append(f"{r.status_code} {where}: {r.text[:300]}")
            return
        if after[0] != after[2]:
            problems.append(f"journal at {after[2]}, engine at {after[0]} after {where}")
        if r.status_code >= 400:
            assert r.headers.get("content-type", "").startswith("application/json"), where
            if (after[:3], after[4]) != (before[:3], before[4]):
                figures["silent"] += 1
                problems.append(f"{r.status_code} changed the state: {where}: {r.text[:200]}")
            return
        moved = after[0] - before[0]
        expected = _acknowledged(path, r.json()) if r.content else 0
        if moved != expected or (moved == 0 and after[1] != before[1]):
            figures["silent"] += 1
            problems.append(f"{r.status_code} moved seq by {moved} (acknowledged {expected}), hash "
                            f"{'changed' if after[1] != before[1] else 'same'}: {where}: {r.text[:200]}")
        if moved:
            figures["journaled"] += moved
        if path.endswith("/confirm") and v.pending and path.split("/")[-2] == v.pending[-1]:
            v.pending.pop()

    several()
    seconds = time.perf_counter() - t0
    seq, live_hash, last, _, _ = v.probe()
    with open_journal(v.url, namespace=v.ns) as j:
        assert j.last_seq() == seq == last
        assert replay(j, use_snapshot=False).state_hash() == live_hash
    codes = {k: n for k, n in sorted(figures.items(), key=str) if isinstance(k, int)}
    print(f"\nhostile fuzz [{backend}]: {figures['requests']} requests in {seconds:.1f} s; 2xx {figures['2xx']} "
          f"({figures['journaled']} events journaled), 4xx {figures['4xx']} {codes}, 5xx {figures['5xx']}, "
          f"silent state changes {figures['silent']}, unsendable {figures['unsendable']}")
    never = sorted(route for route, n in applied.items() if n == 0)
    print(f"  routes never answered 2xx: {never or 'none'}")
    assert not problems, "\n".join(problems[:40])
    assert figures["5xx"] == 0 and figures["silent"] == 0
    assert figures["requests"] >= 0.99 * REQUESTS - figures["unsendable"]
    assert figures["2xx"] > 0.02 * figures["requests"] and figures["4xx"] > 0.5 * figures["requests"]
    assert not math.isnan(seconds)


# ------------------------------------------------------------------------------------------ what the fuzz found
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def plain(request, tmp_path):
    if request.param == "sqlite":
        url, ns = str(tmp_path / "journal.sqlite"), "ramparts"
    else:
        if not pg_available():
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        url, ns = PG_URL, new_namespace()
    app = create_app(url, namespace=ns, rate_limit=(0, 0))
    keys = make_keys(app.state.svc.keys)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            setup_venue(client, keys)
            yield client, keys, url, ns
    finally:
        if request.param == "postgres":
            drop_pg(ns)


def test_a_lone_surrogate_in_a_free_json_value_is_a_422_and_the_journal_still_replays(plain):
    """Found by the fuzz: ``"\\ud800"`` in a breaker rule's name (a parameter's free JSON value) was journaled, every
    read showing it (/v1/breakers, /v1/overview, /v1/events) answered 500, and the journal no longer replayed
    (JournalCorrupt: the row's payload does not parse)."""
    c, keys, url, ns = plain
    h = {**keys.h("risk"), "content-type": "application/json"}
    rule = '{"target": "breakers", "key": "rules", "value": [{"name": "b\\ud800", "trigger": "insolvency"}]}'
    r = c.post("/v1/parameters", content=rule.encode(), headers=h)
    assert r.status_code == 422 and r.json()["field"] == "value", r.text
    for body in ('{"symbol": "SOL", "decimals": 9, "collateral": {"haircut_ppm": "\\udc00"}}',
                 '{"symbol": "S-PERP", "underlying": "S", "size_step": "1", "tick_size": "1", "margin": {"\\ud800": 1}}'):
        path = "/v1/assets" if "SOL" in body else "/v1/instruments"
        assert c.post(path, content=body.encode(), headers=h).status_code == 422
    for path in ("/v1/breakers", "/v1/overview", "/v1/events?limit=1000"):
        assert c.get(path, headers=keys.h("auditor")).status_code == 200
    ok = '{"target": "breakers", "key": "rules", "value": [{"name": "b\\ud83d\\ude00", "trigger": "insolvency"}]}'
    assert c.post("/v1/parameters", content=ok.encode(), headers=h).status_code == 201  # a pair is one character
    assert c.get("/v1/breakers", headers=keys.h("auditor")).json()["breakers"][0]["name"] == "b\U0001f600"
    state = c.get("/v1/state", headers=keys.h("auditor")).json()
    with open_journal(url, namespace=ns) as j:
        assert replay(j, use_snapshot=False).state_hash() == state["state_hash"]


def test_the_node_refuses_an_event_its_journal_could_not_read_back(tmp_path):
    """The engine's side of the same finding: whoever submits it, an event with a lone surrogate is refused before it
    is applied (InvalidInput), nothing changes, and the journal replays."""
    from ramparts.engine.node import Node
    from ramparts.engine.presets import genesis
    from ramparts.errors import InvalidInput

    with Node.open(str(tmp_path / "j.sqlite")) as node:
        node.submit(genesis(ts=1))
        before = node.engine.state_hash()
        with pytest.raises(InvalidInput, match="lone surrogate"):
            node.submit({"kind": "ParameterChange", "ts": 2, "target": "breakers", "key": "rules",
                         "value": [{"name": "b\ud800", "trigger": "insolvency"}]})
        out = node.submit_batch([{"kind": "ParameterChange", "ts": 2, "target": "breakers", "key": "rules",
                                  "value": [{"name": "\udfff", "trigger": "insolvency"}]}])
        assert isinstance(out[0].error, InvalidInput)
        assert node.engine.state_hash() == before and node.journal.last_seq() == 1
        node.submit({"kind": "ParameterChange", "ts": 2, "target": "breakers", "key": "rules",
                     "value": [{"name": "b\\ud800 \U0001f600", "trigger": "insolvency"}]})  # a backslash, an astral char
        assert replay(node.journal, use_snapshot=False).state_hash() == node.engine.state_hash()


def test_control_characters_in_kept_text_are_a_422_on_every_backend(plain):
    """Found by the fuzz: a key's label with a NUL was a 503 on PostgreSQL (its text cannot hold NUL) and stored on
    SQLite; kept text (a label, a custody note) allows no control characters, on either backend."""
    c, keys, _, _ = plain
    for label in ("x\x00y", "a\nb", "\x7f"):
        r = c.post("/v1/keys", json={"role": "auditor", "label": label}, headers=keys.h("risk"))
        assert r.status_code == 422 and r.json()["field"] == "label", r.text
    asked = c.post("/v1/custody/requests", json={"kind": "deposit", "subaccount": "alice/main", "amount": "1"}, headers=keys.h("alice"))
    rid = asked.json()["request_id"]
    r = c.post(f"/v1/custody/requests/{rid}/reject", json={"note": "no\x00"}, headers=keys.h("custody"))
    assert r.status_code == 422 and r.json()["field"] == "note", r.text
    assert c.post("/v1/keys", json={"role": "auditor", "label": "desk — Zürich ✓"}, headers=keys.h("risk")).status_code == 201
