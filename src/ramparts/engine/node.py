"""The engine behind its journal: append before acknowledge, snapshots, and deterministic replay.

:class:`Node` applies an event to the in-memory engine, appends the event and its effects to the
journal in one durable transaction, and only then returns (acknowledges). A rejected event (a
:class:`~ramparts.errors.RampartsError`) changes nothing and is not journaled. Memory never runs
ahead of what is durable, whatever the exception:

* if the append itself fails, the in-memory state is discarded and rebuilt from the journal;
* if applying (or encoding) an event raises anything else, a defect that may have left the engine
  half-changed, the in-memory state is discarded and rebuilt from the journal, the event is
  reported as :class:`~ramparts.errors.EventFailed` (the traceback is logged), and the batch is
  applied again without it, so the other events of a group commit are not failed by it (the
  engine is deterministic: they produce the same effects the second time);
* an interrupt (``KeyboardInterrupt``, ``SystemExit``, a cancelled task) discards the in-memory
  state and propagates;
* an event whose journal row could not be read back (a lone surrogate in a free JSON value, which
  :func:`~ramparts.engine.events.decode_event` refuses) is refused with
  :class:`~ramparts.errors.InvalidInput` before it is applied
  (:func:`~ramparts.engine.events.check_readable`), so the journal always replays.

A discarded engine is rebuilt before anything else reads it (:attr:`Node.engine`); if the rebuild
fails too (the journal is unreachable), the next access tries again, so a read never sees state
that the journal does not hold.

Runs. Within a group commit, consecutive fills and index prices (at least :data:`RUN_MIN`, times not
decreasing) are applied together by :meth:`Engine.apply_run <ramparts.engine.batch_ops.BatchOps.apply_run>`,
the compiled gear of batch mode, and still journaled one row, one seq and one outcome per event, exactly
as one at a time (``tests/test_event_runs.py``); :func:`replay_rows` replays them the same way. A defect
inside a run cannot be pinned on one event: the engine is rebuilt from the journal and the group applied
again one event at a time, which finds it. ``Node.runs = False`` applies every event through its handler.

:func:`replay` rebuilds an engine from the latest snapshot plus every later journal row, checking
that each row decodes, applies, and reproduces the effects recorded when it was acknowledged.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ramparts.engine.engine import Engine
from ramparts.engine.events import (
    Fill,
    OraclePrice,
    _Event,
    canonical_json,
    check_readable,
    decode_event,
    encode_event,
    parse_event,
)
from ramparts.errors import EventFailed, JournalCorrupt, RampartsError
from ramparts.journal import JournalRecord, JournalStore, open_journal

#: Fewest positions opened since the last layout before a snapshot re-lays the book out.
COMPACT_MIN_OPENED = 4096

log = logging.getLogger("ramparts.engine")

#: the events a node applies as runs (:meth:`Engine.apply_run <ramparts.engine.batch_ops.BatchOps.apply_run>`)
RUN_KINDS = (Fill, OraclePrice)
#: the shortest run worth the compiled gear's preparation; shorter ones are applied one at a time
RUN_MIN = 4


#: the longest run a replay applies at once
REPLAY_RUN = 4096


def replay(journal: JournalStore, *, use_snapshot: bool = True, verify_effects: bool = True, to_seq: int | None = None) -> Engine:
    """Rebuild the engine from ``journal`` (latest snapshot, then the rows after it)."""
    engine = Engine()
    snap = journal.latest_snapshot(to_seq) if use_snapshot else None
    if snap is not None:
        seq, state_hash, blob = snap
        try:
            # its bytes checked against the journaled hash; None: written by another version of the engine
            restored = Engine.restore_current(blob, expect_hash=state_hash)
        except JournalCorrupt as exc:
            raise JournalCorrupt(f"snapshot at seq {seq}: {exc}") from None
        engine = restored if restored is not None else engine  # otherwise every event is replayed
        if restored is not None and engine.seq != seq:
            raise JournalCorrupt(f"snapshot at seq {seq} does not reproduce its state hash (it holds seq {engine.seq})")
    replay_rows(engine, journal, to_seq=to_seq, verify_effects=verify_effects)
    engine.compact_positions()  # the replayed trading scattered the slots: lay them out for the ticks to come
    return engine


def replay_rows(engine: Engine, journal: JournalStore, *, to_seq: int | None = None, verify_effects: bool = True,
                runs: bool = True) -> int:
    """Apply to ``engine`` the journal rows after its seq (through ``to_seq``), each checked to decode,
    apply as the same seq and (``verify_effects``) reproduce its recorded effects; returns how many.
    :func:`replay` ends with it; a hot standby (:mod:`ramparts.bus.failover`) follows a journal with it.
    With ``runs``, consecutive fills and index prices are applied as runs (:meth:`Engine.apply_run
    <ramparts.engine.batch_ops.BatchOps.apply_run>`, the same outcome per row as one at a time)."""
    n = 0
    pending: list[tuple[JournalRecord, _Event]] = []

    def check(rec: JournalRecord, effects: list[dict] | RampartsError, seq: int) -> None:
        if isinstance(effects, RampartsError):
            raise JournalCorrupt(f"journal row {rec.seq} no longer applies: {effects}") from None
        if seq != rec.seq:
            raise JournalCorrupt(f"journal row {rec.seq} applied as event {seq}")
        if verify_effects and canonical_json(effects) != rec.effects:
            raise JournalCorrupt(f"journal row {rec.seq}: replay produced different effects")

    def flush() -> None:
        if len(pending) >= RUN_MIN and engine.run_ready([x for _, x in pending]):
            seq = engine.seq
            for (rec, _), effects in zip(pending, engine.apply_run([x for _, x in pending]), strict=True):
                if not isinstance(effects, RampartsError):
                    seq += 1
                check(rec, effects, seq)
        else:
            for rec, event in pending:
                one(rec, event)
        pending.clear()

    def one(rec: JournalRecord, event: _Event) -> None:
        try:
            effects = engine.apply(event)
        except RampartsError as exc:
            effects = exc
        check(rec, effects, engine.seq)

    for rec in journal.read(from_seq=engine.seq + 1, to_seq=to_seq):
        event = decode_event(rec.kind, rec.payload, rec.seq)
        n += 1
        if runs and type(event) in RUN_KINDS and (not pending or event.ts >= pending[-1][1].ts) and len(pending) < REPLAY_RUN:
            pending.append((rec, event))
            continue
        flush()
        if runs and type(event) in RUN_KINDS:
            pending.append((rec, event))
        else:
            one(rec, event)
    flush()
    return n


def freeze_heap() -> None:
    """For a process that runs one node for its lifetime (``ramparts serve``), once its engine is recovered: collect
    the garbage, then leave every object alive now (the engine's, the imported modules') out of the cyclic garbage
    collector's passes (:func:`gc.freeze`). Each full collection otherwise walks them all, a stall of the writer and
    of every request at that moment: 23–35 ms for the imports alone and 31–37 ms with a 1M-account engine restored
    (measured on this project's 2-core machine; 71–95 ms before the sub-account names left the collector's reach),
    none after. Those objects are still freed by reference counting; only a cycle among them would outlive its use,
    so a process that builds and drops engines (the lab, the tests) must not call this, and a node that must rebuild
    its engine unfreezes the heap first (:meth:`Node._rebuild`)."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one event of a batch: its effects, or the error that rejected it."""

    seq: int | None
    effects: list[dict] | None
    error: RampartsError | None

    @property
    def accepted(self) -> bool:
        return self.error is None


class _Failed(Exception):
    """Event ``index`` of a batch raised ``cause``, not a :class:`RampartsError` (internal to :class:`Node`)."""

    def __init__(self, index: int, cause: Exception):
        super().__init__(index, cause)
        self.index, self.cause = index, cause


class _RunFailed(Exception):
    """A run of ``length`` events raised ``cause``, not a :class:`RampartsError` (internal to :class:`Node`)."""

    def __init__(self, length: int, cause: Exception):
        super().__init__(length, cause)
        self.length, self.cause = length, cause


class Node:
    """An engine and its journal; see the module docstring."""

    #: group commits apply their runs of fills and index prices through the compiled gear (the same outcomes)
    runs = True

    def __init__(self, journal: JournalStore, engine: Engine | None = None, *, snapshot_every: int = 0):
        self.journal = journal
        self._engine: Engine | None = engine if engine is not None else replay(journal)
        self.snapshot_every = snapshot_every
        self._last_snapshot = self._engine.seq

    @property
    def engine(self) -> Engine:
        """The in-memory engine: the journal's replay between two commits (rebuilt from the journal
        first when a failure discarded it)."""
        if self._engine is None:
            self._rebuild()
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    def _discard(self) -> None:
        """Drop the in-memory state (it may be ahead of the journal, or half-changed) and rebuild it
        from the journal; if that fails, :attr:`engine` tries again at its next access."""
        self._engine = None
        try:
            self._rebuild()
        except Exception:  # noqa: BLE001 - the caller's exception is the one to report
            log.exception("rebuilding the engine from the journal failed; retried at the next access")

    def _rebuild(self) -> None:
        """The engine replayed from the journal. After :func:`freeze_heap`, the heap is unfrozen first: the engine
        this one replaces holds reference cycles and was frozen with the heap, and only the collector can free it (not
        at once: the failure being handled still refers to it). The heap stays unfrozen: full collections walk it
        again, slower but leaking nothing."""
        if gc.get_freeze_count():
            gc.unfreeze()
            log.warning("the engine is rebuilt: the heap frozen at start is handed back to the garbage collector")
        self._engine = replay(self.journal)

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

        Rejected events (and events that failed, :class:`~ramparts.errors.EventFailed`) are
        reported in their :class:`Outcome` and change nothing.
        """
        return self._commit(list(events), raise_errors=False)

    def _commit(self, events: Sequence[_Event | dict], raise_errors: bool) -> list[Outcome]:
        failed: dict[int, EventFailed] = {}
        runs = self.runs and not raise_errors
        while True:
            seq = self.engine.seq
            try:
                outcomes, records = self._apply(events, failed, raise_errors, runs)
                break
            except _RunFailed as f:  # somewhere in a run: back to the journal, then event by event to find which
                log.error("a run of %d events failed (%s); the engine is rebuilt from the journal and the batch applied "
                          "event by event", f.length, type(f.cause).__name__, exc_info=f.cause)
                self._engine = None
                self.engine  # noqa: B018 - rebuild now; if the journal is unreachable that error fails the batch
                runs = False
            except _Failed as f:  # the engine may be half-changed: back to the journal, then again without the event
                log.error("event %d of a batch of %d failed (%s); the engine is rebuilt from the journal",
                          f.index, len(events), type(f.cause).__name__, exc_info=f.cause)
                self._engine = None
                self.engine  # noqa: B018 - rebuild now; if the journal is unreachable that error fails the batch
                failed[f.index] = EventFailed(f.cause)
                if raise_errors:
                    raise failed[f.index] from f.cause
            except RampartsError:  # raise_errors: a refusal, which changed nothing itself
                if self._engine.seq != seq:  # but events before it were applied: they are not journaled
                    self._discard()
                raise
            except BaseException:  # an interrupt: nothing of the batch is kept
                self._engine = None
                raise
        if records:
            try:
                self.journal.append(records)
            except BaseException:
                # memory ran ahead of the journal: rebuild from what is durable
                self._discard()
                raise
        if self.snapshot_every and self.engine.seq - self._last_snapshot >= self.snapshot_every:
            self.take_snapshot()
        return outcomes

    def _apply(self, events: Sequence[_Event | dict], failed: dict[int, EventFailed], raise_errors: bool,
               runs: bool = False) -> tuple[list[Outcome], list[JournalRecord]]:
        """Apply ``events`` (those in ``failed`` are reported, not applied); a refusal is an outcome,
        any other exception :class:`_Failed` with the event's index (:class:`_RunFailed` inside a run).

        With ``runs``, consecutive fills and index prices (at least :data:`RUN_MIN`, times not decreasing)
        go through :meth:`Engine.apply_run <ramparts.engine.batch_ops.BatchOps.apply_run>`: the same
        outcomes, seqs and journal rows as one at a time, the compiled gear doing the work."""
        engine = self.engine
        outcomes: list[Outcome] = []
        records: list[JournalRecord] = []
        ready: list[tuple[_Event, str] | RampartsError | EventFailed] = []
        for i, event in enumerate(events):  # decoded and encoded once, before anything is applied
            if i in failed:
                ready.append(failed[i])
                continue
            try:
                if isinstance(event, dict):
                    event = parse_event(event)
                payload = encode_event(event)
                check_readable(payload)  # before applying: an event its journal row could not replay is refused
            except RampartsError as exc:
                if raise_errors:
                    raise
                ready.append(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - a defect met by this event
                raise _Failed(i, exc) from exc
            ready.append((event, payload))
        i, n = 0, len(ready)
        while i < n:
            x = ready[i]
            if not isinstance(x, tuple):  # refused before applying, or failed in an earlier attempt
                outcomes.append(Outcome(None, None, x))
                i += 1
                continue
            if runs and type(x[0]) in RUN_KINDS:
                j = self._run_end(ready, i)
                members = [k for k in range(i, j) if isinstance(ready[k], tuple)]
                if len(members) >= RUN_MIN and engine.run_ready([ready[k][0] for k in members]):
                    self._apply_run(ready, i, j, members, outcomes, records)
                    i = j
                    continue
            event, payload = x
            try:
                effects = engine.apply(event)
                record = JournalRecord(engine.seq, event.ts, event.kind, payload, canonical_json(effects))
            except RampartsError as exc:  # refused: the engine guarantees nothing changed
                if raise_errors:
                    raise
                outcomes.append(Outcome(None, None, exc))
                i += 1
                continue
            except Exception as exc:  # noqa: BLE001 - a defect met by this event
                raise _Failed(i, exc) from exc
            records.append(record)
            outcomes.append(Outcome(engine.seq, effects, None))
            i += 1
        return outcomes, records

    @staticmethod
    def _run_end(ready: list, i: int) -> int:
        """The end of the run of fills and index prices starting at ``i`` (times not decreasing; events refused
        before applying ride along, they change nothing)."""
        t = ready[i][0].ts
        j = i
        while j < len(ready):
            x = ready[j]
            if isinstance(x, tuple):
                if type(x[0]) not in RUN_KINDS or x[0].ts < t:
                    break
                t = x[0].ts
            j += 1
        return j

    def _apply_run(self, ready: list, i: int, j: int, members: list[int], outcomes: list[Outcome],
                   records: list[JournalRecord]) -> None:
        engine = self.engine
        seq = engine.seq
        try:
            results = engine.apply_run([ready[k][0] for k in members])
            of = dict(zip(members, results, strict=True))
            for k in range(i, j):
                r = of.get(k, ready[k])
                if isinstance(r, RampartsError | EventFailed):
                    outcomes.append(Outcome(None, None, r))
                    continue
                event, payload = ready[k]
                seq += 1
                records.append(JournalRecord(seq, event.ts, event.kind, payload, canonical_json(r)))
                outcomes.append(Outcome(seq, r, None))
        except Exception as exc:  # noqa: BLE001 - a defect met somewhere in the run
            raise _RunFailed(len(members), exc) from exc
        if seq != engine.seq:  # pragma: no cover - apply_run's own contract
            raise _RunFailed(len(members), RuntimeError(f"a run left the engine at seq {engine.seq}, expected {seq}"))

    def take_snapshot(self) -> None:
        """Save a snapshot; then, if trading has scattered the position slots since the last
        layout (more than an eighth of the book opened since), lay the book out again
        (:meth:`Engine.compact_positions`: no change to the state, a pass over the book at a moment
        that already pays for one)."""
        self.journal.save_snapshot(self.engine.seq, *self.engine.snapshot_and_hash())
        self._last_snapshot = self.engine.seq
        self.compact_if_scattered()

    def compact_if_scattered(self) -> None:
        """Lay the book out again (:meth:`Engine.compact_positions`) if more than an eighth of it was opened since
        the last layout: no change to the state, a pass over the book at a moment that already pays for one."""
        book = self.engine.book
        if book.opened_since_compact > max(COMPACT_MIN_OPENED, len(book) // 8):
            self.engine.compact_positions()

    def close(self) -> None:
        self.journal.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["COMPACT_MIN_OPENED", "Node", "Outcome", "replay", "replay_rows"]
