"""The population from data (ramparts.lab.crowd) and scenario files (ramparts.lab.scenario)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest

from ramparts.errors import DataError, InvalidInput
from ramparts.lab.crowd import MAKER_CAP_USD, AccountType, CrowdSpec, _apportion, generate_crowd
from ramparts.lab.population import Market
from ramparts.lab.scenario import DEFAULT_SCENARIO, load_scenario

BTC = Market("BTC-PERP", 10_000.0, Decimal("0.001"))


def test_default_scenario_names_every_parameter_with_a_source_or_an_assumption():
    s = load_scenario()
    assert s.path == str(DEFAULT_SCENARIO)
    for p in s.params:
        assert p.kind in ("source", "assumption") and len(p.note) > 10, p
        assert "bare value" not in p.note, p  # the shipped file writes every source out
    names = {p.name for p in s.params}
    # the file sets every field of every type and of the crowd: nothing silently falls back to a code default
    type_fields = {f.name for f in dataclasses.fields(AccountType)} - {"name"}
    for t in s.crowd.types:
        assert {f"types.{t.name}.{f}" for f in type_fields} <= names, t.name
    for f in ("n_accounts", "seed", "warmup_hours", "maker_collateral_multiple", "max_account_share"):
        assert f"population.{f}" in names
    assert {"behaviour.warn_ratio", "behaviour.dip_window_hours", "liquidity.depth"} <= names
    sourced = [p for p in s.params if p.name.startswith("open_interest.")]
    assert len(sourced) >= 3 and all("[pcf]" in p.note for p in sourced)  # each cites a published figure
    assert abs(sum(t.share for t in s.crowd.types) - 1) < 1e-9


@pytest.mark.parametrize("n,shares,want", [
    (10, [0.5, 0.5], [5, 5]),
    (10, [0.55, 0.25, 0.1, 0.05, 0.05], [6, 3, 1, 0, 0]),  # remainders tie at .5: the earlier types get the two left
    (2000, [0.55, 0.25, 0.10, 0.05, 0.05], [1100, 500, 200, 100, 100]),
    (3, [1 / 3, 1 / 3, 1 / 3], [1, 1, 1]),
])
def test_apportion_is_exact(n, shares, want):
    got = _apportion(n, shares)
    assert sum(got) == n and got == want


def _spec(**kw) -> CrowdSpec:
    types = (AccountType("a", share=0.7, long_fraction=1.0, leverage_median=4.0, leverage_sigma=0.5, collateral_median=1000),
             AccountType("b", kind="basis", share=0.3, long_fraction=0.0, leverage_median=2.0, leverage_sigma=0.0,
                         collateral_median=20_000, collateral_sigma=0.0))
    return CrowdSpec(types=types, **{"n_accounts": 500, **kw})


def test_crowd_is_seeded_and_matches_the_open_interest():
    a, fa = generate_crowd(_spec(seed=3), [BTC], 50)
    b, fb = generate_crowd(_spec(seed=3), [BTC], 50)
    c, _ = generate_crowd(_spec(seed=4), [BTC], 50)
    assert a == b and fa == fb and a != c
    assert fa["accounts_by_type"] == {"a": 350, "b": 150}
    m, f = generate_crowd(_spec(seed=3, open_interest_usd=2e8, max_account_share=1.0), [BTC], 50)
    assert f["open_interest_usd"] == pytest.approx(2e8, rel=1e-3)  # rounding to the 0.001 BTC lot
    # every long has a short: both sides are scaled to the open interest, each by its own factor
    assert f["long_notional_usd"] == pytest.approx(2e8, rel=1e-3) and f["short_notional_usd"] == pytest.approx(2e8, rel=1e-3)
    assert f["open_interest_scale"]["long"] == pytest.approx(2e8 / fa["long_notional_usd"], rel=1e-3)
    assert f["open_interest_scale"]["short"] == pytest.approx(2e8 / fa["short_notional_usd"], rel=1e-3)
    # the scaling multiplies sizes, not leverage
    assert [x.leverage for x in m] == [x.leverage for x in a]
    assert all(x.legs[0][1] > 0 for x in m if x.type_name == "a") and all(x.legs[0][1] < 0 for x in m if x.type_name == "b")


def test_leverage_follows_each_type_and_is_capped():
    spec = CrowdSpec(types=(AccountType("x", share=1.0, leverage_median=5.0, leverage_sigma=0.7, collateral_median=1e5),),
                     n_accounts=4000, seed=11)
    members, facts = generate_crowd(spec, [BTC], 1000)
    lev = np.array([m.leverage for m in members])
    assert np.median(lev) == pytest.approx(5.0, rel=0.06)
    assert np.std(np.log(lev)) == pytest.approx(0.7, rel=0.06)
    capped, _ = generate_crowd(spec, [BTC], 8.0)
    assert max(m.leverage for m in capped) <= 8.0 * 0.98 + 1e-12
    # warm-up entries spread over the warm-up window, not all at the first bar
    entries = np.array([m.entry_s for m in members])
    assert entries.min() >= 0 and entries.max() <= spec.warmup_s and np.std(entries) > spec.warmup_s / 4


def test_multi_market_members_hold_several_markets():
    eth = Market("ETH-PERP", 2_000.0, Decimal("0.01"))
    spec = CrowdSpec(types=(AccountType("v", kind="vault", share=1.0, markets=2, collateral_median=1e5),), n_accounts=50)
    members, _ = generate_crowd(spec, [BTC, eth], 50)
    assert all(len(m.legs) == 2 and {s for s, _ in m.legs} == {"BTC-PERP", "ETH-PERP"} for m in members)


@pytest.mark.parametrize("kw,field", [
    ({"share": 1.5}, "types.x.share"),
    ({"kind": "whale"}, "types.x.kind"),
    ({"leverage_median": 0}, "types.x.leverage_median"),
    ({"isolated": True, "markets": 2}, "types.x.markets"),
    ({"topup_probability": -0.1}, "types.x.topup_probability"),
])
def test_account_type_refuses_bad_values(kw, field):
    with pytest.raises(InvalidInput) as exc:
        AccountType("x", **kw)
    assert exc.value.field == field


@pytest.mark.parametrize("kw,field", [
    ({"n_accounts": 0}, "n_accounts"),
    ({"target_ratio": 0.9}, "target_ratio"),
    ({"open_interest_usd": -1.0}, "open_interest_usd"),
    ({"dip_step": 0}, "dip_step"),
])
def test_crowd_spec_refuses_bad_values(kw, field):
    with pytest.raises(InvalidInput) as exc:
        _spec(**kw)
    assert exc.value.field == field
    with pytest.raises(InvalidInput, match="shares add up to 0.5"):
        CrowdSpec(types=(AccountType("x", share=0.5),))


def write(tmp_path, text: str):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


MINIMAL = """
[population]
n_accounts = 100
[types.only]
share = 1.0
leverage_median = { value = 2.0, source = "a test" }
"""


def test_a_users_file_may_give_bare_values_reported_as_assumptions(tmp_path):
    s = load_scenario(write(tmp_path, MINIMAL))
    assert s.crowd.n_accounts == 100 and s.crowd.types[0].leverage_median == 2.0
    notes = {p.name: (p.kind, p.note) for p in s.params}
    assert notes["population.n_accounts"] == ("assumption", "a bare value in s.toml: no source given")
    assert notes["types.only.leverage_median"] == ("source", "a test")
    crowd, oi = s.for_event("black-thursday-2020")
    assert oi is None and crowd.open_interest_usd is None
    over = s.with_overrides(n_accounts=7, seed=9)
    assert over.crowd.n_accounts == 7 and over.crowd.seed == 9
    assert {p.name: p.note for p in over.params}["population.seed"] == "given on the command line"


@pytest.mark.parametrize("text,field", [
    ("[pop]\nn = 1\n", "pop"),
    (MINIMAL + "[behaviour]\nwarn = 0.5\n", "behaviour.warn"),
    (MINIMAL.replace('source = "a test"', 'source = "a", assumption = "b"'), "types.only.leverage_median"),
    (MINIMAL.replace("n_accounts = 100", 'n_accounts = "many"'), "population.n_accounts"),
    (MINIMAL.replace("share = 1.0", "share = 0.4"), "types"),
    ("[population]\nn_accounts = 5\n", "types"),
    (MINIMAL + "[open_interest]\nx = \"big\"\n", "open_interest.x"),
])
def test_bad_scenario_files_name_the_parameter(tmp_path, text, field):
    with pytest.raises(InvalidInput) as exc:
        load_scenario(write(tmp_path, text))
    assert exc.value.field == field


def test_unreadable_scenario_files(tmp_path):
    with pytest.raises(DataError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(DataError, match="not a valid TOML scenario file.*line 1"):
        load_scenario(write(tmp_path, "[population\n"))


# ----------------------------------------------------------------------------------------------- in a replay
def _falling_path(hours: int = 48, drop: float = 0.35, step_s: int = 600):
    """A slow fall of ``drop`` over the second half of ``hours`` (a flat first day for the warm-up)."""
    n = hours * 3600 // step_s
    t = (np.arange(n, dtype=np.int64) * step_s + 1_700_000_000) * 10**9
    half = n // 2
    p = np.concatenate([np.full(half, 30_000.0), 30_000.0 * np.exp(np.linspace(0, np.log(1 - drop), n - half))])
    return t, p


def _crowd(**kw) -> CrowdSpec:
    types = (AccountType("cross", share=0.8, long_fraction=1.0, leverage_median=4.0, leverage_sigma=0.3, collateral_median=5_000,
                         collateral_sigma=0.5, topup_probability=kw.pop("topup", 0.0), derisk_probability=kw.pop("derisk", 0.0)),
             AccountType("basis", kind="basis", share=0.2, long_fraction=0.0, leverage_median=1.5, leverage_sigma=0.0,
                         collateral_median=50_000, collateral_sigma=0.0))
    return CrowdSpec(types=types, **{"n_accounts": 120, "warmup_s": 12 * 3600.0, "topup_delay_s": 600.0, "delay_sigma": 0.0, **kw})


def test_a_crowd_builds_up_over_its_warm_up_and_reacts_in_the_fall():
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.replay import run_replay

    t, p = _falling_path()
    deep = LiquidityModel(depth=1e12)
    quiet = run_replay(t, p, population=_crowd(), liquidity=deep)
    c = quiet.summary["crowd"]
    assert c["accounts_by_type"] == {"cross": 96, "basis": 24} and c["topups"] == 0 and c["derisks"] == 0
    # a 35 % fall brings dip buyers at −10 %, −20 % and −30 % (2 % of 120 → 2 accounts a level)
    assert c["dip_accounts"] == 6 and quiet.summary["accounts"] == 126
    assert c["fills_refused"] == 0  # 4× leverage is well inside the venue's initial margin
    assert quiet.summary["replay_identical"] and quiet.summary["value_conserved"]
    # the opening margin is read once the warm-up is over: all 120 members have opened by then
    assert 0 < quiet.summary["initial_margin_rate_avg"] < quiet.summary["collateral_to_notional_avg"]

    careful = run_replay(t, p, population=_crowd(topup=1.0), liquidity=deep)
    cc = careful.summary["crowd"]
    assert cc["topups"] > 0 and cc["topup_usd"] > 0
    assert careful.summary["bankruptcies"] + careful.summary["liquidation_steps"] < \
        quiet.summary["bankruptcies"] + quiet.summary["liquidation_steps"]
    cutting = run_replay(t, p, population=_crowd(derisk=1.0), liquidity=deep)
    assert cutting.summary["crowd"]["derisks"] > 0 and cutting.summary["crowd"]["derisk_notional_usd"] > 0
    assert cutting.summary["liquidated_notional_usdc"] < quiet.summary["liquidated_notional_usdc"]


def test_warm_up_openings_are_spread_over_time_in_the_journal(tmp_path):
    from ramparts.journal import open_journal
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.replay import run_replay

    t, p = _falling_path(hours=24, drop=0.05)
    url = str(tmp_path / "j.sqlite")
    run_replay(t, p, population=_crowd(n_accounts=40), liquidity=LiquidityModel(depth=1e12), journal_url=url)
    with open_journal(url, create=False) as j:
        opened = [r.ts for r in j.read(1) if r.kind == "OpenSubAccount"]
    assert len(opened) == 41  # the maker and the 40 members
    spread = (max(opened) - min(opened)) / 1e9
    assert 8 * 3600 < spread <= 12 * 3600 + 600  # over the 12-hour warm-up, on the path's 10-minute steps


def test_the_maker_of_a_very_large_venue_is_funded_in_deposits_the_engine_accepts():
    from ramparts.lab.crowd import Crowd

    spec = _crowd(open_interest_usd=16e9)
    members, facts = generate_crowd(spec, [Market("BTC-PERP", 30_000.0, Decimal("0.001"))], 50)
    crowd = Crowd(spec, members, [Market("BTC-PERP", 30_000.0, Decimal("0.001"))], 0, 50)
    deposits = crowd.maker_deposits({"BTC-PERP": 30_000.0})
    assert len(deposits) >= 2 and max(deposits) <= 50 * 10**9
    gross = sum(m.notional({"BTC-PERP": 30_000.0}) for m in members)
    assert sum(deposits) == min(int(gross * (1 + 4 * spec.dip_share) * spec.maker_collateral_multiple) + 1, MAKER_CAP_USD)
    assert sum(deposits) == MAKER_CAP_USD  # 10 × the gross of a 16-billion venue is more than the ledger takes


def test_no_account_holds_more_than_its_share_of_the_open_interest():
    spec = _spec(seed=5, open_interest_usd=1e9, max_account_share=0.01)
    members, facts = generate_crowd(spec, [BTC], 50)
    assert facts["accounts_capped"] > 0
    assert max(m.notional({"BTC-PERP": BTC.price}) for m in members) <= 0.01 * 1e9 * 1.0001
    assert facts["open_interest_usd"] == pytest.approx(1e9, rel=2e-3)


def test_the_replay_report_says_who_traded_and_every_assumed_parameter(tmp_path):
    import json

    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.replay import run_replay
    from ramparts.lab.report import write_report

    t, p = _falling_path(hours=24, drop=0.15)
    r = run_replay(t, p, population=_crowd(n_accounts=30), liquidity=LiquidityModel(depth=1e12))
    s = load_scenario()
    r.summary["scenario"] = {"scenario": s.path, "open_interest": None, "parameters": s.table()}
    files = write_report(r, tmp_path)
    html = files["html"].read_text()
    assert "id='population'" in html and "Population: scenario default.toml" in html
    assert "types.isolated.leverage_median" in html and "source: on isolated margin" in html
    assert "not matched: no published figure" in html
    summary = json.loads(files["json"].read_text())
    assert summary["crowd"]["accounts_by_type"] == {"cross": 24, "basis": 6}
    assert len(summary["scenario"]["parameters"]) == len(s.params)


def test_leverage_is_capped_by_the_tier_at_the_members_size_and_refused_fills_are_counted(monkeypatch):
    import ramparts.lab.replay as rp
    from ramparts.lab.liquidity import LiquidityModel

    t, p = _falling_path(hours=24, drop=0.05)
    # members asking for far more than the venue allows, at sizes that reach its higher tiers
    spec = CrowdSpec(types=(AccountType("x", share=1.0, leverage_median=200.0, leverage_sigma=0.0, leverage_cap=1.0,
                                        collateral_median=50_000, collateral_sigma=1.0),), n_accounts=10)
    capped = rp.run_replay(t, p, population=spec, liquidity=LiquidityModel(depth=1e12), verify_replay=False)
    assert capped.summary["crowd"]["fills_refused"] == 0  # each capped at what its tier allows: every fill opens
    first_tier = capped.summary["crowd"]["leverage_median"]
    assert first_tier < 200
    real = rp.generate_crowd
    # the same crowd capped only at the first tier's maximum: the larger members' fills are refused, and counted
    monkeypatch.setattr(rp, "generate_crowd", lambda spec, markets, max_lev, im_rate=None: real(spec, markets, max_lev))
    loose = rp.run_replay(t, p, population=spec, liquidity=LiquidityModel(depth=1e12), verify_replay=False)
    assert loose.summary["crowd"]["fills_refused"] > 0
    # three times the venue's maximum: every opening fill is refused
    monkeypatch.setattr(rp, "generate_crowd", lambda spec, markets, max_lev, im_rate=None: real(spec, markets, 3 * max_lev))
    r = rp.run_replay(t, p, population=spec, liquidity=LiquidityModel(depth=1e12), verify_replay=False)
    assert r.summary["crowd"]["fills_refused"] == 10
    assert r.summary["liquidation_steps"] == 0 and r.summary["bankruptcies"] == 0


def test_generate_crowd_caps_leverage_by_the_rate_at_each_members_notional():
    def rate(notional: float) -> float:  # 1 % up to 100,000, 5 % above (a two-tier schedule)
        return 0.01 if notional <= 100_000 else 0.05

    spec = CrowdSpec(types=(AccountType("x", share=1.0, leverage_median=60.0, leverage_sigma=0.8, leverage_cap=0.9,
                                        collateral_median=3_000, collateral_sigma=1.0),), n_accounts=300, seed=4)
    flat, _ = generate_crowd(spec, [BTC], 100)
    tiered, _ = generate_crowd(spec, [BTC], 100, rate)
    big = [m for m in tiered if m.notional({"BTC-PERP": BTC.price}) > 100_000]
    assert big and all(m.leverage <= 0.9 / 0.05 * (1 + 1e-9) for m in big)
    assert all(m.leverage <= 0.9 / rate(m.notional({"BTC-PERP": BTC.price})) * (1 + 1e-9) for m in tiered)
    assert max(m.leverage for m in flat) > 0.9 / 0.05  # without the schedule they would have been above it
