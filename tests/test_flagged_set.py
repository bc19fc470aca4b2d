"""FlaggedSet (the engine's insolvent set with its mask) against a plain set, operation by operation."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine.flagged import FlaggedSet

idx = st.integers(0, 300)
ops = st.one_of(
    st.tuples(st.just("add"), idx),
    st.tuples(st.just("discard"), idx),
    st.tuples(st.just("remove"), idx),
    st.tuples(st.just("pop"), st.none()),
    st.tuples(st.just("clear"), st.none()),
    st.tuples(st.just("update"), st.lists(idx, max_size=8)),
    st.tuples(st.just("difference_update"), st.lists(st.integers(-5, 400), max_size=8)),
    st.tuples(st.just("intersection_update"), st.lists(idx, max_size=30)),
    st.tuples(st.just("symmetric_difference_update"), st.lists(idx, max_size=8)),
    st.tuples(st.just("ior"), st.lists(idx, max_size=8)),
    st.tuples(st.just("isub"), st.lists(idx, max_size=8)),
    st.tuples(st.just("mask_flip"), idx),  # what a compiled pass does: flip, then report the flip
)


@settings(max_examples=300, deadline=None)
@given(st.lists(idx, max_size=20), st.lists(ops, max_size=40))
def test_flagged_set_behaves_as_a_set_and_keeps_its_mask(start, steps):
    f, ref = FlaggedSet(start), set(start)
    for op, arg in steps:
        if op == "remove":
            if arg in ref:
                f.remove(arg)
                ref.remove(arg)
            else:
                with pytest.raises(KeyError):
                    f.remove(arg)
        elif op == "pop":
            if ref:
                got = f.pop()
                assert got in ref
                ref.remove(got)
            else:
                with pytest.raises(KeyError):
                    f.pop()
        elif op == "ior":
            f |= set(arg)
            ref |= set(arg)
        elif op == "isub":
            f -= set(arg)
            ref -= set(arg)
        elif op == "mask_flip":
            m = f.mask(arg + 1)
            if m[arg]:
                m[arg] = False
                f.discard(arg)
                ref.discard(arg)
            else:
                m[arg] = True
                f.add(arg)
                ref.add(arg)
        else:
            getattr(f, op)(*(() if arg is None else (arg,)))
            getattr(ref, op)(*(() if arg is None else (arg,)))
        assert set(f) == ref and f.consistent()
        assert isinstance(f, FlaggedSet)
    mask = f.mask(400)
    assert np.flatnonzero(mask).tolist() == sorted(ref)


def test_mask_is_a_view_that_grows_and_survives_copies():
    f = FlaggedSet([3, 70])
    m = f.mask(10)
    assert m.tolist() == [False, False, False, True] + [False] * 6
    m[5] = True  # writes go to the set's own mask
    f.add(5)
    assert f.consistent() and f == {3, 5, 70}
    big = f.mask(100_000)
    assert big.size == 100_000 and np.flatnonzero(big).tolist() == [3, 5, 70]
    for clone in (f.copy(), copy.deepcopy(f), pickle.loads(pickle.dumps(f))):
        assert isinstance(clone, FlaggedSet) and clone == f and clone.consistent()
        clone.add(9)
        assert 9 not in f and not f.mask(10)[9]


@pytest.mark.parametrize("bad", [[-1], [2, -3]])
def test_negative_members_are_refused(bad):
    with pytest.raises(ValueError):
        FlaggedSet(bad)
    f = FlaggedSet()
    with pytest.raises(ValueError):
        f.update(bad)
    with pytest.raises(ValueError):
        f.add(-1)
    assert f == set() and f.consistent()
