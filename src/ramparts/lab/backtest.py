"""Margin backtesting statistics: was a margin requirement exceeded as often as its coverage promises?

This module owns the statistics that judge a margin model against realised price moves, the same
tests a bank applies to its value-at-risk model:

* :func:`exceedances`: the hit sequence ``I_t = 1{loss_t > requirement_t}``.
* :func:`kupiec_pof`: Kupiec's (1995) proportion-of-failures likelihood-ratio test of *unconditional
  coverage* (are there as many hits as ``1 - coverage`` predicts?).
* :func:`christoffersen_independence`: Christoffersen's (1998) Markov test of *independence* (do hits
  cluster?), and :func:`christoffersen_conditional_coverage`, the joint test of both.
* :func:`basel_traffic_light`: the Basel Committee's (1996) green/yellow/red zones, computed from
  binomial cumulative probabilities so that it reproduces the supervisory table for 250 days at 99 %
  and extends to any sample size and coverage.
* :func:`backtest_margin`: one call from a price series and a requirement (a fraction of notional)
  to the realised losses of a long and a short position over a horizon, their hits and all the
  tests, in a :class:`MarginBacktest`.
* :func:`backtest_path`: how its prices are made (the series' closes, one a bar, through the lab's one
  path maker :func:`ramparts.lab.paths.price_path`), with the finer series that ship for the window and
  the bar extremes they do not confirm; the report and ``backtest.json`` (``price_path``) state it.

Distributions come from :mod:`scipy.stats` (``chi2``, ``binom``); likelihoods use
:func:`scipy.special.xlogy` so that the ``0 · log 0 = 0`` convention holds at the boundaries (no
hit, or all hits).

References
----------
.. [1] Kupiec, P. (1995). "Techniques for verifying the accuracy of risk measurement models".
   *Journal of Derivatives* 3(2), 73-84.
.. [2] Christoffersen, P. (1998). "Evaluating interval forecasts". *International Economic Review*
   39(4), 841-862.
.. [3] Basel Committee on Banking Supervision (1996). "Supervisory framework for the use of
   'backtesting' in conjunction with the internal models approach to market risk capital
   requirements".
.. [4] Jorion, P. (2007). *Value at Risk*, 3rd ed., chapter 6 (model verification).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats
from scipy.special import xlogy

from ramparts.errors import InvalidInput

__all__ = [
    "MARGIN_MODELS",
    "requirement_series",
    "LRTest",
    "MarginBacktest",
    "SideBacktest",
    "backtest_margin",
    "backtest_path",
    "basel_traffic_light",
    "christoffersen_conditional_coverage",
    "christoffersen_independence",
    "exceedances",
    "kupiec_pof",
    "transition_counts",
    "write_backtest_report",
]

#: Basel zone boundaries on the binomial cumulative probability ``P(X <= x)``.
BASEL_YELLOW = 0.95
BASEL_RED = 0.9999


class LRTest(NamedTuple):
    """A likelihood-ratio test result; unpacks as ``(statistic, pvalue)``.

    Attributes
    ----------
    statistic : float
        The LR statistic, ``-2 log(L0 / L1)`` (non-negative).
    pvalue : float
        Its asymptotic chi-squared p-value; a small value rejects the model.
    """

    statistic: float
    pvalue: float


def _coverage(coverage: float) -> float:
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float, np.floating)):
        raise InvalidInput("coverage", f"expected a number in (0, 1), got {coverage!r}")
    c = float(coverage)
    if not (0.0 < c < 1.0):
        raise InvalidInput("coverage", f"must lie strictly between 0 and 1, got {coverage!r}")
    return c


def _count(value: Any, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInput(field, f"expected an integer, got {value!r}")
    v = int(value)
    if v < minimum:
        raise InvalidInput(field, f"must be at least {minimum}, got {v}")
    return v


def _hits(hits: Any) -> np.ndarray:
    h = np.asarray(hits)
    if h.ndim != 1:
        raise InvalidInput("hits", f"must be one-dimensional, got shape {h.shape}")
    if h.dtype == bool:
        return h
    if not np.issubdtype(h.dtype, np.number) or not np.all(np.isin(h, (0, 1))):
        raise InvalidInput("hits", "must hold only booleans or 0/1")
    return h.astype(bool)


def exceedances(losses: Any, requirements: Any) -> np.ndarray:
    """The hit sequence: where a realised loss exceeded the requirement set against it.

    Parameters
    ----------
    losses : array_like
        Realised losses (positive = loss), e.g. as fractions of notional.
    requirements : array_like or float
        The requirements in the same unit, one per loss or a single value for all.

    Returns
    -------
    numpy.ndarray of bool
        ``losses > requirements`` element-wise. A loss *equal* to the requirement is covered (the
        margin is exactly used up) and is not a hit.

    Raises
    ------
    InvalidInput
        If the inputs contain NaN or infinities, a requirement is negative, or the shapes differ.
    """
    loss = np.asarray(losses, dtype=np.float64)
    req = np.asarray(requirements, dtype=np.float64)
    if loss.ndim != 1:
        raise InvalidInput("losses", f"must be one-dimensional, got shape {loss.shape}")
    if req.ndim == 0:
        req = np.full(loss.shape, float(req))
    if req.shape != loss.shape:
        raise InvalidInput("requirements", f"shape {req.shape} does not match losses {loss.shape}")
    if not np.all(np.isfinite(loss)):
        raise InvalidInput("losses", "must be finite")
    if not np.all(np.isfinite(req)) or np.any(req < 0):
        raise InvalidInput("requirements", "must be finite and non-negative")
    return loss > req


def kupiec_pof(n_obs: int, n_exceed: int, coverage: float = 0.99) -> LRTest:
    """Kupiec's proportion-of-failures (unconditional coverage) likelihood-ratio test.

    Under the null hypothesis the number of exceedances ``x`` in ``T`` independent observations is
    binomial with probability ``p = 1 - coverage``. The statistic compares that likelihood with the
    one at the observed frequency ``x / T``:

    .. math::

        LR_{POF} = -2 \\ln\\left[(1-p)^{T-x} p^x\\right]
                   + 2 \\ln\\left[(1-x/T)^{T-x} (x/T)^x\\right] \\sim \\chi^2_1 .

    Parameters
    ----------
    n_obs : int
        Number of observations ``T`` (at least 1).
    n_exceed : int
        Number of exceedances ``x``, ``0 <= x <= T``.
    coverage : float
        The requirement's coverage level (0.99 for a 99 % requirement); ``p = 1 - coverage``.

    Returns
    -------
    LRTest
        ``(statistic, pvalue)`` with the chi-squared(1) p-value.

    Raises
    ------
    InvalidInput
        For a count that is not an integer, out of range, or a coverage outside (0, 1).

    Notes
    -----
    With ``T = 255`` and ``p = 0.01`` the test does not reject at the 5 % level for
    ``1 <= x <= 6`` (Jorion's table, ``N < 7``). ``x = 0`` is (just) rejected, LR = 5.13: too *few*
    exceedances also contradict the model, here by showing it to be conservative.

    Examples
    --------
    >>> round(kupiec_pof(250, 10, 0.99).statistic, 3)
    12.955
    """
    t = _count(n_obs, "n_obs", 1)
    x = _count(n_exceed, "n_exceed", 0)
    if x > t:
        raise InvalidInput("n_exceed", f"cannot exceed n_obs ({x} > {t})")
    p = 1.0 - _coverage(coverage)
    phat = x / t
    log_l0 = xlogy(t - x, 1.0 - p) + xlogy(x, p)
    log_l1 = xlogy(t - x, 1.0 - phat) + xlogy(x, phat)
    lr = max(0.0, float(-2.0 * (log_l0 - log_l1)))
    return LRTest(lr, float(stats.chi2.sf(lr, 1)))


def transition_counts(hits: Any) -> tuple[int, int, int, int]:
    """Counts of the first-order transitions of a hit sequence.

    Parameters
    ----------
    hits : array_like of bool or 0/1

    Returns
    -------
    (n00, n01, n10, n11) : tuple of int
        ``nij`` is the number of times state ``i`` (0 = no hit, 1 = hit) is followed by state ``j``;
        they add up to ``len(hits) - 1``.
    """
    h = _hits(hits).astype(np.int64)
    prev, nxt = h[:-1], h[1:]
    n11 = int(np.sum(prev & nxt))
    n10 = int(np.sum(prev & (1 - nxt)))
    n01 = int(np.sum((1 - prev) & nxt))
    n00 = len(prev) - n11 - n10 - n01
    return n00, n01, n10, n11


def _markov_loglik(n00: int, n01: int, n10: int, n11: int) -> float:
    """Log-likelihood of the transitions under the fitted first-order Markov chain."""
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    return float(xlogy(n00, 1.0 - pi01) + xlogy(n01, pi01) + xlogy(n10, 1.0 - pi11) + xlogy(n11, pi11))


def christoffersen_independence(hits: Any) -> LRTest:
    """Christoffersen's likelihood-ratio test that hits do not cluster (first-order Markov alternative).

    With ``nij`` the transition counts (see :func:`transition_counts`),
    ``π01 = n01 / (n00 + n01)``, ``π11 = n11 / (n10 + n11)`` and ``π = (n01 + n11) / (T - 1)``:

    .. math::

        LR_{ind} = -2 \\ln\\left[(1-π)^{n_{00}+n_{10}} π^{n_{01}+n_{11}}\\right]
                   + 2 \\ln\\left[(1-π_{01})^{n_{00}} π_{01}^{n_{01}} (1-π_{11})^{n_{10}} π_{11}^{n_{11}}\\right]
                   \\sim \\chi^2_1 .

    Parameters
    ----------
    hits : array_like of bool or 0/1
        The hit sequence, in time order (at least two observations).

    Returns
    -------
    LRTest
        ``(statistic, pvalue)``, chi-squared(1). A sequence without a hit (or with only hits) gives 0.

    Raises
    ------
    InvalidInput
        If ``hits`` is not a 1-D sequence of booleans/0-1 of length at least 2.
    """
    h = _hits(hits)
    if len(h) < 2:
        raise InvalidInput("hits", f"needs at least two observations, got {len(h)}")
    n00, n01, n10, n11 = transition_counts(h)
    n = n00 + n01 + n10 + n11
    pi = (n01 + n11) / n
    log_l0 = float(xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi))
    lr = max(0.0, -2.0 * (log_l0 - _markov_loglik(n00, n01, n10, n11)))
    return LRTest(lr, float(stats.chi2.sf(lr, 1)))


def christoffersen_conditional_coverage(hits: Any, coverage: float = 0.99) -> LRTest:
    """Christoffersen's joint test of correct coverage *and* independence.

    .. math::

        LR_{cc} = -2 \\ln\\left[(1-p)^{n_{00}+n_{10}} p^{n_{01}+n_{11}}\\right]
                  + 2 \\ln \\hat L_{Markov} \\sim \\chi^2_2 ,

    computed on the ``T - 1`` transitions, so that ``LR_cc`` equals exactly the Kupiec statistic of
    ``hits[1:]`` plus :func:`christoffersen_independence` of ``hits`` (the usual decomposition
    ``LR_cc = LR_pof + LR_ind``, which is otherwise only approximate).

    Parameters
    ----------
    hits : array_like of bool or 0/1
        The hit sequence (at least two observations).
    coverage : float
        The coverage level; ``p = 1 - coverage``.

    Returns
    -------
    LRTest
        ``(statistic, pvalue)``, chi-squared(2).
    """
    h = _hits(hits)
    if len(h) < 2:
        raise InvalidInput("hits", f"needs at least two observations, got {len(h)}")
    p = 1.0 - _coverage(coverage)
    n00, n01, n10, n11 = transition_counts(h)
    log_l0 = float(xlogy(n00 + n10, 1.0 - p) + xlogy(n01 + n11, p))
    lr = max(0.0, -2.0 * (log_l0 - _markov_loglik(n00, n01, n10, n11)))
    return LRTest(lr, float(stats.chi2.sf(lr, 2)))


def basel_traffic_light(n_exceed: int, n_obs: int = 250, coverage: float = 0.99) -> str:
    """The Basel traffic-light zone of an exceedance count.

    The zone depends on the binomial cumulative probability ``P(X <= n_exceed)`` with
    ``X ~ Binomial(n_obs, 1 - coverage)``: **green** below 95 %, **yellow** from 95 % to below
    99.99 %, **red** from 99.99 %. For 250 observations at 99 % this gives the supervisory table:
    green 0-4, yellow 5-9, red 10 or more.

    Parameters
    ----------
    n_exceed : int
        Number of exceedances (``0 <= n_exceed <= n_obs``).
    n_obs : int
        Number of observations (default 250, one year of trading days).
    coverage : float
        Coverage level of the requirement (default 0.99).

    Returns
    -------
    {"green", "yellow", "red"}

    Raises
    ------
    InvalidInput
        For a non-integer or out-of-range count, or a coverage outside (0, 1).
    """
    t = _count(n_obs, "n_obs", 1)
    x = _count(n_exceed, "n_exceed", 0)
    if x > t:
        raise InvalidInput("n_exceed", f"cannot exceed n_obs ({x} > {t})")
    cdf = float(stats.binom.cdf(x, t, 1.0 - _coverage(coverage)))
    if cdf < BASEL_YELLOW:
        return "green"
    if cdf < BASEL_RED:
        return "yellow"
    return "red"


@dataclass(frozen=True, eq=False)
class SideBacktest:
    """The backtest of one side (long or short).

    Attributes
    ----------
    side : {"long", "short"}
    losses : numpy.ndarray
        Realised loss per observation as a fraction of the notional at its start (negative = gain).
    requirements : numpy.ndarray
        The requirement (fraction of notional) set at the start of each observation.
    hits : numpy.ndarray of bool
        ``losses > requirements``.
    n_obs, n_exceed : int
        Number of observations and of hits.
    kupiec : LRTest
        :func:`kupiec_pof` of the counts.
    independence : LRTest or None
        :func:`christoffersen_independence` (``None`` with fewer than two observations).
    conditional_coverage : LRTest or None
        :func:`christoffersen_conditional_coverage` (``None`` with fewer than two observations).
    traffic_light : str
        :func:`basel_traffic_light` for ``(n_exceed, n_obs, coverage)``.
    """

    side: str
    losses: np.ndarray
    requirements: np.ndarray
    hits: np.ndarray
    n_obs: int
    n_exceed: int
    kupiec: LRTest
    independence: LRTest | None
    conditional_coverage: LRTest | None
    traffic_light: str

    @property
    def exceed_rate(self) -> float:
        """Observed exceedance frequency ``n_exceed / n_obs``."""
        return self.n_exceed / self.n_obs


@dataclass(frozen=True, eq=False)
class MarginBacktest:
    """Result of :func:`backtest_margin`.

    Attributes
    ----------
    horizon : int
        Number of price steps each loss is measured over.
    coverage : float
        Coverage the requirement claims.
    overlapping : bool
        Whether observations start at every step (overlapping windows) or every ``horizon`` steps.
    worst_within_horizon : bool
        Whether losses are the worst point inside the horizon rather than its end.
    start_index : numpy.ndarray of int
        Index into ``prices`` where each observation starts.
    long, short : SideBacktest
        The two sides.
    """

    horizon: int
    coverage: float
    overlapping: bool
    worst_within_horizon: bool
    start_index: np.ndarray
    long: SideBacktest
    short: SideBacktest

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly dictionary of the counts, statistics, p-values and zones of both sides."""
        out: dict[str, Any] = {"horizon": self.horizon, "coverage": self.coverage, "overlapping": self.overlapping,
                               "worst_within_horizon": self.worst_within_horizon}
        for s in (self.long, self.short):
            out[s.side] = {
                "n_obs": s.n_obs, "n_exceed": s.n_exceed, "exceed_rate": s.exceed_rate,
                "kupiec_lr": s.kupiec.statistic, "kupiec_p": s.kupiec.pvalue,
                "independence_lr": None if s.independence is None else s.independence.statistic,
                "independence_p": None if s.independence is None else s.independence.pvalue,
                "cc_lr": None if s.conditional_coverage is None else s.conditional_coverage.statistic,
                "cc_p": None if s.conditional_coverage is None else s.conditional_coverage.pvalue,
                "traffic_light": s.traffic_light,
            }
        return out


def _prices(prices: Any) -> np.ndarray:
    for attr in ("price", "close"):  # PricePath, Candles
        if hasattr(prices, attr) and hasattr(prices, "ts_ns"):
            prices = getattr(prices, attr)
            break
    p = np.asarray(prices, dtype=np.float64)
    if p.ndim != 1:
        raise InvalidInput("prices", f"must be one-dimensional, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise InvalidInput("prices", "must be positive and finite")
    return p


def _side(side: str, losses: np.ndarray, req: np.ndarray, coverage: float) -> SideBacktest:
    hits = exceedances(losses, req)
    n, x = len(hits), int(hits.sum())
    two = n >= 2
    return SideBacktest(
        side=side, losses=losses, requirements=req, hits=hits, n_obs=n, n_exceed=x,
        kupiec=kupiec_pof(n, x, coverage),
        independence=christoffersen_independence(hits) if two else None,
        conditional_coverage=christoffersen_conditional_coverage(hits, coverage) if two else None,
        traffic_light=basel_traffic_light(x, n, coverage),
    )


def backtest_margin(
    prices: Any,
    requirement: float | Any | Callable[[np.ndarray], float],
    horizon: int = 1,
    coverage: float = 0.99,
    *,
    overlapping: bool = False,
    worst_within_horizon: bool = False,
) -> MarginBacktest:
    """Backtest a margin requirement against the realised moves of a price series.

    For every start index ``i`` the loss of a position opened at ``P_i`` and held ``horizon``
    steps, as a fraction of its notional at ``i``, is

    * long: ``L_i = 1 - P_{i+h} / P_i``;
    * short: ``L_i = P_{i+h} / P_i - 1``;

    or, with ``worst_within_horizon=True``, the worst point inside the horizon
    (``1 - min(P_{i+1..i+h}) / P_i`` and ``max(P_{i+1..i+h}) / P_i - 1``): the loss a position
    liquidated at any time during the margin period of risk could suffer. A *hit* is a loss above
    the requirement set at ``i``; the hits are tested with :func:`kupiec_pof`,
    :func:`christoffersen_independence`, :func:`christoffersen_conditional_coverage` and
    :func:`basel_traffic_light`.

    Parameters
    ----------
    prices : array_like, PricePath or Candles
        Positive prices in time order (a ``PricePath``'s ``price`` or a ``Candles``' ``close``).
    requirement : float, array_like or callable
        The requirement as a fraction of notional (0.05 = 5 %):

        * a float, the same for every observation;
        * an array with one value per price (``requirement[i]`` is used for the observation
          starting at ``i``);
        * a callable ``f(history) -> float`` called with ``prices[: i + 1]`` (only the past and
          present, so that a model cannot look ahead).
    horizon : int
        Holding period in price steps (default 1).
    coverage : float
        The coverage the requirement is meant to achieve (default 0.99).
    overlapping : bool
        ``False`` (default): observations start every ``horizon`` steps, so they do not overlap
        and the tests' independence assumption can hold. ``True``: they start at every step;
        with ``horizon > 1`` the hits are then autocorrelated by construction and the independence
        test is biased towards rejection.
    worst_within_horizon : bool
        Measure the worst point inside the horizon instead of its end (see above).

    Returns
    -------
    MarginBacktest
        Losses, requirements, hits and tests for the long and the short side.

    Raises
    ------
    InvalidInput
        For non-positive or non-finite prices, a horizon < 1 or not shorter than the series, a
        negative or non-finite requirement, an array requirement of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> p = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 1001)))
    >>> bt = backtest_margin(p, 0.0233, horizon=1, coverage=0.99)  # 2.33 sigma, about 99 %
    >>> bt.long.n_obs
    1000
    """
    p = _prices(prices)
    h = _count(horizon, "horizon", 1)
    cov = _coverage(coverage)
    n = len(p)
    if h >= n:
        raise InvalidInput("horizon", f"must be shorter than the price series ({h} >= {n})")
    starts = np.arange(0, n - h, 1 if overlapping else h)
    if worst_within_horizon:
        win = np.lib.stride_tricks.sliding_window_view(p[1:], h)[starts]
        end_low, end_high = win.min(axis=1), win.max(axis=1)
    else:
        end_low = end_high = p[starts + h]
    base = p[starts]
    long_loss = 1.0 - end_low / base
    short_loss = end_high / base - 1.0

    if callable(requirement):
        req = np.array([float(requirement(p[: i + 1])) for i in starts], dtype=np.float64)
    else:
        r = np.asarray(requirement, dtype=np.float64)
        if r.ndim == 0:
            req = np.full(len(starts), float(r))
        elif r.shape == (n,):
            req = r[starts]
        else:
            raise InvalidInput("requirement", f"an array must have one value per price ({n}), got shape {r.shape}")
    if not np.all(np.isfinite(req)) or np.any(req < 0):
        raise InvalidInput("requirement", "must be finite and non-negative")
    return MarginBacktest(
        horizon=h, coverage=cov, overlapping=overlapping, worst_within_horizon=worst_within_horizon,
        start_index=starts, long=_side("long", long_loss, req, cov), short=_side("short", short_loss, req, cov),
    )


#: Margin models :func:`requirement_series` knows (see its docstring).
MARGIN_MODELS = ("flat", "ewma", "historical", "historical-apc")


def requirement_series(prices: Any, model: str, *, horizon: int = 1, coverage: float = 0.99, rate: float | None = None,
                       lam: float = 0.94, window: int = 1000) -> np.ndarray:
    """One requirement per price (fraction of notional) from a named margin model, without look-ahead.

    * ``flat``: the constant ``rate`` (a venue's maintenance rate, say);
    * ``ewma``: RiskMetrics, ``z_q · σ_t · sqrt(horizon)`` with ``σ_t²`` the exponentially weighted
      mean of squared log returns up to ``t`` (decay ``lam``, 0.94) and ``z_q`` the standard normal
      quantile at ``coverage``: a volatility forecast that raises the margin as a cluster begins;
    * ``historical``: historical simulation, the ``coverage`` quantile of the absolute
      ``horizon``-step log moves over the last ``window`` prices;
    * ``historical-apc``: the same with EMIR's anti-procyclicality buffer
      (:func:`ramparts.margin.var_es.apc_buffer`: 25 % on top in normal times, released in stress).

    Entry ``i`` uses ``prices[: i + 1]`` only; before enough history exists it is ``nan`` and the
    observations starting there should be dropped (``backtest_margin`` refuses ``nan``, so slice
    the series with :func:`numpy.isfinite` first).
    """
    p = _prices(prices)
    q = _coverage(coverage)
    h = _count(horizon, "horizon", 1)
    if model == "flat":
        if rate is None or not (isinstance(rate, (int, float)) and np.isfinite(rate) and rate >= 0):
            raise InvalidInput("rate", f"the flat model needs a non-negative rate, got {rate!r}")
        return np.full(p.size, float(rate))
    r = np.diff(np.log(p), prepend=np.log(p[0]))
    if model == "ewma":
        if not (0 < lam < 1):
            raise InvalidInput("lam", f"must lie in (0, 1), got {lam!r}")
        from scipy.signal import lfilter

        var = lfilter([1 - lam], [1, -lam], r**2)
        var /= 1 - lam ** np.arange(1, p.size + 1)  # bias correction for the first observations
        out = stats.norm.ppf(q) * np.sqrt(var * h)
        out[: min(30, p.size)] = np.nan
        return out
    if model == "historical-apc":
        from ramparts.margin.var_es import apc_buffer

        base = requirement_series(p, "historical", horizon=h, coverage=q, window=window)
        ok = np.isfinite(base)
        out = np.full(p.size, np.nan)
        if ok.any():
            first = int(np.argmax(ok))
            out[first:] = apc_buffer(base[first:])
        return out
    if model == "historical":
        w = _count(window, "window", h + 10)
        moves = np.full(p.size, np.nan)
        moves[h:] = np.abs(np.log(p[h:] / p[:-h]))
        import pandas as pd

        return pd.Series(moves).rolling(w, min_periods=w // 2).quantile(q).to_numpy()
    raise InvalidInput("model", f"unknown margin model {model!r} (one of {', '.join(MARGIN_MODELS)})")


# --------------------------------------------------------------------------------------------------
# the report


def _backtest_headline(doc: dict) -> list[tuple[str, list]]:
    from ramparts.lab import reportkit as rk

    c = rk.cell
    rows = []
    for label, key, spec in (("observations", "n_obs", ",d"), ("exceedances", "n_exceed", ",d"), ("exceedance rate", "exceed_rate", ".3%")):
        rows.append((label, [c(doc[side][key], f"{side}/{key}", spec) for side in ("long", "short")]))
    rows.append(("expected rate (1 − coverage)", [c(1 - doc["coverage"], None, ".3%")] * 2))
    for label, key in (("Kupiec p-value (unconditional coverage)", "kupiec_p"), ("Christoffersen p-value (independence)", "independence_p"),
                       ("Christoffersen p-value (conditional coverage)", "cc_p")):
        rows.append((label, [c(doc[side][key], f"{side}/{key}", "p") for side in ("long", "short")]))
    rows.append(("Basel zone", [c(doc[side]["traffic_light"], f"{side}/traffic_light", "text") for side in ("long", "short")]))
    return rows


def _zone_words(p: float | None) -> str:
    if p is None:
        return "not tested"
    return f"rejected at 5 % (p = {p:.3g})" if p < 0.05 else f"not rejected (p = {p:.3g})"


def backtest_path(candles: Any, finer: Any = ()) -> Any:
    """How a margin backtest's prices are made (:class:`~ramparts.lab.paths.PathProvenance`), through the lab's one path
    maker: the series' closes, one observation a bar (:func:`ramparts.lab.paths.price_path`, coarse, ``close`` order).

    A backtest measures a requirement against the moves between observations a fixed number of steps apart, so it
    is not refined (a refined path's steps are uneven); ``finer`` (the finer series of the same asset that ship for the
    window) are recorded instead, with how many bars each covers and how many bar extremes they do not confirm (not on
    a path of closes either), so that the report can say which finer bar size to backtest at (``--source-id``)."""
    from dataclasses import replace

    from ramparts.lab.paths import price_path

    prov = price_path(candles, finer, method="coarse", order="close").provenance
    notes = ["not refined: a margin backtest walks the closes, one observation a bar, so that the horizon is a fixed number "
             "of bars; the bars' intra-bar extremes, and so any unconfirmed wick, are not on its path"]
    used = [(src, iv, n) for src, iv, n in prov.finer if n]
    if used:
        from ramparts.lab.history import format_interval

        notes.append("finer series of the same asset ship for this window: " + ", ".join(
            f"{src} ({format_interval(iv)}, covering {n:,} of {prov.bars:,} bars)" for src, iv, n in used)
            + " (--source-id backtests at that bar size)")
    if prov.wicks:
        notes.append(f"{len(prov.wicks)} bar extreme(s) the finer series do not confirm (by more than {prov.wick_tolerance:.1%}); "
                     "not on this path of closes")
    return replace(prov, notes=tuple(notes), wick_policy=None, wicks=())


def write_backtest_report(bt: MarginBacktest, ts_ns: Any, out_dir: Any, *, doc: dict, title: str, series: str = "",
                          path: Any = None) -> dict[str, Any]:
    """``backtest.json`` (``doc``: the run's facts and :meth:`MarginBacktest.summary`) and ``report.html``: the verdict
    (Kupiec and Christoffersen p-values and the Basel zone of each side), the parameters, each side's realised loss
    against the requirement with its exceedances, and the exceedances so far against what the coverage claims.
    ``ts_ns`` are the times of the prices the backtest ran on; ``series`` names them; ``path`` (:func:`backtest_path`)
    says how they were made: the report's parameters and caveats state it, ``backtest.json`` carries it as ``price_path``."""
    import json
    from pathlib import Path

    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"html": out / "report.html", "json": out / "backtest.json"}
    if path is not None:
        doc = {**doc, "price_path": path.to_dict()}
    files["json"].write_text(json.dumps(doc, indent=2))
    ts = np.asarray(ts_ns, dtype=np.int64)
    t = rk.times(ts[bt.start_index])
    page = rk.Page(f"ramparts backtest-margin: {title}", command="backtest-margin")
    q = bt.coverage
    words = [f"the {s.side} side was exceeded {s.n_exceed:,} times in {s.n_obs:,} observations ({s.exceed_rate:.2%} against "
             f"{1 - q:.2%} claimed), Kupiec {_zone_words(s.kupiec.pvalue)}, Basel zone {s.traffic_light}" for s in (bt.long, bt.short)]
    page.verdict(f"The requirement claims {q:.2%} coverage: " + "; ".join(words) + ".",
                 rk.headline(_backtest_headline(doc), columns=("long", "short"), source="backtest.json"))
    page.parameters([("price series and bar size", series or doc.get("source")), ("window", rk.span(ts)),
                     ("margin model", doc.get("model", "?") + (f", rate {doc['rate']:.2%}" if doc.get("rate") is not None else "")),
                     ("horizon (margin period of risk)", f"{bt.horizon} observation(s)"), ("coverage claimed", f"{q:.2%}"),
                     ("loss measured", "the worst point inside the horizon" if bt.worst_within_horizon else "at the end of the horizon"),
                     ("observations", "overlapping (one a step)" if bt.overlapping or bt.horizon == 1 else f"non-overlapping (one every {bt.horizon} steps)"),
                     *(rk.path_rows(path) if path is not None else [])])
    if path is not None:
        page.caveats([*rk.path_caveats(path, what="the backtest"), *(n for n in path.notes[1:])])
    for side, colour in ((bt.long, rk.palette(0)), (bt.short, rk.palette(1))):
        fig = rk.time_chart(f"{side.side.capitalize()} side: realised loss against the requirement", y="loss (fraction of notional)", height=420)
        fig.add_trace(go.Scatter(x=t, y=side.losses, mode="lines", name=f"{side.side} loss", line={"color": colour, "width": 0.7}))
        fig.add_trace(go.Scatter(x=t, y=side.requirements, mode="lines", name="requirement", line={"color": rk.COLOURS["requirement"], "width": 1.5}))
        hit = np.asarray(side.hits, dtype=bool)
        fig.add_trace(go.Scatter(x=t[hit], y=side.losses[hit], mode="markers", name=f"exceedances ({int(hit.sum()):,})",
                                 marker={"color": rk.COLOURS["bankruptcy"], "size": 6}))
        fig.update_yaxes(tickformat=".1%")
        page.figure(fig)
    cum = rk.time_chart("Exceedances so far against the number the coverage claims", y="exceedances (count)", height=400)
    for side, colour in ((bt.long, rk.palette(0)), (bt.short, rk.palette(1))):
        cum.add_trace(go.Scatter(x=t, y=np.cumsum(np.asarray(side.hits, dtype=int)), mode="lines", name=f"{side.side}: exceedances so far",
                                 line={"color": colour, "shape": "hv"}))
    cum.add_trace(go.Scatter(x=t, y=(1 - q) * np.arange(1, len(t) + 1), mode="lines", name=f"claimed: {1 - q:.2%} of observations",
                             line={"color": rk.COLOURS["requirement"], "dash": "dash"}))
    page.figure(cum, caption="A side whose curve climbs away from the dashed line is exceeded more often than the coverage claims.")
    page.write(files["html"])
    return files
