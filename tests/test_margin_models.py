"""The tiered margin model's scalar fast path equals the schedule's validated requirements, to the unit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine.presets import BTC_TIERS
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL
from ramparts.margin.models import TieredMarginModel
from ramparts.margin.schedule import MarginSchedule

SCHED = MarginSchedule.from_rates([tuple(t) for t in BTC_TIERS], 6)
INSTR = SimpleNamespace(schedule=SCHED, lot_underlying=0.001, index=0)
FLOORS = [int(t) for t in SCHED._floors]


@settings(max_examples=2_000, deadline=None)
@given(st.integers(-(10**9), 10**9), st.integers(1, 10**9))
def test_fast_path_equals_the_schedule(lots, mark):
    n = abs(lots) * mark
    if n > MAX_NOTIONAL:
        return
    expected = (SCHED.initial_margin(n), SCHED.maintenance_margin(n)) if lots else (0, 0)
    assert TieredMarginModel().position_requirements(INSTR, lots, mark) == expected


@pytest.mark.parametrize("floor", FLOORS)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_fast_path_at_every_tier_floor(floor, offset):
    n = max(floor + offset, 1)
    assert TieredMarginModel().position_requirements(INSTR, 1, n) == (SCHED.initial_margin(n), SCHED.maintenance_margin(n))


def test_an_overflowing_notional_is_still_refused():
    with pytest.raises(InvalidInput, match="notional"):
        TieredMarginModel().position_requirements(INSTR, 2, MAX_NOTIONAL)
