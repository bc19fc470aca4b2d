"""Mango v4's own health unit tests, ported as tables (ramparts.venues.mango).

Every row names the source file, the test (and case) and the commit it was read at. The expected
values are Mango's expressions, evaluated here in exact rationals (Mango evaluates them in f64 and
compares within 0.001); ramparts' exact health must equal them exactly, and also be within the
source's own tolerance of the f64 value.

The solver tests of client.rs (``test_max_swap``, ``test_max_perp``, ``test_max_borrow``) assert what
the source asserts: the value (health or health ratio) after the solver's answer and after one unit more,
against the target, with the source's own slack (``+ 1.0`` for swaps, ``max_binary_search_error = 0.1``
for perps and borrows, ``< 1.0`` / ``< 0.3`` on amounts, exact ``5.0`` where the source uses
``assert_eq!``). Values are compared as f64, as the source does after ``to_num::<f64>()``. Their inputs
are the source's decimal literals taken exactly (``adjust_by_usdc`` divides exactly here; Mango rounds
to I80F48). Each scenario of a source test is one row, its loops over targets and price factors kept.

Repository: blockworks-foundation/mango-v4 at 1303a4a16228eb1e8e8d4f0eef724eaf63310c86.
Ported: cache.rs 4 of 4 tests (``test_precision`` both halves, ``test_health0``, ``test_health1``,
``test_health_with_skips``); client.rs 8 of 8 tests (was 7 of 8). The retriever test
(``test_scanning_retreiver_mismatched_oracle_for_perps_throws_error``) runs against
:func:`ramparts.venues.mango.perp_market_and_oracle_price`, which takes the perp markets (index, the oracle key
each names) and the oracle accounts handed in (key, price) as lists: account bytes, owners, banks and open-orders
accounts of upstream's fixture do not enter the check and are not modelled.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from fractions import Fraction

import pytest

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.venues.mango import (
    I64_MAX,
    I80F48_MAX,
    BankState,
    HealthCache,
    HealthType,
    PerpInfo,
    Serum3Info,
    TokenInfo,
    i80f48_div,
    maint_weights,
    perp_market_and_oracle_price,
    spot_amount_given_for_health_zero,
    spot_amount_taken_for_health_zero,
    to_i80f48,
    unsettled_funding,
)

COMMIT = "1303a4a16228eb1e8e8d4f0eef724eaf63310c86"
CACHE_RS = "programs/mango-v4/src/health/cache.rs"
CLIENT_RS = "programs/mango-v4/src/health/client.rs"
INIT, MAINT, LIQEND = HealthType.INIT, HealthType.MAINT, HealthType.LIQUIDATION_END


def q(x) -> Fraction:
    return Fraction(str(x)) if not isinstance(x, (int, Fraction)) else Fraction(x)


def _assert_health(actual: Fraction, expected: Fraction):
    assert actual == expected, f"health {float(actual)} != expected {float(expected)}"
    assert abs(float(actual) - float(expected)) < 0.001  # the source's health_eq tolerance


# --- the fixtures of programs/mango-v4/src/health/test.rs ------------------------------------------------------------

def mock_token(token_index: int, price, init_weights, maint_weights_, balance, *, stable=None, deposits=0, borrows=0,
               deposit_start=None, borrow_start=None, potential_serum_tokens=0) -> TokenInfo:
    """``mock_bank_and_oracle``: asset weights 1 − w, liability weights 1 + w (init and maint)."""
    iw, mw = q(init_weights), q(maint_weights_)
    return TokenInfo.of(token_index, balance, oracle_price=q(price), stable_price=stable, init_asset_weight=1 - iw,
                        init_liab_weight=1 + iw, maint_asset_weight=1 - mw, maint_liab_weight=1 + mw, deposits=deposits,
                        borrows=borrows, deposit_weight_scale_start_quote=deposit_start,
                        borrow_weight_scale_start_quote=borrow_start, potential_serum_tokens=potential_serum_tokens)


def mock_perp(price, market_index: int, base_weights, pnl_weights, *, base_lots=0, quote=0, bids=0, asks=0, taker_base=0,
              taker_quote=0, stable=None, long_funding=0, long_settled_funding=0, settle_token_index=0) -> PerpInfo:
    """``mock_perp_market`` (base lot 10, quote lot 100) with a position recorded by ``record_trade``."""
    bi, bm = (q(w) for w in base_weights)
    pi_, pm = (q(w) for w in pnl_weights)
    return PerpInfo.from_position(market_index, settle_token_index, base_lot_size=10, quote_lot_size=100,
                                  base_position_lots=base_lots, quote_position_native=quote, oracle_price=q(price),
                                  stable_price=stable, init_base_asset_weight=1 - bi, init_base_liab_weight=1 + bi,
                                  maint_base_asset_weight=1 - bm, maint_base_liab_weight=1 + bm,
                                  init_overall_asset_weight=1 - pi_, maint_overall_asset_weight=1 - pm,
                                  bids_base_lots=bids, asks_base_lots=asks, taker_base_lots=taker_base,
                                  taker_quote_lots=taker_quote, long_funding=long_funding,
                                  long_settled_funding=long_settled_funding)


# --- cache.rs test_health0 ------------------------------------------------------------------------------------------

def test_health0():
    """cache.rs ``test_health0`` (all side values: taker lots, free and reserved open-orders funds, rebates)."""
    tokens = [mock_token(0, 1, "0.2", "0.1", 100), mock_token(4, 5, "0.5", "0.3", -10)]
    # native_pc_total 21, native_coin_total 18, free 1 and 3; referrer rebates (2) do not enter health
    oo = Serum3Info.of(2, 4, 0, quote_total=21, base_total=18, quote_free=1, base_free=3)
    perp = mock_perp(5, 9, ("0.2", "0.1"), ("0.05", "0.02"), base_lots=3, quote=-310, bids=7, asks=11, taker_base=1, taker_quote=2)
    hc = HealthCache.build(tokens, [oo], [perp])
    serum1 = 1 + (20 + q(15) * 5)
    perp1 = (3 + 7 + 1) * q(10) * 5 * q("0.8") + (-310 + q(2) * 100 - q(7) * 10 * 5)
    health1 = (100 + serum1 + perp1) * q("0.8")
    health2 = (-10 + q(3)) * 5 * q("1.5")
    _assert_health(hc.health(INIT), health1 + health2)


# --- cache.rs test_health1 (table) ------------------------------------------------------------------------------------

BP = q(5)            # base_price
BL = 10 * BP         # base_lots_to_quote


def _health1(token1=0, token2=0, token3=0, oo_1_2=(0, 0), oo_1_3=(0, 0), perp1=(0, 0, 0, 0), banks=({}, {}, {}),
             lowest_ask_2=0, highest_bid_inv_3=0) -> Fraction:
    """``test_health1_runner``: three banks (0: $1 0.2/0.1, 4: $5 0.5/0.3, 5: $10 0.5/0.3), spot markets
    2 (4/0) and 3 (5/0), perp market 9 on oracle 2; Init health."""
    def bank(i, price, iw, mw, bal, s):
        return mock_token(i, price, iw, mw, bal, deposits=s.get("deposits", 0), borrows=s.get("borrows", 0),
                          deposit_start=s.get("deposit_start"), borrow_start=s.get("borrow_start"),
                          potential_serum_tokens=s.get("potential_serum_tokens", 0))
    tokens = [bank(0, 1, "0.2", "0.1", token1, banks[0]), bank(4, 5, "0.5", "0.3", token2, banks[1]),
              bank(5, 10, "0.5", "0.3", token3, banks[2])]
    oo = [Serum3Info.of(2, 4, 0, quote_total=oo_1_2[0], base_total=oo_1_2[1], lowest_placed_ask=lowest_ask_2),
          Serum3Info.of(3, 5, 0, quote_total=oo_1_3[0], base_total=oo_1_3[1], highest_placed_bid_inv=highest_bid_inv_3)]
    perp = mock_perp(5, 9, ("0.2", "0.1"), ("0.05", "0.02"), base_lots=perp1[0], quote=perp1[1], bids=perp1[2], asks=perp1[3])
    return HealthCache.build(tokens, oo, [perp]).health(INIT)


W = q  # decimal literal
HEALTH1_CASES = [
    # (case, kwargs, expected) — cache.rs test_health1, case numbers as in the source's comments
    (0, dict(token1=100, token2=-10, oo_1_2=(20, 15), perp1=(3, -131, 7, 11)),
     W("0.8") * (100 + (20 + 15 * BP) + (3 + 7) * BL * W("0.8") + (-131 - 7 * BL)) - 10 * BP * W("1.5")),
    (1, dict(token1=-100, token2=10, oo_1_2=(20, 15), perp1=(-10, -131, 7, 11)),
     W("1.2") * (-100 + (-10 - 11) * BL * W("1.2") + (-131 + 11 * BL)) + (10 * BP + (20 + 15 * BP)) * W("0.5")),
    (2, dict(perp1=(-1, 100, 0, 0)), W("0.8") * W("0.95") * (100 - W("1.2") * 1 * BL)),
    (3, dict(perp1=(1, -100, 0, 0)), W("1.2") * (-100 + W("0.8") * 1 * BL)),
    (4, dict(perp1=(10, 100, 0, 0)), W("0.8") * W("0.95") * (100 + W("0.8") * 10 * BL)),
    (5, dict(perp1=(30, -100, 0, 0)), W("0.8") * W("0.95") * (-100 + W("0.8") * 30 * BL)),
    (6, dict(token1=-100, token2=-10, token3=-10, oo_1_2=(1, 1), oo_1_3=(1, 1)),
     -100 * W("1.2") - 10 * W(5) * W("1.5") - 10 * W(10) * W("1.5") + (1 + W(5)) * W("1.2") + (1 + W(10)) * W("1.2")),
    (7, dict(token1=-14, token2=-10, token3=-10, oo_1_2=(1, 1), oo_1_3=(1, 1)),
     -14 * W("1.2") - 10 * W(5) * W("1.5") - 10 * W(10) * W("1.5") + 3 * W("1.2") + 3 * W("0.8") + 8 * W("1.2") + 3 * W("0.8")),
    (8, dict(token1=-100, token2=-100, token3=-1, oo_1_2=(0, 0), oo_1_3=(10, 1)),
     -100 * W("1.2") - 100 * W(5) * W("1.5") - 10 * W("1.5") + 10 * W("1.5") + 10 * W("0.5")),
    (9, dict(token1=-100, token2=-100, token3=-1, oo_1_2=(100, 0), oo_1_3=(10, 1)),
     -100 * W("1.2") - 100 * W(5) * W("1.5") - 10 * W("1.5") + 80 * W("1.2") + 20 * W("0.8") + 20 * W("0.8")),
    (10, dict(token1=100, token2=100, token3=100,
              banks=(dict(deposits=100, deposit_start=1000), dict(deposits=1500, deposit_start=1000 * 5),
                     dict(deposits=10000, deposit_start=1000 * 10))),
     W("0.8") * 100 + W("0.5") * 100 * 5 * (W(5000) / (1500 * 5)) + W("0.5") * 100 * 10 * (W(10000) / (10000 * 10))),
    (11, dict(token1=-100, token2=-100, token3=-100,
              banks=(dict(borrows=100, borrow_start=1000), dict(borrows=1500, borrow_start=1000 * 5),
                     dict(borrows=10000, borrow_start=1000 * 10))),
     -W("1.2") * 100 - W("1.5") * 100 * 5 * (W(1500 * 5) / 5000) - W("1.5") * 100 * 10 * (W(10000 * 10) / 10000)),
    (12, dict(token1=-100, perp1=(1, 100, 0, 0)), W("0.8") * (-100 + W("0.95") * (100 + W("0.8") * 1 * BL))),
    (13, dict(token1=100, perp1=(-1, -100, 0, 0)), W("1.2") * (100 - 100 - W("1.2") * 1 * BL)),
    (14, dict(token1=-100, token2=-10, token3=0, oo_1_2=(1, 1), oo_1_3=(11, 1), lowest_ask_2=3, highest_bid_inv_3=Fraction(1, 12)),
     -100 * W("1.2") - 10 * W(5) * W("1.5") + (1 + W(3)) * W("1.2") + (W(11) / 12 + 1) * 10 * W("0.5")),
    (15, dict(token1=-100, token2=-10, token3=0, oo_1_2=(1, 1), oo_1_3=(11, 1), lowest_ask_2=6, highest_bid_inv_3=Fraction(1, 9)),
     -100 * W("1.2") - 10 * W(5) * W("1.5") + (1 + W(5)) * W("1.2") + (W(11) / 10 + 1) * 10 * W("0.5")),
    (16, dict(token1=100, token2=100, token3=100, oo_1_2=(0, 100), oo_1_3=(0, 100)),
     100 * W("0.8") + 100 * W(5) * W("0.5") + 100 * W(10) * W("0.5") + 100 * W(5) * W("0.5") + 100 * W(10) * W("0.5")),
    (17, dict(token1=100, token2=100, token3=100, oo_1_2=(0, 100), oo_1_3=(0, 100),
              banks=({}, dict(deposits=100, deposit_start=100 * 5, potential_serum_tokens=100),
                     dict(deposits=600, deposit_start=500 * 10, potential_serum_tokens=100))),
     100 * W("0.8") + 100 * W(5) * W("0.5") * (W(100) / 200) + 100 * W(10) * W("0.5") * (W(500) / 700)
     + 100 * W(5) * W("0.5") * (W(100) / 200) + 100 * W(10) * W("0.5") * (W(500) / 700)),
]


@pytest.mark.parametrize("case,kwargs,expected", HEALTH1_CASES, ids=[f"{CACHE_RS}::test_health1[{c}]@{COMMIT[:8]}" for c, _, _ in HEALTH1_CASES])
def test_health1(case, kwargs, expected):
    _assert_health(_health1(**kwargs), expected)


# --- cache.rs test_health_with_skips ----------------------------------------------------------------------------------

def _skips_cache(available):
    tokens = [mock_token(0, 1, "0.2", "0.1", 100), mock_token(4, 5, "0.5", "0.3", 10), mock_token(5, 10, "0.5", "0.3", -10)]
    oo = [Serum3Info.of(2, 4, 0, quote_total=5, base_total=1)]
    return HealthCache.build(tokens, oo, available_banks=available)


SKIPS_CASES = [
    ("baseline with everything", (0, 4, 5), W("0.8") * 100 + W("0.5") * 5 * (10 + 2) - W("1.5") * 10 * 10),
    ("missing bank1", (4, 5), W("0.5") * 5 * 10 - W("1.5") * 10 * 10),
    ("missing bank2", (0, 5), W("0.8") * 100 - W("1.5") * 10 * 10),
    ("missing bank1 and 2", (5,), -W("1.5") * 10 * 10),
]


@pytest.mark.parametrize("name,available,expected", SKIPS_CASES,
                         ids=[f"{CACHE_RS}::test_health_with_skips[{n}]@{COMMIT[:8]}" for n, _, _ in SKIPS_CASES])
def test_health_with_skips(name, available, expected):
    # the source runs each scenario with both account retrievers; the retriever does not enter the arithmetic
    _assert_health(_skips_cache(available).health(INIT), expected)


def test_health_with_skips_missing_negative_bank():
    """cache.rs ``test_health_with_skips`` "missing bank3": a negative balance's bank cannot be skipped."""
    with pytest.raises(InvalidInput):
        _skips_cache((0, 4))


# --- cache.rs test_precision (the from_str half) -----------------------------------------------------------------------

def test_precision_from_str():
    """cache.rs ``test_precision``: I80F48 resolves 1e-14 but rounds 1e-15 to zero."""
    assert to_i80f48("0." + "0" * 13 + "1") != 0
    assert to_i80f48("0." + "0" * 14 + "1") == 0
    assert to_i80f48(Fraction(1, 2**48)) != 0


# --- client.rs --------------------------------------------------------------------------------------------------------

def test_scanning_retreiver_mismatched_oracle_for_perps_throws_error():
    """client.rs ``test_scanning_retreiver_mismatched_oracle_for_perps_throws_error``: perp market 9 names
    oracle1 (price 1.0), perp market 8 names oracle2 (price 5.0); the two perp oracle accounts are handed in
    the other way round (oracle2, oracle1), so retrieving market 9 (active perp position 0) is an error
    (upstream asserts only ``is_err``)."""
    perp_markets = [(9, "oracle1"), (8, "oracle2")]
    oracle1, oracle2 = ("oracle1", q("1.0")), ("oracle2", q("5.0"))
    with pytest.raises(InvalidInput) as err:
        perp_market_and_oracle_price(9, perp_markets, [oracle2, oracle1])
    assert err.value.field == "perp_oracles"
    # not upstream: in the order the markets name them, the oracle account's price comes back
    assert perp_market_and_oracle_price(9, perp_markets, [oracle1, oracle2]) == 1
    with pytest.raises(UnknownEntity):
        perp_market_and_oracle_price(7, perp_markets, [oracle1, oracle2])


def test_health_perp_funding():
    """client.rs ``test_health_perp_funding``: unsettled funding 10 × (10.1 − 10.0) comes off the perp quote."""
    token = mock_token(0, 1, "0.2", "0.1", 100)
    perp = mock_perp(1, 9, ("0.2", "0.1"), ("0.05", "0.02"), base_lots=10, quote=-110, long_funding=q("10.1"), long_settled_funding=q("10.0"))
    hc = HealthCache.build([token], [], [perp])
    _assert_health(hc.health(INIT), W("0.8") * (100 + W("0.8") * 100 - 110 - 1))


STABLE_CASES = [
    # (account, health type, expected) — client.rs test_health_stable_price_token, oracle 1, stable 0.5
    ("account: +100 token", INIT, W("0.8") * W("0.5") * 100),
    ("account: +100 token", MAINT, W("0.9") * 1 * 100),
    ("account2: -100 token", INIT, -W("1.2") * 1 * 100),
    ("account2: -100 token", MAINT, -W("1.1") * 1 * 100),
    ("account3: perp 10 lots, quote -100", INIT, W("1.2") * (W("0.8") * W("0.5") * 10 * 10 - 100)),
    ("account3: perp 10 lots, quote -100", MAINT, W("1.1") * (W("0.9") * 1 * 10 * 10 - 100)),
]


@pytest.mark.parametrize("account,health_type,expected", STABLE_CASES,
                         ids=[f"{CLIENT_RS}::test_health_stable_price_token[{a}-{h.value}]@{COMMIT[:8]}" for a, h, _ in STABLE_CASES])
def test_health_stable_price_token(account, health_type, expected):
    if account.startswith("account3"):
        tokens = [mock_token(0, 1, "0.2", "0.1", 0, stable=q("0.5"))]
        perps = [mock_perp(1, 9, ("0.2", "0.1"), ("0.05", "0.02"), base_lots=10, quote=-100, stable=q("0.5"))]
    else:
        tokens = [mock_token(0, 1, "0.2", "0.1", 100 if account.startswith("account:") else -100, stable=q("0.5"))]
        perps = []
    _assert_health(HealthCache.build(tokens, [], perps).health(health_type), expected)


def _default_token(token_index, x, price, balance=0):
    """client.rs ``default_token_info``: all asset weights 1 − x, liability weights 1 + x."""
    x = q(x)
    return TokenInfo.of(token_index, balance, oracle_price=q(price), init_asset_weight=1 - x, init_liab_weight=1 + x,
                        maint_asset_weight=1 - x, maint_liab_weight=1 + x)


def _default_perp(x, price, *, settle_token_index=0, base_lot_size=1, base_lots=0, quote=0):
    """client.rs ``default_perp_info``: base weights 1 ∓ x, overall asset weight 0.6."""
    x = q(x)
    return PerpInfo.from_position(0, settle_token_index, base_lot_size=base_lot_size, quote_lot_size=1,
                                  base_position_lots=base_lots, quote_position_native=quote, oracle_price=q(price),
                                  init_base_asset_weight=1 - x, init_base_liab_weight=1 + x, maint_base_asset_weight=1 - x,
                                  maint_base_liab_weight=1 + x, init_overall_asset_weight=q("0.6"),
                                  maint_overall_asset_weight=q("0.6"))


ASSETS_LIABS_CASES = [
    # (token1 balance, perp quote, stable_assets, expected assets, expected liabs) — client.rs test_assets_and_borrows.
    # The source checks ``actual − expected < 0.01`` (one-sided, no abs); ported with the same comparison.
    (10, -12, True, 2 * 10 * W("0.8"), 2 * (10 * W("0.8") + 2 * W("1.2"))),
    (10, -12, False, 2 * 10 * W("1.2"), 2 * 12 * W("1.2")),
    (12, -10, True, 2 * 12 * W("0.8"), 2 * 10 * W("0.8")),
    (12, -10, False, 2 * (10 * W("1.2") + 2 * W("0.8")), 2 * 10 * W("1.2")),
]


@pytest.mark.parametrize("balance,quote,stable_assets,exp_assets,exp_liabs", ASSETS_LIABS_CASES,
                         ids=[f"{CLIENT_RS}::test_assets_and_borrows[{b},{qq},{'stable_assets' if s else 'stable_liabs'}]@{COMMIT[:8]}"
                              for b, qq, s, _, _ in ASSETS_LIABS_CASES])
def test_assets_and_borrows(balance, quote, stable_assets, exp_assets, exp_liabs):
    hc = HealthCache.build([_default_token(0, 0, 1), _default_token(1, "0.2", 2, balance)], [], [_default_perp("0.3", 2, quote=quote)])
    assets, liabs = hc.health_assets_and_liabs(INIT, stable_assets=stable_assets)
    assert float(assets) - float(exp_assets) < 0.01
    assert float(liabs) - float(exp_liabs) < 0.01
    # whatever the split, assets − liabs is the health
    assert assets - liabs == hc.health(INIT)


LEVERAGE_CASES = [
    # (name, token0 balance, token1 balance, perp, serum3, expected) — client.rs test_leverage
    ("only deposits", 1, 0, None, None, 0),
    ("deposits and borrows: assets = 10, equity = 1", -9, 5, None, None, 9),
    ("perp trade: assets = 1 + 9.9, equity = 1", 1, 0, dict(x="0.1", price=q("1.1"), base_lot_size=3, base_lots=-3, quote=q("9.9")), None, q("9.9")),
    ("open orders: assets = 3, equity = 1", 1, -1, None, dict(base_total=1, lowest_placed_ask=1), 2),
]


@pytest.mark.parametrize("name,b0,b1,perp,serum,expected", LEVERAGE_CASES,
                         ids=[f"{CLIENT_RS}::test_leverage[{c[0]}]@{COMMIT[:8]}" for c in LEVERAGE_CASES])
def test_leverage(name, b0, b1, perp, serum, expected):
    perps = []
    if perp:
        p = dict(perp)
        perps = [_default_perp(p.pop("x"), p.pop("price"), **p)]
    oo = [Serum3Info.of(0, 1, 0, **serum)] if serum else []
    hc = HealthCache.build([_default_token(0, 0, 1, b0), _default_token(1, "0.2", 2, b1)], oo, perps)
    assert hc.leverage() == expected
    assert abs(float(hc.leverage()) - float(expected)) < 0.001  # the source's leverage_eq tolerance


# --- cache.rs test_precision (the I80F48 division half) ---------------------------------------------------------------

def test_precision_division():
    """cache.rs ``test_precision``: 1 / 2⁴⁸ is the smallest I80F48 step, 1 / 2⁴⁹ divides to zero."""
    assert i80f48_div(1, 2**48) != 0
    assert i80f48_div(1, 2**49) == 0


# --- client.rs test_max_swap --------------------------------------------------------------------------------------------
# The source's Mango account holds empty positions in tokens 0, 1 and 2 (the health cache's balances are set
# apart from it), so every bank sees the account at position 0; the mock banks have no net borrow limit
# (i64::MAX) except in test 5. The weights of the banks are copied from the cache (find_max_swap_actual).

F64_MAX = sys.float_info.max
F64_MIN = -sys.float_info.max
HEALTH_FN = lambda c: c.health(INIT)  # noqa: E731
RATIO_FN = lambda c: c.health_ratio(INIT)  # noqa: E731
MAX_SWAP_FNS = {"health": HEALTH_FN, "health_ratio": RATIO_FN}


def _swap_base() -> HealthCache:
    return HealthCache([_default_token(0, "0.1", 2), _default_token(1, "0.2", 3), _default_token(2, "0.3", 4)])


def _adjust_by_usdc(c: HealthCache, ti: int, usdc) -> HealthCache:
    """``adjust_by_usdc``: ``balance_spot += usdc / oracle``."""
    tokens = list(c.tokens)
    tokens[ti] = replace(tokens[ti], balance=tokens[ti].balance + q(usdc) / tokens[ti].prices.oracle)
    return replace(c, tokens=tuple(tokens))


def _with_token(c: HealthCache, ti: int, **changes) -> HealthCache:
    tokens = list(c.tokens)
    tokens[ti] = replace(tokens[ti], **changes)
    return replace(c, tokens=tuple(tokens))


def _swap_banks(source, target, net_borrow_limits):
    def bank(ti):
        return BankState.of(position=0, net_borrow_limit_per_window_quote=net_borrow_limits.get(ti, 2**63 - 1))
    return bank(source), bank(target)


def _find_max_swap(c, source, target, min_value, price_factor, fn, net_borrow_limits=None):
    """``find_max_swap_actual``: (amount, value after it, after amount − 1, after amount + 1)."""
    sb, tb = _swap_banks(source, target, net_borrow_limits or {})
    swap_price = q(price_factor) * c.tokens[source].prices.oracle / c.tokens[target].prices.oracle
    unlimited = c.max_swap_source_for_health_fn(source, target, swap_price, q(min_value), fn, source_bank=sb, target_bank=tb)
    amount = c.apply_limits_to_swap(source, target, swap_price, unlimited, source_bank=sb, target_bank=tb)
    if amount == I80F48_MAX:
        return F64_MAX, F64_MAX, F64_MAX, F64_MAX

    def value_for_amount(a):
        try:
            return float(fn(c.cache_after_swap(source, target, a, swap_price, source_bank=sb, target_bank=tb)))
        except InvalidInput:  # a negative amount: the source's withdraw refuses it
            return F64_MIN

    return float(amount), value_for_amount(amount), value_for_amount(amount - 1), value_for_amount(amount + 1)


def _check_max_swap(c, source, target, min_value, price_factor, fn):
    """``check_max_swap_result``, with its assertions as in the source."""
    _, actual_value, _, plus_value = _find_max_swap(c, source, target, min_value, price_factor, fn)
    where = f"{source}->{target} price_factor {price_factor} target {min_value}"
    if actual_value < min_value:
        assert plus_value < actual_value, where
    else:
        assert actual_value >= min_value, where
        assert actual_value < min_value + 1.0 or plus_value < min_value, where


def _check_grid(c, fn, price_factors, pairs):
    for price_factor in price_factors:
        for target in range(1, 100):
            for source, tgt in pairs:
                _check_max_swap(c, source, tgt, target, price_factor, fn)


def _max_swap_scenario(n: int, name: str):
    fn = MAX_SWAP_FNS[name]
    base = _swap_base()
    if n == 0:
        c = _adjust_by_usdc(base, 1, 100)
        _check_grid(c, fn, ("0.1", "0.9", "1.1"), [(0, 1), (1, 0), (0, 2)])
        # at this unlikely price swapping is healthy without end
        assert _find_max_swap(c, 0, 1, 50, "1.5", fn)[0] > 1e16
    elif n == 1:
        c = _adjust_by_usdc(_adjust_by_usdc(base, 0, -20), 1, 100)
        _check_grid(c, fn, ("0.1", "0.9", "1.1"), [(0, 1), (1, 0), (0, 2), (2, 0)])
    elif n == 2:
        c = _adjust_by_usdc(_adjust_by_usdc(base, 0, -50), 1, 100)
        _check_max_swap(c, 1, 0, 100, "1.0", fn)  # reachable although the init ratio is below 100
    elif n == 3:
        c = _adjust_by_usdc(_adjust_by_usdc(_adjust_by_usdc(base, 0, -30), 1, 100), 2, -30)
        init_ratio = float(c.health_ratio(INIT))
        amount, actual_ratio, _, _ = _find_max_swap(c, 1, 0, 100, "1.0", fn)
        assert actual_ratio / 2.0 > init_ratio
        assert abs(amount - 100.0 / 3.0) < 1.0
    elif n == 4:
        c = _adjust_by_usdc(_adjust_by_usdc(_adjust_by_usdc(base, 0, 100), 1, -2), 2, -65)
        init_ratio = c.health_ratio(INIT)
        assert 3 < init_ratio < 4
        for target in (1, 3, 4):
            _check_max_swap(c, 0, 1, target, "1.0", fn)
    elif n == 5:
        c = _adjust_by_usdc(base, 1, 100)
        # bank 0's net borrow limit (50 quote) caps the swap
        assert _find_max_swap(c, 0, 1, 1, "1.0", fn, net_borrow_limits={0: 50})[0] < 51.0
    elif n == 6:
        oo = Serum3Info.of(0, 1, 0, base_total=30 // 3, quote_total=30 // 2)  # reserved base 10, quote 15
        c = replace(base, serum3=(oo,))
        c = _adjust_by_usdc(_adjust_by_usdc(_adjust_by_usdc(c, 0, -20), 1, -40), 2, 120)
        _check_grid(c, fn, ("0.9", "1.1"), [(0, 1), (1, 0), (0, 2), (1, 2), (2, 0), (2, 1)])
    elif n in (7, 8):
        # negative health at the start; swapping can (7) or cannot (8) make it positive
        c = _adjust_by_usdc(_adjust_by_usdc(base, 0, -20), 1, 20 if n == 7 else 10)
        assert c.health(INIT) < 0
        if name == "health":
            assert _find_max_swap(c, 1, 0, 1, "1.0", fn)[0] > 0.0
        _check_grid(c, fn, ("0.9", "1.1"), [(1, 0)])
    elif n == 9:
        # swapping into a token of zero asset weight
        c = _with_token(_adjust_by_usdc(base, 0, 10), 1, init_asset_weight=0)
        assert _find_max_swap(c, 0, 1, 1, "1.0", fn)[0] > 0.0
        _check_grid(c, fn, ("0.9", "1.1"), [(0, 1)])
    elif n == 10:
        # a perp market settling in token 1
        c = _adjust_by_usdc(replace(base, perps=(_default_perp("0.3", 2, settle_token_index=1),)), 0, 60)
        for perp_quote in (-10, 10):
            c = replace(c, perps=(replace(c.perps[0], quote=q(perp_quote)),))
            _check_grid(c, fn, ("0.9", "1.1"), [(0, 1), (1, 0)])
    elif n == 11:
        # between two tokens of zero asset weight: the answer is always all the deposits (5 tokens)
        c = _with_token(_with_token(_adjust_by_usdc(base, 0, 10), 0, init_asset_weight=0), 1, init_asset_weight=0)
        assert _find_max_swap(c, 0, 1, 1, "1.0", fn)[0] == 5.0
        for cache in (c, _adjust_by_usdc(c, 1, 6)):  # then with 2 tokens already in token 1
            for price_factor in ("0.9", "1.1"):
                for target in range(1, 100):
                    assert _find_max_swap(cache, 0, 1, target, price_factor, fn)[0] == 5.0


def test_max_swap_start():
    """client.rs ``test_max_swap``: on an empty account health is 0, the ratio I80F48::MAX, and the limited
    max swap 0 → 1 at price 2/3 (source oracle 1) for ratio 50 is 0."""
    c = _swap_base()
    assert c.health(INIT) == 0
    assert c.health_ratio(INIT) == I80F48_MAX
    sb, tb = _swap_banks(0, 1, {})
    assert c.max_swap_source_for_health_ratio(0, 1, Fraction(2, 3), 50, source_bank=sb, target_bank=tb,
                                              source_oracle_price=1) == 0


MAX_SWAP_CASES = [(n, name) for name in MAX_SWAP_FNS for n in range(12)]


@pytest.mark.slow
@pytest.mark.parametrize("n,name", MAX_SWAP_CASES, ids=[f"{CLIENT_RS}::test_max_swap[test {n} {name}]@{COMMIT[:8]}" for n, name in MAX_SWAP_CASES])
def test_max_swap(n, name):
    _max_swap_scenario(n, name)


# --- client.rs test_max_perp --------------------------------------------------------------------------------------------

PERP_BASE_LOT_SIZE = 100


def _perp_base() -> HealthCache:
    return HealthCache([_default_token(0, "0.0", 1), _default_token(1, "0.2", "1.5")], [],
                       [_default_perp("0.3", 2, settle_token_index=1, base_lot_size=PERP_BASE_LOT_SIZE)])


def _adjust_token(c: HealthCache, ti: int, value) -> HealthCache:
    return _with_token(c, ti, balance=c.tokens[ti].balance + q(value))


def _perp_traded(c: HealthCache, base_lots: int, trade_price) -> HealthCache:
    """The source's own edit of the cache: ``base_lots += lots``, ``quote -= lots × base_lot_size × price``."""
    p = c.perps[0]
    return replace(c, perps=(replace(p, base_lots=p.base_lots + base_lots, quote=p.quote - base_lots * PERP_BASE_LOT_SIZE * trade_price),))


def _find_max_trade(c: HealthCache, side: str, ratio, price_factor):
    trade_price = q(price_factor) * c.perps[0].prices.oracle
    base_lots = c.max_perp_for_health_ratio(0, trade_price, side, q(ratio))
    if base_lots == I64_MAX:
        return I64_MAX, F64_MAX, F64_MAX
    direction = 1 if side == "bid" else -1
    actual_ratio = float(_perp_traded(c, direction * base_lots, trade_price).health_ratio(INIT))
    plus_ratio = float(_perp_traded(c, direction * (base_lots + 1), trade_price).health_ratio(INIT))
    return base_lots, actual_ratio, plus_ratio


def _check_max_trade(c: HealthCache, side: str, ratio, price_factor):
    _, actual_ratio, plus_ratio = _find_max_trade(c, side, ratio, price_factor)
    max_binary_search_error = 0.1
    assert ratio <= actual_ratio, (side, ratio, price_factor)
    assert plus_ratio - max_binary_search_error <= ratio, (side, ratio, price_factor)


def test_max_perp_start():
    """client.rs ``test_max_perp``: empty account, then the extreme prices on 3000 of token 0."""
    c = _perp_base()
    assert c.health(INIT) == 0
    assert c.health_ratio(INIT) == I80F48_MAX
    assert c.max_perp_for_health_ratio(0, 2, "bid", 50) == 0
    c = _adjust_token(c, 0, 3000)
    # extremely bad prices
    _check_max_trade(c, "bid", 50, "2.0")
    _check_max_trade(c, "ask", 50, "0.1")
    # extremely good prices
    assert _find_max_trade(c, "bid", 50, "0.1")[0] == I64_MAX
    assert _find_max_trade(c, "ask", 50, "1.5")[0] == I64_MAX


MAX_PERP_CASES = [(settle, lots, side) for settle in (-500, 0, 300) for lots in (-5, 0, 3) for side in ("bid", "ask")]


@pytest.mark.slow
@pytest.mark.parametrize("settle,lots,side", MAX_PERP_CASES,
                         ids=[f"{CLIENT_RS}::test_max_perp[test 0: lots {lots}, settle {s}, {side}]@{COMMIT[:8]}" for s, lots, side in MAX_PERP_CASES])
def test_max_perp(settle, lots, side):
    c = _adjust_token(_adjust_token(_perp_base(), 0, 3000), 1, settle)
    c = _perp_traded(c, lots, 2)  # existing position bought at 2
    for price_factor in ("0.8", "1.0", "1.1"):
        for ratio in range(1, 101):
            _check_max_trade(c, side, ratio, price_factor)


# --- client.rs test_max_borrow ------------------------------------------------------------------------------------------

def _borrow_base() -> HealthCache:
    return HealthCache([_default_token(0, "0.0", 1), _default_token(1, "0.2", 2)])


def _bank0(position=0, **scaling) -> BankState:
    """``mock_bank_and_oracle(group, 0, 1.0, 0.0, 0.0)`` (weights 1, no net borrow limit: i64::MAX) with the
    account's position in it; ``scaling``: the bank's deposits, potential serum tokens and scaling start."""
    info = TokenInfo.of(0, position, oracle_price=1, init_asset_weight=1, init_liab_weight=1, maint_asset_weight=1,
                        maint_liab_weight=1, **scaling) if scaling else None
    return BankState.of(info, position=position, net_borrow_limit_per_window_quote=2**63 - 1)


def _check_max_borrow(c: HealthCache, ratio, bank: BankState) -> float:
    """``find_max_borrow`` + ``check_max_borrow``, with the source's assertions."""
    initial_ratio = float(c.health_ratio(INIT))
    max_borrow = c.max_borrow_for_health_ratio(0, q(ratio), bank=bank)
    after, after_plus = c.cache_after_borrow(0, max_borrow, bank=bank), c.cache_after_borrow(0, max_borrow + 1, bank=bank)
    assert after is not None and after_plus is not None  # the source unwraps both
    actual_ratio, plus_ratio = float(after.health_ratio(INIT)), float(after_plus.health_ratio(INIT))
    max_binary_search_error = 0.1
    if initial_ratio >= ratio:
        assert ratio <= actual_ratio
        assert plus_ratio - max_binary_search_error <= ratio
    return float(max_borrow)


MAX_BORROW_CASES = [
    # (name, token 0 balance, token 1 balance, target ratios) — client.rs test_max_borrow
    ("token0 100", 100, 0, (50,)),
    ("token1 50", 0, 50, (100, 50, 0)),
    ("token0 50, token1 50", 50, 50, (100, 50, 0)),
    ("token0 -50, token1 50", -50, 50, (100, 50, 0)),
]


def test_max_borrow_start():
    """client.rs ``test_max_borrow``: on an empty account the max borrow for ratio 50 is 0."""
    c = _borrow_base()
    assert c.health(INIT) == 0
    assert c.health_ratio(INIT) == I80F48_MAX
    assert c.max_borrow_for_health_ratio(0, 50, bank=_bank0()) == 0


@pytest.mark.parametrize("name,b0,b1,ratios", MAX_BORROW_CASES,
                         ids=[f"{CLIENT_RS}::test_max_borrow[{c[0]}]@{COMMIT[:8]}" for c in MAX_BORROW_CASES])
def test_max_borrow(name, b0, b1, ratios):
    c = _with_token(_with_token(_borrow_base(), 0, balance=q(b0)), 1, balance=q(b1))
    results = [_check_max_borrow(c, r, _bank0()) for r in ratios]
    if name == "token0 100":
        assert results == [100.0]


def test_max_borrow_init_weight_scaling():
    """client.rs ``test_max_borrow``, the case with init weight scaling: the bank holds the account's 500
    deposits, 300 potential serum tokens, scaling from 600 quote (token 0 contributes 500 × 600 / 800 = 375)."""
    scaling = dict(deposits=500, potential_serum_tokens=300, deposit_weight_scale_start_quote=600)
    c = HealthCache([TokenInfo.of(0, 500, oracle_price=1, init_asset_weight=1, init_liab_weight=1, maint_asset_weight=1,
                                  maint_liab_weight=1, **scaling),
                     _default_token(1, "0.2", 2, -100)])  # 2 × 100 × 1.2 = 240 liabilities
    assert c.tokens[0].init_scaled_asset_weight == Fraction(3, 4)
    bank = _bank0(position=500, **scaling)
    _check_max_borrow(c, 100, bank)
    _check_max_borrow(c, 50, bank)
    max_borrow = _check_max_borrow(c, 0, bank)
    assert abs(260.0 - max_borrow) < 0.3  # leaves 240 tokens, under 600 in the bank
    # the bank now scales from 500 quote; the cache keeps its weight until a change re-reads the bank
    bank = _bank0(position=500, **dict(scaling, deposit_weight_scale_start_quote=500))
    max_borrow = _check_max_borrow(c, 0, bank)
    assert abs(222.6 - max_borrow) < 0.3


# --- ramparts' own checks of the module (not ported) --------------------------------------------------------------------

def test_health_types_order_and_ratio():
    """init ≤ liquidation-end ≤ maint, the ratio's sign follows health, no liabilities gives I80F48::MAX."""
    tokens = [mock_token(0, 1, "0.2", "0.1", 100, deposits=1000, deposit_start=500), mock_token(4, 5, "0.5", "0.3", -10, stable=6)]
    hc = HealthCache.build(tokens)
    h_init, h_end, h_maint = hc.health(INIT), hc.health(LIQEND), hc.health(MAINT)
    assert h_init <= h_end <= h_maint
    assert (hc.health_ratio(MAINT) > 0) == (h_maint > 0)
    assert HealthCache.build([mock_token(0, 1, "0.2", "0.1", 5)]).health_ratio(INIT) == I80F48_MAX
    assert not hc.is_liquidatable() if h_maint >= 0 else hc.is_liquidatable()


def test_spot_amount_for_health_zero():
    # health 10, 4 tokens held at asset price 2 (weighted) → all 4 taken (8), then 2 more at liab price 1
    assert spot_amount_taken_for_health_zero(10, 4, 2, 1) == 6
    assert spot_amount_taken_for_health_zero(6, 4, 2, 1) == 3
    assert spot_amount_taken_for_health_zero(-1, 4, 2, 1) == 0
    # health −3, nothing held: adding tokens raises health at the asset-weighted price 2 → 1.5 tokens
    assert spot_amount_given_for_health_zero(-3, 0, 2, 3) == Fraction(3, 2)


def test_helpers_and_bad_input():
    assert unsettled_funding(-4, 0, q("2.5"), 0, q("2")) == -2
    assert maint_weights(50, q("0.9"), q("1.1"), shift_start=0, shift_end=100, asset_target=q("0.7"), liab_target=q("1.3")) == (q("0.8"), q("1.2"))
    assert maint_weights(200, q("0.9"), q("1.1"), shift_start=0, shift_end=100, asset_target=q("0.7")) == (q("0.7"), q("1.1"))
    with pytest.raises(InvalidInput):
        TokenInfo.of(0, 1, oracle_price=0.5, init_asset_weight=1, init_liab_weight=1, maint_asset_weight=1,
                     maint_liab_weight=1)  # a float price is refused
    with pytest.raises(InvalidInput):
        TokenInfo.of(0, 1, oracle_price=1, init_asset_weight=-1, init_liab_weight=1, maint_asset_weight=1, maint_liab_weight=1)
    with pytest.raises(InvalidInput):
        HealthCache.build([mock_token(0, 1, "0.2", "0.1", 1)], [], [mock_perp(1, 9, ("0.2", "0.1"), ("0", "0"), settle_token_index=3)])
    with pytest.raises(InvalidInput):
        Serum3Info.of(1, 4, 0, base_total=1, base_free=2)
