"""Black-76 on the forward: prices, risk Greeks and implied volatility, vectorised over numpy arrays.

This module owns the option *pricing* maths every option-margin model revalues with: the Black-76
price of European calls and puts written on a forward (or futures) price ``F``, the Greeks a risk
engine needs (delta, gamma, vega, theta, vanna, volga) and the inversion of a price into an implied
volatility. All inputs broadcast against each other (numpy rules); all arithmetic is ``float64``.

Conventions
-----------
* ``F`` forward, ``K`` strike (both > 0), ``T`` time to expiry in years (≥ 0; Derive and Deribit
  use ``365`` days a year), ``sigma`` annualised volatility as a decimal (0.6 = 60 %), ``r`` the
  continuously compounded discount rate (default 0: crypto venues discount nothing), ``is_call`` a
  bool (array) or the strings ``"c"/"call"/"p"/"put"``.
* **Linear** (quote-settled, ``inverse=False``): the price is in the quote currency per unit of the
  underlying,

  .. math::

     C = e^{-rT}\\,[F N(d_1) - K N(d_2)], \\quad P = e^{-rT}\\,[K N(-d_2) - F N(-d_1)], \\quad
     d_{1,2} = \\frac{\\ln(F/K) \\pm \\sigma^2 T/2}{\\sigma\\sqrt{T}}.

* **Inverse** (coin-settled, as Deribit): the price is in units of the underlying coin,
  ``price_inverse = price_linear / F``, and each inverse Greek is the derivative of that coin price
  (so e.g. ``delta_inverse = delta/F − V/F²``). The ``delta`` column of the Deribit chain snapshot in
  the shipped ``options/`` data is the *linear* Black delta ``∂V/∂F`` (checked in the tests), i.e. the
  coin exposure of the USD value, and its ``vega`` column is the linear vega per vol point.
* Greeks are plain derivatives: ``vega = ∂V/∂σ`` per unit of volatility (not per vol point),
  ``theta = ∂V/∂t`` per year of calendar time (``= −∂V/∂T``; divide by 365 for a daily figure),
  ``vanna = ∂²V/∂F∂σ``, ``volga = ∂²V/∂σ²``. py_vollib's ``theta`` is per day and its ``vega`` per
  vol point; :mod:`tests.test_options_black76` rescales.
* At ``sigma·√T = 0`` (expiry or zero volatility) the price is the discounted intrinsic value, the
  delta the discounted step (½ exactly at the money) and every other Greek 0.

Bad input (NaN, infinities, non-positive ``F`` or ``K``, negative ``T`` or ``sigma``, a price
outside the no-arbitrage bounds of :func:`implied_vol`) raises
:class:`~ramparts.errors.InvalidInput` naming the field and the first offending element.

References
----------
* F. Black, "The pricing of commodity contracts", J. Financial Economics 3 (1976).
* Deribit, "Inverse options" (price in coin = USD price / underlying); Derive v2 prices with
  Black-76 on the forward feed (``ramparts/reference/open-source-venues.md`` §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from ramparts.errors import InvalidInput

_INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2*pi)


# ---------------------------------------------------------------------------------------- inputs
def _first_bad(mask: np.ndarray) -> tuple[int, ...] | int:
    idx = np.argwhere(mask)[0]
    return tuple(int(i) for i in idx) if idx.size > 1 else (int(idx[0]) if idx.size else 0)


def float_array(value: Any, field: str, *, positive: bool = False, nonneg: bool = False) -> np.ndarray:
    """``value`` as a float64 array, refusing NaN, infinities and (optionally) signs.

    Raises :class:`~ramparts.errors.InvalidInput` naming ``field`` and the first offending element.
    Shared by the option-margin modules for their own float inputs.
    """
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(field, f"expected numbers, got {type(value).__name__}") from None
    bad = ~np.isfinite(a)
    if bad.any():
        raise InvalidInput(field, f"must be finite, element {_first_bad(bad)} is {a[bad].flat[0]!r}")
    if positive and (a <= 0).any():
        m = a <= 0
        raise InvalidInput(field, f"must be positive, element {_first_bad(m)} is {a[m].flat[0]!r}")
    if nonneg and (a < 0).any():
        m = a < 0
        raise InvalidInput(field, f"must be non-negative, element {_first_bad(m)} is {a[m].flat[0]!r}")
    return a


def as_call_flags(is_call: Any, field: str = "is_call") -> np.ndarray:
    """Option types as a bool array: ``True`` for calls.

    Accepts bools (arrays) and the strings ``"c"``, ``"call"``, ``"p"``, ``"put"`` (any case).
    """
    a = np.asarray(is_call)
    if a.dtype == np.bool_:
        return a
    if a.dtype.kind in ("U", "S", "O"):
        low = np.char.lower(a.astype(str))
        calls = np.isin(low, ("c", "call"))
        puts = np.isin(low, ("p", "put"))
        bad = ~(calls | puts)
        if bad.any():
            raise InvalidInput(field, f"expected 'call' or 'put', got {a[bad].flat[0]!r}")
        return calls
    if a.dtype.kind in ("i", "u"):
        if not np.isin(a, (0, 1)).all():
            raise InvalidInput(field, "integer flags must be 0 (put) or 1 (call)")
        return a.astype(bool)
    raise InvalidInput(field, f"expected bools or 'call'/'put', got dtype {a.dtype}")


def _inputs(F: Any, K: Any, T: Any, sigma: Any, is_call: Any, r: Any) -> tuple[np.ndarray, ...]:
    f = float_array(F, "F", positive=True)
    k = float_array(K, "K", positive=True)
    t = float_array(T, "T", nonneg=True)
    s = float_array(sigma, "sigma", nonneg=True)
    rr = float_array(r, "r")
    c = as_call_flags(is_call)
    try:
        return np.broadcast_arrays(f, k, t, s, c, rr)
    except ValueError as exc:
        raise InvalidInput("shape", f"inputs do not broadcast: {exc}") from None


def _out(a: np.ndarray) -> np.ndarray:
    """Return 0-d results as numpy scalars, arrays unchanged."""
    return a[()] if a.ndim == 0 else a


# ---------------------------------------------------------------------------------------- core
def _d1_d2(f: np.ndarray, k: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``d1, d2`` for total volatility ``sd = σ√T``; ``live`` marks ``sd > 0`` (elsewhere d = 0)."""
    live = sd > 0
    sd_safe = np.where(live, sd, 1.0)
    d1 = np.where(live, (np.log(f / k) + 0.5 * sd_safe * sd_safe) / sd_safe, 0.0)
    d2 = d1 - np.where(live, sd_safe, 0.0)
    return d1, d2, live


def _undiscounted(f: np.ndarray, k: np.ndarray, sd: np.ndarray, call: np.ndarray) -> np.ndarray:
    """Undiscounted Black price for total volatility ``sd`` (intrinsic value where ``sd = 0``)."""
    d1, d2, live = _d1_d2(f, k, sd)
    c = f * ndtr(d1) - k * ndtr(d2)
    p = k * ndtr(-d2) - f * ndtr(-d1)
    price = np.where(call, c, p)
    intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    return np.where(live, np.maximum(price, 0.0), intrinsic)


def black76_price(
    F: Any, K: Any, T: Any, sigma: Any, is_call: Any, r: Any = 0.0, *, inverse: bool = False
) -> np.ndarray:
    """Black-76 price of European options on a forward.

    Parameters
    ----------
    F, K : array_like
        Forward and strike, > 0.
    T : array_like
        Time to expiry in years, ≥ 0.
    sigma : array_like
        Annualised volatility (decimal), ≥ 0.
    is_call : array_like of bool or str
        ``True`` / ``"call"`` for calls, ``False`` / ``"put"`` for puts.
    r : array_like, optional
        Continuously compounded discount rate (default 0).
    inverse : bool, optional
        ``True`` returns the coin-settled price ``V / F`` (units of the underlying, Deribit).

    Returns
    -------
    numpy.ndarray
        The broadcast prices (a numpy scalar for scalar inputs).
    """
    f, k, t, s, c, rr = _inputs(F, K, T, sigma, is_call, r)
    v = np.exp(-rr * t) * _undiscounted(f, k, s * np.sqrt(t), c)
    return _out(v / f if inverse else v)


@dataclass(frozen=True)
class Greeks:
    """Price and Greeks of a batch of options (arrays of the broadcast shape).

    Attributes
    ----------
    price : numpy.ndarray
        Option value (quote units, or coin units for inverse).
    delta, gamma : numpy.ndarray
        ``∂V/∂F``, ``∂²V/∂F²``.
    vega, volga : numpy.ndarray
        ``∂V/∂σ``, ``∂²V/∂σ²`` (per unit of volatility).
    theta : numpy.ndarray
        ``∂V/∂t`` per year of calendar time (time decay, usually negative).
    vanna : numpy.ndarray
        ``∂²V/∂F∂σ``.
    """

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray


def black76_greeks(
    F: Any, K: Any, T: Any, sigma: Any, is_call: Any, r: Any = 0.0, *, inverse: bool = False
) -> Greeks:
    """Black-76 price and Greeks (see the module docstring for units and conventions).

    Linear Greeks, with ``D = e^{-rT}``, ``n`` the standard normal density:

    ``delta = D·N(d1)`` (call) / ``−D·N(−d1)`` (put), ``gamma = D·n(d1)/(F·σ√T)``,
    ``vega = D·F·n(d1)·√T``, ``theta = −D·F·n(d1)·σ/(2√T) + r·V``, ``vanna = −D·n(d1)·d2/σ``,
    ``volga = vega·d1·d2/σ``.

    Inverse Greeks are the derivatives of ``P = V/F``: ``delta/F − V/F²``,
    ``gamma/F − 2·delta/F² + 2V/F³``, ``vega/F``, ``theta/F``, ``vanna/F − vega/F²``, ``volga/F``.

    Parameters
    ----------
    F, K, T, sigma, is_call, r
        As in :func:`black76_price`.
    inverse : bool, optional
        Greeks of the coin-settled price.

    Returns
    -------
    Greeks
    """
    f, k, t, s, c, rr = _inputs(F, K, T, sigma, is_call, r)
    disc = np.exp(-rr * t)
    sqrt_t = np.sqrt(t)
    sd = s * sqrt_t
    d1, d2, live = _d1_d2(f, k, sd)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    value = disc * _undiscounted(f, k, sd, c)

    step = np.where(f > k, 1.0, np.where(f < k, 0.0, 0.5))  # N(d1) at sd = 0
    n1 = np.where(live, ndtr(d1), step)
    delta = disc * np.where(c, n1, n1 - 1.0)
    sd_safe = np.where(live, sd, 1.0)
    s_safe = np.where(live, s, 1.0)
    sqrt_t_safe = np.where(live, sqrt_t, 1.0)
    gamma = np.where(live, disc * pdf / (f * sd_safe), 0.0)
    vega = np.where(live, disc * f * pdf * sqrt_t, 0.0)
    theta = np.where(live, -disc * f * pdf * s / (2.0 * sqrt_t_safe), 0.0) + rr * value
    vanna = np.where(live, -disc * pdf * d2 / s_safe, 0.0)
    volga = np.where(live, vega * d1 * d2 / s_safe, 0.0)

    if inverse:
        f2 = f * f
        price_i = value / f
        delta_i = delta / f - value / f2
        gamma_i = gamma / f - 2.0 * delta / f2 + 2.0 * value / (f2 * f)
        vanna_i = vanna / f - vega / f2
        return Greeks(
            _out(price_i), _out(delta_i), _out(gamma_i), _out(vega / f), _out(theta / f),
            _out(vanna_i), _out(volga / f),
        )
    return Greeks(_out(value), _out(delta), _out(gamma), _out(vega), _out(theta), _out(vanna), _out(volga))


# ---------------------------------------------------------------------------------------- implied vol
def implied_vol(
    price: Any,
    F: Any,
    K: Any,
    T: Any,
    is_call: Any,
    r: Any = 0.0,
    *,
    inverse: bool = False,
    max_iter: int = 200,
) -> np.ndarray:
    """Implied Black-76 volatility, vectorised (safeguarded Newton on total volatility ``σ√T``).

    Each element keeps a bracket ``[lo, hi]`` of the total volatility (the price is increasing in it);
    a Newton step that leaves the bracket is replaced by bisection, so the iteration always converges
    (quadratically once close). The start is the Manaster–Koehler point ``√(2|ln F/K|)``.

    Parameters
    ----------
    price : array_like
        Option prices: quote units, or coin units with ``inverse=True``.
    F, K, T, is_call, r
        As in :func:`black76_price`; ``T`` must be > 0.
    inverse : bool, optional
        ``price`` is a coin price (``V/F``).
    max_iter : int, optional
        Iteration cap (bisection alone would need ~1100 steps to exhaust float64; Newton needs < 10).

    Returns
    -------
    numpy.ndarray
        Implied volatilities; 0 for a price equal to the intrinsic value.

    Raises
    ------
    InvalidInput
        For NaN / infinite / negative prices, ``T ≤ 0``, or a price outside the no-arbitrage bounds
        ``D·max(F−K, 0) ≤ C < D·F`` (calls), ``D·max(K−F, 0) ≤ P < D·K`` (puts).
    """
    p = float_array(price, "price", nonneg=True)
    f, k, t, _s, c, rr = _inputs(F, K, T, 0.0, is_call, r)
    if (t <= 0).any():
        m = t <= 0
        raise InvalidInput("T", f"must be positive for an implied volatility, element {_first_bad(m)} is {t[m].flat[0]!r}")
    try:
        p, f, k, t, c, rr = np.broadcast_arrays(p, f, k, t, c, rr)
    except ValueError as exc:
        raise InvalidInput("shape", f"inputs do not broadcast: {exc}") from None
    disc = np.exp(-rr * t)
    target = (p * f if inverse else p) / disc  # undiscounted quote-currency price
    intrinsic = np.where(c, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    upper = np.where(c, f, k)
    tol = 1e-13 * np.maximum(f, k)
    below = target < intrinsic - tol
    if below.any():
        i = _first_bad(below)
        raise InvalidInput("price", f"below the intrinsic value (no-arbitrage lower bound) at element {i}")
    above = target >= upper
    if above.any():
        i = _first_bad(above)
        raise InvalidInput("price", f"at or above the no-arbitrage upper bound (F for calls, K for puts) at element {i}")

    zero = target <= intrinsic
    x = np.log(f / k)
    lo = np.zeros_like(target)
    hi = np.full_like(target, 1.0)
    # Grow the upper bracket until it prices above the target (at most ~7 doublings: sd = 64 prices at the bound).
    for _ in range(12):
        short = (_undiscounted(f, k, hi, c) < target) & ~zero
        if not short.any():
            break
        hi = np.where(short, hi * 2.0, hi)
    sd = np.clip(np.sqrt(2.0 * np.abs(x)), 1e-2, None)
    sd = np.where((sd > lo) & (sd < hi), sd, 0.5 * (lo + hi))
    active = ~zero
    for _ in range(max_iter):
        if not active.any():
            break
        d1, _d2, _live = _d1_d2(f, k, sd)
        diff = _undiscounted(f, k, sd, c) - target
        lo = np.where(active & (diff < 0), sd, lo)
        hi = np.where(active & (diff > 0), sd, hi)
        vega = f * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = sd - diff / vega
        ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
        nxt = np.where(ok, newton, 0.5 * (lo + hi))
        done = (diff == 0) | (np.abs(nxt - sd) <= 2e-16 * sd) | (hi - lo <= 4e-16 * hi)
        sd = np.where(active, nxt, sd)
        active &= ~done
    sigma = np.where(zero, 0.0, sd / np.sqrt(t))
    return _out(sigma)
