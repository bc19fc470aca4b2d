"""Venue arithmetic against the venues' published formulas and worked examples, table-driven, plus
cross-checks against ramparts' own engine and ``ramparts compare``.

Hand-worked values are derived in the comments from the formulas quoted in ``ramparts/reference``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.lab.compare import run_compare
from ramparts.lab.population import PopulationSpec
from ramparts.venues import binance, drift, dydx, hyperliquid
from ramparts.venues.profiles import PROFILES, profile

D = Decimal

# ============================================================================ Binance


def test_binance_worked_example_coin_m_level_5():
    # COIN-M BTCUSD docs: level 5 amount = 50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC
    assert binance.next_maintenance_amount(D(50), D("0.05"), D("0.025"), D("0.56")) == D("1.81")


def test_binance_btcusdt_maintenance_amounts_match_the_published_column():
    published = ["0", "50", "2550", "122550", "1372550", "5372550", "7872550", "12872550", "42872550", "167872550"]
    assert [b.cum for b in binance.BTCUSDT_BRACKETS] == [D(x) for x in published]


@pytest.mark.parametrize("b", binance.BTCUSDT_BRACKETS[1:], ids=lambda b: f"floor {b.floor}")
def test_binance_maintenance_is_continuous_at_every_floor(b):
    below = binance.maintenance_margin(binance.BTCUSDT_BRACKETS, b.floor - D("0.000001"))
    at = binance.maintenance_margin(binance.BTCUSDT_BRACKETS, b.floor)
    assert abs(at - below) < D("0.0001")


@pytest.mark.parametrize(
    "wallet, qty, entry",
    [("1000", "1", "50000"), ("20000", "-3", "40000"), ("250000", "100", "60000"), ("1000000", "-900", "65000"), ("5", "0.01", "30000")],
)
def test_binance_liquidation_price_is_where_equity_meets_maintenance(wallet, qty, entry):
    lp = binance.liquidation_price(binance.BTCUSDT_BRACKETS, wallet_balance=D(wallet), quantity=D(qty), entry_price=D(entry))
    assert lp is not None
    equity = D(wallet) + (lp - D(entry)) * D(qty)
    mm = binance.maintenance_margin(binance.BTCUSDT_BRACKETS, abs(D(qty)) * lp)
    assert abs(equity - mm) < D("1e-20")


def test_binance_fully_collateralised_long_has_no_liquidation_price():
    assert binance.liquidation_price(binance.BTCUSDT_BRACKETS, wallet_balance=D(60_000), quantity=D(1), entry_price=D(50_000)) is None
    with pytest.raises(InvalidInput):
        binance.liquidation_price(binance.BTCUSDT_BRACKETS, wallet_balance=D(1), quantity=D(0), entry_price=D(1))


@pytest.mark.parametrize("side", [1, -1])
def test_binance_liquidation_price_agrees_with_ramparts_engine_on_the_same_brackets(side):
    tiers = [[str(b.floor), str(b.initial_rate.quantize(D("0.000001"), rounding="ROUND_CEILING")), str(b.mmr)] for b in binance.BTCUSDT_BRACKETS]
    e = Engine()
    e.apply(genesis(ts=0))
    e.apply(perpetual("BTC-PERP", "BTC", ts=0, tiers=tiers))
    e.apply(ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000"))
    for s, cash in (("t/main", "30000"), ("m/main", "10000000")):
        e.apply(ev.OpenSubAccount(ts=0, subaccount=s))
        e.apply(ev.Deposit(ts=0, subaccount=s, asset="USDC", amount=cash))
    buyer, seller = ("t/main", "m/main") if side > 0 else ("m/main", "t/main")
    e.apply(ev.Fill(ts=1, instrument="BTC-PERP", buyer=buyer, seller=seller, price="50000", size="12"))
    ours = e.liquidation_price("t/main")
    theirs = binance.liquidation_price(binance.BTCUSDT_BRACKETS, wallet_balance=D(30000), quantity=D(12 * side), entry_price=D(50000))
    assert isinstance(ours, Decimal) and theirs is not None
    assert abs(ours - theirs) <= D("0.1")  # one tick; ramparts rounds towards solvency
    assert (ours >= theirs) if side > 0 else (ours <= theirs)
    assert abs(ours - 50000) > 1000  # 600,000 notional in the 50× bracket: a real distance, not a degenerate case


# ============================================================================ dYdX v4


@pytest.mark.parametrize(
    "tier, notional, oi, imr, mmr",
    [
        # Large-Cap IMF 2 %, MF 0.6: 100,000 USDC → IMR 2,000, MMR ceil(2,000 × 0.6) = 1,200 USDC
        ("Large-Cap", 100_000 * 10**6, 0, 2_000 * 10**6, 1_200 * 10**6),
        # one quantum: ceil(1 × 20,000 / 1e6) = 1, then ceil(1 × 600,000 / 1e6) = 1 (requirements round up)
        ("Large-Cap", 1, 0, 1, 1),
        ("Large-Cap", -1, 0, 1, 1),
        # Mid-Cap, OI at 70M between caps 40M and 100M: adjIMF = 50,000 + 950,000 × 30/60 = 525,000
        ("Mid-Cap", 10_000 * 10**6, 70_000_000 * 10**6, 5_250 * 10**6, 300 * 10**6),
        # OI above the upper cap: IMF 100 %, but MMR still from the base IMF (5 % × 0.6 = 3 %)
        ("Mid-Cap", 10_000 * 10**6, 100_000_000 * 10**6, 10_000 * 10**6, 300 * 10**6),
        # Small-Cap at the lower cap exactly: unscaled
        ("Small-Cap", 1_000 * 10**6, 20_000_000 * 10**6, 100 * 10**6, 50 * 10**6),
    ],
)
def test_dydx_margin_requirements(tier, notional, oi, imr, mmr):
    assert dydx.margin_requirements(notional, dydx.LIQUIDITY_TIERS[tier], open_interest_notional=oi) == (imr, mmr)


def test_dydx_tier_maintenance_ppm_and_custom_imf():
    assert dydx.LIQUIDITY_TIERS["Large-Cap"].maintenance_margin_ppm == 12_000
    assert dydx.LIQUIDITY_TIERS["Safety"].maintenance_margin_ppm == 200_000
    imr, _ = dydx.margin_requirements(1_000 * 10**6, dydx.LIQUIDITY_TIERS["Large-Cap"], custom_imf_ppm=100_000)  # user chose 10×
    assert imr == 100 * 10**6


@pytest.mark.parametrize(
    "tnc, mmr, liquidatable", [(100, 100, False), (99, 100, True), (-5, 0, False), (0, 1, True)],
)
def test_dydx_is_liquidatable(tnc, mmr, liquidatable):
    assert dydx.is_liquidatable(tnc, mmr) is liquidatable


def test_dydx_closing_a_whole_single_position_at_the_bankruptcy_price_leaves_zero():
    # a long of notional 10,000 (quantums of quote) with usdc −9,500: TNC = 500, MMR = 120
    usdc, notional, mmr = -9_500, 10_000, 120
    tnc = usdc + notional
    q = dydx.bankruptcy_quote(-notional, -mmr, tnc, mmr)
    assert q == 9_500 and usdc + q == 0  # the account receives exactly its debt back


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**12), st.integers(0, 10**12), st.integers(1, 10**6), st.integers(-10**10, 10**12))
def test_dydx_partial_bankruptcy_close_never_lowers_collateral_per_unit_of_maintenance(notional, other_mmr, frac_ppm, tnc):
    pmmr = dydx.margin_requirements(notional, dydx.LIQUIDITY_TIERS["Large-Cap"])[1]
    tmmr = pmmr + other_mmr
    d_notional = -notional * frac_ppm // 10**6
    d_mmr = -(pmmr * frac_ppm // 10**6)
    q = dydx.bankruptcy_quote(d_notional, d_mmr, tnc, tmmr)
    tnc_after = tnc + d_notional + q  # cash in, notional out
    assert tnc_after == tnc - (tnc * abs(d_mmr)) // tmmr
    if tnc >= 0 and tmmr + d_mmr > 0:
        assert Fraction(tnc_after, tmmr + d_mmr) >= Fraction(tnc, tmmr)


def test_dydx_fillable_price():
    # healthy account (TNC ≥ TMMR): ABR = 0, the fillable price is the oracle price PNNV / PS
    assert dydx.fillable_price(50_000, 600, 1, 10_000, 600) == 50_000
    # TNC = 0: ABR = 1, SMMR 1.5: (50,000 − 1.5 × 600) / 1 = 49,100 (a long sells no lower)
    assert dydx.fillable_price(50_000, 600, 1, 0, 600) == 49_100
    # a short (PS < 0, PNNV < 0): (−50,000 − 900) / −1 = 50,900 (buys no higher)
    assert dydx.fillable_price(-50_000, 600, -1, 0, 600) == 50_900
    # TNC = TMMR / 2, BA = 1: ABR = 0.5
    assert dydx.fillable_price(50_000, 600, 1, 300, 600) == Fraction(50_000 - Fraction(1, 2) * Fraction(3, 2) * 600)


@pytest.mark.parametrize(
    "fill, bankrupt, fee, delta",
    [
        (49_000, 48_000, 15_000, 735),  # d = 1,000 > 0: fee min(49,000 × 1.5 %, 1,000) = 735 to the fund
        (49_000, 48_900, 15_000, 100),  # fee capped at d
        (48_000, 48_500, 15_000, -500),  # d < 0: the fund pays 500
        (-51_000, -52_000, 5_000, 255),  # a short's buy: |fill| × 0.5 % = 255
    ],
)
def test_dydx_insurance_fund_delta(fill, bankrupt, fee, delta):
    assert dydx.insurance_fund_delta(fill, bankrupt, fee) == delta


def test_dydx_deleveraging_conditions():
    assert dydx.should_deleverage(0, -1) and not dydx.should_deleverage(1, -1) and not dydx.should_deleverage(0, 0)
    assert dydx.should_deleverage(5, 10, final_settlement=True)


# ============================================================================ Hyperliquid


def test_hyperliquid_btc_tiers_and_continuity():
    t = hyperliquid.BTC_TIERS
    assert [x.mmr for x in t] == [Fraction(1, 80), Fraction(1, 40)]
    # deduction(1) = 150M × (1/40 − 1/80) = 1,875,000
    assert hyperliquid.deductions(t) == [0, 1_875_000]
    below = hyperliquid.maintenance_margin(t, Fraction(150_000_000) - Fraction(1, 10**9))
    assert hyperliquid.maintenance_margin(t, 150_000_000) - below < Fraction(1, 10**6)
    assert hyperliquid.maintenance_margin(t, 1_000_000) == 12_500  # 1M / 80
    assert hyperliquid.initial_margin(1_000_000, 40) == 25_000
    with pytest.raises(InvalidInput):
        hyperliquid.initial_margin(200_000_000, 40)  # 40× is not allowed above 150M


@pytest.mark.parametrize("side, size, price, account_value", [(1, 2, 60_000, 10_000), (-1, 3, 60_000, 9_000), (1, Fraction(1, 2), 95_000, 4_000)])
def test_hyperliquid_liquidation_price_is_where_account_value_meets_maintenance(side, size, price, account_value):
    lev = 40
    mmr = Fraction(1, 2 * lev)  # maintenance leverage 80
    mm = mmr * size * price
    liq = hyperliquid.liquidation_price(price, side, account_value - mm, size, 2 * lev)
    value_at_liq = account_value + side * size * (liq - price)
    assert value_at_liq == mmr * size * liq


def test_hyperliquid_backstop_adl_and_funding():
    assert hyperliquid.is_backstop(66, 100) and not hyperliquid.is_backstop(67, 100)  # below 2/3 of maintenance
    assert hyperliquid.adl_rank_key(110, 100, 5_000, 1_000) == Fraction(11, 2)
    assert hyperliquid.funding_8h(0) == Fraction(1, 10_000)
    assert hyperliquid.funding_8h(Fraction(1, 1000)) == Fraction(5, 10_000)  # 0.1 % + clamp(−0.09 %) = 0.05 %
    assert hyperliquid.funding_8h(Fraction(-1, 1000)) == Fraction(-5, 10_000)
    assert hyperliquid.hourly_funding_payment(2, 50_000, 0) == Fraction(2 * 50_000, 80_000)  # 0.01 % / 8 per hour
    assert hyperliquid.hourly_funding_payment(1, 100, 10) == 4  # capped at 4 %/h


# ============================================================================ Drift v2


@pytest.mark.parametrize(
    "default, size, imf, ratio",
    [
        (500, 10**9, 0, 500),  # no IMF: the default
        # 1,000 BTC, imf 1,000: isqrt(1e13 + 1) = 3,162,277; (500 − 100) + 3,162,277 × 1,000 // 1e7 = 400 + 316 = 716
        (500, 1_000 * 10**9, 1_000, 716),
        # 1 BTC: isqrt(1e10 + 1) = 100,000 → 400 + 10 = 410 < 500: the default wins
        (500, 10**9, 1_000, 500),
    ],
)
def test_drift_margin_ratio_with_size_premium(default, size, imf, ratio):
    assert drift.margin_ratio(default, size, imf) == ratio


def test_drift_requirement_weights_transfer_price_and_socialisation():
    assert drift.margin_requirement(50_000 * 10**6, 716) == 3_580 * 10**6
    assert drift.asset_weight(8_000, 0, 100_000) == 8_000  # 1.1e10 / (1e6 + 1) ≈ 10,999 > 8,000
    assert drift.asset_weight(8_000, 10**13, 100_000) == 1_000  # isqrt(1e14 + 1) = 1e7 → 1.1e10 / 1.1e7
    assert drift.liability_weight(12_000, 0, 0) == 12_000
    assert drift.liquidation_transfer_price(50_000 * 10**6, True, 10_000) == 49_500 * 10**6  # long: oracle × (1 − 1 %)
    assert drift.liquidation_transfer_price(50_000 * 10**6, False, 10_000) == 50_500 * 10**6
    # 1,000 USDC over 10 + 10 BTC of open interest: ceil(1e9 × 1e9 / 2e10) × 1e3 = 5e10
    assert drift.socialised_loss_funding_delta(1_000 * 10**6, 10 * 10**9, -10 * 10**9) == 5 * 10**10
    assert drift.socialised_loss_funding_delta(1, 3, 0) == 333_333_334 * 1_000  # rounds up
    with pytest.raises(InvalidInput):
        drift.margin_ratio(-1, 0, 0)
    with pytest.raises(InvalidInput):
        drift.socialised_loss_funding_delta(5, 0, 0)


# ============================================================================ profiles and compare


def test_profiles_and_their_documented_differences():
    assert set(PROFILES) >= {"ramparts", "binance", "dydx", "hyperliquid", "drift"}
    assert profile(" DYDX ").venue.tiers == [["0", "0.02", "0.012"]]
    assert profile("hyperliquid").venue.tiers[0] == ["0", "0.025", "0.0125"]
    for p in PROFILES.values():
        assert p.source and (p.name == "ramparts" or p.differences)
    with pytest.raises(UnknownEntity):
        profile("ftx")


def test_compare_runs_one_crash_through_every_profile():
    n = 80
    t = np.arange(n, dtype=np.int64) * 60 * 10**9 + 1_600_000_000 * 10**9
    p = 10_000 * np.exp(np.concatenate([np.zeros(20), np.linspace(0, np.log(0.5), 40), np.full(20, np.log(0.5))]))
    table, results = run_compare(t, p, list(PROFILES.values()), name="synthetic", population=PopulationSpec(n_accounts=200, seed=3))
    assert list(table["venue"]) == list(PROFILES)
    assert table["value_conserved"].all() and table["replay_identical"].all()
    row = table.set_index("venue")
    assert row.loc["drift", "deleverages"] == 0  # socialised, never ADL
    assert row.loc["binance", "socialised_loss_usdc"] == 0
    assert row.loc["drift", "initial_margin_rate_avg"] > row.loc["binance", "initial_margin_rate_avg"]


def test_cli_compare_bad_venue_is_one_clear_line():
    res = CliRunner().invoke(app, ["compare", "--venues", "ramparts,ftx"])
    assert res.exit_code == 2 and "unknown venue profile" in res.output


# ============================================================================ Derive v2 and Deribit
from ramparts.venues import deribit, derive  # noqa: E402


@pytest.mark.parametrize(
    "fn, args, initial, expected",
    [
        # short 1 BTC 55,000 call at spot 50,000, mark 1,000 (mtm −1,000): MM = −1,000 + 0.075·50,000·(−1) = −4,750
        (derive.short_call_margin, (-1, 55_000, 50_000, -1_000), False, -4_750),
        # IM: otm = 10 %, mult = 15 % − 10 % = 5 % → floored at 10 %: 0.10·50,000·(−1) − 1,000 = −6,000
        (derive.short_call_margin, (-1, 55_000, 50_000, -1_000), True, -6_000),
        # in the money (K 40,000, mark 10,500): no OTM reduction, mult 15 %: −7,500 − 10,500 = −18,000
        (derive.short_call_margin, (-1, 40_000, 50_000, -10_500), True, -18_000),
        # short put K 45,000, mark 500: MM = min(0.075·50,000·(−1), 0.075·(−500)) − 500 = −3,750 − 500 = −4,250
        (derive.short_put_margin, (-1, 45_000, 50_000, -500), False, -4_250),
        # IM = min(0.10·50,000·(−1) − 500, −4,250 × 1.05) = min(−5,500, −4,462.5) = −5,500
        (derive.short_put_margin, (-1, 45_000, 50_000, -500), True, -5_500),
    ],
)
def test_derive_standard_manager_short_options(fn, args, initial, expected):
    assert fn(*args, initial=initial) == expected


def test_derive_perp_margin_contingencies_discounts_and_vol_shocks():
    assert derive.perp_margin(2, 50_000) == -5_000 and derive.perp_margin(-2, 50_000, initial=True) == -6_500
    # MMcont = 2·50,000·1.5 % + 3·50,000·0.3 % = 1,950; IM adds 0.5 % and 0.2 %: 2,750 (= 2.0 % perp + 0.5 % option)
    assert derive.contingencies(2, 3, 50_000, initial=False) == pytest.approx(1_950)
    assert derive.contingencies(-2, -3, 50_000, initial=True) == pytest.approx(2_750)
    # r = 5 %, t = ½ year: pos = 0.95·e^(−0.5·0.13) = 0.95 × 0.937067 = 0.890214; neg = min(e^(0.025), 1.04·e^(0.5·0.105)) = 1.025315
    pos, neg = derive.static_discounts(0.05, derive.YEAR_S / 2)
    assert pos == pytest.approx(0.890214, abs=1e-6) and neg == pytest.approx(1.025315, abs=1e-6)
    # 7 days: m = (30/7)^0.3 = 1.547416; up = 0.6·(1 + 0.5m) = 1.064225; down = 0.6·(1 − 0.275m) = 0.344676
    up, down = derive.vol_shocks(0.6, 7 * 86_400)
    assert up == pytest.approx(1.064225, abs=1e-6) and down == pytest.approx(0.344676, abs=1e-6)
    # a year out at 20 % vol: m = (30/365)^0.13 = 0.722649, up = 0.272265 → floored at the 45 % minimum
    assert derive.vol_shocks(0.2, 365 * 86_400)[0] == 0.45
    assert derive.to_wad(Fraction(-4_750)) == -4_750 * 10**18


@pytest.mark.parametrize("elapsed, d", [(0, 1), (300, Fraction(9, 10)), (600, Fraction(8, 10)), (600 + 3_600, Fraction(4, 10)), (600 + 7_200, 0), (10**6, 0)])
def test_derive_auction_discount_fast_then_slow(elapsed, d):
    assert derive.auction_discount(elapsed) == d


def test_derive_buffer_margin_and_fraction():
    # MM −1,000, MtM 5,000: BM = −1,000 + (−1,000 − 5,000)·0.1 = −1,600
    bm = derive.buffer_margin(-1_000, 5_000)
    assert bm == -1_600
    # at d = 0.9: f = −1,600 / (−1,600 − 5,000·0.9) = 1,600 / 6,100
    assert derive.max_fraction_purchasable(bm, 5_000, Fraction(9, 10)) == Fraction(1_600, 6_100)
    with pytest.raises(InvalidInput):
        derive.auction_discount(-1)


def test_deribit_risk_array_vol_shocks_and_standard_margin():
    assert deribit.price_points() == [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16]
    assert deribit.GRID.extended_moves == (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0) and deribit.PM_PARAMS.mm_factor == 0.8
    # 7 days: m = 1.547416; up = 0.6·(1 + 0.5m) = 1.064225; down = 0.6·(1 − 0.25m) = 0.367888
    up, down = deribit.vol_shocks(0.6, 7)
    assert up == pytest.approx(1.064225, abs=1e-6) and down == pytest.approx(0.367888, abs=1e-6)
    # short 1 BTC 55,000 call at 50,000, mark 0.02 BTC: IM max(0.15 − 0.10, 0.10) + 0.02 = 0.12 BTC, MM 0.075 + 0.02 = 0.095
    im, mm = deribit.short_option_margin(True, 55_000, -1, 0.02, 50_000)
    assert im == pytest.approx(0.12) and mm == pytest.approx(0.095)
    with pytest.raises(InvalidInput):
        deribit.vol_shocks(float("nan"), 7)
