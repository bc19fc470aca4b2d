"""Binance USDⓈ-M futures (one-way mode): leverage brackets, maintenance margin and liquidation price.

Source: ``ramparts/reference/cex-and-clearinghouses.md`` (Binance USD-M futures), which records
Binance's published formulas:

* maintenance margin of a position = notional × MMR(bracket) − maintenance amount(bracket), with
  the maintenance amount on level n = floor of bracket n × (MMR_n − MMR_{n−1}) + amount on level
  n−1, so the requirement is continuous in notional (worked example, COIN-M BTCUSD: level 5 =
  50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC);
* liquidation price (cross; isolated: WB = the position's isolated wallet, TMM1 = UPNL1 = 0):
  ``LP = (WB − TMM1 + UPNL1 + cum − side·|Q|·EP) / (|Q|·MMR − side·|Q|)``, side = +1 long, −1 short,
  with cum and MMR those of the bracket *at the liquidation price*; a negative result means none.

Units: the quote asset (USDT) as :class:`~decimal.Decimal`, exact; rates as decimals. The bracket
table :data:`BTCUSDT_BRACKETS` is Binance's BTCUSDT table (notional floors, maximum leverage,
MMR) as published on its leverage-and-margin page in 2023; its maintenance amounts are derived by
the recurrence above, and agree with the published column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from ramparts.errors import InvalidInput

__all__ = ["BTCUSDT_BRACKETS", "Bracket", "bracket_for", "brackets_from", "liquidation_price", "maintenance_margin", "next_maintenance_amount"]


@dataclass(frozen=True)
class Bracket:
    """One leverage bracket: notional floor (quote), maximum leverage, MMR, maintenance amount (quote)."""

    floor: Decimal
    max_leverage: int
    mmr: Decimal
    cum: Decimal

    @property
    def initial_rate(self) -> Decimal:
        return Decimal(1) / Decimal(self.max_leverage)


def next_maintenance_amount(floor: Decimal, mmr: Decimal, prev_mmr: Decimal, prev_cum: Decimal) -> Decimal:
    """The maintenance amount of a bracket: ``floor × (MMR_n − MMR_{n−1}) + cum_{n−1}``."""
    return Decimal(floor) * (Decimal(mmr) - Decimal(prev_mmr)) + Decimal(prev_cum)


def brackets_from(rows: list[tuple[str, int, str]]) -> tuple[Bracket, ...]:
    """Brackets from ``(notional floor, max leverage, MMR)`` rows, maintenance amounts derived."""
    out: list[Bracket] = []
    prev_mmr, prev_cum = Decimal(0), Decimal(0)
    for floor, lev, mmr in rows:
        f, m = Decimal(floor), Decimal(mmr)
        if out and (f <= out[-1].floor or m < prev_mmr):
            raise InvalidInput("brackets", "floors must increase and MMRs must not decrease")
        cum = next_maintenance_amount(f, m, prev_mmr, prev_cum) if out else Decimal(0)
        out.append(Bracket(f, int(lev), m, cum))
        prev_mmr, prev_cum = m, cum
    return tuple(out)


#: BTCUSDT USDⓈ-M brackets: (notional floor USDT, max leverage, maintenance margin rate).
BTCUSDT_BRACKETS = brackets_from([
    ("0", 125, "0.004"),
    ("50000", 100, "0.005"),
    ("500000", 50, "0.01"),
    ("8000000", 20, "0.025"),
    ("50000000", 10, "0.05"),
    ("80000000", 5, "0.1"),
    ("100000000", 4, "0.125"),
    ("200000000", 3, "0.15"),
    ("300000000", 2, "0.25"),
    ("500000000", 1, "0.5"),
])


def bracket_for(brackets: tuple[Bracket, ...], notional: Decimal) -> Bracket:
    """The bracket whose ``[floor, next floor)`` holds ``notional``."""
    n = Decimal(notional)
    if n < 0:
        raise InvalidInput("notional", f"must be non-negative, got {n}")
    chosen = brackets[0]
    for b in brackets:
        if n >= b.floor:
            chosen = b
    return chosen


def maintenance_margin(brackets: tuple[Bracket, ...], notional: Decimal) -> Decimal:
    """``notional × MMR − cum`` of the notional's bracket (quote units, exact)."""
    b = bracket_for(brackets, notional)
    return Decimal(notional) * b.mmr - b.cum


def liquidation_price(
    brackets: tuple[Bracket, ...],
    *,
    wallet_balance: Decimal,
    quantity: Decimal,
    entry_price: Decimal,
    other_maintenance: Decimal = Decimal(0),
    other_upnl: Decimal = Decimal(0),
) -> Decimal | None:
    """Binance's liquidation price of a one-way position; ``None`` when the formula gives none.

    ``quantity`` is signed (long > 0). Tries each bracket and keeps the one whose notional at the
    resulting price lies in it (the bracket *at the liquidation price*), as the formula requires.
    """
    q = Decimal(quantity)
    if q == 0:
        raise InvalidInput("quantity", "a liquidation price needs a position")
    side = 1 if q > 0 else -1
    size = abs(q)
    with localcontext() as ctx:
        ctx.prec = 50
        for i, b in enumerate(brackets):
            denom = size * b.mmr - side * size
            if denom == 0:
                continue
            lp = (Decimal(wallet_balance) - Decimal(other_maintenance) + Decimal(other_upnl) + b.cum - side * size * Decimal(entry_price)) / denom
            if lp <= 0:
                continue
            notional = size * lp
            upper = brackets[i + 1].floor if i + 1 < len(brackets) else None
            if notional >= b.floor and (upper is None or notional < upper):
                return +lp
    return None
