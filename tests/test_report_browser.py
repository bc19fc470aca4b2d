"""The lab's HTML reports in a real browser: Debian's Chromium via Playwright opens the files the
writers produce and checks that plotly drew every trace, with no script error on the page, and that each
page passes the checks every report passes (:func:`test_reports_browser.check_page`: verdict first,
headline cells equal to the JSON, titled axes, legends beside their chart, dates on time axes).

Screenshots go to ``tests/artifacts/`` (ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

from ramparts.lab.coverage import CoverageSpec, run_coverage, write_coverage_report  # noqa: E402
from test_reports_browser import CHARTS_JS, check_page  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def open_report(browser, html: Path, shot: str) -> tuple[object, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(html.resolve().as_uri())
    page.wait_for_selector(".plotly .main-svg", timeout=30_000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(g => g._fullLayout)", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page, errors


def _chart(page, title: str):
    """The locator of the chart whose title starts with ``title``."""
    charts = page.evaluate(CHARTS_JS)
    (i,) = [k for k, c in enumerate(charts) if c["title"].startswith(title)]
    return page.locator(".js-plotly-plot").nth(i), charts[i]


def test_coverage_report_draws_four_curves_and_the_tier_lines(browser, tmp_path):
    spec = CoverageSpec(model="normal", sigma=0.01, n_paths=20_000, chunk_paths=10_000)
    res = run_coverage(spec, backend="numpy")
    tiers = {"MM 0.40 %": 0.004, "MM 0.50 %": 0.005, "MM 1.00 %": 0.01}
    files = write_coverage_report(res, tmp_path, tier_rates=tiers)
    page, errors = open_report(browser, files["html"], "coverage_report.png")
    assert errors == []
    check_page(page, tmp_path)
    assert "ramparts coverage: normal" in page.locator("h1").text_content()
    curves, _ = _chart(page, "P(loss through a maintenance rate")
    assert curves.locator(".scatterlayer .trace").count() == 4
    text = curves.text_content()
    for label in (*tiers, "long, worst within the horizon", "short, at the horizon's end", "none of 20,000"):
        assert label in text, label
    # the curves are drawn as lines over many points, on log axes (a rate no path reached sits on the labelled floor)
    d = curves.locator(".scatterlayer .trace path.js-line").first.get_attribute("d")
    assert d is not None and d.count("L") >= 10  # plotly merges collinear points
    assert curves.locator(".xtick").count() > 2 and curves.locator(".ytick").count() > 2
    page.close()


def test_stress_report_draws_its_charts(browser, tmp_path):
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.stress import StressSpec, run_stress, write_stress_report

    spec = StressSpec(scenario="jump", n_paths=3, n_steps=16, seed=2)
    result = run_stress(spec, population=PopulationSpec(n_accounts=40, seed=2))
    files = write_stress_report(result, tmp_path)
    page, errors = open_report(browser, files["html"], "stress_report.png")
    assert errors == []
    charts = check_page(page, tmp_path)["charts"]
    titles = [c["title"] for c in charts]
    for t in ("Bankruptcy deficit per path", "Insurance fund: lowest level per path", "Deficit against the path's drawdown",
              "Loss beyond the fund per path", "Backstop vault loss per path", "Bad debt by who bore it, mean per path"):
        assert t in titles, t
    beyond = int((result.table["loss_beyond_fund_usdc"] > 0).sum())
    chart, _ = _chart(page, "Loss beyond the fund per path")
    assert beyond or "no path lost anything beyond the fund" in chart.text_content()
    _, bearers = _chart(page, "Bad debt by who bore it")
    assert bearers["traces"][0]["x"] == ["insurance fund", "backstop vault", "ADL counterparties", "socialised"]
    assert f"{spec.n_paths} paths" in page.locator("h1").text_content()
    assert "P(insurance fund exhausted)" in page.locator("#verdict").text_content()
    page.close()


def _synthetic_replay(venue=None, n=60):
    import numpy as np

    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import VenueSpec, run_replay

    t = np.arange(48, dtype=np.int64) * 60 * 10**9 + 1_600_000_000 * 10**9
    p = 10_000 * np.exp(np.concatenate([np.zeros(8), np.linspace(0, np.log(0.5), 20), np.full(20, np.log(0.5))]))
    return run_replay(t, p, name="synthetic", population=PopulationSpec(n_accounts=n, seed=4), liquidity=LiquidityModel(depth=3e5),
                      venue=venue or VenueSpec(fund="1%oi"))


def test_replay_report_draws_the_loss_layers_with_the_vault(browser, tmp_path):
    from ramparts.lab.report import loss_layers, write_report

    r = _synthetic_replay()
    files = write_report(r, tmp_path)
    page, errors = open_report(browser, files["html"], "replay_report.png")
    assert errors == []
    check_page(page, tmp_path)
    chart, _ = _chart(page, "Loss layers")
    ticks = chart.locator(".xtick").all_text_contents()
    for label, _, _ in loss_layers(r):
        assert label in ticks, label
    assert r.summary["vault_loss_usdc"] > 0
    page.close()


def test_replay_report_marks_adl_fills_and_bankruptcies_on_the_price(browser, tmp_path):
    from ramparts.lab.report import write_report
    from ramparts.venues.profiles import profile

    r = _synthetic_replay(profile("dydx").venue)
    assert r.deleverages and r.summary["bankruptcies"]
    files = write_report(r, tmp_path)
    page, errors = open_report(browser, files["html"], "replay_report_adl.png")
    assert errors == []
    check_page(page, tmp_path)
    _, price = _chart(page, "Price and liquidations, ADL fills and bankruptcies")
    names = [t["name"] for t in price["traces"]]
    assert f"ADL fills ({len(r.deleverages):,})" in names and f"bankruptcies ({r.summary['bankruptcies']:,})" in names
    assert any(n.startswith("liquidations (") for n in names)
    page.close()


def test_replay_report_opens_with_the_price_path_and_ends_with_the_sensitivity_chart(browser, tmp_path):
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import VenueSpec, run_replay
    from ramparts.lab.report import write_report
    from ramparts.lab.sensitivity import plan, run_sensitivity
    from test_lab_sensitivity import _crash_paths

    refined, coarse = _crash_paths()
    pop = PopulationSpec(n_accounts=40, seed=2)
    r = run_replay(refined.ts_ns, refined.price, name="synthetic", population=pop, verify_replay=False)
    cases = plan(refined, population=pop, liquidity=LiquidityModel(), venue=VenueSpec(), fund_start=r.summary["insurance_fund_start_usdc"],
                 other_paths={"coarse": coarse}, bar_sizes=(), seed_offsets=(1,), fund_factors=(), depth_factors=())
    files = write_report(r, tmp_path, path=refined.provenance, sensitivity=run_sensitivity(cases, name="synthetic", base_result=r))
    page, errors = open_report(browser, files["html"], "replay_report_path.png")
    assert errors == []
    check_page(page, tmp_path)
    section = page.locator("#price-path")
    assert "perp_1h (1h bars) refined from spot_5m (5m)" in section.locator("h3").text_content()
    assert section.locator("table").nth(1).locator("tr").count() == 1 + len(refined.provenance.wicks) == 2
    assert page.locator("#sensitivity table tr").count() == 1 + len(cases)
    # the sensitivity chart closes the page, inside its section (plotly.js is in the page's head): one bar a run
    assert page.locator("#sensitivity .plotly").count() == 1
    bars = page.locator("#sensitivity .plotly .barlayer .point")
    assert bars.count() == len(cases)
    page.close()
