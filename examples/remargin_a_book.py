"""Re-margin a whole book of accounts in one compiled pass, then follow one instrument's ticks.

What this example owns: the library-level risk kernels of :mod:`ramparts.engine.kernels` and
:mod:`ramparts.engine.liquidation_index`, used directly, without the engine:

1. a book of ``--accounts`` accounts holding ``--positions`` perpetual positions each, in the
   account-major CSR layout (:class:`~ramparts.margin.layout.AccountBook`), and Binance-like
   notional tiers for every instrument (:class:`~ramparts.margin.layout.TierTables`);
2. a full re-margin (equity, initial and maintenance margin, the breach list), checked against the
   pure-numpy reference on a sample of accounts;
3. a :class:`~ramparts.engine.liquidation_index.BreachTracker` fed a falling price of one
   instrument: each tick returns the accounts that newly breach maintenance, and the last state is
   checked against a full re-margin at the final marks.

Every amount is an exact integer: lots, lot prices (USDC base units per lot), base units.

Run: ``python examples/remargin_a_book.py [--accounts 200000 --positions 4 --instruments 50]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console

from ramparts.engine.kernels import remargin_accounts
from ramparts.engine.liquidation_index import BreachTracker
from ramparts.engine.presets import BTC_TIERS
from ramparts.margin.layout import AccountBook, TierTables, remargin_reference
from ramparts.margin.schedule import MarginSchedule

USDC = 10**6


def build_book(rng: np.random.Generator, n_accounts: int, k: int, n_instruments: int, marks: np.ndarray) -> AccountBook:
    """``k`` distinct instruments per account, notionals lognormal around 20,000 USDC, 2–12 % equity."""
    instr = np.argsort(rng.random((n_accounts, n_instruments)), axis=1)[:, :k].astype(np.int32).ravel()
    notional = rng.lognormal(np.log(20_000 * USDC), 1.0, instr.size)
    lots = np.maximum((notional / marks[instr]).astype(np.int64), 1) * rng.choice([-1, 1], instr.size)
    gross = np.abs(lots * marks[instr]).reshape(n_accounts, k).sum(axis=1)
    net = (lots * marks[instr]).reshape(n_accounts, k).sum(axis=1)
    cash = (gross * rng.uniform(0.02, 0.12, n_accounts)).astype(np.int64) - net  # equity at the marks: 2–12 % of gross
    offsets = np.arange(0, instr.size + 1, k, dtype=np.int64)
    return AccountBook.from_arrays(offsets, instr, lots, cash, n_instruments)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--positions", type=int, default=4)
    ap.add_argument("--instruments", type=int, default=50)
    ap.add_argument("--ticks", type=int, default=20, help="one instrument falls 0.5 %% a tick")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if not 1 <= args.positions <= args.instruments:
        ap.error("--positions must be between 1 and --instruments")
    console = Console()
    rng = np.random.default_rng(args.seed)

    tables = TierTables.from_schedules([MarginSchedule.from_rates(BTC_TIERS, 6)] * args.instruments)
    marks = np.exp(rng.uniform(np.log(1e4), np.log(1e7), args.instruments)).astype(np.int64)  # lot prices
    book = build_book(rng, args.accounts, args.positions, args.instruments, marks)
    console.print(f"{book.n_accounts:,} accounts, {book.n_positions:,} positions over {args.instruments} instruments, "
                  f"{book.nbytes / book.n_positions:.1f} bytes a position")  # fmt: skip

    remargin_accounts(book, tables, marks)  # compiles (cached on disk after the first run)
    t0 = time.perf_counter()
    res = remargin_accounts(book, tables, marks)
    elapsed = time.perf_counter() - t0
    console.print(f"full re-margin: {elapsed * 1e3:.2f} ms; {res.breached.size:,} accounts below maintenance; "
                  f"total maintenance margin {res.mm.sum() / USDC:,.2f} USDC")  # fmt: skip

    sample = AccountBook.from_arrays(book.offsets[:1001], book.instr[: book.offsets[1000]], book.lots[: book.offsets[1000]],
                                     book.cash[:1000], args.instruments)  # fmt: skip
    ref = remargin_reference(sample, tables, marks)
    assert np.array_equal(ref.equity, res.equity[:1000]) and np.array_equal(ref.mm, res.mm[:1000])
    assert np.array_equal(ref.im, res.im[:1000]), "the kernel differs from the reference"
    console.print("the first 1,000 accounts equal the pure-numpy reference")

    tracker = BreachTracker(book, tables, marks)
    target = int(np.bincount(book.instr, minlength=args.instruments).argmax())  # the most held instrument
    price = int(marks[target])
    newly_total = 0
    latencies = []
    for _ in range(args.ticks):
        price = price * 995 // 1000
        t0 = time.perf_counter()
        newly = tracker.tick(target, price)
        latencies.append(time.perf_counter() - t0)
        newly_total += newly.size
    final_marks = marks.copy()
    final_marks[target] = price
    after = remargin_accounts(book, tables, final_marks)
    grew = np.setdiff1d(after.breached, res.breached)
    console.print(f"instrument {target} fell {args.ticks} × 0.5 %: {newly_total:,} accounts newly breached over the ticks "
                  f"(p50 {np.median(latencies) * 1e6:.0f} µs a tick); a full re-margin at the final marks finds "
                  f"{grew.size:,} more breaches than before")  # fmt: skip
    return {"breached": int(res.breached.size), "newly": newly_total, "grew": int(grew.size)}


if __name__ == "__main__":
    main()
