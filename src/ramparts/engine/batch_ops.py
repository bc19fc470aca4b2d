"""Batch mode: the engine's handler of :class:`~ramparts.engine.events.TradeBatch`.

A batch is one event and one journal row holding many fills and index prices as integer columns.
Its meaning is defined item by item: item ``k`` does exactly what the equivalent ``Fill`` or
``OraclePrice`` event would do at that point (a refused item changes nothing and becomes a
``Rejected`` effect). :class:`BatchOps` gets there in two gears:

* the compiled gear, :func:`ramparts.engine.batch_kernel.run_items`, applies runs of ordinary
  items (accepted fills on cross / isolated sub-accounts of tiered instruments, index prices under
  the index mark model) in one numba loop over the engine's own arrays;
* the general gear applies the item the kernel stopped at through the ordinary handler, built as
  the equivalent event (so a refusal carries the handler's own error), then the kernel resumes.

Before a run the handler *prepares*: it opens (empty) every position slot the remaining fills
could need, so that the kernel never allocates, and lays out the slots of each sub-account of the
batch and the holders of each priced instrument as flat arrays. After a run it *finishes*: the
venue ledger accounts get the run's variation-margin and fee totals, markets their mark state,
slots left flat are closed, margin calls become effects and the insolvency set is updated. The
book is then exactly as the item-by-item handlers would have left it, which the equivalence tests
check state hash for state hash.

A window whose prices re-price the same holders several times (an instrument priced again and again
among the fills) re-margins through *bands* (:mod:`ramparts.engine.batch_kernel`): a holder a band proves
safe at a price is skipped, and brought up to date before anything reads it. The bands are kept from one
window and one batch to the next while nothing but the kernel changes the book (:meth:`BatchOps._batch_bands`);
the tests hold effects, flags, state and every cache equal to one event at a time either way.

The same gears apply **runs of events** (:meth:`BatchOps.apply_run`): consecutive ``Fill`` and
``OraclePrice`` events, each still its own event (its own seq, effects or error, journal row), become
the columns of a batch once their names are resolved and their decimals converted (once per distinct
value). :class:`~ramparts.engine.node.Node` applies the runs of its group commits and of a replay this
way; ``tests/test_event_runs.py`` holds every outcome and the state hash equal to one event at a time.

Throughput: ``benchmarks/bench_throughput.py``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from ramparts.engine import events as ev
from ramparts.engine.batch_kernel import INT64_MAX, PPM, find_slots, group_slots, run_items
from ramparts.engine.slack_index import ALWAYS
from ramparts.engine.tick_slack import _SUBS
from ramparts.errors import InvalidInput, RampartsError, Rejected, UnknownEntity
from ramparts.fixedpoint import MAX_NOTIONAL
from ramparts.oracle.mark import IndexMark, MarkState

if TYPE_CHECKING:  # pragma: no cover
    from ramparts.engine.engine import Engine


#: The most items one run of the kernel is prepared for. After the kernel stops early (a refused or
#: unusual item) the next window is sized to what the last run managed, so that a batch full of
#: refusals does not repeat a large preparation for every one of them.
_WINDOW = 4096
_MIN_WINDOW = 16

#: the events :meth:`BatchOps.apply_run` takes
_RUN_KINDS = (ev.Fill, ev.OraclePrice)
#: the fewest fills between two prices worth a run of their own while the lazy re-margin is on
_LAZY_RUN_MIN = 4


_Z64 = np.zeros(0, dtype=np.int64)
#: the band arguments of a window without bands (the arrays are never read)
_OFF = (False, 0, _Z64, np.zeros(0, dtype=np.int8), _Z64, _Z64, _Z64, np.zeros(0, dtype=np.bool_), np.zeros((0, 2, 1), dtype=np.int64),
        np.zeros(0, dtype=np.bool_), 0.0)


class _Run:
    """What the lazy re-margin's policy sees of a run of events: a global event, as a ``TradeBatch``."""

    kind = "TradeBatch"


_RUN = _Run()


class _Columns:
    """A validated batch as numpy columns (engine indices resolved)."""

    __slots__ = ("window", "eligible", "ok_fill", "ok_price", "e", "n", "kind", "gi", "bl", "sl", "ticks", "lp", "size", "fee_b", "fee_s", "times", "sub_map", "row_iso", "row_ok")


def _rejection(k: int, exc: RampartsError) -> dict:
    fx: dict = {"kind": "Rejected", "item": k, "error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, Rejected):
        fx["reason"] = exc.reason
    elif isinstance(exc, (InvalidInput, UnknownEntity)):
        fx["field"] = exc.field
    return fx


class BatchOps:
    """The ``TradeBatch`` handler of :class:`~ramparts.engine.engine.Engine` (a mixin)."""

    #: a window takes up bands (``batch_kernel.run_items``) when an instrument with at least this many holders is
    #: priced in it ...
    batch_band_min_holders = 256
    #: ... and its prices re-margin the holders of the instruments they price at least this many times on average
    #: (see :meth:`_batch_bands`). Speed only: every value gives the same results.
    batch_band_min_repeats = 3
    #: whether the bands of the last windows still hold (see :meth:`_batch_bands`), their epoch, their arrays (not state)
    _band_live = False
    _band_epoch = 0
    _band_scratch: tuple = (_Z64, _Z64, _Z64, np.zeros(0, dtype=np.int8))

    # ------------------------------------------------------------------ handler
    def _on_TradeBatch(self: Engine, e: ev.TradeBatch) -> list[dict]:
        c = self._batch_columns(e)
        effects: list[dict] = []

        def emit(k: int, fx: dict | RampartsError) -> None:
            effects.append(_rejection(k, fx) if isinstance(fx, RampartsError) else fx)

        general = 0
        k = 0
        while k < c.n:
            k, stopped = self._batch_run(c, k, emit)
            if stopped:  # the kernel left item k to the ordinary handler
                self._batch_item(c, k, effects)
                general += 1
                k += 1
        #: how the last batch was applied (diagnostics, not state): items by each gear
        self.last_batch_stats = {"items": c.n, "compiled": c.n - general, "general": general}
        return effects

    # ------------------------------------------------------------------ runs of events
    def apply_run(self: Engine, events: Sequence[ev.Fill | ev.OraclePrice]) -> list[list[dict] | RampartsError]:
        """Apply consecutive ``Fill`` / ``OraclePrice`` events, each still its own event, through the compiled gear.

        The result is exactly that of ``[self.apply(e) for e in events]`` with each refusal caught (the tests
        check effects and state hashes): per event its effects, or the error that refused it (a refused event
        changes nothing); ``seq`` advances by one per applied event and the engine time becomes each applied
        event's ``ts``. The caller guarantees the run's shape, which :meth:`run_ready` checks: times that never
        decrease, from the engine time on, a venue past its genesis, and one engine owning every account (no
        ``shard_link``).

        The events become the columns of a batch (names resolved, decimals converted once per distinct value);
        the kernel applies the ordinary ones, an event it stops at goes through its handler. While the lazy
        re-margin is on (:mod:`ramparts.engine.tick_slack`) the fills between two prices are one run under the
        sub-account policy (the sub-accounts they name brought up to date first, their bands recomputed after),
        and each price is its own lazy tick, so that a run never makes the next ticks re-margin in full.
        """
        if not self.run_ready(events):
            raise InvalidInput("events", "not a run: times must not decrease, from the engine time on, after genesis")
        if not events:
            return []
        if not (self.lazy_remargin or self._lz_was_on):
            return self._run_body(events)
        if not self._lz_active():
            return self._lz_apply(_RUN, lambda _: self._run_body(events))  # (switching it off first if it was on)
        out: list[list[dict] | RampartsError] = []
        k, n = 0, len(events)
        while k < n:
            j = k
            while j < n and type(events[j]) is ev.Fill:
                j += 1
            if j - k >= _LAZY_RUN_MIN:
                out += self._lz_fill_run(events[k:j])
                k = j
                continue
            for e in events[k : max(j, k + 1)]:  # a price (a lazy tick), or too few fills to be worth a run
                try:
                    out.append(self.apply(e))
                except RampartsError as exc:
                    out.append(exc)
            k = max(j, k + 1)
        return out

    def _lz_fill_run(self: Engine, events: Sequence[ev.Fill]) -> list[list[dict] | RampartsError]:
        """Fills as one run under the lazy re-margin's sub-account policy (``TickSlackOps._lz_apply`` for a ``Fill``,
        for all of the run's sub-accounts at once)."""
        if not self._lz_was_on:  # (re)enabled: nothing known yet
            self._lz_was_on = True
            self._lz_flush()
            self._lz_invalidate_all()
        known = self._sub_by_str.get
        sides = [(known(e.buyer), known(e.seller)) for e in events]  # looked up once (at a million names, a cache miss each)
        named = {s for pair in sides for s in pair if s is not None}
        subs = sorted(named)
        if self._lz_dirty and subs:  # only a sub-account with a valid band other than ALWAYS can be behind
            arr = np.array(subs, dtype=np.int64)
            behind = arr[(self._lz_stamp[arr] >= self._lz_floor) & (self._lz_kind[arr] != ALWAYS)]
            if behind.size:
                self._lz_sync(behind)
        self._lz_mode = _SUBS
        try:
            out = self._run_body(events, sides)
        finally:
            self._lz_mode = 0
            stamp = self._lz_stamp
            for s in subs:  # their bands no longer hold: recomputed, all at once, before the next tick
                stamp[s] = 0
            self._lz_pending += subs
            # what Engine.trade tells the lazy re-margin (_lz_traded) of each side that holds the instrument now (the
            # kernel's trades do not go through it), for all of them at once
            instr_of = self._instr_by_symbol.get
            held_s: list[int] = []
            held_i: list[int] = []
            for e, pair in zip(events, sides, strict=True):
                i = instr_of(e.instrument)
                if i is not None:
                    for s in pair:
                        if s is not None:
                            held_s.append(s)
                            held_i.append(i)
            if held_s:
                b = self.book
                b.ensure_subs(len(self.subs))  # (the compiled look-up reads head[s] unchecked)
                ss, ii = np.array(held_s, dtype=np.int64), np.array(held_i, dtype=np.int64)
                slots = find_slots(ss, ii, b.head, b.next, b.instr)
                held = slots >= 0
                self._lz_traded_many(ss[held], ii[held], b.lots[slots[held]])
            if len(self._lz_pending) > 65_536:  # no tick for a long while: they are all still exact
                self._lz_settle()
        return out

    def run_ready(self: Engine, events: Sequence[object]) -> bool:
        """Whether :meth:`apply_run` takes ``events`` as one run (see there)."""
        if self.genesis is None or self.shard_link is not None:
            return False
        t = self.time_ns
        for e in events:
            if type(e) not in _RUN_KINDS or e.ts < t:
                return False
            t = e.ts
        return True

    def _run_body(self: Engine, events: Sequence[ev.Fill | ev.OraclePrice],
                  sides: list[tuple[int | None, int | None]] | None = None) -> list[list[dict] | RampartsError]:
        c = self._run_columns(events, sides)
        out: list[list[dict] | RampartsError] = [[] for _ in events]

        def emit(k: int, fx: dict | RampartsError) -> None:
            if isinstance(fx, RampartsError):
                out[k] = fx
            else:
                del fx["item"]
                out[k].append(fx)

        general = 0
        k = 0
        while k < c.n:
            k, stopped = self._batch_run(c, k, emit)
            if stopped:  # the kernel left event k to its handler
                general += 1
                self._band_live = False  # the handler changes the book behind the bands' back
                e = events[k]
                try:
                    out[k] = self._on_Fill(e) if c.kind[k] == 0 else self._on_OraclePrice(e)
                except RampartsError as exc:
                    out[k] = exc
                else:
                    self.time_ns = e.ts
                k += 1
        #: how the last run was applied (diagnostics, not state): events by each gear
        self.last_run_stats = {"events": c.n, "compiled": c.n - general, "general": general}
        applied = [k for k, o in enumerate(out) if not isinstance(o, RampartsError)]
        self.seq += len(applied)
        if applied:
            self.time_ns = events[applied[-1]].ts
        return out

    def _run_columns(self: Engine, events: Sequence[ev.Fill | ev.OraclePrice],
                     sides: list[tuple[int | None, int | None]] | None = None) -> _Columns:
        """The run as batch columns (``sides``: each fill's buyer and seller indices, already looked up). An event the
        kernel must not take (an unknown name, a value its handler refuses or rounds otherwise, a book price) is marked
        ineligible: its handler applies it or words the error."""
        n = len(events)
        instr_of = self._instr_by_symbol.get
        sub_of = self._sub_by_str.get
        instruments = self.instruments
        memo = self.__dict__.setdefault("_run_memo", {})  # (instrument, decimal, grid) → units: not state, a cache
        if len(memo) > 65_536:
            memo.clear()
        q = self.settlement
        kind = np.zeros(n, dtype=np.int8)
        gi = np.zeros(n, dtype=np.int64)
        bl = np.full(n, -1, dtype=np.int64)
        sl = np.full(n, -1, dtype=np.int64)
        lp = np.zeros(n, dtype=np.int64)
        size = np.zeros(n, dtype=np.int64)
        fee_b = np.zeros(n, dtype=np.int64)
        fee_s = np.zeros(n, dtype=np.int64)
        times = np.zeros(n, dtype=np.int64)
        general = np.zeros(n, dtype=np.bool_)
        rows: dict[int, int] = {}
        row = rows.setdefault
        for k, e in enumerate(events):
            times[k] = e.ts
            i = instr_of(e.instrument)
            if i is None:
                general[k] = True
                continue
            gi[k] = i
            try:
                if type(e) is ev.OraclePrice:
                    kind[k] = 1
                    if e.book_price is not None:
                        general[k] = True
                        continue
                    key = (i, e.price, False)
                    v = memo.get(key)
                    if v is None:
                        v = memo[key] = instruments[i].lot_price(e.price, "price", on_tick=False)
                    lp[k] = v
                    continue
                b, s = (sub_of(e.buyer), sub_of(e.seller)) if sides is None else sides[k]
                if b is None or s is None or b == s:
                    general[k] = True
                    continue
                key = (i, e.price, True)
                v = memo.get(key)
                if v is None:
                    v = memo[key] = instruments[i].lot_price(e.price, "price", on_tick=True)
                lp[k] = v
                key = (i, e.size, None)
                v = memo.get(key)
                if v is None:
                    v = memo[key] = instruments[i].lots(e.size, "size")
                if v <= 0:
                    general[k] = True
                    continue
                size[k] = v
                for fee, col in ((e.buyer_fee, fee_b), (e.seller_fee, fee_s)):
                    if fee:
                        v = q.units(fee, "fee")
                        if v < 0:
                            raise InvalidInput("fee", "negative")
                        col[k] = v
                bl[k] = row(b, len(rows))
                sl[k] = row(s, len(rows))
            except (RampartsError, ArithmeticError, TypeError, ValueError):  # its handler words the error
                general[k] = True
        sub_map = np.fromiter(rows, dtype=np.int64, count=len(rows))
        c = _Columns()
        c.e, c.n = None, n
        c.window = _WINDOW
        c.kind, c.gi, c.bl, c.sl, c.lp, c.size, c.fee_b, c.fee_s, c.times = kind, gi, bl, sl, lp, size, fee_b, fee_s, times
        c.ticks = None
        c.sub_map = sub_map
        c.row_iso = self.sub_isolated[sub_map]
        c.row_ok = ~self.is_portfolio[sub_map]
        if instruments:
            c.eligible, c.ok_fill, c.ok_price = self._batch_eligible(c)
            c.eligible &= ~general
        else:  # nothing listed: every event is its handler's (which refuses it)
            c.eligible, c.ok_fill, c.ok_price = np.zeros(n, dtype=np.bool_), np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.bool_)
        return c

    # ------------------------------------------------------------------ validation
    def _batch_columns(self: Engine, e: ev.TradeBatch) -> _Columns:
        """Check the batch's structure (nothing is changed when it is malformed)."""
        n = len(e.item_kind)
        for name in ("time", "instrument", "buyer", "seller", "price", "size", "buyer_fee", "seller_fee"):
            col = getattr(e, name)
            if col is not None and len(col) != n:
                raise InvalidInput(name, f"{len(col)} values for {n} items")
        gi_table = np.array([self.instrument(sym, "instruments").index for sym in e.instruments], dtype=np.int64)
        known = self._sub_by_str.get
        rows = [known(sid) for sid in e.subaccounts]
        if None in rows:  # an unknown or non-canonical name: the full look-up words the error
            rows = [self.sub_index(sid, "subaccounts") for sid in e.subaccounts]
        sub_map = np.array(rows, dtype=np.int64)
        c = _Columns()
        c.e, c.n = e, n
        c.eligible = c.ok_fill = c.ok_price = None
        c.window = _WINDOW
        c.kind = (np.frombuffer(e.item_kind.encode("ascii"), dtype=np.uint8) == ord("P")).astype(np.int8)
        local = np.asarray(e.instrument, dtype=np.int64)
        if int(local.max()) >= len(e.instruments):
            raise InvalidInput("instrument", f"an index beyond the {len(e.instruments)} instruments of the batch")
        c.gi = gi_table[local]
        c.times = np.asarray(e.time, dtype=np.int64)
        if int(c.times[0]) < self.time_ns:
            raise InvalidInput("time", f"item time {int(c.times[0])} is before the engine time {self.time_ns}")
        if n > 1 and bool((np.diff(c.times) < 0).any()):
            raise InvalidInput("time", "item times must not decrease")
        if int(c.times[-1]) > e.ts:
            raise InvalidInput("time", f"item time {int(c.times[-1])} is after the batch time {e.ts}")
        c.bl = np.asarray(e.buyer, dtype=np.int64)
        c.sl = np.asarray(e.seller, dtype=np.int64)
        c.ticks = np.asarray(e.price, dtype=np.int64)
        c.size = np.asarray(e.size, dtype=np.int64)
        zeros = np.zeros(n, dtype=np.int64)
        c.fee_b = zeros if e.buyer_fee is None else np.asarray(e.buyer_fee, dtype=np.int64)
        c.fee_s = zeros if e.seller_fee is None else np.asarray(e.seller_fee, dtype=np.int64)
        fill = c.kind == 0
        m = len(e.subaccounts)
        for name, col in (("buyer", c.bl), ("seller", c.sl)):
            if bool((fill & ((col < 0) | (col >= m))).any()):
                raise InvalidInput(name, f"a fill names a sub-account beyond the {m} of the batch")
            if bool((~fill & (col != -1)).any()):
                raise InvalidInput(name, "a price item names no sub-account (-1)")
        if bool((~fill & ((c.size != 0) | (c.fee_b != 0) | (c.fee_s != 0))).any()):
            raise InvalidInput("size", "a price item has no size and no fees (0)")
        # lot prices on the tick grid; out of range → 0, which the per-item handler refuses with its message
        units = np.array([self.instruments[int(i)].tick_units for i in gi_table.tolist()], dtype=np.int64)[local]
        ok = c.ticks <= MAX_NOTIONAL // units
        c.lp = np.where(ok, c.ticks * np.where(ok, units, 0), 0)
        c.sub_map = sub_map
        c.row_iso = self.sub_isolated[sub_map]
        c.row_ok = ~self.is_portfolio[sub_map]
        return c

    # ------------------------------------------------------------------ the general gear
    def _batch_item(self: Engine, c: _Columns, k: int, effects: list[dict]) -> None:
        """Apply item ``k`` through the ordinary handler, as the equivalent event."""
        self._band_live = False  # the handler changes the book behind the bands' back
        instr = self.instruments[int(c.gi[k])]
        t = int(c.times[k])
        price = Decimal(int(c.ticks[k])) * instr.tick_size
        try:
            if c.kind[k] == 0:
                q = self.settlement
                fill = ev.Fill(ts=t, instrument=instr.symbol, buyer=c.e.subaccounts[int(c.bl[k])], seller=c.e.subaccounts[int(c.sl[k])],
                               price=price, size=instr.size(int(c.size[k])), buyer_fee=q.amount(int(c.fee_b[k])),
                               seller_fee=q.amount(int(c.fee_s[k])))  # fmt: skip
                fx = self._on_Fill(fill)
            else:
                fx = self._on_OraclePrice(ev.OraclePrice(ts=t, instrument=instr.symbol, price=price))
        except RampartsError as exc:
            effects.append(_rejection(k, exc))
            return
        self.time_ns = t
        effects.extend({**f, "item": k} for f in fx)

    def _batch_refusal(self: Engine, c: _Columns, k: int, side: int, code: int, equity: int, im: int) -> Rejected:
        """The error ``Engine._check_fill_side`` raises for a fill side the kernel refused."""
        field = ("buyer", "seller")[side]
        sid = self.subs[int(c.sub_map[int((c.bl, c.sl)[side][k])])].id
        if code == 2:
            q = self.settlement
            return Rejected("initial_margin",
                            f"{field} {sid}: equity after the fill {q.amount(equity)} is below its initial margin {q.amount(im)}")  # fmt: skip
        return Rejected("insufficient_equity", f"{field} {sid}: the fee would leave negative equity")

    # ------------------------------------------------------------------ the compiled gear
    def _batch_tables(self: Engine) -> tuple[np.ndarray, ...]:
        """Every instrument's tier rows, padded (cached until a schedule changes)."""
        schedules = [i.schedule for i in self.instruments]
        cached = getattr(self, "_batch_tables_cache", None)
        # the same schedule objects (compared in C: this runs on every oracle tick)
        if cached is not None and len(cached[0]) == len(schedules) and all(map(operator.is_, cached[0], schedules)):
            return cached[1]
        width = max(len(s.tiers) for s in schedules) + 1
        n = len(schedules)
        floors = np.full((n, width), INT64_MAX, dtype=np.int64)
        cols = [np.zeros((n, width), dtype=np.int64) for _ in range(6)]
        for i, s in enumerate(schedules):
            for k, (tier, ci, cm) in enumerate(zip(s.tiers, s.im_cum_scaled, s.mm_cum_scaled, strict=True)):
                floors[i, k] = tier.notional_floor
                row = (tier.initial_rate_ppm, tier.maintenance_rate_ppm, *divmod(ci, PPM), *divmod(cm, PPM))
                cols[0][i, k], cols[1][i, k], cols[2][i, k], cols[3][i, k], cols[4][i, k], cols[5][i, k] = row
        tables = (floors, *cols)
        self._batch_tables_cache = (schedules, tables)
        return tables

    def _vm_keys(self: Engine) -> list[str]:
        """Per instrument, the ledger key of its variation margin account (``vm:<SYMBOL>``); listing only appends."""
        keys = self.__dict__.get("_vm_key_list")
        if keys is None or len(keys) != len(self.instruments):
            keys = self._vm_key_list = [f"vm:{x.symbol}" for x in self.instruments]
        return keys

    def _batch_eligible(self: Engine, c: _Columns) -> np.ndarray:
        """Per item, whether the kernel may take it at all (what no item of a batch can change)."""
        n_instr = len(self.instruments)
        ok_fill = np.zeros(n_instr, dtype=np.bool_)
        ok_price = np.zeros(n_instr, dtype=np.bool_)
        if self.collateral.correlation is None:
            for i in _distinct(c.gi):
                instr = self.instruments[i]
                if instr.is_option or instr.schedule.size_premium_ppm:
                    continue
                ok_fill[i] = True
                ok_price[i] = (type(self.mark_models[i]) is IndexMark and i not in self._options_by_index
                               and self.defences.breakers is None)  # fmt: skip
        fill = c.kind == 0
        rows_ok = c.row_ok[np.where(fill, c.bl, 0)] & c.row_ok[np.where(fill, c.sl, 0)] if c.row_ok.size else fill & False
        return np.where(fill, ok_fill[c.gi] & rows_ok, ok_price[c.gi]), ok_fill, ok_price

    def _batch_bands(self: Engine, priced: np.ndarray, ok_price: np.ndarray, h_ptr: np.ndarray, n_subs: int) -> tuple:
        """The band arguments of :func:`~ramparts.engine.batch_kernel.run_items` for a window whose price items are on
        the instruments ``priced``. Bands are kept from one window to the next (and from one batch to the next) while
        nothing but the kernel has touched the book (``_band_live``: any other event, any item of the general gear
        and a relayout of the book end it); otherwise they are taken up, under a new epoch, when an instrument with
        at least :attr:`batch_band_min_holders` holders is priced in the window and its priced instruments' holders are
        re-margined :attr:`batch_band_min_repeats` times each on average; not at all otherwise (every price then
        re-margins every holder). Speed only: the results are the same either way."""
        if priced.size:
            counts = np.bincount(priced, minlength=len(h_ptr) - 1) * ok_price
            holders = np.diff(h_ptr) * (counts > 0)
            # each holder is synced once a window besides its exact re-margins, so a window pays when its instruments
            # are priced several times each (the 10,000-account benchmark's stream: 10 prices each; 100,000: 2)
            if int(holders.max()) < self.batch_band_min_holders or int(counts @ holders) < self.batch_band_min_repeats * int(holders.sum()):
                self._band_live = False
                return _OFF
        elif not self._band_live:  # (fills alone keep live bands: they bring their banded sides along)
            return _OFF
        if not self._band_live:
            self._band_epoch += 1
        b = self.book
        scratch = self._band_scratch
        if scratch[0].shape[0] < b.lots.shape[0] or scratch[2].shape[0] < n_subs:  # (not state: kept while live)
            slots, subs = max(b.lots.shape[0], 1024), max(2 * n_subs, 1024)
            grown = (np.empty(slots, dtype=np.int64), np.empty(slots, dtype=np.int64), np.zeros(subs, dtype=np.int64),
                     np.zeros(subs, dtype=np.int8))  # fmt: skip
            for old, new in zip(scratch, grown, strict=True):
                new[: old.shape[0]] = old
            scratch = self._band_scratch = grown
        lazyable, ladder = self._band_tables()
        marks = np.fromiter((m.mark for m in self.markets), dtype=np.int64, count=len(self.markets))
        band_lo, band_hi, bep, bkind = scratch
        return (True, self._band_epoch, bep, bkind, band_lo, band_hi, marks, lazyable, ladder, self.is_portfolio,
                float(self.lazy_min_band_ppm) / 1e6)  # fmt: skip

    def _batch_run(self: Engine, c: _Columns, start: int, emit) -> tuple[int, bool]:
        """Prepare, run the kernel from ``start``, finish. Returns the first item it did not apply,
        and whether it stopped there (the item is the ordinary handler's) or ran to its window's end.
        ``emit(k, x)`` receives, in item order, each margin call (an effect with its ``item``) and each
        refusal (the handler's own error) of item ``k``."""
        if c.eligible is None:
            c.eligible, c.ok_fill, c.ok_price = self._batch_eligible(c)
        if not c.eligible[start]:
            return start, True
        stop = start + int(np.argmin(c.eligible[start:])) if not c.eligible[start:].all() else c.n
        stop = min(stop, start + min(c.window, _WINDOW))
        b = self.book
        kind, gi = c.kind[start:stop], c.gi[start:stop]
        fill = kind == 0
        n_instr = len(self.instruments)
        ok_fill, ok_price = c.ok_fill, c.ok_price
        touched = _distinct(gi)
        # --- open every slot the fills could need (empty; closed again below if unused)
        opened = np.zeros(0, dtype=np.int64)
        if fill.any():
            b.ensure_subs(len(self.subs))
            gf = gi[fill]
            ss = np.concatenate([c.sub_map[c.bl[start:stop][fill]], c.sub_map[c.sl[start:stop][fill]]])
            ii = np.concatenate([gf, gf])
            miss = find_slots(ss, ii, b.head, b.next, b.instr) < 0
            if miss.any():  # each new pair once, by (sub-account, instrument)
                pairs = _distinct_array(ss[miss] * n_instr + ii[miss])
                opened = b.open_many(pairs // n_instr, pairs % n_instr, known_new=True)
        # --- the slots of each priced instrument, in slot order (the flat and free ones are skipped by the kernel)
        wanted = np.zeros(n_instr, dtype=np.bool_)
        wanted[gi[~fill]] = True
        wanted &= ok_price
        if wanted.any():
            h_ptr, h_slots = group_slots(b.instr[: b._next], wanted, n_instr)
        else:
            h_ptr, h_slots = np.zeros(n_instr + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if self.n_portfolio and h_slots.size:
            # a portfolio sub-account's requirement is its scenario margin (Engine._portfolio), which the kernel does
            # not compute: a price on an instrument one holds is its handler's (as Engine._remargin leaves such a
            # tick to the general pass). The kernel's own fills never open one (row_ok), so this holds for the window.
            pm = self.is_portfolio[b.sub[h_slots]]
            if pm.any():
                ok_price = ok_price.copy()
                ok_price[np.searchsorted(h_ptr, np.flatnonzero(pm), side="right") - 1] = False
        # --- markets: the kernel reads an instrument's entries only for its own items, so only the run's
        # instruments are filled in (a run of a few events over a venue of hundreds of instruments would
        # otherwise read every market, ~0.1 ms a run)
        mk = self.markets
        instrs = self.instruments
        i_mark, i_index, i_last, i_age, i_expiry, i_spot = (np.zeros(n_instr, dtype=np.int64) for _ in range(6))
        i_settled = np.zeros(n_instr, dtype=np.bool_)
        i_blocked = np.zeros(n_instr, dtype=np.bool_)
        blocked = self.defences.blocked
        for i in touched:
            m_, ins = mk[i], instrs[i]
            i_mark[i], i_index[i], i_last[i], i_settled[i] = m_.mark, m_.index_price, m_.last_oracle_ns, m_.settled
            i_age[i] = ins.oracle_max_age_ns or 0
            i_expiry[i] = INT64_MAX if ins.expiry_ns is None else ins.expiry_ns
            i_spot[i] = ins.spot_lot
            i_blocked[i] = blocked(ins.symbol, "risk_increasing_fill") is not None
        i_priced = np.zeros(n_instr, dtype=np.bool_)
        floors, imr, mmr, imq, imr_rem, mmq, mmr_rem = self._batch_tables()
        # --- the venue's own ledger accounts, and room for effects
        led = self.ledger
        q = self.settlement.symbol
        # a bound on |vm:<SYMBOL>| of every market the run can touch (its instruments: no other changes)
        vm_keys = self._vm_keys()
        vm_abs = max((abs(led.balance(q, vm_keys[i])) for i in touched), default=0)
        fees_bal = np.array([led.balance(q, "fees")], dtype=np.int64)
        vm_delta = np.zeros(n_instr, dtype=np.int64)
        fees_delta = np.zeros(1, dtype=np.int64)
        room = int(h_slots.size) + 16
        fx_item, fx_sub, fx_equity, fx_mm = (np.zeros(room, dtype=np.int64) for _ in range(4))
        ins_sub = np.zeros(2 * room, dtype=np.int64)
        ins_flag = np.zeros(2 * room, dtype=np.int8)
        n_subs = len(self.subs)
        insolvent = self.insolvent.mask(n_subs)  # flipped by the kernel; each flip is an ins_* row applied to the set below
        traded = np.zeros(2 * (stop - start), dtype=np.int64)
        refusals = np.zeros((stop - start, 5), dtype=np.int64)
        counters = np.array([0, 0, -1, vm_abs, 0, 0, 0], dtype=np.int64)
        bands = self._batch_bands(gi[~fill], ok_price, h_ptr, n_subs)
        end = run_items(
            start, c.kind[:stop], c.gi, c.bl, c.sl, c.lp, c.size, c.fee_b, c.fee_s, c.times, c.sub_map,
            ok_fill, ok_price, i_mark, i_index, i_last, i_age, i_expiry, i_settled, i_spot, i_blocked,
            floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, h_ptr, h_slots, i_priced,
            c.row_iso, c.row_ok, self.is_system, led.sub_cash, self.sub_value, self.sub_cost, self.sub_coll, self.sub_im, self.sub_mm,
            self.margin_called, insolvent, b.head, b.next, b.sub, b.instr, b.lots, b.cost, b.entry, b.value, b.im, b.mm,
            fees_bal, vm_delta, fees_delta, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, traded, refusals, counters, *bands,
        )  # fmt: skip
        self._band_live = bands[0]  # the kernel left its bands true of the book (and every cache exact)
        if bands[0]:  # diagnostics, not state: windows run with bands, holders their prices skipped
            stats = self.__dict__.setdefault("batch_band_stats", {"windows": 0, "skipped": 0})
            stats["windows"] += 1
            stats["skipped"] += int(counters[6])
        # --- finish: what the item-by-item handlers would have left behind
        moved = np.flatnonzero(vm_delta)
        led._add_many(q, [vm_keys[i] for i in moved.tolist()], vm_delta[moved].tolist())
        if fees_delta[0]:
            led._add(q, "fees", int(fees_delta[0]))
        for i in np.flatnonzero(i_priced).tolist():
            m_ = mk[i]
            m_.index_price, m_.mark, m_.last_oracle_ns = int(i_index[i]), int(i_mark[i]), int(i_last[i])
            m_.mark_state = MarkState(m_.mark, 0, m_.last_oracle_ns)
        touched_slots = _distinct_array(np.concatenate([traded[: counters[4]], opened]))
        for slot in touched_slots[b.lots[touched_slots] == 0].tolist():  # left flat (or never traded): closed
            b.close(slot)
        subs = self.subs
        calls = int(counters[0])
        made: list[tuple[int, int, dict | RampartsError]] = []
        for r in range(calls):
            s = int(fx_sub[r])
            made.append((int(fx_item[r]), s, {"kind": "MarginCall", "subaccount": subs.name(s), "equity": int(fx_equity[r]),
                                              "maintenance": int(fx_mm[r]), "item": int(fx_item[r])}))  # fmt: skip
        for k_, side, code, equity, im in refusals[: counters[5]].tolist():
            made.append((k_, 0, self._batch_refusal(c, k_, side, code, equity, im)))
        made.sort(key=lambda x: (x[0], x[1]))  # by item, then sub-account, as the handlers order them
        for k_, _, fx in made:
            emit(k_, fx)
        for r in range(int(counters[1])):
            if ins_flag[r]:
                self.insolvent.add(int(ins_sub[r]))
            else:
                self.insolvent.discard(int(ins_sub[r]))
        if counters[2] >= 0:
            self.time_ns = int(counters[2])
        done = int(end) - start
        c.window = max(_MIN_WINDOW, 2 * done) if int(end) < stop else 2 * c.window
        return int(end), int(end) < stop


def _distinct_array(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` of a 1-D int64 array (its distinct values, ascending): through a set for a short run, else
    one sort and a mask of the changes. numpy 2's ``np.unique`` hashes first: ~7 µs a call however short the array,
    ~140-180 µs for the ~1,800 slots a 1,000-item batch trades, against ~40 µs sorted."""
    if a.size <= 256:
        return np.array(sorted(set(a.tolist())), dtype=np.int64)
    s = np.sort(a)
    keep = np.empty(s.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def _distinct(a: np.ndarray) -> list[int]:
    """:func:`_distinct_array` as a list."""
    return sorted(set(a.tolist())) if a.size <= 256 else _distinct_array(a).tolist()


__all__ = ["BatchOps"]
