"""One look for the lab's reports: the page, the colours, the headline, the parameters and the caveats.

This module owns how a report of the lab reads, so that every command's report (``replay``,
``compare``, ``stress``, ``coverage``, ``calibrate``, ``backtest-margin``, ``depeg``,
``replay-options``, ``validate``) looks the same and a new one is a few lines:

* :class:`Page`: the one HTML template. A page opens with its verdict (a sentence and the
  :func:`headline` table), then the run's :func:`parameters`, the :func:`caveats` where the model is
  doubtful, the sections and the charts, in the order they were added. It is self-contained and
  works offline: plotly.js is inlined once, in ``<head>``, however many charts the page holds.
* :data:`COLOURS`: the colour scheme. A colour means one thing in every report (liquidations are
  always orange, ADL pink, bankruptcies red, the insurance fund purple, the backstop vault brown...);
  :data:`PALETTE` colours the things a report sets side by side (venues, valuations, margin modes,
  parameter sets) and shares no colour with :data:`COLOURS`.
* :func:`headline`: the verdict table, the figures the console prints, in the field's words and units.
  Every value cell carries ``data-key``, the JSON pointer (``/``-separated) of the value in the JSON
  file the command wrote (the table's ``data-source``), so a test can read the page against the file.
  An absent value is written ``—``, never ``0``.
* :func:`parameters`: what was run (event, series and bar size, population, fund and its basis, venue,
  seed...), always ending with the ramparts version.
* :func:`chart` and :func:`time_chart`: a plotly figure in the house style: titled axes with units,
  a legend beside its own chart, dates on every time axis.
* :func:`path_rows` and :func:`path_caveats`: how a report states its price path (bar size, how it was
  made: refined, coarse, resampled or synthetic) and where it is doubtful (bars no finer series checks,
  every unconfirmed wick), from the path's :class:`~ramparts.lab.paths.PathProvenance`.
* :func:`fit_caveats` and :func:`quantile_caveats`: the sentences a report prints (and the console
  with it) when a fitted model sits at its bounds (GARCH persistence, Student-t degrees of freedom,
  the GPD tail index) or a quantile is extrapolated beyond the paths or the history behind it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

#: One colour, one meaning, in every report.
COLOURS: dict[str, str] = {
    "price": "#7f7f7f",        # the market price
    "oracle": "#1f77b4",       # the oracle / mark the venue saw
    "liquidation": "#ff7f0e",  # liquidations
    "adl": "#e377c2",          # auto-deleveraging
    "bankruptcy": "#d62728",   # bankruptcies, deficits, exceedances: losses beyond the collateral
    "fund": "#9467bd",         # the insurance fund
    "vault": "#8c564b",        # the backstop vault
    "socialised": "#bcbd22",   # socialised loss
    "income": "#2ca02c",       # penalties and other income covering losses
    "requirement": "#17becf",  # margin requirements, haircuts: what the venue asks for
    "breach": "#222222",       # accounts below maintenance
    "collateral": "#393b79",   # collateral the accounts posted
    "total": "#444444",        # a total of the layers above
    "volatility": "#637939",   # implied or realised volatility
}

#: Colours of the things a report compares (venues, valuations, modes, sides): none is in :data:`COLOURS`.
PALETTE: tuple[str, ...] = ("#e6a800", "#00a087", "#b5006a", "#5f7f8f", "#005f73", "#c2a878", "#4d4d4d")

#: The bearers of a loss beyond the fund, in the words of the field, with their colours.
BEARER_WORDS = {"insurance_fund": "insurance fund", "backstop_vault": "backstop vault", "adl_counterparties": "ADL counterparties",
                "socialised": "socialised"}
BEARER_COLOURS = {"insurance_fund": COLOURS["fund"], "backstop_vault": COLOURS["vault"], "adl_counterparties": COLOURS["adl"],
                  "socialised": COLOURS["socialised"]}

#: The chart axes' date format: day, month, year and time of day (UTC).
DATE_FORMAT = "%H:%M<br>%d %b %Y"


def palette(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE` (cycling)."""
    return PALETTE[i % len(PALETTE)]


# --------------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class Cell:
    """One value of a headline table: the value, its JSON pointer in the run's file and its format.

    ``spec`` is a Python format spec (``",.0f"``, ``".2%"``, ``".3f"``); ``"p"`` is a p-value
    (``0.123``, or ``1.4e-09`` below 0.001); ``"text"`` shows the value as it is (``yes``, ``red``)."""

    value: Any
    key: str | None = None
    spec: str = ",.0f"

    def text(self) -> str:
        return fmt(self.value, self.spec)


def fmt(value: Any, spec: str = ",.0f") -> str:
    """``value`` as the reports write it: ``—`` for an absent value (``None``, NaN), ``yes``/``no`` for a flag."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "NO"
    if spec == "text" or isinstance(value, str):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if spec == "p":
        return f"{value:.3f}" if value >= 0.001 or value == 0 else f"{value:.1e}"
    return format(value, spec)


def cell(value: Any, key: str | None = None, spec: str = ",.0f") -> Cell:
    return Cell(value, key, spec)


# --------------------------------------------------------------------------------------------------
# the page's blocks


def headline(rows: Sequence[tuple[str, Sequence[Cell | str]]], *, columns: Sequence[str] = ("value",), source: str,
             first: str = "figure", caption: str = "", hide: bool = False) -> str:
    """The verdict table: one row per figure (its label in the field's words and units), one column per
    value (``columns``: e.g. each venue). ``source`` names the JSON file the keys point into."""
    head = "".join(f"<th>{escape(c)}</th>" for c in (first, *columns))
    body = []
    for label, cells in rows:
        tds = []
        for c in cells:
            if isinstance(c, Cell):
                key = f" data-key='{escape(c.key)}'" if c.key else ""
                text = c.text()
                absent = " class='absent'" if text == "—" else (" class='bad'" if text == "NO" else "")
                tds.append(f"<td{key}{absent}>{escape(text)}</td>")
            else:
                tds.append(f"<td class='text'>{escape(str(c))}</td>")
        body.append(f"<tr><th scope='row'>{escape(label)}</th>{''.join(tds)}</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    style = " style='display:none'" if hide else ""
    return (f"<table class='headline' data-source='{escape(source)}'{style}>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def parameters(rows: Iterable[tuple[str, Any]]) -> str:
    """The run's parameters, two columns; the ramparts version is the last row."""
    from ramparts import __version__

    body = "".join(f"<tr><th scope='row'>{escape(k)}</th><td>{escape('—' if v is None else str(v))}</td></tr>"
                   for k, v in [*rows, ("ramparts version", __version__)])
    return f"<table class='parameters'><tbody>{body}</tbody></table>"


def caveats(lines: Sequence[str]) -> str:
    """Where the model is doubtful (nothing when there is no caveat)."""
    if not lines:
        return ""
    items = "".join(f"<li>{escape(x)}</li>" for x in lines)
    return f"<aside class='caveats' id='caveats'><h2>Where the model is doubtful</h2><ul>{items}</ul></aside>"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "data") -> str:
    """A plain table of strings (values already formatted)."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note(text: str, *, cls: str = "note") -> str:
    return f"<p class='{cls}'>{escape(text)}</p>"


# --------------------------------------------------------------------------------------------------
# charts


def chart(title: str, *, x: str, y: str, y2: str | None = None, height: int = 420, legend: bool = True):
    """A figure in the house style: ``title``, the axes titled ``x`` and ``y`` (with their units), a
    second y axis titled ``y2`` on the right when given, the legend beside the chart."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]]) if y2 else go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0, "xref": "paper", "xanchor": "left", "font": {"size": 15}},
        template="plotly_white", height=height, showlegend=legend,
        legend={"x": 1.08 if y2 else 1.02, "y": 1, "xanchor": "left", "yanchor": "top", "bgcolor": "rgba(255,255,255,0.8)"},
        margin={"l": 80, "r": 40, "t": 60, "b": 60}, hovermode="closest", font={"family": "sans-serif", "size": 12},
    )
    fig.update_xaxes(title_text=x)
    if y2:
        fig.update_yaxes(title_text=y, secondary_y=False)
        fig.update_yaxes(title_text=y2, secondary_y=True, showgrid=False, rangemode="tozero", tickmode="auto")
    else:
        fig.update_yaxes(title_text=y)
    if "count" in y:  # a count starts at zero, and a count of nothing is a flat line on it, not a line in mid-air
        if y2:
            fig.update_yaxes(rangemode="tozero", secondary_y=False)
        else:
            fig.update_yaxes(rangemode="tozero")
    return fig


def time_chart(title: str, *, y: str, y2: str | None = None, height: int = 420, legend: bool = True):
    """A :func:`chart` over time: the x axis is a date axis (UTC), its dates shown."""
    fig = chart(title, x="time (UTC)", y=y, y2=y2, height=height, legend=legend)
    fig.update_xaxes(type="date", showticklabels=True, tickformatstops=[
        {"dtickrange": [None, 86_400_000], "value": DATE_FORMAT},  # ticks within a day: the time and the date
        {"dtickrange": [86_400_000, None], "value": "%d %b %Y"}])  # a day or more apart: the date
    return fig


def times(ts_ns) -> np.ndarray:
    """Nanosecond timestamps as the milliseconds since the epoch a plotly date axis reads (compact in the page)."""
    return np.asarray(ts_ns, dtype=np.int64) // 1_000_000


def utc(ts_ns: int) -> str:
    """A nanosecond timestamp as ``YYYY-MM-DD HH:MM UTC``."""
    import pandas as pd

    return pd.Timestamp(int(ts_ns), unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def span(ts_ns) -> str:
    """``first → last (N observations, median step S)`` of a time axis."""
    t = np.asarray(ts_ns, dtype=np.int64)
    if t.size == 0:
        return "—"
    step = float(np.median(np.diff(t))) / 1e9 if t.size > 1 else 0.0
    return f"{utc(t[0])} → {utc(t[-1])} ({t.size:,} observations, median step {_seconds(step)})"


def _seconds(s: float) -> str:
    if s >= 86_400 and s % 86_400 == 0:
        return f"{s / 86_400:g} d"
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"


def bar_text(values: Sequence[Any], spec: str = ",.0f") -> list[str]:
    """The labels written on bars: every value shown, a zero as ``0`` and an absent one as ``—``, so that
    a bar too short to see still reads."""
    return [fmt(None if v is None else float(v), spec) for v in values]


def empty_chart_note(fig, text: str) -> None:
    """Write ``text`` across an empty chart (instead of an axis of nothing)."""
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14, "color": "#555"})


# --------------------------------------------------------------------------------------------------
# the page

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:14px;color:#222;margin:0;background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:22px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
h3{font-size:15px;margin:14px 0 4px}
p.verdict{font-size:16px;margin:6px 0 12px;line-height:1.4}p.note{color:#444;margin:6px 0}
p.quiet{color:#666;font-style:italic;margin:8px 0}
table{border-collapse:collapse;margin:6px 0 10px}
td,th{border:1px solid #d6d6d6;padding:3px 9px;vertical-align:top}
table.headline th[scope=row],table.parameters th[scope=row]{text-align:left;font-weight:normal;background:#f6f6f6}
table.headline td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.headline td.text{text-align:left;white-space:normal}
table.headline thead th{background:#eef2f7}
table.headline caption{caption-side:top;text-align:left;color:#444;padding:2px 0}
td.absent{color:#999}td.bad{color:#d62728;font-weight:bold}
table.parameters td{max-width:900px}
table.data td{text-align:right;font-variant-numeric:tabular-nums}table.data th,table.sources th{background:#eef2f7}
table.sources td{text-align:left;font-size:13px}
aside.caveats{border:1px solid #e0b000;background:#fff8e0;padding:4px 14px;margin:12px 0}
aside.caveats h2{border:none;margin:6px 0 0;font-size:15px}
div.chart{margin:14px 0 6px}
"""

#: The text the browser tests find on every page (the header of the headline block).
VERDICT_HEADING = "Verdict"


class Page:
    """A lab report: title, verdict, headline, parameters, caveats, then sections and charts (see the
    module docstring). ``add`` appends raw HTML (already escaped), ``figure`` a plotly figure."""

    def __init__(self, title: str, *, command: str) -> None:
        self.title = title
        self.command = command
        self._verdict: list[str] = []
        self._parameters = ""
        self._caveats = ""
        self._body: list[str] = []
        self._charts = 0

    def verdict(self, sentence: str, table: str) -> Page:
        """The verdict: a sentence and the :func:`headline` table (more tables may follow with ``verdict``)."""
        if sentence:
            self._verdict.append(f"<p class='verdict'>{escape(sentence)}</p>")
        self._verdict.append(table)
        return self

    def parameters(self, rows: Iterable[tuple[str, Any]]) -> Page:
        self._parameters = parameters(rows)
        return self

    def caveats(self, lines: Sequence[str]) -> Page:
        self._caveats = caveats(lines)
        return self

    def add(self, html: str) -> Page:
        self._body.append(html)
        return self

    def section(self, heading: str, *parts: str, id: str | None = None) -> Page:
        ident = f" id='{escape(id)}'" if id else ""
        self._body.append(f"<section{ident}><h2>{escape(heading)}</h2>{''.join(parts)}</section>")
        return self

    def figure(self, fig, *, caption: str = "") -> Page:
        """A plotly figure, its legend beside it; ``caption`` a line under it."""
        self._charts += 1
        height = fig.layout.height or 450
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{self._charts}", default_height=f"{height}px",
                          config={"displaylogo": False, "responsive": True})
        cap = note(caption) if caption else ""
        self._body.append(f"<div class='chart'>{div}{cap}</div>")
        return self

    def render(self) -> str:
        from plotly.offline import get_plotlyjs

        script = f"<script type='text/javascript'>{get_plotlyjs()}</script>" if self._charts else ""
        params = f"<section id='parameters'><h2>Parameters of the run</h2>{self._parameters}</section>" if self._parameters else ""
        return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<meta name='generator' content='ramparts {self.command}'><title>{escape(self.title)}</title>"
                f"<style>{_CSS}</style>{script}</head><body><main>"
                f"<h1>{escape(self.title)}</h1>"
                f"<section id='verdict'><h2>{VERDICT_HEADING}</h2>{''.join(self._verdict)}</section>"
                f"{params}{self._caveats}{''.join(self._body)}</main></body></html>")

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.render(), encoding="utf-8")
        return p


# --------------------------------------------------------------------------------------------------
# caveats: where a fitted model sits at its bounds, or a quantile is extrapolated

#: GARCH persistence at or above this: volatility shocks barely decay (integrated GARCH).
PERSISTENCE_BOUND = 0.99
#: Student-t degrees of freedom below this: the innovations' fourth moment (kurtosis) is infinite.
NU_BOUND = 4.0
#: GPD shape at or above this: a tail index 1/ξ of about 2 or less, where the variance becomes infinite.
XI_HIGH = 0.45
#: GPD shape below this: no power-law tail (exponential or bounded): losses beyond the sample are capped.
XI_LOW = 0.02
#: Fewer observations than this beyond a quantile: the quantile is the sample's extreme, not an estimate.
TAIL_OBSERVATIONS = 10


def fit_caveats(garch: dict | None = None, gpd: dict | None = None) -> list[str]:
    """The caveats of fitted models (the dicts of :class:`ramparts.lab.stress.FittedModels`)."""
    out = []
    if garch:
        a, b, nu = float(garch["alpha"]), float(garch["beta"]), float(garch["nu"])
        p = a + b
        if p >= PERSISTENCE_BOUND:
            half = math.log(0.5) / math.log(p) if 0 < p < 1 else math.inf
            out.append(f"GARCH(1,1)-t persistence α + β = {p:.4f} is at its bound (≥ {PERSISTENCE_BOUND}): the fit is an integrated "
                       f"GARCH projected just inside stationarity, so a volatility shock takes {half:,.0f} steps to halve; "
                       "calm and stressed regimes in the simulated paths last as long as that bound allows, not as long as history says.")
        if nu < NU_BOUND:
            out.append(f"Student-t degrees of freedom ν = {nu:.2f} < {NU_BOUND:g}: the innovations' kurtosis is infinite, so the deepest "
                       "quantiles rest on very few draws and move from seed to seed.")
    if gpd:
        xi = float(gpd["xi"])
        n = int(gpd.get("n_exceed", 0))
        se = f" (± {(1 + xi) / math.sqrt(n):.3f}, from {n:,} exceedances)" if n else ""
        if xi >= XI_HIGH:
            out.append(f"GPD tail shape ξ = {xi:.3f}{se}: the tail index 1/ξ = {1 / xi:.2f} is near 2, where the variance of a "
                       "loss becomes infinite" + ("; at ξ ≥ 1 the expected shortfall is infinite too" if xi > 0.8 else "")
                       + ": deep quantiles are extrapolated from a tail this heavy.")
        elif xi < XI_LOW:
            out.append(f"GPD tail shape ξ = {xi:.3f}{se} is at or below 0: no power-law tail, so the model caps the losses it "
                       "can draw beyond the sample's (a bounded tail understates a crash).")
    return out


def quantile_caveats(n: int, levels: Sequence[float], *, what: str, unit: str = "draws", history: int | None = None,
                     horizon: int = 1, history_label: str = "") -> list[str]:
    """The caveats of quantiles at ``levels`` of ``what`` estimated from ``n`` ``unit`` (draws, paths).

    A level with fewer than :data:`TAIL_OBSERVATIONS` draws beyond it is close to the sample's extreme;
    one with less than one draw beyond it is interpolated between the largest draws (extrapolated, not
    estimated). With ``history`` (observations of the data a model was fitted to, in steps) and
    ``horizon`` (steps a draw spans), a level rarer than once in the history's ``history / horizon``
    horizons is an extrapolation beyond what history showed."""
    out = []
    beyond = [q for q in levels if n * (1 - q) < 1]
    thin = [q for q in levels if q not in beyond and n * (1 - q) < TAIL_OBSERVATIONS]
    if beyond:
        out.append(f"{_levels(beyond)} of {what} from {n:,} {unit}: fewer than one lies beyond "
                   f"{'it' if len(beyond) == 1 else 'them'}, so the figure is extrapolated (interpolated between the largest "
                   f"{unit}), not estimated.")
    if thin:
        out.append(f"{_levels(thin)} of {what} from {n:,} {unit}: fewer than {TAIL_OBSERVATIONS} lie beyond "
                   f"{'it' if len(thin) == 1 else 'them'} ({', '.join(f'{n * (1 - q):.1f}' for q in thin)}); the figure is close to the "
                   "sample's extreme and its standard error is not reliable.")
    if history:
        windows = history / max(horizon, 1)
        far = [q for q in levels if 1 - q < 1 / windows]
        if far:
            out.append(f"{_levels(far)} of {what}: rarer than once in the {windows:,.0f} non-overlapping horizons of the history the model "
                       f"was fitted to{(' (' + history_label + ')') if history_label else ''}: the model extrapolates beyond anything "
                       "history showed.")
    return out


# --------------------------------------------------------------------------------------------------
# price paths: every report states its bar size and how its path was made (ramparts.lab.paths.PathProvenance)

#: At most this many unconfirmed wicks are written out one by one in a caveat (the JSON lists them all).
WICKS_LISTED = 5


def path_rows(prov, *, label: str = "price path") -> list[tuple[str, str]]:
    """The parameter rows of a :class:`~ramparts.lab.paths.PathProvenance`: the base series and its bar size, how
    the path was made, the share of bars refined / bridged / coarse, the observations, the wick policy (its
    ``rows()``, the first under ``label``)."""
    return [(label if i == 0 else k.strip(), v) for i, (k, v) in enumerate(prov.rows())]


def path_caveats(prov, *, what: str = "the price path") -> list[str]:
    """Where a path is doubtful: a synthetic one (no history under it), bars kept coarse or bridged (extremes unchecked,
    the bar size weighs on the answer), and every unconfirmed wick (a coarse extreme no finer series confirms)."""
    out: list[str] = []
    if prov.method == "synthetic":
        return [f"{what[0].upper()}{what[1:]} is synthetic ({prov.base_source or 'a model'}, one observation every "
                f"{prov.base_interval or '?'}): no historical window lies under it, so no finer series refines it and no wick is checked."]
    iv = prov.base_interval or "?"
    what_ = what[0].upper() + what[1:]
    if prov.method == "coarse":
        why = next((n for n in prov.notes if n.startswith("not refined")), "not refined")
        if prov.order == "close":
            tail = "the bars' extremes are not on the path, and the bar size weighs on the result."
        elif prov.finer:
            tail = "the extremes the finer series do not confirm are kept (listed below)."
        else:
            tail = "its extremes are unchecked, and the bar size weighs on the result."
        out.append(f"{what_} walks {prov.base_source or 'the series'}'s {iv} bars as they are ({prov.label()}; {why}): {tail}")
    elif prov.method == "resampled":
        out.append(f"{what_} is cut into {iv} bars ({prov.describe()}): each bar walks the open, extremes and close of the "
                   "observations inside it, four points, so the moves inside a bar are reordered and the bar size weighs on the result.")
    elif prov.bars_bridged or prov.bars_coarse:
        k = prov.bars_bridged + prov.bars_coarse
        out.append(f"{k:,} of the {prov.bars:,} {iv} bars of {what} are covered by no finer series: "
                   + ("bridged through their open, extremes and close" if prov.bars_bridged else "kept as four-point bars")
                   + ", their extremes unchecked.")
    if prov.wicks:
        listed = "; ".join(w.describe() for w in prov.wicks[:WICKS_LISTED])
        more = f"; and {len(prov.wicks) - WICKS_LISTED} more (the JSON lists them all)" if len(prov.wicks) > WICKS_LISTED else ""
        out.append(f"{len(prov.wicks)} unconfirmed wick(s) in {what} (a coarse bar's extreme more than {prov.wick_tolerance:.1%} beyond "
                   f"what the finer series confirms): {listed}{more}.")
    return out


def _levels(levels: Sequence[float]) -> str:
    qs = [f"{q:g}" for q in levels]
    return f"The {qs[0]} quantile" if len(qs) == 1 else f"The {', '.join(qs[:-1])} and {qs[-1]} quantiles"


__all__ = ["BEARER_COLOURS", "BEARER_WORDS", "COLOURS", "PALETTE", "Cell", "Page", "bar_text", "caveats", "cell", "chart",
           "empty_chart_note", "fit_caveats", "fmt", "headline", "note", "palette", "parameters", "path_caveats", "path_rows",
           "quantile_caveats", "span", "table",
           "time_chart", "times", "utc"]
