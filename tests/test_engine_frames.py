"""The notebook views: Engine.accounts() / positions() / markets_frame() / position_record()."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from enginekit import USDC, Venue, usdc
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.frames import ACCOUNT_COLUMNS, MARKET_COLUMNS, POSITION_COLUMNS, Position
from ramparts.engine.presets import perpetual


def venue() -> Venue:
    """alice: cross, one long (two fills); bob: cross, short BTC and long ETH; dan: isolated long;
    carol: the other side of dan and of bob's ETH. Prices moved after the fills."""
    v = Venue(accounts=("alice/main", "bob/main", "carol/main"))
    v.apply(perpetual("ETH-PERP", "ETH", ts=0))
    v.apply(ev.OpenSubAccount(ts=0, subaccount="dan/iso", mode="isolated", instrument="BTC-PERP"))
    for sub, amount in (("alice/main", 4000), ("bob/main", 100000), ("carol/main", 100000), ("dan/iso", 6000)):
        v.deposit(sub, amount)
    v.price(50000)
    v.price(3000, instrument="ETH-PERP")
    v.fill("alice/main", "bob/main", 50000, "0.1")
    v.fill("alice/main", "bob/main", 51000, "0.3")  # alice's average entry: (5000 + 15300) / 0.4 = 50750
    v.fill("dan/iso", "carol/main", 50000, "1")
    v.fill("bob/main", "carol/main", 3000, "2", instrument="ETH-PERP")
    v.price(49000)
    v.price(3100, instrument="ETH-PERP")
    return v


def test_accounts_match_the_engine_exactly():
    v = venue()
    e = v.e
    df = e.accounts()
    assert tuple(df.columns) == ACCOUNT_COLUMNS
    assert list(df.subaccount) == ["alice/main", "bob/main", "carol/main", "dan/iso"]  # backstop/vault excluded
    assert any(e.is_system[: len(e.subs)]) and "backstop/vault" not in set(df.subaccount)
    for row in df.itertuples():
        s = e.sub_index(row.subaccount)
        r = e.risk(s)
        assert row.mode == e.subs[s].mode.value
        assert row.cash_units == r.cash == e.ledger.sub_cash[s]
        assert row.equity_units == r.equity == e.equity(s)
        assert row.initial_margin_units == r.initial_margin
        assert row.maintenance_margin_units == r.maintenance_margin
        assert row.free_collateral_units == r.free_collateral
        for col in ("cash", "equity", "initial_margin", "maintenance_margin", "free_collateral"):
            assert getattr(row, col) == getattr(row, col + "_units") / 10**6
        assert row.margin_ratio == r.margin_ratio
        assert row.in_liquidation == r.in_liquidation
        assert row.n_positions == len(e.book.positions_of(s))
        lp = e.liquidation_price(s)
        assert (math.isnan(row.liquidation_price) if lp is None else row.liquidation_price == float(lp))
    by = df.set_index("subaccount")
    assert list(by.n_positions) == [1, 2, 2, 1]
    assert by.loc["dan/iso", "mode"] == "isolated" and by.loc["alice/main", "mode"] == "cross"
    # the long single-position accounts have a liquidation price; the two-position ones none
    assert not math.isnan(by.loc["alice/main", "liquidation_price"]) and not math.isnan(by.loc["dan/iso", "liquidation_price"])
    assert math.isnan(by.loc["bob/main", "liquidation_price"])
    # the prices moved: equity is not just cash
    assert by.loc["alice/main", "equity_units"] == usdc(4000) + 400 * 49000 * 1000 - usdc(20300)
    assert df.equity_units.dtype == np.int64 and df.equity.dtype == np.float64


def test_margin_ratio_is_nan_without_positions_and_inf_at_non_positive_equity():
    v = Venue(accounts=("alice/main", "bob/main", "erin/main"))
    v.deposit("alice/main", 6000)
    v.deposit("bob/main", 100000)
    v.price(50000)
    v.fill("alice/main", "bob/main", 50000, "1")
    v.price(40000)  # alice: 6000 − 10000 < 0, before any tick liquidates her
    df = v.e.accounts().set_index("subaccount")
    assert v.e.equity(v.e.sub_index("alice/main")) < 0
    assert df.loc["alice/main", "margin_ratio"] == math.inf == v.e.risk("alice/main").margin_ratio
    assert df.loc["alice/main", "free_collateral_units"] == 0
    assert math.isnan(df.loc["erin/main", "margin_ratio"]) and v.e.risk("erin/main").margin_ratio is None
    assert df.loc["erin/main", "n_positions"] == 0 and math.isnan(df.loc["erin/main", "liquidation_price"])


def test_positions_frame():
    v = venue()
    e = v.e
    df = e.positions()
    assert tuple(df.columns) == POSITION_COLUMNS
    got = {(r.subaccount, r.instrument): r for r in df.itertuples()}
    assert set(got) == {("alice/main", "BTC-PERP"), ("bob/main", "BTC-PERP"), ("carol/main", "BTC-PERP"), ("dan/iso", "BTC-PERP"),
                        ("bob/main", "ETH-PERP"), ("carol/main", "ETH-PERP")}
    for (sub, sym), r in got.items():
        lots, cost, entry = e.position(sub, sym)
        mark = e.markets[e.instrument(sym).index].mark
        assert (r.lots, r.cost_units, r.entry_units) == (lots, cost, entry)
        assert r.size == lots / 1000  # size step 0.001
        assert r.notional_units == abs(lots * mark) and r.unrealised_pnl_units == lots * mark - cost
        assert r.notional == r.notional_units / USDC and r.unrealised_pnl == r.unrealised_pnl_units / USDC
    assert got["dan/iso", "BTC-PERP"].entry_price == 50000.0  # a single fill: the fill price
    assert got["alice/main", "BTC-PERP"].entry_price == 50750.0  # two fills: the size-weighted average
    assert got["bob/main", "BTC-PERP"].entry_price == 50750.0 and got["bob/main", "BTC-PERP"].size == -0.4
    assert got["bob/main", "ETH-PERP"].entry_price == 3000.0 and got["bob/main", "ETH-PERP"].mark == 3100.0
    assert got["alice/main", "BTC-PERP"].mark == 49000.0
    assert got["alice/main", "BTC-PERP"].unrealised_pnl_units + sum(
        r.unrealised_pnl_units for k, r in got.items() if k != ("alice/main", "BTC-PERP")) == 0


def test_position_record_keeps_position_compatible():
    v = venue()
    e = v.e
    rec = e.position_record("alice/main", "BTC-PERP")
    assert isinstance(rec, Position)
    assert (rec.lots, rec.cost_units, rec.entry_units) == e.position("alice/main", "BTC-PERP")
    assert rec.size == Decimal("0.4") and rec.entry_price == Decimal("50750") and rec.mark == Decimal("49000")
    assert e.position_record("dan/iso", "BTC-PERP").entry_price == Decimal("50000")
    flat = e.position_record("alice/main", "ETH-PERP")
    assert (flat.lots, flat.size, flat.entry_price, flat.unrealised_pnl_units) == (0, 0, None, 0)
    assert e.position("alice/main", "ETH-PERP") == (0, 0, 0)  # the old tuple, unchanged


def test_markets_frame():
    v = venue()
    df = v.e.markets_frame()
    assert tuple(df.columns) == MARKET_COLUMNS
    assert list(df.symbol) == ["BTC-PERP", "ETH-PERP"] and set(df.kind) == {"perpetual"}
    btc = df.set_index("symbol").loc["BTC-PERP"]
    assert btc.index_price == 49000.0 and btc.mark == 49000.0 and btc.mark_lot_price == v.e.markets[0].mark
    assert btc.open_interest_lots == v.e.open_interest("BTC-PERP") == 1400 and btc.open_interest == 1.4
    assert btc.funding_rate == 0.0 and btc.funding_rate_ppb == 0


@pytest.mark.parametrize("make", [Engine, lambda: Venue(accounts=()).e], ids=["bare", "genesis-only"])
def test_empty_engine_gives_empty_frames(make):
    e = make()
    for df, cols in ((e.accounts(), ACCOUNT_COLUMNS), (e.positions(), POSITION_COLUMNS)):
        assert df.empty and tuple(df.columns) == cols
    assert e.accounts().equity_units.dtype == np.int64
    m = e.markets_frame()
    assert tuple(m.columns) == MARKET_COLUMNS and len(m) == len(e.instruments)


def test_effects_frame_keeps_exact_integers_and_missing_fields_apart():
    from ramparts.engine import Engine
    from ramparts.engine.presets import genesis

    e = Engine()
    e.apply(genesis(ts=0))
    big = 2**60 + 1  # beyond a float's 53 bits
    fx = [{"kind": "InsuranceFundDraw", "subaccount": "a/main", "amount": big},
          {"kind": "MarginCall", "subaccount": "b/main", "equity": 5, "maintenance_margin": 7}]
    df = e.effects_frame(fx)
    assert list(df.columns[:2]) == ["kind", "subaccount"]
    assert df.amount_units.iloc[0] == big and df.amount_units.isna().iloc[1] and str(df.amount_units.dtype) == "Int64"
    assert df.equity.iloc[1] == 5e-6 and df.equity_units.iloc[1] == 5
    assert e.effects_frame([]).columns.tolist() == ["kind"]
