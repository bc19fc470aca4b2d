"""The slack index's levels (pending → middle runs → merging → big) against a plain reference:
queries between the bounded merge steps, and the resumable merge kernel against its plain-Python twin."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine import slack_index
from ramparts.engine.slack_index import _I64_MAX, _I64_MIN, SlackIndex, _merge_step

N_SUBS = 61


def _sorted_runs(idx: SlackIndex, i: int) -> None:
    for level in (idx._big[i], idx._merging[i], idx._middle[i]):
        b, c = level.bounds, level.bounds_hi
        assert b[0] == c[0] == 0 and np.all(np.diff(b) >= 0) and np.all(np.diff(c) >= 0) and b.shape == c.shape
        for r in range(b.shape[0] - 1):
            x, y = level.lo[b[r] : b[r + 1]], level.hi[c[r] : c[r + 1]]
            assert np.all(x[1:] >= x[:-1]) and np.all(y[1:] >= y[:-1])  # (np.diff would overflow at the ALWAYS edges)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, N_SUBS - 1), st.integers(-60, 60), st.integers(0, 40)), min_size=1, max_size=500),
       st.integers(1, 4), st.integers(1, 9), st.integers(1, 3))
def test_queries_between_merge_steps_see_every_level(ops, pending, step, every):
    """Random bands (ALWAYS ones included) re-stamped at random, queries at random prices, merge
    steps of a few entries (so that merges span many queries, appends and new runs), now and then
    a whole fold or every merge finished (``every``: a settle steps at every, second or third call):
    every query returns exactly the live bands its price leaves, and the live entries are exactly the bands."""
    old = (SlackIndex._MIN_PENDING, SlackIndex.STEP, SlackIndex.STEP_EVERY, slack_index.DEAD_SCAN)
    # merges for dead entries too
    SlackIndex._MIN_PENDING, SlackIndex.STEP, SlackIndex.STEP_EVERY, slack_index.DEAD_SCAN = pending, step, every, 1
    try:
        idx = SlackIndex()
        idx.ensure(1)
        stamp = np.zeros(N_SUBS, dtype=np.int64)
        seen = np.zeros(N_SUBS, dtype=np.int64)
        band: dict[int, tuple[int, int]] = {}
        nxt = 1
        idx.build(0, *(np.zeros(0, dtype=np.int64) for _ in range(4)))
        for k, (op, s, centre, width) in enumerate(ops):
            if op <= 2:  # sub-account s gets a new band (width 0 now and then: ALWAYS)
                lo, hi = (_I64_MAX, _I64_MIN) if width == 0 else (centre - width, centre + width)
                stamp[s] = nxt
                band[s] = (lo, hi)
                idx.append(0, lo, hi, s, nxt, stamp)
                nxt += 1
            elif op == 3:  # a query at ``centre``; the triggered ones get new bands around it, then the kill
                got = idx.triggered(0, centre, stamp, seen, k + 1)
                assert got.tolist() == sorted(t for t, (lo, hi) in band.items() if centre < lo or centre > hi), k
                for t in got.tolist():
                    stamp[t] = nxt
                    band[t] = (centre - width - 1, centre + width + 1)
                    nxt += 1
                idx.kill_hits(stamp)
                for t in got.tolist():
                    idx.append(0, *band[t], t, stamp[t], stamp)
            elif op == 4:
                idx.step(stamp)
            elif s % 7 == 0:
                idx.compact(0, stamp)
            elif s % 7 == 1:
                idx.finish(stamp)
            _sorted_runs(idx, 0)
            lo, hi, subs, _ = idx.live_entries(0, stamp)
            assert subs.tolist() == sorted(band)
            assert {int(x): (int(a), int(b)) for x, a, b in zip(subs, lo, hi, strict=True)} == band
        assert idx.size(0) >= len(band)
    finally:
        SlackIndex._MIN_PENDING, SlackIndex.STEP, SlackIndex.STEP_EVERY, slack_index.DEAD_SCAN = old


def test_merges_span_many_steps_and_finish():
    """With steps of 16 entries, a merge is in progress across many appends and queries; it ends with
    every live entry in the big level and none of the dead ones it met."""
    old = (SlackIndex._MIN_PENDING, SlackIndex.STEP)
    SlackIndex._MIN_PENDING, SlackIndex.STEP = 4, 16
    try:
        idx = SlackIndex()
        idx.ensure(1)
        stamp = np.zeros(200, dtype=np.int64)
        seen = np.zeros(200, dtype=np.int64)
        s = np.arange(100, dtype=np.int64)
        stamp[:100] = 1
        idx.build(0, s * 10 - 5, s * 10 + 5, s, np.ones(100, dtype=np.int64))
        in_progress = 0
        for k in range(300):
            t = 100 + k % 100
            stamp[t] = k + 2
            idx.append(0, k, k + 3, t, k + 2, stamp)
            in_progress += idx._job[0] is not None
            got = idx.triggered(0, 500, stamp, seen, k + 1)
            want = [x for x in range(100) if not (x * 10 - 5 <= 500 <= x * 10 + 5)]
            want += [x for x in range(100, 200) if stamp[x] and not (stamp[x] - 2 <= 500 <= stamp[x] + 1)]
            assert got.tolist() == sorted(want)
        assert in_progress > 100 and idx.merges > 0 and idx.forced == 0 and idx.folds == 0
        idx.finish(stamp)
        assert idx._job[0] is None and idx._merging[0].n == 0
        assert idx._big[0].n <= 200  # a merge keeps one entry a sub-account at most: the dead ones it met are dropped
    finally:
        SlackIndex._MIN_PENDING, SlackIndex.STEP = old


def test_settle_steps_every_step_every_th_call_with_their_budget():
    """A merge in progress advances at every ``STEP_EVERY``-th settle only, by ``STEP_EVERY·STEP``
    entries per sorted copy: the same throughput as a step at each, on fewer events."""
    old = (SlackIndex.STEP, SlackIndex.STEP_EVERY)
    SlackIndex.STEP, SlackIndex.STEP_EVERY = 5, 3
    try:
        idx = SlackIndex()
        idx.ensure(1)
        s = np.arange(100, dtype=np.int64)
        stamp = np.ones(100, dtype=np.int64)
        idx.build(0, s, s + 1, s, stamp.copy())
        idx._start(0, stamp)  # the big level against an empty middle: 100 entries to merge
        merged = []
        for _ in range(9):
            idx.settle(slack_index._NO_OVERFLOW, stamp)
            merged.append(idx.merged)
        assert merged == [0, 0, 15, 15, 15, 30, 30, 30, 45]
    finally:
        SlackIndex.STEP, SlackIndex.STEP_EVERY = old


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-20, 20), st.integers(0, 9), st.booleans()), max_size=60),
       st.lists(st.tuples(st.integers(-20, 20), st.integers(0, 9), st.booleans()), max_size=60),
       st.lists(st.integers(1, 7), min_size=1, max_size=40))
def test_the_resumable_merge_equals_its_plain_python_twin(a, b, budgets):
    """``_merge_step`` compiled, in steps of random budgets, against its plain-Python twin in one
    step and a sorted reference: the live entries of both runs in key order, ``a``'s first at
    equal keys."""
    live_stamp = np.arange(10, dtype=np.int64) + 100

    def run(rows):
        rows = sorted(rows, key=lambda r: r[0])
        key = np.array([r[0] for r in rows], dtype=np.int64)
        sub = np.array([r[1] for r in rows], dtype=np.int64)
        t = np.array([100 + r[1] if r[2] else -1 if r[1] % 2 else 5 for r in rows], dtype=np.int64)
        return key, sub, t, key * 3 + 1

    ra, rb = run(a), run(b)
    m = len(a) + len(b)
    outs = []
    for fn, steps in ((_merge_step, budgets), (_merge_step.py_func, [m + 1])):
        o = [np.empty(m, dtype=np.int64) for _ in range(4)]
        cur = np.zeros(3, dtype=np.int64)
        k = 0
        while cur[0] < len(a) or cur[1] < len(b):
            used = fn(*ra, *rb, *o, cur, steps[k % len(steps)], live_stamp)
            assert 0 < used <= steps[k % len(steps)]
            k += 1
        outs.append([c[: cur[2]].tolist() for c in o])
    want = [(x, s, t, o) for x, s, t, o in zip(*(c.tolist() for c in ra), strict=True) if t >= 0 and t == 100 + s]
    want += [(x, s, t, o) for x, s, t, o in zip(*(c.tolist() for c in rb), strict=True) if t >= 0 and t == 100 + s]
    want.sort(key=lambda r: r[0])  # stable: a's first at equal keys
    assert outs[0] == outs[1] == [[r[c] for r in want] for c in range(4)]


def test_an_entry_that_dies_between_the_two_copies_passes():
    """The merge's pass by ``lo`` copies an entry while it is live; it dies before the pass by
    ``hi`` reaches it, which drops it: the two copies of the result differ in length, and the
    queries and the next merges still see every live entry once."""
    old = (SlackIndex._MIN_PENDING, SlackIndex.STEP)
    SlackIndex._MIN_PENDING, SlackIndex.STEP = 4, 10
    try:
        idx = SlackIndex()
        idx.ensure(1)
        s = np.arange(100, dtype=np.int64)
        stamp = np.ones(100, dtype=np.int64)
        seen = np.zeros(100, dtype=np.int64)
        idx.build(0, s, 1000 - s, s, stamp.copy())  # nested bands: the copy by lo in sub-account order, by hi reversed
        idx._start(0, stamp)
        idx.step(stamp)  # by lo: sub-accounts 0…9 copied; by hi: 99…90
        stamp[5] = 2
        idx.append(0, 500, 501, 5, 2, stamp)
        idx.finish(stamp)
        big = idx._big[0]
        assert big.bounds[-1] == 100 and big.bounds_hi[-1] == 99  # the dead entry of 5 kept by lo only
        assert idx.triggered(0, 50, stamp, seen, 1).tolist() == [5, *range(51, 100)]
        idx.compact(0, stamp)
        lo, hi, subs, _ = idx.live_entries(0, stamp)
        assert subs.tolist() == list(range(100)) and (lo[5], hi[5]) == (500, 501)
    finally:
        SlackIndex._MIN_PENDING, SlackIndex.STEP = old
