"""Drift v2's spot-balance accounting and the controller's spot-side liquidations, as pure functions.

Reproduces, in Drift's units (token amounts in each market's decimals, scaled balances 1e9, cumulative interest
1e10, prices 1e6, weights 1e4, liquidation fees 1e6, percentages 1e4), from drift-labs/protocol-v2 at commit
``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``:

* ``math/spot_balance.rs::get_spot_balance`` and ``controller/spot_balance.rs::update_spot_balances`` (a token
  amount in or out of a scaled balance, the market's deposit / borrow totals, the revenue pool);
* ``controller/liquidation.rs::liquidate_spot`` (a borrow taken over for a deposit, an insurance-fund fee on the
  liability), ``liquidate_spot_with_swap_begin`` / ``_end`` (the checks around a liquidator's swap, then the
  user's side), ``liquidate_borrow_for_perp_pnl`` (a borrow taken over for closed positive perp pnl),
  ``liquidate_perp_pnl_for_deposit`` (negative perp pnl taken over for a deposit, cross or isolated),
  ``liquidate_perp`` over a multi-position account (:func:`liquidate_perp_in_account`, the flow's one home: the
  transfer is :func:`ramparts.venues.drift.liquidate_perp`, and :func:`ramparts.venues.drift.liquidate_perp_account`
  adapts a one-position account to it), ``liquidate_perp_with_fill`` (the position closed by a liquidation order
  filled against makers and the AMM, :func:`liquidate_perp_with_fill_in_account`; the fill is
  :mod:`ramparts.venues.drift_fill`) and the account side of ``resolve_perp_bankruptcy``, on a
  :class:`SpotAccount` (spot and perp positions plus the liquidation status fields of ``state/user.rs::User``);
* ``state/liquidation_mode.rs``: the cross and isolated perp liquidation modes (which calculation, status flags
  and orders a liquidation works on) and ``math/margin.rs::calculate_user_safest_position_tiers``.

The liquidations share one skeleton, written once here (``_begin`` / ``_transfer`` / ``_finish``)::

    margin     = maintenance calculation with the liquidation buffer (drift.account_margin), the mode's view
    refuse     SufficientCollateral unless being liquidated; leave when the buffered requirement is met
    enter      being_liquidated, margin_freed = 0, last_active_slot = slot (the fee / pct clocks)
    cancel     the mode's open orders; leave if that suffices (the freed margin is counted)
    to_cover   = liability_transfer_to_cover_margin_shortage(shortage, aw, am, lw + buffer, lm, if_fee)
    allowed    = to_cover · max_pct / 1e4  (saturating; max_pct_to_liquidate, or 100 % for an isolated position)
    transfer   = min(liquidator max, liability, max(allowed, all of it if worth ≤ $10), implied by the asset)
    asset      = asset_transfer_for_liability_transfer(transfer)
    then       the balances move, margin freed = shortage before − shortage after, leave if transfer ≥ to_cover,
               else bankrupt when only liabilities remain; the liquidator must meet its initial requirement.

An error leaves every input as it was: where Drift has already flagged the user as being liquidated before it
fails, a later call here enters liquidation afresh (at its own slot).

Interest accrual to ``now`` (``update_spot_market_cumulative_interest`` with the market's borrow-rate curve, and the
oracle TWAP update that follows it) is :func:`update_spot_market_cumulative_interest`; the liquidations here do not
call it: a caller replaying ``update_spot_market_and_check_validity`` applies it to the asset and liability markets
first. Not modelled: ``cumulative_deposits`` bookkeeping, the deposit / borrow token TWAPs, fuel bonuses, events,
paused operations, the LST-pool oracle-delay rule, and the insurance fund stake.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ramparts.errors import InvalidInput, Rejected
from ramparts.venues import drift_amm, drift_fill
from ramparts.venues.drift import (
    LIQUIDATION_FEE_PRECISION,
    LIQUIDATION_PCT_PRECISION,
    PERCENTAGE_PRECISION,
    QUOTE_PRECISION,
    SPOT_WEIGHT_PRECISION,
    U64_MAX,
    U128_MAX,
    AssetTier,
    ContractTier,
    MarginCalculation,
    MarginRequirementType,
    PerpBankruptcy,
    PerpLiquidation,
    PerpMarket,
    PerpPosition,
    SpotMarket,
    SpotPosition,
    _add_quote,
    _int,
    _nonneg,
    _price_of,
    account_margin,
    asset_transfer_for_liability_transfer,
    base_asset_amount_to_cover_margin_shortage,
    base_asset_value,
    contract_tier_is_as_safe_as,
    is_cross_margin_bankrupt,
    is_isolated_margin_bankrupt,
    liability_transfer_implied_by_asset_amount,
    liability_transfer_to_cover_margin_shortage,
    liquidate_perp,
    liquidation_fee,
    liquidation_multiplier,
    liquidation_order_limit_price,
    max_liquidation_fee,
    max_pct_to_liquidate,
    oracle_valid_for_liquidate,
    perp_if_fee,
    perp_margin_ratio,
    resolve_perp_bankruptcy,
    settle_funding_payment,
    spot_if_fee,
    spot_token_amount,
    standardize_base_asset_amount_ceil,
    token_value,
    unrealized_asset_weight,
    validate_swap_within_liquidation_boundaries,
    validate_transfer_satisfies_limit_price,
)

__all__ = [
    "AccountPerpFillLiquidation", "AccountPerpLiquidation", "CrossMarginLiquidatePerpMode", "IsolatedMarginLiquidatePerpMode", "SpotAccount", "SpotAccountLiquidation",
    "get_perp_liquidation_mode", "liquidate_borrow_for_perp_pnl", "liquidate_perp_in_account", "liquidate_perp_with_fill_in_account", "liquidate_perp_pnl_for_deposit",
    "liquidate_spot", "liquidate_spot_with_swap_begin", "liquidate_spot_with_swap_end", "oracle_too_divergent_with_twap_5min", "resolve_perp_bankruptcy_account", "safest_position_tiers", "spot_balance",
    "update_spot_balances", "spot_utilization", "spot_borrow_rate", "accumulated_interest",
    "update_spot_market_oracle_twaps", "update_spot_market_cumulative_interest",
]

MAX_SPOT_POSITIONS = 8
MAX_PERP_POSITIONS = 8
QUOTE_SPOT_MARKET_INDEX = 0
#: ``OracleGuardRails::default().max_oracle_twap_5min_percent_divergence()``: max(default 50 %, 50 %), 1e6
MAX_ORACLE_TWAP_5MIN_PERCENT_DIVERGENCE = PERCENTAGE_PRECISION // 2


# ============================================================================ spot balances
def spot_balance(token_amount: int, market: SpotMarket, borrow: bool = False, round_up: bool = False) -> int:
    """``math/spot_balance.rs::get_spot_balance`` @0ae3e3b: ``token × 10^(19 − decimals) / cumulative interest``
    (the borrow or deposit one), plus 1 when ``round_up`` and non-zero."""
    interest = market.cumulative_borrow_interest if borrow else market.cumulative_deposit_interest
    if interest == 0:
        raise Rejected("MathError", "cumulative interest is 0")
    balance = _nonneg("token_amount", token_amount) * 10 ** (19 - market.decimals) // interest
    return balance + 1 if round_up and balance != 0 else balance


def _market_total(market: SpotMarket, borrow: bool, delta: int) -> SpotMarket:
    """``increase_spot_balance`` / ``decrease_spot_balance``: the market's deposit or borrow total (u128)."""
    name = "borrow_balance" if borrow else "deposit_balance"
    total = getattr(market, name) + delta
    if total < 0:
        raise Rejected("MathError", f"{name} underflow")
    return replace(market, **{name: total})


def update_spot_balances(token_amount: int, to_borrow: bool, market: SpotMarket, position: SpotPosition,
                         is_leaving_drift: bool = False) -> tuple[SpotPosition, SpotMarket]:
    """``controller/spot_balance.rs::update_spot_balances`` @0ae3e3b: move ``token_amount`` in the direction
    ``to_borrow`` (a borrow / withdrawal) or not (a deposit / repayment). Same direction as the balance: add
    ``get_spot_balance`` (rounded up for a borrow). Opposite: first reduce the balance — by ``get_spot_balance``
    of the amount (rounded up for a borrow or on leaving Drift) when the balance's token amount exceeds it, else
    the whole balance — then put the rest on the other side (rounded up when that side is a borrow). The market's
    deposit / borrow totals move with the balance; leaving Drift with a borrow needs deposits ≥ borrows."""
    token = _nonneg("token_amount", token_amount)
    pos = position
    if to_borrow == pos.borrow:
        delta = spot_balance(token, market, to_borrow, round_up=pos.borrow)
        pos = replace(pos, scaled_balance=pos.scaled_balance + delta)
        market = _market_total(market, to_borrow, delta)
    else:
        current = spot_token_amount(pos.scaled_balance, market, pos.borrow)
        if current != 0:
            if current > token:
                delta = spot_balance(token, market, pos.borrow, round_up=is_leaving_drift or pos.borrow)
                token_delta = token
            else:
                delta, token_delta = pos.scaled_balance, current
            market = _market_total(market, pos.borrow, -delta)
            if delta > pos.scaled_balance:
                raise Rejected("MathError", "scaled balance underflow")
            pos = replace(pos, scaled_balance=pos.scaled_balance - delta)
            token -= token_delta
        if token > 0:
            pos = replace(pos, borrow=to_borrow)
            delta = spot_balance(token, market, to_borrow, round_up=to_borrow)
            pos = replace(pos, scaled_balance=pos.scaled_balance + delta)
            market = _market_total(market, to_borrow, delta)
    if is_leaving_drift and to_borrow:
        deposits = spot_token_amount(market.deposit_balance, market)
        borrows = spot_token_amount(market.borrow_balance, market, borrow=True)
        if deposits < borrows:
            raise Rejected("SpotMarketInsufficientDeposits", f"deposits ({deposits}) < borrows ({borrows})")
    return pos, market


def _update_revenue_pool(token_amount: int, market: SpotMarket) -> SpotMarket:
    """``update_revenue_pool_balances`` (a deposit into the market's revenue pool, which also counts in the
    market's deposit total)."""
    pool, market = update_spot_balances(token_amount, False, market, SpotPosition(market.market_index,
                                                                                  market.revenue_pool_balance))
    return replace(market, revenue_pool_balance=pool.scaled_balance)


# ============================================================================ interest accrual
SPOT_UTILIZATION_PRECISION = PERCENTAGE_PRECISION  #: 1e6
SPOT_RATE_PRECISION = PERCENTAGE_PRECISION  #: 1e6 (annual rates)
IF_FACTOR_PRECISION = PERCENTAGE_PRECISION  #: 1e6
ONE_YEAR = 31_536_000
ONE_MINUTE, FIVE_MINUTE, ONE_HOUR = 60, 300, 3600
#: ``math/constants.rs::INTEREST_RATE_SEGMENT_AND_WEIGHTS``: (utilization end 1e6, share of max − optimal rate, ‰)
INTEREST_RATE_SEGMENT_AND_WEIGHTS = ((850_000, 50), (900_000, 100), (950_000, 150), (990_000, 200), (995_000, 250),
                                     (1_000_000, 250))
#: ``SpotMarket::get_sanitize_clamp_denominator`` by asset tier (None = the default band)
_SANITIZE_CLAMP_DENOMINATOR = {AssetTier.COLLATERAL: 10, AssetTier.PROTECTED: 10, AssetTier.CROSS: 5,
                               AssetTier.ISOLATED: 3, AssetTier.UNLISTED: None}


def spot_utilization(market: SpotMarket) -> int:
    """``math/spot_balance.rs::calculate_spot_market_utilization`` @0ae3e3b: ``borrow tokens × 1e6 / deposit
    tokens`` (token amounts of the market's totals, the borrow rounded up); 1e6 when borrows have no deposits, 0
    when both are 0."""
    deposits = spot_token_amount(market.deposit_balance, market)
    borrows = spot_token_amount(market.borrow_balance, market, borrow=True)
    if deposits == 0:
        return 0 if borrows == 0 else SPOT_UTILIZATION_PRECISION
    return borrows * SPOT_UTILIZATION_PRECISION // deposits


def spot_borrow_rate(market: SpotMarket, utilization: int) -> int:
    """``math/spot_balance.rs::calculate_borrow_rate`` @0ae3e3b (annual, 1e6): up to the optimal utilization
    ``u × (optimal rate × 1e6 / optimal u) / 1e6``; above it the optimal rate plus, segment by segment of
    ``INTEREST_RATE_SEGMENT_AND_WEIGHTS``, ``(max − optimal) × weight / 1000`` for each passed segment and that
    share × the part of the segment reached / its width for the last; never below ``min_borrow_rate × 5000``."""
    optimal_util, optimal_rate = market.optimal_utilization, market.optimal_borrow_rate
    min_rate = market.min_borrow_rate * (PERCENTAGE_PRECISION // 200)
    if utilization <= optimal_util:
        if optimal_util == 0:
            raise Rejected("MathError", "optimal utilization is 0")
        rate = utilization * (optimal_rate * SPOT_UTILIZATION_PRECISION // optimal_util) // SPOT_UTILIZATION_PRECISION
    else:
        extra = market.max_borrow_rate - optimal_rate
        if extra < 0:
            raise Rejected("MathError", "max borrow rate below the optimal rate")
        rate, prev = optimal_rate, optimal_util
        for end, weight in INTEREST_RATE_SEGMENT_AND_WEIGHTS:
            if end < prev:
                raise Rejected("MathError", "optimal utilization past a rate segment")
            segment_total = extra * weight // 1000
            if utilization <= end:
                rate += segment_total * (utilization - prev) // (end - prev)
                break
            rate, prev = rate + segment_total, end
    return max(rate, min_rate)


def accumulated_interest(market: SpotMarket, now: int) -> tuple[int, int]:
    """``math/spot_balance.rs::calculate_accumulated_interest`` @0ae3e3b: ``(deposit, borrow)`` increments of the
    cumulative interests (1e10) over ``dt = now − last_interest_ts``: nothing when ``dt ≤ 0`` or utilization is 0,
    else with ``r = borrow rate × dt``: borrow ``cbi × r / ONE_YEAR / 1e6 + 1`` and deposit ``cdi × (r × u / 1e6)
    / ONE_YEAR / 1e6``."""
    if _int("now", now) <= market.last_interest_ts:
        return 0, 0
    utilization = spot_utilization(market)
    if utilization == 0:
        return 0, 0
    modified_borrow_rate = spot_borrow_rate(market, utilization) * (now - market.last_interest_ts)
    modified_deposit_rate = modified_borrow_rate * utilization // SPOT_UTILIZATION_PRECISION
    borrow = market.cumulative_borrow_interest * modified_borrow_rate // ONE_YEAR // SPOT_RATE_PRECISION + 1
    deposit = market.cumulative_deposit_interest * modified_deposit_rate // ONE_YEAR // SPOT_RATE_PRECISION
    return deposit, borrow


def update_spot_market_oracle_twaps(market: SpotMarket, oracle_price: int, now: int) -> SpotMarket:
    """The oracle part of ``controller/spot_balance.rs::update_spot_market_twap_stats`` @0ae3e3b: the price capped
    by ``sanitize_new_price`` (the asset tier's band) enters the 1h and 5-min TWAPs (``calculate_new_twap`` from
    ``last_oracle_price_twap_ts``), stored with ``ts = now`` when the 1h TWAP moved or ``now − last_twap_ts ≥ 60``;
    ``last_twap_ts = now``. The deposit / borrow / utilization token TWAPs (read by no liquidation) are not kept."""
    since_last = max(0, _int("now", now) - market.last_twap_ts)
    capped = drift_amm.sanitize_new_price(oracle_price, market.last_oracle_price_twap,
                                          _SANITIZE_CLAMP_DENOMINATOR[market.asset_tier])
    twap = drift_amm.calculate_new_twap(capped, now, market.last_oracle_price_twap, market.last_oracle_price_twap_ts,
                                        ONE_HOUR)
    twap_5min = drift_amm.calculate_new_twap(capped, now, market.last_oracle_price_twap_5min,
                                             market.last_oracle_price_twap_ts, FIVE_MINUTE)
    if twap != market.last_oracle_price_twap or since_last >= ONE_MINUTE:
        market = replace(market, last_oracle_price_twap=twap, last_oracle_price_twap_5min=twap_5min,
                         last_oracle_price_twap_ts=now)
    return replace(market, last_twap_ts=now)


def update_spot_market_cumulative_interest(market: SpotMarket, now: int, oracle_price: int | None = None) -> SpotMarket:
    """``controller/spot_balance.rs::update_spot_market_cumulative_interest`` @0ae3e3b: with ``(deposit, borrow)``
    of :func:`accumulated_interest`, when ``deposit > 0`` and ``borrow > 1``: the stakers' share ``deposit ×
    total_factor / 1e6`` goes to the revenue pool as ``deposit_balance × share / 10^(19 − decimals)`` tokens
    (``get_interest_token_amount``, deposited at the new interest) and, if the lenders' rest is positive, it and
    ``borrow`` are added to the cumulative interests and ``last_interest_ts = now``. Then, given the oracle price,
    :func:`update_spot_market_oracle_twaps`. (The market's paused-operation flags are not modelled.)"""
    deposit, borrow = accumulated_interest(market, now)
    if deposit > 0 and borrow > 1:
        for_stakers = deposit * market.insurance_fund_total_factor // IF_FACTOR_PRECISION
        for_lenders = deposit - for_stakers
        if for_lenders > 0:
            market = replace(market, cumulative_deposit_interest=market.cumulative_deposit_interest + for_lenders,
                             cumulative_borrow_interest=market.cumulative_borrow_interest + borrow,
                             last_interest_ts=now)
            token_amount = market.deposit_balance * for_stakers // 10 ** (19 - market.decimals)
            market = _update_revenue_pool(token_amount, market)
    if oracle_price is not None:
        market = update_spot_market_oracle_twaps(market, oracle_price, now)
    else:
        market = replace(market, last_twap_ts=now)
    return market


def oracle_too_divergent_with_twap_5min(oracle_price: int, oracle_twap_5min: int,
                                        max_divergence: int = MAX_ORACLE_TWAP_5MIN_PERCENT_DIVERGENCE) -> bool:
    """``math/orders.rs::is_oracle_too_divergent_with_twap_5min`` @0ae3e3b: ``|price − twap| × 1e6 / |twap| ≥ max``
    (1e6 = 100 %)."""
    if oracle_twap_5min == 0:
        raise Rejected("MathError", "oracle twap 5min is 0")
    return abs(oracle_price - oracle_twap_5min) * PERCENTAGE_PRECISION // abs(oracle_twap_5min) >= max_divergence


# ============================================================================ accounts
@dataclass(frozen=True)
class SpotAccount:
    """A Drift ``User`` as the spot-side liquidations see it: its spot positions in slot order (slot 0 is the
    quote market's), its perp positions, the liquidation status fields and its high-leverage mode."""

    spot_positions: tuple = ()
    perp_positions: tuple = ()
    being_liquidated: bool = False
    bankrupt: bool = False
    last_active_slot: int = 0
    liquidation_margin_freed: int = 0
    pool_id: int = 0
    isolated_being_liquidated: frozenset = frozenset()  #: perp markets whose isolated position is being liquidated
    isolated_bankrupt: frozenset = frozenset()  #: perp markets whose isolated position is bankrupt
    high_leverage_mode: bool = False  #: ``User::is_high_leverage_mode``: HLM margin ratios and liquidator fee

    def __post_init__(self):
        object.__setattr__(self, "isolated_being_liquidated", frozenset(self.isolated_being_liquidated))
        object.__setattr__(self, "isolated_bankrupt", frozenset(self.isolated_bankrupt))
        object.__setattr__(self, "spot_positions", tuple(self.spot_positions))
        object.__setattr__(self, "perp_positions", tuple(self.perp_positions))
        if len(self.spot_positions) > MAX_SPOT_POSITIONS or len(self.perp_positions) > MAX_PERP_POSITIONS:
            raise InvalidInput("positions", f"at most {MAX_SPOT_POSITIONS} spot and {MAX_PERP_POSITIONS} perp positions")
        for p in self.spot_positions:
            if not isinstance(p, SpotPosition):
                raise InvalidInput("spot_positions", "SpotPosition instances")
        for p in self.perp_positions:
            if not isinstance(p, PerpPosition):
                raise InvalidInput("perp_positions", "PerpPosition instances")

    def spot_index(self, market_index: int) -> int | None:
        """``get_spot_position_index``: slot 0 for the quote market (``DefaultError`` if slot 0 holds another
        market), else the first slot of the market."""
        if market_index == QUOTE_SPOT_MARKET_INDEX:
            if self.spot_positions and self.spot_positions[0].market_index != QUOTE_SPOT_MARKET_INDEX:
                raise Rejected("DefaultError", "user position 0 not market_index=0")
            return 0 if self.spot_positions else None
        for i, p in enumerate(self.spot_positions):
            if p.market_index == market_index:
                return i
        return None

    def perp_index(self, market_index: int) -> int | None:
        for i, p in enumerate(self.perp_positions):
            if p.market_index == market_index:
                return i
        return None


def _force_spot(account: SpotAccount, market_index: int) -> tuple[SpotAccount, int]:
    """``force_get_spot_position_mut``: the market's slot, else a fresh deposit in the first available slot after
    slot 0 (``NoSpotPositionAvailable`` when all 8 are used)."""
    i = account.spot_index(market_index)
    if i is not None:
        return account, i
    positions = list(account.spot_positions) or [SpotPosition()]
    if market_index == QUOTE_SPOT_MARKET_INDEX:
        return replace(account, spot_positions=tuple(positions)), 0
    for j in range(1, len(positions)):
        if positions[j].is_available:
            positions[j] = SpotPosition(market_index)
            return replace(account, spot_positions=tuple(positions)), j
    if len(positions) >= MAX_SPOT_POSITIONS:
        raise Rejected("NoSpotPositionAvailable", "no spot position available")
    positions.append(SpotPosition(market_index))
    return replace(account, spot_positions=tuple(positions)), len(positions) - 1


def _force_perp(account: SpotAccount, market_index: int) -> tuple[SpotAccount, int]:
    """``force_get_perp_position_mut``: the market's position, else a new one (``MaxNumberOfPositions``)."""
    i = account.perp_index(market_index)
    if i is not None:
        return account, i
    if len(account.perp_positions) >= MAX_PERP_POSITIONS:
        raise Rejected("MaxNumberOfPositions", "no perp position available")
    return (replace(account, perp_positions=account.perp_positions + (PerpPosition(market_index=market_index),)),
            len(account.perp_positions))


def _set_spot(account: SpotAccount, i: int, position: SpotPosition) -> SpotAccount:
    positions = list(account.spot_positions)
    positions[i] = position
    return replace(account, spot_positions=tuple(positions))


def _set_perp(account: SpotAccount, i: int, position: PerpPosition) -> SpotAccount:
    positions = list(account.perp_positions)
    positions[i] = position
    return replace(account, perp_positions=tuple(positions))


def _move_tokens(account: SpotAccount, market_index: int, token_amount: int, to_borrow: bool,
                 markets: dict) -> SpotAccount:
    """``update_spot_balances`` on the account's (forced) slot for the market, updating ``markets`` in place."""
    account, i = _force_spot(account, market_index)
    pos, markets[market_index] = update_spot_balances(token_amount, to_borrow, markets[market_index],
                                                      account.spot_positions[i])
    return _set_spot(account, i, pos)


def _add_quote_asset_amount(account: SpotAccount, market_index: int, delta: int) -> SpotAccount:
    """``controller/position.rs::update_quote_asset_amount`` on the account's (forced) perp position."""
    account, i = _force_perp(account, market_index)
    p = account.perp_positions[i]
    return _set_perp(account, i, replace(p, quote_asset_amount=p.quote_asset_amount + delta))


def _is_bankrupt(account: SpotAccount) -> bool:
    """``is_cross_margin_bankrupt`` over the account's spot balances and cross perp positions."""
    spot = tuple(-p.scaled_balance if p.borrow else p.scaled_balance for p in account.spot_positions)
    return is_cross_margin_bankrupt(spot, tuple(p for p in account.perp_positions if not p.isolated))


# ============================================================================ the shared skeleton
@dataclass(frozen=True)
class SpotAccountLiquidation:
    """One call of a spot-side liquidation: the user, the liquidator and the spot markets after it, and the
    transfer (token amounts in each side's decimals; for perp pnl, quote 1e6)."""

    user: SpotAccount
    liquidator: SpotAccount
    spot_markets: dict
    asset_transfer: int = 0
    liability_transfer: int = 0
    #: liability tokens paid into the liability market's revenue pool; for ``liquidate_perp_pnl_for_deposit``, the
    #: increment to the perp market's ``amm.total_liquidation_fee`` (always 0: that liquidation charges no IF fee)
    if_fee: int = 0
    margin_freed: int = 0  #: by the order cancellation and the transfer (quote 1e6)
    margin_shortage: int = 0  #: the buffered shortage the transfer was sized on
    liability_transfer_to_cover_margin_shortage: int = 0
    max_pct_allowed: int = 0


@dataclass(frozen=True)
class _Env:
    spot_markets: dict
    perp_markets: dict
    spot_prices: dict
    perp_prices: dict
    slot: int
    buffer: int
    initial_pct: int
    duration: int

    def margin(self, account: SpotAccount, margin_type=MarginRequirementType.MAINTENANCE, buffer: int | None = None,
               track=None) -> MarginCalculation:
        return account_margin(account.spot_positions, account.perp_positions, spot_markets=self.spot_markets,
                              perp_markets=self.perp_markets, spot_prices=self.spot_prices,
                              perp_prices=self.perp_prices, margin_type=margin_type,
                              margin_buffer=self.buffer if buffer is None else buffer, user_pool_id=account.pool_id,
                              high_leverage_mode=account.high_leverage_mode, track_market=track,
                              flagged_perp_markets=account.isolated_being_liquidated | account.isolated_bankrupt)


def _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, buffer, initial_pct, duration) -> _Env:
    return _Env(dict(spot_markets), dict(perp_markets or {}), dict(spot_prices), dict(perp_prices or {}),
                _nonneg("slot", slot), _nonneg("liquidation_margin_buffer_ratio", buffer),
                _nonneg("initial_pct_to_liquidate", initial_pct), _nonneg("liquidation_duration", duration))


def _exit(user: SpotAccount) -> SpotAccount:
    """``exit_cross_margin_liquidation``."""
    return replace(user, being_liquidated=False, bankrupt=False, liquidation_margin_freed=0)


def _no_orders(p):
    return replace(p, open_orders=0, open_bids=0, open_asks=0)


@dataclass(frozen=True)
class CrossMarginLiquidatePerpMode:
    """``state/liquidation_mode.rs::CrossMarginLiquidatePerpMode`` @0ae3e3b (and the spot liquidations' cross
    handling): the cross calculation, the user's status, every order, the max pct over time."""

    market_index: int = 0

    def user_is_being_liquidated(self, user: SpotAccount) -> bool:
        return self.being_liquidated(user)

    def meets_margin_requirements(self, calc: MarginCalculation) -> bool:
        """``meets_cross_margin_requirement`` / ``meets_isolated_margin_requirement``: collateral ≥ requirement."""
        return self.view(calc).meets_cross_margin_requirement

    def exit_liquidation(self, user: SpotAccount) -> SpotAccount:
        return self.exit(user)

    def cancel_orders_params(self) -> tuple[str | None, int | None]:
        """``get_cancel_orders_params``: (market type, market index) of the orders to cancel; None = all."""
        return None, None

    def is_bankrupt(self, user: SpotAccount) -> bool:
        return user.bankrupt

    def being_liquidated(self, user: SpotAccount) -> bool:
        return user.being_liquidated

    def view(self, calc: MarginCalculation) -> MarginCalculation:
        return calc

    def enter(self, user: SpotAccount, slot: int) -> SpotAccount:  # enter_cross_margin_liquidation
        if user.being_liquidated:
            return user
        active = user.last_active_slot if user.isolated_being_liquidated else slot
        return replace(user, being_liquidated=True, liquidation_margin_freed=0, last_active_slot=active)

    def exit(self, user: SpotAccount) -> SpotAccount:
        return _exit(user)

    def has_orders(self, user: SpotAccount) -> bool:
        return any(p.open_orders for p in user.spot_positions + user.perp_positions)

    def cancel(self, user: SpotAccount) -> SpotAccount:
        return replace(user, spot_positions=tuple(_no_orders(p) for p in user.spot_positions),
                       perp_positions=tuple(_no_orders(p) for p in user.perp_positions))

    def add_freed(self, user: SpotAccount, amount: int) -> SpotAccount:
        return replace(user, liquidation_margin_freed=user.liquidation_margin_freed + amount)

    def max_pct(self, env: _Env, user: SpotAccount, shortage: int) -> int:
        return max_pct_to_liquidate(shortage, env.slot, user.last_active_slot, user.liquidation_margin_freed,
                                    env.initial_pct, env.duration)

    def settle_bankruptcy(self, user: SpotAccount) -> SpotAccount:  # is_cross_margin_bankrupt → enter bankruptcy
        return replace(user, being_liquidated=False, bankrupt=True) if _is_bankrupt(user) else user


@dataclass(frozen=True)
class IsolatedMarginLiquidatePerpMode(CrossMarginLiquidatePerpMode):
    """``IsolatedMarginLiquidatePerpMode`` @0ae3e3b: the position's own calculation, status flags and orders; the
    whole position may go at once (max pct 100 %) and the user's margin-freed tally is not touched."""

    def cancel_orders_params(self) -> tuple[str | None, int | None]:
        return "perp", self.market_index

    def is_bankrupt(self, user: SpotAccount) -> bool:
        return self.market_index in user.isolated_bankrupt

    def being_liquidated(self, user: SpotAccount) -> bool:
        return self.market_index in user.isolated_being_liquidated

    def view(self, calc: MarginCalculation) -> MarginCalculation:
        return calc.isolated_calculation(self.market_index)

    def enter(self, user: SpotAccount, slot: int) -> SpotAccount:  # enter_isolated_margin_liquidation
        if self.being_liquidated(user):
            return user
        active = user.last_active_slot if user.being_liquidated or user.isolated_being_liquidated else slot
        return replace(user, last_active_slot=active,
                       isolated_being_liquidated=user.isolated_being_liquidated | {self.market_index})

    def exit(self, user: SpotAccount) -> SpotAccount:
        return replace(user, isolated_being_liquidated=user.isolated_being_liquidated - {self.market_index},
                       isolated_bankrupt=user.isolated_bankrupt - {self.market_index})

    def has_orders(self, user: SpotAccount) -> bool:
        return any(p.open_orders for p in user.perp_positions if p.market_index == self.market_index)

    def cancel(self, user: SpotAccount) -> SpotAccount:
        return replace(user, perp_positions=tuple(_no_orders(p) if p.market_index == self.market_index else p
                                                  for p in user.perp_positions))

    def add_freed(self, user: SpotAccount, amount: int) -> SpotAccount:
        return user

    def max_pct(self, env: _Env, user: SpotAccount, shortage: int) -> int:
        return LIQUIDATION_PCT_PRECISION

    def settle_bankruptcy(self, user: SpotAccount) -> SpotAccount:  # is_isolated_margin_bankrupt → enter bankruptcy
        p = user.perp_positions[user.perp_index(self.market_index)]
        if not is_isolated_margin_bankrupt(p, p.isolated_position_scaled_balance):
            return user
        return replace(user, isolated_being_liquidated=user.isolated_being_liquidated - {self.market_index},
                       isolated_bankrupt=user.isolated_bankrupt | {self.market_index})


_CROSS = CrossMarginLiquidatePerpMode()


def get_perp_liquidation_mode(user: SpotAccount, market_index: int) -> CrossMarginLiquidatePerpMode:
    """``get_perp_liquidation_mode`` @0ae3e3b: isolated when the user's position in the market is, else cross (also
    when it has no position there)."""
    i = user.perp_index(market_index)
    if i is not None and user.perp_positions[i].isolated:
        return IsolatedMarginLiquidatePerpMode(market_index)
    return CrossMarginLiquidatePerpMode(market_index)


def _begin(env: _Env, user: SpotAccount, liquidator: SpotAccount | None, track=None, tier_violation=None, mode=_CROSS,
           check=None):
    """The margin check, entering liquidation and cancelling orders. Returns ``(user, calculation, freed)`` to go
    on with (the whole account's calculation; ``mode.view`` of it is the mode's), or ``(user, None, freed)`` when
    the call ends here (the user left liquidation, or ``tier_violation`` — checked on the user after the
    cancellation — holds once orders were cancelled; without cancelled orders a violation is
    ``TierViolationLiquidatingPerpPnl``). ``check(user)`` runs before entering liquidation."""
    if mode.is_bankrupt(user):
        raise Rejected("UserBankrupt", "user bankrupt")
    if liquidator is not None and liquidator.bankrupt:
        raise Rejected("UserBankrupt", "liquidator bankrupt")
    before_all = env.margin(user, track=track)
    before = mode.view(before_all)
    being_liquidated = mode.being_liquidated(user)
    if not being_liquidated and before.meets_cross_margin_requirement:
        raise Rejected("SufficientCollateral", "the user meets its maintenance margin requirement")
    if being_liquidated and before.meets_margin_requirement_with_buffer:
        return mode.exit(user), None, 0
    if check is not None:
        check(user)
    user = mode.enter(user, env.slot)
    if not mode.has_orders(user):
        if tier_violation is not None and tier_violation(user):
            raise Rejected("TierViolationLiquidatingPerpPnl", "liquidating a perp pnl riskier than the outstanding liabilities")
        return user, before_all, 0
    user = mode.cancel(user)
    after_all = env.margin(user, track=track)
    after = mode.view(after_all)
    freed = max(before.margin_shortage - after.margin_shortage, 0)
    user = mode.add_freed(user, freed)
    if after.meets_margin_requirement_with_buffer:
        return mode.exit(user), None, freed
    if tier_violation is not None and tier_violation(user):
        return user, None, freed
    return user, after_all, freed


def _transfer(env: _Env, user: SpotAccount, shortage: int, *, asset_amount: int, asset_weight: int, asset_multiplier: int,
              asset_decimals: int, asset_price: int, liability_amount: int, liability_weight: int,
              liability_multiplier: int, liability_decimals: int, liability_price: int, if_fee: int,
              liability_value: int, liquidator_max: int, mode=_CROSS) -> tuple[int, int, int, int] | None:
    """The sizing shared by the three: ``(liability transfer, asset transfer, to_cover, max pct)``, or None when
    the pct allows nothing this slot. ``liability_weight`` already includes the buffer."""
    to_cover = liability_transfer_to_cover_margin_shortage(shortage, asset_weight, asset_multiplier, liability_weight,
                                                           liability_multiplier, liability_decimals, liability_price,
                                                           if_fee)
    pct = mode.max_pct(env, user, shortage)
    allowed = min(to_cover * pct, U128_MAX) // LIQUIDATION_PCT_PRECISION
    if allowed == 0:
        return None
    implied = liability_transfer_implied_by_asset_amount(asset_amount, asset_multiplier, asset_decimals, asset_price,
                                                         liability_multiplier, liability_decimals, liability_price)
    minimum = 0 if liability_value > 10 * QUOTE_PRECISION else liability_amount
    transfer = min(_nonneg("liquidator_max_liability_transfer", liquidator_max), liability_amount,
                   max(allowed, minimum), implied)
    asset = asset_transfer_for_liability_transfer(asset_amount, asset_multiplier, asset_decimals, asset_price, transfer,
                                                  liability_multiplier, liability_decimals, liability_price)
    if asset == 0 or transfer == 0:
        raise Rejected("InvalidLiquidation", f"liability transfer {transfer}, asset transfer {asset}")
    return transfer, asset, to_cover, pct


def _finish(env: _Env, user: SpotAccount, liquidator: SpotAccount, shortage: int, freed: int, transfer: int,
            to_cover: int, mode=_CROSS) -> tuple[SpotAccount, int]:
    """Margin freed by the transfer, leaving liquidation or entering bankruptcy, and the liquidator's initial
    margin check (``InsufficientCollateral``). Returns the user and the total margin freed."""
    step = max(shortage - mode.view(env.margin(user)).margin_shortage, 0)  # calculate_margin_freed
    user = mode.add_freed(user, step)
    if transfer >= to_cover:
        user = mode.exit(user)
    else:
        user = mode.settle_bankruptcy(user)
    if not env.margin(liquidator, MarginRequirementType.INITIAL, buffer=0).meets_margin_requirement:
        raise Rejected("InsufficientCollateral", "liquidator doesnt have enough collateral to take over borrow")
    return user, freed + step


def _spot_side(env: _Env, user: SpotAccount, market_index: int, borrow: bool) -> tuple[SpotMarket, int, int]:
    """``update_spot_market_and_check_validity`` (Liquidate: a non-positive or too volatile oracle is refused; the
    quote market is not checked) and the user's balance there, which must be of the given kind and non-zero.
    Returns the market, its oracle price and the token amount."""
    market = env.spot_markets[market_index] if market_index in env.spot_markets else None
    if market is None:
        raise InvalidInput("spot_markets", f"no market {market_index}")
    if market_index not in env.spot_prices:
        raise InvalidInput("spot_prices", f"no oracle price for market {market_index}")
    price = env.spot_prices[market_index]
    if market_index != QUOTE_SPOT_MARKET_INDEX and not oracle_valid_for_liquidate(price, market.last_oracle_price_twap):
        raise Rejected("InvalidOracle", f"invalid oracle for spot market {market_index} and action Liquidate")
    i = user.spot_index(market_index)
    if i is None:
        raise Rejected("CouldNotFindSpotPosition", f"no spot balance in market {market_index}")
    pos = user.spot_positions[i]
    if pos.borrow != borrow:
        raise Rejected("WrongSpotBalanceType", f"user did not have a {'borrow' if borrow else 'deposit'} in market {market_index}")
    amount = spot_token_amount(pos.scaled_balance, market, pos.borrow)
    if amount == 0:
        raise Rejected("InvalidSpotPosition", f"token amount zero for market index = {market_index}")
    return market, price, amount


def safest_position_tiers(account: SpotAccount, spot_markets, perp_markets) -> tuple[AssetTier, ContractTier]:
    """``math/margin.rs::calculate_user_safest_position_tiers`` @0ae3e3b: the most privileged asset tier among the
    account's spot borrows (default Unlisted) and the safest contract tier among its non-empty perp positions
    (default HighlySpeculative)."""
    spot, perp = AssetTier.UNLISTED, ContractTier.HIGHLY_SPECULATIVE
    for p in account.spot_positions:
        if not p.is_available and p.borrow:
            spot = min(spot, spot_markets[p.market_index].asset_tier)
    for p in account.perp_positions:
        if p.base_asset_amount or p.has_open_order or p.quote_asset_amount or p.isolated_position_scaled_balance:
            perp = min(perp, perp_markets[p.market_index].contract_tier)
    return AssetTier(spot), ContractTier(perp)


def _check_pools(liquidator: SpotAccount, *markets: SpotMarket) -> None:
    for m in markets:
        if liquidator.pool_id != m.pool_id:
            raise Rejected("InvalidPoolId", f"liquidator pool id ({liquidator.pool_id}) != spot market pool id ({m.pool_id})")


# ============================================================================ the three liquidations
def liquidate_spot(user: SpotAccount, liquidator: SpotAccount, asset_market_index: int, liability_market_index: int,
                   liquidator_max_liability_transfer: int, *, spot_markets, spot_prices, perp_markets=None,
                   perp_prices=None, slot: int = 0, limit_price: int | None = None,
                   liquidation_margin_buffer_ratio: int, initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION,
                   liquidation_duration: int = 0,
                   max_oracle_twap_5min_percent_divergence: int = MAX_ORACLE_TWAP_5MIN_PERCENT_DIVERGENCE,
                   ) -> SpotAccountLiquidation:
    """``controller/liquidation.rs::liquidate_spot`` @0ae3e3b: the liquidator takes over ``liability transfer`` of
    the user's borrow and receives ``asset transfer`` of its deposit (asset at a premium of the asset market's
    ``liquidator_fee``, liability at that discount of the liability market's); ``if_fee = transfer ×
    calculate_spot_if_fee(tracked shortage, …) / 1e6`` of it goes to the liability market's revenue pool instead
    of repaying the user's borrow. Maintenance asset and liability weights; the liability's is raised by the
    buffer. Both oracles must be within ``max_oracle_twap_5min_percent_divergence`` (``State``'s
    ``max(oracle_twap_5min_percent_divergence, 50 %)``, 1e6) of their 5-min TWAPs (``PriceBandsBreached``). The spot markets are
    keyed by index (with ``last_oracle_price_twap`` / ``_5min`` set); prices are oracle prices (1e6)."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio,
               initial_pct_to_liquidate, liquidation_duration)
    if user.bankrupt:
        raise Rejected("UserBankrupt", "user bankrupt")
    _check_pools(liquidator, *(env.spot_markets[i] for i in (asset_market_index, liability_market_index)
                               if i in env.spot_markets))
    for i in (asset_market_index, liability_market_index):
        if user.spot_index(i) is None:
            raise Rejected("CouldNotFindSpotPosition", f"user does not have a spot balance for market {i}")
    liquidator = _force_spot(_force_spot(liquidator, asset_market_index)[0], liability_market_index)[0]
    asset_market, asset_price, asset_amount = _spot_side(env, user, asset_market_index, borrow=False)
    liability_market, liability_price, liability_amount = _spot_side(env, user, liability_market_index, borrow=True)
    am = liquidation_multiplier(asset_market.liquidator_fee, premium=True)
    lm = liquidation_multiplier(liability_market.liquidator_fee, premium=False)
    track = ("spot", liability_market_index)
    user, calc, freed = _begin(env, user, liquidator, track)
    if calc is None:
        return SpotAccountLiquidation(user, liquidator, env.spot_markets, margin_freed=freed)
    shortage = calc.margin_shortage
    lw = liability_market.maintenance_liability_weight + env.buffer
    if_rate = spot_if_fee(calc.tracked_market_margin_shortage(shortage), liability_amount,
                          asset_market.maintenance_asset_weight, am, lw, lm, liability_market.decimals, liability_price,
                          liability_market.if_liquidation_fee)
    sized = _transfer(env, user, shortage, asset_amount=asset_amount, asset_weight=asset_market.maintenance_asset_weight,
                      asset_multiplier=am, asset_decimals=asset_market.decimals, asset_price=asset_price,
                      liability_amount=liability_amount, liability_weight=lw, liability_multiplier=lm,
                      liability_decimals=liability_market.decimals, liability_price=liability_price, if_fee=if_rate,
                      liability_value=token_value(liability_amount, liability_market.decimals, liability_price),
                      liquidator_max=liquidator_max_liability_transfer)
    if sized is None:
        return SpotAccountLiquidation(user, liquidator, env.spot_markets, margin_freed=freed, margin_shortage=shortage)
    transfer, asset, to_cover, pct = sized
    for name, price, m in (("liability", liability_price, liability_market), ("asset", asset_price, asset_market)):
        if oracle_too_divergent_with_twap_5min(price, m.last_oracle_price_twap_5min,
                                               max_oracle_twap_5min_percent_divergence):
            raise Rejected("PriceBandsBreached", f"{name} oracle too divergent")
    validate_transfer_satisfies_limit_price(asset, transfer, asset_market.decimals, liability_market.decimals, limit_price)
    if_fee = transfer * if_rate // LIQUIDATION_FEE_PRECISION
    markets = env.spot_markets
    user = _move_tokens(user, liability_market_index, transfer - if_fee, False, markets)
    markets[liability_market_index] = _update_revenue_pool(if_fee, markets[liability_market_index])
    liquidator = _move_tokens(liquidator, liability_market_index, transfer, True, markets)
    liquidator = _move_tokens(liquidator, asset_market_index, asset, False, markets)
    user = _move_tokens(user, asset_market_index, asset, True, markets)
    env = replace(env, spot_markets=markets)
    user, freed = _finish(env, user, liquidator, shortage, freed, transfer, to_cover)
    return SpotAccountLiquidation(user, liquidator, markets, asset, transfer, if_fee, freed, shortage, to_cover, pct)


def _perp_side(env: _Env, user: SpotAccount, perp_market_index: int, positive: bool,
               allow_isolated: bool = False) -> tuple[PerpMarket, int, int]:
    """The user's settled perp position in the market: no base, pnl of the given sign, cross unless
    ``allow_isolated``. Returns the market, the position's slot and ``|pnl|``."""
    if perp_market_index not in env.perp_markets:
        raise InvalidInput("perp_markets", f"no market {perp_market_index}")
    i = user.perp_index(perp_market_index)
    if i is None:
        raise Rejected("UserHasNoPositionInMarket", f"no position for perp market {perp_market_index}")
    p = user.perp_positions[i]
    if p.base_asset_amount != 0:
        raise Rejected("InvalidPerpPositionToLiquidate", f"cant have open perp position (base {p.base_asset_amount})")
    if (p.quote_asset_amount <= 0) if positive else (p.quote_asset_amount >= 0):
        raise Rejected("InvalidPerpPositionToLiquidate",
                       "perp position must have position pnl" if positive else "perp position must have negative pnl")
    if p.isolated and not allow_isolated:
        raise Rejected("InvalidPerpPositionToLiquidate", "perp position is an isolated position")
    return env.perp_markets[perp_market_index], i, abs(p.quote_asset_amount)


def liquidate_borrow_for_perp_pnl(user: SpotAccount, liquidator: SpotAccount, perp_market_index: int,
                                  liability_market_index: int, liquidator_max_liability_transfer: int, *, spot_markets,
                                  spot_prices, perp_markets, perp_prices, slot: int = 0, limit_price: int | None = None,
                                  liquidation_margin_buffer_ratio: int,
                                  initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION,
                                  liquidation_duration: int = 0) -> SpotAccountLiquidation:
    """``controller/liquidation.rs::liquidate_borrow_for_perp_pnl`` @0ae3e3b: the liquidator takes over part of the
    user's borrow and receives that much of the user's positive (closed, unsettled) perp pnl: the asset is the pnl
    (quote decimals 6 at the quote oracle price, the market's maintenance unrealised-pnl asset weight, a premium of
    the perp market's ``liquidator_fee``); no insurance-fund fee. Funding is assumed settled."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio,
               initial_pct_to_liquidate, liquidation_duration)
    if user.bankrupt:
        raise Rejected("UserBankrupt", "user bankrupt")
    if liquidator.pool_id != 0:
        raise Rejected("InvalidPoolId", f"liquidator pool id ({liquidator.pool_id}) != 0")
    if user.perp_index(perp_market_index) is None:
        raise Rejected("UserHasNoPositionInMarket", f"no position for perp market {perp_market_index}")
    if user.spot_index(liability_market_index) is None:
        raise Rejected("CouldNotFindSpotPosition", f"user does not have a spot balance for market {liability_market_index}")
    liquidator = _force_spot(_force_perp(liquidator, perp_market_index)[0], liability_market_index)[0]
    perp_market, _, pnl = _perp_side(env, user, perp_market_index, positive=True)
    quote_price = env.spot_prices[QUOTE_SPOT_MARKET_INDEX]
    pnl_weight = unrealized_asset_weight(perp_market, pnl, MarginRequirementType.MAINTENANCE)
    pnl_multiplier = liquidation_multiplier(perp_market.liquidator_fee, premium=True)
    liability_market, liability_price, liability_amount = _spot_side(env, user, liability_market_index, borrow=True)
    lm = liquidation_multiplier(liability_market.liquidator_fee, premium=False)
    user, calc, freed = _begin(env, user, liquidator)
    if calc is None:
        return SpotAccountLiquidation(user, liquidator, env.spot_markets, margin_freed=freed)
    shortage = calc.margin_shortage
    sized = _transfer(env, user, shortage, asset_amount=pnl, asset_weight=pnl_weight, asset_multiplier=pnl_multiplier,
                      asset_decimals=6, asset_price=quote_price, liability_amount=liability_amount,
                      liability_weight=liability_market.maintenance_liability_weight + env.buffer,
                      liability_multiplier=lm, liability_decimals=liability_market.decimals,
                      liability_price=liability_price, if_fee=0,
                      liability_value=token_value(liability_amount, liability_market.decimals, liability_price),
                      liquidator_max=liquidator_max_liability_transfer)
    if sized is None:
        return SpotAccountLiquidation(user, liquidator, env.spot_markets, margin_freed=freed, margin_shortage=shortage)
    transfer, pnl_transfer, to_cover, pct = sized
    validate_transfer_satisfies_limit_price(pnl_transfer, transfer, 6, liability_market.decimals, limit_price)
    markets = env.spot_markets
    user = _move_tokens(user, liability_market_index, transfer, False, markets)
    liquidator = _move_tokens(liquidator, liability_market_index, transfer, True, markets)
    liquidator = _add_quote_asset_amount(liquidator, perp_market_index, pnl_transfer)
    user = _add_quote_asset_amount(user, perp_market_index, -pnl_transfer)
    env = replace(env, spot_markets=markets)
    user, freed = _finish(env, user, liquidator, shortage, freed, transfer, to_cover)
    return SpotAccountLiquidation(user, liquidator, markets, pnl_transfer, transfer, 0, freed, shortage, to_cover, pct)


def liquidate_perp_pnl_for_deposit(user: SpotAccount, liquidator: SpotAccount, perp_market_index: int,
                                   asset_market_index: int, liquidator_max_pnl_transfer: int, *, spot_markets,
                                   spot_prices, perp_markets, perp_prices, slot: int = 0, limit_price: int | None = None,
                                   liquidation_margin_buffer_ratio: int,
                                   initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION,
                                   liquidation_duration: int = 0) -> SpotAccountLiquidation:
    """``controller/liquidation.rs::liquidate_perp_pnl_for_deposit`` @0ae3e3b: the liquidator takes over part of the
    user's negative (closed, unsettled) perp pnl and receives that much of the user's deposit: the liability is the
    pnl (quote decimals 6 at the quote oracle price, weight 1e4 + buffer, a discount of the perp market's
    ``liquidator_fee``); the deposit at its maintenance asset weight and a premium of its market's
    ``liquidator_fee``; no insurance-fund fee, so the perp market's ``amm.total_liquidation_fee`` is left as it was
    (the result's ``if_fee`` is 0); the whole pnl may go when it is at most $10. The perp market's
    contract tier must be as safe as the user's safest liabilities (:func:`safest_position_tiers`), else
    ``TierViolationLiquidatingPerpPnl``. Funding is assumed settled.

    ``get_perp_liquidation_mode``: when the user's position in the market is isolated, the deposit is the
    position's own USDC balance (the asset market must be 0), the shortage, status flags (``isolated_*`` sets) and
    cancelled orders are the position's, the whole shortage may be covered at once, the user's margin-freed tally
    is left alone, and the tier check compares the market with itself."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio,
               initial_pct_to_liquidate, liquidation_duration)
    i = user.perp_index(perp_market_index)
    mode = get_perp_liquidation_mode(user, perp_market_index)
    isolated = isinstance(mode, IsolatedMarginLiquidatePerpMode)
    if mode.is_bankrupt(user):
        raise Rejected("UserBankrupt", "user bankrupt")
    if liquidator.pool_id != 0:
        raise Rejected("InvalidPoolId", f"liquidator pool id ({liquidator.pool_id}) != 0")
    perp_market = env.perp_markets.get(perp_market_index)
    if perp_market is None:
        raise InvalidInput("perp_markets", f"no market {perp_market_index}")
    if i is None:
        raise Rejected("UserHasNoPositionInMarket", f"no position for perp market {perp_market_index}")
    if (asset_market_index != QUOTE_SPOT_MARKET_INDEX) if isolated else (user.spot_index(asset_market_index) is None):
        raise Rejected("CouldNotFindSpotPosition", f"user does not have a spot balance for market {asset_market_index}")
    liquidator = _force_spot(_force_perp(liquidator, perp_market_index)[0], asset_market_index)[0]
    if isolated:
        asset_market, asset_price = env.spot_markets[asset_market_index], env.spot_prices[asset_market_index]
        asset_amount = spot_token_amount(user.perp_positions[i].isolated_position_scaled_balance, asset_market)
        if asset_amount == 0:
            raise Rejected("InvalidSpotPosition", f"token amount zero for market index = {asset_market_index}")
    else:
        asset_market, asset_price, asset_amount = _spot_side(env, user, asset_market_index, borrow=False)
    perp_market, _, pnl = _perp_side(env, user, perp_market_index, positive=False, allow_isolated=True)
    quote_price = env.spot_prices[QUOTE_SPOT_MARKET_INDEX]
    am = liquidation_multiplier(asset_market.liquidator_fee, premium=True)
    pnl_multiplier = liquidation_multiplier(perp_market.liquidator_fee, premium=False)

    def tier_violation(u: SpotAccount) -> bool:
        if isolated:
            spot_tier, perp_tier = AssetTier.UNLISTED, perp_market.contract_tier
        else:
            spot_tier, perp_tier = safest_position_tiers(u, env.spot_markets, env.perp_markets)
        return not contract_tier_is_as_safe_as(perp_market.contract_tier, perp_tier, spot_tier)

    user, calc, freed = _begin(env, user, liquidator, tier_violation=tier_violation, mode=mode)
    if calc is None:
        return SpotAccountLiquidation(user, liquidator, env.spot_markets, margin_freed=freed)
    shortage = mode.view(calc).margin_shortage
    sized = _transfer(env, user, shortage, asset_amount=asset_amount, asset_weight=asset_market.maintenance_asset_weight,
                      asset_multiplier=am, asset_decimals=asset_market.decimals, asset_price=asset_price,
                      liability_amount=pnl, liability_weight=SPOT_WEIGHT_PRECISION + env.buffer,
                      liability_multiplier=pnl_multiplier, liability_decimals=6, liability_price=quote_price, if_fee=0,
                      liability_value=pnl, liquidator_max=liquidator_max_pnl_transfer, mode=mode)
    if sized is None:
        return SpotAccountLiquidation(user, liquidator, env.spot_markets, margin_freed=freed, margin_shortage=shortage)
    pnl_transfer, asset, to_cover, pct = sized
    validate_transfer_satisfies_limit_price(asset, pnl_transfer, asset_market.decimals, 6, limit_price)
    markets = env.spot_markets
    liquidator = _move_tokens(liquidator, asset_market_index, asset, False, markets)
    if isolated:  # the position's isolated balance, a deposit in the quote market
        p = user.perp_positions[i]
        balance, markets[asset_market_index] = update_spot_balances(
            asset, True, markets[asset_market_index], SpotPosition(asset_market_index, p.isolated_position_scaled_balance))
        if balance.borrow:
            raise Rejected("InvalidSpotPosition", "an isolated position's balance cannot be a borrow")
        user = _set_perp(user, i, replace(p, isolated_position_scaled_balance=balance.scaled_balance))
    else:
        user = _move_tokens(user, asset_market_index, asset, True, markets)
    liquidator = _add_quote_asset_amount(liquidator, perp_market_index, -pnl_transfer)
    user = _add_quote_asset_amount(user, perp_market_index, pnl_transfer)
    env = replace(env, spot_markets=markets)
    user, freed = _finish(env, user, liquidator, shortage, freed, pnl_transfer, to_cover, mode)
    return SpotAccountLiquidation(user, liquidator, markets, asset, pnl_transfer, 0, freed, shortage, to_cover, pct)


def liquidate_spot_with_swap_begin(user: SpotAccount, liquidator: SpotAccount, asset_market_index: int,
                                   liability_market_index: int, swap_amount_in: int, *, spot_markets, spot_prices,
                                   perp_markets=None, perp_prices=None, slot: int = 0,
                                   liquidation_margin_buffer_ratio: int,
                                   initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION,
                                   liquidation_duration: int = 0) -> SpotAccount:
    """``controller/liquidation.rs::liquidate_spot_with_swap_begin`` @0ae3e3b, the checks before a liquidator swaps
    the user's deposit for its borrow: the user enters liquidation (``SufficientCollateral`` if it meets its
    maintenance requirement; ``InvalidLiquidation`` if it is being liquidated but meets the buffered requirement, or
    does after its orders are cancelled), and ``swap_amount_in`` may exceed neither the user's deposit nor the asset
    that would cover the shortage — ``asset_transfer_for_liability_transfer(to_cover)`` with both multipliers at
    1e6, plus 25 bps — else ``InvalidLiquidation``; both oracles within their 5-min TWAP band. Returns the user
    (being liquidated, orders cancelled); the swap itself is the caller's."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio,
               initial_pct_to_liquidate, liquidation_duration)
    if user.bankrupt or liquidator.bankrupt:
        raise Rejected("UserBankrupt", "user bankrupt")
    asset_market, asset_price, asset_amount = _spot_side(env, user, asset_market_index, borrow=False)
    liability_market, liability_price, _ = _spot_side(env, user, liability_market_index, borrow=True)
    track = ("spot", liability_market_index)
    calc = env.margin(user, track=track)
    if not user.being_liquidated and calc.meets_cross_margin_requirement:
        raise Rejected("SufficientCollateral", "the user meets its maintenance margin requirement")
    if user.being_liquidated and calc.meets_margin_requirement_with_buffer:
        raise Rejected("InvalidLiquidation", "the user can exit liquidation")
    user, after, _ = _begin(env, user, liquidator, track)
    if after is None:
        raise Rejected("InvalidLiquidation", "the user can exit liquidation after its orders are cancelled")
    shortage = after.margin_shortage
    to_cover = liability_transfer_to_cover_margin_shortage(
        shortage, asset_market.maintenance_asset_weight, LIQUIDATION_FEE_PRECISION,
        liability_market.maintenance_liability_weight + env.buffer, LIQUIDATION_FEE_PRECISION, liability_market.decimals,
        liability_price, liability_market.if_liquidation_fee)
    pct = max_pct_to_liquidate(shortage, env.slot, user.last_active_slot, user.liquidation_margin_freed,
                               env.initial_pct, env.duration)
    if min(to_cover * pct, U128_MAX) // LIQUIDATION_PCT_PRECISION == 0:
        raise Rejected("InvalidLiquidation", "max liability allowed to be transferred is 0")
    cover = asset_transfer_for_liability_transfer(asset_amount, LIQUIDATION_FEE_PRECISION, asset_market.decimals,
                                                  asset_price, to_cover, LIQUIDATION_FEE_PRECISION,
                                                  liability_market.decimals, liability_price)
    max_asset_transfer = cover + cover // 400  # 25 bps
    swap_in = _nonneg("swap_amount_in", swap_amount_in)
    if max_asset_transfer == 0 or swap_in > max_asset_transfer:
        raise Rejected("InvalidLiquidation", f"swap_amount_in {swap_in} larger than max_asset_transfer {max_asset_transfer}")
    if swap_in > asset_amount:
        raise Rejected("InvalidLiquidation", f"swap_amount_in {swap_in} larger than asset_amount {asset_amount}")
    for name, price, m in (("liability", liability_price, liability_market), ("asset", asset_price, asset_market)):
        if oracle_too_divergent_with_twap_5min(price, m.last_oracle_price_twap_5min):
            raise Rejected("PriceBandsBreached", f"{name} oracle too divergent")
    return user


def liquidate_spot_with_swap_end(user: SpotAccount, asset_market_index: int, liability_market_index: int,
                                 asset_transfer: int, liability_transfer: int, *, spot_markets, spot_prices,
                                 perp_markets=None, perp_prices=None, slot: int = 0,
                                 liquidation_margin_buffer_ratio: int) -> SpotAccountLiquidation:
    """``controller/liquidation.rs::liquidate_spot_with_swap_end`` @0ae3e3b: after the swap, the swap's price must be
    within the liquidation multipliers' bound (``validate_swap_within_liquidation_boundaries``); the user's borrow is
    repaid with ``liability_transfer`` less the IF fee (``transfer × if_liquidation_fee / 1e6``, to the revenue
    pool) and ``asset_transfer`` leaves its deposit; the user leaves liquidation when the buffered requirement is met,
    or is bankrupt with only liabilities left. The liquidator's balances are untouched (the swap moved the tokens);
    ``SpotAccountLiquidation.liquidator`` is an empty account."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio, 0, 0)
    asset_market, liability_market = env.spot_markets[asset_market_index], env.spot_markets[liability_market_index]
    at, lt = _nonneg("asset_transfer", asset_transfer), _nonneg("liability_transfer", liability_transfer)
    validate_swap_within_liquidation_boundaries(
        at, lt, asset_market.decimals, liability_market.decimals, env.spot_prices[asset_market_index],
        env.spot_prices[liability_market_index], liquidation_multiplier(asset_market.liquidator_fee, premium=True),
        liquidation_multiplier(liability_market.liquidator_fee, premium=False))
    shortage = env.margin(user).margin_shortage
    if not user.being_liquidated:  # enter_cross_margin_liquidation
        user = replace(user, being_liquidated=True, liquidation_margin_freed=0, last_active_slot=env.slot)
    if user.spot_index(liability_market_index) is None:
        raise Rejected("CouldNotFindSpotPosition", f"no spot balance in market {liability_market_index}")
    if_fee = lt * liability_market.if_liquidation_fee // LIQUIDATION_FEE_PRECISION
    markets = env.spot_markets
    user = _move_tokens(user, liability_market_index, lt - if_fee, False, markets)
    markets[liability_market_index] = _update_revenue_pool(if_fee, markets[liability_market_index])
    user = _move_tokens(user, asset_market_index, at, True, markets)
    env = replace(env, spot_markets=markets)
    after = env.margin(user)
    freed = max(shortage - after.margin_shortage, 0)
    user = replace(user, liquidation_margin_freed=user.liquidation_margin_freed + freed)
    if after.meets_margin_requirement_with_buffer:
        user = _exit(user)
    elif _is_bankrupt(user):
        user = replace(user, being_liquidated=False, bankrupt=True)
    return SpotAccountLiquidation(user, SpotAccount(), markets, at, lt, if_fee, freed, shortage)


def resolve_perp_bankruptcy_account(user: SpotAccount, liquidator: SpotAccount, market_index: int, *,
                                    insurance_fund_vault_balance: int, base_asset_amount_long: int,
                                    base_asset_amount_short: int, quote_max_insurance: int = 0,
                                    quote_settled_insurance: int = 0, fee_pool_tokens: int = 0,
                                    cumulative_funding_rate_long: int = 0,
                                    cumulative_funding_rate_short: int = 0) -> tuple[SpotAccount, PerpBankruptcy]:
    """``controller/liquidation.rs::resolve_perp_bankruptcy`` @0ae3e3b on a :class:`SpotAccount`: in the position's
    mode (cross, or isolated when the position is), a user that should be bankrupt is marked so
    (``UserNotBankrupt`` otherwise); the liquidator may be neither bankrupt nor being liquidated; the loss (the
    position's negative quote) goes through :func:`ramparts.venues.drift.resolve_perp_bankruptcy`'s waterfall; the
    position's quote is cleared to 0 and the user leaves bankruptcy unless still bankrupt."""
    i = user.perp_index(market_index)
    mode = get_perp_liquidation_mode(user, market_index)
    cross = not isinstance(mode, IsolatedMarginLiquidatePerpMode)
    if not mode.is_bankrupt(user):
        user = mode.settle_bankruptcy(user) if i is not None else user
    if not mode.is_bankrupt(user):
        raise Rejected("UserNotBankrupt", "user not bankrupt")
    if liquidator.bankrupt:
        raise Rejected("UserBankrupt", "liquidator bankrupt")
    if liquidator.being_liquidated or liquidator.isolated_being_liquidated:
        raise Rejected("UserIsBeingLiquidated", "liquidator being liquidated")
    if i is None:
        raise Rejected("UserHasNoPositionInMarket", f"no position for perp market {market_index}")
    p = user.perp_positions[i]
    result = resolve_perp_bankruptcy(p.quote_asset_amount, insurance_fund_vault_balance=insurance_fund_vault_balance,
                                     quote_max_insurance=quote_max_insurance,
                                     quote_settled_insurance=quote_settled_insurance, fee_pool_tokens=fee_pool_tokens,
                                     base_asset_amount_long=base_asset_amount_long,
                                     base_asset_amount_short=base_asset_amount_short,
                                     cumulative_funding_rate_long=cumulative_funding_rate_long,
                                     cumulative_funding_rate_short=cumulative_funding_rate_short)
    user = _add_quote_asset_amount(user, market_index, -p.quote_asset_amount)
    still = (_is_bankrupt(user) if cross else
             is_isolated_margin_bankrupt(user.perp_positions[i], user.perp_positions[i].isolated_position_scaled_balance))
    if not still:  # exit_*_bankruptcy
        user = mode.exit(user)
    return user, result


@dataclass(frozen=True)
class AccountPerpLiquidation:
    """One ``liquidate_perp`` call on a :class:`SpotAccount`: the user after it, the transfer (None when the call
    ended before one), the margin freed (quote 1e6) and the mode's buffered shortage the transfer was sized on (after
    cancelling orders; 0 when the user left liquidation, as its shortage then is)."""

    user: SpotAccount
    liquidation: PerpLiquidation | None
    margin_freed: int = 0
    margin_shortage: int = 0


def _perp_liquidation_begin(env: _Env, user: SpotAccount, market_index: int, liquidator_position: PerpPosition | None):
    """The start shared by ``liquidate_perp`` and ``liquidate_perp_with_fill``: the position's liquidation mode,
    funding settled on the user's and the liquidator's position, then :func:`_begin` with the market tracked
    (``PositionDoesntHaveOpenPositionOrOrders`` before entering). Returns ``(user, liquidator_position, mode,
    calculation or None, freed)``."""
    mode = get_perp_liquidation_mode(user, market_index)
    if market_index not in env.perp_markets or market_index not in env.perp_prices:
        raise InvalidInput("perp_markets", f"no market or price for perp market {market_index}")
    market = env.perp_markets[market_index]
    i = user.perp_index(market_index)
    if i is not None:
        user = _set_perp(user, i, settle_funding_payment(user.perp_positions[i], market)[0])
    if liquidator_position is not None:
        liquidator_position = settle_funding_payment(liquidator_position, market)[0]

    def has_position(u: SpotAccount) -> None:
        if i is None or not (u.perp_positions[i].is_open_position or u.perp_positions[i].has_open_order):
            raise Rejected("PositionDoesntHaveOpenPositionOrOrders", "no position or order in the market")

    user, calc, freed = _begin(env, user, None, ("perp", market_index), mode=mode, check=has_position)
    return user, liquidator_position, mode, calc, freed


def liquidate_perp_in_account(user: SpotAccount, market_index: int, liquidator_max_base_asset_amount: int, *,
                              spot_markets, spot_prices, perp_markets, perp_prices, slot: int = 0,
                              limit_price: int | None = None, liquidation_margin_buffer_ratio: int,
                              initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION, liquidation_duration: int = 0,
                              liquidator_position: PerpPosition | None = None) -> AccountPerpLiquidation:
    """``controller/liquidation.rs::liquidate_perp`` @0ae3e3b on an account of several spot and perp positions, in
    the position's liquidation mode (:func:`get_perp_liquidation_mode`): a cross position is liquidated only when
    the cross account fails its requirement, an isolated one only when its own calculation does, and only that
    mode's orders, status and balances are touched. The one home of the controller flow
    (:func:`ramparts.venues.drift.liquidate_perp_account` adapts a one-position account to it)::

        settle funding (user's and liquidator's position in the market)
        margin     = maintenance calculation, liquidation buffer, market tracked; the mode's view of it
        refuse / leave / enter / cancel orders  (_begin; PositionDoesntHaveOpenPositionOrOrders before entering)
        stop       when no base is left
        transfer   = drift.liquidate_perp(position, shortage after cancelling, tracked share of it for the IF fee,
                     the user's high-leverage mode, max pct 100 % when isolated)
        freed     += shortage − mode's shortage after;  covers the shortage → leave, else bankrupt if only losses remain

    In a settled market (``PerpMarket.settlement_price``) the transfer is at the settlement price. The liquidator's
    own margin check and the oracle guards (none for a settled market's price band) are the caller's."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio,
               initial_pct_to_liquidate, liquidation_duration)
    user, liquidator_position, mode, calc, freed = _perp_liquidation_begin(env, user, market_index, liquidator_position)
    if calc is None:
        return AccountPerpLiquidation(user, None, freed)
    isolated = isinstance(mode, IsolatedMarginLiquidatePerpMode)
    market, price = env.perp_markets[market_index], env.perp_prices[market_index]
    if market.settlement_price is not None:  # a settled market transfers at its expiry price
        price = market.settlement_price
    quote_price = _price_of(env.spot_prices, QUOTE_SPOT_MARKET_INDEX, "spot_prices")[0]
    i = user.perp_index(market_index)
    view = mode.view(calc)
    if user.perp_positions[i].base_asset_amount == 0:
        return AccountPerpLiquidation(user, None, freed, view.margin_shortage if view.margin_buffer else 0)
    shortage = view.margin_shortage
    liq = liquidate_perp(user.perp_positions[i], market, price, shortage, liquidator_max_base_asset_amount,
                         limit_price=limit_price, quote_oracle_price=quote_price,
                         liquidation_margin_buffer_ratio=env.buffer, slot=env.slot,
                         last_active_slot=user.last_active_slot, liquidation_margin_freed=user.liquidation_margin_freed,
                         initial_pct_to_liquidate=env.initial_pct, liquidation_duration=env.duration,
                         high_leverage_mode=user.high_leverage_mode,
                         tracked_margin_shortage=calc.tracked_market_margin_shortage(shortage), isolated=isolated,
                         liquidator_position=liquidator_position)
    if liq.base_asset_amount == 0:
        return AccountPerpLiquidation(user, liq, freed, shortage)
    user = _set_perp(user, i, liq.user_position)
    step = max(shortage - mode.view(env.margin(user)).margin_shortage, 0)
    user = mode.add_freed(user, step)
    user = mode.exit(user) if liq.covers_margin_shortage else mode.settle_bankruptcy(user)
    return AccountPerpLiquidation(user, liq, freed + step, shortage)


@dataclass(frozen=True)
class AccountPerpFillLiquidation:
    """One ``liquidate_perp_with_fill`` call on a :class:`SpotAccount`: the user after it, the order's fill (None
    when the call ended before placing one), the insurance-fund fee the user paid on the fill's quote (the market's
    ``total_liquidation_fee`` increment), the margin freed, the buffered shortage the order was sized on, the
    order's size and limit price, and the IF fee rate (1e6)."""

    user: SpotAccount
    fill: drift_fill.PerpFill | None
    if_fee: int = 0
    margin_freed: int = 0
    margin_shortage: int = 0
    base_asset_amount: int = 0
    limit_price: int = 0
    if_fee_rate: int = 0


def liquidate_perp_with_fill_in_account(user: SpotAccount, market_index: int, *, spot_markets, spot_prices, perp_markets,
                                        perp_prices, fill_amm, amm_is_available: bool, oracle_twap_5min: int,
                                        makers=(), slot: int = 0, liquidation_margin_buffer_ratio: int,
                                        initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION,
                                        liquidation_duration: int = 0,
                                        liquidator_position: PerpPosition | None = None,
                                        **fee_kwargs) -> AccountPerpFillLiquidation:
    """``controller/liquidation.rs::liquidate_perp_with_fill`` @0ae3e3b: instead of the liquidator taking the
    position over at the oracle, the user's position is closed by a reduce-only limit order filled against
    ``makers`` (:class:`ramparts.venues.drift_fill.MakerOrder`) and the AMM (``fill_amm``,
    :class:`ramparts.venues.drift_fill.FillAmm`), the liquidator being the filler::

        settle funding; margin check / leave / enter / cancel orders (as liquidate_perp, the market tracked)
        stop       when no base is left; PriceBandsBreached when the oracle is ≥ 50 % off its 5-min TWAP
        ratio      = maintenance ratio of |base| (user's high-leverage mode) + buffer
        if_rate    = perp_if_fee(tracked shortage, |base|, ratio, market liquidator_fee, price, quote price)
        to_cover   = ceil_step(base_asset_amount_to_cover_margin_shortage(shortage, ratio, liquidator_fee, if_rate))
        base       = ceil_step(min(|base|, max(to_cover · max_pct / 1e4, all of it if worth ≤ $50)))  (0 → stop)
        limit      = oracle ∓ oracle · get_liquidation_fee(liquidator_fee, max fee, last_active_slot, slot) / 1e6
        fill       = drift_fill.fill_liquidation_order(...)   (nothing filled → LiquidationOrderFailedToFill)
        if_fee     = fill quote · if_rate / 1e6, paid from the user's quote (and break-even) to the IF
        freed     += shortage − mode's shortage after; leave if the buffered requirement is met, else bankrupt
                     if only losses remain

    ``fee_kwargs`` go to :func:`ramparts.venues.drift_fill.fill_liquidation_order` (fee tiers, filler rewards).
    The user's remaining order is cancelled, so its open orders, bids and asks in the market end at 0. Not
    modelled: the liquidator's pool / bankruptcy checks, paused operations, ``update_amm_and_check_validity``
    (the AMM's oracle / TWAP update before the fill), settlement-price markets, ``place_perp_order``'s order
    validation."""
    env = _env(spot_markets, perp_markets, spot_prices, perp_prices, slot, liquidation_margin_buffer_ratio,
               initial_pct_to_liquidate, liquidation_duration)
    user, liquidator_position, mode, calc, freed = _perp_liquidation_begin(env, user, market_index, liquidator_position)
    if calc is None:
        return AccountPerpFillLiquidation(user, None, margin_freed=freed)
    market, price = env.perp_markets[market_index], env.perp_prices[market_index]
    quote_price = _price_of(env.spot_prices, QUOTE_SPOT_MARKET_INDEX, "spot_prices")[0]
    i = user.perp_index(market_index)
    view = mode.view(calc)
    position = user.perp_positions[i]
    if position.base_asset_amount == 0:
        return AccountPerpFillLiquidation(user, None, margin_freed=freed)
    if oracle_too_divergent_with_twap_5min(price, oracle_twap_5min):
        raise Rejected("PriceBandsBreached", "oracle too divergent from its 5-min TWAP")
    user_base, step = abs(position.base_asset_amount), market.order_step_size
    ratio = perp_margin_ratio(market, user_base, MarginRequirementType.MAINTENANCE, user.high_leverage_mode)
    ratio += env.buffer
    shortage = view.margin_shortage
    if_rate = perp_if_fee(calc.tracked_market_margin_shortage(shortage), user_base, ratio, market.liquidator_fee, price,
                          quote_price, market.if_liquidation_fee)
    to_cover = standardize_base_asset_amount_ceil(
        base_asset_amount_to_cover_margin_shortage(shortage, ratio, market.liquidator_fee, if_rate, price, quote_price),
        step)
    allowed = to_cover * mode.max_pct(env, user, shortage) // LIQUIDATION_PCT_PRECISION
    if allowed > U64_MAX:
        raise Rejected("CastingFailure", "base asset amount allowed overflows u64")
    summary = dict(margin_freed=freed, margin_shortage=shortage, if_fee_rate=if_rate)
    if allowed == 0:
        return AccountPerpFillLiquidation(user, None, **summary)
    min_base = 0 if base_asset_value(user_base, price) > 50 * QUOTE_PRECISION else user_base
    base = standardize_base_asset_amount_ceil(min(user_base, max(allowed, min_base)), step)
    long = position.base_asset_amount > 0
    fee_rate = liquidation_fee(market.liquidator_fee, max_liquidation_fee(market), user.last_active_slot, env.slot)
    limit = liquidation_order_limit_price(price, long, fee_rate)
    fill = drift_fill.fill_liquidation_order(
        position, drift_fill.SHORT if long else drift_fill.LONG, base, limit, market=market, fill_amm=fill_amm,
        oracle_price=price, oracle_twap_5min=oracle_twap_5min, makers=makers, amm_is_available=amm_is_available,
        order_slot=env.slot, slot=env.slot, filler_position=liquidator_position,
        high_leverage_mode=user.high_leverage_mode,
        twap_5min_percent_divergence=MAX_ORACLE_TWAP_5MIN_PERCENT_DIVERGENCE, **fee_kwargs)
    if fill.base_asset_amount == 0:
        raise Rejected("LiquidationOrderFailedToFill", "the liquidation order did not fill")
    if_fee = fill.quote_asset_amount * if_rate // LIQUIDATION_FEE_PRECISION
    user = _set_perp(user, i, _no_orders(_add_quote(fill.user_position, -if_fee)))
    step_freed = max(shortage - mode.view(env.margin(user)).margin_shortage, 0)
    user = mode.add_freed(user, step_freed)
    after = mode.view(env.margin(user))
    user = mode.exit(user) if after.meets_margin_requirement_with_buffer else mode.settle_bankruptcy(user)
    return AccountPerpFillLiquidation(user, fill, if_fee, freed + step_freed, shortage, base, limit, if_rate)
