"""Synthetix v3 perps market: velocity funding (skew, skew scale, max funding velocity, the
proportional elapsed time, unrecorded and accrued funding per unit), the premium/discount fill price,
and the market-debt accounting the funding feeds.

Source: ``ramparts/reference/open-source-venues.md`` §7, read from Synthetixio/synthetix-v3 at commit
``23585f73c76d625b2a43aaf94dc440a8a1e7a8fa`` (``markets/perps-market/contracts/storage/PerpsMarket.sol`` —
``currentFundingVelocity``, ``proportionalElapsed``, ``currentFundingRate``, ``unrecordedFunding``,
``calculateNextFunding``, ``recomputeFunding``, ``updatePositionData``, ``marketDebt`` —,
``markets/perps-market/contracts/storage/Position.sol`` — ``getPnl`` —,
``markets/perps-market/contracts/storage/AsyncOrder.sol`` — ``calculateFillPrice``, the settlement order —
and ``utils/core-contracts/contracts/utils/DecimalMath.sol``).

Units, as the contracts': every quantity is a **D18** integer (1e18 = 1: sizes in base units, prices in
USD, rates per day, funding values in USD per unit of size); times are unix seconds. Arithmetic is
Solidity's: ``mulDecimal(x, y) = x·y / 1e18`` and ``divDecimal(x, y) = x·1e18 / y``, each division
truncated toward zero (``int256``)::

    velocity      = clamp(skew / skewScale, −1, 1) · maxFundingVelocity          (0 when skewScale = 0)
    elapsed       = (now − lastFundingTime) · 1e18 / 86400                        (days, D18)
    rate(now)     = lastFundingRate + velocity · elapsed
    unrecorded    = −(lastFundingRate + rate(now)) / 2 · elapsed · price          (funding flows against the skew)
    nextFunding   = lastFundingValue + unrecorded
    accrued       = size · (nextFunding − position.latestInteractionFunding)
    fillPrice     = (price·(1 + skew/skewScale) + price·(1 + (skew + size)/skewScale)) / 2

Not modelled: the interest-rate charge (``InterestRate``), fees and keeper rewards, margin and
liquidation checks of an order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ramparts.errors import InvalidInput

__all__ = ["SECONDS_PER_DAY", "UNIT", "PerpsMarket", "Position", "current_funding_rate", "current_funding_velocity",
           "div_decimal", "fill_price", "mul_decimal", "proportional_elapsed", "unrecorded_funding"]

UNIT = 10**18
SECONDS_PER_DAY = 86_400


def _int(name: str, v, *, nonneg: bool = False) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidInput(name, f"must be an int in D18 units, got {v!r}")
    if nonneg and v < 0:
        raise InvalidInput(name, f"must be non-negative, got {v!r}")
    return v


def _tdiv(a: int, b: int) -> int:
    """Solidity's signed division: truncation toward zero."""
    if b == 0:
        raise InvalidInput("divisor", "division by zero")
    qt = abs(a) // abs(b)
    return qt if (a >= 0) == (b > 0) else -qt


def mul_decimal(x: int, y: int) -> int:
    """``DecimalMath.mulDecimal``: ``x·y / 1e18`` truncated toward zero."""
    return _tdiv(_int("x", x) * _int("y", y), UNIT)


def div_decimal(x: int, y: int) -> int:
    """``DecimalMath.divDecimal``: ``x·1e18 / y`` truncated toward zero."""
    return _tdiv(_int("x", x) * UNIT, _int("y", y))


def current_funding_velocity(skew: int, skew_scale: int, max_funding_velocity: int) -> int:
    """``clamp(skew / skewScale, −1, 1) × maxFundingVelocity`` (per day, D18); 0 when ``skewScale == 0``."""
    scale = _int("skew_scale", skew_scale, nonneg=True)
    mfv = _int("max_funding_velocity", max_funding_velocity, nonneg=True)
    if scale == 0:
        return 0
    p_skew = div_decimal(_int("skew", skew), scale)
    return mul_decimal(min(max(-UNIT, p_skew), UNIT), mfv)


def proportional_elapsed(now: int, last_funding_time: int) -> int:
    """Days since the last funding recomputation, D18 (``(now − last) · 1e18 / 86400``, floored)."""
    n, last = _int("now", now, nonneg=True), _int("last_funding_time", last_funding_time, nonneg=True)
    if n < last:
        raise InvalidInput("now", "cannot be before the last funding time")
    return (n - last) * UNIT // SECONDS_PER_DAY


def current_funding_rate(last_funding_rate: int, velocity: int, elapsed: int) -> int:
    """``lastFundingRate + velocity × elapsed`` (per day, D18)."""
    return _int("last_funding_rate", last_funding_rate) + mul_decimal(velocity, elapsed)


def unrecorded_funding(last_funding_rate: int, funding_rate: int, elapsed: int, price: int) -> int:
    """``−(lastRate + rate)/2 × elapsed × price``: funding per unit of size since the last recomputation."""
    avg = -div_decimal(_int("last_funding_rate", last_funding_rate) + _int("funding_rate", funding_rate), 2 * UNIT)
    return mul_decimal(mul_decimal(avg, _int("elapsed", elapsed, nonneg=True)), _int("price", price, nonneg=True))


def fill_price(skew: int, skew_scale: int, size: int, price: int) -> int:
    """``AsyncOrder.calculateFillPrice``: the average of the premium/discount-adjusted prices before and after the order."""
    scale, p = _int("skew_scale", skew_scale, nonneg=True), _int("price", price, nonneg=True)
    if scale == 0:
        return p
    pd_before = div_decimal(_int("skew", skew), scale)
    pd_after = div_decimal(skew + _int("size", size), scale)
    before = p + mul_decimal(p, pd_before)
    after = p + mul_decimal(p, pd_after)
    if before + after < 0:
        raise InvalidInput("skew", "the premium/discount drives the fill price negative")
    return (before + after) * UNIT // (2 * UNIT)


@dataclass(frozen=True)
class Position:
    """``Position.Data`` without the interest field: size and the price/funding at the last interaction."""

    size: int = 0
    latest_interaction_price: int = 0
    latest_interaction_funding: int = 0


@dataclass(frozen=True)
class PerpsMarket:
    """The funding and debt state of one market (``PerpsMarket.Data``) with its two funding parameters."""

    skew_scale: int
    max_funding_velocity: int
    skew: int = 0
    size: int = 0
    last_funding_rate: int = 0
    last_funding_value: int = 0
    last_funding_time: int = 0
    debt_correction_accumulator: int = 0

    def __post_init__(self):
        _int("skew_scale", self.skew_scale, nonneg=True)
        _int("max_funding_velocity", self.max_funding_velocity, nonneg=True)
        for name in ("skew", "last_funding_rate", "last_funding_value", "debt_correction_accumulator"):
            _int(name, getattr(self, name))
        _int("size", self.size, nonneg=True)
        _int("last_funding_time", self.last_funding_time, nonneg=True)

    def current_funding_velocity(self) -> int:
        return current_funding_velocity(self.skew, self.skew_scale, self.max_funding_velocity)

    def current_funding_rate(self, now: int) -> int:
        return current_funding_rate(self.last_funding_rate, self.current_funding_velocity(),
                                    proportional_elapsed(now, self.last_funding_time))

    def unrecorded_funding(self, now: int, price: int) -> int:
        elapsed = proportional_elapsed(now, self.last_funding_time)
        rate = current_funding_rate(self.last_funding_rate, self.current_funding_velocity(), elapsed)
        return unrecorded_funding(self.last_funding_rate, rate, elapsed, price)

    def next_funding(self, now: int, price: int) -> int:
        """``calculateNextFunding``: the funding accumulator (USD per unit of size) at ``now``."""
        return self.last_funding_value + self.unrecorded_funding(now, price)

    def recompute_funding(self, now: int, price: int) -> PerpsMarket:
        """``recomputeFunding``: records the current rate and funding value at ``now``."""
        return replace(self, last_funding_rate=self.current_funding_rate(now), last_funding_value=self.next_funding(now, price),
                       last_funding_time=now)

    def position_pnl(self, position: Position, now: int, price: int) -> tuple[int, int, int]:
        """``Position.getPnl`` without interest: ``(price_pnl + accrued_funding, price_pnl, accrued_funding)``."""
        net_per_unit = self.next_funding(now, price) - position.latest_interaction_funding
        accrued = mul_decimal(position.size, net_per_unit)
        price_pnl = mul_decimal(position.size, _int("price", price, nonneg=True) - position.latest_interaction_price)
        return price_pnl + accrued, price_pnl, accrued

    def update_position_data(self, old: Position, new: Position, now: int) -> PerpsMarket:
        """``updatePositionData``: size, skew and the debt-correction accumulator for ``old → new``."""
        market = replace(self, size=self.size + abs(new.size) - abs(old.size), skew=self.skew + new.size - old.size)
        current_price = new.latest_interaction_price
        _, price_pnl, funding_pnl = market.position_pnl(old, now, current_price)
        size_delta = new.size - old.size
        funding_delta = mul_decimal(market.next_funding(now, current_price), size_delta)
        notional_delta = mul_decimal(current_price, size_delta)
        return replace(market, debt_correction_accumulator=market.debt_correction_accumulator + funding_delta + notional_delta
                       + price_pnl + funding_pnl)

    def settle_order(self, position: Position, size_delta: int, price: int, now: int) -> tuple[PerpsMarket, Position, int]:
        """An order's settlement as ``AsyncOrder`` orders it: funding recomputed at the oracle ``price``,
        the fill price from the pre-trade skew, the new position stamped with the fill price and the
        recorded funding value, then :meth:`update_position_data`. Returns ``(market, position, fill_price)``."""
        if _int("size_delta", size_delta) == 0:
            raise InvalidInput("size_delta", "a zero-size order")
        market = self.recompute_funding(now, price)
        fp = fill_price(market.skew, market.skew_scale, size_delta, price)
        new = Position(position.size + size_delta, fp, market.last_funding_value)
        return market.update_position_data(position, new, now), new, fp

    def market_debt(self, now: int, price: int) -> int:
        """``marketDebt``: ``skew·price + skew·nextFunding − debtCorrectionAccumulator``."""
        return mul_decimal(self.skew, price) + mul_decimal(self.skew, self.next_funding(now, price)) - self.debt_correction_accumulator
