"""Every lab command that walks a price path states its bar size and how the path was made (issue 20, item 4).

``replay`` and ``compare`` are tested in ``test_lab_paths.py``; these are the others: ``stress`` (the historical
family walks the event's refined path, the other families say they are synthetic), ``calibrate`` (its events walk
the refined path, its synthetic scenarios say so), ``depeg`` (a daily series no finer series refines, or a synthetic
shape), ``replay-options`` (the refined path cut into hourly bars) and ``backtest-margin`` (closes, with the finer
series that ship for the window). Each check reads the command's JSON and its report and compares the path it walked
with :func:`ramparts.lab.events.event_path` built here, independently of the command, and with the raw bars of the
shipped files (Black Thursday's 2020-03-12 10:00 perpetual low of 5,199.17, a wick the 5-minute spot series, whose
low that hour is 5,550, does not confirm).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.lab.events import NAMED_EVENTS, event_path
from ramparts.lab.history import to_ns
from ramparts.lab.paths import PricePath, intrabar_path, resample_path, synthetic_provenance
from ramparts.lab.population import PopulationSpec

BT = "black-thursday-2020"
WICK_BAR = "2020-03-12T10:00:00Z"
WICK_LOW = 5199.17  # the perpetual's 10:00 low (PROVENANCE of the crash window; checked against the file below)


def _fits():
    """Stand-in fitted models: the paths checked here do not depend on them (the historical family reads none; the
    jump family's σ moves its prices, not its record), and fitting GARCH to six years of hours takes seconds."""
    from ramparts.lab.stress import FittedModels

    return FittedModels(garch={"mu": 0.0, "omega": 1e-6, "alpha": 0.1, "beta": 0.85, "nu": 5.0},
                        gpd={"xi": 0.2, "scale": 0.01, "threshold": 0.01, "n_exceed": 100, "n_obs": 2000}, sigma_hourly=0.01,
                        correlation=0.8, eth_vol_ratio=1.2, btc_price=30_000.0, eth_price=2_000.0, observations=2000)


def _wick_at_ten(prov: dict) -> dict:
    hits = [w for w in prov["wicks"] if w["bar"] == WICK_BAR and w["side"] == "low"]
    assert len(hits) == 1, prov["wicks"]
    return hits[0]


@pytest.fixture(scope="module")
def bt_path() -> PricePath:
    return event_path(NAMED_EVENTS[BT])


def test_the_ten_oclock_low_is_in_the_perpetual_bars_and_not_in_the_5m_spot(bt_path):
    """The reference the other tests lean on, read off the raw bars: the perpetual's 10:00 low, the 5-minute spot's low."""
    from ramparts.lab.history import load_candles

    ev = NAMED_EVENTS[BT]
    perp = ev.load()
    i = int(np.searchsorted(perp.ts_ns, to_ns(WICK_BAR)))
    assert perp.low[i] == WICK_LOW
    spot = load_candles(ev.path, source_id="bn_spot_BTC_5m_cryofrost", gaps="skip").window(WICK_BAR, "2020-03-12T11:00:00Z")
    assert len(spot) == 12 and spot.low.min() == 5550.0
    hour = (bt_path.ts_ns >= to_ns(WICK_BAR)) & (bt_path.ts_ns < to_ns(WICK_BAR) + 3600 * 10**9)
    assert bt_path.price[hour].min() > WICK_LOW * 1.05  # the refined path never visits the wick


# ---------------------------------------------------------------------------------------------- stress


def test_stress_historical_walks_the_refined_event_path_and_flags_the_wick(tmp_path, bt_path):
    from ramparts.lab.stress import StressSpec, generate_case, run_stress, write_stress_report

    spec = StressSpec(scenario="historical", n_paths=1, shock_scale=(1.0, 1.0))
    case = generate_case(spec, 0, _fits())
    # a shock scale of exactly 1 leaves the event's path as it is: the case walks event_path's observations
    assert np.array_equal(case.ts_ns, bt_path.ts_ns)
    np.testing.assert_allclose(case.prices["BTC-PERP"], bt_path.price, rtol=1e-12)
    coarse = intrabar_path(NAMED_EVENTS[BT].load(), "worst_long")
    assert len(case.ts_ns) > len(coarse.ts_ns)  # refined, not the 4 points a bar of before
    result = run_stress(spec, population=PopulationSpec(n_accounts=20), fits=_fits())
    files = write_stress_report(result, tmp_path)
    doc = json.loads(files["json"].read_text())
    pp = doc["summary"]["price_path"]
    assert pp["method"] == "refined" and pp["base"]["interval"] == "1h" and pp["observations"] == len(bt_path)
    assert pp["bars"]["refined"] == 72 and {f["interval"] for f in pp["finer_series"]} == {"5m", "30m"}
    assert _wick_at_ten(pp)["action"] == "clipped" and _wick_at_ten(pp)["finer"] == 5550.0
    assert any("unconfirmed wick" in c and "5,199.17" in c for c in doc["caveats"])
    html = files["html"].read_text()
    assert "refined from bn_spot_BTC_5m_cryofrost (5m)" in html and "5,199.17" in html


def test_stress_synthetic_families_say_their_paths_are_synthetic(tmp_path):
    from ramparts.lab.stress import StressSpec, run_stress, write_stress_report

    spec = StressSpec(scenario="jump", n_paths=1, n_steps=12, step_s=900)
    result = run_stress(spec, population=PopulationSpec(n_accounts=20), fits=_fits())
    files = write_stress_report(result, tmp_path)
    doc = json.loads(files["json"].read_text())
    pp = doc["summary"]["price_path"]
    assert pp["method"] == "synthetic" and pp["base"]["interval"] == "15m" and pp["observations"] == 12
    assert "jump diffusion" in pp["base"]["source_id"] and pp["wicks"] == [] and pp["wick_policy"] is None
    assert any(c.startswith("Every path is synthetic") for c in doc["caveats"])
    assert "synthetic path: Monte Carlo draws of a Merton jump diffusion" in files["html"].read_text()


# ---------------------------------------------------------------------------------------------- calibrate


def test_calibrate_events_walk_the_refined_path_and_frontier_json_records_it(tmp_path, bt_path):
    from ramparts.lab.calibrate import (
        ParameterGrid,
        Scenarios,
        run_calibration,
        venue_for,
        write_calibration_report,
    )
    from ramparts.lab.replay import run_replay
    from ramparts.lab.stress import StressSpec

    grid = ParameterGrid(margin_scale=(1.0,), max_fraction=(1.0,))
    scen = Scenarios(events=(BT, "luna-2022"), stress=StressSpec(scenario="jump", n_paths=1, n_steps=8))
    pop = PopulationSpec(n_accounts=15)
    result = run_calibration(grid, scen, population=pop, fits=_fits())
    # the event run is the replay of event_path's observations, state hash for state hash
    ref = run_replay(bt_path.ts_ns, bt_path.price, name=f"event:{BT}", population=pop, venue=venue_for(grid.points()[0]),
                     verify_replay=False)
    row = result.runs[result.runs["scenario"] == f"event:{BT}"].iloc[0]
    assert row["state_hash"] == ref.state_hash
    files = write_calibration_report(result, tmp_path, scenarios=scen, population=pop)
    doc = json.loads(files["json"].read_text())
    paths = doc["price_paths"]
    assert set(paths) == {f"event:{BT}", "event:luna-2022", "stress:jump"}
    assert paths[f"event:{BT}"]["method"] == "refined" and paths[f"event:{BT}"]["base"]["interval"] == "1h"
    assert _wick_at_ten(paths[f"event:{BT}"])["action"] == "clipped"
    luna = paths["event:luna-2022"]  # no finer series ships for May 2022: coarse, and it says why
    assert luna["method"] == "coarse" and luna["base"]["interval"] == "1h" and any(n.startswith("not refined") for n in luna["notes"])
    assert paths["stress:jump"]["method"] == "synthetic"
    assert any("unconfirmed wick" in c for c in doc["caveats"]) and any("luna-2022 path walks" in c for c in doc["caveats"])
    html = files["html"].read_text()
    assert f"price path of event:{BT}" in html and "price path of stress:jump" in html


# ---------------------------------------------------------------------------------------------- depeg


def test_depeg_states_its_daily_bars_are_not_refined_and_the_synthetic_shape(tmp_path):
    from ramparts.lab.depeg import DepegSpec, run_depeg, run_engine_depeg, write_depeg_report

    r = run_depeg(DepegSpec(accounts=20))
    doc = json.loads(write_depeg_report(r, tmp_path / "usdc")["json"].read_text())
    pp = doc["price_path"]
    assert pp["method"] == "coarse" and pp["base"]["interval"] == "1d" and pp["bars"]["coarse"] == 31
    assert pp["observations"] == 4 * 31 == doc["observations"]  # March 2023, four points a day
    assert any(n.startswith("not refined: no finer USDC-USD series") for n in pp["notes"])
    html = (tmp_path / "usdc" / "report.html").read_text()
    assert "peg path: how it was made" in html and "not refined" in html
    s = run_depeg(DepegSpec(source="synthetic", accounts=20, steps=12))
    assert s.summary["price_path"]["method"] == "synthetic" and s.summary["price_path"]["base"]["interval"] == "1h"
    assert "is synthetic" in write_depeg_report(s, tmp_path / "syn")["html"].read_text()
    e = run_engine_depeg(DepegSpec(source="synthetic", accounts=4, steps=8), "static", verify_replay=False)["summary"]
    assert e["price_path"]["method"] == "synthetic" and e["btc_path"] == "flat 22,000"


# ---------------------------------------------------------------------------------------------- replay-options


def test_options_path_is_the_refined_path_cut_into_bars_with_its_wicks(bt_path):
    from ramparts.lab.options_replay import options_path

    p = options_path(NAMED_EVENTS[BT], bar="1h")
    prov = p.provenance
    assert prov.method == "resampled" and prov.base_interval == "1h" and len(p) == 4 * 72
    assert [s for s, _, _ in prov.finer] == ["bn_spot_BTC_5m_cryofrost", "bn_spot_BTC_30m_aallvi"]
    assert _wick_at_ten(prov.to_dict())["action"] == "clipped"
    # each hour's four points are the refined path's open, low, high, close in that hour
    hour = (bt_path.ts_ns >= to_ns(WICK_BAR)) & (bt_path.ts_ns < to_ns(WICK_BAR) + 3600 * 10**9)
    k = int(np.searchsorted(p.ts_ns, to_ns(WICK_BAR)))
    seg = bt_path.price[hour]
    assert p.price[k : k + 4].tolist() == [seg[0], seg.min(), seg.max(), seg[-1]]
    thin = options_path(NAMED_EVENTS[BT], bar="1h", every=3)
    assert len(thin) == 96 and thin.provenance.observations == 96 and any(n.startswith("one observation in 3 kept") for n in thin.provenance.notes)


def test_replay_options_cli_writes_the_path_into_summary_and_report(tmp_path):
    res = CliRunner().invoke(app, ["replay-options", BT, "--pairs", "2", "--bar", "6h", "--every", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    pp = doc["price_path"]
    assert pp["method"] == "resampled" and pp["base"]["interval"] == "6h" and pp["observations"] == doc["observations"] == 24
    assert _wick_at_ten(pp)["action"] == "clipped"
    html = (tmp_path / "o" / "report.html").read_text()
    assert "6h bars of the observations of bn_usdm_BTC_1h_mooneyes (1h bars) refined from" in html and "unconfirmed wick" in html
    assert "one observation in 2 kept (24 of 48)" in html
    assert "price path" in res.output and "unconfirmed wicks: 9 flagged" in res.output
    bad = CliRunner().invoke(app, ["replay-options", BT, "--bar", "soon", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "--bar" in bad.output and "Traceback" not in bad.output


# ---------------------------------------------------------------------------------------------- backtest-margin


def test_backtest_states_closes_and_the_finer_series_that_ship(tmp_path):
    res = CliRunner().invoke(app, ["backtest-margin", BT, "--model", "flat", "--rate", "0.05", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "b" / "backtest.json").read_text())
    pp = doc["price_path"]
    assert pp["method"] == "coarse" and pp["order"] == "close" and pp["base"]["interval"] == "1h"
    assert pp["observations"] == len(NAMED_EVENTS[BT].load()) == 72
    assert {(f["source_id"], f["interval"], f["bars_covered"]) for f in pp["finer_series"]} == {
        ("bn_spot_BTC_5m_cryofrost", "5m", 45), ("bn_spot_BTC_30m_aallvi", "30m", 27)}
    assert pp["wicks"] == [] and any("9 bar extreme(s) the finer series do not confirm" in n for n in pp["notes"])
    html = (tmp_path / "b" / "report.html").read_text()
    assert "as they are (coarse: 1h closes" in html and "--source-id backtests at that bar size" in html


# ---------------------------------------------------------------------------------------------- the path records


def test_resample_keeps_the_source_paths_wicks_and_a_synthetic_record_says_what_it_is(bt_path):
    r = resample_path(bt_path, "4h")
    assert r.provenance.wicks == bt_path.provenance.wicks and r.provenance.finer == bt_path.provenance.finer
    s = synthetic_provenance("a model", "15m", 10)
    assert (s.method, s.base_interval, s.observations, s.median_step_ns) == ("synthetic", "15m", 10, 15 * 60 * 10**9)
    assert s.describe() == "synthetic path: a model, one observation every 15m" and s.rows()[1][1] == "10, 15 min"
