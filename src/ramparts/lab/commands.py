"""The lab's commands: ``ramparts demo``, ``replay``, ``stress``, ``coverage``, ``calibrate``,
``backtest-margin``, ``compare``, ``depeg`` and ``replay-options``.

This module owns the command line of the lab (:mod:`ramparts.lab`): the options of each command,
the checks of their values, the tables printed and where the reports go. The work itself is the
lab's (imported lazily, so that ``ramparts --help`` stays fast); the shared conventions (one-line
errors, the output-folder rule, progress bars) are :mod:`ramparts.cli_common`'s.

Every command that reads candles takes an event name or a candle file, ``--source-id`` (the series
of a multi-series file) and ``--gaps``. Every command that writes a report follows the output rule:
a new folder ``reports/<command>/<label>-<UTC time>`` by default, or ``--out DIR`` (new or empty,
unless ``--force``), and prints the report's path on its last line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ramparts.cli_common import (
    console,
    fail,
    force_option,
    journal_to_create,
    out_option,
    progress,
    run_folder,
    show_files,
    user_errors,
)
from ramparts.errors import DataError, InvalidInput

#: The lab's field names that are not the name of the command-line parameter showing them.
FIELDS = {
    "n_paths": "paths",
    "n_steps": "steps",
    "step_s": "step_seconds",
    "horizon_steps": "horizon",
    "chunk_paths": "chunk",
    "order": "intrabar",
    "population.n_accounts": "accounts",
    "liquidity.depth": "depth",
    "oracle.sources": "oracle_sources",
    "venue": "venues",
    "path": "event",
}

#: Library phrasing that the command line says otherwise.
REWORDING = (
    (r"pass gaps='forward_fill' or gaps='skip'", "pass --gaps forward_fill or --gaps skip"),
    (r"select one with [a-z_=, ]+\.", "select one with --source-id."),
    (r"\(source_id='([^']*)'\)", r"(--source-id \1)"),
    (r"so source_id='([^']*)' selects nothing; leave the selection out", r"so --source-id \1 selects nothing; leave --source-id out"),
)

_EVENT_HELP = ("a built-in crash window (black-thursday-2020, china-ban-2021, ftx-2022, yen-carry-2024, "
               "tariff-cascade-2025) or a candle file")
_SOURCE_ID_HELP = "the series to read from a multi-series file (default: the event's own)"
_GAPS_HELP = "missing bars: error, forward_fill or skip"
_INTRABAR_HELP = "intra-bar path: worst_long (open, low, high, close), worst_short, olhc, ohlc, close"
_CLUSTER_HELP = "empty: in this process; local:N: a Dask cluster of N workers here; or tcp://host:port"


def _usdc(units: int) -> str:
    return f"{units / 1e6:,.2f}"


def _looks_like_path(text: str) -> bool:
    suffixes = {".csv", ".gz", ".parquet", ".pq", ".feather", ".json", ".zip", ".txt", ".tsv"}
    return "/" in text or os.sep in text or text.startswith((".", "~")) or Path(text).suffix.lower() in suffixes


def _event(text: str, param: str = "EVENT"):
    """The crash window ``text`` names; a missing file is ``no such file``, an unknown name lists the names."""
    from ramparts.lab.history import resolve_event

    try:
        return resolve_event(text)
    except DataError as exc:
        if _looks_like_path(text) and not Path(text).expanduser().exists():
            fail(f"{param}: no such file: {text}")
        fail(f"{param}: {exc}")


def _candles(ev_, gaps: str, source_id: str):
    return ev_.load(gaps=gaps, **({"source_id": source_id} if source_id else {}))


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InvalidInput(name, f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise InvalidInput(name, "needs at least one value")
    return vals


def _window(text: str, name: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    try:
        start, steps = (int(x) for x in text.split(":"))
    except ValueError:
        raise InvalidInput(name, f"expected START:STEPS (observation indices), got {text!r}") from None
    return start, steps


def _oracle_faults(sources: int, outage: str, glitch: str = "", wide_conf: str = ""):
    from ramparts.lab.replay import OracleFaults

    (o0, on), (g0, gn), (w0, wn) = _window(outage, "outage"), _window(glitch, "glitch"), _window(wide_conf, "wide_conf")
    if (gn or wn) and not sources:
        raise InvalidInput("oracle_sources", "--glitch and --wide-conf need a quoted oracle (--oracle-sources 3 or more)")
    return OracleFaults(outage_start=o0, outage_steps=on, sources=sources, glitch_start=g0, glitch_steps=gn, wide_conf_start=w0,
                        wide_conf_steps=wn)


# --------------------------------------------------------------------------------------------------
# demo and replay


def demo(
    accounts: int = typer.Option(200, help="number of traders in the population"),
    steps: int = typer.Option(240, help="one-minute oracle ticks in the crash"),
    depth: float = typer.Option(0.45, help="depth of the crash (0.45: a fall of 45 %)"),
    seed: int = typer.Option(7, help="random seed"),
    journal: str = typer.Option("", help="journal URL, a new file (default: a temporary SQLite file)"),
) -> None:
    """Run a seeded population through a synthetic crash, journaled, and verify the replay."""
    from ramparts.lab.demo import run_demo

    with user_errors(FIELDS, REWORDING):
        if journal:
            journal_to_create(journal, "--journal", fresh=True)
        with tempfile.TemporaryDirectory() as tmp:
            url = journal or str(Path(tmp) / "demo.sqlite")
            with progress("crash", "ticks") as bar:
                task = bar.add_task("crash", total=steps)
                res = run_demo(url, accounts=accounts, steps=steps, depth=depth, seed=seed, progress=lambda k, n: bar.update(task, completed=k))
    table = Table(title=f"ramparts demo: {accounts} traders, crash to {res.low} (−{depth:.0%})")
    table.add_column("layer")
    table.add_column("figure", justify="right")
    rows = [
        ("events journaled", f"{res.events:,}"),
        ("events rejected (initial margin etc.)", f"{res.rejected:,}"),
        ("margin calls", f"{res.margin_calls:,}"),
        ("liquidation steps", f"{res.liquidation_steps:,}"),
        ("liquidated notional (USDC)", _usdc(res.liquidated_notional)),
        ("insurance fund: start → end (USDC)", f"{_usdc(res.fund_start)} → {_usdc(res.fund_end)}"),
        ("insurance fund draws", f"{res.insurance_draws} ({_usdc(res.insurance_drawn)} USDC)"),
        ("auto-deleveraging fills", f"{res.deleverages:,}"),
        ("socialised loss (USDC)", _usdc(res.socialised)),
        ("unrecovered bad debt (USDC)", _usdc(res.bad_debt)),
        ("value conserved", "yes" if res.conserved else "NO"),
        ("state hash", res.state_hash[:16]),
        ("replayed journal hash", res.replay_hash[:16] + (" (identical)" if res.replay_hash == res.state_hash else " (DIFFERENT)")),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if journal:
        console.print(f"journal: {journal}", soft_wrap=True, highlight=False)
    if not res.conserved or res.replay_hash != res.state_hash:
        raise typer.Exit(1)


def replay(
    event: str = typer.Argument(..., help=_EVENT_HELP),
    accounts: int = typer.Option(2000, help="traders in the population"),
    seed: int = typer.Option(1, help="population seed"),
    intrabar: str = typer.Option("worst_long", help=_INTRABAR_HELP),
    source_id: str = typer.Option("", help=_SOURCE_ID_HELP),
    gaps: str = typer.Option("error", help=_GAPS_HELP),
    depth: float = typer.Option(50_000_000.0, help="book depth (USDC) of the square-root impact model"),
    out: Path = out_option("replay"),
    force: bool = force_option(),
    journal: str = typer.Option("", help="journal URL, a new file (default: journal.sqlite in the output folder)"),
    oracle_sources: int = typer.Option(0, help="0: one trusted oracle feed; 2 to 16: quotes from that many sources through the aggregator and gates"),
    outage: str = typer.Option("", help="START:STEPS, an oracle outage from observation START for STEPS observations"),
    glitch: str = typer.Option("", help="START:STEPS, one oracle source quoting half the price (needs --oracle-sources)"),
    wide_conf: str = typer.Option("", help="START:STEPS, every source reporting a 5 % confidence interval (needs --oracle-sources)"),
    breakers: bool = typer.Option(False, help="arm circuit breakers: a 10 %/hour move pauses new risk; a fund below 10 % pauses withdrawals"),
) -> None:
    """Replay a real crash through the engine with a seeded population; write HTML, JSON and Parquet."""
    from ramparts.lab.history import intrabar_path
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import DEFAULT_BREAKERS, VenueSpec, run_replay
    from ramparts.lab.report import write_report

    with user_errors(FIELDS, REWORDING):
        faults = _oracle_faults(oracle_sources, outage, glitch, wide_conf)
        venue = VenueSpec(breakers=DEFAULT_BREAKERS) if breakers else VenueSpec()
        population = PopulationSpec(n_accounts=accounts, seed=seed)
        liquidity = LiquidityModel(depth=depth)
        if journal:
            journal_to_create(journal, "--journal", fresh=True)
        ev_ = _event(event)
        candles = _candles(ev_, gaps, source_id)
        path = intrabar_path(candles, intrabar)
        with run_folder("replay", ev_.name, out, force=force) as out_dir:
            url = journal or str(out_dir / "journal.sqlite")
            if not journal:  # a run forced into an earlier run's folder starts its own journal
                for suffix in ("", "-wal", "-shm"):
                    Path(url + suffix).unlink(missing_ok=True)
            with progress(ev_.name, "prices") as bar:
                task = bar.add_task("replay", total=len(path.ts_ns))
                result = run_replay(path.ts_ns, path.price, name=ev_.name, population=population, liquidity=liquidity,
                                    journal_url=url, oracle=faults, venue=venue, progress=lambda k, n: bar.update(task, completed=k))
            paths = write_report(result, out_dir)
    s = result.summary
    table = Table(title=f"{ev_.title}: {candles.source or ''} ({len(path.ts_ns):,} prices, low {s['low']:,.2f}, −{s['drawdown']:.0%})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("traders", f"{s['accounts']:,}"),
        ("margin calls", f"{s['margin_calls']:,}"),
        ("liquidation steps", f"{s['liquidation_steps']:,}"),
        ("liquidated notional (USDC)", f"{s['liquidated_notional_usdc']:,.0f}"),
        ("bankrupt accounts", f"{s['bankruptcies']:,}"),
        ("bankruptcy deficit: losses beyond the accounts' collateral (USDC)", f"{s['bankruptcy_deficit_usdc']:,.0f}"),
        ("  of which beyond the insurance fund (USDC)", f"{s['loss_beyond_fund_usdc']:,.0f}"),
        ("insurance fund start → end (USDC)", f"{s['insurance_fund_start_usdc']:,.0f} → {s['insurance_fund_end_usdc']:,.0f}"),
        *[(f"layer: {k.replace('_', ' ')} (USDC)", f"{v:,.0f}") for k, v in result.totals.items()],
        ("auto-deleveraging fills", f"{s['deleverages']:,}"),
        ("backstop vault equity at end (USDC)", f"{s['vault_equity_end_usdc']:,.0f}"),
        ("oracle: steps with an invalid reading / liquidation blocked", f"{s['steps_oracle_invalid']:,} / {s['steps_liquidation_blocked']:,}"),
        ("oracle gates: steps tripped", ", ".join(f"{g.replace('_', ' ')} {n}" for g, n in s["steps_gate_tripped"].items() if n) or "none"),
        ("oracle sources rejected as outliers", f"{s['outlier_rejections']:,}"),
        ("circuit breakers: trips / resets", f"{s['breaker_trips']:,} / {s['breaker_resets']:,}"),
        ("value conserved", "yes" if s["value_conserved"] else "NO"),
        ("journal replay reproduces the state hash", "yes" if s["replay_identical"] else "NO"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    show_files(paths["html"], summary=paths["json"], series=paths["series"], journal=url)
    if not s["replay_identical"]:
        raise typer.Exit(1)


# --------------------------------------------------------------------------------------------------
# Monte Carlo: stress, coverage, calibrate


def stress(
    scenario: str = typer.Option("garch", help="historical, jump, garch, gpd, correlation, oracle-outage, oracle-latency or liquidity"),
    paths: int = typer.Option(40, help="Monte Carlo paths"),
    steps: int = typer.Option(96, help="observations per synthetic path"),
    step_seconds: int = typer.Option(3600, help="time between observations (s)"),
    accounts: int = typer.Option(500, help="traders in the population"),
    seed: int = typer.Option(1, help="seed: path i depends only on (seed, i)"),
    vol_scale: float = typer.Option(1.0, help="multiplies simulated returns (above 1: a stressed regime)"),
    base: str = typer.Option("garch", help="path family under oracle-outage, oracle-latency and liquidity: historical, jump, garch, gpd"),
    event: str = typer.Option("black-thursday-2020", help="the crash the historical family scales"),
    fund: float = typer.Option(250_000.0, help="insurance fund at the start (USDC)"),
    out: Path = out_option("stress"),
    force: bool = force_option(),
    cluster: str = typer.Option("", help=_CLUSTER_HELP),
    checkpoint: Path = typer.Option(None, help="JSON-lines file of finished paths; a rerun resumes from it"),
) -> None:
    """Monte Carlo stress through the engine: the distribution of bad debt and P(insurance fund exhausted)."""
    from decimal import Decimal

    from ramparts.lab.cluster import TaskRunner, parse_cluster
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import VenueSpec
    from ramparts.lab.stress import StressSpec, fit_models, run_stress, run_task, write_stress_report

    with user_errors(FIELDS, REWORDING):
        spec = StressSpec(scenario=scenario, n_paths=paths, n_steps=steps, step_s=step_seconds, seed=seed, vol_scale=vol_scale,
                          base=base, event=event)
        if not (fund >= 0 and fund < 1e12):
            raise InvalidInput("fund", f"must lie in [0, 1e12) USDC, got {fund}")
        population = PopulationSpec(n_accounts=accounts, seed=seed)
        parse_cluster(cluster)
        _event(event, "--event")
        with run_folder("stress", scenario, out, force=force) as out_dir:
            with console.status("fitting GARCH-t and GPD tails to hourly history"):
                fits = fit_models()
            with progress(f"stress {scenario}", "paths") as bar:
                task = bar.add_task("stress", total=paths)
                runner = TaskRunner(run_task, cluster, progress=lambda k, n: bar.update(task, completed=k), checkpoint=checkpoint)
                result = run_stress(spec, population=population, venue=VenueSpec(insurance_fund=Decimal(repr(fund))), fits=fits,
                                    runner=runner)
            files = write_stress_report(result, out_dir)
    s = result.summary
    table = Table(title=f"stress {scenario}: {paths} paths × {accounts} traders, insurance fund {fund:,.0f} USDC")
    table.add_column("figure")
    table.add_column("value", justify="right")
    lo, hi = s["p_fund_exhausted_ci95"]
    d, b = s["bankruptcy_deficit_usdc"], s["loss_beyond_fund_usdc"]
    for k, v in [
        ("P(insurance fund exhausted)", f"{s['p_fund_exhausted']:.1%} (95% CI {lo:.1%}–{hi:.1%})"),
        ("P(loss beyond the fund: ADL / socialised / bad debt)", f"{s['p_loss_beyond_fund']:.1%}"),
        ("P(any bankruptcy)", f"{s['p_any_bankruptcy']:.1%}"),
        ("bankruptcy deficit: mean / q95 / q99 / max (USDC)", f"{d['mean']:,.0f} / {d['q95']:,.0f} / {d['q99']:,.0f} / {d['max']:,.0f}"),
        ("loss beyond the fund: mean / q95 / q99 / max (USDC)", f"{b['mean']:,.0f} / {b['q95']:,.0f} / {b['q99']:,.0f} / {b['max']:,.0f}"),
        ("median drawdown of the paths", f"{s['median_drawdown']:.1%}"),
        ("mean liquidated notional (USDC)", f"{s['mean_liquidated_notional_usdc']:,.0f}"),
    ]:
        table.add_row(k, v)
    console.print(table)
    show_files(files["html"], summary=files["json"], paths=files["paths"])


def coverage(
    model: str = typer.Option("garch", help="garch, jump, gpd or normal (return model fitted to hourly BTC)"),
    horizon: int = typer.Option(24, help="steps in the liquidation horizon"),
    step_seconds: int = typer.Option(3600, help="seconds per step"),
    paths: int = typer.Option(1_000_000, help="Monte Carlo paths"),
    chunk: int = typer.Option(1_048_576, help="paths per random stream (results depend on seed and chunk)"),
    backend: str = typer.Option("auto", help="auto (a GPU through CuPy when there is one), numpy or cupy"),
    levels: str = typer.Option("0.99,0.999,0.9999", help="confidence levels"),
    vol_scale: float = typer.Option(1.0, help="multiplies simulated returns (above 1: a stressed regime)"),
    sigma: float = typer.Option(None, help="per-step sigma of the normal model (default: fitted)"),
    seed: int = typer.Option(1, help="seed"),
    out: Path = out_option("coverage"),
    force: bool = force_option(),
) -> None:
    """Margin coverage Monte Carlo: how far the price moves against a position within the liquidation horizon."""
    from ramparts.engine.presets import BTC_TIERS
    from ramparts.lab.coverage import CoverageSpec, resolve_backend, run_coverage, write_coverage_report

    with user_errors(FIELDS, REWORDING):
        backend = resolve_backend(backend)
        spec = CoverageSpec(model=model, horizon_steps=horizon, step_s=step_seconds, n_paths=paths, chunk_paths=chunk, seed=seed,
                            levels=_floats(levels, "levels"), vol_scale=vol_scale, sigma=sigma)
        with run_folder("coverage", model, out, force=force) as out_dir:
            with progress(f"coverage {model}", "paths") as bar:
                task = bar.add_task("coverage", total=paths)
                result = run_coverage(spec, backend=backend, progress=lambda k, n: bar.update(task, completed=k))
            tiers = {f"BTC MM {float(t[2]):.2%} (from {int(t[0]):,})": float(t[2]) for t in BTC_TIERS[:4]}
            files = write_coverage_report(result, out_dir, tier_rates=tiers)
    s = result.summary
    table = Table(title=f"coverage {model}: {paths:,} paths of {horizon} × {step_seconds} s on {result.backend} ({result.seconds:.1f} s)")
    table.add_column("loss (fraction of notional)")
    for q in spec.levels:
        table.add_column(f"VaR {q:g}", justify="right")
        table.add_column(f"ES {q:g}", justify="right")
    for name, rows in s["losses"].items():
        table.add_row(name.replace("_", ", "), *(f"{rows[f'{q:g}'][k]:.2%}" for q in spec.levels for k in ("var", "es")))
    console.print(table)
    show_files(files["html"], summary=files["json"], curve=files["csv"])


def calibrate(
    margin_scale: str = typer.Option("0.5,1,2,4", help="multipliers of the BTC tier table's margin rates"),
    im_to_mm: str = typer.Option("2", help="initial margin as a multiple of maintenance"),
    buffer: str = typer.Option("0.1", help="liquidation buffer above maintenance"),
    penalty: str = typer.Option("0.01", help="liquidation penalty (fraction of notional)"),
    max_fraction: str = typer.Option("0.2,1", help="largest fraction of a position one liquidation step closes"),
    events: str = typer.Option("black-thursday-2020", help="comma-separated historical crashes (empty for none)"),
    scenario: str = typer.Option("jump", help="synthetic stress family (none: history only)"),
    paths: int = typer.Option(8, help="synthetic paths per parameter set"),
    steps: int = typer.Option(48, help="observations per synthetic path"),
    accounts: int = typer.Option(300, help="traders in the population"),
    seed: int = typer.Option(1, help="seed of the population and the paths"),
    out: Path = out_option("calibrate"),
    force: bool = force_option(),
    cluster: str = typer.Option("", help=_CLUSTER_HELP),
    checkpoint: Path = typer.Option(None, help="JSON-lines file of finished runs; a rerun resumes from it"),
) -> None:
    """Sweep margin parameters over history and synthetic paths; plot capital efficiency against bad debt; print the Pareto set."""
    from ramparts.lab.calibrate import (
        PARAMETERS,
        ParameterGrid,
        Scenarios,
        evaluate_task,
        run_calibration,
        write_calibration_report,
    )
    from ramparts.lab.cluster import TaskRunner, parse_cluster
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.stress import StressSpec

    with user_errors(FIELDS, REWORDING):
        grid = ParameterGrid(margin_scale=_floats(margin_scale, "margin_scale"), im_to_mm=_floats(im_to_mm, "im_to_mm"),
                             buffer=_floats(buffer, "buffer"), penalty=_floats(penalty, "penalty"),
                             max_fraction=_floats(max_fraction, "max_fraction"))
        stress_spec = None if scenario == "none" else StressSpec(scenario=scenario, n_paths=paths, n_steps=steps, seed=seed)
        names = tuple(e.strip() for e in events.split(",") if e.strip())
        for name in names:
            _event(name, "--events")
        scen = Scenarios(events=names, stress=stress_spec)
        population = PopulationSpec(n_accounts=accounts, seed=seed)
        parse_cluster(cluster)
        total = grid.size * len(scen.labels())
        with run_folder("calibrate", "+".join((*names, scenario)), out, force=force) as out_dir:
            with progress("calibrate", "runs") as bar:
                task = bar.add_task("calibrate", total=total)
                runner = TaskRunner(evaluate_task, cluster, progress=lambda k, n: bar.update(task, completed=k), checkpoint=checkpoint)
                result = run_calibration(grid, scen, population=population, runner=runner)
            files = write_calibration_report(result, out_dir)
    f = result.frontier
    table = Table(title=f"Pareto set: {int(f['pareto'].sum())} of {len(f)} parameter sets ({len(scen.labels())} scenarios each)")
    short = {"margin_scale": "scale", "im_to_mm": "IM/MM", "buffer": "buffer", "penalty": "penalty", "max_fraction": "step"}
    for col in (*(short[p] for p in PARAMETERS), "avg IM", "P(bad debt)", "fund draw", "deficit"):
        table.add_column(col, justify="right")
    for _, row in f[f["pareto"]].sort_values("avg_initial_margin_rate").iterrows():
        table.add_row(*(f"{row[p]:g}" for p in PARAMETERS), f"{row['avg_initial_margin_rate']:.3%}", f"{row['p_bad_debt']:.1%}",
                      f"{row['mean_fund_draw_usdc']:,.0f}", f"{row['mean_deficit_usdc']:,.0f}")
    console.print(table)
    show_files(files["html"], frontier=files["json"], runs=files["runs"])


# --------------------------------------------------------------------------------------------------
# backtest-margin


def backtest_margin(
    source: str = typer.Argument("btc-hourly", help="btc-hourly (Binance spot 2017-2022), a named crash, or a candle file"),
    model: str = typer.Option("ewma", help="flat (a constant --rate), ewma (RiskMetrics), historical (rolling quantile) or "
                                            "historical-apc (with EMIR's 25 % buffer released in stress)"),
    rate: float = typer.Option(None, help="the flat model's requirement, a fraction of notional (--model flat only)"),
    horizon: int = typer.Option(1, help="margin period of risk, in observations"),
    coverage: float = typer.Option(0.99, help="the coverage the requirement claims"),
    worst: bool = typer.Option(False, help="measure the worst point inside the horizon, not its end"),
    source_id: str = typer.Option("", help=_SOURCE_ID_HELP),
    gaps: str = typer.Option("forward_fill", help=_GAPS_HELP),
    out: Path = out_option("backtest-margin"),
    force: bool = force_option(),
) -> None:
    """Backtest a margin model: exceedances, Kupiec and Christoffersen tests, Basel traffic light."""
    import json

    import numpy as np

    from ramparts.data import data_path
    from ramparts.lab.backtest import backtest_margin as run_backtest
    from ramparts.lab.backtest import requirement_series
    from ramparts.lab.history import load_candles
    from ramparts.lab.stress import HOURLY

    if model == "flat" and rate is None:
        fail("--model flat needs --rate, the requirement as a fraction of notional (e.g. --rate 0.05)")
    if model != "flat" and rate is not None:
        fail(f"--rate is the flat model's requirement; --model {model} computes its own")
    with user_errors(FIELDS, REWORDING):
        selection = {"source_id": source_id} if source_id else {}
        if source == "btc-hourly":
            label = source
            candles = load_candles(data_path(HOURLY["BTC"]), gaps=gaps, **selection)
        else:
            ev_ = _event(source, "SOURCE")
            label = ev_.name
            candles = _candles(ev_, gaps, source_id)
        prices = candles.close
        req = requirement_series(prices, model, horizon=horizon, coverage=coverage, rate=rate)
        ok = np.isfinite(req)
        first = int(np.argmax(ok))
        if not ok.any() or not ok[first:].all():
            raise InvalidInput("source", "too little history for this model")
        bt = run_backtest(prices[first:], req[first:], horizon, coverage, worst_within_horizon=worst)
        with run_folder("backtest-margin", f"{label}-{model}", out, force=force) as out_dir:
            summary = {"source": source, "source_id": source_id or None, "model": model, "rate": rate, **bt.summary()}
            (out_dir / "backtest.json").write_text(json.dumps(summary, indent=2))
            _backtest_figure(candles.ts_ns[first:], bt, f"{model} margin on {label}").write_html(out_dir / "report.html",
                                                                                                include_plotlyjs="inline")
    table = Table(title=f"margin backtest: {model} on {label}, horizon {horizon}, coverage {coverage:.2%}")
    for col in ("side", "obs", "hits", "rate", "expected", "Kupiec p", "Chr. p", "Basel"):
        table.add_column(col, justify="right")
    for side in (bt.long, bt.short):
        ind = "-" if side.independence is None else f"{side.independence.pvalue:.3f}"
        colour = {"green": "green", "yellow": "yellow", "red": "red"}.get(side.traffic_light, "white")
        table.add_row(side.side, f"{side.n_obs:,}", f"{side.n_exceed:,}", f"{side.exceed_rate:.3%}", f"{1 - coverage:.3%}",
                      f"{side.kupiec.pvalue:.3f}", ind, f"[{colour}]{side.traffic_light}[/]")
    console.print(table)
    show_files(out_dir / "report.html", summary=out_dir / "backtest.json")


def _backtest_figure(ts_ns, bt, title: str):
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    idx = bt.start_index
    t = pd.to_datetime(np.asarray(ts_ns)[idx], unit="ns", utc=True)
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=t, y=bt.long.losses, mode="lines", name="long loss", line={"color": "#999", "width": 0.6}))
    fig.add_trace(go.Scattergl(x=t, y=bt.long.requirements, mode="lines", name="requirement", line={"color": "#1f77b4"}))
    hit = bt.long.hits
    fig.add_trace(go.Scattergl(x=t[hit], y=bt.long.losses[hit], mode="markers", name="long exceedances", marker={"color": "#d62728", "size": 5}))
    hit_s = bt.short.hits
    fig.add_trace(go.Scattergl(x=t[hit_s], y=-bt.short.losses[hit_s], mode="markers", name="short exceedances (shown negative)",
                               marker={"color": "#ff7f0e", "size": 5}))
    fig.update_layout(title=title, yaxis_tickformat=".1%", template="plotly_white", height=600)
    return fig


# --------------------------------------------------------------------------------------------------
# compare, depeg, replay-options


def compare(
    event: str = typer.Argument("black-thursday-2020", help=_EVENT_HELP),
    venues: str = typer.Option("ramparts,binance,dydx,hyperliquid,drift,derive", help="comma-separated venue profiles"),
    accounts: int = typer.Option(2000, help="traders in the population (the same for every venue)"),
    seed: int = typer.Option(1, help="population seed"),
    intrabar: str = typer.Option("worst_long", help=_INTRABAR_HELP),
    source_id: str = typer.Option("", help=_SOURCE_ID_HELP),
    gaps: str = typer.Option("error", help=_GAPS_HELP),
    out: Path = out_option("compare"),
    force: bool = force_option(),
) -> None:
    """The same crash and population through several venue profiles, side by side in one report."""
    from ramparts.lab.compare import FIGURES, run_compare, write_compare_report
    from ramparts.lab.history import intrabar_path
    from ramparts.lab.population import PopulationSpec
    from ramparts.venues.profiles import profile

    with user_errors(FIELDS, REWORDING):
        profiles = [profile(v.strip()) for v in venues.split(",") if v.strip()]
        if not profiles:
            raise InvalidInput("venues", "name at least one venue profile")
        population = PopulationSpec(n_accounts=accounts, seed=seed)
        ev_ = _event(event)
        path = intrabar_path(_candles(ev_, gaps, source_id), intrabar)
        n = len(path.ts_ns)
        with run_folder("compare", ev_.name, out, force=force) as out_dir:
            with progress("compare", "prices") as bar:
                task = bar.add_task("compare", total=n * len(profiles))
                done: dict[str, int] = {}

                def tick(venue: str, k: int, total: int) -> None:
                    done[venue] = k
                    bar.update(task, completed=sum(done.values()), description=venue)

                table, results = run_compare(path.ts_ns, path.price, profiles, name=ev_.name, population=population, progress=tick)
            files = write_compare_report(table, results, profiles, out_dir,
                                         f"{ev_.title}: {accounts:,} traders through {len(profiles)} venue designs")
    t = Table(title=f"{ev_.title}: the same {accounts:,} traders on each venue")
    t.add_column("figure")
    for v in table["venue"]:
        t.add_column(v, justify="right")
    for k, label in FIGURES.items():
        fmt = (lambda x: f"{x:.2%}") if k == "initial_margin_rate_avg" else (lambda x: f"{x:,.0f}")
        t.add_row(label, *(fmt(x) for x in table[k]))
    t.add_row("value conserved / replay identical", *("yes" if a and b else "NO" for a, b in zip(table["value_conserved"], table["replay_identical"], strict=True)))
    console.print(t)
    show_files(files["html"], summary=files["json"])


def depeg(
    source: str = typer.Argument("usdc-2023", help="usdc-2023 (USDC/USD, March 2023) or synthetic (an LST depeg to --trough)"),
    accounts: int = typer.Option(2000, help="accounts posting the pegged asset as collateral (with --engine: default 500)"),
    seed: int = typer.Option(1, help="population seed"),
    trough: float = typer.Option(0.90, help="synthetic: lowest market / peg ratio"),
    static_haircut: float = typer.Option(0.02, help="the asset's static haircut"),
    depeg_threshold: float = typer.Option(0.98, help="market / peg ratio below which the depeg haircut starts"),
    depeg_factor: float = typer.Option(1.2, help="depeg haircut per unit of ratio below the threshold"),
    out: Path = out_option("depeg"),
    force: bool = force_option(),
    engine: bool = typer.Option(False, "--engine", help="run the depeg through the journaled engine (USDC collateral on a USDT venue "
                                                        "against BTC-PERP positions), once per valuation"),
    btc: str = typer.Option("history", help="with --engine: the BTC path, history (March 2023 daily) or flat"),
) -> None:
    """A pegged collateral asset loses its peg: accounts below maintenance at peg, with a static haircut, with the depeg defence."""
    from ramparts.lab.depeg import DepegSpec, run_depeg, write_depeg_report

    if engine:
        return _depeg_engine(source, accounts if accounts != 2000 else 500, seed, static_haircut, depeg_threshold, depeg_factor, out,
                             force, btc)
    with user_errors(FIELDS, REWORDING):
        spec = DepegSpec(source=source, accounts=accounts, seed=seed, trough=trough, static_haircut=static_haircut,
                         depeg_threshold=depeg_threshold, depeg_factor=depeg_factor)
        with run_folder("depeg", source, out, force=force) as out_dir:
            with console.status("valuing collateral along the peg path"):
                result = run_depeg(spec)
            files = write_depeg_report(result, out_dir)
    s = result.summary
    t = Table(title=f"{result.label}: lowest {s['lowest_ratio']:.4f} at {s['at']}; {accounts:,} accounts, {s['collateral_usd']:,.0f} USD posted")
    for col in ("valuation", "most accounts below maintenance", "largest total shortfall (USD)"):
        t.add_column(col, justify="right")
    for k, label in (("at_peg", "at peg (trusting the peg)"), ("static", "market price, static haircut"), ("defended", "depeg defence")):
        t.add_row(label, f"{s[f'max_breach_{k}']:,}", f"{s[f'max_shortfall_{k}']:,.0f}")
    console.print(t)
    console.print(f"largest haircut in force: {s['max_haircut_in_force']:.2%}", highlight=False)
    show_files(files["html"], summary=files["json"], series=files["series"])


def _depeg_engine(source: str, accounts: int, seed: int, static_haircut: float, depeg_threshold: float, depeg_factor: float,
                  out: Path | None, force: bool, btc: str) -> None:
    import json

    from ramparts.lab.depeg import DepegSpec, run_engine_depeg_compare

    with user_errors(FIELDS, REWORDING):
        spec = DepegSpec(source=source, accounts=accounts, seed=seed, static_haircut=static_haircut,
                         depeg_threshold=depeg_threshold, depeg_factor=depeg_factor)
        if btc not in ("history", "flat"):
            raise InvalidInput("btc", f"expected history or flat, got {btc!r}")
        with run_folder("depeg", f"{source}-engine", out, force=force) as out_dir:
            with console.status("replaying the depeg through the engine (three valuations)"):
                runs = run_engine_depeg_compare(spec, btc=btc)
            (out_dir / "summary.json").write_text(json.dumps({k: r["summary"] for k, r in runs.items()}, indent=2, default=str))
            for k, r in runs.items():
                r["series"].to_parquet(out_dir / f"series-{k}.parquet", index=False)
    first = next(iter(runs.values()))["summary"]
    t = Table(title=f"{first['label']} through the engine: {accounts:,} accounts posting {first['collateral_usd']:,.0f} USDC "
                    f"against BTC-PERP (BTC {btc})")
    t.add_column("figure")
    labels = {"at_peg": "trusting the peg", "static": "market, static haircut", "defended": "depeg defence"}
    for k in runs:
        t.add_column(labels[k], justify="right")
    rows = [("lowest value of 1 USDC (USDT)", "lowest_value_per_usdc", "{:.6f}"), ("accounts margin-called", "margin_called", "{:,}"),
            ("accounts liquidated", "liquidated", "{:,}"), ("accounts bankrupt", "bankrupt", "{:,}"),
            ("collateral seized: paid by the vault (USDT)", "seized_value", "{:,.0f}"),
            ("  its market value (USDT)", "seized_market_value", "{:,.0f}"), ("  vault overpaid (USDT)", "vault_overpaid", "{:,.0f}"),
            ("insurance fund draws (USDT)", "insurance_draws", "{:,.0f}"), ("adl notional (USDT)", "adl_notional", "{:,.0f}"),
            ("bad debt (USDT)", "recorded_bad_debt", "{:,.0f}"), ("dynamic haircut updates", "haircut_updates", "{:,}"),
            ("value conserved per asset", "value_conserved_per_asset", "{}"), ("journal replay reproduces the hash", "replay_matches", "{}")]
    for label, key, fmt in rows:
        t.add_row(label, *[fmt.format(r["summary"][key]) for r in runs.values()])
    console.print(t)
    show_files(out_dir / "summary.json", label="summary", series=out_dir / "series-<valuation>.parquet")


def replay_options(
    event: str = typer.Argument("yen-carry-2024", help="a built-in crash window (DVOL covers ftx-2022, yen-carry-2024, "
                                                       "tariff-cascade-2025) or a candle file"),
    pairs: int = typer.Option(200, help="accounts, each run once in portfolio and once in cross margin"),
    every: int = typer.Option(1, min=1, help="use every n-th observation (coarser and faster)"),
    vol: float = typer.Option(0.6, help="implied vol when DVOL does not cover the window"),
    seed: int = typer.Option(1, help="population seed"),
    source_id: str = typer.Option("", help=_SOURCE_ID_HELP),
    gaps: str = typer.Option("error", help=_GAPS_HELP),
    out: Path = out_option("replay-options"),
    force: bool = force_option(),
) -> None:
    """Option books (covered calls, protective puts, strangles, hedged short calls) through a crash, portfolio against cross margin."""
    from ramparts.lab.history import intrabar_path
    from ramparts.lab.options_replay import OptionsPopulation, run_options_replay, write_options_report

    with user_errors(FIELDS, REWORDING):
        population = OptionsPopulation(pairs=pairs, seed=seed)
        ev_ = _event(event)
        path = intrabar_path(_candles(ev_, gaps, source_id), "close")
        ts, px = path.ts_ns[::every], path.price[::every]
        with run_folder("replay-options", ev_.name, out, force=force) as out_dir:
            with progress(f"options {ev_.name}", "prices") as bar:
                task = bar.add_task("options", total=len(ts))
                s = run_options_replay(ts, px, name=ev_.name, population=population, vol=vol,
                                       progress=lambda k, n: bar.update(task, completed=k))
            files = write_options_report(s, out_dir)
    t = Table(title=f"{ev_.title}: {pairs} option books in each margin mode (vol: {s['vol_source']})")
    t.add_column("figure")
    t.add_column("portfolio", justify="right")
    t.add_column("cross", justify="right")
    t.add_row("initial margin posted at the open (USDC)", *(f"{s['initial_margin_at_open_usdc'][m]:,.0f}" for m in ("portfolio", "cross")))
    for k, label in (("margin_calls", "margin calls"), ("liquidation_steps", "liquidation steps"), ("bankruptcies", "bankruptcies"),
                     ("deficit_usdc", "bankruptcy deficit (USDC)")):
        t.add_row(label, *(f"{s['modes'][m][k]:,.0f}" for m in ("portfolio", "cross")))
    console.print(t)
    console.print(f"opening fills refused (initial margin): {s['opening_rejected']}; value conserved; journal replay identical: "
                  f"{'yes' if s['replay_identical'] else 'NO'}", highlight=False)
    show_files(files["html"], summary=files["json"], series=files["series"])


#: The commands this module adds to ``ramparts``, in the order ``ramparts --help`` lists them.
COMMANDS: tuple[tuple[str, Any], ...] = (
    ("demo", demo),
    ("replay", replay),
    ("stress", stress),
    ("coverage", coverage),
    ("calibrate", calibrate),
    ("backtest-margin", backtest_margin),
    ("compare", compare),
    ("depeg", depeg),
    ("replay-options", replay_options),
)


def register(app: typer.Typer) -> None:
    """Add the lab's commands to the root app."""
    for name, fn in COMMANDS:
        app.command(name)(fn)


__all__ = ["COMMANDS", "FIELDS", "REWORDING", "register"]
