"""Read-only views of a live engine's state: risk, the liquidation queue, funds, ADL, markets.

Pure functions of an :class:`~ramparts.engine.Engine` returning JSON-able dicts (money as decimal
strings in the settlement asset): the definition of what each read route answers. The service
itself answers from published views (:mod:`ramparts.service.readview`, whose functions give the
same answers from a frozen copy, off the writer thread); it calls only the O(instruments) ones
here (:func:`insurance_units`, :func:`breakers`) on the writer thread, when it takes a view. These
are for a caller that holds the engine (tests, notebooks, tools).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ramparts.engine.engine import Engine
from ramparts.liquidation.waterfall import adl_keys, adl_ranking

RATIO_BUCKETS = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9), (0.9, 1.0), (1.0, math.inf)]


def _amt(e: Engine, units: int) -> str:
    return str(e.settlement.amount(int(units)))


def _ratio(equity: int, mm: int) -> float | None:
    if mm == 0 or equity <= 0:
        return None
    return mm / equity


def _state(e: Engine, s: int, equity: int, mm: int) -> str:
    if equity < 0 or s in e.insolvent or (equity == 0 and mm > 0):
        return "bankrupt"
    if e.in_liquidation[s]:
        return "in_liquidation"
    if equity < mm or e.margin_called[s]:
        return "margin_called"
    return "healthy"


def _arrays(e: Engine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(e.subs)
    equity = e.equity_array()
    return equity, e.sub_mm[:n], ~e.is_system[:n]


def summary(e: Engine, s: int, equity: int | None = None, mm: int | None = None) -> dict[str, Any]:
    equity = e.equity(s) if equity is None else int(equity)
    mm = int(e.sub_mm[s]) if mm is None else int(mm)
    return {"subaccount": e.subs.name(s), "equity": _amt(e, equity), "maintenance_margin": _amt(e, mm),
            "margin_ratio": _ratio(equity, mm), "state": _state(e, s, equity, mm)}


def account_risk(e: Engine, subaccount: str) -> dict[str, Any]:
    """Equity, requirements, margin ratio, liquidation price, waterfall state and positions."""
    s = e.sub_index(subaccount)
    r = e.risk(s)
    b = e.book
    positions = []
    for instr_idx, slot in b.positions_of(s):
        instr = e.instruments[instr_idx]
        lots = int(b.lots[slot])
        if lots == 0:
            continue
        mark = e.markets[instr_idx].mark
        entry = int(b.entry[slot])
        positions.append({
            "instrument": instr.symbol,
            "size": str(instr.size(lots)),
            "entry_price": str(instr.price(abs(entry) // abs(lots))) if lots else None,
            "mark": str(instr.price(mark)),
            "notional": _amt(e, abs(lots * mark)),
            "unrealised_pnl": _amt(e, int(b.value[slot]) - int(b.cost[slot])),
            "initial_margin": _amt(e, int(b.im[slot])),
            "maintenance_margin": _amt(e, int(b.mm[slot])),
        })
    lp = e.liquidation_price(s)
    return {
        "subaccount": r.subaccount,
        "mode": e.subs[s].mode.value,
        "cash": _amt(e, r.cash),
        "equity": _amt(e, r.equity),
        "initial_margin": _amt(e, r.initial_margin),
        "maintenance_margin": _amt(e, r.maintenance_margin),
        "free_collateral": _amt(e, r.free_collateral),
        "margin_ratio": _ratio(r.equity, r.maintenance_margin),
        "liquidation_price": None if lp is None else str(lp),
        "state": _state(e, s, r.equity, r.maintenance_margin),
        "positions": positions,
    }


def accounts(e: Engine, owner: str | None = None) -> list[dict[str, Any]]:
    """Every (non-system) sub-account, or only ``owner``'s."""
    equity, mm, user = _arrays(e)
    out = []
    for s in np.nonzero(user)[0].tolist():
        if owner is not None and e.subs[s].id.account != owner:
            continue
        out.append(summary(e, s, equity[s], mm[s]))
    return out


def queue(e: Engine) -> list[dict[str, Any]]:
    """Sub-accounts in breach, in liquidation or bankrupt: bankrupt first, then by margin ratio."""
    if e.ledger is None:
        return []
    equity, mm, user = _arrays(e)
    n = len(e.subs)
    due = user & ((equity < mm) | e.in_liquidation[:n] | e.margin_called[:n] | (equity < 0))
    idx = np.nonzero(due)[0].tolist()
    rows = [summary(e, s, equity[s], mm[s]) for s in idx]
    rows.sort(key=lambda r: (r["state"] != "bankrupt", -(r["margin_ratio"] or 0.0), r["subaccount"]))
    return rows


def at_risk_counts(e: Engine) -> tuple[int, int]:
    """(sub-accounts in breach or liquidation, of which in liquidation)."""
    if e.ledger is None:
        return 0, 0
    equity, mm, user = _arrays(e)
    n = len(e.subs)
    liq = user & e.in_liquidation[:n]
    due = user & ((equity < mm) | liq | (equity < 0))
    return int(due.sum()), int(liq.sum())


def insurance(e: Engine) -> dict[str, Any]:
    if e.ledger is None:
        return {"asset": "", "funds": {}, "total": "0"}
    asset = e.settlement.symbol
    funds = {"global": 0}
    for instr in e.instruments:
        if instr.insurance_fund == "market":
            funds[instr.symbol] = 0
    for a, k, v in e.ledger.items():
        if a == asset and isinstance(k, str) and k.startswith("insurance:"):
            funds[k.split(":", 1)[1]] = v
    return {"asset": asset, "funds": {k: _amt(e, v) for k, v in funds.items()}, "total": _amt(e, sum(funds.values()))}


def insurance_units(e: Engine) -> dict[str, int]:
    if e.ledger is None:
        return {}
    asset = e.settlement.symbol
    out = {"global": e.ledger.balance(asset, "insurance:global")}
    for instr in e.instruments:
        if instr.insurance_fund == "market":
            out[instr.symbol] = e.ledger.balance(asset, f"insurance:{instr.symbol}")
    return out


def adl(e: Engine, symbol: str) -> dict[str, Any]:
    """Both sides of a market in the order the waterfall deleverages them (the venue's ``adl_rank``)."""
    instr = e.instrument(symbol)
    b = e.book
    h = b.holders(instr.index)
    h = h[~e.is_system[b.sub[h]]]
    out: dict[str, Any] = {"instrument": instr.symbol}
    for name, sign in (("longs", 1), ("shorts", -1)):
        opp = h[np.sign(b.lots[h]) == sign]
        subs = b.sub[opp].astype(np.int64)
        equity = e.equity_array(subs)
        lots, value, entry = b.lots[opp], b.value[opp], b.entry[opp]
        order = adl_ranking(lots, value, entry, equity, subs, e.liq.adl_rank)
        keys = adl_keys(lots, value, entry, equity, e.liq.adl_rank)
        out[name] = [adl_row(rank, str(e.subs[int(subs[i])].id), instr.size(int(lots[i])), int(value[i]), int(entry[i]),
                             int(equity[i]), float(keys[i])) for rank, i in enumerate(order.tolist(), start=1)]
    return out


def adl_row(rank: int, subaccount: str, size: Any, value: int, entry: int, equity: int, key: float) -> dict[str, Any]:
    """One row of an ADL ranking as the service shows it: profit % and effective leverage (display), and ``score``,
    the key the engine's ranking sorts by under the venue's ``adl_rank``
    (:func:`~ramparts.liquidation.waterfall.adl_keys`)."""
    profit = (value - entry) / abs(entry) if entry else 0.0
    lev = abs(value) / equity if equity > 0 else None
    return {"rank": rank, "subaccount": subaccount, "size": str(size), "profit_pct": profit * 100.0, "leverage": lev,
            "score": key}


def markets(e: Engine) -> list[dict[str, Any]]:
    out = []
    for instr in e.instruments:
        m = e.markets[instr.index]
        oi = e.open_interest(instr.symbol)
        out.append({
            "symbol": instr.symbol,
            "kind": instr.kind.value,
            "index_price": str(instr.price(m.index_price)) if m.index_price else None,
            "mark": str(instr.price(m.mark)) if m.mark else None,
            "open_interest": str(instr.size(oi)),
            "open_interest_notional": _amt(e, oi * m.mark),
            "holders": int(e.book.holders(instr.index).size),
            "settled": m.settled,
            "last_funding_rate_ppb": m.last_funding_rate_ppb,
        })
    return out


def breakers(e: Engine) -> dict[str, Any]:
    """Circuit-breaker states and the oracle gates of each aggregated market."""
    d = e.defences
    gates = {sym: {"valid": m.reading.valid if m.reading else None,
                   "blocked": sorted(m.decision.blocked) if m.decision else []} for sym, m in sorted(d.markets.items())}
    if d.breakers is None:
        return {"configured": False, "breakers": [], "gates": gates}
    rows = []
    for r in d.breakers.rules:
        st = d.breaker_state[r.name]
        rows.append({"name": r.name, "instrument": r.instrument, "layer": r.layer, "trigger": r.trigger, "tripped": st.tripped,
                     "pauses": sorted(r.pauses)})
    return {"configured": True, "breakers": rows, "gates": gates}


def ratio_histogram(e: Engine) -> dict[str, int]:
    """Sub-accounts by margin ratio bucket (maintenance / equity) among those holding a position,
    ``bankrupt`` for those with equity ≤ 0, and ``no positions`` for the accounts holding none."""
    hist = {f"{lo:g}-{hi:g}" if hi != math.inf else f">={lo:g}": 0 for lo, hi in RATIO_BUCKETS}
    hist["bankrupt"] = 0
    hist["no positions"] = 0
    if e.ledger is None:
        return hist
    equity, mm, user = _arrays(e)
    b = e.book
    slots = b.live_slots()
    held = np.zeros(len(e.subs), dtype=bool)
    held[b.sub[slots[b.lots[slots] != 0]]] = True
    sel = user & held
    eq, m = equity[sel], mm[sel]
    hist["bankrupt"] = int((eq <= 0).sum())
    pos = eq > 0
    ratio = m[pos] / eq[pos]
    for (lo, hi), key in zip(RATIO_BUCKETS, list(hist)[: len(RATIO_BUCKETS)], strict=True):
        hist[key] = int(((ratio >= lo) & (ratio < hi)).sum())
    hist["no positions"] = int((user & ~held).sum())
    return hist


def state(e: Engine) -> dict[str, Any]:
    return {"seq": e.seq, "time_ns": e.time_ns, "state_hash": e.state_hash()}
