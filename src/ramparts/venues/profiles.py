"""Venue profiles as engine configurations, for running one crash through several venues' designs.

Each :class:`VenueProfile` maps a venue's published parameters (the modules beside this one hold
their exact arithmetic) onto ramparts' engine: a tier table (initial and maintenance rates by
notional) and the waterfall's liquidation parameters. What the engine cannot yet express is
listed in ``differences``, so a comparison never claims more fidelity than it has. Each
``VenueSpec`` carries the profile's ``name``, under which ``--fund auto`` looks up the venue's
published insurance fund (:mod:`ramparts.lab.fund`: ``binance`` and ``bitmex`` have published ones,
``hyperliquid`` has none by design, the others take the documented fallback).

=================  ==========================================================================
``ramparts``       ramparts' default design: Binance-like BTC tiers, partial steps of 20 % back
                   to maintenance × 1.1, 1 % penalty split 50/50, ranked ADL
``binance``        BTCUSDT brackets (IM = 1 / max leverage, MMR, continuous maintenance amounts),
                   full liquidation, ranked ADL
``bitmex``         XBTUSD-like risk limits (IM 1 %, MM 0.5 % up to 200 BTC, +0.5 % per 100 BTC: an
                   assumption), the whole position taken over at once, the maintenance margin to
                   the fund, ranked ADL
``dydx``           Large-Cap liquidity tier (IMF 2 %, MMR 1.2 %), 10 % of a position per step
                   (minimum 1,000 USDC) as an IOC order against the book at no worse than the
                   fillable price (SMMR 1.5), fee ≤ 1.5 % (capped by the distance to the
                   bankruptcy price) to the insurance fund, which pays fills below bankruptcy;
                   a zero fill with negative TNC deleverages against opposite positions from a
                   pseudo-random start (the lab feeds a synthetic book backed by ``maker/main``)
``hyperliquid``    BTC margin tiers (40×: IM 2.5 %, MM 1.25 %), 20 % steps with a 30 s cool-down
                   above 100k USDC, no penalty; below 2/3 of maintenance the backstop vault takes
                   the whole account and keeps its margin; ADL ranked by Hyperliquid's key
                   (mark / entry) × (notional / account value), positions in profit first
``drift``          BTC-PERP-like IM 5 % / MM 3 %, the liquidator takes the position at
                   oracle × (1 − fee), the fee Drift's ``get_liquidation_fee`` (1 %, rising 1 ppm a
                   400 ms slot after 1,500 slots, ≤ 3 %), insurance fee per Drift's formula (≤ 1 %),
                   each step at most Drift's max percentage to liquidate (10 % of the shortage, rising
                   to 100 % over 150 slots),
                   losses beyond the fund socialised through a one-off funding charge on every position
``derive-pmrm``    Derive's portfolio manager PMRM_2 on perp-only accounts (IM 17 %, MM 13 % with the
                   upstream test scenarios), liquidated as ``derive``
``mango``          Mango v4 perp health as margin (weights 1 ∓ 10 % init, 1 ∓ 5 % maint: IM 10 %, MM 5 %), the
                   liquidator takes base at oracle ∓ 1 % until init health is back to 0, the
                   insurance vault then socialised funding
``derive``         Derive's perp margin (IM 6.5 %, MM 5 %), a Dutch auction (0 → 20 % over
                   10 min, → 100 % over 2 h) back to a 10 % buffer, an insolvent account's keeper
                   paid Derive's insolvent bid (deficit → deficit + MM over 10 min) by the fund,
                   losses beyond the fund diluted over every USDC balance
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from ramparts.errors import UnknownEntity
from ramparts.lab.population import MAKER
from ramparts.lab.replay import VenueSpec
from ramparts.margin import derive_pmrm as derive_pm_margin
from ramparts.margin import mango as mango_margin
from ramparts.margin.mango import MangoPerpWeights
from ramparts.venues import binance, derive, drift, dydx, hyperliquid

__all__ = ["PROFILES", "VenueProfile", "profile"]


@dataclass(frozen=True)
class VenueProfile:
    name: str
    title: str
    source: str
    venue: VenueSpec
    differences: tuple[str, ...] = field(default_factory=tuple)


def _binance() -> VenueSpec:
    tiers = [[str(b.floor), str(b.initial_rate.quantize(Decimal("0.000001"), rounding="ROUND_CEILING")), str(b.mmr)] for b in binance.BTCUSDT_BRACKETS]
    return VenueSpec(tiers=tiers, liquidation={"cooldown_ns": 0, "max_fraction_ppm": 1_000_000, "buffer_ppm": 0, "penalty_ppm": 10_000,
                                               "liquidator_share_ppm": 0, "last_resort": "adl"}, name="binance", index_weight=INDEX_WEIGHTS["binance"][0])


#: How much of the lab venue's own book displacement reaches each venue's mark (VenueSpec.index_weight), and why:
#: the index construction decides it (issue 20, item 5). ``ramparts`` keeps 1 (its lab venue marks to its own
#: market, the most conservative reading).
INDEX_WEIGHTS: dict[str, tuple[float, str]] = {
    "ramparts": (1.0, "assumption: the lab's default venue marks to its own market"),
    "binance": (0.5, "assumption (recalled, not in the reference): the mark is the median of the index (a weighted "
                     "average of spot venues) plus the funding basis, the index plus a moving average of the perpetual's "
                     "basis, and the last price: the own book reaches it through the lagged basis average and the last price"),
    "bitmex": (0.0, "assumption (recalled, not in the reference): the mark is the .BXBT spot index plus a fair basis, "
                    "which the venue's own liquidations do not move"),
    "dydx": (0.0, "the oracle price is the validators' median of exchange prices; the venue's own book is not among them"),
    "hyperliquid": (0.75, "ramparts/reference/open-source-venues.md §4: the mark is the median of the oracle plus a 150 s "
                          "EMA of (book mid − oracle), the book's own median price and the CEX perpetuals' mids; with the "
                          "own book displaced alone the median is the 150 s EMA: most of the displacement after a few "
                          "minutes (0.75 assumed)"),
    "drift": (0.0, "the oracle is an external feed (Pyth/Switchboard), not Drift's own AMM or book"),
    "derive": (0.0, "the oracle is signed off-chain feed data, not the venue's own book"),
    "derive-pmrm": (0.0, "as derive: the oracle is signed off-chain feed data, not the venue's own book"),
    "mango": (0.0, "the oracle is an external feed per bank (OracleConfig, ramparts/reference/open-source-venues.md §5), "
                   "not Mango's own perp book"),
}


#: BitMEX XBTUSD risk limits as the lab models them (an assumption, not in the shared reference: BitMEX's published
#: contract specification of 2019–2020 as recalled: base risk limit 200 XBT at IM 1 % / MM 0.5 %, each further
#: 100 XBT adding 0.5 % to both), in USD at the 2020-03-11 BTC close of 7,938.05.
BITMEX_STEPS = 20


def _bitmex() -> VenueSpec:
    btc = Decimal("7938.05")
    tiers = [["0", "0.01", "0.005"]]
    for k in range(1, BITMEX_STEPS + 1):
        floor = ((200 + 100 * (k - 1)) * btc).quantize(Decimal(1))
        tiers.append([str(floor), str(Decimal("0.01") + Decimal("0.005") * k), str(Decimal("0.005") + Decimal("0.005") * k)])
    # the liquidation engine takes the whole position over at the bankruptcy price: the account's maintenance margin
    # goes to the insurance fund (a penalty of the maintenance rate, all of it to the fund, capped by the equity left)
    return VenueSpec(tiers=tiers, liquidation={"cooldown_ns": 0, "max_fraction_ppm": 1_000_000, "buffer_ppm": 0, "penalty_ppm": 5_000,
                                               "liquidator_share_ppm": 0, "last_resort": "adl"}, name="bitmex", index_weight=INDEX_WEIGHTS["bitmex"][0])


def _dydx() -> VenueSpec:
    t = dydx.LIQUIDITY_TIERS["Large-Cap"]
    im = Decimal(t.initial_margin_ppm) / 1_000_000
    mm = Decimal(t.maintenance_margin_ppm) / 1_000_000
    return VenueSpec(tiers=[["0", str(im), str(mm)]],
                     liquidation={"cooldown_ns": 0, "max_fraction_ppm": 100_000, "min_step_notional": 1_000 * 10**6, "buffer_ppm": 0,
                                  "penalty_ppm": 15_000, "liquidator_share_ppm": 0, "full_close_notional": 1_000 * 10**6,
                                  "last_resort": "adl_random", "pricing": "order_book", "book_account": MAKER,
                                  "bankruptcy_adjustment_ppm": 1_000_000, "spread_to_mmr_ppm": 1_500_000}, name="dydx",
                     index_weight=INDEX_WEIGHTS["dydx"][0])


def _hyperliquid() -> VenueSpec:
    tiers = []
    for t in hyperliquid.BTC_TIERS:
        tiers.append([str(int(t.lower_bound)), str(Decimal(1) / t.max_leverage), str(Decimal(1) / (2 * t.max_leverage))])
    return VenueSpec(tiers=tiers, liquidation={"cooldown_ns": 30 * 10**9, "max_fraction_ppm": 200_000, "full_close_notional": 100_000 * 10**6,
                                               "buffer_ppm": 0, "penalty_ppm": 0, "last_resort": "adl", "backstop_below_ppm": 666_667,
                                               "adl_rank": "hyperliquid"},
                     name="hyperliquid", index_weight=INDEX_WEIGHTS["hyperliquid"][0])


#: The Drift profile's market in Drift's units (margin ratios 1e4, fees 1e6): IM 5 % / MM 3 % (illustrative, set per
#: market by governance), liquidator fee 1 %, insurance-fund liquidation fee 1 % (the profile's assumptions).
DRIFT_MARKET = drift.PerpMarket(margin_ratio_initial=500, margin_ratio_maintenance=300, liquidator_fee=10_000,
                                if_liquidation_fee=10_000)
#: A Solana slot: Drift's ``LIQUIDATION_FEE_ADJUST_GRACE_PERIOD_SLOTS = 1_500`` is commented "~10 minutes", 400 ms a slot.
DRIFT_SLOT_NS = 400_000_000
#: ``State::initial_pct_to_liquidate`` and ``liquidation_duration`` (slots): Drift's governance sets them (mainnet's values are
#: not in the reference); 10 % and 150 slots are the values protocol-v2's own liquidation tests use (an assumption).
DRIFT_INITIAL_PCT_TO_LIQUIDATE = drift.LIQUIDATION_PCT_PRECISION // 10
DRIFT_LIQUIDATION_DURATION = 150


def _drift() -> VenueSpec:
    m = DRIFT_MARKET
    return VenueSpec(tiers=[["0", str(Decimal(m.margin_ratio_initial) / drift.MARGIN_PRECISION),
                             str(Decimal(m.margin_ratio_maintenance) / drift.MARGIN_PRECISION)]],
                     liquidation={"cooldown_ns": 0, "max_fraction_ppm": 1_000_000, "buffer_ppm": 0,
                                  "penalty_ppm": drift.base_liquidator_fee(m), "pricing": "oracle_fee",
                                  "if_fee_ppm": m.if_liquidation_fee, "fee_ramp_slot_ns": DRIFT_SLOT_NS,
                                  "fee_max_ppm": drift.max_liquidation_fee(m), "last_resort": "socialised_funding",
                                  # calculate_max_pct_to_liquidate; a position worth at most $50 may go whole
                                  "max_pct_initial_bps": DRIFT_INITIAL_PCT_TO_LIQUIDATE,
                                  "max_pct_duration_slots": DRIFT_LIQUIDATION_DURATION,
                                  "full_close_notional": 50 * drift.QUOTE_PRECISION},
                     name="drift", index_weight=INDEX_WEIGHTS["drift"][0])


def _derive() -> VenueSpec:
    # perp IM 6.5 % / MM 5 % (the upstream test configuration, §3.1); DutchAuction.sol: 10 min fast
    # auction to 20 %, 2 h slow auction to 100 %, buffer 10 %, insolvent auction 10 min
    # (config-test.sol getDefaultAuctionParam); socialised loss prints cash (§3.3)
    da = derive.DA_CONFIG_TEST
    return VenueSpec(tiers=[["0", "0.065", "0.05"]], liquidation={"pricing": "dutch_auction", "buffer_ppm": 100_000,
                                                                   "auction_fast_ns": da.fast_auction_length * 10**9,
                                                                   "auction_slow_ns": da.slow_auction_length * 10**9,
                                                                   "auction_fast_discount_ppm": 200_000,
                                                                   "auction_backstop_discount_ppm": 200_000,
                                                                   "auction_insolvent_ns": da.insolvent_auction_length * 10**9,
                                                                   "last_resort": "dilution"},
                     name="derive", index_weight=INDEX_WEIGHTS["derive"][0])


def _derive_pmrm() -> VenueSpec:
    # PMRM_2 on a perp-only account (ramparts.margin.derive_pmrm): config-test.sol's parameters and ±15 % scenarios
    # give IM 17 % / MM 13 %; the liquidation is the derive profile's (DutchAuction.sol serves both managers)
    d = _derive()
    return replace(d, tiers=derive_pm_margin.tiers(), name="derive-pmrm", index_weight=INDEX_WEIGHTS["derive-pmrm"][0])


#: The Mango profile's perp market: base weights 1 ∓ 10 % (init) and 1 ∓ 5 % (maint), the symmetric form of Mango's
#: own test markets; the values are an assumption (Mango sets them per market; BTC-PERP's are not in the reference).
MANGO_WEIGHTS = MangoPerpWeights.symmetric(init="0.1", maint="0.05")
#: Mango's perp base liquidation fee: 1 % assumed (set per market; not in the reference).
MANGO_LIQUIDATION_FEE_PPM = 10_000


def _mango() -> VenueSpec:
    # health as margin (ramparts.margin.mango); liquidation at oracle ∓ the base liquidation fee until the LiquidationEnd
    # health (init weights) is ≥ 0; the insurance vault, then socialize_loss through the funding indices (§5)
    return VenueSpec(tiers=mango_margin.tiers(MANGO_WEIGHTS),
                     liquidation={"cooldown_ns": 0, "max_fraction_ppm": 1_000_000, "pricing": "oracle_fee",
                                  "penalty_ppm": MANGO_LIQUIDATION_FEE_PPM,
                                  "buffer_ppm": mango_margin.liquidation_end_buffer_ppm(MANGO_WEIGHTS),
                                  "last_resort": "socialised_funding"},
                     name="mango", index_weight=INDEX_WEIGHTS["mango"][0])


PROFILES: dict[str, VenueProfile] = {
    p.name: p
    for p in (
        VenueProfile("ramparts", "ramparts default", "ramparts.engine.presets.BTC_TIERS, ramparts.liquidation.config", VenueSpec(),
                     ()),
        VenueProfile("binance", "Binance USDⓈ-M", "ramparts/reference/cex-and-clearinghouses.md (Binance USD-M)", _binance(),
                     ("liquidation clearance fee not in the reference: 1 % to the insurance fund assumed",
                      "ADL ranked by profit % × leverage as ramparts ranks it")),
        VenueProfile("bitmex", "BitMEX XBTUSD (2020)", "BitMEX's XBTUSD risk limits and liquidation as published in 2019–2020 "
                     "(recalled; not in ramparts/reference: an assumption); fund: lab/fund.py bitmex rows", _bitmex(),
                     ("XBTUSD was inverse (margined in XBT); the lab's market is linear in USDC",
                      "risk limits in USD at the 2020-03-11 close, 20 steps; the schedule is recalled, not read from a pinned source",
                      "the takeover at the bankruptcy price is modelled as a full close at the mark with a penalty of 0.5 % of "
                      "notional (the base maintenance rate) to the fund, capped by the equity left; the fund then carries no "
                      "position (BitMEX's engine worked the order off in the book)",
                      "ADL ranked by profit % × leverage as ramparts ranks it")),
        VenueProfile("dydx", "dYdX v4", "v4-chain 84d4664 (ramparts/reference/open-source-venues.md §1)", _dydx(),
                     ("the book is synthetic (20 levels a side from the lab's square-root impact model, reposted every "
                      "observation, one maker behind it), not dYdX's order book; the maker's margin is not checked",
                      "the liquidated position is the one with the largest maintenance margin, not a pseudo-random one; no "
                      "per-block caps on liquidated notional or insurance lost, and no ordering of liquidation candidates by "
                      "|fillable − oracle|",
                      "deleveraging iterates every opposite position from a SHA-256 start (dYdX: a pseudo-random start, at most "
                      "MaxDeleveragingSubaccountsToIterate)",
                      "no open-interest-scaled IMF in the engine (BTC is Large-Cap, uncapped, so it does not apply)",
                      "a liquidation step is ramparts' generic rule, not GetLiquidatablePositionSizeDelta (notional to base toward "
                      "zero, rounded down to the step, capped by the per-block subaccount room); see "
                      "ramparts.venues.dydx.liquidatable_position_size_delta",
                      "funding is not dYdX's pipeline (median of votes, hourly mean padded with zeros, clamp 6 × (IMF − MMF), "
                      "index delta truncated toward zero: ramparts.venues.dydx reproduces it); impact prices need dYdX's own book")),
        VenueProfile("hyperliquid", "Hyperliquid", "Hyperliquid docs (ramparts/reference/open-source-venues.md §4)", _hyperliquid(),
                     ("between 2/3 of maintenance and maintenance, positions close at the mark against the backstop vault, "
                      "not as market orders on the book",
                      "ADL ranked by Hyperliquid's documented key (mark / entry) × (notional / account value), positions in "
                      "profit first (the order after them is not documented), at the bankruptcy price, not the previous mark")),
        VenueProfile("drift", "Drift v2", "protocol-v2 0ae3e3b (ramparts/reference/open-source-venues.md §2)", _drift(),
                     ("margin ratios illustrative (set per market by governance; not in the reference)", "no size premium (IMF) applied",
                      "the liquidation fee rises as Drift's get_liquidation_fee does, but over the replay's clock with a "
                      "slot taken as 400 ms (Solana's target), not over real slots",
                      "the insurance fee is ramparts' adaptation of calculate_perp_if_fee (shortage against the buffered "
                      "target, in ppm of the closed notional, rounded up), not the integer port ramparts.venues.drift.perp_if_fee",
                      "a step closes Drift's max_pct_to_liquidate share (10 % of the shortage at first, all of it after 150 "
                      "slots: the values of Drift's tests, not mainnet's) of what restores maintenance, sized by ramparts' "
                      "search over whole lots rather than base_asset_amount_to_cover_margin_shortage; the margin freed is the "
                      "fall in ramparts' shortage; no margin buffer (Drift: liquidation_margin_buffer_ratio)",
                      "the backstop vault is the liquidator unless a keeper bids; no market fee pool between the fund and socialisation",
                      "the insurance fund is ramparts' global fund, without Drift's per-market tier caps")),
        VenueProfile("derive", "Derive (Lyra) v2", "v2-core 7736900 (ramparts/reference/open-source-venues.md §3)", _derive(),
                     ("standard-manager perp margin only (no portfolio margin, no confidence contingencies)",
                      "the auction sells part of one position at a time, its discount a share of that part's equity, "
                      "not a fraction of the whole portfolio; buffer = maintenance × 1.1, not MM + (MM − MtM) × 10 %",
                      "no keeper bids in a replay: the backstop vault buys once the fast auction is over",
                      "no liquidator fee to the security module at the start of a solvent auction",
                      "a keeper buying an insolvent account gets Derive's insolvent bid price (from min(MtM, 0) to MM over "
                      "10 min, da_insolvent_bid_price, paid by the insurance fund as the security module) but always "
                      "for the whole account, not a percentage; with no keeper in a replay the vault buys it at the "
                      "first tick at the opening price (the fund pays the deficit only), then the last resort",
                      "Derive's test-cases.json expectations are float64 model values: ramparts.venues.derive reproduces them "
                      "within Derive's own 0.1 % (observed ≤ 3e-14 relative), not to the wei",
                      "Black-76 ported from lyra-utils 1ca255d / 3c9e344, not the derive-utils 8f6962c that v2-core pins (not "
                      "available); the exact-integer portfolio cases pass")),
        VenueProfile("derive-pmrm", "Derive (Lyra) v2, portfolio manager", "v2-core 7736900 PMRMLib_2.sol "
                     "(ramparts/reference/open-source-venues.md §3.2)", _derive_pmrm(),
                     ("PMRM_2 on perp-only accounts through ramparts.margin.derive_pmrm: config-test.sol's parameters and "
                      "scenarios (spot ±15 % in 5 % steps, mmFactor 0.8, perp contingencies 1 %), not mainnet's (not in the "
                      "reference): IM 17 %, MM 13 % of notional",
                      "the lab's accounts are cross-margined over every market; PMRM_2 is one manager per underlying",
                      "no options, other collateral, confidence or depeg terms (a perp-only account with feeds at "
                      "confidence 1 and the stable coin at par has none); perp price = spot",
                      "liquidation as the derive profile (its differences apply)")),
        VenueProfile("mango", "Mango v4", "mango-v4 1303a4a (ramparts/reference/open-source-venues.md §5)", _mango(),
                     ("perp weights (1 ∓ 10 % init, 1 ∓ 5 % maint) and the 1 % liquidation fee are assumptions (set per market, "
                      "not in the reference)",
                      "health is the engine's margin through ramparts.margin.mango: exact for symmetric weights and an overall "
                      "asset weight of 1; Mango weights positive unsettled pnl by the market's overall asset weight (0 for "
                      "untrusted markets), which the engine counts in full",
                      "no stable price: init health at the oracle (Mango: min/max(oracle, stable price)); no open orders; "
                      "USDC the only token (no spot positions, deposit/borrow weight scaling or Serum3 reservations)",
                      "the liquidator (the backstop vault unless a keeper bids) takes base at oracle ∓ the fee, all of it the "
                      "liquidator's; no platform fee to the insurance vault; the negative-pnl takeover "
                      "(perp_liq_negative_pnl_or_bankruptcy) is the engine's bankruptcy: the fund, then socialised funding",
                      "the insurance fund is ramparts' global fund (Mango: one insurance vault per group)")),
    )
}


def profile(name: str) -> VenueProfile:
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise UnknownEntity("venue", f"unknown venue profile {name!r} (one of {', '.join(PROFILES)})") from None
