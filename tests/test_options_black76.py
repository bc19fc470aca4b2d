"""Black-76: prices and every Greek against QuantLib and py_vollib (vollib) to 1e-8 relative, inverse
(coin-settled) Greeks against Richardson finite differences, put–call parity (linear, inverse and on the
real Deribit chain), the implied-volatility round trip and bad input.

Reference conventions (rescaled here): vollib's ``theta`` is per day and its ``vega`` per vol point;
QuantLib's ``BlackCalculator.volga(T)`` is the derivative with respect to the *total* volatility
``σ√T`` once (``volga_QL = vega·d1·d2/(σ√T)``), i.e. ``volga = volga_QL·√T`` — checked against a
finite difference of QuantLib's own vega below; its ``vanna(spot, T)`` with ``spot = F`` is ``∂²V/∂F∂σ``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ramparts.data import data_path
from ramparts.errors import InvalidInput
from ramparts.options.black76 import black76_greeks, black76_price, implied_vol

ql = pytest.importorskip("QuantLib")
vb = pytest.importorskip("vollib.black")
va = pytest.importorskip("vollib.black.greeks.analytical")
vi = pytest.importorskip("vollib.black.implied_volatility")

CHAIN = data_path("options/deribit_options_snapshot_20251230T173115Z.csv.gz")

RTOL = 1e-8


def _grid():
    """A grid of (F, K, T, sigma, r, is_call) with prices well above round-off (|ln K/F| ≤ 2.5 sd)."""
    cases = []
    for F in (100.0, 88_530.0):
        for m in (0.6, 0.8, 0.95, 1.0, 1.07, 1.3, 1.8):
            for T in (2 / 365, 0.1, 0.5, 2.0):
                for sigma in (0.15, 0.6, 1.2):
                    for r in (0.0, 0.05):
                        for call in (True, False):
                            if abs(math.log(m)) > 2.5 * sigma * math.sqrt(T):
                                continue
                            cases.append((F, F * m, T, sigma, r, call))
    return cases


GRID = _grid()
F_, K_, T_, S_, R_, C_ = (np.array(col) for col in zip(*GRID, strict=True))


def _ql(F, K, T, s, r, call):
    typ = ql.Option.Call if call else ql.Option.Put
    return ql.BlackCalculator(ql.PlainVanillaPayoff(typ, K), F, s * math.sqrt(T), math.exp(-r * T))


def _close(a, b, scale, rtol=RTOL):
    """``|a − b| ≤ rtol·max(|b|, 1e-6·scale)``: relative, with a floor where a Greek crosses zero."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) <= rtol * np.maximum(np.abs(b), 1e-6 * np.asarray(scale))


def test_grid_is_large():
    assert len(GRID) > 300


def test_prices_and_greeks_match_quantlib():
    g = black76_greeks(F_, K_, T_, S_, C_, R_)
    ref = {k: [] for k in ("price", "delta", "gamma", "vega", "vanna", "volga", "theta")}
    for F, K, T, s, r, c in GRID:
        b = _ql(F, K, T, s, r, c)
        ref["price"].append(b.value())
        ref["delta"].append(b.deltaForward())
        ref["gamma"].append(b.gammaForward())
        ref["vega"].append(b.vega(T))
        ref["vanna"].append(b.vanna(F, T))
        ref["volga"].append(b.volga(T) * math.sqrt(T))
        ref["theta"].append(b.theta(F, T))  # spot = forward, no carry: = ∂V/∂t
    scale = {"price": F_, "delta": 1.0, "gamma": 1.0 / F_, "vega": F_, "vanna": 1.0, "volga": F_, "theta": F_}
    for name, values in ref.items():
        ok = _close(getattr(g, name), values, scale[name])
        assert ok.all(), (name, [GRID[i] for i in np.flatnonzero(~ok)[:3]])


def test_prices_and_greeks_match_vollib():
    g = black76_greeks(F_, K_, T_, S_, C_, R_)
    for i, (F, K, T, s, r, c) in enumerate(GRID):
        flag = "c" if c else "p"
        assert _close(g.price[i], vb.black(flag, F, K, T, r, s), F)
        assert _close(g.delta[i], va.delta(flag, F, K, T, r, s), 1.0)
        assert _close(g.gamma[i], va.gamma(flag, F, K, T, r, s), 1.0 / F)
        assert _close(g.vega[i] / 100.0, va.vega(flag, F, K, T, r, s), F)
        assert _close(g.theta[i] / 365.0, va.theta(flag, F, K, T, r, s), F)


def test_volga_quantlib_convention_by_finite_difference():
    """Our volga is ∂vega/∂σ: check on QuantLib's vega by a 4th-order central difference."""
    F, K, T, s, r = 49.0, 50.0, 0.3846, 0.2, 0.05
    h = 1e-4

    def vega(sig):
        return _ql(F, K, T, sig, r, True).vega(T)

    fd = (8 * (vega(s + h) - vega(s - h)) - (vega(s + 2 * h) - vega(s - 2 * h))) / (12 * h)
    assert black76_greeks(F, K, T, s, True, r).volga == pytest.approx(fd, rel=1e-9)


def _richardson(fun, x, h):
    return (8 * (fun(x + h) - fun(x - h)) - (fun(x + 2 * h) - fun(x - 2 * h))) / (12 * h)


@pytest.mark.parametrize("call", [True, False])
@pytest.mark.parametrize("K", [70_000.0, 88_000.0, 110_000.0])
def test_inverse_greeks_are_derivatives_of_the_coin_price(call, K):
    F, T, s, r = 88_530.0, 0.25, 0.55, 0.0
    g = black76_greeks(F, K, T, s, call, r, inverse=True)
    ref_price = _ql(F, K, T, s, r, call).value() / F
    assert g.price == pytest.approx(ref_price, rel=RTOL)

    def p(f=F, sig=s, t=T):
        return black76_price(f, K, t, sig, call, r, inverse=True)

    hF, hs = F * 1e-3, 1e-3
    assert g.delta == pytest.approx(_richardson(lambda f: p(f=f), F, hF), rel=1e-7)
    assert g.vega == pytest.approx(_richardson(lambda v: p(sig=v), s, hs), rel=1e-7)
    assert g.theta == pytest.approx(-_richardson(lambda t: p(t=t), T, 1e-4), rel=1e-7)
    delta_i = lambda f: black76_greeks(f, K, T, s, call, r, inverse=True).delta  # noqa: E731
    vega_i = lambda v: black76_greeks(F, K, T, v, call, r, inverse=True).vega  # noqa: E731
    assert g.gamma == pytest.approx(_richardson(delta_i, F, hF), rel=1e-6)
    assert g.vanna == pytest.approx(_richardson(lambda v: black76_greeks(F, K, T, v, call, r, inverse=True).delta, s, hs), rel=1e-6)
    assert g.volga == pytest.approx(_richardson(vega_i, s, hs), rel=1e-6)


def test_put_call_parity_linear_and_inverse():
    F, K = F_, K_
    c = black76_price(F, K, T_, S_, True, R_)
    p = black76_price(F, K, T_, S_, False, R_)
    disc = np.exp(-R_ * T_)
    assert (np.abs((c - p) - disc * (F - K)) <= 1e-10 * F).all()
    ci = black76_price(F, K, T_, S_, True, R_, inverse=True)
    pi = black76_price(F, K, T_, S_, False, R_, inverse=True)
    np.testing.assert_allclose(ci - pi, disc * (F - K) / F, rtol=0, atol=1e-12)
    gc = black76_greeks(F, K, T_, S_, True, R_)
    gp = black76_greeks(F, K, T_, S_, False, R_)
    np.testing.assert_allclose(gc.delta - gp.delta, disc, atol=1e-14)
    for name in ("gamma", "vega", "vanna", "volga"):
        np.testing.assert_allclose(getattr(gc, name), getattr(gp, name), rtol=1e-12, atol=1e-300)


def test_deribit_chain_prices_and_parity():
    """The snapshot's mark prices are Black-76 / F at its implied vols (inverse options), its delta
    column is the linear Black delta, and inverse parity C − P = (F − K)/F holds on the quotes."""
    import pandas as pd

    d = pd.read_csv(CHAIN)
    d = d[(d.mark_price > 1e-4) & (d.time_to_maturity > 7 / 365)]
    args = (d.futures_price.to_numpy(), d.strike.to_numpy(), d.time_to_maturity.to_numpy(),
            d.implied_volatility.to_numpy(), d.option_type.to_numpy())
    price = black76_price(*args, inverse=True)
    # marks are published to ~4 significant digits and IVs to 4 decimals
    np.testing.assert_allclose(price, d.mark_price.to_numpy(), rtol=2e-3, atol=2e-5)
    delta = black76_greeks(*args).delta
    np.testing.assert_allclose(delta, d.delta.to_numpy(), atol=7e-3)
    # the IV inverted from the (rounded) mark agrees where vega is not tiny: 5 % < |delta| < 95 %
    live = d.delta.abs().between(0.05, 0.95).to_numpy()
    iv = implied_vol(d.mark_price.to_numpy()[live], *(a[live] for a in args[:3]), args[4][live], inverse=True)
    assert live.sum() > 500
    np.testing.assert_allclose(iv, d.implied_volatility.to_numpy()[live], atol=2e-3)
    d = d.assign(key=d.instrument_name.str.rsplit("-", n=1).str[0])
    calls = d[d.option_type == "call"]
    puts = d[d.option_type == "put"][["key", "mark_price"]]
    both = calls.merge(puts, on="key", suffixes=("", "_p"))
    lhs = both.mark_price - both.mark_price_p
    rhs = (both.futures_price - both.strike) / both.futures_price
    assert len(both) > 100
    np.testing.assert_allclose(lhs, rhs, atol=3e-4)


def test_implied_vol_round_trip_and_vs_vollib():
    prices = black76_price(F_, K_, T_, S_, C_, R_)
    iv = implied_vol(prices, F_, K_, T_, C_, R_)
    np.testing.assert_allclose(iv, S_, rtol=1e-8)
    for i in range(0, len(GRID), 7):
        F, K, T, s, r, c = GRID[i]
        ref = vi.implied_volatility(float(prices[i]), F, K, r, T, "c" if c else "p")
        assert iv[i] == pytest.approx(ref, rel=1e-8)
    iv_inv = implied_vol(prices / F_, F_, K_, T_, C_, R_, inverse=True)
    np.testing.assert_allclose(iv_inv, S_, rtol=1e-8)


def test_implied_vol_extremes_converge():
    F, T = 100.0, 1.0
    K = np.array([20.0, 50.0, 100.0, 200.0, 500.0])
    for sigma in (0.01, 0.3, 3.0, 6.0):
        p = black76_price(F, K, T, sigma, True)
        keep = p - np.maximum(F - K, 0.0) > 1e-6 * F  # time value above round-off
        iv = implied_vol(p[keep], F, K[keep], T, True)
        np.testing.assert_allclose(iv, sigma, rtol=1e-6)
    assert implied_vol(max(F - 80.0, 0.0), F, 80.0, 1.0, True) == 0.0  # exactly intrinsic


def test_expiry_and_zero_vol_limits():
    g = black76_greeks([90.0, 100.0, 110.0], 100.0, 0.0, 0.5, True)
    np.testing.assert_array_equal(g.price, [0.0, 0.0, 10.0])
    np.testing.assert_array_equal(g.delta, [0.0, 0.5, 1.0])
    for name in ("gamma", "vega", "vanna", "volga", "theta"):
        np.testing.assert_array_equal(getattr(g, name), 0.0)
    assert black76_price(110.0, 100.0, 1.0, 0.0, False) == 0.0
    assert black76_price(90.0, 100.0, 1.0, 0.0, "put") == pytest.approx(10.0)


def test_broadcasting_and_scalar_output():
    p = black76_price(100.0, np.array([[90.0], [110.0]]), np.array([0.1, 0.5, 1.0]), 0.5, ["call", "put", "c"])
    assert p.shape == (2, 3)
    s = black76_price(100.0, 100.0, 1.0, 0.2, True)
    assert np.ndim(s) == 0 and s == pytest.approx(7.965567455405804, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"F": float("nan")}, "F"),
        ({"F": -1.0}, "F"),
        ({"K": 0.0}, "K"),
        ({"T": -0.1}, "T"),
        ({"sigma": -0.2}, "sigma"),
        ({"sigma": float("inf")}, "sigma"),
        ({"is_call": "straddle"}, "is_call"),
        ({"K": [1.0, 2.0, 3.0], "T": [1.0, 2.0]}, "shape"),
        ({"F": "abc"}, "F"),
    ],
)
def test_bad_input_price(kwargs, field):
    args = {"F": 100.0, "K": 100.0, "T": 1.0, "sigma": 0.2, "is_call": True}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as exc:
        black76_price(**args)
    assert exc.value.field == field


@pytest.mark.parametrize(
    "price, K, call, T, field",
    [
        (float("nan"), 100.0, True, 1.0, "price"),
        (-0.5, 100.0, True, 1.0, "price"),
        (100.0, 100.0, True, 1.0, "price"),  # = F: upper bound of a call
        (150.0, 120.0, False, 1.0, "price"),  # > K: upper bound of a put
        (19.0, 80.0, True, 1.0, "price"),  # below intrinsic 20
        (5.0, 100.0, True, 0.0, "T"),
    ],
)
def test_bad_input_implied_vol(price, K, call, T, field):
    with pytest.raises(InvalidInput) as exc:
        implied_vol(price, 100.0, K, T, call)
    assert exc.value.field == field


def test_bad_element_is_named():
    with pytest.raises(InvalidInput, match="element 2"):
        implied_vol([5.0, 5.0, 30.0], 100.0, [100.0, 100.0, 60.0], 1.0, True)  # 30 < intrinsic 40
