"""One crash, one population, several venue designs side by side (``ramparts compare``).

:func:`run_compare` replays the same price path with the same seeded population through each
:class:`~ramparts.venues.profiles.VenueProfile` and tabulates, per venue: the average initial
margin at the open (capital efficiency), liquidations, bankruptcies, the bankruptcy deficit, the
insurance fund's draw, ADL fills, socialised loss and bad debt. :func:`write_compare_report`
writes one HTML page (grouped bars per figure, the oracle paths, each profile's documented
differences from its venue), a JSON summary and a Parquet table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import ReplayResult, run_replay
from ramparts.venues.profiles import VenueProfile

FIGURES = {
    "initial_margin_rate_avg": "average initial margin at the open",
    "liquidation_steps": "liquidation steps",
    "liquidated_notional_usdc": "liquidated notional (USDC)",
    "bankruptcies": "bankrupt accounts",
    "bankruptcy_deficit_usdc": "bankruptcy deficit (USDC)",
    "insurance_fund_draw_usdc": "insurance fund draw (USDC)",
    "deleverages": "ADL fills",
    "adl_notional_usdc": "ADL notional (USDC)",
    "socialised_loss_usdc": "socialised loss (USDC)",
    "bad_debt_usdc": "unrecovered bad debt (USDC)",
}


def run_compare(ts_ns, price, profiles: list[VenueProfile], *, name: str, population: PopulationSpec | None = None,
                liquidity: LiquidityModel | None = None, progress: Callable[[str, int, int], None] | None = None
                ) -> tuple[pd.DataFrame, dict[str, ReplayResult]]:
    """Replay ``price`` through every profile; one row per venue (and the full results)."""
    population = population or PopulationSpec()
    liquidity = liquidity or LiquidityModel()
    rows, results = [], {}
    for p in profiles:
        r = run_replay(ts_ns, price, name=f"{name} on {p.name}", population=population, liquidity=liquidity, venue=p.venue,
                       progress=(lambda k, n, _p=p.name: progress(_p, k, n)) if progress else None)
        s, t = r.summary, r.totals
        rows.append({
            "venue": p.name,
            "title": p.title,
            "initial_margin_rate_avg": s["initial_margin_rate_avg"],
            "liquidation_steps": s["liquidation_steps"],
            "liquidated_notional_usdc": s["liquidated_notional_usdc"],
            "bankruptcies": s["bankruptcies"],
            "bankruptcy_deficit_usdc": s["bankruptcy_deficit_usdc"],
            "insurance_fund_draw_usdc": s["insurance_fund_start_usdc"] - s["insurance_fund_end_usdc"],
            "deleverages": s["deleverages"],
            "adl_notional_usdc": t["adl_notional"],
            "socialised_loss_usdc": t["socialised_loss"],
            "bad_debt_usdc": t["bad_debt"],
            "value_conserved": s["value_conserved"],
            "replay_identical": s["replay_identical"],
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
    fig = make_subplots(rows=rows, cols=2, subplot_titles=["oracle price seen by each venue", "insurance fund (USDC)"] + [FIGURES[k] for k in keys],
                        vertical_spacing=0.05)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (venue, r) in enumerate(results.items()):
        t = pd.to_datetime(np.asarray(r.series["ts_ns"]), unit="ns", utc=True)
        c = colours[i % len(colours)]
        fig.add_trace(go.Scatter(x=t, y=r.series["oracle_price"], name=venue, line={"color": c, "width": 1}, legendgroup=venue), row=1, col=1)
        fig.add_trace(go.Scatter(x=t, y=r.series["insurance_fund"], name=venue, line={"color": c, "width": 1}, legendgroup=venue, showlegend=False),
                      row=1, col=2)
    for j, k in enumerate(keys):
        fig.add_trace(go.Bar(x=table["venue"], y=table[k], marker={"color": colours[: len(table)]}, showlegend=False), row=2 + j // 2, col=1 + j % 2)
    notes = "<br>".join(f"<b>{p.name}</b> ({p.source}): " + ("; ".join(p.differences) or "—") for p in profiles)
    fig.update_layout(height=330 * rows, title=title, template="plotly_white")
    html = fig.to_html(include_plotlyjs="inline", full_html=True)
    html = html.replace("</body>", f"<div style='font-family:sans-serif;font-size:13px;margin:16px'><h3>How each profile differs from its venue</h3>{notes}</div></body>")
    paths["html"].write_text(html, encoding="utf-8")
    doc = {"title": title, "venues": table.to_dict(orient="records"),
           "profiles": {p.name: {"source": p.source, "differences": list(p.differences), "venue": p.venue.to_dict()} for p in profiles}}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str))
    table.to_parquet(paths["table"], index=False)
    return paths
