"""Collateral that lives elsewhere, in the lab: a bridge that fails, and collateral in flight during a crash.

This module owns ``ramparts bridge``: two scenarios run through the journaled engine with its
locations (:mod:`ramparts.engine.locations`), reported like the other lab runs (headline, parameters,
caveats, HTML + JSON), with the loss by layer.

``failure``   A wrapped collateral asset loses its backing over hours while its chain halts
              withdrawals. Traders post ``WETH.BR`` (ETH bridged over the location ``bridge``,
              priced off the ETH feed) against ETH-PERP positions. At ``exploit_hour`` the bridge
              starts to drain: its backing falls linearly to ``residual`` over ``drain_hours`` (the
              shape of the Nomad drain, 1 Aug 2022, and the Multichain halt, July 2023: hours, not
              days). Some traders (``runners``) try to withdraw over the bridge as it goes; after
              ``detect_minutes`` the venue halts the bridge (``LocationStatus halted``): withdrawals
              still in flight stay stranded, new ones are refused. Two policies of the venue are run
              on the same population and paths: ``reprice`` (every step after the halt journals the
              backing left, ``LocationStatus failed``, so the wrapped asset is valued at it) and
              ``trust`` (the venue only halts, and values the wrapped asset at its feed until the drain
              is over and the loss is declared at once).
``finality``  Collateral in flight during a crash (a shipped crash window, :mod:`ramparts.lab.events`).
              Traders hold BTC-PERP positions on settlement cash; a share of them answer a margin call
              by topping up with ``USDC.BR`` (USDC arriving over the location ``chain``), which counts
              only at ``(1 − pending_haircut)`` until the chain's finality. Run once per finality in
              ``finalities`` on the same population and path.

Every run journals its events through a :class:`~ramparts.engine.node.Node`, checks after the run
that each asset is conserved (its ledger sums to zero and ``−external`` equals what came in less what
arrived out) and that a replay of the journal reproduces the state hash.

Loss by layer (USDC, each negative when that layer gained; as :func:`ramparts.lab.replay._loss_accounting`):
``insurance fund`` its balance at the open less at the end (draws less penalty income); ``backstop
vault`` its equity at the open less at the end (collateral it seized is valued as the engine values
it: a wrapped asset at its backing); ``ADL counterparties`` Σ (price paid − mark) × lots of every
deleveraging fill; ``socialised`` what was charged to other accounts plus what is left unrecovered.
``depositors`` is what the traders' own collateral lost to the backing (units × price × (1 − backing)
at the end): the first layer, borne before any of the venue's.

Assumptions (every default is the lab's choice, named here and in the report's parameters): the
haircuts, the finality (20 minutes for the bridge; 0, 15 minutes and 7 days for the chain), the pending
haircut (50 %), the linear drain to 10 % over 6 hours, the 30 minutes before the venue halts the
bridge, ETH falling 10 % over the window, the runners' share and what they withdraw, the top-up rule
(a margin-called trader sends what restores initial margin plus 10 %, at most three times).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ramparts.errors import InvalidInput

SCENARIOS = ("failure", "finality")
POLICIES = ("reprice", "trust")
QUOTE = "USDC"
Q = 10**6  # USDC base units
PPM = 10**6
WRAPPED, WRAPPED_DEC = "WETH.BR", 8
TOPUP, TOPUP_DEC = "USDC.BR", 6
S = 10**9
#: the failure scenario's clock starts at 1 Aug 2022 00:00 UTC (the day of the Nomad drain): a clock, not the history
FAILURE_T0 = 1_659_312_000 * S
LAYERS = ("insurance_fund", "backstop_vault", "adl_counterparties", "socialised")
LAYER_WORDS = {"insurance_fund": "insurance fund", "backstop_vault": "backstop vault", "adl_counterparties": "ADL counterparties",
               "socialised": "socialised"}


@dataclass(frozen=True)
class BridgeSpec:
    """The scenario, the population and the venue's parameters (every default an assumption, see the module docstring)."""

    scenario: str = "failure"
    accounts: int = 200
    seed: int = 1
    haircut: float = 0.10  #: static haircut of the wrapped asset
    pending_haircut: float = 0.5  #: share of a pending deposit's value left out until finality
    finality_minutes: float = 20.0  #: failure: the bridge's finality
    fund: float = 0.005  #: insurance fund, a share of the collateral posted
    # failure
    hours: float = 12.0
    step_minutes: float = 10.0
    exploit_hour: float = 1.0
    drain_hours: float = 6.0
    residual: float = 0.10  #: backing left when the drain is over
    detect_minutes: float = 30.0  #: from the exploit's start to the halt
    eth_price: float = 2000.0
    eth_move: float = -0.10  #: ETH's move over the window (linear); 0 isolates the bridge
    runners: float = 0.2  #: share of traders who try to withdraw a quarter of their wrapped ETH during the exploit
    # finality
    event: str = "black-thursday-2020"
    finalities: tuple[float, ...] = (0.0, 15.0, 10080.0)  #: minutes: instant, about Ethereum's finality, an optimistic rollup's 7-day exit
    topup_share: float = 0.5  #: share of traders who answer a margin call by topping up over the chain
    max_topups: int = 3
    every: int = 1  #: finality: use every n-th observation of the crash path

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise InvalidInput("scenario", f"unknown scenario {self.scenario!r} (one of {', '.join(SCENARIOS)})")
        if not (isinstance(self.accounts, int) and not isinstance(self.accounts, bool) and 1 <= self.accounts <= 100_000):
            raise InvalidInput("accounts", f"expected 1 to 100,000, got {self.accounts!r}")
        for name, lo, hi in (("haircut", 0.0, 0.99), ("pending_haircut", 0.0, 1.0), ("finality_minutes", 0.0, 60.0 * 24 * 30),
                             ("fund", 0.0, 10.0), ("hours", 1.0, 24.0 * 30), ("step_minutes", 1.0, 24 * 60.0),
                             ("exploit_hour", 0.0, 24.0 * 30), ("drain_hours", 0.0, 24.0 * 30), ("residual", 0.0, 1.0),
                             ("detect_minutes", 0.0, 60.0 * 24 * 30), ("eth_price", 1.0, 1e6), ("eth_move", -0.95, 10.0),
                             ("runners", 0.0, 1.0), ("topup_share", 0.0, 1.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
                raise InvalidInput(name, f"expected a number in [{lo:g}, {hi:g}], got {v!r}")
        if self.exploit_hour >= self.hours:
            raise InvalidInput("exploit_hour", f"the exploit must start inside the window of {self.hours:g} hours")
        if not self.finalities or len(self.finalities) > 6 or any(
                not isinstance(f, (int, float)) or isinstance(f, bool) or not math.isfinite(f) or not 0 <= f <= 60 * 24 * 30
                for f in self.finalities):
            raise InvalidInput("finalities", f"one to six finalities in minutes, each in [0, 43200], got {self.finalities!r}")
        if not (isinstance(self.max_topups, int) and 0 <= self.max_topups <= 100):
            raise InvalidInput("max_topups", f"expected 0 to 100, got {self.max_topups!r}")
        if not (isinstance(self.every, int) and 1 <= self.every <= 1000):
            raise InvalidInput("every", f"expected 1 to 1000, got {self.every!r}")


def _dec(units: int, decimals: int) -> str:
    return str(Decimal(units).scaleb(-decimals))


class _Run:
    """One journaled engine run: submits events, tallies what crossed the venue's edge per asset and
    what each layer did, and checks conservation and the replay at the end."""

    def __init__(self, label: str, journal_url: str | None = None):
        from ramparts.engine.node import Node
        from ramparts.journal import open_journal

        self.tmp = tempfile.TemporaryDirectory(prefix="ramparts-bridge-") if journal_url is None else None
        url = journal_url or f"sqlite:///{self.tmp.name}/{label}.sqlite"
        self.node = Node(open_journal(url, durability="normal"))
        self.inflow: dict[str, int] = {}
        self.outflow: dict[str, int] = {}
        self.marks: dict[str, int] = {}  # instrument → its last index, USDC base units per whole unit
        self.totals = dict.fromkeys(("penalty_to_insurance", "insurance_fund_draws", "adl_notional", "adl_counterparty_loss",
                                     "socialised_charged", "seized_value", "pending_seized_value"), 0)
        self.called: set[str] = set()
        self.liquidated: set[str] = set()
        self.bankrupt: set[str] = set()
        self.refused: dict[str, int] = {}
        self.kinds: dict[str, int] = {}

    @property
    def e(self):
        return self.node.engine

    def submit(self, events: list, strict: bool = True) -> list[dict]:
        from ramparts.engine import events as ev

        out: list[dict] = []
        for x, o in zip(events, self.node.submit_batch(events), strict=True):
            if o.error is not None:
                if strict:
                    raise o.error
                self.refused[getattr(o.error, "reason", type(o.error).__name__)] = self.refused.get(
                    getattr(o.error, "reason", type(o.error).__name__), 0) + 1
                continue
            if isinstance(x, (ev.Deposit, ev.LocationDeposit)):
                self._flow(self.inflow, x.asset, self.e.assets[x.asset].units(x.amount))
            elif isinstance(x, ev.FundInsurance):
                self._flow(self.inflow, QUOTE, self.e.assets[QUOTE].units(x.amount))
            elif isinstance(x, ev.Withdraw):
                self._flow(self.outflow, x.asset, self.e.assets[x.asset].units(x.amount))
            elif isinstance(x, ev.OraclePrice):
                self.marks[x.instrument] = self.e.instrument(x.instrument).lot_price(x.price, "price", on_tick=False)
            self._effects(o.effects)
            out.extend(o.effects)
        return out

    @staticmethod
    def _flow(d: dict, asset: str, units: int) -> None:
        d[asset] = d.get(asset, 0) + units

    def _effects(self, fx: list[dict]) -> None:
        t = self.totals
        for f in fx:
            kind = f["kind"]
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if kind == "MarginCall":
                self.called.add(f["subaccount"])
            elif kind == "LiquidationStep":
                self.liquidated.add(f["subaccount"])
                t["penalty_to_insurance"] += f["to_insurance"]
            elif kind == "Bankruptcy":
                self.bankrupt.add(f["subaccount"])
            elif kind == "InsuranceFundDraw":
                t["insurance_fund_draws"] += f["amount"]
            elif kind == "Deleverage":
                t["adl_notional"] += abs(f["quote"])
                t["adl_counterparty_loss"] += f["quote"] - f["lots"] * self.marks[f["instrument"]]
            elif kind in ("SocialisedLoss", "SocialisedFunding", "Dilution"):
                t["socialised_charged"] += f["charged"]
            elif kind == "CollateralSeized":
                t["seized_value"] += f["value"]
            elif kind == "PendingSeized":
                t["pending_seized_value"] += f["value"]
            elif kind == "WithdrawalArrived":
                self._flow(self.outflow, f["asset"], f["units"])

    def open_books(self) -> None:
        """Remember the fund and the vault at the open (the layers' starting points)."""
        self.fund0 = self.e.ledger.totals(QUOTE)["insurance"]
        self.vault0 = self.e.equity(self.e.backstop)

    def layers(self) -> dict[str, float]:
        e = self.e
        unrecovered = -min(e.ledger.balance(QUOTE, "socialised_loss"), 0)
        units = {"insurance_fund": self.fund0 - e.ledger.totals(QUOTE)["insurance"],
                 "backstop_vault": self.vault0 - e.equity(e.backstop),
                 "adl_counterparties": self.totals["adl_counterparty_loss"],
                 "socialised": self.totals["socialised_charged"] + unrecovered}
        return {k: v / Q for k, v in units.items()}

    def finish(self, verify_replay: bool = True) -> dict:
        """Conservation per asset and the replayed hash; closes the journal."""
        from ramparts.engine.node import replay

        e = self.e
        conserved = {}
        for a in sorted(set(self.inflow) | {QUOTE}):
            t = e.ledger.totals(a)
            conserved[a] = sum(t.values()) == 0 and -t["external"] == self.inflow.get(a, 0) - self.outflow.get(a, 0)
        if not all(conserved.values()):
            raise AssertionError(f"value was not conserved: {conserved}")
        state_hash = e.state_hash()
        replay_hash = replay(self.node.journal).state_hash() if verify_replay else None
        self.node.close()
        if self.tmp is not None:
            self.tmp.cleanup()
        return {"value_conserved_per_asset": all(conserved.values()), "conserved": conserved, "state_hash": state_hash,
                "replay_matches": None if replay_hash is None else replay_hash == state_hash, "events": e.seq}


def _population(spec: BridgeSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(collateral in USD, leverage, side) per trader: log-normal collateral, log-uniform leverage in [1, 8]."""
    rng = np.random.default_rng(spec.seed)
    n = spec.accounts
    collateral = np.clip(np.round(5_000 * np.exp(rng.normal(0, 1.2, n)), 2), 50.0, 1_000_000.0)
    leverage = np.exp(rng.uniform(0.0, np.log(8.0), n))
    side = np.where(rng.random(n) < 0.5, 1, -1)
    return collateral, leverage, side


def _trader(i: int) -> str:
    return f"t{i:06d}/main"


# ----------------------------------------------------------------------------------------------
# the bridge failure


def backing_path(spec: BridgeSpec, hours_from_start: np.ndarray) -> np.ndarray:
    """The bridge's backing (fraction) at each time: 1 until the exploit, then linear to ``residual`` over ``drain_hours``."""
    x = hours_from_start - spec.exploit_hour
    if spec.drain_hours == 0:
        return np.where(x >= 0, spec.residual, 1.0)
    return 1.0 - (1.0 - spec.residual) * np.clip(x / spec.drain_hours, 0.0, 1.0)


def run_bridge_failure(spec: BridgeSpec, policy: str = "reprice", *, verify_replay: bool = True, journal_url: str | None = None) -> dict:
    """The bridge failure through the engine under one venue ``policy`` (see the module docstring); the
    journal is a temporary one unless ``journal_url`` names where to keep it."""
    from ramparts.engine import events as ev
    from ramparts.engine.presets import perpetual

    if policy not in POLICIES:
        raise InvalidInput("policy", f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    collateral, leverage, side = _population(spec)
    n = spec.accounts
    p0 = round(spec.eth_price, 1)
    units = np.floor(collateral / p0 * 10**WRAPPED_DEC).astype(np.int64)  # WETH.BR base units each trader posts
    value0 = units / 10**WRAPPED_DEC * p0 * (1 - spec.haircut)
    sizes = np.floor(value0 * leverage / p0 * 1000) / 1000
    step_ns = int(round(spec.step_minutes * 60 * S))
    fin_ns = int(round(spec.finality_minutes * 60 * S))
    steps = int(spec.hours * 3600 * S // step_ns)
    t_open = FAILURE_T0 + fin_ns  # deposits confirmed, positions opened
    ts = t_open + np.arange(1, steps + 1, dtype=np.int64) * step_ns
    hours = (ts - t_open) / (3600 * S)
    backing = backing_path(spec, hours)
    eth = p0 * (1 + spec.eth_move * np.clip(hours / spec.hours, 0, 1))
    t_exploit = t_open + int(spec.exploit_hour * 3600 * S)
    t_halt = t_exploit + int(spec.detect_minutes * 60 * S)
    t_drained = t_exploit + int(spec.drain_hours * 3600 * S)
    rng = np.random.default_rng(spec.seed + 1)
    runner = rng.random(n) < spec.runners
    # each runner tries once, at a step between the exploit and an hour after the halt (some before it, some after)
    run_window = np.nonzero((ts >= t_exploit) & (ts <= t_halt + 3600 * S))[0]
    run_at = rng.choice(run_window, n) if run_window.size else np.full(n, -1)

    r = _Run(f"failure-{policy}", journal_url)
    limit = int(units.sum()) * 2
    fund = round(float(collateral.sum()) * spec.fund, 2)
    r.submit([
        ev.Genesis(ts=FAILURE_T0, settlement_asset=QUOTE, settlement_decimals=6),
        ev.ListAsset(ts=FAILURE_T0, symbol=WRAPPED, decimals=WRAPPED_DEC, collateral={"haircut_ppm": round(spec.haircut * PPM)}),
        ev.ListLocation(ts=FAILURE_T0, location="bridge", finality_ns=fin_ns, pending_haircut_ppm=round(spec.pending_haircut * PPM),
                        assets={WRAPPED: _dec(limit, WRAPPED_DEC)}),
        perpetual("ETH-PERP", "ETH", ts=FAILURE_T0, tick_size="0.01"),
        ev.FundInsurance(ts=FAILURE_T0, amount=str(fund)),
        ev.OpenSubAccount(ts=FAILURE_T0, subaccount="maker/main"),
        ev.Deposit(ts=FAILURE_T0, subaccount="maker/main", asset=QUOTE, amount="1000000000"),
        ev.AssetPrice(ts=FAILURE_T0, asset=WRAPPED, price=str(p0)),
        ev.OraclePrice(ts=FAILURE_T0, instrument="ETH-PERP", price=str(p0)),
    ])
    r.submit([x for i in range(n) for x in (ev.OpenSubAccount(ts=FAILURE_T0, subaccount=_trader(i)),
                                            ev.LocationDeposit(ts=FAILURE_T0, subaccount=_trader(i), asset=WRAPPED,
                                                               amount=_dec(int(units[i]), WRAPPED_DEC), location="bridge"))])
    r.submit([ev.Tick(ts=t_open)])  # the deposits reach finality
    opening = []
    for i in range(n):
        if sizes[i] >= 0.001:
            buyer, seller = (_trader(i), "maker/main") if side[i] > 0 else ("maker/main", _trader(i))
            opening.append(ev.Fill(ts=t_open, instrument="ETH-PERP", buyer=buyer, seller=seller, price=str(p0), size=f"{sizes[i]:.3f}"))
    r.submit(opening, strict=False)  # a position that breaks initial margin at the rounding edge is not opened
    e = r.e
    traders = np.array([e.sub_index(_trader(i)) for i in range(n)], dtype=np.int64)
    opened = int((e.sub_mm[traders] > 0).sum())
    r.open_books()
    coll0 = float(e.sub_coll[traders].sum()) / Q
    sent: list[int] = []  # runners' withdrawals that left (units), arrived or stranded
    rows = []
    status, last_backing = "active", PPM
    for k in range(ts.size):
        t = int(ts[k])
        px = round(float(eth[k]), 2)
        batch: list = [ev.AssetPrice(ts=t, asset=WRAPPED, price=str(px)), ev.OraclePrice(ts=t, instrument="ETH-PERP", price=str(px))]
        b_ppm = int(round(float(backing[k]) * PPM))
        if t >= t_halt and status == "active":
            batch.append(ev.LocationStatus(ts=t, location="bridge", status="halted", note="exploit detected: bridge halted"))
            status = "halted"
        elif status != "active":
            due = policy == "reprice" or t >= t_drained
            if due and b_ppm != last_backing:
                batch.append(ev.LocationStatus(ts=t, location="bridge", status="failed", backing_ppm=b_ppm,
                                               note="backing left" if policy == "reprice" else "loss declared"))
                status, last_backing = "failed", b_ppm
        r.submit(batch)
        movers = [i for i in np.nonzero(runner & (run_at == k))[0].tolist()]
        for i in movers:
            bal = e.ledger.balance(WRAPPED, int(traders[i]))
            want = bal // 4
            if want <= 0:
                continue
            fx = r.submit([ev.LocationWithdraw(ts=t, subaccount=_trader(i), asset=WRAPPED, amount=_dec(want, WRAPPED_DEC),
                                               location="bridge")], strict=False)
            sent += [f["units"] for f in fx if f["kind"] in ("WithdrawalInFlight", "WithdrawalArrived")]
        r.submit([ev.Tick(ts=t)])
        equity = e.equity_array(traders)
        mm = e.sub_mm[traders]
        rows.append({"ts_ns": t, "backing": float(backing[k]), "backing_in_force": e.locations.locations["bridge"].backing_ppm / PPM,
                     "status": e.locations.locations["bridge"].status, "eth": px,
                     "collateral_value": float(e.sub_coll[traders].sum()) / Q,
                     "in_breach": int(((equity < mm) & (mm > 0)).sum()), "liquidated": len(r.liquidated & set(map(_trader, range(n)))),
                     "bankrupt": len(r.bankrupt & set(map(_trader, range(n)))), "insurance_fund": e.ledger.totals(QUOTE)["insurance"] / Q,
                     "vault_equity": e.equity(e.backstop) / Q,
                     "in_flight": e.ledger.balance(WRAPPED, "inflight:bridge") / 10**WRAPPED_DEC})
    end_px = float(rows[-1]["eth"])
    held = int(sum(e.ledger.balance(WRAPPED, int(s)) for s in traders))
    vault_units = e.ledger.balance(WRAPPED, e.backstop)
    stranded = e.ledger.balance(WRAPPED, "inflight:bridge")
    final_backing = e.locations.locations["bridge"].backing_ppm / PPM
    check = r.finish(verify_replay)
    df = pd.DataFrame(rows)
    names = set(map(_trader, range(n)))
    summary = {
        "scenario": "failure", "policy": policy, "accounts": n, "positions_opened": opened,
        "collateral_usd": float(collateral.sum()), "collateral_value_at_open": coll0, "lowest_backing": float(backing.min()),
        "backing_in_force_at_end": final_backing,
        "margin_called": len(r.called & names), "liquidated": len(r.liquidated & names), "bankrupt": len(r.bankrupt & names),
        "max_in_breach": int(df["in_breach"].max()),
        "withdrawals_sent": len(sent), "withdrawals_refused_halted": r.refused.get("location_halted", 0) + r.refused.get("location_failed", 0),
        "withdrawals_refused_other": sum(v for k, v in r.refused.items() if k not in ("location_halted", "location_failed")),
        "stranded_in_flight_eth": stranded / 10**WRAPPED_DEC, "stranded_in_flight_usd": stranded / 10**WRAPPED_DEC * end_px,
        "held_by_traders_eth": held / 10**WRAPPED_DEC, "seized_by_vault_eth": vault_units / 10**WRAPPED_DEC,
        "seized_value_paid": r.totals["seized_value"] / Q,
        "depositors_backing_loss": (held + vault_units + stranded) / 10**WRAPPED_DEC * end_px * (1 - float(backing[-1])),
        "loss_by_layer": r.layers(),
        "insurance_fund_draws": r.totals["insurance_fund_draws"] / Q, "adl_notional": r.totals["adl_notional"] / Q,
        **check,
    }
    summary["loss_beyond_fund"] = sum(max(summary["loss_by_layer"][k], 0) for k in LAYERS[1:])
    return {"summary": summary, "series": df}


# ----------------------------------------------------------------------------------------------
# finality delay during a crash


def crash_path(spec: BridgeSpec) -> tuple[np.ndarray, np.ndarray, str]:
    """``(ts_ns, price, label)`` of the shipped crash window ``spec.event`` (its coarse four-point path)."""
    from ramparts.lab.events import event_path, resolve_event

    event = resolve_event(spec.event)
    path = event_path(event, method="coarse")
    return path.ts_ns[:: spec.every], path.price[:: spec.every], f"{event.name}: {event.title}"


def run_finality_delay(spec: BridgeSpec, finality_minutes: float, *, verify_replay: bool = True, journal_url: str | None = None) -> dict:
    """The crash with top-ups over a chain of finality ``finality_minutes`` (see the module docstring; ``journal_url``
    as in :func:`run_bridge_failure`)."""
    from ramparts.engine import events as ev
    from ramparts.engine.presets import perpetual

    ts, price, label = crash_path(spec)
    collateral, leverage, side = _population(spec)
    n = spec.accounts
    rng = np.random.default_rng(spec.seed + 2)
    topper = rng.random(n) < spec.topup_share
    p0 = round(float(price[0]), 1)
    sizes = np.floor(collateral * leverage / p0 * 1000) / 1000
    t0 = int(ts[0]) - S
    fin_ns = int(round(finality_minutes * 60 * S))
    r = _Run(f"finality-{finality_minutes:g}", journal_url)
    fund = round(float(collateral.sum()) * spec.fund, 2)
    r.submit([
        ev.Genesis(ts=t0, settlement_asset=QUOTE, settlement_decimals=6),
        ev.ListAsset(ts=t0, symbol=TOPUP, decimals=TOPUP_DEC, collateral={"haircut_ppm": 0}),
        ev.ListLocation(ts=t0, location="chain", finality_ns=fin_ns, pending_haircut_ppm=round(spec.pending_haircut * PPM),
                        assets={TOPUP: "100000000000"}),
        perpetual("BTC-PERP", "BTC", ts=t0),
        ev.FundInsurance(ts=t0, amount=str(fund)),
        ev.OpenSubAccount(ts=t0, subaccount="maker/main"),
        ev.Deposit(ts=t0, subaccount="maker/main", asset=QUOTE, amount="1000000000"),
        ev.AssetPrice(ts=t0, asset=TOPUP, price="1"),
        ev.OraclePrice(ts=t0, instrument="BTC-PERP", price=str(p0)),
    ])
    opening = []
    for i in range(n):
        opening += [ev.OpenSubAccount(ts=t0, subaccount=_trader(i)),
                    ev.Deposit(ts=t0, subaccount=_trader(i), asset=QUOTE, amount=f"{collateral[i]:.2f}")]
        if sizes[i] >= 0.001:
            buyer, seller = (_trader(i), "maker/main") if side[i] > 0 else ("maker/main", _trader(i))
            opening.append(ev.Fill(ts=t0, instrument="BTC-PERP", buyer=buyer, seller=seller, price=str(p0), size=f"{sizes[i]:.3f}"))
    r.submit(opening, strict=False)
    e = r.e
    traders = np.array([e.sub_index(_trader(i)) for i in range(n)], dtype=np.int64)
    index = {_trader(i): i for i in range(n)}
    opened = int((e.sub_mm[traders] > 0).sum())
    r.open_books()
    left = np.where(topper, spec.max_topups, 0)
    topups = topup_units = 0
    rows = []
    for k in range(ts.size):
        t = int(ts[k])
        # the price moves; margin-called traders may send a top-up before the keeper's tick
        fx = r.submit([ev.OraclePrice(ts=t, instrument="BTC-PERP", price=str(round(float(price[k]), 1)))])
        calls = sorted({f["subaccount"] for f in fx if f["kind"] == "MarginCall" and f["subaccount"] in index})
        sends = []
        for name in calls:
            i = index[name]
            s = int(traders[i])
            if left[i] <= 0:
                continue
            need = int(e.sub_im[s]) - e.equity(s)
            if need <= 0:
                continue
            amount = -(-(need * 11 // 10) // Q)  # what restores initial margin plus 10 %, whole USDC, rounded up
            sends.append(ev.LocationDeposit(ts=t, subaccount=name, asset=TOPUP, amount=str(amount), location="chain"))
            left[i] -= 1
        if sends:
            done = r.submit(sends, strict=False)
            got = [f for f in done if f["kind"] in ("DepositPending", "DepositConfirmed")]
            topups += len(got)
            topup_units += sum(f["units"] for f in got)
        r.submit([ev.Tick(ts=t)])
        equity = e.equity_array(traders)
        mm = e.sub_mm[traders]
        rows.append({"ts_ns": t, "price": float(price[k]), "in_breach": int(((equity < mm) & (mm > 0)).sum()),
                     "pending_usd": e.ledger.balance(TOPUP, "pending:chain") / 10**TOPUP_DEC,
                     "liquidated": len(r.liquidated & set(index)), "bankrupt": len(r.bankrupt & set(index)),
                     "insurance_fund": e.ledger.totals(QUOTE)["insurance"] / Q})
    r.submit([ev.Tick(ts=int(ts[-1]) + fin_ns + S)])  # what is still pending reaches finality after the window
    check = r.finish(verify_replay)
    df = pd.DataFrame(rows)
    names = set(index)
    summary = {
        "scenario": "finality", "finality_minutes": finality_minutes, "label": label, "accounts": n, "positions_opened": opened,
        "collateral_usd": float(collateral.sum()), "lowest_price": float(price.min()), "first_price": float(price[0]),
        "topups_sent": topups, "topups_usd": topup_units / 10**TOPUP_DEC,
        "pending_seized": r.kinds.get("PendingSeized", 0), "pending_seized_value": r.totals["pending_seized_value"] / Q,
        "max_pending_usd": float(df["pending_usd"].max()),
        "margin_called": len(r.called & names), "liquidated": len(r.liquidated & names), "bankrupt": len(r.bankrupt & names),
        "max_in_breach": int(df["in_breach"].max()),
        "loss_by_layer": r.layers(), "insurance_fund_draws": r.totals["insurance_fund_draws"] / Q,
        "adl_notional": r.totals["adl_notional"] / Q, **check,
    }
    summary["loss_beyond_fund"] = sum(max(summary["loss_by_layer"][k], 0) for k in LAYERS[1:])
    return {"summary": summary, "series": df}


# ----------------------------------------------------------------------------------------------
# both, and the report


@dataclass
class BridgeResult:
    spec: BridgeSpec
    runs: dict[str, dict] = field(default_factory=dict)  # column label → {"summary", "series"}


def run_bridge(spec: BridgeSpec, *, verify_replay: bool = True) -> BridgeResult:
    """The scenario of ``spec``: the failure under each policy, or the crash under each finality."""
    res = BridgeResult(spec)
    if spec.scenario == "failure":
        for p in POLICIES:
            res.runs[p] = run_bridge_failure(spec, p, verify_replay=verify_replay)
    else:
        for f in spec.finalities:
            res.runs[f"finality {f:g} min"] = run_finality_delay(spec, f, verify_replay=verify_replay)
    return res


CAVEATS = [
    "Every parameter of the bridge and of the venue is an assumption of the lab (named in the parameters): the finality, "
    "the pending haircut, the drain's shape and speed, the time to the halt, the runners and the top-up rule.",
    "The wrapped asset is priced off the native asset's feed, so its loss of backing reaches the venue only through the "
    "location's status (LocationStatus): a venue that does not read the bridge's backing sees nothing until the loss is declared.",
    "The backstop vault buys a bankrupt account's wrapped collateral at the backing of the moment: while the bridge is still "
    "draining, the rest of the drain is the vault's loss (the reprice policy's vault loss), where a venue that reprices late "
    "passes the loss to the fund and the ADL counterparties instead.",
    "A bankrupt account's top-ups still pending pass to the backstop vault at what they counted for (the pending haircut off); "
    "the vault keeps the difference when they reach finality, so in the finality runs the vault gains what the ADL "
    "counterparties lose: the engine's rule (PendingSeized), not a market price for a claim in flight.",
    "The population is synthetic (log-normal collateral, log-uniform leverage against one market maker); no trader adds "
    "collateral in the failure scenario, and only the top-up rule does in the finality scenario.",
]


def summary_doc(result: BridgeResult) -> dict:
    return {"spec": asdict(result.spec), "runs": {k: r["summary"] for k, r in result.runs.items()}}


def write_bridge_report(result: BridgeResult, out_dir: str | Path) -> dict[str, Path]:
    """``report.html`` (the verdict and the loss by layer per run, the parameters, the caveats, the charts),
    ``summary.json`` (the spec and each run's summary) and ``series-<n>.parquet`` per run."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json"}
    sp = result.spec
    doc = summary_doc(result)
    cols = list(result.runs)
    s = {k: r["summary"] for k, r in result.runs.items()}
    c = rk.cell
    first = s[cols[0]]
    if sp.scenario == "failure":
        title = f"ramparts bridge: a wrapped collateral asset loses its backing, {sp.accounts:,} accounts"
        rep, tru = s["reprice"], s["trust"]
        sentence = (f"The bridge's backing fell to {first['lowest_backing']:.0%} over {sp.drain_hours:g} hours; the venue halted it "
                    f"{sp.detect_minutes:g} minutes in, stranding {first['stranded_in_flight_eth']:,.3f} ETH in flight. Repricing as "
                    f"the backing fell, the loss beyond the insurance fund is {rep['loss_beyond_fund']:,.0f} USDC "
                    f"({rep['bankrupt']:,} bankrupt); trusting the feed until the loss is declared, {tru['loss_beyond_fund']:,.0f} USDC "
                    f"({tru['bankrupt']:,} bankrupt).")
        rows = [("lowest backing of the wrapped asset", [c(s[k]["lowest_backing"], f"runs/{k}/lowest_backing", ".0%") for k in cols]),
                ("accounts margin-called", [c(s[k]["margin_called"], f"runs/{k}/margin_called", ",d") for k in cols]),
                ("accounts liquidated", [c(s[k]["liquidated"], f"runs/{k}/liquidated", ",d") for k in cols]),
                ("accounts bankrupt", [c(s[k]["bankrupt"], f"runs/{k}/bankrupt", ",d") for k in cols]),
                ("withdrawals sent over the bridge", [c(s[k]["withdrawals_sent"], f"runs/{k}/withdrawals_sent", ",d") for k in cols]),
                ("withdrawals refused (bridge halted)", [c(s[k]["withdrawals_refused_halted"], f"runs/{k}/withdrawals_refused_halted", ",d")
                                                         for k in cols]),
                ("stranded in flight (ETH)", [c(s[k]["stranded_in_flight_eth"], f"runs/{k}/stranded_in_flight_eth", ",.3f") for k in cols]),
                ("seized by the vault, stranded (ETH)", [c(s[k]["seized_by_vault_eth"], f"runs/{k}/seized_by_vault_eth", ",.3f")
                                                         for k in cols]),
                ("depositors' loss to the backing (USD)", [c(s[k]["depositors_backing_loss"], f"runs/{k}/depositors_backing_loss")
                                                           for k in cols])]
    else:
        title = f"ramparts bridge: collateral in flight during a crash, {first['label'].split(':')[0]}, {sp.accounts:,} accounts"
        lo, hi = cols[0], cols[-1]
        sentence = (f"BTC fell from {first['first_price']:,.0f} to {first['lowest_price']:,.0f}. Topping up over a chain with "
                    f"{s[lo]['finality_minutes']:g} minutes' finality, {s[lo]['liquidated']:,} accounts were liquidated and "
                    f"{s[lo]['bankrupt']:,} went bankrupt; with {s[hi]['finality_minutes']:g} minutes, {s[hi]['liquidated']:,} and "
                    f"{s[hi]['bankrupt']:,}, with {s[hi]['pending_seized']:,} top-ups seized while still pending.")
        rows = [("top-ups sent (count)", [c(s[k]["topups_sent"], f"runs/{k}/topups_sent", ",d") for k in cols]),
                ("top-ups sent (USD)", [c(s[k]["topups_usd"], f"runs/{k}/topups_usd") for k in cols]),
                ("most in flight at once (USD)", [c(s[k]["max_pending_usd"], f"runs/{k}/max_pending_usd") for k in cols]),
                ("top-ups seized while pending", [c(s[k]["pending_seized"], f"runs/{k}/pending_seized", ",d") for k in cols]),
                ("accounts margin-called", [c(s[k]["margin_called"], f"runs/{k}/margin_called", ",d") for k in cols]),
                ("accounts liquidated", [c(s[k]["liquidated"], f"runs/{k}/liquidated", ",d") for k in cols]),
                ("accounts bankrupt", [c(s[k]["bankrupt"], f"runs/{k}/bankrupt", ",d") for k in cols])]
    rows += [(f"loss borne: {LAYER_WORDS[b]} (USDC)", [c(s[k]["loss_by_layer"][b], f"runs/{k}/loss_by_layer/{b}") for k in cols])
             for b in LAYERS]
    rows += [("loss beyond the fund (USDC)", [c(s[k]["loss_beyond_fund"], f"runs/{k}/loss_beyond_fund") for k in cols]),
             ("value conserved per asset", [c(s[k]["value_conserved_per_asset"], f"runs/{k}/value_conserved_per_asset") for k in cols]),
             ("journal replay reproduces the hash", [c(s[k]["replay_matches"], f"runs/{k}/replay_matches") for k in cols])]
    page = rk.Page(title, command="bridge")
    page.verdict(sentence, rk.headline(rows, columns=cols, first="figure", source="summary.json"))
    common = [("scenario", sp.scenario), ("population", f"{sp.accounts:,} traders, log-normal collateral, leverage log-uniform in "
                                                        f"[1, 8], against one market maker"), ("seed", sp.seed),
              ("pending haircut (assumption)", f"{sp.pending_haircut:.0%}"),
              ("insurance fund (assumption)", f"{sp.fund:.2%} of the collateral posted")]
    if sp.scenario == "failure":
        common += [("wrapped asset", f"{WRAPPED} over the location 'bridge', haircut {sp.haircut:.0%} (assumption)"),
                   ("bridge finality (assumption)", f"{sp.finality_minutes:g} minutes"),
                   ("drain (assumption)", f"backing linear from 100 % to {sp.residual:.0%} over {sp.drain_hours:g} h, starting "
                                          f"{sp.exploit_hour:g} h in"),
                   ("halt (assumption)", f"{sp.detect_minutes:g} minutes after the exploit starts"),
                   ("ETH (assumption)", f"{sp.eth_price:,.0f}, moving {sp.eth_move:+.0%} over {sp.hours:g} h, a step every "
                                        f"{sp.step_minutes:g} minutes"),
                   ("runners (assumption)", f"{sp.runners:.0%} of traders withdraw a quarter of their wrapped ETH once, between the "
                                            "exploit and an hour after the halt"),
                   ("policies", "reprice: the backing journaled at every step after the halt; trust: the feed's price until the "
                                "drain is over, then the loss declared at once")]
    else:
        common += [("crash window", first["label"]), ("finalities", ", ".join(f"{f:g} min" for f in sp.finalities)),
                   ("top-up asset", f"{TOPUP} over the location 'chain', no haircut once final"),
                   ("top-ups (assumption)", f"{sp.topup_share:.0%} of traders answer a margin call with what restores initial margin "
                                            f"+ 10 %, at most {sp.max_topups} times")]
    page.parameters(common)
    page.caveats(CAVEATS)
    lay = rk.chart("Loss by layer", x="run", y="USDC", height=380)
    for b in LAYERS:
        lay.add_trace(go.Bar(x=cols, y=[s[k]["loss_by_layer"][b] for k in cols], name=LAYER_WORDS[b],
                             marker={"color": rk.BEARER_COLOURS[b]}))
    lay.update_layout(barmode="relative")
    page.figure(lay, caption="Each layer's loss (negative: it gained, e.g. the fund's penalty income).")
    if sp.scenario == "failure":
        d = result.runs["reprice"]["series"]
        t = rk.times(d["ts_ns"])
        fig = rk.time_chart("The bridge's backing, and the backing the venue values the wrapped asset at", y="fraction of the price",
                            height=360)
        fig.add_trace(go.Scatter(x=t, y=d["backing"], name="backing left", line={"color": rk.COLOURS["price"]}))
        for i, k in enumerate(cols):
            dd = result.runs[k]["series"]
            fig.add_trace(go.Scatter(x=rk.times(dd["ts_ns"]), y=dd["backing_in_force"], name=f"in force: {k}",
                                     line={"color": rk.palette(i), "shape": "hv"}))
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
        page.figure(fig)
        keys = (("collateral_value", "Collateral value of the traders", "USDC"), ("liquidated", "Accounts liquidated (cumulative)", "accounts"),
                ("bankrupt", "Accounts bankrupt (cumulative)", "accounts"),
                ("in_flight", "Wrapped ETH in flight over the bridge", "ETH"), ("vault_equity", "Backstop vault's equity", "USDC"))
    else:
        d = result.runs[cols[0]]["series"]
        fig = rk.time_chart(f"BTC through {first['label'].split(':')[0]}", y="USD", height=340)
        fig.add_trace(go.Scatter(x=rk.times(d["ts_ns"]), y=d["price"], name="BTC", line={"color": rk.COLOURS["price"]}))
        page.figure(fig)
        keys = (("pending_usd", "Top-ups pending at the chain", "USD"), ("liquidated", "Accounts liquidated (cumulative)", "accounts"),
                ("bankrupt", "Accounts bankrupt (cumulative)", "accounts"), ("insurance_fund", "Insurance fund", "USDC"))
    for key, words, unit in keys:
        fig = rk.time_chart(words, y=unit, height=340)
        for i, k in enumerate(cols):
            dd = result.runs[k]["series"]
            fig.add_trace(go.Scatter(x=rk.times(dd["ts_ns"]), y=dd[key], name=k, line={"color": rk.palette(i)}))
        page.figure(fig)
    page.write(paths["html"])
    paths["json"].write_text(json.dumps(doc, indent=2, default=str))
    for i, (k, r) in enumerate(result.runs.items()):
        p = out / f"series-{i}.parquet"
        r["series"].assign(run=k).to_parquet(p, index=False)
        paths[f"series-{i}"] = p
    return paths


__all__ = ["BridgeResult", "BridgeSpec", "POLICIES", "SCENARIOS", "backing_path", "run_bridge", "run_bridge_failure",
           "run_finality_delay", "write_bridge_report"]
