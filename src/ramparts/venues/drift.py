"""Drift v2: size-premium margin ratios (initial, fill, maintenance, high-leverage mode), asset and
liability weights (size discount, scaled initial asset weight), the account margin calculation over spot and perp
positions (cross and isolated, worst-case spot order fills, strict oracle prices, custom ratios, margin-type
configs, oracle validity, pools), the place-order and spot-margin-trading checks, the liquidation maths,
``liquidate_perp`` and ``resolve_perp_bankruptcy`` as pure functions, funding payments and socialised loss.
The controller's ``liquidate_perp`` flow (margin check, status, order cancellation, the transfer, margin freed,
leaving or bankruptcy) has one home, :func:`ramparts.venues.drift_spot.liquidate_perp_in_account`;
:func:`liquidate_perp_account` adapts a one-position :class:`PerpAccount` to it, and :func:`liquidate_perp` here
is its transfer step.

Drift's own unit tests reproduced (``tests/test_venue_drift_cases.py``; #[test] functions at the pinned commit):
``math/margin/tests.rs`` 87/87 (its AMM reserve-price assertion with :mod:`ramparts.venues.drift_amm`),
``math/liquidation/tests.rs`` 28/28, ``controller/liquidation/tests.rs`` 66/66 (the spot-side liquidations with
:mod:`ramparts.venues.drift_spot`, ``liquidate_perp_with_fill`` with :mod:`ramparts.venues.drift_fill`), ``state/perp_market/tests.rs`` 16/16 and ``math/amm/tests.rs`` 11/11 (with
:mod:`ramparts.venues.drift_amm`, ``tests/test_venue_drift_amm_cases.py``), ``math/funding/tests.rs`` 4/4 (``update_funding_rate`` with
:mod:`ramparts.venues.drift_amm`), ``math/bankruptcy/tests.rs`` 7/7. What is not reproduced, and why, would be listed
in the test module's ``NOT_PORTED`` (empty at present).

Source: ``ramparts/reference/open-source-venues.md`` §2, read from drift-labs/protocol-v2 at commit
``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62`` (``programs/drift/src/``: ``math/margin.rs``,
``math/liquidation.rs``, ``math/funding.rs``, ``math/bankruptcy.rs``, ``math/position.rs``,
``math/spot_balance.rs``, ``state/perp_market.rs``, ``state/spot_market.rs``, ``state/margin_calculation.rs``,
``state/liquidation_mode.rs``, ``controller/liquidation.rs``, ``controller/position.rs``,
``controller/funding.rs``, ``state/user.rs`` (SpotPosition, OrderFillSimulation), ``math/oracle.rs`` and
``state/state.rs`` (oracle validity under OracleGuardRails::default)). The venue's own unit tests are ported in ``tests/test_venue_drift_cases.py``.

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

Account margin (``calculate_margin_requirement_and_total_collateral_and_liability_info``)::

    USDC (spot 0)     deposit → collateral at min(price, twap₅) (strict); borrow → requirement at max(price, twap₅)
    other spot        per side, fill all bids or all asks at max price: balance' = balance + orders,
                      contribution = balance'·price·weight(balance')/1e4 + orders_value; keep the lower (asks on a tie);
                      custom ratio r: asset weight ≤ 1e4 − r, liability weight ≥ 1e4 + r;  + $0.01 per open order
    perp              requirement(custom = max(user, position) ratio at initial, then the override) and weighted pnl
                      to cross, or, isolated, to its own calculation with its USDC balance
    place order       strict; risk-increasing: own account initial, the rest maintenance; else all maintenance

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
    "AssetTier", "ContractTier", "MarginCalculation", "MarginRequirementType", "MarginTypeConfig", "OrderFillSimulation", "SpotPosition", "PerpAccount", "PerpAccountLiquidation",
    "PerpBankruptcy", "PerpLiquidation", "PerpMarket", "PerpPosition", "SpotMarket",
    "account_margin", "asset_transfer_for_liability_transfer", "asset_weight", "base_asset_amount_to_cover_margin_shortage",
    "base_asset_value", "base_liquidator_fee", "contract_tier_is_as_safe_as", "cumulative_deposit_interest_delta_to_resolve_bankruptcy",
    "fee_pool", "funding_payment", "funding_payment_in_quote_precision", "funding_rate",
    "funding_rate_deltas_to_resolve_bankruptcy", "funding_rate_long_short", "high_leverage_mode_initial_margin_ratio",
    "is_cross_margin_bankrupt", "is_isolated_margin_bankrupt", "liability_transfer_implied_by_asset_amount",
    "liability_transfer_to_cover_margin_shortage", "liability_weight", "liquidate_perp", "liquidate_perp_account",
    "liquidation_fee", "liquidation_multiplier", "liquidation_order_limit_price", "liquidation_transfer_price",
    "margin_calculation", "margin_ratio", "margin_requirement", "max_liquidation_fee", "max_pct_to_liquidate",
    "margin_calculation_for_disable_high_leverage_mode", "max_price_divergence_for_funding_rate", "meets_place_order_margin_requirement", "oracle_valid_for_liquidate", "oracle_valid_for_margin", "max_withdrawable_amount", "perp_account_margin", "perp_if_fee", "perp_margin_ratio",
    "perp_liability_value", "perp_position_value_and_pnl", "resolve_perp_bankruptcy", "scaled_initial_asset_weight", "set_user_status_to_being_liquidated",
    "settle_funding_payment",
    "size_discount_asset_weight", "size_premium_liability_weight", "socialised_loss_funding_delta",
    "spot_asset_weight", "spot_fill_simulation", "strict_token_value", "user_equity", "spot_if_fee", "spot_liability_weight", "spot_token_amount", "standardize_base_asset_amount",
    "standardize_base_asset_amount_ceil", "swap_price", "token_value", "unrealized_asset_weight", "update_position",
    "validate_any_isolated_tier_requirements", "validate_spot_margin_trading", "validate_swap_within_liquidation_boundaries", "validate_transfer_satisfies_limit_price", "worst_case_liability_value",
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


class AssetTier(enum.IntEnum):
    """``state/spot_market.rs::AssetTier``, most privileged first (default Unlisted)."""

    COLLATERAL = 0
    PROTECTED = 1
    CROSS = 2
    ISOLATED = 3
    UNLISTED = 4


def contract_tier_is_as_safe_as(tier: ContractTier, best_contract: ContractTier, best_asset: AssetTier) -> bool:
    """``ContractTier::is_as_safe_as``: ``tier ≤ best_contract`` and, unless the best asset is Unlisted, the best
    asset is Cross or worse and ``tier ≤ C`` (tiers A–C rank above assets below Collateral status)."""
    t, c, a = ContractTier(tier), ContractTier(best_contract), AssetTier(best_asset)
    return t <= c and (a is AssetTier.UNLISTED or (a >= AssetTier.CROSS and t <= ContractTier.C))


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
    prediction_market: bool = False  #: ``contract_type == ContractType::Prediction`` (prices in [0, 1e6])
    market_index: int = 0
    pool_id: int = 0
    #: ``status == MarketStatus::Settlement``: its ``expiry_price`` (1e6), which values positions (and the
    #: liquidation's transfer) in place of the oracle; such a market has no margin requirement. None = not settled.
    settlement_price: int | None = None

    def __post_init__(self):
        for name in ("market_index", "pool_id", "margin_ratio_initial", "margin_ratio_maintenance", "imf_factor", "high_leverage_margin_ratio_initial",
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
    ratios for a high-leverage user where the market enables them, and the size premium (``size`` base 1e9); 0 in a
    settled market (``settlement_price`` set)."""
    mt = _margin_type(margin_type)
    _nonneg("size", size)
    if market.settlement_price is not None:
        return 0
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
    market_index: int = 0  #: 0 is the quote (USDC) market, valued unweighted
    pool_id: int = 0
    asset_tier: AssetTier = AssetTier.UNLISTED
    liquidator_fee: int = 0  #: 1e6; the asset side's premium, the liability side's discount
    if_liquidation_fee: int = 0  #: 1e6, the insurance fund's cut of a transferred liability
    revenue_pool_balance: int = 0  #: ``revenue_pool.scaled_balance`` (a deposit, 1e9)
    last_oracle_price_twap: int = 0  #: ``historical_oracle_data``: the 1h TWAP the oracle-validity check reads
    last_oracle_price_twap_5min: int = 0  #: the 5-min TWAP a liquidation's price band reads
    # the borrow-rate curve and clocks ``drift_spot.update_spot_market_cumulative_interest`` reads (rates 1e6)
    optimal_utilization: int = 0  #: 1e6
    optimal_borrow_rate: int = 0  #: 1e6 (annual)
    max_borrow_rate: int = 0  #: 1e6 (annual)
    min_borrow_rate: int = 0  #: the stored u8: the floor is this × 0.5 % (``get_min_borrow_rate``)
    insurance_fund_total_factor: int = 0  #: ``insurance_fund.total_factor``: the stakers' cut of deposit interest, 1e6
    last_interest_ts: int = 0
    last_twap_ts: int = 0
    last_oracle_price_twap_ts: int = 0  #: ``historical_oracle_data.last_oracle_price_twap_ts``

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            if name != "asset_tier":
                _nonneg(name, getattr(self, name))
        try:
            object.__setattr__(self, "asset_tier", AssetTier(self.asset_tier))
        except ValueError:
            raise InvalidInput("asset_tier", f"one of {[t.name.lower() for t in AssetTier]}, got {self.asset_tier!r}") from None
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
    market_index: int = 0
    max_margin_ratio: int = 0  #: the position's self-chosen initial margin ratio (1e4), 0 = none
    isolated: bool = False  #: ``position_flag & IsolatedPosition``: margined on its own balance
    isolated_position_scaled_balance: int = 0  #: the isolated quote (USDC) balance, scaled 1e9

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            if name != "isolated":
                _int(name, getattr(self, name))
        _nonneg("isolated_position_scaled_balance", self.isolated_position_scaled_balance)
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


def perp_liability_value(base_asset_amount: int, oracle_price: int, prediction_market: bool = False) -> int:
    """``math/position.rs::calculate_perp_liability_value``: the base asset value; in a prediction market a short's
    liability is ``|base| × (1e6 − |price|) / 1e9`` and a long's ``|base| × |price| / 1e9``."""
    if not prediction_market:
        return base_asset_value(base_asset_amount, oracle_price)
    base, price = _int("base_asset_amount", base_asset_amount), abs(_int("oracle_price", oracle_price))
    return abs(base) * (max(PRICE_PRECISION - price, 0) if base < 0 else price) // BASE_PRECISION


def worst_case_liability_value(position: PerpPosition, oracle_price: int, prediction_market: bool = False) -> tuple[int, int]:
    """``PerpPosition::worst_case_liability_value``: (base, value) with all bids or all asks filled, whichever is
    worth more (asks on a tie)."""
    bids, asks = position.base_asset_amount + position.open_bids, position.base_asset_amount + position.open_asks
    vb, va = (perp_liability_value(bids, oracle_price, prediction_market),
              perp_liability_value(asks, oracle_price, prediction_market))
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
    max(quote, twap), positive pnl at the min, negative at the max). In a settled market (``settlement_price``) the
    value and pnl are at the settlement price, the worst-case liability still at the oracle price, and the
    requirement is only the open orders'."""
    mt = _margin_type(margin_type)
    price = _int("oracle_price", oracle_price)
    qp = _nonneg("quote_price", quote_price)
    q_hi = q_lo = qp
    if quote_twap_5min is not None:
        q_hi, q_lo = max(qp, _nonneg("quote_twap_5min", quote_twap_5min)), min(qp, quote_twap_5min)
    base = position.base_asset_amount
    rate = market.cumulative_funding_rate_long if base > 0 else market.cumulative_funding_rate_short
    unrealized_funding = funding_payment(rate, position.last_cumulative_funding_rate, base)
    valuation = price if market.settlement_price is None else _int("settlement_price", market.settlement_price)
    if base == 0:
        value, pnl = 0, position.quote_asset_amount
    else:
        signed_value = _tdiv(base * max(valuation, 0), BASE_PRECISION)
        value, pnl = abs(signed_value), signed_value + position.quote_asset_amount
    total_pnl = pnl + unrealized_funding
    worst_base, liability = worst_case_liability_value(position, price, market.prediction_market)
    liability = liability * q_hi // PRICE_PRECISION
    requirement = position.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT
    if market.settlement_price is None:
        ratio = max(_nonneg("user_custom_margin_ratio", user_custom_margin_ratio),
                    perp_margin_ratio(market, abs(worst_base), mt, high_leverage_mode))
        requirement += liability * ratio // MARGIN_PRECISION
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
    num_spot_liabilities: int = 0  #: counted by account_margin
    num_perp_liabilities: int = 0  #: counted by account_margin (isolated positions included)
    isolated: tuple = ()  #: ``isolated_margin_calculations``: (market index, MarginCalculation) per isolated position
    all_deposit_oracles_valid: bool = True  #: every deposit's oracle valid for MarginCalc (account_margin)
    all_liability_oracles_valid: bool = True  #: every liability's oracle valid for MarginCalc (account_margin)
    with_perp_isolated_liability: bool = False  #: a perp liability in an Isolated-tier market
    with_spot_isolated_liability: bool = False  #: a spot liability in an Isolated-tier asset
    tracked_market: tuple | None = None  #: ``("spot" | "perp", index)`` whose requirement is tracked (account_margin)
    tracked_market_margin_requirement: int = 0  #: the requirement that market added (cross, or its isolated one)

    @property
    def num_liabilities(self) -> int:
        """``get_num_of_liabilities``: spot + perp liabilities."""
        return self.num_spot_liabilities + self.num_perp_liabilities

    def isolated_calculation(self, market_index: int) -> MarginCalculation:
        for index, calc in self.isolated:
            if index == market_index:
                return calc
        raise Rejected("InvalidMarginCalculation", f"no isolated margin calculation for perp market {market_index}")

    @property
    def meets_cross_margin_requirement(self) -> bool:
        return self.total_collateral >= self.margin_requirement

    @property
    def free_collateral(self) -> int:
        """``get_cross_free_collateral``: ``max(total_collateral − margin_requirement, 0)``."""
        return max(self.total_collateral - self.margin_requirement, 0)

    @property
    def total_collateral_plus_buffer(self) -> int:
        return self.total_collateral + self.total_collateral_buffer

    @property
    def meets_margin_requirement(self) -> bool:
        """Cross and every isolated calculation meet their requirement."""
        return self.total_collateral >= self.margin_requirement and all(c.meets_margin_requirement for _, c in self.isolated)

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

    def tracked_market_margin_shortage(self, margin_shortage: int) -> int:
        """``tracked_market_margin_shortage``: ``shortage × tracked requirement / requirement`` (an isolated perp
        market's own requirement as the denominator; 0 when it is 0); state/margin_calculation.rs @0ae3e3b."""
        if self.tracked_market is None:
            raise Rejected("InvalidMarginCalculation", "no market to track margin requirement")
        requirement = self.margin_requirement
        if self.tracked_market[0] == "perp":
            for index, calc in self.isolated:
                if index == self.tracked_market[1]:
                    requirement = calc.margin_requirement
        if requirement == 0:
            return 0
        return _nonneg("margin_shortage", margin_shortage) * self.tracked_market_margin_requirement // requirement


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


_QUOTE_SCALED_PER_TOKEN = SPOT_BALANCE_PRECISION // QUOTE_PRECISION
#: the USDC market of a :class:`PerpAccount` (weights 1, interest 1e10)
_PERP_ACCOUNT_QUOTE_MARKET = SpotMarket(decimals=6, initial_asset_weight=SPOT_WEIGHT_PRECISION,
                                        maintenance_asset_weight=SPOT_WEIGHT_PRECISION)


def _quote_balance(quote_deposit: int) -> SpotPosition:
    """A USDC token amount (1e6, negative = borrowed) as a scaled balance at cumulative interest 1e10:
    token = scaled × 1e10 / 1e13, so scaled = token × 1e3 gives the amount back exactly (a borrow's ceiling included)."""
    dep = _int("quote_deposit", quote_deposit)
    return SpotPosition(0, abs(dep) * _QUOTE_SCALED_PER_TOKEN, borrow=dep < 0)


def perp_account_margin(quote_deposit: int, position: PerpPosition, market: PerpMarket, oracle_price: int,
                        margin_type="maintenance", *, margin_buffer: int = 0, quote_price: int = PRICE_PRECISION,
                        quote_twap_5min: int | None = None, high_leverage_mode: bool = False,
                        user_max_margin_ratio: int = 0, position_max_margin_ratio: int = 0,
                        net_user_pnl: int = 0) -> MarginCalculation:
    """:func:`account_margin` for an account of one USDC balance (``quote_deposit`` token amount 1e6, negative =
    borrowed, at cumulative interest 1e10) and one cross perp position; also an isolated position's own calculation
    (``quote_deposit`` = its isolated balance). ``quote_twap_5min`` makes the calculation strict. The user's and the
    position's self-chosen ``max_margin_ratio`` (the larger) apply to the initial requirement only."""
    spot = (_quote_balance(quote_deposit),)
    pos = replace(position, market_index=market.market_index, isolated=False,
                  max_margin_ratio=max(position.max_margin_ratio, _nonneg("position_max_margin_ratio", position_max_margin_ratio)))
    return account_margin(spot, (pos,), spot_markets={0: _PERP_ACCOUNT_QUOTE_MARKET}, perp_markets={market.market_index: market},
                          spot_prices={0: (_nonneg("quote_price", quote_price), quote_twap_5min)},
                          perp_prices={market.market_index: oracle_price}, margin_type=margin_type,
                          strict=quote_twap_5min is not None, user_max_margin_ratio=user_max_margin_ratio,
                          high_leverage_mode=high_leverage_mode, margin_buffer=margin_buffer, net_user_pnl=net_user_pnl)


# ============================================================================ multi-position accounts (math/margin.rs)
@dataclass(frozen=True)
class MarginTypeConfig:
    """``state/margin_calculation.rs::MarginTypeConfig``: which margin type the cross account and each isolated
    position are checked at. ``Default(t)`` uses ``t`` everywhere; ``IsolatedPositionOverride`` checks one isolated
    market at its own type, the other isolated ones at a default and cross at its own; ``CrossMarginOverride`` checks
    cross at the override and every isolated position at the default."""

    cross: MarginRequirementType
    isolated_default: MarginRequirementType
    override_market_index: int | None = None
    override: MarginRequirementType | None = None

    @classmethod
    def default(cls, margin_type) -> MarginTypeConfig:
        t = _margin_type(margin_type)
        return cls(t, t)

    @classmethod
    def isolated_position_override(cls, market_index: int, margin_type, default_isolated_margin_type,
                                   cross_margin_type) -> MarginTypeConfig:
        return cls(_margin_type(cross_margin_type), _margin_type(default_isolated_margin_type),
                   _nonneg("market_index", market_index), _margin_type(margin_type))

    @classmethod
    def cross_margin_override(cls, margin_type, default_margin_type) -> MarginTypeConfig:
        return cls(_margin_type(margin_type), _margin_type(default_margin_type))

    def cross_margin_requirement_type(self) -> MarginRequirementType:
        return self.cross

    def isolated_margin_requirement_type(self, market_index: int) -> MarginRequirementType:
        if self.override is not None and self.override_market_index == market_index:
            return self.override
        return self.isolated_default


@dataclass(frozen=True)
class SpotPosition:
    """``state/user.rs::SpotPosition``: a scaled balance (1e9) in ``market_index``, deposit or borrow, and its open
    orders (bids ≥ 0, asks ≤ 0, in the market's token units)."""

    market_index: int = 0
    scaled_balance: int = 0
    borrow: bool = False
    open_bids: int = 0
    open_asks: int = 0
    open_orders: int = 0

    def __post_init__(self):
        for name in ("market_index", "scaled_balance", "open_orders"):
            _nonneg(name, getattr(self, name))
        if _int("open_bids", self.open_bids) < 0 or _int("open_asks", self.open_asks) > 0:
            raise InvalidInput("open_orders", "open bids are ≥ 0, open asks ≤ 0")

    @property
    def is_available(self) -> bool:
        return self.scaled_balance == 0 and self.open_orders == 0

    @property
    def has_open_order(self) -> bool:
        return self.open_orders != 0 or self.open_bids != 0 or self.open_asks != 0

    def signed_token_amount(self, market: SpotMarket) -> int:
        amount = spot_token_amount(self.scaled_balance, market, self.borrow)
        return -amount if self.borrow else amount


def _strict(price: int, twap_5min: int | None) -> tuple[int, int, int]:
    """``StrictOraclePrice``: (current, min, max); the 5-minute TWAP counts only in a strict calculation."""
    p = _int("oracle_price", price)
    if twap_5min is None:
        return p, p, p
    t = _int("oracle_twap_5min", twap_5min)
    return p, min(p, t), max(p, t)


def strict_token_value(token_amount: int, decimals: int, price: int, twap_5min: int | None = None) -> int:
    """``get_strict_token_value``: a deposit at the lower of price and TWAP, a borrow at the higher."""
    _, lo, hi = _strict(price, twap_5min)
    return token_value(token_amount, decimals, lo if token_amount > 0 else hi)


@dataclass(frozen=True)
class OrderFillSimulation:
    """``state/user.rs::OrderFillSimulation`` (quote 1e6; token amount in the market's units)."""

    token_amount: int
    orders_value: int
    token_value: int
    weighted_token_value: int
    free_collateral_contribution: int


def spot_fill_simulation(position: SpotPosition, market: SpotMarket, oracle_price: int, margin_type="initial", *,
                         oracle_twap_5min: int | None = None, user_custom_margin_ratio: int = 0) -> OrderFillSimulation:
    """``SpotPosition::get_worst_case_fill_simulation`` then ``apply_user_custom_margin_ratio``: fill all bids or all
    asks at the (strict) max price, weight the resulting balance, and keep the side that leaves less free collateral
    (asks on a tie). A custom ratio r lowers an asset weight to ``min(w_init, 1e4 − r)`` or raises a liability weight to
    ``max(w_init, 1e4 + r)``."""
    mt = _margin_type(margin_type)
    current, _, hi = _strict(oracle_price, oracle_twap_5min)
    amount = position.signed_token_amount(market)
    value = strict_token_value(amount, market.decimals, oracle_price, oracle_twap_5min)

    def weighted(a: int, v: int) -> int:
        if v > 0:
            return _tdiv(v * spot_asset_weight(market, abs(a), current, mt), SPOT_WEIGHT_PRECISION)
        if v < 0:
            return _tdiv(v * spot_liability_weight(market, abs(a), mt), SPOT_WEIGHT_PRECISION)
        return 0

    if position.open_bids == 0 and position.open_asks == 0:
        w = weighted(amount, value)
        sim = OrderFillSimulation(amount, 0, value, w, w)
    else:
        sides = []
        for orders in (position.open_bids, position.open_asks):
            order_value = token_value(-orders, market.decimals, hi)
            a, v = amount + orders, value - order_value
            w = weighted(a, v)
            sides.append(OrderFillSimulation(a, order_value, v, w, w + order_value))
        bid, ask = sides
        sim = ask if ask.free_collateral_contribution <= bid.free_collateral_contribution else bid
    r = _nonneg("user_custom_margin_ratio", user_custom_margin_ratio)
    if r == 0 or sim.weighted_token_value == 0:
        return sim
    if sim.weighted_token_value < 0:
        w = max(spot_liability_weight(market, abs(sim.token_amount), MarginRequirementType.INITIAL), r + SPOT_WEIGHT_PRECISION)
    else:
        w = min(spot_asset_weight(market, abs(sim.token_amount), current, MarginRequirementType.INITIAL),
                max(SPOT_WEIGHT_PRECISION - r, 0))
    wv = _tdiv(sim.token_value * w, SPOT_WEIGHT_PRECISION)
    return replace(sim, weighted_token_value=wv, free_collateral_contribution=wv + sim.orders_value)


TOO_VOLATILE_RATIO = 5  # OracleGuardRails::default (state/state.rs): 5x or 80 % down
CONFIDENCE_INTERVAL_MAX_SIZE = 20_000  # 2 % of price (BID_ASK_SPREAD_PRECISION 1e6)
SLOTS_BEFORE_STALE_FOR_MARGIN = 120  # ~60 seconds


def oracle_valid_for_margin(price: int, last_oracle_price_twap: int, *, confidence: int = 0, delay: int = 0,
                            max_confidence_interval_multiplier: int = 1) -> bool:
    """``math/oracle.rs::oracle_validity`` then ``is_oracle_valid_for_action(MarginCalc)`` under the default guard
    rails: invalid if the price is ≤ 0, ``max(price, twap) / max(min(price, twap), 1) > 5`` (TooVolatile),
    ``conf × 1e6 / price > 20000 × multiplier`` (TooUncertain) or ``delay > 120`` slots (StaleForMargin). The
    stable-coin pull sources' tripled staleness and insufficient data points (valid for margin) are not modelled."""
    if not oracle_valid_for_liquidate(price, last_oracle_price_twap):
        return False
    p = _int("price", price)
    if _nonneg("confidence", confidence) * PRICE_PRECISION // p > CONFIDENCE_INTERVAL_MAX_SIZE * max_confidence_interval_multiplier:
        return False
    return _int("delay", delay) <= SLOTS_BEFORE_STALE_FOR_MARGIN


def oracle_valid_for_liquidate(price: int, last_oracle_price_twap: int) -> bool:
    """``math/oracle.rs::oracle_validity`` then ``is_oracle_valid_for_action(Liquidate)`` @0ae3e3b under the default
    guard rails: only a non-positive price or a too volatile one (``max(price, twap) / max(min(price, twap), 1) > 5``)
    is refused."""
    p, t = _int("price", price), _int("last_oracle_price_twap", last_oracle_price_twap)
    if p <= 0:
        return False
    return max(p, t) // max(min(t, p), 1) <= TOO_VOLATILE_RATIO


def _market(markets, index: int, what: str):
    if markets is None or index not in markets:
        raise InvalidInput(what, f"no market {index}")
    return markets[index]


def _price_of(prices, index: int, what: str) -> tuple[int, int | None]:
    if index not in prices:
        raise InvalidInput(what, f"no oracle price for market {index}")
    p = prices[index]
    return (p, None) if isinstance(p, int) else (p[0], p[1])


def account_margin(spot_positions=(), perp_positions=(), *, spot_markets, perp_markets=None, spot_prices,
                   perp_prices=None, margin_type="maintenance", strict: bool = False, user_max_margin_ratio: int = 0,
                   margin_ratio_override: int | None = None, high_leverage_mode: bool = False,
                   margin_buffer: int = 0, spot_oracle_twaps=None, perp_oracle_twaps=None,
                   ignore_invalid_deposit_oracles: bool = False, net_user_pnl: int = 0,
                   user_pool_id: int = 0, track_market: tuple[str, int] | None = None,
                   flagged_perp_markets=frozenset()) -> MarginCalculation:
    """``calculate_margin_requirement_and_total_collateral_and_liability_info`` over a cross account of several spot
    and perp positions (markets and prices keyed by market index; a spot price is ``price`` or ``(price,
    twap_5min)``, the TWAP read only when ``strict``). ``margin_type`` is a type or a :class:`MarginTypeConfig`.

    Spot market 0 (the quote) adds its strict token value unweighted (a borrow as requirement and liability); any
    other spot position adds $0.01 per open order and its worst-case fill simulation (weighted value to collateral or
    to the requirement, the orders' value likewise). Each perp position adds its requirement (custom ratio =
    max(user, position) max margin ratio, initial only, then the override) and weighted pnl, valued at the quote
    market's strict price. With ``spot_oracle_twaps`` / ``perp_oracle_twaps`` (market index → the market's
    ``last_oracle_price_twap``) each oracle is checked by :func:`oracle_valid_for_margin` (a market left out counts as
    valid) into ``all_deposit_oracles_valid`` / ``all_liability_oracles_valid``, and ``ignore_invalid_deposit_oracles``
    values deposits behind an invalid oracle at 0. Each market must be in the user's pool (``InvalidPoolId``), except
    that a pool-1 user's USDC deposit is allowed and valued at 0. Isolated perp positions (``isolated``) get their own
    calculation in ``isolated`` (its USDC balance + weighted pnl against its requirement, at the config's isolated
    type). ``track_market`` (``("spot", i)`` or ``("perp", i)``: ``MarginContext::track_market_margin_requirement``)
    sums the requirement that market adds into ``tracked_market_margin_requirement`` (a quote borrow and negative
    spot orders value count for ``("spot", 0)``). An empty perp position is skipped (``PerpPosition::is_available``)
    unless its market is in ``flagged_perp_markets`` (its position flag says being liquidated or bankrupt: an
    isolated position under liquidation keeps its calculation once closed). Fuel bonuses are not modelled."""
    def valid(twaps, index: int, price: int) -> bool:
        return twaps is None or index not in twaps or oracle_valid_for_margin(price, twaps[index])

    deposits_ok = liabilities_ok = True
    perp_isolated = spot_isolated = False
    cfg = margin_type if isinstance(margin_type, MarginTypeConfig) else MarginTypeConfig.default(margin_type)
    cross = cfg.cross_margin_requirement_type()
    user_ratio = _nonneg("user_max_margin_ratio", user_max_margin_ratio)
    override = None if margin_ratio_override is None else _nonneg("margin_ratio_override", margin_ratio_override)
    spot_custom = user_ratio if cross is MarginRequirementType.INITIAL else 0
    if override is not None:
        spot_custom = max(override, spot_custom)
    collateral, requirements, liabilities, perp_liabilities, isolated, tracked = [], [], 0, 0, [], 0
    if track_market is not None and (len(track_market) != 2 or track_market[0] not in ("spot", "perp")):
        raise InvalidInput("track_market", f"('spot' | 'perp', market index), got {track_market!r}")
    track = None if track_market is None else (track_market[0], _nonneg("track_market", track_market[1]))
    for sp in spot_positions:
        if sp.is_available:
            continue
        market = _market(spot_markets, sp.market_index, "spot_markets")
        skip_value = False
        if not (user_pool_id == 1 and sp.market_index == 0 and not sp.borrow):
            if user_pool_id != market.pool_id:
                raise Rejected("InvalidPoolId", f"user pool id ({user_pool_id}) == spot market pool id ({market.pool_id})")
        else:
            skip_value = True
        price, twap = _price_of(spot_prices, sp.market_index, "spot_prices")
        twap = twap if strict else None
        ok = valid(spot_oracle_twaps, sp.market_index, price)
        if sp.market_index == 0:
            v = strict_token_value(sp.signed_token_amount(market), market.decimals, price, twap)
            if sp.borrow:
                if v == 0:
                    raise Rejected("InvalidMarginRatio", "token_value=0 for a quote borrow")
                requirements.append((abs(v), abs(v)))
                tracked += abs(v) if track == ("spot", 0) else 0
                liabilities += 1
                liabilities_ok &= ok
            else:
                collateral.append(0 if (ignore_invalid_deposit_oracles and not ok) or skip_value else v)
                deposits_ok &= ok
            continue
        sim = spot_fill_simulation(sp, market, price, cross, oracle_twap_5min=twap, user_custom_margin_ratio=spot_custom)
        requirements.append((sp.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT, 0))
        tracked += sp.open_orders * OPEN_ORDER_MARGIN_REQUIREMENT if track == ("spot", sp.market_index) else 0
        if sim.token_value > 0:
            collateral.append(0 if ignore_invalid_deposit_oracles and not ok else sim.weighted_token_value)
            deposits_ok &= ok
        elif sim.token_value < 0:
            if sim.weighted_token_value == 0:
                raise Rejected("InvalidOracle", f"weighted_token_value=0 in spot market {sp.market_index}")
            requirements.append((abs(sim.weighted_token_value), abs(sim.token_value)))
            tracked += abs(sim.weighted_token_value) if track == ("spot", sp.market_index) else 0
        if sim.token_value < 0 or (sim.token_value == 0 and sp.has_open_order):
            liabilities += 1
            liabilities_ok &= ok
            spot_isolated |= market.asset_tier is AssetTier.ISOLATED
        if sim.orders_value > 0:
            collateral.append(0 if ignore_invalid_deposit_oracles and not ok else sim.orders_value)
        elif sim.orders_value < 0:
            requirements.append((-sim.orders_value, -sim.orders_value))
            tracked += -sim.orders_value if track == ("spot", 0) else 0
    for pp in perp_positions:
        if (pp.base_asset_amount == 0 and pp.quote_asset_amount == 0 and not pp.has_open_order
                and pp.isolated_position_scaled_balance == 0 and pp.market_index not in flagged_perp_markets):
            continue
        market = _market(perp_markets, pp.market_index, "perp_markets")
        if user_pool_id != market.pool_id:
            raise Rejected("InvalidPoolId", f"user pool id ({user_pool_id}) == perp market pool id ({market.pool_id})")
        quote_price, quote_twap = _price_of(spot_prices, 0, "spot_prices")
        price, _ = _price_of(perp_prices or {}, pp.market_index, "perp_prices")
        mt = cfg.isolated_margin_requirement_type(pp.market_index) if pp.isolated else cross
        custom = (max(user_ratio, _nonneg("max_margin_ratio", pp.max_margin_ratio))
                  if mt is MarginRequirementType.INITIAL else 0)
        if override is not None:
            custom = max(override, custom)
        q_twap = quote_twap if strict else None
        req, weighted, liability, _ = perp_position_value_and_pnl(
            pp, market, price, mt, quote_price=quote_price, quote_twap_5min=q_twap,
            user_custom_margin_ratio=custom, high_leverage_mode=high_leverage_mode, net_user_pnl=net_user_pnl)
        if pp.isolated:
            usdc = _market(spot_markets, 0, "spot_markets")
            deposit = strict_token_value(spot_token_amount(pp.isolated_position_scaled_balance, usdc), usdc.decimals,
                                         quote_price, q_twap)
            isolated.append((pp.market_index, margin_calculation((deposit, weighted), ((req, liability),), margin_buffer)))
            tracked += req if track == ("perp", pp.market_index) else 0
        else:
            requirements.append((req, liability))
            tracked += req if track == ("perp", pp.market_index) else 0
            collateral.append(weighted)
        has_liability = pp.base_asset_amount != 0 or pp.quote_asset_amount < 0 or pp.has_open_order
        perp_liabilities += has_liability
        perp_isolated |= has_liability and market.contract_tier is ContractTier.ISOLATED
        if has_liability or mt is not MarginRequirementType.INITIAL:
            liabilities_ok &= valid(spot_oracle_twaps, 0, quote_price) and valid(perp_oracle_twaps, pp.market_index, price)
    return replace(margin_calculation(collateral, requirements, margin_buffer), num_spot_liabilities=liabilities,
                   num_perp_liabilities=perp_liabilities, isolated=tuple(isolated),
                   all_deposit_oracles_valid=deposits_ok, all_liability_oracles_valid=liabilities_ok,
                   with_perp_isolated_liability=perp_isolated, with_spot_isolated_liability=spot_isolated,
                   tracked_market=track, tracked_market_margin_requirement=tracked)


def margin_calculation_for_disable_high_leverage_mode(spot_positions=(), perp_positions=(), **kwargs) -> MarginCalculation:
    """``get_margin_calculation_for_disable_high_leverage_mode``: the initial calculation with a 1 % buffer and every
    perp position's own ``max_margin_ratio`` cleared (the user's is kept). Drift clears and restores them on the user
    in place; here the inputs are immutable and untouched."""
    cleared = tuple(replace(pp, max_margin_ratio=0) for pp in perp_positions)
    return account_margin(spot_positions, cleared, margin_type=MarginRequirementType.INITIAL,
                          margin_buffer=MARGIN_PRECISION // 100, **kwargs)


def validate_any_isolated_tier_requirements(calc: MarginCalculation, *, quote_is_borrow: bool = False,
                                            reduce_only: bool = False, margin_trading_enabled: bool = False) -> None:
    """``validate_any_isolated_tier_requirements``: with a liability in an Isolated-tier perp market, at most one perp
    liability, margin trading off, and no spot liability but a USDC borrow; with an Isolated-tier spot liability, no
    perp liability and one spot liability (``IsolatedAssetTierViolation``; a reduce-only user is exempt)."""
    if calc.with_perp_isolated_liability and not reduce_only:
        if calc.num_perp_liabilities > 1:
            raise Rejected("IsolatedAssetTierViolation", "increasing perp liabilities above 1 with an isolated tier liability")
        if margin_trading_enabled:
            raise Rejected("IsolatedAssetTierViolation", "isolated tier liability with margin trading enabled")
        if calc.num_spot_liabilities > 0 and not (calc.num_spot_liabilities == 1 and quote_is_borrow):
            raise Rejected("IsolatedAssetTierViolation", "spot liabilities beyond usdc with an isolated tier liability")
    if calc.with_spot_isolated_liability and not reduce_only:
        if not (calc.num_perp_liabilities == 0 and calc.num_spot_liabilities == 1):
            raise Rejected("IsolatedAssetTierViolation", "perp liabilities above 0 with an isolated tier liability")


def meets_place_order_margin_requirement(spot_positions=(), perp_positions=(), *, risk_increasing: bool,
                                         isolated_market_index: int | None = None, spot_markets, perp_markets=None,
                                         spot_prices, perp_prices=None, user_max_margin_ratio: int = 0,
                                         reduce_only: bool = False, margin_trading_enabled: bool = False) -> MarginCalculation:
    """``meets_place_order_margin_requirement``: a strict calculation where a risk-increasing order checks its own
    account at initial margin and everything else at maintenance (an isolated order: that position initial, cross and
    the other isolated maintenance; a cross order: cross initial, isolated maintenance) and any other order everything
    at maintenance; raises ``InsufficientCollateral`` unless cross and every isolated calculation meet their
    requirement, then applies the isolated-tier rules. Returns the calculation."""
    mt_i, mt_m = MarginRequirementType.INITIAL, MarginRequirementType.MAINTENANCE
    if not risk_increasing:
        cfg = MarginTypeConfig.default(mt_m)
    elif isolated_market_index is not None:
        cfg = MarginTypeConfig.isolated_position_override(isolated_market_index, mt_i, mt_m, mt_m)
    else:
        cfg = MarginTypeConfig.cross_margin_override(mt_i, mt_m)
    calc = account_margin(spot_positions, perp_positions, spot_markets=spot_markets, perp_markets=perp_markets,
                          spot_prices=spot_prices, perp_prices=perp_prices, margin_type=cfg, strict=True,
                          user_max_margin_ratio=user_max_margin_ratio)
    if not calc.meets_margin_requirement:
        raise Rejected("InsufficientCollateral", "the order would leave the account below its margin requirement")
    quote = next((sp for sp in spot_positions if sp.market_index == 0 and sp.scaled_balance > 0), None)
    validate_any_isolated_tier_requirements(calc, quote_is_borrow=quote is not None and quote.borrow, reduce_only=reduce_only,
                                            margin_trading_enabled=margin_trading_enabled)
    return calc


def max_withdrawable_amount(market_index: int, spot_positions=(), perp_positions=(), *, spot_markets, perp_markets=None,
                            spot_prices, perp_prices=None, user_max_margin_ratio: int = 0) -> int:
    """``calculate_max_withdrawable_amount`` (token units of the market): ``u64::MAX`` if the initial asset weight is 0,
    the whole deposit if the account has no liabilities, else ``(free collateral − 1) × 1e4 / w × 1e6 / price``
    rescaled from 6 decimals to the market's, each step truncated."""
    calc = account_margin(spot_positions, perp_positions, spot_markets=spot_markets, perp_markets=perp_markets,
                          spot_prices=spot_prices, perp_prices=perp_prices, margin_type=MarginRequirementType.INITIAL,
                          user_max_margin_ratio=user_max_margin_ratio)
    market = _market(spot_markets, market_index, "spot_markets")
    position = next((sp for sp in spot_positions if sp.market_index == market_index), None)
    if position is None:
        raise Rejected("CouldNotFindSpotPosition", f"no spot position in market {market_index}")
    amount = spot_token_amount(position.scaled_balance, market, position.borrow)
    price = _price_of(spot_prices, market_index, "spot_prices")[0]
    weight = spot_asset_weight(market, amount, price, MarginRequirementType.INITIAL)
    if weight == 0:
        return U64_MAX
    if calc.num_liabilities == 0:
        return amount
    num, den = (10 ** (market.decimals - 6), 1) if market.decimals > 6 else (1, 10 ** (6 - market.decimals))
    return max(calc.free_collateral - 1, 0) * MARGIN_PRECISION // weight * PRICE_PRECISION // price * num // den


def validate_spot_margin_trading(spot_positions=(), perp_positions=(), *, spot_markets, perp_markets=None, spot_prices,
                                 margin_trading_enabled: bool = False) -> None:
    """``validate_spot_margin_trading``: with margin trading on, no perp position may be in an Isolated-tier market
    (``IsolatedAssetTierViolation``); with it off, open asks may not exceed a spot balance (no new borrow) and the value
    of all open bids may not exceed the USDC balance (``MarginTradingDisabled``)."""
    if margin_trading_enabled:
        for pp in perp_positions:
            if pp.base_asset_amount == 0 and pp.quote_asset_amount == 0 and not pp.has_open_order:
                continue
            if _market(perp_markets, pp.market_index, "perp_markets").contract_tier is ContractTier.ISOLATED:
                raise Rejected("IsolatedAssetTierViolation",
                               f"Isolated perpetual market = {pp.market_index} doesn't allow margin trading")
        return
    bids_value = 0
    for sp in spot_positions:
        market = _market(spot_markets, sp.market_index, "spot_markets")
        if sp.open_asks < 0 and sp.signed_token_amount(market) + sp.open_asks < 0:
            raise Rejected("MarginTradingDisabled", f"Open asks can lead to increased borrow in spot market {sp.market_index}")
        if sp.open_bids > 0:
            bids_value += token_value(-sp.open_bids, market.decimals, _price_of(spot_prices, sp.market_index, "spot_prices")[0])
    quote = next((sp for sp in spot_positions if sp.market_index == 0 and not sp.is_available), None)
    quote_amount = quote.signed_token_amount(_market(spot_markets, 0, "spot_markets")) if quote is not None else 0
    if bids_value != 0 and quote_amount + bids_value < 0:
        raise Rejected("MarginTradingDisabled", "Open bids leads to increased borrow for spot market 0")


def user_equity(spot_positions=(), perp_positions=(), *, spot_markets, perp_markets=None, spot_prices,
                perp_prices=None) -> int:
    """``calculate_user_equity``: Σ spot token values at the oracle price + Σ perp (pnl + unsettled funding) × quote
    price / 1e6 (quote 1e6), unweighted."""
    total = 0
    for sp in spot_positions:
        if sp.is_available:
            continue
        market = _market(spot_markets, sp.market_index, "spot_markets")
        total += token_value(sp.signed_token_amount(market), market.decimals, _price_of(spot_prices, sp.market_index, "spot_prices")[0])
    for pp in perp_positions:
        if pp.base_asset_amount == 0 and pp.quote_asset_amount == 0 and not pp.has_open_order:
            continue
        market = _market(perp_markets, pp.market_index, "perp_markets")
        price = _price_of(perp_prices or {}, pp.market_index, "perp_prices")[0]
        base = pp.base_asset_amount
        funding = funding_payment(market.cumulative_funding_rate_long if base > 0 else market.cumulative_funding_rate_short,
                                  pp.last_cumulative_funding_rate, base)
        pnl = pp.quote_asset_amount if base == 0 else _tdiv(base * max(price, 0), BASE_PRECISION) + pp.quote_asset_amount
        total += _tdiv((pnl + funding) * _price_of(spot_prices, 0, "spot_prices")[0], PRICE_PRECISION)
    return total


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
    perp position, either cross-margined or isolated (then ``quote_deposit`` is the position's isolated balance, ≥ 0),
    with the liquidation status fields of ``state/user.rs::User`` (for an isolated position, that position's flags).
    :func:`liquidate_perp_account` runs it through the general account flow of :mod:`ramparts.venues.drift_spot`."""

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
    """``controller/liquidation.rs::liquidate_perp`` @0ae3e3b on a :class:`PerpAccount`, an adapter over the flow's one
    home, :func:`ramparts.venues.drift_spot.liquidate_perp_in_account` (margin check, entering liquidation,
    cancelling orders, the :func:`liquidate_perp` transfer, margin freed, leaving liquidation or entering bankruptcy;
    funding settled first). The account becomes a one-position ``SpotAccount`` in ``market``: cross, a USDC
    balance of ``quote_deposit`` in slot 0 and the user's status; isolated, no spot balance, the position's isolated
    balance ``quote_deposit`` (≥ 0) and the status on that market. The USDC oracle is ``quote_oracle_price``. The
    position, status and margin-freed tally come back into the account (the deposit is not moved by
    ``liquidate_perp``). The oracle's TWAP-divergence guard and the liquidator's own margin check are the caller's."""
    from ramparts.venues import drift_spot  # drift_spot imports this module

    a, index = account, market.market_index
    iso = frozenset((index,))
    if a.isolated:
        balance = _nonneg("quote_deposit (an isolated balance)", a.quote_deposit) * _QUOTE_SCALED_PER_TOKEN
        user = drift_spot.SpotAccount(
            (), (replace(a.position, market_index=index, isolated=True, isolated_position_scaled_balance=balance),),
            last_active_slot=a.last_active_slot, liquidation_margin_freed=a.liquidation_margin_freed,
            isolated_being_liquidated=iso if a.being_liquidated else (), isolated_bankrupt=iso if a.bankrupt else (),
            high_leverage_mode=a.high_leverage_mode)
    else:
        user = drift_spot.SpotAccount(
            (_quote_balance(a.quote_deposit),), (replace(a.position, market_index=index, isolated=False),),
            being_liquidated=a.being_liquidated, bankrupt=a.bankrupt, last_active_slot=a.last_active_slot,
            liquidation_margin_freed=a.liquidation_margin_freed, high_leverage_mode=a.high_leverage_mode)
    out = drift_spot.liquidate_perp_in_account(
        user, index, liquidator_max_base_asset_amount, spot_markets={0: _PERP_ACCOUNT_QUOTE_MARKET},
        spot_prices={0: quote_oracle_price}, perp_markets={index: market}, perp_prices={index: oracle_price}, slot=slot,
        limit_price=limit_price, liquidation_margin_buffer_ratio=liquidation_margin_buffer_ratio,
        initial_pct_to_liquidate=initial_pct_to_liquidate, liquidation_duration=liquidation_duration,
        liquidator_position=liquidator_position)

    def restore(p: PerpPosition) -> PerpPosition:  # the account's own position fields back
        return replace(p, market_index=a.position.market_index, isolated=a.position.isolated,
                       isolated_position_scaled_balance=a.position.isolated_position_scaled_balance)

    u = out.user
    being, bankrupt = ((index in u.isolated_being_liquidated, index in u.isolated_bankrupt) if a.isolated
                       else (u.being_liquidated, u.bankrupt))
    after = replace(a, position=restore(u.perp_positions[0]), being_liquidated=being, bankrupt=bankrupt,
                    last_active_slot=u.last_active_slot, liquidation_margin_freed=u.liquidation_margin_freed)
    liq = out.liquidation if out.liquidation is None else replace(out.liquidation,
                                                                  user_position=restore(out.liquidation.user_position))
    return PerpAccountLiquidation(after, liq, out.margin_freed, out.margin_shortage)


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
