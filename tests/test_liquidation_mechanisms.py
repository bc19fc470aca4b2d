"""The pluggable liquidation mechanisms, hand-worked through the engine.

BTC-PERP: 1 lot = 0.001 BTC, tick 0.1 → a lot price is price × 1000 USDC base units; flat schedule
IM 10 %, MM 5 %. Default waterfall: buffer 10 %, 20 % per step, min step 10,000 USDC, cool-down
30 s, full close ≤ 100,000 USDC, penalty 1 % split 50/50. Every event goes through
:class:`enginekit.Venue`, which checks value conservation after it.

``opened``: alice deposits 1,000, bob 10,000, alice buys 0.1 BTC (100 lots) from bob at 50,000;
alice's equity at price P is 1,000 + 0.1·P − 5,000 and her maintenance margin 0.005·P.
"""

from __future__ import annotations

import hashlib

import pytest

from enginekit import S, Venue, usdc
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, Rejected, UnknownEntity
from ramparts.liquidation.config import LiquidationConfig
from ramparts.liquidation.waterfall import auction_discount, random_start

ACCOUNTS = ("alice/main", "bob/main", "carol/main", "dave/main", "erin/main", "frank/main")


def opened(v: Venue, alice=1000, bob=10_000, size="0.1", price=50_000) -> Venue:
    v.deposit("alice/main", alice)
    v.deposit("bob/main", bob)
    v.price(price)
    v.fill("alice/main", "bob/main", price, size)
    return v


def big(v: Venue) -> Venue:
    """alice: 60,000 USDC, long 10 BTC (10,000 lots) at 50,000; at 46,000 her equity is 20,000 and
    her maintenance 23,000 (5 % of 460,000): 2.3 USDC of MM and 2 USDC of equity per lot."""
    v.deposit("alice/main", 60_000)
    v.deposit("bob/main", 1_000_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "10")
    v.price(46_000)
    return v


def kinds(fx, kind):
    return [f for f in fx if f["kind"] == kind]


def bid(v: Venue, keeper, target="alice/main", ts=None, **kw):
    return v.apply(ev.LiquidationBid(ts=v.now(ts), liquidator=keeper, subaccount=target, **kw))


def unchanged(v: Venue, call, exc, match):
    before = v.e.state_hash()
    with pytest.raises(exc, match=match):
        call()
    assert v.e.state_hash() == before


# ============================================================================ oracle fee (Drift)


@pytest.mark.parametrize(
    "price, if_fee_ppm, liq_fee, if_fee, alice_after",
    [
        # equity 200, MM 210, notional 4,200: MR_buf = 5.5 %, shortage = 231 − 200 = 31 → 7,381 ppm;
        # 0.95 × (55,000 − 10,000 − 7,381) = 35,738 ppm > 1 % → IF fee 42; liquidator fee 1 % = 42
        (42_000, 10_000, "42", "42", "116"),
        # equity 100, MM 205, notional 4,100: shortage 225.5 − 100 = 125.5 → 30,610 ppm;
        # 0.95 × (55,000 − 10,000 − 30,610) = 13,670 ppm < 2 % → IF fee 4,100 × 1.367 % = 56.047
        (41_000, 20_000, "41", "56.047", "2.953"),
        # equity 10: the 40.1 liquidator fee is capped at the equity, nothing is left for the fund
        (40_100, 10_000, "10", "0", "0"),
    ],
)
def test_oracle_fee_liquidator_takes_at_oracle_minus_fee(price, if_fee_ppm, liq_fee, if_fee, alice_after):
    v = opened(Venue(liquidation={"pricing": "oracle_fee", "if_fee_ppm": if_fee_ppm}))
    v.price(price)
    fx = v.tick()
    (step,) = kinds(fx, "LiquidationStep")
    assert (step["to_liquidator"], step["to_insurance"]) == (usdc(liq_fee), usdc(if_fee))
    assert step["liquidator"] == "backstop/vault"  # the vault is the liquidator and keeps the fee
    assert v.bal("alice/main") == usdc(alice_after)
    assert v.bal("insurance:global") == usdc(if_fee)
    assert v.bal("liquidator:keeper") == 0
    # the vault bought 100 lots at P − fee: its equity at the mark is the fee
    assert v.e.equity(v.e.backstop) == usdc(liq_fee)
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100


def test_oracle_fee_transfer_price():
    v = opened(Venue(liquidation={"pricing": "oracle_fee"}))
    v.price(42_000)
    (step,) = kinds(v.tick(), "LiquidationStep")
    assert step["price"] == "41580.00000000"  # 42,000 × (1 − 1 %)
    assert step["pricing"] == "oracle_fee"


# ============================================================================ Dutch auction (Derive)


@pytest.mark.parametrize(
    "elapsed_s, discount_ppm",
    [
        (0, 0),
        (300, 100_000),  # half the fast phase: 20 % / 2
        (599, 199_666),  # 200,000 × 599 / 600, rounded down
        (600, 200_000),  # end of the fast phase
        (600 + 3_600, 600_000),  # half the slow phase: 20 % + 80 % / 2
        (600 + 7_200, 1_000_000),
        (100_000, 1_000_000),
        (-5, 0),
    ],
)
def test_auction_discount_is_linear_fast_then_slow(elapsed_s, discount_ppm):
    assert auction_discount(LiquidationConfig(pricing="dutch_auction"), elapsed_s * S) == discount_ppm


def test_auction_discount_with_other_phases():
    cfg = LiquidationConfig(auction_fast_ns=100 * S, auction_slow_ns=1_000 * S, auction_fast_discount_ppm=50_000)
    # 10 s of 100: 5 % × 0.1 = 0.5 %; 600 s: 5 % + 95 % × 500 / 1,000 = 52.5 %
    assert [auction_discount(cfg, t * S) for t in (10, 100, 600, 1_100)] == [5_000, 50_000, 525_000, 1_000_000]


def test_auction_partial_fill_to_the_buffer_by_a_keeper():
    v = big(Venue(liquidation={"pricing": "dutch_auction"}, accounts=ACCOUNTS))
    v.deposit("carol/main", 20_000)
    t0 = v.now()
    fx = v.tick(ts=t0)
    assert [f["kind"] for f in fx] == ["AuctionStarted"]  # 0 % < the vault's 20 %: nobody buys yet
    assert v.e.auctions == {v.e.sub_index("alice/main"): t0}
    fx = bid(v, "carol/main", ts=t0 + 300 * S)
    (step,) = kinds(fx, "LiquidationStep")
    # discount 10 % of the bought part's equity (2 USDC a lot): 20,000 − 0.2·q ≥ 1.1 × 2.3 × (10,000 − q)
    # → q ≥ 2,274.68 → 2,275 lots; carol is paid 10 % × 4,550 = 455
    assert (step["lots"], step["discount_ppm"], step["to_liquidator"]) == (-2275, 100_000, usdc(455))
    assert step["bankruptcy_price"] == "44000.00000000"  # 46,000 − 2 USDC / 0.001 BTC
    assert fx[-1]["kind"] == "LiquidationEnded"
    assert v.e.position("carol/main", "BTC-PERP")[0] == 2275
    assert v.e.risk("carol/main").equity == usdc(20_455)
    r = v.e.risk("alice/main")
    assert (r.equity, r.maintenance_margin) == (usdc(19_545), usdc("17767.5"))  # ≥ 1.1 × 17,767.5 = 19,544.25
    assert not v.e.auctions


def test_auction_vault_buys_once_the_fast_phase_is_over():
    v = big(Venue(liquidation={"pricing": "dutch_auction"}))
    t0 = v.now()
    v.tick(ts=t0)
    assert not kinds(v.tick(ts=t0 + 599 * S), "LiquidationStep")  # 19.97 % < 20 %
    fx = v.tick(ts=t0 + 600 * S)
    (step,) = kinds(fx, "LiquidationStep")
    # 20,000 − 0.4·q ≥ 1.1 × 2.3 × (10,000 − q) → q ≥ 2,488.3 → 2,489 lots; the vault is paid 20 % × 4,978
    assert (step["lots"], step["to_liquidator"], step["liquidator"]) == (-2489, usdc("995.6"), "backstop/vault")
    assert v.e.risk("alice/main").equity == usdc("19004.4")
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 2489


def test_insolvent_auction_is_paid_by_the_insurance_fund():
    v = opened(Venue(liquidation={"pricing": "dutch_auction"}, accounts=ACCOUNTS))
    v.deposit("carol/main", 1000)
    v.apply(ev.FundInsurance(ts=v.now(), amount="1000"))
    v.price(42_000)
    t0 = v.now()
    assert kinds(v.tick(ts=t0), "AuctionStarted")
    v.price(38_000, ts=t0 + 300 * S)  # equity −200, maintenance 190
    fx = bid(v, "carol/main", ts=t0 + 300 * S)
    (fill,) = kinds(fx, "AuctionInsolventFill")
    # the fund pays the deficit 200 and carol the discount 10 % × MM 190 = 19
    assert (fill["deficit"], fill["to_liquidator"], fill["insurance_paid"]) == (usdc(200), usdc(19), usdc(219))
    assert v.bal("insurance:global") == usdc(781)
    assert v.bal("alice/main") == 0
    assert v.e.position("carol/main", "BTC-PERP")[0] == 100
    assert v.e.risk("carol/main").equity == usdc(1019)
    assert not v.e.insolvent and not v.e.auctions


def test_insolvent_auction_without_fund_cover_is_refused():
    v = opened(Venue(liquidation={"pricing": "dutch_auction"}, accounts=ACCOUNTS))
    v.deposit("carol/main", 1000)
    v.apply(ev.FundInsurance(ts=v.now(), amount="100"))
    v.price(38_000)
    unchanged(v, lambda: bid(v, "carol/main"), Rejected, "insurance fund cannot pay")
    fx = v.tick()  # the tick resolves it: the fund cannot cover the 200, so ADL takes it all (as by default)
    assert kinds(fx, "Deleverage") and not kinds(fx, "InsuranceFundDraw")
    assert v.bal("insurance:global") == usdc(100)


# ============================================================================ keeper bids


def keeper_venue(carol=1000, **liq) -> Venue:
    v = opened(Venue(liquidation=liq, accounts=ACCOUNTS))
    v.deposit("carol/main", carol)
    v.price(42_000)  # alice: equity 200 < MM 210
    return v


@pytest.mark.parametrize(
    "carol, kw, lots, to_carol, to_fund, alice_after",
    [
        # the step is the full close (4,200 ≤ 100,000): penalty 42, carol's half 21, the fund's 21
        (1000, {}, 100, "21", "21", "158"),
        # half the position: penalty 1 % of 2,100 = 21, split 10.5 / 10.5
        (1000, {"max_fraction_ppm": 500_000}, 50, "10.5", "10.5", "179"),
        (1000, {"size": "0.03"}, 30, "6.3", "6.3", "187.4"),
        # carol just meets IM after the take: 400 + 21 = 421 ≥ 10 % × 4,200
        (400, {"min_discount_ppm": 5_000}, 100, "21", "21", "158"),
    ],
)
def test_keeper_bid_accepted(carol, kw, lots, to_carol, to_fund, alice_after):
    v = keeper_venue(carol)
    fx = bid(v, "carol/main", **kw)
    (step,) = kinds(fx, "LiquidationStep")
    assert step["lots"] == -lots and step["liquidator"] == "carol/main"
    assert v.e.position("carol/main", "BTC-PERP")[0] == lots
    assert v.bal("carol/main") == usdc(carol) + usdc(to_carol)
    assert v.bal("insurance:global") == usdc(to_fund)
    assert v.bal("alice/main") == usdc(alice_after)
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 0


@pytest.mark.parametrize(
    "carol, keeper, target, kw, exc, match",
    [
        (1000, "carol/main", "bob/main", {}, Rejected, "not liquidatable"),  # a healthy account
        (300, "carol/main", "alice/main", {}, Rejected, "initial margin"),  # 300 + 21 < 420
        (1000, "carol/main", "alice/main", {"min_discount_ppm": 5_001}, Rejected, "below the bid's minimum"),  # 0.5 % on offer
        (1000, "zed/main", "alice/main", {}, UnknownEntity, "unknown sub-account"),
        (1000, "alice/main", "alice/main", {}, InvalidInput, "cannot liquidate itself"),
        (1000, "backstop/vault", "alice/main", {}, InvalidInput, "system account"),
        (1000, "carol/main", "alice/main", {"size": "0.01", "max_fraction_ppm": 10}, InvalidInput, "not both"),
        (1000, "carol/main", "alice/main", {"max_fraction_ppm": 0}, InvalidInput, "max_fraction_ppm"),
        (1000, "carol/main", "alice/main", {"min_discount_ppm": -1}, InvalidInput, "min_discount_ppm"),
        (1000, "carol/main", "alice/main", {"size": "0"}, InvalidInput, "positive"),
    ],
)
def test_keeper_bid_refused_changes_nothing(carol, keeper, target, kw, exc, match):
    v = keeper_venue(carol)
    unchanged(v, lambda: bid(v, keeper, target, **kw), exc, match)


def test_keeper_bid_respects_the_cool_down_and_bankruptcy():
    v = big(Venue(accounts=ACCOUNTS))
    v.deposit("carol/main", 100_000)
    fx = bid(v, "carol/main")
    assert kinds(fx, "LiquidationStep")[0]["lots"] == -2000  # the 20 % cap, as the vault's step would be
    unchanged(v, lambda: bid(v, "carol/main"), Rejected, "cool-down")
    v.price(40_000)  # alice: 60,000 − 920 + 8,000 × 40 − 400,000 − 2,000 × 6 < 0
    unchanged(v, lambda: bid(v, "carol/main"), Rejected, "bankrupt")


def test_keeper_bid_under_oracle_fee_gets_the_fee():
    v = keeper_venue(pricing="oracle_fee", if_fee_ppm=10_000)
    bid(v, "carol/main")
    # carol buys 100 lots at 41,580: her equity gains the 42 fee
    assert v.e.risk("carol/main").equity == usdc(1042)
    assert v.bal("insurance:global") == usdc(42)


# ============================================================================ batch auction


BATCH_BIDS = [  # (keeper, min discount, cap)
    ("carol/main", 4_000, {"size": "0.06"}),
    ("erin/main", 3_000, {"max_fraction_ppm": 1_000_000}),
    ("frank/main", 6_000, {}),  # asks more than the 0.5 % the strategy gives the liquidator
    ("dave/main", 2_000, {"size": "0.05"}),
]


def batch_venue(order) -> Venue:
    v = opened(Venue(liquidation={"batch_auction": True}, accounts=ACCOUNTS))
    for k in ("carol/main", "dave/main", "erin/main", "frank/main"):
        v.deposit(k, 1000)
    v.price(42_000)
    for i in order:
        keeper, md, kw = BATCH_BIDS[i]
        fx = bid(v, keeper, min_discount_ppm=md, **kw)
        assert [f["kind"] for f in fx] == ["BidQueued"]
    return v


def test_batch_auction_clears_at_one_uniform_discount():
    v = batch_venue([0, 1, 2, 3])
    assert v.e.position("alice/main", "BTC-PERP")[0] == 100  # nothing filled before the tick
    fx = v.tick()
    (cleared,) = kinds(fx, "BatchAuctionCleared")
    # ordered by (discount, keeper): dave 2,000 takes 50, erin 3,000 the other 50; carol is not needed
    assert cleared["fills"] == [["dave/main", 50], ["erin/main", 50]]
    assert cleared["clearing_discount_ppm"] == 3_000  # the highest discount needed to fill the step
    assert sorted((d["liquidator"], d["reason"]) for d in kinds(fx, "BidDropped")) == [
        ("carol/main", "step_filled"), ("frank/main", "discount")]
    (step,) = kinds(fx, "LiquidationStep")
    # keepers: 0.3 % of 4,200 = 12.6, 6.3 each; the fund keeps its half of the 1 % penalty, 21
    assert (step["to_liquidator"], step["to_insurance"]) == (usdc("12.6"), usdc(21))
    assert v.bal("dave/main") == v.bal("erin/main") == usdc("1006.3")
    assert v.bal("alice/main") == usdc("166.4")
    assert v.e.position("dave/main", "BTC-PERP")[0] == v.e.position("erin/main", "BTC-PERP")[0] == 50
    assert not v.e.pending_bids


def test_batch_auction_ignores_arrival_order():
    hashes = set()
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        v = batch_venue(order)
        v.tick()
        hashes.add(v.e.state_hash())
    assert len(hashes) == 1


def test_batch_ties_go_to_the_lower_keeper_id_and_stale_bids_drop():
    v = opened(Venue(liquidation={"batch_auction": True}, accounts=ACCOUNTS))
    for k in ("carol/main", "dave/main"):
        v.deposit(k, 1000)
    v.price(42_000)
    bid(v, "dave/main", min_discount_ppm=1_000)
    bid(v, "carol/main", min_discount_ppm=1_000)
    unchanged(v, lambda: bid(v, "carol/main"), Rejected, "already bids")
    fx = v.tick()
    assert kinds(fx, "BatchAuctionCleared")[0]["fills"] == [["carol/main", 100]]
    # a bid on an account that recovered before the tick is dropped
    v2 = opened(Venue(liquidation={"batch_auction": True}, accounts=ACCOUNTS))
    v2.deposit("carol/main", 1000)
    v2.price(42_000)
    bid(v2, "carol/main")
    v2.price(45_000)
    fx = v2.tick()
    assert [(d["liquidator"], d["reason"]) for d in kinds(fx, "BidDropped")] == [("carol/main", "not_liquidatable")]


# ============================================================================ last resorts


def adl_venue(order=("bob/main", "carol/main", "dave/main"), **liq) -> Venue:
    """alice (1,000) buys 40 lots from bob, 30 from carol and 30 from dave at 50,000."""
    v = Venue(liquidation=liq, accounts=ACCOUNTS)
    for a in ("alice/main", "bob/main", "carol/main", "dave/main"):
        v.deposit(a, 1000 if a == "alice/main" else 5000)
    v.price(50_000)
    sizes = {"bob/main": "0.04", "carol/main": "0.03", "dave/main": "0.03"}
    for seller in order:
        v.fill("alice/main", seller, 50_000, sizes[seller])
    v.price(38_000)  # alice: −200
    return v


def test_adl_random_iterates_from_a_hashed_start():
    v = adl_venue(last_resort="adl_random")
    seq = v.e.seq + 1  # the tick's sequence number
    fx = v.tick()
    shorts = ["bob/main", "carol/main", "dave/main"]  # by sub-account index
    # an independent re-derivation of the start: SHA-256("<seq>:alice/main:BTC-PERP")[:8] mod 3
    start = int.from_bytes(hashlib.sha256(f"{seq}:alice/main:BTC-PERP".encode()).digest()[:8], "big") % 3
    assert start == random_start(seq, "alice/main", "BTC-PERP", 3)
    expected = shorts[start:] + shorts[:start]
    dl = kinds(fx, "Deleverage")
    assert [d["counterparty"] for d in dl] == expected
    assert {d["counterparty"]: d["lots"] for d in dl} == {"bob/main": 40, "carol/main": 30, "dave/main": 30}
    # at the bankruptcy price 40,000: the counterparties pay 4,000 in total, 40 USDC a lot
    assert sum(d["quote"] for d in dl) == usdc(4000)
    assert all(d["bankruptcy_price"] == "40000.00000000" for d in dl)


@pytest.mark.parametrize("seq, n, start", [(1, 3, None), (17, 5, None), (123456, 7, None), (5, 1, 0), (5, 0, 0)])
def test_random_start_is_a_pure_function_of_seq_and_names(seq, n, start):
    got = random_start(seq, "alice/main", "BTC-PERP", n)
    assert got == random_start(seq, "alice/main", "BTC-PERP", n)
    assert 0 <= got < max(n, 1)
    if start is not None:
        assert got == start
    if n > 1:  # the start moves with the sequence number: over 64 sequence numbers, several starts
        assert len({random_start(seq + k, "alice/main", "BTC-PERP", n) for k in range(64)}) > 1


def test_adl_random_does_not_depend_on_fill_or_dict_order():
    # the same accounts and positions after the same number of events, the fills made in another
    # order (so the book's internal sets and dicts were filled in another order)
    a = adl_venue(("bob/main", "carol/main", "dave/main"), last_resort="adl_random")
    b = adl_venue(("dave/main", "carol/main", "bob/main"), last_resort="adl_random")
    assert a.e.state_hash() == b.e.state_hash()
    fa, fb = a.tick(), b.tick()
    assert kinds(fa, "Deleverage") == kinds(fb, "Deleverage") != []
    assert a.e.state_hash() == b.e.state_hash()


def test_socialised_funding_charges_every_position_exactly():
    v = Venue(liquidation={"last_resort": "socialised_funding"}, accounts=ACCOUNTS)
    opened(v)
    for k, amt in (("carol/main", 1000), ("dave/main", 1000), ("erin/main", 100)):
        v.deposit(k, amt)
    v.fill("carol/main", "dave/main", 50_000, "0.03")
    v.fill("erin/main", "dave/main", 50_000, "0.001")
    v.price(38_000)  # alice −200, the fund is empty
    before = {a: v.bal(a) for a in ("bob/main", "carol/main", "dave/main", "erin/main")}
    fx = v.tick()
    (soc,) = kinds(fx, "SocialisedFunding")
    # 200,000,000 over 162 lots (bob −100, carol +30, dave −31, erin +1): floors 123,456,790 /
    # 37,037,037 / 38,271,604 / 1,234,567 leave 2 units, to the largest remainders (dave .938, erin .901)
    paid = {a: before[a] - v.bal(a) for a in before}
    assert paid == {"bob/main": 123_456_790, "carol/main": 37_037_037, "dave/main": 38_271_605, "erin/main": 1_234_568}
    assert sum(paid.values()) == soc["loss"] == soc["charged"] == usdc(200)
    assert (soc["longs_paid"], soc["shorts_paid"], soc["payers"], soc["lots"]) == (38_271_605, 161_728_395, 4, 162)
    assert v.bal("socialised_loss") == 0 and v.bal("alice/main") == 0
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100  # the bankrupt long went to the vault at the mark


def test_dilution_spreads_the_loss_over_cash_balances():
    v = opened(Venue(liquidation={"last_resort": "dilution"}, accounts=ACCOUNTS))
    v.deposit("carol/main", 3000)
    v.deposit("dave/main", 7000)
    v.price(38_000)  # alice −200
    fx = v.tick()
    (dil,) = kinds(fx, "Dilution")
    # balances: bob 10,000, carol 3,000, dave 7,000 = 20,000 → 1 % each
    assert (dil["loss"], dil["charged"], dil["unrecovered"], dil["holders"]) == (usdc(200), usdc(200), 0, 3)
    assert (v.bal("bob/main"), v.bal("carol/main"), v.bal("dave/main")) == (usdc(9900), usdc(2970), usdc(6930))
    assert v.bal("socialised_loss") == 0


def test_dilution_beyond_every_balance_leaves_bad_debt():
    v = Venue(liquidation={"last_resort": "dilution"}, accounts=("alice/main", "bob/main"))
    v.deposit("alice/main", 1000)
    v.deposit("bob/main", 600)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.1")
    v.price(55_000)  # bob (short) below maintenance: the vault takes his short
    v.tick()
    v.withdraw("alice/main", 0.5)  # alice realises her PnL: cash 1,499.5
    v.price(38_000)  # alice −200.5; the only other cash is bob's remainder
    fx = v.tick()
    # bob's step: penalty 1 % of 5,500 = 55 → bob keeps 45, the fund 27.5; alice's −200.5: the fund
    # pays its 27.5, bob's 45 is diluted away, 128 stays as bad debt
    assert [d["amount"] for d in kinds(fx, "InsuranceFundDraw")] == [usdc("27.5")]
    (dil,) = kinds(fx, "Dilution")
    assert (dil["loss"], dil["charged"], dil["unrecovered"], dil["holders"]) == (usdc(173), usdc(45), usdc(128), 1)
    assert v.bal("bob/main") == 0
    assert v.bal("socialised_loss") == -usdc(128)


# ============================================================================ Hyperliquid backstop


@pytest.mark.parametrize(
    "price, backstop",
    [
        (42_000, False),  # equity 200 ≥ 2/3 × 210 = 140: a normal step
        (41_400, False),  # equity 140 ≥ 2/3 × 207 = 138
        (41_350, True),  # equity 135 < 2/3 × 206.75 = 137.83
        (41_000, True),  # equity 100 < 136.67
    ],
)
def test_backstop_below_two_thirds_of_maintenance(price, backstop):
    v = opened(Venue(liquidation={"backstop_below_ppm": 666_667}))
    v.price(price)
    equity = v.e.equity(v.e.sub_index("alice/main"))
    fx = v.tick()
    assert bool(kinds(fx, "BackstopLiquidation")) is backstop
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100
    if backstop:
        (b,) = kinds(fx, "BackstopLiquidation")
        assert b["margin_to_vault"] == equity  # the vault keeps the margin
        assert v.bal("alice/main") == 0 and v.bal("insurance:global") == 0
        assert v.e.equity(v.e.backstop) == equity
    else:
        assert v.bal("insurance:global") == usdc(price) // 2000  # half of the 1 % penalty on 0.1 × P


# ============================================================================ insurance hedging


def test_hedging_reduces_the_vault_delta():
    v = opened(Venue(liquidation={"hedge_insurance": True, "hedge_max_notional": usdc(2100)}, accounts=ACCOUNTS))
    v.price(42_000)
    fx = v.tick()
    assert kinds(fx, "LiquidationStep")  # the vault inherits alice's 100 lots ...
    (h,) = kinds(fx, "InsuranceHedge")
    # ... and sells 2,100 / 42 = 50 of them at the mark to bob, the largest short, for no PnL
    assert (h["counterparty"], h["lots"], h["vault_lots_before"], h["vault_lots_after"], h["vault_pnl"]) == ("bob/main", -50, 100, 50, 0)
    assert v.e.position("bob/main", "BTC-PERP")[0] == -50
    v.price(43_000)
    (h,) = kinds(v.tick(), "InsuranceHedge")
    # 2,100 // 43 = 48 lots, bought at 42,000 and sold at 43,000: +48 USDC
    assert (h["lots"], h["vault_lots_after"], h["vault_pnl"]) == (-48, 2, usdc(48))
    assert h["vault_equity"] == v.e.equity(v.e.backstop)


def test_hedging_needs_a_counterparty():
    v = Venue(liquidation={"hedge_insurance": True}, accounts=("alice/main", "bob/main"))
    opened(v)
    v.price(55_000)
    # bob (short, equity 8,500 ≥ MM 275) stays; the vault holds nothing: nothing to hedge
    assert not kinds(v.tick(), "InsuranceHedge")


# ============================================================================ determinism and bad input


def scenario_events(t0: int = 0) -> list:
    """Dutch auction, keeper bids, a batch bid and a tick, as journal events."""
    from ramparts.engine.presets import genesis, perpetual

    out = [genesis(ts=t0, pricing="dutch_auction", last_resort="adl_random", hedge_insurance=True), perpetual(ts=t0)]
    out += [ev.OpenSubAccount(ts=t0, subaccount=a) for a in ACCOUNTS]
    out += [ev.Deposit(ts=t0, subaccount=a, asset="USDC", amount=amt) for a, amt in
            (("alice/main", "60000"), ("bob/main", "1000000"), ("carol/main", "50000"), ("dave/main", "50000"))]
    out += [ev.OraclePrice(ts=t0 + S, instrument="BTC-PERP", price="50000"),
            ev.Fill(ts=t0 + S, instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="50000", size="10"),
            ev.OraclePrice(ts=t0 + 2 * S, instrument="BTC-PERP", price="46000"),
            ev.Tick(ts=t0 + 3 * S),
            ev.LiquidationBid(ts=t0 + 200 * S, liquidator="carol/main", subaccount="alice/main", max_fraction_ppm=100_000),
            ev.OraclePrice(ts=t0 + 300 * S, instrument="BTC-PERP", price="45000"),
            ev.Tick(ts=t0 + 700 * S),
            ev.OraclePrice(ts=t0 + 800 * S, instrument="BTC-PERP", price="40000"),
            ev.Tick(ts=t0 + 900 * S)]
    return out


def test_journal_replay_and_snapshot_reproduce_the_state(tmp_path):
    from ramparts.engine.node import Node, replay

    node = Node.open(f"sqlite:///{tmp_path / 'j.sqlite'}")
    for i, event in enumerate(scenario_events()):
        node.submit(event)
        if i == 16:  # mid-auction, after a keeper bought 10 %: the auction is part of the state
            assert node.engine.auctions
            assert Engine.restore(node.engine.snapshot()).state_hash() == node.engine.state_hash()
    h = node.engine.state_hash()
    assert replay(node.journal).state_hash() == h
    node.close()
    e2 = Engine()
    for event in scenario_events():
        e2.apply(event)
    assert e2.state_hash() == h


def test_pending_bids_survive_a_snapshot():
    v = batch_venue([0, 1])
    assert v.e.pending_bids
    e2 = Engine.restore(v.e.snapshot())
    assert e2.state_hash() == v.e.state_hash()
    fx1 = v.e.apply(ev.Tick(ts=v.t + S))
    fx2 = e2.apply(ev.Tick(ts=v.t + S))
    assert fx1 == fx2 and e2.state_hash() == v.e.state_hash()


def test_default_config_state_is_unchanged_by_the_new_keys():
    assert set(LiquidationConfig().to_dict()) == {"buffer_ppm", "max_fraction_ppm", "min_step_notional", "cooldown_ns",
                                                   "full_close_notional", "penalty_ppm", "liquidator_share_ppm",
                                                   "insurance_cap_per_tick", "last_resort"}
    assert LiquidationConfig(pricing="oracle_fee").to_dict()["pricing"] == "oracle_fee"
    w = Engine()
    from ramparts.engine.presets import genesis

    w.apply(genesis())
    assert "auctions" not in w.state_dict()["waterfall"] and "pending_bids" not in w.state_dict()["waterfall"]


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("pricing", "english_auction", "unknown strategy 'english_auction'"),
        ("last_resort", "bail_in", "unknown strategy 'bail_in'"),
        ("auction_fast_ns", -1, "non-negative"),
        ("auction_slow_ns", -600, "non-negative"),
        ("auction_fast_ns", 0, "positive"),
        ("auction_fast_discount_ppm", 1_000_001, "at most"),
        ("backstop_below_ppm", 2_000_000, "at most"),
        ("batch_auction", 1, "true or false"),
        ("hedge_max_notional", -5, "non-negative"),
        ("if_fee_ppm", "1%", "non-negative int"),
    ],
)
def test_bad_parameters_are_clear_errors_and_change_nothing(key, value, match):
    v = keeper_venue()
    unchanged(v, lambda: v.apply(ev.ParameterChange(ts=v.now(), target="liquidation", key=key, value=value)), InvalidInput, match)
    with pytest.raises(InvalidInput, match=match):
        Venue(liquidation={key: value})


def test_strategies_can_be_switched_by_parameter_change():
    v = keeper_venue()
    v.apply(ev.ParameterChange(ts=v.now(), target="liquidation", key="pricing", value="oracle_fee"))
    assert v.e.state_dict()["liquidation"]["pricing"] == "oracle_fee"
    (step,) = kinds(v.tick(), "LiquidationStep")
    assert step["price"] == "41580.00000000"


# ============================================================================ seeded fuzz over every mechanism

FUZZ_CONFIGS = [  # (configuration, effects the run must reach, or it proves nothing)
    ({"pricing": "oracle_fee", "if_fee_ppm": 10_000, "last_resort": "socialised_funding"}, {"SocialisedFunding", "KeeperStep"}),
    ({"pricing": "dutch_auction", "auction_fast_ns": 60 * S, "auction_slow_ns": 600 * S, "last_resort": "dilution"},
     {"AuctionStarted", "Dilution", "KeeperStep"}),
    ({"pricing": "dutch_auction", "auction_fast_ns": 60 * S, "auction_slow_ns": 600 * S, "batch_auction": True, "last_resort": "adl_random"},
     {"BatchAuctionCleared", "BidDropped", "Deleverage"}),
    ({"batch_auction": True, "backstop_below_ppm": 666_667, "hedge_insurance": True, "hedge_max_notional": 20_000 * 10**6,
      "last_resort": "adl_random"}, {"BackstopLiquidation", "InsuranceHedge", "BatchAuctionCleared", "Deleverage"}),
]


@pytest.mark.parametrize("config, must_reach", FUZZ_CONFIGS, ids=["oracle-fee", "auction-dilution", "batch-adl-random", "backstop-hedge"])
def test_seeded_fuzz_conserves_value_replays_and_rejects_cleanly(config, must_reach):
    import numpy as np

    from enginekit import USDC
    from ramparts.engine.presets import genesis
    from ramparts.errors import RampartsError
    from test_properties import SUBS, _fuzz_events, build, check_invariants

    _, setup = build()
    setup[0] = genesis(ts=0, cooldown_ns=5 * S, min_step_notional=500 * USDC, full_close_notional=5_000 * USDC, **config)
    e = Engine()
    for x in setup:
        e.apply(x)
    accepted, net_in, kinds_seen = list(setup), 0, set()
    rng = np.random.default_rng(7)
    for event in _fuzz_events(11, 700):
        if isinstance(event, ev.ParameterChange):
            continue  # the generic fuzz switches the last resort; keep the configured one
        batch = [event]
        if isinstance(event, ev.Tick) or rng.random() < 0.2:  # keepers bid before ticks and now and then
            k, s = rng.choice(len(SUBS), 2, replace=False)
            frac = [None, 250_000, 1_000_000][int(rng.integers(0, 3))]
            bid_event = ev.LiquidationBid(ts=event.ts, liquidator=SUBS[k], subaccount=SUBS[s], max_fraction_ppm=frac,
                                          min_discount_ppm=int(rng.choice([0, 2_000, 100_000])))
            batch = [bid_event, event]
        for x in batch:
            before = e.state_hash() if isinstance(x, ev.LiquidationBid) else None
            try:
                fx = e.apply(x)
            except RampartsError:
                if before is not None:
                    assert e.state_hash() == before  # a refused bid changes nothing
                continue
            accepted.append(x)
            kinds_seen.update(f["kind"] for f in fx)
            if isinstance(x, ev.LiquidationBid) and kinds(fx, "LiquidationStep"):
                kinds_seen.add("KeeperStep")
            if isinstance(x, (ev.Deposit, ev.FundInsurance)):
                net_in += int(x.amount * USDC)
            elif isinstance(x, ev.Withdraw):
                net_in -= int(x.amount * USDC)
            check_invariants(e, net_in, after_tick=isinstance(x, ev.Tick))
    replayed = Engine()
    for x in accepted:
        replayed.apply(ev.parse_event(ev.encode_event(x)))
    assert replayed.state_hash() == e.state_hash()
    assert Engine.restore(e.snapshot()).state_hash() == e.state_hash()
    assert must_reach <= kinds_seen, (must_reach - kinds_seen, sorted(kinds_seen))


# ============================================================================ venue profiles


@pytest.mark.parametrize(
    "name, keys",
    [
        ("dydx", {"last_resort": "adl_random", "pricing": "order_book", "book_account": "maker/main"}),
        ("drift", {"pricing": "oracle_fee", "last_resort": "socialised_funding"}),
        ("hyperliquid", {"backstop_below_ppm": 666_667}),
        ("derive", {"pricing": "dutch_auction", "last_resort": "dilution", "auction_fast_ns": 600 * S}),
        ("ramparts", {}),
    ],
)
def test_venue_profiles_use_the_mechanisms(name, keys):
    from ramparts.venues.profiles import profile

    p = profile(name)
    cfg = LiquidationConfig.from_dict(p.venue.liquidation)  # every profile is a valid configuration
    assert {k: getattr(cfg, k) for k in keys} == keys
    assert not any("random start" in d and "not drawn" in d for d in p.differences)  # the old dYdX caveat is gone
    if name != "ramparts":
        assert p.differences
