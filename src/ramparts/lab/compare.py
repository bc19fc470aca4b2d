"""One crash, one population, several venue designs side by side (``ramparts compare``).

:func:`run_compare` replays the same price path with the same seeded population through each
:class:`~ramparts.venues.profiles.VenueProfile` and tabulates, per venue: the initial margin the
venue requires at the open beside the collateral the traders actually post (the same traders, the
same collateral on every venue), liquidations, bankruptcies, the loss beyond the bankrupt accounts'
equity, the insurance fund (sized per profile by the same ``--fund`` rule, :mod:`ramparts.lab.fund`;
its start, gross draws, penalty income, end), the backstop vault's loss, ADL (fills, notional, what
the counterparties gave up), socialised loss, the loss beyond the fund and the bad debt split by
who bore it. The population may be a risk team's own book (:mod:`ramparts.lab.book`): each venue opens
what its initial margin accepts, and the table says how many positions each refused. :func:`write_compare_report`
writes one HTML page (:mod:`ramparts.lab.reportkit`'s: the verdict, a headline table of every figure per venue keyed to
``compare.json``, the parameters; the oracle paths, the fund and the vault over time; grouped bars of where the loss
went, of the counts and of the margin as a percent of notional; the bad debt by who bore it; each profile's fund
sizing and documented differences from its venue), a JSON summary and a Parquet table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from html import escape
from pathlib import Path

import pandas as pd

from ramparts.lab.book import Book
from ramparts.lab.crowd import CrowdSpec
from ramparts.lab.fund import FundRule
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import BEARERS, ReplayResult, run_replay
from ramparts.venues.profiles import VenueProfile

FIGURES = {
    "initial_margin_rate_avg": "initial margin required (Σ IM / Σ notional)",
    "collateral_to_notional_avg": "collateral posted (Σ collateral / Σ notional)",
    "liquidation_steps": "liquidation steps",
    "liquidated_notional_usdc": "liquidated notional (USDC)",
    "bankruptcies": "bankrupt accounts",
    "bankruptcy_deficit_usdc": "bankruptcy deficit at the mark (USDC)",
    "fills_below_bankruptcy_usdc": "fills below the bankruptcy price, paid by the fund (USDC)",
    "loss_beyond_equity_usdc": "loss beyond equity, the vault's included (USDC)",
    "fund_ratio_to_open_interest": "insurance fund / open interest",
    "insurance_fund_start_usdc": "insurance fund at the start (USDC)",
    "insurance_fund_draws_usdc": "fund draws, gross (USDC)",
    "penalty_income_usdc": "penalties to the fund (USDC)",
    "insurance_fund_end_usdc": "insurance fund at the end (USDC)",
    "penalty_to_keepers_usdc": "penalties to keepers (USDC)",
    "vault_loss_usdc": "backstop vault loss, net (USDC)",
    "deleverages": "ADL fills",
    "adl_notional_usdc": "ADL notional (USDC)",
    "adl_counterparty_loss_usdc": "ADL counterparties' loss (USDC)",
    "socialised_loss_usdc": "socialised loss (USDC)",
    "loss_beyond_fund_usdc": "loss beyond the fund (USDC)",
    "bad_debt_usdc": "bad debt, net of penalties (USDC)",
}

#: Figures shown as a share, not an amount.
RATES = ("initial_margin_rate_avg", "collateral_to_notional_avg", "fund_ratio_to_open_interest")


def run_compare(ts_ns, price, profiles: list[VenueProfile], *, name: str, population: PopulationSpec | CrowdSpec | Book | None = None,
                liquidity: LiquidityModel | None = None, progress: Callable[[str, int, int], None] | None = None,
                fund: FundRule | str | None = None) -> tuple[pd.DataFrame, dict[str, ReplayResult]]:
    """Replay ``price`` through every profile; one row per venue (and the full results).

    ``fund`` (``"auto"``, ``"5%oi"``, ``"250000"``) sizes every venue's insurance fund by the same
    rule, each from its own profile's published figures; ``None`` keeps each profile's own
    ``VenueSpec`` fund."""
    population = population or PopulationSpec()
    liquidity = liquidity or LiquidityModel()
    rows, results = [], {}
    for p in profiles:
        venue = p.venue if fund is None else replace(p.venue, fund=FundRule.parse(fund))
        r = run_replay(ts_ns, price, name=f"{name} on {p.name}", population=population, liquidity=liquidity, venue=venue,
                       progress=(lambda k, n, _p=p.name: progress(_p, k, n)) if progress else None)
        s = r.summary
        f = s["fund"]
        rows.append({
            "venue": p.name,
            "title": p.title,
            **{k: s[k] for k in FIGURES if k in s},
            "fund_ratio_to_open_interest": f["ratio_to_open_interest"],
            "open_interest_usdc": s["open_interest_usdc"],
            "fund_rule": f["rule"],
            "fund_basis": f["basis"],
            "fund_observation": f["observation"],
            "fund_source": f["source"],
            **{f"bad_debt_{b}_usdc": s["bad_debt_by_bearer_usdc"][b] for b in BEARERS},
            "vault_equity_end_usdc": s["vault_equity_end_usdc"],
            "loss_split_adds_up": s["loss_accounting"]["adds_up"],
            "value_conserved": s["value_conserved"],
            "replay_identical": s["replay_identical"],
            **({"book_positions_opened": s["book"]["positions_opened"], "book_positions_refused": s["book"]["positions_refused"]}
               if "book" in s else {}),
        })
        results[p.name] = r
    return pd.DataFrame(rows), results


#: The grouped bars of the compare report: (title, y axis, [(table column, words, colour meaning)]).
_BARS = (
    ("Where the loss went, per venue", "USDC", (
        ("insurance_fund_draws_usdc", "fund draws, gross", "fund"), ("penalty_income_usdc", "penalties to the fund", "income"),
        ("vault_loss_usdc", "backstop vault loss", "vault"), ("adl_counterparty_loss_usdc", "ADL counterparties' loss", "adl"),
        ("socialised_loss_usdc", "socialised loss", "socialised"), ("loss_beyond_fund_usdc", "loss beyond the fund", "total"))),
    ("Liquidations, bankruptcies and ADL fills, per venue", "count", (
        ("liquidation_steps", "liquidation steps", "liquidation"), ("bankruptcies", "bankrupt accounts", "bankruptcy"),
        ("deleverages", "ADL fills", "adl"))),
    ("Margin at the open, per venue", "percent of notional", (
        ("initial_margin_rate_avg", "initial margin required", "requirement"),
        ("collateral_to_notional_avg", "collateral posted", "collateral"))),
)


def compare_verdict(table: pd.DataFrame) -> str:
    """One sentence: the range of the loss beyond the fund and of the bad debt across the venues."""
    if table.empty:
        return "No venue ran."
    v = table.set_index("venue")
    beyond, bad = v["loss_beyond_fund_usdc"], v["bad_debt_usdc"]
    n_beyond = int((beyond > 0).sum())
    return (f"Across {len(v)} venue designs the loss beyond the insurance fund ran from {beyond.min():,.0f} USDC ({beyond.idxmin()}) to "
            f"{beyond.max():,.0f} USDC ({beyond.idxmax()}); {n_beyond} of {len(v)} lost anything beyond their fund. "
            f"Bad debt net of penalties ran from {bad.min():,.0f} ({bad.idxmin()}) to {bad.max():,.0f} USDC ({bad.idxmax()}).")


def compare_headline(table: pd.DataFrame) -> list[tuple[str, list]]:
    """The headline rows of a compare table (a column per venue), keyed to ``compare.json``'s ``venues``."""
    from ramparts.lab import reportkit as rk

    n = len(table)

    def row(label: str, col: str, spec: str) -> tuple[str, list]:
        return label, [rk.cell(None if col not in table else _plain(table[col].iloc[i]), f"venues/{i}/{col}", spec) for i in range(n)]

    rows = [row(label, k, ".2%" if k in RATES else (",d" if k in COUNTS else ",.0f")) for k, label in FIGURES.items()]
    rows += [row(f"  bad debt borne by: {rk.BEARER_WORDS[b]} (USDC)", f"bad_debt_{b}_usdc", ",.0f") for b in BEARERS]
    rows.append(("fund sized by", [f"{r} ({b})" for r, b in zip(table["fund_rule"], table["fund_basis"], strict=True)]))
    if "book_positions_refused" in table:
        rows.append(row("book: positions opened at the open", "book_positions_opened", ",d"))
        rows.append(row("book: positions refused at the open", "book_positions_refused", ",d"))
    rows += [row("loss split adds up", "loss_split_adds_up", "text"), row("value conserved", "value_conserved", "text"),
             row("journal replay identical", "replay_identical", "text")]
    return rows


#: Figures that are counts (shown without decimals, as integers).
COUNTS = ("liquidation_steps", "bankruptcies", "deleverages")


def _plain(x):
    """A numpy scalar as the Python value the JSON file holds."""
    return x.item() if hasattr(x, "item") else x


def write_compare_report(table: pd.DataFrame, results: dict[str, ReplayResult], profiles: list[VenueProfile], out_dir: str | Path,
                         title: str, *, path=None) -> dict[str, Path]:
    """``report.html`` (the verdict per venue, the parameters, the oracle, fund and vault over time, grouped bars of
    where the loss went, the counts and the margin, each venue's fund and differences), ``compare.json`` and
    ``compare.parquet``. ``path`` (a :class:`~ramparts.lab.paths.PathProvenance`) names the price series."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk
    from ramparts.lab.report import fund_words, population_words

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "compare.json", "table": out / "compare.parquet"}
    venues = list(table["venue"])
    colour = {v: rk.palette(i) for i, v in enumerate(venues)}
    page = rk.Page(f"ramparts compare: {title}", command="compare")
    page.verdict(compare_verdict(table), rk.headline(compare_headline(table), columns=venues, source="compare.json"))
    first = next(iter(results.values()), None)
    if first is not None:
        s0 = first.summary
        series = path.describe() if path is not None else "the event's default series"
        page.parameters([
            ("event", s0.get("name", "").split(" on ")[0] or title), ("price series and bar size", series),
            ("markets", ", ".join(s0.get("markets") or []) or "—"), ("window", rk.span(first.series["ts_ns"])),
            ("population (the same on every venue)", population_words(s0)),
            ("seed", "— (a book)" if s0.get("book") else (s0.get("population") or {}).get("seed")),
            ("insurance fund rule", f"{table['fund_rule'].iloc[0]} on every venue, each from its own profile's published figures"),
            ("venues", "; ".join(f"{p.name} ({p.title})" for p in profiles)),
        ])
    for key, words, unit in (("oracle_price", "Oracle price seen by each venue", "BTC price (USD)"),
                             ("insurance_fund", "Insurance fund of each venue over time", "USDC"),
                             ("vault_equity", "Backstop vault equity of each venue over time", "USDC")):
        fig = rk.time_chart(words, y=unit, height=360)
        for v, r in results.items():
            fig.add_trace(go.Scatter(x=rk.times(r.series["ts_ns"]), y=r.series[key], name=v, line={"color": colour[v], "width": 1.2}))
        page.figure(fig)
    for words, unit, cols in _BARS:
        fig = rk.chart(words, x="venue", y=unit, height=420)
        for col, label, meaning in cols:
            if col not in table:
                continue
            spec = ".2%" if col in RATES else ",.0f"
            fig.add_trace(go.Bar(x=venues, y=table[col], name=label, marker={"color": rk.COLOURS[meaning]}, text=rk.bar_text(table[col], spec),
                                 textposition="outside", cliponaxis=False))
        fig.update_layout(barmode="group")
        if unit.startswith("percent"):
            fig.update_yaxes(tickformat=".1%")
        page.figure(fig)
    fig = rk.chart("Bad debt by who bore it, per venue", x="venue", y="USDC (< 0: a surplus)", height=420)
    for b in BEARERS:
        fig.add_trace(go.Bar(x=venues, y=table[f"bad_debt_{b}_usdc"], name=f"borne by: {rk.BEARER_WORDS[b]}", marker={"color": rk.BEARER_COLOURS[b]}))
    fig.update_layout(barmode="relative")
    page.figure(fig)
    notes = "".join(f"<li><b>{escape(p.name)}</b> ({escape(p.source)}): " + escape("; ".join(p.differences) or "—") + "</li>" for p in profiles)
    funds = "".join(f"<li><b>{escape(v)}</b>: {escape(fund_words(r.summary['fund']))}. {escape(r.summary['fund']['explanation'])}</li>"
                    for v, r in results.items())
    page.section("Insurance fund of each venue", f"<ul>{funds}</ul>", id="funds")
    page.section("How each profile differs from its venue", f"<ul>{notes}</ul>", id="differences")
    page.write(paths["html"])
    doc = {"title": title, "venues": table.to_dict(orient="records"),
           "funds": {v: r.summary["fund"] for v, r in results.items()},
           "bad_debt_by_bearer_usdc": {v: r.summary["bad_debt_by_bearer_usdc"] for v, r in results.items()},
           "profiles": {p.name: {"source": p.source, "differences": list(p.differences),
                                 "venue": results[p.name].summary["venue"] if p.name in results else p.venue.to_dict()} for p in profiles}}
    first = next(iter(results.values()), None)
    if first is not None:  # the same population ran on every venue: its scenario and what it drew, once
        doc["population"] = first.summary["population"]
        for key in ("crowd", "scenario"):
            if key in first.summary:
                doc[key] = first.summary[key]
        if "book" in first.summary:  # the same book; what each venue's initial margin let it open
            keep = ("positions_opened", "positions_refused", "refused", "rebased", "open_interest_usdc", "entry_adjustment_usdc")
            doc["book"] = {**first.summary["population"], "by_venue": {v: {k: r.summary["book"][k] for k in keep} for v, r in results.items()}}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str))
    table.to_parquet(paths["table"], index=False)
    return paths
