"""Funding: Binance / Hyperliquid rate worked numbers (table-driven), the premium index, payment signs
and rounding directions, and that payments never create money.

Units: rates per interval in ppb (1e9 = 100 %; 0.01 % = 100,000 ppb). Defaults I = 0.01 %,
c = 0.05 %, cap 4 %.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput
from ramparts.margin.funding import FundingParams, funding_payment, funding_rate_ppb, premium_index_ppb

BP = 100_000  # one basis point (0.01 %) in ppb
DEFAULT = FundingParams()

RATE_CASES = [
    # (premium P ppb, params, expected F ppb, working)
    (0, DEFAULT, 1 * BP, "P = 0: F = 0 + clamp(0.01 %, ±0.05 %) = I"),
    (3 * BP, DEFAULT, 1 * BP, "P = 0.03 %: I − P = −0.02 % inside the band → F = I"),
    (-4 * BP, DEFAULT, 1 * BP, "P = −0.04 %: I − P = 0.05 %, the band's edge → F = I"),
    (6 * BP, DEFAULT, 1 * BP, "P = 0.06 %: I − P = −0.05 %, the other edge → F = I"),
    (10 * BP, DEFAULT, 5 * BP, "P = 0.1 %: clamp(−0.09 %) = −0.05 % → F = 0.05 % (the engine's test)"),
    (-10 * BP, DEFAULT, -5 * BP, "P = −0.1 %: clamp(0.11 %) = 0.05 % → F = −0.05 %"),
    (6 * BP + 1, DEFAULT, 1 * BP + 1, "one ppb past the band passes through"),
    (-4 * BP - 1, DEFAULT, 1 * BP - 1, "one ppb below the band passes through"),
    (500 * BP, DEFAULT, 400 * BP, "P = 5 %: F = 4.95 % capped at 4 %"),
    (-600 * BP, DEFAULT, -400 * BP, "P = −6 %: capped at −4 %"),
    (300 * BP, FundingParams(max_rate_ppm=3_000), 30 * BP, "Binance-like 0.3 % cap"),
    (20 * BP, FundingParams(interest_rate_ppm=0, premium_clamp_ppm=0), 20 * BP, "no interest, no clamp: F = P"),
    (-20 * BP, FundingParams(max_rate_ppm=0), 0, "a zero cap switches funding off"),
]


@pytest.mark.parametrize("premium,params,expected,working", RATE_CASES, ids=[c[3] for c in RATE_CASES])
def test_funding_rate(premium, params, expected, working):
    assert funding_rate_ppb(premium, params) == expected


PREMIUM_CASES = [
    # (price, index, premium ppb, working)
    (50_025_000, 50_000_000, 500_000, "0.05 %"),
    (49_975_000, 50_000_000, -500_000, "−0.05 %"),
    (50_000_000, 50_000_000, 0, "at the index"),
    (2, 3, -333_333_333, "−1/3 rounded toward zero"),
    (4, 3, 333_333_333, "+1/3 rounded toward zero"),
    (0, 7, -1_000_000_000, "−100 %"),
]


@pytest.mark.parametrize("price,index,expected,working", PREMIUM_CASES, ids=[c[3] for c in PREMIUM_CASES])
def test_premium_index(price, index, expected, working):
    assert premium_index_ppb(price, index) == expected


PAYMENT_CASES = [
    # (lots, lot price, rate ppb, pays, working)
    (100, 50_000_000, 5 * BP, 2_500_000, "long 0.1 BTC @ 50,000 at 0.05 %: pays 2.5 USDC (the engine's test)"),
    (-100, 50_000_000, 5 * BP, -2_500_000, "the short receives the same"),
    (100, 50_000_000, -5 * BP, -2_500_000, "negative rate: the long receives"),
    (-100, 50_000_000, -5 * BP, 2_500_000, "negative rate: the short pays"),
    (1, 50_000_300, 1 * BP, 5_001, "50.0003 USDC × 0.01 % = 5,000.03 units: the payer rounds up"),
    (-1, 50_000_300, 1 * BP, -5_000, "the receiver rounds down"),
    (1, 50_000_300, -1 * BP, -5_000, "a receiving long rounds down too"),
    (-1, 50_000_300, -1 * BP, 5_001, "a paying short rounds up too"),
    (0, 50_000_000, 5 * BP, 0, "flat"),
    (100, 50_000_000, 0, 0, "zero rate"),
    (1, 1, 1, 1, "a paying dust position pays one unit"),
    (-1, 1, 1, 0, "a receiving dust position receives nothing"),
]


@pytest.mark.parametrize("lots,price,rate,pays,working", PAYMENT_CASES, ids=[c[4] for c in PAYMENT_CASES])
def test_funding_payment(lots, price, rate, pays, working):
    assert funding_payment(lots, price, rate) == pays


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 10**7), min_size=1, max_size=20),
    st.integers(1, 10**11),
    st.integers(-4 * 10**7, 4 * 10**7),
)
def test_payments_never_create_money(longs, price, rate):
    # the shorts hold the same open interest split differently (one position)
    shorts = [-sum(longs)]
    paid = sum(funding_payment(q, price, rate) for q in longs + shorts)
    assert 0 <= paid <= len(longs) + len(shorts)  # the residual (≤ one unit per position) is the venue's


def test_params_defaults_and_validation():
    p = FundingParams()
    assert (p.interval_seconds, p.interest_rate_ppm, p.premium_clamp_ppm, p.max_rate_ppm) == (28_800, 100, 500, 40_000)
    for kw, field in [
        (dict(interval_seconds=0), "funding.interval_seconds"),
        (dict(interest_rate_ppm=-1), "funding.interest_rate_ppm"),
        (dict(premium_clamp_ppm=0.5), "funding.premium_clamp_ppm"),
        (dict(max_rate_ppm=True), "funding.max_rate_ppm"),
        (dict(max_rate_ppm=10**12), "funding.max_rate_ppm"),
    ]:
        with pytest.raises(InvalidInput) as err:
            FundingParams(**kw)
        assert err.value.field == field


BAD = [
    (lambda: premium_index_ppb(100, 0), "index_price"),
    (lambda: premium_index_ppb(100, -5), "index_price"),
    (lambda: premium_index_ppb(-1, 5), "price"),
    (lambda: premium_index_ppb(1.5, 5), "price"),
    (lambda: funding_rate_ppb(1.0, DEFAULT), "premium_ppb"),
    (lambda: funding_rate_ppb(1, {"interval_seconds": 1}), "params"),
    (lambda: funding_payment(1, -1, 1), "lot_price"),
    (lambda: funding_payment("1", 1, 1), "lots"),
    (lambda: funding_payment(1, 1, None), "rate_ppb"),
]


@pytest.mark.parametrize("call,field", BAD, ids=[f"{i}:{b[1]}" for i, b in enumerate(BAD)])
def test_bad_input(call, field):
    with pytest.raises(InvalidInput) as err:
        call()
    assert err.value.field == field
