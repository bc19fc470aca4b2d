"""Collateral valuation: a hand-worked table (static haircuts, borrows, concentration, liquidity,
LSTs, a stablecoin), the rounding direction, monotonicity in size and volatility, the bounded rate of
change of the dynamic haircut, the LST depeg haircut, the account-matrix path against the scalar
one, canonical forms, and bad input.

Units: USDC has 6 decimals, so prices are USDC base units per whole unit (ETH at 3,000 USDC is
``3_000_000_000``); haircuts are ppm.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput
from ramparts.margin.haircuts import (
    RATE_SCALE,
    YEAR_S,
    AssetParams,
    CollateralParams,
    DynamicHaircutParams,
    PegParams,
    collateral_value,
    dynamic_haircut_target,
    holding_breakdown,
    realised_vol_ppm,
    step_dynamic_haircut,
)

ETH = 10**18
USDC = 10**6
STETH_PEG = PegParams("ETH", protocol_addon_ppm=20_000, depeg_threshold_ppm=990_000, depeg_factor_ppm=2_000_000)
PARAMS = CollateralParams(
    "USDC",
    {
        "USDC": AssetParams(6),
        "ETH": AssetParams(18, haircut_ppm=100_000, liability_addon_ppm=50_000),
        "BTC": AssetParams(8, haircut_ppm=50_000, concentration_cap=10_000 * USDC, excess_haircut_ppm=1_000_000),
        "BTCH": AssetParams(8, haircut_ppm=50_000, concentration_cap=10_000 * USDC, excess_haircut_ppm=500_000),
        "SOL": AssetParams(9, haircut_ppm=50_000, depth=1_000_000 * USDC, impact_ppm=100_000, impact_cap_ppm=300_000),
        "stETH": AssetParams(18, haircut_ppm=100_000, liability_addon_ppm=50_000, peg=STETH_PEG),
        "wstETH": AssetParams(18, haircut_ppm=100_000, peg=STETH_PEG),
        "USDT": AssetParams(6, haircut_ppm=10_000, peg=PegParams(None, depeg_threshold_ppm=995_000)),
    },
)
PRICES = {
    "ETH": 3_000 * USDC,
    "BTC": 60_000 * USDC,
    "BTCH": 60_000 * USDC,
    "SOL": 160 * USDC,
    "stETH": 2_970 * USDC,
    "wstETH": 3_510 * USDC,
    "USDT": 998_000,
}
RATES = {"stETH": RATE_SCALE, "wstETH": 1_170_000_000_000_000_000}

CASES = [
    # (name, holdings, expected value, working)
    ("cash", {"USDC": 5 * USDC}, 5 * USDC, "the quote counts in full"),
    ("1 ETH at 10 %", {"ETH": ETH}, 2_700 * USDC, "3,000 × 0.9"),
    ("borrowed 1 ETH", {"ETH": -ETH}, -3_150 * USDC, "liability 3,000 × 1.05"),
    ("1 wei of ETH is worth nothing", {"ETH": 1}, 0, "3e9 / 1e18 rounds down to 0"),
    ("1 wei borrowed costs a unit", {"ETH": -1}, -1, "3.15e-9 rounds up to 1"),
    ("cash and a borrow net", {"USDC": 4_000 * USDC, "ETH": -ETH}, 850 * USDC, "4,000 − 3,150"),
    ("BTC under the concentration cap", {"BTC": 10**7}, 5_700 * USDC, "0.1 BTC = 6,000 × 0.95"),
    ("BTC above the cap counts zero", {"BTC": 10**8}, 9_500 * USDC, "10,000 × 0.95 + 50,000 × 0"),
    ("BTC above the cap at 50 %", {"BTCH": 10**8}, 34_500 * USDC, "10,000 × 0.95 + 50,000 × 0.5"),
    ("SOL small: liquidity term ⌈0.1·√(0.0016)⌉", {"SOL": 10 * 10**9}, 1_513_600_000, "mv 1,600: 5 % + 0.4 % → × 0.946"),
    ("SOL at 4 × depth: +20 %", {"SOL": 25_000 * 10**9}, 3_000_000 * USDC, "mv 4e6: 5 % + 20 %"),
    ("SOL at 100 × depth: capped at +30 %", {"SOL": 625_000 * 10**9}, 65_000_000 * USDC, "mv 1e8 · (1 − 0.35)"),
    ("stETH at 0.99: no depeg haircut", {"stETH": ETH}, 2_640 * USDC, "fundamental 3,000 × (1 − 10 % − 2 %)"),
    ("wstETH through its rate 1.17", {"wstETH": ETH}, 3_088_800_000, "3,510 × 0.88"),
    ("borrowed stETH at max(market, fundamental)", {"stETH": -ETH}, -3_150 * USDC, "3,000 × 1.05"),
    ("USDT at 0.998: inside the 0.5 % band", {"USDT": 1_000 * USDC}, 990 * USDC, "peg 1 USDC × (1 − 1 %)"),
]


@pytest.mark.parametrize("name,holdings,expected,working", CASES, ids=[c[0] for c in CASES])
def test_valuation_table(name, holdings, expected, working):
    assert collateral_value(holdings, PRICES, PARAMS, exchange_rates=RATES) == expected


def test_a_whole_account_sums_its_holdings():
    h = {"USDC": 100 * USDC, "ETH": -ETH, "BTC": 10**8, "stETH": 2 * ETH, "USDT": 1_000 * USDC}
    parts = sum(collateral_value({a: v}, PRICES, PARAMS, exchange_rates=RATES) for a, v in h.items())
    assert collateral_value(h, PRICES, PARAMS, exchange_rates=RATES) == parts == 100 * USDC - 3_150 * USDC + 9_500 * USDC + 5_280 * USDC + 990 * USDC


def test_zero_holdings_need_no_price():
    assert collateral_value({"ETH": 0, "USDC": 7}, {}, PARAMS) == 7


# ------------------------------------------------------------------------------- LST / depeg

DEPEG_CASES = [
    # (stETH market price in USDC, depeg ppm, value of 1 stETH in USDC units)
    (3_030, 0, 2_640 * USDC),  # above the peg
    (2_970, 0, 2_640 * USDC),  # ratio 0.99 = threshold
    (2_940, 20_000, 2_580 * USDC),  # 0.98: 2 × (0.99 − 0.98) = 2 %
    (2_850, 80_000, 2_400 * USDC),  # 0.95: 8 %
    (2_400, 380_000, 1_500 * USDC),  # 0.80: 38 %
    (1_500, 980_000, 0),  # 0.50: 98 % + 12 % capped at 100 %
]


@pytest.mark.parametrize("market,depeg,value", DEPEG_CASES, ids=[f"market {c[0]}" for c in DEPEG_CASES])
def test_lst_depeg_haircut_grows_as_the_ratio_falls(market, depeg, value):
    prices = {**PRICES, "stETH": market * USDC}
    b = holding_breakdown("stETH", ETH, prices, PARAMS, exchange_rates=RATES)
    assert b.depeg_ppm == depeg and b.value == value
    assert b.ratio_ppm == market * 10**6 // 3_000


@given(m1=st.integers(1, 10**13), m2=st.integers(1, 10**13), rate=st.integers(RATE_SCALE // 2, 2 * RATE_SCALE))
@settings(max_examples=200, deadline=None)
def test_depeg_monotone_in_market_price(m1, m2, rate):
    lo, hi = sorted((m1, m2))
    r = {**RATES, "stETH": rate}
    a = holding_breakdown("stETH", ETH, {**PRICES, "stETH": lo}, PARAMS, exchange_rates=r)
    b = holding_breakdown("stETH", ETH, {**PRICES, "stETH": hi}, PARAMS, exchange_rates=r)
    assert a.ratio_ppm <= b.ratio_ppm and a.depeg_ppm >= b.depeg_ppm and a.value <= b.value


def test_stablecoin_depeg():
    b = holding_breakdown("USDT", 1_000 * USDC, {"USDT": 970_000}, PARAMS)
    assert (b.ratio_ppm, b.depeg_ppm, b.haircut_ppm, b.value) == (970_000, 25_000, 35_000, 965 * USDC)


# ----------------------------------------------------------------------------- rounding, size


@given(
    amount=st.integers(-(10**30), 10**30),
    price=st.integers(1, 10**15),
    decimals=st.integers(0, 24),
    haircut=st.integers(0, 10**6),
    addon=st.integers(0, 10**6),
)
@settings(max_examples=300, deadline=None)
def test_rounding_favours_solvency(amount, price, decimals, haircut, addon):
    params = CollateralParams("USDC", {"USDC": AssetParams(6), "X": AssetParams(decimals, haircut_ppm=haircut, liability_addon_ppm=addon)})
    v = collateral_value({"X": amount}, {"X": price}, params)
    if amount >= 0:
        exact = Fraction(amount * price, 10**decimals) * Fraction(10**6 - haircut, 10**6)
        assert exact - 2 < v <= exact  # value rounds down (two floors: market value, then haircut)
    else:
        exact = Fraction(-amount * price, 10**decimals) * Fraction(10**6 + addon, 10**6)
        assert -exact - 1 < v <= -exact  # liability rounds up


@given(a=st.integers(0, 10**24), b=st.integers(0, 10**24), depth=st.integers(1, 10**15), k=st.integers(0, 10**7))
@settings(max_examples=200, deadline=None)
def test_haircut_monotone_in_size(a, b, depth, k):
    lo, hi = sorted((a, b))
    params = CollateralParams(
        "USDC", {"USDC": AssetParams(6), "X": AssetParams(9, haircut_ppm=20_000, depth=depth, impact_ppm=k, impact_cap_ppm=500_000)}
    )
    h_lo = holding_breakdown("X", lo, {"X": 160 * USDC}, params)
    h_hi = holding_breakdown("X", hi, {"X": 160 * USDC}, params)
    assert h_lo.haircut_ppm <= h_hi.haircut_ppm <= 520_000
    assert h_lo.liquidity_ppm <= h_hi.liquidity_ppm <= 500_000


def test_dynamic_haircut_only_raises_the_static_one():
    assert collateral_value({"ETH": ETH}, PRICES, PARAMS, dynamic_haircuts={"ETH": 150_000}) == 2_550 * USDC
    assert collateral_value({"ETH": ETH}, PRICES, PARAMS, dynamic_haircuts={"ETH": 50_000}) == 2_700 * USDC


# -------------------------------------------------------------------------- account matrix


@given(
    rows=st.lists(
        st.tuples(st.integers(-(10**21), 10**21), st.integers(-(10**12), 10**12), st.integers(0, 10**21), st.integers(0, 10**12)),
        min_size=0,
        max_size=20,
    )
)
@settings(max_examples=100, deadline=None)
def test_matrix_path_equals_the_scalar_path(rows):
    assets = ["ETH", "SOL", "stETH", "BTCH"]
    mat = np.array([[int(x) for x in r] for r in rows], dtype=object).reshape(len(rows), 4)
    out = collateral_value(mat, PRICES, PARAMS, assets=assets, exchange_rates=RATES)
    assert out.dtype == np.int64 and out.shape == (len(rows),)
    for i, r in enumerate(rows):
        assert out[i] == collateral_value(dict(zip(assets, r, strict=True)), PRICES, PARAMS, exchange_rates=RATES)


def test_int64_matrix_input():
    mat = np.array([[5 * USDC, 0], [0, 10**7], [USDC, -(10**7)]], dtype=np.int64)
    out = collateral_value(mat, PRICES, PARAMS, assets=["USDC", "BTC"])
    assert out.tolist() == [5 * USDC, 5_700 * USDC, USDC - 6_000 * USDC]


# ------------------------------------------------------------------------- dynamic haircuts

DYN = DynamicHaircutParams(
    base_ppm=20_000,
    k_ppm=2_326_000,
    horizon_s=86_400,
    floor_ppm=20_000,
    cap_ppm=500_000,
    max_up_ppm=25_000,
    max_down_ppm=5_000,
    liquidity_ppm=10_000,
    ref_depth=10_000_000 * USDC,
)

TARGET_CASES = [
    # (sigma ppm, depth, target, working)
    (0, None, 30_000, "base 2 % + liquidity 1 % at the reference depth"),
    (0, 40_000_000 * USDC, 25_000, "4 × the depth: 1 %/√4 = 0.5 %"),
    (0, 2_500_000 * USDC, 40_000, "a quarter of the depth: 2 %"),
    (800_000, None, 127_399, "2 % + 1 % + 2.326 · 0.8 · √(1/365) = 9.7398…% → 97,399 ppm rounded up"),
    (10_000_000, None, 500_000, "1,000 % vol: capped"),
]


@pytest.mark.parametrize("sigma,depth,target,working", TARGET_CASES, ids=[c[3] for c in TARGET_CASES])
def test_dynamic_target(sigma, depth, target, working):
    assert dynamic_haircut_target(sigma, DYN, depth) == target


@given(s1=st.integers(0, 5 * 10**6), s2=st.integers(0, 5 * 10**6), d1=st.integers(1, 10**15), d2=st.integers(1, 10**15))
@settings(max_examples=200, deadline=None)
def test_target_rises_with_volatility_and_falls_with_liquidity(s1, s2, d1, d2):
    (sl, sh), (dl, dh) = sorted((s1, s2)), sorted((d1, d2))
    assert dynamic_haircut_target(sl, DYN, dh) <= dynamic_haircut_target(sh, DYN, dh)
    assert dynamic_haircut_target(sl, DYN, dh) <= dynamic_haircut_target(sl, DYN, dl)


@given(
    start=st.one_of(st.none(), st.integers(20_000, 500_000)),
    path=st.lists(st.tuples(st.integers(0, 5 * 10**6), st.one_of(st.none(), st.integers(1, 10**15))), min_size=1, max_size=60),
)
@settings(max_examples=200, deadline=None)
def test_bounded_rate_of_change(start, path):
    h = start
    for sigma, depth in path:
        new = step_dynamic_haircut(h, sigma, DYN, depth)
        target = dynamic_haircut_target(sigma, DYN, depth)
        assert DYN.floor_ppm <= new <= DYN.cap_ppm
        if h is None:
            assert new == target
        else:
            assert -DYN.max_down_ppm <= new - h <= DYN.max_up_ppm
            assert min(h, target) <= new <= max(h, target)  # moves toward the target, never past it
        h = new


def test_converges_to_the_target_at_the_bounded_pace():
    h, steps = 20_000, 0
    while h != 500_000:
        h = step_dynamic_haircut(h, 10_000_000, DYN)
        steps += 1
    assert steps == 20  # (500,000 − 20,000) / 25,000 = 19.2 → 20 steps up
    while h != 30_000:
        h = step_dynamic_haircut(h, 0, DYN)
        steps += 1
    assert steps == 20 + 94  # 470,000 / 5,000 down


def test_realised_vol():
    assert realised_vol_ppm([100, 100, 100], 60 * 10**9) == 0
    daily = realised_vol_ppm([100, 101, 100, 101, 100], 86_400 * 10**9)
    assert daily == 219_510
    assert realised_vol_ppm(np.array([100, 101, 100, 101, 100]), 3_600 * 10**9) == realised_vol_ppm([100, 101, 100, 101, 100], 3_600 * 10**9)
    assert realised_vol_ppm([100, 101, 100, 101, 100], 3_600 * 10**9) > daily


# ------------------------------------------------------------------------------- round trips


def test_params_round_trip():
    d = PARAMS.to_dict()
    assert list(d["assets"]) == sorted(d["assets"])
    again = CollateralParams.from_dict(json.loads(json.dumps(d)))
    assert again == PARAMS and again.to_dict() == d
    assert DynamicHaircutParams.from_dict(json.loads(json.dumps(DYN.to_dict()))) == DYN


# ---------------------------------------------------------------------------------- bad input

BAD = [
    ("NaN price", lambda: collateral_value({"ETH": ETH}, {"ETH": float("nan")}, PARAMS), "prices.ETH"),
    ("negative price", lambda: collateral_value({"ETH": ETH}, {"ETH": -1}, PARAMS), "prices.ETH"),
    ("zero price", lambda: collateral_value({"ETH": ETH}, {"ETH": 0}, PARAMS), "prices.ETH"),
    ("missing price", lambda: collateral_value({"ETH": ETH}, {}, PARAMS), "prices"),
    ("unknown asset held", lambda: collateral_value({"DOGE": 1}, PRICES, PARAMS), "holdings"),
    ("unknown asset priced", lambda: collateral_value({"ETH": 1}, {**PRICES, "DOGE": 1}, PARAMS), "prices"),
    ("wrong quote price", lambda: collateral_value({"USDC": 1}, {"USDC": 999_999}, PARAMS), "prices.USDC"),
    ("float amount", lambda: collateral_value({"ETH": 1.5}, PRICES, PARAMS), "holdings.ETH"),
    ("NaN amount", lambda: collateral_value({"ETH": float("nan")}, PRICES, PARAMS), "holdings.ETH"),
    ("mismatched lengths", lambda: collateral_value(np.zeros((2, 3), dtype=np.int64), PRICES, PARAMS, assets=["ETH", "BTC"]), "holdings"),
    ("float matrix", lambda: collateral_value(np.zeros((2, 2)), PRICES, PARAMS, assets=["ETH", "BTC"]), "holdings"),
    ("matrix without assets", lambda: collateral_value(np.zeros((2, 2), dtype=np.int64), PRICES, PARAMS), "assets"),
    ("matrix with an unknown asset", lambda: collateral_value(np.zeros((1, 1), dtype=np.int64), PRICES, PARAMS, assets=["DOGE"]), "assets"),
    ("duplicate matrix assets", lambda: collateral_value(np.zeros((1, 2), dtype=np.int64), PRICES, PARAMS, assets=["ETH", "ETH"]), "assets"),
    ("missing LST rate", lambda: collateral_value({"stETH": ETH}, PRICES, PARAMS), "exchange_rates"),
    ("rate of an unpegged asset", lambda: collateral_value({"ETH": ETH}, PRICES, PARAMS, exchange_rates={"ETH": RATE_SCALE}), "exchange_rates"),
    ("zero rate", lambda: collateral_value({"stETH": ETH}, PRICES, PARAMS, exchange_rates={"stETH": 0}), "exchange_rates.stETH"),
    ("dynamic haircut of an unknown asset", lambda: collateral_value({"ETH": 1}, PRICES, PARAMS, dynamic_haircuts={"DOGE": 1}), "dynamic_haircuts"),
    ("dynamic haircut above 100 %", lambda: collateral_value({"ETH": 1}, PRICES, PARAMS, dynamic_haircuts={"ETH": 2 * 10**6}), "dynamic_haircuts.ETH"),
    ("haircut above 100 %", lambda: AssetParams(6, haircut_ppm=1_000_001), "asset.haircut_ppm"),
    ("negative decimals", lambda: AssetParams(-1), "asset.decimals"),
    ("zero depth", lambda: AssetParams(6, depth=0), "asset.depth"),
    ("quote not listed", lambda: CollateralParams("USDC", {"ETH": AssetParams(18)}), "collateral.quote"),
    ("peg to an unknown base", lambda: CollateralParams("USDC", {"USDC": AssetParams(6), "x": AssetParams(18, peg=PegParams("ETH"))}), "collateral.assets.x.peg.base"),
    ("peg to a pegged base", lambda: CollateralParams("USDC", {"USDC": AssetParams(6), "a": AssetParams(6, peg=PegParams()), "b": AssetParams(6, peg=PegParams("a"))}), "collateral.assets.b.peg.base"),
    ("floor above cap", lambda: DynamicHaircutParams(base_ppm=0, k_ppm=1, horizon_s=1, floor_ppm=10, cap_ppm=5), "dynamic_haircut.floor_ppm"),
    ("liquidity without reference depth", lambda: DynamicHaircutParams(base_ppm=0, k_ppm=1, horizon_s=1, liquidity_ppm=5), "dynamic_haircut.ref_depth"),
    ("previous haircut outside the bounds", lambda: step_dynamic_haircut(10_000, 0, DYN), "prev_ppm"),
    ("negative volatility", lambda: step_dynamic_haircut(None, -1, DYN), "sigma_ppm"),
    ("NaN volatility", lambda: dynamic_haircut_target(float("nan"), DYN), "sigma_ppm"),
    ("zero depth for the target", lambda: dynamic_haircut_target(0, DYN, 0), "depth"),
    ("too few prices for a volatility", lambda: realised_vol_ppm([1, 2], 1), "prices"),
    ("negative price in a series", lambda: realised_vol_ppm([1, -2, 3], 1), "prices[1]"),
    ("unknown key", lambda: AssetParams.from_dict({"decimals": 6, "hair": 1}), "asset"),
    ("breakdown of an unknown asset", lambda: holding_breakdown("DOGE", 1, PRICES, PARAMS), "asset"),
]


@pytest.mark.parametrize("name,call,field", BAD, ids=[c[0] for c in BAD])
def test_bad_input(name, call, field):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field, e.value
    assert e.value.message


def test_year_constant():
    assert YEAR_S == 31_536_000


def test_realised_vol_ignores_the_callers_decimal_context():
    import decimal

    expected = realised_vol_ppm([100, 101, 100, 101, 100], 86_400 * 10**9)
    with decimal.localcontext(decimal.Context(prec=5, rounding=decimal.ROUND_DOWN)):
        assert realised_vol_ppm([100, 101, 100, 101, 100], 86_400 * 10**9) == expected
