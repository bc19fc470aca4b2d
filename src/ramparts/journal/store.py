"""Durable, append-only journal stores: SQLite (WAL, the embedded default) and PostgreSQL (production).

A store keeps opaque :class:`JournalRecord` rows (the engine encodes events and effects itself) in
strict sequence order, and compressed state snapshots. ``append`` is one all-or-nothing
transaction; it returns only when the records are durable under the store's ``durability``:

* SQLite ``full``: WAL with ``synchronous=FULL``: every append is fsynced before it returns
  (survives process crash and power loss);
* SQLite ``normal``: WAL with ``synchronous=NORMAL``: survives a process crash (kill -9), may lose
  the last transactions on power loss; used for batch work and the lab;
* PostgreSQL ``full``: ``synchronous_commit=on``; ``normal``: ``synchronous_commit=off``.

Reading checks contiguity: a gap or a malformed row raises :class:`~ramparts.errors.JournalCorrupt`
naming the sequence number.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ramparts.errors import InvalidInput, JournalCorrupt, RampartsError

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One journal row: sequence number, event time (ns), event kind, canonical payload and effects."""

    seq: int
    ts: int
    kind: str
    payload: str
    effects: str


class JournalStore(Protocol):
    durability: str

    def append(self, records: Sequence[JournalRecord]) -> None: ...
    def last_seq(self) -> int: ...
    def read(self, from_seq: int = 1, to_seq: int | None = None, batch: int = 10_000) -> Iterator[JournalRecord]: ...
    def save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None: ...
    def latest_snapshot(self, at_or_before: int | None = None) -> tuple[int, str, bytes] | None: ...
    def close(self) -> None: ...


class JournalUnavailable(RampartsError):
    """The journal's database cannot be opened or reached."""


def _check_records(records: Sequence[JournalRecord], last: int) -> None:
    expect = last + 1
    for r in records:
        if not isinstance(r, JournalRecord):
            raise InvalidInput("records", f"expected JournalRecord, got {type(r).__name__}")
        if r.seq != expect:
            raise InvalidInput("seq", f"journal append must continue at {expect}, got {r.seq}")
        if not isinstance(r.ts, int) or not isinstance(r.kind, str) or not isinstance(r.payload, str) or not isinstance(r.effects, str):
            raise InvalidInput("record", f"record {r.seq} has a field of the wrong type")
        expect += 1


def _row(row: tuple, expect: int) -> JournalRecord:
    seq, ts, kind, payload, effects = row
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise JournalCorrupt(f"journal row near seq {expect}: sequence number {seq!r} is not an integer")
    if seq != expect:
        raise JournalCorrupt(f"journal gap: seq {expect} is missing (next row is {seq})")
    if not isinstance(ts, int) or not isinstance(kind, str) or not isinstance(payload, str) or not isinstance(effects, str):
        raise JournalCorrupt(f"journal row {seq} is malformed")
    return JournalRecord(seq, ts, kind, payload, effects)


class _Base:
    durability: str

    def _fetch(self, lo: int, hi: int, batch: int) -> list[tuple]:  # pragma: no cover - per backend
        raise NotImplementedError

    def read(self, from_seq: int = 1, to_seq: int | None = None, batch: int = 10_000) -> Iterator[JournalRecord]:
        """Stream rows ``from_seq..to_seq`` in order; a gap or malformed row raises JournalCorrupt."""
        expect = from_seq
        hi = to_seq if to_seq is not None else 2**62
        while rows := self._fetch(expect, hi, batch):
            for row in rows:
                yield _row(row, expect)
                expect += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SQLiteJournal(_Base):
    """The embedded journal: one SQLite file in WAL mode (see the module docstring)."""

    def __init__(self, path: str, durability: str = "full"):
        if durability not in ("full", "normal"):
            raise InvalidInput("durability", "must be 'full' or 'normal'")
        self.durability = durability
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
            self._db.executescript(
                "CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,"
                " payload TEXT NOT NULL, effects TEXT NOT NULL);"
                "CREATE TABLE IF NOT EXISTS snapshots(seq INTEGER PRIMARY KEY, state_hash TEXT NOT NULL, blob BLOB NOT NULL);"
                "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            )
            self._db.execute("INSERT OR IGNORE INTO meta VALUES('format_version', ?)", (str(FORMAT_VERSION),))
        except sqlite3.Error as exc:
            raise JournalUnavailable(f"cannot open the SQLite journal {path!r}: {exc}") from None

    def journal_mode(self) -> str:
        return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def last_seq(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]

    def append(self, records: Sequence[JournalRecord]) -> None:
        if not records:
            return
        _check_records(records, self.last_seq())
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO journal VALUES(?,?,?,?,?)", [(r.seq, r.ts, r.kind, r.payload, r.effects) for r in records])
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise JournalUnavailable(f"journal append failed: {exc}") from None

    def _fetch(self, lo: int, hi: int, batch: int) -> list[tuple]:
        return self._db.execute(
            "SELECT seq, ts, kind, payload, effects FROM journal WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?", (lo, hi, batch)
        ).fetchall()

    def save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO snapshots VALUES(?,?,?)", (seq, state_hash, blob))

    def latest_snapshot(self, at_or_before: int | None = None) -> tuple[int, str, bytes] | None:
        row = self._db.execute(
            "SELECT seq, state_hash, blob FROM snapshots WHERE seq <= ? ORDER BY seq DESC LIMIT 1", (at_or_before if at_or_before is not None else 2**62,)
        ).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def close(self) -> None:
        self._db.close()


_NAMESPACE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresJournal(_Base):
    """The production journal on PostgreSQL (psycopg 3); tables live in a schema named ``namespace``."""

    def __init__(self, url: str, durability: str = "full", namespace: str = "ramparts"):
        import psycopg

        if durability not in ("full", "normal"):
            raise InvalidInput("durability", "must be 'full' or 'normal'")
        if not _NAMESPACE.match(namespace):
            raise InvalidInput("namespace", f"invalid schema name {namespace!r}")
        self.durability = durability
        self._ns = namespace
        try:
            self._db = psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise JournalUnavailable(f"cannot connect to PostgreSQL: {exc}".strip()) from None
        self._db.execute(f"SET synchronous_commit = {'on' if durability == 'full' else 'off'}")
        ns = namespace
        self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{ns}"')
        self._db.execute(f'CREATE TABLE IF NOT EXISTS "{ns}".journal(seq BIGINT PRIMARY KEY, ts BIGINT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, effects TEXT NOT NULL)')
        self._db.execute(f'CREATE TABLE IF NOT EXISTS "{ns}".snapshots(seq BIGINT PRIMARY KEY, state_hash TEXT NOT NULL, blob BYTEA NOT NULL)')
        self._db.execute(f'CREATE TABLE IF NOT EXISTS "{ns}".meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)')
        self._db.execute(f'INSERT INTO "{ns}".meta VALUES(%s, %s) ON CONFLICT DO NOTHING', ("format_version", str(FORMAT_VERSION)))

    def last_seq(self) -> int:
        return self._db.execute(f'SELECT COALESCE(MAX(seq), 0) FROM "{self._ns}".journal').fetchone()[0]

    def append(self, records: Sequence[JournalRecord]) -> None:
        import psycopg

        if not records:
            return
        _check_records(records, self.last_seq())
        try:
            with self._db.transaction(), self._db.cursor() as cur:
                with cur.copy(f'COPY "{self._ns}".journal (seq, ts, kind, payload, effects) FROM STDIN') as copy:
                    for r in records:
                        copy.write_row((r.seq, r.ts, r.kind, r.payload, r.effects))
        except psycopg.Error as exc:
            raise JournalUnavailable(f"journal append failed: {exc}") from None

    def _fetch(self, lo: int, hi: int, batch: int) -> list[tuple]:
        return self._db.execute(
            f'SELECT seq, ts, kind, payload, effects FROM "{self._ns}".journal WHERE seq >= %s AND seq <= %s ORDER BY seq LIMIT %s', (lo, hi, batch)
        ).fetchall()

    def save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:
        self._db.execute(
            f'INSERT INTO "{self._ns}".snapshots VALUES(%s,%s,%s) ON CONFLICT (seq) DO UPDATE SET state_hash = EXCLUDED.state_hash, blob = EXCLUDED.blob',
            (seq, state_hash, blob),
        )

    def latest_snapshot(self, at_or_before: int | None = None) -> tuple[int, str, bytes] | None:
        row = self._db.execute(
            f'SELECT seq, state_hash, blob FROM "{self._ns}".snapshots WHERE seq <= %s ORDER BY seq DESC LIMIT 1',
            (at_or_before if at_or_before is not None else 2**62,),
        ).fetchone()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def close(self) -> None:
        self._db.close()


def open_journal(url: str, *, durability: str = "full", namespace: str = "ramparts") -> JournalStore:
    """Open a journal: a path or ``sqlite:///path``, ``sqlite://:memory:``, or ``postgresql://...``."""
    if not isinstance(url, str) or not url:
        raise InvalidInput("url", "a journal URL or path is required")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresJournal(url, durability, namespace)
    if url in (":memory:", "sqlite://:memory:"):
        return SQLiteJournal(":memory:", durability)
    if url.startswith("sqlite:///"):
        return SQLiteJournal(url[len("sqlite:///") :], durability)
    if "://" in url:
        raise InvalidInput("url", f"unknown journal URL scheme in {url!r} (sqlite:/// or postgresql://)")
    return SQLiteJournal(url, durability)
