"""Strict validation of the integers, ppm rates, lot prices, names and objects that configuration
and events carry: one place for the checks every module needs, each raising
:class:`~ramparts.errors.InvalidInput` with the offending field named.

``strict_int`` accepts Python ints and integral :class:`~decimal.Decimal` values only (never a
bool, a float or a fractional decimal), within optional bounds; the other helpers build on it.

``decimal`` is the rule for a decimal that arrives from outside (an event, a request body): a
string in plain ASCII notation, an int or a :class:`~decimal.Decimal`, bounded
(:func:`ramparts.fixedpoint.to_decimal` holds the grammar and the bounds), and never a float: a JSON
number with a fraction or an exponent is already inexact by the time it is parsed.
:data:`StrictDecimal` is the same rule as a pydantic type, for the decimal fields of the events
(:mod:`ramparts.engine.events`) and of the service's request bodies (:mod:`ramparts.service.models`).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM, to_decimal

#: Largest lot price / quote-unit price accepted by the validators.
MAX_PRICE = 10**24

__all__ = ["MAX_PRICE", "StrictDecimal", "check_keys", "decimal", "name", "opt_ppm", "opt_price", "ppm", "price", "strict_int"]


def all_valid_unicode(value: Any) -> bool:
    """Whether every string (and dict key) inside a JSON value is valid Unicode: JSON's ``\\ud800`` escapes can spell
    a lone surrogate, which UTF-8 cannot carry (the journal could not read it back, no answer could show it)."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(v, dict):
            todo.extend(v.keys())
            todo.extend(v.values())
        elif isinstance(v, list):
            todo.extend(v)
    return True


def strict_int(value: Any, field: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An int (or integral Decimal) within ``[lo, hi]``; anything else raises InvalidInput."""
    if isinstance(value, bool):
        raise InvalidInput(field, f"expected an int, got {value!r}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInput(field, f"must be finite, got {value!r}")
        if value != value.to_integral_value():
            raise InvalidInput(field, f"expected an integer, got the fractional {value}")
        v = int(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(field, f"must be a finite int, got {value!r}")
        raise InvalidInput(field, f"expected an int, got the float {value!r}")
    else:
        raise InvalidInput(field, f"expected an int, got {type(value).__name__} {value!r}")
    if lo is not None and v < lo:
        raise InvalidInput(field, f"must be ≥ {lo}, got {v}")
    if hi is not None and v > hi:
        raise InvalidInput(field, f"must be ≤ {hi}, got {v}")
    return v


def price(value: Any, field: str) -> int:
    """A positive lot price."""
    v = strict_int(value, field)
    if v <= 0:
        raise InvalidInput(field, f"must be positive, got {v}")
    if v > MAX_PRICE:
        raise InvalidInput(field, f"{v} exceeds the price limit {MAX_PRICE}")
    return v


def opt_price(value: Any, field: str) -> int | None:
    return None if value is None else price(value, field)


def name(value: Any, field: str) -> str:
    """A non-empty name of at most 128 characters without surrounding spaces."""
    if not isinstance(value, str) or not value or len(value) > 128 or value != value.strip():
        raise InvalidInput(field, f"expected a non-empty name (≤ 128 chars, no surrounding spaces), got {value!r}")
    return value


def ppm(value: Any, field: str, *, hi: int = PPM) -> int:
    """A rate in parts per million, ``0 ≤ value ≤ hi``."""
    return strict_int(value, field, lo=0, hi=hi)


def opt_ppm(value: Any, field: str, *, hi: int = PPM) -> int | None:
    return None if value is None else ppm(value, field, hi=hi)


def check_keys(d: Any, field: str, required: Iterable[str], optional: Iterable[str] = ()) -> None:
    """``d`` is a mapping with every ``required`` key and no key outside ``required`` ∪ ``optional``."""
    if not isinstance(d, Mapping):
        raise InvalidInput(field, f"expected an object, got {type(d).__name__}")
    req, opt = set(required), set(optional)
    extra = set(d) - req - opt
    if extra:
        raise InvalidInput(field, f"unknown keys {sorted(map(str, extra))}")
    missing = sorted(req - set(d))
    if missing:
        raise InvalidInput(f"{field}.{missing[0]}", "missing")


def decimal(value: Any, field: str) -> Decimal:
    """A decimal from outside: ASCII text, an int or a Decimal within the bounds of
    :func:`~ramparts.fixedpoint.to_decimal`; a float (a JSON number with a fraction) is refused."""
    if isinstance(value, float):
        raise InvalidInput(field, f"send the decimal {value!r} as a string (\"{value!r}\"): a JSON float is inexact")
    return to_decimal(value, field)


def _strict_decimal(value: Any) -> Decimal:
    try:
        return decimal(value, "value")
    except InvalidInput as exc:
        raise PydanticCustomError("decimal", exc.message) from None


#: A decimal field of an event or a request body (:func:`decimal`); serialised as its string.
StrictDecimal = Annotated[
    Decimal,
    BeforeValidator(_strict_decimal),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"},
                              {"type": "integer"}], "description": "a decimal: a string of ASCII digits (or an integer), never a float"}),
]
