"""The ``ramparts`` command line (typer + rich).

Every user mistake (a bad file, a bad value, an unknown name) is reported as one clear line and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ramparts.errors import InvalidInput, RampartsError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ramparts: a layered margin and liquidation engine.")
console = Console()


def _fail(exc: Exception, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code)


def _usdc(units: int) -> str:
    return f"{units / 1e6:,.2f}"


@app.command()
def demo(
    accounts: int = typer.Option(200, help="number of traders in the population"),
    steps: int = typer.Option(240, help="one-minute oracle ticks in the crash"),
    depth: float = typer.Option(0.45, help="depth of the crash (0.45 = −45 %)"),
    seed: int = typer.Option(7, help="random seed"),
    journal: str = typer.Option("", help="journal URL (default: a temporary SQLite file)"),
) -> None:
    """Run a seeded population through a synthetic crash, journaled, and verify the replay."""
    from ramparts.lab.demo import run_demo

    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = journal or str(Path(tmp) / "demo.sqlite")
            with Progress(TextColumn("[bold]crash"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("crash", total=steps)
                res = run_demo(url, accounts=accounts, steps=steps, depth=depth, seed=seed, progress=lambda k, n: bar.update(task, completed=k))
    except RampartsError as exc:
        _fail(exc)
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
    if not res.conserved or res.replay_hash != res.state_hash:
        raise typer.Exit(1)


@app.command()
def replay(
    event: str = typer.Argument(..., help="a built-in crash window (black-thursday-2020, china-ban-2021, ftx-2022, yen-carry-2024, tariff-cascade-2025) or a candle file"),
    accounts: int = typer.Option(2000, help="traders in the population"),
    seed: int = typer.Option(1, help="population seed"),
    intrabar: str = typer.Option("worst_long", help="intra-bar path: worst_long (open→low→high→close), worst_short, olhc, ohlc, close"),
    source_id: str = typer.Option("", help="series to replay from a multi-series file (default: the event's)"),
    depth: float = typer.Option(50_000_000.0, help="book depth (USDC) of the square-root impact model"),
    gaps: str = typer.Option("error", help="gap policy: error, forward_fill or skip"),
    out: Path = typer.Option(None, help="output directory (default reports/<event>)"),
    journal: str = typer.Option("", help="journal URL (default: <out>/journal.sqlite)"),
    oracle_sources: int = typer.Option(0, help="0: one trusted oracle feed; 2-16: quotes from that many sources through the aggregator and gates"),
    outage: str = typer.Option("", help="START:STEPS, an oracle outage from observation START for STEPS observations"),
    glitch: str = typer.Option("", help="START:STEPS, one oracle source quoting half the price (needs --oracle-sources)"),
    wide_conf: str = typer.Option("", help="START:STEPS, every source reporting a 5 %% confidence interval (needs --oracle-sources)"),
    breakers: bool = typer.Option(False, help="arm circuit breakers: a 10 %/hour move pauses new risk; a fund below 10 % pauses withdrawals"),
) -> None:
    """Replay a real crash through the engine with a seeded population; write HTML, JSON and Parquet."""
    from ramparts.lab.history import intrabar_path, resolve_event
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import DEFAULT_BREAKERS, VenueSpec, run_replay
    from ramparts.lab.report import write_report

    try:
        faults = _oracle_faults(oracle_sources, outage, glitch, wide_conf)
        venue = VenueSpec(breakers=DEFAULT_BREAKERS) if breakers else VenueSpec()
        ev_ = resolve_event(event)
        candles = ev_.load(gaps=gaps, **({"source_id": source_id} if source_id else {}))
        path = intrabar_path(candles, intrabar)
        out_dir = out or Path("reports") / ev_.name
        out_dir.mkdir(parents=True, exist_ok=True)
        url = journal or str(out_dir / "journal.sqlite")
        if not journal and Path(url).exists():
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
        with Progress(TextColumn(f"[bold]{ev_.name}"), BarColumn(), TextColumn("{task.completed}/{task.total} prices"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("replay", total=len(path.ts_ns))
            result = run_replay(path.ts_ns, path.price, name=ev_.name, population=PopulationSpec(n_accounts=accounts, seed=seed),
                                liquidity=LiquidityModel(depth=depth), journal_url=url, oracle=faults, venue=venue,
                                progress=lambda k, n: bar.update(task, completed=k))
        paths = write_report(result, out_dir)
    except RampartsError as exc:
        _fail(exc)
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
    console.print(f"report: {paths['html']}  summary: {paths['json']}  series: {paths['series']}")
    if not s["replay_identical"]:
        raise typer.Exit(1)


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InvalidInput(name, f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise InvalidInput(name, "needs at least one value")
    return vals


def _progress(label: str, unit: str):
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("{task.completed}/{task.total} " + unit), TimeElapsedColumn(),
                    console=console)


@app.command()
def stress(
    scenario: str = typer.Option("garch", help="historical, jump, garch, gpd, correlation, oracle-outage, oracle-latency or liquidity"),
    paths: int = typer.Option(40, help="Monte Carlo paths"),
    steps: int = typer.Option(96, help="observations per synthetic path"),
    step_seconds: int = typer.Option(3600, help="time between observations (s)"),
    accounts: int = typer.Option(500, help="traders in the population"),
    seed: int = typer.Option(1, help="seed: path i depends only on (seed, i)"),
    vol_scale: float = typer.Option(1.0, help="multiplies simulated returns (> 1: a stressed regime)"),
    base: str = typer.Option("garch", help="path family under oracle-outage, oracle-latency and liquidity: historical, jump, garch, gpd"),
    event: str = typer.Option("black-thursday-2020", help="the crash the historical family scales"),
    fund: float = typer.Option(250_000.0, help="insurance fund at the start (USDC)"),
    out: Path = typer.Option(None, help="output directory (default reports/stress-<scenario>)"),
    cluster: str = typer.Option("", help="'' in process, local:N (a Dask cluster of N workers here) or tcp://host:port"),
    checkpoint: Path = typer.Option(None, help="JSON-lines file of finished paths; a rerun resumes from it"),
) -> None:
    """Monte Carlo stress through the engine: the distribution of bad debt and P(insurance fund exhausted)."""
    from decimal import Decimal

    from ramparts.lab.cluster import TaskRunner
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import VenueSpec
    from ramparts.lab.stress import StressSpec, fit_models, run_stress, run_task, write_stress_report

    try:
        spec = StressSpec(scenario=scenario, n_paths=paths, n_steps=steps, step_s=step_seconds, seed=seed, vol_scale=vol_scale,
                          base=base, event=event)
        if not (fund >= 0 and fund < 1e12):
            raise InvalidInput("fund", f"must lie in [0, 1e12) USDC, got {fund}")
        population = PopulationSpec(n_accounts=accounts, seed=seed)
        with console.status("fitting GARCH-t and GPD tails to hourly history"):
            fits = fit_models()
        with _progress(f"stress {scenario}", "paths") as bar:
            task = bar.add_task("stress", total=paths)
            runner = TaskRunner(run_task, cluster, progress=lambda k, n: bar.update(task, completed=k), checkpoint=checkpoint)
            result = run_stress(spec, population=population, venue=VenueSpec(insurance_fund=Decimal(repr(fund))), fits=fits,
                                runner=runner)
        out_dir = out or Path("reports") / f"stress-{scenario}"
        files = write_stress_report(result, out_dir)
    except RampartsError as exc:
        _fail(exc)
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
    console.print(f"report: {files['html']}  summary: {files['json']}  paths: {files['paths']}")


@app.command()
def coverage(
    model: str = typer.Option("garch", help="garch, jump, gpd or normal (return model fitted to hourly BTC)"),
    horizon: int = typer.Option(24, help="steps in the liquidation horizon"),
    step_seconds: int = typer.Option(3600, help="seconds per step"),
    paths: int = typer.Option(1_000_000, help="Monte Carlo paths"),
    chunk: int = typer.Option(1_048_576, help="paths per random stream (results depend on seed and chunk)"),
    backend: str = typer.Option("auto", help="auto (a GPU through CuPy when there is one), numpy or cupy"),
    levels: str = typer.Option("0.99,0.999,0.9999", help="confidence levels"),
    vol_scale: float = typer.Option(1.0, help="multiplies simulated returns (> 1: a stressed regime)"),
    sigma: float = typer.Option(None, help="per-step sigma of the normal model (default: fitted)"),
    seed: int = typer.Option(1, help="seed"),
    out: Path = typer.Option(None, help="output directory (default reports/coverage-<model>)"),
) -> None:
    """Margin coverage Monte Carlo: how far the price moves against a position within the liquidation horizon."""
    from ramparts.engine.presets import BTC_TIERS
    from ramparts.lab.coverage import CoverageSpec, resolve_backend, run_coverage, write_coverage_report

    try:
        backend = resolve_backend(backend)
        spec = CoverageSpec(model=model, horizon_steps=horizon, step_s=step_seconds, n_paths=paths, chunk_paths=chunk, seed=seed,
                            levels=_floats(levels, "levels"), vol_scale=vol_scale, sigma=sigma)
        with _progress(f"coverage {model}", "paths") as bar:
            task = bar.add_task("coverage", total=paths)
            result = run_coverage(spec, backend=backend, progress=lambda k, n: bar.update(task, completed=k))
        tiers = {f"BTC MM {float(t[2]):.2%} (from {int(t[0]):,})": float(t[2]) for t in BTC_TIERS[:4]}
        files = write_coverage_report(result, out or Path("reports") / f"coverage-{model}", tier_rates=tiers)
    except RampartsError as exc:
        _fail(exc)
    s = result.summary
    table = Table(title=f"coverage {model}: {paths:,} paths of {horizon} × {step_seconds} s on {result.backend} ({result.seconds:.1f} s)")
    table.add_column("loss (fraction of notional)")
    for q in spec.levels:
        table.add_column(f"VaR {q:g}", justify="right")
        table.add_column(f"ES {q:g}", justify="right")
    for name, rows in s["losses"].items():
        table.add_row(name.replace("_", ", "), *(f"{rows[f'{q:g}'][k]:.2%}" for q in spec.levels for k in ("var", "es")))
    console.print(table)
    console.print(f"report: {files['html']}  summary: {files['json']}  curve: {files['csv']}")


@app.command()
def calibrate(
    margin_scale: str = typer.Option("0.5,1,2,4", help="multipliers of the BTC tier table's margin rates"),
    im_to_mm: str = typer.Option("2", help="initial margin as a multiple of maintenance"),
    buffer: str = typer.Option("0.1", help="liquidation buffer above maintenance"),
    penalty: str = typer.Option("0.01", help="liquidation penalty (fraction of notional)"),
    max_fraction: str = typer.Option("0.2,1", help="largest fraction of a position one liquidation step closes"),
    events: str = typer.Option("black-thursday-2020", help="comma-separated historical crashes ('' for none)"),
    scenario: str = typer.Option("jump", help="synthetic stress family ('none' for history only)"),
    paths: int = typer.Option(8, help="synthetic paths per parameter set"),
    steps: int = typer.Option(48, help="observations per synthetic path"),
    accounts: int = typer.Option(300, help="traders in the population"),
    seed: int = typer.Option(1, help="seed of the population and the paths"),
    out: Path = typer.Option(Path("reports/calibrate"), help="output directory"),
    cluster: str = typer.Option("", help="'' in process, local:N (a Dask cluster of N workers here) or tcp://host:port"),
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
    from ramparts.lab.cluster import TaskRunner
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.stress import StressSpec

    try:
        grid = ParameterGrid(margin_scale=_floats(margin_scale, "margin_scale"), im_to_mm=_floats(im_to_mm, "im_to_mm"),
                             buffer=_floats(buffer, "buffer"), penalty=_floats(penalty, "penalty"),
                             max_fraction=_floats(max_fraction, "max_fraction"))
        stress_spec = None if scenario == "none" else StressSpec(scenario=scenario, n_paths=paths, n_steps=steps, seed=seed)
        scen = Scenarios(events=tuple(e.strip() for e in events.split(",") if e.strip()), stress=stress_spec)
        total = grid.size * len(scen.labels())
        with _progress("calibrate", "runs") as bar:
            task = bar.add_task("calibrate", total=total)
            runner = TaskRunner(evaluate_task, cluster, progress=lambda k, n: bar.update(task, completed=k), checkpoint=checkpoint)
            result = run_calibration(grid, scen, population=PopulationSpec(n_accounts=accounts, seed=seed), runner=runner)
        files = write_calibration_report(result, out)
    except RampartsError as exc:
        _fail(exc)
    f = result.frontier
    table = Table(title=f"Pareto set: {int(f['pareto'].sum())} of {len(f)} parameter sets ({len(scen.labels())} scenarios each)")
    short = {"margin_scale": "scale", "im_to_mm": "IM/MM", "buffer": "buffer", "penalty": "penalty", "max_fraction": "step"}
    for col in (*(short[p] for p in PARAMETERS), "avg IM", "P(bad debt)", "fund draw", "deficit"):
        table.add_column(col, justify="right")
    for _, row in f[f["pareto"]].sort_values("avg_initial_margin_rate").iterrows():
        table.add_row(*(f"{row[p]:g}" for p in PARAMETERS), f"{row['avg_initial_margin_rate']:.3%}", f"{row['p_bad_debt']:.1%}",
                      f"{row['mean_fund_draw_usdc']:,.0f}", f"{row['mean_deficit_usdc']:,.0f}")
    console.print(table)
    console.print(f"report: {files['html']}  frontier: {files['json']}  runs: {files['runs']}")


@app.command("backtest-margin")
def backtest_margin_cmd(
    source: str = typer.Argument("btc-hourly", help="btc-hourly (Binance spot 2017-2022), a named crash, or a candle file"),
    model: str = typer.Option("ewma", help="flat (a constant --rate), ewma (RiskMetrics), historical (rolling quantile) or historical-apc (with EMIR's 25 % buffer released in stress)"),
    rate: float = typer.Option(None, help="the flat model's requirement, a fraction of notional"),
    horizon: int = typer.Option(1, help="margin period of risk, in observations"),
    coverage: float = typer.Option(0.99, help="the coverage the requirement claims"),
    worst: bool = typer.Option(False, help="measure the worst point inside the horizon, not its end"),
    out: Path = typer.Option(Path("reports/backtest"), help="output directory"),
) -> None:
    """Backtest a margin model: exceedances, Kupiec and Christoffersen tests, Basel traffic light."""
    import json

    import numpy as np

    from ramparts.lab.backtest import backtest_margin, requirement_series
    from ramparts.lab.history import load_candles, resolve_event, shared_data_dir
    from ramparts.lab.stress import HOURLY

    try:
        if source == "btc-hourly":
            candles = load_candles(shared_data_dir() / HOURLY["BTC"], gaps="forward_fill")
        else:
            candles = resolve_event(source).load(gaps="forward_fill")
        prices = candles.close
        req = requirement_series(prices, model, horizon=horizon, coverage=coverage, rate=rate)
        ok = np.isfinite(req)
        first = int(np.argmax(ok))
        if not ok.any() or not ok[first:].all():
            raise InvalidInput("source", "too little history for this model")
        bt = backtest_margin(prices[first:], req[first:], horizon, coverage, worst_within_horizon=worst)
        out.mkdir(parents=True, exist_ok=True)
        summary = {"source": source, "model": model, "rate": rate, **bt.summary()}
        (out / "backtest.json").write_text(json.dumps(summary, indent=2))
        _backtest_figure(candles.ts_ns[first:], bt, f"{model} margin on {source}").write_html(out / "report.html", include_plotlyjs="inline")
    except RampartsError as exc:
        _fail(exc)
    table = Table(title=f"margin backtest: {model} on {source}, horizon {horizon}, coverage {coverage:.2%}")
    for col in ("side", "obs", "hits", "rate", "expected", "Kupiec p", "Chr. p", "Basel"):
        table.add_column(col, justify="right")
    for side in (bt.long, bt.short):
        ind = "-" if side.independence is None else f"{side.independence.pvalue:.3f}"
        colour = {"green": "green", "yellow": "yellow", "red": "red"}.get(side.traffic_light, "white")
        table.add_row(side.side, f"{side.n_obs:,}", f"{side.n_exceed:,}", f"{side.exceed_rate:.3%}", f"{1 - coverage:.3%}",
                      f"{side.kupiec.pvalue:.3f}", ind, f"[{colour}]{side.traffic_light}[/]")
    console.print(table)
    console.print(f"report: {out / 'report.html'}  summary: {out / 'backtest.json'}")


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


@app.command()
def compare(
    event: str = typer.Argument("black-thursday-2020", help="a built-in crash window or a candle file"),
    venues: str = typer.Option("ramparts,binance,dydx,hyperliquid,drift,derive", help="comma-separated venue profiles"),
    accounts: int = typer.Option(2000, help="traders in the population (the same for every venue)"),
    seed: int = typer.Option(1, help="population seed"),
    intrabar: str = typer.Option("worst_long", help="intra-bar path"),
    out: Path = typer.Option(None, help="output directory (default reports/compare-<event>)"),
) -> None:
    """The same crash and population through several venue profiles, side by side in one report."""
    from ramparts.lab.compare import FIGURES, run_compare, write_compare_report
    from ramparts.lab.history import intrabar_path, resolve_event
    from ramparts.lab.population import PopulationSpec
    from ramparts.venues.profiles import profile

    try:
        profiles = [profile(v) for v in venues.split(",") if v.strip()]
        if not profiles:
            raise InvalidInput("venues", "name at least one venue profile")
        ev_ = resolve_event(event)
        path = intrabar_path(ev_.load(), intrabar)
        n = len(path.ts_ns)
        with _progress("compare", "prices") as bar:
            task = bar.add_task("compare", total=n * len(profiles))
            done = {}

            def tick(venue: str, k: int, total: int) -> None:
                done[venue] = k
                bar.update(task, completed=sum(done.values()), description=venue)

            table, results = run_compare(path.ts_ns, path.price, profiles, name=ev_.name,
                                         population=PopulationSpec(n_accounts=accounts, seed=seed), progress=tick)
        files = write_compare_report(table, results, profiles, out or Path("reports") / f"compare-{ev_.name}",
                                     f"{ev_.title}: {accounts:,} traders through {len(profiles)} venue designs")
    except RampartsError as exc:
        _fail(exc)
    t = Table(title=f"{ev_.title}: the same {accounts:,} traders on each venue")
    t.add_column("figure")
    for v in table["venue"]:
        t.add_column(v, justify="right")
    for k, label in FIGURES.items():
        fmt = (lambda x: f"{x:.2%}") if k == "initial_margin_rate_avg" else (lambda x: f"{x:,.0f}")
        t.add_row(label, *(fmt(x) for x in table[k]))
    t.add_row("value conserved / replay identical", *("yes" if a and b else "NO" for a, b in zip(table["value_conserved"], table["replay_identical"], strict=True)))
    console.print(t)
    console.print(f"report: {files['html']}  summary: {files['json']}")


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


@app.command()
def depeg(
    source: str = typer.Argument("usdc-2023", help="usdc-2023 (USDC/USD, March 2023) or synthetic (an LST depeg to --trough)"),
    accounts: int = typer.Option(2000, help="accounts posting the pegged asset as collateral"),
    seed: int = typer.Option(1, help="population seed"),
    trough: float = typer.Option(0.90, help="synthetic: lowest market / peg ratio"),
    static_haircut: float = typer.Option(0.02, help="the asset's static haircut"),
    depeg_threshold: float = typer.Option(0.98, help="market / peg ratio below which the depeg haircut starts"),
    depeg_factor: float = typer.Option(1.2, help="depeg haircut per unit of ratio below the threshold"),
    out: Path = typer.Option(None, help="output directory (default reports/depeg-<source>)"),
    engine: bool = typer.Option(False, "--engine", help="run the depeg through the journaled engine (USDC collateral on a USDT venue "
                                                        "against BTC-PERP positions), once per valuation"),
    btc: str = typer.Option("history", help="--engine: BTC path, history (March 2023 daily) or flat"),
) -> None:
    """A pegged collateral asset loses its peg: accounts below maintenance at peg, with a static haircut, with the depeg defence."""
    from ramparts.lab.depeg import DepegSpec, run_depeg, write_depeg_report

    if engine:
        return _depeg_engine(source, accounts if accounts != 2000 else 500, seed, static_haircut, depeg_threshold, depeg_factor, out, btc)

    try:
        spec = DepegSpec(source=source, accounts=accounts, seed=seed, trough=trough, static_haircut=static_haircut,
                         depeg_threshold=depeg_threshold, depeg_factor=depeg_factor)
        with console.status("valuing collateral along the peg path"):
            result = run_depeg(spec)
        files = write_depeg_report(result, out or Path("reports") / f"depeg-{source}")
    except RampartsError as exc:
        _fail(exc)
    s = result.summary
    t = Table(title=f"{result.label}: lowest {s['lowest_ratio']:.4f} at {s['at']}; {accounts:,} accounts, {s['collateral_usd']:,.0f} USD posted")
    for col in ("valuation", "most accounts below maintenance", "largest total shortfall (USD)"):
        t.add_column(col, justify="right")
    for k, label in (("at_peg", "at peg (trusting the peg)"), ("static", "market price, static haircut"), ("defended", "depeg defence")):
        t.add_row(label, f"{s[f'max_breach_{k}']:,}", f"{s[f'max_shortfall_{k}']:,.0f}")
    console.print(t)
    console.print(f"largest haircut in force: {s['max_haircut_in_force']:.2%}   report: {files['html']}")


@app.command("replay-options")
def replay_options(
    event: str = typer.Argument("yen-carry-2024", help="a built-in crash window (DVOL covers ftx-2022, yen-carry-2024, tariff-cascade-2025) or a candle file"),
    pairs: int = typer.Option(200, help="accounts, each run once in portfolio and once in cross margin"),
    every: int = typer.Option(1, help="use every n-th observation (coarser and faster)"),
    vol: float = typer.Option(0.6, help="implied vol when DVOL does not cover the window"),
    seed: int = typer.Option(1, help="population seed"),
    out: Path = typer.Option(None, help="output directory (default reports/options-<event>)"),
) -> None:
    """Option books (covered calls, protective puts, strangles, hedged short calls) through a crash, portfolio against cross margin."""
    from ramparts.lab.history import intrabar_path, resolve_event
    from ramparts.lab.options_replay import OptionsPopulation, run_options_replay, write_options_report

    try:
        if not (isinstance(every, int) and every >= 1):
            raise InvalidInput("every", "must be a positive int")
        ev_ = resolve_event(event)
        path = intrabar_path(ev_.load(), "close")
        ts, px = path.ts_ns[::every], path.price[::every]
        with _progress(f"options {ev_.name}", "prices") as bar:
            task = bar.add_task("options", total=len(ts))
            s = run_options_replay(ts, px, name=ev_.name, population=OptionsPopulation(pairs=pairs, seed=seed), vol=vol,
                                   progress=lambda k, n: bar.update(task, completed=k))
        files = write_options_report(s, out or Path("reports") / f"options-{ev_.name}")
    except RampartsError as exc:
        _fail(exc)
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
                  f"{'yes' if s['replay_identical'] else 'NO'}; report: {files['html']}")


def _depeg_engine(source, accounts, seed, static_haircut, depeg_threshold, depeg_factor, out, btc) -> None:
    import json

    from ramparts.lab.depeg import DepegSpec, run_engine_depeg_compare

    try:
        spec = DepegSpec(source=source, accounts=accounts, seed=seed, static_haircut=static_haircut,
                         depeg_threshold=depeg_threshold, depeg_factor=depeg_factor)
        with console.status("replaying the depeg through the engine (three valuations)"):
            runs = run_engine_depeg_compare(spec, btc=btc)
    except RampartsError as exc:
        _fail(exc)
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
    d = out or Path("reports") / f"depeg-{source}-engine"
    d.mkdir(parents=True, exist_ok=True)
    (d / "summary.json").write_text(json.dumps({k: r["summary"] for k, r in runs.items()}, indent=2, default=str))
    for k, r in runs.items():
        r["series"].to_parquet(d / f"series-{k}.parquet", index=False)
    console.print(f"summary: {d / 'summary.json'}")


@app.command("replay-journal")
def replay_journal(url: str = typer.Argument(..., help="journal URL: a SQLite path or postgresql://..."), namespace: str = "ramparts") -> None:
    """Rebuild the engine from a journal and print its state hash."""
    from ramparts.engine.node import replay
    from ramparts.journal import open_journal

    try:
        with open_journal(url, namespace=namespace) as j:
            e = replay(j)
    except RampartsError as exc:
        _fail(exc)
    console.print(f"seq {e.seq}  state hash {e.state_hash()}")


@app.command("verify-proof")
def verify_proof(
    proof: Path = typer.Argument(..., help="an inclusion proof JSON file"),
    root: str = typer.Option(None, help="the root hash the venue published (64 hex); the proof must lead to it"),
    root_file: Path = typer.Option(None, help="the venue's published root.json; its hash is the expected root"),
) -> None:
    """Verify a Merkle-sum-tree proof of liabilities offline (exit 0 verified, 1 rejected, 2 unreadable)."""
    import json

    from ramparts.solvency.cli import verify_proof_command

    if root_file is not None:
        try:
            root = json.loads(root_file.read_text(encoding="utf-8"))["hash"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _fail(f"cannot read the root hash from {root_file}: {exc}")
    raise typer.Exit(verify_proof_command(proof, expected_root=root))


@app.command("prove-liabilities")
def prove_liabilities(
    balances: Path = typer.Argument(None, help="CSV of account_id,asset,amount_units (or use --journal)"),
    journal: str = typer.Option("", help="build from the engine state in this journal and journal the root there"),
    secret_file: Path = typer.Option(None, help="server secret (≥ 16 bytes) the per-account salts derive from"),
    snapshot_id: str = typer.Option(None, help="snapshot name bound into the root (default: CSV name or seq-<n>)"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    out: Path = typer.Option(Path("proofs"), help="output directory for root.json and the proofs"),
) -> None:
    """Build a Merkle sum tree over account equities and write the root and every inclusion proof.

    From a CSV, or with ``--journal`` from the engine's own state: then the root (hash and totals)
    is journaled as a ``LiabilitiesRoot`` event, which the engine accepts only if the totals equal
    its ledger, and the reserves attestation is printed.
    """
    from ramparts.solvency.cli import build_tree_command

    if balances is not None and journal:
        _fail("give either a balances CSV or --journal, not both")
    if balances is not None:
        raise typer.Exit(build_tree_command(balances, out, snapshot_id=snapshot_id, salt_secret_file=secret_file))
    if not journal:
        _fail("give a balances CSV or --journal URL")
    if secret_file is None:
        _fail("--journal needs --secret-file: the salts must be reproducible to re-issue proofs")
    from ramparts.engine.node import Node
    from ramparts.solvency.cli import print_tree_summary
    from ramparts.solvency.engine_snapshot import publish_liabilities

    try:
        secret = secret_file.read_bytes().strip()
        with Node.open(journal, namespace=namespace) as node:
            pub = publish_liabilities(node, out, salt_secret=secret, snapshot_id=snapshot_id)
    except (RampartsError, OSError) as exc:
        _fail(exc)
    print_tree_summary(pub.tree, pub.build_seconds, console)
    table = Table(title="reserves against liabilities")
    for col in ("asset", "reserves held", "net liabilities", "surplus (insurance, fees, − bad debt)"):
        table.add_column(col, justify="right")
    for r in pub.attestation.rows:
        table.add_row(r.asset, f"{r.holdings:,}", f"{r.net_liabilities:,}", f"{r.surplus:,}")
    console.print(table)
    console.print(f"journaled LiabilitiesRoot for snapshot {pub.record['snapshot_id']} at sequence {pub.record['sequence']}; "
                  f"wrote {out / 'root.json'} and {pub.proofs_written:,} proofs")
    if not pub.attestation.solvent:
        raise typer.Exit(1)


def _service_app():
    from ramparts.service.cli import app as service_app

    return service_app


app.add_typer(_service_app(), name="service", help="the risk service: create-key, revoke-key, serve (FastAPI + WebSocket + dashboard)")


@app.command()
def serve(
    journal: str = typer.Option("ramparts.sqlite", help="journal URL: SQLite path (default) or postgresql://..."),
    keys: str = typer.Option(None, help="key store URL (default: the journal's database)"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    durability: str = typer.Option("full", help="full (fsync per commit) or normal"),
) -> None:
    """Run the risk service: the engine as one journaled writer behind a FastAPI / WebSocket API and a live dashboard at /."""
    from ramparts.service.cli import serve as run

    try:
        run(journal, keys=keys, namespace=namespace, host=host, port=port, durability=durability)
    except RampartsError as exc:
        _fail(exc)
    except ImportError as exc:
        _fail(f"the service needs its extra: pip install -e '.[service]' ({exc})")


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except RampartsError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
