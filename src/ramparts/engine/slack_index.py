"""Margin slack bands and their ordered index: one oracle tick → the holders whose slack the move
can have consumed.

This module owns

* the **band** of a sub-account (:func:`band_subs`): from the exact state at its last check, per
  position a closed range ``[lo, hi]`` of marks of that position's instrument such that, as long
  as *every* instrument's mark lies in its range, the sub-account provably keeps the side of its
  margin condition it was on;
* :class:`SlackIndex`, those ranges kept per instrument, sorted by ``lo`` and by ``hi``, so that
  a tick to ``P`` yields the sub-accounts with ``P < lo`` or ``P > hi`` (the only ones that can
  have crossed) with two binary searches and a short scan.

It generalises the ordered liquidation-price index (:mod:`ramparts.engine.liquidation_index`),
which stores the exact crossing price of a *single-position* account, to sub-accounts holding any
number of tiered positions: instead of solving for the crossing, it splits the sub-account's slack
between its positions and stores for each a price range the slack provably covers. The engine's
lazy re-margin (:mod:`ramparts.engine.tick_slack`) builds on both.

The bound
---------
Sub-account ``s`` holds positions ``j`` of ``L_j = |lots_j|`` lots of instrument ``i_j`` at lot
price ``P_j`` (:mod:`ramparts.fixedpoint` units). Its equity is ``E = A + Σ_j lots_j·P_j`` (``A``:
cash − cost basis + collateral value, which no oracle tick of an instrument changes) and its
maintenance ``M = Σ_j mm_j(L_j·P_j) + B`` (``B``: borrow requirements, also unmoved by ticks).

The tiered requirement (:class:`~ramparts.margin.schedule.MarginSchedule`, Binance's
``notional × MMR − maintenance amount``) is ``mm(N) = ⌈f(N)⌉`` with ``f(N) = (N·r_k − C_k)/10^6``
continuous, piecewise linear and of slope ``r_k/10^6`` in bracket ``k``; rates never decrease, so on
notionals up to ``N`` the slope is at most ``r(N)/10^6``, the rate of the bracket holding ``N``. For notionals
``N₁, N₂ ≤ N``, ``mm(N₂) − mm(N₁) < f(N₂) − f(N₁) + 1 ≤ |N₂ − N₁|·r(N)/10^6 + 1``, and being an
integer it is at most ``⌈|N₂ − N₁|·r(N)/10^6⌉``. A move of ``d = |P'_j − P_j| ≤ h_j`` changes the notional
by ``L_j·d`` and keeps it at most ``L_j·(P_j + h_j)``, so with ``r_j = r(L_j·(P_j + h_j))``, the rate of the
bracket at the top of the band (:func:`_bracket_rate`)

.. math::

    |ΔE_j| = L_j·d, \\qquad Δmm_j ≤ ⌈L_j·d·r_j/10^6⌉ ≤ d·⌈L_j·r_j/10^6⌉.

With ``g_j = L_j + ⌈L_j·r_j/10^6⌉`` the slack ``E − M`` falls by at most ``Σ_j g_j·d_j``; equity
alone moves by at most ``Σ_j L_j·d_j``. Which condition a band protects depends on what a full
re-margin could still change for the sub-account (:func:`band_subs`):

=======  ==================================  =========================  ===============  =========
kind     flags                               keeps                      slack ``σ``      rate
=======  ==================================  =========================  ===============  =========
ABOVE    not margin-called, not insolvent    ``E ≥ M`` (no call)        ``E − M − n``    ``g_j``
SOLVENT  margin-called, not insolvent        ``E ≥ 0``                  ``E``            ``L_j``
BELOW    margin-called, insolvent            ``E < 0``                  ``−E − 1``       ``L_j``
NEVER    system sub-account, not insolvent   (nothing ever changes)     —                —
ALWAYS   anything else, or ``σ < 0``         (re-margined every tick)   —                —
=======  ==================================  =========================  ===============  =========

(``n``: the number of positions, a margin of one unit each kept for good measure.) The slack is
split so that every position gets the same *relative* move: with ``W = Σ_j rate_j·P_j``, position
``j`` gets the half-width ``h_j = ⌊σ·P_j / W⌋`` (computed in float64, then checked exactly and
shrunk until ``Σ_j rate_j·h_j ≤ σ`` holds in integers, each ``rate_j`` with the bracket at its own
band's top), and the band ``[P_j − h_j, P_j + h_j]``. For ABOVE, ``W`` is first taken with the
brackets of the current notionals; if the move ``σ/W`` reaches a higher bracket somewhere, ``W`` is
taken again with the brackets that move reaches, and its smaller move ``σ/W`` reaches no higher
bracket, so it fits. (Bands used to take every position at its schedule's steepest rate: a BTC
position in the first bracket, 0.4 %, under a schedule whose last is 50 %, gets a band 1.49× as
wide; ``tests/test_band_bound.py`` checks the promise itself at every corner of random bands.)
Then while every mark stays within its band, ``Σ_j rate_j·d_j ≤ Σ_j rate_j·h_j ≤ σ``: an ABOVE
sub-account keeps ``E ≥ M`` (no margin call, no insolvency), a SOLVENT one ``E ≥ 0``, a BELOW one
``E < 0``, which is everything a re-margin of it could change. A tick to ``P`` outside a band
(``P < lo`` or ``P > hi``) does not mean the sub-account crossed; only that it may have, and the
engine then re-margins it exactly and computes a new band. Options, size premiums, portfolio
sub-accounts and correlation add-ons are not bounded here: such sub-accounts are ALWAYS; so is a
sub-account whose band would be narrower than a minimum relative move (``min_rel``, twice that
to leave ALWAYS again): it would be re-margined at nearly every tick anyway, and indexing a new
band each time costs more than re-margining it.

The index
---------
Per instrument, entries ``(lo, hi, sub-account, stamp)`` in four levels, each entry in exactly one,
every sorted level kept twice (by ``lo``, carrying ``hi``; and by ``hi``) as sorted runs back to
back:

* **pending**: recent insertions in arrival order, which the compiled passes append to; past
  ``limit = max(1024, n/16)`` (``n``: the big level's size) their live entries, sorted (numpy's
  argsort: O(k log k), about 12,500 entries at ``n`` = 200,000), become
* a new run of the **middle** level (nothing else moves); past ``max(4·limit, n/4)`` entries the
  middle is frozen as
* the **merging** level, merged into the big one by steps of at most
  ``STEP_EVERY·STEP`` (8 · 8,192) entries per sorted copy, one at every :attr:`SlackIndex.STEP_EVERY`-th
  :meth:`SlackIndex.settle` while a merge runs (about 2 ms at 1M accounts), the pieces two at a
  time, the smallest first (the middle's runs, then the result with the big level: about
  ``n + 3·n/4`` moves per ``n/4`` new entries, against ``n + n/4`` for one fold); until the last
  step the queries read the pieces, which stay as they were, and then the result replaces both;
* the **big** level.

Why these sizes: a merge's cost is the stamp look-up of each entry it moves (a cache miss, ~15 ns
an entry and copy at 1M accounts), and the big level is moved once per merge, so the middle is
let grow to ``n/4`` (a middle of ``n/8`` in runs of ``n/64`` kept a merge running on nine lazy ticks
in ten, and its steps made the median tick 3x slower); the steps are few and big rather than one at every
settle so that most ticks take none (a tick's median stays that of a tick without a merge, its
p99 one step above the slowest re-margins).

A sub-account's ``stamp`` changes whenever its band is recomputed, which makes its older entries
dead; a merge drops the dead entries it meets (one that dies after it was copied stays, dead, in
the result). A tick to ``P`` reads, in each run of each sorted level, the ``lo``-sorted suffix with
``lo > P`` and the ``hi``-sorted prefix with ``hi < P``, and the pending entries: ALWAYS entries
(``lo = 2^63−1``, ``hi = −2^63``) are met every time. The entries a tick met whose sub-account then
got a new band are marked dead in place (stamp −1), so that the next ticks pass them over without
looking a stamp up. A merge also starts when the bands recomputed since the last one pass ``n/4``,
or when the ticks have had to look up the stamps of more than ``n/2`` dead entries. No event pays a
whole fold: per :meth:`SlackIndex.settle`, at most one run's sort per instrument it flagged and one
step (at every ``STEP_EVERY``-th call); only when a middle fills before its predecessor's merge ended is
that merge finished at once (counted in ``SlackIndex.forced``; ``benchmarks/bench_tick_slack.py`` reports it). :meth:`SlackIndex.compact`
folds everything at once (the tests; the numpy fold of ``benchmarks/bench_tick_slack.py``).
"""

from __future__ import annotations

import time

import numpy as np

from ramparts.compiled import njit
from ramparts.fixedpoint import PPM

ABOVE, SOLVENT, BELOW, NEVER, ALWAYS = 1, 2, 3, 4, 5
KIND_NAMES = {0: "none", ABOVE: "above", SOLVENT: "solvent", BELOW: "below", NEVER: "never", ALWAYS: "always"}
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min
_CAP = 2**62  # no single term g·h, no band edge, comes near int64's end


# ============================================================================== bands
@njit(cache=True, inline="always")
def _rate(q, r, above):
    """``g = L + ⌈L·r/10^6⌉`` for an ABOVE band, ``L`` otherwise (``q = L``), without forming ``L·r``."""
    if not above:
        return q
    return q + (q // PPM) * r + -((-((q % PPM) * r)) // PPM)


@njit(cache=True, inline="always")
def _bracket_rate(ladder, i, q, top):
    """The maintenance rate (ppm) of instrument ``i``'s bracket that holds the notional of ``q`` lots at lot price
    ``top`` (``ladder[i, 0]``: the brackets' notional floors, ascending, padded with int64's maximum;
    ``ladder[i, 1]``: their rates, which never decrease): it bounds the requirement's slope at every notional up to
    that one. A notional past int64 is in the last bracket."""
    width = ladder.shape[2]
    n = _I64_MAX - 1 if q > (_I64_MAX - 1) // top else q * top
    k = 0
    while k + 1 < width and ladder[i, 0, k + 1] <= n:
        k += 1
    return ladder[i, 1, k]


@njit(cache=True, inline="always")
def _weight(s, head, nxt, b_instr, b_lots, marks, ladder, above, delta):
    """``W = Σ_j g_j·P_j`` of sub-account ``s`` for a relative move ``delta``: ``g_j`` with the rate of the bracket a
    move of ``⌊delta·P_j⌋`` up reaches (``L_j`` alone unless ``above``); past :data:`_CAP`, ``_CAP + 1``."""
    w = 0
    p = head[s]
    while p >= 0:
        i = b_instr[p]
        q = b_lots[p] if b_lots[p] > 0 else -b_lots[p]
        r = 0
        if above:
            hf = delta * float(marks[i])
            r = _bracket_rate(ladder, i, q, marks[i] + (_CAP if hf >= float(_CAP) else np.int64(hf)))
        w += _rate(q, r, above) * marks[i]
        if w > _CAP:
            return _CAP + 1
        p = nxt[p]
    return w


@njit(cache=True, inline="always")
def band_one(s, head, nxt, b_instr, b_lots, band_lo, band_hi, marks, lazyable, ladder,
              sub_cash, sub_value, sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent, min_rel):  # fmt: skip
    """The kind of sub-account ``s``'s band, its per-slot ranges written to ``band_lo`` /
    ``band_hi`` (see the module docstring). ``s`` must be exact (every cache at the current marks).
    A band narrower than ``min_rel`` (relative half-width) is not worth indexing: ALWAYS instead."""
    ins = insolvent[s]
    kind = ALWAYS
    sigma = 0
    n = 0
    if system[s]:
        kind = ALWAYS if ins else NEVER
    elif not portfolio[s]:
        mc = margin_called[s]
        equity = sub_cash[s] + sub_value[s] - sub_cost[s] + sub_coll[s]
        ok = True
        p = head[s]
        while p >= 0:
            i = b_instr[p]
            if not lazyable[i] or b_lots[p] == 0 or marks[i] <= 0:
                ok = False
            n += 1
            p = nxt[p]
        if ok:
            if not mc and not ins:
                kind = ABOVE
                sigma = equity - sub_mm[s] - n
            elif mc and not ins:
                kind = SOLVENT
                sigma = equity
            elif mc and ins:
                kind = BELOW
                sigma = -equity - 1
            if sigma < 0:
                kind = ALWAYS
    if (kind == ABOVE or kind == SOLVENT or kind == BELOW) and n > 0:
        above = kind == ABOVE
        # W = Σ g_j·P_j with the rates of the brackets at the current notionals (each term ≤ 2·MAX_NOTIONAL + P_j:
        # past _CAP, thousands of positions, ALWAYS instead) and the move σ/W; for ABOVE, W again with the rates of
        # the brackets that move reaches, and, if that is more, the move σ/W from it: a smaller move reaches no
        # higher bracket, so that split fits (the exact check below takes each band's own top bracket)
        w = _weight(s, head, nxt, b_instr, b_lots, marks, ladder, above, 0.0)
        fits = False
        delta = float(sigma) / float(w) * (1.0 - 1e-9) if w <= _CAP else 0.0
        if above and w <= _CAP:
            w2 = _weight(s, head, nxt, b_instr, b_lots, marks, ladder, above, delta)
            if w2 > w:
                w = w2
                delta = float(sigma) / float(w) * (1.0 - 1e-9) if w <= _CAP else 0.0
        if w <= _CAP and delta >= min_rel:
            for _attempt in range(8):
                total = 0
                fits = True
                p = head[s]
                while p >= 0:
                    i = b_instr[p]
                    q = b_lots[p] if b_lots[p] > 0 else -b_lots[p]
                    hf = delta * float(marks[i])
                    h = _CAP if hf >= float(_CAP) else np.int64(hf)
                    g = _rate(q, _bracket_rate(ladder, i, q, marks[i] + h) if above else 0, above)
                    if h > _CAP // g:  # (a narrower band reaches no higher bracket: g stays a bound)
                        h = _CAP // g
                    total += g * h  # ≤ σ + _CAP before the check below: no overflow
                    if total > sigma:
                        fits = False
                        break
                    band_lo[p] = marks[i] - h
                    band_hi[p] = marks[i] + h
                    p = nxt[p]
                if fits:
                    break
                delta *= 0.5
        if not fits:  # (never seen: the float split undershoots by 1e-9) the exact check is what counts
            kind = ALWAYS
    if kind == ALWAYS or kind == NEVER or n == 0:
        lo = _I64_MAX if kind != NEVER else _I64_MIN
        hi = _I64_MIN if kind != NEVER else _I64_MAX
        p = head[s]
        while p >= 0:
            band_lo[p] = lo
            band_hi[p] = hi
            p = nxt[p]
    return kind


@njit(cache=True, inline="always")
def _emit(s, t, head, nxt, b_instr, band_lo, band_hi, ok, limit, pend, p_n, fold, ov_i, ov_lo, ov_hi, ov_s, ov_t, m):
    """Append ``s``'s entries (stamp ``t``) to the pending lists of its built instruments; what
    does not fit goes to the overflow arrays from row ``m`` on. Returns the new ``m``."""
    cap = pend.shape[2]
    p = head[s]
    while p >= 0:
        i = b_instr[p]
        if ok[i]:
            q = p_n[i]
            if q < cap:
                pend[0, i, q] = band_lo[p]
                pend[1, i, q] = band_hi[p]
                pend[2, i, q] = s
                pend[3, i, q] = t
                p_n[i] = q + 1
                if q + 1 > limit[i]:
                    fold[i] = True
            else:
                ov_i[m] = i
                ov_lo[m] = band_lo[p]
                ov_hi[m] = band_hi[p]
                ov_s[m] = s
                ov_t[m] = t
                m += 1
                fold[i] = True
        p = nxt[p]
    return m


@njit(cache=True)
def _reband_all(subs, keep_always, floor, counter, stamp, kind_of, head, nxt, b_instr, b_lots, band_lo, band_hi, marks, lazyable, ladder,
                sub_cash, sub_value, sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent,
                ok, dead, limit, pend, p_n, fold, ov_i, ov_lo, ov_hi, ov_s, ov_t, min_rel):  # fmt: skip
    """Recompute the bands of ``subs`` and index them (see :func:`band_subs`); returns the overflow
    row count. One loop, its helpers inlined: a call per sub-account with this many arrays costs
    more than the band itself."""
    m = 0
    for k in range(subs.shape[0]):
        s = subs[k]
        old_valid = stamp[s] >= floor
        old_kind = kind_of[s]
        # hysteresis: an ALWAYS sub-account needs twice the minimum width to be indexed again
        rel = 2.0 * min_rel if old_valid and old_kind == ALWAYS else min_rel
        kind = band_one(s, head, nxt, b_instr, b_lots, band_lo, band_hi, marks, lazyable, ladder,
                         sub_cash, sub_value, sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent, rel)  # fmt: skip
        if keep_always and old_valid and old_kind == ALWAYS and kind == ALWAYS:
            continue
        if old_valid and old_kind != NEVER:
            p = head[s]
            while p >= 0:
                i = b_instr[p]
                if ok[i]:
                    dead[i] += 1
                    if dead[i] % limit[i] == 0:  # now and then, not at every band: settle weighs a merge
                        fold[i] = True
                p = nxt[p]
        t = counter[0]
        counter[0] = t + 1
        stamp[s] = t
        kind_of[s] = kind
        if kind != NEVER:
            m = _emit(s, t, head, nxt, b_instr, band_lo, band_hi, ok, limit, pend, p_n, fold, ov_i, ov_lo, ov_hi, ov_s, ov_t, m)
    return m


@njit(cache=True)
def band_subs(subs, keep_always, floor, counter, stamp, kind_of, head, nxt, b_instr, b_lots, band_lo, band_hi, marks, lazyable, ladder,
              sub_cash, sub_value, sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent,
              ok, dead, limit, pend, p_n, fold, min_rel):  # fmt: skip
    """Recompute the bands of the (exact) sub-accounts ``subs`` and add their entries to the
    pending lists of their built instruments (``ok``). Returns the entries that did not fit,
    ``(instr, lo, hi, sub, stamp)``; ``fold`` flags the instruments to compact.

    Each recomputed sub-account gets a fresh stamp from ``counter[0]`` (which makes its older
    entries dead; ``dead[j]`` counts them per instrument). With ``keep_always`` a sub-account
    whose valid band was ALWAYS and stays ALWAYS keeps its stamp and adds nothing (its entries
    are still the right ones: only a tick may pass ``keep_always``, when no position changed).
    NEVER bands add no entry (nothing needs to find them)."""
    total = 0
    for k in range(subs.shape[0]):
        p = head[subs[k]]
        while p >= 0:
            total += 1
            p = nxt[p]
    ov_i = np.empty(total, dtype=np.int64)
    ov_lo = np.empty(total, dtype=np.int64)
    ov_hi = np.empty(total, dtype=np.int64)
    ov_s = np.empty(total, dtype=np.int64)
    ov_t = np.empty(total, dtype=np.int64)
    m = _reband_all(subs, keep_always, floor, counter, stamp, kind_of, head, nxt, b_instr, b_lots, band_lo, band_hi, marks, lazyable,
                    ladder, sub_cash, sub_value, sub_cost, sub_coll, sub_mm, system, portfolio, margin_called, insolvent,
                    ok, dead, limit, pend, p_n, fold, ov_i, ov_lo, ov_hi, ov_s, ov_t, min_rel)  # fmt: skip
    return ov_i[:m], ov_lo[:m], ov_hi[:m], ov_s[:m], ov_t[:m]


@njit(cache=True)
def band_violations(h_slots, price, floor, stamp, kind_of, b_sub, b_lots, band_lo, band_hi):
    """Sub-accounts among the holders ``h_slots`` of an instrument whose band must be recomputed
    after a full re-margin at ``price``: no valid band, a band ``price`` left, or ALWAYS (perhaps
    no longer so). NEVER and bands that still hold are left alone."""
    out = np.empty(h_slots.shape[0], dtype=np.int64)
    m = 0
    for j in range(h_slots.shape[0]):
        p = h_slots[j]
        if b_lots[p] == 0:
            continue
        s = b_sub[p]
        k = kind_of[s]
        if stamp[s] < floor or k == ALWAYS or ((k == ABOVE or k == SOLVENT or k == BELOW) and (price < band_lo[p] or price > band_hi[p])):
            out[m] = s
            m += 1
    return out[:m]


@njit(cache=True)
def holder_entries(h_slots, floor, stamp, kind_of, b_sub, b_lots, band_lo, band_hi):
    """The index entries ``(lo, hi, sub, stamp)`` of an instrument's holders with a valid band
    (rebuilding its index); NEVER holders have none."""
    n = h_slots.shape[0]
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    sub = np.empty(n, dtype=np.int64)
    t = np.empty(n, dtype=np.int64)
    m = 0
    for j in range(n):
        p = h_slots[j]
        if b_lots[p] == 0:
            continue
        s = b_sub[p]
        if stamp[s] < floor or kind_of[s] == NEVER:
            continue
        lo[m] = band_lo[p]
        hi[m] = band_hi[p]
        sub[m] = s
        t[m] = stamp[s]
        m += 1
    return lo[:m], hi[:m], sub[:m], t[:m]


# ============================================================================== the index
@njit(cache=True)
def triggered_unsorted(price, i, levels, pend, p_n, stamp, seen, tick):
    """Distinct sub-accounts with a live entry in instrument ``i`` whose band ``price`` is
    outside, in no particular order (``seen[s] == tick`` marks those already taken); the number
    of dead entries whose stamp had to be looked up on the way (past :data:`DEAD_SCAN` the caller
    folds the instrument); and where each live entry met lies (``hits``: rows of sub-account,
    stamp, array (``2·level + copy`` for the sorted levels, copy 0 by lo and 1 by hi; 6 pending),
    position), for :func:`kill_hits`. ``levels``: the instrument's sorted levels (big, merging,
    middle), each ``(lo, lo's sub, lo's stamp, hi, hi's sub, hi's stamp, run bounds in the
    copy by lo, in the copy by hi)``.

    Entries already known dead carry the stamp −1 and are passed over without a look-up. (The
    runs are written out: one inlined helper for their common body measured 6× slower.)"""
    n_runs = 0
    for L in range(3):
        n_runs += levels[L][6].shape[0] - 1
    starts = np.empty((n_runs, 2), dtype=np.int64)
    n_p = p_n[i]
    cap = n_p
    k = 0
    for L in range(3):
        lv = levels[L]
        bounds, bounds_hi = lv[6], lv[7]
        for r in range(bounds.shape[0] - 1):
            b0, b1 = bounds[r], bounds[r + 1]
            c0, c1 = bounds_hi[r], bounds_hi[r + 1]
            a = b0 + np.searchsorted(lv[0][b0:b1], price, side="right")  # lo > price from a on
            b = c0 + np.searchsorted(lv[3][c0:c1], price, side="left")  # hi < price before b
            starts[k, 0], starts[k, 1] = a, b
            cap += b1 - a + b - c0
            k += 1
    out = np.empty(cap, dtype=np.int64)
    hits = np.empty((cap, 4), dtype=np.int64)
    m = 0
    h = 0
    dead = 0
    k = 0
    for L in range(3):
        lv = levels[L]
        lo_s, lo_t, hi_s, hi_t, bounds, bounds_hi = lv[1], lv[2], lv[4], lv[5], lv[6], lv[7]
        for r in range(bounds.shape[0] - 1):
            for q in range(starts[k, 0], bounds[r + 1]):
                t = lo_t[q]
                if t < 0:
                    continue
                s = lo_s[q]
                if t != stamp[s]:
                    dead += 1
                    continue
                hits[h, 0], hits[h, 1], hits[h, 2], hits[h, 3] = s, t, 2 * L, q
                h += 1
                if seen[s] != tick:
                    seen[s] = tick
                    out[m] = s
                    m += 1
            for q in range(bounds_hi[r], starts[k, 1]):
                t = hi_t[q]
                if t < 0:
                    continue
                s = hi_s[q]
                if t != stamp[s]:
                    dead += 1
                    continue
                hits[h, 0], hits[h, 1], hits[h, 2], hits[h, 3] = s, t, 2 * L + 1, q
                h += 1
                if seen[s] != tick:
                    seen[s] = tick
                    out[m] = s
                    m += 1
            k += 1
    for q in range(n_p):
        if pend[0, i, q] > price or pend[1, i, q] < price:
            t = pend[3, i, q]
            if t < 0:
                continue
            s = pend[2, i, q]
            if t != stamp[s]:
                dead += 1
                continue
            hits[h, 0], hits[h, 1], hits[h, 2], hits[h, 3] = s, t, 6, q
            h += 1
            if seen[s] != tick:
                seen[s] = tick
                out[m] = s
                m += 1
    return out[:m], dead, hits[:h]


@njit(cache=True)
def kill_hits(hits, i, stamp, levels, pend):
    """After the triggered sub-accounts got new bands: mark the entries met by the scan whose
    sub-account's stamp moved on as dead in place (stamp −1), so that later ticks pass them
    over without looking the stamp up (the next merge drops them)."""
    for h in range(hits.shape[0]):
        s = hits[h, 0]
        if stamp[s] != hits[h, 1]:
            where = hits[h, 2]
            q = hits[h, 3]
            if where == 6:
                pend[3, i, q] = -1
            elif where % 2 == 0:
                levels[where // 2][2][q] = -1
            else:
                levels[where // 2][5][q] = -1


@njit(cache=True)
def _fold_run(key, sub, t, other, new_key, new_sub, new_t, new_other, live_stamp):
    """One sorted copy of an instrument's index folded: the live entries of the run ``key`` (with
    their ``sub``, stamp ``t`` and, if ``other`` is not empty, the other edge) merged with the
    new entries (live, sorted by ``new_key``); at equal keys the run's first. Dead entries of the
    run (stamp −1 or not the sub-account's current one) are dropped. One pass (O(n + k)); used for
    both copies (by ``lo``, carrying ``hi``; by ``hi``, carrying nothing)."""
    n, k = key.shape[0], new_key.shape[0]
    with_other = other.shape[0] == n and new_other.shape[0] == k
    keep = np.empty(n, dtype=np.bool_)
    n_live = 0
    for q in range(n):
        live = t[q] >= 0 and t[q] == live_stamp[sub[q]]
        keep[q] = live
        n_live += live
    m = n_live + k
    o_key = np.empty(m, dtype=np.int64)
    o_sub = np.empty(m, dtype=np.int64)
    o_t = np.empty(m, dtype=np.int64)
    o_other = np.empty(m if with_other else 0, dtype=np.int64)
    q = j = 0
    for r in range(m):
        while q < n and not keep[q]:
            q += 1
        if j >= k or (q < n and key[q] <= new_key[j]):
            o_key[r], o_sub[r], o_t[r] = key[q], sub[q], t[q]
            if with_other:
                o_other[r] = other[q]
            q += 1
        else:
            o_key[r], o_sub[r], o_t[r] = new_key[j], new_sub[j], new_t[j]
            if with_other:
                o_other[r] = new_other[j]
            j += 1
    return o_key, o_sub, o_t, o_other


@njit(cache=True)
def _merge_step(a_key, a_sub, a_t, a_other, b_key, b_sub, b_t, b_other, o_key, o_sub, o_t, o_other, cur, budget, live_stamp):
    """Up to ``budget`` entries of two sorted runs ``a``, ``b`` merged into ``o`` from where the
    last step stopped (``cur``: next of ``a``, next of ``b``, next row of ``o``; updated), the
    dead ones dropped (stamp −1 or not the sub-account's current one); at equal keys ``a``'s
    first. ``other`` (the other edge) is carried where not empty. Returns the entries consumed.
    The same merge as :func:`_fold_run`, resumable: an index's big merge spread over many ticks."""
    qa, qb, r = cur[0], cur[1], cur[2]
    na, nb = a_key.shape[0], b_key.shape[0]
    with_other = o_other.shape[0] > 0
    # the stamps of every entry this step may consume looked up first, in loops without branches
    # between the loads: their cache misses overlap (1.5x faster a step than looking up inside the merge)
    a0, b0 = qa, qb
    ea, eb = min(na, qa + budget), min(nb, qb + budget)
    live_a = np.empty(ea - a0, dtype=np.bool_)
    for q in range(a0, ea):
        live_a[q - a0] = a_t[q] >= 0 and a_t[q] == live_stamp[a_sub[q]]
    live_b = np.empty(eb - b0, dtype=np.bool_)
    for q in range(b0, eb):
        live_b[q - b0] = b_t[q] >= 0 and b_t[q] == live_stamp[b_sub[q]]
    used = 0
    while used < budget and (qa < na or qb < nb):
        used += 1
        if qb >= nb or (qa < na and a_key[qa] <= b_key[qb]):
            if live_a[qa - a0]:
                o_key[r], o_sub[r], o_t[r] = a_key[qa], a_sub[qa], a_t[qa]
                if with_other:
                    o_other[r] = a_other[qa]
                r += 1
            qa += 1
        else:
            if live_b[qb - b0]:
                o_key[r], o_sub[r], o_t[r] = b_key[qb], b_sub[qb], b_t[qb]
                if with_other:
                    o_other[r] = b_other[qb]
                r += 1
            qb += 1
    cur[0], cur[1], cur[2] = qa, qb, r
    return used


def _fold_both(by_lo: tuple, by_hi: tuple, new: tuple, live_stamp: np.ndarray) -> tuple[tuple, tuple]:
    """Both sorted copies of an instrument's index folded with the ``new`` entries ``(lo, hi,
    sub, stamp)`` (any order; the dead ones dropped): ``(by_lo, by_hi)``, one kernel
    (:func:`_fold_run`) for both orders. The new entries are sorted by numpy (its SIMD argsort of
    25,000 keys took 0.37 ms here, numba's 1.7 ms; ties in any order, which no query depends on)."""
    p_lo, p_hi, p_s, p_t = new
    live = (p_t >= 0) & (p_t == live_stamp[p_s])
    p_lo, p_hi, p_s, p_t = p_lo[live], p_hi[live], p_s[live], p_t[live]
    a = np.argsort(p_lo)
    v, sub, t, other = _fold_run(by_lo[0], by_lo[2], by_lo[3], by_lo[1], p_lo[a], p_s[a], p_t[a], p_hi[a], live_stamp)
    b = np.argsort(p_hi)
    w, sub2, t2, _ = _fold_run(by_hi[0], by_hi[1], by_hi[2], _Z, p_hi[b], p_s[b], p_t[b], _Z, live_stamp)
    return (v, other, sub, t), (w, sub2, t2)


_Z = np.zeros(0, dtype=np.int64)
_B0 = np.zeros(1, dtype=np.int64)
_NO_OVERFLOW = (_Z, _Z, _Z, _Z, _Z)


#: looked-up dead entries an instrument's ticks may meet (since its last merge began) before a merge
#: starts, at least: a merge costs about as much as look-ups of a quarter of the entries
DEAD_SCAN = 512


class _Level:
    """One sorted level of an instrument's index: sorted runs back to back (``bounds``: where each
    starts, then the end), each kept twice, by ``lo`` (carrying ``hi``) and by ``hi``. The two
    copies of a merged run may differ in length (``bounds_hi``): each pass of a merge drops the
    entries dead when it meets them, and an entry may die between the two."""

    __slots__ = ("lo", "lo_hi", "lo_s", "lo_t", "hi", "hi_s", "hi_t", "bounds", "bounds_hi")

    def __init__(self, by_lo: tuple = (_Z, _Z, _Z, _Z), by_hi: tuple = (_Z, _Z, _Z), bounds: np.ndarray | None = None) -> None:
        self.lo, self.lo_hi, self.lo_s, self.lo_t = by_lo
        self.hi, self.hi_s, self.hi_t = by_hi
        self.bounds = np.array([0, by_lo[0].shape[0]], dtype=np.int64) if bounds is None else bounds
        self.bounds_hi = np.array([0, by_hi[0].shape[0]], dtype=np.int64) if bounds is None else bounds

    @property
    def n(self) -> int:
        return int(self.bounds[-1])

    def kernel(self) -> tuple:
        return (self.lo, self.lo_s, self.lo_t, self.hi, self.hi_s, self.hi_t, self.bounds, self.bounds_hi)

    def run(self, r: int) -> tuple[tuple, tuple]:
        """Run ``r`` as ``(by_lo, by_hi)`` views."""
        a, b = int(self.bounds[r]), int(self.bounds[r + 1])
        c, d = int(self.bounds_hi[r]), int(self.bounds_hi[r + 1])
        return (self.lo[a:b], self.lo_hi[a:b], self.lo_s[a:b], self.lo_t[a:b]), (self.hi[c:d], self.hi_s[c:d], self.hi_t[c:d])

    def entries(self) -> tuple:
        """``(lo, hi, sub, stamp)`` of every entry (dead ones included), views."""
        n = self.n
        return self.lo[:n], self.lo_hi[:n], self.lo_s[:n], self.lo_t[:n]


_EMPTY = _Level(bounds=_B0)


class _Merge:
    """An instrument's big merge in progress: sorted pieces (the big level and the frozen middle's
    runs, ``(by_lo, by_hi)``), merged two at a time, the two smallest first; the current pair's
    outputs and where each copy's merge stands."""

    __slots__ = ("pieces", "pair", "out_lo", "out_hi", "cur_lo", "cur_hi")

    def __init__(self, pieces: list) -> None:
        self.pieces = pieces
        self.pair = None


class SlackIndex:
    """Per instrument, the band entries of its holders, ordered (see the module docstring).

    An instrument's index is either *built* (``ok[i]``: it holds a live entry for every holder
    whose band is valid and not NEVER) or not (the engine re-margins that instrument in full and
    builds it). Entries carry the sub-account's stamp; an entry is live while its stamp is the
    sub-account's current one (the caller's ``stamp`` array). Per instrument, four levels, each
    entry in exactly one: the big sorted level; the merging level (a frozen middle, being merged
    into the big one a bounded slice per event; empty when no merge runs); the middle level
    (sorted runs, one per batch of pending entries); and up to ``limit[i]`` pending entries in
    arrival order (rows of ``pend[0..3, i]``: lo, hi, sub-account, stamp; ``p_n[i]`` used),
    which the compiled passes append to directly.
    """

    _MIN_PENDING = 1024
    #: pending entries of all instruments together at most (32 bytes each: 64 MiB), but at least
    #: _MIN_ROOM per instrument; an instrument whose limit does not fit folds when its room is full
    _ROOM_BUDGET = 2**21
    _MIN_ROOM = 2 * _MIN_PENDING + 64
    #: pending entries become a middle run past ``big/_PENDING_SHARE`` (at least _MIN_PENDING); the
    #: middle is merged into the big level past ``big/_MIDDLE_SHARE`` (at least 4 runs' worth)
    _PENDING_SHARE = 16
    _MIDDLE_SHARE = 4
    #: entries each copy of a merge consumes at most per step (:meth:`step`)
    STEP = 8192
    #: :meth:`settle` takes a step of ``STEP_EVERY·STEP`` entries at every ``STEP_EVERY``-th call
    #: while a merge runs, not one of ``STEP`` at each: the same throughput, on a minority of ticks
    STEP_EVERY = 8

    def __init__(self) -> None:
        self.ok = np.zeros(0, dtype=np.bool_)
        #: dead entries per instrument (counted when a sub-account's band is recomputed)
        self.dead = np.zeros(0, dtype=np.int64)
        self.limit = np.zeros(0, dtype=np.int64)
        self.p_n = np.zeros(0, dtype=np.int64)
        self.fold = np.zeros(0, dtype=np.bool_)
        #: dead entries whose stamp a tick had to look up, per instrument, since its last merge began
        self.dead_seen = np.zeros(0, dtype=np.int64)
        self.pend = np.zeros((4, 0, 2 * self._MIN_PENDING + 64), dtype=np.int64)
        # (diagnostics) whole folds inside one call, runs added, merges finished, merges that had
        # to be finished at once (the middle filled before its merge ended), entries merged, the
        # slowest merge step in seconds
        self.folds = 0
        self.runs = 0
        self.merges = 0
        self.forced = 0
        self.merged = 0
        self.step_max_s = 0.0
        self._big: list[_Level] = []
        self._merging: list[_Level] = []
        self._middle: list[_Level] = []
        self._job: list[_Merge | None] = []
        self._active: list[int] = []  # instruments with a merge in progress, in the order they began
        self._settles = 0  # settle calls since the last step
        self._big_n = np.zeros(0, dtype=np.int64)  # size of the big level when its limits were set

    def ensure(self, n: int) -> None:
        """Room for instruments ``0 … n−1`` (new ones not built)."""
        k = self.ok.shape[0]
        if n <= k:
            return
        grow = n - k
        self.ok = np.concatenate([self.ok, np.zeros(grow, dtype=np.bool_)])
        self.fold = np.concatenate([self.fold, np.zeros(grow, dtype=np.bool_)])
        self.dead = np.concatenate([self.dead, np.zeros(grow, dtype=np.int64)])
        self.dead_seen = np.concatenate([self.dead_seen, np.zeros(grow, dtype=np.int64)])
        self.p_n = np.concatenate([self.p_n, np.zeros(grow, dtype=np.int64)])
        self.limit = np.concatenate([self.limit, np.full(grow, self._MIN_PENDING, dtype=np.int64)])
        self._big_n = np.concatenate([self._big_n, np.zeros(grow, dtype=np.int64)])
        pend = np.zeros((4, n, max(self.pend.shape[2], 2 * self._MIN_PENDING + 64)), dtype=np.int64)
        pend[:, :k, : self.pend.shape[2]] = self.pend
        self.pend = pend
        self._big += [_EMPTY] * grow
        self._merging += [_EMPTY] * grow
        self._middle += [_EMPTY] * grow
        self._job += [None] * grow

    def reset(self) -> None:
        """Forget every instrument's entries (none is built)."""
        n = self.ok.shape[0]
        self.ok[:] = False
        self.fold[:] = False
        self.dead[:] = 0
        self.dead_seen[:] = 0
        self.p_n[:] = 0
        self.limit[:] = self._MIN_PENDING
        self._big = [_EMPTY] * n
        self._merging = [_EMPTY] * n
        self._middle = [_EMPTY] * n
        self._job = [None] * n
        self._active = []

    def size(self, i: int) -> int:
        """Entries of instrument ``i``, dead ones included."""
        return self._big[i].n + self._merging[i].n + self._middle[i].n + int(self.p_n[i])

    def levels(self, i: int) -> tuple[tuple, ...]:
        """Instrument ``i``'s sorted levels for the compiled passes (big, merging, middle), each
        ``(lo, lo's sub, lo's stamp, hi, hi's sub, hi's stamp, run bounds)``."""
        return self._big[i].kernel(), self._merging[i].kernel(), self._middle[i].kernel()

    def build(self, i: int, lo: np.ndarray, hi: np.ndarray, sub: np.ndarray, stamp: np.ndarray) -> None:
        """Instrument ``i``'s index from scratch: exactly these entries."""
        a = np.argsort(lo, kind="stable")
        b = np.argsort(hi, kind="stable")
        self._set(i, (lo[a], hi[a], sub[a], stamp[a]), (hi[b], sub[b], stamp[b]))

    def _set(self, i: int, by_lo: tuple, by_hi: tuple) -> None:
        """Instrument ``i``'s index: exactly these sorted entries, in its big level."""
        self._big[i] = _Level(by_lo, by_hi)
        self._merging[i] = _EMPTY
        self._middle[i] = _EMPTY
        if self._job[i] is not None:
            self._job[i] = None
            self._active.remove(i)
        self.p_n[i] = 0
        self.dead[i] = 0
        self.dead_seen[i] = 0
        self.fold[i] = False
        self._limits(i)
        self.ok[i] = True

    def _limits(self, i: int) -> None:
        """Instrument ``i``'s pending limit from its big level's size, and room for it."""
        n = self._big[i].n
        self._big_n[i] = n
        self.limit[i] = max(self._MIN_PENDING, n // self._PENDING_SHARE)
        room = max(self._MIN_ROOM, self._ROOM_BUDGET // max(self.pend.shape[1], 1))
        need = min(2 * int(self.limit[i]) + 64, room)
        if need > self.pend.shape[2]:  # room for twice the limit (within the budget: past it, entries overflow into a run)
            pend = np.zeros((4, self.pend.shape[1], max(need, min(2 * self.pend.shape[2], room))), dtype=np.int64)
            pend[:, :, : self.pend.shape[2]] = self.pend
            self.pend = pend

    def _middle_limit(self, i: int) -> int:
        return max(4 * int(self.limit[i]), int(self._big_n[i]) // self._MIDDLE_SHARE)

    def _dead_limit(self, i: int) -> int:
        return max(self._MIN_PENDING, int(self._big_n[i]) // self._MIDDLE_SHARE)

    def compact(self, i: int, live_stamp: np.ndarray, extra: tuple | None = None) -> None:
        """Fold all of instrument ``i`` at once (its merging and middle levels, its pending
        entries and ``extra`` ones ``(lo, hi, sub, stamp)``, into its big level, the dead ones
        dropped: one merge, no full sort; any merge in progress is dropped)."""
        parts = [self._merging[i].entries(), self._middle[i].entries(), tuple(self.pend[c, i, : int(self.p_n[i])] for c in range(4))]
        if extra is not None:
            parts.append(extra)
        new = tuple(np.concatenate(col) for col in zip(*parts, strict=True))
        big = self._big[i]
        self.folds += 1
        by_lo, by_hi = _fold_both((big.lo, big.lo_hi, big.lo_s, big.lo_t), (big.hi, big.hi_s, big.hi_t), new, live_stamp)
        self._set(i, by_lo, by_hi)

    def _add_run(self, i: int, live_stamp: np.ndarray, extra: tuple | None = None) -> None:
        """Instrument ``i``'s pending entries (and ``extra`` ones), the live ones sorted, as a new
        run at the end of its middle level (O(k log k) for k entries; nothing else moves)."""
        k = int(self.p_n[i])
        cols = tuple(self.pend[c, i, :k] for c in range(4))
        if extra is not None:
            cols = tuple(np.concatenate((a, b)) for a, b in zip(cols, extra, strict=True))
        lo, hi, sub, t = cols
        live = (t >= 0) & (t == live_stamp[sub])
        lo, hi, sub, t = lo[live], hi[live], sub[live], t[live]
        self.p_n[i] = 0
        if not lo.size:
            return
        mid = self._middle[i]
        n = mid.n
        if mid is _EMPTY or n + lo.size > mid.lo.shape[0]:  # a new buffer: room for the middle's limit and a run past it
            cap = max(self._middle_limit(i) + self.pend.shape[2] + 64, 2 * (n + lo.size))
            cols = [np.empty(cap, dtype=np.int64) for _ in range(7)]
            for c, old in zip(cols, (mid.lo, mid.lo_hi, mid.lo_s, mid.lo_t, mid.hi, mid.hi_s, mid.hi_t), strict=True):
                c[:n] = old[:n]
            mid = _Level(tuple(cols[:4]), tuple(cols[4:]), mid.bounds)
        m = n + lo.size
        a = np.argsort(lo)
        mid.lo[n:m], mid.lo_hi[n:m], mid.lo_s[n:m], mid.lo_t[n:m] = lo[a], hi[a], sub[a], t[a]
        b = np.argsort(hi)
        mid.hi[n:m], mid.hi_s[n:m], mid.hi_t[n:m] = hi[b], sub[b], t[b]
        mid.bounds = mid.bounds_hi = np.append(mid.bounds, m)  # a middle run's copies have the same entries
        self._middle[i] = mid
        self.runs += 1

    def _start(self, i: int, live_stamp: np.ndarray) -> None:
        """Freeze instrument ``i``'s middle (its pending entries added as a last run) as the
        merging level and start merging it into the big level (a merge still running is finished
        first: the middle filled faster than the steps merged)."""
        if self._job[i] is not None:
            self.forced += 1
            self._advance(i, 1 << 62, live_stamp)
        if self.p_n[i]:
            self._add_run(i, live_stamp)
        mid = self._middle[i]
        self._merging[i] = mid
        self._middle[i] = _EMPTY
        big = self._big[i]
        pieces = [((big.lo, big.lo_hi, big.lo_s, big.lo_t), (big.hi, big.hi_s, big.hi_t))]
        pieces += [mid.run(r) for r in range(mid.bounds.shape[0] - 1)]
        if len(pieces) == 1:  # an empty middle (the merge is for the dead entries): the big level filtered
            pieces.append(((_Z, _Z, _Z, _Z), (_Z, _Z, _Z)))
        self._job[i] = _Merge(pieces)
        self._active.append(i)
        self.dead[i] = 0
        self.dead_seen[i] = 0

    def _advance(self, i: int, budget: int, live_stamp: np.ndarray) -> int:
        """Up to ``budget`` entries (per sorted copy) of instrument ``i``'s merge; when it ends,
        its result becomes the big level. Returns the entries consumed."""
        job = self._job[i]
        used = 0
        while used < budget:
            if job.pair is None:
                if len(job.pieces) == 1:
                    by_lo, by_hi = job.pieces[0]
                    self._big[i] = _Level(by_lo, by_hi)
                    self._merging[i] = _EMPTY
                    self._job[i] = None
                    self._active.remove(i)
                    self.merges += 1
                    self._limits(i)
                    break
                job.pieces.sort(key=lambda p: p[0][0].shape[0])  # the two smallest first: the fewest moves in all
                job.pair = (job.pieces.pop(0), job.pieces.pop(0))
                m = job.pair[0][0][0].shape[0] + job.pair[1][0][0].shape[0]
                job.out_lo = tuple(np.empty(m, dtype=np.int64) for _ in range(4))
                m = job.pair[0][1][0].shape[0] + job.pair[1][1][0].shape[0]
                job.out_hi = tuple(np.empty(m, dtype=np.int64) for _ in range(3))
                job.cur_lo = np.zeros(3, dtype=np.int64)
                job.cur_hi = np.zeros(3, dtype=np.int64)
            (a_lo, a_hi), (b_lo, b_hi) = job.pair
            k = budget - used
            o = job.out_lo
            u = _merge_step(a_lo[0], a_lo[2], a_lo[3], a_lo[1], b_lo[0], b_lo[2], b_lo[3], b_lo[1], o[0], o[2], o[3], o[1],
                            job.cur_lo, k, live_stamp)
            o = job.out_hi
            u = max(u, _merge_step(a_hi[0], a_hi[1], a_hi[2], _Z, b_hi[0], b_hi[1], b_hi[2], _Z, o[0], o[1], o[2], _Z,
                                   job.cur_hi, k, live_stamp))
            used += u
            n_lo, n_hi = a_lo[0].shape[0] + b_lo[0].shape[0], a_hi[0].shape[0] + b_hi[0].shape[0]
            if job.cur_lo[0] + job.cur_lo[1] == n_lo and job.cur_hi[0] + job.cur_hi[1] == n_hi:
                r, r2 = int(job.cur_lo[2]), int(job.cur_hi[2])
                job.pieces.append((tuple(c[:r] for c in job.out_lo), tuple(c[:r2] for c in job.out_hi)))
                job.pair = None
        self.merged += used
        return used

    def append(self, i: int, lo, hi, sub, stamp, live_stamp: np.ndarray) -> None:
        """Add entries to built instrument ``i`` from Python (the compiled passes append
        themselves): pending while there is room, then a new run."""
        lo, hi, sub, stamp = (np.atleast_1d(np.asarray(x, dtype=np.int64)) for x in (lo, hi, sub, stamp))
        n0 = int(self.p_n[i])
        k = min(int(lo.size), self.pend.shape[2] - n0)
        for c, col in enumerate((lo, hi, sub, stamp)):
            self.pend[c, i, n0 : n0 + k] = col[:k]
        self.p_n[i] = n0 + k
        if k < lo.size or self.p_n[i] > self.limit[i]:
            self.fold[i] = True
        ov = (np.full(lo.size - k, i, dtype=np.int64), lo[k:], hi[k:], sub[k:], stamp[k:])
        self.settle(ov, live_stamp)

    def settle(self, overflow: tuple, live_stamp: np.ndarray) -> None:
        """After a compiled pass appended entries (or a tick's scan met dead ones): the pending
        entries of the instruments it flagged past their limit (with the entries that did not fit,
        ``overflow``: ``(instr, lo, hi, sub, stamp)``) become a middle run; a middle past its limit,
        or an index with many dead entries, starts a merge into the big level; then, at every
        :attr:`STEP_EVERY`-th call while merges are in progress, one step of ``STEP_EVERY·STEP`` entries. The per-call work is bounded apart from a
        run's sort: no whole fold (unless a middle fills before its last merge ended)."""
        ov_i, ov_lo, ov_hi, ov_s, ov_t = overflow
        for i in np.flatnonzero(self.fold).tolist():
            self.fold[i] = False
            extra = None
            if ov_i.size:
                sel = ov_i == i
                if sel.any():
                    extra = (ov_lo[sel], ov_hi[sel], ov_s[sel], ov_t[sel])
            if extra is not None or self.p_n[i] > self.limit[i]:
                self._add_run(i, live_stamp, extra)
            full = self._middle[i].n > self._middle_limit(i)
            dead = self.dead[i] > self._dead_limit(i) or self.dead_seen[i] > max(DEAD_SCAN, 2 * self._dead_limit(i))
            if full or (dead and self._job[i] is None):
                self._start(i, live_stamp)
        if self._active:
            self._settles += 1
            if self._settles >= self.STEP_EVERY:
                self._settles = 0
                self.step(live_stamp, self.STEP_EVERY * self.STEP)

    def step(self, live_stamp: np.ndarray, budget: int = 0) -> None:
        """One bounded step (``budget`` entries per sorted copy, :attr:`STEP` if 0, over all
        instruments) of the merges in progress."""
        if not self._active:
            return
        t0 = time.perf_counter()
        budget = budget or self.STEP
        for i in list(self._active):
            budget -= self._advance(i, budget, live_stamp)
            if budget <= 0:
                break
        self.step_max_s = max(self.step_max_s, time.perf_counter() - t0)

    def finish(self, live_stamp: np.ndarray) -> None:
        """Every merge in progress run to its end (checks, benchmarks)."""
        for i in list(self._active):
            self._advance(i, 1 << 62, live_stamp)

    def triggered(self, i: int, price: int, stamp: np.ndarray, seen: np.ndarray, tick: int) -> np.ndarray:
        """Sub-accounts with a live entry in instrument ``i`` whose band does not contain
        ``price``, sorted (``seen`` / ``tick``: a per-sub-account scratch array and a value not
        used in it before, which drop the repeats)."""
        out, dead, hits = triggered_unsorted(np.int64(price), i, self.levels(i), self.pend, self.p_n, stamp, seen, np.int64(tick))
        out.sort()
        self.dead_seen[i] += dead
        if self.dead_seen[i] > max(DEAD_SCAN, 2 * self.limit[i]):
            self.fold[i] = True
        self._hits = (i, hits)
        return out

    def kill_hits(self, stamp: np.ndarray) -> None:
        """:func:`kill_hits` for the last :meth:`triggered` (once its sub-accounts have new bands)."""
        i, hits = self._hits
        kill_hits(hits, i, stamp, self.levels(i), self.pend)

    def live_entries(self, i: int, live_stamp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(lo, hi, sub, stamp) of instrument ``i``'s live entries, sorted by sub-account (checks)."""
        n = int(self.p_n[i])
        parts = [self._big[i].entries(), self._merging[i].entries(), self._middle[i].entries(),
                 tuple(self.pend[c, i, :n] for c in range(4))]
        lo, hi, sub, t = (np.concatenate(col) for col in zip(*parts, strict=True))
        live = t == live_stamp[sub]
        order = np.argsort(sub[live], kind="stable")
        return lo[live][order], hi[live][order], sub[live][order], t[live][order]


__all__ = ["ABOVE", "DEAD_SCAN", "kill_hits", "ALWAYS", "BELOW", "KIND_NAMES", "NEVER", "SOLVENT", "SlackIndex", "band_subs", "band_violations", "holder_entries",
           "triggered_unsorted"]
