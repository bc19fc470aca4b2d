"""Stressed-correlation add-on for cross-margined accounts that hold several assets.

This module owns :class:`CorrelationMatrix` (a validated, serialisable correlation matrix over named
assets: symmetric, unit diagonal, positive semi-definite), :func:`correlated_requirement` and
:func:`stressed_correlation_addon`. It does not produce the per-asset requirements (those come from
the margin schedule and :mod:`ramparts.margin.haircuts`) and does not decide how the add-on is
combined with the rest of an account's requirement.

The add-on
----------
With ``r ≥ 0`` the per-asset requirements of an account (quote base units), ``C`` the correlation
matrix and ``w`` the stress weight, the correlation is stressed toward 1 (diversification
disappears in a crisis)::

    C_s    = (1 − w) · C + w · J           (J the all-ones matrix)
    add-on = ⌈ √(rᵀ C_s r) − √(rᵀ C r) ⌉  ≥ 0

so that ``√(rᵀ C r) + add-on ≥ √(rᵀ C_s r)``; with ``w = 1`` the account pays the undiversified
``Σ r``. The add-on is 0 when ``C`` is already all ones (nothing to stress), when ``w = 0``, or
when only one asset has a requirement; it is positive as soon as two assets with a requirement
are less than perfectly correlated and ``w > 0`` (unless it rounds to less than a unit).

Exactness
---------
Correlations are stored as **int ppm** (``1_000_000`` = 1), so with integer requirements
``S = rᵀ C_ppm r`` and ``T = (10^6 − w) S + w·10^6 (Σ r)²`` are exact integers
(``10^6 · rᵀCr`` and ``10^12 · rᵀ C_s r``) and the ceiling of ``(√T − √(10^6 S)) / 10^6`` is found
exactly with integer square roots and one squared comparison. No floating point and no BLAS
summation order enters a result, so it is identical on every platform and can be journaled.
Floating-point matrices are accepted by :meth:`CorrelationMatrix.from_correlations`, rounded
half-even to ppm; every check (symmetry, unit diagonal, PSD by an exact rational ``LDLᵀ``
elimination) is made on the ppm matrix actually used.

Only non-negative requirement *magnitudes* are supported: with signed exposures (hedges), stressing
toward +1 would *reduce* a long/short pair's requirement; such books need a stress toward −1 for
offsetting pairs, which this module does not model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM, to_decimal
from ramparts.validation import strict_int as _int

_INT64_MAX = 2**63 - 1
#: Largest per-asset requirement accepted (quote base units).
MAX_REQUIREMENT = 10**24


def _ceil_isqrt(n: int) -> int:
    r = math.isqrt(n)
    return r if r * r == n else r + 1


def _ceil_sqrt_diff(t: int, u: int, d: int) -> int:
    """Exact ``⌈(√t − √u) / d⌉`` for ints ``t ≥ u ≥ 0``, ``d > 0``.

    Starts from a lower bound and tests ``√t ≤ n·d + √u`` exactly: with ``L = t − n²d² − u`` it holds
    iff ``L ≤ 0`` or ``L² ≤ 4 n² d² u``.
    """
    n = max(0, (math.isqrt(t) - _ceil_isqrt(u)) // d)
    while True:
        lhs = t - n * n * d * d - u
        if lhs <= 0 or lhs * lhs <= 4 * n * n * d * d * u:
            return n
        n += 1


def _is_psd(m: Sequence[Sequence[int]]) -> int | None:
    """``None`` when the symmetric int matrix is PSD, else the index of the failing pivot.

    Exact symmetric Gaussian elimination over the rationals (``LDLᵀ`` without pivoting): a negative
    pivot, or a zero pivot with a non-zero entry below it, proves the matrix is not PSD; otherwise
    ``m = L D Lᵀ`` with ``D ≥ 0``.
    """
    n = len(m)
    a = [[Fraction(x) for x in row] for row in m]
    for k in range(n):
        p = a[k][k]
        if p < 0:
            return k
        if p == 0:
            if any(a[i][k] != 0 for i in range(k + 1, n)):
                return k
            continue
        for i in range(k + 1, n):
            f = a[i][k] / p
            if f:
                row_k, row_i = a[k], a[i]
                for j in range(k + 1, n):
                    row_i[j] -= f * row_k[j]
    return None


@dataclass(frozen=True, slots=True)
class CorrelationMatrix:
    """A correlation matrix over named assets, in int ppm, validated on construction.

    Parameters
    ----------
    assets : tuple of str
        Row / column names (distinct, non-empty).
    ppm : tuple of tuple of int
        Correlations × 10^6, each in ``[−10^6, 10^6]``; exactly symmetric, diagonal ``10^6``,
        positive semi-definite.

    Raises
    ------
    InvalidInput
        Mismatched shape, duplicate names, out-of-range entries, asymmetry, a diagonal other than
        1, a matrix that is not PSD.

    Examples
    --------
    >>> c = CorrelationMatrix.from_correlations(["BTC", "ETH"], [[1, 0.8], [0.8, 1]])
    >>> c.ppm
    ((1000000, 800000), (800000, 1000000))
    >>> CorrelationMatrix.from_correlations(["A", "B", "C"], [[1, .9, -.9], [.9, 1, .9], [-.9, .9, 1]])
    Traceback (most recent call last):
    ...
    ramparts.errors.InvalidInput: correlation: not positive semi-definite: pivot 2 ('C') of its exact LDLᵀ elimination is negative
    """

    assets: tuple[str, ...]
    ppm: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if isinstance(self.assets, str) or not isinstance(self.assets, Sequence):
            raise InvalidInput("correlation.assets", f"expected a list of asset names, got {self.assets!r}")
        names = list(self.assets)
        for a in names:
            if not isinstance(a, str) or not a or a != a.strip():
                raise InvalidInput("correlation.assets", f"expected non-empty names, got {a!r}")
        if not names:
            raise InvalidInput("correlation.assets", "needs at least one asset")
        if len(set(names)) != len(names):
            raise InvalidInput("correlation.assets", f"duplicate assets in {names}")
        n = len(names)
        if isinstance(self.ppm, (str, bytes)) or not isinstance(self.ppm, (Sequence, np.ndarray)) or len(self.ppm) != n:
            raise InvalidInput("correlation", f"expected {n} rows for {n} assets, got {self.ppm!r}")
        rows = []
        for i, row in enumerate(self.ppm):
            if isinstance(row, (str, bytes)) or not isinstance(row, (Sequence, np.ndarray)) or len(row) != n:
                raise InvalidInput(f"correlation[{i}]", f"expected {n} entries, got {row!r}")
            rows.append(tuple(_int(x, f"correlation[{i}][{j}]", lo=-PPM, hi=PPM) for j, x in enumerate(row)))
        for i in range(n):
            if rows[i][i] != PPM:
                raise InvalidInput(f"correlation[{i}][{i}]", f"the diagonal must be 1 (10^6 ppm), got {rows[i][i]}")
            for j in range(i):
                if rows[i][j] != rows[j][i]:
                    raise InvalidInput(f"correlation[{i}][{j}]", f"not symmetric: {rows[i][j]} ≠ {rows[j][i]} at [{j}][{i}]")
        bad = _is_psd(rows)
        if bad is not None:
            raise InvalidInput(
                "correlation",
                f"not positive semi-definite: pivot {bad} ({names[bad]!r}) of its exact LDLᵀ elimination is negative",
            )
        object.__setattr__(self, "assets", tuple(names))
        object.__setattr__(self, "ppm", tuple(rows))

    @classmethod
    def from_correlations(cls, assets: Sequence[str], matrix: Any, *, tolerance: float = 1e-9) -> CorrelationMatrix:
        """Build from correlations given as numbers (float, Decimal, str), rounded half-even to ppm.

        The input must be symmetric within ``tolerance`` and have diagonal 1 within ``tolerance``;
        NaN or infinite entries and entries outside ``[−1, 1]`` (beyond ``tolerance``) are refused.
        """
        try:
            n = len(matrix)
        except TypeError:
            raise InvalidInput("correlation", f"expected a square matrix, got {type(matrix).__name__}") from None
        if isinstance(assets, str) or not isinstance(assets, Sequence) or len(assets) != n:
            raise InvalidInput("correlation", f"{n} rows but assets {assets!r}: lengths must match")
        tol = Decimal(repr(float(tolerance)))
        dec: list[list[Decimal]] = []
        for i, row in enumerate(matrix):
            if isinstance(row, (str, bytes)):
                raise InvalidInput(f"correlation[{i}]", f"expected a row of numbers, got {row!r}")
            try:
                k = len(row)
            except TypeError:
                raise InvalidInput(f"correlation[{i}]", f"expected a row of numbers, got {row!r}") from None
            if k != n:
                raise InvalidInput(f"correlation[{i}]", f"expected {n} entries, got {k}")
            r = []
            for j, x in enumerate(row):
                v = to_decimal(float(x) if isinstance(x, np.floating) else (int(x) if isinstance(x, np.integer) else x), f"correlation[{i}][{j}]")
                if abs(v) > 1 + tol:
                    raise InvalidInput(f"correlation[{i}][{j}]", f"a correlation must lie in [−1, 1], got {x}")
                r.append(v)
            dec.append(r)
        for i in range(n):
            if abs(dec[i][i] - 1) > tol:
                raise InvalidInput(f"correlation[{i}][{i}]", f"the diagonal must be 1, got {dec[i][i]}")
            for j in range(i):
                if abs(dec[i][j] - dec[j][i]) > tol:
                    raise InvalidInput(f"correlation[{i}][{j}]", f"not symmetric: {dec[i][j]} ≠ {dec[j][i]} at [{j}][{i}]")

        def q(v: Decimal) -> int:
            return max(-PPM, min(PPM, int((v * PPM).to_integral_value(rounding=ROUND_HALF_EVEN))))

        ppm = [[PPM if i == j else q((dec[i][j] + dec[j][i]) / 2) for j in range(n)] for i in range(n)]
        return cls(tuple(assets), tuple(tuple(r) for r in ppm))

    def to_dict(self) -> dict:
        """Canonical JSON-able form: ``{"assets": [...], "ppm": [[...], ...]}``."""
        return {"assets": list(self.assets), "ppm": [list(r) for r in self.ppm]}

    @classmethod
    def from_dict(cls, d: Mapping) -> CorrelationMatrix:
        if not isinstance(d, Mapping) or set(d) != {"assets", "ppm"}:
            raise InvalidInput("correlation", f"expected an object with keys assets and ppm, got {d!r}")
        return cls(tuple(d["assets"]), tuple(tuple(r) for r in d["ppm"]))


def _requirements(requirements: Any, corr: CorrelationMatrix) -> tuple[np.ndarray, bool]:
    """Requirements as an (accounts × assets) object array of ints ≥ 0, and whether the input was one account."""
    n = len(corr.assets)
    if isinstance(requirements, Mapping):
        row = [0] * n
        for a in requirements:
            if a not in corr.assets:
                raise InvalidInput("requirements", f"unknown asset {a!r} (known: {', '.join(corr.assets)})")
            row[corr.assets.index(a)] = _int(requirements[a], f"requirements.{a}", lo=0, hi=MAX_REQUIREMENT)
        out = np.empty((1, n), dtype=object)
        out[0, :] = row
        return out, True
    arr = np.asarray(requirements, dtype=object) if isinstance(requirements, (list, tuple)) else np.asarray(requirements)
    if arr.dtype.kind not in "iuO" or arr.dtype == np.bool_:
        raise InvalidInput("requirements", f"expected integer quote base units, got dtype {arr.dtype}")
    single = arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidInput("requirements", f"expected a vector or an (accounts × assets) matrix, got shape {arr.shape}")
    if arr.shape[1] != n:
        raise InvalidInput("requirements", f"{arr.shape[1]} requirements for {n} assets: lengths must match")
    out = np.empty(arr.shape, dtype=object)
    vals = arr.tolist()
    for i, row in enumerate(vals):
        for j, x in enumerate(row):
            out[i, j] = _int(x, f"requirements[{i}][{j}]" if not single else f"requirements[{j}]", lo=0, hi=MAX_REQUIREMENT)
    return out, single


def _stress(stress_ppm: Any) -> int:
    return _int(stress_ppm, "stress_ppm", lo=0, hi=PPM)


def _quadratic(r: np.ndarray, corr: CorrelationMatrix) -> list[int]:
    c = np.empty((len(corr.assets),) * 2, dtype=object)
    c[:, :] = [list(row) for row in corr.ppm]
    return [int(x) for x in ((r @ c) * r).sum(axis=1)] if r.shape[0] else []


def _out(values: list[int], single: bool) -> Any:
    if single:
        return values[0]
    if values and max(values) > _INT64_MAX:
        raise InvalidInput("requirements", "a result overflows int64")
    return np.array(values, dtype=np.int64)


def correlated_requirement(requirements: Any, corr: CorrelationMatrix, stress_ppm: int = 0) -> Any:
    """``⌈√(rᵀ C_s r)⌉``: the diversified requirement under correlation stressed by ``stress_ppm``.

    Parameters
    ----------
    requirements : mapping of str to int, sequence of int, or 2-D integer array
        Per-asset requirements ``≥ 0`` (quote base units) of one account (a mapping, absent assets
        0, or a vector aligned with ``corr.assets``), or a matrix ``(accounts × assets)``.
    corr : CorrelationMatrix
    stress_ppm : int
        ``w`` in ppm, ``0 ≤ w ≤ 10^6``.

    Returns
    -------
    int or numpy.ndarray of int64
        Rounded up; one per account for a matrix.

    Examples
    --------
    >>> c = CorrelationMatrix(("BTC", "ETH"), ((10**6, 0), (0, 10**6)))
    >>> correlated_requirement({"BTC": 3_000, "ETH": 4_000}, c), correlated_requirement([3_000, 4_000], c, 10**6)
    (5000, 7000)
    """
    if not isinstance(corr, CorrelationMatrix):
        raise InvalidInput("corr", f"expected a CorrelationMatrix, got {type(corr).__name__}")
    w = _stress(stress_ppm)
    r, single = _requirements(requirements, corr)
    sums = [int(x) for x in r.sum(axis=1)]
    out = []
    for s, tot in zip(_quadratic(r, corr), sums, strict=True):
        t = (PPM - w) * s + w * PPM * tot * tot  # 10^12 · rᵀ C_s r
        out.append(_ceil_sqrt_diff(t, 0, PPM))
    return _out(out, single)


def stressed_correlation_addon(requirements: Any, corr: CorrelationMatrix, stress_ppm: int) -> Any:
    """The stressed-correlation add-on ``⌈√(rᵀ C_s r) − √(rᵀ C r)⌉`` (quote base units, ≥ 0).

    Parameters
    ----------
    requirements : mapping, sequence or 2-D integer array
        As in :func:`correlated_requirement`.
    corr : CorrelationMatrix
    stress_ppm : int
        The weight ``w`` of the all-ones matrix in ``C_s``, ppm (``0 ≤ w ≤ 10^6``).

    Returns
    -------
    int or numpy.ndarray of int64
        The add-on, rounded up exactly; one per account for a matrix.

    Raises
    ------
    InvalidInput
        Unknown assets, negative or non-integer requirements, mismatched lengths, a bad ``w``.

    Examples
    --------
    Two uncorrelated assets of 3,000 and 4,000: diversified 5,000; stressed half way to 1,
    ``√(9e6 + 16e6 + 2 · 0.5 · 12e6) = √37e6 = 6082.76…``:

    >>> c = CorrelationMatrix(("BTC", "ETH"), ((10**6, 0), (0, 10**6)))
    >>> stressed_correlation_addon([3_000, 4_000], c, 500_000)
    1083
    """
    if not isinstance(corr, CorrelationMatrix):
        raise InvalidInput("corr", f"expected a CorrelationMatrix, got {type(corr).__name__}")
    w = _stress(stress_ppm)
    r, single = _requirements(requirements, corr)
    sums = [int(x) for x in r.sum(axis=1)]
    out = []
    for s, tot in zip(_quadratic(r, corr), sums, strict=True):
        t = (PPM - w) * s + w * PPM * tot * tot  # 10^12 · rᵀ C_s r
        out.append(_ceil_sqrt_diff(t, PPM * s, PPM))  # √(10^6 · S) = 10^6 · √(rᵀ C r)
    return _out(out, single)


__all__ = ["MAX_REQUIREMENT", "CorrelationMatrix", "correlated_requirement", "stressed_correlation_addon"]
