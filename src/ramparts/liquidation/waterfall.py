"""The liquidation waterfall, run by each :class:`~ramparts.engine.events.Tick`.

Layer by layer, each stage configured by :class:`~ramparts.liquidation.config.LiquidationConfig`:

a. **Trigger and target.** A sub-account whose equity falls below its maintenance margin enters
   liquidation (a ``MarginCall``); it stays in liquidation until its equity is at least
   maintenance × (1 + buffer), not merely back at maintenance.
b. **Gradual steps.** One step per sub-account per tick, separated by the cool-down; a step closes
   part of the position with the largest maintenance margin: the smallest size that restores the
   buffer, but at most ``max_fraction`` of the position, at least ``min_step_notional``, and the
   whole position when it is small. Under ``oracle_fee`` with ``max_pct_initial_bps`` below 100 %, a
   step is instead Drift's share of that size, ``max_pct_to_liquidate`` of the shortage, growing with
   the slots since the liquidation began (:func:`plan_step`; the margin freed so far is engine state).
c. **Pricing** is a strategy (``LiquidationConfig.pricing``): the fixed penalty closes at the mark
   against the backstop vault and charges the penalty on the closed notional; ``oracle_fee``
   (Drift) hands the position to the liquidator at oracle ∓ fee plus Drift's insurance fee;
   ``dutch_auction`` (Derive) runs an auction per account whose discount grows with time, bought
   by keepers or, past a threshold, by the vault (:func:`plan_step` prices any of them). Keepers
   claim steps with ``LiquidationBid`` (:func:`keeper_bid`), filled at once or, with
   ``batch_auction``, cleared together at the tick at one uniform discount (:func:`clear_batch`).
   Below ``backstop_below_ppm`` of maintenance the vault takes the whole account (Hyperliquid).
   ``order_book`` (dYdX v4) sends each step as a reduce-only IOC order against the latest
   ``BookSnapshot`` (the ``book_account`` behind it) at no worse than dYdX's fillable price, with
   dYdX's insurance-fund delta per fill; a zero fill with negative equity deleverages
   (:func:`_book_order`).
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
   :func:`adl_ranking`; or by Hyperliquid's documented key, ``adl_rank``), at the bankrupt account's
   bankruptcy price.
   ``adl_random`` iterates them from a pseudo-random start instead (dYdX, :func:`random_start`).
g. **Socialised loss**, the configurable alternative to ADL: the funds pay what they can and the
   rest is charged pro rata over the opposite side's open interest (``socialised``), through a
   one-off funding charge on every position of the market (``socialised_funding``, Drift), or
   over every settlement-asset balance (``dilution``, Derive); whatever cannot be charged
   stays as a negative balance of ``socialised_loss``, the explicit record of bad debt.
   Withdrawals are gated while any sub-account has negative equity (see the engine).
h. **Insurance hedging** (``hedge_insurance``): after the waterfall, the vault's inherited
   positions are unwound at the mark against the largest opposite position, within a limit.

On a sharded venue (:mod:`ramparts.shard`) one tick runs over every shard's engine in sub-account
order (``run_waterfall(..., parts=...)``); the fund's balance and draws, the ADL candidates and the
margin calls of counterparties go through the engine's ``shard_link``, so the result is one engine's.

Every step is an effect in the journal: ``MarginCall``, ``LiquidationStep``, ``LiquidationEnded``,
``InsuranceFundDraw``, ``Deleverage``, ``SocialisedLoss``, ``BadDebt``; and with the later
mechanisms ``AuctionStarted``, ``AuctionInsolventFill``, ``BidQueued``, ``BidDropped``,
``BatchAuctionCleared``, ``BackstopLiquidation``, ``SocialisedFunding``, ``Dilution``,
``InsuranceHedge``; order-book liquidation adds ``LiquidationUnfilled``.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ramparts.domain.accounts import MarginMode
from ramparts.domain.instruments import Instrument
from ramparts.errors import InvalidInput, RampartsError, Rejected
from ramparts.fixedpoint import MAX_NOTIONAL, PPM, ceil_div
from ramparts.liquidation.allocation import allocate_pro_rata
from ramparts.liquidation.config import AdlRank, LastResort, Pricing
from ramparts.liquidation.pricing import (
    LIQUIDATION_PCT_PRECISION,
    insolvent_auction_payout,
    insolvent_elapsed_s,
    max_pct_to_liquidate,
    oracle_fee_ppm,
)
from ramparts.liquidation.state import LiquidationState
from ramparts.venues import dydx

#: How many rounds of same-tick bankruptcy resolution a tick runs (each round can only be caused by
#: the previous one's deleveraging, so this bounds a cascade, not normal work).
MAX_CASCADE_ROUNDS = 16


def adl_ranking(lots: np.ndarray, value: np.ndarray, entry: np.ndarray, equity: np.ndarray, subs: np.ndarray,
                rank: AdlRank | str = AdlRank.PROFIT_LEVERAGE) -> np.ndarray:
    """Order (indices into the arrays) in which opposite positions are deleveraged.

    ``profit_leverage`` (default): score = profit % × effective leverage, highest first (Binance's ranking):
    profit % = (value − entry notional) / |entry notional| and effective leverage =
    |value| / equity (an account with equity ≤ 0 counts as infinitely levered but its profit % is
    what it is). ``hyperliquid``: Hyperliquid's documented sorting key, ``(mark / entry) × (notional /
    account value)`` = (value / entry notional) × |value| / equity, highest first among the positions
    in profit (value − entry notional > 0), then the others by the same key (ramparts/reference/
    open-source-venues.md §4: "the specific sorting index to determine the affected users in profit";
    what follows once they are used up is not documented: an assumption). Ties go to the lower
    sub-account index, so the order is deterministic.
    """
    if AdlRank(rank) is AdlRank.HYPERLIQUID:
        in_profit = (value.astype(np.float64) - entry.astype(np.float64)) > 0
        return np.lexsort((subs, -_hyperliquid_keys(value, entry, equity), ~in_profit))
    return np.lexsort((subs, -adl_scores(lots, value, entry, equity)))


def _hyperliquid_keys(value: np.ndarray, entry: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Hyperliquid's ADL key ``(mark / entry) × (notional / account value)`` per position (float64, finite)."""
    value_f = value.astype(np.float64)
    entry_f = entry.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(entry_f != 0, value_f / entry_f, 0.0)  # lots × mark / (lots × entry price): mark / entry
        leverage = np.where(equity > 0, np.abs(value_f) / np.maximum(equity, 1).astype(np.float64), np.inf)
        key = ratio * leverage
    return np.nan_to_num(key, nan=0.0, posinf=np.finfo(np.float64).max, neginf=-np.finfo(np.float64).max)


def adl_keys(lots: np.ndarray, value: np.ndarray, entry: np.ndarray, equity: np.ndarray,
             rank: AdlRank | str = AdlRank.PROFIT_LEVERAGE) -> np.ndarray:
    """The key :func:`adl_ranking` sorts by under ``rank`` (float64, finite, higher first; under ``hyperliquid`` the
    positions in profit come before the others whatever their key): what the service shows beside each rank."""
    if AdlRank(rank) is AdlRank.HYPERLIQUID:
        return _hyperliquid_keys(value, entry, equity)
    return adl_scores(lots, value, entry, equity)


def adl_scores(lots: np.ndarray, value: np.ndarray, entry: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """The ranking key of :func:`adl_ranking` per position (float64, finite; higher goes first). A
    position's score depends on its own row only, so shards' scores merge into the one-engine order
    (:mod:`ramparts.shard`)."""
    value_f = value.astype(np.float64)
    entry_f = entry.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        profit = np.where(entry_f != 0, (value_f - entry_f) / np.abs(entry_f), 0.0)
        leverage = np.where(equity > 0, np.abs(value_f) / np.maximum(equity, 1).astype(np.float64), np.inf)
        score = profit * leverage
    return np.nan_to_num(score, nan=0.0, posinf=np.finfo(np.float64).max, neginf=-np.finfo(np.float64).max)


def run_waterfall(engine: LiquidationState, ts: int, liquidator: str, parts: list | None = None) -> list[dict]:
    """Run one tick of the waterfall over every sub-account in breach; returns the effects.

    ``parts``: the :class:`TickPart` of every engine of a sharded venue (:mod:`ramparts.shard`,
    ``engine``'s among them), each holding the accounts it owns; every part's due accounts are stepped
    by their owner in one order, the sub-account index, exactly as one engine steps its own."""
    e = engine
    group = [TickPart(e)] if parts is None else parts
    effects: list[dict] = []
    due = []
    for part in group:  # every part before any step: what is due is decided on the state the tick found
        fx, accounts = part.open_tick(ts)
        effects += fx
        due.append(accounts)
    for k, s in _in_order(due):
        effects.extend(group[k].step(s, ts, liquidator))
    # deleveraging or socialised charges can leave a counterparty bankrupt: resolve it in the same tick
    for _ in range(MAX_CASCADE_ROUNDS):
        bankrupt = _in_order([part.bankrupt_now() for part in group])
        if not bankrupt:
            break
        for k, s in bankrupt:
            effects.extend(group[k].step(s, ts, liquidator))
    if e.liq.hedge_insurance:
        effects += hedge_insurance(e, ts)
    return effects


class TickPart:
    """One engine's side of a tick (:func:`run_waterfall`): the accounts due when the tick opens, those
    bankrupt at the start of each cascade round, and the step of one of them."""

    def __init__(self, e: LiquidationState):
        self.e = e
        self.paused: np.ndarray | None = None

    def open_tick(self, ts: int) -> tuple[list[dict], list[int]]:
        """Start the tick: the fund's per-tick draws reset, a batch auction cleared, and the accounts
        due (in breach, being liquidated or bankrupt, past their cool-down), ascending."""
        e = self.e
        cfg = e.liq
        n = len(e.subs)
        if e.global_draws_ts != ts:
            e.global_draws, e.global_draws_ts = {}, ts
        if n == 0:
            self.paused = np.zeros(0, dtype=bool)
            return [], []
        effects: list[dict] = []
        equity = e.equity_array()
        self.paused = paused = e.liquidation_paused()  # markets whose oracle gate or circuit breaker blocks liquidation
        due = ((equity < e.sub_mm[:n]) | e.in_liquidation[:n] | (equity < 0)) & ~e.is_system[:n] & ~paused
        if e.pending_bids:  # a batch auction: the keepers' bids of this tick first
            effects += clear_batch(e, ts, paused)
            equity = e.equity_array()
            due |= e.in_liquidation[:n] & ~e.is_system[:n] & ~paused
        timed = cfg.pricing is not Pricing.DUTCH_AUCTION  # an auction's pace is its discount, not the cool-down
        out = []
        for s in np.nonzero(due)[0].tolist():  # (only an account's own step moves its cool-down: decided here)
            last = e.last_step_ns.get(s)
            if timed and last is not None and ts - last < cfg.cooldown_ns and equity[s] >= 0:
                continue  # the cool-down never delays resolving a bankrupt account
            out.append(s)
        return effects, out

    def bankrupt_now(self) -> list[int]:
        e = self.e
        n = len(e.subs)
        return np.nonzero((e.equity_array() < 0) & ~e.is_system[:n] & ~self.paused)[0].tolist()

    def step(self, s: int, ts: int, liquidator: str) -> list[dict]:
        return _step(self.e, s, ts, liquidator)


def _in_order(lists: list[list[int]]) -> list[tuple[int, int]]:
    """(engine number, sub-account) from each engine's ascending list, merged by sub-account index
    (an account is due on its owner only)."""
    if len(lists) == 1:
        return [(0, s) for s in lists[0]]
    merged = [(k, s) for s, k in heapq.merge(*([(s, k) for s in lst] for k, lst in enumerate(lists)))]
    if len({s for _, s in merged}) != len(merged):
        raise AssertionError("a sub-account is due on two shards")
    return merged


def _end(e: LiquidationState, s: int) -> dict:
    e.in_liquidation[s] = False
    e.margin_called[s] = False
    e.last_step_ns.pop(s, None)
    e.auctions.pop(s, None)
    e.liq_freed.pop(s, None)
    e.insolvent_auctions.pop(s, None)
    return {"kind": "LiquidationEnded", "subaccount": e.subs.name(s), "equity": e.equity(s), "maintenance": int(e.sub_mm[s])}


def _target(e: LiquidationState, mm: int) -> int:
    return mm + ceil_div(mm * e.liq.buffer_ppm, PPM)


def _price_str(instr: Instrument, quote: int, lots: int) -> str:
    """A decimal price from a total quote over lots (for reports; money never uses it)."""
    if lots == 0:
        return "0"
    return str((Decimal(abs(quote)) / abs(lots) / instr.price_factor).quantize(Decimal("1e-8")))


def _step(e: LiquidationState, s: int, ts: int, liquidator: str) -> list[dict]:
    cfg = e.liq
    e.realise(s)
    equity = e.equity(s)
    mm = int(e.sub_mm[s])
    effects: list[dict] = []
    if cfg.pricing is Pricing.ORDER_BOOK and e.book.n_positions_of(s):
        return _book_step(e, s, ts, equity, mm)
    if equity < 0 or (equity == 0 and mm > 0):
        if cfg.pricing is Pricing.DUTCH_AUCTION and cfg.auction_insolvent_ns and cfg.auction_backstop_insolvent_ns:
            effects += _start_insolvent_auction(e, s, ts, equity, mm)  # Derive: keepers may buy it until the vault does
            if ts - e.insolvent_auctions[s] < cfg.auction_backstop_insolvent_ns:
                return effects
        return effects + _bankrupt(e, s, ts)
    if e.in_liquidation[s] and (equity >= _target(e, mm) or mm == 0):
        return [_end(e, s)]
    if not e.in_liquidation[s]:
        if equity >= mm:
            return []
        effects += _enter_liquidation(e, s, equity, mm)
    if e.borrowed(s):  # repay what the account borrowed before touching its positions
        return effects + _repay_borrows(e, s, ts)
    if cfg.backstop_below_ppm and equity * PPM < mm * cfg.backstop_below_ppm:
        return effects + _backstop_takeover(e, s, ts, equity, mm)
    vault = e.backstop
    if cfg.pricing is Pricing.DUTCH_AUCTION:
        effects += _start_auction(e, s, ts, equity, mm)
        disc = auction_discount(cfg, ts - e.auctions[s])
        if disc < cfg.auction_backstop_discount_ppm:
            return effects  # the auction waits for a keeper until the vault's discount is reached
        plan = plan_step(e, s, disc=disc)
        return effects + _execute(e, s, ts, plan, [(vault, plan.qty)], e.subs.name(vault))
    _start_fee_clock(e, s, ts)
    plan = plan_step(e, s, ts=ts)
    if plan.qty == 0 and cfg.max_pct_limited:
        return effects  # Drift's max percentage allows nothing yet (max_pct_initial_bps 0 at the start)
    if cfg.pricing is Pricing.ORACLE_FEE:
        return effects + _execute(e, s, ts, plan, [(vault, plan.qty)], e.subs.name(vault))
    return effects + _execute(e, s, ts, plan, [(vault, plan.qty)], liquidator)


def _enter_liquidation(e: LiquidationState, s: int, equity: int, mm: int) -> list[dict]:
    """Flag ``s`` as being liquidated; its margin call, if it has not had one."""
    if e.in_liquidation[s]:
        return []
    e.in_liquidation[s] = True
    if e.margin_called[s]:
        return []
    e.margin_called[s] = True
    return [{"kind": "MarginCall", "subaccount": e.subs.name(s), "equity": equity, "maintenance": mm}]


def _repay_borrows(e: LiquidationState, s: int, ts: int) -> list[dict]:
    """Buy back every asset ``s`` borrowed from the backstop vault at its price plus the penalty, paid
    in settlement cash (the vault takes the short; each asset is conserved). Cash may go negative:
    the account is then bankrupt at the next step, where the fund pays the deficit."""
    effects = []
    q = e.settlement.symbol
    for a in e.borrowed(s):
        units = -e.ledger.balance(a, s)
        ac = e.collateral.assets[a]
        cost = ceil_div(units * ac.price * (PPM + e.liq.penalty_ppm), 10 ** e.assets[a].decimals * PPM)
        e.ledger.transfer(a, e.backstop, s, units)
        e.ledger.transfer(q, s, e.backstop, cost)
        e.collateral_touched(a, s)
        e.collateral_touched(a, e.backstop)
        effects.append({"kind": "BorrowRepaid", "subaccount": e.subs.name(s), "asset": a, "units": units, "cost": cost,
                        "from": e.subs.name(e.backstop)})
    e.last_step_ns[s] = ts
    if e.equity(s) < 0:
        e.insolvent.add(s)
    return effects


@dataclass(frozen=True, slots=True)
class StepPlan:
    """A priced liquidation step, computed without touching the state (see :func:`plan_step`).

    ``quote`` is the signed total the liquidated account pays for its change of ``delta`` lots
    (cost basis); ``fee_in_price`` is the part of it that is the liquidator's fee (oracle fee);
    ``to_liquidator`` is paid by transfer to the taker (fixed penalty: the liquidator's share;
    Dutch auction: the discount); ``to_fund`` goes to the insurance fund.
    """

    instr: Instrument
    slot: int
    lots: int
    qty: int
    delta: int
    mark: int
    equity: int
    mm: int
    slot_mm: int
    mm_after_pos: int
    quote: int
    fee_in_price: int
    to_liquidator: int
    to_fund: int
    discount_ppm: int
    max_pct: int | None = None  #: Drift's max percentage to liquidate (1e4) when ``max_pct_initial_bps`` limits the step
    to_cover: int | None = None  #: the lots that would restore the target, before that limit

    @property
    def penalty(self) -> int:
        return self.fee_in_price + self.to_liquidator + self.to_fund

    @property
    def reward(self) -> int:
        """What the taker(s) gain at the mark."""
        return self.fee_in_price + self.to_liquidator


def auction_discount(cfg, elapsed_ns: int) -> int:
    """The Dutch auction's discount (ppm) ``elapsed_ns`` after its start: linear from 0 to
    ``auction_fast_discount_ppm`` over ``auction_fast_ns``, then linear to 100 % over
    ``auction_slow_ns``; rounded down (in the liquidated account's favour)."""
    fast, slow, d1 = cfg.auction_fast_ns, cfg.auction_slow_ns, cfg.auction_fast_discount_ppm
    elapsed = max(elapsed_ns, 0)
    if elapsed < fast:
        return d1 * elapsed // fast
    if elapsed < fast + slow:
        return d1 + (PPM - d1) * (elapsed - fast) // slow
    return PPM


def keeper_discount(e: LiquidationState, s: int, ts: int) -> int:
    """The discount (ppm) a liquidator gets now under the configured pricing: the liquidator's share
    of the penalty (fixed penalty, of the closed notional), the liquidation fee (oracle fee, of the
    closed notional) or the auction's current discount (of the bought part's equity)."""
    cfg = e.liq
    if cfg.pricing is Pricing.DUTCH_AUCTION:
        return auction_discount(cfg, ts - e.auctions.get(s, ts))
    if cfg.pricing is Pricing.ORACLE_FEE:
        return oracle_fee_ppm(cfg, e.auctions.get(s), ts)  # Drift: rising with the slots since the liquidation began
    return cfg.penalty_ppm * cfg.liquidator_share_ppm // PPM


def margin_freed(e: LiquidationState, s: int) -> int:
    """The margin (settlement base units) that the current liquidation of ``s`` has freed so far."""
    return e.liq_freed.get(s, 0)


def shortage(e: LiquidationState, equity: int, mm: int) -> int:
    """The distance to the buffered target, ``max(maintenance × (1 + buffer) − equity, 0)`` (Drift's margin
    shortage with its liquidation buffer)."""
    return max(_target(e, mm) - equity, 0)


def _start_fee_clock(e: LiquidationState, s: int, ts: int) -> None:
    """Drift's rising liquidation fee counts from the start of the liquidation: keep it (engine state)."""
    if e.liq.pricing is Pricing.ORACLE_FEE and e.liq.fee_ramp_slot_ns:
        e.auctions.setdefault(s, ts)


def plan_step(e: LiquidationState, s: int, *, disc: int | None = None, rate: int | None = None, max_qty: int | None = None,
              qty: int | None = None, ts: int | None = None) -> StepPlan:
    """Price the next step of ``s`` under the configured strategy, without changing anything.

    The position with the largest maintenance margin is reduced by the smallest size that restores
    maintenance × (1 + buffer) under the strategy's own limits, then by at most ``max_qty`` (a
    keeper's bid), or by exactly ``qty`` (a batch clearing). ``disc`` is the auction's discount;
    ``rate`` replaces the liquidator's rate (a batch auction's uniform clearing discount). ``ts``
    dates the step (``oracle_fee``: Drift's fee rises with it when ``fee_ramp_slot_ns`` is set).

    With Drift's limit on (``max_pct_initial_bps`` < 10,000) the size is ``controller/liquidation.rs::liquidate_perp``'s
    (protocol-v2 0ae3e3b): ``min(lots, max(ceil(to_cover × max_pct / 1e4), lots if notional ≤ full_close_notional))``,
    0 when ``to_cover × max_pct`` is 0, where ``to_cover`` is the smallest close restoring the target (the whole
    position when none does) and ``max_pct`` is :func:`ramparts.liquidation.pricing.max_pct_to_liquidate` of the
    current shortage and the liquidation's margin freed so far; rounding up to a whole lot is Drift's
    truncation then ``standardize_base_asset_amount_ceil`` with the lot as the order step (the same integer
    whenever the step, in Drift's base units, is a multiple of 1e4).
    """
    cfg = e.liq
    pricing_kind = cfg.pricing
    equity = e.equity(s)
    mm = int(e.sub_mm[s])
    b = e.book
    instr_idx, slot = e.liquidation_choice(s)
    instr = e.instruments[instr_idx]
    mark = e.markets[instr_idx].mark
    lots = int(b.lots[slot])
    slot_mm = int(b.mm[slot])
    abs_lots = abs(lots)
    side = 1 if lots > 0 else -1
    cap_eq = max(equity, 0)
    if_ppm = 0
    liq_ppm = cfg.penalty_ppm if ts is None else oracle_fee_ppm(cfg, e.auctions.get(s), ts)  # oracle fee: the rate now
    if pricing_kind is Pricing.ORACLE_FEE and cfg.if_fee_ppm and abs_lots:
        # Drift: if_fee = min(if_liquidation_fee, 0.95 × max(MR_buf − liq_fee − shortage / notional, 0))
        notional = abs_lots * mark
        mr_buf = slot_mm * (PPM + cfg.buffer_ppm) // notional
        shortage_ppm = ceil_div(max(_target(e, mm) - equity, 0) * PPM, notional)
        if_ppm = min(cfg.if_fee_ppm, 95 * max(mr_buf - liq_ppm - shortage_ppm, 0) // 100)

    def mm_after(q: int) -> int:
        """The closed position's maintenance after closing ``q`` lots, as the rest of the account sees it:
        ``maintenance_after − (mm − slot_mm)`` (for a portfolio sub-account, whose requirement is not a
        sum of positions, this carries the whole change of its scenario requirement)."""
        return e.maintenance_after(s, instr, lots - side * q) - (mm - slot_mm)

    def amounts(q: int, mm_new: int) -> tuple[int, int, int]:
        """(fee in the price, transfer to the liquidator, to the fund) of closing ``q`` lots."""
        notional = q * mark
        if pricing_kind is Pricing.ORACLE_FEE:
            fee = min(ceil_div(notional * (liq_ppm if rate is None else rate), PPM), cap_eq)
            return fee, 0, min(ceil_div(notional * if_ppm, PPM), cap_eq - fee)
        if pricing_kind is Pricing.DUTCH_AUCTION:
            share = equity * (slot_mm - mm_new) // mm if mm else cap_eq  # the bought part's equity (its MM share)
            d = disc if rate is None else rate
            return 0, min(ceil_div(max(share, 0) * (d or 0), PPM), cap_eq), 0
        full = min(ceil_div(notional * cfg.penalty_ppm, PPM), cap_eq)
        if rate is None:
            to_liq = full * cfg.liquidator_share_ppm // PPM
            return 0, to_liq, full - to_liq
        to_liq = min(ceil_div(notional * rate, PPM), cap_eq)
        return 0, to_liq, min(full - full * cfg.liquidator_share_ppm // PPM, cap_eq - to_liq)

    def shortfall(q: int) -> int:
        """Equity after closing ``q`` lots minus the buffered target (≥ 0: target met)."""
        mm_new = mm_after(q)
        return (equity - sum(amounts(q, mm_new))) - _target(e, mm - slot_mm + mm_new)

    def smallest(lo: int, hi: int) -> int:
        while lo < hi:
            mid = (lo + hi) // 2
            if shortfall(mid) >= 0:
                hi = mid
            else:
                lo = mid + 1
        return lo

    pct = to_cover = None
    if qty is not None:
        q = qty
    elif pricing_kind is Pricing.DUTCH_AUCTION:
        q = abs_lots if shortfall(abs_lots) < 0 else smallest(1, abs_lots)
    elif cfg.max_pct_limited:
        # Drift's liquidate_perp: to_cover × max_pct / 1e4 (rounded up to a lot), or the whole position when it is
        # small; nothing while that allowance is 0
        to_cover = abs_lots if shortfall(abs_lots) < 0 else smallest(1, abs_lots)
        pct = max_pct_to_liquidate(cfg, e.auctions.get(s), e.time_ns if ts is None else ts, shortage(e, equity, mm),
                                   margin_freed(e, s), e.settlement.decimals)
        allowed = ceil_div(to_cover * pct, LIQUIDATION_PCT_PRECISION)
        whole = abs_lots if abs_lots * mark <= cfg.full_close_notional else 0
        q = min(abs_lots, max(allowed, whole)) if allowed else 0
    else:
        min_lots = max(ceil_div(cfg.min_step_notional, mark), 1)
        if abs_lots * mark <= cfg.full_close_notional:
            q = abs_lots
        else:
            cap = min(max(ceil_div(abs_lots * cfg.max_fraction_ppm, PPM), min_lots), abs_lots)
            q = cap if shortfall(cap) < 0 else min(max(smallest(1, cap), min_lots), abs_lots)
            if (abs_lots - q) * mark < cfg.min_step_notional:
                q = abs_lots
    if max_qty is not None:
        q = min(q, max_qty)
    delta = -side * q
    mm_new = mm_after(q)
    fee, to_liq, to_fund = amounts(q, mm_new)
    if pricing_kind is Pricing.DUTCH_AUCTION:
        d = disc if rate is None else rate
    elif rate is not None:
        d = rate
    elif pricing_kind is Pricing.ORACLE_FEE:
        d = liq_ppm
    else:
        d = keeper_discount(e, s, 0)
    return StepPlan(instr, slot, lots, q, delta, mark, equity, mm, slot_mm, mm_new, delta * mark + fee, fee, to_liq, to_fund, d or 0,
                    pct, to_cover)


def _execute(e: LiquidationState, s: int, ts: int, plan: StepPlan, takers: list[tuple[int, int]], liquidator: str,
             extra: dict | None = None) -> list[dict]:
    """Carry out ``plan``: the takers ``[(sub-account, lots)]`` receive the closed lots (in that split)."""
    cfg = e.liq
    b = e.book
    instr, delta, quote, mark = plan.instr, plan.delta, plan.quote, plan.mark
    equity, mm, slot_mm = plan.equity, plan.mm, plan.slot_mm
    # bankruptcy quote of the closed part (dYdX v4): the account's equity allocated by its MM share
    bankrupt_quote = delta * mark + (equity * (slot_mm - plan.mm_after_pos) // mm if mm else 0)
    weights = [q for _, q in takers]
    side = 1 if plan.lots > 0 else -1
    e.trade(s, instr, delta, quote)
    if len(takers) == 1:
        e.trade(takers[0][0], instr, -delta, -quote)
    else:
        for (t, q), fee in zip(takers, allocate_pro_rata(plan.fee_in_price, weights), strict=True):
            e.trade(t, instr, side * q, side * q * mark - fee)
    e.realise(s)
    for t, _ in takers:
        e.realise(t)
    asset = e.settlement.symbol
    default = cfg.pricing is Pricing.FIXED_PENALTY and takers == [(e.backstop, plan.qty)]
    if default:
        e.ledger.transfer(asset, s, f"liquidator:{liquidator}", plan.to_liquidator)
    else:
        for (t, _), part in zip(takers, allocate_pro_rata(plan.to_liquidator, weights), strict=True):
            e.ledger.transfer(asset, s, t, part)
    e.ledger.transfer(asset, s, e.insurance_key(instr), plan.to_fund)
    e.last_step_ns[s] = ts
    step = {
        "kind": "LiquidationStep",
        "subaccount": e.subs.name(s),
        "instrument": instr.symbol,
        "lots": delta,
        "price": _price_str(instr, quote, delta),
        "notional": abs(delta * mark),
        "penalty": plan.penalty,
        "to_liquidator": plan.reward,
        "to_insurance": plan.to_fund,
        "liquidator": liquidator,
        "bankruptcy_price": _price_str(instr, bankrupt_quote, delta),
        "equity_before": equity,
        "maintenance_before": mm,
    }
    if not default:
        step.update({"pricing": cfg.pricing.value, "discount_ppm": plan.discount_ppm,
                     "takers": [[e.subs.name(t), side * q] for t, q in takers]})
    if cfg.max_pct_limited:  # Drift: the margin this step freed joins the liquidation's tally (engine state)
        freed = margin_freed(e, s) + max(shortage(e, equity, mm) - shortage(e, e.equity(s), int(e.sub_mm[s])), 0)
        e.liq_freed[s] = freed
        step.update({"margin_freed": freed, **({"max_pct": plan.max_pct, "to_cover": plan.to_cover} if plan.max_pct is not None else {})})
    if extra:
        step.update(extra)
    effects = [step]
    if not b.n_positions_of(s) or e.equity(s) >= _target(e, int(e.sub_mm[s])):
        effects.append(_end(e, s))
    return effects


# ---------------------------------------------------------------------------- order book (dYdX v4)


def book_limit(e: LiquidationState, s: int, instr: Instrument, slot: int) -> tuple[Fraction, int]:
    """dYdX's fillable price of the position in ``slot`` (exact, lot-price units) and the order's
    limit on the tick grid, rounded against the liquidated account: a sell (closing a long) up,
    a buy down (dYdX's conversion to subticks)."""

    cfg = e.liq
    lots = int(e.book.lots[slot])
    mark = e.markets[instr.index].mark
    equity, mm = e.equity(s), int(e.sub_mm[s])
    if mm > 0:
        fp = dydx.fillable_price(lots * mark, int(e.book.mm[slot]), lots, equity, mm,
                                 bankruptcy_adjustment_ppm=cfg.bankruptcy_adjustment_ppm, spread_to_mmr_ppm=cfg.spread_to_mmr_ppm)
    else:
        fp = Fraction(mark)
    tick = instr.tick_units
    ticks = fp / tick
    limit = (math.ceil(ticks) if lots > 0 else math.floor(ticks)) * tick
    return fp, max(limit, 0)


def _book_step(e: LiquidationState, s: int, ts: int, equity: int, mm: int) -> list[dict]:
    """One tick of order-book liquidation for ``s`` (which holds positions): trigger and target as
    for the other strategies, then one reduce-only IOC order (:func:`_book_order`)."""
    bankrupt = equity < 0 or (equity == 0 and mm > 0)
    if bankrupt and e.last_step_ns.get(s) == ts:
        return []  # one liquidation order per account per tick (dYdX: per block)
    if not bankrupt and e.in_liquidation[s] and (equity >= _target(e, mm) or mm == 0):
        return [_end(e, s)]
    effects: list[dict] = []
    if not e.in_liquidation[s]:
        if not bankrupt and equity >= mm:
            return []
        effects += _enter_liquidation(e, s, equity, mm)
    return effects + _book_order(e, s, ts, equity, mm)


def _book_order(e: LiquidationState, s: int, ts: int, equity: int, mm: int) -> list[dict]:
    """dYdX v4's liquidation order: the step the sizing rules choose (:func:`plan_step`), as an IOC
    against the latest ``BookSnapshot`` at no worse than the fillable price; each fill trades against
    the book account at its level's price, consumes the level and moves dYdX's insurance-fund delta
    (fee to the fund capped by ``fillQuote − bankruptcyQuote``, or the fund pays the shortfall; a
    fill the fund cannot pay is refused and ends the order). Nothing filled with negative equity:
    the last resort (deleveraging at the bankruptcy price)."""

    cfg = e.liq
    b = e.book
    asset = e.settlement.symbol
    plan = plan_step(e, s)
    instr, slot, lots = plan.instr, plan.slot, plan.lots
    mark = plan.mark
    side = 1 if lots > 0 else -1  # the position's side: a long sells into the bids, a short buys the asks
    fp, limit = book_limit(e, s, instr, slot)
    try:
        maker = e.book_account()
    except RampartsError:
        maker = None
    snap = e.books.get(instr.index)
    levels = snap["bids" if side > 0 else "asks"] if snap is not None and maker is not None and maker != s else []
    remaining = plan.qty
    fills: list[list] = []
    draw_fx: list[dict] = []
    filled = quote_total = bq_total = to_fund = fund_paid = 0
    stop = "no_book" if snap is None else ("no_book_account" if maker is None or maker == s else "no_level_at_fillable_price")
    for level in levels:
        if remaining == 0:
            break
        price, size = level
        if (price < limit) if side > 0 else (price > limit):
            break
        q = min(size, remaining)
        delta = -side * q
        # dYdX per match: the bankruptcy quote from the account's totals before this fill
        tnc, tmmr = e.equity(s), int(e.sub_mm[s])
        cur = int(b.lots[slot])
        dmmr = e.maintenance_after(s, instr, cur + delta) - tmmr
        bq = dydx.bankruptcy_quote(delta * mark, dmmr, tnc, tmmr) if tmmr > 0 else -delta * mark
        fill_quote = -delta * price  # signed as dYdX's: > 0 the account receives
        ifd = dydx.insurance_fund_delta(fill_quote, bq, cfg.penalty_ppm)
        draws: list = []
        if ifd < 0:
            draws, rest = _fund_plan(e, [(instr, -ifd)])
            if sum(rest):
                stop = "insurance_insufficient"
                break
        e.trade(s, instr, delta, delta * price)
        e.trade(maker, instr, -delta, -delta * price)
        if ifd > 0:
            e.ledger.transfer(asset, s, e.insurance_key(instr), ifd)
            to_fund += ifd
        elif ifd < 0:
            draw_fx += _apply_draws(e, s, draws)
            fund_paid -= ifd
        level[1] -= q
        remaining -= q
        filled += q
        quote_total += delta * price
        bq_total += bq
        fills.append([str(instr.price(price)), delta, ifd])
    if remaining == 0:
        stop = ""
    if snap is not None:
        snap["bids"] = [lv for lv in snap["bids"] if lv[1] > 0]
        snap["asks"] = [lv for lv in snap["asks"] if lv[1] > 0]
    if not filled:
        effects: list[dict] = [{"kind": "LiquidationUnfilled", "subaccount": e.subs.name(s), "instrument": instr.symbol,
                                "lots": -side * plan.qty, "limit_price": str(instr.price(limit)), "reason": stop,
                                "equity": equity, "maintenance": mm}]
        if equity < 0:  # dYdX: deleveraging only after a zero fill with negative TNC
            return effects + _bankrupt(e, s, ts, skip_fund=True)
        return effects
    e.realise(s)
    e.realise(maker)
    e.last_step_ns[s] = ts
    delta_total = -side * filled
    step = {
        "kind": "LiquidationStep",
        "subaccount": e.subs.name(s),
        "instrument": instr.symbol,
        "lots": delta_total,
        "price": _price_str(instr, quote_total, delta_total),
        "notional": abs(delta_total * mark),
        "penalty": to_fund,
        "to_liquidator": 0,
        "to_insurance": to_fund,
        "liquidator": e.subs.name(maker),
        "bankruptcy_price": _price_str(instr, bq_total, delta_total),
        "equity_before": equity,
        "maintenance_before": mm,
        "pricing": Pricing.ORDER_BOOK.value,
        "fillable_price": str((Decimal(fp.numerator) / Decimal(fp.denominator) / instr.price_factor).quantize(Decimal("1e-8"))),
        "limit_price": str(instr.price(limit)),
        "step_lots": -side * plan.qty,
        "fills": fills,
        "insurance_paid": fund_paid,
        "unfilled": stop,
        "takers": [[e.subs.name(maker), -delta_total]],
    }
    effects = [step] + draw_fx
    if e.equity(s) < 0:  # a partial fill below the bankruptcy price: insolvent until resolved (withdrawals gated)
        e.insolvent.add(s)
    effects += e.margin_calls(np.array([maker], dtype=np.int64))  # the book account took the position
    if not b.n_positions_of(s) or e.equity(s) >= _target(e, int(e.sub_mm[s])):
        effects.append(_end(e, s))
    return effects


def _start_insolvent_auction(e: LiquidationState, s: int, ts: int, equity: int, mm: int) -> list[dict]:
    """Derive's insolvent auction of ``s`` (``auction_insolvent_ns``): its clock starts when it is first found insolvent."""
    if s in e.insolvent_auctions:
        return []
    e.insolvent_auctions[s] = ts
    return [{"kind": "AuctionStarted", "subaccount": e.subs.name(s), "equity": equity, "maintenance": mm, "insolvent": True}]


def _start_auction(e: LiquidationState, s: int, ts: int, equity: int, mm: int) -> list[dict]:
    if s in e.auctions:
        return []
    e.auctions[s] = ts
    return [{"kind": "AuctionStarted", "subaccount": e.subs.name(s), "equity": equity, "maintenance": mm}]


def _backstop_takeover(e: LiquidationState, s: int, ts: int, equity: int, mm: int) -> list[dict]:
    """Hyperliquid's backstop liquidation: every position at the mark and the remaining margin to the vault."""
    b = e.book
    vault = e.backstop
    vault_id = e.subs.name(vault)
    effects: list[dict] = []
    for instr_idx, slot in b.positions_of(s):
        instr = e.instruments[instr_idx]
        mark = e.markets[instr_idx].mark
        lots = int(b.lots[slot])
        pos_mm = int(b.mm[slot])
        quote = -lots * mark
        e.trade(s, instr, -lots, quote)
        e.trade(vault, instr, lots, -quote)
        effects.append({
            "kind": "LiquidationStep", "subaccount": e.subs.name(s), "instrument": instr.symbol, "lots": -lots,
            "price": _price_str(instr, quote, lots), "notional": abs(quote), "penalty": 0, "to_liquidator": 0, "to_insurance": 0,
            "liquidator": vault_id, "bankruptcy_price": _price_str(instr, quote - (equity * pos_mm // mm if mm else 0), lots),
            "equity_before": equity, "maintenance_before": mm, "pricing": "backstop",
        })
    e.realise(s)
    e.realise(vault)
    margin = max(int(e.ledger.sub_cash[s]), 0)
    e.ledger.transfer(e.settlement.symbol, s, vault, margin)
    e.last_step_ns[s] = ts
    effects.append({"kind": "BackstopLiquidation", "subaccount": e.subs.name(s), "equity": equity, "maintenance": mm,
                    "threshold_ppm": e.liq.backstop_below_ppm, "positions": len(effects), "margin_to_vault": margin})
    effects.append(_end(e, s))
    return effects


def _fund_plan(e: LiquidationState, parts: list[tuple[Instrument, int]]) -> tuple[list[tuple[Instrument, str, int]], list[int]]:
    """How much of each deficit part the insurance funds can pay: (draws, uncovered per part)."""
    cap = e.liq.insurance_cap_per_tick
    asset = e.settlement.symbol
    global_left = _fund_balance(e, asset, "insurance:global")
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
            left = market_left.setdefault(key, _fund_balance(e, asset, key))
            take = min(need, max(left, 0))
            if take:
                draws.append((instr, key, take))
                market_left[key] = left - take
                need -= take
        if need:
            room = global_left
            if cap:
                room = min(room, cap - _fund_drawn(e, instr.index) - drawn_now.get(instr.index, 0))
            take = min(need, max(room, 0))
            if take:
                draws.append((instr, "insurance:global", take))
                global_left -= take
                drawn_now[instr.index] = drawn_now.get(instr.index, 0) + take
                need -= take
        uncovered.append(need)
    return draws, uncovered


def _close_at_mark(e: LiquidationState, s: int, instr: Instrument, slot: int, deficit: int, equity: int, mm_total: int,
                   taker: int | None = None) -> dict:
    """Close a whole position of ``s`` at the mark against the backstop vault or ``taker`` (no penalty)."""
    b = e.book
    lots = int(b.lots[slot])
    mark = e.markets[instr.index].mark
    quote = -lots * mark
    bankrupt_quote = -lots * mark - deficit
    e.trade(s, instr, -lots, quote)
    e.trade(e.backstop if taker is None else taker, instr, lots, -quote)
    return {
        "kind": "LiquidationStep",
        "subaccount": e.subs.name(s),
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


def _bankrupt(e: LiquidationState, s: int, ts: int, *, skip_fund: bool = False) -> list[dict]:
    """Resolve a sub-account whose equity at the mark is ≤ 0: insurance fund, then ADL or socialised loss.

    ``skip_fund`` (order-book liquidation after a zero fill, dYdX): with ``adl`` / ``adl_random`` the
    positions are deleveraged at once, without the fund; the other last resorts are unaffected."""
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
    effects: list[dict] = [{"kind": "Bankruptcy", "subaccount": e.subs.name(s), "equity": equity, "deficit": deficit}] + seized
    touched: set[int] = {s}

    if not positions:  # a cash deficit with nothing left to close
        draws, rest = _fund_plan(e, [(_global_proxy(e), deficit)])
        uncovered = sum(rest)
        effects += _apply_draws(e, s, draws)
        if uncovered:
            e.ledger.transfer(asset, "socialised_loss", s, uncovered)
            effects.append({"kind": "BadDebt", "subaccount": e.subs.name(s), "amount": uncovered})
        return effects + _finish(e, s, ts, touched)

    draws, rest = _fund_plan(e, [(instr, d) for (instr, _), d in zip(positions, shares, strict=True)])
    if skip_fund and sum(shares) and e.liq.last_resort in (LastResort.ADL, LastResort.ADL_RANDOM):
        draws, rest = [], list(shares)
    sides = [1 if b.lots[slot] > 0 else -1 for _, slot in positions]
    if sum(rest) == 0:
        for (instr, slot), d in zip(positions, shares, strict=True):
            effects.append(_close_at_mark(e, s, instr, slot, d, equity, mm_total))
        e.realise(e.backstop)
        e.realise(s)
        effects += _apply_draws(e, s, draws)
    elif e.liq.last_resort in (LastResort.ADL, LastResort.ADL_RANDOM):
        for (instr, slot), d in zip(positions, shares, strict=True):
            effects += _deleverage(e, s, instr, slot, d, touched)
        e.realise(s)
    else:
        # the funds pay what they can; the rest of each position's deficit is socialised
        for (instr, slot), d in zip(positions, shares, strict=True):
            effects.append(_close_at_mark(e, s, instr, slot, d, equity, mm_total))
        e.realise(e.backstop)
        e.realise(s)
        effects += _apply_draws(e, s, draws)
        charge = {LastResort.SOCIALISED: _socialise, LastResort.SOCIALISED_FUNDING: _socialise_funding,
                  LastResort.DILUTION: _dilute}[e.liq.last_resort]
        for (instr, _), side, loss in zip(positions, sides, rest, strict=True):
            if loss > 0:
                effects.append(charge(e, s, instr, side, loss, touched))
    return effects + _finish(e, s, ts, touched)


def _global_proxy(e: LiquidationState):
    """A stand-in instrument for a deficit that belongs to no market (global fund, no cap)."""

    class _Proxy:
        index = -1
        symbol = "*"
        insurance_fund = "global"

    return _Proxy()


def _fund_drawn(e: LiquidationState, instr_idx: int) -> int:
    """What the global fund paid for a market in this tick (its cap): this engine's count, or the fund shard's."""
    return e.global_draws.get(instr_idx, 0) if e.shard_link is None else e.shard_link.fund_drawn(instr_idx)


def _fund_balance(e: LiquidationState, asset: str, key: str) -> int:
    """What an insurance fund holds now: this engine's balance, or the fund shard's (:mod:`ramparts.shard`)."""
    return e.ledger.balance(asset, key) if e.shard_link is None else e.shard_link.fund_balance(asset, key)


def _apply_draws(e: LiquidationState, s: int, draws: list) -> list[dict]:
    out = []
    for instr, key, amount in draws:
        e.ledger.transfer(e.settlement.symbol, key, s, amount)
        if key == "insurance:global":
            if e.shard_link is None:
                e.global_draws[instr.index] = e.global_draws.get(instr.index, 0) + amount
            else:  # the fund shard counts the draws of every shard
                e.shard_link.fund_draw(instr.index, amount)
        out.append({"kind": "InsuranceFundDraw", "subaccount": e.subs.name(s), "instrument": instr.symbol, "fund": key, "amount": amount})
    return out


def _deleverage(e: LiquidationState, s: int, instr: Instrument, slot: int, deficit: int, touched: set[int]) -> list[dict]:
    """Close a bankrupt position against ranked opposite positions at its bankruptcy price."""
    b = e.book
    lots = int(b.lots[slot])
    mark = e.markets[instr.index].mark
    side = 1 if lots > 0 else -1
    value = lots * mark
    # on a shard, the ADL coordinator merges every shard's ranking into the one-engine order (ramparts.shard)
    order = adl_candidates(e, s, instr.index, side) if e.shard_link is None else e.shard_link.adl_candidates(e, s, instr.index, side)
    takes: list[tuple[int, int]] = []
    before: list[tuple[int, int, int]] = []  # each counterparty's position before: unrealised PnL, |notional|, account equity
    remaining = abs(lots)
    for c, c_lots, c_value, c_entry, c_equity, *_ in order:
        if remaining == 0:
            break
        take = min(remaining, abs(c_lots))
        takes.append((c, take))
        before.append((c_value - c_entry, abs(c_value), c_equity))
        remaining -= take
    assert remaining == 0, "open interest does not net to zero"
    counter_total = value + deficit  # what the counterparties pay in total, signed
    quotes = allocate_pro_rata(counter_total, [t for _, t in takes])
    bankrupt_price = _price_str(instr, counter_total, lots)
    e.trade(s, instr, -lots, -counter_total)
    effects = []
    for (c, take), q, (pnl, notional, eq) in zip(takes, quotes, before, strict=True):
        e.trade(c, instr, side * take, q)
        e.realise(c)
        touched.add(c)
        effects.append(
            {
                "kind": "Deleverage",
                "subaccount": e.subs.name(s),
                "counterparty": e.subs.name(c),
                "instrument": instr.symbol,
                "lots": side * take,
                "quote": q,
                "bankruptcy_price": bankrupt_price,
                # the counterparty's position and account before the ADL (what a venue's ADL study reads)
                "counterparty_pnl": pnl,
                "counterparty_notional": notional,
                "counterparty_equity": eq,
            }
        )
    return effects


def adl_candidates(e: LiquidationState, s: int, instr_idx: int, side: int, *, keyed: bool = False):
    """The positions of instrument ``instr_idx`` opposite to ``side`` held on this engine, other than
    ``s``'s, in deleveraging order: rows (sub-account, lots, value, entry notional, account equity),
    with ``keyed`` each followed by its sort key (a tuple), so that the rows of several shards merged by
    (key, sub-account) come in the order one engine holding them all would give (:mod:`ramparts.shard`)."""
    b = e.book
    h = b.holders(instr_idx)
    opp = h[(np.sign(b.lots[h]) == -side) & (b.sub[h] != s)]
    subs = b.sub[opp].astype(np.int64)
    equity = e.equity_array(subs)
    lots, value, entry = b.lots[opp], b.value[opp], b.entry[opp]
    if e.liq.last_resort is LastResort.ADL_RANDOM:
        if keyed:
            raise AssertionError("a random-start ADL has no merge key")
        start = random_start(e.seq + 1, e.subs.name(s), e.instruments[instr_idx].symbol, int(opp.size))
        k = np.concatenate([np.arange(start, opp.size), np.arange(start)])  # holders are sorted by sub-account index
    else:
        k = adl_ranking(lots, value, entry, equity, subs, e.liq.adl_rank)
    rows = zip(subs[k].tolist(), lots[k].tolist(), value[k].tolist(), entry[k].tolist(), equity[k].tolist(), strict=True)
    if not keyed:
        return rows
    if AdlRank(e.liq.adl_rank) is AdlRank.HYPERLIQUID:  # adl_ranking's sort keys, most significant first
        in_profit = (value.astype(np.float64) - entry.astype(np.float64)) > 0
        keys = list(zip((~in_profit[k]).tolist(), (-_hyperliquid_keys(value, entry, equity)[k]).tolist(), strict=True))
    else:
        keys = [(x,) for x in (-adl_scores(lots, value, entry, equity)[k]).tolist()]
    return [(*r, key) for r, key in zip(rows, keys, strict=True)]


def _socialise(e: LiquidationState, s: int, instr: Instrument, side: int, loss: int, touched: set[int]) -> dict:
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
            e.realise(k)
            e.ledger.transfer(asset, k, "socialised_loss", c)
            touched.add(k)
            charged += c
    return {
        "kind": "SocialisedLoss",
        "subaccount": e.subs.name(s),
        "instrument": instr.symbol,
        "loss": loss,
        "charged": charged,
        "unrecovered": loss - charged,
        "payers": int(len(charges)),
    }


def _finish(e: LiquidationState, s: int, ts: int, touched: set[int]) -> list[dict]:
    e.in_liquidation[s] = False
    e.margin_called[s] = False
    e.last_step_ns[s] = ts
    e.auctions.pop(s, None)
    e.liq_freed.pop(s, None)
    e.insolvent_auctions.pop(s, None)
    e.insolvent.discard(s)
    others = np.array(sorted(touched - {s}), dtype=np.int64)
    effects = (e.margin_calls(others) if e.shard_link is None else e.shard_link.margin_calls(e, others)) if others.size else []
    if e.equity(s) < 0:
        e.insolvent.add(s)
    return effects


def random_start(seq: int, subaccount: str, symbol: str, n: int) -> int:
    """dYdX v4's pseudo-random start of the deleveraging iteration, made deterministic: the first
    8 bytes of SHA-256 over ``"<seq>:<sub-account>:<instrument>"`` modulo ``n`` (the number of
    opposite positions, ordered by sub-account index). It depends on nothing but the event's
    sequence number and names, never on dict or set order."""
    if n <= 0:
        return 0
    digest = hashlib.sha256(f"{seq}:{subaccount}:{symbol}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def _socialise_funding(e: LiquidationState, s: int, instr: Instrument, side: int, loss: int, touched: set[int]) -> dict:
    """Drift v2's socialisation: a one-off funding-like settlement that charges ``loss`` to every open
    position of the market (longs and shorts alike, the backstop vault excepted) pro rata to its
    size in lots. The parts are exact (largest remainder) and sum to the loss; like funding, the
    charge is not capped by the payer's equity (a payer it bankrupts is resolved in the same tick)."""
    b = e.book
    asset = e.settlement.symbol
    e.ledger.transfer(asset, "socialised_loss", s, loss)
    h = b.holders(instr.index)
    payers = h[(b.sub[h] != s) & ~e.is_system[b.sub[h]] & (b.lots[h] != 0)]
    weights = np.abs(b.lots[payers]).tolist()
    total_lots = sum(weights)
    charges = allocate_pro_rata(loss, weights) if total_lots else []
    longs = shorts = 0
    if charges:
        subs = b.sub[payers].astype(np.int64)
        e.ledger.post_sub_cash_vector(subs, -np.array(charges, dtype=np.int64), "socialised_loss")
        touched.update(subs.tolist())
        is_long = (b.lots[payers] > 0).tolist()
        longs = sum(c for c, lg in zip(charges, is_long, strict=True) if lg)
        shorts = sum(charges) - longs
    charged = sum(charges)
    return {
        "kind": "SocialisedFunding",
        "subaccount": e.subs.name(s),
        "instrument": instr.symbol,
        "loss": loss,
        "charged": charged,
        "unrecovered": loss - charged,
        "payers": len(charges),
        "lots": total_lots,
        "per_lot": str((Decimal(loss) / total_lots).quantize(Decimal("1e-6"))) if total_lots else "0",
        "longs_paid": longs,
        "shorts_paid": shorts,
    }


def _dilute(e: LiquidationState, s: int, instr: Instrument, side: int, loss: int, touched: set[int]) -> dict:
    """Derive's cash dilution: ``loss`` spread over every positive settlement-asset balance of a
    non-system sub-account, pro rata to the balance (exact, largest remainder). No holder pays more
    than its balance; what exceeds all balances stays in ``socialised_loss`` as bad debt."""
    asset = e.settlement.symbol
    e.ledger.transfer(asset, "socialised_loss", s, loss)
    n = len(e.subs)
    cash = e.ledger.sub_cash[:n]
    idx = np.arange(n, dtype=np.int64)
    holders = idx[(cash > 0) & ~e.is_system[:n] & (idx != s)]
    weights = cash[holders].tolist()
    total = sum(weights)
    charged = min(loss, total)
    charges = allocate_pro_rata(charged, weights) if total else []
    if charged:
        e.ledger.post_sub_cash_vector(holders, -np.array(charges, dtype=np.int64), "socialised_loss")
        touched.update(holders.tolist())
    return {
        "kind": "Dilution",
        "subaccount": e.subs.name(s),
        "instrument": instr.symbol,
        "loss": loss,
        "charged": charged,
        "unrecovered": loss - charged,
        "holders": len(charges),
        "balances": total,
    }


def hedge_insurance(e: LiquidationState, ts: int) -> list[dict]:
    """Reduce the backstop vault's net position in every market towards zero, at most
    ``hedge_max_notional`` per market per tick, at the mark against the account holding the largest
    opposite position (ties to the lower sub-account index). Markets whose liquidation is paused,
    without a mark or settled are left alone, as is a market without an opposite position."""
    cfg = e.liq
    b = e.book
    vault = e.backstop
    effects: list[dict] = []
    for instr_idx, slot in b.positions_of(vault):
        instr = e.instruments[instr_idx]
        m = e.markets[instr_idx]
        lots = int(b.lots[slot])
        if not lots or m.mark <= 0 or m.settled or e.defences.blocked(instr.symbol, "liquidation"):
            continue
        limit = abs(lots) if not cfg.hedge_max_notional else min(abs(lots), cfg.hedge_max_notional // m.mark)
        if not limit:
            continue
        side = 1 if lots > 0 else -1
        h = b.holders(instr_idx)
        opp = h[(np.sign(b.lots[h]) == -side) & ~e.is_system[b.sub[h]]]
        if not opp.size:
            continue
        c_slot = int(opp[np.lexsort((b.sub[opp], -np.abs(b.lots[opp])))[0]])
        c = int(b.sub[c_slot])
        q = min(limit, abs(int(b.lots[c_slot])))
        delta = -side * q
        quote = delta * m.mark
        entry_before = int(b.entry[slot])
        e.trade(vault, instr, delta, quote)
        e.trade(c, instr, -delta, -quote)
        pnl = -quote - (entry_before - int(b.entry[slot]))  # the vault's realised PnL on the closed lots
        e.realise(vault)
        e.realise(c)
        effects.append({
            "kind": "InsuranceHedge",
            "instrument": instr.symbol,
            "counterparty": e.subs.name(c),
            "lots": delta,
            "price": _price_str(instr, quote, delta),
            "vault_lots_before": lots,
            "vault_lots_after": lots + delta,
            "vault_pnl": pnl,
            "vault_equity": e.equity(vault),
            "insurance_fund": e.ledger.balance(e.settlement.symbol, e.insurance_key(instr)),
        })
    return effects


# ---------------------------------------------------------------------------- keepers


def _bid_target(e: LiquidationState, bid) -> tuple[int, int, int | None, int | None]:
    """Validate a :class:`~ramparts.engine.events.LiquidationBid` against the state (nothing changes):
    returns (keeper, target, lot cap, fraction cap)."""

    k = e.sub_index(bid.liquidator, "liquidator")
    s = e.sub_index(bid.subaccount)
    if k == s:
        raise InvalidInput("liquidator", "a sub-account cannot liquidate itself")
    if e.is_system[k]:
        raise InvalidInput("liquidator", f"{e.subs[k].id} is a system account; keepers are ordinary sub-accounts")
    if e.is_system[s]:
        raise Rejected("not_liquidatable", f"{e.subs[s].id} is a system account")
    if bid.max_fraction_ppm is not None and bid.size is not None:
        raise InvalidInput("size", "give max_fraction_ppm or size, not both")
    frac = bid.max_fraction_ppm
    if frac is not None and (not isinstance(frac, int) or isinstance(frac, bool) or not 0 < frac <= PPM):
        raise InvalidInput("max_fraction_ppm", f"must be an int in 1..1,000,000, got {frac!r}")
    md = bid.min_discount_ppm
    if not isinstance(md, int) or isinstance(md, bool) or not 0 <= md <= PPM:
        raise InvalidInput("min_discount_ppm", f"must be an int in 0..1,000,000, got {md!r}")
    equity, mm = e.equity(s), int(e.sub_mm[s])
    if not e.book.n_positions_of(s) or not (equity < mm or (e.in_liquidation[s] and equity < _target(e, mm))):
        raise Rejected("not_liquidatable", f"{e.subs[s].id} is not liquidatable (equity {equity}, maintenance {mm})")
    for instr_idx, _ in e.book.positions_of(s):
        why = e.defences.blocked(e.instruments[instr_idx].symbol, "liquidation")
        if why:
            raise Rejected("liquidation_paused", f"liquidation of {e.subs[s].id} is paused: {why}")
    lot_cap = None
    if bid.size is not None:
        instr = e.instruments[plan_position(e, s)[0]]
        lot_cap = instr.lots(bid.size, "size")
        if lot_cap <= 0:
            raise InvalidInput("size", f"must be positive, got {bid.size}")
    return k, s, lot_cap, frac


def plan_position(e: LiquidationState, s: int) -> tuple[int, int]:
    """(instrument, slot) of the position the next step reduces: the largest maintenance margin."""
    b = e.book
    return max(b.positions_of(s), key=lambda p: (int(b.mm[p[1]]), -p[0]))


def _bid_cap(e: LiquidationState, s: int, lot_cap: int | None, frac: int | None) -> int | None:
    if lot_cap is not None:
        return lot_cap
    if frac is not None:
        _, slot = plan_position(e, s)
        return max(ceil_div(abs(int(e.book.lots[slot])) * frac, PPM), 1)
    return None


def _check_keeper(e: LiquidationState, k: int, changes: list[tuple[Instrument, int]], gain: int) -> None:
    """Reject unless keeper ``k`` passes initial margin after taking ``changes`` [(instrument, lots)]
    at the mark and gaining ``gain``."""

    sub = e.subs[k]
    b = e.book
    im = int(e.sub_im[k])
    for instr, d in changes:
        if sub.mode is MarginMode.ISOLATED and sub.instrument != instr.index:
            raise Rejected("isolated", f"keeper {sub.id} is isolated on {e.instruments[sub.instrument].symbol}")
        mark = e.markets[instr.index].mark
        slot = b.slot(k, instr.index)
        old = int(b.lots[slot]) if slot is not None else 0
        new = old + d
        if abs(new) * mark > MAX_NOTIONAL:
            raise InvalidInput("size", f"the position of {sub.id} would overflow the notional limit")
        im += (e.requirements(instr, new, mark)[0] if new else 0) - (int(b.im[slot]) if slot is not None else 0)
    equity = e.equity(k) + gain
    if equity < im:
        q = e.settlement
        raise Rejected("initial_margin", f"keeper {sub.id}: equity after taking the position {q.amount(equity)} is below its "
                                         f"initial margin {q.amount(im)}")


def keeper_bid(e: LiquidationState, bid, ts: int) -> list[dict]:
    """Fill a keeper's bid now (or queue it when ``batch_auction`` is on); see ``LiquidationBid``."""

    cfg = e.liq
    if cfg.pricing is Pricing.ORDER_BOOK:
        raise Rejected("order_book", "liquidations trade against the book (pricing order_book): keeper bids are not taken")
    k, s, lot_cap, frac = _bid_target(e, bid)
    if cfg.batch_auction:
        if any(p["keeper"] == k and p["subaccount"] == s for p in e.pending_bids):
            raise Rejected("duplicate_bid", f"{e.subs[k].id} already bids on {e.subs[s].id} in this tick")
        e.pending_bids.append({"seq": e.seq + 1, "keeper": k, "subaccount": s, "lots": lot_cap, "max_fraction_ppm": frac,
                               "min_discount_ppm": bid.min_discount_ppm})
        return [{"kind": "BidQueued", "liquidator": e.subs.name(k), "subaccount": e.subs.name(s),
                 "min_discount_ppm": bid.min_discount_ppm, "queued": len(e.pending_bids)}]
    equity, mm = e.equity(s), int(e.sub_mm[s])
    dutch = cfg.pricing is Pricing.DUTCH_AUCTION
    bankrupt = equity < 0 or (equity == 0 and mm > 0)
    if bankrupt and not dutch:
        raise Rejected("bankrupt", f"{e.subs[s].id} is bankrupt: the next tick resolves it through the insurance fund")
    last = e.last_step_ns.get(s)
    if not dutch and last is not None and ts - last < cfg.cooldown_ns:
        raise Rejected("cooldown", f"{e.subs[s].id} was liquidated {(ts - last) / 1e9:.3f}s ago (cool-down {cfg.cooldown_ns / 1e9:g}s)")
    disc = auction_discount(cfg, ts - e.auctions[s]) if dutch and s in e.auctions else (0 if dutch else keeper_discount(e, s, ts))
    if bankrupt and cfg.auction_insolvent_ns:  # Derive's insolvent auction: the share of the maintenance margin paid now
        disc = min(insolvent_elapsed_s(e.insolvent_auctions.get(s), ts) * 10**9 * PPM // cfg.auction_insolvent_ns, PPM)
    if disc < bid.min_discount_ppm:
        raise Rejected("discount", f"the current discount {disc} ppm is below the bid's minimum {bid.min_discount_ppm} ppm")
    if bankrupt:
        return _auction_insolvent(e, k, s, ts, disc)
    plan = plan_step(e, s, disc=disc if dutch else None, max_qty=_bid_cap(e, s, lot_cap, frac), ts=ts)
    if plan.qty == 0 and cfg.max_pct_limited:
        raise Rejected("max_pct", f"Drift's max percentage to liquidate allows no step of {e.subs[s].id} yet")
    _check_keeper(e, k, [(plan.instr, -plan.delta)], plan.reward)
    # validated: mutate
    effects: list[dict] = []
    e.realise(s)
    effects += _enter_liquidation(e, s, equity, mm)
    _start_fee_clock(e, s, ts)
    if dutch:
        effects += _start_auction(e, s, ts, equity, mm)
    return effects + _execute(e, s, ts, plan, [(k, plan.qty)], e.subs.name(k))


def _auction_insolvent(e: LiquidationState, k: int, s: int, ts: int, disc: int) -> list[dict]:
    """A keeper buys an insolvent account's auction: every position at the mark; the insurance fund
    pays the deficit and the keeper the discount × the account's maintenance margin, or, with
    ``auction_insolvent_ns``, Derive's insolvent bid price (:func:`~ramparts.liquidation.pricing.insolvent_auction_payout`)."""

    b = e.book
    cfg = e.liq
    equity, mm = e.equity(s), int(e.sub_mm[s])
    deficit = -equity if equity < 0 else 0
    if cfg.auction_insolvent_ns:
        bonus = insolvent_auction_payout(cfg, equity, mm, insolvent_elapsed_s(e.insolvent_auctions.get(s), ts)) - deficit
    else:
        bonus = disc * mm // PPM
    positions = [(e.instruments[i], slot) for i, slot in b.positions_of(s)]
    weights = [int(b.mm[slot]) for _, slot in positions]
    if sum(weights) == 0:
        weights = [abs(int(b.value[slot])) for _, slot in positions]
    need = allocate_pro_rata(deficit + bonus, weights)
    draws, rest = _fund_plan(e, [(instr, d) for (instr, _), d in zip(positions, need, strict=True)])
    if sum(rest):
        raise Rejected("insurance_insufficient", f"the insurance fund cannot pay the auction of {e.subs[s].id} "
                                                 f"({deficit + bonus} needed); the next tick resolves it")
    _check_keeper(e, k, [(instr, int(b.lots[slot])) for instr, slot in positions], bonus)
    # validated: mutate
    e.realise(s)
    effects: list[dict] = [{"kind": "Bankruptcy", "subaccount": e.subs.name(s), "equity": equity, "deficit": deficit}]
    shares = allocate_pro_rata(deficit, weights)
    keeper_id = e.subs.name(k)
    for (instr, slot), d in zip(positions, shares, strict=True):
        step = _close_at_mark(e, s, instr, slot, d, equity, mm, taker=k)
        step.update({"liquidator": keeper_id, "pricing": "dutch_auction", "discount_ppm": disc})
        effects.append(step)
    e.realise(s)
    e.realise(k)
    effects += _apply_draws(e, s, draws)
    e.ledger.transfer(e.settlement.symbol, s, k, bonus)
    effects.append({"kind": "AuctionInsolventFill", "subaccount": e.subs.name(s), "liquidator": keeper_id, "deficit": deficit,
                    "discount_ppm": disc, "to_liquidator": bonus, "insurance_paid": deficit + bonus})
    return effects + _finish(e, s, ts, {s, k})


def clear_batch(e: LiquidationState, ts: int, paused: np.ndarray) -> list[dict]:
    """Clear the bids collected since the last tick: per account (in sub-account order), the bids
    able to pay are taken in the order (min discount, keeper id) until the step is filled, and all
    fills pay one uniform discount, the highest minimum among them. A bid on an account that is no
    longer liquidatable, bankrupt or paused, asking more than the strategy's current discount, or
    whose keeper would fail initial margin, is dropped with a ``BidDropped`` effect."""
    cfg = e.liq
    bids, e.pending_bids = e.pending_bids, []
    by_target: dict[int, list[dict]] = {}
    for bid in bids:
        by_target.setdefault(bid["subaccount"], []).append(bid)
    effects: list[dict] = []
    dutch = cfg.pricing is Pricing.DUTCH_AUCTION

    def drop(bid: dict, why: str) -> None:
        effects.append({"kind": "BidDropped", "liquidator": str(e.subs[bid["keeper"]].id), "subaccount": str(e.subs[bid["subaccount"]].id),
                        "min_discount_ppm": bid["min_discount_ppm"], "reason": why})

    for s in sorted(by_target):
        group = sorted(by_target[s], key=lambda x: (x["min_discount_ppm"], str(e.subs[x["keeper"]].id)))
        equity, mm = e.equity(s), int(e.sub_mm[s])
        if not e.book.n_positions_of(s) or not (equity < mm or (e.in_liquidation[s] and equity < _target(e, mm))):
            for bid in group:
                drop(bid, "not_liquidatable")
            continue
        last = e.last_step_ns.get(s)
        why = ("liquidation_paused" if paused[s] else "bankrupt" if equity < 0 or (equity == 0 and mm > 0)
               else "cooldown" if not dutch and last is not None and ts - last < cfg.cooldown_ns else None)
        if why:
            for bid in group:
                drop(bid, why)
            continue
        e.realise(s)
        effects += _enter_liquidation(e, s, equity, mm)
        if dutch:
            effects += _start_auction(e, s, ts, equity, mm)
        _start_fee_clock(e, s, ts)
        limit = auction_discount(cfg, ts - e.auctions[s]) if dutch else keeper_discount(e, s, ts)
        full = plan_step(e, s, disc=limit if dutch else None, ts=ts)
        remaining = full.qty
        fills: list[tuple[dict, int]] = []
        for bid in group:
            if bid["min_discount_ppm"] > limit:
                drop(bid, "discount")
                continue
            if remaining == 0:
                drop(bid, "step_filled")
                continue
            cap = _bid_cap(e, s, bid["lots"], bid["max_fraction_ppm"])
            take = remaining if cap is None else min(cap, remaining)
            try:
                _check_keeper(e, bid["keeper"], [(full.instr, -(full.delta // full.qty) * take)], 0)
            except Exception:  # noqa: BLE001 - a keeper that cannot carry the position is skipped
                drop(bid, "initial_margin")
                continue
            fills.append((bid, take))
            remaining -= take
        if not fills:
            continue
        clearing = max(bid["min_discount_ppm"] for bid, _ in fills)
        plan = plan_step(e, s, disc=limit if dutch else None, rate=clearing, qty=full.qty - remaining, ts=ts)
        takers = [(bid["keeper"], take) for bid, take in fills]
        effects.append({"kind": "BatchAuctionCleared", "subaccount": e.subs.name(s), "instrument": plan.instr.symbol,
                        "clearing_discount_ppm": clearing, "strategy_discount_ppm": limit, "step_lots": full.qty,
                        "filled_lots": plan.qty, "bids": len(group),
                        "fills": [[str(e.subs[bid["keeper"]].id), take] for bid, take in fills]})
        effects += _execute(e, s, ts, plan, takers, "batch")
    return effects
