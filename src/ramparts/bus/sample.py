"""A seeded venue to push through the bus: set-up events, then fills, prices, ticks and funding.

:func:`sample_stream` is what the bus's tests and benchmark publish: a BTC perpetual, a market
maker, leveraged traders opening positions, then a crash (the lab demo's path) during which the
traders keep trading with the market maker, every step an index price and a liquidation tick and
every hour a funding tick. It produces margin calls, liquidation steps, insurance draws and, with
enough depth, auto-deleveraging; some fills are refused (initial margin), which exercises the
refusal path. The same seed gives the same events.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from ramparts.engine import events as ev
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.lab.demo import crash_path

S = 10**9
MINUTE = 60 * S
PRICE0 = 8_000.0


def setup_events(traders: int, seed: int = 7) -> list[ev._Event]:
    """The venue, the market maker and ``traders`` funded traders with an opening position each."""
    rng = np.random.default_rng([seed, 1])
    out: list[ev._Event] = [
        genesis(ts=0, cooldown_ns=MINUTE),
        perpetual("BTC-PERP", "BTC", tiers=BTC_TIERS),
        ev.OpenSubAccount(ts=0, subaccount="mm/main"),
        ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="50000000"),
        ev.FundInsurance(ts=0, amount="20000"),
        ev.OraclePrice(ts=0, instrument="BTC-PERP", price=f"{PRICE0:.1f}"),
    ]
    for i in range(traders):
        name = f"trader{i:05d}/main"
        lev = float(np.exp(rng.uniform(np.log(2), np.log(40))))
        collateral = round(float(rng.lognormal(np.log(5_000), 0.8)), 2)
        size = Decimal(str(round(collateral * lev / PRICE0, 3)))
        out.append(ev.OpenSubAccount(ts=0, subaccount=name))
        out.append(ev.Deposit(ts=0, subaccount=name, asset="USDC", amount=str(collateral)))
        if size > 0:
            long = rng.random() < 0.7
            buyer, seller = (name, "mm/main") if long else ("mm/main", name)
            out.append(ev.Fill(ts=0, instrument="BTC-PERP", buyer=buyer, seller=seller, price=f"{PRICE0:.1f}", size=str(size)))
    return out


def trading_events(traders: int, steps: int, *, fills_per_step: int = 4, depth: float = 0.35, seed: int = 7,
                   start_ts: int = MINUTE) -> list[ev._Event]:
    """``steps`` minutes of the crash: each minute ``fills_per_step`` fills between a random trader
    and the market maker near the price, the index price and a liquidation tick; funding hourly."""
    rng = np.random.default_rng([seed, 2])
    path = crash_path(steps, PRICE0, depth, seed)
    out: list[ev._Event] = []
    t = start_ts
    for k, p in enumerate(path):
        for _ in range(fills_per_step):
            name = f"trader{int(rng.integers(traders)):05d}/main"
            size = Decimal(str(round(float(rng.lognormal(np.log(0.05), 0.8)), 3))) or Decimal("0.001")
            price = f"{p * (1 + rng.normal(0, 2e-4)):.1f}"
            buyer, seller = (name, "mm/main") if rng.random() < 0.5 else ("mm/main", name)
            out.append(ev.Fill(ts=t, instrument="BTC-PERP", buyer=buyer, seller=seller, price=price, size=str(size)))
        out.append(ev.OraclePrice(ts=t, instrument="BTC-PERP", price=f"{p:.2f}"))
        out.append(ev.Tick(ts=t))
        if k % 60 == 59:
            out.append(ev.FundingTick(ts=t, instrument="BTC-PERP"))
        t += MINUTE
    return out


def sample_stream(seed: int = 7, *, traders: int = 40, steps: int = 120, fills_per_step: int = 4, depth: float = 0.35) -> list[ev._Event]:
    """:func:`setup_events` then :func:`trading_events`: about ``traders × 3 + steps × (fills_per_step + 2)`` events."""
    return setup_events(traders, seed) + trading_events(traders, steps, fills_per_step=fills_per_step, depth=depth, seed=seed)


__all__ = ["MINUTE", "sample_stream", "setup_events", "trading_events"]
