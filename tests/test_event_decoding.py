"""The journal's rows read back without the validator: the direct readers of the canonical ``Fill`` and
``OraclePrice`` texts (``events._FAST_DECODE``) build exactly the event the pydantic validator builds from the same text
(values, their types and texts, field order, the fields set), and any text they do not take (another layout, an escape,
a value the validator refuses) goes to the validator, so that :func:`parse_event` and :func:`decode_event` answer every
text, canonical or altered, as the validator alone does."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ramparts.engine import events as ev
from ramparts.engine.events import _ADAPTER, _decode_fast, decode_event, encode_event, parse_event
from ramparts.errors import InvalidInput, JournalCorrupt
from test_event_encoding import _built

NAME = (st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=16)
        | st.text(st.characters(codec="utf-8"), max_size=8)
        | st.sampled_from(["BTC-PERP", "t1/main", 'q"x', "b\\s", "\u00e9\u4e2d", "\x7f", ""]))  # fmt: skip
DEC = (st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15)
       | st.sampled_from(["1E+2", "1e-7", "-0", "0.000", "5E-8", "100", "+1.50", ".5", "12345678901234.123456", "1.0", "00.10"])
       | st.integers(-(10**12), 10**12))  # fmt: skip
TS = st.integers(0, 2**63 - 1)
# what an altered text may gain: the canonical layout's own characters, digits, escapes and letters
ALPHABET = list('{}[]:,"\\ 0123456789.-+eEnulfasrtx') + ["\u00e9", "\x00", "\x7f"]


def _same(a, b, fields_set: bool = True) -> None:
    """Two events are one: the same class, values of the same type and text in the same field order, the same
    fields set (two events read from texts)."""
    assert type(a) is type(b)
    assert [(k, type(v), str(v)) for k, v in a.__dict__.items()] == [(k, type(v), str(v)) for k, v in b.__dict__.items()]
    assert not fields_set or a.__pydantic_fields_set__ == b.__pydantic_fields_set__
    assert a.__pydantic_extra__ == b.__pydantic_extra__ and a.__pydantic_private__ == b.__pydantic_private__
    assert a == b and encode_event(a) == encode_event(b)


def _answers_as_the_validator(text: str) -> None:
    """``parse_event(text)`` returns what the validator returns, or refuses what it refuses with the same words."""
    try:
        want = _ADAPTER.validate_json(text)
    except ValidationError:
        want = None
    if want is None:
        assert _decode_fast(text) is None
        with pytest.raises(InvalidInput):
            parse_event(text)
        return
    _same(parse_event(text), want)
    fast = _decode_fast(text)
    if fast is not None:
        _same(fast, want)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=TS, instrument=NAME, buyer=NAME, seller=NAME, price=DEC, size=DEC, fees=st.none() | st.tuples(DEC, DEC))
def test_a_fill_row_reads_back_as_the_validator_reads_it(ts, instrument, buyer, seller, price, size, fees):
    kw = {} if fees is None else {"buyer_fee": fees[0], "seller_fee": fees[1]}
    e = _built(ev.Fill, ts=ts, instrument=instrument, buyer=buyer, seller=seller, price=price, size=size, **kw)
    text = encode_event(e)
    assume("\\ud" not in text)  # a lone surrogate: the node refuses to journal it (test_event_encoding)
    _answers_as_the_validator(text)
    _same(decode_event("Fill", text), e, fields_set=False)
    if all(32 <= ord(ch) < 127 and ch not in '"\\' for ch in instrument + buyer + seller):
        assert _decode_fast(text) is not None  # the canonical text of printable names is the direct reader's


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ts=TS, instrument=NAME, price=DEC, book=st.none() | DEC)
def test_an_index_price_row_reads_back_as_the_validator_reads_it(ts, instrument, price, book):
    e = _built(ev.OraclePrice, ts=ts, instrument=instrument, price=price, book_price=book)
    text = encode_event(e)
    assume("\\ud" not in text)
    _answers_as_the_validator(text)
    _same(decode_event("OraclePrice", text), e, fields_set=False)
    if all(32 <= ord(ch) < 127 and ch not in '"\\' for ch in instrument):
        assert _decode_fast(text) is not None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), which=st.sampled_from(["fill", "fees", "price", "book"]), edits=st.integers(1, 3))
def test_an_altered_row_is_answered_as_the_validator_answers_it(data, which, edits):
    base = {
        "fill": ev.Fill(ts=1_700_000_000_000_000_000, instrument="BTC-PERP", buyer="t1/main", seller="t2/main", price="50000.1", size="0.013"),
        "fees": ev.Fill(ts=7, instrument="E", buyer="a", seller="b", price="1E+2", size="5", buyer_fee="0.01", seller_fee="-0.02"),
        "price": ev.OraclePrice(ts=0, instrument="ETH-PERP", price="3000"),
        "book": ev.OraclePrice(ts=12, instrument="ETH-PERP", price="3000.5", book_price="3001"),
    }[which]  # fmt: skip
    text = encode_event(base)
    for _ in range(edits):
        k = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        ch = data.draw(st.sampled_from(ALPHABET))
        if op == "replace" and k < len(text):
            text = text[:k] + ch + text[k + 1 :]
        elif op == "insert":
            text = text[:k] + ch + text[k:]
        elif k < len(text):
            text = text[:k] + text[k + 1 :]
    _answers_as_the_validator(text)


@pytest.mark.parametrize("text", [
    # values the validator refuses, in the canonical layout
    '{"buyer":"a","buyer_fee":"0","instrument":"X","kind":"Fill","price":"nan","seller":"b","seller_fee":"0","size":"1","ts":1}',
    '{"buyer":"a","buyer_fee":"0","instrument":"X","kind":"Fill","price":"1","seller":"b","seller_fee":"0","size":"1","ts":9223372036854775808}',
    '{"buyer":"a","buyer_fee":"0","instrument":"X","kind":"Fill","price":"1_0","seller":"b","seller_fee":"0","size":"1","ts":1}',
    '{"buyer":"a","buyer_fee":"0","instrument":"X","kind":"Fill","price":"' + "9" * 201 + '","seller":"b","seller_fee":"0","size":"1","ts":1}',
    '{"book_price":"inf","instrument":"X","kind":"OraclePrice","price":"1","ts":1}',
    '{"book_price":null,"instrument":"X","kind":"OraclePrice","price":"1e999999","ts":1}',
    # values it takes that the direct readers leave to it: another layout, escapes, numbers as JSON numbers
    '{"buyer":"a","buyer_fee":"0","instrument":"X","kind":"Fill","price":"1","seller":"b","seller_fee":"0","size":"1","ts":1,"ts":2}',
    '{"buyer":"a\\"b","buyer_fee":"0","instrument":"X","kind":"Fill","price":"1","seller":"b","seller_fee":"0","size":"1","ts":1}',
    '{"buyer":"a","buyer_fee":0,"instrument":"X","kind":"Fill","price":"1","seller":"b","seller_fee":"0","size":"1","ts":1}',
    '{"buyer":"a", "buyer_fee":"0","instrument":"X","kind":"Fill","price":"1","seller":"b","seller_fee":"0","size":"1","ts":1}',
    '{"buyer":"a","buyer_fee":"0","instrument":"X","kind":"Fill","price":"1","seller":"b","seller_fee":"0","size":"1","ts":1.0}',
    '{"book_price":null,"instrument":"X","kind":"OraclePrice","price":"1","ts":01}',
    '{"book_price":null,"instrument":"X","kind":"OraclePrice","price":"1","ts":-0}',
    '{"book_price":null,"instrument":"\\u00e9","kind":"OraclePrice","price":"1","ts":3}',
    '{"instrument":"X","kind":"OraclePrice","price":"1","ts":3}',
    # taken directly: the canonical layout
    '{"buyer":"","buyer_fee":"-0","instrument":"X","kind":"Fill","price":"1.10","seller":" b ~","seller_fee":"0E-8","size":"+.5","ts":0}',
    '{"book_price":null,"instrument":"X","kind":"OraclePrice","price":"1","ts":9223372036854775807}',
])  # fmt: skip
def test_chosen_rows(text):
    _answers_as_the_validator(text)


def test_a_row_of_another_kind_is_corrupt_either_way():
    text = encode_event(ev.Fill(ts=1, instrument="X", buyer="a", seller="b", price="1", size="1"))
    assert _decode_fast(text) is not None
    with pytest.raises(JournalCorrupt, match="kind 'OraclePrice' does not match"):
        decode_event("OraclePrice", text)
