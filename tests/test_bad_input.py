"""Bad input gets a clear error naming the field and leaves the state unchanged (table-driven)."""

from __future__ import annotations

import pytest

from enginekit import S, Venue
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, RampartsError, Rejected, UnknownEntity


def venue_with_position() -> Venue:
    v = Venue()
    v.deposit("alice/main", 1000)
    v.deposit("bob/main", 10_000)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.1")
    return v


def fill(**kw):
    base = dict(instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="50000", size="0.01")
    base.update(kw)
    return {"kind": "Fill", **base}


CASES = [
    # (name, event dict without ts, expected error type, field or reason)
    ("nan price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "NaN"}, InvalidInput, "price"),
    ("infinite price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "Infinity"}, InvalidInput, "price"),
    ("zero price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "0"}, InvalidInput, "price"),
    ("negative price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "-5"}, InvalidInput, "price"),
    ("junk price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "fifty"}, InvalidInput, "price"),
    ("overflowing price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "1e30"}, InvalidInput, "price"),
    ("unknown instrument", {"kind": "OraclePrice", "instrument": "DOGE-PERP", "price": "1"}, UnknownEntity, "instrument"),
    ("unknown buyer", fill(buyer="mallory/main"), UnknownEntity, "buyer"),
    ("malformed seller", fill(seller="bob"), InvalidInput, "seller"),
    ("self trade", fill(seller="alice/main"), InvalidInput, "seller"),
    ("size off the step grid", fill(size="0.0015"), InvalidInput, "size"),
    ("zero size", fill(size="0"), InvalidInput, "size"),
    ("negative size", fill(size="-0.01"), InvalidInput, "size"),
    ("price off the tick grid", fill(price="50000.05"), InvalidInput, "price"),
    ("nan fill price", fill(price="nan"), InvalidInput, "price"),
    ("overflowing size", fill(size="1000000000"), InvalidInput, "size"),
    ("negative fee", fill(buyer_fee="-1"), InvalidInput, "buyer_fee"),
    ("fee finer than a unit", fill(buyer_fee="0.0000001"), InvalidInput, "buyer_fee"),
    ("fill breaking initial margin", fill(size="1"), Rejected, "initial_margin"),
    ("withdrawal beyond free collateral", {"kind": "Withdraw", "subaccount": "alice/main", "asset": "USDC", "amount": "600"}, Rejected, "free_collateral"),
    ("withdraw unknown asset", {"kind": "Withdraw", "subaccount": "alice/main", "asset": "XYZ", "amount": "1"}, UnknownEntity, "asset"),
    ("deposit negative", {"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": "-1"}, InvalidInput, "amount"),
    ("deposit overflow", {"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": "1e40"}, InvalidInput, "amount"),
    ("deposit unknown account", {"kind": "Deposit", "subaccount": "zed/main", "asset": "USDC", "amount": "1"}, UnknownEntity, "subaccount"),
    ("unknown event kind", {"kind": "Teleport"}, InvalidInput, "kind"),
    ("extra field", {"kind": "Tick", "liquidator": "k", "surprise": 1}, InvalidInput, "surprise"),
    ("funding on unknown instrument", {"kind": "FundingTick", "instrument": "NOPE"}, UnknownEntity, "instrument"),
    ("absurd premium", {"kind": "FundingTick", "instrument": "BTC-PERP", "premium": "5"}, InvalidInput, "premium"),
    ("unknown parameter", {"kind": "ParameterChange", "target": "liquidation", "key": "bogus", "value": 1}, InvalidInput, "liquidation.bogus"),
    ("negative parameter", {"kind": "ParameterChange", "target": "liquidation", "key": "buffer_ppm", "value": -1}, InvalidInput, "liquidation.buffer_ppm"),
    ("malformed schedule", {"kind": "ParameterChange", "target": "instrument:BTC-PERP", "key": "margin", "value": {"tiers": []}}, InvalidInput, "margin.tiers"),
    ("duplicate sub-account", {"kind": "OpenSubAccount", "subaccount": "alice/main"}, Rejected, "duplicate"),
    ("second genesis", {"kind": "Genesis"}, Rejected, "genesis"),
    # a decimal with a huge exponent raised decimal.Overflow (a 500 in the service) wherever it was converted
    ("huge exponent in a fill price", fill(price="1E+999999999"), InvalidInput, "price"),
    ("huge exponent in a fill size", fill(size="-1E+999999999"), InvalidInput, "size"),
    ("huge exponent in a fee", fill(seller_fee="1E+999999"), InvalidInput, "seller_fee"),
    ("huge exponent in an oracle price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "1E+999999999"}, InvalidInput, "price"),
    ("huge exponent in a book price", {"kind": "OraclePrice", "instrument": "BTC-PERP", "price": "1", "book_price": "1E+999999"}, InvalidInput, "book_price"),
    ("huge exponent in a deposit", {"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": "1E+999999999"}, InvalidInput, "amount"),
    ("huge exponent in a premium", {"kind": "FundingTick", "instrument": "BTC-PERP", "premium": "1E+999999999"}, InvalidInput, "premium"),
    ("huge exponent in a tick size", {"kind": "ListInstrument", "symbol": "X-PERP", "underlying": "X", "size_step": "1", "tick_size": "1E+999999",
                                      "margin": {"tiers": [["0", "0.1", "0.05"]]}}, InvalidInput, "tick_size"),
    ("huge exponent in a margin tier", {"kind": "ListInstrument", "symbol": "X-PERP", "underlying": "X", "size_step": "1", "tick_size": "1",
                                        "margin": {"tiers": [["1E+999999999", "0.1", "0.05"]]}}, InvalidInput, "notional_floor"),
    # ... and a tiny one underflowed to a lot price of 0: a free fill
    ("tiny exponent in a fill price", fill(price="1E-999999999"), InvalidInput, "price"),
    ("batch time beyond int64", {"kind": "TradeBatch", "instruments": ["BTC-PERP"], "item_kind": "P", "time": [2**63], "instrument": [0],
                                 "buyer": [-1], "seller": [-1], "price": [500000], "size": [0]}, InvalidInput, "time"),
    # decimals are ASCII digits (no underscores, no other scripts' digits), never JSON floats
    ("fullwidth digits", {"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": "\uff11\uff12"}, InvalidInput, "amount"),
    ("Arabic-Indic digits", fill(size="\u0660.\u0660\u0661"), InvalidInput, "size"),
    ("underscore in a decimal", {"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": "1_000"}, InvalidInput, "amount"),
    ("float amount", {"kind": "Deposit", "subaccount": "alice/main", "asset": "USDC", "amount": 1.5}, InvalidInput, "amount"),
    ("float price", fill(price=50000.0), InvalidInput, "price"),
    ("a name with a trailing newline", {"kind": "OpenSubAccount", "subaccount": "alice/main\n"}, InvalidInput, "subaccount"),
]


@pytest.mark.parametrize("name,event,error,where", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(name, event, error, where):
    v = venue_with_position()
    before = v.e.state_hash()
    event = dict(event, ts=v.t + S)
    with pytest.raises(error) as exc:
        v.e.apply(event)
    got = getattr(exc.value, "field", None) or getattr(exc.value, "reason", None)
    assert where in got, (got, str(exc.value))
    assert str(exc.value)  # a message a person can read
    assert v.e.state_hash() == before


def test_time_going_backwards_is_refused():
    v = venue_with_position()
    before = v.e.state_hash()
    with pytest.raises(InvalidInput) as exc:
        v.e.apply({"kind": "Tick", "ts": v.t - 1})
    assert exc.value.field == "ts"
    assert v.e.state_hash() == before


@pytest.mark.parametrize("ts", [2**63, 2**64, 10**400])
def test_a_time_beyond_int64_is_refused(ts):
    v = venue_with_position()
    before = v.e.state_hash()
    with pytest.raises(InvalidInput) as exc:
        v.e.apply({"kind": "Tick", "ts": ts})
    assert exc.value.field.endswith("ts")
    assert v.e.state_hash() == before and v.e.time_ns < 2**63


def test_events_before_genesis_are_refused():
    e = Engine()
    with pytest.raises(Rejected):
        e.apply(ev.Tick(ts=0))


def test_stale_oracle_refuses_fills():
    v = venue_with_position()
    v.apply(ev.ParameterChange(ts=v.now(), target="instrument:BTC-PERP", key="oracle_max_age_ns", value=5 * S))
    with pytest.raises(Rejected) as exc:
        v.fill("alice/main", "bob/main", 50_000, "0.001", ts=v.t + 60 * S)
    assert exc.value.reason == "stale_oracle"


def test_every_error_is_a_ramparts_error():
    assert all(issubclass(c[2], RampartsError) for c in CASES)
