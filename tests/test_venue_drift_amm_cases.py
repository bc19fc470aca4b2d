"""Drift v2's own unit tests of the perp-market AMM, ported as data and run against :mod:`ramparts.venues.drift_amm`.

Source: drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``. Every row names its Rust test
file and #[test] function (and, where one function asserts several things, which assertion). Inputs and expected
values are upstream's, in Drift's units (PRICE 1e6, AMM reserves 1e9, PEG 1e6, spreads 1e6, QUOTE 1e6, funding
rate 1e9); every assertion is exact equality, as upstream's ``assert_eq!`` / ``assert!``. Fields an upstream test
sets that the function under test never reads (an order's status and size, ``State::min_perp_auction_duration``,
the AMM's ``mm_oracle_price`` / ``mm_oracle_slot`` when the MM oracle data is passed in, ``max_spread``,
``concentration_coef``) are left out; assertions that only restate an input (``oracle_price == 22050000000``, a
default field being 0) are carried by the row's input. Not ported: nothing (``NOT_PORTED`` is empty).

Counts (#[test] functions ported / total at the commit):

* ``programs/drift/src/state/perp_market/tests.rs``: 16/16. Three (``get_margin_ratio::test``,
  ``get_margin_ratio::new_hlm_imf_size_loop``, ``get_margin_ratio::new_hlm_imf_size``) live in
  ``tests/test_venue_drift_cases.py`` (they test :func:`ramparts.venues.drift.perp_margin_ratio`); the other 13
  (``amm::*`` 2, ``get_trigger_price::*`` 3, ``amm_can_fill_order_tests::*`` 8) are here.
* ``programs/drift/src/math/amm/tests.rs``: 11/11 (the AMM maths the perp-market tests call live in
  ``math/amm.rs``; its own tests: drawdown guard, net user pnl, expiry price, mark / oracle TWAPs, std, confidence).
* ``programs/drift/src/math/margin/tests.rs::calculate_user_equity_value_tests``: its reserve-price assertion (the
  rest of that test is in ``tests/test_venue_drift_cases.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from ramparts.venues import drift_amm as amm_mod
from ramparts.venues.drift import PRICE_PRECISION, QUOTE_PRECISION, ContractTier
from ramparts.venues.drift_amm import (
    AMM,
    AMM_RESERVE_PRECISION,
    BID_ASK_SPREAD_PRECISION,
    PEG_PRECISION,
    AmmPerpMarket,
    FillMode,
    OraclePriceData,
    OracleValidity,
    Order,
    PerpOperation,
    PositionDirection,
    StaleForAmm,
)

COMMIT = "0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62"
S_PERP = "programs/drift/src/state/perp_market/tests.rs"
M_AMM = "programs/drift/src/math/amm/tests.rs"
M_MARGIN = "programs/drift/src/math/margin/tests.rs"
PRICE_PRECISION_I64 = PRICE_PRECISION
U64_MAX = 2**64 - 1


def _src(path: str, func: str, case: str = "") -> str:
    return f"protocol-v2@{COMMIT[:7]}:{path}::{func}" + (f"[{case}]" if case else "")


def _ids(path: str, rows) -> list[str]:
    return [_src(path, r[0], r[1]) for r in rows]


# ============================================================================ state/perp_market/tests.rs::amm
_AMM_100 = AMM(base_asset_reserve=100 * AMM_RESERVE_PRECISION, quote_asset_reserve=100 * AMM_RESERVE_PRECISION,
               short_spread=BID_ASK_SPREAD_PRECISION // 10, long_spread=BID_ASK_SPREAD_PRECISION // 10,
               sqrt_k=100 * AMM_RESERVE_PRECISION, peg_multiplier=100 * PEG_PRECISION,
               last_oracle_price=100 * PRICE_PRECISION_I64)


def test_last_ask_premium():
    """state/perp_market/tests.rs::amm::last_ask_premium"""
    assert amm_mod.last_ask_premium(_AMM_100) == 10000000


def test_last_bid_discount():
    """state/perp_market/tests.rs::amm::last_bid_discount"""
    assert amm_mod.last_bid_discount(_AMM_100) == 10000000


# ============================================================================ state/perp_market/tests.rs::get_trigger_price
_TRIGGER_MARKET = AmmPerpMarket(amm=AMM(last_funding_rate=1410520875, last_funding_rate_ts=1752080410,
                                        last_funding_oracle_twap=109198342833, funding_period=3600,
                                        last_oracle_price_twap_5min=109143803911))
# upstream also sets last_mark_price_twap=109146153042, which neither function reads (get_trigger_price reads
# last_mark_price_twap_5min, left at its default 0)
_TS = 1752080410
# (test fn, case, now, expected basis)
FUNDING_BASIS = [
    ("get_trigger_price::test_get_last_funding_basis", "now = ts", _TS, 12006794),
    ("get_trigger_price::test_get_last_funding_basis", "now = ts + 1800", _TS + 1800, 6003397),
    ("get_trigger_price::test_get_last_funding_basis", "now = ts + 3600", _TS + 3600, 0),
    ("get_trigger_price::test_get_last_funding_basis", "now = ts + 5400", _TS + 5400, 0),
]


@pytest.mark.parametrize("fn, case, now, expected", FUNDING_BASIS, ids=_ids(S_PERP, FUNDING_BASIS))
def test_get_last_funding_basis(fn, case, now, expected):
    assert amm_mod.last_funding_basis(_TRIGGER_MARKET, 109144736794, now) == expected


def test_get_trigger_price():
    """state/perp_market/tests.rs::get_trigger_price::test_get_trigger_price"""
    assert amm_mod.trigger_price(_TRIGGER_MARKET, 109144736794, 1752082210, True) == 109144736794


_A = AmmPerpMarket(contract_tier=ContractTier.A)
_C = AmmPerpMarket(contract_tier=ContractTier.C)
_O = 100_000_000_000
_D_A = _O // 500
_D_C = _O // 100
_SMALL, _LARGE = 1_000_000, 1_000_000_000_000_000
# (test fn, case, market, oracle, median, expected)
CLAMP = [
    ("get_trigger_price::test_clamp_trigger_price", "A below", _A, _O, _O - _D_A - 1_000_000, _O - _D_A),
    ("get_trigger_price::test_clamp_trigger_price", "A above", _A, _O, _O + _D_A + 1_000_000, _O + _D_A),
    ("get_trigger_price::test_clamp_trigger_price", "A within", _A, _O, _O + _D_A // 2, _O + _D_A // 2),
    ("get_trigger_price::test_clamp_trigger_price", "A at lower", _A, _O, _O - _D_A, _O - _D_A),
    ("get_trigger_price::test_clamp_trigger_price", "A at upper", _A, _O, _O + _D_A, _O + _D_A),
    ("get_trigger_price::test_clamp_trigger_price", "C below", _C, _O, _O - _D_C - 1_000_000, _O - _D_C),
    ("get_trigger_price::test_clamp_trigger_price", "C above", _C, _O, _O + _D_C + 1_000_000, _O + _D_C),
    ("get_trigger_price::test_clamp_trigger_price", "C within", _C, _O, _O + _D_C // 2, _O + _D_C // 2),
    ("get_trigger_price::test_clamp_trigger_price", "A small oracle", _A, _SMALL, _SMALL - _SMALL // 500 - 100,
     _SMALL - _SMALL // 500),
    ("get_trigger_price::test_clamp_trigger_price", "A large oracle", _A, _LARGE, _LARGE + _LARGE // 500 + 1_000_000_000,
     _LARGE + _LARGE // 500),
]


@pytest.mark.parametrize("fn, case, market, oracle, median, expected", CLAMP, ids=_ids(S_PERP, CLAMP))
def test_clamp_trigger_price(fn, case, market, oracle, median, expected):
    assert amm_mod.clamp_trigger_price(market, oracle, median) == expected


# ============================================================================ state/perp_market/tests.rs::amm_can_fill_order_tests
_BASE_AMM = AMM(order_step_size=1, amm_jit_intensity=100)
_BASE_MARKET = AmmPerpMarket(amm=_BASE_AMM)
_EXCHANGE_STATUS = 0  # base_state(): State::default() but for min_perp_auction_duration (not read)


def _mm_ok():
    """amm_can_fill_order_tests::mm_oracle_ok_and_as_recent"""
    exchange = OraclePriceData(price=PRICE_PRECISION_I64, confidence=1, delay=5, has_sufficient_number_of_data_points=True,
                               sequence_id=100)
    return amm_mod.mm_oracle_price_data(PRICE_PRECISION_I64, 5, 100, OracleValidity.VALID, exchange)


def _mm_too_volatile():
    """mm_oracle_too_volatile_blocks: the MM oracle 1/33 above the exchange oracle"""
    exchange = OraclePriceData(price=PRICE_PRECISION_I64, confidence=1, delay=1, has_sufficient_number_of_data_points=True,
                               sequence_id=100)
    return amm_mod.mm_oracle_price_data(PRICE_PRECISION_I64 + PRICE_PRECISION_I64 // 33, 1, 99, OracleValidity.VALID, exchange)


def _mm_delay_0():
    """paused_blocks_low_risk_path's MM oracle data (delay 0)"""
    exchange = OraclePriceData(price=PRICE_PRECISION_I64, confidence=1, delay=0, has_sufficient_number_of_data_points=True,
                               sequence_id=100)
    return amm_mod.mm_oracle_price_data(PRICE_PRECISION_I64, 0, 100, OracleValidity.VALID, exchange)


_LOW_INVENTORY_AMM = AMM(order_step_size=1, amm_jit_intensity=100, base_asset_amount_with_amm=-2,
                         base_asset_reserve=1_000_000, quote_asset_reserve=1_000_000, sqrt_k=1_000_000,
                         max_base_asset_reserve=2_000_000, min_base_asset_reserve=0)


@dataclass(frozen=True)
class _TakerStats:
    """The user may skip the auction as ``User::can_skip_auction_duration(&UserStats{paused_operations}, reduce_only)``
    says (the two ``paused_blocks_*`` tests)."""

    paused_operations: int
    reduce_only_order: bool


_PAUSED_USER_CAN_SKIP = _TakerStats(paused_operations=4, reduce_only_order=False)
# (test fn, case, market, order slot, clock slot, safe oracle validity, user can skip, mm oracle, expected)
CAN_FILL = [
    ("amm_can_fill_order_tests::paused_operation_returns_false", "",
     AmmPerpMarket(amm=_BASE_AMM, paused_operations=PerpOperation.AMM_FILL), 0, 10, OracleValidity.VALID, True, _mm_ok,
     False),
    ("amm_can_fill_order_tests::mm_oracle_too_volatile_blocks", "", _BASE_MARKET, 0, 10, OracleValidity.VALID, True,
     _mm_too_volatile, False),
    ("amm_can_fill_order_tests::low_risk_path_succeeds_when_auction_elapsed", "", _BASE_MARKET, 0, 15,
     OracleValidity.VALID, True, _mm_ok, True),
    ("amm_can_fill_order_tests::low_risk_path_succeeds_when_auction_elapsed_with_stale_for_immediate", "",
     _BASE_MARKET, 0, 15, StaleForAmm(immediate=True, low_risk=False), True, _mm_ok, True),
    ("amm_can_fill_order_tests::high_risk_immediate_requires_user_and_market_skip", "can1: user cannot skip",
     _BASE_MARKET, 20, 21, OracleValidity.VALID, False, _mm_ok, False),
    ("amm_can_fill_order_tests::high_risk_immediate_requires_user_and_market_skip", "can2: low inventory, user skips",
     AmmPerpMarket(amm=_LOW_INVENTORY_AMM), 20, 21, OracleValidity.VALID, True, _mm_ok, True),
    ("amm_can_fill_order_tests::invalid_safe_oracle_validity_blocks_low_risk", "", _BASE_MARKET, 0, 20,
     StaleForAmm(immediate=True, low_risk=True), True, _mm_ok, False),
    ("amm_can_fill_order_tests::paused_blocks_low_risk_path", "", _BASE_MARKET, 15, 15, OracleValidity.VALID,
     _PAUSED_USER_CAN_SKIP, _mm_delay_0, False),
    ("amm_can_fill_order_tests::paused_blocks_high_risk_path", "", _BASE_MARKET, 14, 15, OracleValidity.VALID,
     _PAUSED_USER_CAN_SKIP, _mm_ok, False),
]


@pytest.mark.parametrize("fn, case, market, order_slot, clock_slot, validity, user_skip, mm, expected", CAN_FILL,
                         ids=_ids(S_PERP, CAN_FILL))
def test_amm_can_fill_order(fn, case, market, order_slot, clock_slot, validity, user_skip, mm, expected):
    if isinstance(user_skip, _TakerStats):
        user_skip = amm_mod.user_can_skip_auction_duration(user_skip.paused_operations, user_skip.reduce_only_order)
    order = Order(slot=order_slot, direction=PositionDirection.LONG)
    can = amm_mod.amm_can_fill_order(market, order, clock_slot, FillMode.FILL, _EXCHANGE_STATUS, validity, user_skip, mm())
    assert can is expected


# ============================================================================ math/amm/tests.rs
# PerpMarket::default_btc_test(): tier HighlySpeculative (PerpMarket::default); AMM::default_btc_test()'s fields that
# these functions read
_BTC_AMM = dict(base_asset_reserve=65 * AMM_RESERVE_PRECISION, quote_asset_reserve=63015384615,
                sqrt_k=64 * AMM_RESERVE_PRECISION, peg_multiplier=19_400_000_000,
                max_base_asset_reserve=90 * AMM_RESERVE_PRECISION, min_base_asset_reserve=45 * AMM_RESERVE_PRECISION,
                base_asset_amount_with_amm=-AMM_RESERVE_PRECISION, quote_asset_amount=19_000_000_000,
                last_oracle_price=19_400 * PRICE_PRECISION_I64, last_oracle_price_twap_5min=19_400 * PRICE_PRECISION_I64,
                funding_period=3600)
# (test fn, case, net_revenue_since_last_funding, total_fee_minus_distributions, expected !has_too_much_drawdown)
DRAWDOWN = [
    ("calculate_amm_available_guards", "defaults", 0, 0, True),
    ("calculate_amm_available_guards", "-100k / 100k", -100_000_000_000, 100_000_000_000, False),
    ("calculate_amm_available_guards", "-10k / 100k", -10_000_000_000, 100_000_000_000, False),
    ("calculate_amm_available_guards", "-5k / 100k", -5_000_000_000, 100_000_000_000, False),
    ("calculate_amm_available_guards", "-1k / 100k", -1_000_000_000, 100_000_000_000, True),
    ("calculate_amm_available_guards", "-1k / 1", -1_000_000_000, 1_000_000, True),
    ("calculate_amm_available_guards", "-6k / 1", -6_000_000_000, 1_000_000, False),
    ("calculate_amm_available_guards", "-0.005 / negative fees", -5_000, -9279797219, True),
    ("calculate_amm_available_guards", "-88k / negative fees", -88_000_000_000, -9279797219, False),
]


@pytest.mark.parametrize("fn, case, revenue, fees, expected", DRAWDOWN, ids=_ids(M_AMM, DRAWDOWN))
def test_calculate_amm_available_guards(fn, case, revenue, fees, expected):
    market = AmmPerpMarket(amm=AMM(**{**_BTC_AMM, "net_revenue_since_last_funding": revenue,
                                      "total_fee_minus_distributions": fees}))
    assert (not amm_mod.has_too_much_drawdown(market)) is expected


# calculate_net_user_pnl_test / calculate_expiry_price_test's first AMM: AMM::default_test() (sqrt_k 100, step 1,
# max base reserve u64::MAX) with reserves 2 / 2 and peg 1; its historical oracle data is replaced (last price 0)
_TEST_AMM = AMM(base_asset_reserve=2 * AMM_RESERVE_PRECISION, quote_asset_reserve=2 * AMM_RESERVE_PRECISION,
                peg_multiplier=PEG_PRECISION, funding_period=3600, sqrt_k=100 * AMM_RESERVE_PRECISION, order_step_size=1,
                max_base_asset_reserve=U64_MAX)
# (test fn, case, amm, oracle price, expected net user pnl)
NET_USER_PNL = [
    ("calculate_net_user_pnl_test", "default_test amm, reserves 2/2, oracle $34", _TEST_AMM, 34 * PRICE_PRECISION_I64, 0),
    ("calculate_net_user_pnl_test", "btc at its last oracle price", AMM(**_BTC_AMM), 19_400 * PRICE_PRECISION_I64,
     -400000000),
    ("calculate_net_user_pnl_test", "btc at $17501", AMM(**_BTC_AMM), 17501 * PRICE_PRECISION_I64, 1499000000),
]


@pytest.mark.parametrize("fn, case, amm, price, expected", NET_USER_PNL, ids=_ids(M_AMM, NET_USER_PNL))
def test_calculate_net_user_pnl(fn, case, amm, price, expected):
    assert amm_mod.net_user_pnl(amm, price) == expected


# The calculate_expiry_price tests' imbalanced market (AMM::default() otherwise, so order_step_size 0); the AMM's
# quote_asset_amount is twice the test's one position's quote
def _expiry_amm(base_with_amm: int, position_quote: int) -> AMM:
    return AMM(base_asset_reserve=512295081967, quote_asset_reserve=488 * AMM_RESERVE_PRECISION,
               sqrt_k=500 * AMM_RESERVE_PRECISION, peg_multiplier=22_100_000_000, base_asset_amount_with_amm=base_with_amm,
               quote_asset_amount=position_quote * 2)


_LONG_LOSS = _expiry_amm(12295081967, -193688524588)
_LONG = _expiry_amm(12295081967, -103688524588)
_SHORT = _expiry_amm(-12295081967, 153688524588)
_P22050 = 22050 * PRICE_PRECISION
# (test fn, case, amm, target (oracle) price, total excess balance, expected expiry price)
EXPIRY = [
    ("calculate_expiry_price_long_imbalance_with_loss_test", "excess 0", _LONG_LOSS, _P22050, 0, 22049999999),
    ("calculate_expiry_price_long_imbalance_with_loss_test", "excess $111", _LONG_LOSS, _P22050, 111_111_110, 22049999999),
    ("calculate_expiry_price_long_imbalance_with_loss_test", "excess $1,111", _LONG_LOSS, _P22050, 1_111_111_110,
     22049999999),
    ("calculate_expiry_price_long_imbalance_with_loss_test", "excess $111M", _LONG_LOSS, _P22050,
     111_111_110 * QUOTE_PRECISION, 22049999999),
    ("calculate_expiry_price_long_imbalance_test", "excess 0", _LONG, _P22050, 0, 16866666665),
    ("calculate_expiry_price_long_imbalance_test", "excess $111", _LONG, _P22050, 111_111_110, 16875703702),
    ("calculate_expiry_price_long_imbalance_test", "excess $1,111", _LONG, _P22050, 1_111_111_110, 16957037035),
    ("calculate_expiry_price_long_imbalance_test", "excess $111M", _LONG, _P22050, 111_111_110 * QUOTE_PRECISION,
     22049999999),
    ("calculate_expiry_price_test", "balanced, excess 0", _TEST_AMM, 34 * PRICE_PRECISION_I64, 0, 34 * PRICE_PRECISION_I64),
    ("calculate_expiry_price_test", "balanced, excess $111", _TEST_AMM, 34 * PRICE_PRECISION_I64, 111111110,
     34 * PRICE_PRECISION_I64),
    ("calculate_expiry_price_test", "short, excess 0", _SHORT, _P22050, 0, 25000000001),
    ("calculate_expiry_price_test", "short, excess $111", _SHORT, _P22050, 111_111_110, 24990962964),
    ("calculate_expiry_price_test", "short, excess $1,111", _SHORT, _P22050, 1_111_111_110, 24909629630),
    ("calculate_expiry_price_test", "short, excess $111M", _SHORT, _P22050, 111111110 * QUOTE_PRECISION, 22050000001),
]


@pytest.mark.parametrize("fn, case, amm, target, excess, expected", EXPIRY, ids=_ids(M_AMM, EXPIRY))
def test_calculate_expiry_price(fn, case, amm, target, excess, expected):
    assert amm_mod.expiry_price(amm, target, excess) == expected


# (test fn, amm, expected terminal price, expected reserve price): the same tests' price assertions
EXPIRY_PRICES = [
    ("calculate_expiry_price_long_imbalance_with_loss_test", _LONG_LOSS, 20076684570, 21051929600),
    ("calculate_expiry_price_long_imbalance_test", _LONG, 20076684570, 21051929600),
    ("calculate_expiry_price_test", _SHORT, 22100000000, 21051929600),
]


@pytest.mark.parametrize("fn, amm, terminal, reserve", EXPIRY_PRICES, ids=[_src(M_AMM, r[0]) for r in EXPIRY_PRICES])
def test_calculate_expiry_price_terminal_and_reserve_price(fn, amm, terminal, reserve):
    assert amm_mod.terminal_price_and_reserves(amm)[0] == terminal
    assert amm_mod.reserve_price(amm) == reserve


# ---------------------------------------------------------------------------- math/amm/tests.rs: TWAP updates
# These tests drive the AMM's TWAP updates through time, editing AMM fields between calls as upstream does; the
# driver loops are upstream's, the functions return the updated (immutable) AMM.
PRICE_PRECISION_U64 = PRICE_PRECISION
LONG, SHORT = PositionDirection.LONG, PositionDirection.SHORT


def _mm(price: int, confidence: int, delay: int, mm_delay: int):
    """``MMOraclePriceData::new(price, mm_delay, 1, OracleValidity::default(), OraclePriceData{price, confidence,
    delay, has_sufficient_number_of_data_points: true, sequence_id: None})`` as these tests build it."""
    exchange = OraclePriceData(price=price, confidence=confidence, delay=delay, has_sufficient_number_of_data_points=True,
                               sequence_id=None)
    return amm_mod.mm_oracle_price_data(price, mm_delay, 1, OracleValidity.VALID, exchange)


def test_calc_delayed_mark_twap_tests():
    """math/amm/tests.rs::calc_delayed_mark_twap_tests"""
    prev = 1656682258
    now = prev + 60
    px = 22850 * PRICE_PRECISION
    amm = AMM(base_asset_reserve=2 * AMM_RESERVE_PRECISION, quote_asset_reserve=2 * AMM_RESERVE_PRECISION,
              peg_multiplier=px, base_spread=655, mark_std=PRICE_PRECISION, last_bid_price_twap=21999 * PRICE_PRECISION,
              last_ask_price_twap=22001 * PRICE_PRECISION, last_mark_price_twap=22000 * PRICE_PRECISION,
              last_mark_price_twap_ts=prev - 3600, last_oracle_price=22850 * PRICE_PRECISION,
              last_oracle_price_twap=22900 * PRICE_PRECISION, last_oracle_price_twap_ts=prev, funding_period=3600)
    amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, px, LONG, None)
    assert amm.last_bid_price_twap == 22850013657
    assert amm.last_mark_price_twap == 22850013657
    assert amm.last_ask_price_twap == 22850013657
    assert amm.last_mark_price_twap - amm.last_oracle_price_twap == -49986343


def test_calc_mark_std_tests():
    """math/amm/tests.rs::calc_mark_std_tests"""
    prev = 1656682258
    now = prev + 60
    amm = AMM(base_asset_reserve=2 * AMM_RESERVE_PRECISION, quote_asset_reserve=2 * AMM_RESERVE_PRECISION,
              peg_multiplier=PRICE_PRECISION, base_spread=65535, mark_std=PRICE_PRECISION,
              last_oracle_price=PRICE_PRECISION, last_oracle_price_twap=PRICE_PRECISION,
              last_oracle_price_twap_5min=PRICE_PRECISION, last_mark_price_twap_ts=prev)
    amm = amm_mod.update_amm_mark_std(amm, now, PRICE_PRECISION_U64 * 23, 0, 0)
    assert amm.mark_std == 23000000

    amm = replace(amm, mark_std=PRICE_PRECISION_U64, last_mark_price_twap_ts=now - 60)
    amm = amm_mod.update_amm_mark_std(amm, now, PRICE_PRECISION_U64 * 2, 0, 0)
    assert amm.mark_std == 2000000

    px = PRICE_PRECISION_U64
    stop_time = now + 3600 * 2
    while now <= stop_time:
        now += 1
        if now % 15 == 0:
            px = px * 1012 // 1000
            amm = replace(amm, last_oracle_price=amm.last_oracle_price * 10119 // 10000)
        else:
            px = px * 100000 // 100133
            amm = replace(amm, last_oracle_price=amm.last_oracle_price * 100001 // 100133)
        amm, _ = amm_mod.update_oracle_price_twap(amm, now, _mm(amm.last_oracle_price, 0, 2, 3), None, None)
        amm = replace(amm, peg_multiplier=px)
        amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, px, LONG, None)
    assert now == 1656689519
    assert px == 39397
    assert amm.last_oracle_price_twap == 40194
    assert amm.last_mark_price_twap == 39449
    assert amm.last_oracle_price_twap_5min == 46930
    assert amm.last_mark_price_twap_5min == 46051
    assert amm.last_bid_price_twap == 39449
    assert amm.last_ask_price_twap == 39449
    assert amm.mark_std == 6676

    px = 31_936_658
    stop_time = now + 3600 * 2
    assert amm_mod.reserve_price(amm) == 39397
    amm = replace(amm, peg_multiplier=31_986_658)
    assert amm_mod.reserve_price(amm) == 31986658
    amm = replace(amm, last_oracle_price=31986658)
    while now <= stop_time:
        now += 1
        if now % 15 == 0:
            px = 31_986_658
            amm = replace(amm, last_oracle_price=px - 1000000, peg_multiplier=px)
            reserve = amm_mod.reserve_price(amm)
            assert amm_mod.bid_price(amm, reserve) <= px
            assert amm_mod.ask_price(amm, reserve) >= px
            amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, px, LONG, None)
        if now % 189 == 0:
            px = 31_883_651
            amm = replace(amm, peg_multiplier=px, last_oracle_price=px + 1000000)
            reserve = amm_mod.reserve_price(amm)
            assert amm_mod.bid_price(amm, reserve) <= px
            assert amm_mod.ask_price(amm, reserve) >= px
            amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, px, SHORT, None)
    assert now == 1656696720
    assert px == 31986658
    assert amm.mark_std == 13244

    px = 31_936_658
    stop_time = now + 3600 * 2
    while now <= stop_time:
        now += 1
        if now % 2 == 1:
            px = 31_986_658
            amm = replace(amm, peg_multiplier=px, last_oracle_price=px - 1000000)
            amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, px, LONG, None)
        if now % 2 == 0:
            px = 31_883_651
            amm = replace(amm, peg_multiplier=px, last_oracle_price=px + 1000000)
            amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, px, SHORT, None)
            mark_twap = amm.last_mark_price_twap
            amm = amm_mod.update_amm_oracle_std(amm, now, px + 1000000, mark_twap, mark_twap)
    assert now == 1656703921
    assert px == 31986658
    assert amm.mark_std == 68672
    assert amm.oracle_std == 965665


def test_update_mark_twap_tests():
    """math/amm/tests.rs::update_mark_twap_tests"""
    prev = 0
    now = 1
    oracle_price = 40_021_280 * PRICE_PRECISION_I64 // 1_000_000
    mm = _mm(oracle_price, PRICE_PRECISION_U64 // 100, 1, 3)
    amm = AMM(quote_asset_reserve=2 * AMM_RESERVE_PRECISION, base_asset_reserve=2 * AMM_RESERVE_PRECISION,
              peg_multiplier=40 * PEG_PRECISION, base_spread=800, long_spread=0, short_spread=0,
              last_mark_price_twap=40 * PRICE_PRECISION_U64, last_bid_price_twap=40 * PRICE_PRECISION_U64 - 1,
              last_ask_price_twap=40 * PRICE_PRECISION_U64, last_mark_price_twap_ts=prev, funding_period=3600,
              last_oracle_price=40 * PRICE_PRECISION, last_oracle_price_twap=40 * PRICE_PRECISION,
              last_oracle_price_twap_ts=prev)
    amm, _ = amm_mod.update_oracle_price_twap(amm, now, mm, None, None)
    assert amm.last_oracle_price == oracle_price
    assert amm.last_oracle_price == 40_021_280 * PRICE_PRECISION_I64 // 1_000_000

    trade_price = 40_051_280 * PRICE_PRECISION_U64 // 1_000_000
    old_mark_twap = amm.last_mark_price_twap
    amm, new_mark_twap = amm_mod.update_mark_twap_from_estimates(amm, now, trade_price, LONG, None)
    new_bid_twap, new_ask_twap = amm.last_bid_price_twap, amm.last_ask_price_twap
    assert old_mark_twap == 40_000_000
    assert new_mark_twap == 40_000_010
    assert new_mark_twap > old_mark_twap
    assert new_ask_twap == 40_000_015
    assert new_bid_twap == 40_000_005
    assert new_bid_twap < new_ask_twap

    while now < 3600:
        now += 1
        amm, _ = amm_mod.update_oracle_price_twap(amm, now, mm, None, None)
        amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, trade_price, LONG, None)
    new_oracle_twap, new_mark_twap = amm.last_oracle_price_twap, amm.last_mark_price_twap
    new_bid_twap, new_ask_twap = amm.last_bid_price_twap, amm.last_ask_price_twap
    assert new_bid_twap <= new_ask_twap
    assert (new_bid_twap + new_ask_twap) // 2 == new_mark_twap
    assert new_oracle_twap < new_mark_twap
    assert new_oracle_twap == 40008161
    assert new_bid_twap == 40014547
    assert new_mark_twap == 40024054
    assert new_ask_twap == 40033561
    assert amm.mark_std == 27230
    assert amm.oracle_std == 3120

    trade_price_2 = 39_971_280 * PRICE_PRECISION_U64 // 1_000_000
    mm = _mm(39_991_280 * PRICE_PRECISION_I64 // 1_000_000, PRICE_PRECISION_U64 // 80, 14, 15)
    while now <= 3600 * 2:
        now += 1
        amm, _ = amm_mod.update_oracle_price_twap(amm, now, mm, None, None)
        if now % 200 == 0:
            amm, _ = amm_mod.update_mark_twap_from_estimates(amm, now, trade_price_2, SHORT, None)
    new_oracle_twap, new_mark_twap = amm.last_oracle_price_twap, amm.last_mark_price_twap
    new_bid_twap, new_ask_twap = amm.last_bid_price_twap, amm.last_ask_price_twap
    assert new_bid_twap == 39_989_386
    assert new_ask_twap == 40_000_774
    assert new_bid_twap < new_ask_twap
    assert (new_bid_twap + new_ask_twap) // 2 == new_mark_twap
    assert new_oracle_twap == 39_998_518
    assert new_mark_twap == 39995080
    assert new_oracle_twap >= new_mark_twap
    assert amm.oracle_std == 7240
    assert amm.mark_std == 24457


def test_calc_oracle_twap_tests():
    """math/amm/tests.rs::calc_oracle_twap_tests"""
    prev = 1656682258
    now = prev + 3600
    px = 32 * PRICE_PRECISION
    amm = AMM(base_asset_reserve=2 * AMM_RESERVE_PRECISION, quote_asset_reserve=2 * AMM_RESERVE_PRECISION,
              peg_multiplier=PEG_PRECISION, last_oracle_price_twap=px, last_oracle_price_twap_ts=prev,
              mark_std=PRICE_PRECISION, last_mark_price_twap_ts=prev, funding_period=3600)
    amm, _ = amm_mod.update_oracle_price_twap(amm, now, _mm(34 * PRICE_PRECISION, PRICE_PRECISION_U64 // 100, 1, 2),
                                              None, None)
    assert amm.last_oracle_price_twap == 34 * PRICE_PRECISION - PRICE_PRECISION // 100

    amm = replace(amm, last_mark_price_twap_ts=now - 60, last_oracle_price_twap_ts=now - 60)
    mm = _mm(31 * PRICE_PRECISION, 0, 2, 3)
    amm, _ = amm_mod.update_oracle_price_twap(amm, now, mm, None, None)
    assert amm.last_oracle_price_twap == 33940167
    assert amm.last_oracle_price_twap_5min == 33392001
    assert amm.oracle_std == 2_990_000

    amm, _ = amm_mod.update_oracle_price_twap(amm, now + 60 * 5, mm, None, None)
    assert amm.last_oracle_price_twap == 33695154
    assert amm.last_oracle_price_twap_5min == 31 * PRICE_PRECISION_I64
    assert amm.oracle_std == 2940167

    amm, _ = amm_mod.update_oracle_price_twap(amm, now + 60 * 5 + 60, _mm(32 * PRICE_PRECISION, 0, 2, 3), None, None)
    assert amm.last_oracle_price_twap_5min == 31200001
    assert amm.oracle_std == 1695154


_AMM_13 = AMM(quote_asset_reserve=200 * AMM_RESERVE_PRECISION, base_asset_reserve=200 * AMM_RESERVE_PRECISION,
              peg_multiplier=13 * PEG_PRECISION, base_spread=0, long_spread=0, short_spread=0,
              last_mark_price_twap=13 * PRICE_PRECISION_U64, last_bid_price_twap=13 * PRICE_PRECISION_U64,
              last_ask_price_twap=13 * PRICE_PRECISION_U64, last_mark_price_twap_ts=1667387000, funding_period=3600,
              last_oracle_price=13 * PRICE_PRECISION, last_oracle_price_twap=13 * PRICE_PRECISION,
              last_oracle_price_twap_5min=13 * PRICE_PRECISION, last_oracle_price_twap_ts=1667387000)


def test_calc_oracle_twap_clamp_update_tests():
    """math/amm/tests.rs::calc_oracle_twap_clamp_update_tests: the oracle jumps 10x; the capped updates walk the
    TWAPs up over ten hours of one-second updates."""
    prev = 1667387000
    now = prev + 1
    amm = _AMM_13
    mm = _mm(130 * PRICE_PRECISION_I64 + 873, PRICE_PRECISION_U64 // 10, 1, 2)
    expected = [(prev + 3600, 18_143_130, 23_536_961, 24_188_600), (prev + 3600 * 2, 25_322_529, 32_850_803, 33_760_245),
                (prev + 3600 * 10, 129_282_724, 129_900_874, 129_900_873)]
    for stop, twap, twap_5min, normalised in expected:
        while now < stop:
            amm, _ = amm_mod.update_oracle_price_twap(amm, now, mm, None, None)
            now += 1
        assert amm.last_oracle_price_twap == twap
        assert amm.last_oracle_price_twap_5min == twap_5min
        assert amm.last_oracle_normalised_price == normalised


def test_last_oracle_conf_update():
    """math/amm/tests.rs::test_last_oracle_conf_update"""
    prev = 1667387000
    now = prev + 1
    amm = _AMM_13
    amm, _ = amm_mod.update_oracle_price_twap(amm, now, _mm(130 * PRICE_PRECISION_I64 + 873, PRICE_PRECISION_U64 // 10, 1, 2),
                                              None, None)
    assert amm.last_oracle_conf_pct == 7692

    mm = _mm(130 * PRICE_PRECISION_I64 + 873, 1, 5, 2)
    amm, _ = amm_mod.update_oracle_price_twap(amm, now, mm, None, None)
    assert amm.last_oracle_conf_pct == 7692
    amm, _ = amm_mod.update_oracle_price_twap(amm, now + 1, mm, None, None)
    assert amm.last_oracle_conf_pct == 7692 - 7692 // 20
    amm, _ = amm_mod.update_oracle_price_twap(amm, now + 60, mm, None, None)
    assert amm.last_oracle_conf_pct == 7307 - 7307 // 5 + 1


# ============================================================================ math/margin/tests.rs (reserve price)
def test_calculate_user_equity_value_tests_reserve_price():
    """math/margin/tests.rs::calculate_user_equity_value_tests: the market's AMM reserve price."""
    amm = AMM(base_asset_reserve=512295081967, quote_asset_reserve=488 * AMM_RESERVE_PRECISION,
              sqrt_k=500 * AMM_RESERVE_PRECISION, peg_multiplier=22_100_000_000)
    assert amm_mod.reserve_price(amm) == 21051929600


# ============================================================================ what is not ported
NOT_PORTED: dict[str, str] = {}  # every #[test] of state/perp_market/tests.rs and math/amm/tests.rs is ported
