"""Liquidation pricing strategies: at what price a liquidated position closes and what penalty it pays.

This module holds the fixed penalty at mark ± fee. The engine's other strategies (``oracle_fee``,
``dutch_auction``, selected by ``LiquidationConfig.pricing``) are priced by
:func:`ramparts.liquidation.waterfall.plan_step`, because they depend on the account's equity and
requirements, not only on the closed lots; order-book liquidation is still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ramparts.fixedpoint import PPM, ceil_div


@dataclass(frozen=True, slots=True)
class LiquidationQuote:
    """The close of ``lots`` lots: total signed quote the *liquidated* account pays (``quote``,
    negative = receives) and the penalty it owes on top, before the equity cap."""

    quote: int
    penalty: int


class LiquidationPricing(Protocol):
    def quote(self, lots_closed: int, mark: int) -> LiquidationQuote:
        """Price the close of ``lots_closed`` (signed: the change of the liquidated position)."""
        ...


@dataclass(frozen=True, slots=True)
class FixedPenaltyPricing:
    """Close at the mark; the penalty is ``penalty_ppm`` of the closed notional, rounded up.

    The economic price seen by the liquidated account is mark ∓ penalty (a long sells at
    ``mark × (1 − penalty)``, a short buys at ``mark × (1 + penalty)``).
    """

    penalty_ppm: int

    def quote(self, lots_closed: int, mark: int) -> LiquidationQuote:
        notional = abs(lots_closed) * mark
        return LiquidationQuote(quote=lots_closed * mark, penalty=ceil_div(notional * self.penalty_ppm, PPM))
