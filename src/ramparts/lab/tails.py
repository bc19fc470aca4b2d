"""Fat tails and synthetic stress paths: the statistics behind ``ramparts stress``.

This module owns the crash lab's models of *extreme* price moves, used to stress margin models
beyond what history recorded:

Tail estimation
    :func:`fit_gpd_tail` fits a generalized Pareto distribution (GPD) to the exceedances of losses
    (or gains) over a high threshold, the peaks-over-threshold method of extreme-value theory, with
    :func:`scipy.stats.genpareto.fit` (location fixed at 0). :func:`gpd_var_es` turns the fit into
    value-at-risk and expected shortfall at any level beyond the threshold (McNeil and Frey, 2000).

Path generators
    Each is seeded by an ``int`` (a fresh :func:`numpy.random.default_rng` per call, so the same
    seed gives identical arrays) and returns **log returns** of shape ``(n_paths, n_steps)``;
    :func:`prices_from_log_returns` turns them into price paths.

    * :func:`jump_diffusion`: Merton's (1976) jump diffusion, Brownian motion plus compound-Poisson
      normal jumps in the log price.
    * :func:`garch_t_paths`: GARCH(1,1) with standardized Student-t innovations, the parameters given
      or fitted with the ``arch`` package (:func:`fit_garch_t`, ``arch_model(..., dist='t')``);
      simulation reproduces ``arch``'s own simulator draw for draw (vectorised across paths).
    * :func:`gpd_shock_paths`: a Gaussian body with shocks drawn from a fitted GPD tail.
    * :func:`scaled_historical_shock`: a historical path with its log moves from the start magnified
      (or damped) by a factor.

Conventions
-----------
Returns are log returns, ``r_t = ln(P_t / P_{t-1})``, as decimals. A *loss* is ``-r`` (a long
position's loss) and a *gain* is ``r`` (a short position's loss). Time steps are whatever the
parameters are expressed in (``dt`` for the jump diffusion, one observation for GARCH).

References
----------
.. [1] McNeil, A. J. and Frey, R. (2000). "Estimation of tail-related risk measures for
   heteroscedastic financial time series: an extreme value approach". *Journal of Empirical
   Finance* 7, 271-300.
.. [2] McNeil, A. J., Frey, R. and Embrechts, P. (2015). *Quantitative Risk Management*, 2nd ed.,
   section 5.2 (peaks over threshold).
.. [3] Merton, R. C. (1976). "Option pricing when underlying stock returns are discontinuous".
   *Journal of Financial Economics* 3, 125-144.
.. [4] Bollerslev, T. (1987). "A conditionally heteroskedastic time series model for speculative
   prices and rates of return". *Review of Economics and Statistics* 69, 542-547.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import stats

from ramparts.errors import DataError, InvalidInput

__all__ = [
    "GPDTail",
    "GarchTParams",
    "TailRisk",
    "fit_garch_t",
    "fit_gpd_tail",
    "garch_t_paths",
    "gpd_shock_paths",
    "gpd_var_es",
    "jump_diffusion",
    "prices_from_log_returns",
    "scaled_historical_shock",
]

#: Fewest exceedances :func:`fit_gpd_tail` accepts: below this a GPD fit is noise.
MIN_EXCEEDANCES = 10


# --------------------------------------------------------------------------------------------------
# validation helpers


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise InvalidInput("seed", f"must be a non-negative int, got {seed!r}")
    return np.random.default_rng(int(seed))


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise InvalidInput(field, f"must be a positive int, got {value!r}")
    return int(value)


def _finite(value: Any, field: str, *, lo: float | None = None, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInput(field, f"expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidInput(field, f"must be finite, got {value!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise InvalidInput(field, f"must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    return v


def _returns(returns: Any, field: str = "returns") -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise InvalidInput(field, f"must be one-dimensional, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise InvalidInput(field, "must be finite (no NaN or infinity)")
    return r


# --------------------------------------------------------------------------------------------------
# peaks over threshold


@dataclass(frozen=True)
class GPDTail:
    """A generalized Pareto fit to the exceedances over a threshold.

    The exceedances ``Y = X - u`` of the loss ``X`` over the threshold ``u`` are modelled as
    ``GPD(ξ, β)``: ``P(Y <= y) = 1 - (1 + ξ y / β)^(-1/ξ)`` (``1 - exp(-y / β)`` for ``ξ = 0``).

    Attributes
    ----------
    xi : float
        Shape ``ξ`` (scipy's ``c``). ``ξ > 0``: a power-law (fat) tail with tail index ``1/ξ``,
        moments of order ``>= 1/ξ`` infinite; ``ξ = 0``: exponential tail; ``ξ < 0``: bounded tail.
    scale : float
        Scale ``β > 0``, in the units of the returns.
    threshold : float
        The threshold ``u`` (in loss units: a positive ``u`` for ``side="loss"`` is a fall of ``u``).
    n_exceed : int
        Number of observations strictly above the threshold, ``N_u``.
    n_obs : int
        Sample size ``n`` the threshold was chosen from.
    side : {"loss", "gain"}
        Which tail: ``"loss"`` models ``-returns`` (falls), ``"gain"`` models ``returns`` (rises).
    threshold_quantile : float
        The empirical quantile the threshold was set at.
    """

    xi: float
    scale: float
    threshold: float
    n_exceed: int
    n_obs: int
    side: str = "loss"
    threshold_quantile: float = 0.95

    @property
    def exceed_prob(self) -> float:
        """Empirical probability of exceeding the threshold, ``N_u / n``."""
        return self.n_exceed / self.n_obs


class TailRisk(NamedTuple):
    """Value-at-risk and expected shortfall at one level; unpacks as ``(var, es)``.

    Both are in loss units (positive = a loss of that size, in the units of the returns).
    """

    var: float
    es: float


def fit_gpd_tail(returns: Any, threshold_quantile: float = 0.95, side: Literal["loss", "gain"] = "loss") -> GPDTail:
    """Fit a generalized Pareto distribution to one tail of a return sample (peaks over threshold).

    Parameters
    ----------
    returns : array_like
        Returns (log returns recommended), finite, one-dimensional.
    threshold_quantile : float
        The threshold ``u`` is the empirical quantile of the losses (or gains) at this level
        (``numpy.quantile``, linear interpolation). Default 0.95: the 5 % most extreme observations
        are fitted. Must lie in ``[0, 1)``.
    side : {"loss", "gain"}
        ``"loss"`` fits ``-returns`` (the left tail of returns, a long position's losses);
        ``"gain"`` fits ``returns`` (the right tail, a short position's losses).

    Returns
    -------
    GPDTail
        Shape, scale, threshold and counts.

    Raises
    ------
    InvalidInput
        For non-finite returns, a quantile outside ``[0, 1)``, an unknown side, or fewer than
        :data:`MIN_EXCEEDANCES` observations above the threshold.

    Notes
    -----
    The exceedances ``y = x[x > u] - u`` are fitted by maximum likelihood with
    ``scipy.stats.genpareto.fit(y, floc=0)``. The standard error of ``ξ`` is roughly
    ``(1 + ξ) / sqrt(N_u)`` (for ``ξ > -1/2``), so a few hundred exceedances are needed for a
    usable shape estimate.
    """
    r = _returns(returns)
    q = _finite(threshold_quantile, "threshold_quantile", lo=0.0)
    if q >= 1.0:
        raise InvalidInput("threshold_quantile", f"must be below 1, got {threshold_quantile!r}")
    if side not in ("loss", "gain"):
        raise InvalidInput("side", f"must be 'loss' or 'gain', got {side!r}")
    x = -r if side == "loss" else r
    u = float(np.quantile(x, q))
    y = x[x > u] - u
    if len(y) < MIN_EXCEEDANCES:
        raise InvalidInput("returns", f"only {len(y)} observations exceed the {q:.3g} quantile; "
                                      f"at least {MIN_EXCEEDANCES} are needed for a GPD fit")
    xi, _, beta = stats.genpareto.fit(y, floc=0.0)
    return GPDTail(xi=float(xi), scale=float(beta), threshold=u, n_exceed=int(len(y)), n_obs=int(len(x)),
                   side=side, threshold_quantile=q)


def gpd_var_es(fit: GPDTail, n: int | None = None, q: float = 0.99) -> TailRisk:
    """Peaks-over-threshold value-at-risk and expected shortfall (McNeil and Frey, 2000).

    With threshold ``u``, ``N_u`` exceedances in ``n`` observations and GPD parameters ``(ξ, β)``:

    .. math::

        \\mathrm{VaR}_q = u + \\frac{β}{ξ}\\left[\\left(\\frac{n}{N_u}(1-q)\\right)^{-ξ} - 1\\right],
        \\qquad
        \\mathrm{ES}_q = \\frac{\\mathrm{VaR}_q}{1-ξ} + \\frac{β - ξu}{1-ξ},

    and, for ``ξ = 0``, ``VaR_q = u - β ln(n (1-q) / N_u)`` and ``ES_q = VaR_q + β``.

    Parameters
    ----------
    fit : GPDTail
        A fit from :func:`fit_gpd_tail`.
    n : int, optional
        Sample size ``n``; defaults to ``fit.n_obs`` (the sample the threshold came from).
    q : float
        Confidence level, beyond the threshold: ``1 - q < N_u / n`` (e.g. 0.99 or 0.999 for a 95 %
        threshold).

    Returns
    -------
    TailRisk
        ``(var, es)`` in loss units.

    Raises
    ------
    InvalidInput
        If ``q`` is not in (0, 1) or does not lie beyond the threshold, or ``n < N_u``, or
        ``ξ >= 1`` (the expected shortfall is infinite).
    """
    if not isinstance(fit, GPDTail):
        raise InvalidInput("fit", f"expected a GPDTail, got {type(fit).__name__}")
    level = _finite(q, "q", lo=0.0, lo_open=True)
    if level >= 1.0:
        raise InvalidInput("q", f"must be below 1, got {q!r}")
    total = fit.n_obs if n is None else _positive_int(n, "n")
    if total < fit.n_exceed:
        raise InvalidInput("n", f"cannot be smaller than the number of exceedances ({total} < {fit.n_exceed})")
    tail = fit.n_exceed / total
    if 1.0 - level >= tail:
        raise InvalidInput("q", f"{level} is not beyond the threshold: 1 - q must be below N_u / n = {tail:.4g}")
    xi, beta, u = fit.xi, fit.scale, fit.threshold
    ratio = (1.0 - level) / tail
    if abs(xi) < 1e-12:
        var = u - beta * math.log(ratio)
        return TailRisk(var, var + beta)
    var = u + beta / xi * (ratio ** (-xi) - 1.0)
    if xi >= 1.0:
        raise InvalidInput("fit", f"the expected shortfall is infinite for ξ >= 1 (ξ = {xi:.3g})")
    es = var / (1.0 - xi) + (beta - xi * u) / (1.0 - xi)
    return TailRisk(var, es)


# --------------------------------------------------------------------------------------------------
# path generators


def prices_from_log_returns(s0: float, log_returns: Any) -> np.ndarray:
    """Price paths from log returns: ``P_0 = s0``, ``P_t = s0 · exp(r_1 + ... + r_t)``.

    Parameters
    ----------
    s0 : float
        Starting price (positive).
    log_returns : array_like
        Shape ``(n_steps,)`` or ``(n_paths, n_steps)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_steps + 1,)`` or ``(n_paths, n_steps + 1)``; the first column is ``s0``.
    """
    start = _finite(s0, "s0", lo=0.0, lo_open=True)
    r = np.asarray(log_returns, dtype=np.float64)
    if r.ndim not in (1, 2) or not np.all(np.isfinite(r)):
        raise InvalidInput("log_returns", "must be a finite 1-D or 2-D array")
    cum = np.cumsum(r, axis=-1)
    zero = np.zeros(r.shape[:-1] + (1,))
    return start * np.exp(np.concatenate([zero, cum], axis=-1))


def jump_diffusion(
    n_steps: int,
    n_paths: int = 1,
    seed: int = 0,
    *,
    sigma: float,
    lam: float,
    jump_mean: float,
    jump_std: float,
    mu: float = 0.0,
    dt: float = 1.0 / 365.0,
) -> np.ndarray:
    """Log returns of Merton's jump diffusion.

    The price follows ``dS/S = (μ - λκ) dt + σ dW + (J - 1) dN`` with ``N`` a Poisson process of
    intensity ``λ`` and ``ln J ~ Normal(m, δ²)``, ``κ = E[J - 1] = exp(m + δ²/2) - 1`` (the drift is
    compensated so that ``E[S_t] = S_0 e^{μt}``). Each step's log return is exactly

    .. math::

        r = (μ - σ^2/2 - λκ)\\,dt + σ\\sqrt{dt}\\,Z + \\sum_{k=1}^{N_{dt}} Y_k,
        \\quad N_{dt} \\sim \\mathrm{Poisson}(λ\\,dt),\\ Y_k \\sim N(m, δ^2),

    with mean ``(μ - σ²/2 - λκ) dt + λ dt m`` and variance ``σ² dt + λ dt (δ² + m²)``.

    Parameters
    ----------
    n_steps, n_paths : int
        Shape of the output.
    seed : int
        Seed of the generator (same seed, same arrays).
    sigma : float
        Diffusion volatility ``σ >= 0`` per unit of time (annualised with the default ``dt``).
    lam : float
        Jump intensity ``λ >= 0``: expected jumps per unit of time.
    jump_mean, jump_std : float
        Mean ``m`` and standard deviation ``δ >= 0`` of the log jump size (``m = -0.1`` is a typical
        10 % crash).
    mu : float
        Expected rate of return ``μ`` per unit of time (default 0).
    dt : float
        Length of a step in units of time (default ``1/365``: daily steps with annual parameters).

    Returns
    -------
    numpy.ndarray
        Log returns, shape ``(n_paths, n_steps)``.

    Raises
    ------
    InvalidInput
        For a non-positive size or ``dt``, a negative ``σ``, ``λ`` or ``δ``, non-finite values or a
        bad seed.
    """
    n = _positive_int(n_steps, "n_steps")
    m_paths = _positive_int(n_paths, "n_paths")
    rng = _rng(seed)
    s = _finite(sigma, "sigma", lo=0.0)
    la = _finite(lam, "lam", lo=0.0)
    m = _finite(jump_mean, "jump_mean")
    d = _finite(jump_std, "jump_std", lo=0.0)
    mu_ = _finite(mu, "mu")
    h = _finite(dt, "dt", lo=0.0, lo_open=True)
    kappa = math.expm1(m + 0.5 * d * d)
    drift = (mu_ - 0.5 * s * s - la * kappa) * h
    z = rng.standard_normal((m_paths, n))
    counts = rng.poisson(la * h, (m_paths, n))
    zj = rng.standard_normal((m_paths, n))
    jumps = counts * m + np.sqrt(counts) * d * zj  # the sum of N normal jumps is N(N m, N δ²)
    return drift + s * math.sqrt(h) * z + jumps


@dataclass(frozen=True)
class GarchTParams:
    """GARCH(1,1) parameters with standardized Student-t innovations, in return units.

    ``r_t = μ + ε_t``, ``ε_t = σ_t z_t``, ``σ_t² = ω + α ε_{t-1}² + β σ_{t-1}²``, ``z_t`` a Student-t
    with ``ν`` degrees of freedom scaled to unit variance.

    Attributes
    ----------
    mu : float
        Mean return per step.
    omega : float
        ``ω > 0`` (squared return units).
    alpha, beta : float
        ``α, β >= 0`` with ``α + β < 1`` (covariance stationarity).
    nu : float
        Degrees of freedom ``ν > 2``.

    Raises
    ------
    InvalidInput
        On construction, if a constraint is violated.
    """

    mu: float
    omega: float
    alpha: float
    beta: float
    nu: float

    def __post_init__(self) -> None:
        _finite(self.mu, "mu")
        _finite(self.omega, "omega", lo=0.0, lo_open=True)
        _finite(self.alpha, "alpha", lo=0.0)
        _finite(self.beta, "beta", lo=0.0)
        _finite(self.nu, "nu", lo=2.0, lo_open=True)
        if self.alpha + self.beta >= 1.0:
            raise InvalidInput("beta", f"alpha + beta must be below 1 for a stationary GARCH, got {self.alpha + self.beta:.6g}")

    @property
    def persistence(self) -> float:
        """``α + β``: how slowly a volatility shock decays (half-life ``ln 0.5 / ln(α + β)`` steps)."""
        return self.alpha + self.beta

    @property
    def unconditional_variance(self) -> float:
        """Long-run variance of a step's return, ``ω / (1 - α - β)``."""
        return self.omega / (1.0 - self.alpha - self.beta)


def fit_garch_t(returns: Any, *, mean: Literal["constant", "zero"] = "constant", rescale: float = 100.0,
                max_persistence: float | None = None) -> GarchTParams:
    """Fit a GARCH(1,1) with Student-t innovations by maximum likelihood, with the ``arch`` package.

    Parameters
    ----------
    returns : array_like
        Returns per step (decimal log returns), at least 100 of them.
    mean : {"constant", "zero"}
        Constant mean ``μ`` estimated, or fixed at 0.
    rescale : float
        The returns are multiplied by this before fitting (``arch``'s optimiser is best conditioned
        for returns of order 1, i.e. in percent) and the parameters scaled back (``μ / c``,
        ``ω / c²``). Default 100.

    Returns
    -------
    GarchTParams
        In the units of ``returns``.

    Raises
    ------
    InvalidInput
        Non-finite or too few returns, or a bad ``mean``/``rescale``.
    DataError
        If the optimiser does not converge, or converges outside the stationary region (and
        ``max_persistence`` is not given).

    Notes
    -----
    Calls ``arch.arch_model(c * returns, mean="Constant" | "Zero", vol="GARCH", p=1, q=1,
    dist="t", rescale=False).fit(disp="off")``.

    Bitcoin returns at hourly and daily frequency fit an *integrated* GARCH (``α + β`` on the
    boundary 1; seen on every series of the shipped data), which has no stationary distribution
    to simulate from. With ``max_persistence`` (e.g. 0.995), such a fit is projected inside the
    stationary region: ``β`` becomes ``max_persistence − α`` and ``ω`` is re-targeted so that the
    unconditional variance equals the sample variance, ``ω = var(r) · (1 − max_persistence)``.
    ``α`` and ``ν`` (the reaction to shocks and the tail) are kept as fitted.
    """
    from arch import arch_model

    r = _returns(returns)
    if len(r) < 100:
        raise InvalidInput("returns", f"at least 100 returns are needed to fit a GARCH, got {len(r)}")
    if mean not in ("constant", "zero"):
        raise InvalidInput("mean", f"must be 'constant' or 'zero', got {mean!r}")
    c = _finite(rescale, "rescale", lo=0.0, lo_open=True)
    am = arch_model(c * r, mean="Constant" if mean == "constant" else "Zero", vol="GARCH", p=1, q=1, dist="t",
                    rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = am.fit(disp="off", show_warning=False)
    if res.convergence_flag != 0:
        raise DataError(f"the GARCH(1,1)-t fit did not converge (optimiser flag {res.convergence_flag})")
    pr = res.params
    omega, alpha, beta = float(pr["omega"]) / c**2, float(pr["alpha[1]"]), float(pr["beta[1]"])
    if max_persistence is not None:
        cap = _finite(max_persistence, "max_persistence", lo=0.0, lo_open=True)
        if cap >= 1.0:
            raise InvalidInput("max_persistence", f"must be below 1, got {cap}")
        if alpha + beta >= cap:
            alpha = min(alpha, cap)
            beta = cap - alpha
            omega = float(np.var(r)) * (1.0 - cap)
    try:
        return GarchTParams(mu=float(pr["mu"]) / c if mean == "constant" else 0.0, omega=omega,
                            alpha=alpha, beta=beta, nu=float(pr["nu"]))
    except InvalidInput as exc:
        raise DataError(f"the GARCH(1,1)-t fit is not usable for simulation: {exc}") from None


def garch_t_paths(
    n_steps: int,
    n_paths: int = 1,
    seed: int = 0,
    *,
    params: GarchTParams | None = None,
    returns: Any = None,
    burn: int = 500,
    engine: Literal["numpy", "arch"] = "numpy",
) -> np.ndarray:
    """Simulate GARCH(1,1)-t log returns, from given parameters or from a fit to ``returns``.

    Parameters
    ----------
    n_steps, n_paths : int
        Shape of the output.
    seed : int
        Seed of the generator (same seed, same arrays).
    params : GarchTParams, optional
        The model. Exactly one of ``params`` and ``returns`` must be given.
    returns : array_like, optional
        Historical returns to fit the model to first (:func:`fit_garch_t`, constant mean).
    burn : int
        Steps simulated and discarded before the output, so that paths start from the stationary
        distribution rather than from the unconditional variance (default 500; 0 allowed).
    engine : {"numpy", "arch"}
        ``"arch"`` calls ``arch``'s ``GARCH.simulate`` once per path (the reference);
        ``"numpy"`` (default) runs the same recursion vectorised across paths and is much faster.
        Both consume the generator identically, so they return the same numbers.

    Returns
    -------
    numpy.ndarray
        Log returns, shape ``(n_paths, n_steps)``.

    Raises
    ------
    InvalidInput
        For bad sizes, seed, or not exactly one of ``params`` / ``returns``.
    DataError
        If fitting ``returns`` fails (see :func:`fit_garch_t`).

    Notes
    -----
    The recursion follows ``arch``: the first variance is the unconditional one,
    ``σ_0² = ω / (1 - α - β)``; then ``ε_t = σ_t z_t`` and
    ``σ_{t+1}² = ω + α ε_t² + β σ_t²``. Innovations are ``arch``'s ``StudentsT`` draws,
    ``standard_t(ν) / sqrt(ν / (ν - 2))``, taken path after path from one generator seeded with
    ``seed``; each path uses ``burn + n_steps`` of them.
    """
    from arch.univariate import GARCH, StudentsT

    n = _positive_int(n_steps, "n_steps")
    m_paths = _positive_int(n_paths, "n_paths")
    if isinstance(burn, bool) or not isinstance(burn, (int, np.integer)) or burn < 0:
        raise InvalidInput("burn", f"must be a non-negative int, got {burn!r}")
    if (params is None) == (returns is None):
        raise InvalidInput("params", "give exactly one of params= and returns=")
    if engine not in ("numpy", "arch"):
        raise InvalidInput("engine", f"must be 'numpy' or 'arch', got {engine!r}")
    p = params if params is not None else fit_garch_t(returns)
    if not isinstance(p, GarchTParams):
        raise InvalidInput("params", f"expected GarchTParams, got {type(p).__name__}")
    rng = _rng(seed)
    simulator = StudentsT(seed=rng).simulate([p.nu])
    total = n + int(burn)
    if engine == "arch":
        vol = GARCH(p=1, q=1)
        out = np.empty((m_paths, n))
        for i in range(m_paths):
            data, _ = vol.simulate([p.omega, p.alpha, p.beta], n, simulator, burn=int(burn))
            out[i] = data
        return p.mu + out
    z = simulator((m_paths, total))
    eps = np.empty((m_paths, total))
    var = np.full(m_paths, p.unconditional_variance)
    for t in range(total):
        eps[:, t] = np.sqrt(var) * z[:, t]
        var = p.omega + p.alpha * eps[:, t] ** 2 + p.beta * var
    return p.mu + eps[:, int(burn):]


def gpd_shock_paths(
    fit: GPDTail,
    n_steps: int,
    n_paths: int = 1,
    seed: int = 0,
    *,
    shock_prob: float | None = None,
    body_sigma: float = 0.0,
    drift: float = 0.0,
) -> np.ndarray:
    """Log returns made of a Gaussian body plus shocks drawn from a fitted GPD tail.

    Each step's log return is ``drift + body_sigma · Z + S`` where, with probability
    ``shock_prob``, ``S = ∓(u + Y)`` with ``Y ~ GPD(ξ, β)`` from ``fit`` (the sign makes a loss for
    ``side="loss"`` and a gain for ``side="gain"``), and ``S = 0`` otherwise. A shock is therefore
    distributed exactly as the fitted tail: beyond the threshold, with the fitted shape.

    Parameters
    ----------
    fit : GPDTail
        The tail to draw shocks from (fitted on log returns).
    n_steps, n_paths : int
        Shape of the output.
    seed : int
        Seed of the generator (same seed, same arrays).
    shock_prob : float, optional
        Probability of a shock per step, in ``[0, 1]``. Default: the fitted exceedance frequency
        ``N_u / n``, so that shocks arrive as often as in the data the tail came from.
    body_sigma : float
        Standard deviation of the Gaussian body per step (default 0: shocks only).
    drift : float
        Constant log return per step (default 0).

    Returns
    -------
    numpy.ndarray
        Log returns, shape ``(n_paths, n_steps)``.

    Raises
    ------
    InvalidInput
        For a bad fit object, sizes, seed or parameters.
    """
    if not isinstance(fit, GPDTail):
        raise InvalidInput("fit", f"expected a GPDTail, got {type(fit).__name__}")
    n = _positive_int(n_steps, "n_steps")
    m_paths = _positive_int(n_paths, "n_paths")
    rng = _rng(seed)
    prob = fit.exceed_prob if shock_prob is None else _finite(shock_prob, "shock_prob", lo=0.0)
    if prob > 1.0:
        raise InvalidInput("shock_prob", f"must be at most 1, got {shock_prob!r}")
    sig = _finite(body_sigma, "body_sigma", lo=0.0)
    mu = _finite(drift, "drift")
    body = rng.standard_normal((m_paths, n))
    hit = rng.random((m_paths, n)) < prob
    size = fit.threshold + stats.genpareto.rvs(fit.xi, loc=0.0, scale=fit.scale, size=(m_paths, n), random_state=rng)
    sign = -1.0 if fit.side == "loss" else 1.0
    return mu + sig * body + np.where(hit, sign * size, 0.0)


def scaled_historical_shock(path: Any, scale: float) -> Any:
    """Magnify (or damp) a historical path's moves: ``P'_t = P_0 · (P_t / P_0)^scale``.

    Every log move measured from the first observation is multiplied by ``scale``; ``scale = 2``
    turns a 30 % fall (``ln 0.7``) into a 51 % one (``0.7² = 0.49``), ``scale = 1`` returns the path
    unchanged and ``scale = 0`` a flat one. Prices stay positive for any scale.

    Parameters
    ----------
    path : array_like, PricePath or Candles
        Prices (1-D), a :class:`~ramparts.lab.paths.PricePath`, or
        :class:`~ramparts.lab.history.Candles` (open, high, low and close are all transformed,
        anchored at the first open; the transform is increasing, so the OHLC ordering is kept).
    scale : float
        Non-negative factor.

    Returns
    -------
    numpy.ndarray, PricePath or Candles
        The same kind of object as ``path``, with transformed prices (timestamps and metadata kept).

    Raises
    ------
    InvalidInput
        For a negative or non-finite scale, or non-positive/non-finite prices.
    """
    from ramparts.lab.history import Candles
    from ramparts.lab.paths import PricePath

    k = _finite(scale, "scale", lo=0.0)

    def transform(p: np.ndarray, anchor: float) -> np.ndarray:
        return anchor * np.exp(k * np.log(p / anchor))

    if isinstance(path, PricePath):
        return replace(path, price=transform(path.price, float(path.price[0])))
    if isinstance(path, Candles):
        a = float(path.open[0])
        return replace(path, open=transform(path.open, a), high=transform(path.high, a),
                       low=transform(path.low, a), close=transform(path.close, a))
    p = np.asarray(path, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0:
        raise InvalidInput("path", f"must be a non-empty 1-D price array, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise InvalidInput("path", "prices must be positive and finite")
    return transform(p, float(p[0]))
