"""The engine's lazy re-margin: an oracle tick re-margins exactly only the holders whose margin
slack the move can have consumed; the others are provably unaffected and are not touched.

This module owns :class:`TickSlackOps` (mixed into :class:`~ramparts.engine.engine.Engine`):
what each event does to the lazy state, the tick itself, the per-sub-account bands kept in the
position book (``band_lo`` / ``band_hi``) and their per-instrument ordered index
(:class:`~ramparts.engine.slack_index.SlackIndex`, where the bound and its derivation live), and
the barrier that keeps every read exact. The switch is :attr:`TickSlackOps.lazy_remargin` (class
or instance attribute; ``RAMPARTS_FULL_REMARGIN=1`` in the environment turns it off by default):
off, every tick re-margins every holder as before. It only engages on a big book
(:attr:`~TickSlackOps.lazy_min_positions`, 50,000 open positions) and, per tick, on an instrument
with many holders (:attr:`~TickSlackOps.lazy_min_holders`, 2,048): below that the full pass is as
fast as the lazy one's bookkeeping.

What a full re-margin does for a holder ``s`` of the ticked instrument (``Engine._remargin``):
recompute its positions' value, initial and maintenance margin at the new mark, then flag a
``MarginCall`` if ``E < M`` and it was not margin-called, add it to the insolvent set if ``E < 0``
and take it out if ``E ≥ 0`` (system sub-accounts are never called nor added). The band of ``s``
(:func:`~ramparts.engine.slack_index.band_subs`), computed from its exact state, guarantees that
while every mark stays inside it none of those three outcomes changes; so the tick only has to
re-margin the holders whose band the new mark leaves (plus the ALWAYS ones), which the index
returns in two binary searches. Every effect, flag and therefore the state hash is the same as on
the full path (``tests/test_tick_slack.py`` checks this event by event).

What is left behind are the *caches* of the skipped holders: ``book.value / im / mm`` of their
position in the ticked instrument and their ``sub_value / sub_im / sub_mm`` sums. The state hash
does not read caches (``Engine.state_dict`` hashes lots, cost, entry, the ledger and the flags),
but everything else may, so:

* ``sub_value``, ``sub_im``, ``sub_mm`` and the book's ``value``, ``im``, ``mm`` are properties
  whose getter first brings every cache up to date (:meth:`TickSlackOps._lz_flush`: one compiled
  re-margin, without margin calls, of each instrument that has holders behind) whenever something
  is behind and no pass of this module is running; ``equity``, ``equity_array(subs)`` and
  ``risk`` bring only the sub-accounts they read up to date;
* an event is applied under one of these policies (:meth:`TickSlackOps._lz_apply`):

  - a *tick* (``OraclePrice``, ``OracleQuotes``): the lazy pass;
  - a *sub-account* event (``Fill``, ``Deposit``, ``Withdraw``): the sub-accounts it names are
    brought up to date first, their bands recomputed after;
  - a ``Tick``: when its waterfall provably has nothing to do
    (:meth:`TickSlackOps._lz_waterfall_quiet`) it is skipped; otherwise (and always when a
    collateral asset has dynamic haircuts, which a ``Tick`` steps) as the next policy;
  - a *watched* event (``FundingTick``, ``LiquidationBid``, ``AssetPrice``, ``ExchangeRate``,
    parameter changes other than a margin schedule or the correlation matrix, a waterfall that
    runs): every cache up to date first; after it, the bands of the sub-accounts whose cash,
    cost basis, collateral value, borrow requirement, flags or positions (``Engine.trade``)
    changed are recomputed, the others still hold (no mark or schedule moved);
  - *neutral* events (listings, new sub-accounts, book snapshots, insurance deposits, breaker
    resets) touch nothing; every other event (a margin schedule, the correlation matrix, a
    settlement, a ``TradeBatch``) *globally*: every cache up to date first, every band
    forgotten after (each instrument's next tick is then a full re-margin that rebuilds its
    index).

A cache is behind exactly when ``value ≠ lots × mark`` for its slot (the caches are functions of
lots, mark and schedule, and a schedule change is a global event), which is what the per-sub-account
catch-up (:func:`sync_subs`) tests. Invariant kept throughout: only a sub-account with a valid
ABOVE / SOLVENT / BELOW band, or a NEVER one (a system sub-account, which no tick can flag), may
have a cache behind; every other one is re-margined at every tick of each of its instruments. The
flags are only ever computed from exact values, and the waterfall runs on an exact book (or, when
provably idle, not at all).
"""

from __future__ import annotations

import os

import numpy as np

from ramparts.compiled import njit
from ramparts.engine.batch_kernel import (
    _prefetch,
    call_transition,
    max_abs_lots,
    reprice_holders,
    sync_sub,
)
from ramparts.engine.slack_index import (
    _NO_OVERFLOW,
    ABOVE,
    ALWAYS,
    BELOW,
    DEAD_SCAN,
    NEVER,
    SOLVENT,
    SlackIndex,
    _reband_all,
    band_subs,
    band_violations,
    holder_entries,
    kill_hits,
    triggered_unsorted,
)
from ramparts.errors import RampartsError
from ramparts.fixedpoint import MAX_NOTIONAL

#: modes of the barrier: 0 = none running (reads of the caches bring them up to date)
_TICK, _SUBS, _FLUSH = 1, 2, 3
_TICK_EVENTS = frozenset({"OraclePrice", "OracleQuotes"})
_SUB_EVENTS = {"Fill": ("buyer", "seller"), "Deposit": ("subaccount",), "Withdraw": ("subaccount",)}
#: events that change no sub-account's equity, requirement, positions or flags, and read no cache
_NEUTRAL = frozenset({"Genesis", "ListAsset", "ListInstrument", "OpenSubAccount", "BookSnapshot", "FundInsurance", "ResetBreaker"})
#: events that read every cache but change no sub-account
_READ_ONLY = frozenset({"LiabilitiesRoot"})
#: events that move no mark and change no schedule: the bands of the sub-accounts they change are
#: recomputed, the others' still hold (see TickSlackOps._lz_snapshot)
_DIFF = frozenset({"FundingTick", "LiquidationBid", "AssetPrice", "ExchangeRate"})


@njit(cache=True)
def sync_subs(subs, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, marks, lazyable,
              floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm):  # fmt: skip
    """Bring the caches of sub-accounts ``subs`` up to date: every slot of a lazily re-margined
    instrument whose ``value ≠ lots × mark`` is re-priced (:func:`~ramparts.engine.batch_kernel.sync_sub`)."""
    for k in range(subs.shape[0]):
        sync_sub(subs[k], head, nxt, b_instr, b_lots, b_value, b_im, b_mm, marks, lazyable,
                 floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm)  # fmt: skip


@njit(cache=True, inline="always")
def _holds(s, i, head, nxt, b_instr, b_lots):
    """Whether sub-account ``s`` holds a non-flat position in instrument ``i``."""
    p = head[s]
    while p >= 0:
        if b_instr[p] == i:
            return b_lots[p] != 0
        p = nxt[p]
    return False


@njit(cache=True)
def holding(subs, i, head, nxt, b_instr, b_lots):
    """Which of ``subs`` hold a non-flat position in instrument ``i``."""
    out = np.zeros(subs.shape[0], dtype=np.bool_)
    for k in range(subs.shape[0]):
        out[k] = _holds(subs[k], i, head, nxt, b_instr, b_lots)
    return out


@njit(cache=True)
def _grown(a, m, cap):
    """``a[:m]`` in a new array of ``cap`` rows."""
    out = np.empty(cap, dtype=a.dtype)
    out[:m] = a[:m]
    return out


#: triggered sub-accounts a :func:`lazy_tick` takes through all its stages at once: small enough
#: that a chunk's lines (about 45 a sub-account: a dozen per-sub-account arrays and eight per
#: position) stay in L1/L2 from the first stage to the last, while the next chunks' lines are
#: prefetched. Speed only: the stages of one sub-account read nothing another one's write (a
#: module attribute, read at each tick, so that sizes can be compared on one engine).
LAZY_CHUNK = 16


@njit(cache=True, inline="always")
def _prefetch_sub(s, head, sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, stamp, kind_of):
    _prefetch(head, s)
    _prefetch(sub_cash, s)
    _prefetch(sub_value, s)
    _prefetch(sub_cost, s)
    _prefetch(sub_coll, s)
    _prefetch(sub_im, s)
    _prefetch(sub_mm, s)
    _prefetch(margin_called, s)
    _prefetch(stamp, s)
    _prefetch(kind_of, s)


@njit(cache=True, inline="always")
def _prefetch_slots(s, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, band_lo, band_hi):
    p = head[s]
    while p >= 0:
        _prefetch(b_instr, p)
        _prefetch(b_lots, p)
        _prefetch(b_value, p)
        _prefetch(b_im, p)
        _prefetch(b_mm, p)
        _prefetch(band_lo, p)
        _prefetch(band_hi, p)
        p = nxt[p]


@njit(cache=True)
def lazy_tick(i, price, tick, levels, seen,
              head, nxt, b_instr, b_lots, b_value, b_im, b_mm, marks, lazyable, ladder,
              floors, imr, mmr, imq, imr_rem, mmq, mmr_rem,
              sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, system, portfolio, margin_called, insolvent,
              floor, counter, stamp, kind_of, band_lo, band_hi, ok, dead, limit, pend, p_n, fold, dead_seen, min_rel, chunk):  # fmt: skip
    """The lazy pass of one tick of instrument ``i`` to ``price`` (no portfolio sub-account about):
    the holders whose band ``price`` leaves, from the index; their caches brought up to date
    (:func:`sync_subs`); ``Engine.margin_calls`` on them (``call_transition``; the flags flipped
    here, reported per row: 1 margin call, 2 became insolvent, 4 became solvent); their new bands,
    indexed. The triggered sub-accounts go through these stages ``chunk`` (:data:`LAZY_CHUNK`) at a
    time, in sub-account order, the lines of the next chunks prefetched meanwhile: the same writes in the
    same order as stage by stage over all of them.

    Returns ``(subs, flags, equity, maintenance, overflow entries...)`` with ``subs`` sorted."""
    trig, n_dead, hits = triggered_unsorted(price, i, levels, pend, p_n, stamp, seen, tick)
    dead_seen[i] += n_dead
    if dead_seen[i] > max(DEAD_SCAN, 2 * limit[i]):  # dead entries where the ticks look: settle weighs a merge after the pass
        fold[i] = True
    trig.sort()
    nt = trig.shape[0]
    subs = np.empty(nt, dtype=np.int64)
    flags = np.zeros(nt, dtype=np.int8)
    out_eq = np.empty(nt, dtype=np.int64)
    out_mm = np.empty(nt, dtype=np.int64)
    ov_i = ov_lo = ov_hi = ov_s = ov_t = np.empty(0, dtype=np.int64)
    m = 0  # overflow rows
    n = 0  # triggered sub-accounts that hold instrument i
    C = max(chunk, 1)
    # the pipeline: sub-account lines two chunks ahead, their position slots one chunk ahead (hints only)
    for k in range(min(2 * C, nt)):
        _prefetch_sub(trig[k], head, sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, stamp, kind_of)
    for k in range(min(C, nt)):
        _prefetch_slots(trig[k], head, nxt, b_instr, b_lots, b_value, b_im, b_mm, band_lo, band_hi)
    for c0 in range(0, nt, C):
        c1 = min(c0 + C, nt)
        for k in range(c0 + 2 * C, min(c0 + 3 * C, nt)):
            _prefetch_sub(trig[k], head, sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, stamp, kind_of)
        for k in range(c0 + C, min(c0 + 2 * C, nt)):
            _prefetch_slots(trig[k], head, nxt, b_instr, b_lots, b_value, b_im, b_mm, band_lo, band_hi)
        n0 = n
        for k in range(c0, c1):
            if _holds(trig[k], i, head, nxt, b_instr, b_lots):
                subs[n] = trig[k]
                n += 1
        chunk = subs[n0:n]
        sync_subs(chunk, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, marks, lazyable,
                  floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm)  # fmt: skip
        slots = 0
        for k in range(n0, n):  # Engine.margin_calls, row by row
            s = subs[k]
            equity = sub_cash[s] + sub_value[s] - sub_cost[s] + sub_coll[s]
            mm = sub_mm[s]
            f, margin_called[s], insolvent[s] = call_transition(equity, mm, system[s], margin_called[s], insolvent[s])
            flags[k] = f
            out_eq[k] = equity
            out_mm[k] = mm
            p = head[s]
            while p >= 0:
                slots += 1
                p = nxt[p]
        if m + slots > ov_i.shape[0]:  # room for every entry of the chunk to overflow (they rarely do)
            cap = max(2 * ov_i.shape[0], m + slots)
            ov_i, ov_lo, ov_hi = _grown(ov_i, m, cap), _grown(ov_lo, m, cap), _grown(ov_hi, m, cap)
            ov_s, ov_t = _grown(ov_s, m, cap), _grown(ov_t, m, cap)
        m += _reband_all(chunk, True, floor, counter, stamp, kind_of, head, nxt, b_instr, b_lots, band_lo, band_hi, marks, lazyable,
                         ladder, sub_cash, sub_value, sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent, ok, dead,
                         limit, pend, p_n, fold, ov_i[m:], ov_lo[m:], ov_hi[m:], ov_s[m:], ov_t[m:], min_rel)  # fmt: skip
    kill_hits(hits, i, stamp, levels, pend)
    return subs[:n], flags[:n], out_eq[:n], out_mm[:n], ov_i[:m], ov_lo[:m], ov_hi[:m], ov_s[:m], ov_t[:m]


def _barrier_array(name: str) -> property:
    """A per-sub-account cache read through the barrier (see the module docstring)."""
    stored = "_" + name

    def get(self):
        if self._lz_dirty and not self._lz_mode:
            self._lz_flush()
        return self.__dict__[stored]

    def put(self, value) -> None:
        self.__dict__[stored] = value

    return property(get, put, doc=f"``{name}`` per sub-account (exact on every read from outside the engine's passes)")


class TickSlackOps:
    """Mixed into :class:`~ramparts.engine.engine.Engine` (see the module docstring)."""

    #: re-margin lazily (only the holders a tick can have moved across a margin condition); False:
    #: every holder on every tick (the comparison path of the tests and benchmarks)
    lazy_remargin = os.environ.get("RAMPARTS_FULL_REMARGIN", "").strip() in ("", "0")
    #: the narrowest band worth indexing, as a relative move in ppm (narrower: re-margined every
    #: tick instead; twice this to be indexed again). Speed only: every value gives the same results.
    lazy_min_band_ppm = 300
    #: below this many open positions the engine re-margins in full (the lazy bookkeeping costs a
    #: few µs a fill and a tick, more than it saves on a small book); it switches on at this size
    #: and off again below half of it (``RAMPARTS_LAZY_MIN_POSITIONS``). Speed only, as above.
    lazy_min_positions = int(os.environ.get("RAMPARTS_LAZY_MIN_POSITIONS", "50000"))
    #: an instrument with fewer holders is re-margined in full at its ticks (bands checked, no
    #: index; ``RAMPARTS_LAZY_MIN_HOLDERS``). Both thresholds at 0: lazy from the first position.
    lazy_min_holders = int(os.environ.get("RAMPARTS_LAZY_MIN_HOLDERS", "2048"))

    sub_value = _barrier_array("sub_value")
    sub_im = _barrier_array("sub_im")
    sub_mm = _barrier_array("sub_mm")

    _lz_dirty = False  # some cache may be behind its mark
    _lz_mode = 0  # a pass of this module is running (0: none; reads then bring caches up to date)
    _lz_touched: list | None = None  # while an event is watched: the sub-accounts whose positions it traded

    def _lz_init(self) -> None:
        self._lz_index = SlackIndex()
        self._lz_stamp = np.zeros(1024, dtype=np.int64)  # band stamp per sub-account (valid when ≥ _lz_floor)
        self._lz_kind = np.zeros(1024, dtype=np.int8)  # ABOVE, SOLVENT, BELOW, NEVER or ALWAYS
        self._lz_seen = np.zeros(1024, dtype=np.int64)  # scratch of SlackIndex.triggered
        self._lz_counter = np.ones(1, dtype=np.int64)  # the next stamp
        self._lz_floor = 1  # stamps below this are forgotten bands
        self._lz_tickno = 0
        self._lz_behind = np.zeros(0, dtype=np.bool_)  # per instrument: some holder's cache may be behind
        self._lz_marks = np.zeros(0, dtype=np.int64)
        self._lz_lazyable = np.zeros(0, dtype=np.bool_)
        self._lz_ladder = np.zeros((0, 2, 1), dtype=np.int64)
        self._lz_tab: tuple = ()
        self._lz_maxlots = np.zeros(0, dtype=np.int64)
        self._lz_was_on = False
        self._lz_fallback = None
        self._lz_pending: list[int] = []  # exact sub-accounts without a band yet (see _lz_settle)
        #: counts of what the lazy passes did (diagnostics for benchmarks and tests, not state)
        self.lazy_stats = {"lazy_ticks": 0, "full_ticks": 0, "rechecked": 0, "skipped": 0, "flushes": 0, "global_events": 0}
        self.book._owner = self

    # ------------------------------------------------------------------ switch and tables
    def _lz_active(self) -> bool:
        if not (self.lazy_remargin and self.compiled_remargin):
            return False
        n = len(self.book)
        return n >= self.lazy_min_positions or (self._lz_was_on and 2 * n >= self.lazy_min_positions)

    def _lz_grow_subs(self, n: int) -> None:
        for name in ("_lz_stamp", "_lz_kind", "_lz_seen"):
            arr = getattr(self, name)
            if n > arr.shape[0]:
                grown = np.zeros(max(n, 2 * arr.shape[0]), dtype=arr.dtype)
                grown[: arr.shape[0]] = arr
                setattr(self, name, grown)

    def _lz_tables(self) -> None:
        """Per instrument: whether its ticks may be lazy, its maintenance brackets, its mark."""
        n = len(self.instruments)
        lazyable, ladder = self._band_tables()
        if lazyable is not self._lz_lazyable:
            self._lz_lazyable, self._lz_ladder = lazyable, ladder
            self._lz_tab = self._batch_tables() if n else ()
            self._lz_index.ensure(n)
            if self._lz_behind.shape[0] < n:
                self._lz_behind = np.concatenate([self._lz_behind, np.zeros(n - self._lz_behind.shape[0], dtype=np.bool_)])
        self._lz_marks = np.array([m.mark for m in self.markets], dtype=np.int64)
        self._lz_maxlots = np.full(n, -1, dtype=np.int64)  # a bound on max |lots| of each instrument's holders (−1: unknown)

    def _band_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Per instrument, whether a band may cover its positions (a tiered schedule without size premium, not an
        option, not settled, no correlation add-on) and its maintenance brackets, ``ladder[i, 0]`` the notional floors
        and ``ladder[i, 1]`` the rates in ppm, padded with a floor of int64's maximum (what
        :func:`~ramparts.engine.slack_index.band_one` reads); the same arrays until one of those changes."""
        key = (len(self.instruments), self.collateral.correlation is None, tuple(i.schedule for i in self.instruments),
               tuple(m.settled for m in self.markets))  # fmt: skip
        cached = self.__dict__.get("_band_tables_cache")
        if cached is None or cached[0] != key:
            corr_off = self.collateral.correlation is None
            lazyable = np.array([corr_off and not i.is_option and not i.schedule.size_premium_ppm and not self.markets[i.index].settled
                                 for i in self.instruments], dtype=np.bool_)  # fmt: skip
            width = max((len(i.schedule.tiers) for i in self.instruments), default=1)
            ladder = np.full((len(self.instruments), 2, width), np.iinfo(np.int64).max, dtype=np.int64)
            for x in self.instruments:
                tiers = x.schedule.tiers
                ladder[x.index, 0, : len(tiers)] = [t.notional_floor for t in tiers]
                ladder[x.index, 1, :] = tiers[-1].maintenance_rate_ppm  # (the padding never read: a floor of int64's max)
                ladder[x.index, 1, : len(tiers)] = [t.maintenance_rate_ppm for t in tiers]
            cached = self._band_tables_cache = (key, lazyable, ladder)
        return cached[1], cached[2]

    # ------------------------------------------------------------------ keeping caches exact
    def _lz_flush(self) -> None:
        """Bring every cache up to date: one compiled re-margin, without margin calls, of each
        instrument with holders behind."""
        if not self._lz_dirty:
            return
        mode, self._lz_mode = self._lz_mode, _FLUSH
        try:
            b = self.book
            tables = self._batch_tables()
            scratch = np.zeros(0, dtype=np.int64)
            counters = np.zeros(5, dtype=np.int64)
            for i in np.flatnonzero(self._lz_behind).tolist():
                h = b.holders(i)
                if h.size:
                    reprice_holders(0, i, self.markets[i].mark, 0, int(h.size), h, False, b.sub, b.lots, b._value, b._im, b._mm,
                                    self.is_system, self.ledger.sub_cash, self._sub_value, self.sub_cost, self.sub_coll,
                                    self._sub_im, self._sub_mm, self.margin_called, np.zeros(0, dtype=np.bool_), *tables,
                                    scratch, scratch, scratch, scratch, scratch, np.zeros(0, dtype=np.int8), counters)  # fmt: skip
            self._lz_behind[:] = False
            self._lz_dirty = False
            self.lazy_stats["flushes"] += 1
        finally:
            self._lz_mode = mode

    def _lz_sync(self, subs: np.ndarray) -> None:
        """Bring the caches of ``subs`` up to date (nothing to do unless something is behind)."""
        if not self._lz_dirty or not len(subs):
            return
        b = self.book
        sync_subs(np.asarray(subs, dtype=np.int64), b.head, b.next, b.instr, b.lots, b._value, b._im, b._mm, self._lz_marks,
                  self._lz_lazyable, *self._lz_tab, self._sub_value, self._sub_im, self._sub_mm)  # fmt: skip

    def _lz_read(self, subs) -> None:
        """Before a read of ``subs`` (an index, an index array, or None / a slice: everyone)."""
        if self._lz_dirty and not self._lz_mode:
            arr = np.asarray(subs) if subs is not None and not isinstance(subs, slice) else None
            if arr is not None and arr.dtype.kind in "iu":
                self._lz_sync(np.atleast_1d(arr).astype(np.int64, copy=False).ravel())
            else:  # everyone, a slice or a mask
                self._lz_flush()

    # ------------------------------------------------------------------ bands
    def _lz_settle(self) -> None:
        """Compute the bands of the sub-accounts events left without one (``_lz_pending``): they
        are exact until the next tick, which calls this first, before its mark moves."""
        if self._lz_pending:
            subs = np.unique(np.asarray(self._lz_pending, dtype=np.int64))
            self._lz_pending = []
            self._lz_reband(subs[self._lz_stamp[subs] < self._lz_floor], keep_always=False)

    def _lz_prime(self) -> None:
        """Right after a restore every cache is exact: if the lazy re-margin is on for this book, compute every
        sub-account's band and build each instrument's slack index now, in one pass, rather than in a full tick
        of each instrument at its first price (which first brings all its holders' caches up to date: a chain
        walk of scattered slots, ~40 ms an instrument at 1M sub-accounts, ~8 s over the first 10,000 events of a
        tail against 0.7 s here). The same state and effects as those first ticks (``tick_slack``'s invariant)."""
        if not self._lz_active():
            return
        self._lz_was_on = True  # what the first event would set, after a flush and invalidation that find nothing behind
        self._lz_invalidate_all()
        self._lz_reband(np.arange(len(self.subs), dtype=np.int64), keep_always=False)
        b = self.book
        for i in range(len(self.instruments)):
            h = b.holders(i)
            if h.size >= self.lazy_min_holders and self._lz_lazyable[i]:  # what a full tick would index (_remargin_tick)
                entries = holder_entries(h, self._lz_floor, self._lz_stamp, self._lz_kind, b.sub, b.lots, b.band_lo, b.band_hi)
                self._lz_index.build(i, *entries)

    def _lz_invalidate_all(self) -> None:
        """Forget every band and every instrument's index (after an event that may have changed anyone)."""
        self._lz_pending = []
        self._lz_floor = int(self._lz_counter[0])
        self._lz_tables()
        self._lz_index.reset()

    def _lz_reband(self, subs: np.ndarray, keep_always: bool, kill: bool = False) -> None:
        """Recompute the bands of the exact sub-accounts ``subs`` and index them (``kill``: then
        mark the entries of the last :meth:`SlackIndex.triggered` they replaced as dead, before
        any merge step copies them)."""
        if not len(subs):
            return
        b = self.book
        idx = self._lz_index
        overflow = band_subs(np.asarray(subs, dtype=np.int64), keep_always, self._lz_floor, self._lz_counter, self._lz_stamp,
                             self._lz_kind, b.head, b.next, b.instr, b.lots, b.band_lo, b.band_hi, self._lz_marks, self._lz_lazyable,
                             self._lz_ladder, self.ledger.sub_cash, self._sub_value, self.sub_cost, self.sub_coll, self._sub_mm,
                             self.is_system, self.is_portfolio, self.margin_called, self.insolvent.mask(len(self.subs)),
                             idx.ok, idx.dead, idx.limit, idx.pend, idx.p_n, idx.fold, float(self.lazy_min_band_ppm) / 1e6)  # fmt: skip
        if kill:
            idx.kill_hits(self._lz_stamp)
        idx.settle(overflow, self._lz_stamp)

    # ------------------------------------------------------------------ events
    def _lz_apply(self, event, handler) -> list[dict]:
        """Apply ``event`` under its policy (see the module docstring)."""
        if not self._lz_active():
            if self._lz_was_on:
                self._lz_was_on = False
                self._lz_flush()
            return handler(event)
        if not self._lz_was_on:  # (re)enabled: nothing known yet
            self._lz_was_on = True
            self._lz_flush()
            self._lz_invalidate_all()
        kind = event.kind
        if kind in _TICK_EVENTS:
            self._lz_mode = _TICK
            try:
                return handler(event)
            finally:
                self._lz_mode = 0
        fields = _SUB_EVENTS.get(kind)
        if fields is not None:
            subs = []
            known = self._sub_by_str.get
            for f in fields:
                name = getattr(event, f)
                s = known(name) if isinstance(name, str) else None
                if s is None:
                    try:
                        s = self.sub_index(name, f)
                    except RampartsError:
                        continue  # the handler refuses it
                subs.append(s)
            if self._lz_dirty:  # only a sub-account with a valid band other than ALWAYS can be behind
                stamp, kinds, floor = self._lz_stamp, self._lz_kind, self._lz_floor
                behind = [s for s in subs if stamp[s] >= floor and kinds[s] != ALWAYS]
                if behind:
                    self._lz_sync(np.array(behind, dtype=np.int64))
            self._lz_mode = _SUBS
            try:
                return handler(event)
            finally:
                self._lz_mode = 0
                # new positions, cash or fees: the old band no longer holds (its entries die with the
                # stamp); the new one is computed, for all such sub-accounts at once, before the next tick
                stamp = self._lz_stamp
                for s in subs:
                    stamp[s] = 0
                self._lz_pending += subs
                if len(self._lz_pending) > 65_536:  # no tick for a long while: they are all still exact
                    self._lz_settle()
        if kind in _NEUTRAL:
            if kind == "ListInstrument":
                effects = handler(event)
                self._lz_tables()
                return effects
            return handler(event)
        if kind == "Tick" and not any(ac.dynamic is not None for ac in self.collateral.assets.values()):
            self._lz_fallback = None
            self._lz_mode = _TICK
            try:
                return handler(event)
            finally:
                self._lz_mode = 0
                snap, self._lz_fallback = self._lz_fallback, None
                touched, self._lz_touched = self._lz_touched, None
                if snap is not None:  # the waterfall ran: new bands for the sub-accounts it changed
                    self._lz_reband_changed(snap, touched)
        self._lz_flush()
        if kind in _READ_ONLY:
            return handler(event)
        if kind in _DIFF or kind == "Tick" or (kind == "ParameterChange" and event.target != "correlation"
                                                and not (event.target.startswith("instrument:") and event.key == "margin")):
            snap = self._lz_snapshot()
            self._lz_touched = []
            try:
                return handler(event)
            finally:
                touched, self._lz_touched = self._lz_touched, None
                self._lz_reband_changed(snap, touched)
        # a schedule, the correlation add-on, a settlement, a batch: every band is forgotten
        # (a Tick with dynamic haircuts and parameter changes of anything else were watched above)
        effects = handler(event)
        self._lz_invalidate_all()
        self.lazy_stats["global_events"] += 1
        return effects

    def _lz_snapshot(self) -> tuple:
        """What a band depends on besides positions and marks, per sub-account: cash, cost basis,
        collateral value, borrow requirement, the margin-called and insolvent flags (positions are
        watched through ``Engine.trade``, which every position change of these events goes through)."""
        n = len(self.subs)
        return (n, self.ledger.sub_cash[:n].copy(), self.sub_cost[:n].copy(), self.sub_coll[:n].copy(), self.sub_borrow_mm[:n].copy(),
                self.margin_called[:n].copy(), frozenset(self.insolvent))  # fmt: skip

    def _lz_reband_changed(self, snap: tuple, touched: list | None) -> None:
        """Recompute the bands of the sub-accounts an event changed (every cache is exact here:
        the event ran after a flush, under the engine's ordinary exact bookkeeping)."""
        n0, cash, cost, coll, bmm, mc, ins = snap
        n = len(self.subs)
        diff = ((self.ledger.sub_cash[:n0] != cash) | (self.sub_cost[:n0] != cost) | (self.sub_coll[:n0] != coll)
                | (self.sub_borrow_mm[:n0] != bmm) | (self.margin_called[:n0] != mc))  # fmt: skip
        changed = set(np.flatnonzero(diff).tolist()) | (ins ^ set(self.insolvent)) | set(range(n0, n)) | set(touched or ())
        if changed:
            self._lz_reband(np.array(sorted(changed), dtype=np.int64), keep_always=False)

    def _lz_waterfall_quiet(self, ts: int) -> bool:
        """Whether the waterfall of a ``Tick`` at ``ts`` provably does nothing (then the engine
        skips it); otherwise every cache is brought up to date and the caller runs it (and every
        band is forgotten after).

        The waterfall acts on sub-accounts with ``E < M``, in liquidation or with ``E < 0`` (not
        system, not paused), on queued keeper bids and on the vault's positions to hedge. A valid
        ABOVE band proves ``E ≥ M ≥ 0`` and no liquidation; every other sub-account is checked
        exactly. When it must run, the bands of the sub-accounts it changes are recomputed after it."""
        if self._lz_mode != _TICK:
            return False
        n = len(self.subs)
        quiet = not self.pending_bids and not (self.liq.hedge_insurance and self.book.n_positions_of(self.backstop))
        if quiet and n:
            proven = (self._lz_stamp[:n] >= self._lz_floor) & (self._lz_kind[:n] == ABOVE) & ~self.in_liquidation[:n]
            cand = np.flatnonzero(~proven & ~self.is_system[:n])
            if cand.size:
                self._lz_sync(cand)
                equity = self.ledger.sub_cash[cand] + self._sub_value[cand] - self.sub_cost[cand] + self.sub_coll[cand]
                due = (equity < self._sub_mm[cand]) | self.in_liquidation[cand] | (equity < 0)
                if due.any():
                    quiet = not bool((due & ~self.liquidation_paused()[cand]).any())
        if not quiet:
            self._lz_mode = 0
            self._lz_flush()
            self._lz_fallback = self._lz_snapshot()
            self._lz_touched = []
        return quiet

    # ------------------------------------------------------------------ the tick
    def _lz_notional_ok(self, i: int, mark: int) -> bool:
        """Whether every holder of instrument ``i`` keeps its notional within ``MAX_NOTIONAL`` at ``mark``
        (the tick's overflow guard), exactly; in a tick pass, from a kept bound on ``max |lots|`` when that
        bound suffices (``Engine.trade`` raises it; every other change of lots is a global
        event, which forgets it), instead of a pass over every holder."""
        u = self._lz_maxlots
        tick = self._lz_mode == _TICK and i < u.shape[0]
        if tick and 0 <= u[i] <= MAX_NOTIONAL // mark:
            return True
        h = self.book.holders(i)
        exact = max_abs_lots(h, 0, h.size, self.book.lots)
        if tick:
            u[i] = exact
        return exact * mark <= MAX_NOTIONAL

    def _lz_traded(self, s: int, i: int, lots: int) -> None:
        """``Engine.trade`` left sub-account ``s`` with ``lots`` of instrument ``i``."""
        if self._lz_touched is not None:
            self._lz_touched.append(s)
        u = self._lz_maxlots
        if i < u.shape[0] and 0 <= u[i] < abs(lots):
            u[i] = abs(lots)

    def _lz_traded_many(self, subs: np.ndarray, instrs: np.ndarray, lots: np.ndarray) -> None:
        """:meth:`_lz_traded` of each ``(subs[j], instrs[j], lots[j])`` in turn, at once."""
        if self._lz_touched is not None:
            self._lz_touched += subs.tolist()
        u = self._lz_maxlots
        inside = instrs < u.shape[0]
        if not inside.any():
            return
        most = np.full(u.shape[0], -1, dtype=np.int64)
        np.maximum.at(most, instrs[inside], np.abs(lots[inside]))
        raise_ = (u >= 0) & (u < most)  # a bound already unknown (−1) stays unknown, as one at a time leaves it
        u[raise_] = most[raise_]

    def _remargin_tick(self, instr) -> list[dict]:
        """Re-margin the holders of ``instr`` after its mark moved: lazily in a tick pass whose
        instrument has a built index (which needs only how many hold it, not the holders' array,
        whose upkeep after new positions is O(holders)), in full otherwise (then its index is built)."""
        i = instr.index
        if self._lz_mode != _TICK:
            return self._remargin(instr, self.book.holders(i))
        self._lz_settle()  # before the mark moves: those sub-accounts are exact at the marks they were left at
        if i >= self._lz_marks.shape[0] or i >= self._lz_lazyable.shape[0]:
            self._lz_tables()
        mark = self.markets[i].mark
        self._lz_marks[i] = mark
        lazy = bool(self._lz_lazyable[i])
        n = self.book.n_holders(i)
        if lazy and n:
            self._lz_behind[i] = True  # every holder's cache is behind the new mark until re-priced
            self._lz_dirty = True
        big = n >= self.lazy_min_holders
        if lazy and big and self._lz_index.ok[i]:
            return self._lz_tick(i, n, mark)
        self.lazy_stats["full_ticks"] += 1
        h = self.book.holders(i)
        self._lz_sync(self.book.sub[h])
        effects = self._remargin(instr, h)
        if lazy:
            self._lz_behind[i] = False
            self._lz_dirty = bool(self._lz_behind.any())
            b = self.book
            need = band_violations(h, mark, self._lz_floor, self._lz_stamp, self._lz_kind, b.sub, b.lots, b.band_lo, b.band_hi)
            self._lz_reband(need, keep_always=True)
            if big and not self._lz_index.ok[i]:
                self._lz_index.build(i, *holder_entries(h, self._lz_floor, self._lz_stamp, self._lz_kind, b.sub, b.lots, b.band_lo, b.band_hi))
        return effects

    def _lz_tick(self, i: int, n_holders: int, mark: int) -> list[dict]:
        """The lazy pass: re-margin exactly the holders (``n_holders`` of them) whose band ``mark`` leaves
        (and the ALWAYS ones), with the full path's margin-call rules; recompute their bands."""
        b = self.book
        idx = self._lz_index
        self._lz_tickno += 1
        if self.n_portfolio:  # step by step: portfolio requirements are Python's (Engine._portfolio)
            trig = idx.triggered(i, mark, self._lz_stamp, self._lz_seen, self._lz_tickno)
            trig = trig[holding(trig, i, b.head, b.next, b.instr, b.lots)]
            effects: list[dict] = []
            if trig.size:
                self._lz_sync(trig)
                pm = trig[self.is_portfolio[trig]]
                if pm.size:
                    self._portfolio(pm.tolist())
                effects = self.margin_calls(trig)
                self._lz_reband(trig, keep_always=True, kill=True)
            if idx.fold[i]:
                idx.settle(_NO_OVERFLOW, self._lz_stamp)
            n_trig = int(trig.size)
        else:
            out = lazy_tick(i, mark, self._lz_tickno, idx.levels(i), self._lz_seen, b.head, b.next, b.instr, b.lots, b._value, b._im,
                            b._mm, self._lz_marks, self._lz_lazyable, self._lz_ladder, *self._lz_tab, self.ledger.sub_cash,
                            self._sub_value, self.sub_cost, self.sub_coll, self._sub_im, self._sub_mm, self.is_system,
                            self.is_portfolio, self.margin_called, self.insolvent.mask(len(self.subs)), self._lz_floor,
                            self._lz_counter, self._lz_stamp, self._lz_kind, b.band_lo, b.band_hi, idx.ok, idx.dead, idx.limit,
                            idx.pend, idx.p_n, idx.fold, idx.dead_seen, float(self.lazy_min_band_ppm) / 1e6, LAZY_CHUNK)  # fmt: skip
            subs, flags, eq, mm = out[:4]
            idx.settle(out[4:], self._lz_stamp)
            n_trig = int(subs.size)
            effects = []
            for r in np.flatnonzero(flags).tolist():  # the kernel flipped the mask; the set follows it
                f, s = int(flags[r]), int(subs[r])
                if f & 2:
                    self.insolvent.add(s)
                if f & 4:
                    self.insolvent.discard(s)
                if f & 1:
                    effects.append({"kind": "MarginCall", "subaccount": self.subs.name(s), "equity": int(eq[r]), "maintenance": int(mm[r])})
        st = self.lazy_stats
        st["lazy_ticks"] += 1
        st["rechecked"] += n_trig
        st["skipped"] += n_holders - n_trig
        if n_trig == n_holders:
            self._lz_behind[i] = False
            self._lz_dirty = bool(self._lz_behind.any())
        return effects

    # ------------------------------------------------------------------ checks (tests)
    def lazy_check(self) -> None:
        """Assert the lazy state's invariants (tests): every valid ABOVE / SOLVENT / BELOW band
        holds at the current marks and its condition holds exactly; a sub-account without one has
        no cache behind; every built index holds a live entry for each holder with a band."""
        if not self._lz_was_on:
            return
        self._lz_settle()
        b = self.book
        n = len(self.subs)
        assert np.array_equal(self._lz_marks[: len(self.markets)], np.array([m.mark for m in self.markets], dtype=np.int64))
        ins = self.insolvent.mask(n)
        for s in range(n):
            valid = self._lz_stamp[s] >= self._lz_floor
            kind = int(self._lz_kind[s]) if valid else 0
            slots = [slot for _, slot in b.positions_of(s)]
            if kind in (ABOVE, SOLVENT, BELOW):
                # exact from scratch (such a sub-account has tiered positions and perhaps borrows only)
                eq = int(self.ledger.sub_cash[s]) - int(self.sub_cost[s]) + int(self.sub_coll[s])
                mm = int(self.sub_borrow_mm[s])
                for p in slots:
                    instr = self.instruments[int(b.instr[p])]
                    lots, mark = int(b.lots[p]), self.markets[instr.index].mark
                    eq += lots * mark
                    mm += self.requirements(instr, lots, mark)[1]
                for p in slots:
                    mark = self.markets[int(b.instr[p])].mark
                    assert b.band_lo[p] <= mark <= b.band_hi[p], (s, p, mark, b.band_lo[p], b.band_hi[p])
                assert not self.is_system[s] and not self.is_portfolio[s]
                if kind == ABOVE:
                    assert eq >= mm and not self.margin_called[s] and not ins[s], (s, eq, mm)
                elif kind == SOLVENT:
                    assert eq >= 0 and self.margin_called[s] and not ins[s], (s, eq)
                else:
                    assert eq < 0 and self.margin_called[s] and ins[s], (s, eq)
            elif kind != NEVER:
                for p in slots:
                    assert b._value[p] == b.lots[p] * self.markets[int(b.instr[p])].mark, ("behind without a band", s, p)
        for i in range(len(self.instruments)):
            assert b.n_holders(i) == b.holders(i).size, ("holder count", i)
            if i >= self._lz_index.ok.shape[0] or not self._lz_index.ok[i]:
                continue
            _, _, subs, _ = self._lz_index.live_entries(i, self._lz_stamp)
            live = set(subs.tolist())
            assert len(live) == subs.size, ("two live entries", i)
            for p in b.holders(i).tolist():
                s = int(b.sub[p])
                if self._lz_stamp[s] >= self._lz_floor and self._lz_kind[s] != NEVER:
                    assert s in live, ("holder missing from the index", i, s)
                else:
                    assert self._lz_stamp[s] >= self._lz_floor, ("holder of a built index without a band", i, s)


__all__ = ["ALWAYS", "TickSlackOps", "holding", "sync_subs"]
