"""Assets: a symbol and the number of decimals of its integer base unit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import from_units, to_units

_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}\Z")  # \Z, not "$": "$" also matches before a trailing newline


def check_symbol(symbol: object, field: str) -> str:
    """Symbols are 1–32 upper-case letters, digits, ``.``, ``_`` or ``-``."""
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise InvalidInput(field, f"invalid symbol {symbol!r} (upper-case letters, digits, . _ -)")
    return symbol


@dataclass(frozen=True, slots=True)
class Asset:
    """A ledger asset, e.g. ``Asset("USDC", 6)``: amounts are ints of ``10**-decimals``."""

    symbol: str
    decimals: int

    def __post_init__(self) -> None:
        check_symbol(self.symbol, "asset.symbol")
        if not isinstance(self.decimals, int) or isinstance(self.decimals, bool) or not 0 <= self.decimals <= 18:
            raise InvalidInput("asset.decimals", f"must be an int in [0, 18], got {self.decimals!r}")

    def units(self, amount: object, field: str = "amount") -> int:
        """A decimal amount to exact base units (an error if finer than one unit)."""
        return to_units(amount, self.decimals, field, exact=True)

    def amount(self, units: int) -> Decimal:
        """Base units back to a decimal amount."""
        return from_units(units, self.decimals)

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "decimals": self.decimals}
