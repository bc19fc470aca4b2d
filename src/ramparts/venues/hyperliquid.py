"""Hyperliquid: margin tiers, liquidation price, backstop threshold, ADL ranking and funding.

Source: ``ramparts/reference/open-source-venues.md`` §4 (Hyperliquid's documentation; the core is
closed source):

* initial margin = ``size × mark / leverage``; maintenance = half the initial margin at the
  tier's maximum leverage: ``MM = notional × mmr(tier) − deduction(tier)`` with
  ``mmr(n) = (1 / maxLev(n)) / 2`` and ``deduction(n) = deduction(n−1) + lower_bound(n) ×
  (mmr(n) − mmr(n−1))`` (continuous in size);
* liquidation price ``liq = price − side × margin_available / size / (1 − l × side)`` with
  ``l = 1 / maintenance leverage`` and ``margin_available = account value − maintenance margin``
  (cross) or isolated margin − maintenance margin (isolated);
* liquidation: book orders at equity < MM (positions over 100k USDC 20 % at a time with a 30 s
  cool-down); **backstop** (positions and remaining margin to the HLP vault) at equity < 2/3 MM;
* ADL: opposite-side users ranked by ``(mark / entry) × (notional / account value)``, closed at
  the previous mark;
* funding: ``F8h = P + clamp(0.01 % − P, −0.05 %, 0.05 %)``, paid hourly at ``F8h / 8``,
  ``payment = size × oracle × rate``, capped at 4 % per hour.

Units: USDC and prices as exact :class:`~fractions.Fraction` / :class:`~decimal.Decimal`.
:data:`BTC_TIERS` are Hyperliquid's BTC tiers (40× up to 150M USDC notional, 20× above).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ramparts.errors import InvalidInput

__all__ = ["BTC_TIERS", "MarginTier", "adl_rank_key", "deductions", "funding_8h", "hourly_funding_payment", "initial_margin",
           "is_backstop", "liquidation_price", "maintenance_margin"]


@dataclass(frozen=True)
class MarginTier:
    lower_bound: Fraction  #: notional (USDC) where the tier starts
    max_leverage: int

    @property
    def mmr(self) -> Fraction:
        return Fraction(1, 2 * self.max_leverage)


BTC_TIERS = (MarginTier(Fraction(0), 40), MarginTier(Fraction(150_000_000), 20))


def deductions(tiers: tuple[MarginTier, ...]) -> list[Fraction]:
    """``deduction(n) = deduction(n−1) + lower_bound(n) × (mmr(n) − mmr(n−1))``, deduction(0) = 0."""
    out = [Fraction(0)]
    for prev, t in zip(tiers, tiers[1:], strict=False):
        out.append(out[-1] + t.lower_bound * (t.mmr - prev.mmr))
    return out


def _tier(tiers: tuple[MarginTier, ...], notional: Fraction) -> int:
    k = 0
    for i, t in enumerate(tiers):
        if notional >= t.lower_bound:
            k = i
    return k


def maintenance_margin(tiers: tuple[MarginTier, ...], notional) -> Fraction:
    n = Fraction(notional)
    if n < 0:
        raise InvalidInput("notional", f"must be non-negative, got {n}")
    k = _tier(tiers, n)
    return n * tiers[k].mmr - deductions(tiers)[k]


def initial_margin(notional, leverage: int, tiers: tuple[MarginTier, ...] = BTC_TIERS) -> Fraction:
    n = Fraction(notional)
    cap = tiers[_tier(tiers, n)].max_leverage
    if not isinstance(leverage, int) or not 1 <= leverage <= cap:
        raise InvalidInput("leverage", f"must be an int in [1, {cap}] at this notional, got {leverage!r}")
    return n / leverage


def liquidation_price(price, side: int, margin_available, size, maintenance_leverage) -> Fraction:
    """``price − side × margin_available / size / (1 − l × side)``, ``l = 1 / maintenance_leverage``."""
    if side not in (1, -1):
        raise InvalidInput("side", "must be +1 (long) or -1 (short)")
    size, rate = Fraction(size), Fraction(1) / Fraction(maintenance_leverage)
    if size <= 0:
        raise InvalidInput("size", "must be positive")
    return Fraction(price) - side * Fraction(margin_available) / size / (1 - rate * side)


def is_backstop(account_value, maintenance) -> bool:
    """Backstop liquidation (to the HLP vault) when equity < 2/3 of maintenance."""
    return Fraction(account_value) * 3 < Fraction(maintenance) * 2


def adl_rank_key(mark, entry, notional, account_value) -> Fraction:
    """The ADL ranking key ``(mark / entry) × (notional / account value)``; higher is deleveraged first."""
    if Fraction(entry) <= 0 or Fraction(account_value) <= 0:
        raise InvalidInput("adl", "entry price and account value must be positive")
    return Fraction(mark) / Fraction(entry) * Fraction(notional) / Fraction(account_value)


def funding_8h(premium) -> Fraction:
    """``F = P + clamp(0.01 % − P, −0.05 %, 0.05 %)`` (an 8-hour rate)."""
    p = Fraction(premium)
    interest = Fraction(1, 10_000)
    return p + max(Fraction(-5, 10_000), min(Fraction(5, 10_000), interest - p))


def hourly_funding_payment(size, oracle, premium) -> Fraction:
    """What a position of signed ``size`` pays for one hour (positive = pays): ``size × oracle × F/8``, rate capped at 4 %/h."""
    rate = funding_8h(premium) / 8
    rate = max(Fraction(-4, 100), min(Fraction(4, 100), rate))
    return Fraction(size) * Fraction(oracle) * rate
