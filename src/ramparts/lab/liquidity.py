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

A second law, ``law = "power"``, is the one fitted to Binance USDⓈ-M liquidation events
(ramparts/reference/published-crash-figures.md, "Order-book depth and impact": 639 events of 21 symbols,
``log(move) = a + γ·log(V/D)``, γ = 0.875 ± 0.078, with ``D`` the notional resting within 1 % of mid at the
moment):

    impact = 1 % · (notional / depth_1%)^γ

so that ``depth`` is then the book's notional within 1 % of mid, a published quantity (per asset:
``depth_by_asset``). It does not use σ.

How much of the displacement reaches the venue's *mark* is the venue's index construction, not the book's:
:class:`~ramparts.lab.replay.VenueSpec` ``index_weight`` (0: a mark from other venues' prices that the venue's own
liquidations do not move; 1: a mark read from the venue's own book). The historical path already carries the real
crash's liquidations on every venue, so only the lab venue's own flow displaces anything.
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
    law: str = "sqrt"  #: ``sqrt`` (k·σ·sqrt(N/depth)) or ``power`` (1 % · (N/depth_1%)^γ)
    gamma: float = 0.875  #: the power law's exponent
    #: depth of the markets after the first, by asset (``{"ETH": 19e6}``); the first market and any other use ``depth``
    depth_by_asset: dict | None = None

    def __post_init__(self) -> None:
        for name in ("depth", "half_life_s", "depth_multiplier", "max_displacement"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InvalidInput(f"liquidity.{name}", f"must be a positive number, got {v!r}")
        if not (math.isfinite(self.k) and self.k >= 0):
            raise InvalidInput("liquidity.k", f"must be ≥ 0, got {self.k!r}")
        if self.law not in ("sqrt", "power"):
            raise InvalidInput("liquidity.law", f"must be sqrt or power, got {self.law!r}")
        if not (isinstance(self.gamma, (int, float)) and 0 < self.gamma <= 2):
            raise InvalidInput("liquidity.gamma", f"must lie in (0, 2], got {self.gamma!r}")
        for a, d in (self.depth_by_asset or {}).items():
            if not (isinstance(d, (int, float)) and math.isfinite(d) and d > 0):
                raise InvalidInput(f"liquidity.depth_by_asset.{a}", f"must be a positive number, got {d!r}")

    def depth_for(self, symbol: str | None = None) -> float:
        """The book depth of ``symbol``'s market (``BTC-PERP``), evaporation included."""
        asset = symbol[: -len("-PERP")] if symbol and symbol.endswith("-PERP") else symbol
        d = (self.depth_by_asset or {}).get(asset, self.depth) if asset else self.depth
        return d * self.depth_multiplier

    def scaled(self, factor: float) -> LiquidityModel:
        """Every depth × ``factor`` (the sensitivity's depth rows)."""
        from dataclasses import replace

        by = None if self.depth_by_asset is None else {a: d * factor for a, d in self.depth_by_asset.items()}
        return replace(self, depth=self.depth * factor, depth_by_asset=by)

    def notional_within(self, x: float, sigma: float, symbol: str | None = None) -> float:
        """Notional resting within a relative distance ``x`` of the price (the law inverted): the synthetic book's shape."""
        depth = self.depth_for(symbol)
        if self.law == "power":
            return depth * (x / 0.01) ** (1 / self.gamma)
        ks = (self.k or 1.0) * max(sigma, 1e-4)
        return depth * (x / ks) ** 2

    def impact(self, signed_notional: float, sigma: float, symbol: str | None = None) -> float:
        """Log-price impact of a net flow (> 0 buys push up, < 0 sells push down) on ``symbol``'s market."""
        if signed_notional == 0:
            return 0.0
        depth = self.depth_for(symbol)
        if self.law == "power":
            return math.copysign(0.01 * (abs(signed_notional) / depth) ** self.gamma, signed_notional)
        return math.copysign(self.k * max(sigma, 1e-4) * math.sqrt(abs(signed_notional) / depth), signed_notional)

    def decay(self, displacement: float, dt_s: float) -> float:
        return displacement * 0.5 ** (max(dt_s, 0.0) / self.half_life_s)

    def clamp(self, displacement: float) -> float:
        return max(-self.max_displacement, min(self.max_displacement, displacement))

    def to_dict(self) -> dict:
        return asdict(self)
