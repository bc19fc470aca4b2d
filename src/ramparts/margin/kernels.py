"""Fused numba kernels for re-margining whole books of accounts, and the compact layout they read.

This module owns

* :class:`TierTables`, every instrument's margin schedule packed into flat arrays;
* :class:`AccountBook`, an **account-major CSR** layout of the positions: ``offsets`` (int64,
  ``n_accounts + 1``), per position ``instr`` (int32) and ``lots`` (int64), and per account
  ``cash`` (int64): 12 bytes per position plus 16 bytes per account;
* :func:`remargin_accounts`, one fused parallel pass over every account computing equity,
  initial and maintenance margin and the breach list (``equity < maintenance``);
* :func:`remargin_subset`, the same for a set of accounts, in place, returning those that newly
  breach;
* :func:`tick_holders`, the incremental re-margin of an instrument's holders after its mark
  moved (one delta per position) on a dense per-account state (:func:`dense_state`);
* :func:`position_requirements`, the per-position requirements (no sums), e.g. to seed caches;
* :func:`remargin_reference`, a pure-numpy implementation that checks the kernels;
* :func:`maintenance_at`, the scalar maintenance requirement the liquidation-price index
  (:mod:`ramparts.margin.liquidation_index`) solves against.

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

import numbers
from dataclasses import dataclass
from decimal import Decimal

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.schedule import MarginSchedule

#: Largest notional whose ``N × rate_ppm`` fits in int64 for any rate ≤ 100 % (the fast path).
FAST_NOTIONAL = (2**63 - 1) // PPM
#: Largest ``|cash|`` an account of an :class:`AccountBook` may hold, quote base units.
MAX_CASH = 10**18
#: Most positions one account of an :class:`AccountBook` may hold.
MAX_POSITIONS_PER_ACCOUNT = 1024
_INT64_MAX = 2**63 - 1
_U = np.uint64  # unsigned indices: numba emits no negative-index wrap-around for them


# ============================================================================== layouts
@dataclass(frozen=True, eq=False)
class TierTables:
    """Every instrument's margin schedule as flat arrays (read by the kernels).

    Two views are kept. The *plain* one has one row per bracket per instrument, instrument
    ``i``'s brackets at rows ``tier_off[i] : tier_off[i+1]`` (read by
    :func:`remargin_reference` only). The *padded* one, read by the kernels, is per **distinct**
    schedule (venues reuse a handful of tier tables across many instruments, and the kernels'
    tables must stay in L1): instrument ``i`` uses schedule ``sched_of[i]``, whose brackets start at
    row ``row_base[s]`` and are followed by a sentinel row (floor ``2^63−1``).

    Attributes
    ----------
    tier_off : numpy.ndarray[int64]
        ``n_instruments + 1`` offsets into the plain per-bracket arrays.
    floors, im_rate, mm_rate : numpy.ndarray[int64]
        Plain view: bracket floors (quote base units) and initial / maintenance rates (ppm).
    im_cum_q, im_cum_r, mm_cum_q, mm_cum_r : numpy.ndarray[int64]
        Plain view: the scaled amounts ``C_k = cum_q·10^6 + cum_r`` (``0 ≤ cum_r < 10^6``).
    sched_of : numpy.ndarray[int64]
        Per instrument: index of its distinct schedule.
    row_base : numpy.ndarray[int64]
        Per distinct schedule: its first padded row.
    row_floor : numpy.ndarray[int64]
        Padded view: floors, ``2^63−1`` on each sentinel row.
    row_coef : numpy.ndarray[int64]
        Padded view, 4 per row: ``im_rate, C_im, mm_rate, C_mm`` with the amounts clipped to
        ``2^63−1`` (the fast path never reaches a bracket whose amount does not fit).
    row_split : numpy.ndarray[int64]
        Padded view, 4 per row: ``im_cum_q, im_cum_r, mm_cum_q, mm_cum_r`` (the exact path).
    bucket : numpy.ndarray[int64]
        ``64 × 2`` per distinct schedule, per bit length ``b`` of the notional: the padded row
        ``k`` of the bracket holding the smallest notional of that bit length and the next floor
        ``floor_{k+1}``; or ``(~k, 0)`` when two or more floors fall within that bit length (see
        the module docstring).
    fast_limit : numpy.ndarray[int64]
        Per distinct schedule: ``FAST_NOTIONAL``, or ``-1`` when a size premium forces the exact
        path.
    spp, im_base, mm_base : numpy.ndarray[int64]
        Per distinct schedule: size premium (ppm per √unit, 0 = off) and the bracket-0 rates it
        scales.
    lot_underlying : numpy.ndarray[float64]
        Per instrument: units of the underlying in one lot (read only where ``spp > 0``).
    """

    tier_off: np.ndarray
    floors: np.ndarray
    im_rate: np.ndarray
    mm_rate: np.ndarray
    im_cum_q: np.ndarray
    im_cum_r: np.ndarray
    mm_cum_q: np.ndarray
    mm_cum_r: np.ndarray
    sched_of: np.ndarray
    row_base: np.ndarray
    row_floor: np.ndarray
    row_coef: np.ndarray
    row_split: np.ndarray
    bucket: np.ndarray
    fast_limit: np.ndarray
    spp: np.ndarray
    im_base: np.ndarray
    mm_base: np.ndarray
    lot_underlying: np.ndarray

    @classmethod
    def from_schedules(cls, schedules, lot_underlying=None) -> TierTables:
        """Pack a sequence of :class:`MarginSchedule` (instrument ``i`` = ``schedules[i]``).

        Equal schedules (same tiers and size premium) share one set of padded rows.

        Parameters
        ----------
        schedules : sequence of MarginSchedule
            One per instrument, in instrument-index order.
        lot_underlying : sequence of Decimal or float, optional
            Units of the underlying per lot, per instrument; required (``> 0``) for every
            instrument whose schedule has a size premium. ``float(value)`` is used, as
            :class:`~ramparts.margin.models.TieredMarginModel` does.

        Raises
        ------
        InvalidInput
            An empty sequence, a non-schedule, a length mismatch, or a missing / non-positive lot
            size where a size premium needs it.
        """
        schedules = list(schedules)
        if not schedules:
            raise InvalidInput("schedules", "expected at least one MarginSchedule")
        for i, s in enumerate(schedules):
            if not isinstance(s, MarginSchedule):
                raise InvalidInput(f"schedules[{i}]", f"expected a MarginSchedule, got {type(s).__name__}")
        n = len(schedules)
        if lot_underlying is None:
            lu = [0.0] * n
        else:
            lu = list(lot_underlying)
            if len(lu) != n:
                raise InvalidInput("lot_underlying", f"{len(lu)} lot sizes for {n} schedules")
            for i, v in enumerate(lu):
                if isinstance(v, bool) or not isinstance(v, (numbers.Real, Decimal)):
                    raise InvalidInput(f"lot_underlying[{i}]", f"expected a number, got {type(v).__name__}")
            lu = [float(v) for v in lu]
        for i, s in enumerate(schedules):
            if s.size_premium_ppm and not (lu[i] > 0 and np.isfinite(lu[i])):
                raise InvalidInput(f"lot_underlying[{i}]", "a schedule with a size premium needs a positive lot size")

        # plain view: per instrument
        off, floors, imr, mmr, imc, mmc = [0], [], [], [], [], []
        for s in schedules:
            floors += [t.notional_floor for t in s.tiers]
            imr += [t.initial_rate_ppm for t in s.tiers]
            mmr += [t.maintenance_rate_ppm for t in s.tiers]
            imc += list(s.im_cum_scaled)
            mmc += list(s.mm_cum_scaled)
            off.append(off[-1] + len(s.tiers))
        # padded view: per distinct schedule
        distinct: dict[tuple, int] = {}
        sched_of, uniq = [], []
        for s in schedules:
            key = (tuple(map(tuple, s.to_dict()["tiers"])), s.size_premium_ppm)
            if key not in distinct:
                distinct[key] = len(uniq)
                uniq.append(s)
            sched_of.append(distinct[key])
        row_base, row_floor, row_coef, row_split, bucket = [], [], [], [], []
        for s in uniq:
            base = len(row_floor)
            row_base.append(base)
            for t, ci, cm in zip(s.tiers, s.im_cum_scaled, s.mm_cum_scaled, strict=True):
                row_floor.append(t.notional_floor)
                row_coef += [t.initial_rate_ppm, min(ci, _INT64_MAX), t.maintenance_rate_ppm, min(cm, _INT64_MAX)]
                row_split += [ci // PPM, ci % PPM, cm // PPM, cm % PPM]
            row_floor.append(_INT64_MAX)  # the sentinel row
            row_coef += [0, 0, 0, 0]
            row_split += [0, 0, 0, 0]
            fl = np.array([t.notional_floor for t in s.tiers] + [_INT64_MAX], dtype=np.int64)
            for b in range(64):
                lo, hi = (0, 0) if b == 0 else (2 ** (b - 1), 2**b - 1)  # the notionals of bit length b
                k = int(np.searchsorted(fl, lo, side="right")) - 1
                inside = int(np.searchsorted(fl, hi, side="right")) - 1 - k  # floors in (lo, hi]
                if inside <= 1:
                    bucket += [base + k, int(fl[k + 1])]
                else:
                    bucket += [~(base + k), 0]

        def arr(values, dtype=np.int64) -> np.ndarray:
            a = np.array(values, dtype=dtype)
            a.setflags(write=False)
            return a

        return cls(
            tier_off=arr(off),
            floors=arr(floors),
            im_rate=arr(imr),
            mm_rate=arr(mmr),
            im_cum_q=arr([c // PPM for c in imc]),
            im_cum_r=arr([c % PPM for c in imc]),
            mm_cum_q=arr([c // PPM for c in mmc]),
            mm_cum_r=arr([c % PPM for c in mmc]),
            sched_of=arr(sched_of),
            row_base=arr(row_base),
            row_floor=arr(row_floor),
            row_coef=arr(row_coef),
            row_split=arr(row_split),
            bucket=arr(bucket),
            fast_limit=arr([-1 if s.size_premium_ppm else FAST_NOTIONAL for s in uniq]),
            spp=arr([s.size_premium_ppm for s in uniq]),
            im_base=arr([s.tiers[0].initial_rate_ppm for s in uniq]),
            mm_base=arr([s.tiers[0].maintenance_rate_ppm for s in uniq]),
            lot_underlying=arr(lu, np.float64),
        )

    @property
    def n_instruments(self) -> int:
        return int(self.tier_off.shape[0] - 1)

    @property
    def nbytes(self) -> int:
        """Bytes of every array (a few KB per hundred instruments)."""
        return sum(getattr(self, f).nbytes for f in self.__dataclass_fields__)

    def _args(self) -> tuple:
        """The arrays in the order the kernels take them."""
        return (self.sched_of, self.row_floor, self.row_coef, self.row_split, self.bucket, self.fast_limit,
                self.spp, self.im_base, self.mm_base, self.lot_underlying)  # fmt: skip


def _int_array(value, field: str, ndim: int = 1) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise InvalidInput(field, f"expected an integer array, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise InvalidInput(field, f"expected a {ndim}-d array, got shape {a.shape}")
    return a


@dataclass(frozen=True, eq=False)
class AccountBook:
    """The account-major CSR layout of positions the kernels read.

    Attributes
    ----------
    offsets : numpy.ndarray[int64]
        ``n_accounts + 1`` non-decreasing offsets from 0: account ``a``'s positions are rows
        ``offsets[a] : offsets[a+1]``.
    instr : numpy.ndarray[int32]
        Instrument index of each position, ``0 ≤ instr < n_instruments``, distinct within an
        account.
    lots : numpy.ndarray[int64]
        Signed size of each position in lots (long > 0; 0 = flat, which requires nothing).
    cash : numpy.ndarray[int64]
        Per account, the equity at all marks zero (``sub_cash − sub_cost`` for the engine; see
        the module docstring).
    n_instruments : int
        Number of instruments the ``instr`` column indexes.

    Build one with :meth:`from_arrays` (validated CSR) or :meth:`from_positions` (rows in any
    order). Arrays of the right dtype are not copied: the kernels read them in place, so
    ``lots`` and ``cash`` may be updated in place between calls (keep the bounds).
    """

    offsets: np.ndarray
    instr: np.ndarray
    lots: np.ndarray
    cash: np.ndarray
    n_instruments: int

    @classmethod
    def from_arrays(cls, offsets, instr, lots, cash, n_instruments: int, *, validate: bool = True) -> AccountBook:
        """Wrap CSR arrays, checking every bound the kernels rely on.

        Parameters
        ----------
        offsets, instr, lots, cash : array-like of ints
            See the class attributes.
        n_instruments : int
            Number of instruments (``instr`` must be below it).
        validate : bool, default True
            Check lengths, bounds and the uniqueness of instruments within an account (an
            ``O(P log P)`` sort); ``False`` only converts dtypes, for trusted callers.

        Raises
        ------
        InvalidInput
            Non-integer arrays, mismatched lengths, offsets not starting at 0 / decreasing / not
            ending at the number of positions, an instrument out of range or repeated within an
            account, ``|lots| > MAX_NOTIONAL``, ``|cash| > MAX_CASH``, or more than
            ``MAX_POSITIONS_PER_ACCOUNT`` positions in an account.
        """
        if isinstance(n_instruments, bool) or not isinstance(n_instruments, numbers.Integral) or n_instruments < 1:
            raise InvalidInput("n_instruments", f"expected a positive int, got {n_instruments!r}")
        n_instruments = int(n_instruments)
        offsets = _int_array(offsets, "offsets")
        instr = _int_array(instr, "instr")
        lots = _int_array(lots, "lots")
        cash = _int_array(cash, "cash")
        if offsets.shape[0] != cash.shape[0] + 1:
            raise InvalidInput("offsets", f"expected n_accounts + 1 = {cash.shape[0] + 1} offsets, got {offsets.shape[0]}")
        if instr.shape[0] != lots.shape[0]:
            raise InvalidInput("lots", f"length {lots.shape[0]} differs from the length of instr {instr.shape[0]}")
        if validate:
            if offsets[0] != 0:
                raise InvalidInput("offsets", f"must start at 0, got {int(offsets[0])}")
            if offsets[-1] != instr.shape[0]:
                raise InvalidInput("offsets", f"must end at the number of positions {instr.shape[0]}, got {int(offsets[-1])}")
            counts = np.diff(offsets.astype(np.int64))
            if counts.size and counts.min() < 0:
                raise InvalidInput("offsets", "must be non-decreasing")
            if counts.size and counts.max() > MAX_POSITIONS_PER_ACCOUNT:
                raise InvalidInput("offsets", f"an account holds {int(counts.max())} positions (at most {MAX_POSITIONS_PER_ACCOUNT})")
            if instr.size:
                lo, hi = int(instr.min()), int(instr.max())
                if lo < 0 or hi >= n_instruments:
                    raise InvalidInput("instr", f"instrument indices must lie in [0, {n_instruments}), got [{lo}, {hi}]")
                lmin, lmax = int(lots.min()), int(lots.max())
                if max(-lmin, lmax) > MAX_NOTIONAL:
                    raise InvalidInput("lots", f"|lots| exceeds the notional limit {MAX_NOTIONAL}")
            if cash.size and max(-int(cash.min()), int(cash.max())) > MAX_CASH:
                raise InvalidInput("cash", f"|cash| exceeds {MAX_CASH}")
            if instr.size:
                acct = np.repeat(np.arange(cash.shape[0], dtype=np.int64), counts)
                key = np.sort(acct * n_instruments + instr.astype(np.int64))
                if np.any(key[1:] == key[:-1]):
                    raise InvalidInput("instr", "an account holds the same instrument twice")
        return cls(
            offsets=np.ascontiguousarray(offsets, dtype=np.int64),
            instr=np.ascontiguousarray(instr, dtype=np.int32),
            lots=np.ascontiguousarray(lots, dtype=np.int64),
            cash=np.ascontiguousarray(cash, dtype=np.int64),
            n_instruments=n_instruments,
        )

    @classmethod
    def from_positions(cls, account, instr, lots, cash, n_instruments: int) -> AccountBook:
        """Build the CSR from position rows in any order (``account[p]`` owns row ``p``).

        ``cash`` has one entry per account; accounts without rows hold no positions. Raises
        :class:`~ramparts.errors.InvalidInput` as :meth:`from_arrays`, and for account indices
        outside ``[0, len(cash))``.
        """
        account = _int_array(account, "account")
        instr = _int_array(instr, "instr")
        lots = _int_array(lots, "lots")
        cash = _int_array(cash, "cash")
        if not (account.shape[0] == instr.shape[0] == lots.shape[0]):
            raise InvalidInput("lots", f"account, instr and lots have lengths {account.shape[0]}, {instr.shape[0]}, {lots.shape[0]}")
        if account.size and (account.min() < 0 or account.max() >= cash.shape[0]):
            raise InvalidInput("account", f"account indices must lie in [0, {cash.shape[0]})")
        order = np.argsort(account, kind="stable")
        counts = np.bincount(account, minlength=cash.shape[0]) if account.size else np.zeros(cash.shape[0], np.int64)
        offsets = np.zeros(cash.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return cls.from_arrays(offsets, instr[order], lots[order], cash, n_instruments)

    @property
    def n_accounts(self) -> int:
        return int(self.cash.shape[0])

    @property
    def n_positions(self) -> int:
        return int(self.instr.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the four arrays."""
        return self.offsets.nbytes + self.instr.nbytes + self.lots.nbytes + self.cash.nbytes

    def account_of_position(self) -> np.ndarray:
        """The owning account of every position row (int64, materialised: 8 bytes per row)."""
        return np.repeat(np.arange(self.n_accounts, dtype=np.int64), np.diff(self.offsets))


@dataclass(frozen=True, eq=False)
class RemarginResult:
    """Per-account output of :func:`remargin_accounts` (quote base units).

    Attributes
    ----------
    equity, im, mm : numpy.ndarray[int64]
        Equity, initial and maintenance margin.
    breach : numpy.ndarray[bool]
        ``equity < mm``.
    breached : numpy.ndarray[int64]
        Indices of the breached accounts, ascending.
    """

    equity: np.ndarray
    im: np.ndarray
    mm: np.ndarray
    breach: np.ndarray
    breached: np.ndarray

    @classmethod
    def empty(cls, n_accounts: int) -> RemarginResult:
        """Buffers for :func:`remargin_accounts`'s ``out`` (touched once, so no page faults later)."""
        z = np.zeros(n_accounts, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), np.zeros(n_accounts, dtype=np.bool_), np.zeros(0, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.equity.nbytes + self.im.nbytes + self.mm.nbytes + self.breach.nbytes + self.breached.nbytes


# ============================================================================== njit helpers
@intrinsic
def _clz64(typingctx, x):
    """Leading zeros of an int64 (64 for 0): LLVM's ``ctlz``, one ``lzcnt`` instruction."""
    sig = numba.types.int64(numba.types.int64)

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@numba.njit(cache=True, inline="always")
def _ceil_fast(x):
    """``⌈x / 10^6⌉`` for ``0 ≤ x < 2^63`` (unsigned: a multiply-high and a shift)."""
    return np.int64((_U(x) + _U(999_999)) // _U(1_000_000))


@numba.njit(cache=True)
def _ceil_ppm(x):
    """``⌈x / 10^6⌉`` for any int64 (floor division of the negation)."""
    return -((-x) // 1_000_000)


@numba.njit(cache=True)
def _split_req(n, rate, cq, cr):
    """``⌈(n·rate − C)/10^6⌉`` with ``C = cq·10^6 + cr``, exactly, for any ``n ≤ MAX_NOTIONAL``."""
    q = n // 1_000_000
    r = n - q * 1_000_000
    return (q * rate - cq) + _ceil_ppm(r * rate - cr)


@numba.njit(cache=True)
def _premium_rate(q_lots, spp, base, lot_u):
    """Size-premium rate, ppm: the IEEE operations of ``MarginSchedule.size_premium_rate_ppm``."""
    s = np.float64(q_lots) * lot_u
    p = np.ceil((4 * base) / 5 + spp * np.sqrt(s))
    if p > 1e6:
        p = 1e6
    return np.int64(p)


@numba.njit(cache=True)
def _exact_req(n, q_lots, im_rate, im_cq, im_cr, mm_rate, mm_cq, mm_cr, spp, im_base, mm_base, lot_u):
    """(initial, maintenance) of notional ``n`` on the exact path (split, then size premium).

    Scalars only: helpers that take arrays are written out inside the kernels instead, because
    numba's inliner wraps array arguments in reference counting (atomic operations per call).
    """
    rim = _split_req(n, im_rate, im_cq, im_cr)
    rmm = _split_req(n, mm_rate, mm_cq, mm_cr)
    if spp != 0:
        rim = max(rim, _split_req(n, _premium_rate(q_lots, spp, im_base, lot_u), 0, 0))
        rmm = max(rmm, _split_req(n, _premium_rate(q_lots, spp, mm_base, lot_u), 0, 0))
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


@numba.njit(cache=True)
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
@numba.njit(cache=True, parallel=True)
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


@numba.njit(cache=True, parallel=True)
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


@numba.njit(cache=True)
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


@numba.njit(cache=True)
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
# The search behind ramparts.margin.liquidation_index.single_liquidation_prices. It lives here, next
# to the requirement code it calls, because numba's on-disk cache of a function is invalidated only
# by changes to its own source file: a kernel in another module would keep inlining a stale copy.
@numba.njit(cache=True)
def _safe(p, lots, q_lots, cash, i, sched_of, row_floor, row_coef, row_split, bucket, fast_limit, spp, im_base, mm_base, lot_u):
    return cash + lots * p >= maintenance_at(q_lots * p, q_lots, i, sched_of, row_floor, row_coef, row_split, bucket,
                                             fast_limit, spp, im_base, mm_base, lot_u)  # fmt: skip


@numba.njit(cache=True)
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


@numba.njit(cache=True)
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
def _check_marks(marks, tables: TierTables) -> tuple[np.ndarray, np.ndarray]:
    """Validated int64 marks and the per-instrument ``MAX_NOTIONAL // mark`` lot caps."""
    m = _int_array(marks, "marks")
    if m.shape[0] != tables.n_instruments:
        raise InvalidInput("marks", f"expected {tables.n_instruments} marks (one per instrument), got {m.shape[0]}")
    m = np.ascontiguousarray(m, dtype=np.int64)
    if m.size and m.min() <= 0:
        raise InvalidInput("marks", f"prices must be positive, got {int(m.min())}")
    if m.size and m.max() > MAX_NOTIONAL:
        raise InvalidInput("marks", f"{int(m.max())} exceeds the notional limit {MAX_NOTIONAL}")
    return m, MAX_NOTIONAL // m


def _check_pair(book: AccountBook, tables: TierTables) -> None:
    if not isinstance(book, AccountBook):
        raise InvalidInput("book", f"expected an AccountBook, got {type(book).__name__}")
    if not isinstance(tables, TierTables):
        raise InvalidInput("tables", f"expected TierTables, got {type(tables).__name__}")
    if book.n_instruments != tables.n_instruments:
        raise InvalidInput("tables", f"{tables.n_instruments} schedules for a book over {book.n_instruments} instruments")


def _buffer(value, name: str, n: int, dtype) -> np.ndarray:
    if value is None:
        return np.empty(n, dtype=dtype)
    if not isinstance(value, np.ndarray) or value.shape != (n,) or value.dtype != dtype or not value.flags.c_contiguous:
        raise InvalidInput(name, f"expected a contiguous {np.dtype(dtype).name} array of length {n}")
    return value


def _raise_bad(book: AccountBook, marks: np.ndarray, p: int) -> None:
    a = int(np.searchsorted(book.offsets, p, side="right") - 1)
    i = int(book.instr[p])
    raise InvalidInput(
        "marks",
        f"position {p} (account {a}, instrument {i}, {int(book.lots[p])} lots) at mark {int(marks[i])} "
        f"exceeds the notional limit {MAX_NOTIONAL}",
    )


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
    :class:`~ramparts.margin.liquidation_index.BreachTracker`) guarantees that the prices are
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


# ============================================================================== reference
def remargin_reference(book: AccountBook, tables: TierTables, marks) -> RemarginResult:
    """Pure-numpy full re-margin, the independent check of :func:`remargin_accounts`.

    It uses the plain bracket tables, ``np.searchsorted`` for the brackets and always the q/r
    split (never the fast path), so it shares no code with the kernel. Same inputs, outputs and
    errors as :func:`remargin_accounts`; about a microsecond per position.
    """
    _check_pair(book, tables)
    m, qmax = _check_marks(marks, tables)
    n = book.n_accounts
    acct = book.account_of_position()
    instr = book.instr.astype(np.int64)
    lots = book.lots
    q_lots = np.abs(lots)
    over = np.flatnonzero(q_lots > qmax[instr])
    if over.size:
        _raise_bad(book, m, int(over[0]))
    mark = m[instr]
    value = lots * mark
    notional = q_lots * mark
    k = np.empty(lots.shape[0], dtype=np.int64)
    order = np.argsort(instr, kind="stable")
    bounds = np.searchsorted(instr[order], np.arange(tables.n_instruments + 1))
    for i in range(tables.n_instruments):
        sel = order[bounds[i] : bounds[i + 1]]
        if sel.size:
            t0, t1 = int(tables.tier_off[i]), int(tables.tier_off[i + 1])
            k[sel] = t0 + np.searchsorted(tables.floors[t0:t1], notional[sel], side="right") - 1
    q, r = np.divmod(notional, np.int64(PPM))

    def ceil_ppm(x: np.ndarray) -> np.ndarray:
        return -((-x) // PPM)

    def req(rate: np.ndarray, cq: np.ndarray, cr: np.ndarray, base: np.ndarray) -> np.ndarray:
        out = (q * rate[k] - cq[k]) + ceil_ppm(r * rate[k] - cr[k])
        sched = tables.sched_of[instr]
        spp = tables.spp[sched]
        on = spp != 0
        if on.any():
            s = q_lots[on].astype(np.float64) * tables.lot_underlying[instr[on]]
            prem = np.ceil((4 * base[sched[on]]) / 5 + spp[on] * np.sqrt(s))
            p = np.minimum(prem, float(PPM)).astype(np.int64)
            out[on] = np.maximum(out[on], q[on] * p + ceil_ppm(r[on] * p))
        return out

    im_p = req(tables.im_rate, tables.im_cum_q, tables.im_cum_r, tables.im_base)
    mm_p = req(tables.mm_rate, tables.mm_cum_q, tables.mm_cum_r, tables.mm_base)
    equity = book.cash.astype(np.int64).copy()
    np.add.at(equity, acct, value)
    im = np.zeros(n, dtype=np.int64)
    mm = np.zeros(n, dtype=np.int64)
    np.add.at(im, acct, im_p)
    np.add.at(mm, acct, mm_p)
    breach = equity < mm
    return RemarginResult(equity, im, mm, breach, np.flatnonzero(breach))


__all__ = [
    "FAST_NOTIONAL",
    "MAX_CASH",
    "MAX_POSITIONS_PER_ACCOUNT",
    "AccountBook",
    "RemarginResult",
    "STATE_COLUMNS",
    "TierTables",
    "dense_state",
    "maintenance_at",
    "position_requirements",
    "remargin_accounts",
    "remargin_reference",
    "remargin_subset",
    "tick_holders",
]
