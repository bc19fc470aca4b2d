"""Order-book liquidation (dYdX v4, ``pricing: "order_book"``), hand-worked through the engine.

BTC-PERP: 1 lot = 0.001 BTC, tick 0.1 → a lot price is price × 1000 USDC base units; flat schedule
IM 10 %, MM 5 %. The book account ``mm/main`` (1,000,000 USDC) stands behind every
``BookSnapshot``. Every event goes through :class:`enginekit.Venue`, which checks value
conservation after it.

``opened``: alice deposits 1,000, bob 10,000, alice buys 0.1 BTC (100 lots) from bob at 50,000;
at price P alice's TNC is 0.1·P − 4,000 and her TMMR = PMMR = 0.005·P, so dYdX's fillable price is
``(PNNV − ABR × SMMR × PMMR) / PS = P × (1 − 0.075 × ABR)`` (SMMR 1.5, MMR 5 %) with
``ABR = clamp(1 − TNC/TMMR, 0, 1)``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from enginekit import S, Venue, usdc
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.errors import InvalidInput, Rejected, UnknownEntity
from ramparts.journal import open_journal
from ramparts.liquidation.waterfall import book_limit

ACCOUNTS = ("alice/main", "bob/main", "carol/main", "mm/main")
OB = {"pricing": "order_book", "book_account": "mm/main", "penalty_ppm": 15_000}


def venue(**liq) -> Venue:
    v = Venue(liquidation={**OB, **liq}, accounts=ACCOUNTS)
    v.deposit("mm/main", 1_000_000)
    return v


def opened(v: Venue, who="alice/main", size="0.1", deposit=1000, short=False) -> Venue:
    v.deposit(who, deposit)
    v.deposit("bob/main", 10_000)
    v.price(50_000)
    if short:
        v.fill("bob/main", who, 50_000, size)
    else:
        v.fill(who, "bob/main", 50_000, size)
    return v


def book(v: Venue, bids=(), asks=(), ts=None):
    return v.apply(ev.BookSnapshot(ts=v.now(ts), instrument="BTC-PERP", bids=[list(x) for x in bids], asks=[list(x) for x in asks]))


def kinds(fx, kind):
    return [f for f in fx if f["kind"] == kind]


def limit_of(v: Venue, who="alice/main") -> tuple[Fraction, int]:
    s = v.e.sub_index(who)
    instr = v.e.instrument("BTC-PERP")
    return book_limit(v.e, s, instr, v.e.book.slot(s, instr.index))


# ============================================================================ fillable price


@pytest.mark.parametrize(
    "short, price, ba_ppm, fillable, limit",
    [
        # long: TNC 400 ≥ TMMR 220 → ABR 0: the fillable price is the oracle
        (False, 44_000, 1_000_000, "44000", "44000"),
        # TNC 210, TMMR 210.5: ABR = 0.5/210.5 = 1/421; 42,100 × 0.075/421 = 7.5
        (False, 42_100, 1_000_000, "42092.5", "42092.5"),
        # TNC 200, TMMR 210: ABR = 1/21; 42,000 × 0.075/21 = 150
        (False, 42_000, 1_000_000, "41850", "41850"),
        # BA 1.5: ABR = 1.5/21 = 1/14; 42,000 × 0.075/14 = 225
        (False, 42_000, 1_500_000, "41775", "41775"),
        # TNC 195, TMMR 209.75: ABR = 14.75/209.75 = 59/839; 41,950 × 0.075 × 59/839 = 221.25 → a sell rounds UP to 41,728.8
        (False, 41_950, 1_000_000, "41728.75", "41728.8"),
        # TNC 100, TMMR 205: ABR = 21/41; 41,000 × 0.075 × 21/41 = 1,575
        (False, 41_000, 1_000_000, "39425", "39425"),
        # TNC 0: ABR 1 → 92.5 % of the oracle; TNC < 0 clamps at 1
        (False, 40_000, 1_000_000, "37000", "37000"),
        (False, 39_000, 1_000_000, "36075", "36075"),
        # short 0.1 BTC sold at 50,000 with 1,000: TNC = 6,000 − 0.1·P, fillable = P × (1 + 0.075 × ABR)
        # P 57,500: TNC 250, TMMR 287.5, ABR = 3/23; 57,500 × 0.075 × 3/23 = 562.5
        (True, 57_500, 1_000_000, "58062.5", "58062.5"),
        # P 57,350: TNC 265, TMMR 286.75, ABR = 87/1147; 57,350 × 0.075 × 87/1147 = 326.25 → a buy rounds DOWN to 57,676.2
        (True, 57_350, 1_000_000, "57676.25", "57676.2"),
    ],
)
def test_fillable_price_at_given_tnc_over_tmmr(short, price, ba_ppm, fillable, limit):
    v = opened(venue(bankruptcy_adjustment_ppm=ba_ppm), short=short)
    v.price(price)
    fp, lim = limit_of(v)
    assert fp == Fraction(fillable) * 1000  # lot-price units: price × 1000
    assert lim == int(Fraction(limit) * 1000)


def test_the_fillable_price_widens_with_insolvency():
    """ABR = 1 − TNC/TMMR rises from 0 (TNC ≥ TMMR) to 1 (TNC ≤ 0): the discount to the oracle
    grows monotonically from 0 to SMMR × MMR = 7.5 %."""
    v = opened(venue())
    discounts = []
    for p in range(44_000, 38_900, -100):  # TNC/TMMR from 1.82 down to −0.05
        v.price(p)
        fp, _ = limit_of(v)
        discounts.append(1 - fp / (p * 1000))
    assert discounts[0] == 0  # 44,000: TNC 400 ≥ TMMR 220
    assert all(a <= b for a, b in zip(discounts, discounts[1:], strict=False))
    assert discounts[-1] == Fraction(75, 1000)  # fully insolvent: 1.5 × 5 %
    assert discounts.index(Fraction(75, 1000)) == 40  # first reached at 40,000, where TNC = 0


# ============================================================================ walking the book


@pytest.mark.parametrize(
    "penalty_ppm, fees, alice_equity_after, ended",
    [
        # P 42,000: TNC 200, TMMR 210, fillable 41,850; a lot is worth 42 and needs 2.1 of MM.
        # fill 1: 20 lots at 41,990: fillQuote 839.8, bq = 840 − ⌊200 × 42/210⌋ = 800, d = 39.8 > 1.5 % × 839.8 = 12.597
        #   → fee 12.597; TNC = 200 − 0.2 − 12.597 = 187.203, TMMR 168
        # fill 2: 30 lots at 41,950: fillQuote 1,258.5, bq = 1,260 − 187.203 × 63/168 = 1,189.798875, d = 68.70 > 18.8775
        #   → 18.8775; TNC = 187.203 − 1.5 − 18.8775 = 166.8255, TMMR 105
        # fill 3: 10 lots at 41,900: fillQuote 419, bq = 420 − 166.8255 × 21/105 = 386.6349, d = 32.37 > 6.285 → 6.285
        #   TNC = 166.8255 − 1 − 6.285 = 159.5405 ≥ 84 × 1.1: the liquidation ends
        (15_000, ["12.597", "18.8775", "6.285"], "159.5405", True),
        # a 10 % fee is capped by d every time: fill 1 d = 39.8 < 83.98 → TNC 200 − 0.2 − 39.8 = 160 (= 200 × 168/210);
        # fill 2: bq = 1,260 − 160 × 63/168 = 1,200, d = 58.5 → TNC 100; fill 3: bq = 420 − 100 × 21/105 = 400,
        # d = 19 → TNC 80 < TMMR 84: the account keeps its TNC/TMMR and stays in liquidation
        (100_000, ["39.8", "58.5", "19"], "80", False),
    ],
)
def test_a_step_walks_three_levels_with_a_partial_fill(penalty_ppm, fees, alice_equity_after, ended):
    v = opened(venue(penalty_ppm=penalty_ppm))
    v.price(42_000)
    # the fourth level, 41,800, is beyond the fillable price 41,850: left alone
    book(v, bids=[("41990", "0.02"), ("41950", "0.03"), ("41900", "0.01"), ("41800", "1")], asks=[("42010", "1")])
    fx = v.tick()
    (step,) = kinds(fx, "LiquidationStep")
    assert step["step_lots"] == -100 and step["lots"] == -60  # the whole position asked (4,200 ≤ 100,000), 60 lots filled
    assert step["fills"] == [["41990.000", -20, usdc(fees[0])], ["41950.000", -30, usdc(fees[1])], ["41900.000", -10, usdc(fees[2])]]
    assert step["to_insurance"] == sum(usdc(f) for f in fees) and step["to_liquidator"] == 0
    assert step["liquidator"] == "mm/main" and step["pricing"] == "order_book" and step["limit_price"] == "41850.000"
    assert v.bal("insurance:global") == sum(usdc(f) for f in fees)
    assert v.e.equity(v.e.sub_index("alice/main")) == usdc(alice_equity_after)
    assert v.e.position("alice/main", "BTC-PERP")[0] == 40
    assert v.e.position("mm/main", "BTC-PERP")[0] == 60
    # the maker bought 60 lots below the oracle: 20 × 0.01 + 30 × 0.05 + 10 × 0.1 = 2.7 of price concession
    assert v.e.equity(v.e.sub_index("mm/main")) == usdc(1_000_000) + usdc("2.7")
    # consumed levels are gone; the level beyond the fillable price is untouched
    assert v.e.books[0]["bids"] == [[41_800_000, 1000]] and v.e.books[0]["asks"] == [[42_010_000, 1000]]
    assert bool(kinds(fx, "LiquidationEnded")) is ended


def test_the_step_is_the_one_the_sizing_rules_choose():
    """alice: 60,000, long 10 BTC at 50,000; at 46,000 TNC 20,000, TMMR 23,000: the step is capped at
    20 % (2,000 lots: closing them leaves 18,400 MM, target 20,240 > 20,000 − 920 estimated fee).
    ABR = 3/23 → fillable 46,000 − 450 = 45,550. 2,000 lots fill at 45,990: fillQuote 91,980,
    bq = 92,000 − 20,000 × 4,600/23,000 = 88,000, d = 3,980 > 1 % × 91,980 → fee 919.8."""
    v = Venue(liquidation={"pricing": "order_book", "book_account": "mm/main"}, accounts=ACCOUNTS)
    v.deposit("mm/main", 1_000_000)
    v.deposit("alice/main", 60_000)
    v.deposit("bob/main", 1_000_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "10")
    v.price(46_000)
    book(v, bids=[("45990", "5")])
    (step,) = kinds(v.tick(), "LiquidationStep")
    assert (step["step_lots"], step["lots"], step["fills"]) == (-2000, -2000, [["45990.000", -2000, usdc("919.8")]])
    assert step["fillable_price"] == "45550.00000000"
    assert v.e.books[0]["bids"] == [[45_990_000, 3000]]
    assert v.e.position("alice/main", "BTC-PERP")[0] == 8000


# ============================================================================ the insurance fund


def test_the_fund_pays_when_the_fill_is_below_bankruptcy():
    """P 40,000: TNC 0, ABR 1, fillable 37,000. 100 lots fill at 39,900: fillQuote 3,990,
    bq = 4,000 − ⌊0 × 200/200⌋ = 4,000, d = −10: the fund pays 10 and alice ends at exactly 0."""
    v = opened(venue())
    v.apply(ev.FundInsurance(ts=v.now(), amount="100"))
    v.price(40_000)
    book(v, bids=[("39900", "0.5")])
    fx = v.tick()
    (step,) = kinds(fx, "LiquidationStep")
    assert step["fills"] == [["39900.000", -100, -usdc(10)]] and step["insurance_paid"] == usdc(10) and step["to_insurance"] == 0
    (draw,) = kinds(fx, "InsuranceFundDraw")
    assert (draw["fund"], draw["amount"]) == ("insurance:global", usdc(10))
    assert v.bal("insurance:global") == usdc(90)
    assert v.e.equity(v.e.sub_index("alice/main")) == 0 and v.e.position("alice/main", "BTC-PERP")[0] == 0
    assert not kinds(fx, "Deleverage")


def test_a_fill_the_fund_cannot_pay_is_refused_and_a_negative_account_is_deleveraged():
    """P 39,500: TNC −50, TMMR 197.5, fillable 36,537.5. The level at 39,000 would need the fund to
    pay |3,900 − (3,950 + 50)| = 100 > 60: refused, nothing fills, TNC < 0 → deleveraging against bob
    at the bankruptcy price (3,950 + 50)/0.1 = 40,000, without the fund."""
    v = opened(venue())
    v.apply(ev.FundInsurance(ts=v.now(), amount="60"))
    v.price(39_500)
    book(v, bids=[("39000", "1")])
    fx = v.tick()
    (unfilled,) = kinds(fx, "LiquidationUnfilled")
    assert unfilled["reason"] == "insurance_insufficient" and unfilled["limit_price"] == "36537.500"
    assert not kinds(fx, "LiquidationStep") and not kinds(fx, "InsuranceFundDraw")
    (dl,) = kinds(fx, "Deleverage")
    assert (dl["counterparty"], dl["lots"], dl["quote"], dl["bankruptcy_price"]) == ("bob/main", 100, usdc(4000), "40000.00000000")  # bob buys back 100 lots for 4,000
    assert v.bal("insurance:global") == usdc(60)  # untouched
    assert v.e.books[0]["bids"] == [[39_000_000, 1000]]  # the refused level is not consumed
    assert v.e.equity(v.e.sub_index("alice/main")) == 0


@pytest.mark.parametrize(
    "price, bids, deleveraged",
    [
        # TNC −50 < 0 and no level at or above the fillable price 36,537.5 → deleverage (the large fund is not used)
        (39_500, [("36500", "1")], True),
        # no snapshot at all: the same
        (39_500, None, True),
        # TNC 200 ≥ 0: nothing fills (fillable 41,850), the account waits for liquidity
        (42_000, [("41800", "1")], False),
    ],
)
def test_nothing_fills(price, bids, deleveraged):
    v = opened(venue())
    v.apply(ev.FundInsurance(ts=v.now(), amount="100000"))
    v.price(price)
    if bids is not None:
        book(v, bids=bids)
    fx = v.tick()
    (unfilled,) = kinds(fx, "LiquidationUnfilled")
    assert unfilled["reason"] == ("no_book" if bids is None else "no_level_at_fillable_price")
    assert bool(kinds(fx, "Deleverage")) is deleveraged
    assert v.bal("insurance:global") == usdc(100_000)
    assert v.e.position("alice/main", "BTC-PERP")[0] == (0 if deleveraged else 100)
    assert bool(v.e.in_liquidation[v.e.sub_index("alice/main")]) is not deleveraged


def test_keeper_bids_are_refused():
    v = opened(venue())
    v.price(42_000)
    with pytest.raises(Rejected, match="order_book"):
        v.apply(ev.LiquidationBid(ts=v.now(), liquidator="carol/main", subaccount="alice/main"))


# ============================================================================ consumption


def test_two_liquidations_in_one_tick_do_not_reuse_the_same_liquidity():
    """alice and carol each long 0.1 BTC on 1,000 at 50,000; at 42,000 both have fillable 41,850.
    Book: 50 lots at 41,990, 100 at 41,900. alice (first by index) takes 50 + 50; carol the last 50."""
    v = venue()
    v.deposit("alice/main", 1000)
    v.deposit("carol/main", 1000)
    v.deposit("bob/main", 10_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.1")
    v.fill("carol/main", "bob/main", 50_000, "0.1")
    v.price(42_000)
    book(v, bids=[("41990", "0.05"), ("41900", "0.1")])
    steps = kinds(v.tick(), "LiquidationStep")
    assert [(s["subaccount"], [f[:2] for f in s["fills"]]) for s in steps] == [
        ("alice/main", [["41990.000", -50], ["41900.000", -50]]),
        ("carol/main", [["41900.000", -50]]),
    ]
    assert v.e.books[0]["bids"] == []
    assert v.e.position("mm/main", "BTC-PERP")[0] == 150
    # a new snapshot replaces the consumed one
    book(v, bids=[("41990", "1")])
    assert v.e.books[0]["bids"] == [[41_990_000, 1000]]


# ============================================================================ bad input


def _raw(**kw):
    return {"kind": "BookSnapshot", "instrument": "BTC-PERP", "bids": [["41990", "0.1"]], "asks": [["42010", "0.1"]], **kw}


@pytest.mark.parametrize(
    "event, exc, match",
    [
        (_raw(bids=[["42010", "0.1"]]), InvalidInput, "crossed"),
        (_raw(bids=[["42020", "0.1"]]), InvalidInput, "crossed"),
        (_raw(bids=[["41990.05", "0.1"]]), InvalidInput, "tick grid"),
        (_raw(asks=[["42010", "0.0005"]]), InvalidInput, "size step"),
        (_raw(asks=[["42010", "0"]]), InvalidInput, "positive"),
        (_raw(asks=[["42010", "-0.1"]]), InvalidInput, "positive"),
        (_raw(bids=[["NaN", "0.1"]]), InvalidInput, "bids"),
        (_raw(asks=[["42010", "Infinity"]]), InvalidInput, "asks"),
        (_raw(bids=[["41990", "0.1"], ["41990", "0.1"]]), InvalidInput, "strictly descending"),
        (_raw(bids=[["41980", "0.1"], ["41990", "0.1"]]), InvalidInput, "strictly descending"),
        (_raw(asks=[["42020", "0.1"], ["42010", "0.1"]]), InvalidInput, "strictly ascending"),
        (_raw(bids=[["-1", "0.1"]]), InvalidInput, "positive"),
        (_raw(bids=[[str(40_000 - i), "0.001"] for i in range(501)]), InvalidInput, "bids"),
        (_raw(bids=[["41990"]]), InvalidInput, "bids"),
        (_raw(instrument="ETH-PERP"), UnknownEntity, "ETH-PERP"),
    ],
)
def test_book_snapshot_bad_input_changes_nothing(event, exc, match):
    v = opened(venue())
    book(v, bids=[("41000", "1")])
    before = v.e.state_hash()
    with pytest.raises(exc, match=match):
        v.apply({**event, "ts": v.now()})
    assert v.e.state_hash() == before


@pytest.mark.parametrize(
    "liq, match, exc",
    [
        ({"book_account": ""}, "book_account", Rejected),
        ({"book_account": "nobody/main"}, "nobody/main", UnknownEntity),
        ({"book_account": "backstop/vault"}, "system account", InvalidInput),
    ],
)
def test_the_book_needs_an_ordinary_book_account(liq, match, exc):
    v = Venue(liquidation={**OB, **liq}, accounts=ACCOUNTS)
    before = v.e.state_hash()
    with pytest.raises(exc, match=match):
        book(v, bids=[("41000", "1")])
    assert v.e.state_hash() == before


def test_book_account_parameter_change_is_checked():
    v = Venue(liquidation={"pricing": "order_book"}, accounts=ACCOUNTS)
    with pytest.raises(UnknownEntity):
        v.apply(ev.ParameterChange(ts=v.now(), target="liquidation", key="book_account", value="nobody/main"))
    with pytest.raises(InvalidInput):
        v.apply(ev.ParameterChange(ts=v.now(), target="liquidation", key="book_account", value="backstop/vault"))
    with pytest.raises(InvalidInput):
        v.apply(ev.ParameterChange(ts=v.now(), target="liquidation", key="bankruptcy_adjustment_ppm", value=999_999))
    v.apply(ev.ParameterChange(ts=v.now(), target="liquidation", key="book_account", value="mm/main"))
    assert v.e.liq.book_account == "mm/main"


def test_a_default_venue_hashes_as_before():
    v = opened(Venue(accounts=ACCOUNTS))
    d = v.e.state_dict()
    assert "books" not in d
    assert not {"book_account", "bankruptcy_adjustment_ppm", "spread_to_mmr_ppm"} & set(d["liquidation"])


# ============================================================================ determinism


class NodeVenue(Venue):
    """A Venue whose events go through a journaled Node."""

    def __init__(self, node: Node, **kw):
        self.node = node
        super().__init__(**kw)

    def apply(self, event):
        fx = self.node.submit(event)
        self.e = self.node.engine
        self.effects.extend(fx)
        if isinstance(event, (ev.Deposit, ev.FundInsurance)):
            self.deposits += int(event.amount * 10**6)
        return fx


def scenario(v: Venue) -> Venue:
    v.deposit("mm/main", 1_000_000)
    v.apply(ev.FundInsurance(ts=v.now(), amount="60"))
    v.deposit("alice/main", 1000)
    v.deposit("carol/main", 1000)
    v.deposit("bob/main", 10_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.1")
    v.fill("carol/main", "bob/main", 50_000, "0.2")
    v.price(42_000)
    book(v, bids=[("41990", "0.05"), ("41900", "0.1")], asks=[("42010", "1")])
    v.tick()
    v.price(39_500)
    book(v, bids=[("39000", "0.05"), ("37000", "0.02")])
    v.tick(ts=v.t + 31 * S)
    v.tick(ts=v.t + 31 * S)
    return v


def test_journal_replay_and_snapshot_restore_are_deterministic(tmp_path):
    live = scenario(Venue(liquidation=OB, accounts=ACCOUNTS))
    assert kinds(live.effects, "LiquidationStep") and kinds(live.effects, "Deleverage")
    node = Node(open_journal(f"sqlite:///{tmp_path / 'j.sqlite'}"))
    journaled = scenario(NodeVenue(node, liquidation=OB, accounts=ACCOUNTS))
    assert journaled.e.state_hash() == live.e.state_hash()
    assert journaled.effects == live.effects
    node.close()
    with open_journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        again = replay(j)
    assert again.state_hash() == live.e.state_hash()
    restored = Engine.restore(live.e.snapshot())
    assert restored.state_hash() == live.e.state_hash()
    assert restored.books == live.e.books
    # the restored engine goes on exactly as the live one
    nxt = ev.BookSnapshot(ts=live.t + S, instrument="BTC-PERP", bids=[["38000", "1"]])
    tick = ev.Tick(ts=live.t + 40 * S)
    for e in (live.e, restored):
        e.apply(nxt)
        e.apply(tick)
    assert restored.state_hash() == live.e.state_hash()


# ============================================================================ the lab's synthetic book


def test_synthetic_book_follows_the_square_root_impact_model():
    """depth 50M, k 1, σ 1 %: level j at j × 0.1 % from 50,000 holding 50M × (2j − 1)/100 of notional
    (level 1: 500,000 USDC = 10 BTC at 49,950 / 50,050; level 20: 19.5M = 390 BTC at 49,000 / 51,000)."""
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.replay import synthetic_book

    v = venue()
    bids, asks = synthetic_book(50_000.0, 0.01, LiquidityModel(), v.e.instrument("BTC-PERP"))
    assert len(bids) == len(asks) == 20
    def dec(levels):
        return [[Decimal(x) for x in lv] for lv in levels]

    assert dec([bids[0], asks[0]]) == [[49_950, 10], [50_050, 10]]
    assert dec([bids[-1], asks[-1]]) == [[49_000, 390], [51_000, 390]]
    book(v, bids=bids, asks=asks)  # a valid snapshot
    assert len(v.e.books[0]["bids"]) == 20
    # a tiny σ still yields strictly ordered levels one tick apart at least
    bids, asks = synthetic_book(50_000.0, 1e-9, LiquidityModel(), v.e.instrument("BTC-PERP"))
    book(v, bids=bids, asks=asks)


def test_an_order_book_replay_posts_books_and_liquidates_against_the_maker():
    import numpy as np

    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import run_replay
    from ramparts.venues.profiles import profile

    n = 60
    t = np.arange(n, dtype=np.int64) * 60 * 10**9 + 1_600_000_000 * 10**9
    p = 10_000 * np.exp(np.concatenate([np.zeros(10), np.linspace(0, np.log(0.6), 30), np.full(20, np.log(0.6))]))
    r = run_replay(t, p, population=PopulationSpec(n_accounts=150, seed=7), venue=profile("dydx").venue)
    assert r.summary["synthetic_book"] == {"levels_a_side": 20, "book_account": "maker/main"}
    assert r.summary["liquidation_steps"] > 0 and r.summary["value_conserved"] and r.summary["replay_identical"]
    assert r.totals["penalty_to_liquidators"] == 0  # dYdX: the liquidator (the book) earns no reward
    base = run_replay(t, p, population=PopulationSpec(n_accounts=150, seed=7))
    assert "synthetic_book" not in base.summary
