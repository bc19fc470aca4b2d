"""Borrowing a collateral asset: liabilities at price × (1 + add-on), borrow requirements, the venue's
liquidity, repayment by the waterfall, and transfer to the vault in bankruptcy.

Hand-worked: ETH (8 decimals) at 2,000 USDC with a 10 % haircut, a 5 % liability add-on and borrow
requirements of 10 % (initial) and 5 % (maintenance) of the borrowed market value; the liquidation
penalty is the default 1 %. Every event goes through tests.enginekit.Venue, which checks
conservation per asset after it.
"""

from __future__ import annotations

import pytest
from tests.enginekit import Venue, usdc

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, Rejected

LENDABLE = {"haircut_ppm": 100_000, "liability_addon_ppm": 50_000, "borrow": {"im_ppm": 100_000, "mm_ppm": 50_000}}


def venue() -> Venue:
    v = Venue(accounts=("alice/main", "bob/main", "carol/main"))
    v.apply(ev.ListAsset(ts=0, symbol="ETH", decimals=8, collateral=LENDABLE))
    v.apply(ev.FundInsurance(ts=0, amount="10000"))
    v.asset_price("ETH", "2000")
    v.deposit("alice/main", 10_000)
    v.deposit("bob/main", "10", asset="ETH")  # the venue now holds 10 ETH it can lend
    v.deposit("carol/main", 100)
    return v


def test_a_borrow_is_a_liability_with_its_add_on_and_a_requirement():
    v = venue()
    e = v.e
    a = e.sub_index("alice/main")
    v.withdraw("alice/main", "2", asset="ETH")  # alice borrows 2 ETH
    assert e.ledger.balance("ETH", a) == -2 * 10**8
    # liability ⌈2 × 2,000 × 1.05⌉ = 4,200; borrow requirements 10 % / 5 % of 4,000 = 400 / 200
    assert e.equity(a) == usdc(10_000 - 4_200)
    assert (int(e.sub_im[a]), int(e.sub_mm[a])) == (usdc(400), usdc(200))
    # the price moves: the liability and the requirements follow
    v.asset_price("ETH", "3000")  # 2 × 3,000 × 1.05 = 6,300; 10 % / 5 % of 6,000
    assert e.equity(a) == usdc(10_000 - 6_300) and (int(e.sub_im[a]), int(e.sub_mm[a])) == (usdc(600), usdc(300))
    assert Engine.restore(e.snapshot()).sub_im[a] == e.sub_im[a]


@pytest.mark.parametrize(
    "who, amount, reason",
    [
        ("alice/main", "11", "insufficient_liquidity"),  # the venue holds 10 ETH
        ("carol/main", "1", "free_collateral"),  # 100 USDC cannot carry a 2,100 liability
    ],
)
def test_a_borrow_beyond_the_venue_s_holdings_or_the_account_s_margin_is_refused(who, amount, reason):
    v = venue()
    before = v.e.state_hash()
    with pytest.raises(Rejected) as info:
        v.withdraw(who, amount, asset="ETH")
    assert info.value.reason == reason and v.e.state_hash() == before


def test_an_asset_that_is_not_lendable_cannot_go_negative():
    v = Venue(accounts=("alice/main", "bob/main"))
    v.apply(ev.ListAsset(ts=0, symbol="ETH", decimals=8, collateral={"haircut_ppm": 100_000}))
    v.asset_price("ETH", "2000")
    v.deposit("alice/main", 10_000)
    v.deposit("bob/main", "10", asset="ETH")
    with pytest.raises(Rejected, match="insufficient_balance"):
        v.withdraw("alice/main", "1", asset="ETH")


def test_the_waterfall_repays_a_borrow_in_breach_from_the_vault():
    v = venue()
    e = v.e
    a = e.sub_index("alice/main")
    v.withdraw("alice/main", "2", asset="ETH")
    v.asset_price("ETH", "4700")  # liability 2 × 4,700 × 1.05 = 9,870: equity 130 < maintenance 470
    assert e.equity(a) == usdc(130) and int(e.sub_mm[a]) == usdc(470)
    fx = v.tick()
    repaid = next(f for f in fx if f["kind"] == "BorrowRepaid")
    # bought back at 4,700 + 1 %: ⌈2 × 4,700 × 1.01⌉ = 9,494
    assert repaid["units"] == 2 * 10**8 and repaid["cost"] == usdc(9_494)
    assert e.ledger.balance("ETH", a) == 0 and e.ledger.balance("ETH", e.backstop) == -2 * 10**8
    assert e.equity(a) == usdc(10_000 - 9_494) and int(e.sub_mm[a]) == 0


def test_in_bankruptcy_the_vault_takes_the_liability_and_the_fund_pays_the_deficit():
    v = venue()
    e = v.e
    a = e.sub_index("alice/main")
    v.withdraw("alice/main", "2", asset="ETH")
    v.asset_price("ETH", "6000")  # liability 12,600: equity −2,600
    fund = v.bal("insurance:global")
    fx = v.tick()
    moved = next(f for f in fx if f["kind"] == "BorrowTransferred")
    assert moved["value"] == usdc(12_600) and e.ledger.balance("ETH", a) == 0
    assert fund - v.bal("insurance:global") == usdc(2_600)  # the deficit
    assert e.equity(a) == 0


def test_bad_borrow_parameters_are_refused():
    v = Venue()
    for bad in ({"im_ppm": 10}, {"im_ppm": 10, "mm_ppm": 20}, {"im_ppm": -1, "mm_ppm": 0}, "yes"):
        with pytest.raises(InvalidInput, match="borrow"):
            v.e.apply(ev.ListAsset(ts=1, symbol="ETH", decimals=8, collateral={"borrow": bad}))


def test_a_breaker_on_a_collateral_asset_pauses_its_withdrawals():
    v = venue()
    rule = {"name": "eth-move", "trigger": "price_move", "instrument": "ETH", "move_ppm": 100_000, "window_ns": 60 * 10**9,
            "pauses": ["withdrawal"], "auto_reset": False}
    v.apply(ev.ParameterChange(ts=v.now(), target="breakers", key="rules", value=[rule]))
    v.asset_price("ETH", "2000")
    fx = v.asset_price("ETH", "1750")  # −12.5 % within the minute
    assert [f["breaker"] for f in fx if f["kind"] == "BreakerTripped"] == ["eth-move"]
    with pytest.raises(Rejected, match="eth-move"):
        v.withdraw("bob/main", "1", asset="ETH")
    v.withdraw("alice/main", 100)  # other assets are not paused
    v.apply(ev.ResetBreaker(ts=v.now(), name="eth-move"))
    v.withdraw("bob/main", "1", asset="ETH")
