"""Drift v2's perp order fill as ``liquidate_perp_with_fill`` drives it: a reduce-only limit order of the liquidated
user (the taker) filled against resting maker orders and the AMM, with Drift's fees and filler reward.

:mod:`ramparts.venues.drift` owns the margin and liquidation maths, :mod:`ramparts.venues.drift_amm` the AMM's prices
and ``amm_can_fill_order``; this module owns the fill arithmetic of ``controller/orders.rs`` (``fill_perp_order``,
``fulfill_perp_order``, ``fulfill_perp_order_with_match``, ``fulfill_perp_order_with_amm``), ``math/fees.rs``
(taker fee, maker rebate, filler reward; ``FeeStructure::perps_default`` in ``state/state.rs``), ``math/matching.rs``,
``math/fulfillment.rs`` (``determine_perp_fulfillment_methods`` for a taker), ``math/orders.rs`` (what the AMM can
fill up to a limit price, fill-price and price-band checks), ``math/amm.rs`` / ``math/amm_spread.rs`` /
``controller/amm.rs`` (the base swap on the spread reserves). The controller flow around it (margin check,
sizing, the insurance-fund fee, leaving liquidation) is :func:`ramparts.venues.drift_spot.liquidate_perp_with_fill_in_account`.
Source: drift-labs/protocol-v2 at commit ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62`` (``programs/drift/src/``).

Units, as Drift's (ints): PRICE 1e6, BASE and AMM reserves 1e9, QUOTE 1e6, PEG 1e6, fee numerators over
``FEE_DENOMINATOR`` 1e5, filler reward over ``FEE_PERCENTAGE_DENOMINATOR`` 100, filler multiplier 1e6.

Formulas::

    taker fee       = ceil(quote · fee_num / 1e5)            (× 2 in high-leverage mode; then ± fee_adjustment %)
    maker rebate    = quote · rebate_num / 1e5                (floor)
    filler reward   = min(fee · 10 / 100, ⌊(max(1, slots since the order) · 1e8)^¼⌋ · 1e4·clamp(mult, 1e3, 1e5)/1e3 / 100)
    match quote     = base · maker price / 1e9 (maker long: floor, maker short: ceil)
    filler mult.    = clamp(±(oracle − maker price)·1e6/oracle + 2e3, 1e3, 1e5)   (maker long: −, short: +)
    AMM base        = step-floor(min(unfilled, base to trade to limit ∓ tick)), ≤ available liquidity
                      (min(reserve / max_fill_reserve_fraction, half the side's reserve room), step-floored)
    AMM quote       = Δ spread quote reserve · peg / 1e9 (+1 reserve unit and +1 quote when the user buys)

Not modelled (a fill that would need them raises :class:`ramparts.errors.InvalidInput`): the AMM's JIT making
against a maker, a second AMM fill in one call (the spread reserves are not re-derived after a swap), maker orders
that are not post-only fixed-price limit orders (oracle offsets, auctions, expiry, reduce-only, protected makers)
or that breach the maker oracle bands (Drift cancels those and pays the filler a flat fee from the maker),
referrers and builders (a liquidation pays none), post-only takers. Volume and fee statistics, the mark TWAP
update and records are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import isqrt

from ramparts.errors import InvalidInput, Rejected
from ramparts.venues.drift import (
    BASE_PRECISION,
    MARGIN_PRECISION,
    PERCENTAGE_PRECISION,
    PRICE_PRECISION,
    U64_MAX,
    MarginRequirementType,
    PerpMarket,
    PerpPosition,
    _add_quote,
    _ceil_div,
    _int,
    _nonneg,
    perp_account_margin,
    settle_funding_payment,
    standardize_base_asset_amount,
    update_position,
)
from ramparts.venues.drift_amm import (
    AMM,
    AMM_RESERVE_PRECISION,
    PEG_PRECISION,
    PositionDirection,
    SwapDirection,
    amm_wants_to_jit_make,
    ask_price,
    bid_price,
    calculate_swap_output,
    reserve_price,
)

__all__ = [
    "FEE_DENOMINATOR",
    "FEE_PERCENTAGE_DENOMINATOR",
    "PERPS_DEFAULT_FEE_TIER",
    "FeeTier",
    "FillAmm",
    "FillerRewardStructure",
    "MakerOrder",
    "PerpFill",
    "amm_available_liquidity",
    "base_asset_amount_to_trade_to_price",
    "base_swap_output_with_spread",
    "do_orders_cross",
    "fill_liquidation_order",
    "filler_multiplier_for_matched_orders",
    "filler_reward",
    "limit_price_breaches_maker_oracle_price_bands",
    "maker_rebate",
    "quote_asset_amount_for_maker_order",
    "taker_fee",
    "validate_fill_price",
    "validate_fill_price_within_price_bands",
]

FEE_DENOMINATOR = 100_000  # 10 × one bps denominator
FEE_PERCENTAGE_DENOMINATOR = 100
FEE_ADJUSTMENT_MAX = 100
TEN_BPS = PERCENTAGE_PRECISION // 1000
AMM_TIMES_PEG_TO_QUOTE_PRECISION_RATIO = AMM_RESERVE_PRECISION * PEG_PRECISION // 10**6  # 1e9
LONG, SHORT = PositionDirection.LONG, PositionDirection.SHORT


def _opposite(d: PositionDirection) -> PositionDirection:
    return SHORT if d is LONG else LONG


# ============================================================================ fees (math/fees.rs, state/state.rs)
@dataclass(frozen=True)
class FeeTier:
    """``state/state.rs::FeeTier``: the taker fee and maker rebate numerators over their denominators."""

    fee_numerator: int
    fee_denominator: int
    maker_rebate_numerator: int
    maker_rebate_denominator: int


#: ``FeeStructure::perps_default().fee_tiers[0]`` (10 bps taker, 2 bps maker rebate): the tier of a user with no
#: 30-day volume and no staked governance tokens (``determine_perp_fee_tier``), and of every high-leverage taker
PERPS_DEFAULT_FEE_TIER = FeeTier(100, FEE_DENOMINATOR, 20, FEE_DENOMINATOR)


@dataclass(frozen=True)
class FillerRewardStructure:
    """``state/state.rs::OrderFillerRewardStructure`` of ``FeeStructure::perps_default``: 10 % of the fee, floored by
    a time-based reward from 1 cent."""

    reward_numerator: int = 10
    reward_denominator: int = FEE_PERCENTAGE_DENOMINATOR
    time_based_reward_lower_bound: int = 10_000


def taker_fee(quote_asset_amount: int, tier: FeeTier = PERPS_DEFAULT_FEE_TIER, fee_adjustment: int = 0) -> int:
    """``math/fees.rs::calculate_taker_fee`` @0ae3e3b: ``ceil(quote · fee_num / fee_den)``; a negative
    ``fee_adjustment`` (percent) takes ``fee·|adj|/100`` (floor) off, a positive one adds ``ceil(fee·adj/100)``."""
    fee = _ceil_div(_nonneg("quote_asset_amount", quote_asset_amount) * tier.fee_numerator, tier.fee_denominator)
    adj = _int("fee_adjustment", fee_adjustment)
    if adj < 0:
        fee = max(fee - fee * -adj // FEE_ADJUSTMENT_MAX, 0)
    elif adj > 0:
        fee += _ceil_div(fee * adj, FEE_ADJUSTMENT_MAX)
    return fee


def maker_rebate(quote_asset_amount: int, tier: FeeTier = PERPS_DEFAULT_FEE_TIER, fee_adjustment: int = 0) -> int:
    """``math/fees.rs::calculate_maker_rebate`` @0ae3e3b: ``quote · rebate_num / rebate_den`` (floor); a negative
    ``fee_adjustment`` takes ``ceil(rebate·|adj|/100)`` off, a positive one adds ``rebate·adj/100`` (floor)."""
    rebate = _nonneg("quote_asset_amount", quote_asset_amount) * tier.maker_rebate_numerator // tier.maker_rebate_denominator
    adj = _int("fee_adjustment", fee_adjustment)
    if adj < 0:
        rebate = max(rebate - _ceil_div(rebate * -adj, FEE_ADJUSTMENT_MAX), 0)
    elif adj > 0:
        rebate += rebate * adj // FEE_ADJUSTMENT_MAX
    return rebate


def filler_reward(fee: int, order_slot: int, clock_slot: int, multiplier: int,
                  structure: FillerRewardStructure = FillerRewardStructure()) -> int:
    """``math/fees.rs::calculate_filler_reward`` @0ae3e3b: the lesser of ``fee · 10/100`` and the time-based reward
    ``⌊(max(1, clock − order slot) · 1e8)^¼⌋ · lower_bound · clamp(multiplier, 1e3, 1e5) / 1e3 / 100``."""
    size_reward = _nonneg("fee", fee) * structure.reward_numerator // structure.reward_denominator
    mult = min(max(_nonneg("multiplier", multiplier), TEN_BPS), TEN_BPS * 100)
    min_time_reward = structure.time_based_reward_lower_bound * mult // TEN_BPS
    elapsed = _nonneg("clock_slot", clock_slot) - _nonneg("order_slot", order_slot)
    if elapsed < 0:
        raise Rejected("MathError", "clock slot before the order slot")
    fourth_root = isqrt(isqrt(max(1, elapsed) * 100_000_000))  # num-integer's nth_root(4): floor
    time_reward = fourth_root * min_time_reward // 100
    if time_reward > U64_MAX:
        raise Rejected("CastingFailure", "time-based filler reward overflows u64")
    return min(size_reward, time_reward)


# ============================================================================ matching (math/matching.rs, math/orders.rs)
def do_orders_cross(maker_direction: PositionDirection, maker_price: int, taker_price: int) -> bool:
    """``math/matching.rs::do_orders_cross``: a maker bid crosses a taker price at or below it, a maker ask one at or
    above it."""
    return taker_price <= maker_price if maker_direction is LONG else taker_price >= maker_price


def quote_asset_amount_for_maker_order(base_asset_amount: int, fill_price: int, direction: PositionDirection) -> int:
    """``math/orders.rs::calculate_quote_asset_amount_for_maker_order`` (perp, 9 decimals): ``price · base / 1e9``,
    floored for a maker bid and rounded up for a maker ask (the maker never gains from the rounding)."""
    num = _nonneg("fill_price", fill_price) * _nonneg("base_asset_amount", base_asset_amount)
    out = num // BASE_PRECISION if direction is LONG else _ceil_div(num, BASE_PRECISION)
    if out > U64_MAX:
        raise Rejected("CastingFailure", "quote asset amount overflows u64")
    return out


def filler_multiplier_for_matched_orders(maker_price: int, maker_direction: PositionDirection, oracle_price: int) -> int:
    """``math/matching.rs::calculate_filler_multiplier_for_matched_orders``: with ``diff = (oracle − maker price) ·
    1e6 / oracle`` (truncated), ``clamp(−diff + 2e3, 1e3, 1e5)`` for a maker bid, ``clamp(diff + 2e3, …)`` for an
    ask: the better the maker's price against the oracle, the larger the filler's time-based reward."""
    oracle = _int("oracle_price", oracle_price)
    if oracle == 0:
        raise Rejected("MathError", "oracle price is 0")
    diff = (oracle - _nonneg("maker_price", maker_price)) * PERCENTAGE_PRECISION
    diff = -(-diff // oracle) if (diff < 0) != (oracle < 0) else diff // oracle  # truncation toward zero
    m = (-diff if maker_direction is LONG else diff) + TEN_BPS * 2
    return min(max(m, TEN_BPS), TEN_BPS * 100)


def validate_fill_price(quote_asset_amount: int, base_asset_amount: int, direction: PositionDirection, limit_price: int,
                        is_taker: bool) -> None:
    """``math/orders.rs::validate_fill_price``: ``quote · 1e9 / base`` (a taker's quote moved one unit in its favour
    first) must not be above a buy's limit nor below a sell's; ``InvalidOrderFillPrice`` otherwise."""
    q = _nonneg("quote_asset_amount", quote_asset_amount)
    if is_taker:
        q = max(q - 1, 0) if direction is LONG else q + 1
    price = q * BASE_PRECISION // _nonneg("base_asset_amount", base_asset_amount)
    if (direction is LONG and price > limit_price) or (direction is SHORT and price < limit_price):
        raise Rejected("InvalidOrderFillPrice", f"fill price {price} beyond limit price {limit_price}")


def validate_fill_price_within_price_bands(fill_price: int, oracle_price: int, oracle_twap_5min: int,
                                           margin_ratio_initial: int, twap_5min_percent_divergence: int) -> None:
    """``math/orders.rs::validate_fill_price_within_price_bands`` (no direction, not a prediction market):
    ``|fill − oracle| · 1e4 / oracle < margin_ratio_initial`` and ``|fill − twap₅| · 1e6 / twap₅ < divergence``,
    each quotient truncated; ``PriceBandsBreached`` otherwise."""
    oracle, twap = _int("oracle_price", oracle_price), _int("oracle_twap_5min", oracle_twap_5min)
    if oracle == 0 or twap == 0:
        raise Rejected("MathError", "division by zero")
    d1, d2 = (fill_price - oracle) * MARGIN_PRECISION, (fill_price - twap) * PERCENTAGE_PRECISION
    pct = abs(d1) // abs(oracle)
    pct_twap = abs(d2) // abs(twap)
    if pct >= margin_ratio_initial or pct_twap >= twap_5min_percent_divergence:
        raise Rejected("PriceBandsBreached", f"fill price {fill_price} outside the oracle / TWAP bands")


def limit_price_breaches_maker_oracle_price_bands(limit_price: int, direction: PositionDirection, oracle_price: int,
                                                  margin_ratio_initial: int) -> bool:
    """``math/orders.rs::limit_price_breaches_maker_oracle_price_bands``: a maker bid above the oracle (an ask below
    it) by ``(|limit − oracle|) · 1e4 / oracle ≥ margin_ratio_initial`` is cancelled rather than filled."""
    oracle = abs(_int("oracle_price", oracle_price))
    limit = _nonneg("limit_price", limit_price)
    if (direction is LONG and limit <= oracle) or (direction is SHORT and limit >= oracle):
        return False
    return abs(limit - oracle) * MARGIN_PRECISION // oracle >= margin_ratio_initial


# ============================================================================ the AMM side
@dataclass(frozen=True)
class FillAmm:
    """The AMM fields a fill reads besides :class:`ramparts.venues.drift_amm.AMM`'s: the spread reserves
    (``ask_*`` for a buyer, ``bid_*`` for a seller), ``max_fill_reserve_fraction``, ``min_order_size`` and the
    market's ``fee_adjustment`` (percent)."""

    amm: AMM
    bid_base_asset_reserve: int = 0
    bid_quote_asset_reserve: int = 0
    ask_base_asset_reserve: int = 0
    ask_quote_asset_reserve: int = 0
    max_fill_reserve_fraction: int = 0
    min_order_size: int = 0
    fee_adjustment: int = 0

    def spread_reserves(self, direction: PositionDirection) -> tuple[int, int]:
        """``math/amm_spread.rs::get_spread_reserves``: (base, quote) ask reserves for a buyer, bid ones for a seller."""
        if direction is LONG:
            return self.ask_base_asset_reserve, self.ask_quote_asset_reserve
        return self.bid_base_asset_reserve, self.bid_quote_asset_reserve


def amm_available_liquidity(fa: FillAmm, direction: PositionDirection) -> int:
    """``math/amm.rs::calculate_amm_available_liquidity``: ``min(base_reserve / max_fill_reserve_fraction, (room on
    the side) / 2)`` step-floored; the room is ``base_reserve − min_base_reserve`` for a buyer, ``max_base_reserve −
    base_reserve`` for a seller (saturating)."""
    amm = fa.amm
    if fa.max_fill_reserve_fraction <= 0:
        raise Rejected("MathError", "max_fill_reserve_fraction is 0")
    max_fill = min(amm.base_asset_reserve // fa.max_fill_reserve_fraction, U64_MAX)
    room = (max(amm.base_asset_reserve - amm.min_base_asset_reserve, 0) if direction is LONG
            else max(amm.max_base_asset_reserve - amm.base_asset_reserve, 0)) // 2
    if room > U64_MAX:
        raise Rejected("CastingFailure", "side liquidity overflows u64")
    return standardize_base_asset_amount(min(max_fill, room), amm.order_step_size)


def base_asset_amount_to_trade_to_price(fa: FillAmm, limit_price: int, direction: PositionDirection
                                        ) -> tuple[int, PositionDirection]:
    """``math/amm_spread.rs::calculate_base_asset_amount_to_trade_to_price``: the base reserve at which the curve
    prices at ``limit`` is ``isqrt(sqrt_k² · 1e6 / limit · peg / 1e6)``; against the reserve before (the spread
    reserve when ``base_spread > 0``), a larger one means selling that much, a smaller one buying it."""
    if _int("limit_price", limit_price) <= 0:
        raise Rejected("InvalidOrderLimitPrice", "limit_price <= 0")
    amm = fa.amm
    squared = amm.sqrt_k**2 * PRICE_PRECISION // limit_price * amm.peg_multiplier // PEG_PRECISION
    new_base = isqrt(squared)
    before = fa.spread_reserves(direction)[0] if amm.base_spread > 0 else amm.base_asset_reserve
    if new_base > before:
        return min(new_base - before, U64_MAX), SHORT
    return min(before - new_base, U64_MAX), LONG


def _reserve_to_asset_amount(quote_reserve: int, peg: int) -> int:
    """``math/quote_asset.rs::reserve_to_asset_amount``: ``reserve · peg / 1e9``."""
    return quote_reserve * peg // AMM_TIMES_PEG_TO_QUOTE_PRECISION_RATIO


def base_swap_output_with_spread(fa: FillAmm, base_asset_amount: int, swap: SwapDirection) -> tuple[int, int, int, int]:
    """``controller/amm.rs::calculate_base_swap_output_with_spread``: the user's quote from the swap on the spread
    reserves (``calculate_quote_asset_amount_swapped``: a buyer — base removed — pays one more reserve unit and one
    more quote unit), the AMM's new reserves from the same swap on its own reserves, and the surplus ``|quote on the
    own reserves (+1 for a buyer) − user quote|``. Returns (new base reserve, new quote reserve, quote, surplus)."""
    amm, base = fa.amm, _nonneg("base_asset_amount", base_asset_amount)
    buyer = SwapDirection(swap) is SwapDirection.REMOVE
    spread_base, spread_quote = fa.spread_reserves(LONG if buyer else SHORT)
    new_spread_quote, _ = calculate_swap_output(base, spread_base, swap, amm.sqrt_k)
    change = new_spread_quote - spread_quote if buyer else spread_quote - new_spread_quote
    if change < 0:
        raise Rejected("MathError", "quote reserve moved the wrong way")
    quote = _reserve_to_asset_amount(change + (1 if buyer else 0), amm.peg_multiplier) + (1 if buyer else 0)
    new_quote, new_base = calculate_swap_output(base, amm.base_asset_reserve, swap, amm.sqrt_k)
    own_change = new_quote - amm.quote_asset_reserve if buyer else amm.quote_asset_reserve - new_quote
    own = _reserve_to_asset_amount(abs(own_change), amm.peg_multiplier) + (1 if buyer else 0)
    if quote > U64_MAX:
        raise Rejected("CastingFailure", "quote asset amount overflows u64")
    return new_base, new_quote, quote, abs(own - quote)


# ============================================================================ the fill
@dataclass(frozen=True)
class MakerOrder:
    """A maker's resting post-only limit order in the market (``state/user.rs::Order``) with the maker's position
    there and its USDC deposit (token amount 1e6) for the post-fill margin check."""

    direction: PositionDirection
    price: int  #: fixed limit price (PRICE 1e6)
    base_asset_amount: int
    position: PerpPosition = PerpPosition()
    quote_deposit: int = 0
    base_asset_amount_filled: int = 0
    slot: int = 0
    post_only: bool = True
    being_liquidated: bool = False  #: such a maker's orders are skipped

    @property
    def unfilled(self) -> int:
        return self.base_asset_amount - self.base_asset_amount_filled


@dataclass(frozen=True)
class PerpFill:
    """One ``fill_perp_order`` of a liquidation order: the taker's position after it (fees paid), the makers after
    it (in the order given), the filler's (liquidator's) position, the AMM, and the totals (quote 1e6, base 1e9)."""

    base_asset_amount: int
    quote_asset_amount: int
    user_position: PerpPosition
    makers: tuple
    filler_position: PerpPosition
    amm: FillAmm
    user_fee: int = 0
    filler_reward: int = 0
    fee_to_market: int = 0  #: fees less filler reward and rebates, plus the AMM's spread surplus
    maker_rebates: int = 0
    fills: tuple = field(default=())  #: ("maker", index, base, quote) / ("amm", base, quote) in fill order


def _delta(base: int, quote: int, direction: PositionDirection) -> tuple[int, int]:
    """``math/orders.rs::get_position_delta_for_fill``: a buy adds base and pays quote, a sell the reverse."""
    return (base, -quote) if direction is LONG else (-base, quote)


def _decrease_open(p: PerpPosition, direction: PositionDirection, base: int) -> PerpPosition:
    """``decrease_open_bids_and_asks``."""
    if direction is LONG:
        return replace(p, open_bids=p.open_bids - base)
    return replace(p, open_asks=p.open_asks + base)


def fill_liquidation_order(position: PerpPosition, direction: PositionDirection, base_asset_amount: int,
                           limit_price: int, *, market: PerpMarket, fill_amm: FillAmm, oracle_price: int,
                           oracle_twap_5min: int, makers=(), amm_is_available: bool, order_slot: int, slot: int,
                           filler_position: PerpPosition | None = None, high_leverage_mode: bool = False,
                           taker_fee_tier: FeeTier = PERPS_DEFAULT_FEE_TIER,
                           maker_fee_tier: FeeTier = PERPS_DEFAULT_FEE_TIER,
                           filler_rewards: FillerRewardStructure = FillerRewardStructure(),
                           twap_5min_percent_divergence: int) -> PerpFill:
    """``controller/orders.rs::fill_perp_order`` @0ae3e3b in ``FillMode::Liquidation`` for the order
    ``liquidate_perp_with_fill`` places: reduce-only, limit ``limit_price``, no auction, ``base_asset_amount``, by
    a user whose ``position`` has had its orders cancelled; the liquidator is the filler (rewarded when it is not
    the user's authority). ``amm_is_available`` is ``PerpMarket::amm_can_fill_order``
    (:func:`ramparts.venues.drift_amm.amm_can_fill_order`, a liquidation being low-risk for the AMM).

    Steps: makers' orders on the other side are taken best price first (``get_maker_orders_info``; ties in the
    order given; makers being liquidated are skipped); ``determine_perp_fulfillment_methods`` interleaves the AMM where it quotes
    better than the next maker, then the AMM up to the limit. A match fills ``min(maker, taker unfilled)`` at the
    maker's price, the taker pays the taker fee, the maker gets the rebate, the filler the filler reward (with the
    matched-order multiplier); an AMM fill sizes by the limit (``calculate_base_asset_amount_for_amm_to_fulfill``),
    swaps on the spread reserves, the taker pays the taker fee and the filler gets the reward (multiplier 0).
    Each maker must then meet its margin requirement (fill type if the fill increased its risk, else maintenance;
    ``InsufficientCollateral``); the average fill price must sit within the oracle / TWAP bands."""
    if _nonneg("base_asset_amount", base_asset_amount) == 0:
        raise InvalidInput("base_asset_amount", "must be positive")
    step, tick = market.order_step_size, max(fill_amm.amm.order_tick_size, 1)
    if fill_amm.amm.order_step_size != step:
        raise InvalidInput("fill_amm", "the AMM's order_step_size must be the market's")
    maker_dir = _opposite(direction)
    filler = filler_position if filler_position is not None else PerpPosition()
    makers = [m if isinstance(m, MakerOrder) else None for m in makers]
    if any(m is None for m in makers):
        raise InvalidInput("makers", "MakerOrder instances")
    for m in makers:
        if not m.post_only:
            raise InvalidInput("makers", "only post-only resting limit maker orders are modelled")
    # get_maker_orders_info: eligible maker orders on the other side (their makers' funding settled), sorted best
    # price first (stable)
    eligible = [i for i, m in enumerate(makers) if m.direction is maker_dir and not m.being_liquidated
                and m.unfilled > 0]
    for i in eligible:
        makers[i] = replace(makers[i], position=settle_funding_payment(makers[i].position, market)[0])
    before_fill = [m.position.base_asset_amount for m in makers]
    for i in eligible:
        if limit_price_breaches_maker_oracle_price_bands(makers[i].price, maker_dir, oracle_price,
                                                         market.margin_ratio_initial):
            raise InvalidInput("makers", "cancelling a maker order that breaches the oracle bands (with the "
                                         "filler's flat reward from the maker) is not modelled")
    eligible.sort(key=lambda i: -makers[i].price if maker_dir is LONG else makers[i].price)
    # determine_perp_fulfillment_methods (taker)
    reserve = reserve_price(fill_amm.amm)
    amm_price = bid_price(fill_amm.amm, reserve) if maker_dir is LONG else ask_price(fill_amm.amm, reserve)
    methods: list = []
    for i in eligible:
        if not do_orders_cross(maker_dir, makers[i].price, limit_price):
            break
        if amm_is_available:
            better = makers[i].price <= amm_price if direction is LONG else makers[i].price >= amm_price
            if not better:
                methods.append(("amm", makers[i].price))
                amm_price = makers[i].price
        methods.append(("maker", i))
        if len(methods) > 6:
            break
    if amm_is_available and do_orders_cross(maker_dir, amm_price, limit_price):
        methods.append(("amm", None))

    filled = quote_total = user_fee_total = reward_total = to_market = rebates = 0
    amm_fills = 0
    fa, pos, fills = fill_amm, position, []
    for kind, arg in methods:
        if base_asset_amount - filled == 0:  # the order is filled
            break
        unfilled = _reduce_only_unfilled(base_asset_amount - filled, direction, pos.base_asset_amount)
        if kind == "maker":
            m = makers[arg]
            if amm_wants_to_jit_make(fa.amm, direction):
                raise InvalidInput("fill_amm", "the AMM's JIT making against a maker is not modelled")
            base = min(m.unfilled, unfilled)
            if base == 0:
                continue
            quote = quote_asset_amount_for_maker_order(base, m.price, maker_dir)
            validate_fill_price(quote, base, direction, limit_price, True)
            validate_fill_price(quote, base, maker_dir, m.price, False)
            mb, mq = _delta(base, quote, maker_dir)
            mpos = _decrease_open(update_position(m.position, mb, mq)[0], maker_dir, base)
            tb, tq = _delta(base, quote, direction)
            pos = update_position(pos, tb, tq)[0]
            fee = taker_fee(quote, taker_fee_tier, fa.fee_adjustment) * (2 if high_leverage_mode else 1)
            rebate = maker_rebate(quote, maker_fee_tier, fa.fee_adjustment)
            mult = filler_multiplier_for_matched_orders(m.price, maker_dir, oracle_price)
            reward = filler_reward(fee, order_slot, slot, mult, filler_rewards)
            if fee - reward - rebate < 0:
                raise Rejected("MathError", "fee to market is negative")
            pos = _add_quote(pos, -fee)
            mpos = _add_quote(mpos, rebate)
            if mpos.open_orders and m.unfilled - base == 0:
                mpos = replace(mpos, open_orders=mpos.open_orders - 1)
            makers[arg] = replace(m, position=mpos, base_asset_amount_filled=m.base_asset_amount_filled + base)
            fills.append(("maker", arg, base, quote))
            rebates += rebate
            to_market += fee - reward - rebate
        else:
            if amm_fills:
                raise InvalidInput("fill_amm", "a second AMM fill in one call is not modelled (spread reserves)")
            limit = limit_price
            if arg is not None:  # the AMM fills up to the next maker's price
                if (direction is LONG and limit_price < arg) or (direction is SHORT and limit_price > arg):
                    raise Rejected("InvalidAmmLimitPriceOverride", "override price not better than the order's limit")
                limit = arg
            adjusted = limit - tick if direction is LONG else limit + tick
            most, way = base_asset_amount_to_trade_to_price(fa, adjusted, direction)
            base = 0 if way is not direction or most == 0 else standardize_base_asset_amount(min(unfilled, most), step)
            base = min(base, amm_available_liquidity(fa, direction))
            if base < fa.amm.order_step_size:  # reduce-only: the AMM's threshold is the step size
                continue
            swap = SwapDirection.REMOVE if direction is LONG else SwapDirection.ADD
            new_base, new_quote, quote, surplus = base_swap_output_with_spread(fa, base, swap)
            tb, tq = _delta(base, quote, direction)
            pos = update_position(pos, tb, tq)[0]
            fa = replace(fa, amm=replace(fa.amm, base_asset_reserve=new_base, quote_asset_reserve=new_quote,
                                         base_asset_amount_with_amm=fa.amm.base_asset_amount_with_amm + tb))
            validate_fill_price(quote, base, direction, limit, True)
            fee = taker_fee(quote, taker_fee_tier, fa.fee_adjustment) * (2 if high_leverage_mode else 1)
            reward = filler_reward(fee, order_slot, slot, 0, filler_rewards)
            pos = _add_quote(pos, -fee) if fee else pos
            fills.append(("amm", base, quote))
            amm_fills += 1
            to_market += fee - reward + surplus  # the AMM keeps the spread surplus
        filled += base
        quote_total += quote
        user_fee_total += fee
        reward_total += reward
        if reward > 0:  # credit_filler_perp_pnl / the match's filler credit: quote only, not break-even
            filler = replace(filler, quote_asset_amount=filler.quote_asset_amount + reward)
    for i, m in enumerate(makers):  # select_margin_type_for_perp_maker, then the maker's margin check
        if not any(f[0] == "maker" and f[1] == i for f in fills):
            continue
        before, after = before_fill[i], m.position.base_asset_amount
        reducing = after == 0 or ((after > 0) == (before > 0) and before != 0 and abs(after) < abs(before))
        mtype = MarginRequirementType.MAINTENANCE if reducing else MarginRequirementType.FILL
        calc = perp_account_margin(m.quote_deposit, m.position, market, oracle_price, mtype)
        if not calc.meets_margin_requirement:
            raise Rejected("InsufficientCollateral", f"maker {i} breached its {mtype.value} margin requirement")
    if filled:
        validate_fill_price_within_price_bands(quote_total * BASE_PRECISION // filled, oracle_price, oracle_twap_5min,
                                               market.margin_ratio_initial, twap_5min_percent_divergence)
    return PerpFill(filled, quote_total, pos, tuple(makers), filler, fa, user_fee_total, reward_total, to_market,
                    rebates, tuple(fills))


def _reduce_only_unfilled(unfilled: int, direction: PositionDirection, existing: int) -> int:
    """``Order::get_base_asset_amount_unfilled`` of a reduce-only order: at most the position it reduces, 0 if it
    would increase it."""
    if existing == 0:
        return 0
    if direction is LONG:
        return 0 if existing > 0 else min(unfilled, -existing)
    return 0 if existing < 0 else min(unfilled, existing)
