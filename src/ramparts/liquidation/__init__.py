"""The liquidation layer and what lies beneath it: partial liquidation, pricing, the penalty split,
the insurance fund, auto-deleveraging and socialised loss (layers 3 to 5 of the waterfall). The waterfall
works on the narrow view of a venue's state declared in :mod:`ramparts.liquidation.state`."""

from ramparts.liquidation.allocation import allocate_pro_rata
from ramparts.liquidation.config import LastResort, LiquidationConfig, Pricing
from ramparts.liquidation.pricing import FixedPenaltyPricing, LiquidationPricing, LiquidationQuote

__all__ = [
    "FixedPenaltyPricing",
    "LastResort",
    "LiquidationConfig",
    "LiquidationPricing",
    "LiquidationQuote",
    "Pricing",
    "allocate_pro_rata",
]
