"""A set of sub-account indices that keeps a boolean mask of its members in step.

This module owns :class:`FlaggedSet`. The engine's set of insolvent sub-accounts is read by the
compiled re-margin passes as a ``bool`` array indexed by sub-account; building that array from the
set on every oracle tick cost a pass over the set and a fresh array as long as the book (a fifth of a
tick at a million accounts). The set stays the state (snapshots and hashes read it, sorted); the
mask is derived, grown on demand and kept equal to it by every mutating method.

The compiled passes may flip mask entries themselves: each flip is reported back as a row that the
engine then applies to the set with :meth:`~set.add` / :meth:`~set.discard`, which leave the mask as
the pass left it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class FlaggedSet(set):
    """``set[int]`` of non-negative indices with :meth:`mask`, a ``bool`` array of its members."""

    def __init__(self, items: Iterable[int] = ()):
        super().__init__(items)
        self._mask = np.zeros(0, dtype=np.bool_)
        self._rebuild()

    # ------------------------------------------------------------------ the mask
    def _grow(self, n: int) -> None:
        if n > self._mask.size:
            m = np.zeros(max(n, 2 * self._mask.size, 64), dtype=np.bool_)
            m[: self._mask.size] = self._mask
            self._mask = m

    def _rebuild(self) -> None:
        self._mask[:] = False
        if super().__len__():
            idx = np.fromiter(iter(self), dtype=np.int64, count=len(self))
            if idx.min() < 0:
                raise ValueError("FlaggedSet holds non-negative indices only")
            self._grow(int(idx.max()) + 1)
            self._mask[idx] = True

    def mask(self, n: int) -> np.ndarray:
        """The members as ``mask[:n]`` (a view: writes go to the set's own mask)."""
        self._grow(n)
        return self._mask[:n]

    def consistent(self) -> bool:
        """Whether the mask holds exactly the members (for tests)."""
        return set(np.flatnonzero(self._mask).tolist()) == set(self)

    # ------------------------------------------------------------------ mutations keep it in step
    def add(self, x: int) -> None:
        if x < 0:
            raise ValueError("FlaggedSet holds non-negative indices only")
        super().add(x)
        self._grow(x + 1)
        self._mask[x] = True

    def discard(self, x: int) -> None:
        super().discard(x)
        if 0 <= x < self._mask.size:
            self._mask[x] = False

    def remove(self, x: int) -> None:
        super().remove(x)
        self._mask[x] = False

    def pop(self) -> int:
        x = super().pop()
        self._mask[x] = False
        return x

    def clear(self) -> None:
        super().clear()
        self._mask[:] = False

    def update(self, *others: Iterable[int]) -> None:
        for other in others:
            items = list(other)
            if items:
                idx = np.asarray(items, dtype=np.int64)
                if idx.min() < 0:
                    raise ValueError("FlaggedSet holds non-negative indices only")
                super().update(items)
                self._grow(int(idx.max()) + 1)
                self._mask[idx] = True

    def difference_update(self, *others: Iterable[int]) -> None:
        for other in others:
            items = list(other)
            super().difference_update(items)
            idx = np.asarray(items, dtype=np.int64)
            idx = idx[(idx >= 0) & (idx < self._mask.size)]
            self._mask[idx] = False

    def intersection_update(self, *others: Iterable[int]) -> None:
        super().intersection_update(*others)
        self._rebuild()

    def symmetric_difference_update(self, other: Iterable[int]) -> None:
        super().symmetric_difference_update(other)
        self._rebuild()

    def __ior__(self, other):  # type: ignore[override]
        self.update(other)
        return self

    def __isub__(self, other):  # type: ignore[override]
        self.difference_update(other)
        return self

    def __iand__(self, other):  # type: ignore[override]
        self.intersection_update(other)
        return self

    def __ixor__(self, other):  # type: ignore[override]
        self.symmetric_difference_update(other)
        return self

    def copy(self) -> FlaggedSet:
        return FlaggedSet(self)

    def __reduce__(self):
        return (FlaggedSet, (sorted(self),))


__all__ = ["FlaggedSet"]
