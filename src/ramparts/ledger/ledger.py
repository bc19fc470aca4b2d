"""The double-entry ledger: every movement of value is a balanced posting in integer base units.

Ledger accounts are keyed by

* an ``int``: a sub-account (its index in the engine), or
* a ``str`` naming a venue account:

  ``external``            the outside world: deposits come from it and withdrawals go to it, so its
                          balance is always ``−(deposits − withdrawals)``;
  ``fees``                trading fees and the venue's rounding residue;
  ``insurance:global``    the global insurance fund; ``insurance:<SYMBOL>`` a market's own fund;
  ``liquidator:<id>``     a liquidator's (keeper's) share of liquidation penalties;
  ``socialised_loss``     bad debt: it turns negative by the loss handed to a bankrupt account
                          and back towards zero as the loss is charged to others; a negative
                          balance here is the explicit record of unrecovered bad debt;
  ``vm:<SYMBOL>``         the clearing house's variation-margin settlement account of a market:
                          realised PnL of touched positions flows through it; it equals the
                          unrealised PnL still owed to or by untouched positions and is exactly
                          zero after a full settlement of the market.

Every posting sums to zero, so the sum of all balances of an asset is always zero and
``deposits − withdrawals = −external = Σ every other account``, the conservation identity the
tests check after every event. The settlement asset's sub-account balances are kept in a numpy
int64 array (``sub_cash``) so that the risk kernels read them without copies.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_BALANCE

LedgerKey = int | str

CATEGORIES = ("external", "balances", "insurance", "fees", "liquidators", "socialised_loss", "vm")


def category_of(key: LedgerKey) -> str:
    """The reporting category of a ledger account key (sub-accounts are ``balances``)."""
    if isinstance(key, int):
        return "balances"
    head = key.split(":", 1)[0]
    return {
        "external": "external",
        "fees": "fees",
        "insurance": "insurance",
        "liquidator": "liquidators",
        "socialised_loss": "socialised_loss",
        "vm": "vm",
    }.get(head, "other")


class Ledger:
    """Balances per (asset, ledger account), changed only by balanced postings."""

    def __init__(self, settlement_asset: str, capacity: int = 1024):
        self.settlement_asset = settlement_asset
        self.sub_cash = np.zeros(capacity, dtype=np.int64)
        self._n_subs = 0
        self._balances: dict[tuple[str, LedgerKey], int] = {}

    # ------------------------------------------------------------------ sub-accounts
    def add_sub(self) -> int:
        """Open a new sub-account row; returns its index."""
        if self._n_subs == self.sub_cash.shape[0]:
            grown = np.zeros(self.sub_cash.shape[0] * 2, dtype=np.int64)
            grown[: self._n_subs] = self.sub_cash[: self._n_subs]
            self.sub_cash = grown
        self._n_subs += 1
        return self._n_subs - 1

    def add_subs(self, k: int) -> int:
        """Open ``k`` new sub-account rows at once (as ``k`` calls of :meth:`add_sub`); returns the first index."""
        first = self._n_subs
        need = first + k
        if need > self.sub_cash.shape[0]:
            grown = np.zeros(max(need, self.sub_cash.shape[0] * 2), dtype=np.int64)
            grown[:first] = self.sub_cash[:first]
            self.sub_cash = grown
        self._n_subs = need
        return first

    def load(self, rows: Iterable[Sequence]) -> None:
        """Restore the balances of :meth:`items`' rows ``(asset, key, amount)`` into a ledger with no balance yet.

        Checked before anything is written: every amount an int within the balance limit, every sub-account key an
        open row, no (asset, key) twice, and each asset's balances summing to zero (a ledger is a set of balanced
        postings); a violation raises ``ValueError`` and leaves the ledger empty.
        """
        settle = self.settlement_asset
        named: list[Sequence] = []
        idx: list[int] = []
        val: list[int] = []
        for row in rows:  # the sub-accounts' cash into its two columns; every other row is checked there
            a, k, v = row
            if type(k) is int and a == settle:
                if type(v) is not int or abs(v) > MAX_BALANCE:
                    raise ValueError(f"ledger row {[a, k, v]!r} is not an amount within the limit")
                if not 0 <= k < self._n_subs:
                    raise ValueError(f"ledger row {[a, k, v]!r} names no sub-account")
                idx.append(k)
                val.append(v)
            else:
                named.append(row)
        self.load_columns(named, np.asarray(idx, dtype=np.int64), np.asarray(val, dtype=np.int64))

    def load_columns(self, named: Iterable[Sequence], cash_subs: np.ndarray, cash: np.ndarray) -> None:
        """:meth:`load` from :meth:`columns`' parts: the rows of every balance but the sub-accounts' settlement
        cash, and that cash as two arrays (sub-account, amount). The same checks, before anything is written."""
        if self._balances or self.sub_cash[: self._n_subs].any():
            raise ValueError("load needs a ledger with no balance yet")
        settle, n = self.settlement_asset, self._n_subs
        cash_subs = np.asarray(cash_subs)
        cash = np.asarray(cash)
        if cash_subs.shape != cash.shape or cash.ndim != 1 or cash.dtype.kind != "i" or cash_subs.dtype.kind != "i":
            raise ValueError("the sub-accounts' cash is not two integer columns of one length")
        if cash.size and (int(np.abs(cash).max()) > MAX_BALANCE or int(cash_subs.min()) < 0 or int(cash_subs.max()) >= n):
            raise ValueError("a sub-account's cash is beyond the limit or names no sub-account")
        sums: dict[str, int] = {settle: sum(cash.tolist())}  # (Python ints: a sum of a million balances may pass int64)
        rows: dict[tuple[str, LedgerKey], int] = {}
        for a, k, v in named:
            if type(v) is not int or abs(v) > MAX_BALANCE or not isinstance(a, str):
                raise ValueError(f"ledger row {[a, k, v]!r} is not an amount within the limit")
            sums[a] = sums.get(a, 0) + v
            if type(k) is int:
                if not 0 <= k < n:
                    raise ValueError(f"ledger row {[a, k, v]!r} names no sub-account")
                if a == settle:
                    raise ValueError(f"ledger row {[a, k, v]!r} is a sub-account's cash outside its column")
            elif not isinstance(k, str):
                raise ValueError(f"ledger row {[a, k, v]!r} has no valid key")
            if (a, k) in rows:
                raise ValueError(f"ledger row {[a, k, v]!r} repeats a balance")
            if v:
                rows[(a, k)] = v
        if any(sums.values()):
            raise ValueError(f"the ledger does not balance in {min(a for a, t in sums.items() if t)}")
        ix = cash_subs.astype(np.int64)
        # (ascending, as :meth:`columns` writes them, is distinct at a glance)
        if ix.size > 1 and not bool((ix[1:] > ix[:-1]).all()) and np.unique(ix).size != ix.size:
            raise ValueError("a sub-account's settlement balance appears twice")
        self.sub_cash[ix] = cash
        self._balances = rows

    def columns(self) -> tuple[list[tuple[str, LedgerKey, int]], np.ndarray, np.ndarray]:
        """The balances as :meth:`load_columns` takes them: every row of :meth:`items` but the sub-accounts'
        settlement cash (in canonical order), then that cash's non-zero entries as (sub-accounts, amounts)."""
        named = sorted(((a, k, v) for (a, k), v in self._balances.items()), key=_canonical_order)
        cash = self.sub_cash[: self._n_subs]
        held = np.flatnonzero(cash)
        return named, held, cash[held]

    @property
    def n_subs(self) -> int:
        return self._n_subs

    # ------------------------------------------------------------------ balances
    def balance(self, asset: str, key: LedgerKey) -> int:
        if isinstance(key, int) and asset == self.settlement_asset:
            return int(self.sub_cash[key])
        return self._balances.get((asset, key), 0)

    def check(self, asset: str, legs: Sequence[tuple[LedgerKey, int]]) -> None:
        """Raise unless ``legs`` balance and no balance would overflow. Changes nothing."""
        if sum(amount for _, amount in legs) != 0:
            raise AssertionError(f"unbalanced posting in {asset}: {legs}")
        after: dict[LedgerKey, int] = {}
        for key, amount in legs:
            after[key] = after.get(key, self.balance(asset, key)) + amount
        for key, value in after.items():
            if abs(value) > MAX_BALANCE:
                raise InvalidInput("amount", f"balance of {key!r} would overflow ({value})")

    def post(self, asset: str, legs: Sequence[tuple[LedgerKey, int]]) -> None:
        """Apply a balanced posting: ``legs`` are (account, signed amount) and sum to zero."""
        self.check(asset, legs)
        settle = asset == self.settlement_asset
        for key, amount in legs:
            if amount == 0:
                continue
            if settle and isinstance(key, int):
                self.sub_cash[key] += amount
            else:
                self._add(asset, key, amount)

    def transfer(self, asset: str, source: LedgerKey, dest: LedgerKey, amount: int) -> None:
        """Move ``amount`` (may be 0, never negative) from ``source`` to ``dest``."""
        if amount < 0:
            raise AssertionError("transfer of a negative amount")
        if amount:
            self.post(asset, ((source, -amount), (dest, amount)))

    def post_sub_cash_vector(self, subs: np.ndarray, deltas: np.ndarray, counter: LedgerKey) -> None:
        """Vectorised posting of the settlement asset: ``sub_cash[subs] += deltas`` against ``counter``.

        ``subs`` must be unique; ``counter`` (a venue account) takes ``−Σ deltas`` so the posting
        balances by construction.
        """
        if not deltas.size:
            return
        total = int(deltas.sum(dtype=np.int64))
        after = self.sub_cash[subs] + deltas
        if int(np.abs(after).max()) > MAX_BALANCE or abs(self.balance(self.settlement_asset, counter) - total) > MAX_BALANCE:
            raise InvalidInput("amount", "a balance would overflow")
        self.sub_cash[subs] = after
        self._add(self.settlement_asset, counter, -total)

    def _add_many(self, asset: str, keys: Sequence[LedgerKey], amounts: Sequence[int]) -> None:
        """:meth:`_add` of each ``(keys[j], amounts[j])`` in turn."""
        balances = self._balances
        for key, amount in zip(keys, amounts, strict=True):
            k = (asset, key)
            v = balances.get(k, 0) + amount
            if v:
                balances[k] = v
            else:
                balances.pop(k, None)

    def _add(self, asset: str, key: LedgerKey, amount: int) -> None:
        k = (asset, key)
        v = self._balances.get(k, 0) + amount
        if v:
            self._balances[k] = v
        else:
            self._balances.pop(k, None)

    # ------------------------------------------------------------------ reporting
    def items(self) -> Iterable[tuple[str, LedgerKey, int]]:
        """Every non-zero balance as (asset, key, amount), in a canonical order."""
        before, held, amounts, after = self.canonical_parts()
        a = self.settlement_asset
        return before + [(a, i, v) for i, v in zip(held.tolist(), amounts.tolist(), strict=True)] + after

    def canonical_parts(self) -> tuple[list, np.ndarray, np.ndarray, list]:
        """:meth:`items` in its three parts: the rows before the sub-accounts' settlement cash, that cash's non-zero
        entries as (sub-accounts, amounts) in index order, the rows after it."""
        named, held, amounts = self.columns()
        # the settlement asset's sub-account rows, already in index order, go where the canonical order puts them:
        # after every row of an asset that sorts before it (and its own int keys, which live in sub_cash only)
        at = bisect.bisect_left(named, (self.settlement_asset, 1), key=lambda r: _canonical_order(r)[:2])
        return named[:at], held, amounts, named[at:]

    def totals(self, asset: str) -> dict[str, int]:
        """Sum of balances per category (see :data:`CATEGORIES`); they add up to zero."""
        out = dict.fromkeys(CATEGORIES, 0)
        for a, key, v in self.items():
            if a == asset:
                cat = category_of(key)
                out[cat] = out.get(cat, 0) + v
        return out


def _canonical_order(row: tuple[str, LedgerKey, int]) -> tuple:
    asset, key, _ = row
    return (asset, 0, key, "") if isinstance(key, int) else (asset, 1, 0, key)
