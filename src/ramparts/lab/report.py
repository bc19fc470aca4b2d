"""Reports of a replay: a self-contained HTML page (plotly), a JSON summary and a Parquet time series.

The HTML shows, top to bottom: the market and oracle price with liquidation markers (sized by
notional), the insurance fund and the backstop vault's equity over time, the margin-ratio
distribution through time (median, 90th and 99th percentile of maintenance / equity, with the
count of accounts in breach), the oracle defences (invalid readings, liquidation blocked by a gate
or a breaker, breakers tripped), and the loss layers (:func:`loss_layers`): the loss beyond the
bankrupt accounts' equity, the penalties that covered part of it, the fund's gross draws, and who
bore the rest (the fund, the backstop vault, ADL counterparties, socialised), with the fund's size,
its ratio to the open interest and its source in the panel's title.

Given how the path was made (:class:`~ramparts.lab.paths.PathProvenance`), the page opens with a
"Price path" section (base series and bar size, share of bars refined / bridged / coarse,
observations and median step, wick policy and every unconfirmed wick) and the summary carries it as
``price_path``; given a sensitivity table (:mod:`ramparts.lab.sensitivity`), the page ends with it
and a chart of the deficit per run, and the summary carries it as ``sensitivity``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ramparts.lab.paths import PathProvenance
from ramparts.lab.replay import ReplayResult


def _times(ts_ns) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ts_ns, dtype=np.int64), unit="ns", utc=True)


#: Bar colours of the loss-layer panel: losses, income covering them, the fund's gross draws, bearers, the total.
_LAYER_COLOURS = {"loss": "#d62728", "income": "#2ca02c", "draws": "#9467bd", "bearer": "#ff7f0e", "total": "#444"}


def loss_layers(result: ReplayResult) -> list[tuple[str, float, str]]:
    """The loss-layer bars of a replay, ``(label, USDC, kind)`` in the order drawn (see
    :func:`ramparts.lab.replay.run_replay`'s loss accounting); negative values are gains."""
    s = result.summary
    by = s.get("bad_debt_by_bearer_usdc", {})
    return [
        ("deficit at the mark", s.get("bankruptcy_deficit_usdc", 0.0) + s.get("fills_below_bankruptcy_usdc", 0.0), "loss"),
        ("vault: gross loss", s.get("vault_loss_usdc", 0.0) + s.get("vault_income_usdc", 0.0), "loss"),
        ("penalties to keepers", s.get("penalty_to_keepers_usdc", 0.0), "income"),
        ("penalties to the fund", result.totals.get("penalty_to_insurance", 0.0), "income"),
        ("vault income", s.get("vault_income_usdc", 0.0), "income"),
        ("fund: gross draws", result.totals.get("insurance_fund_draws", 0.0), "draws"),
        ("borne: fund (net)", by.get("insurance_fund", 0.0), "bearer"),
        ("borne: vault (net)", by.get("backstop_vault", 0.0), "bearer"),
        ("borne: ADL counterparties", by.get("adl_counterparties", 0.0), "bearer"),
        ("borne: socialised", by.get("socialised", 0.0), "bearer"),
        ("bad debt (total)", s.get("bad_debt_usdc", 0.0), "total"),
    ]


def _layers_title(result: ReplayResult) -> str:
    s = result.summary
    f = s.get("fund")
    title = "Loss layers (USDC): beyond the bankrupt accounts' equity, penalties, and who bore it"
    if f:
        ratio = "" if f.get("ratio_to_open_interest") is None else f", {f['ratio_to_open_interest']:.2%} of open interest"
        title += f"<br><sup>fund {f['amount_usdc']:,.0f} USDC{ratio} ({f['rule']}, {f['basis']}"
        title += f": {f['observation']})" if f.get("observation") else ")"
        title += f"; ADL notional {s.get('adl_notional_usdc', 0.0):,.0f}</sup>"
    return title


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
                        "Oracle defences: invalid reading, liquidation blocked, breakers tripped", _layers_title(result)),
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
    bars = loss_layers(result)
    fig.add_trace(go.Bar(x=[b[0] for b in bars], y=[b[1] for b in bars], name="loss layers",
                         marker={"color": [_LAYER_COLOURS[b[2]] for b in bars]},
                         text=[f"{b[1]:,.0f}" for b in bars], textposition="outside"), row=5, col=1)
    fig.update_layout(height=1550, title=f"ramparts replay: {result.name}", legend={"orientation": "h", "y": -0.05}, template="plotly_white")
    fig.add_hline(y=1.0, line={"color": "red", "dash": "dash"}, row=3, col=1)
    return fig


def write_report(result: ReplayResult, out_dir: str | Path, *, path: PathProvenance | None = None,
                 sensitivity: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``report.html``, ``summary.json`` and ``series.parquet`` (+ ``liquidations.parquet``).

    ``path`` (how the replayed path was made) and ``sensitivity`` (the table of
    :func:`ramparts.lab.sensitivity.run_sensitivity`) add their sections to the page and their keys
    (``price_path``, ``sensitivity``) to the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "series": out / "series.parquet", "liquidations": out / "liquidations.parquet"}
    html = figure(result).to_html(include_plotlyjs="inline", full_html=True)
    html = _with_path_sections(html, path, sensitivity)
    if "crowd" in result.summary:  # after the price path: who was trading, and every parameter assumed
        i = html.index("</div>", html.index("id='price-path'")) + len("</div>") if path is not None else html.index("<body>") + 6
        html = html[:i] + population_html(result.summary) + html[i:]
    paths["html"].write_text(html, encoding="utf-8")
    summary = dict(result.summary, layers=result.totals, **_path_summary(path, sensitivity))
    paths["json"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    df = pd.DataFrame({k: v for k, v in result.series.items()})
    df.insert(0, "time", _times(result.series["ts_ns"]))
    df.to_parquet(paths["series"], index=False)
    pd.DataFrame(result.liquidations or {"ts_ns": [], "price": [], "notional": [], "side": [], "subaccount": []}).to_parquet(paths["liquidations"], index=False)
    return paths


# --------------------------------------------------------------------------------------------------
# price path and sensitivity sections (what ramparts.lab.paths and ramparts.lab.sensitivity add to the page)

_BOX = "font-family:sans-serif;font-size:13px;margin:12px 16px;max-width:1200px"
_TABLE = "border-collapse:collapse;margin:6px 0"
_CELL = "border:1px solid #ccc;padding:2px 8px;text-align:right"


def _path_summary(path: PathProvenance | None, sensitivity: pd.DataFrame | None) -> dict:
    out: dict = {}
    if path is not None:
        out["price_path"] = path.to_dict()
    if sensitivity is not None:
        out["sensitivity"] = json.loads(sensitivity.to_json(orient="records"))
    return out


def _rows_html(header: list[str], rows: list[list[str]]) -> str:
    from html import escape

    head = "".join(f"<th style='{_CELL}'>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='{_CELL}'>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table style='{_TABLE}'><tr>{head}</tr>{body}</table>"


def price_path_html(path: PathProvenance) -> str:
    """The "Price path" section: base series and bar size, how the path was made, every flagged wick."""
    from html import escape

    d = path.to_dict()
    sh = path.share()
    facts = [["base series", f"{d['base']['source_id']} ({d['base']['interval']} bars, {path.bars:,})"],
             ["method", f"{path.method} ({path.order} order)"],
             ["finer series", ", ".join(f"{f['source_id']} ({f['interval']}, {f['bars_covered']} bars)" for f in d["finer_series"]) or "none"],
             ["bars refined / bridged / coarse", f"{path.bars_refined:,} / {path.bars_bridged:,} / {path.bars_coarse:,} "
                                                 f"({sh['refined']:.0%} / {sh['bridged']:.0%} / {sh['coarse']:.0%})"],
             ["observations, median step", f"{path.observations:,}, {d['median_step_s']:g} s"],
             ["wick policy, tolerance", f"{path.wick_policy}, {path.wick_tolerance:.2%}" if path.wick_tolerance is not None else "-"]]
    if d["bridge_step"]:
        facts.append(["bridge", f"O→extremes→C, log-linear, steps ≤ {d['bridge_step']}"])
    if d["ignored_series"]:
        facts.append(["not used", "; ".join(f"{s['source_id']}: {s['reason']}" for s in d["ignored_series"])])
    facts += [["note", n] for n in d["notes"]]
    wicks = _rows_html(["coarse bar", "side", "coarse", "confirmed", "finer series", "finer", "at", "gap", "action"],
                       [[w["bar"], w["side"], f"{w['coarse']:,.2f}", f"{w['confirmed']:,.2f}", w["finer_source"], f"{w['finer']:,.2f}",
                         w["at"], f"{w['gap']:.2%}", w["action"]] for w in d["wicks"]]) if d["wicks"] else "<p>no unconfirmed wick</p>"
    return (f"<div id='price-path' style='{_BOX}'><h3>Price path: {escape(path.describe())}</h3>"
            f"{_rows_html(['', ''], facts)}<h4>Unconfirmed wicks (coarse extreme beyond the finer series' by more than the tolerance)</h4>"
            f"{wicks}</div>")


def population_html(summary: dict) -> str:
    """The "Population" section: the crowd a scenario drew, what it did, and every parameter with its source or
    assumption (:mod:`ramparts.lab.crowd`, :mod:`ramparts.lab.scenario`)."""
    from html import escape

    c, sc = summary["crowd"], summary.get("scenario") or {}
    oi = sc.get("open_interest")
    facts = [["accounts by type", ", ".join(f"{k} {v:,}" for k, v in c["accounts_by_type"].items())],
             ["open interest after the warm-up", f"{c['open_interest_usd']:,.0f} USDC"
              + (f" (matched: {oi.get('source') or oi.get('assumption')})" if oi else " (not matched: no published figure for this event)")],
             ["leverage at entry: median / notional-weighted", f"{c['leverage_median']:.1f}× / {c['leverage_notional_weighted']:.1f}×"],
             ["top-ups", f"{c['topups']:,} ({c['topup_usd']:,.0f} USDC)"],
             ["de-risking trades", f"{c['derisks']:,} ({c['derisk_notional_usd']:,.0f} USDC)"],
             ["dip buyers", f"{c['dip_accounts']:,}"],
             ["fills refused (initial margin)", f"{c['fills_refused']:,}"]]
    params = _rows_html(["parameter", "value", "source or assumption"],
                        [[p["name"], str(p["value"]), ("source: " + p["source"]) if "source" in p else ("assumption: " + p.get("assumption", ""))]
                         for p in sc.get("parameters", [])])
    name = escape(Path(sc["scenario"]).name) if sc.get("scenario") else "?"
    return (f"<div id='population' style='{_BOX}'><h3>Population: scenario {name}</h3>{_rows_html(['', ''], facts)}"
            f"<details><summary>every parameter of the scenario, with its source or marked as an assumption</summary>{params}"
            f"</details></div>")


def sensitivity_html(table: pd.DataFrame) -> str:
    """The "Sensitivity" section: the one-factor-at-a-time table and a bar chart of the deficit per run."""
    from ramparts.lab.sensitivity import HEADLINE

    cols = list(HEADLINE)
    rows = [[r["factor"], r["setting"], f"{r['observations']:,}"] + [f"{r[c]:,.0f}" for c in cols]
            + ["-" if pd.isna(r["deficit_vs_base"]) else f"{r['deficit_vs_base']:.2f}×"] for _, r in table.iterrows()]
    labels = [f"{r['factor']} {r['setting']}".strip() for _, r in table.iterrows()]
    fig = go.Figure(go.Bar(y=labels, x=table["bankruptcy_deficit_usdc"], orientation="h", marker={"color": "#d62728"}))
    fig.add_vline(x=float(table["bankruptcy_deficit_usdc"].iloc[0]), line={"dash": "dash", "color": "#444"})
    fig.update_layout(title="Bankruptcy deficit (USDC) per run, one factor at a time (dashed: the base run)", template="plotly_white",
                      height=200 + 36 * len(labels), yaxis={"autorange": "reversed", "type": "category"}, margin={"l": 320})
    chart = fig.to_html(full_html=False, include_plotlyjs=False)
    return (f"<div id='sensitivity' style='{_BOX}'><h3>Sensitivity: one factor at a time around the base run</h3>"
            f"{_rows_html(['factor', 'setting', 'observations', *HEADLINE.values(), 'deficit vs base'], rows)}</div>{chart}")


def _with_path_sections(html: str, path: PathProvenance | None, sensitivity: pd.DataFrame | None) -> str:
    """The price-path section opens the page; the sensitivity section (its chart needs plotly.js,
    which the main figure carries) closes it."""
    if path is not None:
        html = html.replace("<body>", "<body>" + price_path_html(path), 1)
    if sensitivity is not None:
        i = html.rindex("</body>")
        html = html[:i] + sensitivity_html(sensitivity) + html[i:]
    return html

