"""The lab's commands: ``ramparts demo``, ``replay``, ``stress``, ``coverage``, ``calibrate``,
``backtest-margin``, ``compare``, ``depeg``, ``replay-options``, ``export-book``, ``validate`` and
``screenshots`` (a small run of every report, a full-page PNG of each in Chromium: :data:`SCREENSHOT_RUNS`).

This module owns the command line of the lab (:mod:`ramparts.lab`): the options of each command,
the checks of their values, the tables printed and where the reports go. The work itself is the
lab's (imported lazily, so that ``ramparts --help`` stays fast); the shared conventions (one-line
errors, the output-folder rule, progress bars) are :mod:`ramparts.cli_common`'s.

Every command that reads candles takes an event name or a candle file, ``--source-id`` (the series
of a multi-series file) and ``--gaps``. Every command that writes a report follows the output rule:
a new folder ``reports/<command>/<label>-<UTC time>`` by default, or ``--out DIR`` (new or empty,
unless ``--force``), and prints the report's path on its last line. ``replay``, ``compare``, ``stress``
and ``calibrate`` take ``--book FILE`` (a risk team's own sub-accounts and positions, :mod:`ramparts.lab.book`)
instead of the synthetic population; ``export-book JOURNAL --out FILE`` writes one from a journal (a single
file, refused if it exists unless ``--force``).
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
    journal_to_read,
    out_option,
    progress,
    run_folder,
    show_files,
    user_errors,
)
from ramparts.errors import DataError, InvalidInput
from ramparts.lab.bridge_cli import bridge

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
    "method": "path_method",
    "tolerance": "wick_tolerance",
    "population_file": "population_choice",
}

#: Library phrasing that the command line says otherwise.
REWORDING = (
    (r"pass gaps='forward_fill' or gaps='skip'", "pass --gaps forward_fill or --gaps skip"),
    (r"select one with [a-z_=, ]+\.", "select one with --source-id."),
    (r"\(source_id='([^']*)'\)", r"(--source-id \1)"),
    (r"so source_id='([^']*)' selects nothing; leave the selection out", r"so --source-id \1 selects nothing; leave --source-id out"),
    (r"\(use the coarse path\)", "(pass --path coarse)"),
)

_EVENT_HELP = ("a built-in crash window (black-thursday-2020, china-ban-2021, luna-2022, ftx-2022, yen-carry-2024, "
               "tariff-cascade-2025) or a candle file")
_SOURCE_ID_HELP = "the series to read from a multi-series file (default: the event's own)"
_GAPS_HELP = "missing bars: error, forward_fill or skip"
_INTRABAR_HELP = "intra-bar path: worst_long (open, low, high, close), worst_short, olhc, ohlc, close"
_CLUSTER_HELP = "empty: in this process; local:N: a Dask cluster of N workers here; or tcp://host:port"
_PATH_HELP = ("refined: each bar's intra-bar path from the finest finer series of the same asset that covers it, else a "
              "bridge through its open, extremes and close; coarse: four points a bar (open, extremes, close)")
_WICKS_HELP = ("a coarse extreme no finer series confirms: clip (the path stops at the finer series' extreme) or keep "
               "(visit it once, when the finer series made its extreme)")
_WICK_TOLERANCE_HELP = "how far (a fraction) a coarse extreme may lie beyond the finer series' before it is an unconfirmed wick"
_REFINE_HELP = "comma-separated series of the same file to refine the bars from (default: the event's own list; a candle file: none)"
_BRIDGE_STEP_HELP = "the bridge of a bar no finer series covers puts its observations at most this far apart"
_FUND_HELP = ("insurance fund at the start: auto (the venue's published fund / open interest, else the smallest published "
              "ratio; see ramparts.lab.fund), a share of the open interest at the open (5%oi) or a USDC amount (250000)")


def _usdc(units: int) -> str:
    return f"{units / 1e6:,.2f}"


def _looks_like_path(text: str) -> bool:
    suffixes = {".csv", ".gz", ".parquet", ".pq", ".feather", ".json", ".zip", ".txt", ".tsv"}
    return "/" in text or os.sep in text or text.startswith((".", "~")) or Path(text).suffix.lower() in suffixes


_POPULATION_HELP = ("the accounts: default (the shipped scenario file: account types, warm-up, top-ups, de-risking, dip buyers, "
                    "open interest matched to the event's published figure), uniform (the old crowd: log-uniform 1.5-50x, "
                    "all opened at the first bar, nobody reacts) or the path of a scenario TOML file")


def _population(choice: str, accounts: int | None, seed: int | None, event: str):
    """``(population, liquidity, scenario facts or None)`` for ``--population``, ``--accounts``, ``--seed``.

    A scenario's own ``n_accounts`` and ``seed`` stand unless the command line gives them.
    """
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.scenario import load_scenario

    if choice == "uniform":
        return PopulationSpec(n_accounts=2000 if accounts is None else accounts, seed=1 if seed is None else seed), LiquidityModel(), None
    if accounts is not None and accounts < 1:
        raise InvalidInput("accounts", f"must be at least 1, got {accounts}")
    if seed is not None and seed < 0:
        raise InvalidInput("seed", f"must be ≥ 0, got {seed}")
    try:  # a mistake inside the scenario file is reported against --population, with the parameter's dotted name
        scenario = load_scenario(None if choice == "default" else choice).with_overrides(n_accounts=accounts, seed=seed)
    except InvalidInput as exc:
        raise InvalidInput("population_file", f"{choice}: {exc.field}: {exc.message}") from None
    except DataError as exc:
        raise InvalidInput("population_file", str(exc)) from None
    crowd, oi = scenario.for_event(event)
    info = {"scenario": scenario.path, "open_interest": None if oi is None else {"usd": oi.value, oi.kind: oi.note},
            "parameters": scenario.table()}
    return crowd, scenario.liquidity, info


_BOOK_HELP = ("your own book instead of a synthetic population: a CSV or Parquet file of sub-accounts, collateral and "
              "positions (schema: ramparts.lab.book; ramparts export-book writes one from a journal)")


def _book(path: Path, given: dict[str, object]):
    """``--book``: the loaded, checked book (:func:`ramparts.lab.book.load_book`); refuses the population flags beside it.

    ``given`` maps each population flag (``--population``, ``--accounts``, ``--seed``) to its value (``None``: not given)."""
    from ramparts.lab.book import load_book

    clash = [flag for flag, value in given.items() if value is not None]
    if clash:
        fail(f"--book replaces the synthetic population: leave out {' and '.join(clash)}")
    return load_book(path)


def _book_rows(s: dict) -> list[tuple[str, str]]:
    """Console rows describing a replayed book: its file, counts, open interest, rebasing and refusals."""
    b = s["book"]
    rows = [("book", f"{b['file']}: {b['accounts']:,} accounts, {b['subaccounts']:,} sub-accounts ({b['isolated']:,} isolated), "
                     f"{b['positions']:,} positions"),
            ("book: positions opened / refused", f"{b['positions_opened']:,} / {b['positions_refused']:,}"),
            ("book: long / short notional at the open (USDC)", f"{b['long_notional_usdc']:,.0f} / {b['short_notional_usdc']:,.0f}")]
    for sym, r in b["rebased"].items():
        rows.append((f"path rebased to the book's mark: {sym}", f"{r['path_first_price']:,.2f} → {float(r['mark']):,.2f} (×{r['factor']:.4f})"))
    if b["entry_adjustment_usdc"]:
        rows.append(("entry values rounded to the tick grid: added to deposits (USDC)", f"{b['entry_adjustment_usdc']:,.6f}"))
    return rows


def _say_refused(s: dict) -> None:
    """``opening fills refused``: every event of a book the engine refused at the open (none: nothing printed)."""
    b = s.get("book")
    if not b or not b["refused"]:
        return
    fills = [r for r in b["refused"] if r["event"] == "Fill"]
    console.print(f"opening fills refused: {len(fills):,} fill(s) of {b['positions_refused']:,} position(s) in "
                  f"{b['subaccounts_with_refusals']:,} sub-account(s); the run went on without them (summary.json: book.refused)",
                  soft_wrap=True, highlight=False)
    for r in b["refused"][:10]:
        console.print(f"  {r['subaccount']} {r['instrument'] or r['event']} ({r['row']}): {r['message']}", soft_wrap=True, highlight=False)
    if len(b["refused"]) > 10:
        console.print(f"  ... and {len(b['refused']) - 10:,} more", highlight=False)


def _crowd_rows(s: dict) -> list[tuple[str, str]]:
    """Console rows describing a scenario crowd (none for the uniform population), or a book."""
    if s.get("book"):
        return _book_rows(s)
    c, sc = s.get("crowd"), s.get("scenario")
    if not c:
        return [("population", "uniform: log-uniform 1.5-50x, all opened at the first bar, nobody reacts")]
    oi = (sc or {}).get("open_interest")
    rows = [("population", f"scenario {Path(sc['scenario']).name if sc else '?'}: "
                           + ", ".join(f"{k} {v:,}" for k, v in c["accounts_by_type"].items())),
            ("open interest after the warm-up (USDC)", f"{c['open_interest_usd']:,.0f}"
             + (" (matched: " + (oi.get("source") or oi.get("assumption") or "")[:90] + "…)" if oi else " (not matched: no published figure)")),
            ("leverage at entry: median / notional-weighted", f"{c['leverage_median']:.1f}x / {c['leverage_notional_weighted']:.1f}x"),
            ("top-ups / de-risking trades / dip buyers", f"{c['topups']:,} ({c['topup_usd']:,.0f} USDC) / {c['derisks']:,} / "
                                                          f"{c['dip_accounts']:,}")]
    if c.get("accounts_below_one_lot"):
        rows.append(("accounts left out (notional below one size step)", f"{c['accounts_below_one_lot']:,}"))
    by_market = c.get("open_interest_by_market_usd") or {}
    if len(by_market) > 1:
        rows.append(("open interest by market (USDC, longs)", ", ".join(f"{k} {v:,.0f}" for k, v in by_market.items())))
    return rows


def _event(text: str, param: str = "EVENT"):
    """The crash window ``text`` names; a missing file is ``no such file``, an unknown name lists the names."""
    from ramparts.lab.events import resolve_event

    try:
        return resolve_event(text)
    except DataError as exc:
        if _looks_like_path(text) and not Path(text).expanduser().exists():
            fail(f"{param}: no such file: {text}")
        fail(f"{param}: {exc}")


def _candles(ev_, gaps: str, source_id: str):
    return ev_.load(gaps=gaps, **({"source_id": source_id} if source_id else {}))


def _price_path(ev_, gaps: str, source_id: str, intrabar: str, method: str = "refined", wicks: str = "clip",
                tolerance: float | None = None, refine_source_id: str = "", bridge_step: str | None = None):
    """The event's price path (:func:`ramparts.lab.events.event_path`) with the command line's options."""
    from ramparts.lab.events import event_path
    from ramparts.lab.paths import BRIDGE_STEP, WICK_TOLERANCE

    ids = [s.strip() for s in refine_source_id.split(",") if s.strip()]
    if refine_source_id.strip() and not ids:
        raise InvalidInput("refine_source_id", f"name at least one series, got {refine_source_id!r}")
    return event_path(ev_, gaps=gaps, source_id=source_id or None, method=method, refine_source_ids=ids or None, order=intrabar,
                      wicks=wicks, tolerance=WICK_TOLERANCE if tolerance is None else tolerance,
                      bridge_step=bridge_step or BRIDGE_STEP)


_MARKETS_HELP = ("comma-separated assets replayed at once, each its own perpetual (BTC,ETH or all; default: the event's "
                 "own, BTC); accounts hold several (the scenario's [market_open_interest] sizes each market)")


def _market_paths(ev_, markets: str | None, path, **kw):
    """``--markets``: ``(assets, MarketPaths)``; a single market keeps the path already built."""
    from ramparts.lab.events import MarketPaths, event_paths, parse_markets

    assets = parse_markets(markets, ev_)
    if len(assets) == 1 and assets[0] == ev_.asset:
        return assets, MarketPaths(path.ts_ns, {f"{ev_.asset}-PERP": path.price}, {f"{ev_.asset}-PERP": path})
    from ramparts.lab.paths import BRIDGE_STEP, WICK_TOLERANCE

    ids = [x.strip() for x in (kw.pop("refine_source_id", "") or "").split(",") if x.strip()]
    tol = kw.pop("tolerance", None)
    return assets, event_paths(ev_, assets, gaps=kw["gaps"], source_id=kw.get("source_id") or None, method=kw["method"],
                               refine_source_ids=ids or None, order=kw["order"], wicks=kw["wicks"],
                               tolerance=WICK_TOLERANCE if tol is None else tol, bridge_step=kw.get("bridge_step") or BRIDGE_STEP)


def _say_markets(mp) -> None:
    """One line per market after the first: how its path was made."""
    for sym, p in list(mp.paths.items())[1:]:
        console.print(f"{sym} price path: {p.provenance.describe()}; {len(p.ts_ns):,} observations, low {p.price.min():,.2f}",
                      soft_wrap=True, highlight=False)


def _write_path(path, out_dir: Path) -> None:
    """``price_path.json`` beside a report that does not carry the path's provenance itself."""
    import json

    (out_dir / "price_path.json").write_text(json.dumps(path.provenance.to_dict(), indent=2))


def _say_path(path) -> None:
    """How the path was made, in a few lines, and its unconfirmed wicks."""
    for k, v in path.provenance.rows():
        console.print(f"{k.strip()}: {v}", soft_wrap=True, highlight=False)
    table = _path_table(path.provenance)
    if table is not None:
        console.print(table)


def _path_table(prov) -> Table | None:
    """The unconfirmed wicks of a path, one row each (``None`` if there is none)."""
    if not prov.wicks:
        return None
    t = Table(title=f"unconfirmed wicks: a coarse extreme beyond the finer series' by more than {prov.wick_tolerance:.2%}",
              caption="confirmed: the finer series' extreme on the coarse series' level (the report and summary.json name the series)")
    for col in ("coarse bar (UTC)", "side", "coarse", "confirmed", "gap", "finer's own, at", "path"):
        t.add_column(col, justify="right")
    for w in prov.wicks:
        d = w.to_dict()
        t.add_row(f"{d['bar'][:10]} {d['bar'][11:16]}", w.side, f"{w.coarse:,.2f}", f"{w.confirmed:,.2f}", f"{w.gap:.2%}",
                  f"{w.finer:,.2f} at {d['at'][11:19]}", w.action)
    return t


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


def _loss_rows(s: dict) -> list[tuple[str, str]]:
    """The fund and the loss layers of a replay summary, as rows of a table (USDC)."""
    from ramparts.lab.replay import BEARERS

    f, by = s["fund"], s["bad_debt_by_bearer_usdc"]
    ratio = "" if f["ratio_to_open_interest"] is None else f", {f['ratio_to_open_interest']:.2%} of open interest"
    return [
        ("open interest at the open, one side (USDC)", f"{s['open_interest_usdc']:,.0f}"),
        ("insurance fund at the start (USDC)", f"{f['amount_usdc']:,.0f} ({f['rule']}, {f['basis']}{ratio})"),
        ("bankruptcy deficit at the mark: losses beyond the accounts' collateral (USDC)", f"{s['bankruptcy_deficit_usdc']:,.0f}"),
        ("  fills below the bankruptcy price paid by the fund (USDC)", f"{s['fills_below_bankruptcy_usdc']:,.0f}"),
        ("penalties: to keepers / to the fund / the vault's income (USDC)",
         f"{s['penalty_to_keepers_usdc']:,.0f} / {s['penalty_income_usdc']:,.0f} / {s['vault_income_usdc']:,.0f}"),
        ("insurance fund: start → end; gross draws (USDC)",
         f"{s['insurance_fund_start_usdc']:,.0f} → {s['insurance_fund_end_usdc']:,.0f}; {s['insurance_fund_draws_usdc']:,.0f}"),
        ("backstop vault: equity start → end; loss (USDC)",
         f"{s['vault_equity_start_usdc']:,.0f} → {s['vault_equity_end_usdc']:,.0f}; {s['vault_loss_usdc']:,.0f}"),
        ("ADL: fills / notional / counterparties' loss against the mark (USDC)",
         f"{s['deleverages']:,} / {s['adl_notional_usdc']:,.0f} / {s['adl_counterparty_loss_usdc']:,.0f}"),
        ("socialised loss: total / unrecovered (USDC)", f"{s['socialised_loss_usdc']:,.0f} / {s['socialised_unrecovered_usdc']:,.0f}"),
        ("loss beyond the fund: vault, ADL, socialised (USDC)", f"{s['loss_beyond_fund_usdc']:,.0f}"),
        ("bad debt: loss beyond equity less penalties (USDC; < 0: a surplus)", f"{s['bad_debt_usdc']:,.0f}"),
        ("  borne by the fund / vault / ADL counterparties / socialised (USDC)", " / ".join(f"{by[k]:,.0f}" for k in BEARERS)),
        ("  the split adds up to the base unit", "yes" if s["loss_accounting"]["adds_up"] else "NO"),
    ]


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
    population_choice: str = typer.Option(None, "--population", help=_POPULATION_HELP + " (default: default)"),
    book: Path = typer.Option(None, "--book", help=_BOOK_HELP),
    accounts: int = typer.Option(None, help="accounts in the population (default: the scenario's, 2,000)"),
    seed: int = typer.Option(None, help="population seed (default: the scenario's, 1)"),
    intrabar: str = typer.Option("worst_long", help=_INTRABAR_HELP),
    source_id: str = typer.Option("", help=_SOURCE_ID_HELP),
    gaps: str = typer.Option("error", help=_GAPS_HELP),
    path_method: str = typer.Option("refined", "--path", help=_PATH_HELP),
    wicks: str = typer.Option("clip", help=_WICKS_HELP),
    wick_tolerance: float = typer.Option(0.01, help=_WICK_TOLERANCE_HELP),
    refine_source_id: str = typer.Option("", help=_REFINE_HELP),
    bridge_step: str = typer.Option("5m", help=_BRIDGE_STEP_HELP),
    sensitivity: bool = typer.Option(False, help="also replay with the other path and bar sizes, 3 seeds, the fund and the depth "
                                                 "× 0.5 and × 2, one at a time; write sensitivity.json and .csv"),
    depth: float = typer.Option(None, help="book depth (USDC) of the square-root impact model (default: the scenario's, 50,000,000)"),
    out: Path = out_option("replay"),
    force: bool = force_option(),
    journal: str = typer.Option("", help="journal URL, a new file (default: journal.sqlite in the output folder)"),
    oracle_sources: int = typer.Option(0, help="0: one trusted oracle feed; 2 to 16: quotes from that many sources through the aggregator and gates"),
    outage: str = typer.Option("", help="START:STEPS, an oracle outage from observation START for STEPS observations"),
    glitch: str = typer.Option("", help="START:STEPS, one oracle source quoting half the price (needs --oracle-sources)"),
    wide_conf: str = typer.Option("", help="START:STEPS, every source reporting a 5 % confidence interval (needs --oracle-sources)"),
    breakers: bool = typer.Option(False, help="arm circuit breakers: a 10 %/hour move pauses new risk; a fund below 10 % pauses withdrawals"),
    fund: str = typer.Option("auto", help=_FUND_HELP),
    markets: str = typer.Option(None, help=_MARKETS_HELP),
) -> None:
    """Replay a real crash through the engine with a seeded population; write HTML, JSON and Parquet."""
    from dataclasses import replace as _replace

    from ramparts.lab.replay import DEFAULT_BREAKERS, VenueSpec, check_population, run_replay
    from ramparts.lab.report import write_report

    with user_errors(FIELDS, REWORDING):
        faults = _oracle_faults(oracle_sources, outage, glitch, wide_conf)
        venue = VenueSpec(breakers=DEFAULT_BREAKERS, fund=fund) if breakers else VenueSpec(fund=fund)
        if journal:
            journal_to_create(journal, "--journal", fresh=True)
        if book is not None:
            population = _book(book, {"--population": population_choice, "--accounts": accounts, "--seed": seed})
        ev_ = _event(event)
        if book is not None:  # the market's liquidity is the shipped scenario's; the accounts are the book's
            from ramparts.lab.scenario import load_scenario

            liquidity, scenario = load_scenario(None).liquidity, None
        else:
            population, liquidity, scenario = _population(population_choice or "default", accounts, seed, ev_.name)
        if depth is not None:
            liquidity = _replace(liquidity, depth=depth)
        path = _price_path(ev_, gaps, source_id, intrabar, path_method, wicks, wick_tolerance, refine_source_id, bridge_step)
        assets, mp = _market_paths(ev_, markets, path, gaps=gaps, source_id=source_id, method=path_method, order=intrabar,
                                   wicks=wicks, tolerance=wick_tolerance, refine_source_id=refine_source_id, bridge_step=bridge_step)
        if len(assets) > 1 and sensitivity:
            raise InvalidInput("sensitivity", "runs one market: leave out --markets, or give one asset")
        path = mp.primary
        check_population(population, mp.prices, venue)
        prov = path.provenance
        other = None
        if sensitivity:  # the other path method, built (and checked) before anything runs
            other = _price_path(ev_, gaps, source_id, intrabar if intrabar != "close" else "worst_long",
                                "coarse" if path_method == "refined" else "refined", wicks, wick_tolerance, refine_source_id, bridge_step)
        with run_folder("replay", ev_.name, out, force=force) as out_dir:
            url = journal or str(out_dir / "journal.sqlite")
            if not journal:  # a run forced into an earlier run's folder starts its own journal
                for suffix in ("", "-wal", "-shm"):
                    Path(url + suffix).unlink(missing_ok=True)
            with progress(ev_.name, "prices") as bar:
                task = bar.add_task("replay", total=len(mp.ts_ns))
                result = run_replay(mp.ts_ns, mp.prices, name=ev_.name, population=population, liquidity=liquidity,
                                    journal_url=url, oracle=faults, venue=venue, progress=lambda k, n: bar.update(task, completed=k))
            if scenario is not None:
                result.summary["scenario"] = scenario
            if len(assets) > 1:
                result.summary["paths"] = mp.provenance()
            sens = None
            if other is not None:
                sens, sens_files = _sensitivity(ev_.name, path, other, result, population, liquidity, venue, faults, out_dir)
            paths = write_report(result, out_dir, path=prov, sensitivity=sens)
    s = result.summary
    table = Table(title=f"{ev_.title}: {path.source or ''} ({len(path.ts_ns):,} prices, low {s['low']:,.2f}, −{s['drawdown']:.0%})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        *(prov.rows() if prov is not None else []),
        ("traders" if "book" not in s else "sub-accounts", f"{s['accounts']:,}"),
        *_crowd_rows(s),
        ("margin calls", f"{s['margin_calls']:,}"),
        ("liquidation steps", f"{s['liquidation_steps']:,}"),
        ("liquidated notional (USDC)", f"{s['liquidated_notional_usdc']:,.0f}"),
        ("bankrupt accounts", f"{s['bankruptcies']:,}"),
        *_loss_rows(s),
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
    _say_markets(mp)
    _say_refused(s)
    console.print(f"insurance fund: {s['fund']['explanation']}; source: {s['fund']['source']}", soft_wrap=True, highlight=False)
    wick_table = _path_table(prov) if prov is not None else None
    if wick_table is not None:
        console.print(wick_table)
    extra = {}
    if sens is not None:
        console.print(_sensitivity_table(sens, ev_.title))
        extra = {"sensitivity": sens_files["json"]}
    show_files(paths["html"], summary=paths["json"], series=paths["series"], journal=url, **extra)
    if not s["replay_identical"]:
        raise typer.Exit(1)


def _sensitivity(name, path, other, result, population, liquidity, venue, faults, out_dir):
    """``replay --sensitivity``: the table (:mod:`ramparts.lab.sensitivity`) and its files in the run's folder."""
    from ramparts.lab.sensitivity import plan, run_sensitivity, write_sensitivity

    refined = path if path.provenance.method == "refined" else other
    label = other.provenance.label()
    seeds = {"seed_offsets": ()} if getattr(population, "seed", None) is None else {}  # a book has no seed: no seed rows
    cases = plan(path, population=population, liquidity=liquidity, venue=venue, fund_start=result.summary["insurance_fund_start_usdc"],
                 other_paths={label: other}, resample_from=refined, **seeds)
    with progress("sensitivity", "runs") as bar:
        task = bar.add_task("sensitivity", total=len(cases))
        table = run_sensitivity(cases, name=name, oracle=faults, base_result=result,
                                progress=lambda k, n, what: bar.update(task, completed=k, description=what))
    meta = {"event": name, "base": {"path": path.provenance.to_dict(), "seed": getattr(population, "seed", None), "depth_usdc": liquidity.depth,
                                    "insurance_fund_start_usdc": result.summary["insurance_fund_start_usdc"]}}
    return table, write_sensitivity(table, out_dir, meta)


def _sensitivity_table(sens, title: str) -> Table:
    from ramparts.lab.sensitivity import HEADLINE

    t = Table(title=f"{title}: sensitivity, one factor at a time around the base run")
    for col in ("factor", "setting", "prices", *HEADLINE.values(), "deficit vs base"):
        t.add_column(col, justify="right")
    for _, r in sens.iterrows():
        ratio = "-" if r["deficit_vs_base"] != r["deficit_vs_base"] else f"{r['deficit_vs_base']:.2f}×"
        t.add_row(r["factor"], r["setting"], f"{r['observations']:,}", *(f"{r[c]:,.0f}" for c in HEADLINE), ratio)
    return t


# --------------------------------------------------------------------------------------------------
# Monte Carlo: stress, coverage, calibrate


def stress(
    scenario: str = typer.Option("garch", help="historical, jump, garch, gpd, correlation, oracle-outage, oracle-latency or liquidity"),
    paths: int = typer.Option(40, help="Monte Carlo paths"),
    steps: int = typer.Option(96, help="observations per synthetic path"),
    step_seconds: int = typer.Option(3600, help="time between observations (s)"),
    population_choice: str = typer.Option(None, "--population", help=_POPULATION_HELP + " (default: default, its open interest "
                                                                                       "matched to --event's figure)"),
    accounts: int = typer.Option(None, help="traders in the population (default 500)"),
    book: Path = typer.Option(None, "--book", help=_BOOK_HELP + " (every path opens it)"),
    seed: int = typer.Option(1, help="seed: path i depends only on (seed, i)"),
    vol_scale: float = typer.Option(1.0, help="multiplies simulated returns (above 1: a stressed regime)"),
    base: str = typer.Option("garch", help="path family under oracle-outage, oracle-latency and liquidity: historical, jump, garch, gpd"),
    event: str = typer.Option("black-thursday-2020", help="the crash the historical family scales"),
    fund: str = typer.Option("auto", help=_FUND_HELP),
    out: Path = out_option("stress"),
    force: bool = force_option(),
    cluster: str = typer.Option("", help=_CLUSTER_HELP),
    checkpoint: Path = typer.Option(None, help="JSON-lines file of finished paths; a rerun resumes from it"),
) -> None:
    """Monte Carlo stress through the engine: the distribution of bad debt and P(insurance fund exhausted)."""
    from ramparts.lab.cluster import TaskRunner, parse_cluster
    from ramparts.lab.replay import VenueSpec, check_population
    from ramparts.lab.stress import (
        BEARERS,
        StressSpec,
        fit_models,
        markets,
        path_provenance,
        run_stress,
        run_task,
        stress_caveats,
        write_stress_report,
    )

    with user_errors(FIELDS, REWORDING):
        spec = StressSpec(scenario=scenario, n_paths=paths, n_steps=steps, step_s=step_seconds, seed=seed, vol_scale=vol_scale,
                          base=base, event=event)
        venue = VenueSpec(fund=fund)
        liquidity = None
        if book is not None:
            population = _book(book, {"--accounts": accounts, "--population": population_choice})
            check_population(population, dict.fromkeys(markets(scenario)), venue)
        else:
            ev_name = _event(event, "--event").name
            population, liquidity, _ = _population(population_choice or "default", 500 if accounts is None else accounts, seed, ev_name)
        parse_cluster(cluster)
        _event(event, "--event")
        with run_folder("stress", scenario, out, force=force) as out_dir:
            with console.status("fitting GARCH-t and GPD tails to hourly history"):
                fits = fit_models()
            with progress(f"stress {scenario}", "paths") as bar:
                task = bar.add_task("stress", total=paths)
                runner = TaskRunner(run_task, cluster, progress=lambda k, n: bar.update(task, completed=k), checkpoint=checkpoint)
                result = run_stress(spec, population=population, venue=venue, fits=fits, liquidity=liquidity,
                                    runner=runner)
            files = write_stress_report(result, out_dir, population=population, venue=venue)
    s = result.summary
    ratio = s.get("fund_ratio_to_open_interest_mean")
    kind = "" if book is not None else (" (uniform population)" if population_choice == "uniform" else
                                        f" (scenario {Path(population_choice).name if population_choice else 'default'})")
    who = f"book {book} ({population.n_accounts:,} sub-accounts)" if book is not None else f"{population.n_accounts} traders{kind}"
    table = Table(title=f"stress {scenario}: {paths} paths × {who}, insurance fund {s['insurance_fund_start_usdc']:,.0f} USDC "
                        f"({venue.fund}" + ("" if ratio is None else f", {ratio:.2%} of open interest") + ")")
    table.add_column("figure")
    table.add_column("value", justify="right")
    lo, hi = s["p_fund_exhausted_ci95"]
    d, b, vl, bd = s["bankruptcy_deficit_usdc"], s["loss_beyond_fund_usdc"], s["vault_loss_usdc"], s["bad_debt_usdc"]
    by = s["bad_debt_by_bearer_mean_usdc"]
    for k, v in [
        ("P(insurance fund exhausted)", f"{s['p_fund_exhausted']:.1%} (95% CI {lo:.1%}–{hi:.1%})"),
        ("P(loss beyond the fund: vault / ADL / socialised)", f"{s['p_loss_beyond_fund']:.1%}"),
        ("P(loss beyond the fund and the vault: ADL / socialised)", f"{s['p_loss_beyond_fund_and_vault']:.1%}"),
        ("P(any bankruptcy)", f"{s['p_any_bankruptcy']:.1%}"),
        ("bankruptcy deficit: mean / q95 / q99 / max (USDC)", f"{d['mean']:,.0f} / {d['q95']:,.0f} / {d['q99']:,.0f} / {d['max']:,.0f}"),
        ("loss beyond the fund: mean / q95 / q99 / max (USDC)", f"{b['mean']:,.0f} / {b['q95']:,.0f} / {b['q99']:,.0f} / {b['max']:,.0f}"),
        ("backstop vault loss: mean / q95 / q99 / max (USDC)", f"{vl['mean']:,.0f} / {vl['q95']:,.0f} / {vl['q99']:,.0f} / {vl['max']:,.0f}"),
        ("mean fund draws, gross / penalty income (USDC)", f"{s['insurance_fund_draws_mean_usdc']:,.0f} / {s['penalty_income_mean_usdc']:,.0f}"),
        ("bad debt: mean / q95 / q99 / max (USDC)", f"{bd['mean']:,.0f} / {bd['q95']:,.0f} / {bd['q99']:,.0f} / {bd['max']:,.0f}"),
        ("  mean borne by the fund / vault / ADL counterparties / socialised (USDC)",
         " / ".join(f"{by[x]:,.0f}" for x in BEARERS)),
        ("median drawdown of the paths", f"{s['median_drawdown']:.1%}"),
        ("mean liquidated notional (USDC)", f"{s['mean_liquidated_notional_usdc']:,.0f}"),
        *([("book: positions refused at the open, most on one path", f"{s['book']['positions_refused_max']:,} of "
                                                                       f"{s['book']['positions']:,}")] if "book" in s else []),
    ]:
        table.add_row(k, v)
    console.print(table)
    console.print(f"price path: {path_provenance(spec).describe()}", soft_wrap=True, highlight=False)
    _say_caveats(stress_caveats(result))
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
    from ramparts.lab.coverage import (
        CoverageSpec,
        coverage_caveats,
        resolve_backend,
        run_coverage,
        write_coverage_report,
    )

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
    _say_caveats(coverage_caveats(result))
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
    population_choice: str = typer.Option(None, "--population", help=_POPULATION_HELP + " (default: default, its open interest "
                                                                                       "matched to the first of --events)"),
    accounts: int = typer.Option(None, help="traders in the population (default 300)"),
    book: Path = typer.Option(None, "--book", help=_BOOK_HELP + " (every run opens it)"),
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
        calibration_caveats,
        evaluate_task,
        run_calibration,
        write_calibration_report,
    )
    from ramparts.lab.cluster import TaskRunner, parse_cluster
    from ramparts.lab.replay import VenueSpec, check_population
    from ramparts.lab.stress import StressSpec, markets

    with user_errors(FIELDS, REWORDING):
        grid = ParameterGrid(margin_scale=_floats(margin_scale, "margin_scale"), im_to_mm=_floats(im_to_mm, "im_to_mm"),
                             buffer=_floats(buffer, "buffer"), penalty=_floats(penalty, "penalty"),
                             max_fraction=_floats(max_fraction, "max_fraction"))
        stress_spec = None if scenario == "none" else StressSpec(scenario=scenario, n_paths=paths, n_steps=steps, seed=seed)
        names = tuple(e.strip() for e in events.split(",") if e.strip())
        for name in names:
            _event(name, "--events")
        scen = Scenarios(events=names, stress=stress_spec)
        liquidity = None
        if book is not None:
            population = _book(book, {"--accounts": accounts, "--population": population_choice})
            symbols = markets(scenario) if stress_spec is not None and not names else ("BTC-PERP",)  # what every run lists
            check_population(population, dict.fromkeys(symbols), VenueSpec())
        else:  # one crowd for every run, matched to the first event's open interest (the default window's without one)
            first = _event(names[0], "--events").name if names else "black-thursday-2020"
            population, liquidity, _ = _population(population_choice or "default", 300 if accounts is None else accounts, seed, first)
        parse_cluster(cluster)
        total = grid.size * len(scen.labels())
        with run_folder("calibrate", "+".join((*names, scenario)), out, force=force) as out_dir:
            with progress("calibrate", "runs") as bar:
                task = bar.add_task("calibrate", total=total)
                runner = TaskRunner(evaluate_task, cluster, progress=lambda k, n: bar.update(task, completed=k), checkpoint=checkpoint)
                result = run_calibration(grid, scen, population=population, liquidity=liquidity, runner=runner)
            files = write_calibration_report(result, out_dir, scenarios=scen, population=population)
    f = result.frontier
    table = Table(title=f"Pareto set: {int(f['pareto'].sum())} of {len(f)} parameter sets ({len(scen.labels())} scenarios each)")
    short = {"margin_scale": "scale", "im_to_mm": "IM/MM", "buffer": "buffer", "penalty": "penalty", "max_fraction": "step"}
    refused = "book_positions_refused_max" in f
    for col in (*(short[p] for p in PARAMETERS), "avg IM", "P(bad debt)", "fund draw", "deficit", *(["book refused"] if refused else [])):
        table.add_column(col, justify="right")
    for _, row in f[f["pareto"]].sort_values("avg_initial_margin_rate").iterrows():
        table.add_row(*(f"{row[p]:g}" for p in PARAMETERS), f"{row['avg_initial_margin_rate']:.3%}", f"{row['p_bad_debt']:.1%}",
                      f"{row['mean_fund_draw_usdc']:,.0f}", f"{row['mean_deficit_usdc']:,.0f}",
                      *([f"{int(row['book_positions_refused_max']):,}"] if refused else []))
    console.print(table)
    _say_caveats(calibration_caveats(result, scen))
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
        finer: list = []
        if source == "btc-hourly":
            label = source
            candles = load_candles(data_path(HOURLY["BTC"]), gaps=gaps, **selection)
        else:
            ev_ = _event(source, "SOURCE")
            label = ev_.name
            candles = _candles(ev_, gaps, source_id)
            finer = ev_.load_finer(candles)  # recorded (not walked): the finer bar sizes the window ships
        prices = candles.close
        req = requirement_series(prices, model, horizon=horizon, coverage=coverage, rate=rate)
        ok = np.isfinite(req)
        first = int(np.argmax(ok))
        if not ok.any() or not ok[first:].all():
            raise InvalidInput("source", "too little history for this model")
        bt = run_backtest(prices[first:], req[first:], horizon, coverage, worst_within_horizon=worst)
        with run_folder("backtest-margin", f"{label}-{model}", out, force=force) as out_dir:
            summary = {"source": source, "source_id": source_id or None, "model": model, "rate": rate, **bt.summary()}
            _backtest_report(out_dir, candles, first, bt, summary, f"{model} margin on {label}", finer)
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


def _say_caveats(lines: list[str]) -> None:
    """Print where the model is doubtful (the report says the same, under "Where the model is doubtful")."""
    for line in lines:
        from rich.markup import escape

        console.print(f"[yellow]caveat:[/] {escape(line)}", soft_wrap=True, highlight=False)


def _backtest_report(out_dir: Path, candles, first: int, bt, summary: dict, title: str, finer=()) -> None:
    """``backtest.json`` and ``report.html`` of ``backtest-margin`` (:func:`ramparts.lab.backtest.write_backtest_report`)."""
    from ramparts.lab.backtest import backtest_path, write_backtest_report
    from ramparts.lab.history import format_interval

    series = f"{candles.source or candles.symbol or summary['source']} ({format_interval(int(candles.interval_ns))} bars)"
    write_backtest_report(bt, candles.ts_ns[first:], out_dir, doc=summary, title=title, series=series,
                          path=backtest_path(candles, finer))


# --------------------------------------------------------------------------------------------------
# compare, depeg, replay-options


def compare(
    event: str = typer.Argument("black-thursday-2020", help=_EVENT_HELP),
    venues: str = typer.Option("ramparts,binance,dydx,hyperliquid,drift,derive",
                               help="comma-separated venue profiles, or all (every profile of ramparts venues)"),
    population_choice: str = typer.Option(None, "--population", help=_POPULATION_HELP + " (the same for every venue; default: default)"),
    book: Path = typer.Option(None, "--book", help=_BOOK_HELP + " (the same for every venue)"),
    accounts: int = typer.Option(None, help="accounts in the population (default: the scenario's, 2,000)"),
    seed: int = typer.Option(None, help="population seed (default: the scenario's, 1)"),
    intrabar: str = typer.Option("worst_long", help=_INTRABAR_HELP),
    source_id: str = typer.Option("", help=_SOURCE_ID_HELP),
    gaps: str = typer.Option("error", help=_GAPS_HELP),
    path_method: str = typer.Option("refined", "--path", help=_PATH_HELP),
    wicks: str = typer.Option("clip", help=_WICKS_HELP),
    out: Path = out_option("compare"),
    force: bool = force_option(),
    fund: str = typer.Option("auto", help=_FUND_HELP + "; the same rule for every venue"),
    markets: str = typer.Option(None, help=_MARKETS_HELP),
) -> None:
    """The same crash and population through several venue profiles, side by side in one report."""
    from ramparts.lab.compare import run_compare, write_compare_report
    from ramparts.lab.fund import FundRule
    from ramparts.lab.replay import check_population
    from ramparts.venues.profiles import profile

    with user_errors(FIELDS, REWORDING):
        if venues.strip().lower() == "all":
            from ramparts.venues.profiles import PROFILES

            profiles = list(PROFILES.values())
        else:
            profiles = [profile(v.strip()) for v in venues.split(",") if v.strip()]
        if not profiles:
            raise InvalidInput("venues", "name at least one venue profile")
        rule = FundRule.parse(fund)
        if book is not None:
            population = _book(book, {"--population": population_choice, "--accounts": accounts, "--seed": seed})
        ev_ = _event(event)
        if book is not None:  # the market's liquidity is the shipped scenario's; the accounts are the book's
            from ramparts.lab.scenario import load_scenario

            liquidity, scenario = load_scenario(None).liquidity, None
        else:
            population, liquidity, scenario = _population(population_choice or "default", accounts, seed, ev_.name)
        n_accounts = population.n_accounts
        path = _price_path(ev_, gaps, source_id, intrabar, path_method, wicks)
        assets, mp = _market_paths(ev_, markets, path, gaps=gaps, source_id=source_id, method=path_method, order=intrabar, wicks=wicks)
        path = mp.primary
        for p in profiles:
            check_population(population, mp.prices, p.venue)
        n = len(mp.ts_ns)
        with run_folder("compare", ev_.name, out, force=force) as out_dir:
            with progress("compare", "prices") as bar:
                task = bar.add_task("compare", total=n * len(profiles))
                done: dict[str, int] = {}

                def tick(venue: str, k: int, total: int) -> None:
                    done[venue] = k
                    bar.update(task, completed=sum(done.values()), description=venue)

                table, results = run_compare(mp.ts_ns, mp.prices, profiles, name=ev_.name, population=population, progress=tick,
                                             fund=rule, liquidity=liquidity)
            for r in results.values():
                if scenario is not None:
                    r.summary["scenario"] = scenario
                if len(assets) > 1:
                    r.summary["paths"] = mp.provenance()
            what = f"sub-accounts of {book}" if book is not None else "accounts"
            files = write_compare_report(table, results, profiles, out_dir,
                                         f"{ev_.title}: {n_accounts:,} {what} through {len(profiles)} venue designs",
                                         path=path.provenance)
            _write_path(path, out_dir)
    kind = f"book {book}" if book is not None else ("scenario " + Path(scenario["scenario"]).name if scenario else "uniform population")
    title = f"{ev_.title}: the same {n_accounts:,} {'sub-accounts' if book is not None else 'accounts'} on each venue ({kind})"
    for t in _compare_tables(table, title):
        console.print(t)
    for v, r in results.items():
        if r.summary.get("book", {}).get("refused"):
            console.print(f"{v}:", highlight=False, end=" ")
            _say_refused(r.summary)
    _say_path(path)
    _say_markets(mp)
    for v, r in results.items():
        console.print(f"fund, {v}: {r.summary['fund']['explanation']}", soft_wrap=True, highlight=False)
    show_files(files["html"], summary=files["json"], price_path=out_dir / "price_path.json")


def _compare_rows(table) -> list[tuple[str, list[str]]]:
    """The rows of the compare table: each figure (margin as a percent of notional), its value per venue."""
    from ramparts.lab.compare import BEARERS, COUNTS, FIGURES, RATES

    rows = []
    for k, label in FIGURES.items():
        fmt = (lambda x: f"{x:.2%}") if k in RATES else ((lambda x: f"{int(x):,}") if k in COUNTS else (lambda x: f"{x:,.0f}"))
        rows.append((label, [("-" if x is None or x != x else fmt(x)) for x in table[k]]))
    for b in BEARERS:
        rows.append((f"  bad debt borne by: {b.replace('_', ' ')} (USDC)", [f"{x:,.0f}" for x in table[f"bad_debt_{b}_usdc"]]))
    rows.append(("fund sized by", [f"{r}\n({b})" for r, b in zip(table["fund_rule"], table["fund_basis"], strict=True)]))
    if "book_positions_refused" in table:  # each venue's initial margin decides what of the book it opens
        rows.append(("book: positions opened / refused at the open",
                     [f"{a:,} / {b:,}" for a, b in zip(table["book_positions_opened"], table["book_positions_refused"], strict=True)]))
    rows.append(("loss split adds up / value conserved / replay identical",
                 ["yes" if a and b and c else "NO"
                  for a, b, c in zip(table["loss_split_adds_up"], table["value_conserved"], table["replay_identical"], strict=True)]))
    return rows


def _compare_tables(table, title: str, width: int | None = None) -> list[Table]:
    """The compare table for the console, a column per venue. No number is ever cut: each venue's column is
    as wide as its longest value and never wraps, and the venues are split over as many tables as the
    terminal's width needs (a number folds onto a second line, whole, only on a terminal too narrow for one)."""
    rows = _compare_rows(table)
    venues = [str(v) for v in table["venue"]]
    need = [max(len(v), *(len(line) for r in rows for line in r[1][i].splitlines())) for i, v in enumerate(venues)]
    width = width or console.width
    label = min(max(len(r[0]) for r in rows), 28)  # the labels wrap to this width on a narrow terminal
    groups: list[list[int]] = [[]]
    used = label + 4
    for i, w in enumerate(need):
        if groups[-1] and used + w + 3 > width:
            groups.append([])
            used = label + 4
        groups[-1].append(i)
        used += w + 3
    out = []
    for g, idx in enumerate(groups):
        t = Table(title=title if len(groups) == 1 else f"{title} ({g + 1} of {len(groups)})")
        room = width - sum(need[i] + 3 for i in idx) - 4  # what the numbers leave to the labels
        t.add_column("figure", overflow="fold", min_width=max(8, min(label, 24, room)))
        for i in idx:
            t.add_column(venues[i], justify="right", no_wrap=True, overflow="fold", min_width=need[i])
        for lab, cells in rows:
            t.add_row(lab, *(cells[i] for i in idx))
        out.append(t)
    return out


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
    console.print(f"peg path: {result.path.describe()}", soft_wrap=True, highlight=False)
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
    path_method: str = typer.Option("refined", "--path", help=_PATH_HELP),
    intrabar: str = typer.Option("worst_long", help=_INTRABAR_HELP),
    wicks: str = typer.Option("clip", help=_WICKS_HELP),
    bar_size: str = typer.Option("1h", "--bar", help="cut the path into four-point bars of this size (none: walk it as made)"),
    out: Path = out_option("replay-options"),
    force: bool = force_option(),
) -> None:
    """Option books (covered calls, protective puts, strangles, hedged short calls) through a crash, portfolio against cross margin."""
    from ramparts.lab.options_replay import (
        OptionsPopulation,
        options_path,
        run_options_replay,
        write_options_report,
    )

    with user_errors(FIELDS, REWORDING):
        population = OptionsPopulation(pairs=pairs, seed=seed)
        ev_ = _event(event)
        path = options_path(ev_, gaps=gaps, source_id=source_id or None, method=path_method, order=intrabar, wicks=wicks,
                            bar=None if bar_size.strip().lower() == "none" else bar_size, every=every)
        ts, px = path.ts_ns, path.price
        with run_folder("replay-options", ev_.name, out, force=force) as out_dir:
            with progress(f"options {ev_.name}", "prices") as bar:
                task = bar.add_task("options", total=len(ts))
                s = run_options_replay(ts, px, name=ev_.name, population=population, vol=vol, path=path.provenance,
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
    _say_path(path)
    show_files(files["html"], summary=files["json"], series=files["series"])


# --------------------------------------------------------------------------------------------------
# export-book


def export_book(
    journal: str = typer.Argument(..., help="an existing journal: a SQLite path, sqlite:///path or postgresql://..."),
    out_file: Path = typer.Option(..., "--out", help="the book file to write: FILE.csv or FILE.parquet (a new file)"),
    fmt: str = typer.Option(None, "--format", help="csv or parquet (default: by the --out suffix)"),
    seq: int = typer.Option(None, "--seq", help="the state after this journal event (default: the last)"),
    exclude: list[str] = typer.Option([], "--exclude", help="leave out this sub-account (account/sub; repeatable), e.g. maker/main "
                                                            "of a lab replay's journal"),
    namespace: str = typer.Option("ramparts", help="namespace (PostgreSQL schema, SQLite table prefix)"),
    force: bool = typer.Option(False, "--force", help="replace an existing --out file"),
) -> None:
    """Write a journal's sub-accounts, collateral and positions as a book (the --book schema), to reload the venue's state in the lab."""
    import os

    from ramparts.engine.node import replay as rebuild
    from ramparts.journal import open_journal
    from ramparts.lab.book import FORMATS, book_rows, write_book

    by_suffix = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(out_file.suffix.lower())
    if fmt is not None and fmt not in FORMATS:
        fail(f"--format: csv or parquet, got {fmt!r}")
    if fmt is None and by_suffix is None:
        fail(f"--out: {out_file} ends in neither .csv nor .parquet; name the format with --format csv or --format parquet")
    if fmt is not None and by_suffix is not None and fmt != by_suffix:
        fail(f"--format {fmt} but --out {out_file} names a {by_suffix} file")
    fmt = fmt or by_suffix
    if out_file.is_dir():
        fail(f"--out: {out_file} is a folder, not a file")
    if out_file.exists() and not force:
        fail(f"--out: {out_file} already exists; pass --force to replace it, or name a new file")
    if not out_file.parent.is_dir():
        fail(f"--out: the folder {out_file.parent} does not exist")
    if seq is not None and seq < 1:
        fail(f"--seq: a journal's events are numbered from 1, got {seq}")
    with user_errors(FIELDS, REWORDING):
        journal_to_read(journal, "JOURNAL")
        with open_journal(journal, namespace=namespace, create=False) as j:
            last = j.last_seq()
            if seq is not None and seq > last:
                fail(f"--seq: the journal holds {last:,} events, not {seq:,}")
            e = rebuild(j, to_seq=seq)
        rows = book_rows(e, exclude)
        tmp = out_file.with_name(f".{out_file.name}.partial")
        try:
            write_book(rows, tmp, fmt)
            os.replace(tmp, out_file)
        finally:
            tmp.unlink(missing_ok=True)
    subs = {(r["account"], r["subaccount"]) for r in rows if r["kind"] != "mark"}
    positions = sum(1 for r in rows if r["kind"] == "position" and r["amount"] != "0")
    marks = ", ".join(f"{r['symbol']} {r['price']}" for r in rows if r["kind"] == "mark") or "none"
    console.print(f"{len(subs):,} sub-accounts, {positions:,} positions, marks: {marks}; journal event {e.seq:,}, state hash "
                  f"{e.state_hash()[:16]}", soft_wrap=True, highlight=False)
    show_files(out_file, label="book")


#: The commands this module adds to ``ramparts``, in the order ``ramparts --help`` lists them.
def validate(
    check: str = typer.Option("", help="comma-separated checks (default: all): hyperliquid-2025-10-10, black-thursday-bitmex, "
                                       "black-thursday-binance"),
    out: Path = out_option("validate"),
    force: bool = force_option(),
) -> None:
    """Replay the windows whose real outcomes were published and print the lab beside reality, with bands."""
    from ramparts.lab.validate import run_validation, write_validation

    with user_errors(FIELDS, REWORDING):
        names = [c.strip() for c in check.split(",") if c.strip()]
        with run_folder("validate", "validate", out, force=force) as out_dir:
            with progress("validate", "prices") as bar:
                tasks: dict[str, object] = {}

                def tick(name: str, k: int, n: int) -> None:
                    if name not in tasks:
                        tasks[name] = bar.add_task(name, total=n)
                    bar.update(tasks[name], completed=k)

                results = run_validation(names or None, progress=tick)
            files = write_validation(results, out_dir)
    outside = 0
    for c, figs, facts in results:
        t = Table(title=f"{c.title}: {facts['event']} on {facts['venue']}, {', '.join(facts['markets'])}, "
                        f"{facts['accounts']:,} accounts, fund {facts['fund']['amount_usdc']:,.0f} USDC ({facts['fund']['basis']})")
        for col in ("figure", "lab", "real", "band", "status"):
            t.add_column(col, justify="left" if col in ("figure", "status") else "right")
        for f in figs:
            from ramparts.lab.validate import _fmt

            real = "-" if f.figure.real is None else _fmt(f.figure, f.figure.real)
            t.add_row(f.figure.label, _fmt(f.figure, f.lab), real, f"{_fmt(f.figure, f.figure.low)} to {_fmt(f.figure, f.figure.high)}",
                      f.status)
            outside += f.status == "OUTSIDE"
        console.print(t)
        for f in figs:
            if f.figure.known_gap and not f.inside:
                console.print(f"  known gap, {f.figure.key}: {f.figure.known_gap}", soft_wrap=True, highlight=False)
    show_files(files["html"], summary=files["json"])
    if outside:
        console.print(f"[bold red]{outside} figure(s) outside their band[/]")
        raise typer.Exit(1)


# --------------------------------------------------------------------------------------------------
# screenshots

#: The small run of each lab report that ``ramparts screenshots`` makes (and the browser tests open): seconds each.
#: Each is the command line after ``ramparts``, without ``--out``.
SCREENSHOT_RUNS: dict[str, list[str]] = {
    "replay": ["replay", "black-thursday-2020", "--accounts", "200"],
    "compare": ["compare", "black-thursday-2020", "--accounts", "200", "--venues", "ramparts,binance,dydx"],
    "stress": ["stress", "--paths", "4", "--steps", "24", "--accounts", "100"],
    "coverage": ["coverage", "--paths", "20000", "--chunk", "10000", "--backend", "numpy"],
    "calibrate": ["calibrate", "--margin-scale", "0.5,1,2", "--max-fraction", "1", "--paths", "2", "--steps", "24", "--accounts", "80"],
    "backtest-margin": ["backtest-margin", "ftx-2022", "--model", "historical"],
    "depeg": ["depeg", "--accounts", "200"],
    "bridge": ["bridge", "failure", "--accounts", "60"],
    "replay-options": ["replay-options", "--pairs", "20", "--every", "4"],
    "validate": ["validate", "--check", "black-thursday-binance,black-thursday-bitmex"],
}

_CHROMIUM = "/usr/bin/chromium"


def screenshots(
    out: Path = out_option("screenshots"),
    force: bool = force_option(),
    only: str = typer.Option("", help="comma-separated reports to shoot (default: all): " + ", ".join(SCREENSHOT_RUNS)),
    browser: Path = typer.Option(None, help=f"the Chromium to drive (default: {_CHROMIUM} if present, else Playwright's own)"),
    width: int = typer.Option(1400, help="page width in pixels"),
) -> None:
    """Run a small version of every lab report into a temporary folder and write a full-page PNG of each (Chromium, Playwright)."""
    import subprocess
    import sys

    names = [x.strip() for x in only.split(",") if x.strip()] or list(SCREENSHOT_RUNS)
    unknown = [x for x in names if x not in SCREENSHOT_RUNS]
    if unknown:
        fail(f"--only: unknown report {', '.join(unknown)} (one of {', '.join(SCREENSHOT_RUNS)})")
    if width < 320:
        fail(f"--width: at least 320 pixels, got {width}")
    exe = str(browser) if browser is not None else (_CHROMIUM if Path(_CHROMIUM).exists() else None)
    if browser is not None and not browser.exists():
        fail(f"--browser: no such file: {browser}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail("ramparts screenshots needs Playwright: pip install playwright (and a Chromium: apt-get install chromium)")
    with run_folder("screenshots", "reports", out, force=force) as out_dir, tempfile.TemporaryDirectory() as tmp:
        made: dict[str, Path] = {}
        here = Path(tmp) / "cwd"  # an empty working folder: python -m puts it first on the path, so no report folder shadows a module
        here.mkdir()
        for name in names:
            folder = Path(tmp) / "reports" / name
            with console.status(f"running {' '.join(SCREENSHOT_RUNS[name])}"):
                res = subprocess.run([sys.executable, "-m", "ramparts", *SCREENSHOT_RUNS[name], "--out", str(folder)],
                                     capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"}, cwd=here)
            if res.returncode != 0:
                why = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
                fail(f"{name}: ramparts {' '.join(SCREENSHOT_RUNS[name])} failed: {why}")
            made[name] = folder / "report.html"
        with sync_playwright() as pw:
            try:
                chrome = pw.chromium.launch(**({"executable_path": exe} if exe else {}), args=["--no-sandbox", "--disable-gpu"])
            except Exception as exc:  # a missing or broken browser is the user's to fix: one line
                fail(f"cannot start Chromium ({exe or 'Playwright’s own'}): {str(exc).splitlines()[0]}")
            try:
                for name, html in made.items():
                    page = chrome.new_page(viewport={"width": width, "height": 900})
                    page.goto(html.resolve().as_uri())
                    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(g => g._fullLayout)",
                                           timeout=60_000)
                    png = out_dir / f"{name}.png"
                    page.screenshot(path=str(png), full_page=True)
                    page.close()
                    console.print(f"{name}: {png} ({png.stat().st_size:,} bytes)", highlight=False)
            finally:
                chrome.close()
    show_files(out_dir, label="screenshots")


COMMANDS: tuple[tuple[str, Any], ...] = (
    ("demo", demo),
    ("replay", replay),
    ("stress", stress),
    ("coverage", coverage),
    ("calibrate", calibrate),
    ("backtest-margin", backtest_margin),
    ("compare", compare),
    ("depeg", depeg),
    ("bridge", bridge),  # collateral held elsewhere: a bridge that fails, collateral in flight (ramparts.lab.bridge_cli)
    ("replay-options", replay_options),
    ("export-book", export_book),
    ("validate", validate),
    ("screenshots", screenshots),
)


def register(app: typer.Typer) -> None:
    """Add the lab's commands to the root app."""
    for name, fn in COMMANDS:
        app.command(name)(fn)


__all__ = ["COMMANDS", "FIELDS", "REWORDING", "SCREENSHOT_RUNS", "register"]
