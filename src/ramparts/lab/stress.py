"""Monte Carlo stress: synthetic black swans through the engine, and the distribution of bad debt.

This module owns ``ramparts stress``. A :class:`StressSpec` names a scenario family and how many
paths to draw; :func:`generate_cases` turns it into seeded :class:`StressCase` objects (price paths
plus the liquidity and oracle conditions of each), and :func:`run_stress` pushes every case through
the real engine with :func:`~ramparts.lab.replay.run_replay`, one row of outcomes per path.

Scenario families
=================

=================  ===============================================================================
``historical``     a named crash (default Black Thursday) with every log move magnified by a factor
                   drawn uniformly from ``shock_scale`` (:func:`~ramparts.lab.tails.scaled_historical_shock`)
``jump``           Merton jump diffusion: the diffusion σ of the hourly history, crash jumps with
                   intensity ``jump_per_day`` and log size ``N(jump_mean, jump_std²)``
``garch``          GARCH(1,1) with Student-t innovations fitted (``arch``) to hourly BTC history
                   (the fit is integrated, α + β = 1; it is projected to persistence 0.995 with
                   the sample variance, see :func:`~ramparts.lab.tails.fit_garch_t`)
``gpd``            a Gaussian body plus loss shocks drawn from a generalised-Pareto tail fitted to
                   the same history (peaks over the 95 % threshold)
``correlation``    two markets (BTC-PERP, ETH-PERP) correlated as in history until a random break,
                   after which the correlation falls to ``broken_correlation`` and ETH takes an
                   idiosyncratic fall drawn from ``relative_shock``; a ``pair_fraction`` of traders
                   hold long-ETH / short-BTC pairs, the position the break hurts
``oracle-outage``  a ``base`` path quoted by three sources, two of which fall silent for a random
                   window (``outage_steps``): the reading goes stale, the gates pause liquidation,
                   funding, withdrawals and new risk, then the price jumps when the feed returns
``oracle-latency`` a ``base`` path seen through an oracle ``latency_steps`` observations late
``liquidity``      a ``base`` path with the book's depth multiplied by a factor drawn from
                   ``depth_multiplier`` (liquidity evaporation: bigger impact, deeper cascades)
=================  ===============================================================================

Every model is fitted (:func:`fit_models`) to the shipped ``hourly/`` data Binance spot BTC and ETH
hourly candles (2017-2022) with scipy and arch; the fitted parameters are written into the report.
Each path's randomness comes from ``SeedSequence([seed, path])``, so a path does not depend on how
many others are drawn, nor on the order or the machine they run on.

Price path. The historical family walks the event's own path, made as ``ramparts replay`` makes it
(:func:`ramparts.lab.events.event_path`: the base series' bars refined from the finest finer series of
the same asset, an extreme no finer series confirms clipped and listed); the other families are
synthetic Monte Carlo paths, one observation every ``step_s``. :func:`path_provenance` is the record
(:class:`~ramparts.lab.paths.PathProvenance`) the summary carries as ``price_path`` and the report's
parameters and caveats state: bar size, method, and every unconfirmed wick.

Outcomes per path: liquidations, the insurance fund (its start, sized by the venue's fund rule
against the path's open interest; its lowest level, gross draws and penalty income), the bankruptcy
deficit (losses beyond the bankrupt accounts' own collateral), the backstop vault's loss, the ADL
counterparties' loss, socialised loss, the loss beyond the fund (what the vault, ADL and
socialisation had to carry), the bad debt split by who bore it, and whether the fund was exhausted
(its lowest level at or below ``exhausted_below`` of its start).

The population is the synthetic one (:class:`~ramparts.lab.population.PopulationSpec`) or a risk team's own
book (:class:`~ramparts.lab.book.Book`, ``--book``): every path opens the same book, each market rebased to
the book's mark where it gives one (a synthetic path starts at the last hourly price of the fitted history;
without a mark, each position carries its PnL from its entry price to that start), and each row counts the
positions the engine refused at the open (``book_positions_refused``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ramparts.errors import InvalidInput
from ramparts.lab.book import Book
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import BEARERS, OracleFaults, VenueSpec, run_replay

SCENARIOS = ("historical", "jump", "garch", "gpd", "correlation", "oracle-outage", "oracle-latency", "liquidity")
BASE_SCENARIOS = ("historical", "jump", "garch", "gpd")
HOURLY = {"BTC": "hourly/binance_spot_BTCUSDT_1h_2017-2022.csv.gz", "ETH": "hourly/binance_spot_ETHUSDT_1h_2017-2022.csv.gz"}


def _range(value, name: str, lo: float, hi: float | None = None) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInput(name, f"expected a (low, high) pair, got {value!r}") from None
    if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b and (hi is None or b <= hi)):
        raise InvalidInput(name, f"expected {lo} <= low <= high{'' if hi is None else f' <= {hi}'}, got ({a}, {b})")
    return a, b


@dataclass(frozen=True)
class StressSpec:
    """What to simulate (see the module docstring for the scenario families)."""

    scenario: str = "garch"
    n_paths: int = 40
    n_steps: int = 96  #: observations per path (one per ``step_s``)
    step_s: int = 3600
    seed: int = 1
    vol_scale: float = 1.0  #: multiplies every simulated log return (> 1: a stressed regime)
    base: str = "garch"  #: the path family under the oracle-* and liquidity scenarios
    event: str = "black-thursday-2020"
    shock_scale: tuple[float, float] = (1.0, 2.0)
    jump_per_day: float = 0.5
    jump_mean: float = -0.08
    jump_std: float = 0.05
    outage_steps: tuple[int, int] = (2, 12)
    latency_steps: tuple[int, int] = (1, 3)
    depth_multiplier: tuple[float, float] = (0.05, 0.5)
    broken_correlation: float = -0.2
    relative_shock: tuple[float, float] = (0.05, 0.30)
    pair_fraction: float = 0.3
    exhausted_below: float = 0.01

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise InvalidInput("scenario", f"unknown scenario {self.scenario!r} (one of {', '.join(SCENARIOS)})")
        if self.base not in BASE_SCENARIOS:
            raise InvalidInput("base", f"unknown base {self.base!r} (one of {', '.join(BASE_SCENARIOS)})")
        for name, lo, hi in (("n_paths", 1, 100_000), ("n_steps", 4, 1_000_000), ("step_s", 1, 86_400 * 7), ("seed", 0, 2**63 - 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise InvalidInput(name, f"expected an int in [{lo}, {hi}], got {v!r}")
        for name, lo, hi in (("vol_scale", 0.0, 20.0), ("jump_per_day", 0.0, 100.0), ("jump_std", 0.0, 2.0), ("jump_mean", -2.0, 2.0),
                             ("broken_correlation", -1.0, 1.0), ("pair_fraction", 0.0, 1.0), ("exhausted_below", 0.0, 1.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
                raise InvalidInput(name, f"expected a number in [{lo}, {hi}], got {v!r}")
        _range(self.shock_scale, "shock_scale", 0.0, 20.0)
        _range(self.outage_steps, "outage_steps", 1.0)
        _range(self.latency_steps, "latency_steps", 0.0)
        _range(self.depth_multiplier, "depth_multiplier", 1e-6, 1.0)
        _range(self.relative_shock, "relative_shock", 0.0, 0.95)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FittedModels:
    """The models fitted to hourly history (per-hour units)."""

    garch: dict
    gpd: dict
    sigma_hourly: float
    correlation: float
    eth_vol_ratio: float
    btc_price: float
    eth_price: float
    observations: int

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=2)
def fit_models(data_dir: str | None = None) -> FittedModels:
    """Fit GARCH(1,1)-t and a GPD loss tail to hourly BTC log returns; BTC/ETH correlation.

    Reads Binance spot BTCUSDT and ETHUSDT hourly candles 2017-2022 from the shipped data, or from
    ``data_dir`` laid out the same way (gaps forward-filled, so a gap contributes zero returns).
    Cached per process.
    """
    from ramparts.data import data_path
    from ramparts.lab.history import load_candles
    from ramparts.lab.tails import fit_garch_t, fit_gpd_tail

    def where(rel: str) -> Path:
        return Path(data_dir) / rel if data_dir else data_path(rel)

    btc = load_candles(where(HOURLY["BTC"]), gaps="forward_fill")
    eth = load_candles(where(HOURLY["ETH"]), gaps="forward_fill")
    common, ib, ie = np.intersect1d(btc.ts_ns, eth.ts_ns, return_indices=True)
    rb = np.diff(np.log(btc.close[ib]))
    re_ = np.diff(np.log(eth.close[ie]))
    g = fit_garch_t(rb, mean="zero", max_persistence=0.995)
    tail = fit_gpd_tail(rb, 0.95, "loss")
    return FittedModels(
        garch={"mu": g.mu, "omega": g.omega, "alpha": g.alpha, "beta": g.beta, "nu": g.nu},
        gpd={"xi": tail.xi, "scale": tail.scale, "threshold": tail.threshold, "n_exceed": tail.n_exceed, "n_obs": tail.n_obs},
        sigma_hourly=float(np.std(rb)),
        correlation=float(np.corrcoef(rb, re_)[0, 1]),
        eth_vol_ratio=float(np.std(re_) / np.std(rb)),
        btc_price=float(btc.close[ib][-1]),
        eth_price=float(eth.close[ie][-1]),
        observations=int(common.size),
    )


@dataclass
class StressCase:
    """One path of a stress run: prices per market, and the conditions it runs under."""

    index: int
    label: str
    ts_ns: np.ndarray
    prices: dict[str, np.ndarray]
    liquidity_multiplier: float = 1.0
    oracle: OracleFaults = field(default_factory=OracleFaults)
    pair_fraction: float = 0.0


def _seed(spec: StressSpec, i: int, salt: int = 0) -> int:
    return int(np.random.SeedSequence([spec.seed, i, salt]).generate_state(1, dtype=np.uint64)[0] % (2**63))


def _returns(spec: StressSpec, fits: FittedModels, family: str, i: int) -> np.ndarray:
    """Per-step log returns of one path of a base family (hourly models rescaled to ``step_s``)."""
    from ramparts.lab.tails import GarchTParams, GPDTail, garch_t_paths, gpd_shock_paths, jump_diffusion

    n = spec.n_steps - 1
    seed = _seed(spec, i)
    h = spec.step_s / 3600.0
    if family == "garch":
        r = garch_t_paths(n, 1, seed, params=GarchTParams(**fits.garch))[0] * math.sqrt(h)
    elif family == "gpd":
        tail = GPDTail(side="loss", **fits.gpd)
        r = gpd_shock_paths(tail, n, 1, seed, shock_prob=min(tail.exceed_prob * h, 1.0), body_sigma=fits.sigma_hourly * math.sqrt(h))[0]
    elif family == "jump":
        r = jump_diffusion(n, 1, seed, sigma=fits.sigma_hourly, lam=spec.jump_per_day / 24.0, jump_mean=spec.jump_mean,
                           jump_std=spec.jump_std, dt=h)[0]
    else:  # pragma: no cover - guarded by StressSpec
        raise InvalidInput("scenario", family)
    return r * spec.vol_scale


def _historical(spec: StressSpec, i: int) -> tuple[np.ndarray, np.ndarray]:
    from ramparts.lab.tails import scaled_historical_shock

    path = historical_path(spec.event)
    scale = float(np.random.default_rng(_seed(spec, i, 1)).uniform(*spec.shock_scale))
    return path.ts_ns, scaled_historical_shock(path.price, scale)


@lru_cache(maxsize=8)
def historical_path(event: str):
    """The historical window's path: :func:`ramparts.lab.events.event_path`'s default (the event's base series, each
    bar refined from the finest finer series of the same asset that covers it, unconfirmed wicks clipped), the same
    path ``ramparts replay`` walks. Cached per process (``calibrate`` replays it at every grid point)."""
    from ramparts.lab.events import event_path, resolve_event

    return event_path(resolve_event(event))


#: The synthetic families' models, in words (the path record of a synthetic run).
_MODEL_WORDS = {"garch": "Monte Carlo draws of a GARCH(1,1)-t fitted to hourly BTC (Binance spot 2017-2022)",
                "gpd": "Monte Carlo draws of a Gaussian body and GPD loss shocks fitted to hourly BTC (Binance spot 2017-2022)",
                "jump": "Monte Carlo draws of a Merton jump diffusion, σ fitted to hourly BTC (Binance spot 2017-2022)"}


def path_provenance(spec: StressSpec):
    """How the paths of ``spec`` are made (:class:`~ramparts.lab.paths.PathProvenance`): the historical family's event
    path (refined where a finer series ships, its unconfirmed wicks listed) with its moves magnified, or a synthetic
    record (the model, one observation every ``step_s``) for the Monte Carlo families."""
    from ramparts.lab.paths import synthetic_provenance

    fam = family(spec)
    if fam == "historical":
        prov = historical_path(spec.event).provenance
        lo, hi = spec.shock_scale
        return replace(prov, notes=(*prov.notes, f"every log move from the start × a factor drawn per path from U({lo:g}, {hi:g}) "
                                                 "(ramparts.lab.tails.scaled_historical_shock)"))
    extra = [f"log returns × {spec.vol_scale:g} (vol_scale)"] if spec.vol_scale != 1 else []
    if spec.scenario == "correlation":
        extra.append("ETH-PERP correlated with BTC-PERP as in the hourly history until a random break")
    return synthetic_provenance(_MODEL_WORDS[fam], spec.step_s * 10**9, spec.n_steps, notes=extra)


def _base_path(spec: StressSpec, fits: FittedModels, family: str, i: int, t0: int) -> tuple[np.ndarray, np.ndarray]:
    if family == "historical":
        return _historical(spec, i)
    from ramparts.lab.tails import prices_from_log_returns

    ts = t0 + np.arange(spec.n_steps, dtype=np.int64) * spec.step_s * 10**9
    return ts, prices_from_log_returns(fits.btc_price, _returns(spec, fits, family, i))


def generate_cases(spec: StressSpec, fits: FittedModels | None = None) -> list[StressCase]:
    """The seeded cases of ``spec`` (deterministic; path ``i`` depends only on ``(seed, i)``)."""
    return [generate_case(spec, i, fits) for i in range(spec.n_paths)]


def generate_case(spec: StressSpec, i: int, fits: FittedModels | None = None) -> StressCase:
    """Case ``i`` of ``spec``."""
    fits = fits or fit_models()
    t0 = 1_700_000_000 * 10**9
    rng = np.random.default_rng(_seed(spec, i, 2))
    if spec.scenario in BASE_SCENARIOS:
        ts, p = _base_path(spec, fits, spec.scenario, i, t0)
        return StressCase(i, spec.scenario, ts, {"BTC-PERP": p})
    if spec.scenario == "correlation":
        return _correlation_case(spec, fits, i, t0, rng)
    ts, p = _base_path(spec, fits, spec.base, i, t0)
    n = len(ts)
    if spec.scenario == "oracle-outage":
        lo, hi = (int(v) for v in spec.outage_steps)
        length = int(rng.integers(lo, hi + 1))
        start = int(rng.integers(1, max(n - length, 2)))
        return StressCase(i, f"{spec.base}+outage", ts, {"BTC-PERP": p},
                          oracle=OracleFaults(outage_start=start, outage_steps=length, sources=3))
    if spec.scenario == "oracle-latency":
        lo, hi = (int(v) for v in spec.latency_steps)
        return StressCase(i, f"{spec.base}+latency", ts, {"BTC-PERP": p}, oracle=OracleFaults(latency_steps=int(rng.integers(lo, hi + 1))))
    mult = float(np.exp(rng.uniform(*np.log(spec.depth_multiplier))))
    return StressCase(i, f"{spec.base}+evaporation", ts, {"BTC-PERP": p}, liquidity_multiplier=mult)


def _correlation_case(spec: StressSpec, fits: FittedModels, i: int, t0: int, rng: np.random.Generator) -> StressCase:
    """BTC from the ``base`` GARCH path; ETH correlated as in history until a break (see module doc)."""
    from ramparts.lab.tails import prices_from_log_returns

    base = spec.base if spec.base != "historical" else "garch"
    rb = _returns(spec, fits, base, i)
    other = _returns(replace(spec, seed=spec.seed + 1_000_003), fits, base, i)  # an independent draw, same model
    n = rb.size
    brk = int(rng.integers(n // 4, max(3 * n // 4, n // 4 + 1)))
    rho = np.where(np.arange(n) < brk, fits.correlation, spec.broken_correlation)
    re_ = fits.eth_vol_ratio * (rho * rb + np.sqrt(1 - rho**2) * other)
    fall = float(rng.uniform(*spec.relative_shock))
    window = max(min(6, n - brk), 1)
    re_[brk : brk + window] += math.log(1 - fall) / window
    ts = t0 + np.arange(n + 1, dtype=np.int64) * spec.step_s * 10**9
    return StressCase(i, "correlation-break", ts, {"BTC-PERP": prices_from_log_returns(fits.btc_price, rb),
                                                    "ETH-PERP": prices_from_log_returns(fits.eth_price, re_)},
                      pair_fraction=spec.pair_fraction)


OUTCOMES = ("drawdown", "liquidation_steps", "liquidated_notional_usdc", "bankruptcies", "insurance_fund_start_usdc",
            "insurance_fund_min_usdc", "insurance_fund_draws_usdc", "penalty_income_usdc", "bankruptcy_deficit_usdc",
            "vault_loss_usdc", "loss_beyond_fund_usdc", "loss_beyond_fund_and_vault_usdc", "adl_notional_usdc", "adl_counterparty_loss_usdc", "socialised_loss_usdc",
            "socialised_unrecovered_usdc", "bad_debt_usdc", "fund_exhausted")


def run_case(case: StressCase, spec: StressSpec, population: PopulationSpec | Book, venue: VenueSpec, liquidity: LiquidityModel) -> dict:
    """Run one case through the engine; one row of outcomes (value conservation is checked inside).

    A :class:`~ramparts.lab.book.Book` runs as it is (its own positions; the correlation family's pairs are
    the synthetic population's), its markets rebased to its marks; the row counts the positions it refused."""
    pairs = case.pair_fraction and isinstance(population, PopulationSpec)
    pop = replace(population, pair_fraction=case.pair_fraction) if pairs else population
    liq = replace(liquidity, depth_multiplier=liquidity.depth_multiplier * case.liquidity_multiplier)
    r = run_replay(case.ts_ns, case.prices, name=f"{spec.scenario}-{case.index}", population=pop, liquidity=liq, venue=venue,
                   oracle=case.oracle, verify_replay=False)
    s, t = r.summary, r.totals
    fund0 = s["insurance_fund_start_usdc"]
    return {
        "path": case.index,
        "label": case.label,
        "drawdown": s["drawdown"],
        "final_return": float(case.prices[next(iter(case.prices))][-1] / case.prices[next(iter(case.prices))][0] - 1),
        "liquidation_steps": s["liquidation_steps"],
        "liquidated_notional_usdc": s["liquidated_notional_usdc"],
        "bankruptcies": s["bankruptcies"],
        "insurance_fund_start_usdc": fund0,
        "fund_ratio_to_open_interest": s["fund"]["ratio_to_open_interest"],
        "insurance_fund_min_usdc": s["insurance_fund_min_usdc"],
        "insurance_fund_draws_usdc": t["insurance_fund_draws"],
        "penalty_income_usdc": s["penalty_income_usdc"],
        "bankruptcy_deficit_usdc": s["bankruptcy_deficit_usdc"],
        "vault_loss_usdc": s["vault_loss_usdc"],
        "loss_beyond_fund_usdc": s["loss_beyond_fund_usdc"],
        "loss_beyond_fund_and_vault_usdc": s["loss_beyond_fund_and_vault_usdc"],
        "adl_notional_usdc": t["adl_notional"],
        "adl_counterparty_loss_usdc": s["adl_counterparty_loss_usdc"],
        "socialised_loss_usdc": t["socialised_loss"],
        "socialised_unrecovered_usdc": s["socialised_unrecovered_usdc"],
        "bad_debt_usdc": s["bad_debt_usdc"],
        **{f"bad_debt_{b}_usdc": s["bad_debt_by_bearer_usdc"][b] for b in BEARERS},
        "loss_split_adds_up": s["loss_accounting"]["adds_up"],
        "fund_exhausted": bool(s["insurance_fund_min_usdc"] <= spec.exhausted_below * fund0),
        "initial_margin_rate_avg": s["initial_margin_rate_avg"],
        "liquidity_multiplier": case.liquidity_multiplier,
        "outage_steps": case.oracle.outage_steps,
        "latency_steps": case.oracle.latency_steps,
        "state_hash": r.state_hash,
        **({"book_positions_refused": s["book"]["positions_refused"]} if "book" in s else {}),
    }


def markets(scenario: str) -> tuple[str, ...]:
    """The markets a scenario family's paths list (a book is checked against them)."""
    return ("BTC-PERP", "ETH-PERP") if scenario == "correlation" else ("BTC-PERP",)


@dataclass
class StressResult:
    spec: StressSpec
    table: pd.DataFrame
    summary: dict
    fits: FittedModels


def _dist(x: np.ndarray) -> dict:
    return {"mean": float(x.mean()), **{f"q{int(q * 100)}": float(np.quantile(x, q)) for q in (0.5, 0.9, 0.95, 0.99)}, "max": float(x.max())}


def summarise(table: pd.DataFrame, spec: StressSpec, fund0: float) -> dict:
    """Distribution of bad debt and the probability of exhausting the fund, with a 95 % interval.

    ``fund0`` is the fund at the start; a table with a per-path ``insurance_fund_start_usdc``
    (a fund sized against each path's open interest) reports its mean instead. With the loss columns
    of :func:`run_case` the summary adds the backstop vault's loss, the bad debt and its mean split
    by who bore it."""
    from scipy import stats

    n = len(table)
    k = int(table["fund_exhausted"].sum())
    lo, hi = stats.binomtest(k, n).proportion_ci(0.95, method="wilson") if n else (0.0, 1.0)
    beyond = table["loss_beyond_fund_usdc"].to_numpy(dtype=float)
    deficit = table["bankruptcy_deficit_usdc"].to_numpy(dtype=float)
    q = [0.5, 0.9, 0.95, 0.99]
    more: dict = {}
    if n and "vault_loss_usdc" in table:
        vault = table["vault_loss_usdc"].to_numpy(dtype=float)
        bad = table["bad_debt_usdc"].to_numpy(dtype=float)
        more = {"vault_loss_usdc": _dist(vault), "p_vault_loss": float((vault > 0).mean()), "bad_debt_usdc": _dist(bad),
                "p_loss_beyond_fund_and_vault": float((table["loss_beyond_fund_and_vault_usdc"] > 0).mean()),
                "bad_debt_by_bearer_mean_usdc": {b: float(table[f"bad_debt_{b}_usdc"].mean()) for b in BEARERS
                                                 if f"bad_debt_{b}_usdc" in table},
                "insurance_fund_draws_mean_usdc": float(table["insurance_fund_draws_usdc"].mean()),
                "penalty_income_mean_usdc": float(table["penalty_income_usdc"].mean())}
    if n and "insurance_fund_start_usdc" in table:
        fund0 = float(table["insurance_fund_start_usdc"].mean())
        more["fund_ratio_to_open_interest_mean"] = (float(table["fund_ratio_to_open_interest"].mean())
                                                    if "fund_ratio_to_open_interest" in table else None)
    return {
        "scenario": spec.scenario,
        "paths": n,
        "insurance_fund_start_usdc": fund0,
        "p_fund_exhausted": k / n if n else None,
        "p_fund_exhausted_ci95": [float(lo), float(hi)],
        "p_loss_beyond_fund": float((beyond > 0).mean()) if n else None,
        "p_any_bankruptcy": float((table["bankruptcies"] > 0).mean()) if n else None,
        "bankruptcy_deficit_usdc": {"mean": float(deficit.mean()), **{f"q{int(x * 100)}": float(np.quantile(deficit, x)) for x in q},
                                    "max": float(deficit.max())},
        "loss_beyond_fund_usdc": {"mean": float(beyond.mean()), **{f"q{int(x * 100)}": float(np.quantile(beyond, x)) for x in q},
                                  "max": float(beyond.max())},
        "expected_shortfall_99_deficit_usdc": float(np.sort(deficit)[-max(1, math.ceil(0.01 * n)):].mean()),
        "median_drawdown": float(table["drawdown"].median()),
        "mean_liquidated_notional_usdc": float(table["liquidated_notional_usdc"].mean()),
        **more,
    }


def run_stress(
    spec: StressSpec,
    *,
    population: PopulationSpec | Book | None = None,
    venue: VenueSpec | None = None,
    liquidity: LiquidityModel | None = None,
    fits: FittedModels | None = None,
    progress: Callable[[int, int], None] | None = None,
    runner: Callable | None = None,
) -> StressResult:
    """Run every case of ``spec`` through the engine and summarise.

    ``runner(tasks) -> rows`` may replace the in-process loop (for distributed runs); each task is
    ``(case_index, spec, population, venue, liquidity)`` and must be evaluated with :func:`run_task`.
    """
    population = population or PopulationSpec(n_accounts=500)
    venue = venue or VenueSpec()
    liquidity = liquidity or LiquidityModel()
    fits = fits or fit_models()
    if runner is None:
        rows = []
        for i in range(spec.n_paths):
            rows.append(run_task((i, spec, population, venue, liquidity, fits)))
            if progress:
                progress(i + 1, spec.n_paths)
    else:
        rows = runner([(i, spec, population, venue, liquidity, fits) for i in range(spec.n_paths)])
    table = pd.DataFrame(rows).sort_values("path").reset_index(drop=True)
    summary = summarise(table, spec, float(venue.insurance_fund))
    if isinstance(population, Book):
        summary["book"] = {**population.to_dict(), "positions_refused_max": int(table["book_positions_refused"].max())}
    else:  # the population every path ran (a scenario's crowd, with its types and open interest, or the uniform one)
        summary["population"] = population.to_dict()
    summary["liquidity"] = liquidity.to_dict()
    summary["price_path"] = path_provenance(spec).to_dict()
    return StressResult(spec, table, summary, fits)


def run_task(task: tuple) -> dict:
    """Evaluate one ``(case_index, spec, population, venue, liquidity, fits)`` task (picklable)."""
    i, spec, population, venue, liquidity, fits = task
    return run_case(generate_case(spec, i, fits), spec, population, venue, liquidity)


def family(spec: StressSpec) -> str:
    """The path family a spec's paths are drawn from (``historical``, ``jump``, ``garch`` or ``gpd``)."""
    if spec.scenario in BASE_SCENARIOS:
        return spec.scenario
    if spec.scenario == "correlation":
        return spec.base if spec.base != "historical" else "garch"
    return spec.base


def stress_caveats(result: StressResult) -> list[str]:
    """Where the stress is doubtful: a fitted model at its bounds (the family's), and tail quantiles of
    too few paths (:mod:`ramparts.lab.reportkit`)."""
    from ramparts.lab import reportkit as rk

    fam = family(result.spec)
    out = rk.fit_caveats(garch=result.fits.garch if fam == "garch" else None, gpd=result.fits.gpd if fam == "gpd" else None)
    out += rk.quantile_caveats(int(result.summary["paths"]), (0.95, 0.99), what="the deficit, the loss beyond the fund, the vault loss "
                               "and the bad debt per path", unit="paths")
    out += rk.path_caveats(path_provenance(result.spec), what="every path" if fam != "historical" else
                           f"the {result.spec.event} path the historical family scales")
    return out


def _stress_headline(s: dict) -> list[tuple[str, list]]:
    from ramparts.lab import reportkit as rk

    c = rk.cell
    rows = [("P(insurance fund exhausted)", [c(s["p_fund_exhausted"], "summary/p_fund_exhausted", ".1%")]),
            ("  95% confidence interval: low", [c(s["p_fund_exhausted_ci95"][0], "summary/p_fund_exhausted_ci95/0", ".1%")]),
            ("  95% confidence interval: high", [c(s["p_fund_exhausted_ci95"][1], "summary/p_fund_exhausted_ci95/1", ".1%")]),
            ("P(loss beyond the fund: vault / ADL / socialised)", [c(s["p_loss_beyond_fund"], "summary/p_loss_beyond_fund", ".1%")])]
    if "p_loss_beyond_fund_and_vault" in s:
        rows.append(("P(loss beyond the fund and the vault: ADL / socialised)",
                     [c(s["p_loss_beyond_fund_and_vault"], "summary/p_loss_beyond_fund_and_vault", ".1%")]))
    rows.append(("P(any bankruptcy)", [c(s["p_any_bankruptcy"], "summary/p_any_bankruptcy", ".1%")]))
    rows.append(("insurance fund at the start, mean over the paths (USDC)", [c(s["insurance_fund_start_usdc"], "summary/insurance_fund_start_usdc")]))
    if s.get("fund_ratio_to_open_interest_mean") is not None:
        rows.append(("insurance fund / open interest, mean", [c(s["fund_ratio_to_open_interest_mean"], "summary/fund_ratio_to_open_interest_mean", ".2%")]))
    for key, words in (("bankruptcy_deficit_usdc", "bankruptcy deficit"), ("loss_beyond_fund_usdc", "loss beyond the fund"),
                       ("vault_loss_usdc", "backstop vault loss"), ("bad_debt_usdc", "bad debt")):
        if key in s:
            rows.append((f"{words} (USDC): mean / q95 / q99 / max", [c(s[key][q], f"summary/{key}/{q}") for q in ("mean", "q95", "q99", "max")]))
    if "insurance_fund_draws_mean_usdc" in s:
        rows.append(("mean fund draws, gross (USDC)", [c(s["insurance_fund_draws_mean_usdc"], "summary/insurance_fund_draws_mean_usdc")]))
        rows.append(("mean penalty income (USDC)", [c(s["penalty_income_mean_usdc"], "summary/penalty_income_mean_usdc")]))
    for b, v in (s.get("bad_debt_by_bearer_mean_usdc") or {}).items():
        rows.append((f"  mean borne by the {rk.BEARER_WORDS.get(b, b)} (USDC)" if b != "socialised" else "  mean socialised (USDC)",
                     [c(v, f"summary/bad_debt_by_bearer_mean_usdc/{b}")]))
    rows.append(("median drawdown of the paths", [c(s["median_drawdown"], "summary/median_drawdown", ".1%")]))
    rows.append(("mean liquidated notional (USDC)", [c(s["mean_liquidated_notional_usdc"], "summary/mean_liquidated_notional_usdc")]))
    if "book" in s:
        rows.append(("book: positions refused at the open, most on one path", [c(s["book"]["positions_refused_max"],
                                                                                "summary/book/positions_refused_max", ",d")]))
    # every row a single value, or four (mean / q95 / q99 / max): pad to four columns
    return [(label, cells + [""] * (4 - len(cells))) for label, cells in rows]


#: Up to this many paths, an outcome is drawn one bar a path (sorted); beyond it, as a histogram.
PER_PATH_BARS = 60


def _histogram(title: str, x, unit: str, colour: str, n: int, *, lowest_first: bool = False):
    """One outcome per path: a bar a path, the worst first (the largest, or the lowest with ``lowest_first``; up to
    :data:`PER_PATH_BARS` paths), else a histogram; all paths at zero is said in words, not drawn as one block."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    v = np.asarray(x, dtype=float)
    if n <= PER_PATH_BARS:
        fig = rk.chart(title, x="path, lowest first" if lowest_first else "path, largest first", y=unit, height=360, legend=False)
    else:
        fig = rk.chart(title, x=unit, y="paths (count)", height=360, legend=False)
    if not np.any(v != 0):
        rk.empty_chart_note(fig, f"every path at 0 ({n} of {n}): nothing to draw")
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
        fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
        return fig
    if n <= PER_PATH_BARS:
        order = np.argsort(v if lowest_first else -v, kind="stable")
        fig.add_trace(go.Bar(x=[f"path {i}" for i in order], y=v[order], name=title, marker={"color": colour},
                             text=rk.bar_text(v[order]), textposition="outside", cliponaxis=False))
        fig.update_xaxes(type="category")
    else:
        fig.add_trace(go.Histogram(x=v, nbinsx=40, name=title, marker={"color": colour}))
    return fig


def write_stress_report(result: StressResult, out_dir: str | Path, *, population=None, venue=None) -> dict[str, Path]:
    """``report.html`` (the verdict, the parameters, the caveats; histograms of the deficit, the fund's low, the
    loss beyond the fund and the backstop vault's loss; the deficit against the drawdown; the bad debt by who
    bore it), ``summary.json`` (with the fitted models, the spec and the caveats) and ``paths.parquet`` (one row
    per path). ``population`` and ``venue`` (what the run used) add their lines to the parameters."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "paths": out / "paths.parquet"}
    t, s, sp = result.table, result.summary, result.spec
    notes = stress_caveats(result)
    lo, hi = s["p_fund_exhausted_ci95"]
    ratio = s.get("fund_ratio_to_open_interest_mean")
    fund = f"fund {s['insurance_fund_start_usdc']:,.0f} USDC" + ("" if ratio is None else f" ({ratio:.2%} of open interest)")
    page = rk.Page(f"ramparts stress: {s['scenario']}, {s['paths']} paths, {fund}", command="stress")
    sentence = (f"P(insurance fund exhausted) = {s['p_fund_exhausted']:.1%} (95% CI {lo:.1%}–{hi:.1%}) over {s['paths']} paths; "
                f"P(loss beyond the fund) = {s['p_loss_beyond_fund']:.1%}; the bankruptcy deficit's q99 is "
                f"{s['bankruptcy_deficit_usdc']['q99']:,.0f} USDC.")
    page.verdict(sentence, rk.headline(_stress_headline(s), columns=("value or mean", "q95", "q99", "max"), source="summary.json"))
    fam = family(sp)
    who = f"book {s['book'].get('file')}" if "book" in s else "—"
    if isinstance(population, Book):
        who = f"book {population.file}: {population.n_accounts:,} sub-accounts, {population.positions:,} positions"
    elif isinstance(population, PopulationSpec):
        who = f"uniform: {population.n_accounts:,} accounts, leverage log-uniform 1.5-50×, seed {population.seed}"
    elif population is not None:  # a scenario crowd
        who = f"scenario crowd: {population.n_accounts:,} accounts, seed {getattr(population, 'seed', '—')}"
    prov = path_provenance(sp)
    shape = (f"{prov.observations:,} observations (the event's path)" if fam == "historical"
             else f"{sp.n_steps:,} observations, every {sp.step_s:,} s")
    rows = [("scenario family", sp.scenario + ("" if sp.scenario in BASE_SCENARIOS else f" over {fam} paths")),
            ("paths", f"{sp.n_paths:,} paths of {shape}"),
            *rk.path_rows(prov),
            ("seed", f"{sp.seed} (path i depends only on the seed and i)"),
            ("volatility scale", f"{sp.vol_scale:g}")]
    if fam == "historical":
        rows.append(("event (the historical family scales it)", f"{sp.event}, shocks × {sp.shock_scale[0]:g} to {sp.shock_scale[1]:g}"))
    f = result.fits
    if fam == "garch":
        g = f.garch
        rows.append(("fitted model", f"GARCH(1,1)-t on {f.observations:,} hourly BTC returns (Binance spot 2017-2022): ω {g['omega']:.3g}, "
                                     f"α {g['alpha']:.4f}, β {g['beta']:.4f}, ν {g['nu']:.2f}"))
    elif fam == "gpd":
        g = f.gpd
        rows.append(("fitted model", f"GPD loss tail on {g['n_obs']:,} hourly BTC returns: ξ {g['xi']:.3f}, scale {g['scale']:.4f}, "
                                     f"threshold {g['threshold']:.4f} ({g['n_exceed']:,} exceedances); body σ {f.sigma_hourly:.4f}/h"))
    elif fam == "jump":
        rows.append(("model", f"Merton jump diffusion: σ {f.sigma_hourly:.4f}/h (fitted), {sp.jump_per_day:g} jumps a day of mean "
                              f"{sp.jump_mean:.0%} and s.d. {sp.jump_std:.0%}"))
    rows += [("population", who), ("insurance fund", fund + (f", rule {venue.fund}" if venue is not None else "")
                                    + f"; exhausted below {sp.exhausted_below:.0%} of its start"),
             ("venue", getattr(venue, "name", None) or "ramparts (the lab's default venue)")]
    page.parameters(rows)
    page.caveats(notes)
    n = len(t)
    page.figure(_histogram("Bankruptcy deficit per path", t["bankruptcy_deficit_usdc"], "bankruptcy deficit (USDC)", rk.COLOURS["bankruptcy"], n))
    low = _histogram("Insurance fund: lowest level per path", t["insurance_fund_min_usdc"], "lowest fund level (USDC)", rk.COLOURS["fund"], n,
                     lowest_first=True)
    level = s["insurance_fund_start_usdc"] * sp.exhausted_below
    if n <= PER_PATH_BARS:
        low.add_hline(y=level, line={"color": rk.COLOURS["bankruptcy"], "dash": "dash"})
    else:
        low.add_vline(x=level, line={"color": rk.COLOURS["bankruptcy"], "dash": "dash"})
    page.figure(low, caption=f"Dashed line: exhausted ({sp.exhausted_below:.0%} of the fund at the start).")
    sc = rk.chart("Deficit against the path's drawdown", x="drawdown of the path", y="bankruptcy deficit (USDC)", height=400)
    for exhausted, words, colour in ((False, "fund held", rk.palette(0)), (True, "fund exhausted", rk.COLOURS["fund"])):
        m = t["fund_exhausted"].astype(bool) == exhausted
        if m.any():
            sc.add_trace(go.Scatter(x=t.loc[m, "drawdown"], y=t.loc[m, "bankruptcy_deficit_usdc"], mode="markers", name=words,
                                    marker={"color": colour, "size": 8},
                                    text=[f"path {p}: {lab}" for p, lab in zip(t.loc[m, "path"], t.loc[m, "label"], strict=True)]))
    sc.update_xaxes(tickformat=".0%")
    sc.update_yaxes(rangemode="tozero")
    page.figure(sc)
    beyond = _histogram("Loss beyond the fund per path", t["loss_beyond_fund_usdc"], "loss beyond the fund (USDC)", rk.COLOURS["total"], n)
    if not (t["loss_beyond_fund_usdc"] > 0).any():
        beyond.layout.annotations[0].text = f"no path lost anything beyond the fund ({n} of {n} at 0 USDC)"
    page.figure(beyond)
    if "vault_loss_usdc" in t:
        page.figure(_histogram("Backstop vault loss per path", t["vault_loss_usdc"], "backstop vault loss (USDC)", rk.COLOURS["vault"], n))
        mean = s.get("bad_debt_by_bearer_mean_usdc", {})
        bar = rk.chart("Bad debt by who bore it, mean per path", x="who bore it", y="USDC per path (< 0: a surplus)", height=380, legend=False)
        bar.add_trace(go.Bar(x=[rk.BEARER_WORDS.get(b, b) for b in mean], y=list(mean.values()), name="bad debt by bearer",
                             marker={"color": [rk.BEARER_COLOURS.get(b, "#444") for b in mean]}, text=rk.bar_text(list(mean.values())),
                             textposition="outside", cliponaxis=False))
        page.figure(bar)
    page.write(paths["html"])
    doc = {"summary": s, "spec": sp.to_dict(), "fitted_models": result.fits.to_dict(), "caveats": notes}
    paths["json"].write_text(json.dumps(doc, indent=2, sort_keys=True, default=str))
    t.to_parquet(paths["paths"], index=False)
    return paths


__all__ = [
    "SCENARIOS",
    "FittedModels",
    "StressCase",
    "StressResult",
    "StressSpec",
    "fit_models",
    "generate_case",
    "generate_cases",
    "historical_path",
    "markets",
    "run_case",
    "run_stress",
    "run_task",
    "family",
    "path_provenance",
    "stress_caveats",
    "summarise",
    "write_stress_report",
]
