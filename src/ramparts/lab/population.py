"""Seeded account populations for replays and stress runs.

A :class:`PopulationSpec` describes the distributions (documented defaults below);
:func:`generate_population` draws a reproducible list of :class:`Trader` from it, and
:func:`opening_events` turns them into engine events: sub-account openings, deposits, and the fills
that open their positions against a well-capitalised market maker at the starting price.

Defaults (chosen to resemble a retail-heavy perpetual venue, not calibrated to any one venue):

=====================  ============================================================================
``n_accounts``         2,000
``leverage``           log-uniform between 1.5× and 50× (``leverage_min``, ``leverage_max``)
``long_fraction``      0.65 of accounts long (crowded longs before a crash)
``collateral``         log-normal, median 5,000 USDC, σ = 1.2 (a few whales, many small accounts)
``isolated_fraction``  0.3 of accounts in isolated mode, the rest cross
``maker_collateral``   the market maker holds 10 × the population's total notional in collateral
=====================  ============================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

import numpy as np

from ramparts.engine import events as ev
from ramparts.errors import InvalidInput

MAKER = "maker/main"


@dataclass(frozen=True)
class PopulationSpec:
    """Distribution parameters of a population (see the module docstring)."""

    n_accounts: int = 2_000
    leverage_min: float = 1.5
    leverage_max: float = 50.0
    long_fraction: float = 0.65
    collateral_median: float = 5_000.0
    collateral_sigma: float = 1.2
    isolated_fraction: float = 0.3
    maker_collateral_multiple: float = 10.0
    seed: int = 1

    def __post_init__(self) -> None:
        checks = {
            "n_accounts": 1 <= self.n_accounts <= 2_000_000,
            "leverage_min": 1.0 <= self.leverage_min <= self.leverage_max,
            "leverage_max": self.leverage_max <= 200,
            "long_fraction": 0.0 <= self.long_fraction <= 1.0,
            "collateral_median": self.collateral_median > 0,
            "collateral_sigma": 0 <= self.collateral_sigma <= 5,
            "isolated_fraction": 0.0 <= self.isolated_fraction <= 1.0,
            "maker_collateral_multiple": self.maker_collateral_multiple > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInput(f"population.{name}", f"out of range: {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Trader:
    subaccount: str
    isolated: bool
    collateral: Decimal
    size: Decimal  # signed, in contracts
    leverage: float


def generate_population(spec: PopulationSpec, price: float, size_step: Decimal, max_leverage: float) -> list[Trader]:
    """Draw the traders; leverage is capped at ``max_leverage`` (the venue's initial-margin limit)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.n_accounts
    lev = np.exp(rng.uniform(np.log(spec.leverage_min), np.log(spec.leverage_max), n))
    lev = np.minimum(lev, max_leverage * 0.98)
    collateral = np.round(spec.collateral_median * np.exp(rng.normal(0, spec.collateral_sigma, n)), 2)
    collateral = np.maximum(collateral, 10.0)
    long = rng.random(n) < spec.long_fraction
    isolated = rng.random(n) < spec.isolated_fraction
    step = float(size_step)
    traders = []
    for i in range(n):
        lots = int(collateral[i] * lev[i] / price / step)
        if lots <= 0:
            continue
        size = Decimal(lots) * size_step
        traders.append(
            Trader(
                subaccount=f"t{i:06d}/{'iso' if isolated[i] else 'main'}",
                isolated=bool(isolated[i]),
                collateral=Decimal(str(collateral[i])),
                size=size if long[i] else -size,
                leverage=float(lev[i]),
            )
        )
    return traders


def opening_events(traders: list[Trader], instrument: str, price: Decimal, ts: int, maker_multiple: float) -> list[ev._Event]:
    """Sub-accounts, deposits and opening fills (against the market maker) for ``traders``."""
    total_notional = sum(abs(t.size) for t in traders) * price
    out: list[ev._Event] = [
        ev.OpenSubAccount(ts=ts, subaccount=MAKER),
        ev.Deposit(ts=ts, subaccount=MAKER, asset="USDC", amount=str((total_notional * Decimal(str(maker_multiple))).quantize(Decimal(1)) + 1)),
    ]
    for t in traders:
        if t.isolated:
            out.append(ev.OpenSubAccount(ts=ts, subaccount=t.subaccount, mode="isolated", instrument=instrument))
        else:
            out.append(ev.OpenSubAccount(ts=ts, subaccount=t.subaccount))
        out.append(ev.Deposit(ts=ts, subaccount=t.subaccount, asset="USDC", amount=str(t.collateral)))
        buyer, seller = (t.subaccount, MAKER) if t.size > 0 else (MAKER, t.subaccount)
        out.append(ev.Fill(ts=ts, instrument=instrument, buyer=buyer, seller=seller, price=str(price), size=str(abs(t.size))))
    return out
