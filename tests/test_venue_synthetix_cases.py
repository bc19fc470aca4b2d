"""Synthetix v3 perps-market funding, ported from its integration tests as scenario tables
(ramparts.venues.synthetix).

The upstream tests are Hardhat integration tests (a deployed market, keepers, Pyth mocks); what is ported
is the arithmetic they assert: the market is replayed with :class:`PerpsMarket` at the tests' times,
sizes and prices, and the asserted values are compared with the tests' own expected values and tolerances.
Every row names the source file, the test and the commit.

Repository: Synthetixio/synthetix-v3 at 23585f73c76d625b2a43aaf94dc440a8a1e7a8fa.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from ramparts.errors import InvalidInput
from ramparts.venues.synthetix import (
    UNIT,
    PerpsMarket,
    Position,
    current_funding_velocity,
    div_decimal,
    fill_price,
    mul_decimal,
    proportional_elapsed,
)

COMMIT = "23585f73c76d625b2a43aaf94dc440a8a1e7a8fa"
TEST_DIR = "markets/perps-market/test/integration"
DAY = 86_400


def d18(x) -> int:
    """A decimal literal as a D18 integer (exact)."""
    v = Fraction(str(x)) * UNIT
    assert v.denominator == 1
    return int(v)


# --- Position/Funding.test.ts: 'funding accrued is correct' after each skew move --------------------------------------
# The test's table (its comment block): days elapsed, trader2's order, then the market's funding-rate velocity
# and funding rate after the order, and trader1's (20 ETH long at $2000) accrued funding — asserted as the
# negative of the table's value within bn(0.1).

FUNDING_ROWS = [
    # (days elapsed, order size, FR velocity after, FR (recorded at the order), accrued funding of the table)
    ("1", -60, "-0.012", "0.006", "120"),
    ("1", 15, "-0.0075", "-0.006", "120"),
    ("0.25", 37, "0.0036", "-0.007875", "50.625"),
    ("2", -17, "-0.0015", "-0.000675", "-291.375"),
    ("0.2", 155, "0.045", "-0.000975", "-297.975"),
    ("0.1", -150, "0", "0.003525", "-292.875"),
    ("0.1", -15, "-0.0045", "0.003525", "-278.775"),
    ("0.03", -4, "-0.0057", "0.00339", "-274.626"),
    ("3", 19, "0", "-0.01371", "-893.826"),
]


def _funding_replay():
    market = PerpsMarket(skew_scale=d18(10_000), max_funding_velocity=d18(3))
    price = d18(2000)
    market, trader1, _ = market.settle_order(Position(), d18(20), price, 0)
    trader2, t, out = Position(), Fraction(0), []
    for days, order, *_ in FUNDING_ROWS:
        t += Fraction(days)
        now = int(t * DAY)
        market, trader2, _ = market.settle_order(trader2, d18(order), price, now)
        out.append((market, market.position_pnl(trader1, now, price)[2]))
    return out


@pytest.mark.parametrize("i", range(len(FUNDING_ROWS)),
                         ids=[f"{TEST_DIR}/Position/Funding.test.ts::funding accrued is correct[after {r[0]} days, order {r[1]}]@{COMMIT[:8]}"
                              for r in FUNDING_ROWS])
def test_position_funding(i):
    market, accrued = _funding_replay()[i]
    _, _, velocity, rate, table_accrued = FUNDING_ROWS[i]
    assert abs(accrued - (-d18(table_accrued))) <= d18("0.1")  # the test's assertBn.near tolerance
    assert accrued == -d18(table_accrued)                       # and in fact exactly
    assert market.current_funding_velocity() == d18(velocity)
    assert market.last_funding_rate == d18(rate)


def test_position_funding_reduce_formula():
    """Funding.test.ts computes its expectation with a reduce (average rate × size × price × days); the same
    recurrence in exact rationals agrees with the replay to the wei."""
    prev_v, prev_r, prev_acc, skew = Fraction(6, 1000), Fraction(0), Fraction(0), Fraction(20)
    for (days, order, *_), (_, accrued) in zip(FUNDING_ROWS, _funding_replay(), strict=True):
        d = Fraction(days)
        skew += order
        rate = prev_v * d + prev_r
        expected = (prev_r + rate) / 2 * 20 * 2000 * d + prev_acc
        assert accrued == -expected * UNIT
        prev_v, prev_r, prev_acc = skew / 10_000 * 3, rate, expected


# --- KeeperRewards/KeeperRewards.Settlement.test.ts --------------------------------------------------------------------

def test_keeper_settlement_events_and_position():
    """'emits settle event' (fill price), 'emits market updated event' (rate 0, velocity of skew 1) and
    'check position is live' (pnl −0.005, funding 0, size 1): ETH market, skew scale 100 000, max velocity 10, $1000."""
    market = PerpsMarket(skew_scale=d18(100_000), max_funding_velocity=d18(10))
    market, pos, fp = market.settle_order(Position(), d18(1), d18(1000), 1_000)
    assert fp == fill_price(0, d18(100_000), d18(1), d18(1000)) == d18("1000.005")
    assert (market.skew, market.size) == (d18(1), d18(1))
    assert market.last_funding_rate == 0
    assert market.current_funding_velocity() == current_funding_velocity(d18(1), d18(100_000), d18(10)) == d18("0.0001")
    total, _, funding = market.position_pnl(pos, 1_000, d18(1000))
    assert (total, funding, pos.size) == (d18("-0.005"), 0, d18(1))


# --- OrdersFunding.poly.test.ts ----------------------------------------------------------------------------------------

def test_orders_funding_settled_event():
    """'has emitted settled event': trader2 re-opens 5 ETH at $2025 with the skew back at 20: the fill price is
    calculateFillPrice(20, 10 000, 5, 2025) and the event's pnl and accrued funding are 0."""
    market = PerpsMarket(skew_scale=d18(10_000), max_funding_velocity=d18(3))
    market, trader1, _ = market.settle_order(Position(), d18(20), d18(2000), 0)
    market, trader2, _ = market.settle_order(Position(), d18(-10), d18(2100), DAY)
    market, trader2, _ = market.settle_order(trader2, d18(10), d18(2050), int(DAY * Fraction("1.2")))
    assert trader2.size == 0
    now = int(DAY * Fraction("1.5"))
    pnl, _, accrued = market.recompute_funding(now, d18(2025)).position_pnl(trader2, now, d18(2025))
    market, trader2, fp = market.settle_order(trader2, d18(5), d18(2025), now)
    assert fp == d18("2029.55625")
    assert (pnl, accrued, trader2.size) == (0, 0, d18(5))


# --- Market/MarketDebt.withFunding.test.ts: 'reports correct debt' ------------------------------------------------------
# The test's assertion, with the collateral and account debt that appear on both sides removed, is
# marketDebt(price) = Σ positions (price pnl + accrued funding). Steps before the liquidations; the settlement
# times of the back-to-back orders are not given by the test (a few seconds apart: 5 s assumed here).

DEBT_STEPS = [
    # (step of the test, actions [(trader, size)], price, seconds advanced before, tolerance of the assertion)
    ("open positions", [(1, 150), (2, -50), (3, 200)], 1000, 0, "0.0001"),
    ("a day goes by", [], 1000, DAY, "0.0001"),
    ("price change and reduce position 1", [(1, -50)], 998, 0, "0.0001"),
    ("price change", [], 1050, 0, "0.00001"),
    ("reduce trader 3 position", [(3, -50)], 1050, 5, "0"),
    ("short more eth trader 2 position", [(2, -50)], 1050, 5, "0"),
]


@pytest.mark.parametrize("upto", range(len(DEBT_STEPS)),
                         ids=[f"{TEST_DIR}/Market/MarketDebt.withFunding.test.ts::{s[0]}: reports correct debt@{COMMIT[:8]}" for s in DEBT_STEPS])
def test_market_debt_with_funding(upto):
    market = PerpsMarket(skew_scale=d18(25_000), max_funding_velocity=d18(3))
    positions = {1: Position(), 2: Position(), 3: Position()}
    now = 0
    for _, actions, price, advance, _ in DEBT_STEPS[: upto + 1]:
        now += advance
        for trader, size in actions:
            market, positions[trader], _ = market.settle_order(positions[trader], d18(size), d18(price), now)
            now += 5
    price, tolerance = d18(DEBT_STEPS[upto][2]), d18(DEBT_STEPS[upto][4])
    pnl = sum(market.position_pnl(p, now, price)[0] for p in positions.values())
    assert abs(market.market_debt(now, price) - pnl) <= tolerance


# --- ramparts' own checks of the module (not ported) --------------------------------------------------------------------

def test_velocity_clamp_and_reference_example():
    # skew 300 / scale 10 000 at max velocity 0.025 (the numbers of PerpsMarket.sol's worked comment) gives
    # 0.00075; the comment then uses a previous velocity of 0.0025 over 29 000 s: 0.0025 × 29 000 / 86 400
    assert current_funding_velocity(d18(300), d18(10_000), d18("0.025")) == d18("0.00075")
    assert current_funding_velocity(d18(50_000), d18(10_000), d18(3)) == d18(3)
    assert current_funding_velocity(d18(-50_000), d18(10_000), d18(3)) == -d18(3)
    assert current_funding_velocity(d18(5), 0, d18(3)) == 0
    assert mul_decimal(d18("0.0025"), proportional_elapsed(29_000, 0)) == d18("0.0025") * 29_000 // DAY
    assert mul_decimal(-3, 1) == 0 and div_decimal(-1, 3 * UNIT) == 0  # truncation toward zero, as Solidity


def test_bad_input():
    with pytest.raises(InvalidInput):
        proportional_elapsed(5, 10)
    with pytest.raises(InvalidInput):
        fill_price(0, d18(1), d18(1), 1.5)
    with pytest.raises(InvalidInput):
        PerpsMarket(skew_scale=-1, max_funding_velocity=0)
    with pytest.raises(InvalidInput):
        PerpsMarket(d18(1), d18(1)).settle_order(Position(), 0, d18(1), 0)
