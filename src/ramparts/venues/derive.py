"""Derive (Lyra) v2: the standard manager's option and perpetual requirements, PMRM_2's volatility
shocks, static discounts and contingencies, and the Dutch auction's discount, buffer and fraction.

Source: ``../shared/reference/open-source-venues.md`` §3, read from derivexyz/v2-core at commit
``7736900d395703c4f675376caa4c315402943831`` (``src/risk-managers/StandardManager.sol``,
``PMRM_2.sol``, ``PMRMLib_2.sol``, ``src/liquidation/DutchAuction.sol``), with the parameters of the
upstream test configuration (``test/config-test.sol``).

Sign convention, as Derive's: a manager's *margin* is collateral value minus requirement, so a
requirement is returned here as a **negative** contribution where Derive's formulas give one
(``perp_margin``, ``short_call_mm`` …) and a positive number where the function says
``requirement``. Units: the quote currency (USD), as exact :class:`~fractions.Fraction` values
(Derive computes in 1e18 fixed point; ``to_wad`` rounds to it, toward the venue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ramparts.errors import InvalidInput

__all__ = ["SRM", "PMRM", "AUCTION", "buffer_margin", "auction_discount", "max_fraction_purchasable", "perp_margin",
           "short_call_margin", "short_put_margin", "vol_shocks", "static_discounts", "to_wad"]

WAD = 10**18
YEAR_S = 365 * 86_400


def F(x) -> Fraction:
    if isinstance(x, float):
        if not math.isfinite(x):
            raise InvalidInput("value", f"must be finite, got {x!r}")
        return Fraction(str(x))
    return Fraction(x)


def to_wad(x: Fraction) -> int:
    """A value in Derive's 1e18 fixed point, truncated toward zero as Solidity's division does."""
    v = F(x) * WAD
    return int(v.numerator // v.denominator) if v >= 0 else -int((-v.numerator) // v.denominator)


@dataclass(frozen=True)
class SRMParams:
    """Standard-manager parameters of ``test/config-test.sol``."""

    max_spot_req: Fraction = Fraction(15, 100)
    min_spot_req: Fraction = Fraction(10, 100)
    mm_call_spot_req: Fraction = Fraction(75, 1000)
    mm_put_spot_req: Fraction = Fraction(75, 1000)
    mm_put_mtm_req: Fraction = Fraction(75, 1000)
    mm_offset_scale: Fraction = Fraction(105, 100)
    unpaired_im_scale: Fraction = Fraction(12, 10)
    unpaired_mm_scale: Fraction = Fraction(11, 10)
    perp_mm_req: Fraction = Fraction(5, 100)
    perp_im_req: Fraction = Fraction(65, 1000)


SRM = SRMParams()


def perp_margin(position, perp_price, *, initial: bool = False, p: SRMParams = SRM) -> Fraction:
    """``−|pos| · perpPrice · (im|mm)PerpReq`` (confidence contingencies not included)."""
    return -abs(F(position)) * F(perp_price) * (p.perp_im_req if initial else p.perp_mm_req)


def short_call_margin(amount, strike, spot, mtm, *, initial: bool, p: SRMParams = SRM) -> Fraction:
    """A short call (``amount < 0``): ``MM = mtm + mmCallSpotReq·spot·amt``;
    ``IM = mult·spot·amt + mtm`` with ``mult = maxSpotReq − otm`` floored at ``minSpotReq``, ``otm = (K − S)/S`` when ``K > S``."""
    amt, k, s, m = F(amount), F(strike), F(spot), F(mtm)
    if amt >= 0:
        raise InvalidInput("amount", "a short position has a negative amount")
    if not initial:
        return m + p.mm_call_spot_req * s * amt
    otm = (k - s) / s if k > s else Fraction(0)
    mult = p.max_spot_req - otm
    if mult <= p.min_spot_req:
        mult = p.min_spot_req
    return mult * s * amt + m


def short_put_margin(amount, strike, spot, mtm, *, initial: bool, p: SRMParams = SRM) -> Fraction:
    """A short put: ``MM = min(mmPutSpotReq·spot·amt, MMPutMtMReq·mtm) + mtm``;
    ``IM = min(mult·spot·amt + mtm, MM·mmOffsetScale)``, ``otm = (S − K)/S`` when ``S > K``."""
    amt, k, s, m = F(amount), F(strike), F(spot), F(mtm)
    if amt >= 0:
        raise InvalidInput("amount", "a short position has a negative amount")
    mm = min(p.mm_put_spot_req * s * amt, p.mm_put_mtm_req * m) + m
    if not initial:
        return mm
    otm = (s - k) / s if s > k else Fraction(0)
    mult = p.max_spot_req - otm
    if mult <= p.min_spot_req:
        mult = p.min_spot_req
    return min(mult * s * amt + m, mm * p.mm_offset_scale)


@dataclass(frozen=True)
class PMRMParams:
    """PMRM_2 defaults quoted in the reference (§3.2)."""

    vol_range_up: float = 0.5
    vol_range_down: float = 0.275
    short_term_power: float = 0.3
    long_term_power: float = 0.13
    dte_floor_days: float = 1.0
    min_vol_up: float = 0.45
    base_static_discount: float = 0.95
    base_static_discount_neg: float = 1.04
    long_rate_mult: float = 1.0
    long_rate_add: float = 0.08
    short_rate_mult: float = 0.5
    short_rate_add: float = 0.08
    mm_perp: float = 0.015
    mm_option: float = 0.003
    im_perp: float = 0.005
    im_option: float = 0.002
    im_loss_factor: float = 1.0
    mm_loss_factor: float = 0.8


PMRM = PMRMParams()


def vol_shocks(vol: float, seconds_to_expiry: float, p: PMRMParams = PMRM) -> tuple[float, float]:
    """``(up, down)``: ``m = (30 d / max(T, DTE_FLOOR))^(T ≤ 30 d ? SHORTTERMPOWER : LONGTERMPOWER)``;
    ``up = max(vol·(1 + VOLRANGEUP·m), MIN_VOL_UP)`` (the up-shocked vol is floored), ``down = vol·max(0, 1 − VOLRANGEDOWN·m)``."""
    if not (math.isfinite(vol) and vol >= 0 and math.isfinite(seconds_to_expiry) and seconds_to_expiry >= 0):
        raise InvalidInput("vol", "vol and time to expiry must be finite and non-negative")
    t = max(seconds_to_expiry, p.dte_floor_days * 86_400)
    power = p.short_term_power if seconds_to_expiry <= 30 * 86_400 else p.long_term_power
    m = (30 * 86_400 / t) ** power
    return max(vol * (1 + p.vol_range_up * m), p.min_vol_up), vol * max(0.0, 1 - p.vol_range_down * m)


def static_discounts(rate: float, seconds_to_expiry: float, p: PMRMParams = PMRM) -> tuple[float, float]:
    """``(pos, neg)``: ``pos = BASE·e^(−t(r·LONG_MULT + LONG_ADD))``, ``neg = min(1/disc, BASE_NEG·e^(t(r·SHORT_MULT + SHORT_ADD)))``
    with ``disc = e^(−r·t)``, ``t`` in years."""
    t = seconds_to_expiry / YEAR_S
    pos = p.base_static_discount * math.exp(-t * (rate * p.long_rate_mult + p.long_rate_add))
    disc = math.exp(-rate * t)
    neg = min(1 / disc, p.base_static_discount_neg * math.exp(t * (rate * p.short_rate_mult + p.short_rate_add)))
    return pos, neg


def contingencies(perp_position, naked_shorts, spot, *, initial: bool, p: PMRMParams = PMRM) -> float:
    """``MMcont = |perp|·spot·MM_PERP + nakedShorts·spot·MM_OPTION``; the initial level subtracts
    ``IMcont`` on top (``IM_PERP``, ``IM_OPTION``), so its add-ons are the sums (2.0 % perp, 0.5 % option)."""
    perp, shorts, s = abs(float(perp_position)), abs(float(naked_shorts)), float(spot)
    mm = perp * s * p.mm_perp + shorts * s * p.mm_option
    return mm + (perp * s * p.im_perp + shorts * s * p.im_option if initial else 0.0)


@dataclass(frozen=True)
class AuctionParams:
    """Dutch-auction parameters (§3.3)."""

    buffer_margin_percentage: Fraction = Fraction(1, 10)
    fast_length_s: int = 600
    fast_end: Fraction = Fraction(8, 10)
    slow_length_s: int = 7_200


AUCTION = AuctionParams()


def buffer_margin(mm, mtm, p: AuctionParams = AUCTION) -> Fraction:
    """``BM = MM + (MM − MtM)·bufferMarginPercentage`` (liquidate back to BM, not MM)."""
    return F(mm) + (F(mm) - F(mtm)) * p.buffer_margin_percentage


def auction_discount(elapsed_s: int, p: AuctionParams = AUCTION) -> Fraction:
    """``d(t)``: 100 % → 80 % linearly over the fast auction, then 80 % → 0 over the slow one."""
    if elapsed_s < 0:
        raise InvalidInput("elapsed_s", "must be non-negative")
    if elapsed_s <= p.fast_length_s:
        return 1 - (1 - p.fast_end) * Fraction(elapsed_s, p.fast_length_s)
    slow = min(elapsed_s - p.fast_length_s, p.slow_length_s)
    return p.fast_end * (1 - Fraction(slow, p.slow_length_s))


def max_fraction_purchasable(bm, mtm, d, reserved_cash=0) -> Fraction:
    """``f = BM / (BM − MtM·d − reservedCash·(1 − d))``, clamped to [0, 1] (the buffer margin is negative when liquidatable)."""
    bm, mtm, d, rc = F(bm), F(mtm), F(d), F(reserved_cash)
    den = bm - mtm * d - rc * (1 - d)
    if den == 0:
        raise InvalidInput("auction", "the fraction is undefined (zero denominator)")
    return min(max(bm / den, Fraction(0)), Fraction(1))
