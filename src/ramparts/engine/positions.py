"""The struct-of-arrays store of every open position, with per-instrument and per-sub-account indices.

One row ("slot") per open (sub-account, instrument) position, in contiguous numpy arrays:

===========  =======  ===============================================================
``sub``      int32    sub-account index
``instr``    int32    instrument index
``lots``     int64    signed size in lots (long > 0)
``cost``     int64    cost basis in quote units: unrealised PnL = ``lots × mark − cost``;
                      reset to ``lots × mark`` whenever variation margin is realised
``entry``    int64    signed entry notional at the average entry price (for display and
                      ADL ranking; never moves money)
``value``    int64    ``lots × mark`` at the last mark seen (cache)
``mm``       int64    maintenance margin of the position at that mark (cache)
``im``       int64    initial margin at that mark (cache)
``band_lo``  int64    the engine's lazy re-margin: the lowest mark of the instrument at
``band_hi``  int64    which the sub-account's last slack check still holds, and the highest
                      (:mod:`ramparts.engine.tick_slack`; meaningless unless that module
                      says the sub-account's band is valid)
===========  =======  ===============================================================

``value``, ``mm`` and ``im`` are read through properties: an engine that re-margins lazily
(:mod:`ramparts.engine.tick_slack`) may leave the caches of holders a tick provably did not
affect behind the mark, and registers itself as the book's ``_owner`` so that any read of those
columns from outside its own passes first brings every cache up to date.

Per-instrument holder lists let one oracle tick re-margin only the holders of that instrument, in
one vectorised pass; per-sub-account slot lists give the positions of an account. The same lists
are kept as arrays for compiled code: ``head[sub]`` is a sub-account's first slot (−1: none) and
``next[slot]`` the next slot of the same sub-account (−1: the last), in no particular order. Slots of closed
positions are recycled. Nothing observable depends on slot order: holders are returned sorted by
sub-account index.

Slot order matters for speed only. An oracle tick reads the slot columns of one instrument's
holders; when those slots are contiguous (the book **instrument-major**, holders in sub-account
order) the tick streams through the columns instead of touching five scattered cache lines per
holder. :meth:`PositionBook.bulk_open` lays a book out that way and :meth:`PositionBook.compact`
renumbers a book that trading has scattered (new positions take the next free slot, wherever it
is); :attr:`PositionBook.opened_since_compact` says how much has been scattered since.
"""

from __future__ import annotations

import numpy as np

_FIELDS_I32 = ("sub", "instr")
#: the int64 columns under their stored names (``_value``, ``_mm``, ``_im``: see the properties below)
_FIELDS_I64 = ("lots", "cost", "entry", "_value", "_mm", "_im", "band_lo", "band_hi")


def _cache_column(name: str) -> property:
    """A cache column read through the owner's barrier (see the module docstring)."""
    stored = "_" + name

    def get(self):
        o = self._owner
        if o is not None and o._lz_dirty and not o._lz_mode:
            o._lz_flush()
        return self.__dict__[stored]

    def put(self, value) -> None:
        self.__dict__[stored] = value

    return property(get, put, doc=f"``{name}`` cache column (exact on every read from outside the engine's passes)")


class PositionBook:
    """Growable struct-of-arrays of positions (see the module docstring for the columns)."""

    value = _cache_column("value")
    mm = _cache_column("mm")
    im = _cache_column("im")
    #: the engine whose lazy re-margin may leave ``value`` / ``mm`` / ``im`` behind (None: never)
    _owner = None

    def __init__(self, capacity: int = 1024):
        self.capacity = capacity
        for f in _FIELDS_I32:
            setattr(self, f, np.zeros(capacity, dtype=np.int32))
        for f in _FIELDS_I64:
            setattr(self, f, np.zeros(capacity, dtype=np.int64))
        self._slot: dict[tuple[int, int], int] = {}
        self._free: list[int] = []
        self._next = 0
        self._by_instr: dict[int, set[int]] = {}
        self._by_sub: dict[int, dict[int, int]] = {}  # sub -> {instr: slot}
        self._holders_cache: dict[int, np.ndarray] = {}
        self.next = np.full(capacity, -1, dtype=np.int64)
        self.head = np.full(1024, -1, dtype=np.int64)
        #: slots opened since the book was last laid out instrument-major (by :meth:`compact` or
        #: :meth:`bulk_open`): a measure of how scattered the holders of an instrument may be
        self.opened_since_compact = 0

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self._slot)

    def slot(self, sub: int, instr: int) -> int | None:
        return self._slot.get((sub, instr))

    def positions_of(self, sub: int) -> list[tuple[int, int]]:
        """(instrument, slot) pairs of a sub-account, sorted by instrument."""
        return sorted(self._by_sub.get(sub, {}).items())

    def n_positions_of(self, sub: int) -> int:
        return len(self._by_sub.get(sub, ()))

    def holders(self, instr: int) -> np.ndarray:
        """Slots holding ``instr``, sorted by sub-account index (cached until the set changes)."""
        cached = self._holders_cache.get(instr)
        if cached is None:
            slots = np.fromiter(self._by_instr.get(instr, ()), dtype=np.int64)
            cached = slots[np.argsort(self.sub[slots], kind="stable")] if slots.size else slots
            self._holders_cache[instr] = cached
        return cached

    def instruments_held(self) -> list[int]:
        return sorted(i for i, s in self._by_instr.items() if s)

    # ------------------------------------------------------------------ mutation
    def open(self, sub: int, instr: int) -> int:
        """Allocate a zeroed slot for a new position; returns the slot."""
        key = (sub, instr)
        if key in self._slot:
            return self._slot[key]
        if self._free:
            s = self._free.pop()
        else:
            if self._next == self.capacity:
                self._grow()
            s = self._next
            self._next += 1
        self.sub[s] = sub
        self.instr[s] = instr  # the int64 columns are already zero: new rows are, and close() zeroes freed ones
        self.opened_since_compact += 1
        self._slot[key] = s
        self.ensure_subs(sub + 1)
        self.next[s] = self.head[sub]
        self.head[sub] = s
        self._by_instr.setdefault(instr, set()).add(s)
        self._by_sub.setdefault(sub, {})[instr] = s
        self._holders_cache.pop(instr, None)
        return s

    def open_many(self, subs: np.ndarray, instrs: np.ndarray) -> np.ndarray:
        """:meth:`open` of each new pair ``(subs[j], instrs[j])`` in turn, at once; returns the slots.

        The pairs must be distinct, have no slot yet, and be sorted by sub-account (as
        ``np.unique`` of ``sub × n_instruments + instr`` leaves them). Slots, chains and indices
        come out exactly as from the calls to :meth:`open` in that order.
        """
        m = int(subs.shape[0])
        if not m:
            return np.zeros(0, dtype=np.int64)
        subs = np.asarray(subs, dtype=np.int64)
        instrs = np.asarray(instrs, dtype=np.int64)
        ds, di = np.diff(subs), np.diff(instrs)
        if bool(((ds < 0) | ((ds == 0) & (di <= 0))).any()):
            raise ValueError("open_many needs distinct pairs sorted by (sub-account, instrument)")
        slot_of = self._slot
        if any(key in slot_of for key in zip(subs.tolist(), instrs.tolist(), strict=True)):
            raise ValueError("open_many: a pair already has a slot")
        reused = min(m, len(self._free))
        slots = np.empty(m, dtype=np.int64)
        if reused:  # open() pops the free list from its end
            slots[:reused] = self._free[len(self._free) - reused :][::-1]
            del self._free[len(self._free) - reused :]
        fresh = m - reused
        while self._next + fresh > self.capacity:
            self._grow()
        slots[reused:] = np.arange(self._next, self._next + fresh, dtype=np.int64)
        self._next += fresh
        self.opened_since_compact += m
        self.sub[slots] = subs
        self.instr[slots] = instrs
        self.ensure_subs(int(subs.max()) + 1)
        # chains: each slot points at the sub-account's previous head, i.e. at the slot opened
        # just before it for the same sub-account, or at the old head for its first one
        same = np.zeros(m, dtype=bool)
        same[1:] = subs[1:] == subs[:-1]
        prev = self.head[subs]
        prev[1:][same[1:]] = slots[:-1][same[1:]]
        self.next[slots] = prev
        last = np.ones(m, dtype=bool)
        last[:-1] = ~same[1:]
        self.head[subs[last]] = slots[last]
        by_instr, by_sub = self._by_instr, self._by_sub
        for sub, instr, slot in zip(subs.tolist(), instrs.tolist(), slots.tolist(), strict=True):
            slot_of[(sub, instr)] = slot
            held = by_instr.get(instr)
            if held is None:
                held = by_instr[instr] = set()
            held.add(slot)
            mine = by_sub.get(sub)
            if mine is None:
                mine = by_sub[sub] = {}
            mine[instr] = slot
        for instr in np.unique(instrs).tolist():
            self._holders_cache.pop(instr, None)
        return slots

    def ensure_subs(self, n: int) -> None:
        """Make ``head`` long enough for sub-accounts ``0 … n−1``."""
        if n > self.head.shape[0]:
            grown = np.full(max(2 * self.head.shape[0], n), -1, dtype=np.int64)
            grown[: self.head.shape[0]] = self.head
            self.head = grown

    def close(self, slot: int) -> None:
        """Release a slot whose position is flat (lots == 0 and cost == 0)."""
        sub, instr = int(self.sub[slot]), int(self.instr[slot])
        assert self.lots[slot] == 0 and self.cost[slot] == 0, "closing a non-flat position"
        del self._slot[(sub, instr)]
        if self.head[sub] == slot:
            self.head[sub] = self.next[slot]
        else:
            prev = int(self.head[sub])
            while self.next[prev] != slot:
                prev = int(self.next[prev])
            self.next[prev] = self.next[slot]
        self.next[slot] = -1
        self._by_instr[instr].discard(slot)
        del self._by_sub[sub][instr]
        if not self._by_sub[sub]:
            del self._by_sub[sub]
        self._holders_cache.pop(instr, None)
        for f in _FIELDS_I64:
            getattr(self, f)[slot] = 0
        self._free.append(slot)

    def _grow(self) -> None:
        new = self.capacity * 2
        for f in _FIELDS_I32 + _FIELDS_I64:
            old = getattr(self, f)
            arr = np.zeros(new, dtype=old.dtype)
            arr[: self.capacity] = old
            setattr(self, f, arr)
        nxt = np.full(new, -1, dtype=np.int64)
        nxt[: self.capacity] = self.next
        self.next = nxt
        self.capacity = new

    def bulk_open(self, sub: np.ndarray, instr: np.ndarray, lots: np.ndarray, cost: np.ndarray, entry: np.ndarray) -> np.ndarray:
        """Open many new positions at once (an empty book only); returns their slots (``slots[j]``
        holds ``(sub[j], instr[j])``).

        Used to load large populations (benchmarks, snapshots). The book comes out instrument-major
        (see the module docstring) whatever the order of the input. Caches (value, margins) are
        left at zero for the caller to fill with a vectorised re-margin. Duplicate ``(sub,
        instrument)`` pairs raise ``ValueError`` and change nothing.
        """
        if self._slot:
            raise ValueError("bulk_open needs an empty book")
        sub = np.asarray(sub, dtype=np.int64)
        instr = np.asarray(instr, dtype=np.int64)
        n = int(sub.shape[0])
        layout = np.lexsort((sub, instr))  # slot k holds the input row layout[k]
        s_sub, s_instr = sub[layout], instr[layout]
        if n > 1 and bool(((s_sub[1:] == s_sub[:-1]) & (s_instr[1:] == s_instr[:-1])).any()):
            raise ValueError("duplicate (sub, instrument) pairs")
        while self.capacity < n:
            self._grow()
        self.sub[:n], self.instr[:n] = s_sub, s_instr
        self.lots[:n], self.cost[:n], self.entry[:n] = lots[layout], cost[layout], entry[layout]
        self._next = n
        self._index_instrument_major(n)
        slots = np.empty(n, dtype=np.int64)
        slots[layout] = np.arange(n, dtype=np.int64)
        return slots

    @property
    def laid_out(self) -> bool:
        """Whether the book is instrument-major as :meth:`compact` leaves it (nothing opened or freed since)."""
        return not (self.opened_since_compact or self._free)

    def compact(self) -> np.ndarray:
        """Renumber the slots instrument-major (by instrument, then by sub-account) and drop the
        free ones; returns ``new_of_old`` (the new slot of each old one, −1 for a free slot).

        Positions, their values and every index are unchanged but for the slot numbers, so
        nothing observable changes (the engine's state hash included); what changes is that the
        holders of each instrument become one contiguous run of slots, which an oracle tick reads
        as a stream. O(positions) in numpy plus the renumbering of the Python indices (1.4–1.9 s per
        million positions on this project's 2-core machines): to be run when the book is quiet
        (:meth:`Engine.compact_positions`).
        """
        used = self._next
        live = np.ones(used, dtype=bool)
        if self._free:
            live[np.asarray(self._free, dtype=np.int64)] = False
        old = np.flatnonzero(live)
        old = old[np.lexsort((self.sub[old], self.instr[old]))]
        n = int(old.size)
        for f in _FIELDS_I32 + _FIELDS_I64:
            col = getattr(self, f)
            col[:n] = col[old]
            col[n:used] = 0
        self._next = n
        self._free = []
        new_of_old = np.full(used, -1, dtype=np.int64)
        new_of_old[old] = np.arange(n, dtype=np.int64)
        self._index_instrument_major(n, new_of_old.tolist())
        return new_of_old

    def _index_instrument_major(self, n: int, remap: list[int] | None = None) -> None:
        """Rebuild every index over slots ``0 … n−1``, sorted by (instrument, sub-account), no free
        slot; with ``remap`` (new slot of each old one) the slot maps keep their keys and only
        their values are renumbered (no new key objects: 7.7 s instead of 10.8 s for 4M positions, under cProfile)."""
        sub, instr = self.sub[:n].astype(np.int64), self.instr[:n].astype(np.int64)
        if remap is None:
            self._slot = dict(zip(zip(sub.tolist(), instr.tolist(), strict=True), range(n), strict=True))
        else:
            get = remap.__getitem__
            self._slot = dict(zip(self._slot.keys(), map(get, self._slot.values()), strict=True))
            for mine in self._by_sub.values():
                mine.update(zip(mine.keys(), map(get, mine.values()), strict=True))
        # chains: each sub-account's slots linked in instrument order
        order = np.argsort(sub, kind="stable")  # within a sub-account, slots come in instrument order
        sub_sorted = sub[order]
        same = np.zeros(n, dtype=bool)
        same[:-1] = sub_sorted[:-1] == sub_sorted[1:]
        self.next[: self.capacity] = -1
        self.next[order[:-1][same[:-1]]] = order[1:][same[:-1]]
        first = np.ones(n, dtype=bool)
        first[1:] = ~same[:-1]
        self.head[:] = -1
        self.ensure_subs(int(sub_sorted[-1]) + 1 if n else 0)
        self.head[sub_sorted[first]] = order[first]
        if remap is None:
            by_sub: dict[int, dict[int, int]] = {}
            for s_, i_, slot in zip(sub_sorted.tolist(), instr[order].tolist(), order.tolist(), strict=True):
                mine = by_sub.get(s_)
                if mine is None:
                    mine = by_sub[s_] = {}
                mine[i_] = slot
            self._by_sub = by_sub
        # holders: one contiguous run of slots per instrument, already in sub-account order
        bounds = np.searchsorted(instr, np.arange(int(instr[-1]) + 2 if n else 1))
        self._by_instr, self._holders_cache = {}, {}
        for i in range(len(bounds) - 1):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            if hi > lo:
                self._by_instr[i] = set(range(lo, hi))
                self._holders_cache[i] = np.arange(lo, hi, dtype=np.int64)
        self.opened_since_compact = 0

    # ------------------------------------------------------------------ canonical view
    def rows(self) -> list[list[int]]:
        """[sub, instr, lots, cost, entry] of every position, sorted by (sub, instr): the hashed state."""
        if not self._slot:
            return []
        slots = np.fromiter(self._slot.values(), dtype=np.int64, count=len(self._slot))
        sub, instr = self.sub[slots].astype(np.int64), self.instr[slots].astype(np.int64)
        order = np.lexsort((instr, sub))  # (sub, instr) pairs are unique: a total order
        slots = slots[order]
        return np.column_stack((sub[order], instr[order], self.lots[slots], self.cost[slots], self.entry[slots])).tolist()
