"""Shards as processes over NATS: the protocol of :mod:`ramparts.shard.cluster` with every
cross-shard call a NATS request (issue 25 item 2, shard processes: a first slice; ``nats-py`` is
imported here only).

What it owns:

* :class:`ShardNode`, one process per shard (``python -m ramparts.shard.bus --shard K/N --nats URL``;
  ``K == N`` is the fund shard): an :class:`~ramparts.engine.engine.Engine` whose ``shard_link`` is a
  :class:`RemoteLink`, serving requests on ``PREFIX.shard.K`` (JSON ``{"op", "args"}`` →
  ``{"ok": result}`` or ``{"error": {...}}``): events routed to it, a leg for one of its accounts,
  a fill side to check, its fund balance and insolvent count, its ranked ADL candidates, margin
  calls, its part of a tick (open, bankrupt accounts, one account's step, close), and its part in
  an account's move (hand out, hand in, or only the new routing: ``move_out``, ``move_in``,
  ``moved``, each journaled like any request). Engine work
  runs on one thread; a request the engine makes to another shard while serving one (a leg, a fund
  read, an ADL ranking) waits for its reply, and no shard ever calls back the shard calling it, so
  the nesting cannot deadlock.
* :class:`BusCluster`, the coordinator: the :class:`~ramparts.shard.cluster.Router` with each
  shard behind a NATS request, a local directory engine (broadcasts only), and the tick driven
  over the shards' :class:`RemotePart`; :meth:`BusCluster.consume` reads the venue's events from a
  JetStream stream (``PREFIX.in.>``, one total order) and applies them.

Journals and exactly once (issue 25 items 2 and 5): with ``--log FILE`` a shard journals every
request that carries an id before it answers, with the replies of the requests it made while
serving it (:mod:`ramparts.shard.log`), and replays that journal when it starts. The coordinator
names each event's requests ``s<stream seq>.<i>`` (a shard's own requests add ``/<i>``), sends an
unanswered one again until the shard is back (:class:`_Caller`), and a shard answers a request it
has journaled from the journal. So a shard, the fund shard or the NATS server may be killed at any
point, and a coordinator started again consumes the stream from its start, and every shard still
applies every request once (``tests/test_shards_faults.py``).

Also here: a hot standby per shard (``--failover``: a lease per shard in JetStream's key-value
store, the standby replaying the primary's journal), the coordinator's cursor and snapshot and its
effects published to subjects exactly once (:meth:`BusCluster.consume`), and account moves (the
halves of a hand-over as journaled requests, :meth:`BusCluster._hand_over`). Not built: snapshots of
a shard's journal (a shard's restart replays every request it served).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from ramparts.bus.protocol import Subjects
from ramparts.engine import events as ev
from ramparts.engine.engine import Engine
from ramparts.errors import InvalidInput, JournalCorrupt, RampartsError, Rejected, UnknownEntity
from ramparts.liquidation.waterfall import TickPart, adl_candidates, run_waterfall
from ramparts.shard.cluster import (
    Directory,
    Router,
    _merge_by_sub,
    check_netting,
    check_shard,
    combine_views,
    engine_view,
    hand_in,
    hand_out,
    merge_effects,
    rehome,
)
from ramparts.shard.log import CoordinatorState, RequestLog

log = logging.getLogger("ramparts.shard")

if TYPE_CHECKING:
    from ramparts.bus.failover import FailoverConfig

TIMEOUT_S = 30.0
#: Seconds an idempotent request (one with an id) waits for its reply before it is sent again.
ATTEMPT_S = 2.0
#: Seconds an idempotent request is tried before :class:`ShardUnreachable`.
RETRY_S = 120.0


def _plain(x):
    """JSON for the numpy scalars an effect may carry."""
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    raise TypeError(f"not JSON: {type(x).__name__}")


def _error_dict(exc: RampartsError) -> dict:
    for cls, attr in ((Rejected, "reason"), (InvalidInput, "field"), (UnknownEntity, "field")):
        if type(exc) is cls:
            return {"type": cls.__name__, "arg": getattr(exc, attr), "message": exc.message}
    return {"type": "RampartsError", "arg": None, "message": str(exc)}


def _error_from(d: dict) -> RampartsError:
    cls = {"Rejected": Rejected, "InvalidInput": InvalidInput, "UnknownEntity": UnknownEntity}.get(d["type"])
    return RampartsError(d["message"]) if cls is None else cls(d["arg"], d["message"])


class ShardUnreachable(RampartsError):
    """A shard did not answer a request within the retry deadline."""


def _result(reply: dict):
    if "error" in reply:
        raise _error_from(reply["error"])
    return reply["ok"]


class _Caller:
    """Blocking requests over an asyncio NATS connection running on another thread.

    A request with an id (:mod:`ramparts.shard.log`) is idempotent, so it is sent again until answered:
    at once when no process serves the subject (a shard restarting), after ``ATTEMPT_S`` when the
    reply does not come (a shard killed while serving it, or still busy: the copy waits behind the
    original and gets its journaled reply), for at most ``RETRY_S``. A request without an id (reads
    by an operator) is sent once."""

    def __init__(self, nc, loop: asyncio.AbstractEventLoop, prefix: str):
        self.nc, self.loop, self.prefix = nc, loop, prefix
        #: The fault of a redelivery storm (tests): every request with an id sent twice.
        self.storm = False
        #: Requests sent again after no answer (an attempt timed out, or nobody served the subject).
        self.retries = 0

    def call(self, k: int, op: str, **args):
        return _result(self.call_raw(k, op, None, args))

    def call_raw(self, k: int, op: str, rid: str | None, args: dict) -> dict:
        """The reply of shard ``k`` (``{"ok": result}`` or ``{"error": {...}}``)."""
        import time

        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        body = {"op": op, "args": args}
        if rid is not None:
            body["id"] = rid
        data = json.dumps(body).encode()
        subject = f"{self.prefix}.shard.{k}"
        if rid is None:
            fut = asyncio.run_coroutine_threadsafe(self.nc.request(subject, data, timeout=TIMEOUT_S), self.loop)
            return json.loads(fut.result(TIMEOUT_S + 5).data)
        deadline = time.monotonic() + RETRY_S
        if self.storm:  # a copy first, its answer dropped: the request itself is then answered from the journal
            asyncio.run_coroutine_threadsafe(self.nc.publish(subject, data, reply=self.nc.new_inbox()), self.loop).result(5)
        while True:
            fut = asyncio.run_coroutine_threadsafe(self.nc.request(subject, data, timeout=ATTEMPT_S), self.loop)
            try:
                return json.loads(fut.result(ATTEMPT_S + 5).data)
            except (NoRespondersError, NatsTimeout, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise ShardUnreachable(f"shard {k} did not answer {op} ({rid}) for {RETRY_S:g} s") from exc
                self.retries += 1
                if isinstance(exc, NoRespondersError):
                    time.sleep(0.05)
            except Exception as exc:  # noqa: BLE001 - the connection reconnecting (the server restarting)
                if time.monotonic() > deadline:
                    raise ShardUnreachable(f"shard {k} did not answer {op} ({rid}) for {RETRY_S:g} s: {exc}") from exc
                time.sleep(0.1)


async def _quiet(exc: Exception) -> None:
    """NATS connection errors (the server restarting) as one log line, not a traceback."""
    log.debug("NATS: %s", exc or type(exc).__name__)


async def _disconnected() -> None:
    log.info("NATS: disconnected (reconnecting unless closing)")


def shard_lease_bucket(prefix: str) -> str:
    """The key-value bucket of the shards' leases (``--failover``) for subject prefix ``prefix``."""
    from ramparts.bus.failover import lease_bucket

    return lease_bucket(prefix.upper().replace(".", "_") + "_SHARDS").removesuffix("_LEASE")


def _register(directory: Directory, owner_of: list[int], engine: Engine, kind: str, n_shards: int) -> None:
    """After a Genesis or an OpenSubAccount: the directory's new entries (the same rule on every node)."""
    if kind == "Genesis":
        directory.pins[engine.subs[engine.backstop].id.account] = n_shards
        owner_of[:] = [n_shards] * len(engine.subs)
    elif kind == "OpenSubAccount":
        owner_of.append(directory.shard_of(engine.subs[-1].id.account))


class RemoteLink:
    """A shard process's ``shard_link``: :class:`~ramparts.shard.cluster.ShardLink`'s calls as requests."""

    def __init__(self, node: ShardNode):
        self.node = node

    def _call(self, k: int, op: str, **args):
        return self.node.nested(k, op, args)

    def owns(self, e: Engine, s: int) -> bool:
        return self.node.owner_of[s] == self.node.k

    def trade(self, e: Engine, s: int, instr, delta: int, quote: int) -> int:
        row = self.node.clearing.setdefault(instr.index, [0, 0])  # the mirror of the leg sent
        row[0] += delta
        row[1] += quote
        self._call(self.node.owner_of[s], "leg", s=s, i=instr.index, delta=delta, quote=quote)
        return -1

    def realise(self, e: Engine, s: int) -> None:
        self._call(self.node.owner_of[s], "realise", s=s)

    def fee(self, e: Engine, s: int, asset: str, amount: int) -> None:
        self._call(self.node.owner_of[s], "fee", s=s, asset=asset, amount=amount)

    def check_fill_side(self, e: Engine, s: int, instr_idx: int, delta: int, price: int, fee: int, field: str) -> None:
        self._call(self.node.owner_of[s], "check", s=s, i=instr_idx, delta=delta, price=price, fee=fee, field=field)

    def _others(self) -> list[int]:
        return [k for k in range(self.node.n + 1) if k != self.node.k]

    def fund_balance(self, asset: str, key: str) -> int:
        return self.node.engine.ledger.balance(asset, key) + sum(self._call(k, "balance", asset=asset, key=key) for k in self._others())

    def fund_drawn(self, instr_idx: int) -> int:
        if self.node.k == self.node.n:
            return self.node.engine.global_draws.get(instr_idx, 0)
        return self._call(self.node.n, "drawn", i=instr_idx)

    def fund_draw(self, instr_idx: int, amount: int) -> None:
        if self.node.k == self.node.n:
            self.node.op_draw(instr_idx, amount)
        else:
            self._call(self.node.n, "draw", i=instr_idx, amount=amount)

    def insolvent_count(self) -> int:
        return len(self.node.engine.insolvent) + sum(self._call(k, "insolvent") for k in self._others())

    def margin_calls(self, e: Engine, subs: np.ndarray) -> list[dict]:
        groups: dict[int, list[int]] = {}
        for s in subs.tolist():
            groups.setdefault(self.node.owner_of[s], []).append(s)
        per = [e.margin_calls(np.array(g, dtype=np.int64)) if k == self.node.k else self._call(k, "margin_calls", subs=g)
               for k, g in sorted(groups.items())]
        return _merge_by_sub(e, per)

    def adl_candidates(self, e: Engine, s: int, instr_idx: int, side: int) -> list[tuple]:
        import heapq

        ranked = []
        for k in range(self.node.n + 1):
            rows = adl_candidates(e, s, instr_idx, side, keyed=True) if k == self.node.k else [
                (*r[:5], tuple(r[5])) for r in self._call(k, "adl", s=s, i=instr_idx, side=side)]
            ranked.append(rows)
        return list(heapq.merge(*ranked, key=lambda r: (r[5], r[0])))


class ShardNode:
    """One shard process (see the module docstring)."""

    def __init__(self, k: int, n: int, nats_url: str, prefix: str = "ramparts", *, log: str | None = None,
                 durability: str = "normal", crash_after: tuple[str, int] | None = None,
                 slow: tuple[str, float] | None = None, storm: bool = False):
        self.k, self.n, self.url, self.prefix = k, n, nats_url, prefix
        self.log = RequestLog(log, durability)
        #: (op, n): die (``os._exit``) right after executing the n-th ``op``, before journaling it (tests).
        self.crash_after = crash_after
        #: (op, s): the first ``op`` takes ``s`` seconds longer (a slow shard: its callers time out and retry; tests).
        self.slow = slow
        #: Every request this shard makes sent twice (a redelivery storm; tests).
        self.storm = storm
        self._executed: dict[str, int] = {}
        self._rid: str | None = None
        self._nested: list[dict] = []
        self._replay: deque | None = None
        #: Set when the shard's lease was lost (``--failover``): it answers nothing more.
        self.lost = False
        self.engine = Engine()
        self.engine.lazy_remargin = False  # legs arrive from other shards outside the engine's own events
        self.engine.shard_link = RemoteLink(self)
        self.directory = Directory(n)
        self.owner_of: list[int] = []
        self.clearing: dict[int, list[int]] = {}
        self.part = TickPart(self.engine)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=f"shard{k}")  # the engine's one thread
        self.caller: _Caller | None = None
        self.done: asyncio.Event | None = None
        self.stopping = False

    async def serve(self, failover: FailoverConfig | None = None) -> None:
        """Serve until stopped. With ``failover`` the process is a candidate for this shard: it
        stands by, following the shard's journal, until it holds the shard's lease
        (``<PREFIX>_SHARDS`` key-value bucket, key ``shard-K``), then serves; it exits when it loses the
        lease (exit code 3: a supervisor starts it again, as a standby)."""
        import nats

        loop = asyncio.get_running_loop()
        nc = await nats.connect(self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1, error_cb=_quiet,
                                disconnected_cb=_disconnected)
        self.caller = _Caller(nc, loop, self.prefix)
        self.caller.storm = self.storm
        self.done = asyncio.Event()
        lease = None
        if failover is not None:
            from ramparts.bus.failover import Lease, open_lease_bucket

            kv = await open_lease_bucket(nc.jetstream(timeout=5), shard_lease_bucket(self.prefix), failover.ttl_s)

            def lost() -> None:
                self.lost = True
                self.done.set()

            lease = Lease(kv, f"shard-{self.k}", failover, on_lost=lost)
            while not await lease.try_take():  # a hot standby: replay what the primary journals meanwhile
                await loop.run_in_executor(self.pool, self.replay)
                await asyncio.sleep(failover.poll_s)
            log.warning("shard %d: took the lease (%s)", self.k, failover.identity)
        from ramparts.service.writer import JournalInUse

        fence = self._fence() if self.log.path is not None else None
        try:
            if fence is not None:
                while True:  # a primary that lost its lease may still be finishing a request
                    try:
                        fence.acquire()
                        break
                    except JournalInUse:
                        await asyncio.sleep(0.05)
            replayed = await loop.run_in_executor(self.pool, self.replay)
            if replayed:
                log.info("shard %d: replayed %d journaled requests", self.k, replayed)

            async def handle(msg) -> None:
                if self.lost:
                    return  # no longer the shard's primary: a retry reaches the new one
                reply = await loop.run_in_executor(self.pool, self.handle, msg.data)
                await msg.respond(reply)
                if self.stopping:
                    self.done.set()

            await nc.subscribe(f"{self.prefix}.shard.{self.k}", cb=handle)
            await nc.flush()
            await self.done.wait()
            await nc.drain()
        finally:
            if lease is not None:
                await lease.release()
            if fence is not None:
                fence.release()
        if self.lost:
            raise SystemExit(3)

    def _fence(self):
        from ramparts.service.writer import JournalLease

        return JournalLease(self.log.path, program=f"ramparts shard {self.k}/{self.n}")

    def handle(self, data: bytes) -> bytes:
        """Serve one request (on the engine's thread): a journaled id gets its journaled reply; a new
        id is executed, journaled with the replies of its own requests, then answered."""
        req = json.loads(data)
        rid = req.get("id")
        if rid is None:
            return self._execute(req["op"], req["args"])
        seen = self.log.reply(rid)
        if seen is not None:
            return seen
        self._rid, self._nested = rid, []
        try:
            if self.slow is not None and req["op"] == self.slow[0]:
                import time

                time.sleep(self.slow[1])
                self.slow = None
            reply = self._execute(req["op"], req["args"])
            if self.crash_after is not None:
                op, n = self.crash_after
                self._executed[req["op"]] = self._executed.get(req["op"], 0) + 1
                if req["op"] == op and self._executed[op] == n:
                    os._exit(137)  # the fault: executed, not journaled, not answered
            self.log.append(rid, req["op"], json.dumps(req["args"]), json.dumps(self._nested), reply)
            return reply
        finally:
            self._rid, self._nested = None, []

    def _execute(self, op: str, args: dict) -> bytes:
        try:
            result = getattr(self, "op_" + op)(**args)
            return json.dumps({"ok": result}, default=_plain).encode()
        except RampartsError as exc:
            return json.dumps({"error": _error_dict(exc)}).encode()
        except Exception:  # noqa: BLE001 - a defect: the caller gets the traceback instead of a timeout
            import traceback

            return json.dumps({"error": {"type": "Internal", "arg": None, "message": traceback.format_exc()}}).encode()

    def nested(self, k: int, op: str, args: dict):
        """A request of this shard to shard ``k`` while serving one: sent with the id ``<parent>/<i>``
        and its reply kept for the journal; during a replay, answered from the journal instead."""
        if self._replay is not None:
            if not self._replay:
                raise JournalCorrupt(f"shard {self.k}: the replayed request asks more of other shards than it did")
            return _result(self._replay.popleft())
        rid = None if self._rid is None else f"{self._rid}/{len(self._nested)}"
        reply = self.caller.call_raw(k, op, rid, args)
        if self._rid is not None:
            self._nested.append(reply)
        return _result(reply)

    def replay(self) -> int:
        """Apply the journal's rows not yet applied (all of them at start; a standby, the primary's new
        ones), each re-executed with its nested replies from the row (see :mod:`ramparts.shard.log`)."""
        n = 0
        for row in self.log.refresh():
            self._replay = deque(json.loads(row.nested))
            try:
                reply = self._execute(row.op, json.loads(row.args))
                if reply != row.reply or self._replay:
                    raise JournalCorrupt(f"shard {self.k}: request {row.id} ({row.op}) does not replay to the reply it gave")
            finally:
                self._replay = None
            n += 1
        return n

    # ------------------------------------------------------------------ operations
    def op_ping(self) -> int:
        return self.k

    def op_stop(self) -> None:
        self.stopping = True  # after the reply

    def op_apply(self, event: dict) -> list[dict]:
        e = ev.parse_event(event)
        fx = self.engine.apply(e)
        _register(self.directory, self.owner_of, self.engine, e.kind, self.n)
        return fx

    def op_leg(self, s: int, i: int, delta: int, quote: int) -> None:
        row = self.clearing.setdefault(i, [0, 0])  # the opposite of the leg received
        row[0] -= delta
        row[1] -= quote
        self.engine.trade(s, self.engine.instruments[i], delta, quote)

    def op_realise(self, s: int) -> None:
        self.engine.realise(s)

    def op_fee(self, s: int, asset: str, amount: int) -> None:
        self.engine.ledger.transfer(asset, s, "fees", amount)

    def op_check(self, s: int, i: int, delta: int, price: int, fee: int, field: str) -> None:
        x = self.engine
        x._check_fill_side(s, x.instruments[i], x.markets[i], delta, price, fee, field)

    def op_balance(self, asset: str, key: str) -> int:
        return self.engine.ledger.balance(asset, key)

    def op_drawn(self, i: int) -> int:
        return self.engine.global_draws.get(i, 0)

    def op_draw(self, i: int, amount: int) -> None:
        d = self.engine.global_draws
        d[i] = d.get(i, 0) + amount

    def op_insolvent(self) -> int:
        return len(self.engine.insolvent)

    def op_move_out(self, account: str, subs: list[int], to: int) -> dict:
        state = hand_out(self.engine, subs, self.clearing)  # refused here: nothing changed
        rehome(self.directory, self.owner_of, account, subs, to)
        return state

    def op_move_in(self, account: str, state: dict) -> int:
        rehome(self.directory, self.owner_of, account, [r["s"] for r in state["subs"]], self.k)
        return hand_in(self.engine, state, self.clearing)

    def op_moved(self, account: str, subs: list[int], to: int) -> None:
        rehome(self.directory, self.owner_of, account, subs, to)

    def op_margin_calls(self, subs: list[int]) -> list[dict]:
        return self.engine.margin_calls(np.array(subs, dtype=np.int64))

    def op_adl(self, s: int, i: int, side: int) -> list:
        return [list(r) for r in adl_candidates(self.engine, s, i, side, keyed=True)]

    def op_tick_open(self, ts: int) -> dict:
        before = self.engine._refresh_defences(ts)
        fx, due = self.part.open_tick(ts)
        return {"before": before, "fx": fx, "due": due}

    def op_bankrupt(self) -> list[int]:
        return self.part.bankrupt_now()

    def op_step(self, s: int, ts: int, liquidator: str) -> list[dict]:
        return self.part.step(s, ts, liquidator)

    def op_tick_close(self, ts: int) -> list[dict]:
        after = self.engine._after_waterfall(ts)
        self.engine.time_ns = ts
        self.engine.seq += 1
        return after

    def op_view(self) -> dict:
        return engine_view(self.engine, [o == self.k for o in self.owner_of])

    def op_reconcile(self) -> list:
        check_shard(self.engine, self.k, self.owner_of, self.clearing)
        return sorted([i, v] for i, v in self.clearing.items())

    def op_state_hash(self) -> str:
        return self.engine.state_hash()


class RemotePart:
    """A shard's part of a tick (:class:`~ramparts.liquidation.waterfall.TickPart`) over the bus."""

    def __init__(self, cluster: BusCluster, k: int):
        self.cluster, self.k = cluster, k
        self.before: list[dict] = []

    def open_tick(self, ts: int) -> tuple[list[dict], list[int]]:
        r = self.cluster.call(self.k, "tick_open", ts=ts)
        self.before = r["before"]
        return r["fx"], r["due"]

    def bankrupt_now(self) -> list[int]:
        return self.cluster.call(self.k, "bankrupt")

    def step(self, s: int, ts: int, liquidator: str) -> list[dict]:
        return self.cluster.call(self.k, "step", s=s, ts=ts, liquidator=liquidator)


class BusCluster(Router):
    """The coordinator of ``n_shards`` shard processes and a fund shard process on one NATS system."""

    def __init__(self, n_shards: int, nats_url: str, prefix: str = "ramparts"):
        local = Engine()  # the directory: broadcasts only, no account of its own
        super().__init__(n_shards, None, local)
        self.url, self.prefix = nats_url, prefix
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="bus-cluster")
        self.thread.start()
        import nats

        self.nc = asyncio.run_coroutine_threadsafe(
            nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.1, error_cb=_quiet,
                         disconnected_cb=_disconnected), self.loop).result(TIMEOUT_S)
        self.caller = _Caller(self.nc, self.loop, prefix)
        self._key: str | None = None
        self._calls = 0
        self._auto = 0
        #: Events consumed from the stream so far (by :meth:`consume`).
        self.progress = 0

    def call(self, k: int, op: str, **args):
        """A request to shard ``k``; while an event is applied it carries the id ``<event key>.<i>``."""
        if self._key is None:
            return self.caller.call(k, op, **args)
        rid = f"{self._key}.{self._calls}"
        self._calls += 1
        return _result(self.caller.call_raw(k, op, rid, args))

    def apply(self, event: ev._Event | dict, key: str | None = None) -> list[dict]:
        """Apply one event; ``key`` names it for the shards' journals (``s<stream seq>`` when consumed
        from a stream; by default ``a<n>``, the n-th event this coordinator applied directly)."""
        if key is None:
            self._auto += 1
            key = f"a{self._auto}"
        self._key, self._calls = key, 0
        try:
            return super().apply(event)
        finally:
            self._key = None

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        for k in range(self.n_shards + 1):
            while True:
                try:
                    fut = asyncio.run_coroutine_threadsafe(
                        self.nc.request(f"{self.prefix}.shard.{k}", json.dumps({"op": "ping", "args": {}}).encode(), timeout=1), self.loop)
                    fut.result(5)
                    break
                except Exception:  # noqa: BLE001 - not subscribed yet
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"shard {k} did not answer") from None

    def _apply_on(self, k: int, event: ev._Event) -> list[dict]:
        return self.call(k, "apply", event=event.model_dump(mode="json"))

    def _hand_over(self, src: int, dst: int, account: str, subs: list[int]) -> int:
        state = self.call(src, "move_out", account=account, subs=subs, to=dst)  # refused there: nothing changed
        n = self.call(dst, "move_in", account=account, state=state)
        for k in range(self.n_shards + 1):
            if k not in (src, dst):
                self.call(k, "moved", account=account, subs=subs, to=dst)
        return n

    def _run_tick(self, e: ev.Tick) -> list[dict]:
        parts = [RemotePart(self, k) for k in range(self.n_shards + 1)]
        effects = run_waterfall(self.local, e.ts, e.liquidator, parts=parts)
        before = merge_effects(self.local, [p.before for p in parts])
        after = merge_effects(self.local, [self.call(k, "tick_close", ts=e.ts) for k in range(self.n_shards + 1)])
        self.local.time_ns = e.ts
        return before + effects + after

    def view(self) -> dict:
        return combine_views([self.call(k, "view") for k in range(self.n_shards + 1)])

    def reconcile(self) -> None:
        books = [{int(i): v for i, v in self.call(k, "reconcile")} for k in range(self.n_shards + 1)]
        check_netting(books)

    def consume(self, stream: str, count: int, timings: list[float] | None = None, *, state: str | None = None,
                effects: Subjects | None = None, snapshot_every: int = 1000) -> list[tuple]:
        """Apply events ``1 .. count`` of JetStream ``stream`` in stream order, event ``s`` under the key
        ``s<s>``; per event applied here ``("ok", effects)`` or ``("refused", type, code, message)``.

        The shards' journals are the truth of what was applied: every request this coordinator repeats is
        answered from them, not applied again (:mod:`ramparts.shard.log`). Without ``state`` the
        coordinator keeps nothing and consumes from the stream's first message. With ``state`` (a SQLite
        file, :class:`~ramparts.shard.log.CoordinatorState`) it restores its last snapshot and consumes
        from there (snapshots every ``snapshot_every`` events), and returns the outcomes of the events
        after the snapshot. With ``effects`` each event's effects are published to ``P.fx.<kind>`` and
        each refusal to ``P.dlq.refused`` (the messages of ``ramparts run``, :mod:`ramparts.bus.protocol`,
        ``seq`` the venue's event sequence), each message stored by JetStream before the next event, and
        never twice: the cursor moves after the publishing, and the events a restart applies again up to
        the cursor are not published again. ``timings``: each event's seconds from read to outcome."""
        import time

        from ramparts.bus.protocol import DeadLetter, dead_letter_message, effect_message

        js = self.nc.jetstream(timeout=2)
        if effects is not None:
            from ramparts.bus.runner import ensure_streams

            self._run(ensure_streams(js, effects))  # the effects and dead-letter streams, if missing
        keeper = CoordinatorState(state) if state is not None else None
        published = start = 0
        if keeper is not None:
            published, start, blob = keeper.load(stream)
            if blob is not None:
                self._restore(blob)
        out: list[tuple] = []
        self.progress = start
        try:
            for sseq in range(start + 1, count + 1):
                m = self._read(js, stream, sseq)
                t0 = time.perf_counter()
                error = None
                try:
                    fx = self.apply(json.loads(m.data), key=f"s{sseq}")
                    out.append(("ok", fx))
                except ShardUnreachable:
                    raise
                except RampartsError as exc:
                    error = exc
                    out.append(("refused", type(exc).__name__, getattr(exc, "reason", getattr(exc, "field", None)), str(exc)))
                if effects is not None and sseq > published:
                    if error is None:
                        kind = json.loads(m.data)["kind"]
                        # a move takes no venue sequence number: its effect is named by its stream position
                        msg_id = f"{effects.prefix}:fx:move:{stream}:{sseq}" if kind == "MoveAccount" else None
                        msgs = [effect_message(effects, seq=self.seq, index=i, ts=self.time_ns, event_kind=kind,
                                               stream_seq=sseq, effect=f, msg_id=msg_id) for i, f in enumerate(fx)]
                    else:
                        msgs = [dead_letter_message(effects, DeadLetter.from_error(error), stream=stream, stream_seq=sseq,
                                                    subject=m.subject, data=m.data)]
                    self._publish(js, msgs)
                if keeper is not None and sseq > published:
                    snap = (sseq, self._snapshot()) if snapshot_every and sseq % snapshot_every == 0 else None
                    keeper.advance(stream, sseq, snap)
                if timings is not None:
                    timings.append(time.perf_counter() - t0)
                self.progress = sseq
        finally:
            if keeper is not None:
                keeper.close()
        return out

    def _publish(self, js, messages: list[tuple[str, bytes, dict]]) -> None:
        """Store ``messages`` in JetStream (a copy within the duplicate window is dropped by its id), trying
        again while the server is unreachable (for ``RETRY_S``)."""
        import time

        deadline = time.monotonic() + RETRY_S
        for subject, data, headers in messages:
            while True:
                try:
                    self._run(js.publish(subject, data, headers=headers))
                    break
                except Exception as exc:  # noqa: BLE001 - timeouts and a reconnecting connection
                    if time.monotonic() > deadline:
                        raise ShardUnreachable(f"cannot publish to {subject} for {RETRY_S:g} s: {exc}") from exc
                    time.sleep(0.1)

    def _snapshot(self) -> bytes:
        """The coordinator's state: the directory engine, the routing table, the clocks."""
        import base64

        return json.dumps({"local": base64.b64encode(self.local.snapshot()).decode("ascii"), "pins": self.directory.pins,
                           "owner_of": self.owner_of, "time_ns": self.time_ns, "seq": self.seq}).encode()

    def _restore(self, blob: bytes) -> None:
        import base64

        d = json.loads(blob)
        self.local = Engine.restore(base64.b64decode(d["local"]))
        self.directory.pins = dict(d["pins"])
        self.owner_of = list(d["owner_of"])
        self.time_ns, self.seq = d["time_ns"], d["seq"]

    def _read(self, js, stream: str, sseq: int):
        """Message ``sseq`` of ``stream``, read again while the server is unreachable (for ``RETRY_S``)."""
        import time

        from nats.js.errors import NotFoundError

        deadline = time.monotonic() + RETRY_S
        while True:
            try:
                return self._run(js.get_msg(stream, sseq))
            except NotFoundError:
                raise
            except Exception as exc:  # noqa: BLE001 - timeouts and a reconnecting connection
                if time.monotonic() > deadline:
                    raise ShardUnreachable(f"cannot read message {sseq} of stream {stream} for {RETRY_S:g} s: {exc}") from exc
                time.sleep(0.1)

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT_S)

    def close(self) -> None:
        for k in range(self.n_shards + 1):
            try:
                self.call(k, "stop")
            except Exception:  # noqa: BLE001 - already gone
                pass
        asyncio.run_coroutine_threadsafe(self.nc.drain(), self.loop).result(TIMEOUT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m ramparts.shard.bus", description="one shard process of a sharded venue")
    ap.add_argument("--shard", required=True, help="K/N: shard K of N (K == N: the fund shard)")
    ap.add_argument("--nats", default="nats://127.0.0.1:4222", help="the NATS server")
    ap.add_argument("--prefix", default="ramparts", help="subject prefix (PREFIX.shard.K)")
    ap.add_argument("--log", default=None, help="the shard's journal (a SQLite file); without it the shard's state "
                                                "lives in memory only")
    ap.add_argument("--durability", default="normal", choices=["full", "normal"], help="the journal's fsync policy")
    ap.add_argument("--failover", action="store_true", help="a candidate for this shard: stand by following its "
                                                                "journal (--log, on a shared file system) until the "
                                                                "shard's lease is free, then serve")
    ap.add_argument("--lease-ttl", type=float, default=3.0, help="with --failover: seconds a lease lasts unrenewed")
    ap.add_argument("--crash-after", default=None, help=argparse.SUPPRESS)  # OP:N, fault tests only
    ap.add_argument("--slow", default=None, help=argparse.SUPPRESS)  # OP:SECONDS, fault tests only
    ap.add_argument("--storm", action="store_true", help=argparse.SUPPRESS)  # every request sent twice, fault tests only
    args = ap.parse_args(argv)
    try:
        k, n = (int(x) for x in args.shard.split("/"))
        if not (n >= 1 and 0 <= k <= n):
            raise ValueError
    except ValueError:
        ap.error(f"--shard: expected K/N with 0 <= K <= N and N >= 1, got {args.shard!r}")
    crash = None
    if args.crash_after:
        op, _, count = args.crash_after.partition(":")
        crash = (op, int(count))
    slow = None
    if args.slow:
        op, _, secs = args.slow.partition(":")
        slow = (op, float(secs))
    if args.failover and not args.log:
        ap.error("--failover: a standby follows the shard's journal: give --log")
    failover = None
    if args.failover:
        from ramparts.bus.failover import FailoverConfig

        try:
            failover = FailoverConfig(ttl_s=args.lease_ttl)
        except InvalidInput as exc:
            ap.error(f"--lease-ttl: {exc.message}")
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(ShardNode(k, n, args.nats, args.prefix, log=args.log, durability=args.durability,
                          crash_after=crash, slow=slow, storm=args.storm).serve(failover))


if __name__ == "__main__":
    main()


__all__ = ["BusCluster", "RemoteLink", "RemotePart", "ShardNode", "ShardUnreachable", "main", "shard_lease_bucket"]
