"""``ramparts run``: the engine fed by NATS JetStream, exactly once, its effects published back.

:class:`BusRunner` owns one journaled :class:`~ramparts.engine.node.Node` (it takes the journal's
writer lease, as ``ramparts serve`` does, so a journal has one writer whichever program) and one
durable pull consumer on the input stream (:mod:`ramparts.bus.protocol` for the subjects and the
message format). Each round:

1. takes the messages delivered so far (at most ``batch``; a pull request is kept outstanding, so
   messages arrive while the previous group commits);
2. checks the delivery order (below), skips what the journal already holds (a stream sequence at or
   below the cursor: a redelivery, or a replay after a restart), decodes the rest;
3. publishes the dead letters of undecodable, invalid and misrouted messages and waits for
   JetStream to store them;
4. hands the events to :meth:`Node.submit_batch` (one group commit, on the node's own thread) with
   the group *staged* on the journal (:mod:`ramparts.bus.cursor`): the journal rows, which message
   each came from, the refusals and the new cursor are one transaction;
5. publishes the effects (``P.fx.<Kind>``) and the refusal notices (``P.dlq.refused``), waits for
   JetStream to store them, and only then
6. acknowledges every message of the group.

Exactly once
    The journal's cursor (the last stream sequence dealt with) is the truth; the consumer's ack
    state is a cache. At start, and whenever the delivery order is in doubt, the runner *resyncs*:
    it deletes its durable consumer and creates it again to deliver from ``cursor + 1``. A crash
    anywhere loses nothing that was acknowledged (acks follow the commit) and applies nothing twice
    (what the journal holds is recognised by its stream sequence; the side table's unique key would
    refuse the transaction anyway).

Delivery order
    The engine must see the stream in order. JetStream numbers each delivery of a consumer
    (the consumer sequence); within one incarnation of the consumer the runner must see every
    delivery, ``1, 2, 3, ...``. A jump (a delivery lost on the wire, a reconnect, a slow-consumer
    drop) means an earlier message may be missing, so the round stops there and the runner
    resyncs. A redelivery (an expired ack wait, a nak) of a message already applied is skipped and
    acknowledged.

Effects, exactly once
    Effects are published after the commit, with ``Nats-Msg-Id`` ``P:fx:<seq>:<index>``; the
    cursor's ``fx_seq`` records how far they are known to be stored (written with the next group,
    or when the runner goes idle or stops). After a crash or a failed publish the runner publishes
    again from the journal everything after ``fx_seq`` (JetStream's duplicate window drops the
    copies), and the refusal notices of groups after ``fx_seq``, whose reasons it derives again by
    replaying the journal to the refused message's place. The effects stream is in journal order
    except after such a failure: publishes are pipelined, so when the server dies with effects in
    flight, one it never stored is published again after later ones that it did. Each effect carries
    its journal ``seq`` and ``index``, which order them.

Failures
    NATS unreachable: the runner keeps reconnecting; nothing is committed that could not be
    acknowledged later (a commit whose acks are lost is recognised on redelivery). Journal
    unreachable: the node rebuilds its memory from the journal, the round's messages are not
    acknowledged, the runner backs off and resyncs. A bad message never stops the consumer: it is
    dead-lettered with its reason and acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ramparts.bus.cursor import Cursor, Staged, open_bus_journal
from ramparts.bus.protocol import DeadLetter, Subjects, dead_letter_message, decode_input, effect_message
from ramparts.engine.events import _Event, decode_event
from ramparts.engine.node import Node, Outcome, replay
from ramparts.errors import RampartsError

log = logging.getLogger("ramparts.bus")


class BusUnavailable(RampartsError):
    """NATS could not be reached, or did not confirm a publish, in time."""


class SimulatedCrash(Exception):
    """Raised by :class:`Faults` ``crash_after_commit``: the runner stops as if killed (tests only)."""


@dataclass
class BusConfig:
    """How the runner talks to NATS (see :mod:`ramparts.bus.protocol` for the subjects)."""

    nats_url: str = "nats://127.0.0.1:4222"
    subjects: Subjects = field(default_factory=Subjects)
    #: The durable consumer's name (one per engine: no other client may pull from it).
    durable: str = "ramparts-engine"
    #: Most messages in one group commit (and in one pull request).
    batch: int = 1000
    #: Seconds JetStream waits for an ack before it delivers a message again.
    ack_wait_s: float = 30.0
    #: Seconds a pull request lingers on the server before it expires (and is renewed).
    pull_expires_s: float = 5.0
    #: Seconds within which JetStream drops a second publish of the same ``Nats-Msg-Id``
    #: (streams created by the runner).
    duplicate_window_s: float = 120.0
    #: Create the three streams when they do not exist (file storage).
    create_streams: bool = True
    #: Seconds to wait for a publish's acknowledgement by JetStream.
    publish_timeout_s: float = 5.0
    #: Seconds to keep trying the first connection.
    connect_timeout_s: float = 10.0
    #: Effect kinds to publish (``None``: every kind).
    effects: frozenset[str] | None = None
    #: Copies of each stream (and lease bucket) the runner creates: 3 on a three-node JetStream cluster.
    replicas: int = 1

    @property
    def servers(self) -> list[str]:
        """The server URLs (``nats_url`` may list several, comma-separated: the nodes of a cluster)."""
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]


@dataclass
class Faults:
    """Fault injection for the tests: every ``k``-th delivery dropped on arrival (a delivery lost on
    the wire), every ``k``-th message nak'ed or left unacknowledged after its commit (a redelivery
    storm), or a simulated crash right after the ``n``-th commit (before effects and acks)."""

    drop_delivery_every: int = 0
    nak_every: int = 0
    no_ack_every: int = 0
    crash_after_commit: int = 0


@dataclass
class BusStats:
    """What the runner did since it started."""

    groups: int = 0
    applied: int = 0
    refused: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    resyncs: int = 0
    effects_published: int = 0
    catch_ups: int = 0
    started_seq: int = 0
    started_stream_seq: int = 0


async def connect(config: BusConfig, name: str, **options):
    """A NATS connection to ``config``'s servers that reconnects for ever once made; the first
    connection is tried for ``connect_timeout_s`` (with reconnects unlimited nats-py would try it for
    ever), then :class:`BusUnavailable`. ``options``: nats-py's callbacks and limits."""
    from nats.aio.client import Client

    nc = Client()
    try:
        await asyncio.wait_for(nc.connect(servers=config.servers, connect_timeout=2, allow_reconnect=True,
                                          max_reconnect_attempts=-1, reconnect_time_wait=0.25, name=name, **options),
                               config.connect_timeout_s)
    except (TimeoutError, Exception) as exc:  # noqa: BLE001 - nats raises several kinds
        try:
            await nc.close()
        except Exception:  # noqa: BLE001
            pass
        raise BusUnavailable(f"cannot connect to NATS at {config.nats_url} "
                             f"(tried for {config.connect_timeout_s:g} s): {exc or type(exc).__name__}") from None
    return nc


async def ensure_streams(js, subjects: Subjects, *, duplicate_window_s: float = 120.0, create: bool = True,
                         replicas: int = 1) -> list[str]:
    """Create the input, effects and dead-letter streams of ``subjects`` that do not exist (file
    storage, limits retention, the given duplicate window, ``replicas`` copies on a JetStream cluster);
    returns the names created. ``create=False``: raise :class:`BusUnavailable` for a missing one.
    Existing streams are left as they are."""
    from nats.js import api
    from nats.js.errors import NotFoundError

    created = []
    for name, subject in ((subjects.input_stream, subjects.input_filter), (subjects.effects_stream, subjects.effects_filter),
                          (subjects.dlq_stream, subjects.dlq_filter)):
        try:
            await js.stream_info(name)
            continue
        except NotFoundError:
            if not create:
                raise BusUnavailable(f"stream {name} does not exist (create it, or let ramparts run create it)") from None
        await js.add_stream(api.StreamConfig(name=name, subjects=[subject], storage=api.StorageType.FILE,
                                             retention=api.RetentionPolicy.LIMITS, duplicate_window=duplicate_window_s,
                                             num_replicas=replicas))
        created.append(name)
    return created


class BusRunner:
    """The engine on the bus; see the module docstring. ``await run()``; ``stop()`` ends it after the
    current round."""

    def __init__(self, journal_url: str, config: BusConfig | None = None, *, namespace: str = "ramparts",
                 durability: str = "full", snapshot_every: int = 100_000, faults: Faults | None = None):
        self.journal_url = str(journal_url)
        self.config = config or BusConfig()
        self.subjects = self.config.subjects
        self.stream = self.subjects.input_stream
        self.namespace = namespace
        self.durability = durability
        self.snapshot_every = snapshot_every
        self.faults = faults or Faults()
        self.stats = BusStats()
        self.node: Node | None = None
        self.journal = None
        #: The last input stream sequence the journal holds as dealt with.
        self.high = 0
        #: The journal seq through which effects are known to be published.
        self.fx_seq = 0
        self._fx_recorded = 0
        self._fx_behind = False
        self._fx_retry_at = 0.0
        self._need_resync = True
        self._stopping = False
        self._crashed = False
        self.ready = asyncio.Event()
        self._buf: deque = deque()
        self._arrived = asyncio.Event()
        self._gen = 0
        self._sub = None
        self._inbox = ""
        self._req_subject = ""
        self._req_left = 0
        self._req_at = 0.0
        self._req_n = 0
        self._last_cseq = 0
        self._fresh = True
        self._delivered = 0
        self._acked = 0
        self._commits = 0
        self._backoff = 0.0
        self.nc = None
        self.js = None

    # -------------------------------------------------------------------------------- lifecycle

    def stop(self) -> None:
        """Stop after the current round (safe from a signal handler on the runner's loop)."""
        self._stopping = True
        self._arrived.set()

    def stop_threadsafe(self) -> None:
        """:meth:`stop` from another thread."""
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(self.stop)
        else:
            self._stopping = True

    async def run(self, *, lease=None, journal=None, engine=None, pool: ThreadPoolExecutor | None = None) -> BusStats:
        """Open the journal (taking its writer lease), connect, catch up, consume until :meth:`stop`.

        A standby taking over (:mod:`ramparts.bus.failover`) hands in the writer lease it already took,
        the journal it followed, its engine (equal to that journal's replay) and the thread that owns
        them; all are released when the run ends."""
        from ramparts.service.writer import JournalLease

        self._loop = asyncio.get_running_loop()
        if lease is None:
            lease = JournalLease(self.journal_url, self.namespace, program="ramparts run")
            lease.acquire()
        own_pool = pool is None
        self._pool = pool or ThreadPoolExecutor(1, thread_name_prefix="ramparts-bus-node")
        try:
            self.journal = journal or open_bus_journal(self.journal_url, durability=self.durability, namespace=self.namespace)
            self.node = await self._in_node(lambda: Node(self.journal, engine, snapshot_every=self.snapshot_every))
            cur = self.journal.cursor(self.stream)
            seq = self.node.engine.seq
            if cur is None:  # the bus's first start on this journal: what it holds is not the bus's to publish
                cur = Cursor(self.stream, 0, seq, seq)
            self.high, self.fx_seq = cur.stream_seq, min(cur.fx_seq, seq)
            self._fx_recorded = self.fx_seq
            self._fx_behind = self.fx_seq < seq or bool(self.journal.refused(self.stream, after_fx=self.fx_seq))
            self.stats.started_seq, self.stats.started_stream_seq = seq, self.high
            await self._connect()
            await self._ensure_streams()
            log.info("journal %s at seq %d; stream %s dealt with through seq %d; effects published through seq %d",
                     self.journal.description, seq, self.stream, self.high, self.fx_seq)
            while not self._stopping:
                await self._round()
            return self.stats
        except SimulatedCrash:
            self._crashed = True
            raise
        finally:
            await self._shutdown()
            if own_pool:
                self._pool.shutdown(wait=True)
            lease.release()

    async def _shutdown(self) -> None:
        if self._sub is not None and not self._crashed:
            try:
                await self._sub.unsubscribe()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        if self.nc is not None:
            try:
                if not self._crashed and self.fx_seq > self._fx_recorded and not self._fx_behind:
                    await self._in_node(lambda: self.journal.record_fx(self.stream, self.fx_seq))
                if self._crashed:
                    await self.nc.close()
                else:
                    await asyncio.wait_for(self.nc.drain(), 5)
            except Exception:  # noqa: BLE001
                log.warning("closing the NATS connection failed", exc_info=True)
                try:
                    await self.nc.close()
                except Exception:  # noqa: BLE001
                    pass
        if self.node is not None:
            self.node.close()
        elif self.journal is not None:
            self.journal.close()

    async def _in_node(self, fn):
        """Run ``fn`` on the node's thread (the node and its journal are used from that thread only)."""
        return await self._loop.run_in_executor(self._pool, fn)

    # ------------------------------------------------------------------------------- NATS set-up

    async def _connect(self) -> None:
        async def on_error(exc):
            if not self._stopping and self.nc is not None:
                log.warning("NATS: %s", exc)

        async def on_disconnect():
            if not self._stopping:
                log.warning("NATS: disconnected")

        async def on_reconnect():
            log.warning("NATS: reconnected; resyncing the consumer")
            self._need_resync = True
            self._arrived.set()

        self.nc = await connect(self.config, "ramparts-run", error_cb=on_error, disconnected_cb=on_disconnect,
                                reconnected_cb=on_reconnect, pending_size=64 * 1024 * 1024)
        self.js = self.nc.jetstream(timeout=self.config.publish_timeout_s, publish_async_max_pending=20_000)

    async def _ensure_streams(self) -> None:
        """The streams, created if missing; while JetStream does not answer (a node down, a cluster
        electing a leader) tried again until it does or the runner is stopped."""
        while True:
            try:
                created = await ensure_streams(self.js, self.subjects, duplicate_window_s=self.config.duplicate_window_s,
                                               replicas=self.config.replicas, create=self.config.create_streams)
                break
            except BusUnavailable:
                raise  # a stream is missing and may not be created
            except Exception as exc:  # noqa: BLE001 - timeouts, no responders, a reconnecting connection
                if self._stopping:
                    raise BusUnavailable(f"JetStream did not answer ({exc or type(exc).__name__})") from None
                await self._back_off("looking up the streams", exc)
        for name in created:
            log.info("created stream %s", name)

    async def _resync(self) -> None:
        """(Re)create the durable consumer to deliver from ``high + 1`` and renew the subscription."""
        from nats.js import api
        from nats.js.errors import NotFoundError

        self._gen += 1
        gen = self._gen
        self._buf.clear()
        self._last_cseq = 0
        self._fresh = True
        self._req_left = 0
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - a dead connection's subscription
                pass
        try:
            await self.js.delete_consumer(self.stream, self.config.durable)
        except NotFoundError:
            pass
        batch = self.config.batch
        await self.js.add_consumer(self.stream, api.ConsumerConfig(
            durable_name=self.config.durable, deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.high + 1, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self.config.ack_wait_s,
            max_deliver=-1, filter_subject=self.subjects.input_filter, max_ack_pending=max(4 * batch, 1000),
            max_waiting=64, replay_policy=api.ReplayPolicy.INSTANT))
        self._inbox = self.nc.new_inbox()

        async def on_msg(msg):
            await self._on_msg(msg, gen)

        self._sub = await self.nc.subscribe(self._inbox + ".*", cb=on_msg, pending_msgs_limit=1_000_000,
                                            pending_bytes_limit=1024 * 1024 * 1024)
        self._need_resync = False
        self.stats.resyncs += 1
        await self._maybe_pull()

    async def _maybe_pull(self) -> None:
        """Keep one pull request outstanding while the buffer has room."""
        if self._sub is None or self._need_resync:
            return
        expired = time.monotonic() - self._req_at > self.config.pull_expires_s + 2.0
        if (self._req_left > 0 and not expired) or len(self._buf) >= 2 * self.config.batch:
            return
        self._req_n += 1
        self._req_subject = f"{self._inbox}.{self._req_n}"
        self._req_left = self.config.batch
        self._req_at = time.monotonic()
        request = {"batch": self.config.batch, "expires": int(self.config.pull_expires_s * 1e9)}
        try:
            await self.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.config.durable}",
                                  json.dumps(request).encode(), reply=self._req_subject)
        except Exception:  # noqa: BLE001 - disconnected: the reconnect resyncs
            self._req_left = 0

    async def _on_msg(self, msg, gen: int) -> None:
        if gen != self._gen:
            return  # a delivery to an earlier incarnation of the consumer
        headers = msg.headers
        if headers and "Status" in headers and not msg.reply:
            if msg.subject == self._req_subject and headers.get("Status") != "100":
                self._req_left = 0  # the request expired or was refused: renew it
                await self._maybe_pull()
            return
        self._delivered += 1
        k = self.faults.drop_delivery_every
        if k and self._delivered % k == 0:
            return  # the fault: this delivery is lost on the wire
        self._buf.append(msg)
        self._req_left -= 1
        self._arrived.set()
        if self._req_left <= 0:
            await self._maybe_pull()

    # ----------------------------------------------------------------------------------- rounds

    async def _round(self) -> None:
        if self._need_resync:
            try:
                await self._resync()
                self._backoff = 0.0
                self.ready.set()
            except Exception as exc:  # noqa: BLE001 - NATS down (timeouts, a closed connection): try again
                await self._back_off("resyncing the consumer", exc)
                return
        if self._fx_behind and time.monotonic() >= self._fx_retry_at:
            await self._try_catch_up()
        if not self._buf:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), 0.25)
            except TimeoutError:
                pass
            await self._maybe_pull()
            if not self._buf:
                await self._idle()
                return
        if self._stopping or self._need_resync:
            return
        msgs = [self._buf.popleft() for _ in range(min(len(self._buf), self.config.batch))]
        await self._maybe_pull()
        await self._group(msgs)

    async def _back_off(self, what: str, exc: BaseException) -> None:
        self._backoff = min(max(self._backoff * 2, 0.1), 2.0)
        log.warning("%s failed (%s); trying again in %.1f s", what, exc or type(exc).__name__, self._backoff)
        await asyncio.sleep(self._backoff)

    async def _try_catch_up(self) -> None:
        try:
            await self._catch_up()
        except Exception as exc:  # noqa: BLE001 - NATS or the journal down: later
            self._fx_retry_at = time.monotonic() + 0.5
            log.warning("publishing the effects again failed (%s); trying again", exc or type(exc).__name__)

    async def _idle(self) -> None:
        if not self._fx_behind and self.fx_seq > self._fx_recorded:
            fx = self.fx_seq
            await self._in_node(lambda: self.journal.record_fx(self.stream, fx))
            self._fx_recorded = fx

    async def _reload(self) -> None:
        """After a failed commit: the cursor as the journal holds it (the commit may have gone through)."""
        try:
            cur = await self._in_node(lambda: self.journal.cursor(self.stream))
        except Exception as exc:  # noqa: BLE001 - the journal is down: keep what we had, the commit did not happen
            log.warning("reading the cursor failed (%s)", exc)
            return
        if cur is not None and cur.stream_seq > self.high:
            self.high = cur.stream_seq
        self._fx_behind = True

    async def _group(self, msgs: list) -> None:
        """One group commit: see the module docstring."""
        entries: list[tuple[int, _Event, object]] = []
        letters: list[tuple[int, object, DeadLetter]] = []
        dups: list = []
        through = self.high
        for i, m in enumerate(msgs):
            md = m.metadata
            cseq, sseq = md.sequence.consumer, md.sequence.stream
            if cseq != self._last_cseq + 1:
                log.warning("delivery %d of the consumer came after %d: a delivery is missing; resyncing from "
                            "stream seq %d", cseq, self._last_cseq, through + 1)
                self._need_resync = True
                del msgs[i:]
                break
            self._last_cseq = cseq
            if sseq <= through:
                dups.append(m)
                continue
            if self._fresh and sseq > through + 1:
                log.warning("stream %s: messages %d..%d are no longer in the stream; they were never applied",
                            self.stream, through + 1, sseq - 1)
            self._fresh = False
            through = sseq
            decoded = decode_input(self.subjects, m.subject, m.data)
            if isinstance(decoded, DeadLetter):
                letters.append((sseq, m, decoded))
            else:
                entries.append((sseq, decoded, m))
        self.stats.duplicates += len(dups)
        if through == self.high:
            await self._ack(dups)
            return
        try:
            if letters:  # stored before the commit that moves the cursor past them
                await self._publish([dead_letter_message(self.subjects, d, stream=self.stream, stream_seq=s,
                                                         subject=m.subject, data=m.data) for s, m, d in letters])
        except BusUnavailable as exc:
            log.warning("%s; the group is not committed", exc)
            self._need_resync = True
            return
        staged = Staged(self.stream, [(s, e) for s, e, _ in entries], through, self.fx_seq)
        before = self.node.engine.seq
        try:
            outcomes = await self._in_node(lambda: self._commit(staged))
        except Exception as exc:  # noqa: BLE001 - the journal failed; the node rebuilt itself from it
            log.error("the group commit failed (%s: %s)", type(exc).__name__, exc)
            await self._reload()
            self._need_resync = True
            await self._back_off("the group commit", exc)
            return
        refusals = [(s, m, DeadLetter.from_error(o.error)) for (s, _, m), o in zip(entries, outcomes, strict=True)
                    if not o.accepted]
        after = self.node.engine.seq
        if after == before:  # nothing appended: the notices go first, then the cursor alone
            try:
                if refusals:
                    await self._publish([dead_letter_message(self.subjects, d, stream=self.stream, stream_seq=s,
                                                             subject=m.subject, data=m.data) for s, m, d in refusals])
                await self._in_node(lambda: self.journal.commit_cursor(staged))
            except BusUnavailable as exc:
                log.warning("%s; the group is not committed", exc)
                self._need_resync = True
                return
            except Exception as exc:  # noqa: BLE001 - the journal failed
                log.error("writing the cursor failed (%s: %s)", type(exc).__name__, exc)
                await self._reload()
                self._need_resync = True
                await self._back_off("writing the cursor", exc)
                return
        self._commits += 1
        self.high = through
        self.stats.groups += 1
        self.stats.applied += after - before
        self.stats.refused += len(refusals)
        self.stats.dead_letters += len(letters) + len(refusals)
        if self.faults.crash_after_commit and self._commits >= self.faults.crash_after_commit:
            raise SimulatedCrash(f"simulated crash after commit {self._commits}")
        if after > before:
            await self._publish_group(before, after, entries, outcomes, refusals)
        await self._ack([m for m in msgs])

    def _commit(self, staged: Staged) -> list[Outcome]:
        """On the node's thread: the group's events through the node, the group staged on the journal."""
        self.journal.stage(staged)
        try:
            return self.node.submit_batch([e for _, e in staged.entries]) if staged.entries else []
        finally:
            self.journal.stage(None)

    async def _publish_group(self, before: int, after: int, entries, outcomes: list[Outcome], refusals) -> None:
        """Publish the group's effects and refusal notices (journal rows ``before + 1 .. after``)."""
        if self.fx_seq != before or self._fx_behind:
            self._fx_behind = True  # earlier effects still unconfirmed: keep journal order, publish from the journal
            return
        wanted = self.config.effects
        out = []
        for (sseq, event, _), o in zip(entries, outcomes, strict=True):
            if o.accepted:
                for i, fx in enumerate(o.effects):
                    if wanted is None or fx.get("kind") in wanted:
                        out.append(effect_message(self.subjects, seq=o.seq, index=i, ts=event.ts, event_kind=event.kind,
                                                  stream_seq=sseq, effect=fx))
        out += [dead_letter_message(self.subjects, d, stream=self.stream, stream_seq=s, subject=m.subject, data=m.data)
                for s, m, d in refusals]
        try:
            await self._publish(out)
        except BusUnavailable as exc:
            log.warning("%s; the effects are published again from the journal", exc)
            self._fx_behind = True
            return
        self.stats.effects_published += len(out) - len(refusals)
        self.fx_seq = after

    async def _ack(self, msgs: list) -> None:
        f = self.faults
        for m in msgs:
            self._acked += 1
            try:
                if f.nak_every and self._acked % f.nak_every == 0:
                    await m.nak()
                elif f.no_ack_every and self._acked % f.no_ack_every == 0:
                    pass
                else:
                    await m.ack()
            except Exception:  # noqa: BLE001 - a lost ack is a redelivery, recognised as a duplicate
                pass

    async def _publish(self, messages: list[tuple[str, bytes, dict]]) -> None:
        """Publish to JetStream and wait until every message is stored (or :class:`BusUnavailable`)."""
        if not messages:
            return
        futures = []
        try:
            for subject, data, headers in messages:
                futures.append(await self.js.publish_async(subject, data, headers=headers,
                                                           wait_stall=self.config.publish_timeout_s))
                if len(futures) >= 4096:
                    await asyncio.wait_for(asyncio.gather(*futures), self.config.publish_timeout_s)
                    futures = []
            if futures:
                await asyncio.wait_for(asyncio.gather(*futures), self.config.publish_timeout_s)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - timeouts, a closed connection, API errors
            for fut in futures:
                fut.cancel()
            raise BusUnavailable(f"publishing to JetStream failed: {exc or type(exc).__name__}") from None

    # --------------------------------------------------------------------------------- catch-up

    async def _catch_up(self) -> None:
        """Publish again, from the journal, the effects after ``fx_seq`` and the refusal notices of the
        groups after it (after a crash or a failed publish)."""
        self.stats.catch_ups += 1
        target = self.node.engine.seq
        start = self.fx_seq
        log.info("publishing the effects of journal rows %d..%d again", start + 1, target)
        lo = start + 1
        wanted = self.config.effects
        while lo <= target:
            hi = min(lo + 4999, target)
            recs, sseqs = await self._in_node(lambda lo=lo, hi=hi: (list(self.journal.read(lo, hi)),
                                                                   self.journal.stream_seqs(lo, hi)))
            out = []
            for rec in recs:
                for i, fx in enumerate(json.loads(rec.effects)):
                    if wanted is None or fx.get("kind") in wanted:
                        out.append(effect_message(self.subjects, seq=rec.seq, index=i, ts=rec.ts, event_kind=rec.kind,
                                                  stream_seq=sseqs.get(rec.seq), effect=fx))
            await self._publish(out)
            self.stats.effects_published += len(out)
            lo = hi + 1
        pending = await self._in_node(lambda: self.journal.refused(self.stream, after_fx=start))
        if pending:
            await self._publish(await self._notices_again(pending))
        self.fx_seq = target
        self._fx_behind = False
        await self._in_node(lambda: self.journal.record_fx(self.stream, target))
        self._fx_recorded = target

    async def _notices_again(self, pending: list[tuple[int, int, int]]) -> list[tuple[str, bytes, dict]]:
        """The refusal notices of ``pending`` (stream seq, journal seq the engine was at, group end):
        each input read back from the stream, its reason derived again on the replayed journal."""
        from nats.js.errors import NotFoundError

        raw: dict[int, tuple[str, bytes] | None] = {}
        for sseq, _, _ in pending:
            try:
                m = await self.js.get_msg(self.stream, sseq)
                raw[sseq] = (m.subject, m.data or b"")
            except NotFoundError:
                raw[sseq] = None
        letters = await self._in_node(lambda: self._reasons(pending, raw))
        out = []
        for (sseq, _, _), letter in zip(pending, letters, strict=True):
            subject, data = raw[sseq] or ("", None)
            out.append(dead_letter_message(self.subjects, letter, stream=self.stream, stream_seq=sseq, subject=subject,
                                           data=data))
        return out

    def _reasons(self, pending, raw) -> list[DeadLetter]:
        """On the node's thread: why each pending refusal was refused, by replaying the journal to it."""
        out: list[DeadLetter] = []
        engine = None
        for sseq, after, _ in pending:
            got = raw.get(sseq)
            decoded = decode_input(self.subjects, *got) if got is not None else None
            if not isinstance(decoded, _Event):
                out.append(DeadLetter("refused", "Unknown", "refused by the engine; the message is no longer in the "
                                                           "stream, so its reason cannot be derived again"))
                continue
            if engine is None or engine.seq > after:
                engine = replay(self.journal, to_seq=after)
            else:
                for rec in self.journal.read(engine.seq + 1, after):
                    engine.apply(decode_event(rec.kind, rec.payload, rec.seq))
            try:
                engine.apply(decoded)
            except RampartsError as exc:
                out.append(DeadLetter.from_error(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - the defect the node met when it refused the event
                out.append(DeadLetter("failed", "EventFailed", f"the event could not be applied ({type(exc).__name__}); "
                                                              "nothing of it was kept", code=type(exc).__name__))
                engine = None
                continue
            engine = None  # it applies now: the refusal came from a state this replay does not reproduce
            out.append(DeadLetter("refused", "Unknown", "refused by the engine; its reason was not published before a restart "
                                                       "and a replay does not reproduce it"))
        return out


__all__ = ["BusConfig", "BusRunner", "BusStats", "BusUnavailable", "Faults", "SimulatedCrash", "connect", "ensure_streams"]
