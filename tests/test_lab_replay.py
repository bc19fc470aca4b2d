"""The crash lab's replay: population, liquidity model, the run itself and its report files."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ramparts.errors import InvalidInput
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import Market, PopulationSpec, generate_population
from ramparts.lab.replay import run_replay
from ramparts.lab.report import write_report

MIN = 60 * 10**9


def test_population_is_seeded_and_respects_the_leverage_cap():
    spec = PopulationSpec(n_accounts=500, seed=3)
    a = generate_population(spec, Market("BTC-PERP", 10_000.0, Decimal("0.001")), max_leverage=20)
    b = generate_population(spec, [Market("BTC-PERP", 10_000.0, Decimal("0.001"))], max_leverage=20)
    assert a == b
    lev = np.array([abs(t.size) * 10_000 / t.collateral for t in a], dtype=float)
    assert lev.max() <= 20 and lev.min() >= 1.0
    longs = sum(t.size > 0 for t in a) / len(a)
    assert abs(longs - spec.long_fraction) < 0.08


@pytest.mark.parametrize("field,value", [("n_accounts", 0), ("long_fraction", 1.5), ("leverage_min", 0.5), ("collateral_median", -1)])
def test_population_spec_rejects_bad_values(field, value):
    with pytest.raises(InvalidInput, match=field):
        PopulationSpec(**{field: value})


def test_square_root_impact():
    m = LiquidityModel(depth=1_000_000, k=0.5)
    # 0.5 × σ × sqrt(4,000,000 / 1,000,000) = 0.5 × 0.02 × 2 = 0.02, sells push down
    assert m.impact(-4_000_000, 0.02) == pytest.approx(-0.02)
    assert m.impact(250_000, 0.02) == pytest.approx(0.005)
    assert m.decay(0.04, 900) == pytest.approx(0.02)
    evaporated = LiquidityModel(depth=1_000_000, k=0.5, depth_multiplier=0.25)
    assert evaporated.impact(-4_000_000, 0.02) == pytest.approx(-0.04)
    with pytest.raises(InvalidInput):
        LiquidityModel(depth=math.nan)


def crash(n=120, depth=0.45, seed=2):
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.int64) * MIN + 1_600_000_000 * 10**9
    p = 10_000 * np.exp(np.linspace(0, np.log(1 - depth), n) + rng.normal(0, 0.003, n))
    return t, p


def test_replay_conserves_value_replays_identically_and_cascades():
    t, p = crash()
    base = run_replay(t, p, population=PopulationSpec(n_accounts=300, seed=5), liquidity=LiquidityModel(depth=1e12))
    thin = run_replay(t, p, population=PopulationSpec(n_accounts=300, seed=5), liquidity=LiquidityModel(depth=2e5))
    for r in (base, thin):
        assert r.summary["value_conserved"] and r.summary["replay_identical"]
        assert r.summary["liquidation_steps"] > 0
    # thin liquidity: liquidations push the oracle below the market path (the death spiral)
    assert thin.series["oracle_price"].min() < base.series["oracle_price"].min()
    assert thin.series["displacement"].min() < -0.01
    assert abs(base.series["displacement"]).max() < 1e-3


def test_replay_refuses_a_bad_path():
    t, p = crash(10)
    p[3] = np.nan
    with pytest.raises(InvalidInput):
        run_replay(t, p)
    with pytest.raises(InvalidInput):
        run_replay(t[::-1], np.abs(p[::-1]) + 1)


def test_report_files(tmp_path):
    t, p = crash(60)
    r = run_replay(t, p, name="synthetic", population=PopulationSpec(n_accounts=100))
    paths = write_report(r, tmp_path)
    html = paths["html"].read_text()
    assert "Price and liquidations" in html and "plotly" in html.lower()
    summary = json.loads(paths["json"].read_text())
    assert summary["name"] == "synthetic" and "layers" in summary
    series = pd.read_parquet(paths["series"])
    assert len(series) == 60 and {"oracle_price", "insurance_fund", "ratio_p99"} <= set(series.columns)


def test_black_thursday_refined_path_loses_far_less_than_the_coarse_one():
    """The issue's finding as a test: on the 1h perpetual's four-point path, most of the deficit comes from
    one step (2020-03-12 10:00, open 7,358.51 straight to the low 5,199.17); refined from the 5-minute
    spot bars, that hour falls by steps to a confirmed low near 5,550. Measured with 2,000 traders (seed 1):
    7.18M USDC coarse against 0.95M refined, a ratio of 0.13; asserted below 0.25."""
    from ramparts.lab.events import NAMED_EVENTS, event_path

    ev = NAMED_EVENTS["black-thursday-2020"]
    deficit = {}
    for method in ("coarse", "refined"):
        path = event_path(ev, method=method)
        r = run_replay(path.ts_ns, path.price, name=method, population=PopulationSpec(n_accounts=2000, seed=1), verify_replay=False)
        assert r.summary["value_conserved"]
        deficit[method] = r.summary["bankruptcy_deficit_usdc"]
    assert deficit["coarse"] > 5e6  # the 7.17M, give or take the engine's other changes
    assert 0 < deficit["refined"] < 0.25 * deficit["coarse"], deficit
