"""API keys, roles, the per-key rate limit and the durable admin audit log of the risk service.

This module owns who may do what:

* :class:`KeyStore` keeps API keys **hashed at rest** (scrypt with a per-key random salt; the
  plaintext token is shown once, at creation) and an append-only ``audit_log`` of admin actions
  (key creation and revocation), each written in the same durable transaction as the change it
  records. It lives in SQLite (WAL, ``synchronous=FULL``) or PostgreSQL (the journal's schema),
  chosen by URL exactly like the journal.
* :data:`PERMISSIONS` maps every action of the API to the roles allowed to do it. Roles:
  ``trader`` (bound to one account: may only read and move its own sub-accounts ``account/*``),
  ``oracle`` (prices), ``matcher`` (the matching engine: fill batches), ``sequencer`` (the venue's
  sequencer: ``TradeBatch`` events merging the matcher's fills and the oracle's prices in one
  order, batch mode), ``liquidator`` (liquidation
  and funding ticks, the queue), ``risk_officer`` (parameters, listings, insurance funding,
  onboarding, keys), ``auditor`` (read-only everything).
* :class:`Authenticator` turns a presented token into a :class:`Principal`: constant-time
  comparison of the scrypt hash, a short in-memory cache of verified tokens (keyed by a SHA-256 of
  the token, re-checked against the store for revocation every ``recheck_s``), and a token-bucket
  :class:`RateLimiter` per key (HTTP 429 when empty).

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
from dataclasses import dataclass
from typing import Any

from ramparts.errors import InvalidInput, RampartsError
from ramparts.journal.store import JournalUnavailable

ROLES = ("trader", "oracle", "matcher", "sequencer", "liquidator", "risk_officer", "auditor")

#: action -> roles allowed. ``trader`` actions are further restricted to the key's own account.
PERMISSIONS: dict[str, frozenset[str]] = {
    "deposit": frozenset({"trader", "risk_officer"}),
    "withdraw": frozenset({"trader"}),
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
    "read_account": frozenset({"trader", "liquidator", "risk_officer", "auditor"}),
    "read_queue": frozenset({"liquidator", "risk_officer", "auditor"}),
    "read_all": frozenset({"risk_officer", "auditor"}),
    "read_market": frozenset(ROLES),
    "stream": frozenset(ROLES),
}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


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

    # -- transactions -----------------------------------------------------------------------
    def _tx(self, statements: list[tuple[str, tuple]]) -> int:
        """Run statements in one transaction; returns the last statement's rowcount."""
        with self._lock:
            if self.is_pg:
                with self._conn.transaction():
                    cur = None
                    for q, params in statements:
                        cur = self._conn.execute(q, params)
                    return cur.rowcount if cur is not None else 0
            db = self._conn
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = None
                for q, params in statements:
                    cur = db.execute(q, params)
                db.execute("COMMIT")
                return cur.rowcount if cur is not None else 0
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _query(self, q: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return list(self._conn.execute(q, params).fetchall())

    def _audit_stmt(self, actor: str, action: str, detail: dict) -> tuple[str, tuple]:
        p = self._ph
        return (f"INSERT INTO {self._audit} (ts_ns, actor, action, detail) VALUES ({p}, {p}, {p}, {p})",
                (time.time_ns(), actor, action, json.dumps(detail, sort_keys=True)))

    # -- keys -------------------------------------------------------------------------------
    def create_key(self, role: str, account: str | None = None, label: str = "", *, actor: str = "cli") -> tuple[KeyRecord, str]:
        """Create a key; returns its record and the plaintext token (shown only now)."""
        if role not in ROLES:
            raise InvalidInput("role", f"unknown role {role!r} (one of {', '.join(ROLES)})")
        if role == "trader":
            from ramparts.domain.accounts import check_name

            check_name(account, "account")
        elif account is not None and role != "liquidator":
            raise InvalidInput("account", f"only trader (its account) and liquidator (its keeper name) keys are bound, not {role}")
        if account is not None and role == "liquidator":
            if not isinstance(account, str) or not 0 < len(account) <= 64:
                raise InvalidInput("account", "a liquidator name is 1 to 64 characters")
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


class Authenticator:
    """Verifies tokens against a :class:`KeyStore` with a short cache, and applies the rate limit."""

    def __init__(self, store: KeyStore, *, rate: float = 100.0, burst: float = 200.0, recheck_s: float = 2.0):
        self.store = store
        self.limiter = RateLimiter(rate, burst)
        self.recheck_s = recheck_s
        self._cache: dict[str, tuple[bytes, Principal, float]] = {}  # key_id -> (sha256(token), principal, checked at)
        self._lock = threading.Lock()

    def verify(self, token: str | None) -> Principal:
        """The principal of ``token``; raises :class:`AuthError` (401). Blocking (scrypt on a cache miss)."""
        if not token:
            raise AuthError(401, "unauthorized", "an API key is required (X-API-Key header, Bearer token, or ?key=)")
        parts = split_token(token)
        if parts is None:
            raise AuthError(401, "unauthorized", "malformed API key")
        key_id, secret = parts
        fast = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_id)
        if hit is not None and hmac.compare_digest(hit[0], fast) and now - hit[2] < self.recheck_s:
            return hit[1]
        rec = self.store.get(key_id)
        if rec is None:
            raise AuthError(401, "unauthorized", "unknown or invalid API key")
        known = hit is not None and hmac.compare_digest(hit[0], fast)  # verified before: only revocation is re-checked
        if not known and not hmac.compare_digest(hash_secret(secret, rec.salt), rec.digest):
            raise AuthError(401, "unauthorized", "unknown or invalid API key")
        if rec.revoked_ns is not None:
            with self._lock:
                self._cache.pop(key_id, None)
            raise AuthError(401, "revoked", f"API key {key_id} has been revoked")
        principal = Principal(rec.key_id, rec.role, rec.account, rec.label)
        with self._lock:
            self._cache[key_id] = (fast, principal, now)
        return principal

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def cached(self, token: str | None) -> Principal | None:
        """The principal if the token is in the fresh cache (no I/O), else None."""
        parts = split_token(token) if token else None
        if parts is None:
            return None
        with self._lock:
            hit = self._cache.get(parts[0])
        if hit is not None and hmac.compare_digest(hit[0], hashlib.sha256(token.encode()).digest()) and time.monotonic() - hit[2] < self.recheck_s:
            return hit[1]
        return None

    def authorize(self, principal: Principal, action: str, *, cost: float = 1.0) -> None:
        """Role check, then the rate limit (403, 429)."""
        if not principal.can(action):
            raise AuthError(403, "forbidden", f"role {principal.role} may not {action.replace('_', ' ')}")
        wait = self.limiter.take(principal.key_id, cost)
        if wait:
            raise AuthError(429, "rate_limited", f"rate limit of key {principal.key_id} exceeded; retry in {wait:.2f}s", retry_after=wait)


__all__ = ["PERMISSIONS", "ROLES", "AuthError", "Authenticator", "KeyRecord", "KeyStore", "Principal", "RateLimiter", "hash_secret"]
