"""dYdX v4: liquidity tiers, open-interest-scaled initial margin, funding (premium from the order book,
clamp, samples, funding-tick rate, index delta, settlement), partial-liquidation limits, bankruptcy and
fillable prices, the insurance-fund delta of a liquidation, and deleveraging conditions — in dYdX's own
units and rounding.

Source: dydxprotocol/v4-chain at commit ``84d4664bae71e3a077adaac67fb77ad19cd28d30`` (summarised in
``ramparts/reference/open-source-venues.md`` §1): ``protocol/x/perpetuals/types/liquidity_tier.go``,
``protocol/x/perpetuals/lib/lib.go``, ``protocol/x/perpetuals/funding/funding.go``,
``protocol/x/perpetuals/keeper/perpetual.go`` (``MaybeProcessNewFundingTickEpoch``,
``processStoredPremiums``, ``GetRemoveSampleTailsFunc``, ``processPremiumVotesIntoSamples``,
``MaybeProcessNewFundingSampleEpoch``), ``protocol/x/epochs/keeper/epoch_info.go``
(``NumBlocksSinceEpochStart``), ``protocol/x/clob/keeper/get_price_premium.go``,
``protocol/x/clob/memclob/memclob.go`` (``GetPricePremium``, ``getPricePremiumFromSide``,
``getImpactPriceSubticks``), ``protocol/x/clob/types/quantums.go`` (``FillAmountToQuoteQuantums``,
``GetAveragePriceSubticks``), ``protocol/x/clob/types/price_to_subticks.go``, ``protocol/lib/quantums.go``,
``protocol/lib/math.go`` (``Median``, ``AvgInt32``), ``protocol/lib/margin/risk.go``,
``protocol/x/clob/keeper/liquidations.go`` (``GetMaxAndMinPositionNotionalLiquidatable``,
``GetSubaccountMaxNotionalLiquidatable``, ``GetSubaccountMaxInsuranceLost``,
``GetLiquidatablePositionSizeDelta``), ``protocol/x/clob/keeper/deleveraging.go``; mainnet-like
parameters from ``protocol/scripts/genesis/sample_pregenesis.json``. The upstream Go test tables of
these functions are ported in ``tests/test_venue_dydx_cases.py``.

Units, as dYdX's: **quote quantums** (1e-6 USDC, Python ints), **base quantums** (10^atomic_resolution
coin), oracle price ``price · 10^exponent`` and **ppm** (1e6 = 100 %). Every rounding follows the
source: requirements round up (``ceil``), the maintenance fraction of a tier and ppm products
(``BigIntMulPpm``) round down, base↔quote conversions truncate toward zero, the funding index delta
truncates toward zero, a premium rounds toward zero, the OI-scaled IMF rounds down, the bankruptcy
quote uses a Euclidean floor, the fillable price is an exact rational.

Funding::

    premium (ppm)      round_to_zero(impact / index · 1e6 − 1e6), clamped to ±premium_vote_clamp
    book premium       premium of the impact bid if index < best bid, of the impact ask if index > best
                       ask, else 0; also 0 when the impact price is not beyond the index or the side
                       cannot absorb the impact notional
    impact price       impact notional / ceil(Σ base quantums walked best first) (in subticks)
    clamp(tier, f)     floor(f · (IMF − MMF) / 1e6)          f = funding_rate_clamp_factor (6e6) or
                                                              premium_vote_clamp_factor (60e6)
    sample             median of the premium votes padded with zeros to min_num_votes_per_sample
    8h rate (ppm)      clamp(avg(samples padded with zeros to tick/sample), ± clamp(tier, 6e6))
                       + default funding before the clamp
    index delta        trunc(BaseToQuote(t · rate, atomic resolution, price, exponent) / 28,800)
    settlement (ppm)   −(index_now − index_last) · position quantums

Partial liquidation::

    min notional       min(MinPositionNotionalLiquidated, |notional|)
    max notional       max(min notional, floor(|notional| · MaxPositionPortionLiquidatedPpm / 1e6))
    size               the whole position if |notional| ≤ min(max notional, subaccount block room) or
                       |position| ≤ step; else QuoteToBase(that minimum), rounded down to the step,
                       clamped to [step, |position|], opposite in sign to the position
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ramparts.errors import InvalidInput, UnknownEntity

__all__ = ["CLOB_PAIR_STATUS_ACTIVE", "FUNDING_RATE_CLAMP_FACTOR_PPM", "LIQUIDATIONS_CONFIG", "LIQUIDITY_TIERS", "LiquidationsConfig", "LiquidityTier",
           "PREMIUM_VOTE_CLAMP_FACTOR_PPM", "adjusted_imf_ppm", "average_price_subticks", "bankruptcy_quote", "base_to_quote_quantums",
           "book_premium_ppm", "fill_amount_to_quote_quantums", "is_new_funding_sample_epoch",
           "maybe_process_new_funding_sample_epoch", "perpetual_net_notional", "position_notional_liquidatable_for_perpetual",
           "premium_for_perpetual", "fillable_price", "funding_index_delta", "funding_sample_ppm",
           "funding_tick_rate_ppm", "impact_price_subticks", "insurance_fund_delta", "is_liquidatable",
           "liquidatable_position_size_delta", "margin_requirements", "max_abs_funding_clamp_ppm", "median",
           "position_notional_liquidatable", "premium_ppm", "price_to_subticks", "quote_to_base_quantums", "remove_sample_tails", "settlement_ppm",
           "should_deleverage", "subaccount_max_insurance_lost", "subaccount_max_notional_liquidatable", "summarize_premiums"]

ONE_MILLION = 1_000_000
USDC = 1_000_000  # quote quantums per USDC
QUOTE_ATOMIC_RESOLUTION = -6
FUNDING_RATE_PERIOD_S = 8 * 60 * 60
#: ``Params`` of ``sample_pregenesis.json`` (also the upstream tests' ``PerpetualsGenesisParams``).
FUNDING_RATE_CLAMP_FACTOR_PPM = 6_000_000
PREMIUM_VOTE_CLAMP_FACTOR_PPM = 60_000_000
MIN_NUM_VOTES_PER_SAMPLE = 15
#: ``types.RemovedTailSampleRatioPpm`` (no tails removed from funding samples at this commit).
REMOVED_TAIL_SAMPLE_RATIO_PPM = 0


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass(frozen=True)
class LiquidityTier:
    """``initial_margin_ppm`` (IMF), ``maintenance_fraction_ppm`` (MF), open-interest caps (quote quantums)."""

    name: str
    initial_margin_ppm: int
    maintenance_fraction_ppm: int
    open_interest_lower_cap: int = 0
    open_interest_upper_cap: int = 0
    impact_notional: int = 0

    @property
    def maintenance_margin_ppm(self) -> int:
        """``GetMaintenanceMarginPpm``: ``floor(IMF × MF / 1e6)``."""
        return self.initial_margin_ppm * self.maintenance_fraction_ppm // ONE_MILLION

    def max_abs_funding_clamp_ppm(self, clamp_factor_ppm: int) -> int:
        """``GetMaxAbsFundingClampPpm``: ``floor(clamp factor × (IMF − MMF) / 1e6)``."""
        return max_abs_funding_clamp_ppm(self.initial_margin_ppm, self.maintenance_fraction_ppm, clamp_factor_ppm)


#: The mainnet-like tiers of ``protocol/scripts/genesis/sample_pregenesis.json`` (with their impact notionals).
LIQUIDITY_TIERS = {
    t.name: t
    for t in (
        LiquidityTier("Large-Cap", 20_000, 600_000, impact_notional=10_000 * USDC),
        LiquidityTier("Mid-Cap", 50_000, 600_000, 40_000_000 * USDC, 100_000_000 * USDC, 5_000 * USDC),
        LiquidityTier("Small-Cap", 100_000, 500_000, 20_000_000 * USDC, 50_000_000 * USDC, 5_000 * USDC),
        LiquidityTier("Long-Tail", 200_000, 500_000, 5_000_000 * USDC, 10_000_000 * USDC, 2_500 * USDC),
        LiquidityTier("Isolated", 50_000, 600_000, 500_000 * USDC, 1_000_000 * USDC, 2_500 * USDC),
        LiquidityTier("Safety", 1_000_000, 200_000, 2_000_000 * USDC, 5_000_000 * USDC, 2_500 * USDC),
        LiquidityTier("FX", 10_000, 500_000, 500_000 * USDC, 1_000_000 * USDC, 2_500 * USDC),
    )
}


def adjusted_imf_ppm(tier: LiquidityTier, open_interest_notional: int) -> int:
    """The OI-scaled initial margin fraction (``liquidity_tier.go``)."""
    imf, lo, hi = tier.initial_margin_ppm, tier.open_interest_lower_cap, tier.open_interest_upper_cap
    if hi == 0 or open_interest_notional <= lo:
        return imf
    if open_interest_notional >= hi:
        return ONE_MILLION
    return imf + (ONE_MILLION - imf) * (open_interest_notional - lo) // (hi - lo)


def margin_requirements(notional: int, tier: LiquidityTier, *, open_interest_notional: int = 0, custom_imf_ppm: int = 0) -> tuple[int, int]:
    """``(IMR, MMR)`` of a position of ``notional`` quote quantums (its absolute value is used).

    ``baseIMR = ceil(|n| × IMF / 1e6)``, ``MMR = ceil(baseIMR × MF / 1e6)`` (from the *base* IMF),
    ``IMR = ceil(|n| × max(adjIMF(OI), custom IMF) / 1e6)``.
    """
    for name, v in (("notional", notional), ("open_interest_notional", open_interest_notional), ("custom_imf_ppm", custom_imf_ppm)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidInput(name, f"must be an int (quote quantums / ppm), got {v!r}")
    n = abs(notional)
    base_imr = _ceil_div(n * tier.initial_margin_ppm, ONE_MILLION)
    mmr = _ceil_div(base_imr * tier.maintenance_fraction_ppm, ONE_MILLION)
    imr = _ceil_div(n * max(adjusted_imf_ppm(tier, open_interest_notional), custom_imf_ppm), ONE_MILLION)
    return imr, mmr


def is_liquidatable(total_net_collateral: int, maintenance: int) -> bool:
    """``MMR > 0 and MMR > TNC`` (``NC == MMR`` is safe)."""
    return maintenance > 0 and maintenance > total_net_collateral


def bankruptcy_quote(delta_notional: int, delta_mmr: int, total_net_collateral: int, total_mmr: int) -> int:
    """``−DNNV − floor(TNC × |DMMR| / TMMR)`` (quote quantums, signed: > 0 the account receives).

    ``delta_notional`` / ``delta_mmr`` are the changes of the position's signed notional and of its
    maintenance requirement when the liquidated ``delta`` is applied (a sell of a long lowers the
    notional: ``delta_notional < 0``). Python's ``//`` is the Euclidean floor the source uses.
    """
    if total_mmr <= 0:
        raise InvalidInput("total_mmr", "a bankruptcy price needs a positive maintenance requirement")
    return -delta_notional - (total_net_collateral * abs(delta_mmr)) // total_mmr


def fillable_price(position_notional: int, position_mmr: int, position_size: int, total_net_collateral: int, total_mmr: int,
                   *, bankruptcy_adjustment_ppm: int = ONE_MILLION, spread_to_mmr_ppm: int = 1_500_000) -> Fraction:
    """The worst price a liquidation order may fill at, in quote quantums per base quantum (rational).

    ``ABR = clamp(BA × (1 − TNC/TMMR), 0, 1)``; ``fillable = (PNNV − ABR × SMMR × PMMR) / PS``.
    Mainnet-like SMMR = 1.5 (``spread_to_mmr_ppm=1_500_000``).
    """
    if position_size == 0 or total_mmr <= 0:
        raise InvalidInput("position", "needs a non-zero position and a positive maintenance requirement")
    ba = Fraction(bankruptcy_adjustment_ppm, ONE_MILLION)
    abr = min(max(ba * (1 - Fraction(total_net_collateral, total_mmr)), Fraction(0)), Fraction(1))
    smmr = Fraction(spread_to_mmr_ppm, ONE_MILLION)
    return (Fraction(position_notional) - abr * smmr * position_mmr) / position_size


def insurance_fund_delta(fill_quote: int, bankruptcy: int, max_liquidation_fee_ppm: int = 15_000) -> int:
    """Change of the insurance fund from one liquidation fill (quote quantums).

    ``d = fillQuote − bankruptcyQuote``; ``d ≤ 0``: the fund pays ``|d|`` (returns ``d``);
    ``d > 0``: the fee to the fund is ``min(|fillQuote| × fee / 1e6, d)`` (floored).
    """
    d = fill_quote - bankruptcy
    if d <= 0:
        return d
    return min(abs(fill_quote) * max_liquidation_fee_ppm // ONE_MILLION, d)


def should_deleverage(filled_quantums: int, total_net_collateral: int, final_settlement: bool = False) -> bool:
    """Deleveraging runs only if the liquidation order filled nothing and TNC < 0 (or at final settlement)."""
    return final_settlement or (filled_quantums == 0 and total_net_collateral < 0)


# ============================================================================ units
def _int(name: str, v, *, nonneg: bool = False) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or (nonneg and v < 0):
        raise InvalidInput(name, f"must be {'a non-negative ' if nonneg else 'an '}int, got {v!r}")
    return v


def _quo(a: int, b: int) -> int:
    """Go's ``big.Int.Quo``: the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def base_to_quote_quantums(base_quantums: int, atomic_resolution: int, price: int, exponent: int) -> int:
    """``lib.BaseToQuoteQuantums``: ``base · price · 10^(exponent + atomic_resolution + 6)``, truncated toward zero."""
    e = exponent + atomic_resolution - QUOTE_ATOMIC_RESOLUTION
    n = _int("base_quantums", base_quantums) * _int("price", price, nonneg=True)
    return n * 10**e if e >= 0 else _quo(n, 10**-e)


def quote_to_base_quantums(quote_quantums: int, atomic_resolution: int, price: int, exponent: int) -> int:
    """``lib.QuoteToBaseQuantums``: ``quote / 10^(exponent + atomic_resolution + 6) / price``, each step toward zero."""
    if _int("price", price, nonneg=True) == 0:
        raise InvalidInput("price", "must be positive")
    e = exponent + atomic_resolution - QUOTE_ATOMIC_RESOLUTION
    r = _int("quote_quantums", quote_quantums)
    r = r * 10**-e if e < 0 else _quo(r, 10**e)
    return _quo(r, price)


def _mul_ppm(x: int, ppm: int) -> int:
    """``lib.BigIntMulPpm``: ``x · ppm / 1e6`` with Go's Euclidean ``Div`` (a floor for the positive divisor)."""
    return x * ppm // ONE_MILLION


# ============================================================================ funding
def max_abs_funding_clamp_ppm(initial_margin_ppm: int, maintenance_fraction_ppm: int, clamp_factor_ppm: int) -> int:
    """``LiquidityTier.GetMaxAbsFundingClampPpm``: ``|R| ≤ floor(clamp · (IMF − IMF·MF) / 1e6)`` (ppm).

    With ``FUNDING_RATE_CLAMP_FACTOR_PPM`` it bounds the 8-hour funding rate, with
    ``PREMIUM_VOTE_CLAMP_FACTOR_PPM`` each premium vote.
    """
    imf, mf = _int("initial_margin_ppm", initial_margin_ppm, nonneg=True), _int("maintenance_fraction_ppm", maintenance_fraction_ppm, nonneg=True)
    if imf > ONE_MILLION or mf > ONE_MILLION:
        raise InvalidInput("liquidity_tier", "initial margin and maintenance fraction are at most 1e6 ppm")
    mmf = imf * mf // ONE_MILLION
    return _mul_ppm(_int("clamp_factor_ppm", clamp_factor_ppm, nonneg=True), imf - mmf)


def premium_ppm(impact_price, index_price, max_abs_premium_ppm: int) -> int:
    """``getPricePremiumFromSide``: ``impact / index · 1e6 − 1e6`` rounded toward zero, clamped to
    ``±max_abs_premium_ppm`` (the premium-vote clamp of the tier).

    ``impact_price`` is the impact bid (index below the best bid) or ask (index above the best ask)
    — the average fill price of an order of the tier's ``impact_notional`` — and ``index_price``
    the index, in the same units (both rationals accepted). The caller returns 0 when the index
    lies between the impact prices or the book is too thin (as the source does).
    """
    index = Fraction(index_price)
    if index <= 0:
        raise InvalidInput("index_price", "must be positive")
    r = Fraction(impact_price) * ONE_MILLION / index - ONE_MILLION
    rounded = _quo(r.numerator, r.denominator)
    return max(-max_abs_premium_ppm, min(max_abs_premium_ppm, rounded))


# ============================================================================ premium from the order book
#: The largest premium-vote clamp ``GetPricePremium`` accepts (``MustConvertBigIntToInt32``).
MAX_INT32 = 2**31 - 1


def fill_amount_to_quote_quantums(subticks: int, base_quantums: int, quantum_conversion_exponent: int) -> int:
    """``clob/types/quantums.go::FillAmountToQuoteQuantums``: the quote quantums of ``base_quantums`` filled at
    ``subticks``, ``subticks · base · 10^qce`` (floored for a negative exponent, ``BigIntMulPow10`` rounding down)."""
    n = _int("subticks", subticks, nonneg=True) * _int("base_quantums", base_quantums, nonneg=True)
    e = _int("quantum_conversion_exponent", quantum_conversion_exponent)
    return n * 10**e if e >= 0 else n // 10**-e


def average_price_subticks(quote_quantums: int, base_quantums: int, quantum_conversion_exponent: int) -> Fraction:
    """``clob/types/quantums.go::GetAveragePriceSubticks``: the exact average price
    ``quote / (base · 10^qce)`` in subticks (a rational); zero base quantums is an error (upstream panics)."""
    if _int("base_quantums", base_quantums) == 0:
        raise InvalidInput("base_quantums", "the average price of zero base quantums is undefined")
    return Fraction(_int("quote_quantums", quote_quantums)) / base_quantums / Fraction(10) ** _int("quantum_conversion_exponent",
                                                                                                   quantum_conversion_exponent)


def price_to_subticks(price: int, exponent: int, quantum_conversion_exponent: int, atomic_resolution: int,
                      quote_atomic_resolution: int = QUOTE_ATOMIC_RESOLUTION) -> Fraction:
    """``clob/types/price_to_subticks.go::PriceToSubticks``: an oracle price ``price · 10^exponent`` as
    subticks, ``price · 10^(exponent − qce + atomic_resolution − quote_atomic_resolution)`` (exact rational)."""
    e = exponent - quantum_conversion_exponent + atomic_resolution - quote_atomic_resolution
    return Fraction(_int("price", price, nonneg=True)) * Fraction(10) ** e


def _book_side(orders, is_bid: bool) -> list[tuple[int, int, bool]]:
    """Resting orders ``(subticks, quantums[, collateralized])`` of one side, best price first (a stable sort
    keeps the given time priority within a price level)."""
    side = []
    for order in orders:
        subticks, quantums, *rest = order
        ok = rest[0] if rest else True
        if _int("quantums", quantums, nonneg=True) == 0:
            raise InvalidInput("quantums", "a resting order needs a positive remaining size")
        side.append((_int("subticks", subticks, nonneg=True), quantums, bool(ok)))
    return sorted(side, key=lambda o: -o[0] if is_bid else o[0])


def impact_price_subticks(orders, is_bid: bool, impact_notional: int, quantum_conversion_exponent: int) -> Fraction | None:
    """``memclob.go::getImpactPriceSubticks``: the average price (subticks, rational) at which an order of
    ``impact_notional`` quote quantums fills against one side of the book, or ``None`` when that side is too
    thin to absorb it.

    ``orders`` are the resting makers ``(subticks, remaining quantums[, collateralized])`` of the side
    (bids when ``is_bid``); makers whose collateral check fails (``collateralized`` false, the keeper's
    ``AddOrderToOrderbookSubaccountUpdatesCheck``) are skipped. Walking best first, a maker is taken whole
    while the remaining notional exceeds its full quote ``FillAmountToQuoteQuantums(subticks, size, qce)``,
    else the fraction ``remaining / full`` of its size; then
    ``impact = GetAveragePriceSubticks(impact_notional, ceil(Σ base), qce)``. A zero impact notional takes
    the best order's price (without a collateral check).
    """
    side = _book_side(orders, is_bid)
    remaining = _int("impact_notional", impact_notional, nonneg=True)
    if remaining == 0 and side:
        return Fraction(side[0][0])
    base = Fraction(0)
    for subticks, quantums, collateralized in side:
        if remaining <= 0:
            break
        if not collateralized:
            continue
        full = fill_amount_to_quote_quantums(subticks, quantums, quantum_conversion_exponent)
        base += quantums if remaining > full else Fraction(remaining, full) * quantums
        remaining -= full
    if remaining > 0:
        return None
    return average_price_subticks(impact_notional, _ceil_div(base.numerator, base.denominator), quantum_conversion_exponent)


def book_premium_ppm(bids, asks, index_price: int, index_exponent: int, atomic_resolution: int, quantum_conversion_exponent: int,
                     impact_notional: int, max_abs_premium_ppm: int, *, clob_pair_is_perpetual: bool = True) -> int:
    """``memclob.go::GetPricePremium`` (with ``getPricePremiumFromSide``): one premium vote (ppm) from the
    order book against the index.

    ``P = (max(0, impact bid − index) − max(0, index − impact ask)) / index``: with the index in subticks
    (:func:`price_to_subticks`), the impact bid is priced only when index < best bid, the impact ask only
    when index > best ask; the premium is ``premium_ppm(impact, index, max_abs_premium_ppm)`` (rounded toward
    zero, clamped) if the impact price still lies beyond the index, else 0 — also 0 for an empty book or a
    side too thin for ``impact_notional`` (:func:`impact_price_subticks`). ``bids``/``asks`` are resting
    orders ``(subticks, quantums[, collateralized])``. A clamp outside int32, a spot CLOB pair
    (``clob_pair_is_perpetual`` false: ``ErrPremiumWithNonPerpetualClobPair``, checked after the clamp and
    before the index), a zero index or a crossed book raise :class:`InvalidInput` (upstream panics or errors).
    """
    if not -MAX_INT32 - 1 <= _int("max_abs_premium_ppm", max_abs_premium_ppm) <= MAX_INT32:
        raise InvalidInput("max_abs_premium_ppm", "must fit an int32")
    if not clob_pair_is_perpetual:
        raise InvalidInput("clob_pair", "a price premium needs a perpetual CLOB pair, not a spot one")
    index = price_to_subticks(index_price, index_exponent, quantum_conversion_exponent, atomic_resolution)
    if index == 0:
        raise InvalidInput("index_price", "a zero index price has no premium")
    bid_side, ask_side = _book_side(bids, True), _book_side(asks, False)
    if not bid_side and not ask_side:
        return 0
    if bid_side and ask_side and bid_side[0][0] >= ask_side[0][0]:
        raise InvalidInput("book", "the order book is crossed")
    if bid_side and index < bid_side[0][0]:
        is_bid, orders = True, bids
    elif ask_side and index > ask_side[0][0]:
        is_bid, orders = False, asks
    else:
        return 0
    impact = impact_price_subticks(orders, is_bid, impact_notional, quantum_conversion_exponent)
    if impact is None or (is_bid and index >= impact) or (not is_bid and index <= impact):
        return 0
    return premium_ppm(impact, index, max_abs_premium_ppm)


#: ``ClobPair_STATUS_ACTIVE``: the only CLOB pair status whose book yields a premium.
CLOB_PAIR_STATUS_ACTIVE = "ACTIVE"


def premium_for_perpetual(perpetual_id: int, perpetual_to_clob_pair_ids, clob_pair_status, premium_of_clob_pair) -> int:
    """``clob/keeper/get_price_premium.go::GetPricePremiumForPerpetual`` (with ``clob_pair.go::GetClobPairIdForPerpetual``):
    the premium vote (ppm) of a perpetual from the book of its CLOB pair.

    ``perpetual_to_clob_pair_ids`` maps a perpetual id to its CLOB pair ids (exactly one is expected),
    ``clob_pair_status`` maps a CLOB pair id to its status and ``premium_of_clob_pair(clob_pair_id)`` is the
    memclob's premium of that pair (e.g. :func:`book_premium_ppm` over its book). A perpetual without CLOB
    pairs (``ErrNoClobPairForPerpetual``) or a CLOB pair id that is not stored (``ErrInvalidClob``) raise
    :class:`UnknownEntity`; zero or several pairs raise :class:`InvalidInput` (upstream panics); a pair
    whose status is not ``ACTIVE`` has premium 0 (its book is not read); errors of the book lookup propagate.
    """
    if perpetual_id not in perpetual_to_clob_pair_ids:
        raise UnknownEntity("perpetual_id", f"Perpetual ID {perpetual_id} has no associated CLOB pairs")
    ids = list(perpetual_to_clob_pair_ids[perpetual_id])
    if len(ids) != 1:
        raise InvalidInput("perpetual_id", f"perpetual {perpetual_id} must have exactly one CLOB pair, has {len(ids)}")
    clob_pair_id = ids[0]
    if clob_pair_id not in clob_pair_status:
        raise UnknownEntity("clob_pair_id", f"did not find clob pair with clobPairId = {clob_pair_id}")
    if clob_pair_status[clob_pair_id] != CLOB_PAIR_STATUS_ACTIVE:
        return 0
    return premium_of_clob_pair(clob_pair_id)


def median(values: list[int]) -> int:
    """``lib.Median``: the middle value; for an even count the two middle values' mean rounded away from zero."""
    if not values:
        raise InvalidInput("values", "the median of no values is undefined")
    v = sorted(values)
    mid = len(v) // 2
    if len(v) % 2:
        return v[mid]
    x, y = v[mid - 1], v[mid]
    if x <= 0 <= y:
        total = x + y
        return _quo(total, 2) + (abs(total) % 2) * (1 if total > 0 else -1)
    if y > 0:
        return y - (y - x) // 2
    return x + (y - x) // 2


def _avg_int32(values: list[int]) -> int:
    """``lib.AvgInt32``: the int64 sum over the count, truncated toward zero."""
    return _quo(sum(values), len(values))


def remove_sample_tails(samples: list[int], removal_ratio_ppm: int) -> list[int]:
    """``GetRemoveSampleTailsFunc``: sort, then drop ``floor(n · 2·ratio / 1e6)`` samples, the smaller
    half of them from the bottom and the rest from the top (unchanged — and unsorted — if none or all
    would go)."""
    total = _mul_ppm(len(samples), 2 * removal_ratio_ppm)
    if total == 0 or total >= len(samples):
        return list(samples)
    bottom = total // 2
    return sorted(samples)[bottom:len(samples) - (total - bottom)]


def summarize_premiums(premiums: list[int], num_premiums: int, min_required: int, combine, tail_removal_ratio_ppm: int = 0) -> int:
    """``processStoredPremiums`` for one market: pad the stored premiums with zeros to
    ``max(num_premiums, min_required)``, remove tails, combine (``median`` or the truncated mean)."""
    if len(premiums) > num_premiums:
        raise InvalidInput("premiums", f"{len(premiums)} premiums exceed the store's count {num_premiums}")
    padded = list(premiums) + [0] * (max(num_premiums, min_required) - len(premiums))
    return combine(remove_sample_tails(padded, tail_removal_ratio_ppm))


def funding_sample_ppm(votes: list[int], num_votes: int, min_num_votes: int = MIN_NUM_VOTES_PER_SAMPLE) -> int:
    """``processPremiumVotesIntoSamples``: one funding sample, the median of a market's premium votes
    padded with zeros to ``max(num_votes, min_num_votes)`` (0 when the market had no votes)."""
    if not votes:
        return 0
    return summarize_premiums(votes, num_votes, min_num_votes, median)


def is_new_funding_sample_epoch(current_epoch_start_block: int, block_height: int) -> bool:
    """``MaybeProcessNewFundingSampleEpoch``'s gate (``epochs/keeper/epoch_info.go::NumBlocksSinceEpochStart``):
    a block starts a new funding-sample epoch iff ``block_height − current_epoch_start_block == 0``. A block
    before the epoch's start block raises :class:`InvalidInput` (upstream's uint32 conversion panics)."""
    n = _int("block_height", block_height) - _int("current_epoch_start_block", current_epoch_start_block, nonneg=True)
    if n < 0:
        raise InvalidInput("block_height", "precedes the start block of the current funding-sample epoch")
    return n == 0


def maybe_process_new_funding_sample_epoch(current_epoch_start_block: int, block_height: int, votes, num_votes: int,
                                           min_num_votes: int = MIN_NUM_VOTES_PER_SAMPLE) -> tuple[dict[int, int], dict[int, list[int]]]:
    """``perpetuals/keeper/perpetual.go::MaybeProcessNewFundingSampleEpoch``: ``(new samples, premium votes left)``.

    ``votes`` maps a perpetual id to its premium votes (``NumPremiums`` = ``num_votes``). Outside the first
    block of a funding-sample epoch (:func:`is_new_funding_sample_epoch`) nothing happens: no sample, the votes
    stay. At the first block every perpetual's votes become one sample (:func:`funding_sample_ppm`), the zero
    samples are not stored, and the votes are cleared.
    """
    if not is_new_funding_sample_epoch(current_epoch_start_block, block_height):
        return {}, {pid: list(v) for pid, v in votes.items()}
    samples = {pid: funding_sample_ppm(list(v), num_votes, min_num_votes) for pid, v in votes.items()}
    return {pid: s for pid, s in samples.items() if s != 0}, {}


def funding_tick_rate_ppm(samples: list[int], num_samples: int, tier: LiquidityTier, *, default_funding_ppm: int = 0,
                          tick_duration_s: int = 3_600, sample_duration_s: int = 60,
                          clamp_factor_ppm: int = FUNDING_RATE_CLAMP_FACTOR_PPM) -> int:
    """``MaybeProcessNewFundingTickEpoch``: the 8-hour funding rate (ppm) of one perpetual.

    premium = truncated mean of the samples padded with zeros to ``max(num_samples, ⌈tick / sample⌉)``
    (``RemovedTailSampleRatioPpm`` = 0), 0 without samples; rate = premium + default funding, clamped
    to ``±tier.max_abs_funding_clamp_ppm(clamp_factor)``.
    """
    if _int("sample_duration_s", sample_duration_s, nonneg=True) == 0:
        raise InvalidInput("sample_duration_s", "must be positive")
    min_samples = -(-_int("tick_duration_s", tick_duration_s, nonneg=True) // sample_duration_s)
    premium = 0
    if samples:
        premium = summarize_premiums(samples, num_samples, min_samples, _avg_int32, REMOVED_TAIL_SAMPLE_RATIO_PPM)
    bound = tier.max_abs_funding_clamp_ppm(clamp_factor_ppm)
    return max(-bound, min(bound, premium + default_funding_ppm))


def funding_index_delta(rate_8h_ppm: int, seconds: int, atomic_resolution: int, price: int, exponent: int) -> int:
    """``funding.GetFundingIndexDelta``: ``trunc(BaseToQuote(seconds · rate) / 28,800)`` (ppm quote
    quantums per base quantum; the index of the perpetual grows by it at each funding tick)."""
    n = _int("seconds", seconds, nonneg=True) * _int("rate_8h_ppm", rate_8h_ppm)
    return _quo(base_to_quote_quantums(n, atomic_resolution, price, exponent), FUNDING_RATE_PERIOD_S)


def settlement_ppm(funding_index: int, last_funding_index: int, quantums: int) -> int:
    """``GetSettlementPpmWithPerpetual``: ``−(index − last index) · quantums`` (ppm quote quantums; > 0
    received). A long pays when the index rose."""
    return -(_int("funding_index", funding_index) - _int("last_funding_index", last_funding_index)) * _int("quantums", quantums)


# ============================================================================ partial liquidation
@dataclass(frozen=True)
class LiquidationsConfig:
    """The limits of ``LiquidationsConfig`` that size a liquidation (quote quantums / ppm)."""

    min_position_notional_liquidated: int = 1_000 * USDC
    max_position_portion_liquidated_ppm: int = 100_000
    max_notional_liquidated: int = 100_000 * USDC
    max_quantums_insurance_lost: int = 1_000_000 * USDC
    max_liquidation_fee_ppm: int = 15_000


#: ``liquidations_config`` of ``sample_pregenesis.json``.
LIQUIDATIONS_CONFIG = LiquidationsConfig()


def position_notional_liquidatable(position_notional: int, config: LiquidationsConfig = LIQUIDATIONS_CONFIG) -> tuple[int, int]:
    """``GetMaxAndMinPositionNotionalLiquidatable``: ``(min, max)`` notional of one liquidation of a
    position of ``position_notional`` quote quantums (its absolute value is used).

    ``min = min(MinPositionNotionalLiquidated, |n|)``; ``max = max(min, floor(|n| · portion / 1e6))``.
    """
    n = abs(_int("position_notional", position_notional))
    lo = min(config.min_position_notional_liquidated, n)
    return lo, max(lo, _mul_ppm(n, config.max_position_portion_liquidated_ppm))


def perpetual_net_notional(perpetual_id: int, quantums: int, perpetuals) -> int:
    """``perpetuals/keeper/perpetual.go::GetNetNotional``: the signed notional (quote quantums) of ``quantums`` of
    a perpetual, :func:`base_to_quote_quantums` at its market price. ``perpetuals`` maps a perpetual id to
    ``(atomic_resolution, price, exponent)``; an id it lacks raises :class:`UnknownEntity`
    (``ErrPerpetualDoesNotExist``)."""
    if perpetual_id not in perpetuals:
        raise UnknownEntity("perpetual_id", f"perpetual {perpetual_id} does not exist")
    atomic_resolution, price, exponent = perpetuals[perpetual_id]
    return base_to_quote_quantums(quantums, atomic_resolution, price, exponent)


def position_notional_liquidatable_for_perpetual(perpetual_id: int, quantums: int, perpetuals,
                                                  config: LiquidationsConfig = LIQUIDATIONS_CONFIG) -> tuple[int, int]:
    """``clob/keeper/liquidations.go::GetMaxAndMinPositionNotionalLiquidatable`` from a position: its notional by
    :func:`perpetual_net_notional` (a missing perpetual raises :class:`UnknownEntity`), then
    :func:`position_notional_liquidatable`."""
    return position_notional_liquidatable(perpetual_net_notional(perpetual_id, quantums, perpetuals), config)


def subaccount_max_notional_liquidatable(notional_liquidated: int, config: LiquidationsConfig = LIQUIDATIONS_CONFIG, *,
                                         perpetual_already_liquidated: bool = False) -> int:
    """``GetSubaccountMaxNotionalLiquidatable``: the room left in this block,
    ``MaxNotionalLiquidated − notional liquidated so far``.

    Raises :class:`InvalidInput` if the perpetual was already liquidated for the subaccount this
    block (``ErrSubaccountHasLiquidatedPerpetual``) or the limit is exceeded (the source panics).
    """
    return _block_room(notional_liquidated, config.max_notional_liquidated, perpetual_already_liquidated, "notional_liquidated")


def subaccount_max_insurance_lost(insurance_lost: int, config: LiquidationsConfig = LIQUIDATIONS_CONFIG, *,
                                  perpetual_already_liquidated: bool = False) -> int:
    """``GetSubaccountMaxInsuranceLost``: ``MaxQuantumsInsuranceLost − insurance fund lost so far`` (the
    losses are the absolute values of the negative insurance-fund deltas, as ``UpdateSubaccountLiquidationInfo``)."""
    return _block_room(insurance_lost, config.max_quantums_insurance_lost, perpetual_already_liquidated, "insurance_lost")


def _block_room(used: int, limit: int, already: bool, name: str) -> int:
    if already:
        raise InvalidInput("perpetual", "the subaccount and perpetual have already been liquidated within this block")
    if _int(name, used, nonneg=True) > limit:
        raise InvalidInput(name, f"{used} exceeds the block limit {limit}")
    return limit - used


def liquidatable_position_size_delta(quantums: int, atomic_resolution: int, price: int, exponent: int, step_base_quantums: int,
                                     config: LiquidationsConfig = LIQUIDATIONS_CONFIG, *, notional_liquidated: int = 0) -> int:
    """``GetLiquidatablePositionSizeDelta``: the signed size (base quantums, opposite to the position)
    one liquidation order may close.

    The whole position if its notional is within ``min(max notional, block room)`` or it is at most one
    step; otherwise that notional converted to base quantums (toward zero), rounded down to the step
    size and clamped to ``[step, |position|]``.
    """
    q = _int("quantums", quantums)
    if q == 0:
        raise InvalidInput("quantums", "no position to liquidate")
    step = _int("step_base_quantums", step_base_quantums, nonneg=True)
    if step == 0:
        raise InvalidInput("step_base_quantums", "must be positive")
    notional = base_to_quote_quantums(q, atomic_resolution, price, exponent)
    _lo, hi = position_notional_liquidatable(notional, config)
    limit = min(hi, subaccount_max_notional_liquidatable(notional_liquidated, config))
    if abs(notional) <= limit or abs(q) <= step:
        return -q
    size = quote_to_base_quantums(limit, atomic_resolution, price, exponent)
    size = size // step * step
    size = max(step, min(abs(q), size))
    return -size if q > 0 else size
