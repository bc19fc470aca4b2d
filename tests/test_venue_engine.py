"""The venues' own mechanisms run by the engine as strategies (issue 22, item 2), checked against the ported
venue functions in :mod:`ramparts.venues` and against hand-worked values.

* Drift v2's liquidation fee rising over time (``get_liquidation_fee``, protocol-v2 0ae3e3b
  ``math/liquidation.rs``): ``LiquidationConfig.fee_ramp_slot_ns`` / ``fee_max_ppm`` under ``oracle_fee``
  pricing; the engine's charged fee must equal :func:`ramparts.venues.drift.liquidation_fee`.
* Mango v4's perp health as the engine's margin (``health/cache.rs`` at mango-v4 1303a4a, through
  :mod:`ramparts.margin.mango`): the engine's equity − requirement must equal
  :meth:`ramparts.venues.mango.HealthCache.health` on random accounts, up to its rounding up.
* Derive v2's insolvent auction (``DutchAuction.sol::_getInsolventAuctionBidPrice``, v2-core 7736900):
  ``LiquidationConfig.auction_insolvent_ns`` under ``dutch_auction`` pricing; what the fund pays a keeper
  must equal ``−da_insolvent_bid_price`` evaluated in Derive's own wad units, truncated to USDC base units.

Market (``enginekit``): BTC-PERP, 1 lot = 0.001 BTC, flat IM 10 % / MM 5 %.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from enginekit import S, Venue, usdc
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, Rejected
from ramparts.fixedpoint import PPM, ceil_div
from ramparts.liquidation.config import LiquidationConfig
from ramparts.venues import derive, drift, mango
from ramparts.venues.profiles import DRIFT_MARKET, DRIFT_SLOT_NS, MANGO_WEIGHTS, PROFILES, profile

ACCOUNTS = ("alice/main", "bob/main", "carol/main")
NEW_KEYS = {"fee_ramp_slot_ns", "fee_max_ppm", "auction_insolvent_ns", "auction_backstop_insolvent_ns", "max_pct_initial_bps",
            "max_pct_duration_slots"}


def kinds(fx, kind):
    return [f for f in fx if f["kind"] == kind]


# ============================================================================ Drift: the liquidation fee over time

RAMP = {"pricing": "oracle_fee", "if_fee_ppm": 10_000, "fee_ramp_slot_ns": DRIFT_SLOT_NS, "fee_max_ppm": 30_000,
        "max_fraction_ppm": 100_000, "min_step_notional": usdc(1_000), "full_close_notional": 0, "cooldown_ns": 0}


def long_ten(liq: dict, t0: int = 1_000 * S + 123) -> tuple[Venue, int]:
    """alice: 60,000 USDC, long 10 BTC at 50,000; at 46,000 equity 20,000 < MM 23,000. Liquidation starts at ``t0``
    (not on a slot boundary: Drift compares absolute slots). Steps of 10 % keep her in liquidation for a while."""
    v = Venue(liquidation=liq, accounts=ACCOUNTS)
    v.deposit("alice/main", 60_000)
    v.deposit("bob/main", 1_000_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "10")
    v.price(46_000)
    return v, t0


def drift_if_ppm(step: dict, fee_ppm: int, cfg: LiquidationConfig) -> int:
    """The insurance fee rate the config documents (one position: its MM is the account's), from the step's own figures."""
    notional, equity, mm = step["notional"] * 10, step["equity_before"], step["maintenance_before"]  # the whole position: 10 steps
    mr_buf = mm * (PPM + cfg.buffer_ppm) // notional
    shortage_ppm = ceil_div(max(mm + ceil_div(mm * cfg.buffer_ppm, PPM) - equity, 0) * PPM, notional)
    return min(cfg.if_fee_ppm, 95 * max(mr_buf - fee_ppm - shortage_ppm, 0) // 100)


@pytest.mark.parametrize(
    "slots, hand_ppm",
    [
        (0, 10_000),  # the base fee (liquidator_fee 1 %)
        (1, 10_000),
        (1_499, 10_000),  # still within the grace period
        (1_500, 11_500),  # base + 1,500 slots × 1 ppm
        (1_501, 11_501),
        (5_000, 15_000),
        (19_999, 29_999),
        (20_000, 30_000),  # = max_liquidation_fee: min(3 × 1 %, MMR 3 %)
        (1_000_000, 30_000),
    ],
)
def test_engine_charges_drifts_liquidation_fee_over_time(slots, hand_ppm):
    v, t0 = long_ten(RAMP)
    (first,) = kinds(v.tick(ts=t0), "LiquidationStep")
    assert first["discount_ppm"] == 10_000  # the liquidation starts here, at the base fee
    t = t0 + slots * DRIFT_SLOT_NS
    fx = v.tick(ts=t)
    (step,) = kinds(fx, "LiquidationStep")
    venue = drift.liquidation_fee(drift.base_liquidator_fee(DRIFT_MARKET), drift.max_liquidation_fee(DRIFT_MARKET),
                                  t0 // DRIFT_SLOT_NS, t // DRIFT_SLOT_NS)
    assert venue == hand_ppm
    assert step["discount_ppm"] == venue
    notional = step["notional"]
    fee = ceil_div(notional * venue, PPM)
    assert step["to_liquidator"] == fee  # the whole liquidation fee is the liquidator's (in the transfer price)
    assert step["price"] == f"{46_000 * (PPM - venue) / PPM:.8f}"  # oracle × (1 − fee): the vault buys a long cheaper
    cfg = LiquidationConfig.from_dict(RAMP)
    assert step["to_insurance"] == ceil_div(notional * drift_if_ppm(step, venue, cfg), PPM)


def test_the_fee_clock_counts_absolute_slots():
    """Drift compares the current slot with the liquidation's start slot: 1,500 slot boundaries, not 1,500 × 400 ms."""
    v, t0 = long_ten(RAMP, t0=1_000 * S + DRIFT_SLOT_NS - 1)  # the last ns of a slot
    v.tick(ts=t0)
    (step,) = kinds(v.tick(ts=t0 + 1_499 * DRIFT_SLOT_NS + 1), "LiquidationStep")  # 1,499 slots + 1 ns: slot + 1,500
    assert step["discount_ppm"] == 11_500 == drift.liquidation_fee(10_000, 30_000, 0, 1_500)


def test_a_keeper_gets_the_risen_fee_and_the_clock_is_state():
    v, t0 = long_ten(RAMP)
    v.deposit("carol/main", 100_000)
    v.tick(ts=t0)
    sub = v.e.sub_index("alice/main")
    assert v.e.auctions == {sub: t0}  # the start of the liquidation: hashed and snapshotted
    assert Engine.restore(v.e.snapshot()).state_hash() == v.e.state_hash()
    before = v.e.risk("carol/main").equity
    t = t0 + 4_000 * DRIFT_SLOT_NS
    fx = v.apply(ev.LiquidationBid(ts=v.now(t), liquidator="carol/main", subaccount="alice/main"))
    (step,) = kinds(fx, "LiquidationStep")
    rate = drift.liquidation_fee(10_000, 30_000, t0 // DRIFT_SLOT_NS, t // DRIFT_SLOT_NS)
    assert rate == 14_000 and step["discount_ppm"] == rate
    assert v.e.risk("carol/main").equity - before == ceil_div(step["notional"] * rate, PPM)


def test_the_clock_ends_with_the_liquidation():
    liq = dict(RAMP, max_fraction_ppm=1_000_000)  # the whole position at once: the liquidation ends in one step
    v, t0 = long_ten(liq)
    fx = v.tick(ts=t0)
    assert kinds(fx, "LiquidationEnded") and not v.e.auctions
    assert "auctions" not in v.e.state_dict()["waterfall"]


def test_a_capped_ramp_charges_what_a_fixed_fee_charges():
    """fee_max_ppm = the base fee: every balance and every step equal the fixed-fee run's (the ramp adds only its clock)."""
    fixed = {k: v for k, v in RAMP.items() if k not in ("fee_ramp_slot_ns", "fee_max_ppm")}
    runs = []
    for liq in (fixed, dict(RAMP, fee_max_ppm=10_000)):
        v, t0 = long_ten(liq)
        steps = []
        for k in range(8):
            steps += [(f["lots"], f["price"], f["to_liquidator"], f["to_insurance"]) for f in kinds(v.tick(ts=t0 + k * 900 * S), "LiquidationStep")]
        runs.append((steps, [v.bal(a) for a in ("alice/main", "backstop/vault", "insurance:global")]))
    assert runs[0] == runs[1] and len(runs[0][0]) >= 3  # several steps, spread over 45 min (1,500 slots = 10 min)


# ============================================================================ Drift: the max percentage to liquidate

DRIFT = profile("drift").venue


def drift_long(liq: dict | None = None, t0: int = 1_000 * S + 123) -> tuple[Venue, int]:
    """The drift profile's engine (its tiers, IM 5 % / MM 3 %, and its liquidation): alice 60,000 USDC, long 10 BTC at
    50,000; at 45,000 equity 10,000 < MM 13,500, a shortage of 3,500 USDC (no buffer). Liquidation starts at ``t0``."""
    v = Venue(liquidation=DRIFT.liquidation if liq is None else liq, perp={"tiers": DRIFT.tiers}, accounts=ACCOUNTS)
    v.deposit("alice/main", 60_000)
    v.deposit("bob/main", 1_000_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "10")
    v.price(45_000)
    return v, t0


def unlimited_step(v: Venue, ts: int) -> int:
    """The lots a step at ``ts`` would close without Drift's limit: the engine's own smallest close restoring maintenance
    (a copy of the engine through its snapshot, the limit off, no minimum step, no small-position rule)."""
    twin = Engine.restore(v.e.snapshot())
    twin.liq = twin.liq.replace("max_pct_initial_bps", 10_000).replace("min_step_notional", 0).replace("full_close_notional", 0)
    (step,) = kinds(twin.apply(ev.Tick(ts=ts, liquidator="keeper")), "LiquidationStep")
    return -step["lots"]


def drift_schedule(v: Venue, t0: int, every_slots: int, initial: int, duration: int) -> list[dict]:
    """Tick every ``every_slots`` slots until the liquidation ends; at each step check the engine's lots against
    ``drift.max_pct_to_liquidate`` fed the slot, the start slot, the shortage before the step and the margin freed so far
    (this test's own tally of the shortage's falls, read from the engine's equity and maintenance after each tick)."""
    sub = v.e.sub_index("alice/main")
    freed, steps, k = 0, [], 0
    while True:
        ts = t0 + k * every_slots * DRIFT_SLOT_NS
        to_cover = unlimited_step(v, ts)
        fx = v.tick(ts=ts)
        (step,) = kinds(fx, "LiquidationStep")
        shortage = max(step["maintenance_before"] - step["equity_before"], 0)  # the profile's buffer is 0
        pct = drift.max_pct_to_liquidate(shortage, ts // DRIFT_SLOT_NS, t0 // DRIFT_SLOT_NS, freed, initial, duration)
        assert step["max_pct"] == pct and step["to_cover"] == to_cover
        assert -step["lots"] == min(ceil_div(to_cover * pct, drift.LIQUIDATION_PCT_PRECISION), 10_000 + sum(s["lots"] for s in steps))
        freed += max(shortage - max(int(v.e.sub_mm[sub]) - v.e.equity(sub), 0), 0)
        assert step["margin_freed"] == freed
        steps.append(step)
        if kinds(fx, "LiquidationEnded"):
            assert not v.e.auctions and not v.e.liq_freed  # the start and the tally end with the liquidation
            return steps
        assert v.e.auctions == {sub: t0} and v.e.liq_freed == {sub: freed}  # engine state: hashed and snapshotted
        k += 1


def test_engine_steps_follow_drifts_max_pct_to_liquidate_slot_by_slot():
    """The profile (10 %, 150 slots): a tick every 10 slots frees 1/15 of the shortage more each time, until it is gone."""
    v, t0 = drift_long()
    steps = drift_schedule(v, t0, 10, 1_000, 150)
    assert [s["max_pct"] for s in steps][:3] == [1_000, 739, 800] and steps[-1]["max_pct"] == 10_000
    assert len(steps) == 15 and steps[-1]["margin_freed"] == usdc(3_500)  # the whole shortage, over 140 slots
    assert {s["discount_ppm"] for s in steps} == {10_000}  # within the 1,500-slot grace period: the base fee


def test_a_longer_liquidation_pays_the_risen_fee():
    """Drift's limit spreads a liquidation over time, so its later steps pay the fee that has risen since it began
    (``get_liquidation_fee``): with a 5,000-slot duration and a tick every 500 slots."""
    liq = dict(DRIFT.liquidation, max_pct_duration_slots=5_000)
    v, t0 = drift_long(liq)
    steps = drift_schedule(v, t0, 500, 1_000, 5_000)
    fees = [s["discount_ppm"] for s in steps]
    assert len(steps) > 4 and fees == sorted(fees) and fees[0] == 10_000 and fees[-1] > fees[0]
    for k, s in enumerate(steps):
        assert s["discount_ppm"] == drift.liquidation_fee(10_000, 30_000, t0 // DRIFT_SLOT_NS, t0 // DRIFT_SLOT_NS + k * 500)


def test_the_profile_no_longer_liquidates_in_one_step():
    """Before the limit, the drift profile closed what restored maintenance at once; now 10 % of it, then the rest
    once the 150 slots are over, at the fee of that slot."""
    v, t0 = drift_long()
    first = kinds(v.tick(ts=t0), "LiquidationStep")
    assert [s["lots"] for s in first] == [-778] and v.e.in_liquidation[v.e.sub_index("alice/main")]  # ceil(7,778 × 10 %)
    t = t0 + 2_000 * DRIFT_SLOT_NS
    fx = v.tick(ts=t)
    (second,) = kinds(fx, "LiquidationStep")
    assert kinds(fx, "LiquidationEnded") and second["max_pct"] == 10_000
    assert second["discount_ppm"] == drift.liquidation_fee(10_000, 30_000, t0 // DRIFT_SLOT_NS, t // DRIFT_SLOT_NS) == 12_000
    off, t0 = drift_long(dict(DRIFT.liquidation, max_pct_initial_bps=10_000))
    (whole,) = kinds(off.tick(ts=t0), "LiquidationStep")
    assert -whole["lots"] == unlimited_step(drift_long()[0], t0) == 7_778  # the old rule's one step


def test_no_allowance_no_step_and_a_small_position_goes_whole():
    """Drift: nothing while the allowance is 0 (initial 0 %, no slot elapsed); a position worth at most
    ``full_close_notional`` goes whole (Drift's $50; raised here, since a $50 position's shortage is under $50, where
    the allowance is 100 % anyway)."""
    v, t0 = drift_long(dict(DRIFT.liquidation, max_pct_initial_bps=0))
    fx = v.tick(ts=t0)
    assert not kinds(fx, "LiquidationStep") and v.e.in_liquidation[v.e.sub_index("alice/main")]
    with pytest.raises(Rejected, match="max percentage"):
        v.apply(ev.LiquidationBid(ts=v.now(t0 + 1), liquidator="carol/main", subaccount="alice/main"))
    (step,) = kinds(v.tick(ts=t0 + 15 * DRIFT_SLOT_NS), "LiquidationStep")  # 15 of 150 slots: 10 %
    assert step["max_pct"] == drift.max_pct_to_liquidate(usdc(3_500), 15, 0, 0, 0, 150) == 1_000
    w = Venue(liquidation=dict(DRIFT.liquidation, full_close_notional=usdc(50_000)), perp={"tiers": DRIFT.tiers}, accounts=ACCOUNTS)
    w.deposit("alice/main", 2_600)
    w.deposit("bob/main", 1_000_000)
    w.price(50_000)
    w.fill("alice/main", "bob/main", 50_000, "1")
    w.price(47_600)  # equity 200 < MM 1,428: a shortage of 1,228 USDC, a position worth 47,600 ≤ 50,000
    (whole,) = kinds(w.tick(ts=t0), "LiquidationStep")
    assert whole["lots"] == -1_000 and whole["max_pct"] == 1_000


def test_the_freed_margin_is_state_that_replays():
    """Mid-liquidation, the start and the margin freed are in the state: a snapshot restores the same hash, and replaying
    the events reproduces it."""
    events = []
    orig = Venue.apply

    def recording(self, event, _orig=orig):
        events.append(event)
        return _orig(self, event)

    Venue.apply = recording
    try:
        v, t0 = drift_long()
        v.tick(ts=t0)
        v.tick(ts=t0 + 30 * DRIFT_SLOT_NS)
    finally:
        Venue.apply = orig
    sub = v.e.sub_index("alice/main")
    assert v.e.liq_freed[sub] > 0 and v.e.state_dict()["waterfall"]["liq_freed"] == [[sub, v.e.liq_freed[sub]]]
    assert Engine.restore(v.e.snapshot()).state_hash() == v.e.state_hash()
    e2 = Engine()
    for event in events:
        e2.apply(event)
    assert e2.state_hash() == v.e.state_hash() and e2.auctions == v.e.auctions and e2.liq_freed == v.e.liq_freed


# ============================================================================ Derive: the insolvent auction

INSOLVENT = {"pricing": "dutch_auction", "auction_insolvent_ns": 600 * S, "auction_backstop_insolvent_ns": 600 * S}


def insolvent(liq: dict, fund=1_000) -> tuple[Venue, int]:
    """alice: 1,000 USDC, long 0.1 BTC at 50,000; at 38,000 her equity is −200 and her maintenance 190 (5 % of 3,800)."""
    v = Venue(liquidation=liq, accounts=ACCOUNTS)
    v.deposit("alice/main", 1_000)
    v.deposit("bob/main", 10_000)
    v.deposit("carol/main", 1_000)
    v.apply(ev.FundInsurance(ts=v.now(), amount=str(fund)))
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.1")
    v.price(38_000)
    return v, v.now()


WAD_PER_BASE = 10**12  # Derive's cash is 18-decimal, USDC base units 6


def derive_payout(equity: int, mm: int, elapsed_s: int) -> int:
    """What Derive's security module pays the bidder of 100 %: −bid price, computed in Derive's wad, truncated to base units."""
    price_wad = derive.da_insolvent_bid_price((equity - mm) * WAD_PER_BASE, equity * WAD_PER_BASE, elapsed_s, derive.DA_CONFIG_TEST)
    return -price_wad // WAD_PER_BASE  # price ≤ 0: −price ≥ 0, and floor of a non-negative = truncation toward zero


@pytest.mark.parametrize(
    "elapsed_s, hand",
    [
        (0, "200"),  # the opening price min(MtM, 0): the deficit alone
        (1, "200.316666"),  # + 190 / 600, truncated
        (300, "295"),  # + half the maintenance margin
        (599, "389.683333"),
        (600, "390"),  # MM: deficit + the whole maintenance margin
        (5_000, "390"),
    ],
)
def test_keeper_is_paid_derives_insolvent_bid(elapsed_s, hand):
    v, t0 = insolvent(INSOLVENT)
    fx = v.tick(ts=t0)
    (started,) = kinds(fx, "AuctionStarted")
    assert started["insolvent"] and not kinds(fx, "Bankruptcy")  # the vault waits: keepers may buy it
    equity, mm = v.e.equity(v.e.sub_index("alice/main")), v.e.risk("alice/main").maintenance_margin
    assert (equity, mm) == (usdc(-200), usdc(190))
    ts = t0 + elapsed_s * S + 7  # Derive's clock is whole seconds (no tick in between: the vault does not buy first)
    fund0, carol0 = v.bal("insurance:global"), v.e.risk("carol/main").equity
    fx = v.apply(ev.LiquidationBid(ts=v.now(ts), liquidator="carol/main", subaccount="alice/main"))
    (fill,) = kinds(fx, "AuctionInsolventFill")
    paid = derive_payout(equity, mm, ts // S - t0 // S)
    assert paid == usdc(hand)
    assert fill["insurance_paid"] == paid == fund0 - v.bal("insurance:global")
    assert fill["to_liquidator"] == paid - usdc(200) == v.e.risk("carol/main").equity - carol0
    assert v.e.position("carol/main", "BTC-PERP")[0] == 100 and v.bal("alice/main") == 0
    assert not v.e.insolvent_auctions and "insolvent_auctions" not in v.e.state_dict()["waterfall"]


def test_the_vault_buys_at_the_opening_price_once_its_delay_is_over():
    v, t0 = insolvent(INSOLVENT)
    v.tick(ts=t0)
    assert v.e.insolvent_auctions == {v.e.sub_index("alice/main"): t0}
    assert Engine.restore(v.e.snapshot()).state_hash() == v.e.state_hash()
    assert not kinds(v.tick(ts=t0 + 599 * S), "Bankruptcy")
    fx = v.tick(ts=t0 + 600 * S)
    (b,) = kinds(fx, "Bankruptcy")
    assert b["deficit"] == usdc(200) and v.bal("insurance:global") == usdc(800)  # the fund pays the deficit only
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100 and not v.e.insolvent_auctions


def test_a_keeper_asking_more_than_the_elapsed_share_is_refused():
    v, t0 = insolvent(INSOLVENT)
    v.tick(ts=t0)
    before = v.e.state_hash()
    with pytest.raises(Exception, match="discount"):  # 150 s of 600: 25 % of the maintenance margin, not 30 %
        v.e.apply(ev.LiquidationBid(ts=t0 + 150 * S, liquidator="carol/main", subaccount="alice/main", min_discount_ppm=300_000))
    assert v.e.state_hash() == before
    fx = v.apply(ev.LiquidationBid(ts=v.now(t0 + 150 * S), liquidator="carol/main", subaccount="alice/main",
                                   min_discount_ppm=250_000))
    (fill,) = kinds(fx, "AuctionInsolventFill")
    assert fill["discount_ppm"] == 250_000 and fill["to_liquidator"] == usdc("47.5")


def test_without_the_insolvent_auction_nothing_changes():
    """auction_insolvent_ns = 0 keeps the older rule: the solvent schedule's discount × MM (see test_liquidation_mechanisms)."""
    v, t0 = insolvent({"pricing": "dutch_auction"})
    fx = v.apply(ev.LiquidationBid(ts=v.now(), liquidator="carol/main", subaccount="alice/main"))
    (fill,) = kinds(fx, "AuctionInsolventFill")
    assert fill["to_liquidator"] == 0  # no auction has run: discount 0


# ============================================================================ profiles and configuration


def test_profiles_run_the_venue_functions():
    d = LiquidationConfig.from_dict(profile("drift").venue.liquidation)
    assert (d.penalty_ppm, d.fee_max_ppm, d.fee_ramp_slot_ns) == (drift.base_liquidator_fee(DRIFT_MARKET),
                                                                  drift.max_liquidation_fee(DRIFT_MARKET), 400_000_000)
    assert profile("drift").venue.tiers == [["0", "0.05", "0.03"]]
    r = LiquidationConfig.from_dict(profile("derive").venue.liquidation)
    assert r.auction_insolvent_ns == derive.DA_CONFIG_TEST.insolvent_auction_length * S and r.auction_backstop_insolvent_ns == 0
    # the claims these mechanisms removed are gone from the profiles
    assert not any("fixed (no time-based increase)" in x for x in profile("drift").differences)
    assert not any("closed at once" in x and "not auctioned" in x for x in profile("derive").differences)


def test_other_profiles_and_the_default_state_do_not_carry_the_new_keys():
    for name, p in PROFILES.items():
        keys = set(LiquidationConfig.from_dict(p.venue.liquidation).to_dict()) & NEW_KEYS
        assert keys == ({"fee_ramp_slot_ns", "fee_max_ppm", "max_pct_initial_bps", "max_pct_duration_slots"} if name == "drift" else {"auction_insolvent_ns"} if name.startswith("derive")
                        else set()), name
    assert not set(LiquidationConfig().to_dict()) & NEW_KEYS


@pytest.mark.parametrize(
    "liq, match",
    [
        ({"fee_ramp_slot_ns": 400_000_000, "fee_max_ppm": 5_000}, "fee_max_ppm.*at least penalty_ppm"),
        ({"fee_max_ppm": 2_000_000}, "fee_max_ppm.*at most 1e6"),
        ({"auction_insolvent_ns": 1_500_000_000}, "auction_insolvent_ns.*whole seconds"),
        ({"fee_ramp_slot_ns": -1}, "fee_ramp_slot_ns.*non-negative"),
        ({"max_pct_initial_bps": 10_001}, "max_pct_initial_bps.*at most 10,000"),
        ({"max_pct_initial_bps": 1_000}, "max_pct_initial_bps.*oracle_fee and fee_ramp_slot_ns"),
        ({"max_pct_initial_bps": 1_000, "pricing": "oracle_fee"}, "max_pct_initial_bps.*fee_ramp_slot_ns"),
    ],
)
def test_bad_parameters_are_clear_errors(liq, match):
    with pytest.raises(InvalidInput, match=match):
        LiquidationConfig.from_dict(liq)


# ============================================================================ Mango: health as the engine's margin


def mango_venue(seed: int) -> tuple[Venue, list[str]]:
    """Random accounts on two perps with the ``mango`` profile's tiers: fills at random prices, then random marks
    (no tick: the accounts stay as they are, some of them below maintenance)."""
    import random

    from ramparts.engine.presets import perpetual

    rng = random.Random(seed)
    tiers = profile("mango").venue.tiers
    subs = [f"u{i}/main" for i in range(8)]
    v = Venue(liquidation=profile("mango").venue.liquidation, perp={"tiers": tiers}, accounts=(*subs, "mm/main"))
    v.apply(perpetual("ETH-PERP", "ETH", ts=v.now(), tiers=tiers, size_step="0.01", tick_size="0.01"))
    v.deposit("mm/main", 10_000_000)
    v.price(50_000)
    v.price(3_000, instrument="ETH-PERP")
    for s in subs:
        v.deposit(s, rng.randint(2_000, 40_000))
        for sym, px, step in (("BTC-PERP", 50_000, "0.001"), ("ETH-PERP", 3_000, "0.01")):
            for _ in range(rng.randint(0, 3)):
                size = str(rng.randint(1, 1_500) * Decimal(step))
                price = str(Decimal(px) * (1 + Decimal(rng.randint(-300, 300)) / 10_000))
                buyer, seller = (s, "mm/main") if rng.random() < 0.5 else ("mm/main", s)
                try:
                    v.fill(buyer, seller, price, size, instrument=sym)
                except Exception:  # noqa: BLE001 - a fill the initial margin refuses is skipped
                    pass
    v.price(str(50_000 * (1 + Decimal(rng.randint(-1500, 1500)) / 10_000)))
    v.price(str(3_000 * (1 + Decimal(rng.randint(-1500, 1500)) / 10_000)), instrument="ETH-PERP")
    return v, subs


def mango_health(v: Venue, sub: str, health_type, overall_asset_weight=1) -> Fraction:
    """Mango's HealthCache.health of the engine's account: its USDC (weights 1) and one PerpInfo per position, in
    USDC native units, base in lots (lot size 1) at the lot price, quote = −cost basis."""
    e = v.e
    s = e.sub_index(sub)
    usdc_token = mango.TokenInfo.of(0, int(e.ledger.sub_cash[s]), oracle_price=1, init_asset_weight=1, init_liab_weight=1,
                                    maint_asset_weight=1, maint_liab_weight=1)
    perps = [MANGO_WEIGHTS.perp_info(int(e.book.lots[slot]), -int(e.book.cost[slot]), e.markets[i].mark,
                                     overall_asset_weight=overall_asset_weight) for i, slot in e.book.positions_of(s)]
    return mango.HealthCache.build([usdc_token], perps=perps).health(health_type)


@pytest.mark.parametrize("seed", range(6))
def test_engine_margin_is_mangos_health_on_random_accounts(seed):
    v, subs = mango_venue(seed)
    for sub in subs:
        r = v.e.risk(sub)
        n = v.e.book.n_positions_of(v.e.sub_index(sub))
        for ht, req in ((mango.HealthType.MAINT, r.maintenance_margin), (mango.HealthType.INIT, r.initial_margin)):
            h = mango_health(v, sub, ht)
            ours = r.equity - req
            assert ours <= h < ours + n if n else ours == h  # requirements round up: < 1 base unit a position
    assert sum(v.e.book.n_positions_of(v.e.sub_index(s)) for s in subs) >= 8


def test_the_random_accounts_reach_negative_health():
    """The comparison above covers accounts Mango would liquidate (seed 2: two of them)."""
    v, subs = mango_venue(2)
    assert sum(mango_health(v, s, mango.HealthType.MAINT) < 0 for s in subs) == 2


def test_the_overall_asset_weight_is_the_documented_difference():
    """Mango weights positive unsettled pnl by the overall asset weight; the engine counts it in full: the gap is
    exactly (1 − w) × the positive uhupnl (plus the engine's rounding)."""
    v, subs = mango_venue(11)
    gaps = 0
    for sub in subs:
        r = v.e.risk(sub)
        s = v.e.sub_index(sub)
        pos = [(int(v.e.book.lots[slot]), -int(v.e.book.cost[slot]), v.e.markets[i].mark) for i, slot in v.e.book.positions_of(s)]
        u = [MANGO_WEIGHTS.perp_info(b, q, p).unweighted_health_unsettled_pnl(mango.HealthType.MAINT) for b, q, p in pos]
        w = Fraction(6, 10)
        h = mango_health(v, sub, mango.HealthType.MAINT, overall_asset_weight=w)
        gap = (1 - w) * sum(x for x in u if x > 0)
        ours = r.equity - r.maintenance_margin
        assert ours <= h + gap < ours + max(len(pos), 1)
        gaps += gap > 0
    assert gaps  # some account has positive pnl on the random path


def test_mango_liquidation_stops_at_liquidation_end_health():
    """Below maint health, the vault takes the smallest part at oracle − 1 % that brings Mango's LiquidationEnd health
    (init weights, oracle prices) back to ≥ 0; one lot less would not."""
    v = Venue(liquidation=profile("mango").venue.liquidation, perp={"tiers": profile("mango").venue.tiers})
    v.deposit("alice/main", 60_000)
    v.deposit("bob/main", 1_000_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "10")
    v.price(46_000)  # equity 20,000 < MM 23,000: maint health < 0
    assert mango_health(v, "alice/main", mango.HealthType.MAINT) < 0
    (step,) = kinds(v.tick(), "LiquidationStep")
    assert step["price"] == "45540.00000000"  # oracle × (1 − 1 %)
    assert mango_health(v, "alice/main", mango.HealthType.LIQUIDATION_END) >= 0
    # one lot less: 10,000 − q + 1 lots left, the fee on q − 1 lots
    q = -step["lots"]
    lot = 46_000 * 1_000  # USDC base units per lot at 46,000
    equity_less = usdc(20_000) - ceil_div((q - 1) * lot * 10_000, PPM)
    im_less = ceil_div((10_000 - q + 1) * lot * 100_000, PPM)
    assert equity_less < im_less


def test_mango_rates_come_from_mangos_health():
    from ramparts.margin import mango as mm

    assert mm.rates(MANGO_WEIGHTS) == (Fraction(1, 10), Fraction(1, 20))
    assert mm.liquidation_end_buffer_ppm(MANGO_WEIGHTS) == 1_000_000
    assert mm.tiers(mm.MangoPerpWeights.symmetric("0.2", "0.1")) == [["0", "0.2", "0.1"]]
    assert mm.liquidation_end_buffer_ppm(mm.MangoPerpWeights.symmetric("0.25", "0.15")) == 666_667  # 2/3, rounded up
    with pytest.raises(InvalidInput, match="not symmetric"):
        mm.rates(mm.MangoPerpWeights(Fraction(9, 10), Fraction(12, 10), Fraction(95, 100), Fraction(105, 100)))
    with pytest.raises(InvalidInput, match="no exact decimal"):
        mm.tiers(mm.MangoPerpWeights.symmetric("1/3", "1/6"))


def test_replaying_the_events_reproduces_the_new_state():
    """The fee clock and the insolvent auction are engine state: replaying the same events gives the same hash,
    mid-liquidation and mid-auction included."""
    for build, liq in ((long_ten, RAMP), (insolvent, INSOLVENT)):
        events = []
        orig = Venue.apply

        def recording(self, event, _orig=orig, _events=events):
            _events.append(event)
            return _orig(self, event)

        Venue.apply = recording
        try:
            v, t0 = build(liq)
            v.tick(ts=t0)
            v.tick(ts=t0 + 2_000 * DRIFT_SLOT_NS if build is long_ten else t0 + 100 * S)
        finally:
            Venue.apply = orig
        assert v.e.auctions or v.e.insolvent_auctions
        e2 = Engine()
        for event in events:
            e2.apply(event)
        assert e2.state_hash() == v.e.state_hash()


# ============================================================================ Derive PMRM_2 (perp-only accounts)


def test_engine_margin_is_pmrm2_on_random_perp_only_accounts():
    """The derive-pmrm profile's engine: equity − requirement equals PMRM_2's margin (pmrm_margin, Derive's wad) of each
    account — cash, one BTC perp at the mark (= spot), its unrealised pnl as perp_value — up to the engine's rounding up."""
    import random

    from ramparts.venues import derive_pmrm as pm

    rng = random.Random(5)
    p = profile("derive-pmrm").venue
    subs = [f"u{i}/main" for i in range(12)]
    v = Venue(liquidation=p.liquidation, perp={"tiers": p.tiers}, accounts=(*subs, "mm/main"))
    v.deposit("mm/main", 10_000_000)
    v.price(50_000)
    for s in subs:
        v.deposit(s, rng.randint(1_000, 30_000))
        for _ in range(rng.randint(1, 3)):
            buyer, seller = (s, "mm/main") if rng.random() < 0.5 else ("mm/main", s)
            try:
                v.fill(buyer, seller, str(50_000 + rng.randint(-2_000, 2_000)), str(rng.randint(1, 900) / Decimal(1_000)))
            except Exception:  # noqa: BLE001 - a fill the initial margin refuses is skipped
                pass
    v.price("44321.7")
    wad_per_base = 10**12
    checked = unhealthy = 0
    for sub in subs:
        s = v.e.sub_index(sub)
        if not v.e.book.n_positions_of(s):
            continue
        ((i, slot),) = v.e.book.positions_of(s)
        lots, cost, mark = int(v.e.book.lots[slot]), int(v.e.book.cost[slot]), v.e.markets[i].mark
        price = mark * 10**15  # a lot is 0.001 BTC: USD per BTC = mark × 1000 / 1e6, in wad
        pf = pm.pmrm_arrange(spot=price, perp=lots * 10**15, perp_price=price, perp_value=(lots * mark - cost) * wad_per_base,
                             cash=int(v.e.ledger.sub_cash[s]) * wad_per_base)
        r = v.e.risk(sub)
        for initial, req in ((False, r.maintenance_margin), (True, r.initial_margin)):
            margin = Fraction(pm.pmrm_margin(pf, pm.PMRM2_CONFIG_TEST_SCENARIOS, initial=initial)[0], wad_per_base)
            ours = r.equity - req
            assert ours - Fraction(1, 10**6) <= margin < ours + 1  # wad truncation (≤ a few wei) and our rounding up
        checked += 1
        unhealthy += r.equity < r.maintenance_margin
    assert checked >= 8 and unhealthy >= 1


def test_pmrm2_rates_come_from_pmrm_margin():
    from ramparts.margin import derive_pmrm as dp
    from ramparts.venues import derive_pmrm as pm

    assert dp.rates() == (Fraction(17, 100), Fraction(13, 100))  # 15 % loss × 1.0 + 1 % + 1 %; 15 % × 0.8 + 1 %
    assert profile("derive-pmrm").venue.tiers == [["0", "0.17", "0.13"]]
    up_only = [pm.PMRMScenario(12 * 10**17), pm.PMRMScenario(10**18)]
    with pytest.raises(InvalidInput, match="differ by side"):
        dp.rates(up_only)
