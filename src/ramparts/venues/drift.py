"""Drift v2: size-premium margin ratios (initial, fill, maintenance, high-leverage mode), asset and
liability weights (size discount, scaled initial asset weight), the liquidation maths, ``liquidate_perp``
and ``resolve_perp_bankruptcy`` as pure functions, funding payments and socialised loss.

Source: ``ramparts/reference/open-source-venues.md`` §2, read from drift-labs/protocol-v2 at commit
``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62`` (``programs/drift/src/``: ``math/margin.rs``,
``math/liquidation.rs``, ``math/funding.rs``, ``math/bankruptcy.rs``, ``math/position.rs``,
``math/spot_balance.rs``, ``state/perp_market.rs``, ``state/spot_market.rs``, ``state/margin_calculation.rs``,
``state/liquidation_mode.rs``, ``controller/liquidation.rs``, ``controller/position.rs``,
``controller/funding.rs``). The venue's own unit tests are ported in ``tests/test_venue_drift_cases.py``.

Units, as Drift's (ints): PRICE 1e6, BASE 1e9, QUOTE 1e6, margin ratios and weights 1e4 (1000 =
10 %), liquidation fees and IF fees 1e6, ``imf_factor`` 1e6, liquidation percentages 1e4, funding
rates 1e9 (PRICE × FUNDING_RATE_BUFFER), spot balances 1e9 and cumulative interest 1e10. Integer
divisions truncate toward zero as Rust's do (``_tdiv``), ceiling divisions are Rust's ``safe_div_ceil``
(``_ceil_div``); where Drift saturates or falls back to ``u32::MAX`` / ``u64::MAX`` so do these functions.
The functions reproduce the venue, not ramparts' own rounding policy (which rounds requirements up).
A Drift ``ErrorCode`` is raised as :class:`ramparts.errors.Rejected` with the code as its ``reason``.

Margin (``math/margin.rs``, ``state/perp_market.rs``)::

    size_premium(w, size, imf)  = (w − w/5) + isqrt(size·10 + 1) · imf / (1e5·1e6/precision)
    margin_ratio(size)          = max(default, size_premium(default))                 (bounded)
    default(type)               = initial | (initial + maintenance)/2 (fill) | maintenance
    high-leverage mode          = HLM ratios; initial/fill: hlm_ratio(pre = ordinary default,
                                   adj = size_premium(pre) unbounded, default = HLM default):
        adj < pre → default + max(pre − default, 1) · (1e6 − (pre − adj)·1e6/(pre/5)) / 1e6
        adj = pre → default;   adj > pre → adj
    requirement                 = worst_case_liability · max(custom, margin_ratio) / 1e4 + $0.01 · open orders
    spot asset weight           = min(aw, 1.1e6·1e4 / (1e6 + isqrt(size·10+1)·imf/1e5)),
                                   initial aw scaled by start/deposit_value once deposits exceed the start
    unrealised-pnl asset weight = 1 if pnl ≤ 0; maintenance weight; initial/fill: size-discounted by
                                   unrealized_pnl_imf_factor (size = pnl·1e3), scaled by max_imbalance/net pnl

Liquidation (``math/liquidation.rs``, ``controller/liquidation.rs::liquidate_perp``)::

    shortage   = (MR + Σ liability·buffer/1e4) − (TC + Σ negative collateral·buffer/1e4)
    liq_fee    = min(base + (slot − last_active) · 1 if ≥ 1500 slots idle, min(3·liquidator_fee, MMR·100))
    if_fee     = min(if_liquidation_fee, (MR_buf·100 − liq_fee − shortage·1e9/base·1e6/price) · 19/20)
    to_cover   = shortage·1e9 / (price·quote/1e6·(MR_buf·100 − liq_fee)/1e6 − price·if_fee/1e6)
    max_pct    = 100 % if shortage < $50, else freeable margin over time (initial pct + slots/duration)
    base       = ceil_step(min(user base, floor_step(liquidator max), max(to_cover·pct, all if ≤ $50)))
    user pays  = value·liq_fee/1e6 to the liquidator and value·if_fee/1e6 to the insurance fund

Bankruptcy (``resolve_perp_bankruptcy``): the insurance fund pays ``min(|loss|, vault − 1,
max_insurance − settled)``, then the market fee pool, and the rest is socialised as
``Δcum_funding = ceil(|loss|·1e9 / (|long OI| + |short OI|)) · 1e3`` (longs pay, shorts pay).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from math import isqrt

from ramparts.errors import InvalidInput, Rejected

__all__ = [
    "BASE_PRECISION", "DEFAULT_LIQUIDATION_MARGIN_BUFFER_RATIO", "FUNDING_RATE_PRECISION", "LIQUIDATION_FEE_PRECISION",
    "LIQUIDATION_PCT_PRECISION", "MARGIN_PRECISION", "PRICE_PRECISION", "QUOTE_PRECISION", "SPOT_BALANCE_PRECISION",
    "SPOT_CUMULATIVE_INTEREST_PRECISION", "U128_MAX", "U32_MAX", "U64_MAX",
    "ContractTier", "MarginCalculation", "MarginRequirementType", "PerpAccount", "PerpAccountLiquidation",
    "PerpBankruptcy", "PerpLiquidation", "PerpMarket", "PerpPosition", "SpotMarket",
    "asset_transfer_for_liability_transfer", "asset_weight", "base_asset_amount_to_cover_margin_shortage",
    "base_asset_value", "base_liquidator_fee", "cumulative_deposit_interest_delta_to_resolve_bankruptcy",
    "fee_pool", "funding_payment", "funding_payment_in_quote_precision", "funding_rate",
    "funding_rate_deltas_to_resolve_bankruptcy", "funding_rate_long_short", "high_leverage_mode_initial_margin_ratio",
    "is_cross_margin_bankrupt", "is_isolated_margin_bankrupt", "liability_transfer_implied_by_asset_amount",
    "liability_transfer_to_cover_margin_shortage", "liability_weight", "liquidate_perp", "liquidate_perp_account",
    "liquidation_fee", "liquidation_multiplier", "liquidation_order_limit_price", "liquidation_transfer_price",
    "margin_calculation", "margin_ratio", "margin_requirement", "max_liquidation_fee", "max_pct_to_liquidate",
    "max_price_divergence_for_funding_rate", "perp_account_margin", "perp_if_fee", "perp_margin_ratio",
    "perp_position_value_and_pnl", "resolve_perp_bankruptcy", "scaled_initial_asset_weight", "set_user_status_to_being_liquidated",
    "settle_funding_payment",
    "size_discount_asset_weight", "size_premium_liability_weight", "socialised_loss_funding_delta",
    "spot_asset_weight", "spot_if_fee", "spot_liability_weight", "spot_token_amount", "standardize_base_asset_amount",
    "standardize_base_asset_amount_ceil", "swap_price", "token_value", "unrealized_asset_weight", "update_position",
    "validate_swap_within_liquidation_boundaries", "validate_transfer_satisfies_limit_price", "worst_case_liability_value",
]

PRICE_PRECISION = 10**6
BASE_PRECISION = 10**9
QUOTE_PRECISION = 10**6
MARGIN_PRECISION = 10**4
SPOT_WEIGHT_PRECISION = MARGIN_PRECISION
LIQUIDATION_FEE_PRECISION = 10**6
PERCENTAGE_PRECISION = 10**6
SPOT_IMF_PRECISION = 10**6
LIQUIDATION_PCT_PRECISION = 10**4
FUNDING_RATE_BUFFER = 10**3
FUNDING_RATE_PRECISION = PRICE_PRECISION * FUNDING_RATE_BUFFER
SPOT_BALANCE_PRECISION = 10**9
SPOT_CUMULATIVE_INTEREST_PRECISION = 10**10
AMM_TO_QUOTE_PRECISION_RATIO = BASE_PRECISION // QUOTE_PRECISION
PRICE_TIMES_AMM_TO_QUOTE_PRECISION_RATIO = PRICE_PRECISION * AMM_TO_QUOTE_PRECISION_RATIO
LIQUIDATION_FEE_TO_MARGIN_PRECISION_RATIO = LIQUIDATION_FEE_PRECISION // MARGIN_PRECISION
QUOTE_TO_BASE_AMT_FUNDING_PRECISION = BASE_PRECISION * FUNDING_RATE_PRECISION // QUOTE_PRECISION
OPEN_ORDER_MARGIN_REQUIREMENT = QUOTE_PRECISION // 100
MAX_POSITIVE_UPNL_FOR_INITIAL_MARGIN = 100 * QUOTE_PRECISION
MAX_LIQUIDATION_MULTIPLIER = 3
LIQUIDATION_FEE_INCREASE_PER_SLOT = LIQUIDATION_FEE_PRECISION // 1_000_000  # .01 bps per slot
LIQUIDATION_FEE_ADJUST_GRACE_PERIOD_SLOTS = 1_500  # ~10 minutes
DEFAULT_LIQUIDATION_MARGIN_BUFFER_RATIO = MARGIN_PRECISION // 50  # 2 %
FUNDING_RATE_OFFSET_DENOMINATOR = 5_000  # 7.3 % a year for hourly funding
ONE_HOUR = 3_600
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1


# ============================================================================ integer helpers (Rust semantics)
def _nonneg(name: str, v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InvalidInput(name, f"must be a non-negative int in Drift's units, got {v!r}")
    return v


def _int(name: str, v) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidInput(name, f"must be an int in Drift's units, got {v!r}")
    return v


def _tdiv(a: int, b: int) -> int:
    """Rust's integer division: truncates toward zero; a zero divisor is Drift's MathError."""
    if b == 0:
        raise Rejected("MathError", "division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _ceil_div(a: int, b: int) -> int:
    """Rust's ``checked_ceil_div``: the truncated quotient, plus one when the remainder is positive."""
    q = _tdiv(a, b)
    return q + 1 if a - q * b > 0 else q


def _floor_div(a: int, b: int) -> int:
    """Drift's ``safe_div_floor`` (toward −∞)."""
    if b == 0:
        raise Rejected("MathError", "division by zero")
    return a // b


def _usub(a: int, b: int) -> int:
    """Unsigned ``safe_sub``: an underflow is Drift's MathError."""
    if b > a:
        raise Rejected("MathError", f"unsigned subtraction underflows ({a} − {b})")
    return a - b


class MarginRequirementType(enum.Enum):
    """``math/margin.rs::MarginRequirementType``: fill = the average of initial and maintenance."""

    INITIAL = "initial"
    FILL = "fill"
    MAINTENANCE = "maintenance"


def _margin_type(v) -> MarginRequirementType:
    if isinstance(v, MarginRequirementType):
        return v
    try:
        return MarginRequirementType(str(v).lower())
    except ValueError:
        raise InvalidInput("margin_type", f"one of initial, fill, maintenance, got {v!r}") from None


class ContractTier(enum.IntEnum):
    """``state/perp_market.rs::ContractTier``, safest first (``is_as_safe_as_contract`` is ``<=``)."""

    A = 0
    B = 1
    C = 2
    SPECULATIVE = 3
    HIGHLY_SPECULATIVE = 4
    ISOLATED = 5


# ============================================================================ margin ratios and weights
def size_premium_liability_weight(size: int, imf_factor: int, liability_weight: int, precision: int = MARGIN_PRECISION,
                                  bounded: bool = True) -> int:
    """``calculate_size_premium_liability_weight``: ``(w − w/5) + isqrt(size·10+1)·imf / (1e5·1e6/precision)``,
    at least ``w`` when ``bounded``; ``w`` itself when ``imf_factor`` is 0 (size 1e9)."""
    s, f, w = _nonneg("size", size), _nonneg("imf_factor", imf_factor), _nonneg("liability_weight", liability_weight)
    if f == 0:
        return w
    premium = (w - w // 5) + isqrt(s * 10 + 1) * f // (100_000 * SPOT_IMF_PRECISION // _nonneg("precision", precision))
    if premium > U32_MAX:
        raise Rejected("CastingFailure", "size-premium weight exceeds u32")
    return max(w, premium) if bounded else premium


def margin_ratio(default_ratio: int, size: int, imf_factor: int) -> int:
    """``max(default, (default − default/5) + isqrt(size×10+1) × imf / 1e7)`` (ratio 1e4, size 1e9, imf 1e6)."""
    _nonneg("default_ratio", default_ratio)
    return size_premium_liability_weight(size, imf_factor, default_ratio, MARGIN_PRECISION, True)


def margin_requirement(liability_value: int, ratio: int) -> int:
    """``value × ratio / 1e4`` (quote 1e6), truncated as in the source."""
    return _nonneg("liability_value", liability_value) * _nonneg("ratio", ratio) // MARGIN_PRECISION


def size_discount_asset_weight(size: int, imf_factor: int, weight: int) -> int:
    """``calculate_size_discount_asset_weight``: ``min(aw, 1.1e6 × 1e4 / (1e6 + isqrt(size×10+1) × imf / 1e5))``."""
    w, s, f = _nonneg("weight", weight), _nonneg("size", size), _nonneg("imf_factor", imf_factor)
    if f == 0:
        return w
    discount = (SPOT_IMF_PRECISION + SPOT_IMF_PRECISION // 10) * SPOT_WEIGHT_PRECISION // (
        SPOT_IMF_PRECISION + isqrt(s * 10 + 1) * f // 100_000)
    return min(w, discount)


def asset_weight(weight: int, size: int, imf_factor: int) -> int:
    """Spot asset weight with the size discount: ``min(aw, 1.1e6 × 1e4 / (1e6 + isqrt(size×10+1) × imf / 1e5))``."""
    return size_discount_asset_weight(size, imf_factor, weight)


def liability_weight(weight: int, size: int, imf_factor: int) -> int:
    """Spot liability weight with the size premium: ``max(lw, (lw − lw/5) + isqrt(size×10+1) × imf / 1e7)``."""
    return margin_ratio(weight, size, imf_factor)


def high_leverage_mode_initial_margin_ratio(pre_size_adj_margin_ratio: int, size_adj_margin_ratio: int,
                                            default_margin_ratio: int) -> int:
    """``calc_high_leverage_mode_initial_margin_ratio_from_size``: the HLM initial/fill ratio blended with the size
    premium the ordinary ratio would carry (see the module docstring)."""
    pre = _nonneg("pre_size_adj_margin_ratio", pre_size_adj_margin_ratio)
    adj = _nonneg("size_adj_margin_ratio", size_adj_margin_ratio)
    default = _nonneg("default_margin_ratio", default_margin_ratio)
    if adj < pre:
        discount = max(PERCENTAGE_PRECISION - (pre - adj) * PERCENTAGE_PRECISION // _nonzero(pre // 5), 0)
        delta = max(pre - default, 1)  # saturating_sub(...).max(1)
        return delta * discount // PERCENTAGE_PRECISION + default  # get_proportion_u128 floors
    if adj == pre:
        return default
    return adj


def _nonzero(v: int) -> int:
    if v == 0:
        raise Rejected("MathError", "division by zero")
    return v


@dataclass(frozen=True)
class PerpMarket:
    """The fields of ``state/perp_market.rs::PerpMarket`` that the margin and liquidation maths read.

    ``cumulative_funding_rate_long/short`` are the AMM's (1e9), used for a position's unsettled funding.
    """

    margin_ratio_initial: int
    margin_ratio_maintenance: int
    imf_factor: int = 0
    high_leverage_margin_ratio_initial: int = 0
    high_leverage_margin_ratio_maintenance: int = 0
    liquidator_fee: int = 0
    if_liquidation_fee: int = 0
    order_step_size: int = 1
    unrealized_pnl_initial_asset_weight: int = 0
    unrealized_pnl_maintenance_asset_weight: int = 0
    unrealized_pnl_imf_factor: int = 0
    unrealized_pnl_max_imbalance: int = 0
    contract_tier: ContractTier = ContractTier.HIGHLY_SPECULATIVE
    cumulative_funding_rate_long: int = 0
    cumulative_funding_rate_short: int = 0

    def __post_init__(self):
        for name in ("margin_ratio_initial", "margin_ratio_maintenance", "imf_factor", "high_leverage_margin_ratio_initial",
                     "high_leverage_margin_ratio_maintenance", "liquidator_fee", "if_liquidation_fee",
                     "unrealized_pnl_initial_asset_weight", "unrealized_pnl_maintenance_asset_weight",
                     "unrealized_pnl_imf_factor", "unrealized_pnl_max_imbalance"):
            _nonneg(name, getattr(self, name))
        if _nonneg("order_step_size", self.order_step_size) == 0:
            raise InvalidInput("order_step_size", "must be positive")

    @property
    def high_leverage_mode_enabled(self) -> bool:
        return self.high_leverage_margin_ratio_initial > 0 and self.high_leverage_margin_ratio_maintenance > 0


def perp_margin_ratio(market: PerpMarket, size: int, margin_type="initial", high_leverage_mode: bool = False) -> int:
    """``PerpMarket::get_margin_ratio``: the default ratio of the type (fill = mean of initial and maintenance), HLM
    ratios for a high-leverage user where the market enables them, and the size premium (``size`` base 1e9)."""
    mt = _margin_type(margin_type)
    _nonneg("size", size)
    hlm = high_leverage_mode and market.high_leverage_mode_enabled
    if hlm:
        mri, mrm = market.high_leverage_margin_ratio_initial, market.high_leverage_margin_ratio_maintenance
    else:
        mri, mrm = market.margin_ratio_initial, market.margin_ratio_maintenance
    default = {MarginRequirementType.INITIAL: mri, MarginRequirementType.FILL: (mri + mrm) // 2,
               MarginRequirementType.MAINTENANCE: mrm}[mt]
    if hlm and mt is not MarginRequirementType.MAINTENANCE:
        # HLM maintenance, but the ordinary initial/fill ratio for the size adjustment
        pre = (market.margin_ratio_initial if mt is MarginRequirementType.INITIAL
               else (market.margin_ratio_initial + market.margin_ratio_maintenance) // 2)
        adj = size_premium_liability_weight(size, market.imf_factor, pre, MARGIN_PRECISION, False)
        return high_leverage_mode_initial_margin_ratio(pre, adj, default)
    return max(default, size_premium_liability_weight(size, market.imf_factor, default, MARGIN_PRECISION, True))


def base_liquidator_fee(market: PerpMarket, high_leverage_mode: bool = False) -> int:
    """``get_base_liquidator_fee``: ``liquidator_fee``, for an HLM user at most 0.8 × the HLM maintenance ratio."""
    if high_leverage_mode and market.high_leverage_mode_enabled:
        ratio = min(market.high_leverage_margin_ratio_maintenance * LIQUIDATION_FEE_TO_MARGIN_PRECISION_RATIO, U32_MAX)
        return min(market.liquidator_fee, ratio - ratio // 5)
    return market.liquidator_fee


def max_liquidation_fee(market: PerpMarket) -> int:
    """``get_max_liquidation_fee``: ``min(3 × liquidator_fee, maintenance ratio × 100)`` (1e6)."""
    return min(market.liquidator_fee * MAX_LIQUIDATION_MULTIPLIER,
               min(market.margin_ratio_maintenance * LIQUIDATION_FEE_TO_MARGIN_PRECISION_RATIO, U32_MAX))


def unrealized_asset_weight(market: PerpMarket, unrealized_pnl: int, margin_type="maintenance",
                            net_user_pnl: int = 0) -> int:
    """``get_unrealized_asset_weight``: 1 (1e4) for pnl ≤ 0; else the maintenance weight, or for initial/fill the
    initial weight scaled by ``max_imbalance / net_user_pnl`` when the market's net user pnl (``net_user_pnl``,
    Drift's ``calculate_net_user_pnl`` at the last oracle price, passed in) exceeds it, then size-discounted."""
    mt = _margin_type(margin_type)
    pnl = _int("unrealized_pnl", unrealized_pnl)
    weight = (market.unrealized_pnl_maintenance_asset_weight if mt is MarginRequirementType.MAINTENANCE
              else market.unrealized_pnl_initial_asset_weight)
    if weight > 0 and mt is not MarginRequirementType.MAINTENANCE and market.unrealized_pnl_max_imbalance > 0:
        if _int("net_user_pnl", net_user_pnl) > market.unrealized_pnl_max_imbalance:
            weight = weight * market.unrealized_pnl_max_imbalance // abs(net_user_pnl)
    if pnl <= 0:
        return SPOT_WEIGHT_PRECISION
    if mt is MarginRequirementType.MAINTENANCE:
        return market.unrealized_pnl_maintenance_asset_weight
    if weight == 0:
        return 0
    return size_discount_asset_weight(abs(pnl) * AMM_TO_QUOTE_PRECISION_RATIO, market.unrealized_pnl_imf_factor, weight)


# ============================================================================ spot markets
@dataclass(frozen=True)
class SpotMarket:
    """The fields of ``state/spot_market.rs::SpotMarket`` the weight and balance maths read (weights 1e4,
    balances 1e9, cumulative interest 1e10, ``scale_initial_asset_weight_start`` quote 1e6)."""

    decimals: int = 6
    initial_asset_weight: int = 0
    maintenance_asset_weight: int = 0
    initial_liability_weight: int = 0
    maintenance_liability_weight: int = 0
    imf_factor: int = 0
    scale_initial_asset_weight_start: int = 0
    deposit_balance: int = 0
    borrow_balance: int = 0
    cumulative_deposit_interest: int = SPOT_CUMULATIVE_INTEREST_PRECISION
    cumulative_borrow_interest: int = SPOT_CUMULATIVE_INTEREST_PRECISION

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            _nonneg(name, getattr(self, name))
        if self.decimals > 19:
            raise InvalidInput("decimals", "at most 19")


def spot_token_amount(balance: int, market: SpotMarket, borrow: bool = False) -> int:
    """``get_token_amount``: ``balance × cumulative interest / 10^(19 − decimals)`` (a borrow rounds up)."""
    b = _nonneg("balance", balance)
    precision_decrease = 10 ** (19 - market.decimals)
    if borrow:
        return _ceil_div(b * market.cumulative_borrow_interest, precision_decrease)
    return b * market.cumulative_deposit_interest // precision_decrease


def token_value(token_amount: int, decimals: int, oracle_price: int) -> int:
    """``get_token_value``: ``amount × price / 10^decimals``, floored for a negative (borrowed) amount."""
    amount, price = _int("token_amount", token_amount), _int("oracle_price", oracle_price)
    if amount == 0:
        return 0
    v = amount * price
    return _floor_div(v, 10 ** decimals) if v < 0 else _tdiv(v, 10 ** decimals)


def _size_in_base_precision(size: int, decimals: int) -> int:
    precision = 10**decimals
    return size // (precision // BASE_PRECISION) if precision > BASE_PRECISION else size * BASE_PRECISION // precision


def scaled_initial_asset_weight(market: SpotMarket, oracle_price: int) -> int:
    """``get_scaled_initial_asset_weight``: the initial asset weight, times ``start / deposit_value`` once the
    market's deposits are worth at least ``scale_initial_asset_weight_start``."""
    if market.scale_initial_asset_weight_start == 0:
        return market.initial_asset_weight
    deposit_value = token_value(spot_token_amount(market.deposit_balance, market), market.decimals, oracle_price)
    if deposit_value < market.scale_initial_asset_weight_start:
        return market.initial_asset_weight
    w = market.initial_asset_weight * market.scale_initial_asset_weight_start // deposit_value
    if w > U32_MAX:
        raise Rejected("CastingFailure", "asset weight exceeds u32")
    return w


def spot_asset_weight(market: SpotMarket, size: int, oracle_price: int, margin_type="initial") -> int:
    """``SpotMarket::get_asset_weight`` (``size`` in token units of the market's decimals)."""
    mt = _margin_type(margin_type)
    if mt is MarginRequirementType.INITIAL:
        default = scaled_initial_asset_weight(market, oracle_price)
    elif mt is MarginRequirementType.FILL:
        default = (scaled_initial_asset_weight(market, oracle_price) + market.maintenance_asset_weight) // 2
    else:
        default = market.maintenance_asset_weight
    sized = size_discount_asset_weight(_size_in_base_precision(_nonneg("size", size), market.decimals),
                                       market.imf_factor, default)
    return min(sized, default)


def spot_liability_weight(market: SpotMarket, size: int, margin_type="initial") -> int:
    """``SpotMarket::get_liability_weight`` (``size`` in token units of the market's decimals)."""
    mt = _margin_type(margin_type)
    default = {MarginRequirementType.INITIAL: market.initial_liability_weight,
               MarginRequirementType.FILL: (market.initial_liability_weight + market.maintenance_liability_weight) // 2,
               MarginRequirementType.MAINTENANCE: market.maintenance_liability_weight}[mt]
    sized = size_premium_liability_weight(_size_in_base_precision(_nonneg("size", size), market.decimals),
                                          market.imf_factor, default, SPOT_WEIGHT_PRECISION, True)
    return max(sized, default)


# ============================================================================ perp positions and margin calculation
@dataclass(frozen=True)
class PerpPosition:
    """``state/user.rs::PerpPosition`` (base 1e9, signed, long > 0; quote amounts 1e6; open bids ≥ 0, asks ≤ 0)."""

    base_asset_amount: int = 0
    quote_asset_amount: int = 0
    quote_entry_amount: int = 0
    quote_break_even_amount: int = 0
    open_bids: int = 0
    open_asks: int = 0
    open_orders: int = 0
    last_cumulative_funding_rate: int = 0

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            _int(name, getattr(self, name))
        if self.open_bids < 0 or self.open_asks > 0 or self.open_orders < 0:
            raise InvalidInput("open_orders", "open bids are ≥ 0, open asks ≤ 0, the order count ≥ 0")

    @property
    def is_open_position(self) -> bool:
        return self.base_asset_amount != 0

    @property
    def has_open_order(self) -> bool:
        return self.open_orders != 0 or self.open_bids != 0 or self.open_asks != 0


def base_asset_value(base_asset_amount: int, oracle_price: int) -> int:
    """``calculate_base_asset_value_with_oracle_price``: ``|base| × max(price, 0) / 1e9`` (quote 1e6)."""
    return abs(_int("base_asset_amount", base_asset_amount)) * max(_int("oracle_price", oracle_price), 0) // (
        PRICE_TIMES_AMM_TO_QUOTE_PRECISION_RATIO)


def worst_case_liability_value(position: PerpPosition, oracle_price: int) -> tuple[int, int]:
    """``PerpPosition::worst_case_liability_value``: (base, value) with all bids or all asks filled, whichever is
    worth more (asks on a tie)."""
    bids, asks = position.base_asset_amount + position.open_bids, position.base_asset_amount + position.open_asks
    vb, va = base_asset_value(bids, oracle_price), base_asset_value(asks, oracle_price)
    return (asks, va) if va >= vb else (bids, vb)


def funding_payment(amm_cumulative_funding_rate: int, last_cumulative_funding_rate: int, base_asset_amount: int) -> int:
    """``calculate_funding_payment``: ``−sign(base)·sign(Δ)·(|Δ|·|base|/1e6/1e3)/1e3`` (quote 1e6; longs pay a
    positive rate)."""
    delta = _int("amm_cumulative_funding_rate", amm_cumulative_funding_rate) - _int(
        "last_cumulative_funding_rate", last_cumulative_funding_rate)
    if delta == 0:
        return 0
    return _tdiv(_funding_payment(delta, _int("base_asset_amount", base_asset_amount)), AMM_TO_QUOTE_PRECISION_RATIO)


def _funding_payment(delta: int, base: int) -> int:
    magnitude = abs(delta) * abs(base) // PRICE_PRECISION // FUNDING_RATE_BUFFER
    return magnitude * (-1 if base > 0 else 1) * (1 if delta > 0 else -1)


def funding_payment_in_quote_precision(funding_rate_delta: int, base_asset_amount: int) -> int:
    """``calculate_funding_payment_in_quote_precision`` (the same sign convention: a long pays a positive rate)."""
    return _tdiv(_funding_payment(_int("funding_rate_delta", funding_rate_delta), _int("base_asset_amount", base_asset_amount)),
                 AMM_TO_QUOTE_PRECISION_RATIO)


def perp_position_value_and_pnl(position: PerpPosition, market: PerpMarket, oracle_price: int, margin_type="maintenance", *,
                                quote_price: int = PRICE_PRECISION, quote_twap_5min: int | None = None,
                                user_custom_margin_ratio: int = 0, high_leverage_mode: bool = False,
                                net_user_pnl: int = 0) -> tuple[int, int, int, int]:
    """``calculate_perp_position_value_and_pnl``: (margin requirement, weighted unrealised pnl incl. unsettled funding,
    worst-case liability value, base asset value). ``quote_twap_5min`` makes the quote price strict (liability at
    max(quote, twap), positive pnl at the min, negative at the max)."""
    mt = _margin_type(margin_type)
    price = _int("oracle_price", oracle_price)
    qp = _nonneg("quote_price", quote_price)
    q_hi = q_lo = qp
    if quote_twap_5min is not None:
        q_hi, q_lo = max(qp, _nonneg("quote_twap_5min", quote_twap_5min)), min(qp, quote_twap_5min)
    base = position.base_asset_amount
    rate = market.cumulative_funding_rate_long if base > 0 else market.cumulative_funding_rate_short
    unrealized_funding = funding_payment(rate, position.last_cumulative_funding_rate, base)
    if base == 0:
        value, pnl = 0, position.quote_asset_amount
    else:
        signed_value = _tdiv(base * max(price, 0), BASE_PRECISION)
        value, pnl = abs(signed_value), signed_value + position.quote_asset_amount
    total_pnl = pnl + unrealized_funding
    worst_base, liability = worst_case_liability_value(position, price)
    liability = liability * q_hi // PRICE_PRECISION
    ratio = max(_nonneg("user_custom_margin_ratio", user_custom_margin_ratio),
                perp_margin_ratio(market, abs(worst_base), mt, high_leverage_mode))
    requirement = liability * ratio // MARGIN_PRECISION + position.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT
    weight = unrealized_asset_weight(market, total_pnl, mt, net_user_pnl)
    q = q_lo if total_pnl > 0 else q_hi if total_pnl < 0 else qp
    weighted = total_pnl
    if weight != SPOT_WEIGHT_PRECISION:
        weighted = _tdiv(weighted * weight, SPOT_WEIGHT_PRECISION)
    if q != PRICE_PRECISION:
        weighted = _tdiv(weighted * q, PRICE_PRECISION)
    if mt is MarginRequirementType.INITIAL:
        weighted = min(weighted, MAX_POSITIVE_UPNL_FOR_INITIAL_MARGIN)
    return requirement, weighted, liability, value


@dataclass(frozen=True)
class MarginCalculation:
    """``state/margin_calculation.rs::MarginCalculation`` (cross, or one isolated position): quote 1e6."""

    total_collateral: int
    margin_requirement: int
    total_collateral_buffer: int = 0
    margin_requirement_plus_buffer: int = 0  #: 0 without a buffer, as in Drift
    margin_buffer: int = 0

    @property
    def total_collateral_plus_buffer(self) -> int:
        return self.total_collateral + self.total_collateral_buffer

    @property
    def meets_margin_requirement(self) -> bool:
        return self.total_collateral >= self.margin_requirement

    @property
    def meets_margin_requirement_with_buffer(self) -> bool:
        """``can_exit_*_liquidation``: collateral plus buffer ≥ requirement plus buffer."""
        return self.total_collateral_plus_buffer >= self.margin_requirement_plus_buffer

    @property
    def margin_shortage(self) -> int:
        """``cross_margin_margin_shortage``: ``max(requirement + buffer − (collateral + buffer), 0)``; Drift refuses it
        outside a liquidation (buffer) context."""
        if self.margin_buffer == 0:
            raise Rejected("InvalidMarginCalculation", "margin buffer mode not enabled")
        return max(self.margin_requirement_plus_buffer - self.total_collateral_plus_buffer, 0)


def margin_calculation(collateral=(), requirements=(), margin_buffer: int = 0) -> MarginCalculation:
    """Accumulate a margin calculation as Drift does: each ``collateral`` component (a spot deposit's value, a perp
    position's weighted pnl) adds to the total, and a negative one adds ``c × buffer / 1e4`` (truncated) to the
    collateral buffer; each ``(requirement, liability_value)`` adds the requirement and, with a buffer,
    ``requirement + liability × buffer / 1e4`` to the buffered requirement (``margin_buffer`` 1e4)."""
    buf = _nonneg("margin_buffer", margin_buffer)
    tc = tcb = mr = mrb = 0
    for c in collateral:
        tc += _int("collateral", c)
        if buf > 0 and c < 0:
            tcb += _tdiv(c * buf, MARGIN_PRECISION)
    for req, liability in requirements:
        mr += _nonneg("requirement", req)
        if buf > 0:
            mrb += req + _nonneg("liability_value", liability) * buf // MARGIN_PRECISION
    return MarginCalculation(tc, mr, tcb, mrb, buf)


def perp_account_margin(quote_deposit: int, position: PerpPosition, market: PerpMarket, oracle_price: int,
                        margin_type="maintenance", *, margin_buffer: int = 0, quote_price: int = PRICE_PRECISION,
                        quote_twap_5min: int | None = None, high_leverage_mode: bool = False,
                        user_max_margin_ratio: int = 0, position_max_margin_ratio: int = 0,
                        net_user_pnl: int = 0) -> MarginCalculation:
    """``calculate_margin_requirement_and_total_collateral_and_liability_info`` for an account of one USDC balance
    (``quote_deposit`` token amount 1e6, negative = borrowed; Drift values the quote market's deposit unweighted) and
    one perp position; also an isolated position's own calculation (``quote_deposit`` = its isolated balance). The
    user's and the position's self-chosen ``max_margin_ratio`` (the larger) apply to the initial requirement only."""
    dep = _int("quote_deposit", quote_deposit)
    custom = (max(_nonneg("user_max_margin_ratio", user_max_margin_ratio),
                  _nonneg("position_max_margin_ratio", position_max_margin_ratio))
              if _margin_type(margin_type) is MarginRequirementType.INITIAL else 0)
    collateral, requirements = [], []
    if dep != 0:
        strict_hi = strict_lo = quote_price
        if quote_twap_5min is not None:
            strict_hi, strict_lo = max(quote_price, quote_twap_5min), min(quote_price, quote_twap_5min)
        v = token_value(dep, 6, strict_lo if dep > 0 else strict_hi)
        if dep > 0:
            collateral.append(v)
        else:
            requirements.append((abs(v), abs(v)))
    req, weighted, liability, _ = perp_position_value_and_pnl(
        position, market, oracle_price, margin_type, quote_price=quote_price, quote_twap_5min=quote_twap_5min,
        user_custom_margin_ratio=custom, high_leverage_mode=high_leverage_mode, net_user_pnl=net_user_pnl)
    requirements.append((req, liability))
    collateral.append(weighted)
    return margin_calculation(collateral, requirements, margin_buffer)


# ============================================================================ math/liquidation.rs
def base_asset_amount_to_cover_margin_shortage(margin_shortage: int, margin_ratio: int, liquidation_fee: int,
                                               if_liquidation_fee: int, oracle_price: int,
                                               quote_oracle_price: int = PRICE_PRECISION) -> int:
    """``calculate_base_asset_amount_to_cover_margin_shortage``: ``shortage·1e9 / (price·quote/1e6·(ratio·100 −
    fee)/1e6 − price·if_fee/1e6)``; ``u64::MAX`` when the price is 0 or the ratio does not exceed the fee."""
    shortage, ratio = _nonneg("margin_shortage", margin_shortage), _nonneg("margin_ratio", margin_ratio)
    fee, if_fee = _nonneg("liquidation_fee", liquidation_fee), _nonneg("if_liquidation_fee", if_liquidation_fee)
    price, quote = _int("oracle_price", oracle_price), _int("quote_oracle_price", quote_oracle_price)
    ratio *= LIQUIDATION_FEE_TO_MARGIN_PRECISION_RATIO
    if price == 0 or ratio <= fee:
        return U64_MAX
    if price < 0 or quote < 0:
        raise Rejected("CastingFailure", "negative price cast to u128")
    denominator = _usub(price * quote // PRICE_PRECISION * (ratio - fee) // LIQUIDATION_FEE_PRECISION,
                        price * if_fee // LIQUIDATION_FEE_PRECISION)
    result = _tdiv(shortage * PRICE_TIMES_AMM_TO_QUOTE_PRECISION_RATIO, denominator)
    if result > U64_MAX:
        raise Rejected("CastingFailure", "base asset amount exceeds u64")
    return result


def liability_transfer_to_cover_margin_shortage(margin_shortage: int, asset_weight: int, asset_liquidation_multiplier: int,
                                                liability_weight: int, liability_liquidation_multiplier: int,
                                                liability_decimals: int, liability_price: int,
                                                if_liquidation_fee: int) -> int:
    """``calculate_liability_transfer_to_cover_margin_shortage`` (spot): the liability tokens whose transfer frees
    the shortage; ``u128::MAX`` when the asset side weighs at least as much as the liability side; at least 1."""
    shortage = _nonneg("margin_shortage", margin_shortage)
    aw, lw = _nonneg("asset_weight", asset_weight), _nonneg("liability_weight", liability_weight)
    am = _nonneg("asset_liquidation_multiplier", asset_liquidation_multiplier)
    lm = _nonneg("liability_liquidation_multiplier", liability_liquidation_multiplier)
    dec, price = _nonneg("liability_decimals", liability_decimals), _nonneg("liability_price", liability_price)
    if_fee = _nonneg("if_liquidation_fee", if_liquidation_fee)
    if aw >= lw:
        return U128_MAX
    num_scale, den_scale = (10 ** (dec - 6), 1) if dec > 6 else (1, 10 ** (6 - dec))
    lwc = lw * 10  # market weights × 10 for precision
    awc = _tdiv(aw * 10 * am, lm)
    if awc >= lwc:
        return U128_MAX
    denominator = _usub(price * (lwc - awc), price * if_fee // LIQUIDATION_FEE_PRECISION * lw * 10)
    return max(_tdiv(shortage * num_scale * (PRICE_PRECISION * SPOT_WEIGHT_PRECISION * 10), denominator) // den_scale, 1)


def liability_transfer_implied_by_asset_amount(asset_amount: int, asset_liquidation_multiplier: int, asset_decimals: int,
                                               asset_price: int, liability_liquidation_multiplier: int,
                                               liability_decimals: int, liability_price: int) -> int:
    """``calculate_liability_transfer_implied_by_asset_amount``: ``ceil(ceil(asset·scale·price·lm / (lprice·am)) /
    scale')``, the liability the liquidator takes for ``asset_amount`` of the asset."""
    a, am, ad = (_nonneg("asset_amount", asset_amount), _nonneg("asset_liquidation_multiplier", asset_liquidation_multiplier),
                 _nonneg("asset_decimals", asset_decimals))
    ap, lm, ld = (_nonneg("asset_price", asset_price), _nonneg("liability_liquidation_multiplier", liability_liquidation_multiplier),
                  _nonneg("liability_decimals", liability_decimals))
    lp = _nonneg("liability_price", liability_price)
    num_scale, den_scale = (10 ** (ld - ad), 1) if ld > ad else (1, 10 ** (ad - ld))
    return _ceil_div(_ceil_div(a * num_scale * ap * lm, lp * am), den_scale)


def asset_transfer_for_liability_transfer(asset_amount: int, asset_liquidation_multiplier: int, asset_decimals: int,
                                          asset_price: int, liability_amount: int, liability_liquidation_multiplier: int,
                                          liability_decimals: int, liability_price: int) -> int:
    """``calculate_asset_transfer_for_liability_transfer``: ``max(liability·scale·lprice·am / (aprice·lm) / scale', 1)``,
    rounded to the whole ``asset_amount`` when it differs from it by less than $1."""
    a, am, ad = (_nonneg("asset_amount", asset_amount), _nonneg("asset_liquidation_multiplier", asset_liquidation_multiplier),
                 _nonneg("asset_decimals", asset_decimals))
    ap, lam = _nonneg("asset_price", asset_price), _nonneg("liability_amount", liability_amount)
    lm, ld = _nonneg("liability_liquidation_multiplier", liability_liquidation_multiplier), _nonneg("liability_decimals", liability_decimals)
    lp = _nonneg("liability_price", liability_price)
    num_scale, den_scale = (10 ** (ad - ld), 1) if ad > ld else (1, 10 ** (ld - ad))
    transfer = max(_tdiv(lam * num_scale * lp * am, ap * lm) // den_scale, 1)
    vnum, vden = (10 ** (ad - 6), 1) if ad > 6 else (1, 10 ** (6 - ad))
    delta_value = abs(transfer - a) * ap // PRICE_PRECISION * vnum // vden
    return a if delta_value < QUOTE_PRECISION else transfer


def liquidation_multiplier(liquidation_fee: int, premium: bool) -> int:
    """``calculate_liquidation_multiplier``: ``1e6 + fee`` (premium) or ``1e6 − fee`` (discount)."""
    fee = _nonneg("liquidation_fee", liquidation_fee)
    return LIQUIDATION_FEE_PRECISION + fee if premium else _usub(LIQUIDATION_FEE_PRECISION, fee)


def funding_rate_deltas_to_resolve_bankruptcy(loss: int, base_asset_amount_long: int, base_asset_amount_short: int) -> int:
    """``calculate_funding_rate_deltas_to_resolve_bankruptcy``: ``ceil(|loss|·1e9 / (|long| + |short|)) · 1e3``."""
    total = abs(_int("base_asset_amount_long", base_asset_amount_long)) + abs(_int("base_asset_amount_short", base_asset_amount_short))
    if total == 0:
        raise Rejected("CantResolvePerpBankruptcy", "Cant resolve perp bankruptcy when total base asset amount is 0")
    return _ceil_div(abs(_int("loss", loss)) * BASE_PRECISION, total) * (FUNDING_RATE_PRECISION // QUOTE_PRECISION)


def socialised_loss_funding_delta(loss: int, long_open_interest: int, short_open_interest: int) -> int:
    """``Δcum_funding = ceil(|loss| × 1e9 / (|long OI| + |short OI|)) × 1e3`` (funding units 1e9 × 1e3).

    Added to the longs' cumulative funding and taken from the shorts', so every open position pays
    the loss pro rata to its size.
    """
    oi = abs(long_open_interest) + abs(short_open_interest)
    if oi == 0:
        raise InvalidInput("open_interest", "a loss cannot be socialised over no open interest")
    return -((-abs(loss) * BASE_PRECISION) // oi) * FUNDING_RATE_BUFFER


def cumulative_deposit_interest_delta_to_resolve_bankruptcy(borrow: int, market: SpotMarket) -> int:
    """``calculate_cumulative_deposit_interest_delta_to_resolve_bankruptcy``: ``ceil(cum_deposit_interest × borrow /
    total deposits)``; 0 when the market has no deposits (Drift's ``.or(Ok(0))``)."""
    deposits = spot_token_amount(market.deposit_balance, market)
    if deposits == 0:
        return 0
    return _ceil_div(market.cumulative_deposit_interest * _nonneg("borrow", borrow), deposits)


def swap_price(amount_out: int, amount_in: int, out_decimals: int, in_decimals: int) -> int:
    """``spot_swap.rs::calculate_swap_price``: ``out·1e6/10^out_dec·10^in_dec / in`` (price 1e6)."""
    return _tdiv(_nonneg("amount_out", amount_out) * PRICE_PRECISION // 10 ** _nonneg("out_decimals", out_decimals)
                 * 10 ** _nonneg("in_decimals", in_decimals), _nonneg("amount_in", amount_in))


def validate_transfer_satisfies_limit_price(asset_transfer: int, liability_transfer: int, asset_decimals: int,
                                            liability_decimals: int, limit_price: int | None) -> None:
    """``validate_transfer_satisfies_limit_price``: the asset received per liability paid must reach the liquidator's
    limit price; raises ``Rejected('LiquidationDoesntSatisfyLimitPrice')``."""
    if limit_price is None:
        return
    p = swap_price(asset_transfer, liability_transfer, asset_decimals, liability_decimals)
    if p < _nonneg("limit_price", limit_price):
        raise Rejected("LiquidationDoesntSatisfyLimitPrice", f"transfer price {p}/1e6 < limit price {limit_price}/1e6")


def max_pct_to_liquidate(margin_shortage: int, slot: int, last_active_slot: int, liquidation_margin_freed: int,
                         initial_pct_to_liquidate: int, liquidation_duration: int) -> int:
    """``calculate_max_pct_to_liquidate`` (1e4): all of it when the shortage is under $50; else the share of the total
    shortage (current + already freed) freeable by now — ``initial pct + slots since the liquidation began /
    duration`` (100 % when the duration is 0) — less what was already freed, over the current shortage."""
    shortage = _nonneg("margin_shortage", margin_shortage)
    if shortage < 50 * QUOTE_PRECISION:
        return LIQUIDATION_PCT_PRECISION
    elapsed = _usub(_nonneg("slot", slot), _nonneg("last_active_slot", last_active_slot))
    duration, freed = _nonneg("liquidation_duration", liquidation_duration), _nonneg("liquidation_margin_freed", liquidation_margin_freed)
    pct = elapsed * LIQUIDATION_PCT_PRECISION // duration if duration else LIQUIDATION_PCT_PRECISION
    pct = min(pct + _nonneg("initial_pct_to_liquidate", initial_pct_to_liquidate), LIQUIDATION_PCT_PRECISION)
    max_freed = (shortage + freed) * pct // LIQUIDATION_PCT_PRECISION
    return max(max_freed - freed, 0) * LIQUIDATION_PCT_PRECISION // shortage


def perp_if_fee(margin_shortage: int, user_base_asset_amount: int, margin_ratio: int, liquidator_fee: int,
                oracle_price: int, quote_oracle_price: int, max_if_liquidation_fee: int) -> int:
    """``calculate_perp_if_fee``: ``min(max_if_fee, (ratio·100 − liq_fee − shortage·1e9/base·1e6/price) × 19/20)``,
    each subtraction saturating at 0; 0 when a price or the base is 0 or the ratio does not exceed the fee."""
    shortage, base = _nonneg("margin_shortage", margin_shortage), _nonneg("user_base_asset_amount", user_base_asset_amount)
    ratio = _nonneg("margin_ratio", margin_ratio) * LIQUIDATION_FEE_TO_MARGIN_PRECISION_RATIO
    fee, max_fee = _nonneg("liquidator_fee", liquidator_fee), _nonneg("max_if_liquidation_fee", max_if_liquidation_fee)
    price, quote = _int("oracle_price", oracle_price), _int("quote_oracle_price", quote_oracle_price)
    if price == 0 or quote == 0 or ratio <= fee or base == 0:
        return 0
    p = price * quote // PRICE_PRECISION
    per_value = _tdiv(shortage * BASE_PRECISION // base * PRICE_PRECISION, p)
    per_value = per_value if per_value <= U32_MAX else U32_MAX  # cast::<u32>().unwrap_or(u32::MAX)
    implied = max(max(ratio - fee, 0) - per_value, 0) * 19 // 20  # 95 %: keep deposits above the negative pnl
    return min(max_fee, implied)


def spot_if_fee(margin_shortage: int, token_amount: int, asset_weight: int, asset_liquidation_multiplier: int,
                liability_weight: int, liability_liquidation_multiplier: int, liability_decimals: int,
                liability_price: int, max_if_fee: int) -> int:
    """``calculate_spot_if_fee``: ``min(max, (lw − aw·am/lm − shortage·1e6·10^dec/tokens/price) · 1e6 / lw)``
    (weights rescaled to 1e6, subtractions saturating); 0 in the degenerate cases."""
    shortage, tokens = _nonneg("margin_shortage", margin_shortage), _nonneg("token_amount", token_amount)
    aw, lw = _nonneg("asset_weight", asset_weight), _nonneg("liability_weight", liability_weight)
    am = _nonneg("asset_liquidation_multiplier", asset_liquidation_multiplier)
    lm = _nonneg("liability_liquidation_multiplier", liability_liquidation_multiplier)
    dec, price = _nonneg("liability_decimals", liability_decimals), _int("liability_price", liability_price)
    max_fee = _nonneg("max_if_fee", max_if_fee)
    if aw >= lw or price == 0 or tokens == 0 or lm == 0:
        return 0
    scale = LIQUIDATION_FEE_PRECISION // SPOT_WEIGHT_PRECISION
    lw, aw = lw * scale, aw * scale
    implied = max(lw - aw * am // lm, 0)
    implied = max(implied - _tdiv(shortage * LIQUIDATION_FEE_PRECISION * 10**dec // tokens, price), 0)
    implied = implied * LIQUIDATION_FEE_PRECISION // lw
    return min(max_fee, implied if implied <= U32_MAX else U32_MAX)


def liquidation_order_limit_price(oracle_price: int, closing_long: bool, liquidation_fee: int) -> int:
    """``get_liquidation_order_params``' limit price: the order closing a long (a sell) at ``oracle − oracle·fee/1e6``,
    closing a short (a buy) at ``oracle + oracle·fee/1e6``; also ``liquidate_perp``'s transfer price for its limit
    check."""
    p, f = abs(_int("oracle_price", oracle_price)), _nonneg("liquidation_fee", liquidation_fee)
    fee = p * f // LIQUIDATION_FEE_PRECISION
    return _usub(p, fee) if closing_long else p + fee


def liquidation_transfer_price(oracle_price: int, long: bool, liquidation_fee: int) -> int:
    """The price the liquidator takes a position at: ``oracle ∓ oracle·fee/1e6`` (long: cheaper), PRICE 1e6, rounded
    as ``liquidate_perp``'s limit-price check and ``get_liquidation_order_params`` round it."""
    p, f = _nonneg("oracle_price", oracle_price), _nonneg("liquidation_fee", liquidation_fee)
    if f > LIQUIDATION_FEE_PRECISION:
        raise InvalidInput("liquidation_fee", "must be at most 1e6 (100 %)")
    return liquidation_order_limit_price(p, long, f)


def liquidation_fee(base_liquidation_fee: int, max_liquidation_fee: int, last_active_user_slot: int, current_slot: int) -> int:
    """``get_liquidation_fee``: the base fee for the first 1,500 slots (~10 min) of a liquidation, then
    ``base + slots elapsed × 1`` (0.0001 % a slot, saturating), capped at ``max_liquidation_fee``."""
    base, cap = _nonneg("base_liquidation_fee", base_liquidation_fee), _nonneg("max_liquidation_fee", max_liquidation_fee)
    elapsed = _usub(_nonneg("current_slot", current_slot), _nonneg("last_active_user_slot", last_active_user_slot))
    if elapsed < LIQUIDATION_FEE_ADJUST_GRACE_PERIOD_SLOTS:
        return base
    increase = elapsed * LIQUIDATION_FEE_INCREASE_PER_SLOT
    return min(min(base + min(increase, U32_MAX), U32_MAX), cap)


def validate_swap_within_liquidation_boundaries(asset_transfer: int, liability_transfer: int, asset_decimals: int,
                                                liability_decimals: int, asset_price: int, liability_price: int,
                                                asset_liquidation_multiplier: int,
                                                liability_liquidation_multiplier: int) -> None:
    """``validate_swap_within_liquidation_boundaries``: a swap liquidation must pay at least the worst-case price
    ``asset_price·1e6·lm / liability_price / am``; raises ``Rejected('InvalidLiquidation')``."""
    at, lt = _nonneg("asset_transfer", asset_transfer), _nonneg("liability_transfer", liability_transfer)
    ad, ld = _nonneg("asset_decimals", asset_decimals), _nonneg("liability_decimals", liability_decimals)
    ap, lp = _nonneg("asset_price", asset_price), _nonneg("liability_price", liability_price)
    am = _nonneg("asset_liquidation_multiplier", asset_liquidation_multiplier)
    lm = _nonneg("liability_liquidation_multiplier", liability_liquidation_multiplier)
    price = _tdiv(lt * PRICE_PRECISION // 10**ld * 10**ad, at)
    worst = _tdiv(_tdiv(ap * PRICE_PRECISION * lm, lp), am)
    if price < worst:
        raise Rejected("InvalidLiquidation", f"swap price ({price}/1000000) < worst case price ({worst}/1000000)")


# ============================================================================ liquidate_perp as a pure function
def standardize_base_asset_amount(base_asset_amount: int, step_size: int) -> int:
    """Round down to a multiple of the order step size."""
    return _nonneg("base_asset_amount", base_asset_amount) - base_asset_amount % _nonzero(_nonneg("step_size", step_size))


def standardize_base_asset_amount_ceil(base_asset_amount: int, step_size: int) -> int:
    """Round up to a multiple of the order step size (u64)."""
    r = _nonneg("base_asset_amount", base_asset_amount) % _nonzero(_nonneg("step_size", step_size))
    out = base_asset_amount if r == 0 else base_asset_amount + step_size - r
    if out > U64_MAX:
        raise Rejected("MathError", "base asset amount overflows u64")
    return out


def update_position(position: PerpPosition, base_delta: int, quote_delta: int) -> tuple[PerpPosition, int]:
    """``controller/position.rs::update_position_and_market`` on the position (the market's open-interest bookkeeping
    aside): open/increase add the quote to entry and break-even; reduce/close take the pro-rata share (truncated)
    and realise ``entry share + quote``; a flip restarts entry and break-even from the flipped part. Returns the new
    position and the realised pnl."""
    bd, qd = _int("base_delta", base_delta), _int("quote_delta", quote_delta)
    p = position
    if bd == 0:
        return replace(p, quote_asset_amount=p.quote_asset_amount + qd), qd
    base, new_base, new_quote = p.base_asset_amount, p.base_asset_amount + bd, p.quote_asset_amount + qd
    if base == 0 or (base > 0) == (bd > 0):  # open / increase
        entry, even, pnl = p.quote_entry_amount + qd, p.quote_break_even_amount + qd, 0
    elif abs(base) >= abs(bd):  # reduce / close
        entry = p.quote_entry_amount - _tdiv(p.quote_entry_amount * abs(bd), abs(base))
        even = p.quote_break_even_amount - _tdiv(p.quote_break_even_amount * abs(bd), abs(base))
        pnl = p.quote_entry_amount - entry + qd
    else:  # flip
        even = qd - _tdiv(qd * abs(base), abs(bd))
        entry, pnl = even, p.quote_entry_amount + (qd - even)
    return replace(p, base_asset_amount=new_base, quote_asset_amount=new_quote, quote_entry_amount=entry,
                   quote_break_even_amount=even), pnl


def settle_funding_payment(position: PerpPosition, market: PerpMarket) -> tuple[PerpPosition, int]:
    """``controller/funding.rs::settle_funding_payment``: book the funding owed since the position's last cumulative
    rate into its quote and break-even amounts and move it to the market's rate. Returns the position and the
    payment (the user's ``cumulative_perp_funding`` increment)."""
    if position.base_asset_amount == 0:
        return position, 0
    rate = market.cumulative_funding_rate_long if position.base_asset_amount > 0 else market.cumulative_funding_rate_short
    if rate == position.last_cumulative_funding_rate:
        return position, 0
    payment = funding_payment(rate, position.last_cumulative_funding_rate, position.base_asset_amount)
    return replace(_add_quote(position, payment), last_cumulative_funding_rate=rate), payment


def _add_quote(position: PerpPosition, delta: int) -> PerpPosition:
    """``update_quote_asset_and_break_even_amount``."""
    return replace(position, quote_asset_amount=position.quote_asset_amount + delta,
                   quote_break_even_amount=position.quote_break_even_amount + delta)


@dataclass(frozen=True)
class PerpLiquidation:
    """One ``liquidate_perp`` transfer: quote amounts 1e6, base 1e9, fee rates 1e6, percentages 1e4."""

    base_asset_amount: int  #: base taken over by the liquidator (0: nothing this call)
    base_asset_value: int  #: its value at the oracle
    liquidator_fee: int  #: quote the user pays the liquidator
    if_fee: int  #: quote the user pays the insurance fund (the market's ``total_liquidation_fee``)
    margin_ratio: int  #: maintenance ratio of the user's size (without the buffer)
    liquidation_fee_rate: int
    if_fee_rate: int
    base_asset_amount_to_cover_margin_shortage: int  #: step-rounded up, or ``U64_MAX``
    max_pct_allowed: int
    user_position: PerpPosition
    liquidator_position: PerpPosition

    @property
    def covers_margin_shortage(self) -> bool:
        """The transfer covers the whole shortage: Drift takes the user out of liquidation."""
        return self.base_asset_amount > 0 and self.base_asset_amount >= self.base_asset_amount_to_cover_margin_shortage


def liquidate_perp(position: PerpPosition, market: PerpMarket, oracle_price: int, margin_shortage: int,
                   liquidator_max_base_asset_amount: int, *, limit_price: int | None = None,
                   quote_oracle_price: int = PRICE_PRECISION,
                   liquidation_margin_buffer_ratio: int = DEFAULT_LIQUIDATION_MARGIN_BUFFER_RATIO, slot: int = 0,
                   last_active_slot: int = 0, liquidation_margin_freed: int = 0,
                   initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION, liquidation_duration: int = 0,
                   high_leverage_mode: bool = False, tracked_margin_shortage: int | None = None, isolated: bool = False,
                   liquidator_position: PerpPosition | None = None) -> PerpLiquidation:
    """The transfer step of ``controller/liquidation.rs::liquidate_perp`` once the user is being liquidated and its
    orders are cancelled: ``margin_shortage`` is the (buffered) shortage after the cancellation,
    ``tracked_margin_shortage`` this market's share of it (``tracked_market_margin_shortage``; the whole shortage by
    default, right for an account whose only requirement is this position), ``last_active_slot`` the slot the
    liquidation began and ``liquidation_margin_freed`` the margin it has freed so far. An isolated position may be
    liquidated whole at once (its mode's max pct is 100 %). Raises ``Rejected`` with Drift's error code."""
    price = _int("oracle_price", oracle_price)
    shortage = _nonneg("margin_shortage", margin_shortage)
    liq_pos = liquidator_position if liquidator_position is not None else PerpPosition()
    step = market.order_step_size
    user_base = abs(position.base_asset_amount)

    def nothing(**kw) -> PerpLiquidation:
        base = dict(base_asset_amount=0, base_asset_value=0, liquidator_fee=0, if_fee=0, margin_ratio=0,
                    liquidation_fee_rate=0, if_fee_rate=0, base_asset_amount_to_cover_margin_shortage=0, max_pct_allowed=0,
                    user_position=position, liquidator_position=liq_pos)
        base.update(kw)
        return PerpLiquidation(**base)

    if user_base == 0:
        return nothing()
    max_base = standardize_base_asset_amount(_nonneg("liquidator_max_base_asset_amount", liquidator_max_base_asset_amount), step)
    if max_base == 0:
        raise Rejected("InvalidBaseAssetAmountForLiquidatePerp",
                       "liquidator_max_base_asset_amount must be greater or equal to the step size")
    ratio = perp_margin_ratio(market, user_base, MarginRequirementType.MAINTENANCE, high_leverage_mode)
    ratio_with_buffer = ratio + _nonneg("liquidation_margin_buffer_ratio", liquidation_margin_buffer_ratio)
    fee_rate = liquidation_fee(base_liquidator_fee(market, high_leverage_mode), max_liquidation_fee(market),
                               last_active_slot, slot)
    tracked = shortage if tracked_margin_shortage is None else _nonneg("tracked_margin_shortage", tracked_margin_shortage)
    if_rate = perp_if_fee(tracked, user_base, ratio_with_buffer, fee_rate, price, quote_oracle_price, market.if_liquidation_fee)
    to_cover = base_asset_amount_to_cover_margin_shortage(shortage, ratio_with_buffer, fee_rate, if_rate, price,
                                                          quote_oracle_price)
    if to_cover != U64_MAX:
        to_cover = standardize_base_asset_amount_ceil(to_cover, step)
    pct = LIQUIDATION_PCT_PRECISION if isolated else max_pct_to_liquidate(
        shortage, slot, last_active_slot, liquidation_margin_freed, initial_pct_to_liquidate, liquidation_duration)
    allowed = to_cover * pct // LIQUIDATION_PCT_PRECISION
    summary = dict(margin_ratio=ratio, liquidation_fee_rate=fee_rate, if_fee_rate=if_rate,
                   base_asset_amount_to_cover_margin_shortage=to_cover, max_pct_allowed=pct)
    if allowed == 0:
        return nothing(**summary)
    # a position worth ≤ $50 may be taken whole
    min_base = 0 if base_asset_value(user_base, price) > 50 * QUOTE_PRECISION else user_base
    base = standardize_base_asset_amount_ceil(min(user_base, max_base, max(allowed, min_base)), step)
    long = position.base_asset_amount > 0
    if limit_price is not None:
        transfer = liquidation_order_limit_price(price, long, fee_rate)
        if (long and transfer > limit_price) or (not long and transfer < limit_price):
            raise Rejected("LiquidationDoesntSatisfyLimitPrice",
                           f"limit price ({limit_price}) {'>' if long else '<'} transfer price ({transfer})")
    value = base_asset_value(base, price)
    liq_fee = value * fee_rate // LIQUIDATION_FEE_PRECISION
    if_fee = value * if_rate // LIQUIDATION_FEE_PRECISION
    signed_base = base if long else -base
    user_after, _ = update_position(replace(position, open_bids=0, open_asks=0, open_orders=0), -signed_base,
                                    value if long else -value)
    user_after = _add_quote(_add_quote(user_after, -liq_fee), -if_fee)
    if abs(user_after.base_asset_amount) % step:
        raise Rejected("InvalidPerpPosition", f"base asset amount {user_after.base_asset_amount} step size {step}")
    liq_after, _ = update_position(liq_pos, signed_base, -value if long else value)
    liq_after = _add_quote(liq_after, liq_fee)
    return PerpLiquidation(base_asset_amount=base, base_asset_value=value, liquidator_fee=liq_fee, if_fee=if_fee,
                           user_position=user_after, liquidator_position=liq_after, **summary)


def is_cross_margin_bankrupt(spot_balances=(), perp_positions=()) -> bool:
    """``math/bankruptcy.rs::is_cross_margin_bankrupt``: spot liabilities or negative perp pnl, and no deposit, no
    base, no positive pnl and no open order (``spot_balances`` signed: > 0 deposit, < 0 borrow; isolated
    positions excluded by the caller)."""
    liability = False
    for b in spot_balances:
        if _int("spot_balance", b) > 0:
            return False
        liability = liability or b < 0
    for p in perp_positions:
        if p.base_asset_amount != 0 or p.quote_asset_amount > 0 or p.has_open_order:
            return False
        liability = liability or p.quote_asset_amount < 0
    return liability


def is_isolated_margin_bankrupt(position: PerpPosition, isolated_balance: int) -> bool:
    """``is_isolated_margin_bankrupt``: no isolated balance, no base, negative pnl and no open order."""
    if _nonneg("isolated_balance", isolated_balance) > 0:
        return False
    return position.base_asset_amount == 0 and position.quote_asset_amount < 0 and not position.has_open_order


@dataclass(frozen=True)
class PerpAccount:
    """A Drift user as ``liquidate_perp`` sees it here: one USDC balance (token amount 1e6, negative = borrowed) and one
    perp position, either cross-margined or isolated (then ``quote_deposit`` is the position's isolated balance), with
    the liquidation status fields of ``state/user.rs::User``."""

    quote_deposit: int
    position: PerpPosition
    being_liquidated: bool = False
    bankrupt: bool = False
    last_active_slot: int = 0
    liquidation_margin_freed: int = 0
    high_leverage_mode: bool = False
    isolated: bool = False


@dataclass(frozen=True)
class PerpAccountLiquidation:
    account: PerpAccount  #: the user after the call
    liquidation: PerpLiquidation | None  #: the transfer, or None when the call ended before one
    margin_freed: int  #: by the order cancellation and the transfer (quote 1e6)
    margin_shortage: int  #: the buffered shortage the transfer was sized on (after cancelling orders)


def set_user_status_to_being_liquidated(account: PerpAccount, market: PerpMarket, oracle_price: int, slot: int, *,
                                        liquidation_margin_buffer_ratio: int = DEFAULT_LIQUIDATION_MARGIN_BUFFER_RATIO,
                                        quote_oracle_price: int = PRICE_PRECISION) -> PerpAccount:
    """``controller/liquidation.rs::set_user_status_to_being_liquidated``: flag an account that fails its maintenance
    requirement (unbuffered) as being liquidated from ``slot`` on; ``UserBankrupt``, ``UserIsBeingLiquidated`` or
    ``SufficientCollateral`` otherwise."""
    if account.bankrupt:
        raise Rejected("UserBankrupt", "user bankrupt")
    if account.being_liquidated:
        raise Rejected("UserIsBeingLiquidated", "user is already being liquidated")
    calc = perp_account_margin(account.quote_deposit, account.position, market, oracle_price,
                               MarginRequirementType.MAINTENANCE, margin_buffer=liquidation_margin_buffer_ratio,
                               quote_price=quote_oracle_price, high_leverage_mode=account.high_leverage_mode)
    if calc.meets_margin_requirement:
        raise Rejected("SufficientCollateral", "the user meets its maintenance margin requirement")
    return replace(account, being_liquidated=True, last_active_slot=_nonneg("slot", slot),
                   liquidation_margin_freed=account.liquidation_margin_freed if account.isolated else 0)


def liquidate_perp_account(account: PerpAccount, market: PerpMarket, oracle_price: int,
                           liquidator_max_base_asset_amount: int, *, slot: int = 0, limit_price: int | None = None,
                           liquidation_margin_buffer_ratio: int = DEFAULT_LIQUIDATION_MARGIN_BUFFER_RATIO,
                           initial_pct_to_liquidate: int = LIQUIDATION_PCT_PRECISION, liquidation_duration: int = 0,
                           quote_oracle_price: int = PRICE_PRECISION,
                           liquidator_position: PerpPosition | None = None) -> PerpAccountLiquidation:
    """``liquidate_perp`` on a :class:`PerpAccount`: the margin check (``SufficientCollateral`` unless already being
    liquidated; an account being liquidated whose buffered requirement is met leaves liquidation), entering
    liquidation (the fee and pct clocks start at ``slot``), cancelling the orders (and leaving if that suffices), the
    transfer (:func:`liquidate_perp`), the margin freed, and leaving liquidation when the shortage is covered or
    entering bankruptcy when nothing but negative pnl is left. Funding is settled first (the user's and the
    liquidator's positions). The oracle's TWAP-divergence guard and the liquidator's own initial-margin check are the
    caller's."""
    a = account
    if a.bankrupt:
        raise Rejected("UserBankrupt", "user bankrupt")
    buf = _nonneg("liquidation_margin_buffer_ratio", liquidation_margin_buffer_ratio)
    a = replace(a, position=settle_funding_payment(a.position, market)[0])
    if liquidator_position is not None:
        liquidator_position = settle_funding_payment(liquidator_position, market)[0]

    def calc(acc: PerpAccount) -> MarginCalculation:
        return perp_account_margin(acc.quote_deposit, acc.position, market, oracle_price, MarginRequirementType.MAINTENANCE,
                                   margin_buffer=buf, quote_price=quote_oracle_price,
                                   high_leverage_mode=acc.high_leverage_mode)

    def exit_(acc: PerpAccount) -> PerpAccount:
        return replace(acc, being_liquidated=False, bankrupt=False,
                       liquidation_margin_freed=acc.liquidation_margin_freed if acc.isolated else 0)

    def freed_to(acc: PerpAccount, amount: int) -> PerpAccount:
        return acc if acc.isolated else replace(acc, liquidation_margin_freed=acc.liquidation_margin_freed + amount)

    initial = calc(a)
    if not a.being_liquidated and initial.meets_margin_requirement:
        raise Rejected("SufficientCollateral", "the user meets its maintenance margin requirement")
    if a.being_liquidated and initial.meets_margin_requirement_with_buffer:
        return PerpAccountLiquidation(exit_(a), None, 0, initial.margin_shortage)
    if not (a.position.is_open_position or a.position.has_open_order):
        raise Rejected("PositionDoesntHaveOpenPositionOrOrders", "no position or order in the market")
    if not a.being_liquidated:  # enter_*_liquidation: the fee and pct clocks start now
        a = replace(a, being_liquidated=True, last_active_slot=_nonneg("slot", slot),
                    liquidation_margin_freed=a.liquidation_margin_freed if a.isolated else 0)
    freed, current = 0, initial
    if a.position.open_orders > 0:  # cancel_orders
        a = replace(a, position=replace(a.position, open_bids=0, open_asks=0, open_orders=0))
        current = calc(a)
        freed = max(initial.margin_shortage - current.margin_shortage, 0)
        a = freed_to(a, freed)
        if current.meets_margin_requirement_with_buffer:
            return PerpAccountLiquidation(exit_(a), None, freed, current.margin_shortage)
    if a.position.base_asset_amount == 0:
        return PerpAccountLiquidation(a, None, freed, current.margin_shortage)
    shortage = current.margin_shortage
    perp_req = perp_position_value_and_pnl(a.position, market, oracle_price, MarginRequirementType.MAINTENANCE,
                                           quote_price=quote_oracle_price, high_leverage_mode=a.high_leverage_mode)[0]
    tracked = shortage * perp_req // current.margin_requirement if current.margin_requirement else 0
    liq = liquidate_perp(a.position, market, oracle_price, shortage, liquidator_max_base_asset_amount,
                         limit_price=limit_price, quote_oracle_price=quote_oracle_price,
                         liquidation_margin_buffer_ratio=buf, slot=slot, last_active_slot=a.last_active_slot,
                         liquidation_margin_freed=a.liquidation_margin_freed,
                         initial_pct_to_liquidate=initial_pct_to_liquidate, liquidation_duration=liquidation_duration,
                         high_leverage_mode=a.high_leverage_mode, tracked_margin_shortage=tracked, isolated=a.isolated,
                         liquidator_position=liquidator_position)
    if liq.base_asset_amount == 0:
        return PerpAccountLiquidation(a, liq, freed, shortage)
    a = replace(a, position=liq.user_position)
    step_freed = max(shortage - calc(a).margin_shortage, 0)
    a = freed_to(a, step_freed)
    freed += step_freed
    if liq.covers_margin_shortage:
        a = exit_(a)
    elif (is_isolated_margin_bankrupt(a.position, max(a.quote_deposit, 0)) if a.isolated
          else is_cross_margin_bankrupt((a.quote_deposit,), (a.position,))):
        a = replace(a, being_liquidated=False, bankrupt=True)
    return PerpAccountLiquidation(a, liq, freed, shortage)


# ============================================================================ resolve_perp_bankruptcy
@dataclass(frozen=True)
class PerpBankruptcy:
    """``resolve_perp_bankruptcy``'s waterfall (quote 1e6; funding delta 1e9)."""

    loss: int  #: the position's negative quote amount
    if_payment: int  #: from the insurance fund vault
    fee_pool_payment: int  #: from the perp market's fee pool
    loss_to_socialize: int  #: ≤ 0, charged to every open position through funding
    cumulative_funding_rate_delta: int  #: added to longs' cumulative funding, taken from shorts'
    cumulative_funding_rate_long: int  #: the market's after
    cumulative_funding_rate_short: int
    quote_settled_insurance: int  #: the market's insurance claim after


def resolve_perp_bankruptcy(quote_asset_amount: int, *, insurance_fund_vault_balance: int, quote_max_insurance: int,
                            quote_settled_insurance: int = 0, fee_pool_tokens: int = 0, base_asset_amount_long: int,
                            base_asset_amount_short: int, cumulative_funding_rate_long: int = 0,
                            cumulative_funding_rate_short: int = 0) -> PerpBankruptcy:
    """``controller/liquidation.rs::resolve_perp_bankruptcy`` over explicit inputs: the insurance fund pays
    ``min(|loss|, vault − 1, max_insurance − settled)``, the market fee pool (``get_fee_pool_tokens``, passed in)
    what it can of the rest, and the remainder is socialised through cumulative funding; the user's quote amount is
    then cleared to 0."""
    loss = _int("quote_asset_amount", quote_asset_amount)
    if loss >= 0:
        raise Rejected("InvalidPerpPositionToLiquidate", "user must have negative pnl")
    max_withdraw = _usub(_nonneg("quote_max_insurance", quote_max_insurance), _nonneg("quote_settled_insurance", quote_settled_insurance))
    if_payment = min(-loss, max(_nonneg("insurance_fund_vault_balance", insurance_fund_vault_balance) - 1, 0), max_withdraw)
    remaining = loss + if_payment
    fee_pool_payment = min(-remaining, _nonneg("fee_pool_tokens", fee_pool_tokens)) if remaining < 0 else 0
    to_socialize = remaining + fee_pool_payment
    delta = funding_rate_deltas_to_resolve_bankruptcy(to_socialize, base_asset_amount_long, base_asset_amount_short)
    long_rate, short_rate = _int("cumulative_funding_rate_long", cumulative_funding_rate_long), _int(
        "cumulative_funding_rate_short", cumulative_funding_rate_short)
    if to_socialize < 0:
        long_rate, short_rate = long_rate + delta, short_rate - delta
    return PerpBankruptcy(loss, if_payment, fee_pool_payment, to_socialize, delta, long_rate, short_rate,
                          quote_settled_insurance + if_payment)


# ============================================================================ funding (math/funding.rs, controller/funding.rs)
def max_price_divergence_for_funding_rate(contract_tier: ContractTier, oracle_price_twap: int) -> int:
    """``get_max_price_divergence_for_funding_rate``: ``twap/33`` for tiers A–B, ``/20`` for C, ``/10`` below."""
    tier, twap = ContractTier(contract_tier), _int("oracle_price_twap", oracle_price_twap)
    return _tdiv(twap, 33 if tier <= ContractTier.B else 20 if tier <= ContractTier.C else 10)


def funding_rate(mark_price_twap: int, oracle_price_twap: int, contract_tier: ContractTier = ContractTier.HIGHLY_SPECULATIVE,
                 funding_period: int = ONE_HOUR) -> int:
    """``update_funding_rate``'s rate (1e9): ``clamp(mark − oracle + |oracle|/5000, ±max divergence) × 1e3 /
    (24h / max(1h, period))``."""
    mark, oracle = _int("mark_price_twap", mark_price_twap), _int("oracle_price_twap", oracle_price_twap)
    adjustment = _tdiv(24 * ONE_HOUR, max(ONE_HOUR, _int("funding_period", funding_period)))
    spread = mark - oracle + _tdiv(abs(oracle), FUNDING_RATE_OFFSET_DENOMINATOR)
    cap = max_price_divergence_for_funding_rate(contract_tier, oracle)
    return _tdiv(max(-cap, min(spread, cap)) * FUNDING_RATE_BUFFER, adjustment)


def fee_pool(total_fee_minus_distributions: int, total_exchange_fee: int, total_liquidation_fee: int = 0,
             total_fee_withdrawn: int = 0) -> int:
    """``math/repeg.rs::calculate_fee_pool``: what the AMM's fees exceed their lower bound by (half the exchange fees,
    plus liquidation fees, less withdrawals)."""
    lower = _nonneg("total_exchange_fee", total_exchange_fee) // 2 + _nonneg("total_liquidation_fee", total_liquidation_fee)
    lower = _usub(lower, _nonneg("total_fee_withdrawn", total_fee_withdrawn))
    t = _int("total_fee_minus_distributions", total_fee_minus_distributions)
    return t - lower if t > lower else 0


def funding_rate_long_short(funding_rate: int, *, base_asset_amount_with_amm: int, base_asset_amount_long: int,
                            base_asset_amount_short: int, total_fee_minus_distributions: int, total_exchange_fee: int,
                            total_liquidation_fee: int = 0, total_fee_withdrawn: int = 0) -> tuple[int, int, int, int]:
    """``calculate_funding_rate_long_short``: (long rate, short rate, uncapped funding pnl of the AMM, new
    total_fee_minus_distributions). When the AMM's net position would pay funding, it pays at most a third of the fee
    pool; the receiving side's rate is cut to what users and that third can fund. Raises
    ``Rejected('InvalidFundingProfitability')`` if the fees would fall below their lower bound."""
    rate = _int("funding_rate", funding_rate)
    net = _int("base_asset_amount_with_amm", base_asset_amount_with_amm)
    longs, shorts = _int("base_asset_amount_long", base_asset_amount_long), _int("base_asset_amount_short", base_asset_amount_short)
    tfmd = _int("total_fee_minus_distributions", total_fee_minus_distributions)
    uncapped = -funding_payment_in_quote_precision(rate, net)
    if uncapped >= 0:
        return rate, rate, uncapped, tfmd + uncapped
    pool = fee_pool(tfmd, total_exchange_fee, total_liquidation_fee, total_fee_withdrawn)
    limit = -_tdiv(pool, 3)
    capped_pnl = max(uncapped, limit)
    if uncapped < limit:
        from_users = funding_payment_in_quote_precision(rate, longs if rate > 0 else shorts)
        limit -= abs(from_users)
        side = longs if rate < 0 else shorts
        if side == 0:
            capped_rate = 0
        else:
            biased = limit + 1 if limit < 0 else limit
            capped_rate = _tdiv(biased * QUOTE_TO_BASE_AMT_FUNDING_PRECISION, side)
    else:
        capped_rate = rate
    new_tfmd = tfmd + capped_pnl
    if capped_pnl != 0 and new_tfmd < total_exchange_fee // 2:
        raise Rejected("InvalidFundingProfitability", f"total_fee_minus_distributions {new_tfmd} below its lower bound")
    long_rate = capped_rate if rate < 0 else rate
    short_rate = capped_rate if rate > 0 else rate
    return long_rate, short_rate, uncapped, new_tfmd
