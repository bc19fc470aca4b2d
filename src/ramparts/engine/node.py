"""The engine behind its journal: append before acknowledge, snapshots, and deterministic replay.

:class:`Node` applies an event to the in-memory engine, appends the event and its effects to the
journal in one durable transaction, and only then returns (acknowledges). A rejected event changes
nothing and is not journaled. If the append itself fails, the in-memory state is discarded and
rebuilt from the journal, so memory never runs ahead of what is durable.

:func:`replay` rebuilds an engine from the latest snapshot plus every later journal row, checking
that each row decodes, applies, and reproduces the effects recorded when it was acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ramparts.engine.engine import STATE_VERSION, Engine, snapshot_version
from ramparts.engine.events import _Event, canonical_json, decode_event, encode_event, parse_event
from ramparts.errors import JournalCorrupt, RampartsError
from ramparts.journal import JournalRecord, JournalStore, open_journal

#: Fewest positions opened since the last layout before a snapshot re-lays the book out.
COMPACT_MIN_OPENED = 4096


def replay(journal: JournalStore, *, use_snapshot: bool = True, verify_effects: bool = True, to_seq: int | None = None) -> Engine:
    """Rebuild the engine from ``journal`` (latest snapshot, then the rows after it)."""
    engine = Engine()
    snap = journal.latest_snapshot(to_seq) if use_snapshot else None
    if snap is not None and snapshot_version(snap[2]) not in (None, STATE_VERSION):
        snap = None  # written by another version of the engine: replay every event instead
    if snap is not None:
        seq, state_hash, blob = snap
        engine = Engine.restore(blob)
        if engine.seq != seq or engine.state_hash() != state_hash:
            raise JournalCorrupt(f"snapshot at seq {seq} does not reproduce its state hash")
    for rec in journal.read(from_seq=engine.seq + 1, to_seq=to_seq):
        event = decode_event(rec.kind, rec.payload, rec.seq)
        try:
            effects = engine.apply(event)
        except RampartsError as exc:
            raise JournalCorrupt(f"journal row {rec.seq} no longer applies: {exc}") from None
        if engine.seq != rec.seq:
            raise JournalCorrupt(f"journal row {rec.seq} applied as event {engine.seq}")
        if verify_effects and canonical_json(effects) != rec.effects:
            raise JournalCorrupt(f"journal row {rec.seq}: replay produced different effects")
    engine.compact_positions()  # the replayed trading scattered the slots: lay them out for the ticks to come
    return engine


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one event of a batch: its effects, or the error that rejected it."""

    seq: int | None
    effects: list[dict] | None
    error: RampartsError | None

    @property
    def accepted(self) -> bool:
        return self.error is None


class Node:
    """An engine and its journal; see the module docstring."""

    def __init__(self, journal: JournalStore, engine: Engine | None = None, *, snapshot_every: int = 0):
        self.journal = journal
        self.engine = engine if engine is not None else replay(journal)
        self.snapshot_every = snapshot_every
        self._last_snapshot = self.engine.seq

    @classmethod
    def open(cls, url: str, *, durability: str = "full", snapshot_every: int = 0, namespace: str = "ramparts",
             create: bool = True) -> Node:
        """The node over the journal at ``url`` (see :func:`~ramparts.journal.open_journal`; ``create=False``
        refuses a journal that does not exist)."""
        return cls(open_journal(url, durability=durability, namespace=namespace, create=create), snapshot_every=snapshot_every)

    def submit(self, event: _Event | dict) -> list[dict]:
        """Apply, journal, acknowledge one event; raises (and changes nothing) if it is rejected."""
        return self._commit([event], raise_errors=True)[0].effects

    def submit_batch(self, events: Iterable[_Event | dict]) -> list[Outcome]:
        """Apply every event in order, then journal the accepted ones in one transaction.

        Rejected events are reported in their :class:`Outcome` and change nothing.
        """
        return self._commit(list(events), raise_errors=False)

    def _commit(self, events: Sequence[_Event | dict], raise_errors: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        records: list[JournalRecord] = []
        for event in events:
            try:
                if isinstance(event, dict):
                    event = parse_event(event)
                effects = self.engine.apply(event)
            except RampartsError as exc:
                if raise_errors:
                    raise
                outcomes.append(Outcome(None, None, exc))
                continue
            records.append(JournalRecord(self.engine.seq, event.ts, event.kind, encode_event(event), canonical_json(effects)))
            outcomes.append(Outcome(self.engine.seq, effects, None))
        if records:
            try:
                self.journal.append(records)
            except BaseException:
                # memory ran ahead of the journal: rebuild from what is durable
                self.engine = replay(self.journal)
                raise
        if self.snapshot_every and self.engine.seq - self._last_snapshot >= self.snapshot_every:
            self.take_snapshot()
        return outcomes

    def take_snapshot(self) -> None:
        """Save a snapshot; then, if trading has scattered the position slots since the last
        layout (more than an eighth of the book opened since), lay the book out again
        (:meth:`Engine.compact_positions`: no change to the state, a pass over the book at a moment
        that already pays for one)."""
        self.journal.save_snapshot(self.engine.seq, self.engine.state_hash(), self.engine.snapshot())
        self._last_snapshot = self.engine.seq
        book = self.engine.book
        if book.opened_since_compact > max(COMPACT_MIN_OPENED, len(book) // 8):
            self.engine.compact_positions()

    def close(self) -> None:
        self.journal.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["COMPACT_MIN_OPENED", "Node", "Outcome", "replay"]
