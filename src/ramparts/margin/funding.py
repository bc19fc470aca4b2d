"""Perpetual funding: the premium index, the funding rate of one interval and the payment of one
position, in exact integers.

This module owns :class:`FundingParams`, :func:`premium_index_ppb`, :func:`funding_rate_ppb` and
:func:`funding_payment`. Rates per interval are in parts per **billion** (``ppb``; 1e9 = 100 %),
fine enough for the usual 0.01 %-per-8 h rates and their premium components; the parameters are
in ppm like every other rate (:mod:`ramparts.fixedpoint`).

The rate (Binance USD-M, Hyperliquid)
-------------------------------------
.. math::

    F = P + \\operatorname{clamp}(I - P, -c, +c), \\qquad F \\leftarrow \\operatorname{clamp}(F, -F_{max}, +F_{max})

with ``P`` the premium index of the interval, ``I`` the interest rate (0.01 % per 8 h) and ``c``
the clamp (0.05 %): a premium within ``[I − c, I + c]`` yields exactly ``F = I``; outside it the
premium passes through, less ``c``. ``F_max`` caps the rate (Hyperliquid: 4 % per hour).

Sign and rounding of payments
-----------------------------
A positive rate means longs pay shorts. :func:`funding_payment` returns what the position **pays**
(negative = receives), ``⌈lots · lot_price · F / 10^9⌉``: a payer's amount is rounded up and a
receiver's amount (``−⌈x⌉ = ⌊−x⌋``) down, so the payments of all positions sum to ``≥ 0`` and
funding never creates money. The rounding residual (at most one base unit per position) belongs to
the venue: the engine books it to its ``fees`` account.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPB, ceil_div

#: ppb per ppm.
_PPM_TO_PPB = 1_000


def _checked(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(field, f"expected an int, got {type(value).__name__} {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class FundingParams:
    """Funding parameters of a perpetual.

    Parameters
    ----------
    interval_seconds : int, default 28800
        Length of a funding interval (8 h); the rates below are per interval.
    interest_rate_ppm : int, default 100
        The interest component ``I`` (0.01 % per interval, the Binance / Hyperliquid default).
    premium_clamp_ppm : int, default 500
        ``c`` in ``clamp(I − P, −c, +c)`` (0.05 %).
    max_rate_ppm : int, default 40_000
        Absolute cap of the rate per interval (4 %).

    Raises
    ------
    InvalidInput
        A non-int or negative parameter, or a zero interval.
    """

    interval_seconds: int = 28800
    interest_rate_ppm: int = 100
    premium_clamp_ppm: int = 500
    max_rate_ppm: int = 40_000

    def __post_init__(self) -> None:
        for name in ("interval_seconds", "interest_rate_ppm", "premium_clamp_ppm", "max_rate_ppm"):
            v = _checked(getattr(self, name), f"funding.{name}")
            if v < 0:
                raise InvalidInput(f"funding.{name}", f"must be non-negative, got {v}")
            if v > PPB:
                raise InvalidInput(f"funding.{name}", f"{v} is out of range")
            object.__setattr__(self, name, v)
        if self.interval_seconds == 0:
            raise InvalidInput("funding.interval_seconds", "must be positive")


def premium_index_ppb(mark_or_impact_price: int, index_price: int) -> int:
    """The premium of a price over the index, ``(price − index)/index`` in ppb, rounded toward zero.

    Parameters
    ----------
    mark_or_impact_price : int
        The mark price, or an impact bid/ask price, as an int lot price (``≥ 0``).
    index_price : int
        The index (oracle) lot price, ``> 0``.

    Returns
    -------
    int
        The premium, ppb; truncation toward zero keeps it symmetric in sign.

    Examples
    --------
    >>> premium_index_ppb(50_025_000, 50_000_000)     # 0.05 %
    500000
    >>> premium_index_ppb(2, 3), premium_index_ppb(4, 3)
    (-333333333, 333333333)
    """
    price = _checked(mark_or_impact_price, "price")
    index = _checked(index_price, "index_price")
    if index <= 0:
        raise InvalidInput("index_price", f"must be positive, got {index}")
    if price < 0:
        raise InvalidInput("price", f"must be non-negative, got {price}")
    num = (price - index) * PPB
    q = abs(num) // index
    return q if num >= 0 else -q


def funding_rate_ppb(premium_ppb: int, params: FundingParams) -> int:
    """The funding rate of one interval, ppb: ``clamp(P + clamp(I − P, −c, +c), −F_max, +F_max)``.

    Parameters
    ----------
    premium_ppb : int
        The premium index of the interval, ppb (e.g. from :func:`premium_index_ppb`).
    params : FundingParams
        ``I``, ``c`` and ``F_max`` (converted from ppm to ppb exactly).

    Returns
    -------
    int
        The rate, ppb per interval; positive: longs pay shorts.

    Examples
    --------
    >>> p = FundingParams()
    >>> funding_rate_ppb(300_000, p), funding_rate_ppb(1_000_000, p), funding_rate_ppb(-1_000_000, p)
    (100000, 500000, -500000)
    """
    p = _checked(premium_ppb, "premium_ppb")
    if not isinstance(params, FundingParams):
        raise InvalidInput("params", f"expected FundingParams, got {type(params).__name__}")
    interest = params.interest_rate_ppm * _PPM_TO_PPB
    c = params.premium_clamp_ppm * _PPM_TO_PPB
    cap = params.max_rate_ppm * _PPM_TO_PPB
    rate = p + min(max(interest - p, -c), c)
    return min(max(rate, -cap), cap)


def funding_payment(lots: int, lot_price: int, rate_ppb: int) -> int:
    """What a position pays for one interval at ``rate_ppb``, quote base units (negative = receives).

    Parameters
    ----------
    lots : int
        Signed position, lots (long > 0).
    lot_price : int
        The lot price the payment is valued at (the mark, or the oracle as on Hyperliquid), ``≥ 0``.
    rate_ppb : int
        The interval's rate from :func:`funding_rate_ppb`; positive: longs pay.

    Returns
    -------
    int
        ``⌈lots · lot_price · rate / 1e9⌉``: a payer pays its amount rounded **up**, a receiver
        receives its amount rounded **down**; the residual is the venue's.

    Examples
    --------
    >>> funding_payment(1, 50_000_300, 100_000), funding_payment(-1, 50_000_300, 100_000)
    (5001, -5000)
    """
    lots = _checked(lots, "lots")
    price = _checked(lot_price, "lot_price")
    rate = _checked(rate_ppb, "rate_ppb")
    if price < 0:
        raise InvalidInput("lot_price", f"must be non-negative, got {price}")
    return ceil_div(lots * price * rate, PPB)


__all__ = ["FundingParams", "funding_payment", "funding_rate_ppb", "premium_index_ppb"]
