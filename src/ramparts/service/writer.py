"""The single deterministic writer: one thread owns the :class:`~ramparts.engine.node.Node`.

Every engine access of the service runs on one dedicated thread, in FIFO order, so the engine never
sees two callers at once. Reads do not queue here: they are served from views the read side
publishes (:mod:`ramparts.service.readview`), each a frozen copy taken on this thread between two
commits when a reader needs one (:meth:`Writer.on_writer_thread`, rate-budgeted there), and the
state hash is computed from a forked copy-on-write image, off this thread. :attr:`Writer.seq` is
the last committed seq (what a read waits for by default); :attr:`Writer.listeners` are told of
each commit on the event loop.

The writer thread shares the GIL with the event loop and the read threads, and a commit gives it up
several times (each SQLite or PostgreSQL call releases it; ``fsync`` is the longest). Taking it back
while another thread runs Python waits up to the interpreter's switch interval, 5 ms by default: a
busy event loop would stretch every commit by several of those (measured: SQLite ``full`` commits
fall to ~0.3× beside one busy Python thread at 5 ms, unchanged at 0.5 ms). So :meth:`Writer.start`
lowers the process's switch interval to ``gil_switch_s`` (default 0.5 ms; ``None`` leaves it) while it runs, and
puts the previous value back when it stops.

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

One writer per journal: before it opens the journal the writer takes a :class:`JournalLease`, an
exclusive lock held until it stops (for a SQLite journal an ``flock`` on ``<journal>.lock``, or
``<journal>.<namespace>.lock``, beside it; for PostgreSQL a session advisory lock on a connection
of its own), so a second ``serve`` on the same journal is refused at start
(:class:`JournalInUse`, naming the lock and the holder's pid) instead of failing writes later. The
kernel releases the lock when the process dies, ``kill -9`` included. Should an append still find
that the journal moved on under the service (another program appended), the requests of that batch
get :class:`JournalConflict` (HTTP 409) and the node rebuilds its memory from the journal.

Bounded restarts: the writer opens the node from the latest snapshot plus the events after it, and
records what that took in :attr:`Writer.recovery` (seconds, seq, the snapshot's seq, events
replayed). It saves a snapshot every ``snapshot_every`` events (default 100,000) and, with
``snapshot_interval_s``, also when that many seconds passed since the last one and events arrived
(checked after commits and by a timer); a restart therefore replays at most about
``snapshot_every`` events. A failed snapshot is logged and never fails the requests of a batch
already journaled. A snapshot is O(state) (10 s at a million sub-accounts x 4 positions), so it is not
encoded on the writer thread: the writer forks (``snapshot_mode="auto"``, as the read side does for the
state hash, :func:`ramparts.service.readview.fork_child`), the child encodes the state hash and the
snapshot from its copy-on-write image of that commit and writes them to a pipe, and a thread of the
service stores them in the journal (whose lock orders that write with the appends); the writer pays the
fork and goes on. One snapshot at a time; ``snapshot_stats`` counts them and their writer-thread and
child seconds. Without ``os.fork`` (or with ``snapshot_mode="inline"``) the writer encodes it itself. :meth:`Writer.open` does the recovery synchronously (``ramparts serve`` calls it
before the server starts, so a journal that cannot be opened is one line on the terminal, and the
recovery time is printed); otherwise :meth:`Writer.start` does it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ramparts.engine.engine import Engine
from ramparts.engine.node import Node, Outcome, replay
from ramparts.errors import InvalidInput, RampartsError
from ramparts.journal import JournalUnavailable, journal_file, open_journal
from ramparts.service.readview import collect_child, fork_child

#: Default of the furthest an event's own ``ts`` may be ahead of the wall clock (5 minutes, ns).
MAX_CLOCK_SKEW_NS = 300 * 10**9

#: Default number of events between two snapshots.
SNAPSHOT_EVERY = 100_000

#: Default GIL switch interval the writer sets (seconds): see the module docstring.
GIL_SWITCH_S = 0.0005

log = logging.getLogger("ramparts.service")


class JournalInUse(JournalUnavailable):
    """Another process (another ``serve``) holds this journal's :class:`JournalLease`."""


class JournalConflict(RampartsError):
    """The journal moved on under this service (another program appended to it): HTTP 409, a
    conflict on the server's side, not the request's fault. The service reloaded the journal."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


_PG_APP = "ramparts-lease: "  # the lease connection's application_name, then the program holding it


def _holder(program: str, where: str) -> str:
    """``another ramparts run (pid 42)``: who holds a lease, from what the lock recorded (either may be unknown)."""
    name = program.strip() if program.strip().startswith("ramparts") else "ramparts process"
    return f"another {name}" + (f" ({where})" if where else "")


class JournalLease:
    """The exclusive right to write one journal, held from :meth:`acquire` to :meth:`release`.

    SQLite: ``fcntl.flock`` on ``<file>.lock`` (``<file>.<namespace>.lock`` for another namespace),
    which holds the holder's pid and program (``ramparts serve`` or ``ramparts run``). PostgreSQL:
    ``pg_try_advisory_lock`` on a connection of its own, whose ``application_name`` names the program.
    A refusal names the program and pid that hold the lease.
    An in-memory journal needs none. The lock file is left in place when released (removing it
    would let two processes lock two different files).
    """

    def __init__(self, url: str, namespace: str = "ramparts", program: str = "ramparts serve"):
        self.url, self.namespace, self.program = str(url), namespace, program
        self._fd: int | None = None
        self._pg = None
        self.where: str | None = None

    def acquire(self) -> None:
        if self._fd is not None or self._pg is not None:
            return
        lowered = self.url.lower()
        if lowered.startswith(("postgresql://", "postgres://")):
            self._acquire_pg()
            return
        path = journal_file(self.url)
        if path is None:  # in memory: private to this process
            return
        import fcntl

        real = os.path.realpath(path)  # one lock whatever the path that names the journal
        self.where = f"{real}.lock" if self.namespace == "ramparts" else f"{real}.{self.namespace}.lock"
        try:
            fd = os.open(self.where, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            try:
                fd = os.open(self.where, os.O_RDONLY)
            except OSError as exc:
                raise JournalUnavailable(f"journal sqlite:{path}: cannot open its lock file {self.where}: {exc.strerror}") from None
        except OSError as exc:
            raise JournalUnavailable(f"journal sqlite:{path}: cannot open its lock file {self.where}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 96, 0).decode("ascii", "replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            pid, _, program = holder.partition(" ")
            raise JournalInUse(f"journal sqlite:{path} is in use by {_holder(program, f'pid {pid}' if pid.isdigit() else '')}: it holds "
                               f"{self.where}; a journal has one writer (stop the other, or give this one another --journal)") from None
        except OSError as exc:
            os.close(fd)
            raise JournalUnavailable(f"journal sqlite:{path}: cannot lock {self.where}: {exc.strerror}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self.program}\n".encode("ascii", "replace"), 0)
        except OSError:
            pass  # a read-only lock file still locks
        self._fd = fd

    def _acquire_pg(self) -> None:
        import psycopg

        from ramparts.journal.postgres import redact_url

        url = self.url if not self.url.lower().startswith("postgres://") else "postgresql://" + self.url[len("postgres://"):]
        self.where = f"{redact_url(url)} namespace {self.namespace}"
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name=f"{_PG_APP}{self.program}"[:63])
            got, holder, app = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext('ramparts.serve'), hashtext(%s)), h.pid, a.application_name"
                " FROM (SELECT 1) one LEFT JOIN (SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                "  AND l.classid::int = hashtext('ramparts.serve') AND l.objid::int = hashtext(%s) LIMIT 1) h ON true"
                " LEFT JOIN pg_stat_activity a ON a.pid = h.pid",
                (self.namespace, self.namespace)).fetchone()
        except psycopg.Error as exc:
            raise JournalUnavailable(f"journal {self.where}: cannot take the writer's lease: {' '.join(str(exc).split())}") from None
        if not got:
            conn.close()
            program = app[len(_PG_APP):] if isinstance(app, str) and app.startswith(_PG_APP) else ""
            raise JournalInUse(f"journal {self.where} is in use by "
                               f"{_holder(program, f'PostgreSQL backend pid {holder}' if holder else '')}: "
                               "a journal has one writer (stop the other, or give this one another namespace)")
        self._pg = conn

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception:  # noqa: BLE001 - the session's end releases the lock anyway
                pass
            self._pg = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._pg is not None


class _CountingJournal:
    """A journal as :func:`replay` sees it, counting the rows it reads (the events replayed)."""

    def __init__(self, journal):
        self._journal = journal
        self.rows = 0

    def latest_snapshot(self, *args, **kwargs):
        return self._journal.latest_snapshot(*args, **kwargs)

    def read(self, *args, **kwargs) -> Iterator:
        for rec in self._journal.read(*args, **kwargs):
            self.rows += 1
            yield rec

    def __getattr__(self, name: str):
        return getattr(self._journal, name)


def _snapshot_bytes(engine: Engine) -> bytes:
    """What a snapshot child writes: the state hash (64 ASCII hex digits), a newline, the snapshot blob."""
    state_hash, blob = engine.snapshot_and_hash()
    return state_hash.encode("ascii") + b"\n" + blob


class Writer:
    """Owns the node on its own thread; see the module docstring."""

    def __init__(self, journal_url: str, *, namespace: str = "ramparts", durability: str = "full",
                 snapshot_every: int = SNAPSHOT_EVERY, snapshot_interval_s: float = 0.0,
                 bootstrap: Sequence[Any] | None = None, max_batch: int = 2048,
                 after_commit: Callable[[Engine], Any] | None = None, max_clock_skew_ns: int = MAX_CLOCK_SKEW_NS,
                 gil_switch_s: float | None = GIL_SWITCH_S, snapshot_mode: str = "auto",
                 snapshot_timeout_s: float = 600.0):
        if max_clock_skew_ns < 0:
            raise InvalidInput("max_clock_skew_ns", f"must be non-negative, got {max_clock_skew_ns}")
        if snapshot_every < 0:
            raise InvalidInput("snapshot_every", f"must be non-negative (0: never by count), got {snapshot_every}")
        if snapshot_interval_s < 0:
            raise InvalidInput("snapshot_interval_s", f"must be non-negative (0: never by time), got {snapshot_interval_s}")
        self.journal_url, self.namespace, self.durability = journal_url, namespace, durability
        self.max_clock_skew_ns = max_clock_skew_ns
        self.gil_switch_s = gil_switch_s
        self._switch_before: float | None = None  # the process's switch interval before start() lowered it
        if snapshot_mode not in ("auto", "fork", "inline"):
            raise InvalidInput("snapshot_mode", f"{snapshot_mode!r} is not auto, fork or inline")
        self.snapshot_every = snapshot_every
        self.snapshot_interval_s = float(snapshot_interval_s)
        #: where a snapshot is encoded: "fork" (a forked child, the writer pays the fork) or "inline" (the writer)
        self.snapshot_mode = "inline" if snapshot_mode == "inline" or not hasattr(os, "fork") else "fork"
        self.snapshot_timeout_s = float(snapshot_timeout_s)
        #: what snapshots cost: taken, failed, writer-thread seconds (the fork, or the whole snapshot inline) and
        #: the children's seconds (encoding and saving, off the writer)
        self.snapshot_stats = {"taken": 0, "failed": 0, "writer_s": 0.0, "child_s": 0.0}
        self._snap_thread: threading.Thread | None = None
        self.lease = JournalLease(journal_url, namespace)
        #: What opening the node took: ``seconds``, ``seq``, ``snapshot_seq`` (0: none), ``replayed``
        #: (events applied after the snapshot) and ``bootstrapped`` (events journaled into an empty journal).
        self.recovery: dict[str, Any] | None = None
        self._snap_seq = 0
        self._snap_time = time.monotonic()
        self._ticker: asyncio.Task | None = None
        self.bootstrap = bootstrap
        self.max_batch = max_batch
        self.after_commit = after_commit
        self.listeners: list[Callable[[list[dict], list[Outcome], float, Any], None]] = []
        self.node: Node | None = None
        #: the last committed seq (set on the writer thread after each commit; read anywhere)
        self.seq = 0
        #: events submitted and not yet answered (queued or being committed): the most seq can move soon
        self.pending = 0
        self._ex = ThreadPoolExecutor(1, thread_name_prefix="ramparts-writer")
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._busy: deque[tuple[float, float]] = deque()  # (end, seconds) of the commits of the last second, loop time
        self._busy_s = 0.0  # their sum

    # -- life cycle ------------------------------------------------------------------------
    def _open(self) -> Node:
        """Take the lease, open the journal, replay it from its latest snapshot (on the writer thread)."""
        if self.node is not None:
            return self.node
        self.lease.acquire()
        try:
            t0 = time.perf_counter()
            journal = open_journal(self.journal_url, durability=self.durability, namespace=self.namespace)
            try:
                counting = _CountingJournal(journal)
                engine = replay(counting)
                node = Node(journal, engine, snapshot_every=0)  # the writer decides when to snapshot
            except BaseException:
                journal.close()
                raise
            seconds = time.perf_counter() - t0
            replayed = counting.rows
            self._snap_seq = engine.seq - replayed
            self._snap_time = time.monotonic()
            booted = 0
            if node.engine.seq == 0:
                if self.bootstrap is None:
                    from ramparts.engine.presets import genesis

                    boot = [genesis(ts=0)]
                else:
                    boot = list(self.bootstrap)
                for event in boot:
                    node.submit(event)
                booted = len(boot)
        except BaseException:
            self.lease.release()
            raise
        self.node = node
        self.seq = node.engine.seq
        self.recovery = {"seconds": seconds, "seq": node.engine.seq, "snapshot_seq": self._snap_seq, "replayed": replayed,
                         "bootstrapped": booted}
        log.info("journal recovered", extra={"fields": {k: round(v, 6) if isinstance(v, float) else v for k, v in self.recovery.items()}})
        self._maybe_snapshot()  # a long replay is not paid again at the next restart
        return node

    def open(self) -> dict[str, Any]:
        """Open the node now, synchronously, on the writer thread; returns :attr:`recovery`. Raises
        :class:`JournalInUse` when another process holds the journal, or the journal's own errors."""
        self._ex.submit(self._open).result()
        return self.recovery

    async def start(self) -> None:
        if self.gil_switch_s:  # the writer takes the GIL back within this long of wanting it (see the module docstring)
            self._switch_before = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_before, self.gil_switch_s))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._ex, self._open)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="ramparts-writer")
        if self.snapshot_interval_s > 0:
            self._ticker = asyncio.create_task(self._tick(), name="ramparts-snapshots")

    async def stop(self) -> None:
        if self._switch_before is not None:  # the process's own setting, back as it was
            sys.setswitchinterval(self._switch_before)
            self._switch_before = None
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        saving = self._snap_thread  # (the thread clears the attribute itself when it ends)
        if saving is not None:  # a snapshot being saved: let it land before the journal closes
            await asyncio.get_running_loop().run_in_executor(None, saving.join, self.snapshot_timeout_s)
        if self.node is not None:
            await asyncio.get_running_loop().run_in_executor(self._ex, self.node.close)
            self.node = None
        self.lease.release()
        self._ex.shutdown(wait=True)

    # -- snapshots -------------------------------------------------------------------------------
    def _maybe_snapshot(self) -> None:
        """Save a snapshot when ``snapshot_every`` events or ``snapshot_interval_s`` seconds passed
        since the last one (writer thread). A failure is logged, never raised."""
        node = self.node
        if node is None:
            return
        try:
            seq = node.engine.seq
        except Exception:  # noqa: BLE001 - the journal is unreachable: the next commit reports it
            return
        behind = seq - self._snap_seq
        if behind <= 0:
            return
        due = (self.snapshot_every and behind >= self.snapshot_every) or \
              (self.snapshot_interval_s > 0 and time.monotonic() - self._snap_time >= self.snapshot_interval_s)
        if not due:
            return
        if self._snap_thread is not None:  # the previous one is still being encoded or saved
            return
        t0 = time.perf_counter()
        if self.snapshot_mode == "fork":
            try:
                pid, fd = fork_child(lambda: _snapshot_bytes(node.engine))
            except OSError:
                log.exception("could not fork a snapshot child at seq %d; snapshots are taken on the writer thread", seq)
                self.snapshot_mode = "inline"
            else:
                node.compact_if_scattered()  # the child has its copy: the writer may lay its book out now
                self.snapshot_stats["writer_s"] += time.perf_counter() - t0
                self._snap_time = time.monotonic()  # not again until this one is done (or failed)
                self._snap_thread = threading.Thread(target=self._save_forked, args=(node, pid, fd, seq, behind),
                                                     name="ramparts-snapshot", daemon=True)
                self._snap_thread.start()
                return
        try:
            node.take_snapshot()
        except Exception:  # noqa: BLE001 - the events are journaled: a snapshot is only an optimisation
            log.exception("snapshot at seq %d failed", seq)
            self.snapshot_stats["failed"] += 1
            self._snap_time = time.monotonic()  # not again at once
            return
        took = time.perf_counter() - t0
        self.snapshot_stats["taken"] += 1
        self.snapshot_stats["writer_s"] += took
        self._snap_seq, self._snap_time = seq, time.monotonic()
        log.info("snapshot saved", extra={"fields": {"seq": seq, "events_since_last": behind, "seconds": round(took, 6)}})

    def _save_forked(self, node: Node, pid: int, fd: int, seq: int, behind: int) -> None:
        """(A thread of its own.) Read the child's snapshot of ``seq`` (hash, then blob) and store it in the journal,
        whose lock orders it with the writer's appends; a failed or late child is logged, nothing is stored."""
        t0 = time.perf_counter()
        try:
            data = collect_child(pid, fd, self.snapshot_timeout_s)
            if data is None or len(data) < 65 or data[64:65] != b"\n":
                raise RuntimeError("the snapshot child failed or ran past its time")
            node.journal.save_snapshot(seq, data[:64].decode("ascii"), data[65:])
        except Exception:  # noqa: BLE001 - the events are journaled: a snapshot is only an optimisation
            log.exception("snapshot at seq %d failed", seq)
            self.snapshot_stats["failed"] += 1
        else:
            self.snapshot_stats["taken"] += 1
            self._snap_seq = seq
            node._last_snapshot = seq
            log.info("snapshot saved", extra={"fields": {"seq": seq, "events_since_last": behind, "forked": True,
                                                         "seconds": round(time.perf_counter() - t0, 6)}})
        finally:
            self.snapshot_stats["child_s"] += time.perf_counter() - t0
            self._snap_time = time.monotonic()
            self._snap_thread = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.snapshot_interval_s, 60.0))
            await loop.run_in_executor(self._ex, self._maybe_snapshot)

    # -- API ---------------------------------------------------------------------------------
    async def submit(self, events: list[dict]) -> list[Outcome]:
        """Journal ``events`` (dicts with a ``kind``); returns one outcome each, after the commit."""
        fut = asyncio.get_running_loop().create_future()
        self.pending += len(events)
        try:
            await self._queue.put((events, fut))
            return await fut
        finally:
            self.pending -= len(events)

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(engine, *args)`` on the writer thread, between two commits. It holds up every write
        behind it: the read routes use published views instead (:mod:`ramparts.service.readview`)."""
        return await asyncio.get_running_loop().run_in_executor(self._ex, lambda: fn(self.node.engine, *args))

    async def journal(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(journal, *args)`` on the writer thread (the read routes use a connection of their
        own, :class:`~ramparts.service.readview.ReadJournal`, but for an in-memory journal)."""
        return await asyncio.get_running_loop().run_in_executor(self._ex, lambda: fn(self.node.journal, *args))

    def _forget(self, now: float) -> None:
        busy = self._busy
        while busy and busy[0][0] <= now - 1.0:
            self._busy_s -= busy.popleft()[1]
        if not busy:
            self._busy_s = 0.0  # no rounding left over

    def utilisation(self) -> float:
        """The share of the last second the writer spent committing (event loop time; on the loop)."""
        self._forget(asyncio.get_running_loop().time())
        return max(self._busy_s, 0.0)

    async def on_writer_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the writer thread, between two commits (the read side's captures)."""
        return await asyncio.get_running_loop().run_in_executor(self._ex, fn, *args)

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
        try:
            outcomes = node.submit_batch(admitted)
        except InvalidInput as exc:  # from the journal's append: it no longer ends where this node thought
            raise JournalConflict(f"the journal moved on under this service (another program appended to it: {exc.message}); "
                                  "nothing of this request was stored and the service reloaded the journal: retry") from None
        seconds = time.perf_counter() - t0
        self.seq = node.engine.seq
        self._maybe_snapshot()
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
            t0 = loop.time()
            try:
                outcomes, seconds, stats = await loop.run_in_executor(self._ex, self._commit, flat)
            except BaseException as exc:  # the journal failed: nothing of this batch is acknowledged
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                if stop:
                    return
                continue
            end = loop.time()
            self._busy.append((end, end - t0))
            self._busy_s += end - t0
            self._forget(end)
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


__all__ = ["GIL_SWITCH_S", "MAX_CLOCK_SKEW_NS", "SNAPSHOT_EVERY", "JournalConflict", "JournalInUse", "JournalLease", "Writer"]
