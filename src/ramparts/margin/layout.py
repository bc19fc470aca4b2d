"""The compact layouts the margin kernels read, and the plain-numpy re-margin that checks them.

This module owns

* :class:`TierTables`, every instrument's margin schedule packed into flat arrays (the brackets of
  :class:`~ramparts.margin.schedule.MarginSchedule`, deduplicated, with a bit-length look-up table);
* :class:`AccountBook`, an **account-major CSR** layout of positions: ``offsets`` (int64,
  ``n_accounts + 1``), per position ``instr`` (int32) and ``lots`` (int64), per account ``cash``
  (int64, the equity at all marks zero): 12 bytes a position plus 16 an account;
* :class:`RemarginResult`, equity, initial and maintenance margin and the breach list per account;
* :func:`remargin_reference`, the pure-numpy full re-margin: the plain twin of the compiled kernels
  of :mod:`ramparts.engine.kernels` (it uses ``np.searchsorted`` for the brackets and always the exact
  ``q/r`` split of :mod:`ramparts.margin.vectorised`, so it shares no code with them; the tests hold
  the two equal).

.. math::

    equity_a = cash_a + \\sum_{p \\in a} lots_p \\cdot mark_{instr_p}, \\qquad
    MM_a = \\sum_{p \\in a} \\lceil (N_p \\cdot rate_k - C_k) / 10^6 \\rceil,\\; N_p = |lots_p| \\cdot mark_{instr_p}

with the bracket ``k`` of ``N_p`` and the size premium where the schedule has one (Binance's
notional × MMR − maintenance amount; :mod:`ramparts.margin.schedule` cites the sources). Units are
those of :mod:`ramparts.fixedpoint`. The compiled kernels, the liquidation-price index and the
margin-slack index that read these layouts are the engine's (:mod:`ramparts.engine.kernels`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

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




def _raise_bad(book: AccountBook, marks: np.ndarray, p: int) -> None:
    a = int(np.searchsorted(book.offsets, p, side="right") - 1)
    i = int(book.instr[p])
    raise InvalidInput(
        "marks",
        f"position {p} (account {a}, instrument {i}, {int(book.lots[p])} lots) at mark {int(marks[i])} "
        f"exceeds the notional limit {MAX_NOTIONAL}",
    )


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
    "TierTables",
    "remargin_reference",
]
