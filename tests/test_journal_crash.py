"""Crash tests of the journal stores: SIGKILL a writer mid-stream and check that no acknowledged record is lost.

A writer subprocess (``tests/journal_crash_writer.py``) appends deterministic records and prints
each seq only after ``append`` returned: one record per append with durability ``"full"`` (the
engine's path), batches of 1..40 records with ``"full"``, and one record per append with
``"normal"`` (which is documented to survive a process crash too). The test reads a few
hundred acknowledgements, kills the writer with SIGKILL while it is appending, reopens the journal
and checks that

* every acknowledged seq is present, the journal is contiguous from 1, and every record is intact
  (byte-for-byte the record the writer built for that seq);
* at most the one in-flight append beyond the last acknowledgement survived (the acknowledgements
  the writer printed but the test had not read yet when it killed the writer are collected after
  the kill); in ``batches`` mode
  the recovered journal ends exactly at a batch boundary (no torn transaction);
* the recovered journal accepts the next append.

Both backends: SQLite in ``tmp_path`` and PostgreSQL (``@pytest.mark.postgres``; a unique schema per
test, dropped afterwards; skipped with a reason when the server is unreachable).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from journal_crash_writer import batch_ends, record_for
from ramparts.journal import open_journal

HERE = Path(__file__).parent
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
ACKS = 300


def _pg_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__})"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path):
    """``(url, namespace)`` of an empty journal on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "crash.sqlite"), "ramparts"
        return
    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    ns = f"t_crash_{uuid.uuid4().hex[:12]}"
    yield PG_URL, ns
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{ns}" CASCADE')


@pytest.mark.parametrize("mode, durability", [("single", "full"), ("batches", "full"), ("single", "normal")])
def test_sigkill_loses_no_acknowledged_record(target, mode, durability, tmp_path):
    url, ns = target
    stderr_path = tmp_path / "writer.stderr"
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "journal_crash_writer.py"), url, ns, mode, durability],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite on a stuck writer
    watchdog.start()
    acked: list[int] = []
    try:
        for line in proc.stdout:
            acked.append(int(line))
            if len(acked) >= ACKS:
                break
    finally:
        proc.send_signal(signal.SIGKILL)  # the writer is in the middle of its next append
        proc.wait(timeout=30)
        watchdog.cancel()
        # the writer runs ahead of this reader: collect what it acknowledged before it died
        tail = proc.stdout.read()
        proc.stdout.close()
    acked += [int(line) for line in tail.splitlines(keepends=True) if line.endswith("\n")]
    err = stderr_path.read_text()
    assert len(acked) >= ACKS, f"writer stopped early: {err}"
    assert proc.returncode == -signal.SIGKILL
    last_ack = acked[-1]
    assert acked == sorted(acked)

    with open_journal(url, namespace=ns) as journal:
        recovered = list(journal.read(batch=97))
        last = journal.last_seq()
        assert [r.seq for r in recovered] == list(range(1, last + 1))  # contiguous from 1
        assert last >= last_ack  # every acknowledged record survived ...
        for rec in recovered:
            assert rec == record_for(rec.seq)  # ... intact
        if mode == "single":
            assert acked == list(range(1, last_ack + 1))
            assert last - last_ack <= 1  # at most the one append in flight
        else:
            ends = batch_ends(last + 40)
            assert set(acked) <= ends
            assert last in ends  # no torn batch
            assert last == last_ack or min(e for e in ends if e > last_ack) == last
        journal.append([record_for(last + 1)])  # the journal is writable after the crash
        assert journal.last_seq() == last + 1
