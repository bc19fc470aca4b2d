"""The compiled fast path of batch mode: fills and index prices applied in one numba loop.

:func:`run_items` applies the items of a :class:`~ramparts.engine.events.TradeBatch` from
``start`` on, in order, with exactly the arithmetic of the engine's ``Fill`` and ``OraclePrice``
handlers, for as long as each item is one it can prove it handles identically: an *accepted* fill
on ordinary (cross or isolated, non-portfolio) sub-accounts of a tiered instrument, or an index
price of such an instrument under the index mark model. It stops, **before touching anything of
that item**, at the first item that would be refused, that could overflow a balance, or that needs
a mechanism it does not have (options, portfolio margin, correlation add-ons, circuit breakers,
other mark models), and returns its number; the caller applies that item through the ordinary
handler (which raises the precise error, or does the rarer work) and calls it again after it.

What the kernel leaves for the caller, which :mod:`ramparts.engine.batch_ops` does at the end of
each run: the Python-side ledger accounts (``vm:<SYMBOL>`` and ``fees``, accumulated here as
deltas), the closing of positions left flat (their slots stay allocated, all zero, until then),
the markets' mark-model states, the ``MarginCall`` effects (recorded here as rows) and the
insolvency set (recorded as changes).

:func:`reprice_holders` (shared with ``Engine._remargin``) re-prices a large holder set on every
thread (:data:`PARALLEL_HOLDERS`), then writes its rows serially in holder order, so that effects
and state do not depend on the number of threads.

**Bands.** A price need not re-margin a holder that provably keeps its side of every margin condition:
with ``use_bands`` each holder re-margined at a price gets the band of
:func:`ramparts.engine.slack_index.band_one` (per position a range of marks within which, all marks
together, neither a margin call nor an insolvency change can happen), and a later price inside the
band of the priced instrument skips it, leaving its caches behind (:func:`_price_banded`). A skipped
holder is brought up to date whole (:func:`sync_sub`) before anything reads it: when a price leaves its
band, when it trades, and at the end of every run (:func:`sync_holders`), so the book the caller finds
is exact. The caller (:meth:`~ramparts.engine.batch_ops.BatchOps._batch_bands`) keeps the bands from
one run to the next while nothing else touches the book, and decides when they pay.

Integer semantics: numba's ``//`` on signed ints is Python's floor division, and every product
is guarded against int64 overflow before it is formed (the Python engine uses unbounded ints;
where a bound could be reached, the kernel stops and leaves the item to the Python handler).
"""

from __future__ import annotations

import types

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

from ramparts.compiled import njit
from ramparts.engine.kernels import split_req
from ramparts.engine.slack_index import ABOVE, BELOW, NEVER, SOLVENT, band_one
from ramparts.fixedpoint import MAX_BALANCE, MAX_NOTIONAL

PPM = 1_000_000
INT64_MAX = np.iinfo(np.int64).max


@njit(cache=True, inline="always")
def requirement(i, lots, mark, floors, imr, mmr, imq, imr_rem, mmq, mmr_rem):
    """(initial, maintenance) of ``lots`` of instrument ``i`` at ``mark``: the tiered schedule's
    ``⌈(n·rate − C)/10^6⌉`` exactly (:func:`ramparts.engine.kernels.split_req`, so that nothing overflows for
    any ``n ≤ MAX_NOTIONAL``), as :meth:`TieredMarginModel.position_requirements` computes it."""
    if lots == 0:
        return 0, 0
    n = (lots if lots > 0 else -lots) * mark
    k = 0
    while floors[i, k + 1] <= n:
        k += 1
    return split_req(n, imr[i, k], imq[i, k], imr_rem[i, k]), split_req(n, mmr[i, k], mmq[i, k], mmr_rem[i, k])


def call_transition(equity, maintenance, system, called, insolvent):
    """``Engine.margin_calls`` for one sub-account, as a transition of its two flags:
    ``(flags, called, insolvent)`` after it, ``flags`` the bits of what changed (1: newly
    margin-called, ``E < M``; 2: became insolvent, ``E < 0``; 4: became solvent again, ``E ≥ 0``).
    A system sub-account is never called nor made insolvent (but leaves the insolvent set once
    ``E ≥ 0``, as the engine's set difference does). The one home of this rule for the compiled
    passes (:func:`_reprice_flags`, :func:`ramparts.engine.tick_slack.lazy_tick`);
    ``call_transition.py_func`` is its plain-Python twin (``tests/test_call_transition.py`` checks
    both against ``Engine.margin_calls``)."""
    f = 0
    if not system:
        if equity < maintenance and not called:
            called = True
            f |= 1
        if equity < 0 and not insolvent:
            insolvent = True
            f |= 2
    if equity >= 0 and insolvent:
        insolvent = False
        f |= 4
    return f, called, insolvent


call_transition = njit(cache=True, inline="always")(call_transition)


@njit(cache=True, inline="always")
def store_requirements(s, p, value, im, mm, sub_value, sub_im, sub_mm, b_value, b_im, b_mm):
    """Put a position's new caches (value, initial, maintenance) in slot ``p`` and fold their change into
    sub-account ``s``'s sums: the one home of that step for the compiled passes (the trade of a side, the lazy
    re-margin's cache sync; :func:`reprice_holders` keeps the new sums in locals for its margin-call decision)."""
    sub_value[s] += value - b_value[p]
    sub_im[s] += im - b_im[p]
    sub_mm[s] += mm - b_mm[p]
    b_value[p] = value
    b_im[p] = im
    b_mm[p] = mm


@njit(cache=True, inline="always")
def sync_sub(s, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, marks, lazyable,
             floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm):  # fmt: skip
    """Bring sub-account ``s``'s caches up to date: every slot of an instrument with ``lazyable`` set whose
    ``value ≠ lots × marks[i]`` is re-priced and the change folded into its sums. A cache is a function of
    lots, mark and schedule, so a slot is behind exactly when that test says so: the one home of the catch-up
    of the lazy re-margin (``tick_slack.sync_subs``) and of a batch's bands (:func:`run_items`)."""
    p = head[s]
    while p >= 0:
        i = b_instr[p]
        if lazyable[i]:
            lots = b_lots[p]
            value = lots * marks[i]
            if value != b_value[p]:
                im, mm = requirement(i, lots, marks[i], floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)
                store_requirements(s, p, value, im, mm, sub_value, sub_im, sub_mm, b_value, b_im, b_mm)
        p = nxt[p]


@njit(cache=True, inline="always")
def _abs(x):
    return x if x >= 0 else -x


@njit(cache=True)
def _find_slot(s, i, head, nxt, b_instr):
    """The slot of sub-account ``s`` in instrument ``i`` (−1: none), along its chain."""
    p = head[s]
    while p >= 0:
        if b_instr[p] == i:
            return p
        p = nxt[p]
    return -1


@njit(cache=True)
def group_slots(held, wanted, n_instr):
    """CSR of the slots ``held`` (instrument per slot) of the ``wanted`` instruments, in slot order."""
    ptr = np.zeros(n_instr + 1, dtype=np.int64)
    for p in range(held.shape[0]):
        i = held[p]
        if wanted[i]:
            ptr[i + 1] += 1
    for i in range(n_instr):
        ptr[i + 1] += ptr[i]
    out = np.empty(ptr[n_instr], dtype=np.int64)
    fill = ptr[:-1].copy()
    for p in range(held.shape[0]):
        i = held[p]
        if wanted[i]:
            out[fill[i]] = p
            fill[i] += 1
    return ptr, out


@njit(cache=True)
def find_slots(subs, instrs, head, nxt, b_instr):
    """The position slot of each (sub-account, instrument) pair (−1: none yet)."""
    out = np.empty(subs.shape[0], dtype=np.int64)
    for k in range(subs.shape[0]):
        out[k] = _find_slot(subs[k], instrs[k], head, nxt, b_instr)
    return out


@njit(cache=True)
def _side_ok(s, slot, i, delta, price, fee, mark, spot, iso_j, system_j, blocked,
             sub_cash, sub_value, sub_cost, sub_coll, sub_im, b_lots, b_im,
             floors, imr, mmr, imq, imr_rem, mmq, mmr_rem):  # fmt: skip
    """The checks of ``Engine._check_fill_side`` for one side: ``(code, equity_after, im_after)``
    with code 0 (passes), 1 (the handler refuses it some other way, or it is not the kernel's),
    2 (refused: ``initial_margin``) or 3 (refused: ``insufficient_equity``)."""
    if iso_j >= 0 and iso_j != i:
        return 1, 0, 0
    old = b_lots[slot]
    new = old + delta
    px = max(price, mark, spot)
    if _abs(new) > MAX_NOTIONAL // px:  # |new| × px > MAX_NOTIONAL, without forming the product
        return 1, 0, 0
    if system_j:
        return 0, 0, 0
    equity_after = sub_cash[s] + sub_value[s] - sub_cost[s] + sub_coll[s] + delta * (mark - price) - fee
    increasing = _abs(new) > _abs(old) or (new != 0 and (new > 0) != (old > 0))
    if increasing:
        if blocked:
            return 1, 0, 0
        im_new, _ = requirement(i, new, mark, floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)
        im_after = sub_im[s] - b_im[slot] + im_new
        if equity_after < im_after:
            return 2, equity_after, im_after
    elif equity_after < 0:
        return 3, equity_after, 0
    return 0, 0, 0


@njit(cache=True)
def _side_bound(s, slot, delta, price, mark, sub_cash_s, fee, head, nxt, b_lots, b_value, b_cost, b_entry):
    """A bound on every balance the side's postings can reach, or −1 where an int64 product of
    ``Engine.trade`` could overflow (the item is then left to the Python handler)."""
    old = b_lots[slot]
    new = old + delta
    quote = delta * price  # |delta| ≤ MAX_NOTIONAL, price ≤ MAX_NOTIONAL: checked by the caller
    entry = b_entry[slot]
    if old != 0 and (old > 0) != (delta > 0):
        if new == 0 or (new > 0) == (old > 0):
            if _abs(new) != 0 and _abs(entry) > INT64_MAX // _abs(new):
                return -1
        elif _abs(new) != 0 and _abs(quote) > INT64_MAX // _abs(new):
            return -1
    total = _abs(sub_cash_s) + fee
    p = head[s]
    while p >= 0:
        if p == slot:
            total += _abs(new * mark) + _abs(b_cost[p]) + _abs(quote)
        else:
            total += _abs(b_value[p]) + _abs(b_cost[p])
        if total > MAX_BALANCE:
            return -1
        p = nxt[p]
    return total


@njit(cache=True)
def _trade_side(s, slot, i, delta, price, fee, mark,
                sub_cash, sub_value, sub_cost, sub_im, sub_mm, head, nxt,
                b_instr, b_lots, b_cost, b_entry, b_value, b_im, b_mm, vm_delta,
                floors, imr, mmr, imq, imr_rem, mmq, mmr_rem):  # fmt: skip
    """``Engine.trade`` + the fee + ``Engine.realise`` of one side (flat slots stay allocated)."""
    quote = delta * price
    old = b_lots[slot]
    new = old + delta
    entry = b_entry[slot]
    if old == 0 or (old > 0) == (delta > 0):
        entry += quote
    elif new == 0 or (new > 0) == (old > 0):
        scaled = _abs(entry) * _abs(new) // _abs(old)
        entry = scaled if entry >= 0 else -scaled
    else:
        entry = quote * new // delta
    b_lots[slot] = new
    b_cost[slot] += quote
    b_entry[slot] = entry
    sub_cost[s] += quote
    value = new * mark
    im, mm = requirement(i, new, mark, floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)
    store_requirements(s, slot, value, im, mm, sub_value, sub_im, sub_mm, b_value, b_im, b_mm)
    sub_cash[s] -= fee
    p = head[s]
    while p >= 0:  # realise variation margin of every position of the side
        pnl = b_value[p] - b_cost[p]
        if pnl != 0:
            sub_cash[s] += pnl
            vm_delta[b_instr[p]] -= pnl
            b_cost[p] += pnl
            sub_cost[s] += pnl
        p = nxt[p]


#: Holder sets at least this large are re-priced on every thread (:func:`reprice_holders`): one
#: holder costs ~20–90 ns (memory-bound on a large book), a parallel launch a few µs. Numba's
#: threading layer must be thread-safe (``omp`` or ``tbb``, not ``workqueue``) if several threads
#: re-price such books at once.
PARALLEL_HOLDERS = 16_384
#: Books of at least this many sub-accounts are re-priced with software prefetching: their arrays
#: (about 100 bytes a sub-account over a dozen arrays) no longer fit in cache, and each holder
#: touches a dozen lines far apart, so the pass waits on memory. Prefetching the slots
#: :data:`PREFETCH_SLOTS` holders ahead and the sub-accounts :data:`PREFETCH_SUBS` ahead keeps
#: more of those misses in flight (a 1M-account book, 17,577 holders: 2–2.5 ms -> 0.4–0.6 ms
#: on 2 threads). Smaller books are cache-resident and skip it.
PREFETCH_BOOK = 131_072
PREFETCH_SLOTS = 64
PREFETCH_SUBS = 32


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint that ``arr[idx]`` will be read soon (LLVM's ``llvm.prefetch``: read, keep in all
    levels, data cache). No bounds check: callers pass indices they will read anyway."""
    sig = numba.types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], idxty, numba.types.intp)  # strided arrays need an intp index
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index], wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        name = "llvm.prefetch.p0" if getattr(i8p, "is_opaque", False) else "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


def _reprice_flags(i, price, lo, hi, h_slots, calls, b_sub, b_lots, b_value, b_im, b_mm, system,
                   sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                   floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, far, flags, out_equity, out_mm):  # fmt: skip
    """``Engine._remargin`` of the slots ``h_slots[lo:hi]`` of instrument ``i`` at ``price`` and,
    with ``calls``, its ``margin_calls``, leaving per holder ``j`` (holder order) the ``flags[j]``
    (1 margin call, 2 became insolvent, 4 became solvent; 0 for a flat slot, skipped) and the
    equity and maintenance margin. Compiled twice (:func:`_variant`): serial, and parallel over
    the holders, whose slots and sub-accounts are distinct (one slot per sub-account and
    instrument), so no two threads write the same entry. With ``far`` (a book too big for the
    cache) the slots and sub-accounts of holders further on are prefetched: hints only, the results
    are the same either way."""
    n = hi - lo
    for j in numba.prange(n):
        if far:  # hints only: nothing below depends on them
            ja = j + PREFETCH_SLOTS
            if ja < n:
                pa = h_slots[lo + ja]
                _prefetch(b_sub, pa)
                _prefetch(b_lots, pa)
                _prefetch(b_value, pa)
                _prefetch(b_im, pa)
                _prefetch(b_mm, pa)
            jb = j + PREFETCH_SUBS
            if jb < n:
                sb = b_sub[h_slots[lo + jb]]
                _prefetch(sub_value, sb)
                _prefetch(sub_im, sb)
                _prefetch(sub_mm, sb)
                if calls:
                    _prefetch(sub_cash, sb)
                    _prefetch(sub_cost, sb)
                    _prefetch(sub_coll, sb)
                    _prefetch(system, sb)
                    _prefetch(margin_called, sb)
                    _prefetch(insolvent, sb)
        flags[j] = 0
        p = h_slots[lo + j]
        lots = b_lots[p]
        if lots == 0:  # a slot left flat by this batch (or a free one): not a holder
            continue
        s = b_sub[p]
        value = lots * price
        im, mm = requirement(i, lots, price, floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)
        sv = sub_value[s] + value - b_value[p]
        smm = sub_mm[s] + mm - b_mm[p]
        sub_value[s] = sv
        sub_im[s] += im - b_im[p]
        sub_mm[s] = smm
        b_value[p] = value
        b_im[p] = im
        b_mm[p] = mm
        if not calls:
            continue
        # a sub-account holds one slot per instrument, so its equity is final here
        equity = sub_cash[s] + sv - sub_cost[s] + sub_coll[s]
        f, margin_called[s], insolvent[s] = call_transition(equity, smm, system[s], margin_called[s], insolvent[s])
        flags[j] = f
        out_equity[j] = equity
        out_mm[j] = smm


def _variant(fn, name: str):
    """A copy of ``fn`` under another name, so that its compiled variants keep separate caches."""
    g = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    g.__doc__ = fn.__doc__
    return g


_reprice_serial = njit(cache=True)(_variant(_reprice_flags, "_reprice_serial"))
_reprice_parallel = njit(cache=True, parallel=True)(_variant(_reprice_flags, "_reprice_parallel"))


@njit(cache=True, parallel=True)
def _max_abs_lots_parallel(h_slots, lo, hi, b_lots):
    biggest = 0
    for q in numba.prange(lo, hi):
        biggest = max(biggest, _abs(b_lots[h_slots[q]]))
    return biggest


@njit(cache=True)
def max_abs_lots(h_slots, lo, hi, b_lots):
    """``max |b_lots[h_slots[lo:hi]]|`` (0 if empty): the overflow guard before a new price."""
    if hi - lo >= PARALLEL_HOLDERS:
        return _max_abs_lots_parallel(h_slots, lo, hi, b_lots)
    biggest = 0
    for q in range(lo, hi):
        a = _abs(b_lots[h_slots[q]])
        if a > biggest:
            biggest = a
    return biggest


@njit(cache=True)
def reprice_holders(k, i, price, lo, hi, h_slots, calls, b_sub, b_lots, b_value, b_im, b_mm, system,
                    sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                    floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, counters):  # fmt: skip
    """``Engine._remargin`` of the slots ``h_slots[lo:hi]`` of instrument ``i`` at mark ``price``,
    and with ``calls`` its ``margin_calls``: newly breached sub-accounts become rows of
    ``fx_*`` (item ``k``) and insolvency changes rows of ``ins_*``, from ``counters[0]`` and
    ``counters[1]`` on (room for ``hi − lo`` rows each is the caller's to ensure). Flat slots are
    skipped; each sub-account may appear once (one slot per instrument).

    The slots are re-priced by :func:`_reprice_flags`, on every thread from
    :data:`PARALLEL_HOLDERS` holders on, and the rows then written in holder order, so that they do
    not depend on the number of threads."""
    n = hi - lo
    far = sub_cash.shape[0] >= PREFETCH_BOOK
    flags = np.empty(n, dtype=np.int8)
    out_equity = np.empty(n, dtype=np.int64)
    out_mm = np.empty(n, dtype=np.int64)
    if n >= PARALLEL_HOLDERS:
        _reprice_parallel(i, price, lo, hi, h_slots, calls, b_sub, b_lots, b_value, b_im, b_mm, system,
                          sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                          floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, far, flags, out_equity, out_mm)  # fmt: skip
    else:
        _reprice_serial(i, price, lo, hi, h_slots, calls, b_sub, b_lots, b_value, b_im, b_mm, system,
                        sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                        floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, far, flags, out_equity, out_mm)  # fmt: skip
    nf = counters[0]
    ni = counters[1]
    for j in range(n):  # the rows, in holder order
        f = flags[j]
        if f == 0:
            continue
        s = b_sub[h_slots[lo + j]]
        if f & 1:
            fx_item[nf] = k
            fx_sub[nf] = s
            fx_equity[nf] = out_equity[j]
            fx_mm[nf] = out_mm[j]
            nf += 1
        if f & 2:
            ins_sub[ni] = s
            ins_flag[ni] = 1
            ni += 1
        if f & 4:
            ins_sub[ni] = s
            ins_flag[ni] = 0
            ni += 1
    counters[0] = nf
    counters[1] = ni


@njit(cache=True)
def _price_banded(k, i, price, lo, hi, h_slots, epoch, bep, bkind, band_lo, band_hi, bmarks, lazyable, ladder, portfolio,
                  min_rel, head, nxt, b_sub, b_instr, b_lots, b_value, b_im, b_mm, system,
                  sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                  floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, counters):  # fmt: skip
    """An index price ``price`` of instrument ``i`` (``bmarks[i]`` already set to it) under the batch's bands:
    what :func:`reprice_holders` with margin calls does, holder by holder in the same order, except that a holder
    whose sub-account has a band of the current epoch (``bep[s] == epoch``) that ``price`` stays inside is skipped
    (its caches left behind: the band proves no margin call or insolvency change is missed). Every other holder
    is brought up to date whole (:func:`sync_sub`, its slots skipped earlier included), its flags decided on its
    exact equity, and banded anew (:func:`ramparts.engine.slack_index.band_one`). Returns whether some holder
    was skipped (its caches are then behind until :func:`sync_holders`)."""
    nf = counters[0]
    ni = counters[1]
    behind = False
    for j in range(lo, hi):
        p = h_slots[j]
        if b_lots[p] == 0:  # a slot left flat by this batch (or a free one): not a holder
            continue
        s = b_sub[p]
        banded = bep[s] == epoch
        if banded:
            kd = bkind[s]
            if kd == NEVER or ((kd == ABOVE or kd == SOLVENT or kd == BELOW) and band_lo[p] <= price and price <= band_hi[p]):
                behind = True
                counters[6] += 1
                continue
        sync_sub(s, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, bmarks, lazyable,
                 floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm)  # fmt: skip
        equity = sub_cash[s] + sub_value[s] - sub_cost[s] + sub_coll[s]
        smm = sub_mm[s]
        f, margin_called[s], insolvent[s] = call_transition(equity, smm, system[s], margin_called[s], insolvent[s])
        if f & 1:
            fx_item[nf] = k
            fx_sub[nf] = s
            fx_equity[nf] = equity
            fx_mm[nf] = smm
            nf += 1
        if f & 2:
            ins_sub[ni] = s
            ins_flag[ni] = 1
            ni += 1
        if f & 4:
            ins_sub[ni] = s
            ins_flag[ni] = 0
            ni += 1
        bkind[s] = band_one(s, head, nxt, b_instr, b_lots, band_lo, band_hi, bmarks, lazyable, ladder, sub_cash, sub_value,
                            sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent, min_rel)  # fmt: skip
        bep[s] = epoch
    counters[0] = nf
    counters[1] = ni
    return behind


@njit(cache=True)
def sync_holders(mark, lo, hi, h_slots, i, b_sub, b_lots, b_value, b_im, b_mm, sub_value, sub_im, sub_mm,
                 floors, imr, mmr, imq, imr_rem, mmq, mmr_rem):  # fmt: skip
    """Bring the caches of the slots ``h_slots[lo:hi]`` of instrument ``i`` up to date at ``mark``
    (those whose ``value ≠ lots × mark``), without margin calls."""
    for j in range(lo, hi):
        p = h_slots[j]
        lots = b_lots[p]
        value = lots * mark
        if value != b_value[p]:
            im, mm = requirement(i, lots, mark, floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)
            store_requirements(b_sub[p], p, value, im, mm, sub_value, sub_im, sub_mm, b_value, b_im, b_mm)


@njit(cache=True)
def run_items(start, kind, gi, bl, sl, lp, size, fee_b, fee_s, times, sub_map,
              ok_fill, ok_price, i_mark, i_index, i_last_oracle, i_max_age, i_expiry, i_settled, i_spot, i_blocked,
              floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, h_ptr, h_slots, i_priced,
              row_iso, row_ok, system, sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
              head, nxt, b_sub, b_instr, b_lots, b_cost, b_entry, b_value, b_im, b_mm,
              fees_bal, vm_delta, fees_delta, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, traded, refusals, counters,
              use_bands, epoch, bep, bkind, band_lo, band_hi, bmarks, lazyable, ladder, portfolio, min_rel):  # fmt: skip
    """Apply items ``start, start+1, …`` (see the module docstring); returns the first item not applied.

    Items: ``kind`` (0 fill, 1 index price), ``gi`` (engine instrument index), ``bl`` / ``sl``
    (the buyer's and seller's rows in the batch's sub-account table, whose engine indices are
    ``sub_map``), ``lp`` (lot price; ≤ 0 when out of range), ``size`` (lots), fees and times.
    ``row_iso`` / ``row_ok`` are per row of that table: the instrument of an isolated sub-account
    (−1 for cross) and whether the fast path may trade it (not a portfolio sub-account).
    ``head`` / ``nxt`` chain the position slots of each sub-account; ``h_ptr`` /
    ``h_slots`` the slots that may hold each instrument (flat ones are skipped), in any order.
    ``counters`` = [margin-call rows, insolvency changes, time of the last applied item, a bound
    on ``|vm:<SYMBOL>|`` of every market, slots traded (``traded``, two a fill), fills refused
    (``refusals`` rows: item, side 0 buyer / 1 seller, code 2 initial margin / 3 insufficient
    equity, equity after, initial margin after), holders a band let a price skip]; the output arrays' lengths are their capacities.

    With ``use_bands`` the window's prices re-margin lazily (:func:`_price_banded`): a sub-account re-margined at a
    price gets a band (its kind in ``bkind``, its ranges in the slot-indexed ``band_lo`` / ``band_hi``, valid while
    ``bep[s] == epoch``: the caller changes ``epoch`` whenever anything but this kernel may have changed the book),
    and later prices, in this window or the next ones, skip the holders whose band they stay inside. A fill brings
    its sides' caches up to date first and bands a banded side anew after. ``bmarks`` holds every instrument's
    mark (kept current here); ``lazyable`` / ``ladder`` / ``min_rel`` / ``portfolio`` are what a band needs
    (:func:`ramparts.engine.slack_index.band_one`). Before returning, every cache left behind is brought up to
    date (:func:`sync_holders`), so the caller finds the book exact, as after the plain pass: the effects, flags
    and state are the same either way (``tests/test_trade_batch.py`` runs both against one event at a time).
    """
    n_instr = i_mark.shape[0]
    i_maxlots = np.full(n_instr, -1, dtype=np.int64)  # a bound on max |lots| of each priced instrument's holders (−1: not known)
    i_behind = np.zeros(n_instr, dtype=np.bool_)
    end = _run_window(start, kind, gi, bl, sl, lp, size, fee_b, fee_s, times, sub_map,
                      ok_fill, ok_price, i_mark, i_index, i_last_oracle, i_max_age, i_expiry, i_settled, i_spot, i_blocked,
                      floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, h_ptr, h_slots, i_priced,
                      row_iso, row_ok, system, sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                      head, nxt, b_sub, b_instr, b_lots, b_cost, b_entry, b_value, b_im, b_mm,
                      fees_bal, vm_delta, fees_delta, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, traded, refusals, counters,
                      use_bands, epoch, bep, bkind, band_lo, band_hi, bmarks, lazyable, ladder, portfolio, min_rel,
                      i_maxlots, i_behind)  # fmt: skip
    for i in range(n_instr):  # the caches the bands left behind, at each instrument's last price
        if i_behind[i]:
            sync_holders(bmarks[i], h_ptr[i], h_ptr[i + 1], h_slots, i, b_sub, b_lots, b_value, b_im, b_mm, sub_value, sub_im, sub_mm,
                         floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)  # fmt: skip
    return end


@njit(cache=True)
def _run_window(start, kind, gi, bl, sl, lp, size, fee_b, fee_s, times, sub_map,
                ok_fill, ok_price, i_mark, i_index, i_last_oracle, i_max_age, i_expiry, i_settled, i_spot, i_blocked,
                floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, h_ptr, h_slots, i_priced,
                row_iso, row_ok, system, sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                head, nxt, b_sub, b_instr, b_lots, b_cost, b_entry, b_value, b_im, b_mm,
                fees_bal, vm_delta, fees_delta, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, traded, refusals, counters,
                use_bands, epoch, bep, bkind, band_lo, band_hi, bmarks, lazyable, ladder, portfolio, min_rel,
                i_maxlots, i_behind):  # fmt: skip
    """The loop of :func:`run_items` (which then syncs what the bands left behind); returns the first item not applied."""
    n = kind.shape[0]
    vm_bound = counters[3]
    for k in range(start, n):
        i = gi[k]
        t = times[k]
        price = lp[k]
        if kind[k] == 0:  # ------------------------------------------------------------- fill
            if not ok_fill[i] or price <= 0 or size[k] <= 0:
                return k
            if i_settled[i] or t >= i_expiry[i] or i_mark[i] <= 0:
                return k
            if i_max_age[i] != 0 and t - i_last_oracle[i] > i_max_age[i]:
                return k
            jb = bl[k]
            js = sl[k]
            b = sub_map[jb]
            s = sub_map[js]
            if b == s or not row_ok[jb] or not row_ok[js]:
                return k
            lots = size[k]
            mark = i_mark[i]
            if lots > MAX_NOTIONAL // max(price, mark, i_spot[i]):  # keeps every product below in int64
                return k
            slot_b = _find_slot(b, i, head, nxt, b_instr)
            slot_s = _find_slot(s, i, head, nxt, b_instr)
            if slot_b < 0 or slot_s < 0:
                return k
            if use_bands:  # a banded side may have caches behind: exact first (this changes no state)
                if bep[b] == epoch:
                    sync_sub(b, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, bmarks, lazyable,
                             floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm)  # fmt: skip
                if bep[s] == epoch:
                    sync_sub(s, head, nxt, b_instr, b_lots, b_value, b_im, b_mm, bmarks, lazyable,
                             floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, sub_value, sub_im, sub_mm)  # fmt: skip
            code, eq, im = _side_ok(b, slot_b, i, lots, price, fee_b[k], mark, i_spot[i], row_iso[jb], system[b], i_blocked[i],
                                    sub_cash, sub_value, sub_cost, sub_coll, sub_im, b_lots, b_im,
                                    floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)  # fmt: skip
            side = 0
            if code == 0:
                code, eq, im = _side_ok(s, slot_s, i, -lots, price, fee_s[k], mark, i_spot[i], row_iso[js], system[s], i_blocked[i],
                                        sub_cash, sub_value, sub_cost, sub_coll, sub_im, b_lots, b_im,
                                        floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)  # fmt: skip
                side = 1
            if code == 1:
                return k
            if code != 0:  # refused by the risk rules: nothing changes; the caller words the effect
                r = counters[5]
                refusals[r, 0] = k
                refusals[r, 1] = side
                refusals[r, 2] = code
                refusals[r, 3] = eq
                refusals[r, 4] = im
                counters[5] = r + 1
                continue
            # no balance may pass MAX_BALANCE on the way (the handler would stop part-way)
            bb = _side_bound(b, slot_b, lots, price, mark, sub_cash[b], fee_b[k], head, nxt, b_lots, b_value, b_cost, b_entry)
            bs = _side_bound(s, slot_s, -lots, price, mark, sub_cash[s], fee_s[k], head, nxt, b_lots, b_value, b_cost, b_entry)
            if bb < 0 or bs < 0 or vm_bound + bb + bs > MAX_BALANCE:
                return k
            if fees_bal[0] + fees_delta[0] + fee_b[k] + fee_s[k] > MAX_BALANCE:
                return k
            vm_bound += bb + bs
            _trade_side(b, slot_b, i, lots, price, fee_b[k], mark, sub_cash, sub_value, sub_cost, sub_im, sub_mm, head, nxt,
                        b_instr, b_lots, b_cost, b_entry, b_value, b_im, b_mm, vm_delta,
                        floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)  # fmt: skip
            fees_delta[0] += fee_b[k]
            _trade_side(s, slot_s, i, -lots, price, fee_s[k], mark, sub_cash, sub_value, sub_cost, sub_im, sub_mm, head, nxt,
                        b_instr, b_lots, b_cost, b_entry, b_value, b_im, b_mm, vm_delta,
                        floors, imr, mmr, imq, imr_rem, mmq, mmr_rem)  # fmt: skip
            fees_delta[0] += fee_s[k]
            if i_maxlots[i] >= 0:
                i_maxlots[i] = max(i_maxlots[i], _abs(b_lots[slot_b]), _abs(b_lots[slot_s]))
            if use_bands:  # a banded side's band no longer holds: a new one from its exact state
                if bep[b] == epoch:
                    bkind[b] = band_one(b, head, nxt, b_instr, b_lots, band_lo, band_hi, bmarks, lazyable, ladder, sub_cash, sub_value,
                                        sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent, min_rel)  # fmt: skip
                if bep[s] == epoch:
                    bkind[s] = band_one(s, head, nxt, b_instr, b_lots, band_lo, band_hi, bmarks, lazyable, ladder, sub_cash, sub_value,
                                        sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent, min_rel)  # fmt: skip
            nt = counters[4]
            traded[nt] = slot_b
            traded[nt + 1] = slot_s
            counters[4] = nt + 2
        else:  # ------------------------------------------------------------------------ index price
            if not ok_price[i] or price <= 0 or i_settled[i]:
                return k
            lo = h_ptr[i]
            hi = h_ptr[i + 1]
            if counters[0] + (hi - lo) > fx_item.shape[0] or counters[1] + (hi - lo) > ins_sub.shape[0]:
                return k  # out of room for its effects: left to the handler
            if i_maxlots[i] < 0:  # kept as a bound by the fills from here on (each fill's own check covers its sides)
                i_maxlots[i] = max_abs_lots(h_slots, lo, hi, b_lots)
            if i_maxlots[i] > MAX_NOTIONAL // price:  # a holder's notional could overflow
                return k
            i_index[i] = price
            i_mark[i] = price  # the index mark model: the mark is the index
            i_last_oracle[i] = t
            i_priced[i] = True
            if use_bands:
                bmarks[i] = price
                if _price_banded(k, i, price, lo, hi, h_slots, epoch, bep, bkind, band_lo, band_hi, bmarks, lazyable,
                                 ladder, portfolio, min_rel, head, nxt, b_sub, b_instr, b_lots, b_value, b_im, b_mm, system,
                                 sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                                 floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, counters):  # fmt: skip
                    i_behind[i] = True
            else:
                reprice_holders(k, i, price, lo, hi, h_slots, True, b_sub, b_lots, b_value, b_im, b_mm, system,
                                sub_cash, sub_value, sub_cost, sub_coll, sub_im, sub_mm, margin_called, insolvent,
                                floors, imr, mmr, imq, imr_rem, mmq, mmr_rem, fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag, counters)  # fmt: skip
        counters[2] = t
        counters[3] = vm_bound
    return n
