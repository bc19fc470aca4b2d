"""Benchmark: restart of a large venue, from its latest snapshot plus the journal's tail, against a full replay of
the same journal, in the same run (issue 24 item 4, issue 23 item 9).

The venue is built through a journaled :class:`~ramparts.engine.node.Node` (SQLite, ``durability="normal"``), so
the journal is a real one that replays: genesis, ``--instruments`` perpetuals with Binance-like BTC tiers, ``N``
funded sub-accounts (``OpenSubAccount`` + ``Deposit``), then ``--positions`` positions each, opened pairwise in
``TradeBatch`` events (account 2k buys from 2k + 1) on distinct instruments. A snapshot is taken there
(:meth:`Node.take_snapshot`). Then the **tail**: ``--tail`` single events after the snapshot, 90 % one-lot
``Fill`` between random accounts, 10 % ``OraclePrice`` moving one instrument by a small random step (the lazy
re-margin on, as in production).

Measured, each on a fresh process state (the Node closed and the journal reopened):

* **recovery** = ``replay(journal)``: read the snapshot, check it against the state hash journaled with it (a
  container, :mod:`ramparts.engine.snapshot`: its digest and the hash it was taken at; a JSON snapshot, written
  before the container: its bytes' SHA-256), rebuild the engine (with the lazy re-margin's slack indices), then
  apply the tail (each event's effects compared with the journaled ones, as the service does at start); split into
  these parts. The same state is restored from its other form in the same run (the container of a JSON
  snapshot's state, or the canonical JSON of a container's), the format's same-run baseline;
* **full replay** (the baseline) = ``replay(journal, use_snapshot=False)``: every event from genesis, its events/s,
  the same end state hash required.

Also timed on the recovered engine: the next snapshot, encoded inline (what a writer thread would pay) and by a forked
child as ``ramparts serve`` does (the writer pays the fork).

Printed: the parts, the total against the target (≤ 3 s at 1M accounts with a 100,000-event tail), the tail's
replay rate and the full replay's rate against the target (≥ 300,000 events/s), and the ratio full / recovery.
Run: ``python benchmarks/bench_recovery.py [--accounts 1000000] [--tail 100000] [--full-replay]`` (the full
replay of a 1M-account journal takes minutes; it runs only with ``--full-replay``, otherwise on the first
``--full-sample`` rows of the same journal, events/s being what is compared).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from ramparts.engine import Engine, snapshot
from ramparts.engine import events as ev
from ramparts.engine.engine import _parse_state
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.journal import open_journal


def sub(i: int) -> str:
    return f"u{i:07d}/main"


def build(path: str, n: int, n_instr: int, per: int, tail: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    node = Node.open(f"sqlite:///{path}", durability="normal")
    prices = rng.uniform(5, 50_000, n_instr).round(1)
    head = [genesis(ts=0)]
    for i in range(n_instr):
        head += [perpetual(f"P{i:03d}-PERP", f"U{i:03d}", tiers=BTC_TIERS, ts=0),
                 ev.OraclePrice(ts=0, instrument=f"P{i:03d}-PERP", price=f"{prices[i]:.1f}")]
    node.submit_batch(head)
    chunk = 20_000
    for lo in range(0, n, chunk):
        batch = []
        for i in range(lo, min(n, lo + chunk)):
            batch += [ev.OpenSubAccount(ts=1, subaccount=sub(i)), ev.Deposit(ts=1, subaccount=sub(i), asset="USDC", amount="10000")]
        bad = [o for o in node.submit_batch(batch) if not o.accepted]
        assert not bad, bad[0].error
    built_accounts = time.perf_counter() - t0
    names_all = [sub(i) for i in range(n)]
    pairs = n // 2
    step = 12_500
    instruments = [f"P{i:03d}-PERP" for i in range(n_instr)]
    for lo in range(0, pairs, step):
        k = min(pairs, lo + step) - lo
        names = names_all[2 * lo: 2 * (lo + k)]
        inst = np.stack([rng.choice(n_instr, per, replace=False) for _ in range(k)]).ravel()
        m = k * per
        buyer = np.repeat(np.arange(0, 2 * k, 2), per)
        seller = buyer + 1
        lots = rng.integers(1, 50, m)
        px = (prices[inst] * 10).astype(np.int64)  # the tick grid of presets.perpetual is 0.1
        fx = node.submit(ev.TradeBatch(ts=2, instruments=instruments, subaccounts=names, item_kind="F" * m, time=[2] * m,
                                       instrument=inst.tolist(), buyer=buyer.tolist(), seller=seller.tolist(),
                                       price=px.tolist(), size=lots.tolist()))
        rej = [f for f in fx if f["kind"] == "Rejected"]
        assert not rej, rej[:2]
    built = time.perf_counter() - t0
    snap_seq = node.engine.seq
    positions = len(node.engine.book)
    t1 = time.perf_counter()
    node.take_snapshot()
    snap_s = time.perf_counter() - t1
    # the tail
    t2 = time.perf_counter()
    cur = prices.copy()
    batch: list = []
    for j in range(tail):
        ts = 3 + j
        if rng.random() < 0.1:
            i = int(rng.integers(n_instr))
            cur[i] = round(cur[i] * (1 + rng.normal(0, 0.002)), 1)
            batch.append(ev.OraclePrice(ts=ts, instrument=instruments[i], price=f"{cur[i]:.1f}"))
        else:
            a, b = rng.choice(n, 2, replace=False)
            i = int(rng.integers(n_instr))
            batch.append(ev.Fill(ts=ts, instrument=instruments[i], buyer=sub(int(a)), seller=sub(int(b)),
                                 price=f"{cur[i]:.1f}", size="0.001"))
        if len(batch) == 5_000:
            node.submit_batch(batch)
            batch = []
    if batch:
        node.submit_batch(batch)
    tail_s = time.perf_counter() - t2
    end = {"seq": node.engine.seq, "hash": node.engine.state_hash()}
    node.close()
    return {"built_s": built, "accounts_s": built_accounts, "snapshot_s": snap_s, "snap_seq": snap_seq,
            "positions": positions, "tail_build_s": tail_s, **end}


def recover(path: str) -> dict:
    """``replay`` from the snapshot, timed whole, and its parts timed apart the same way (read the snapshot row;
    :meth:`Engine.restore` with the snapshot checked against the journaled hash; the tail is the rest). The same
    state is also restored from the other form, in this run: from its container when the journal holds a JSON
    snapshot (written before the container), from its canonical JSON otherwise."""
    gc.collect()
    j = open_journal(f"sqlite:///{path}", durability="normal", create=False)
    t0 = time.perf_counter()
    seq, state_hash, blob = j.latest_snapshot()
    t_read = time.perf_counter()
    if snapshot.is_container(blob):
        snapshot.unpack(blob)  # decompress, the digest, the header
    else:
        _parse_state(zlib.decompress(blob), trusted=True)  # as a restore parses hash-checked JSON: positions by numpy
    t_unz = time.perf_counter()
    t_r0 = time.perf_counter()
    engine = Engine.restore(blob, expect_hash=state_hash)
    t_restore = time.perf_counter()
    assert engine.seq == seq
    h = engine.state_hash()  # what a restart used to pay on top: the hash rebuilt from the restored engine
    t_hash = time.perf_counter()
    assert h == state_hash
    # the other form of the same state, restored in this run
    other = engine.snapshot_and_hash()[1] if not snapshot.is_container(blob) else zlib.compress(engine.canonical_state(), 1)
    del engine
    gc.collect()
    t_o = time.perf_counter()
    again = Engine.restore(other, expect_hash=state_hash)
    other_s = time.perf_counter() - t_o
    assert again.seq == seq
    del again
    j.close()
    # the whole replay, as a restart runs it
    j = open_journal(f"sqlite:///{path}", durability="normal", create=False)
    gc.collect()
    t1 = time.perf_counter()
    e2 = replay(j)
    total = time.perf_counter() - t1
    end_hash = e2.state_hash()
    j.close()
    restore_s = t_restore - t_r0
    # what the next snapshot costs the service's writer: inline, or the fork of a child that encodes it
    t2 = time.perf_counter()
    e2.snapshot_and_hash()
    snap_inline = time.perf_counter() - t2
    fork_s = child_s = float("nan")
    if hasattr(os, "fork"):
        from ramparts.service.readview import collect_child, fork_child
        from ramparts.service.writer import _snapshot_bytes

        t3 = time.perf_counter()
        pid, fd = fork_child(lambda: _snapshot_bytes(e2))
        fork_s = time.perf_counter() - t3
        data = collect_child(pid, fd, 3600)
        child_s = time.perf_counter() - t3
        assert data is not None and data[:64].decode() == end_hash
    return {"read_s": t_read - t0, "parse_s": t_unz - t_read, "restore_s": restore_s, "format": "container" if snapshot.is_container(blob)
            else "JSON", "other_s": other_s, "other_mb": len(other) / 1e6,
            "rehash_s": t_hash - t_restore, "total_s": total, "tail_s": total - (t_read - t0) - restore_s,
            "seq": e2.seq, "snap_seq": seq, "end_hash": end_hash, "blob_mb": len(blob) / 1e6,
            "snap_inline_s": snap_inline, "snap_fork_s": fork_s, "snap_child_s": child_s}


def full_replay(path: str, to_seq: int | None) -> dict:
    j = open_journal(f"sqlite:///{path}", durability="normal", create=False)
    gc.collect()
    t0 = time.perf_counter()
    e = replay(j, use_snapshot=False, to_seq=to_seq)
    s = time.perf_counter() - t0
    out = {"seconds": s, "events": e.seq, "hash": e.state_hash() if to_seq is None else None}
    j.close()
    return out


def warm(tmp: str) -> float:
    """Compile the engine's kernels before anything is timed: a restart of a deployed venue finds them in numba's
    on-disk cache (``cache=True``), unless the code changed; a first run here would otherwise time the compiler."""
    t0 = time.perf_counter()
    path = str(Path(tmp) / "warm.sqlite")
    build(path, 400, 20, 4, 2_000, 3)
    j = open_journal(f"sqlite:///{path}", durability="normal", create=False)
    replay(j)
    j.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--instruments", type=int, default=200)
    ap.add_argument("--positions", type=int, default=4, help="positions per account")
    ap.add_argument("--tail", type=int, default=100_000, help="events after the snapshot")
    ap.add_argument("--full-replay", action="store_true", help="replay the whole journal as the baseline")
    ap.add_argument("--full-sample", type=int, default=300_000, help="rows replayed for the baseline otherwise")
    ap.add_argument("--journal", default="", help="keep the venue in this SQLite file (reused when it exists)")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = a.journal or str(Path(tmp.name) / "venue.sqlite")
    if not Path(path).exists():
        b = build(path, a.accounts, a.instruments, a.positions, a.tail, a.seed)
        print(f"built {a.accounts:,} accounts x {a.positions} positions over {a.instruments} perpetuals through the journal "
              f"in {b['built_s']:.1f} s (accounts {b['accounts_s']:.1f} s); snapshot at seq {b['snap_seq']:,} in "
              f"{b['snapshot_s']:.2f} s; tail of {a.tail:,} events written in {b['tail_build_s']:.1f} s "
              f"({a.tail / b['tail_build_s']:,.0f}/s through the node); end seq {b['seq']:,}")
    else:
        b = None
        print(f"reusing {path}")
    print(f"kernels compiled (or loaded from numba's cache) on a 400-account venue in {warm(tmp.name):.1f} s")
    r = recover(path)
    if b is not None:
        assert r["end_hash"] == b["hash"] and r["seq"] == b["seq"], "recovery did not reproduce the state"
    tail_n = r["seq"] - r["snap_seq"]
    print(f"\nrecovery from snapshot + tail ({r['blob_mb']:.0f} MB snapshot): {r['total_s']:.2f} s "
          f"(target <= 3 s at 1M accounts + 100,000 events)")
    other = "JSON" if r["format"] == "container" else "container"
    print(f"  read {r['read_s']:.2f} s | restore from the {r['format']} snapshot {r['restore_s']:.2f} s (of which decompressing and "
          f"parsing {r['parse_s']:.2f}, the check against the journaled hash and the slack indices included) | tail of {tail_n:,} events "
          f"{r['tail_s']:.2f} s ({tail_n / max(r['tail_s'], 1e-9):,.0f} events/s, effects compared with the journal's)")
    print(f"  the same state restored from its {other} form ({r['other_mb']:.0f} MB), same run: {r['other_s']:.2f} s "
          f"(the {r['format']} snapshot restores in {r['restore_s'] / r['other_s']:.2f}x that time)")
    print(f"  (the state hash rebuilt from the restored engine, which restarts no longer pay: {r['rehash_s']:.2f} s)")
    print(f"the next snapshot: inline (Engine.snapshot_and_hash on the writer thread) {r['snap_inline_s']:.2f} s; "
          f"forked (ramparts serve): the writer pays {1e3 * r['snap_fork_s']:.0f} ms, the child "
          f"{r['snap_child_s']:.2f} s on another core ({r['snap_inline_s'] / r['snap_fork_s']:.0f}x less writer time)")
    f = full_replay(path, None if a.full_replay else min(a.full_sample, r["seq"]))
    rate = f["events"] / f["seconds"]
    print(f"full replay (baseline, same run) of {f['events']:,} events: {f['seconds']:.2f} s = {rate:,.0f} events/s "
          f"(target >= 300,000/s)")
    if a.full_replay:
        assert f["hash"] == r["end_hash"], "the full replay ends elsewhere"
        print(f"ratio full replay / recovery: {f['seconds'] / r['total_s']:.1f}x")
    else:
        est = r["seq"] / rate
        print(f"full replay of all {r['seq']:,} events at that rate: about {est:.0f} s; recovery is {est / r['total_s']:.1f}x faster")
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
