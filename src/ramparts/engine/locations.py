"""Collateral that lives elsewhere: where each asset is held, what is in transit, and what a halt or a
failure of that place does to its value.

This module owns the state and the arithmetic of *locations* (a chain, a bridge, a custodian,
another venue), and the engine handlers of their events (:class:`LocationOps`, mixed into
:class:`~ramparts.engine.engine.Engine`).

Rules
-----
* **Binding.** ``ListLocation`` binds collateral assets to one location each (a wrapped asset lives
  where its backing is: ``WETH.wh`` on the Wormhole bridge). The settlement asset is the venue's
  own and binds nowhere. An asset bound to a location moves only by ``LocationDeposit`` /
  ``LocationWithdraw`` naming it; a plain ``Deposit`` / ``Withdraw`` of it is refused.
* **Finality.** A deposit over location ``L`` is *pending* for ``L.finality_ns``: the units sit in
  the ledger account ``pending:<L>`` (``external → pending:<L>``), and count in the depositor's
  equity at ``(1 − pending_haircut)`` of the value they add, rounded down::

      value(s, a) = V(bal) + ⌊(V(bal + pend) − V(bal)) × (10^6 − pending_haircut_ppm) / 10^6⌋

  where ``V`` is the asset's ordinary haircut valuation (:meth:`CollateralState.values`,
  concentration and impact included). The first ``Tick`` at or after ``ts + finality_ns`` while
  ``L`` is active confirms it (``pending:<L> → sub-account``). A finality of 0 credits at once.
* **Leaving.** A withdrawal over ``L`` passes the ordinary withdrawal checks (free collateral,
  gates, breakers), leaves the account at once (``sub-account → inflight:<L>``) and *arrives*
  (``inflight:<L> → external``) at the first ``Tick`` at or after ``ts + finality_ns`` while ``L``
  is active. In flight it is nobody's collateral.
* **Exposure limit.** Per asset, ``−external − inflight:<L>`` (everything the venue holds of it
  there, pending included) may not exceed the asset's limit: a deposit past it is refused. A
  price move never puts a location over its limit (the limit is in units, as Aave v3's supply caps).
* **Halt.** A halted location refuses deposits and withdrawals, and nothing in transit moves: pending
  deposits stay pending (at the pending haircut), withdrawals stay in flight: stranded.
* **Failure.** A failed location is halted and its assets are valued at ``backing_ppm`` of their
  price, ``⌊price × backing_ppm / 10^6⌋`` (:attr:`AssetCollateral.backing_ppm`; a backing of 0
  values them at nothing). Successive ``LocationStatus`` events move the backing as an exploit
  unfolds or funds are recovered. Holders are re-valued at once; margin calls, seizure into the
  backstop vault and the rest of the waterfall follow as for any fall in collateral value. What the
  vault seizes from a failed or halted location is stranded with it.
* **Seizure.** A liquidated account's pending deposits pass to the backstop vault with the rest of
  its collateral; the vault pays what they counted for (so the account's equity is unchanged).

Every transfer is a balanced posting, so each asset's ledger sums to zero after every event; the
locations, their status and backing, and every pending and in-flight item are part of the state
hash (absent while no location is listed, so a venue without locations hashes as before).

Where the rules come from
-------------------------
Bridges and chains have failed in exactly these ways: the Wormhole exploit (2 Feb 2022, 120,000
wETH minted on Solana without backing, restored by Jump the next day), the Nomad bridge drain
(1 Aug 2022, about $190m within hours, its wrapped assets left unbacked), the Multichain halt
(July 2023: cross-chain transfers stopped, then funds drained; wrapped assets depegged). Deposits
are credited only after a chain's finality (exchanges wait for confirmations; Ethereum's finality is
two epochs, about 13 minutes; optimistic-rollup withdrawals take a 7-day challenge window).
Assumptions: the parameter values (finality, pending haircut, limits, backing paths) are the
venue's choices; the lab's are named and marked as assumptions in :mod:`ramparts.lab.bridge`. A
wrapped asset is assumed priced off its native asset's feed (as lending protocols commonly price
wrapped ETH off ETH/USD), which is why the backing is applied separately from the price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, Rejected, UnknownEntity
from ramparts.fixedpoint import PPM

__all__ = ["Location", "LocationOps", "LocationState", "STATUSES"]

STATUSES = ("active", "halted", "failed")
_LOCATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
MAX_ITEMS = 100_000  #: the most deposits or withdrawals in transit at once (bounds the state)


def check_location_id(value: object, field_name: str = "location") -> str:
    if not isinstance(value, str) or not _LOCATION_ID.match(value):
        raise InvalidInput(field_name, f"invalid location id {value!r} (1-64 letters, digits, . _ : / -)")
    return value


@dataclass(frozen=True)
class Location:
    """One location's parameters and status (immutable: a change builds a new one)."""

    id: str
    finality_ns: int
    pending_haircut_ppm: int
    limits: dict[str, int]  #: asset → exposure limit, base units
    status: str = "active"
    backing_ppm: int = PPM
    since_ns: int = 0  #: time of the last status change

    def to_dict(self) -> dict:
        return {"finality_ns": self.finality_ns, "pending_haircut_ppm": self.pending_haircut_ppm,
                "limits": {a: self.limits[a] for a in sorted(self.limits)}, "status": self.status,
                "backing_ppm": self.backing_ppm, "since_ns": self.since_ns}

    @classmethod
    def from_dict(cls, lid: str, d: dict) -> Location:
        return cls(lid, d["finality_ns"], d["pending_haircut_ppm"], dict(d["limits"]), d["status"], d["backing_ppm"], d["since_ns"])


@dataclass
class Transit:
    """A deposit pending at, or a withdrawal in flight over, a location."""

    id: int
    location: str
    asset: str
    sub: int
    units: int
    due_ns: int

    def row(self) -> list:
        return [self.id, self.location, self.asset, self.sub, self.units, self.due_ns]


@dataclass
class LocationState:
    """Every location, and everything in transit (see the module docstring)."""

    locations: dict[str, Location] = field(default_factory=dict)
    home: dict[str, str] = field(default_factory=dict)  # asset → its location (derived from the limits)
    pending: list[Transit] = field(default_factory=list)  # deposits, in order of arrival
    inflight: list[Transit] = field(default_factory=list)  # withdrawals, in order of leaving
    next_id: int = 0
    # derived: asset → sub-account → units pending
    pend_units: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.locations)

    def to_dict(self) -> dict:
        return {"locations": {k: self.locations[k].to_dict() for k in sorted(self.locations)},
                "pending": [t.row() for t in self.pending], "inflight": [t.row() for t in self.inflight], "next_id": self.next_id}

    def load(self, d: dict | None) -> None:
        if not d:
            return
        self.locations = {k: Location.from_dict(k, v) for k, v in d["locations"].items()}
        self.home = {a: k for k, loc in self.locations.items() for a in loc.limits}
        self.pending = [Transit(*r) for r in d["pending"]]
        self.inflight = [Transit(*r) for r in d["inflight"]]
        self.next_id = d["next_id"]
        self._rebuild()

    def _rebuild(self) -> None:
        self.pend_units = {}
        for t in self.pending:
            per = self.pend_units.setdefault(t.asset, {})
            per[t.sub] = per.get(t.sub, 0) + t.units

    def _add_pending(self, t: Transit) -> None:
        self.pending.append(t)
        per = self.pend_units.setdefault(t.asset, {})
        per[t.sub] = per.get(t.sub, 0) + t.units

    def _drop_pending(self, t: Transit) -> None:
        per = self.pend_units[t.asset]
        left = per[t.sub] - t.units
        if left:
            per[t.sub] = left
        else:
            del per[t.sub]

    def due(self, ts: int) -> tuple[list[Transit], list[Transit]]:
        """The pending deposits and in-flight withdrawals that complete at ``ts`` (their location active)."""
        ok = {k for k, loc in self.locations.items() if loc.status == "active"}
        return ([t for t in self.pending if t.due_ns <= ts and t.location in ok],
                [t for t in self.inflight if t.due_ns <= ts and t.location in ok])


def parse_limits(engine: Any, location: str, assets: dict) -> dict[str, int]:
    """Validate ``ListLocation.assets`` (asset → exposure limit, whole units) into base units."""
    if not isinstance(assets, dict) or not assets:
        raise InvalidInput("assets", "name at least one asset held at the location, with its exposure limit")
    if len(assets) > 64:
        raise InvalidInput("assets", f"at most 64 assets a location, got {len(assets)}")
    out = {}
    for sym, limit in assets.items():
        a = engine.assets.get(sym) if isinstance(sym, str) else None
        if a is None:
            raise UnknownEntity(f"assets.{sym}", f"unknown asset {sym!r}")
        if a.symbol == engine.settlement.symbol:
            raise InvalidInput(f"assets.{sym}", f"{sym} is the settlement asset: it is the venue's own and binds to no location")
        if sym not in engine.collateral.assets:
            raise InvalidInput(f"assets.{sym}", f"{sym} is not a collateral asset (list it with collateral parameters first)")
        other = engine.locations.home.get(sym)
        if other is not None:
            raise Rejected("duplicate", f"{sym} is already held at location {other!r}")
        units = a.units(limit, f"assets.{sym}")
        if not 0 <= units <= 10**17:
            raise InvalidInput(f"assets.{sym}", f"the exposure limit must be in [0, 1e17] base units, got {limit}")
        out[sym] = units
    return out


class LocationOps:
    """Mixed into :class:`~ramparts.engine.engine.Engine` (see the module docstring)."""

    # ------------------------------------------------------------------ valuation (used by collateral_ops)
    def _pending_units(self, symbol: str, s: int) -> int:
        per = self.locations.pend_units.get(symbol)
        return per.get(s, 0) if per else 0

    def _pending_holders(self) -> list[tuple[str, int]]:
        return sorted((a, s) for a, per in self.locations.pend_units.items() for s in per)

    def _holding_values(self, symbol: str, holders: list[int], amounts: list[int], overrides: dict | None = None) -> np.ndarray:
        """Haircut values of ``holders``' holdings of ``symbol`` (balances ``amounts``), each with its
        pending deposits at the pending haircut (the module docstring's formula; pure, validates)."""
        v = self.collateral.values(symbol, amounts, overrides)
        per = self.locations.pend_units.get(symbol)
        if not per:
            return v
        rows = [(i, per[s]) for i, s in enumerate(holders) if s in per]
        if not rows:
            return v
        keep = PPM - self.locations.locations[self.locations.home[symbol]].pending_haircut_ppm
        full = self.collateral.values(symbol, [amounts[i] + p for i, p in rows], overrides)
        v = v.copy()
        for (i, _), f in zip(rows, full.tolist(), strict=True):
            v[i] += (f - int(v[i])) * keep // PPM
        return v

    def _holding_value(self, symbol: str, s: int, balance: int) -> int:
        return int(self._holding_values(symbol, [s], [balance])[0])

    # ------------------------------------------------------------------ helpers
    def _location(self, lid: str, field_name: str = "location") -> Location:
        loc = self.locations.locations.get(lid) if isinstance(lid, str) else None
        if loc is None:
            known = ", ".join(sorted(self.locations.locations)) or "none listed"
            raise UnknownEntity(field_name, f"unknown location {lid!r} (known: {known})")
        return loc

    def _bound(self, asset, lid: str) -> Location:
        """The location ``lid`` if ``asset`` is held there; refuses otherwise."""
        loc = self._location(lid)
        home = self.locations.home.get(asset.symbol)
        if home != lid:
            where = f"is held at {home!r}" if home else "is held at no location (use Deposit / Withdraw)"
            raise InvalidInput("asset", f"{asset.symbol} {where}, not at {lid!r}")
        return loc

    def _refuse_bound(self, symbol: str, what: str) -> None:
        """A plain Deposit / Withdraw may not move an asset bound to a location."""
        home = self.locations.home.get(symbol)
        if home is not None:
            raise Rejected("held_elsewhere", f"{symbol} is held at location {home!r}: {what} it with Location{what.capitalize()} "
                                             f"(location={home!r})")

    def _check_open(self, loc: Location, what: str) -> None:
        if loc.status != "active":
            raise Rejected(f"location_{loc.status}", f"location {loc.id!r} is {loc.status}: it takes no {what}")

    def exposure(self, symbol: str) -> int:
        """Units of ``symbol`` the venue holds at its location (pending deposits included, in-flight withdrawals not)."""
        home = self.locations.home[symbol]
        return -self.ledger.balance(symbol, "external") - self.ledger.balance(symbol, f"inflight:{home}")

    # ------------------------------------------------------------------ events
    def _on_ListLocation(self, e: ev.ListLocation) -> list[dict]:
        lid = check_location_id(e.location)
        if lid in self.locations.locations:
            raise Rejected("duplicate", f"location {lid!r} is already listed")
        limits = parse_limits(self, lid, e.assets)
        self.locations.locations[lid] = Location(lid, e.finality_ns, e.pending_haircut_ppm, limits, since_ns=e.ts)
        self.locations.home.update(dict.fromkeys(limits, lid))
        return []

    def _on_LocationStatus(self, e: ev.LocationStatus) -> list[dict]:
        loc = self._location(e.location)
        if e.status == "failed" and e.backing_ppm is None:
            raise InvalidInput("backing_ppm", "a failed location needs the backing that remains (ppm of the price, 0 to 1000000)")
        backing = loc.backing_ppm if e.backing_ppm is None else e.backing_ppm
        new = Location(loc.id, loc.finality_ns, loc.pending_haircut_ppm, loc.limits, e.status, backing, e.ts)
        effects: list[dict] = [{"kind": "LocationStatusChanged", "location": loc.id, "from": loc.status, "to": e.status,
                                "backing_ppm": backing, "note": e.note}]
        plan = None
        if backing != loc.backing_ppm:
            overrides = {a: self.collateral.assets[a].replace(backing_ppm=backing) for a in sorted(loc.limits)}
            deps = set().union(*(self.collateral.dependents(a) for a in overrides))
            plan = self._coll_plan(deps, overrides)  # every holder's new value first (validated), then install
        # validated: mutate
        self.locations.locations[loc.id] = new
        if plan is not None:
            for a, ac in overrides.items():
                self.collateral.assets[a] = ac
            subs = self._coll_apply(plan)
            if subs.size:
                effects += self.margin_calls(subs)
        return effects

    def _on_LocationDeposit(self, e: ev.LocationDeposit) -> list[dict]:
        s = self.sub_index(e.subaccount)
        asset = self._asset(e.asset)
        loc = self._bound(asset, e.location)
        units = self._positive_units(asset, e.amount)
        self._check_open(loc, "deposits")
        limit = loc.limits[asset.symbol]
        held = self.exposure(asset.symbol)
        if held + units > limit:
            raise Rejected("exposure_limit", f"a deposit of {asset.amount(units)} {asset.symbol} would take the venue's holdings at "
                                             f"{loc.id!r} to {asset.amount(held + units)}, past its limit {asset.amount(limit)}")
        if len(self.locations.pending) >= MAX_ITEMS:
            raise Rejected("too_many_pending", f"{MAX_ITEMS} deposits are already pending")
        bal = self.ledger.balance(asset.symbol, s)
        pend = self._pending_units(asset.symbol, s)
        self.collateral.values(asset.symbol, [bal + pend + units])  # validates: the value stays within limits
        sid = self.subs.name(s)
        if loc.finality_ns == 0:
            self.ledger.transfer(asset.symbol, "external", s, units)
            self.collateral_touched(asset.symbol, s)
            return [{"kind": "DepositConfirmed", "subaccount": sid, "asset": asset.symbol, "units": units, "location": loc.id, "id": None}]
        t = Transit(self.locations.next_id, loc.id, asset.symbol, s, units, e.ts + loc.finality_ns)
        self.ledger.transfer(asset.symbol, "external", f"pending:{loc.id}", units)  # the first change: it validates the balances
        self.locations.next_id += 1
        self.locations._add_pending(t)
        self.collateral_touched(asset.symbol, s)
        return [{"kind": "DepositPending", "subaccount": sid, "asset": asset.symbol, "units": units, "location": loc.id,
                 "id": t.id, "due_ns": t.due_ns}]

    def _on_LocationWithdraw(self, e: ev.LocationWithdraw) -> list[dict]:
        s = self.sub_index(e.subaccount)
        asset = self._asset(e.asset)
        loc = self._bound(asset, e.location)
        units = self._positive_units(asset, e.amount)
        self._check_open(loc, "withdrawals")
        if units > self.ledger.balance(asset.symbol, s):
            raise Rejected("insufficient_balance", f"withdrawal of {asset.amount(units)} {asset.symbol} exceeds the balance "
                                                   f"{asset.amount(self.ledger.balance(asset.symbol, s))} (pending deposits cannot leave)")
        if loc.finality_ns and len(self.locations.inflight) >= MAX_ITEMS:
            raise Rejected("too_many_in_flight", f"{MAX_ITEMS} withdrawals are already in flight")
        dest = f"inflight:{loc.id}" if loc.finality_ns else "external"
        # the ordinary withdrawal (gates, breakers, free collateral), its units sent to ``dest``
        self._on_Withdraw(ev.Withdraw(ts=e.ts, subaccount=e.subaccount, asset=e.asset, amount=e.amount), dest=dest)
        sid = self.subs.name(s)
        if not loc.finality_ns:
            return [{"kind": "WithdrawalArrived", "subaccount": sid, "asset": asset.symbol, "units": units, "location": loc.id, "id": None}]
        t = Transit(self.locations.next_id, loc.id, asset.symbol, s, units, e.ts + loc.finality_ns)
        self.locations.next_id += 1
        self.locations.inflight.append(t)
        return [{"kind": "WithdrawalInFlight", "subaccount": sid, "asset": asset.symbol, "units": units, "location": loc.id,
                 "id": t.id, "due_ns": t.due_ns}]

    # ------------------------------------------------------------------ tick and waterfall
    def _locations_tick(self, ts: int) -> list[dict]:
        """At a ``Tick``: pending deposits and in-flight withdrawals due at ``ts`` complete (their location active)."""
        deposits, withdrawals = self.locations.due(ts)
        if not deposits and not withdrawals:
            return []
        self._lz_leave_tick()
        effects: list[dict] = []
        if deposits:
            done = {t.id for t in deposits}
            self.locations.pending = [t for t in self.locations.pending if t.id not in done]
        if withdrawals:
            done_w = {t.id for t in withdrawals}
            self.locations.inflight = [t for t in self.locations.inflight if t.id not in done_w]
        touched = set()
        for t in deposits:
            self.locations._drop_pending(t)
            self.ledger.transfer(t.asset, f"pending:{t.location}", t.sub, t.units)
            touched.add((t.asset, t.sub))
            effects.append({"kind": "DepositConfirmed", "subaccount": self.subs.name(t.sub), "asset": t.asset, "units": t.units,
                            "location": t.location, "id": t.id})
        for t in withdrawals:
            self.ledger.transfer(t.asset, f"inflight:{t.location}", "external", t.units)
            effects.append({"kind": "WithdrawalArrived", "subaccount": self.subs.name(t.sub), "asset": t.asset, "units": t.units,
                            "location": t.location, "id": t.id})
        for a, s in sorted(touched):
            self.collateral_touched(a, s)
        if touched:
            effects += self.margin_calls(np.array(sorted({s for _, s in touched}), dtype=np.int64))
        return effects

    def _lz_leave_tick(self) -> None:
        """A ``Tick`` that completes transfers changes collateral values: it leaves the lazy re-margin's
        tick pass the way a waterfall that must run does (every cache exact first; the bands of the
        sub-accounts it changed are recomputed after it; see :mod:`ramparts.engine.tick_slack`)."""
        from ramparts.engine.tick_slack import _TICK

        if self._lz_mode == _TICK:
            self._lz_mode = 0
            self._lz_flush()
            self._lz_fallback = self._lz_snapshot()
            self._lz_touched = []

    def _seize_pending(self, s: int) -> list[dict]:
        """The backstop vault takes over the deposits of ``s`` still pending and pays what they counted
        for in settlement cash (equity of ``s`` unchanged; each asset conserved)."""
        mine = [t for t in self.locations.pending if t.sub == s]
        if not mine:
            return []
        q = self.settlement.symbol
        effects = []
        by_asset: dict[str, list[Transit]] = {}
        for t in mine:
            by_asset.setdefault(t.asset, []).append(t)
        for a in sorted(by_asset):
            before = self.collateral.contrib[a].get(s, 0)
            for t in by_asset[a]:
                self.locations._drop_pending(t)
                t.sub = self.backstop
                per = self.locations.pend_units.setdefault(a, {})
                per[self.backstop] = per.get(self.backstop, 0) + t.units
            self.collateral_touched(a, s)
            self.collateral_touched(a, self.backstop)
            paid = max(before - self.collateral.contrib[a].get(s, 0), 0)
            self.ledger.transfer(q, self.backstop, s, paid)
            effects.append({"kind": "PendingSeized", "subaccount": self.subs.name(s), "asset": a,
                            "units": sum(t.units for t in by_asset[a]), "value": paid, "to": self.subs.name(self.backstop)})
        return effects

    def _loc_load(self, d: dict | None) -> None:
        """Restore: the locations and transit, and each bound asset's backing (before the collateral is re-valued)."""
        self.locations.load(d)
        for loc in self.locations.locations.values():
            for a in loc.limits:
                if loc.backing_ppm != PPM:
                    self.collateral.assets[a] = self.collateral.assets[a].replace(backing_ppm=loc.backing_ppm)
