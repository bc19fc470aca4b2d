"""Drift v2: size-premium margin ratios, asset and liability weights, liquidation pricing and fees,
and socialised loss through cumulative funding.

Source: ``../shared/reference/open-source-venues.md`` §2, read from drift-labs/protocol-v2 at commit
``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62`` (``math/margin.rs``, ``state/perp_market.rs``,
``state/spot_market.rs``, ``controller/liquidation.rs``, ``math/funding.rs``).

Units, as Drift's (ints): PRICE 1e6, BASE 1e9, QUOTE 1e6, margin ratios and weights 1e4 (1000 =
10 %), liquidation fees 1e6, ``imf_factor`` 1e6, funding 1e9. Integer divisions truncate as in the
Rust source (which rounds some requirements in the user's favour; the reference notes it). The
functions reproduce the venue, not ramparts' own rounding policy.
"""

from __future__ import annotations

from math import isqrt

from ramparts.errors import InvalidInput

__all__ = ["PRICE_PRECISION", "asset_weight", "liability_weight", "liquidation_transfer_price", "margin_ratio",
           "margin_requirement", "socialised_loss_funding_delta"]

PRICE_PRECISION = 10**6
BASE_PRECISION = 10**9
QUOTE_PRECISION = 10**6
MARGIN_PRECISION = 10**4
LIQUIDATION_FEE_PRECISION = 10**6
FUNDING_RATE_BUFFER = 10**3


def _nonneg(name: str, v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InvalidInput(name, f"must be a non-negative int in Drift's units, got {v!r}")
    return v


def margin_ratio(default_ratio: int, size: int, imf_factor: int) -> int:
    """``max(default, (default − default/5) + isqrt(size×10+1) × imf / 1e7)`` (ratio 1e4, size 1e9, imf 1e6)."""
    d, s, f = _nonneg("default_ratio", default_ratio), _nonneg("size", size), _nonneg("imf_factor", imf_factor)
    if f == 0:
        return d
    size_sqrt = isqrt(s * 10 + 1)
    premium = (d - d // 5) + size_sqrt * f // (100_000 * 1_000_000 // MARGIN_PRECISION)
    return max(d, premium)


def margin_requirement(liability_value: int, ratio: int) -> int:
    """``value × ratio / 1e4`` (quote 1e6), truncated as in the source."""
    return _nonneg("liability_value", liability_value) * _nonneg("ratio", ratio) // MARGIN_PRECISION


def asset_weight(weight: int, size: int, imf_factor: int) -> int:
    """Spot asset weight with the size discount: ``min(aw, 1.1e6 × 1e4 / (1e6 + isqrt(size×10+1) × imf / 1e5))``."""
    w, s, f = _nonneg("weight", weight), _nonneg("size", size), _nonneg("imf_factor", imf_factor)
    if f == 0:
        return w
    return min(w, 11 * MARGIN_PRECISION * 100_000 // (1_000_000 + isqrt(s * 10 + 1) * f // 100_000))


def liability_weight(weight: int, size: int, imf_factor: int) -> int:
    """Spot liability weight with the size premium: ``max(lw, (lw − lw/5) + isqrt(size×10+1) × imf / 1e7)``."""
    return margin_ratio(weight, size, imf_factor)


def liquidation_transfer_price(oracle_price: int, long: bool, liquidation_fee: int) -> int:
    """The price the liquidator takes a position at: ``oracle × (1 ∓ fee)`` (long: cheaper), PRICE 1e6."""
    p, f = _nonneg("oracle_price", oracle_price), _nonneg("liquidation_fee", liquidation_fee)
    if f > LIQUIDATION_FEE_PRECISION:
        raise InvalidInput("liquidation_fee", "must be at most 1e6 (100 %)")
    factor = LIQUIDATION_FEE_PRECISION - f if long else LIQUIDATION_FEE_PRECISION + f
    return p * factor // LIQUIDATION_FEE_PRECISION


def socialised_loss_funding_delta(loss: int, long_open_interest: int, short_open_interest: int) -> int:
    """``Δcum_funding = ceil(|loss| × 1e9 / (|long OI| + |short OI|)) × 1e3`` (funding units 1e9 × 1e3).

    Added to the longs' cumulative funding and taken from the shorts', so every open position pays
    the loss pro rata to its size.
    """
    oi = abs(long_open_interest) + abs(short_open_interest)
    if oi == 0:
        raise InvalidInput("open_interest", "a loss cannot be socialised over no open interest")
    return -((-abs(loss) * BASE_PRECISION) // oi) * FUNDING_RATE_BUFFER
