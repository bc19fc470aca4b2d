"""Accounts and sub-accounts, and their margin modes.

An *account* is an owner (a trader, a vault). It owns *sub-accounts*, the unit of margining:
each sub-account has its own collateral and positions and is liquidated on its own.

* ``cross``: the sub-account may hold positions in any number of instruments, all backed by one
  collateral pool;
* ``isolated``: the sub-account is bound to a single instrument (dYdX v4's isolated markets), so a
  trader opens one isolated sub-account per isolated position;
* ``portfolio``: scenario (risk-array) margin over every position of the sub-account: perpetuals,
  futures and options on one underlying net, underlyings offset through a stressed correlation
  (:mod:`ramparts.engine.portfolio`).

:class:`SubAccounts` is the venue's register of them, by index.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from operator import index

import numpy as np

from ramparts.errors import InvalidInput

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}\Z")  # \Z, not "$": "$" also matches before a trailing newline


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"
    PORTFOLIO = "portfolio"


def check_name(name: object, field: str) -> str:
    """Account and sub-account names: 1–64 chars of letters, digits and ``. _ : @ -``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(field, f"invalid name {name!r}")
    return name


@dataclass(frozen=True, slots=True, order=True)
class SubAccountId:
    """``account/sub`` – the key of a sub-account."""

    account: str
    sub: str

    @classmethod
    def parse(cls, text: object, field: str = "subaccount") -> SubAccountId:
        if isinstance(text, SubAccountId):
            return text
        if not isinstance(text, str) or text.count("/") != 1:
            raise InvalidInput(field, f"expected 'account/sub', got {text!r}")
        account, sub = text.split("/")
        return cls(check_name(account, field), check_name(sub, field))

    def __str__(self) -> str:
        return f"{self.account}/{self.sub}"

    @classmethod
    def canonical(cls, text: object, field: str = "subaccount") -> str:
        """``text`` checked as :meth:`parse` checks it, kept as text (a register of a million ids holds no id object)."""
        return str(cls.parse(text, field))


@dataclass(slots=True)
class SubAccount:
    """A sub-account's static description (its balances and positions live in the engine)."""

    index: int
    id: SubAccountId
    mode: MarginMode
    instrument: int | None = None  # bound instrument of an isolated sub-account
    system: bool = False  # the backstop vault: never liquidated by the waterfall


_MODES = tuple(MarginMode)  # a sub-account's mode is kept as its position here
#: a mode's text → its position in ``_MODES`` (the flags of :meth:`SubAccounts.extend`)
MODE_CODE = {m.value: k for k, m in enumerate(_MODES)}


class SubAccounts(Sequence[SubAccount]):
    """The sub-accounts of a venue by index, kept as columns: the canonical ``"account/sub"`` text, the
    bound instrument, the mode and the system flag; ``subs[s]`` builds its :class:`SubAccount` (a copy:
    nothing is ever changed through it). A million of them cost their texts and one dict, not a
    record, an id, two name strings and two dicts each (issue 24 item 5). Only ever appended to, so
    a reader holding it sees its first ``n`` entries unchanged."""

    __slots__ = ("by_name", "by_id", "_names", "_instrument", "_flags")

    def __init__(self) -> None:
        self.by_name: dict[str, int] = {}  # the canonical text → index: the events' own key, so the hot lookup
        self.by_id = _ById(self.by_name)
        self._names = _Texts()  # the same string objects as by_name's keys
        self._instrument = array("q")  # the bound instrument of an isolated sub-account, −1 otherwise
        self._flags = bytearray()  # the mode's position in _MODES, | 4 for a system sub-account

    def add(self, sid: SubAccountId | str, mode: MarginMode, instrument: int | None, system: bool) -> int:
        """Register the next sub-account (``sid`` an id or its canonical text); returns its index."""
        idx = len(self._names)
        name = str(sid)
        self._names.append(name)
        self.by_name[name] = idx
        self._instrument.append(-1 if instrument is None else instrument)
        self._flags.append(_MODES.index(mode) | (4 if system else 0))
        return idx

    def extend(self, names: list[str], instruments: Sequence[int], flags: bytes) -> int:
        """Register sub-accounts from columns, in order (:meth:`add` of each at once): their canonical texts,
        bound instruments (−1 for none) and flags (the mode's position in ``tuple(MarginMode)``, | 4 for a
        system sub-account); returns the index of the first. A text twice, or already registered, raises
        ``ValueError`` and registers nothing."""
        first = len(self._names)
        if not len(names) == len(instruments) == len(flags):
            raise ValueError("sub-account columns of different lengths")
        if any(f & 3 >= len(_MODES) or f > 7 for f in set(flags)):
            raise ValueError("a sub-account flag names no margin mode")
        instruments = array("q", instruments)  # (raises before anything changes on a value that is no int64)
        by_name = self.by_name
        if not by_name.keys().isdisjoint(names):
            raise ValueError("a sub-account text is registered twice")
        before = len(by_name)
        by_name.update(zip(names, range(first, first + len(names)), strict=True))  # (no second dict of a million texts)
        if len(by_name) != before + len(names):  # a text twice among them: each was new, so all are taken back
            for name in names:
                by_name.pop(name, None)
            raise ValueError("a sub-account text is registered twice")
        self._names.extend(names)
        self._instrument.extend(instruments)
        self._flags.extend(flags)
        return first

    def name(self, s: int) -> str:
        """The canonical ``"account/sub"`` text of sub-account ``s`` (``str(subs[s].id)`` without building it)."""
        return self._names[s]

    def columns(self) -> tuple[list[str], array, bytes]:
        """What :meth:`extend` takes: the texts, bound instruments (−1 for none) and flags of every sub-account."""
        n = len(self._names)  # (a reader on another thread may see an append half done: the shortest column)
        n = min(n, len(self._instrument), len(self._flags))
        return self._names.head(n), self._instrument[:n], bytes(self._flags[:n])

    def rows(self) -> list[list]:
        """``[text, mode, bound instrument or None, system]`` per sub-account, in index order (the snapshot's)."""
        modes = [m.value for m in _MODES]
        return [[name, modes[f & 3], None if i < 0 else i, bool(f & 4)]
                for name, i, f in zip(self._names, self._instrument, self._flags, strict=True)]

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, s):
        if isinstance(s, slice):
            return [self[k] for k in range(*s.indices(len(self._names)))]
        s = index(s)
        if s < 0:
            s += len(self._names)
        name = self._names[s]  # raises IndexError out of range, as a list does
        return _record(s, name, self._instrument[s], self._flags[s])

    def __iter__(self) -> Iterator[SubAccount]:
        # not strict: a reader on another thread may see an append half done (the shortest column bounds it)
        for s, (name, i, f) in enumerate(zip(self._names, self._instrument, self._flags, strict=False)):
            yield _record(s, name, i, f)


class _Texts:
    """A column of texts that only grows, kept where the cyclic garbage collector does not walk it: a numpy object
    array with spare room. (In a list, a million texts cost every full collection a visit to each string: 71–95 ms a
    full collection at a million sub-accounts restored, against 31–37 ms with this column; strings hold no references,
    so nothing here can be part of a cycle.) An entry is written before the length counts it, so a reader on another
    thread sees a whole prefix."""

    __slots__ = ("_a", "_n")

    def __init__(self) -> None:
        self._a = np.empty(64, dtype=object)
        self._n = 0

    def _room(self, n: int) -> None:
        if n > self._a.shape[0]:
            a = np.empty(max(n, 2 * self._a.shape[0]), dtype=object)
            a[: self._n] = self._a[: self._n]
            self._a = a

    def append(self, text: str) -> None:
        self._room(self._n + 1)
        self._a[self._n] = text
        self._n += 1

    def extend(self, texts: list[str]) -> None:
        k = len(texts)
        self._room(self._n + k)
        self._a[self._n : self._n + k] = texts  # (an object array takes each text as one element)
        self._n += k

    def head(self, n: int) -> list[str]:
        """The first ``n`` texts, as a list."""
        return self._a[: min(n, self._n)].tolist()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, s: int) -> str:
        if not 0 <= s < self._n:
            raise IndexError("sub-account index out of range")
        return self._a[s]

    def __iter__(self) -> Iterator[str]:
        return iter(self._a[: self._n].tolist())


_new, _set_account, _set_sub = object.__new__, SubAccountId.account.__set__, SubAccountId.sub.__set__


def _record(s: int, name: str, instrument: int, flags: int) -> SubAccount:
    """Sub-account ``s`` from its columns. Its id is filled in directly, not through the frozen dataclass's
    ``__init__`` (half the cost of a lookup that effects and reads make per sub-account): the text was checked
    when the sub-account was opened."""
    account, sub = name.split("/")
    sid = _new(SubAccountId)
    _set_account(sid, account)
    _set_sub(sid, sub)
    return SubAccount(s, sid, _MODES[flags & 3], None if instrument < 0 else instrument, bool(flags & 4))


class _ById(Mapping):
    """``SubAccountId`` → index, through its canonical text: one dict serves both keys."""

    __slots__ = ("_by_name",)

    def __init__(self, by_name: dict[str, int]) -> None:
        self._by_name = by_name

    def __getitem__(self, sid: SubAccountId) -> int:
        if not isinstance(sid, SubAccountId):
            raise KeyError(sid)
        return self._by_name[str(sid)]

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, SubAccountId) and str(sid) in self._by_name

    def get(self, sid, default=None):
        return self._by_name.get(str(sid), default) if isinstance(sid, SubAccountId) else default

    def __iter__(self) -> Iterator[SubAccountId]:
        return (SubAccountId(*name.split("/")) for name in self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)
