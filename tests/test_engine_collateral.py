"""Multi-asset collateral in the engine: haircut valuation in equity, margin calls through collateral,
withdrawal limits, LST exchange rates, the depeg haircut, dynamic haircuts, seizure in bankruptcy,
the correlation add-on, determinism and bad input.

Every number is hand-worked in the comments. The venue settles in USDC (6 decimals); ETH and the LST
have 8 decimals (``10**8`` base units per whole unit), BTC-PERP has IM 10 % / MM 5 %. Every event goes
through :class:`tests.enginekit.Venue`, which checks conservation **per asset** after it.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.enginekit import S, Venue, usdc

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import perpetual
from ramparts.errors import InvalidInput, Rejected, UnknownEntity
from ramparts.journal import open_journal

ETH = 10**8  # base units per whole ETH (8 decimals)


def venue(eth: dict | None = None, accounts=("alice/main", "bob/main", "carol/main"), extra=(), **kw) -> Venue:
    v = Venue(accounts=accounts, **kw)
    v.apply(ev.ListAsset(ts=0, symbol="ETH", decimals=8, collateral={"haircut_ppm": 100_000} if eth is None else eth))
    for e in extra:
        v.apply(e)
    return v


def coll(v: Venue, sub: str) -> int:
    return int(v.e.sub_coll[v.e.sub_index(sub)])


# ---------------------------------------------------------------------------------------------- valuation
@pytest.mark.parametrize(
    ("params", "amount", "price", "expected"),
    [
        # 2 ETH at 3,000 with a 10 % haircut: 6,000 × 0.9 = 5,400
        ({"haircut_ppm": 100_000}, "2", "3000", usdc(5_400)),
        # concentration cap 4,000 USDC of market value, excess counted at a 50 % haircut:
        # 4,000 × 0.9 + 2,000 × 0.5 = 3,600 + 1,000 = 4,600
        ({"haircut_ppm": 100_000, "concentration_cap": usdc(4_000), "excess_haircut_ppm": 500_000}, "2", "3000", usdc(4_600)),
        # square-root liquidity: mv = 6,000 = depth, so +10 % · √1 = 10 %: 6,000 × (1 − 0.2) = 4,800
        ({"haircut_ppm": 100_000, "depth": usdc(6_000), "impact_ppm": 100_000, "impact_cap_ppm": 300_000}, "2", "3000", usdc(4_800)),
        # rounding down: 0.33333333 ETH at 3,000.01 → mv = ⌊33,333,333 · 3,000,010,000 / 10^8⌋ = 1,000,003,323 units;
        # no haircut: 1,000.003323 USDC (the exact 1,000,003,323.33 rounds down)
        ({}, "0.33333333", "3000.01", 1_000_003_323),
        # 10 % of that: ⌊1,000,003,323 · 900,000 / 10^6⌋ = ⌊900,002,990.7⌋ = 900,002,990
        ({"haircut_ppm": 100_000}, "0.33333333", "3000.01", 900_002_990),
    ],
)
def test_haircut_value_counts_in_equity(params, amount, price, expected):
    v = venue(params)
    v.deposit("alice/main", amount, asset="ETH")
    assert v.e.equity(v.e.sub_index("alice/main")) == 0  # no price yet: it counts nothing
    fx = v.asset_price("ETH", price)
    assert fx == []  # no positions: no margin call
    assert coll(v, "alice/main") == expected
    assert v.e.equity(v.e.sub_index("alice/main")) == expected
    assert v.e.risk("alice/main").cash == 0  # the ETH is not cash


def test_deposit_after_the_price_is_valued_at_once_and_the_cache_matches_a_full_rebuild():
    v = venue()
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "1", asset="ETH")  # 3,000 × 0.9 = 2,700
    v.deposit("alice/main", "1", asset="ETH")  # 2 ETH: 5,400
    v.deposit("bob/main", "0.5", asset="ETH")  # 1,350
    assert (coll(v, "alice/main"), coll(v, "bob/main")) == (usdc(5_400), usdc(1_350))
    again = Engine.restore(v.e.snapshot())
    assert again.sub_coll[: len(again.subs)].tolist() == v.e.sub_coll[: len(v.e.subs)].tolist()


def test_a_price_drop_margin_calls_through_collateral_alone_and_the_waterfall_acts():
    v = venue()
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "2", asset="ETH")  # 5,400 of collateral, no USDC at all
    v.deposit("bob/main", 100_000)
    v.price(30_000)
    v.fill("alice/main", "bob/main", 30_000, "1")  # IM 3,000 ≤ 5,400; MM 1,500
    assert v.e.risk("alice/main").equity == usdc(5_400)
    assert v.asset_price("ETH", "850") == []  # 2 × 850 × 0.9 = 1,530 ≥ 1,500: no call
    fx = v.asset_price("ETH", "800")  # 2 × 800 × 0.9 = 1,440 < 1,500: called, BTC never moved
    assert fx == [{"kind": "MarginCall", "subaccount": "alice/main", "equity": usdc(1_440), "maintenance": usdc(1_500)}]
    steps = [f for f in v.tick() if f["kind"] == "LiquidationStep"]
    assert steps and steps[0]["subaccount"] == "alice/main" and steps[0]["lots"] < 0


# ---------------------------------------------------------------------------------------------- withdrawals
def test_collateral_withdrawal_only_while_free_collateral_stays_non_negative():
    v = venue()
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "2", asset="ETH")  # 5,400
    v.deposit("bob/main", 100_000)
    v.price(30_000)
    v.fill("alice/main", "bob/main", 30_000, "1")  # IM 3,000: free 2,400
    before = v.e.state_hash()
    with pytest.raises(Rejected, match="free_collateral"):
        v.withdraw("alice/main", "1", asset="ETH")  # 1 ETH left: 2,700 < 3,000
    assert v.e.state_hash() == before
    v.withdraw("alice/main", "0.8", asset="ETH")  # 1.2 ETH left: 3,240 ≥ 3,000
    assert coll(v, "alice/main") == usdc(3_240)
    with pytest.raises(Rejected, match="free_collateral"):
        v.withdraw("alice/main", "0.1", asset="ETH")  # 1.1 ETH: 2,970 < 3,000
    # free collateral is 240 but alice has no USDC: withdrawing it would borrow against the ETH
    with pytest.raises(Rejected, match="borrowing"):
        v.withdraw("alice/main", 100)
    with pytest.raises(Rejected, match="insufficient_balance"):
        v.withdraw("alice/main", "1.3", asset="ETH")  # more than the balance
    assert v.bal("alice/main", "ETH") == 120_000_000
    v.fill("bob/main", "alice/main", 30_000, "1")  # flat again: everything may go
    v.withdraw("alice/main", "1.2", asset="ETH")
    assert v.bal("alice/main", "ETH") == 0 and coll(v, "alice/main") == 0
    assert v.flows["ETH"] == 0


def test_a_non_collateral_asset_counts_nothing_and_withdraws_freely():
    v = venue()
    v.apply(ev.ListAsset(ts=0, symbol="DOGE", decimals=8))
    v.deposit("alice/main", "1000", asset="DOGE")
    assert coll(v, "alice/main") == 0
    with pytest.raises(Rejected, match="not_collateral"):
        v.asset_price("DOGE", "0.1")
    v.withdraw("alice/main", "1000", asset="DOGE")


# ---------------------------------------------------------------------------------------------- LST and depeg
LST = {"haircut_ppm": 100_000, "peg": {"base": "ETH", "protocol_addon_ppm": 20_000, "depeg_threshold_ppm": 990_000, "depeg_factor_ppm": 2_000_000}}


def test_lst_exchange_rate_change_revalues_its_holders():
    v = venue(extra=[ev.ListAsset(ts=0, symbol="WSTETH", decimals=8, collateral=LST)])
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "1", asset="WSTETH")
    v.asset_price("WSTETH", "3510")
    assert coll(v, "alice/main") == 0  # an LST needs its exchange rate
    v.rate("WSTETH", "1.17")
    # fundamental 1.17 × 3,000 = 3,510 = market: ratio 1, no depeg; haircut 10 % + 2 % protocol:
    # 3,510 × 0.88 = 3,088.8
    assert coll(v, "alice/main") == 3_088_800_000
    v.rate("WSTETH", "1.18")
    # fundamental 3,540; ratio ⌊3,510 / 3,540 · 10^6⌋ = 991,525 ≥ 990,000: no depeg; 3,540 × 0.88 = 3,115.2
    assert coll(v, "alice/main") == 3_115_200_000
    v.asset_price("WSTETH", "3363")
    # ratio 3,363 / 3,540 = 0.95 exactly: depeg ⌈2 · (0.99 − 0.95)⌉ = 8 %; 3,540 × (1 − 0.2) = 2,832
    assert coll(v, "alice/main") == usdc(2_832)
    v.asset_price("ETH", "3100")  # the base moves: the LST's holders are re-valued too
    # fundamental 1.18 × 3,100 = 3,658; ratio ⌊3,363 / 3,658 · 10^6⌋ = 919,354; depeg 2 · 70,646 = 141,292 ppm;
    # haircut 100,000 + 20,000 + 141,292 = 261,292 ppm: ⌊3,658 · 738,708⌋ units = 2,702,193.864 → 2,702.193864 USDC
    assert coll(v, "alice/main") == 2_702_193_864


def test_depeg_haircut_of_a_stablecoin_pegged_to_the_settlement_asset():
    dai = {"haircut_ppm": 20_000, "peg": {"base": None, "depeg_threshold_ppm": 980_000, "depeg_factor_ppm": 1_200_000}}
    v = venue(extra=[ev.ListAsset(ts=0, symbol="DAI", decimals=6, collateral=dai)])
    v.deposit("alice/main", "1000", asset="DAI")
    rows = [
        # market, value of 1,000 DAI (valued at the peg, 1 USDC, less the haircuts)
        ("1", usdc(980)),  # 2 %
        ("0.99", usdc(980)),  # ratio 0.99 ≥ 0.98: still 2 %
        ("0.95", usdc(944)),  # depeg ⌈1.2 · (0.98 − 0.95)⌉ = 3.6 %: 1,000 × (1 − 0.056) = 944
        ("0.8774", usdc("856.88")),  # USDC's March 2023 low: 1.2 · 0.1026 = 12.312 %: 1,000 × 0.85688
    ]
    for market, value in rows:
        v.asset_price("DAI", market)
        assert coll(v, "alice/main") == value, market


# ---------------------------------------------------------------------------------------------- dynamic haircuts
DYN = {"haircut_ppm": 0, "dynamic": {"base_ppm": 20_000, "k_ppm": 2_326_000, "horizon_s": 86_400, "max_up_ppm": 10_000,
                                     "max_down_ppm": 2_000, "cap_ppm": 500_000}, "haircut_update_ns": 3600 * S, "vol_window": 10}


def test_dynamic_haircut_steps_are_bounded_and_follow_the_cadence():
    v = venue(DYN)
    v.deposit("alice/main", "1", asset="ETH")
    t0 = 3600 * S
    fx = v.asset_price("ETH", "3000", ts=t0)
    # first update: one sample, σ = 0: the target is the base 2 %
    assert fx == [{"kind": "HaircutUpdated", "asset": "ETH", "sigma_ppm": 0, "target_ppm": 20_000, "from_ppm": None, "to_ppm": 20_000}]
    assert coll(v, "alice/main") == usdc(2_940)  # 3,000 × 0.98
    assert v.asset_price("ETH", "3300", ts=t0 + 600 * S) == []  # 10 minutes later: not due
    fx = v.asset_price("ETH", "3300", ts=t0 + 3600 * S)  # two samples: σ still 0
    assert fx[0]["to_ppm"] == 20_000
    ups = []
    for k, p in enumerate(["3000", "3300", "3000", "3300"], start=2):
        fx = v.asset_price("ETH", p, ts=t0 + k * 3600 * S)
        h = fx[0]
        # hourly ±10 % swings: σ ≈ 10 %·√8760 ≈ 900 %/yr, a target far above; each step rises at most 1 %
        assert h["target_ppm"] > 300_000 and h["to_ppm"] == h["from_ppm"] + 10_000
        ups.append(h["to_ppm"])
    assert ups == [30_000, 40_000, 50_000, 60_000]
    assert coll(v, "alice/main") == usdc(3_102)  # 3,300 × (1 − 6 %) = 3,102
    # calm: the price stands still; Ticks on the cadence step the haircut down by at most 0.2 % each
    downs = []
    for k in range(6, 20):
        fx = v.tick(ts=t0 + k * 3600 * S)
        h = next(f for f in fx if f["kind"] == "HaircutUpdated")
        assert h["from_ppm"] - 2_000 <= h["to_ppm"] <= h["from_ppm"] + 10_000
        downs.append(h["to_ppm"])
    # the 10-sample window still holds the swings for 8 updates (σ high: +1 % each, to 14 %); once all ten
    # samples are 3,300, σ = 0 and the target is the base 2 %: the haircut falls 0.2 % per hour, not at once
    assert downs == [70_000 + 10_000 * i for i in range(8)] + [138_000 - 2_000 * i for i in range(6)]
    assert coll(v, "alice/main") == 3_300 * (10**6 - downs[-1])


# ---------------------------------------------------------------------------------------------- bankruptcy
def test_bankruptcy_seizes_collateral_to_the_vault_before_the_insurance_fund_and_conserves_each_asset():
    v = venue()
    v.apply(ev.FundInsurance(ts=0, amount="10000"))
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "2", asset="ETH")  # 5,400 of collateral
    v.deposit("bob/main", 100_000)
    v.price(30_000)
    v.fill("alice/main", "bob/main", 30_000, "1")
    v.price(24_000)  # PnL −6,000: equity −6,000 + 5,400 = −600
    assert v.e.risk("alice/main").equity == usdc(-600)
    fx = v.tick()
    kinds = [f["kind"] for f in fx]
    assert kinds.index("CollateralSeized") < kinds.index("InsuranceFundDraw")
    seized = next(f for f in fx if f["kind"] == "CollateralSeized")
    # the vault takes the 2 ETH and pays their haircut value, 2 × 3,000 × 0.9 = 5,400 USDC
    assert seized == {"kind": "CollateralSeized", "subaccount": "alice/main", "asset": "ETH", "units": 2 * ETH, "value": usdc(5_400),
                      "to": "backstop/vault"}
    draw = next(f for f in fx if f["kind"] == "InsuranceFundDraw")
    assert draw["amount"] == usdc(600)  # only the deficit beyond the collateral
    vault = v.e.backstop
    assert v.bal("alice/main", "ETH") == 0 and v.bal("alice/main") == 0 and coll(v, "alice/main") == 0
    assert v.bal(vault, "ETH") == 2 * ETH and coll(v, "backstop/vault") == usdc(5_400)
    assert v.bal("insurance:global") == usdc(9_400)
    # per asset: ETH is all with the vault (deposited 2, withdrawn 0); USDC: checked by the Venue after every event
    assert v.e.ledger.totals("ETH") == {**dict.fromkeys(v.e.ledger.totals("ETH"), 0), "external": -2 * ETH, "balances": 2 * ETH}


def test_a_bankrupt_account_without_positions_is_settled_from_its_collateral():
    v = venue()
    v.apply(ev.FundInsurance(ts=0, amount="10000"))
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "2", asset="ETH")
    v.deposit("bob/main", 100_000)
    v.price(30_000)
    v.fill("alice/main", "bob/main", 30_000, "1")
    v.price(28_000)  # −2,000: equity 3,400 ≥ MM 1,400
    v.fill("bob/main", "alice/main", 28_000, "1")  # closes: cash −2,000 against 5,400 of ETH
    assert v.bal("alice/main") == usdc(-2_000)
    v.asset_price("ETH", "1000")  # 2 × 1,000 × 0.9 = 1,800: equity −200
    fx = v.tick()
    seized = next(f for f in fx if f["kind"] == "CollateralSeized")
    assert seized["value"] == usdc(1_800)
    assert next(f for f in fx if f["kind"] == "InsuranceFundDraw")["amount"] == usdc(200)
    assert v.bal("alice/main") == 0 and v.bal("alice/main", "ETH") == 0 and not v.e.insolvent


# ---------------------------------------------------------------------------------------------- correlation add-on
CORR = {"assets": ["BTC", "ETH"], "ppm": [[1_000_000, 800_000], [800_000, 1_000_000]]}


def corr_venue() -> Venue:
    v = venue(accounts=("alice/main", "bob/main", "carol/main", "dave/main"), extra=[perpetual("ETH-PERP", "ETH")])
    v.apply(ev.ParameterChange(ts=0, target="correlation", key="matrix", value=CORR))
    v.apply(ev.ParameterChange(ts=0, target="correlation", key="stress_ppm", value=500_000))
    for a in ("carol/main", "bob/main", "dave/main"):
        v.deposit(a, 100_000)
    v.price(30_000)
    v.price(2_000, instrument="ETH-PERP")
    return v


def test_correlation_addon_for_a_btc_long_eth_short_and_none_for_one_underlying():
    v = corr_venue()
    v.fill("carol/main", "bob/main", 30_000, "1")  # carol long 1 BTC: IM 3,000, MM 1,500
    v.fill("dave/main", "bob/main", 30_000, "1")  # dave long 1 BTC only
    assert v.e.correlation_addon("carol/main") == (0, 0) and v.e.correlation_addon("dave/main") == (0, 0)
    v.fill("bob/main", "carol/main", 2_000, "10", instrument="ETH-PERP")  # carol short 10 ETH: IM 2,000, MM 1,000
    # MM r = (1,500, 1,000): rᵀCr = 2.25 + 1 + 2 · 0.8 · 1.5 = 5.65 (× 10^18 units²); stressed half way to 1:
    # 2.25 + 1 + 2 · 0.9 · 1.5 = 5.95; add-on ⌈√5.95e18 − √5.65e18⌉ = ⌈62,289,318.73⌉ = 62,289,319 units
    # IM r = (3,000, 2,000) is twice that: ⌈124,578,637.46⌉ = 124,578,638
    assert v.e.correlation_addon("carol/main") == (124_578_638, 62_289_319)
    r = v.e.risk("carol/main")
    assert (r.initial_margin, r.maintenance_margin) == (usdc(5_000) + 124_578_638, usdc(2_500) + 62_289_319)
    assert v.e.correlation_addon("dave/main") == (0, 0)  # a single underlying: nothing to stress
    # bob is short 2 BTC and long 10 ETH: two underlyings, so he pays one too
    assert v.e.correlation_addon("bob/main")[1] > 0
    # no stress: no add-on; the requirements fall back to the sum of the positions
    v.apply(ev.ParameterChange(ts=v.now(), target="correlation", key="stress_ppm", value=0))
    assert v.e.correlation_addon("carol/main") == (0, 0) and v.e.risk("carol/main").maintenance_margin == usdc(2_500)
    v.apply(ev.ParameterChange(ts=v.now(), target="correlation", key="stress_ppm", value=500_000))
    v.fill("carol/main", "bob/main", 2_000, "10", instrument="ETH-PERP")  # flat in ETH: one underlying again
    assert v.e.correlation_addon("carol/main") == (0, 0) and v.e.risk("carol/main").maintenance_margin == usdc(1_500)
    v.apply(ev.ParameterChange(ts=v.now(), target="correlation", key="matrix", value=None))
    assert v.e.correlation_addon("bob/main") == (0, 0)


def test_the_initial_margin_check_includes_the_correlation_addon():
    v = corr_venue()
    v.deposit("alice/main", "5100")
    v.fill("alice/main", "bob/main", 30_000, "1")  # IM 3,000
    # shorting 10 ETH adds IM 2,000: 5,000 ≤ 5,100, but with the add-on 5,124.58 > 5,100
    before = v.e.state_hash()
    with pytest.raises(Rejected, match="initial_margin"):
        v.fill("bob/main", "alice/main", 2_000, "10", instrument="ETH-PERP")
    assert v.e.state_hash() == before
    v.fill("bob/main", "alice/main", 2_000, "9", instrument="ETH-PERP")  # IM 1,800 + add-on < 100


def test_a_price_move_refreshes_the_addon_vectorised_over_many_holders():
    v = corr_venue()
    subs = [f"t{i}/main" for i in range(40)]  # more than the per-sub path handles: the vectorised path
    for s in subs:
        v.apply(ev.OpenSubAccount(ts=v.t, subaccount=s))
        v.deposit(s, 20_000)
        v.fill(s, "bob/main", 30_000, "0.1")
        v.fill("bob/main", s, 2_000, "1", instrument="ETH-PERP")
    v.price(33_000)  # BTC requirement × 1.1: every holder's add-on recomputed in one pass
    fresh = Engine.restore(v.e.snapshot())  # rebuilt from scratch, per sub-account
    n = len(v.e.subs)
    assert v.e.sub_corr_mm[:n].tolist() == fresh.sub_corr_mm[:n].tolist()
    assert v.e.sub_mm[:n].tolist() == fresh.sub_mm[:n].tolist() and v.e.sub_im[:n].tolist() == fresh.sub_im[:n].tolist()
    assert all(v.e.correlation_addon(s)[1] > 0 for s in subs)
    for s in subs + ["bob/main", "carol/main"]:  # the vectorised pass agrees with the per-sub-account one
        k = v.e.sub_index(s)
        im, mm = v.e._corr_addons(*v.e._corr_requirements(np.array([k], dtype=np.int64)))
        assert (int(im[0]), int(mm[0])) == v.e.correlation_addon(k), s


# ---------------------------------------------------------------------------------------------- determinism
class NodeVenue(Venue):
    def __init__(self, node: Node, **kw):
        self.node = node
        super().__init__(**kw)

    def apply(self, event):
        fx = self.node.submit(event)
        self.e = self.node.engine
        return fx


def scenario(v: Venue) -> Venue:
    for e in (ev.ListAsset(ts=0, symbol="ETH", decimals=8, collateral=DYN | {"haircut_ppm": 50_000}),
              ev.ListAsset(ts=0, symbol="WSTETH", decimals=8, collateral=LST), perpetual("ETH-PERP", "ETH"),
              ev.ParameterChange(ts=0, target="correlation", key="matrix", value=CORR),
              ev.ParameterChange(ts=0, target="correlation", key="stress_ppm", value=300_000),
              ev.FundInsurance(ts=0, amount="1000")):
        v.apply(e)
    v.asset_price("ETH", "3000")
    v.rate("WSTETH", "1.17")
    v.asset_price("WSTETH", "3500")
    v.deposit("alice/main", "2", asset="ETH")
    v.deposit("alice/main", "1", asset="WSTETH")
    v.deposit("bob/main", 200_000)
    v.price(30_000)
    v.price(3_000, instrument="ETH-PERP")
    v.fill("alice/main", "bob/main", 30_000, "2")  # IM 6,000 + 300 + add-on against ~8,800 of collateral
    v.fill("bob/main", "alice/main", 3_000, "1", instrument="ETH-PERP")
    for k, p in enumerate([2900, 2600, 2200, 1900, 1500]):
        v.asset_price("ETH", p, ts=(k + 2) * 3600 * S)
        v.asset_price("WSTETH", p * 11 // 10, ts=(k + 2) * 3600 * S + S)
        v.price(30_000 - 1_000 * k, ts=(k + 2) * 3600 * S + 2 * S)
        v.tick(ts=(k + 2) * 3600 * S + 3 * S)
    return v


def test_collateral_is_journaled_replayed_and_snapshotted_byte_for_byte(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
    node = Node(open_journal(url))
    journaled = scenario(NodeVenue(node, accounts=("alice/main", "bob/main")))
    h = journaled.e.state_hash()
    node.close()
    with open_journal(url) as j:
        again = replay(j)
    assert again.state_hash() == h
    plain = scenario(Venue(accounts=("alice/main", "bob/main")))  # same events, conservation checked per asset
    assert plain.e.state_hash() == h
    kinds = {f["kind"] for f in plain.effects}
    assert {"HaircutUpdated", "MarginCall", "LiquidationStep", "CollateralSeized"} <= kinds, kinds
    restored = Engine.restore(plain.e.snapshot())
    assert restored.state_hash() == h
    n = len(plain.e.subs)
    for name in ("sub_coll", "sub_im", "sub_mm", "sub_corr_im", "sub_corr_mm"):
        assert getattr(restored, name)[:n].tolist() == getattr(plain.e, name)[:n].tolist(), name
    assert "collateral" in plain.e.state_dict()


def test_a_venue_without_collateral_keeps_its_state_encoding():
    v = Venue()
    v.deposit("alice/main", 1_000)
    assert "collateral" not in v.e.state_dict()
    assert v.e.sub_coll[: len(v.e.subs)].tolist() == [0, 0, 0]


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        ({"kind": "AssetPrice", "ts": 10**12, "asset": "BTC", "price": "1"}, UnknownEntity, "unknown asset 'BTC'"),
        ({"kind": "AssetPrice", "ts": 10**12, "asset": "ETH", "price": "NaN"}, InvalidInput, "price"),
        ({"kind": "AssetPrice", "ts": 10**12, "asset": "ETH", "price": "0"}, InvalidInput, "must be positive"),
        ({"kind": "AssetPrice", "ts": 10**12, "asset": "ETH", "price": "-5"}, InvalidInput, "must be positive"),
        ({"kind": "AssetPrice", "ts": 10**12, "asset": "ETH", "price": "3000.0000001"}, InvalidInput, "more than 6 decimals"),
        ({"kind": "AssetPrice", "ts": 10**12, "asset": "USDC", "price": "1"}, InvalidInput, "settlement asset"),
        ({"kind": "ExchangeRate", "ts": 10**12, "asset": "WSTETH", "rate": "-1.1"}, InvalidInput, "must be positive"),
        ({"kind": "ExchangeRate", "ts": 10**12, "asset": "WSTETH", "rate": "Infinity"}, InvalidInput, "rate"),
        ({"kind": "ExchangeRate", "ts": 10**12, "asset": "ETH", "rate": "1.1"}, Rejected, "not_pegged"),
        ({"kind": "ListAsset", "ts": 10**12, "symbol": "SOL", "decimals": 9, "collateral": {"haircut_ppm": 2_000_000}}, InvalidInput,
         "collateral.haircut_ppm"),
        ({"kind": "ListAsset", "ts": 10**12, "symbol": "SOL", "decimals": 9, "collateral": {"haircut": 0.1}}, InvalidInput, "unknown keys"),
        ({"kind": "ListAsset", "ts": 10**12, "symbol": "X", "decimals": 8, "collateral": {"peg": {"base": "BTC"}}}, InvalidInput,
         "not a listed collateral asset"),
        ({"kind": "ListAsset", "ts": 10**12, "symbol": "X", "decimals": 8, "collateral": {"peg": {"base": "WSTETH"}}}, InvalidInput,
         "unpegged"),
        ({"kind": "ListAsset", "ts": 10**12, "symbol": "X", "decimals": 8, "collateral": {"dynamic": {"base_ppm": 1, "k_ppm": 1,
                                                                                                       "horizon_s": 1}}},
         InvalidInput, "cadence"),
        ({"kind": "ParameterChange", "ts": 10**12, "target": "correlation", "key": "matrix",
          "value": {"assets": ["BTC", "ETH"], "ppm": [[1_000_000, 900_000], [800_000, 1_000_000]]}}, InvalidInput, "not symmetric"),
        ({"kind": "ParameterChange", "ts": 10**12, "target": "correlation", "key": "stress_ppm", "value": -1}, InvalidInput, "stress_ppm"),
        ({"kind": "ParameterChange", "ts": 10**12, "target": "asset:USDC", "key": "collateral", "value": {}}, InvalidInput, "settlement"),
        ({"kind": "Withdraw", "ts": 10**12, "subaccount": "alice/main", "asset": "ETH", "amount": "5"}, Rejected, "insufficient_balance"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_changes_nothing(event, error, match):
    v = venue(extra=[ev.ListAsset(ts=0, symbol="WSTETH", decimals=8, collateral=LST)])
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "1", asset="ETH")
    before, snap = v.e.state_hash(), v.e.sub_coll.copy()
    with pytest.raises(error, match=match):
        v.e.apply(event)
    assert v.e.state_hash() == before and (v.e.sub_coll == snap).all()


def test_changing_an_assets_haircut_revalues_its_holders():
    v = venue()
    v.asset_price("ETH", "3000")
    v.deposit("alice/main", "2", asset="ETH")
    v.apply(ev.ParameterChange(ts=v.now(), target="asset:ETH", key="collateral", value={"haircut_ppm": 250_000}))
    assert coll(v, "alice/main") == usdc(4_500)  # 6,000 × 0.75
    v.apply(ev.ListAsset(ts=v.t, symbol="DOGE", decimals=8))
    with pytest.raises(Rejected, match="not_collateral"):
        v.apply(ev.ParameterChange(ts=v.t, target="asset:DOGE", key="collateral", value={}))


# ---------------------------------------------------------------------------------------------- lab: the depeg through the engine
def test_usdc_depeg_through_the_journaled_engine_shows_the_depeg_haircut_acting():
    from ramparts.lab.depeg import DepegSpec, run_engine_depeg_compare

    runs = run_engine_depeg_compare(DepegSpec(accounts=80, seed=3))
    s = {k: r["summary"] for k, r in runs.items()}
    for k in s:
        assert s[k]["value_conserved_per_asset"] and s[k]["replay_matches"], k
    # lowest market 0.8774 → ⌊0.87739998… · 10^6⌋ = 877,399 units:
    # trusting the peg: 1 × 0.98 = 0.98; static: ⌊0.877399 · 0.98⌋ = 0.859851;
    # defended, valued at the peg (1) less 2 % and the depeg haircut ⌈1.2 · (0.98 − 0.877399)⌉ = 12.3122 %: 0.856878
    assert [s[k]["lowest_value_per_usdc"] for k in ("at_peg", "static", "defended")] == [0.98, 0.859851, 0.856878]
    # one haircut update per 6-hour observation; the first came with the opening price, one second before the path
    assert s["defended"]["haircut_updates"] == len(runs["defended"]["series"]) - 1 and s["static"]["haircut_updates"] == 0
    # trusting the peg hides the loss: fewer accounts are found bankrupt than at the market
    assert s["at_peg"]["bankrupt"] < s["static"]["bankrupt"]
    assert s["defended"]["liquidated"] > 0 and s["defended"]["seized_value"] > 0
