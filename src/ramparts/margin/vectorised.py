"""Exact int64 numpy kernels of the margin schedule: the requirements of many positions at once.

This module owns :func:`maintenance_margin_array` and :func:`initial_margin_array`, the vectorised
twins of :meth:`MarginSchedule.maintenance_margin <ramparts.margin.schedule.MarginSchedule.maintenance_margin>`
and :meth:`~ramparts.margin.schedule.MarginSchedule.initial_margin`. They return **exactly** the
scalar results (the property tests check it on random schedules up to ``MAX_NOTIONAL``), using
only int64 arithmetic that cannot overflow.

Why it cannot overflow
----------------------
``N·rate − C`` reaches ``4e15 × 1e6 = 4e21`` and does not fit in int64. With
``N = q·10^6 + r`` and ``C = c_q·10^6 + c_r`` (``0 ≤ r, c_r < 10^6``, split once in
:class:`~ramparts.margin.schedule.ScheduleArrays`),

.. math::

    N \\cdot rate - C = (q \\cdot rate - c_q) \\cdot 10^6 + (r \\cdot rate - c_r),

so ``⌈(N·rate − C)/10^6⌉ = (q·rate − c_q) + ⌈(r·rate − c_r)/10^6⌉``. With ``N ≤ MAX_NOTIONAL = 4e15``
and ``rate ≤ 1e6``: ``q·rate ≤ 4e15`` and ``|r·rate − c_r| < 1e12``, far inside int64.
The size premium ``⌈N·rate_p/10^6⌉ = q·rate_p + ⌈r·rate_p/10^6⌉`` is split the same way.

The bracket of each notional is ``searchsorted(floors, N, side='right') − 1``.
"""

from __future__ import annotations

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.schedule import ScheduleArrays

_PPM = np.int64(PPM)


def _check_notional(notional: np.ndarray) -> np.ndarray:
    n = np.asarray(notional)
    if n.dtype.kind not in "iu":
        raise InvalidInput("notional", f"expected an integer array, got dtype {n.dtype}")
    if n.size:
        lo, hi = n.min(), n.max()
        if lo < 0:
            raise InvalidInput("notional", f"must be non-negative, got {int(lo)}")
        if hi > MAX_NOTIONAL:
            raise InvalidInput("notional", f"{int(hi)} exceeds the notional limit {MAX_NOTIONAL}")
    return n.astype(np.int64, copy=False)


def _check_size(size: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    s = np.asarray(size)
    if s.dtype.kind not in "iuf" or s.dtype == np.bool_:
        raise InvalidInput("size_underlying", f"expected a float array, got dtype {s.dtype}")
    s = s.astype(np.float64, copy=False)
    if s.shape != shape:
        raise InvalidInput("size_underlying", f"shape {s.shape} differs from the notional's {shape}")
    if s.size:
        if not np.isfinite(s).all():
            raise InvalidInput("size_underlying", "must be finite")
        if s.min() < 0:
            raise InvalidInput("size_underlying", "must be non-negative")
    return s


def _ceil_ppm(x: np.ndarray) -> np.ndarray:
    """``⌈x / 1e6⌉`` for an int64 array (exact; floor division of the negation)."""
    return -((-x) // _PPM)


def _requirement(
    notional: np.ndarray,
    arrays: ScheduleArrays,
    size_underlying: np.ndarray | None,
    rates: np.ndarray,
    cum_q: np.ndarray,
    cum_r: np.ndarray,
    base_ppm: int,
) -> np.ndarray:
    n = _check_notional(notional)
    q, r = np.divmod(n, _PPM)
    if rates.size == 1:
        req = (q * rates[0] - cum_q[0]) + _ceil_ppm(r * rates[0] - cum_r[0])
    else:
        k = np.searchsorted(arrays.floors, n, side="right") - 1
        rate = rates[k]
        req = (q * rate - cum_q[k]) + _ceil_ppm(r * rate - cum_r[k])
    spp = arrays.size_premium_ppm
    if spp and size_underlying is not None:
        s = _check_size(size_underlying, n.shape)
        # the same IEEE operations, in the same order, as MarginSchedule.size_premium_rate_ppm
        premium = np.ceil((4 * base_ppm) / 5 + spp * np.sqrt(s))
        p = np.minimum(premium, float(PPM)).astype(np.int64)
        req = np.maximum(req, q * p + _ceil_ppm(r * p))
    return np.asarray(req, dtype=np.int64)


def maintenance_margin_array(
    notional: np.ndarray,
    arrays: ScheduleArrays,
    size_underlying: np.ndarray | None = None,
) -> np.ndarray:
    """Maintenance margins of many positions, exactly as the scalar schedule computes them.

    Parameters
    ----------
    notional : numpy.ndarray[int64]
        ``|lots| × mark lot price`` per position, quote base units, each in ``[0, MAX_NOTIONAL]``.
    arrays : ScheduleArrays
        :meth:`MarginSchedule.to_arrays() <ramparts.margin.schedule.MarginSchedule.to_arrays>`.
    size_underlying : numpy.ndarray[float64], optional
        ``|position|`` in units of the underlying, same shape as ``notional``; only read when the
        schedule has a size premium (``None`` = size 0, which never binds).

    Returns
    -------
    numpy.ndarray[int64]
        The requirements, quote base units, rounded up, element for element equal to
        :meth:`~ramparts.margin.schedule.MarginSchedule.maintenance_margin`.

    Raises
    ------
    InvalidInput
        A non-integer array, a negative notional or one above ``MAX_NOTIONAL``; a size array of the
        wrong shape, negative or non-finite.
    """
    return _requirement(notional, arrays, size_underlying, arrays.mm_ppm, arrays.mm_cum_q, arrays.mm_cum_r, arrays.mm_base_ppm)


def initial_margin_array(
    notional: np.ndarray,
    arrays: ScheduleArrays,
    size_underlying: np.ndarray | None = None,
) -> np.ndarray:
    """Initial margins of many positions; as :func:`maintenance_margin_array` with the initial rates."""
    return _requirement(notional, arrays, size_underlying, arrays.im_ppm, arrays.im_cum_q, arrays.im_cum_r, arrays.im_base_ppm)


__all__ = ["ScheduleArrays", "initial_margin_array", "maintenance_margin_array"]
