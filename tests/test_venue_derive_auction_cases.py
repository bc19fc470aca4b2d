"""Derive (Lyra) v2 ``DutchAuction``'s own unit tests, ported against :class:`ramparts.venues.derive.DutchAuction`
and the pure functions ``da_*`` of :mod:`ramparts.venues.derive` (wad integers, Solidity truncation).

Source: derivexyz/v2-core at ``7736900d395703c4f675376caa4c315402943831``, ``src/liquidation/DutchAuction.sol`` and the
folder ``test/auction/unit-tests/`` (``SolventAuction.t.sol``, ``InsolventAuction.t.sol``, ``DutchAuctionView.t.sol``,
``AuctionEdgeCases.sol``). Every test names its upstream file and function; the assertions are upstream's
(``assertEq`` stays exact, including its ``/ 1e15``-style truncations).

The harness reproduces ``DutchAuctionBase``: ``MockLiquidatableManager`` returns mocked maintenance margins per
(account, scenario) and a mocked mark to market per account — here the ``Mock`` below, handed to
:class:`~ramparts.venues.derive.DutchAuction` as ``margins``; ``executeBid`` does nothing (the mocked margins only
change when a test sets them); bob, the liquidator, holds 20,000 cash; alice, bob and charlie own their accounts (``owners``: the bidder
account's owner must send the bid) and the manager is whitelisted on the auction; ``MockSM`` pays insolvent bids from its
mocked balance (0 unless set), the rest being socialised; the auction parameters are
``config-test.sol::getDefaultAuctionParam`` (:data:`~ramparts.venues.derive.DA_CONFIG_TEST`). Block time starts
at ``T0``. ``settlePerpsWithIndex``, which a bid calls on the manager, is the auction's ``settle`` hook (the mock
records it as ``perpSettled``).

Counts (ported / upstream test functions): SolventAuction 33/33, InsolventAuction 13/13, DutchAuctionView 4/5,
AuctionEdgeCases 1/1. Not ported:

* ``DutchAuctionView.t.sol::testSetSMAccount`` — only stores and reads back the security module's account id;
  ramparts keeps no account ids (the SM's cash is passed to ``is_withdraw_blocked``).
"""

from __future__ import annotations

import dataclasses

import pytest

from ramparts.venues import derive
from ramparts.venues.derive import DutchAuction, DutchAuctionRevert

W = derive.WAD
COMMIT = "7736900d395703c4f675376caa4c315402943831"
T0 = 1_000_000
ALICE, BOB, CHARLIE, SEAN = 1, 2, 3, 4
SCENARIO = 1
P = derive.DA_CONFIG_TEST


def _src(file: str, func: str) -> str:
    return f"v2-core@{COMMIT[:7]}:test/auction/unit-tests/{file}::{func}"


class Mock:
    """``MockLiquidatableManager``: ``getMarginAndMarkToMarket(acc, false, scenario)`` = (mocked MM, mocked MtM);
    ``settlePerpsWithIndex(acc)`` records ``perpSettled[acc]`` (``settleInterest`` does nothing)."""

    def __init__(self):
        self.mm: dict[tuple[int, int], int] = {}
        self.mtm: dict[int, int] = {}
        self.perp_settled: set[int] = set()

    def __call__(self, account, scenario):
        return self.mm.get((account, scenario), 0), self.mtm.get(account, 0)

    def settle(self, account):
        self.perp_settled.add(account)


def _auction(params=P, **kw):
    mock = Mock()
    return mock, DutchAuction(mock, params, settle=mock.settle, **kw)


def _revert(error):
    return pytest.raises(DutchAuctionRevert, match=error)


def _solvent(mock, da, acc=ALICE, now=T0):
    """``_startDefaultSolventAuction``: MM −100, MtM 300 (buffer margin −100 − 400·0.1 = −140)."""
    mock.mm[(acc, SCENARIO)] = -100 * W
    mock.mtm[acc] = 300 * W
    return da.start_auction(acc, SCENARIO, now)


def _insolvent(mock, da, acc=ALICE, now=T0):
    """``_startDefaultInsolventAuction``: MM −300, MtM −100 (the bid moves from −100 to −300)."""
    mock.mm[(acc, SCENARIO)] = -300 * W
    mock.mtm[acc] = -100 * W
    da.start_auction(acc, SCENARIO, now)


BOB_CASH = 20_000 * W
# _setupAccounts: alice, bob and charlie own their accounts (createAccountWithApproval); the test contract itself
# (msg.sender when no prank is set) owns none of them
OWNERS = {ALICE: "alice", BOB: "bob", CHARLIE: "charlie"}
THIS = "this"


# ============================================================================ DutchAuctionView.t.sol
DISCOUNTS = [  # (test, params overrides, seconds since start, discount)
    ("testGetDiscountPercentage", {}, 300, 9 * W // 10),
    ("testGetDiscountPercentage", {}, 600, 8 * W // 10),
    ("testGetDiscountPercentage", {}, 960, 76 * W // 100),
    ("testGetDiscountPercentage", {}, 8160, 0),
    ("testGetDiscountPercentage2", dict(starting_mtm_percentage=96 * W // 100, fast_auction_length=300), 0, 96 * W // 100),
    ("testGetDiscountPercentage2", dict(starting_mtm_percentage=96 * W // 100, fast_auction_length=300), 150, 88 * W // 100),
    ("testGetDiscountPercentage2", dict(starting_mtm_percentage=96 * W // 100, fast_auction_length=300), 300, 8 * W // 10),
    ("testGetDiscountPercentage2", dict(starting_mtm_percentage=96 * W // 100, fast_auction_length=300), 6780, 8 * W // 100),
]


@pytest.mark.parametrize("test, over, elapsed, expected", DISCOUNTS,
                         ids=[f"{_src('DutchAuctionView.t.sol', r[0])}#{i}" for i, r in enumerate(DISCOUNTS)])
def test_discount_percentage(test, over, elapsed, expected):
    assert derive.da_discount_percentage(elapsed, dataclasses.replace(P, **over).validate()) == expected


def test_auction_params():
    # DutchAuctionView.t.sol::testAuctionParams: the parameters set are the parameters read back
    p = derive.DutchAuctionParams(98 * W // 100, 8 * W // 10, 300, 3600, 600, 5 * W // 100, W // 10)
    _mock, da = _auction(p)
    assert da.params == p and da.params.insolvent_auction_length == 600


def test_cannot_set_invalid_params():
    # DutchAuctionView.t.sol::testCannotSetInvalidParams: start > 100 %, cutoff > start, fee > 10 %, buffer > 400 %
    p = dataclasses.replace(P, starting_mtm_percentage=101 * W // 100)
    with _revert("DA_InvalidParameter"):
        p.validate()
    p = dataclasses.replace(p, starting_mtm_percentage=99 * W // 100, fast_auction_cutoff_percentage=W)
    with _revert("DA_InvalidParameter"):
        p.validate()
    p = dataclasses.replace(p, fast_auction_cutoff_percentage=99 * W // 100, liquidator_fee_rate=11 * W // 100)
    with _revert("DA_InvalidParameter"):
        p.validate()
    p = dataclasses.replace(p, liquidator_fee_rate=W // 10).validate()
    with _revert("DA_InvalidParameter"):
        dataclasses.replace(p, buffer_margin_percentage=41 * W // 10).validate()


# ============================================================================ AuctionEdgeCases.sol
def test_insolvent_bid_price_edge_cases():
    # AuctionEdgeCases.sol::testGetInsolventBidPriceEdgeCases (PublicDutchAuction.getInsolventAuctionBidPrice)
    mock, da = _auction()
    with _revert("DA_AuctionNotStarted"):
        da._insolvent_bid_price(da._auction(BOB), -1000 * W, 0, T0)
    mock.mm[(BOB, 0)] = -300 * W  # _startDefaultInsolventAuction (scenario 0, MtM unset: 0 → insolvent)
    da.start_auction(BOB, 0, T0)
    a = da.auctions[BOB]
    for mm, mtm, expected in ((1000 * W, 0, 0), (1000 * W, -100 * W, 0), (1000 * W, 100 * W, 0),  # MM > 0: 0
                              (-1000 * W, 0, 0), (-1000 * W, 100 * W, 0), (-1000 * W, -100 * W, -100 * W)):  # min(MtM, 0)
        assert da._insolvent_bid_price(a, mm, mtm, T0) == expected
    da.set_params(dataclasses.replace(P, insolvent_auction_length=0))  # a zero-length insolvent auction: always MM
    for mtm in (0, 100 * W, -100 * W):
        assert da._insolvent_bid_price(a, -1000 * W, mtm, T0) == -1000 * W


# ============================================================================ InsolventAuction.t.sol
def test_start_insolvent_auction():
    # ::testStartInsolventAuction: insolvent, ongoing, started now, bid price −100 (the MtM)
    mock, da = _auction()
    _insolvent(mock, da)
    a = da.auctions[ALICE]
    assert a.insolvent and a.ongoing and a.start_time == T0
    assert da.current_bid_price(ALICE, T0) == -100 * W


@pytest.mark.parametrize("mtm, to_bidder", [(-100 * W, 100 * W), (100 * W, 0)], ids=[
    _src("InsolventAuction.t.sol", "testCanBidOnInsolventAuctionWith0Bid"),
    _src("InsolventAuction.t.sol", "testCanBidOnInsolventAuctionWith0BidPositiveMTM")])
def test_bid_on_insolvent_auction_at_start(mtm, to_bidder):
    # 100 % at the start: the bidder receives −min(MtM, 0)
    mock, da = _auction()
    _insolvent(mock, da)
    mock.mtm[ALICE] = mtm
    b = da.bid(ALICE, W, T0, bidder_cash=BOB_CASH)
    assert (b.percentage, b.cash_from_bidder, b.cash_to_bidder) == (W, 0, to_bidder)


def test_insolvent_price_limit():
    # ::testCanAddALimitToTheCashReceived: a limit of −200 rejects receiving 100 at the start; halfway the bid is −200:
    # −201 still rejects, −200 passes
    mock, da = _auction()
    _insolvent(mock, da)
    with _revert("DA_PriceLimitExceeded"):
        da.bid(ALICE, W, T0, bidder_cash=BOB_CASH, price_limit=-200 * W)
    half = T0 + P.insolvent_auction_length // 2
    with _revert("DA_PriceLimitExceeded"):
        da.bid(ALICE, W, half, bidder_cash=BOB_CASH, price_limit=-201 * W)
    assert da.bid(ALICE, W, half, bidder_cash=BOB_CASH, price_limit=-200 * W).cash_to_bidder == 200 * W


def test_insolvent_bidder_cash():
    # ::testCannotBidOnInsolventAuctionIfAccountUnderwater: bob keeps 1 of his 20,000 → DA_InsufficientCash (he must hold
    # |MM|·f − paid = 200); with nothing left his portfolio is empty → DA_InvalidBidderPortfolio; re-funded he can bid
    mock, da = _auction()
    _insolvent(mock, da)
    with _revert("DA_InsufficientCash"):
        da.bid(ALICE, W, T0, bidder_cash=W)
    with _revert("DA_InvalidBidderPortfolio"):
        da.bid(ALICE, W, T0, bidder_cash=None)
    assert da.bid(ALICE, W, T0, bidder_cash=20_000 * W).terminated


def test_cannot_start_auction_on_unwhitelisted_manager():
    # ::testCannotStartAuctionOnUnWhitelistedManager: the owner de-lists the manager (alice's margins never set:
    # the whitelist is checked before them) → DA_NotWhitelistedManager
    _mock, da = _auction()
    da.set_whitelist_manager("manager", False)
    with _revert("DA_NotWhitelistedManager"):
        da.start_auction(ALICE, SCENARIO, T0)
    assert ALICE not in da.auctions


def test_cannot_bid_on_auction_on_unwhitelisted_manager():
    # ::testCannotBidOnAuctionOnUnWhitelistedManager: alice's default insolvent auction, then the manager is de-listed:
    # bid(alice, bob, 0.5) from the test contract → DA_NotWhitelistedManager (before the settle hook and the owner check)
    mock, da = _auction(owners=OWNERS)
    _insolvent(mock, da)
    da.set_whitelist_manager("manager", False)
    with _revert("DA_NotWhitelistedManager"):
        da.bid(ALICE, W // 2, T0, bidder_cash=BOB_CASH, bidder=BOB, sender=THIS)
    assert mock.perp_settled == set() and da.auctions[ALICE].ongoing  # ours: nothing moved


def test_insolvent_bid_paid_by_security_module():
    # ::testBidForInsolventAuctionFromSM: 12 s in (2 %): bid = −200·12/600 − 100 = −104; 50 % → 52 from the SM
    mock, da = _auction()
    _insolvent(mock, da)
    b = da.bid(ALICE, W // 2, T0 + 12, bidder_cash=BOB_CASH)
    assert (b.percentage, b.cash_from_bidder, b.cash_to_bidder) == (W // 2, 0, 52 * W)


def test_insolvent_bid_makes_sm_insolvent():
    # ::testBidForInsolventAuctionMakesSMInsolvent: halfway, 100 % → 200 to the bidder; the SM holds nothing, so the
    # loss is socialised; no SM account is set, so withdrawals are not blocked
    mock, da = _auction()
    _insolvent(mock, da)
    b = da.bid(ALICE, W, T0 + 300, bidder_cash=BOB_CASH)
    assert (b.percentage, b.cash_from_bidder, b.cash_to_bidder) == (W, 0, 200 * W)
    assert b.sm_paid == 0 and b.socialized == 200 * W and da.socialized == 200 * W
    assert not da.is_withdraw_blocked(None)


def test_insolvent_auction_blocks_withdrawals():
    # ::testInsolventAuctionBlockWithdraw: SM account = charlie (no cash): blocked while the 300 of insolvent MM is
    # outstanding, still after a 50 % bid, freed once a 100 % bid terminates the auction
    mock, da = _auction()
    _insolvent(mock, da)
    assert da.is_withdraw_blocked(0)
    da.bid(ALICE, W // 2, T0 + 120, bidder_cash=BOB_CASH)
    assert da.is_withdraw_blocked(0)
    da.bid(ALICE, W, T0 + 240, bidder_cash=BOB_CASH)
    assert not da.is_withdraw_blocked(0)


def test_terminate_insolvent_auction():
    # ::testTerminatesInsolventAuction: with MM > 0 the bid price is 0 and the auction can be terminated
    mock, da = _auction()
    _insolvent(mock, da)
    mock.mm[(ALICE, SCENARIO)] = 100 * W
    assert da.current_bid_price(ALICE, T0) == 0
    da.terminate_auction(ALICE, T0)
    assert not da.auctions[ALICE].ongoing


def test_terminating_frees_withdraw_lock():
    # ::testTerminatingAuctionFreeWithdrawLock: the SM holds 50 < 300 → blocked; terminating frees it
    mock, da = _auction()
    _insolvent(mock, da)
    assert da.is_withdraw_blocked(50 * W)
    mock.mm[(ALICE, SCENARIO)] = 100 * W
    da.terminate_auction(ALICE, T0)
    assert not da.is_withdraw_blocked(50 * W)


def test_terminating_keeps_lock_while_others_outstanding():
    # ::testTerminatingAuctionDoesNotFreeLockIfOthersOutstanding
    mock, da = _auction()
    _insolvent(mock, da, ALICE)
    assert da.total_insolvent_mm == 300 * W and not da.is_withdraw_blocked(None)
    _insolvent(mock, da, BOB)
    assert da.total_insolvent_mm == 600 * W and not da.is_withdraw_blocked(None)
    assert da.is_withdraw_blocked(0) and da.is_withdraw_blocked(599 * W) and not da.is_withdraw_blocked(600 * W)
    assert da.is_withdraw_blocked(0)  # charlie withdraws his 600
    mock.mm[(ALICE, SCENARIO)] = 100 * W
    da.terminate_auction(ALICE, T0)
    assert da.is_withdraw_blocked(0)
    mock.mm[(BOB, SCENARIO)] = 100 * W
    da.terminate_auction(BOB, T0)
    assert not da.is_withdraw_blocked(0)


# ============================================================================ SolventAuction.t.sol
def test_views_before_any_auction():
    # ::testCannotGetBidPriceOnNormalAccount; ::testCannotCallTerminateOnNonExistentAuction
    _mock, da = _auction()
    with _revert("DA_AuctionNotStarted"):
        da.current_bid_price(ALICE, T0)
    with _revert("DA_NotOngoingAuction"):
        da.auction_status(ALICE, T0)


def test_start_auction_pays_fee():
    # ::testStartAuctionPaysFee: a 1 % liquidator fee: maxProportion(d = 1)·|MtM|·1 % = (140 / 440)·300·1 % > 0
    mock, da = _auction(dataclasses.replace(P, liquidator_fee_rate=W // 100))
    fee = _solvent(mock, da)
    assert fee > 0 and da.fees_paid == fee
    assert fee == derive.wmul(derive.wmul(derive.wdiv(-140 * W, -440 * W), 300 * W), W // 100)


def test_start_solvent_auction():
    # ::testStartSolventAuction: bid 300 (100 % of MtM), at most 31.8 % purchasable (maxProportion / 1e15 == 318)
    mock, da = _auction()
    _solvent(mock, da)
    a = da.auctions[ALICE]
    assert not a.insolvent and a.ongoing and a.start_time == T0
    assert da.current_bid_price(ALICE, T0) == 300 * W
    assert da.max_proportion(ALICE, SCENARIO, T0) // 10**15 == 318


def test_max_proportion_bid_terminates():
    # ::testSolventAuctionTerminatedIfMaxProportionIsBid: at the end of the fast auction, bidding the max proportion ends it
    mock, da = _auction()
    _solvent(mock, da)
    now = T0 + P.fast_auction_length
    da.bid(ALICE, da.max_proportion(ALICE, SCENARIO, now), now, bidder_cash=BOB_CASH)
    assert not da.auctions[ALICE].ongoing


def test_cannot_start_on_solvent_account_or_twice():
    # ::testCannotAuctionOnSolventAccount (nothing mocked: MM 0); ::testCannotRestartAuctions
    mock, da = _auction()
    with _revert("DA_AccountIsAboveMaintenanceMargin"):
        da.start_auction(ALICE, SCENARIO, T0)
    _solvent(mock, da)
    with _revert("DA_AuctionAlreadyStarted"):
        da.start_auction(ALICE, SCENARIO, T0)


def test_cannot_bid_from_non_owner():
    # ::testCannotBidFromNonOwner: alice's default solvent auction; bid(alice, bobAcc, 1) sent by the test contract,
    # which does not own bob's account → DA_SenderNotOwner
    mock, da = _auction(owners=OWNERS)
    _solvent(mock, da)
    with _revert("DA_SenderNotOwner"):
        da.bid(ALICE, W, T0, bidder_cash=BOB_CASH, bidder=BOB, sender=THIS)
    assert da.auctions[ALICE].reserved_cash == 0 and da.auctions[ALICE].ongoing  # ours: nothing moved
    # (ours) the same bid sent by bob goes through
    assert da.bid(ALICE, W, T0, bidder_cash=BOB_CASH, bidder=BOB, sender="bob").percentage > 0


def test_bid_with_max_percentage():
    # ::testCanBidWithMaxPercentage: halfway through the fast auction the bid is 270 (90 %) and 34.1 % is purchasable;
    # bidding 100 % takes exactly that, pays 92.x (cashFromBidder / 1e18 == 92) and terminates the auction
    mock, da = _auction()
    _solvent(mock, da)
    now = T0 + P.fast_auction_length // 2
    assert da.current_bid_price(ALICE, now) == 270 * W
    max_p = da.max_proportion(ALICE, SCENARIO, now)
    assert max_p // 10**15 == 341
    b = da.bid(ALICE, W, now, bidder_cash=BOB_CASH)
    assert b.percentage == max_p and b.cash_to_bidder == 0 and b.cash_from_bidder // W == 92
    assert not da.auctions[ALICE].ongoing and not da.auctions[ALICE].insolvent


def test_bid_with_lower_percentage():
    # ::testCanBidWithLowerPercentage: 10 % pays 27 (price 270); the mocked MM is unchanged so the auction continues
    mock, da = _auction()
    _solvent(mock, da)
    b = da.bid(ALICE, W // 10, T0 + P.fast_auction_length // 2, bidder_cash=BOB_CASH)
    assert b.percentage == W // 10 and b.cash_to_bidder == 0 and b.cash_from_bidder // W == 27
    assert da.auctions[ALICE].ongoing and not da.auctions[ALICE].insolvent


def test_solvent_price_limit():
    # ::testShouldRevertIfCashLimitExceeded: 10 % costs about 27 but bob caps it at 10
    mock, da = _auction()
    _solvent(mock, da)
    with _revert("DA_PriceLimitExceeded"):
        da.bid(ALICE, W // 10, T0 + P.fast_auction_length // 2, bidder_cash=BOB_CASH, price_limit=10 * W)


def test_solvent_bidder_cash():
    # ::testCannotBidWithNotEnoughCash: charlie with no cash (empty portfolio), then with 1
    mock, da = _auction()
    _solvent(mock, da)
    with _revert("DA_InvalidBidderPortfolio"):
        da.bid(ALICE, W, T0, bidder_cash=None)
    with _revert("DA_InsufficientCash"):
        da.bid(ALICE, W, T0, bidder_cash=W)


def test_bid_race_condition():
    # ::testBidRaceCondition: bob takes 10 %, the MtM becomes 270 + his cash; charlie then bids 10/9 of 10 % of the
    # (now smaller) portfolio: same cash (within 0.0001) and exactly bob's percentage × 10 / 9
    mock, da = _auction()
    _solvent(mock, da)
    now = T0 + P.fast_auction_length // 2
    b1 = da.bid(ALICE, W // 10, now, bidder_cash=BOB_CASH)
    mock.mtm[ALICE] = 270 * W + b1.cash_from_bidder
    b2 = da.bid(ALICE, W // 10 * 10 // 9, now, bidder_cash=20_000 * W)
    assert abs(b2.cash_from_bidder - b1.cash_from_bidder) <= W // 10_000
    assert b2.percentage == b1.percentage * 10 // 9


def test_bid_mark_to_market_change():
    # ::testBidMarkToMarketChange: with the MtM at 1,000, 10 % at 90 % costs exactly 90
    mock, da = _auction()
    _solvent(mock, da)
    mock.mtm[ALICE] = 1000 * W
    b = da.bid(ALICE, W // 10, T0 + P.fast_auction_length // 2, bidder_cash=BOB_CASH)
    assert b.cash_from_bidder == 90 * W and b.percentage == W // 10


def test_changing_mm_during_auction():
    # ::testChangingMMDuringAuction: MM −1,000, MtM 1,400; after a first 10 % the MM rises to 10: the second 10 % costs less
    mock, da = _auction()
    mock.mm[(ALICE, SCENARIO)] = -1000 * W
    mock.mtm[ALICE] = 1400 * W
    da.start_auction(ALICE, SCENARIO, T0)
    now = T0 + P.fast_auction_length // 2
    c1 = da.bid(ALICE, W // 10, now, bidder_cash=BOB_CASH).cash_from_bidder
    mock.mm[(ALICE, SCENARIO)] = 10 * W
    c2 = da.bid(ALICE, W // 10, now, bidder_cash=BOB_CASH).cash_from_bidder
    assert c1 > c2


def test_bid_settles_perps():
    # ::testBidShouldSettlePerps: a bid settles the auctioned account's perps (manager.perpSettled(alice) == true)
    mock, da = _auction()
    _solvent(mock, da)
    assert ALICE not in mock.perp_settled
    da.bid(ALICE, W, T0, bidder_cash=BOB_CASH)
    assert mock.perp_settled == {ALICE}


def test_bid_when_mm_almost_zero():
    # ::testCanStillBidWhenMMIsZero: MM 1 → BM = 1 − 29.9 < 0: a 100 % bid is capped and terminates
    mock, da = _auction()
    _solvent(mock, da)
    mock.mm[(ALICE, SCENARIO)] = W
    da.bid(ALICE, W, T0, bidder_cash=BOB_CASH)
    assert not da.auctions[ALICE].ongoing


def test_invalid_percentage_and_positive_buffer():
    # ::testCannotBidWithInvalidPercentage (101 %, 0); ::testCannotBidOnAccountThatBufferMarginIsAboveThreshold
    # (MM 100 → BM = 100 + (100 − 300)·0.1 = 80 ≥ 0: DA_AuctionShouldBeTerminated)
    mock, da = _auction()
    _solvent(mock, da)
    for pct in (101 * W // 100, 0):
        with _revert("DA_InvalidPercentage"):
            da.bid(ALICE, pct, T0, bidder_cash=BOB_CASH)
    mock.mm[(ALICE, SCENARIO)] = 100 * W
    assert derive.da_buffer_margin(100 * W, 300 * W) == 80 * W
    with _revert("DA_AuctionShouldBeTerminated"):
        da.bid(ALICE, W, T0, bidder_cash=BOB_CASH)


def test_ended_solvent_auction():
    # ::testCannotGetMaxProportionOnInsolventAuction (MtM −1); ::testCannotBidOnEndedAuction (5 s after the slow auction)
    mock, da = _auction()
    _solvent(mock, da)
    mock.mtm[ALICE] = -W
    with _revert("DA_SolventAuctionEnded"):
        da.max_proportion(ALICE, SCENARIO, T0)
    mock.mtm[ALICE] = 300 * W
    with _revert("DA_SolventAuctionEnded"):
        da.bid(ALICE, W, T0 + P.fast_auction_length + P.slow_auction_length + 5, bidder_cash=BOB_CASH)


def test_convert_to_insolvent_auction():
    # ::testConvertToInsolventAuction: at the end of the slow auction the bid is 0 and the auction converts (once);
    # ::testCannotMarkInsolventIfAuctionNotInsolvent: not while the solvent bid is positive
    mock, da = _auction()
    _solvent(mock, da)
    assert not da.auctions[ALICE].insolvent
    with _revert("DA_OngoingSolventAuction"):
        da.convert_to_insolvent(ALICE, T0)
    end = T0 + P.fast_auction_length + P.slow_auction_length
    assert da.current_bid_price(ALICE, end) == 0
    da.convert_to_insolvent(ALICE, end)
    assert da.auctions[ALICE].insolvent and da.total_insolvent_mm == 100 * W
    with _revert("DA_AuctionAlreadyInInsolvencyMode"):
        da.convert_to_insolvent(ALICE, end)


def test_cannot_convert_when_mm_ok():
    # ::testCannotMarkInsolventIfAccountMMIsOK: after the slow auction with MM 1 (BM still < 0) the conversion reverts,
    # and the auction can be terminated (past the solvent auction only MM ≥ 0 counts)
    mock, da = _auction()
    _solvent(mock, da)
    end = T0 + P.fast_auction_length + P.slow_auction_length
    mock.mm[(ALICE, SCENARIO)] = W
    assert derive.da_buffer_margin(W, 300 * W) < 0
    with _revert("DA_AccountIsAboveMaintenanceMargin"):
        da.convert_to_insolvent(ALICE, end)
    da.terminate_auction(ALICE, end)


def test_update_scenario_id():
    # ::testCanUpdateScenarioID (scenario 2 has MM −300 < −100); ::testCannotUpdateScenarioIdWithNonOngoingAuction;
    # ::testCanUpdateScenarioIDWithHigherIM (only scenario 2's *initial* margin is mocked: its MM, 0, is not worse)
    mock, da = _auction()
    with _revert("DA_AuctionNotStarted"):
        da.update_scenario_id(ALICE, 2, T0)
    _solvent(mock, da)
    with _revert("DA_ScenarioIdNotWorse"):
        da.update_scenario_id(ALICE, 2, T0)
    mock.mm[(ALICE, 2)] = -300 * W
    da.update_scenario_id(ALICE, 2, T0)
    assert da.auctions[ALICE].scenario == 2


def test_terminate_solvent_auction():
    # ::testTerminatesSolventAuction (MM 100: BM > 0); ::testCannotTerminateUsualAuction
    mock, da = _auction()
    _solvent(mock, da)
    assert da.auctions[ALICE].ongoing
    with _revert("DA_AuctionCannotTerminate"):
        da.terminate_auction(ALICE, T0)
    mock.mm[(ALICE, SCENARIO)] = 100 * W
    da.terminate_auction(ALICE, T0)
    assert not da.auctions[ALICE].ongoing


def test_terminate_to_open_insolvent_auction():
    # ::testTerminateToOpenInsolventAuction: MtM −1 wei ends the solvent auction; restarting makes it insolvent
    mock, da = _auction()
    _solvent(mock, da)
    mock.mtm[ALICE] = -1
    da.terminate_auction(ALICE, T0)
    assert not da.auctions[ALICE].ongoing
    da.start_auction(ALICE, SCENARIO, T0)
    assert da.auctions[ALICE].ongoing and da.auctions[ALICE].insolvent


def test_high_cash_reserve():
    # ::testCanRevertAuctionWithHighCashReserve: after a 10 % bid the MtM drops 1 wei below the reserved cash: bids
    # revert (DA_AuctionShouldBeTerminated), conversion reverts (DA_ReservedCashGreaterThanMtM), termination works
    mock, da = _auction()
    _solvent(mock, da)
    now = T0 + P.fast_auction_length // 2
    paid = da.bid(ALICE, W // 10, now, bidder_cash=BOB_CASH).cash_from_bidder
    mock.mtm[ALICE] = paid - 1
    with _revert("DA_AuctionShouldBeTerminated"):
        da.bid(ALICE, W // 10, now, bidder_cash=20_000 * W)
    with _revert("DA_ReservedCashGreaterThanMtM"):
        da.convert_to_insolvent(ALICE, now)
    da.terminate_auction(ALICE, now)


def test_percentage_capped_race_condition():
    # ::testPercentageCappedRaceCondition: buffer 0 (BM = MM); MtM 6,000, MM −10,000; at 80 % the bid is 4,800;
    # alice takes 30 % for 1,440; with MtM 4,200 + 1,440 and MM −7,000 + 1,440, 53.66 % of the current portfolio is
    # purchasable (maxF / 1e14 == 5366) and bob's 100 % is capped there, paying 1,803 (/ 1e18)
    mock, da = _auction(dataclasses.replace(P, buffer_margin_percentage=0))
    mock.mm[(SEAN, SCENARIO)] = -10_000 * W
    mock.mtm[SEAN] = 6_000 * W
    da.start_auction(SEAN, SCENARIO, T0)
    assert da._margin(SEAN, SCENARIO)[1] // W == -10_000
    now = T0 + P.fast_auction_length
    assert da.current_bid_price(SEAN, now) == 4_800 * W
    b = da.bid(SEAN, 3 * W // 10, now, bidder_cash=20_000 * W)
    assert b.percentage == 3 * W // 10 and b.cash_from_bidder // W == 1_440
    mock.mtm[SEAN] = 4_200 * W + 1_440 * W
    mock.mm[(SEAN, SCENARIO)] = -7_000 * W + 1_440 * W
    assert da.max_proportion(SEAN, SCENARIO, now) // 10**14 == 5366
    b = da.bid(SEAN, W, now, bidder_cash=BOB_CASH)
    assert b.percentage // 10**14 == 5366 and b.cash_from_bidder // W == 1_803


def test_convert_to_insolvent_with_reserved_cash():
    # ::testConvertToInsolventAuction_WithReservedCash: (the test's buffer-0 setting is overwritten by the next
    # setAuctionParams: buffer 10 %, cutoff 70 %) MtM 8,000, MM −10,000: bid 8,000; alice's 20 % pays 1,600; at the
    # end of the fast auction with MtM 9,600 the bid is (9,600 − 1,600)·0.7 = 5,600; the MtM falls to 1,000 < reserved:
    # terminate, and restart at MtM −600 as an insolvent auction bidding −600
    mock, da = _auction(dataclasses.replace(P, fast_auction_cutoff_percentage=7 * W // 10))
    mock.mm[(SEAN, SCENARIO)] = -10_000 * W
    mock.mtm[SEAN] = 8_000 * W
    da.start_auction(SEAN, SCENARIO, T0)
    assert da.current_bid_price(SEAN, T0) == 8_000 * W
    assert da.bid(SEAN, 2 * W // 10, T0, bidder_cash=20_000 * W).cash_from_bidder == 1_600 * W
    now = T0 + P.fast_auction_length
    mock.mtm[SEAN] = 9_600 * W
    assert da.current_bid_price(SEAN, now) == 5_600 * W
    mock.mtm[SEAN] = 1_000 * W
    da.terminate_auction(SEAN, now)
    mock.mtm[SEAN] = -600 * W
    da.start_auction(SEAN, SCENARIO, now)
    assert da.current_bid_price(SEAN, now) == -600 * W


# ============================================================================ the pure functions, worked by hand
def test_pure_functions_worked():
    # BM = MM + (MM − MtM)·10 %; f = BM / (BM − MtM·d − R·(1 − d)); below the MtM cutoff the whole account goes
    assert derive.da_buffer_margin(-100 * W, 300 * W) == -140 * W
    assert derive.da_max_proportion(300 * W, -140 * W, 9 * W // 10) == derive.wdiv(-140 * W, -410 * W)
    assert derive.da_max_proportion(300 * W, 5 * W, W) == 0  # a positive BM counts as 0
    assert derive.da_max_proportion(-5 * W, -140 * W, W, mtm_cutoff=0) == W
    assert derive.da_solvent_bid_price(300 * W, 27 * W, 300) == derive.wmul(273 * W, 9 * W // 10)
    assert derive.da_solvent_bid_price(300 * W, 0, P.fast_auction_length + P.slow_auction_length) == 0
    # the insolvent bid: (MM − MtM)·t / length + MtM, the division truncated toward zero (−2.333…e18 → −2333333333333333333)
    assert derive.da_insolvent_bid_price(-300 * W, -100 * W, 7) == -((200 * W * 7) // 600) - 100 * W
    with _revert("DA_InvalidParameter"):
        _auction()[1].set_mtm_cutoff(1_001 * W)
