"""Derive (Lyra) v2 StandardManager's own test cases, ported as data and run against
:mod:`ramparts.venues.derive` (Derive's 1e18 fixed point) and :mod:`ramparts.margin.option_standard`.

Source: derivexyz/v2-core at ``7736900d395703c4f675376caa4c315402943831``, folder
``test/risk-managers/unit-tests/StandardManager/``. Every row names its file and test function:

* ``TestStandardManager_Portfolio_Cases.t.sol`` (``test-cases-portfolio.json``): upstream asserts
  ``mm / 1e18`` and ``im / 1e18`` (Solidity's truncating division) **equal** to the expected
  integers — ported with the same exact assertion;
* ``TestStandardManager_Cases.t.sol`` (``test-cases.json``): upstream asserts IM, MM and MtM within
  0.1 % (``assertApproxEqRel``) of values from an off-chain float64 model — ported with the same
  assertion, plus a tighter one of ours (the float model's own round-off, ``1e-13`` relative + 10⁴ wei);
* ``TestStandardManager_Option.t.sol``: isolated margins (``assertApproxEqRel`` 1 %, plus the exact
  wei values worked by hand below), trades that must pass or revert on the initial margin, and the
  oracle contingency (exact ``assertEq``); the setters' bounds, the asset whitelist, OI fees and option
  settlement through :class:`ramparts.venues.derive.StandardManagerConfig`;
* ``TestStandardManager_Perp.t.sol``, ``TestStandardManager_Misc.t.sol``, ``TestStandardManager_MutiAsset.t.sol``:
  perp requirements and their bounds, trades through ``handleAdjustment`` (bypass, no negative cash, account size,
  trusted assessor), perp settlement, base-asset margin with its contingency, multi-market and depeg margins — all
  exact (``assertEq``) upstream and here.

Counts (ported / upstream test functions): Portfolio_Cases 42/42, Cases 28/28, Option 33/34, Perp 14/15, Misc 10/10,
MutiAsset 12/12. Not ported:

* ``TestStandardManager_Option.t.sol::testViewerSetter`` — only checks that ``BasePortfolioViewer.setStandardManager``
  reverts for a non-owner (access control; ramparts has no owner and no viewer contract);
* ``TestStandardManager_Perp.t.sol::testCannotSetPerpMarginRequirementFromNonOwner`` — only checks that
  ``setPerpMarginRequirements`` reverts for a non-owner (access control; the setter's bounds are ported).

``testPassMultipleManagerData`` runs the trade's manager data through the manager's callee whitelist
(:class:`ramparts.venues.derive.BaseManagerHooks`) to two stand-ins for ``MockFeeds`` whose ``acceptData`` stores the
spot, as upstream's mock does.

The accounts' balances (``SubAccounts``) are written out by the harness, as the tests' transfers leave them.

The harness reproduces what each Solidity test sets up (mock feeds, the order in which a mock vol feed
overwrites an expiry's confidence, strikes stripped of dust below 1e10, perp PnL and funding), then
calls :func:`ramparts.venues.derive.srm_margin`. Units are wad integers (``W = 1e18``).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from ramparts.errors import InvalidInput
from ramparts.margin.option_standard import DERIVE_TEST, isolated_requirements, standard_margin
from ramparts.venues import derive

W = derive.WAD
COMMIT = "7736900d395703c4f675376caa4c315402943831"
SM = "test/risk-managers/unit-tests/StandardManager/"


def _src(file: str, func: str, case: str = "") -> str:
    return f"v2-core@{COMMIT[:7]}:{SM}{file}::{func}" + (f"[{case}]" if case else "")


def _tdiv(a: int, b: int) -> int:  # Solidity int division (mm / 1e18)
    q = abs(a) // b
    return q if a >= 0 else -q


def _margins(markets, cash, stable=W):
    im, mtm = derive.srm_margin(markets, cash, initial=True, stable_price=stable)
    mm, _ = derive.srm_margin(markets, cash, initial=False, stable_price=stable)
    return im, mm, mtm


class _Feed:
    """A market's mock feeds as the Solidity tests set them (MockFeeds: the last setVol of an expiry sets its confidence)."""

    def __init__(self, spot, perp_price, params):
        self.spot, self.spot_conf, self.perp_price, self.perp_conf, self.params = spot, W, perp_price, W, params
        self.forwards, self.vols, self.vol_confs, self.legs = {}, {}, {}, []
        self.perp = self.perp_cash = self.base = 0

    def set_vol(self, expiry, strike, vol, conf):
        self.vols[(expiry, strike)] = vol
        self.vol_confs[expiry] = conf

    def market(self):
        return derive.SRMMarket(spot=self.spot, spot_conf=self.spot_conf, legs=tuple(self.legs), forwards=dict(self.forwards),
                                vols=dict(self.vols), vol_confs=dict(self.vol_confs), perp=self.perp, perp_price=self.perp_price,
                                perp_conf=self.perp_conf, perp_cash=self.perp_cash, base=self.base, params=self.params)


# ============================================================================ TestStandardManager_Portfolio_Cases.t.sol
# setUp: TestStandardManagerBase (perp mm/im 0.05/0.065, Config.getSRMParams() option params), Config oracle
# contingency (0.4 thresholds, factor 0.4), base asset factor 0.8 with IM scale 1, depeg (0.98, 1.2);
# TestCaseExpiries: expiries (block.timestamp + …), spot and forwards; perp prices spot + $1 (ETH), + $20 (BTC).
PORTFOLIO_PARAMS = derive.SRMParams(base_margin_factor=Fraction(8, 10), base_im_scale=Fraction(1), perp_mm_req=Fraction(5, 100),
                                    perp_im_req=Fraction(65, 1000), depeg_threshold=Fraction(98, 100), depeg_factor=Fraction(12, 10))
_H, _D = 3_600, 86_400
EXPIRY = {"20230104": 3 * _D + 8 * _H, "20230111": 10 * _D + 8 * _H, "20230118": 17 * _D + 8 * _H, "20230227": 57 * _D + 8 * _H,
          "20230804": 215 * _D + 8 * _H, "20230811": 222 * _D + 8 * _H, "20230818": 229 * _D + 8 * _H, "20230825": 238 * _D + 8 * _H}
FORWARD_OFFSETS = {  # forward − spot, in dollars, per expiry above (_setDefaultSpotAndForwardFor{ETH,BTC})
    "eth": ("0.91345", "2.83305", "4.7545", "15.7696", "59.87416", "61.85933", "63.8284", "66.3744"),
    "btc": ("12.7883", "39.66276", "66.56301", "220.77451", "838.23835", "865.90472", "893.59763", "929.24184"),
}
SPOT = {"eth": 2000 * W, "btc": 28000 * W}
PERP_PRICE = {"eth": 2001 * W, "btc": 28020 * W}
F0118 = 2000 * W + 4_750_000_000_000_000_000  # ethDefaultPrice + 4.75e18

# (testCaseN, JSON key, options (underlying, expiry, strike $, type, amount ×1e8), perps (underlying, amount ×1e8,
#  entry price ×1e8), bases (underlying, amount ×1e8), cash ×1e8, expected (im / 1e18, mm / 1e18))
PORTFOLIO = [
    ('testCase1', 'test_long_ATM_call', [('eth', '20230111', 2000, 'call', 100000000)],
     [], [], 0, (0, 0)),
    ('testCase2', 'test_long_ATM_put', [('eth', '20230111', 2000, 'put', 100000000)],
     [], [], 0, (0, 0)),
    ('testCase3', 'test_short_ITM_call', [('eth', '20230111', 1500, 'call', -100000000)],
     [], [], 0, (-802, -652)),
    ('testCase4', 'test_short_ITM_put', [('eth', '20230111', 3000, 'put', -200000000)],
     [], [], 0, (-2594, -2294)),
    ('testCase5', 'test_short_OTM_call', [('eth', '20230118', 2500, 'call', -100000000)],
     [], [], 0, (-201, -151)),
    ('testCase6', 'test_short_OTM_put', [('eth', '20230111', 1100, 'put', -100000000)],
     [], [], 0, (-200, -150)),
    ('testCase7', 'test_short_call_spread_with_MaxLoss', [('eth', '20230111', 1800, 'call', -100000000), ('eth', '20230111', 2000, 'call', 100000000)],
     [], [], 0, (-200, -200)),
    ('testCase8', 'test_short_put_spread_with_MaxLoss', [('eth', '20230111', 2500, 'put', 100000000), ('eth', '20230111', 3000, 'put', -100000000)],
     [], [], 0, (-500, -500)),
    ('testCase9', 'test_short_call_spread_with_iso_margin', [('eth', '20230111', 2300, 'call', -100000000), ('eth', '20230111', 4000, 'call', 100000000)],
     [], [], 0, (-203, -153)),
    ('testCase10', 'test_short_put_spread_with_iso_margin', [('eth', '20230111', 1200, 'put', 100000000), ('eth', '20230111', 2000, 'put', -100000000)],
     [], [], 0, (-365, -215)),
    ('testCase11', 'test_short_spread_over_two_expiries_both_MaxLoss', [
        ('eth', '20230111', 1800, 'call', -100000000),
        ('eth', '20230111', 2000, 'call', 100000000),
        ('eth', '20230118', 1800, 'call', -100000000),
        ('eth', '20230118', 2000, 'call', 100000000),
     ],
     [], [], 0, (-400, -400)),
    ('testCase12', 'test_short_spread_two_expiries_both_iso', [
        ('eth', '20230111', 1200, 'put', 100000000),
        ('eth', '20230111', 1500, 'put', -100000000),
        ('eth', '20230227', 2500, 'call', -100000000),
        ('eth', '20230227', 2700, 'call', 100000000),
     ],
     [], [], 0, (-400, -331)),
    ('testCase13', 'test_short_spread_two_currencies_one_iso_one_MaxLoss', [
        ('eth', '20230111', 3200, 'call', -100000000),
        ('eth', '20230111', 3500, 'call', 100000000),
        ('btc', '20230227', 33000, 'call', -100000000),
        ('btc', '20230227', 35000, 'call', 100000000),
     ],
     [], [], 0, (-2200, -2150)),
    ('testCase14', 'test_two_currencies_two_expiries_each_iso_and_MaxLoss_for_each', [
        ('eth', '20230118', 2900, 'put', 100000000),
        ('eth', '20230118', 3500, 'put', -100000000),
        ('eth', '20230227', 3000, 'call', -100000000),
        ('eth', '20230227', 3200, 'call', 100000000),
        ('btc', '20230118', 35000, 'put', 100000000),
        ('btc', '20230118', 38000, 'put', -100000000),
        ('btc', '20230111', 36000, 'call', -100000000),
        ('btc', '20230111', 40000, 'call', 100000000),
     ],
     [], [], 0, (-6601, -5855)),
    ('testCase15', 'test_long_call_spread', [('eth', '20230111', 2900, 'call', 100000000), ('eth', '20230111', 3500, 'call', -100000000)],
     [], [], 0, (0, 0)),
    ('testCase16', 'test_long_put_spread', [('eth', '20230111', 2900, 'put', -100000000), ('eth', '20230111', 3500, 'put', 100000000)],
     [], [], 0, (0, 0)),
    ('testCase17', 'test_long_box', [
        ('eth', '20230111', 1000, 'call', 100000000),
        ('eth', '20230111', 1000, 'put', -100000000),
        ('eth', '20230111', 2000, 'call', -100000000),
        ('eth', '20230111', 2000, 'put', 100000000),
     ],
     [], [], 0, (0, 0)),
    ('testCase18', 'test_short_box', [
        ('eth', '20230111', 1000, 'call', -100000000),
        ('eth', '20230111', 1000, 'put', 100000000),
        ('eth', '20230111', 2000, 'call', 100000000),
        ('eth', '20230111', 2000, 'put', -100000000),
     ],
     [], [], 0, (-1000, -1000)),
    ('testCase19', 'test_short_put_with_0_strike_MaxLoss', [('eth', '20230118', 100, 'put', -100000000)],
     [], [], 0, (-100, -100)),
    ('testCase20', 'test_USDC_depeg', [('eth', '20230118', 2000, 'put', -100000000)],
     [], [], 0, (-2496, -234)),
    ('testCase21', 'test_short_call_spread_with_offset', [('eth', '20230111', 1100, 'call', -101000000), ('eth', '20230111', 1200, 'call', 100000000)],
     [], [], 0, (-125, -123)),
    ('testCase22', 'test_short_eth_call_with_btc_collateral', [('eth', '20230118', 2000, 'call', -100000000)],
     [], [('btc', 100000000)], 0, (22010, 22160)),
    ('testCase23', 'test_short_btc_spread_with_eth_collateral', [('btc', '20230111', 20000, 'call', -100000000), ('btc', '20230111', 22000, 'call', 100000000)],
     [], [('eth', 100000000)], 0, (-400, -400)),
    ('testCase24', 'test_borrowing_ETH', [],
     [], [('eth', 100000000)], 0, (1600, 1600)),
    ('testCase25', 'test_short_eth_call_with_USDC_and_BTC', [('eth', '20230118', 2000, 'call', -100000000)],
     [], [('btc', 100000000)], 1000000000000, (32010, 32160)),
    ('testCase26', 'test_long_ATM_perp', [],
     [('eth', 100000000, 200500000000)], [], 0, (-134, -104)),
    ('testCase27', 'test_long_OTM_perp', [],
     [('eth', 100000000, 220000000000)], [], 0, (-329, -299)),
    ('testCase28', 'test_long_ITM_perp', [],
     [('eth', 100000000, 140000000000)], [], 0, (470, 500)),
    ('testCase29', 'test_short_ATM_perp', [],
     [('eth', -100000000, 200000000000)], [], 0, (-131, -101)),
    ('testCase30', 'test_short_OTM_perp', [],
     [('eth', -100000000, 150000000000)], [], 0, (-631, -601)),
    ('testCase31', 'test_short_ITM_perp', [],
     [('eth', -100000000, 220000000000)], [], 0, (68, 98)),
    ('testCase32', 'test_long_perp_with_btc', [],
     [('eth', 100000000, 200500000000)], [('btc', 100000000)], 0, (22265, 22295)),
    ('testCase33', 'test_short_call_low_vol_conf', [('eth', '20230118', 2000, 'call', -100000000)],
     [], [], 0, (-1109, -239)),
    ('testCase34', 'test_short_call_low_vol_and_fwd_confidence', [('eth', '20230118', 2000, 'call', -100000000)],
     [], [], 0, (-869, -239)),
    ('testCase35', 'test_short_call_low_spot_vol_fwd_confidence', [('eth', '20230118', 2000, 'call', -100000000)],
     [], [], 0, (-1029, -239)),
    ('testCase36', 'test_long_call_low_spot_vol_fwd_confidence', [('eth', '20230118', 2000, 'call', 100000000)],
     [], [], 0, (0, 0)),
    ('testCase37', 'test_short_options_two_expiries_low_conf_one_expiry', [('eth', '20230118', 2000, 'call', -100000000), ('eth', '20230227', 2300, 'put', -200000000)],
     [], [], 0, (-2246, -1236)),
    ('testCase38', 'test_long_eth_perp_low_perp_confidence', [],
     [('eth', 100000000, 200500000000)], [], 0, (-854, -104)),
    ('testCase39', 'test_base_asset_low_spot_confidence', [],
     [], [('eth', 100000000)], 0, (880, 1600)),
    ('testCase40', 'test_ITM_put_with_IM_multiple_of_MM', [('eth', '20230104', 7400, 'put', -100000000)],
     [], [], 0, (-6094, -5804)),
    ('testCase41', 'test_long_perp_and_USDC_depeg', [],
     [('eth', 100000000, 200500000000)], [], 0, (-2246, -104)),
    ('testCase42', 'test_general_portfolio', [
        ('eth', '20230104', 7400, 'put', -100000000),
        ('eth', '20230118', 7400, 'put', -100000000),
        ('eth', '20230118', 2000, 'call', -400000000),
        ('eth', '20230118', 2000, 'put', 210000000),
        ('eth', '20230118', 2500, 'call', 1400000000),
        ('eth', '20230118', 2500, 'put', 3210000000),
        ('eth', '20230227', 1000, 'call', 10000000000),
        ('btc', '20230111', 24450, 'call', -120000000),
        ('btc', '20230111', 24800, 'call', 120000000),
        ('btc', '20230227', 10000, 'put', -1100000000),
     ],
     [('eth', 200000000, 200700000000), ('btc', -400000000, 3000000000000)], [('eth', 400000000), ('btc', 1900000000)], -352242000000, (371310, 394499)),
]

# what a testCaseN body sets before running the case (in this order): stable-coin price, vol feed
# (expiry, strike, vol, confidence), forward (expiry, price, confidence), ETH spot confidence, ETH perp confidence
PORTFOLIO_SETUP = {
    "testCase20": dict(stable=W // 10),
    "testCase33": dict(vol=("20230118", 2000 * W, W // 2, W // 10)),
    "testCase34": dict(vol=("20230118", 2000 * W, W // 2, W // 2), fwd=("20230118", F0118, 4 * W // 10 - 1)),
    "testCase35": dict(vol=("20230118", 2000 * W, W // 2, W // 2), fwd=("20230118", F0118, 4 * W // 10), spot_conf=2 * W // 10),
    "testCase36": dict(vol=("20230118", 2000 * W, W // 2, W // 2), fwd=("20230118", F0118, 4 * W // 10), spot_conf=2 * W // 10),
    "testCase37": dict(vol=("20230118", 2000 * W, W // 2, 3 * W // 10), fwd=("20230118", F0118, 4 * W // 10), spot_conf=9 * W // 10),
    "testCase38": dict(perp_conf=W // 10),
    "testCase39": dict(spot_conf=W // 10),
    "testCase41": dict(stable=W // 10),
    "testCase42": dict(stable=97 * W // 100, vol=("20230118", 2000 * W, W // 2, W // 2), fwd=("20230118", F0118, 4 * W // 10 - 1),
                       spot_conf=2 * W // 10),
}


def _portfolio_case(func, options, perps, bases, cash):
    setup = PORTFOLIO_SETUP.get(func, {})
    feeds = {}
    for u in ("eth", "btc"):
        f = _Feed(SPOT[u], PERP_PRICE[u], PORTFOLIO_PARAMS)
        for date, off in zip(EXPIRY, FORWARD_OFFSETS[u], strict=True):
            f.forwards[EXPIRY[date]] = (SPOT[u] + derive.to_wad(Fraction(off)), W)
        feeds[u] = f
    eth = feeds["eth"]
    if "vol" in setup:
        date, strike, vol, conf = setup["vol"]
        eth.set_vol(EXPIRY[date], strike, vol, conf)
    if "fwd" in setup:
        date, price, conf = setup["fwd"]
        eth.forwards[EXPIRY[date]] = (price, conf)
    eth.spot_conf = setup.get("spot_conf", W)
    eth.perp_conf = setup.get("perp_conf", W)
    used = set()
    for u, date, strike, kind, amount in options:  # _loadTestData: a 0.5 vol (confidence 1) unless one is set
        f, e, k = feeds[u], EXPIRY[date], strike * W
        if f.vols.get((e, k), 0) == 0:
            f.set_vol(e, k, W // 2, W)
        f.legs.append(derive.SRMLeg(e, k, kind == "call", amount * 10**10))
        used.add(u)
    for u, amount, entry in perps:  # mocked PnL (perpPrice − entry)·amount, no funding
        f = feeds[u]
        f.perp = amount * 10**10
        f.perp_cash = derive.wmul(f.perp_price - entry * 10**10, f.perp)
        used.add(u)
    for u, amount in bases:
        feeds[u].base = amount * 10**10
        used.add(u)
    markets = [feeds[u].market() for u in ("eth", "btc") if u in used]
    return _margins(markets, cash * 10**10, setup.get("stable", W))


@pytest.mark.parametrize("func, key, options, perps, bases, cash, expected", PORTFOLIO,
                         ids=[_src("TestStandardManager_Portfolio_Cases.t.sol", r[0], r[1]) for r in PORTFOLIO])
def test_portfolio_cases(func, key, options, perps, bases, cash, expected):
    im, mm, _mtm = _portfolio_case(func, options, perps, bases, cash)
    assert (_tdiv(im, W), _tdiv(mm, W)) == expected


# ============================================================================ TestStandardManager_Cases.t.sol
# setUp: TestStandardManagerBase, Config oracle contingency, depeg (0.98, 1.2), base asset factor 0.1 (IM scale 1);
# spot ETH 1,500 / BTC 28,000, perp prices 1,505 / 27,990 in every case of test-cases.json.
CASES_PARAMS = dataclasses.replace(PORTFOLIO_PARAMS, base_margin_factor=Fraction(1, 10))

# (JSON key = testCaseN's argument, options (underlying, expiry s, strike, is call, amount, vol, vol confidence,
#  forward, forward confidence), scenario, expected (realIM, realMM, PortfolioMtM)); scenario keys: cash, perps
#  (ETH, BTC), entries, funding ((global, account) per perp), base (wETH, wBTC), confs ((spot, perp) per market),
#  usdc, settle (settlement prices used as forwards of expiries under an hour)
CASES = [
    ('Test1', [('ETH', 500400, 1500*W, 1, -W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(), (-304371585189059952640, -191871585189059952640, -79371585189059936256)),
    ('Test2', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(), (0, 0, 79371585189059936256)),
    ('Test3', [('ETH', 500400, 1900*W, 1, -W, 1179993832279113216, W, 1500833279310993817600, W)],
     dict(), (-156008261835426660352, -118508261835426660352, -6008261835426665472)),
    ('Test4', [('ETH', 500400, 1300*W, 0, -W, 1083189415509876480, W, 1500833279310993817600, W)],
     dict(), (-164322794294374039552, -126822794294374039552, -14322794294374035456)),
    ('Test5', [
        ('ETH', 500400, 1100*W, 1, -W, 1198874027186882048, W, 1500833279310993817600, W),
        ('ETH', 500400, 1300*W, 1, W, 1083189415509876480, W, 1500833279310993817600, W),
    ],
     dict(), (-200*W, -200*W, -187084637669546065920)),
    ('Test6', [
        ('ETH', 500400, 1900*W, 1, W, 1179993832279113216, W, 1500833279310993817600, W),
        ('ETH', 500400, 1700*W, 1, -W, 1116354471205355648, W, 1500833279310993817600, W),
    ],
     dict(), (-173104014466582446080, -135604014466582446080, -17095752631155775488)),
    ('Test7', [
        ('ETH', 500400, 1200*W, 1, W, 1138939398828297472, W, 1500833279310993817600, W),
        ('ETH', 500400, 1000*W, 1, -W, 1262012129931914496, W, 1500833279310993817600, W),
        ('ETH', 500400, 2500*W, 1, -100000000000000000, 1326538658030860032, W, 1500833279310993817600, W),
    ],
     dict(), (-380099993517319258112, -365091660724209385472, -195424980908164710400)),
    ('Test8', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(confs=((300000000000000000, W), (W, W))), (0, 0, 79371585189059936256)),
    ('Test9', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(confs=((100000000000000000, W), (W, W))), (0, 0, 79371585189059936256)),
    ('Test10', [('ETH', 500400, 1500*W, 1, -W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(confs=((800000000000000000, W), (W, W))), (-304371585189059952640, -191871585189059952640, -79371585189059936256)),
    ('Test11', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(confs=((800000000000000000, 300000000000000000), (W, W))), (0, 0, 79371585189059936256)),
    ('Test12', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, 400000000000000000, 1500833279310993817600, 400000000000000000)],
     dict(), (0, 0, 79371585189059936256)),
    ('Test13', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, 100000000000000000, 1500833279310993817600, 400000000000000000)],
     dict(), (0, 0, 79371585189059936256)),
    ('Test14', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(), (0, 0, 79371585189059936256)),
    ('Test15', [('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(), (0, 0, 79371585189059936256)),
    ('Test16', [('ETH', 500400, 1500*W, 1, -W, 1047884494084986240, W, 1500833279310993817600, W)],
     dict(usdc=300000000000000000), (-1528371585189059756032, -191871585189059952640, -79371585189059936256)),
    ('Test17', [],
     dict(perps=(W, 0), entries=(1535*W, None), funding=((0, 10*W), (0, None))), (-117825000000000000000, -95250000000000000000, -20*W)),
    ('Test18', [],
     dict(base=(W, 0)), (149999999999999967232, 149999999999999967232, 1500*W)),
    ('Test19', [('ETH', 500400, 1800*W, 1, -W, 1149296483209361792, W, 1500833279310993817600, W)],
     dict(base=(W, 0)), (-11877712074679975936, 25622287925320024064, 1488122287925319958528)),
    ('Test20', [],
     dict(base=(W, 0), confs=((150000000000000000, W), (W, W))), (-360*W, 149999999999999967232, 1500*W)),
    ('Test21', [('ETH', 500400, 4500*W, 0, -W, 1597344442228649472, W, 1500833279310993817600, W)],
     dict(), (-3385309438429764255744, -3224104227075965583360, -2999166722861363625984)),
    ('Test22', [
        ('ETH', 500400, 1500*W, 1, -W, 1047884494084986240, W, 1500833279310993817600, W),
        ('ETH', 500400, 1500*W, 0, W, 1047884494084986240, W, 1500833279310993817600, W),
        ('ETH', 500400, 2500*W, 1, W, 1326538658030860032, W, 1500833279310993817600, W),
        ('ETH', 500400, 2500*W, 0, -W, 1326538658030860032, W, 1500833279310993817600, W),
    ],
     dict(), (-1000*W, -1000*W, -1000*W)),
    ('Test23', [
        ('ETH', 500400, 1500*W, 1, W, 1047884494084986240, W, 1500833279310993817600, W),
        ('ETH', 500400, 1500*W, 0, -W, 1047884494084986240, W, 1500833279310993817600, W),
        ('ETH', 500400, 1600*W, 1, -W, 1081482216317601280, W, 1500833279310993817600, W),
        ('ETH', 500400, 1600*W, 0, W, 1081482216317601280, W, 1500833279310993817600, W),
    ],
     dict(), (0, 0, 100*W)),
    ('Test24', [('ETH', 900, 1500*W, 1, -W, 1048124566815733120, W, 1500001498288419766272, W)],
     dict(settle=(1450168707905438089216, 28000006992012624527360)), (-225000000001042219008, -112500000001042202624, -1042212373)),
    ('Test25', [
        ('ETH', 900, 1200*W, 1, W, 1138552060953866880, W, 1500001498288419766272, W),
        ('ETH', 900, 1000*W, 1, -W, 1261652886173746688, W, 1500001498288419766272, W),
        ('ETH', 900, 2500*W, 1, -100000000000000000, 1326819474341134848, W, 1500001498288419766272, W),
    ],
     dict(settle=(1450168707905438089216, 28000006992012624527360)), (-374020244948652589056, -359518557869598244864, -200*W)),
    ('Test26', [
        ('ETH', 1191600, 1200*W, 1, 3*W, 1139475314615725312, W, 1501985045187195830272, W),
        ('ETH', 1191600, 1000*W, 1, -W, 1262509093212846848, W, 1501985045187195830272, W),
        ('BTC', 2487600, 29000*W, 0, -2100000000000000000, 1064018976887010944, W, 28077410462932844675072, W),
        ('BTC', 2487600, 34000*W, 0, 2100000000000000000, 1154802691702705408, W, 28077410462932844675072, W),
    ],
     dict(), (-200*W, -200*W, 8360697515580983345152)),
    ('Test27', [
        ('BTC', 500400, 18000*W, 1, -W, 1285379160050120704, W, 28015554547138552659968, W),
        ('BTC', 500400, 23000*W, 1, W, 1120434399845483264, W, 28015554547138552659968, W),
    ],
     dict(), (-5000*W, -5000*W, -4871649868940087132160)),
    ('Test28', [
        ('BTC', 900, 17000*W, 0, W, 1320984566305318912, W, 28000027968050502303744, W),
        ('ETH', 1191600, 1200*W, 1, 10*W, 1139475314615725312, W, 1501985045187195830272, W),
        ('ETH', 2487600, 1400*W, 1, 5*W, 1041659241854383488, W, 1504146989085687808000, W),
        ('ETH', 1191600, 2100*W, 1, W, 1234827945896114944, W, 1501985045187195830272, W),
        ('ETH', 1191600, 3100*W, 0, 10*W, 1431135087174785536, W, 1501985045187195830272, W),
        ('BTC', 500400, 11000*W, 1, -W, 1569122007346926848, W, 28015554547138552659968, W),
        ('BTC', 2487600, 36999999999999997902848, 1, -3*W, 1202395474507852544, W, 28077410462932844675072, W),
        ('BTC', 1191600, 14000*W, 0, 5*W, 1437456071716581376, 100000000000000000, 28037054176827652702208, 100000000000000000),
        ('ETH', 2487600, 1000*W, 0, -3*W, 1263440422739979520, W, 1504146989085687808000, W),
        ('ETH', 7758000, 2700*W, 0, 5*W, 1361015678626756608, W, 1512971000787409567744, W),
        ('BTC', 1191600, 48000*W, 1, W, 1340352456491025920, 100000000000000000, 28037054176827652702208, 100000000000000000),
        ('BTC', 900, 19000000000000002097152, 1, -W, 1250134338233608192, W, 28000027968050502303744, W),
        ('ETH', 2487600, 3900*W, 1, -3*W, 1534790541517724416, W, 1504146989085687808000, W),
        ('BTC', 500400, 43000000000000002097152, 0, 10*W, 1284446443694539264, W, 28015554547138552659968, W),
        ('ETH', 2487600, 3300*W, 1, 10*W, 1459599920953603072, W, 1504146989085687808000, W),
        ('ETH', 7758000, 3100*W, 0, -3*W, 1427701719028848640, W, 1512971000787409567744, W),
        ('ETH', 500400, 1000*W, 1, 10*W, 1262012129931914496, W, 1500833279310993817600, W),
        ('BTC', 2487600, 34000*W, 1, -3*W, 1154802691702705408, W, 28077410462932844675072, W),
        ('BTC', 500400, 60000*W, 1, W, 1448429298934227456, W, 28015554547138552659968, W),
        ('ETH', 900, 2100*W, 1, 5*W, 1235543454343518976, W, 1500001498288419766272, W),
        ('BTC', 500400, 46000000000000004194304, 0, 10*W, 1319229961189179904, W, 28015554547138552659968, W),
        ('ETH', 900, 3300*W, 1, -3*W, 1460873148425928192, W, 1500001498288419766272, W),
        ('ETH', 2487600, 2300*W, 0, 10*W, 1282482509289968384, W, 1504146989085687808000, W),
        ('ETH', 1191600, 4800*W, 1, -3*W, 1624042740993799936, W, 1501985045187195830272, W),
        ('ETH', 7758000, 5000*W, 1, W, 1637908590061051392, W, 1512971000787409567744, W),
        ('ETH', 1191600, 1600*W, 1, -3*W, 1081048412239005184, W, 1501985045187195830272, W),
        ('BTC', 900, 51000000000000002097152, 0, -3*W, 1371083224000902144, W, 28000027968050502303744, W),
        ('BTC', 2487600, 17000*W, 1, 5*W, 1322697505636562944, W, 28077410462932844675072, W),
        ('ETH', 7758000, 3900*W, 0, -W, 1532219430053102336, W, 1512971000787409567744, W),
        ('ETH', 1191600, 2700*W, 0, 5*W, 1364612791185947904, W, 1501985045187195830272, W),
        ('BTC', 2487600, 43000000000000002097152, 1, 10*W, 1283293914337916672, W, 28077410462932844675072, W),
        ('BTC', 1191600, 22000*W, 0, -3*W, 1152033654471031680, 100000000000000000, 28037054176827652702208, 100000000000000000),
        ('BTC', 1191600, 43000000000000002097152, 0, 10*W, 1284045673969260544, 100000000000000000, 28037054176827652702208, 100000000000000000),
        ('BTC', 2487600, 22000*W, 0, 10*W, 1153033397544527104, W, 28077410462932844675072, W),
        ('ETH', 7758000, 1800*W, 1, -20*W, 1144678813846552192, W, 1512971000787409567744, W),
        ('BTC', 7758000, 11000*W, 0, -3*W, 1573345230862685952, W, 28242125348031648759808, W),
        ('BTC', 500400, 40000*W, 0, -3*W, 1246138408883320576, W, 28015554547138552659968, W),
        ('BTC', 7758000, 8000*W, 0, 5*W, 1732141112410899968, W, 28242125348031648759808, W),
        ('BTC', 900, 46000000000000004194304, 1, 10*W, 1319512266817433600, W, 28000027968050502303744, W),
        ('ETH', 7758000, 4400*W, 1, -3*W, 1584405720806435328, W, 1512971000787409567744, W),
        ('BTC', 2487600, 43000000000000002097152, 0, W, 1283293914337916672, W, 28077410462932844675072, W),
        ('BTC', 900, 60000*W, 0, -W, 1448687080140712960, W, 28000027968050502303744, W),
        ('ETH', 900, 5000*W, 1, 5*W, 1641449540030406400, W, 1500001498288419766272, W),
        ('ETH', 500400, 2900*W, 0, -3*W, 1399776516896734976, W, 1500833279310993817600, W),
        ('ETH', 2487600, 4200*W, 1, 5*W, 1567003290065562880, W, 1504146989085687808000, W),
        ('BTC', 500400, 54000000000000004194304, 0, 5*W, 1398590103152026624, W, 28015554547138552659968, W),
        ('ETH', 900, 4600*W, 0, -W, 1606828488517470720, W, 1500001498288419766272, W),
        ('ETH', 1191600, 2900*W, 1, -W, 1399407566479993088, W, 1501985045187195830272, W),
        ('BTC', 2487600, 56999999999999997902848, 1, -3*W, 1423336444018317312, W, 28077410462932844675072, W),
        ('BTC', 2487600, 34000*W, 0, -20*W, 1154802691702705408, W, 28077410462932844675072, W),
        ('BTC', 1191600, 31000000000000002097152, 1, 5*W, 1102386854995003136, 100000000000000000, 28037054176827652702208, 100000000000000000),
        ('ETH', 7758000, 4400*W, 0, W, 1584405720806435328, W, 1512971000787409567744, W),
        ('ETH', 1191600, 5000*W, 0, W, 1640906504611344640, W, 1501985045187195830272, W),
        ('ETH', 2487600, 2500*W, 0, 10*W, 1325420899566138112, W, 1504146989085687808000, W),
        ('BTC', 2487600, 54000000000000004194304, 0, W, 1397528234185979648, W, 28077410462932844675072, W),
        ('ETH', 1191600, 1000*W, 0, 5*W, 1262509093212846848, W, 1501985045187195830272, W),
        ('ETH', 900, 4400*W, 1, W, 1588065190066730752, W, 1500001498288419766272, W),
        ('BTC', 1191600, 36999999999999997902848, 1, 5*W, 1203192345836495360, 100000000000000000, 28037054176827652702208, 100000000000000000),
        ('ETH', 7758000, 2900*W, 1, -W, 1395897785163347200, W, 1512971000787409567744, W),
        ('BTC', 7758000, 22000*W, 0, 5*W, 1157094331524444416, W, 28242125348031648759808, W),
    ],
     dict(perps=(23*W, -42*W), entries=(1599*W, 28578*W), funding=((42*W, 29*W), (4244*W, 9420000000000000000)), base=(11*W, 14*W),
          settle=(1450168707905438089216, 28000006992012624527360)),
     (-345644087250662870482944, -236807766095858642190336, 1076242654078214841827328)),
]


def _cases_case(options, sc):
    confs = sc.get("confs", ((W, W), (W, W)))
    feeds = {}
    for i, (u, spot, perp_price) in enumerate((("ETH", 1500 * W, 1505 * W), ("BTC", 28000 * W, 27990 * W))):
        f = _Feed(spot, perp_price, CASES_PARAMS)
        f.spot_conf, f.perp_conf = confs[i]
        feeds[u] = f
    settle = dict(zip(("ETH", "BTC"), sc.get("settle", (None, None)), strict=True))
    for u, e, _k, _c, _a, _v, _vc, fwd, fconf in options:  # "close to expiring": the settlement price as forward
        feeds[u].forwards[e] = (settle[u] if e < 3600 else fwd, fconf)
    perps, entries = sc.get("perps", (0, 0)), sc.get("entries", (None, None))
    funding = sc.get("funding", ((0, None), (0, None)))
    for i, u in enumerate(("ETH", "BTC")):
        f = feeds[u]
        f.perp, f.base = perps[i], sc.get("base", (0, 0))[i]
        if f.perp:
            pnl = derive.wmul(f.perp_price - entries[i], f.perp)
            f.perp_cash = pnl - derive.wmul(f.perp, funding[i][0] - funding[i][1])
    for u, e, k, c, amount, vol, vconf, _f, _fc in options:
        k = k // 10**10 * 10**10  # "removing dust"
        feeds[u].set_vol(e, k, vol, vconf)
        feeds[u].legs.append(derive.SRMLeg(e, k, c == 1, amount))
    return _margins([feeds["ETH"].market(), feeds["BTC"].market()], sc.get("cash", 0), sc.get("usdc", W))


def _approx_eq_rel(got: int, expected: int, max_delta: float) -> bool:
    """forge-std ``assertApproxEqRel``: equal when the expectation is 0, else ``|Δ| / |expected| ≤ max_delta``."""
    if expected == 0:
        return got == 0
    return Fraction(abs(got - expected), abs(expected)) <= Fraction(max_delta)


@pytest.mark.parametrize("key, options, scenario, expected", CASES,
                         ids=[_src("TestStandardManager_Cases.t.sol", f"testCase{r[0][4:]}", r[0]) for r in CASES])
def test_cases(key, options, scenario, expected):
    got = _cases_case(options, scenario)
    for g, e in zip(got, expected, strict=True):  # IM, MM, MtM
        assert _approx_eq_rel(g, e, 0.001)  # upstream: assertApproxEqRel(…, 0.001e18)
        assert abs(g - e) <= 1e-13 * abs(e) + 10**4  # ours: only the float64 model's round-off is left


# ============================================================================ TestStandardManager_Option.t.sol
# setUp: spot and forward 1,500 (confidence 1), expiry in 91 days, no vol set (0: intrinsic marks), vol confidence 1,
# Config.getSRMParams() option params with unpaired IM / MM scales 1.4 / 1.2, no oracle contingency, depeg (0.98, 1.3).
T91 = 91 * 86_400
OPTION_PARAMS = derive.SRMParams(option=dataclasses.replace(DERIVE_TEST, unpaired_im_scale=1.4, unpaired_mm_scale=1.2),
                                 perp_mm_req=Fraction(5, 100), perp_im_req=Fraction(1, 10), oc_perp_threshold=Fraction(0),
                                 oc_option_threshold=Fraction(0), oc_base_threshold=Fraction(0), oc_factor=Fraction(0),
                                 depeg_factor=Fraction(13, 10))


def _isolated(strike, is_call, balance, initial, forward=1500 * W, params=OPTION_PARAMS):
    """``getIsolatedMargin(marketId, strike, expiry, isCall, balance, isInitial)``."""
    call, put = derive.black76_prices(T91, 0, forward, strike)
    mtm = derive.wmul(call if is_call else put, balance)
    return derive.srm_isolated_margin(is_call, strike, balance, mtm, 1500 * W, initial=initial, p=params)


# With no vol the mark is the intrinsic value up to the moneyness truncation m = ⌊K·1e18/F⌋: an in-the-money call is
# ⌊(1e18 − m)·F/1e18⌋ (1,400: 100 + 500 wei), a put ⌊(m − 1e18)·F/1e18⌋ (1,600: 100 − 1,000 wei).
# (test, strike, is call, balance, upstream IM, upstream MM, tolerance, exact IM, exact MM)
ISOLATED = [
    ("testGetIsolatedMarginLongCall", 1000, True, W, 0, 0, 0, 0, 0),
    # IM 0.15·1,500 + 100 = 325; MM 0.075·1,500 + 100 = 212.5
    ("testGetIsolatedMarginShortATMCall", 1400, True, -W, -325 * W, -2125 * W // 10, 0.01,
     -325 * W - 500, -2125 * W // 10 - 500),
    ("testGetIsolatedMarginShortITMCall", 400, True, -W, -1325 * W, -1212 * W, 0.01, -1325 * W - 1000, -12125 * W // 10 - 1000),
    # OTM 1/15 → rate 0.15 − 0.0667 below the 0.10 floor: 150; MM 112.5 (no mark)
    ("testGetIsolatedMarginShortOTMCall", 1600, True, -W, -150 * W, -1125 * W // 10, 0.01, -150 * W, -1125 * W // 10),
    ("testGetIsolatedMarginLongPut", 1000, False, W, 0, 0, 0, 0, 0),
    # MM max(0.075·1,500, 0.075·100) + 100 = 212.5; IM max(225 + 100, 1.05·212.5) = 325
    ("testGetIsolatedMarginShortATMPut", 1600, False, -W, -325 * W, -212 * W, 0.01, -325 * W + 1000, -2125 * W // 10 + 1000),
    # MM max(112.5, 0.075·1,500) + 1,500 = 1,612.5; IM 225 + 1,500 = 1,725 (> 1.05·1,612.5 = 1,693.1)
    ("testGetIsolatedMarginShortITMPut", 3000, False, -W, -1725 * W, -1612 * W, 0.01, -1725 * W, -16125 * W // 10),
    ("testGetIsolatedMarginShortOTMPut", 1400, False, -W, -150 * W, -1125 * W // 10, 0.01, -150 * W, -1125 * W // 10),
]


@pytest.mark.parametrize("test, strike, is_call, balance, im, mm, tol, exact_im, exact_mm", ISOLATED,
                         ids=[_src("TestStandardManager_Option.t.sol", r[0]) for r in ISOLATED])
def test_option_isolated_margin(test, strike, is_call, balance, im, mm, tol, exact_im, exact_mm):
    got_im = _isolated(strike * W, is_call, balance, True)
    got_mm = _isolated(strike * W, is_call, balance, False)
    assert _approx_eq_rel(got_im, im, tol) and _approx_eq_rel(got_mm, mm, tol)  # upstream (assertEq for longs)
    assert (got_im, got_mm) == (exact_im, exact_mm)  # ours, worked above


def _account(cash, legs, *, forward=1500 * W, expiry_s=T91, spot_conf=W, params=OPTION_PARAMS):
    m = derive.SRMMarket(spot=1500 * W, spot_conf=spot_conf, legs=tuple(derive.SRMLeg(expiry_s, k * W, c, b) for k, c, b in legs),
                         forwards={expiry_s: (forward, W)}, vol_confs={expiry_s: W}, params=params)
    return _margins([m], cash)


_CALL_1500 = _isolated(1500 * W, True, -W, True)
_PUT_1500 = _isolated(1500 * W, False, -W, True)
# A trade goes through iff the trader's post-trade initial margin is ≥ 0 (StandardManager._assessRisk).
# (test, cash, legs (strike $, is call, balance) after the trade, forward, expiry s, trade passes)
TRADES = [
    ("testCanTradeOptionWithEnoughMargin", 190 * W, [(2000, True, -W)], 1500 * W, T91, True),
    # short 1,500 C / long 1,600 C: the maximum loss of 100 is the whole requirement
    ("testCanTradeSpreadWithMaxLoss", 100 * W, [(1500, True, -W), (1600, True, W)], 1500 * W, T91, True),
    # 0.01 unpaired call: 1.4 × 1,500 × 0.01 = 21 on top of the max loss of 101 at 1,600 → 122 ≤ 123
    ("testUnpairedLegsAreChargedInMargin", 123 * W, [(1500, True, -101 * W // 100), (1600, True, W)], 1500 * W, T91, True),
    ("testCanHoldExpiredOption", 400 * W, [(2000, True, -W)], 1500 * W, 0, True),
    ("testCanTradeZeroStrikeSpreadWithMaxLoss", 400 * W, [(0, True, -W), (400, True, W)], 1500 * W, T91, True),
    ("testShortStraddle", -(_CALL_1500 + _PUT_1500), [(1500, True, -W), (1500, False, -W)], 1500 * W, T91, True),
    # the opening trade at a forward of 2,100, then closing 5 (paying 100) at 2,300
    ("testAllowRiskReducingTrade_MMEnough", 2600 * W, [(2000, True, -10 * W)], 2100 * W, T91, True),
    ("testAllowRiskReducingTrade_MMEnough", 2500 * W, [(2000, True, -5 * W)], 2300 * W, T91, True),
    # closing only 1 at 2,260 leaves the initial margin negative: SRM_PortfolioBelowMargin
    ("testDisallowRiskReducingTrade_MMNotEnough", 2500 * W, [(2000, True, -9 * W)], 2260 * W, T91, False),
]


@pytest.mark.parametrize("test, cash, legs, forward, expiry_s, passes", TRADES,
                         ids=[f"{_src('TestStandardManager_Option.t.sol', r[0])}#{i}" for i, r in enumerate(TRADES)])
def test_option_trades(test, cash, legs, forward, expiry_s, passes):
    im, _mm, _mtm = _account(cash, legs, forward=forward, expiry_s=expiry_s)
    assert (im >= 0) is passes


def test_option_no_forward_price():
    # TestStandardManager_Option.t.sol::testCannotTradeWithExpiryWithNoForwardPrice: SRM_NoForwardPrice
    m = derive.SRMMarket(spot=1500 * W, legs=(derive.SRMLeg(T91 + 1, 2000 * W, True, -W),), forwards={T91: (1500 * W, W)},
                         params=OPTION_PARAMS)
    with pytest.raises(InvalidInput):
        derive.srm_margin([m], 190 * W, initial=True)


def test_option_risk_reducing_trade_maintenance():
    # TestStandardManager_Option.t.sol::testAllowRiskReducingTrade_MMEnough: MM < 0 before closing, > 0 after
    assert _account(2600 * W, [(2000, True, -10 * W)], forward=2300 * W)[1] < 0
    assert _account(2500 * W, [(2000, True, -5 * W)], forward=2300 * W)[1] > 0


def test_option_oracle_contingency():
    # TestStandardManager_Option.t.sol::testOracleContingencyOnOptions: OC params (0.8, 0.9, 0.8, 0.1); cash = the
    # isolated IM of 10 short 2,000 calls; imBefore == 0, and at a spot confidence of 0.8: imAfter == −300e18
    # ((1 − 0.8) × 0.1 × 1,500 × 10), MtM and MM unchanged — all assertEq upstream
    p = dataclasses.replace(OPTION_PARAMS, oc_perp_threshold=Fraction(8, 10), oc_option_threshold=Fraction(9, 10),
                            oc_base_threshold=Fraction(8, 10), oc_factor=Fraction(1, 10))
    cash = -_isolated(2000 * W, True, -10 * W, True, params=p)
    im0, mm0, mtm0 = _account(cash, [(2000, True, -10 * W)], params=p)
    im1, mm1, mtm1 = _account(cash, [(2000, True, -10 * W)], params=p, spot_conf=8 * W // 10)
    assert im0 == 0 and im1 == -300 * W and mtm0 == mtm1 and mm0 == mm1


# ============================================================================ the pricer and the one formula
# derivexyz/lyra-utils test/math/Black76.t.sol::testPrices at 4648e9b2 (benchmarks from Python; upstream tolerance
# 1e-12 × 1e18 absolute). v2-core pins derive-utils 8f6962cb, not stored; the exact Portfolio_Cases above pass with it.
BLACK76 = [
    ((7 * 86_400, W, 1500 * W, 1500 * W, W), (82805080668634559515, 82805080668634559515)),
    ((30 * 86_400, W // 4, 1000 * W, 1200 * W, 999178419873700600), (137082128426579297, 199972766103166719631)),
    ((2 * 86_400, 3 * W // 4, 1000 * W, 700 * W, 999890416963563700), (299967125089526177817, 457084680)),
    ((365 * 86_400, 25 * W, 1000 * W, 700 * W, 980198673306755300), (980198673306755267731, 686139071314728653306)),
    ((365 * 86_400, 5 * W, 1000 * W, 700 * W, 980198673306755300), (970034553583819047162, 675974951591792546424)),
    ((365 * 86_400, 4 * W, 1, 2**128 - 1, W), (0, 2**128 - 1)),
    ((365 * 86_400, 4 * W, 2**128 - 1, 1, W), (2**128 - 1, 0)),
    ((365 * 86_400, 4 * W, 1000 * W, 0, 99 * W // 100), (990 * W, 0)),
    ((365 * 86_400, 4 * W, 0, 1000 * W, 99 * W // 100), (0, 990 * W)),
]


@pytest.mark.parametrize("args, expected", BLACK76, ids=[f"lyra-utils@4648e9b:test/math/Black76.t.sol::testPrices[{i}]" for i in range(len(BLACK76))])
def test_black76_prices(args, expected):
    got = derive.black76_prices(*args)
    assert all(abs(g - e) <= 10**6 for g, e in zip(got, expected, strict=True))


def test_float_standard_margin_caps_unpaired_calls_as_derive():
    # Portfolio_Cases testCase21 (test_short_call_spread_with_offset) through the float path of
    # option_standard: the same formulas (one home) give Derive's 125.034 / 123.031 (IM, MM) in dollars
    e, fwd = EXPIRY["20230111"], SPOT["eth"] + derive.to_wad(Fraction("2.83305"))
    marks = [derive.black76_prices(e, W // 2, fwd, k * W)[0] / W for k in (1100, 1200)]
    r = standard_margin([True, True], [1100, 1200], [-1.01, 1.0], marks, 2000.0, inverse=False, params=DERIVE_TEST, forward=fwd / W)
    im, mm, _ = _portfolio_case("testCase21", [("eth", "20230111", 1100, "call", -101000000),
                                                ("eth", "20230111", 1200, "call", 100000000)], [], [], 0)
    assert r.initial == pytest.approx(-im / W, rel=1e-12) and r.maintenance == pytest.approx(-mm / W, rel=1e-12)
    assert r.max_loss == float("inf") and r.cap_initial == pytest.approx(101 + 1.2 * 0.01 * fwd / W, rel=1e-12)
    # without unpaired scales (Deribit's rule) the net short call keeps the sum of the legs
    deribit_like = dataclasses.replace(DERIVE_TEST, unpaired_im_scale=None, unpaired_mm_scale=None)
    r0 = standard_margin([True, True], [1100, 1200], [-1.01, 1.0], marks, 2000.0, inverse=False, params=deribit_like)
    assert r0.initial == r0.sum_initial > r.initial


def test_float_short_put_maintenance_takes_the_mark_term():
    # Portfolio_Cases testCase40 (test_ITM_put_with_IM_multiple_of_MM): a deep ITM put's maintenance is
    # 0.075 × its mark (405), not 0.075 × spot (150), plus the mark; the float path agrees with the fixed point
    e = EXPIRY["20230104"]
    mark = derive.black76_prices(e, W // 2, SPOT["eth"] + derive.to_wad(Fraction("0.91345")), 7400 * W)[1]
    im, mm = isolated_requirements(False, 7400.0, -1.0, mark / W, 2000.0, inverse=False, params=DERIVE_TEST)
    fim, fmm, _ = _portfolio_case("testCase40", [("eth", "20230104", 7400, "put", -100000000)], [], [], 0)
    assert im[0] == pytest.approx(-fim / W, rel=1e-12) and mm[0] == pytest.approx(-fmm / W, rel=1e-12)
    assert mm[0] == pytest.approx(1.075 * mark / W, rel=1e-12) and im[0] == pytest.approx(1.05 * mm[0], rel=1e-12)


# ============================================================================ TestStandardManager_Option.t.sol: admin, OI fee, settlement
# The Option setUp (above) through StandardManagerConfig: market "weth" (id 1) with perp and option whitelisted, perp
# requirements 0.05 / 0.1, the Config option parameters, depeg (0.98, 1.3), stable feed at 1, a fee-recipient account.
def _option_manager():
    c = derive.StandardManagerConfig(OPTION_PARAMS)
    mid = c.create_market("weth")
    c.whitelist_asset("perp", mid, derive.SRM_PERP)
    c.whitelist_asset("option", mid, derive.SRM_OPTION)
    c.set_oracles_for_market(mid, "feed", "feed", "feed")
    c.set_perp_margin_requirements(mid, 5 * W // 100, W // 10)
    c.set_stable_feed("stableFeed")
    c.set_depeg_parameters(98 * W // 100, 13 * W // 10)
    c.fee_recipient = "feeRecipient"
    return c, mid


def _revert(error, fn, *args, **kw):
    with pytest.raises(derive.SRMRevert) as e:
        fn(*args, **kw)
    assert e.value.error == error and isinstance(e.value, InvalidInput)


def test_option_whitelist_asset():
    # testWhitelistAsset: a new market "btc" takes over both assets; their details and assetMap follow
    c, _ = _option_manager()
    btc = c.create_market("btc")
    c.whitelist_asset("perp", btc, derive.SRM_PERP)
    c.whitelist_asset("option", btc, derive.SRM_OPTION)
    assert c.asset_details("perp") == (True, btc, derive.SRM_PERP) and c.asset_details("option") == (True, btc, derive.SRM_OPTION)
    assert c.asset_map[(btc, derive.SRM_PERP)] == "perp" and c.asset_map[(btc, derive.SRM_OPTION)] == "option"


def test_option_set_option_parameters():
    # testSetOptionParameters: OptionMarginParams(0.2, 0.15, 0.1, 0.07, 0.09, 1.4, 1.2, 1.05) read back field by field
    c, mid = _option_manager()
    params = (2 * W // 10, 15 * W // 100, W // 10, 7 * W // 100, 9 * W // 100, 14 * W // 10, 12 * W // 10, 105 * W // 100)
    c.set_option_margin_params(mid, *params)
    assert c.option_margin_params(mid) == params
    o = c.params[mid].option  # and they land under ramparts' names, which the margin formulas read
    assert (o.im_base, o.im_floor, o.mm_base, o.mm_put_base, o.mm_put_mark, o.unpaired_im_scale, o.unpaired_mm_scale,
            o.put_im_over_mm) == (0.2, 0.15, 0.1, 0.07, 0.09, 1.4, 1.2, 1.05)


def test_option_admin_market_not_created():
    # testCannotSetOptionParamsForInvalidMarketId (lastMarketId + 1, Config params) and
    # testCannotSetOraclesForNonExistentMarket (market 5): SRM_MarketNotCreated
    c, _ = _option_manager()
    config = tuple(OPTION_PARAMS.wad("option." + n) for n in derive._OPTION_WAD_NAMES)
    _revert("SRM_MarketNotCreated", c.set_option_margin_params, c.last_market_id + 1, *config)
    _revert("SRM_MarketNotCreated", c.set_oracles_for_market, 5, "feed", "feed", "feed")


def test_option_set_feeds():
    # testSetOracles, testSetStableFeed
    c, mid = _option_manager()
    c.set_oracles_for_market(mid, "newFeed", "newFeed", "newFeed")
    c.set_stable_feed("newStable")
    assert c.get_market_feeds(mid) == ("newFeed", "newFeed", "newFeed") and c.stable_feed == "newStable"


def test_option_set_depeg_and_contingency_parameters():
    # testSetDepegParameters (0.99, 1.2), testSetOracleContingencyParams (0.8, 0.9, 0.7, 0.05): read back exactly
    c, mid = _option_manager()
    c.set_depeg_parameters(99 * W // 100, 12 * W // 10)
    c.set_oracle_contingency_params(mid, 8 * W // 10, 9 * W // 10, 7 * W // 10, 5 * W // 100)
    assert c.depeg_params() == (99 * W // 100, 12 * W // 10)
    assert c.oracle_contingency_params(mid) == (8 * W // 10, 9 * W // 10, 7 * W // 10, 5 * W // 100)
    assert c.params[mid].depeg_threshold == Fraction(99, 100)  # the margin arithmetic reads the new values


# (test, setter, wad arguments after the market id, expected error)
ADMIN_REVERTS = [
    ("testCannotSetInvalidDepegParameters", "depeg", (101 * W // 100, 12 * W // 10), "SRM_InvalidDepegParams"),
    ("testCannotSetInvalidDepegParameters", "depeg", (9 * W // 10, 4 * W), "SRM_InvalidDepegParams"),
    ("testCannotSetInvalidOracleContingencyParams", "oc", (101 * W // 100, 9 * W // 10, 8 * W // 10, 5 * W // 100),
     "SRM_InvalidOracleContingencyParams"),
    ("testCannotSetInvalidOracleContingencyParams", "oc", (9 * W // 10, 101 * W // 100, 8 * W // 10, 5 * W // 100),
     "SRM_InvalidOracleContingencyParams"),
    ("testCannotSetInvalidOracleContingencyParams", "oc", (9 * W // 10, 8 * W // 10, 101 * W // 100, 5 * W // 100),
     "SRM_InvalidOracleContingencyParams"),
    ("testCannotSetInvalidOracleContingencyParams", "oc", (5 * W // 10, 9 * W // 10, 9 * W // 10, 12 * W // 10),
     "SRM_InvalidOracleContingencyParams"),
]


@pytest.mark.parametrize("test, setter, args, error", ADMIN_REVERTS,
                         ids=[f"{_src('TestStandardManager_Option.t.sol', r[0])}#{i}" for i, r in enumerate(ADMIN_REVERTS)])
def test_option_admin_reverts(test, setter, args, error):
    c, mid = _option_manager()
    before = (c.depeg_params(), c.oracle_contingency_params(mid))
    if setter == "depeg":
        _revert(error, c.set_depeg_parameters, *args)
    else:
        _revert(error, c.set_oracle_contingency_params, mid, *args)
    assert (c.depeg_params(), c.oracle_contingency_params(mid)) == before  # a revert changes nothing


def _option_market(legs, params=OPTION_PARAMS):
    return derive.SRMMarket(spot=1500 * W, legs=tuple(derive.SRMLeg(T91, k * W, c, b) for k, c, b in legs),
                            forwards={T91: (1500 * W, W)}, vol_confs={T91: W}, params=params)


# (test, fee-bypassed caller, cash after the fee): alice (300 cash) shorts one 3,000 call whose OI rose from 0;
# rate 0.001 on the forward of 1,500: fee 1.5
OI_FEES = [("testOIFeeOnOption", False, 300 * W - 1500 * W // 1000), ("testBypassOIFee", True, 300 * W)]


@pytest.mark.parametrize("test, bypass, cash_after", OI_FEES, ids=[_src("TestStandardManager_Option.t.sol", r[0]) for r in OI_FEES])
def test_option_oi_fee(test, bypass, cash_after):
    c, mid = _option_manager()
    c.oi_fee_rate["option"] = W // 1000
    if bypass:
        c.fee_bypassed.add("this")
    cash = 300 * W - c.oi_fee("this", [("option", -W, 1500 * W, True)])
    assert cash == cash_after
    assert c.handle_adjustment([("option", -W)], {}, cash, [_option_market([(3000, True, -W)], c.params[mid])])
    assert c.oi_fee("this", [("option", -W, 1500 * W, False)]) == 0  # no OI increase, no fee


# (test, settled value of alice's 10 short 2,000 calls, cash delta): both settle −500 out of alice's cash
SETTLE_OPTIONS = [("testCanSettleOptions", -500 * W), ("testSettleOptionWithManagerData", -500 * W)]


@pytest.mark.parametrize("test, value", SETTLE_OPTIONS, ids=[_src("TestStandardManager_Option.t.sol", r[0]) for r in SETTLE_OPTIONS])
def test_option_settle(test, value):
    c, mid = _option_manager()
    market = _option_market([(2000, True, -10 * W)], c.params[mid])
    assert c.handle_adjustment([("option", -10 * W)], {}, 2000 * W, [market])  # the opening trade passes its IM check
    assert c.settle_options("option", [(value, True), (123 * W, False)]) == value  # unsettled sub-ids are skipped
    if test == "testSettleOptionWithManagerData":  # the helper's zero cash transfer is not risk adding
        assert c.handle_adjustment([(derive.SRM_CASH, 0)], {}, 2000 * W + value, []) is False


def test_option_cannot_settle_weird_asset():
    # testCannotSettleWeirdAsset: SRM_UnsupportedAsset
    c, _ = _option_manager()
    _revert("SRM_UnsupportedAsset", c.settle_options, "badAsset", [])


# ============================================================================ TestStandardManager_Perp.t.sol
# setUp: market "weth" with perp and option whitelisted, oracles, stable feed at 1, depeg (0.98, 1.3); spot and perp
# price 1,500 (confidence 1). Perp requirements, option parameters and oracle contingency are left unset (zero).
PERP_PARAMS = derive.SRMParams(option=OPTION_PARAMS.option, perp_mm_req=Fraction(0), perp_im_req=Fraction(0),
                               base_margin_factor=Fraction(0), base_im_scale=Fraction(0), oc_perp_threshold=Fraction(0),
                               oc_option_threshold=Fraction(0), oc_base_threshold=Fraction(0), oc_factor=Fraction(0))


def _perp_manager():
    c = derive.StandardManagerConfig(PERP_PARAMS)
    mid = c.create_market("weth")
    c.whitelist_asset("perp", mid, derive.SRM_PERP)
    c.whitelist_asset("option", mid, derive.SRM_OPTION)
    c.set_oracles_for_market(mid, "feed", "feed", "feed")
    c.set_stable_feed("stableFeed")
    c.set_depeg_parameters(98 * W // 100, 13 * W // 10)
    return c, mid


def _perp_market(c, mid, balance, spot_conf=W):
    return derive.SRMMarket(spot=1500 * W, spot_conf=spot_conf, perp=balance, perp_price=1500 * W, params=c.params[mid])


def _trade_perp(c, mid, amount, from_cash=0, to_cash=0, asset="perp"):
    """``_tradePerpContract(alice, bob, amount)``: alice −amount, bob +amount, each through handleAdjustment."""
    for balance, cash in ((-amount, from_cash), (amount, to_cash)):
        c.handle_adjustment([(asset, balance)], {asset: balance}, cash, [_perp_market(c, mid, balance)])


# (test, mm, im): SRM_InvalidPerpMarginParams
PERP_REQ_REVERTS = [("testCannotSetPerpMMLargerThanIM", W // 10, 5 * W // 100),
                    ("testCannotSetInvalidPerpMarginRequirement", W // 10, 0),
                    ("testCannotSetInvalidPerpMarginRequirement", W // 10, W),
                    ("testCannotSetInvalidPerpMarginRequirement", W, W // 10),
                    ("testCannotSetInvalidPerpMarginRequirement", 0, W // 10)]


@pytest.mark.parametrize("test, mm, im", PERP_REQ_REVERTS,
                         ids=[f"{_src('TestStandardManager_Perp.t.sol', r[0])}#{i}" for i, r in enumerate(PERP_REQ_REVERTS)])
def test_perp_invalid_margin_requirements(test, mm, im):
    c, mid = _perp_manager()
    _revert("SRM_InvalidPerpMarginParams", c.set_perp_margin_requirements, mid, mm, im)
    assert c.perp_margin_requirements(mid) == (0, 0)
    c.set_perp_margin_requirements(mid, 5 * W // 100, W // 10)  # the valid pair of the margin tests is accepted
    assert c.perp_margin_requirements(mid) == (5 * W // 100, W // 10)


# (test, cash each side deposits, trade passes): 10 perps at 1,500 × 0.1 need 1,500
PERP_TRADES = [("testCanTradePerpWithEnoughMargin", 1500 * W, True), ("testCannotTradePerpWithInsufficientMargin", 1499 * W, False)]


@pytest.mark.parametrize("test, cash, passes", PERP_TRADES, ids=[_src("TestStandardManager_Perp.t.sol", r[0]) for r in PERP_TRADES])
def test_perp_trade_margin(test, cash, passes):
    c, mid = _perp_manager()
    c.set_perp_margin_requirements(mid, 5 * W // 100, W // 10)
    if passes:
        _trade_perp(c, mid, 10 * W, cash, cash)
    else:
        _revert("SRM_PortfolioBelowMargin", _trade_perp, c, mid, 10 * W, cash, cash)
    im, _ = derive.srm_margin([_perp_market(c, mid, -10 * W)], cash, initial=True)
    assert im == cash - 1500 * W  # exact: the requirement is 1,500e18


def test_perp_oracle_contingency():
    # testOracleContingencyOnPerps: OC (0.75, 0, 0, 0.1); both sides hold 1,500 cash and ±10 perps; IM 0 before;
    # at a spot confidence of 0.7 both IMs are exactly −450e18 ((1 − 0.7) × 0.1 × 1,500 × 10); MtM and MM unchanged
    c, mid = _perp_manager()
    c.set_perp_margin_requirements(mid, 5 * W // 100, W // 10)
    c.set_oracle_contingency_params(mid, 75 * W // 100, 0, 0, W // 10)
    _trade_perp(c, mid, 10 * W, 1500 * W, 1500 * W)
    for balance in (-10 * W, 10 * W):
        im0, mtm0 = derive.srm_margin([_perp_market(c, mid, balance)], 1500 * W, initial=True)
        mm0, _ = derive.srm_margin([_perp_market(c, mid, balance)], 1500 * W, initial=False)
        im1, mtm1 = derive.srm_margin([_perp_market(c, mid, balance, 7 * W // 10)], 1500 * W, initial=True)
        mm1, _ = derive.srm_margin([_perp_market(c, mid, balance, 7 * W // 10)], 1500 * W, initial=False)
        assert (im0, im1, mtm1, mm1) == (0, -450 * W, mtm0, mm0)


# (test, alice's perp balance, (pnl, funding) mocked, extra market created, cash delta)
PERP_SETTLES = [
    ("testNoCashMovesIfNothingToSettle", 0, (0, 0), False, 0),
    ("testWontSettlePerpIfNoBalance", 0, (W, 100 * W), False, 0),
    ("testCashChangesBasedOnPerpContractPNLAndFundingValues", -W, (W, 100 * W), False, 101 * W),
    ("testSettlePerpWithManagerData", -W, (0, 100 * W), False, 100 * W),
    ("testCanSettleIntoNegativeCash", -W, (0, -10000 * W), False, -10000 * W),
    ("testCanSettleWhenPerpForSomeMarketIsUnset", -W, (0, 1000 * W), True, 1000 * W),
]


@pytest.mark.parametrize("test, balance, pnl_funding, new_market, delta", PERP_SETTLES,
                         ids=[_src("TestStandardManager_Perp.t.sol", r[0]) for r in PERP_SETTLES])
def test_perp_settle_with_index(test, balance, pnl_funding, new_market, delta):
    c, mid = _perp_manager()
    if balance:
        _trade_perp(c, mid, -balance)  # alice trades with no cash: the unset requirements are zero
    if new_market:
        c.create_market("LYRA")  # a market without a perp is skipped
    got = c.settle_perps_with_index({"perp": balance}, {"perp": pnl_funding})
    assert got == delta
    if test == "testSettlePerpWithManagerData":  # the helper's zero cash transfer is not risk adding
        assert c.handle_adjustment([(derive.SRM_CASH, 0)], {"perp": balance}, got, [_perp_market(c, mid, balance)]) is False
    if test == "testCanSettleIntoNegativeCash":
        assert got < 0  # upstream: assertLt(cash, 0); settlement itself runs no margin check


def test_perp_account_reverts():
    c, mid = _perp_manager()
    # testCannotHaveNegativeCash: alice's unrealised PnL of 1,000 is not settled; sending 1,000 cash leaves −1,000
    _revert("SRM_NoNegativeCash", c.handle_adjustment, [(derive.SRM_CASH, -1000 * W)], {}, -1000 * W, [])
    # testCannotHaveUnrecognizedAsset: a transfer of a non-whitelisted asset
    _revert("SRM_UnsupportedAsset", c.handle_adjustment, [("badAsset", W)], {}, 0, [])
    # testCannotHave2PerpContractsForSameMarket: whitelisting perp2 for the market drops the old perp
    c.whitelist_asset("perp2", mid, derive.SRM_PERP)
    assert c.asset_details("perp") == (False, 0, None)
    _revert("SRM_UnsupportedAsset", _trade_perp, c, mid, W)


def test_risk_reducing_trades_skip_the_check():
    # StandardManager.handleAdjustment's bypass (used by every test above): reducing a perp, adding cash or buying
    # options runs no check even when under water; a trusted risk assessor is held to maintenance, not initial, margin
    c, mid = _perp_manager()
    c.set_perp_margin_requirements(mid, 5 * W // 100, W // 10)
    under = [_perp_market(c, mid, -10 * W)]
    assert c.handle_adjustment([("perp", 5 * W)], {"perp": -10 * W}, 0, under) is False
    assert c.handle_adjustment([("option", W), (derive.SRM_CASH, W)], {}, 0, under) is False
    _revert("SRM_PortfolioBelowMargin", c.handle_adjustment, [("perp", -W)], {"perp": -10 * W}, 1000 * W, under)
    assert c.handle_adjustment([("perp", -W)], {"perp": -10 * W}, 750 * W, under, trusted=True)  # MM 0.05 × 15,000


# ============================================================================ TestStandardManagerBase.t.sol setUp (Misc, MutiAsset)
# markets weth (1) and wbtc (2), each with a perp, an option and a base asset (WrappedERC20Asset) whitelisted; spot, perp
# price and every forward at ethSpot 1,500 / btcSpot 20,000 (confidence 1); expiries 7 / 14 / 30 days; no vol set
# (0, and confidence 0); perps 0.05 / 0.065; Config option parameters; depeg (0.98, 1.3) with the stable at 1; base
# margin factors and oracle contingency left unset (zero).
ETH, BTC = 1500 * W, 20_000 * W
E1, E2, E3 = 7 * _D, 14 * _D, 30 * _D
BASE_PARAMS = dataclasses.replace(PERP_PARAMS, option=DERIVE_TEST, perp_mm_req=Fraction(5, 100), perp_im_req=Fraction(65, 1000))


def _base_manager(perp_im=None):
    c = derive.StandardManagerConfig(BASE_PARAMS)
    for name, pre in (("weth", "eth"), ("wbtc", "btc")):
        mid = c.create_market(name)
        c.whitelist_asset(pre + "Perp", mid, derive.SRM_PERP)
        c.whitelist_asset(pre + "Option", mid, derive.SRM_OPTION)
        c.whitelist_asset(name + "Asset", mid, derive.SRM_BASE)
        c.set_oracles_for_market(mid, pre + "Feed", pre + "Feed", pre + "Feed")
        if perp_im is not None:  # MutiAsset setUp: perp IM overridden to 0.1
            c.set_perp_margin_requirements(mid, 5 * W // 100, perp_im)
    c.set_stable_feed("stableFeed")
    c.set_depeg_parameters(98 * W // 100, 13 * W // 10)
    return c


def _mkt(c, mid, spot, *, legs=(), perp=0, base=0, spot_conf=W):
    """A market of the base setUp: ``legs`` are (expiry s, strike wad, is call, balance)."""
    return derive.SRMMarket(spot=spot, spot_conf=spot_conf, legs=tuple(derive.SRMLeg(*leg) for leg in legs),
                            forwards={e: (spot, W) for e in (E1, E2, E3)}, perp=perp, perp_price=spot, base=base,
                            params=c.params[mid])


def _iso(c, mid, spot, strike, expiry, balance=-W):
    """``getIsolatedMargin(marketId, strike, expiry, isCall=true, balance, isInitial=true)`` at forward = spot, vol 0."""
    mtm = derive.wmul(derive.black76_prices(expiry, 0, spot, strike)[0], balance)
    return derive.srm_isolated_margin(True, strike, balance, mtm, spot, initial=True, p=c.params[mid])


# ============================================================================ TestStandardManager_Misc.t.sol
def test_misc_transfer_cash_and_option_params():
    c = _base_manager()
    # testCanTransferCash: 1,000 deposited, 1,000 sent: cash 0 is not negative and the empty account has margin 0
    assert c.handle_adjustment([(derive.SRM_CASH, -1000 * W)], {}, 0, [])
    # testCannotSetInvalidMarginParams: the Config option parameters with maxSpotReq 1.5
    config = [BASE_PARAMS.wad("option." + n) for n in derive._OPTION_WAD_NAMES]
    _revert("SRM_InvalidOptionMarginParams", c.set_option_margin_params, 1, 15 * W // 10, *config[1:])


def test_misc_borrowing_against_base():
    # testCanEnableBorrowing, testCanHaveNegativeCashIfBorrowingEnabled, testCannotWithdrawBaseIfNegativeCash:
    # base factor (0.5, IM scale 1) on wbtc; bob holds 1 wbtc and withdraws btcSpot / 2 of cash: margin exactly 0
    c = _base_manager()
    c.borrowing_enabled = True
    c.set_base_asset_margin_factor(2, W // 2, W)
    assert c.handle_adjustment([(derive.SRM_CASH, -BTC // 2)], {}, -BTC // 2, [_mkt(c, 2, BTC, base=W)])
    assert derive.srm_margin([_mkt(c, 2, BTC, base=W)], -BTC // 2, initial=True)[0] == 0
    # withdrawing the wbtc then leaves −btcSpot / 2: SRM_PortfolioBelowMargin
    _revert("SRM_PortfolioBelowMargin", c.handle_adjustment, [("wbtcAsset", -W)], {}, -BTC // 2, [_mkt(c, 2, BTC)])


def test_misc_borrowing_disabled_keeps_negative_cash():
    # testCanHaveNegativeCashWhenBorrowingBecomesDisabled: base (0.8, 0.8); bob deposits 5 wbtc
    c = _base_manager()
    c.set_base_asset_margin_factor(2, 8 * W // 10, 8 * W // 10)
    five = [_mkt(c, 2, BTC, base=5 * W)]
    _revert("SRM_NoNegativeCash", c.handle_adjustment, [(derive.SRM_CASH, -BTC)], {}, -BTC, five)
    c.borrowing_enabled = True
    assert c.handle_adjustment([(derive.SRM_CASH, -BTC)], {}, -BTC, five)
    c.borrowing_enabled = False
    _revert("SRM_NoNegativeCash", c.handle_adjustment, [(derive.SRM_CASH, -W)], {}, -BTC - W, five)
    # sending 1 wbtc away still passes (no cash delta; 4 × 20,000 × 0.64 − 20,000 > 0)
    assert c.handle_adjustment([("wbtcAsset", -W)], {}, -BTC, [_mkt(c, 2, BTC, base=4 * W)])
    # receiving or depositing cash is not risk adding
    assert c.handle_adjustment([(derive.SRM_CASH, W)], {}, -BTC + W, [_mkt(c, 2, BTC, base=4 * W)]) is False
    c.borrowing_enabled = True
    assert c.handle_adjustment([(derive.SRM_CASH, -W)], {}, -BTC, [_mkt(c, 2, BTC, base=4 * W)])


def _eth_calls(holdings, expiry=E2):
    """The ETH market of an account whose option holdings are ``{("ethOption", strike $): balance}``."""
    return [(expiry, k * W, True, b) for (a, k), b in holdings.items() if a == "ethOption" and b]


def test_misc_max_account_size():
    c = _base_manager()
    # testCannotTradeMoreThanMaxAccountSize: max 10; alice sends 11 option sub-ids (100 each): 11 new assets
    c.set_max_account_size(10)
    alice = {("ethOption", i): -100 * W for i in range(11)}
    deltas = [("ethOption", -100 * W, i) for i in range(11)]
    _revert("SRM_TooManyAssets", c.handle_adjustment, deltas, {}, 0, [], holdings=alice)
    # testCanTradeMoreThanMaxAccountSizeIfAlreadyHadIt: bob holds cash and 11 long 0.1 calls (12 assets), max 8
    c = _base_manager()
    strikes = [1500 + i for i in range(11)]
    bob = {(derive.SRM_CASH, 0): 10_000 * W, **{("ethOption", k): W // 10 for k in strikes}}
    assert len(bob) == 12
    c.set_max_account_size(8)
    close = [("ethOption", -W // 10, k) for k in strikes[:2]]
    for k in strikes[:2]:
        bob[("ethOption", k)] = 0
    m = [_mkt(c, 1, ETH, legs=_eth_calls(bob))]
    assert c.handle_adjustment(close, {}, 10_000 * W, m, holdings=bob)  # 10 left: shrinking is allowed
    assert _srm_len(bob) == 10
    for k in strikes[:2]:  # sending them again opens two shorts: 12 > 8 and growing
        bob[("ethOption", k)] = -W // 10
    m = [_mkt(c, 1, ETH, legs=_eth_calls(bob))]
    _revert("SRM_TooManyAssets", c.handle_adjustment, close, {}, 10_000 * W, m, holdings=bob)
    c.set_max_account_size(12)
    assert c.handle_adjustment(close, {}, 10_000 * W, m, holdings=bob) and _srm_len(bob) == 12
    _revert("BM_InvalidMaxAccountSize", c.set_max_account_size, 7)
    _revert("BM_InvalidMaxAccountSize", c.set_max_account_size, 501)


def _srm_len(holdings):
    return sum(1 for v in holdings.values() if v)


def test_misc_settle_perps_beyond_max_asset_size():
    # testCanSettlePerpsIfBeyondMaxAssetSize: bob holds cash, 10 long 0.1 calls and 10 long ETH perps (12 assets)
    c = _base_manager()
    bob = {(derive.SRM_CASH, 0): 10_000 * W, ("ethPerp", 0): 10 * W, **{("ethOption", 1500 + i): W // 10 for i in range(10)}}
    c.set_max_account_size(8)
    c.set_base_asset_margin_factor(2, W // 2, W)
    bob[("wbtcAsset", 0)] = 1000 * W  # depositing base would make 13 > 8: SRM_TooManyAssets
    _revert("SRM_TooManyAssets", c.handle_adjustment, [("wbtcAsset", 1000 * W)], {}, 10_000 * W, [], holdings=bob)
    c.set_max_account_size(14)
    assert c.handle_adjustment([("wbtcAsset", 1000 * W)], {}, 10_000 * W, [], holdings=bob) is False
    c.set_max_account_size(8)
    bob[(derive.SRM_CASH, 0)] = 0  # withdrawing all cash shrinks the account to 12: allowed, and the base covers it
    markets = [_mkt(c, 1, ETH, legs=_eth_calls(bob), perp=10 * W), _mkt(c, 2, BTC, base=1000 * W)]
    assert c.handle_adjustment([(derive.SRM_CASH, -10_000 * W)], {"ethPerp": 10 * W}, 0, markets, holdings=bob)
    # settlement runs no account-size check: 100 PnL + 100 funding land in cash (13 assets again)
    assert c.settle_perps_with_index({"ethPerp": 10 * W}, {"ethPerp": (100 * W, 100 * W)}) == 200 * W


def test_misc_trusted_risk_assessor():
    # testTrustedRiskAssessorCanBypassIMButNotMM: alice shorts one ATM 1,500 call (14 days, no vol: mark 0);
    # IM 0.15 × 1,500 = 225, MM 0.075 × 1,500 = 112.5 ("im ~-220, mm ~-120" upstream)
    c = _base_manager()
    m = [_mkt(c, 1, ETH, legs=[(E2, 1500 * W, True, -W)])]
    _revert("SRM_PortfolioBelowMargin", c.handle_adjustment, [("ethOption", -W)], {}, 100 * W, m, trusted=True)
    _revert("SRM_PortfolioBelowMargin", c.handle_adjustment, [("ethOption", -W)], {}, 200 * W, m)
    assert c.handle_adjustment([("ethOption", -W)], {}, 200 * W, m, trusted=True)
    im, mm = (derive.srm_margin(m, 200 * W, initial=i)[0] for i in (True, False))
    assert im < 0 < mm  # upstream
    assert (im, mm) == (-25 * W, 875 * W // 10)  # ours: exact


# ============================================================================ TestStandardManager_MutiAsset.t.sol
# setUp: the base setUp with perp IM 0.1 in both markets. Alice (the sender) ends short; every case asserts exact values.
def _alice(c, eth_legs=(), btc_legs=(), eth_perp=0, btc_perp=0):
    return [_mkt(c, 1, ETH, legs=eth_legs, perp=eth_perp), _mkt(c, 2, BTC, legs=btc_legs, perp=btc_perp)]


def test_multi_asset_option_and_perp_margins():
    c = _base_manager(perp_im=W // 10)
    eth1, btc1 = _iso(c, 1, ETH, 2000 * W, E1), _iso(c, 2, BTC, 30_000 * W, E1)
    eth2, btc2 = _iso(c, 1, ETH, 2000 * W, E2), _iso(c, 2, BTC, 30_000 * W, E2)
    assert (eth1, btc1) == (-150 * W, -2000 * W)  # ours: OTM calls at the 0.1 floor
    # testCanTradeMultipleMarkets: cash = −(isolated IMs); IM exactly 0
    legs_e, legs_b = [(E1, 2000 * W, True, -W)], [(E1, 30_000 * W, True, -W)]
    assert c.handle_adjustment([("ethOption", -W), ("btcOption", -W)], {}, -(eth1 + btc1), _alice(c, legs_e, legs_b))
    assert derive.srm_margin(_alice(c, legs_e, legs_b), -(eth1 + btc1), initial=True)[0] == 0
    # testCanTradeMultiMarketMultiExpiry: two expiries per market
    legs_e2, legs_b2 = legs_e + [(E2, 2000 * W, True, -W)], legs_b + [(E2, 30_000 * W, True, -W)]
    assert derive.srm_margin(_alice(c, legs_e2, legs_b2), -(eth1 + btc1 + eth2 + btc2), initial=True)[0] == 0
    # testCanTradeMultiMarketOptionPerps: plus a short perp in each market (150 and 2,000 at IM 0.1)
    cash = -(eth1 + btc1) + 150 * W + 2000 * W
    book = _alice(c, legs_e, legs_b, -W, -W)
    assert c.handle_adjustment([("ethOption", -W), ("btcOption", -W), ("ethPerp", -W), ("btcPerp", -W)],
                               {"ethPerp": -W, "btcPerp": -W}, cash, book)
    assert derive.srm_margin(book, cash, initial=True)[0] == 0
    assert derive.srm_margin(_alice(c, eth_perp=W, btc_perp=W), 2150 * W, initial=True)[0] == 0  # bob, long both perps


def test_multi_asset_pass_multiple_manager_data():
    # testPassMultipleManagerData: setUp whitelists ethFeed and btcFeed as callees. Alice deposits 10,000 cash
    # (trade 1); a transfer alice → bob of one ETH 2,500 call at expiry1 (trade 2) carries the manager data
    # [(ethFeed, 2,100), (btcFeed, 30,100)]: alice's hook, the first, hands each feed its spot (MockFeeds.acceptData
    # sets the spot only); bob's hook skips it (same trade id). Both feeds then read the new spots.
    c = _base_manager(perp_im=W // 10)
    for feed in ("ethFeed", "btcFeed"):
        c.set_whitelisted_callee(feed, True)
    spots = {"ethFeed": ETH, "btcFeed": BTC}
    receivers = {f: (lambda v, f=f: spots.__setitem__(f, v)) for f in spots}
    data = [("ethFeed", 2100 * W), ("btcFeed", 30_100 * W)]

    def alice_book():  # read at the risk check, after the data: ethFeed's new spot, expiry1's forward still 1,500
        leg = derive.SRMLeg(E1, 2500 * W, True, -W)
        return [derive.SRMMarket(spot=spots["ethFeed"], legs=(leg,), forwards={e: (ETH, W) for e in (E1, E2, E3)},
                                 perp_price=ETH, params=c.params[1])]

    assert c.handle_adjustment([("ethOption", -W)], {}, 10_000 * W, alice_book, trade_id=2, manager_data=data,
                               receivers=receivers)  # the short adds risk: alice's IM check passes (no revert)
    assert c.handle_adjustment([("ethOption", W)], {}, 0, [], trade_id=2, manager_data=data, receivers=receivers) is False
    assert (spots["ethFeed"], spots["btcFeed"]) == (2100 * W, 30_100 * W)


def test_multi_asset_depeg():
    # testMultiMarketDepeg: USDC at 0.95: (0.98 − 0.95) × 1.3 × spot × (1 short call + 1 perp): 117 (ETH) + 1,560 (BTC)
    c = _base_manager(perp_im=W // 10)
    needed = 150 * W + 2000 * W + 150 * W + 2000 * W + 117 * W + 1560 * W
    book = _alice(c, [(E1, 2000 * W, True, -W)], [(E1, 30_000 * W, True, -W)], -W, -W)
    im, _ = derive.srm_margin(book, needed, initial=True, stable_price=95 * W // 100)
    assert im == 0
    assert derive.srm_margin(book, needed, initial=True)[0] == 1677 * W  # the add-on is the whole difference at par


def test_multi_asset_doge_market():
    # testCanTradeMultiMarkets: a third market "doge" (spot 0.0005) with an option only, params (0.15, 0.1, 0.075,
    # 0.075, 0.075, 1.4, 1.2, 1.05); alice shorts 1 ETH 2,000 call, 1,000 doge 0.0006 calls, 1 ETH and 1 BTC perp
    c = _base_manager(perp_im=W // 10)
    doge = c.create_market("doge")
    c.whitelist_asset("dogeOption", doge, derive.SRM_OPTION)
    c.set_oracles_for_market(doge, "dogeFeed", "dogeFeed", "dogeFeed")
    c.set_option_margin_params(doge, 15 * W // 100, W // 10, 75 * W // 1000, 75 * W // 1000, 75 * W // 1000,
                               14 * W // 10, 12 * W // 10, 105 * W // 100)
    spot = 5 * W // 10_000
    doge_iso = _iso(c, doge, spot, 6 * W // 10_000, E1, -1000 * W)
    assert doge_iso == -5 * W // 100  # ours: 0.1 × 0.0005 × 1,000
    cash = -(_iso(c, 1, ETH, 2000 * W, E1) + doge_iso) + 150 * W + 2000 * W
    book = _alice(c, [(E1, 2000 * W, True, -W)], (), -W, -W) + [
        derive.SRMMarket(spot=spot, legs=(derive.SRMLeg(E1, 6 * W // 10_000, True, -1000 * W),), forwards={E1: (spot, W)},
                         params=c.params[doge])]
    assert c.handle_adjustment([("ethOption", -W), ("dogeOption", -1000 * W), ("ethPerp", -W), ("btcPerp", -W)],
                               {"ethPerp": -W, "btcPerp": -W}, cash, book)
    assert derive.srm_margin(book, cash, initial=True)[0] == 0


# (test, base factor, IM scale, wbtc held, spot confidence, OC params or None, IM, MM, MtM) — upstream assertEq
BASE_CASES = [
    ("testBaseAssetMarginDefaultToZero", 0, 0, 2 * W, W, None, 0, 0, 40_000 * W),
    ("testBaseAssetCanAddMargin", W // 2, W, 2 * W, W, None, BTC, BTC, 40_000 * W),
    # 2 × 20,000 × (1 − 0.3) × 0.1 = 2,800 off the IM only
    ("testBaseAssetMarginWithContingency", W // 2, W, 2 * W, 3 * W // 10, (W // 2, W // 2, W // 2, W // 10),
     BTC - 2800 * W, BTC, 40_000 * W),
    ("testInitialMarginForBase", 0, 0, 100 * W, W, None, 0, 0, 20_000 * 100 * W),
    ("testInitialMarginForBase", W // 2, W, 100 * W, W, None, 10_000 * 100 * W, 10_000 * 100 * W, 20_000 * 100 * W),
    ("testInitialMarginForBase", W, W // 2, 100 * W, W, None, 10_000 * 100 * W, 20_000 * 100 * W, 20_000 * 100 * W),
    ("testInitialMarginForBase", W // 2, 0, 100 * W, W, None, 0, 10_000 * 100 * W, 20_000 * 100 * W),
]


@pytest.mark.parametrize("test, factor, scale, held, conf, oc, im, mm, mtm", BASE_CASES,
                         ids=[f"{_src('TestStandardManager_MutiAsset.t.sol', r[0])}#{i}" for i, r in enumerate(BASE_CASES)])
def test_multi_asset_base_margin(test, factor, scale, held, conf, oc, im, mm, mtm):
    c = _base_manager(perp_im=W // 10)
    if oc:
        c.set_oracle_contingency_params(2, *oc)
    if factor or scale:
        c.set_base_asset_margin_factor(2, factor, scale)
    c.borrowing_enabled = test == "testInitialMarginForBase"  # toggled upstream; margins do not depend on it
    book = [_mkt(c, 2, BTC, base=held, spot_conf=conf)]
    got_im, got_mtm = derive.srm_margin(book, 0, initial=True)
    got_mm, _ = derive.srm_margin(book, 0, initial=False)
    assert (got_im, got_mm, got_mtm) == (im, mm, mtm)


def test_multi_asset_base_mark_to_market_and_bounds():
    c = _base_manager(perp_im=W // 10)
    # testCanTradeBaseAsset: 10 weth marks 15,000; adding 2 wbtc marks 55,000
    assert derive.srm_margin([_mkt(c, 1, ETH, base=10 * W)], 0, initial=True)[1] == 10 * ETH
    assert derive.srm_margin([_mkt(c, 1, ETH, base=10 * W), _mkt(c, 2, BTC, base=2 * W)], 0, initial=True)[1] == 10 * ETH + 2 * BTC
    # testCannotSetInvalidBaseMarginFactor
    _revert("SRM_InvalidBaseDiscountFactor", c.set_base_asset_margin_factor, 2, 101 * W // 100, W)
    _revert("SRM_InvalidBaseDiscountFactor", c.set_base_asset_margin_factor, 2, W, 101 * W // 100)
