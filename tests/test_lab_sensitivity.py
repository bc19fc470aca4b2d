"""``ramparts replay --sensitivity``: the one-factor-at-a-time plan, its runs, its files and the report's sections."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ramparts.lab.history import Candles
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.paths import price_path
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import VenueSpec, run_replay
from ramparts.lab.report import write_report
from ramparts.lab.sensitivity import HEADLINE, headline, plan, run_sensitivity, write_sensitivity

MIN = 60 * 10**9
T0 = 1_600_000_000 * 10**9 // (3600 * 10**9) * (3600 * 10**9)  # on the hour


def _crash_paths():
    """Six hourly bars of a 30 % fall, refined from 5-minute bars whose fifth hour's low (0.62 × 40,000)
    is 5 % above the hourly low: one unconfirmed wick."""
    rng = np.random.default_rng(3)
    n5 = 72
    c5 = 40_000 * np.exp(np.linspace(0, np.log(0.7), n5) + rng.normal(0, 0.002, n5))
    o5 = np.r_[40_000, c5[:-1]]
    h5, l5 = np.maximum(o5, c5) * 1.001, np.minimum(o5, c5) * 0.999
    t5 = T0 + np.arange(n5, dtype=np.int64) * 5 * MIN
    fine = Candles(t5, o5, h5, l5, c5, np.ones(n5), 5 * MIN, symbol="BTC/USDT", source="spot_5m")
    k = np.arange(6)
    o, c = o5[12 * k], c5[12 * k + 11]
    h = np.array([h5[12 * i : 12 * i + 12].max() for i in k])
    lo = np.array([l5[12 * i : 12 * i + 12].min() for i in k])
    lo[4] *= 0.95
    coarse = Candles(T0 + k * 60 * MIN, o, h, lo, c, np.ones(6), 60 * MIN, symbol="BTC/USDT:USDT", source="perp_1h")
    return price_path(coarse, [fine]), price_path(coarse, [fine], method="coarse")


def test_the_plan_changes_one_factor_at_a_time():
    refined, coarse = _crash_paths()
    pop, liq, venue = PopulationSpec(n_accounts=50, seed=4), LiquidityModel(depth=1e7), VenueSpec()
    cases = plan(refined, population=pop, liquidity=liq, venue=venue, fund_start=250_000.0, other_paths={"coarse": coarse})
    got = [(c.factor, c.setting) for c in cases]
    assert got[0] == ("base", "") and ("path", "coarse") in got
    # the refined path resampled to 1h is not the coarse path (its wick is clipped); resampled to 5m it is the base path
    # itself (each 5-minute bar's open, low, high, close), so that run is left out
    assert [s for f, s in got if f == "path" and "resampled" in s] == [f"{b} bars (refined path resampled)" for b in ("1h", "15m")]
    assert [s for f, s in got if f == "seed"] == ["5", "6"]
    part = {"path": "path", "seed": "seed", "fund": "venue", "index weight": "venue", "depth": "liquidity", "impact law": "liquidity"}
    for c in cases:
        changed = {"path": c.path is not refined, "seed": c.population != pop, "venue": c.venue != venue, "liquidity": c.liquidity != liq}
        assert sum(changed.values()) == (0 if c.factor == "base" else 1) and (c.factor == "base" or changed[part[c.factor]])
    # the other impact law (the power law at the published event-time depth), and the mark with none / all of the book
    (law,) = [c for c in cases if c.factor == "impact law"]
    assert (law.liquidity.law, law.liquidity.depth, law.liquidity.depth_by_asset) == ("power", 40e6, {"ETH": 19.2e6})
    assert [c.venue.index_weight for c in cases if c.factor == "index weight"] == [0.0]  # the base venue's is already 1
    funds = [c.venue.insurance_fund for c in cases if c.factor == "fund"]
    depths = [c.liquidity.depth for c in cases if c.factor == "depth"]
    assert [float(f) for f in funds] == [125_000.0, 500_000.0] and depths == [5e6, 2e7]


def test_runs_are_deterministic_and_the_base_row_is_the_base_run(tmp_path):
    refined, coarse = _crash_paths()
    pop, liq, venue = PopulationSpec(n_accounts=60, seed=2), LiquidityModel(depth=2e6), VenueSpec()
    cases = plan(refined, population=pop, liquidity=liq, venue=venue, fund_start=250_000.0, other_paths={"coarse": coarse},
                 bar_sizes=("15m",))
    base = run_replay(refined.ts_ns, refined.price, population=pop, liquidity=liq, venue=venue, verify_replay=False)
    a = run_sensitivity(cases, name="x", base_result=base)
    b = run_sensitivity(cases, name="x")  # the base rerun in memory: the same figures
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[:4]) == ["factor", "setting", "observations", "median_step_s"] and set(HEADLINE) <= set(a.columns)
    assert a.iloc[0][list(HEADLINE)].to_dict() == headline(base)
    assert base.summary["bankruptcy_deficit_usdc"] > 0 and a["deficit_vs_base"].iloc[0] == 1.0
    fund = a.set_index("setting")
    assert fund.loc["×2 (500,000 USDC)", "insurance_fund_end_usdc"] >= a.iloc[0]["insurance_fund_end_usdc"]
    files = write_sensitivity(a, tmp_path, {"event": "x"})
    doc = json.loads(files["json"].read_text())
    assert doc["event"] == "x" and len(doc["rows"]) == len(a) and doc["figures"] == HEADLINE
    assert len(pd.read_csv(files["csv"])) == len(a)


def test_the_report_states_the_path_and_its_wicks_and_the_sensitivity(tmp_path):
    refined, coarse = _crash_paths()
    prov = refined.provenance
    assert len(prov.wicks) == 1 and prov.wicks[0].side == "low"
    r = run_replay(refined.ts_ns, refined.price, name="synthetic", population=PopulationSpec(n_accounts=40), verify_replay=False)
    table = run_sensitivity(plan(refined, population=PopulationSpec(n_accounts=40), liquidity=LiquidityModel(), venue=VenueSpec(),
                                 fund_start=250_000.0, bar_sizes=(), seed_offsets=(1,), fund_factors=(), depth_factors=(),
                                     impact_law=False, index_weights=()),
                            name="synthetic", base_result=r)
    files = write_report(r, tmp_path, path=prov, sensitivity=table)
    html = files["html"].read_text()
    assert html.index("id='price-path'") < html.index("Price and liquidations") < html.index("id='sensitivity'")
    assert "perp_1h (1h bars) refined from spot_5m (5m)" in html and prov.wicks[0].to_dict()["bar"] in html
    summary = json.loads(files["json"].read_text())
    pp = summary["price_path"]
    assert pp["base"] == {"source_id": "perp_1h", "interval": "1h", "bars": 6} and pp["bars"] == {"refined": 6, "bridged": 0, "coarse": 0}
    assert pp["observations"] == 6 * 48 and pp["median_step_s"] == 75.0 and pp["wick_policy"] == "clip" and pp["wick_tolerance"] == 0.01
    assert pp["wicks"][0]["gap"] == pytest.approx(prov.wicks[0].gap, abs=1e-6) and len(summary["sensitivity"]) == 2
    plain = write_report(r, tmp_path / "plain")  # without them: no section, no key
    assert "price-path" not in plain["html"].read_text() and "price_path" not in json.loads(plain["json"].read_text())
