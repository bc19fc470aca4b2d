"""Reports of a replay: a self-contained HTML page (plotly), a JSON summary and a Parquet time series.

The page (:mod:`ramparts.lab.reportkit`'s template) opens with its verdict: a sentence and the headline
table (:func:`headline_rows`: the figures the console prints, each cell keyed to ``summary.json``),
then the run's parameters (:func:`parameter_rows`: event, price series and bar size, markets,
population and seed, fund and its basis, venue, liquidity, oracle, ramparts version). Given how the
path was made (:class:`~ramparts.lab.paths.PathProvenance`), a "Price path" section follows (base
series and bar size, share of bars refined / bridged / coarse, observations and median step, wick
policy and every unconfirmed wick) and the summary carries it as ``price_path``; a scenario crowd adds
its "Population" section. Then the charts (:func:`figures`), each with its own legend and dated time
axis: the price of each market with markers for liquidations (sized by notional), ADL fills and
bankruptcies; the insurance fund and the backstop vault's equity; the margin ratio across accounts
(median, 90th and 99th percentile of maintenance / equity) with the count in breach on its own axis;
the oracle defences (invalid readings, liquidation blocked by a gate or a breaker, breakers tripped:
left out, with a line saying so, when nothing happened in them); and the loss layers
(:func:`loss_layers`): the loss beyond the bankrupt accounts' equity, the penalties that covered part
of it, the fund's gross draws, and who bore the rest (the fund, the backstop vault, ADL
counterparties, socialised), with the fund's size, its ratio to the open interest and its source in
the chart's title. Given a sensitivity table (:mod:`ramparts.lab.sensitivity`), the page ends with it
and a chart of the deficit per run, and the summary carries it as ``sensitivity``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ramparts.lab import reportkit as rk
from ramparts.lab.paths import PathProvenance
from ramparts.lab.replay import BEARERS, ReplayResult


def _times(ts_ns) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ts_ns, dtype=np.int64), unit="ns", utc=True)


#: The colour of each loss-layer bar, by what it stands for (:data:`ramparts.lab.reportkit.COLOURS`).
_LAYER_COLOURS = {"deficit at the mark": rk.COLOURS["bankruptcy"], "vault: gross loss": rk.COLOURS["vault"],
                  "penalties to keepers": rk.COLOURS["income"], "penalties to the fund": rk.COLOURS["income"],
                  "vault income": rk.COLOURS["income"], "fund: gross draws": rk.COLOURS["fund"],
                  "borne: fund (net)": rk.COLOURS["fund"], "borne: vault (net)": rk.COLOURS["vault"],
                  "borne: ADL counterparties": rk.COLOURS["adl"], "borne: socialised": rk.COLOURS["socialised"],
                  "bad debt (total)": rk.COLOURS["total"]}


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


# --------------------------------------------------------------------------------------------------
# the verdict and the parameters


def verdict(s: dict) -> str:
    """One sentence: who went bankrupt, the loss beyond their equity, what the fund paid and what went beyond it."""
    n, acc = s.get("bankruptcies", 0), s.get("accounts", 0)
    lead = (f"{n:,} of {acc:,} accounts went bankrupt, {s.get('loss_beyond_equity_usdc', 0.0):,.0f} USDC beyond their equity"
            if n else f"No account of {acc:,} went bankrupt")
    fund = s.get("insurance_fund_start_usdc", 0.0)
    draws = s.get("insurance_fund_draws_usdc", 0.0)
    share = f" ({draws / fund:.1%} of its {fund:,.0f})" if fund else ""
    beyond = s.get("loss_beyond_fund_usdc", 0.0)
    by = s.get("bad_debt_by_bearer_usdc", {})
    rest = (f"{beyond:,.0f} USDC went beyond it (backstop vault {by.get('backstop_vault', 0.0):,.0f}, ADL counterparties "
            f"{by.get('adl_counterparties', 0.0):,.0f}, socialised {by.get('socialised', 0.0):,.0f})" if beyond > 0
            else "nothing went beyond it")
    return f"{lead}; the insurance fund paid {draws:,.0f} USDC gross{share} and {rest}."


def headline_rows(s: dict) -> list[tuple[str, list]]:
    """The headline table of a replay summary: the console's figures, each keyed to ``summary.json``."""
    c = rk.cell
    f = s.get("fund") or {}
    rows: list[tuple[str, list]] = [
        ("sub-accounts" if "book" in s else "traders", [c(s.get("accounts"), "accounts", ",d")]),
        ("margin calls", [c(s.get("margin_calls"), "margin_calls", ",d")]),
        ("liquidation steps", [c(s.get("liquidation_steps"), "liquidation_steps", ",d")]),
        ("liquidated notional (USDC)", [c(s.get("liquidated_notional_usdc"), "liquidated_notional_usdc")]),
        ("bankrupt accounts", [c(s.get("bankruptcies"), "bankruptcies", ",d")]),
        ("open interest at the open, one side (USDC)", [c(s.get("open_interest_usdc"), "open_interest_usdc")]),
        ("insurance fund at the start (USDC)", [c(f.get("amount_usdc"), "fund/amount_usdc")]),
        ("insurance fund / open interest", [c(f.get("ratio_to_open_interest"), "fund/ratio_to_open_interest", ".2%")]),
        ("bankruptcy deficit at the mark: losses beyond the accounts' collateral (USDC)",
         [c(s.get("bankruptcy_deficit_usdc"), "bankruptcy_deficit_usdc")]),
        ("fills below the bankruptcy price paid by the fund (USDC)", [c(s.get("fills_below_bankruptcy_usdc"), "fills_below_bankruptcy_usdc")]),
        ("penalties to keepers (USDC)", [c(s.get("penalty_to_keepers_usdc"), "penalty_to_keepers_usdc")]),
        ("penalties to the fund (USDC)", [c(s.get("penalty_income_usdc"), "penalty_income_usdc")]),
        ("backstop vault's income (USDC)", [c(s.get("vault_income_usdc"), "vault_income_usdc")]),
        ("insurance fund: gross draws (USDC)", [c(s.get("insurance_fund_draws_usdc"), "insurance_fund_draws_usdc")]),
        ("insurance fund at the end (USDC)", [c(s.get("insurance_fund_end_usdc"), "insurance_fund_end_usdc")]),
        ("backstop vault: loss (USDC)", [c(s.get("vault_loss_usdc"), "vault_loss_usdc")]),
        ("ADL fills", [c(s.get("deleverages"), "deleverages", ",d")]),
        ("ADL notional (USDC)", [c(s.get("adl_notional_usdc"), "adl_notional_usdc")]),
        ("ADL counterparties' loss against the mark (USDC)", [c(s.get("adl_counterparty_loss_usdc"), "adl_counterparty_loss_usdc")]),
        ("socialised loss (USDC)", [c(s.get("socialised_loss_usdc"), "socialised_loss_usdc")]),
        ("socialised loss unrecovered (USDC)", [c(s.get("socialised_unrecovered_usdc"), "socialised_unrecovered_usdc")]),
        ("loss beyond the fund: vault, ADL, socialised (USDC)", [c(s.get("loss_beyond_fund_usdc"), "loss_beyond_fund_usdc")]),
        ("bad debt: loss beyond equity less penalties (USDC; < 0: a surplus)", [c(s.get("bad_debt_usdc"), "bad_debt_usdc")]),
    ]
    by = s.get("bad_debt_by_bearer_usdc") or {}
    for b in BEARERS:
        rows.append((f"  borne by the {rk.BEARER_WORDS[b]} (USDC)" if b != "socialised" else "  socialised (USDC)",
                     [c(by.get(b), f"bad_debt_by_bearer_usdc/{b}")]))
    rows += [
        ("oracle: steps with an invalid reading", [c(s.get("steps_oracle_invalid"), "steps_oracle_invalid", ",d")]),
        ("oracle: steps with liquidation blocked", [c(s.get("steps_liquidation_blocked"), "steps_liquidation_blocked", ",d")]),
        ("circuit breakers tripped", [c(s.get("breaker_trips"), "breaker_trips", ",d")]),
        ("the loss split adds up to the base unit", [c((s.get("loss_accounting") or {}).get("adds_up"), "loss_accounting/adds_up", "text")]),
        ("value conserved", [c(s.get("value_conserved"), "value_conserved", "text")]),
        ("journal replay reproduces the state hash", [c(s.get("replay_identical"), "replay_identical", "text")]),
    ]
    return rows


def population_words(s: dict) -> str:
    """The population of a run in a line: a book, a scenario crowd or the uniform population."""
    if s.get("book"):
        b = s["book"]
        return (f"book {b.get('file')}: {b.get('accounts', 0):,} accounts, {b.get('subaccounts', 0):,} sub-accounts, "
                f"{b.get('positions', 0):,} positions")
    c, sc = s.get("crowd"), s.get("scenario") or {}
    if c:
        name = Path(sc["scenario"]).name if sc.get("scenario") else "?"
        return f"scenario {name}: " + ", ".join(f"{k} {v:,}" for k, v in c["accounts_by_type"].items())
    n = (s.get("population") or {}).get("n_accounts", s.get("accounts"))
    return f"uniform: {n:,} accounts, leverage log-uniform 1.5-50×, all opened at the first bar, nobody reacts"


def fund_words(f: dict) -> str:
    """The fund, its rule and its basis in a line."""
    if not f:
        return "—"
    ratio = "" if f.get("ratio_to_open_interest") is None else f", {f['ratio_to_open_interest']:.2%} of open interest"
    obs = f"; observation {f['observation']}" if f.get("observation") else ""
    return f"{f['amount_usdc']:,.0f} USDC ({f['rule']}, basis: {f['basis']}{ratio}{obs}); source: {f.get('source') or '—'}"


def venue_words(v: dict) -> str:
    """The venue profile's settings in a line."""
    if not v:
        return "—"
    parts = [str(v.get("name", "?"))]
    if v.get("tiers"):
        t = v["tiers"][0]
        parts.append(f"{len(v['tiers'])} margin tiers, first initial {float(t[1]):.2%} / maintenance {float(t[2]):.2%}")
    if v.get("funding_interval_s"):
        parts.append(f"funding every {v['funding_interval_s'] / 3600:g} h")
    if v.get("index_weight") is not None:
        parts.append(f"index weight {v['index_weight']:g}")
    parts.append("circuit breakers armed" if v.get("breakers") else "no circuit breakers")
    return "; ".join(parts)


def parameter_rows(result: ReplayResult, path: PathProvenance | None = None) -> list[tuple[str, str]]:
    """The run's parameters: event, series and bar size, markets, window, population and seed, fund, venue, liquidity, oracle."""
    s = result.summary
    series = path.describe() if path is not None else (
        (s.get("price_path") or {}).get("base", {}).get("source_id") or "a price path given to the replay")
    liq = s.get("liquidity") or {}
    o = s.get("oracle_faults") or {}
    oracle = "one trusted feed" if not o.get("sources") else f"{o['sources']} sources through the aggregator and gates"
    faults = [f"{k} from observation {o[k + '_start']} for {o[k + '_steps']}" for k in ("outage", "glitch", "wide_conf") if o.get(k + "_steps")]
    seed = (s.get("population") or {}).get("seed")
    return [
        ("event", s.get("name", result.name)),
        ("price series and bar size", series),
        ("markets", ", ".join(s.get("markets") or []) or "—"),
        ("window", rk.span(result.series["ts_ns"])),
        ("population", population_words(s)),
        ("seed", "— (a book)" if s.get("book") else seed),
        ("insurance fund", fund_words(s.get("fund") or {})),
        ("venue", venue_words(s.get("venue") or {})),
        ("liquidity", f"{liq.get('law', '?')} impact law, depth {liq.get('depth', 0):,.0f} USDC" if liq else "—"),
        ("oracle", oracle + ("; faults: " + ", ".join(faults) if faults else "")),
    ]


# --------------------------------------------------------------------------------------------------
# the charts


def _on(rows: pd.DataFrame, sym: str) -> pd.DataFrame:
    """The rows (liquidations, ADL fills) of market ``sym``; all of them for a path without a market name (``"price"``)."""
    if rows.empty or "instrument" not in rows or sym == "price":
        return rows
    return rows[rows["instrument"] == sym]


def _price_chart(result: ReplayResult, sym: str, primary: bool) -> go.Figure:
    s = result.series
    t = rk.times(s["ts_ns"])
    suffix = "" if primary else f":{sym}"
    fig = rk.time_chart(f"Price and liquidations, ADL fills and bankruptcies: {sym}", y=f"{sym} price (USD)", height=460)
    oracle = np.asarray(s["oracle_price" + suffix], dtype=float)
    fig.add_trace(go.Scatter(x=t, y=s["market_price" + suffix], name="market price", line={"color": rk.COLOURS["price"], "width": 1}))
    fig.add_trace(go.Scatter(x=t, y=oracle, name="oracle (with liquidation impact)", line={"color": rk.COLOURS["oracle"], "width": 1.5}))
    liq = _on(pd.DataFrame(result.liquidations or []), sym)
    if not liq.empty:
        size = 6 + 16 * np.sqrt(liq["notional"] / max(liq["notional"].max(), 1))
        fig.add_trace(go.Scatter(
            x=rk.times(liq["ts_ns"]), y=liq["price"], mode="markers", name=f"liquidations ({len(liq):,})",
            marker={"size": size, "color": rk.COLOURS["liquidation"], "opacity": 0.6,
                    "symbol": np.where(liq["side"] == "sell", "triangle-down", "triangle-up"), "line": {"width": 0}},
            text=[f"{a}: {n:,.0f} USDC ({sd})" for a, n, sd in zip(liq["subaccount"], liq["notional"], liq["side"], strict=True)]))
    dl = _on(pd.DataFrame(result.deleverages or []), sym)
    if not dl.empty:
        at = np.clip(np.searchsorted(np.asarray(s["ts_ns"]), dl["ts_ns"].to_numpy()), 0, len(oracle) - 1)
        fig.add_trace(go.Scatter(x=rk.times(dl["ts_ns"]), y=oracle[at], mode="markers", name=f"ADL fills ({len(dl):,})",
                                 marker={"size": 9, "color": rk.COLOURS["adl"], "symbol": "diamond", "line": {"width": 1, "color": "white"}},
                                 text=[f"{a} against {b}: {n:,.0f} USDC" for a, b, n in zip(dl["subaccount"], dl["counterparty"], dl["notional"],
                                                                                            strict=True)]))
    if primary and "bankrupt" in s:
        b = np.asarray(s["bankrupt"], dtype=float)
        k = np.flatnonzero(b > 0)
        if k.size:
            fig.add_trace(go.Scatter(x=t[k], y=oracle[k], mode="markers", name=f"bankruptcies ({int(b.sum()):,})",
                                     marker={"size": 7 + 3 * np.sqrt(b[k]), "color": rk.COLOURS["bankruptcy"], "symbol": "x"},
                                     text=[f"{int(x)} bankrupt" for x in b[k]]))
    return fig


def _defences_quiet(s: dict) -> bool:
    """Whether nothing happened in the oracle-defence panel (no invalid reading, block, breaker, gate or outlier)."""
    if "oracle_valid" not in s:
        return True
    busy = (np.asarray(s["oracle_valid"]) < 1).any() or np.asarray(s["liquidation_blocked"]).any() or np.asarray(s["breakers_tripped"]).any()
    busy = busy or any(np.asarray(s[k]).any() for k in s if k.startswith("gate_"))
    return not (busy or ("outliers_rejected" in s and np.asarray(s["outliers_rejected"]).any()))


def _defences_chart(result: ReplayResult) -> go.Figure:
    s = result.series
    t = rk.times(s["ts_ns"])
    fig = rk.time_chart("Oracle defences: invalid reading, liquidation blocked, breakers tripped",
                        y="on (1) / off (0); breakers: count tripped", height=340)
    fig.add_trace(go.Scatter(x=t, y=1 - np.asarray(s["oracle_valid"]), name="oracle reading invalid",
                             line={"color": rk.COLOURS["bankruptcy"], "shape": "hv"}))
    fig.add_trace(go.Scatter(x=t, y=s["liquidation_blocked"], name="liquidation blocked",
                             line={"color": rk.COLOURS["liquidation"], "shape": "hv", "dash": "dot"}))
    fig.add_trace(go.Scatter(x=t, y=s["breakers_tripped"], name="breakers tripped", line={"color": rk.COLOURS["requirement"], "shape": "hv"}))
    gates = [k for k in s if k.startswith("gate_") and np.asarray(s[k]).any()]
    for j, g in enumerate(gates):  # each gate on its own level, so they can be told apart
        level = np.where(np.asarray(s[g]) > 0, 1.2 + 0.2 * j, np.nan)
        fig.add_trace(go.Scatter(x=t, y=level, mode="markers", name=f"gate: {g[5:].replace('_', ' ')}",
                                 marker={"symbol": "square", "size": 6, "color": rk.palette(j)}))
    if "outliers_rejected" in s and np.asarray(s["outliers_rejected"]).any():
        fig.add_trace(go.Scatter(x=t, y=np.where(np.asarray(s["outliers_rejected"]) > 0, 1.1, np.nan), mode="markers",
                                 name="source rejected as an outlier", marker={"symbol": "x", "size": 7, "color": rk.COLOURS["breach"]}))
    return fig


def figures(result: ReplayResult) -> list[tuple[go.Figure, str]]:
    """The report's charts, top to bottom, each with a caption (``""``: none); see the module docstring."""
    s = result.series
    t = rk.times(s["ts_ns"])
    syms = list(result.summary.get("markets") or ["price"])
    out = [(_price_chart(result, sym, i == 0), "") for i, sym in enumerate(syms)]
    fund = rk.time_chart("Insurance fund and backstop vault", y="equity (USDC)", height=360)
    fund.add_trace(go.Scatter(x=t, y=s["insurance_fund"], name="insurance fund", line={"color": rk.COLOURS["fund"]}))
    fund.add_trace(go.Scatter(x=t, y=s["vault_equity"], name="backstop vault equity", line={"color": rk.COLOURS["vault"]}))
    out.append((fund, ""))
    ratio = rk.time_chart("Margin ratio (maintenance / equity) across accounts", y="maintenance / equity (1 = at maintenance)",
                          y2="accounts in breach (count)", height=400)
    rc = rk.COLOURS["requirement"]
    ratio.add_trace(go.Scatter(x=t, y=s["ratio_p99"], name="99th percentile", line={"color": rc, "width": 2}), secondary_y=False)
    ratio.add_trace(go.Scatter(x=t, y=s["ratio_p90"], name="90th percentile", line={"color": rc, "width": 1.5, "dash": "dash"}),
                    secondary_y=False)
    ratio.add_trace(go.Scatter(x=t, y=s["ratio_p50"], name="median", line={"color": rc, "width": 1, "dash": "dot"}), secondary_y=False)
    ratio.add_trace(go.Scatter(x=t, y=s["in_breach"], name="accounts in breach", line={"color": rk.COLOURS["breach"], "shape": "hv"}),
                    secondary_y=True)
    ratio.add_hline(y=1.0, line={"color": rk.COLOURS["bankruptcy"], "dash": "dash", "width": 1}, secondary_y=False)
    out.append((ratio, "Dashed red line: an account at its maintenance margin; above it, in breach."))
    if _defences_quiet(s):
        out.append((None, "Oracle defences: nothing happened over the window: no invalid reading, no liquidation blocked, "
                          "no gate or breaker tripped, no source rejected (chart left out)."))
    else:
        out.append((_defences_chart(result), ""))
    bars = loss_layers(result)
    layers = rk.chart(_layers_title(result), x="layer", y="USDC (< 0: a gain)", height=520, legend=False)
    layers.add_trace(go.Bar(x=[b[0] for b in bars], y=[b[1] for b in bars], name="loss layers",
                            marker={"color": [_LAYER_COLOURS[b[0]] for b in bars]},
                            text=rk.bar_text([b[1] for b in bars]), textposition="outside", cliponaxis=False))
    layers.update_layout(margin={"t": 90})
    out.append((layers, "Red: losses beyond the collateral; green: penalties and income covering them; purple: the insurance fund; "
                        "brown: the backstop vault; pink: ADL counterparties; olive: socialised."))
    return out


def write_report(result: ReplayResult, out_dir: str | Path, *, path: PathProvenance | None = None,
                 sensitivity: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``report.html``, ``summary.json`` and ``series.parquet`` (+ ``liquidations.parquet``).

    ``path`` (how the replayed path was made) and ``sensitivity`` (the table of
    :func:`ramparts.lab.sensitivity.run_sensitivity`) add their sections to the page and their keys
    (``price_path``, ``sensitivity``) to the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "series": out / "series.parquet", "liquidations": out / "liquidations.parquet"}
    summary = dict(result.summary, layers=result.totals, **_path_summary(path, sensitivity))
    page = rk.Page(f"ramparts replay: {result.name}", command="replay")
    page.verdict(verdict(result.summary), rk.headline(headline_rows(summary), source="summary.json"))
    page.parameters(parameter_rows(result, path))
    if path is not None:
        page.add(price_path_html(path))
    if "crowd" in result.summary:  # after the price path: who was trading, and every parameter assumed
        page.add(population_html(result.summary))
    for fig, caption in figures(result):
        if fig is None:
            page.add(rk.note(caption, cls="quiet"))
        else:
            page.figure(fig, caption=caption)
    if sensitivity is not None:
        page.add(sensitivity_html(sensitivity))
    page.write(paths["html"])
    paths["json"].write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    df = pd.DataFrame({k: v for k, v in result.series.items()})
    df.insert(0, "time", _times(result.series["ts_ns"]))
    df.to_parquet(paths["series"], index=False)
    pd.DataFrame(result.liquidations or {"ts_ns": [], "price": [], "notional": [], "side": [], "subaccount": []}).to_parquet(paths["liquidations"], index=False)
    return paths


# --------------------------------------------------------------------------------------------------
# price path and sensitivity sections (what ramparts.lab.paths and ramparts.lab.sensitivity add to the page)

_BOX = "margin:12px 0"  # the rest of the look is the page's (ramparts.lab.reportkit)
_TABLE = "margin:6px 0"
_CELL = "text-align:right"


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
    """The "Sensitivity" section: the one-factor-at-a-time table and a bar chart of the deficit per run (inside the section)."""
    from ramparts.lab.sensitivity import HEADLINE

    cols = list(HEADLINE)
    rows = [[r["factor"], r["setting"], f"{r['observations']:,}"] + [f"{r[c]:,.0f}" for c in cols]
            + ["-" if pd.isna(r["deficit_vs_base"]) else f"{r['deficit_vs_base']:.2f}×"] for _, r in table.iterrows()]
    labels = [f"{r['factor']} {r['setting']}".strip() for _, r in table.iterrows()]
    fig = rk.chart("Bankruptcy deficit per run, one factor at a time (dashed: the base run)", x="bankruptcy deficit (USDC)",
                   y="run: factor and setting", height=200 + 36 * len(labels), legend=False)
    fig.add_trace(go.Bar(y=labels, x=table["bankruptcy_deficit_usdc"], orientation="h", marker={"color": rk.COLOURS["bankruptcy"]},
                         text=rk.bar_text(table["bankruptcy_deficit_usdc"]), textposition="outside", cliponaxis=False))
    fig.add_vline(x=float(table["bankruptcy_deficit_usdc"].iloc[0]), line={"dash": "dash", "color": "#444"})
    fig.update_layout(yaxis={"autorange": "reversed", "type": "category"}, margin={"l": 320})
    chart = fig.to_html(full_html=False, include_plotlyjs=False, div_id="chart-sensitivity", default_height=f"{fig.layout.height}px",
                        config={"displaylogo": False, "responsive": True})
    return (f"<div id='sensitivity' style='{_BOX}'><h3>Sensitivity: one factor at a time around the base run</h3>"
            f"{_rows_html(['factor', 'setting', 'observations', *HEADLINE.values(), 'deficit vs base'], rows)}{chart}</div>")
