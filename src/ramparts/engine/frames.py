"""Notebook views of an engine: its sub-accounts, positions and markets as pandas DataFrames.

This module owns the read-only tabular API behind :meth:`Engine.accounts`,
:meth:`Engine.positions`, :meth:`Engine.markets_frame`, :meth:`Engine.position_record` and
:meth:`Engine.effects_frame` (a list of effects, as :meth:`Engine.apply` returns them, as one table), and
:func:`as_arrow` (any of these frames as an Arrow table). It
never mutates the engine; every figure is read from the engine's own state (the per-sub-account
arrays ``sub_im`` / ``sub_mm``, :meth:`Engine.equity_array`, the
:class:`~ramparts.engine.positions.PositionBook`), so a frame agrees with :meth:`Engine.risk`,
:meth:`Engine.liquidation_price` and :meth:`Engine.position` exactly.

Unit conventions — each human column is a float64 for reading and plotting, and each exact figure
behind one is kept beside it as an int64 ``*_units`` (or ``lots`` / ``*_lot_price``) column:

* money: base units → human units by the asset's decimals, ``units / 10**decimals`` (the
  settlement asset for accounts, the instrument's quote asset for positions);
* sizes: lots → contracts by the instrument's size step (:meth:`Instrument.size`);
* prices: lot prices (quote base units per lot) → prices per underlying unit by
  :meth:`Instrument.price`.

The floats are the correctly rounded values of the exact figures; compute with the ``*_units``
columns when exactness matters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ramparts.engine.engine import Engine

ACCOUNT_COLUMNS = (
    "subaccount", "mode", "cash", "equity", "initial_margin", "maintenance_margin", "free_collateral",
    "margin_ratio", "liquidation_price", "in_liquidation", "n_positions",
    "cash_units", "equity_units", "initial_margin_units", "maintenance_margin_units", "free_collateral_units",
)
POSITION_COLUMNS = (
    "subaccount", "instrument", "size", "lots", "entry_price", "mark", "notional", "unrealised_pnl",
    "cost_units", "entry_units", "notional_units", "unrealised_pnl_units",
)
MARKET_COLUMNS = (
    "symbol", "kind", "index_price", "mark", "open_interest", "funding_rate",
    "index_lot_price", "mark_lot_price", "open_interest_lots", "funding_rate_ppb",
)


class Position(NamedTuple):
    """One position of a sub-account (zeros, and ``entry_price`` ``None``, when flat).

    ``cost_units`` is the variation-margin cost basis (reset to ``lots × mark`` whenever variation
    margin is realised), ``entry_units`` the signed entry notional at the average entry price;
    ``entry_price`` is ``entry_units / lots`` as a price (quote per underlying unit), exact.
    ``unrealised_pnl_units`` is ``lots × mark − cost``: what is not yet realised into cash.
    """

    lots: int
    size: Decimal
    cost_units: int
    entry_units: int
    entry_price: Decimal | None
    mark: Decimal
    notional_units: int
    unrealised_pnl_units: int


def _human(units: np.ndarray, decimals: int) -> np.ndarray:
    """Exact int64 base units → float64 human units (correctly rounded)."""
    return units.astype(np.float64) / float(10**decimals)


def _entry_price(instr, lots: int, entry: int) -> Decimal | None:
    return None if lots == 0 else Decimal(entry) / (Decimal(lots) * instr.price_factor)


def position_record(engine: Engine, subaccount: str | int, symbol: str) -> Position:
    """The :class:`Position` of ``subaccount`` in ``symbol``."""
    instr = engine.instrument(symbol)
    lots, cost, entry = engine.position(subaccount, symbol)
    mark_lot = engine.markets[instr.index].mark
    value = lots * mark_lot
    return Position(lots, instr.size(lots), cost, entry, _entry_price(instr, lots, entry), instr.price(mark_lot),
                    abs(value), value - cost)


def accounts(engine: Engine) -> pd.DataFrame:
    """One row per non-system sub-account, in sub-account order (see the module docstring)."""
    n = len(engine.subs)
    if engine.ledger is None or n == 0:
        return _empty(ACCOUNT_COLUMNS)
    subs = np.flatnonzero(~engine.is_system[:n])
    cash = np.asarray(engine.ledger.sub_cash[:n], dtype=np.int64)[subs]
    equity = np.asarray(engine.equity_array(), dtype=np.int64)[subs]
    im = engine.sub_im[:n][subs].astype(np.int64)
    mm = engine.sub_mm[:n][subs].astype(np.int64)
    free = np.maximum(equity - im, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mm == 0, np.nan, np.where(equity <= 0, np.inf, mm / np.where(equity <= 0, 1, equity)))
    n_pos = np.fromiter((engine.book.n_positions_of(int(s)) for s in subs), dtype=np.int64, count=subs.size)
    liq = np.full(subs.size, np.nan)
    for i in np.flatnonzero(n_pos == 1):  # the engine prices a single-position account only
        lp = engine.liquidation_price(int(subs[i]))
        if lp is not None:
            liq[i] = float(lp)
    d = engine.settlement.decimals
    return pd.DataFrame({
        "subaccount": [engine.subs.name(s) for s in subs],
        "mode": [engine.subs[s].mode.value for s in subs],
        "cash": _human(cash, d),
        "equity": _human(equity, d),
        "initial_margin": _human(im, d),
        "maintenance_margin": _human(mm, d),
        "free_collateral": _human(free, d),
        "margin_ratio": ratio.astype(np.float64),
        "liquidation_price": liq,
        "in_liquidation": engine.in_liquidation[:n][subs].astype(bool),
        "n_positions": n_pos,
        "cash_units": cash,
        "equity_units": equity,
        "initial_margin_units": im,
        "maintenance_margin_units": mm,
        "free_collateral_units": free,
    }, columns=list(ACCOUNT_COLUMNS))


def positions(engine: Engine) -> pd.DataFrame:
    """One row per open position, by instrument then sub-account (system accounts included: the
    backstop vault's positions are open interest too)."""
    parts = []
    b = engine.book
    for i in b.instruments_held():
        h = b.holders(i)
        h = h[b.lots[h] != 0]
        if not h.size:
            continue
        instr = engine.instruments[i]
        d = instr.quote.decimals
        lots = b.lots[h].astype(np.int64)
        cost = b.cost[h].astype(np.int64)
        entry = b.entry[h].astype(np.int64)
        mark_lot = engine.markets[i].mark
        value = lots * mark_lot  # int64: the engine bounds |lots| × mark by MAX_NOTIONAL
        parts.append(pd.DataFrame({
            "subaccount": [engine.subs.name(s) for s in b.sub[h]],
            "instrument": instr.symbol,
            "size": [float(instr.size(int(x))) for x in lots],
            "lots": lots,
            "entry_price": [float(_entry_price(instr, int(x), int(y))) for x, y in zip(lots, entry, strict=True)],
            "mark": float(instr.price(mark_lot)),
            "notional": _human(np.abs(value), d),
            "unrealised_pnl": _human(value - cost, d),
            "cost_units": cost,
            "entry_units": entry,
            "notional_units": np.abs(value),
            "unrealised_pnl_units": value - cost,
        }, columns=list(POSITION_COLUMNS)))
    if not parts:
        return _empty(POSITION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def markets(engine: Engine) -> pd.DataFrame:
    """One row per listed instrument, in listing order. ``funding_rate`` is the last funding
    tick's rate per interval (a fraction; NaN for instruments without funding)."""
    rows = []
    for instr, m in zip(engine.instruments, engine.markets, strict=True):
        perp = instr.kind.value == "perpetual"
        oi = engine.open_interest(instr.symbol)
        rows.append({
            "symbol": instr.symbol,
            "kind": instr.kind.value,
            "index_price": float(instr.price(m.index_price)),
            "mark": float(instr.price(m.mark)),
            "open_interest": float(instr.size(oi)),
            "funding_rate": m.last_funding_rate_ppb / 1e9 if perp else np.nan,
            "index_lot_price": m.index_price,
            "mark_lot_price": m.mark,
            "open_interest_lots": oi,
            "funding_rate_ppb": m.last_funding_rate_ppb,
        })
    if not rows:
        return _empty(MARKET_COLUMNS)
    return pd.DataFrame(rows, columns=list(MARKET_COLUMNS))


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    """No rows, the same columns and dtypes as a non-empty frame."""

    def dtype(c: str) -> str:
        if c in ("subaccount", "mode", "instrument", "symbol", "kind"):
            return "object"
        if c == "in_liquidation":
            return "bool"
        if c.endswith(("_units", "_lot_price", "_lots", "_ppb")) or c in ("lots", "n_positions"):
            return "int64"
        return "float64"

    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in columns})


#: Effect fields that are amounts of the settlement asset in base units (shown in human units, kept in ``*_units``).
EFFECT_MONEY = ("amount", "deficit", "quote", "notional", "penalty", "to_liquidator", "to_insurance", "insurance_paid", "loss",
                "charged", "margin_to_vault", "equity", "maintenance_margin", "initial_margin", "counterparty_pnl",
                "counterparty_notional", "counterparty_equity", "payment", "fee", "margin_freed")


def effects(engine: Engine, fx: list[dict]) -> pd.DataFrame:
    """Effects as one table: a row per effect, ``kind`` first, every field a column (absent: missing).

    Money fields (:data:`EFFECT_MONEY`, integers of the settlement asset's base units) are shown in human units,
    their exact integers beside them as ``*_units`` (nullable ``Int64``: missing where an effect has no such field);
    nested values (lists, dicts) are kept as they are.
    """
    d = engine.settlement.decimals
    rows = []
    for f in fx:
        row = dict(f)
        for k in EFFECT_MONEY:
            v = row.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                row[f"{k}_units"] = v
                row[k] = v / 10**d
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame({"kind": pd.Series(dtype="object")})
    for c in [c for c in frame.columns if c.endswith("_units")]:  # exact: nullable int64, never through a float
        frame[c] = pd.array([r.get(c) for r in rows], dtype="Int64")
    first = ["kind", *[c for c in ("item", "subaccount", "instrument") if c in frame.columns]]
    return frame[first + [c for c in frame.columns if c not in first]]


def as_arrow(frame: pd.DataFrame):
    """A frame of this module as a :class:`pyarrow.Table` (the exact ``*_units`` columns stay int64)."""
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)
