"""The sharded venue in process: N shard engines and a fund shard whose joint result is, event for
event, the result of one :class:`~ramparts.engine.engine.Engine` (``docs/scaling.md`` §2).

The protocol (each rule is what makes the result independent of how many shards there are):

* **Directory.** The unit of sharding is the account (all its sub-accounts): shard =
  ``SHA-256(account name)[:8] mod N`` (:class:`Directory`; stable across processes and Python
  versions, unlike ``hash``), with pins that override it; the backstop vault's account is pinned to
  the fund shard. ``OpenSubAccount`` is broadcast, so every engine registers every sub-account and
  sub-account indices are global (the directory of who exists); only the owner holds an account's
  cash, positions and flags (the others keep an empty row, which :meth:`Cluster.reconcile` checks).
* **Moves.** ``{"kind": "MoveAccount", "ts", "account", "shard"}`` in the event stream hands every
  sub-account of ``account`` over to ``shard`` (:meth:`Router.apply`): the owner takes its cash,
  positions (lots, cost basis, entry) and flags out (:func:`hand_out`, refused with
  ``Rejected("account_busy")`` while the account is being liquidated or is insolvent, before anything
  changes), the new owner puts them in (:func:`hand_in`), and every engine and the directory pin the
  account to its new shard (new sub-accounts of it open there). The cash crosses through a
  ``handover`` ledger row on each side (+ on the old owner, − on the new: they net to zero across
  shards) and each position through the clearing books like a leg (the old owner's clearing takes the
  position, the new one's its opposite), so the reconciler's identities hold through a move. A move is
  not a venue event: one engine has nothing to do for it, so it takes no sequence number and leaves
  the venue's clock where it was (its ``ts`` must not be before it); its one effect is
  ``AccountMoved``. Over the bus each half is a journaled request with its deterministic id, so a
  move survives the death of either shard or of the coordinator half-way (``tests/test_shards_faults.py``).
* **Broadcast, in one global order:** ``Genesis``, listings, ``OpenSubAccount``, ``OraclePrice``,
  ``FundingTick``, ``ParameterChange`` go to every engine (the shards and the fund shard), so every
  engine holds the same marks, schedules and parameters; each re-margins only its own holders. Their
  effects are merged (:func:`merge_effects`): venue-wide effects are the same on every engine (a
  ``Funding`` effect's paid / received sums add up), per-account effects are merged by sub-account
  index, the order one engine emits them in.
* **Owned events** go to the owner: ``Deposit`` / ``Withdraw`` to the account's shard,
  ``FundInsurance`` to the fund shard. A ``Fill`` goes to the buyer's shard; when the seller lives
  elsewhere, the buyer's engine has the seller's owner check the seller's side (initial margin,
  against the owner's own state) before either side changes, then trade it, take its fee and realise
  it there (:class:`ShardLink`, the engine's ``shard_link`` seam).
* **Cross-shard legs** (a fill's other side, the backstop vault's side of every liquidation step,
  each ADL fill of a counterparty on another shard) are recorded per shard in a clearing book: a
  shard's clearing holds the mirror of the legs it sent (the position its clearing account would
  hold) and the opposite of those it received. :meth:`Cluster.reconcile` proves, per shard and
  instrument, own positions + clearing = 0, and across shards Σ clearing = 0 (lots and quote).
* **The Tick** is one coordinated pass (:func:`ramparts.liquidation.waterfall.run_waterfall` with
  ``parts``): every shard's due accounts are stepped by their owner in sub-account-index order, the
  cascade rounds likewise, so fund draws, vault trades and ADL see the state one engine would.
* **The fund shard** holds the backstop vault, the funds' deposits (``FundInsurance``) and the
  per-tick draws of the global fund (``global_draws``, reset each tick). A shard's ``insurance:*``
  ledger rows are its flows with the fund (penalties in, grants out); a grant is decided on the
  fund's balance = the fund shard's own + every shard's reported flows, in the coordinated order,
  i.e. (tick, sub-account index, position) — the order one engine draws in.
* **The ADL coordinator** (:meth:`ShardLink.adl_candidates`): each shard ranks its own opposite
  positions (:func:`~ramparts.liquidation.waterfall.adl_candidates`, the engine's ranking with its
  sort key); the coordinator k-way merges them by (key, sub-account index) — the total order one
  engine's ``lexsort`` gives — and the bankrupt account's shard closes against them at its
  bankruptcy price, each counterparty's leg traded by its owner.
* **Withdrawal gating** counts every shard's insolvent sub-accounts.

What a sharded venue refuses (``Rejected("not_sharded")``, state unchanged): pricing other than
``fixed_penalty``, a last resort other than ``adl``, batch auctions, backstop takeovers, insurance
hedging, the order book, circuit breakers and aggregated oracles, collateral assets, options,
portfolio sub-accounts, settlement, trade batches and keeper bids — each needs its own cross-shard
rule (``docs/scaling.md`` says which). A broadcast event refused by one engine after another applied
it (a refusal that depends on an engine's own accounts: a position's notional or a balance that would
overflow) raises :class:`ShardDiverged`: the real protocol would prepare on every shard before committing.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable

import numpy as np

from ramparts.engine import events as ev
from ramparts.engine.engine import Engine
from ramparts.errors import InvalidInput, RampartsError, Rejected, UnknownEntity
from ramparts.liquidation.config import LastResort, LiquidationConfig, Pricing
from ramparts.liquidation.waterfall import TickPart, adl_candidates, run_waterfall


class ShardDiverged(RampartsError):
    """The shards no longer hold one venue's state (a broadcast applied by some engines and refused by
    another, or effects that differ where they must agree): the cluster must be rebuilt from the journal."""


class Directory:
    """account → shard: ``SHA-256(account)[:8] mod n_shards``, unless pinned (``pins``: account → shard)."""

    def __init__(self, n_shards: int, pins: dict[str, int] | None = None):
        if not isinstance(n_shards, int) or n_shards < 1:
            raise InvalidInput("shards", f"must be a positive number of shards, got {n_shards!r}")
        self.n_shards = n_shards
        self.pins = dict(pins or {})

    def shard_of(self, account: str) -> int:
        pinned = self.pins.get(account)
        if pinned is not None:
            return pinned
        return int.from_bytes(hashlib.sha256(account.encode()).digest()[:8], "big") % self.n_shards


#: The ledger row through which a moved account's cash leaves its old shard and reaches its new one.
HANDOVER = "handover"


class MoveAccount:
    """A hand-over of every sub-account of ``account`` to shard ``shard`` (see the module docstring)."""

    kind = "MoveAccount"
    FIELDS = ("kind", "ts", "account", "shard")

    def __init__(self, ts: int, account: str, shard: int):
        self.ts, self.account, self.shard = ts, account, shard

    @classmethod
    def parse(cls, d: dict) -> MoveAccount:
        """From its JSON form; a missing, unknown or mistyped field is an :class:`InvalidInput` naming it."""
        for key in d:
            if key not in cls.FIELDS:
                raise InvalidInput(str(key), f"MoveAccount has no field {key!r} (it has ts, account, shard)")
        for key in cls.FIELDS[1:]:
            if key not in d:
                raise InvalidInput(key, f"MoveAccount needs {key!r}")
        ts, account, shard = d["ts"], d["account"], d["shard"]
        if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
            raise InvalidInput("ts", f"must be a non-negative integer (ns), got {ts!r}")
        if not isinstance(account, str) or not account:
            raise InvalidInput("account", f"must be an account name, got {account!r}")
        if not isinstance(shard, int) or isinstance(shard, bool):
            raise InvalidInput("shard", f"must be a shard number, got {shard!r}")
        return cls(ts, account, shard)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "ts": self.ts, "account": self.account, "shard": self.shard}


def hand_out(x: Engine, subs: list[int], clearing: dict[int, list[int]]) -> dict:
    """The old owner's half of a move: take sub-accounts ``subs`` out of engine ``x`` and return what
    :func:`hand_in` needs to put them in elsewhere (JSON-shaped). Cash goes to the ``handover`` row,
    each position leaves through ``clearing`` (which takes it: own + clearing stays 0), and the flags
    a quiet account may carry (margin called, the last liquidation step's time, the margin a
    liquidation freed) go with it. Refused, with nothing changed, while a sub-account is in
    liquidation, insolvent or in an auction."""
    for s in subs:
        if x.in_liquidation[s] or s in x.insolvent or s in x.auctions or s in x.insolvent_auctions:
            raise Rejected("account_busy", f"{x.subs[s].id} is being liquidated or is insolvent; it can move once that is over")
    out = []
    for s in subs:
        cash = {a: x.ledger.balance(a, s) for a in sorted(x.assets) if x.ledger.balance(a, s)}
        positions = [[i, int(x.book.lots[slot]), int(x.book.cost[slot]), int(x.book.entry[slot])]
                     for i, slot in sorted(x.book.positions_of(s))]
        out.append({"s": s, "cash": cash, "positions": positions, "margin_called": bool(x.margin_called[s]),
                    "last_step_ns": x.last_step_ns.get(s), "liq_freed": x.liq_freed.get(s)})
    for rec in out:
        s = rec["s"]
        for asset, amount in rec["cash"].items():
            x.ledger.post(asset, ((s, -amount), (HANDOVER, amount)))
        for i, lots, cost, _entry in rec["positions"]:
            slot = x.trade(s, x.instruments[i], -lots, -cost)
            x.book.entry[slot] = 0
            x.book.close(slot)
            row = clearing.setdefault(i, [0, 0])
            row[0] += lots
            row[1] += cost
        x.margin_called[s] = False
        x.last_step_ns.pop(s, None)
        x.liq_freed.pop(s, None)
    return {"subs": out}


def hand_in(x: Engine, state: dict, clearing: dict[int, list[int]]) -> int:
    """The new owner's half of a move: put what :func:`hand_out` took into engine ``x`` (the cash from
    the ``handover`` row, each position through ``clearing``, which takes its opposite); returns the
    number of positions."""
    n = 0
    for rec in state["subs"]:
        s = rec["s"]
        for asset, amount in rec["cash"].items():
            x.ledger.post(asset, ((HANDOVER, -amount), (s, amount)))
        for i, lots, cost, entry in rec["positions"]:
            slot = x.trade(s, x.instruments[i], lots, cost)
            x.book.entry[slot] = entry
            row = clearing.setdefault(i, [0, 0])
            row[0] -= lots
            row[1] -= cost
            n += 1
        x.margin_called[s] = rec["margin_called"]
        if rec["last_step_ns"] is not None:
            x.last_step_ns[s] = rec["last_step_ns"]
        if rec["liq_freed"] is not None:
            x.liq_freed[s] = rec["liq_freed"]
    return n


def rehome(directory: Directory, owner_of: list[int], account: str, subs: list[int], shard: int) -> None:
    """The routing half of a move, the same on every node: ``account`` and its sub-accounts live on ``shard``."""
    directory.pins[account] = shard
    for s in subs:
        owner_of[s] = shard


class ShardLink:
    """What a shard's engine reaches through its ``shard_link`` (the seams of
    :class:`~ramparts.engine.engine.Engine` and :mod:`~ramparts.liquidation.waterfall`): the owners of
    the other accounts (a leg, its VM, a fill's fee, the check of a fill's side, margin calls), the
    fund shard (its balance, its per-tick draws), the ADL coordinator and the venue-wide insolvency
    count. In process each call is a method call on the other engine; over a bus each would be one
    request (counted in :attr:`Cluster.messages`; legs in :attr:`Cluster.cross_legs`)."""

    def __init__(self, cluster: Cluster, k: int):
        self.cluster = cluster
        self.k = k

    def fund_drawn(self, instr_idx: int) -> int:
        return self.cluster.fund.global_draws.get(instr_idx, 0)

    def fund_draw(self, instr_idx: int, amount: int) -> None:
        d = self.cluster.fund.global_draws
        d[instr_idx] = d.get(instr_idx, 0) + amount

    def owns(self, e: Engine, s: int) -> bool:
        return self.cluster.owner_of[s] == self.k

    def owner(self, s: int) -> Engine:
        return self.cluster.engines[self.cluster.owner_of[s]]

    def trade(self, e: Engine, s: int, instr, delta: int, quote: int) -> int:
        """A leg for another shard's account: recorded in both clearings, traded by the owner."""
        o = self.cluster.owner_of[s]
        self.cluster._clear(self.k, o, instr.index, delta, quote)  # one message: the leg, its VM realised with it
        owner = self.cluster.engines[o]
        return owner.trade(s, owner.instruments[instr.index], delta, quote)

    def realise(self, e: Engine, s: int) -> None:
        self.owner(s).realise(s)  # rides with the leg before it: no message of its own

    def fee(self, e: Engine, s: int, asset: str, amount: int) -> None:
        self.owner(s).ledger.transfer(asset, s, "fees", amount)  # rides with the fill's leg

    def check_fill_side(self, e: Engine, s: int, instr_idx: int, delta: int, price: int, fee: int, field: str) -> None:
        """Phase one of a cross-shard fill: the owner checks its side against its own state (raises to refuse)."""
        self.cluster.messages["fill_checks"] += 1
        o = self.owner(s)
        o._check_fill_side(s, o.instruments[instr_idx], o.markets[instr_idx], delta, price, fee, field)

    def fund_balance(self, asset: str, key: str) -> int:
        """The fund's balance: the fund shard's own plus every shard's flows with it."""
        self.cluster.messages["fund_balance"] += 1
        return sum(x.ledger.balance(asset, key) for x in self.cluster.engines)

    def insolvent_count(self) -> int:
        return sum(len(x.insolvent) for x in self.cluster.engines)

    def margin_calls(self, e: Engine, subs: np.ndarray) -> list[dict]:
        """``Engine.margin_calls`` of ``subs`` (ascending), each by its owner, merged by sub-account index."""
        owner_of = self.cluster.owner_of
        groups: dict[int, list[int]] = {}
        for s in subs.tolist():
            groups.setdefault(owner_of[s], []).append(s)
        per = [self.cluster.engines[k].margin_calls(np.array(g, dtype=np.int64)) for k, g in sorted(groups.items())]
        self.cluster.messages["margin_calls"] += sum(k != self.k for k in groups)
        return _merge_by_sub(e, per)

    def adl_candidates(self, e: Engine, s: int, instr_idx: int, side: int) -> list[tuple]:
        """The ADL coordinator: every shard's ranked opposite positions, merged by (sort key, sub-account)."""
        ranked = [adl_candidates(x, s, instr_idx, side, keyed=True) for x in self.cluster.engines]
        self.cluster.messages["adl_rankings"] += len(ranked)
        return list(heapq.merge(*ranked, key=lambda r: (r[5], r[0])))


class Router:
    """The routing of the protocol (see the module docstring), shared by the in-process
    :class:`Cluster` and the bus coordinator (:mod:`ramparts.shard.bus`). ``local`` is an engine that
    applies every broadcast event and owns no account: the directory of sub-accounts and instruments,
    whose refusal of a broadcast comes before any shard sees it. Engine ``k`` is shard ``k`` for
    ``k < n_shards`` and the fund shard for ``k == n_shards``."""

    def __init__(self, n_shards: int, pins: dict[str, int] | None, local: Engine):
        self.directory = Directory(n_shards, pins)
        self.n_shards = n_shards
        self.local = local
        self.owner_of: list[int] = []
        self.time_ns = 0
        self.seq = 0

    def _apply_on(self, k: int, event: ev._Event) -> list[dict]:
        raise NotImplementedError

    def _run_tick(self, e: ev.Tick) -> list[dict]:
        raise NotImplementedError

    def apply(self, event: ev._Event | MoveAccount | dict) -> list[dict]:
        if isinstance(event, dict) and event.get("kind") == MoveAccount.kind:
            event = MoveAccount.parse(event)
        if isinstance(event, MoveAccount):
            return self._move(event)
        if isinstance(event, dict):
            event = ev.parse_event(event)
        if event.ts < self.time_ns:
            raise InvalidInput("ts", f"event time {event.ts} is before the engine time {self.time_ns}")
        if self.local.genesis is None and not isinstance(event, ev.Genesis):
            raise Rejected("no_genesis", "the first event must be Genesis")
        handler = getattr(self, "_on_" + event.kind, None)
        if handler is None:
            raise Rejected("not_sharded", f"{event.kind} is not supported on a sharded venue yet (ramparts.shard)")
        effects = handler(event)
        self.time_ns = event.ts
        self.seq += 1
        return effects

    def _hand_over(self, src: int, dst: int, account: str, subs: list[int]) -> int:
        """Move ``subs`` (every sub-account of ``account``) from shard ``src`` to ``dst`` and rehome them
        everywhere; returns the number of positions moved. Refusals come before any change."""
        raise NotImplementedError

    def _move(self, m: MoveAccount) -> list[dict]:
        """A hand-over (see the module docstring): no sequence number, the clock where it was."""
        if self.local.genesis is None:
            raise Rejected("no_genesis", "the first event must be Genesis")
        if m.ts < self.time_ns:
            raise InvalidInput("ts", f"event time {m.ts} is before the engine time {self.time_ns}")
        names = self.local.subs
        subs = [s for s in range(len(names)) if names.name(s).partition("/")[0] == m.account]
        if not subs:
            raise UnknownEntity("account", f"unknown account {m.account!r}")
        if not 0 <= m.shard < self.n_shards:
            raise InvalidInput("shard", f"must be a shard from 0 to {self.n_shards - 1}, got {m.shard} (the fund shard "
                                        f"holds only the backstop vault)")
        if any(self.local.is_system[s] for s in subs):
            raise Rejected("system_account", f"{m.account} holds the backstop vault, which lives on the fund shard")
        src = self.owner_of[subs[0]]
        if src == m.shard:
            raise Rejected("same_shard", f"{m.account} is on shard {m.shard} already")
        n = self._hand_over(src, m.shard, m.account, subs)
        rehome(self.directory, self.owner_of, m.account, subs, m.shard)
        return [{"kind": "AccountMoved", "account": m.account, "from_shard": src, "to_shard": m.shard,
                 "subaccounts": [self.local.subs.name(s) for s in subs], "positions": n, "ts": m.ts}]

    def _broadcast(self, event: ev._Event) -> list[dict]:
        first = self.local.apply(event)  # refused here: no shard has seen it
        per = []
        for k in range(self.n_shards + 1):
            if self.engine_is_local(k):
                per.append(first)
                continue
            try:
                per.append(self._apply_on(k, event))
            except RampartsError as exc:
                raise ShardDiverged(f"{event.kind} was applied by the directory and refused by shard {k}: {exc}") from exc
        return merge_effects(self.local, per)

    def engine_is_local(self, k: int) -> bool:
        return False

    def _on_Genesis(self, e: ev.Genesis) -> list[dict]:
        _check_supported(LiquidationConfig.from_dict(e.liquidation))
        fx = self._broadcast(e)
        vault = self.local.subs[self.local.backstop].id
        self.directory.pins[vault.account] = self.n_shards  # the vault's account lives on the fund shard
        self.owner_of = [self.n_shards] * len(self.local.subs)
        return fx

    def _on_ListAsset(self, e: ev.ListAsset) -> list[dict]:
        if e.collateral is not None:
            raise Rejected("not_sharded", "collateral assets are not supported on a sharded venue yet")
        return self._broadcast(e)

    def _on_ListInstrument(self, e: ev.ListInstrument) -> list[dict]:
        if e.instrument_kind == "option":
            raise Rejected("not_sharded", "options are not supported on a sharded venue yet")
        return self._broadcast(e)

    def _on_OpenSubAccount(self, e: ev.OpenSubAccount) -> list[dict]:
        if e.mode == "portfolio":
            raise Rejected("not_sharded", "portfolio sub-accounts are not supported on a sharded venue yet")
        fx = self._broadcast(e)
        self.owner_of.append(self.directory.shard_of(self.local.subs[-1].id.account))
        return fx

    def _on_OraclePrice(self, e: ev.OraclePrice) -> list[dict]:
        return self._broadcast(e)

    def _on_FundingTick(self, e: ev.FundingTick) -> list[dict]:
        return self._broadcast(e)

    def _on_ParameterChange(self, e: ev.ParameterChange) -> list[dict]:
        if e.target == "liquidation":
            try:
                new = self.local.liq.replace(e.key, e.value)
            except RampartsError:
                new = None  # the engines refuse it with their own message
            if new is not None:
                _check_supported(new)
        elif not (e.target.startswith("instrument:") and e.key != "oracle"):
            raise Rejected("not_sharded", f"parameter {e.target}/{e.key} is not supported on a sharded venue yet")
        return self._broadcast(e)

    def _owner_by_name(self, subaccount: object) -> int:
        """The shard owning ``subaccount``; for a name no one knows, shard 0 (it refuses the event as one engine would)."""
        try:
            idx = self.local.sub_index(subaccount)  # the directory knows every sub-account
        except RampartsError:
            return 0
        return self.owner_of[idx]

    def _on_Deposit(self, e: ev.Deposit) -> list[dict]:
        return self._apply_on(self._owner_by_name(e.subaccount), e)

    def _on_Withdraw(self, e: ev.Withdraw) -> list[dict]:
        return self._apply_on(self._owner_by_name(e.subaccount), e)

    def _on_FundInsurance(self, e: ev.FundInsurance) -> list[dict]:
        return self._apply_on(self.n_shards, e)

    def _on_Fill(self, e: ev.Fill) -> list[dict]:
        return self._apply_on(self._owner_by_name(e.buyer), e)  # the seller's side through the buyer's shard_link

    def _on_Tick(self, e: ev.Tick) -> list[dict]:
        Engine.check_liquidator(e.liquidator)
        return self._run_tick(e)


class Cluster(Router):
    """N shard engines and a fund shard applying one event stream, in one process (see the module
    docstring). ``engines[:n_shards]`` are the shards, ``engines[n_shards]`` (``fund``) the fund
    shard, which is also the directory; ``owner_of[s]`` is the engine that owns sub-account ``s``.
    :meth:`apply` takes the events one :class:`Engine` takes and returns the effects it would return."""

    def __init__(self, n_shards: int, pins: dict[str, int] | None = None):
        engines: list[Engine] = []
        for k in range(n_shards + 1):
            x = Engine()
            x.lazy_remargin = False  # legs arrive from other shards outside the engine's own events
            x.shard_link = ShardLink(self, k)
            engines.append(x)
        super().__init__(n_shards, pins, engines[n_shards])
        self.engines = engines
        self.fund = engines[n_shards]
        # per engine: instrument → [lots, quote] of its clearing (see the module docstring)
        self.clearing: list[dict[int, list[int]]] = [{} for _ in self.engines]
        self.cross_legs = 0
        #: cross-shard messages the protocol needed so far (what a bus would carry): legs are counted in cross_legs
        self.messages = {"fill_checks": 0, "fund_balance": 0, "adl_rankings": 0, "margin_calls": 0}

    def engine_is_local(self, k: int) -> bool:
        return k == self.n_shards  # the fund shard is the directory

    def _apply_on(self, k: int, event: ev._Event) -> list[dict]:
        return self.engines[k].apply(event)

    def _hand_over(self, src: int, dst: int, account: str, subs: list[int]) -> int:
        state = hand_out(self.engines[src], subs, self.clearing[src])  # refused here: nothing changed
        rehome(self.directory, self.owner_of, account, subs, dst)  # the engines share this routing table
        n = hand_in(self.engines[dst], state, self.clearing[dst])
        self.cross_legs += n
        return n

    def _run_tick(self, e: ev.Tick) -> list[dict]:
        before = merge_effects(self.local, [x._refresh_defences(e.ts) for x in self.engines])
        effects = run_waterfall(self.fund, e.ts, e.liquidator, parts=[TickPart(x) for x in self.engines])
        after = merge_effects(self.local, [x._after_waterfall(e.ts) for x in self.engines])
        for x in self.engines:
            x.time_ns = e.ts
            x.seq += 1
        return before + effects + after

    # ------------------------------------------------------------------ clearing
    def _clear(self, origin: int, owner: int, instr_idx: int, delta: int, quote: int) -> None:
        """A leg (``delta`` lots for ``quote``) sent by shard ``origin`` to the account's ``owner``."""
        for k, sign in ((origin, 1), (owner, -1)):
            row = self.clearing[k].setdefault(instr_idx, [0, 0])
            row[0] += sign * delta
            row[1] += sign * quote
        self.cross_legs += 1

    def reconcile(self) -> dict:
        """Prove the shards hold one venue: no engine holds state of an account it does not own, per
        shard and instrument own positions + clearing = 0, across shards Σ clearing = 0 (lots and
        quote). Raises :class:`ShardDiverged` otherwise; returns a summary."""
        for k, x in enumerate(self.engines):
            check_shard(x, k, self.owner_of, self.clearing[k])
        check_netting(self.clearing)
        return {"cross_legs": self.cross_legs,
                "accounts_per_shard": [sum(1 for o in self.owner_of if o == k) for k in range(len(self.engines))],
                "clearing": [{self.fund.instruments[i].symbol: v for i, v in sorted(b.items())} for b in self.clearing]}


def check_shard(x: Engine, k: int, owner_of: list[int], clearing: dict[int, list[int]]) -> None:
    """Shard ``k``'s half of the reconciliation: it holds no cash, position or flag of an account it
    does not own, and per instrument its own positions + its clearing = 0 lots."""
    n = len(owner_of)
    if len(x.subs) != n:
        raise ShardDiverged(f"shard {k} knows {len(x.subs)} sub-accounts, the directory {n}")
    mine = np.array([o == k for o in owner_of], dtype=bool)
    ghosts = np.nonzero(~mine)[0]
    if ghosts.size:
        if np.any(x.ledger.sub_cash[ghosts] != 0) or np.any(x.in_liquidation[ghosts]) or np.any(x.margin_called[ghosts]):
            raise ShardDiverged(f"shard {k} holds cash or flags of accounts it does not own")
        if any(not mine[s] for s in x.insolvent) or any(not mine[s] for s in x.last_step_ns):
            raise ShardDiverged(f"shard {k} flags accounts it does not own")
    for instr in x.instruments:
        h = x.book.holders(instr.index)
        subs = x.book.sub[h]
        if subs.size and not mine[subs].all():
            raise ShardDiverged(f"shard {k} holds {instr.symbol} positions of accounts it does not own")
        own = int(x.book.lots[h].sum())
        clear = clearing.get(instr.index, [0, 0])[0]
        if own + clear != 0:
            raise ShardDiverged(f"shard {k}, {instr.symbol}: own positions {own} lots + clearing {clear} ≠ 0")


def check_netting(clearing: list[dict[int, list[int]]]) -> None:
    """Across shards the clearing accounts net to zero, per instrument, in lots and in quote."""
    totals: dict[int, list[int]] = {}
    for book in clearing:
        for i, (lots, quote) in book.items():
            t = totals.setdefault(int(i), [0, 0])
            t[0] += lots
            t[1] += quote
    for i, (lots, quote) in totals.items():
        if lots or quote:
            raise ShardDiverged(f"instrument {i}: the clearing accounts net to {lots} lots, {quote} quote, not zero")


# ---------------------------------------------------------------------- helpers
_SUMMED = {"Funding": ("paid", "received", "residue_to_fees")}


def _merge_by_sub(e: Engine, per: Iterable[list[dict]]) -> list[dict]:
    """Per-account effects of several engines (each list in sub-account order), merged by sub-account index."""
    index = e._sub_by_str
    return [f for _, _, f in heapq.merge(*([(index[f["subaccount"]], j, f) for j, f in enumerate(fx)] for fx in per),
                                         key=lambda r: r[0])]


def merge_effects(e: Engine, per: list[list[dict]]) -> list[dict]:
    """One engine's effects from every engine's effects of a broadcast event: the venue-wide ones
    (no ``subaccount``), which must agree (``Funding``'s sums are added up), then the per-account
    ones merged by sub-account index."""
    venue = [[f for f in fx if "subaccount" not in f] for fx in per]
    first = venue[0]
    merged: list[dict] = []
    for j, f in enumerate(first):
        summed = _SUMMED.get(f["kind"], ())
        out = dict(f)
        for other in venue[1:]:
            g = other[j] if j < len(other) else None
            if g is None or {k: v for k, v in g.items() if k not in summed} != {k: v for k, v in f.items() if k not in summed}:
                raise ShardDiverged(f"shards disagree on a venue-wide effect: {f} vs {g}")
            for k in summed:
                out[k] += g[k]
        merged.append(out)
    if any(len(v) != len(first) for v in venue):
        raise ShardDiverged("shards emitted different venue-wide effects")
    return merged + _merge_by_sub(e, [[f for f in fx if "subaccount" in f] for fx in per])


def _check_supported(liq: LiquidationConfig) -> None:
    """Refuse what the shard protocol has no cross-shard rule for yet (see the module docstring)."""
    why = []
    if liq.pricing is not Pricing.FIXED_PENALTY:
        why.append(f"pricing {liq.pricing.value}")
    if liq.last_resort is not LastResort.ADL:
        why.append(f"last_resort {liq.last_resort.value}")
    if liq.batch_auction:
        why.append("batch_auction")
    if liq.backstop_below_ppm:
        why.append("backstop_below_ppm")
    if liq.hedge_insurance:
        why.append("hedge_insurance")
    if liq.book_account:
        why.append("book_account")
    if why:
        raise Rejected("not_sharded", f"not supported on a sharded venue yet: {', '.join(why)} (fixed_penalty pricing with "
                                      f"ranked ADL is)")


def venue_view(v: Engine | Cluster) -> dict:
    """The venue as its users and auditors see it, from one engine or from a cluster: per
    sub-account cash, positions (lots, cost, entry), equity, margins and waterfall flags (read from
    its owner); every venue ledger account summed over the engines; the fund's per-tick draws; the
    markets. JSON-shaped (lists, string keys), so a view assembled over a bus compares equal."""
    if isinstance(v, Cluster):
        parts = [engine_view(x, [o == k for o in v.owner_of]) for k, x in enumerate(v.engines)]
        return combine_views(parts)
    return combine_views([engine_view(v, [True] * len(v.subs))])


def engine_view(x: Engine, owned: list[bool]) -> dict:
    """One engine's share of :func:`venue_view`: the sub-accounts it owns, its venue ledger rows, its
    draws and markets (the fund shard's draws and any engine's markets are the venue's)."""
    accounts = {}
    for s in range(len(x.subs)):
        if not owned[s]:
            continue
        positions = sorted([x.instruments[i].symbol, int(x.book.lots[slot]), int(x.book.cost[slot]), int(x.book.entry[slot])]
                           for i, slot in x.book.positions_of(s))
        accounts[x.subs.name(s)] = {
            "cash": int(x.ledger.sub_cash[s]), "positions": positions, "equity": x.equity(s),
            "im": int(x.sub_im[s]), "mm": int(x.sub_mm[s]), "in_liquidation": bool(x.in_liquidation[s]),
            "margin_called": bool(x.margin_called[s]), "insolvent": s in x.insolvent, "last_step_ns": x.last_step_ns.get(s),
        }
    ledger: dict[str, int] = {}
    for asset, key, amount in x.ledger.items():
        if isinstance(key, str):
            ledger[f"{asset}:{key}"] = ledger.get(f"{asset}:{key}", 0) + amount
    return {"accounts": accounts, "ledger": ledger, "global_draws": sorted([k, v] for k, v in x.global_draws.items()),
            "markets": [m.to_dict() for m in x.markets], "liquidation": x.liq.to_dict()}


def combine_views(parts: list[dict]) -> dict:
    """:func:`venue_view` from every engine's :func:`engine_view` (the last one is the fund shard's)."""
    accounts: dict[str, dict] = {}
    ledger: dict[str, int] = {}
    for part in parts:
        accounts.update(part["accounts"])
        for k, v in part["ledger"].items():
            ledger[k] = ledger.get(k, 0) + v
    return {"accounts": dict(sorted(accounts.items())), "ledger": {k: v for k, v in sorted(ledger.items()) if v},
            "global_draws": parts[-1]["global_draws"], "markets": parts[0]["markets"], "liquidation": parts[0]["liquidation"]}


__all__ = ["HANDOVER", "Cluster", "Directory", "MoveAccount", "Router", "ShardDiverged", "ShardLink", "check_netting", "check_shard", "combine_views",
           "engine_view", "hand_in", "hand_out", "merge_effects", "rehome", "venue_view"]
