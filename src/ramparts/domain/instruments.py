"""Instruments: linear perpetuals, dated futures and European options, with their grids and margin.

An instrument fixes the integer grids used everywhere (see :mod:`ramparts.fixedpoint`):

* one *lot* is ``contract_size × size_step`` units of the underlying, and sizes are int lots;
* a *lot price* is the price of one lot in quote base units,
  ``lot_price = price × contract_size × size_step × 10**quote_decimals``; it must be an integer
  for every price on the tick grid, which the constructor checks.

The instrument also names its settlement (quote) asset, its margin schedule, funding parameters
(perpetuals), expiry (dated futures and options), mark-price model and which insurance fund backs it.

An **option** is European and cash-settled in the quote asset: its lot price is the premium of one
lot; it names a ``strike`` (quote per unit), an ``option_type`` (``call`` / ``put``) and the
``index_instrument`` whose index price is its underlying spot. It settles at expiry at its
intrinsic value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from ramparts.domain.assets import Asset, check_symbol
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, to_decimal
from ramparts.margin.funding import FundingParams
from ramparts.margin.schedule import MarginSchedule


class InstrumentKind(StrEnum):
    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"


def _positive_decimal(value: object, field: str) -> Decimal:
    d = to_decimal(value, field)
    if d <= 0:
        raise InvalidInput(field, f"must be positive, got {value}")
    return d


@dataclass(slots=True)
class Instrument:
    """A listed linear derivative.

    Parameters
    ----------
    symbol : e.g. ``"BTC-PERP"``.
    kind : :class:`InstrumentKind`.
    underlying : the index name, e.g. ``"BTC"``.
    quote : the settlement asset (margin and PnL are in it).
    contract_size, size_step, tick_size : the grids, as decimals.
    schedule : the :class:`~ramparts.margin.schedule.MarginSchedule`.
    expiry_ns : expiry time of a dated future (ns since epoch); ``None`` for perpetuals.
    funding : :class:`~ramparts.margin.funding.FundingParams` (perpetuals).
    insurance_fund : ``"global"`` or ``"market"`` (a fund of its own, dYdX-style isolated market).
    oracle_max_age_ns : a fill is refused when the oracle is older than this (0 = no limit).
    """

    index: int
    symbol: str
    kind: InstrumentKind
    underlying: str
    quote: Asset
    contract_size: Decimal
    size_step: Decimal
    tick_size: Decimal
    schedule: MarginSchedule
    expiry_ns: int | None = None
    funding: FundingParams = field(default_factory=FundingParams)
    insurance_fund: str = "global"
    oracle_max_age_ns: int = 0
    strike: Decimal | None = None
    option_type: str | None = None
    index_instrument: str | None = None
    # derived
    strike_lot: int = 0
    spot_lot: int = 0  #: the option's underlying spot as a lot price (kept current by the engine; not state)
    lot_underlying: Decimal = Decimal(0)
    price_factor: Decimal = Decimal(0)
    tick_units: int = 0

    def __post_init__(self) -> None:
        check_symbol(self.symbol, "instrument.symbol")
        check_symbol(self.underlying, "instrument.underlying")
        self.kind = InstrumentKind(self.kind)
        self.contract_size = _positive_decimal(self.contract_size, "instrument.contract_size")
        self.size_step = _positive_decimal(self.size_step, "instrument.size_step")
        self.tick_size = _positive_decimal(self.tick_size, "instrument.tick_size")
        if self.kind is InstrumentKind.FUTURE and self.expiry_ns is None:
            raise InvalidInput("instrument.expiry_ns", "a dated future needs an expiry")
        if self.kind is InstrumentKind.PERPETUAL and self.expiry_ns is not None:
            raise InvalidInput("instrument.expiry_ns", "a perpetual has no expiry")
        if self.kind is InstrumentKind.OPTION:
            if self.expiry_ns is None:
                raise InvalidInput("instrument.expiry_ns", "an option needs an expiry")
            if self.option_type not in ("call", "put"):
                raise InvalidInput("instrument.option_type", f"must be 'call' or 'put', got {self.option_type!r}")
            if not self.index_instrument:
                raise InvalidInput("instrument.index_instrument", "an option names the instrument whose index is its underlying")
            self.strike = _positive_decimal(self.strike, "instrument.strike")
        elif self.strike is not None or self.option_type is not None or self.index_instrument is not None:
            raise InvalidInput("instrument.strike", "strike, option_type and index_instrument are for options only")
        if self.insurance_fund not in ("global", "market"):
            raise InvalidInput("instrument.insurance_fund", "must be 'global' or 'market'")
        self.lot_underlying = self.contract_size * self.size_step
        self.price_factor = self.lot_underlying.scaleb(self.quote.decimals)
        tick = self.tick_size * self.price_factor
        if tick != tick.to_integral_value():
            raise InvalidInput(
                "instrument.tick_size",
                f"tick × lot × 10^decimals = {tick} is not an integer number of {self.quote.symbol} units",
            )
        self.tick_units = int(tick)
        if self.tick_units <= 0:
            raise InvalidInput("instrument.tick_size", "tick is smaller than one base unit per lot")
        if self.kind is InstrumentKind.OPTION:
            k = self.strike * self.price_factor
            if k != k.to_integral_value():
                raise InvalidInput("instrument.strike", f"strike × lot × 10^decimals = {k} is not a whole number of base units")
            self.strike_lot = int(k)

    @property
    def is_option(self) -> bool:
        return self.kind is InstrumentKind.OPTION

    def intrinsic_lot(self, spot_lot: int) -> int:
        """The option's value at expiry for a spot lot price: ``max(S − K, 0)`` or ``max(K − S, 0)``."""
        if self.option_type == "call":
            return max(spot_lot - self.strike_lot, 0)
        return max(self.strike_lot - spot_lot, 0)

    # ------------------------------------------------------------------ conversions
    def lot_price(self, price: object, field: str = "price", *, on_tick: bool = True) -> int:
        """A price (quote per underlying unit) to an int lot price.

        With ``on_tick`` the price must lie on the tick grid (fills); otherwise it is rounded
        half-even to one base unit per lot (oracle prices). Zero, negative, NaN and infinite
        prices are errors.
        """
        p = to_decimal(price, field)
        if p <= 0:
            raise InvalidInput(field, f"must be positive, got {price}")
        if on_tick:
            ticks = p / self.tick_size
            if ticks != ticks.to_integral_value():
                raise InvalidInput(field, f"{price} is not on the tick grid {self.tick_size}")
            lp = int(ticks) * self.tick_units
        else:
            lp = int((p * self.price_factor).to_integral_value(rounding=ROUND_HALF_EVEN))
            if lp <= 0:
                raise InvalidInput(field, f"{price} rounds to zero on this instrument")
        if lp > MAX_NOTIONAL:
            raise InvalidInput(field, f"{price} overflows the price limit")
        return lp

    def lots(self, size: object, field: str = "size") -> int:
        """A size in contracts to int lots; off the step grid is an error."""
        s = to_decimal(size, field)
        n = s / self.size_step
        if n != n.to_integral_value():
            raise InvalidInput(field, f"{size} is not on the size step {self.size_step}")
        return int(n)

    def price(self, lot_price: int) -> Decimal:
        """An int lot price back to a decimal price (quote per underlying unit)."""
        return Decimal(lot_price) / self.price_factor

    def size(self, lots: int) -> Decimal:
        return Decimal(lots) * self.size_step

    def size_underlying(self, lots: int) -> Decimal:
        return abs(Decimal(lots) * self.lot_underlying)

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "kind": self.kind.value,
            "underlying": self.underlying,
            "quote": self.quote.symbol,
            "contract_size": str(self.contract_size),
            "size_step": str(self.size_step),
            "tick_size": str(self.tick_size),
            "margin": self.schedule.to_dict(),
            "expiry_ns": self.expiry_ns,
            "funding": self.funding_dict(),
            "insurance_fund": self.insurance_fund,
            "oracle_max_age_ns": self.oracle_max_age_ns,
            **({"strike": str(self.strike), "option_type": self.option_type, "index_instrument": self.index_instrument} if self.is_option else {}),
        }

    def funding_dict(self) -> dict:
        f = self.funding
        return {
            "interval_seconds": f.interval_seconds,
            "interest_rate_ppm": f.interest_rate_ppm,
            "premium_clamp_ppm": f.premium_clamp_ppm,
            "max_rate_ppm": f.max_rate_ppm,
        }
