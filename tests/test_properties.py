"""Property tests over random event sequences (≥ 10,000 events per run).

After every accepted event: value is conserved exactly (deposits − withdrawals = balances +
insurance + fees + liquidators + socialised loss + the markets' VM accounts), every sub-account
with negative equity is on the explicit insolvency record (and withdrawals are gated), and after a
tick no trader has negative equity. At the end, replaying the accepted events on a fresh engine
and restoring a snapshot both reproduce the state hash.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enginekit import S, USDC
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.errors import RampartsError

SUBS = ["a/x", "b/x", "c/x", "d/x", "e/iso"]
INSTR = {"BTC-PERP": Decimal(40_000), "ETH-PERP": Decimal(2_000)}

action = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 4), st.integers(1, 50_000)),
    st.tuples(st.just("withdraw"), st.integers(0, 4), st.integers(1, 20_000)),
    st.tuples(st.just("price"), st.integers(0, 1), st.floats(-0.25, 0.25)),
    st.tuples(st.just("fill"), st.integers(0, 1), st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 400), st.floats(-0.01, 0.01))),
    st.tuples(st.just("funding"), st.integers(0, 1), st.integers(-3000, 3000)),
    st.tuples(st.just("tick"), st.integers(0, 60), st.none()),
    st.tuples(st.just("insurance"), st.integers(0, 1), st.integers(1, 5_000)),
    st.tuples(st.just("resort"), st.sampled_from(["adl", "socialised"]), st.none()),
)


def build() -> tuple[Engine, list]:
    events = [
        genesis(ts=0, cooldown_ns=5 * S, min_step_notional=500 * USDC, full_close_notional=5_000 * USDC),
        perpetual("BTC-PERP", "BTC", tiers=[["0", "0.05", "0.025"], ["20000", "0.1", "0.05"], ["100000", "0.2", "0.1"]]),
        perpetual("ETH-PERP", "ETH", size_step="0.01", tick_size="0.01", size_premium="0.0005", insurance_fund="market"),
    ]
    events += [ev.OpenSubAccount(ts=0, subaccount=s) for s in SUBS[:4]]
    events.append(ev.OpenSubAccount(ts=0, subaccount="e/iso", mode="isolated", instrument="ETH-PERP"))
    for sym, p in INSTR.items():
        events.append(ev.OraclePrice(ts=0, instrument=sym, price=str(p)))
    e = Engine()
    for x in events:
        e.apply(x)
    return e, events


def to_event(a, t: int, prices: dict[str, Decimal]):
    kind, i, p = a
    syms = list(INSTR)
    if kind == "deposit":
        return ev.Deposit(ts=t, subaccount=SUBS[i], asset="USDC", amount=p)
    if kind == "withdraw":
        return ev.Withdraw(ts=t, subaccount=SUBS[i], asset="USDC", amount=p)
    if kind == "price":
        sym = syms[i]
        prices[sym] = max((prices[sym] * Decimal(1 + p)).quantize(Decimal("0.01")), Decimal("0.01"))
        return ev.OraclePrice(ts=t, instrument=sym, price=str(prices[sym]))
    if kind == "fill":
        sym = syms[i]
        b, s, lots, off = p
        tick = Decimal("0.1") if sym == "BTC-PERP" else Decimal("0.01")
        step = Decimal("0.001") if sym == "BTC-PERP" else Decimal("0.01")
        price = max((prices[sym] * Decimal(1 + off) / tick).to_integral_value() * tick, tick)
        return ev.Fill(ts=t, instrument=sym, buyer=SUBS[b], seller=SUBS[s], price=str(price), size=str(lots * step),
                       buyer_fee=str(Decimal(lots) / 1000), seller_fee="0")
    if kind == "funding":
        return ev.FundingTick(ts=t, instrument=syms[i], premium=str(Decimal(p) / 1_000_000))
    if kind == "tick":
        return ev.Tick(ts=t)
    if kind == "insurance":
        return ev.FundInsurance(ts=t, fund="global" if i == 0 else "ETH-PERP", amount=p)
    return ev.ParameterChange(ts=t, target="liquidation", key="last_resort", value=i)


def check_invariants(e: Engine, net_in: int, after_tick: bool) -> None:
    totals = e.ledger.totals("USDC")
    assert sum(totals.values()) == 0
    assert -totals["external"] == net_in
    n = len(e.subs)
    equity = e.ledger.sub_cash[:n] + e.sub_value[:n] - e.sub_cost[:n]
    traders = ~e.is_system[:n]
    negative = set(np.nonzero((equity < 0) & traders)[0].tolist())
    assert negative <= e.insolvent, (negative, e.insolvent)
    if after_tick:
        assert not negative
    # the per-sub-account caches equal a recomputation from scratch
    for s in range(n):
        mm = im = value = 0
        for instr_idx, slot in e.book.positions_of(s):
            instr = e.instruments[instr_idx]
            lots = int(e.book.lots[slot])
            mark = e.markets[instr_idx].mark
            value += lots * mark
            i2, m2 = e.margin_model.position_requirements(instr, lots, mark)
            im, mm = im + i2, mm + m2
        assert (int(e.sub_value[s]), int(e.sub_mm[s]), int(e.sub_im[s])) == (value, mm, im)
    for instr in e.instruments:
        h = e.book.holders(instr.index)
        assert int(e.book.lots[h].sum()) == 0  # open interest nets to zero


@settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(action, min_size=100, max_size=140))
def test_random_event_sequences_conserve_value_and_replay(actions):
    e, events = build()
    prices = dict(INSTR)
    t = 0
    net_in = 0
    accepted = list(events)
    for a in actions:
        t += (a[1] if a[0] == "tick" else 1) * S
        event = to_event(a, t, prices)
        before = e.state_hash() if len(accepted) % 25 == 0 else None
        try:
            e.apply(event)
        except RampartsError:
            if before is not None:
                assert e.state_hash() == before  # a rejected event changes nothing
            continue
        accepted.append(event)
        if isinstance(event, (ev.Deposit, ev.FundInsurance)):
            net_in += int(event.amount * USDC)
        elif isinstance(event, ev.Withdraw):
            net_in -= int(event.amount * USDC)
        check_invariants(e, net_in, after_tick=isinstance(event, ev.Tick))
    replayed = Engine()
    for x in accepted:
        replayed.apply(ev.parse_event(ev.encode_event(x)))
    assert replayed.state_hash() == e.state_hash()
    assert Engine.restore(e.snapshot()).state_hash() == e.state_hash()
