"""A small built-in scenario: a seeded population of leveraged traders through a synthetic crash.

It exercises every layer end to end (oracle ticks, vectorised re-margin, partial liquidation, the
insurance fund, ADL, funding) through a journaled :class:`~ramparts.engine.node.Node`, then
replays the journal and checks that the state hash is reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.journal import open_journal

S = 10**9
MINUTE = 60 * S


@dataclass
class DemoResult:
    """What the demo measured."""

    events: int = 0
    rejected: int = 0
    margin_calls: int = 0
    liquidation_steps: int = 0
    liquidated_notional: int = 0
    insurance_draws: int = 0
    insurance_drawn: int = 0
    deleverages: int = 0
    socialised: int = 0
    bad_debt: int = 0
    fund_start: int = 0
    fund_end: int = 0
    low: Decimal = Decimal(0)
    state_hash: str = ""
    replay_hash: str = ""
    conserved: bool = False
    totals: dict = field(default_factory=dict)


def crash_path(n_steps: int, start: float, depth: float, seed: int) -> np.ndarray:
    """A seeded path: a fall of ``depth`` over the first 60 % of the steps, then a partial recovery."""
    rng = np.random.default_rng(seed)
    k = int(n_steps * 0.6)
    trend = np.concatenate([np.linspace(0, np.log(1 - depth), k), np.linspace(np.log(1 - depth), np.log(1 - depth * 0.6), n_steps - k)])
    noise = np.cumsum(rng.normal(0, 0.004, n_steps))
    noise -= np.linspace(0, noise[-1], n_steps)
    return start * np.exp(trend + noise)


def run_demo(journal_url: str, *, accounts: int = 200, steps: int = 240, depth: float = 0.45, seed: int = 7, progress=None) -> DemoResult:
    """Run the scenario into ``journal_url`` and return its figures."""
    rng = np.random.default_rng(seed)
    res = DemoResult()
    node = Node(open_journal(journal_url, durability="normal"))
    t = 0

    def submit(batch):
        outcomes = node.submit_batch(batch)
        res.events += sum(o.accepted for o in outcomes)
        res.rejected += sum(not o.accepted for o in outcomes)
        for o in outcomes:
            for f in o.effects or ():
                _count(res, f)

    price0 = 8_000.0
    setup = [genesis(ts=0, cooldown_ns=MINUTE), perpetual("BTC-PERP", "BTC", tiers=BTC_TIERS), ev.OpenSubAccount(ts=0, subaccount="mm/main")]
    setup.append(ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="50000000"))
    setup.append(ev.FundInsurance(ts=0, amount="20000"))
    setup.append(ev.OraclePrice(ts=0, instrument="BTC-PERP", price=str(price0)))
    submit(setup)
    res.fund_start = node.engine.ledger.balance("USDC", "insurance:global")
    # the population: leverage 2-50x (log-uniform), 70 % long, sizes lognormal
    trades = []
    for i in range(accounts):
        name = f"trader{i:05d}/main"
        lev = float(np.exp(rng.uniform(np.log(2), np.log(50))))
        collateral = round(float(rng.lognormal(np.log(5_000), 1.0)), 2)
        notional = collateral * lev
        size = Decimal(str(round(notional / price0, 3)))
        if size <= 0:
            continue
        trades.append(ev.OpenSubAccount(ts=0, subaccount=name))
        trades.append(ev.Deposit(ts=0, subaccount=name, asset="USDC", amount=str(collateral)))
        long = rng.random() < 0.7
        buyer, seller = (name, "mm/main") if long else ("mm/main", name)
        trades.append(ev.Fill(ts=0, instrument="BTC-PERP", buyer=buyer, seller=seller, price=f"{price0:.1f}", size=str(size)))
    submit(trades)
    path = crash_path(steps, price0, depth, seed)
    res.low = Decimal(str(round(float(path.min()), 2)))
    for k, p in enumerate(path):
        t += MINUTE
        batch = [ev.OraclePrice(ts=t, instrument="BTC-PERP", price=f"{p:.2f}"), ev.Tick(ts=t)]
        if k % 60 == 59:
            batch.append(ev.FundingTick(ts=t, instrument="BTC-PERP"))
        submit(batch)
        if progress:
            progress(k + 1, steps)
    e = node.engine
    res.fund_end = e.ledger.balance("USDC", "insurance:global")
    res.bad_debt = -min(e.ledger.balance("USDC", "socialised_loss"), 0)
    res.totals = e.ledger.totals("USDC")
    res.conserved = sum(res.totals.values()) == 0
    res.state_hash = e.state_hash()
    res.replay_hash = replay(node.journal).state_hash()
    node.close()
    return res


def _count(res: DemoResult, f: dict) -> None:
    k = f["kind"]
    if k == "MarginCall":
        res.margin_calls += 1
    elif k == "LiquidationStep":
        res.liquidation_steps += 1
        res.liquidated_notional += f["notional"]
    elif k == "InsuranceFundDraw":
        res.insurance_draws += 1
        res.insurance_drawn += f["amount"]
    elif k == "Deleverage":
        res.deleverages += 1
    elif k == "SocialisedLoss":
        res.socialised += f["loss"]
