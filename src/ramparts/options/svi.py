"""Raw-SVI volatility smiles per expiry, a total-variance :class:`VolSurface` across expiries, and the
loader of the Deribit option-chain snapshot.

This module owns the *volatility input* of option margin: the implied volatility at any strike and
expiry that :mod:`ramparts.margin.portfolio` revalues with.

Raw SVI (Gatheral 2004)
-----------------------
Total implied variance ``w = σ_imp²·T`` as a function of log-moneyness ``k = ln(K/F)``:

.. math::

   w(k) = a + b\\,\\big(\\rho\\,(k - m) + \\sqrt{(k - m)^2 + \\sigma^2}\\big)

with the usual no-arbitrage parameter constraints ``b ≥ 0``, ``|ρ| < 1``, ``σ > 0`` and
``a + b·σ·√(1 − ρ²) ≥ 0`` (the minimum of ``w``, so the variance is never negative). The fit
(:func:`fit_svi`) is a bounded ``scipy.optimize.least_squares`` on total variance in the
reparametrisation ``(w_min, b, ρ, m, σ)`` with ``a = w_min − b·σ·√(1−ρ²)``, ``w_min ≥ 0``, so every
constraint is a simple box bound; a few starting points guard against local minima. Roger Lee's
wing bound ``b·(1 + |ρ|) ≤ 2`` (total-variance slopes) is reported by :meth:`SviParams.lee_ok`
(not imposed).

Surface
-------
:class:`VolSurface` holds one SVI slice per expiry (sorted by ``T``) and interpolates **linearly in
total variance at fixed log-moneyness** between slices (flat implied volatility outside the expiry
range, ``w ∝ T``); :meth:`VolSurface.calendar_arbitrage` reports where ``w`` decreases with ``T``.

Data
----
:func:`load_deribit_chain` reads ``options/deribit_options_snapshot_20251230T173115Z.csv.gz`` of the
shipped data (:mod:`ramparts.data`; columns in ``ramparts/data/PROVENANCE.md`` §5: prices in coin, ``implied_volatility``
a decimal, ``futures_price`` the expiry's forward, ``time_to_maturity`` in years). The file is only
read — the returned frame is a new object with derived columns added.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from ramparts.errors import DataError, InvalidInput
from ramparts.options.black76 import float_array

CHAIN_FILE = "options/deribit_options_snapshot_20251230T173115Z.csv.gz"


# ---------------------------------------------------------------------------------------- SVI slice
def svi_total_variance(k: Any, a: float, b: float, rho: float, m: float, sigma: float) -> np.ndarray:
    """Raw-SVI total variance ``w(k)`` (vectorised over ``k``)."""
    x = np.asarray(k, dtype=np.float64) - m
    return a + b * (rho * x + np.sqrt(x * x + sigma * sigma))


@dataclass(frozen=True)
class SviParams:
    """Raw-SVI parameters of one expiry.

    Attributes
    ----------
    a, b, rho, m, sigma : float
        See the module docstring.
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v)):
                raise InvalidInput(name, f"must be a finite number, got {v!r}")
        if self.b < 0:
            raise InvalidInput("b", f"must be non-negative, got {self.b}")
        if not -1 < self.rho < 1:
            raise InvalidInput("rho", f"must lie in (-1, 1), got {self.rho}")
        if self.sigma <= 0:
            raise InvalidInput("sigma", f"must be positive, got {self.sigma}")
        if self.min_variance < -1e-12:
            raise InvalidInput("a", f"a + b·σ·√(1−ρ²) = {self.min_variance:.3g} < 0: negative total variance")

    @property
    def min_variance(self) -> float:
        """``a + b·σ·√(1 − ρ²)``: the minimum of ``w`` over ``k``."""
        return self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho * self.rho)

    def total_variance(self, k: Any) -> np.ndarray:
        """``w(k)``."""
        return svi_total_variance(k, self.a, self.b, self.rho, self.m, self.sigma)

    def implied_vol(self, k: Any, T: float) -> np.ndarray:
        """``sqrt(w(k)/T)``."""
        return np.sqrt(np.maximum(self.total_variance(k), 0.0) / T)

    def lee_ok(self) -> bool:
        """Roger Lee's moment bound on the wings: the asymptotic slopes ``b·(1 ± ρ)`` of the total
        variance are at most 2, i.e. ``b·(1 + |ρ|) ≤ 2``."""
        return self.b * (1.0 + abs(self.rho)) <= 2.0 + 1e-12


@dataclass(frozen=True)
class SviFit:
    """Result of :func:`fit_svi`.

    Attributes
    ----------
    params : SviParams
    rmse_w : float
        Root-mean-square error in total variance (weighted residuals, unweighted RMSE).
    rmse_vol : float
        RMSE in implied volatility (decimal) when ``T`` was given, else NaN.
    n : int
        Number of quotes fitted.
    """

    params: SviParams
    rmse_w: float
    rmse_vol: float
    n: int


def fit_svi(
    k: Any,
    w: Any,
    *,
    T: float | None = None,
    weights: Any | None = None,
    starts: Iterable[tuple[float, float, float, float, float]] | None = None,
) -> SviFit:
    """Fit raw SVI to total variances ``w`` at log-moneyness ``k`` (bounded least squares).

    Parameters
    ----------
    k, w : array_like
        Log-moneyness ``ln(K/F)`` and total variance ``σ²T`` of at least 5 quotes.
    T : float, optional
        Time to expiry (years) — only to report the RMSE in volatility.
    weights : array_like, optional
        Residual weights (e.g. vega or 1/spread); default uniform.
    starts : iterable of ``(w_min, b, rho, m, sigma)``, optional
        Starting points; the default is a small grid around the data.

    Returns
    -------
    SviFit
    """
    kk = float_array(k, "k")
    ww = float_array(w, "w", nonneg=True)
    if kk.ndim != 1 or kk.shape != ww.shape or kk.size < 5:
        raise InvalidInput("k", f"need equal 1-d arrays of at least 5 quotes, got {kk.shape} and {ww.shape}")
    wt = np.ones_like(kk) if weights is None else float_array(weights, "weights", nonneg=True)
    if wt.shape != kk.shape:
        raise InvalidInput("weights", f"expected shape {kk.shape}, got {wt.shape}")
    span = float(kk.max() - kk.min()) or 1.0

    def unpack(x: np.ndarray) -> tuple[float, float, float, float, float]:
        wmin, b, rho, m, sig = x
        return wmin - b * sig * math.sqrt(1.0 - rho * rho), b, rho, m, sig

    def resid(x: np.ndarray) -> np.ndarray:
        return (svi_total_variance(kk, *unpack(x)) - ww) * wt

    lo = [0.0, 0.0, -0.999, float(kk.min()) - span, 1e-4]
    hi = [float(ww.max()) * 2 + 1e-6, 10.0, 0.999, float(kk.max()) + span, 5.0]
    if starts is None:
        i0 = int(np.argmin(ww))
        wmin0 = max(float(ww.min()) * 0.9, 0.0)
        slope = float(np.ptp(ww)) / span
        starts = [
            (wmin0, max(slope, 1e-3), rho0, float(kk[i0]), sig0)
            for rho0 in (-0.4, 0.3)
            for sig0 in (0.05, 0.4)
        ]
    best = None
    for x0 in starts:
        x0c = np.clip(np.asarray(x0, float), np.array(lo) + 1e-9, np.array(hi) - 1e-9)
        res = least_squares(resid, x0c, bounds=(lo, hi), method="trf", x_scale="jac",
                            xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=1000)
        if best is None or res.cost < best.cost:
            best = res
    assert best is not None
    a, b, rho, m, sig = unpack(best.x)
    params = SviParams(float(a), float(b), float(rho), float(m), float(sig))
    fitted = params.total_variance(kk)
    rmse_w = float(np.sqrt(np.mean((fitted - ww) ** 2)))
    rmse_vol = float("nan")
    if T is not None:
        rmse_vol = float(np.sqrt(np.mean((np.sqrt(np.maximum(fitted, 0) / T) - np.sqrt(ww / T)) ** 2)))
    return SviFit(params, rmse_w, rmse_vol, int(kk.size))


# ---------------------------------------------------------------------------------------- surface
@dataclass(frozen=True)
class SviSlice:
    """One expiry of a surface: time to expiry (years), forward, SVI parameters, fit quality."""

    T: float
    forward: float
    params: SviParams
    rmse_vol: float = float("nan")
    label: str = ""


class VolSurface:
    """Implied volatility across strikes and expiries from SVI slices, interpolated in total variance.

    Parameters
    ----------
    slices : iterable of SviSlice
        At least one slice, distinct positive ``T``.
    """

    def __init__(self, slices: Iterable[SviSlice]):
        sl = sorted(slices, key=lambda s: s.T)
        if not sl:
            raise InvalidInput("slices", "a surface needs at least one expiry")
        Ts = np.array([s.T for s in sl])
        if (Ts <= 0).any() or (np.diff(Ts) <= 0).any():
            raise InvalidInput("slices", "expiries must have distinct positive times to expiry")
        self.slices = tuple(sl)
        self.T = Ts
        self.forwards = np.array([s.forward for s in sl])

    def forward(self, T: Any) -> np.ndarray:
        """Forward at ``T``, linear in ``T`` between slices (flat outside)."""
        return np.interp(np.asarray(T, float), self.T, self.forwards)

    def total_variance(self, k: Any, T: Any) -> np.ndarray:
        """Total variance at log-moneyness ``k`` (relative to the forward of ``T``) and expiry ``T``."""
        kk, tt = np.broadcast_arrays(np.asarray(k, float), float_array(T, "T", positive=True))
        W = np.stack([s.params.total_variance(kk) for s in self.slices])  # slices × shape
        out = np.empty(kk.shape)
        idx = np.searchsorted(self.T, tt)  # first slice with T_i ≥ t
        below = idx == 0
        above = idx >= self.T.size
        mid = ~(below | above)
        if below.any():
            out[below] = W[0][below] * tt[below] / self.T[0]
        if above.any():
            out[above] = W[-1][above] * tt[above] / self.T[-1]
        if mid.any():
            i = idx[mid]
            t0, t1 = self.T[i - 1], self.T[i]
            lam = (tt[mid] - t0) / (t1 - t0)
            cols = np.flatnonzero(mid.ravel())
            w0 = W.reshape(len(self.slices), -1)[i - 1, cols]
            w1 = W.reshape(len(self.slices), -1)[i, cols]
            out[mid] = (1.0 - lam) * w0 + lam * w1
        return out

    def implied_vol(self, K: Any, T: Any) -> np.ndarray:
        """Implied volatility at strike ``K`` and expiry ``T`` (years)."""
        Kf = float_array(K, "K", positive=True)
        Tf = float_array(T, "T", positive=True)
        k = np.log(Kf / self.forward(Tf))
        return np.sqrt(np.maximum(self.total_variance(k, Tf), 0.0) / Tf)

    def calendar_arbitrage(self, k: Any) -> np.ndarray:
        """Pairs ``(i, j)`` of consecutive slices and grid indices where ``w_{i+1}(k_j) < w_i(k_j)``."""
        kk = np.asarray(k, float)
        W = np.stack([s.params.total_variance(kk) for s in self.slices])
        return np.argwhere(np.diff(W, axis=0) < -1e-12)


# ---------------------------------------------------------------------------------------- Deribit data
def chain_path() -> Path:
    """Path of the shipped Deribit chain snapshot (verified by :func:`ramparts.data.data_path`)."""
    from ramparts.data import data_path

    return data_path(CHAIN_FILE)


def load_deribit_chain(path: str | Path | None = None, *, currency: str | None = None):
    """Read the Deribit option-chain snapshot (read-only) into a new pandas DataFrame.

    Adds ``is_call``, ``expiry`` (UTC timestamps), ``log_moneyness = ln(K/F)`` and
    ``total_variance = implied_volatility² · time_to_maturity``; rows are never dropped or edited
    except by the ``currency`` filter (``"BTC"`` / ``"ETH"``).

    Raises
    ------
    DataError
        When the file is missing or lacks the documented columns.
    """
    import pandas as pd

    p = Path(path) if path is not None else chain_path()
    if not p.exists():
        raise DataError(f"option chain not found: {p}")
    df = pd.read_csv(p)
    need = {"instrument_name", "option_type", "strike", "expiry_datetime", "time_to_maturity", "mark_price",
            "futures_price", "implied_volatility", "currency"}
    missing = need - set(df.columns)
    if missing:
        raise DataError(f"{p.name}: missing columns {sorted(missing)}")
    if currency is not None:
        df = df[df.currency == currency]
    df = df.copy()
    df["is_call"] = df.option_type.str.lower().eq("call")
    df["expiry"] = pd.to_datetime(df.expiry_datetime, utc=True)
    df["log_moneyness"] = np.log(df.strike / df.futures_price)
    df["total_variance"] = df.implied_volatility**2 * df.time_to_maturity
    return df.reset_index(drop=True)


def fit_chain(chain, *, min_quotes: int = 8, otm_only: bool = True, weight_by_vega: bool = False) -> VolSurface:
    """Fit one SVI slice per expiry of a chain from :func:`load_deribit_chain` (one currency).

    Quotes are the mark implied volatilities; with ``otm_only`` only out-of-the-money options are used
    (puts below the forward, calls above — the liquid side, as usual), plus both at the money.
    Expiries with fewer than ``min_quotes`` quotes are skipped.
    """
    if chain.currency.nunique() != 1:
        raise InvalidInput("chain", "fit one currency at a time (filter with currency=...)")
    slices = []
    for expiry, g in chain.groupby("expiry"):
        g = g[(g.implied_volatility > 0) & (g.time_to_maturity > 0)]
        if otm_only:
            g = g[(g.is_call & (g.log_moneyness >= 0)) | (~g.is_call & (g.log_moneyness <= 0))]
        if len(g) < min_quotes:
            continue
        T = float(g.time_to_maturity.iloc[0])
        w = None
        if weight_by_vega and "vega" in g:
            w = np.sqrt(np.maximum(g.vega.to_numpy(), 1e-6))
        fit = fit_svi(g.log_moneyness.to_numpy(), g.total_variance.to_numpy(), T=T, weights=w)
        slices.append(SviSlice(T, float(g.futures_price.iloc[0]), fit.params, fit.rmse_vol, str(expiry)))
    return VolSurface(slices)
