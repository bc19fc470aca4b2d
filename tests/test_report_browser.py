"""The lab's HTML reports in a real browser: Debian's Chromium via Playwright opens the files the
commands write and checks that plotly drew every trace, with no script error on the page.

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
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page, errors


def test_coverage_report_draws_four_curves_and_the_tier_lines(browser, tmp_path):
    spec = CoverageSpec(model="normal", sigma=0.01, n_paths=20_000, chunk_paths=10_000)
    res = run_coverage(spec, backend="numpy")
    tiers = {"MM 0.40 %": 0.004, "MM 0.50 %": 0.005, "MM 1.00 %": 0.01}
    files = write_coverage_report(res, tmp_path, tier_rates=tiers)
    page, errors = open_report(browser, files["html"], "coverage_report.png")
    assert errors == []
    assert page.locator(".scatterlayer .trace").count() == 4
    text = page.locator(".plotly").text_content()
    assert "ramparts coverage: normal" in page.locator(".gtitle").text_content()
    for label in (*tiers, "long, worst", "short, horizon"):
        assert label in text, label
    # the curves are drawn as lines over many points, on log axes
    d = page.locator(".scatterlayer .trace path.js-line").first.get_attribute("d")
    assert d is not None and d.count("L") >= 10  # plotly merges collinear points
    assert page.locator(".xtick").count() > 2 and page.locator(".ytick").count() > 2
    page.close()


def test_stress_report_draws_its_four_panels(browser, tmp_path):
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.stress import StressSpec, run_stress, write_stress_report

    spec = StressSpec(scenario="jump", n_paths=3, n_steps=16, seed=2)
    result = run_stress(spec, population=PopulationSpec(n_accounts=40, seed=2))
    files = write_stress_report(result, tmp_path)
    page, errors = open_report(browser, files["html"], "stress_report.png")
    assert errors == []
    titles = page.locator(".annotation-text").all_text_contents()
    assert any("Bankruptcy deficit per path" in t for t in titles) and any("Insurance fund" in t for t in titles)
    beyond = int((result.table["loss_beyond_fund_usdc"] > 0).sum())
    # + the backstop vault's loss per path and the bad debt by who bore it
    assert page.locator(".barlayer .trace").count() == (5 if beyond else 4) and page.locator(".scatterlayer .trace").count() >= 1
    assert any("Backstop vault loss per path" in t for t in titles) and any("Bad debt by who bore it" in t for t in titles)
    assert beyond or any("no path lost anything beyond the fund" in t for t in titles)
    assert f"{spec.n_paths} paths" in page.locator(".gtitle").text_content()
    page.close()


def test_replay_report_draws_the_loss_layers_with_the_vault(browser, tmp_path):
    import numpy as np

    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import VenueSpec, run_replay
    from ramparts.lab.report import loss_layers, write_report

    t = np.arange(48, dtype=np.int64) * 60 * 10**9 + 1_600_000_000 * 10**9
    p = 10_000 * np.exp(np.concatenate([np.zeros(8), np.linspace(0, np.log(0.5), 20), np.full(20, np.log(0.5))]))
    r = run_replay(t, p, name="synthetic", population=PopulationSpec(n_accounts=60, seed=4), liquidity=LiquidityModel(depth=3e5),
                   venue=VenueSpec(fund="1%oi"))
    files = write_report(r, tmp_path)
    page, errors = open_report(browser, files["html"], "replay_report.png")
    assert errors == []
    ticks = page.locator(".x5tick").all_text_contents()  # the loss-layer panel is the fifth x axis
    for label, _, _ in loss_layers(r):
        assert label in ticks, label
    assert any("Loss layers" in x for x in page.locator(".annotation-text").all_text_contents())
    assert r.summary["vault_loss_usdc"] > 0
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
    section = page.locator("#price-path")
    assert "perp_1h (1h bars) refined from spot_5m (5m)" in section.locator("h3").text_content()
    assert section.locator("table").nth(1).locator("tr").count() == 1 + len(refined.provenance.wicks) == 2
    assert page.locator("#sensitivity table tr").count() == 1 + len(cases)
    # the sensitivity chart is drawn after the main figure (whose script brings plotly): one bar a run
    assert page.locator(".plotly").count() == 2
    bars = page.locator(".plotly").nth(1).locator(".barlayer .point")
    assert bars.count() == len(cases)
    page.close()
