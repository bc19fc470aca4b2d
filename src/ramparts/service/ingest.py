"""The streaming ingest of the risk service: ``TradeBatch``es over one WebSocket, binary or JSON,
each acknowledged after the group commit that journaled it (issue 24 item 3).

A matching engine's sequencer opens ``/v1/ingest`` with a ``sequencer`` key (the ``X-API-Key`` or
``Authorization: Bearer`` header, as every write route; ``batches`` permission) and sends frames,
one ``TradeBatch`` each, without waiting for the answers:

* a **text** frame is the JSON body of ``POST /v1/batches`` (:class:`~ramparts.service.models.TradeBatchReq`);
* a **binary** frame is an Arrow IPC stream (:func:`encode_batch`) holding one record batch with the
  columns ``item_kind`` (uint8: ``ord("F")`` or ``ord("P")``), ``time`` (int64, ns), ``instrument``
  (int32), ``buyer`` / ``seller`` (int32, −1 on prices), ``price`` (int64 ticks), ``size`` (int64 lots)
  and, optionally, ``buyer_fee`` / ``seller_fee`` (int64 base units), and in the schema's metadata
  the tables ``instruments`` and ``subaccounts`` (JSON lists of text) and, optionally, ``ts``. It is
  decoded into the same request and checked by the same schema, so both encodings accept and refuse
  exactly what ``POST /v1/batches`` does.

The service answers ``{"type": "hello", "seq", "role", "window"}``, then one message per frame, in the
frames' order: ``{"type": "ack", "frame": n, "seq", "ts", "items", "effects"}`` once frame ``n``
(counted from 1 on this connection) is applied and its journal transaction committed, or
``{"type": "refused", "frame": n, "status", "error", "field", "message"}`` when it was refused whole
(malformed: 422; the venue's state: 409 / 404; the key's rate limit: 429), with nothing applied; the
connection goes on. Items a batch refuses one by one are ``Rejected`` effects of its ack, as on the REST
route. Frames are handed to the writer in the order they arrive, so the writer's group commit
journals several clients' frames together, and the acks of one connection leave in its frames' order.

Back-pressure: at most ``window`` frames (:data:`WINDOW`) of a connection are in flight; the service
stops reading the socket until the oldest is acknowledged, so a fast sequencer is slowed by TCP, not
by memory. A frame is at most the WebSocket server's message limit (uvicorn: 16 MiB); a batch at
most :data:`~ramparts.engine.events.MAX_BATCH_ITEMS` items. A bad key closes the socket with
``4000 + status`` (4401, 4403) after an ``error`` message, as ``/v1/stream`` does.

A frame is applied once it reaches the writer, acknowledged or not: a sequencer whose connection drops
with frames in flight learns which were journaled from ``GET /v1/events`` (the journal from the
``seq`` its last ack or the next ``hello`` states) before it sends them again.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, get_args, get_origin

import numpy as np
from pydantic import ValidationError

from ramparts.errors import InvalidInput, RampartsError
from ramparts.service import models as m

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

#: Frames of one connection in flight (received, not yet acknowledged) before the service stops reading it.
WINDOW = 32

#: The binary frame's columns: name → Arrow type name (the optional fee columns last).
COLUMNS = {"item_kind": "uint8", "time": "int64", "instrument": "int32", "buyer": "int32", "seller": "int32",
           "price": "int64", "size": "int64", "buyer_fee": "int64", "seller_fee": "int64"}
_REQUIRED = ("item_kind", "time", "instrument", "buyer", "seller", "price", "size")


def encode_batch(body: dict) -> bytes:
    """The binary frame (Arrow IPC) of a ``POST /v1/batches`` body: what a sequencer sends (its own
    columns may go in as numpy arrays, without a Python list in between)."""
    import pyarrow as pa

    kinds = body["item_kind"]
    arrays: dict[str, Any] = {"item_kind": np.frombuffer(kinds.encode("ascii"), dtype=np.uint8) if isinstance(kinds, str) else kinds}
    for name in COLUMNS:
        if name != "item_kind" and body.get(name) is not None:
            arrays[name] = np.asarray(body[name], dtype=COLUMNS[name])
    meta = {"instruments": json.dumps(list(body["instruments"])), "subaccounts": json.dumps(list(body.get("subaccounts", [])))}
    if body.get("ts") is not None:
        meta["ts"] = str(body["ts"])
    table = pa.RecordBatch.from_arrays([pa.array(v) for v in arrays.values()], names=list(arrays))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema.with_metadata(meta)) as writer:
        writer.write_batch(table)
    return sink.getvalue().to_pybytes()


def _column_rules() -> dict[str, tuple[int, int, int]]:
    """``(lowest, highest, most items)`` of each integer column, read from the REST route's schema
    (:class:`~ramparts.service.models.TradeBatchReq`), so that a binary frame is held to the same bounds."""
    rules = {}
    for name in COLUMNS:
        if name == "item_kind":
            continue
        field = m.TradeBatchReq.model_fields[name]
        ann = field.annotation
        if get_origin(ann) is not list:  # Optional[list[...]]
            ann = next(a for a in get_args(ann) if get_origin(a) is list)
        lo = hi = None
        for meta in get_args(get_args(ann)[0])[1:]:
            for c in getattr(meta, "metadata", ()):
                lo = getattr(c, "ge", lo)
                hi = getattr(c, "le", hi)
        most = next(c.max_length for c in field.metadata if getattr(c, "max_length", None) is not None)
        rules[name] = (lo, hi, most)
    return rules


_RULES = _column_rules()


def _read_frame(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The columns (numpy arrays) and the schema metadata of a binary frame; :class:`InvalidInput` naming
    the column at fault for anything but an Arrow IPC stream of one record batch with :data:`COLUMNS`."""
    import pyarrow as pa

    try:
        reader = pa.ipc.open_stream(pa.py_buffer(data))
        batches = list(reader)
        schema = reader.schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidInput("frame", f"a binary frame must be an Arrow IPC stream of one record batch: {exc}") from None
    if len(batches) != 1:
        raise InvalidInput("frame", f"a binary frame holds one record batch, not {len(batches)}")
    batch = batches[0]
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in (schema.metadata or {}).items()}
    names = set(batch.schema.names)
    for name in sorted(names - set(COLUMNS)):
        raise InvalidInput(name, f"a binary frame has no column {name!r} (it has {', '.join(COLUMNS)})")
    cols: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        if name not in names:
            if name in _REQUIRED:
                raise InvalidInput(name, f"the binary frame lacks the column {name!r}")
            continue
        col = batch.column(name)
        if str(col.type) != COLUMNS[name]:
            raise InvalidInput(name, f"column {name!r} must be {COLUMNS[name]}, got {col.type}")
        if col.null_count:
            raise InvalidInput(name, f"column {name!r} has nulls")
        cols[name] = col.to_numpy(zero_copy_only=False)
    return cols, meta


def _tables(meta: dict[str, str]) -> dict[str, Any]:
    """The frame's ``instruments``, ``subaccounts`` and ``ts`` from its metadata (not yet checked by the schema)."""
    body: dict[str, Any] = {}
    for key in ("instruments", "subaccounts"):
        try:
            body[key] = json.loads(meta[key]) if key in meta else ([] if key == "subaccounts" else None)
        except ValueError:
            raise InvalidInput(key, f"the frame's {key} metadata must be a JSON list of text") from None
    if body["instruments"] is None:
        raise InvalidInput("instruments", "the frame's metadata needs instruments (a JSON list of symbols)")
    if "ts" in meta:
        try:
            body["ts"] = int(meta["ts"])
        except ValueError:
            raise InvalidInput("ts", f"the frame's ts metadata must be an integer, got {meta['ts']!r}") from None
    return body


def decode_batch(data: bytes) -> dict:
    """A binary frame back into the body of ``POST /v1/batches`` (not yet checked by its schema)."""
    cols, meta = _read_frame(data)
    body = _tables(meta)
    for name, values in cols.items():
        body[name] = values.tobytes().decode("latin-1") if name == "item_kind" else values.tolist()
    return body


def binary_event(data: bytes) -> dict:
    """The journal event of a binary frame, held to the REST schema's rules without building a model of
    its columns: the tables, ``item_kind`` and ``ts`` go through :class:`~ramparts.service.models.TradeBatchReq`
    (with the integer columns empty), each integer column is checked against the schema's bounds
    (:func:`_column_rules`) in one vectorised pass. The same frame through :func:`decode_batch` and the
    model gives the same event, or a refusal naming the same field (``tests/test_service_ingest.py``)."""
    cols, meta = _read_frame(data)
    head = _tables(meta)
    head["item_kind"] = cols["item_kind"].tobytes().decode("latin-1")
    for name in _RULES:
        if name in cols:
            head[name] = []
    req = m.TradeBatchReq.model_validate(head)  # ValidationError: the caller answers 422
    event = batch_event(req)
    for name, (lo, hi, most) in _RULES.items():
        values = cols.get(name)
        if values is None:
            continue
        if values.size > most:
            raise InvalidInput(name, f"List should have at most {most} items after validation, not {values.size}")
        bad = np.flatnonzero((values < lo) | (values > hi))
        if bad.size:
            k = int(bad[0])
            side = f"greater than or equal to {lo}" if values[k] < lo else f"less than or equal to {hi}"
            raise InvalidInput(f"{name}.{k}", f"Input should be {side}")
        event[name] = values.tolist()
    if req.ts is None and event["time"]:
        event["ts"] = max(event["time"])
    return event


def batch_event(req: m.TradeBatchReq) -> dict:
    """The journal event of a checked batch request (``ts`` defaults to the batch's last time)."""
    if req.ts is None and req.time:
        req = req.model_copy(update={"ts": max(req.time)})
    d = req.model_dump()
    if d.get("ts") is None:
        d.pop("ts", None)
    d["kind"] = "TradeBatch"
    return d


def _frame_event(msg: dict) -> dict:
    """The journal event of a frame, checked by the REST route's schema (raises InvalidInput / ValidationError)."""
    if msg.get("bytes") is not None:
        return binary_event(msg["bytes"])
    text = msg.get("text")
    if text is None:
        raise InvalidInput("frame", "an empty frame")
    return batch_event(m.TradeBatchReq.model_validate_json(text))


async def serve_ingest(ws: WebSocket, svc: Any) -> None:
    """One sequencer's connection (see the module docstring)."""
    from starlette.websockets import WebSocketDisconnect

    from ramparts.service.app import _reason, _validation_body, error_body
    from ramparts.service.guard import token_of

    await ws.accept()
    client = ws.client.host if ws.client else None
    try:
        token = token_of(ws.headers.get("x-api-key"), ws.headers.get("authorization"), "key" in ws.query_params)
        principal = await svc.principal(token, "batches", client=client)
    except RampartsError as exc:
        status, body = error_body(exc)
        await ws.send_json({"type": "error", "error": body["error"], "message": body["message"]})
        await ws.close(code=4000 + status if status < 1000 else 1011, reason=_reason(body["message"]))
        return
    await ws.send_json({"type": "hello", "seq": svc.writer.seq, "role": principal.role, "window": WINDOW})
    inflight: asyncio.Queue = asyncio.Queue(WINDOW)

    async def answer() -> None:
        while True:
            item = await inflight.get()
            if item is None:
                return
            n, started, outcome = item
            if isinstance(outcome, dict):  # refused before the writer
                await ws.send_json(outcome)
                continue
            try:
                out = (await outcome)[0]
            except RampartsError as exc:  # the writer refused the whole group (the journal unavailable)
                status, body = error_body(exc)
                await ws.send_json({"type": "refused", "frame": n, "status": status, **body})
                continue
            if out.error is not None:
                if isinstance(out.error, InvalidInput):
                    out.error.status = 409  # the schema passed it: the venue's state refused it (as on the REST route)
                status, body = error_body(out.error)
                await ws.send_json({"type": "refused", "frame": n, "status": status, **body})
            else:
                await ws.send_json({"type": "ack", "frame": n, "seq": out.seq, "ts": started[1], "items": started[0],
                                    "effects": out.effects})
            svc.metrics.ingest_ack.observe(time.perf_counter() - started[2])

    sender = asyncio.ensure_future(answer())
    n = 0
    try:
        while not sender.done():
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            n += 1
            t0 = time.perf_counter()
            try:
                svc.auth.authorize(principal, "batches")
                event = _frame_event(msg)
            except ValidationError as exc:
                await inflight.put((n, None, {"type": "refused", "frame": n, "status": 422, **_validation_body(exc)}))
                continue
            except RampartsError as exc:
                status, body = error_body(exc)
                await inflight.put((n, None, {"type": "refused", "frame": n, "status": status, **body}))
                continue
            # handed to the writer now, in the frames' order; its answer is awaited by the sender
            submitted = asyncio.ensure_future(svc.writer.submit([event]))
            await inflight.put((n, (len(event["item_kind"]), event.get("ts"), t0), submitted))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        if not sender.done():
            try:
                inflight.put_nowait(None)
            except asyncio.QueueFull:
                sender.cancel()
        try:
            await sender
        except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            pass


__all__ = ["COLUMNS", "WINDOW", "batch_event", "binary_event", "decode_batch", "encode_batch", "serve_ingest"]
