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

User decimals are parsed by :func:`to_decimal`, the one rule for every amount, price, size, fee,
premium and rate: text in plain ASCII notation (``[+-]digits[.digits][e[+-]digits]``: no
underscores, no other scripts' digits, no surrounding spaces), finite, below
``10**MAX_DECIMAL_MAGNITUDE`` in absolute value and with no digit finer than
``10**-MAX_DECIMAL_PLACES``, so that no later conversion can overflow the decimal context or
silently underflow to zero. (At the JSON boundaries floats are refused as well:
:data:`ramparts.validation.StrictDecimal`.)
"""

from __future__ import annotations

import math
import re
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
#: A user decimal is below ``10**MAX_DECIMAL_MAGNITUDE`` in absolute value (far above every limit
#: the engine applies later, which then words the refusal) ...
MAX_DECIMAL_MAGNITUDE = 40
#: ... and has no digit finer than ``10**-MAX_DECIMAL_PLACES``.
MAX_DECIMAL_PLACES = 60
#: The text of a decimal: ASCII digits, an optional sign, point and exponent (``str.isdigit`` and
#: :class:`~decimal.Decimal` would also take ``"1_000"``, ``"１２"`` or ``"٣"``).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def ceil_div(a: int, b: int) -> int:
    """Exact ceiling of ``a / b`` for ints (``b > 0``)."""
    return -((-a) // b)


def floor_div(a: int, b: int) -> int:
    """Exact floor of ``a / b`` for ints (``b > 0``)."""
    return a // b


def to_decimal(value: object, field: str) -> Decimal:
    """Parse a user value (str, int, Decimal; floats only if finite) into a bounded, finite ``Decimal``.

    Raises :class:`InvalidInput` naming ``field`` for NaN, infinities, booleans, junk, text outside
    the ASCII grammar of the module docstring and values beyond the bounds
    (:data:`MAX_DECIMAL_MAGNITUDE`, :data:`MAX_DECIMAL_PLACES`).
    """
    if isinstance(value, str):  # the common case first
        if len(value) > 200:
            raise InvalidInput(field, f"a number of {len(value)} characters is out of range")
        if not _DECIMAL_TEXT.fullmatch(value):
            if value.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
                raise InvalidInput(field, f"must be finite, got {value!r}")
            raise InvalidInput(field, f"not a number: {value[:40]!r} (ASCII digits, an optional sign, point and exponent)")
        try:
            d = Decimal(value)
        except (InvalidOperation, ValueError):  # an exponent beyond the decimal context's
            raise InvalidInput(field, f"{value[:40]!r} is out of range") from None
        if len(value) < MAX_DECIMAL_MAGNITUDE and "e" not in value and "E" not in value:
            return d  # too few digits to break a bound
    elif isinstance(value, bool):
        raise InvalidInput(field, f"expected a number, got {value!r}")
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        if abs(value) >= 10**MAX_DECIMAL_MAGNITUDE:
            raise InvalidInput(field, f"{str(value)[:40]}... is out of range (|value| must be below 1e{MAX_DECIMAL_MAGNITUDE})")
        d = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(field, f"must be finite, got {value!r}")
        d = Decimal(repr(value))
    else:
        raise InvalidInput(field, f"expected a number, got {type(value).__name__}")
    if not d.is_finite():
        raise InvalidInput(field, f"must be finite, got {value!r}")
    if d.adjusted() >= MAX_DECIMAL_MAGNITUDE:
        raise InvalidInput(field, f"{str(value)[:40]} is out of range (|value| must be below 1e{MAX_DECIMAL_MAGNITUDE})")
    if d.as_tuple().exponent < -MAX_DECIMAL_PLACES:
        raise InvalidInput(field, f"{str(value)[:40]} has more than {MAX_DECIMAL_PLACES} decimal places")
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
