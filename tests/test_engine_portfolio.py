"""Portfolio (scenario) margin sub-accounts in the engine: netting across perpetuals and options, the same
number as the scenario library computed independently, fills checked against the portfolio requirement,
liquidation reducing the position that lowers the requirement most per unit of notional, and replay."""

from __future__ import annotations

import numpy as np
import pytest
from tests.enginekit import USDC, Venue
from tests.test_engine_options import EXPIRY, option

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.portfolio import ENGINE_GRID
from ramparts.margin.portfolio import FUTURE, OPTION, Instruments, portfolio_margin
from ramparts.options.black76 import implied_vol


def venue() -> Venue:
    v = Venue(accounts=("cross/main", "mm/main"))
    v.apply(ev.OpenSubAccount(ts=0, subaccount="pm/main", mode="portfolio"))
    for sym, k, kind in (("BTC-50000-C", 50_000, "call"), ("BTC-45000-P", 45_000, "put")):
        v.apply(option(sym, k, kind))
    for s, cash in (("cross/main", 100_000), ("pm/main", 100_000), ("mm/main", 10_000_000)):
        v.deposit(s, cash)
    v.price(50_000)
    v.price(2_300, instrument="BTC-50000-C")
    v.price(900, instrument="BTC-45000-P")
    return v


def both(v, fn):
    """Apply the same trades to the cross and the portfolio sub-account."""
    for sub in ("cross/main", "pm/main"):
        fn(sub)


def test_a_delta_hedged_short_call_needs_less_in_portfolio_mode_and_equals_the_library():
    v = venue()

    def trades(sub):
        v.fill("mm/main", sub, 2_300, "2", instrument="BTC-50000-C")  # write 2 BTC of the ATM call
        v.fill(sub, "mm/main", 50_000, "1")  # and hedge its delta (≈ 0.5 per call) with 1 BTC of perpetual

    both(v, trades)
    e = v.e
    cross, pm = e.sub_index("cross/main"), e.sub_index("pm/main")
    assert 0 < int(e.sub_im[pm]) < int(e.sub_im[cross])
    assert int(e.sub_mm[pm]) < int(e.sub_mm[cross])
    # the same figure from the scenario library, fed independently
    t_years = (EXPIRY - e.markets[e.instrument("BTC-50000-C").index].last_oracle_ns) / (365 * 86_400 * 10**9)
    vol = float(implied_vol(2_300.0, 50_000.0, 50_000.0, t_years, True)[()])
    inst = Instruments(np.array([0, 0]), np.array([OPTION, FUTURE]), np.array([50_000.0, 50_000.0]), np.array([50_000.0, 1.0]),
                       np.array([t_years, 0.0]), np.array([vol, 0.0]), np.array([True, False]), np.array([EXPIRY // 10**9, 0]))
    ref = portfolio_margin(np.array([[-2.0, 1.0]]), inst, spots=[50_000.0], decimals=6, grid=ENGINE_GRID)
    assert int(e.sub_im[pm]) == int(ref.initial[0]) and int(e.sub_mm[pm]) == int(ref.maintenance[0])


def test_a_protective_put_lowers_the_portfolio_requirement_but_raises_the_cross_one():
    v = venue()
    both(v, lambda sub: v.fill(sub, "mm/main", 50_000, "5"))  # 250,000 of long perpetual
    e = v.e
    cross, pm = e.sub_index("cross/main"), e.sub_index("pm/main")
    # Deribit-style scenario margin of a future: the worst −16 % move plus 1 % contingency = 42,500
    assert int(e.sub_im[pm]) == 42_500 * USDC
    before = {s: int(e.sub_im[s]) for s in (cross, pm)}
    both(v, lambda sub: v.fill(sub, "mm/main", 900, "5", instrument="BTC-45000-P"))
    # the puts cap the loss below 45,000 (−10 %): the scenario requirement falls ...
    assert int(e.sub_im[pm]) < before[pm]
    # ... while cross margin adds their premium as non-collateral on top of the perpetual's requirement
    assert int(e.sub_im[cross]) == before[cross] + 5 * 900 * USDC


def test_liquidation_reduces_the_position_that_frees_the_most_requirement_per_notional_first():
    v = venue()
    v.withdraw("pm/main", 70_000)  # 30,000 left
    v.fill("pm/main", "mm/main", 50_000, "3")  # the risk: 150,000 of long perpetual
    v.fill("pm/main", "mm/main", 900, "1", instrument="BTC-45000-P")  # a small hedge
    v.fill("mm/main", "pm/main", 2_300, "1", instrument="BTC-50000-C")  # a covered call
    v.price(41_000)  # −18 %: the account falls below its scenario maintenance
    v.price(4_500, instrument="BTC-45000-P")
    v.price(120, instrument="BTC-50000-C")
    e = v.e
    pm = e.sub_index("pm/main")
    assert 0 < e.equity(pm) < int(e.sub_mm[pm])
    # the requirement each close would free, per unit of notional closed (the cost of a liquidation)
    b = e.book
    scores = {}
    for instr_idx, slot in b.positions_of(pm):
        freed = int(e.sub_mm[pm]) - e.maintenance_after(pm, e.instruments[instr_idx], 0)
        scores[e.instruments[instr_idx].symbol] = freed / (abs(int(b.lots[slot])) * e.markets[instr_idx].mark)
    assert scores["BTC-45000-P"] < 0 < scores["BTC-PERP"]  # selling the hedge would raise the requirement
    fx = v.tick()
    steps = [f for f in fx if f["kind"] == "LiquidationStep" and f["subaccount"] == "pm/main"]
    assert steps and steps[0]["instrument"] == max(scores, key=scores.get)
    assert all(f["instrument"] != "BTC-45000-P" for f in steps)  # the protective put is kept


def test_portfolio_sub_accounts_restore_to_the_same_requirements():
    v = venue()
    v.fill("mm/main", "pm/main", 2_300, "2", instrument="BTC-50000-C")
    v.fill("pm/main", "mm/main", 50_000, "1")
    v.price(51_000)
    r = Engine.restore(v.e.snapshot())
    assert r.state_hash() == v.e.state_hash()
    pm = v.e.sub_index("pm/main")
    assert int(r.sub_im[pm]) == int(v.e.sub_im[pm]) and int(r.sub_mm[pm]) == int(v.e.sub_mm[pm])
    assert r.subs[pm].mode.value == "portfolio"


def test_a_correlation_matrix_offsets_underlyings_and_bad_matrices_are_refused():
    from ramparts.engine.presets import perpetual
    from ramparts.errors import InvalidInput

    v = venue()
    v.apply(perpetual("ETH-PERP", "ETH", ts=v.now()))
    v.price(3_000, instrument="ETH-PERP")
    v.fill("pm/main", "mm/main", 50_000, "1")  # long BTC
    v.fill("mm/main", "pm/main", 3_000, "16", instrument="ETH-PERP")  # short ETH: a pair trade
    e = v.e
    pm = e.sub_index("pm/main")
    uncorrelated = int(e.sub_im[pm])  # default: identity, stressed half-way toward 1
    v.apply(ev.ParameterChange(ts=v.now(), target="portfolio", key="correlation",
                               value={"underlyings": ["BTC", "ETH"], "matrix": [[1, 0.9], [0.9, 1]], "stress": 0.0}))
    correlated = int(e.sub_im[pm])
    # the worst losses per underlying combine as sqrt(Lᵀ C̃ L): with ρ = 0.9 and no stress that is
    # sqrt(L_b² + L_e² + 1.8 L_b L_e), above the default identity stressed half-way, sqrt(L_b² + L_e² + L_b L_e)
    # (conservative: the worst BTC and ETH losses come from opposite moves, but the aggregation gives no hedge credit)
    assert correlated > uncorrelated
    assert Engine.restore(e.snapshot()).sub_im[pm] == e.sub_im[pm]
    before = e.state_hash()
    for bad in ({"underlyings": ["BTC", "ETH"], "matrix": [[1, 2], [2, 1]]}, {"underlyings": ["BTC"], "matrix": [[1, 0], [0, 1]]},
                {"underlyings": ["BTC", "ETH"], "matrix": [[1, 0.5], [0.4, 1]]}, {"matrix": [[1]]}):
        with pytest.raises(InvalidInput):
            e.apply(ev.ParameterChange(ts=v.now(), target="portfolio", key="correlation", value=bad))
    assert e.state_hash() == before
