"""Replay a price path (real history or synthetic) through the engine with a population of traders.

:func:`run_replay` builds a venue (genesis, one linear perpetual, a seeded insurance fund), opens a
:mod:`population <ramparts.lab.population>` at the first price, then walks the path: each
observation becomes an ``OraclePrice`` (the market path shifted by the
:mod:`liquidity model <ramparts.lab.liquidity>`'s displacement) and a ``Tick`` that runs the
waterfall; funding is paid every interval. Everything goes through a journaled
:class:`~ramparts.engine.node.Node`, so a run can be replayed and its state hash checked.

The result holds a per-step time series (prices, insurance fund, accounts in breach, margin-ratio
quantiles, liquidations) and per-layer totals; :mod:`ramparts.lab.report` turns it into HTML,
JSON and Parquet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.errors import InvalidInput
from ramparts.journal import open_journal
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import MAKER, PopulationSpec, generate_population, opening_events

SYMBOL = "BTC-PERP"
LAYERS = ("penalty_to_liquidators", "penalty_to_insurance", "insurance_fund_draws", "adl_notional", "socialised_loss", "bad_debt")


@dataclass
class VenueSpec:
    """The venue under test: margin tiers, waterfall parameters, the fund's starting balance."""

    tiers: list = field(default_factory=lambda: [list(t) for t in BTC_TIERS])
    liquidation: dict = field(default_factory=lambda: {"cooldown_ns": 60 * 10**9})
    insurance_fund: Decimal = Decimal("250000")
    funding_interval_s: int = 8 * 3600


@dataclass
class ReplayResult:
    """What a replay measured: a time series per step and totals per waterfall layer (USDC)."""

    name: str
    series: dict[str, np.ndarray]
    liquidations: list[dict]
    totals: dict[str, float]
    summary: dict
    state_hash: str
    replay_hash: str | None


def _usdc(units: int) -> float:
    return units / 1e6


def run_replay(
    ts_ns: np.ndarray,
    price: np.ndarray,
    *,
    name: str = "replay",
    population: PopulationSpec | None = None,
    liquidity: LiquidityModel | None = None,
    venue: VenueSpec | None = None,
    journal_url: str = "sqlite://:memory:",
    verify_replay: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Run ``price`` (per observation, quote per BTC) at times ``ts_ns`` through the engine."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    price = np.asarray(price, dtype=np.float64)
    if ts_ns.shape != price.shape or ts_ns.size < 2:
        raise InvalidInput("path", "needs at least two observations with one time each")
    if not np.all(np.isfinite(price)) or np.any(price <= 0):
        raise InvalidInput("path", "prices must be finite and positive")
    if np.any(np.diff(ts_ns) < 0):
        raise InvalidInput("path", "times must not go backwards")
    population = population or PopulationSpec()
    liquidity = liquidity or LiquidityModel()
    venue = venue or VenueSpec()

    node = Node(open_journal(journal_url, durability="normal"))
    t0 = int(ts_ns[0])
    p0 = Decimal(f"{price[0]:.1f}")
    listing = perpetual(SYMBOL, "BTC", ts=t0, tiers=venue.tiers)
    setup = [genesis(ts=t0, **venue.liquidation), listing, ev.FundInsurance(ts=t0, amount=str(venue.insurance_fund)),
             ev.OraclePrice(ts=t0, instrument=SYMBOL, price=str(p0))]
    _submit(node, setup, strict=True)
    instr = node.engine.instrument(SYMBOL)
    max_lev = 1e6 / instr.schedule.tiers[0].initial_rate_ppm
    traders = generate_population(population, float(p0), instr.size_step, max_lev)
    _submit(node, opening_events(traders, SYMBOL, p0, t0, population.maker_collateral_multiple), strict=False)
    e = node.engine
    fund0 = e.ledger.balance("USDC", "insurance:global")
    vault = e.backstop

    n = ts_ns.size
    cols = {k: np.zeros(n) for k in ("market_price", "oracle_price", "insurance_fund", "vault_equity", "in_breach",
                                      "ratio_p50", "ratio_p90", "ratio_p99", "liquidated_notional", "displacement", "vault_unwound")}
    cols["ts_ns"] = ts_ns.copy()
    totals = dict.fromkeys(LAYERS, 0)
    counts = {"margin_calls": 0, "liquidation_steps": 0, "bankruptcies": 0, "deleverages": 0}
    liquidations: list[dict] = []
    displacement = 0.0
    last_funding = t0
    log_ret = np.diff(np.log(price), prepend=np.log(price[0]))
    for k in range(n):
        t = int(ts_ns[k])
        if k:
            displacement = liquidity.decay(displacement, (t - int(ts_ns[k - 1])) / 1e9)
        sigma = float(np.std(log_ret[max(0, k - 48) : k + 1])) if k > 2 else 0.01
        oracle = float(price[k]) * float(np.exp(displacement))
        batch: list[ev._Event] = [ev.OraclePrice(ts=t, instrument=SYMBOL, price=f"{oracle:.2f}"), ev.Tick(ts=t)]
        if t - last_funding >= venue.funding_interval_s * 10**9:
            batch.append(ev.FundingTick(ts=t, instrument=SYMBOL))
            last_funding = t
        flow = 0
        for f in _submit(node, batch, strict=True):
            kind = f["kind"]
            if kind == "MarginCall":
                counts["margin_calls"] += 1
            elif kind == "LiquidationStep":
                counts["liquidation_steps"] += 1
                totals["penalty_to_liquidators"] += f["to_liquidator"]
                totals["penalty_to_insurance"] += f["to_insurance"]
                flow += f["notional"] * (1 if f["lots"] > 0 else -1)
                liquidations.append({"ts_ns": t, "price": oracle, "notional": _usdc(f["notional"]), "side": "sell" if f["lots"] < 0 else "buy",
                                     "subaccount": f["subaccount"]})
            elif kind == "InsuranceFundDraw":
                totals["insurance_fund_draws"] += f["amount"]
            elif kind == "Deleverage":
                counts["deleverages"] += 1
                totals["adl_notional"] += abs(f["quote"])
            elif kind == "SocialisedLoss":
                totals["socialised_loss"] += f["loss"]
            elif kind == "Bankruptcy":
                counts["bankruptcies"] += 1
        if flow:
            displacement = liquidity.clamp(displacement + liquidity.impact(_usdc(flow), sigma))
        unwound = _unwind_vault(node, instr, vault, t, float(price[k]) * float(np.exp(displacement)))
        cols["vault_unwound"][k] = unwound
        cols["market_price"][k] = price[k]
        cols["oracle_price"][k] = oracle
        cols["displacement"][k] = displacement
        cols["liquidated_notional"][k] = _usdc(abs(flow))
        cols["insurance_fund"][k] = _usdc(e.ledger.balance("USDC", "insurance:global"))
        cols["vault_equity"][k] = _usdc(e.equity(vault))
        _ratios(e, cols, k)
        if progress:
            progress(k + 1, n)
    totals["bad_debt"] = -min(e.ledger.balance("USDC", "socialised_loss"), 0)
    ledger_totals = e.ledger.totals("USDC")
    if sum(ledger_totals.values()) != 0:
        raise AssertionError("value was not conserved")
    state_hash = e.state_hash()
    replay_hash = replay(node.journal).state_hash() if verify_replay else None
    node.close()
    liq_notional = sum(x["notional"] for x in liquidations)
    summary = {
        "name": name,
        "observations": int(n),
        "start": int(ts_ns[0]),
        "end": int(ts_ns[-1]),
        "first_price": float(price[0]),
        "low": float(price.min()),
        "drawdown": float(1 - price.min() / price[0]),
        "accounts": len(traders),
        "events": e.seq,
        **counts,
        "liquidated_notional_usdc": liq_notional,
        "insurance_fund_start_usdc": _usdc(fund0),
        "insurance_fund_end_usdc": _usdc(e.ledger.balance("USDC", "insurance:global")),
        "vault_equity_end_usdc": _usdc(e.equity(vault)),
        "value_conserved": True,
        "state_hash": state_hash,
        "replay_identical": None if replay_hash is None else replay_hash == state_hash,
        "population": population.to_dict(),
        "liquidity": liquidity.to_dict(),
        "maker": MAKER,
    }
    return ReplayResult(name, cols, liquidations, {k: _usdc(v) for k, v in totals.items()}, summary, state_hash, replay_hash)


def _unwind_vault(node: Node, instr, vault: int, ts: int, price: float) -> float:
    """The backstop vault sells what it took over into the book (to the maker) at the impacted price.

    This is how liquidations reach the market in the lab: the liquidation flow has already moved
    the displacement, and the vault's unwind fills at the price after that impact, so the vault
    earns the penalty and pays the slippage. Returns the unwound notional (USDC).
    """
    e = node.engine
    lots = e.position(vault, instr.symbol)[0]
    if lots == 0:
        return 0.0
    tick = instr.tick_size
    px = max((Decimal(repr(price)) / tick).to_integral_value() * tick, tick)
    size = instr.size(abs(lots))
    buyer, seller = (MAKER, e.subs[vault].id) if lots > 0 else (e.subs[vault].id, MAKER)
    outcome = node.submit_batch([ev.Fill(ts=ts, instrument=instr.symbol, buyer=str(buyer), seller=str(seller), price=str(px), size=str(size))])[0]
    return float(size * px) if outcome.accepted else 0.0


def _submit(node: Node, events: list, *, strict: bool) -> list[dict]:
    effects: list[dict] = []
    for o in node.submit_batch(events):
        if o.error is not None:
            if strict:
                raise o.error
            continue
        effects.extend(o.effects)
    return effects


def _ratios(e, cols: dict, k: int) -> None:
    """Margin-ratio (maintenance / equity) quantiles over traders with positions."""
    n = len(e.subs)
    mm = e.sub_mm[:n]
    active = (mm > 0) & ~e.is_system[:n]
    if not active.any():
        return
    equity = (e.ledger.sub_cash[:n] + e.sub_value[:n] - e.sub_cost[:n])[active].astype(np.float64)
    ratio = np.where(equity > 0, mm[active] / np.maximum(equity, 1.0), 2.0)
    ratio = np.minimum(ratio, 2.0)
    cols["ratio_p50"][k], cols["ratio_p90"][k], cols["ratio_p99"][k] = np.percentile(ratio, [50, 90, 99])
    cols["in_breach"][k] = float((ratio >= 1.0).sum())
