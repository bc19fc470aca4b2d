"""The compiled (numba) margin kernels: the one home of the tiered requirement's compiled arithmetic.

This module owns

* the numba primitives of the exact requirement, ``⌈x/10^6⌉`` (:func:`ceil_ppm`, and the unsigned
  :func:`_ceil_fast`) and the exact split :func:`split_req`, which the engine's own passes
  (:mod:`ramparts.engine.batch_kernel`, :mod:`ramparts.engine.tick_slack`) call as well;
* :func:`remargin_accounts`, one fused parallel pass over every account of an
  :class:`~ramparts.margin.layout.AccountBook` computing equity, initial and maintenance margin and
  the breach list (``equity < maintenance``);
* :func:`remargin_subset`, the same for a set of accounts, in place, returning those that newly
  breach;
* :func:`tick_holders`, the incremental re-margin of an instrument's holders after its mark
  moved (one delta per position) on a dense per-account state (:func:`dense_state`);
* :func:`position_requirements`, the per-position requirements (no sums), e.g. to seed caches;
* :func:`maintenance_at`, the scalar maintenance requirement the liquidation-price index
  (:mod:`ramparts.engine.liquidation_index`) solves against.

The layouts they read (:class:`~ramparts.margin.layout.TierTables`,
:class:`~ramparts.margin.layout.AccountBook`) and their plain-numpy twin
(:func:`ramparts.margin.layout.remargin_reference`, which shares no code with these kernels and
which the tests hold equal to them) are the margin layer's; the kernels are the engine's.

Units and the meaning of ``cash``
---------------------------------
Everything follows :mod:`ramparts.fixedpoint`: lots, lot prices, quote base units, ppm rates.
``cash[a]`` is everything in account ``a``'s equity that does not move with the marks, i.e. its
equity at all marks zero. For the engine that is ``ledger.sub_cash − sub_cost`` (cash minus the
positions' cost basis), so that

.. math::

    equity_a = cash_a + \\sum_{p \\in a} lots_p \\cdot mark_{instr_p}

which is the engine's ``sub_cash + sub_value − sub_cost``. Realising variation margin moves the
same ``pnl`` into the cash and into the cost basis, so ``cash`` as defined here does not change
when the engine realises.

Exact arithmetic
----------------
The requirements are those of :mod:`ramparts.margin.vectorised`, bit for bit (the tests check
it): bracket ``k`` holds notional ``N`` when ``floor_k ≤ N < floor_{k+1}`` and requires
``⌈(N·rate_k − C_k)/10^6⌉`` (``C_k`` the scaled cumulative amount of
:mod:`ramparts.margin.schedule`), and at least the size premium's ``⌈N·r(size)/10^6⌉`` when the
schedule has one. Two exact evaluations are used:

* **fast path**, ``N ≤ FAST_NOTIONAL = ⌊(2^63−1)/10^6⌋ ≈ 9.2e12`` (9.2 M USDC) and no size
  premium: ``N·rate ≤ 9.2e18`` fits in int64 and so does ``C_k`` (``C_k ≤ floor_k·rate_k ≤
  N·rate_k``), and ``N·rate − C ≥ 0``, so one unsigned ceil division by the constant 10^6
  (a multiply-high and a shift);
* **exact path** otherwise: the split of :mod:`ramparts.margin.vectorised`,
  ``(q·rate − c_q) + ⌈(r·rate − c_r)/10^6⌉`` with ``N = q·10^6 + r``, then the size premium.

Both give the same integer. Overflow is excluded by documented bounds, checked when a layout is
built (:meth:`AccountBook.from_arrays`) and, for the price-dependent one, inside the kernels:

* every notional ``|lots|·mark ≤ MAX_NOTIONAL = 4e15``, checked per position against the
  per-instrument ``MAX_NOTIONAL // mark`` before multiplying (so nothing wraps);
* ``|cash| ≤ MAX_CASH = 1e18`` and at most ``MAX_POSITIONS_PER_ACCOUNT = 1024`` positions per
  account, so ``|equity| ≤ 1e18 + 1024·4e15 < 5.1e18``, and the summed requirements (each at
  most its notional, every rate being at most 100 %) fit in int64 too.

The only float is the size premium's square root, computed with the IEEE operations, in the
order, of :meth:`MarginSchedule.size_premium_rate_ppm` (numba is not given ``fastmath``).

Bracket look-up
---------------
Instead of a search over the floors, each distinct schedule has a 64-entry table indexed by the
bit length of the notional (``64 − clz(N)``): entry ``b`` holds the bracket ``k`` of the smallest
notional of that bit length (at most the bracket of ``N``) and the next floor ``floor_{k+1}``, so
one load and one branch-free comparison finish the look-up; a bit length containing two or more
floors is flagged and walked instead (rare: floors are usually more than a factor 2 apart).
Each schedule's brackets are followed by a sentinel floor ``2^63 − 1``. Schedules are
deduplicated across instruments so that these tables stay in L1 (the look-up is latency bound:
with one table per instrument, 200 instruments spilled to L2 and cost a fifth of the time).

Threads
-------
:func:`remargin_accounts` and :func:`remargin_subset` run ``prange`` over accounts (numba's
threading layer; ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads`` caps it).
:func:`tick_holders` is serial on purpose: one instrument has ``~10^3–10^4`` holders, too few
to repay waking the thread pool. :func:`position_requirements` and the liquidation-price search
are serial too (build-time work, a fraction of a second per million rows); a parallel kernel
costs seconds of compilation on first use, which every fresh process pays.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from ramparts.compiled import njit
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL
from ramparts.margin.layout import (
    AccountBook,
    RemarginResult,
    TierTables,
    _check_marks,
    _check_pair,
    _int_array,
    _raise_bad,
)

_INT64_MAX = 2**63 - 1
_U = np.uint64  # unsigned indices: numba emits no negative-index wrap-around for them


# ============================================================================== njit helpers
@intrinsic
def _clz64(typingctx, x):
    """Leading zeros of an int64 (64 for 0): LLVM's ``ctlz``, one ``lzcnt`` instruction."""
    sig = numba.types.int64(numba.types.int64)

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@njit(cache=True, inline="always")
def _ceil_fast(x):
    """``⌈x / 10^6⌉`` for ``0 ≤ x < 2^63`` (unsigned: a multiply-high and a shift)."""
    return np.int64((_U(x) + _U(999_999)) // _U(1_000_000))


@njit(cache=True)
def ceil_ppm(x):
    """``⌈x / 10^6⌉`` for any int64 (floor division of the negation)."""
    return -((-x) // 1_000_000)


@njit(cache=True)
def split_req(n, rate, cq, cr):
    """``⌈(n·rate − C)/10^6⌉`` with ``C = cq·10^6 + cr``, exactly, for any ``n ≤ MAX_NOTIONAL``."""
    q = n // 1_000_000
    r = n - q * 1_000_000
    return (q * rate - cq) + ceil_ppm(r * rate - cr)


@njit(cache=True)
def _premium_rate(q_lots, spp, base, lot_u):
    """Size-premium rate, ppm: the IEEE operations of ``MarginSchedule.size_premium_rate_ppm``."""
    s = np.float64(q_lots) * lot_u
    p = np.ceil((4 * base) / 5 + spp * np.sqrt(s))
    if p > 1e6:
        p = 1e6
    return np.int64(p)


@njit(cache=True)
def _exact_req(n, q_lots, im_rate, im_cq, im_cr, mm_rate, mm_cq, mm_cr, spp, im_base, mm_base, lot_u):
    """(initial, maintenance) of notional ``n`` on the exact path (split, then size premium).

    Scalars only: helpers that take arrays are written out inside the kernels instead, because
    numba's inliner wraps array arguments in reference counting (atomic operations per call).
    """
    rim = split_req(n, im_rate, im_cq, im_cr)
    rmm = split_req(n, mm_rate, mm_cq, mm_cr)
    if spp != 0:
        rim = max(rim, split_req(n, _premium_rate(q_lots, spp, im_base, lot_u), 0, 0))
        rmm = max(rmm, split_req(n, _premium_rate(q_lots, spp, mm_base, lot_u), 0, 0))
    return rim, rmm


# The per-position requirement, written out in every kernel below (keep the copies identical):
#
#     us = _U(sched_of[ui])                                 # the instrument's distinct schedule
#     bi = (us << _U(7)) + (_U(64 - _clz64(n)) << _U(1))    # entry of n's bit length
#     k = bucket[bi]                                        # bracket of the smallest n of that bit length
#     if k >= 0:                                            # at most one floor in the bit length:
#         k += np.int64(n >= bucket[bi + _U(1)])            #   one branch-free step against it
#     else:                                                 # several floors (rare): walk them
#         k = ~k
#         while row_floor[_U(k + 1)] <= n:
#             k += 1
#     r4 = _U(k) << _U(2)
#     if n <= fast_limit[us]:
#         rim = _ceil_fast(n * row_coef[r4] - row_coef[r4 + _U(1)])
#         rmm = _ceil_fast(n * row_coef[r4 + _U(2)] - row_coef[r4 + _U(3)])
#     else:
#         rim, rmm = _exact_req(n, q_lots, row_coef[r4], row_split[r4], row_split[r4 + _U(1)], row_coef[r4 + _U(2)],
#                               row_split[r4 + _U(2)], row_split[r4 + _U(3)], spp[us], im_base[us], mm_base[us], lot_u[ui])


@njit(cache=True)
def maintenance_at(n, q_lots, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
    """Maintenance margin of a position of notional ``n`` and ``q_lots = |lots|`` lots in ``i``.

    The scalar (numba) form of the requirement the kernels sum, for the liquidation-price
    search; the arguments after ``i`` are :meth:`TierTables._args`. ``0 ≤ n ≤ MAX_NOTIONAL``.
    """
    ui = _U(i)
    us = _U(sched_of[ui])
    bi = (us << _U(7)) + (_U(64 - _clz64(n)) << _U(1))
    k = bucket[bi]
    if k >= 0:  # at most one floor in this bit length: one branch-free step
        k += np.int64(n >= bucket[bi + _U(1)])
    else:  # several floors in this bit length (rare): walk
        k = ~k
        while row_floor[_U(k + 1)] <= n:
            k += 1
    r4 = _U(k) << _U(2)
    if n <= fast_limit[us]:
        return _ceil_fast(n * row_coef[r4 + _U(2)] - row_coef[r4 + _U(3)])
    return _exact_req(n, q_lots, row_coef[r4], row_split[r4], row_split[r4 + _U(1)], row_coef[r4 + _U(2)],
                      row_split[r4 + _U(2)], row_split[r4 + _U(3)], spp[us], im_base[us], mm_base[us], lot_u[ui])[1]  # fmt: skip


# ============================================================================== kernels
@njit(cache=True, parallel=True)
def _remargin_kernel(offsets, instr, lots, cash, marks, qmax,
                     sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u,
                     equity, im, mm, breach, bad):  # fmt: skip
    for a in numba.prange(cash.shape[0]):
        ua = _U(a)
        e = cash[ua]
        ti = np.int64(0)
        tm = np.int64(0)
        for pp in range(offsets[ua], offsets[ua + _U(1)]):
            p = _U(pp)
            ui = _U(instr[p])
            us = _U(sched_of[ui])
            lp = lots[p]
            q_lots = lp if lp >= 0 else -lp
            if q_lots > qmax[ui]:
                bad[0] = pp
                continue
            v = lp * marks[ui]
            e += v
            n = v if v >= 0 else -v
            bi = (us << _U(7)) + (_U(64 - _clz64(n)) << _U(1))
            k = bucket[bi]
            if k >= 0:  # at most one floor in this bit length: one branch-free step
                k += np.int64(n >= bucket[bi + _U(1)])
            else:  # several floors in this bit length (rare): walk
                k = ~k
                while row_floor[_U(k + 1)] <= n:
                    k += 1
            r4 = _U(k) << _U(2)
            if n <= fast_limit[us]:
                ti += _ceil_fast(n * row_coef[r4] - row_coef[r4 + _U(1)])
                tm += _ceil_fast(n * row_coef[r4 + _U(2)] - row_coef[r4 + _U(3)])
            else:
                rim, rmm = _exact_req(n, q_lots, row_coef[r4], row_split[r4], row_split[r4 + _U(1)], row_coef[r4 + _U(2)],
                                      row_split[r4 + _U(2)], row_split[r4 + _U(3)], spp[us], im_base[us], mm_base[us], lot_u[ui])  # fmt: skip
                ti += rim
                tm += rmm
        equity[ua] = e
        im[ua] = ti
        mm[ua] = tm
        breach[ua] = e < tm


@njit(cache=True, parallel=True)
def _remargin_subset_kernel(accounts, offsets, instr, lots, cash, marks, qmax,
                            sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u,
                            equity, im, mm, breach, newly, bad):  # fmt: skip
    for j in numba.prange(accounts.shape[0]):
        ua = _U(accounts[j])
        e = cash[ua]
        ti = np.int64(0)
        tm = np.int64(0)
        for pp in range(offsets[ua], offsets[ua + _U(1)]):
            p = _U(pp)
            ui = _U(instr[p])
            us = _U(sched_of[ui])
            lp = lots[p]
            q_lots = lp if lp >= 0 else -lp
            if q_lots > qmax[ui]:
                bad[0] = pp
                continue
            mark = marks[ui]
            e += lp * mark
            n = q_lots * mark
            bi = (us << _U(7)) + (_U(64 - _clz64(n)) << _U(1))
            k = bucket[bi]
            if k >= 0:  # at most one floor in this bit length: one branch-free step
                k += np.int64(n >= bucket[bi + _U(1)])
            else:  # several floors in this bit length (rare): walk
                k = ~k
                while row_floor[_U(k + 1)] <= n:
                    k += 1
            r4 = _U(k) << _U(2)
            if n <= fast_limit[us]:
                ti += _ceil_fast(n * row_coef[r4] - row_coef[r4 + _U(1)])
                tm += _ceil_fast(n * row_coef[r4 + _U(2)] - row_coef[r4 + _U(3)])
            else:
                rim, rmm = _exact_req(n, q_lots, row_coef[r4], row_split[r4], row_split[r4 + _U(1)], row_coef[r4 + _U(2)],
                                      row_split[r4 + _U(2)], row_split[r4 + _U(3)], spp[us], im_base[us], mm_base[us], lot_u[ui])  # fmt: skip
                ti += rim
                tm += rmm
        now = e < tm
        newly[j] = now and not breach[ua]
        equity[ua] = e
        im[ua] = ti
        mm[ua] = tm
        breach[ua] = now


@njit(cache=True)
def _position_kernel(instr, lots, marks, qmax, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u,
                     im, mm, bad):  # fmt: skip
    for pp in range(lots.shape[0]):
        p = _U(pp)
        ui = _U(instr[p])
        us = _U(sched_of[ui])
        lp = lots[p]
        q_lots = lp if lp >= 0 else -lp
        if q_lots > qmax[ui]:
            bad[0] = pp
            continue
        n = q_lots * marks[ui]
        bi = (us << _U(7)) + (_U(64 - _clz64(n)) << _U(1))
        k = bucket[bi]
        if k >= 0:  # at most one floor in this bit length: one branch-free step
            k += np.int64(n >= bucket[bi + _U(1)])
        else:  # several floors in this bit length (rare): walk
            k = ~k
            while row_floor[_U(k + 1)] <= n:
                k += 1
        r4 = _U(k) << _U(2)
        if n <= fast_limit[us]:
            im[p] = _ceil_fast(n * row_coef[r4] - row_coef[r4 + _U(1)])
            mm[p] = _ceil_fast(n * row_coef[r4 + _U(2)] - row_coef[r4 + _U(3)])
        else:
            im[p], mm[p] = _exact_req(n, q_lots, row_coef[r4], row_split[r4], row_split[r4 + _U(1)], row_coef[r4 + _U(2)],
                                      row_split[r4 + _U(2)], row_split[r4 + _U(3)], spp[us], im_base[us], mm_base[us], lot_u[ui])  # fmt: skip


@njit(cache=True)
def _tick_kernel(holder_lots, holder_row, holder_acct, holder_req, i, dp, p_new,
                 sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u,
                 state, out):  # fmt: skip
    c = 0
    ui = _U(i)
    us = _U(sched_of[ui])
    fast = fast_limit[us]
    for j in range(holder_lots.shape[0]):
        uj = _U(j)
        lp = holder_lots[uj]
        r = _U(holder_row[uj])
        q_lots = lp if lp >= 0 else -lp
        n = q_lots * p_new
        bi = (us << _U(7)) + (_U(64 - _clz64(n)) << _U(1))
        k = bucket[bi]
        if k >= 0:  # at most one floor in this bit length: one branch-free step
            k += np.int64(n >= bucket[bi + _U(1)])
        else:  # several floors in this bit length (rare): walk
            k = ~k
            while row_floor[_U(k + 1)] <= n:
                k += 1
        r4 = _U(k) << _U(2)
        if n <= fast:
            rim = _ceil_fast(n * row_coef[r4] - row_coef[r4 + _U(1)])
            rmm = _ceil_fast(n * row_coef[r4 + _U(2)] - row_coef[r4 + _U(3)])
        else:
            rim, rmm = _exact_req(n, q_lots, row_coef[r4], row_split[r4], row_split[r4 + _U(1)], row_coef[r4 + _U(2)],
                                  row_split[r4 + _U(2)], row_split[r4 + _U(3)], spp[us], im_base[us], mm_base[us], lot_u[ui])  # fmt: skip
        e = state[r, 0] + lp * dp
        m = state[r, 1] + (rmm - holder_req[uj, 1])
        state[r, 0] = e
        state[r, 1] = m
        state[r, 2] += rim - holder_req[uj, 0]
        holder_req[uj, 0] = rim
        holder_req[uj, 1] = rmm
        now = e < m
        if now and state[r, 3] == 0:
            out[c] = holder_acct[uj]
            c += 1
        state[r, 3] = np.int64(now)
    return c


# ============================================================================== liquidation prices
# The search behind ramparts.engine.liquidation_index.single_liquidation_prices. It lives here, next
# to the requirement code it calls, because numba's on-disk cache of a function is invalidated only
# by changes to its own source file: a kernel in another module would keep inlining a stale copy.
@njit(cache=True)
def _safe(p, lots, q_lots, cash, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
    return cash + lots * p >= maintenance_at(q_lots * p, q_lots, i, sched_of, row_floor, row_coef, row_split, bucket,
                                             fast_limit, spp, im_base, mm_base, lot_u)  # fmt: skip


@njit(cache=True)
def _estimate(lots, q_lots, cash, i, row_base, sched_of, row_floor, row_split, row_coef, spp, mm_base, lot_u):
    """Float envelope estimate of the boundary price (Binance's per-bracket formula)."""
    a = cash * 1e6
    qf = np.float64(q_lots)
    sc = sched_of[i]
    k = row_base[sc]
    best = -1e300 if lots > 0 else 1e300
    while True:
        rate = np.float64(row_coef[4 * k + 2])
        c = np.float64(row_split[4 * k + 2]) * 1e6 + np.float64(row_split[4 * k + 3])
        if lots > 0:
            if rate < 1e6:
                best = max(best, -(a + c) / (qf * (1e6 - rate)))
        else:
            best = min(best, (a + c) / (qf * (1e6 + rate)))
        if row_floor[k + 1] == 9223372036854775807:
            break
        k += 1
    if spp[sc] != 0:
        s = np.float64(q_lots) * lot_u[i]
        pr = np.ceil((4 * mm_base[sc]) / 5 + spp[sc] * np.sqrt(s))
        pr = min(pr, 1e6)
        if lots > 0:
            if pr < 1e6:
                best = max(best, -a / (qf * (1e6 - pr)))
        else:
            best = min(best, a / (qf * (1e6 + pr)))
    return best


@njit(cache=True)
def _lp_kernel(instr, lots, cash, row_base, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u, out):
    for j in range(lots.shape[0]):
        i = instr[j]
        lp = lots[j]
        a = cash[j]
        q = lp if lp >= 0 else -lp
        if q == 0:
            out[j] = -1
            continue
        pmax = 4_000_000_000_000_000 // q
        est = _estimate(lp, q, a, i, row_base, sched_of, row_floor, row_split, row_coef, spp, mm_base, lot_u)
        if est != est or est < 1.0:
            x = np.int64(1)
        elif est > pmax:
            x = pmax
        else:
            x = np.int64(est)
        if lp > 0:  # lowest safe price in [1, pmax]
            if _safe(np.int64(1), lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                out[j] = 1
                continue
            if not _safe(pmax, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                out[j] = 9223372036854775807
                continue
            # invariant: lo unsafe, hi safe
            if x < 2:
                x = 2
            if _safe(x, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                hi = x
                step = 1
                lo = hi - 1
                while _safe(lo, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                    hi = lo
                    step *= 2
                    lo = max(1, hi - step)
            else:
                lo = x
                step = 1
                hi = min(pmax, lo + 1)
                while not _safe(hi, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                    lo = hi
                    step *= 2
                    hi = min(pmax, lo + step)
            while hi - lo > 1:
                mid = lo + (hi - lo) // 2
                if _safe(mid, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                    hi = mid
                else:
                    lo = mid
            out[j] = hi
        else:  # highest safe price in [1, pmax]
            if not _safe(np.int64(1), lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                out[j] = 0
                continue
            if _safe(pmax, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                out[j] = 9223372036854775807
                continue
            # invariant: lo safe, hi unsafe
            if x > pmax - 1:
                x = pmax - 1
            if _safe(x, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                lo = x
                step = 1
                hi = lo + 1
                while _safe(hi, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                    lo = hi
                    step *= 2
                    hi = min(pmax, lo + step)
            else:
                hi = x
                step = 1
                lo = max(1, hi - 1)
                while not _safe(lo, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                    hi = lo
                    step *= 2
                    lo = max(1, hi - step)
            while hi - lo > 1:
                mid = lo + (hi - lo) // 2
                if _safe(mid, lp, q, a, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
                    lo = mid
                else:
                    hi = mid
            out[j] = lo


# ============================================================================== checks
def _buffer(value, name: str, n: int, dtype) -> np.ndarray:
    if value is None:
        return np.empty(n, dtype=dtype)
    if not isinstance(value, np.ndarray) or value.shape != (n,) or value.dtype != dtype or not value.flags.c_contiguous:
        raise InvalidInput(name, f"expected a contiguous {np.dtype(dtype).name} array of length {n}")
    return value


# ============================================================================== public API
def remargin_accounts(book: AccountBook, tables: TierTables, marks, *, out: RemarginResult | None = None) -> RemarginResult:
    """Full re-margin: equity, initial and maintenance margin and the breach list of every account.

    One fused parallel pass over the CSR layout, exact int64 (see the module docstring).

    Parameters
    ----------
    book : AccountBook
        The positions and cash.
    tables : TierTables
        The schedules of the book's instruments.
    marks : array-like of int
        One lot price per instrument, ``1 ≤ mark ≤ MAX_NOTIONAL``.
    out : RemarginResult, optional
        Buffers to write into (see :meth:`RemarginResult.empty`); its ``breached`` is replaced in
        the returned result. Reusing buffers avoids the page faults of fresh memory on each call.

    Returns
    -------
    RemarginResult
        ``equity``, ``im``, ``mm`` (int64), ``breach`` (bool) and ``breached`` (ascending indices).

    Raises
    ------
    InvalidInput
        Mismatched book and tables, bad marks or buffers, or a position whose notional at its
        mark exceeds ``MAX_NOTIONAL`` (the buffers are then partly written).
    """
    _check_pair(book, tables)
    m, qmax = _check_marks(marks, tables)
    n = book.n_accounts
    equity = _buffer(None if out is None else out.equity, "out.equity", n, np.int64)
    im = _buffer(None if out is None else out.im, "out.im", n, np.int64)
    mm = _buffer(None if out is None else out.mm, "out.mm", n, np.int64)
    breach = _buffer(None if out is None else out.breach, "out.breach", n, np.bool_)
    bad = np.full(1, -1, dtype=np.int64)
    _remargin_kernel(book.offsets, book.instr, book.lots, book.cash, m, qmax, *tables._args(), equity, im, mm, breach, bad)
    if bad[0] >= 0:
        _raise_bad(book, m, int(bad[0]))
    return RemarginResult(equity, im, mm, breach, np.flatnonzero(breach))


def remargin_subset(book: AccountBook, tables: TierTables, marks, accounts, state: RemarginResult) -> np.ndarray:
    """Re-margin the accounts ``accounts`` in place in ``state``; return those that newly breach.

    Parameters
    ----------
    book, tables, marks
        As :func:`remargin_accounts`.
    accounts : array-like of int
        Distinct account indices (their order is kept in the result).
    state : RemarginResult
        Per-account arrays, e.g. from :func:`remargin_accounts`; the listed accounts' ``equity``,
        ``im``, ``mm`` and ``breach`` are overwritten (``breached`` is left as it was).

    Returns
    -------
    numpy.ndarray[int64]
        The accounts of ``accounts`` that breach now and did not according to ``state.breach``.

    Raises
    ------
    InvalidInput
        As :func:`remargin_accounts`, and for account indices out of range or repeated. On a
        notional overflow ``state`` may be partly updated.
    """
    _check_pair(book, tables)
    m, qmax = _check_marks(marks, tables)
    acc = np.ascontiguousarray(_int_array(accounts, "accounts"), dtype=np.int64)
    if acc.size:
        if acc.min() < 0 or acc.max() >= book.n_accounts:
            raise InvalidInput("accounts", f"account indices must lie in [0, {book.n_accounts})")
        if np.unique(acc).size != acc.size:
            raise InvalidInput("accounts", "account indices must be distinct")
    n = book.n_accounts
    for name, dt in (("equity", np.int64), ("im", np.int64), ("mm", np.int64), ("breach", np.bool_)):
        _buffer(getattr(state, name), f"state.{name}", n, dt)
    newly = np.zeros(acc.size, dtype=np.bool_)
    bad = np.full(1, -1, dtype=np.int64)
    _remargin_subset_kernel(acc, book.offsets, book.instr, book.lots, book.cash, m, qmax, *tables._args(),
                            state.equity, state.im, state.mm, state.breach, newly, bad)  # fmt: skip
    if bad[0] >= 0:
        _raise_bad(book, m, int(bad[0]))
    return acc[newly]


def dense_state(result: RemarginResult, accounts) -> np.ndarray:
    """The ``(len(accounts), 4)`` int64 state :func:`tick_holders` updates: one row per account,
    columns ``equity, mm, im, breached (0/1)`` (:data:`STATE_COLUMNS`), 32 bytes, one cache line
    per two accounts, taken from a :class:`RemarginResult`."""
    acc = np.asarray(accounts, dtype=np.int64)
    out = np.empty((acc.size, 4), dtype=np.int64)
    out[:, 0] = result.equity[acc]
    out[:, 1] = result.mm[acc]
    out[:, 2] = result.im[acc]
    out[:, 3] = result.breach[acc]
    return out


#: Columns of :func:`dense_state`.
STATE_COLUMNS = ("equity", "mm", "im", "breached")


def tick_holders(tables: TierTables, instr: int, old_price: int, new_price: int, holder_lots: np.ndarray,
                 holder_row: np.ndarray, holder_acct: np.ndarray, holder_req: np.ndarray, state: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Incremental re-margin of one instrument's holders after its mark moved ``old → new``.

    For every holder ``j`` (``holder_lots[j]`` lots of ``instr``, state row ``holder_row[j]``):
    ``equity += lots·(new − old)``, and the position's cached requirements ``holder_req[j]``
    (at ``old``) are swapped for those at ``new``. Integer deltas, so the result equals a full
    recomputation exactly; one requirement evaluation per holder.

    The holder arrays are meant to be contiguous per instrument and ``state`` dense (one row per
    tracked account, see :func:`dense_state`), so that a tick streams its holder list and touches
    one cache line per holder; a million-account :class:`RemarginResult` indexed by account id
    would cost a cache miss per column per holder instead.

    This is the hot path of a tick and does no validation: the caller (e.g.
    :class:`~ramparts.engine.liquidation_index.BreachTracker`) guarantees that the prices are
    positive, that ``state`` and ``holder_req`` are at ``old_price``, that the rows are distinct,
    and that every holder's notional at ``new_price`` is within ``MAX_NOTIONAL`` (one
    multiplication with a per-instrument maximum ``|lots|``).

    Parameters
    ----------
    tables : TierTables
        The schedules.
    instr : int
        The instrument whose mark moved.
    old_price, new_price : int
        Its previous mark (the one ``state`` reflects) and the new one.
    holder_lots, holder_row, holder_acct : numpy.ndarray[int64]
        Per holder: the signed position in ``instr``, its row of ``state`` and the account id to
        report.
    holder_req : numpy.ndarray[int64], shape (holders, 2)
        Per holder: the position's ``im, mm`` at ``old_price`` (:func:`position_requirements`);
        updated in place to ``new_price``.
    state : numpy.ndarray[int64], shape (rows, 4)
        ``equity, mm, im, breached`` per row, updated in place.
    out : numpy.ndarray[int64], optional
        Scratch of at least ``len(holder_lots)`` entries for the result.

    Returns
    -------
    numpy.ndarray[int64]
        Account ids (from ``holder_acct``) that breach at ``new_price`` and did not before, in
        holder order (a view into ``out`` when it is given).
    """
    if out is None:
        out = np.empty(holder_lots.shape[0], dtype=np.int64)
    c = _tick_kernel(holder_lots, holder_row, holder_acct, holder_req, np.int64(instr),
                     np.int64(new_price) - np.int64(old_price), np.int64(new_price),
                     *tables._args(), state, out)  # fmt: skip
    return out[:c]


def position_requirements(tables: TierTables, instr, lots, marks) -> tuple[np.ndarray, np.ndarray]:
    """Initial and maintenance margin of every position (not summed), a parallel kernel.

    Parameters
    ----------
    tables : TierTables
        The schedules.
    instr, lots : array-like of int, same length
        Instrument and signed lots per position (``|lots| ≤ MAX_NOTIONAL``).
    marks : array-like of int
        One lot price per instrument, as :func:`remargin_accounts`.

    Returns
    -------
    (numpy.ndarray[int64], numpy.ndarray[int64])
        ``im`` and ``mm`` per position, equal to :mod:`ramparts.margin.vectorised`'s.

    Raises
    ------
    InvalidInput
        Mismatched or non-integer arrays, instruments out of range, bad marks, or a notional
        above ``MAX_NOTIONAL``.
    """
    if not isinstance(tables, TierTables):
        raise InvalidInput("tables", f"expected TierTables, got {type(tables).__name__}")
    m, qmax = _check_marks(marks, tables)
    instr = _int_array(instr, "instr")
    lots = _int_array(lots, "lots")
    if instr.shape[0] != lots.shape[0]:
        raise InvalidInput("lots", f"length {lots.shape[0]} differs from the length of instr {instr.shape[0]}")
    if instr.size and (instr.min() < 0 or instr.max() >= tables.n_instruments):
        raise InvalidInput("instr", f"instrument indices must lie in [0, {tables.n_instruments})")
    instr = np.ascontiguousarray(instr, dtype=np.int64)
    lots = np.ascontiguousarray(lots, dtype=np.int64)
    if lots.size and (lots.min() < -MAX_NOTIONAL or lots.max() > MAX_NOTIONAL):
        raise InvalidInput("lots", f"|lots| exceeds the notional limit {MAX_NOTIONAL}")
    im = np.empty(lots.shape[0], dtype=np.int64)
    mm = np.empty(lots.shape[0], dtype=np.int64)
    bad = np.full(1, -1, dtype=np.int64)
    _position_kernel(instr, lots, m, qmax, *tables._args(), im, mm, bad)
    if bad[0] >= 0:
        p = int(bad[0])
        raise InvalidInput("marks", f"position {p} ({int(lots[p])} lots of instrument {int(instr[p])}) at mark "
                                    f"{int(m[instr[p]])} exceeds the notional limit {MAX_NOTIONAL}")  # fmt: skip
    return im, mm


__all__ = [
    "STATE_COLUMNS",
    "dense_state",
    "maintenance_at",
    "position_requirements",
    "remargin_accounts",
    "remargin_subset",
    "tick_holders",
]
