"""Calibration sweeps: margin parameters against bad debt, over history and synthetic paths.

This module owns ``ramparts calibrate``. A :class:`ParameterGrid` lists values of the margin and
liquidation parameters a venue chooses:

==================  ===========================================================================
``margin_scale``    multiplies every initial and maintenance rate of the tier table (1 = the
                    Binance-like BTC tiers of :data:`~ramparts.engine.presets.BTC_TIERS`)
``im_to_mm``        initial margin as a multiple of maintenance (2 = the presets' ratio)
``buffer``          liquidate back to maintenance × (1 + buffer)
``penalty``         liquidation penalty, a fraction of the closed notional
``max_fraction``    the largest fraction of a position one partial liquidation step may close
==================  ===========================================================================

Every point of the grid (the Cartesian product) runs the same scenarios (named historical
crashes and seeded synthetic stress paths from :mod:`ramparts.lab.stress`) with the same seeded
population, through the real engine. Per point it measures capital efficiency (the average
initial-margin rate the population's positions require at the open: lower is more efficient),
the probability of a loss beyond the insurance fund (ADL, socialisation or unrecovered bad debt),
the mean fund draw and the mean bankruptcy deficit. :func:`pareto_front` keeps the points no
other point beats on all of (margin, bad-debt probability, fund draw); the report plots the
frontier.

The population may be a risk team's own book (:mod:`ramparts.lab.book`, ``--book``) instead of the
seeded synthetic one: the margin a point requires is then the book's own, and a point stricter than
the book's accounts can meet refuses some of its positions at the open (``book_positions_refused``,
per run and its maximum per point in the frontier), which the reader weighs with its bad debt.

A historical event walks the same path ``ramparts replay`` walks (:func:`ramparts.lab.events.event_path`:
the base series refined from the finest finer series of the same asset, unconfirmed wicks clipped);
:func:`price_paths` is the record of every scenario's path (bar size, method, unconfirmed wicks, or
synthetic for the stress paths), which the report's parameters and caveats state and ``frontier.json``
carries as ``price_paths``.

Each evaluation is the pure function :func:`evaluate_task` of a picklable task, so a sweep can be
spread over workers and still give the same table.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ramparts.engine.presets import BTC_TIERS
from ramparts.errors import InvalidInput
from ramparts.lab.book import Book
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import VenueSpec, run_replay
from ramparts.lab.stress import FittedModels, StressSpec, fit_models, generate_case, run_case

PARAMETERS = ("margin_scale", "im_to_mm", "buffer", "penalty", "max_fraction")


def _values(v, name: str, lo: float, hi: float) -> tuple[float, ...]:
    vals = tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    if not vals:
        raise InvalidInput(name, "needs at least one value")
    for x in vals:
        if not (math.isfinite(x) and lo <= x <= hi):
            raise InvalidInput(name, f"values must lie in [{lo}, {hi}], got {x}")
    return vals


@dataclass(frozen=True)
class ParameterGrid:
    """The values to sweep (see the module docstring); the sweep is their Cartesian product."""

    margin_scale: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    im_to_mm: tuple[float, ...] = (2.0,)
    buffer: tuple[float, ...] = (0.1,)
    penalty: tuple[float, ...] = (0.01,)
    max_fraction: tuple[float, ...] = (0.2, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "margin_scale", _values(self.margin_scale, "margin_scale", 0.01, 50.0))
        object.__setattr__(self, "im_to_mm", _values(self.im_to_mm, "im_to_mm", 1.0, 10.0))
        object.__setattr__(self, "buffer", _values(self.buffer, "buffer", 0.0, 5.0))
        object.__setattr__(self, "penalty", _values(self.penalty, "penalty", 0.0, 0.2))
        object.__setattr__(self, "max_fraction", _values(self.max_fraction, "max_fraction", 0.01, 1.0))
        if self.size > 10_000:
            raise InvalidInput("grid", f"{self.size:,} parameter sets is more than the 10,000 a sweep accepts")

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, p)) for p in PARAMETERS)

    def points(self) -> list[dict[str, float]]:
        return [dict(zip(PARAMETERS, combo, strict=True)) for combo in itertools.product(*(getattr(self, p) for p in PARAMETERS))]

    def to_dict(self) -> dict:
        return asdict(self)


def venue_for(point: dict[str, float], base: VenueSpec | None = None) -> VenueSpec:
    """The venue of one grid point: the BTC tier table rescaled, and the waterfall parameters."""
    base = base or VenueSpec()
    tiers = []
    for floor, _im, mm in BTC_TIERS:
        mm_rate = min(Decimal(mm) * Decimal(repr(point["margin_scale"])), Decimal("0.5"))
        im_rate = min(mm_rate * Decimal(repr(point["im_to_mm"])), Decimal(1))
        tiers.append([floor, str(_round_up(im_rate)), str(_round_up(mm_rate))])
    liq = dict(base.liquidation)
    liq.update(buffer_ppm=_ppm(point["buffer"]), penalty_ppm=_ppm(point["penalty"]), max_fraction_ppm=_ppm(point["max_fraction"]))
    return VenueSpec(tiers=tiers, liquidation=liq, insurance_fund=base.insurance_fund, funding_interval_s=base.funding_interval_s)


def _round_up(rate: Decimal) -> Decimal:
    """Rates are kept to the ppm, rounded up (a requirement never rounds down)."""
    return (rate * 1_000_000).to_integral_value(rounding="ROUND_CEILING") / 1_000_000


def _ppm(x: float) -> int:
    return int(Decimal(repr(x)) * 1_000_000)


@dataclass(frozen=True)
class Scenarios:
    """What every grid point runs: named historical events, and synthetic stress paths."""

    events: tuple[str, ...] = ("black-thursday-2020",)
    stress: StressSpec | None = field(default_factory=lambda: StressSpec(scenario="jump", n_paths=8, n_steps=48))

    def labels(self) -> list[tuple[str, int]]:
        out = [("event:" + e, 0) for e in self.events]
        if self.stress is not None:
            out += [("stress:" + self.stress.scenario, i) for i in range(self.stress.n_paths)]
        return out


def evaluate_task(task: tuple) -> dict:
    """One (grid point, scenario) evaluation of a picklable task
    ``(point_index, point, label, path, scenarios, population, liquidity, base, fits)``."""
    k, point, label, i, scenarios, population, liquidity, base, fits = task
    venue = venue_for(point, base)
    if label.startswith("event:"):
        from ramparts.lab.stress import historical_path

        path = historical_path(label[6:])  # the event's refined path, as ramparts replay walks it
        r = run_replay(path.ts_ns, path.price, name=label, population=population, liquidity=liquidity, venue=venue, verify_replay=False)
        s, t = r.summary, r.totals
        row = {"bankruptcy_deficit_usdc": s["bankruptcy_deficit_usdc"], "loss_beyond_fund_usdc": s["loss_beyond_fund_usdc"],
               "loss_beyond_fund_and_vault_usdc": s["loss_beyond_fund_and_vault_usdc"], "vault_loss_usdc": s["vault_loss_usdc"],
               "insurance_fund_draws_usdc": t["insurance_fund_draws"], "liquidation_steps": s["liquidation_steps"],
               "initial_margin_rate_avg": s["initial_margin_rate_avg"], "state_hash": r.state_hash,
               **({"book_positions_refused": s["book"]["positions_refused"]} if "book" in s else {})}
    else:
        spec = scenarios.stress
        row = run_case(generate_case(spec, i, fits), spec, population, venue, liquidity)
        row = {key: row[key] for key in ("bankruptcy_deficit_usdc", "loss_beyond_fund_usdc", "loss_beyond_fund_and_vault_usdc",
                                         "vault_loss_usdc", "insurance_fund_draws_usdc", "liquidation_steps", "initial_margin_rate_avg",
                                         "state_hash", "book_positions_refused") if key in row}
    return {"point": k, **point, "scenario": label, "path": i, **row}


def price_paths(scenarios: Scenarios) -> dict:
    """How each scenario's path is made (:class:`~ramparts.lab.paths.PathProvenance`), by label: ``event:<name>`` the
    event's path (refined where a finer series ships, unconfirmed wicks listed), ``stress:<family>`` the synthetic
    record of the stress paths."""
    from ramparts.lab.stress import historical_path, path_provenance

    out = {f"event:{e}": historical_path(e).provenance for e in scenarios.events}
    if scenarios.stress is not None:
        out[f"stress:{scenarios.stress.scenario}"] = path_provenance(scenarios.stress)
    return out


@dataclass
class CalibrationResult:
    grid: ParameterGrid
    runs: pd.DataFrame  #: one row per (point, scenario)
    frontier: pd.DataFrame  #: one row per point, with ``pareto``


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Per grid point: average margin, P(loss beyond the fund and the vault: ADL or socialised), mean fund
    draw, deficit, loss beyond the fund (the vault's included) and vault loss; Pareto flag. (The vault
    loses a little in almost every crash, so P(loss beyond the fund) alone would not tell the points apart.)"""
    g = runs.groupby("point", sort=True)
    out = g[list(PARAMETERS)].first()
    out["avg_initial_margin_rate"] = g["initial_margin_rate_avg"].mean()
    out["p_bad_debt"] = g["loss_beyond_fund_and_vault_usdc"].apply(lambda x: float((x > 0).mean()))
    out["mean_fund_draw_usdc"] = g["insurance_fund_draws_usdc"].mean()
    out["mean_deficit_usdc"] = g["bankruptcy_deficit_usdc"].mean()
    out["mean_loss_beyond_fund_usdc"] = g["loss_beyond_fund_usdc"].mean()
    out["mean_vault_loss_usdc"] = g["vault_loss_usdc"].mean()
    out["scenarios"] = g.size()
    if "book_positions_refused" in runs:  # a book: a stricter point refuses more of it at the open, and says so
        out["book_positions_refused_max"] = g["book_positions_refused"].max()
    out["pareto"] = pareto_front(out[["avg_initial_margin_rate", "p_bad_debt", "mean_fund_draw_usdc"]].to_numpy())
    return out.reset_index()


def pareto_front(costs: np.ndarray) -> np.ndarray:
    """Mask of the rows no other row dominates (≤ in every column and < in one); all minimised."""
    c = np.asarray(costs, dtype=float)
    if c.ndim != 2:
        raise InvalidInput("costs", "expected a 2-D array (points × objectives)")
    le = (c[:, None, :] <= c[None, :, :]).all(axis=2)  # le[j, i]: j is no worse than i everywhere
    lt = (c[:, None, :] < c[None, :, :]).any(axis=2)
    dominated = (le & lt).any(axis=0)
    return ~dominated


def run_calibration(
    grid: ParameterGrid,
    scenarios: Scenarios | None = None,
    *,
    population: PopulationSpec | Book | None = None,
    liquidity: LiquidityModel | None = None,
    base: VenueSpec | None = None,
    fits: FittedModels | None = None,
    progress: Callable[[int, int], None] | None = None,
    runner: Callable[[list[tuple]], Sequence[dict]] | None = None,
) -> CalibrationResult:
    """Run every grid point over every scenario (in process, or through ``runner(tasks)``).

    ``fits`` are the stress models (default: :func:`~ramparts.lab.stress.fit_models` on the
    shared hourly history, fitted once here and shipped inside every task).
    """
    scenarios = scenarios or Scenarios()
    population = population or PopulationSpec(n_accounts=300)
    liquidity = liquidity or LiquidityModel()
    base = base or VenueSpec()
    if not scenarios.events and scenarios.stress is None:
        raise InvalidInput("scenarios", "give at least one historical event or a stress spec")
    if scenarios.stress is not None and fits is None:
        fits = fit_models()
    tasks = [(k, point, label, i, scenarios, population, liquidity, base, fits)
             for k, point in enumerate(grid.points()) for label, i in scenarios.labels()]
    if runner is None:
        rows = []
        for n, task in enumerate(tasks, 1):
            rows.append(evaluate_task(task))
            if progress:
                progress(n, len(tasks))
    else:
        rows = list(runner(tasks))
    runs = pd.DataFrame(rows).sort_values(["point", "scenario", "path"]).reset_index(drop=True)
    return CalibrationResult(grid, runs, aggregate(runs))


#: The parameters' short names in the report and the console.
SHORT = {"margin_scale": "scale", "im_to_mm": "IM/MM", "buffer": "buffer", "penalty": "penalty", "max_fraction": "step"}


def calibration_caveats(result: CalibrationResult, scenarios: Scenarios | None = None) -> list[str]:
    """Where the sweep is doubtful: probabilities from few scenarios, and a fitted stress model at its bounds."""
    from ramparts.lab import reportkit as rk

    f = result.frontier
    k = int(f["scenarios"].iloc[0]) if len(f) else 0
    out = []
    if k and k < 20:
        out.append(f"Each P(loss beyond the fund and the vault) rests on {k} scenario run(s): one run more or less moves it by "
                   f"{1 / k:.0%}; sets that differ by less than that are not told apart (run more --paths).")
    if scenarios is not None:
        for label, prov in price_paths(scenarios).items():
            out += rk.path_caveats(prov, what=f"the {label.split(':', 1)[1]} path" if label.startswith("event:") else "every stress path")
    stress = scenarios.stress if scenarios is not None else None
    if stress is not None:
        from ramparts.lab.stress import family, fit_models

        fam = family(stress)
        if fam in ("garch", "gpd"):
            fits = fit_models()
            out += rk.fit_caveats(garch=fits.garch if fam == "garch" else None, gpd=fits.gpd if fam == "gpd" else None)
    return out


def _set_label(row, varying: list[str]) -> str:
    return f"#{int(row['point'])}" + (": " + ", ".join(f"{SHORT[p]} {row[p]:g}" for p in varying) if varying else "")


def write_calibration_report(result: CalibrationResult, out_dir: str | Path, *, scenarios: Scenarios | None = None,
                             population=None) -> dict[str, Path]:
    """``report.html`` (the Pareto set as the verdict, the grid and scenarios, the caveats, the frontier with every
    parameter set labelled, the table of every set), ``frontier.json`` / ``frontier.parquet``, ``runs.parquet``.
    ``scenarios`` and ``population`` (what every set ran) add their lines to the parameters."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "frontier.json", "frontier": out / "frontier.parquet", "runs": out / "runs.parquet"}
    f = result.frontier
    notes = calibration_caveats(result, scenarios)
    varying = [p for p in PARAMETERS if len(getattr(result.grid, p)) > 1]
    labels = [_set_label(row, varying) for _, row in f.iterrows()]
    stacked: dict[tuple[float, float], int] = {}  # sets on the same point: one label of all of them, on the first
    for j, (x, y) in enumerate(zip(f["avg_initial_margin_rate"], f["p_bad_debt"], strict=True)):
        at = stacked.setdefault((round(float(x), 9), round(float(y), 9)), j)
        if at != j:
            labels[at], labels[j] = labels[at] + "<br>" + labels[j], ""
    k = int(f["scenarios"].iloc[0]) if len(f) else 0
    page = rk.Page(f"ramparts calibrate: capital efficiency against bad debt ({len(f)} parameter sets × {k} scenarios)", command="calibrate")
    front = f[f["pareto"]].sort_values("avg_initial_margin_rate")
    refused = "book_positions_refused_max" in f
    rows = []
    for i, row in front.iterrows():
        c = [rk.cell(row[p], f"frontier/{i}/{p}", "g") for p in PARAMETERS]
        c += [rk.cell(row["avg_initial_margin_rate"], f"frontier/{i}/avg_initial_margin_rate", ".3%"),
              rk.cell(row["p_bad_debt"], f"frontier/{i}/p_bad_debt", ".1%"),
              rk.cell(row["mean_fund_draw_usdc"], f"frontier/{i}/mean_fund_draw_usdc"),
              rk.cell(row["mean_deficit_usdc"], f"frontier/{i}/mean_deficit_usdc")]
        if refused:
            c.append(rk.cell(int(row["book_positions_refused_max"]), f"frontier/{i}/book_positions_refused_max", ",d"))
        rows.append((f"set #{int(row['point'])}", c))
    cols = [*(SHORT[p] for p in PARAMETERS), "avg initial margin", "P(loss beyond fund and vault)", "mean fund draw (USDC)",
            "mean deficit (USDC)", *(["book positions refused, most"] if refused else [])]
    best = front.iloc[0] if len(front) else None
    sentence = (f"{len(front)} of {len(f)} parameter sets are on the Pareto front (no other set needs less margin with no more bad-debt "
                f"risk and fund draw)." + (f" The most capital-efficient of them, set #{int(best['point'])}, asks "
                                           f"{best['avg_initial_margin_rate']:.2%} initial margin for P(loss beyond the fund and the vault) "
                                           f"{best['p_bad_debt']:.0%}." if best is not None else ""))
    page.verdict(sentence, rk.headline(rows, columns=cols, first="parameter set", source="frontier.json",
                                       caption="The Pareto set, from the most capital-efficient."))
    g = result.grid
    params = [(f"{SHORT[p]} ({p})", ", ".join(f"{v:g}" for v in getattr(g, p))) for p in PARAMETERS]
    if scenarios is not None:
        params.append(("historical events", ", ".join(scenarios.events) or "none"))
        st = scenarios.stress
        params.append(("synthetic stress", "none" if st is None else f"{st.scenario}: {st.n_paths} paths of {st.n_steps} observations "
                                                                   f"every {st.step_s} s, seed {st.seed}"))
        for label, prov in price_paths(scenarios).items():
            params += rk.path_rows(prov, label=f"price path of {label}")
    else:
        params.append(("scenarios", ", ".join(sorted(set(result.runs["scenario"])))))
    if population is not None:
        params.append(("population", f"book {population.file}: {population.n_accounts:,} sub-accounts" if hasattr(population, "positions")
                       else f"{population.n_accounts:,} accounts, seed {getattr(population, 'seed', '—')}"))
    params.append(("margin tiers", "the BTC tier table (ramparts.engine.presets.BTC_TIERS) times the scale"))
    page.parameters(params)
    page.caveats(notes)
    fig = rk.chart("Capital efficiency against bad debt: every parameter set", x="average initial margin rate at the open "
                   "(lower = more capital-efficient)", y="P(loss beyond the insurance fund and the vault)", height=640)
    draw = f["mean_fund_draw_usdc"].to_numpy(dtype=float)
    fig.add_trace(go.Scatter(
        x=f["avg_initial_margin_rate"], y=f["p_bad_debt"], mode="markers+text", name="parameter sets (size, colour: mean fund draw)",
        text=labels, textposition="top center", textfont={"size": 10},
        customdata=[_set_label(row, varying) for _, row in f.iterrows()],
        hovertemplate="%{customdata}<br>initial margin %{x:.3%}<br>P %{y:.1%}<br>fund draw %{marker.color:,.0f} USDC<extra></extra>",
        marker={"size": 10 + 20 * np.sqrt(draw / max(draw.max(), 1)), "color": draw, "colorscale": [[0, "#dadaeb"], [1, "#3f007d"]],
                "showscale": True, "cmin": 0, "cmax": max(float(draw.max()), 1.0), "colorbar": {"title": {"text": "mean fund<br>draw (USDC)"}, "x": 1.02, "xanchor": "left", "y": 0,
                                         "yanchor": "bottom", "len": 0.6},
                "line": {"width": np.where(f["pareto"], 2.5, 0.5), "color": np.where(f["pareto"], rk.COLOURS["bankruptcy"], "#666")}}))
    fig.add_trace(go.Scatter(x=front["avg_initial_margin_rate"], y=front["p_bad_debt"], mode="lines", name="Pareto set (red rings)",
                             line={"color": rk.COLOURS["bankruptcy"], "dash": "dot"}))
    fig.update_layout(legend={"y": 1, "yanchor": "top", "x": 1.02}, margin={"r": 60})
    fig.update_xaxes(tickformat=".2%")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    page.figure(fig, caption="Each point a parameter set (#number: the table below); "
                             "the varying parameters are written beside it. Red rings: the Pareto set.")
    table = [[f"#{int(r['point'])}", *(f"{r[p]:g}" for p in PARAMETERS), f"{r['avg_initial_margin_rate']:.3%}", f"{r['p_bad_debt']:.1%}",
              f"{r['mean_fund_draw_usdc']:,.0f}", f"{r['mean_deficit_usdc']:,.0f}", f"{r['mean_loss_beyond_fund_usdc']:,.0f}",
              "yes" if r["pareto"] else ""] for _, r in f.iterrows()]
    page.section("Every parameter set", rk.table(["set", *(SHORT[p] for p in PARAMETERS), "avg initial margin", "P(loss beyond fund and vault)",
                                                  "mean fund draw (USDC)", "mean deficit (USDC)", "mean loss beyond the fund (USDC)",
                                                  "Pareto"], table), id="sets")
    page.write(paths["html"])
    doc = {"grid": result.grid.to_dict(), "frontier": f.to_dict(orient="records"), "caveats": notes}
    if scenarios is not None:
        doc["price_paths"] = {label: prov.to_dict() for label, prov in price_paths(scenarios).items()}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str))
    f.to_parquet(paths["frontier"], index=False)
    result.runs.to_parquet(paths["runs"], index=False)
    return paths


__all__ = ["PARAMETERS", "CalibrationResult", "ParameterGrid", "Scenarios", "aggregate", "evaluate_task", "pareto_front",
           "calibration_caveats", "price_paths", "run_calibration", "venue_for", "write_calibration_report"]
