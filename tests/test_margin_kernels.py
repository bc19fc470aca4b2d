"""The fused re-margin kernels and the liquidation-price index: exact against independent references.

* :func:`remargin_accounts` equals the pure-numpy :func:`remargin_reference` and the existing
  :mod:`ramparts.margin.vectorised` kernels, element for element, on hand-made books (tier floors,
  the fast-path limit, MAX_NOTIONAL, flat positions, shorts, empty accounts, size premiums) and on
  hypothesis-drawn schedules and books;
* the index's liquidation prices equal :func:`ramparts.margin.liquidation_price.liquidation_price`
  and sit exactly on the kernel's breach boundary; ``newly_breached`` and ``BreachTracker.tick``
  equal a brute-force recomputation over random ticks, including after updates and removals;
* malformed input raises :class:`~ramparts.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramparts.engine.kernels import (
    dense_state,
    position_requirements,
    remargin_accounts,
    remargin_subset,
    tick_holders,
)
from ramparts.engine.liquidation_index import BreachTracker, LiquidationIndex, single_liquidation_prices
from ramparts.engine.presets import BTC_TIERS
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.layout import FAST_NOTIONAL, AccountBook, RemarginResult, TierTables, remargin_reference
from ramparts.margin.liquidation_price import liquidation_price
from ramparts.margin.schedule import MarginSchedule, MarginTier
from ramparts.margin.vectorised import initial_margin_array, maintenance_margin_array

USDC = 10**6
I64MAX = 2**63 - 1
TIERED = MarginSchedule.from_rates(BTC_TIERS, quote_decimals=6)
FLAT = MarginSchedule.flat("0.1", "0.05")
PREMIUM = MarginSchedule.from_rates(BTC_TIERS, quote_decimals=6, size_premium="0.0005")
# a 100 % top tier at a floor near MAX_NOTIONAL: its amount C ≈ 4e21 does not fit in int64
STEEP = MarginSchedule((MarginTier(0, 20_000, 10_000), MarginTier(MAX_NOTIONAL - 7, PPM, PPM)))
SCHEDULES = [TIERED, FLAT, PREMIUM, STEEP]
LOT_U = [Decimal("0.001"), Decimal("0.01"), Decimal("0.001"), Decimal("1")]
TABLES = TierTables.from_schedules(SCHEDULES, LOT_U)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------- helpers
def vectorised_remargin(book: AccountBook, schedules, lot_u, marks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equity, im, mm per account through ramparts.margin.vectorised (the engine's margin path)."""
    acct = book.account_of_position()
    marks = np.asarray(marks, dtype=np.int64)
    eq = book.cash.copy()
    im = np.zeros(book.n_accounts, dtype=np.int64)
    mm = np.zeros(book.n_accounts, dtype=np.int64)
    for i, s in enumerate(schedules):
        sel = np.flatnonzero(book.instr == i)
        if not sel.size:
            continue
        lots = book.lots[sel]
        q = np.abs(lots)
        notional = q * marks[i]
        size = q.astype(np.float64) * float(lot_u[i]) if s.size_premium_ppm else None
        arrays = s.to_arrays()
        np.add.at(eq, acct[sel], lots * marks[i])
        np.add.at(im, acct[sel], initial_margin_array(notional, arrays, size))
        np.add.at(mm, acct[sel], maintenance_margin_array(notional, arrays, size))
    return eq, im, mm


def assert_all_agree(book: AccountBook, tables: TierTables, schedules, lot_u, marks) -> RemarginResult:
    got = remargin_accounts(book, tables, marks)
    ref = remargin_reference(book, tables, marks)
    eq, im, mm = vectorised_remargin(book, schedules, lot_u, marks)
    for name, want in (("equity", eq), ("im", im), ("mm", mm)):
        assert getattr(got, name).dtype == np.int64
        np.testing.assert_array_equal(getattr(got, name), want, err_msg=f"kernel {name} vs vectorised")
        np.testing.assert_array_equal(getattr(ref, name), want, err_msg=f"reference {name} vs vectorised")
    np.testing.assert_array_equal(got.breach, eq < mm)
    np.testing.assert_array_equal(got.breached, np.flatnonzero(eq < mm))
    np.testing.assert_array_equal(ref.breach, got.breach)
    pim, pmm = position_requirements(tables, book.instr, book.lots, marks)
    acct = book.account_of_position()
    for name, per_position in (("im", pim), ("mm", pmm)):
        total = np.zeros(book.n_accounts, dtype=np.int64)
        np.add.at(total, acct, per_position)
        np.testing.assert_array_equal(total, getattr(got, name), err_msg=f"position_requirements {name}")
    return got


def book_of(rows, cash, n_instruments) -> AccountBook:
    """rows: (account, instrument, lots)."""
    a = np.array([r[0] for r in rows], dtype=np.int64)
    i = np.array([r[1] for r in rows], dtype=np.int64)
    lots = np.array([r[2] for r in rows], dtype=np.int64)
    return AccountBook.from_positions(a, i, lots, np.array(cash, dtype=np.int64), n_instruments)


# ---------------------------------------------------------------------------------------- tables
def _edge_notionals() -> list[int]:
    out = [0, 1, 999_999, 1_000_000, 1_000_001]
    for t in TIERED.tiers[1:]:
        out += [t.notional_floor - 1, t.notional_floor, t.notional_floor + 1]
    out += [FAST_NOTIONAL - 1, FAST_NOTIONAL, FAST_NOTIONAL + 1, MAX_NOTIONAL - 8, MAX_NOTIONAL - 7, MAX_NOTIONAL]
    return out


EDGE = _edge_notionals()


@pytest.mark.parametrize("instrument", range(len(SCHEDULES)))
@pytest.mark.parametrize("sign", [1, -1])
def test_tier_floors_fast_limit_and_max_notional(instrument, sign):
    # mark 1: the notional is |lots|, so every edge is hit exactly; one position per account
    marks = [1] * len(SCHEDULES)
    rows = [(k, instrument, sign * n) for k, n in enumerate(EDGE)]
    book = book_of(rows, [0] * len(EDGE), len(SCHEDULES))
    got = assert_all_agree(book, TABLES, SCHEDULES, LOT_U, marks)
    s = SCHEDULES[instrument]
    size = [float(n) * float(LOT_U[instrument]) for n in EDGE]
    assert got.mm.tolist() == [s.maintenance_margin(n, z) for n, z in zip(EDGE, size, strict=True)]
    assert got.im.tolist() == [s.initial_margin(n, z) for n, z in zip(EDGE, size, strict=True)]


# several floors within one bit length (the bracket look-up's slow step) and two floors 1 apart
DENSE = MarginSchedule((MarginTier(0, 10_000, 5_000), MarginTier(4, 20_000, 10_000), MarginTier(5, 30_000, 15_000),
                        MarginTier(7, 40_000, 20_000), MarginTier(2**40, 500_000, 250_000), MarginTier(2**40 + 1, PPM, PPM)))


def test_several_floors_in_one_bit_length():
    tables = TierTables.from_schedules([DENSE])
    edge = [*range(0, 17), 2**40 - 1, 2**40, 2**40 + 1, 2**40 + 2, 2**41, MAX_NOTIONAL]
    book = book_of([(k, 0, n) for k, n in enumerate(edge)], [0] * len(edge), 1)
    got = assert_all_agree(book, tables, [DENSE], [Decimal(1)], [1])
    assert got.mm.tolist() == [DENSE.maintenance_margin(n) for n in edge]


def test_equal_schedules_share_rows_but_keep_their_lot_sizes():
    scheds = [TIERED, PREMIUM, FLAT, PREMIUM, TIERED]
    lot_u = [Decimal("0.001"), Decimal("0.001"), Decimal("0.01"), Decimal("2.5"), Decimal("7")]
    tables = TierTables.from_schedules(scheds, lot_u)
    assert tables.sched_of.tolist() == [0, 1, 2, 1, 0]
    assert tables.row_base.size == 3
    rows = [(a, i, sign * n) for a, (i, n, sign) in enumerate(
        (i, n, sign) for i in range(5) for n in (1, 10**4, 10**7, 10**9) for sign in (1, -1))]  # fmt: skip
    book = book_of(rows, [0] * len(rows), 5)
    assert_all_agree(book, tables, scheds, lot_u, [10**6, 10**6, 10**6, 10**6, 10**6])


# (rows, cash, marks): a hand-made table of books
BOOKS = [
    pytest.param([], [], [100, 100, 100, 100], id="no-accounts"),
    pytest.param([], [5, -5], [100, 100, 100, 100], id="empty-accounts"),
    pytest.param([(0, 0, 0), (0, 1, 0)], [7], [100, 100, 100, 100], id="flat-positions"),
    pytest.param([(0, 0, 1000), (0, 1, -1000), (1, 0, -5)], [-10**6, 10**6], [50_000_000, 3_000, 1, 1], id="mixed-longs-shorts"),
    pytest.param([(0, 0, 10**6), (0, 1, -(10**6)), (0, 2, 10**6), (0, 3, -(10**6))], [10**17],
                 [4 * 10**9, 4 * 10**9, 4 * 10**9, 4 * 10**9], id="one-account-four-tiers"),
    pytest.param([(0, 3, 4 * 10**15)], [-(10**18)], [1, 1, 1, 1], id="max-notional-steep-tier"),
    pytest.param([(2, 2, -3), (0, 0, 3), (1, 0, -3)], [0, 0, 0], [1_000_000, 1, 1_000_000, 1], id="rows-out-of-order"),
]


@pytest.mark.parametrize(("rows", "cash", "marks"), BOOKS)
def test_hand_made_books(rows, cash, marks):
    book = book_of(rows, cash, len(SCHEDULES))
    got = assert_all_agree(book, TABLES, SCHEDULES, LOT_U, marks)
    assert got.equity.shape == (len(cash),)


def test_known_values_and_breach():
    # 10× long of 1 BTC-lot at 100,000 (flat 5 % maintenance): equity 10,000; mm 5,000 → safe
    # a short of 50,000 USDC notional in BTC tiers: mm = 0.4 % = 200 USDC; im = 0.8 % = 400 USDC
    rows = [(0, 1, 1), (1, 0, -1)]
    book = book_of(rows, [10_000 - 100_000, 200 * USDC + 50_000 * USDC - 1], len(SCHEDULES))
    got = remargin_accounts(book, TABLES, [50_000 * USDC, 100_000, 1, 1])
    assert got.equity.tolist() == [10_000, 200 * USDC - 1]
    assert got.mm.tolist() == [5_000, 200 * USDC]
    assert got.im.tolist() == [10_000, 400 * USDC]
    assert got.breached.tolist() == [1]


# ---------------------------------------------------------------------------------------- properties
@st.composite
def schedules(draw) -> MarginSchedule:
    n = draw(st.integers(1, 6))
    floors = [0, *sorted(draw(st.sets(st.integers(1, MAX_NOTIONAL), min_size=n - 1, max_size=n - 1)))]
    mm = sorted(draw(st.lists(st.integers(1, PPM), min_size=n, max_size=n)))
    tiers, im_prev = [], 0
    for k in range(n):
        im = min(PPM, max(im_prev, mm[k] + draw(st.integers(0, PPM))))
        tiers.append(MarginTier(floors[k], im, mm[k]))
        im_prev = im
    return MarginSchedule(tuple(tiers), draw(st.sampled_from([0, 0, 1, 500, 77_777])))


@st.composite
def books(draw):
    n_instr = draw(st.integers(1, 4))
    scheds = [draw(schedules()) for _ in range(n_instr)]
    lot_u = [draw(st.sampled_from([Decimal("0.001"), Decimal("1"), Decimal("0.37")])) for _ in range(n_instr)]
    # marks either small (so lots reach the high tiers) or anywhere up to MAX_NOTIONAL
    marks = [draw(st.one_of(st.integers(1, 1000), st.integers(1, MAX_NOTIONAL))) for _ in range(n_instr)]
    n_acc = draw(st.integers(0, 8))
    rows, cash = [], []
    for a in range(n_acc):
        held = draw(st.lists(st.integers(0, n_instr - 1), unique=True, max_size=n_instr))
        for i in held:
            cap = MAX_NOTIONAL // marks[i]
            lots = draw(st.one_of(st.integers(-cap, cap), st.sampled_from([0, cap, -cap])))
            rows.append((a, i, lots))
        cash.append(draw(st.integers(-(10**18), 10**18)))
    return book_of(rows, cash, n_instr), scheds, lot_u, marks


@SETTINGS
@given(books())
def test_kernel_equals_reference_and_vectorised(case):
    book, scheds, lot_u, marks = case
    tables = TierTables.from_schedules(scheds, lot_u)
    assert_all_agree(book, tables, scheds, lot_u, marks)


@SETTINGS
@given(books(), st.data())
def test_subset_and_tick_kernels_match_full_recompute(case, data):
    book, scheds, lot_u, marks = case
    tables = TierTables.from_schedules(scheds, lot_u)
    state = remargin_accounts(book, tables, marks)
    before = state.breach.copy()
    i = data.draw(st.integers(0, len(marks) - 1))
    cap = MAX_NOTIONAL // max(1, int(np.abs(book.lots[book.instr == i]).max(initial=1)))
    new = data.draw(st.integers(1, cap))
    new_marks = list(marks)
    new_marks[i] = new
    full = remargin_accounts(book, tables, new_marks)
    # incremental: the holders of i, deltas only, on a dense state (rows = accounts reversed)
    rows = np.flatnonzero(book.instr == i)
    acct = book.account_of_position()[rows]
    order = np.arange(book.n_accounts)[::-1]
    row_of = np.empty(book.n_accounts, dtype=np.int64)
    row_of[order] = np.arange(book.n_accounts)
    dense = dense_state(state, order)
    req = np.stack(position_requirements(tables, book.instr[rows], book.lots[rows], marks), axis=1)
    got = tick_holders(tables, i, marks[i], new, book.lots[rows], row_of[acct], acct, req, dense)
    np.testing.assert_array_equal(dense, dense_state(full, order))
    np.testing.assert_array_equal(req, np.stack(position_requirements(tables, book.instr[rows], book.lots[rows], new_marks), axis=1))
    assert sorted(got.tolist()) == np.flatnonzero(full.breach & ~before).tolist()
    # subset: recompute everyone from the old state
    sub = RemarginResult(state.equity.copy(), state.im.copy(), state.mm.copy(), state.breach.copy(), state.breached)
    newly = remargin_subset(book, tables, new_marks, np.arange(book.n_accounts)[::-1], sub)
    for name in ("equity", "im", "mm", "breach"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(full, name))
    assert sorted(newly.tolist()) == np.flatnonzero(full.breach & ~before).tolist()


# ---------------------------------------------------------------------------------------- liquidation prices
def expected_lp(lots: int, cash: int, schedule, lot_u) -> int:
    """The index's convention, derived from the scalar liquidation_price()."""
    ref = liquidation_price(lots, 0, cash, schedule, lot_u)
    pmax = MAX_NOTIONAL // abs(lots)
    if lots > 0:
        if ref is None:  # safe at every positive price, or unreachable 100 % line
            return 1 if cash + lots * pmax >= schedule.maintenance_margin(lots * pmax, float(lots) * float(lot_u)) else I64MAX
        return I64MAX if ref > pmax else max(ref, 1)
    if ref is None:
        return 0
    return I64MAX if ref >= pmax else ref


def single_book(instr, lots, cash, n_instr) -> AccountBook:
    n = len(lots)
    return AccountBook.from_positions(np.arange(n), np.asarray(instr), np.asarray(lots), np.asarray(cash), n_instr)


@SETTINGS
@given(st.data())
def test_liquidation_price_matches_scalar_and_breach_boundary(data):
    i = data.draw(st.integers(0, len(SCHEDULES) - 1))
    mark = data.draw(st.sampled_from([1, 7, 50_000_000, 10**12]))
    cap = MAX_NOTIONAL // mark
    n = data.draw(st.integers(1, 12))
    lots = [data.draw(st.integers(1, cap)) * data.draw(st.sampled_from([1, -1])) for _ in range(n)]
    # cash near the liquidation boundary at `mark` (margin between -20 % and +30 % of notional)
    cash = [-lt * mark + data.draw(st.integers(-abs(lt * mark) // 5, abs(lt * mark) * 3 // 10)) for lt in lots]
    instr = [i] * n
    lp = single_liquidation_prices(TABLES, instr, lots, cash)
    for k in range(n):
        assert int(lp[k]) == expected_lp(lots[k], cash[k], SCHEDULES[i], LOT_U[i]), (lots[k], cash[k])
    # the boundary agrees with the kernel's own breach test at LP and one unit beyond
    for k in range(n):
        book = single_book([i], [lots[k]], [cash[k]], len(SCHEDULES))
        pmax = MAX_NOTIONAL // abs(lots[k])
        for p in {int(lp[k]) - 1, int(lp[k]), int(lp[k]) + 1}:
            if 1 <= p <= pmax:
                marks = [1] * len(SCHEDULES)
                marks[i] = p
                r = remargin_accounts(book, TABLES, marks)
                want = p < lp[k] if lots[k] > 0 else p > lp[k]
                assert bool(r.breach[0]) == bool(want), (lots[k], cash[k], p, int(lp[k]))


def random_singles(rng, n, marks):
    instr = rng.integers(0, len(SCHEDULES), n)
    mark = np.asarray(marks)[instr]
    lots = (rng.integers(1, 10**5, n) * rng.choice([-1, 1], n)).astype(np.int64)
    lots = np.clip(lots, -(MAX_NOTIONAL // mark), MAX_NOTIONAL // mark)
    notional = np.abs(lots * mark)
    cash = -lots * mark + (notional * rng.uniform(-0.05, 0.25, n)).astype(np.int64)
    return instr, lots, cash


MARKS0 = [50_000_000, 3_000_000, 40_000_000, 100_000]


def brute_newly(book, marks_old, marks_new) -> np.ndarray:
    a = remargin_reference(book, TABLES, marks_old).breach
    b = remargin_reference(book, TABLES, marks_new).breach
    return np.flatnonzero(b & ~a)


@pytest.mark.parametrize("seed", range(4))
def test_newly_breached_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    instr, lots, cash = random_singles(rng, 400, MARKS0)
    book = single_book(instr, lots, cash, len(SCHEDULES))
    idx = LiquidationIndex.build(book, TABLES)
    assert len(idx) == 400
    marks = list(MARKS0)
    for _ in range(40):
        i = int(rng.integers(0, len(SCHEDULES)))
        move = rng.choice([-1, 1]) * rng.uniform(0.001, 0.3)
        new = max(1, int(marks[i] * (1 + move)))
        new_marks = list(marks)
        new_marks[i] = new
        got = np.sort(idx.newly_breached(i, marks[i], new))
        np.testing.assert_array_equal(got, brute_newly(book, marks, new_marks))
        marks = new_marks


def test_updates_and_removals_keep_the_index_exact():
    rng = np.random.default_rng(7)
    n = 300
    instr, lots, cash = random_singles(rng, n, MARKS0)
    instr, lots, cash = instr.copy(), lots.copy(), cash.copy()
    idx = LiquidationIndex.build(single_book(instr, lots, cash, len(SCHEDULES)), TABLES)
    idx._MIN_PENDING = 8  # exercise both the pending scan and the compaction
    marks = list(MARKS0)
    for step in range(30):
        for a in rng.integers(0, n, 12):  # move some accounts: new instrument / size / side / cash, or flat
            if rng.random() < 0.15:
                lots[a] = 0
                idx.remove(int(a)) if rng.random() < 0.5 else idx.update(int(a), int(instr[a]), 0, int(cash[a]))
                continue
            i2, l2, c2 = random_singles(rng, 1, marks)
            instr[a], lots[a], cash[a] = i2[0], l2[0], c2[0]
            lp = idx.update(int(a), int(instr[a]), int(lots[a]), int(cash[a]))
            assert lp == idx.liquidation_price(int(a))
        live = lots != 0
        book = AccountBook.from_positions(np.flatnonzero(live), instr[live], lots[live], cash, len(SCHEDULES))
        i = int(rng.integers(0, len(SCHEDULES)))
        new = max(1, int(marks[i] * (1 + rng.choice([-1, 1]) * rng.uniform(0.001, 0.2))))
        new_marks = list(marks)
        new_marks[i] = new
        got = np.sort(idx.newly_breached(i, marks[i], new))
        np.testing.assert_array_equal(got, brute_newly(book, marks, new_marks), err_msg=f"step {step}")
        marks = new_marks
    assert len(idx) == int((lots != 0).sum())


@pytest.mark.parametrize("seed", range(3))
def test_breach_tracker_equals_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    n_single, n_multi = 300, 150
    instr, lots, cash = random_singles(rng, n_single, MARKS0)
    acct, ins, lts = list(range(n_single)), list(instr), list(lots)
    cash = list(cash)
    for a in range(n_single, n_single + n_multi):
        held = rng.choice(len(SCHEDULES), int(rng.integers(2, len(SCHEDULES) + 1)), replace=False)
        notional = 0
        for i in held:
            lt = int(rng.integers(1, 10**5)) * int(rng.choice([-1, 1]))
            acct.append(a)
            ins.append(int(i))
            lts.append(lt)
            notional += abs(lt * MARKS0[i])
        value = sum(lts[k] * MARKS0[ins[k]] for k in range(len(acct)) if acct[k] == a)
        cash.append(-value + int(notional * rng.uniform(0.0, 0.1)))
    cash.append(-5)  # an account without positions
    book = AccountBook.from_positions(np.array(acct), np.array(ins), np.array(lts), np.array(cash), len(SCHEDULES))
    tr = BreachTracker(book, TABLES, MARKS0)
    marks = list(MARKS0)
    for _ in range(40):
        i = int(rng.integers(0, len(SCHEDULES)))
        new = max(1, int(marks[i] * (1 + rng.choice([-1, 1]) * rng.uniform(0.001, 0.05))))
        new_marks = list(marks)
        new_marks[i] = new
        got = tr.tick(i, new)
        np.testing.assert_array_equal(got, brute_newly(book, marks, new_marks))
        marks = new_marks
    assert tr.marks.tolist() == marks
    full = remargin_reference(book, TABLES, marks)
    np.testing.assert_array_equal(tr.multi_accounts, np.arange(n_single, n_single + n_multi))
    np.testing.assert_array_equal(tr.multi_state, dense_state(full, tr.multi_accounts))
    np.testing.assert_array_equal(tr.refresh().breach, full.breach)


# ---------------------------------------------------------------------------------------- bad input
def _raises(fn, field: str, words: str):
    with pytest.raises(InvalidInput) as exc:
        fn()
    assert exc.value.field == field
    assert words in str(exc.value)


BAD = [
    pytest.param(lambda: AccountBook.from_arrays([0, 2], [0, 1], [1], [0], 2), "lots", "differs", id="lots-vs-instr-length"),
    pytest.param(lambda: AccountBook.from_arrays([0, 1], [0], [1], [0, 0], 2), "offsets", "n_accounts + 1", id="offsets-vs-cash-length"),
    pytest.param(lambda: AccountBook.from_arrays([0, 1], [0, 1], [1, 1], [0], 2), "offsets", "must end", id="offsets-end"),
    pytest.param(lambda: AccountBook.from_arrays([1, 2], [0, 1], [1, 1], [0], 2), "offsets", "start at 0", id="offsets-start"),
    pytest.param(lambda: AccountBook.from_arrays([0, 2, 1, 2], [0, 1], [1, 1], [0, 0, 0], 2), "offsets", "non-decreasing", id="offsets-decrease"),
    pytest.param(lambda: AccountBook.from_arrays([0, 1], [2], [1], [0], 2), "instr", "[0, 2)", id="instr-range"),
    pytest.param(lambda: AccountBook.from_arrays([0, 2], [1, 1], [1, 1], [0], 2), "instr", "twice", id="duplicate-instrument"),
    pytest.param(lambda: AccountBook.from_arrays([0, 1], [0], [MAX_NOTIONAL + 1], [0], 2), "lots", "notional limit", id="lots-bound"),
    pytest.param(lambda: AccountBook.from_arrays([0, 1], [0], [1.5], [0], 2), "lots", "integer", id="float-lots"),
    pytest.param(lambda: AccountBook.from_arrays([0, 1], [0], [1], [10**18 + 1], 2), "cash", "exceeds", id="cash-bound"),
    pytest.param(lambda: AccountBook.from_positions([0, 1], [0], [1], [0, 0], 2), "lots", "lengths", id="positions-lengths"),
    pytest.param(lambda: AccountBook.from_positions([3], [0], [1], [0], 2), "account", "[0, 1)", id="positions-account"),
    pytest.param(lambda: TierTables.from_schedules([]), "schedules", "at least one", id="no-schedules"),
    pytest.param(lambda: TierTables.from_schedules([PREMIUM]), "lot_underlying[0]", "size premium", id="premium-without-lot"),
    pytest.param(lambda: TierTables.from_schedules([FLAT], [1, 2]), "lot_underlying", "2 lot sizes", id="lot-length"),
]


@pytest.mark.parametrize(("fn", "field", "words"), BAD)
def test_bad_layouts(fn, field, words):
    _raises(fn, field, words)


def test_bad_marks_and_buffers():
    book = book_of([(0, 0, 10)], [0], len(SCHEDULES))
    _raises(lambda: remargin_accounts(book, TABLES, [1, 1, 1]), "marks", "expected 4 marks")
    _raises(lambda: remargin_accounts(book, TABLES, [-5, 1, 1, 1]), "marks", "positive")
    _raises(lambda: remargin_accounts(book, TABLES, [0, 1, 1, 1]), "marks", "positive")
    _raises(lambda: remargin_accounts(book, TABLES, [1.0, 1, 1, 1]), "marks", "integer")
    _raises(lambda: remargin_accounts(book, TABLES, [MAX_NOTIONAL // 10 + 1, 1, 1, 1]), "marks", "notional limit")
    _raises(lambda: remargin_reference(book, TABLES, [MAX_NOTIONAL // 10 + 1, 1, 1, 1]), "marks", "notional limit")
    _raises(lambda: remargin_accounts(book, TierTables.from_schedules([FLAT]), [1]), "tables", "1 schedules")
    bad_out = RemarginResult(np.zeros(1, np.int32), np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, bool), None)
    _raises(lambda: remargin_accounts(book, TABLES, [1, 1, 1, 1], out=bad_out), "out.equity", "int64")
    state = remargin_accounts(book, TABLES, [1, 1, 1, 1])
    _raises(lambda: remargin_subset(book, TABLES, [1, 1, 1, 1], [0, 0], state), "accounts", "distinct")
    _raises(lambda: remargin_subset(book, TABLES, [1, 1, 1, 1], [1], state), "accounts", "[0, 1)")
    _raises(lambda: position_requirements(TABLES, [0, 1], [5], [1, 1, 1, 1]), "lots", "differs")
    _raises(lambda: position_requirements(TABLES, [4], [5], [1, 1, 1, 1]), "instr", "[0, 4)")
    _raises(lambda: position_requirements(TABLES, [0], [5], [1, -1, 1, 1]), "marks", "positive")
    _raises(lambda: position_requirements(TABLES, [0], [10], [MAX_NOTIONAL // 5, 1, 1, 1]), "marks", "notional limit")


def test_bad_index_input():
    book = single_book([0, 0], [5, -5], [-5 * 50_000_000 + 10**9, 5 * 50_000_000 + 10**9], len(SCHEDULES))
    idx = LiquidationIndex.build(book, TABLES)
    _raises(lambda: idx.newly_breached(0, 100, -1), "new_price", "positive")
    _raises(lambda: idx.newly_breached(0, -1, 100), "old_price", "positive")
    _raises(lambda: idx.newly_breached(0, 1.5, 100), "old_price", "expected an int")
    _raises(lambda: idx.newly_breached(9, 100, 99), "instr", "outside")
    _raises(lambda: idx.update(5, 0, 1, 0), "account", "outside")
    _raises(lambda: idx.update(0, 0, MAX_NOTIONAL + 1, 0), "lots", "notional limit")
    _raises(lambda: single_liquidation_prices(TABLES, [0, 0], [1], [0]), "lots", "lengths")
    _raises(lambda: single_liquidation_prices(TABLES, [0], [0], [0]), "lots", "non-zero")
    tr = BreachTracker(book, TABLES, [50_000_000, 1, 1, 1])
    _raises(lambda: tr.tick(0, -3), "new_price", "positive")
    _raises(lambda: tr.tick(0, MAX_NOTIONAL // 5 + 1), "new_price", "overflow")
    assert tr.marks.tolist() == [50_000_000, 1, 1, 1]  # nothing changed
