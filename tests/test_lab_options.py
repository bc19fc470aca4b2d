"""The options replay: option books in portfolio and cross sub-accounts through a crash, in the engine."""

from __future__ import annotations

import numpy as np
import pytest

from ramparts.errors import InvalidInput
from ramparts.lab.options_replay import (
    OptionsPopulation,
    _marks,
    _strikes,
    run_options_replay,
    write_options_report,
)
from ramparts.options.black76 import black76_price

HOUR = 3_600 * 10**9


def _crash(n=40):
    t = 1_722_470_400 * 10**9 + np.arange(n, dtype=np.int64) * HOUR  # 2024-08-01: DVOL covers it
    p = 60_000 * np.exp(np.concatenate([np.zeros(10), np.linspace(0, np.log(0.8), 15), np.full(n - 25, np.log(0.8))]))
    return t, p


def test_option_books_through_a_crash_conserve_value_replay_identically_and_portfolio_posts_less():
    t, p = _crash()
    s = run_options_replay(t, p, name="synthetic", population=OptionsPopulation(pairs=24, seed=2))
    assert s["value_conserved"] and s["replay_identical"]
    assert s["accounts_per_mode"] == {"portfolio": 24, "cross": 24}
    assert s["vol_source"].startswith("Deribit BTC DVOL")
    assert s["initial_margin_at_open_usdc"]["portfolio"] < s["initial_margin_at_open_usdc"]["cross"]
    assert sum(s["modes"][m]["liquidation_steps"] for m in s["modes"]) > 0  # a −20 % fall reaches the books
    assert len(s["series"]) == 40 and {"in_breach_portfolio", "in_breach_cross", "vol"} <= set(s["series"].columns)


def test_marks_are_black76_values_on_the_tick_grid_and_strikes_bracket_the_price():
    opts = [("BTC-55000-C", 55_000, "call"), ("BTC-45000-P", 45_000, "put")]
    m = _marks(opts, 50_000.0, 30 / 365, 0.5)
    ref = black76_price(50_000.0, np.array([55_000.0, 45_000.0]), 30 / 365, 0.5, np.array([True, False]))
    assert float(m["BTC-55000-C"]) == pytest.approx(ref[0], abs=0.05) and float(m["BTC-45000-P"]) == pytest.approx(ref[1], abs=0.05)
    assert _strikes(50_000) == [35_000, 40_000, 45_000, 50_000, 55_000, 60_000, 65_000]


def test_a_window_dvol_does_not_cover_uses_the_stated_flat_vol(tmp_path):
    t = 1_584_000_000 * 10**9 + np.arange(6, dtype=np.int64) * HOUR  # March 2020: before DVOL
    p = np.array([8_000.0, 7_900, 7_500, 7_000, 6_500, 6_600])
    s = run_options_replay(t, p, population=OptionsPopulation(pairs=4), vol=0.9)
    assert s["vol_source"].startswith("flat 90%") and np.allclose(s["series"]["vol"], 0.9)
    assert "Portfolio against cross margin" in write_options_report(s, tmp_path)["html"].read_text()


@pytest.mark.parametrize("kw", [{"pairs": 0}, {"notional_to_collateral": (3.0, 1.0)}, {"collateral_median": -1.0}])
def test_population_rejects_bad_values(kw):
    with pytest.raises(InvalidInput):
        OptionsPopulation(**kw)
