"""The ordered liquidation-price index: one oracle tick → the accounts that newly breach maintenance.

This module owns

* :func:`single_liquidation_prices`, the exact liquidation lot price of accounts whose whole
  exposure is one position (the numba search itself, ``_lp_kernel``, lives in
  :mod:`ramparts.engine.kernels` beside the requirement code it inlines, so that numba's on-disk
  cache is invalidated together with it);
* :class:`LiquidationIndex`, those accounts kept per instrument and side sorted by liquidation
  price, so that a tick ``p_old → p_new`` yields the newly breached ones with two
  ``np.searchsorted`` calls;
* :class:`BreachTracker`, the whole tick path: the index for single-instrument accounts plus the
  incremental kernel :func:`ramparts.engine.kernels.tick_holders` for the multi-instrument
  holders of the instrument (on a dense state of those accounts).

Why an index works
------------------
An account with one position of ``lots`` in instrument ``i`` and cash ``A`` (its equity at mark 0,
see :mod:`ramparts.engine.kernels`) has equity ``A + lots·P`` and requirement ``MM(|lots|·P)``
at lot price ``P``. With fixed cash, whether it breaches depends on ``P`` alone, and
monotonically: ``P − ⌈g(P)/10^6⌉`` with ``g`` the (convex, slope ≤ 10^6 per unit) scaled
requirement is non-decreasing, so a long is safe exactly at ``P ≥ LP`` and a short exactly at
``P ≤ LP``. The index stores ``LP``:

* long: the lowest safe lot price, rounded **up** (breach iff ``P < LP``);
* short: the highest safe lot price, rounded **down** (breach iff ``P > LP``).

A fall ``p_old → p_new`` newly breaches the longs with ``p_new < LP ≤ p_old``; a rise, the
shorts with ``p_old ≤ LP < p_new``: one contiguous slice of a sorted array each.

How the price is solved (tiers included)
----------------------------------------
The notional at the liquidation price decides the bracket, so the bracket is not known in
advance. As in :mod:`ramparts.margin.liquidation_price`, each bracket's line
``N·mmr_j − C_j`` (and the size premium's, whose rate is fixed by the size) gives a candidate,
and the envelope picks the consistent one: the largest candidate for a long, the smallest for a
short. The candidates are computed in float64 as a starting point only; the answer is then
pinned down by a galloping and bisecting search on the **exact integer predicate**
``A + lots·P ≥ MM(|lots|·P)``, evaluated with the very requirement code of the re-margin kernels
(:func:`ramparts.engine.kernels.maintenance_at`). The index therefore agrees with a brute-force
re-margin at every price, whatever the rounding of the float estimate (the tests check both that
and agreement with :func:`ramparts.margin.liquidation_price.liquidation_price`).

Prices are searched in ``[1, MAX_NOTIONAL // |lots|]``, the prices the engine accepts for that
position. Sentinels: a long unsafe even there gets ``LP = 2^63−1`` (always breached); a long safe
at price 1 gets ``1``; a short unsafe at price 1 gets ``0`` (always breached); a short safe at the
top gets ``2^63−1`` (never breached).

"Newly" means crossing: breached at ``p_new`` and not at ``p_old``. The engine's
``margin_called`` flag (which suppresses repeat calls) is the caller's business.
"""

from __future__ import annotations

import numbers

import numpy as np

from ramparts.engine.kernels import (
    _lp_kernel,
    dense_state,
    position_requirements,
    remargin_accounts,
    tick_holders,
)
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL
from ramparts.margin.layout import (
    MAX_CASH,
    AccountBook,
    RemarginResult,
    TierTables,
    _check_marks,
    _check_pair,
    _int_array,
)

_INT64_MAX = 2**63 - 1
LONG, SHORT = 0, 1


# ============================================================================== liquidation prices
def _int(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(field, f"expected an int, got {type(value).__name__} {value!r}")
    return int(value)


def single_liquidation_prices(tables: TierTables, instr, lots, cash) -> np.ndarray:
    """Exact liquidation lot prices of single-position accounts (see the module docstring).

    Parameters
    ----------
    tables : TierTables
        The instruments' schedules.
    instr, lots, cash : array-like of int, same length
        Per account: the instrument, the signed size in lots (``0 < |lots| ≤ MAX_NOTIONAL``) and
        the cash (equity at mark 0, ``|cash| ≤ MAX_CASH``).

    Returns
    -------
    numpy.ndarray[int64]
        Long: the lowest safe lot price (breach iff ``P < LP``); short: the highest safe one
        (breach iff ``P > LP``); with the sentinels of the module docstring.

    Raises
    ------
    InvalidInput
        Non-integer or mismatched arrays, an instrument out of range, a zero or oversized
        ``lots``, or an oversized ``cash``.
    """
    if not isinstance(tables, TierTables):
        raise InvalidInput("tables", f"expected TierTables, got {type(tables).__name__}")
    instr = _int_array(instr, "instr")
    lots = _int_array(lots, "lots")
    cash = _int_array(cash, "cash")
    if not (instr.shape[0] == lots.shape[0] == cash.shape[0]):
        raise InvalidInput("lots", f"instr, lots and cash have lengths {instr.shape[0]}, {lots.shape[0]}, {cash.shape[0]}")
    if instr.size:
        if instr.min() < 0 or instr.max() >= tables.n_instruments:
            raise InvalidInput("instr", f"instrument indices must lie in [0, {tables.n_instruments})")
        q = np.abs(lots.astype(np.int64))
        if q.min() == 0:
            raise InvalidInput("lots", "a single-position account needs a non-zero position")
        if q.max() > MAX_NOTIONAL:
            raise InvalidInput("lots", f"|lots| exceeds the notional limit {MAX_NOTIONAL}")
        if max(-int(cash.min()), int(cash.max())) > MAX_CASH:
            raise InvalidInput("cash", f"|cash| exceeds {MAX_CASH}")
    out = np.empty(instr.shape[0], dtype=np.int64)
    t = tables
    _lp_kernel(np.ascontiguousarray(instr, dtype=np.int64), np.ascontiguousarray(lots, dtype=np.int64),
               np.ascontiguousarray(cash, dtype=np.int64), t.row_base, t.sched_of, t.row_floor, t.row_coef, t.row_split,
               t.bucket, t.fast_limit, t.spp, t.im_base, t.mm_base, t.lot_underlying, out)  # fmt: skip
    return out


# ============================================================================== the index
class LiquidationIndex:
    """Single-position accounts, per instrument and side, sorted by liquidation price.

    Each of the ``2 × n_instruments`` buckets (``2·instr + side``, side 0 = long, 1 = short) is a
    sorted array of liquidation prices with the account ids and a generation number beside it,
    plus a small unsorted *pending* list of recent insertions. :meth:`update` and :meth:`remove`
    bump the account's generation (which makes its old entry stale) and append to the pending list;
    a bucket is re-sorted once its pending list or its stale count grows past a threshold, so an
    update costs amortised ``O(log n)`` and a query stays two binary searches plus a short scan.

    Build it with :meth:`build`. Memory: 24 bytes per indexed account in the buckets plus 21
    bytes per account (indexed or not) of per-account state.

    Parameters
    ----------
    tables : TierTables
        The instruments' schedules.
    n_accounts : int
        Size of the account-id space.
    """

    #: a bucket is re-sorted when its pending list exceeds max(_MIN_PENDING, size / 8)
    _MIN_PENDING = 64

    def __init__(self, tables: TierTables, n_accounts: int):
        if not isinstance(tables, TierTables):
            raise InvalidInput("tables", f"expected TierTables, got {type(tables).__name__}")
        n_accounts = _int(n_accounts, "n_accounts")
        if n_accounts < 0:
            raise InvalidInput("n_accounts", f"must be non-negative, got {n_accounts}")
        self.tables = tables
        self.n_accounts = n_accounts
        nb = 2 * tables.n_instruments
        self._where = np.full(n_accounts, -1, dtype=np.int32)  # bucket of the account, -1 = none
        self._lp = np.zeros(n_accounts, dtype=np.int64)
        self._gen = np.zeros(n_accounts, dtype=np.int64)
        empty = np.zeros(0, dtype=np.int64)
        self._b_lp = [empty] * nb
        self._b_acct = [empty] * nb
        self._b_gen = [empty] * nb
        self._p_lp: list[list[int]] = [[] for _ in range(nb)]
        self._p_acct: list[list[int]] = [[] for _ in range(nb)]
        self._p_gen: list[list[int]] = [[] for _ in range(nb)]
        self._stale = np.zeros(nb, dtype=np.int64)

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, book: AccountBook, tables: TierTables, accounts=None) -> LiquidationIndex:
        """Index every single-position account of ``book`` (or only those in ``accounts``).

        A *single-position* account holds exactly one row with non-zero lots (flat rows are
        ignored). Accounts of ``accounts`` that are not single-position are skipped.

        Parameters
        ----------
        book : AccountBook
            The positions and cash.
        tables : TierTables
            The schedules of the book's instruments.
        accounts : array-like of int, optional
            Restrict the index to these accounts.
        """
        _check_pair(book, tables)
        idx = cls(tables, book.n_accounts)
        acct = book.account_of_position()
        nz = np.flatnonzero(book.lots != 0)
        count = np.bincount(acct[nz], minlength=book.n_accounts)
        rows = nz[count[acct[nz]] == 1]
        if accounts is not None:
            keep = np.zeros(book.n_accounts, dtype=bool)
            keep[np.asarray(accounts, dtype=np.int64)] = True
            rows = rows[keep[acct[rows]]]
        a = acct[rows]
        instr = book.instr[rows].astype(np.int64)
        lots = book.lots[rows]
        lp = single_liquidation_prices(tables, instr, lots, book.cash[a])
        bucket = 2 * instr + (lots < 0)
        idx._where[a] = bucket
        idx._lp[a] = lp
        order = np.lexsort((lp, bucket))
        b_sorted = bucket[order]
        bounds = np.searchsorted(b_sorted, np.arange(2 * tables.n_instruments + 1))
        lp_s, a_s = lp[order], a[order]
        zeros = np.zeros(a_s.shape[0], dtype=np.int64)
        for b in range(2 * tables.n_instruments):
            s, e = bounds[b], bounds[b + 1]
            if e > s:
                idx._b_lp[b] = lp_s[s:e].copy()
                idx._b_acct[b] = a_s[s:e].copy()
                idx._b_gen[b] = zeros[s:e].copy()
        return idx

    # ------------------------------------------------------------------ mutation
    def _account(self, account) -> int:
        a = _int(account, "account")
        if not 0 <= a < self.n_accounts:
            raise InvalidInput("account", f"account {a} is outside [0, {self.n_accounts})")
        return a

    def _drop(self, a: int) -> None:
        b = int(self._where[a])
        if b >= 0:
            self._gen[a] += 1
            self._stale[b] += 1
            self._where[a] = -1
            self._maybe_compact(b)

    def remove(self, account: int) -> None:
        """Stop indexing ``account`` (a no-op if it is not indexed): it became flat or multi-instrument."""
        self._drop(self._account(account))

    def update(self, account: int, instr: int, lots: int, cash: int) -> int | None:
        """(Re-)index ``account`` as holding ``lots`` of ``instr`` with cash ``cash``.

        Call it whenever a single-position account's position or cash changes (fill, funding,
        fee, transfer). ``lots == 0`` removes it.

        Returns
        -------
        int or None
            The new liquidation price (``None`` when removed).

        Raises
        ------
        InvalidInput
            An account or instrument out of range, or out-of-bound lots or cash.
        """
        a = self._account(account)
        i = _int(instr, "instr")
        lots = _int(lots, "lots")
        cash = _int(cash, "cash")
        if not 0 <= i < self.tables.n_instruments:
            raise InvalidInput("instr", f"instrument {i} is outside [0, {self.tables.n_instruments})")
        if lots == 0:
            self._drop(a)
            return None
        lp = int(single_liquidation_prices(self.tables, np.array([i]), np.array([lots]), np.array([cash]))[0])
        b = 2 * i + (1 if lots < 0 else 0)
        self._drop(a)
        self._where[a] = b
        self._lp[a] = lp
        self._p_lp[b].append(lp)
        self._p_acct[b].append(a)
        self._p_gen[b].append(int(self._gen[a]))
        self._maybe_compact(b)
        return lp

    def _maybe_compact(self, b: int) -> None:
        limit = max(self._MIN_PENDING, self._b_lp[b].shape[0] // 8)
        if len(self._p_lp[b]) > limit or self._stale[b] > limit:
            self._compact(b)

    def _compact(self, b: int) -> None:
        lp = np.concatenate((self._b_lp[b], np.array(self._p_lp[b], dtype=np.int64)))
        acct = np.concatenate((self._b_acct[b], np.array(self._p_acct[b], dtype=np.int64)))
        gen = np.concatenate((self._b_gen[b], np.array(self._p_gen[b], dtype=np.int64)))
        live = self._gen[acct] == gen
        lp, acct, gen = lp[live], acct[live], gen[live]
        order = np.argsort(lp, kind="stable")
        self._b_lp[b], self._b_acct[b], self._b_gen[b] = lp[order], acct[order], gen[order]
        self._p_lp[b], self._p_acct[b], self._p_gen[b] = [], [], []
        self._stale[b] = 0

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return int((self._where >= 0).sum())

    def __contains__(self, account) -> bool:
        return 0 <= int(account) < self.n_accounts and self._where[int(account)] >= 0

    def liquidation_price(self, account: int) -> int | None:
        """The indexed liquidation price of ``account`` (``None`` if not indexed), with the sentinels."""
        a = self._account(account)
        return int(self._lp[a]) if self._where[a] >= 0 else None

    def newly_breached(self, instr: int, old_price: int, new_price: int) -> np.ndarray:
        """Indexed accounts that are safe at ``old_price`` and breach at ``new_price``.

        Parameters
        ----------
        instr : int
            The instrument whose mark moved.
        old_price, new_price : int
            Lot prices, ``1 ≤ price ≤ MAX_NOTIONAL``.

        Returns
        -------
        numpy.ndarray[int64]
            Account ids in liquidation-price order (longs when the price fell, shorts when it
            rose; empty when it did not move).

        Raises
        ------
        InvalidInput
            An instrument out of range, or a price that is not an int in ``[1, MAX_NOTIONAL]``.
        """
        i = _int(instr, "instr")
        if not 0 <= i < self.tables.n_instruments:
            raise InvalidInput("instr", f"instrument {i} is outside [0, {self.tables.n_instruments})")
        old = _int(old_price, "old_price")
        new = _int(new_price, "new_price")
        for name, p in (("old_price", old), ("new_price", new)):
            if not 1 <= p <= MAX_NOTIONAL:
                raise InvalidInput(name, f"must be a positive lot price ≤ {MAX_NOTIONAL}, got {p}")
        if new == old:
            return np.zeros(0, dtype=np.int64)
        if new < old:  # longs with new < LP <= old
            b = 2 * i
            lp = self._b_lp[b]
            lo, hi = np.searchsorted(lp, new, side="right"), np.searchsorted(lp, old, side="right")
        else:  # shorts with old <= LP < new
            b = 2 * i + 1
            lp = self._b_lp[b]
            lo, hi = np.searchsorted(lp, old, side="left"), np.searchsorted(lp, new, side="left")
        acct = self._b_acct[b][lo:hi]
        if self._stale[b]:
            acct = acct[self._gen[acct] == self._b_gen[b][lo:hi]]
        else:
            acct = acct.copy()
        if self._p_lp[b]:
            plp = np.array(self._p_lp[b], dtype=np.int64)
            pacct = np.array(self._p_acct[b], dtype=np.int64)
            pgen = np.array(self._p_gen[b], dtype=np.int64)
            hit = ((plp > new) & (plp <= old)) if new < old else ((plp >= old) & (plp < new))
            hit &= self._gen[pacct] == pgen
            if hit.any():
                acct = np.concatenate((acct, pacct[hit]))
        return acct

    @property
    def nbytes(self) -> int:
        """Bytes held: the buckets plus the per-account state (pending lists not counted)."""
        per_account = self._where.nbytes + self._lp.nbytes + self._gen.nbytes
        buckets = sum(x.nbytes for x in self._b_lp) + sum(x.nbytes for x in self._b_acct) + sum(x.nbytes for x in self._b_gen)
        return per_account + buckets


# ============================================================================== the tick path
class BreachTracker:
    """Oracle tick → newly breached accounts, for a whole book.

    Single-position accounts go through a :class:`LiquidationIndex` (two binary searches per
    tick). Multi-instrument accounts are renumbered densely and their equity, maintenance and
    initial margin kept in one ``(M, 4)`` int64 array (:func:`~ramparts.engine.kernels.dense_state`),
    exact from an initial :func:`~ramparts.engine.kernels.remargin_accounts`; each instrument has a
    contiguous holder list (lots, cached requirements, dense row, account id) of its
    multi-instrument holders, which
    :func:`~ramparts.engine.kernels.tick_holders` streams through on a tick. A tick therefore
    touches the index's slice, the instrument's holder list and one cache line per multi holder.

    Parameters
    ----------
    book : AccountBook
        The positions and cash. A snapshot: when positions or cash change, rebuild, or call
        :meth:`LiquidationIndex.update` for single-position accounts and refresh the rows of
        multi-instrument ones (see :meth:`refresh`).
    tables : TierTables
        The schedules.
    marks : array-like of int
        The current marks (copied).

    Attributes
    ----------
    marks : numpy.ndarray[int64]
        The marks after the last tick.
    index : LiquidationIndex
        The single-position accounts.
    multi_accounts : numpy.ndarray[int64]
        Account ids with two or more non-flat positions, ascending; row ``r`` of
        :attr:`multi_state` belongs to ``multi_accounts[r]``.
    multi_state : numpy.ndarray[int64], shape (M, 4)
        ``equity, mm, im, breached`` of the multi-instrument accounts at :attr:`marks`, exact.
    state : RemarginResult
        Every account at the marks of the last full re-margin (construction or :meth:`refresh`).
    """

    def __init__(self, book: AccountBook, tables: TierTables, marks):
        _check_pair(book, tables)
        m, _ = _check_marks(marks, tables)
        self.book = book
        self.tables = tables
        self.marks = m.copy()
        self.state: RemarginResult = remargin_accounts(book, tables, self.marks)
        acct = book.account_of_position()
        nz = np.flatnonzero(book.lots != 0)
        count = np.bincount(acct[nz], minlength=book.n_accounts)
        self.index = LiquidationIndex.build(book, tables)
        self.multi_accounts = np.flatnonzero(count >= 2).astype(np.int64)
        self.multi_state = dense_state(self.state, self.multi_accounts)
        row_of = np.full(book.n_accounts, -1, dtype=np.int64)
        row_of[self.multi_accounts] = np.arange(self.multi_accounts.size, dtype=np.int64)
        rows = nz[count[acct[nz]] >= 2]
        instr = book.instr[rows].astype(np.int64)
        order = np.argsort(instr, kind="stable")  # rows ascend, so accounts ascend within an instrument
        rows = rows[order]
        self.holder_lots = book.lots[rows].copy()
        im, mm = position_requirements(tables, book.instr[rows], self.holder_lots, self.marks)
        self.holder_req = np.stack((im, mm), axis=1)
        self.holder_acct = acct[rows]
        self.holder_row = row_of[self.holder_acct]
        self.holder_off = np.searchsorted(instr[order], np.arange(tables.n_instruments + 1)).astype(np.int64)
        self.max_lots = np.zeros(tables.n_instruments, dtype=np.int64)
        np.maximum.at(self.max_lots, book.instr.astype(np.int64), np.abs(book.lots))
        self._scratch = np.empty(int(np.diff(self.holder_off).max()), dtype=np.int64)

    def tick(self, instr: int, new_price: int) -> np.ndarray:
        """Move ``instr``'s mark to ``new_price``; return the accounts that newly breach, ascending.

        Raises
        ------
        InvalidInput
            An instrument out of range, a price outside ``[1, MAX_NOTIONAL]``, or one at which a
            holder's notional would exceed ``MAX_NOTIONAL`` (nothing is changed then).
        """
        i = _int(instr, "instr")
        if not 0 <= i < self.tables.n_instruments:
            raise InvalidInput("instr", f"instrument {i} is outside [0, {self.tables.n_instruments})")
        new = _int(new_price, "new_price")
        if not 1 <= new <= MAX_NOTIONAL:
            raise InvalidInput("new_price", f"must be a positive lot price ≤ {MAX_NOTIONAL}, got {new}")
        ml = int(self.max_lots[i])
        if ml and new > MAX_NOTIONAL // ml:
            raise InvalidInput("new_price", f"{new} would overflow the notional limit of a position of {ml} lots")
        old = int(self.marks[i])
        singles = self.index.newly_breached(i, old, new)
        s, e = self.holder_off[i], self.holder_off[i + 1]
        multi = tick_holders(self.tables, i, old, new, self.holder_lots[s:e], self.holder_row[s:e],
                             self.holder_acct[s:e], self.holder_req[s:e], self.multi_state, self._scratch)  # fmt: skip
        self.marks[i] = new
        if not multi.size:
            singles.sort()
            return singles
        out = np.concatenate((singles, multi))
        out.sort()
        return out

    def refresh(self) -> RemarginResult:
        """Full re-margin at the current marks: :attr:`state` and :attr:`multi_state` exact again."""
        self.state = remargin_accounts(self.book, self.tables, self.marks, out=self.state)
        self.multi_state = dense_state(self.state, self.multi_accounts)
        return self.state

    @property
    def nbytes(self) -> int:
        """Bytes of the tracker's own arrays (holder lists, dense state, index, full-state cache; not the book)."""
        return (self.holder_lots.nbytes + self.holder_req.nbytes + self.holder_acct.nbytes + self.holder_row.nbytes + self.holder_off.nbytes
                + self.max_lots.nbytes + self._scratch.nbytes + self.multi_accounts.nbytes + self.multi_state.nbytes
                + self.state.nbytes + self.index.nbytes)  # fmt: skip


__all__ = ["LONG", "SHORT", "BreachTracker", "LiquidationIndex", "single_liquidation_prices"]
