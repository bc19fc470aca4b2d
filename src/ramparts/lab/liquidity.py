"""The liquidity model of the lab: how much liquidations move the price, so that they can cascade.

A liquidation sells (or buys) into a book of finite depth. Its price impact follows the square-root
law of market impact, scaled by volatility:

    impact = k · σ · sqrt(notional / depth)

with ``σ`` the recent per-step volatility of the path, ``depth`` the notional the book absorbs at
one σ of impact, and ``k`` a constant of order one. The impact of a step's net liquidation flow
(sells push down, buys up) accumulates into a price *displacement* that decays back towards the
market path with a half-life, the book refilling. The oracle the engine sees is the market path
shifted by the displacement, so liquidations lower the mark, which triggers more liquidations: the
death spiral. ``depth_multiplier`` < 1 models liquidity evaporating in a crisis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ramparts.errors import InvalidInput


@dataclass(frozen=True)
class LiquidityModel:
    """Parameters of the square-root impact model (quote currency, seconds)."""

    depth: float = 50_000_000.0  #: notional (USDC) that moves the price by k·σ
    k: float = 1.0
    half_life_s: float = 900.0  #: the displacement halves every 15 minutes
    depth_multiplier: float = 1.0  #: < 1: liquidity evaporation
    max_displacement: float = 0.5  #: cap on |log displacement|

    def __post_init__(self) -> None:
        for name in ("depth", "half_life_s", "depth_multiplier", "max_displacement"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InvalidInput(f"liquidity.{name}", f"must be a positive number, got {v!r}")
        if not (math.isfinite(self.k) and self.k >= 0):
            raise InvalidInput("liquidity.k", f"must be ≥ 0, got {self.k!r}")

    def impact(self, signed_notional: float, sigma: float) -> float:
        """Log-price impact of a net flow (> 0 buys push up, < 0 sells push down)."""
        if signed_notional == 0:
            return 0.0
        depth = self.depth * self.depth_multiplier
        return math.copysign(self.k * max(sigma, 1e-4) * math.sqrt(abs(signed_notional) / depth), signed_notional)

    def decay(self, displacement: float, dt_s: float) -> float:
        return displacement * 0.5 ** (max(dt_s, 0.0) / self.half_life_s)

    def clamp(self, displacement: float) -> float:
        return max(-self.max_displacement, min(self.max_displacement, displacement))

    def to_dict(self) -> dict:
        return asdict(self)
