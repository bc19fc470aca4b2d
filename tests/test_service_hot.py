"""The hot write routes (:mod:`ramparts.service.hot`) answer exactly as the documented FastAPI routes do.

Two services over twin journals (the same bootstrap, one key store), one with :data:`ramparts.service.api.HOT_ROUTES`
and one without, are sent the same requests: every answer (status, headers, body) and, at the end, every journal
row must be byte for byte equal, over a table of ordinary and refused requests (wrong role, rate limit, the venue's
refusals, schema refusals, other content types, a query string, unreadable JSON) and over random request streams.
The table is checked against the documented routes (model, action, status, response model), and the hot service
must have answered the ordinary requests itself (its counter), so a layer that handed everything on would fail.
"""

from __future__ import annotations

import json
import re
import time
import warnings

import pytest

pytest.importorskip("fastapi")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from ramparts.engine import events as ev  # noqa: E402
from ramparts.engine.presets import genesis, perpetual  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402
from ramparts.service import api  # noqa: E402
from ramparts.service.app import create_app  # noqa: E402
from ramparts.service.auth import KeyStore  # noqa: E402
from ramparts.service.hot import HotRoutes  # noqa: E402
from service_kit import make_keys  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T0 = time.time_ns() - 60 * 10**9  # the venue's clock: a minute ago, so requests' ts are within the service's skew
ACCOUNTS = ("alice/main", "bob/main", "carol/main")


def _bootstrap() -> list:
    out = [genesis(ts=T0), perpetual("BTC-PERP", "BTC", ts=T0)]
    for i, sub in enumerate(ACCOUNTS):
        out.append(ev.OpenSubAccount(ts=T0, subaccount=sub))
        out.append(ev.Deposit(ts=T0, subaccount=sub, asset="USDC", amount=str(10_000 * 10**i)))
    out.append(ev.OraclePrice(ts=T0, instrument="BTC-PERP", price="50000"))
    return out


class Twins:
    """The service with hot routes and the one without, over twin journals and one key store."""

    def __init__(self, tmp_path, monkeypatch, rate_limit=(0, 0)):
        self.store = KeyStore(str(tmp_path / "keys.sqlite"))
        self.keys = make_keys(self.store)
        self.paths = {name: str(tmp_path / f"{name}.sqlite") for name in ("hot", "plain")}
        hot = create_app(self.paths["hot"], api_keys_store=self.store, rate_limit=rate_limit, bootstrap=_bootstrap())
        with monkeypatch.context() as mp:
            mp.setattr(api, "HOT_ROUTES", {})
            plain = create_app(self.paths["plain"], api_keys_store=self.store, rate_limit=rate_limit, bootstrap=_bootstrap())
        self.clients = {"hot": TestClient(hot), "plain": TestClient(plain)}
        self.answered = 0

    def __enter__(self):
        for c in self.clients.values():
            c.__enter__()
        self.layer = _layer(self.clients["hot"].app)
        assert self.layer is not None and _layer(self.clients["plain"].app).routes == {}
        return self

    def __exit__(self, *exc):
        for c in self.clients.values():
            c.__exit__(*exc)
        self.store.close()

    def post(self, path: str, body, *, key: str | None = "matcher", content_type: str | None = "application/json",
             query: str = "") -> tuple:
        """The same request to both; asserts the answers equal and returns the hot one's (status, headers, body)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {} if key is None else dict(self.keys.h(key))
        if content_type is not None:
            headers["Content-Type"] = content_type
        answers = {}
        for name, c in self.clients.items():
            before = self.layer.answered if name == "hot" else 0
            r = c.post(path + query, content=data, headers=headers)
            # a rate limit's "retry in 999.94s" counts down in real time between the two requests
            answers[name] = (r.status_code, [(k.lower(), v) for k, v in r.headers.items()],
                             re.sub(rb"retry in [0-9.]+s", b"retry in Ns", r.content))
            if name == "hot":
                self.answered += self.layer.answered - before
        assert answers["hot"] == answers["plain"], (path, body)
        return answers["hot"]

    def journals_equal(self) -> int:
        rows = {}
        for name, url in self.paths.items():
            j = open_journal(url)
            try:
                rows[name] = [(r.seq, r.ts, r.kind, r.payload, r.effects) for r in j.read()]
            finally:
                j.close()
        assert rows["hot"] == rows["plain"]
        return len(rows["hot"])


def _layer(app):
    """The :class:`HotRoutes` in ``app``'s middleware stack (built once the app started)."""
    node = app.middleware_stack
    while node is not None:
        if isinstance(node, HotRoutes):
            return node
        node = getattr(node, "app", None)
    return None


def _fill(k: int, buyer="alice/main", seller="bob/main", size="0.01", price="50000.0", **extra) -> dict:
    return {"instrument": "BTC-PERP", "buyer": buyer, "seller": seller, "size": size, "price": price, "ts": T0 + k, **extra}


def test_the_table_is_the_documented_routes():
    """Each hot route takes the model, needs the action, answers the status and response model of its FastAPI route."""
    from fastapi.routing import APIRoute

    routes = {r.path: r for r in api.router.routes if isinstance(r, APIRoute) and "POST" in r.methods}
    assert api.HOT_ROUTES, "no hot route"
    for path, hot in api.HOT_ROUTES.items():
        route = routes[path]
        assert route.body_field is not None and route.body_field.field_info.annotation is hot.model, path
        assert route.response_model is hot.response, path
        assert (route.status_code or 200) == hot.status, path
        needs = [d.call.__name__ for d in route.dependant.dependencies if d.call is not None]
        assert f"need_{hot.action}" in needs, (path, needs)


def test_answers_equal_the_documented_routes(tmp_path, monkeypatch):
    with Twins(tmp_path, monkeypatch) as t:
        # ordinary: answered by the hot layer
        assert t.post("/v1/fills", {"fills": [_fill(1)]})[0] == 200
        status, _, body = t.post("/v1/fills", {"fills": [_fill(2), _fill(3, size="50"), _fill(4, buyer="carol/main"),
                                                          _fill(5, buyer="dave/main")]})
        outcomes = json.loads(body)["outcomes"]
        assert status == 200 and [o["accepted"] for o in outcomes] == [True, False, True, False]
        assert outcomes[1]["error"]["error"] == "initial_margin"
        assert t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "49000", "ts": T0 + 6}, key="oracle")[0] == 201
        assert t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "45000", "book_price": "45010", "ts": T0 + 7},
                      key="oracle")[0] == 201
        assert t.post("/v1/fills", {"fills": [_fill(8)]}, content_type="application/json; charset=utf-8")[0] == 200
        assert t.post("/v1/fills", {"fills": [_fill(9, buyer_fee="0.5", seller_fee="0")]})[0] == 200
        assert t.post("/v1/fills", b'{"fills": [' + json.dumps(_fill(10)).encode() + b']}  \n')[0] == 200
        assert t.post("/v1/fills", b'{"fills": [], "fills": [' + json.dumps(_fill(11)).encode() + b']}')[0] == 200
        ordinary = t.answered
        assert ordinary == 8, ordinary
        # refused by the venue's state or the key's rights, answered by the hot layer with the app's error body
        assert t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "50000", "ts": T0 + 3600 * 10**9}, key="oracle")[0] == 409
        assert t.post("/v1/prices", {"instrument": "ETH-PERP", "price": "3000", "ts": T0 + 13}, key="oracle")[0] == 404
        assert t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "50000", "ts": T0 + 1}, key="oracle")[0] == 409
        assert t.post("/v1/fills", {"fills": [_fill(14)]}, key="oracle")[0] == 403
        assert t.post("/v1/fills", {"fills": [_fill(15)]}, key="alice")[0] == 403
        assert t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "50000", "ts": T0 + 16})[0] == 403
        assert t.answered == ordinary + 6
        # anything else goes to the documented route: the same answers
        refused = [
            t.post("/v1/fills", {"fills": [_fill(17)]}, key=None),  # no key: the guard's 401
            t.post("/v1/fills", {"fills": [_fill(18)]}, query="?key=abc"),  # a key in the URL
            t.post("/v1/fills", {"fills": [_fill(19)]}, query="?x=1"),  # a query string: the FastAPI route (accepted)
            t.post("/v1/fills", {"fills": [_fill(20, extra_field=1)]}),  # the schema's 422
            t.post("/v1/fills", {"fills": []}),
            t.post("/v1/fills", {"fills": [_fill(21, size=0.01)]}),  # a number where the schema wants a string
            t.post("/v1/fills", {"fills": [_fill(22, buyer="ALICE")]}),
            t.post("/v1/fills", [_fill(23)]),
            t.post("/v1/fills", b"null"),
            t.post("/v1/fills", b'{"fills": [' + json.dumps(_fill(24)).encode()[:-1]),  # unreadable JSON
            t.post("/v1/fills", b'{"fills": [{"instrument": "BTC-PERP", "price": NaN}]}'),
            t.post("/v1/fills", rb'{"fills": ["\ud800"]}'),  # a lone surrogate
            t.post("/v1/fills", {"fills": [_fill(25)]}, content_type="text/plain"),
            t.post("/v1/fills", {"fills": [_fill(26)]}, content_type=None),
            t.post("/v1/fills", {"fills": [_fill(27)]}, content_type="application/merge-patch+json"),
            t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "-1", "ts": T0 + 28}, key="oracle"),
            t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "1e400", "ts": T0 + 29}, key="oracle"),
            t.post("/v1/prices", {"instrument": "BTC-PERP", "price": "50000", "ts": -1}, key="oracle"),
        ]
        assert t.answered == ordinary + 6
        assert {r[0] for r in refused} >= {200, 401, 422}, sorted({r[0] for r in refused})
        assert t.journals_equal() > 10


def test_rate_limit_answers_equal(tmp_path, monkeypatch):
    """A key over its rate limit gets the same 429 and Retry-After from both."""
    with Twins(tmp_path, monkeypatch, rate_limit=(0.001, 2.0)) as t:
        answers = [t.post("/v1/fills", {"fills": [_fill(k)]}) for k in range(1, 5)]
        assert [a[0] for a in answers] == [200, 200, 429, 429]
        assert ("retry-after", "1000") in answers[2][1]
        assert t.journals_equal() > 0


_DECIMALS = st.sampled_from(["0.01", "0.001", "1", "0.0001", "0", "-0.01", "2.5", "1e-3", "50000", "49999.9", "5e4"])
_PRICES = st.sampled_from(["50000", "50000.0", "49000.5", "51000", "1", "0.05", "60000", "40000.1", "0", "abc"])
_SUBS = st.sampled_from([*ACCOUNTS, "dave/main", "alice/main", "bob/main", "x"])


@st.composite
def _request(draw, k: int):
    if draw(st.integers(0, 4)) == 0:
        body = {"instrument": draw(st.sampled_from(["BTC-PERP", "BTC-PERP", "ETH-PERP"])), "price": draw(_PRICES),
                "ts": T0 + k + draw(st.sampled_from([0, 0, -10**9]))}
        return "/v1/prices", body, draw(st.sampled_from(["oracle", "oracle", "matcher"]))
    fills = []
    for _ in range(draw(st.integers(0, 4))):
        f = _fill(k, buyer=draw(_SUBS), seller=draw(_SUBS), size=draw(_DECIMALS), price=draw(_PRICES))
        if draw(st.integers(0, 9)) == 0:
            f["buyer_fee"] = draw(_DECIMALS)
        fills.append(f)
    return "/v1/fills", {"fills": fills}, draw(st.sampled_from(["matcher", "matcher", "matcher", "alice"]))


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.data())
def test_random_streams_answer_equally(tmp_path_factory, data):
    """Random streams of fills and prices, valid and not, to both services: the same answers and journals."""
    tmp_path = tmp_path_factory.mktemp("hot")
    with pytest.MonkeyPatch.context() as mp, Twins(tmp_path, mp) as t:
        for k in range(1, 13):
            path, body, key = data.draw(_request(k))
            t.post(path, body, key=key)
        t.journals_equal()
