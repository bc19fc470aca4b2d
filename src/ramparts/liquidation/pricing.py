"""Liquidation pricing strategies: at what price a liquidated position closes and what penalty it pays.

This module holds the fixed penalty at mark ± fee, and the two time schedules that the engine takes
from the venues' own arithmetic (their one home stays in :mod:`ramparts.venues`; these functions only
convert the engine's nanoseconds and base units to the venue's clock):

* :func:`oracle_fee_ppm` — Drift v2's liquidation fee rising over time (``get_liquidation_fee``,
  protocol-v2 0ae3e3b ``math/liquidation.rs``, ported as :func:`ramparts.venues.drift.liquidation_fee`):
  the base fee ``penalty_ppm`` for the first 1,500 slots of a liquidation, then
  ``base + (slot − start slot) × 1 ppm``, capped at ``fee_max_ppm``. A slot is ``fee_ramp_slot_ns``
  (Solana's 400 ms target: Drift's own "1,500 slots ≈ 10 minutes"); slots are absolute
  (``ts // slot_ns``), as Drift compares the current slot with the slot the liquidation began in.
* :func:`max_pct_to_liquidate` — Drift v2's limit on how much of its shortage a liquidation may free by now
  (``calculate_max_pct_to_liquidate``, protocol-v2 0ae3e3b ``math/liquidation.rs``, ported as
  :func:`ramparts.venues.drift.max_pct_to_liquidate`), over the same slots as the fee and with the engine's
  shortage and freed margin converted to Drift's 1e6 quote units.
* :func:`insolvent_auction_payout` — Derive v2's insolvent auction (``DutchAuction.sol``
  ``_getInsolventAuctionBidPrice`` at v2-core 7736900, ported as
  :func:`ramparts.venues.derive.da_insolvent_bid_price`): the bid price moves linearly from
  ``min(MtM, 0)`` to ``MM`` (Derive's signed margin, equity − maintenance) over
  ``auction_insolvent_ns``; a bidder taking the whole account receives ``−price`` from the security
  module (the insurance fund). With the engine's equity ``E ≤ 0`` and maintenance ``M`` that is
  ``−E + ⌊M·t / length⌋``: the deficit, plus the maintenance margin pro rata to the time elapsed.
  Derive counts block timestamps in whole seconds: ``t = ts // 1e9 − start // 1e9``.

The engine's other strategies (``oracle_fee``, ``dutch_auction``, ``order_book``, selected by
``LiquidationConfig.pricing``) are priced by :func:`ramparts.liquidation.waterfall.plan_step`,
because they depend on the account's equity and requirements, not only on the closed lots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ramparts.fixedpoint import PPM, ceil_div
from ramparts.venues import derive, drift

NS_PER_S = 10**9


@dataclass(frozen=True, slots=True)
class LiquidationQuote:
    """The close of ``lots`` lots: total signed quote the *liquidated* account pays (``quote``,
    negative = receives) and the penalty it owes on top, before the equity cap."""

    quote: int
    penalty: int


class LiquidationPricing(Protocol):
    def quote(self, lots_closed: int, mark: int) -> LiquidationQuote:
        """Price the close of ``lots_closed`` (signed: the change of the liquidated position)."""
        ...


@dataclass(frozen=True, slots=True)
class FixedPenaltyPricing:
    """Close at the mark; the penalty is ``penalty_ppm`` of the closed notional, rounded up.

    The economic price seen by the liquidated account is mark ∓ penalty (a long sells at
    ``mark × (1 − penalty)``, a short buys at ``mark × (1 + penalty)``).
    """

    penalty_ppm: int

    def quote(self, lots_closed: int, mark: int) -> LiquidationQuote:
        notional = abs(lots_closed) * mark
        return LiquidationQuote(quote=lots_closed * mark, penalty=ceil_div(notional * self.penalty_ppm, PPM))


def oracle_fee_ppm(cfg, started_ns: int | None, ts: int) -> int:
    """The liquidation fee (ppm of the closed notional) of ``oracle_fee`` pricing at ``ts`` for a liquidation
    that began at ``started_ns`` (``None``: it begins now). Fixed ``penalty_ppm`` unless ``fee_ramp_slot_ns``
    is set; then Drift's :func:`~ramparts.venues.drift.liquidation_fee` over the slots in between."""
    if not cfg.fee_ramp_slot_ns:
        return cfg.penalty_ppm
    slot_ns = cfg.fee_ramp_slot_ns
    start = ts if started_ns is None else started_ns
    return drift.liquidation_fee(cfg.penalty_ppm, cfg.fee_max_ppm, start // slot_ns, ts // slot_ns)


#: Drift's 100 % for the max percentage to liquidate (1e4).
LIQUIDATION_PCT_PRECISION = drift.LIQUIDATION_PCT_PRECISION


def drift_quote(units: int, decimals: int) -> int:
    """``units`` of the settlement asset (``decimals`` decimals) in Drift's QUOTE_PRECISION (1e6), truncated:
    ``units × 10^6 / 10^decimals`` (the identity for USDC)."""
    if decimals <= 6:
        return units * 10 ** (6 - decimals)
    return units // 10 ** (decimals - 6)


def max_pct_to_liquidate(cfg, started_ns: int | None, ts: int, shortage: int, freed: int, decimals: int) -> int:
    """The share (Drift's 1e4) of the current ``shortage`` that a step at ``ts`` may free, for a liquidation that
    began at ``started_ns`` (``None``: now) and has freed ``freed`` so far (both in settlement base units with
    ``decimals`` decimals): Drift's :func:`~ramparts.venues.drift.max_pct_to_liquidate` with
    ``slot = ts // fee_ramp_slot_ns``, ``last_active_slot = start // fee_ramp_slot_ns``, ``initial_pct =
    max_pct_initial_bps`` and ``liquidation_duration = max_pct_duration_slots``, i.e.
    ``(min(initial + 1e4·slots/duration, 1e4) × (S + F) / 1e4 − F) × 1e4 / S`` (100 % when ``S`` < $50).
    Always 100 % while the limit is off (``max_pct_initial_bps`` = 10,000)."""
    if not cfg.max_pct_limited:
        return drift.LIQUIDATION_PCT_PRECISION
    slot_ns = cfg.fee_ramp_slot_ns
    start = ts if started_ns is None else started_ns
    return drift.max_pct_to_liquidate(drift_quote(shortage, decimals), ts // slot_ns, start // slot_ns,
                                      drift_quote(freed, decimals), cfg.max_pct_initial_bps, cfg.max_pct_duration_slots)


def insolvent_elapsed_s(started_ns: int | None, ts: int) -> int:
    """Whole seconds of block time between the start of an insolvent auction and ``ts`` (Derive's clock)."""
    start = ts if started_ns is None else started_ns
    return max(ts // NS_PER_S - start // NS_PER_S, 0)


def insolvent_auction_payout(cfg, equity: int, maintenance: int, elapsed_s: int) -> int:
    """What the insurance fund pays the buyer of a whole insolvent account (``equity ≤ 0``, quote base units)
    ``elapsed_s`` into its insolvent auction: ``−da_insolvent_bid_price(equity − maintenance, equity, t)``
    with Derive's ``insolventAuctionLength = auction_insolvent_ns / 1e9`` (the venue's formula, evaluated
    in the engine's base units; it truncates toward zero, so the fund pays the smaller amount)."""
    params = derive.DutchAuctionParams(insolvent_auction_length=cfg.auction_insolvent_ns // NS_PER_S)
    return -derive.da_insolvent_bid_price(equity - maintenance, equity, elapsed_s, params)
