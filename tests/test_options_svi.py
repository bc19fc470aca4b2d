"""SVI: recover known raw-SVI parameters from synthetic smiles (exact and noisy), fit the real Deribit
chain snapshot with a small RMSE, the total-variance surface interpolation, the loader leaving the file
untouched, and bad parameters."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from ramparts.errors import DataError, InvalidInput
from ramparts.options.svi import (
    SviParams,
    SviSlice,
    VolSurface,
    chain_path,
    fit_chain,
    fit_svi,
    load_deribit_chain,
    svi_total_variance,
)

KNOWN = [
    SviParams(a=0.04, b=0.4, rho=-0.4, m=0.05, sigma=0.2),
    SviParams(a=0.01, b=0.1, rho=0.3, m=-0.1, sigma=0.5),
    SviParams(a=-0.02, b=0.25, rho=-0.7, m=0.1, sigma=0.3),  # a < 0 but a + bσ√(1−ρ²) > 0
]


@pytest.mark.parametrize("p", KNOWN)
def test_recover_known_parameters(p):
    k = np.linspace(-1.0, 1.0, 41)
    fit = fit_svi(k, p.total_variance(k), T=0.5)
    got = fit.params
    for name in ("a", "b", "rho", "m", "sigma"):
        assert getattr(got, name) == pytest.approx(getattr(p, name), abs=1e-6), name
    assert fit.rmse_w < 1e-10 and fit.n == 41


def test_recover_from_noisy_smile():
    p = KNOWN[0]
    rng = np.random.default_rng(0)
    k = np.linspace(-0.8, 0.8, 60)
    T = 0.25
    vol = np.sqrt(p.total_variance(k) / T) + rng.normal(0, 0.002, k.size)  # 0.2 vol-point noise
    fit = fit_svi(k, vol**2 * T, T=T)
    assert fit.rmse_vol < 0.003
    np.testing.assert_allclose(fit.params.total_variance(k), p.total_variance(k), rtol=0.02)
    assert fit.params.min_variance >= 0


def test_fit_respects_constraints():
    rng = np.random.default_rng(3)
    k = np.linspace(-0.5, 0.5, 15)
    w = np.abs(rng.normal(0.02, 0.01, k.size))  # a smile-less cloud: the fit must stay admissible
    p = fit_svi(k, w).params
    assert p.b >= 0 and abs(p.rho) < 1 and p.sigma > 0 and p.min_variance >= -1e-12


@pytest.mark.parametrize("currency", ["BTC", "ETH"])
def test_fit_real_deribit_chain(currency):
    chain = load_deribit_chain(currency=currency)
    surf = fit_chain(chain)
    assert len(surf.slices) == 12
    rmse = np.array([s.rmse_vol for s in surf.slices])
    T = surf.T
    # beyond a week the smile is fitted to about half a vol point (mark IVs, OTM side)
    assert np.median(rmse[T > 7 / 365]) < 0.005
    assert rmse[T > 7 / 365].max() < 0.012
    # the shortest (hours-to-expiry) slices are noisy but still fitted within a few vol points
    assert rmse.max() < 0.08
    for s in surf.slices:
        assert s.params.min_variance >= -1e-12 and s.params.b >= 0 and abs(s.params.rho) < 1
    # the surface reproduces the quoted OTM vols near the money
    g = chain[(chain.time_to_maturity > 0.1) & (chain.log_moneyness.abs() < 0.2)]
    iv = surf.implied_vol(g.strike.to_numpy(), g.time_to_maturity.to_numpy())
    assert np.median(np.abs(iv - g.implied_volatility.to_numpy())) < 0.005


def test_loader_never_alters_the_file():
    p = chain_path()
    before = hashlib.sha256(p.read_bytes()).hexdigest()
    df = load_deribit_chain()
    df.loc[:, "implied_volatility"] = 0.0  # mutating the frame must not touch the source
    assert hashlib.sha256(p.read_bytes()).hexdigest() == before
    fresh = load_deribit_chain()
    assert len(fresh) == 1304 and fresh.implied_volatility.gt(0).all()
    assert {"log_moneyness", "total_variance", "is_call", "expiry"} <= set(fresh.columns)
    np.testing.assert_allclose(fresh.total_variance, fresh.implied_volatility**2 * fresh.time_to_maturity)
    with pytest.raises(DataError):
        load_deribit_chain("/nonexistent/chain.csv.gz")


def test_surface_interpolates_in_total_variance():
    p1 = SviParams(0.01, 0.1, -0.3, 0.0, 0.2)
    p2 = SviParams(0.04, 0.15, -0.3, 0.0, 0.25)
    surf = VolSurface([SviSlice(0.5, 102.0, p2), SviSlice(0.1, 100.0, p1)])
    k = np.linspace(-0.5, 0.5, 11)
    np.testing.assert_allclose(surf.total_variance(k, 0.1), p1.total_variance(k))
    np.testing.assert_allclose(surf.total_variance(k, 0.3), 0.5 * (p1.total_variance(k) + p2.total_variance(k)))
    # flat implied vol outside the expiry range
    np.testing.assert_allclose(surf.total_variance(k, 0.05) / 0.05, p1.total_variance(k) / 0.1)
    np.testing.assert_allclose(surf.total_variance(k, 1.0) / 1.0, p2.total_variance(k) / 0.5)
    assert surf.forward(0.3) == pytest.approx(101.0)
    iv = surf.implied_vol(100.0, 0.1)
    assert iv == pytest.approx(math.sqrt(p1.total_variance(0.0) / 0.1))
    assert surf.calendar_arbitrage(k).size == 0
    bad = VolSurface([SviSlice(0.1, 100.0, p2), SviSlice(0.5, 100.0, p1)])
    assert bad.calendar_arbitrage(k).size > 0


def test_svi_formula_and_bad_parameters():
    assert svi_total_variance(0.0, 0.01, 0.1, 0.0, 0.0, 0.2) == pytest.approx(0.01 + 0.1 * 0.2)
    assert SviParams(0.0, 0.5, 0.5, 0.0, 0.1).lee_ok() and not SviParams(0.0, 1.8, 0.5, 0.0, 0.1).lee_ok()
    for kwargs in ({"b": -0.1}, {"rho": 1.0}, {"sigma": 0.0}, {"a": -1.0}, {"m": float("nan")}):
        args = {"a": 0.01, "b": 0.1, "rho": 0.0, "m": 0.0, "sigma": 0.2} | kwargs
        with pytest.raises(InvalidInput):
            SviParams(**args)
    with pytest.raises(InvalidInput):
        fit_svi([0.0, 0.1], [0.01, 0.02])
    with pytest.raises(InvalidInput):
        VolSurface([])
