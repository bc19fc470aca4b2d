"""Mango v4's own health unit tests, ported as tables (ramparts.venues.mango).

Every row names the source file, the test (and case) and the commit it was read at. The expected
values are Mango's expressions, evaluated here in exact rationals (Mango evaluates them in f64 and
compares within 0.001); ramparts' exact health must equal them exactly, and also be within the
source's own tolerance of the f64 value.

Repository: blockworks-foundation/mango-v4 at 1303a4a16228eb1e8e8d4f0eef724eaf63310c86.
Not ported (see the report): client.rs ``test_max_swap``, ``test_max_perp``, ``test_max_borrow``
(solvers over the cache), ``test_scanning_retreiver_mismatched_oracle_for_perps_throws_error``
(account-retriever plumbing), and the I80F48 division half of cache.rs ``test_precision``.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from ramparts.errors import InvalidInput
from ramparts.venues.mango import (
    I80F48_MAX,
    HealthCache,
    HealthType,
    PerpInfo,
    Serum3Info,
    TokenInfo,
    maint_weights,
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
