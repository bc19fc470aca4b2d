"""The exact int64 kernels: equal, element for element, to the scalar schedule (hand-worked table and
a hypothesis property over random schedules, notionals up to MAX_NOTIONAL and size premiums)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine.presets import BTC_TIERS  # the Binance-like table the engine presets use
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.schedule import MarginSchedule, MarginTier
from ramparts.margin.vectorised import initial_margin_array, maintenance_margin_array

USDC = 10**6

TIERED = MarginSchedule.from_rates(BTC_TIERS, quote_decimals=6)


@st.composite
def schedules(draw) -> MarginSchedule:
    """A random valid schedule (floors up to MAX_NOTIONAL, rates up to 100 %, optional size premium)."""
    n = draw(st.integers(1, 8))
    floors = [0, *sorted(draw(st.sets(st.integers(1, MAX_NOTIONAL), min_size=n - 1, max_size=n - 1)))]
    mm = sorted(draw(st.lists(st.integers(1, PPM), min_size=n, max_size=n)))
    tiers, im_prev = [], 0
    for k in range(n):
        im = min(PPM, max(im_prev, mm[k] + draw(st.integers(0, PPM))))
        tiers.append(MarginTier(floors[k], im, mm[k]))
        im_prev = im
    spp = draw(st.sampled_from([0, 1, 500, 77_777, 10**6]))
    return MarginSchedule(tuple(tiers), spp)


# notionals, maintenance, initial (see tests/test_margin_schedule.py for the working)
TABLE = [
    (0, 0, 0),
    (1, 1, 1),
    (250_001, 1001, 2001),
    (50_000 * USDC, 200 * USDC, 400 * USDC),
    (100_000 * USDC, 450 * USDC, 900 * USDC),
    (1_000_000 * USDC, 6_950 * USDC, 13_900 * USDC),
    (5_000_000 * USDC, 66_950 * USDC, 133_900 * USDC),
    (MAX_NOTIONAL, TIERED.maintenance_margin(MAX_NOTIONAL), TIERED.initial_margin(MAX_NOTIONAL)),
]


def test_hand_worked_table():
    n = np.array([c[0] for c in TABLE], dtype=np.int64)
    mm = maintenance_margin_array(n, TIERED.to_arrays())
    im = initial_margin_array(n, TIERED.to_arrays())
    assert mm.dtype == np.int64 and im.dtype == np.int64
    assert mm.tolist() == [c[1] for c in TABLE]
    assert im.tolist() == [c[2] for c in TABLE]


def test_top_tier_amount_exceeds_int64_yet_is_exact():
    # a 100 % tier at a floor near MAX_NOTIONAL: C = floor × (1e6 − 1) ≈ 4e21 ≫ int64
    s = MarginSchedule((MarginTier(0, 2, 1), MarginTier(MAX_NOTIONAL - 7, PPM, PPM)))
    assert s.mm_cum_scaled[1] > 2**63
    n = np.array([MAX_NOTIONAL - 8, MAX_NOTIONAL - 7, MAX_NOTIONAL], dtype=np.int64)
    expect = [s.maintenance_margin(int(x)) for x in n]
    assert maintenance_margin_array(n, s.to_arrays()).tolist() == expect
    assert expect[2] - expect[1] == 7  # 100 % of each unit above the floor


def test_size_premium_table():
    s = MarginSchedule.flat("0.1", "0.05", size_premium="0.0005")
    n = np.full(4, 1_000_000 * USDC, dtype=np.int64)
    size = np.array([0.0, 100.0, 10_000.0, 2.0])
    assert maintenance_margin_array(n, s.to_arrays(), size).tolist() == [50_000 * USDC, 50_000 * USDC, 90_000 * USDC, 50_000 * USDC]
    assert initial_margin_array(n, s.to_arrays(), size).tolist() == [100_000 * USDC, 100_000 * USDC, 130_000 * USDC, 100_000 * USDC]
    # no size given: size 0, which never binds
    assert maintenance_margin_array(n, s.to_arrays()).tolist() == [50_000 * USDC] * 4


@settings(max_examples=150, deadline=None)
@given(
    schedules(),
    st.lists(st.integers(0, MAX_NOTIONAL), min_size=1, max_size=40),
    st.lists(st.floats(0, 1e12, allow_nan=False, allow_infinity=False), min_size=40, max_size=40),
)
def test_equals_scalar_exactly(s, random_notionals, sizes):
    floors = [t.notional_floor for t in s.tiers]
    edge = [0, 1, MAX_NOTIONAL, MAX_NOTIONAL - 1] + floors + [max(f - 1, 0) for f in floors] + [min(f + 1, MAX_NOTIONAL) for f in floors]
    notional = np.array(random_notionals + edge, dtype=np.int64)
    size = np.resize(np.array(sizes, dtype=np.float64), notional.shape)
    a = s.to_arrays()
    mm = maintenance_margin_array(notional, a, size)
    im = initial_margin_array(notional, a, size)
    assert mm.tolist() == [s.maintenance_margin(int(x), float(z)) for x, z in zip(notional, size, strict=True)]
    assert im.tolist() == [s.initial_margin(int(x), float(z)) for x, z in zip(notional, size, strict=True)]
    # without sizes: the tier requirement alone
    assert maintenance_margin_array(notional, a).tolist() == [s.maintenance_margin(int(x)) for x in notional]


def test_empty_and_shapes():
    a = TIERED.to_arrays()
    assert maintenance_margin_array(np.array([], dtype=np.int64), a).tolist() == []
    two_d = np.array([[1, 50_000 * USDC], [100_000 * USDC, 0]], dtype=np.int64)
    assert maintenance_margin_array(two_d, a).tolist() == [[1, 200 * USDC], [450 * USDC, 0]]


BAD = [
    (np.array([1.0, 2.0]), None, "notional"),
    (np.array([-1, 2], dtype=np.int64), None, "notional"),
    (np.array([MAX_NOTIONAL + 1], dtype=np.int64), None, "notional"),
    (np.array([1, 2], dtype=np.int64), np.array([1.0]), "size_underlying"),
    (np.array([1, 2], dtype=np.int64), np.array([1.0, np.nan]), "size_underlying"),
    (np.array([1, 2], dtype=np.int64), np.array([1.0, -2.0]), "size_underlying"),
    (np.array([1, 2], dtype=np.int64), np.array([1.0, np.inf]), "size_underlying"),
]


@pytest.mark.parametrize("notional,size,field", BAD, ids=[f"{i}:{c[2]}" for i, c in enumerate(BAD)])
def test_bad_input(notional, size, field):
    s = MarginSchedule.from_rates(BTC_TIERS, 6, size_premium="0.0005")
    for f in (maintenance_margin_array, initial_margin_array):
        with pytest.raises(InvalidInput) as err:
            f(notional, s.to_arrays(), size)
        assert err.value.field == field
