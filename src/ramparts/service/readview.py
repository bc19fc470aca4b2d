"""The read side of the risk service: every read is served from a published, immutable view.

This module owns :class:`ReadView` (what a read sees), the read functions that build each route's
answer from a view, :class:`Publisher` (which gets views and state hashes out of the writer
without holding it up), :class:`ReadJournal` (the journal reads of ``/v1/events``, on a
connection of their own) and :class:`TooEarly` (HTTP 425).

**Views.** A :class:`ReadView` is a frozen copy, taken on the writer thread *between two commits*,
of what the read routes need: the per-sub-account arrays (equity, margins, cash, flags), the
position book's columns, each market's prices, the insurance funds and the breakers, all at one
``seq``. Taking one is a handful of ``memcpy`` (1-5 ms at 200,000 sub-accounts with a position
each, depending on the machine's load); everything a route computes from it (lists, the queue, histograms, ADL order,
sorting, formatting) runs on the request's side (the event loop or a read thread), never on the
writer thread. Views are published on demand: a read that needs a newer view than the last one
wakes the :class:`Publisher`, which asks the writer thread for one as soon as the rate budget
allows (``view_budget``, default 1 %: after a capture that took *c* seconds the next one waits at
least *c* / 0.01), so any number of readers cost the writer at most that share of its time, and
nothing when no one reads. One capture answers every reader waiting for it. While the writer is
quiet (under ``quiet``, 10 %, of its last second spent committing) the budget is not waited for:
there are no writes to slow down.

**Which seq a read reflects.** Every answer states the ``seq`` it reflects. By default a read
waits for a view at least as new as the last commit when it arrived (so it sees every write
acknowledged before it: read-your-writes, as before); ``?min_seq=N`` asks for a view at ``N`` or
later instead (``min_seq=0``: whatever is published, without waiting). A seq beyond the last
commit is refused with 425 ``seq_not_committed``: at once if the events in flight cannot reach it,
else after waiting for them briefly (``read_wait_s``, 1 s).

**The state hash.** :meth:`Engine.state_hash` is O(state) (0.1-0.9 s at 50,000-200,000
sub-accounts) and must never run on the writer thread, nor in a thread of this process (it is pure
Python: it would hold the GIL the writer needs). The publisher forks: ``os.fork()`` on the writer
thread, between two commits, gives a child process a copy-on-write image of the engine at exactly
that seq (15-35 ms for the 200,000-account venue's process, the whole cost to the writer); the child, at ``nice`` 10
with its garbage collector off, computes the hash on another core, writes it to a pipe and
``_exit``\\ s. A collector thread reads the pipe and publishes the hash with the view captured at
the same instant, so ``/v1/state`` and ``/v1/overview`` always pair a hash with the seq and data
it belongs to. One child at a time, and forks are budgeted like views (``hash_budget``, 1 % of the
writer's time, not waited for while the writer is quiet), the children too (``child_share``: on
average at most half a core, so a venue's hashes never take a small machine's cores from it).
Where ``os.fork`` does not exist, or a child fails, the hash is computed on the writer thread
instead (``hash_mode="inline"``), under the same budget. A child's memory is the pages either
process writes while it runs (copy-on-write): transiently up to the engine's size, as it walks
every object. ``benchmarks/bench_service_reads.py`` measures what all this costs a matcher.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput, RampartsError, UnknownEntity
from ramparts.liquidation.waterfall import adl_keys, adl_ranking
from ramparts.service import views

log = logging.getLogger("ramparts.service")

RATIO_BUCKETS = views.RATIO_BUCKETS
#: The most a ``?min_seq=`` may name (the journal's seq is a signed 64-bit integer).
MAX_SEQ = 2**63 - 1
_STATES = np.array(["healthy", "margin_called", "in_liquidation", "bankrupt"], dtype=object)


class TooEarly(RampartsError):
    """HTTP 425: the read asked for a seq the service has not reached (``seq_not_committed``), or
    its view did not come in time (``view_pending``). ``Retry-After`` says when to retry."""

    status = 425

    def __init__(self, reason: str, message: str, retry_after: float = 1.0):
        self.reason, self.message, self.retry_after = reason, message, retry_after
        super().__init__(message)


# ------------------------------------------------------------------------------------------- the view
class OwnerIndex:
    """Sub-account indices by account, grown as sub-accounts open (shared by every view; a view
    reads only the indices below its own count). Sub-accounts are never removed or renumbered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[str, list[int]] = {}
        self._upto = 0

    def of(self, subs: list, n: int, owner: str) -> list[int]:
        with self._lock:
            if n > self._upto:
                for s in range(self._upto, n):
                    self._by_owner.setdefault(subs[s].id.account, []).append(s)
                self._upto = n
            return [s for s in self._by_owner.get(owner, ()) if s < n]


@dataclass(frozen=True, eq=False)
class ReadView:
    """The engine's state at one ``seq``, frozen for the read routes (see the module docstring).

    The arrays are copies; ``subs`` and the two id maps are the engine's own (sub-accounts are only
    ever appended, so the first ``n`` entries never change), instruments are shared (their
    mutable parts, the margin schedules, are captured separately), markets are copied as tuples.
    """

    seq: int
    time_ns: int
    captured_ns: int
    n: int
    subs: list
    sub_by_str: dict
    sub_by_id: dict
    settlement: Any
    equity: np.ndarray
    mm: np.ndarray
    im: np.ndarray
    cash: np.ndarray
    coll: np.ndarray
    in_liq: np.ndarray
    called: np.ndarray
    system: np.ndarray
    insolvent: np.ndarray
    head: np.ndarray
    b_sub: np.ndarray
    b_instr: np.ndarray
    b_lots: np.ndarray
    b_cost: np.ndarray
    b_entry: np.ndarray
    b_value: np.ndarray
    b_mm: np.ndarray
    b_im: np.ndarray
    b_next: np.ndarray
    b_live: np.ndarray
    instruments: tuple
    instr_by_symbol: dict
    schedules: tuple
    markets: tuple  # (index_price, mark, settled, last_funding_rate_ppb) per instrument
    insurance_units: dict
    breakers: dict
    owners: OwnerIndex
    adl_rank: str = "profit_leverage"  # the venue's ADL ranking (LiquidationConfig.adl_rank)
    memo: dict = field(default_factory=dict)

    @classmethod
    def capture(cls, e, owners: OwnerIndex | None = None) -> ReadView:
        """Copy what the reads need out of engine ``e`` (on the writer thread, between commits)."""
        n = len(e.subs) if e.ledger is not None else 0
        b = e.book
        hi = b._next
        live = np.ones(hi, dtype=bool)
        if b._free:
            live[np.asarray(b._free, dtype=np.int64)] = False
        z64 = np.zeros(0, dtype=np.int64)
        instruments = tuple(e.instruments)
        return cls(
            seq=e.seq, time_ns=e.time_ns, captured_ns=time.time_ns(), n=n, subs=e.subs, sub_by_str=e._sub_by_str,
            sub_by_id=e._sub_by_id, settlement=e.settlement,
            equity=e.equity_array() if n else z64, mm=e.sub_mm[:n].copy(), im=e.sub_im[:n].copy(),
            cash=e.ledger.sub_cash[:n].copy() if n else z64, coll=e.sub_coll[:n].copy(),
            in_liq=e.in_liquidation[:n].copy(), called=e.margin_called[:n].copy(), system=e.is_system[:n].copy(),
            insolvent=e.insolvent.mask(n).copy(), head=b.head[:n].copy(),
            b_sub=b.sub[:hi].copy(), b_instr=b.instr[:hi].copy(), b_lots=b.lots[:hi].copy(), b_cost=b.cost[:hi].copy(),
            b_entry=b.entry[:hi].copy(), b_value=b.value[:hi].copy(), b_mm=b.mm[:hi].copy(), b_im=b.im[:hi].copy(),
            b_next=b.next[:hi].copy(), b_live=live,
            instruments=instruments, instr_by_symbol={i.symbol: i for i in instruments},
            schedules=tuple(i.schedule for i in instruments),
            markets=tuple((m.index_price, m.mark, m.settled, m.last_funding_rate_ppb) for m in e.markets),
            insurance_units=views.insurance_units(e), breakers=views.breakers(e), owners=owners or OwnerIndex(),
            adl_rank=str(e.liq.adl_rank),
        )

    # -- helpers ------------------------------------------------------------------------------------
    def amt(self, units: int) -> str:
        return str(self.settlement.amount(int(units)))

    def sub_index(self, subaccount: str) -> int:
        """The index of ``subaccount`` in this view (404 for one unknown, or opened after it)."""
        from ramparts.domain.accounts import SubAccountId

        idx = self.sub_by_str.get(subaccount) if isinstance(subaccount, str) else None
        if idx is None:
            idx = self.sub_by_id.get(SubAccountId.parse(subaccount))
        if idx is None or idx >= self.n:
            raise UnknownEntity("subaccount", f"unknown sub-account {subaccount}")
        return idx

    def instrument(self, symbol: str):
        instr = self.instr_by_symbol.get(symbol) if isinstance(symbol, str) else None
        if instr is None:
            raise UnknownEntity("instrument", f"unknown instrument {symbol!r}")
        return instr

    def memoised(self, key: Any, fn: Callable[[], Any]) -> Any:
        """``fn()`` computed once per view (a view never changes); concurrent first calls may both compute."""
        try:
            return self.memo[key]
        except KeyError:
            value = self.memo[key] = fn()
            return value

    @property
    def user(self) -> np.ndarray:
        return ~self.system

    def state_codes(self) -> np.ndarray:
        """0 healthy, 1 margin_called, 2 in_liquidation, 3 bankrupt (as :func:`views._state`)."""
        def build() -> np.ndarray:
            eq, mm = self.equity, self.mm
            code = np.zeros(self.n, dtype=np.int8)
            code[(eq < mm) | self.called] = 1
            code[self.in_liq] = 2
            code[(eq < 0) | self.insolvent | ((eq == 0) & (mm > 0))] = 3
            return code
        return self.memoised("states", build)

    def positions_of(self, s: int) -> list[tuple[int, int]]:
        """(instrument, slot) pairs of sub-account ``s``, sorted by instrument (as ``PositionBook.positions_of``)."""
        out = []
        slot = int(self.head[s]) if s < self.head.size else -1
        while slot >= 0:
            out.append((int(self.b_instr[slot]), slot))
            slot = int(self.b_next[slot])
        return sorted(out)

    def holders(self, instr_idx: int) -> np.ndarray:
        """Slots holding ``instr_idx``, sorted by sub-account (as ``PositionBook.holders``)."""
        def build() -> np.ndarray:
            slots = np.flatnonzero(self.b_live & (self.b_instr == instr_idx))
            return slots[np.argsort(self.b_sub[slots], kind="stable")]
        return self.memoised(("holders", instr_idx), build)

    def has_position(self) -> np.ndarray:
        """Sub-accounts holding at least one non-zero position."""
        def build() -> np.ndarray:
            held = self.b_sub[self.b_live & (self.b_lots != 0)]
            return np.bincount(held, minlength=self.n)[: self.n] > 0 if self.n else np.zeros(0, dtype=bool)
        return self.memoised("has_position", build)


# ------------------------------------------------------------------------------------------- read functions
def _ratio(equity: int, mm: int) -> float | None:
    if mm == 0 or equity <= 0:
        return None
    return mm / equity


def summary(v: ReadView, s: int) -> dict[str, Any]:
    equity, mm = int(v.equity[s]), int(v.mm[s])
    return {"subaccount": v.subs.name(s), "equity": v.amt(equity), "maintenance_margin": v.amt(mm),
            "margin_ratio": _ratio(equity, mm), "state": _STATES[int(v.state_codes()[s])]}


def accounts(v: ReadView, owner: str | None = None) -> list[dict[str, Any]]:
    """Every (non-system) sub-account, or only ``owner``'s (as :func:`views.accounts`)."""
    if owner is not None:
        return [summary(v, s) for s in v.owners.of(v.subs, v.n, owner) if not v.system[s]]
    return v.memoised("accounts", lambda: [summary(v, s) for s in np.flatnonzero(v.user).tolist()])


def account_risk(v: ReadView, subaccount: str) -> dict[str, Any]:
    """Equity, requirements, margin ratio, liquidation price, state and positions (as :func:`views.account_risk`)."""
    from ramparts.margin.liquidation_price import liquidation_price

    s = v.sub_index(subaccount)
    equity, mm, im = int(v.equity[s]), int(v.mm[s]), int(v.im[s])
    held = v.positions_of(s)
    positions = []
    for instr_idx, slot in held:
        instr = v.instruments[instr_idx]
        lots = int(v.b_lots[slot])
        if lots == 0:
            continue
        mark = v.markets[instr_idx][1]
        entry = int(v.b_entry[slot])
        positions.append({
            "instrument": instr.symbol,
            "size": str(instr.size(lots)),
            "entry_price": str(instr.price(abs(entry) // abs(lots))),
            "mark": str(instr.price(mark)),
            "notional": v.amt(abs(lots * mark)),
            "unrealised_pnl": v.amt(int(v.b_value[slot]) - int(v.b_cost[slot])),
            "initial_margin": v.amt(int(v.b_im[slot])),
            "maintenance_margin": v.amt(int(v.b_mm[slot])),
        })
    lp = None
    if len(held) == 1:
        instr_idx, slot = held[0]
        instr = v.instruments[instr_idx]
        raw = liquidation_price(int(v.b_lots[slot]), int(v.b_cost[slot]), int(v.cash[s]) + int(v.coll[s]),
                                v.schedules[instr_idx], instr.lot_underlying)
        lp = None if raw is None else instr.price(raw)
    return {
        "subaccount": v.subs.name(s),
        "mode": v.subs[s].mode.value,
        "cash": v.amt(int(v.cash[s])),
        "equity": v.amt(equity),
        "initial_margin": v.amt(im),
        "maintenance_margin": v.amt(mm),
        "free_collateral": v.amt(max(equity - im, 0)),
        "margin_ratio": _ratio(equity, mm),
        "liquidation_price": None if lp is None else str(lp),
        "state": _STATES[int(v.state_codes()[s])],
        "positions": positions,
    }


def queue_order(v: ReadView) -> list[int]:
    """The sub-accounts of :func:`queue`, in its order: bankrupt first, then by margin ratio, then by name."""
    def build() -> list[int]:
        if v.settlement is None:
            return []
        eq, mm = v.equity, v.mm
        due = np.flatnonzero(v.user & ((eq < mm) | v.in_liq | v.called | (eq < 0)))
        bankrupt = (v.state_codes()[due] == 3).tolist()
        keys = [(not b, -(_ratio(e, m) or 0.0), v.subs.name(s), s)
                for b, e, m, s in zip(bankrupt, eq[due].tolist(), mm[due].tolist(), due.tolist(), strict=True)]
        keys.sort()
        return [k[3] for k in keys]
    return v.memoised("queue_order", build)


def queue(v: ReadView, limit: int | None = None) -> list[dict[str, Any]]:
    """Sub-accounts in breach, in liquidation or bankrupt: bankrupt first, then by margin ratio (as
    :func:`views.queue`); the first ``limit`` only when given (only those are formatted)."""
    order = queue_order(v)
    return [summary(v, s) for s in (order if limit is None else order[:limit])]


def at_risk_counts(v: ReadView) -> tuple[int, int]:
    """(sub-accounts in breach or liquidation, of which in liquidation), as :func:`views.at_risk_counts`."""
    if v.settlement is None:
        return 0, 0
    liq = v.user & v.in_liq
    due = v.user & ((v.equity < v.mm) | liq | (v.equity < 0))
    return int(due.sum()), int(liq.sum())


def liquidating(v: ReadView, limit: int | None = None) -> list[dict[str, Any]]:
    """The liquidation queue proper: sub-accounts in liquidation (or bankrupt), most at risk first."""
    codes = v.state_codes()
    order = [s for s in queue_order(v) if codes[s] >= 2]
    return [summary(v, s) for s in (order if limit is None else order[:limit])]


def nearest(v: ReadView, limit: int = 20) -> list[dict[str, Any]]:
    """The ``limit`` sub-accounts with positions nearest liquidation: lowest equity / maintenance first
    (ties by sub-account index), those already below 1 included."""
    def build() -> tuple[np.ndarray, np.ndarray]:
        sel = np.flatnonzero(v.user & (v.mm > 0))
        ratio = v.equity[sel].astype(np.float64) / v.mm[sel].astype(np.float64)
        order = np.lexsort((sel, ratio))
        return sel[order], ratio[order]
    subs, ratio = v.memoised("nearest", build)
    out = []
    for s, r in zip(subs[:limit].tolist(), ratio[:limit].tolist(), strict=True):
        row = summary(v, s)
        row["equity_to_maintenance"] = r
        out.append(row)
    return out


def insurance(v: ReadView) -> dict[str, Any]:
    """The insurance funds (as :func:`views.insurance`)."""
    if v.settlement is None:
        return {"asset": "", "funds": {}, "total": "0"}
    funds = v.insurance_units
    return {"asset": v.settlement.symbol, "funds": {k: v.amt(x) for k, x in funds.items()}, "total": v.amt(sum(funds.values()))}


def markets(v: ReadView) -> list[dict[str, Any]]:
    """Every instrument with its index, mark and open interest (as :func:`views.markets`)."""
    def build() -> list[dict[str, Any]]:
        k = len(v.instruments)
        instr_of = v.b_instr[v.b_live].astype(np.int64)
        lots = v.b_lots[v.b_live]
        holders = np.bincount(instr_of, minlength=k) if k else np.zeros(0, dtype=np.int64)
        oi_units = np.zeros(k, dtype=np.int64)
        np.add.at(oi_units, instr_of[lots > 0], lots[lots > 0])  # exact integer sums
        out = []
        for instr in v.instruments:
            index_price, mark, settled, rate = v.markets[instr.index]
            oi = int(oi_units[instr.index])
            out.append({
                "symbol": instr.symbol,
                "kind": instr.kind.value,
                "index_price": str(instr.price(index_price)) if index_price else None,
                "mark": str(instr.price(mark)) if mark else None,
                "open_interest": str(instr.size(oi)),
                "open_interest_notional": v.amt(oi * mark),
                "holders": int(holders[instr.index]),
                "settled": settled,
                "last_funding_rate_ppb": rate,
            })
        return out
    return v.memoised("markets", build)


def adl(v: ReadView, symbol: str, limit: int | None = None) -> dict[str, Any]:
    """Both sides of a market in the order the waterfall deleverages them (as :func:`views.adl`,
    the engine's own :func:`~ramparts.liquidation.waterfall.adl_ranking`)."""
    instr = v.instrument(symbol)

    def ranked() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        h = v.holders(instr.index)
        h = h[~v.system[v.b_sub[h]]]
        out = {}
        for name, sign in (("longs", 1), ("shorts", -1)):
            opp = h[np.sign(v.b_lots[h]) == sign]
            subs = v.b_sub[opp].astype(np.int64)
            lots, value, entry, equity = v.b_lots[opp], v.b_value[opp], v.b_entry[opp], v.equity[subs]
            order = adl_ranking(lots, value, entry, equity, subs, v.adl_rank)
            keys = adl_keys(lots, value, entry, equity, v.adl_rank)
            out[name] = (opp[order], subs[order], keys[order])  # slots, sub-accounts and keys, in deleveraging order
        return out

    sides = v.memoised(("adl", instr.symbol), ranked)
    out: dict[str, Any] = {"instrument": instr.symbol}
    for name, (slots, subs, keys) in sides.items():
        out[name] = [views.adl_row(rank, v.subs.name(s), instr.size(int(v.b_lots[slot])), int(v.b_value[slot]),
                                   int(v.b_entry[slot]), int(v.equity[s]), k)
                     for rank, (slot, s, k) in enumerate(zip(slots[:limit].tolist(), subs[:limit].tolist(),
                                                             keys[:limit].tolist(), strict=True), start=1)]
    if limit is not None:
        out["longs_total"], out["shorts_total"] = int(sides["longs"][0].size), int(sides["shorts"][0].size)
    return out


def ratio_histogram(v: ReadView) -> dict[str, int]:
    """Sub-accounts by margin ratio bucket (maintenance / equity); ``bankrupt`` for equity <= 0 with a
    position, and ``no positions`` for the accounts that hold none (as :func:`views.ratio_histogram`)."""
    def build() -> dict[str, int]:
        hist = {f"{lo:g}-{hi:g}" if hi != math.inf else f">={lo:g}": 0 for lo, hi in RATIO_BUCKETS}
        hist["bankrupt"] = 0
        hist["no positions"] = 0
        if v.settlement is None:
            return hist
        user, held = v.user, v.has_position()
        sel = user & held
        eq, mm = v.equity[sel], v.mm[sel]
        hist["bankrupt"] = int((eq <= 0).sum())
        pos = eq > 0
        ratio = mm[pos] / eq[pos]
        for (lo, hi), key in zip(RATIO_BUCKETS, list(hist)[: len(RATIO_BUCKETS)], strict=True):
            hist[key] = int(((ratio >= lo) & (ratio < hi)).sum())
        hist["no positions"] = int((user & ~held).sum())
        return hist
    return v.memoised("histogram", build)


def breakers(v: ReadView) -> dict[str, Any]:
    return v.breakers


def account_count(v: ReadView) -> int:
    return int(v.user.sum())


# ------------------------------------------------------------------------------------------- the hash
@dataclass(frozen=True)
class Hashed:
    """A state hash with the seq, time and view it belongs to."""

    seq: int
    time_ns: int
    state_hash: str
    view: ReadView

    def state(self) -> dict[str, Any]:
        return {"seq": self.seq, "time_ns": self.time_ns, "state_hash": self.state_hash}


def fork_child(produce: Callable[[], bytes]) -> tuple[int, int]:
    """Fork a child that writes ``produce()`` (computed from its copy-on-write image of this process) to a pipe
    and ``_exit``\\ s; returns (pid, read end). Called on the writer thread, between two commits, the image is
    that commit's state. The child runs at ``nice`` 10 with its garbage collector off (no finaliser of the
    parent's sockets or connections may run in it) and default signal handlers. Used for the state hash
    (:func:`_fork_hash`) and for the service's snapshots (:mod:`ramparts.service.writer`)."""
    r, w = os.pipe()
    with warnings.catch_warnings():  # Python 3.12 warns about fork() in a threaded process: the child below
        warnings.simplefilter("ignore", DeprecationWarning)  # only computes and _exits, it takes no lock
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (its coverage is not collected)
        code = 1
        try:
            gc.disable()
            os.close(r)
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (ValueError, OSError):
                    pass
            try:
                os.nice(10)
            except OSError:
                pass
            data = memoryview(produce())
            while data:
                data = data[os.write(w, data):]
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def collect_child(pid: int, fd: int, timeout_s: float) -> bytes | None:
    """Read everything a :func:`fork_child` child wrote (None if it failed or ran past ``timeout_s``) and reap it."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    killed = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return b"".join(chunks) if not killed and os.waitstatus_to_exitcode(status) == 0 else None


def _fork_hash(engine) -> tuple[int, int]:
    """A child computing ``engine.state_hash()`` (:func:`fork_child`)."""
    return fork_child(lambda: engine.state_hash().encode("ascii"))


def _collect(pid: int, fd: int, timeout_s: float) -> str | None:
    """The child's hash (None if it failed, ran past ``timeout_s`` or wrote something else)."""
    buf = collect_child(pid, fd, timeout_s)
    return buf.decode("ascii") if buf is not None and len(buf) == 64 else None


# ------------------------------------------------------------------------------------------- the publisher
class Publisher:
    """Publishes views and state hashes for the readers (see the module docstring); lives on the
    event loop, asks the writer thread for captures through :meth:`Writer.on_writer_thread`."""

    def __init__(self, writer, *, view_budget: float = 0.01, hash_budget: float = 0.01, hash_mode: str = "auto",
                 read_wait_s: float = 1.0, view_wait_s: float = 60.0, hash_timeout_s: float = 600.0, quiet: float = 0.1,
                 child_share: float = 0.5):
        if not 0 < view_budget <= 1 or not 0 < hash_budget <= 1:
            raise InvalidInput("view_budget", "the budgets are fractions of the writer's time in (0, 1]")
        if hash_mode not in ("auto", "fork", "inline"):
            raise InvalidInput("hash_mode", f"{hash_mode!r} is not auto, fork or inline")
        self.writer = writer
        self.view_budget, self.hash_budget = view_budget, hash_budget
        self.hash_mode = "inline" if hash_mode == "inline" or not hasattr(os, "fork") else "fork"
        self.read_wait_s, self.view_wait_s, self.hash_timeout_s = read_wait_s, view_wait_s, hash_timeout_s
        #: below this share of its last second spent committing, the writer is quiet: no budget then
        self.quiet = quiet
        #: the hash children may take at most this share of a core on average (the next fork waits)
        self.child_share = child_share
        self.owners = OwnerIndex()
        self.view: ReadView | None = None
        self.hashed: Hashed | None = None
        #: what publishing cost: captures, their writer-thread seconds, hashes, fork seconds (writer
        #: thread), inline hash seconds (writer thread), child seconds (another process)
        self.stats = {"views": 0, "capture_s": 0.0, "hashes": 0, "forks": 0, "fork_s": 0.0, "inline_hash_s": 0.0, "child_s": 0.0}
        self._waiters: list[tuple[str, int, asyncio.Future]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_view = 0.0
        self._next_hash = 0.0
        self._child: tuple[int, ReadView, float] | None = None
        self._collector: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        view, cost, _ = await self.writer.on_writer_thread(self._capture, False)
        self._publish_view(view, cost)
        self._task = asyncio.create_task(self._run(), name="ramparts-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        child = self._child
        if child is not None:
            try:
                os.kill(child[0], signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._collector is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._collector.join, 10)
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(TooEarly("view_pending", "the service is stopping"))
        self._waiters.clear()

    # -- what readers call ------------------------------------------------------------------------------
    def target(self, min_seq: int | None) -> int:
        """The seq a read must reflect: ``min_seq``, or the last commit."""
        return self.writer.seq if min_seq is None else min_seq

    async def view_at(self, min_seq: int | None = None) -> ReadView:
        """A published view at ``min_seq`` or later (default: the last commit when called)."""
        t = self.target(min_seq)
        v = self.view
        if v is not None and v.seq >= t:
            return v
        await self._committed(t)
        return await self._wait("view", t, self.view_wait_s)

    async def hashed_at(self, min_seq: int | None = None) -> Hashed:
        """A state hash (with its view) at ``min_seq`` or later (default: the last commit when called)."""
        t = self.target(min_seq)
        h = self.hashed
        if h is not None and h.seq >= t:
            return h
        await self._committed(t)
        return await self._wait("hash", t, self.view_wait_s)

    def committed(self) -> None:
        """The writer committed (on the event loop): wake what waits for it."""
        if self._waiters and self._wake is not None:
            self._resolve()
            self._wake.set()

    async def _committed(self, t: int) -> None:
        """Wait (``read_wait_s`` at most) for seq ``t`` to be committed, if the events in flight can reach it."""
        if t <= self.writer.seq:
            return
        try:
            if t > self.writer.seq + self.writer.pending:  # nothing in flight reaches it: no use waiting
                raise TooEarly("seq_not_committed", "")
            await self._wait("seq", t, self.read_wait_s)
        except TooEarly:
            raise TooEarly("seq_not_committed", f"seq {t} is not committed yet (the last committed seq is {self.writer.seq}); "
                                                "ask for a seq a write returned, or retry") from None

    async def _wait(self, kind: str, t: int, timeout: float) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((kind, t, fut))
        self._resolve()
        if not fut.done():
            self._wake.set()
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TooEarly("view_pending", f"no view at seq {t} or later was published within {timeout:g} s; retry") from None
        finally:
            self._waiters = [w for w in self._waiters if w[2] is not fut]

    def _resolve(self) -> None:
        seq, v, h = self.writer.seq, self.view, self.hashed
        for kind, t, fut in self._waiters:
            if fut.done():
                continue
            if kind == "seq" and seq >= t:
                fut.set_result(seq)
            elif kind == "view" and v is not None and v.seq >= t:
                fut.set_result(v)
            elif kind == "hash" and h is not None and h.seq >= t:
                fut.set_result(h)

    # -- the loop ------------------------------------------------------------------------------
    def _wanted(self) -> tuple[bool, bool]:
        seq = self.writer.seq
        want_view = want_hash = False
        for kind, t, fut in self._waiters:
            if fut.done() or t > seq:
                continue
            if kind == "view" and (self.view is None or self.view.seq < t):
                want_view = True
            elif kind == "hash" and (self.hashed is None or self.hashed.seq < t):
                want_hash = True
        return want_view, want_hash and self._child is None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                want_view, want_hash = self._wanted()
                if not (want_view or want_hash):
                    break
                now = loop.time()
                quiet = self.writer.utilisation() < self.quiet  # nothing to slow down: no need to wait for the budget
                next_view, next_hash = (now, now) if quiet else (self._next_view, self._next_hash)
                at = max(next_view, next_hash) if want_hash else math.inf
                if want_view:
                    at = min(at, next_view)
                if at > now:
                    await asyncio.sleep(min(at - now, 0.25))  # and look again: the writer may have gone quiet
                    continue
                fork = want_hash and now >= next_hash
                try:
                    view, cost, hashing = await self.writer.on_writer_thread(self._capture, fork)
                except Exception:  # noqa: BLE001 - the node is being rebuilt, or stopping: try again shortly
                    log.exception("view capture failed")
                    await asyncio.sleep(0.1)
                    continue
                end = loop.time()
                self._publish_view(view, cost)
                self._next_view = end + cost / self.view_budget
                if fork:
                    self._started_hash(view, hashing, end)
                self._resolve()

    # -- on the writer thread ----------------------------------------------------------------------
    def _capture(self, fork: bool) -> tuple[ReadView, float, Any]:
        e = self.writer.node.engine
        t0 = time.perf_counter()
        view = ReadView.capture(e, self.owners)
        cost = time.perf_counter() - t0
        hashing: Any = None
        if fork:
            t1 = time.perf_counter()
            if self.hash_mode == "fork":
                try:
                    hashing = ("fork", _fork_hash(e), time.perf_counter() - t1)
                except OSError as exc:  # no memory for the page tables, too many processes: hash here this time
                    log.warning("fork for the state hash failed (%s): hashing on the writer thread", exc)
                    hashing = None
            if hashing is None:
                hashing = ("inline", e.state_hash(), time.perf_counter() - t1)
        return view, cost, hashing

    # -- publishing (event loop) --------------------------------------------------------------------
    def _publish_view(self, view: ReadView, cost: float) -> None:
        if self.view is None or view.seq >= self.view.seq:
            self.view = view
        self.stats["views"] += 1
        self.stats["capture_s"] += cost

    def _started_hash(self, view: ReadView, hashing: tuple, end: float) -> None:
        how, what, seconds = hashing
        self._next_hash = end + seconds / self.hash_budget
        if how == "inline":
            self.stats["inline_hash_s"] += seconds
            self._publish_hash(Hashed(view.seq, view.time_ns, what, view))
            return
        pid, fd = what
        self.stats["forks"] += 1
        self.stats["fork_s"] += seconds
        self._child = (pid, view, time.perf_counter())
        loop = self._loop

        def collect() -> None:
            try:
                digest = _collect(pid, fd, self.hash_timeout_s)
            except Exception:  # noqa: BLE001 - reported as a failed child
                log.exception("collecting the state hash failed")
                digest = None
            try:
                loop.call_soon_threadsafe(self._hash_done, view, digest)
            except RuntimeError:  # the loop closed meanwhile: the service stopped
                pass

        self._collector = threading.Thread(target=collect, name="ramparts-hash-collector", daemon=True)
        self._collector.start()

    def _hash_done(self, view: ReadView, digest: str | None) -> None:
        child, self._child = self._child, None
        if child is not None:
            ran = time.perf_counter() - child[2]
            self.stats["child_s"] += ran
            if self.child_share < 1:  # the children's CPU, another budget: the next one waits its turn
                self._next_hash = max(self._next_hash, self._loop.time() + ran * (1 / self.child_share - 1))
        if digest is None:
            if self.hash_mode == "fork":
                log.error("the state-hash child failed: the state hash is computed on the writer thread from now on")
                self.hash_mode = "inline"
        else:
            self._publish_hash(Hashed(view.seq, view.time_ns, digest, view))
        self._resolve()
        if self._wake is not None:
            self._wake.set()

    def _publish_hash(self, h: Hashed) -> None:
        if self.hashed is None or h.seq >= self.hashed.seq:
            self.hashed = h
        self.stats["hashes"] += 1


# ------------------------------------------------------------------------------------------- journal reads
class ReadJournal:
    """The journal as the read routes see it: a connection of its own (SQLite WAL readers never wait
    for the writer; PostgreSQL: another session), used on one thread of its own. An in-memory
    journal cannot be opened twice: its reads go to the writer (:meth:`Writer.journal`)."""

    def __init__(self, writer):
        self.writer = writer
        self._journal = None
        self._shared = False
        self._ex = ThreadPoolExecutor(1, thread_name_prefix="ramparts-journal-reader")

    def _open(self):
        if self._journal is None and not self._shared:
            from ramparts.journal import JournalNotFound, open_journal

            try:
                self._journal = open_journal(self.writer.journal_url, durability="normal", namespace=self.writer.namespace,
                                             create=False)
            except JournalNotFound:  # in memory: only the writer's connection sees it
                self._shared = True
        return self._journal

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(journal, *args)`` on the reader thread (on the writer's for an in-memory journal)."""
        loop = asyncio.get_running_loop()
        journal = await loop.run_in_executor(self._ex, self._open)
        if journal is None:
            return await self.writer.journal(fn, *args)
        return await loop.run_in_executor(self._ex, fn, journal, *args)

    def close(self) -> None:
        def shut() -> None:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

        self._ex.submit(shut).result()
        self._ex.shutdown(wait=True)


def parse_min_seq(raw: str | None) -> int | None:
    """``?min_seq=`` as an int in [0, 2**63 - 1] (422 ``min_seq`` otherwise); None when absent."""
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_SEQ:
        raise InvalidInput("min_seq", f"must be an integer from 0 to {MAX_SEQ}, got {raw[:40]!r}")
    return int(text)


__all__ = ["Hashed", "OwnerIndex", "Publisher", "ReadJournal", "ReadView", "TooEarly", "account_risk", "accounts", "adl",
           "at_risk_counts", "breakers", "insurance", "liquidating", "markets", "nearest", "parse_min_seq", "queue",
           "ratio_histogram", "summary"]
