"""Liquidation and bankruptcy prices: Binance's published formula (implemented independently here,
with its bracket search, in exact fractions) on isolated and cross rows including bracket
switches; Hyperliquid's single-tier formula; the exact boundary property (safe at the reported
price, liquidatable one unit beyond) on random schedules with and without a size premium.

BTC-PERP in USDC: 1 lot = 0.001 BTC, a lot price is the BTC price × 1,000 units
(50,000 USDC/BTC = 50,000,000). Brackets (``BTC_TIERS``, trimmed): 0 / 0.4 % / cum 0,
50,000 / 0.5 % / cum 50, 600,000 / 1 % / cum 3,050, 3,000,000 / 2 % / cum 33,050 (USDC).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.liquidation_price import bankruptcy_price, liquidation_price
from ramparts.margin.schedule import MarginSchedule, MarginTier

USDC = 10**6
LOT = Decimal("0.001")
BTC_TIERS = [
    ("0", "0.008", "0.004"),
    ("50000", "0.01", "0.005"),
    ("600000", "0.02", "0.01"),
    ("3000000", "0.04", "0.02"),
    ("12000000", "0.1", "0.05"),
]
TIERED = MarginSchedule.from_rates(BTC_TIERS, quote_decimals=6)


def px(usd_per_btc) -> int:
    """A BTC price in USDC to a lot price (1 lot = 0.001 BTC)."""
    return int(Decimal(str(usd_per_btc)) * 1000)


# ------------------------------------------------------------------------------------ Binance, independently
def binance_brackets(tiers, decimals):
    """(floor, MMR, cum) per bracket in exact fractions, cum by Binance's own recursion."""
    out, cum, prev = [], Fraction(0), None
    for floor, _, mmr in tiers:
        f, m = Fraction(floor) * 10**decimals, Fraction(mmr)
        if prev is not None:
            cum += f * (m - prev)
        out.append((f, m, cum))
        prev = m
    return out


def binance_lp(tiers, decimals, lots, entry, wb, tmm1=0, upnl1=0):
    """``LP = (WB − TMM1 + UPNL1 + cum − side·|Q|·EP) / (|Q|·MMR − side·|Q|)``, recomputed with the bracket
    of the solution's notional until it is consistent. ``None`` if it is not positive."""
    side, q = (1 if lots > 0 else -1), abs(lots)
    brackets = binance_brackets(tiers, decimals)
    for k, (floor, mmr, cum) in enumerate(brackets):
        lp = (wb - tmm1 + upnl1 + cum - side * q * entry) / (q * mmr - side * q)
        upper = brackets[k + 1][0] if k + 1 < len(brackets) else None
        if floor <= q * lp and (upper is None or q * lp < upper):
            return lp if lp > 0 else None
    # the solution's notional is below the first floor (negative): no positive liquidation price
    return None


BINANCE_ROWS = [
    # (name, lots, entry lot price, WB, TMM1, UPNL1, hand-worked liquidation lot price)
    # isolated long 0.1 BTC @ 50,000, 500 USDC: (500 − 5,000) / (0.1 × (0.4 % − 1)) = 45,180.72… USDC/BTC, rounded up
    ("isolated long, bracket 1", 100, px(50_000), 500 * USDC, 0, 0, 45_180_723),
    # isolated short 0.1 BTC @ 50,000, 500 USDC: (500 + 5,000) / (0.1 × 1.004) = 54,780.87… rounded down
    ("isolated short, bracket 1", -100, px(50_000), 500 * USDC, 0, 0, 54_780_876),
    # 2 BTC @ 50,000 (100,000 USDC: bracket 2), 60,000 USDC: bracket 2 gives 20,075.37… → 40,150 USDC notional,
    # below its floor; bracket 1 gives (60,000 − 100,000) / (2 × (0.4 % − 1)) = 20,080.32… (40,160 USDC) ✓
    ("isolated long, switch down a bracket", 2000, px(50_000), 60_000 * USDC, 0, 0, 20_080_322),
    # cross short 10 BTC @ 50,000 (500,000 USDC: bracket 2), WB 200,000, TMM1 1,000, UPNL1 −5,000: bracket 2 gives
    # 69,059.70… (690,597 USDC, above 600,000); bracket 3: (200,000 − 1,000 − 5,000 + 3,050 + 500,000)/(10 × 1.01)
    # = 69,014.85… ✓
    ("cross short, switch up a bracket", -10_000, px(50_000), 200_000 * USDC, 1_000 * USDC, -5_000 * USDC, 69_014_851),
    # cross long 0.5 BTC @ 40,000, WB 3,000, TMM1 200, UPNL1 +1,000: (3,000 − 200 + 1,000 − 20,000)/(0.5 × −0.996)
    # = 32,530.12… rounded up
    ("cross long, bracket 1", 500, px(40_000), 3_000 * USDC, 200 * USDC, 1_000 * USDC, 32_530_121),
    # cross short 200 BTC @ 50,000 (10,000,000 USDC: bracket 4, 2 %, cum 33,050), WB 2,000,000, UPNL1 +50,000:
    # (2,000,000 + 50,000 + 33,050 + 10,000,000) / (200 × 1.02) = 59,230.63… (11.85 M notional, still bracket 4)
    ("cross short, deep bracket", -200_000, px(50_000), 2_000_000 * USDC, 0, 50_000 * USDC, 59_230_637),
    # isolated long 200 BTC @ 50,000 at 10x: (1,000,000 + 33,050 − 10,000,000) / (200 × (2 % − 1)) = 45,749.74…
    ("isolated long at 10x, bracket 4", 200_000, px(50_000), 1_000_000 * USDC, 0, 0, 45_749_745),
    # fully collateralised long: Binance's negative result is shown as none
    ("over-collateralised long", 100, px(50_000), 5_000 * USDC, 0, 0, None),
    # (500 − 300 − 100 − 5,000) / (0.1 × (0.4 % − 1)) = 49,196.78…
    ("long with debt elsewhere", 100, px(50_000), 500 * USDC, 300 * USDC, -100 * USDC, 49_196_788),
    ("short under water at any price", -100, px(50_000), -6_000 * USDC, 0, 0, None),
]


@pytest.mark.parametrize("name,lots,entry,wb,tmm1,upnl1,expected", BINANCE_ROWS, ids=[r[0] for r in BINANCE_ROWS])
def test_binance_published_formula(name, lots, entry, wb, tmm1, upnl1, expected):
    got = liquidation_price(lots, lots * entry, wb, TIERED, LOT, other_maintenance=tmm1, other_upnl=upnl1)
    ref = binance_lp(BTC_TIERS, 6, lots, entry, wb, tmm1, upnl1)
    assert (got is None) is (ref is None) is (expected is None)
    if ref is not None:
        assert got == (math.ceil(ref) if lots > 0 else math.floor(ref)) == expected


def equity(lots, cost, collateral, price, other_upnl=0):
    return collateral + other_upnl + lots * price - cost


def maintenance(schedule, lots, price, other_mm=0):
    size = float(abs(lots)) * float(LOT)
    return schedule.maintenance_margin(abs(lots) * price, size) + other_mm


def assert_boundary(schedule, lots, cost, collateral, lp, other_mm=0, other_upnl=0):
    """Safe at ``lp`` and one unit towards safety; liquidatable one unit the other way."""
    safe, unsafe = (1, -1) if lots > 0 else (-1, 1)
    for p, ok in ((lp, True), (lp + safe, True), (lp + unsafe, False)):
        if p < 0 or abs(lots) * p > MAX_NOTIONAL:
            continue
        e, m = equity(lots, cost, collateral, p, other_upnl), maintenance(schedule, lots, p, other_mm)
        assert (e >= m) is ok, (p, e, m)


def test_hand_worked_rows_sit_on_the_boundary():
    for _, lots, entry, wb, tmm1, upnl1, expected in BINANCE_ROWS:
        if expected is not None:
            assert_boundary(TIERED, lots, lots * entry, wb, expected, tmm1, upnl1)


# ------------------------------------------------------------------------------------ Hyperliquid
HL_ROWS = [
    # (name, lots, entry, collateral, mark now, maintenance rate l)
    ("long 20x, l = 2.5 %", 1_000, px(60_000), 3_000 * USDC, px(61_000), "0.025"),
    ("short 20x, l = 2.5 %", -1_000, px(60_000), 3_000 * USDC, px(59_500), "0.025"),
    ("long 3x, l = 16.7 %", 250, px(3_000), 250 * USDC, px(2_900), "0.167"),
    ("short 50x, l = 1 %", -4_000, px(100_000), 8_000 * USDC, px(100_000), "0.01"),
]


@pytest.mark.parametrize("name,lots,entry,collateral,mark,mmr", HL_ROWS, ids=[r[0] for r in HL_ROWS])
def test_hyperliquid_formula_on_a_single_tier(name, lots, entry, collateral, mark, mmr):
    # liq = price − side · margin_available / size / (1 − l · side), margin_available = account value − MM at price
    s = MarginSchedule.flat("0.5", mmr)
    lf = Fraction(mmr)  # Hyperliquid's l = 1 / maintenance leverage
    side, q = (1 if lots > 0 else -1), abs(lots)
    account_value = collateral + lots * mark - lots * entry
    margin_available = account_value - q * mark * lf
    liq = mark - side * margin_available / q / (1 - lf * side)
    got = liquidation_price(lots, lots * entry, collateral, s, LOT)
    assert got == (math.ceil(liq) if lots > 0 else math.floor(liq))
    assert_boundary(s, lots, lots * entry, collateral, got)


# ------------------------------------------------------------------------------------ exactness, random
@st.composite
def schedules(draw) -> MarginSchedule:
    n = draw(st.integers(1, 6))
    floors = [0, *sorted(draw(st.sets(st.integers(1, 10**13), min_size=n - 1, max_size=n - 1)))]
    mm = sorted(draw(st.lists(st.integers(1, PPM), min_size=n, max_size=n)))
    tiers = [MarginTier(floors[k], PPM, mm[k]) for k in range(n)]
    return MarginSchedule(tuple(tiers), draw(st.sampled_from([0, 0, 300, 50_000])))


@settings(max_examples=300, deadline=None)
@given(
    schedules(),
    st.integers(-10**6, 10**6).filter(bool),
    st.integers(1, 10**8),
    st.integers(-10**12, 10**13),
    st.integers(0, 10**10),
    st.integers(-10**10, 10**10),
)
def test_reported_price_is_exactly_on_the_boundary(s, lots, entry, collateral, other_mm, other_upnl):
    assume(abs(lots) * entry <= MAX_NOTIONAL)
    cost = lots * entry
    lp = liquidation_price(lots, cost, collateral, s, LOT, other_mm, other_upnl)
    limit = MAX_NOTIONAL // abs(lots)

    def safe(p):
        return equity(lots, cost, collateral, p, other_upnl) >= maintenance(s, lots, p, other_mm)

    if lp is None:
        # no positive price within range crosses the boundary
        if lots > 0:
            assert safe(0) or not safe(limit)
        else:
            assert not safe(1) or safe(limit)
    else:
        assert lp > 0
        if lp <= limit:
            assert_boundary(s, lots, cost, collateral, lp, other_mm, other_upnl)
        else:
            assert (not safe(limit)) if lots > 0 else safe(limit)


def test_size_premium_moves_the_price():
    # 10 BTC long (10,000 lots) @ 50,000 with 60,000 USDC; flat 5 % MM vs. premium 0.8 × 5 % + 0.01 × √10 = 7.17 %
    plain = MarginSchedule.flat("0.1", "0.05")
    prem = MarginSchedule.flat("0.1", "0.05", size_premium="0.01")
    lots, cost, col = 10_000, 10_000 * px(50_000), 60_000 * USDC
    a = liquidation_price(lots, cost, col, plain, LOT)
    b = liquidation_price(lots, cost, col, prem, LOT)
    assert prem.size_premium_rate_ppm(10.0) == 71_623  # 40,000 + 10,000 × 3.16227… rounded up
    # (60,000 − 500,000) / (10 × (r − 1)) USDC/BTC
    assert a == math.ceil(Fraction(440_000 * USDC, 10_000) / Fraction(950_000, PPM))
    assert b == math.ceil(Fraction(440_000 * USDC, 10_000) / Fraction(PPM - 71_623, PPM))
    assert b > a
    assert_boundary(prem, lots, cost, col, b)


def test_full_maintenance_tier_that_cannot_be_covered():
    s = MarginSchedule((MarginTier(0, PPM, 500_000), MarginTier(1_000 * USDC, PPM, PPM)))
    # long 1 lot, cost 2,000 USDC, 100 USDC: above the 100 % tier no price can make it safe
    assert liquidation_price(1, 2_000 * USDC, 100 * USDC, s, LOT) is None
    # enough collateral to cover the 100 % tier's amount: an ordinary price from the 50 % tier
    lp = liquidation_price(1, 2_000 * USDC, 1_600 * USDC, s, LOT)
    assert lp == 800 * USDC  # 1,600 + P − 2,000 = 0.5 P
    assert_boundary(s, 1, 2_000 * USDC, 1_600 * USDC, lp)


def test_flat_position_has_no_price():
    assert liquidation_price(0, 0, 100, TIERED, LOT) is None
    assert bankruptcy_price(0, 0, 100) is None


# ------------------------------------------------------------------------------------ bankruptcy
BANKRUPTCY_ROWS = [
    # (lots, cost, collateral, expected, working)
    (100, 100 * px(50_000), 500 * USDC, 45_000_000, "(5,000 − 500) / 0.1 = 45,000 USDC/BTC exactly"),
    (3, 300_000, 10_000, 96_667, "(300,000 − 10,000) / 3 = 96,666.6… rounded up"),
    (-3, -300_000, 10_000, 103_333, "(10,000 + 300,000) / 3 = 103,333.3… rounded down"),
    (-100, -100 * px(50_000), 500 * USDC, 55_000_000, "(500 + 5,000) / 0.1"),
    (100, 100 * px(50_000), 5_000 * USDC, None, "fully funded long: zero price"),
    (100, 100 * px(50_000), 6_000 * USDC, None, "over-funded long: negative price"),
    (-100, -100 * px(50_000), -5_000 * USDC, None, "short already bankrupt at any price"),
]


@pytest.mark.parametrize("lots,cost,collateral,expected,working", BANKRUPTCY_ROWS, ids=[r[4] for r in BANKRUPTCY_ROWS])
def test_bankruptcy_price(lots, cost, collateral, expected, working):
    got = bankruptcy_price(lots, cost, collateral)
    assert got == expected
    if got is not None:
        safe = 1 if lots > 0 else -1
        assert equity(lots, cost, collateral, got) >= 0
        assert equity(lots, cost, collateral, got - safe) < 0


# ------------------------------------------------------------------------------------ bad input
BAD = [
    (dict(lots=1.0), "lots"),
    (dict(lots=True), "lots"),
    (dict(cost="5"), "cost"),
    (dict(collateral=None), "collateral"),
    (dict(collateral=2**70), "collateral"),
    (dict(schedule={"tiers": []}), "schedule"),
    (dict(lot_underlying=0), "lot_underlying"),
    (dict(lot_underlying="-0.001"), "lot_underlying"),
    (dict(lot_underlying="NaN"), "lot_underlying"),
    (dict(other_maintenance=-1), "other_maintenance"),
    (dict(other_upnl=0.5), "other_upnl"),
]


@pytest.mark.parametrize("override,field", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_input(override, field):
    args = dict(lots=1, cost=100, collateral=10, schedule=TIERED, lot_underlying=LOT)
    args.update(override)
    with pytest.raises(InvalidInput) as err:
        liquidation_price(**args)
    assert err.value.field == field


def test_bankruptcy_bad_input():
    with pytest.raises(InvalidInput) as err:
        bankruptcy_price(1, 1.5, 0)
    assert err.value.field == "cost"
