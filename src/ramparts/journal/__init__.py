"""The append-only event journal: SQLite (WAL) and PostgreSQL stores of opaque, ordered records."""

from ramparts.journal.store import (
    JournalRecord,
    JournalStore,
    JournalUnavailable,
    PostgresJournal,
    SQLiteJournal,
    open_journal,
)

__all__ = ["JournalRecord", "JournalStore", "JournalUnavailable", "PostgresJournal", "SQLiteJournal", "open_journal"]
