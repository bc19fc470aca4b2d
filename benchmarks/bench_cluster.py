"""Distributed lab runs and engine shards, measured on this machine (the figures of docs/scaling.md).

Three measurements, each with its baseline in the same run:

1. **Scheduler fit**: start-up time and per-task overhead of a local two-worker Dask cluster and,
   when installed, of Ray (``ray.init(num_cpus=2)``), on 200 no-op tasks.
2. **Lab speed-up**: one stress run (``--paths`` GARCH paths × ``--accounts`` traders) in process
   against ``local:2`` (Dask), with the result tables compared for equality.
3. **Engine shards**: the live engine's throughput per shard (a ``Node`` over its own SQLite WAL
   journal, ``durability=normal``, batches of 1,000 fills and prices) with one shard, then with
   ``--shards`` shard processes side by side (accounts split by account id, prices broadcast).

Run: ``python benchmarks/bench_cluster.py [--paths 16 --accounts 400 --shards 2 --events 40000]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time


def _noop(x):
    return x


def bench_schedulers(n_tasks: int) -> list[tuple[str, float, float]]:
    out = []
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    client.gather(client.map(_noop, range(n_tasks), pure=False))
    per = (time.perf_counter() - t0) / n_tasks
    client.close()
    cluster.close()
    out.append(("dask LocalCluster(2 processes)", start, per))
    try:
        import ray
    except ImportError:
        return out
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    remote = ray.remote(_noop)
    ray.get(remote.remote(0))  # a worker must exist before the clock stops
    start = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray.get([remote.remote(i) for i in range(n_tasks)])
    per = (time.perf_counter() - t0) / n_tasks
    ray.shutdown()
    out.append(("ray.init(num_cpus=2)", start, per))
    return out


def bench_lab(paths: int, accounts: int) -> tuple[float, float, bool]:
    import pandas as pd

    from ramparts.lab.cluster import TaskRunner
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.stress import StressSpec, fit_models, run_stress, run_task

    fits = fit_models()
    spec = StressSpec(scenario="garch", n_paths=paths, n_steps=96)
    pop = PopulationSpec(n_accounts=accounts)
    t0 = time.perf_counter()
    a = run_stress(spec, population=pop, fits=fits)
    local = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = run_stress(spec, population=pop, fits=fits, runner=TaskRunner(run_task, "local:2"))
    dist = time.perf_counter() - t0
    try:
        pd.testing.assert_frame_equal(a.table, b.table)
        same = True
    except AssertionError:
        same = False
    return local, dist, same


def _shard(args) -> tuple[int, float]:
    """One shard: its own journal and engine; accounts a{shard}_{i}; returns (events, seconds)."""
    shard, n_accounts, n_events, directory = args
    import numpy as np

    from ramparts.engine import events as ev
    from ramparts.engine.node import Node
    from ramparts.engine.presets import genesis, perpetual
    from ramparts.journal import open_journal

    node = Node(open_journal(os.path.join(directory, f"shard{shard}.sqlite"), durability="normal"))
    node.submit_batch([genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0), ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000")])
    setup = []
    for i in range(n_accounts):
        sub = f"s{shard}a{i}/main"
        setup += [ev.OpenSubAccount(ts=0, subaccount=sub), ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount="100000")]
    node.submit_batch(setup)
    rng = np.random.default_rng(shard)
    pairs = rng.integers(0, n_accounts, size=(n_events, 2))
    events = []
    for k in range(n_events):
        t = k + 1
        if k % 10 == 0:  # a broadcast oracle price every tenth event
            events.append(ev.OraclePrice(ts=t, instrument="BTC-PERP", price=f"{50000 + 50 * np.sin(k / 100):.1f}"))
        else:
            a, b = pairs[k]
            if a == b:
                b = (b + 1) % n_accounts
            events.append(ev.Fill(ts=t, instrument="BTC-PERP", buyer=f"s{shard}a{a}/main", seller=f"s{shard}a{b}/main",
                                  price="50000", size="0.01"))
    t0 = time.perf_counter()
    for i in range(0, n_events, 1000):
        node.submit_batch(events[i : i + 1000])
    dt = time.perf_counter() - t0
    node.close()
    return n_events, dt


def bench_shards(shards: int, n_events: int, n_accounts: int) -> list[tuple[int, float, float]]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        for k in sorted({1, shards}):
            ctx = mp.get_context("spawn")
            t0 = time.perf_counter()
            with ctx.Pool(k) as pool:
                res = pool.map(_shard, [(s, n_accounts, n_events, d) for s in range(k)])
            wall = time.perf_counter() - t0
            per_shard = sum(n / dt for n, dt in res) / k
            total = sum(n / dt for n, dt in res)
            out.append((k, per_shard, total))
            del wall
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--paths", type=int, default=16)
    ap.add_argument("--accounts", type=int, default=400)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--events", type=int, default=40_000)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    print("\n1. schedulers (no-op tasks)")
    for name, start, per in bench_schedulers(args.tasks):
        print(f"   {name:32s} start {start:6.2f} s   per task {per * 1e3:6.2f} ms")
    print(f"\n2. stress run: {args.paths} GARCH paths × {args.accounts} traders × 96 hours")
    local, dist, same = bench_lab(args.paths, args.accounts)
    print(f"   in process {local:6.2f} s   local:2 (Dask) {dist:6.2f} s   speed-up {local / dist:4.2f}×   identical tables: {same}")
    print(f"\n3. engine shards ({args.events:,} events each: 90 % fills, 10 % prices; SQLite WAL, durability=normal, batches of 1,000)")
    rows = bench_shards(args.shards, args.events, 2_000)
    base = rows[0][2]
    for k, per_shard, total in rows:
        print(f"   {k} shard(s): {per_shard:9,.0f} events/s per shard   {total:9,.0f} events/s in all   ({total / base:4.2f}× one shard)")


if __name__ == "__main__":
    main()
