"""The append-only event journal: durable, ordered, gap-checked stores of opaque records, and snapshots.

The engine is a deterministic state machine over this journal: every accepted event is appended
(with the effects it produced) before it is acknowledged, and replaying the journal rebuilds the
engine byte for byte. The journal owns durability and order only; it never parses the canonical
JSON the engine gives it.

Public API
----------
:func:`open_journal`
    Open a store from a URL: a path or ``sqlite:///path`` (SQLite, WAL mode), ``:memory:``, or
    ``postgresql://...`` / ``postgres://...`` (PostgreSQL, one schema per ``namespace``);
    ``create=False`` opens only a journal that exists (:class:`JournalNotFound` otherwise).
:func:`journal_file`
    The SQLite file a URL names (``None`` for PostgreSQL and in-memory journals).
:class:`JournalRecord`
    One record: ``seq``, ``ts``, ``kind``, ``payload``, ``effects``.
:class:`JournalStore`
    The protocol every store implements: ``append``, ``last_seq``, ``read``, ``save_snapshot``,
    ``latest_snapshot``, ``close``, context manager, and ``durability``.
:class:`JournalUnavailable`
    The storage cannot be reached or written (a :class:`~ramparts.errors.RampartsError`).
:class:`JournalNotFound`
    A reader named a journal that does not exist (a :class:`JournalUnavailable`).
:class:`SQLiteJournal`, :class:`PostgresJournal`
    The two backends (:mod:`ramparts.journal.sqlite`, :mod:`ramparts.journal.postgres`).

Corrupt rows and gaps raise :class:`~ramparts.errors.JournalCorrupt`; bad arguments and
non-contiguous appends raise :class:`~ramparts.errors.InvalidInput`. See
:mod:`ramparts.journal.store` for the durability levels and invariants.
"""

from ramparts.journal.postgres import PostgresJournal
from ramparts.journal.sqlite import SQLiteJournal
from ramparts.journal.store import (
    DURABILITIES,
    FORMAT_VERSION,
    JournalNotFound,
    JournalRecord,
    JournalStore,
    JournalUnavailable,
    journal_file,
    open_journal,
)

__all__ = [
    "DURABILITIES",
    "FORMAT_VERSION",
    "JournalNotFound",
    "JournalRecord",
    "JournalStore",
    "JournalUnavailable",
    "PostgresJournal",
    "SQLiteJournal",
    "journal_file",
    "open_journal",
]
