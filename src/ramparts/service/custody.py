"""Custody: how money crosses the venue's boundary through the service.

This module owns the traders' deposit and withdrawal **requests**, the **custody cap** and the view of
the ledger account that stands for the outside world.

* Money enters and leaves the venue only as a journaled ``Deposit`` or ``Withdraw`` event, posted
  against the ledger account ``external`` (:mod:`ramparts.ledger.ledger`: its balance is minus the
  money deposited and not withdrawn, so the sum of every account of an asset stays zero). Only a
  ``custody`` key (the venue's treasury) or a ``risk_officer`` key may issue one
  (:data:`ramparts.service.auth.PERMISSIONS`); ``GET /v1/custody`` shows ``external`` and the
  settlement asset's ledger totals by category (:func:`ledger_view`).
* A trader **requests** a deposit or a withdrawal for one of its own sub-accounts
  (:meth:`CustodyDesk.request`): a ``pending`` :class:`CashRequest` the service keeps in its key
  store's database (SQLite or PostgreSQL, beside the keys and the audit log), visible to custody,
  the risk officer and the auditor (and to the trader, its own). Custody **confirms** it: the
  request is claimed (``confirming``, so two confirmations cannot both journal it), its event is
  journaled, and the request becomes ``confirmed`` with the event's ``seq``, audit-logged in the same
  transaction. A withdrawal is checked against the free collateral **at confirmation** (the engine
  refuses it, 409 ``free_collateral``, and the request stays ``pending``). Custody or the risk officer
  may **reject** a pending request, the trader may **cancel** its own. A request left
  ``confirming`` by a journal outage (503: the event may or may not be stored) stays so until a risk
  officer, having looked at the journal, rejects it; it is never journaled twice.
* The **custody cap** (``create_app(custody_cap=...)``, ``ramparts serve --custody-cap``): the most a
  custody key may move in one request or one direct deposit or withdrawal, in whole units of the
  asset; above it only a risk officer's key may (403 ``over_custody_cap``). ``None``: no cap.
* A trader may hold at most ``max_pending`` pending requests per account (409 ``too_many_requests``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ramparts.errors import InvalidInput, Rejected, UnknownEntity
from ramparts.service.auth import AuthError, KeyStore, Principal

KINDS = ("deposit", "withdrawal")
STATUSES = ("pending", "confirming", "confirmed", "rejected", "cancelled")
#: The event each kind of request becomes.
EVENT_OF = {"deposit": "Deposit", "withdrawal": "Withdraw"}
_COLUMNS = ("request_id, kind, subaccount, account, asset, amount, status, requested_by, requested_ns, decided_by, "
            "decided_ns, seq, note")


@dataclass(frozen=True, slots=True)
class CashRequest:
    request_id: str
    kind: str
    subaccount: str
    account: str
    asset: str
    amount: str
    status: str
    requested_by: str
    requested_ns: int
    decided_by: str | None
    decided_ns: int | None
    seq: int | None
    note: str

    def public(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "kind": self.kind, "subaccount": self.subaccount, "asset": self.asset,
                "amount": self.amount, "status": self.status, "requested_by": self.requested_by,
                "requested_ns": self.requested_ns, "decided_by": self.decided_by, "decided_ns": self.decided_ns,
                "seq": self.seq, "note": self.note}

    def event(self) -> dict[str, Any]:
        """The ``Deposit`` / ``Withdraw`` event confirming this request."""
        return {"kind": EVENT_OF[self.kind], "subaccount": self.subaccount, "asset": self.asset, "amount": self.amount}


def parse_cap(cap: Decimal | str | int | None) -> Decimal | None:
    """The custody cap: a positive decimal (whole units), or None for no cap."""
    if cap is None:
        return None
    from ramparts.validation import decimal

    value = decimal(cap, "custody_cap")
    if value <= 0:
        raise InvalidInput("custody_cap", f"must be positive, got {cap}")
    return value


class CustodyDesk:
    """The pending requests (in ``store``'s database) and the custody cap; see the module docstring."""

    def __init__(self, store: KeyStore, *, cap: Decimal | str | int | None = None, max_pending: int = 100):
        self.store, self.cap, self.max_pending = store, parse_cap(cap), int(max_pending)
        self._t = store.table("cash_requests")
        big = "BIGINT" if store.is_pg else "INTEGER"
        ddl = (f"CREATE TABLE IF NOT EXISTS {self._t} (request_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subaccount TEXT NOT NULL,"
               f" account TEXT NOT NULL, asset TEXT NOT NULL, amount TEXT NOT NULL, status TEXT NOT NULL, requested_by TEXT NOT NULL,"
               f" requested_ns {big} NOT NULL, decided_by TEXT, decided_ns {big}, seq {big}, note TEXT NOT NULL)")
        statements: list[tuple[str, tuple]] = []
        if store.is_pg:
            statements.append(("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ramparts.journal:{store.namespace}",)))
        statements.append((ddl, ()))
        store.transaction(statements)

    # -- the cap ---------------------------------------------------------------------------------
    def check_cap(self, p: Principal, amount: Decimal, asset: str) -> None:
        """403 ``over_custody_cap`` when a custody key moves more than the cap in one request."""
        if p.role == "custody" and self.cap is not None and amount > self.cap:
            raise AuthError(403, "over_custody_cap", f"{amount} {asset} is above the custody cap of {self.cap} per request: "
                                                     "a risk officer's key must move it")

    # -- requests --------------------------------------------------------------------------------
    def _row(self, r: tuple) -> CashRequest:
        return CashRequest(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), r[9],
                           None if r[10] is None else int(r[10]), None if r[11] is None else int(r[11]), r[12])

    def get(self, request_id: str) -> CashRequest | None:
        p = self.store.placeholder
        rows = self.store.query(f"SELECT {_COLUMNS} FROM {self._t} WHERE request_id = {p}", (request_id,))
        return self._row(rows[0]) if rows else None

    def find(self, request_id: str, p: Principal) -> CashRequest:
        """The request (404 if unknown, or another account's for a trader)."""
        req = self.get(request_id)
        if req is None or (p.role == "trader" and req.account != p.account):
            raise UnknownEntity("request_id", f"unknown request {request_id!r}")
        return req

    def list(self, *, account: str | None = None, status: str | None = None, limit: int = 100) -> list[CashRequest]:
        p = self.store.placeholder
        where, params = [], []
        if account is not None:
            where.append(f"account = {p}")
            params.append(account)
        if status is not None:
            where.append(f"status = {p}")
            params.append(status)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.store.query(f"SELECT {_COLUMNS} FROM {self._t}{clause} ORDER BY requested_ns, request_id LIMIT {p}",
                                (*params, int(limit)))
        return [self._row(r) for r in rows]

    def pending_counts(self) -> dict[str, int]:
        p = self.store.placeholder
        rows = self.store.query(f"SELECT kind, COUNT(*) FROM {self._t} WHERE status = {p} GROUP BY kind", ("pending",))
        out = dict.fromkeys(KINDS, 0)
        out.update({k: int(n) for k, n in rows})
        return out

    def request(self, p: Principal, kind: str, subaccount: str, asset: str, amount: Decimal) -> CashRequest:
        """A trader's new pending request (the caller checked the sub-account and the amount)."""
        if kind not in KINDS:
            raise InvalidInput("kind", f"one of {', '.join(KINDS)}")
        account = subaccount.split("/", 1)[0]
        ph = self.store.placeholder
        n = self.store.query(f"SELECT COUNT(*) FROM {self._t} WHERE account = {ph} AND status = {ph}", (account, "pending"))[0][0]
        if int(n) >= self.max_pending:
            raise Rejected("too_many_requests", f"account {account} already has {n} pending requests (at most {self.max_pending}); "
                                                "cancel some or wait for custody")
        req = CashRequest(f"cr_{secrets.token_hex(8)}", kind, subaccount, account, asset, str(amount), "pending", p.key_id,
                          time.time_ns(), None, None, None, "")
        values = (req.request_id, req.kind, req.subaccount, req.account, req.asset, req.amount, req.status, req.requested_by,
                  req.requested_ns, None, None, None, "")
        self.store.transaction([
            (f"INSERT INTO {self._t} ({_COLUMNS}) VALUES ({', '.join([ph] * len(values))})", values),
            self.store.audit_statement(p.key_id, "request_cash", {"request_id": req.request_id, "kind": kind,
                                                                  "subaccount": subaccount, "asset": asset, "amount": req.amount}),
        ])
        return req

    def claim(self, request_id: str, p: Principal) -> CashRequest:
        """Mark a pending request ``confirming`` for ``p`` (custody within the cap, or a risk officer)."""
        req = self.find(request_id, p)
        if req.status != "pending":
            raise Rejected("request_not_pending", f"request {request_id} is {req.status}")
        self.check_cap(p, Decimal(req.amount), req.asset)
        ph = self.store.placeholder
        n = self.store.transaction([(f"UPDATE {self._t} SET status = {ph}, decided_by = {ph} WHERE request_id = {ph} AND status = {ph}",
                                     ("confirming", p.key_id, request_id, "pending"))])
        if not n:
            raise Rejected("request_not_pending", f"request {request_id} was decided meanwhile")
        return req

    def release(self, request_id: str) -> None:
        """Back to ``pending`` after its event was refused (nothing was journaled)."""
        ph = self.store.placeholder
        self.store.transaction([(f"UPDATE {self._t} SET status = {ph}, decided_by = NULL WHERE request_id = {ph} AND status = {ph}",
                                 ("pending", request_id, "confirming"))])

    def settle(self, request_id: str, p: Principal, seq: int, note: str = "") -> CashRequest:
        """``confirmed`` with the journaled event's ``seq``, audit-logged in the same transaction."""
        ph = self.store.placeholder
        self.store.transaction([
            self.store.audit_statement(p.key_id, "confirm_cash", {"request_id": request_id, "seq": seq}),
            (f"UPDATE {self._t} SET status = {ph}, decided_by = {ph}, decided_ns = {ph}, seq = {ph}, note = {ph}"
             f" WHERE request_id = {ph} AND status = {ph}", ("confirmed", p.key_id, time.time_ns(), seq, note, request_id, "confirming")),
        ])
        return self.get(request_id)

    def close_request(self, request_id: str, p: Principal, note: str, *, cancel: bool) -> CashRequest:
        """Reject (custody, risk officer) or cancel (the trader, its own) a request."""
        req = self.find(request_id, p)
        allowed = ("pending", "confirming") if p.role == "risk_officer" and not cancel else ("pending",)
        if req.status not in allowed:
            raise Rejected("request_not_pending", f"request {request_id} is {req.status}")
        status = "cancelled" if cancel else "rejected"
        ph = self.store.placeholder
        n = self.store.transaction([
            self.store.audit_statement(p.key_id, "cancel_cash" if cancel else "reject_cash",
                                       {"request_id": request_id, "note": note, "was": req.status}),
            (f"UPDATE {self._t} SET status = {ph}, decided_by = {ph}, decided_ns = {ph}, note = {ph} WHERE request_id = {ph} AND status = {ph}",
             (status, p.key_id, time.time_ns(), note, request_id, req.status)),
        ])
        if not n:
            raise Rejected("request_not_pending", f"request {request_id} was decided meanwhile")
        return self.get(request_id)


def check_cash(e, subaccount: str, asset: str, amount: Decimal) -> None:
    """On the writer thread: the sub-account and the asset exist (404) and ``amount`` is a whole number of the
    asset's base units within the ledger's limits (409 ``invalid_input``), as a Deposit/Withdraw would need."""
    e.sub_index(subaccount)
    a = e.assets.get(asset)
    if a is None:
        raise UnknownEntity("asset", f"unknown asset {asset!r}")
    units = a.units(amount, "amount")
    if units <= 0 or units > 10**17:
        raise InvalidInput("amount", f"{amount} {asset} is outside (0, {a.amount(10**17)}]")


def ledger_view(e) -> dict[str, Any]:
    """The ledger account ``external`` (the outside world) per asset, and the settlement asset's totals by category."""
    if e.ledger is None or e.settlement is None:
        return {"asset": "", "external": {}, "totals": {}}
    settle = e.settlement
    external = {sym: str(a.amount(e.ledger.balance(sym, "external"))) for sym, a in sorted(e.assets.items())}
    totals = {k: str(settle.amount(v)) for k, v in e.ledger.totals(settle.symbol).items()}
    return {"asset": settle.symbol, "external": external, "totals": totals}


__all__ = ["EVENT_OF", "KINDS", "STATUSES", "CashRequest", "CustodyDesk", "check_cash", "ledger_view", "parse_cap"]
