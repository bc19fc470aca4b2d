"""What ramparts reproduces of each venue, from which source, checked by which tests (``ramparts venues``).

This module owns the catalogue of venues (:data:`VENUES`): for each, the module holding its arithmetic, the
source it was read from (a repository at a pinned commit, or the venue's documentation as recorded in
``ramparts/reference``), what the module reproduces, the test files that port the venue's own cases, the engine
profile that runs its design in ``ramparts compare`` (if any), which of the venue's own functions that profile's
engine run calls (``in_engine``: the strategy and the function, so a profile's fidelity is checkable) and what
differs (the profile's ``differences`` plus what the arithmetic module itself does not reproduce). ``ramparts
venues`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ramparts.errors import UnknownEntity

__all__ = ["VENUES", "VenueEntry", "entry"]


@dataclass(frozen=True)
class VenueEntry:
    name: str
    title: str
    module: str  #: ``ramparts.venues.<name>``
    source: str  #: repository @ commit, or the documentation the reference records
    reproduced: str
    tests: tuple[str, ...]  #: the test files that check it against the venue's own cases or published figures
    profile: str | None = None  #: the engine profile of ``ramparts compare`` (ramparts.venues.profiles)
    not_reproduced: tuple[str, ...] = field(default_factory=tuple)
    #: the venue functions the engine runs for the profile: "function: where the engine calls it (config key)"
    in_engine: tuple[str, ...] = field(default_factory=tuple)

    def differences(self) -> tuple[str, ...]:
        """What differs: the arithmetic module's own gaps, then the engine profile's ``differences``."""
        from ramparts.venues.profiles import PROFILES

        prof = PROFILES.get(self.profile) if self.profile else None
        return (*self.not_reproduced, *(f"profile: {d}" for d in (prof.differences if prof else ())))


VENUES: tuple[VenueEntry, ...] = (
    VenueEntry("binance", "Binance USDⓈ-M", "ramparts.venues.binance",
               "Binance's published formulas (ramparts/reference/cex-and-clearinghouses.md)",
               "leverage brackets, maintenance amounts, liquidation price (cross and isolated)", ("tests/test_venues.py",), "binance"),
    VenueEntry("dydx", "dYdX v4", "ramparts.venues.dydx", "dydxprotocol/v4-chain @ 84d4664bae71e3a077adaac67fb77ad19cd28d30",
               "liquidity tiers, OI-scaled IMF, bankruptcy and fillable prices, insurance-fund delta, deleveraging conditions, "
               "the funding pipeline (the book's impact prices and premium vote, clamp, sample tails, index delta, "
               "settlement), fill quantums and subtick prices, partial-liquidation sizes, the funding-sample epochs and the "
               "keeper's premium lookup; dYdX's tests reproduced: 138/138 cases of the ported test functions",
               ("tests/test_venues.py", "tests/test_venue_dydx_cases.py"), "dydx",
               ("the order book's collateral check of makers (book_premium_ppm takes which makers pass as an input); the "
                "emitted events",)),
    VenueEntry("hyperliquid", "Hyperliquid", "ramparts.venues.hyperliquid", "Hyperliquid documentation "
               "(ramparts/reference/open-source-venues.md §4; the core is closed source)",
               "margin tiers, liquidation price, backstop threshold, ADL ranking key, funding", ("tests/test_venues.py",),
               "hyperliquid", ("no venue test suite exists to port: checked against the documentation's formulas and, in the lab, "
                               "against the 2025-10-10 cascade (ramparts validate)",)),
    VenueEntry("drift", "Drift v2", "ramparts.venues.drift", "drift-labs/protocol-v2 @ 0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62",
               "size-premium margin ratios, asset and liability weights (scaled initial weight), the fill margin type and "
               "high-leverage mode, the account margin calculation over spot and perp positions (cross and isolated, worst-case "
               "spot order fills, strict prices, custom ratios, margin-type configs, oracle validity, pools), place-order, "
               "withdrawal and spot-margin-trading checks; Drift's tests reproduced: math/margin 87/87, math/liquidation 28/28, "
               "controller/liquidation 66/66, state/perp_market 16/16, math/amm 11/11, math/funding 4/4, math/bankruptcy 7/7; the "
               "liquidation maths (shortage cover, time-based fee, max pct, perp and spot IF fees, swap and transfer "
               "boundaries), liquidate_perp and resolve_perp_bankruptcy as pure functions, on one position or a whole account "
               "(cross and isolated modes), the spot-side liquidations (liquidate_spot, with swap, borrow for perp pnl, perp "
               "pnl for deposit) over spot balances (ramparts.venues.drift_spot), liquidate_perp_with_fill against makers and "
               "the AMM (ramparts.venues.drift_fill), the AMM's prices, trigger price, fill permission and TWAPs "
               "(ramparts.venues.drift_amm), funding and its fee-pool cap; in the engine: the rising liquidation fee and "
               "the max percentage to liquidate over time",
               ("tests/test_venues.py", "tests/test_venue_drift_cases.py", "tests/test_venue_drift_amm_cases.py"), "drift",
               ("liquidate_perp_with_fill: the AMM's JIT making, a second AMM fill, maker orders other than post-only "
                "fixed-price limits (refused with InvalidInput); referrers, fee statistics",
                "the spot markets' deposit / borrow / utilization token TWAPs (interest accrual and the oracle TWAPs are "
                "ported: drift_spot.update_spot_market_cumulative_interest); paused-operation flags in the accrual",
                "fuel bonuses; the oracle's stable-coin staleness and data-point rules",
                "the AMM's curve updates (k adjustment: curve_update_intensity > 0 is refused with InvalidInput) and market "
                "status in _update_amm",
                "the liquidation's oracle TWAP-divergence guard and the liquidator's own initial-margin check (left to the caller)",
                "one high-leverage flag (HighLeverage and HighLeverageMaintenance not told apart); no AssetTier"),
               ("liquidation_fee: the oracle_fee pricing's liquidator fee, rising over time (LiquidationConfig.fee_ramp_slot_ns, "
                "tests/test_venue_engine.py)",
                "base_liquidator_fee, max_liquidation_fee: the profile's base and maximum fee (profiles.DRIFT_MARKET)")),
    VenueEntry("derive", "Derive (Lyra) v2", "ramparts.venues.derive", "derivexyz/v2-core @ 7736900d395703c4f675376caa4c315402943831",
               "the standard manager in 18-decimal fixed point (options with the unpaired-call cap, perps, base assets, "
               "oracle-confidence and depeg charges, Black-76); PMRM_2 portfolio margin in the same fixed point (spot × vol "
               "scenarios with static discounts, Linear/Abs skew, dampened tails, basis contingency, confidence, depeg and "
               "collateral haircuts for LRTs and stables, the trusted-assessor basis check) with the SVI vol feed; the Dutch "
               "auction (solvent bid price, max fraction with reserved cash, liquidator fee, termination and conversion, the "
               "insolvent bid from min(MtM, 0) to MM paid by the security module, socialised shortfall, withdrawal block); "
               "the SRM's setters' bounds, whitelist, OI fees, trade check (bypass, no negative cash, account size, trusted "
               "assessor) and settlement; PMRM_2's manager (PMRMManager: settings and bounds, collateral assets, the trade check, "
               "OI fees, settlement). Upstream cases: SRM Portfolio_Cases 42/42, Cases 28/28, Option 33/34, Perp 14/15, "
               "Misc 10/10, MutiAsset 12/12; PMRM_2 PortfolioCasesNEW 138/138, EdgeCases 11/12, Admin 6/6, Settle 6/6, "
               "OIFee 1/1, BaseAsset 4/4; SVI 8/8; auction Solvent 33/33, Insolvent 13/13; the wrapped asset's per-manager "
               "caps, manager-data processing and the auction's manager whitelist and bidder ownership",
               ("tests/test_venues.py", "tests/test_venue_derive_cases.py", "tests/test_option_margin.py",
                "tests/test_venue_derive_pmrm_cases.py", "tests/test_venue_derive_auction_cases.py"), "derive",
               ("Black-76/SVI from lyra-utils 1ca255d/3c9e344/759e962, not the derive-utils 8f6962c v2-core pins (not stored)",
                "PMRM_2 portfolio cases are float64 model values: reproduced within upstream's 1e-8 (observed ≤ 1.3e-10), not to "
                "the wei",
                "the PMRM_2_1 lib override; PMRM_2 EdgeCases testPMRM_2_notFoundError (an internal array search: ramparts "
                "keys options by expiry)",
                "the portfolio transfer (executeBid); the security module as upstream's MockSM",
                "SRM owner-only access control (testViewerSetter, testCannotSetPerpMarginRequirementFromNonOwner); "
                "SubAccounts balances are the caller's"),
               ("da_insolvent_bid_price: what the insurance fund pays a keeper buying an insolvent account "
                "(LiquidationConfig.auction_insolvent_ns, tests/test_venue_engine.py)",
                "DA_CONFIG_TEST: the profile's fast, slow and insolvent auction lengths")),
    VenueEntry("derive-pmrm", "Derive (Lyra) v2 PMRM_2", "ramparts.venues.derive_pmrm",
               "derivexyz/v2-core @ 7736900d395703c4f675376caa4c315402943831",
               "PMRM_2 portfolio margin (the derive entry's arithmetic, its own engine profile for perp-only accounts)",
               ("tests/test_venue_derive_pmrm_cases.py", "tests/test_venue_engine.py"), "derive-pmrm",
               ("in the engine only for perp-only accounts: options, collateral, confidence and depeg terms are not carried "
                "by the profile's rates",),
               ("pmrm_margin: the profile's initial and maintenance rates (ramparts.margin.derive_pmrm; the engine's equity "
                "− requirement equals PMRM_2's margin on random perp-only accounts, tests/test_venue_engine.py)",)),
    VenueEntry("deribit", "Deribit", "ramparts.venues.deribit", "Deribit's documentation and private/pme/simulate API as "
               "recorded in ramparts/reference/cex-and-clearinghouses.md",
               "standard option margin (inverse units), the portfolio-margin risk array", ("tests/test_venues.py",), None),
    VenueEntry("bitmex", "BitMEX XBTUSD (2020)", "ramparts.venues.profiles", "BitMEX's published risk limits and liquidation "
               "(recalled; not in the shared reference)", "an engine profile only (risk limits, whole-position takeover)",
               ("tests/test_validate.py",), "bitmex"),
    VenueEntry("mango", "Mango v4", "ramparts.venues.mango", "blockworks-foundation/mango-v4 @ 1303a4a16228eb1e8e8d4f0eef724eaf63310c86",
               "account health (init, maint, liquidation end) over tokens, spot open orders and perps, stable price, "
               "weight scaling, the max swap / perp trade / borrow solvers for a health target", ("tests/test_venue_mango_cases.py", "tests/test_venue_engine.py"), "mango",
               ("I80F48 rounding (ramparts is exact: a few 2⁻⁴⁸ apart per operation; the max-swap / max-perp / max-borrow "
                "solvers follow Mango's searches on exact values, so one can stop a step apart near a threshold)",
                "the liquidation instructions (token and perp base liquidation, negative-pnl takeover, bankruptcy)"),
               ("PerpInfo.unweighted_health_unsettled_pnl: the profile's initial and maintenance rates and its "
                "LiquidationEnd target (ramparts.margin.mango; the engine's maint health equals HealthCache.health on "
                "random accounts, tests/test_venue_engine.py)",)),
    VenueEntry("synthetix", "Synthetix v3 perps", "ramparts.venues.synthetix", "Synthetixio/synthetix-v3 @ "
               "23585f73c76d625b2a43aaf94dc440a8a1e7a8fa", "velocity funding, the skew-adjusted fill price, market debt",
               ("tests/test_venue_synthetix_cases.py",), None, ("fees, keeper rewards, margin and liquidation of an order",)),
    VenueEntry("opyn", "Opyn Gamma", "ramparts.venues.opyn", "opynfinance/GammaProtocol @ 841f81d9d05da9d27277b5775edfbb48c4012d2a",
               "naked and spread margin, expired cash value, excess collateral, the liquidation debt price",
               ("tests/test_venue_opyn_cases.py",), None, ("owner-only setters and the oracle contract (prices are passed in)",)),
)


def entry(name: str) -> VenueEntry:
    """The catalogue entry of ``name``; an unknown name lists the known ones."""
    for v in VENUES:
        if v.name == name.strip().lower():
            return v
    raise UnknownEntity("venue", f"unknown venue {name!r} (one of {', '.join(v.name for v in VENUES)})")
