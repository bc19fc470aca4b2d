"""Exactly-once bookkeeping: the bus's side tables, written in the journal's own transaction.

A journal row has no place for where its event came from (``JournalRecord`` is seq, ts, kind,
payload, effects; the payload is the canonical event, which forbids extra fields), so the bus keeps
three small tables in the *same database* as the journal and writes them in the *same
transaction* as the journal rows of each group commit. The journal's own tables, format and
readers are untouched (``replay-journal`` and the service ignore the extra tables); the stores
here are subclasses of :class:`~ramparts.journal.SQLiteJournal` and
:class:`~ramparts.journal.PostgresJournal` that override their append transaction.

Tables (``bus_*``; with a namespace ``N`` other than ``ramparts``, ``N_bus_*`` in SQLite)::

    bus_cursor(stream PRIMARY KEY, stream_seq, journal_seq, fx_seq)
        the last input stream sequence the engine has dealt with (applied, refused or dead-lettered),
        the journal's last seq at that commit, and the journal seq through which the effects (and
        refusal notices) are known to be published
    bus_applied(journal_seq PRIMARY KEY, stream, stream_seq, UNIQUE (stream, stream_seq))
        which input message each journal row came from; the unique key makes a second application
        of one message impossible at the database level (the transaction fails, nothing is kept)
    bus_refused(stream, stream_seq, after_seq, round_end, PRIMARY KEY (stream, stream_seq))
        inputs the engine refused inside a committed group (``after_seq``: the journal seq the
        engine was at; ``round_end``: the group's last journal seq): the audit of refusals, and the
        refusal notices to publish again after a crash (those with ``round_end > fx_seq``)

The runner :meth:`~BusJournal.stage` s a group before :meth:`Node.submit_batch
<ramparts.engine.node.Node.submit_batch>`: the input messages in submission order, the stream
sequence the group covers and the effects watermark. The node calls ``append`` once with the
accepted events' records; the store matches them to the staged messages (one record per accepted
event, in order: when as many records come as messages were staged, all were accepted; otherwise
by canonical payload), and writes the records, the ``bus_applied`` rows, the ``bus_refused`` rows
and the cursor in one transaction. The cursor must move forward (a group whose first message is
at or below the stored cursor is refused, nothing written). A group with no accepted event writes
the cursor and its refusals alone (:meth:`~BusSQLiteJournal.commit_cursor`), after the runner has
published their notices.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from ramparts.engine.events import _Event, encode_event
from ramparts.errors import InvalidInput, JournalCorrupt
from ramparts.journal.postgres import PostgresJournal
from ramparts.journal.sqlite import SQLiteJournal
from ramparts.journal.store import DEFAULT_NAMESPACE, check_continues, check_last_seq

Row = tuple[int, int, str, str, str]


@dataclass(frozen=True, slots=True)
class Cursor:
    """A stream's row of ``bus_cursor`` (see the module docstring)."""

    stream: str
    stream_seq: int
    journal_seq: int
    fx_seq: int


@dataclass
class Staged:
    """One group commit as the runner hands it to the store before the node appends it.

    ``entries``: ``(stream_seq, event)`` in the order given to the node; ``through``: the highest
    stream seq the group covers (dead letters included); ``fx_seq``: the effects watermark to
    record. :meth:`resolve` fills ``applied`` and ``refused`` from the records appended.
    """

    stream: str
    entries: list[tuple[int, _Event]]
    through: int
    fx_seq: int
    applied: list[tuple[int, str, int]] = field(default_factory=list)
    refused: list[tuple[str, int, int, int]] = field(default_factory=list)

    def resolve(self, rows: Sequence[Row], first_seq: int) -> None:
        """Match the appended rows to the staged messages (``first_seq``: the journal seq the first
        staged event would take); the staged messages without a row were refused."""
        entries = self.entries
        end = rows[-1][0] if rows else first_seq - 1
        if len(rows) == len(entries):
            self.applied = [(r[0], self.stream, e[0]) for r, e in zip(rows, entries, strict=True)]
            self.refused = []
            return
        applied, refused = [], []
        j = 0
        after = first_seq - 1
        for row in rows:
            while True:
                if j >= len(entries):
                    raise JournalCorrupt(f"bus: journal row {row[0]} matches none of the staged messages")
                sseq, event = entries[j]
                j += 1
                if event.ts == row[1] and event.kind == row[2] and encode_event(event) == row[3]:
                    applied.append((row[0], self.stream, sseq))
                    after = row[0]
                    break
                refused.append((self.stream, sseq, after, end))
        refused.extend((self.stream, sseq, after, end) for sseq, _ in entries[j:])
        self.applied, self.refused = applied, refused


class BusJournal:
    """The side-table half shared by the two stores (mixed into each backend's class)."""

    _staged: Staged | None

    def stage(self, staged: Staged | None) -> None:
        """Hand the next append its group (consumed by that append; ``None`` clears it)."""
        self._staged = staged

    def _take_staged(self, rows: Sequence[Row]) -> Staged | None:
        staged, self._staged = self._staged, None
        if staged is not None:
            staged.resolve(rows, rows[0][0])
        return staged

    def _bus_sql(self, c: str, a: str, r: str, *, ph: str, integer: str, greatest: str) -> None:
        """The side tables' DDL and statements for one backend: table names ``c, a, r`` (cursor, applied,
        refused), its placeholder (``?`` / ``%s``), integer type and two-argument maximum function."""
        p3, p4 = f"{ph}, {ph}, {ph}", f"{ph}, {ph}, {ph}, {ph}"
        self._bus_ddl = (
            f"CREATE TABLE IF NOT EXISTS {c} (stream TEXT PRIMARY KEY, stream_seq {integer} NOT NULL,"
            f" journal_seq {integer} NOT NULL, fx_seq {integer} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {a} (journal_seq {integer} PRIMARY KEY, stream TEXT NOT NULL,"
            f" stream_seq {integer} NOT NULL, UNIQUE (stream, stream_seq))",
            f"CREATE TABLE IF NOT EXISTS {r} (stream TEXT NOT NULL, stream_seq {integer} NOT NULL,"
            f" after_seq {integer} NOT NULL, round_end {integer} NOT NULL, PRIMARY KEY (stream, stream_seq))",
        )
        self._q_cur_get = f"SELECT stream, stream_seq, journal_seq, fx_seq FROM {c} WHERE stream = {ph}"
        self._q_cur_put = (f"INSERT INTO {c} AS cur (stream, stream_seq, journal_seq, fx_seq) VALUES ({p4})"
                           " ON CONFLICT (stream) DO UPDATE SET stream_seq = excluded.stream_seq,"
                           f" journal_seq = excluded.journal_seq, fx_seq = {greatest}(cur.fx_seq, excluded.fx_seq)")
        self._q_fx_put = f"UPDATE {c} SET fx_seq = {greatest}(fx_seq, {ph}) WHERE stream = {ph}"
        self._q_app_put = f"INSERT INTO {a} (journal_seq, stream, stream_seq) VALUES ({p3})"
        self._q_app_get = (f"SELECT journal_seq, stream_seq FROM {a} WHERE journal_seq >= {ph} AND journal_seq <= {ph}"
                           " ORDER BY journal_seq")
        self._q_app_all = f"SELECT journal_seq, stream_seq FROM {a} WHERE stream = {ph} ORDER BY journal_seq"
        self._q_ref_put = f"INSERT INTO {r} (stream, stream_seq, after_seq, round_end) VALUES ({p4})"
        self._q_ref_get = (f"SELECT stream_seq, after_seq, round_end FROM {r} WHERE stream = {ph} AND round_end > {ph}"
                           " ORDER BY stream_seq")
        self._q_ref_all = f"SELECT stream_seq, after_seq, round_end FROM {r} WHERE stream = {ph} ORDER BY stream_seq"

    def _bus_write(self, cur, staged: Staged, journal_seq: int) -> None:
        """Write a group's bus rows and move the cursor, inside the caller's transaction (``cur``: a cursor or
        connection of the backend); a group at or below the stored cursor is refused, nothing written."""
        row = cur.execute(self._q_cur_get, (staged.stream,)).fetchone()
        first = min((s for s, _ in staged.entries), default=staged.through)
        if row is not None and first <= row[1]:
            raise InvalidInput("stream_seq", f"bus: stream {staged.stream} seq {first} is at or below the journal's "
                                             f"cursor {row[1]}: already dealt with; nothing written")
        if staged.applied:
            cur.executemany(self._q_app_put, staged.applied)
        if staged.refused:
            cur.executemany(self._q_ref_put, staged.refused)
        cur.execute(self._q_cur_put, (staged.stream, staged.through, journal_seq, staged.fx_seq))

    def _bus_query(self, query: str, params: tuple) -> list[tuple]:  # pragma: no cover - each backend has its own
        raise NotImplementedError

    def cursor(self, stream: str) -> Cursor | None:
        """The stream's cursor, ``None`` before the bus's first commit."""
        rows = self._bus_query(self._q_cur_get, (stream,))
        return Cursor(*rows[0]) if rows else None

    def stream_seqs(self, low: int, high: int) -> dict[int, int]:
        """``{journal_seq: stream_seq}`` of the bus's rows in ``[low, high]``."""
        return dict(self._bus_query(self._q_app_get, (low, high)))

    def applied(self, stream: str) -> list[tuple[int, int]]:
        """``(journal_seq, stream_seq)`` of every row the bus applied from ``stream``."""
        return [tuple(r) for r in self._bus_query(self._q_app_all, (stream,))]

    def refused(self, stream: str, after_fx: int | None = None) -> list[tuple[int, int, int]]:
        """``(stream_seq, after_seq, round_end)`` of the refusals (only those of groups ending after
        journal seq ``after_fx``, the ones whose notices may be unpublished, when given)."""
        if after_fx is None:
            return [tuple(r) for r in self._bus_query(self._q_ref_all, (stream,))]
        return [tuple(r) for r in self._bus_query(self._q_ref_get, (stream, after_fx))]


# ------------------------------------------------------------------------------------------ SQLite


class BusSQLiteJournal(BusJournal, SQLiteJournal):
    """A :class:`~ramparts.journal.SQLiteJournal` whose appends also write the bus tables."""

    def __init__(self, path: str, **kwargs):
        super().__init__(path, **kwargs)
        self._staged = None
        prefix = "" if self.namespace == DEFAULT_NAMESPACE else f"{self.namespace}_"
        c, a, r = (f'"{prefix}bus_{n}"' for n in ("cursor", "applied", "refused"))
        self._bus_sql(c, a, r, ph="?", integer="INTEGER", greatest="max")
        try:
            with self._write("open") as db:
                for stmt in self._bus_ddl:
                    db.execute(stmt)
        except BaseException:
            self._db.close()
            raise

    def _append_rows(self, rows: list[Row]) -> None:
        staged = self._take_staged(rows)
        with self._write("append") as db:
            check_continues(rows, check_last_seq(db.execute(self._q_last).fetchone()[0]))
            db.executemany(self._q_insert, rows)
            if staged is not None:
                self._bus_write(db, staged, rows[-1][0])

    def commit_cursor(self, staged: Staged) -> None:
        """Record a group that appended no journal row (every message dead-lettered or refused)."""
        with self._lock:
            self._check_open()
            with self._write("write the bus cursor") as db:
                last = check_last_seq(db.execute(self._q_last).fetchone()[0])
                staged.resolve([], last + 1)
                self._bus_write(db, staged, last)

    def record_fx(self, stream: str, fx_seq: int) -> None:
        """Move the effects watermark of ``stream`` to ``fx_seq`` (never backwards)."""
        with self._lock:
            self._check_open()
            try:
                self._db.execute(self._q_fx_put, (fx_seq, stream))
            except sqlite3.Error as exc:
                raise self._error("write the bus cursor", exc) from None

    def _bus_query(self, query: str, params: tuple) -> list[tuple]:
        with self._lock:
            self._check_open()
            try:
                return self._db.execute(query, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error("read the bus tables", exc) from None


# -------------------------------------------------------------------------------------- PostgreSQL


class BusPostgresJournal(BusJournal, PostgresJournal):
    """A :class:`~ramparts.journal.PostgresJournal` whose appends also write the bus tables.

    Every append is one transaction: ``LOCK TABLE journal IN EXCLUSIVE MODE``, the contiguity
    check, ``COPY`` of the rows, the bus rows, ``COMMIT`` (at the store's ``synchronous_commit``).
    """

    def __init__(self, url: str, **kwargs):
        super().__init__(url, **kwargs)
        self._staged = None
        ns = f'"{self.namespace}"'
        c, a, r = f"{ns}.bus_cursor", f"{ns}.bus_applied", f"{ns}.bus_refused"
        self._bus_sql(c, a, r, ph="%s", integer="BIGINT", greatest="greatest")
        import psycopg

        try:
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ramparts.journal:{self.namespace}",))
                for stmt in self._bus_ddl:
                    self._conn.execute(stmt)
        except psycopg.Error as exc:
            self._conn.close()
            raise self._error("open", exc) from None

    def _append_rows(self, rows: list[Row]) -> None:
        import psycopg

        staged = self._take_staged(rows)
        conn = self._live()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(self._q_lock)
                check_continues(rows, check_last_seq(cur.execute(self._q_last).fetchone()[0]))
                with cur.copy(self._q_copy) as copy:
                    for row in rows:
                        copy.write_row(row)
                if staged is not None:
                    self._bus_write(cur, staged, rows[-1][0])
        except psycopg.Error as exc:
            raise self._error("append", exc) from None

    def commit_cursor(self, staged: Staged) -> None:
        """See :meth:`BusSQLiteJournal.commit_cursor`."""
        import psycopg

        with self._lock:
            self._check_open()
            conn = self._live()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(self._q_lock)
                    last = check_last_seq(cur.execute(self._q_last).fetchone()[0])
                    staged.resolve([], last + 1)
                    self._bus_write(cur, staged, last)
            except psycopg.Error as exc:
                raise self._error("write the bus cursor", exc) from None

    def record_fx(self, stream: str, fx_seq: int) -> None:
        """See :meth:`BusSQLiteJournal.record_fx`."""
        with self._lock:
            self._check_open()
            self._query("write the bus cursor", self._q_fx_put + " RETURNING fx_seq", (fx_seq, stream))

    def _bus_query(self, query: str, params: tuple) -> list[tuple]:
        with self._lock:
            self._check_open()
            return self._query("read the bus tables", query, params)


def open_bus_journal(url: str, *, durability: str = "full", namespace: str = DEFAULT_NAMESPACE) -> BusSQLiteJournal | BusPostgresJournal:
    """Open (creating if needed) the journal at ``url`` with the bus's side tables (see
    :func:`~ramparts.journal.open_journal` for the URLs; an in-memory journal is refused: the bus
    resumes from what the journal holds)."""
    from ramparts.journal.store import _locate, check_namespace

    kind, where = _locate(url)
    namespace = check_namespace(namespace)
    if kind == "postgresql":
        return BusPostgresJournal(where, durability=durability, namespace=namespace)
    if kind == "memory":
        raise InvalidInput("journal", "the bus needs a durable journal (a SQLite path or a postgresql:// URL), "
                                      "not an in-memory one: a restart resumes from what the journal holds")
    return BusSQLiteJournal(where, durability=durability, namespace=namespace)


def dealt_with(path: str, namespace: str = DEFAULT_NAMESPACE) -> int:
    """How far the bus has dealt with its input stream, read from the SQLite journal at ``path`` on a
    read-only connection (for monitors, tests and benchmarks, while ``ramparts run`` writes it): the
    cursor's stream sequence; 0 before the first commit, or while the file or the table does not exist."""
    import sqlite3

    prefix = "" if namespace == DEFAULT_NAMESPACE else f"{namespace}_"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute(f'SELECT max(stream_seq) FROM "{prefix}bus_cursor"').fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return row[0] if row and row[0] is not None else 0


__all__ = ["BusJournal", "BusPostgresJournal", "BusSQLiteJournal", "Cursor", "Staged", "dealt_with", "open_bus_journal"]
