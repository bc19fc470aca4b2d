"""The canonical state's text written from the arrays (``ramparts.engine.canonical``) is byte for byte the generic
``canonical_json(state_dict())``: the compiled integer-rows writer against its ``json`` twin on random and extreme
integers, and the whole text over random venues of every kind (the integration fuzz's streams)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ramparts.engine import canonical
from ramparts.engine.events import canonical_json
from test_snapshot_container import fuzzed

I64 = np.iinfo(np.int64)
EXTREMES = [0, 1, -1, 9, 10, -10, 99, 100, 10**18, -(10**18), I64.max, I64.min, I64.max - 1, I64.min + 1]
ELEMENTS = st.integers(I64.min, I64.max) | st.sampled_from(EXTREMES) | st.integers(-1000, 1000)


@settings(max_examples=300, deadline=None)
@given(table=hnp.arrays(np.int64, st.tuples(st.integers(0, 40), st.integers(1, 6)), elements=ELEMENTS),
       prefix=st.sampled_from([None, ["USDC"], ["a\"\\\u00e9", 3]]))
def test_integer_rows_are_written_as_json_writes_them(table, prefix):
    text = b"" if prefix is None else json.dumps(prefix, separators=(",", ":"))[1:-1].encode() + b","
    assert canonical.int_rows(table, prefix=text) == canonical.int_rows_reference(table, prefix)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(ELEMENTS, max_size=60))
def test_an_integer_list_is_written_as_json_writes_it(values):
    assert canonical.int_list(values) == json.dumps(values, separators=(",", ":"))
    assert canonical.int_list(np.array(values, dtype=np.int64)) == json.dumps(values, separators=(",", ":"))


def test_every_extreme_alone():
    table = np.array([[x] for x in EXTREMES], dtype=np.int64)
    assert canonical.int_rows(table) == canonical.int_rows_reference(table)
    assert canonical.int_rows(np.zeros((0, 5), dtype=np.int64)) == b"" == canonical.int_rows_reference(np.zeros((0, 5)))
    assert canonical.int_list(EXTREMES) == json.dumps(EXTREMES, separators=(",", ":"))
    assert canonical.int_list([]) == "[]"


def test_sub_account_rows_escape_as_json_does():
    names = ["a/main", 'q"x/y', "\u00e9/\u4e2d", "t\\/s"]
    rows = [[n, m, i, s] for n, m, i, s in zip(names, ["cross", "isolated", "portfolio", "cross"], [None, 2, None, None],
                                               [False, False, True, False], strict=True)]
    flags = bytes([0, 1, 2 | 4, 0])
    got = canonical.sub_rows(names, [-1, 2, -1, -1], flags, ["cross", "isolated", "portfolio"])
    assert got == canonical_json(rows)[1:-1].encode()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(0, 300))
def test_the_state_text_is_the_generic_canonical_json(seed, n):
    e = fuzzed(seed, n)
    assert e.canonical_state() == canonical_json(e.state_dict()).encode()


def test_a_header_holding_a_marker_takes_the_generic_path(monkeypatch):
    e = fuzzed(7, 120)
    expected = canonical_json(e.state_dict()).encode()
    monkeypatch.setattr(canonical, "marker", lambda name: "USDC")  # found many times in the header: not spliced
    with pytest.raises(ValueError):
        canonical.splice(canonical_json({"a": "USDC", "b": "USDC"}), {"x": b""})
    assert e.canonical_state() == expected
