"""Liquidation and bankruptcy prices: the lot prices at which a position's account reaches its
maintenance margin, or zero equity, with everything else held fixed.

This module owns :func:`liquidation_price` and :func:`bankruptcy_price`. Both are exact integer
computations in the units of :mod:`ramparts.fixedpoint` (lots, lot prices, quote base units) and
both round towards the trader's safe side: the reported price is the last price at which the
account is still safe, so a long is warned *no lower* and a short *no higher* than the exact
solution.

Notation
--------
For ``lots`` (signed, long > 0) with signed cost basis ``cost`` (``Σ lots·fill price`` over the
fills, so unrealised PnL at lot price ``P`` is ``lots·P − cost``)::

    equity(P)      = collateral + other_upnl + lots·P − cost
    requirement(P) = MM(|lots|·P, size) + other_maintenance

where ``MM`` is the schedule's maintenance margin (:mod:`ramparts.margin.schedule`) and
``size = |lots| × lot_underlying``. The account is *safe* at ``P`` when ``equity(P) ≥ requirement(P)``
and liquidatable when ``equity(P) < requirement(P)`` (the engine's trigger).

How the price is solved
-----------------------
Binance solves ``LP = (WB − TMM1 + UPNL1 + cum − side·|Q|·EP) / (|Q|·MMR − side·|Q|)`` bracket by
bracket, recomputing when the solution falls outside the bracket whose ``MMR`` and ``cum`` it used.
The same answer comes without a search: the scaled requirement ``N·mmr_k − C_k`` of the bracket
holding ``N`` is the upper envelope ``max_j (N·mmr_j − C_j)`` over *all* brackets ``j`` (it is
convex and the brackets' lines meet at the floors), and the size premium adds one more line
``N·r(size)`` through the origin (its rate does not depend on the price). Because equity is an
int, ``equity ≥ ⌈G/10^6⌉ ⇔ 10^6·equity ≥ G``, so the account is safe at ``P`` exactly when, for
every line ``j`` (``A = collateral + other_upnl − cost − other_maintenance``, ``Q = |lots|``),

* long:  ``10^6·A + C_j + Q·P·(10^6 − mmr_j) ≥ 0``, i.e. ``P ≥ ⌈−(10^6·A + C_j) / (Q·(10^6 − mmr_j))⌉``;
* short: ``10^6·A + C_j − Q·P·(10^6 + mmr_j) ≥ 0``, i.e. ``P ≤ ⌊(10^6·A + C_j) / (Q·(10^6 + mmr_j))⌋``.

Each bound is Binance's per-bracket formula for bracket ``j`` (rounded to the safe side); the
binding one is the largest (long) or smallest (short), which is the one whose bracket holds the
solution. The result is therefore exact, also with the size premium, and needs no bisection.
"""

from __future__ import annotations

import numbers
from decimal import Decimal
from typing import Any

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM, ceil_div, check_int64, floor_div, to_decimal
from ramparts.margin.schedule import MarginSchedule


def _checked(value: Any, field: str) -> int:
    """``value`` as a plain int within int64 (numpy ints accepted; bools, floats, junk refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(field, f"expected an int, got {type(value).__name__} {value!r}")
    return check_int64(int(value), field)


def _lines(schedule: MarginSchedule, size_underlying: float) -> list[tuple[int, int]]:
    """The (rate_ppm, scaled amount) lines whose upper envelope is the scaled maintenance requirement."""
    lines = [(t.maintenance_rate_ppm, c) for t, c in zip(schedule.tiers, schedule.mm_cum_scaled, strict=True)]
    premium = schedule.size_premium_rate_ppm(size_underlying)
    if premium:
        lines.append((premium, 0))
    return lines


def liquidation_price(
    lots: int,
    cost: int,
    collateral: int,
    schedule: MarginSchedule,
    lot_underlying: Decimal,
    other_maintenance: int = 0,
    other_upnl: int = 0,
) -> int | None:
    """The lot price at which the account's equity meets its maintenance margin.

    Parameters
    ----------
    lots : int
        Signed position, lots (long > 0).
    cost : int
        Signed cost basis, quote base units: unrealised PnL at lot price ``P`` is ``lots·P − cost``.
    collateral : int
        Cash balance plus everything else counted as equity that does not depend on this position's
        price, quote base units (an isolated position's margin; a cross account's cash).
    schedule : MarginSchedule
        The instrument's margin schedule.
    lot_underlying : Decimal
        Units of the underlying in one lot (for the size premium), ``> 0``.
    other_maintenance : int, default 0
        Maintenance margin of the account's other positions (Binance's ``TMM1``), ``≥ 0``.
    other_upnl : int, default 0
        Unrealised PnL of the account's other positions (Binance's ``UPNL1``).

    Returns
    -------
    int or None
        Long: the lowest lot price at which the account is safe (``equity ≥ maintenance``); one
        unit lower it is liquidatable. Short: the highest lot price at which it is safe; one unit
        higher it is liquidatable. ``None`` when ``lots == 0``, when no positive price liquidates
        the account (long safe even at price 0), when every positive price does (short unsafe at
        price 1), or for a long that no price can make safe (a bracket with a 100 % maintenance
        rate that the equity cannot cover).

    Raises
    ------
    InvalidInput
        Non-int amounts or lots, a negative ``other_maintenance``, a non-positive
        ``lot_underlying``, or an argument that is not a :class:`MarginSchedule`.

    Notes
    -----
    The size premium's size is ``float(|lots|) × float(lot_underlying)``, the same float the margin
    model (:class:`~ramparts.margin.models.TieredMarginModel`) feeds the schedule, so the price
    agrees with the engine's trigger to the unit. The price may exceed the notional limit's
    ``MAX_NOTIONAL // |lots|`` (the solution of the same formulas, beyond the range the engine
    accepts).

    Examples
    --------
    A 10× long of 1 lot at 100,000 with a flat 5 % maintenance rate and 10,000 of margin is
    liquidated when ``10,000 + P − 100,000 < 0.05·P``, i.e. below ``P = 90,000 / 0.95 = 94,736.8…``:

    >>> s = MarginSchedule.flat("0.1", "0.05")
    >>> liquidation_price(1, 100_000, 10_000, s, Decimal("0.001"))
    94737
    """
    if not isinstance(schedule, MarginSchedule):
        raise InvalidInput("schedule", f"expected a MarginSchedule, got {type(schedule).__name__}")
    lots = _checked(lots, "lots")
    cost = _checked(cost, "cost")
    collateral = _checked(collateral, "collateral")
    other_mm = _checked(other_maintenance, "other_maintenance")
    other_upnl = _checked(other_upnl, "other_upnl")
    if other_mm < 0:
        raise InvalidInput("other_maintenance", f"must be non-negative, got {other_mm}")
    lu = to_decimal(lot_underlying, "lot_underlying")
    if lu <= 0:
        raise InvalidInput("lot_underlying", f"must be positive, got {lot_underlying}")
    if lots == 0:
        return None
    q = abs(lots)
    size = float(q) * float(lu) if schedule.size_premium_ppm else 0.0
    a = PPM * (collateral + other_upnl - cost - other_mm)
    lines = _lines(schedule, size)
    if lots > 0:
        bound = 0
        for rate, cum in lines:
            if rate == PPM:
                if a + cum < 0:
                    return None  # this line never lets the equity catch up: unsafe at every price
                continue
            bound = max(bound, ceil_div(-(a + cum), q * (PPM - rate)))
        return bound if bound > 0 else None
    price = min(floor_div(a + cum, q * (PPM + rate)) for rate, cum in lines)
    return price if price > 0 else None


def bankruptcy_price(lots: int, cost: int, collateral: int) -> int | None:
    """The lot price at which the account's equity is zero, rounded to the trader's safe side.

    Parameters
    ----------
    lots : int
        Signed position, lots (long > 0).
    cost : int
        Signed cost basis, quote base units (unrealised PnL = ``lots·P − cost``).
    collateral : int
        Everything counted as equity that does not depend on this position's price (fold the
        other positions' unrealised PnL in here for a cross account).

    Returns
    -------
    int or None
        Long: ``⌈(cost − collateral)/lots⌉``, the lowest lot price with ``equity ≥ 0``. Short:
        ``⌊(collateral − cost)/|lots|⌋``, the highest. ``None`` when ``lots == 0`` or when the
        price is not positive (a long that cannot go bankrupt, a short that already is at every
        positive price).

    Raises
    ------
    InvalidInput
        Non-int or overflowing arguments.

    Examples
    --------
    >>> bankruptcy_price(1, 100_000, 10_000), bankruptcy_price(-3, -300_000, 10_000)
    (90000, 103333)
    """
    lots = _checked(lots, "lots")
    cost = _checked(cost, "cost")
    collateral = _checked(collateral, "collateral")
    if lots == 0:
        return None
    if lots > 0:
        price = ceil_div(cost - collateral, lots)
    else:
        price = floor_div(collateral - cost, -lots)
    return price if price > 0 else None


__all__ = ["bankruptcy_price", "liquidation_price"]
