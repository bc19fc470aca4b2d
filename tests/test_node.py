"""The journaled node on SQLite and PostgreSQL: replay, snapshots, corrupt rows, and a kill -9 crash test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ramparts.engine import Engine
from ramparts.engine.node import Node, replay
from ramparts.errors import JournalCorrupt, RampartsError
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


def test_a_snapshot_from_another_engine_version_is_skipped_and_the_journal_replayed(tmp_path):
    import json
    import zlib

    from ramparts.engine import events as ev
    from ramparts.engine.engine import STATE_VERSION
    from ramparts.engine.presets import genesis, perpetual

    node = Node.open(str(tmp_path / "v.sqlite"))
    node.submit(genesis(ts=0))
    node.submit(perpetual(ts=0))
    node.submit(ev.OpenSubAccount(ts=0, subaccount="a/main"))
    node.submit(ev.Deposit(ts=1, subaccount="a/main", asset="USDC", amount="10"))
    expected = node.engine.state_hash()
    old = json.loads(zlib.decompress(node.engine.snapshot()))
    old["version"] = STATE_VERSION - 1  # what an older release would have written
    node.journal.save_snapshot(node.engine.seq, "0" * 64, zlib.compress(json.dumps(old).encode()))
    node.close()
    with open_journal(str(tmp_path / "v.sqlite")) as j:
        assert replay(j).state_hash() == expected
