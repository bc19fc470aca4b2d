"""The parameters of the liquidation waterfall, each stage configurable on its own.

Defaults are documented per field; all money is in quote base units, rates in ppm, times in ns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from ramparts.errors import InvalidInput


class LastResort(StrEnum):
    """What absorbs a loss the insurance fund cannot cover."""

    ADL = "adl"  #: close against opposite positions ranked by profit % × leverage, at the bankruptcy price
    SOCIALISED = "socialised"  #: charge the loss pro rata over the opposite side's open interest


@dataclass(frozen=True)
class LiquidationConfig:
    """Parameters of every stage of the waterfall.

    Trigger and target (a)
        liquidation starts when equity < maintenance margin and continues until
        equity ≥ maintenance × (1 + ``buffer_ppm``/1e6). Default buffer 10 %.
    Gradual steps (b)
        at most ``max_fraction_ppm`` of a position per step (default 20 %, Hyperliquid's first
        step), at least ``min_step_notional`` (default 10,000 USDC), ``cooldown_ns`` between two
        steps of one sub-account (default 30 s), and a full close when the position's notional is
        at most ``full_close_notional`` (default 100,000 USDC, Hyperliquid's threshold) or what
        would remain is below ``min_step_notional``.
    Pricing and penalty (c, d)
        the fixed-penalty strategy closes at the mark and charges ``penalty_ppm`` of the closed
        notional (default 1 %), never more than the account's remaining equity; the liquidator
        keeps ``liquidator_share_ppm`` of it (default 50 %), the insurance fund the rest.
    Insurance fund (e)
        a market's own fund pays first, then the global fund, which pays at most
        ``insurance_cap_per_tick`` per market per tick (0 = no cap).
    Last resort (f, g)
        ``last_resort``: ``adl`` (default) or ``socialised``.
    """

    buffer_ppm: int = 100_000
    max_fraction_ppm: int = 200_000
    min_step_notional: int = 10_000 * 10**6
    cooldown_ns: int = 30 * 10**9
    full_close_notional: int = 100_000 * 10**6
    penalty_ppm: int = 10_000
    liquidator_share_ppm: int = 500_000
    insurance_cap_per_tick: int = 0
    last_resort: LastResort = LastResort.ADL

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "last_resort":
                try:
                    object.__setattr__(self, "last_resort", LastResort(v))
                except ValueError:
                    raise InvalidInput("liquidation.last_resort", f"must be 'adl' or 'socialised', got {v!r}") from None
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidInput(f"liquidation.{f.name}", f"must be a non-negative int, got {v!r}")
        for name in ("max_fraction_ppm", "liquidator_share_ppm", "penalty_ppm"):
            if getattr(self, name) > 1_000_000:
                raise InvalidInput(f"liquidation.{name}", "must be at most 1e6 (100 %)")
        if self.max_fraction_ppm == 0:
            raise InvalidInput("liquidation.max_fraction_ppm", "must be positive")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_resort"] = self.last_resort.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiquidationConfig:
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise InvalidInput(f"liquidation.{k}", f"unknown parameter (known: {', '.join(sorted(known))})")
        return cls(**d)

    def replace(self, key: str, value: Any) -> LiquidationConfig:
        d = self.to_dict()
        if key not in d:
            raise InvalidInput(f"liquidation.{key}", f"unknown parameter (known: {', '.join(sorted(d))})")
        d[key] = value
        return LiquidationConfig.from_dict(d)
