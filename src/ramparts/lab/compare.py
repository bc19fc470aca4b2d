"""One crash, one population, several venue designs side by side (``ramparts compare``).

:func:`run_compare` replays the same price path with the same seeded population through each
:class:`~ramparts.venues.profiles.VenueProfile` and tabulates, per venue: the initial margin the
venue requires at the open beside the collateral the traders actually post (the same traders, the
same collateral on every venue), liquidations, bankruptcies, the loss beyond the bankrupt accounts'
equity, the insurance fund (sized per profile by the same ``--fund`` rule, :mod:`ramparts.lab.fund`;
its start, gross draws, penalty income, end), the backstop vault's loss, ADL (fills, notional, what
the counterparties gave up), socialised loss, the loss beyond the fund and the bad debt split by
who bore it. The population may be a risk team's own book (:mod:`ramparts.lab.book`): each venue opens
what its initial margin accepts, and the table says how many positions each refused. :func:`write_compare_report` writes one HTML page (grouped bars per figure, the oracle
paths, the fund and vault over time, each profile's fund sizing and documented differences from
its venue), a JSON summary and a Parquet table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
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


def write_compare_report(table: pd.DataFrame, results: dict[str, ReplayResult], profiles: list[VenueProfile], out_dir: str | Path,
                         title: str) -> dict[str, Path]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "compare.json", "table": out / "compare.parquet"}
    keys = list(FIGURES)
    rows = (len(keys) + 1) // 2 + 1
    rows += 1  # the backstop vault's equity over time, beside the bad debt by bearer
    titles = ["oracle price seen by each venue", "insurance fund (USDC)"] + [FIGURES[k] for k in keys]
    titles += [""] * (len(keys) % 2) + ["backstop vault equity (USDC)", "bad debt by who bore it (USDC)"]
    fig = make_subplots(rows=rows, cols=2, subplot_titles=titles, vertical_spacing=0.03)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (venue, r) in enumerate(results.items()):
        t = pd.to_datetime(np.asarray(r.series["ts_ns"]), unit="ns", utc=True)
        c = colours[i % len(colours)]
        fig.add_trace(go.Scatter(x=t, y=r.series["oracle_price"], name=venue, line={"color": c, "width": 1}, legendgroup=venue), row=1, col=1)
        fig.add_trace(go.Scatter(x=t, y=r.series["insurance_fund"], name=venue, line={"color": c, "width": 1}, legendgroup=venue, showlegend=False),
                      row=1, col=2)
        fig.add_trace(go.Scatter(x=t, y=r.series["vault_equity"], name=venue, line={"color": c, "width": 1}, legendgroup=venue, showlegend=False),
                      row=rows, col=1)
    for j, k in enumerate(keys):
        fig.add_trace(go.Bar(x=table["venue"], y=table[k], marker={"color": colours[: len(table)]}, showlegend=False), row=2 + j // 2, col=1 + j % 2)
    bearer_colours = {"insurance_fund": "#9467bd", "backstop_vault": "#8c564b", "adl_counterparties": "#ff7f0e", "socialised": "#d62728"}
    for b in BEARERS:
        fig.add_trace(go.Bar(x=table["venue"], y=table[f"bad_debt_{b}_usdc"], name=f"borne by: {b.replace('_', ' ')}",
                             marker={"color": bearer_colours[b]}), row=rows, col=2)
    fig.update_layout(barmode="relative")
    notes = "<br>".join(f"<b>{p.name}</b> ({p.source}): " + ("; ".join(p.differences) or "—") for p in profiles)
    funds = "<br>".join(f"<b>{v}</b>: {r.summary['fund']['explanation']}. Source: {r.summary['fund']['source']}" for v, r in results.items())
    fig.update_layout(height=330 * rows, title=title, template="plotly_white")
    html = fig.to_html(include_plotlyjs="inline", full_html=True)
    html = html.replace("</body>", "<div style='font-family:sans-serif;font-size:13px;margin:16px'>"
                                   f"<h3>Insurance fund of each venue</h3>{funds}"
                                   f"<h3>How each profile differs from its venue</h3>{notes}</div></body>")
    paths["html"].write_text(html, encoding="utf-8")
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
