"""The instrument-major slot layout of the position book: ``PositionBook.compact`` and ``bulk_open``.

Slot numbers are internal: compacting a book renumbers them so that each instrument's holders are
one contiguous run (what an oracle tick reads), and must change nothing else. Checked here on the
book alone (against a dictionary model, through opens, closes, batched opens and compactions in
any order) and on whole engines: the same events with and without compactions in between give
the same effects after every event and the same state hash, through every layer (the seeded fuzz
of ``test_integration_fuzz``) and through batch mode; replay and snapshots leave the book laid out.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import test_integration_fuzz as fuzz
import test_trade_batch as tb
from ramparts.engine import Engine, node
from ramparts.engine.node import Node, replay
from ramparts.engine.positions import PositionBook
from ramparts.errors import RampartsError
from ramparts.journal import open_journal

FIELDS = ("lots", "cost", "entry", "value", "mm", "im")


def contents(b: PositionBook) -> dict[tuple[int, int], tuple[int, ...]]:
    """Every position by (sub-account, instrument), with all its columns: what must survive a renumbering."""
    out = {}
    for (sub, instr), slot in b._slot.items():
        assert (int(b.sub[slot]), int(b.instr[slot])) == (sub, instr)
        out[(sub, instr)] = tuple(int(getattr(b, f)[slot]) for f in FIELDS)
    return out


def check_indices(b: PositionBook) -> None:
    """Chains, per-sub-account and per-instrument indices agree with the slot map."""
    live = set(b._slot.values())
    assert len(live) == len(b._slot)
    assert live.isdisjoint(b._free) and live | set(b._free) == set(range(b._next))
    for sub in range(b.head.shape[0]):
        chain, p = [], int(b.head[sub])
        while p >= 0:
            chain.append(p)
            p = int(b.next[p])
        assert sorted(chain) == sorted(s for _, s in b.positions_of(sub))
        assert all(int(b.sub[p]) == sub for p in chain)
    for instr, slots in b._by_instr.items():
        assert slots == {s for (_, i), s in b._slot.items() if i == instr}
        h = b.holders(instr)
        assert sorted(h.tolist()) == sorted(slots) and np.all(np.diff(b.sub[h]) > 0)


def is_instrument_major(b: PositionBook) -> bool:
    """No free slot, and every instrument's holders one contiguous run in sub-account order."""
    order = [(int(b.instr[s]), int(b.sub[s])) for s in range(b._next)]
    return not b._free and b._next == len(b) and order == sorted(order) and all(
        np.array_equal(h, np.arange(h[0], h[0] + h.size)) for h in map(b.holders, b.instruments_held()))


def assert_instrument_major(b: PositionBook) -> None:
    assert is_instrument_major(b)


# ------------------------------------------------------------------------------- the book alone
op = st.one_of(
    st.tuples(st.just("open"), st.integers(0, 9), st.integers(0, 5)),
    st.tuples(st.just("close"), st.integers(0, 60)),
    st.tuples(st.just("many"), st.sets(st.tuples(st.integers(0, 12), st.integers(0, 5)), max_size=8)),
    st.tuples(st.just("compact")),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(op, max_size=80))
def test_compaction_renumbers_slots_and_changes_nothing_else(ops):
    """Against a dictionary model of the positions: opens (one and many), closes and compactions
    in any order keep every position's columns; a compaction lays the book out instrument-major
    and returns the old → new slot map; the book goes on working afterwards."""
    b = PositionBook(capacity=4)
    model: dict[tuple[int, int], tuple[int, ...]] = {}
    stamp = 0
    for o in ops:
        if o[0] == "open":
            key = (o[1], o[2])
            slot = b.open(*key)
            if key not in model:
                stamp += 1
                for k, f in enumerate(FIELDS):
                    getattr(b, f)[slot] = stamp * 10 + k + 1  # distinct values in every column
                model[key] = tuple(stamp * 10 + k + 1 for k in range(len(FIELDS)))
        elif o[0] == "close":
            if model:
                key = sorted(model)[o[1] % len(model)]
                slot = b.slot(*key)
                for f in FIELDS:
                    getattr(b, f)[slot] = 0
                b.close(slot)
                del model[key]
        elif o[0] == "many":
            new = sorted(k for k in o[1] if k not in model)
            if new:
                slots = b.open_many(np.array([s for s, _ in new]), np.array([i for _, i in new]))
                for key, slot in zip(new, slots.tolist(), strict=True):
                    stamp += 1
                    for k, f in enumerate(FIELDS):
                        getattr(b, f)[slot] = stamp * 10 + k + 1
                    model[key] = tuple(stamp * 10 + k + 1 for k in range(len(FIELDS)))
        else:
            before = dict(b._slot)
            free = list(b._free)
            new_of_old = b.compact()
            assert all(int(new_of_old[s]) == b._slot[key] for key, s in before.items())
            assert all(int(new_of_old[s]) == -1 for s in free)
            assert_instrument_major(b)
            assert b.opened_since_compact == 0
            assert all(int(getattr(b, f)[s]) == 0 for f in FIELDS for s in range(b._next, b.capacity))
        assert contents(b) == model
        check_indices(b)


def test_the_counter_of_scattered_opens():
    b = PositionBook()
    b.open(1, 0)
    b.open_many(np.array([2, 2]), np.array([0, 1]))
    assert b.opened_since_compact == 3
    b.compact()
    assert b.opened_since_compact == 0
    b.open(0, 1)
    assert b.opened_since_compact == 1


@pytest.mark.parametrize("order", ["shuffled", "sorted as a snapshot's rows", "sorted, instruments beyond 16 bits"])
def test_bulk_open_lays_out_instrument_major_whatever_the_input_order(order):
    rng = np.random.default_rng(5)
    top = 70_000 if "beyond" in order else 7
    pairs = sorted({(int(s), int(i)) for s, i in zip(rng.integers(0, 50, 200), rng.integers(0, top, 200), strict=True)})
    if order == "shuffled":
        rng.shuffle(pairs)
    sub = np.array([p[0] for p in pairs], dtype=np.int32)
    instr = np.array([p[1] for p in pairs], dtype=np.int32)
    lots = rng.integers(-1000, 1000, sub.size)
    cost, entry = lots * 7, lots * 9
    b = PositionBook(capacity=4)
    slots = b.bulk_open(sub, instr, lots, cost, entry)
    assert np.array_equal(b.sub[slots], sub) and np.array_equal(b.instr[slots], instr)
    assert np.array_equal(b.lots[slots], lots) and np.array_equal(b.cost[slots], cost) and np.array_equal(b.entry[slots], entry)
    assert_instrument_major(b)
    check_indices(b)
    assert b.opened_since_compact == 0


def test_bulk_open_refuses_duplicates_and_changes_nothing():
    for sub, instr in ((np.array([3, 1, 3]), np.array([2, 0, 2])), (np.array([1, 3, 3]), np.array([0, 2, 2]))):  # shuffled, sorted
        b = PositionBook(capacity=4)
        with pytest.raises(ValueError, match="duplicate"):
            b.bulk_open(sub, instr, np.ones(3, dtype=np.int64), np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64))
        assert len(b) == 0 and b._next == 0 and not b.lots.any() and not b.sub.any()


# ------------------------------------------------------------------------------- whole engines
def _apply(e: Engine, x) -> list[dict] | str:
    try:
        return e.apply(x)
    except RampartsError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("seed", [1, 2])
def test_compacting_mid_stream_changes_no_effect_and_no_state(seed):
    """The fuzz over every layer (perpetuals, options, portfolio and isolated sub-accounts,
    collateral, liquidations, ADL and the rest), once as it is and once with the book compacted
    every few events: the same effects after every event, the same caches as a restore, the same
    state hash."""
    plain, _ = fuzz._venue()
    packed, _ = fuzz._venue()
    rng = np.random.default_rng(seed)
    compactions = 0
    for k, x in enumerate(fuzz._events(seed, 600)):
        assert _apply(plain, x) == _apply(packed, x), k
        if rng.random() < 0.08:
            compactions += packed.compact_positions()
            assert_instrument_major(packed.book)
        if k % 150 == 149:
            assert packed.state_hash() == plain.state_hash()
            fuzz._caches_match_a_restore(packed)
    assert compactions > 10
    assert packed.state_hash() == plain.state_hash()
    check_indices(packed.book)


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.lists(tb.item, min_size=1, max_size=25), min_size=2, max_size=4), portfolio=st.booleans())
def test_batches_after_a_compaction_do_what_they_did_before(batches, portfolio):
    """Batch mode walks the slot chains in compiled code: the same batches, with and without a
    compaction before each, leave the same effects and states."""
    setup = tb.setup_events(ema=False, option=False, premium=False, breakers=False, portfolio=portfolio, max_age=False,
                            deposits=[50_000, 50_000, 20_000, 5_000, 20_000, 50_000])  # fmt: skip
    plain, packed = tb.engine_of(setup), tb.engine_of(setup)
    t = 0
    for items in batches:
        batch = tb.build_batch(items)
        shift = t - batch.time[0] + 1 if batch.time[0] <= t else 0  # each batch after the last
        batch = batch.model_copy(update={"time": [x + shift for x in batch.time], "ts": batch.ts + shift})
        t = batch.ts
        packed.compact_positions()
        assert _apply(plain, batch) == _apply(packed, batch)
    assert tb.comparable(plain) == tb.comparable(packed)
    assert plain.state_hash() == packed.state_hash()


def test_restore_and_replay_lay_the_book_out_and_snapshots_relay_it(tmp_path, monkeypatch):
    monkeypatch.setattr(node, "COMPACT_MIN_OPENED", 8)
    url = f"sqlite:///{tmp_path / 'j.db'}"
    n = Node(open_journal(url), Engine())
    for x in fuzz._venue()[1]:
        n.submit(x)
    accepted = 0
    for x in fuzz._events(3, 400):
        try:
            n.submit(x)
            accepted += 1
        except RampartsError:
            pass
    e = n.engine
    assert e.book.opened_since_compact > 8 and not is_instrument_major(e.book)  # trading scattered the slots
    live_hash = e.state_hash()
    restored = Engine.restore(e.snapshot())
    assert restored.state_hash() == live_hash
    assert_instrument_major(restored.book)
    replayed = replay(n.journal, use_snapshot=False)
    assert replayed.state_hash() == live_hash
    assert_instrument_major(replayed.book)
    n.take_snapshot()  # more than an eighth of the book (and the threshold) opened since: relaid
    assert_instrument_major(e.book)
    assert e.state_hash() == live_hash
    assert replay(n.journal).state_hash() == live_hash
    n.close()
