"""Every lab report read in a real browser against the JSON its command wrote (issue 21, items 1, 2, 3 and 6).

Each report of :data:`ramparts.lab.commands.SCREENSHOT_RUNS` is made once, small (seconds), through the command line
into a temporary folder; Debian's Chromium (Playwright) opens it and the tests check that

* the page opens with its verdict: the headline table first, then the run's parameters (ending with the ramparts
  version), then the charts;
* every headline cell with a ``data-key`` shows the value the JSON file (the table's ``data-source``) holds at that
  key, to the digits shown (a dash for an absent value, yes/NO for a flag);
* every chart has a title, a title on every axis a trace is drawn on, its legend beside it (not under it), dates on
  every time axis, no log axis holding a zero, and bars labelled in words (no ``code_names``);
* no script error and no console error occurs;

and, per report, what issue 21 asks of it (markers on the replay's price, the oracle panel left out when quiet, the
backtest's p-values and Basel zone, the VaR / ES table with standard errors, the depeg's accounts still below
maintenance, the calibration's labels, the caveats in the console and on the page). ``ramparts screenshots`` is
checked to write a PNG per report. Screenshots of the pages go to ``tests/artifacts/`` (ignored by git).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from typer.testing import CliRunner  # noqa: E402

from ramparts import __version__  # noqa: E402
from ramparts.cli import app  # noqa: E402
from ramparts.lab import reportkit as rk  # noqa: E402
from ramparts.lab.commands import SCREENSHOT_RUNS  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"

# ------------------------------------------------------------------------------------------------ reading a page

#: Every chart on the page: its title, its legend's place, and each axis a visible trace is drawn on.
CHARTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  const L = gd._fullLayout, used = {}, traces = [];
  for (const t of gd._fullData) {
    if (t.visible !== true) continue;
    traces.push({type: t.type, name: t.name, x: t.type === 'bar' && Array.isArray(t.x) ? t.x.filter(v => typeof v === 'string') : [],
                 yaxis: t.yaxis, y: t.type === 'scatter' && t.y ? Array.from(t.y).filter(v => v !== null).slice(0, 5000) : []});
    if (t.xaxis) used['xaxis' + t.xaxis.slice(1)] = true;
    if (t.yaxis) used['yaxis' + t.yaxis.slice(1)] = true;
  }
  const axes = Object.keys(used).map(k => ({name: k, title: (L[k].title && L[k].title.text) || '', visible: L[k].visible,
                                            type: L[k].type, ticklabels: L[k].showticklabels}));
  return {id: gd.id, title: (L.title && L.title.text) || '', showlegend: L.showlegend, legend_x: L.legend ? L.legend.x : null,
          axes: axes, traces: traces};
})"""

#: Every headline cell with a key: the JSON file it points into, its key, and the text shown.
HEADLINE_JS = """() => Array.from(document.querySelectorAll('table.headline')).flatMap(t =>
  Array.from(t.querySelectorAll('td[data-key]')).map(td => [t.dataset.source, td.dataset.key, td.textContent]))"""


def open_page(browser, html: Path, shot: str | None = None):
    """The report in a new page, with the errors it raised; every chart drawn before it returns."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(html.resolve().as_uri())
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(g => g._fullLayout)", timeout=60_000)
    if shot:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page, errors


def pointer(doc, key: str):
    """The value at ``key`` (``/``-separated, list indices as numbers) of a JSON document."""
    for part in key.split("/"):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def shows(text: str, value) -> bool:
    """Whether ``text`` (a headline cell) shows ``value`` to the digits it writes."""
    text = text.strip()
    if text == "—":
        return value is None or (isinstance(value, float) and math.isnan(value))
    if text in ("yes", "NO"):
        return isinstance(value, bool) and value == (text == "yes")
    if text in ("∞", "−∞"):
        return value is not None and math.isinf(value) and (value > 0) == (text == "∞")
    number = re.fullmatch(r"(-?[\d,]*\.?\d+)(?:e([+-]\d+))?(%?)", text)
    if number is None:  # words: a zone, a status
        return str(value) == text
    mantissa, exponent, percent = number.groups()
    shown = float(mantissa.replace(",", "")) * (10 ** int(exponent) if exponent else 1) / (100 if percent else 1)
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if exponent:
        return math.isclose(shown, value, rel_tol=0.51 * 10**-decimals / max(abs(float(mantissa)), 1))
    return math.isclose(shown, value, rel_tol=0, abs_tol=0.51 * 10**-decimals / (100 if percent else 1) + 1e-12)


def check_page(page, folder: Path) -> dict:
    """The checks every report passes (the module docstring); returns what was read from the page."""
    # self-contained: plotly.js inlined once, nothing fetched from elsewhere
    assert page.evaluate("() => Array.from(document.scripts).filter(s => s.text.length > 1000000).length") == 1
    assert page.locator("script[src], link[href], img[src]").count() == 0
    sections = page.eval_on_selector_all("main > section, main > aside, main > div, main > p", "els => els.map(e => e.id || e.className)")
    assert sections[:2] == ["verdict", "parameters"], sections
    assert page.locator("#verdict table.headline").count() >= 1
    params = dict(zip(page.locator("table.parameters th").all_text_contents(), page.locator("table.parameters td").all_text_contents(),
                      strict=True))
    assert params["ramparts version"] == __version__
    cells = page.evaluate(HEADLINE_JS)
    assert cells, "no keyed headline cell"
    docs: dict[str, object] = {}
    for source, key, text in cells:
        doc = docs.setdefault(source, json.loads((folder / source).read_text()))
        assert shows(text, pointer(doc, key)), (source, key, text, pointer(doc, key))
    charts = page.evaluate(CHARTS_JS)
    assert charts, "no chart"
    for c in charts:
        assert c["title"], c["id"]
        if c["showlegend"] and len(c["traces"]) > 1:
            assert c["legend_x"] >= 1, (c["title"], c["legend_x"])  # beside the chart, right of its plot area
        for a in c["axes"]:
            if a["visible"] is False:
                continue
            assert a["title"], (c["title"], a["name"])
            if a["type"] == "date":
                assert a["ticklabels"], (c["title"], a["name"])
            if a["type"] == "log" and a["name"].startswith("y"):
                on = [t for t in c["traces"] if "yaxis" + t["yaxis"][1:] == a["name"]]
                assert all(v > 0 for t in on for v in t["y"]), (c["title"], "a zero on a log axis vanishes")
        for t in c["traces"]:
            assert not any("_" in x for x in t["x"]), (c["title"], t["x"])  # bars labelled in words, not code names
    return {"charts": charts, "params": params, "cells": cells}


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every report of SCREENSHOT_RUNS, made once through the command line: ``name -> (folder, console output)``."""
    root = tmp_path_factory.mktemp("reports")
    made = {}
    for name, args in SCREENSHOT_RUNS.items():
        res = CliRunner().invoke(app, [*args, "--out", str(root / name)], env={"COLUMNS": "160"})
        assert res.exit_code == 0, (name, res.output)
        made[name] = (root / name, res.output)
    return made


# ------------------------------------------------------------------------------------------------ every report


@pytest.mark.parametrize("name", list(SCREENSHOT_RUNS))
def test_every_report_opens_with_its_verdict_and_reads_as_its_json(browser, runs, name):
    folder, _ = runs[name]
    page, errors = open_page(browser, folder / "report.html", f"report_{name}.png")
    check_page(page, folder)
    assert errors == []
    page.close()


# ------------------------------------------------------------------------------------------------ what each report shows


def _titles(charts: list[dict]) -> list[str]:
    return [c["title"] for c in charts]


def test_replay_marks_liquidations_and_bankruptcies_and_leaves_out_a_quiet_oracle_panel(browser, runs):
    import pandas as pd

    folder, _ = runs["replay"]
    s = json.loads((folder / "summary.json").read_text())
    page, errors = open_page(browser, folder / "report.html")
    charts = page.evaluate(CHARTS_JS)
    price = next(c for c in charts if c["title"].startswith("Price and liquidations, ADL fills and bankruptcies"))
    names = [t["name"] for t in price["traces"]]
    assert f"bankruptcies ({s['bankruptcies']:,})" in names and any(n.startswith("liquidations (") for n in names)
    assert int(pd.read_parquet(folder / "series.parquet")["bankrupt"].sum()) == s["bankruptcies"] > 0
    # nothing happened in the oracle defences: no chart, a line saying so
    assert s["steps_oracle_invalid"] == s["steps_liquidation_blocked"] == s["breaker_trips"] == 0
    assert not any(t.startswith("Oracle defences") for t in _titles(charts))
    assert "Oracle defences: nothing happened" in page.locator("main").text_content()
    # counts and money on separate axes: the accounts in breach on their own axis beside the margin ratio
    ratio = next(c for c in charts if c["title"].startswith("Margin ratio"))
    assert {a["title"] for a in ratio["axes"]} == {"time (UTC)", "maintenance / equity (1 = at maintenance)", "accounts in breach (count)"}
    assert "Price path:" in page.locator("#price-path h3").text_content()
    assert errors == []
    page.close()


def test_compare_headline_has_each_venues_fund_draws_penalties_vault_loss_and_margin_in_percent(browser, runs):
    folder, _ = runs["compare"]
    page, errors = open_page(browser, folder / "report.html")
    keys = {k for _, k, _ in page.evaluate(HEADLINE_JS)}
    doc = json.loads((folder / "compare.json").read_text())
    for i in range(len(doc["venues"])):
        for col in ("insurance_fund_draws_usdc", "penalty_income_usdc", "vault_loss_usdc", "loss_beyond_fund_usdc", "initial_margin_rate_avg"):
            assert f"venues/{i}/{col}" in keys, col
    im = page.locator("td[data-key='venues/0/initial_margin_rate_avg']").text_content()
    assert im.endswith("%"), im
    assert errors == []
    page.close()


@pytest.mark.parametrize("width", [40, 80, 200])
def test_compare_console_table_never_cuts_a_number(runs, width):
    import pandas as pd
    from rich.console import Console

    from ramparts.lab.commands import _compare_rows, _compare_tables

    folder, _ = runs["compare"]
    table = pd.DataFrame(json.loads((folder / "compare.json").read_text())["venues"])
    table = pd.concat([table, table.assign(venue=table["venue"] + "2"), table.assign(venue=table["venue"] + "3")], ignore_index=True)
    console = Console(width=width, file=io.StringIO(), record=True)
    for t in _compare_tables(table, "title", width=width):
        console.print(t)
    text = console.export_text()
    assert "…" not in text
    for _, cells in _compare_rows(table):
        for cell in cells:
            for line in cell.splitlines():
                assert line in text, (width, line)


def test_backtest_headline_has_the_kupiec_and_christoffersen_p_values_and_the_basel_zone(browser, runs):
    folder, _ = runs["backtest-margin"]
    page, errors = open_page(browser, folder / "report.html")
    keys = {k for _, k, _ in page.evaluate(HEADLINE_JS)}
    assert {f"{s}/{k}" for s in ("long", "short") for k in ("kupiec_p", "independence_p", "cc_p", "traffic_light")} <= keys
    zone = page.locator("td[data-key='long/traffic_light']").text_content()
    assert zone == json.loads((folder / "backtest.json").read_text())["long"]["traffic_light"]
    assert errors == []
    page.close()


def test_coverage_headline_is_the_var_es_table_with_standard_errors_and_says_where_it_extrapolates(browser, runs):
    folder, output = runs["coverage"]
    page, errors = open_page(browser, folder / "report.html")
    keys = {k for _, k, _ in page.evaluate(HEADLINE_JS)}
    doc = json.loads((folder / "summary.json").read_text())
    for m in ("long_worst", "short_worst", "long_horizon", "short_horizon"):
        for q in doc["spec"]["levels"]:
            assert {f"summary/losses/{m}/{q:g}/{k}" for k in ("var", "var_se", "es", "es_se")} <= keys
    caveats = page.locator("#caveats li").all_text_contents()
    assert caveats == doc["caveats"] and caveats
    assert any("GARCH(1,1)-t persistence" in c for c in caveats) and any("ν = " in c for c in caveats)  # the fit at its bounds
    assert any("0.9999 quantile" in c and "extrapolates" in c for c in caveats)  # rarer than the history's horizons
    assert "caveat: GARCH(1,1)-t persistence" in output  # the console says it too
    assert errors == []
    page.close()


def test_stress_caveats_in_the_console_and_the_report(browser, runs):
    folder, output = runs["stress"]
    page, errors = open_page(browser, folder / "report.html")
    caveats = page.locator("#caveats li").all_text_contents()
    assert caveats == json.loads((folder / "summary.json").read_text())["caveats"]
    assert any("0.95 and 0.99 quantiles" in c and "extrapolated" in c for c in caveats)  # 4 paths
    assert all(f"caveat: {c[:40]}" in " ".join(output.split()) for c in caveats)
    assert errors == []
    page.close()


def test_calibrate_labels_every_parameter_set_and_keeps_the_legend_off_the_colour_bar(browser, runs):
    folder, _ = runs["calibrate"]
    page, errors = open_page(browser, folder / "report.html")
    frontier = json.loads((folder / "frontier.json").read_text())["frontier"]
    gd = page.evaluate("""() => { const g = document.querySelector('.js-plotly-plot'); const m = g._fullData[0].marker;
        return {text: g._fullData[0].text, legend: g._fullLayout.legend, bar: m.colorbar}; }""")
    labels = " ".join(gd["text"])
    for row in frontier:
        assert f"#{row['point']}" in labels
    legend_top, bar_top = gd["legend"]["y"], gd["bar"]["y"] + gd["bar"]["len"]
    assert gd["legend"]["yanchor"] == "top" and gd["bar"]["yanchor"] == "bottom" and bar_top < legend_top - 0.2
    assert errors == []
    page.close()


def test_depeg_says_how_many_accounts_are_still_below_maintenance_at_the_end(browser, runs):
    folder, _ = runs["depeg"]
    s = json.loads((folder / "summary.json").read_text())
    page, errors = open_page(browser, folder / "report.html")
    verdict = page.locator("p.verdict").text_content()
    assert f"{s['at_end']['breach']['defended']:,} of {s['accounts']:,} accounts are still below maintenance" in verdict
    charts = page.evaluate(CHARTS_JS)
    colours = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(g =>
        g._fullData.map(t => [t.name, (t.line && t.line.color) || (t.marker && t.marker.color)]))""")
    by_colour: dict[str, set] = {}
    for n, c in colours:
        by_colour.setdefault(c, set()).add(n.replace("of which: volatility haircut", "haircut in force"))
    assert all(len(v) == 1 for v in by_colour.values()), by_colour  # one meaning per colour
    assert any(c["title"] == "Accounts below maintenance under each valuation" for c in charts)
    assert errors == []
    page.close()


def test_options_replay_puts_bankruptcies_on_their_own_axis_and_dates_on_the_time_axes(browser, runs):
    folder, _ = runs["replay-options"]
    page, errors = open_page(browser, folder / "report.html")
    charts = {c["title"]: c for c in page.evaluate(CHARTS_JS)}
    assert [t["name"] for t in charts["Bankruptcies"]["traces"]] == ["portfolio margin", "cross margin"]
    assert {a["title"] for a in charts["Bankruptcies"]["axes"]} >= {"bankrupt accounts (count)"}
    for title in ("BTC and the implied volatility used for the option marks", "Accounts below maintenance"):
        assert any(a["type"] == "date" and a["ticklabels"] for a in charts[title]["axes"]), title
    assert errors == []
    page.close()


# ------------------------------------------------------------------------------------------------ the look


def test_one_colour_one_meaning():
    assert len(set(rk.COLOURS.values())) == len(rk.COLOURS)
    assert not set(rk.PALETTE) & set(rk.COLOURS.values())
    assert rk.fmt(None) == "—" and rk.fmt(0.0) == "0" and rk.fmt(float("nan"), ".2%") == "—" and rk.fmt(True) == "yes"


def test_caveats_of_fits_at_their_bounds_and_of_extrapolated_quantiles():
    assert rk.fit_caveats(garch={"alpha": 0.05, "beta": 0.9, "nu": 8.0}, gpd={"xi": 0.2, "n_exceed": 500}) == []
    at_bounds = rk.fit_caveats(garch={"alpha": 0.06, "beta": 0.935, "nu": 3.2}, gpd={"xi": 0.6, "n_exceed": 100})
    assert len(at_bounds) == 3 and "persistence" in at_bounds[0] and "ν = 3.20" in at_bounds[1] and "tail index" in at_bounds[2]
    assert "no power-law tail" in rk.fit_caveats(gpd={"xi": -0.05})[0]
    assert rk.quantile_caveats(1_000_000, (0.99, 0.999), what="x") == []
    (thin,) = rk.quantile_caveats(20_000, (0.99, 0.9999), what="x")
    assert "0.9999" in thin and "0.99 " not in thin
    assert "extrapolated" in rk.quantile_caveats(40, (0.99,), what="x")[0]
    assert "rarer than once" in rk.quantile_caveats(10**7, (0.9999,), what="x", history=45_000, horizon=24)[0]


# ------------------------------------------------------------------------------------------------ ramparts screenshots


def test_screenshots_writes_a_png_of_each_report(tmp_path):
    import subprocess
    import sys

    # in its own process, as a user runs it (this module's browser holds Playwright's loop in this one)
    out = tmp_path / "shots"
    res = subprocess.run([sys.executable, "-m", "ramparts", "screenshots", "--only", "depeg,backtest-margin", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    pngs = sorted(p.name for p in out.iterdir())
    assert pngs == ["backtest-margin.png", "depeg.png"]
    for p in out.iterdir():
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, p
    assert res.stdout.strip().splitlines()[-1] == f"screenshots: {out}"
    bad = CliRunner().invoke(app, ["screenshots", "--only", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown report nope" in bad.output and not (tmp_path / "x").exists()
