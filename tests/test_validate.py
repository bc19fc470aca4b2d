"""``ramparts validate``: the lab against what really happened, with its bands (issue 20, item 8); several markets at once
(item 6); Hyperliquid's fund by design.

The bands are the point: a change that makes the lab unrealistic fails here. Each figure not marked as a known gap
must be inside its band; each known gap must still be outside (closing one means arming its band)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.errors import InvalidInput
from ramparts.lab.crowd import CrowdSpec, generate_crowd, market_weights
from ramparts.lab.events import event_paths, parse_markets, resolve_event
from ramparts.lab.population import Market
from ramparts.lab.scenario import load_scenario
from ramparts.lab.validate import CHECKS, real_hyperliquid, run_check

runner = CliRunner()


@pytest.fixture(scope="module")
def validation():
    return {c.name: run_check(c) for c in CHECKS}


@pytest.mark.parametrize("check", [c.name for c in CHECKS])
def test_the_lab_meets_its_bands(validation, check):
    figures, facts = validation[check]
    assert facts["value_conserved"] and facts["replay_identical"]
    for f in figures:
        if f.figure.known_gap is None:
            assert f.inside, f"{check}: {f.figure.label} = {f.lab} outside [{f.figure.low}, {f.figure.high}] (real {f.figure.real})"
        else:  # a known gap that closes must have its band armed (remove known_gap)
            assert not f.inside, f"{check}: {f.figure.key} is now inside its band: remove its known_gap"


def test_the_hyperliquid_check_replays_both_markets_with_no_fund(validation):
    figures, facts = validation["hyperliquid-2025-10-10"]
    assert facts["markets"] == ["BTC-PERP", "ETH-PERP"] and set(facts["paths"]) == {"BTC-PERP", "ETH-PERP"}
    assert facts["fund"]["amount_usdc"] == 0 and facts["fund"]["basis"] == "design"
    assert facts["adl_fills"] > 0 and facts["liquidated_notional_usdc"] > 0
    assert sum(facts["adl_notional_by_type"].values()) == pytest.approx(1.0)
    by_key = {f.figure.key: f for f in figures}
    # the figure is ADL over liquidations of the same run: recompute it from the run's own totals
    assert by_key["adl_to_liquidated"].lab == pytest.approx(facts["adl_notional_usdc"] / facts["liquidated_notional_usdc"])


def test_black_thursday_checks_use_the_venues_published_funds(validation):
    bitmex = validation["black-thursday-bitmex"][1]
    binance = validation["black-thursday-binance"][1]
    # BitMEX: 35,500 BTC × 7,938.05 / 840M = 33.5 % of the open interest; Binance: 21,005,925 / 314M = 6.69 %
    assert bitmex["fund"]["ratio_to_open_interest"] == pytest.approx(35_500 * 7_938.05 / 840e6)
    assert binance["fund"]["ratio_to_open_interest"] == pytest.approx(21_005_925 / 314e6)
    assert bitmex["adl_notional_usdc"] == 0 == binance["adl_notional_usdc"]


def test_real_figures_are_read_from_the_shipped_files():
    r = real_hyperliquid()
    # the numbers as the data's PROVENANCE quotes them (BTC 1.790 bn liquidated, 0.621 bn ADL; ETH 1.058 / 0.458)
    assert r["adl_to_liquidated_btc"] == pytest.approx(620_890_947.73 / 1_789_607_763.72)
    assert r["adl_to_liquidated"] == pytest.approx((620_890_947.73 + 458_008_925.03) / (1_789_607_763.72 + 1_058_159_258.96))
    # 302 is a count of ADL fills on underwater accounts (of 34,983 fills), not of accounts (of 437,723 tracked)
    assert r["adl_underwater_share"] == pytest.approx(302 / 34_983) == pytest.approx(0.008632764485607295)
    assert r["underwater_fills_over_tracked_accounts"] == pytest.approx(302 / 437_723)
    assert r["negative_equity_to_liquidated"] == pytest.approx(23_191_104.48 / r["liquidated_notional_all_coins"])
    assert 5.4e9 < r["liquidated_notional_all_coins"] < 5.6e9  # "liquidation fills $5.51B"
    assert (r["equity_over_pnl_p10"], r["equity_over_pnl_median"], r["equity_over_pnl_p90"]) == pytest.approx((2.283, 4.413, 14.958), abs=1e-3)


def test_lab_figures_follow_the_sources_definitions():
    """The lab's side of the ADL figures on a hand-made run, each worked out by hand (validate's docstring, Formulas)."""
    from types import SimpleNamespace

    from ramparts.lab.validate import _lab_figures

    def fill(cp, notional, pnl, equity, size=1.0):
        return {"instrument": "BTC-PERP", "counterparty": cp, "notional": size, "counterparty_notional": notional,
                "counterparty_pnl": pnl, "counterparty_equity": equity}

    dl = [fill("isolated000001/iso", 300.0, 50.0, 100.0, 5.0),   # leverage 3, equity / profit 2 (its first fill in profit)
          fill("isolated000001/iso", 200.0, 40.0, 120.0, 1.0),   # the same account again: not a second row of equity / profit
          fill("cross000002/main", 100.0, 10.0, 500.0, 2.0),     # leverage 0.2, equity / profit 50
          fill("vault000003/main", 400.0, -5.0, -20.0, 2.0)]     # underwater: leverage counted 0, not in profit
    run = SimpleNamespace(summary={"insurance_fund_start_usdc": 0, "bankruptcy_deficit_usdc": 0.0, "bankruptcies": 1,
                                   "accounts": 10, "insurance_fund_min_usdc": 0, "vault_loss_usdc": 0.0},
                          liquidations=[{"instrument": "BTC-PERP", "notional": 40.0}], deleverages=dl)
    lab = _lab_figures(run, CHECKS[0])
    assert lab["deleveraged_leverage_median"] == pytest.approx(np.median([3.0, 200 / 120, 0.2, 0.0]))
    assert lab["equity_over_pnl_median"] == pytest.approx(np.median([2.0, 50.0]))  # one row per account
    assert lab["adl_underwater_share"] == pytest.approx(1 / 4)
    assert lab["adl_in_profit_share"] == pytest.approx(3 / 4)
    assert lab["adl_to_liquidated"] == pytest.approx(10.0 / 40.0)
    assert lab["bankrupt_accounts_share"] == pytest.approx(0.1)
    from ramparts.lab.validate import _adl_by_type

    assert _adl_by_type(dl) == pytest.approx({"isolated": 0.6, "cross": 0.2, "vault": 0.2})


def test_validate_command_writes_its_report(tmp_path):
    out = tmp_path / "v"
    res = runner.invoke(app, ["validate", "--check", "black-thursday-bitmex", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "validation.json").read_text())
    (check,) = doc["checks"]
    assert check["name"] == "black-thursday-bitmex" and all(f["inside"] for f in check["figures"])
    html = (out / "report.html").read_text()
    assert "BitMEX" in html and "largest intraday decline 2,606 XBT" in html
    assert "inside" in res.output and "BitMEX-like" in res.output


def test_validate_refuses_an_unknown_check(tmp_path):
    res = runner.invoke(app, ["validate", "--check", "luna-2022", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "unknown check 'luna-2022'" in res.output and "hyperliquid-2025-10-10" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------------ several markets


def test_event_paths_align_markets_without_inventing_prices():
    ev_ = resolve_event("tariff-cascade-2025")
    mp = event_paths(ev_, ("BTC", "ETH"))
    assert list(mp.prices) == ["BTC-PERP", "ETH-PERP"]
    union = np.unique(np.concatenate([p.ts_ns for p in mp.paths.values()]))
    assert np.array_equal(mp.ts_ns, union)
    for sym, p in mp.paths.items():
        # every aligned price is one of the market's own observations, the last at or before that time
        own = dict(zip(p.ts_ns.tolist(), p.price.tolist(), strict=True))
        for t, x in zip(mp.ts_ns[::97].tolist(), mp.prices[sym][::97].tolist(), strict=True):
            before = p.ts_ns[p.ts_ns <= t]
            assert x == own[int(before[-1])] if before.size else x == p.price[0]
    eth = mp.paths["ETH-PERP"].provenance
    assert eth.base_source == "bn_usdm_ETH_15m_saam0" and eth.method == "refined"
    assert 3_300 < mp.prices["ETH-PERP"].min() < 3_500  # ETH's 2025-10-10 low (perp 3,400 at 15m, spot 3,435 at 5m)


@pytest.mark.parametrize("text, want", [(None, ("BTC",)), ("eth,btc", ("ETH", "BTC")), ("BTC, BTC-PERP", ("BTC",)),
                                        ("all", ("BTC", "ETH"))])
def test_parse_markets(text, want):
    assert parse_markets(text, resolve_event("ftx-2022")) == want


@pytest.mark.parametrize("text, msg", [("SOL", "has no SOL series (it has: BTC, ETH)"), (" , ", "name at least one asset")])
def test_parse_markets_refuses(text, msg):
    with pytest.raises(InvalidInput) as err:
        parse_markets(text, resolve_event("ftx-2022"))
    assert err.value.field == "markets" and msg in err.value.message


def test_crowd_splits_open_interest_by_the_markets_weights():
    crowd, _ = load_scenario(None).for_event("tariff-cascade-2025")
    markets = [Market("BTC-PERP", 120_000.0, __import__("decimal").Decimal("0.001")),
               Market("ETH-PERP", 4_300.0, __import__("decimal").Decimal("0.01"))]
    members, facts = generate_crowd(crowd, markets, 40.0)
    w = crowd.market_weights["ETH"]
    assert facts["open_interest_target_usd"] == pytest.approx(crowd.open_interest_usd * (1 + w))
    by = facts["open_interest_by_market_usd"]
    assert by["ETH-PERP"] / by["BTC-PERP"] == pytest.approx(w, rel=0.35)  # drawn accounts: the ratio holds on average
    assert any(len(m.legs) > 1 for m in members)  # vaults hold several markets


def test_a_market_without_a_weight_is_refused():
    spec = CrowdSpec(types=load_scenario(None).crowd.types, market_weights=None, open_interest_usd=1e9)
    with pytest.raises(InvalidInput) as err:
        market_weights(spec, [Market("BTC-PERP", 1.0, 1), Market("ETH-PERP", 1.0, 1)])
    assert err.value.field == "market_weights" and "[market_open_interest]" in err.value.message


def test_replay_command_runs_two_markets(tmp_path):
    out = tmp_path / "r"
    res = runner.invoke(app, ["replay", "yen-carry-2024", "--markets", "BTC,ETH", "--accounts", "150", "--out", str(out)])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["markets"] == ["BTC-PERP", "ETH-PERP"] and set(s["paths"]) == {"BTC-PERP", "ETH-PERP"}
    assert s["value_conserved"] and s["replay_identical"]
    assert "ETH-PERP price path: bn_usdm_ETH_15m_saam0" in res.output
    bad = runner.invoke(app, ["replay", "yen-carry-2024", "--markets", "BTC,ETH", "--sensitivity", "--out", str(tmp_path / "s")])
    assert bad.exit_code == 2 and "--sensitivity" in bad.output and "Traceback" not in bad.output
    assert not math.isnan(s["open_interest_usdc"])


# ------------------------------------------------------------------------------------------------ --population everywhere


def test_stress_and_calibrate_take_the_scenario_population(tmp_path):
    res = runner.invoke(app, ["stress", "--scenario", "jump", "--paths", "2", "--steps", "24", "--accounts", "80",
                              "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    pop = json.loads((tmp_path / "s" / "summary.json").read_text())["summary"]["population"]
    # the shipped scenario's crowd, matched to the --event's open interest (Black Thursday: 840M)
    assert {t["name"] for t in pop["types"]} >= {"cross", "isolated", "basis"} and pop["open_interest_usd"] == 840e6
    uni = runner.invoke(app, ["stress", "--scenario", "jump", "--paths", "2", "--steps", "24", "--accounts", "80",
                              "--population", "uniform", "--out", str(tmp_path / "u")])
    assert uni.exit_code == 0, uni.output
    assert "types" not in json.loads((tmp_path / "u" / "summary.json").read_text())["summary"]["population"]
    cal = runner.invoke(app, ["calibrate", "--margin-scale", "1", "--max-fraction", "1", "--scenario", "none", "--accounts", "60",
                              "--events", "yen-carry-2024", "--out", str(tmp_path / "c")])
    assert cal.exit_code == 0, cal.output
    clash = runner.invoke(app, ["stress", "--book", "examples/book.csv", "--population", "uniform", "--out", str(tmp_path / "x")])
    assert clash.exit_code == 2 and "--book replaces the synthetic population" in clash.output
