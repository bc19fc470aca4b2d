"""The production journal store: PostgreSQL through psycopg 3, one schema per journal.

This module owns :class:`PostgresJournal`. Validation, gap-checked reads and the closed state live
in :class:`~ramparts.journal.store._BaseJournal`; this module owns the SQL, the connection and what
the server settings guarantee. psycopg is imported only when a PostgreSQL journal is opened.

Schema (format version :data:`~ramparts.journal.store.FORMAT_VERSION`)
---------------------------------------------------------------------
In the schema named by ``namespace`` (created if missing), so several journals share a database::

    journal(seq BIGINT PRIMARY KEY, ts BIGINT NOT NULL, kind TEXT NOT NULL,
            payload TEXT NOT NULL, effects TEXT NOT NULL)
    snapshots(seq BIGINT PRIMARY KEY, state_hash TEXT NOT NULL, blob BYTEA NOT NULL)
    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)          -- ('format_version', '1')

The tables are ordinary (WAL-logged, never ``UNLOGGED``). Schema creation runs under a
transaction-scoped advisory lock, so processes opening the same new journal at once do not race.
Opening a schema whose ``journal`` table has other columns, or whose ``meta`` names another format
version, raises :class:`~ramparts.errors.JournalCorrupt`.

Durability
----------
Every :meth:`~PostgresJournal.append` is one transaction. A small batch (at most
:data:`COPY_THRESHOLD` records, in particular the engine's one event per acknowledgement) is a
single ``INSERT ... SELECT FROM unnest(arrays) WHERE (SELECT max(seq) ...) = first - 1`` statement:
one round trip that is its own transaction and inserts nothing unless the batch continues the
journal; a concurrent writer that slipped in between collides on the primary key and the batch is
refused whole. A larger batch runs ``LOCK TABLE journal IN EXCLUSIVE MODE`` (appenders queue,
readers do not block), the contiguity check against ``max(seq)``, ``COPY ... FROM STDIN`` and
``COMMIT``.

``durability="full"``: ``SET synchronous_commit = on``.
    ``COMMIT`` returns once the transaction's WAL is flushed to the server's disk (and, if the server
    has synchronous standbys, to theirs), so an acknowledged batch survives a crash of this process,
    of the server and of its machine. This holds only if the server runs with ``fsync = on`` (the
    default); a :class:`RuntimeWarning` is issued when it does not.
``durability="normal"``: ``SET synchronous_commit = off``.
    ``COMMIT`` returns once the server has the transaction in memory; its WAL writer flushes it
    within about ``3 × wal_writer_delay`` (600 ms by default). An acknowledged batch survives a crash
    of this process, but a crash of the server or its machine can lose the most recent transactions,
    always a suffix of whole transactions: the database stays consistent and gap-free.

Connection handling
-------------------
Connection failures (refused, timed out, authentication) raise
:class:`~ramparts.journal.store.JournalUnavailable` with libpq's message flattened to one line and
the URL shown without its password. ``connect_timeout`` defaults to 10 s unless the URL sets it.
A connection found broken at the start of a call is re-established once, transparently; a failure
during a call is reported, not retried, because a ``COMMIT`` in flight when the connection dropped
may or may not have taken effect (a retried append of a batch that did commit is then refused as
non-contiguous, never duplicated).
"""

from __future__ import annotations

import warnings
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

#: Batches larger than this are written with ``COPY`` under a table lock; smaller ones with one ``INSERT ... unnest`` statement.
COPY_THRESHOLD = 256

_JOURNAL_COLUMNS = (("seq", "bigint"), ("ts", "bigint"), ("kind", "text"), ("payload", "text"), ("effects", "text"))


def redact_url(url: str) -> str:
    """``url`` as ``postgresql://user@host:port/dbname``, without password or other parameters."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url.replace("postgres://", "postgresql://", 1) if url.lower().startswith("postgres://") else url)
    except Exception:
        raise InvalidInput("url", "is not a valid PostgreSQL connection URL") from None
    user = info.get("user", "")
    host = info.get("host", "") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user + '@' if user else ''}{host}{port}/{info.get('dbname', '')}"


class PostgresJournal(_BaseJournal):
    """A :class:`~ramparts.journal.store.JournalStore` on PostgreSQL (see the module docstring).

    Parameters
    ----------
    url : str
        ``postgresql://`` or ``postgres://`` URL; any libpq parameters are honoured.
    durability : {"full", "normal"}
        ``synchronous_commit`` on or off; see the module docstring.
    namespace : str
        The schema holding this journal's tables.
    create : bool
        ``False``: the schema must already hold this journal, else
        :class:`~ramparts.journal.store.JournalNotFound` and nothing is created.
    connect_timeout : int
        Seconds to wait for the server, unless the URL sets ``connect_timeout`` itself.

    Attributes
    ----------
    durability : str
        ``"full"`` or ``"normal"``.
    namespace : str
        The schema name.
    description : str
        The URL without password, and the schema, for messages.
    """

    def __init__(self, url: str, *, durability: str = "full", namespace: str = DEFAULT_NAMESPACE, connect_timeout: int = 10,
                 create: bool = True):
        super().__init__()
        if durability not in DURABILITIES:
            raise InvalidInput("durability", f"{durability!r:.40} is not one of {', '.join(DURABILITIES)}")
        self.namespace = check_namespace(namespace)
        self.durability = durability
        self.description = f"{redact_url(url)} (schema {namespace})"
        self._url = "postgresql://" + url[len("postgres://") :] if url.lower().startswith("postgres://") else url
        self._connect_timeout = connect_timeout

        ns = f'"{namespace}"'  # validated: letters, digits, underscores
        j, s, m = f"{ns}.journal", f"{ns}.snapshots", f"{ns}.meta"
        self._q_lock = f"LOCK TABLE {j} IN EXCLUSIVE MODE"
        self._q_last = f"SELECT max(seq) FROM {j}"
        # one statement, hence one round trip and its own transaction: inserts only if the batch
        # continues max(seq) as seen by the statement; a racing writer hits the primary key instead
        self._q_insert = (
            f"INSERT INTO {j} (seq, ts, kind, payload, effects)"
            " SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[], %b::text[])"  # binary arrays
            f" WHERE (SELECT coalesce(max(seq), 0) FROM {j}) = %s"
        )
        self._q_copy = f"COPY {j} (seq, ts, kind, payload, effects) FROM STDIN"
        self._q_fetch = f"SELECT seq, ts, kind, payload, effects FROM {j} WHERE seq >= %s AND seq <= %s ORDER BY seq LIMIT %s"
        self._q_snap_put = (
            f"INSERT INTO {s} (seq, state_hash, blob) VALUES (%s, %s, %s) "
            "ON CONFLICT (seq) DO UPDATE SET state_hash = EXCLUDED.state_hash, blob = EXCLUDED.blob"
        )
        self._q_snap_get = f"SELECT seq, state_hash, blob FROM {s} WHERE seq <= %s ORDER BY seq DESC LIMIT 1"
        self._ddl = (
            f"CREATE TABLE IF NOT EXISTS {j} (seq BIGINT PRIMARY KEY, ts BIGINT NOT NULL, kind TEXT NOT NULL,"
            " payload TEXT NOT NULL, effects TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {s} (seq BIGINT PRIMARY KEY, state_hash TEXT NOT NULL, blob BYTEA NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {m} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        )
        self._q_meta_get = f"SELECT value FROM {m} WHERE key = 'format_version'"
        self._q_meta_put = f"INSERT INTO {m} (key, value) VALUES ('format_version', %s)"

        self._conn = self._connect()
        try:
            if not create:
                self._check_exists()
            self._create_schema()
        except BaseException:
            self._conn.close()
            raise

    # -- connection -------------------------------------------------------------------------

    def _connect(self):
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        kwargs: dict[str, Any] = {"autocommit": True}
        info = conninfo_to_dict(self._url)
        if "connect_timeout" not in info:
            kwargs["connect_timeout"] = self._connect_timeout
        if "application_name" not in info:
            kwargs["application_name"] = "ramparts-journal"
        try:
            conn = psycopg.connect(self._url, **kwargs)
        except psycopg.Error as exc:
            raise JournalUnavailable(f"cannot connect to the journal {self.description}: {_one_line(exc)}") from None
        try:
            conn.execute("SET synchronous_commit = " + ("on" if self.durability == "full" else "off"))
            if self.durability == "full":
                fsync = conn.execute("SHOW fsync").fetchone()[0]
                if fsync != "on":
                    warnings.warn(
                        f"PostgreSQL server of journal {self.description} runs with fsync={fsync}: durability 'full' is not guaranteed",
                        RuntimeWarning,
                        stacklevel=3,
                    )
        except psycopg.Error as exc:
            conn.close()
            raise JournalUnavailable(f"journal {self.description}: cannot configure the session: {_one_line(exc)}") from None
        return conn

    def _live(self):
        """The connection, re-established once if it was found broken (never mid-call)."""
        conn = self._conn
        if conn.closed or conn.broken:
            try:
                conn.close()
            except Exception:
                pass
            self._conn = conn = self._connect()
        return conn

    def _check_exists(self) -> None:
        """Raise :class:`JournalNotFound` unless the schema holds a journal table (reads only)."""
        import psycopg

        try:
            row = self._conn.execute("SELECT to_regclass(%s)", (f'"{self.namespace}".journal',)).fetchone()
        except psycopg.Error as exc:
            raise self._error("open", exc) from None
        if row is None or row[0] is None:
            raise JournalNotFound(f"journal {self.description}: no ramparts journal in this schema")

    def _create_schema(self) -> None:
        import psycopg

        conn = self._conn
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ramparts.journal:{self.namespace}",))
                if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.namespace,)).fetchone() is None:
                    conn.execute(f'CREATE SCHEMA "{self.namespace}"')
                for stmt in self._ddl:
                    conn.execute(stmt)
                cols = tuple(
                    conn.execute(
                        "SELECT column_name, data_type FROM information_schema.columns"
                        " WHERE table_schema = %s AND table_name = 'journal' ORDER BY ordinal_position",
                        (self.namespace,),
                    ).fetchall()
                )
                if cols != _JOURNAL_COLUMNS:
                    raise JournalCorrupt(f"journal {self.description}: table journal has columns {cols}; not a ramparts journal")
                row = conn.execute(self._q_meta_get).fetchone()
                if row is None:
                    conn.execute(self._q_meta_put, (str(FORMAT_VERSION),))
                elif row[0] != str(FORMAT_VERSION):
                    raise JournalCorrupt(
                        f"journal {self.description} has format version {row[0]!r}; this ramparts reads version {FORMAT_VERSION}"
                    )
        except psycopg.Error as exc:
            raise self._error("open", exc) from None

    # -- introspection ----------------------------------------------------------------------

    def storage_settings(self) -> dict[str, Any]:
        """The settings durability rests on.

        Returns
        -------
        dict
            ``synchronous_commit`` and ``fsync`` (the session's and server's values) and
            ``journal_persistence``: ``"permanent"`` when the journal table is WAL-logged
            (``"unlogged"`` or ``"temporary"`` otherwise).
        """
        import psycopg

        with self._lock:
            self._check_open()
            conn = self._live()
            try:
                sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
                fsync = conn.execute("SHOW fsync").fetchone()[0]
                persistence = conn.execute(
                    "SELECT c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relname = 'journal'",
                    (self.namespace,),
                ).fetchone()[0]
            except psycopg.Error as exc:
                raise self._error("read settings", exc) from None
        return {
            "synchronous_commit": sync,
            "fsync": fsync,
            "journal_persistence": {"p": "permanent", "u": "unlogged", "t": "temporary"}.get(persistence, persistence),
        }

    # -- backend hooks ----------------------------------------------------------------------

    def _append_rows(self, rows: list[tuple[int, int, str, str, str]]) -> None:
        import psycopg

        conn = self._live()
        try:
            if len(rows) <= COPY_THRESHOLD:
                columns = [list(col) for col in zip(*rows, strict=True)]
                with conn.cursor() as cur:
                    cur.execute(self._q_insert, (*columns, rows[0][0] - 1))
                    if cur.rowcount == len(rows):
                        return
                last = check_last_seq(conn.execute(self._q_last).fetchone()[0])
                check_continues(rows, last)
                raise InvalidInput("seq", f"record seq {rows[0][0]} was refused: another writer appended concurrently; nothing written")
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(self._q_lock)
                check_continues(rows, check_last_seq(cur.execute(self._q_last).fetchone()[0]))
                with cur.copy(self._q_copy) as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
        except psycopg.Error as exc:
            raise self._error("append", exc) from None

    def _last_seq(self) -> Any:
        return self._query("read", self._q_last, ())[0][0]

    def _fetch(self, low: int, high: int, limit: int) -> list[tuple]:
        return self._query("read", self._q_fetch, (low, high, limit))

    def _save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:
        import psycopg

        conn = self._live()
        try:
            with conn.transaction(), conn.cursor() as cur:
                last = check_last_seq(cur.execute(self._q_last).fetchone()[0])
                if seq > last:
                    raise InvalidInput("seq", f"snapshot seq {seq} is beyond the journal's last seq {last}")
                cur.execute(self._q_snap_put, (seq, state_hash, blob), binary=True)
        except psycopg.Error as exc:
            raise self._error("save snapshot", exc) from None

    def _latest_snapshot(self, high: int) -> tuple | None:
        rows = self._query("read snapshot", self._q_snap_get, (high,), binary=True)
        return rows[0] if rows else None

    def _close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # pragma: no cover - closing a dead connection
            pass

    # -- helpers ----------------------------------------------------------------------------

    def _query(self, what: str, query: str, params: tuple, binary: bool = False) -> list[tuple]:
        import psycopg

        conn = self._live()
        try:
            with conn.cursor(binary=binary) as cur:
                return cur.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise self._error(what, exc) from None

    def _error(self, what: str, exc: Exception) -> Exception:
        """Turn a psycopg error into :class:`InvalidInput` (a racing writer), :class:`JournalCorrupt` or :class:`JournalUnavailable`."""
        from psycopg import errors

        message = f"journal {self.description}: {what} failed: {_one_line(exc)}"
        if isinstance(exc, errors.UniqueViolation):
            return InvalidInput("seq", f"{message} (another writer appended the same seq)")
        if isinstance(exc, (errors.DataCorrupted, errors.IndexCorrupted)):
            return JournalCorrupt(message)
        return JournalUnavailable(message)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


__all__ = ["COPY_THRESHOLD", "PostgresJournal", "redact_url"]
