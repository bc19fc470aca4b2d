"""Drift v2's perp-market AMM: reserve, bid and ask prices, the trigger price for stop orders, whether the AMM
may fill an order (``PerpMarket::amm_can_fill_order`` with the oracle-validity, MM-oracle and auction-skip checks it
calls), the users' net pnl against the AMM and the expiry price, the AMM's oracle / mark TWAP and
standard-deviation updates, and the hourly funding update (``controller/funding.rs::update_funding_rate`` with its
oracle guard ``math/oracle.rs::block_operation`` / ``oracle_validity``, ``math/helpers.rs::on_the_hour_update`` and
``controller/repeg.rs::_update_amm`` for markets without curve updates).

:mod:`ramparts.venues.drift` owns the margin and liquidation maths (this module imports its constants, contract
tiers and Rust-integer helpers); this module owns the AMM side of ``state/perp_market.rs`` and what it reads from
``math/amm.rs``, ``math/stats.rs``, ``math/oracle.rs`` (``OracleValidity``, ``is_oracle_valid_for_action``),
``state/oracle.rs`` (``MMOraclePriceData``), ``state/user.rs`` (``Order::is_low_risk_for_amm``,
``User::can_skip_auction_duration``), ``state/paused_operations.rs`` and ``state/state.rs`` (exchange status).
Source: drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62`` (``programs/drift/src/``).
Drift's own unit tests for it are ported in ``tests/test_venue_drift_amm_cases.py``. The AMM is an immutable
:class:`AMM`; an update returns a new one.

Units, as Drift's (ints): PRICE 1e6, AMM reserves and base 1e9, PEG 1e6, spreads 1e6 (BID_ASK_SPREAD_PRECISION),
QUOTE 1e6, funding rates 1e9, percentages 1e6, timestamps in seconds. Divisions truncate toward zero as Rust's do;
a failed ``cast`` is raised as :class:`ramparts.errors.Rejected` with reason ``CastingFailure`` and arithmetic
errors as ``MathError`` (other Drift error codes likewise by name).

Formulas::

    reserve price     = quote_reserve · peg / base_reserve                      (PRICE_TO_PEG ratio 1)
    ask price         = reserve · (1e6 + long_spread + reference_offset) / 1e6
    bid price         = reserve · (1e6 − short_spread + reference_offset) / 1e6
    net user pnl      = (base_with_amm + unsettled lp base) · oracle / 1e9 + quote_asset_amount (+ lp, funding)
    expiry price      = −(quote_asset_amount − excess) · 1e9 / base_with_amm, capped at the target, ∓ 1
    funding basis     = oracle · (rate·1e6/oracle_twap·24 − 1e9/5000) / 1e6 · (period − elapsed) / period / 1e3
    trigger price     = clamp(median(last fill or oracle, oracle + funding basis, oracle + 5-min basis),
                              oracle ± oracle/{500 for tiers A–B, 100 for C, 40 below})
    AMM can fill      = not paused, no excess drawdown, MM oracle not > 1 % off the exchange oracle, oracle valid for
                        low-risk fills, and (order low risk, or user and AMM may both skip the auction)
    new TWAP          = (price · since_last + twap · max(1, period − since_last)) / (sum) ± 1 toward the price
    oracle update     = oracle normalised toward reserve (± confidence, within 2.5 bps), capped to twap ± twap/3
    std               = max(|price − twap|, |price − twap_5min|)   (the rolling sum's 1-hour window keeps only it)
    funding blocked   = AMM not updated for > funding_period slots, oracle invalid for UpdateFunding, reserve
                        > max(10 %, rail) off the 5-min oracle TWAP, or UpdateFunding paused
    funding update    = rate(mark TWAP at the execution-premium price, oracle TWAP) split long/short against a third
                        of the fee pool; cumulative rates +=, 24 h average = new TWAP over 24 h,
                        net_unsettled_funding_pnl −= the AMM's funding pnl
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ramparts.errors import InvalidInput, Rejected
from ramparts.venues.drift import (
    BASE_PRECISION,
    FUNDING_RATE_BUFFER,
    FUNDING_RATE_OFFSET_DENOMINATOR,
    FUNDING_RATE_PRECISION,
    PERCENTAGE_PRECISION,
    PRICE_PRECISION,
    PRICE_TIMES_AMM_TO_QUOTE_PRECISION_RATIO,
    QUOTE_PRECISION,
    U64_MAX,
    ContractTier,
    _int,
    _nonneg,
    _tdiv,
    _usub,
    funding_rate,
    funding_rate_long_short,
)

__all__ = [
    "AMM_RESERVE_PRECISION", "BID_ASK_SPREAD_PRECISION", "DEFAULT_REVENUE_SINCE_LAST_FUNDING_SPREAD_RETREAT",
    "FUNDING_RATE_OFFSET_PERCENTAGE", "MM_EXCHANGE_FALLBACK_THRESHOLD", "PEG_PRECISION",
    "AMM", "AmmPerpMarket", "DriftAction", "ExchangeStatus", "FillMode", "MMOraclePriceData", "OraclePriceData",
    "OracleValidity", "Order", "PerpOperation", "PositionDirection", "StaleForAmm", "UserStatsPausedOperations",
    "SwapDirection", "amm_can_fill_order", "amm_has_low_enough_inventory", "amm_jit_is_active", "amm_wants_to_jit_make",
    "ask_price", "bid_price", "calculate_market_open_bids_asks", "calculate_price", "calculate_swap_output",
    "can_skip_auction_duration", "clamp_trigger_price", "expiry_price", "has_too_much_drawdown", "is_low_risk_for_amm", "is_oracle_valid_for_action",
    "last_ask_premium", "last_bid_discount", "last_funding_basis", "mm_oracle_price_data", "net_user_cost_basis",
    "net_user_pnl", "reserve_price", "terminal_price_and_reserves", "trigger_price", "user_can_skip_auction_duration",
    "calculate_new_twap", "calculate_rolling_sum", "calculate_weighted_average", "estimate_best_bid_ask_price",
    "new_oracle_conf_pct", "new_oracle_price_twap", "normalise_oracle_price", "sanitize_new_price",
    "update_amm_mark_std", "update_amm_oracle_std", "update_mark_twap", "update_mark_twap_from_estimates",
    "update_oracle_price_twap",
    "OracleGuardRails", "ValidityGuardRails", "block_operation", "is_oracle_mark_too_divergent",
    "oracle_twap_5min_price_spread_pct", "oracle_validity", "on_the_hour_update", "perp_mm_oracle_price_data",
    "update_amm", "update_funding_rate", "update_spreads",
]

AMM_RESERVE_PRECISION = BASE_PRECISION
PEG_PRECISION = 10**6
PRICE_TO_PEG_PRECISION_RATIO = PRICE_PRECISION // PEG_PRECISION
BID_ASK_SPREAD_PRECISION = PERCENTAGE_PRECISION
FUNDING_RATE_OFFSET_PERCENTAGE = FUNDING_RATE_PRECISION // FUNDING_RATE_OFFSET_DENOMINATOR
DEFAULT_REVENUE_SINCE_LAST_FUNDING_SPREAD_RETREAT = -25 * QUOTE_PRECISION  # a $25 loss
MM_EXCHANGE_FALLBACK_THRESHOLD = PERCENTAGE_PRECISION // 100  # 1 %
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def _cast(name: str, v: int, lo: int, hi: int) -> int:
    """Rust's ``Cast::cast`` into an integer type with range [lo, hi]: out of range is ``CastingFailure``."""
    if not lo <= v <= hi:
        raise Rejected("CastingFailure", f"{name}={v} does not fit [{lo}, {hi}]")
    return v


def _u64(name: str, v: int) -> int:
    return _cast(name, v, 0, U64_MAX)


def _i64(name: str, v: int) -> int:
    return _cast(name, v, I64_MIN, I64_MAX)


# ============================================================================ enums and flags
class PositionDirection(enum.Enum):
    """``controller/position.rs::PositionDirection``."""

    LONG = "long"
    SHORT = "short"


class PerpOperation(enum.IntFlag):
    """``state/paused_operations.rs::PerpOperation``: bits of ``PerpMarket::paused_operations``."""

    UPDATE_FUNDING = 0b00000001
    AMM_FILL = 0b00000010
    FILL = 0b00000100
    SETTLE_PNL = 0b00001000
    SETTLE_PNL_WITH_POSITION = 0b00010000
    LIQUIDATION = 0b00100000
    AMM_IMMEDIATE_FILL = 0b01000000
    SETTLE_REV_POOL = 0b10000000


class ExchangeStatus(enum.IntFlag):
    """``state/state.rs::ExchangeStatus``: bits of ``State::exchange_status`` (0 = active)."""

    DEPOSIT_PAUSED = 0b00000001
    WITHDRAW_PAUSED = 0b00000010
    AMM_PAUSED = 0b00000100
    FILL_PAUSED = 0b00001000
    LIQ_PAUSED = 0b00010000
    FUNDING_PAUSED = 0b00100000
    SETTLE_PNL_PAUSED = 0b01000000
    AMM_IMMEDIATE_FILL_PAUSED = 0b10000000


class UserStatsPausedOperations(enum.IntFlag):
    """``state/user.rs::UserStatsPausedOperations``: bits of ``UserStats::paused_operations``."""

    UPDATE_BID_ASK_TWAP = 0b00000001
    AMM_ATOMIC_FILL = 0b00000010
    AMM_ATOMIC_RISK_INCREASING_FILL = 0b00000100


class FillMode(enum.Enum):
    """``state/fill_mode.rs::FillMode`` (``PlaceAndTake``'s payload is not read here)."""

    FILL = "fill"
    PLACE_AND_MAKE = "place_and_make"
    PLACE_AND_TAKE = "place_and_take"
    LIQUIDATION = "liquidation"

    @property
    def is_liquidation(self) -> bool:
        """``FillMode::is_liquidation``."""
        return self is FillMode.LIQUIDATION


class OracleValidity(enum.Enum):
    """``math/oracle.rs::OracleValidity`` except ``StaleForAMM``, which carries two flags (:class:`StaleForAmm`)."""

    NON_POSITIVE = "NonPositive"
    TOO_VOLATILE = "TooVolatile"
    TOO_UNCERTAIN = "TooUncertain"
    STALE_FOR_MARGIN = "StaleForMargin"
    INSUFFICIENT_DATA_POINTS = "InsufficientDataPoints"
    VALID = "Valid"


@dataclass(frozen=True)
class StaleForAmm:
    """``OracleValidity::StaleForAMM { immediate, low_risk }``: too stale for immediate (and, with ``low_risk``,
    for low-risk) AMM fills."""

    immediate: bool
    low_risk: bool


class DriftAction(enum.Enum):
    """``math/oracle.rs::DriftAction``."""

    UPDATE_FUNDING = "UpdateFunding"
    SETTLE_PNL = "SettlePnl"
    TRIGGER_ORDER = "TriggerOrder"
    FILL_ORDER_MATCH = "FillOrderMatch"
    FILL_ORDER_AMM_LOW_RISK = "FillOrderAmmLowRisk"
    FILL_ORDER_AMM_IMMEDIATE = "FillOrderAmmImmediate"
    LIQUIDATE = "Liquidate"
    MARGIN_CALC = "MarginCalc"
    UPDATE_TWAP = "UpdateTwap"
    UPDATE_AMM_CURVE = "UpdateAMMCurve"
    ORACLE_ORDER_PRICE = "OracleOrderPrice"
    USE_MM_ORACLE_PRICE = "UseMMOraclePrice"
    UPDATE_AMM_CACHE = "UpdateAmmCache"
    UPDATE_LP_POOL_AUM = "UpdateLpPoolAum"
    LP_POOL_SWAP = "LpPoolSwap"


_V = OracleValidity


def is_oracle_valid_for_action(validity: OracleValidity | StaleForAmm, action: DriftAction | None = None) -> bool:
    """``math/oracle.rs::is_oracle_valid_for_action``: which validity states each action accepts. AMM immediate fills
    (and ``None``) need Valid; AMM low-risk fills also take StaleForAMM without ``low_risk``; funding, settle-pnl and
    oracle-order prices tolerate staleness and few data points in turn; the rest reject the listed failures."""
    if not isinstance(validity, (OracleValidity, StaleForAmm)):
        raise TypeError(f"validity must be an OracleValidity or StaleForAmm, got {validity!r}")
    stale_amm = isinstance(validity, StaleForAmm)
    A = DriftAction
    if action is None or action is A.FILL_ORDER_AMM_IMMEDIATE:
        return validity is _V.VALID
    if action is A.FILL_ORDER_AMM_LOW_RISK:
        return validity is _V.VALID or (stale_amm and not validity.low_risk)
    if action in (A.UPDATE_FUNDING, A.SETTLE_PNL):
        return stale_amm or validity in (_V.VALID, _V.INSUFFICIENT_DATA_POINTS, _V.STALE_FOR_MARGIN)
    if action is A.ORACLE_ORDER_PRICE:
        return stale_amm or validity in (_V.VALID, _V.INSUFFICIENT_DATA_POINTS)
    if action is A.MARGIN_CALC:
        return validity not in (_V.NON_POSITIVE, _V.TOO_VOLATILE, _V.TOO_UNCERTAIN, _V.STALE_FOR_MARGIN)
    if action in (A.TRIGGER_ORDER, A.LIQUIDATE, A.USE_MM_ORACLE_PRICE):
        return validity not in (_V.NON_POSITIVE, _V.TOO_VOLATILE)
    if action in (A.FILL_ORDER_MATCH, A.UPDATE_AMM_CACHE, A.UPDATE_LP_POOL_AUM, A.LP_POOL_SWAP):
        return validity not in (_V.NON_POSITIVE, _V.TOO_VOLATILE, _V.TOO_UNCERTAIN)
    if action in (A.UPDATE_TWAP, A.UPDATE_AMM_CURVE):
        return validity is not _V.NON_POSITIVE
    raise TypeError(f"action must be a DriftAction or None, got {action!r}")


# ============================================================================ oracle price data (state/oracle.rs)
@dataclass(frozen=True)
class OraclePriceData:
    """``state/oracle.rs::OraclePriceData``: price (1e6), confidence, delay in slots, sequence id if any."""

    price: int
    confidence: int = 0
    delay: int = 0
    has_sufficient_number_of_data_points: bool = True
    sequence_id: int | None = None


@dataclass(frozen=True)
class MMOraclePriceData:
    """``state/oracle.rs::MMOraclePriceData``: the market maker's oracle, the exchange oracle, their gap (1e6) and
    the safe oracle data (the MM oracle's unless it fell back to the exchange's). Build with
    :func:`mm_oracle_price_data`."""

    mm_oracle_price: int
    mm_oracle_delay: int
    mm_oracle_sequence_id: int
    mm_oracle_validity: OracleValidity | StaleForAmm
    mm_exchange_diff_bps: int
    exchange_oracle_price_data: OraclePriceData
    safe_oracle_price_data: OraclePriceData

    @property
    def is_enabled(self) -> bool:
        """``MMOraclePriceData::is_enabled``: a nonzero MM price with a non-negative delay."""
        return self.mm_oracle_price != 0 and self.mm_oracle_delay >= 0

    @property
    def is_mm_oracle_as_recent(self) -> bool:
        """``MMOraclePriceData::is_mm_oracle_as_recent``: MM delay ≤ the safe data's delay."""
        return self.mm_oracle_delay <= self.safe_oracle_price_data.delay

    @property
    def is_mm_exchange_diff_bps_high(self) -> bool:
        """``MMOraclePriceData::is_mm_exchange_diff_bps_high``: the gap exceeds 1 % (1e4 of 1e6)."""
        return self.mm_exchange_diff_bps > MM_EXCHANGE_FALLBACK_THRESHOLD


def mm_oracle_price_data(mm_oracle_price: int, mm_oracle_delay: int, mm_oracle_sequence_id: int,
                         mm_oracle_validity: OracleValidity | StaleForAmm, exchange: OraclePriceData) -> MMOraclePriceData:
    """``state/oracle.rs::MMOraclePriceData::new``.

    ``diff = |mm − exchange| · 1e6 / max(|exchange|, 1)`` (u128 floor). The exchange oracle is the more recent when
    both sequence ids are nonzero and within ``exchange_seq / 10000`` of each other and the exchange's is larger, or
    otherwise when the MM delay exceeds the exchange delay. The safe data is the exchange's when it is more recent,
    the MM price is 0, the MM validity fails ``UseMMOraclePrice`` or ``diff > 1 %``; else the MM price and delay with
    confidence ``exchange confidence + |mm − exchange|``."""
    mm_price, mm_delay = _int("mm_oracle_price", mm_oracle_price), _int("mm_oracle_delay", mm_oracle_delay)
    mm_seq = _nonneg("mm_oracle_sequence_id", mm_oracle_sequence_id)
    diff_bps = abs(mm_price - exchange.price) * PERCENTAGE_PRECISION // max(abs(exchange.price), 1)
    seq = exchange.sequence_id
    if seq is not None and abs(seq - mm_seq) < seq // 10_000 and seq != 0 and mm_seq != 0:
        exchange_more_recent = seq > mm_seq
    else:
        exchange_more_recent = mm_delay > exchange.delay
    if (exchange_more_recent or mm_price == 0
            or not is_oracle_valid_for_action(mm_oracle_validity, DriftAction.USE_MM_ORACLE_PRICE)
            or diff_bps > MM_EXCHANGE_FALLBACK_THRESHOLD):
        safe = exchange
    else:
        safe = OraclePriceData(price=mm_price, confidence=exchange.confidence + abs(mm_price - exchange.price),
                               delay=mm_delay, has_sufficient_number_of_data_points=True, sequence_id=mm_seq)
    return MMOraclePriceData(mm_price, mm_delay, mm_seq, mm_oracle_validity, diff_bps, exchange, safe)


# ============================================================================ AMM state
@dataclass(frozen=True)
class AMM:
    """The fields of ``state/perp_market.rs::AMM`` the functions here read or update (Rust's ``Default``: all
    zero). ``last_oracle_price``, ``last_oracle_price_twap``, ``last_oracle_price_twap_5min``,
    ``last_oracle_price_twap_ts`` and ``last_oracle_delay`` are the AMM's ``historical_oracle_data`` fields."""

    base_asset_reserve: int = 0
    quote_asset_reserve: int = 0
    sqrt_k: int = 0
    peg_multiplier: int = 0
    max_base_asset_reserve: int = 0
    min_base_asset_reserve: int = 0
    long_spread: int = 0
    short_spread: int = 0
    reference_price_offset: int = 0
    base_asset_amount_with_amm: int = 0
    base_asset_amount_with_unsettled_lp: int = 0
    quote_asset_amount: int = 0
    quote_asset_amount_with_unsettled_lp: int = 0
    net_unsettled_funding_pnl: int = 0
    order_step_size: int = 0
    amm_jit_intensity: int = 0
    net_revenue_since_last_funding: int = 0
    total_fee_minus_distributions: int = 0
    last_funding_rate: int = 0
    last_funding_rate_ts: int = 0
    last_funding_oracle_twap: int = 0
    funding_period: int = 0
    last_mark_price_twap_5min: int = 0
    last_oracle_price: int = 0
    last_oracle_price_twap_5min: int = 0
    base_spread: int = 0
    order_tick_size: int = 0
    mark_std: int = 0
    oracle_std: int = 0
    last_bid_price_twap: int = 0
    last_ask_price_twap: int = 0
    last_mark_price_twap: int = 0
    last_mark_price_twap_ts: int = 0
    last_oracle_price_twap: int = 0
    last_oracle_price_twap_ts: int = 0
    last_oracle_delay: int = 0
    last_oracle_normalised_price: int = 0
    last_oracle_conf_pct: int = 0
    last_oracle_reserve_price_spread_pct: int = 0
    last_update_slot: int = 0
    base_asset_amount_long: int = 0
    base_asset_amount_short: int = 0
    total_exchange_fee: int = 0
    total_liquidation_fee: int = 0
    total_fee_withdrawn: int = 0
    cumulative_funding_rate_long: int = 0
    cumulative_funding_rate_short: int = 0
    last_funding_rate_long: int = 0
    last_funding_rate_short: int = 0
    last_24h_avg_funding_rate: int = 0
    curve_update_intensity: int = 0
    mm_oracle_price: int = 0
    mm_oracle_slot: int = 0
    mm_oracle_sequence_id: int = 0
    oracle_slot_delay_override: int = 0
    oracle_low_risk_slot_delay_override: int = 0
    stable_coin_oracle: bool = False  #: ``oracle_source`` is PythStableCoinPull or PythLazerStableCoin
    amm_spread_adjustment: int = 0
    last_oracle_valid: bool = False
    total_fee: int = 0


@dataclass(frozen=True)
class AmmPerpMarket:
    """The fields of ``state/perp_market.rs::PerpMarket`` the AMM functions read (``Default``: tier
    HighlySpeculative, nothing paused, no last fill)."""

    amm: AMM = AMM()
    contract_tier: ContractTier = ContractTier.HIGHLY_SPECULATIVE
    paused_operations: int = 0
    last_fill_price: int = 0


@dataclass(frozen=True)
class Order:
    """The fields of ``state/user.rs::Order`` that ``amm_can_fill_order`` reads: the slot it was placed in, its
    direction, whether it is a spot order and whether its SafeTriggerOrder bit flag is set."""

    slot: int = 0
    direction: PositionDirection = PositionDirection.LONG
    spot: bool = False
    safe_trigger_order: bool = False


# ============================================================================ prices (math/amm.rs, AMM impl)
def calculate_price(quote_asset_reserve: int, base_asset_reserve: int, peg_multiplier: int) -> int:
    """``math/amm.rs::calculate_price``: ``quote_reserve · peg · PRICE_TO_PEG / base_reserve`` (unsigned floor,
    PRICE 1e6, cast to u64)."""
    q, b = _nonneg("quote_asset_reserve", quote_asset_reserve), _nonneg("base_asset_reserve", base_asset_reserve)
    if b == 0:
        raise Rejected("MathError", "division by zero")
    return _u64("price", q * _nonneg("peg_multiplier", peg_multiplier) * PRICE_TO_PEG_PRECISION_RATIO // b)


def reserve_price(amm: AMM) -> int:
    """``state/perp_market.rs::AMM::reserve_price``: :func:`calculate_price` of the AMM's reserves and peg."""
    return calculate_price(amm.quote_asset_reserve, amm.base_asset_reserve, amm.peg_multiplier)


def _spread_price(reserve: int, adjusted_spread: int) -> int:
    multiplier = _cast("multiplier", BID_ASK_SPREAD_PRECISION + adjusted_spread, 0, 2**128 - 1)
    return _u64("price", _nonneg("reserve_price", reserve) * multiplier // BID_ASK_SPREAD_PRECISION)


def bid_price(amm: AMM, reserve: int) -> int:
    """``state/perp_market.rs::AMM::bid_price``: ``reserve · (1e6 − short_spread + reference_price_offset) / 1e6``."""
    return _spread_price(reserve, -_nonneg("short_spread", amm.short_spread) + _int("reference_price_offset",
                                                                                    amm.reference_price_offset))


def ask_price(amm: AMM, reserve: int) -> int:
    """``state/perp_market.rs::AMM::ask_price``: ``reserve · (1e6 + long_spread + reference_price_offset) / 1e6``."""
    return _spread_price(reserve, _nonneg("long_spread", amm.long_spread) + _int("reference_price_offset",
                                                                                 amm.reference_price_offset))


def last_ask_premium(amm: AMM) -> int:
    """``state/perp_market.rs::AMM::last_ask_premium``: ask price − last oracle price (PRICE 1e6)."""
    return _i64("ask_price", ask_price(amm, reserve_price(amm))) - _int("last_oracle_price", amm.last_oracle_price)


def last_bid_discount(amm: AMM) -> int:
    """``state/perp_market.rs::AMM::last_bid_discount``: last oracle price − bid price (PRICE 1e6)."""
    return _int("last_oracle_price", amm.last_oracle_price) - _i64("bid_price", bid_price(amm, reserve_price(amm)))


def net_user_cost_basis(amm: AMM) -> int:
    """``math/amm.rs::calculate_net_user_cost_basis``: ``quote_asset_amount + quote with unsettled LP + net
    unsettled funding pnl`` (QUOTE 1e6)."""
    return amm.quote_asset_amount + amm.quote_asset_amount_with_unsettled_lp + amm.net_unsettled_funding_pnl


def net_user_pnl(amm: AMM, oracle_price: int) -> int:
    """``math/amm.rs::calculate_net_user_pnl``: the users' net position against the AMM valued at the oracle,
    ``(base_with_amm + base_with_unsettled_lp) · price / 1e9`` (truncated), plus :func:`net_user_cost_basis`.
    A price ≤ 0 is ``InvalidOracle``."""
    price = _int("oracle_price", oracle_price)
    if price <= 0:
        raise Rejected("InvalidOracle", "oracle_price <= 0")
    base = amm.base_asset_amount_with_amm + amm.base_asset_amount_with_unsettled_lp
    return _tdiv(base * price, PRICE_TIMES_AMM_TO_QUOTE_PRECISION_RATIO) + net_user_cost_basis(amm)


class SwapDirection(enum.Enum):
    """``controller/position.rs::SwapDirection``: add to or remove from the input reserve."""

    ADD = "add"
    REMOVE = "remove"


def calculate_swap_output(swap_amount: int, input_asset_reserve: int, direction: SwapDirection,
                          invariant_sqrt: int) -> tuple[int, int]:
    """``math/amm.rs::calculate_swap_output``: (new output reserve, new input reserve) on the curve
    ``x·y = sqrt_k²``: ``input' = input ± amount``, ``output' = sqrt_k² / input'`` (floor). Removing more than the
    reserve is ``TradeSizeTooLarge``."""
    amount, reserve = _nonneg("swap_amount", swap_amount), _nonneg("input_asset_reserve", input_asset_reserve)
    k = _nonneg("invariant_sqrt", invariant_sqrt) ** 2
    if SwapDirection(direction) is SwapDirection.ADD:
        new_input = reserve + amount
    else:
        if amount > reserve:
            raise Rejected("TradeSizeTooLarge", f"{amount} > {reserve}")
        new_input = reserve - amount
    if new_input == 0:
        raise Rejected("MathError", "division by zero")
    return _cast("new_output_asset_reserve", k // new_input, 0, 2**128 - 1), new_input


def terminal_price_and_reserves(amm: AMM) -> tuple[int, int, int]:
    """``math/amm.rs::calculate_terminal_price_and_reserves`` (with ``calculate_terminal_reserves``): the reserves
    once the users' net position is closed against the AMM (base reserve + net base if users are net long, − if net
    short, quote = sqrt_k² / base) and :func:`calculate_price` there: (price, quote reserve, base reserve)."""
    net = _int("base_asset_amount_with_amm", amm.base_asset_amount_with_amm)
    direction = SwapDirection.ADD if net > 0 else SwapDirection.REMOVE
    quote, base = calculate_swap_output(abs(net), amm.base_asset_reserve, direction, amm.sqrt_k)
    return calculate_price(quote, base, amm.peg_multiplier), quote, base


def expiry_price(amm: AMM, target_price: int, total_excess_balance: int) -> int:
    """``math/amm.rs::calculate_expiry_price`` (PRICE 1e6): ``target`` if ``|base_with_amm| < order_step_size``;
    else the break-even price ``best = −((quote_asset_amount − excess) · 1e9 / base_with_amm)`` (truncated, i64),
    capped at the target from the users' side and moved one unit against them: users net long →
    ``min(best, target) − 1``, net short → ``max(best, target) + 1`` (i64 saturating)."""
    target, excess = _i64("target_price", _int("target_price", target_price)), _int("total_excess_balance", total_excess_balance)
    net = _int("base_asset_amount_with_amm", amm.base_asset_amount_with_amm)
    if abs(net) < _nonneg("order_step_size", amm.order_step_size):
        return target
    best = _i64("best_expiry_price", -_tdiv((amm.quote_asset_amount - excess) * PRICE_TIMES_AMM_TO_QUOTE_PRECISION_RATIO, net))
    return max(min(best, target) - 1, I64_MIN) if net >= 0 else min(max(best, target) + 1, I64_MAX)


def calculate_market_open_bids_asks(base_asset_reserve: int, min_base_asset_reserve: int,
                                    max_base_asset_reserve: int) -> tuple[int, int]:
    """``math/amm.rs::_calculate_market_open_bids_asks``: (max bids, max asks) the AMM can absorb before its base
    reserve hits a bound: ``bids = base − min`` if base > min else 0, ``asks = −(max − base)`` if base < max else 0."""
    base = _nonneg("base_asset_reserve", base_asset_reserve)
    lo, hi = _nonneg("min_base_asset_reserve", min_base_asset_reserve), _nonneg("max_base_asset_reserve", max_base_asset_reserve)
    max_asks = -(hi - base) if base < hi else 0
    max_bids = base - lo if base > lo else 0
    return max_bids, max_asks


# ============================================================================ trigger price (PerpMarket impl)
def last_funding_basis(market: AmmPerpMarket, oracle_price: int, now: int) -> int:
    """``state/perp_market.rs::PerpMarket::get_last_funding_basis`` (PRICE 1e6): 0 without a last funding oracle
    TWAP; else with ``rate = last_funding_rate · 1e6 / last_funding_oracle_twap · 24 − 1e9/5000`` and
    ``elapsed = min(now − last_funding_rate_ts, period)``:
    ``oracle · rate / 1e6 · (period − elapsed) / period / 1e3``, every division truncating (i128)."""
    amm = market.amm
    oracle, now = _int("oracle_price", oracle_price), _int("now", now)
    if amm.last_funding_oracle_twap <= 0:
        return 0
    rate = _tdiv(_int("last_funding_rate", amm.last_funding_rate) * PRICE_PRECISION, amm.last_funding_oracle_twap) * 24
    rate_pre_adj = rate - FUNDING_RATE_OFFSET_PERCENTAGE
    period = _int("funding_period", amm.funding_period)
    elapsed = min(now - _int("last_funding_rate_ts", amm.last_funding_rate_ts), period)
    basis = _tdiv(_tdiv(oracle * rate_pre_adj, PERCENTAGE_PRECISION) * (period - elapsed), period)
    return _i64("last_funding_basis", _tdiv(basis, FUNDING_RATE_BUFFER))


def clamp_trigger_price(market: AmmPerpMarket, oracle_price: int, median_price: int) -> int:
    """``state/perp_market.rs::PerpMarket::clamp_trigger_price``: ``median`` clamped to ``oracle ± oracle / d``
    (u64 floor), ``d`` = 500 (20 bps) for tiers A–B, 100 (1 %) for C, 40 (2.5 %) for the rest."""
    oracle, median = _nonneg("oracle_price", oracle_price), _nonneg("median_price", median_price)
    tier = ContractTier(market.contract_tier)
    d = 500 if tier <= ContractTier.B else 100 if tier is ContractTier.C else 40
    max_diff = oracle // d
    upper = oracle + max_diff
    if upper > U64_MAX:
        raise Rejected("MathError", f"u64 addition overflows ({oracle} + {max_diff})")
    return min(max(median, _usub(oracle, max_diff)), upper)


def trigger_price(market: AmmPerpMarket, oracle_price: int, now: int, use_median_price: bool) -> int:
    """``state/perp_market.rs::PerpMarket::get_trigger_price`` (PRICE 1e6): the oracle price, or with
    ``use_median_price`` the median of (last fill price if any else |oracle|, oracle + :func:`last_funding_basis`,
    oracle + 5-minute basis ``mark_twap_5min − oracle_twap_5min``) passed through :func:`clamp_trigger_price`."""
    oracle = _int("oracle_price", oracle_price)
    if not use_median_price:
        return _u64("oracle_price", oracle)
    amm = market.amm
    basis_5min = _i64("last_mark_price_twap_5min", _nonneg("last_mark_price_twap_5min", amm.last_mark_price_twap_5min)) \
        - _int("last_oracle_price_twap_5min", amm.last_oracle_price_twap_5min)
    oracle_plus_basis_5min = _u64("oracle_plus_basis_5min", oracle + basis_5min)
    oracle_plus_funding_basis = _u64("oracle_plus_funding_basis", oracle + last_funding_basis(market, oracle, now))
    first = market.last_fill_price if _nonneg("last_fill_price", market.last_fill_price) > 0 else abs(oracle)
    median = sorted((first, oracle_plus_funding_basis, oracle_plus_basis_5min))[1]
    return clamp_trigger_price(market, abs(oracle), median)


# ============================================================================ AMM fill permission
def has_too_much_drawdown(market: AmmPerpMarket) -> bool:
    """``state/perp_market.rs::PerpMarket::has_too_much_drawdown``: the AMM's revenue since the last funding is at
    or below −$25 × 400 (tiers A–B) or × 200 (others), and as a fraction of ``max(total_fee_minus_distributions, 1)``
    (1e6, truncated) at or below −1/50 (A), −1/33 (B), −1/25 (C), −1/20 (others)."""
    amm, tier = market.amm, ContractTier(market.contract_tier)
    rev = _int("net_revenue_since_last_funding", amm.net_revenue_since_last_funding)
    limit = DEFAULT_REVENUE_SINCE_LAST_FUNDING_SPREAD_RETREAT * (400 if tier <= ContractTier.B else 200)
    if rev > limit:
        return False
    pct = _tdiv(rev * PERCENTAGE_PRECISION, max(_int("total_fee_minus_distributions", amm.total_fee_minus_distributions), 1))
    divisor = {ContractTier.A: 50, ContractTier.B: 33, ContractTier.C: 25}.get(tier, 20)
    return pct <= -(PERCENTAGE_PRECISION // divisor)


def amm_jit_is_active(amm: AMM) -> bool:
    """``state/perp_market.rs::AMM::amm_jit_is_active``: ``amm_jit_intensity > 0``."""
    return amm.amm_jit_intensity > 0


def amm_wants_to_jit_make(amm: AMM, taker_direction: PositionDirection) -> bool:
    """``state/perp_market.rs::AMM::amm_wants_to_jit_make``: JIT is active and the taker reduces the users' net
    position against the AMM by more than a step (long taker: ``base_with_amm < −step``; short: ``> step``)."""
    step = _nonneg("order_step_size", amm.order_step_size)
    net = _int("base_asset_amount_with_amm", amm.base_asset_amount_with_amm)
    wants = net < -step if PositionDirection(taker_direction) is PositionDirection.LONG else net > step
    return wants and amm_jit_is_active(amm)


def amm_has_low_enough_inventory(amm: AMM, wants_to_jit_make: bool) -> bool:
    """``state/perp_market.rs::AMM::amm_has_low_enough_inventory``: true unless the AMM wants to JIT make; then
    ``|base_with_amm| < min(max bids, |max asks|) / 10`` (:func:`calculate_market_open_bids_asks`)."""
    if not wants_to_jit_make:
        return True
    max_bids, max_asks = calculate_market_open_bids_asks(amm.base_asset_reserve, amm.min_base_asset_reserve,
                                                         amm.max_base_asset_reserve)
    return abs(amm.base_asset_amount_with_amm) < _tdiv(min(max_bids, abs(max_asks)), 10)


def can_skip_auction_duration(market: AmmPerpMarket, exchange_status: int, amm_has_low_enough_inventory: bool) -> bool:
    """``state/perp_market.rs::PerpMarket::can_skip_auction_duration``: false while the exchange pauses AMM immediate
    fills; else the AMM has low enough inventory and its revenue since the last funding is ≥ −$25."""
    if _nonneg("exchange_status", exchange_status) & ExchangeStatus.AMM_IMMEDIATE_FILL_PAUSED:
        return False
    return (market.amm.net_revenue_since_last_funding >= DEFAULT_REVENUE_SINCE_LAST_FUNDING_SPREAD_RETREAT
            and amm_has_low_enough_inventory)


def user_can_skip_auction_duration(user_stats_paused_operations: int, reduce_only_order: bool) -> bool:
    """``state/user.rs::User::can_skip_auction_duration``: false if the taker's stats pause AMM atomic fills, or
    pause risk-increasing atomic fills and the order is not reduce-only."""
    paused = _nonneg("user_stats_paused_operations", user_stats_paused_operations)
    if paused & UserStatsPausedOperations.AMM_ATOMIC_FILL:
        return False
    return not (paused & UserStatsPausedOperations.AMM_ATOMIC_RISK_INCREASING_FILL and not reduce_only_order)


def is_low_risk_for_amm(order: Order, mm_oracle_delay: int, clock_slot: int, is_liquidation: bool,
                        user_can_skip_auction_duration: bool) -> bool:
    """``state/user.rs::Order::is_low_risk_for_amm``: never for spot; else the order is older than the oracle
    delay (``clock − delay ≥ order slot`` if the user may skip the auction, ``>`` otherwise), or it is a liquidation,
    or its SafeTriggerOrder flag is set."""
    if order.spot:
        return False
    clock_minus_delay = _nonneg("clock_slot", clock_slot) - _int("mm_oracle_delay", mm_oracle_delay)
    slot = _nonneg("order.slot", order.slot)
    older = clock_minus_delay >= slot if user_can_skip_auction_duration else clock_minus_delay > slot
    return older or is_liquidation or order.safe_trigger_order


def amm_can_fill_order(market: AmmPerpMarket, order: Order, clock_slot: int, fill_mode: FillMode, exchange_status: int,
                       safe_oracle_validity: OracleValidity | StaleForAmm, user_can_skip_auction_duration: bool,
                       mm_oracle: MMOraclePriceData) -> bool:
    """``state/perp_market.rs::PerpMarket::amm_can_fill_order`` (``exchange_status`` is ``State::exchange_status``).

    False if AMM fills are paused, the AMM has :func:`has_too_much_drawdown`, the MM oracle is enabled and as recent
    as the safe data but more than 1 % off the exchange oracle, or the safe oracle fails ``FillOrderAmmLowRisk``.
    True if the order :func:`is_low_risk_for_amm` (with the safe data's delay). Otherwise it needs all of: the user
    may skip the auction, the oracle passes ``FillOrderAmmImmediate``, the AMM wants to JIT make against the taker,
    has low enough inventory, and :func:`can_skip_auction_duration`."""
    if _nonneg("paused_operations", market.paused_operations) & PerpOperation.AMM_FILL:
        return False
    if has_too_much_drawdown(market):
        return False
    if mm_oracle.is_enabled and mm_oracle.is_mm_oracle_as_recent and mm_oracle.is_mm_exchange_diff_bps_high:
        return False
    if not is_oracle_valid_for_action(safe_oracle_validity, DriftAction.FILL_ORDER_AMM_LOW_RISK):
        return False
    if is_low_risk_for_amm(order, mm_oracle.safe_oracle_price_data.delay, clock_slot, FillMode(fill_mode).is_liquidation,
                           user_can_skip_auction_duration):
        return True
    if not user_can_skip_auction_duration:
        return False
    if not is_oracle_valid_for_action(safe_oracle_validity, DriftAction.FILL_ORDER_AMM_IMMEDIATE):
        return False
    wants = amm_wants_to_jit_make(market.amm, order.direction)
    if not wants:
        return False
    low_inventory = amm_has_low_enough_inventory(market.amm, wants)
    if not low_inventory:
        return False
    return can_skip_auction_duration(market, exchange_status, low_inventory)


# ============================================================================ TWAPs and standard deviations
ONE_MINUTE = 60
FIVE_MINUTE = 5 * 60
ONE_HOUR = 3_600
DEFAULT_MAX_TWAP_UPDATE_PRICE_BAND_DENOMINATOR = 3  # a new data point moves at most 1/3 from the TWAP


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


def calculate_weighted_average(data1: int, data2: int, weight1: int, weight2: int, bias: int | None = None) -> int:
    """``math/stats.rs::calculate_weighted_average``: ``(data1·w1 + data2·w2) / (w1 + w2)`` (truncated) plus a
    bias, ``data2`` if ``w1 = 0`` and ``data1`` if ``w2 = 0``. The default bias is the sign of ``data2·w2 −
    data1·w1`` when ``w2 > 1`` (else 0); a zero average is not biased below zero."""
    d1, d2, w1, w2 = (_int(n, v) for n, v in (("data1", data1), ("data2", data2), ("weight1", weight1), ("weight2", weight2)))
    prev, latest = d1 * w1, d2 * w2
    if w1 == 0:
        return d2
    if w2 == 0:
        return d1
    if bias is None:
        bias = _sign(latest - prev) if w2 > 1 else 0
    twap = _i64("twap", _tdiv(prev + latest, w1 + w2))
    if twap == 0 and bias < 0:
        return twap
    return _i64("twap", twap + bias)


def calculate_new_twap(current_price: int, current_ts: int, last_twap: int, last_ts: int, period: int) -> int:
    """``math/stats.rs::calculate_new_twap``: :func:`calculate_weighted_average` of the new price weighted by the
    time since the last update (≥ 0) and the last TWAP weighted by ``max(1, period − since_last)``."""
    since_last = max(0, _int("current_ts", current_ts) - _int("last_ts", last_ts))
    from_start = max(1, _int("period", period) - since_last)
    return calculate_weighted_average(current_price, last_twap, since_last, from_start)


def calculate_rolling_sum(data1: int, data2: int, weight1_numer: int, weight1_denom: int) -> int:
    """``math/stats.rs::calculate_rolling_sum``: ``data1 · max(0, denom − numer) / denom + data2`` (u64 floor)."""
    prev = _nonneg("data1", data1) * max(0, weight1_denom - weight1_numer) // weight1_denom
    return _u64("rolling_sum", _u64("prev", prev) + _nonneg("data2", data2))


def sanitize_new_price(new_price: int, last_price_twap: int, sanitize_clamp_denominator: int | None = None) -> int:
    """``math/amm.rs::sanitize_new_price``: the new price capped to ``twap ± twap / d`` (``d`` = 3 by default, no cap
    for ``d = 0`` or a zero TWAP)."""
    new, twap = _int("new_price", new_price), _int("last_price_twap", last_price_twap)
    if twap == 0:
        return new
    d = DEFAULT_MAX_TWAP_UPDATE_PRICE_BAND_DENOMINATOR if sanitize_clamp_denominator is None else sanitize_clamp_denominator
    if d == 0:
        return new
    band = _tdiv(twap, d)
    if abs(new - twap) > abs(band):
        return twap + band if new > twap else twap - band
    return new


def normalise_oracle_price(amm: AMM, oracle: OraclePriceData, reserve: int | None = None) -> int:
    """``math/amm.rs::normalise_oracle_price``: the oracle price moved toward the reserve price by up to its
    confidence, but not past the reserve price ∓ 2.5 bps (``reserve / 4000``)."""
    r = _i64("reserve_price", reserve_price(amm) if reserve is None else reserve)
    band, conf, price = _tdiv(r, 4000), _i64("confidence", oracle.confidence), oracle.price
    if r > price:
        return min(max(r - band, price), price + conf)
    return max(min(r + band, price), price - conf)


def new_oracle_conf_pct(amm: AMM, confidence: int, reserve: int, now: int) -> int:
    """``state/perp_market.rs::AMM::get_new_oracle_conf_pct`` (1e6): ``confidence · 1e6 / reserve``, at least the
    last value decayed by ``1/max(21 − seconds since the last oracle TWAP update, 5)`` (undecayed within the same
    second)."""
    since_last = max(_int("now", now) - amm.last_oracle_price_twap_ts, 0)
    last = _nonneg("last_oracle_conf_pct", amm.last_oracle_conf_pct)
    lower = last - last // max(max(21 - since_last, 0), 5) if since_last > 0 else last
    if reserve == 0:
        raise Rejected("MathError", "division by zero")
    return max(_nonneg("confidence", confidence) * BID_ASK_SPREAD_PRECISION // _nonneg("reserve_price", reserve), lower)


def new_oracle_price_twap(amm: AMM, now: int, oracle_price: int, five_minute: bool = False) -> int:
    """``math/amm.rs::calculate_new_oracle_price_twap`` over the funding period (or five minutes): the capped oracle
    price, first blended toward the mark TWAP if the mark TWAP was updated after the oracle TWAP (weights: the gap,
    ``max(1, period − gap)``), then averaged with the last oracle TWAP (weights: ``since_last``, ``max(0, period −
    since_last)``)."""
    if five_minute:
        last_mark, last_oracle, period = amm.last_mark_price_twap_5min, amm.last_oracle_price_twap_5min, FIVE_MINUTE
    else:
        last_mark, last_oracle, period = amm.last_mark_price_twap, amm.last_oracle_price_twap, amm.funding_period
    since_last = max(1 if period == 0 else 0, _int("now", now) - amm.last_oracle_price_twap_ts)
    from_start = max(0, period - since_last)
    price = oracle_price
    if amm.last_mark_price_twap_ts > amm.last_oracle_price_twap_ts:
        since_last_valid = amm.last_mark_price_twap_ts - amm.last_oracle_price_twap_ts
        price = calculate_weighted_average(_i64("last_mark_twap", last_mark), oracle_price, since_last_valid,
                                           max(1, period - since_last_valid))
    return calculate_weighted_average(price, last_oracle, since_last, from_start)


def _std_update(std: int, price: int, ewma: int, ewma_5min: int, since_last: int) -> int:
    change = max(abs(_i64("price", price) - _i64("ewma", ewma)), abs(price - _i64("ewma_5min", ewma_5min)))
    return calculate_rolling_sum(std, change, max(ONE_HOUR, since_last), ONE_HOUR)


def update_amm_mark_std(amm: AMM, now: int, price: int, ewma: int, ewma_5min: int) -> AMM:
    """``math/amm.rs::update_amm_mark_std``: ``mark_std = rolling_sum(mark_std, max(|price − ewma|, |price −
    ewma_5min|), max(1h, since last mark update), 1h)`` (:func:`calculate_rolling_sum`)."""
    since_last = max(1, _int("now", now) - amm.last_mark_price_twap_ts)
    return replace(amm, mark_std=_std_update(amm.mark_std, price, ewma, ewma_5min, since_last))


def update_amm_oracle_std(amm: AMM, now: int, price: int, ewma: int, ewma_5min: int) -> AMM:
    """``math/amm.rs::update_amm_oracle_std``: as :func:`update_amm_mark_std` for ``oracle_std``, timed from the last
    oracle TWAP update."""
    since_last = max(1, _int("now", now) - amm.last_oracle_price_twap_ts)
    return replace(amm, oracle_std=_std_update(amm.oracle_std, price, ewma, ewma_5min, since_last))


def update_oracle_price_twap(amm: AMM, now: int, mm_oracle: MMOraclePriceData, precomputed_reserve_price: int | None = None,
                             sanitize_clamp: int | None = None) -> tuple[AMM, int]:
    """``math/amm.rs::update_oracle_price_twap``: (updated AMM, oracle TWAP). The exchange oracle price is
    normalised toward the reserve price (:func:`normalise_oracle_price`) and capped (:func:`sanitize_new_price`);
    if both are positive the funding-period and 5-minute oracle TWAPs take it (:func:`new_oracle_price_twap`), the
    last price, delay, normalised price, confidence pct (:func:`new_oracle_conf_pct` of the safe confidence),
    reserve/oracle spread pct and ``oracle_std`` (of the uncapped normalised price) are updated; otherwise nothing
    changes."""
    reserve = reserve_price(amm) if precomputed_reserve_price is None else precomputed_reserve_price
    exchange = mm_oracle.exchange_oracle_price_data
    oracle_price = normalise_oracle_price(amm, exchange, reserve)
    capped = sanitize_new_price(oracle_price, amm.last_oracle_price_twap, sanitize_clamp)
    if not (capped > 0 and oracle_price > 0):
        return amm, amm.last_oracle_price_twap
    twap = new_oracle_price_twap(amm, now, capped)
    twap_5min = new_oracle_price_twap(amm, now, capped, five_minute=True)
    spread_pct = _i64("spread_pct", _tdiv((_i64("reserve_price", reserve) - mm_oracle.safe_oracle_price_data.price)
                                          * BID_ASK_SPREAD_PRECISION, reserve))
    amm = replace(amm, last_oracle_normalised_price=capped, last_oracle_price=exchange.price,
                  last_oracle_conf_pct=new_oracle_conf_pct(amm, mm_oracle.safe_oracle_price_data.confidence, reserve, now),
                  last_oracle_delay=exchange.delay, last_oracle_reserve_price_spread_pct=spread_pct)
    amm = update_amm_oracle_std(amm, now, _u64("oracle_price", oracle_price), _u64("twap", amm.last_oracle_price_twap),
                                _u64("twap_5min", amm.last_oracle_price_twap_5min))
    return replace(amm, last_oracle_price_twap_5min=twap_5min, last_oracle_price_twap=twap, last_oracle_price_twap_ts=now), twap


def estimate_best_bid_ask_price(amm: AMM, precomputed_trade_price: int | None = None,
                                direction: PositionDirection | None = None) -> tuple[int, int]:
    """``math/amm.rs::estimate_best_bid_ask_price``: the (bid, ask) a trade at ``trade_price`` (default: the last
    oracle price) implies. Bid estimate: after a trade above the oracle, the oracle less ``min(base_spread,
    short_spread/2, premium)`` (at least the tick size), else the trade price, never below the AMM bid; ask estimate
    symmetrically, never above the AMM ask. A long trade gives (bid estimate, max(trade, bid estimate)), a short
    (min(trade, ask estimate), ask estimate), none the trade price clamped to the AMM's bid/ask for both. A
    non-positive last oracle price is ``InvalidOracle``; bid > ask is ``InvalidMarkTwapUpdateDetected``."""
    base_spread = _nonneg("base_spread", amm.base_spread)
    last_oracle = _u64("last_oracle_price", amm.last_oracle_price)
    trade = last_oracle if precomputed_trade_price is None else _nonneg("trade_price", precomputed_trade_price)
    premium = _i64("trade_price", trade) - amm.last_oracle_price
    if amm.last_oracle_price <= 0:
        raise Rejected("InvalidOracle", "last_oracle_price <= 0")
    reserve = reserve_price(amm)
    amm_bid, amm_ask = bid_price(amm, reserve), ask_price(amm, reserve)
    if premium > 0:
        discount = min(base_spread, amm.short_spread // 2)
        best_bid = max(max(last_oracle - min(discount, abs(premium)), 0), amm.order_tick_size)
    else:
        best_bid = trade
    best_bid = max(best_bid, amm_bid)
    if premium < 0:
        best_ask = _u64("ask", last_oracle + min(min(base_spread, amm.long_spread // 2), abs(premium)))
    else:
        best_ask = trade
    best_ask = min(best_ask, amm_ask)
    if direction is None:
        bid = ask = min(max(trade, amm_bid), amm_ask)
    elif PositionDirection(direction) is PositionDirection.LONG:
        bid, ask = best_bid, max(trade, best_bid)
    else:
        bid, ask = min(trade, best_ask), best_ask
    if bid > ask:
        raise Rejected("InvalidMarkTwapUpdateDetected", f"bid {bid} > ask {ask}")
    return bid, ask


def update_mark_twap(amm: AMM, now: int, bid: int, ask: int, precomputed_trade_price: int | None = None,
                     sanitize_clamp: int | None = None) -> tuple[AMM, int]:
    """``math/amm.rs::update_mark_twap``: (updated AMM, new mark TWAP). Bid and ask are capped against their TWAPs
    (:func:`sanitize_new_price`; capped bid > capped ask is ``InvalidMarkTwapUpdateDetected``). If the oracle TWAP
    was updated more than ``max(funding_period/60, 60 s)`` after the mark TWAP, the bid/ask TWAPs are first pulled
    toward the oracle TWAP (weights: that gap, ``max(0, period − gap)``, biased toward the oracle). Then each TWAP
    takes its capped price (:func:`calculate_new_twap`), ``mark_std`` is updated from the trade price (default
    (bid + ask)/2) against the previous mark TWAPs, the mark TWAP is the mean of the two, the 5-minute mark TWAP
    takes the capped mid, and the mark timestamp becomes ``now``."""
    bid_capped = sanitize_new_price(_i64("bid", bid), _i64("bid_twap", amm.last_bid_price_twap), sanitize_clamp)
    ask_capped = sanitize_new_price(_i64("ask", ask), _i64("ask_twap", amm.last_ask_price_twap), sanitize_clamp)
    if bid_capped > ask_capped:
        raise Rejected("InvalidMarkTwapUpdateDetected", "capped bid > capped ask")
    gap = amm.last_oracle_price_twap_ts - amm.last_mark_price_twap_ts
    if gap > max(_tdiv(amm.funding_period, 60), ONE_MINUTE):
        from_start_valid = max(0, amm.funding_period - gap)
        oracle_twap = amm.last_oracle_price_twap
        last_bid = calculate_weighted_average(oracle_twap, amm.last_bid_price_twap, gap, from_start_valid,
                                              _sign(oracle_twap - amm.last_bid_price_twap))
        last_ask = calculate_weighted_average(oracle_twap, amm.last_ask_price_twap, gap, from_start_valid,
                                              _sign(oracle_twap - amm.last_ask_price_twap))
    else:
        last_bid, last_ask = amm.last_bid_price_twap, amm.last_ask_price_twap
    bid_twap = calculate_new_twap(bid_capped, now, last_bid, amm.last_mark_price_twap_ts, amm.funding_period)
    ask_twap = calculate_new_twap(ask_capped, now, last_ask, amm.last_mark_price_twap_ts, amm.funding_period)
    amm = replace(amm, last_bid_price_twap=_u64("bid_twap", bid_twap), last_ask_price_twap=_u64("ask_twap", ask_twap))
    mid_twap = _tdiv(bid_twap + ask_twap, 2)
    trade = (bid + ask) // 2 if precomputed_trade_price is None else precomputed_trade_price
    amm = update_amm_mark_std(amm, now, trade, amm.last_mark_price_twap, amm.last_mark_price_twap_5min)
    twap_5min = calculate_new_twap(_tdiv(bid_capped + ask_capped, 2), now, amm.last_mark_price_twap_5min,
                                   amm.last_mark_price_twap_ts, FIVE_MINUTE)
    amm = replace(amm, last_mark_price_twap=_u64("mark_twap", mid_twap), last_mark_price_twap_5min=_u64("twap_5min", twap_5min),
                  last_mark_price_twap_ts=now)
    return amm, mid_twap


def update_mark_twap_from_estimates(amm: AMM, now: int, precomputed_trade_price: int | None = None,
                                    direction: PositionDirection | None = None,
                                    sanitize_clamp: int | None = None) -> tuple[AMM, int]:
    """``math/amm.rs::update_mark_twap_from_estimates``: :func:`update_mark_twap` at the bid and ask of
    :func:`estimate_best_bid_ask_price`."""
    bid, ask = estimate_best_bid_ask_price(amm, precomputed_trade_price, direction)
    return update_mark_twap(amm, now, bid, ask, precomputed_trade_price, sanitize_clamp)


# ============================================================================ oracle guard rails and funding updates
TWENTY_FOUR_HOUR = 24 * ONE_HOUR

#: ``PerpMarket::get_max_confidence_interval_multiplier`` by contract tier
MAX_CONFIDENCE_INTERVAL_MULTIPLIER = {ContractTier.A: 1, ContractTier.B: 1, ContractTier.C: 2, ContractTier.SPECULATIVE: 10,
                                      ContractTier.HIGHLY_SPECULATIVE: 50, ContractTier.ISOLATED: 50}
#: ``PerpMarket::get_sanitize_clamp_denominator`` by contract tier (None: the default TWAP band)
PERP_SANITIZE_CLAMP_DENOMINATOR = {ContractTier.A: 10, ContractTier.B: 5, ContractTier.C: 2}


@dataclass(frozen=True)
class ValidityGuardRails:
    """``state/state.rs::ValidityGuardRails`` (defaults: ``OracleGuardRails::default()``'s)."""

    slots_before_stale_for_amm: int = 10
    slots_before_stale_for_margin: int = 120
    confidence_interval_max_size: int = 20_000
    too_volatile_ratio: int = 5


@dataclass(frozen=True)
class OracleGuardRails:
    """``state/state.rs::OracleGuardRails``: the validity rails and the price-divergence rails (defaults: 10 %
    mark/oracle, 50 % oracle/5-min TWAP, 1e6)."""

    validity: ValidityGuardRails = ValidityGuardRails()
    mark_oracle_percent_divergence: int = PERCENTAGE_PRECISION // 10
    oracle_twap_5min_percent_divergence: int = PERCENTAGE_PRECISION // 2


def oracle_validity(last_oracle_twap: int, oracle: OraclePriceData, rails: ValidityGuardRails,
                    max_confidence_interval_multiplier: int, *, stable_coin_oracle: bool = False,
                    slots_before_stale_for_amm_immediate_override: int = 0,
                    oracle_low_risk_slot_delay_override: int = 0) -> OracleValidity | StaleForAmm:
    """``math/oracle.rs::oracle_validity`` @0ae3e3b, the first failure of: price ≤ 0 (NonPositive);
    ``max(price, twap) / max(min(price, twap), 1) > too_volatile_ratio`` (TooVolatile); ``conf · 1e6 / price >
    confidence_interval_max_size · multiplier`` (TooUncertain); ``delay > slots_before_stale_for_margin`` (×3 for a
    stable-coin oracle; StaleForMargin); too few data points (InsufficientDataPoints); StaleForAMM with
    ``immediate = delay > override`` (always true for a zero override) and ``low_risk = delay > low-risk override``
    (``slots_before_stale_for_amm`` for a zero override); else Valid. Upstream computes the confidence pct before the
    ladder, so a price ≤ 0 is its MathError/cast failure (raised here too)."""
    price, conf, delay = _int("price", oracle.price), _nonneg("confidence", oracle.confidence), _int("delay", oracle.delay)
    twap = _int("last_oracle_twap", last_oracle_twap)
    too_volatile = _tdiv(max(price, twap), max(min(twap, price), 1)) > rails.too_volatile_ratio
    if price <= 0:
        raise Rejected("MathError", f"oracle price {price} <= 0 (confidence pct divides by it as a u64)")
    conf_too_large = conf * BID_ASK_SPREAD_PRECISION // price > rails.confidence_interval_max_size * max_confidence_interval_multiplier
    imm, low = slots_before_stale_for_amm_immediate_override, oracle_low_risk_slot_delay_override
    stale_immediate = delay > max(imm, 0) if imm != 0 else True
    stale_low_risk = delay > max(low, 0) if low != 0 else delay > rails.slots_before_stale_for_amm
    margin_slots = rails.slots_before_stale_for_margin * (3 if stable_coin_oracle else 1)
    if too_volatile:
        return OracleValidity.TOO_VOLATILE
    if conf_too_large:
        return OracleValidity.TOO_UNCERTAIN
    if delay > margin_slots:
        return OracleValidity.STALE_FOR_MARGIN
    if not oracle.has_sufficient_number_of_data_points:
        return OracleValidity.INSUFFICIENT_DATA_POINTS
    if stale_immediate or stale_low_risk:
        return StaleForAmm(immediate=stale_immediate, low_risk=stale_low_risk)
    return OracleValidity.VALID


def oracle_twap_5min_price_spread_pct(amm: AMM, other_price: int) -> int:
    """``math/amm.rs::calculate_oracle_twap_5min_price_spread_pct``: ``(other − 5-min oracle TWAP) · 1e6 / other``
    (truncated)."""
    other = _u64("other_price", other_price)
    return _i64("spread_pct", _tdiv((other - amm.last_oracle_price_twap_5min) * BID_ASK_SPREAD_PRECISION, other))


def is_oracle_mark_too_divergent(price_spread_pct: int, guard_rails: OracleGuardRails = OracleGuardRails()) -> bool:
    """``math/amm.rs::is_oracle_mark_too_divergent``: ``|spread pct| > max(mark_oracle_percent_divergence, 10 %)``."""
    return abs(price_spread_pct) > max(guard_rails.mark_oracle_percent_divergence, PERCENTAGE_PRECISION // 10)


def block_operation(market: AmmPerpMarket, oracle: OraclePriceData, guard_rails: OracleGuardRails, reserve: int,
                    slot: int) -> bool:
    """``math/oracle.rs::block_operation`` @0ae3e3b (with ``get_oracle_status``): funding is blocked when the AMM was
    last updated more than ``funding_period`` slots ago, the oracle (:func:`oracle_validity` against the oracle
    TWAP, both staleness overrides = ``slots_before_stale_for_amm``) fails ``UpdateFunding``, the reserve price is
    more than the allowed divergence from the 5-min oracle TWAP (:func:`is_oracle_mark_too_divergent`), or the
    market's UpdateFunding operation is paused."""
    amm, rails = market.amm, guard_rails.validity
    override = _cast("slots_before_stale_for_amm", rails.slots_before_stale_for_amm, -128, 127)
    validity = oracle_validity(amm.last_oracle_price_twap, oracle, rails,
                               MAX_CONFIDENCE_INTERVAL_MULTIPLIER[ContractTier(market.contract_tier)],
                               stable_coin_oracle=amm.stable_coin_oracle,
                               slots_before_stale_for_amm_immediate_override=override,
                               oracle_low_risk_slot_delay_override=override)
    too_divergent = is_oracle_mark_too_divergent(oracle_twap_5min_price_spread_pct(amm, reserve), guard_rails)
    slots_since_update = max(0, _u64("slot", slot) - amm.last_update_slot)
    return (slots_since_update > amm.funding_period
            or not is_oracle_valid_for_action(validity, DriftAction.UPDATE_FUNDING)
            or too_divergent or bool(market.paused_operations & PerpOperation.UPDATE_FUNDING))


def on_the_hour_update(now: int, last_update_ts: int, update_period: int) -> int:
    """``math/helpers.rs::on_the_hour_update`` @0ae3e3b: seconds until the next update may run. The wait is the
    period, or, when the last update was ``d = last mod period`` (Euclidean) past a boundary, ``period − d`` (if
    ``d ≤ period/3``) or ``2·period − d``; the remaining time is ``max(0, wait − (now − last))``."""
    now, last, period = _i64("now", now), _i64("last_update_ts", last_update_ts), _i64("update_period", update_period)
    wait = period
    if period > 1:
        delay = last % period  # period > 1, so Python's modulo is Rust's rem_euclid
        if delay != 0:
            wait = 2 * period - delay if delay > _tdiv(period, 3) else period - delay
            if wait > 2 * period:
                wait -= period
    return max(0, wait - (now - last))


def perp_mm_oracle_price_data(market: AmmPerpMarket, oracle: OraclePriceData, clock_slot: int,
                              rails: ValidityGuardRails = ValidityGuardRails()) -> MMOraclePriceData:
    """``state/perp_market.rs::PerpMarket::get_mm_oracle_price_data`` @0ae3e3b: the AMM's MM oracle (price
    ``mm_oracle_price``, delay ``slot − mm_oracle_slot``, the exchange oracle's confidence), NonPositive when its
    price is 0, else :func:`oracle_validity` with the market's own staleness overrides; then
    :func:`mm_oracle_price_data`."""
    amm = market.amm
    delay = _int("clock_slot", clock_slot) - amm.mm_oracle_slot
    if amm.mm_oracle_price == 0:
        validity = OracleValidity.NON_POSITIVE
    else:
        mm = OraclePriceData(amm.mm_oracle_price, oracle.confidence, delay, True, None)
        validity = oracle_validity(amm.last_oracle_price_twap, mm, rails,
                                   MAX_CONFIDENCE_INTERVAL_MULTIPLIER[ContractTier(market.contract_tier)],
                                   stable_coin_oracle=amm.stable_coin_oracle,
                                   slots_before_stale_for_amm_immediate_override=amm.oracle_slot_delay_override,
                                   oracle_low_risk_slot_delay_override=amm.oracle_low_risk_slot_delay_override)
    return mm_oracle_price_data(amm.mm_oracle_price, delay, amm.mm_oracle_sequence_id, validity, oracle)


def update_funding_rate(market: AmmPerpMarket, oracle: OraclePriceData, now: int, slot: int,
                        guard_rails: OracleGuardRails = OracleGuardRails(), funding_paused: bool = False,
                        precomputed_reserve_price: int | None = None) -> tuple[AmmPerpMarket, bool]:
    """``controller/funding.rs::update_funding_rate`` @0ae3e3b: (market after, whether funding was updated).

    Nothing changes (False) when funding is paused, :func:`block_operation` blocks it, or
    :func:`on_the_hour_update` leaves time to wait. Otherwise the oracle TWAP takes the exchange oracle
    (:func:`update_oracle_price_twap`, the tier's clamp), the mark TWAP takes the execution-premium price — the ask
    when ``long_spread > short_spread``, the bid when smaller, else the reserve price
    (:func:`update_mark_twap_from_estimates`); the rate is :func:`ramparts.venues.drift.funding_rate` of the two
    TWAPs, split by :func:`ramparts.venues.drift.funding_rate_long_short` (which also moves
    ``total_fee_minus_distributions``); the cumulative rates add the long/short rates, the last rates and oracle TWAP
    are recorded, ``last_24h_avg_funding_rate = calculate_new_twap(rate, now, avg, last_funding_rate_ts, 24 h)``,
    ``net_unsettled_funding_pnl −=`` the AMM's uncapped funding pnl, ``last_funding_rate_ts = now`` and
    ``net_revenue_since_last_funding = 0``. A positive ``curve_update_intensity`` (``formulaic_update_k``) is not
    modelled: ``InvalidInput``."""
    amm = market.amm
    reserve = reserve_price(amm) if precomputed_reserve_price is None else precomputed_reserve_price
    blocked = block_operation(market, oracle, guard_rails, reserve, slot)
    wait = on_the_hour_update(now, amm.last_funding_rate_ts, amm.funding_period)
    if funding_paused or blocked or wait != 0:
        return market, False
    tier = ContractTier(market.contract_tier)
    clamp = PERP_SANITIZE_CLAMP_DENOMINATOR.get(tier)
    mm = perp_mm_oracle_price_data(market, oracle, slot, guard_rails.validity)
    amm, oracle_twap = update_oracle_price_twap(amm, now, mm, reserve, clamp)
    if amm.long_spread > amm.short_spread:
        premium_price, direction = ask_price(amm, reserve), PositionDirection.LONG
    elif amm.long_spread < amm.short_spread:
        premium_price, direction = bid_price(amm, reserve), PositionDirection.SHORT
    else:
        premium_price, direction = reserve, None
    amm, mid_twap = update_mark_twap_from_estimates(amm, now, premium_price, direction, clamp)
    rate = _i64("funding_rate", funding_rate(_i64("mark_twap", mid_twap), oracle_twap, tier, amm.funding_period))
    long_rate, short_rate, revenue, tfmd = funding_rate_long_short(
        rate, base_asset_amount_with_amm=amm.base_asset_amount_with_amm, base_asset_amount_long=amm.base_asset_amount_long,
        base_asset_amount_short=amm.base_asset_amount_short, total_fee_minus_distributions=amm.total_fee_minus_distributions,
        total_exchange_fee=amm.total_exchange_fee, total_liquidation_fee=amm.total_liquidation_fee,
        total_fee_withdrawn=amm.total_fee_withdrawn)
    if amm.curve_update_intensity > 0:
        raise InvalidInput("curve_update_intensity", "formulaic_update_k (k adjustment on funding) is not modelled")
    amm = replace(
        amm, total_fee_minus_distributions=tfmd,
        cumulative_funding_rate_long=amm.cumulative_funding_rate_long + long_rate,
        cumulative_funding_rate_short=amm.cumulative_funding_rate_short + short_rate,
        last_funding_rate=rate, last_funding_oracle_twap=oracle_twap,
        last_funding_rate_long=long_rate, last_funding_rate_short=short_rate,
        last_24h_avg_funding_rate=calculate_new_twap(rate, now, amm.last_24h_avg_funding_rate, amm.last_funding_rate_ts,
                                                     TWENTY_FOUR_HOUR),
        net_unsettled_funding_pnl=_i64("net_unsettled_funding_pnl", amm.net_unsettled_funding_pnl - revenue),
        last_funding_rate_ts=now, net_revenue_since_last_funding=0)
    return replace(market, amm=amm), True


_U32_MAX = 2**32 - 1


def update_spreads(amm: AMM) -> AMM:
    """``controller/amm.rs::update_spreads`` @0ae3e3b for an AMM with ``curve_update_intensity == 0`` (the only case
    modelled; a positive intensity, which computes dynamic spreads and a reference-price offset, is ``InvalidInput``):
    both spreads are ``base_spread / 2``; a negative ``amm_spread_adjustment`` a cuts each to ``max(s − s·|a|/100,
    1)``, a positive one raises it to ``max(s + ceil(s·a/100), 1)`` (u32 saturating); the reference-price offset
    becomes 0. The bid/ask spread reserves upstream then refreshes are not part of :class:`AMM`."""
    if amm.curve_update_intensity != 0:
        raise InvalidInput("curve_update_intensity", "update_spreads with a positive curve_update_intensity is not modelled")
    long_spread = short_spread = _nonneg("base_spread", amm.base_spread) // 2
    adj = _cast("amm_spread_adjustment", amm.amm_spread_adjustment, -128, 127)
    if adj < 0:
        long_spread, short_spread = (max(sp - min(sp * -adj, _U32_MAX) // 100, 1) for sp in (long_spread, short_spread))
    elif adj > 0:
        long_spread, short_spread = (max(min(sp + -(-min(sp * adj, _U32_MAX) // 100), _U32_MAX), 1)
                                     for sp in (long_spread, short_spread))
    return replace(amm, long_spread=long_spread, short_spread=short_spread, reference_price_offset=0)


def update_amm(market: AmmPerpMarket, mm_oracle: MMOraclePriceData, guard_rails: OracleGuardRails, now: int,
               clock_slot: int) -> tuple[AmmPerpMarket, int]:
    """``controller/repeg.rs::_update_amm`` @0ae3e3b for an active market (status neither Settlement nor Delisted,
    which upstream skips) without curve updates: (market after, repeg cost = 0). The safe oracle's validity
    (:func:`oracle_validity` against the oracle TWAP, the market's own staleness overrides) decides: a positive
    ``curve_update_intensity`` with an oracle valid for ``UpdateAMMCurve`` would repeg (not modelled:
    ``InvalidInput``); valid for ``UpdateTwap``, the oracle TWAPs take the oracle at the reserve price
    (:func:`update_oracle_price_twap`, the tier's clamp); the spreads are refreshed (:func:`update_spreads`); valid
    for ``FillOrderAmmLowRisk``, ``last_update_slot = clock_slot`` and ``last_oracle_valid`` is set, else cleared."""
    amm = market.amm
    validity = oracle_validity(amm.last_oracle_price_twap, mm_oracle.safe_oracle_price_data, guard_rails.validity,
                               MAX_CONFIDENCE_INTERVAL_MULTIPLIER[ContractTier(market.contract_tier)],
                               stable_coin_oracle=amm.stable_coin_oracle,
                               slots_before_stale_for_amm_immediate_override=amm.oracle_slot_delay_override,
                               oracle_low_risk_slot_delay_override=amm.oracle_low_risk_slot_delay_override)
    if is_oracle_valid_for_action(validity, DriftAction.UPDATE_AMM_CURVE) and min(amm.curve_update_intensity, 100) > 0:
        raise InvalidInput("curve_update_intensity", "the repeg of _update_amm is not modelled")
    reserve = reserve_price(amm)
    if is_oracle_valid_for_action(validity, DriftAction.UPDATE_TWAP):
        amm, _ = update_oracle_price_twap(amm, now, mm_oracle, reserve,
                                          PERP_SANITIZE_CLAMP_DENOMINATOR.get(ContractTier(market.contract_tier)))
    amm = update_spreads(amm)
    if is_oracle_valid_for_action(validity, DriftAction.FILL_ORDER_AMM_LOW_RISK):
        amm = replace(amm, last_update_slot=_u64("clock_slot", clock_slot), last_oracle_valid=True)
    else:
        amm = replace(amm, last_oracle_valid=False)
    return replace(market, amm=amm), 0
