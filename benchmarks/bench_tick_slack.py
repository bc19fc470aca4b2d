"""Benchmark: the oracle tick with the lazy re-margin (margin slack kept per sub-account) against the
forced full re-margin, on the same engine, in the same run.

The population is ``bench_remargin.build``'s (N accounts × 4 positions over ``--instruments``
perpetuals with Binance-like tiers, cash 8 % of the gross cost basis, the book then laid out
instrument-major as replay and snapshots leave it). A price path is drawn once: each tick moves
one instrument (chosen at random) by a normal step of ``--sigma`` (relative). The same path is
applied in blocks that alternate the two modes on the one engine (``Engine.lazy_remargin``
False / True), so that both see the same book and the machine's drift hits both alike:

* **full**: every holder of the ticked instrument re-margined (``reprice_holders``), as before;
* **lazy**: only the holders whose band the new mark leaves (plus those that must be re-margined
  every tick: margin-called in breach, and so on) are re-margined; the rest are skipped
  (``ramparts.engine.tick_slack``).

The first ``--warmup`` ticks of each block are not timed (switching modes catches up every
cache and rebuilds each instrument's index on its first lazy tick). Printed per size: tick p50 /
p99 of each mode, the ratio full / lazy, the holders re-margined per lazy tick (mean) against
the holders per tick, the p50 and p99 of the same event on an instrument nobody holds (what every tick
costs before any re-margin: parsing, the mark model, the breakers; its p99 is the floor the
machine's load sets for any tick's p99), and a check that the engine's caches equal a fresh full
re-margin at the end. A second line per size says what the slow lazy ticks did: the share of
them that folded an index and their p50, the p99 of the others and of the holders re-margined a
tick, and one fold of the biggest index timed by the engine's kernel and by the numpy fold it
replaced (kept here as the baseline), on the same inputs, results checked equal. A third line: the
index's incremental merge (the share of lazy ticks that took a step of it and their p99, the
entries a tick merged, the slowest step, the merges finished and those that had to be finished at
once; each lazy block starts from rebuilt indexes, so few merges begin within one). With
``--chunk-ticks N``, a fourth line: the lazy tick with its stages 16 holders at a time (the
engine's) against all the triggered holders at once, N ticks each in alternating blocks on one
engine after the others (the index's steady state: the share of its ticks that took a merge step).

With ``--stream-items N`` it also measures what the lazy re-margin costs elsewhere: a stream of
one event per item (90 % fills of random accounts against a market maker, 10 % index prices) on
``--stream-accounts`` accounts and ``--stream-instruments`` perpetuals, applied to a lazy and to a
full engine in alternation (``--stream-rounds`` each), items per second and the end state hashes
compared.

Run: ``python benchmarks/bench_tick_slack.py [--sizes 1000000] [--instruments 200 20] [--ticks 2000]
[--stream-items 20000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_remargin import build  # noqa: E402

from ramparts.engine import (
    Engine,  # noqa: E402
    tick_slack,  # noqa: E402
)
from ramparts.engine import events as ev  # noqa: E402
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual  # noqa: E402
from ramparts.engine.slack_index import SlackIndex, _fold_both  # noqa: E402
from ramparts.errors import RampartsError  # noqa: E402


def warm_merge() -> None:
    """Compile the index's merge step before anything is timed (its first merge comes hundreds of
    ticks into a block, past the untimed warm-up ticks)."""
    idx = SlackIndex()
    idx.ensure(1)
    s = np.arange(8, dtype=np.int64)
    stamp = np.ones(8, dtype=np.int64)
    idx.build(0, s, s + 1, s, stamp.copy())
    idx._start(0, stamp)
    idx.finish(stamp)
    idx.step_max_s = 0.0


def run(n: int, n_instr: int, ticks: int, blocks: int, warmup: int, sigma: float, seed: int, chunk_ticks: int = 0) -> dict:
    warm_merge()
    t0 = time.perf_counter()
    e = build(n, n_instruments=n_instr)
    e.compact_positions()
    built = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    per_block = ticks // blocks
    prices = [float(e.instruments[i].price(e.markets[i].mark)) for i in range(n_instr)]
    times: dict[bool, list[float]] = {False: [], True: []}
    holders, rechecked, folded, merged = [], [], [], []
    t = 1
    for blk in range(2 * blocks):
        lazy = blk % 2 == 1
        e.lazy_remargin = lazy
        for i in range(n_instr):  # untimed: the switch catches every cache up, and each index is (re)built
            e.apply(ev.OraclePrice(ts=t, instrument=e.instruments[i].symbol, price=f"{prices[i]:.1f}"))
            t += 1
        for k in range(warmup + per_block):
            i = int(rng.integers(0, n_instr))
            prices[i] *= float(np.exp(rng.normal(0, sigma)))
            x = ev.OraclePrice(ts=t, instrument=e.instruments[i].symbol, price=f"{prices[i]:.1f}")
            r0 = e.lazy_stats["rechecked"]
            f0, w0 = e._lz_index.folds, e._lz_index.merged
            t0 = time.perf_counter()
            e.apply(x)
            dt = time.perf_counter() - t0
            t += 1
            if k >= warmup:
                times[lazy].append(dt)
                if lazy:
                    holders.append(e.book.holders(i).size)
                    rechecked.append(e.lazy_stats["rechecked"] - r0)
                    folded.append(e._lz_index.folds > f0)
                    merged.append(e._lz_index.merged - w0)
    # the floor: the same event on an instrument nobody holds (parsing, mark model, breakers, no re-margin)
    e.apply(perpetual("EMPTY-PERP", "EMPTY", tiers=BTC_TIERS, ts=t))
    empty = []
    for k in range(1000):
        x = ev.OraclePrice(ts=t, instrument="EMPTY-PERP", price=f"{100 + k % 7:.1f}")
        t0 = time.perf_counter()
        e.apply(x)
        empty.append(time.perf_counter() - t0)
        t += 1
    fold_new, fold_old, fold_entries = fold_costs(e)
    chunks, t = chunk_pipeline(e, rng, prices, t, chunk_ticks, sigma) if chunk_ticks else ({}, t)
    # the caches a reader sees equal a fresh full re-margin
    m = len(e.subs)
    mm, value = e.sub_mm[:m].copy(), e.sub_value[:m].copy()
    e.lazy_remargin = False
    e.remargin_all()
    exact = bool(np.array_equal(mm, e.sub_mm[:m]) and np.array_equal(value, e.sub_value[:m]))
    full, lazy_t = np.array(times[False]), np.array(times[True])
    merged_a = np.array(merged)
    idx = e._lz_index
    return {
        "n": n, "instr": n_instr, "built": built, "holders": float(np.mean(holders)),
        "full_p50": np.percentile(full, 50), "full_p99": np.percentile(full, 99),
        "lazy_p50": np.percentile(lazy_t, 50), "lazy_p99": np.percentile(lazy_t, 99),
        "rechecked": float(np.mean(rechecked)),
        "empty_p50": np.percentile(empty, 50), "empty_p99": np.percentile(empty, 99),
        "exact": exact,
        # what the slow lazy ticks do: fold an index (share of ticks, their p50), or re-margin many holders
        "fold_share": float(np.mean(folded)), "fold_p50": float(np.percentile(lazy_t[np.array(folded)], 50)) if any(folded) else 0.0,
        "nofold_p99": float(np.percentile(lazy_t[~np.array(folded)], 99)), "rechecked_p99": float(np.percentile(rechecked, 99)),
        "fold_new": fold_new, "fold_old": fold_old, "fold_entries": fold_entries, "chunks": chunks,
        # the incremental merge: ticks that took a step of it, their p99, entries a tick merged, the slowest step
        "merge_share": float(np.mean(merged_a > 0)),
        "merge_p99": float(np.percentile(lazy_t[merged_a > 0], 99)) if (merged_a > 0).any() else 0.0,
        "merged_mean": float(merged_a.mean()), "merged_max": int(merged_a.max()), "step_max": idx.step_max_s,
        "runs": idx.runs, "merges": idx.merges, "forced": idx.forced,
    }


def chunk_pipeline(e, rng, prices: list[float], t: int, ticks: int, sigma: float) -> tuple[dict, int]:
    """The lazy tick's stages 16 holders at a time (``tick_slack.LAZY_CHUNK``, the engine's) against
    all the triggered holders at once (the baseline: the pass before it was chunked), in blocks
    of 100 ticks alternating on the one engine: per setting the tick p50 / p99, the µs a
    re-margined holder costs on ticks that re-margin 500 or more (tick time / holders) and the share
    of ticks that took a step of the index's merge; and the next free timestamp."""
    n_instr = len(prices)
    out: dict[int, list[tuple[float, int, bool]]] = {16: [], 0: []}
    for blk in range(2 * (ticks // 100)):
        size = 16 if blk % 2 else 0
        tick_slack.LAZY_CHUNK = size if size else 1 << 40
        for k in range(110):
            i = int(rng.integers(0, n_instr))
            prices[i] *= float(np.exp(rng.normal(0, sigma)))
            x = ev.OraclePrice(ts=t, instrument=e.instruments[i].symbol, price=f"{prices[i]:.1f}")
            r0 = e.lazy_stats["rechecked"]
            w0 = e._lz_index.merged
            t0 = time.perf_counter()
            e.apply(x)
            dt = time.perf_counter() - t0
            t += 1
            if k >= 10:  # the first ten of a block untimed
                out[size].append((dt, e.lazy_stats["rechecked"] - r0, e._lz_index.merged > w0))
    tick_slack.LAZY_CHUNK = 16
    res = {}
    for size, rows in out.items():
        d = np.array([r[0] for r in rows])
        h = np.array([r[1] for r in rows])
        big = h >= 500
        stepped = float(np.mean([r[2] for r in rows]))  # ticks that took a step of the index's merge
        res[size] = (np.percentile(d, 50), np.percentile(d, 99), d[big].sum() / max(int(h[big].sum()), 1), int(big.sum()), stepped)
    return res, t


def numpy_fold(by_lo: tuple, by_hi: tuple, new: tuple, live_stamp: np.ndarray) -> tuple[tuple, tuple]:
    """The baseline: the index fold as ``SlackIndex.compact`` did it before it became one numba
    kernel (numpy filters, a stable argsort and ``np.insert`` per column)."""
    lo_v, lo_hi, lo_s, lo_t = by_lo
    hi_v, hi_s, hi_t = by_hi
    p_lo, p_hi, p_s, p_t = new
    live = p_t == live_stamp[p_s]
    p_lo, p_hi, p_s, p_t = p_lo[live], p_hi[live], p_s[live], p_t[live]
    keep = lo_t == live_stamp[lo_s]
    lo_v, lo_hi, lo_s, lo_t = lo_v[keep], lo_hi[keep], lo_s[keep], lo_t[keep]
    keep = hi_t == live_stamp[hi_s]
    hi_v, hi_s, hi_t = hi_v[keep], hi_s[keep], hi_t[keep]
    a = np.argsort(p_lo, kind="stable")
    at = np.searchsorted(lo_v, p_lo[a], side="right")
    out_lo = tuple(np.insert(col, at, x[a]) for col, x in ((lo_v, p_lo), (lo_hi, p_hi), (lo_s, p_s), (lo_t, p_t)))
    b = np.argsort(p_hi, kind="stable")
    at = np.searchsorted(hi_v, p_hi[b], side="right")
    out_hi = tuple(np.insert(col, at, x[b]) for col, x in ((hi_v, p_hi), (hi_s, p_s), (hi_t, p_t)))
    return out_lo, out_hi


def fold_costs(e, repeat: int = 7) -> tuple[float, float, int]:
    """Median seconds of one fold of the biggest index (its entries and pending entries as they
    are now), by the engine's kernel and by the numpy baseline, on the same inputs; the two
    results checked equal (ties between equal edges may come in another order)."""
    idx = e._lz_index
    i = max(range(idx.ok.shape[0]), key=lambda j: idx.size(j) if idx.ok[j] else -1)
    n = int(idx.p_n[i])
    parts = [idx._merging[i].entries(), idx._middle[i].entries(), tuple(idx.pend[c, i, :n] for c in range(4))]
    new = tuple(np.concatenate(col) for col in zip(*parts, strict=True))
    big = idx._big[i]
    by_lo, by_hi = (big.lo, big.lo_hi, big.lo_s, big.lo_t), (big.hi, big.hi_s, big.hi_t)
    a = _fold_both(by_lo, by_hi, new, e._lz_stamp)
    b = numpy_fold(by_lo, by_hi, new, e._lz_stamp)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x[0], y[0]) and sorted(zip(*(c.tolist() for c in x), strict=True)) == sorted(zip(*(c.tolist() for c in y), strict=True))
    costs = []
    for fn in (_fold_both, numpy_fold):
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(by_lo, by_hi, new, e._lz_stamp)
            ts.append(time.perf_counter() - t0)
        costs.append(float(np.median(ts)))
    return costs[0], costs[1], idx.size(i)


def stream(n_acc: int, n_instr: int, n_items: int, rounds: int, seed: int) -> dict:
    """Fills and prices one event at a time, lazy and full engines in alternation."""
    rng = np.random.default_rng(seed)
    setup = [genesis(ts=0), *(perpetual(f"S{k}-PERP", f"V{k}", tiers=BTC_TIERS) for k in range(n_instr))]
    setup += [ev.OraclePrice(ts=0, instrument=f"S{k}-PERP", price="100") for k in range(n_instr)]
    setup += [ev.OpenSubAccount(ts=0, subaccount="mm/main"), ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="1000000000")]
    for a in range(n_acc):
        setup += [ev.OpenSubAccount(ts=0, subaccount=f"a{a}/main"), ev.Deposit(ts=0, subaccount=f"a{a}/main", asset="USDC", amount="10000")]
    px = [100.0] * n_instr
    items = []
    for t in range(1, n_items + 1):
        k = int(rng.integers(0, n_instr))
        if rng.random() < 0.9:
            a = f"a{int(rng.integers(0, n_acc))}/main"
            b, s = (a, "mm/main") if rng.random() < 0.5 else ("mm/main", a)
            items.append(ev.Fill(ts=t, instrument=f"S{k}-PERP", buyer=b, seller=s, price=f"{px[k]:.1f}", size=f"{rng.uniform(0.001, 5):.3f}"))
        else:
            px[k] *= float(np.exp(rng.normal(0, 0.001)))
            items.append(ev.OraclePrice(ts=t, instrument=f"S{k}-PERP", price=f"{px[k]:.1f}"))
    rates: dict[bool, list[float]] = {False: [], True: []}
    hashes = set()
    for _ in range(rounds):
        for lazy in (False, True):
            e = Engine()
            e.lazy_remargin = lazy
            for x in setup:
                e.apply(x)
            t0 = time.perf_counter()
            for x in items:
                try:
                    e.apply(x)
                except RampartsError:
                    pass
            rates[lazy].append(len(items) / (time.perf_counter() - t0))
            hashes.add(e.state_hash())
    return {"full": rates[False], "lazy": rates[True], "same_state": len(hashes) == 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000], help="accounts (none: the stream only)")
    ap.add_argument("--instruments", type=int, nargs="+", default=[200, 20])
    ap.add_argument("--ticks", type=int, default=2000, help="timed ticks per mode")
    ap.add_argument("--blocks", type=int, default=4, help="alternating blocks per mode")
    ap.add_argument("--warmup", type=int, default=20, help="untimed random ticks at the start of each block (after one per instrument)")
    ap.add_argument("--sigma", type=float, default=0.0005, help="relative standard deviation of one tick's move")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk-ticks", type=int, default=0,
                    help="also time the lazy tick's chunked stages against all at once, this many ticks each (0: no)")
    ap.add_argument("--stream-items", type=int, default=0, help="also run the fills-and-prices stream (0: no)")
    ap.add_argument("--stream-accounts", type=int, default=10_000)
    ap.add_argument("--stream-instruments", type=int, default=10)
    ap.add_argument("--stream-rounds", type=int, default=3)
    args = ap.parse_args()
    if args.stream_items:
        r = stream(args.stream_accounts, args.stream_instruments, args.stream_items, args.stream_rounds, args.seed)
        full, lazy = max(r["full"]), max(r["lazy"])
        print(f"stream of {args.stream_items:,} items (90 % fills, 10 % prices), {args.stream_accounts:,} accounts, "
              f"{args.stream_instruments} perpetuals: full {full:,.0f} items/s, lazy {lazy:,.0f} items/s (best of "
              f"{args.stream_rounds} each), lazy / full {lazy / full:.2f}×, same end state: {r['same_state']}", flush=True)
    if not args.sizes:
        return
    print(f"{'accounts':>10} {'instr':>6} {'holders/tick':>12} {'full p50':>9} {'full p99':>9} {'lazy p50':>9} {'lazy p99':>9} "
          f"{'p50 ratio':>9} {'p99 ratio':>9} {'rechecked/tick':>14} {'no holders':>10} {'exact':>6}", flush=True)
    for n in args.sizes:
        for k in args.instruments:
            r = run(n, k, args.ticks, args.blocks, args.warmup, args.sigma, args.seed, args.chunk_ticks)
            print(f"{n:>10,} {k:>6} {r['holders']:>12,.0f} {r['full_p50'] * 1e3:>6.3f} ms {r['full_p99'] * 1e3:>6.3f} ms "
                  f"{r['lazy_p50'] * 1e3:>6.3f} ms {r['lazy_p99'] * 1e3:>6.3f} ms {r['full_p50'] / r['lazy_p50']:>8.1f}× "
                  f"{r['full_p99'] / r['lazy_p99']:>8.1f}× {r['rechecked']:>14,.1f} {r['empty_p50'] * 1e3:>7.3f} ms {str(r['exact']):>6}"
                  f"   (built in {r['built']:.1f} s; sigma {args.sigma})", flush=True)
            print(f"{'':>17} lazy ticks that folded an index: {r['fold_share']:.1%}, p50 {r['fold_p50'] * 1e3:.3f} ms; p99 of the others "
                  f"{r['nofold_p99'] * 1e3:.3f} ms, holders re-margined p99 {r['rechecked_p99']:,.0f}; one fold of the biggest index "
                  f"({r['fold_entries']:,} entries): kernel {r['fold_new'] * 1e3:.2f} ms, numpy baseline {r['fold_old'] * 1e3:.2f} ms "
                  f"({r['fold_old'] / r['fold_new']:.1f}×); the tick of an instrument nobody holds: p99 {r['empty_p99'] * 1e3:.3f} ms "
                  f"(this machine's floor for any tick's p99 at its current load)", flush=True)
            print(f"{'':>17} incremental merge: {r['merge_share']:.1%} of the lazy ticks took a step, their p99 "
                  f"{r['merge_p99'] * 1e3:.3f} ms; entries merged a tick (per sorted copy) mean {r['merged_mean']:,.0f}, "
                  f"max {r['merged_max']:,}; slowest step {r['step_max'] * 1e3:.3f} ms; {r['runs']:,} middle runs, "
                  f"{r['merges']} merges finished, {r['forced']} finished at once", flush=True)
            if r["chunks"]:
                a, b = r["chunks"][16], r["chunks"][0]
                print(f"{'':>17} lazy tick, stages 16 holders at a time: p50 {a[0] * 1e3:.3f} ms, p99 {a[1] * 1e3:.3f} ms, "
                      f"{a[2] * 1e6:.2f} µs a holder on {a[3]} ticks of ≥ 500; all at once (baseline): p50 {b[0] * 1e3:.3f} ms, "
                      f"p99 {b[1] * 1e3:.3f} ms, {b[2] * 1e6:.2f} µs on {b[3]}; µs a holder {b[2] / a[2]:.2f}×; a merge step on "
                      f"{a[4]:.1%} and {b[4]:.1%} of these ticks", flush=True)


if __name__ == "__main__":
    main()
