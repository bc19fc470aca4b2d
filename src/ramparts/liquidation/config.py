"""The parameters of the liquidation waterfall, each stage configurable on its own.

Defaults are documented per field; all money is in quote base units, rates in ppm, times in ns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from ramparts.errors import InvalidInput


class LastResort(StrEnum):
    """What absorbs a loss the insurance fund cannot cover."""

    ADL = "adl"  #: close against opposite positions ranked by profit % × leverage, at the bankruptcy price
    ADL_RANDOM = "adl_random"  #: dYdX v4: opposite positions from a deterministic pseudo-random start, at the bankruptcy price
    SOCIALISED = "socialised"  #: charge the loss pro rata over the opposite side's open interest
    SOCIALISED_FUNDING = "socialised_funding"  #: Drift v2: a one-off funding-like charge on every open position of the market
    DILUTION = "dilution"  #: Derive: the loss spread over every settlement-asset balance holder (cash dilution)


class AdlRank(StrEnum):
    """How ``adl`` orders the opposite positions it deleverages (highest key first)."""

    PROFIT_LEVERAGE = "profit_leverage"  #: profit % × effective leverage (Binance's ranking; the default)
    #: Hyperliquid's documented key ``(mark / entry) × (notional / account value)``, positions in profit first
    HYPERLIQUID = "hyperliquid"


class Pricing(StrEnum):
    """How a liquidated position is priced and who takes it."""

    FIXED_PENALTY = "fixed_penalty"  #: at the mark, a fixed penalty split between liquidator and insurance fund
    DUTCH_AUCTION = "dutch_auction"  #: Derive: an auction whose discount grows with time (fast, then slow)
    ORACLE_FEE = "oracle_fee"  #: Drift v2: the liquidator takes the position at oracle × (1 ∓ fee), plus an insurance fee
    ORDER_BOOK = "order_book"  #: dYdX v4: a reduce-only IOC order against the venue's book at no worse than the fillable price


#: The keys added after the first state version: left out of :meth:`LiquidationConfig.to_dict` while
#: they hold their defaults, so that the state (and its hash) of a default venue is unchanged.
_LATER_KEYS = ("pricing", "if_fee_ppm", "auction_fast_ns", "auction_slow_ns", "auction_fast_discount_ppm",
               "auction_backstop_discount_ppm", "batch_auction", "backstop_below_ppm", "hedge_insurance", "hedge_max_notional",
               "book_account", "bankruptcy_adjustment_ppm", "spread_to_mmr_ppm", "fee_ramp_slot_ns", "fee_max_ppm",
               "auction_insolvent_ns", "auction_backstop_insolvent_ns", "adl_rank", "max_pct_initial_bps",
               "max_pct_duration_slots")
_ENUMS = {"last_resort": LastResort, "pricing": Pricing, "adl_rank": AdlRank}
_BOOLS = ("batch_auction", "hedge_insurance")
_STRS = ("book_account",)


@dataclass(frozen=True)
class LiquidationConfig:
    """Parameters of every stage of the waterfall.

    Trigger and target (a)
        liquidation starts when equity < maintenance margin and continues until
        equity ≥ maintenance × (1 + ``buffer_ppm``/1e6). Default buffer 10 %.
    Gradual steps (b)
        at most ``max_fraction_ppm`` of a position per step (default 20 %, Hyperliquid's first
        step), at least ``min_step_notional`` (default 10,000 USDC), ``cooldown_ns`` between two
        steps of one sub-account (default 30 s), and a full close when the position's notional is
        at most ``full_close_notional`` (default 100,000 USDC, Hyperliquid's threshold) or what
        would remain is below ``min_step_notional``.
    Pricing and penalty (c, d)
        the fixed-penalty strategy closes at the mark and charges ``penalty_ppm`` of the closed
        notional (default 1 %), never more than the account's remaining equity; the liquidator
        keeps ``liquidator_share_ppm`` of it (default 50 %), the insurance fund the rest.
    Insurance fund (e)
        a market's own fund pays first, then the global fund, which pays at most
        ``insurance_cap_per_tick`` per market per tick (0 = no cap).
    Last resort (f, g)
        ``last_resort``: ``adl`` (default; ranked by profit % × leverage), ``adl_random`` (dYdX v4
        deleveraging: opposite positions iterated from a pseudo-random start derived from the
        event's sequence number and the bankrupt sub-account, no ranking, at the bankruptcy
        price), ``socialised`` (pro rata over the opposite side's open interest, capped by each
        payer's equity), ``socialised_funding`` (Drift v2: a one-off funding-like settlement
        charging every open position of the market, both sides, pro rata to size, the parts
        summing exactly to the loss) or ``dilution`` (Derive: the loss spread pro rata over every
        positive settlement-asset balance).
        ``adl_rank`` orders ``adl``'s counterparties: ``profit_leverage`` (default; profit % × effective
        leverage, :func:`ramparts.liquidation.waterfall.adl_scores`) or ``hyperliquid`` (Hyperliquid's
        documented key ``(mark / entry) × (notional / account value)``, the positions in profit first).
    Pricing strategy
        ``pricing``: ``fixed_penalty`` (default, above), ``oracle_fee`` or ``dutch_auction``.

        ``oracle_fee`` (Drift v2 ``liquidate_perp``): the liquidator (the backstop vault, or a
        keeper's :class:`~ramparts.engine.events.LiquidationBid`) takes the position at
        oracle × (1 ∓ ``penalty_ppm``), so the whole liquidation fee is the liquidator's;
        the insurance fund charges ``min(if_fee_ppm, 95 % × max(MR_buf − fee − shortage / notional, 0))``
        of the closed notional (Drift's formula: MR_buf is the position's maintenance ratio with
        the buffer, shortage the account's distance to its buffered requirement); both fees
        together never exceed the account's equity. ``if_fee_ppm`` default 0.
        ``fee_ramp_slot_ns`` (default 0 = a fixed fee; Drift 400,000,000, a Solana slot) makes the
        liquidation fee rise over time as Drift's ``get_liquidation_fee`` does: ``penalty_ppm`` for the
        first 1,500 slots since the account entered liquidation, then ``+1 ppm`` a slot, capped at
        ``fee_max_ppm`` (Drift: ``min(3 × liquidator_fee, maintenance ratio)``); the insurance fee above
        uses the risen fee; see :func:`ramparts.liquidation.pricing.oracle_fee_ppm`. The liquidation's
        start is engine state (kept with the auctions').
        ``max_pct_initial_bps`` (default 10,000 = 100 % = off) and ``max_pct_duration_slots`` (default 0) limit
        each step as Drift's ``calculate_max_pct_to_liquidate`` does (needs ``fee_ramp_slot_ns``, the slot, and
        ``oracle_fee``): with the shortage ``S = max(maintenance × (1 + buffer) − equity, 0)`` (read in Drift's
        1e6 quote units) and ``F`` the margin freed by this liquidation's earlier steps (the sum of each step's
        fall in ``S``), a step may free ``pct = initial + 10,000 × slots since the start / duration``
        (capped at 100 %; 100 % when ``S`` < $50) of ``S + F``, less ``F``: it closes
        ``ceil(to_cover × max_pct / 1e4)`` lots, ``max_pct`` that allowance over ``S`` (1e4,
        :func:`ramparts.venues.drift.max_pct_to_liquidate`) and ``to_cover`` the smallest number of lots that
        restores the target (the whole position when none does), or the whole position when its notional is
        at most ``full_close_notional`` (Drift: $50); nothing while the allowance is 0. ``max_fraction_ppm``
        and ``min_step_notional`` do not apply then. ``F`` is engine state (kept with the auctions').

        ``dutch_auction`` (Derive's auction adapted to perps): the first tick that finds the
        account below maintenance starts an auction whose discount grows linearly from 0 to
        ``auction_fast_discount_ppm`` (default 20 %) over ``auction_fast_ns`` (default 10 min),
        then to 100 % over ``auction_slow_ns`` (default 2 h). The discount is a share of the
        equity that the bought part carries (its share of the maintenance margin, as in the
        bankruptcy price): a buyer takes the part at the mark and is paid that share × the
        discount, so at 100 % the part goes at its bankruptcy price. A buyer takes the smallest
        part of the largest position that restores maintenance × (1 + buffer) (the whole
        position if none does); ``max_fraction_ppm``, ``min_step_notional``, ``full_close_notional``
        and ``cooldown_ns`` do not apply. Keepers buy with ``LiquidationBid``; the backstop vault
        buys at a tick once the discount reaches ``auction_backstop_discount_ppm`` (default
        20 %). An insolvent account is bought whole: the insurance fund pays the deficit, and a
        keeper also the discount × the account's maintenance margin; without fund cover it goes
        to the last resort. The auctions are engine state (hashed, snapshotted).
        ``auction_insolvent_ns`` (default 0 = off, as above; Derive 600 s, whole seconds) runs Derive's
        insolvent auction instead: an account found with equity ≤ 0 starts one (``AuctionStarted`` with
        ``insolvent``); a keeper buying it receives from the insurance fund Derive's
        ``−bid price`` = the deficit + maintenance × elapsed / length (capped at the whole maintenance,
        :func:`ramparts.liquidation.pricing.insolvent_auction_payout`), and the tick resolves it as a
        bankruptcy (the vault takes it at the opening price: the fund pays the deficit only, then the
        last resort) once ``auction_backstop_insolvent_ns`` (default 0 = at once) has passed.
        ``order_book`` (dYdX v4 ``x/clob/keeper/liquidations.go``): a step is a reduce-only
        immediate-or-cancel order against the latest :class:`~ramparts.engine.events.BookSnapshot`
        of the market, sized by the partial-step rules above (``max_fraction_ppm``,
        ``min_step_notional``, ``full_close_notional``, ``buffer_ppm``; the estimate of its cost is
        the ``penalty_ppm`` fee). Its limit is dYdX's fillable price,
        ``(PNNV − ABR × SMMR × PMMR) / PS`` with ``ABR = clamp(BA × (1 − TNC/TMMR), 0, 1)``,
        ``BA = bankruptcy_adjustment_ppm`` (default 1e6, at least 1e6) and ``SMMR = spread_to_mmr_ppm``
        (default 1,500,000 = 1.5, dYdX's mainnet value), an exact rational rounded to the tick
        against the liquidated account (a sell up, a buy down). The order takes the levels at that
        price or better, best first, up to the step size (a partial fill is kept); each fill trades
        against ``book_account`` (the market maker standing behind the displayed liquidity: an
        existing, ordinary sub-account, default ``""`` = none) at the level's price and consumes the
        level. Per fill, with ``d = fillQuote − bankruptcyQuote`` (dYdX's
        ``GetLiquidationInsuranceFundDelta``), the insurance fund receives
        ``min(|fillQuote| × penalty_ppm / 1e6, d)`` when ``d > 0`` and pays ``|d|`` when ``d ≤ 0``; a
        fill the fund cannot pay is refused and ends the order. Nobody earns a reward (the price
        concession goes to the maker). When nothing fills and the account's equity is negative, the
        account goes straight to the last resort (``adl`` / ``adl_random`` at the bankruptcy price,
        without the fund; other last resorts as for a bankruptcy). One order per account per tick;
        keeper bids are refused.
    Keepers and batch auctions
        ``batch_auction`` (default false): ``LiquidationBid`` events are not filled at once but
        collected until the next tick, which clears each account's step at one uniform discount,
        the highest ``min_discount_ppm`` among the bids needed to fill it; bids are taken in the
        order (min discount, keeper id), never by arrival, and a bid asking more than the
        strategy's current discount is not filled.
    Backstop threshold (Hyperliquid)
        ``backstop_below_ppm`` (default 0 = off, Hyperliquid 666,667): when equity is below that
        fraction of maintenance, the whole account (every position at the mark and the
        remaining margin) goes to the backstop vault instead of a partial step.
    Insurance hedging
        ``hedge_insurance`` (default false): at every tick, the backstop vault's net position in
        each market is reduced by at most ``hedge_max_notional`` (quote units, default 0 = no
        limit) by closing it at the mark against the account with the largest opposite position
        (ties to the lower sub-account index); an ``InsuranceHedge`` effect records the
        vault's realised PnL, its equity and the fund's balance.
    """

    buffer_ppm: int = 100_000
    max_fraction_ppm: int = 200_000
    min_step_notional: int = 10_000 * 10**6
    cooldown_ns: int = 30 * 10**9
    full_close_notional: int = 100_000 * 10**6
    penalty_ppm: int = 10_000
    liquidator_share_ppm: int = 500_000
    insurance_cap_per_tick: int = 0
    last_resort: LastResort = LastResort.ADL
    pricing: Pricing = Pricing.FIXED_PENALTY
    if_fee_ppm: int = 0
    auction_fast_ns: int = 600 * 10**9
    auction_slow_ns: int = 7_200 * 10**9
    auction_fast_discount_ppm: int = 200_000
    auction_backstop_discount_ppm: int = 200_000
    batch_auction: bool = False
    backstop_below_ppm: int = 0
    hedge_insurance: bool = False
    hedge_max_notional: int = 0
    book_account: str = ""
    bankruptcy_adjustment_ppm: int = 1_000_000
    spread_to_mmr_ppm: int = 1_500_000
    fee_ramp_slot_ns: int = 0
    fee_max_ppm: int = 0
    auction_insolvent_ns: int = 0
    auction_backstop_insolvent_ns: int = 0
    adl_rank: AdlRank = AdlRank.PROFIT_LEVERAGE
    max_pct_initial_bps: int = 10_000
    max_pct_duration_slots: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _ENUMS:
                enum = _ENUMS[f.name]
                try:
                    object.__setattr__(self, f.name, enum(v))
                except ValueError:
                    names = ", ".join(repr(m.value) for m in enum)
                    raise InvalidInput(f"liquidation.{f.name}", f"unknown strategy {v!r} (one of {names})") from None
                continue
            if f.name in _STRS:
                if not isinstance(v, str) or len(v) > 64:
                    raise InvalidInput(f"liquidation.{f.name}", f"must be a sub-account id (a string of at most 64 characters), got {v!r}")
                continue
            if f.name in _BOOLS:
                if not isinstance(v, bool):
                    raise InvalidInput(f"liquidation.{f.name}", f"must be true or false, got {v!r}")
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidInput(f"liquidation.{f.name}", f"must be a non-negative int, got {v!r}")
        for name in ("max_fraction_ppm", "liquidator_share_ppm", "penalty_ppm", "if_fee_ppm", "auction_fast_discount_ppm",
                     "auction_backstop_discount_ppm", "backstop_below_ppm", "fee_max_ppm"):
            if getattr(self, name) > 1_000_000:
                raise InvalidInput(f"liquidation.{name}", "must be at most 1e6 (100 %)")
        for name in ("max_fraction_ppm", "auction_fast_ns", "auction_slow_ns"):
            if getattr(self, name) == 0:
                raise InvalidInput(f"liquidation.{name}", "must be positive")
        if self.fee_ramp_slot_ns and self.fee_max_ppm < self.penalty_ppm:
            raise InvalidInput("liquidation.fee_max_ppm", f"must be at least penalty_ppm ({self.penalty_ppm}) when the fee rises "
                                                          "over time (fee_ramp_slot_ns)")
        if self.max_pct_initial_bps > 10_000:
            raise InvalidInput("liquidation.max_pct_initial_bps", "must be at most 10,000 (100 %, Drift's 1e4 precision)")
        if self.max_pct_limited and (self.pricing is not Pricing.ORACLE_FEE or not self.fee_ramp_slot_ns):
            raise InvalidInput("liquidation.max_pct_initial_bps", "below 10,000 it needs pricing oracle_fee and fee_ramp_slot_ns "
                                                                  "(Drift's slot, the clock of its max percentage)")
        if self.auction_insolvent_ns % 10**9:
            raise InvalidInput("liquidation.auction_insolvent_ns", "must be whole seconds (Derive counts block time in seconds)")
        if self.bankruptcy_adjustment_ppm < 1_000_000:
            raise InvalidInput("liquidation.bankruptcy_adjustment_ppm", "must be at least 1e6 (dYdX: BA ≥ 1)")
        if self.book_account:
            from ramparts.domain.accounts import SubAccountId

            SubAccountId.parse(self.book_account, "liquidation.book_account")

    @property
    def max_pct_limited(self) -> bool:
        """Drift's max percentage to liquidate is on (``max_pct_initial_bps`` below 100 %)."""
        return self.max_pct_initial_bps < 10_000

    def to_dict(self) -> dict[str, Any]:
        """Every parameter; the later keys only where they differ from their defaults (see ``_LATER_KEYS``)."""
        d = self._full_dict()
        default = LiquidationConfig()
        for k in _LATER_KEYS:
            if getattr(self, k) == getattr(default, k):
                del d[k]
        return d

    def _full_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in _ENUMS:
            d[k] = getattr(self, k).value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiquidationConfig:
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise InvalidInput(f"liquidation.{k}", f"unknown parameter (known: {', '.join(sorted(known))})")
        return cls(**d)

    def replace(self, key: str, value: Any) -> LiquidationConfig:
        d = self._full_dict()
        if key not in d:
            raise InvalidInput(f"liquidation.{key}", f"unknown parameter (known: {', '.join(sorted(d))})")
        d[key] = value
        return LiquidationConfig.from_dict(d)
