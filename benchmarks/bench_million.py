"""Benchmark: a million accounts. Full re-margin against the memory-bandwidth floor, one-instrument
tick → newly breached accounts, the speed-up over a Python loop, and bytes per position.

Figures, all measured in the same run:

* **read bandwidth**: ``np.sum`` (one thread) and a numba ``prange`` sum (all threads) over a
  256 MiB int64 array; the larger is the bandwidth;
* **full re-margin** of ``--accounts × --positions`` positions over ``--instruments`` perpetuals
  (:func:`ramparts.engine.kernels.remargin_accounts`: equity, initial and maintenance margin and
  the breach list per account, exact int64): median of ``--repeat`` runs after warm-up, and its
  ratio to the **floor** = bytes touched (the CSR layout read once, the outputs written once)
  ÷ bandwidth;
* **scipy baseline**: the plain ``scipy.sparse`` CSR matrix-vector product ``lots @ marks``
  over the same layout (equity only, no margin), and its ratio to the same floor;
* **tick latency**: :meth:`ramparts.engine.liquidation_index.BreachTracker.tick` over
  ``--ticks`` random one-instrument moves of ±0.1–2 % on a second book of ``--accounts``
  accounts, 70 % holding one position (the liquidation-price index) and 30 % holding
  ``--positions`` (the incremental kernel); p50 / p99 / max, and a few ticks checked against a
  brute-force re-margin;
* **Python loop**: the same full re-margin account by account with the exact scalar schedule
  functions, timed on ``--loop-sample`` accounts and scaled to ``--loop-accounts``, against the
  kernel on a ``--loop-accounts`` book;
* **bytes per position** of each layout.

Run: ``python benchmarks/bench_million.py [--accounts 1000000 --positions 4 --instruments 200 --ticks 200]``.
About a minute on 2 cores (most of it building the books). Timings move with other load on the
machine: the table prints the load average seen at the start.
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
import scipy.sparse as sp

from ramparts.engine.kernels import remargin_accounts
from ramparts.engine.liquidation_index import BreachTracker
from ramparts.engine.presets import BTC_TIERS
from ramparts.fixedpoint import MAX_NOTIONAL
from ramparts.margin.layout import AccountBook, RemarginResult, TierTables
from ramparts.margin.schedule import MarginSchedule

USDC = 10**6


# ---------------------------------------------------------------------------------------- population
def schedules(n_instruments: int) -> list[MarginSchedule]:
    """BTC-like tiers for the first ten instruments, a tighter alt-coin table for the rest."""
    btc = MarginSchedule.from_rates(BTC_TIERS, 6)
    alt = MarginSchedule.from_rates(
        [["0", "0.02", "0.01"], ["5000", "0.025", "0.0125"], ["25000", "0.05", "0.025"], ["100000", "0.1", "0.05"],
         ["250000", "0.125", "0.0625"], ["1000000", "0.25", "0.125"], ["5000000", "0.5", "0.25"]],
        6,
    )  # fmt: skip
    return [btc if i < 10 else alt for i in range(n_instruments)]


def distinct_instruments(rng, n_accounts: int, k: int, n_instruments: int) -> np.ndarray:
    """``(n_accounts, k)`` instrument indices, distinct within each row."""
    out = rng.integers(0, n_instruments, (n_accounts, k))
    while True:
        s = np.sort(out, axis=1)
        dup = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1)) if k > 1 else np.zeros(0, np.int64)
        if not dup.size:
            return out
        out[dup] = rng.integers(0, n_instruments, (dup.size, k))


def position_lots(rng, marks_of_rows: np.ndarray) -> np.ndarray:
    """Signed lots: notional lognormal around 20,000 USDC (σ = 1), as in bench_remargin.py."""
    notional = rng.lognormal(np.log(20_000 * USDC), 1.0, marks_of_rows.size)
    lots = np.maximum((notional / marks_of_rows).astype(np.int64), 1)
    lots = np.minimum(lots, MAX_NOTIONAL // marks_of_rows // 4)
    return lots * rng.choice(np.array([-1, 1]), marks_of_rows.size)


def margin_cash(rng, lots: np.ndarray, marks_of_rows: np.ndarray, owner: np.ndarray, n_accounts: int, lo: float, hi: float) -> np.ndarray:
    """Cash (equity at marks 0) leaving each account an equity of U(lo, hi) × its gross notional."""
    value = lots * marks_of_rows
    gross = np.bincount(owner, weights=np.abs(value).astype(np.float64), minlength=n_accounts)
    net = np.zeros(n_accounts, dtype=np.int64)
    np.add.at(net, owner, value)
    return (gross * rng.uniform(lo, hi, n_accounts)).astype(np.int64) - net


def full_book(rng, n_accounts: int, k: int, n_instruments: int, marks: np.ndarray) -> AccountBook:
    instr = distinct_instruments(rng, n_accounts, k, n_instruments).ravel().astype(np.int32)
    lots = position_lots(rng, marks[instr])
    owner = np.repeat(np.arange(n_accounts), k)
    cash = margin_cash(rng, lots, marks[instr], owner, n_accounts, 0.0, 0.12)
    offsets = np.arange(0, n_accounts * k + 1, k, dtype=np.int64)
    return AccountBook.from_arrays(offsets, instr, lots, cash, n_instruments)


def mixed_book(rng, n_accounts: int, k: int, n_instruments: int, marks: np.ndarray, single_share: float = 0.7) -> AccountBook:
    n_single = int(n_accounts * single_share)
    counts = np.where(np.arange(n_accounts) < n_single, 1, k)
    rng.shuffle(counts)
    offsets = np.zeros(n_accounts + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    instr = np.empty(int(offsets[-1]), dtype=np.int32)
    single = counts == 1
    instr[offsets[:-1][single]] = rng.integers(0, n_instruments, int(single.sum()))
    multi_rows = (offsets[:-1][~single][:, None] + np.arange(k)).ravel()
    instr[multi_rows] = distinct_instruments(rng, int((~single).sum()), k, n_instruments).ravel()
    lots = position_lots(rng, marks[instr])
    owner = np.repeat(np.arange(n_accounts), counts)
    cash = margin_cash(rng, lots, marks[instr], owner, n_accounts, 0.005, 0.12)
    return AccountBook.from_arrays(offsets, instr, lots, cash, n_instruments)


# ---------------------------------------------------------------------------------------- measurements
@numba.njit(parallel=True, cache=True)
def _parallel_sum(x):
    s = 0
    for i in numba.prange(x.shape[0]):
        s += x[i]
    return s


def best_and_median(fn, repeat: int, warmup: int = 2) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), float(np.median(ts))


def read_bandwidth(repeat: int) -> tuple[float, float]:
    """(numpy one-thread, numba all-threads) read bandwidth in bytes/s over 256 MiB."""
    x = np.ones(32 * 2**20, dtype=np.int64)
    np_best, _ = best_and_median(lambda: x.sum(), repeat)
    nb_best, _ = best_and_median(lambda: _parallel_sum(x), repeat)
    return x.nbytes / np_best, x.nbytes / nb_best


def python_loop(book: AccountBook, scheds: list[MarginSchedule], marks: np.ndarray, accounts: range) -> tuple[list, list, list]:
    """The per-account baseline: exact scalar requirements, account by account."""
    off, instr, lots, cash = book.offsets, book.instr, book.lots, book.cash
    eq_out, mm_out, breached = [], [], []
    for a in accounts:
        equity = int(cash[a])
        im_total = mm_total = 0
        for p in range(int(off[a]), int(off[a + 1])):
            i = int(instr[p])
            lt = int(lots[p])
            mark = int(marks[i])
            equity += lt * mark
            notional = abs(lt) * mark
            im_total += scheds[i].initial_margin(notional, 0.0)
            mm_total += scheds[i].maintenance_margin(notional, 0.0)
        eq_out.append(equity)
        mm_out.append(mm_total)
        if equity < mm_total:
            breached.append(a)
    return eq_out, mm_out, breached


def sub_book(book: AccountBook, n: int) -> AccountBook:
    end = int(book.offsets[n])
    return AccountBook.from_arrays(book.offsets[: n + 1], book.instr[:end], book.lots[:end], book.cash[:n], book.n_instruments)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--positions", type=int, default=4, help="positions per account (full book) / per multi-instrument account")
    ap.add_argument("--instruments", type=int, default=200)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=9, help="timed runs of each full-book measurement")
    ap.add_argument("--loop-accounts", type=int, default=10_000)
    ap.add_argument("--loop-sample", type=int, default=2_000)
    ap.add_argument("--verify-ticks", type=int, default=5, help="timed ticks checked afterwards against a brute-force re-margin")
    ap.add_argument("--warmup-ticks", type=int, default=10, help="untimed ticks first")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    load = os.getloadavg()[0]
    t_start = time.perf_counter()
    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads ({os.cpu_count()} cpus), load average {load:.2f}")

    scheds = schedules(args.instruments)
    tables = TierTables.from_schedules(scheds)
    marks = np.exp(rng.uniform(np.log(1e3), np.log(5e7), args.instruments)).astype(np.int64)

    # ---- (a) full re-margin vs the bandwidth floor
    t0 = time.perf_counter()
    book = full_book(rng, args.accounts, args.positions, args.instruments, marks)
    build_a = time.perf_counter() - t0
    np_bw, nb_bw = read_bandwidth(5)
    bw = max(np_bw, nb_bw)
    out = RemarginResult.empty(book.n_accounts)
    res = remargin_accounts(book, tables, marks, out=out)
    n_breached = int(res.breached.size)
    touched = book.nbytes + tables.nbytes + marks.nbytes + (res.equity.nbytes + res.im.nbytes + res.mm.nbytes + res.breach.nbytes) + res.breached.nbytes
    floor = touched / bw
    k_best, k_med = best_and_median(lambda: remargin_accounts(book, tables, marks, out=out), args.repeat)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # compute-bound or bandwidth-bound? a bandwidth-bound kernel would not scale
    k1_best, k1_med = best_and_median(lambda: remargin_accounts(book, tables, marks, out=out), max(3, args.repeat // 2))
    numba.set_num_threads(threads)
    csr = sp.csr_matrix((book.lots, book.instr, book.offsets), shape=(book.n_accounts, args.instruments))
    s_best, s_med = best_and_median(lambda: csr @ marks, args.repeat)
    check = csr @ marks + book.cash
    assert np.array_equal(check, res.equity), "scipy equity differs from the kernel's"
    bytes_a = book.nbytes + res.equity.nbytes + res.im.nbytes + res.mm.nbytes + res.breach.nbytes
    bpp_a = bytes_a / book.n_positions

    # ---- (c) Python loop at --loop-accounts
    n_loop = min(args.loop_accounts, book.n_accounts)
    small = sub_book(book, n_loop)
    small_out = RemarginResult.empty(n_loop)
    kl_best, kl_med = best_and_median(lambda: remargin_accounts(small, tables, marks, out=small_out), 50, warmup=5)
    sample = range(min(args.loop_sample, n_loop))
    t0 = time.perf_counter()
    eq_py, mm_py, br_py = python_loop(small, scheds, marks, sample)
    loop = (time.perf_counter() - t0) * n_loop / len(sample)
    small_res = remargin_accounts(small, tables, marks, out=small_out)
    assert eq_py == small_res.equity[: len(sample)].tolist() and mm_py == small_res.mm[: len(sample)].tolist()
    assert br_py == [a for a in small_res.breached.tolist() if a < len(sample)]

    # ---- (b) tick -> newly breached on a mixed book
    t0 = time.perf_counter()
    mixed = mixed_book(rng, args.accounts, args.positions, args.instruments, marks)
    build_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    tracker = BreachTracker(mixed, tables, marks)
    build_tracker = time.perf_counter() - t0
    n_single = len(tracker.index)
    def random_tick() -> tuple[int, int]:
        i = int(rng.integers(0, args.instruments))
        move = rng.choice(np.array([-1.0, 1.0])) * rng.uniform(0.001, 0.02)
        return i, max(1, int(round(tracker.marks[i] * (1 + move))))

    for _ in range(args.warmup_ticks):  # code paths and dispatch warm, not timed
        tracker.tick(*random_tick())
    ticks, sizes, replay = [], [], []
    for k in range(args.ticks):
        i, new = random_tick()
        old_marks = tracker.marks.copy()
        t0 = time.perf_counter()
        newly = tracker.tick(i, new)
        ticks.append(time.perf_counter() - t0)
        sizes.append(newly.size)
        if k < args.verify_ticks:
            replay.append((old_marks, tracker.marks.copy(), newly))
    # brute force after the timed loop (a full re-margin in between would evict the tick's data)
    scratch = RemarginResult.empty(mixed.n_accounts)
    for k, (old_marks, new_marks, newly) in enumerate(replay):
        before = remargin_accounts(mixed, tables, old_marks, out=scratch).breach.copy()
        after = remargin_accounts(mixed, tables, new_marks, out=scratch).breach
        assert np.array_equal(newly, np.flatnonzero(after & ~before)), f"tick {k} differs from brute force"
    verified = len(replay)
    ticks_us = np.array(ticks) * 1e6
    holders = np.diff(tracker.holder_off)
    bytes_b = mixed.nbytes + tracker.nbytes
    bpp_b = bytes_b / mixed.n_positions

    # ---- report
    ratio = k_med / floor
    s_ratio = s_med / floor
    p50, p99, pmax = np.percentile(ticks_us, 50), np.percentile(ticks_us, 99), ticks_us.max()
    speedup = loop / kl_med
    print()
    print(f"read bandwidth         numpy 1 thread {np_bw / 1e9:6.1f} GB/s   numba {numba.get_num_threads()} threads {nb_bw / 1e9:6.1f} GB/s   -> {bw / 1e9:.1f} GB/s")
    print(f"full book              {book.n_accounts:,} accounts x {args.positions} = {book.n_positions:,} positions, "
          f"{args.instruments} instruments, {n_breached:,} breached (built in {build_a:.1f} s)")
    print(f"bytes touched          {touched / 1e6:.1f} MB (layout {book.nbytes / 1e6:.1f} MB read, outputs {(touched - book.nbytes) / 1e6:.1f} MB written)")
    print(f"floor                  {floor * 1e3:.2f} ms")
    print(f"numba kernel           median {k_med * 1e3:.2f} ms  best {k_best * 1e3:.2f} ms  -> {ratio:.2f}x floor  ({k_med / book.n_positions * 1e9:.2f} ns/position)")
    print(f"numba kernel, 1 thread median {k1_med * 1e3:.2f} ms  -> {k1_med / k_med:.2f}x faster on {threads} threads "
          f"({k1_med / book.n_positions * 1e9:.2f} ns/position/core: compute-bound where this approaches {threads})")
    print(f"scipy CSR matvec       median {s_med * 1e3:.2f} ms  best {s_best * 1e3:.2f} ms  -> {s_ratio:.2f}x floor  (equity only, 1 thread)")
    print(f"mixed book             {mixed.n_accounts:,} accounts: {n_single:,} single-position (index), "
          f"{mixed.n_accounts - n_single:,} with {args.positions}; {mixed.n_positions:,} positions (built in {build_b:.1f} s, tracker {build_tracker:.2f} s)")
    print(f"multi holders/instr    mean {holders.mean():.0f}  max {holders.max()}")
    print(f"tick -> newly breached p50 {p50:.0f} us  p99 {p99:.0f} us  max {pmax:.0f} us over {args.ticks} ticks "
          f"(mean {np.mean(sizes):.1f} accounts/tick; {verified} ticks checked against brute force)")
    print(f"python loop            {loop * 1e3:.0f} ms for {n_loop:,} accounts (sample {len(sample):,}, scaled) vs kernel {kl_med * 1e6:.0f} us -> {speedup:,.0f}x")
    print(f"bytes / position       full book {bpp_a:.1f} B (CSR + outputs)   mixed book {bpp_b:.1f} B (CSR + index + holder lists + caches)")
    print()
    rows = [
        ("(a) full re-margin / floor", f"{ratio:.2f}x", "<= 2x", ratio <= 2),
        ("    scipy CSR matvec / floor", f"{s_ratio:.2f}x", "(baseline)", None),
        ("(b) tick p99 (1M accounts)" if args.accounts == 1_000_000 else f"(b) tick p99 ({args.accounts:,} accounts)", f"{p99 / 1e3:.3f} ms", "<= 0.5 ms", p99 <= 500),
        (f"(c) speed-up vs Python @ {n_loop:,}", f"{speedup:,.0f}x", ">= 300x", speedup >= 300),
        ("(d) bytes / position", f"{max(bpp_a, bpp_b):.1f} B", "<= 200 B", max(bpp_a, bpp_b) <= 200),
    ]
    print(f"{'target':<34} {'measured':>12} {'goal':>11}  status")
    for name, got, goal, ok in rows:
        status = "" if ok is None else ("meets" if ok else "MISSES")
        print(f"{name:<34} {got:>12} {goal:>11}  {status}")
    print(f"(total {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
