"""A shard process's journal: the requests it served, in order, with what it learnt while serving them.

A shard process (:class:`ramparts.shard.bus.ShardNode`) changes state only when it serves a request. A
request may make requests of its own to other shards (a leg of a cross-shard fill, the fund's balance,
an ADL ranking), and their replies decide what it does. So the shard's state is a deterministic
function of the sequence of ``(request, replies to its own requests)``, and that sequence is what
this journal keeps, one row per request that carries an id:

    row n = (id, op, args, nested replies in the order asked, the reply sent)

The reply is sent only after its row is committed (append before acknowledge). Two rules follow:

* **Restart.** A killed shard replays its rows in order: each op runs again with its nested
  requests answered from the row instead of being sent, and must produce the same reply (a check
  of determinism). The shard ends in the state it had acknowledged, and no other shard sees a
  request twice.
* **Exactly once.** Ids are deterministic: the coordinator's are ``s<stream seq>.<call index>``
  (``a<n>.<call index>`` for events applied outside a stream), and a nested request's is its parent's
  id plus ``/<index>``. A request whose id is journaled is answered with the journaled reply and
  not executed again: a caller's retry after a lost reply, a shard re-executing an unacknowledged
  request after its own restart (its nested requests carry the same ids), and a coordinator
  re-running its stream after a restart all get the first answer. Reads are journaled too, so a
  retried read of a state that has since moved still answers as the first time.

A standby shard process (``--failover``) follows the primary's journal on a shared file system by
replaying each new row as it appears (:meth:`RequestLog.refresh`), and takes over when the primary's
lease expires (:mod:`ramparts.bus.failover`'s :class:`~ramparts.bus.failover.Lease`); the journal's
lock file (``flock``) fences the two.

Storage: SQLite in WAL mode, one transaction a row, ``synchronous=NORMAL`` by default (survives the
process's death; ``full`` survives the machine's). ``path=None`` keeps the rows in memory (the
exactly-once answers without the restart).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ramparts.errors import InvalidInput


def _open(path: str, durability: str, ddl: str) -> sqlite3.Connection:
    """A SQLite file in WAL mode with ``synchronous`` = ``durability`` (full or normal) and ``ddl``'s table."""
    if durability not in ("full", "normal"):
        raise InvalidInput("durability", f"{durability!r} is not one of full, normal")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={durability.upper()}")
    db.execute(ddl)
    return db


@dataclass(frozen=True, slots=True)
class Served:
    """One journaled request."""

    n: int
    id: str
    op: str
    args: str  # JSON
    nested: str  # JSON list of the replies (``{"ok": ...}`` / ``{"error": ...}``) to its own requests
    reply: bytes


class RequestLog:
    """The journal of one shard process; see the module docstring."""

    def __init__(self, path: str | None = None, durability: str = "normal"):
        self.path = path
        self._replies: dict[str, bytes] = {}
        self._n = 0
        self._db = None if path is None else _open(
            path, durability, "CREATE TABLE IF NOT EXISTS served (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
                              "op TEXT NOT NULL, args TEXT NOT NULL, nested TEXT NOT NULL, reply BLOB NOT NULL)")
        if path is None and durability not in ("full", "normal"):
            raise InvalidInput("durability", f"{durability!r} is not one of full, normal")

    def __len__(self) -> int:
        return len(self._replies)

    def reply(self, rid: str) -> bytes | None:
        """The reply journaled for request ``rid``, or ``None``."""
        return self._replies.get(rid)

    def append(self, rid: str, op: str, args: str, nested: str, reply: bytes) -> None:
        """Journal one served request (committed when this returns)."""
        if rid in self._replies:
            raise InvalidInput("id", f"request {rid} is journaled already")
        n = self._n + 1
        if self._db is not None:
            self._db.execute("INSERT INTO served (n, id, op, args, nested, reply) VALUES (?, ?, ?, ?, ?, ?)",
                             (n, rid, op, args, nested, reply))
        self._n = n
        self._replies[rid] = reply

    def refresh(self) -> list[Served]:
        """The rows journaled since the last look (by this process or, for a standby, by the primary),
        in order; their replies become known to :meth:`reply`. A journal starts with a first look."""
        if self._db is None:
            return []
        rows = [Served(n, rid, op, args, nested, bytes(reply)) for n, rid, op, args, nested, reply in
                self._db.execute("SELECT n, id, op, args, nested, reply FROM served WHERE n > ? ORDER BY n", (self._n,))]
        for row in rows:
            self._replies[row.id] = row.reply
        if rows:
            self._n = rows[-1].n
        return rows

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class CoordinatorState:
    """The coordinator's own journal (one row): how far it has applied and published the input stream
    (``applied``: every event through it is applied and its effects published), and a snapshot of its
    state (the directory engine, routing table and clocks) taken at ``snap_seq``. A restarted
    coordinator restores the snapshot and consumes from ``snap_seq + 1``; the events up to ``applied``
    are answered from the shards' journals and not published again."""

    def __init__(self, path: str, durability: str = "normal"):
        self._db = _open(path, durability, "CREATE TABLE IF NOT EXISTS coordinator (one INTEGER PRIMARY KEY CHECK (one = 1), "
                                           "stream TEXT NOT NULL, applied INTEGER NOT NULL, snap_seq INTEGER NOT NULL, snap BLOB)")

    def load(self, stream: str) -> tuple[int, int, bytes | None]:
        """``(applied, snap_seq, snapshot)`` for ``stream`` (``(0, 0, None)`` at the start); a state kept
        for another stream is refused."""
        row = self._db.execute("SELECT stream, applied, snap_seq, snap FROM coordinator").fetchone()
        if row is None:
            return 0, 0, None
        if row[0] != stream:
            raise InvalidInput("stream", f"the coordinator's state follows stream {row[0]}, not {stream}")
        return row[1], row[2], None if row[3] is None else bytes(row[3])

    def advance(self, stream: str, applied: int, snapshot: tuple[int, bytes] | None = None) -> None:
        """Record that every event through ``applied`` is applied and published (and, with ``snapshot``,
        the coordinator's state at its seq), in one transaction."""
        if snapshot is None:
            cur = self._db.execute("UPDATE coordinator SET applied = ? WHERE stream = ? AND applied < ?", (applied, stream, applied))
            if cur.rowcount == 1:
                return
            if self._db.execute("SELECT 1 FROM coordinator").fetchone() is not None:
                raise InvalidInput("applied", f"the coordinator's cursor moves forward only (to {applied})")
            self._db.execute("INSERT INTO coordinator (one, stream, applied, snap_seq, snap) VALUES (1, ?, ?, 0, NULL)",
                             (stream, applied))
            return
        seq, blob = snapshot
        self._db.execute("INSERT INTO coordinator (one, stream, applied, snap_seq, snap) VALUES (1, ?, ?, ?, ?) "
                         "ON CONFLICT (one) DO UPDATE SET applied = excluded.applied, snap_seq = excluded.snap_seq, "
                         "snap = excluded.snap", (stream, applied, seq, blob))

    def close(self) -> None:
        self._db.close()


__all__ = ["CoordinatorState", "RequestLog", "Served"]
