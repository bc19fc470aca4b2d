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
    assert page.locator(".barlayer .trace").count() == (3 if beyond else 2) and page.locator(".scatterlayer .trace").count() >= 1
    assert beyond or any("no path lost anything beyond the fund" in t for t in titles)
    assert f"{spec.n_paths} paths" in page.locator(".gtitle").text_content()
    page.close()
