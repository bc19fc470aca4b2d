"""The struct-of-arrays store of every open position, with its per-sub-account and per-instrument indices.

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

The indices are arrays too, with no Python object per position (issue 24 item 5):

* **per sub-account**: ``head[sub]`` is a sub-account's first slot (−1: none) and ``next[slot]``
  the next slot of the same sub-account (−1: the last), in no particular order: the chains compiled
  code walks. :meth:`PositionBook.slot` and :meth:`~PositionBook.positions_of` walk them too (a
  sub-account holds a few positions; read through memoryviews, a step costs about what a dict
  lookup does); ``_count[sub]`` (int32) counts them. A sub-account holding more than ``_MANY``
  positions (a market maker) also keeps an ``{instrument: slot}`` dict, so its lookups stay O(1).
* **per instrument**: its holders' slots sorted by sub-account, one int64 array, or after a layout
  a ``(lo, hi)`` run of slots that becomes an array when first asked for. Opens and closes since
  are kept aside in two small sets and merged in when :meth:`~PositionBook.holders` is next called
  (every tick calls it), or when they outgrow a quarter of the array.
* **live slots**: the slots below ``_next`` that are not in the free list ``_free``
  (:meth:`~PositionBook.live_slots`); closed slots keep their stale ``sub`` / ``instr``.

So a position costs its columns (2 × 4 + 9 × 8 = 80 B), the unused capacity (the columns double up
to ``_BIG`` slots, grow by a quarter beyond it: at most a fifth unused; :meth:`~PositionBook.bulk_open`
allocates what it loads and a sixteenth more) and 8 B in its instrument's holder array (none for a
``(lo, hi)`` run nobody asked for); a sub-account costs 12 B (``head``, ``_count``). A 1M-account venue
with 4 positions each grows by 171 B a position resident, all in (``benchmarks/bench_memory.py``; 531 B
with the dicts and sets this book kept before). Slots of closed positions are recycled.
Nothing observable depends on slot order: holders are returned sorted by sub-account index.

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
#: a sub-account holding more positions than this also keeps an ``{instrument: slot}`` dict (a chain walk
#: costs about 40 ns a step in Python)
_MANY = 8
#: capacity from which the columns grow by a quarter rather than double (doubling leaves up to half unused)
_BIG = 1 << 16
#: opens (or closes) of an instrument kept aside before they are merged into its holder array, beyond a
#: quarter of its holders
_PENDING = 64


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
        self._free: list[int] = []
        self._next = 0
        self.next = np.full(capacity, -1, dtype=np.int64)
        self.head = np.full(1024, -1, dtype=np.int64)
        self._count = np.zeros(1024, dtype=np.int32)  # positions of each sub-account
        self._many: dict[int, dict[int, int]] = {}  # sub -> {instr: slot}, for sub-accounts with > _MANY positions
        self._hold: dict[int, np.ndarray | tuple[int, int]] = {}  # instr -> its holders but for the pending
        self._add: dict[int, set[int]] = {}  # instr -> slots opened since its holder array was merged
        self._rm: dict[int, set[int]] = {}  # instr -> slots of the array closed since
        self._n_hold: dict[int, int] = {}  # instr -> number of holders
        self._ready: dict[int, np.ndarray] = {}  # instr -> its holders, nothing pending (what a tick reads)
        #: slots opened since the book was last laid out instrument-major (by :meth:`compact` or
        #: :meth:`bulk_open`): a measure of how scattered the holders of an instrument may be
        self.opened_since_compact = 0
        self._views()

    def _views(self) -> None:
        """Memoryviews of the columns that Python code walks: reading one of their items costs a third of
        numpy's scalar indexing. Remade whenever one of those arrays is replaced."""
        self._mv_head, self._mv_next, self._mv_count = memoryview(self.head), memoryview(self.next), memoryview(self._count)
        self._mv_sub, self._mv_instr = memoryview(self.sub), memoryview(self.instr)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_mv_")}  # memoryviews do not pickle

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._views()

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return self._next - len(self._free)

    def slot(self, sub: int, instr: int) -> int | None:
        if self._many:
            mine = self._many.get(sub)
            if mine is not None:
                return mine.get(instr)
        head = self._mv_head
        if not 0 <= sub < len(head):
            return None
        nxt, ins = self._mv_next, self._mv_instr
        p = head[sub]
        while p >= 0:
            if ins[p] == instr:
                return p
            p = nxt[p]
        return None

    def positions_of(self, sub: int) -> list[tuple[int, int]]:
        """(instrument, slot) pairs of a sub-account, sorted by instrument."""
        mine = self._many.get(sub)
        if mine is not None:
            return sorted(mine.items())
        head = self._mv_head
        if not 0 <= sub < len(head):
            return []
        nxt, ins = self._mv_next, self._mv_instr
        out = []
        p = head[sub]
        while p >= 0:
            out.append((ins[p], p))
            p = nxt[p]
        out.sort()
        return out

    def n_positions_of(self, sub: int) -> int:
        count = self._mv_count
        return count[sub] if 0 <= sub < len(count) else 0

    def holders(self, instr: int) -> np.ndarray:
        """Slots holding ``instr``, sorted by sub-account index (the same array until the set changes)."""
        h = self._ready.get(instr)
        if h is None:
            if instr in self._add or instr in self._rm:
                self._merge(instr)
            h = self._hold.get(instr)
            if h is None:
                h = np.zeros(0, dtype=np.int64)
            elif type(h) is tuple:
                h = self._hold[instr] = np.arange(h[0], h[1], dtype=np.int64)
            self._ready[instr] = h
        return h

    def n_holders(self, instr: int) -> int:
        """How many slots hold ``instr`` (``holders(instr).size``, kept as they open and close: no merge)."""
        return self._n_hold.get(instr, 0)

    def instruments_held(self) -> list[int]:
        return sorted(i for i, n in self._n_hold.items() if n)

    def live_slots(self) -> np.ndarray:
        """The slots holding a position, ascending."""
        live = np.ones(self._next, dtype=bool)
        if self._free:
            live[np.asarray(self._free, dtype=np.int64)] = False
        return np.flatnonzero(live)

    # ------------------------------------------------------------------ mutation
    def open(self, sub: int, instr: int) -> int:
        """Allocate a zeroed slot for a new position; returns the slot."""
        s = self.slot(sub, instr)
        if s is not None:
            return s
        sub, instr = int(sub), int(instr)
        if self._free:
            s = self._free.pop()
        else:
            if self._next == self.capacity:
                self._grow()
            s = self._next
            self._next += 1
        self._mv_sub[s] = sub
        self._mv_instr[s] = instr  # the int64 columns are already zero: new rows are, and close() zeroes freed ones
        self.opened_since_compact += 1
        self.ensure_subs(sub + 1)
        head = self._mv_head
        self._mv_next[s] = head[sub]
        head[sub] = s
        n = self._mv_count[sub] + 1
        self._mv_count[sub] = n
        mine = self._many.get(sub)
        if mine is not None:
            mine[instr] = s
        elif n > _MANY:
            self._many[sub] = self._chain_map(sub)
        self._hold_add(instr, s)
        return s

    def open_many(self, subs: np.ndarray, instrs: np.ndarray, *, known_new: bool = False) -> np.ndarray:
        """:meth:`open` of each new pair ``(subs[j], instrs[j])`` in turn, at once; returns the slots.

        The pairs must be distinct, have no slot yet, and be sorted by sub-account (as
        ``np.unique`` of ``sub × n_instruments + instr`` leaves them). Slots, chains and indices
        come out exactly as from the calls to :meth:`open` in that order. ``known_new``: the caller
        has just looked every pair up and found no slot (the compiled gear's ``find_slots``), so
        that look-up is not repeated here, one pair at a time.
        """
        m = int(subs.shape[0])
        if not m:
            return np.zeros(0, dtype=np.int64)
        subs = np.asarray(subs, dtype=np.int64)
        instrs = np.asarray(instrs, dtype=np.int64)
        ds, di = np.diff(subs), np.diff(instrs)
        if bool(((ds < 0) | ((ds == 0) & (di <= 0))).any()):
            raise ValueError("open_many needs distinct pairs sorted by (sub-account, instrument)")
        slot = self.slot
        if not known_new and any(slot(s, i) is not None for s, i in zip(subs.tolist(), instrs.tolist(), strict=True)):
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
        firsts = np.flatnonzero(~same)
        touched = subs[firsts]
        self._count[touched] += np.diff(np.append(firsts, m)).astype(np.int32)
        many = self._many
        for s in touched[self._count[touched] > _MANY].tolist():
            many[s] = self._chain_map(s)
        order = np.argsort(instrs, kind="stable")
        by_instr = instrs[order]
        cuts = np.flatnonzero(np.diff(by_instr)) + 1
        for lo, hi in zip(np.append(0, cuts).tolist(), np.append(cuts, m).tolist(), strict=True):
            self._hold_add_many(int(by_instr[lo]), slots[order[lo:hi]])
        return slots

    def ensure_subs(self, n: int) -> None:
        """Make ``head`` long enough for sub-accounts ``0 … n−1``."""
        if n > self.head.shape[0]:
            old = self.head.shape[0]
            size = max(2 * old, n)
            head = np.full(size, -1, dtype=np.int64)
            head[:old] = self.head
            count = np.zeros(size, dtype=np.int32)
            count[:old] = self._count
            self.head, self._count = head, count
            self._views()

    def close(self, slot: int) -> None:
        """Release a slot whose position is flat (lots == 0 and cost == 0)."""
        slot = int(slot)
        sub, instr = self._mv_sub[slot], self._mv_instr[slot]
        assert self.lots[slot] == 0 and self.cost[slot] == 0, "closing a non-flat position"
        head, nxt = self._mv_head, self._mv_next
        if head[sub] == slot:
            head[sub] = nxt[slot]
        else:
            prev = head[sub]
            while prev >= 0 and nxt[prev] != slot:
                prev = nxt[prev]
            if prev < 0:
                raise KeyError(f"slot {slot} holds no position")
            nxt[prev] = nxt[slot]
        nxt[slot] = -1
        n = self._mv_count[sub] - 1
        self._mv_count[sub] = n
        mine = self._many.get(sub)
        if mine is not None:
            if n > _MANY // 2:  # hysteresis: an account around the threshold does not rebuild its dict each time
                del mine[instr]
            else:
                del self._many[sub]
        self._hold_remove(instr, slot)
        for f in _FIELDS_I64:
            getattr(self, f)[slot] = 0
        self._free.append(slot)

    def _chain_map(self, sub: int) -> dict[int, int]:
        """``{instrument: slot}`` of a sub-account, from its chain."""
        nxt, ins = self._mv_next, self._mv_instr
        out = {}
        p = self._mv_head[sub]
        while p >= 0:
            out[ins[p]] = p
            p = nxt[p]
        return out

    def _hold_add(self, instr: int, slot: int) -> None:
        self._ready.pop(instr, None)
        n = self._n_hold[instr] = self._n_hold.get(instr, 0) + 1
        add = self._add.get(instr)
        if add is None:
            add = self._add[instr] = set()
        add.add(slot)
        if len(add) > _PENDING + n // 4:
            self._merge(instr)

    def _hold_add_many(self, instr: int, slots: np.ndarray) -> None:
        self._ready.pop(instr, None)
        n = self._n_hold[instr] = self._n_hold.get(instr, 0) + slots.size
        add = self._add.get(instr)
        if slots.size + (len(add) if add else 0) > _PENDING + n // 4:
            self._merge(instr, slots)
        elif add is None:
            self._add[instr] = set(slots.tolist())
        else:
            add.update(slots.tolist())

    def _hold_remove(self, instr: int, slot: int) -> None:
        self._ready.pop(instr, None)
        self._n_hold[instr] -= 1
        add = self._add.get(instr)
        if add is not None and slot in add:
            add.discard(slot)
            return
        rm = self._rm.get(instr)
        if rm is None:
            rm = self._rm[instr] = set()
        rm.add(slot)
        if len(rm) > _PENDING + self._n_hold[instr] // 4:
            self._merge(instr)

    def _merge(self, instr: int, more: np.ndarray | None = None) -> None:
        """Fold the slots kept aside for ``instr`` (and the new ones ``more``) into its holder array: a
        new array (one already returned by :meth:`holders` may still be in use), O(holders)."""
        h = self._hold.get(instr)
        if h is None:
            h = np.zeros(0, dtype=np.int64)
        elif type(h) is tuple:
            h = np.arange(h[0], h[1], dtype=np.int64)
        rm = self._rm.pop(instr, None)
        if rm:  # first: a slot closed and opened again is in both
            h = h[~np.isin(h, np.fromiter(rm, dtype=np.int64, count=len(rm)))]
        add = self._add.pop(instr, None)
        if add:
            add = np.fromiter(add, dtype=np.int64, count=len(add))
            more = add if more is None else np.concatenate((more, add))
        if more is not None and more.size:
            more = more[np.argsort(self.sub[more], kind="stable")]
            h = np.insert(h, np.searchsorted(self.sub[h], self.sub[more]), more)
        self._hold[instr] = h

    def _grow(self) -> None:
        self._resize(2 * self.capacity if self.capacity < _BIG else self.capacity + self.capacity // 4)

    def _resize(self, new: int) -> None:
        for f in _FIELDS_I32 + _FIELDS_I64:
            old = getattr(self, f)
            arr = np.zeros(new, dtype=old.dtype)
            arr[: self.capacity] = old
            setattr(self, f, arr)
        nxt = np.full(new, -1, dtype=np.int64)
        nxt[: self.capacity] = self.next
        self.next = nxt
        self.capacity = new
        self._views()

    def bulk_open(self, sub: np.ndarray, instr: np.ndarray, lots: np.ndarray, cost: np.ndarray, entry: np.ndarray) -> np.ndarray:
        """Open many new positions at once (an empty book only); returns their slots (``slots[j]``
        holds ``(sub[j], instr[j])``).

        Used to load large populations (benchmarks, snapshots). The book comes out instrument-major
        (see the module docstring) whatever the order of the input. Caches (value, margins) are
        left at zero for the caller to fill with a vectorised re-margin. Duplicate ``(sub,
        instrument)`` pairs raise ``ValueError`` and change nothing.
        """
        if len(self):
            raise ValueError("bulk_open needs an empty book")
        sub = np.asarray(sub, dtype=np.int64)
        instr = np.asarray(instr, dtype=np.int64)
        n = int(sub.shape[0])
        ds, di = np.diff(sub), np.diff(instr)
        if n and bool(((ds > 0) | ((ds == 0) & (di > 0))).all()) and 0 <= int(instr.min()) and int(instr.max()) < 2**16:
            # sorted by (sub, instrument) as a snapshot's rows are, so no pair twice: a stable sort by instrument
            # alone (a radix sort of 16-bit keys, O(n)) gives lexsort's order
            layout = np.argsort(instr.astype(np.uint16), kind="stable")
            s_sub, s_instr = sub[layout], instr[layout]
        else:
            layout = np.lexsort((sub, instr))  # slot k holds the input row layout[k]
            s_sub, s_instr = sub[layout], instr[layout]
            if n > 1 and bool(((s_sub[1:] == s_sub[:-1]) & (s_instr[1:] == s_instr[:-1])).any()):
                raise ValueError("duplicate (sub, instrument) pairs")
        if self.capacity < n:
            self._resize(n + n // 16)  # what it loads, and room for some trading before the first growth
        used = self._next  # the slots of positions opened and closed before
        for f in _FIELDS_I32 + _FIELDS_I64:
            getattr(self, f)[n:used] = 0
        self.sub[:n], self.instr[:n] = s_sub, s_instr
        self.lots[:n], self.cost[:n], self.entry[:n] = lots[layout], cost[layout], entry[layout]
        self._next = n
        self._free = []
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
        as a stream. O(positions), in numpy: to be run when the book is quiet
        (:meth:`Engine.compact_positions`).
        """
        used = self._next
        old = self.live_slots()
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
        self._index_instrument_major(n)
        return new_of_old

    def _index_instrument_major(self, n: int) -> None:
        """Rebuild every index over slots ``0 … n−1``, sorted by (instrument, sub-account), no free slot."""
        sub, instr = self.sub[:n].astype(np.int64), self.instr[:n].astype(np.int64)
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
        self._count[:] = 0
        if n:
            counts = np.bincount(sub)
            self._count[: counts.size] = counts
        self._many = {s: self._chain_map(s) for s in np.flatnonzero(self._count > _MANY).tolist()}
        # holders: one contiguous run of slots per instrument, already in sub-account order
        bounds = np.searchsorted(instr, np.arange(int(instr[-1]) + 2 if n else 1)).tolist()
        self._hold, self._add, self._rm, self._n_hold, self._ready = {}, {}, {}, {}, {}
        for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if hi > lo:
                self._hold[i] = (lo, hi)
                self._n_hold[i] = hi - lo
        self.opened_since_compact = 0

    # ------------------------------------------------------------------ canonical view
    def rows(self) -> list[list[int]]:
        """[sub, instr, lots, cost, entry] of every position, sorted by (sub, instr): the hashed state."""
        return self.table().tolist()

    def table(self) -> np.ndarray:
        """:meth:`rows` as one ``(n, 5)`` int64 array."""
        slots = self.live_slots()
        if not slots.size:
            return np.zeros((0, 5), dtype=np.int64)
        sub, instr = self.sub[slots].astype(np.int64), self.instr[slots].astype(np.int64)
        order = np.lexsort((instr, sub))  # (sub, instr) pairs are unique: a total order
        slots = slots[order]
        return np.column_stack((sub[order], instr[order], self.lots[slots], self.cost[slots], self.entry[slots]))  # (all int64)

    # ------------------------------------------------------------------ maps built from the arrays, for checks
    # The book kept these as its indices before; tests compare books through them. O(positions) each.
    @property
    def _slot(self) -> dict[tuple[int, int], int]:
        """``{(sub-account, instrument): slot}`` of every position."""
        s = self.live_slots()
        return dict(zip(zip(self.sub[s].tolist(), self.instr[s].tolist(), strict=True), s.tolist(), strict=True))

    @property
    def _by_sub(self) -> dict[int, dict[int, int]]:
        """``{sub-account: {instrument: slot}}`` of the sub-accounts holding a position."""
        out: dict[int, dict[int, int]] = {}
        for (sub, instr), slot in self._slot.items():
            out.setdefault(sub, {})[instr] = slot
        return out

    @property
    def _by_instr(self) -> dict[int, set[int]]:
        """``{instrument: set of slots}`` of the instruments held."""
        out: dict[int, set[int]] = {}
        for (_, instr), slot in self._slot.items():
            out.setdefault(instr, set()).add(slot)
        return out
