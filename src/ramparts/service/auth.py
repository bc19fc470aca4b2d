"""API keys, roles, the per-key rate limit, failed-login throttling, stream tickets and the admin audit log.

This module owns who may do what:

* :class:`KeyStore` keeps API keys **hashed at rest** (scrypt with a per-key random salt; the
  plaintext token is shown once, at creation) and an append-only ``audit_log`` of admin actions
  (key creation and revocation), each written in the same durable transaction as the change it
  records. It lives in SQLite (WAL, ``synchronous=FULL``) or PostgreSQL (the journal's schema),
  chosen by URL exactly like the journal. A PostgreSQL connection the server dropped (a restart, a
  failover, ``pg_terminate_backend``) is re-established once and the call retried, unless the drop
  struck during a ``COMMIT`` (then the outcome is unknown and the call fails, 503); every other
  database failure is :class:`~ramparts.journal.store.JournalUnavailable` (503), never a 500.
* :data:`PERMISSIONS` maps every action of the API to the roles allowed to do it. Roles
  (:data:`ROLES`, every one of them creatable through ``POST /v1/keys`` by a risk officer):
  ``trader`` (bound to one account: may only read its own sub-accounts ``account/*``, open them,
  and *request* deposits and withdrawals for them, never move money itself), ``oracle`` (prices),
  ``matcher`` (the matching engine: fill batches), ``sequencer`` (the venue's sequencer:
  ``TradeBatch`` events merging the matcher's fills and the oracle's prices in one order, batch
  mode), ``liquidator`` (liquidation and funding ticks, the queue), ``custody`` (the venue's
  treasury: the only role besides the risk officer that moves money across the venue's boundary,
  deposits and withdrawals journaled against the ledger account ``external``, the outside world;
  it confirms or rejects the traders' requests and moves at most the service's custody cap per
  request), ``risk_officer`` (parameters, listings, insurance funding, onboarding, keys; deposits
  and withdrawals of any size), ``auditor`` (read-only everything).

  Who may do what (``action``: roles; a trader only for its own account):

  ==========================  =====================================================================
  ``request_cash``            trader (``POST /v1/custody/requests``: a pending request)
  ``cancel_cash_request``     trader (its own pending request)
  ``decide_cash_request``     custody (up to the cap), risk_officer (confirm: the journaled
                              ``Deposit``/``Withdraw``; or reject)
  ``deposit``, ``withdraw``   custody (up to the cap), risk_officer (``POST /v1/deposits``,
                              ``/v1/withdrawals``, directly)
  ``read_cash_requests``      trader (its own), custody, risk_officer, auditor
  ``read_custody``            custody, risk_officer, auditor (``GET /v1/custody``: ``external``)
  ``open_subaccount``         trader, risk_officer
  ``fills``                   matcher
  ``prices``                  oracle
  ``batches``                 sequencer
  ``funding``                 liquidator, risk_officer
  ``tick``, ``bid``           liquidator
  ``parameters``,             risk_officer
  ``list_instrument``,
  ``fund_insurance``,
  ``keys``
  ``read_account``            trader (its own), liquidator, custody, risk_officer, auditor
  ``read_queue``              liquidator, risk_officer, auditor
  ``read_all``                risk_officer, auditor
  ``read_market``, ``stream`` every role
  ==========================  =====================================================================

* :class:`Authenticator` turns a presented token into a :class:`Principal`: constant-time
  comparison of the scrypt hash, a short in-memory cache of verified tokens (keyed by a SHA-256 of
  the token, re-checked against the store for revocation every ``recheck_s``), and a token-bucket
  :class:`RateLimiter` per key (HTTP 429 when empty). A token naming an unknown key id costs the
  same scrypt as a wrong secret for a known one (it is checked against a dummy hash) and gets the
  same 401, so failures are no oracle of which key ids exist.
* :class:`FailureThrottle` makes failed authentication no CPU sink: after ``threshold`` failures
  from one client address, or against one key id, further attempts are answered 429
  (``auth_throttled``, with ``Retry-After``) **without running scrypt**, for a back-off that doubles
  with every further failure (1 s, 2 s, 4 s, ... at most ``max_s``); failures are forgotten
  ``forget_s`` after the last one. A token already verified (in the cache) is never throttled, so
  an attacker hammering a key id does not lock its owner out.
* :class:`TicketBook` issues single-use stream tickets (``POST /v1/tickets``, valid
  :data:`TICKET_TTL_S` seconds): browsers cannot put headers on a WebSocket, and API keys are
  never accepted in a URL, so the dashboard and other browser clients open ``/v1/stream?ticket=``.

Tokens look like ``rk_<key_id>_<secret>``; only ``key_id`` is stored in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ramparts.errors import InvalidInput, RampartsError
from ramparts.journal.store import JournalUnavailable

ROLES = ("trader", "oracle", "matcher", "sequencer", "liquidator", "custody", "risk_officer", "auditor")

#: action -> roles allowed. ``trader`` actions are further restricted to the key's own account.
PERMISSIONS: dict[str, frozenset[str]] = {
    "request_cash": frozenset({"trader"}),
    "cancel_cash_request": frozenset({"trader"}),
    "decide_cash_request": frozenset({"custody", "risk_officer"}),
    "deposit": frozenset({"custody", "risk_officer"}),
    "withdraw": frozenset({"custody", "risk_officer"}),
    "read_cash_requests": frozenset({"trader", "custody", "risk_officer", "auditor"}),
    "read_custody": frozenset({"custody", "risk_officer", "auditor"}),
    "open_subaccount": frozenset({"trader", "risk_officer"}),
    "fills": frozenset({"matcher"}),
    "prices": frozenset({"oracle"}),
    "batches": frozenset({"sequencer"}),
    "funding": frozenset({"liquidator", "risk_officer"}),
    "tick": frozenset({"liquidator"}),
    "bid": frozenset({"liquidator"}),
    "parameters": frozenset({"risk_officer"}),
    "list_instrument": frozenset({"risk_officer"}),
    "fund_insurance": frozenset({"risk_officer"}),
    "keys": frozenset({"risk_officer"}),
    "read_account": frozenset({"trader", "liquidator", "custody", "risk_officer", "auditor"}),
    "read_queue": frozenset({"liquidator", "risk_officer", "auditor"}),
    "read_all": frozenset({"risk_officer", "auditor"}),
    "read_market": frozenset(ROLES),
    "stream": frozenset(ROLES),
}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}

#: An unknown key id is checked against this (salt, digest), which no secret matches: the same scrypt
#: cost as a known key id with a wrong secret, so the time of a failure tells nothing.
_DUMMY_SALT, _DUMMY_DIGEST = secrets.token_bytes(16), secrets.token_bytes(32)

#: Seconds a stream ticket stays valid.
TICKET_TTL_S = 60.0


class AuthError(RampartsError):
    """Authentication or authorisation failed: ``status`` is 401, 403 or 429."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None):
        self.status, self.reason, self.message, self.retry_after = status, reason, message, retry_after
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    key_id: str
    role: str
    account: str | None
    label: str

    def can(self, action: str) -> bool:
        return self.role in PERMISSIONS[action]

    def owns(self, subaccount: str) -> bool:
        """A trader owns ``account/*`` of its bound account; other roles own nothing."""
        return self.role == "trader" and isinstance(subaccount, str) and subaccount.split("/", 1)[0] == self.account


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    role: str
    account: str | None
    label: str
    created_ns: int
    revoked_ns: int | None
    salt: bytes
    digest: bytes

    def public(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "role": self.role, "account": self.account, "label": self.label,
                "created_ns": self.created_ns, "revoked_ns": self.revoked_ns}


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def split_token(token: str) -> tuple[str, str] | None:
    """``rk_<key_id>_<secret>`` -> (key_id, secret), or None when malformed."""
    if not isinstance(token, str) or len(token) > 256:
        return None
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "rk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """API keys and the admin audit log, in SQLite (a path or ``sqlite:///path``) or PostgreSQL."""

    def __init__(self, url: str, *, namespace: str = "ramparts"):
        from ramparts.journal.store import check_namespace

        self.namespace = check_namespace(namespace)
        self._lock = threading.Lock()
        url = str(url)
        self.is_pg = url.lower().startswith(("postgresql://", "postgres://"))
        try:
            if self.is_pg:
                import psycopg

                if url.lower().startswith("postgres://"):
                    url = "postgresql://" + url[len("postgres://"):]
                self._url = url
                self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10, application_name="ramparts-keys")
                self._ph = "%s"
                ns = f'"{self.namespace}"'
                self._keys, self._audit = f"{ns}.api_keys", f"{ns}.audit_log"
                with self._conn.transaction():
                    self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ramparts.journal:{self.namespace}",))
                    self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ns}")
                    self._conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {self._keys} (key_id TEXT PRIMARY KEY, salt BYTEA NOT NULL, digest BYTEA NOT NULL,"
                        " role TEXT NOT NULL, account TEXT, label TEXT NOT NULL, created_ns BIGINT NOT NULL, revoked_ns BIGINT)"
                    )
                    self._conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {self._audit} (id BIGSERIAL PRIMARY KEY, ts_ns BIGINT NOT NULL,"
                        " actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)"
                    )
            else:
                path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
                self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._ph = "?"
                prefix = "" if self.namespace == "ramparts" else f"{self.namespace}_"
                self._keys, self._audit = f'"{prefix}api_keys"', f'"{prefix}audit_log"'
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._keys} (key_id TEXT PRIMARY KEY, salt BLOB NOT NULL, digest BLOB NOT NULL,"
                    " role TEXT NOT NULL, account TEXT, label TEXT NOT NULL, created_ns INTEGER NOT NULL, revoked_ns INTEGER)"
                )
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._audit} (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL,"
                    " actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)"
                )
        except sqlite3.Error as exc:
            self._close_quietly()
            raise JournalUnavailable(f"key store sqlite:{path}: cannot open: {exc}") from None
        except Exception as exc:
            self._close_quietly()
            if type(exc).__module__.startswith("psycopg"):  # psycopg.Error, without importing psycopg for SQLite
                from ramparts.journal.postgres import redact_url

                raise JournalUnavailable(f"key store {redact_url(url)}: cannot open: {str(exc).strip().splitlines()[0]}") from None
            raise

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    # -- PostgreSQL connection ----------------------------------------------------------------
    def _describe(self) -> str:
        from ramparts.journal.postgres import redact_url

        return f"key store {redact_url(self._url)}"

    def _pg(self, what: str, call: Callable[[Any, dict], Any]) -> Any:
        """Run ``call(conn, state)`` on the PostgreSQL connection (under the lock). A connection the
        server dropped (``OperationalError``/``InterfaceError``) is re-established once and the call
        run again, unless ``state["committing"]`` says the drop struck during a ``COMMIT`` (its
        outcome is unknown); any database failure becomes :class:`JournalUnavailable` (503)."""
        import psycopg

        for attempt in (0, 1):
            state = {"committing": False}
            try:
                if self._conn.closed or self._conn.broken:
                    self._reconnect()
                return call(self._conn, state)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if attempt == 0 and not state["committing"]:
                    try:
                        self._reconnect()
                    except psycopg.Error as again:
                        raise JournalUnavailable(f"{self._describe()}: {what} failed, and reconnecting failed: "
                                                 f"{_one_line(again)}") from None
                    continue
                unknown = " (the connection dropped during COMMIT: the change may or may not be stored)" if state["committing"] else ""
                raise JournalUnavailable(f"{self._describe()}: {what} failed: {_one_line(exc)}{unknown}") from None
            except psycopg.Error as exc:
                raise JournalUnavailable(f"{self._describe()}: {what} failed: {_one_line(exc)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _reconnect(self) -> None:
        import psycopg

        try:
            self._conn.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass
        self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10, application_name="ramparts-keys")

    # -- transactions -----------------------------------------------------------------------
    def _tx(self, statements: list[tuple[str, tuple]]) -> int:
        """Run statements in one transaction; returns the last statement's rowcount."""
        with self._lock:
            if self.is_pg:
                def run(conn, state: dict) -> int:
                    with conn.transaction():
                        cur = None
                        for q, params in statements:
                            cur = conn.execute(q, params)
                        rowcount = cur.rowcount if cur is not None else 0
                        state["committing"] = True  # leaving the block sends COMMIT
                    return rowcount

                return self._pg("write", run)
            db = self._conn
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    cur = None
                    for q, params in statements:
                        cur = db.execute(q, params)
                    db.execute("COMMIT")
                    return cur.rowcount if cur is not None else 0
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise JournalUnavailable(f"key store: write failed: {exc}") from None

    def _query(self, q: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            if self.is_pg:
                return self._pg("read", lambda conn, state: list(conn.execute(q, params).fetchall()))
            try:
                return list(self._conn.execute(q, params).fetchall())
            except sqlite3.Error as exc:
                raise JournalUnavailable(f"key store: read failed: {exc}") from None

    # -- for the service's other durable admin tables (custody requests) ---------------------------
    @property
    def placeholder(self) -> str:
        """The parameter placeholder of this database (``?`` or ``%s``)."""
        return self._ph

    def table(self, name: str) -> str:
        """The quoted name of the table ``name`` in this store's namespace."""
        if self.is_pg:
            return f'"{self.namespace}".{name}'
        prefix = "" if self.namespace == "ramparts" else f"{self.namespace}_"
        return f'"{prefix}{name}"'

    def transaction(self, statements: list[tuple[str, tuple]]) -> int:
        """Run statements in one durable transaction (503 on failure); the last one's rowcount."""
        return self._tx(statements)

    def query(self, q: str, params: tuple = ()) -> list[tuple]:
        return self._query(q, params)

    def audit_statement(self, actor: str, action: str, detail: dict) -> tuple[str, tuple]:
        """The statement appending one entry to the audit log (to run in :meth:`transaction`)."""
        return self._audit_stmt(actor, action, detail)

    def _audit_stmt(self, actor: str, action: str, detail: dict) -> tuple[str, tuple]:
        p = self._ph
        return (f"INSERT INTO {self._audit} (ts_ns, actor, action, detail) VALUES ({p}, {p}, {p}, {p})",
                (time.time_ns(), actor, action, json.dumps(detail, sort_keys=True)))

    # -- keys -------------------------------------------------------------------------------
    def create_key(self, role: str, account: str | None = None, label: str = "", *, actor: str = "cli") -> tuple[KeyRecord, str]:
        """Create a key; returns its record and the plaintext token (shown only now)."""
        if role not in ROLES:
            raise InvalidInput("role", f"unknown role {role!r} (one of {', '.join(ROLES)})")
        from ramparts.domain.accounts import check_name

        if role == "trader" or (role == "liquidator" and account is not None):
            check_name(account, "account")  # a liquidator's keeper name is an account name too
        elif account is not None:
            raise InvalidInput("account", f"only trader (its account) and liquidator (its keeper name) keys are bound, not {role}")
        if not isinstance(label, str) or len(label) > 200:
            raise InvalidInput("label", "at most 200 characters")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        rec = KeyRecord(key_id, role, account, label, time.time_ns(), None, salt, hash_secret(secret, salt))
        p = self._ph
        self._tx([
            (f"INSERT INTO {self._keys} (key_id, salt, digest, role, account, label, created_ns, revoked_ns)"
             f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, NULL)",
             (key_id, salt, rec.digest, role, account, label, rec.created_ns)),
            self._audit_stmt(actor, "create_key", {"key_id": key_id, "role": role, "account": account, "label": label}),
        ])
        return rec, f"rk_{key_id}_{secret}"

    def revoke(self, key_id: str, *, actor: str = "cli") -> bool:
        """Revoke a key (idempotent); False if no such key."""
        p = self._ph
        n = self._tx([
            self._audit_stmt(actor, "revoke_key", {"key_id": key_id}),
            (f"UPDATE {self._keys} SET revoked_ns = {p} WHERE key_id = {p} AND revoked_ns IS NULL", (time.time_ns(), key_id)),
        ])
        if n:
            return True
        return self.get(key_id) is not None

    def get(self, key_id: str) -> KeyRecord | None:
        p = self._ph
        rows = self._query(f"SELECT key_id, role, account, label, created_ns, revoked_ns, salt, digest FROM {self._keys} WHERE key_id = {p}", (key_id,))
        if not rows:
            return None
        r = rows[0]
        return KeyRecord(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bytes(r[7]))

    def list_keys(self) -> list[KeyRecord]:
        rows = self._query(f"SELECT key_id, role, account, label, created_ns, revoked_ns, salt, digest FROM {self._keys} ORDER BY created_ns, key_id")
        return [KeyRecord(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), bytes(r[7])) for r in rows]

    def audit(self, actor: str, action: str, detail: dict) -> None:
        """Append one admin action to the durable audit log."""
        self._tx([self._audit_stmt(actor, action, detail)])

    def audit_entries(self, limit: int = 100) -> list[dict]:
        p = self._ph
        rows = self._query(f"SELECT id, ts_ns, actor, action, detail FROM {self._audit} ORDER BY id DESC LIMIT {p}", (limit,))
        return [{"id": r[0], "ts_ns": r[1], "actor": r[2], "action": r[3], "detail": json.loads(r[4])} for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class RateLimiter:
    """A token bucket per key: ``rate`` tokens per second, at most ``burst`` banked."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = float(rate), float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; returns 0 if allowed, else the seconds until it would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate


class FailureThrottle:
    """Failed-authentication back-off per client address and per key id (see the module docstring).

    ``threshold`` failures are free; the next block lasts ``base_s`` and doubles with every further
    failure, up to ``max_s``. Attempts refused while blocked are not counted (they cost nothing).
    Failures are forgotten ``forget_s`` after the last one; at most ``max_entries`` addresses and key
    ids are remembered (the least recently failed are forgotten first). ``threshold <= 0`` disables it.
    """

    def __init__(self, threshold: int = 5, base_s: float = 1.0, max_s: float = 300.0, forget_s: float = 900.0,
                 max_entries: int = 100_000):
        self.threshold, self.base_s, self.max_s, self.forget_s = int(threshold), float(base_s), float(max_s), float(forget_s)
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[tuple[str, str], list[float]] = OrderedDict()  # -> [failures, blocked until, last failure]
        self._lock = threading.Lock()

    @staticmethod
    def _keys(key_id: str | None, client: str | None) -> list[tuple[str, str]]:
        keys = []
        if client:
            keys.append(("client", client))
        if key_id:
            keys.append(("key", key_id))
        return keys

    def _live(self, k: tuple[str, str], now: float) -> list[float] | None:
        e = self._entries.get(k)
        if e is not None and now >= e[1] and now - e[2] > self.forget_s:
            del self._entries[k]
            return None
        return e

    def wait(self, key_id: str | None, client: str | None) -> tuple[float, str] | None:
        """(seconds left, what is blocked) when an attempt must be refused now, else None."""
        if self.threshold <= 0:
            return None
        now = time.monotonic()
        worst = None
        with self._lock:
            for k in self._keys(key_id, client):
                e = self._live(k, now)
                if e is not None and e[1] > now and (worst is None or e[1] - now > worst[0]):
                    worst = (e[1] - now, k)
        if worst is None:
            return None
        left, (kind, name) = worst
        what = f"from {name}" if kind == "client" else f"for key id {name}"
        return left, what

    def check(self, key_id: str | None, client: str | None) -> None:
        """Raise :class:`AuthError` 429 ``auth_throttled`` while blocked (before any scrypt)."""
        w = self.wait(key_id, client)
        if w is not None:
            left, what = w
            raise AuthError(429, "auth_throttled", f"too many failed authentications {what}; retry in {max(1, round(left))} s",
                            retry_after=left)

    def failed(self, key_id: str | None, client: str | None) -> None:
        if self.threshold <= 0:
            return
        now = time.monotonic()
        with self._lock:
            for k in self._keys(key_id, client):
                e = self._live(k, now)
                if e is None:
                    e = self._entries[k] = [0, 0.0, now]
                e[0] += 1
                e[2] = now
                if e[0] >= self.threshold:
                    e[1] = now + min(self.max_s, self.base_s * 2.0 ** min(e[0] - self.threshold, 64))
                self._entries.move_to_end(k)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def succeeded(self, key_id: str) -> None:
        """A verified key: its own failures are forgotten (the client address's are not)."""
        with self._lock:
            self._entries.pop(("key", key_id), None)


class TicketBook:
    """Single-use stream tickets: ``rt_<random>``, valid ``ttl_s`` seconds, at most ``per_key``
    outstanding per key (issuing more forgets the oldest) and ``max_total`` in all. Only a SHA-256 of
    each ticket is kept."""

    def __init__(self, ttl_s: float = TICKET_TTL_S, per_key: int = 16, max_total: int = 100_000):
        self.ttl_s, self.per_key, self.max_total = float(ttl_s), int(per_key), int(max_total)
        self._tickets: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._by_key: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def _drop(self, h: bytes) -> None:
        got = self._tickets.pop(h, None)
        if got is not None:
            hs = self._by_key.get(got[0].key_id)
            if hs is not None:
                if h in hs:
                    hs.remove(h)
                if not hs:
                    del self._by_key[got[0].key_id]

    def issue(self, principal: Principal) -> tuple[str, float]:
        """A new ticket for ``principal`` and its lifetime in seconds."""
        ticket = "rt_" + secrets.token_urlsafe(32)
        h = hashlib.sha256(ticket.encode()).digest()
        now = time.monotonic()
        with self._lock:
            while self._tickets:  # expired ones first (the oldest are at the front)
                first = next(iter(self._tickets))
                if self._tickets[first][1] > now:
                    break
                self._drop(first)
            mine = self._by_key.get(principal.key_id, [])
            while len(mine) >= self.per_key:
                self._drop(mine[0])
                mine = self._by_key.get(principal.key_id, [])
            while len(self._tickets) >= self.max_total:
                self._drop(next(iter(self._tickets)))
            self._tickets[h] = (principal, now + self.ttl_s)
            self._by_key.setdefault(principal.key_id, []).append(h)
        return ticket, self.ttl_s

    def redeem(self, ticket: str | None) -> Principal:
        """The ticket's principal, once; raises :class:`AuthError` 401 ``invalid_ticket``."""
        if isinstance(ticket, str) and 0 < len(ticket) <= 256:
            h = hashlib.sha256(ticket.encode()).digest()
            with self._lock:
                got = self._tickets.get(h)
                self._drop(h)
            if got is not None and got[1] > time.monotonic():
                return got[0]
        raise AuthError(401, "invalid_ticket",
                        f"unknown, used or expired ticket: POST /v1/tickets (with the X-API-Key header) for a new one "
                        f"(single use, valid {self.ttl_s:g} s)")

    def forget(self, key_id: str) -> None:
        with self._lock:
            for h in list(self._by_key.get(key_id, ())):
                self._drop(h)

    def __len__(self) -> int:
        return len(self._tickets)


class Authenticator:
    """Verifies tokens against a :class:`KeyStore` with a short cache, throttles failures, issues
    stream tickets, and applies the rate limit."""

    def __init__(self, store: KeyStore, *, rate: float = 100.0, burst: float = 200.0, recheck_s: float = 2.0,
                 throttle: FailureThrottle | None = None, tickets: TicketBook | None = None):
        self.store = store
        self.limiter = RateLimiter(rate, burst)
        self.recheck_s = recheck_s
        self.throttle = throttle if throttle is not None else FailureThrottle()
        self.tickets = tickets if tickets is not None else TicketBook()
        self._cache: dict[str, tuple[bytes, Principal, float]] = {}  # key_id -> (sha256(token), principal, checked at)
        self._lock = threading.Lock()

    def _known(self, key_id: str, fast: bytes) -> tuple[bytes, Principal, float] | None:
        """The cache entry when this exact token was verified before (fresh or not)."""
        with self._lock:
            hit = self._cache.get(key_id)
        return hit if hit is not None and hmac.compare_digest(hit[0], fast) else None

    def precheck(self, token: str | None, client: str | None = None) -> None:
        """Raise 429 now, without I/O, if ``token`` would be throttled (a verified token never is)."""
        parts = split_token(token) if token else None
        if token and parts is not None and self._known(parts[0], hashlib.sha256(token.encode()).digest()) is not None:
            return
        if token:
            self.throttle.check(parts[0] if parts else None, client)

    def verify(self, token: str | None, client: str | None = None) -> Principal:
        """The principal of ``token``; raises :class:`AuthError` (401, or 429 while ``client`` or the key
        id is throttled). Blocking: scrypt on a cache miss, also for an unknown key id."""
        if not token:
            raise AuthError(401, "unauthorized", "an API key is required (X-API-Key header or Authorization: Bearer)")
        parts = split_token(token)
        if parts is None:
            self.throttle.check(None, client)
            self.throttle.failed(None, client)
            raise AuthError(401, "unauthorized", "malformed API key")
        key_id, secret = parts
        fast = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        hit = self._known(key_id, fast)
        if hit is not None and now - hit[2] < self.recheck_s:
            return hit[1]
        if hit is None:  # a verified token (only revocation is re-checked) is never throttled
            self.throttle.check(key_id, client)
        rec = self.store.get(key_id)
        if rec is None:
            hmac.compare_digest(hash_secret(secret, _DUMMY_SALT), _DUMMY_DIGEST)  # the same cost as a known key id
            self.throttle.failed(key_id, client)
            raise AuthError(401, "unauthorized", "unknown or invalid API key")
        if hit is None and not hmac.compare_digest(hash_secret(secret, rec.salt), rec.digest):
            self.throttle.failed(key_id, client)
            raise AuthError(401, "unauthorized", "unknown or invalid API key")
        if rec.revoked_ns is not None:
            self.forget(key_id)
            self.throttle.failed(key_id, client)
            raise AuthError(401, "revoked", f"API key {key_id} has been revoked")
        self.throttle.succeeded(key_id)
        principal = Principal(rec.key_id, rec.role, rec.account, rec.label)
        with self._lock:
            self._cache[key_id] = (fast, principal, now)
        return principal

    def forget(self, key_id: str) -> None:
        """Drop a key's cached verification and its outstanding stream tickets (on revocation)."""
        with self._lock:
            self._cache.pop(key_id, None)
        self.tickets.forget(key_id)

    def cached(self, token: str | None) -> Principal | None:
        """The principal if the token is in the fresh cache (no I/O), else None."""
        parts = split_token(token) if token else None
        if parts is None:
            return None
        hit = self._known(parts[0], hashlib.sha256(token.encode()).digest())
        if hit is not None and time.monotonic() - hit[2] < self.recheck_s:
            return hit[1]
        return None

    def authorize(self, principal: Principal, action: str, *, cost: float = 1.0) -> None:
        """Role check, then the rate limit (403, 429)."""
        if not principal.can(action):
            raise AuthError(403, "forbidden", f"role {principal.role} may not {action.replace('_', ' ')}")
        wait = self.limiter.take(principal.key_id, cost)
        if wait:
            raise AuthError(429, "rate_limited", f"rate limit of key {principal.key_id} exceeded; retry in {wait:.2f}s", retry_after=wait)


__all__ = ["PERMISSIONS", "ROLES", "TICKET_TTL_S", "AuthError", "Authenticator", "FailureThrottle", "KeyRecord", "KeyStore",
           "Principal", "RateLimiter", "TicketBook", "hash_secret", "split_token"]
