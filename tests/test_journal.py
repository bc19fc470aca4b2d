"""Journal stores on SQLite and PostgreSQL: round trip, contiguity, atomic batches, gaps, corrupt rows."""

from __future__ import annotations

import sqlite3

import pytest

from ramparts.errors import InvalidInput, JournalCorrupt
from ramparts.journal import JournalRecord, open_journal
from test_node import journal_url  # noqa: F401  (the sqlite/postgres fixture)


def recs(a, b):
    return [JournalRecord(i, i * 10, "Tick", f'{{"i":{i}}}', "[]") for i in range(a, b)]


def test_round_trip_and_reopen(journal_url):  # noqa: F811
    url, ns = journal_url
    with open_journal(url, namespace=ns) as j:
        j.append(recs(1, 101))
        j.append(recs(101, 151))
        assert j.last_seq() == 150
        assert list(j.read(batch=7)) == recs(1, 151)
        assert list(j.read(from_seq=140, to_seq=145)) == recs(140, 146)
        j.save_snapshot(100, "h100", b"x" * 10)
        j.save_snapshot(140, "h140", b"y")
    with open_journal(url, namespace=ns) as j:
        assert j.last_seq() == 150
        assert j.latest_snapshot() == (140, "h140", b"y")
        assert j.latest_snapshot(120) == (100, "h100", b"x" * 10)
        assert j.latest_snapshot(50) is None


@pytest.mark.parametrize("bad", [recs(2, 4), recs(1, 2) + recs(3, 4), [JournalRecord(1, "t", "Tick", "{}", "[]")]])
def test_non_contiguous_or_malformed_batches_write_nothing(journal_url, bad):  # noqa: F811
    url, ns = journal_url
    with open_journal(url, namespace=ns) as j:
        with pytest.raises(InvalidInput):
            j.append(bad)
        assert j.last_seq() == 0


def test_sqlite_is_in_wal_mode_and_detects_gaps_and_junk(tmp_path):
    path = str(tmp_path / "j.sqlite")
    with open_journal(path) as j:
        assert j.journal_mode() == "wal"
        j.append(recs(1, 11))
    db = sqlite3.connect(path)
    db.execute("DELETE FROM journal WHERE seq = 5")
    db.commit()
    with open_journal(path) as j, pytest.raises(JournalCorrupt, match="seq 5 is missing"):
        list(j.read())
    db.execute("INSERT INTO journal VALUES(5, 'not a time', 'Tick', '{}', '[]')")
    db.commit()
    db.close()
    with open_journal(path) as j, pytest.raises(JournalCorrupt, match="5"):
        list(j.read())


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(InvalidInput, match="scheme"):
        open_journal("mysql://x")
