"""Margin backtesting statistics: Kupiec, Christoffersen, the Basel traffic light, backtest_margin.

Expected values come from the literature (Jorion's non-rejection table, the Basel 1996 zones) or are
computed here independently: the binomial likelihoods with ``math.log`` / ``math.comb``, the
transition counts of hand-built sequences counted by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ramparts.errors import InvalidInput
from ramparts.lab.backtest import (
    backtest_margin,
    basel_traffic_light,
    christoffersen_conditional_coverage,
    christoffersen_independence,
    exceedances,
    kupiec_pof,
    transition_counts,
)

CHI2_1_95 = 3.841458820694124  # chi-squared(1) 95 % critical value (tables: 3.841)


def _binom_loglik(t: int, x: int, p: float) -> float:
    """log of p^x (1-p)^(T-x), written out with 0·log 0 = 0."""
    out = 0.0
    if x:
        out += x * math.log(p)
    if t - x:
        out += (t - x) * math.log(1 - p)
    return out


# ---------------------------------------------------------------------------------------------- Kupiec


@pytest.mark.parametrize("t,x,cov", [(250, 4, 0.99), (250, 10, 0.99), (500, 40, 0.95), (1000, 3, 0.99),
                                     (255, 0, 0.99), (100, 100, 0.9), (750, 7, 0.99)])
def test_kupiec_matches_the_closed_form_likelihood(t, x, cov):
    p = 1 - cov
    expected = -2 * (_binom_loglik(t, x, p) - _binom_loglik(t, x, x / t))
    lr, pval = kupiec_pof(t, x, cov)
    assert lr == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert pval == pytest.approx(math.erfc(math.sqrt(expected / 2)), rel=1e-9)  # chi2(1) tail = erfc(sqrt(x/2))


def test_kupiec_at_expected_count_is_zero():
    assert kupiec_pof(500, 5, 0.99) == (0.0, 1.0)


def test_kupiec_hand_value():
    # T = 255, x = 0, p = 0.01: LR = -2 · 255 · ln 0.99 = 5.1257 (rejected: too few exceptions)
    lr, pval = kupiec_pof(255, 0, 0.99)
    assert lr == pytest.approx(5.1257, abs=1e-4) and pval < 0.05


# Jorion, Value at Risk (3rd ed.), table 6-3 (after Kupiec 1995): non-rejection regions for the number
# of failures N at the 95 % test confidence level.
JORION = [
    (0.01, 255, 1, 6),    # "N < 7"; N = 0 is (just) rejected by the LR test, LR = 5.13 > 3.84
    (0.01, 510, 2, 10),   # 1 < N < 11
    (0.01, 1000, 5, 16),  # 4 < N < 17
    (0.025, 255, 3, 11),  # 2 < N < 12
    (0.025, 510, 7, 20),  # 6 < N < 21
    (0.025, 1000, 16, 35),  # 15 < N < 36
    (0.05, 255, 7, 20),   # 6 < N < 21
    (0.05, 510, 17, 35),  # 16 < N < 36
    (0.05, 1000, 38, 64),  # 37 < N < 65
    (0.075, 255, 12, 27),  # 11 < N < 28
    (0.10, 255, 17, 35),  # 16 < N < 36
    (0.10, 1000, 82, 119),  # 81 < N < 120
]


@pytest.mark.parametrize("p,t,lo,hi", JORION)
def test_kupiec_reproduces_jorions_non_rejection_regions(p, t, lo, hi):
    accepted = [x for x in range(t + 1) if kupiec_pof(t, x, 1 - p).statistic < CHI2_1_95]
    assert (min(accepted), max(accepted)) == (lo, hi)
    assert accepted == list(range(lo, hi + 1))


def test_kupiec_for_250_days_at_99_percent():
    # the brief's "0 < x < 7" for T = 250: x = 1..6 accepted, 0 and 7 rejected
    assert kupiec_pof(250, 0, 0.99).pvalue < 0.05
    assert all(kupiec_pof(250, x, 0.99).pvalue > 0.05 for x in range(1, 7))
    assert kupiec_pof(250, 7, 0.99).pvalue < 0.05


@pytest.mark.parametrize("args,field", [((0, 0), "n_obs"), ((10, 11), "n_exceed"), ((10, -1), "n_exceed"),
                                        ((10.0, 1), "n_obs"), ((10, 1, 1.0), "coverage"), ((10, 1, 0.0), "coverage")])
def test_kupiec_rejects_bad_arguments(args, field):
    with pytest.raises(InvalidInput, match=field):
        kupiec_pof(*args)


# ---------------------------------------------------------------------------------------------- Christoffersen


def test_christoffersen_on_a_hand_built_sequence():
    hits = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]
    # transitions counted by hand (19 of them):
    # 0->0: (0,1) (4,5) (5,6) (8,9) (13,14) (14,15) (15,16) (16,17) (17,18) = 9
    # 0->1: (1,2) (6,7) (9,10) (18,19) = 4 ; 1->1: (2,3) (10,11) (11,12) = 3 ; 1->0: (3,4) (7,8) (12,13) = 3
    n00, n01, n10, n11 = 9, 4, 3, 3
    assert transition_counts(hits) == (n00, n01, n10, n11)
    pi01, pi11, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / 19
    l_markov = n00 * math.log(1 - pi01) + n01 * math.log(pi01) + n10 * math.log(1 - pi11) + n11 * math.log(pi11)
    l_iid = (n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)
    lr, pval = christoffersen_independence(hits)
    assert lr == pytest.approx(-2 * (l_iid - l_markov), rel=1e-12)
    assert pval == pytest.approx(math.erfc(math.sqrt(lr / 2)), rel=1e-9)
    # the conditional-coverage statistic at p = 0.05, written out, and its decomposition
    p = 0.05
    l_p = (n00 + n10) * math.log(1 - p) + (n01 + n11) * math.log(p)
    cc, cc_p = christoffersen_conditional_coverage(hits, 0.95)
    assert cc == pytest.approx(-2 * (l_p - l_markov), rel=1e-12)
    assert cc_p == pytest.approx(math.exp(-cc / 2), rel=1e-9)  # chi2(2) tail = exp(-x/2)
    assert cc == pytest.approx(kupiec_pof(19, 7, 0.95).statistic + lr, rel=1e-12)  # 7 hits in hits[1:]


def test_christoffersen_isolated_hits_and_edge_cases():
    # no hit ever follows a hit: n11 = 0, so the pi11 term is 0·log 0 + n10·log 1 = 0
    hits = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    n00, n01, n10, n11 = transition_counts(hits)
    assert (n00, n01, n10, n11) == (5, 2, 2, 0)
    pi01, pi = 2 / 7, 2 / 9
    expected = -2 * ((7 * math.log(1 - pi) + 2 * math.log(pi)) - (5 * math.log(1 - pi01) + 2 * math.log(pi01)))
    assert christoffersen_independence(hits).statistic == pytest.approx(expected, rel=1e-12)
    assert christoffersen_independence([0] * 50) == (0.0, 1.0)
    assert christoffersen_independence([True] * 5) == (0.0, 1.0)
    with pytest.raises(InvalidInput, match="hits"):
        christoffersen_independence([1])
    with pytest.raises(InvalidInput, match="hits"):
        christoffersen_independence([0, 2, 1])


def test_clustered_hits_are_rejected_and_scattered_ones_are_not():
    clustered = np.zeros(500, dtype=bool)
    clustered[100:105] = clustered[300:305] = True  # 10 hits in two runs
    assert christoffersen_independence(clustered).pvalue < 1e-4
    scattered = np.zeros(500, dtype=bool)
    scattered[::50] = True  # 10 hits, evenly apart
    assert christoffersen_independence(scattered).pvalue > 0.3


# ---------------------------------------------------------------------------------------------- Basel


@pytest.mark.parametrize("x,zone", [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red"), (25, "red")])
def test_basel_zones_for_250_days(x, zone):
    assert basel_traffic_light(x) == zone
    assert basel_traffic_light(x, 250, 0.99) == zone


def _zone_bounds(t: int, p: float) -> tuple[int, int]:
    """First yellow and first red count, from the binomial pmf summed with math.comb."""
    cdf, yellow, red = 0.0, None, None
    for k in range(t + 1):
        cdf += math.comb(t, k) * p**k * (1 - p) ** (t - k)
        if yellow is None and cdf >= 0.95:
            yellow = k
        if red is None and cdf >= 0.9999:
            red = k
            break
    return yellow, red


@pytest.mark.parametrize("t,cov", [(500, 0.99), (1000, 0.99), (250, 0.975), (100, 0.95)])
def test_basel_zones_generalise(t, cov):
    yellow, red = _zone_bounds(t, 1 - cov)
    assert basel_traffic_light(yellow - 1, t, cov) == "green"
    assert basel_traffic_light(yellow, t, cov) == "yellow"
    assert basel_traffic_light(red - 1, t, cov) == "yellow"
    assert basel_traffic_light(red, t, cov) == "red"


def test_basel_rejects_bad_counts():
    with pytest.raises(InvalidInput):
        basel_traffic_light(251)
    with pytest.raises(InvalidInput):
        basel_traffic_light(-1)


# ---------------------------------------------------------------------------------------------- backtest_margin


def test_exceedances():
    assert exceedances([0.01, 0.05, 0.06, -0.1], 0.05).tolist() == [False, False, True, False]
    assert exceedances([0.01, 0.05], [0.0, 0.1]).tolist() == [True, False]
    with pytest.raises(InvalidInput):
        exceedances([np.nan], 0.05)
    with pytest.raises(InvalidInput):
        exceedances([0.1], -0.05)
    with pytest.raises(InvalidInput):
        exceedances([0.1, 0.2], [0.1, 0.2, 0.3])


def test_backtest_margin_on_a_hand_built_path():
    prices = [100.0, 90.0, 99.0, 110.0, 99.0]
    bt = backtest_margin(prices, 0.05, horizon=1, coverage=0.99)
    # long losses 1 - P1/P0: 0.10, -0.10, -0.1111, 0.10 ; short losses are the opposite moves
    assert bt.long.losses == pytest.approx([0.10, -0.10, -1 / 9, 0.10])
    assert bt.short.losses == pytest.approx([-0.10, 0.10, 1 / 9, -0.10])
    assert bt.long.hits.tolist() == [True, False, False, True]
    assert bt.short.hits.tolist() == [False, True, True, False]
    assert bt.long.n_obs == 4 and bt.long.n_exceed == 2 and bt.long.exceed_rate == 0.5
    assert bt.long.kupiec == kupiec_pof(4, 2, 0.99)
    assert bt.short.independence == christoffersen_independence([0, 1, 1, 0])
    assert bt.long.traffic_light == basel_traffic_light(2, 4, 0.99)
    # horizon 2, non-overlapping: windows 0->2 and 2->4
    h2 = backtest_margin(prices, 0.05, horizon=2)
    assert h2.start_index.tolist() == [0, 2] and h2.long.losses == pytest.approx([0.01, 0.0])
    # overlapping: windows start at 0, 1, 2
    assert backtest_margin(prices, 0.05, horizon=2, overlapping=True).long.losses == pytest.approx([0.01, -0.2222222, 0.0])
    # worst point inside the horizon: min(90, 99)/100 for the long, max(110, 99)/99 for the short
    worst = backtest_margin(prices, 0.05, horizon=2, worst_within_horizon=True)
    assert worst.long.losses == pytest.approx([0.10, 0.0]) and worst.short.losses == pytest.approx([-0.01, 1 / 9])
    s = worst.summary()
    assert s["long"]["n_exceed"] == 1 and s["short"]["n_exceed"] == 1 and s["horizon"] == 2


def test_requirement_callable_sees_only_the_past():
    prices = np.array([100.0, 101.0, 99.0, 102.0, 98.0, 103.0])
    seen = []

    def model(history):
        seen.append(len(history))
        return 0.02 * len(history)

    bt = backtest_margin(prices, model, horizon=1)
    assert seen == [1, 2, 3, 4, 5]
    assert bt.long.requirements == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.10])
    arr = backtest_margin(prices, np.arange(6) / 100.0, horizon=2)
    assert arr.long.requirements.tolist() == [0.0, 0.02]
    with pytest.raises(InvalidInput, match="requirement"):
        backtest_margin(prices, np.ones(3))
    with pytest.raises(InvalidInput, match="requirement"):
        backtest_margin(prices, lambda h: -1.0)
    with pytest.raises(InvalidInput, match="horizon"):
        backtest_margin(prices, 0.05, horizon=6)
    with pytest.raises(InvalidInput, match="prices"):
        backtest_margin([100.0, -1.0, 2.0], 0.05)


def test_a_correct_requirement_passes_and_a_thin_one_fails():
    sigma, n = 0.02, 20_000
    r = np.random.default_rng(11).normal(0.0, sigma, n)
    prices = 100 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    # a long loses more than q exactly when r < ln(1 - q): q at the 1 % quantile of r has P(hit) = 1 %
    q99 = 1 - math.exp(sigma * stats.norm.ppf(0.01))
    good = backtest_margin(prices, q99, horizon=1, coverage=0.99)
    assert abs(good.long.exceed_rate - 0.01) < 4 * math.sqrt(0.01 * 0.99 / n)
    assert good.long.kupiec.pvalue > 0.001 and good.long.independence.pvalue > 0.001
    q95 = 1 - math.exp(sigma * stats.norm.ppf(0.05))  # only a 95 % requirement, claimed as 99 %
    thin = backtest_margin(prices, q95, horizon=1, coverage=0.99)
    assert thin.long.kupiec.pvalue < 1e-12 and thin.long.traffic_light == "red"


def test_volatility_clustering_breaks_independence():
    # calm and wild regimes alternate in blocks of 250: a constant requirement is hit in clusters
    rng = np.random.default_rng(5)
    vol = np.tile(np.repeat([0.01, 0.04], 250), 8)
    prices = 100 * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0, 1, len(vol)) * vol)]))
    bt = backtest_margin(prices, 0.05, horizon=1)
    assert bt.long.n_exceed > 20
    assert bt.long.independence.pvalue < 1e-3 and bt.long.conditional_coverage.pvalue < 1e-3
