"""The embedded journal store: one SQLite database file in WAL mode (or a private in-memory database).

This module owns :class:`SQLiteJournal`, the :class:`~ramparts.journal.store.JournalStore` used
by a single node, the lab and the tests. Validation, gap-checked reads and the closed state live in
:class:`~ramparts.journal.store._BaseJournal`; this module owns the SQL, the pragmas and what they
guarantee.

Schema (format version :data:`~ramparts.journal.store.FORMAT_VERSION`)
---------------------------------------------------------------------
::

    journal(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,
            payload TEXT NOT NULL, effects TEXT NOT NULL)
    snapshots(seq INTEGER PRIMARY KEY, state_hash TEXT NOT NULL, blob BLOB NOT NULL)
    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)          -- ('format_version', '1')

``seq`` is the table's rowid, so it is always an integer and reads in seq order walk the b-tree.
With the default namespace ``"ramparts"`` the tables have exactly these names; with another
namespace ``N`` they are ``N_journal``, ``N_snapshots`` and ``N_meta``, so several journals can share
one file. Opening a file whose tables have other columns, or whose ``meta`` names another format
version, raises :class:`~ramparts.errors.JournalCorrupt`; a file that is not a SQLite database
also raises :class:`~ramparts.errors.JournalCorrupt`.

Durability
----------
The database runs in write-ahead-log mode (``PRAGMA journal_mode=WAL``; the mode is persistent in
the file, and the store refuses to open a file journal where it cannot be enabled). Every
:meth:`~SQLiteJournal.append` is one ``BEGIN IMMEDIATE ... COMMIT`` transaction written with a
single ``executemany``: SQLite's atomic commit makes it all-or-nothing under any crash.

``durability="full"``: ``PRAGMA synchronous=FULL`` (and ``fullfsync`` where the platform has it).
    The WAL file is fsynced as part of every commit, so when :meth:`~SQLiteJournal.append`
    returns the batch survives a process crash, an operating-system crash and a power loss.
``durability="normal"``: ``PRAGMA synchronous=NORMAL``.
    A commit appends its frames to the WAL with ``write()`` but does not fsync; the WAL is fsynced
    only when it is checkpointed. A committed batch therefore survives a crash of the process
    (``kill -9``: the data is in the operating system's page cache and SQLite recovers it from the
    WAL on the next open) but an operating-system crash or power loss can roll back the
    transactions committed since the last checkpoint. The database is never corrupted and never
    left with a gap: what is lost is always a suffix of whole transactions. Appends are several
    times faster for one-record batches.
In-memory (``":memory:"``): no file, no WAL; :attr:`~SQLiteJournal.durability` is ``"none"``.

Concurrency
-----------
``BEGIN IMMEDIATE`` takes SQLite's write lock before the contiguity check, so concurrent writers
(threads or processes) are serialised and the loser of a race is refused with
:class:`~ramparts.errors.InvalidInput`. Readers never block writers in WAL mode, and reads are
paged (keyset pagination on ``seq``) so that a slow consumer of :meth:`read` holds no read
transaction between pages. Lock waits give up after ``busy_timeout`` seconds with
:class:`~ramparts.journal.store.JournalUnavailable`.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ramparts.errors import InvalidInput, JournalCorrupt
from ramparts.journal.store import (
    DEFAULT_NAMESPACE,
    DURABILITIES,
    FORMAT_VERSION,
    JournalNotFound,
    JournalUnavailable,
    _BaseJournal,
    check_continues,
    check_last_seq,
    check_namespace,
)

_JOURNAL_COLUMNS = ("seq", "ts", "kind", "payload", "effects")
_SNAPSHOT_COLUMNS = ("seq", "state_hash", "blob")
_META_COLUMNS = ("key", "value")
_CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_INDEX", "SQLITE_CORRUPT_SEQUENCE", "SQLITE_CORRUPT_VTAB"}


class SQLiteJournal(_BaseJournal):
    """A :class:`~ramparts.journal.store.JournalStore` on one SQLite file in WAL mode (see the module docstring).

    Parameters
    ----------
    path : str
        The database file (created if missing; its directory must exist), or ``":memory:"``.
    create : bool
        ``False``: the file must exist and hold this namespace's journal, else
        :class:`~ramparts.journal.store.JournalNotFound` and nothing is created or changed.
    durability : {"full", "normal"}
        ``synchronous=FULL`` or ``synchronous=NORMAL``; see the module docstring.
    namespace : str
        Table prefix: ``"ramparts"`` (the default) uses the plain table names.
    busy_timeout : float
        Seconds to wait for another connection's lock before raising
        :class:`~ramparts.journal.store.JournalUnavailable`.

    Attributes
    ----------
    durability : str
        ``"full"``, ``"normal"``, or ``"none"`` for an in-memory journal.
    path : str
        The database file as given.
    description : str
        ``sqlite:`` and the path, for messages.
    """

    def __init__(self, path: str, *, durability: str = "full", namespace: str = DEFAULT_NAMESPACE, busy_timeout: float = 30.0,
                 create: bool = True):
        super().__init__()
        if durability not in DURABILITIES:
            raise InvalidInput("durability", f"{durability!r:.40} is not one of {', '.join(DURABILITIES)}")
        namespace = check_namespace(namespace)
        self.path = path
        self.namespace = namespace
        self.in_memory = path == ":memory:"
        self.durability = "none" if self.in_memory else durability
        self.description = f"sqlite:{path}" + ("" if namespace == DEFAULT_NAMESPACE else f" (namespace {namespace})")
        prefix = "" if namespace == DEFAULT_NAMESPACE else f"{namespace}_"
        self._tables = {name: f"{prefix}{name}" for name in ("journal", "snapshots", "meta")}
        j, s, m = (f'"{self._tables[n]}"' for n in ("journal", "snapshots", "meta"))
        self._q_last = f"SELECT max(seq) FROM {j}"
        self._q_insert = f"INSERT INTO {j} (seq, ts, kind, payload, effects) VALUES (?, ?, ?, ?, ?)"
        self._q_fetch = f"SELECT seq, ts, kind, payload, effects FROM {j} WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?"
        self._q_snap_put = (
            f"INSERT INTO {s} (seq, state_hash, blob) VALUES (?, ?, ?) "
            "ON CONFLICT(seq) DO UPDATE SET state_hash = excluded.state_hash, blob = excluded.blob"
        )
        self._q_snap_get = f"SELECT seq, state_hash, blob FROM {s} WHERE seq <= ? ORDER BY seq DESC LIMIT 1"
        self._ddl = (
            f"CREATE TABLE IF NOT EXISTS {j} (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,"
            " payload TEXT NOT NULL, effects TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {s} (seq INTEGER PRIMARY KEY, state_hash TEXT NOT NULL, blob BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {m} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        self._q_meta_get = f"SELECT value FROM {m} WHERE key = 'format_version'"
        self._q_meta_put = f"INSERT INTO {m} (key, value) VALUES ('format_version', ?)"

        if not create and (self.in_memory or not os.path.isfile(path)):
            what = "an in-memory journal is always empty" if self.in_memory else "no such file"
            raise JournalNotFound(f"journal {self.description}: {what}; give the path of an existing journal")
        try:
            if create:
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
            else:  # mode=rw: never creates the file, even if it vanished since the check above
                uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        except sqlite3.Error as exc:
            if not create and not os.path.isfile(path):
                raise JournalNotFound(f"journal {self.description}: no such file; give the path of an existing journal") from None
            raise self._error("open", exc) from None
        try:
            if not create:
                self._check_exists()
            self._configure()
            self._create_schema()
        except BaseException:
            self._db.close()
            raise

    # -- setup ------------------------------------------------------------------------------

    def _check_exists(self) -> None:
        """Raise :class:`JournalNotFound` unless the file holds this namespace's journal table (reads only)."""
        try:
            row = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self._tables["journal"],)).fetchone()
        except sqlite3.Error as exc:
            raise self._error("open", exc) from None
        if row is None:
            raise JournalNotFound(f"journal {self.description}: the file holds no ramparts journal")

    def _configure(self) -> None:
        db = self._db
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if not self.in_memory and str(mode).lower() != "wal":
                raise JournalUnavailable(f"journal {self.description}: cannot enable WAL mode (journal_mode stays {mode!r})")
            if self.durability == "full":
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA fullfsync=ON")  # macOS: flush the drive cache too; a no-op elsewhere
                db.execute("PRAGMA checkpoint_fullfsync=ON")
            else:
                db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise self._error("open", exc) from None

    def _create_schema(self) -> None:
        with self._write("open") as db:
            for stmt in self._ddl:
                db.execute(stmt)
            for name, expected in (("journal", _JOURNAL_COLUMNS), ("snapshots", _SNAPSHOT_COLUMNS), ("meta", _META_COLUMNS)):
                table = self._tables[name]
                cols = tuple(row[1] for row in db.execute(f'PRAGMA table_info("{table}")'))
                if cols != expected:
                    raise JournalCorrupt(
                        f"journal {self.description}: table {table} has columns {cols}, expected {expected}; not a ramparts journal"
                    )
            row = db.execute(self._q_meta_get).fetchone()
            if row is None:
                db.execute(self._q_meta_put, (str(FORMAT_VERSION),))
            elif row[0] != str(FORMAT_VERSION):
                raise JournalCorrupt(
                    f"journal {self.description} has format version {row[0]!r}; this ramparts reads version {FORMAT_VERSION}"
                )

    # -- introspection ----------------------------------------------------------------------

    def journal_mode(self) -> str:
        """SQLite's ``PRAGMA journal_mode`` for this connection: ``"wal"`` for a file journal."""
        return str(self.storage_settings()["journal_mode"])

    def storage_settings(self) -> dict[str, Any]:
        """The settings durability rests on: ``journal_mode`` and ``synchronous`` (``"FULL"`` or ``"NORMAL"``)."""
        with self._lock:
            self._check_open()
            try:
                mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
                sync = self._db.execute("PRAGMA synchronous").fetchone()[0]
            except sqlite3.Error as exc:
                raise self._error("read settings", exc) from None
        return {"journal_mode": str(mode).lower(), "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(sync, str(sync))}

    # -- backend hooks ----------------------------------------------------------------------

    def _append_rows(self, rows: list[tuple[int, int, str, str, str]]) -> None:
        with self._write("append") as db:
            check_continues(rows, check_last_seq(db.execute(self._q_last).fetchone()[0]))
            db.executemany(self._q_insert, rows)

    def _last_seq(self) -> Any:
        try:
            return self._db.execute(self._q_last).fetchone()[0]
        except sqlite3.Error as exc:
            raise self._error("read", exc) from None

    def _fetch(self, low: int, high: int, limit: int) -> list[tuple]:
        try:
            return self._db.execute(self._q_fetch, (low, high, limit)).fetchall()
        except sqlite3.Error as exc:
            raise self._error("read", exc) from None

    def _save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:
        with self._write("save snapshot") as db:
            last = check_last_seq(db.execute(self._q_last).fetchone()[0])
            if seq > last:
                raise InvalidInput("seq", f"snapshot seq {seq} is beyond the journal's last seq {last}")
            db.execute(self._q_snap_put, (seq, state_hash, blob))

    def _latest_snapshot(self, high: int) -> tuple | None:
        try:
            return self._db.execute(self._q_snap_get, (high,)).fetchone()
        except sqlite3.Error as exc:
            raise self._error("read snapshot", exc) from None

    def _close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error as exc:  # pragma: no cover - close only fails on a misused handle
            raise self._error("close", exc) from None

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` (SQLite's write lock taken first, so a check inside sees what
        the write will follow), ``COMMIT`` at the end of the block, ``ROLLBACK`` on any exception; a sqlite3 error
        becomes the journal's own (:meth:`_error`) for ``what``."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            raise self._error(what, exc) from None

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the failure being reported matters more; SQLite rolls back on close anyway

    def _error(self, what: str, exc: sqlite3.Error) -> Exception:
        """Turn a sqlite3 error into :class:`JournalCorrupt` (a damaged file) or :class:`JournalUnavailable`."""
        code = getattr(exc, "sqlite_errorname", "")
        message = f"journal {self.description}: {what} failed: {exc}"
        if code in _CORRUPT_CODES or "malformed" in str(exc) or "not a database" in str(exc):
            return JournalCorrupt(message)
        if what == "open" and not self.in_memory and "unable to open" in str(exc):
            message += " (does its directory exist? sqlite:///x.db is the relative path x.db, sqlite:////abs/x.db an absolute one)"
        return JournalUnavailable(message)


__all__ = ["SQLiteJournal"]
