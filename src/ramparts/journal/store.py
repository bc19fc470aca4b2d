"""The journal's contract: the record type, the store protocol, validation, streaming reads, and the URL opener.

This module owns what every journal backend shares:

* :class:`JournalRecord`, one journaled event (its sequence number, time, kind, canonical JSON
  payload and canonical JSON effects);
* :class:`JournalStore`, the protocol a backend implements, :class:`JournalUnavailable`, the
  error raised when the storage cannot be reached or written, and :class:`JournalNotFound`, raised
  to a reader that names a journal which does not exist;
* :class:`_BaseJournal`, the backend-independent half of a store: argument and record validation,
  gap-checked streaming reads, snapshot validation, the closed state and the context manager;
* :func:`open_journal`, which turns a URL into a SQLite (:mod:`ramparts.journal.sqlite`) or
  PostgreSQL (:mod:`ramparts.journal.postgres`) store (creating it, or with ``create=False``
  refusing one that does not exist), and :func:`journal_file`, the SQLite file a URL names.

The journal is the engine's source of truth. The engine encodes each event to canonical JSON
itself; the journal stores the records it is given *opaquely* (it never parses ``payload`` or
``effects``), durably and in order, and streams them back. An event is appended before it is
acknowledged, so :meth:`JournalStore.append` returns only once its transaction is committed at the
store's :attr:`~JournalStore.durability` level, and it is all-or-nothing: a batch that fails any
check, or whose transaction fails, leaves nothing written.

Invariants the stores maintain and check
-----------------------------------------
* Sequence numbers are ``1, 2, 3, ...`` with no gap. :meth:`~JournalStore.append` requires its
  batch to continue ``last_seq() + 1`` contiguously; the check runs inside the write transaction,
  under the store's write lock, so two writers racing on one journal cannot create a gap or a
  duplicate: the loser gets :class:`~ramparts.errors.InvalidInput`.
* Every value has its declared type: ``seq`` in ``[1, 2**63 - 1]``, ``ts`` in ``[0, 2**63 - 1]``
  (nanoseconds since the Unix epoch), ``kind`` a non-empty string, ``payload`` and ``effects``
  strings (``effects`` may be ``"[]"``). Strings must be valid Unicode without NUL characters, so
  that both backends store them byte for byte.
* :meth:`~JournalStore.read` re-checks all of this on the way out: a row whose values have the
  wrong type (a NULL, a text ``ts``, a binary ``kind``, a non-integer ``seq``) or a missing sequence
  number raises :class:`~ramparts.errors.JournalCorrupt` naming the sequence number concerned.

Durability levels
-----------------
``"full"``
    :meth:`~JournalStore.append` and :meth:`~JournalStore.save_snapshot` return only after the
    transaction is on stable storage: it survives a process crash, an operating-system crash and a
    power loss (to the extent that the disk honours flush requests).
``"normal"``
    The transaction is committed and visible, and survives a crash of the *writing process* (it has
    been handed to the operating system, or to the PostgreSQL server), but an operating-system crash
    or power loss (for PostgreSQL also a crash of the database server) may lose the most recently
    committed transactions. Losses are always a suffix: the journal never tears a transaction and
    never develops a gap.
``"none"``
    The in-memory SQLite store: nothing outlives the process.

See the backend modules for exactly how each level is implemented.
"""

from __future__ import annotations

import operator
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ramparts.errors import InvalidInput, JournalCorrupt, RampartsError

#: The on-disk format version written to the ``meta`` table; a store refuses other versions.
FORMAT_VERSION = 1

#: The largest value a ``seq`` or ``ts`` may take (both are signed 64-bit integers in storage).
INT64_MAX = 2**63 - 1

#: The durability levels :func:`open_journal` accepts.
DURABILITIES = ("full", "normal")

#: The namespace used when none is given.
DEFAULT_NAMESPACE = "ramparts"

_NAMESPACE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


class JournalUnavailable(RampartsError):
    """The journal's storage cannot be reached, opened or written (connection refused, disk full, locked).

    The message says which journal (with any password removed) and why. When raised by
    :meth:`JournalStore.append`, the batch may or may not have been committed if the failure struck
    while the commit itself was in flight (a dropped connection); re-read
    :meth:`JournalStore.last_seq` before retrying, since a retry of a committed batch is refused
    as non-contiguous rather than duplicated.
    """


class JournalNotFound(JournalUnavailable):
    """There is no journal where a reader expected one (:func:`open_journal` with ``create=False``).

    A missing SQLite file, a file or PostgreSQL schema without the namespace's journal tables, or an
    in-memory URL (always empty). Nothing was created.
    """


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One journaled event.

    Attributes
    ----------
    seq : int
        Sequence number: ``1, 2, 3, ...`` contiguously, the engine's event counter.
    ts : int
        Event time, integer nanoseconds since the Unix epoch (``0 <= ts <= 2**63 - 1``).
    kind : str
        Event type name, e.g. ``"Fill"``; non-empty.
    payload : str
        Canonical JSON of the event. Opaque to the journal.
    effects : str
        Canonical JSON of what applying the event produced, possibly ``"[]"``. Opaque to the
        journal.
    """

    seq: int
    ts: int
    kind: str
    payload: str
    effects: str


@runtime_checkable
class JournalStore(Protocol):
    """An append-only, durable, gap-checked store of :class:`JournalRecord` and engine snapshots.

    Attributes
    ----------
    durability : str
        What a successful :meth:`append` guarantees: ``"full"``, ``"normal"`` or ``"none"`` (see
        the module docstring of :mod:`ramparts.journal.store`).
    """

    durability: str

    def append(self, records: Sequence[JournalRecord]) -> None:
        """Append ``records`` in one atomic, durable transaction.

        Parameters
        ----------
        records : Sequence[JournalRecord]
            The batch, in order. Its sequence numbers must be ``last_seq() + 1, last_seq() + 2,
            ...``. An empty batch is a no-op.

        Raises
        ------
        InvalidInput
            A record has a value of the wrong type or range, or the batch does not continue the
            journal contiguously. Nothing is written.
        JournalUnavailable
            The storage failed; the transaction is rolled back (see :class:`JournalUnavailable`
            for a failure during the commit itself).
        """
        ...

    def last_seq(self) -> int:
        """The sequence number of the last record, ``0`` when the journal is empty.

        Raises
        ------
        JournalCorrupt
            The largest stored seq is not a positive integer.
        """
        ...

    def read(self, from_seq: int = 1, to_seq: int | None = None, batch: int = 10_000) -> Iterator[JournalRecord]:
        """Stream the records ``from_seq .. to_seq`` (inclusive) in order.

        Parameters
        ----------
        from_seq : int
            First seq to yield, ``>= 1``.
        to_seq : int or None
            Last seq to yield; ``None`` reads to the end. A range reaching past the end stops at the
            end; an empty range (``to_seq < from_seq``) yields nothing.
        batch : int
            Rows fetched per query, ``>= 1``. Memory use is bounded by one batch whatever the
            journal's length, and no read transaction is held between batches, so rows appended
            while the iterator is alive are seen.

        Yields
        ------
        JournalRecord
            In seq order; a lazy iterator (arguments are checked when :meth:`read` is called).

        Raises
        ------
        InvalidInput
            A malformed argument (raised by the call itself).
        JournalCorrupt
            While iterating: a row in the range is malformed, or a seq inside the range is missing
            (the message names it). The good records before the fault have been yielded.
        JournalUnavailable
            The store is closed or the storage fails.
        """
        ...

    def save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:
        """Durably store an engine snapshot taken after event ``seq``.

        Parameters
        ----------
        seq : int
            The last event the snapshot includes: ``0 <= seq <= last_seq()`` (a snapshot always
            describes a journaled prefix). A snapshot already stored at ``seq`` is replaced.
        state_hash : str
            The engine's state hash at ``seq`` (non-empty), checked by the replayer.
        blob : bytes
            The serialised engine (``bytes``, ``bytearray`` or ``memoryview``), stored opaquely.

        Raises
        ------
        InvalidInput
            A malformed argument or a ``seq`` beyond the journal. Nothing is written.
        JournalUnavailable
            The store is closed or the storage fails.
        """
        ...

    def latest_snapshot(self, at_or_before: int | None = None) -> tuple[int, str, bytes] | None:
        """The newest snapshot with ``seq <= at_or_before``.

        Parameters
        ----------
        at_or_before : int or None
            Upper bound on the snapshot's seq (``>= 0``); ``None``: the newest snapshot of all.

        Returns
        -------
        tuple of (int, str, bytes) or None
            ``(seq, state_hash, blob)``, or ``None`` when no snapshot qualifies.

        Raises
        ------
        JournalCorrupt
            The stored snapshot is malformed, or lies beyond the journal's last seq.
        """
        ...

    def close(self) -> None:
        """Release the connection. Idempotent; any later call raises :class:`JournalUnavailable`."""
        ...

    def __enter__(self) -> JournalStore: ...

    def __exit__(self, *exc: object) -> None: ...


# ---------------------------------------------------------------------------------------------
# validation


def _int_value(value: Any, field: str, low: int, high: int) -> int:
    """``value`` as a plain ``int`` in ``[low, high]``, else :class:`InvalidInput` naming ``field``."""
    if type(value) is not int:
        if isinstance(value, bool):
            raise InvalidInput(field, f"must be an integer, got a bool ({value!r})")
        try:
            value = operator.index(value)
        except TypeError:
            raise InvalidInput(field, f"must be an integer, got {type(value).__name__} ({value!r:.40})") from None
    if not low <= value <= high:
        raise InvalidInput(field, f"{value} is out of range [{low}, {high}]")
    return value


def _text_value(value: Any, field: str, *, nonempty: bool = False) -> str:
    """``value`` as a ``str`` storable byte for byte by every backend, else :class:`InvalidInput`."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    if nonempty and not value:
        raise InvalidInput(field, "must not be empty")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(field, "is not valid Unicode (lone surrogate)") from None
    return str(value)


def validate_batch(records: Sequence[JournalRecord]) -> list[tuple[int, int, str, str, str]]:
    """Check a batch for :meth:`JournalStore.append` and return its rows as plain tuples.

    Checks every value's type and range and that the sequence numbers are contiguous among
    themselves; that the first one continues the journal is the backend's check, made inside its
    write transaction.

    Raises
    ------
    InvalidInput
        Naming the offending record's seq (or position) and field.
    """
    if isinstance(records, JournalRecord):
        raise InvalidInput("records", "expected a sequence of JournalRecord, got a single record")
    if isinstance(records, (str, bytes)):
        raise InvalidInput("records", f"expected a sequence of JournalRecord, got {type(records).__name__}")
    rows: list[tuple[int, int, str, str, str]] = []
    append = rows.append
    expected = None
    for i, rec in enumerate(records):
        if type(rec) is JournalRecord:
            # fast path: plain ints and ASCII strings without NUL (what the engine produces)
            seq, ts, kind, payload, effects = rec.seq, rec.ts, rec.kind, rec.payload, rec.effects
            if (
                type(seq) is int
                and type(ts) is int
                and type(kind) is str
                and type(payload) is str
                and type(effects) is str
                and (seq == expected or (expected is None and 1 <= seq <= INT64_MAX))
                and 0 <= ts <= INT64_MAX
                and kind
                and kind.isascii()
                and payload.isascii()
                and effects.isascii()
                and "\x00" not in kind
                and "\x00" not in payload
                and "\x00" not in effects
            ):
                append((seq, ts, kind, payload, effects))
                expected = seq + 1
                continue
        if not isinstance(rec, JournalRecord):
            raise InvalidInput("records", f"item {i} is a {type(rec).__name__}, not a JournalRecord")
        seq = _int_value(rec.seq, f"records[{i}].seq", 1, INT64_MAX)
        where = f"record seq {seq}"
        if expected is not None and seq != expected:
            raise InvalidInput("seq", f"{where} does not follow seq {expected - 1} in the batch (expected {expected})")
        expected = seq + 1
        append(
            (
                seq,
                _int_value(rec.ts, f"{where}.ts", 0, INT64_MAX),
                _text_value(rec.kind, f"{where}.kind", nonempty=True),
                _text_value(rec.payload, f"{where}.payload"),
                _text_value(rec.effects, f"{where}.effects"),
            )
        )
    return rows


def check_continues(rows: Sequence[tuple], last: int) -> None:
    """Raise :class:`InvalidInput` unless ``rows`` (non-empty) start at ``last + 1``."""
    first = rows[0][0]
    if first != last + 1:
        what = "already exists" if first <= last else "would leave a gap"
        raise InvalidInput(
            "seq",
            f"record seq {first} does not continue the journal (last seq {last}, expected {last + 1}): it {what}; nothing written",
        )


def row_to_record(row: Sequence[Any], after: int) -> JournalRecord:
    """Build a :class:`JournalRecord` from a stored row, checking every value's type.

    ``after`` is the seq of the previous good row, used to name a row whose own seq is unusable.

    Raises
    ------
    JournalCorrupt
        Naming the row's seq and the malformed column.
    """
    try:
        seq, ts, kind, payload, effects = row
    except (TypeError, ValueError):
        raise JournalCorrupt(f"journal row after seq {after} has {len(row)} columns, expected 5") from None
    if type(seq) is not int or not 1 <= seq <= INT64_MAX:
        raise JournalCorrupt(f"journal row after seq {after} has a malformed seq: {seq!r:.40} (expected seq {after + 1})")
    if type(ts) is not int or ts < 0:
        raise JournalCorrupt(f"journal row seq {seq} has a malformed ts: {ts!r:.40}")
    if type(kind) is not str or not kind:
        raise JournalCorrupt(f"journal row seq {seq} has a malformed kind: {kind!r:.40}")
    if type(payload) is not str:
        raise JournalCorrupt(f"journal row seq {seq} has a malformed payload: not text ({type(payload).__name__})")
    if type(effects) is not str:
        raise JournalCorrupt(f"journal row seq {seq} has malformed effects: not text ({type(effects).__name__})")
    return JournalRecord(seq, ts, kind, payload, effects)


def check_last_seq(value: Any) -> int:
    """Turn the stored ``max(seq)`` into :meth:`JournalStore.last_seq`'s answer, or :class:`JournalCorrupt`."""
    if value is None:
        return 0
    if type(value) is not int or value < 1:
        raise JournalCorrupt(f"journal has a malformed seq {value!r:.40} (the largest stored seq is not a positive integer)")
    return value


def check_snapshot_row(row: Sequence[Any]) -> tuple[int, str, bytes]:
    """Check a stored snapshot row ``(seq, state_hash, blob)``; :class:`JournalCorrupt` naming its seq."""
    seq, state_hash, blob = row
    if type(seq) is not int or seq < 0:
        raise JournalCorrupt(f"snapshot with malformed seq {seq!r:.40}")
    if type(state_hash) is not str or not state_hash:
        raise JournalCorrupt(f"snapshot at seq {seq} has a malformed state_hash: {state_hash!r:.40}")
    if isinstance(blob, (bytearray, memoryview)):
        blob = bytes(blob)
    if type(blob) is not bytes:
        raise JournalCorrupt(f"snapshot at seq {seq} has a malformed blob: {type(blob).__name__}, not bytes")
    return seq, state_hash, blob


def check_namespace(namespace: Any) -> str:
    """Validate a namespace: an SQL identifier ``[A-Za-z_][A-Za-z0-9_]*``, at most 63 characters, not ``pg_*``."""
    if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace) or namespace.lower().startswith("pg_"):
        raise InvalidInput(
            "namespace",
            f"{namespace!r:.80} is not a valid namespace (letters, digits and '_', not starting with a digit or 'pg_', at most 63)",
        )
    return namespace


# ---------------------------------------------------------------------------------------------
# the shared half of a store


class _BaseJournal:
    """Backend-independent half of a :class:`JournalStore`.

    A backend implements ``_append_rows``, ``_last_seq``, ``_fetch``, ``_save_snapshot``,
    ``_latest_snapshot`` and ``_close``; this class validates arguments, streams reads with gap
    detection, serialises calls with a lock (a store may be shared between threads) and tracks the
    closed state.
    """

    durability: str
    #: A description of the journal safe to print (no password).
    description: str

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False

    # -- public API -----------------------------------------------------------------------

    def append(self, records: Sequence[JournalRecord]) -> None:
        """See :meth:`JournalStore.append`."""
        rows = validate_batch(records)
        if not rows:
            return
        with self._lock:
            self._check_open()
            self._append_rows(rows)

    def last_seq(self) -> int:
        """See :meth:`JournalStore.last_seq`."""
        with self._lock:
            self._check_open()
            return check_last_seq(self._last_seq())

    def read(self, from_seq: int = 1, to_seq: int | None = None, batch: int = 10_000) -> Iterator[JournalRecord]:
        """See :meth:`JournalStore.read`. Arguments are checked when called, not when first iterated."""
        from_seq = _int_value(from_seq, "from_seq", 1, INT64_MAX)
        high = INT64_MAX if to_seq is None else _int_value(to_seq, "to_seq", 0, INT64_MAX)
        batch = _int_value(batch, "batch", 1, 10_000_000)
        self._check_open()
        return self._stream(from_seq, high, to_seq is not None, batch)

    def save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:
        """See :meth:`JournalStore.save_snapshot`."""
        seq = _int_value(seq, "seq", 0, INT64_MAX)
        state_hash = _text_value(state_hash, "state_hash", nonempty=True)
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise InvalidInput("blob", f"must be bytes, got {type(blob).__name__}")
        with self._lock:
            self._check_open()
            self._save_snapshot(seq, state_hash, bytes(blob))

    def latest_snapshot(self, at_or_before: int | None = None) -> tuple[int, str, bytes] | None:
        """See :meth:`JournalStore.latest_snapshot`.

        Raises
        ------
        JournalCorrupt
            The snapshot row is malformed, or it is ahead of the journal's last record (a snapshot
            describes a journaled prefix, so the journal has lost rows).
        """
        high = INT64_MAX if at_or_before is None else _int_value(at_or_before, "at_or_before", 0, INT64_MAX)
        with self._lock:
            self._check_open()
            row = self._latest_snapshot(high)
            if row is None:
                return None
            snap = check_snapshot_row(row)
            last = check_last_seq(self._last_seq())
        if snap[0] > last:
            raise JournalCorrupt(f"snapshot at seq {snap[0]} is ahead of the journal, whose last seq is {last}")
        return snap

    def close(self) -> None:
        """See :meth:`JournalStore.close`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.description} durability={self.durability!r} {state}>"

    # -- helpers --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise JournalUnavailable(f"journal {self.description} is closed")

    def _stream(self, from_seq: int, high: int, bounded: bool, batch: int) -> Iterator[JournalRecord]:
        expected = from_seq
        while expected <= high:
            with self._lock:
                self._check_open()
                rows = self._fetch(expected, high, batch)
            for row in rows:
                rec = row_to_record(row, expected - 1)
                if rec.seq != expected:
                    raise JournalCorrupt(f"journal gap: seq {expected} is missing (the next row is seq {rec.seq})")
                yield rec
                expected += 1
            if len(rows) < batch:
                break
        if bounded and expected <= high and self.last_seq() >= expected:
            # rows exist beyond the range but seq `expected` (inside it) does not
            raise JournalCorrupt(f"journal gap: seq {expected} is missing")

    # -- backend hooks --------------------------------------------------------------------

    def _append_rows(self, rows: list[tuple[int, int, str, str, str]]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _last_seq(self) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _fetch(self, low: int, high: int, limit: int) -> list[tuple]:  # pragma: no cover
        raise NotImplementedError

    def _save_snapshot(self, seq: int, state_hash: str, blob: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def _latest_snapshot(self, high: int) -> tuple | None:  # pragma: no cover
        raise NotImplementedError

    def _close(self) -> None:  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# the opener


def _locate(url: str | os.PathLike[str]) -> tuple[str, str]:
    """``("postgresql", url)``, ``("memory", ":memory:")`` or ``("sqlite", path)`` for a journal URL (see :func:`open_journal`)."""
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("url", f"must be a non-empty string or path, got {url!r:.80}")
    lowered = url.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        return "postgresql", url
    if lowered.startswith("sqlite://"):
        rest = url[len("sqlite://") :]
        if rest in ("", ":memory:", "/:memory:"):
            return "memory", ":memory:"
        if not rest.startswith("/") or rest == "/":
            raise InvalidInput(
                "url", f"{url!r:.120} names no file: use sqlite:///relative/path.db or sqlite:////absolute/path.db (or a plain path)"
            )
        return "sqlite", rest[1:]
    if url == ":memory:":
        return "memory", ":memory:"
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*)://", url)
    if scheme:
        raise InvalidInput("url", f"unknown journal URL scheme {scheme.group(1)!r} (use a path, sqlite://, postgresql:// or postgres://)")
    return "sqlite", url


def journal_file(url: str | os.PathLike[str]) -> str | None:
    """The SQLite database file a journal URL names, or ``None`` for PostgreSQL and in-memory journals.

    Lets a caller check a path (does it exist, is its folder there, is it writable) before
    :func:`open_journal` touches it. Raises :class:`~ramparts.errors.InvalidInput` for a URL that
    :func:`open_journal` would refuse.
    """
    kind, where = _locate(url)
    return where if kind == "sqlite" else None


def open_journal(
    url: str | os.PathLike[str], *, durability: str = "full", namespace: str = DEFAULT_NAMESPACE, create: bool = True
) -> JournalStore:
    """Open the journal at ``url``, creating it if needed (unless ``create=False``).

    Parameters
    ----------
    url : str or os.PathLike
        Where the journal lives:

        * a filesystem path, or ``sqlite:///PATH`` (SQLAlchemy's convention: ``sqlite:///j.db`` is
          the relative path ``j.db`` and ``sqlite:////var/lib/j.db`` the absolute path
          ``/var/lib/j.db``): a SQLite file in WAL mode;
        * ``:memory:``, ``sqlite://:memory:`` (also ``sqlite://`` and ``sqlite:///:memory:``): a
          private in-memory SQLite journal, durability ``"none"``;
        * ``postgresql://user[:password]@host[:port]/db[?params]`` or ``postgres://...``: a
          PostgreSQL journal (psycopg 3, any libpq parameters).
    durability : {"full", "normal"}
        See the module docstring; ignored (reported as ``"none"``) for an in-memory journal.
    namespace : str
        Which journal inside the database: for PostgreSQL the schema holding the tables; for SQLite
        the table prefix (the default ``"ramparts"`` uses the plain names ``journal``, ``snapshots``
        and ``meta``; any other namespace ``N`` uses ``N_journal``, ``N_snapshots``, ``N_meta``).
    create : bool
        ``True`` (the default): a missing file, schema or table is created, as a writer starting a
        new journal wants. ``False``: the journal must already exist (a reader: a replay, an
        audit); a missing SQLite file, a file or schema without this namespace's journal, or an
        in-memory URL raise :class:`JournalNotFound` and nothing is created.

    Returns
    -------
    JournalStore

    Raises
    ------
    InvalidInput
        Unknown URL scheme (``field="url"``), unknown durability or a malformed namespace.
    JournalNotFound
        ``create=False`` and there is no journal at ``url`` (in ``namespace``).
    JournalUnavailable
        The database cannot be opened or reached.
    JournalCorrupt
        The database exists but is not a ramparts journal of a supported format version.
    """
    kind, where = _locate(url)
    if durability not in DURABILITIES:
        raise InvalidInput("durability", f"{durability!r:.40} is not one of {', '.join(DURABILITIES)}")
    namespace = check_namespace(namespace)
    if kind == "postgresql":
        from ramparts.journal.postgres import PostgresJournal

        return PostgresJournal(where, durability=durability, namespace=namespace, create=create)

    from ramparts.journal.sqlite import SQLiteJournal

    if kind == "memory" and not create:
        raise JournalNotFound("an in-memory journal is always empty: give the path or URL of an existing journal")
    return SQLiteJournal(where, durability=durability, namespace=namespace, create=create)


__all__ = [
    "DEFAULT_NAMESPACE",
    "DURABILITIES",
    "FORMAT_VERSION",
    "INT64_MAX",
    "JournalRecord",
    "JournalNotFound",
    "JournalStore",
    "JournalUnavailable",
    "journal_file",
    "open_journal",
]
