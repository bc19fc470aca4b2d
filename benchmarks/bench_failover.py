"""Benchmark: failover time of ``ramparts run --failover`` (a hot standby) against a cold restart.

A backlog of the seeded bus stream (:func:`ramparts.bus.sample.sample_stream`) is published to
JetStream; ``ramparts run`` processes consume it into one SQLite journal. Each trial publishes two
thirds of the stream, waits until they are journaled, kills the primary with SIGKILL, publishes the
rest, and times from the kill until the journal's cursor moves again (a new primary is consuming):

* **cold restart** (baseline, same run): no standby; a new ``ramparts run`` is started right after
  the kill, as a supervisor would. It pays the interpreter's start, the imports and a full replay
  of the journal;
* **hot standby**: a second ``ramparts run --failover`` already follows the journal; it takes the
  lease when the killed primary's entry expires (``--lease-ttl``), applies the rows written since
  its last look and recreates the consumer;
* **clean hand-over**: the primary gets SIGTERM instead and deletes its lease on the way out.

Every trial ends by checking that the journal holds each accepted event once (the state hash of a
direct run). Run: ``python benchmarks/bench_failover.py [--traders 200 --steps 300 --ttl 1 3 --trials 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import nats

from ramparts.bus import Subjects, ensure_streams, input_message
from ramparts.bus.cursor import dealt_with, open_bus_journal
from ramparts.bus.sample import sample_stream
from ramparts.bus.server import NatsServer
from ramparts.engine.node import Node, replay
from ramparts.journal import open_journal

SJ = Subjects()




async def publish(url: str, events, start: int = 0) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await ensure_streams(js, SJ)
    futs = []
    for k, e in enumerate(events, start):
        subject, data, headers = input_message(SJ, e, msg_id=f"e{k}")
        futs.append(await js.publish_async(subject, data, headers=dict(headers)))
    await asyncio.gather(*futs)
    await nc.close()


def wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def trial(mode: str, events, ref_hash: str, ttl: float, batch: int) -> float:
    """One kill (or clean stop) and the seconds until consuming resumes."""
    with tempfile.TemporaryDirectory() as tmp, NatsServer() as srv:
        journal = os.path.join(tmp, "j.db")
        first = 2 * len(events) // 3
        asyncio.run(publish(srv.url, events[:first]))
        cmd = [sys.executable, "-m", "ramparts", "run", "--journal", journal, "--nats", srv.url, "--batch", str(batch),
               "--durability", "normal", "--log-level", "error"]
        if mode != "cold restart":
            cmd += ["--failover", "--lease-ttl", str(ttl)]
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            wait(lambda: dealt_with(journal) > 0, 60, "the first primary")
            if mode != "cold restart":
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                time.sleep(max(2.0, ttl))  # the standby has started and follows the journal
            wait(lambda: dealt_with(journal) >= first, 120, "the first two thirds of the stream")
            at = dealt_with(journal)
            t0 = time.monotonic()
            procs[0].send_signal(signal.SIGTERM if mode == "clean hand-over" else signal.SIGKILL)
            if mode == "cold restart":
                procs[0].wait(10)
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            asyncio.run(publish(srv.url, events[first:], start=first))
            wait(lambda: dealt_with(journal) > at, 120, "consuming to resume")
            gap = time.monotonic() - t0
            wait(lambda: dealt_with(journal) >= len(events), 300, "the end of the stream")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
        with open_bus_journal(journal) as j:
            if replay(j).state_hash() != ref_hash:
                raise SystemExit(f"{mode}: the journal does not equal the direct run")
            sseqs = [s for _, s in j.applied(SJ.input_stream)]
            if sseqs != sorted(set(sseqs)):
                raise SystemExit(f"{mode}: a stream message applied twice")
        return gap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traders", type=int, default=200)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--ttl", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    events = sample_stream(11, traders=args.traders, steps=args.steps)
    node = Node(open_journal(":memory:"))
    node.submit_batch(events)
    ref_hash, accepted = node.engine.state_hash(), node.engine.seq
    print(f"stream: {len(events):,} events ({accepted:,} accepted), groups of {args.batch}, SQLite WAL, kill after two thirds")
    rows = [("cold restart", None)] + [(m, t) for t in args.ttl for m in ("hot standby", "clean hand-over")]
    base = None
    print(f"{'mode':<18} {'lease TTL':>9} {'resume after (median)':>22} {'min':>7} {'max':>7} {'vs cold':>8}")
    for mode, ttl in rows:
        gaps = [trial(mode, events, ref_hash, ttl or 1.0, args.batch) for _ in range(args.trials)]
        med = statistics.median(gaps)
        base = base or med
        print(f"{mode:<18} {('-' if ttl is None else f'{ttl:g} s'):>9} {med:>20.3f} s {min(gaps):>6.3f} {max(gaps):>6.3f}"
              f" {base / med:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
