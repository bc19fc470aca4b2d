"""Replay a price path (real history or synthetic) through the engine with a population of traders.

:func:`run_replay` builds a venue (genesis, one linear perpetual per market path, a seeded
insurance fund), opens a :mod:`population <ramparts.lab.population>` at the first prices, then
walks the path: each observation becomes an ``OraclePrice`` per market (the market path shifted by
the :mod:`liquidity model <ramparts.lab.liquidity>`'s displacement of that market) and a ``Tick``
that runs the waterfall; funding is paid every interval. When the venue liquidates against the
book (``pricing: "order_book"``), each observation also posts a synthetic ``BookSnapshot`` per
market (:func:`synthetic_book`) backed by the maker ``maker/main``. :class:`OracleFaults` injects an oracle
outage (no updates for a window while the waterfall keeps running on the stale mark) or latency. Everything goes through a journaled
:class:`~ramparts.engine.node.Node`, so a run can be replayed and its state hash checked.

The insurance fund is seeded once the population's positions are open, sized against their open
interest (``VenueSpec.fund``, :mod:`ramparts.lab.fund`). The result holds a per-step time series
(prices, insurance fund, vault equity, accounts in breach, margin-ratio quantiles, liquidations),
per-layer totals and the loss accounting (who bore the loss beyond the bankrupt accounts' equity:
the fund, the backstop vault, ADL counterparties, socialised; :func:`_loss_accounting`);
:mod:`ramparts.lab.report` turns it into HTML, JSON and Parquet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from ramparts.domain.accounts import SubAccountId
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL
from ramparts.journal import open_journal
from ramparts.lab.book import Book, open_book, replay_instruments
from ramparts.lab.crowd import MAKER_CAP_USD, Crowd, CrowdSpec, generate_crowd
from ramparts.lab.fund import FundRule, size_fund
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import MAKER, Market, PopulationSpec, generate_population, opening_events
from ramparts.oracle.gates import GATES

SYMBOL = "BTC-PERP"
#: The per-layer totals of a run (``ReplayResult.totals``, USDC): penalties collected, the fund's gross
#: draws, the backstop vault's loss (its equity change, negative when it gained), the ADL notional and
#: what the ADL counterparties gave up against the mark, socialised loss (charged to others and
#: unrecovered) and ``bad_debt``, the sum of who bore the loss beyond the bankrupt accounts' equity
#: (see :func:`run_replay`'s loss accounting).
LAYERS = ("penalty_to_liquidators", "penalty_to_insurance", "insurance_fund_draws", "backstop_vault_loss", "adl_notional",
          "adl_counterparty_loss", "socialised_loss", "socialised_unrecovered", "bad_debt")
#: Who bears bad debt (the keys of the summary's ``bad_debt_by_bearer_usdc``).
BEARERS = ("insurance_fund", "backstop_vault", "adl_counterparties", "socialised")


#: Circuit breakers ``ramparts replay --breakers`` arms: a 10 % move of the BTC index within an hour
#: pauses risk-increasing fills until an hour of calm; a global insurance fund below 10 % of what it
#: started with pauses withdrawals until a risk officer resets it. ``threshold_of_fund`` is the lab's
#: own key: :func:`run_replay` turns it into the engine's ``threshold`` (base units) once the fund is seeded.
DEFAULT_BREAKERS = [
    {"name": "BTC-PERP/move-10pct-1h", "trigger": "price_move", "instrument": "BTC-PERP", "move_ppm": 100_000,
     "window_ns": 3600 * 10**9, "cooldown_ns": 3600 * 10**9, "pauses": ["risk_increasing_fill"]},
    {"name": "fund-below-10pct", "trigger": "insurance_low", "threshold_of_fund": 0.1, "pauses": ["withdrawal"], "auto_reset": False},
]


@dataclass
class VenueSpec:
    """The venue under test: margin tiers, waterfall parameters, the fund's starting balance.

    ``tiers`` apply to every market (``[[notional_floor, initial_rate, maintenance_rate], ...]``);
    ``liquidation`` holds :class:`~ramparts.liquidation.config.LiquidationConfig` overrides.
    ``fund`` (a :class:`~ramparts.lab.fund.FundRule` or its text: ``"auto"``, ``"5%oi"``,
    ``"250000"``) sizes the insurance fund at the open against the run's open interest, from the
    published figures of the venue profile ``name`` (:func:`~ramparts.lab.fund.size_fund`); without
    it the fund is ``insurance_fund`` USDC.
    """

    tiers: list = field(default_factory=lambda: [list(t) for t in BTC_TIERS])
    liquidation: dict = field(default_factory=lambda: {"cooldown_ns": 60 * 10**9})
    insurance_fund: Decimal = Decimal("250000")
    funding_interval_s: int = 8 * 3600
    breakers: list | None = None  #: circuit-breaker rules (``ramparts.oracle.breaker.BreakerRule`` dicts)
    fund: FundRule | str | None = None  #: sizes the fund at the open (overrides ``insurance_fund``)
    name: str = "ramparts"  #: the venue profile this stands for (whose published fund ``auto`` uses)
    #: how much of the liquidity displacement of the venue's own book reaches its mark (0: an index of other
    #: venues' prices, 1: the venue's own book; :mod:`ramparts.lab.liquidity`)
    index_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.fund is not None:
            self.fund = FundRule.parse(self.fund)
        if not (isinstance(self.index_weight, (int, float)) and 0 <= self.index_weight <= 1):
            raise InvalidInput("index_weight", f"must lie in [0, 1], got {self.index_weight!r}")

    def to_dict(self) -> dict:
        return {"tiers": self.tiers, "liquidation": self.liquidation, "insurance_fund": str(self.insurance_fund),
                "funding_interval_s": self.funding_interval_s, "breakers": self.breakers,
                "fund": None if self.fund is None else str(self.fund), "name": self.name, "index_weight": self.index_weight}


@dataclass(frozen=True)
class OracleFaults:
    """Oracle failures injected into a replay (observation indices).

    * ``outage_start``/``outage_steps``: no oracle update reaches the engine for that many
      observations; the waterfall keeps running on the last (stale) mark, then the price jumps
      when the feed returns;
    * ``latency_steps``: the oracle shows the market price of ``latency_steps`` observations ago.
    * ``sources``: 0 publishes one trusted ``OraclePrice``; ``n ≥ 2`` publishes ``OracleQuotes``
      from ``n`` sources through the engine's aggregator (majority needed), so the oracle **gates**
      act: during an outage only the ``failing_sources`` stop (default all but one); after
      ``heartbeat_steps`` silent observations the reading is *stale* (funding, withdrawals and new
      risk pause), after twice that the silent sources are dropped and too few remain (everything
      pauses, liquidations included) until the feed returns. The other gates: confidence ≤ 2 %, the
      mark within 3 % of the new index, the index within 10 % of its TWAP over four observations
      (Drift's rule: a crash faster than that pauses liquidations, not margin checks).
    * ``glitch_start``/``glitch_steps``: one source quotes half the price (rejected as an outlier);
    * ``wide_conf_start``/``wide_conf_steps``: every source reports a 5 % confidence interval
      (the confidence gate pauses funding, withdrawals and new risk).
    """

    outage_start: int = 0
    outage_steps: int = 0
    latency_steps: int = 0
    sources: int = 0
    failing_sources: int | None = None
    heartbeat_steps: int = 2
    glitch_start: int = 0
    glitch_steps: int = 0
    wide_conf_start: int = 0
    wide_conf_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("outage_start", "outage_steps", "latency_steps", "sources", "heartbeat_steps", "glitch_start", "glitch_steps",
                     "wide_conf_start", "wide_conf_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidInput(f"oracle.{name}", f"must be a non-negative int, got {v!r}")
        if self.sources == 1 or self.sources > 16:
            raise InvalidInput("oracle.sources", f"0 (a single trusted feed) or 2 to 16 sources, got {self.sources}")
        if self.heartbeat_steps < 1:
            raise InvalidInput("oracle.heartbeat_steps", "must be at least 1")
        if self.failing_sources is not None and not (isinstance(self.failing_sources, int) and 0 <= self.failing_sources <= self.sources):
            raise InvalidInput("oracle.failing_sources", f"must lie in [0, sources], got {self.failing_sources!r}")

    @property
    def failing(self) -> int:
        return self.sources - 1 if self.failing_sources is None else self.failing_sources

    def live(self, k: int) -> bool:
        """Whether the oracle publishes at observation ``k``."""
        return not (self.outage_steps and self.outage_start <= k < self.outage_start + self.outage_steps)

    def to_dict(self) -> dict:
        return {"outage_start": self.outage_start, "outage_steps": self.outage_steps, "latency_steps": self.latency_steps,
                "sources": self.sources, "failing_sources": self.failing_sources, "heartbeat_steps": self.heartbeat_steps,
                "glitch_start": self.glitch_start, "glitch_steps": self.glitch_steps, "wide_conf_start": self.wide_conf_start,
                "wide_conf_steps": self.wide_conf_steps}

    def glitching(self, k: int) -> bool:
        return bool(self.glitch_steps) and self.glitch_start <= k < self.glitch_start + self.glitch_steps

    def wide(self, k: int) -> bool:
        return bool(self.wide_conf_steps) and self.wide_conf_start <= k < self.wide_conf_start + self.wide_conf_steps


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
    #: one row per ADL fill: time, market, the bankrupt sub-account, the counterparty, its position's notional,
    #: unrealised PnL and its account's equity before the fill (USDC), and the fill's notional
    deleverages: list[dict] = field(default_factory=list)


def _usdc(units: int) -> float:
    return units / 1e6


#: Levels a side of the synthetic book of an order-book replay.
BOOK_LEVELS = 20


def synthetic_book(price: float, sigma: float, liquidity: LiquidityModel, instr, levels: int = BOOK_LEVELS) -> tuple[list, list]:
    """A book around ``price`` whose depth follows the square-root impact model of ``liquidity``:
    ``impact = k·σ·sqrt(notional / depth)`` inverted, the notional resting within a relative distance
    ``x`` of the price is ``depth × (x / kσ)²``. Level ``j`` (1..``levels``) sits at ``x_j = j·kσ/10``
    (the tenth at one k·σ), on the tick grid (bids rounded down, asks up, at least one tick apart) and
    holds ``depth × (2j − 1)/100`` of notional, rounded down to the size step (empty levels are left
    out): ``4 × depth`` a side over 20 levels. Returns ``(bids, asks)`` as ``[[price, size], ...]``
    decimal strings, best first.

    Under the power law (``liquidity.law == "power"``) the levels sit every 0.1 % (to 2 %) and level ``j`` holds
    ``depth_1% × ((j/10)^(1/γ) − ((j−1)/10)^(1/γ))``: the published depth within 1 % of mid at the tenth level."""
    power = liquidity.law == "power"
    ks = 0.01 if power else (liquidity.k or 1.0) * max(sigma, 1e-4)  # k = 0 (no impact) still spaces the levels by σ
    depth = liquidity.depth_for(instr.symbol)
    tick, step = instr.tick_size, instr.size_step
    p = Decimal(repr(price))
    bids: list = []
    asks: list = []
    for j in range(1, levels + 1):
        x = Decimal(repr(j * ks / 10))
        share = ((j / 10) ** (1 / liquidity.gamma) - ((j - 1) / 10) ** (1 / liquidity.gamma)) if power else (2 * j - 1) / 100
        size = (Decimal(repr(depth * share)) / p / step).to_integral_value(rounding="ROUND_FLOOR") * step
        if size <= 0:
            continue
        bid = (p * (1 - x) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        ask = (p * (1 + x) / tick).to_integral_value(rounding="ROUND_CEILING") * tick
        if bids:
            bid = min(bid, Decimal(bids[-1][0]) - tick)
            ask = max(ask, Decimal(asks[-1][0]) + tick)
        if bid > 0:
            bids.append([str(bid), str(size)])
        asks.append([str(ask), str(size)])
    return bids, asks


def _paths(ts_ns, price) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    paths = {SYMBOL: price} if not isinstance(price, Mapping) else dict(price)
    if not paths:
        raise InvalidInput("path", "needs at least one market")
    out = {}
    for sym, p in paths.items():
        if not isinstance(sym, str) or not sym.endswith("-PERP") or len(sym) < 6:
            raise InvalidInput("path", f"market names are <UNDERLYING>-PERP, got {sym!r}")
        p = np.asarray(p, dtype=np.float64)
        if ts_ns.shape != p.shape or ts_ns.size < 2:
            raise InvalidInput("path", f"{sym}: needs at least two observations with one time each")
        if not np.all(np.isfinite(p)) or np.any(p <= 0):
            raise InvalidInput("path", f"{sym}: prices must be finite and positive")
        out[sym] = p
    if np.any(np.diff(ts_ns) < 0):
        raise InvalidInput("path", "times must not go backwards")
    return ts_ns, out


def run_replay(
    ts_ns: np.ndarray,
    price: np.ndarray | Mapping[str, np.ndarray],
    *,
    name: str = "replay",
    population: PopulationSpec | CrowdSpec | Book | None = None,
    liquidity: LiquidityModel | None = None,
    venue: VenueSpec | None = None,
    oracle: OracleFaults | None = None,
    journal_url: str = "sqlite://:memory:",
    verify_replay: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Run a price path through the engine with a population of traders.

    ``price`` is one array (quote per BTC, the ``BTC-PERP`` market) or a mapping
    ``{"BTC-PERP": array, "ETH-PERP": array, ...}`` of paths on the common times ``ts_ns``; the
    first market is the primary one of the series and the report. Each market has its own
    liquidity displacement; the insurance fund is global. A :class:`~ramparts.lab.book.Book` is
    checked against the markets before anything is journaled, and each market it marks is rebased
    to its mark (:mod:`ramparts.lab.book`).
    """
    ts_ns, paths = _paths(ts_ns, price)
    population = population or PopulationSpec()
    liquidity = liquidity or LiquidityModel()
    venue = venue or VenueSpec()
    oracle = oracle or OracleFaults()
    symbols = list(paths)
    primary = symbols[0]
    rebased: dict = {}
    if isinstance(population, Book):
        check_population(population, paths, venue)
        paths, rebased = population.rebase(paths)

    node = Node(open_journal(journal_url, durability="normal"))
    t0 = int(ts_ns[0])
    p0 = {sym: Decimal(f"{paths[sym][0]:.1f}") for sym in symbols}
    if isinstance(population, Book):  # a marked market opens at the book's own mark, exactly
        p0.update({m.instrument: m.price for m in population.marks})
    books = venue.liquidation.get("pricing") == "order_book"  # the venue liquidates against a (synthetic) book
    liq = dict(venue.liquidation)
    if books:
        liq.setdefault("book_account", MAKER)
    setup = [genesis(ts=t0, **liq)]
    setup += _listings(symbols, venue, t0)
    setup += [ev.OraclePrice(ts=t0, instrument=sym, price=str(p0[sym])) for sym in symbols]
    step_ns = int(np.median(np.diff(ts_ns))) or 1
    names = [f"src{i}" for i in range(oracle.sources)]
    if oracle.sources:
        agg = {"sources": names, "max_age_ns": 2 * oracle.heartbeat_steps * step_ns, "min_sources": oracle.sources // 2 + 1,
               "outlier": "relative", "max_deviation_ppm": 20_000}
        policy = {"min_sources": oracle.sources // 2 + 1, "max_staleness_ns": oracle.heartbeat_steps * step_ns, "max_conf_ppm": 20_000,
                  "max_mark_divergence_ppm": 30_000, "max_twap_divergence_ppm": 100_000}
        twap = {"window_ns": 4 * step_ns}
        setup += [ev.ParameterChange(ts=t0, target=f"instrument:{sym}", key="oracle", value={"aggregator": agg, "policy": policy, "twap": twap})
                  for sym in symbols]
    _submit(node, setup, strict=True)
    e = node.engine
    instrs = {sym: e.instrument(sym) for sym in symbols}
    max_lev = min(1e6 / i.schedule.tiers[0].initial_rate_ppm for i in instrs.values())
    markets = [Market(sym, float(p0[sym]), instrs[sym].size_step) for sym in symbols]
    crowd: Crowd | None = None
    crowd_facts: dict | None = None
    book_facts: dict | None = None
    if isinstance(population, Book):
        # every position opened at its entry price against the maker; refusals reported (ramparts.lab.book)
        book_facts = {**open_book(node, population, t0, MAKER, maker_cap_usd=MAKER_CAP_USD), "rebased": rebased}
        traders = list(population.subaccounts)
        open_interest = _open_interest(e)
        book_facts["open_interest_usdc"] = _usdc(open_interest)
    elif isinstance(population, CrowdSpec):
        # a crowd opens over its warm-up (Crowd.step); the fund is sized against the open interest it builds
        def im_rate(notional_usd: float) -> float:  # the strictest listed market's initial-margin rate at a notional
            units = min(max(int(notional_usd * 10**6), 1), MAX_NOTIONAL)  # beyond the engine's limit: the top tier's rate
            return max(i.schedule.initial_margin(units) for i in instrs.values()) / units

        traders, crowd_facts = generate_crowd(population, markets, max_lev, im_rate)
        target = crowd_facts["open_interest_target_usd"]
        crowd = Crowd(population, traders, markets, t0, max_lev, collateral_scale=crowd_facts["open_interest_scale"]["long"],
                      im_rate=im_rate, max_notional_usd=None if target is None else population.max_account_share * target)
        _submit(node, [ev.OpenSubAccount(ts=t0, subaccount=MAKER),
                       *(ev.Deposit(ts=t0, subaccount=MAKER, asset="USDC", amount=str(amount))
                         for amount in crowd.maker_deposits({sym: float(p0[sym]) for sym in symbols}))], strict=True)
        open_interest = int(crowd_facts["open_interest_usd"] * 10**6)
    else:
        traders = generate_population(population, markets, max_lev)
        _submit(node, opening_events(traders, p0, t0, population.maker_collateral_multiple), strict=False)
        # the fund is seeded once the positions are open, sized against their open interest (one side)
        open_interest = _open_interest(e)
    sizing = size_fund(venue.fund if venue.fund is not None else venue.insurance_fund, venue=venue.name, when=t0,
                       open_interest_usdc=Decimal(open_interest) / 10**6)
    if sizing.amount_usdc > 0:
        _submit(node, [ev.FundInsurance(ts=t0, amount=str(sizing.amount_usdc))], strict=True)
    if venue.breakers:  # armed once the fund is known (a rule may be relative to it)
        _submit(node, [ev.ParameterChange(ts=t0, target="breakers", key="rules", value=_breaker_rules(venue.breakers, sizing.amount_usdc))],
                strict=True)
    fund0 = e.ledger.balance("USDC", "insurance:global")
    funds0 = e.ledger.totals("USDC")["insurance"]  # every insurance fund, global and per market
    vault = e.backstop
    vault0 = e.equity(vault)
    im_rate, collateral_rate = _opening_margin(e) if crowd is None else (None, None)  # a crowd's: once warmed up

    n = ts_ns.size
    cols = {k: np.zeros(n) for k in ("market_price", "oracle_price", "insurance_fund", "vault_equity", "in_breach",
                                      "ratio_p50", "ratio_p90", "ratio_p99", "liquidated_notional", "displacement", "vault_unwound",
                                      "bankrupt")}
    for sym in symbols[1:]:
        cols[f"market_price:{sym}"] = np.zeros(n)
        cols[f"oracle_price:{sym}"] = np.zeros(n)
    cols["oracle_live"] = np.zeros(n)
    cols["oracle_valid"] = np.ones(n)
    cols["liquidation_blocked"] = np.zeros(n)
    for g in GATES:
        cols[f"gate_{g}"] = np.zeros(n)
    cols["outliers_rejected"] = np.zeros(n)
    cols["breakers_tripped"] = np.zeros(n)
    defence_counts = {"breaker_trips": 0, "breaker_resets": 0, "funding_ticks_blocked": 0}
    cols["ts_ns"] = ts_ns.copy()
    totals = dict.fromkeys(LAYERS, 0)
    counts = {"margin_calls": 0, "liquidation_steps": 0, "bankruptcies": 0, "deleverages": 0}
    liquidations: list[dict] = []
    deleverages: list[dict] = []
    deficit = 0  # losses beyond the bankrupt accounts' own collateral at the mark (base units)
    # the rest of the loss accounting (base units): fills below the bankruptcy price the fund paid
    # (order book), keepers' bonuses the fund paid (insolvent auctions), socialised loss charged to
    # others, margin the vault kept (backstop takeovers), rewards the vault took as the liquidator
    book_paid = keeper_bonus = charged = vault_margin = to_vault = 0
    vault_id = e.subs.name(vault)
    displacement = dict.fromkeys(symbols, 0.0)
    shown = {sym: float(p0[sym]) for sym in symbols}
    last_funding = t0
    log_ret = {sym: np.diff(np.log(p), prepend=np.log(p[0])) for sym, p in paths.items()}
    for k in range(n):
        t = int(ts_ns[k])
        live = oracle.live(k)
        crowd_flow: dict[str, float] = {}
        if crowd is not None:  # openings, top-ups, de-risking and dip buyers due now, at the prices the venue shows
            pre, crowd_flow = crowd.step(k, t, e, {sym: Decimal(f"{shown[sym]:.1f}") for sym in symbols})
            if pre:  # a fill the engine refuses (initial margin) is counted, not hidden
                outcomes = node.submit_batch(pre)
                crowd.stats["fills_refused"] += sum(1 for x, o in zip(pre, outcomes, strict=True)
                                                    if o.error is not None and isinstance(x, ev.Fill))
            if im_rate is None and t - t0 >= population.warmup_s * 1e9:
                im_rate, collateral_rate = _opening_margin(e)
        batch: list[ev._Event] = []
        for sym in symbols:
            if k:
                displacement[sym] = liquidity.decay(displacement[sym], (t - int(ts_ns[k - 1])) / 1e9)
            seen = paths[sym][max(k - oracle.latency_steps, 0)]
            if oracle.sources:
                # every source quotes the impacted price (±1 bp apart); in an outage only the failing ones fall silent
                px = float(seen) * float(np.exp(venue.index_weight * displacement[sym]))
                up = names if live else names[oracle.failing :]
                if up:
                    shown[sym] = px
                    conf = 0.05 if oracle.wide(k) else 0.001

                    def quoted(i: int, px: float = px, glitch: bool = oracle.glitching(k)) -> float:
                        return px * (0.5 if i == 0 and glitch else 1 + (i - (oracle.sources - 1) / 2) * 1e-4)

                    batch.append(ev.OracleQuotes(ts=t, instrument=sym, quotes=[
                        {"source": nm, "price": f"{quoted(i):.2f}", "conf": f"{quoted(i) * conf:.2f}", "ts_ns": t}
                        for i, nm in enumerate(names) if nm in up]))
            elif live:  # the mark moves with the venue's own book only as much as its index construction lets it
                shown[sym] = float(seen) * float(np.exp(venue.index_weight * displacement[sym]))
                batch.append(ev.OraclePrice(ts=t, instrument=sym, price=f"{shown[sym]:.2f}"))
        if books:  # the book rests around the market price after the liquidations' impact (the oracle's, without faults)
            for sym in symbols:
                sigma = float(np.std(log_ret[sym][max(0, k - 48) : k + 1])) if k > 2 else 0.01
                bids, asks = synthetic_book(float(paths[sym][k]) * float(np.exp(displacement[sym])), sigma, liquidity, instrs[sym])
                batch.append(ev.BookSnapshot(ts=t, instrument=sym, bids=bids, asks=asks))
        batch.append(ev.Tick(ts=t))
        flow = dict.fromkeys(symbols, 0)
        effects = _submit(node, batch, strict=True)
        marks = {sym: e.markets[instrs[sym].index].mark for sym in symbols}  # the marks this tick's waterfall used
        if t - last_funding >= venue.funding_interval_s * 10**9:
            outcomes = node.submit_batch([ev.FundingTick(ts=t, instrument=sym) for sym in symbols])
            defence_counts["funding_ticks_blocked"] += sum(1 for o in outcomes if not o.accepted)
            if all(o.accepted for o in outcomes):
                last_funding = t
        for f in effects:
            kind = f["kind"]
            if kind == "BreakerTripped":
                defence_counts["breaker_trips"] += 1
            elif kind == "BreakerReset":
                defence_counts["breaker_resets"] += 1
            elif kind == "MarginCall":
                counts["margin_calls"] += 1
            elif kind == "LiquidationStep":
                counts["liquidation_steps"] += 1
                totals["penalty_to_liquidators"] += f["to_liquidator"]
                totals["penalty_to_insurance"] += f["to_insurance"]
                book_paid += f.get("insurance_paid", 0)
                if f["liquidator"] == vault_id:  # the vault took the position and the liquidator's reward (oracle fee, auction)
                    to_vault += f["to_liquidator"]
                sym = f["instrument"]
                flow[sym] += f["notional"] * (1 if f["lots"] > 0 else -1)
                liquidations.append({"ts_ns": t, "instrument": sym, "price": shown[sym], "notional": _usdc(f["notional"]),
                                     "side": "sell" if f["lots"] < 0 else "buy", "subaccount": f["subaccount"]})
            elif kind == "InsuranceFundDraw":
                totals["insurance_fund_draws"] += f["amount"]
            elif kind == "Deleverage":
                counts["deleverages"] += 1
                deleverages.append({"ts_ns": t, "instrument": f["instrument"], "subaccount": f["subaccount"],
                                    "counterparty": f["counterparty"], "notional": _usdc(abs(f["quote"])),
                                    "counterparty_notional": _usdc(f["counterparty_notional"]),
                                    "counterparty_pnl": _usdc(f["counterparty_pnl"]),
                                    "counterparty_equity": _usdc(f["counterparty_equity"])})
                totals["adl_notional"] += abs(f["quote"])
                # the counterparty paid ``quote`` for ``lots`` worth lots × mark: what it gave up against the mark
                totals["adl_counterparty_loss"] += f["quote"] - f["lots"] * marks[f["instrument"]]
            elif kind in ("SocialisedLoss", "SocialisedFunding", "Dilution"):
                totals["socialised_loss"] += f["loss"]
                charged += f["charged"]
            elif kind == "BadDebt":  # a cash deficit with no position left, beyond the fund
                totals["socialised_loss"] += f["amount"]
            elif kind == "Bankruptcy":
                counts["bankruptcies"] += 1
                cols["bankrupt"][k] += 1  # bankruptcies at this step (the report marks them on the price)
                deficit += f["deficit"]
            elif kind == "AuctionInsolventFill":
                keeper_bonus += f["to_liquidator"]
            elif kind == "BackstopLiquidation":
                vault_margin += f["margin_to_vault"]
        if crowd is not None:  # the crowd's own trades hit the book like liquidations; then it reads its margin
            for sym, usd in crowd_flow.items():
                flow[sym] += int(usd * 10**6)
            crowd.observe(t, e)
            crowd.rearm()
        unwound = 0.0
        for sym in symbols:
            sigma = float(np.std(log_ret[sym][max(0, k - 48) : k + 1])) if k > 2 else 0.01
            if flow[sym]:
                displacement[sym] = liquidity.clamp(displacement[sym] + liquidity.impact(_usdc(flow[sym]), sigma, sym))
            unwound += _unwind_vault(node, instrs[sym], vault, t, float(paths[sym][k]) * float(np.exp(displacement[sym])))
        cols["vault_unwound"][k] = unwound
        cols["market_price"][k] = paths[primary][k]
        cols["oracle_price"][k] = shown[primary]
        for sym in symbols[1:]:
            cols[f"market_price:{sym}"][k] = paths[sym][k]
            cols[f"oracle_price:{sym}"][k] = shown[sym]
        cols["oracle_live"][k] = float(live)
        d = e.defences.markets.get(primary)
        if d is not None and d.reading is not None:
            cols["oracle_valid"][k] = float(d.reading.valid)
            # every gate that tripped during the step: at the quotes, or when the tick re-read them
            for f in effects:
                if f["kind"] == "OracleReading" and f["instrument"] == primary:
                    for g in f["gates"]:
                        cols[f"gate_{g}"][k] = 1.0
                    cols["outliers_rejected"][k] = max(cols["outliers_rejected"][k], sum(1 for r in f["rejected"].values() if r == "outlier"))
        cols["liquidation_blocked"][k] = float(e.defences.blocked(primary, "liquidation") is not None)
        if e.defences.breaker_state is not None:
            cols["breakers_tripped"][k] = float(sum(1 for r in e.defences.breakers.rules if e.defences.breaker_state[r.name].tripped))
        cols["displacement"][k] = displacement[primary]
        cols["liquidated_notional"][k] = _usdc(sum(abs(v) for v in flow.values()))
        cols["insurance_fund"][k] = _usdc(e.ledger.balance("USDC", "insurance:global"))
        cols["vault_equity"][k] = _usdc(e.equity(vault))
        _ratios(e, cols, k)
        if progress:
            progress(k + 1, n)
    if im_rate is None:  # a crowd still warming up when the path ended
        im_rate, collateral_rate = _opening_margin(e)
    loss = _loss_accounting(e, totals, deficit=deficit, book_paid=book_paid, keeper_bonus=keeper_bonus, charged=charged,
                            funds0=funds0, vault0=vault0, vault_income=to_vault + vault_margin)
    ledger_totals = e.ledger.totals("USDC")
    if sum(ledger_totals.values()) != 0:
        raise AssertionError("value was not conserved")
    state_hash = e.state_hash()
    replay_hash = replay(node.journal).state_hash() if verify_replay else None
    node.close()
    liq_notional = sum(x["notional"] for x in liquidations)
    pp = paths[primary]
    summary = {
        "name": name,
        "markets": symbols,
        "observations": int(n),
        "start": int(ts_ns[0]),
        "end": int(ts_ns[-1]),
        "first_price": float(pp[0]),
        "low": float(pp.min()),
        "drawdown": float(1 - pp.min() / pp[0]),
        "accounts": len(traders),
        "events": e.seq,
        **counts,
        "liquidated_notional_usdc": liq_notional,
        "initial_margin_rate_avg": im_rate,
        "collateral_to_notional_avg": collateral_rate,
        "open_interest_usdc": _usdc(open_interest),
        "fund": sizing.to_dict(),
        "bankruptcy_deficit_usdc": _usdc(deficit),
        "fills_below_bankruptcy_usdc": _usdc(book_paid),
        "loss_beyond_fund_usdc": _usdc(loss["beyond_fund"]),
        "loss_beyond_fund_and_vault_usdc": _usdc(totals["adl_counterparty_loss"] + totals["socialised_loss"]),
        "insurance_fund_start_usdc": _usdc(fund0),
        "insurance_fund_end_usdc": _usdc(e.ledger.balance("USDC", "insurance:global")),
        "insurance_fund_min_usdc": float(cols["insurance_fund"].min()),
        "insurance_fund_draws_usdc": _usdc(totals["insurance_fund_draws"]),
        "penalty_income_usdc": _usdc(totals["penalty_to_insurance"]),
        "vault_equity_start_usdc": _usdc(vault0),
        "vault_equity_end_usdc": _usdc(e.equity(vault)),
        "vault_loss_usdc": _usdc(totals["backstop_vault_loss"]),
        "vault_income_usdc": _usdc(to_vault + vault_margin),
        "penalty_to_vault_usdc": _usdc(to_vault),
        "penalty_to_keepers_usdc": _usdc(totals["penalty_to_liquidators"] - to_vault),
        "vault_margin_received_usdc": _usdc(vault_margin),
        "loss_beyond_equity_usdc": _usdc(loss["gross"]),
        "penalties_covering_usdc": _usdc(loss["covering"]),
        "adl_notional_usdc": _usdc(totals["adl_notional"]),
        "adl_counterparty_loss_usdc": _usdc(totals["adl_counterparty_loss"]),
        "socialised_loss_usdc": _usdc(totals["socialised_loss"]),
        "socialised_unrecovered_usdc": _usdc(totals["socialised_unrecovered"]),
        "bad_debt_usdc": _usdc(totals["bad_debt"]),
        "bad_debt_by_bearer_usdc": {k: _usdc(v) for k, v in loss["by_bearer"].items()},
        "loss_accounting": loss["check"],
        "value_conserved": True,
        "state_hash": state_hash,
        "replay_identical": None if replay_hash is None else replay_hash == state_hash,
        "population": population.to_dict(),
        **({"crowd": {**(crowd_facts or {}), **crowd.stats, "accounts_at_end": len(crowd.members)}} if crowd is not None else {}),
        **({"book": book_facts} if book_facts is not None else {}),
        "liquidity": liquidity.to_dict(),
        "venue": venue.to_dict(),
        "oracle_faults": oracle.to_dict(),
        **defence_counts,
        "steps_oracle_invalid": int((cols["oracle_valid"] == 0).sum()),
        "steps_liquidation_blocked": int(cols["liquidation_blocked"].sum()),
        "steps_gate_tripped": {g: int(cols[f"gate_{g}"].sum()) for g in GATES},
        "outlier_rejections": int(cols["outliers_rejected"].sum()),
        "maker": MAKER,
        **({"synthetic_book": {"levels_a_side": BOOK_LEVELS, "book_account": liq["book_account"]}} if books else {}),
    }
    return ReplayResult(name, cols, liquidations, {k: _usdc(v) for k, v in totals.items()}, summary, state_hash, replay_hash,
                        deleverages)


def _listings(symbols: list[str], venue: VenueSpec, ts: int) -> list[ev._Event]:
    """The replay's markets: one linear perpetual per path, on the venue's tiers."""
    return [perpetual(sym, sym[: -len("-PERP")], ts=ts, tiers=venue.tiers) for sym in symbols]


def check_population(population, price, venue: VenueSpec | None = None) -> None:
    """Refuse, before anything runs, a population the replay of ``price`` (one array or a mapping of markets, as
    :func:`run_replay` takes it) cannot open: a :class:`~ramparts.lab.book.Book` naming a market it does not list,
    a size off a market's step, collateral its venue does not take (:meth:`~ramparts.lab.book.Book.check`)."""
    if isinstance(population, Book):
        symbols = list(price) if isinstance(price, Mapping) else [SYMBOL]
        population.check(*replay_instruments(symbols, [genesis(ts=0), *_listings(symbols, venue or VenueSpec(), 0)]))


def _loss_accounting(e, totals: dict, *, deficit: int, book_paid: int, keeper_bonus: int, charged: int, funds0: int, vault0: int,
                     vault_income: int) -> dict:
    """Who bore the loss beyond the bankrupt accounts' equity (base units), from the ledger, checked against the effects.

    **Bad debt** is every loss beyond the liquidated accounts' own equity that the penalties did not
    cover::

        loss beyond equity = bankruptcy deficits at the mark + fills below the bankruptcy price the fund paid
                             + the backstop vault's gross loss (its loss before its income)
        penalties covering = penalties to the fund − keepers' bonuses the fund paid + the vault's income
        bad debt           = loss beyond equity − penalties covering

    The vault's loss is its equity change from the open to the end (cash and the positions it took
    over, marked at the last mark); its income is the liquidator's reward when it is the liquidator
    (oracle fee, auction discount) and the margin it kept from backstop takeovers. Penalties paid to
    keepers (``liquidator:*``) leave the venue and cover nothing. Negative bad debt is a surplus: the
    penalties exceeded the losses. By bearer (each negative when that layer gained)::

        fund                = its balance at the open − at the end (gross draws − penalty income)
        backstop vault      = its loss
        ADL counterparties  = Σ (price paid − mark) × lots of every ``Deleverage`` fill
        socialised          = charged to other accounts + left unrecovered (``socialised_loss``)

    They add up exactly when every deficit was paid by the fund, ADL or socialisation and the fund
    moved only by penalties and draws; ``check`` holds the two sides in base units and the identities.
    Loss beyond the fund = the vault's loss (if any) + ADL counterparties + socialised; beyond the fund
    and the vault (what other users or nobody bore) = ADL counterparties + socialised.
    """
    ledger = e.ledger
    unrecovered = -ledger.balance("USDC", "socialised_loss")
    fund_net = funds0 - ledger.totals("USDC")["insurance"]
    vault_loss = vault0 - e.equity(e.backstop)
    totals["backstop_vault_loss"] = vault_loss
    totals["socialised_unrecovered"] = unrecovered
    by_bearer = dict(zip(BEARERS, (fund_net, vault_loss, totals["adl_counterparty_loss"], charged + unrecovered), strict=True))
    gross = deficit + book_paid + vault_loss + vault_income
    covering = totals["penalty_to_insurance"] - keeper_bonus + vault_income
    total = gross - covering
    totals["bad_debt"] = sum(by_bearer.values())
    covered = totals["insurance_fund_draws"] - keeper_bonus + totals["adl_counterparty_loss"] + totals["socialised_loss"]
    check = {
        "bad_debt_units": total,
        "by_bearer_units": by_bearer,
        "adds_up": totals["bad_debt"] == total,
        # every deficit was paid by the fund, ADL counterparties or socialisation
        "deficits_covered": deficit + book_paid == covered,
        # the fund moved by penalties and draws only
        "fund_moved_by_penalties_and_draws": fund_net == totals["insurance_fund_draws"] - totals["penalty_to_insurance"],
        # what socialisation left unrecovered is the negative balance of socialised_loss
        "socialised_consistent": totals["socialised_loss"] == charged + unrecovered,
    }
    return {"by_bearer": by_bearer, "check": check, "gross": gross, "covering": covering,
            "beyond_fund": max(vault_loss, 0) + totals["adl_counterparty_loss"] + charged + unrecovered}


def _breaker_rules(rules: list, fund_usdc: Decimal) -> list:
    """``rules`` with each lab-only ``threshold_of_fund`` (a fraction of the fund at the start) turned
    into the engine's ``threshold`` (base units, rounded down)."""
    out = []
    for r in rules:
        if isinstance(r, Mapping) and "threshold_of_fund" in r:
            share = r["threshold_of_fund"]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise InvalidInput("breakers", f"threshold_of_fund must be a fraction in [0, 1], got {share!r}")
            r = {k: v for k, v in r.items() if k != "threshold_of_fund"}
            r["threshold"] = int(Decimal(repr(float(share))) * fund_usdc * 10**6)
        out.append(r)
    return out


def _open_interest(e) -> int:
    """Open interest at the mark, one side (Σ long notional over every account), base units."""
    b = e.book
    total = 0
    for instr in e.instruments:
        h = b.holders(instr.index)
        total += int(b.value[h][b.lots[h] > 0].sum())
    return total


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


def _opening_margin(e) -> tuple[float, float]:
    """Capital efficiency at the open: Σ initial margin / Σ notional, and Σ collateral / Σ notional,
    over the traders (the maker and the vault excluded)."""
    n = len(e.subs)
    maker = e.sub_index(MAKER) if e._sub_by_id.get(SubAccountId.parse(MAKER)) is not None else -1
    traders = ~e.is_system[:n]
    if maker >= 0:
        traders[maker] = False
    notional = 0
    for sub, instr in zip(e.book.sub[: e.book._next].tolist(), e.book.instr[: e.book._next].tolist(), strict=True):
        slot = e.book.slot(sub, instr)
        if slot is not None and traders[sub]:
            notional += abs(int(e.book.value[slot]))
    if not notional:
        return 0.0, 0.0
    return float(e.sub_im[:n][traders].sum()) / notional, float(e.ledger.sub_cash[:n][traders].sum()) / notional


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
    equity = e.equity_array()[active].astype(np.float64)
    ratio = np.where(equity > 0, mm[active] / np.maximum(equity, 1.0), 2.0)
    ratio = np.minimum(ratio, 2.0)
    cols["ratio_p50"][k], cols["ratio_p90"][k], cols["ratio_p99"][k] = np.percentile(ratio, [50, 90, 99])
    cols["in_breach"][k] = float((ratio >= 1.0).sum())
