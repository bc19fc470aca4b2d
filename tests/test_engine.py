"""Hand-worked scenarios through the engine: margin, liquidation steps, insurance, ADL, socialised loss.

BTC-PERP: 1 lot = 0.001 BTC, tick 0.1 → a lot price is price × 1000 USDC base units
(50,000 USDC/BTC = 50,000,000 per lot). Flat schedule IM 10 %, MM 5 % unless stated.
Default waterfall: buffer 10 %, 20 % per step, min step 10,000 USDC, cool-down 30 s,
full close ≤ 100,000 USDC, penalty 1 % split 50/50.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from enginekit import S, Venue, usdc
from ramparts.engine import events as ev
from ramparts.engine.presets import perpetual
from ramparts.errors import InvalidInput, Rejected


def opened(v: Venue, alice_deposit=1000, bob_deposit=10_000, size="0.1", price=50_000):
    v.deposit("alice/main", alice_deposit)
    v.deposit("bob/main", bob_deposit)
    v.price(price)
    v.fill("alice/main", "bob/main", price, size)
    return v


def test_margin_after_fill():
    v = opened(Venue())
    r = v.e.risk("alice/main")
    # notional 0.1 × 50,000 = 5,000 USDC
    assert (r.equity, r.initial_margin, r.maintenance_margin) == (usdc(1000), usdc(500), usdc(250))
    assert v.e.position("alice/main", "BTC-PERP") == (100, usdc(5000), usdc(5000))
    assert v.e.position("bob/main", "BTC-PERP") == (-100, -usdc(5000), -usdc(5000))
    v.price(51_000)
    assert v.e.risk("alice/main").equity == usdc(1100)
    assert v.e.risk("bob/main").equity == usdc(9900)
    assert v.e.risk("alice/main").maintenance_margin == usdc(255)


def test_liquidation_price_of_a_single_position():
    v = opened(Venue())
    # 1,000 + 0.1·P − 5,000 = 0.05 × 0.1·P → P = 4,000 / 0.095 = 42,105.263… → the last safe
    # lot price is rounded up to 42,105,264 units per 0.001 BTC
    assert v.e.liquidation_price("alice/main") == Decimal("42105.264")
    # short: 10,000 − 0.1·P + 5,000 = 0.005·P → P = 15,000 / 0.105 = 142,857.14… (rounded down)
    assert v.e.liquidation_price("bob/main") == Decimal("142857.142")
    v.price("42105.264")
    assert not v.e.risk("alice/main").equity < v.e.risk("alice/main").maintenance_margin
    v.price("42105.263")
    assert v.e.risk("alice/main").equity < v.e.risk("alice/main").maintenance_margin


def test_fill_breaking_initial_margin_is_rejected_and_changes_nothing():
    v = Venue()
    v.deposit("alice/main", 1000)
    v.deposit("bob/main", 100_000)
    v.price(50_000)
    before = v.e.state_hash()
    # 0.201 BTC = 10,050 USDC notional needs 1,005 USDC initial margin
    with pytest.raises(Rejected) as err:
        v.fill("alice/main", "bob/main", 50_000, "0.201")
    assert err.value.reason == "initial_margin"
    assert v.e.state_hash() == before
    v.fill("alice/main", "bob/main", 50_000, "0.2")  # exactly at initial margin: accepted


def test_reducing_fill_is_allowed_below_initial_margin():
    v = opened(Venue())
    v.price(44_000)  # alice equity 400 < IM 440, above MM 220
    v.fill("bob/main", "alice/main", 44_000, "0.05")
    assert v.e.position("alice/main", "BTC-PERP")[0] == 50


def test_full_close_with_penalty_split():
    v = opened(Venue())
    fx = v.price(42_000)
    # equity 1,000 + 4,200 − 5,000 = 200 < MM 210
    assert fx == [{"kind": "MarginCall", "subaccount": "alice/main", "equity": usdc(200), "maintenance": usdc(210)}]
    fx = v.tick()
    step = [f for f in fx if f["kind"] == "LiquidationStep"][0]
    assert step["lots"] == -100 and step["notional"] == usdc(4200)
    assert (step["penalty"], step["to_liquidator"], step["to_insurance"]) == (usdc(42), usdc(21), usdc(21))
    # bankruptcy price: 1,000 + 0.1·P − 5,000 = 0 → P = 40,000
    assert step["bankruptcy_price"] == "40000.00000000"
    assert fx[-1]["kind"] == "LiquidationEnded"
    assert v.bal("alice/main") == usdc(158)
    assert v.bal("liquidator:keeper") == usdc(21)
    assert v.bal("insurance:global") == usdc(21)
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100
    assert v.e.position("alice/main", "BTC-PERP") == (0, 0, 0)


def test_penalty_never_exceeds_remaining_equity():
    v = opened(Venue(), size="0.1")
    v.price("40010")  # equity 1 USDC, penalty would be 40.01
    fx = v.tick()
    step = [f for f in fx if f["kind"] == "LiquidationStep"][0]
    assert step["penalty"] == usdc(1)
    assert v.bal("alice/main") == 0


def test_partial_steps_back_to_the_buffer():
    v = Venue()
    v.deposit("alice/main", 60_000)
    v.deposit("bob/main", 1_000_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "10")  # 500,000 USDC notional, above the full-close threshold
    v.price(46_000)  # equity 20,000 < MM 23,000
    t0 = v.t
    fx = v.tick(ts=t0 + S)
    step = [f for f in fx if f["kind"] == "LiquidationStep"][0]
    # restoring the buffer needs 2,561 lots > 20 % cap → 2,000 lots
    assert step["lots"] == -2000
    assert step["penalty"] == usdc("920")
    assert v.e.risk("alice/main").equity == usdc(19_080)
    assert v.e.risk("alice/main").in_liquidation
    assert not [f for f in v.tick(ts=t0 + 10 * S) if f["kind"] == "LiquidationStep"]  # cool-down
    fx = v.tick(ts=t0 + 31 * S)
    step = [f for f in fx if f["kind"] == "LiquidationStep"][0]
    # 19,080 − 0.46·q ≥ 1.1 × 0.05 × 46 × (8,000 − q) → q = 561 lots (560 falls short)
    assert step["lots"] == -561
    assert step["penalty"] == usdc("258.06")
    assert fx[-1]["kind"] == "LiquidationEnded"
    r = v.e.risk("alice/main")
    assert r.equity >= r.maintenance_margin * 11 // 10
    assert not r.in_liquidation


def test_insurance_fund_covers_a_bankrupt_account():
    v = opened(Venue())
    v.apply(ev.FundInsurance(ts=v.now(), amount="1000"))
    v.price(38_000)  # equity −200
    assert v.e.insolvent == {v.e.sub_index("alice/main")}
    with pytest.raises(Rejected) as err:
        v.withdraw("bob/main", 1)
    assert err.value.reason == "withdrawals_gated"
    fx = v.tick()
    draws = [f for f in fx if f["kind"] == "InsuranceFundDraw"]
    assert [(d["fund"], d["amount"]) for d in draws] == [("insurance:global", usdc(200))]
    assert v.bal("alice/main") == 0
    assert v.bal("insurance:global") == usdc(800)
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100
    assert not v.e.insolvent
    v.withdraw("bob/main", 1)  # the gate is lifted


def test_adl_at_the_bankruptcy_price_when_the_fund_is_empty():
    v = opened(Venue())
    v.price(38_000)
    fx = v.tick()
    dl = [f for f in fx if f["kind"] == "Deleverage"]
    assert len(dl) == 1
    assert dl[0]["counterparty"] == "bob/main" and dl[0]["lots"] == 100
    assert dl[0]["quote"] == usdc(4000) and dl[0]["bankruptcy_price"] == "40000.00000000"
    # bob before the ADL: short 0.1 BTC from 50,000 at a mark of 38,000 (+1,200 unrealised) on a 10,000 deposit
    assert (dl[0]["counterparty_pnl"], dl[0]["counterparty_notional"], dl[0]["counterparty_equity"]) == (usdc(1200), usdc(3800), usdc(11_200))
    assert v.bal("alice/main") == 0
    # bob sold at 50,000 and bought back at the bankruptcy price 40,000: +1,000
    assert v.e.risk("bob/main").equity == usdc(11_000)
    assert v.e.position("bob/main", "BTC-PERP") == (0, 0, 0)
    assert v.e.open_interest("BTC-PERP") == 0


def test_adl_ranks_by_profit_times_leverage():
    v = Venue(accounts=("alice/main", "bob/main", "carol/main", "dave/main"))
    for a, amt in (("alice/main", 1000), ("bob/main", 10_000), ("carol/main", 1_000), ("dave/main", 10_000)):
        v.deposit(a, amt)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.1")
    v.fill("dave/main", "carol/main", 50_000, "0.05")  # carol short 0.05 with 1,000: higher leverage
    v.price(38_000)
    fx = v.tick()
    dl = [f for f in fx if f["kind"] == "Deleverage"]
    # carol: profit 24 %, leverage 1,900 / 1,600; bob: profit 24 %, leverage 3,800 / 11,200 → carol first
    assert [d["counterparty"] for d in dl] == ["carol/main", "bob/main"]
    assert [d["lots"] for d in dl] == [50, 50]
    assert sum(d["quote"] for d in dl) == usdc(4000)


def test_socialised_loss_alternative():
    v = opened(Venue(liquidation={"last_resort": "socialised"}))
    v.price(38_000)
    fx = v.tick()
    soc = [f for f in fx if f["kind"] == "SocialisedLoss"]
    assert soc and soc[0]["loss"] == usdc(200) and soc[0]["charged"] == usdc(200) and soc[0]["unrecovered"] == 0
    assert v.bal("alice/main") == 0
    assert v.bal("socialised_loss") == 0
    assert v.e.risk("bob/main").equity == usdc(11_000)
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == 100


def test_socialised_loss_records_unrecoverable_bad_debt():
    # carol's short is liquidated into the backstop vault; when the price then crashes, the only
    # winner is the vault, which is never charged: the loss stays as recorded bad debt.
    v = Venue(liquidation={"last_resort": "socialised"}, accounts=("alice/main", "carol/main"))
    v.deposit("alice/main", 1000)
    v.deposit("carol/main", 600)
    v.price(50_000)
    v.fill("alice/main", "carol/main", 50_000, "0.1")
    v.price(55_000)  # carol equity 100 < MM 275
    v.tick()
    assert v.e.position("backstop/vault", "BTC-PERP")[0] == -100
    v.price(38_000)  # alice equity −200
    fx = v.tick()
    # carol's penalty left 27.5 USDC in the fund, which pays first; the other 172.5 finds no payer
    draws = [f["amount"] for f in fx if f["kind"] == "InsuranceFundDraw"]
    assert draws == [usdc("27.5")]
    soc = [f for f in fx if f["kind"] == "SocialisedLoss"][0]
    assert (soc["loss"], soc["charged"], soc["unrecovered"], soc["payers"]) == (usdc("172.5"), 0, usdc("172.5"), 0)
    assert v.bal("socialised_loss") == -usdc("172.5")
    assert v.bal("alice/main") == 0


def test_market_insurance_fund_pays_before_the_global_fund():
    v = Venue(perp={"insurance_fund": "market"})
    v.apply(ev.FundInsurance(ts=v.now(), fund="BTC-PERP", amount="150"))
    v.apply(ev.FundInsurance(ts=v.now(), fund="global", amount="1000"))
    opened(v)
    v.price(38_000)
    fx = v.tick()
    draws = [(f["fund"], f["amount"]) for f in fx if f["kind"] == "InsuranceFundDraw"]
    assert draws == [("insurance:BTC-PERP", usdc(150)), ("insurance:global", usdc(50))]


def test_insurance_cap_per_tick_sends_the_rest_to_adl():
    v = opened(Venue(liquidation={"insurance_cap_per_tick": usdc(100)}))
    v.apply(ev.FundInsurance(ts=v.now(), amount="1000"))
    v.price(38_000)
    fx = v.tick()
    assert not [f for f in fx if f["kind"] == "InsuranceFundDraw"]
    assert [f for f in fx if f["kind"] == "Deleverage"]
    assert v.bal("insurance:global") == usdc(1000)


def test_funding_is_paid_as_variation_margin():
    v = opened(Venue())
    # premium 0.1 %: F = P + clamp(0.01 % − P, ±0.05 %) = 0.05 % of 5,000 USDC = 2.5 USDC
    fx = v.apply(ev.FundingTick(ts=v.now(), instrument="BTC-PERP", premium="0.001"))
    assert fx[0]["rate_ppb"] == 500_000
    assert (fx[0]["paid"], fx[0]["received"]) == (usdc("2.5"), usdc("2.5"))
    assert v.bal("alice/main") == usdc("997.5")
    assert v.bal("bob/main") == usdc("10002.5")
    assert v.bal("vm:BTC-PERP") == 0


def test_funding_rounding_residue_goes_to_fees():
    v = Venue()
    v.deposit("alice/main", 1000)
    v.deposit("bob/main", 1000)
    v.price("50000.3")
    v.fill("alice/main", "bob/main", "50000.3", "0.001")  # notional 50.0003 USDC
    v.apply(ev.FundingTick(ts=v.now(), instrument="BTC-PERP", premium="0.0000003"))
    # rate = 0.0001 (the interest leg wins the clamp): 50.0003 × 0.0001 = 0.00500003 USDC
    assert v.bal("alice/main") == usdc(1000) - 5001  # the payer rounds up
    assert v.bal("bob/main") == usdc(1000) + 5000  # the receiver rounds down
    assert v.bal("fees") == 1


def test_a_scheduled_funding_tick_keeps_to_the_interval():
    """Issue: funding could be fired at will. A scheduled tick (the service's) is refused sooner than the
    instrument's interval after the last one, with nothing changed; at the interval it pays."""
    v = opened(Venue())
    t0 = v.now()
    fx = v.apply(ev.FundingTick(ts=t0, instrument="BTC-PERP", premium="0.001", scheduled=True))
    assert fx[0]["rate_ppb"] == 500_000 and v.bal("alice/main") == usdc("997.5")
    before = v.e.state_hash()
    for dt in (1, 3600 * S, 8 * 3600 * S - 1):
        with pytest.raises(Rejected) as exc:
            v.e.apply(ev.FundingTick(ts=t0 + dt, instrument="BTC-PERP", premium="0.001", scheduled=True))
        assert exc.value.reason == "funding_too_soon" and str(8 * 3600) in exc.value.message
        assert v.e.state_hash() == before
    v.apply(ev.FundingTick(ts=t0 + 8 * 3600 * S, instrument="BTC-PERP", premium="0.001", scheduled=True))
    assert v.bal("alice/main") == usdc("995")
    # the interval is the instrument's own: a risk officer may set a shorter one explicitly
    v.apply(ev.ParameterChange(ts=v.now(t0 + 8 * 3600 * S), target="instrument:BTC-PERP", key="funding", value={"interval_seconds": 60}))
    with pytest.raises(Rejected):
        v.e.apply(ev.FundingTick(ts=t0 + 8 * 3600 * S + 59 * S, instrument="BTC-PERP", scheduled=True))
    v.apply(ev.FundingTick(ts=t0 + 8 * 3600 * S + 60 * S, instrument="BTC-PERP", scheduled=True))


def test_fifty_scheduled_ticks_cannot_bankrupt_a_long():
    """The exploit of the issue (50 ticks, premium 1, in 0.12 s: 1,000 USDC to -9,000) against scheduled ticks:
    premium 1 is beyond the one at which the rate reaches its cap, and of 50 ticks at the cap one pays."""
    v = opened(Venue())
    t = v.now()
    before = v.e.state_hash()
    with pytest.raises(InvalidInput) as exc:
        v.e.apply(ev.FundingTick(ts=t, instrument="BTC-PERP", premium="1", scheduled=True))
    assert exc.value.field == "premium" and "0.0405" in exc.value.message
    assert v.e.state_hash() == before
    paid = 0
    for k in range(50):
        try:
            paid += len(v.apply(ev.FundingTick(ts=t + k * 2_400_000, instrument="BTC-PERP", premium="0.0405", scheduled=True)))
        except Rejected as exc:
            assert exc.reason == "funding_too_soon"
    assert paid == 1
    assert v.bal("alice/main") == usdc(1000) - usdc("200")  # 4 % cap of 5,000 USDC, once
    assert v.e.risk("alice/main").equity > 0


def test_unscheduled_funding_ticks_still_pay_whenever_they_come():
    """The lab and older journals fire ticks on their own clock: an unscheduled tick keeps today's meaning."""
    v = opened(Venue())
    t = v.now()
    for k in range(3):
        v.apply(ev.FundingTick(ts=t + k, instrument="BTC-PERP", premium="0.001"))
    assert v.bal("alice/main") == usdc("992.5")


def test_dated_future_settlement_realises_and_closes():
    from ramparts.engine.presets import future

    v = Venue()
    v.apply(future("BTC-0327", "BTC", expiry_ns=100 * S, ts=v.now()))
    v.deposit("alice/main", 1000)
    v.deposit("bob/main", 1000)
    v.price(50_000, instrument="BTC-0327")
    v.fill("alice/main", "bob/main", 50_000, "0.01", instrument="BTC-0327")
    with pytest.raises(InvalidInput, match="early"):
        v.apply(ev.Settlement(ts=v.now(), instrument="BTC-0327", price="51000"))  # before expiry
    fx = v.apply(ev.Settlement(ts=v.now(100 * S), instrument="BTC-0327", price="51000"))
    assert fx[-1]["kind"] == "Settled"
    assert v.bal("alice/main") == usdc(1010)
    assert v.bal("bob/main") == usdc(990)
    assert v.bal("vm:BTC-0327") == 0
    assert v.e.position("alice/main", "BTC-0327") == (0, 0, 0)
    with pytest.raises(Rejected):
        v.fill("alice/main", "bob/main", 50_000, "0.01", instrument="BTC-0327")


def test_withdrawal_limited_by_free_collateral_and_realises_pnl():
    v = opened(Venue())
    v.price(52_000)  # alice equity 1,200, IM 520 → free 680
    with pytest.raises(Rejected) as err:
        v.withdraw("alice/main", "680.000001")
    assert err.value.reason == "free_collateral"
    v.withdraw("alice/main", 680)
    assert v.bal("alice/main") == usdc(520)
    assert v.e.position("alice/main", "BTC-PERP")[1] == usdc(5200)  # cost basis reset to the mark


def test_isolated_subaccount_is_bound_to_its_instrument():
    v = Venue()
    v.apply(ev.OpenSubAccount(ts=v.now(), subaccount="alice/iso", mode="isolated", instrument="BTC-PERP"))
    v.apply(perpetual("ETH-PERP", "ETH", ts=v.now()))
    v.deposit("alice/iso", 1000)
    v.deposit("bob/main", 1000)
    v.price(2000, instrument="ETH-PERP")
    with pytest.raises(Rejected) as err:
        v.fill("alice/iso", "bob/main", 2000, "0.1", instrument="ETH-PERP")
    assert err.value.reason == "isolated"


def test_snapshot_restore_and_hash():
    v = opened(Venue())
    v.price(42_000)
    v.tick()
    from ramparts.engine import Engine

    e2 = Engine.restore(v.e.snapshot())
    assert e2.state_hash() == v.e.state_hash()
    # the restored engine behaves identically afterwards
    for e in (v.e, e2):
        e.apply(ev.OraclePrice(ts=v.t + S, instrument="BTC-PERP", price="41000"))
        e.apply(ev.Tick(ts=v.t + 2 * S))
    assert e2.state_hash() == v.e.state_hash()
