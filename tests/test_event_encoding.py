"""The journal's canonical text of an event: the direct writers of the frequent events (``Fill``, ``OraclePrice``) give
exactly the generic ``canonical_json(event.model_dump(mode="json"))`` (and ``TradeBatch``, its integer columns written
by a compiled kernel), and the text parses back to the same event."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ramparts.engine import events as ev
from ramparts.engine.events import _FAST_ENCODE, canonical_json, check_readable, encode_event, parse_event
from ramparts.errors import InvalidInput

TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(["BTC-PERP", "a/main", 'q"\\', "\u00e9\u4e2d", "\x00\x1f\x7f", "a\udc80b"])
# decimals as users send them: Decimal objects, their texts, exponents, signed zeros, trailing zeros, integers
DEC = (st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15)
       | st.sampled_from(["1E+2", "1e-7", "-0", "0.000", "5E-8", "100", "+1.50", ".5", "12345678901234.123456"])
       | st.integers(-(10**12), 10**12))  # fmt: skip
TS = st.integers(0, 2**63 - 1)


def _built(cls, **kw):
    try:
        return cls(**kw)
    except ValidationError:  # a value the event refuses never reaches the encoder
        assume(False)


def _generic(e) -> str:
    return canonical_json(e.model_dump(mode="json"))


def _reads_back(text: str, e) -> None:
    """The row parses back to the event, or (a lone surrogate) the node refuses it before journaling it."""
    texts = [t for v in e.model_dump().values() for t in (v if isinstance(v, list) else [v]) if isinstance(t, str)]
    if any(0xD800 <= ord(ch) <= 0xDFFF for t in texts for ch in t):
        with pytest.raises(InvalidInput):
            check_readable(text)
    else:
        assert parse_event(text) == e


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=TS, instrument=TEXT, buyer=TEXT, seller=TEXT, price=DEC, size=DEC, fees=st.none() | st.tuples(DEC, DEC))
def test_a_fill_is_written_as_the_generic_encoder_writes_it(ts, instrument, buyer, seller, price, size, fees):
    kw = {} if fees is None else {"buyer_fee": fees[0], "seller_fee": fees[1]}
    e = _built(ev.Fill, ts=ts, instrument=instrument, buyer=buyer, seller=seller, price=price, size=size, **kw)
    text = encode_event(e)
    assert text == _generic(e)
    _reads_back(text, e)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=TS, instrument=TEXT, price=DEC, book=st.none() | DEC)
def test_an_index_price_is_written_as_the_generic_encoder_writes_it(ts, instrument, price, book):
    e = _built(ev.OraclePrice, ts=ts, instrument=instrument, price=price, book_price=book)
    text = encode_event(e)
    assert text == _generic(e)
    _reads_back(text, e)


@st.composite
def _batch(draw):
    """A TradeBatch as the schema allows it (not necessarily one an engine accepts: the row is written before)."""
    n = draw(st.integers(1, 30))
    kinds = draw(st.text("FP", min_size=n, max_size=n))
    sub = st.integers(-1, ev.MAX_BATCH_ITEMS)
    big = st.integers(0, 4 * 10**15) | st.sampled_from([0, 1, 9, 10, 4 * 10**15])
    fee = st.none() | st.lists(st.integers(0, 10**17) | st.sampled_from([0, 10**17]), min_size=n, max_size=n)
    return _built(ev.TradeBatch, ts=draw(TS), instruments=draw(st.lists(TEXT, min_size=1, max_size=4)),
                  subaccounts=draw(st.lists(TEXT, max_size=5)), item_kind=kinds,
                  time=draw(st.lists(TS, min_size=n, max_size=n)),
                  instrument=draw(st.lists(st.integers(0, 9_999), min_size=n, max_size=n)),
                  buyer=draw(st.lists(sub, min_size=n, max_size=n)), seller=draw(st.lists(sub, min_size=n, max_size=n)),
                  price=draw(st.lists(big, min_size=n, max_size=n)), size=draw(st.lists(big, min_size=n, max_size=n)),
                  buyer_fee=draw(fee), seller_fee=draw(fee))  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(e=_batch())
def test_a_trade_batch_is_written_as_the_generic_encoder_writes_it(e):
    text = encode_event(e)
    assert text == _generic(e)
    _reads_back(text, e)


@pytest.mark.parametrize(("event", "text"), [
    (ev.Fill(ts=7, instrument="BTC-PERP", buyer="a/main", seller="b/main", price="1E+2", size="0.001", buyer_fee="-0"),
     '{"buyer":"a/main","buyer_fee":"-0","instrument":"BTC-PERP","kind":"Fill","price":"1E+2","seller":"b/main",'
     '"seller_fee":"0","size":"0.001","ts":7}'),
    (ev.OraclePrice(ts=0, instrument='\u00e9"', price="3.10", book_price="3"),
     '{"book_price":"3","instrument":"\\u00e9\\"","kind":"OraclePrice","price":"3.10","ts":0}'),
    (ev.OraclePrice(ts=1, instrument="X", price=Decimal("2")), '{"book_price":null,"instrument":"X","kind":"OraclePrice","price":"2","ts":1}'),
])  # fmt: skip
def test_hand_written_rows(event, text):
    assert encode_event(event) == text


def test_only_the_exact_classes_are_written_directly():
    assert set(_FAST_ENCODE) == {ev.Fill, ev.OraclePrice, ev.TradeBatch}

    class Sub(ev.Fill):  # a subclass (none exists in the package) would take the generic path
        pass

    e = Sub(ts=1, instrument="X", buyer="a/b", seller="c/d", price="1", size="1")
    assert encode_event(e) == _generic(e)
