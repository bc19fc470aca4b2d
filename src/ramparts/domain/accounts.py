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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

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


@dataclass(slots=True)
class SubAccount:
    """A sub-account's static description (its balances and positions live in the engine)."""

    index: int
    id: SubAccountId
    mode: MarginMode
    instrument: int | None = None  # bound instrument of an isolated sub-account
    system: bool = False  # the backstop vault: never liquidated by the waterfall
