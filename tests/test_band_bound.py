"""The margin-slack band is sound: while every mark stays inside its band, the sub-account stays on its side.

:func:`ramparts.engine.slack_index.band_one` gives a sub-account, from its exact state, one range of marks per
position; the lazy re-margin and the batch kernel skip it while every mark is inside. This checks the promise
directly, not through an engine's agreement with the full re-margin: sub-accounts of one to three positions under
tiered schedules (the bracket boundaries close to the positions, so that a move inside a band crosses brackets),
long and short, with equity near and far from maintenance, flagged as the engine would leave them (not called:
ABOVE; called: SOLVENT; called and insolvent: BELOW). For every corner of the band (each mark at its lower or upper
edge, lower edges kept positive) and random points inside, the exact equity and tiered maintenance
(:func:`ramparts.engine.batch_kernel.requirement`) must keep ``E ≥ M`` (ABOVE), ``E ≥ 0`` (SOLVENT) or ``E < 0``
(BELOW). The widths are also reported against the schedule's steepest rate (the looser bound the band used before
its rates followed the brackets).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.batch_kernel import requirement
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.engine.slack_index import ABOVE, BELOW, NEVER, SOLVENT, band_one

SCHEDULES = {
    "BTC-PERP": BTC_TIERS,
    # brackets a few thousand USDC apart: a band of a 10,000 USDC position spans several
    "STEEP-PERP": [["0", "0.02", "0.01"], ["5000", "0.04", "0.02"], ["8000", "0.1", "0.05"], ["12000", "0.3", "0.15"],
                   ["20000", "0.5", "0.25"]],
    "FLAT-PERP": [["0", "0.1", "0.05"]],
}
PRICES = {"BTC-PERP": "50000", "STEEP-PERP": "2000", "FLAT-PERP": "100"}


def _engine(positions: list[tuple[str, str]], cash: str = "10000000") -> tuple[Engine, int]:
    """``trader/main`` holding ``positions`` (instrument, signed size) against a well-funded maker."""
    e = Engine()
    e.apply(genesis(ts=0))
    for sym, tiers in SCHEDULES.items():
        e.apply(perpetual(sym, sym.split("-")[0], ts=0, tiers=tiers))
    for sym in SCHEDULES:
        e.apply(ev.OraclePrice(ts=1, instrument=sym, price=PRICES[sym]))
    for sub, amount in (("trader/main", cash), ("maker/main", "100000000")):
        e.apply(ev.OpenSubAccount(ts=1, subaccount=sub))
        e.apply(ev.Deposit(ts=1, subaccount=sub, asset="USDC", amount=amount))
    for sym, size in positions:
        buyer, seller = ("trader/main", "maker/main") if not size.startswith("-") else ("maker/main", "trader/main")
        e.apply(ev.Fill(ts=2, instrument=sym, buyer=buyer, seller=seller, price=PRICES[sym], size=size.lstrip("-")))
    return e, e.sub_index("trader/main")


def _band(e: Engine, s: int, called: bool, insolvent: bool, cash: np.ndarray, flat_rates: bool = False):
    b = e.book
    lazyable, ladder = e._band_tables()
    if flat_rates:  # the schedule's steepest rate at every notional: the bound before the rates followed the brackets
        ladder = ladder.copy()
        ladder[:, 1, :] = ladder[:, 1, :].max(axis=1, keepdims=True)
    marks = np.fromiter((m.mark for m in e.markets), dtype=np.int64, count=len(e.markets))
    mc = e.margin_called.copy()
    ins = e.insolvent.mask(len(e.subs)).copy()
    mc[s], ins[s] = called, insolvent
    band_lo = np.zeros(b.lots.shape[0], dtype=np.int64)
    band_hi = np.zeros(b.lots.shape[0], dtype=np.int64)
    kind = band_one(s, b.head, b.next, b.instr, b.lots, band_lo, band_hi, marks, lazyable, ladder, cash,
                    e.sub_value, e.sub_cost, e.sub_coll, e.sub_mm, e.is_system, e.is_portfolio, mc, ins, 0.0)  # fmt: skip
    return kind, band_lo, band_hi, marks


def _slots(e: Engine, s: int) -> list[int]:
    b, out, p = e.book, [], int(e.book.head[s])
    while p >= 0:
        out.append(p)
        p = int(b.next[p])
    return out


def _state(e: Engine, s: int, cash: np.ndarray, marks_of: dict[int, int]) -> tuple[int, int]:
    """Exact (equity, maintenance) of ``s`` with cash ``cash[s]`` and each slot ``p`` at lot price ``marks_of[p]``."""
    b, tables = e.book, e._batch_tables()
    floors, imr, mmr, imq, imr_rem, mmq, mmr_rem = tables
    equity = int(cash[s]) - int(e.sub_cost[s]) + int(e.sub_coll[s])
    maintenance = 0
    for p, m in marks_of.items():
        lots, i = int(b.lots[p]), int(b.instr[p])
        equity += lots * m
        maintenance += int(requirement(i, lots, m, floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)[1])
    return equity, maintenance


SIZES = {"BTC-PERP": st.sampled_from(["0.01", "0.05", "0.2", "1", "3", "-0.02", "-0.5", "-2"]),
         "STEEP-PERP": st.sampled_from(["1", "2.5", "4", "5.5", "7", "-3", "-4.5", "-9"]),
         "FLAT-PERP": st.sampled_from(["10", "50", "-20", "-100"])}


@st.composite
def _account(draw):
    syms = draw(st.lists(st.sampled_from(sorted(SCHEDULES)), min_size=1, max_size=3, unique=True))
    positions = [(sym, draw(SIZES[sym])) for sym in syms]
    flags = draw(st.sampled_from([(False, False), (True, False), (True, True)]))
    # where equity stands (USDC): above maintenance for ABOVE, above zero for SOLVENT, below zero for BELOW
    margin = draw(st.sampled_from([0.001, 0.5, 3, 40, 250, 1_500, 9_000, 60_000]))
    return positions, margin, flags, draw(st.randoms(use_true_random=False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(acct=_account())
def test_inside_its_band_a_sub_account_keeps_its_side(acct):
    positions, margin, (called, insolvent), rnd = acct
    e, s = _engine(positions)
    slots = _slots(e, s)
    assert len(slots) == len(positions)
    cash = e.ledger.sub_cash.copy()
    marks = np.fromiter((m.mark for m in e.markets), dtype=np.int64, count=len(e.markets))
    now = {p: int(marks[int(e.book.instr[p])]) for p in slots}
    equity, maintenance = _state(e, s, cash, now)
    assert (equity, maintenance) == (int(cash[s] + e.sub_value[s] - e.sub_cost[s] + e.sub_coll[s]), int(e.sub_mm[s]))
    # the cash that puts equity where the case wants it (a test of the bound's arithmetic, not of how it got there)
    target = {(False, False): maintenance, (True, False): 0, (True, True): 0}[(called, insolvent)]
    offset = round(margin * 10**6) * (-1 if insolvent else 1)
    cash[s] += target + offset - equity
    kind, lo, hi, marks = _band(e, s, called, insolvent, cash)
    if kind not in (ABOVE, SOLVENT, BELOW):
        assert kind != NEVER
        return
    assert {ABOVE: (False, False), SOLVENT: (True, False), BELOW: (True, True)}[kind] == (called, insolvent)
    _keeps_its_side(e, s, cash, kind, lo, hi, rnd, (positions, margin))


def _keeps_its_side(e: Engine, s: int, cash: np.ndarray, kind: int, lo, hi, rnd, case) -> None:
    """Every corner of the band (lower edges kept positive) and 20 random inside points keep the kind's side."""
    slots = _slots(e, s)
    points = [dict(zip(slots, c, strict=True)) for c in itertools.product(*[(max(int(lo[p]), 1), int(hi[p])) for p in slots])]
    points += [{p: rnd.randint(max(int(lo[p]), 1), int(hi[p])) for p in slots} for _ in range(20)]
    positions, margin = case
    for point in points:
        assert all(lo[p] <= m <= hi[p] for p, m in point.items())
        eq, mm = _state(e, s, cash, point)
        if kind == ABOVE:
            assert eq >= mm, (positions, margin, point, eq, mm)
        elif kind == SOLVENT:
            assert eq >= 0, (positions, margin, point, eq)
        else:
            assert eq < 0, (positions, margin, point, eq)


def test_bands_follow_the_brackets_not_the_steepest_rate():
    """A small BTC position (200 lots, 10,000 USDC: the first bracket, 0.4 %; the schedule's steepest 50 %) gets a
    band as much wider as its rate ``g = L + ⌈L·r⌉`` is smaller: (200 + 100) / (200 + 1) (its bracket is the same at
    the band's top); under a flat schedule nothing changes."""
    for positions, expected in (([("BTC-PERP", "0.2")], 300 / 201), ([("FLAT-PERP", "50")], 1.0)):
        e, s = _engine(positions)
        cash = e.ledger.sub_cash.copy()
        cash[s] = 2_000 * 10**6  # 2,000 USDC
        kind, lo, hi, _ = _band(e, s, False, False, cash)
        _, lo0, hi0, _ = _band(e, s, False, False, cash, flat_rates=True)
        p = _slots(e, s)[0]
        assert kind == ABOVE
        ratio = (hi[p] - lo[p]) / (hi0[p] - lo0[p])
        assert abs(ratio - expected) < 1e-5, (positions, ratio, expected)


@pytest.mark.parametrize("size", ["1", "2.4", "3.9", "4", "-5.9", "6", "9.9"])
@pytest.mark.parametrize("margin", [150, 800, 3_000, 12_000])
def test_bands_that_reach_higher_brackets_keep_their_side(size, margin):
    """A STEEP-PERP position (brackets at 5,000 / 8,000 / 12,000 / 20,000 USDC of notional, 1 % to 25 %) whose band
    reaches one or more higher brackets: still sound, and the bracket at its top is above the current one (so this
    is the case the two-pass split exists for); with a BTC position beside it, the same."""
    import random

    from ramparts.engine.slack_index import _bracket_rate

    for positions in ([("STEEP-PERP", size)], [("STEEP-PERP", size), ("BTC-PERP", "0.3")]):
        e, s = _engine(positions)
        cash = e.ledger.sub_cash.copy()
        marks = np.fromiter((m.mark for m in e.markets), dtype=np.int64, count=len(e.markets))
        now = {p: int(marks[int(e.book.instr[p])]) for p in _slots(e, s)}
        equity, maintenance = _state(e, s, cash, now)
        cash[s] += maintenance + margin * 10**6 - equity
        kind, lo, hi, marks = _band(e, s, False, False, cash)
        assert kind == ABOVE
        _keeps_its_side(e, s, cash, kind, lo, hi, random.Random(margin), (positions, margin))
        p = _slots(e, s)[0]
        i, q = int(e.book.instr[p]), abs(int(e.book.lots[p]))
        _, ladder = e._band_tables()
        if margin >= 12_000 and len(positions) == 1:
            assert _bracket_rate.py_func(ladder, i, q, int(hi[p])) > _bracket_rate.py_func(ladder, i, q, int(marks[i]))
