"""Journal stores on SQLite and PostgreSQL: round trip, atomic batches, contiguity, gaps, corrupt rows, snapshots.

Every behaviour runs on both backends through the ``backend`` fixture: SQLite in ``tmp_path`` and
PostgreSQL (``@pytest.mark.postgres``) in a schema unique to the test, dropped afterwards; the
PostgreSQL cases are skipped with a reason only when the server is unreachable. Corruption is made
by hand with raw SQL (:meth:`Backend.sql`), outside the store. URL parsing, which is backend-free,
is tested on its own at the end. The crash test lives in ``tests/test_journal_crash.py``.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from ramparts.errors import InvalidInput, JournalCorrupt, RampartsError
from ramparts.journal import (
    JournalNotFound,
    JournalRecord,
    JournalStore,
    JournalUnavailable,
    PostgresJournal,
    SQLiteJournal,
    journal_file,
    open_journal,
)

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__})"


class Backend:
    """One journal location, with raw SQL access for corrupting it by hand."""

    def __init__(self, name: str, url: str, namespace: str, path: str | None = None):
        self.name, self.url, self.ns, self.path = name, url, namespace, path

    def open(self, **kw) -> JournalStore:
        return open_journal(self.url, namespace=kw.pop("namespace", self.ns), **kw)

    def table(self, name: str) -> str:
        return name if self.name == "sqlite" else f'"{self.ns}".{name}'

    def sql(self, *statements: str, params: tuple = ()) -> list[tuple]:
        """Run raw statements (``{j}``, ``{s}``, ``{m}``: the journal, snapshots and meta tables); the last one's rows."""
        names = {"j": self.table("journal"), "s": self.table("snapshots"), "m": self.table("meta"), "ns": self.ns}
        rows: list[tuple] = []
        if self.name == "sqlite":
            db = sqlite3.connect(self.path, isolation_level=None)
            try:
                for stmt in statements:
                    rows = db.execute(stmt.format(**names), params).fetchall()
            finally:
                db.close()
            return rows
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for stmt in statements:
                cur = conn.execute(stmt.format(**names), params or None)
                rows = cur.fetchall() if cur.description else []
        return rows

    def loosen(self) -> None:
        """Drop the journal table's NOT NULL constraints (SQLite: also its column types), to plant junk."""
        if self.name == "sqlite":
            self.sql(
                "ALTER TABLE journal RENAME TO journal_old",
                "CREATE TABLE journal(seq, ts, kind, payload, effects)",
                "INSERT INTO journal SELECT * FROM journal_old",
                "DROP TABLE journal_old",
            )
        else:
            self.sql(*(f"ALTER TABLE {{j}} ALTER COLUMN {c} DROP NOT NULL" for c in ("ts", "kind", "payload", "effects")))


def _make_backend(kind: str, tmp_path: Path):
    if kind == "sqlite":
        path = str(tmp_path / "journal.sqlite")
        yield Backend("sqlite", path, "ramparts", path)
        return
    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    ns = f"t_journal_{uuid.uuid4().hex[:12]}"
    yield Backend("postgres", PG_URL, ns)
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for schema in (ns, f"{ns}_b"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path):
    """Each backend in turn: SQLite in ``tmp_path``, PostgreSQL in a fresh schema (dropped afterwards)."""
    yield from _make_backend(request.param, tmp_path)


@pytest.fixture
def sqlite_backend(tmp_path):
    """SQLite only, for corruptions PostgreSQL's column types cannot represent."""
    yield from _make_backend("sqlite", tmp_path)


@pytest.fixture
def pg_backend(tmp_path):
    """PostgreSQL only, for connection behaviour."""
    yield from _make_backend("postgres", tmp_path)


def rec(i: int, **kw) -> JournalRecord:
    fields = {"seq": i, "ts": 1_700_000_000_000_000_000 + i, "kind": "Fill", "payload": f'{{"i":{i}}}', "effects": "[]"}
    fields.update(kw)
    return JournalRecord(**fields)


def recs(a: int, b: int) -> list[JournalRecord]:
    """Records ``a .. b - 1``."""
    return [rec(i) for i in range(a, b)]


def filled(backend: Backend, n: int) -> None:
    with backend.open() as j:
        j.append(recs(1, n + 1))


# ---------------------------------------------------------------------------------------------
# round trip, reopen, reading


def test_round_trip_and_reopen(backend):
    with backend.open() as j:
        assert isinstance(j, JournalStore)
        assert isinstance(j, SQLiteJournal if backend.name == "sqlite" else PostgresJournal)
        assert j.durability == "full"
        assert j.last_seq() == 0
        assert list(j.read()) == []
        assert j.latest_snapshot() is None
        j.append([rec(1)])
        j.append([])  # a no-op
        j.append(recs(2, 301))  # a COPY-sized batch on PostgreSQL
        j.append(tuple(recs(301, 311)))  # any sequence; a one-statement batch on PostgreSQL
        assert j.last_seq() == 310
        assert list(j.read()) == recs(1, 311)
        j.save_snapshot(300, "h300", b"snap")
    with backend.open(durability="normal") as j:  # reopen after close keeps everything
        assert j.durability == "normal"
        assert j.last_seq() == 310
        assert list(j.read(batch=7)) == recs(1, 311)
        assert j.latest_snapshot() == (300, "h300", b"snap")
        j.append(recs(311, 321))
    with backend.open() as j:
        assert list(j.read(from_seq=305)) == recs(305, 321)


def test_reads_stream_ranges_in_batches(backend):
    filled(backend, 50)
    with backend.open() as j:
        assert list(j.read(from_seq=10, to_seq=20)) == recs(10, 21)
        assert list(j.read(from_seq=10, to_seq=20, batch=1)) == recs(10, 21)
        assert list(j.read(from_seq=10, to_seq=20, batch=11)) == recs(10, 21)  # range is an exact batch
        assert list(j.read(from_seq=50)) == [rec(50)]
        assert list(j.read(from_seq=51)) == []  # past the end: nothing
        assert list(j.read(from_seq=30, to_seq=29)) == []  # empty range
        assert list(j.read(to_seq=1000)) == recs(1, 51)  # a range beyond the end stops at the end
        it = j.read(batch=5)
        assert [next(it).seq for _ in range(12)] == list(range(1, 13))  # lazy, resumable across batches
        j.append(recs(51, 53))
        assert [r.seq for r in it][-1] == 52  # a reader sees rows appended while it streams


def test_text_round_trips_byte_for_byte(backend):
    texts = ['{"name":"é ü 中文 🚀"}', "", " \t\n\\ ' \" ;--", '{"big":"' + "x" * 200_000 + '"}']
    batch = [rec(i + 1, payload=t, effects=t or "[]", kind=f"K{i}é") for i, t in enumerate(texts)]
    with backend.open() as j:
        j.append(batch)
    with backend.open() as j:
        assert list(j.read()) == batch


def test_extreme_integers_round_trip(backend):
    with backend.open() as j:
        j.append([rec(1, ts=0), rec(2, ts=2**63 - 1)])
        assert [r.ts for r in j.read()] == [0, 2**63 - 1]


def test_numpy_integers_are_accepted(backend):
    np = pytest.importorskip("numpy")
    with backend.open() as j:
        j.append([rec(1, ts=np.int64(5))])
        out = list(j.read())
        assert out[0].ts == 5 and type(out[0].ts) is int


# ---------------------------------------------------------------------------------------------
# atomic batches and contiguity


BAD_RECORDS = {
    "ts not an int": rec(5, ts="soon"),
    "ts a float": rec(5, ts=1.0),
    "ts a bool": rec(5, ts=True),
    "ts negative": rec(5, ts=-1),
    "ts beyond int64": rec(5, ts=2**63),
    "kind empty": rec(5, kind=""),
    "kind not a string": rec(5, kind=42),
    "payload bytes": rec(5, payload=b"{}"),
    "payload None": rec(5, payload=None),
    "effects with NUL": rec(5, effects="[\x00]"),
    "payload lone surrogate": rec(5, payload='{"x":"\ud800"}'),
    "seq a float": rec(5, seq=5.0),
    "seq a bool": rec(5, seq=True),
    "not a record": (5, 5, "Fill", "{}", "[]"),
}


@pytest.mark.parametrize("bad", list(BAD_RECORDS.values()), ids=list(BAD_RECORDS))
def test_a_bad_record_in_a_batch_writes_nothing(backend, bad):
    filled(backend, 2)
    with backend.open() as j:
        with pytest.raises(InvalidInput):
            j.append([rec(3), rec(4), bad, rec(6)])
        assert j.last_seq() == 2
        assert list(j.read()) == recs(1, 3)
        j.append(recs(3, 7))  # the journal is unharmed
        assert j.last_seq() == 6


@pytest.mark.parametrize("size", [10, 300], ids=["small", "copy-sized"])
def test_a_batch_failing_inside_the_database_is_rolled_back(backend, size):
    """A batch that passes validation but fails mid-insert (a trigger rejects seq 5) leaves nothing."""
    filled(backend, 0)
    if backend.name == "sqlite":
        backend.sql("CREATE TRIGGER boom BEFORE INSERT ON journal WHEN NEW.seq = 5 BEGIN SELECT RAISE(ABORT, 'boom'); END")
    else:
        backend.sql(
            "CREATE FUNCTION {ns}.boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.seq = 5 THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER boom BEFORE INSERT ON {j} FOR EACH ROW EXECUTE FUNCTION {ns}.boom()",
        )
    with backend.open() as j:
        with pytest.raises(JournalUnavailable, match="boom"):
            j.append(recs(1, size + 1))
        assert j.last_seq() == 0
        assert list(j.read()) == []
        j.append(recs(1, 5))  # the store is usable after the rollback
        assert j.last_seq() == 4


@pytest.mark.parametrize(
    "batch, message",
    [
        (recs(12, 14), "expected 11"),  # starts beyond the end: a gap
        (recs(10, 12), "already exists"),  # starts inside the journal
        (recs(1, 3), "already exists"),
        (recs(11, 13) + recs(14, 15), "expected 13"),  # gap inside the batch
        (recs(11, 13) + recs(12, 13), "expected 13"),  # duplicate inside the batch
        (list(reversed(recs(11, 14))), "expected"),
        (recs(12, 312), "expected 11"),  # COPY-sized batches are checked the same way
        (recs(5, 305), "already exists"),
    ],
)
def test_appends_must_continue_contiguously(backend, batch, message):
    filled(backend, 10)
    with backend.open() as j:
        with pytest.raises(InvalidInput, match=message) as info:
            j.append(batch)
        assert info.value.field == "seq"
        assert j.last_seq() == 10
        assert list(j.read()) == recs(1, 11)


def test_the_first_record_must_be_seq_one(backend):
    with backend.open() as j:
        for bad in ([rec(0)], [rec(2)], [rec(-1)]):
            with pytest.raises(InvalidInput):
                j.append(bad)
        assert j.last_seq() == 0


def test_two_writers_cannot_fork_the_journal(backend):
    with backend.open() as a, backend.open() as b:
        a.append(recs(1, 6))
        with pytest.raises(InvalidInput, match="already exists"):
            b.append(recs(1, 3))  # b's idea of the end is stale: refused, not duplicated
        b.append([rec(6)])
        assert a.last_seq() == 6
        assert list(a.read()) == recs(1, 7)


def test_racing_writers_never_duplicate_or_skip(backend):
    """Writers on their own connections race to append ``last_seq() + 1``; losers are refused cleanly."""
    filled(backend, 0)
    target, wins, errors = 120, [], []

    def writer(k: int) -> None:
        with backend.open() as j:
            while (last := j.last_seq()) < target:
                try:
                    j.append([rec(last + 1, kind=f"W{k}")])
                    wins.append(last + 1)
                except InvalidInput:
                    pass  # lost the race: someone else wrote last + 1
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with backend.open() as j:
        out = list(j.read())
    assert sorted(wins) == [r.seq for r in out] == list(range(1, len(out) + 1))
    assert len(out) >= target
    assert all(r == rec(r.seq, kind=r.kind) for r in out)


def test_append_rejects_non_sequences(backend):
    with backend.open() as j:
        with pytest.raises(InvalidInput, match="single record"):
            j.append(rec(1))
        with pytest.raises(InvalidInput):
            j.append("oops")
        assert j.last_seq() == 0


# ---------------------------------------------------------------------------------------------
# gaps and malformed rows


def test_a_gap_is_reported_naming_the_missing_seq(backend):
    filled(backend, 20)
    backend.sql("DELETE FROM {j} WHERE seq = 7")
    with backend.open() as j:
        with pytest.raises(JournalCorrupt, match="seq 7 is missing"):
            list(j.read())
        with pytest.raises(JournalCorrupt, match="seq 7 is missing"):
            list(j.read(from_seq=5, to_seq=10, batch=2))
        with pytest.raises(JournalCorrupt, match="seq 7 is missing"):
            list(j.read(from_seq=7))
        with pytest.raises(JournalCorrupt, match="seq 7 is missing"):
            list(j.read(from_seq=6, to_seq=7))  # the range ends at the hole; later rows exist
        assert list(j.read(to_seq=6)) == recs(1, 7)  # ranges that avoid the hole are fine
        assert list(j.read(from_seq=8)) == recs(8, 21)
        items = j.read()
        assert [next(items).seq for _ in range(6)] == list(range(1, 7))  # the good prefix streams first
        with pytest.raises(JournalCorrupt):
            next(items)


def test_a_missing_first_row_is_a_gap(backend):
    filled(backend, 5)
    backend.sql("DELETE FROM {j} WHERE seq = 1")
    with backend.open() as j, pytest.raises(JournalCorrupt, match="seq 1 is missing"):
        list(j.read())


CORRUPTIONS = {
    # name: (SET clause for row 5, expected message)
    "null ts": ("ts = NULL", "seq 5 has a malformed ts"),
    "negative ts": ("ts = -3", "seq 5 has a malformed ts"),
    "null kind": ("kind = NULL", "seq 5 has a malformed kind"),
    "empty kind": ("kind = ''", "seq 5 has a malformed kind"),
    "null payload": ("payload = NULL", "seq 5 has a malformed payload"),
    "null effects": ("effects = NULL", "seq 5 has malformed effects"),
}

SQLITE_CORRUPTIONS = {  # values PostgreSQL's column types cannot hold
    "text ts": ("ts = 'soon'", "seq 5 has a malformed ts"),
    "real ts": ("ts = 1.5", "seq 5 has a malformed ts"),
    "blob kind": ("kind = X'00ff'", "seq 5 has a malformed kind"),
    "integer kind": ("kind = 7", "seq 5 has a malformed kind"),
    "blob payload": ("payload = X'7b7d'", "seq 5 has a malformed payload"),
    "real effects": ("effects = 2.5", "seq 5 has malformed effects"),
    "real seq": ("seq = 5.5", "malformed seq: 5.5 \\(expected seq 5\\)"),
    "text seq": ("seq = 'five'", "seq 5 is missing"),
}


def _check_malformed_row(backend: Backend, assignment: str, message: str) -> None:
    filled(backend, 10)
    backend.loosen()
    backend.sql(f"UPDATE {{j}} SET {assignment} WHERE seq = 5")
    with backend.open() as j:
        assert list(j.read(to_seq=4)) == recs(1, 5)
        with pytest.raises(JournalCorrupt, match=message):
            list(j.read())


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_malformed_row_is_reported_naming_its_seq(backend, case):
    _check_malformed_row(backend, *CORRUPTIONS[case])


@pytest.mark.parametrize("case", list(SQLITE_CORRUPTIONS))
def test_a_mistyped_sqlite_row_is_reported_naming_its_seq(sqlite_backend, case):
    _check_malformed_row(sqlite_backend, *SQLITE_CORRUPTIONS[case])


def test_a_malformed_largest_seq_is_reported(sqlite_backend):
    filled(sqlite_backend, 3)
    sqlite_backend.loosen()
    sqlite_backend.sql("UPDATE journal SET seq = 'three' WHERE seq = 3")
    with sqlite_backend.open() as j, pytest.raises(JournalCorrupt, match="malformed seq"):
        j.last_seq()


# ---------------------------------------------------------------------------------------------
# snapshots


def test_snapshots_latest_and_at_or_before(backend):
    blob = bytes(range(256)) * 50
    with backend.open() as j:
        j.save_snapshot(0, "genesis", b"")  # the empty prefix
        j.append(recs(1, 31))
        j.save_snapshot(10, "h10", blob)
        j.save_snapshot(20, "h20", bytearray(b"twenty"))
        j.save_snapshot(30, "h30-first", memoryview(b"thirty"))
        j.save_snapshot(30, "h30", b"thirty!")  # same seq: replaced
        assert j.latest_snapshot() == (30, "h30", b"thirty!")
    with backend.open() as j:
        assert j.latest_snapshot() == (30, "h30", b"thirty!")
        assert j.latest_snapshot(30) == (30, "h30", b"thirty!")
        assert j.latest_snapshot(29) == (20, "h20", b"twenty")
        assert j.latest_snapshot(19) == (10, "h10", blob)
        assert j.latest_snapshot(9) == (0, "genesis", b"")
        assert j.latest_snapshot(0) == (0, "genesis", b"")
        assert type(j.latest_snapshot(19)[2]) is bytes


def test_snapshot_arguments_are_checked(backend):
    with backend.open() as j:
        j.append(recs(1, 6))
        with pytest.raises(InvalidInput, match="beyond the journal"):
            j.save_snapshot(6, "h", b"x")
        for args in ((-1, "h", b"x"), (True, "h", b"x"), (3, "", b"x"), (3, 5, b"x"), (3, "h", "text")):
            with pytest.raises(InvalidInput):
                j.save_snapshot(*args)
        with pytest.raises(InvalidInput):
            j.latest_snapshot(-1)
        assert j.latest_snapshot() is None


def test_a_snapshot_ahead_of_the_journal_is_corrupt(backend):
    filled(backend, 10)
    with backend.open() as j:
        j.save_snapshot(10, "h", b"x")
    backend.sql("DELETE FROM {j} WHERE seq > 8")
    with backend.open() as j, pytest.raises(JournalCorrupt, match="snapshot at seq 10 is ahead"):
        j.latest_snapshot()


def test_a_malformed_snapshot_is_corrupt(backend):
    filled(backend, 10)
    with backend.open() as j:
        j.save_snapshot(10, "h", b"x")
    backend.sql("UPDATE {s} SET state_hash = '' WHERE seq = 10")
    with backend.open() as j, pytest.raises(JournalCorrupt, match="snapshot at seq 10"):
        j.latest_snapshot()


# ---------------------------------------------------------------------------------------------
# durability settings, schema, namespaces


@pytest.mark.parametrize("durability, level", [("full", "FULL"), ("normal", "NORMAL")])
def test_write_ahead_logging_is_really_on(backend, durability, level):
    with backend.open(durability=durability) as j:
        j.append(recs(1, 4))
        settings = j.storage_settings()
        if backend.name == "sqlite":
            assert j.journal_mode() == "wal"
            assert settings == {"journal_mode": "wal", "synchronous": level}
            assert Path(backend.path + "-wal").exists()  # the write-ahead log is in use
            assert backend.sql("PRAGMA journal_mode") == [("wal",)]  # persistent in the file itself
        else:
            assert settings["synchronous_commit"] == ("on" if durability == "full" else "off")
            assert settings["journal_persistence"] == "permanent"  # WAL-logged, not UNLOGGED
            assert backend.sql("SHOW wal_level")[0][0] in ("replica", "logical", "minimal")


def test_schema_and_format_version(backend):
    filled(backend, 1)
    if backend.name == "sqlite":
        names = {r[0] for r in backend.sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"journal", "snapshots", "meta"} <= names
    else:
        names = {r[0] for r in backend.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", params=(backend.ns,))}
        assert names == {"journal", "snapshots", "meta"}
    assert backend.sql("SELECT value FROM {m} WHERE key = 'format_version'") == [("1",)]
    backend.sql("UPDATE {m} SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(JournalCorrupt, match="format version '99'"):
        backend.open()


def test_a_foreign_table_is_not_taken_for_a_journal(backend):
    if backend.name == "sqlite":
        backend.sql("CREATE TABLE journal(id INTEGER PRIMARY KEY, note TEXT)")
    else:
        backend.sql('CREATE SCHEMA "{ns}"', "CREATE TABLE {j}(id INTEGER PRIMARY KEY, note TEXT)")
    with pytest.raises(JournalCorrupt, match="not a ramparts journal"):
        backend.open()


def test_namespaces_are_independent(backend):
    other = backend.ns + "_b"
    with backend.open() as a, backend.open(namespace=other) as b:
        a.append(recs(1, 4))
        b.append(recs(1, 3))
        b.save_snapshot(2, "b2", b"b")
        assert a.last_seq() == 3 and b.last_seq() == 2
        assert a.latest_snapshot() is None
    if backend.name == "sqlite":
        names = {r[0] for r in backend.sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {f"{other}_journal", f"{other}_snapshots", f"{other}_meta"} <= names


@pytest.mark.parametrize("namespace", ["", "1abc", "a-b", 'x"; DROP TABLE journal; --', "pg_temp", "x" * 64, None])
def test_bad_namespaces_are_refused(backend, namespace):
    with pytest.raises(InvalidInput) as info:
        backend.open(namespace=namespace)
    assert info.value.field == "namespace"


def test_bad_durability_is_refused(backend):
    with pytest.raises(InvalidInput) as info:
        backend.open(durability="paranoid")
    assert info.value.field == "durability"


def test_read_arguments_are_checked(backend):
    with backend.open() as j:
        for kwargs in ({"from_seq": 0}, {"from_seq": "1"}, {"to_seq": -1}, {"batch": 0}, {"batch": 2.5}):
            with pytest.raises(InvalidInput):
                j.read(**kwargs)  # checked at the call, not at the first next()


def test_a_closed_journal_refuses_calls(backend):
    j = backend.open()
    iterator = j.read()
    j.close()
    j.close()  # idempotent
    assert j.closed
    assert "closed" in repr(j)
    for call in (lambda: j.append([rec(1)]), j.last_seq, lambda: list(j.read()), lambda: list(iterator), j.latest_snapshot):
        with pytest.raises(JournalUnavailable, match="closed"):
            call()
    with backend.open() as k:
        pass
    assert k.closed


# ---------------------------------------------------------------------------------------------
# URLs and connection errors (backend-specific)


def test_sqlite_url_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in (":memory:", "sqlite://:memory:", "sqlite://", "sqlite:///:memory:"):
        with open_journal(url) as j:
            assert isinstance(j, SQLiteJournal) and j.durability == "none"
            j.append(recs(1, 3))
            assert j.last_seq() == 2
    with open_journal(":memory:") as j:
        assert j.last_seq() == 0  # each in-memory journal is private
    with open_journal("sqlite:///rel.db") as j:  # three slashes: relative
        j.append(recs(1, 2))
    assert (tmp_path / "rel.db").exists()
    absolute = tmp_path / "sub" / "abs.db"
    absolute.parent.mkdir()
    with open_journal(f"sqlite:///{absolute}") as j:  # four slashes: absolute
        j.append(recs(1, 2))
    with open_journal(absolute) as j:  # a Path is a path
        assert j.last_seq() == 1
    with open_journal(str(absolute), durability="normal") as j:
        assert j.last_seq() == 1 and j.durability == "normal"


def test_a_reader_never_creates_a_journal(backend):
    """``create=False`` (a replay, an audit): no journal there is JournalNotFound, and nothing is created."""

    def schema_or_file_exists(ns: str) -> bool:
        if backend.name == "sqlite":
            return Path(backend.path).exists()
        return backend.sql("SELECT 1 FROM pg_namespace WHERE nspname = %s", params=(ns,)) != []

    with pytest.raises(JournalNotFound):
        backend.open(create=False)
    assert not schema_or_file_exists(backend.ns)
    with backend.open() as j:
        j.append(recs(1, 3))
    with backend.open(create=False) as j:
        assert j.last_seq() == 2
    with pytest.raises(JournalNotFound):
        backend.open(create=False, namespace=f"{backend.ns}_b")
    if backend.name == "sqlite":
        assert backend.sql("SELECT name FROM sqlite_master WHERE name LIKE 'ramparts_b%'") == []
    else:
        assert not schema_or_file_exists(f"{backend.ns}_b")


def test_a_reader_refuses_a_file_without_a_journal_and_in_memory_urls(tmp_path):
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(JournalNotFound, match="holds no ramparts journal"):
        open_journal(empty, create=False)
    assert empty.stat().st_size == 0 and not (tmp_path / "empty.sqlite-wal").exists()
    for url in (":memory:", "sqlite://", "sqlite:///:memory:"):
        with pytest.raises(JournalNotFound, match="always empty"):
            open_journal(url, create=False)
    missing = tmp_path / "x.db"
    with pytest.raises(JournalNotFound, match="no such file"):
        open_journal(f"sqlite:///{missing}", create=False)
    assert not missing.exists() and issubclass(JournalNotFound, JournalUnavailable)
    assert journal_file(f"sqlite:///{missing}") == str(missing) and journal_file(missing) == str(missing)
    assert journal_file("postgresql://u@h/db") is None and journal_file(":memory:") is None


@pytest.mark.parametrize("url", ["mysql://u@h/db", "file:///tmp/x.db", "http://example.com", "sqlite://relative.db", "", "   ", None, 42])
def test_bad_urls_are_invalid_input(url):
    with pytest.raises(InvalidInput) as info:
        open_journal(url)
    assert info.value.field == "url"


def test_unknown_scheme_is_named():
    with pytest.raises(InvalidInput, match="unknown journal URL scheme 'mysql'"):
        open_journal("mysql://x")


def test_sqlite_open_errors_are_clear(tmp_path):
    with pytest.raises(JournalUnavailable, match="does its directory exist"):
        open_journal(str(tmp_path / "missing" / "j.db"))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a SQLite database, just some text that is long enough" * 20)
    with pytest.raises(JournalCorrupt, match="not a database"):
        open_journal(str(junk))


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_connection_errors_are_clear_and_hide_the_password(scheme):
    url = f"{scheme}://postgres:sekret@127.0.0.1:1/test"
    with pytest.raises(JournalUnavailable) as info:
        open_journal(url, namespace="t_unreachable")
    message = str(info.value)
    assert isinstance(info.value, RampartsError)
    assert "cannot connect to the journal postgresql://postgres@127.0.0.1:1/test" in message
    assert "sekret" not in message and "\n" not in message


@pytest.mark.postgres
def test_postgres_reconnects_after_the_connection_drops(pg_backend):
    backend = pg_backend
    with backend.open() as j:
        j.append(recs(1, 4))
        backend.sql("SELECT pg_terminate_backend(%s)", params=(j._conn.info.backend_pid,))
        with pytest.raises(JournalUnavailable):
            j.last_seq()  # the call in flight when the connection died is reported ...
        assert j.last_seq() == 3  # ... and the next one reconnects
        j.append([rec(4)])
        assert j.storage_settings()["synchronous_commit"] == "on"  # the session is configured again
    with backend.open() as j:
        assert list(j.read()) == recs(1, 5)
