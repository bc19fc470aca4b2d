"""The single deterministic writer: one thread owns the :class:`~ramparts.engine.node.Node`.

Every engine access of the service, write or read, runs on one dedicated thread, in FIFO order, so
the engine never sees two callers at once and every read is a snapshot between two commits.
Writes go through an asyncio queue drained by one writer task, which *group-commits*: the events
of every request waiting at that moment are applied in arrival order and journaled in one
transaction (:meth:`Node.submit_batch`), and each request's future is resolved with its own
outcomes only after that transaction committed. A rejected event changes nothing and is not
journaled; a failed journal transaction fails every request of the batch (the node rebuilds its
memory from the journal).

Events without a ``ts`` are stamped with the wall clock, never earlier than the engine's time or
than an earlier event of the same batch, so defaulted events are never rejected for their time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ramparts.engine.engine import Engine
from ramparts.engine.node import Node, Outcome


class Writer:
    """Owns the node on its own thread; see the module docstring."""

    def __init__(self, journal_url: str, *, namespace: str = "ramparts", durability: str = "full", snapshot_every: int = 0,
                 bootstrap: Sequence[Any] | None = None, max_batch: int = 2048,
                 after_commit: Callable[[Engine], Any] | None = None):
        self.journal_url, self.namespace, self.durability = journal_url, namespace, durability
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
        for ev in events:
            ts = ev.get("ts")
            if ts is None:
                ev["ts"] = max(now, clock)
                clock = ev["ts"]
            elif isinstance(ts, int) and ts >= clock:
                clock = ts
        t0 = time.perf_counter()
        outcomes = node.submit_batch(events)
        seconds = time.perf_counter() - t0
        stats = self.after_commit(node.engine) if self.after_commit else None
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
                    import logging

                    logging.getLogger("ramparts.service").exception("commit listener failed")
            if stop:
                return


__all__ = ["Writer"]
