"""``PositionBook`` against a plain-dict model of the positions, over random sequences of operations.

The book keeps its indices as arrays (chains, per-sub-account counts, per-instrument holder arrays
with opens and closes kept aside until the next ``holders``, a dict only for sub-accounts with
many positions). Whatever the sequence of ``open`` / ``open_many`` / ``close`` / ``compact`` /
``bulk_open`` and whenever ``holders`` is asked, every lookup must answer what a dictionary of
``(sub-account, instrument) → slot`` answers. The thresholds (pending opens before a merge, positions
before a sub-account gets a dict, capacity before growth slows) are drawn too, so each path runs.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine import positions
from ramparts.engine.positions import PositionBook

N_SUB, N_INSTR = 7, 12  # a sub-account may hold every instrument: more than the dict threshold

pair = st.tuples(st.integers(0, N_SUB - 1), st.integers(0, N_INSTR - 1))
op = st.one_of(
    st.tuples(st.just("open"), pair),
    st.tuples(st.just("close"), st.integers(0, 10**6)),
    st.tuples(st.just("many"), st.sets(pair, max_size=12)),
    st.tuples(st.just("compact")),
    st.tuples(st.just("bulk"), st.sets(pair, max_size=30)),
    st.tuples(st.just("holders"), st.integers(0, N_INSTR - 1)),
)


def check(b: PositionBook, model: dict[tuple[int, int], int], full: bool) -> None:
    """Every lookup of the book against the model (``holders`` only when ``full``: asking merges)."""
    assert len(b) == len(model)
    slot_of = {}
    for s in range(-1, N_SUB + 2):
        for i in range(N_INSTR):
            got = b.slot(s, i)
            if (s, i) in model:
                assert got is not None and (int(b.sub[got]), int(b.instr[got])) == (s, i)
                assert int(b.lots[got]) == model[(s, i)]
                slot_of[(s, i)] = got
            else:
                assert got is None
        mine = sorted((i, slot_of[(s_, i)]) for s_, i in model if s_ == s)
        assert b.positions_of(s) == mine
        assert b.n_positions_of(s) == len(mine)
    assert len(set(slot_of.values())) == len(model)
    assert b.live_slots().tolist() == sorted(slot_of.values())
    assert b.rows() == [[s, i, model[(s, i)], 0, 0] for s, i in sorted(model)]
    # chains: every live slot reachable from its sub-account's head, exactly once
    seen = []
    for s in range(b.head.shape[0]):
        p = int(b.head[s])
        while p >= 0:
            assert int(b.sub[p]) == s
            seen.append(p)
            p = int(b.next[p])
    assert sorted(seen) == sorted(slot_of.values())
    if full:
        held = sorted({i for _, i in model})
        assert b.instruments_held() == held
        for i in range(N_INSTR):
            want = [slot_of[(s, i)] for s in range(N_SUB) if (s, i) in model]
            h = b.holders(i)
            assert h.dtype == np.int64 and h.tolist() == want


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(op, max_size=60), pending=st.sampled_from([0, 2, 64]), many=st.sampled_from([1, 3, 8]),
       big=st.sampled_from([4, 1 << 20]), capacity=st.sampled_from([1, 4, 64]))
def test_the_book_answers_as_a_dict_does(ops, pending, many, big, capacity):
    saved = positions._PENDING, positions._MANY, positions._BIG
    positions._PENDING, positions._MANY, positions._BIG = pending, many, big
    try:
        run(ops, capacity)
    finally:
        positions._PENDING, positions._MANY, positions._BIG = saved


def run(ops, capacity: int) -> None:
    b = PositionBook(capacity=capacity)
    model: dict[tuple[int, int], int] = {}
    stamp = 0
    given_out: list[tuple[np.ndarray, list[int]]] = []  # holder arrays handed out, and what they held
    for o in ops:
        if o[0] == "open":
            key = o[1]
            slot = b.open(*key)
            if key in model:
                assert int(b.lots[slot]) == model[key]
            else:
                assert int(b.lots[slot]) == 0
                stamp += 1
                b.lots[slot] = model[key] = stamp
        elif o[0] == "close":
            if model:
                key = sorted(model)[o[1] % len(model)]
                slot = b.slot(*key)
                b.lots[slot] = 0
                b.close(slot)
                del model[key]
                with pytest.raises(KeyError):
                    b.close(slot)  # a free slot: nothing to close, and the book unchanged
        elif o[0] == "many":
            new = sorted(k for k in o[1] if k not in model)
            slots = b.open_many(np.array([s for s, _ in new], dtype=np.int64), np.array([i for _, i in new], dtype=np.int64))
            for key, slot in zip(new, slots.tolist(), strict=True):
                stamp += 1
                b.lots[slot] = model[key] = stamp
            if new:
                with pytest.raises(ValueError, match="already has a slot"):
                    b.open_many(np.array([new[0][0]]), np.array([new[0][1]]))
        elif o[0] == "compact":
            before = {k: b.slot(*k) for k in model}
            new_of_old = b.compact()
            assert all(b.slot(*k) == int(new_of_old[s]) for k, s in before.items())
            assert b.laid_out and b.opened_since_compact == 0
        elif o[0] == "bulk":
            keys = sorted(o[1])
            sub = np.array([k[0] for k in keys], dtype=np.int64)
            instr = np.array([k[1] for k in keys], dtype=np.int64)
            lots = np.arange(stamp + 1, stamp + 1 + len(keys), dtype=np.int64)
            zeros = np.zeros(len(keys), dtype=np.int64)
            if model:
                with pytest.raises(ValueError, match="empty book"):
                    b.bulk_open(sub, instr, lots, zeros, zeros)
            else:
                slots = b.bulk_open(sub[::-1], instr[::-1], lots[::-1], zeros, zeros)
                assert [(int(b.sub[s]), int(b.instr[s])) for s in slots.tolist()] == keys[::-1]
                model = {k: int(x) for k, x in zip(keys, lots.tolist(), strict=True)}
                stamp += len(keys)
                assert b.laid_out
        else:
            h = b.holders(o[1])
            given_out.append((h, h.tolist()))
        check(b, model, full=o[0] == "holders")
        assert b.capacity >= b._next and b.next.shape[0] == b.capacity
    check(b, model, full=True)
    assert all(h.tolist() == was for h, was in given_out)  # an array handed out never changes afterwards
    clone = pickle.loads(pickle.dumps(b))
    check(clone, model, full=True)
    key = next(((s, i) for s in range(N_SUB) for i in range(N_INSTR) if (s, i) not in model), None)
    if key is not None:
        model[key] = 0
        for x in (b, clone):
            x.open(*key)
            check(x, model, full=True)


def test_a_sub_account_with_many_positions_keeps_them_through_closes_and_compaction():
    b = PositionBook(capacity=2)
    n = 3 * positions._MANY
    slots = [b.open(5, i) for i in range(n)]
    assert [b.slot(5, i) for i in range(n)] == slots and b.n_positions_of(5) == n
    for i in range(0, n, 2):
        b.close(slots[i])
    assert b.positions_of(5) == [(i, slots[i]) for i in range(1, n, 2)]
    b.compact()
    assert [i for i, _ in b.positions_of(5)] == list(range(1, n, 2))
    assert all(b.slot(5, i) == s for i, s in b.positions_of(5)) and b.slot(5, 0) is None


def test_a_large_book_grows_by_a_quarter_and_bulk_open_allocates_what_it_loads():
    b = PositionBook(capacity=positions._BIG)
    sub = np.arange(positions._BIG + 1, dtype=np.int64)
    b.open_many(sub, np.zeros_like(sub))
    assert b.capacity == positions._BIG + positions._BIG // 4
    c = PositionBook(capacity=4)
    zeros = np.zeros(3000, dtype=np.int64)
    c.bulk_open(np.arange(3000), zeros, zeros + 1, zeros, zeros)
    assert c.capacity == 3000 + 3000 // 16
