"""Scenario ("risk-array", SPAN-like) portfolio margin for perpetuals, futures and options.

This module owns the portfolio-margin pipeline, in four vectorised steps:

1. :class:`ScenarioGrid` — relative price moves × volatility shocks (up / unchanged / down), plus an
   *extended* table of extreme moves (vol up only) counted at a fraction of their loss;
2. :func:`scenario_pnl_matrix` — the **instrument × scenario** PnL matrix per unit position: futures
   and perpetuals move one-for-one with the forward (linear delta 1), options are revalued with
   Black-76 (:mod:`ramparts.options.black76`) at the shocked forward and the shocked volatility, the
   volatility shock scaled by time to expiry;
3. :func:`scenario_losses` — the **account × scenario** PnL as one ``scipy.sparse`` product
   ``positions @ pnl`` (positions: accounts × instruments, CSR), then the worst loss per account and
   underlying (:func:`worst_losses`; a fused numba kernel does the product and the reduction in one
   pass without materialising the account × scenario matrix);
4. :func:`aggregate_underlyings` and :func:`portfolio_margin` — the per-underlying worst losses
   ``L ≥ 0`` combined through a *stressed* correlation matrix, plus the contingency add-ons, rounded
   **up** to int64 base units.

Scenarios and vol shocks (Deribit PM, ``ramparts/reference/cex-and-clearinghouses.md``)
------------------------------------------------------------------------------------------
Price range ±16 % in 4 buckets a side (9 points incl. 0) × {vol up, unchanged, vol down}; for an
option with ``D`` days to expiry (floored at 1 day, Derive's ``DTE_FLOOR``)::

    m = (30 / D)^p,   p = 0.3 if D < 30 else 0.13
    σ_up = max(σ·(1 + 0.5·m), 0.5)          σ_down = max(σ·(1 − 0.25·m), 0)

and the extended table −66 %, −33 %, +50 %, +100 %, +200 %, +300 %, +400 %, +500 % on vol-up only,
counted at ``extended_weight`` of its loss (Deribit applies an ``extended_dampener``; we use the
classic SPAN fraction 35 % — CME SPAN counts its ±3× extreme moves at 35 %, same reference file).
Derive's PMRM_2 (``ramparts/reference/open-source-venues.md`` §3.2) uses the same form
(``VOLRANGEUP 0.5``, ``VOLRANGEDOWN 0.275``, powers 0.3 / 0.13, min up-shocked vol 0.45).
:meth:`ScenarioGrid.uniform` builds other grids (e.g. ±15 % in steps, 63 scenarios in the benchmark).

Contingencies
-------------
* naked short options: ``option_contingency · S`` per net short contract **per strike** (calls and puts
  of the same underlying, expiry and strike net against each other — Derive's ``nakedShorts``;
  Deribit's older docs: 0.01 BTC per net short option per strike, i.e. 1 % of ``S``);
* futures and perpetuals: ``future_contingency · S · |q|`` per position (Deribit: 1 % of the
  underlying; Derive's ``IM_PERP`` + ``MM_PERP`` = 2 %, ``MM_PERP`` 1.5 %).

Aggregation across underlyings
------------------------------
With ``L_u ≥ 0`` the worst scenario loss of an account on underlying ``u`` (each underlying's grid
shocks only that underlying) and ``C`` a correlation matrix (symmetric, unit diagonal, PSD), the
scanning risk is

.. math::

    R = \\sqrt{L^\\top \\tilde C L}, \\qquad \\tilde C = (1 - \\lambda)\\,C + \\lambda\\,\\mathbf{1}\\mathbf{1}^\\top,

where ``λ = correlation_stress ∈ [0, 1]`` pushes every correlation toward 1 (stressed markets
decorrelate hedges): ``λ = 1`` gives ``R = Σ L_u`` (no offset, the sum of standalone requirements),
``C = I, λ = 0`` the root-sum-square. Since ``L ≥ 0`` and ``C̃ ≤ 1`` elementwise, ``R ≤ Σ_u L_u`` always
(SPAN's inter-commodity credit plays the same role). Then

``IM = ⌈R + contingencies⌉`` (base units of the settlement currency), ``MM = ⌈mm_factor · (R +
contingencies)⌉`` with Deribit's ``mm_factor = 0.8``.

Units: ``settlement="linear"`` values everything in the quote currency (USD, USDC); ``"inverse"``
values it in coins of each underlying, as Deribit's coin-settled books (an option is worth
``V(F′)/F′`` coins, an inverse future of ``q`` coins at ``F`` gains ``q·(1 − F/F′)`` coins) — inverse
aggregation across underlyings only makes sense with one underlying per settlement coin.
PM requirements are compared against **equity marked to market** (long options count at their mark),
unlike the standard margin of :mod:`ramparts.margin.option_standard`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ramparts.errors import InvalidInput
from ramparts.options.black76 import as_call_flags, black76_price, float_array

FUTURE = 0
OPTION = 1

try:  # the fused kernel is optional: scipy.sparse is the reference path
    import numba

    from ramparts.compiled import njit

    @njit(parallel=True, cache=True, fastmath=False)
    def _fused_worst(indptr, indices, data, pnl, out):  # pragma: no cover - compiled
        n_acc = indptr.shape[0] - 1
        n_s = pnl.shape[1]
        for a in numba.prange(n_acc):
            acc = np.zeros(n_s)
            for j in range(indptr[a], indptr[a + 1]):
                q = data[j]
                row = pnl[indices[j]]
                for s in range(n_s):
                    acc[s] += q * row[s]
            worst = 0.0
            for s in range(n_s):
                if -acc[s] > worst:
                    worst = -acc[s]
            out[a] = worst

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


# ---------------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class ScenarioGrid:
    """The price × volatility scenarios and the volatility-shock parameters.

    Attributes
    ----------
    price_moves : tuple of float
        Relative moves of the forward in the core grid (each × every ``vol_modes``).
    vol_modes : tuple of int
        ``+1`` vol up, ``0`` unchanged, ``-1`` vol down.
    extended_moves : tuple of float
        Extreme relative moves, evaluated with vol up only, weighted ``extended_weight``.
    extended_weight : float
        Fraction of an extended scenario's PnL that counts (SPAN 0.35).
    vol_up, vol_down : float
        ``σ_up = σ·(1 + vol_up·m)``, ``σ_down = σ·(1 − vol_down·m)``, ``m = (30/D)^p``.
    short_power, long_power : float
        ``p`` for ``D < 30`` days and ``D ≥ 30`` days.
    min_vol_up : float
        Floor of the up-shocked volatility.
    dte_floor_days : float
        Floor of ``D`` in the scaling.
    """

    price_moves: tuple[float, ...] = (-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16)
    vol_modes: tuple[int, ...] = (1, 0, -1)
    extended_moves: tuple[float, ...] = (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
    extended_weight: float = 0.35
    vol_up: float = 0.5
    vol_down: float = 0.25
    short_power: float = 0.3
    long_power: float = 0.13
    min_vol_up: float = 0.5
    dte_floor_days: float = 1.0

    def __post_init__(self) -> None:
        moves = np.asarray(self.price_moves + self.extended_moves, dtype=float)
        if moves.size == 0 or not np.isfinite(moves).all() or (moves <= -1).any():
            raise InvalidInput("price_moves", "moves must be finite and > -100 %")
        if not set(self.vol_modes) <= {-1, 0, 1} or not self.vol_modes:
            raise InvalidInput("vol_modes", f"must be a non-empty subset of (1, 0, -1), got {self.vol_modes}")
        for name in ("extended_weight", "vol_up", "vol_down", "short_power", "long_power", "min_vol_up"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InvalidInput(name, f"must be finite and non-negative, got {v!r}")
        if not self.extended_weight <= 1:
            raise InvalidInput("extended_weight", f"must lie in [0, 1], got {self.extended_weight}")
        if not self.dte_floor_days > 0:
            raise InvalidInput("dte_floor_days", f"must be positive, got {self.dte_floor_days}")

    @classmethod
    def uniform(cls, max_move: float, steps_each_side: int, **kwargs: Any) -> ScenarioGrid:
        """A core grid ``0, ±max_move/n, …, ±max_move`` (``n = steps_each_side``), other fields as given."""
        if not (0 < max_move < 1) or steps_each_side < 1:
            raise InvalidInput("max_move", "need 0 < max_move < 1 and at least one step a side")
        moves = tuple(float(x) for x in np.linspace(-max_move, max_move, 2 * steps_each_side + 1))
        return cls(price_moves=moves, **kwargs)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(move, vol_mode, weight)`` per scenario: the core grid first, then the extended table."""
        mv = [m for m in self.price_moves for _ in self.vol_modes] + list(self.extended_moves)
        vm = [v for _ in self.price_moves for v in self.vol_modes] + [1] * len(self.extended_moves)
        w = [1.0] * (len(self.price_moves) * len(self.vol_modes)) + [self.extended_weight] * len(self.extended_moves)
        return np.asarray(mv, float), np.asarray(vm, np.int8), np.asarray(w, float)

    @property
    def n_scenarios(self) -> int:
        return len(self.price_moves) * len(self.vol_modes) + len(self.extended_moves)

    def shocked_vols(self, sigma: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(σ_up, σ_down)`` for volatilities ``sigma`` at ``T`` years (365-day years) to expiry."""
        days = np.maximum(np.asarray(T, float) * 365.0, self.dte_floor_days)
        p = np.where(days < 30.0, self.short_power, self.long_power)
        m = (30.0 / days) ** p
        up = np.maximum(sigma * (1.0 + self.vol_up * m), self.min_vol_up)
        down = np.maximum(sigma * (1.0 - self.vol_down * m), 0.0)
        return up, down


DERIBIT_GRID = ScenarioGrid()


# ---------------------------------------------------------------------------------------- instruments
@dataclass(frozen=True)
class Instruments:
    """A universe of instruments (one row each), as float / int arrays of equal length.

    Attributes
    ----------
    underlying : numpy.ndarray of int
        Index of each instrument's underlying (``0 … n_underlyings−1``).
    kind : numpy.ndarray of int
        :data:`FUTURE` (perpetuals too) or :data:`OPTION`.
    forward : numpy.ndarray
        Current forward / futures price (the perpetual's mark), quote currency.
    strike, expiry_years, vol, is_call
        Option terms (ignored for futures): strike, time to expiry (365-day years), implied vol at the
        mark, call flag.
    expiry_id : numpy.ndarray of int
        Expiry label, used only to net options of the same strike for the contingency.
    """

    underlying: np.ndarray
    kind: np.ndarray
    forward: np.ndarray
    strike: np.ndarray
    expiry_years: np.ndarray
    vol: np.ndarray
    is_call: np.ndarray
    expiry_id: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = np.asarray(self.kind).shape[0] if np.ndim(self.kind) else 0
        u = np.asarray(self.underlying)
        k = np.asarray(self.kind)
        if u.shape != (n,) or k.shape != (n,) or n == 0:
            raise InvalidInput("instruments", "underlying and kind must be 1-d arrays of equal, non-zero length")
        if not np.isin(k, (FUTURE, OPTION)).all():
            raise InvalidInput("kind", "must be FUTURE (0) or OPTION (1)")
        if (u < 0).any():
            raise InvalidInput("underlying", "indices must be non-negative")
        opt = k == OPTION
        fwd = float_array(self.forward, "forward", positive=True)
        strike = float_array(np.where(opt, self.strike, 1.0), "strike", positive=True)
        T = float_array(np.where(opt, self.expiry_years, 0.0), "expiry_years", nonneg=True)
        vol = float_array(np.where(opt, self.vol, 0.0), "vol", nonneg=True)
        calls = as_call_flags(np.broadcast_to(self.is_call, (n,)))
        exp = np.zeros(n, np.int64) if self.expiry_id is None else np.asarray(self.expiry_id, np.int64)
        for name, arr in (("forward", fwd), ("strike", strike), ("expiry_years", T), ("vol", vol), ("expiry_id", exp)):
            if arr.shape != (n,):
                raise InvalidInput(name, f"expected shape ({n},), got {arr.shape}")
        object.__setattr__(self, "underlying", u.astype(np.int64))
        object.__setattr__(self, "kind", k.astype(np.int8))
        object.__setattr__(self, "forward", fwd)
        object.__setattr__(self, "strike", strike)
        object.__setattr__(self, "expiry_years", T)
        object.__setattr__(self, "vol", vol)
        object.__setattr__(self, "is_call", calls)
        object.__setattr__(self, "expiry_id", exp)

    @property
    def n(self) -> int:
        return int(self.kind.shape[0])

    @property
    def n_underlyings(self) -> int:
        return int(self.underlying.max()) + 1

    @classmethod
    def futures(cls, underlying: Any, forward: Any) -> Instruments:
        """Only futures / perpetuals."""
        u = np.atleast_1d(np.asarray(underlying, np.int64))
        n = u.shape[0]
        f = np.broadcast_to(np.asarray(forward, float), (n,))
        one = np.ones(n)
        return cls(u, np.full(n, FUTURE), f, one, 0 * one, 0 * one, np.zeros(n, bool))

    @classmethod
    def concat(cls, *parts: Instruments) -> Instruments:
        """Rows of several universes, in order."""
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        return cls(cat("underlying"), cat("kind"), cat("forward"), cat("strike"), cat("expiry_years"),
                   cat("vol"), cat("is_call"), cat("expiry_id"))


def scenario_pnl_matrix(
    inst: Instruments, grid: ScenarioGrid = DERIBIT_GRID, *, settlement: str = "linear"
) -> np.ndarray:
    """PnL per unit long position of every instrument in every scenario of its underlying.

    Parameters
    ----------
    inst : Instruments
    grid : ScenarioGrid
    settlement : {"linear", "inverse"}
        Quote-currency PnL, or coin PnL (inverse options and inverse futures, see the module docstring).

    Returns
    -------
    numpy.ndarray
        ``(n_instruments, n_scenarios)`` float64, already multiplied by each scenario's weight.
    """
    if settlement not in ("linear", "inverse"):
        raise InvalidInput("settlement", f"must be 'linear' or 'inverse', got {settlement!r}")
    inverse = settlement == "inverse"
    move, mode, weight = grid.arrays()
    f0 = inst.forward[:, None]
    f1 = f0 * (1.0 + move[None, :])
    pnl = np.empty((inst.n, move.size))
    fut = inst.kind == FUTURE
    if fut.any():
        if inverse:
            pnl[fut] = np.broadcast_to(1.0 - 1.0 / (1.0 + move), (int(fut.sum()), move.size))
        else:
            pnl[fut] = f1[fut] - f0[fut]
    opt = ~fut
    if opt.any():
        K = inst.strike[opt, None]
        T = inst.expiry_years[opt, None]
        sig = inst.vol[opt]
        up, down = grid.shocked_vols(sig, inst.expiry_years[opt])
        sig_s = np.where(mode[None, :] > 0, up[:, None], np.where(mode[None, :] < 0, down[:, None], sig[:, None]))
        c = inst.is_call[opt, None]
        v0 = black76_price(f0[opt], K, T, sig[:, None], c, inverse=inverse)
        v1 = black76_price(f1[opt], K, T, sig_s, c, inverse=inverse)
        pnl[opt] = v1 - v0
    return pnl * weight[None, :]


# ---------------------------------------------------------------------------------------- accounts
def as_positions(positions: Any, n_instruments: int) -> sp.csr_matrix:
    """Accounts × instruments signed quantities as a validated CSR matrix (float64)."""
    P = positions.tocsr() if sp.issparse(positions) else sp.csr_matrix(np.atleast_2d(np.asarray(positions, float)))
    P = P.astype(np.float64, copy=False)
    if P.shape[1] != n_instruments:
        raise InvalidInput("positions", f"expected {n_instruments} instrument columns, got {P.shape[1]}")
    if P.data.size and not np.isfinite(P.data).all():
        raise InvalidInput("positions", "quantities must be finite")
    return P


def scenario_losses(positions: sp.csr_matrix, pnl: np.ndarray) -> np.ndarray:
    """Account × scenario PnL: the sparse product ``positions @ pnl`` (dense result)."""
    return np.asarray(positions @ pnl)


def worst_losses(positions: Any, pnl: np.ndarray, *, method: str = "scipy") -> np.ndarray:
    """Worst scenario loss per account, ``max(0, −min_s (P @ pnl)[:, s])``.

    Parameters
    ----------
    positions : sparse or array_like
        Accounts × instruments quantities (instruments of **one** underlying, or a universe whose
        ``pnl`` rows share the scenarios).
    pnl : numpy.ndarray
        Instruments × scenarios, from :func:`scenario_pnl_matrix`.
    method : {"scipy", "numba"}
        ``"scipy"``: sparse product then a row reduction (reference); ``"numba"``: a fused parallel
        kernel (same arithmetic order per account, no account × scenario temporary).

    Returns
    -------
    numpy.ndarray
        ``(n_accounts,)`` float64, ≥ 0.
    """
    P = as_positions(positions, pnl.shape[0])
    if method == "numba":
        if not HAVE_NUMBA:
            raise InvalidInput("method", "numba is not installed")
        out = np.empty(P.shape[0])
        _fused_worst(P.indptr.astype(np.int64), P.indices.astype(np.int64), P.data,
                     np.ascontiguousarray(pnl, dtype=np.float64), out)
        return out
    if method != "scipy":
        raise InvalidInput("method", f"must be 'scipy' or 'numba', got {method!r}")
    return np.maximum(-scenario_losses(P, pnl).min(axis=1), 0.0)


def stressed_correlation(corr: Any, stress: float) -> np.ndarray:
    """``(1 − λ)·C + λ·11ᵀ`` after validating ``C`` (symmetric, unit diagonal, entries in [−1, 1], PSD)."""
    C = float_array(corr, "correlation")
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise InvalidInput("correlation", f"must be a square matrix, got shape {C.shape}")
    if not np.allclose(C, C.T, atol=1e-12) or not np.allclose(np.diag(C), 1.0) or (np.abs(C) > 1 + 1e-12).any():
        raise InvalidInput("correlation", "must be symmetric with unit diagonal and entries in [-1, 1]")
    if np.linalg.eigvalsh(C).min() < -1e-10:
        raise InvalidInput("correlation", "must be positive semi-definite")
    if not (isinstance(stress, int | float) and 0 <= stress <= 1):
        raise InvalidInput("correlation_stress", f"must lie in [0, 1], got {stress!r}")
    return (1.0 - stress) * C + stress * np.ones_like(C)


def aggregate_underlyings(L: np.ndarray, corr: Any, stress: float = 0.0) -> np.ndarray:
    """``sqrt(Lᵀ C̃ L)`` per account for per-underlying worst losses ``L`` (accounts × underlyings)."""
    L = np.asarray(L, float)
    if L.ndim != 2 or (L < 0).any():
        raise InvalidInput("losses", "expected an (accounts × underlyings) array of non-negative losses")
    C = stressed_correlation(corr, stress)
    if C.shape[0] != L.shape[1]:
        raise InvalidInput("correlation", f"{C.shape[0]} underlyings in the matrix, {L.shape[1]} in the losses")
    q = np.einsum("au,uv,av->a", L, C, L)
    return np.sqrt(np.maximum(q, 0.0))


@dataclass(frozen=True)
class PortfolioMarginParams:
    """Parameters of :func:`portfolio_margin` beyond the scenario grid.

    Attributes
    ----------
    option_contingency : float
        Per net short option per strike, as a fraction of the underlying price (Deribit 0.01).
    future_contingency : float
        Per unit of futures / perpetual position, fraction of the underlying price (Deribit 0.01).
    mm_factor : float
        Maintenance = ``mm_factor × initial`` (Deribit 0.8).
    correlation_stress : float
        ``λ`` of :func:`stressed_correlation`.
    """

    option_contingency: float = 0.01
    future_contingency: float = 0.01
    mm_factor: float = 0.8
    correlation_stress: float = 0.5

    def __post_init__(self) -> None:
        for name in ("option_contingency", "future_contingency", "mm_factor", "correlation_stress"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InvalidInput(name, f"must be finite and non-negative, got {v!r}")
        if self.mm_factor > 1 or self.correlation_stress > 1:
            raise InvalidInput("mm_factor", "mm_factor and correlation_stress must not exceed 1")


def contingencies(P: sp.csr_matrix, inst: Instruments, spots: np.ndarray, params: PortfolioMarginParams,
                  *, settlement: str = "linear") -> np.ndarray:
    """Contingency add-ons per account (settlement units): naked shorts per strike and futures.

    ``spots`` are the underlying prices (quote currency), one per underlying; in inverse settlement
    the add-ons are in coins (``rate × contracts``).
    """
    scale = np.ones_like(spots) if settlement == "inverse" else spots
    out = np.zeros(P.shape[0])
    fut = inst.kind == FUTURE
    if fut.any() and params.future_contingency > 0:
        w = np.where(fut, params.future_contingency * scale[inst.underlying], 0.0)
        out += abs(P) @ w
    opt = ~fut
    if opt.any() and params.option_contingency > 0:
        keys = np.stack([inst.underlying[opt], inst.expiry_id[opt], inst.strike[opt].view(np.int64)], axis=1)
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        rows = np.flatnonzero(opt)
        G = sp.csr_matrix((np.ones(rows.size), (rows, group.ravel())), shape=(inst.n, uniq.shape[0]))
        net = (P @ G).tocsr()  # accounts × strike groups: net contracts per strike
        gw = params.option_contingency * scale[uniq[:, 0]]
        net.data = np.maximum(-net.data, 0.0) * gw[net.indices]
        out += np.asarray(net.sum(axis=1)).ravel()
    return out


def to_units_ceil(values: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative float requirements to int64 base units, rounded **up** (a 1e-15 relative slack, a few ulps,
    absorbs binary round-off of values that are exact in base units)."""
    v = np.asarray(values, float)
    if not np.isfinite(v).all() or (v < 0).any():
        raise InvalidInput("requirement", "must be finite and non-negative")
    scaled = v * 10.0**decimals
    if (scaled > 9.0e18).any():
        raise InvalidInput("requirement", "overflows int64 base units")
    return np.ceil(scaled - 1e-15 * np.maximum(scaled, 1.0)).astype(np.int64)


@dataclass(frozen=True)
class PortfolioMarginResult:
    """Per-account portfolio margin.

    Attributes
    ----------
    initial, maintenance : numpy.ndarray of int64
        Requirements in base units of the settlement currency, rounded up.
    scanning_risk : numpy.ndarray
        ``sqrt(Lᵀ C̃ L)`` (float, settlement units).
    losses : numpy.ndarray
        ``L``: worst scenario loss per account and underlying (accounts × underlyings).
    contingency : numpy.ndarray
        Add-ons per account.
    """

    initial: np.ndarray
    maintenance: np.ndarray
    scanning_risk: np.ndarray
    losses: np.ndarray
    contingency: np.ndarray


def portfolio_margin(
    positions: Any,
    inst: Instruments,
    *,
    spots: Any | None = None,
    correlation: Any | None = None,
    grid: ScenarioGrid = DERIBIT_GRID,
    params: PortfolioMarginParams = PortfolioMarginParams(),  # noqa: B008 (frozen, immutable)
    settlement: str = "linear",
    decimals: int = 6,
    method: str = "scipy",
) -> PortfolioMarginResult:
    """Scenario portfolio margin of every account (see the module docstring for the method).

    Parameters
    ----------
    positions : sparse or array_like
        Accounts × instruments signed quantities (contracts of one unit of the underlying).
    inst : Instruments
    spots : array_like, optional
        Underlying prices for the contingencies, one per underlying (default: each underlying's
        first instrument's forward).
    correlation : array_like, optional
        Underlyings × underlyings correlation (default identity).
    grid, params, settlement, method
        See :class:`ScenarioGrid`, :class:`PortfolioMarginParams`, :func:`scenario_pnl_matrix`,
        :func:`worst_losses`.
    decimals : int
        Base-unit decimals of the settlement currency (USDC 6, BTC 8).

    Returns
    -------
    PortfolioMarginResult
    """
    P = as_positions(positions, inst.n)
    n_u = inst.n_underlyings
    if spots is None:
        first = np.array([np.flatnonzero(inst.underlying == u)[0] for u in range(n_u)])
        spots_a = inst.forward[first]
    else:
        spots_a = np.atleast_1d(float_array(spots, "spots", positive=True))
        if spots_a.shape != (n_u,):
            raise InvalidInput("spots", f"one price per underlying expected ({n_u}), got {spots_a.shape}")
    C = np.eye(n_u) if correlation is None else correlation
    pnl = scenario_pnl_matrix(inst, grid, settlement=settlement)
    L = np.zeros((P.shape[0], n_u))
    if n_u == 1:
        L[:, 0] = worst_losses(P, pnl, method=method)
    else:
        Pc = P.tocsc()
        for u in range(n_u):
            cols = np.flatnonzero(inst.underlying == u)
            if cols.size:
                L[:, u] = worst_losses(Pc[:, cols].tocsr(), pnl[cols], method=method)
    risk = aggregate_underlyings(L, C, params.correlation_stress)
    cont = contingencies(P, inst, spots_a, params, settlement=settlement)
    total = risk + cont
    return PortfolioMarginResult(
        initial=to_units_ceil(total, decimals),
        maintenance=to_units_ceil(params.mm_factor * total, decimals),
        scanning_risk=risk,
        losses=L,
        contingency=cont,
    )
