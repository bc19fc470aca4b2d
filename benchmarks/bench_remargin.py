"""Benchmark: full re-margin and a one-instrument oracle tick at 10k, 100k and 1M accounts.

Each account holds 4 positions over 20 perpetuals (``--instruments``; the performance issue's own
population is 200) with Binance-like notional tiers. Three figures
per size, all measured in the same run:

* **full re-margin**: ``Engine.remargin_all()``: every position's notional, initial and
  maintenance margin at the current marks (exact int64), the per-account sums and the breach
  list;
* **one-instrument tick**: ``Engine.apply(OraclePrice)`` for one instrument: only its holders are
  re-margined, and the newly breached accounts are found (``--ticks`` timed after
  ``--warmup-ticks`` untimed: the first grow buffers once). All of them: the engine's lazy
  re-margin is switched off here (``lazy_remargin = False``); ``bench_tick_slack.py`` compares
  the two;
* **baseline**: a per-account Python loop doing the same full re-margin with the exact scalar
  schedule functions, timed on a sample of accounts and scaled per account.

Each size is measured twice on the same engine: first with the position slots in account order
(as trading leaves a book: every new position takes the next free slot, so an instrument's
holders are scattered over the whole book), then after ``Engine.compact_positions()`` has laid the
book out instrument-major (each instrument's holders one contiguous run of slots); the second row
gives the time the compaction took and the speed-up of the tick over the first row.

Run: ``python benchmarks/bench_remargin.py [--sizes 10000 100000 1000000] [--instruments 20]``.
The population is loaded straight into the struct-of-arrays store (a benchmark fixture: building
a million accounts through events would measure the event path, which has its own benchmark).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual

N_INSTRUMENTS = 20
POSITIONS_PER_ACCOUNT = 4


def build(n_accounts: int, seed: int = 1, n_instruments: int = N_INSTRUMENTS) -> Engine:
    rng = np.random.default_rng(seed)
    e = Engine()
    e.apply(genesis(ts=0))
    prices = rng.uniform(5, 50_000, n_instruments).round(1)
    for i in range(n_instruments):
        e.apply(perpetual(f"P{i:03d}-PERP", f"U{i:03d}", tiers=BTC_TIERS))
        e.apply(ev.OraclePrice(ts=0, instrument=f"P{i:03d}-PERP", price=str(prices[i])))
    from ramparts.domain.accounts import MarginMode, SubAccountId

    for k in range(n_accounts):
        e._add_sub(SubAccountId(f"acct{k}", "main"), MarginMode.CROSS, None, False)
    first = 1  # index 0 is the backstop vault
    subs = np.repeat(np.arange(first, first + n_accounts, dtype=np.int32), POSITIONS_PER_ACCOUNT)
    instr = np.stack([rng.choice(n_instruments, POSITIONS_PER_ACCOUNT, replace=False) for _ in range(min(n_accounts, 4096))])
    instr = np.resize(instr, (n_accounts, POSITIONS_PER_ACCOUNT)).astype(np.int32).ravel()
    marks = np.array([e.markets[i].mark for i in range(n_instruments)], dtype=np.int64)
    notional_target = rng.lognormal(np.log(20_000e6), 1.0, subs.size)
    lots = np.maximum((notional_target / marks[instr]).astype(np.int64), 1) * rng.choice([-1, 1], subs.size)
    cost = (lots * marks[instr] * rng.uniform(0.9, 1.1, subs.size)).astype(np.int64)
    # the slots in account order, as trading leaves them (open_many wants the pairs sorted by sub-account, then instrument)
    order = np.lexsort((instr, subs))
    subs, instr, lots, cost = subs[order], instr[order], lots[order], cost[order]
    slots = e.book.open_many(subs, instr)
    e.book.lots[slots], e.book.cost[slots], e.book.entry[slots] = lots, cost, cost
    np.add.at(e.sub_cost, subs, cost)
    e.ledger.sub_cash[first : first + n_accounts] = (np.abs(cost).reshape(n_accounts, -1).sum(1) * 0.08).astype(np.int64)
    e.remargin_all()
    return e


def python_loop(e: Engine, accounts: range) -> int:
    """The per-account baseline: exact scalar requirements, account by account."""
    breached = 0
    cash = e.ledger.sub_cash
    for s in accounts:
        equity = int(cash[s])
        mm_total = 0
        for instr_idx, slot in e.book.positions_of(s):
            instr = e.instruments[instr_idx]
            mark = e.markets[instr_idx].mark
            lots = int(e.book.lots[slot])
            value = lots * mark
            equity += value - int(e.book.cost[slot])
            notional = abs(value)
            instr.schedule.initial_margin(notional, 0.0)
            mm_total += instr.schedule.maintenance_margin(notional, 0.0)
        breached += equity < mm_total
    return breached


def timeit(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--loop-sample", type=int, default=20_000)
    ap.add_argument("--instruments", type=int, default=N_INSTRUMENTS, help="perpetuals the positions spread over")
    ap.add_argument("--ticks", type=int, default=1000, help="timed one-instrument ticks")
    ap.add_argument("--warmup-ticks", type=int, default=20, help="untimed ticks first")
    args = ap.parse_args()
    print(f"{'accounts':>10} {'positions':>10} {'slots':>20} {'full re-margin':>15} {'ns/position':>12} {'tick p50':>10} {'tick p99':>10} "
          f"{'holders':>9} {'loop (scaled)':>14} {'speed-up':>9}")
    for n in args.sizes:
        e = build(n, n_instruments=args.instruments)
        e.lazy_remargin = False  # this table is the full re-margin's; bench_tick_slack.py measures the lazy tick against it
        inst = e.instruments[0]
        base = e.markets[0].mark
        sample = range(1, 1 + min(n, args.loop_sample))
        loop = min(timeit(lambda e=e, sample=sample: python_loop(e, sample), 2)) * n / len(sample)
        npos = len(e.book)
        first = None
        t = 1
        for layout in ("account order", "instrument-major"):
            note = ""
            if layout == "instrument-major":
                t0 = time.perf_counter()
                e.compact_positions()
                note = f"  compact_positions() {time.perf_counter() - t0:.2f} s"
            full = min(timeit(e.remargin_all, 5))
            prices = [float(inst.price(base)) * (1 + 0.0001 * ((k % 7) - 3)) for k in range(args.warmup_ticks + args.ticks)]
            ticks = []
            for k, p in enumerate(prices):
                t0 = time.perf_counter()
                e.apply(ev.OraclePrice(ts=t, instrument=inst.symbol, price=f"{p:.1f}"))
                if k >= args.warmup_ticks:  # the first ticks grow buffers once (the insolvency mask, row scratch)
                    ticks.append(time.perf_counter() - t0)
                t += 1
            p50, p99 = np.percentile(ticks, 50), np.percentile(ticks, 99)
            if first is None:
                first = (full, p50, p99)
            else:
                note += f"; tick p50 {first[1] / p50:.1f}×, p99 {first[2] / p99:.1f}×, full {first[0] / full:.1f}× faster than in account order"
            print(f"{n:>10,} {npos:>10,} {layout:>20} {full * 1e3:>12.1f} ms {full / npos * 1e9:>12.1f} {p50 * 1e3:>7.2f} ms "
                  f"{p99 * 1e3:>7.2f} ms {e.book.holders(0).size:>9,} {loop * 1e3:>11.0f} ms {loop / full:>8.0f}×{note}", flush=True)


if __name__ == "__main__":
    main()
