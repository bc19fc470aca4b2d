"""Failover for ``ramparts run``: one primary per journal, hot standbys that take over (issue 25, item 3).

Every process started with ``ramparts run --failover`` on the same journal, streams and durable
consumer is a candidate. The one holding the lease is the primary and runs a
:class:`~ramparts.bus.runner.BusRunner`; the others are standbys. All are started the same way.

The lease
    A key (the durable consumer's name) in the JetStream key-value bucket ``<STREAM_PREFIX>_LEASE``,
    whose TTL (the stream's ``max_age``) is the lease's length, ``ttl_s``. A candidate takes the
    lease with ``create``, which JetStream stores only while the key is absent (a compare-and-set on
    the key's last revision). The primary renews it every quarter TTL with ``update(last=revision)``.
    A killed primary stops renewing, its entry expires one TTL after its last renewal, and the first
    standby to ``create`` the key is the new primary. A clean stop deletes the key, so a standby
    takes over at once. The value is ``"<host> <pid>"`` of the holder (:func:`lease_holder`).

Fencing
    The lease says who should write; the journal's writer lease
    (:class:`~ramparts.service.writer.JournalLease`: ``flock`` for SQLite, an advisory lock for
    PostgreSQL) makes sure only one process does. A new primary takes the writer lease before it
    touches the journal and waits while the old primary's process still holds it (a killed
    process's lock dies with it). A primary that has not renewed for ¾ of the TTL (NATS unreachable)
    or finds its entry replaced (it paused for longer than the TTL) steps down. It finishes the
    group in hand, releases the journal and stands by again. Acknowledgements to the stream follow
    the journal's commit, and a primary resumes after the journal's cursor
    (:mod:`ramparts.bus.runner`), so a takeover loses no acknowledged event and applies none twice.

Hot standby
    While it waits, a standby keeps an engine equal to the journal's replay: every ``poll_s`` it
    applies the rows the primary has appended since (:func:`~ramparts.engine.node.replay_rows`,
    effects checked as in a replay). On taking over it applies only the rows written since its last
    look. The runner then publishes again the effects the old primary could not confirm.

Failover time after a kill: what was left of the TTL at the kill (at most ``ttl_s``), plus at most
``poll_s``, plus the journal tail and the consumer's re-creation. :class:`FailoverStats` records each
takeover (``benchmarks/bench_failover.py`` measures kill to consuming).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ramparts.bus.cursor import open_bus_journal
from ramparts.bus.runner import BusRunner, BusStats, BusUnavailable, connect
from ramparts.errors import InvalidInput

log = logging.getLogger("ramparts.bus.failover")

_BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_KEY_RE = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


@dataclass
class FailoverConfig:
    """The lease's length and how often a standby looks (see the module docstring)."""

    #: Seconds a lease lasts without renewal (the bucket's TTL); the primary renews every quarter.
    ttl_s: float = 3.0
    #: Seconds between a standby's tries of the lease (and looks at the journal).
    poll_s: float = 0.1
    #: The holder's name stored in the lease.
    identity: str = field(default_factory=lambda: f"{socket.gethostname()} {os.getpid()}")

    def __post_init__(self) -> None:
        if not 0.5 <= self.ttl_s <= 3600:
            raise InvalidInput("lease_ttl", f"{self.ttl_s:g} s is outside 0.5 .. 3600 s")
        if not 0.01 <= self.poll_s <= self.ttl_s:
            raise InvalidInput("lease_poll", f"{self.poll_s:g} s is outside 0.01 s .. the lease's TTL")


@dataclass
class Takeover:
    """One term as primary: when the lease was won and what it took to start consuming."""

    won_at: float  # time.time() when the lease was won
    journal_lease_wait_s: float  # waiting for the old primary's writer lease to go
    tail_rows: int  # journal rows applied at takeover (written since the standby's last look)
    consuming_at: float | None = None  # time.time() when the consumer was (re)created
    stepped_down: bool = False


@dataclass
class FailoverStats:
    """What a candidate did: its terms as primary and, per term, the runner's stats."""

    takeovers: list[Takeover] = field(default_factory=list)
    runs: list[BusStats] = field(default_factory=list)
    rows_followed: int = 0

    @property
    def applied(self) -> int:
        return sum(r.applied for r in self.runs)


def lease_bucket(stream_prefix: str) -> str:
    """The key-value bucket holding the lease of the engines whose streams are ``<stream_prefix>_*``."""
    bucket = f"{stream_prefix}_LEASE"
    if not _BUCKET_RE.match(bucket):
        raise InvalidInput("stream_prefix", f"{stream_prefix!r}: a lease bucket name may hold only letters, digits, _ and -")
    return bucket


async def open_lease_bucket(js, bucket: str, ttl_s: float, *, replicas: int = 1):
    """The lease bucket (created with the TTL if missing, file storage, one revision a key, ``replicas``
    copies on a JetStream cluster); a bucket that exists with another TTL is refused (two lease lengths
    would break the takeover's timing)."""
    from nats.js import api
    from nats.js.errors import BucketNotFoundError, NotFoundError

    try:
        kv = await js.key_value(bucket)
    except (BucketNotFoundError, NotFoundError):
        kv = await js.create_key_value(api.KeyValueConfig(bucket=bucket, ttl=ttl_s, history=1,
                                                          storage=api.StorageType.FILE, replicas=replicas))
    status = await kv.status()
    have = status.ttl or 0.0
    if abs(have - ttl_s) > 1e-3:
        raise InvalidInput("lease_ttl", f"{ttl_s:g} s differs from the {have:g} s of the existing bucket {bucket} "
                                        "(every candidate must use the same; or delete the bucket)")
    return kv


async def lease_holder(kv, key: str) -> str | None:
    """Who holds the lease ``key`` now (``"<host> <pid>"``), or ``None``."""
    from nats.js.errors import KeyDeletedError, KeyNotFoundError

    try:
        entry = await kv.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    return entry.value.decode() if entry.value else None


class Failover:
    """A candidate: stands by (following the journal) until it holds the lease, then runs a
    :class:`~ramparts.bus.runner.BusRunner` made by ``make_runner`` until it stops or steps down;
    see the module docstring. ``await run()``; :meth:`stop` ends it (a primary releases the lease)."""

    def __init__(self, make_runner: Callable[[], BusRunner], config: FailoverConfig | None = None):
        self.make_runner = make_runner
        self.config = config or FailoverConfig()
        probe = make_runner()
        self.bus = probe.config
        self.journal_url, self.namespace, self.durability = probe.journal_url, probe.namespace, probe.durability
        self.bucket = lease_bucket(self.bus.subjects.stream_prefix)
        self.key = self.bus.durable
        if not _KEY_RE.match(self.key):
            raise InvalidInput("durable", f"{self.key!r} is not a valid key for the lease")
        self.stats = FailoverStats()
        self.runner: BusRunner | None = None
        #: Set while this candidate is the primary.
        self.leading = asyncio.Event()
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._journal = None
        self._engine = None

    # ------------------------------------------------------------------------------------ control

    def stop(self) -> None:
        """Stop: a standby at once, a primary after its current round (it then deletes the lease)."""
        self._stopping = True
        if self.runner is not None:
            self.runner.stop()
        if self._wake is not None:
            self._wake.set()

    def _on_lost(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def stop_threadsafe(self) -> None:
        """:meth:`stop` from another thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.stop)
        else:
            self._stopping = True

    # ------------------------------------------------------------------------------------ the loop

    async def run(self) -> FailoverStats:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        nc = await connect(self.bus, "ramparts-run-lease")
        pool = ThreadPoolExecutor(1, thread_name_prefix="ramparts-bus-node")
        try:
            kv = await self._lease_bucket(nc)
            while not self._stopping:
                lease = Lease(kv, self.key, self.config, on_lost=self._on_lost)
                if not await self._stand_by(lease, pool):
                    break
                await self._lead(lease, pool)
            return self.stats
        finally:
            await self._close_follower(pool)
            pool.shutdown(wait=True)
            try:
                await nc.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    async def _lease_bucket(self, nc):
        """The lease bucket, looked up (or created) again while JetStream does not answer."""
        delay = 0.1
        while True:
            try:
                return await open_lease_bucket(nc.jetstream(timeout=self.bus.publish_timeout_s), self.bucket,
                                               self.config.ttl_s, replicas=self.bus.replicas)
            except InvalidInput:
                raise
            except Exception as exc:  # noqa: BLE001 - timeouts while a node or the cluster's leader is down
                if self._stopping:
                    raise BusUnavailable(f"JetStream did not answer ({exc or type(exc).__name__})") from None
                log.warning("opening the lease bucket failed (%s); trying again", exc or type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0)

    async def _in(self, pool, fn):
        return await self._loop.run_in_executor(pool, fn)

    # ------------------------------------------------------------------------------------ standby

    def _follow(self) -> int:
        """On the pool's thread: bring the followed engine to the journal's end; rows applied."""
        from ramparts.engine.node import replay, replay_rows

        if self._journal is None:
            self._journal = open_bus_journal(self.journal_url, durability=self.durability, namespace=self.namespace)
            self._engine = replay(self._journal)
            return 0
        return replay_rows(self._engine, self._journal)

    async def _close_follower(self, pool) -> None:
        journal, self._journal, self._engine = self._journal, None, None
        if journal is not None:
            await self._in(pool, journal.close)

    async def _stand_by(self, lease: Lease, pool) -> bool:
        """Follow the journal until the lease is won (``True``) or the candidate stops (``False``)."""
        announced = False
        while not self._stopping:
            if await lease.try_take():
                return True
            if not announced:
                log.info("standing by: the lease %s/%s is held by %s", self.bucket, self.key,
                         await lease.holder() or "another candidate")
                announced = True
            self.stats.rows_followed += await self._in(pool, self._follow)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.poll_s)
            except TimeoutError:
                pass
        return False

    # ------------------------------------------------------------------------------------ primary

    async def _lead(self, lease: Lease, pool) -> None:
        """One term as primary: the lease is held; take the journal, run until stopped or stepped down."""
        from ramparts.service.writer import JournalInUse, JournalLease

        won = time.time()
        writer = JournalLease(self.journal_url, self.namespace, program="ramparts run")
        term = Takeover(won_at=won, journal_lease_wait_s=0.0, tail_rows=0)
        self.stats.takeovers.append(term)
        log.info("took the lease %s/%s; taking the journal", self.bucket, self.key)
        try:
            t0 = time.monotonic()
            while True:  # the old primary's process may still hold the journal: wait for it to go
                try:
                    writer.acquire()
                    break
                except JournalInUse:
                    if self._stopping or lease.lost:
                        return
                    await asyncio.sleep(self.config.poll_s)
            term.journal_lease_wait_s = time.monotonic() - t0
            try:
                term.tail_rows = await self._in(pool, self._follow)
                engine = self._engine
                await self._in(pool, engine.compact_positions)
            except BaseException:
                writer.release()
                raise
            journal, self._journal, self._engine = self._journal, None, None  # the runner owns them now
            self.runner = runner = self.make_runner()
            self.leading.set()
            ready = asyncio.create_task(runner.ready.wait())
            ready.add_done_callback(lambda _t: setattr(term, "consuming_at", time.time()))
            if self._stopping or lease.lost:
                runner.stop()
            try:
                self.stats.runs.append(await runner.run(lease=writer, journal=journal, engine=engine, pool=pool))
            finally:
                ready.cancel()
                self.runner = None
                self.leading.clear()
            if lease.lost:
                term.stepped_down = True
                log.warning("stepped down: the lease was not renewed in time; standing by again")
        finally:
            await lease.release()


class Lease:
    """A candidate's hold on one key of a lease bucket (see the module docstring): :meth:`try_take`
    creates the key if absent and starts renewing it every quarter TTL; :attr:`lost` turns true (and
    ``on_lost`` is called) when a renewal finds the entry gone or replaced, or none succeeded for ¾ TTL;
    :meth:`release` stops renewing and deletes the key if it is still ours."""

    def __init__(self, kv, key: str, config: FailoverConfig, on_lost: Callable[[], None] | None = None):
        self.kv, self.key, self.config, self.on_lost = kv, key, config, on_lost
        self.revision: int | None = None
        self.lost = False
        self._task: asyncio.Task | None = None

    async def try_take(self) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            self.revision = await self.kv.create(self.key, self.config.identity.encode())
        except KeyWrongLastSequenceError:
            return False  # held by another candidate
        except Exception as exc:  # noqa: BLE001 - NATS down: the caller tries again
            log.warning("trying the lease failed (%s)", exc or type(exc).__name__)
            return False
        self.lost = False
        self._task = asyncio.create_task(self._renew())
        return True

    async def holder(self) -> str | None:
        try:
            return await lease_holder(self.kv, self.key)
        except Exception:  # noqa: BLE001 - only for log lines
            return None

    async def _renew(self) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        ttl = self.config.ttl_s
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(ttl / 4)
            try:
                self.revision = await asyncio.wait_for(
                    self.kv.update(self.key, self.config.identity.encode(), last=self.revision), ttl / 4)
                last_ok = time.monotonic()
                continue
            except KeyWrongLastSequenceError:
                why = "its entry is gone or replaced (it expired during a pause, or another candidate took it)"
            except (TimeoutError, Exception) as exc:  # noqa: BLE001 - NATS down
                if time.monotonic() - last_ok < 0.75 * ttl:
                    continue
                why = f"not renewed for {time.monotonic() - last_ok:.1f} s ({exc or type(exc).__name__})"
            log.warning("lost the lease %s: %s", self.key, why)
            self.lost = True
            if self.on_lost is not None:
                self.on_lost()
            return

    async def release(self) -> None:
        """Stop renewing; delete the entry (only our own revision) so that a standby takes over at once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self.lost or self.revision is None:
            return
        try:
            await asyncio.wait_for(self.kv.delete(self.key, last=self.revision), 2.0)
        except Exception as exc:  # noqa: BLE001 - it expires by itself after the TTL
            log.info("releasing the lease failed (%s); it expires after %g s", exc or type(exc).__name__, self.config.ttl_s)
        self.revision = None


__all__ = ["Failover", "FailoverConfig", "FailoverStats", "Lease", "Takeover", "lease_bucket", "lease_holder", "open_lease_bucket"]
