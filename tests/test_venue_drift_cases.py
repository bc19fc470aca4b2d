"""Drift v2's own unit tests, ported as data and run against :mod:`ramparts.venues.drift`.

Every row names its source: the Rust test file and test function in drift-labs/protocol-v2 at the pinned
commit (and, for a function with several assertions, which one). Inputs and expected outputs are the upstream
ones in Drift's units (PRICE 1e6, BASE 1e9, QUOTE 1e6, margin 1e4, fees 1e6); every assertion is exact integer
equality, as upstream's ``assert_eq!``. Where an upstream test drives ``liquidate_perp`` through the account
framework (oracle map, market maps, ``User``), the row carries what that framework hands the maths: the USDC
balance (``scaled_balance`` × cumulative interest 1e10 / 1e13 → token amount), the perp position, the market's
margin and fee parameters, the oracle price, and ``State``'s buffer / initial pct / duration; the AMM reserves
the tests set are not read by ``liquidate_perp`` and are left out. The spot-side controller tests
(``liquidate_spot``, ``liquidate_spot_with_swap``, ``liquidate_borrow_for_perp_pnl``,
``liquidate_perp_pnl_for_deposit`` cross and isolated, ``liquidation_mode``, the mixed cross + isolated accounts) run
against :mod:`ramparts.venues.drift_spot` on a ``SpotAccount`` holding the tests' spot and perp positions in their
slot order, with the tests' spot markets (weights, fees, deposit / borrow totals, TWAPs) and oracle prices.
``liquidate_perp_with_fill`` (the liquidation order filled against a maker or the AMM) runs against
:func:`ramparts.venues.drift_spot.liquidate_perp_with_fill_in_account` and :mod:`ramparts.venues.drift_fill`, with the
tests' AMM reserves, spread reserves and fill limits, and the oracle delay they give (which decides whether the AMM
may fill). The two ``liquidate_dust_*`` tests run on upstream's base64 snapshots of mainnet accounts, decoded with
Drift's layouts by :mod:`ramparts.venues.drift_accounts` (``User``, ``SpotMarket``, ``PerpMarket``, Pyth pull and
Prelaunch oracles); the spot one first accrues interest and oracle TWAPs to the test's clock on the liquidated
markets (:func:`ramparts.venues.drift_spot.update_spot_market_cumulative_interest`). The pnl-for-deposit rows read the
perp market's ``amm.total_liquidation_fee`` as the result's ``if_fee`` (the market's total starts at 0 there). The
``math/funding/tests.rs`` market tests run :func:`ramparts.venues.drift_amm.update_funding_rate`, ``block_operation``,
``on_the_hour_update`` and ``update_amm`` (``_update_amm`` without curve updates, as those tests' markets) on an
:class:`ramparts.venues.drift_amm.AmmPerpMarket`. Assertions that need what is not modelled would be listed in
``NOT_PORTED`` with the reason (none at present).

Counts (#[test] functions at the pinned commit, every assertion ported): ``controller/liquidation/tests.rs`` 66/66,
``math/funding/tests.rs`` 4/4.
"""

from __future__ import annotations

from base64 import b64decode
from dataclasses import replace

import pytest

from ramparts.errors import InvalidInput, Rejected
from ramparts.venues import drift, drift_amm, drift_fill, drift_spot
from ramparts.venues import drift_accounts as acc
from ramparts.venues.drift import (
    BASE_PRECISION,
    LIQUIDATION_FEE_PRECISION,
    LIQUIDATION_PCT_PRECISION,
    MARGIN_PRECISION,
    PRICE_PRECISION,
    QUOTE_PRECISION,
    SPOT_BALANCE_PRECISION,
    SPOT_CUMULATIVE_INTEREST_PRECISION,
    ContractTier,
    PerpAccount,
    PerpMarket,
    PerpPosition,
    SpotMarket,
)
from ramparts.venues.drift import MarginRequirementType as MRT
from ramparts.venues.drift_spot import SpotAccount

COMMIT = "0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62"
SPOT_WEIGHT_PRECISION = MARGIN_PRECISION
FUNDING_RATE_PRECISION = drift.FUNDING_RATE_PRECISION
LAMPORTS_PER_SOL = 10**9
M_LIQ = "programs/drift/src/math/liquidation/tests.rs"
C_LIQ = "programs/drift/src/controller/liquidation/tests.rs"
S_PERP = "programs/drift/src/state/perp_market/tests.rs"
M_MARGIN = "programs/drift/src/math/margin/tests.rs"
M_FUND = "programs/drift/src/math/funding/tests.rs"
M_BANK = "programs/drift/src/math/bankruptcy/tests.rs"


def _src(path: str, func: str, case: str = "") -> str:
    return f"protocol-v2@{COMMIT[:7]}:{path}::{func}" + (f"[{case}]" if case else "")


def _ids(path: str, rows) -> list[str]:
    return [_src(path, r[0], r[1]) for r in rows]


def _usdc(scaled_balance: int) -> int:
    """A USDC (6 decimals) spot balance as a token amount: ``scaled × 1e10 / 10^(19−6)``."""
    return scaled_balance * SPOT_CUMULATIVE_INTEREST_PRECISION // 10**13


# ============================================================================ math/liquidation/tests.rs
# (test fn, case, margin shortage, margin ratio, liquidation fee, IF fee, oracle price, quote oracle price, expected base)
BASE_TO_COVER = [
    ("calculate_base_asset_amount_to_cover_margin_shortage::zero_percent_liquidation_fee", "", 10 * QUOTE_PRECISION,
     MARGIN_PRECISION // 10, 0, 0, 100 * PRICE_PRECISION, PRICE_PRECISION, BASE_PRECISION),
    ("calculate_base_asset_amount_to_cover_margin_shortage::usdc_not_one", "quote 0.99", 10 * QUOTE_PRECISION,
     MARGIN_PRECISION // 10, 0, 0, 100 * PRICE_PRECISION, 99 * 10_000, 1010101010),
    ("calculate_base_asset_amount_to_cover_margin_shortage::usdc_not_one", "quote 1.01", 10 * QUOTE_PRECISION,
     MARGIN_PRECISION // 10, 0, 0, 100 * PRICE_PRECISION, 101 * 10_000, 990099009),
    ("calculate_base_asset_amount_to_cover_margin_shortage::one_percent_liquidation_fee", "", 10 * QUOTE_PRECISION,
     MARGIN_PRECISION // 10, LIQUIDATION_FEE_PRECISION // 100, 0, 100 * PRICE_PRECISION, PRICE_PRECISION,
     BASE_PRECISION * 10 // 9),
    ("calculate_base_asset_amount_to_cover_margin_shortage::one_percent_liquidation_fee_and_one_percent_if_liquidation_fee",
     "", 10 * QUOTE_PRECISION, MARGIN_PRECISION // 10, LIQUIDATION_FEE_PRECISION // 100, LIQUIDATION_FEE_PRECISION // 100,
     100 * PRICE_PRECISION, PRICE_PRECISION, 1250000000),
]


@pytest.mark.parametrize("fn, case, shortage, ratio, fee, if_fee, price, quote, expected", BASE_TO_COVER, ids=_ids(M_LIQ, BASE_TO_COVER))
def test_base_asset_amount_to_cover_margin_shortage(fn, case, shortage, ratio, fee, if_fee, price, quote, expected):
    base = drift.base_asset_amount_to_cover_margin_shortage(shortage, ratio, fee, if_fee, price, quote)
    assert base == expected
    if fee:  # the tests' second assertion: the collateral freed, less the fees, is the shortage (~$10)
        value = base * price // PRICE_PRECISION // 1000
        freed = value * ratio // MARGIN_PRECISION
        assert freed - value * fee // LIQUIDATION_FEE_PRECISION - value * if_fee // LIQUIDATION_FEE_PRECISION == 10_000_000


# (test fn, margin shortage, asset weight, asset multiplier, liability weight, liability multiplier, decimals, price,
#  IF fee, expected transfer, expected freed collateral less the IF fee or None)
LIABILITY_TO_COVER = [
    ("calculate_liability_transfer_to_cover_margin_shortage::zero_asset_and_liability_fee", 10 * QUOTE_PRECISION,
     8 * SPOT_WEIGHT_PRECISION // 10, LIQUIDATION_FEE_PRECISION, 12 * SPOT_WEIGHT_PRECISION // 10, LIQUIDATION_FEE_PRECISION,
     9, 100 * PRICE_PRECISION, 0, 250000000, None),
    ("calculate_liability_transfer_to_cover_margin_shortage::ten_percent_asset_and_liability_fee", 10 * QUOTE_PRECISION,
     8 * SPOT_WEIGHT_PRECISION // 10, 110 * LIQUIDATION_FEE_PRECISION // 100, 12 * SPOT_WEIGHT_PRECISION // 10,
     90 * LIQUIDATION_FEE_PRECISION // 100, 9, 100 * PRICE_PRECISION, 0, 449984250, None),
    ("calculate_liability_transfer_to_cover_margin_shortage::zero_asset_and_liability_fee_with_one_percent_if_fee",
     10 * QUOTE_PRECISION, 8 * SPOT_WEIGHT_PRECISION // 10, LIQUIDATION_FEE_PRECISION, 12 * SPOT_WEIGHT_PRECISION // 10,
     LIQUIDATION_FEE_PRECISION, 9, 100 * PRICE_PRECISION, LIQUIDATION_FEE_PRECISION // 100, 257731958, 10000001),
    ("calculate_liability_transfer_to_cover_margin_shortage::ten_percent_asset_and_liability_fee_with_one_percent_if_fee",
     10 * QUOTE_PRECISION, 8 * SPOT_WEIGHT_PRECISION // 10, 110 * LIQUIDATION_FEE_PRECISION // 100,
     12 * SPOT_WEIGHT_PRECISION // 10, 90 * LIQUIDATION_FEE_PRECISION // 100, 9, 100 * PRICE_PRECISION,
     LIQUIDATION_FEE_PRECISION // 100, 475669504, 10003330),
    ("calculate_liability_transfer_to_cover_margin_shortage::liability_weight_component_less_than_asset_weight_component",
     10 * QUOTE_PRECISION, SPOT_WEIGHT_PRECISION, LIQUIDATION_FEE_PRECISION, SPOT_WEIGHT_PRECISION,
     75 * LIQUIDATION_FEE_PRECISION // 100, 6, 100 * PRICE_PRECISION, 0, drift.U128_MAX, None),
]


@pytest.mark.parametrize("fn, shortage, aw, am, lw, lm, dec, price, if_fee, expected, freed",
                         LIABILITY_TO_COVER, ids=[_src(M_LIQ, r[0]) for r in LIABILITY_TO_COVER])
def test_liability_transfer_to_cover_margin_shortage(fn, shortage, aw, am, lw, lm, dec, price, if_fee, expected, freed):
    transfer = drift.liability_transfer_to_cover_margin_shortage(shortage, aw, am, lw, lm, dec, price, if_fee)
    assert transfer == expected
    if freed is not None:  # the tests' freed-collateral assertion
        fee = transfer * if_fee // LIQUIDATION_FEE_PRECISION
        released = transfer * price // PRICE_PRECISION // 1000 * (lw - aw * am // lm) // SPOT_WEIGHT_PRECISION
        consumed = fee * price // PRICE_PRECISION // 1000 * lw // SPOT_WEIGHT_PRECISION
        assert released - consumed == freed


# (test fn, asset amount, asset multiplier, asset decimals, asset price, liability multiplier, liability decimals,
#  liability price, expected)
LIABILITY_IMPLIED = [
    ("calculate_liability_transfer_implied_by_asset_amount::zero_asset_and_liability_fee", 10 * QUOTE_PRECISION,
     LIQUIDATION_FEE_PRECISION, 6, PRICE_PRECISION, LIQUIDATION_FEE_PRECISION, 9, 100 * PRICE_PRECISION, 100000000),
    ("calculate_liability_transfer_implied_by_asset_amount::one_percent_asset_and_liability_fee", 10 * QUOTE_PRECISION,
     101 * LIQUIDATION_FEE_PRECISION // 100, 6, PRICE_PRECISION, 99 * LIQUIDATION_FEE_PRECISION // 100, 9,
     100 * PRICE_PRECISION, 98019802),
]


@pytest.mark.parametrize("fn, a, am, ad, ap, lm, ld, lp, expected", LIABILITY_IMPLIED, ids=[_src(M_LIQ, r[0]) for r in LIABILITY_IMPLIED])
def test_liability_transfer_implied_by_asset_amount(fn, a, am, ad, ap, lm, ld, lp, expected):
    assert drift.liability_transfer_implied_by_asset_amount(a, am, ad, ap, lm, ld, lp) == expected


# (test fn, asset amount, asset multiplier, asset decimals, asset price, liability transfer, liability multiplier,
#  liability decimals, liability price, expected)
ASSET_FOR_LIABILITY = [
    ("calculate_asset_transfer_for_liability_transfer::zero_asset_and_liability_fee", 100 * QUOTE_PRECISION,
     LIQUIDATION_FEE_PRECISION, 6, PRICE_PRECISION, BASE_PRECISION, LIQUIDATION_FEE_PRECISION, 9, 100 * PRICE_PRECISION,
     100000000),
    ("calculate_asset_transfer_for_liability_transfer::one_percent_asset_and_liability_fee", 200 * QUOTE_PRECISION,
     101 * LIQUIDATION_FEE_PRECISION // 100, 6, PRICE_PRECISION, BASE_PRECISION, 99 * LIQUIDATION_FEE_PRECISION // 100, 9,
     100 * PRICE_PRECISION, 102020202),
    ("calculate_asset_transfer_for_liability_transfer::full_liability_tranfer_same_decimals", 200 * 10**6,
     LIQUIDATION_FEE_PRECISION, 6, PRICE_PRECISION, 10**6, LIQUIDATION_FEE_PRECISION, 6, PRICE_PRECISION, 1_000_000),
    ("calculate_asset_transfer_for_liability_transfer::full_liability_tranfer_asset_decimals_less_than_liability_decimals",
     200 * 10**5, LIQUIDATION_FEE_PRECISION, 5, PRICE_PRECISION, 10**6, LIQUIDATION_FEE_PRECISION, 6, PRICE_PRECISION, 100_000),
    ("calculate_asset_transfer_for_liability_transfer::full_liability_tranfer_liability_decimals_less_than_asset_decimals",
     200 * 10**6, LIQUIDATION_FEE_PRECISION, 6, PRICE_PRECISION, 10**5, LIQUIDATION_FEE_PRECISION, 5, PRICE_PRECISION,
     1_000_000),
]


@pytest.mark.parametrize("fn, a, am, ad, ap, lt, lm, ld, lp, expected", ASSET_FOR_LIABILITY, ids=[_src(M_LIQ, r[0]) for r in ASSET_FOR_LIABILITY])
def test_asset_transfer_for_liability_transfer(fn, a, am, ad, ap, lt, lm, ld, lp, expected):
    assert drift.asset_transfer_for_liability_transfer(a, am, ad, ap, lt, lm, ld, lp) == expected


def test_funding_rate_deltas_to_resolve_bankruptcy():
    # calculate_funding_rate_deltas_to_resolve_bankruptcy::total_base_asset_amount_is_zero
    with pytest.raises(Rejected) as e:
        drift.funding_rate_deltas_to_resolve_bankruptcy(-QUOTE_PRECISION, 0, 0)
    assert e.value.reason == "CantResolvePerpBankruptcy"
    # ::total_base_asset_amount_not_zero
    assert drift.funding_rate_deltas_to_resolve_bankruptcy(-100 * QUOTE_PRECISION, 7 * BASE_PRECISION,
                                                           -4 * BASE_PRECISION) == 9090910000


# calculate_cumulative_deposit_interest_delta_to_resolve_bankruptcy: (test fn, borrow, market, expected)
DEPOSIT_INTEREST_DELTA = [
    ("calculate_cumulative_deposit_interest_delta_to_resolve_bankruptcy::zero_total_deposits", 100 * QUOTE_PRECISION,
     SpotMarket(deposit_balance=0, cumulative_deposit_interest=1111 * SPOT_CUMULATIVE_INTEREST_PRECISION // 1000), 0),
    ("calculate_cumulative_deposit_interest_delta_to_resolve_bankruptcy::non_zero_total_deposits", 11 * QUOTE_PRECISION,
     SpotMarket(deposit_balance=120 * SPOT_BALANCE_PRECISION, cumulative_deposit_interest=SPOT_CUMULATIVE_INTEREST_PRECISION,
                decimals=6), 916666667),
]


@pytest.mark.parametrize("fn, borrow, market, expected", DEPOSIT_INTEREST_DELTA, ids=[_src(M_LIQ, r[0]) for r in DEPOSIT_INTEREST_DELTA])
def test_cumulative_deposit_interest_delta(fn, borrow, market, expected):
    assert drift.cumulative_deposit_interest_delta_to_resolve_bankruptcy(borrow, market) == expected


# validate_transfer_satisfies_limit_price: (test fn, case, asset, asset decimals, liability, liability decimals, limit, ok)
LIMIT_PRICE = [
    ("validate_transfer_satisfies_limit_price::sol_asset_usdc_liability", "1 SOL for $100", LAMPORTS_PER_SOL, 9,
     100 * QUOTE_PRECISION, 6, PRICE_PRECISION // 100, True),
    ("validate_transfer_satisfies_limit_price::sol_asset_usdc_liability", "0.1 SOL for $100", LAMPORTS_PER_SOL // 10, 9,
     100 * QUOTE_PRECISION, 6, PRICE_PRECISION // 100, False),
    ("validate_transfer_satisfies_limit_price::usdc_asset_sol_liability", "$100 for 1 SOL", 100 * QUOTE_PRECISION, 6,
     LAMPORTS_PER_SOL, 9, PRICE_PRECISION * 100, True),
    ("validate_transfer_satisfies_limit_price::usdc_asset_sol_liability", "$10 for 1 SOL", 10 * QUOTE_PRECISION, 6,
     LAMPORTS_PER_SOL, 9, PRICE_PRECISION * 100, False),
]


@pytest.mark.parametrize("fn, case, asset, ad, liability, ld, limit, ok", LIMIT_PRICE, ids=_ids(M_LIQ, LIMIT_PRICE))
def test_validate_transfer_satisfies_limit_price(fn, case, asset, ad, liability, ld, limit, ok):
    if ok:
        drift.validate_transfer_satisfies_limit_price(asset, liability, ad, ld, limit)
    else:
        with pytest.raises(Rejected) as e:
            drift.validate_transfer_satisfies_limit_price(asset, liability, ad, ld, limit)
        assert e.value.reason == "LiquidationDoesntSatisfyLimitPrice"


# calculate_perp_if_fee::test: (case, shortage, base, margin ratio, liquidator fee, oracle, quote, max IF fee, expected)
_PIF = dict(shortage=20 * QUOTE_PRECISION, base=10 * BASE_PRECISION, ratio=MARGIN_PRECISION // 20,
            fee=LIQUIDATION_FEE_PRECISION // 100, price=100 * PRICE_PRECISION, quote=PRICE_PRECISION,
            max_fee=LIQUIDATION_FEE_PRECISION // 20)
PERP_IF_FEE = [
    ("calculate_perp_if_fee::test", "2% * .95", {}, 19000),
    ("calculate_perp_if_fee::test", "tiny margin shortage: 3.9% * .95", dict(shortage=QUOTE_PRECISION), 37050),
    ("calculate_perp_if_fee::test", "huge margin shortage", dict(shortage=1000 * QUOTE_PRECISION), 0),
    ("calculate_perp_if_fee::test", "large liquidator fee", dict(fee=LIQUIDATION_FEE_PRECISION // 10), 0),
    ("calculate_perp_if_fee::test", "zero oracle price", dict(price=0), 0),
    ("calculate_perp_if_fee::test", "zero quote price", dict(quote=0), 0),
    ("calculate_perp_if_fee::test", "zero base asset amount", dict(base=0), 0),
]


@pytest.mark.parametrize("fn, case, over, expected", PERP_IF_FEE, ids=_ids(M_LIQ, PERP_IF_FEE))
def test_perp_if_fee(fn, case, over, expected):
    a = {**_PIF, **over}
    assert drift.perp_if_fee(a["shortage"], a["base"], a["ratio"], a["fee"], a["price"], a["quote"], a["max_fee"]) == expected


_SIF = dict(shortage=5 * QUOTE_PRECISION, tokens=10**9, aw=SPOT_WEIGHT_PRECISION, am=101 * LIQUIDATION_FEE_PRECISION // 100,
            lw=11 * SPOT_WEIGHT_PRECISION // 10, lm=LIQUIDATION_FEE_PRECISION, dec=9, price=100 * PRICE_PRECISION,
            max_fee=LIQUIDATION_FEE_PRECISION // 20)
SPOT_IF_FEE = [
    ("calculate_spot_if_fee::test", "4% / 1.1", {}, 36363),
    ("calculate_spot_if_fee::test", "large margin shortage", dict(shortage=100 * QUOTE_PRECISION), 0),
    ("calculate_spot_if_fee::test", "tiny margin shortage", dict(shortage=QUOTE_PRECISION), LIQUIDATION_FEE_PRECISION // 20),
    ("calculate_spot_if_fee::test", "large asset weight", dict(shortage=QUOTE_PRECISION, aw=2 * SPOT_WEIGHT_PRECISION), 0),
    ("calculate_spot_if_fee::test", "zero liability weight", dict(lw=0), 0),
    ("calculate_spot_if_fee::test", "zero token amount", dict(tokens=0), 0),
    ("calculate_spot_if_fee::test", "zero liability multiplier", dict(lm=0), 0),
]


@pytest.mark.parametrize("fn, case, over, expected", SPOT_IF_FEE, ids=_ids(M_LIQ, SPOT_IF_FEE))
def test_spot_if_fee(fn, case, over, expected):
    a = {**_SIF, **over}
    assert drift.spot_if_fee(a["shortage"], a["tokens"], a["aw"], a["am"], a["lw"], a["lm"], a["dec"], a["price"],
                             a["max_fee"]) == expected


def test_max_pct_to_liquidate():
    # calculate_max_pct_to_liquidate::test (User::default(): last_active_slot 0, liquidation_margin_freed 0)
    assert drift.max_pct_to_liquidate(49 * QUOTE_PRECISION, 1, 0, 0, LIQUIDATION_PCT_PRECISION // 10, 10) == LIQUIDATION_PCT_PRECISION


# get_liquidation_fee::test: (case, current slot, expected) with user slot 0, base 2 %, max 5 %
LIQUIDATION_FEE = [
    ("get_liquidation_fee::test", "huge slot difference", 100000, 5 * LIQUIDATION_FEE_PRECISION // 100),
    ("get_liquidation_fee::test", "within grace period", 10, 2 * LIQUIDATION_FEE_PRECISION // 100),
    ("get_liquidation_fee::test", "successful increase", 10000, 3 * LIQUIDATION_FEE_PRECISION // 100),
]


@pytest.mark.parametrize("fn, case, slot, expected", LIQUIDATION_FEE, ids=_ids(M_LIQ, LIQUIDATION_FEE))
def test_liquidation_fee(fn, case, slot, expected):
    assert drift.liquidation_fee(2 * LIQUIDATION_FEE_PRECISION // 100, 5 * LIQUIDATION_FEE_PRECISION // 100, 0, slot) == expected


SWAP_BOUNDARIES = [
    ("validate_swap_within_liquidation_boundaries::success", "", 200, True),
    ("validate_swap_within_liquidation_boundaries::failure", "", 198, False),
]


@pytest.mark.parametrize("fn, case, liability_usd, ok", SWAP_BOUNDARIES, ids=_ids(M_LIQ, SWAP_BOUNDARIES))
def test_validate_swap_within_liquidation_boundaries(fn, case, liability_usd, ok):
    args = (10**9, liability_usd * 10**6, 9, 6, 200 * PRICE_PRECISION, PRICE_PRECISION, LIQUIDATION_FEE_PRECISION * 101 // 100,
            LIQUIDATION_FEE_PRECISION)
    if ok:
        drift.validate_swap_within_liquidation_boundaries(*args)
    else:
        with pytest.raises(Rejected) as e:
            drift.validate_swap_within_liquidation_boundaries(*args)
        assert e.value.reason == "InvalidLiquidation"


# ============================================================================ state/perp_market/tests.rs::get_margin_ratio
_M10_5 = PerpMarket(margin_ratio_initial=MARGIN_PRECISION // 10, margin_ratio_maintenance=MARGIN_PRECISION // 20)
_M10_5_HLM = PerpMarket(margin_ratio_initial=MARGIN_PRECISION // 10, margin_ratio_maintenance=MARGIN_PRECISION // 20,
                        high_leverage_margin_ratio_initial=MARGIN_PRECISION // 50,
                        high_leverage_margin_ratio_maintenance=MARGIN_PRECISION // 100)
_HLM_IMF = PerpMarket(margin_ratio_initial=MARGIN_PRECISION // 10, margin_ratio_maintenance=MARGIN_PRECISION // 20,
                      high_leverage_margin_ratio_initial=MARGIN_PRECISION // 100,
                      high_leverage_margin_ratio_maintenance=MARGIN_PRECISION // 200, imf_factor=50)
# (test fn, case, market, size, margin type, high-leverage user, expected)
GET_MARGIN_RATIO = [
    ("get_margin_ratio::test", "initial", _M10_5, BASE_PRECISION, MRT.INITIAL, False, MARGIN_PRECISION // 10),
    ("get_margin_ratio::test", "fill", _M10_5, BASE_PRECISION, MRT.FILL, False, (MARGIN_PRECISION // 10 + MARGIN_PRECISION // 20) // 2),
    ("get_margin_ratio::test", "maintenance", _M10_5, BASE_PRECISION, MRT.MAINTENANCE, False, MARGIN_PRECISION // 20),
    ("get_margin_ratio::test", "hlm initial", _M10_5_HLM, BASE_PRECISION, MRT.INITIAL, True, MARGIN_PRECISION // 50),
    ("get_margin_ratio::test", "hlm maintenance", _M10_5_HLM, BASE_PRECISION, MRT.MAINTENANCE, True, MARGIN_PRECISION // 100),
    ("get_margin_ratio::test", "hlm fill", _M10_5_HLM, BASE_PRECISION, MRT.FILL, True,
     (MARGIN_PRECISION // 50 + MARGIN_PRECISION // 100) // 2),
    ("get_margin_ratio::new_hlm_imf_size", "normal initial at 1e6 base", _HLM_IMF, BASE_PRECISION * 1000000, MRT.INITIAL, False, 1300),
    ("get_margin_ratio::new_hlm_imf_size", "hlm initial at 0.1 base", _HLM_IMF, BASE_PRECISION // 10, MRT.INITIAL, True, 100),
    ("get_margin_ratio::new_hlm_imf_size", "hlm initial at 1 base", _HLM_IMF, BASE_PRECISION, MRT.INITIAL, True, 100),
    ("get_margin_ratio::new_hlm_imf_size", "hlm initial at 10 base (slightly under 100x)", _HLM_IMF, BASE_PRECISION * 10,
     MRT.INITIAL, True, 104),
    ("get_margin_ratio::new_hlm_imf_size", "hlm initial at 3000 base", _HLM_IMF, BASE_PRECISION * 3000, MRT.INITIAL, True, 221),
    ("get_margin_ratio::new_hlm_imf_size", "hlm maintenance at 3000 base", _HLM_IMF, BASE_PRECISION * 3000,
     MRT.MAINTENANCE, True, 67),
    ("get_margin_ratio::new_hlm_imf_size", "hlm maintenance at 300000 base", _HLM_IMF, BASE_PRECISION * 300000,
     MRT.MAINTENANCE, True, 313),
]


@pytest.mark.parametrize("fn, case, market, size, mt, hlm, expected", GET_MARGIN_RATIO, ids=_ids(S_PERP, GET_MARGIN_RATIO))
def test_get_margin_ratio(fn, case, market, size, mt, hlm, expected):
    assert drift.perp_margin_ratio(market, size, mt, hlm) == expected


def test_new_hlm_imf_size_loop():
    """state/perp_market/tests.rs::get_margin_ratio::new_hlm_imf_size_loop: wherever the size premium lifts the ordinary
    initial ratio, the HLM initial ratio equals it; that happens for 959 of the sizes 1k..999k base."""
    market = PerpMarket(margin_ratio_initial=MARGIN_PRECISION // 20, margin_ratio_maintenance=MARGIN_PRECISION // 33,
                        high_leverage_margin_ratio_initial=MARGIN_PRECISION // 100,
                        high_leverage_margin_ratio_maintenance=MARGIN_PRECISION // 151, imf_factor=50)
    cnt = 0
    for i in range(1, 1000):
        size = BASE_PRECISION * i * 1000
        hlm = drift.perp_margin_ratio(market, size, MRT.INITIAL, True)
        normal = drift.perp_margin_ratio(market, size, MRT.INITIAL, False)
        if normal != market.margin_ratio_initial:
            assert hlm == normal
            cnt += 1
    assert cnt == 959_196 // 1_000


# ============================================================================ math/margin/tests.rs
_SM1 = SpotMarket(initial_asset_weight=9000, initial_liability_weight=11000, decimals=6, imf_factor=0)
_SM2 = SpotMarket(initial_asset_weight=1500, maintenance_asset_weight=7500, initial_liability_weight=15000,
                  maintenance_liability_weight=12500, decimals=6, imf_factor=0)
_K = 1000 * QUOTE_PRECISION
# spot_market_asset_weight: (case, market, "asset"|"liability", size, price, margin type, expected)
SPOT_WEIGHTS = [
    ("imf 0 asset", _SM1, "asset", _K, QUOTE_PRECISION, MRT.INITIAL, 9000),
    ("imf 0 liability", _SM1, "liability", _K, QUOTE_PRECISION, MRT.INITIAL, 11000),
    ("imf 10 asset", SpotMarket(**{**_SM1.__dict__, "imf_factor": 10}), "asset", _K, QUOTE_PRECISION, MRT.INITIAL, 9000),
    ("imf 10 liability", SpotMarket(**{**_SM1.__dict__, "imf_factor": 10}), "liability", _K, QUOTE_PRECISION, MRT.INITIAL, 11000),
    ("imf 10 asset × 1e6 size", SpotMarket(**{**_SM1.__dict__, "imf_factor": 10}), "asset", _K * 1_000_000, QUOTE_PRECISION,
     MRT.INITIAL, 8357),
    ("imf 10000 asset", SpotMarket(**{**_SM1.__dict__, "imf_factor": 10000}), "asset", _K, QUOTE_PRECISION, MRT.INITIAL, 8357),
    ("imf 10000 liability", SpotMarket(**{**_SM1.__dict__, "imf_factor": 10000}), "liability", _K, QUOTE_PRECISION,
     MRT.INITIAL, 11962),
    ("imf 0.1 asset", SpotMarket(**{**_SM1.__dict__, "imf_factor": 100_000}), "asset", _K, QUOTE_PRECISION, MRT.INITIAL, 2642),
    ("imf 0.1 liability", SpotMarket(**{**_SM1.__dict__, "imf_factor": 100_000}), "liability", _K, QUOTE_PRECISION,
     MRT.INITIAL, 40422),
    ("imf 0.1 maintenance liability", SpotMarket(**{**_SM1.__dict__, "imf_factor": 100_000}), "liability", _K,
     QUOTE_PRECISION, MRT.MAINTENANCE, 31622),
    ("market 2 initial", _SM2, "asset", 100 * _K, QUOTE_PRECISION // 2, MRT.INITIAL, 1500),
    ("market 2 fill", _SM2, "asset", 100 * _K, QUOTE_PRECISION // 2, MRT.FILL, 4500),
    ("market 2 maintenance", _SM2, "asset", 100 * _K, QUOTE_PRECISION // 2, MRT.MAINTENANCE, 7500),
    ("market 2 imf 0.1 initial", SpotMarket(**{**_SM2.__dict__, "imf_factor": 100_000}), "asset", 100 * _K,
     QUOTE_PRECISION // 2, MRT.INITIAL, 337),
    ("market 2 imf 0.1 fill", SpotMarket(**{**_SM2.__dict__, "imf_factor": 100_000}), "asset", 100 * _K,
     QUOTE_PRECISION // 2, MRT.FILL, 337),
    ("market 2 imf 0.1 maintenance", SpotMarket(**{**_SM2.__dict__, "imf_factor": 100_000}), "asset", 100 * _K,
     QUOTE_PRECISION // 2, MRT.MAINTENANCE, 337),
]


@pytest.mark.parametrize("case, market, side, size, price, mt, expected", SPOT_WEIGHTS,
                         ids=[_src(M_MARGIN, "test::spot_market_asset_weight", r[0]) for r in SPOT_WEIGHTS])
def test_spot_market_asset_weight(case, market, side, size, price, mt, expected):
    if side == "asset":
        assert drift.spot_asset_weight(market, size, price, mt) == expected
    else:
        assert drift.spot_liability_weight(market, size, mt) == expected


SCALE_INITIAL = [("1 SOL deposited", 1, 9000), ("20k SOL", 20000, 9000), ("40k SOL", 40000, 4500), ("60k SOL", 60000, 3000)]


@pytest.mark.parametrize("case, sol, expected", SCALE_INITIAL,
                         ids=[_src(M_MARGIN, "test::spot_market_scale_initial_asset_weight", r[0]) for r in SCALE_INITIAL])
def test_spot_market_scale_initial_asset_weight(case, sol, expected):
    market = SpotMarket(initial_asset_weight=9000, initial_liability_weight=11000, decimals=9, imf_factor=0,
                        scale_initial_asset_weight_start=500_000 * QUOTE_PRECISION,
                        cumulative_deposit_interest=SPOT_CUMULATIVE_INTEREST_PRECISION,
                        deposit_balance=sol * SPOT_BALANCE_PRECISION)
    assert drift.scaled_initial_asset_weight(market, 25 * PRICE_PRECISION) == expected


def test_calculate_user_equity_value_tests():
    """math/margin/tests.rs::test::calculate_user_equity_value_tests (all but the AMM reserve-price assertion)."""
    market = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, imf_factor=1000,
                        unrealized_pnl_initial_asset_weight=10000, unrealized_pnl_maintenance_asset_weight=10000,
                        unrealized_pnl_imf_factor=1000)
    assert drift.unrealized_asset_weight(market, 22699050905, MRT.INITIAL) == 9559
    position = PerpPosition(base_asset_amount=-(12295081967 // 2), quote_asset_amount=153688524588)
    pmr, upnl, _, _ = drift.perp_position_value_and_pnl(position, market, 22050 * PRICE_PRECISION, MRT.INITIAL)
    assert upnl == 100000000
    assert pmr == 13555327867
    price = 21050 * PRICE_PRECISION  # lower by $1000 (in favour of the user)
    pnl = drift.perp_position_value_and_pnl(position, PerpMarket(0, 0, unrealized_pnl_maintenance_asset_weight=10000), price,
                                            MRT.MAINTENANCE)[1]
    assert pnl == 24282786896
    for mult, weight in ((1, 9516), (10, 7368), (100, 4299), (1000, 1855), (10000, 663), (800000, 78)):
        assert drift.unrealized_asset_weight(market, pnl * mult, MRT.INITIAL) == weight
    assert pnl * 800000 == 19426229516800000
    pmr_2, upnl_2, _, _ = drift.perp_position_value_and_pnl(position, market, price, MRT.INITIAL)
    assert drift.unrealized_asset_weight(market, upnl_2, MRT.INITIAL) == 10000
    assert upnl_2 == 100000000 == upnl
    assert pmr_2 == 12940573769
    assert pmr - pmr_2 == 614754098


def test_nroot():
    """math/margin/tests.rs::test::test_nroot: the integer square root of 0."""
    assert drift.size_premium_liability_weight(0, 1, 0, MARGIN_PRECISION, False) == 0


def test_usdc_not_1_with_perp_position():
    """math/margin/tests.rs::calculate_margin_requirement_and_total_collateral_and_liability_info::
    usdc_not_1_with_perp_position: a strict quote price (USDC $1.01, its 5-min TWAP 1.01 / 1.05 / 0.95)."""
    market = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000)
    position = PerpPosition(base_asset_amount=BASE_PRECISION)
    for twap, requirement, collateral in ((101 * 10_000, 10100000, 10100000), (105 * PRICE_PRECISION // 100, 10500000, 10100000),
                                          (95 * PRICE_PRECISION // 100, 10100000, 9500000)):
        c = drift.perp_account_margin(_usdc(10 * SPOT_BALANCE_PRECISION), position, market, 100 * PRICE_PRECISION, MRT.INITIAL,
                                      quote_price=101 * 10_000, quote_twap_5min=twap)
        assert (c.margin_requirement, c.total_collateral) == (requirement, collateral)


def test_negative_perp_pnl_liquidation_buffer():
    """math/margin/tests.rs::...::negative_perp_pnl_liquidation_buffer: $100 USDC, −$100 of pnl, 1 % buffer."""
    market = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000)
    c = drift.perp_account_margin(_usdc(100 * SPOT_BALANCE_PRECISION), PerpPosition(quote_asset_amount=-100 * QUOTE_PRECISION),
                                  market, 100 * PRICE_PRECISION, MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 100)
    assert c.total_collateral == 0
    assert c.total_collateral_plus_buffer == -QUOTE_PRECISION


# (test fn, case, user max_margin_ratio, position max_margin_ratio, margin type, expected requirement)
_CUSTOM = "calculate_margin_requirement_and_total_collateral"
CUSTOM_RATIO = [
    (f"{_CUSTOM}::user_perp_positions_custom_margin_ratio", "position .5x", 0, 2 * MARGIN_PRECISION, MRT.INITIAL, 20000000000),
    (f"{_CUSTOM}::user_perp_positions_custom_margin_ratio", "user 1x overrides", 4 * MARGIN_PRECISION, 2 * MARGIN_PRECISION,
     MRT.INITIAL, 40000000000),
    (f"{_CUSTOM}::user_and_position_max_margin_ratio_initial_vs_maintenance", "baseline", 0, 0, MRT.MAINTENANCE, 500000000),
    (f"{_CUSTOM}::user_and_position_max_margin_ratio_initial_vs_maintenance", "1: user higher, maintenance",
     4 * MARGIN_PRECISION, 2 * MARGIN_PRECISION, MRT.MAINTENANCE, 500000000),
    (f"{_CUSTOM}::user_and_position_max_margin_ratio_initial_vs_maintenance", "2: user higher, initial",
     4 * MARGIN_PRECISION, 2 * MARGIN_PRECISION, MRT.INITIAL, 40000000000),
    (f"{_CUSTOM}::user_and_position_max_margin_ratio_initial_vs_maintenance", "3: position higher, maintenance",
     MARGIN_PRECISION // 2, 4 * MARGIN_PRECISION, MRT.MAINTENANCE, 500000000),
    (f"{_CUSTOM}::user_and_position_max_margin_ratio_initial_vs_maintenance", "4: position higher, initial",
     MARGIN_PRECISION // 2, 4 * MARGIN_PRECISION, MRT.INITIAL, 40000000000),
]


@pytest.mark.parametrize("fn, case, user_ratio, position_ratio, mt, expected", CUSTOM_RATIO, ids=_ids(M_MARGIN, CUSTOM_RATIO))
def test_custom_margin_ratio(fn, case, user_ratio, position_ratio, mt, expected):
    market = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000)
    c = drift.perp_account_margin(_usdc(100 * SPOT_BALANCE_PRECISION), PerpPosition(base_asset_amount=100 * BASE_PRECISION),
                                  market, 100 * PRICE_PRECISION, mt, user_max_margin_ratio=user_ratio,
                                  position_max_margin_ratio=position_ratio)
    assert c.margin_requirement == expected


# ============================================================================ controller/liquidation/tests.rs
# The markets of the liquidate_perp tests: IM 10 %, MM 5 %, step 0.01 base, liquidator and IF fee 1 %.
_LIQ_MARKET = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                         liquidator_fee=LIQUIDATION_FEE_PRECISION // 100, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 100)
_NO_IF_MARKET = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                           liquidator_fee=LIQUIDATION_FEE_PRECISION // 100)
_HLM_MARKET = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, high_leverage_margin_ratio_initial=200,
                         high_leverage_margin_ratio_maintenance=100, order_step_size=10000000,
                         liquidator_fee=LIQUIDATION_FEE_PRECISION // 200, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 200)
_WHALE_MARKET = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, imf_factor=1000 * 10,
                           order_step_size=10000000, liquidator_fee=LIQUIDATION_FEE_PRECISION // 100,
                           if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 100)
_P100 = 100 * PRICE_PRECISION
_B, _Q = BASE_PRECISION, QUOTE_PRECISION


def _pos(base, quote, *, bids=0, asks=0, orders=0, entry=None, even=None):
    return PerpPosition(base_asset_amount=base, quote_asset_amount=quote,
                        quote_entry_amount=quote if entry is None else entry,
                        quote_break_even_amount=quote if even is None else even,
                        open_bids=bids, open_asks=asks, open_orders=orders)


def _account(deposit_scaled, position, **kw):
    return PerpAccount(quote_deposit=_usdc(deposit_scaled), position=position, **kw)


# One liquidate_perp call each: (module::test fn, account, market, oracle, liquidator max base, state (buffer, initial
# pct, duration), slot, expected: user base/quote/entry/break-even, liquidator base/quote, market total_liquidation_fee,
# still being liquidated)
LIQUIDATE_PERP = [
    ("liquidate_perp::successful_liquidation_long_perp", _account(0, _pos(_B, -150 * _Q, bids=_B, orders=1)),
     _LIQ_MARKET, _P100, _B, (10, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=0, quote=-51 * _Q, liq_base=_B, liq_quote=-99 * _Q, if_fee=0)),
    ("liquidate_perp::successful_liquidation_short_perp", _account(0, _pos(-_B, 50 * _Q, asks=-_B, orders=1)),
     _LIQ_MARKET, _P100, _B, (10, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=0, quote=-51 * _Q, liq_base=-_B, liq_quote=101 * _Q, if_fee=0)),
    ("liquidate_perp::successful_liquidation_up_to_max_liquidator_base_asset_amount",
     _account(0, _pos(_B, -150 * _Q, bids=_B, orders=1)), _LIQ_MARKET, _P100, _B // 2,
     (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=_B // 2, quote=-100500000, entry=-75000000, even=-75500000, liq_base=_B // 2, liq_quote=-49500000, if_fee=0)),
    ("liquidate_perp::successful_liquidation_to_cover_margin_shortage",
     _account(5 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1)), _LIQ_MARKET, _P100, 10 * _B,
     (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=200000000, quote=-23600000, entry=-20000000, even=-23600000, liq_base=1800000000, liq_quote=-178200000,
          if_fee=1800000, being_liquidated=False)),
    ("liquidate_perp::successful_liquidation_long_perp_whale_imf_factor",
     _account(150 * 10000 * SPOT_BALANCE_PRECISION, _pos(_B * 10000, -150 * _Q * 10000, bids=_B, orders=1)),
     _WHALE_MARKET, _P100, _B, (10, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=9999000000000, quote=-1499902000000, liq_base=_B, liq_quote=-99 * _Q, if_fee=_Q)),
    ("liquidate_perp::liquidate_user_with_step_size_position",
     _account(6 * SPOT_BALANCE_PRECISION // 11, _pos(_B // 100, -150 * _Q // 100)), _LIQ_MARKET, _P100, _B // 100,
     (10, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=0, quote=-52 * _Q // 100, liq_base=_B // 100, liq_quote=-99 * _Q // 100, if_fee=_Q // 100)),
    ("liquidate_perp::liquidation_accelerated",
     _account(5 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1)), _LIQ_MARKET, _P100, 10 * _B,
     (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION // 10, 150), 1,
     dict(base=200000000, being_liquidated=False, last_active_slot=1, margin_freed=0)),
    ("liquidate_perp::partial_liquidation_oracle_down_20_pct",
     _account(10 * SPOT_BALANCE_PRECISION, _pos(_B, -100 * _Q)), _LIQ_MARKET, 80 * PRICE_PRECISION, 10 * _B,
     (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION // 10, 150), 1,
     dict(base=0, last_active_slot=1, margin_freed=4784000)),
    ("liquidate_perp::successful_liquidation_half_of_if_fee",  # .5% * 100 * .95 = $0.475
     _account(15 * SPOT_BALANCE_PRECISION // 10, _pos(-_B, 100 * _Q)), _LIQ_MARKET, _P100, _B,
     (10, LIQUIDATION_PCT_PRECISION, 150), 0, dict(if_fee=475000)),
    ("liquidate_perp::successful_liquidation_portion_of_if_fee",
     _account(113838792 * 1000, _pos(-299400000000, 6959294318)), _LIQ_MARKET, 23244136, 300 * _B,
     (200, LIQUIDATION_PCT_PRECISION, 150), 0, dict(if_fee=41787043, being_liquidated=False)),
    ("liquidate_perp::successful_liquidate_perp_with_fill_long_high_leverage",
     _account(3 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1), high_leverage_mode=True),
     _HLM_MARKET, _P100, 10 * _B, (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=500000000, quote=-51500000, entry=-50000000, even=-51500000, liq_base=1500000000, liq_quote=-149250000,
          if_fee=750000, being_liquidated=False)),
    # liquidate_isolated_perp: the same scenarios with the collateral in the position's isolated balance
    ("liquidate_isolated_perp::successful_liquidation_long_perp",
     _account(0, _pos(_B, -150 * _Q, bids=_B, orders=1), isolated=True), _LIQ_MARKET, _P100, _B,
     (10, LIQUIDATION_PCT_PRECISION, 150), 0, dict(base=0, quote=-51 * _Q, liq_base=_B, liq_quote=-99 * _Q, if_fee=0)),
    ("liquidate_isolated_perp::successful_liquidation_short_perp",
     _account(0, _pos(-_B, 50 * _Q, asks=-_B, orders=1), isolated=True), _LIQ_MARKET, _P100, _B,
     (10, LIQUIDATION_PCT_PRECISION, 150), 0, dict(base=0, quote=-51 * _Q, liq_base=-_B, liq_quote=101 * _Q, if_fee=0)),
    ("liquidate_isolated_perp::successful_liquidation_to_cover_margin_shortage",
     _account(5 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1), isolated=True), _LIQ_MARKET, _P100,
     10 * _B, (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION, 150), 0,
     dict(base=200000000, quote=-23600000, entry=-20000000, even=-23600000, liq_base=1800000000, liq_quote=-178200000,
          if_fee=1800000)),
    ("liquidate_isolated_perp::liquidation_over_multiple_slots_takes_one",
     _account(50 * SPOT_BALANCE_PRECISION, _pos(20 * _B, -2000 * _Q, bids=10 * _B, orders=1), isolated=True), _LIQ_MARKET,
     _P100, 20 * _B, (MARGIN_PRECISION // 50, LIQUIDATION_PCT_PRECISION // 10, 150), 1,
     dict(base=2000000000, being_liquidated=False)),
    ("liquidate_isolated_perp::successful_liquidation_half_of_if_fee",
     _account(15 * SPOT_BALANCE_PRECISION // 10, _pos(-_B, 100 * _Q), isolated=True), _LIQ_MARKET, _P100, _B,
     (10, LIQUIDATION_PCT_PRECISION, 150), 0, dict(if_fee=475000)),
    ("liquidate_isolated_perp::successful_liquidation_portion_of_if_fee",
     _account(113838792 * 1000, _pos(-299400000000, 6959294318), isolated=True), _LIQ_MARKET, 23244136, 300 * _B,
     (200, LIQUIDATION_PCT_PRECISION, 150), 0, dict(if_fee=41787043, being_liquidated=False)),
]


@pytest.mark.parametrize("fn, account, market, oracle, max_base, state, slot, expected", LIQUIDATE_PERP,
                         ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_PERP])
def test_liquidate_perp(fn, account, market, oracle, max_base, state, slot, expected):
    buffer, pct, duration = state
    out = drift.liquidate_perp_account(account, market, oracle, max_base, slot=slot, liquidation_margin_buffer_ratio=buffer,
                                       initial_pct_to_liquidate=pct, liquidation_duration=duration)
    user, liq = out.account, out.liquidation
    got = dict(base=user.position.base_asset_amount, quote=user.position.quote_asset_amount,
               entry=user.position.quote_entry_amount, even=user.position.quote_break_even_amount,
               liq_base=liq.liquidator_position.base_asset_amount, liq_quote=liq.liquidator_position.quote_asset_amount,
               if_fee=liq.if_fee, being_liquidated=user.being_liquidated, last_active_slot=user.last_active_slot,
               margin_freed=user.liquidation_margin_freed)
    assert {k: got[k] for k in expected} == expected
    # every test also asserts the orders were cancelled
    assert (user.position.open_orders, user.position.open_bids, user.position.open_asks) == (0, 0, 0)


def test_liquidation_leaves_the_user_exactly_at_the_buffered_requirement():
    """controller/liquidation/tests.rs::liquidate_perp::successful_liquidation_to_cover_margin_shortage (and
    liquidate_isolated_perp's, and successful_liquidate_perp_with_fill_long_high_leverage): after the transfer the
    collateral equals the buffered requirement, a margin ratio of MM + buffer (700; HLM 100 + 200 = 300)."""
    for account, market, ratio in ((_account(5 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1)), _LIQ_MARKET, 700),
                                   (_account(5 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1), isolated=True),
                                    _LIQ_MARKET, 700),
                                   (_account(3 * SPOT_BALANCE_PRECISION, _pos(2 * _B, -200 * _Q, bids=_B, orders=1),
                                             high_leverage_mode=True), _HLM_MARKET, 300)):
        out = drift.liquidate_perp_account(account, market, _P100, 10 * _B, liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50,
                                           liquidation_duration=150)
        c = drift.perp_account_margin(out.account.quote_deposit, out.account.position, market, _P100, MRT.MAINTENANCE,
                                      margin_buffer=MARGIN_PRECISION // 50, high_leverage_mode=account.high_leverage_mode)
        value = drift.base_asset_value(out.account.position.base_asset_amount, _P100)
        assert abs(c.total_collateral) * MARGIN_PRECISION // value == ratio
        if not account.high_leverage_mode:
            assert abs(c.total_collateral) == c.margin_requirement_plus_buffer


def test_whale_imf_factor_margin_requirements():
    """controller/liquidation/tests.rs::liquidate_perp::successful_liquidation_long_perp_whale_imf_factor: the
    maintenance requirement with IMF 0.001 and 0.01, and whether the user is being liquidated at each."""
    position = _pos(_B * 10000, -150 * _Q * 10000, bids=_B, orders=1)
    deposit = _usdc(150 * 10000 * SPOT_BALANCE_PRECISION)
    m1 = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, imf_factor=1000, order_step_size=10000000)
    m2 = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, imf_factor=10000, order_step_size=10000000)
    assert drift.perp_account_margin(deposit, position, m1, _P100, MRT.MAINTENANCE).margin_requirement == 140014010000
    assert drift.perp_account_margin(deposit, position, m1, _P100, MRT.MAINTENANCE).meets_margin_requirement_with_buffer  # buffer 0
    assert drift.perp_account_margin(deposit, position, m2, _P100, MRT.MAINTENANCE).margin_requirement == 1040104010000
    assert not drift.perp_account_margin(deposit, position, m2, _P100, MRT.MAINTENANCE,
                                         margin_buffer=MARGIN_PRECISION // 50).meets_margin_requirement_with_buffer


def test_clear_being_liquidated_when_position_fully_liquidated():
    """liquidate_perp::clear_being_liquidated_when_position_fully_liquidated: no position left, $100 USDC → leaves."""
    account = _account(100 * SPOT_BALANCE_PRECISION, PerpPosition(), being_liquidated=True)
    out = drift.liquidate_perp_account(account, _LIQ_MARKET, _P100, _B, liquidation_margin_buffer_ratio=10, liquidation_duration=150)
    assert not out.account.being_liquidated and out.liquidation is None


def test_successful_liquidation_by_canceling_order():
    """liquidate_perp::successful_liquidation_by_canceling_order: cancelling a 1000-base bid suffices."""
    account = _account(50 * SPOT_BALANCE_PRECISION, _pos(_B, 100 * _Q, bids=1000 * _B, orders=1))
    out = drift.liquidate_perp_account(account, _NO_IF_MARKET, _P100, _B, liquidation_margin_buffer_ratio=255,
                                       liquidation_duration=150)
    assert out.account.position.base_asset_amount == _B
    assert (out.account.position.open_orders, out.account.position.open_bids) == (0, 0)
    assert out.liquidation is None  # liquidator.perp_positions[0].base_asset_amount == 0


def test_high_leverage_case_through_the_account_flow():
    """liquidate_perp::successful_liquidate_perp_with_fill_long_high_leverage run on a ``SpotAccount`` through
    :func:`drift_spot.liquidate_perp_in_account` (the flow :func:`drift.liquidate_perp_account` adapts): 3 USDC (slot 0)
    and the 2-base long with a 1-base bid, the user in high-leverage mode; upstream's expected position, liquidator
    position and IF fee."""
    usdc = SpotMarket(decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION, maintenance_asset_weight=SPOT_WEIGHT_PRECISION)
    user = SpotAccount((drift.SpotPosition(0, 3 * SPOT_BALANCE_PRECISION),), (_pos(2 * _B, -200 * _Q, bids=_B, orders=1),),
                       high_leverage_mode=True)
    out = drift_spot.liquidate_perp_in_account(
        user, 0, 10 * _B, spot_markets={0: usdc}, spot_prices={0: PRICE_PRECISION}, perp_markets={0: _HLM_MARKET},
        perp_prices={0: _P100}, liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50, liquidation_duration=150)
    p, liq = out.user.perp_positions[0], out.liquidation
    assert (p.base_asset_amount, p.quote_asset_amount, p.quote_entry_amount, p.quote_break_even_amount) == (
        500000000, -51500000, -50000000, -51500000)
    assert (liq.liquidator_position.base_asset_amount, liq.liquidator_position.quote_asset_amount, liq.if_fee) == (
        1500000000, -149250000, 750000)
    assert not out.user.being_liquidated


def test_isolated_account_adapter_status_and_balance():
    """Not an upstream case (ramparts' check of the :class:`PerpAccount` adapter in the isolated mode): an isolated
    position flagged as being liquidated that is already closed leaves liquidation with no transfer (Drift keeps a
    flagged position in the margin calculation, ``PerpPosition::is_available``), as the cross account of
    liquidate_perp::clear_being_liquidated_when_position_fully_liquidated does; an isolated balance below 0 is refused."""
    account = _account(0, PerpPosition(), being_liquidated=True, isolated=True)
    out = drift.liquidate_perp_account(account, _LIQ_MARKET, _P100, _B, liquidation_margin_buffer_ratio=10, liquidation_duration=150)
    assert not out.account.being_liquidated and out.liquidation is None
    with pytest.raises(InvalidInput):
        drift.liquidate_perp_account(PerpAccount(-_Q, _pos(_B, -150 * _Q), isolated=True), _LIQ_MARKET, _P100, _B)


LIMIT_PRICE_FAILURES = [
    ("liquidate_perp::fail_liquidating_long_perp_due_to_limit_price", _pos(_B, -150 * _Q, bids=_B, orders=1),
     50 * PRICE_PRECISION),
    ("liquidate_perp::fail_liquidating_short_perp_due_to_limit_price", _pos(-_B, 50 * _Q, asks=-_B, orders=1),
     150 * PRICE_PRECISION),
]


@pytest.mark.parametrize("fn, position, limit", LIMIT_PRICE_FAILURES, ids=[_src(C_LIQ, r[0]) for r in LIMIT_PRICE_FAILURES])
def test_liquidate_perp_limit_price(fn, position, limit):
    with pytest.raises(Rejected) as e:
        drift.liquidate_perp_account(_account(0, position), _LIQ_MARKET, _P100, _B, limit_price=limit,
                                     liquidation_margin_buffer_ratio=10, liquidation_duration=150)
    assert e.value.reason == "LiquidationDoesntSatisfyLimitPrice"


def test_liquidation_over_multiple_slots():
    """liquidate_perp::liquidation_over_multiple_slots: initial pct 10 %, duration 150 slots, four calls."""
    account = _account(50 * SPOT_BALANCE_PRECISION, _pos(20 * _B, -2000 * _Q, bids=10 * _B, orders=1))
    kw = dict(liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50, initial_pct_to_liquidate=LIQUIDATION_PCT_PRECISION // 10,
              liquidation_duration=150)

    def shortage_unbuffered_collateral(a):  # the test's |margin_requirement_plus_buffer − total_collateral|
        c = drift.perp_account_margin(a.quote_deposit, a.position, _LIQ_MARKET, _P100, MRT.MAINTENANCE,
                                      margin_buffer=MARGIN_PRECISION // 50)
        return abs(c.margin_requirement_plus_buffer - c.total_collateral)

    a = drift.liquidate_perp_account(account, _LIQ_MARKET, _P100, 10 * _B, slot=1, **kw).account
    assert (a.last_active_slot, a.liquidation_margin_freed, a.position.base_asset_amount) == (1, 70010000, 20000000000)
    a = drift.liquidate_perp_account(a, _LIQ_MARKET, _P100, 10 * _B, slot=76, **kw).account  # ~60 % done
    assert (a.last_active_slot, a.liquidation_margin_freed, a.position.base_asset_amount) == (1, 95802000, 14800000000)
    assert a.liquidation_margin_freed * PRICE_PRECISION // (shortage_unbuffered_collateral(a) + a.liquidation_margin_freed) == 599504
    a = drift.liquidate_perp_account(a, _LIQ_MARKET, _P100, 100 * _B, slot=76, **kw).account  # same slot, still ~60 %
    assert (a.last_active_slot, a.liquidation_margin_freed, a.position.base_asset_amount) == (1, 96000400, 14760000000)
    a = drift.liquidate_perp_account(a, _LIQ_MARKET, _P100, 100 * _B, slot=101, **kw).account  # ~76 %
    assert (a.last_active_slot, a.liquidation_margin_freed, a.position.base_asset_amount) == (1, 122486800, 9420000000)
    assert a.liquidation_margin_freed * PRICE_PRECISION // (shortage_unbuffered_collateral(a) + a.liquidation_margin_freed) == 767524
    a = drift.liquidate_perp_account(a, _LIQ_MARKET, _P100, 100 * _B, slot=136, **kw).account  # ~100 %
    assert (a.being_liquidated, a.last_active_slot, a.liquidation_margin_freed, a.position.base_asset_amount) == (
        False, 1, 0, 1910000000)


# set_user_status_to_being_liquidated: (test fn, account, oracle, expected error or None)
SET_STATUS = [
    ("set_user_status_to_being_liquidated::failure_sufficient_collateral",
     _account(1000000000000, _pos(_B, 100 * _Q, bids=_B, orders=1)), 200 * PRICE_PRECISION, "SufficientCollateral"),
    ("set_user_status_to_being_liquidated::failure_from_user_statuses", _account(0, PerpPosition(), bankrupt=True), _P100,
     "UserBankrupt"),
    ("set_user_status_to_being_liquidated::failure_from_user_statuses", _account(0, PerpPosition(), being_liquidated=True),
     _P100, "UserIsBeingLiquidated"),
    ("set_user_status_to_being_liquidated::success", _account(0, _pos(_B, -150 * _Q, bids=_B, orders=1)), _P100, None),
]


@pytest.mark.parametrize("fn, account, oracle, error", SET_STATUS, ids=[_src(C_LIQ, r[0], r[3] or "") for r in SET_STATUS])
def test_set_user_status_to_being_liquidated(fn, account, oracle, error):
    if error is None:
        assert drift.set_user_status_to_being_liquidated(account, _LIQ_MARKET, oracle, 0).being_liquidated
    else:
        with pytest.raises(Rejected) as e:
            drift.set_user_status_to_being_liquidated(account, _LIQ_MARKET, oracle, 0)
        assert e.value.reason == error


# resolve_perp_bankruptcy: (test fn, fee pool tokens, expected cumulative funding long/short, market social loss,
#  affected long's and short's quote after settling funding, their cumulative_perp_funding)
RESOLVE_PERP_BANKRUPTCY = [
    ("resolve_perp_bankruptcy::successful_resolve_perp_bankruptcy", 0, 1010, -1010, 100000000, -550, 450, -50),
    ("resolve_perp_bankruptcy::successful_resolve_perp_bankruptcy_with_fee_pool", _usdc(50 * SPOT_BALANCE_PRECISION),
     1005, -1005, 50000000, -525, 475, -25),
]


@pytest.mark.parametrize("fn, pool, long_rate, short_rate, social, long_quote, short_quote, funding", RESOLVE_PERP_BANKRUPTCY,
                         ids=[_src(C_LIQ, r[0]) for r in RESOLVE_PERP_BANKRUPTCY])
def test_resolve_perp_bankruptcy(fn, pool, long_rate, short_rate, social, long_quote, short_quote, funding):
    r = drift.resolve_perp_bankruptcy(-100 * _Q, insurance_fund_vault_balance=0, quote_max_insurance=0, fee_pool_tokens=pool,
                                      base_asset_amount_long=5 * _B, base_asset_amount_short=-5 * _B,
                                      cumulative_funding_rate_long=1000 * FUNDING_RATE_PRECISION,
                                      cumulative_funding_rate_short=-1000 * FUNDING_RATE_PRECISION)
    assert r.if_payment == 0 and r.fee_pool_payment == pool
    assert (r.cumulative_funding_rate_long, r.cumulative_funding_rate_short) == (long_rate * FUNDING_RATE_PRECISION,
                                                                                   short_rate * FUNDING_RATE_PRECISION)
    assert -r.loss_to_socialize == social  # market.amm.total_social_loss
    assert -r.loss == 100000000  # user.total_social_loss; the user's quote amount is cleared to 0
    assert -150 * _Q - r.loss == -50 * _Q  # market.amm.quote_asset_amount after the user's quote is cleared
    # the affected users settle funding (controller/funding.rs::settle_funding_payment)
    market = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                        cumulative_funding_rate_long=r.cumulative_funding_rate_long,
                        cumulative_funding_rate_short=r.cumulative_funding_rate_short)
    for base, quote, last, rate, expected in ((5 * _B, -500 * _Q, 1000, long_rate, long_quote),
                                              (-5 * _B, 500 * _Q, -1000, short_rate, short_quote)):
        position = PerpPosition(base_asset_amount=base, quote_asset_amount=quote, quote_entry_amount=quote,
                                quote_break_even_amount=quote, open_bids=_B, last_cumulative_funding_rate=last * FUNDING_RATE_PRECISION)
        after, payment = drift.settle_funding_payment(position, market)
        assert payment == funding * _Q  # user.cumulative_perp_funding
        assert (after.quote_asset_amount, after.quote_break_even_amount, after.quote_entry_amount) == (
            expected * _Q, expected * _Q, quote)
        assert after.last_cumulative_funding_rate == rate * FUNDING_RATE_PRECISION


def test_resolve_spot_bankruptcy_deposit_interest():
    """controller/liquidation/tests.rs::resolve_spot_bankruptcy::successful_resolve_spot_bankruptcy: the depositors
    absorb a $100 borrow through the cumulative deposit interest (1 → 0.9), leaving 900 of 1000 USDC deposited."""
    market = SpotMarket(decimals=6, deposit_balance=1000 * SPOT_BALANCE_PRECISION, borrow_balance=100 * SPOT_BALANCE_PRECISION)
    borrow = drift.spot_token_amount(100 * SPOT_BALANCE_PRECISION, market, borrow=True)
    delta = drift.cumulative_deposit_interest_delta_to_resolve_bankruptcy(borrow, market)
    after = SpotMarket(**{**market.__dict__, "cumulative_deposit_interest": market.cumulative_deposit_interest - delta})
    assert after.cumulative_deposit_interest == 9 * SPOT_CUMULATIVE_INTEREST_PRECISION // 10
    assert drift.spot_token_amount(after.deposit_balance, after) == 900 * QUOTE_PRECISION
    assert borrow == 100 * QUOTE_PRECISION  # total_social_loss, total_quote_social_loss


# ============================================================================ math/funding/tests.rs
def _test_funding_rate(mark_twap: int, oracle_twap: int, funding_period: int) -> int:
    """The tests' own ``calculate_funding_rate`` (3 % clamp, no offset), Rust's truncating division."""
    adjustment = 24 * 3600 // funding_period
    spread = mark_twap - oracle_twap
    cap = int(oracle_twap / 33) if oracle_twap >= 0 else -(-oracle_twap // 33)
    clamped = max(-cap, min(spread, cap))
    q = abs(clamped * 1000) // adjustment
    return q if clamped >= 0 else -q


BALANCED_FUNDING = [
    ("balanced_funding_test", f"loop 1 count {c}", 32_513_929 + c, 12295081967, 1000, 1001, c, -2709458) for c in (0, 1)
] + [
    ("balanced_funding_test", f"loop 2 count {c}", 19_902_513_929 + c, 7845926098328, 999, 888, c, 22_314_939_833) for c in (0, 1)
]


@pytest.mark.parametrize("fn, case, px, oi, mark_ratio, oracle_ratio, count, expected", BALANCED_FUNDING, ids=_ids(M_FUND, BALANCED_FUNDING))
def test_balanced_funding(fn, case, px, oi, mark_ratio, oracle_ratio, count, expected):
    rate = _test_funding_rate(px * 999 // 1000, px * oracle_ratio // 1000, 3600)
    assert rate == expected
    long_rate, short_rate, _, _ = drift.funding_rate_long_short(
        rate, base_asset_amount_with_amm=0, base_asset_amount_long=oi, base_asset_amount_short=-oi,
        total_fee_minus_distributions=count * 1000000783, total_exchange_fee=(count * 1000000783) // 2888)
    assert (long_rate, short_rate) == (expected, expected)


def test_capped_sym_funding():
    """math/funding/tests.rs::capped_sym_funding_test: more shorts than longs, positive funding, a third of the fee pool
    too small → the shorts' rate is cut; then more longs than shorts → the AMM earns funding."""
    rate = _test_funding_rate(50 * PRICE_PRECISION, 49 * PRICE_PRECISION, 3600)
    assert rate == 41666666
    long_rate, short_rate, _, tfmd = drift.funding_rate_long_short(
        rate, base_asset_amount_with_amm=-12295081967, base_asset_amount_long=12295081967,
        base_asset_amount_short=-12295081967 * 2, total_fee_minus_distributions=QUOTE_PRECISION // 2,
        total_exchange_fee=QUOTE_PRECISION // 2)
    assert long_rate == rate and long_rate > short_rate
    assert short_rate == 24222164
    assert tfmd == 416667  # only a third of the fee pool spent
    long_rate, short_rate, _, tfmd = drift.funding_rate_long_short(
        rate, base_asset_amount_with_amm=12295081967, base_asset_amount_long=12295081967 * 2,
        base_asset_amount_short=-12295081967, total_fee_minus_distributions=QUOTE_PRECISION // 2,
        total_exchange_fee=QUOTE_PRECISION // 2)
    assert long_rate == rate == short_rate
    assert tfmd > QUOTE_PRECISION // 2 and tfmd == 1012295  # made over $.50


MAX_FUNDING = [("max_funding_rates", "HighlySpeculative (default) tier", ContractTier.HIGHLY_SPECULATIVE, 4900000),
               ("max_funding_rates", "tier B", ContractTier.B, 1484848)]


@pytest.mark.parametrize("fn, case, tier, expected", MAX_FUNDING, ids=_ids(M_FUND, MAX_FUNDING))
def test_max_price_divergence_for_funding_rate(fn, case, tier, expected):
    assert drift.max_price_divergence_for_funding_rate(tier, 49 * PRICE_PRECISION) == expected


# max_funding_rates / unsettled_funding_pnl: the test market (reserves 512.295 / 488 base, sqrt_k 500, peg $50, mark TWAP
# $50, oracle TWAP $49, 1 h funding period), State's oracle rails (stale for AMM 10 slots, margin 120, confidence 1000,
# too volatile 5x) and the Pyth oracle get_pyth_price(51, 6) read at slot 0 ($51, no confidence, no delay).
_FUND_RAILS = drift_amm.OracleGuardRails(validity=drift_amm.ValidityGuardRails(
    slots_before_stale_for_amm=10, slots_before_stale_for_margin=120, confidence_interval_max_size=1000, too_volatile_ratio=5))
_FUND_ORACLE = drift_amm.OraclePriceData(51 * PRICE_PRECISION)


def _funding_market(base_asset_amount_with_amm: int, tier=ContractTier.HIGHLY_SPECULATIVE, **amm) -> drift_amm.AmmPerpMarket:
    return drift_amm.AmmPerpMarket(amm=drift_amm.AMM(
        base_asset_reserve=512295081967, quote_asset_reserve=488 * BASE_PRECISION, sqrt_k=500 * BASE_PRECISION,
        peg_multiplier=50000000, base_asset_amount_with_amm=base_asset_amount_with_amm, base_asset_amount_long=12295081967,
        base_asset_amount_short=-12295081967 * 2, total_exchange_fee=QUOTE_PRECISION // 2,
        total_fee_minus_distributions=QUOTE_PRECISION * 99999, last_mark_price_twap=50 * PRICE_PRECISION,
        last_oracle_price_twap=49 * PRICE_PRECISION, funding_period=3600, **amm), contract_tier=tier)


def test_max_funding_rates_update_funding_rate():
    """math/funding/tests.rs::max_funding_rates, its update_funding_rate call (tier B, now 0, slot 0, funding not
    paused): no funding update — the first hour has not passed and the reserve price is 100 % off the (zero) 5-min
    oracle TWAP."""
    market = _funding_market(-12295081967, ContractTier.B, base_asset_amount_with_unsettled_lp=-500 * BASE_PRECISION)
    _, did_succeed = drift_amm.update_funding_rate(market, _FUND_ORACLE, 0, 0, _FUND_RAILS, False, None)
    assert not did_succeed


def test_unsettled_funding_pnl():
    """math/funding/tests.rs::unsettled_funding_pnl: before the hour the funding update waits and block_operation blocks
    (the 5-min oracle TWAP is 0); an hour (7200 slots) later _update_amm (MM oracle: the exchange price one slot older,
    default validity) moves the oracle TWAP to $51 and the update slot, funding is no longer blocked, and
    update_funding_rate pays negative funding (oracle TWAP above mark) with the AMM, short 512 of the imbalance,
    earning $71.72 from the users."""
    market = _funding_market(-12295081967 - BASE_PRECISION * 500)
    assert drift_amm.reserve_price(market.amm) == 47628800
    assert market.amm.net_unsettled_funding_pnl == 0
    now, slot = 0, 0
    assert drift_amm.on_the_hour_update(now, market.amm.last_funding_rate_ts, market.amm.funding_period) == 3600
    assert drift_amm.on_the_hour_update(now + 3600, market.amm.last_funding_rate_ts, market.amm.funding_period) == 0
    mm = drift_amm.mm_oracle_price_data(_FUND_ORACLE.price, _FUND_ORACLE.delay + 1, 0, drift_amm.OracleValidity.VALID,
                                        _FUND_ORACLE)
    assert drift_amm.block_operation(market, _FUND_ORACLE, _FUND_RAILS, drift_amm.reserve_price(market.amm), slot) is True
    assert market.amm.last_update_slot == slot
    now, slot = now + 3600, slot + 3600 * 2
    market, cost = drift_amm.update_amm(market, mm, _FUND_RAILS, now, slot)
    assert cost == 0
    assert market.amm.last_update_slot == slot
    assert market.amm.last_mark_price_twap == 50000000
    assert market.amm.last_oracle_price_twap == 51000000
    assert drift_amm.block_operation(market, _FUND_ORACLE, _FUND_RAILS, drift_amm.reserve_price(market.amm), slot) is False
    assert market.amm.total_fee_minus_distributions == 99999000000
    market, did_succeed = drift_amm.update_funding_rate(market, _FUND_ORACLE, now, slot, _FUND_RAILS, False, None)
    a = market.amm
    assert did_succeed
    assert a.last_mark_price_twap == 47629736
    assert a.last_mark_price_twap > drift_amm.reserve_price(a)
    assert a.last_oracle_price_twap == 51000000
    assert (a.cumulative_funding_rate_long, a.cumulative_funding_rate_short) == (-140002666, -140002666)
    assert a.last_funding_rate == -140002666
    assert a.last_24h_avg_funding_rate == int(-140002666 / 24) + 1  # Rust's -140002666 / 24 truncates
    assert a.last_funding_rate_ts == now
    assert a.net_revenue_since_last_funding == 0
    assert a.total_fee_minus_distributions == 100070722677
    assert a.total_fee == 0
    assert a.net_unsettled_funding_pnl != 0
    assert a.net_unsettled_funding_pnl == -71722677


def test_unsettled_funding_pnl_rate():
    """math/funding/tests.rs::unsettled_funding_pnl, the rate step alone, from the TWAPs the test asserts after
    update_funding_rate (mark 47,629,736, oracle 51,000,000): the rate (offset oracle/5000, HighlySpeculative clamp
    oracle/10, /24) and the imbalanced market's funding revenue."""
    rate = drift.funding_rate(47629736, 51000000, ContractTier.HIGHLY_SPECULATIVE, 3600)
    long_rate, short_rate, revenue, tfmd = drift.funding_rate_long_short(
        rate, base_asset_amount_with_amm=-12295081967 - BASE_PRECISION * 500, base_asset_amount_long=12295081967,
        base_asset_amount_short=-12295081967 * 2, total_fee_minus_distributions=QUOTE_PRECISION * 99999,
        total_exchange_fee=QUOTE_PRECISION // 2)
    assert (long_rate, short_rate) == (-140002666, -140002666)  # cumulative_funding_rate_long/short, last_funding_rate
    assert tfmd == 100070722677  # 71.722677 gain
    assert -revenue == -71722677  # net_unsettled_funding_pnl: users up


# ============================================================================ math/bankruptcy/tests.rs
# (test fn, spot balances (signed), perp positions, isolated?, expected)
BANKRUPTCY = [
    ("user_has_position_with_base", (), (PerpPosition(base_asset_amount=1),), False),
    ("user_has_position_with_positive_quote", (), (PerpPosition(quote_asset_amount=1),), False),
    ("user_with_deposit", (1,), (), False),
    ("user_has_position_with_negative_quote", (), (PerpPosition(quote_asset_amount=-1),), True),
    ("user_with_borrow", (-1,), (), True),
    ("user_with_empty_position_and_balances", (), (), False),
]


@pytest.mark.parametrize("fn, spot, perps, expected", BANKRUPTCY, ids=[_src(M_BANK, r[0]) for r in BANKRUPTCY])
def test_is_cross_margin_bankrupt(fn, spot, perps, expected):
    assert drift.is_cross_margin_bankrupt(spot, perps) is expected


def test_user_with_isolated_position():
    """math/bankruptcy/tests.rs::user_with_isolated_position: isolated positions are left out of the cross check (so
    the cross account of only an isolated position is never bankrupt); the isolated check itself."""
    big = 10**18
    assert not drift.is_cross_margin_bankrupt((), ())  # each variant: the only position is isolated, skipped
    assert not drift.is_isolated_margin_bankrupt(PerpPosition(), big)  # isolated balance
    assert not drift.is_isolated_margin_bankrupt(PerpPosition(base_asset_amount=big), 0)
    assert not drift.is_isolated_margin_bankrupt(PerpPosition(open_orders=1), 0)
    assert not drift.is_isolated_margin_bankrupt(PerpPosition(quote_asset_amount=big), 0)
    assert drift.is_isolated_margin_bankrupt(PerpPosition(quote_asset_amount=-big), 0)


# ============================================================================ what is not ported
NOT_PORTED: dict[str, str] = {}  # every assertion of the tests above is ported


def test_not_ported_is_documented():
    assert isinstance(NOT_PORTED, dict)
    assert all(reason for reason in NOT_PORTED.values())


# ============================================================================ math/margin/tests.rs: multi-position accounts
# The account tests' markets: USDC (market 0, oracle QuoteAsset = $1) and SOL (market 1, Pyth $100, 9 decimals,
# asset weights 0.8 / 0.9, liability weights 1.2 / 1.1); the SOL perp (margin 10 % / 5 %, oracle $100). Balances are
# the tests' scaled balances (1e9) at cumulative interest 1e10.
_USDC_M = SpotMarket(market_index=0, decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION,
                     maintenance_asset_weight=SPOT_WEIGHT_PRECISION)
_SOL_M = SpotMarket(market_index=1, decimals=9, initial_asset_weight=8 * SPOT_WEIGHT_PRECISION // 10,
                    maintenance_asset_weight=9 * SPOT_WEIGHT_PRECISION // 10,
                    initial_liability_weight=12 * SPOT_WEIGHT_PRECISION // 10,
                    maintenance_liability_weight=11 * SPOT_WEIGHT_PRECISION // 10)
_SPOT_MARKETS = {0: _USDC_M, 1: _SOL_M}
_SPOT_PRICES = {0: PRICE_PRECISION, 1: 100 * PRICE_PRECISION}
_SOL_PERP = {0: PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000)}
_SB = SPOT_BALANCE_PRECISION
_MCTRM = "calculate_margin_requirement_and_total_collateral"
_USDC_100 = drift.SpotPosition(0, 100 * _SB)
_SOL_BORROW_100 = drift.SpotPosition(1, 100 * _SB, borrow=True)
_PERP_100 = PerpPosition(base_asset_amount=100 * BASE_PRECISION)

# (test fn, case, spot positions, perp positions, margin type, account_margin kwargs, expected (attribute → value))
ACCOUNT_MARGIN = [
    (f"{_MCTRM}::usdc_deposit_and_5x_sol_bid", "", (drift.SpotPosition(0, 10000 * _SB), drift.SpotPosition(
        1, 0, open_orders=1, open_bids=500 * 10**9)), (), MRT.INITIAL, {},
     dict(margin_requirement=50000010000, total_collateral=50000000000)),
    (f"{_MCTRM}::usdc_deposit_and_5x_sol_ask", "", (drift.SpotPosition(0, 10000 * _SB), drift.SpotPosition(
        1, 0, open_orders=1, open_asks=-500 * 10**9)), (), MRT.INITIAL, {},
     dict(margin_requirement=60000010000, total_collateral=60000000000)),
    (f"{_MCTRM}::sol_deposit_and_5x_sol_ask", "", (drift.SpotPosition(1, 500 * _SB, open_orders=1,
                                                                       open_asks=-3000 * 10**9),), (), MRT.INITIAL, {},
     dict(margin_requirement=300000010000, total_collateral=300000000000)),
    (f"{_MCTRM}::user_custom_margin_ratio", "user 2x (initial)", (_USDC_100, _SOL_BORROW_100), (_PERP_100,), MRT.INITIAL,
     dict(user_max_margin_ratio=2 * MARGIN_PRECISION), dict(margin_requirement=50000000000)),
    (f"{_MCTRM}::user_custom_margin_ratio", "user 1x (initial)", (_USDC_100, _SOL_BORROW_100), (_PERP_100,), MRT.INITIAL,
     dict(user_max_margin_ratio=MARGIN_PRECISION), dict(margin_requirement=30000000000)),
    (f"{_MCTRM}::user_custom_margin_ratio", "user 0.5x (initial)", (_USDC_100, _SOL_BORROW_100), (_PERP_100,), MRT.INITIAL,
     dict(user_max_margin_ratio=MARGIN_PRECISION // 2), dict(margin_requirement=20000000000)),
    (f"{_MCTRM}::user_custom_margin_ratio", "user 10x ignored at maintenance", (_USDC_100, _SOL_BORROW_100), (_PERP_100,),
     MRT.MAINTENANCE, dict(user_max_margin_ratio=10 * MARGIN_PRECISION), dict(margin_requirement=11500000000)),
    (f"{_MCTRM}::user_custom_margin_ratio", "SOL deposit, user 0.5x", (drift.SpotPosition(1, 100 * _SB),), (), MRT.INITIAL,
     dict(user_max_margin_ratio=MARGIN_PRECISION // 2), dict(total_collateral=5000000000)),
    (f"{_MCTRM}::margin_ratio_override", "override 2x", (_USDC_100, _SOL_BORROW_100), (_PERP_100,), MRT.INITIAL,
     dict(margin_ratio_override=2 * MARGIN_PRECISION), dict(margin_requirement=50000000000)),
    (f"{_MCTRM}::margin_ratio_override", "override 1x", (_USDC_100, _SOL_BORROW_100), (_PERP_100,), MRT.INITIAL,
     dict(margin_ratio_override=MARGIN_PRECISION), dict(margin_requirement=30000000000)),
    (f"{_MCTRM}::margin_ratio_override", "override 0.5x", (_USDC_100, _SOL_BORROW_100), (_PERP_100,), MRT.INITIAL,
     dict(margin_ratio_override=MARGIN_PRECISION // 2), dict(margin_requirement=20000000000)),
    (f"{_MCTRM}::margin_ratio_override", "override 10x applies at maintenance", (_USDC_100, _SOL_BORROW_100), (_PERP_100,),
     MRT.MAINTENANCE, dict(margin_ratio_override=10 * MARGIN_PRECISION), dict(margin_requirement=210000000000)),
    (f"{_MCTRM}::margin_ratio_override", "SOL deposit, override 0.5x", (drift.SpotPosition(1, 100 * _SB),), (), MRT.INITIAL,
     dict(margin_ratio_override=MARGIN_PRECISION // 2), dict(total_collateral=5000000000)),
]
_SOL_LOSS = {0: _USDC_M, 1: replace(_SOL_M, cumulative_deposit_interest=SPOT_CUMULATIVE_INTEREST_PRECISION // 99)}
# The oracle-validity tests: USDC's twap is default_quote_oracle's $1; the SOL spot market sets no historical oracle
# data, so its last_oracle_price_twap is 0 and Drift classes the $100 Pyth price TooVolatile (100e6 / 1 > 5).
_TWAPS = dict(spot_oracle_twaps={0: PRICE_PRECISION, 1: 0})
_BAD_DEPOSIT = dict(all_deposit_oracles_valid=False, all_liability_oracles_valid=True)
_BAD_LIABILITY = dict(all_deposit_oracles_valid=True, all_liability_oracles_valid=False)
ACCOUNT_MARGIN += [
    (f"{_MCTRM}::user_dust_deposit", "10 lamports after a big loss, user 2x", (drift.SpotPosition(1, 1040),), (), MRT.INITIAL,
     dict(user_max_margin_ratio=2 * MARGIN_PRECISION, spot_markets=_SOL_LOSS, **_TWAPS),
     dict(total_collateral=0, margin_requirement=0, **_BAD_DEPOSIT)),
    (f"{_MCTRM}::user_dust_borrow", "1 lamport at $100, user 2x", (drift.SpotPosition(1, 1, borrow=True),), (), MRT.INITIAL,
     dict(user_max_margin_ratio=2 * MARGIN_PRECISION, **_TWAPS), dict(total_collateral=0, margin_requirement=3, **_BAD_LIABILITY)),
    (f"{_MCTRM}::user_dust_borrow", "1 lamport below a penny, user 2x", (drift.SpotPosition(1, 1, borrow=True),), (),
     MRT.INITIAL, dict(user_max_margin_ratio=2 * MARGIN_PRECISION, spot_prices={0: PRICE_PRECISION, 1: PRICE_PRECISION // 10000},
                       **_TWAPS), dict(total_collateral=0, margin_requirement=3, **_BAD_LIABILITY)),
    (f"{_MCTRM}::strict_maintenance", "USDC twap 0.9, SOL twap 110", (drift.SpotPosition(0, 10000 * _SB), _SOL_BORROW_100), (),
     MRT.MAINTENANCE, dict(strict=True, spot_prices={0: (PRICE_PRECISION, PRICE_PRECISION * 9 // 10),
                                                     1: (100 * PRICE_PRECISION, 110 * PRICE_PRECISION)}),
     dict(total_collateral=9000000000, margin_requirement=12100000000)),
]

_LIAB = "calculate_margin_requirement_and_total_collateral_and_liability_info"
for _twap, _tc in ((PRICE_PRECISION, 990000), (95 * PRICE_PRECISION // 100, 950000), (101 * PRICE_PRECISION // 100, 990000)):
    ACCOUNT_MARGIN.append((f"{_LIAB}::usdc_less_than_1_with_deposit", f"USDC $0.99, twap {_twap}", (drift.SpotPosition(0, _SB),),
                           (), MRT.INITIAL, dict(strict=True, spot_prices={0: (99 * 10_000, _twap)}),
                           dict(total_collateral=_tc, margin_requirement=0)))
for _twap, _mr in ((PRICE_PRECISION, 1010000), (102 * PRICE_PRECISION // 100, 1020000), (99 * PRICE_PRECISION // 100, 1010000)):
    ACCOUNT_MARGIN.append((f"{_LIAB}::usdc_more_than_1_with_borrow", f"USDC $1.01, twap {_twap}",
                           (drift.SpotPosition(0, _SB, borrow=True),), (), MRT.INITIAL,
                           dict(strict=True, spot_prices={0: (101 * 10_000, _twap)}),
                           dict(total_collateral=0, margin_requirement=_mr)))

_ISO_TIER = {0: replace(_SOL_PERP[0], contract_tier=ContractTier.ISOLATED)}
ACCOUNT_MARGIN += [
    (f"{_LIAB}::no_perp_position_but_trigger_order", "", (_USDC_100,), (PerpPosition(open_orders=1),), MRT.INITIAL, {},
     dict(margin_requirement=QUOTE_PRECISION // 100, with_perp_isolated_liability=False, with_spot_isolated_liability=False)),
    (f"{_LIAB}::isolated_contract_tier_count_and_check", "resting limit order only", (_USDC_100,),
     (PerpPosition(open_orders=1),), MRT.INITIAL, dict(perp_markets=_ISO_TIER),
     dict(margin_requirement=QUOTE_PRECISION // 100, with_spot_isolated_liability=False, with_perp_isolated_liability=True)),
    (f"{_LIAB}::isolated_contract_tier_count_and_check", "0.01 SOL long and an order to close", (_USDC_100,),
     (PerpPosition(base_asset_amount=10000000, open_orders=1),), MRT.INITIAL, dict(perp_markets=_ISO_TIER),
     dict(margin_requirement=110000, with_perp_isolated_liability=True)),
    (f"{_LIAB}::no_spot_position_but_trigger_order", "", (_USDC_100, drift.SpotPosition(1, 0, open_orders=1)), (),
     MRT.INITIAL, {}, dict(margin_requirement=QUOTE_PRECISION // 100)),
]


# invalid_oracle_for_*: ignore_invalid_deposit_oracles values deposits behind the invalid SOL oracle at 0; upstream
# asserts only that the requirement is not 0: (test fn, spot positions, expected flags)
INVALID_ORACLE = [
    (f"{_MCTRM}::invalid_oracle_for_deposit", (drift.SpotPosition(0, 100 * _SB, borrow=True), drift.SpotPosition(1, 100 * _SB)),
     _BAD_DEPOSIT),
    (f"{_MCTRM}::invalid_oracle_for_bid", (drift.SpotPosition(1, 0, open_orders=1, open_bids=100 * BASE_PRECISION),), _BAD_DEPOSIT),
    (f"{_MCTRM}::invalid_oracle_for_ask", (drift.SpotPosition(1, 0, open_orders=1, open_asks=-100 * BASE_PRECISION),),
     _BAD_LIABILITY),
]


@pytest.mark.parametrize("fn, spot, flags", INVALID_ORACLE, ids=[_src(M_MARGIN, r[0]) for r in INVALID_ORACLE])
def test_invalid_oracle_ignored_deposits(fn, spot, flags):
    c = drift.account_margin(spot, (), spot_markets=_SPOT_MARKETS, spot_prices=_SPOT_PRICES, margin_type=MRT.INITIAL,
                             user_max_margin_ratio=2 * MARGIN_PRECISION, ignore_invalid_deposit_oracles=True, **_TWAPS)
    assert (c.all_deposit_oracles_valid, c.all_liability_oracles_valid) == tuple(flags.values())
    assert c.total_collateral == 0
    assert c.margin_requirement != 0
    # (not upstream) the user's 2x ratio already weights SOL deposits at 0; without it the ignore flag is what zeroes them
    if flags is _BAD_DEPOSIT:
        def tc(ignore):
            return drift.account_margin(spot, (), spot_markets=_SPOT_MARKETS, spot_prices=_SPOT_PRICES, margin_type=MRT.INITIAL,
                                        ignore_invalid_deposit_oracles=ignore, **_TWAPS).total_collateral
        assert tc(True) == 0 < tc(False)


@pytest.mark.parametrize("price, twap, conf, delay, valid", [
    (100 * PRICE_PRECISION, 0, 0, 0, False), (100 * PRICE_PRECISION, 20 * PRICE_PRECISION, 0, 0, True),
    (100 * PRICE_PRECISION, 17 * PRICE_PRECISION, 0, 0, True), (100 * PRICE_PRECISION, 16 * PRICE_PRECISION, 0, 0, False),
    (16 * PRICE_PRECISION, 100 * PRICE_PRECISION, 0, 0, False),
    (0, 0, 0, 0, False), (100 * PRICE_PRECISION, 100 * PRICE_PRECISION, 2 * PRICE_PRECISION, 0, True),
    (100 * PRICE_PRECISION, 100 * PRICE_PRECISION, 2 * PRICE_PRECISION + 100, 0, False),
    (100 * PRICE_PRECISION, 100 * PRICE_PRECISION, 0, 120, True), (100 * PRICE_PRECISION, 100 * PRICE_PRECISION, 0, 121, False)])
def test_oracle_valid_for_margin_guard_rails(price, twap, conf, delay, valid):
    """math/oracle.rs::oracle_validity under OracleGuardRails::default (state/state.rs), checked at its boundaries
    (not an upstream test): TooVolatile is ``max/min > 5`` in integer division (100/17 = 5 passes, 100/16 = 6 fails),
    TooUncertain ``conf·1e6/price > 20000``, StaleForMargin ``delay > 120``."""
    assert drift.oracle_valid_for_margin(price, twap, confidence=conf, delay=delay) is valid


def test_dust_token_amounts():
    """math/margin/tests.rs::...::user_dust_deposit / user_dust_borrow: the token amounts asserted before the margin."""
    assert drift.SpotPosition(1, 1040).signed_token_amount(_SOL_LOSS[1]) == 10
    assert drift.SpotPosition(1, 1, borrow=True).signed_token_amount(_SOL_M) == -1
    assert drift.SpotPosition(0, 0).signed_token_amount(_USDC_M) == 0




@pytest.mark.parametrize("fn, case, spot, perps, mt, kwargs, expected", ACCOUNT_MARGIN, ids=_ids(M_MARGIN, ACCOUNT_MARGIN))
def test_account_margin(fn, case, spot, perps, mt, kwargs, expected):
    c = drift.account_margin(spot, perps, margin_type=mt, **{**dict(
        spot_markets=_SPOT_MARKETS, perp_markets=_SOL_PERP, spot_prices=_SPOT_PRICES, perp_prices={0: 100 * PRICE_PRECISION}),
        **kwargs})
    assert {k: getattr(c, k) for k in expected} == expected


# calculate_user_equity::* (test fn, spot positions, perp positions, expected net USD value, quote 1e6)
USER_EQUITY = [
    ("calculate_user_equity::usdc_deposit_positive_perp_pnl", (drift.SpotPosition(0, 10 * _SB),),
     (PerpPosition(base_asset_amount=BASE_PRECISION, quote_asset_amount=-90 * QUOTE_PRECISION),), 20000000),
    ("calculate_user_equity::usdc_deposit_negative_perp_pnl", (drift.SpotPosition(0, 10 * _SB),),
     (PerpPosition(base_asset_amount=BASE_PRECISION, quote_asset_amount=-105 * QUOTE_PRECISION),), 5000000),
    ("calculate_user_equity::usdc_deposit_sol_borrow", (drift.SpotPosition(0, 10000 * _SB),
                                                        drift.SpotPosition(1, 90 * _SB, borrow=True)), (), 1000000000),
]


@pytest.mark.parametrize("fn, spot, perps, expected", USER_EQUITY, ids=[_src(M_MARGIN, r[0]) for r in USER_EQUITY])
def test_user_equity(fn, spot, perps, expected):
    perp_market = {0: PerpMarket(margin_ratio_initial=2000, margin_ratio_maintenance=1000, order_step_size=1000)}
    assert drift.user_equity(spot, perps, spot_markets=_SPOT_MARKETS, perp_markets=perp_market, spot_prices=_SPOT_PRICES,
                             perp_prices={0: 100 * PRICE_PRECISION}) == expected


# calculate_perp_position_value_and_pnl_prediction_market::* (a Prediction contract: price in [0, $1], margin 100 % /
# 99.99 %, unrealised pnl weights 0 initial / 1 maintenance): (test fn, base, quote, price,
# expected (initial requirement, initial upnl), (maintenance requirement, maintenance upnl))
_PRED = "calculate_perp_position_value_and_pnl_prediction_market"
PREDICTION = [
    (f"{_PRED}::long", -BASE_PRECISION, QUOTE_PRECISION * 3 // 4, PRICE_PRECISION // 4, (750000, 0), (749925, 500000)),
    (f"{_PRED}::short", BASE_PRECISION, -QUOTE_PRECISION // 4, PRICE_PRECISION * 3 // 4, (750000, 0), (749925, 500000)),
]


@pytest.mark.parametrize("fn, base, quote, price, initial, maintenance", PREDICTION, ids=[_src(M_MARGIN, r[0]) for r in PREDICTION])
def test_prediction_market_value_and_pnl(fn, base, quote, price, initial, maintenance):
    market = PerpMarket(margin_ratio_initial=10_000, margin_ratio_maintenance=9_999, prediction_market=True,
                        unrealized_pnl_maintenance_asset_weight=SPOT_WEIGHT_PRECISION, unrealized_pnl_initial_asset_weight=0)
    position = PerpPosition(base_asset_amount=base, quote_asset_amount=quote)
    for mt, expected in ((MRT.INITIAL, initial), (MRT.MAINTENANCE, maintenance)):
        assert drift.perp_position_value_and_pnl(position, market, price, mt)[:2] == expected


# get_margin_calculation_for_disable_high_leverage_mode::margin_type_config::* (state/margin_calculation.rs
# MarginTypeConfig): (test fn, config, expected cross type, {isolated market index: expected type})
_MTC = "get_margin_calculation_for_disable_high_leverage_mode::margin_type_config"
_D, _IPO, _CMO = drift.MarginTypeConfig.default, drift.MarginTypeConfig.isolated_position_override, drift.MarginTypeConfig.cross_margin_override
_I, _M, _F = MRT.INITIAL, MRT.MAINTENANCE, MRT.FILL
MARGIN_TYPE_CONFIG = [
    (f"{_MTC}::default_returns_same_type_for_cross_and_isolated", "initial", _D(_I), _I, {0: _I, 1: _I, 99: _I}),
    (f"{_MTC}::default_returns_same_type_for_cross_and_isolated", "maintenance", _D(_M), _M, {0: _M, 1: _M}),
    (f"{_MTC}::default_returns_same_type_for_cross_and_isolated", "fill", _D(_F), _F, {0: _F}),
    (f"{_MTC}::isolated_position_override_cross_uses_default", "", _IPO(0, _I, _M, _I), _I, {}),
    (f"{_MTC}::isolated_position_override_matching_market_uses_override", "", _IPO(5, _I, _M, _I), None, {5: _I}),
    (f"{_MTC}::isolated_position_override_non_matching_market_uses_default", "", _IPO(5, _I, _M, _I), None,
     {0: _M, 1: _M, 4: _M, 6: _M, 99: _M}),
    (f"{_MTC}::cross_margin_override_cross_uses_override", "", _CMO(_I, _M), _I, {}),
    (f"{_MTC}::cross_margin_override_all_isolated_use_default", "", _CMO(_I, _M), None, {0: _M, 1: _M, 5: _M, 99: _M}),
    (f"{_MTC}::scenario_increase_cross_position_size", "", _CMO(_I, _M), _I, {0: _M, 1: _M, 2: _M}),
    (f"{_MTC}::scenario_increase_isolated_position_size", "", _IPO(0, _I, _M, _I), _I, {0: _I, 1: _M, 2: _M}),
    (f"{_MTC}::scenario_reduce_position_size", "", _D(_M), _M, {0: _M, 1: _M, 2: _M}),
    (f"{_MTC}::fill_margin_type_scenarios", "isolated override", _IPO(3, _F, _M, _I), _I, {3: _F, 0: _M}),
    (f"{_MTC}::fill_margin_type_scenarios", "cross override", _CMO(_F, _M), _F, {0: _M}),
]


@pytest.mark.parametrize("fn, case, config, cross, isolated", MARGIN_TYPE_CONFIG, ids=_ids(M_MARGIN, MARGIN_TYPE_CONFIG))
def test_margin_type_config(fn, case, config, cross, isolated):
    if cross is not None:
        assert config.cross_margin_requirement_type() is cross
    for index, expected in isolated.items():
        assert config.isolated_margin_requirement_type(index) is expected


def test_margin_type_config_drives_account_margin():
    """A CrossMarginOverride's cross type is the one account_margin applies (the SOL perp at 10 % initial)."""
    c = drift.account_margin((), (_PERP_100,), spot_markets=_SPOT_MARKETS, perp_markets=_SOL_PERP, spot_prices=_SPOT_PRICES,
                             perp_prices={0: 100 * PRICE_PRECISION}, margin_type=_CMO(_I, _M))
    assert c.margin_requirement == 100 * 100 * QUOTE_PRECISION * 1000 // MARGIN_PRECISION


# calculate_max_withdrawable_amount::* (the USDC / SOL markets above): (test fn, spot positions, market, expected tokens)
MAX_WITHDRAWABLE = [
    ("calculate_max_withdrawable_amount::usdc_withdraw", (drift.SpotPosition(0, 10000 * _SB), drift.SpotPosition(
        1, 0, open_orders=1, open_bids=100 * 10**9)), 0, 10000000000),
    ("calculate_max_withdrawable_amount::sol_withdraw", (drift.SpotPosition(0, 10000 * _SB, borrow=True),
                                                         drift.SpotPosition(1, 200 * _SB)), 1, 74999999000),
    ("calculate_max_withdrawable_amount::sol_dust_withdraw", (drift.SpotPosition(0, 1, borrow=True),
                                                              drift.SpotPosition(1, 8008)), 1, 7000),
]


@pytest.mark.parametrize("fn, spot, index, expected", MAX_WITHDRAWABLE, ids=[_src(M_MARGIN, r[0]) for r in MAX_WITHDRAWABLE])
def test_max_withdrawable_amount(fn, spot, index, expected):
    assert drift.max_withdrawable_amount(index, spot, spot_markets=_SPOT_MARKETS, spot_prices=_SPOT_PRICES) == expected


# validate_spot_margin_trading::* : (test fn, spot positions, perp positions, margin trading on, expected error or None)
_ISO_PERP = {0: PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                           contract_tier=ContractTier.ISOLATED)}
SPOT_MARGIN_TRADING = [
    ("validate_spot_margin_trading::sol_ask_larger_than_deposit", (drift.SpotPosition(0, 10000 * _SB), drift.SpotPosition(
        1, _SB, open_asks=-100 * 10**9)), (), False, "MarginTradingDisabled"),
    ("validate_spot_margin_trading::sol_ask_smaller_than_deposit", (drift.SpotPosition(0, 10000 * _SB), drift.SpotPosition(
        1, 2 * _SB, open_asks=-(10**9))), (), False, None),
    ("validate_spot_margin_trading::sol_ask_with_borrow", (drift.SpotPosition(0, 10000 * _SB), drift.SpotPosition(
        1, 2 * _SB, borrow=True, open_asks=-(10**9))), (), False, "MarginTradingDisabled"),
    ("validate_spot_margin_trading::sol_bids_value_larger_than_usdc_deposit", (drift.SpotPosition(0, 100 * _SB),
     drift.SpotPosition(1, 2 * _SB, open_bids=2 * 10**9)), (), False, "MarginTradingDisabled"),
    ("validate_spot_margin_trading::sol_bids_value_smaller_than_usdc_deposit", (drift.SpotPosition(0, 1000 * _SB),
     drift.SpotPosition(1, 2 * _SB, open_bids=2 * 10**9)), (), False, None),
    ("validate_spot_margin_trading::sol_bids_with_usdc_borrow", (drift.SpotPosition(0, 100 * _SB, borrow=True),
     drift.SpotPosition(1, 2 * _SB, open_bids=2 * 10**9)), (), False, "MarginTradingDisabled"),
    ("validate_spot_margin_trading::attempt_enable_margin_trading_with_isolated_perp", (drift.SpotPosition(0, 100 * _SB),
     drift.SpotPosition(1, 2 * _SB, open_bids=2 * 10**9)), (PerpPosition(
         base_asset_amount=BASE_PRECISION, quote_asset_amount=-150 * QUOTE_PRECISION, quote_entry_amount=-150 * QUOTE_PRECISION,
         quote_break_even_amount=-150 * QUOTE_PRECISION, open_orders=1, open_bids=BASE_PRECISION),), True,
     "IsolatedAssetTierViolation"),
]


@pytest.mark.parametrize("fn, spot, perps, enabled, error", SPOT_MARGIN_TRADING,
                         ids=[_src(M_MARGIN, r[0]) for r in SPOT_MARGIN_TRADING])
def test_validate_spot_margin_trading(fn, spot, perps, enabled, error):
    kwargs = dict(spot_markets=_SPOT_MARKETS, perp_markets=_ISO_PERP, spot_prices=_SPOT_PRICES, margin_trading_enabled=enabled)
    if error is None:
        assert drift.validate_spot_margin_trading(spot, perps, **kwargs) is None
    else:
        with pytest.raises(Rejected) as e:
            drift.validate_spot_margin_trading(spot, perps, **kwargs)
        assert e.value.reason == error


# ---- cross and isolated positions in one account (get_margin_calculation_for_disable_high_leverage_mode::
# meets_place_order_margin_requirement_with_isolated::*, ::fill_perp_order_margin_requirement_with_isolated::*): SOL-PERP
# (market 0, $100) and ETH-PERP (market 2, $1000), both 10 % / 5 %; USDC the only spot market. Positions in whole units.
_SOL_ETH = {0: PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000, market_index=0),
            2: PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000, market_index=2)}
_SOL_ETH_PRICES = {0: 100 * PRICE_PRECISION, 2: 1000 * PRICE_PRECISION}


def _cross(market: int, base: int, quote: int, **kw) -> PerpPosition:
    return PerpPosition(market_index=market, base_asset_amount=base * BASE_PRECISION, quote_asset_amount=quote * QUOTE_PRECISION,
                        **kw)


def _iso(market: int, base: int, quote: int, usdc: int, **kw) -> PerpPosition:
    return _cross(market, base, quote, isolated=True, isolated_position_scaled_balance=usdc * _SB, **kw)


_MPO = "get_margin_calculation_for_disable_high_leverage_mode::meets_place_order_margin_requirement_with_isolated"
# (test fn, USDC cross deposit, perp positions, risk increasing, isolated market index of the order, passes)
PLACE_ORDER = [
    ("cross_order_passes_when_isolated_fails_initial_but_passes_maintenance", 1000, (_iso(0, 10, -1000, 70),), True, None, True),
    ("cross_order_passes_when_cross_passes_initial_no_other_isolated", 1000, (), True, None, True),
    ("cross_order_fails_when_other_isolated_fails_maintenance", 1000, (_iso(0, 10, -1000, 40),), True, None, False),
    ("cross_order_fails_when_cross_only_passes_maintenance", 70, (_cross(0, 10, -1000),), True, None, False),
    ("cross_order_fails_when_cross_fails_maintenance", 40, (_cross(0, 10, -1000),), True, None, False),
    ("cross_order_not_risk_increasing_passes_when_all_pass_maintenance", 70, (_cross(0, 10, -1000),), False, None, True),
    ("cross_order_not_risk_increasing_fails_when_other_isolated_fails_maintenance", 1000, (_iso(0, 10, -1000, 40),), False, None,
     False),
    ("cross_order_not_risk_increasing_fails_when_cross_fails_maintenance", 40, (_cross(0, 10, -1000),), False, None, False),
    ("isolated_order_passes_when_other_isolated_fails_initial_but_passes_maintenance", 1000,
     (_iso(0, 10, -1000, 70), _iso(2, 1, -1000, 200)), True, 2, True),
    ("isolated_order_fails_when_cross_account_fails_initial_margin", 80, (_cross(0, 10, -1000), _iso(2, 1, -1000, 200)), True, 2,
     True),  # upstream asserts is_ok: a cross account at maintenance only passes an isolated order (cross checked at MM)
    ("isolated_order_fails_when_isolated_deposit_would_make_cross_fail_initial_margin", 110,
     (_cross(0, 10, -1000), _iso(2, 1, -1000, 110, open_orders=1, open_bids=BASE_PRECISION // 2)), True, 2, False),
    ("isolated_order_passes_when_cross_has_plenty_of_collateral", 1000, (_iso(2, 1, -1000, 150),), True, 2, True),
    ("isolated_order_fails_when_other_isolated_fails_maintenance_margin", 1000, (_iso(0, 10, -1000, 40), _iso(2, 1, -1000, 200)),
     True, 2, False),
    ("isolated_order_passes_when_cross_only_passes_maintenance", 70, (_iso(2, 1, -1000, 150),), True, 2, True),
    ("isolated_order_fails_when_current_isolated_only_passes_maintenance", 1000, (_iso(2, 1, -1000, 70),), True, 2, False),
    ("isolated_order_fails_when_current_isolated_fails_maintenance", 1000, (_iso(2, 1, -1000, 40),), True, 2, False),
    ("isolated_order_not_risk_increasing_passes_when_all_pass_maintenance", 70, (_cross(0, 10, -1000), _iso(2, 1, -1000, 70)),
     False, 2, True),
    ("isolated_order_not_risk_increasing_fails_when_other_isolated_fails_maintenance", 1000,
     (_iso(0, 10, -1000, 40), _iso(2, 1, -1000, 200)), False, 2, False),
]


@pytest.mark.parametrize("fn, usdc, perps, risk_increasing, iso_index, passes", PLACE_ORDER,
                         ids=[_src(M_MARGIN, f"{_MPO}::{r[0]}") for r in PLACE_ORDER])
def test_meets_place_order_margin_requirement(fn, usdc, perps, risk_increasing, iso_index, passes):
    kwargs = dict(risk_increasing=risk_increasing, isolated_market_index=iso_index, spot_markets={0: _USDC_M},
                  perp_markets=_SOL_ETH, spot_prices={0: (PRICE_PRECISION, PRICE_PRECISION)}, perp_prices=_SOL_ETH_PRICES)
    spot = (drift.SpotPosition(0, usdc * _SB),)
    if passes:
        assert drift.meets_place_order_margin_requirement(spot, perps, **kwargs).meets_margin_requirement
    else:
        with pytest.raises(Rejected) as e:
            drift.meets_place_order_margin_requirement(spot, perps, **kwargs)
        assert e.value.reason == "InsufficientCollateral"


_FPO = "get_margin_calculation_for_disable_high_leverage_mode::fill_perp_order_margin_requirement_with_isolated"
_FILL_ISO_0 = drift.MarginTypeConfig.isolated_position_override(0, MRT.FILL, MRT.MAINTENANCE, MRT.MAINTENANCE)
_MAINT_ISO_0 = drift.MarginTypeConfig.isolated_position_override(0, MRT.MAINTENANCE, MRT.MAINTENANCE, MRT.MAINTENANCE)
_FILL_CROSS = drift.MarginTypeConfig.cross_margin_override(MRT.FILL, MRT.MAINTENANCE)
_MAINT_CROSS = drift.MarginTypeConfig.cross_margin_override(MRT.MAINTENANCE, MRT.MAINTENANCE)
# (test fn, USDC cross deposit, perp positions, margin type config, meets the requirement)
FILL_ISOLATED = [
    ("isolated_fill_increasing_passes_when_current_isolated_passes_fill_others_maintenance", 70, (_iso(0, 1, -100, 150),),
     _FILL_ISO_0, True),
    ("isolated_fill_increasing_fails_when_current_isolated_only_passes_maintenance", 1000, (_iso(0, 1, -100, 7),), _FILL_ISO_0,
     False),
    ("isolated_fill_increasing_fails_when_current_isolated_fails_maintenance", 1000, (_iso(0, 10, -1000, 40),), _FILL_ISO_0, False),
    ("isolated_fill_increasing_fails_when_cross_fails_maintenance", 40, (_iso(0, 1, -100, 150), _cross(2, 1, -1000)), _FILL_ISO_0,
     False),
    ("isolated_fill_increasing_fails_when_other_isolated_fails_maintenance", 70, (_iso(0, 1, -100, 150), _iso(2, 1, -1000, 40)),
     _FILL_ISO_0, False),
    ("isolated_fill_decreasing_passes_when_all_pass_maintenance", 70, (_iso(0, 10, -1000, 70),), _MAINT_ISO_0, True),
    ("isolated_fill_decreasing_fails_when_current_isolated_fails_maintenance", 1000, (_iso(0, 10, -1000, 40),), _MAINT_ISO_0, False),
    ("isolated_fill_decreasing_fails_when_other_isolated_fails_maintenance", 70, (_iso(0, 10, -1000, 70), _iso(2, 1, -1000, 40)),
     _MAINT_ISO_0, False),
    ("cross_fill_increasing_passes_when_cross_passes_fill_isolated_maintenance", 150, (_cross(0, 1, -100),), _FILL_CROSS, True),
    ("cross_fill_increasing_fails_when_cross_only_passes_maintenance", 70, (_cross(0, 10, -1000),), _FILL_CROSS, False),
    ("cross_fill_increasing_fails_when_cross_fails_maintenance", 40, (_cross(0, 10, -1000),), _FILL_CROSS, False),
    ("cross_fill_increasing_fails_when_other_isolated_fails_maintenance", 150, (_cross(0, 1, -100), _iso(2, 1, -1000, 40)),
     _FILL_CROSS, False),
    ("cross_fill_decreasing_passes_when_all_pass_maintenance", 70, (_cross(0, 10, -1000),), _MAINT_CROSS, True),
    ("cross_fill_decreasing_fails_when_cross_fails_maintenance", 40, (_cross(0, 10, -1000),), _MAINT_CROSS, False),
    ("cross_fill_decreasing_fails_when_other_isolated_fails_maintenance", 70, (_cross(0, 10, -1000), _iso(2, 1, -1000, 40)),
     _MAINT_CROSS, False),
]


@pytest.mark.parametrize("fn, usdc, perps, config, meets", FILL_ISOLATED, ids=[_src(M_MARGIN, f"{_FPO}::{r[0]}") for r in FILL_ISOLATED])
def test_fill_margin_requirement_with_isolated(fn, usdc, perps, config, meets):
    c = drift.account_margin((drift.SpotPosition(0, usdc * _SB),), perps, spot_markets={0: _USDC_M}, perp_markets=_SOL_ETH,
                             spot_prices={0: PRICE_PRECISION}, perp_prices=_SOL_ETH_PRICES, margin_type=config)
    assert c.meets_margin_requirement is meets


# test::asset_tier_checks (ContractTier::is_as_safe_as; the defaults are HighlySpeculative and Unlisted):
# (contract tier, best contract, best asset, expected)
_CT, _AT = ContractTier, drift.AssetTier
ASSET_TIER_CHECKS = [
    (_CT.A, _CT.A, _AT.UNLISTED, True), (_CT.A, _CT.A, _AT.CROSS, True), (_CT.B, _CT.HIGHLY_SPECULATIVE, _AT.UNLISTED, True),
    (_CT.C, _CT.SPECULATIVE, _AT.UNLISTED, True), (_CT.C, _CT.C, _AT.CROSS, True),
    (_CT.SPECULATIVE, _CT.SPECULATIVE, _AT.UNLISTED, True), (_CT.SPECULATIVE, _CT.ISOLATED, _AT.UNLISTED, True),
    (_CT.SPECULATIVE, _CT.HIGHLY_SPECULATIVE, _AT.UNLISTED, True), (_CT.ISOLATED, _CT.ISOLATED, _AT.UNLISTED, True),
    (_CT.A, _CT.A, _AT.COLLATERAL, False), (_CT.A, _CT.B, _AT.COLLATERAL, False), (_CT.B, _CT.A, _AT.COLLATERAL, False),
    (_CT.B, _CT.A, _AT.UNLISTED, False), (_CT.C, _CT.B, _AT.CROSS, False), (_CT.C, _CT.B, _AT.ISOLATED, False),
    (_CT.C, _CT.A, _AT.UNLISTED, False), (_CT.SPECULATIVE, _CT.A, _AT.UNLISTED, False),
    (_CT.SPECULATIVE, _CT.A, _AT.COLLATERAL, False), (_CT.SPECULATIVE, _CT.B, _AT.COLLATERAL, False),
    (_CT.SPECULATIVE, _CT.B, _AT.CROSS, False), (_CT.SPECULATIVE, _CT.C, _AT.COLLATERAL, False),
    (_CT.HIGHLY_SPECULATIVE, _CT.C, _AT.COLLATERAL, False), (_CT.HIGHLY_SPECULATIVE, _CT.SPECULATIVE, _AT.ISOLATED, False),
    (_CT.SPECULATIVE, _CT.SPECULATIVE, _AT.COLLATERAL, False), (_CT.SPECULATIVE, _CT.SPECULATIVE, _AT.CROSS, False),
    (_CT.SPECULATIVE, _CT.ISOLATED, _AT.COLLATERAL, False), (_CT.SPECULATIVE, _CT.ISOLATED, _AT.CROSS, False),
    (_CT.SPECULATIVE, _CT.ISOLATED, _AT.ISOLATED, False), (_CT.HIGHLY_SPECULATIVE, _CT.ISOLATED, _AT.UNLISTED, True),
    (_CT.ISOLATED, _CT.A, _AT.UNLISTED, False), (_CT.ISOLATED, _CT.HIGHLY_SPECULATIVE, _AT.UNLISTED, False),
    (_CT.ISOLATED, _CT.ISOLATED, _AT.ISOLATED, False), (_CT.ISOLATED, _CT.HIGHLY_SPECULATIVE, _AT.UNLISTED, False),
]


@pytest.mark.parametrize("tier, best_contract, best_asset, expected", ASSET_TIER_CHECKS,
                         ids=[_src(M_MARGIN, "test::asset_tier_checks", f"{i}") for i in range(len(ASSET_TIER_CHECKS))])
def test_asset_tier_checks(tier, best_contract, best_asset, expected):
    assert drift.contract_tier_is_as_safe_as(tier, best_contract, best_asset) is expected


# pools::* : a market outside the user's pool is refused.
POOLS = [
    ("pools::spot", (drift.SpotPosition(0, 10000 * _SB),), (), {0: replace(_USDC_M, pool_id=1)}, {}),
    ("pools::perp_market_invalid_pool_id", (), (_PERP_100,), {}, {0: replace(_SOL_PERP[0], pool_id=1)}),
]


@pytest.mark.parametrize("fn, spot, perps, spot_markets, perp_markets", POOLS, ids=[_src(M_MARGIN, r[0]) for r in POOLS])
def test_pools_invalid_pool_id(fn, spot, perps, spot_markets, perp_markets):
    with pytest.raises(Rejected) as e:
        drift.account_margin(spot, perps, spot_markets=spot_markets, perp_markets=perp_markets, spot_prices=_SPOT_PRICES,
                             perp_prices={0: 100 * PRICE_PRECISION}, margin_type=MRT.INITIAL)
    assert e.value.reason == "InvalidPoolId"
    # (not upstream) the same account in its own pool is accepted; a pool-1 user's USDC deposit counts as 0
    drift.account_margin(spot, perps, spot_markets=spot_markets, perp_markets=perp_markets, spot_prices=_SPOT_PRICES,
                         perp_prices={0: 100 * PRICE_PRECISION}, margin_type=MRT.INITIAL, user_pool_id=1)
    if spot:
        assert drift.account_margin(spot, (), spot_markets={0: _USDC_M}, spot_prices=_SPOT_PRICES, user_pool_id=1,
                                    margin_type=MRT.INITIAL).total_collateral == 0


def test_isolated_position_margin_requirement():
    """math/margin/tests.rs::isolated_position::isolated_position_margin_requirement: a cross account (20k USDC, 100 SOL
    borrowed) beside an isolated 100 SOL long entered at $110 with $100 of isolated USDC; then with a 10 % buffer."""
    spot = (drift.SpotPosition(0, 20000 * _SB), _SOL_BORROW_100)
    perps = (_iso(0, 100, -11000, 100),)
    kw = dict(spot_markets=_SPOT_MARKETS, perp_markets=_SOL_PERP, spot_prices=_SPOT_PRICES, perp_prices={0: 100 * PRICE_PRECISION},
              margin_type=MRT.INITIAL)
    c = drift.account_margin(spot, perps, **kw)
    iso = c.isolated_calculation(0)
    assert (c.margin_requirement, c.total_collateral) == (12000000000, 20000000000)
    assert (iso.margin_requirement, iso.total_collateral) == (1000000000, -900000000)
    assert (c.meets_margin_requirement, c.meets_cross_margin_requirement, iso.meets_margin_requirement) == (False, True, False)
    b = drift.account_margin(spot, perps, margin_buffer=1000, **kw)
    iso = b.isolated_calculation(0)
    assert (b.margin_requirement_plus_buffer, b.total_collateral_plus_buffer) == (13000000000, 20000000000)
    assert (iso.margin_requirement_plus_buffer, iso.total_collateral_plus_buffer) == (2000000000, -1000000000)


def test_disable_high_leverage_mode_leaves_user_unchanged():
    """math/margin/tests.rs::get_margin_calculation_for_disable_high_leverage_mode::check_user_not_changed: the
    positions' max margin ratios (here on an open SOL long, so they would matter) are ignored and the user is unchanged."""
    spot = (drift.SpotPosition(0, 20000 * _SB), _SOL_BORROW_100)
    perps = (replace(_PERP_100, max_margin_ratio=2 * MARGIN_PRECISION), PerpPosition(market_index=1, max_margin_ratio=5 * MARGIN_PRECISION))
    before = (spot, perps)
    kw = dict(spot_markets=_SPOT_MARKETS, perp_markets=_SOL_PERP, spot_prices=_SPOT_PRICES, perp_prices={0: 100 * PRICE_PRECISION})
    c = drift.margin_calculation_for_disable_high_leverage_mode(spot, perps, **kw)
    assert (spot, perps) == before and perps[0].max_margin_ratio == 2 * MARGIN_PRECISION
    # the 10 % market ratio, not the position's 2x: 12000 (SOL borrow × 1.2) + 10000 × 10 %, buffer 1 % of 20000 liability
    assert c.margin_requirement == 12000000000 + 1000000000
    assert c.margin_requirement_plus_buffer == 13000000000 + (10000000000 + 10000000000) // 100


def test_account_margin_bad_input_is_named():
    """(not upstream) a market or price missing from the maps is an InvalidInput naming the argument, not a KeyError."""
    from ramparts.errors import InvalidInput
    for call in (lambda: drift.account_margin((drift.SpotPosition(3, _SB),), spot_markets=_SPOT_MARKETS, spot_prices=_SPOT_PRICES),
                 lambda: drift.account_margin((), (_PERP_100,), spot_markets=_SPOT_MARKETS, spot_prices=_SPOT_PRICES),
                 lambda: drift.user_equity((drift.SpotPosition(1, _SB),), spot_markets=_SPOT_MARKETS, spot_prices={0: PRICE_PRECISION}),
                 lambda: drift.max_withdrawable_amount(5, (), spot_markets=_SPOT_MARKETS, spot_prices=_SPOT_PRICES)):
        with pytest.raises(InvalidInput):
            call()
    with pytest.raises(InvalidInput):
        drift.SpotPosition(1, -1)


# ============================================================================ controller/liquidation/tests.rs: spot side
# liquidate_spot's markets: USDC (0, $1, 200 deposited) and SOL (1, Pyth $100, 6 decimals, weights 0.8/0.9 and
# 1.2/1.1, 1 deposited and 1 borrowed, 5-min and 1h TWAPs 99 % of the price); the liquidator holds 100 USDC. Scaled
# balances (1e9) at cumulative interest 1e10. The oracle map's slot delay and Pyth's zero confidence leave the
# oracles valid; ``now`` never accrues interest (no borrow-rate curve).

_SBP = SPOT_BALANCE_PRECISION
_USDC_L = SpotMarket(market_index=0, decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION,
                     maintenance_asset_weight=SPOT_WEIGHT_PRECISION, deposit_balance=200 * _SBP,
                     last_oracle_price_twap=QUOTE_PRECISION, last_oracle_price_twap_5min=QUOTE_PRECISION)
_SOL_L = SpotMarket(market_index=1, decimals=6, initial_asset_weight=8 * SPOT_WEIGHT_PRECISION // 10,
                    maintenance_asset_weight=9 * SPOT_WEIGHT_PRECISION // 10,
                    initial_liability_weight=12 * SPOT_WEIGHT_PRECISION // 10,
                    maintenance_liability_weight=11 * SPOT_WEIGHT_PRECISION // 10, deposit_balance=_SBP, borrow_balance=_SBP,
                    liquidator_fee=LIQUIDATION_FEE_PRECISION // 1000, last_oracle_price_twap=100 * PRICE_PRECISION * 99 // 100,
                    last_oracle_price_twap_5min=100 * PRICE_PRECISION * 99 // 100)
_SPOT_L_PRICES = {0: PRICE_PRECISION, 1: 100 * PRICE_PRECISION}
_LIQUIDATOR_100 = SpotAccount((drift.SpotPosition(0, 100 * _SBP),))


def _spot_user(usdc: int, sol_borrow: int, **kw) -> SpotAccount:
    return SpotAccount((drift.SpotPosition(0, usdc), drift.SpotPosition(1, sol_borrow, borrow=True)), **kw)


def _liq_spot(user, markets, max_transfer, *, buffer, pct=LIQUIDATION_PCT_PRECISION, slot=0, limit=None, asset=0,
              liquidator=_LIQUIDATOR_100, prices=_SPOT_L_PRICES):
    return drift_spot.liquidate_spot(user, liquidator, asset, 1, max_transfer, spot_markets=markets, spot_prices=prices,
                                     slot=slot, limit_price=limit, liquidation_margin_buffer_ratio=buffer,
                                     initial_pct_to_liquidate=pct, liquidation_duration=150)


def _balances(account: SpotAccount) -> list[tuple[int, bool]]:
    return [(p.scaled_balance, p.borrow) for p in account.spot_positions]


# (test fn, user USDC, user SOL borrow, SOL market overrides, liquidator max transfer, buffer,
#  expected user balances, expected liquidator balances (scaled, borrow?))
LIQUIDATE_SPOT = [
    ("liquidate_spot::successful_liquidation_liability_transfer_implied_by_asset_amount", 100 * _SBP, _SBP, {}, 10**6, 10,
     [(0, False), (999999, True)], [(200000000000, False), (999000001, True)]),
    ("liquidate_spot::successful_liquidation_liability_transfer_to_cover_margin_shortage", 105 * _SBP, _SBP,
     dict(if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 1000), 10**6, MARGIN_PRECISION // 50,
     [(45558159000, False), (406768999, True)], [(159441841000, False), (593824001, True)]),
    ("liquidate_spot::successful_liquidation_dust_borrow", 107 * _SBP // 50, _SBP // 50,
     dict(if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 1000), 10**6, MARGIN_PRECISION // 50,
     [(0, False), (19999, True)], [(102140000000, False), (20000001, True)]),
]


@pytest.mark.parametrize("fn, usdc, sol, over, max_transfer, buffer, user_expected, liq_expected", LIQUIDATE_SPOT,
                         ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_SPOT])
def test_liquidate_spot(fn, usdc, sol, over, max_transfer, buffer, user_expected, liq_expected):
    out = _liq_spot(_spot_user(usdc, sol), {0: _USDC_L, 1: replace(_SOL_L, **over)}, max_transfer, buffer=buffer)
    assert [b for b, _ in _balances(out.user)] == [b for b, _ in user_expected]
    assert _balances(out.liquidator) == liq_expected


def test_liquidate_spot_to_cover_margin_shortage_after():
    """liquidate_spot::successful_liquidation_liability_transfer_to_cover_margin_shortage: the user's margin after,
    the strict values of its remaining borrow, the revenue pool's IF fee, and the scaled borrows summing to 1 SOL."""
    markets = {0: _USDC_L, 1: replace(_SOL_L, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 1000)}
    out = _liq_spot(_spot_user(105 * _SBP, _SBP), markets, 10**6, buffer=MARGIN_PRECISION // 50)
    c = drift.account_margin(out.user.spot_positions, spot_markets=out.spot_markets, spot_prices=_SPOT_L_PRICES,
                             margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50)
    assert (c.margin_requirement, c.total_collateral, c.margin_requirement_plus_buffer) == (44744590, 45558159, 45558128)
    sol = out.spot_markets[1]
    tokens = drift.spot_token_amount(out.user.spot_positions[1].scaled_balance, sol, borrow=True)
    value = drift.token_value(tokens, 6, 100 * PRICE_PRECISION)
    assert (tokens, value) == (406769, 40676900)
    assert drift.strict_token_value(tokens, 6, 100 * PRICE_PRECISION, 10 * PRICE_PRECISION) == 4067690
    assert drift.strict_token_value(tokens, 6, 100 * PRICE_PRECISION, 200 * PRICE_PRECISION) == value
    assert drift.strict_token_value(-tokens, 6, 100 * PRICE_PRECISION, 200 * PRICE_PRECISION) == -(value * 2)
    assert abs(c.total_collateral) * MARGIN_PRECISION // abs(value) == 11200
    assert drift.spot_token_amount(sol.revenue_pool_balance, sol) == 593
    assert (out.liquidator.spot_positions[1].scaled_balance + out.user.spot_positions[1].scaled_balance
            - sol.revenue_pool_balance) == _SBP


def test_liquidate_spot_liquidator_max_liability_transfer():
    """liquidate_spot::successful_liquidation_liquidator_max_liability_transfer: a 1h TWAP at 14.42 % of the price
    is too volatile to liquidate against (an error); at 67.44 % the liquidator's 0.1 SOL cap binds."""
    sol = replace(_SOL_L, last_oracle_price_twap=100 * PRICE_PRECISION * 1442 // 10000,
                  last_oracle_price_twap_5min=100 * PRICE_PRECISION * 999 // 1000)
    user = _spot_user(100 * _SBP, _SBP)
    with pytest.raises(Rejected):
        _liq_spot(user, {0: _USDC_L, 1: sol}, 10**6 // 10, buffer=10)
    sol = replace(sol, last_oracle_price_twap=100 * PRICE_PRECISION * 6744 // 10000)
    out = _liq_spot(user, {0: _USDC_L, 1: sol}, 10**6 // 10, buffer=10)
    assert [b for b, _ in _balances(out.user)] == [89989990000, 899999999]
    assert _balances(out.liquidator) == [(110010010000, False), (100000001, True)]


LIQUIDATE_SPOT_LIMIT = [
    ("liquidate_spot::failure_due_to_limit_price", 100000000 * PRICE_PRECISION // 999000 + 1, False),
    ("liquidate_spot::success_with_to_limit_price", 100000000 * PRICE_PRECISION // 999000 - 1, True),
]


@pytest.mark.parametrize("fn, limit, ok", LIQUIDATE_SPOT_LIMIT, ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_SPOT_LIMIT])
def test_liquidate_spot_limit_price(fn, limit, ok):
    args = (_spot_user(100 * _SBP, _SBP), {0: _USDC_L, 1: _SOL_L}, 10**6)
    if ok:
        _liq_spot(*args, buffer=MARGIN_PRECISION // 50, limit=limit)
    else:
        with pytest.raises(Rejected) as e:
            _liq_spot(*args, buffer=MARGIN_PRECISION // 50, limit=limit)
        assert e.value.reason == "LiquidationDoesntSatisfyLimitPrice"


def test_liquidate_spot_over_multiple_slots():
    """liquidate_spot::liquidate_over_multiple_slots: 1050 USDC against 10 SOL borrowed, initial pct 10 %, duration
    150 slots; calls at slots 1, 51 and 136 (a $10 cap on the liquidator's transfer); 10 SOL deposited and borrowed."""
    markets = {0: _USDC_L, 1: replace(_SOL_L, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 1000,
                                      deposit_balance=10 * _SBP, borrow_balance=10 * _SBP)}
    liquidator = SpotAccount((drift.SpotPosition(0, 1000 * _SBP),))
    kw = dict(buffer=MARGIN_PRECISION // 50, pct=LIQUIDATION_PCT_PRECISION // 10, liquidator=liquidator)

    def pct_freed(out):
        c = drift.account_margin(out.user.spot_positions, spot_markets=out.spot_markets, spot_prices=_SPOT_L_PRICES,
                                 margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50)
        shortage = abs(c.margin_requirement_plus_buffer - c.total_collateral)
        return out.user.liquidation_margin_freed * PRICE_PRECISION // (shortage + out.user.liquidation_margin_freed)

    out = _liq_spot(_spot_user(1050 * _SBP, 10 * _SBP), markets, 10 * 10**6, slot=1, **kw)
    u = out.user
    assert (u.last_active_slot, u.being_liquidated, u.liquidation_margin_freed) == (1, True, 7000031)
    assert [p.scaled_balance for p in u.spot_positions] == [990558159000, 9406768999]
    assert pct_freed(out) == 100000
    out = _liq_spot(u, out.spot_markets, 10 * 10**6, slot=51, **dict(kw, liquidator=out.liquidator))
    u = out.user
    assert (u.last_active_slot, u.liquidation_margin_freed) == (1, 30328714)
    assert [p.scaled_balance for p in u.spot_positions] == [792456458000, 7429711998]
    assert pct_freed(out) == 433267
    assert u.being_liquidated
    out = _liq_spot(u, out.spot_markets, 10 * 10**6, slot=136, **dict(kw, liquidator=out.liquidator))
    u = out.user
    assert (u.last_active_slot, u.liquidation_margin_freed) == (1, 0)
    assert [p.scaled_balance for p in u.spot_positions] == [455580082000, 4067681997]
    assert not u.being_liquidated


def test_liquidate_spot_half_if_fee():
    """liquidate_spot::successful_liquidation_half_if_fee: SOL (9 decimals, liquidator fee 1 %, IF fee 5 %) borrowed
    against 105 USDT (market 2, quote oracle, weight 0.9, fee 1 %): the IF takes 2.39 %, and the user then meets its
    maintenance requirement."""
    sol = replace(_SOL_L, decimals=9, liquidator_fee=LIQUIDATION_FEE_PRECISION // 100,
                  if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 20)
    usdt = SpotMarket(market_index=2, decimals=6, initial_asset_weight=8 * SPOT_WEIGHT_PRECISION // 10,
                      maintenance_asset_weight=9 * SPOT_WEIGHT_PRECISION // 10, deposit_balance=200 * _SBP,
                      liquidator_fee=LIQUIDATION_FEE_PRECISION // 100, last_oracle_price_twap=QUOTE_PRECISION,
                      last_oracle_price_twap_5min=QUOTE_PRECISION)
    user = SpotAccount((drift.SpotPosition(0, 0), drift.SpotPosition(1, _SBP, borrow=True), drift.SpotPosition(2, 105 * _SBP)))
    prices = {0: PRICE_PRECISION, 1: 100 * PRICE_PRECISION, 2: PRICE_PRECISION}
    out = _liq_spot(user, {0: _USDC_L, 1: sol, 2: usdt}, 10**9, buffer=MARGIN_PRECISION // 50, asset=2, prices=prices)
    sol_after = out.spot_markets[1]
    assert drift.spot_token_amount(sol_after.revenue_pool_balance, sol_after) == 23944781
    c = drift.account_margin(out.user.spot_positions, spot_markets=out.spot_markets, spot_prices=prices,
                             margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50)
    assert c.meets_margin_requirement


# liquidate_borrow_for_perp_pnl: the SOL perp (market 0, $100, 10 % / 5 %, unrealised-pnl weights 0.9 / 1, liquidator
# fee 1 %) holds the user's closed positive pnl; its SOL borrow sits in slot 0; the liquidator holds 100 USDC. The
# tests pass PERCENTAGE_PRECISION (1e6) as the initial pct, which the max-pct maths caps at 100 %.
_SOL_PERP_L = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                         unrealized_pnl_initial_asset_weight=9000, unrealized_pnl_maintenance_asset_weight=10000,
                         liquidator_fee=LIQUIDATION_FEE_PRECISION // 100)
_PERP_L_PRICES = {0: 100 * PRICE_PRECISION}


def _liq_borrow(user, max_transfer, *, buffer, sol=_SOL_L, perp=_SOL_PERP_L, pct=drift.PERCENTAGE_PRECISION, slot=0,
                limit=None, liquidator=_LIQUIDATOR_100):
    return drift_spot.liquidate_borrow_for_perp_pnl(
        user, liquidator, 0, 1, max_transfer, spot_markets={0: _USDC_L, 1: sol}, spot_prices=_SPOT_L_PRICES,
        perp_markets={0: perp}, perp_prices=_PERP_L_PRICES, slot=slot, limit_price=limit,
        liquidation_margin_buffer_ratio=buffer, initial_pct_to_liquidate=pct, liquidation_duration=150)


def _pnl_user(sol_borrow: int, pnl: int) -> SpotAccount:
    return SpotAccount((drift.SpotPosition(1, sol_borrow, borrow=True),), (PerpPosition(quote_asset_amount=pnl),))


# (test fn, SOL borrow, user pnl, SOL market overrides, perp market, max transfer, buffer,
#  expected user SOL borrow and pnl, liquidator SOL borrow and pnl)
LIQUIDATE_BORROW_FOR_PERP_PNL = [
    ("liquidate_borrow_for_perp_pnl::successful_liquidation_liquidator_max_liability_transfer", _SBP, 100 * _Q, {},
     _SOL_PERP_L, 8 * 10**5, 10, (199999999, 19119120), (800000001, 80880880)),
    ("liquidate_borrow_for_perp_pnl::successful_liquidation_liability_transfer_to_cover_margin_shortage", _SBP, 105 * _Q,
     {}, _SOL_PERP_L, 2 * 10**6, MARGIN_PRECISION // 50, (357739999, 40066807), (642260001, 64933193)),
    ("liquidate_borrow_for_perp_pnl::successful_liquidation_liability_transfer_implied_by_pnl", _SBP, 80 * _Q, {},
     replace(_SOL_PERP_L, margin_ratio_maintenance=0), 2 * 10**6, 10, (208711999, 0), (791288001, 80000000)),
    ("liquidate_borrow_for_perp_pnl::successful_liquidation_dust_position", _SBP // 50, 107 * _Q // 50,
     dict(borrow_balance=_SBP // 50), _SOL_PERP_L, 2 * 10**6, MARGIN_PRECISION // 50, (0, 0), (20000001, 2140000)),
]


@pytest.mark.parametrize("fn, borrow, pnl, over, perp, max_transfer, buffer, user_expected, liq_expected",
                         LIQUIDATE_BORROW_FOR_PERP_PNL, ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_BORROW_FOR_PERP_PNL])
def test_liquidate_borrow_for_perp_pnl(fn, borrow, pnl, over, perp, max_transfer, buffer, user_expected, liq_expected):
    out = _liq_borrow(_pnl_user(borrow, pnl), max_transfer, buffer=buffer, sol=replace(_SOL_L, **over), perp=perp)
    assert (out.user.spot_positions[0].scaled_balance, out.user.perp_positions[0].quote_asset_amount) == user_expected
    assert out.liquidator.spot_positions[1].borrow
    assert (out.liquidator.spot_positions[1].scaled_balance, out.liquidator.perp_positions[0].quote_asset_amount) == liq_expected
    if "cover_margin_shortage" in fn:  # the test's margin after, margin ratio over the borrow, and no revenue
        c = drift.account_margin(out.user.spot_positions, out.user.perp_positions, spot_markets=out.spot_markets,
                                 perp_markets={0: perp}, spot_prices=_SPOT_L_PRICES, perp_prices=_PERP_L_PRICES,
                                 margin_type=MRT.MAINTENANCE, margin_buffer=buffer)
        assert (c.total_collateral, c.margin_requirement_plus_buffer) == (40066807, 40066880)
        value = drift.token_value(drift.spot_token_amount(out.user.spot_positions[0].scaled_balance, out.spot_markets[1],
                                                          borrow=True), 6, 100 * PRICE_PRECISION)
        assert abs(c.total_collateral) * MARGIN_PRECISION // abs(value) == 11199
        assert drift.spot_token_amount(out.spot_markets[1].revenue_pool_balance, out.spot_markets[1]) == 0


LIQUIDATE_BORROW_LIMIT = [
    ("liquidate_borrow_for_perp_pnl::failure_due_to_limit_price", 80880880 * PRICE_PRECISION // 800000 + 1, False),
    ("liquidate_borrow_for_perp_pnl::success_with_limit_price", 80880880 * PRICE_PRECISION // 800000 - 1, True),
]


@pytest.mark.parametrize("fn, limit, ok", LIQUIDATE_BORROW_LIMIT, ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_BORROW_LIMIT])
def test_liquidate_borrow_for_perp_pnl_limit_price(fn, limit, ok):
    if ok:
        _liq_borrow(_pnl_user(_SBP, 100 * _Q), 8 * 10**5, buffer=10, limit=limit)
    else:
        with pytest.raises(Rejected) as e:
            _liq_borrow(_pnl_user(_SBP, 100 * _Q), 8 * 10**5, buffer=10, limit=limit)
        assert e.value.reason == "LiquidationDoesntSatisfyLimitPrice"


def test_liquidate_borrow_for_perp_pnl_over_multiple_slots():
    """liquidate_borrow_for_perp_pnl::successful_liquidation_over_multiple_slots: $1050 pnl against 10 SOL borrowed
    (100 SOL deposited, 11 borrowed in the market), initial pct 10 %, slots 1, 51, 136, a 10 SOL liquidator cap."""
    sol = replace(_SOL_L, deposit_balance=100 * _SBP, borrow_balance=11 * _SBP)
    kw = dict(buffer=MARGIN_PRECISION // 50, sol=sol, pct=LIQUIDATION_PCT_PRECISION // 10)

    def pct_freed(out):
        c = drift.account_margin(out.user.spot_positions, out.user.perp_positions, spot_markets=out.spot_markets,
                                 perp_markets={0: _SOL_PERP_L}, spot_prices=_SPOT_L_PRICES, perp_prices=_PERP_L_PRICES,
                                 margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50)
        shortage = abs(c.margin_requirement_plus_buffer - c.total_collateral)
        return out.user.liquidation_margin_freed * PRICE_PRECISION // (shortage + out.user.liquidation_margin_freed)

    out = _liq_borrow(_pnl_user(10 * _SBP, 1050 * _Q), 10 * 10**6, slot=1,
                      liquidator=SpotAccount((drift.SpotPosition(0, 1000 * _SBP),)), **kw)
    u = out.user
    assert (u.last_active_slot, u.liquidation_margin_freed) == (1, 6999927)
    assert (u.spot_positions[0].scaled_balance, u.perp_positions[0].quote_asset_amount) == (9357739999, 985066807)
    assert pct_freed(out) == 99998
    out = _liq_borrow(u, 10 * 10**6, slot=51, liquidator=out.liquidator, **dict(kw, sol=out.spot_markets[1]))
    u = out.user
    assert (u.last_active_slot, u.liquidation_margin_freed) == (1, 30328628)
    assert (u.spot_positions[0].scaled_balance, u.perp_positions[0].quote_asset_amount) == (7217275998, 768663540)
    assert pct_freed(out) == 433266
    out = _liq_borrow(u, 10 * 10**6, slot=136, liquidator=out.liquidator, **dict(kw, sol=out.spot_markets[1]))
    assert (out.user.liquidation_margin_freed, out.user.last_active_slot) == (0, 1)


# liquidate_perp_pnl_for_deposit (cross): the user's SOL deposit (slot 0; the market holds 1 SOL deposited, none
# borrowed) against its closed negative pnl in the SOL perp; the liquidator holds 100 USDC.
_SOL_DEP = replace(_SOL_L, borrow_balance=0)


def _liq_pnl(user, max_transfer, *, buffer, pct=drift.PERCENTAGE_PRECISION, slot=0, limit=None,
             liquidator=_LIQUIDATOR_100, sol=_SOL_DEP):
    return drift_spot.liquidate_perp_pnl_for_deposit(
        user, liquidator, 0, 1, max_transfer, spot_markets={0: _USDC_L, 1: sol}, spot_prices=_SPOT_L_PRICES,
        perp_markets={0: _SOL_PERP_L}, perp_prices=_PERP_L_PRICES, slot=slot, limit_price=limit,
        liquidation_margin_buffer_ratio=buffer, initial_pct_to_liquidate=pct, liquidation_duration=150)


def _deposit_user(sol_deposit: int, pnl: int) -> SpotAccount:
    return SpotAccount((drift.SpotPosition(1, sol_deposit),), (PerpPosition(quote_asset_amount=pnl),))


# (test fn, SOL deposit, user pnl, max pnl transfer, buffer, expected user SOL deposit and pnl, liquidator SOL and pnl)
LIQUIDATE_PERP_PNL_FOR_DEPOSIT = [
    ("liquidate_perp_pnl_for_deposit::successful_liquidation_liquidator_max_pnl_transfer", _SBP, -100 * _Q, 50 * 10**6, 10,
     (494445000, -50000000), (505555000, -50000000)),
    ("liquidate_perp_pnl_for_deposit::successful_liquidation_pnl_transfer_to_cover_margin_shortage", _SBP, -91 * _Q,
     200 * 10**6, MARGIN_PRECISION // 50, (740788000, -65363637), (259212000, -25636363)),
    ("liquidate_perp_pnl_for_deposit::successful_liquidation_pnl_transfer_implied_by_asset_amount", _SBP, -150 * _Q,
     200 * 10**6, 10, (0, -51098901), (1000000000, -98901099)),
    ("liquidate_perp_pnl_for_deposit::successful_liquidate_dust_position", _SBP // 50, -91 * _Q // 50, 200 * 10**6,
     MARGIN_PRECISION // 50, (0, 0), (20000000, -1820000)),
]


@pytest.mark.parametrize("fn, deposit, pnl, max_transfer, buffer, user_expected, liq_expected", LIQUIDATE_PERP_PNL_FOR_DEPOSIT,
                         ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_PERP_PNL_FOR_DEPOSIT])
def test_liquidate_perp_pnl_for_deposit(fn, deposit, pnl, max_transfer, buffer, user_expected, liq_expected):
    out = _liq_pnl(_deposit_user(deposit, pnl), max_transfer, buffer=buffer)
    assert (out.user.spot_positions[0].scaled_balance, out.user.perp_positions[0].quote_asset_amount) == user_expected
    assert not out.liquidator.spot_positions[1].borrow
    assert (out.liquidator.spot_positions[1].scaled_balance, out.liquidator.perp_positions[0].quote_asset_amount) == liq_expected
    if fn.endswith("successful_liquidation_pnl_transfer_to_cover_margin_shortage"):
        # market_after.amm.total_liquidation_fee == 0: the market's total starts at 0 and this call adds out.if_fee
        assert out.if_fee == 0


LIQUIDATE_PNL_LIMIT = [
    ("liquidate_perp_pnl_for_deposit::failure_due_to_limit_price", 505555 * PRICE_PRECISION // 50000000 + 1, False),
    ("liquidate_perp_pnl_for_deposit::success_with_limit_price", 505555 * PRICE_PRECISION // 50000000 - 1, True),
]


@pytest.mark.parametrize("fn, limit, ok", LIQUIDATE_PNL_LIMIT, ids=[_src(C_LIQ, r[0]) for r in LIQUIDATE_PNL_LIMIT])
def test_liquidate_perp_pnl_for_deposit_limit_price(fn, limit, ok):
    if ok:
        _liq_pnl(_deposit_user(_SBP, -100 * _Q), 50 * 10**6, buffer=10, limit=limit)
    else:
        with pytest.raises(Rejected) as e:
            _liq_pnl(_deposit_user(_SBP, -100 * _Q), 50 * 10**6, buffer=10, limit=limit)
        assert e.value.reason == "LiquidationDoesntSatisfyLimitPrice"


def test_liquidate_perp_pnl_for_deposit_over_multiple_slots():
    """liquidate_perp_pnl_for_deposit::successful_liquidation_over_multiple_slots: 10 SOL against −$950 pnl, initial
    pct 10 %, slots 1, 51 ($200 cap) and 136 ($2000 cap); the liquidator holds 1000 USDC."""
    kw = dict(buffer=MARGIN_PRECISION // 50, pct=LIQUIDATION_PCT_PRECISION // 10)

    def pct_freed(out):
        c = drift.account_margin(out.user.spot_positions, out.user.perp_positions, spot_markets=out.spot_markets,
                                 perp_markets={0: _SOL_PERP_L}, spot_prices=_SPOT_L_PRICES, perp_prices=_PERP_L_PRICES,
                                 margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50)
        shortage = c.margin_shortage  # this test reads cross_margin_margin_shortage
        return out.user.liquidation_margin_freed * PRICE_PRECISION // (shortage + out.user.liquidation_margin_freed)

    out = _liq_pnl(_deposit_user(10 * _SBP, -950 * _Q), 200 * 10**6, slot=1,
                   liquidator=SpotAccount((drift.SpotPosition(0, 1000 * _SBP),)), **kw)
    u = out.user
    assert (u.last_active_slot, u.liquidation_margin_freed) == (1, 6900038)
    assert (u.spot_positions[0].scaled_balance, u.perp_positions[0].quote_asset_amount) == (9365758000, -887272728)
    assert pct_freed(out) == 100000
    out = _liq_pnl(u, 200 * 10**6, slot=51, liquidator=out.liquidator, sol=out.spot_markets[1], **kw)
    u = out.user
    assert (u.last_active_slot, u.liquidation_margin_freed) == (1, 28900058)
    assert (u.spot_positions[0].scaled_balance, u.perp_positions[0].quote_asset_amount) == (7343536000, -687272728)
    assert pct_freed(out) == 418841
    out = _liq_pnl(u, 2000 * 10**6, slot=136, liquidator=out.liquidator, sol=out.spot_markets[1], **kw)
    assert (out.user.last_active_slot, out.user.liquidation_margin_freed) == (1, 0)


def _slot(positions: tuple, i: int):
    """Slot ``i`` of Drift's fixed position array: past the positions given, an empty default one."""
    return positions[i] if i < len(positions) else type(positions[0])()


def test_liquidate_perp_pnl_for_deposit_asset_tier_violation():
    """liquidate_perp_pnl_for_deposit::failure_due_to_asset_tier_violation: with a SOL borrow (Collateral tier)
    outstanding, a HighlySpeculative perp's negative pnl may not be liquidated first; once liquidate_spot has taken
    the borrow, two pnl liquidations ($50 cap) leave the user first being liquidated, then bankrupt."""
    usdc = replace(_USDC_L, asset_tier=drift.AssetTier.COLLATERAL)
    sol = replace(_SOL_L, deposit_balance=10 * _SBP, borrow_balance=_SBP, asset_tier=drift.AssetTier.COLLATERAL)
    perp = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                      liquidator_fee=LIQUIDATION_FEE_PRECISION // 100)
    markets = dict(spot_prices=_SPOT_L_PRICES, perp_markets={0: perp}, perp_prices=_PERP_L_PRICES)
    user = SpotAccount((drift.SpotPosition(0, 200 * _SBP), drift.SpotPosition(1, _SBP, borrow=True)),
                       (PerpPosition(quote_asset_amount=-100 * _Q),))
    liquidator = SpotAccount((drift.SpotPosition(0, 2500 * _SBP),))
    pnl_kw = dict(liquidation_margin_buffer_ratio=10, initial_pct_to_liquidate=drift.PERCENTAGE_PRECISION,
                  liquidation_duration=150, **markets)
    with pytest.raises(Rejected):
        drift_spot.liquidate_perp_pnl_for_deposit(user, liquidator, 0, 0, 50 * 10**6, spot_markets={0: usdc, 1: sol}, **pnl_kw)
    # State { initial_pct_to_liquidate: (PERCENTAGE_PRECISION / 10) as u16 }: Rust's cast keeps 100000 mod 2^16
    out = drift_spot.liquidate_spot(user, liquidator, 0, 1, 10**9, spot_markets={0: usdc, 1: sol},
                                    liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50,
                                    initial_pct_to_liquidate=(drift.PERCENTAGE_PRECISION // 10) % 2**16,
                                    liquidation_duration=150, **markets)
    assert out.user.spot_positions[1].scaled_balance == 0
    out = drift_spot.liquidate_perp_pnl_for_deposit(out.user, out.liquidator, 0, 0, 50 * 10**6,
                                                    spot_markets=out.spot_markets, **pnl_kw)
    u = out.user
    assert (u.perp_positions[0].quote_asset_amount, u.spot_positions[0].scaled_balance) == (-50000000, 49394850000)
    assert (u.being_liquidated, u.bankrupt) == (True, False)  # status == BeingLiquidated
    out = drift_spot.liquidate_perp_pnl_for_deposit(u, out.liquidator, 0, 0, 50 * 10**6, spot_markets=out.spot_markets,
                                                    **pnl_kw)
    u = out.user
    assert (u.spot_positions[0].scaled_balance, u.spot_positions[1].scaled_balance) == (0, 0)
    assert u.perp_positions[0].quote_asset_amount == -1099098
    assert (u.being_liquidated, u.bankrupt) == (False, True)  # status == Bankrupt


def test_liquidate_perp_pnl_for_deposit_contract_tier_violation():
    """liquidate_perp_pnl_for_deposit::failure_due_to_contract_tier_violation: a Speculative perp's pnl (−$150) may
    not go before the tier-A perp's (−$100); once that is taken ($5000 cap), the Speculative one is ($50 cap)."""
    perp_a = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                        liquidator_fee=LIQUIDATION_FEE_PRECISION // 100, contract_tier=ContractTier.A)
    perp_spec = replace(perp_a, contract_tier=ContractTier.SPECULATIVE, market_index=1)
    kw = dict(spot_markets={0: _USDC_L, 1: _SOL_DEP}, spot_prices=_SPOT_L_PRICES, perp_markets={0: perp_a, 1: perp_spec},
              perp_prices={0: 100 * PRICE_PRECISION, 1: 100 * PRICE_PRECISION}, liquidation_margin_buffer_ratio=10,
              initial_pct_to_liquidate=drift.PERCENTAGE_PRECISION, liquidation_duration=150)
    user = SpotAccount((drift.SpotPosition(0, 200 * _SBP), drift.SpotPosition(1, _SBP // 1000)),
                       (PerpPosition(quote_asset_amount=-100 * _Q), PerpPosition(market_index=1, quote_asset_amount=-150 * _Q)))
    with pytest.raises(Rejected):
        drift_spot.liquidate_perp_pnl_for_deposit(user, _LIQUIDATOR_100, 1, 0, 50 * 10**6, **kw)
    assert user.perp_positions[0].quote_asset_amount == -100000000
    out = drift_spot.liquidate_perp_pnl_for_deposit(user, _LIQUIDATOR_100, 0, 0, 5000 * 10**6, **kw)
    assert out.user.perp_positions[0].quote_asset_amount == 0
    out = drift_spot.liquidate_perp_pnl_for_deposit(out.user, out.liquidator, 1, 0, 50 * 10**6,
                                                    **dict(kw, spot_markets=out.spot_markets))
    u, liq = out.user, out.liquidator
    assert u.spot_positions[0].scaled_balance == 48484849000
    assert (u.perp_positions[0].quote_asset_amount, u.perp_positions[1].quote_asset_amount) == (0, -100000000)
    assert (_slot(liq.spot_positions, 1).borrow, _slot(liq.spot_positions, 1).scaled_balance) == (False, 0)
    assert liq.perp_positions[0].quote_asset_amount == -100000000


def test_liquidate_spot_with_swap():
    """liquidate_spot_with_swap::successful_liquidation_liability_transfer_to_cover_margin_shortage: 105 USDC against
    1 SOL borrowed (SOL liquidator and IF fees 1 %, buffer 2 %): a swap of more than the covering asset + 25 bps is
    refused; 64.3382 USDC in for 0.643382 SOL out covers the shortage and the IF takes 1 % of the SOL."""
    sol = replace(_SOL_L, liquidator_fee=LIQUIDATION_FEE_PRECISION // 100, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 100)
    kw = dict(spot_markets={0: _USDC_L, 1: sol}, spot_prices=_SPOT_L_PRICES, liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50)
    user = _spot_user(105 * _SBP, _SBP)
    asset_transfer, liability_transfer = 64338200, 643382
    with pytest.raises(Rejected) as e:
        drift_spot.liquidate_spot_with_swap_begin(user, _LIQUIDATOR_100, 0, 1, asset_transfer + asset_transfer // 400 + 1,
                                                  initial_pct_to_liquidate=LIQUIDATION_PCT_PRECISION, liquidation_duration=150,
                                                  **kw)
    assert e.value.reason == "InvalidLiquidation"
    user = drift_spot.liquidate_spot_with_swap_begin(user, _LIQUIDATOR_100, 0, 1, asset_transfer,
                                                     initial_pct_to_liquidate=LIQUIDATION_PCT_PRECISION,
                                                     liquidation_duration=150, **kw)
    out = drift_spot.liquidate_spot_with_swap_end(user, 0, 1, asset_transfer, liability_transfer, **kw)
    assert not out.user.being_liquidated
    assert out.user.spot_positions[0].signed_token_amount(out.spot_markets[0]) == 40661800
    assert out.user.spot_positions[1].signed_token_amount(out.spot_markets[1]) == -363051
    assert drift.spot_token_amount(out.spot_markets[1].revenue_pool_balance, out.spot_markets[1]) == liability_transfer // 100


# liquidate_isolated_perp_pnl_for_deposit: the negative pnl of an isolated SOL-perp position with 90 USDC of its own
# (no cross balances) against the liquidator's 100 USDC.
def _iso_pnl_user(pnl: int) -> SpotAccount:
    return SpotAccount((), (PerpPosition(quote_asset_amount=pnl, isolated=True, isolated_position_scaled_balance=90 * _SBP),))


def test_liquidate_isolated_perp_pnl_for_deposit_max_pnl_transfer():
    """liquidate_isolated_perp_pnl_for_deposit::successful_liquidation_liquidator_max_pnl_transfer: −$100 pnl, a $50
    cap: half the pnl for ~$50.5 of the isolated USDC."""
    out = drift_spot.liquidate_perp_pnl_for_deposit(
        _iso_pnl_user(-100 * _Q), _LIQUIDATOR_100, 0, 0, 50 * 10**6, spot_markets={0: _USDC_L, 1: _SOL_DEP},
        spot_prices=_SPOT_L_PRICES, perp_markets={0: _SOL_PERP_L}, perp_prices=_PERP_L_PRICES,
        liquidation_margin_buffer_ratio=10, initial_pct_to_liquidate=drift.PERCENTAGE_PRECISION, liquidation_duration=150)
    p = out.user.perp_positions[0]
    assert (p.isolated_position_scaled_balance, p.quote_asset_amount) == (39494950000, -50000000)
    assert not _slot(out.liquidator.spot_positions, 1).borrow
    assert out.liquidator.spot_positions[0].scaled_balance == 150505050000
    assert out.liquidator.perp_positions[0].quote_asset_amount == -50000000


def test_liquidate_isolated_perp_pnl_for_deposit_leaves_position_bankrupt():
    """liquidate_isolated_perp_pnl_for_deposit::successful_liquidation_pnl_transfer_leaves_position_bankrupt: −$91
    pnl against 90 USDC (perp IF fee 1 %, unused here): all the USDC goes, −$1.90 is left and the position is
    bankrupt; the user then fails its maintenance requirement (the position's); resolving the bankruptcy clears the
    position's quote and its flags."""
    perp = replace(_SOL_PERP_L, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 100)
    kw = dict(spot_prices=_SPOT_L_PRICES, perp_markets={0: perp}, perp_prices=_PERP_L_PRICES)
    out = drift_spot.liquidate_perp_pnl_for_deposit(
        _iso_pnl_user(-91 * _Q), _LIQUIDATOR_100, 0, 0, 200 * 10**6, spot_markets={0: _USDC_L, 1: _SOL_DEP},
        liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50, initial_pct_to_liquidate=drift.PERCENTAGE_PRECISION,
        liquidation_duration=150, **kw)
    p = out.user.perp_positions[0]
    assert (p.isolated_position_scaled_balance, p.quote_asset_amount) == (0, -1900000)
    assert 0 in out.user.isolated_bankrupt  # position_flag & Bankrupt
    assert out.liquidator.spot_positions[0].scaled_balance == 190000000000
    assert out.liquidator.perp_positions[0].quote_asset_amount == -89100000
    assert out.if_fee == 0  # market_after.amm.total_liquidation_fee == 0 (starts at 0; this call adds out.if_fee)
    c = drift.account_margin(out.user.spot_positions, out.user.perp_positions, spot_markets=out.spot_markets,
                             margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50, **kw)
    assert c.meets_margin_requirement is False
    # resolve_perp_bankruptcy(market 0, insurance vault 0): the market's longs (base_asset_amount_long 1) absorb it
    user, _ = drift_spot.resolve_perp_bankruptcy_account(out.user, out.liquidator, 0, insurance_fund_vault_balance=0,
                                                         base_asset_amount_long=BASE_PRECISION, base_asset_amount_short=0)
    p = user.perp_positions[0]
    assert (p.isolated_position_scaled_balance, p.quote_asset_amount) == (0, 0)
    assert 0 not in user.isolated_bankrupt  # position_flag & Bankrupt == 0
    assert not (user.being_liquidated or user.isolated_being_liquidated)  # is_being_liquidated() == false


# liquidation_mode::*: which calculation, status and orders a perp liquidation works on.
def test_liquidation_mode_meets_margin_requirements():
    """liquidation_mode::tests_meets_margin_requirements: an isolated SOL-perp position (−$100 pnl) beside a cross
    one in market 1 (−$100); 200 USDC cross / 90 isolated: cross meets, isolated does not; 90 / 200: the reverse."""
    markets = {0: _SOL_PERP_L, 1: replace(_SOL_PERP_L, market_index=1)}
    cross, isolated = drift_spot.CrossMarginLiquidatePerpMode(0), drift_spot.IsolatedMarginLiquidatePerpMode(0)
    for cross_usdc, iso_usdc, cross_meets in ((200, 90, True), (90, 200, False)):
        perps = (PerpPosition(quote_asset_amount=-100 * _Q, isolated=True, isolated_position_scaled_balance=iso_usdc * _SBP),
                 PerpPosition(market_index=1, quote_asset_amount=-100 * _Q))
        c = drift.account_margin((drift.SpotPosition(0, cross_usdc * _SBP),), perps, spot_markets={0: _USDC_L, 1: _SOL_DEP},
                                 perp_markets=markets, spot_prices=_SPOT_L_PRICES,
                                 perp_prices={0: 100 * PRICE_PRECISION, 1: 100 * PRICE_PRECISION},
                                 margin_type=MRT.MAINTENANCE, margin_buffer=MARGIN_PRECISION // 50)
        assert cross.meets_margin_requirements(c) is cross_meets
        assert isolated.meets_margin_requirements(c) is (not cross_meets)


def test_get_perp_liquidation_mode_returns_cross_margin_when_no_position():
    """liquidation_mode::get_perp_liquidation_mode_returns_cross_margin_when_no_position: a user being liquidated with
    no position in the market gets the cross mode, which sees it being liquidated and lets it leave."""
    user = SpotAccount((), (), being_liquidated=True)
    mode = drift_spot.get_perp_liquidation_mode(user, 0)
    assert mode.user_is_being_liquidated(user) is True
    assert not mode.exit_liquidation(user).being_liquidated


def test_get_perp_liquidation_mode_returns_isolated_when_isolated_position():
    """liquidation_mode::get_perp_liquidation_mode_returns_isolated_when_isolated_position: an isolated position gets
    the isolated mode: not being liquidated, and it cancels only that perp market's orders."""
    user = SpotAccount((), (PerpPosition(base_asset_amount=1, quote_asset_amount=-100 * _Q, isolated=True,
                                         isolated_position_scaled_balance=90 * _SBP),))
    mode = drift_spot.get_perp_liquidation_mode(user, 0)
    assert mode.user_is_being_liquidated(user) is False
    assert mode.cancel_orders_params() == ("perp", 0)


# Accounts with a cross and an isolated perp position: a liquidation in one mode leaves the other untouched.
_TWO_PERPS = {0: PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500, order_step_size=10000000,
                            liquidator_fee=LIQUIDATION_FEE_PRECISION // 100, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 100)}
_TWO_PERPS[1] = replace(_TWO_PERPS[0], market_index=1)
_TWO_PERP_PRICES = {0: 100 * PRICE_PRECISION, 1: 100 * PRICE_PRECISION}


def test_unhealthy_cross_margin_doesnt_cause_isolated_position_liquidation():
    """liquidate_perp::unhealthy_cross_margin_doesnt_cause_isolated_position_liquidation: a cross long (entered at
    $150, no collateral) and an isolated long in market 1 (entered at $50, 200 USDC isolated): the isolated one is
    refused (SufficientCollateral), the cross one is liquidated and the isolated position is unchanged."""
    usdc = SpotMarket(market_index=0, decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION)
    user = SpotAccount((), (PerpPosition(base_asset_amount=_B, quote_asset_amount=-150 * _Q, quote_entry_amount=-150 * _Q,
                                         quote_break_even_amount=-150 * _Q),
                            PerpPosition(market_index=1, base_asset_amount=_B, quote_asset_amount=-50 * _Q,
                                         quote_entry_amount=-50 * _Q, quote_break_even_amount=-150 * _Q, isolated=True,
                                         isolated_position_scaled_balance=200 * _SBP)))
    kw = dict(spot_markets={0: usdc}, spot_prices={0: PRICE_PRECISION}, perp_markets=_TWO_PERPS, perp_prices=_TWO_PERP_PRICES,
              liquidation_margin_buffer_ratio=10, initial_pct_to_liquidate=LIQUIDATION_PCT_PRECISION, liquidation_duration=150)
    with pytest.raises(Rejected) as e:
        drift_spot.liquidate_perp_in_account(user, 1, BASE_PRECISION, **kw)
    assert e.value.reason == "SufficientCollateral"
    out = drift_spot.liquidate_perp_in_account(user, 0, BASE_PRECISION, **kw)
    assert out.user.perp_positions[1] == user.perp_positions[1]


def test_unhealthy_isolated_perp_doesnt_cause_cross_margin_liquidation():
    """liquidate_isolated_perp::unhealthy_isolated_perp_doesnt_cause_cross_margin_liquidation: 100 USDC and a $1 borrow
    of market 1 (a $1 stable, weights 1) beside a cross long in perp 1 at its entry price and an isolated long in perp
    0 entered at $150 with no isolated balance and a 1-base bid: the cross perp and the spot borrow are refused
    (SufficientCollateral); cross meets, the isolated position does not; liquidating it leaves the cross positions
    unchanged."""
    usdc = SpotMarket(market_index=0, decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION,
                      maintenance_asset_weight=SPOT_WEIGHT_PRECISION, initial_liability_weight=SPOT_WEIGHT_PRECISION,
                      maintenance_liability_weight=SPOT_WEIGHT_PRECISION, last_oracle_price_twap=PRICE_PRECISION,
                      last_oracle_price_twap_5min=PRICE_PRECISION)
    spot_markets = {0: usdc, 1: replace(usdc, market_index=1)}
    spot_prices = {0: PRICE_PRECISION, 1: PRICE_PRECISION}
    user = SpotAccount((drift.SpotPosition(0, 100 * _SBP), drift.SpotPosition(1, _SBP, borrow=True)),
                       (PerpPosition(base_asset_amount=_B, quote_asset_amount=-150 * _Q, quote_entry_amount=-150 * _Q,
                                     quote_break_even_amount=-150 * _Q, open_orders=1, open_bids=_B, isolated=True),
                        PerpPosition(market_index=1, base_asset_amount=_B, quote_asset_amount=-100 * _Q,
                                     quote_entry_amount=-100 * _Q, quote_break_even_amount=-100 * _Q)))
    kw = dict(spot_markets=spot_markets, spot_prices=spot_prices, perp_markets=_TWO_PERPS, perp_prices=_TWO_PERP_PRICES,
              liquidation_margin_buffer_ratio=10, initial_pct_to_liquidate=LIQUIDATION_PCT_PRECISION, liquidation_duration=150)
    with pytest.raises(Rejected) as e:
        drift_spot.liquidate_perp_in_account(user, 1, BASE_PRECISION, **kw)
    assert e.value.reason == "SufficientCollateral"
    liquidator = SpotAccount((drift.SpotPosition(0, 50 * _SBP),))
    with pytest.raises(Rejected) as e:
        drift_spot.liquidate_spot(user, liquidator, 0, 1, 1, **kw)
    assert e.value.reason == "SufficientCollateral"
    c = drift.account_margin(user.spot_positions, user.perp_positions, spot_markets=spot_markets, spot_prices=spot_prices,
                             perp_markets=_TWO_PERPS, perp_prices=_TWO_PERP_PRICES, margin_type=MRT.MAINTENANCE,
                             margin_buffer=10)
    assert (c.meets_cross_margin_requirement, c.meets_margin_requirement) == (True, False)
    assert c.isolated_calculation(0).meets_margin_requirement is False
    out = drift_spot.liquidate_perp_in_account(user, 0, BASE_PRECISION, **kw)
    assert out.user.spot_positions == user.spot_positions
    assert out.user.perp_positions[1] == user.perp_positions[1]


# ============================================================================ controller/liquidation/tests.rs: liquidate_perp_with_fill
# The four tests share one market: AMM reserves 100/100, sqrt_k 100, peg $100, step 0.01, tick 1, quote amount −$150,
# oracle $100 (its TWAPs too: HistoricalOracleData::default_price); margin 10 % / 5 %, liquidator fee 1 %, IF fee 1 %.
# USDC (market 0) as the tests set it (initial weight 1, interest 1e10). The user: USDC 4, a 1-base position at $100
# (long or short). A maker (USDC 100) rests a post-only 0.5 limit at $100 placed at slot 99; the fill is at slot 100.
# Maker tests: spread reserves 101/99 (bid) and 99/101 (ask), max_fill_reserve_fraction 100, max base reserve 0.
# AMM tests: spread reserves 100/100, max_fill_reserve_fraction 1, max base reserve u64::MAX, min 0, no maker.
# Oracle validity, an input to amm_can_fill_order: math/oracle.rs::oracle_validity without overrides flags every
# delay as stale for immediate AMM fills, and as stale for low-risk ones once the delay exceeds 10 slots. The maker
# tests' Pyth account leaves valid_slot 0 (delay 100); the AMM tests set it to the clock slot (delay 0).
_FILL_R = drift_amm.AMM_RESERVE_PRECISION
_FILL_MARKET = PerpMarket(margin_ratio_initial=1000, margin_ratio_maintenance=500,
                          liquidator_fee=LIQUIDATION_FEE_PRECISION // 100, if_liquidation_fee=LIQUIDATION_FEE_PRECISION // 100,
                          order_step_size=10000000)
_FILL_USDC = SpotMarket(market_index=0, decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION)


def _fill_amm(with_amm: bool) -> drift_fill.FillAmm:
    amm = drift_amm.AMM(base_asset_reserve=100 * _FILL_R, quote_asset_reserve=100 * _FILL_R, sqrt_k=100 * _FILL_R,
                        peg_multiplier=100 * drift_amm.PEG_PRECISION, order_step_size=10000000, order_tick_size=1,
                        quote_asset_amount=-150 * QUOTE_PRECISION, max_base_asset_reserve=2**64 - 1 if with_amm else 0,
                        last_oracle_price=_P100, last_oracle_price_twap=_P100, last_oracle_price_twap_5min=_P100)
    if with_amm:
        return drift_fill.FillAmm(amm, 100 * _FILL_R, 100 * _FILL_R, 100 * _FILL_R, 100 * _FILL_R, max_fill_reserve_fraction=1)
    return drift_fill.FillAmm(amm, 101 * _FILL_R, 99 * _FILL_R, 99 * _FILL_R, 101 * _FILL_R, max_fill_reserve_fraction=100)


# (test fn, user long?, AMM test?, expected user (base, quote), maker (base, quote) or None, liquidator (base, quote),
#  market.amm.total_liquidation_fee)
LIQUIDATE_PERP_WITH_FILL = [
    ("successful_liquidate_perp_with_fill_long", True, False, (640000000, -64396000), (360000000, -35992800), (0, 3600),
     360000),
    ("successful_liquidate_perp_with_fill_short", False, False, (-640000000, 63604000), (-360000000, 36007200), (0, 3600),
     360000),
    ("successful_liquidate_perp_with_fill_long_with_amm", True, True, (640000000, -64523715), None, (0, 3587), 358708),
    ("successful_liquidate_perp_with_fill_short_with_amm", False, True, (-640000000, 63472500), None, (0, 3613), 361300),
]


@pytest.mark.parametrize("fn, long, with_amm, user_expected, maker_expected, liq_expected, if_total", LIQUIDATE_PERP_WITH_FILL,
                         ids=[_src(C_LIQ, "liquidate_perp_with_fill::" + r[0]) for r in LIQUIDATE_PERP_WITH_FILL])
def test_liquidate_perp_with_fill(fn, long, with_amm, user_expected, maker_expected, liq_expected, if_total):
    sign, B, Q = (1 if long else -1), BASE_PRECISION, QUOTE_PRECISION
    user = SpotAccount((drift.SpotPosition(0, 4 * SPOT_BALANCE_PRECISION),),
                       (PerpPosition(base_asset_amount=sign * B, quote_asset_amount=-sign * 100 * Q,
                                     quote_entry_amount=-sign * 100 * Q, quote_break_even_amount=-sign * 100 * Q),))
    maker_dir = drift_amm.PositionDirection.LONG if long else drift_amm.PositionDirection.SHORT
    makers = () if with_amm else (drift_fill.MakerOrder(
        maker_dir, _P100, B // 2, PerpPosition(open_orders=1, open_bids=B // 2 if long else 0,
                                               open_asks=0 if long else -B // 2),
        quote_deposit=100 * Q, slot=99),)
    fa = _fill_amm(with_amm)
    mm = drift_amm.mm_oracle_price_data(0, 0, 0, drift_amm.OracleValidity.VALID,
                                        drift_amm.OraclePriceData(price=_P100, delay=0 if with_amm else 100))
    taker_order = drift_amm.Order(slot=100, direction=maker_dir)  # the liquidation order: opposite the position
    amm_ok = drift_amm.amm_can_fill_order(drift_amm.AmmPerpMarket(amm=fa.amm), taker_order, 100,
                                          drift_amm.FillMode.LIQUIDATION, 0,
                                          drift_amm.StaleForAmm(immediate=True, low_risk=not with_amm),
                                          drift_amm.user_can_skip_auction_duration(0, True), mm)
    assert amm_ok == with_amm
    out = drift_spot.liquidate_perp_with_fill_in_account(
        user, 0, spot_markets={0: _FILL_USDC}, spot_prices={0: PRICE_PRECISION}, perp_markets={0: _FILL_MARKET},
        perp_prices={0: _P100}, fill_amm=fa, amm_is_available=amm_ok, oracle_twap_5min=_P100, makers=makers, slot=100,
        liquidation_margin_buffer_ratio=10, initial_pct_to_liquidate=LIQUIDATION_PCT_PRECISION, liquidation_duration=150)
    p = out.user.perp_positions[0]
    assert (p.base_asset_amount, p.quote_asset_amount) == user_expected
    assert (p.open_orders, p.open_bids) == (0, 0)
    if maker_expected is not None:
        m = out.fill.makers[0].position
        assert (m.base_asset_amount, m.quote_asset_amount) == maker_expected
    f = out.fill.filler_position
    assert (f.base_asset_amount, f.quote_asset_amount) == liq_expected
    assert out.if_fee == if_total  # the market's total_liquidation_fee starts at 0


def test_liquidate_perp_with_fill_no_fill_is_an_error():
    """No maker and no AMM: Drift's LiquidationOrderFailedToFill (controller/liquidation.rs::liquidate_perp_with_fill)."""
    user = SpotAccount((drift.SpotPosition(0, 4 * SPOT_BALANCE_PRECISION),),
                       (PerpPosition(base_asset_amount=BASE_PRECISION, quote_asset_amount=-100 * QUOTE_PRECISION),))
    with pytest.raises(Rejected) as e:
        drift_spot.liquidate_perp_with_fill_in_account(
            user, 0, spot_markets={0: _FILL_USDC}, spot_prices={0: PRICE_PRECISION}, perp_markets={0: _FILL_MARKET},
            perp_prices={0: _P100}, fill_amm=_fill_amm(False), amm_is_available=False, oracle_twap_5min=_P100, slot=100,
            liquidation_margin_buffer_ratio=10)
    assert e.value.reason == "LiquidationOrderFailedToFill"



# ============================================================================ controller/liquidation/tests.rs: dust on mainnet snapshots
# liquidate_dust_spot_market::test: upstream's base64 snapshots of mainnet accounts (a User, the USDC / SOL / BTC
# SpotMarkets, their Pyth pull PriceUpdateV2 oracles), decoded with Drift's layouts (ramparts.venues.drift_accounts).
# The controller first runs update_spot_market_and_check_validity on the asset (SOL) and liability (BTC) markets:
# interest accrued to `now` through each market's rate curve and the oracle TWAPs updated
# (drift_spot.update_spot_market_cumulative_interest), then the Liquidate oracle check (in drift_spot.liquidate_spot).
# State::default() with the test's twap-5min divergence (1e18) and 2 % buffer; initial pct and duration 0.
_DUST_NOW, _DUST_SLOT = 1734721516, 308728664
_PYTH_PULL, _PYTH_STABLE_COIN_PULL = 7, 10  # state/oracle.rs::OracleSource
_DUST_SPOT_USDC_MARKET = (
    "ZLEIa6hBQSdUX6MOo7w/PClm2otsPf7406t9pXygIypU5KAmT//Dwsy3xpWPA/Pp1GfkQjwaxq3rB7BfPBWigujgMxXAX1Z3xvp6877b"
    "rTo9ZfNqq8l0MbG75MLS9uDkfKYCA0UvXWHmsHZFgFFAI49uEcLfeyYJqqXqJL+++g9w+I4yK2cfD1VTREMgICAgICAgICAgICAgICAg"
    "ICAgICAgICAgICAgQEIPAAAAAAC5AwAAAAAAABEAAAAAAAAAQUIPAAAAAABBQg8AAAAAAN+/ZWcAAAAAQEIPAAAAAABAQg8AAAAAAEBC"
    "DwAAAAAAQEIPAAAAAAAAAAAAAAAAAO2k0ouFEwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABHkMifZGT+F"
    "rLhfKfHFav7xo95PrVMA7wMfE+znV7oDDlnHAdcEAAAAAAAAAAAAAJCwvyUPBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgCMRAAAA"
    "AABuu2VnAAAAABAOAAAAAAAAECcAAIgTAAAAAAAAAAAAAAAAAAAAAAAACM/6sp9NEAMAAAAAAAAAANyWA1vB8vEBAAAAAAAAAAC5ZLed"
    "AgAAAAAAAAAAAAAAx/y56wIAAAAAAAAAAAAAACe+FXwAAAAAAAAAAAAAAAB//Bd8AAAAAAAAAAAAAAAAABCl1OgAAAAAQGNSv8YBAAVg"
    "YO6o1gAAlnYc/ceXAABv9QoAAAAAAOq/ZWcAAAAA6r9lZwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AQAAAAAAAAAHvacAAAAAABAnAAAQJwAAECcAABAnAAAAAAAAAAAAAIgTAABgrgoA8EkCAICEHgAGAAAAAAAACgEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAKMFwEAAAAAAMBuMdkQAQAAAAABAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
_DUST_SPOT_SOL_MARKET = (
    "ZLEIa6hBQScr1lQqaOSFYS9WELcT14N7mJY9eLJbJXlsZ9Z5/AUPNpcdDKvImMwegHYSrqlRr4mPm/gqRPWD+8llAWp4/D4KBpuIV/6r"
    "gYT7aH9jRhjANdrEOdwa6ztVmKDwAAAAAAG8K5ZficO5VwesMce/cvsBy5AvfQoKym53Aehbqm9wSVNPTCAgICAgICAgICAgICAgICAg"
    "ICAgICAgICAgICAgw2JiCwAAAADvSgIAAAAAAAQAAAAAAAAAD2tcCwAAAADWJ18LAAAAAOW/ZWcAAAAA0LJdCwAAAABwOV8LAAAAAINt"
    "WwsAAAAAGKhZCwAAAAA9vWVnAAAAAFHWDB8BAAAAAAAAAAAAAAABAAAAAAAAAAqtcVLKhQIAAAAAAAAAAAAAAAAAAAAAADpkXCdmJx0E"
    "dwIORIO8ZZZfwYHxXgB+hbpTZnbj4vD2dYDtpq0AAAAAAAAAAAAAAFTJ1+mOAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgCMRAAAA"
    "AADFsGVnAAAAABAOAAAAAAAAQA0DAGDqAAA3oFR62wAAAAAAAAAAAAAAFx41AuZzAQAAAAAAAAAAAFm4hCDxqQAAAAAAAAAAAADv3u5p"
    "AgAAAAAAAAAAAAAAPgX1kQIAAAAAAAAAAAAAAC/oSAsAAAAAAAAAAAAAAABX51MBAAAAAAAAAAAAAAAAACA9iHktAAAAIA8MEgUDAJo8"
    "rDZbtwEAj9xzvi6sAACCOAYAAAAAAOW/ZWcAAAAA5b9lZwAAAAAAAAAAAAAAAKCGAQAAAAAAZAAAAAAAAAAA4fUFAAAAAAAAAAAAAAAA"
    "Hc0dAAAAAADqRJYAAAAAAEAfAAAoIwAA4C4AAPgqAADiBAAATB0AAORXAAAANQwA4CICAIBPEgAJAAAAAQABBwEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAJMvoAIAAAAAAEAPhLWjAAABAAABAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
_DUST_SPOT_BTC_MARKET = (
    "ZLEIa6hBQSc8PneF/UaEHXUvNAKBDYzFEth8zuNsU/RjhT3POJeVtH29BUUxTm/izrxCmvmE71Qipt4AMCT0gQnMuKstsICKIzzqR01s"
    "tRPa1CHILmgfgO11EkVd+5H8aDY7mdkVZYImEGLbWKmQIQDHgAf+18OTFJGMv5G6fep4zl3vqc926ndCVEMgICAgICAgICAgICAgICAg"
    "ICAgICAgICAgICAg9RVThxYAAADCasMHAAAAACAAAAAAAAAAia/ThBYAAACESzuKFgAAAOW/ZWcAAAAAEICN4AsAAAAAFOhdDwAAAOFt"
    "O58NAAAA4W07nw0AAADZ6IdmAAAAAFA2AAAAAAAAAAAAAAAAAAADAAAAAAAAAChZ91WwAAAAAAAAAAAAAAAAAAAAAAAAAMVlHSELrQJ7"
    "Nn5RJ6oJu2KIpMq03lncOs4Msa86qgGtpMjdAgAAAAAAAAAAAAAAAODJ1gIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgCMRAAAA"
    "AADFsGVnAAAAABAOAAAAAAAAQA0DAGDqAABS7m5TAAAAAAAAAAAAAAAAt2mmiicAAAAAAAAAAAAAAPpey9ICAAAAAAAAAAAAAADxvsRV"
    "AgAAAAAAAAAAAAAAHZBkXQIAAAAAAAAAAAAAAKUIAAAAAAAAAAAAAAAAAACTWhMAAAAAAAAAAAAAAAAAAITXFwAAAAAArCP8BgAAAI7z"
    "K+4DAAAA6ZOxRwAAAABbGwEAAAAAAOW/ZWcAAAAA5b9lZwAAAAAAAAAAAAAAABAnAAAAAAAAECcAAAAAAAAQJwAAAAAAAAAAAAAAAAAA"
    "9A0AAAAAAAA8PgAAAAAAAEAfAAAoIwAA4C4AAPgqAAAomgEATB0AAPR+AAAgoQcAoIYBAGDjFgAIAAAAAwABBwEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAEDlnDASAAAAAAABAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
_DUST_SPOT_USDC_ORACLE = (
    "IvEjY51+9M3Mt8aVjwPz6dRn5EI8Gsat6wewXzwVooLo4DMVwF9WdwAC6qAgxhzEeXEoE0Yc4VOJSpamwAsh7Qz8J5jR+anpyUrj3/UF"
    "AAAAAEV0AQAAAAAA+P///9a/ZWcAAAAA1b9lZwAAAACf5vUFAAAAAO80AQAAAAAALNNmEgAAAAA="
)
_DUST_SPOT_SOL_ORACLE = (
    "IvEjY51+9M2XHQyryJjMHoB2Eq6pUa+Jj5v4KkT1g/vJZQFqePw+CgAC7w2Lb9os66QdoV1AldHaOSoNL47Qxse8D0z6yMKAtW1YlG5y"
    "BAAAAIhF5QAAAAAA+P///+K/ZWcAAAAA4b9lZwAAAABA7ldwBAAAAHvY2gAAAAAASNNmEgAAAAA="
)
_DUST_SPOT_BTC_ORACLE = (
    "IvEjY51+9M19vQVFMU5v4s68Qpr5hO9UIqbeADAk9IEJzLirLbCAigACydiwdaXGkwM2WuI2M9TghRmb9cUgo7kP7RMioDQv/DMSlHTc"
    "zAgAANezVQgDAAAA+P///9a/ZWcAAAAA1b9lZwAAAACg990jzAgAAJQ+EgkDAAAALNNmEgAAAAA="
)
_DUST_SPOT_USER = (
    "n3Vf4++XOuwLsTVvD0RzIZV6wjrBQeGW8UQMhZsq83DJs/s2vF8BJgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAU3VwZXIg"
    "U3Rha2UgSml0b1NPTCAgICAgICAgICAgICAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACLs0oSAAAAAAAAAQAAAAAAAgAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAADAAEAAAAAAEoWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAF7LlQIAAAAAAQAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAACEq////////wkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAKAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAArCdo+f////8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAckVb/v////8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA5m6nawIAAACpqB6cAgAAAAAA"
    "AAAAAAAAfM3A7f////8AAAAAAAAAAH0c1///////AAAAAAAAAADgQmISAAAAAA0AAADQBwAABwAAAAEBAAAAAAAAAAAAAOq/ZWcAAAAA"
    "AAAAAAAAAAA="
)


def test_liquidate_dust_spot_market():
    """controller/liquidation/tests.rs::liquidate_dust_spot_market::test: ``liquidate_spot(asset 1, liability 3,
    max transfer 1)`` of a user holding a dust BTC borrow against a dust SOL deposit returns ``Ok(())``."""
    raw = {i: acc.decode_spot_market(b64decode(s)) for i, s in
           ((0, _DUST_SPOT_USDC_MARKET), (1, _DUST_SPOT_SOL_MARKET), (3, _DUST_SPOT_BTC_MARKET))}
    oracles = {0: _DUST_SPOT_USDC_ORACLE, 1: _DUST_SPOT_SOL_ORACLE, 3: _DUST_SPOT_BTC_ORACLE}
    assert [raw[i]["oracle_source"] for i in (0, 1, 3)] == [_PYTH_STABLE_COIN_PULL, _PYTH_PULL, _PYTH_PULL]
    prices = {i: acc.decode_pyth_pull_price(b64decode(oracles[i]), _DUST_SLOT,
                                            stable_coin=raw[i]["oracle_source"] == _PYTH_STABLE_COIN_PULL).price
              for i in raw}
    markets = {i: acc.spot_market(m) for i, m in raw.items()}
    for i in (1, 3):  # update_spot_market_and_check_validity: asset market, then liability market
        markets[i] = drift_spot.update_spot_market_cumulative_interest(markets[i], _DUST_NOW, prices[i])
    user = acc.spot_account(acc.decode_user(b64decode(_DUST_SPOT_USER)))
    liquidator = SpotAccount((drift.SpotPosition(0, 100 * SPOT_BALANCE_PRECISION),))
    out = drift_spot.liquidate_spot(user, liquidator, 1, 3, 1, spot_markets=markets, spot_prices=prices, slot=_DUST_SLOT,
                                    liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50, initial_pct_to_liquidate=0,
                                    liquidation_duration=0, max_oracle_twap_5min_percent_divergence=10**18)
    assert isinstance(out, drift_spot.SpotAccountLiquidation)  # upstream: assert_eq!(result, Ok(()))


# liquidate_dust_prediction_market::test: a settled prediction market (status Settlement, expiry price 1e-6) whose
# oracle is a PrelaunchOracle, the USDC / SOL SpotMarkets and their Pyth pull oracles, and a User holding one share
# long and a dust SOL deposit. liquidate_perp reads no spot-market update; after cancelling orders it runs
# update_amm_and_check_validity (_update_amm does nothing for a settled market; then the Liquidate oracle check on the
# safe oracle against the AMM's 1h TWAP), transfers at the expiry price, and checks the liquidator's initial margin.
_DUST_PRED_NOW, _DUST_PRED_SLOT = 1734646601, 308552347
_PRELAUNCH = 6  # OracleSource::Prelaunch
_PERP_OPERATION_LIQUIDATION = 0b0010_0000  # state/paused_operations.rs::PerpOperation::Liquidation
_DUST_PRED_PERP_MARKET = (
    "Ct8MLGv1N/cN2/1GHLmpS8WGW5376xEzhmbkTG4n0gklXzszMyx0PZG/P6ZU3CggDMEzOjlWpifD6znbmZLE4IIU/HXShHTvAQAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAADAAAAAAAAAJZdRmcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAzM6MJ"
    "MwYAAAAAAAAAAAAAAAAAAAAAAAAAgMakfo0DAAAAAAAAAAAAAIDGpH6NAwAAAAAAAAAAADiUFQAAAAAAAAAAAAAAAADvebS0HYMCAAAA"
    "AAAAAAAAADCkGDUGBQAAAAAAAAAAAACAxqR+jQMAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAIDGpH6NAwAAAAAAAAAAAAAi5xKzIQAA"
    "AAAAAAAAAAAAdFGCxP7+////////////AJY4lXcg/////////////wAAAAAAAAAAAAAAAAAAAAAAAI1J/RoHAAAAAAAAAAAA/EgFjzAA"
    "AAAAAAAAAAAAAEdAN/36///////////////VVlbVJwAAAAAAAAAAAAAAg2E1/Pr//////////////54TJNYnAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD3wmKBAwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAPfC"
    "YoEDAAAAAAAAAAAAAAD3wmKBAwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJhv6gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACxuvcxEAQAAAAAAAAAAAAAAOTXfHs3GwMAAAAAAAAAAFVVs9uovAQAAAAAAAAA"
    "AAAA4JT7HqoCAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAMAAAAAAAAABAAAAAAAAAADAAAAAAAAAAMAAAAAAAAAlwQcEgAAAADAxi0A"
    "AAAAAPfCYoEDAAAAX0nCZgAAAAAsAQAAAAAAAADKmjsAAAAA6AMAAAAAAAAAypo7AAAAAAAAAAAAAAAACOsVDAAAAAAAAAAAAAAAALAG"
    "AAAAAAAAUtAzZwAAAAACAAAAAAAAAAAAAAAAAAAADl5GZwAAAACghgEAQA0DACChBwAgoQcAAAAAAAAAAABkADIAZGQGAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM65Wok0tAAAAAAAAAAAAAAAAAAAAAAAAEtBTUFMQS1QT1BVTEFS"
    "LVZPVEUtMjAyNC1CRVQgICAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAOwzZwAAAAABAAAA"
    "AAAAAOkZAAAAAAAAAQAAAAAAAAABAAAAAAAAAAEAAAAAAAAAqGEAAKhhAAAQJwAACycAAAAAAAAQJwAAcAEAAKYBAAAlAAcCBAMAAAAA"
    "AAUFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
)
_DUST_PRED_USDC_MARKET = (
    "ZLEIa6hBQSdUX6MOo7w/PClm2otsPf7406t9pXygIypU5KAmT//Dwsy3xpWPA/Pp1GfkQjwaxq3rB7BfPBWigujgMxXAX1Z3xvp6877b"
    "rTo9ZfNqq8l0MbG75MLS9uDkfKYCA0UvXWHmsHZFgFFAI49uEcLfeyYJqqXqJL+++g9w+I4yK2cfD1VTREMgICAgICAgICAgICAgICAg"
    "ICAgICAgICAgICAgQEIPAAAAAACwBAAAAAAAABcAAAAAAAAAQUIPAAAAAABBQg8AAAAAADKjZGcAAAAAQEIPAAAAAABAQg8AAAAAAEBC"
    "DwAAAAAAQEIPAAAAAAAAAAAAAAAAAGf36kp9EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABHkMifZGT+F"
    "rLhfKfHFav7xo95PrVMA7wMfE+znV7oD+waYT94EAAAAAAAAAAAAAPBS1ZcXBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgCMRAAAA"
    "AABql2RnAAAAABAOAAAAAAAAECcAAIgTAAAAAAAAAAAAAAAAAAAAAAAATgyPkSwaAAMAAAAAAAAAAGxBfbY4Lt0BAAAAAAAAAAAPzIad"
    "AgAAAAAAAAAAAAAAl9tr6wIAAAAAAAAAAAAAAFKXFXwAAAAAAAAAAAAAAACq1Rd8AAAAAAAAAAAAAAAAABCl1OgAAAAAQGNSv8YBABvl"
    "E5ni0AAA2zFuHsOUAAD8DwsAAAAAADKjZGcAAAAAMqNkZwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AQAAAAAAAADkoacAAAAAABAnAAAQJwAAECcAABAnAAAAAAAAAAAAAIgTAABgrgoA8EkCAICEHgAGAAAAAAAACgEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAKMFwEAAAAAAMBuMdkQAQAAAAABAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
_DUST_PRED_SOL_MARKET = (
    "ZLEIa6hBQScr1lQqaOSFYS9WELcT14N7mJY9eLJbJXlsZ9Z5/AUPNpcdDKvImMwegHYSrqlRr4mPm/gqRPWD+8llAWp4/D4KBpuIV/6r"
    "gYT7aH9jRhjANdrEOdwa6ztVmKDwAAAAAAG8K5ZficO5VwesMce/cvsBy5AvfQoKym53Aehbqm9wSVNPTCAgICAgICAgICAgICAgICAg"
    "ICAgICAgICAgICAgOJOxCwAAAACzfwMAAAAAACIAAAAAAAAAR1ScCwAAAAA766MLAAAAADOjZGcAAAAAoGSVCwAAAAAYS5YLAAAAAIY6"
    "nQsAAAAAbbeVCwAAAAAkoGRnAAAAADZtgZYAAAAAAAAAAAAAAAABAAAAAAAAALhrkeitgQIAAAAAAAAAAAAAAAAAAAAAADpkXCdmJx0E"
    "dwIORIO8ZZZfwYHxXgB+hbpTZnbj4vD287zFra0AAAAAAAAAAAAAAINoX/qOAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgCMRAAAA"
    "AADommRnAAAAABAOAAAAAAAAQA0DAGDqAADXQ6dL2gAAAAAAAAAAAAAAHly4ea+fAQAAAAAAAAAAAMwVhVWukgAAAAAAAAAAAAD09OVp"
    "AgAAAAAAAAAAAAAAGIvYkQIAAAAAAAAAAAAAAC/oSAsAAAAAAAAAAAAAAABX51MBAAAAAAAAAAAAAAAAACA9iHktAAAAIA8MEgUDAMyN"
    "lp/K3AEAdwq7QcapAABZmgUAAAAAADOjZGcAAAAAM6NkZwAAAAAAAAAAAAAAAKCGAQAAAAAAZAAAAAAAAAAA4fUFAAAAAAAAAAAAAAAA"
    "lsgdAAAAAABUPZYAAAAAAEAfAAAoIwAA4C4AAPgqAADiBAAATB0AAORXAAAANQwA4CICAIBPEgAJAAAAAQABBwEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAJMvoAIAAAAAAEAPhLWjAAABAAABAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
_DUST_PRED_PERP_ORACLE = (
    "XA6L6kj0RBoCAAAAAAAAAAIAAAAAAAAAAgAAAAAAAADgKWESAAAAAJcEHBIAAAAAJQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)
_DUST_PRED_USDC_ORACLE = (
    "IvEjY51+9M3Mt8aVjwPz6dRn5EI8Gsat6wewXzwVooLo4DMVwF9WdwAD6qAgxhzEeXEoE0Yc4VOJSpamwAsh7Qz8J5jR+anpyUqE4fUF"
    "AAAAAODUAQAAAAAA+P///yejZGcAAAAAJqNkZwAAAACY3PUFAAAAANypAQAAAAAAgSJkEgAAAAA="
)
_DUST_PRED_SOL_ORACLE = (
    "IvEjY51+9M2XHQyryJjMHoB2Eq6pUa+Jj5v4KkT1g/vJZQFqePw+CgAC7w2Lb9os66QdoV1AldHaOSoNL47Qxse8D0z6yMKAtW3xgV2R"
    "BAAAAE/iXQEAAAAA+P///yOjZGcAAAAAIqNkZwAAAACAkY2JBAAAAGOzSwEAAAAAdyJkEgAAAAA="
)
_DUST_PRED_USER = (
    "n3Vf4++XOuxhtjOJ66/9ylyuDtgBY0sRsymR5GfyzcrsvhwUew5glgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAATWFpbiBB"
    "Y2NvdW50ICAgICAgICAgICAgICAgICAgICAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACC8lIBAAAAAAAAAAAAAAAAAikxAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAEcQyAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMqaOwAAAADIWPb//////8hY9v//////QFv2//////8AAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA7B/J//////8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkgBJBwAAAABGr8cFAAAAAAAA"
    "AAAAAAAA+zqt/v////8AAAAAAAAAAKUL0v//////AAAAAAAAAADkXj8SAAAAAHEAAAAAAAAAAwAAAAAAAAAAAAAAAAAAAAxUVWcAAAAA"
    "AAAAAAAAAAA="
)


def test_liquidate_dust_prediction_market():
    """controller/liquidation/tests.rs::liquidate_dust_prediction_market::test: ``liquidate_perp(market 37, max base
    1e18, no limit)`` of the one-share position in the settled prediction market returns ``Ok(())``."""
    raw_perp = acc.decode_perp_market(b64decode(_DUST_PRED_PERP_MARKET))
    raw_spot = {i: acc.decode_spot_market(b64decode(s)) for i, s in ((0, _DUST_PRED_USDC_MARKET), (1, _DUST_PRED_SOL_MARKET))}
    assert raw_perp["amm"]["oracle_source"] == _PRELAUNCH
    assert [raw_spot[i]["oracle_source"] for i in (0, 1)] == [_PYTH_STABLE_COIN_PULL, _PYTH_PULL]
    assert not raw_perp["paused_operations"] & _PERP_OPERATION_LIQUIDATION  # else InvalidLiquidation
    perp_oracle = acc.decode_prelaunch_oracle(b64decode(_DUST_PRED_PERP_ORACLE), _DUST_PRED_SLOT)
    spot_prices = {i: acc.decode_pyth_pull_price(b64decode(s), _DUST_PRED_SLOT, stable_coin=i == 0).price
                   for i, s in ((0, _DUST_PRED_USDC_ORACLE), (1, _DUST_PRED_SOL_ORACLE))}
    spot_markets = {i: acc.spot_market(m) for i, m in raw_spot.items()}
    perp_markets = {37: acc.perp_market(raw_perp)}
    perp_prices = {37: perp_oracle.price}
    user = acc.spot_account(acc.decode_user(b64decode(_DUST_PRED_USER)))
    kw = dict(spot_markets=spot_markets, spot_prices=spot_prices, perp_markets=perp_markets, perp_prices=perp_prices)
    out = drift_spot.liquidate_perp_in_account(user, 37, 10**18, slot=_DUST_PRED_SLOT,
                                               liquidation_margin_buffer_ratio=MARGIN_PRECISION // 50,
                                               initial_pct_to_liquidate=0, liquidation_duration=0,
                                               liquidator_position=PerpPosition(market_index=37), **kw)
    # update_amm_and_check_validity: no MM oracle price (validity NonPositive), so the safe oracle is the exchange's
    amm = raw_perp["amm"]
    assert amm["mm_oracle_price"] == 0
    mm = drift_amm.mm_oracle_price_data(0, _DUST_PRED_SLOT - amm["mm_oracle_slot"], amm["mm_oracle_sequence_id"],
                                        drift_amm.OracleValidity.NON_POSITIVE, perp_oracle)
    assert drift.oracle_valid_for_liquidate(mm.safe_oracle_price_data.price,
                                            amm["historical_oracle_data"]["last_oracle_price_twap"])
    # the liquidator (100 USDC) must meet its initial requirement with the position taken over
    liquidator = (drift.SpotPosition(0, 100 * SPOT_BALANCE_PRECISION),)
    taken = (out.liquidation.liquidator_position,) if out.liquidation is not None else ()
    assert drift.account_margin(liquidator, taken, margin_type=MRT.INITIAL, **kw).meets_margin_requirement
    assert isinstance(out, drift_spot.AccountPerpLiquidation)  # upstream: assert_eq!(result, Ok(()))
