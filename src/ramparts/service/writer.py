"""The single deterministic writer: one thread owns the :class:`~ramparts.engine.node.Node`.

Every engine access of the service, write or read, runs on one dedicated thread, in FIFO order, so
the engine never sees two callers at once and every read is a snapshot between two commits.
Writes go through an asyncio queue drained by one writer task, which *group-commits*: the events
of every request waiting at that moment are applied in arrival order and journaled in one
transaction (:meth:`Node.submit_batch`), and each request's future is resolved with its own
outcomes only after that transaction committed. A rejected event changes nothing and is not
journaled; an event that fails for any other reason is reported as
:class:`~ramparts.errors.EventFailed` and changes nothing either (the node rebuilds its memory from
the journal and applies the rest of the batch without it), so one request's bad event never fails
the others; a failed journal transaction fails every request of the batch (the node rebuilds its
memory from the journal).

Time is the writer's business, never the engine's (which must not read the wall clock: replay would
depend on it). Events without a ``ts`` are stamped with the wall clock, never earlier than the
engine's time or than an earlier event of the same batch, so defaulted events are never rejected
for their time. An event whose own ``ts`` is more than ``max_clock_skew_ns`` (default 5 minutes)
ahead of the wall clock is refused (``InvalidInput`` on ``ts``) without reaching the engine: the
engine's time never goes backwards, so one far-future stamp would otherwise move it there for good.
A ``ts`` in the past is the engine's to refuse (before the engine time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ramparts.engine.engine import Engine
from ramparts.engine.node import Node, Outcome
from ramparts.errors import InvalidInput

#: Default of the furthest an event's own ``ts`` may be ahead of the wall clock (5 minutes, ns).
MAX_CLOCK_SKEW_NS = 300 * 10**9


class Writer:
    """Owns the node on its own thread; see the module docstring."""

    def __init__(self, journal_url: str, *, namespace: str = "ramparts", durability: str = "full", snapshot_every: int = 0,
                 bootstrap: Sequence[Any] | None = None, max_batch: int = 2048,
                 after_commit: Callable[[Engine], Any] | None = None, max_clock_skew_ns: int = MAX_CLOCK_SKEW_NS):
        if max_clock_skew_ns < 0:
            raise InvalidInput("max_clock_skew_ns", f"must be non-negative, got {max_clock_skew_ns}")
        self.journal_url, self.namespace, self.durability = journal_url, namespace, durability
        self.max_clock_skew_ns = max_clock_skew_ns
        self.snapshot_every = snapshot_every
        self.bootstrap = bootstrap
        self.max_batch = max_batch
        self.after_commit = after_commit
        self.listeners: list[Callable[[list[dict], list[Outcome], float, Any], None]] = []
        self.node: Node | None = None
        self._ex = ThreadPoolExecutor(1, thread_name_prefix="ramparts-writer")
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    # -- life cycle ------------------------------------------------------------------------
    def _open(self) -> Node:
        node = Node.open(self.journal_url, durability=self.durability, snapshot_every=self.snapshot_every, namespace=self.namespace)
        if node.engine.seq == 0:
            if self.bootstrap is None:
                from ramparts.engine.presets import genesis

                boot = [genesis(ts=0)]
            else:
                boot = list(self.bootstrap)
            for event in boot:
                node.submit(event)
        return node

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.node = await loop.run_in_executor(self._ex, self._open)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="ramparts-writer")

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self.node is not None:
            await asyncio.get_running_loop().run_in_executor(self._ex, self.node.close)
            self.node = None
        self._ex.shutdown(wait=True)

    # -- API ---------------------------------------------------------------------------------
    async def submit(self, events: list[dict]) -> list[Outcome]:
        """Journal ``events`` (dicts with a ``kind``); returns one outcome each, after the commit."""
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((events, fut))
        return await fut

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(engine, *args)`` on the writer thread, between two commits."""
        return await asyncio.get_running_loop().run_in_executor(self._ex, lambda: fn(self.node.engine, *args))

    async def journal(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(journal, *args)`` on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._ex, lambda: fn(self.node.journal, *args))

    # -- the writer task -----------------------------------------------------------------------
    def _commit(self, events: list[dict]) -> tuple[list[Outcome], float, Any]:
        node = self.node
        clock = node.engine.time_ns
        now = time.time_ns()
        latest = now + self.max_clock_skew_ns
        early: dict[int, Outcome] = {}  # refused here, by position in ``events``
        admitted: list[dict] = []
        for i, ev in enumerate(events):
            ts = ev.get("ts")
            if ts is None:
                ev["ts"] = max(now, clock)
                clock = ev["ts"]
            elif isinstance(ts, int) and ts > latest:
                ahead = (ts - now) / 1e9
                early[i] = Outcome(None, None, InvalidInput(
                    "ts", f"{ts} is {ahead:.0f} s ahead of the service's clock (at most {self.max_clock_skew_ns / 1e9:g} s)"))
                continue
            elif isinstance(ts, int) and ts >= clock:
                clock = ts
            admitted.append(ev)
        t0 = time.perf_counter()
        outcomes = node.submit_batch(admitted)
        seconds = time.perf_counter() - t0
        if early:
            it = iter(outcomes)
            outcomes = [early[i] if i in early else next(it) for i in range(len(events))]
        try:
            stats = self.after_commit(node.engine) if self.after_commit else None
        except Exception:  # noqa: BLE001 - the batch is journaled: a statistic never fails its requests
            logging.getLogger("ramparts.service").exception("commit statistics failed")
            stats = None
        return outcomes, seconds, stats

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        q = self._queue
        while True:
            item = await q.get()
            if item is None:
                return
            items = [item]
            n = len(item[0])
            stop = False
            while n < self.max_batch and not q.empty():
                nxt = q.get_nowait()
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
                n += len(nxt[0])
            flat = [ev for evs, _ in items for ev in evs]
            try:
                outcomes, seconds, stats = await loop.run_in_executor(self._ex, self._commit, flat)
            except BaseException as exc:  # the journal failed: nothing of this batch is acknowledged
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                if stop:
                    return
                continue
            i = 0
            for evs, fut in items:
                if not fut.done():
                    fut.set_result(outcomes[i : i + len(evs)])
                i += len(evs)
            for listener in self.listeners:
                try:
                    listener(flat, outcomes, seconds, stats)
                except Exception:  # noqa: BLE001 - a listener never stops the writer
                    logging.getLogger("ramparts.service").exception("commit listener failed")
            if stop:
                return


__all__ = ["MAX_CLOCK_SKEW_NS", "Writer"]
