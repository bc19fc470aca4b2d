"""The insurance fund sized from published figures (``ramparts.lab.fund``) and the loss accounting of a
replay: who bore the loss beyond the bankrupt accounts' equity (fund, backstop vault, ADL
counterparties, socialised), checked against the ledger of the replayed journal."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ramparts.errors import InvalidInput
from ramparts.lab.fund import FALLBACK, OBSERVATIONS, FundRule, published, size_fund
from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import VenueSpec, run_replay

MIN = 60 * 10**9
ROWS = {o.key: o for o in OBSERVATIONS}

# ================================================================================ the table


#: (row, fund in USD, open interest in USD, fund / open interest), each worked by hand from the reference's figures.
DERIVED = [
    ("bitmex-xbt-2020-03-11", 35_500 * 7_938.05, 840e6, 0.335477),
    ("bitmex-xbt-2020-03-23", 203e6, 433e6, 0.468822),
    ("bitmex-xbt-2020-05-10", 35_374 * 8_729.86, 587e6, 0.526082),
    ("binance-btcusdt-2020-05-10", 21_005_925, 314e6, 0.066898),
    ("huobi-btc-2020-05-09", 1_536 * 9_537.21, 114e6, 0.128501),
    ("binance-usdm-2025-10-10", 1.23e9, 16e9, 0.076875),
]


@pytest.mark.parametrize("key, fund_usd, oi_usd, ratio", DERIVED, ids=[d[0] for d in DERIVED])
def test_each_ratio_is_the_fund_over_the_open_interest(key, fund_usd, oi_usd, ratio):
    o = ROWS[key]
    assert o.fund_usd == pytest.approx(fund_usd, rel=1e-12)
    assert o.open_interest_usd == oi_usd
    assert o.ratio == pytest.approx(o.fund_usd / o.open_interest_usd, rel=1e-15)
    assert o.ratio == pytest.approx(ratio, abs=5e-7)
    assert f"= {ratio:.2%}" in o.arithmetic()
    assert o.to_dict()["ratio"] == o.ratio


def test_every_row_is_sourced_dated_and_says_what_it_assumes():
    assert {d[0] for d in DERIVED} == {o.key for o in OBSERVATIONS if o.ratio is not None}
    for o in OBSERVATIONS:
        date.fromisoformat(o.date)
        assert o.source.startswith("http"), o.key
        assert o.usd_basis and o.scope and o.assumptions, o.key
        if o.open_interest_usd is not None:
            assert o.oi_source and o.oi_scope and o.oi_date, o.key
            date.fromisoformat(o.oi_date)
        else:
            assert o.ratio is None and "no open interest" in o.arithmetic()


def test_btc_amounts_are_converted_at_the_shipped_close_of_their_date():
    from ramparts.data import data_path

    daily = pd.read_csv(data_path("daily/btcusd_bitstamp-coinbase_daily_2011-2025.csv.gz"))
    close = dict(zip(daily["timestamp"].str[:10], daily["close"], strict=True))
    converted = [o for o in OBSERVATIONS if o.usd_basis.startswith("BTC/USD close")]
    assert len(converted) >= 5
    for o in converted:
        assert o.currency == "BTC" and o.usd_per_unit == close[o.date], o.key


def test_the_fallback_is_the_smallest_published_ratio():
    assert FALLBACK.ratio == min(o.ratio for o in OBSERVATIONS if o.ratio is not None)
    assert FALLBACK.key == "binance-btcusdt-2020-05-10"


# ================================================================================ sizing

OI = 100_000_000  # USDC

#: (rule, venue profile, event date, fund in USDC, basis, observation)
SIZING = [
    ("auto", "binance", "2020-03-11", 6_689_785, "published", "binance-btcusdt-2020-05-10"),  # 0.06689785… × 1e8, floored
    ("auto", "binance", "2025-10-09", 7_687_500, "published", "binance-usdm-2025-10-10"),
    ("auto", "binance", "2022-11-06", 6_689_785, "published", "binance-btcusdt-2020-05-10"),  # 910 days vs 1,069
    ("auto", "BINANCE ", 1_583_884_800 * 10**9, 6_689_785, "published", "binance-btcusdt-2020-05-10"),  # nanoseconds
    ("auto", "ramparts", "2025-10-09", 6_689_785, "assumption", "binance-btcusdt-2020-05-10"),
    ("auto", "dydx", "2020-03-11", 6_689_785, "assumption", "binance-btcusdt-2020-05-10"),
    ("auto", "hyperliquid", "2025-10-09", 0, "design", None),  # no fund: the HLP vault is the backstop
    ("1%oi", "hyperliquid", "2025-10-09", 1_000_000, "explicit", None),  # a user's rule still applies
    ("5%oi", "binance", "2020-03-11", 5_000_000, "explicit", None),
    ("0.5 %OI", "dydx", "2020-03-11", 500_000, "explicit", None),
    ("0%oi", "dydx", "2020-03-11", 0, "explicit", None),
    ("250000", "binance", "2020-03-11", 250_000, "explicit", None),
    ("250_000.99", "ramparts", "2020-03-11", 250_000, "explicit", None),
    (Decimal("1e6"), "ramparts", "2020-03-11", 1_000_000, "explicit", None),
    (2.5e5, "ramparts", "2020-03-11", 250_000, "explicit", None),
]


@pytest.mark.parametrize("rule, venue, when, amount, basis, observation", SIZING, ids=[f"{s[0]}-{s[1].strip()}-{s[2]}" for s in SIZING])
def test_size_fund(rule, venue, when, amount, basis, observation):
    s = size_fund(rule, venue=venue, when=when, open_interest_usdc=OI)
    assert s.amount_usdc == amount and isinstance(s.amount_usdc, Decimal)
    assert (s.basis, s.observation) == (basis, observation)
    assert s.ratio_to_open_interest == pytest.approx(amount / OI, abs=1e-8)
    if observation:
        assert ROWS[observation].source in s.source and observation in s.explanation
    elif basis == "design":
        assert s.source.endswith("open-source-venues.md §4") and "HLP" in s.explanation
    else:
        assert s.source.startswith("--fund ")
    assert json.loads(json.dumps(s.to_dict()))["amount_usdc"] == amount


def test_published_picks_the_venues_nearest_row_and_nothing_for_others():
    assert published("binance", "2025-01-01").key == "binance-usdm-2025-10-10"
    assert published("binance", "2019-01-01").key == "binance-btcusdt-2020-05-10"
    assert published("deribit", "2020-03-12") is None  # rows without an open interest never size a fund
    assert published("drift", "2020-03-12") is None


@pytest.mark.parametrize("text", ["abc", "-5", "5%", "2000%oi", "nan", "inf", "1e12", "", "auto5", True, None])
def test_a_bad_fund_rule_names_the_fund(text):
    with pytest.raises(InvalidInput) as exc:
        FundRule.parse(text)
    assert exc.value.field == "fund"


def test_rules_print_as_they_are_written():
    assert [str(FundRule.parse(t)) for t in ("auto", " AUTO ", "5%oi", "6.69%OI", "250000", "1e6")] == \
        ["auto", "auto", "5%oi", "6.69%oi", "250000", "1000000"]
    assert VenueSpec(fund="5%oi").to_dict()["fund"] == "5%oi" and VenueSpec().to_dict()["fund"] is None


# ================================================================================ loss accounting


def _crash(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic crash: flat, a 25 % slide over 20 minutes (liquidations step by step), then a fall to
    −55 % in three minutes (gaps past the bankruptcy prices), flat."""
    t = np.arange(n, dtype=np.int64) * MIN + 1_600_000_000 * 10**9
    slide = np.linspace(0, math.log(0.75), 21)[1:]
    gap = np.linspace(math.log(0.75), math.log(0.45), 4)[1:]
    p = 10_000 * np.exp(np.concatenate([np.zeros(8), slide, gap, np.full(n - 31, math.log(0.45))]))
    return t, p


def _venue(fund: str, **liq) -> VenueSpec:
    return VenueSpec(fund=fund, liquidation={"cooldown_ns": 60 * 10**9, **liq})


#: (case, venue): every last resort and pricing the lab uses, with a fund too small for the crash
VENUES = [
    ("adl", _venue("0.1%oi")),
    ("socialised", _venue("0.1%oi", last_resort="socialised")),
    ("socialised-funding", _venue("0.1%oi", last_resort="socialised_funding", pricing="oracle_fee", if_fee_ppm=10_000)),
    ("dilution", _venue("0.1%oi", last_resort="dilution")),
    ("backstop", _venue("0.1%oi", backstop_below_ppm=666_667, penalty_ppm=0)),
    ("fund-covers-all", _venue("20%oi")),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    t, p = _crash()
    out = {}
    for case, venue in VENUES:
        url = str(tmp_path_factory.mktemp(case) / "j.sqlite")
        out[case] = (run_replay(t, p, name=case, population=PopulationSpec(n_accounts=80, seed=4), liquidity=LiquidityModel(depth=3e5),
                                venue=venue, journal_url=url), url)
    return out


@pytest.mark.parametrize("case", [v[0] for v in VENUES])
def test_the_bad_debt_split_adds_up_to_the_base_unit(runs, case):
    r, _ = runs[case]
    s, check = r.summary, r.summary["loss_accounting"]
    assert s["value_conserved"] and s["replay_identical"]
    assert check["adds_up"] and check["deficits_covered"] and check["fund_moved_by_penalties_and_draws"] and check["socialised_consistent"]
    units = check["by_bearer_units"]
    assert all(isinstance(v, int) for v in units.values()) and sum(units.values()) == check["bad_debt_units"]
    # the USDC figures are those units
    assert s["bad_debt_usdc"] == check["bad_debt_units"] / 1e6 == r.totals["bad_debt"]
    assert s["bad_debt_by_bearer_usdc"] == {k: v / 1e6 for k, v in units.items()}
    assert s["bankruptcies"] > 0


@pytest.mark.parametrize("case", [v[0] for v in VENUES])
def test_the_bearers_are_what_the_replayed_ledger_says(runs, case):
    from ramparts.engine.node import replay
    from ramparts.journal import open_journal

    r, url = runs[case]
    s = r.summary
    with open_journal(url, create=False) as j:
        e = replay(j)
    units = s["loss_accounting"]["by_bearer_units"]
    fund_end = e.ledger.totals("USDC")["insurance"]
    assert units["insurance_fund"] == round(s["insurance_fund_start_usdc"] * 10**6) - fund_end
    assert units["backstop_vault"] == -e.equity(e.backstop)  # the vault starts empty
    assert s["vault_equity_end_usdc"] == r.series["vault_equity"][-1] == e.equity(e.backstop) / 1e6
    assert s["socialised_unrecovered_usdc"] == -e.ledger.balance("USDC", "socialised_loss") / 1e6
    # every figure of the split was paid by someone: the fund's gross draws less its penalty income is its part
    assert units["insurance_fund"] == round((s["insurance_fund_draws_usdc"] - s["penalty_income_usdc"]) * 10**6)


def test_each_case_puts_the_loss_where_its_last_resort_does(runs):
    by = {case: r.summary["bad_debt_by_bearer_usdc"] for case, (r, _) in runs.items()}
    s = {case: r.summary for case, (r, _) in runs.items()}
    # a fund of 0.1 % of the open interest runs dry: the rest goes to ADL counterparties or is socialised
    assert s["adl"]["insurance_fund_end_usdc"] < 0.05 * s["adl"]["insurance_fund_start_usdc"]
    assert by["adl"]["adl_counterparties"] > 0 and by["adl"]["socialised"] == 0 and s["adl"]["deleverages"] > 0
    for case in ("socialised", "socialised-funding", "dilution"):
        assert by[case]["socialised"] > 0 and by[case]["adl_counterparties"] == 0, case
    # the vault, which takes the positions at the mark and sells them into a thin book, loses: bad debt beyond the fund
    for case in ("adl", "socialised", "dilution", "fund-covers-all"):
        assert s[case]["vault_loss_usdc"] > 0 and s[case]["vault_equity_end_usdc"] < 0, case
        assert s[case]["loss_beyond_fund_usdc"] >= s[case]["vault_loss_usdc"], case
    # a fund of 20 % of the open interest pays every deficit: nothing reaches ADL or socialisation
    assert by["fund-covers-all"]["adl_counterparties"] == by["fund-covers-all"]["socialised"] == 0
    assert s["fund-covers-all"]["insurance_fund_draws_usdc"] == s["fund-covers-all"]["bankruptcy_deficit_usdc"]
    # the backstop vault keeps the margin of the accounts it takes over: its income
    assert s["backstop"]["vault_margin_received_usdc"] > 0 and s["backstop"]["vault_income_usdc"] >= s["backstop"]["vault_margin_received_usdc"]


def test_the_fund_is_sized_against_the_open_interest_at_the_open(runs):
    r, _ = runs["adl"]
    s = r.summary
    assert s["fund"]["rule"] == "0.1%oi" and s["fund"]["basis"] == "explicit"
    assert s["insurance_fund_start_usdc"] == s["fund"]["amount_usdc"] == math.floor(0.001 * s["open_interest_usdc"])
    assert s["venue"]["fund"] == "0.1%oi"
    # one side of the open interest: the traders' notional and the maker's, long against short
    assert 0.5 * s["accounts"] * 1_000 < s["open_interest_usdc"]


def test_summary_json_and_the_report_carry_the_vault_and_the_split(runs, tmp_path):
    from ramparts.lab.report import loss_layers, write_report

    r, _ = runs["adl"]
    files = write_report(r, tmp_path)
    doc = json.loads(files["json"].read_text())
    assert doc["vault_loss_usdc"] == doc["bad_debt_by_bearer_usdc"]["backstop_vault"] > 0
    assert doc["layers"]["backstop_vault_loss"] == doc["vault_loss_usdc"]
    assert doc["fund"]["ratio_to_open_interest"] == pytest.approx(0.001, rel=1e-6)
    assert doc["loss_accounting"]["adds_up"] is True
    bars = dict((label, v) for label, v, _ in loss_layers(r))
    assert bars["borne: vault (net)"] == doc["vault_loss_usdc"] and bars["bad debt (total)"] == doc["bad_debt_usdc"]
    html = files["html"].read_text()
    assert "borne: vault (net)" in html and "Loss layers" in html


def test_compare_reports_posted_collateral_gross_draws_and_the_vault(tmp_path):
    from ramparts.lab.compare import BEARERS, FIGURES, run_compare, write_compare_report
    from ramparts.venues.profiles import profile

    t, p = _crash()
    profiles = [profile("ramparts"), profile("binance")]
    table, results = run_compare(t, p, profiles, name="synthetic", population=PopulationSpec(n_accounts=80, seed=4),
                                 liquidity=LiquidityModel(depth=3e5), fund="auto")
    row = table.set_index("venue")
    assert set(FIGURES) <= set(table.columns)
    assert row.loc["binance", "fund_basis"] == "published" and row.loc["ramparts", "fund_basis"] == "assumption"
    for v in ("ramparts", "binance"):
        s = results[v].summary
        # what the traders post (the same on every venue) beside what the venue requires
        assert row.loc[v, "collateral_to_notional_avg"] == s["collateral_to_notional_avg"] > row.loc[v, "initial_margin_rate_avg"]
        # gross draws, not net of penalty income
        assert row.loc[v, "insurance_fund_draws_usdc"] == pytest.approx(
            s["insurance_fund_start_usdc"] - s["insurance_fund_end_usdc"] + s["penalty_income_usdc"], abs=1e-6)
        assert row.loc[v, "vault_loss_usdc"] == s["vault_loss_usdc"] > 0
        assert sum(row.loc[v, f"bad_debt_{b}_usdc"] for b in BEARERS) == pytest.approx(row.loc[v, "bad_debt_usdc"], abs=1e-5)
        assert row.loc[v, "loss_split_adds_up"]
    assert row.loc["ramparts", "collateral_to_notional_avg"] == row.loc["binance", "collateral_to_notional_avg"]
    files = write_compare_report(table, results, profiles, tmp_path, "synthetic")
    doc = json.loads(files["json"].read_text())
    venues = {v["venue"]: v for v in doc["venues"]}
    for v in ("ramparts", "binance"):
        for key in ("vault_loss_usdc", "bad_debt_backstop_vault_usdc", "loss_beyond_fund_usdc", "insurance_fund_draws_usdc",
                    "penalty_income_usdc", "vault_equity_end_usdc", "fund_ratio_to_open_interest", "fund_source"):
            assert key in venues[v], (v, key)
        assert venues[v]["vault_loss_usdc"] == venues[v]["bad_debt_backstop_vault_usdc"] > 0
        assert doc["funds"][v]["amount_usdc"] == venues[v]["insurance_fund_start_usdc"]
    assert doc["bad_debt_by_bearer_usdc"]["binance"]["backstop_vault"] == venues["binance"]["vault_loss_usdc"]
    assert "Insurance fund of each venue" in files["html"].read_text()


def test_stress_rows_and_summary_carry_the_vault_and_the_split():
    from ramparts.lab.stress import BEARERS, StressSpec, run_stress

    spec = StressSpec(scenario="jump", n_paths=2, n_steps=16, seed=2, vol_scale=3.0)
    res = run_stress(spec, population=PopulationSpec(n_accounts=40, seed=2), venue=VenueSpec(fund="1%oi"))
    t, s = res.table, res.summary
    assert t["loss_split_adds_up"].all()
    assert np.allclose(t[[f"bad_debt_{b}_usdc" for b in BEARERS]].sum(axis=1), t["bad_debt_usdc"], atol=1e-5)
    assert s["insurance_fund_start_usdc"] == pytest.approx(t["insurance_fund_start_usdc"].mean())
    assert s["fund_ratio_to_open_interest_mean"] == pytest.approx(0.01, rel=1e-3)
    assert s["vault_loss_usdc"]["mean"] == pytest.approx(t["vault_loss_usdc"].mean())
    assert set(s["bad_debt_by_bearer_mean_usdc"]) == set(BEARERS)
    assert s["p_loss_beyond_fund_and_vault"] == float((t["loss_beyond_fund_and_vault_usdc"] > 0).mean())
    assert np.allclose(t["loss_beyond_fund_and_vault_usdc"], t["adl_counterparty_loss_usdc"] + t["socialised_loss_usdc"], atol=1e-6)


def test_the_fund_breaker_is_relative_to_the_fund_it_guards():
    from ramparts.lab.replay import DEFAULT_BREAKERS, _breaker_rules

    rules = _breaker_rules(DEFAULT_BREAKERS, Decimal("12345678"))
    fund_rule = next(r for r in rules if r["trigger"] == "insurance_low")
    assert fund_rule["threshold"] == 1_234_567_800_000 and "threshold_of_fund" not in fund_rule  # 10 % in base units
    assert rules[0] == DEFAULT_BREAKERS[0]
    with pytest.raises(InvalidInput):
        _breaker_rules([{**DEFAULT_BREAKERS[1], "threshold_of_fund": 2}], Decimal(1))
    # through a replay: a fund of 0.1 % of the open interest falls below a tenth of itself and trips it; 20 % does not
    t, p = _crash()
    trips = {}
    for fund in ("0.1%oi", "20%oi"):
        r = run_replay(t, p, population=PopulationSpec(n_accounts=80, seed=4), liquidity=LiquidityModel(depth=3e5),
                       venue=VenueSpec(fund=fund, breakers=DEFAULT_BREAKERS), verify_replay=False)
        trips[fund] = r.summary["breaker_trips"]
    assert trips["0.1%oi"] == trips["20%oi"] + 1
