"""The journaled node on SQLite and PostgreSQL: replay, snapshots, corrupt rows, and a kill -9 crash test."""

from __future__ import annotations

import decimal
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.errors import EventFailed, JournalCorrupt, RampartsError
from ramparts.journal import JournalRecord, open_journal
from test_properties import _fuzz_events, build

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
HERE = Path(__file__).parent


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def _drop_pg(namespace: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def journal_url(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "journal.sqlite"), "ramparts"
        return
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    ns = f"t_{uuid.uuid4().hex[:12]}"
    yield PG_URL, ns
    _drop_pg(ns)


def stream(seed: int, n: int):
    _, setup = build()
    yield from setup
    yield from _fuzz_events(seed, n)


def test_replay_reproduces_the_state_hash(journal_url):
    url, ns = journal_url
    node = Node(open_journal(url, namespace=ns), snapshot_every=150)
    outcomes = node.submit_batch(list(stream(1, 600)))
    assert sum(o.accepted for o in outcomes) > 300
    live = node.engine.state_hash()
    node.close()
    with open_journal(url, namespace=ns) as j:
        assert j.latest_snapshot() is not None
        assert replay(j).state_hash() == live
        assert replay(j, use_snapshot=False).state_hash() == live


def test_rejected_events_are_not_journaled(journal_url):
    url, ns = journal_url
    node = Node(open_journal(url, namespace=ns))
    events = list(stream(2, 200))
    accepted = 0
    for e in events:
        try:
            node.submit(e)
            accepted += 1
        except RampartsError:
            pass
    assert node.journal.last_seq() == accepted == node.engine.seq
    node.close()


def test_a_corrupt_row_is_reported(tmp_path):
    url = str(tmp_path / "j.sqlite")
    node = Node(open_journal(url))
    node.submit_batch(list(stream(3, 50)))
    seq = node.engine.seq
    node.journal.append([JournalRecord(seq + 1, 10**18, "Tick", '{"kind":"Tick","ts":"soon"}', "[]")])
    node.close()
    with open_journal(url) as j, pytest.raises(JournalCorrupt, match=str(seq + 1)):
        replay(j)


def test_effects_are_verified_on_replay(tmp_path):
    url = str(tmp_path / "j.sqlite")
    node = Node(open_journal(url))
    node.submit_batch(list(stream(4, 50)))
    seq = node.engine.seq
    node.journal.append([JournalRecord(seq + 1, 10**18, "Tick", '{"kind":"Tick","liquidator":"keeper","ts":1000000000000000000}', '[{"kind":"Forged"}]')])
    node.close()
    with open_journal(url) as j, pytest.raises(JournalCorrupt, match="effects"):
        replay(j)


@pytest.mark.slow
def test_kill_minus_nine_loses_no_acknowledged_event(journal_url):
    url, ns = journal_url
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(HERE / "crash_writer.py"), url, ns, "5"], stdout=subprocess.PIPE, env=env, text=True)
    acked = 0
    try:
        for line in proc.stdout:
            acked = int(line)
            if acked >= 400:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert acked >= 400
    with open_journal(url, namespace=ns) as j:
        recovered = replay(j)
    assert recovered.seq >= acked  # every acknowledged event survived
    # the recovered state is exactly the state after the same prefix of the stream
    fresh = Engine()
    for event in stream(5, 100_000):
        if fresh.seq == recovered.seq:
            break
        try:
            fresh.apply(event)
        except RampartsError:
            pass
    assert fresh.state_hash() == recovered.state_hash()


@pytest.mark.parametrize("form", ["json", "container"])
def test_a_snapshot_from_another_engine_version_is_skipped_and_the_journal_replayed(tmp_path, form):
    import json
    import zlib

    from ramparts.engine import events as ev
    from ramparts.engine import snapshot
    from ramparts.engine.engine import STATE_VERSION, snapshot_version
    from ramparts.engine.presets import genesis, perpetual

    node = Node.open(str(tmp_path / "v.sqlite"))
    node.submit(genesis(ts=0))
    node.submit(perpetual(ts=0))
    node.submit(ev.OpenSubAccount(ts=0, subaccount="a/main"))
    node.submit(ev.Deposit(ts=1, subaccount="a/main", asset="USDC", amount="10"))
    expected = node.engine.state_hash()
    if form == "json":  # what a release before the container wrote: the canonical state itself
        old = json.loads(node.engine.canonical_state())
        old["version"] = STATE_VERSION - 1  # what an older release would have written
        blob = zlib.compress(json.dumps(old).encode())
    else:
        _, state, arrays = snapshot.unpack(node.engine.snapshot())
        state["version"] = STATE_VERSION - 1
        blob = snapshot.pack("0" * 64, state, arrays)
    assert snapshot_version(blob) == STATE_VERSION - 1
    node.journal.save_snapshot(node.engine.seq, "0" * 64, blob)
    node.close()
    with open_journal(str(tmp_path / "v.sqlite")) as j:
        assert replay(j).state_hash() == expected


@pytest.mark.parametrize("tamper", ["hash", "balance", "position"])
def test_a_snapshot_that_is_not_the_journaled_state_is_corrupt(tmp_path, tamper):
    """A restart checks the snapshot's bytes against the state hash journaled with it (not a hash rebuilt from the
    restored engine): a snapshot altered after it was written, or stored under another hash, is refused."""
    import json
    import zlib

    from ramparts.engine.events import canonical_json
    from ramparts.engine.presets import genesis, perpetual

    node = Node.open(str(tmp_path / "v.sqlite"))
    node.submit_batch([genesis(ts=0), perpetual(ts=0), ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000"),
                       ev.OpenSubAccount(ts=0, subaccount="a/main"), ev.OpenSubAccount(ts=0, subaccount="b/main"),
                       ev.Deposit(ts=1, subaccount="a/main", asset="USDC", amount="10000"),
                       ev.Deposit(ts=1, subaccount="b/main", asset="USDC", amount="10000"),
                       ev.Fill(ts=2, instrument="BTC-PERP", buyer="a/main", seller="b/main", price="50000", size="0.01")])
    d = json.loads(node.engine.canonical_state())
    assert canonical_json(d).encode() == node.engine.canonical_state()  # re-encoded, only the tampered field differs
    h = node.engine.state_hash()
    if tamper == "hash":
        blob, h = node.engine.snapshot(), "f" * 64
    else:
        if tamper == "balance":  # moved between two sub-accounts: still a balanced ledger, the same JSON shape
            rows = [r for r in d["ledger"] if isinstance(r[1], int)]
            rows[0][2] += 1
            rows[1][2] -= 1
        else:
            d["positions"][0][2] += 1
        blob = zlib.compress(canonical_json(d).encode())
    node.journal.save_snapshot(node.engine.seq, h, blob)
    node.close()
    with open_journal(str(tmp_path / "v.sqlite")) as j, pytest.raises(JournalCorrupt, match="snapshot at seq 8"):
        replay(j)
    with open_journal(str(tmp_path / "v.sqlite")) as j:  # without the snapshot, the journal itself still replays
        assert replay(j, use_snapshot=False).state_hash() == node.engine.state_hash()


# ------------------------------------------------------------------------------------------------ atomicity
# Issue: an exception that is not a RampartsError (decimal.Overflow, OverflowError, a bug) raised while an event
# was applied left the events applied before it in memory but not in the journal. Whatever the exception, the
# engine must equal the journal's replay afterwards, and the other events of the batch must be unaffected.

#: engine internals that run after an event has started to change the state, where a defect is injected
HOOKS = ["trade", "realise", "_remargin", "_realise_market", "margin_calls", "_refresh_slot"]
EXCEPTIONS = [ZeroDivisionError, OverflowError, decimal.Overflow, MemoryError, RuntimeError, KeyError, AssertionError]


def _armed(hook: str, exc: type[BaseException], nth: int):
    """``Engine.<hook>`` that, on its ``nth`` call, raises ``exc`` after doing its work (the state has changed)."""
    original = getattr(Engine, hook)
    calls = [0]

    def wrapper(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == nth:
            raise exc("injected")
        return out

    return patch.object(Engine, hook, wrapper), calls


def _replayed(node: Node) -> Engine:
    return replay(node.journal)


def _funded(tmp_path, seed: int) -> Node:
    """A node over the fuzz venue with a/x and b/x well funded."""
    node = Node(open_journal(str(tmp_path / "j.sqlite")))
    node.submit_batch(list(stream(seed, 40)))
    t = node.engine.time_ns
    node.submit_batch([ev.Deposit(ts=t, subaccount=s, asset="USDC", amount="100000") for s in ("a/x", "b/x")])
    return node


def _fill_at_mark(node: Node) -> ev.Fill:
    e = node.engine
    instr = e.instrument("BTC-PERP")
    price = (instr.price(e.markets[instr.index].mark) / instr.tick_size).to_integral_value() * instr.tick_size
    return ev.Fill(ts=e.time_ns, instrument="BTC-PERP", buyer="a/x", seller="b/x", price=str(price), size="0.001")


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(seed=st.integers(0, 10**6), hook=st.sampled_from(HOOKS), exc=st.sampled_from(EXCEPTIONS),
       nth=st.integers(1, 30), split=st.integers(20, 100))
def test_an_exception_of_any_kind_mid_batch_leaves_memory_equal_to_the_journal(tmp_path_factory, seed, hook, exc, nth, split):
    """One event at a time (a defect inside a run of the compiled gear: ``tests/test_event_runs.py``)."""
    tmp = tmp_path_factory.mktemp("atomic")
    events = list(stream(seed, 150))
    first, batch = events[:split], events[split:]
    node = Node(open_journal(str(tmp / "j.sqlite")))
    node.runs = False  # the injected fault fires once, at the nth call: a run's retry event by event would not meet it
    node.submit_batch(first)
    armed, calls = _armed(hook, exc, nth)
    with armed:
        outcomes = node.submit_batch(batch)
    failed = {i for i, o in enumerate(outcomes) if isinstance(o.error, EventFailed)}
    assert len(failed) == (1 if calls[0] >= nth else 0)
    for i in failed:
        assert exc.__name__ in outcomes[i].error.message and outcomes[i].seq is None
    # memory is exactly the journal's replay: nothing unjournaled was left behind
    assert node.engine.state_hash() == _replayed(node).state_hash() and node.journal.last_seq() == node.engine.seq
    # the rest of the batch did what it would have done had the failed event never been sent
    ref = Node(open_journal(str(tmp / "ref.sqlite")))
    ref.submit_batch(first)
    expected = iter(ref.submit_batch([e for i, e in enumerate(batch) if i not in failed]))
    for i, o in enumerate(outcomes):
        if i not in failed:
            r = next(expected)
            assert (o.seq, o.effects, type(o.error)) == (r.seq, r.effects, type(r.error))
    assert ref.engine.state_hash() == node.engine.state_hash()
    # and the node goes on
    node.submit(ev.Tick(ts=node.engine.time_ns))
    assert node.engine.state_hash() == _replayed(node).state_hash()
    node.close()
    ref.close()


@pytest.mark.parametrize("exc", [OverflowError, decimal.Overflow, MemoryError, RuntimeError])
def test_submit_raises_event_failed_and_keeps_nothing(tmp_path, exc):
    node = _funded(tmp_path, 7)
    before = node.engine.state_hash()
    armed, _ = _armed("trade", exc, 1)  # the buyer's side is booked, then the defect
    with armed, pytest.raises(EventFailed) as info:
        node.submit(_fill_at_mark(node))
    assert info.value.cause == exc.__name__
    assert node.engine.state_hash() == before == _replayed(node).state_hash()
    node.submit(ev.Tick(ts=node.engine.time_ns))  # the node goes on
    assert node.journal.last_seq() == node.engine.seq


def test_an_interrupt_mid_event_discards_memory_and_the_next_read_rebuilds_it(tmp_path):
    node = _funded(tmp_path, 8)
    before = node.engine.state_hash()
    armed, _ = _armed("realise", KeyboardInterrupt, 1)
    with armed, pytest.raises(KeyboardInterrupt):
        node.submit_batch([ev.Deposit(ts=node.engine.time_ns, subaccount="a/x", asset="USDC", amount="5"), _fill_at_mark(node)])
    assert node.engine.state_hash() == before == _replayed(node).state_hash()


def test_when_the_rebuild_fails_too_the_engine_is_rebuilt_at_its_next_access(tmp_path, monkeypatch):
    import ramparts.engine.node as node_module
    from ramparts.journal import JournalUnavailable

    node = _funded(tmp_path, 9)
    before = node.engine.state_hash()
    real_replay = node_module.replay

    def down(*a, **k):
        raise JournalUnavailable("the journal is down")

    monkeypatch.setattr(node.journal, "append", down)
    monkeypatch.setattr(node_module, "replay", down)
    with pytest.raises(JournalUnavailable):
        node.submit(ev.Deposit(ts=node.engine.time_ns, subaccount="a/x", asset="USDC", amount="5"))
    with pytest.raises(JournalUnavailable):  # memory ran ahead of the journal: it is not served while it cannot be rebuilt
        node.engine  # noqa: B018
    monkeypatch.setattr(node_module, "replay", real_replay)
    assert node.engine.state_hash() == before


def test_a_frozen_heap_lets_the_engine_a_failure_discards_be_collected(tmp_path):
    """``freeze_heap`` (``ramparts serve`` after its recovery) takes the engine out of the collector's passes; the
    engine a failure then discards holds reference cycles, so the rebuild hands the heap back to the collector, which
    frees that engine once the failure is handled."""
    import gc
    import logging
    import weakref

    from ramparts.engine.node import freeze_heap

    node = _funded(tmp_path, 10)
    before = node.engine.state_hash()
    old = weakref.ref(node.engine)
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 0
        armed, _ = _armed("trade", RuntimeError, 1)
        logging.disable(logging.ERROR)  # (a captured log record would keep the failure's frames, and so the engine)
        try:
            with armed, pytest.raises(EventFailed):
                node.submit(_fill_at_mark(node))
        finally:
            logging.disable(logging.NOTSET)
        assert node.engine.state_hash() == before
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert old() is None  # the discarded engine was collected, not kept frozen
    finally:
        gc.unfreeze()
