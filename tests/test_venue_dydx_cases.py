"""dYdX v4's own unit-test tables, ported as data and run against :mod:`ramparts.venues.dydx`.

Every row names its source: the Go test file and test function in dydxprotocol/v4-chain at the
pinned commit, and the case's name in that function's table. Inputs and expected outputs are the
upstream ones (quote quantums, base quantums, ppm); every assertion is exact integer equality, as
upstream's ``require.Equal``. The keeper plumbing the Go tests go through (stores, epochs, CLOB
pairs) is replaced by the values it hands the functions under test: market prices from
``testutil/constants/prices.go`` (BTC 5,000,000,000 × 10^-5, ETH 3,000,000,000 × 10^-6), liquidity
tiers from ``testutil/constants/perpetuals.go`` and step sizes from ``testutil/constants/clob_pair.go``.

Coverage of the upstream test functions ported here: all 138 of their 138 cases (was 130 of 133 before the
epoch gate, the perpetual lookup, the spot CLOB pair check and the keeper's premium lookup were added):
TestGetFundingIndexDelta 4/4, TestGetSettlementPpmWithPerpetual 13/13,
TestLiquidityTierGetMaintenanceMarginPpm 7/7, TestLiquidityTierGetMaxAbsFundingClampPpm 7/7,
TestGetRemoveSampleTailsFunc 8/8, TestMaybeProcessNewFundingSampleEpoch 6/6,
TestMaybeProcessNewFundingTickEpoch_ProcessNewEpoch 18/18, TestGetMaxAndMinPositionNotionalLiquidatable 4/4,
TestGetMaxLiquidatableNotionalAndInsuranceLost 4/4, TestGetPerpetualPositionToLiquidate 18/18,
TestFillAmountToQuoteQuantums 5/5, TestGetAveragePriceSubticks 5/5, TestPriceToSubticks 3/3,
TestMemClobPriceTimePriority_getImpactPriceSubticks 14/14, TestGetPremiumPrice 17/17,
TestGetPricePremiumForPerpetual 5/5.

How the keeper state is stood in for: the funding-sample epoch is its start block and the block height
(:func:`dydx.is_new_funding_sample_epoch`); the keeper's perpetuals are a mapping passed in (a missing id raises
``UnknownEntity``, as ``ErrPerpetualDoesNotExist``); a spot CLOB pair is a flag of :func:`dydx.book_premium_ppm`;
``GetPricePremiumForPerpetual``'s perpetual → CLOB pair map, CLOB pair statuses and mocked memclob are arguments of
:func:`dydx.premium_for_perpetual` (the mock is a callable returning the mock's value or raising its error).
Upstream's events (the emitted ABCI events of the sample epoch, the indexer's market-create events) are not
asserted: ramparts emits none.

Not modelled (no upstream case is left out for it):

- The maker collateral check inside getImpactPriceSubticks (the keeper's AddOrderToOrderbookSubaccountUpdatesCheck)
  is not ported: the impact-price rows take each maker's pass/fail as an input (see that table's comment).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.venues import dydx

COMMIT = "84d4664bae71e3a077adaac67fb77ad19cd28d30"
MAX_INT32, MIN_INT32, MAX_UINT64, MAX_UINT32 = 2**31 - 1, -(2**31), 2**64 - 1, 2**32 - 1

# testutil/constants/prices.go: TestMarketPrices (price, exponent) by market id
MARKETS = {0: (5_000_000_000, -5), 1: (3_000_000_000, -6)}
# testutil/constants/perpetuals.go: LiquidityTiers (initial margin ppm, maintenance fraction ppm)
TIERS = {0: (1_000_000, 1_000_000), 1: (1_000_000, 750_000), 2: (1_000_000, 0), 3: (200_000, 500_000),
         4: (500_000, 800_000), 5: (500_000, 600_000), 6: (200_000, 900_000)}
# testutil/constants/perpetuals.go: perpetuals (market id, atomic resolution, default funding ppm, liquidity tier)
PERPS = {
    "BtcUsd_0DefaultFunding_10AtomicResolution": (0, -10, 0, 1),
    "BtcUsd_0DefaultFunding_10AtomicResolution_20IM_18MM": (0, -10, 0, 6),
    "EthUsd_0DefaultFunding_9AtomicResolution": (1, -9, 0, 5),
    "BtcUsd_0_001Percent_DefaultFunding_10AtomicResolution": (0, -10, 1_000, 1),
    "BtcUsd_0DefaultFunding_0AtomicResolution": (0, 0, 0, 2),
    "BtcUsd_NegativeDefaultFunding_10AtomicResolution": (0, -10, -1_000, 1),
    "BtcUsd_100PercentMarginRequirement": (0, -8, 0, 0),
    "BtcUsd_20PercentInitial_10PercentMaintenance": (0, -8, 0, 3),
    "EthUsd_20PercentInitial_10PercentMaintenance": (1, -9, 0, 3),
}


def _src(path: str, func: str, case: str) -> str:
    return f"v4-chain@{COMMIT[:7]}:{path}::{func}[{case}]"


def _tier(tier_id: int) -> dydx.LiquidityTier:
    imf, mf = TIERS[tier_id]
    return dydx.LiquidityTier(str(tier_id), imf, mf)


# ============================================================================ funding
# protocol/x/perpetuals/funding/funding_test.go :: TestGetFundingIndexDelta
# (atomic resolution, price, exponent, 8h funding rate ppm, seconds since last funding, expected delta)
FUNDING_INDEX_DELTA = [
    ("Positive Funding Rate (rounds towards zero)", -12, 1_000, 0, 1_001_999, 8 * 60 * 60, 1_001),
    ("Negative Funding Rate (rounds towards zero)", -12, 1_000, 0, -1_001_999, 8 * 60 * 60, -1_001),
    ("Varied parameters (1)", -4, 1_000, 2, -1_001_999, 8 * 60 * 60 // 2, -5_009_995_000_000),
    ("Varied parameters (2)", 0, 1_000, -6, -1_001_999, 8 * 60 * 60 // 8, -125_249_875),
]


@pytest.mark.parametrize("case, atomic, price, exponent, rate, seconds, expected", FUNDING_INDEX_DELTA,
                         ids=[_src("protocol/x/perpetuals/funding/funding_test.go", "TestGetFundingIndexDelta", r[0]) for r in FUNDING_INDEX_DELTA])
def test_get_funding_index_delta(case, atomic, price, exponent, rate, seconds, expected):
    assert dydx.funding_index_delta(rate, seconds, atomic, price, exponent) == expected


# protocol/x/perpetuals/lib/lib_test.go :: TestGetSettlementPpmWithPerpetual
# (perpetual funding index, position quantums, the position's last index, expected net settlement ppm)
SETTLEMENT = [
    ("zero indexDelta", 4_000_000_000, 1_000_000, 4_000_000_000, 0),
    ("positive indexDelta, positive quantums", 123_456_789_123, 1_000_000, 100_000_000_000, -23_456_789_123_000_000),
    ("positive indexDelta, negative quantums", 123_456_789_123, -1_000_000, 100_000_000_000, 23_456_789_123_000_000),
    ("negative indexDelta, positive quantums", -123_456_789_123, 1_000_000, -100_000_000_000, 23_456_789_123_000_000),
    ("negative indexDelta, negative quantums", -123_456_789_123, -1_000_000, -100_000_000_000, -23_456_789_123_000_000),
    ("is long, index went from negative to positive", 100, 30_000, -100, -6_000_000),
    ("is long, index unchanged", 100, 1_000_000, 100, 0),
    ("is long, index went from positive to zero", 0, 10_000_000, 100, 1_000_000_000),
    ("is long, index went from positive to negative", -200, 10_000_000, 100, 3_000_000_000),
    ("is short, index went from negative to positive", 100, -30_000, -100, 6_000_000),
    ("is short, index unchanged", 100, -1_000, 100, 0),
    ("is short, index went from positive to zero", 0, -5_000_000, 100, -500_000_000),
    ("is short, index went from positive to negative", -50, -5_000_000, 100, -750_000_000),
]


@pytest.mark.parametrize("case, funding_index, quantums, last_index, expected", SETTLEMENT,
                         ids=[_src("protocol/x/perpetuals/lib/lib_test.go", "TestGetSettlementPpmWithPerpetual", r[0]) for r in SETTLEMENT])
def test_get_settlement_ppm_with_perpetual(case, funding_index, quantums, last_index, expected):
    assert dydx.settlement_ppm(funding_index, last_index, quantums) == expected


# protocol/x/perpetuals/types/liquidity_tier_test.go :: TestLiquidityTierGetMaintenanceMarginPpm
MAINTENANCE_PPM = [
    ("15% initial margin, 80% maintenance fraction", 150_000, 800_000, 120_000),
    ("45% initial margin, 77% maintenance fraction", 450_000, 770_000, 346_500),
    ("63.7239% initial margin, 28.9284% maintenance fraction", 637_239, 289_284, 184_343),
    ("100% initial margin, 100% maintenance fraction", 1_000_000, 1_000_000, 1_000_000),
    ("0% initial margin, 100% maintenance fraction", 0, 1_000_000, 0),
    ("0% initial margin, 0% maintenance fraction", 0, 0, 0),
    ("100% initial margin, 0% maintenance fraction", 1_000_000, 0, 0),
]


@pytest.mark.parametrize("case, imf, mf, expected", MAINTENANCE_PPM,
                         ids=[_src("protocol/x/perpetuals/types/liquidity_tier_test.go", "TestLiquidityTierGetMaintenanceMarginPpm", r[0])
                              for r in MAINTENANCE_PPM])
def test_liquidity_tier_get_maintenance_margin_ppm(case, imf, mf, expected):
    assert dydx.LiquidityTier(case, imf, mf).maintenance_margin_ppm == expected


# protocol/x/perpetuals/types/liquidity_tier_test.go :: TestLiquidityTierGetMaxAbsFundingClampPpm
CLAMP_PPM = [
    ("600% clamp factor, 15% initial margin, 80% maintenance fraction", 6_000_000, 150_000, 800_000, 180_000),
    ("600% clamp factor, 45% initial margin, 100% maintenance fraction", 6_000_000, 450_000, 1_000_000, 0),
    ("600% clamp factor, 0% initial margin, 100% maintenance fraction", 6_000_000, 0, 1_000_000, 0),
    ("300% clamp factor, 100% initial margin, 0% maintenance fraction", 3_000_000, 1_000_000, 0, 3_000_000),
    ("0% clamp factor, 100% initial margin, 0% maintenance fraction", 0, 1_000_000, 1_000_000, 0),
    ("max clamp factor, 100% initial margin, 0% maintenance fraction", MAX_UINT32, 1_000_000, 0, MAX_UINT32),
    ("42_397.8721% clamp factor, 74.5345% initial margin, 56.4947% maintenance fraction", 423_978_721, 745_345, 564_947, 137_481_459),
]


@pytest.mark.parametrize("case, factor, imf, mf, expected", CLAMP_PPM,
                         ids=[_src("protocol/x/perpetuals/types/liquidity_tier_test.go", "TestLiquidityTierGetMaxAbsFundingClampPpm", r[0])
                              for r in CLAMP_PPM])
def test_liquidity_tier_get_max_abs_funding_clamp_ppm(case, factor, imf, mf, expected):
    assert dydx.LiquidityTier(case, imf, mf).max_abs_funding_clamp_ppm(factor) == expected
    assert dydx.max_abs_funding_clamp_ppm(imf, mf, factor) == expected


# protocol/x/perpetuals/keeper/perpetual_test.go :: TestGetRemoveSampleTailsFunc
TAILS = [
    ("25%, input length = 0", 250_000, [], []),
    ("25%, input length = 1", 250_000, [0], [0]),
    ("25%, input length = 3", 250_000, [0, -1, -3], [-3, -1]),
    ("25%, input length = 4", 250_000, [0, -1, -3, 5], [-1, 0]),
    ("25%, input length = 5", 250_000, [0, -1, -3, 5, 7], [-1, 0, 5]),
    ("25%, input length = 6", 250_000, [0, -1, -3, -5, 5, 7], [-3, -1, 0]),
    ("10%, input length = 5", 100_000, [0, -1, -3, -5, 5], [-5, -3, -1, 0]),
    ("80%, invalid removal ratio, skips removing samples", 800_000, [0, -1, -3, -5, 5], [0, -1, -3, -5, 5]),
]


@pytest.mark.parametrize("case, ratio, samples, expected", TAILS,
                         ids=[_src("protocol/x/perpetuals/keeper/perpetual_test.go", "TestGetRemoveSampleTailsFunc", r[0]) for r in TAILS])
def test_get_remove_sample_tails_func(case, ratio, samples, expected):
    assert dydx.remove_sample_tails(samples, ratio) == expected


# protocol/x/perpetuals/keeper/perpetual_test.go :: TestMaybeProcessNewFundingSampleEpoch
# (case, MinNumVotesPerSample, premium votes' NumPremiums, {perpetual id: votes}, {perpetual id: new sample})
# A zero sample is not stored (so absent from the expected samples); a perpetual without votes has none.
# The funding-sample epoch starts at block 23 (currentEpochStartBlock); every "New epoch" case runs at block 23 and
# expects the votes reset to empty; "Not new epoch" runs at block 25 and expects no sample and the votes unchanged
# (its store has no NumPremiums, Go's zero value).
SAMPLE_EPOCH = [
    ("Not new epoch", 1, 0, {0: [51, 51, -100, -100]}, {}),
    ("New epoch, empty premium samples storage", 1, 4, {0: [51, 51, -100, -100], 1: [51, 51, 100, 100]}, {0: -25, 1: 76}),
    ("New epoch, add new sample to existing samples, skip zero samples", 1, 6,
     {0: [-1000, 1000, 51, -50, 100, -100], 1: [0, 0, 1, 2, 3, 4], 2: [-1000, -500, -5, 5, 500, 1000]}, {0: 1, 1: 2}),
    ("New epoch, add zero paddings, NumPremiums > MinNumVotesPerSample", 2, 4,
     {0: [1000], 1: [-5, -10], 2: [200, -100, 100]}, {1: -3, 2: 50}),
    ("New epoch, add zero paddings, NumPremiums < MinNumVotesPerSample", 6, 5,
     {0: [1000], 1: [20, -20], 2: [-5, -10, 2, -1], 3: [200, -100, 100, 30, 40]}, {2: -1, 3: 35}),
]


@pytest.mark.parametrize("case, min_votes, num, votes, expected", SAMPLE_EPOCH,
                         ids=[_src("protocol/x/perpetuals/keeper/perpetual_test.go", "TestMaybeProcessNewFundingSampleEpoch", r[0])
                              for r in SAMPLE_EPOCH])
def test_maybe_process_new_funding_sample_epoch(case, min_votes, num, votes, expected):
    new_epoch = case != "Not new epoch"
    block_height = 23 if new_epoch else 25
    assert dydx.is_new_funding_sample_epoch(23, block_height) is new_epoch
    samples, votes_left = dydx.maybe_process_new_funding_sample_epoch(23, block_height, votes, num, min_votes)
    assert samples == expected
    assert votes_left == ({} if new_epoch else votes)
    if new_epoch:
        got = {pid: dydx.funding_sample_ppm(v, num, min_votes) for pid, v in votes.items()}
        assert {pid: s for pid, s in got.items() if s != 0} == expected


def test_maybe_process_new_funding_sample_epoch_panic_more_premiums_than_num_premiums():
    # same file and function, case "Panic: `NumPremiums` < premium entries length" (the keeper panics)
    with pytest.raises(InvalidInput):
        dydx.funding_sample_ppm([1, 2, 3], 1, 1)


# protocol/x/perpetuals/keeper/perpetual_test.go :: TestMaybeProcessNewFundingTickEpoch_ProcessNewEpoch
# (case, funding-sample duration, funding-tick duration, perpetuals, samples, expected index deltas, expected rates)
def _const(value: int, n: int) -> list[int]:  # constants.GenerateConstantFundingPremiums
    return [value] * n


BTC10 = "BtcUsd_0DefaultFunding_10AtomicResolution"
BTC10_20_18 = "BtcUsd_0DefaultFunding_10AtomicResolution_20IM_18MM"
TICK_EPOCH = [
    ("Success: 60 equivalent samples of 0.001 percent, 60 samples expected", 60, 3600, [BTC10], _const(1000, 60), [625], [1_000]),
    ("Success: 60 equivalent samples of -0.001 percent, 60 samples expected", 60, 3600, [BTC10], _const(-1000, 60), [-625], [-1_000]),
    ("Success: 60 equivalent samples of int32 max, 60 samples expected", 60, 3600, [BTC10], _const(MAX_INT32, 60), [937500],
     [1_500_000]),
    ("Success: 60 equivalent samples of int32 min, 60 samples expected", 60, 3600, [BTC10], _const(MIN_INT32, 60), [-937500],
     [-1_500_000]),
    ("Success: 60 equivalent samples of 0.2 percent, 60 samples expected", 60, 3600, [BTC10], _const(2000, 60), [1250], [2_000]),
    ("Success: 60 equivalent samples of 15 percent, 60 samples expected, 20% IM, 18% MM", 60, 3600, [BTC10_20_18],
     _const(150_000, 60), [75000], [120_000]),
    ("Success: 60 equivalent samples of -15 percent, 60 samples expected, 20% IM, 18% MM", 60, 3600, [BTC10_20_18],
     _const(-150_000, 60), [-75000], [-120_000]),
    ("Success: 60 equivalent samples of 12 percent, 60 samples expected, 20% IM, 18% MM", 60, 3600, [BTC10_20_18],
     _const(120_000, 60), [75000], [120_000]),
    ("Success: 60 equivalent samples of -12 percent, 60 samples expected, 20% IM, 18% MM", 60, 3600, [BTC10_20_18],
     _const(-120_000, 60), [-75000], [-120_000]),
    ("Success: 60 equivalent samples of 12 percent, 60 samples expected, IM equal to MM", 60, 3600,
     ["BtcUsd_100PercentMarginRequirement"], _const(120_000, 60), [0], [0]),
    ("Success: 60 equivalent samples of 0.001 percent, 60 samples expected, two perpetuals", 60, 3600,
     [BTC10, "EthUsd_0DefaultFunding_9AtomicResolution"], _const(1000, 60), [625, 375], [1_000, 1_000]),
    ("Success: 60 equivalent samples of 0.001 percent, 120 samples expected", 30, 3600, [BTC10], _const(1000, 60), [312], [500]),
    ("Success: 30 equivalent samples of 0.001 percent, 60 samples expected", 60, 3600, [BTC10], _const(1000, 30), [312], [500]),
    ("Success: 60 equivalent samples of 0.001 percent, default funding = 0.001 percent, 60 samples expected", 60, 3600,
     ["BtcUsd_0_001Percent_DefaultFunding_10AtomicResolution"], _const(1000, 60), [1250], [2_000]),
    # constants.GenerateFundingSamplesWithValues([1000, 5000], [75, 25])
    ("Success: more than expected funding samples recorded, 60 samples expected", 60, 3600, [BTC10],
     _const(1000, 75) + _const(5000, 25), [1250], [2_000]),
    ("Success: funding index greater than MaxInt64 (doesn't overflow), 60 samples expected", 60, 3600,
     ["BtcUsd_0DefaultFunding_0AtomicResolution"], _const(MAX_INT32, 60), [37500000000000000], [6_000_000]),
    ("Success: no samples", 60, 3600, ["BtcUsd_0DefaultFunding_0AtomicResolution"], [], [0], [0]),
    ("Success: no samples, -0.001 percent default funding, negative funding rate expected", 60, 3600,
     ["BtcUsd_NegativeDefaultFunding_10AtomicResolution"], [], [-625], [-1000]),
]


@pytest.mark.parametrize("case, sample_s, tick_s, perps, samples, deltas, rates", TICK_EPOCH,
                         ids=[_src("protocol/x/perpetuals/keeper/perpetual_test.go", "TestMaybeProcessNewFundingTickEpoch_ProcessNewEpoch", r[0])
                              for r in TICK_EPOCH])
def test_maybe_process_new_funding_tick_epoch(case, sample_s, tick_s, perps, samples, deltas, rates):
    for name, delta, rate in zip(perps, deltas, rates, strict=True):
        market, atomic, default_funding, tier = PERPS[name]
        got_rate = dydx.funding_tick_rate_ppm(samples, len(samples), _tier(tier), default_funding_ppm=default_funding,
                                              tick_duration_s=tick_s, sample_duration_s=sample_s,
                                              clamp_factor_ppm=dydx.FUNDING_RATE_CLAMP_FACTOR_PPM)
        assert got_rate == rate  # the event's FundingValuePpm
        price, exponent = MARKETS[market]
        # the keeper moves the index only for a non-zero rate, by GetFundingIndexDelta over the tick duration
        got_delta = dydx.funding_index_delta(got_rate, tick_s, atomic, price, exponent) if got_rate else 0
        assert got_delta == delta


def test_premium_rounds_toward_zero_and_is_clamped():
    # memclob.go getPricePremiumFromSide on given impact prices (the book-driven upstream table is
    # TestGetPremiumPrice below): impact / index − 1 in ppm, rounded toward zero, clamped to the
    # premium-vote clamp of the tier (60e6 × (IMF − MMF))
    large = dydx.LIQUIDITY_TIERS["Large-Cap"]
    clamp = large.max_abs_funding_clamp_ppm(dydx.PREMIUM_VOTE_CLAMP_FACTOR_PPM)
    assert clamp == 480_000  # 60 × (2 % − 1.2 %)
    assert dydx.premium_ppm(10_000_015, 10_000_000, clamp) == 1  # +1.5 ppm → 1
    assert dydx.premium_ppm(9_999_985, 10_000_000, clamp) == -1  # −1.5 ppm → −1 (toward zero)
    assert dydx.premium_ppm(200, 100, clamp) == clamp and dydx.premium_ppm(1, 100, clamp) == -clamp
    assert large.impact_notional == 10_000 * dydx.USDC


# ============================================================================ partial liquidation
NO_LIMIT = dict(min_position_notional_liquidated=1, max_position_portion_liquidated_ppm=1_000_000,
                max_notional_liquidated=MAX_UINT64, max_quantums_insurance_lost=MAX_UINT64)


def _config(position=None, subaccount=None) -> dydx.LiquidationsConfig:
    kw = dict(NO_LIMIT)
    if position:
        kw.update(min_position_notional_liquidated=position[0], max_position_portion_liquidated_ppm=position[1])
    if subaccount:
        kw.update(max_notional_liquidated=subaccount[0], max_quantums_insurance_lost=subaccount[1])
    return dydx.LiquidationsConfig(**kw)


# protocol/x/clob/keeper/liquidations_test.go :: TestGetMaxAndMinPositionNotionalLiquidatable
# perpetual BtcUsd_100PercentMarginRequirement (atomic resolution −8) on market 0
# (case, (MinPositionNotionalLiquidated, MaxPositionPortionLiquidatedPpm), position quantums, expected min, expected max)
MIN_MAX_NOTIONAL = [
    ("Can get min notional liquidatable", (100, 1_000_000), 100_000_000, 100, 50_000_000_000),
    ("Can get max notional liquidatable", (100, 500_000), 100_000_000, 100, 25_000_000_000),
    ("min and max notional liquidatable can be overridden", (10_000_000, 1_000_000), 10_000, 5_000_000, 5_000_000),
]
# the perpetuals the keeper holds in this test: BtcUsd_100PercentMarginRequirement (id 0) only
MIN_MAX_PERPETUALS = {0: (PERPS["BtcUsd_100PercentMarginRequirement"][1], *MARKETS[0])}


@pytest.mark.parametrize("case, limits, quantums, lo, hi", MIN_MAX_NOTIONAL,
                         ids=[_src("protocol/x/clob/keeper/liquidations_test.go", "TestGetMaxAndMinPositionNotionalLiquidatable", r[0])
                              for r in MIN_MAX_NOTIONAL])
def test_get_max_and_min_position_notional_liquidatable(case, limits, quantums, lo, hi):
    market, atomic, _f, _t = PERPS["BtcUsd_100PercentMarginRequirement"]
    notional = dydx.base_to_quote_quantums(quantums, atomic, *MARKETS[market])
    assert dydx.position_notional_liquidatable(notional, _config(position=limits)) == (lo, hi)
    assert dydx.position_notional_liquidatable_for_perpetual(0, quantums, MIN_MAX_PERPETUALS, _config(position=limits)) == (lo, hi)


def test_get_max_and_min_position_notional_liquidatable_errors_are_propagated():
    # same file and function, case "errors are propagated": a position in perpetual 999, which does not exist
    # (LiquidationsConfig_No_Limit; quantums 1) -> perptypes.ErrPerpetualDoesNotExist
    with pytest.raises(UnknownEntity) as err:
        dydx.position_notional_liquidatable_for_perpetual(999, 1, MIN_MAX_PERPETUALS, _config())
    assert err.value.field == "perpetual_id"


# protocol/x/clob/keeper/liquidations_test.go :: TestGetMaxLiquidatableNotionalAndInsuranceLost
# (case, (MaxNotionalLiquidated, MaxQuantumsInsuranceLost) or None for LiquidationsConfig_No_Limit,
#  perpetual already liquidated this block, notional liquidated so far, insurance lost so far (|−100|),
#  expected max notional or None (error / panic), expected max insurance lost or None)
BLOCK_LIMITS = [
    ("Can get max notional liquidatable and insurance lost", (150, 150), False, 100, 100, 50, 50),
    ("Same perpetual id", None, True, 100, 100, None, None),
    ("invalid notional liquidated", (50, 150), False, 100, 100, None, 50),
    ("invalid insurance lost", (150, 50), False, 100, 100, 50, None),
]


@pytest.mark.parametrize("case, limits, already, notional, lost, max_notional, max_lost", BLOCK_LIMITS,
                         ids=[_src("protocol/x/clob/keeper/liquidations_test.go", "TestGetMaxLiquidatableNotionalAndInsuranceLost", r[0])
                              for r in BLOCK_LIMITS])
def test_get_max_liquidatable_notional_and_insurance_lost(case, limits, already, notional, lost, max_notional, max_lost):
    cfg = _config(subaccount=limits)
    for fn, used, expected in ((dydx.subaccount_max_notional_liquidatable, notional, max_notional),
                               (dydx.subaccount_max_insurance_lost, lost, max_lost)):
        if expected is None:
            with pytest.raises(InvalidInput):
                fn(used, cfg, perpetual_already_liquidated=already)
        else:
            assert fn(used, cfg, perpetual_already_liquidated=already) == expected


# protocol/x/clob/keeper/liquidations_test.go :: TestGetPerpetualPositionToLiquidate (its single-position
# subaccounts: the size comes from GetLiquidatablePositionSizeDelta)
# (case, perpetual, position quantums, position block limits or None, subaccount block limits or None, step base
#  quantums of the CLOB pair, expected delta quantums)
BTC20 = "BtcUsd_20PercentInitial_10PercentMaintenance"
ETH20 = "EthUsd_20PercentInitial_10PercentMaintenance"
BTC_STEP, BTC3_STEP, ETH_STEP = 5, 10, 1000  # ClobPair_Btc, ClobPair_Btc3, ClobPair_Eth
SIZE_DELTA = [
    ("Full position size is returned when subaccount has one perpetual long position", BTC20, 10_000_000, None, None, BTC_STEP,
     -10_000_000),
    ("Full position size is returned when MinPositionNotionalLiquidated is greater than position size", BTC20, 10_000_000,
     (10_000_000_000, 1_000_000), None, BTC_STEP, -10_000_000),
    ("Half position size is returned when MaxPositionPortionLiquidatedPpm is 500,000", BTC20, 10_000_000, (1_000, 500_000), None,
     BTC_STEP, -5_000_000),
    ("full position is returned when position size is smaller than StepBaseQuantums", BTC20, 5, (1, 100_000), None, BTC3_STEP, -5),
    ("returned position size is rounded down to the nearest clob.stepBaseQuantums", BTC20, 140, (1, 100_000), None, BTC_STEP, -10),
    ("returned position size is at least clob.stepBaseQuantums", BTC20, 20, (1, 100_000), None, BTC_STEP, -5),
    ("Full position is returned when position smaller than subaccount limit", BTC20, 10_000_000, None,
     (10_000_000_000, MAX_UINT64), BTC_STEP, -10_000_000),
    ("Max subaccount limit is returned when position larger than subaccount limit", BTC20, 10_000_000, None,
     (2_500_000_000, MAX_UINT64), BTC_STEP, -5_000_000),
    ("position size is capped by subaccount block limit when subaccount limit is lower than position block limit", BTC20,
     10_000_000, (1_000, 500_000), (2_000_000_000, MAX_UINT64), BTC_STEP, -4_000_000),
    ("position size is capped by position block limit when position limit is lower than subaccount block limit", BTC20,
     10_000_000, (1_000, 400_000), (2_500_000_000, MAX_UINT64), BTC_STEP, -4_000_000),
    ("Result is rounded to nearest step size", BTC20, 21, (1_000, 500_000), None, 3, -9),
    ("Full position size is returned when subaccount has one perpetual short position", BTC20, -100_000_000, None, None, BTC_STEP,
     100_000_000),
    ("Full position size (short) is returned when MinPositionNotionalLiquidated is greater than position size", BTC20,
     -10_000_000, (10_000_000_000, 1_000_000), None, BTC_STEP, 10_000_000),
    ("Half position size (short) is returned when MaxPositionPortionLiquidatedPpm is 500,000", BTC20, -10_000_000,
     (1_000, 500_000), None, BTC_STEP, 5_000_000),
    ("Full position (short) is returned when position smaller than subaccount limit", BTC20, -10_000_000, None,
     (10_000_000_000, MAX_UINT64), BTC_STEP, 10_000_000),
    ("Max subaccount limit is returned when short position larger than subaccount limit", BTC20, -10_000_000, None,
     (2_500_000_000, MAX_UINT64), BTC_STEP, 5_000_000),
    ("Full position size of max uint64 of perpetual and CLOB pair are returned when subaccount has one long perpetual "
     "position at max position size", ETH20, MAX_UINT64, None, None, ETH_STEP, -6148914691236517000),
    ("Full position size of negated max uint64 of perpetual and CLOB pair are returned when subaccount has one short "
     "perpetual position at max position size", ETH20, -MAX_UINT64, None, None, ETH_STEP, 6148914691236517000),
]


@pytest.mark.parametrize("case, perp, quantums, position, subaccount, step, expected", SIZE_DELTA,
                         ids=[_src("protocol/x/clob/keeper/liquidations_test.go", "TestGetPerpetualPositionToLiquidate", r[0])
                              for r in SIZE_DELTA])
def test_get_liquidatable_position_size_delta(case, perp, quantums, position, subaccount, step, expected):
    market, atomic, _f, _t = PERPS[perp]
    price, exponent = MARKETS[market]
    cfg = _config(position=position, subaccount=subaccount)
    assert dydx.liquidatable_position_size_delta(quantums, atomic, price, exponent, step, cfg) == expected


def test_mainnet_like_liquidation_limits_and_median_rounding():
    # sample_pregenesis.json: 10 % of a 50,000 USDC position per step, at least 1,000 USDC; the subaccount's room
    assert dydx.position_notional_liquidatable(50_000 * dydx.USDC) == (1_000 * dydx.USDC, 5_000 * dydx.USDC)
    assert dydx.position_notional_liquidatable(-500 * dydx.USDC) == (500 * dydx.USDC, 500 * dydx.USDC)
    assert dydx.subaccount_max_notional_liquidatable(30_000 * dydx.USDC) == 70_000 * dydx.USDC
    # lib.Median: the mean of the two middle values rounded away from zero
    assert [dydx.median(v) for v in ([1, 2], [-1, -2], [-3, 2], [3, -2], [5], [0, 0])] == [2, -2, -1, 1, 5, 0]
    with pytest.raises(InvalidInput):
        dydx.liquidatable_position_size_delta(0, -8, 5_000_000_000, -5, 5)


# ============================================================================ premium from the order book
# protocol/x/clob/types/quantums_test.go :: TestFillAmountToQuoteQuantums (base quantums, subticks, qce, expected quote)
FILL_AMOUNT = [
    ("Converts from base to quote quantums", 1, 1, 1, 10),
    ("quantumConversionExponent is negative", 1_000, 5_000_000, -4, 500_000),
    ("quantumConversionExponent is zero", 5_000_000, 1, 0, 5_000_000),
    ("Calculation rounds down and can return 0 quoteQuantums", 9, 1, -1, 0),
    ("Calculation overflows", MAX_UINT64, 1, 6, 18446744073709551615000000),
]


@pytest.mark.parametrize("case, base, subticks, qce, expected", FILL_AMOUNT,
                         ids=[_src("protocol/x/clob/types/quantums_test.go", "TestFillAmountToQuoteQuantums", r[0]) for r in FILL_AMOUNT])
def test_fill_amount_to_quote_quantums(case, base, subticks, qce, expected):
    assert dydx.fill_amount_to_quote_quantums(subticks, base, qce) == expected


# protocol/x/clob/types/quantums_test.go :: TestGetAveragePriceSubticks (quote, base, qce, expected subticks or None: panics)
AVERAGE_PRICE = [
    ("Converts from quote quantums to subticks", 10, 1, 1, Fraction(1, 1)),
    ("quantumConversionExponent is negative", 500_000, 1_000, -4, Fraction(5_000_000, 1)),
    ("quantumConversionExponent is zero", 5_000_000, 5_000_000, 0, Fraction(1, 1)),
    ("Not divisble", 24_001_111, 5_000_000, -2, Fraction(24001111, 50_000)),
    ("Panics if bigBaseQuantums is zero", 100, 0, 6, None),
]


@pytest.mark.parametrize("case, quote, base, qce, expected", AVERAGE_PRICE,
                         ids=[_src("protocol/x/clob/types/quantums_test.go", "TestGetAveragePriceSubticks", r[0]) for r in AVERAGE_PRICE])
def test_get_average_price_subticks(case, quote, base, qce, expected):
    if expected is None:
        with pytest.raises(InvalidInput):
            dydx.average_price_subticks(quote, base, qce)
    else:
        assert dydx.average_price_subticks(quote, base, qce) == expected


# protocol/x/clob/types/price_to_subticks_test.go :: TestPriceToSubticks
# (market price, exponent, qce, base atomic resolution, quote atomic resolution, expected subticks)
PRICE_TO_SUBTICKS = [
    ("typical BTC configuration, at $10_000", 1_000_000_000, -5, -8, -10, -6, Fraction(100_000_000, 1)),
    ("typical ETH configuration, at $1_200", 1_200_000_000, -6, -9, -9, -6, Fraction(1_200_000_000, 1)),
    ("retains digits if not divisible", 1_200_000_000, -6, -9, -18, -6, Fraction(12, 10)),
]


@pytest.mark.parametrize("case, price, exponent, qce, atomic, quote_atomic, expected", PRICE_TO_SUBTICKS,
                         ids=[_src("protocol/x/clob/types/price_to_subticks_test.go", "TestPriceToSubticks", r[0]) for r in PRICE_TO_SUBTICKS])
def test_price_to_subticks(case, price, exponent, qce, atomic, quote_atomic, expected):
    assert dydx.price_to_subticks(price, exponent, qce, atomic, quote_atomic) == expected


# protocol/x/clob/memclob/memclob_get_impact_price_subticks_test.go :: TestMemClobPriceTimePriority_getImpactPriceSubticks
# ClobPair_Btc (quantum conversion exponent −8). Resting makers (subticks, quantums, collateralized), best first:
# asks Bob 1 BTC @ 500_000_000, Alice 1 BTC @ 500_010_000; bids Bob 1 BTC @ 500_000_000, Alice 1 BTC @ 499_990_000.
# The keeper's collateral check of each maker is an input here (it is not ported): the test's subaccounts
# Bob_Num0_100_000USD, Alice_Num0_100_000USD and Bob_Num0_50_000USD pass (the "exact collat" cases' expected
# impact price is reachable only if Bob's order passes), Bob_Num0_1USD fails (skipped).
# Upstream compares with requireLargeValuesAlmostEqual: |expected − got| < 1 subtick (its tolerance, kept here).
BTC_QCE = -8


def _makers(is_bid: bool, bob_ok: bool, only_first: bool = False):
    book = [(500_000_000, 10_000_000_000, bob_ok), (499_990_000 if is_bid else 500_010_000, 10_000_000_000, True)]
    return book[:1] if only_first else book


HALF = Fraction(1, 2)
IMPACT_PRICE = [
    ("Buy crosses single level (orders collateralized) with sufficient liquidity", False, True, False, 10_000_000_000,
     Fraction(500_000_000)),
    ("Buy crosses multiple levels (orders collateralized) and clears book exactly", False, True, False, 100_001_000_000,
     HALF * 500_000_000 + HALF * 500_010_000),
    ("Buy notional too large for book (orders collateralized)", False, True, False, 300_000_000_000, None),
    ("Sell crosses single level (orders collateralized) with sufficient liquidity", True, True, False, 5_000_000_000,
     Fraction(500_000_000)),
    ("Sell crosses multiple levels (orders collateralized) and clears book exactly", True, True, False, 99_999_000_000,
     HALF * 500_000_000 + HALF * 499_990_000),
    ("Sell notional too large for book (orders collateralized)", True, True, False, 300_000_000_000, None),
    ("Buy matches with ask that has insufficient collateral causing higher impact price", False, False, False, 5_000_000_000,
     Fraction(500_010_000)),
    ("Buy notional too large due to order with insufficient collateral", False, False, False, 70_000_000_000, None),
    ("Sell matches with bid that has insufficient collateral causing lower impact price", True, False, False, 5_000_000_000,
     Fraction(499_990_000)),
    ("Sell notional too large due to order with insufficient collateral", True, False, False, 70_000_000_000, None),
    ("Maker ask has exact collat", False, True, True, 50_000_000_000, Fraction(500_000_000)),
    ("Maker ask has just insufficient collat", False, True, True, 50_001_000_000, None),
    ("Maker bid has exact collat", True, True, True, 50_000_000_000, Fraction(500_000_000)),
    ("Maker bid has just insufficient collat", True, True, True, 50_001_000_000, None),
]


@pytest.mark.parametrize("case, is_bid, bob_ok, only_first, notional, expected", IMPACT_PRICE,
                         ids=[_src("protocol/x/clob/memclob/memclob_get_impact_price_subticks_test.go",
                                   "TestMemClobPriceTimePriority_getImpactPriceSubticks", r[0]) for r in IMPACT_PRICE])
def test_get_impact_price_subticks(case, is_bid, bob_ok, only_first, notional, expected):
    got = dydx.impact_price_subticks(_makers(is_bid, bob_ok, only_first), is_bid, notional, BTC_QCE)
    if expected is None:
        assert got is None
    else:
        assert got is not None and abs(got - expected) < 1


# protocol/x/clob/memclob/memclob_get_premium_price_test.go :: TestGetPremiumPrice
# ClobPair_Btc (qce −8), base atomic resolution −10, quote −6, index exponent −5 (all cases).
# (case, bids and asks as (subticks, quantums), index price, max abs premium vote ppm, impact notional, expected
#  premium ppm, or the field an upstream panic / error is about)
# "Impact Bid < Index < Best Bid < Best Ask, 0 premium" places two bids with the same OrderId (Alice_Num0,
# ClientId 1); the memclob keeps the later one (it replaces the first, else PlaceOrder fails the setup), so the
# book holds 0.1 BTC @ 99_999_000 and 1 BTC @ 99_990_000.
PREMIUM = [
    ("Best Bid < Index < Best Ask, premium = 0", [(99_990_000, 10_000_000_000)], [(100_010_000, 10_000_000_000)],
     1_000_000_000, 1_000_000, 5_000_000_000, 0),
    ("Index < Impact Bid < Best Bid < Best Ask, positive premium",
     [(99_990_000, 1_000_000_000), (99_980_000, 10_000_000_000)], [(100_010_000, 10_000_000_000)],
     900_000_000, 1_000_000, 5_000_000_000, 110911),
    ("Impact Bid < Best Bid < Best Ask < Impact Ask < Index, negative premium", [(99_990_000, 10_000_000_000)],
     [(100_020_000, 10_000_000_000), (100_015_000, 1_000_000_000), (100_010_000, 1_000_000_000)],
     1_000_300_000, 1_000_000, 5_000_000_000, -129),
    ("Impact Bid < Best Bid < Best Ask = Impact Ask < Index, negative premium", [(99_990_000, 10_000_000_000)],
     [(100_010_000, 10_000_000_000)], 1_000_190_000, 1_000_000, 5_000_000_000, -89),
    ("Index < Impact Bid = Best Bid < Best Ask, positive premium", [(99_999_000, 10_000_000_000)],
     [(100_010_000, 10_000_000_000)], 999_750_000, 1_000_000, 5_000_000_000, 240),
    ("Impact Bid < Index < Best Bid < Best Ask, 0 premium", [(99_999_000, 1_000_000_000), (99_990_000, 10_000_000_000)],
     [(100_010_000, 10_000_000_000)], 999_982_000, 1_000_000, 5_000_000_000, 0),
    ("BestAsk < Index; Impact Ask = Infinity (low liquidity); 0 premium", [(99_998_000, 10_000_000_000)],
     [(100_001_000, 1_000_000_000)], 1_000_100_000, 100_000, 2_000_000_000, 0),
    ("Impact Bid = 0 (low liquidity); Index < Best Bid; 0 premium", [(99_998_000, 1_000_000_000)],
     [(100_001_000, 10_000_000_000)], 999_950_000, 100_000, 2_000_000_000, 0),
    ("Not enough liquidity on both sides, return 0", [(99_998_000, 1_000_000_000)], [(100_001_000, 1_000_000_000)],
     1_000_000_000, 100_000, 2_000_000_000, 0),
    ("Orderbook is empty, return 0", [], [], 1_000_000_000, 100_000, 2_000_000_000, 0),
    ("Index << Impact Bid, maximum premium (clamped)", [(99_999_000, 10_000_000_000)], [(100_010_000, 10_000_000_000)],
     600_000_000, 100_000, 5_000_000_000, 100_000),
    ("Impact Ask << Index, minimum premium (clamped)", [(99_999_000, 10_000_000_000)], [(100_010_000, 10_000_000_000)],
     1_500_000_000, 100_000, 5_000_000_000, -100_000),
    ("Index < Impact Bid < Impact Ask = Infinity (low liquidity); positive premium", [(99_998_000, 10_000_000_000)],
     [(100_001_000, 1_000_000_000)], 999_900_000, 100_000, 5_000_000_000, 80),
    ("0 = Impact Bid (low liquidity) < Impact Ask; negative premium", [(99_998_000, 1_000_000_000)],
     [(100_001_000, 10_000_000_000)], 1_000_100_000, 100_000, 5_000_000_000, -89),
    # the two error cases leave the index (price and exponent) and the base atomic resolution at Go's zero value;
    # the clamp overflow panics first (its zero index is never read), the zero index errors; the expected
    # failure is named by the offending field
    ("error: maxAbsPremiumVotePpm overflow int32", [], [(100_010_000, 10_000_000_000)], 0, MAX_INT32 + 1, 0,
     "max_abs_premium_ppm"),
    ("error: clob pair is not a perpetual", [], [], 0, 100_000, 1000, "clob_pair"),
    ("error: index price is zero", [], [], 0, 100_000, 1000, "index_price"),
    ("Zero impact amount, positive premium, use best bid as impact price", [(99_999_000, 10_000_000_000)],
     [(100_010_000, 10_000_000_000)], 999_750_000, 1_000_000, 0, 240),
]


@pytest.mark.parametrize("case, bids, asks, index, max_abs, notional, expected", PREMIUM,
                         ids=[_src("protocol/x/clob/memclob/memclob_get_premium_price_test.go", "TestGetPremiumPrice", r[0])
                              for r in PREMIUM])
def test_get_premium_price(case, bids, asks, index, max_abs, notional, expected):
    if isinstance(expected, str):
        # ClobPair_Spot_Btc (a spot pair; its qce −8 as ClobPair_Btc) for "error: clob pair is not a perpetual"
        perpetual = case != "error: clob pair is not a perpetual"
        with pytest.raises(InvalidInput) as err:
            dydx.book_premium_ppm(bids, asks, index, 0, 0, BTC_QCE, notional, max_abs, clob_pair_is_perpetual=perpetual)
        assert err.value.field == expected
    else:
        args = (bids, asks, index, -5, -10, BTC_QCE, notional, max_abs)
        assert dydx.book_premium_ppm(*args) == expected


# protocol/x/clob/keeper/get_price_premium_test.go :: TestGetPricePremiumForPerpetual
# The keeper holds ClobPair_Btc (id 0, perpetual 0) or ClobPair_Btc_Initializing (id 0, status INITIALIZING); the
# memclob is a mock: in "Success" it returns premiumPpm's zero value 0, in "Failure: GetPricePremium failure" the error
# "GetPricePremium error"; the other cases set no expectation on it (a call would fail the test).
# (case, perpetual id, perpetualIdToClobPairId override or None, CLOB pair status, mock result: int, error text or
#  None (not called), expected premium or (error type, field, message))
class _MockMemclobError(Exception):
    pass


KEEPER_PREMIUM = [
    ("Success", 0, None, "ACTIVE", 0, 0),
    ("Failure: GetClobPairIdForPerpetual error", 1, None, "ACTIVE", None,
     (UnknownEntity, "perpetual_id", "Perpetual ID 1 has no associated CLOB pairs")),
    ("Failure: GetPricePremium failure", 0, None, "ACTIVE", "GetPricePremium error",
     (_MockMemclobError, None, "GetPricePremium error")),
    ("Failure, clob pair not found", 0, {0: [1]}, "ACTIVE", None,
     (UnknownEntity, "clob_pair_id", "did not find clob pair with clobPairId = 1")),
    ("Success, premium is zeroed for initializing clob pair", 0, None, "INITIALIZING", None, 0),
]


@pytest.mark.parametrize("case, perpetual_id, override, status, mock, expected", KEEPER_PREMIUM,
                         ids=[_src("protocol/x/clob/keeper/get_price_premium_test.go", "TestGetPricePremiumForPerpetual", r[0])
                              for r in KEEPER_PREMIUM])
def test_get_price_premium_for_perpetual(case, perpetual_id, override, status, mock, expected):
    calls = []

    def memclob(clob_pair_id):
        calls.append(clob_pair_id)
        if mock is None:
            raise AssertionError("the memclob mock has no expectation for this case")
        if isinstance(mock, str):
            raise _MockMemclobError(mock)
        return mock

    pairs = override if override is not None else {0: [0]}
    args = (perpetual_id, pairs, {0: status}, memclob)
    if isinstance(expected, tuple):
        kind, field, message = expected
        with pytest.raises(kind) as err:
            dydx.premium_for_perpetual(*args)
        assert message in str(err.value)
        if field is not None:
            assert err.value.field == field
    else:
        assert dydx.premium_for_perpetual(*args) == expected
    assert calls == ([0] if mock is not None else [])
