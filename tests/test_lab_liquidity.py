"""The lab's liquidity model (issue 20, item 5): the square-root and the fitted power law, per-asset depth, the synthetic
book's shape under each, and the venue's index weight (how much of its own book's displacement reaches its mark)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from ramparts.errors import InvalidInput
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import VenueSpec, run_replay, synthetic_book
from ramparts.lab.scenario import load_scenario


def test_power_law_is_one_percent_at_the_published_depth_and_scales_with_gamma():
    m = LiquidityModel(law="power", depth=40e6, gamma=0.875, depth_by_asset={"ETH": 19.2e6})
    assert m.impact(-40e6, 0.5, "BTC-PERP") == pytest.approx(-0.01)  # σ plays no part
    assert m.impact(80e6, 0.0, "BTC-PERP") == pytest.approx(0.01 * 2**0.875)
    assert m.impact(19.2e6, 0.0, "ETH-PERP") == pytest.approx(0.01)  # ETH's own depth
    assert m.impact(19.2e6, 0.0, "SOL-PERP") == pytest.approx(0.01 * (19.2 / 40) ** 0.875)  # no depth of its own: depth
    assert m.scaled(2).impact(80e6, 0, "BTC-PERP") == pytest.approx(0.01) and m.scaled(2).depth_by_asset == {"ETH": 38.4e6}
    sq = LiquidityModel(depth=50e6, k=1.0)
    assert sq.impact(-50e6, 0.002) == pytest.approx(-0.002) and sq.impact(200e6, 0.002) == pytest.approx(0.004)


@pytest.mark.parametrize("law", ["sqrt", "power"])
def test_the_synthetic_book_holds_the_laws_depth(law):
    from ramparts.engine.engine import Engine
    from ramparts.engine.presets import genesis, perpetual

    e = Engine()
    for x in (genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0)):
        e.apply(x)
    instr = e.instrument("BTC-PERP")
    m = LiquidityModel(law=law, depth=40e6)
    sigma = 0.002
    bids, asks = synthetic_book(50_000.0, sigma, m, instr)
    x10 = 0.01 if law == "power" else sigma / 1.0  # the tenth level sits at 1 % (power) or one k·σ (sqrt)
    # sizes are the notional at the mid over the mid (rounded down to the size step)
    within = sum(Decimal(sz) * 50_000 for px, sz in asks if Decimal(px) <= Decimal(50_000 * (1 + x10)) + 1)
    assert float(within) == pytest.approx(m.notional_within(x10, sigma, "BTC-PERP"), rel=1e-3)
    assert [Decimal(p) for p, _ in bids] == sorted((Decimal(p) for p, _ in bids), reverse=True)


def test_bad_liquidity_parameters_are_refused():
    with pytest.raises(InvalidInput, match="sqrt or power"):
        LiquidityModel(law="linear")
    with pytest.raises(InvalidInput) as err:
        LiquidityModel(depth_by_asset={"ETH": -1.0})
    assert err.value.field == "liquidity.depth_by_asset.ETH"
    with pytest.raises(InvalidInput) as err:
        VenueSpec(index_weight=1.5)
    assert err.value.field == "index_weight"


def test_index_weight_zero_keeps_the_mark_on_the_path_while_the_book_still_moves():
    n = 240
    t = np.int64(1_600_000_000 * 10**9) + np.arange(n, dtype=np.int64) * 60 * 10**9
    p = 10_000 * np.exp(np.concatenate([np.zeros(20), np.linspace(0, -0.35, 60), np.full(n - 80, -0.35)]))
    thin = LiquidityModel(depth=1e5)
    pop = PopulationSpec(n_accounts=120, seed=2)
    own = run_replay(t, p, population=pop, liquidity=thin, venue=VenueSpec(index_weight=1.0), verify_replay=False)
    index = run_replay(t, p, population=pop, liquidity=thin, venue=VenueSpec(index_weight=0.0), verify_replay=False)
    # with weight 0 the oracle is the path itself (to the cent); the displacement is still there, in the book
    assert np.allclose(index.series["oracle_price"], np.round(p, 2), atol=0.006)
    assert np.abs(index.series["displacement"]).max() > 0.01
    assert np.abs(own.series["oracle_price"] - p).max() > 0.01 * p.min()
    assert own.summary["venue"]["index_weight"] == 1.0 and index.summary["venue"]["index_weight"] == 0.0


def test_the_scenario_file_names_the_law():
    s = load_scenario(None)
    assert s.liquidity.law == "sqrt" and s.liquidity.depth == 50e6
    notes = {x.name: (x.kind, x.note) for x in s.params}
    assert notes["liquidity.law"][0] == "assumption" and "ramparts validate" in notes["liquidity.law"][1]


def test_a_scenarios_power_law_with_per_asset_depth_loads(tmp_path):
    text = load_scenario(None).path
    body = open(text, encoding="utf-8").read().replace(
        'law = { value = "sqrt",', 'gamma = { value = 0.875, source = "fit" }\ndepth_by_asset = { ETH = { value = 19.2e6, source = "x" } }\n'
                                   'law = { value = "power",')
    f = tmp_path / "s.toml"
    f.write_text(body, encoding="utf-8")
    s = load_scenario(f)
    assert (s.liquidity.law, s.liquidity.gamma, s.liquidity.depth_by_asset) == ("power", 0.875, {"ETH": 19.2e6})
    assert math.isclose(s.liquidity.impact(19.2e6, 0, "ETH-PERP"), 0.01)
