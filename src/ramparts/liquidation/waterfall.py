"""The liquidation waterfall, run by each :class:`~ramparts.engine.events.Tick`.

Layer by layer, each stage configured by :class:`~ramparts.liquidation.config.LiquidationConfig`:

a. **Trigger and target.** A sub-account whose equity falls below its maintenance margin enters
   liquidation (a ``MarginCall``); it stays in liquidation until its equity is at least
   maintenance × (1 + buffer), not merely back at maintenance.
b. **Gradual steps.** One step per sub-account per tick, separated by the cool-down; a step closes
   part of the position with the largest maintenance margin: the smallest size that restores the
   buffer, but at most ``max_fraction`` of the position, at least ``min_step_notional``, and the
   whole position when it is small.
c. **Pricing** is a strategy (:mod:`ramparts.liquidation.pricing`); the fixed penalty closes at the
   mark against the backstop vault and charges the penalty on the closed notional.
d. **Penalty split** between the liquidator (keeper) and the insurance fund, never more than the
   account's remaining equity. The **bankruptcy price** of every close is computed explicitly
   (dYdX v4's form: the account's equity allocated to the closed part by its share of the
   maintenance margin) and reported.
e. **Insurance fund.** A bankrupt account (equity ≤ 0 at the mark) first has its non-settlement
   collateral seized into the backstop vault, which pays its haircut value (price × (1 − haircut),
   rounded down, exactly what it counted in equity) in settlement cash (``CollateralSeized``);
   it is then closed at the mark and the fund pays the deficit: the market's own fund first, then the global fund, at most
   ``insurance_cap_per_tick`` per market per tick.
f. **Auto-deleveraging**, when the funds cannot cover the deficit: the bankrupt positions are
   closed against opposite positions ranked by profit % × effective leverage (highest first,
   :func:`adl_ranking`), at the bankrupt account's bankruptcy price.
g. **Socialised loss**, the configurable alternative to ADL: the funds pay what they can and the
   rest is charged pro rata over the opposite side's open interest; whatever cannot be charged
   stays as a negative balance of ``socialised_loss``, the explicit record of bad debt.
   Withdrawals are gated while any sub-account has negative equity (see the engine).

Every step is an effect in the journal: ``MarginCall``, ``LiquidationStep``, ``LiquidationEnded``,
``InsuranceFundDraw``, ``Deleverage``, ``SocialisedLoss``, ``BadDebt``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from ramparts.fixedpoint import PPM, ceil_div
from ramparts.liquidation.allocation import allocate_pro_rata
from ramparts.liquidation.config import LastResort
from ramparts.liquidation.pricing import FixedPenaltyPricing

if TYPE_CHECKING:
    from ramparts.domain.instruments import Instrument
    from ramparts.engine.engine import Engine


#: How many rounds of same-tick bankruptcy resolution a tick runs (each round can only be caused by
#: the previous one's deleveraging, so this bounds a cascade, not normal work).
MAX_CASCADE_ROUNDS = 16


def adl_ranking(lots: np.ndarray, value: np.ndarray, entry: np.ndarray, equity: np.ndarray, subs: np.ndarray) -> np.ndarray:
    """Order (indices into the arrays) in which opposite positions are deleveraged.

    Score = profit % × effective leverage, highest first (Binance's and Hyperliquid's ranking):
    profit % = (value − entry notional) / |entry notional| and effective leverage =
    |value| / equity (an account with equity ≤ 0 counts as infinitely levered but its profit % is
    what it is). Ties go to the lower sub-account index, so the order is deterministic.
    """
    value_f = value.astype(np.float64)
    entry_f = entry.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        profit = np.where(entry_f != 0, (value_f - entry_f) / np.abs(entry_f), 0.0)
        leverage = np.where(equity > 0, np.abs(value_f) / np.maximum(equity, 1).astype(np.float64), np.inf)
        score = profit * leverage
    score = np.nan_to_num(score, nan=0.0, posinf=np.finfo(np.float64).max, neginf=-np.finfo(np.float64).max)
    return np.lexsort((subs, -score))


def run_waterfall(engine: Engine, ts: int, liquidator: str) -> list[dict]:
    """Run one tick of the waterfall over every sub-account in breach; returns the effects."""
    e = engine
    cfg = e.liq
    n = len(e.subs)
    if e.global_draws_ts != ts:
        e.global_draws, e.global_draws_ts = {}, ts
    if n == 0:
        return []
    equity = e.equity_array()
    paused = e.liquidation_paused()  # markets whose oracle gate or circuit breaker blocks liquidation
    due = ((equity < e.sub_mm[:n]) | e.in_liquidation[:n] | (equity < 0)) & ~e.is_system[:n] & ~paused
    effects: list[dict] = []
    for s in np.nonzero(due)[0].tolist():
        last = e.last_step_ns.get(s)
        if last is not None and ts - last < cfg.cooldown_ns and equity[s] >= 0:
            continue  # the cool-down never delays resolving a bankrupt account
        effects.extend(_step(e, s, ts, liquidator))
    # deleveraging or socialised charges can leave a counterparty bankrupt: resolve it in the same tick
    for _ in range(MAX_CASCADE_ROUNDS):
        equity = e.equity_array()
        bankrupt = np.nonzero((equity < 0) & ~e.is_system[:n] & ~paused)[0].tolist()
        if not bankrupt:
            break
        for s in bankrupt:
            effects.extend(_step(e, s, ts, liquidator))
    return effects


def _end(e: Engine, s: int) -> dict:
    e.in_liquidation[s] = False
    e.margin_called[s] = False
    e.last_step_ns.pop(s, None)
    return {"kind": "LiquidationEnded", "subaccount": str(e.subs[s].id), "equity": e.equity(s), "maintenance": int(e.sub_mm[s])}


def _target(e: Engine, mm: int) -> int:
    return mm + ceil_div(mm * e.liq.buffer_ppm, PPM)


def _price_str(instr: Instrument, quote: int, lots: int) -> str:
    """A decimal price from a total quote over lots (for reports; money never uses it)."""
    if lots == 0:
        return "0"
    return str((Decimal(abs(quote)) / abs(lots) / instr.price_factor).quantize(Decimal("1e-8")))


def _step(e: Engine, s: int, ts: int, liquidator: str) -> list[dict]:
    cfg = e.liq
    e._realise(s)
    equity = e.equity(s)
    mm = int(e.sub_mm[s])
    effects: list[dict] = []
    if equity < 0 or (equity == 0 and mm > 0):
        return _bankrupt(e, s, ts)
    if e.in_liquidation[s] and (equity >= _target(e, mm) or mm == 0):
        return [_end(e, s)]
    if not e.in_liquidation[s]:
        if equity >= mm:
            return []
        e.in_liquidation[s] = True
        if not e.margin_called[s]:
            e.margin_called[s] = True
            effects.append({"kind": "MarginCall", "subaccount": str(e.subs[s].id), "equity": equity, "maintenance": mm})

    b = e.book
    instr_idx, slot = e.liquidation_choice(s)
    instr = e.instruments[instr_idx]
    mark = e.markets[instr_idx].mark
    lots = int(b.lots[slot])
    abs_lots = abs(lots)
    side = 1 if lots > 0 else -1
    pricing = FixedPenaltyPricing(cfg.penalty_ppm)

    def shortfall(qty: int) -> int:
        """Equity after closing ``qty`` lots minus the buffered target (≥ 0: target met)."""
        delta = -side * qty
        penalty = min(pricing.quote(delta, mark).penalty, max(equity, 0))
        return (equity - penalty) - _target(e, e.maintenance_after(s, instr, lots + delta))

    min_lots = max(ceil_div(cfg.min_step_notional, mark), 1)
    if abs_lots * mark <= cfg.full_close_notional:
        qty = abs_lots
    else:
        cap = min(max(ceil_div(abs_lots * cfg.max_fraction_ppm, PPM), min_lots), abs_lots)
        if shortfall(cap) < 0:
            qty = cap
        else:
            lo, hi = 1, cap
            while lo < hi:
                mid = (lo + hi) // 2
                if shortfall(mid) >= 0:
                    hi = mid
                else:
                    lo = mid + 1
            qty = min(max(lo, min_lots), abs_lots)
        if (abs_lots - qty) * mark < cfg.min_step_notional:
            qty = abs_lots

    delta = -side * qty
    quote = pricing.quote(delta, mark)
    mm_released = mm - e.maintenance_after(s, instr, lots + delta)
    # bankruptcy quote of the closed part (dYdX v4): the account's equity allocated by its MM share
    bankrupt_quote = delta * mark + (equity * mm_released // mm if mm else 0)
    e._trade(s, instr, delta, quote.quote)
    e._trade(e.backstop, instr, -delta, -quote.quote)
    e._realise(s)
    e._realise(e.backstop)
    penalty = min(quote.penalty, max(equity, 0))
    to_liquidator = penalty * cfg.liquidator_share_ppm // PPM
    to_fund = penalty - to_liquidator
    asset = e.settlement.symbol
    e.ledger.transfer(asset, s, f"liquidator:{liquidator}", to_liquidator)
    e.ledger.transfer(asset, s, e.insurance_key(instr), to_fund)
    e.last_step_ns[s] = ts
    effects.append(
        {
            "kind": "LiquidationStep",
            "subaccount": str(e.subs[s].id),
            "instrument": instr.symbol,
            "lots": delta,
            "price": _price_str(instr, quote.quote, delta),
            "notional": abs(quote.quote),
            "penalty": penalty,
            "to_liquidator": to_liquidator,
            "to_insurance": to_fund,
            "liquidator": liquidator,
            "bankruptcy_price": _price_str(instr, bankrupt_quote, delta),
            "equity_before": equity,
            "maintenance_before": mm,
        }
    )
    if not b.n_positions_of(s) or e.equity(s) >= _target(e, int(e.sub_mm[s])):
        effects.append(_end(e, s))
    return effects


def _fund_plan(e: Engine, parts: list[tuple[Instrument, int]]) -> tuple[list[tuple[Instrument, str, int]], list[int]]:
    """How much of each deficit part the insurance funds can pay: (draws, uncovered per part)."""
    cap = e.liq.insurance_cap_per_tick
    asset = e.settlement.symbol
    global_left = e.ledger.balance(asset, "insurance:global")
    market_left: dict[str, int] = {}
    drawn_now: dict[int, int] = {}
    draws: list[tuple[Instrument, str, int]] = []
    uncovered: list[int] = []
    for instr, need in parts:
        if need <= 0:
            uncovered.append(0)
            continue
        if instr.insurance_fund == "market":
            key = f"insurance:{instr.symbol}"
            left = market_left.setdefault(key, e.ledger.balance(asset, key))
            take = min(need, max(left, 0))
            if take:
                draws.append((instr, key, take))
                market_left[key] = left - take
                need -= take
        if need:
            room = global_left
            if cap:
                room = min(room, cap - e.global_draws.get(instr.index, 0) - drawn_now.get(instr.index, 0))
            take = min(need, max(room, 0))
            if take:
                draws.append((instr, "insurance:global", take))
                global_left -= take
                drawn_now[instr.index] = drawn_now.get(instr.index, 0) + take
                need -= take
        uncovered.append(need)
    return draws, uncovered


def _close_at_mark(e: Engine, s: int, instr: Instrument, slot: int, deficit: int, equity: int, mm_total: int) -> dict:
    """Close a whole position of ``s`` at the mark against the backstop vault (no penalty)."""
    b = e.book
    lots = int(b.lots[slot])
    mark = e.markets[instr.index].mark
    quote = -lots * mark
    bankrupt_quote = -lots * mark - deficit
    e._trade(s, instr, -lots, quote)
    e._trade(e.backstop, instr, lots, -quote)
    return {
        "kind": "LiquidationStep",
        "subaccount": str(e.subs[s].id),
        "instrument": instr.symbol,
        "lots": -lots,
        "price": _price_str(instr, quote, lots),
        "notional": abs(quote),
        "penalty": 0,
        "to_liquidator": 0,
        "to_insurance": 0,
        "liquidator": "",
        "bankruptcy_price": _price_str(instr, bankrupt_quote, lots),
        "equity_before": equity,
        "maintenance_before": mm_total,
    }


def _bankrupt(e: Engine, s: int, ts: int) -> list[dict]:
    """Resolve a sub-account whose equity at the mark is ≤ 0: insurance fund, then ADL or socialised loss."""
    b = e.book
    asset = e.settlement.symbol
    seized = e.seize_collateral(s) if e.collateral.assets else []  # collateral pays first: the vault buys it at its haircut value
    equity = e.equity(s)
    mm_total = int(e.sub_mm[s])
    deficit = -equity if equity < 0 else 0
    positions = [(e.instruments[i], slot) for i, slot in b.positions_of(s)]
    weights = [int(b.mm[slot]) for _, slot in positions]
    if positions and sum(weights) == 0:
        weights = [abs(int(b.value[slot])) for _, slot in positions]
    shares = allocate_pro_rata(deficit, weights) if positions and sum(weights) else []
    effects: list[dict] = [{"kind": "Bankruptcy", "subaccount": str(e.subs[s].id), "equity": equity, "deficit": deficit}] + seized
    touched: set[int] = {s}

    if not positions:  # a cash deficit with nothing left to close
        draws, rest = _fund_plan(e, [(_global_proxy(e), deficit)])
        uncovered = sum(rest)
        effects += _apply_draws(e, s, draws)
        if uncovered:
            e.ledger.transfer(asset, "socialised_loss", s, uncovered)
            effects.append({"kind": "BadDebt", "subaccount": str(e.subs[s].id), "amount": uncovered})
        return effects + _finish(e, s, ts, touched)

    draws, rest = _fund_plan(e, [(instr, d) for (instr, _), d in zip(positions, shares, strict=True)])
    sides = [1 if b.lots[slot] > 0 else -1 for _, slot in positions]
    if sum(rest) == 0:
        for (instr, slot), d in zip(positions, shares, strict=True):
            effects.append(_close_at_mark(e, s, instr, slot, d, equity, mm_total))
        e._realise(e.backstop)
        e._realise(s)
        effects += _apply_draws(e, s, draws)
    elif e.liq.last_resort is LastResort.ADL:
        for (instr, slot), d in zip(positions, shares, strict=True):
            effects += _deleverage(e, s, instr, slot, d, touched)
        e._realise(s)
    else:
        # the funds pay what they can; the rest of each position's deficit is socialised
        for (instr, slot), d in zip(positions, shares, strict=True):
            effects.append(_close_at_mark(e, s, instr, slot, d, equity, mm_total))
        e._realise(e.backstop)
        e._realise(s)
        effects += _apply_draws(e, s, draws)
        for (instr, _), side, loss in zip(positions, sides, rest, strict=True):
            if loss > 0:
                effects.append(_socialise(e, s, instr, side, loss, touched))
    return effects + _finish(e, s, ts, touched)


def _global_proxy(e: Engine):
    """A stand-in instrument for a deficit that belongs to no market (global fund, no cap)."""

    class _Proxy:
        index = -1
        symbol = "*"
        insurance_fund = "global"

    return _Proxy()


def _apply_draws(e: Engine, s: int, draws: list) -> list[dict]:
    out = []
    for instr, key, amount in draws:
        e.ledger.transfer(e.settlement.symbol, key, s, amount)
        if key == "insurance:global":
            e.global_draws[instr.index] = e.global_draws.get(instr.index, 0) + amount
        out.append({"kind": "InsuranceFundDraw", "subaccount": str(e.subs[s].id), "instrument": instr.symbol, "fund": key, "amount": amount})
    return out


def _deleverage(e: Engine, s: int, instr: Instrument, slot: int, deficit: int, touched: set[int]) -> list[dict]:
    """Close a bankrupt position against ranked opposite positions at its bankruptcy price."""
    b = e.book
    lots = int(b.lots[slot])
    mark = e.markets[instr.index].mark
    side = 1 if lots > 0 else -1
    value = lots * mark
    h = b.holders(instr.index)
    opp = h[(np.sign(b.lots[h]) == -side) & (b.sub[h] != s)]
    subs = b.sub[opp].astype(np.int64)
    equity = e.equity_array(subs)
    order = opp[adl_ranking(b.lots[opp], b.value[opp], b.entry[opp], equity, subs)]
    takes: list[tuple[int, int]] = []
    remaining = abs(lots)
    for cslot in order.tolist():
        if remaining == 0:
            break
        take = min(remaining, abs(int(b.lots[cslot])))
        takes.append((int(b.sub[cslot]), take))
        remaining -= take
    assert remaining == 0, "open interest does not net to zero"
    counter_total = value + deficit  # what the counterparties pay in total, signed
    quotes = allocate_pro_rata(counter_total, [t for _, t in takes])
    bankrupt_price = _price_str(instr, counter_total, lots)
    e._trade(s, instr, -lots, -counter_total)
    effects = []
    for (c, take), q in zip(takes, quotes, strict=True):
        e._trade(c, instr, side * take, q)
        e._realise(c)
        touched.add(c)
        effects.append(
            {
                "kind": "Deleverage",
                "subaccount": str(e.subs[s].id),
                "counterparty": str(e.subs[c].id),
                "instrument": instr.symbol,
                "lots": side * take,
                "quote": q,
                "bankruptcy_price": bankrupt_price,
            }
        )
    return effects


def _socialise(e: Engine, s: int, instr: Instrument, side: int, loss: int, touched: set[int]) -> dict:
    """Charge ``loss`` pro rata over the open interest on the opposite side of the bankrupt position.

    The bankrupt account is made whole from ``socialised_loss``; each holder pays its share into
    it, capped by its own positive equity, so the charge never bankrupts anyone; what cannot be
    charged stays in ``socialised_loss`` as recorded bad debt.
    """
    b = e.book
    asset = e.settlement.symbol
    e.ledger.transfer(asset, "socialised_loss", s, loss)
    # ``side`` is the bankrupt position's side; the profitable side is the other one
    h = b.holders(instr.index)
    payers = h[(np.sign(b.lots[h]) == -side) & (b.sub[h] != s) & ~e.is_system[b.sub[h]]]
    weights = np.abs(b.lots[payers]).tolist()
    charges = allocate_pro_rata(loss, weights) if sum(weights) else []
    charged = 0
    for slot, c in zip(payers.tolist(), charges, strict=True):
        k = int(b.sub[slot])
        c = min(c, max(e.equity(k), 0))
        if c:
            e._realise(k)
            e.ledger.transfer(asset, k, "socialised_loss", c)
            touched.add(k)
            charged += c
    return {
        "kind": "SocialisedLoss",
        "subaccount": str(e.subs[s].id),
        "instrument": instr.symbol,
        "loss": loss,
        "charged": charged,
        "unrecovered": loss - charged,
        "payers": int(len(charges)),
    }


def _finish(e: Engine, s: int, ts: int, touched: set[int]) -> list[dict]:
    e.in_liquidation[s] = False
    e.margin_called[s] = False
    e.last_step_ns[s] = ts
    e.insolvent.discard(s)
    others = np.array(sorted(touched - {s}), dtype=np.int64)
    effects = e._margin_calls(others) if others.size else []
    if e.equity(s) < 0:
        e.insolvent.add(s)
    return effects
