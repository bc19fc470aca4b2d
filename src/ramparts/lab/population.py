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
``pair_fraction``      0: with two or more markets, this fraction of cross accounts hold a
                       relative-value pair (long the second market, short the first, equal
                       notional), the position a correlation breakdown hurts
``market_weights``     equal: how single-market traders spread over the markets
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
    pair_fraction: float = 0.0
    market_weights: tuple[float, ...] | None = None
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
            "pair_fraction": 0.0 <= self.pair_fraction <= 1.0,
            "market_weights": self.market_weights is None
            or (len(self.market_weights) > 0 and all(w >= 0 for w in self.market_weights) and sum(self.market_weights) > 0),
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInput(f"population.{name}", f"out of range: {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Market:
    """A market traders open positions in: symbol, starting price (quote per unit), size step."""

    symbol: str
    price: float
    size_step: Decimal


@dataclass(frozen=True, slots=True)
class Trader:
    subaccount: str
    isolated: bool
    collateral: Decimal
    legs: tuple[tuple[str, Decimal], ...]  # (symbol, signed size in contracts), long > 0
    leverage: float

    @property
    def size(self) -> Decimal:
        """The signed size of the first leg."""
        return self.legs[0][1]

    def notional(self, prices: dict[str, float]) -> float:
        return sum(abs(float(q)) * prices[s] for s, q in self.legs)


def generate_population(spec: PopulationSpec, markets: list[Market] | Market, max_leverage: float) -> list[Trader]:
    """Draw the traders; leverage is capped at ``max_leverage`` (the venue's initial-margin limit).

    Every trader holds one position in one market (chosen by ``market_weights``), except, with two
    or more markets, a ``pair_fraction`` of the cross-margined ones: they hold a long in the
    second market and a short of equal notional in the first, at the drawn leverage on the sum of
    both legs.
    """
    markets = [markets] if isinstance(markets, Market) else list(markets)
    if not markets:
        raise InvalidInput("markets", "needs at least one market")
    rng = np.random.default_rng(spec.seed)
    n = spec.n_accounts
    lev = np.exp(rng.uniform(np.log(spec.leverage_min), np.log(spec.leverage_max), n))
    lev = np.minimum(lev, max_leverage * 0.98)
    collateral = np.round(spec.collateral_median * np.exp(rng.normal(0, spec.collateral_sigma, n)), 2)
    collateral = np.maximum(collateral, 10.0)
    long = rng.random(n) < spec.long_fraction
    isolated = rng.random(n) < spec.isolated_fraction
    weights = np.ones(len(markets)) if spec.market_weights is None else np.asarray(spec.market_weights, dtype=float)
    if weights.size != len(markets):
        raise InvalidInput("population.market_weights", f"{weights.size} weights for {len(markets)} markets")
    market = rng.choice(len(markets), size=n, p=weights / weights.sum()) if len(markets) > 1 else np.zeros(n, dtype=int)
    pair = (rng.random(n) < spec.pair_fraction) & ~isolated if len(markets) > 1 else np.zeros(n, dtype=bool)
    traders = []
    for i in range(n):
        notional = collateral[i] * lev[i]
        if pair[i]:
            legs = tuple((m.symbol, size_for_notional(notional / 2, m, sign)) for m, sign in ((markets[1], 1), (markets[0], -1)))
        else:
            m = markets[market[i]]
            legs = ((m.symbol, size_for_notional(notional, m, 1 if long[i] else -1)),)
        if any(q == 0 for _, q in legs):
            continue
        traders.append(
            Trader(
                subaccount=f"t{i:06d}/{'iso' if isolated[i] else 'main'}",
                isolated=bool(isolated[i]),
                collateral=Decimal(str(collateral[i])),
                legs=legs,
                leverage=float(lev[i]),
            )
        )
    return traders


def size_for_notional(notional: float, m: Market, sign: int) -> Decimal:
    """The signed size (whole steps, rounded towards zero) worth ``notional`` at ``m.price``."""
    lots = int(notional / m.price / float(m.size_step))
    return Decimal(lots * sign) * m.size_step


def opening_events(traders: list[Trader], prices: dict[str, Decimal], ts: int, maker_multiple: float) -> list[ev._Event]:
    """Sub-accounts, deposits and opening fills (against the market maker) for ``traders``.

    ``prices`` maps each symbol to the fill price (the starting price).
    """
    total_notional = sum((abs(q) * prices[s] for t in traders for s, q in t.legs), Decimal(0))
    out: list[ev._Event] = [
        ev.OpenSubAccount(ts=ts, subaccount=MAKER),
        ev.Deposit(ts=ts, subaccount=MAKER, asset="USDC", amount=str((total_notional * Decimal(str(maker_multiple))).quantize(Decimal(1)) + 1)),
    ]
    for t in traders:
        if t.isolated:
            out.append(ev.OpenSubAccount(ts=ts, subaccount=t.subaccount, mode="isolated", instrument=t.legs[0][0]))
        else:
            out.append(ev.OpenSubAccount(ts=ts, subaccount=t.subaccount))
        out.append(ev.Deposit(ts=ts, subaccount=t.subaccount, asset="USDC", amount=str(t.collateral)))
        for symbol, size in t.legs:
            buyer, seller = (t.subaccount, MAKER) if size > 0 else (MAKER, t.subaccount)
            out.append(ev.Fill(ts=ts, instrument=symbol, buyer=buyer, seller=seller, price=str(prices[symbol]), size=str(abs(size))))
    return out
