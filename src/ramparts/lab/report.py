"""Reports of a replay: a self-contained HTML page (plotly), a JSON summary and a Parquet time series.

The HTML shows, top to bottom: the market and oracle price with liquidation markers (sized by
notional), the insurance fund and the backstop vault's equity over time, the margin-ratio
distribution through time (median, 90th and 99th percentile of maintenance / equity, with the
count of accounts in breach), the oracle defences (invalid readings, liquidation blocked by a gate
or a breaker, breakers tripped), and the use of each waterfall layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ramparts.lab.replay import ReplayResult


def _times(ts_ns) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ts_ns, dtype=np.int64), unit="ns", utc=True)


def figure(result: ReplayResult) -> go.Figure:
    """The report's figure: four stacked panels sharing the time axis, plus a layer-usage bar."""
    s = result.series
    t = _times(s["ts_ns"])
    fig = make_subplots(
        rows=5,
        cols=1,
        shared_xaxes=False,
        vertical_spacing=0.06,
        row_heights=[0.3, 0.18, 0.18, 0.14, 0.2],
        subplot_titles=("Price and liquidations", "Insurance fund and backstop vault (USDC)", "Margin ratio (maintenance / equity) across accounts",
                        "Oracle defences: invalid reading, liquidation blocked, breakers tripped", "Waterfall layers used (USDC)"),
        specs=[[{}], [{}], [{"secondary_y": True}], [{}], [{"type": "bar"}]],
    )
    fig.add_trace(go.Scatter(x=t, y=s["market_price"], name="market price", line={"color": "#888", "width": 1}), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=s["oracle_price"], name="oracle (with liquidation impact)", line={"color": "#1f77b4", "width": 1.5}), row=1, col=1)
    if result.liquidations:
        liq = pd.DataFrame(result.liquidations)
        size = 6 + 18 * np.sqrt(liq["notional"] / max(liq["notional"].max(), 1))
        colour = np.where(liq["side"] == "sell", "#d62728", "#2ca02c")
        fig.add_trace(
            go.Scatter(x=_times(liq["ts_ns"]), y=liq["price"], mode="markers", name="liquidations",
                       marker={"size": size, "color": colour, "opacity": 0.6},
                       text=[f"{a}: {n:,.0f} USDC" for a, n in zip(liq["subaccount"], liq["notional"], strict=True)]),
            row=1, col=1,
        )
    fig.add_trace(go.Scatter(x=t, y=s["insurance_fund"], name="insurance fund", line={"color": "#9467bd"}), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=s["vault_equity"], name="backstop vault equity", line={"color": "#8c564b"}), row=2, col=1)
    fig.add_trace(go.Scatter(x=t, y=s["ratio_p99"], name="99th pct", line={"color": "#d62728", "width": 1}), row=3, col=1)
    fig.add_trace(go.Scatter(x=t, y=s["ratio_p90"], name="90th pct", line={"color": "#ff7f0e", "width": 1}, fill="tonexty"), row=3, col=1)
    fig.add_trace(go.Scatter(x=t, y=s["ratio_p50"], name="median", line={"color": "#2ca02c", "width": 1}, fill="tonexty"), row=3, col=1)
    fig.add_trace(go.Scatter(x=t, y=s["in_breach"], name="accounts in breach", line={"color": "#444", "dash": "dot"}), row=3, col=1, secondary_y=True)
    if "oracle_valid" in s:
        fig.add_trace(go.Scatter(x=t, y=1 - np.asarray(s["oracle_valid"]), name="oracle reading invalid", line={"color": "#d62728", "shape": "hv"}),
                      row=4, col=1)
        fig.add_trace(go.Scatter(x=t, y=s["liquidation_blocked"], name="liquidation blocked", line={"color": "#ff7f0e", "shape": "hv", "dash": "dot"}),
                      row=4, col=1)
        fig.add_trace(go.Scatter(x=t, y=s["breakers_tripped"], name="breakers tripped", line={"color": "#9467bd", "shape": "hv"}), row=4, col=1)
        gates = [k for k in s if k.startswith("gate_") and np.asarray(s[k]).any()]
        for j, g in enumerate(gates):  # each gate on its own level, so they can be told apart
            level = np.where(np.asarray(s[g]) > 0, 1.2 + 0.2 * j, np.nan)
            fig.add_trace(go.Scatter(x=t, y=level, mode="markers", name=f"gate: {g[5:].replace('_', ' ')}", marker={"symbol": "square", "size": 6}),
                          row=4, col=1)
        if "outliers_rejected" in s and np.asarray(s["outliers_rejected"]).any():
            fig.add_trace(go.Scatter(x=t, y=np.where(np.asarray(s["outliers_rejected"]) > 0, 1.1, np.nan), mode="markers",
                                     name="source rejected as an outlier", marker={"symbol": "x", "size": 7, "color": "black"}), row=4, col=1)
    layers = list(result.totals)
    fig.add_trace(go.Bar(x=layers, y=[result.totals[k] for k in layers], name="layers", marker={"color": "#17becf"}), row=5, col=1)
    fig.update_layout(height=1550, title=f"ramparts replay: {result.name}", legend={"orientation": "h", "y": -0.05}, template="plotly_white")
    fig.add_hline(y=1.0, line={"color": "red", "dash": "dash"}, row=3, col=1)
    fig.update_yaxes(type="log", row=5, col=1)
    return fig


def write_report(result: ReplayResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``summary.json`` and ``series.parquet`` (+ ``liquidations.parquet``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "series": out / "series.parquet", "liquidations": out / "liquidations.parquet"}
    figure(result).write_html(paths["html"], include_plotlyjs="inline", full_html=True)
    summary = dict(result.summary, layers=result.totals)
    paths["json"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    df = pd.DataFrame({k: v for k, v in result.series.items()})
    df.insert(0, "time", _times(result.series["ts_ns"]))
    df.to_parquet(paths["series"], index=False)
    pd.DataFrame(result.liquidations or {"ts_ns": [], "price": [], "notional": [], "side": [], "subaccount": []}).to_parquet(paths["liquidations"], index=False)
    return paths
