"""Venue profiles as engine configurations, for running one crash through several venues' designs.

Each :class:`VenueProfile` maps a venue's published parameters (the modules beside this one hold
their exact arithmetic) onto ramparts' engine: a tier table (initial and maintenance rates by
notional) and the waterfall's liquidation parameters. What the engine cannot yet express is
listed in ``differences``, so a comparison never claims more fidelity than it has.

=================  ==========================================================================
``ramparts``       ramparts' default design: Binance-like BTC tiers, partial steps of 20 % back
                   to maintenance × 1.1, 1 % penalty split 50/50, ranked ADL
``binance``        BTCUSDT brackets (IM = 1 / max leverage, MMR, continuous maintenance amounts),
                   full liquidation, ranked ADL
``dydx``           Large-Cap liquidity tier (IMF 2 %, MMR 1.2 %), 10 % of a position per step
                   (minimum 1,000 USDC), fee ≤ 1.5 % all to the insurance fund, deleveraging
``hyperliquid``    BTC margin tiers (40×: IM 2.5 %, MM 1.25 %), 20 % steps with a 30 s cool-down
                   above 100k USDC, no penalty (the backstop vault keeps the margin), ranked ADL
``drift``          BTC-PERP-like IM 5 % / MM 3 %, liquidator fee 1 %, losses beyond the fund
                   socialised over open interest (no ADL)
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ramparts.errors import UnknownEntity
from ramparts.lab.replay import VenueSpec
from ramparts.venues import binance, dydx, hyperliquid

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
                                               "liquidator_share_ppm": 0, "last_resort": "adl"})


def _dydx() -> VenueSpec:
    t = dydx.LIQUIDITY_TIERS["Large-Cap"]
    im = Decimal(t.initial_margin_ppm) / 1_000_000
    mm = Decimal(t.maintenance_margin_ppm) / 1_000_000
    return VenueSpec(tiers=[["0", str(im), str(mm)]],
                     liquidation={"cooldown_ns": 0, "max_fraction_ppm": 100_000, "min_step_notional": 1_000 * 10**6, "buffer_ppm": 0,
                                  "penalty_ppm": 15_000, "liquidator_share_ppm": 0, "full_close_notional": 1_000 * 10**6, "last_resort": "adl"})


def _hyperliquid() -> VenueSpec:
    tiers = []
    for t in hyperliquid.BTC_TIERS:
        tiers.append([str(int(t.lower_bound)), str(Decimal(1) / t.max_leverage), str(Decimal(1) / (2 * t.max_leverage))])
    return VenueSpec(tiers=tiers, liquidation={"cooldown_ns": 30 * 10**9, "max_fraction_ppm": 200_000, "full_close_notional": 100_000 * 10**6,
                                               "buffer_ppm": 0, "penalty_ppm": 0, "last_resort": "adl"})


def _drift() -> VenueSpec:
    return VenueSpec(tiers=[["0", "0.05", "0.03"]], liquidation={"cooldown_ns": 0, "max_fraction_ppm": 1_000_000, "buffer_ppm": 0,
                                                                  "penalty_ppm": 10_000, "liquidator_share_ppm": 1_000_000,
                                                                  "last_resort": "socialised"})


PROFILES: dict[str, VenueProfile] = {
    p.name: p
    for p in (
        VenueProfile("ramparts", "ramparts default", "ramparts.engine.presets.BTC_TIERS, ramparts.liquidation.config", VenueSpec(),
                     ()),
        VenueProfile("binance", "Binance USDⓈ-M", "shared/reference/cex-and-clearinghouses.md (Binance USD-M)", _binance(),
                     ("liquidation clearance fee not in the reference: 1 % to the insurance fund assumed",
                      "ADL ranked by profit % × leverage as ramparts ranks it")),
        VenueProfile("dydx", "dYdX v4", "v4-chain 84d4664 (shared/reference/open-source-venues.md §1)", _dydx(),
                     ("liquidations close at the mark with the fee, not against a book at the fillable price",
                      "deleveraging counterparties ranked, not drawn from a random start",
                      "no open-interest-scaled IMF in the engine (BTC is Large-Cap, uncapped, so it does not apply)")),
        VenueProfile("hyperliquid", "Hyperliquid", "Hyperliquid docs (shared/reference/open-source-venues.md §4)", _hyperliquid(),
                     ("the backstop takes positions at maintenance breach through the vault, not only below 2/3 of maintenance",
                      "ADL ranked by profit % × leverage, not (mark / entry) × (notional / account value)")),
        VenueProfile("drift", "Drift v2", "protocol-v2 0ae3e3b (shared/reference/open-source-venues.md §2)", _drift(),
                     ("margin ratios illustrative (set per market by governance; not in the reference)", "no size premium (IMF) applied",
                      "socialised loss charged to counterparties by ramparts' socialisation, not through cumulative funding")),
    )
}


def profile(name: str) -> VenueProfile:
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise UnknownEntity("venue", f"unknown venue profile {name!r} (one of {', '.join(PROFILES)})") from None
