"""VaR / expected-shortfall margin: historical, filtered historical, Monte Carlo and GPD-tail estimators,
the margin period of risk, anti-procyclicality tools and predictive volatility forecasts.

This module owns the *statistical* margin models of a clearinghouse (SPAN 2, OCC STANS and EMIR-style
initial margin; ``ramparts/reference/cex-and-clearinghouses.md``, "CME SPAN … SPAN 2", "OCC STANS",
"EU EMIR"). Every estimator works on a 1-d sample of **returns** of a position's value (for a long
position the loss is ``−r``; pass ``−r`` for a short) and returns a :class:`VarEs` of **fractions of
notional**; :func:`margin_units` turns one into int base units, rounded **up**.

Conventions
-----------
* Confidence ``α`` (e.g. 0.99) and horizon ``h`` days (the margin period of risk: EMIR ≥ 2 days listed,
  5 days OTC) are parameters of every estimator. ``horizon_method="sqrt"`` scales one-day figures by
  ``√h``; ``"overlapping"`` builds overlapping ``h``-day returns (rolling sums of the log returns) and
  estimates on those directly.
* **Empirical quantile** (McNeil, Frey & Embrechts, *Quantitative Risk Management*, the textbook
  definition ``VaR_α = inf{ℓ : F_L(ℓ) ≥ α}``): with losses sorted ascending ``L_(1) ≤ … ≤ L_(n)``,
  ``VaR = L_(⌈nα⌉)`` (numpy's ``quantile(method="inverted_cdf")``) and the exact expected shortfall of
  the empirical distribution (Acerbi & Tasche)

  .. math::

     ES_α = \\frac{1}{1-α}\\Big[\\frac{1}{n}\\sum_{i > ⌈nα⌉} L_{(i)} + \\Big(\\frac{⌈nα⌉}{n} - α\\Big) L_{(⌈nα⌉)}\\Big],

  so with 500 observations at 99 % VaR is the 6th-worst loss and ES the mean of the 5 worst.
* ``log_returns=True`` maps the aggregated log return ``r`` to the exact fractional loss ``1 − eʳ``;
  otherwise the loss is ``−r``.

Anti-procyclicality (EMIR RTS 153/2013 Art. 28, as summarised in the reference file): a margin buffer
≥ 25 % released in stress (:func:`apc_buffer`), ≥ 25 % weight on stressed observations
(:func:`apc_stressed_weight`), a floor from a 10-year lookback / stressed period (:func:`apc_floor`,
:func:`stressed_floor`). Forecasts (:func:`ewma_volatility`, :func:`garch_forecast`,
:func:`predictive_var`) let margin rise *as* a volatility cluster starts rather than after the
lookback has filled with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ramparts.errors import InvalidInput
from ramparts.options.black76 import float_array

#: RiskMetrics' daily EWMA decay.
RISKMETRICS_LAMBDA = 0.94


@dataclass(frozen=True)
class VarEs:
    """Value at risk and expected shortfall, as positive fractions of notional (losses).

    Attributes
    ----------
    var : float
    es : float
    """

    var: float
    es: float


# ---------------------------------------------------------------------------------------- validation
def _returns(x: Any, field: str = "returns", min_len: int = 2) -> np.ndarray:
    r = float_array(x, field)
    if r.ndim != 1 or r.size < min_len:
        raise InvalidInput(field, f"expected a 1-d sample of at least {min_len} values, got shape {r.shape}")
    return r


def _confidence(alpha: float) -> float:
    if not (isinstance(alpha, int | float) and 0.5 <= alpha < 1):
        raise InvalidInput("confidence", f"must lie in [0.5, 1), got {alpha!r}")
    return float(alpha)


def _horizon(h: Any) -> int:
    if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
        raise InvalidInput("horizon", f"must be a positive int (days), got {h!r}")
    return int(h)


def _method(m: str) -> str:
    if m not in ("sqrt", "overlapping"):
        raise InvalidInput("horizon_method", f"must be 'sqrt' or 'overlapping', got {m!r}")
    return m


# ---------------------------------------------------------------------------------------- empirical core
def empirical_var_es(losses: Any, confidence: float = 0.99) -> VarEs:
    """Empirical VaR and ES of a loss sample (the textbook quantile, see the module docstring).

    Parameters
    ----------
    losses : array_like
        1-d sample of losses (positive = loss).
    confidence : float
        ``α`` in [0.5, 1).

    Returns
    -------
    VarEs
    """
    L = np.sort(_returns(losses, "losses", 1))
    a = _confidence(confidence)
    n = L.size
    k = max(1, math.ceil(n * a - 1e-9))  # 1-based rank ⌈nα⌉ (guarding 0.99·500 = 495.00000000000006)
    var = float(L[k - 1])
    es = (L[k:].sum() / n + (k / n - a) * var) / (1.0 - a)
    return VarEs(var, float(max(es, var)))


def horizon_returns(returns: Any, horizon: int, method: str = "overlapping") -> np.ndarray:
    """``h``-day returns: overlapping rolling sums (``"overlapping"``) or ``√h``-scaled one-day ones."""
    r = _returns(returns)
    h = _horizon(horizon)
    if _method(method) == "sqrt" or h == 1:
        return r * math.sqrt(h)
    if r.size < h + 1:
        raise InvalidInput("returns", f"need more than {h} returns for {h}-day overlapping returns")
    c = np.concatenate([[0.0], np.cumsum(r)])
    return c[h:] - c[:-h]


def _losses(r: np.ndarray, log_returns: bool) -> np.ndarray:
    return -np.expm1(r) if log_returns else -r


def historical_var(
    returns: Any,
    confidence: float = 0.99,
    horizon: int = 1,
    *,
    horizon_method: str = "sqrt",
    log_returns: bool = False,
) -> VarEs:
    """Historical-simulation VaR / ES.

    Parameters
    ----------
    returns : array_like
        Daily returns of the position (loss = ``−r``).
    confidence : float
    horizon : int
        Margin period of risk in days.
    horizon_method : {"sqrt", "overlapping"}
    log_returns : bool
        Map the aggregated log return to ``1 − eʳ``.

    Returns
    -------
    VarEs
    """
    rh = horizon_returns(returns, horizon, horizon_method)
    return empirical_var_es(_losses(rh, log_returns), confidence)


# ---------------------------------------------------------------------------------------- volatility
def ewma_volatility(returns: Any, lam: float = RISKMETRICS_LAMBDA, *, seed_window: int = 30) -> np.ndarray:
    """EWMA (RiskMetrics) volatilities ``σ_0 … σ_n``: ``σ_t`` uses returns up to ``t−1``.

    ``σ_t² = λ·σ_{t−1}² + (1 − λ)·r_{t−1}²``, seeded with the mean square of the first
    ``seed_window`` returns; ``σ_n`` (the last element) is the one-day forecast for the next day.

    Returns
    -------
    numpy.ndarray
        Length ``n + 1``.
    """
    r = _returns(returns)
    if not (0 < lam < 1):
        raise InvalidInput("lam", f"must lie in (0, 1), got {lam!r}")
    var = np.empty(r.size + 1)
    var[0] = max(float(np.mean(r[: max(1, seed_window)] ** 2)), 1e-300)
    # a linear recursion: a Python loop over floats is fast enough for decades of daily data
    v = var[0]
    sq = r * r
    for t in range(r.size):
        v = lam * v + (1.0 - lam) * sq[t]
        var[t + 1] = v
    return np.sqrt(var)


def filtered_historical_var(
    returns: Any,
    confidence: float = 0.99,
    horizon: int = 1,
    *,
    lam: float = RISKMETRICS_LAMBDA,
    horizon_method: str = "sqrt",
    log_returns: bool = False,
) -> VarEs:
    """Filtered historical simulation (Barone-Adesi et al.): EWMA-devolatilised returns re-scaled by
    the current forecast, ``r*_t = r_t · σ_{n} / σ_t``, then the empirical VaR / ES of those.

    Parameters as in :func:`historical_var`, plus the EWMA decay ``lam``.
    """
    r = _returns(returns)
    sig = ewma_volatility(r, lam)
    rescaled = r / sig[:-1] * sig[-1]
    return historical_var(rescaled, confidence, horizon, horizon_method=horizon_method, log_returns=log_returns)


def garch_forecast(returns: Any, horizon: int = 1, *, dist: str = "normal") -> float:
    """Forecast volatility over the next ``horizon`` days from a GARCH(1,1) fitted with ``arch``.

    Returns ``sqrt(Σ_{i=1..h} σ²_{n+i})`` (the horizon's standard deviation, a return fraction).
    Returns are scaled by 100 for the optimiser, as ``arch`` recommends.
    """
    from arch import arch_model

    r = _returns(returns, min_len=50)
    h = _horizon(horizon)
    model = arch_model(100.0 * r, mean="Zero", vol="GARCH", p=1, q=1, dist=dist, rescale=False)
    res = model.fit(disp="off", show_warning=False)
    var = res.forecast(horizon=h, reindex=False).variance.to_numpy()[-1]
    return float(math.sqrt(var.sum()) / 100.0)


def forecast_volatility(returns: Any, horizon: int = 1, *, method: str = "ewma", lam: float = RISKMETRICS_LAMBDA) -> float:
    """Volatility over the next ``horizon`` days: EWMA (``σ_n·√h``, flat term structure) or GARCH(1,1)."""
    h = _horizon(horizon)
    if method == "ewma":
        return float(ewma_volatility(returns, lam)[-1] * math.sqrt(h))
    if method == "garch":
        return garch_forecast(returns, h)
    raise InvalidInput("method", f"must be 'ewma' or 'garch', got {method!r}")


def _std_quantiles(confidence: float, df: float | None) -> tuple[float, float]:
    """``(q, es)`` of a unit-variance normal or Student-t(ν) loss at ``confidence``."""
    if df is None:
        q = float(stats.norm.ppf(confidence))
        return q, float(stats.norm.pdf(q) / (1.0 - confidence))
    if not df > 2:
        raise InvalidInput("df", f"Student-t degrees of freedom must exceed 2, got {df!r}")
    scale = math.sqrt((df - 2.0) / df)
    q = float(stats.t.ppf(confidence, df))
    es = float(stats.t.pdf(q, df) * (df + q * q) / (df - 1.0) / (1.0 - confidence))
    return q * scale, es * scale


def predictive_var(
    returns: Any,
    confidence: float = 0.99,
    horizon: int = 1,
    *,
    method: str = "ewma",
    df: float | None = None,
    lam: float = RISKMETRICS_LAMBDA,
) -> VarEs:
    """Parametric VaR / ES with a *forecast* volatility (zero mean): ``σ̂_h · q_α`` of a unit-variance
    normal (``df=None``) or Student-t. Rises on the first days of a volatility cluster."""
    a = _confidence(confidence)
    sigma = forecast_volatility(returns, horizon, method=method, lam=lam)
    q, es = _std_quantiles(a, df)
    return VarEs(sigma * q, sigma * es)


# ---------------------------------------------------------------------------------------- Monte Carlo, GPD
def monte_carlo_var(
    sigma: float,
    confidence: float = 0.99,
    horizon: int = 1,
    *,
    df: float | None = 4.0,
    mu: float = 0.0,
    n_sims: int = 200_000,
    horizon_method: str = "sqrt",
    seed: int | None = 0,
) -> VarEs:
    """Monte Carlo VaR / ES with unit-variance Student-t (``df``) or normal (``df=None``) daily shocks.

    Daily return ``μ + σ·ε``; the horizon return is ``√h``-scaled (``"sqrt"``) or the sum of ``h``
    independent daily draws (``"overlapping"``: simulated paths; fat tails thin out with ``h``).

    Parameters
    ----------
    sigma : float
        Daily volatility (e.g. :func:`forecast_volatility`).
    n_sims : int
        Scenarios (the sampling error of a 99 % VaR with 200k draws is ~0.3 %).
    seed : int or None
        ``numpy.random.default_rng`` seed (reproducible by default).
    """
    a = _confidence(confidence)
    h = _horizon(horizon)
    s = float(float_array(sigma, "sigma", nonneg=True))
    m = float(float_array(mu, "mu"))
    if n_sims < 100:
        raise InvalidInput("n_sims", f"need at least 100 scenarios, got {n_sims}")
    rng = np.random.default_rng(seed)
    draws = h if _method(horizon_method) == "overlapping" else 1

    def shocks(size: tuple[int, ...]) -> np.ndarray:
        if df is None:
            return rng.standard_normal(size)
        if not df > 2:
            raise InvalidInput("df", f"Student-t degrees of freedom must exceed 2, got {df!r}")
        return rng.standard_t(df, size) * math.sqrt((df - 2.0) / df)

    eps = shocks((n_sims, draws)).sum(axis=1)
    r = m * h + s * (eps * math.sqrt(h) if draws == 1 else eps)
    return empirical_var_es(-r, a)


def gpd_var(
    returns: Any,
    confidence: float = 0.99,
    horizon: int = 1,
    *,
    threshold_quantile: float = 0.95,
    horizon_method: str = "sqrt",
) -> VarEs:
    """Peaks-over-threshold VaR / ES with a generalised Pareto tail (``scipy.stats.genpareto``).

    With threshold ``u`` (the ``threshold_quantile`` of the losses), ``N_u`` exceedances out of ``n``
    and fitted shape ``ξ`` and scale ``β`` (location 0),

    ``VaR = u + β/ξ·(((n/N_u)(1−α))^(−ξ) − 1)``, ``ES = (VaR + β − ξu)/(1 − ξ)`` (``ξ < 1``);
    ``ξ → 0`` uses the exponential limit ``u − β·ln((n/N_u)(1−α))``.
    """
    a = _confidence(confidence)
    if not 0.5 <= threshold_quantile < a:
        raise InvalidInput("threshold_quantile", f"must lie in [0.5, confidence), got {threshold_quantile!r}")
    rh = horizon_returns(returns, horizon, horizon_method)
    L = -rh
    u = float(np.quantile(L, threshold_quantile))
    exc = L[L > u] - u
    if exc.size < 20:
        raise InvalidInput("returns", f"only {exc.size} exceedances over the threshold; need at least 20")
    xi, _loc, beta = stats.genpareto.fit(exc, floc=0.0)
    if xi >= 1:
        raise InvalidInput("returns", f"fitted tail index ξ = {xi:.3f} ≥ 1: the expected shortfall is infinite")
    ratio = L.size / exc.size * (1.0 - a)
    var = u - beta * math.log(ratio) if abs(xi) < 1e-9 else u + beta / xi * (ratio ** (-xi) - 1.0)
    es = (var + beta - xi * u) / (1.0 - xi)
    return VarEs(float(var), float(es))


# ---------------------------------------------------------------------------------------- rolling and APC
def rolling_var(
    returns: Any, window: int, confidence: float = 0.99, *, method: str = "historical", lam: float = RISKMETRICS_LAMBDA
) -> np.ndarray:
    """VaR at each day ``t ≥ window`` from the preceding ``window`` returns (``historical`` or ``filtered``).

    Returns an array of length ``n − window + 1``; element ``i`` uses ``returns[i : i + window]`` and
    is the margin for day ``i + window``.
    """
    r = _returns(returns)
    a = _confidence(confidence)
    if not (isinstance(window, int) and 2 <= window <= r.size):
        raise InvalidInput("window", f"must be an int in [2, {r.size}], got {window!r}")
    if method == "historical":
        w = np.lib.stride_tricks.sliding_window_view(-r, window)
        k = max(1, math.ceil(window * a - 1e-9))
        return np.partition(w, k - 1, axis=1)[:, k - 1]
    if method == "filtered":
        out = np.empty(r.size - window + 1)
        for i in range(out.size):
            out[i] = filtered_historical_var(r[i : i + window], a, lam=lam).var
        return out
    raise InvalidInput("method", f"must be 'historical' or 'filtered', got {method!r}")


def stressed_floor(returns: Any, window: int = 250, confidence: float = 0.99) -> float:
    """The worst rolling historical VaR over a long lookback (e.g. 10 years): the stressed-period floor."""
    return float(rolling_var(returns, window, confidence).max())


def apc_floor(base: Any, floor: float) -> np.ndarray:
    """EMIR APC floor: ``max(base_t, floor)`` (floor from a 10-year lookback or stressed period)."""
    b = float_array(base, "base", nonneg=True)
    f = float(float_array(floor, "floor", nonneg=True))
    return np.maximum(b, f)


def apc_stressed_weight(base: Any, stressed: Any, weight: float = 0.25) -> np.ndarray:
    """EMIR APC: at least ``weight`` (25 %) on stressed observations, ``(1−w)·base + w·stressed``."""
    b = float_array(base, "base", nonneg=True)
    s = float_array(stressed, "stressed", nonneg=True)
    if not 0.25 <= weight <= 1:
        raise InvalidInput("weight", f"EMIR requires at least 25 % on stressed observations, got {weight!r}")
    return (1.0 - weight) * b + weight * s


def apc_buffer(
    base: Any,
    stress: Any | None = None,
    buffer: float = 0.25,
    *,
    trigger: float = 0.25,
    lookback: int = 20,
) -> np.ndarray:
    """EMIR APC margin buffer (≥ 25 %) that is **released in stress**.

    In normal times the margin is ``(1 + buffer)·base``. In stress the buffer absorbs increases: the
    margin stays at its previous level while that still covers the base requirement, and follows the
    base once it does not::

        normal:  M_t = (1 + b)·B_t
        stress:  M_t = max(B_t, min((1 + b)·B_t, M_{t−1}))

    Parameters
    ----------
    base : array_like
        The model's margin series ``B_t`` (e.g. :func:`rolling_var`).
    stress : array_like of bool, optional
        Stress flags; by default a day is in stress when ``B_t > (1 + trigger)·`` the median of the
        previous ``lookback`` days.
    buffer : float
        At least 0.25 (EMIR).

    Returns
    -------
    numpy.ndarray
        The margin series ``M_t``.
    """
    b = float_array(base, "base", nonneg=True)
    if b.ndim != 1 or b.size == 0:
        raise InvalidInput("base", "expected a non-empty 1-d series")
    if not buffer >= 0.25:
        raise InvalidInput("buffer", f"EMIR requires a buffer of at least 25 %, got {buffer!r}")
    if stress is None:
        flags = np.zeros(b.size, bool)
        for t in range(1, b.size):
            ref = np.median(b[max(0, t - lookback) : t])
            flags[t] = b[t] > (1.0 + trigger) * ref
    else:
        flags = np.asarray(stress, bool)
        if flags.shape != b.shape:
            raise InvalidInput("stress", f"expected shape {b.shape}, got {flags.shape}")
    m = np.empty_like(b)
    prev = (1.0 + buffer) * b[0]
    for t in range(b.size):
        full = (1.0 + buffer) * b[t]
        prev = max(b[t], min(full, prev)) if flags[t] else full
        m[t] = prev
    return m


def procyclicality(margin: Any) -> float:
    """Peak-to-trough ratio of a margin series (``max / min``; 1 = perfectly stable)."""
    m = float_array(margin, "margin", positive=True)
    return float(m.max() / m.min())


def margin_units(notional_units: Any, fraction: float) -> np.ndarray:
    """``⌈|notional| · fraction⌉`` in int64 base units, rounded **up**.

    The fraction is first rounded up to parts per billion; the product is then exact integer
    arithmetic (split as ``(n // 10⁹)·ppb + ⌈(n mod 10⁹)·ppb / 10⁹⌉`` so that it never overflows int64
    for notionals up to :data:`ramparts.fixedpoint.MAX_NOTIONAL` and fractions up to 9).
    """
    n = np.abs(np.asarray(notional_units, dtype=np.int64))
    f = float(float_array(fraction, "fraction", nonneg=True))
    if f > 9.0:
        raise InvalidInput("fraction", f"must not exceed 9 (900 % of notional), got {f!r}")
    ppb = math.ceil(f * 1e9 - 1e-6)
    g = 1_000_000_000
    hi, lo = np.divmod(n, g)
    if (hi > (2**62) // max(ppb, 1)).any():
        raise InvalidInput("notional_units", "notional × rate overflows int64")
    return hi * ppb - ((-lo * ppb) // g)
