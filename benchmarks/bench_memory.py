"""Benchmark: what a 1M-account venue costs in memory, and where it goes (issue 24, item 5).

Builds, in one process with no journal, the venue of ``bench_recovery.py``: ``--instruments`` perpetuals
with Binance-like BTC tiers, ``--accounts`` funded sub-accounts, then ``TradeBatch`` events giving each
account ``--positions`` positions (account 2k buys from 2k + 1 on distinct instruments). It prints:

* the process's resident memory (``VmRSS``) after the imports and a small venue that compiles the
  kernels (the baseline, same run: compiled code is not the venue's), after the
  sub-accounts are open, after the positions, and its peak (``VmHWM``), against the issue's target of
  1 GB resident for the whole venue;
* the engine's numpy arrays by attribute (their ``nbytes``, each array counted once), and what the
  resident growth holds beyond them (Python objects: the sub-accounts' identities, dicts, the ledger);
* bytes per position and per sub-account.

Run: ``python benchmarks/bench_memory.py [--accounts 1000000 --positions 4 --instruments 200]`` (about two
minutes at 1M on this machine; ``--accounts 100000`` for a quick look).
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual


def status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def arrays(obj, seen: set[int], depth: int = 0) -> int:
    """Bytes of the numpy arrays reachable from ``obj`` (attributes, dict values, list items; 3 levels)."""
    if isinstance(obj, np.ndarray):
        base = obj if obj.base is None else obj.base
        if id(base) in seen or not isinstance(base, np.ndarray):
            return 0
        seen.add(id(base))
        return base.nbytes
    if depth >= 3 or isinstance(obj, (str, bytes, int, float, bool, type(None))):
        return 0
    if isinstance(obj, dict):
        return sum(arrays(v, seen, depth + 1) for v in list(obj.values())[:10_000])
    if isinstance(obj, (list, tuple)):
        return sum(arrays(v, seen, depth + 1) for v in obj[:10_000])
    d = getattr(obj, "__dict__", None)
    if d is None:
        slots = getattr(type(obj), "__slots__", ())
        return sum(arrays(getattr(obj, s, None), seen, depth + 1) for s in slots)
    return sum(arrays(v, seen, depth + 1) for v in d.values())


def sub(i: int) -> str:
    return f"u{i:07d}/main"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--positions", type=int, default=4)
    ap.add_argument("--instruments", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trace", action="store_true", help="also list where the memory was allocated (tracemalloc: "
                                                         "slower; numpy's buffers included)")
    a = ap.parse_args()
    build(min(2_000, a.accounts), a.positions, a.instruments, a.seed)  # compiles the kernels: not the venue's memory
    gc.collect()
    if a.trace:
        import tracemalloc

        tracemalloc.start()
    base = status("VmRSS")
    t0 = time.perf_counter()
    e, opened = build(a.accounts, a.positions, a.instruments, a.seed)
    gc.collect()
    built = status("VmRSS")
    peak = status("VmHWM")
    report(a, e, base, opened, built, peak, time.perf_counter() - t0)
    if a.trace:
        stats = tracemalloc.take_snapshot().statistics("lineno")
        total = sum(st.size for st in stats)
        print(f"\nallocated and still held, by source line (tracemalloc, {total / 2**20:,.0f} MiB in all):")
        for st in stats[:15]:
            fr = st.traceback[0]
            print(f"  {st.size / 2**20:>8,.1f} MiB  {st.size / max(len(e.book), 1):>6,.0f} B/position  "
                  f"{fr.filename.split('src/')[-1]}:{fr.lineno}")


def build(accounts: int, n_pos: int, n_instr: int, seed: int) -> tuple[Engine, int]:
    """The venue (see the module docstring), and the resident memory once its sub-accounts were open."""
    rng = np.random.default_rng(seed)
    a = argparse.Namespace(accounts=accounts, positions=n_pos, instruments=n_instr)
    e = Engine()
    prices = rng.uniform(5, 50_000, a.instruments).round(1)
    e.apply(genesis(ts=0))
    for i in range(a.instruments):
        e.apply(perpetual(f"P{i:03d}-PERP", f"U{i:03d}", tiers=BTC_TIERS, ts=0))
        e.apply(ev.OraclePrice(ts=0, instrument=f"P{i:03d}-PERP", price=f"{prices[i]:.1f}"))
    for i in range(a.accounts):
        e.apply(ev.OpenSubAccount(ts=1, subaccount=sub(i)))
        e.apply(ev.Deposit(ts=1, subaccount=sub(i), asset="USDC", amount="10000"))
    gc.collect()
    opened = status("VmRSS")
    instruments = [f"P{i:03d}-PERP" for i in range(a.instruments)]
    names_all = [sub(i) for i in range(a.accounts)]
    step = 12_500
    for lo in range(0, a.accounts // 2, step):
        k = min(a.accounts // 2, lo + step) - lo
        names = names_all[2 * lo: 2 * (lo + k)]
        inst = np.stack([rng.choice(a.instruments, a.positions, replace=False) for _ in range(k)]).ravel()
        m = k * a.positions
        buyer = np.repeat(np.arange(0, 2 * k, 2), a.positions)
        fx = e.apply(ev.TradeBatch(ts=2, instruments=instruments, subaccounts=names, item_kind="F" * m, time=[2] * m,
                                   instrument=inst.tolist(), buyer=buyer.tolist(), seller=(buyer + 1).tolist(),
                                   price=(prices[inst] * 10).astype(np.int64).tolist(), size=rng.integers(1, 50, m).tolist()))
        assert not [f for f in fx if f["kind"] == "Rejected"]
    del names_all, fx
    e.compact_positions()
    return e, opened


def report(a, e: Engine, base: int, opened: int, built: int, peak: int, secs: float) -> None:
    positions = len(e.book)
    per_attr = {}
    seen: set[int] = set()
    for name, value in vars(e).items():
        n = arrays(value, seen)
        if n:
            per_attr[name] = n
    numpy_total = sum(per_attr.values())
    grown = built - base
    mb = 1 / 2**20
    print(f"{a.accounts:,} sub-accounts x {a.positions} positions over {a.instruments} perpetuals, built in {secs:.0f} s "
          f"({positions:,} positions)")
    print(f"{'resident after imports and compiling':<44}{base * mb:>10,.0f} MiB")
    print(f"{'resident with the sub-accounts open':<44}{opened * mb:>10,.0f} MiB  (+{(opened - base) * mb:,.0f})")
    print(f"{'resident with the positions':<44}{built * mb:>10,.0f} MiB  (+{grown * mb:,.0f} over the baseline)")
    print(f"{'peak resident (VmHWM)':<44}{peak * mb:>10,.0f} MiB")
    print(f"{'target: the venue resident, all in':<44}{1024:>10,} MiB  measured {built * mb:,.0f} MiB "
          f"({built / 2**30:.2f}x the target)")
    print(f"\nthe engine's numpy arrays: {numpy_total * mb:,.0f} MiB; beyond them the growth holds {(grown - numpy_total) * mb:,.0f} MiB "
          f"(Python objects, allocator slack)")
    for name, n in sorted(per_attr.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {name:<30}{n * mb:>10,.1f} MiB")
    print(f"\nper position: {grown / max(positions, 1):,.0f} B resident growth, {numpy_total / max(positions, 1):,.0f} B in arrays; "
          f"per sub-account: {(opened - base) / max(a.accounts, 1):,.0f} B to open (the library's own layout: 84.9 B a position)")


if __name__ == "__main__":
    main()
