"""Fat tails and synthetic paths: GPD fits and risk measures, Merton, GARCH-t, GPD shocks, scaled history.

Reference values are independent of the code under test: exact GPD quantiles and numerically
integrated expected shortfalls from scipy, Merton's analytic moments, ``arch``'s own simulator, and
the BTC history of the shared data folder.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from ramparts.data import data_path
from ramparts.errors import InvalidInput
from ramparts.lab.history import Candles, load_candles
from ramparts.lab.paths import PricePath
from ramparts.lab.tails import (
    GarchTParams,
    GPDTail,
    fit_garch_t,
    fit_gpd_tail,
    garch_t_paths,
    gpd_shock_paths,
    gpd_var_es,
    jump_diffusion,
    prices_from_log_returns,
    scaled_historical_shock,
)

# ---------------------------------------------------------------------------------------------- GPD


def test_gpd_shape_is_recovered_from_20k_draws():
    xi, beta = 0.3, 0.02
    losses = stats.genpareto.rvs(xi, scale=beta, size=20_000, random_state=np.random.default_rng(42))
    fit = fit_gpd_tail(-losses, threshold_quantile=0.5, side="loss")  # returns = -losses
    assert fit.n_obs == 20_000 and fit.n_exceed == 10_000
    # standard error of xi is about (1 + xi) / sqrt(N_u) = 0.013
    assert abs(fit.xi - xi) < 0.05
    # exceedances of a GPD over u are GPD(xi, beta + xi u) (threshold stability)
    assert fit.scale == pytest.approx(beta + xi * fit.threshold, rel=0.08)
    assert fit.threshold == pytest.approx(stats.genpareto.ppf(0.5, xi, scale=beta), rel=0.05)
    gain = fit_gpd_tail(losses, threshold_quantile=0.5, side="gain")
    assert gain.xi == pytest.approx(fit.xi) and gain.side == "gain"


def _population_fit(xi: float, beta: float, n: int = 1000, n_u: int = 50) -> GPDTail:
    """The exact tail of X ~ GPD(xi, beta) above its (1 - n_u/n) quantile, as a GPDTail."""
    u = float(stats.genpareto.isf(n_u / n, xi, scale=beta))
    return GPDTail(xi=xi, scale=beta + xi * u, threshold=u, n_exceed=n_u, n_obs=n)


@pytest.mark.parametrize("xi", [0.3, 0.0, -0.2, 0.6])
@pytest.mark.parametrize("q", [0.99, 0.999])
def test_mcneil_frey_var_es_are_exact_for_a_gpd_population(xi, q):
    beta = 0.02
    fit = _population_fit(xi, beta)
    var, es = gpd_var_es(fit, None, q)
    true_var = float(stats.genpareto.ppf(q, xi, scale=beta))
    # ES_q = (1/(1-q)) ∫_q^1 VaR_s ds, integrated numerically
    true_es = integrate.quad(lambda s: stats.genpareto.ppf(s, xi, scale=beta), q, 1, limit=200)[0] / (1 - q)
    assert var == pytest.approx(true_var, rel=1e-9)
    assert es == pytest.approx(true_es, rel=1e-6)


def test_gpd_var_es_arguments():
    fit = _population_fit(0.3, 0.02)
    assert gpd_var_es(fit, 1000, 0.99) == gpd_var_es(fit, None, 0.99)
    # with twice the sample the same N_u is a rarer event: the quantile at q sits closer to u
    assert gpd_var_es(fit, 2000, 0.99).var < gpd_var_es(fit, 1000, 0.99).var
    with pytest.raises(InvalidInput, match="beyond the threshold"):
        gpd_var_es(fit, None, 0.9)  # 1 - q = 0.1 > N_u / n = 0.05
    with pytest.raises(InvalidInput, match="infinite"):
        gpd_var_es(GPDTail(1.2, 0.01, 0.05, 50, 1000), None, 0.99)
    with pytest.raises(InvalidInput, match="n"):
        gpd_var_es(fit, 10, 0.99)


def test_fit_gpd_tail_rejects_bad_input():
    r = np.random.default_rng(0).normal(size=100)
    with pytest.raises(InvalidInput, match="at least 10"):
        fit_gpd_tail(r, 0.95)  # 5 exceedances
    with pytest.raises(InvalidInput, match="finite"):
        fit_gpd_tail(np.r_[r, np.nan], 0.5)
    with pytest.raises(InvalidInput, match="side"):
        fit_gpd_tail(r, 0.5, side="left")
    with pytest.raises(InvalidInput, match="threshold_quantile"):
        fit_gpd_tail(r, 1.0)


def test_btc_daily_loss_tail_is_fat():
    bars = load_candles(data_path("daily/yahoo_finance_crypto_daily_2014-2025.csv.gz"), symbol="BTC-USD")
    r = np.diff(np.log(bars.close))
    fit = fit_gpd_tail(r, 0.95, side="loss")
    assert fit.xi > 0
    # stronger: the GPD beats the exponential tail (xi = 0) in a likelihood-ratio test
    y = -r[-r > fit.threshold] - fit.threshold
    ll_gpd = stats.genpareto.logpdf(y, fit.xi, scale=fit.scale).sum()
    ll_exp = stats.expon.logpdf(y, scale=y.mean()).sum()  # the exponential MLE scale is the mean
    assert stats.chi2.sf(2 * (ll_gpd - ll_exp), 1) < 0.01
    # and the fitted 99 % VaR is close to the empirical quantile of the 3,800 daily losses
    assert gpd_var_es(fit, None, 0.99).var == pytest.approx(np.quantile(-r, 0.99), rel=0.1)


# ---------------------------------------------------------------------------------------------- Merton


@pytest.mark.parametrize("mu,sigma,lam,m,d,dt", [(0.1, 0.5, 20.0, -0.05, 0.08, 1 / 365),
                                                 (0.0, 0.3, 50.0, -0.02, 0.3, 1 / 365)])
def test_jump_diffusion_moments_match_merton(mu, sigma, lam, m, d, dt):
    r = jump_diffusion(200_000, 1, 3, mu=mu, sigma=sigma, lam=lam, jump_mean=m, jump_std=d, dt=dt).ravel()
    kappa = math.exp(m + d * d / 2) - 1
    mean = (mu - sigma**2 / 2 - lam * kappa) * dt + lam * dt * m
    var = sigma**2 * dt + lam * dt * (d * d + m * m)
    n = len(r)
    assert abs(r.mean() - mean) < 4 * math.sqrt(var / n)
    assert r.var() == pytest.approx(var, rel=0.02)
    # the compensated drift makes E[S_{t+dt} / S_t] = exp(mu dt)
    growth = np.exp(r)
    assert abs(growth.mean() - math.exp(mu * dt)) < 4 * growth.std() / math.sqrt(n)
    # jumps make the step distribution fat-tailed (excess kurtosis > 0) and skewed like the jumps
    assert stats.kurtosis(r) > 1.0 and stats.skew(r) < 0


def test_jump_diffusion_without_jumps_is_gbm():
    r = jump_diffusion(100_000, 2, 9, mu=0.0, sigma=0.8, lam=0.0, jump_mean=-0.2, jump_std=0.1, dt=1 / 365)
    assert r.shape == (2, 100_000)
    assert r.var() == pytest.approx(0.64 / 365, rel=0.02) and abs(stats.kurtosis(r.ravel())) < 0.05


# ---------------------------------------------------------------------------------------------- GARCH


P = GarchTParams(mu=0.0005, omega=2e-5, alpha=0.08, beta=0.9, nu=5.0)


def test_numpy_engine_reproduces_arch_simulate_draw_for_draw():
    a = garch_t_paths(300, 4, 7, params=P, engine="arch", burn=100)
    b = garch_t_paths(300, 4, 7, params=P, engine="numpy", burn=100)
    assert a.shape == (4, 300)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_garch_fit_recovers_persistence():
    x = garch_t_paths(5000, 1, 1, params=P)[0]
    fit = fit_garch_t(x)
    assert abs(fit.persistence - P.persistence) < 0.02
    assert abs(fit.alpha - P.alpha) < 0.04
    assert fit.unconditional_variance == pytest.approx(P.unconditional_variance, rel=0.35)
    assert 3.0 < fit.nu < 9.0
    # and the simulated sample itself has the model's variance and fat tails
    assert x.var() == pytest.approx(P.unconditional_variance, rel=0.25) and stats.kurtosis(x) > 1


def test_garch_paths_from_returns_fit_first():
    hist = garch_t_paths(2000, 1, 2, params=P)[0]
    sim = garch_t_paths(100, 3, 5, returns=hist)
    assert sim.shape == (3, 100) and np.all(np.isfinite(sim))
    with pytest.raises(InvalidInput, match="exactly one"):
        garch_t_paths(10, 1, 0)
    with pytest.raises(InvalidInput, match="exactly one"):
        garch_t_paths(10, 1, 0, params=P, returns=hist)


def test_garch_params_are_validated():
    with pytest.raises(InvalidInput, match="alpha \\+ beta"):
        GarchTParams(0.0, 1e-5, 0.2, 0.8, 5.0)
    with pytest.raises(InvalidInput, match="nu"):
        GarchTParams(0.0, 1e-5, 0.1, 0.8, 2.0)
    with pytest.raises(InvalidInput, match="omega"):
        GarchTParams(0.0, 0.0, 0.1, 0.8, 5.0)


# ---------------------------------------------------------------------------------------------- GPD shocks


def test_gpd_shock_paths_follow_the_fitted_tail():
    fit = GPDTail(xi=0.3, scale=0.02, threshold=0.05, n_exceed=50, n_obs=1000, side="loss")
    r = gpd_shock_paths(fit, 20_000, 2, 4)
    assert r.shape == (2, 20_000)
    shocks = r[r != 0]
    n = r.size
    assert abs(len(shocks) / n - 0.05) < 4 * math.sqrt(0.05 * 0.95 / n)  # default rate N_u / n
    assert np.all(shocks <= -fit.threshold)
    refit = stats.genpareto.fit(-shocks - fit.threshold, floc=0)
    assert abs(refit[0] - 0.3) < 0.05 and refit[2] == pytest.approx(0.02, rel=0.1)
    up = gpd_shock_paths(replace_side(fit, "gain"), 1000, 1, 4, shock_prob=1.0)
    assert np.all(up >= fit.threshold)
    body = gpd_shock_paths(fit, 50_000, 1, 4, shock_prob=0.0, body_sigma=0.01, drift=0.001)
    assert body.std() == pytest.approx(0.01, rel=0.02) and body.mean() == pytest.approx(0.001, abs=2e-4)


def replace_side(fit: GPDTail, side: str) -> GPDTail:
    return GPDTail(fit.xi, fit.scale, fit.threshold, fit.n_exceed, fit.n_obs, side)


# ---------------------------------------------------------------------------------------------- determinism


GENERATORS = {
    "jump": lambda seed: jump_diffusion(200, 3, seed, sigma=0.6, lam=10, jump_mean=-0.05, jump_std=0.1),
    "garch": lambda seed: garch_t_paths(200, 3, seed, params=P),
    "gpd": lambda seed: gpd_shock_paths(GPDTail(0.3, 0.02, 0.05, 50, 1000), 200, 3, seed, body_sigma=0.01),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic(name):
    gen = GENERATORS[name]
    a, b, c = gen(123), gen(123), gen(124)
    assert a.shape == (3, 200) and np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, None])
def test_seeds_must_be_non_negative_ints(seed):
    with pytest.raises(InvalidInput, match="seed"):
        jump_diffusion(10, 1, seed, sigma=0.5, lam=1, jump_mean=0, jump_std=0.1)


def test_prices_from_log_returns():
    r = np.log([[1.1, 0.5], [1.0, 2.0]])
    np.testing.assert_allclose(prices_from_log_returns(100, r), [[100, 110, 55], [100, 100, 200]])
    with pytest.raises(InvalidInput):
        prices_from_log_returns(0, r)


# ---------------------------------------------------------------------------------------------- scaled history


def test_scaled_historical_shock_on_arrays_paths_and_candles():
    prices = np.array([100.0, 70.0, 85.0, 120.0])
    np.testing.assert_allclose(scaled_historical_shock(prices, 1.0), prices)
    # scale 2: each price relative to the start is squared (a 30 % fall becomes 51 %)
    np.testing.assert_allclose(scaled_historical_shock(prices, 2.0), [100, 49, 72.25, 144])
    np.testing.assert_allclose(scaled_historical_shock(prices, 0.0), [100] * 4)
    path = PricePath(np.arange(4) * 10**9, prices, symbol="X")
    scaled = scaled_historical_shock(path, 2.0)
    assert isinstance(scaled, PricePath) and scaled.symbol == "X"
    np.testing.assert_allclose(scaled.price, [100, 49, 72.25, 144])
    bars = Candles(np.arange(2) * 60 * 10**9, np.array([100.0, 90.0]), np.array([110.0, 95.0]),
                   np.array([80.0, 85.0]), np.array([90.0, 95.0]), np.ones(2), 60 * 10**9)
    sb = scaled_historical_shock(bars, 2.0)
    np.testing.assert_allclose(sb.low, [64.0, 72.25])
    np.testing.assert_allclose(sb.high, [121.0, 90.25])
    np.testing.assert_allclose(sb.close, [81.0, 90.25])
    assert np.all(sb.low <= np.minimum(sb.open, sb.close)) and np.all(sb.high >= np.maximum(sb.open, sb.close))
    with pytest.raises(InvalidInput, match="scale"):
        scaled_historical_shock(prices, -1.0)
    with pytest.raises(InvalidInput, match="path"):
        scaled_historical_shock(np.array([100.0, 0.0]), 2.0)


def test_scaled_black_thursday():
    bars = load_candles(data_path("crash_windows/2020-03-12_black_thursday.csv.gz"), source_id="bn_usdm_BTC_1h_mooneyes")
    worse = scaled_historical_shock(bars, 1.5)
    drawdown = bars.low.min() / bars.open[0]
    assert worse.low.min() / worse.open[0] == pytest.approx(drawdown**1.5)
