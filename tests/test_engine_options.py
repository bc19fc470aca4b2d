"""European options in the engine: standard option margin against the independent library, long premium
as non-collateral, spot ticks re-margining options, the max-loss bound of spreads and boxes, expiry
settlement at intrinsic value, bad input, and byte-identical replay.

Hand-worked figures (BTC at 50,000 USDC; 1 BTC = 1,000 lots of 0.001):
short 1 BTC 55,000 call at mark 1,000: OTM 10 % → initial max(15 % − 10 %, 10 %) × 50,000 + 1,000 = 6,000;
maintenance 7.5 % × 50,000 + 1,000 = 4,750 (Deribit's standard margin).
"""

from __future__ import annotations

import pytest
from tests.enginekit import USDC, S, Venue

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.journal import open_journal
from ramparts.margin.option_standard import isolated_requirements, max_loss

EXPIRY = 30 * 86_400 * S


def option(symbol, strike, kind, ts=0, **kw):
    return ev.ListInstrument(ts=ts, symbol=symbol, instrument_kind="option", underlying="BTC", size_step="0.001", tick_size="0.1",
                             margin={"tiers": [["0", "0.1", "0.05"]]}, expiry_ns=EXPIRY, strike=str(strike), option_type=kind,
                             index_instrument=kw.pop("index_instrument", "BTC-PERP"), **kw)


def venue() -> Venue:
    v = Venue(accounts=("alice/main", "bob/main", "mm/main"))
    for sym, k, kind in (("BTC-55000-C", 55_000, "call"), ("BTC-60000-C", 60_000, "call"), ("BTC-55000-P", 55_000, "put"),
                         ("BTC-60000-P", 60_000, "put")):
        v.apply(option(sym, k, kind))
    v.deposit("alice/main", 20_000)
    v.deposit("bob/main", 20_000)
    v.deposit("mm/main", 1_000_000)
    v.price(50_000)
    for sym, mark in (("BTC-55000-C", 1_000), ("BTC-60000-C", 400), ("BTC-55000-P", 5_500), ("BTC-60000-P", 10_200)):
        v.price(mark, instrument=sym)
    return v


def risk(v, sub):
    r = v.e.risk(sub)
    return r.initial_margin / USDC, r.maintenance_margin / USDC


def test_short_call_standard_margin_matches_the_independent_library():
    v = venue()
    v.fill("mm/main", "alice/main", 1_000, "1", instrument="BTC-55000-C")  # alice writes 1 BTC of the 55,000 call
    im, mm = risk(v, "alice/main")
    assert (im, mm) == (6_000, 4_750)
    lib_im, lib_mm = isolated_requirements(True, 55_000, -1, 1_000, 50_000, inverse=False)
    assert (im, mm) == (pytest.approx(float(lib_im[0])), pytest.approx(float(lib_mm[0])))


def test_a_spot_tick_re_margins_the_options_and_rounding_never_favours_the_writer():
    v = venue()
    v.fill("mm/main", "alice/main", 1_000, "1", instrument="BTC-55000-C")
    v.price(54_000)  # the perpetual's index moves: the option's OTM reduction shrinks
    im, mm = risk(v, "alice/main")
    lib_im, lib_mm = isolated_requirements(True, 55_000, -1, 1_000, 54_000, inverse=False)
    # exact ints rounded up per lot: at least the library's value, by at most one rounding step per lot
    per_lot_step = (54_000_000 / 1e6 + 1) / USDC  # one ppm of the spot lot price, plus one base unit
    assert float(lib_im[0]) <= im <= float(lib_im[0]) + 1_000 * per_lot_step
    assert mm == pytest.approx(float(lib_mm[0]))


def test_a_long_option_needs_no_maintenance_and_its_premium_is_not_collateral():
    v = venue()
    v.fill("alice/main", "mm/main", 1_000, "2", instrument="BTC-55000-C")  # pays 2,000 of premium
    r = v.e.risk("alice/main")
    assert r.maintenance_margin == 0 and r.initial_margin == 2_000 * USDC
    assert r.equity == 20_000 * USDC  # cash 18,000 + premium value 2,000
    with pytest.raises(Exception, match="free collateral"):
        v.withdraw("alice/main", "18000.01")  # the premium cannot be withdrawn against
    v.withdraw("alice/main", 18_000)


@pytest.mark.parametrize(
    "legs, max_loss_usdc",
    [
        # bear call spread: short 55,000 call, long 60,000 call: the most it can lose is 5,000
        ([("BTC-55000-C", -1), ("BTC-60000-C", 1)], 5_000),
        # bull put spread: short 60,000 put, long 55,000 put: the same 5,000
        ([("BTC-60000-P", -1), ("BTC-55000-P", 1)], 5_000),
        # box: long 55 call, short 60 call, short 55 put, long 60 put pays 5,000 at any spot
        ([("BTC-55000-C", 1), ("BTC-60000-C", -1), ("BTC-55000-P", -1), ("BTC-60000-P", 1)], 0),
    ],
)
def test_spreads_and_boxes_need_less_than_their_legs_and_exactly_their_maximum_loss(legs, max_loss_usdc):
    v = venue()
    v.deposit("alice/main", 80_000)  # the legs are margined one by one as they are filled
    for sym, qty in legs:
        if qty > 0:
            v.fill("alice/main", "mm/main", {"BTC-55000-C": 1_000, "BTC-60000-C": 400, "BTC-55000-P": 5_500, "BTC-60000-P": 10_200}[sym], str(qty), instrument=sym)
        else:
            v.fill("mm/main", "alice/main", {"BTC-55000-C": 1_000, "BTC-60000-C": 400, "BTC-55000-P": 5_500, "BTC-60000-P": 10_200}[sym], str(-qty), instrument=sym)
    e = v.e
    s = e.sub_index("alice/main")
    legs_im = sum(int(e.book.im[slot]) for _, slot in e.book.positions_of(s))
    value = int(e.sub_value[s])
    lib = max_loss([sym.endswith("C") for sym, _ in legs], [int(sym.split("-")[1]) for sym, _ in legs], [q for _, q in legs], inverse=False)
    assert lib == pytest.approx(max_loss_usdc)
    assert int(e.sub_im[s]) == max(min(legs_im, max_loss_usdc * USDC + value), 0) < legs_im
    # the requirement on equity is the maximum loss on cash: equity − im = cash − max loss
    assert int(e.sub_im[s]) - value == max_loss_usdc * USDC
    assert int(e.sub_mm[s]) == int(e.sub_im[s])  # the cap binds maintenance too


def test_expiry_settles_at_intrinsic_value_and_conserves_value():
    v = venue()
    v.fill("mm/main", "alice/main", 1_000, "1", instrument="BTC-55000-C")
    v.fill("alice/main", "mm/main", 400, "1", instrument="BTC-60000-C")
    before = v.bal("alice/main")
    with pytest.raises(InvalidInput, match="early"):
        v.apply(ev.Settlement(ts=EXPIRY - 1, instrument="BTC-55000-C", price="58000"))
    fx = v.apply(ev.Settlement(ts=EXPIRY, instrument="BTC-55000-C", price="58000"))
    assert fx[-1]["price"].startswith("3000")  # intrinsic value of the call
    v.apply(ev.Settlement(ts=EXPIRY + 1, instrument="BTC-60000-C", price="58000"))
    s = v.e.sub_index("alice/main")
    assert v.e.book.n_positions_of(s) == 0 and int(v.e.sub_im[s]) == 0 and int(v.e.sub_opt_adj_im[s]) == 0
    # the premiums (1,000 received, 400 paid) and the 3,000 payout reach her cash when the positions settle
    assert v.bal("alice/main") - before == (-3_000 + 1_000 - 400) * USDC


@pytest.mark.parametrize(
    "event, error",
    [
        (lambda t: option("X-C", 55_000, "call", ts=t, index_instrument="ETH-PERP"), UnknownEntity),
        (lambda t: option("X-C", "55000.00001", "call", ts=t), InvalidInput),
        (lambda t: option("X-C", 55_000, "call", ts=t, index_instrument="BTC-55000-C"), InvalidInput),
        (lambda t: ev.FundingTick(ts=t, instrument="BTC-55000-C"), InvalidInput),
        (lambda t: ev.ListInstrument(ts=t, symbol="X-C", instrument_kind="option", underlying="BTC", size_step="0.001", tick_size="0.1",
                                   margin={"tiers": [["0", "0.1", "0.05"]]}, expiry_ns=EXPIRY, option_type="call",
                                   index_instrument="BTC-PERP"), InvalidInput),  # no strike
    ],
)
def test_bad_option_input_is_a_clear_error_and_changes_nothing(event, error):
    v = venue()
    before = v.e.state_hash()
    with pytest.raises(error):
        v.e.apply(event(v.t + S))
    assert v.e.state_hash() == before


def test_options_replay_byte_for_byte(tmp_path):
    v = venue()
    v.fill("mm/main", "alice/main", 1_000, "1", instrument="BTC-55000-C")
    v.fill("alice/main", "mm/main", 400, "1", instrument="BTC-60000-C")
    v.price(53_000)
    snap = Engine.restore(v.e.snapshot())
    assert snap.state_hash() == v.e.state_hash()
    s = snap.sub_index("alice/main")
    assert int(snap.sub_im[s]) == int(v.e.sub_im[s]) and snap.instrument("BTC-55000-C").spot_lot == v.e.instrument("BTC-55000-C").spot_lot
    node = Node(open_journal(f"sqlite:///{tmp_path / 'o.sqlite'}"))
    from tests.test_engine_defences import NodeVenue

    w = NodeVenue(node, accounts=("alice/main", "bob/main", "mm/main"))
    for sym, k, kind in (("BTC-55000-C", 55_000, "call"), ("BTC-60000-C", 60_000, "call"), ("BTC-55000-P", 55_000, "put"),
                         ("BTC-60000-P", 60_000, "put")):
        w.apply(option(sym, k, kind))
    w.deposit("alice/main", 20_000)
    w.deposit("bob/main", 20_000)
    w.deposit("mm/main", 1_000_000)
    w.price(50_000)
    for sym, mark in (("BTC-55000-C", 1_000), ("BTC-60000-C", 400), ("BTC-55000-P", 5_500), ("BTC-60000-P", 10_200)):
        w.price(mark, instrument=sym)
    w.fill("mm/main", "alice/main", 1_000, "1", instrument="BTC-55000-C")
    w.fill("alice/main", "mm/main", 400, "1", instrument="BTC-60000-C")
    w.price(53_000)
    assert w.e.state_hash() == v.e.state_hash()
    node.close()
    with open_journal(f"sqlite:///{tmp_path / 'o.sqlite'}") as j:
        assert replay(j).state_hash() == v.e.state_hash()
