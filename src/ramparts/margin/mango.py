"""Mango v4 perp health as ramparts margin: the rates the ``mango`` engine profile runs, derived from Mango's own
health function (:mod:`ramparts.venues.mango`, mango-v4 ``1303a4a`` ``programs/mango-v4/src/health/cache.rs``).

This module owns the bridge from a Mango perp market's weights to the engine's margin: it evaluates
:meth:`ramparts.venues.mango.PerpInfo.unweighted_health_unsettled_pnl` (the one home of the formula) on one unit
of base at price 1 and reads the requirement rate off it. It does not re-implement Mango's health.

Why a rate is exact. For a perp position without open orders, settled in a token of price 1 whose asset and
liability weights are 1 (USDC in Mango's groups), with ``b`` native base, ``q`` native quote and oracle price
``P``::

    uhupnl = q + b·w·P,    w = base asset weight (b > 0) | base liability weight (b < 0)
    hupnl  = uhupnl if uhupnl ≤ 0, else overall_asset_weight · uhupnl
    health = cash + Σ hupnl

and ramparts' equity is ``cash + Σ (q + b·P)``, so with ``overall_asset_weight = 1``::

    health = equity − Σ |b|·P·r,    r = 1 − asset weight (long) | liability weight − 1 (short)

``|b|·P·r`` is a requirement linear in the position's notional: one flat bracket of the engine's tier
model (:class:`~ramparts.margin.schedule.MarginSchedule`), rounded up to base units as every ramparts
requirement is (so the engine's health is at most Mango's and less than one base unit per position below it).
Init health uses the init weights and ``min/max(oracle, stable price)``; with the stable price at the oracle
it is ``equity − Σ |b|·P·r_init``: the initial margin. Mango's liquidation ends when the ``LiquidationEnd``
health (init weights, oracle prices) is ≥ 0, i.e. when equity reaches the initial margin:
:func:`liquidation_end_buffer_ppm` is that target as the waterfall's buffer over maintenance.

What a rate cannot carry (and the ``mango`` profile lists among its differences): asymmetric weights (the
tier model has one rate for both sides; :func:`rates` refuses them), an overall asset weight below 1 on
positive unsettled pnl (it depends on the position's pnl, not its notional), open orders, the stable price in
init health, and token (spot) positions other than the settle token.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM
from ramparts.venues import mango

__all__ = ["MangoPerpWeights", "liquidation_end_buffer_ppm", "rates", "tiers"]


@dataclass(frozen=True)
class MangoPerpWeights:
    """A Mango perp market's base weights (``PerpMarket``: init/maint base asset and liability weights)."""

    init_base_asset_weight: Fraction
    init_base_liab_weight: Fraction
    maint_base_asset_weight: Fraction
    maint_base_liab_weight: Fraction

    @classmethod
    def symmetric(cls, init: str, maint: str) -> MangoPerpWeights:
        """Weights ``1 ∓ init`` and ``1 ∓ maint`` (the form of Mango's own test markets, ``mock_perp_market``)."""
        i, m = Fraction(init), Fraction(maint)
        return cls(1 - i, 1 + i, 1 - m, 1 + m)

    def perp_info(self, base: int, quote, price, *, overall_asset_weight=1) -> mango.PerpInfo:
        """Mango's ``PerpInfo`` of ``base`` native units (lot size 1) with native ``quote`` at ``price``."""
        return mango.PerpInfo.from_position(0, 0, base_lot_size=1, quote_lot_size=1, base_position_lots=base,
                                            quote_position_native=quote, oracle_price=price,
                                            init_base_asset_weight=self.init_base_asset_weight,
                                            init_base_liab_weight=self.init_base_liab_weight,
                                            maint_base_asset_weight=self.maint_base_asset_weight,
                                            maint_base_liab_weight=self.maint_base_liab_weight,
                                            init_overall_asset_weight=overall_asset_weight,
                                            maint_overall_asset_weight=overall_asset_weight)


def _rate(w: MangoPerpWeights, health_type: mango.HealthType) -> Fraction:
    """The requirement per unit of notional, read off Mango's uhupnl of one unit long and one unit short at price 1."""
    long = 1 - w.perp_info(1, 0, 1).unweighted_health_unsettled_pnl(health_type)  # 1 − asset weight
    short = -1 - w.perp_info(-1, 0, 1).unweighted_health_unsettled_pnl(health_type)  # liability weight − 1
    if long != short:
        raise InvalidInput("weights", f"{health_type.value} weights are not symmetric (long rate {long}, short rate {short}): "
                                      "the engine's tier model takes one rate for both sides")
    if not 0 <= long <= 1:
        raise InvalidInput("weights", f"{health_type.value} rate {long} is outside [0, 1]")
    return long


def rates(w: MangoPerpWeights) -> tuple[Fraction, Fraction]:
    """(initial, maintenance) margin rates of notional equivalent to Mango's init and maint perp health."""
    im, mm = _rate(w, mango.HealthType.INIT), _rate(w, mango.HealthType.MAINT)
    if im < mm:
        raise InvalidInput("weights", f"init rate {im} is below the maint rate {mm}")
    return im, mm


def _decimal(x: Fraction) -> str:
    d = Decimal(x.numerator) / Decimal(x.denominator)
    if Fraction(d) != x:
        raise InvalidInput("weights", f"rate {x} has no exact decimal form")
    return str(d)


def tiers(w: MangoPerpWeights) -> list[list[str]]:
    """The engine's tier table (one bracket from 0) for the weights."""
    im, mm = rates(w)
    return [["0", _decimal(im), _decimal(mm)]]


def liquidation_end_buffer_ppm(w: MangoPerpWeights) -> int:
    """The waterfall's buffer over maintenance that makes its target Mango's ``LiquidationEnd`` health ≥ 0
    (equity ≥ initial margin): ``init rate / maint rate − 1`` in ppm, rounded up (never stops short of it)."""
    im, mm = rates(w)
    if mm == 0:
        raise InvalidInput("weights", "a zero maint rate has no buffer over maintenance")
    x = (im / mm - 1) * PPM
    return -(-x.numerator // x.denominator)
