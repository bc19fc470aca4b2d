"""The streaming ingest (``/v1/ingest``, :mod:`ramparts.service.ingest`): ``TradeBatch`` frames over one
WebSocket, binary (Arrow IPC) or JSON, acknowledged in order after their commit.

* a binary frame, its JSON twin and ``POST /v1/batches`` of the same batch give the same effects and the
  same accounts on three fresh venues;
* frames sent without waiting (pipelined past the window) are acknowledged once each, in order, with
  increasing seqs, and the journal replays to the live state hash;
* a frame refused whole (not Arrow, a column of the wrong type or missing, a schema breach, an unknown
  sub-account, time going backwards) gets a ``refused`` message naming the field, changes nothing, and
  the connection goes on;
* a bad key, or a key whose role may not post batches, closes the socket after an ``error``.
"""

from __future__ import annotations

import json
import warnings

import pyarrow as pa
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

from ramparts.engine.node import replay
from ramparts.journal import open_journal
from ramparts.service.app import create_app
from ramparts.service.ingest import WINDOW, decode_batch, encode_batch
from service_kit import make_keys, setup_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _venue(tmp_path, name: str):
    app = create_app(str(tmp_path / f"{name}.sqlite"), rate_limit=(0, 0))
    return app, make_keys(app.state.svc.keys)


def _body(now: int, k: int = 0) -> dict:
    return {"instruments": ["BTC-PERP"], "subaccounts": ["alice/main", "bob/main"], "item_kind": "FFPF",
            "time": [now + 1, now + 2, now + 3, now + 4], "instrument": [0, 0, 0, 0], "buyer": [0, 0, -1, 1],
            "seller": [1, 1, -1, 0], "price": [500_000 + k, 500_000, 490_000 + k, 490_000], "size": [19, 5_000, 0, 1],
            "buyer_fee": [1, 1, 0, 2], "seller_fee": [0, 3, 0, 1]}  # fmt: skip


def _state(c, keys) -> dict:
    r = c.get("/v1/state", headers=keys.h("auditor"))
    assert r.status_code == 200, r.text
    return r.json()


def test_binary_json_and_rest_give_one_answer(tmp_path):
    views, effects = [], []
    for how in ("binary", "json", "rest"):
        app, keys = _venue(tmp_path, how)
        with TestClient(app) as c:
            setup_venue(c, keys)
            body = _body(_state(c, keys)["time_ns"])
            assert decode_batch(encode_batch(body)) == body
            if how == "rest":
                r = c.post("/v1/batches", json=body, headers=keys.h("sequencer"))
                assert r.status_code == 201, r.text
                fx = r.json()["effects"]
            else:
                with c.websocket_connect("/v1/ingest", headers=keys.h("sequencer")) as ws:
                    hello = ws.receive_json()
                    assert hello["type"] == "hello" and hello["role"] == "sequencer" and hello["window"] == WINDOW
                    if how == "binary":
                        ws.send_bytes(encode_batch(body))
                    else:
                        ws.send_text(json.dumps(body))
                    ack = ws.receive_json()
                assert ack["type"] == "ack" and ack["frame"] == 1 and ack["items"] == 4 and ack["ts"] == body["time"][-1]
                assert ack["seq"] == hello["seq"] + 1
                fx = ack["effects"]
            assert [(f["item"], f["reason"]) for f in fx if f["kind"] == "Rejected"] == [(1, "initial_margin")]
            effects.append(fx)
            views.append([c.get(f"/v1/subaccounts/{who}/main", headers=keys.h(who)).json() for who in ("alice", "bob")])
    assert effects[0] == effects[1] == effects[2]
    assert views[0] == views[1] == views[2] and views[0][0]["positions"]  # the venues' clocks differ: not their hashes


def test_pipelined_frames_are_acknowledged_once_each_in_order_and_replay(tmp_path):
    app, keys = _venue(tmp_path, "pipe")
    n = 3 * WINDOW
    with TestClient(app) as c:
        setup_venue(c, keys)
        now = _state(c, keys)["time_ns"]
        with c.websocket_connect("/v1/ingest", headers=keys.h("sequencer")) as ws:
            seq0 = ws.receive_json()["seq"]
            for k in range(n):  # past the window: the service stops reading until acks go out
                body = _body(now + 10 * k, k)
                ws.send_bytes(encode_batch(body)) if k % 2 else ws.send_text(json.dumps(body))
            acks = [ws.receive_json() for _ in range(n)]
        assert [a["type"] for a in acks] == ["ack"] * n
        assert [a["frame"] for a in acks] == list(range(1, n + 1))
        assert [a["seq"] for a in acks] == list(range(seq0 + 1, seq0 + n + 1))
        live = _state(c, keys)
        assert live["seq"] == seq0 + n
    with open_journal(str(tmp_path / "pipe.sqlite")) as j:
        assert replay(j).state_hash() == live["state_hash"]
    assert app.state.svc.metrics.ingest_ack._sum.get() > 0  # the acknowledgement latency is observed


def _arrow(columns: dict, meta: dict) -> bytes:
    batch = pa.RecordBatch.from_arrays([pa.array(v, type=t) for v, t in columns.values()], names=list(columns))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema.with_metadata(meta)) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def test_a_frame_refused_whole_changes_nothing_and_the_connection_goes_on(tmp_path):
    app, keys = _venue(tmp_path, "bad")
    with TestClient(app) as c:
        setup_venue(c, keys)
        now = _state(c, keys)["time_ns"]
        good = _body(now)
        cols = {"item_kind": ([70], pa.uint8()), "time": ([now + 1], pa.int64()), "instrument": ([0], pa.int32()),
                "buyer": ([0], pa.int32()), "seller": ([1], pa.int32()), "price": ([500_000], pa.int64()),
                "size": ([1], pa.int64())}
        meta = {"instruments": '["BTC-PERP"]', "subaccounts": '["alice/main", "bob/main"]'}
        bad = [
            (b"not arrow at all", 422, "frame"),
            (_arrow({**cols, "price": ([500_000.0], pa.float64())}, meta), 422, "price"),
            (_arrow({k: v for k, v in cols.items() if k != "size"}, meta), 422, "size"),
            (_arrow({**cols, "extra": ([1], pa.int64())}, meta), 422, "extra"),
            (_arrow(cols, {"subaccounts": meta["subaccounts"]}), 422, "instruments"),
            (_arrow(cols, {**meta, "subaccounts": "alice"}), 422, "subaccounts"),
            (_arrow({**cols, "item_kind": ([88], pa.uint8())}, meta), 422, "item_kind"),
            (json.dumps({**good, "item_kind": "FFPX"}), 422, "item_kind"),
            (json.dumps({**good, "size": [1, 2, 3, 2**70]}), 422, "size.3"),
            ("{not json", 422, None),
            (json.dumps({**good, "subaccounts": ["alice/main", "zed/main"]}), 404, "subaccounts"),
            (json.dumps({**good, "time": [now + 9, now + 8, now + 9, now + 9]}), 409, "time"),
        ]
        with c.websocket_connect("/v1/ingest", headers=keys.h("sequencer")) as ws:
            ws.receive_json()
            for k, (frame, status, field) in enumerate(bad, start=1):
                before = _state(c, keys)
                ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
                msg = ws.receive_json()
                assert msg["type"] == "refused" and msg["frame"] == k and msg["status"] == status, (k, msg)
                assert msg["message"] and (field is None or msg["field"] == field), (k, msg)
                after = _state(c, keys)
                assert (after["seq"], after["state_hash"]) == (before["seq"], before["state_hash"]), k
            ws.send_bytes(encode_batch(good))
            ack = ws.receive_json()
        assert ack["type"] == "ack" and ack["frame"] == len(bad) + 1


@pytest.mark.parametrize("who, code", [(None, 4401), ("matcher", 4403), ("alice", 4403)])
def test_a_key_that_may_not_post_batches_is_turned_away(tmp_path, who, code):
    app, keys = _venue(tmp_path, "keys")
    with TestClient(app) as c:
        headers = keys.h(who) if who else {"X-API-Key": "rk_nobody_secret"}
        with c.websocket_connect("/v1/ingest", headers=headers) as ws:
            assert ws.receive_json()["type"] == "error"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == code


def test_the_binary_fast_path_is_the_schema_path():
    """:func:`binary_event` (the schema's bounds checked column by column) gives what the REST route's model
    gives for the decoded frame: the same event, or a refusal naming the same field."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from pydantic import ValidationError

    from ramparts.errors import InvalidInput
    from ramparts.service import models as m
    from ramparts.service.ingest import batch_event, binary_event

    edge = st.sampled_from([-2, -1, 0, 1, 9_999, 10_000, 100_000, 100_001, 4 * 10**15, 4 * 10**15 + 1, 10**17, 10**17 + 1, 2**62])

    def col(n, lo, hi):
        return st.lists(st.one_of(st.integers(lo, hi), edge.filter(lambda v: lo - 2 <= v <= hi * 2 + 2)), min_size=n, max_size=n)

    @st.composite
    def bodies(draw):
        n = draw(st.integers(1, 6))
        body = {"instruments": draw(st.lists(st.sampled_from(["BTC-PERP", "ETH-PERP", "bad sym"]), min_size=1, max_size=2)),
                "subaccounts": draw(st.lists(st.sampled_from(["alice/main", "bob/main", "nope"]), max_size=3)),
                "item_kind": draw(st.text(alphabet="FPX", min_size=n, max_size=n)),
                "time": draw(col(n, 0, 2**62)), "instrument": draw(col(n, 0, 2**31 - 1)), "buyer": draw(col(n, -1, 2**31 - 1)),
                "seller": draw(col(n, -1, 2**31 - 1)), "price": draw(col(n, 0, 2**62)), "size": draw(col(n, 0, 2**62))}
        if draw(st.booleans()):
            body["buyer_fee"] = draw(col(n, 0, 2**62))
        if draw(st.booleans()):
            body["ts"] = draw(st.integers(0, 2**62))
        return body

    def outcome(fn):
        try:
            return ("ok", fn())
        except ValidationError as exc:
            err = exc.errors()[0]
            return ("refused", ".".join(str(p) for p in err["loc"]))
        except InvalidInput as exc:
            return ("refused", exc.field)

    seen = set()

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(body=bodies())
    def check(body):
        data = encode_batch(body)
        fast = outcome(lambda: binary_event(data))
        slow = outcome(lambda: batch_event(m.TradeBatchReq.model_validate(decode_batch(data))))
        assert fast == slow, (body, fast, slow)
        seen.add(fast[0] if fast[0] == "ok" else fast[1].split(".")[0])

    check()
    assert {"ok", "instruments", "subaccounts", "item_kind", "time", "instrument", "buyer"} <= seen, seen
