"""Exact fixed-point arithmetic: the unit conventions of the whole engine.

Money is never a float in ramparts. The conventions, used by every layer:

* **Asset amounts** are ``int`` in the asset's base units: ``amount_units = amount × 10**decimals``
  (USDC has 6 decimals, so 1 USDC = 1_000_000 units).
* **Sizes** are ``int`` *lots*: one lot is ``contract_size × size_step`` of the underlying
  (BTC-PERP with size step 0.001 has 1 lot = 0.001 BTC). Long positions are positive.
* **Prices** are ``int`` *lot prices*: quote-asset base units per lot. A BTC price of 50,000.0 USDC
  with 1 lot = 0.001 BTC is ``50_000 × 0.001 × 10**6 = 50_000_000``. Hence the notional of a
  position is exactly ``lots × lot_price`` quote units, with no rounding at all.
* **Rates** (margin rates, penalties, funding) are ``int`` parts per million (``ppm``; 1e6 = 100%)
  unless a name says otherwise (``_ppb`` = parts per billion).

Rounding always favours solvency: requirements are rounded up (:func:`ceil_div`), equity and
collateral value down (:func:`floor_div`). Both are exact on Python ints of any size.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from ramparts.errors import InvalidInput

PPM = 1_000_000
PPB = 1_000_000_000

#: Largest absolute value an int64 field may hold (with headroom for sums of a few terms).
INT64_MAX = 2**63 - 1
#: Largest position notional, in quote base units, that the vectorised int64 kernels handle
#: exactly (``notional // 1e6 × rate_ppm`` must fit in int64 with room to spare).
MAX_NOTIONAL = 4 * 10**15
#: Largest balance, in base units, any ledger account may reach.
MAX_BALANCE = 10**17


def ceil_div(a: int, b: int) -> int:
    """Exact ceiling of ``a / b`` for ints (``b > 0``)."""
    return -((-a) // b)


def floor_div(a: int, b: int) -> int:
    """Exact floor of ``a / b`` for ints (``b > 0``)."""
    return a // b


def to_decimal(value: object, field: str) -> Decimal:
    """Parse a user value (str, int, Decimal; floats only if finite) into a finite ``Decimal``.

    Raises :class:`InvalidInput` naming ``field`` for NaN, infinities, booleans and junk.
    """
    if isinstance(value, bool):
        raise InvalidInput(field, f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(field, f"must be finite, got {value!r}")
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            raise InvalidInput(field, f"not a number: {value!r}") from None
    else:
        raise InvalidInput(field, f"expected a number, got {type(value).__name__}")
    if not d.is_finite():
        raise InvalidInput(field, f"must be finite, got {value!r}")
    return d


def to_units(value: object, decimals: int, field: str, *, exact: bool = True) -> int:
    """Convert a decimal amount to integer base units (``value × 10**decimals``).

    With ``exact=True`` a value finer than one base unit is an error; otherwise it is rounded
    half-even.
    """
    d = to_decimal(value, field)
    scaled = d.scaleb(decimals)
    if exact and scaled != scaled.to_integral_value():
        raise InvalidInput(field, f"{value} has more than {decimals} decimals")
    return int(scaled.to_integral_value(rounding=ROUND_HALF_EVEN))


def from_units(units: int, decimals: int) -> Decimal:
    """Integer base units back to a ``Decimal`` amount."""
    return Decimal(units).scaleb(-decimals)


def rate_to_ppm(value: object, field: str) -> int:
    """A rate given as a decimal fraction (``"0.005"`` = 0.5 %) to exact integer ppm."""
    return to_units(value, 6, field, exact=True)


def check_int64(value: int, field: str, limit: int = INT64_MAX) -> int:
    """Raise :class:`InvalidInput` when ``|value|`` exceeds ``limit`` (overflow guard)."""
    if abs(value) > limit:
        raise InvalidInput(field, f"{value} overflows the limit {limit}")
    return value
