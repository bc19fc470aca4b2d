"""Margin schedules: hand-worked requirements (table-driven), Binance's worked maintenance amount,
continuity at every tier boundary, monotonicity, the size premium, the canonical form, bad input.

USDC schedules have 6 decimals: 1 USDC = 1_000_000 units. ``BTC_TIERS`` (MM rate, cumulative
maintenance amount ``cum``; IM rate, IM amount) worked by hand from
``cum_n = cum_{n−1} + floor_n × (rate_n − rate_{n−1})``::

    floor (USDC)   MM     cum (USDC)                          IM     IM amount (USDC)
    0              0.4 %  0                                   0.8 %  0
    50,000         0.5 %  50,000 × 0.1 %              = 50    1 %    50,000 × 0.2 %            = 100
    600,000        1 %    50 + 600,000 × 0.5 %        = 3,050 2 %    100 + 600,000 × 1 %       = 6,100
    3,000,000      2 %    3,050 + 3,000,000 × 1 %     = 33,050 4 %   6,100 + 3,000,000 × 2 %   = 66,100
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine.presets import BTC_TIERS  # the Binance-like table the engine presets use
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.schedule import MarginSchedule, MarginTier

USDC = 10**6
TIERED = MarginSchedule.from_rates(BTC_TIERS, quote_decimals=6)


@st.composite
def schedules(draw, premium: bool = True) -> MarginSchedule:
    """A random valid schedule: floors strictly increasing from 0, rates non-decreasing, mm ≤ im."""
    n = draw(st.integers(1, 8))
    floors = [0, *sorted(draw(st.sets(st.integers(1, MAX_NOTIONAL), min_size=n - 1, max_size=n - 1)))]
    mm = sorted(draw(st.lists(st.integers(1, PPM), min_size=n, max_size=n)))
    tiers, im_prev = [], 0
    for k in range(n):
        im = min(PPM, max(im_prev, mm[k] + draw(st.integers(0, PPM))))
        tiers.append(MarginTier(floors[k], im, mm[k]))
        im_prev = im
    spp = draw(st.integers(0, 200_000)) if premium else 0
    return MarginSchedule(tuple(tiers), spp)


# ------------------------------------------------------------------------------------ hand-worked
MM_CASES = [
    # (notional in units, maintenance margin in units, note)
    (0, 0, "flat: nothing"),
    (1, 1, "1 unit × 0.4 % = 0.004 → rounded up to 1"),
    (123, 1, "0.492 → 1"),
    (250_001, 1001, "0.250001 USDC × 0.4 % = 1000.004 units → 1001"),
    (10_000 * USDC, 40 * USDC, "10,000 × 0.4 %"),
    (50_000 * USDC - 1, 200 * USDC, "49,999.999999 × 0.4 % = 199.999999996 → 200 USDC"),
    (50_000 * USDC, 200 * USDC, "boundary: 50,000 × 0.5 % − 50 = 200 = 50,000 × 0.4 %"),
    (100_000 * USDC, 450 * USDC, "100,000 × 0.5 % − 50"),
    (1_000_000 * USDC, 6_950 * USDC, "1,000,000 × 1 % − 3,050"),
    (5_000_000 * USDC, 66_950 * USDC, "5,000,000 × 2 % − 33,050"),
]

IM_CASES = [
    (10_000 * USDC, 80 * USDC, "10,000 × 0.8 %"),
    (100_000 * USDC, 900 * USDC, "100,000 × 1 % − 100"),
    (1_000_000 * USDC, 13_900 * USDC, "1,000,000 × 2 % − 6,100"),
    (5_000_000 * USDC, 133_900 * USDC, "5,000,000 × 4 % − 66,100"),
]


@pytest.mark.parametrize("notional,expected,note", MM_CASES, ids=[c[2] for c in MM_CASES])
def test_maintenance_margin_hand_worked(notional, expected, note):
    assert TIERED.maintenance_margin(notional) == expected


@pytest.mark.parametrize("notional,expected,note", IM_CASES, ids=[c[2] for c in IM_CASES])
def test_initial_margin_hand_worked(notional, expected, note):
    assert TIERED.initial_margin(notional) == expected


def test_maintenance_amounts_hand_worked():
    assert [TIERED.maintenance_amount(k) for k in range(4)] == [0, 50 * USDC, 3_050 * USDC, 33_050 * USDC]
    assert [TIERED.initial_amount(k) for k in range(4)] == [0, 100 * USDC, 6_100 * USDC, 66_100 * USDC]
    assert all(isinstance(TIERED.maintenance_amount(k), Fraction) for k in range(len(TIERED.tiers)))


def test_binance_coin_m_worked_example():
    # Binance COIN-M docs: "level 5 amount = 50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC". A BTC-margined
    # bracket table (quote decimals 8) whose level-4 amount is 0.56 BTC:
    #   level 1: 0 BTC  0.4 %  cum 0
    #   level 2: 5      0.5 %  5 × 0.1 %                = 0.005
    #   level 3: 15     1 %    0.005 + 15 × 0.5 %       = 0.08
    #   level 4: 32     2.5 %  0.08 + 32 × 1.5 %        = 0.56
    #   level 5: 50     5 %    0.56 + 50 × 2.5 %        = 1.81
    s = MarginSchedule.from_rates(
        [("0", "0.008", "0.004"), ("5", "0.01", "0.005"), ("15", "0.02", "0.01"), ("32", "0.05", "0.025"), ("50", "0.1", "0.05")],
        quote_decimals=8,
    )
    btc = 10**8
    assert s.maintenance_amount(3) == Fraction(56 * btc, 100)
    assert s.maintenance_amount(4) == 181 * btc // 100  # 1.81 BTC
    # a 60 BTC position: 60 × 5 % − 1.81 = 1.19 BTC; at the level-5 floor both formulas give 50 × 2.5 % − 0.56 = 0.69
    assert s.maintenance_margin(60 * btc) == 119 * btc // 100
    assert s.maintenance_margin(50 * btc) == 69 * btc // 100 == s.maintenance_margin(50 * btc - 1)


TIER_INDEX_CASES = [(0, 0), (50_000 * USDC - 1, 0), (50_000 * USDC, 1), (599_999 * USDC, 1), (600_000 * USDC, 2), (MAX_NOTIONAL, 8)]


@pytest.mark.parametrize("notional,tier", TIER_INDEX_CASES)
def test_tier_index(notional, tier):
    assert TIERED.tier_index(notional) == tier


# ------------------------------------------------------------------------------------ continuity, monotonicity
def _scaled(s: MarginSchedule, n: int, k: int, initial: bool = False) -> int:
    t = s.tiers[k]
    rate = t.initial_rate_ppm if initial else t.maintenance_rate_ppm
    return n * rate - (s.im_cum_scaled if initial else s.mm_cum_scaled)[k]


def _check_continuity(s: MarginSchedule) -> None:
    for k in range(1, len(s.tiers)):
        f = s.tiers[k].notional_floor
        for initial in (False, True):
            # both neighbouring formulas agree exactly at the floor ...
            assert _scaled(s, f, k, initial) == _scaled(s, f, k - 1, initial)
        # ... so the requirement moves by at most one unit over the last unit of notional
        assert 0 <= s.maintenance_margin(f) - s.maintenance_margin(f - 1) <= 1
        assert 0 <= s.initial_margin(f) - s.initial_margin(f - 1) <= 1


def test_continuity_at_every_boundary_of_the_btc_table():
    _check_continuity(TIERED)


@settings(max_examples=200, deadline=None)
@given(schedules(premium=False))
def test_continuity_at_every_boundary_random(s):
    _check_continuity(s)


@settings(max_examples=200, deadline=None)
@given(schedules(), st.integers(0, MAX_NOTIONAL), st.integers(0, MAX_NOTIONAL), st.floats(0, 1e6))
def test_monotone_in_notional_and_initial_above_maintenance(s, a, b, size):
    lo, hi = min(a, b), max(a, b)
    assert 0 <= s.maintenance_margin(lo, size) <= s.maintenance_margin(hi, size)
    assert s.initial_margin(lo, size) <= s.initial_margin(hi, size)
    assert s.maintenance_margin(hi, size) <= s.initial_margin(hi, size)
    assert s.initial_margin(hi, size) <= hi  # rates ≤ 100 %: never more than the notional


@settings(max_examples=200, deadline=None)
@given(schedules(premium=False), st.integers(0, MAX_NOTIONAL))
def test_requirement_is_the_envelope_of_all_tier_lines(s, n):
    # N·mmr_k − C_k of the holding tier is max_j (N·mmr_j − C_j): the form the liquidation price solves
    k = s.tier_index(n)
    assert _scaled(s, n, k) == max(_scaled(s, n, j) for j in range(len(s.tiers)))
    assert s.maintenance_margin(n) == -((-_scaled(s, n, k)) // PPM)


# ------------------------------------------------------------------------------------ size premium
PREMIUM = MarginSchedule.flat("0.1", "0.05", size_premium="0.0005")  # 500 ppm per √BTC

PREMIUM_CASES = [
    # (size in BTC, MM rate ppm, IM rate ppm, note)
    (0, 40_000, 80_000, "0.8 × 5 % / 0.8 × 10 %"),
    (100, 45_000, 85_000, "√100 × 500 = 5,000 ppm on top: still below the tier rates"),
    (10_000, 90_000, 130_000, "√10,000 × 500 = 50,000 ppm: 9 % / 13 %"),
    (2, 40_708, 80_708, "√2 × 500 = 707.1… → rounded up"),
    (Decimal("0.25"), 40_250, 80_250, "√0.25 × 500 = 250"),
    (10**12, PPM, PPM, "capped at 100 %"),
]


@pytest.mark.parametrize("size,mm_rate,im_rate,note", PREMIUM_CASES, ids=[c[3] for c in PREMIUM_CASES])
def test_size_premium_rate(size, mm_rate, im_rate, note):
    assert PREMIUM.size_premium_rate_ppm(size) == mm_rate
    assert PREMIUM.size_premium_rate_ppm(size, initial=True) == im_rate


def test_size_premium_requirement():
    n = 1_000_000 * USDC
    assert PREMIUM.maintenance_margin(n, 100) == 50_000 * USDC  # tier rate 5 % binds
    assert PREMIUM.maintenance_margin(n, 10_000) == 90_000 * USDC  # premium 9 % binds
    assert PREMIUM.initial_margin(n, 10_000) == 130_000 * USDC
    assert PREMIUM.maintenance_margin(7, 10_000) == 1  # 7 × 9 % = 0.63 → 1
    # off: the size is ignored
    assert MarginSchedule.flat("0.1", "0.05").maintenance_margin(n, 10**9) == 50_000 * USDC
    assert MarginSchedule.flat("0.1", "0.05").size_premium_rate_ppm(10**9) == 0


def test_size_premium_with_tiers_takes_the_larger():
    s = MarginSchedule.from_rates(BTC_TIERS, 6, size_premium="0.001")  # 1,000 ppm per √BTC
    n = 5_000_000 * USDC
    # tier: 66,950 USDC (1.339 %); premium at 100 BTC: 0.8 × 0.4 % + 1,000 × 10 ppm = 1.32 % → tier binds
    assert s.maintenance_margin(n, 100) == 66_950 * USDC
    # at 400 BTC: 0.32 % + 2 % = 2.32 % → 116,000 USDC
    assert s.maintenance_margin(n, 400) == 116_000 * USDC


# ------------------------------------------------------------------------------------ canonical form
def test_to_dict_round_trip_is_json_and_ints_only():
    s = MarginSchedule.from_rates(BTC_TIERS, 6, size_premium="0.0005")
    d = s.to_dict()
    assert d["tiers"][1] == [50_000 * USDC, 10_000, 5_000] and d["size_premium_ppm"] == 500
    assert json.loads(json.dumps(d)) == d
    back = MarginSchedule.from_dict(json.loads(json.dumps(d)))
    assert back == s and hash(back) == hash(s)
    assert back.mm_cum_scaled == s.mm_cum_scaled


def test_to_arrays():
    a = TIERED.to_arrays()
    assert a is TIERED.to_arrays()  # cached
    assert a.floors.dtype == np.int64 and a.floors.tolist()[:3] == [0, 50_000 * USDC, 600_000 * USDC]
    assert a.mm_ppm.tolist()[:3] == [4_000, 5_000, 10_000]
    assert [q * PPM + r for q, r in zip(a.mm_cum_q.tolist(), a.mm_cum_r.tolist(), strict=True)] == list(TIERED.mm_cum_scaled)
    assert [q * PPM + r for q, r in zip(a.im_cum_q.tolist(), a.im_cum_r.tolist(), strict=True)] == list(TIERED.im_cum_scaled)
    assert (a.mm_cum_r >= 0).all() and (a.mm_cum_r < PPM).all()
    with pytest.raises(ValueError):
        a.floors[0] = 1


def test_flat():
    s = MarginSchedule.flat("0.1", "0.05")
    assert s.tiers == (MarginTier(0, 100_000, 50_000),) and s.size_premium_ppm == 0
    assert s.maintenance_margin(5_000 * USDC) == 250 * USDC


# ------------------------------------------------------------------------------------ bad input
BAD_NOTIONALS = [(-1, "negative"), (MAX_NOTIONAL + 1, "overflowing"), (1.5, "float"), (True, "bool"), ("100", "string"), (None, "none")]


@pytest.mark.parametrize("notional,name", BAD_NOTIONALS, ids=[c[1] for c in BAD_NOTIONALS])
def test_bad_notional(notional, name):
    for f in (TIERED.maintenance_margin, TIERED.initial_margin, TIERED.tier_index):
        with pytest.raises(InvalidInput) as err:
            f(notional)
        assert err.value.field == "notional"


@pytest.mark.parametrize("size", [-1, float("nan"), float("inf"), Decimal("NaN"), "2", True])
def test_bad_size(size):
    with pytest.raises(InvalidInput) as err:
        PREMIUM.maintenance_margin(1000, size)
    assert err.value.field == "size_underlying"


BAD_SCHEDULES = [
    # (tiers, size_premium, field of the error)
    ([], 0, "margin.tiers"),
    ([("100", "0.1", "0.05")], 0, "margin.tiers[0].notional_floor"),
    ([("0", "0.1", "0.05"), ("0", "0.2", "0.1")], 0, "margin.tiers[1].notional_floor"),
    ([("0", "0.1", "0.05"), ("10", "0.2", "0.1"), ("5", "0.3", "0.2")], 0, "margin.tiers[2].notional_floor"),
    ([("0", "0.1", "0.05"), ("10", "0.05", "0.05")], 0, "margin.tiers[1].initial_rate"),
    ([("0", "0.1", "0.05"), ("10", "0.1", "0.04")], 0, "margin.tiers[1].maintenance_rate"),
    ([("0", "0.05", "0.1")], 0, "margin.tiers[0].maintenance_rate"),
    ([("0", "0.1", "0")], 0, "margin.tiers[0].maintenance_rate"),
    ([("0", "1.5", "0.05")], 0, "margin.tiers[0].initial_rate"),
    ([("0", "0.1", "-0.05")], 0, "margin.tiers[0].maintenance_rate"),
    ([("0", "0.1", "0.0000005")], 0, "margin.tiers[0].maintenance_rate"),
    ([("0", "NaN", "0.05")], 0, "margin.tiers[0].initial_rate"),
    ([("0", "ten", "0.05")], 0, "margin.tiers[0].initial_rate"),
    ([("0", "0.1", "0.05"), ("0.0000001", "0.2", "0.1")], 0, "margin.tiers[1].notional_floor"),
    ([("0", "0.1", "0.05"), ("1e30", "0.2", "0.1")], 0, "margin.tiers[1].notional_floor"),
    ([("0", "0.1")], 0, "margin.tiers[0]"),
    (["junk"], 0, "margin.tiers[0]"),
    ([("0", "0.1", "0.05")], "-0.001", "margin.size_premium"),
    ([("0", "0.1", "0.05")], "Infinity", "margin.size_premium"),
]


@pytest.mark.parametrize("tiers,premium,field", BAD_SCHEDULES, ids=[f"{i}:{c[2]}" for i, c in enumerate(BAD_SCHEDULES)])
def test_malformed_schedule(tiers, premium, field):
    with pytest.raises(InvalidInput) as err:
        MarginSchedule.from_rates(tiers, 6, size_premium=premium)
    assert err.value.field == field


def test_malformed_direct_construction():
    with pytest.raises(InvalidInput):
        MarginTier(0, 100_000, 0)
    with pytest.raises(InvalidInput):
        MarginTier(-1, 100_000, 50_000)
    with pytest.raises(InvalidInput):
        MarginTier(0, 100_000.0, 50_000)
    with pytest.raises(InvalidInput):
        MarginSchedule(())
    with pytest.raises(InvalidInput):
        MarginSchedule(((0, 1, 1),))
    with pytest.raises(InvalidInput):
        MarginSchedule((MarginTier(0, 100_000, 50_000),), -1)
    with pytest.raises(InvalidInput):
        MarginSchedule((MarginTier(0, 100_000, 50_000),) * 65)
    with pytest.raises(InvalidInput) as err:
        TIERED.maintenance_amount(9)
    assert err.value.field == "tier"


@pytest.mark.parametrize(
    "d",
    [None, [], {"tiers": []}, {"tiers": [[0, 1]]}, {"tiers": [[0, "100000", 50000]]}, {"tiers": [[0, 100000, 50000]], "x": 1}, {"tiers": [[0, 100000, 50000]], "size_premium_ppm": 1.5}],
)
def test_malformed_dict(d):
    with pytest.raises(InvalidInput):
        MarginSchedule.from_dict(d)
