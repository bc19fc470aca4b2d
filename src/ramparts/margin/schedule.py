"""Margin schedules: notional tiers (Binance / Hyperliquid form) with an optional square-root size
premium (Drift v2's form), and the exact scalar initial and maintenance requirements they define.

This module owns :class:`MarginTier`, :class:`MarginSchedule` and :class:`ScheduleArrays` (the
int64 view of a schedule consumed by :mod:`ramparts.margin.vectorised`). Everything is exact
integer arithmetic in the units of :mod:`ramparts.fixedpoint`: notionals are quote base units,
rates are ppm, and every requirement is rounded **up** (towards solvency). The only floats are in
the size premium's square root, documented at :meth:`MarginSchedule.size_premium_rate_ppm`.

The tiered requirement
----------------------
A schedule is a list of notional brackets ``[floor_k, floor_{k+1})`` with rising rates. A position
of notional ``N`` in bracket ``k`` requires

.. math::

    MM(N) = \\left\\lceil \\frac{N \\cdot mmr_k - C_k}{10^6} \\right\\rceil, \\qquad
    C_0 = 0, \\quad C_k = C_{k-1} + floor_k \\cdot (mmr_k - mmr_{k-1}),

where ``mmr`` is in ppm and ``C_k`` is the *maintenance amount* (Binance's ``cum``, Hyperliquid's
``deduction``) kept scaled by 1e6 so that it is an exact int. ``N·mmr_k − C_k`` is continuous in
``N`` (both neighbouring formulas agree at every floor) and is the upper envelope
``max_j (N·mmr_j − C_j)`` of all the brackets' lines (a convex, piecewise-linear function), which is
what :mod:`ramparts.margin.liquidation_price` solves against. The initial requirement has the same
form with the initial rates and its own amounts.

The size premium
----------------
With ``size_premium_ppm > 0`` the requirement is additionally at least ``⌈N · r(size)/10^6⌉`` with
Drift v2's size-scaled margin ratio ``r(size) = 0.8·base + size_premium_ppm·√size`` (``base`` the
bracket-0 rate, ``size`` in units of the underlying), see
:meth:`MarginSchedule.size_premium_rate_ppm`.

References
----------
* Binance USD-M / COIN-M futures, "Leverage and margin" (maintenance amount per bracket).
* Hyperliquid docs, "Margin tiers" (``deduction(n)``).
* drift-labs/protocol-v2 at ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``, ``programs/drift/src/math/margin.rs``
  (``calculate_size_premium_liability_weight``) and ``state/perp_market.rs`` (``get_margin_ratio``).
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_NOTIONAL, PPM, ceil_div, rate_to_ppm, to_units

#: Most brackets a schedule may have (real venues use about ten).
MAX_TIERS = 64


# ---------------------------------------------------------------------------------------- helpers
def _int(value: Any, field: str) -> int:
    """``value`` as a plain ``int`` (numpy integers accepted; bools, floats and junk refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(field, f"expected an int, got {type(value).__name__} {value!r}")
    return int(value)


def check_notional(notional: Any, field: str = "notional") -> int:
    """Validate a position notional: an int in ``[0, MAX_NOTIONAL]`` quote base units.

    Parameters
    ----------
    notional : int
        ``|lots| × lot_price``, quote base units.
    field : str
        Name reported in the :class:`~ramparts.errors.InvalidInput` raised on bad input.

    Returns
    -------
    int
        ``notional`` as a Python ``int``.
    """
    n = _int(notional, field)
    if n < 0:
        raise InvalidInput(field, f"must be non-negative, got {n}")
    if n > MAX_NOTIONAL:
        raise InvalidInput(field, f"{n} exceeds the notional limit {MAX_NOTIONAL}")
    return n


def check_size_underlying(size: Any, field: str = "size_underlying") -> float:
    """Validate a position size in units of the underlying (``Decimal``, ``float`` or ``int``).

    Returns the size as a ``float`` (the size premium's square root is taken in floating point).
    Raises :class:`~ramparts.errors.InvalidInput` for negative, NaN, infinite or non-numeric sizes.
    """
    if isinstance(size, bool):
        raise InvalidInput(field, f"expected a number, got {size!r}")
    if isinstance(size, Decimal):
        if not size.is_finite():
            raise InvalidInput(field, f"must be finite, got {size}")
        s = float(size)
    elif isinstance(size, numbers.Real):
        s = float(size)
    else:
        raise InvalidInput(field, f"expected a number, got {type(size).__name__}")
    if not math.isfinite(s):
        raise InvalidInput(field, f"must be finite, got {size!r}")
    if s < 0:
        raise InvalidInput(field, f"must be non-negative, got {size!r}")
    return s


def _check_rates(initial_ppm: int, maintenance_ppm: int, prefix: str) -> None:
    if not 0 < maintenance_ppm <= PPM:
        raise InvalidInput(f"{prefix}.maintenance_rate", f"must lie in (0, 100 %], got {maintenance_ppm} ppm")
    if not 0 < initial_ppm <= PPM:
        raise InvalidInput(f"{prefix}.initial_rate", f"must lie in (0, 100 %], got {initial_ppm} ppm")
    if maintenance_ppm > initial_ppm:
        raise InvalidInput(
            f"{prefix}.maintenance_rate",
            f"{maintenance_ppm} ppm exceeds the initial rate {initial_ppm} ppm",
        )


def _cumulative(floors: tuple[int, ...], rates: tuple[int, ...]) -> tuple[int, ...]:
    """The scaled maintenance (or initial) amounts ``C_k`` of the module docstring."""
    cum = [0]
    for k in range(1, len(floors)):
        cum.append(cum[-1] + floors[k] * (rates[k] - rates[k - 1]))
    return tuple(cum)


# ---------------------------------------------------------------------------------------- types
@dataclass(frozen=True, slots=True)
class MarginTier:
    """One notional bracket of a :class:`MarginSchedule`.

    Parameters
    ----------
    notional_floor : int
        Lower bound of the bracket, quote base units (inclusive). The first bracket's floor is 0.
    initial_rate_ppm : int
        Initial margin rate of the bracket, ppm (``100_000`` = 10 %, i.e. 10× maximum leverage).
    maintenance_rate_ppm : int
        Maintenance margin rate of the bracket, ppm; ``0 < maintenance ≤ initial ≤ 1e6``.

    Raises
    ------
    InvalidInput
        Non-int values, a floor outside ``[0, MAX_NOTIONAL]``, rates outside ``(0, 1e6]`` or a
        maintenance rate above the initial rate.
    """

    notional_floor: int
    initial_rate_ppm: int
    maintenance_rate_ppm: int

    def __post_init__(self) -> None:
        floor = _int(self.notional_floor, "tier.notional_floor")
        im = _int(self.initial_rate_ppm, "tier.initial_rate_ppm")
        mm = _int(self.maintenance_rate_ppm, "tier.maintenance_rate_ppm")
        if not 0 <= floor <= MAX_NOTIONAL:
            raise InvalidInput("tier.notional_floor", f"must lie in [0, {MAX_NOTIONAL}], got {floor}")
        _check_rates(im, mm, "tier")
        object.__setattr__(self, "notional_floor", floor)
        object.__setattr__(self, "initial_rate_ppm", im)
        object.__setattr__(self, "maintenance_rate_ppm", mm)


@dataclass(frozen=True, eq=False, slots=True)
class ScheduleArrays:
    """The int64 view of a :class:`MarginSchedule` used by :mod:`ramparts.margin.vectorised`.

    Every array has one entry per bracket and is read-only.

    Attributes
    ----------
    floors : numpy.ndarray[int64]
        Bracket floors, quote base units, strictly increasing from 0.
    im_ppm, mm_ppm : numpy.ndarray[int64]
        Initial and maintenance rates, ppm.
    im_cum_q, im_cum_r, mm_cum_q, mm_cum_r : numpy.ndarray[int64]
        The scaled amounts ``C_k`` split as ``C_k = cum_q·1e6 + cum_r`` with ``0 ≤ cum_r < 1e6``:
        ``C_k`` itself reaches ``MAX_NOTIONAL × 1e6 ≈ 4e21`` and does not fit in int64.
    size_premium_ppm : int
        Drift-style IMF factor, ppm per √(underlying unit); 0 = off.
    im_base_ppm, mm_base_ppm : int
        The bracket-0 rates the size premium scales from.
    """

    floors: np.ndarray
    im_ppm: np.ndarray
    mm_ppm: np.ndarray
    im_cum_q: np.ndarray
    im_cum_r: np.ndarray
    mm_cum_q: np.ndarray
    mm_cum_r: np.ndarray
    size_premium_ppm: int
    im_base_ppm: int
    mm_base_ppm: int


@dataclass(frozen=True)
class MarginSchedule:
    """A notional-tier margin schedule with an optional square-root size premium.

    Parameters
    ----------
    tiers : tuple[MarginTier, ...]
        The brackets, floors strictly increasing from 0; initial and maintenance rates
        non-decreasing from one bracket to the next. A list is accepted and stored as a tuple.
    size_premium_ppm : int, default 0
        Drift v2's ``imf_factor``: ppm of margin rate per √(unit of the underlying); 0 turns the
        size premium off.

    Attributes
    ----------
    mm_cum_scaled, im_cum_scaled : tuple[int, ...]
        The maintenance / initial amounts ``C_k`` of each bracket scaled by 1e6 (exact ints):
        ``C_0 = 0``, ``C_n = C_{n−1} + floor_n·(rate_n − rate_{n−1})``.

    Raises
    ------
    InvalidInput
        An empty or over-long tier list, a first floor other than 0, floors not strictly increasing,
        rates decreasing from one bracket to the next, or a negative / non-int size premium.

    Notes
    -----
    The requirement of notional ``N`` in bracket ``k`` is ``⌈(N·rate_k − C_k)/1e6⌉``: Binance's
    ``notional × MMR − maintenance amount``, rounded up, and continuous in ``N``. The schedule is
    immutable and hashable, and its canonical form (:meth:`to_dict`) contains only ints, so that it
    can be journaled and hashed.

    Examples
    --------
    >>> s = MarginSchedule.from_rates([("0", "0.02", "0.01"), ("100", "0.05", "0.025")], quote_decimals=0)
    >>> s.maintenance_margin(100), s.maintenance_margin(200)   # 1 % of 100; 2.5 % of 200 − 1.5
    (1, 4)
    >>> s.maintenance_amount(1)
    Fraction(3, 2)
    """

    tiers: tuple[MarginTier, ...]
    size_premium_ppm: int = 0
    mm_cum_scaled: tuple[int, ...] = field(init=False, repr=False, compare=False)
    im_cum_scaled: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _floors: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _im: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _mm: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _arrays: list = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = self.tiers
        if isinstance(tiers, list):
            tiers = tuple(tiers)
        if not isinstance(tiers, tuple) or not tiers:
            raise InvalidInput("margin.tiers", "expected a non-empty sequence of MarginTier")
        if len(tiers) > MAX_TIERS:
            raise InvalidInput("margin.tiers", f"at most {MAX_TIERS} tiers, got {len(tiers)}")
        for k, t in enumerate(tiers):
            if not isinstance(t, MarginTier):
                raise InvalidInput(f"margin.tiers[{k}]", f"expected a MarginTier, got {type(t).__name__}")
        if tiers[0].notional_floor != 0:
            raise InvalidInput("margin.tiers[0].notional_floor", f"the first tier must start at 0, got {tiers[0].notional_floor}")
        for k in range(1, len(tiers)):
            prev, cur = tiers[k - 1], tiers[k]
            if cur.notional_floor <= prev.notional_floor:
                raise InvalidInput(
                    f"margin.tiers[{k}].notional_floor",
                    f"floors must be strictly increasing ({cur.notional_floor} after {prev.notional_floor})",
                )
            if cur.initial_rate_ppm < prev.initial_rate_ppm:
                raise InvalidInput(f"margin.tiers[{k}].initial_rate", "rates must not decrease from one tier to the next")
            if cur.maintenance_rate_ppm < prev.maintenance_rate_ppm:
                raise InvalidInput(f"margin.tiers[{k}].maintenance_rate", "rates must not decrease from one tier to the next")
        spp = _int(self.size_premium_ppm, "margin.size_premium")
        if spp < 0:
            raise InvalidInput("margin.size_premium", f"must be non-negative, got {spp}")
        if spp > PPM * PPM:
            raise InvalidInput("margin.size_premium", f"{spp} ppm per √unit is beyond any sensible premium")
        floors = tuple(t.notional_floor for t in tiers)
        im = tuple(t.initial_rate_ppm for t in tiers)
        mm = tuple(t.maintenance_rate_ppm for t in tiers)
        setattr_ = object.__setattr__
        setattr_(self, "tiers", tiers)
        setattr_(self, "size_premium_ppm", spp)
        setattr_(self, "_floors", floors)
        setattr_(self, "_im", im)
        setattr_(self, "_mm", mm)
        setattr_(self, "mm_cum_scaled", _cumulative(floors, mm))
        setattr_(self, "im_cum_scaled", _cumulative(floors, im))
        setattr_(self, "_arrays", [])

    # ------------------------------------------------------------------------------ requirements
    def tier_index(self, notional: int) -> int:
        """Index of the bracket holding ``notional``: the last tier whose floor is ``≤ notional``.

        Raises :class:`~ramparts.errors.InvalidInput` unless ``0 ≤ notional ≤ MAX_NOTIONAL``.
        """
        n = check_notional(notional)
        return bisect_right(self._floors, n) - 1

    def size_premium_rate_ppm(self, size_underlying: Decimal | float = 0, *, initial: bool = False) -> int:
        """Drift v2's size-scaled margin rate for a position of ``size_underlying`` units, in ppm.

        Parameters
        ----------
        size_underlying : Decimal or float
            ``|position|`` in units of the underlying (e.g. BTC), ``≥ 0``.
        initial : bool, default False
            Scale the bracket-0 *initial* rate instead of the maintenance rate.

        Returns
        -------
        int
            ``min(1e6, ⌈0.8·base + size_premium_ppm·√size⌉)`` ppm, or 0 when the premium is off.

        Notes
        -----
        Drift's ``margin_ratio(size) = max(default, (default − default/5) + isqrt(size·10+1)·imf_factor
        / (1e5·1e6/1e4))`` with size in 1e9 precision and ratios in 1e4 reduces, in ppm and units of
        the underlying, to ``0.8·base + imf·√size`` (drift-labs/protocol-v2 ``0ae3e3b1``,
        ``math/margin.rs``). This is the one floating-point computation of the margin layer:
        ``(4·base)/5 + imf·sqrt(size)`` in IEEE double (each operation correctly rounded, so the
        numpy kernels reproduce it bit for bit), then rounded **up** to an integer ppm. The float
        error (a few ulp, far below 1e-6 ppm for any rate under 100 %) can understate the exact rate
        only when it lies within that distance above an integer. The rate is capped at 100 % so
        that no requirement exceeds the notional (which keeps every int64 sum of requirements within
        the range of a sum of notionals); Drift does not cap it.
        """
        spp = self.size_premium_ppm
        if not spp:
            return 0
        s = check_size_underlying(size_underlying)
        base = self._im[0] if initial else self._mm[0]
        rate = math.ceil((4 * base) / 5 + spp * math.sqrt(s))
        return min(rate, PPM)

    def _requirement(self, notional: Any, size_underlying: Any, rates: tuple[int, ...], cum: tuple[int, ...], initial: bool) -> int:
        n = check_notional(notional)
        k = bisect_right(self._floors, n) - 1
        req = ceil_div(n * rates[k] - cum[k], PPM)
        if self.size_premium_ppm:
            premium = self.size_premium_rate_ppm(size_underlying, initial=initial)
            req = max(req, ceil_div(n * premium, PPM))
        return req

    def maintenance_margin(self, notional: int, size_underlying: Decimal | float = 0) -> int:
        """Maintenance margin of a position, quote base units, rounded up.

        Parameters
        ----------
        notional : int
            ``|lots| × mark lot price``, quote base units, ``0 ≤ notional ≤ MAX_NOTIONAL``.
        size_underlying : Decimal or float, default 0
            ``|position|`` in units of the underlying; used only by the size premium.

        Returns
        -------
        int
            ``max(⌈(N·mmr_k − C_k)/1e6⌉, ⌈N·r_mm(size)/1e6⌉)``, the second term only when the size
            premium is on.

        Raises
        ------
        InvalidInput
            A negative, non-int or overflowing notional; a negative or non-finite size.
        """
        return self._requirement(notional, size_underlying, self._mm, self.mm_cum_scaled, False)

    def initial_margin(self, notional: int, size_underlying: Decimal | float = 0) -> int:
        """Initial margin of a position, quote base units, rounded up.

        Same form as :meth:`maintenance_margin` with the initial rates, the initial amounts and the
        size premium scaled from the bracket-0 initial rate.
        """
        return self._requirement(notional, size_underlying, self._im, self.im_cum_scaled, True)

    def _tier(self, tier: Any) -> int:
        k = _int(tier, "tier")
        if not 0 <= k < len(self.tiers):
            raise InvalidInput("tier", f"no tier {k} (the schedule has {len(self.tiers)})")
        return k

    def maintenance_amount(self, tier: int) -> Fraction:
        """Bracket ``tier``'s maintenance amount (Binance's ``cum``), in quote base units, exact.

        ``C_tier / 1e6``; with 8 quote decimals, Binance's COIN-M worked example "level 5 amount =
        50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC" is ``Fraction(181_000_000)``.
        """
        return Fraction(self.mm_cum_scaled[self._tier(tier)], PPM)

    def initial_amount(self, tier: int) -> Fraction:
        """Bracket ``tier``'s initial-margin amount, quote base units, exact (as :meth:`maintenance_amount`)."""
        return Fraction(self.im_cum_scaled[self._tier(tier)], PPM)

    # ------------------------------------------------------------------------------ views
    def to_arrays(self) -> ScheduleArrays:
        """The schedule as read-only int64 arrays for :mod:`ramparts.margin.vectorised` (cached)."""
        if self._arrays:
            return self._arrays[0]

        def arr(values) -> np.ndarray:
            a = np.array(values, dtype=np.int64)
            a.setflags(write=False)
            return a

        im_q, im_r = zip(*(divmod(c, PPM) for c in self.im_cum_scaled), strict=True)
        mm_q, mm_r = zip(*(divmod(c, PPM) for c in self.mm_cum_scaled), strict=True)
        arrays = ScheduleArrays(
            floors=arr(self._floors),
            im_ppm=arr(self._im),
            mm_ppm=arr(self._mm),
            im_cum_q=arr(im_q),
            im_cum_r=arr(im_r),
            mm_cum_q=arr(mm_q),
            mm_cum_r=arr(mm_r),
            size_premium_ppm=self.size_premium_ppm,
            im_base_ppm=self._im[0],
            mm_base_ppm=self._mm[0],
        )
        self._arrays.append(arrays)
        return arrays

    def to_dict(self) -> dict:
        """Canonical JSON-able form (ints only), for journaling and hashing.

        ``{"tiers": [[notional_floor, initial_rate_ppm, maintenance_rate_ppm], ...], "size_premium_ppm": int}``.
        """
        return {
            "tiers": [[t.notional_floor, t.initial_rate_ppm, t.maintenance_rate_ppm] for t in self.tiers],
            "size_premium_ppm": self.size_premium_ppm,
        }

    @classmethod
    def from_dict(cls, d: dict) -> MarginSchedule:
        """Rebuild a schedule from :meth:`to_dict`'s form; :class:`~ramparts.errors.InvalidInput` if malformed."""
        if not isinstance(d, dict):
            raise InvalidInput("margin", "expected an object")
        extra = set(d) - {"tiers", "size_premium_ppm"}
        if extra:
            raise InvalidInput("margin", f"unknown keys {sorted(extra)}")
        tiers = d.get("tiers")
        if not isinstance(tiers, (list, tuple)) or not tiers:
            raise InvalidInput("margin.tiers", "expected a non-empty list of [notional_floor, initial_rate_ppm, maintenance_rate_ppm]")
        built = []
        for k, t in enumerate(tiers):
            if not isinstance(t, (list, tuple)) or len(t) != 3:
                raise InvalidInput(f"margin.tiers[{k}]", "expected [notional_floor, initial_rate_ppm, maintenance_rate_ppm]")
            built.append(MarginTier(*(_int(v, f"margin.tiers[{k}]") for v in t)))
        return cls(tuple(built), d.get("size_premium_ppm", 0))

    # ------------------------------------------------------------------------------ constructors
    @classmethod
    def from_rates(
        cls,
        tiers: list[tuple[object, object, object]],
        quote_decimals: int,
        size_premium: object = 0,
    ) -> MarginSchedule:
        """Build a schedule from user-facing decimals.

        Parameters
        ----------
        tiers : list of (notional_floor, initial_rate, maintenance_rate)
            Floors in quote currency (``"50000"`` USDC), rates as decimal fractions (``"0.01"`` =
            1 %); str, int or Decimal (finite floats are accepted but discouraged).
        quote_decimals : int
            Decimals of the quote asset (USDC 6, BTC 8), to convert floors to base units.
        size_premium : decimal, default 0
            Drift's IMF factor as a decimal fraction per √(unit of the underlying) (``"0.0005"`` =
            500 ppm); must be a whole number of ppm.

        Raises
        ------
        InvalidInput
            Malformed numbers (naming ``margin.tiers[k].<field>``), floors finer than one base
            unit, rates finer than 1 ppm, and every check of :class:`MarginSchedule`.
        """
        qd = _int(quote_decimals, "quote_decimals")
        if not 0 <= qd <= 18:
            raise InvalidInput("quote_decimals", f"must lie in [0, 18], got {qd}")
        if not isinstance(tiers, (list, tuple)) or not tiers:
            raise InvalidInput("margin.tiers", "expected a non-empty list of [notional_floor, initial_rate, maintenance_rate]")
        built = []
        for k, t in enumerate(tiers):
            prefix = f"margin.tiers[{k}]"
            if not isinstance(t, (list, tuple)) or len(t) != 3:
                raise InvalidInput(prefix, "expected [notional_floor, initial_rate, maintenance_rate]")
            floor = to_units(t[0], qd, f"{prefix}.notional_floor")
            if not 0 <= floor <= MAX_NOTIONAL:
                raise InvalidInput(f"{prefix}.notional_floor", f"must lie in [0, {MAX_NOTIONAL}] base units, got {floor}")
            im = rate_to_ppm(t[1], f"{prefix}.initial_rate")
            mm = rate_to_ppm(t[2], f"{prefix}.maintenance_rate")
            _check_rates(im, mm, prefix)
            built.append(MarginTier(floor, im, mm))
        spp = rate_to_ppm(size_premium, "margin.size_premium")
        return cls(tuple(built), spp)

    @classmethod
    def flat(cls, initial_rate: object, maintenance_rate: object, quote_decimals: int = 6, size_premium: object = 0) -> MarginSchedule:
        """A single-bracket schedule: ``flat("0.1", "0.05")`` is 10 % initial, 5 % maintenance."""
        return cls.from_rates([(0, initial_rate, maintenance_rate)], quote_decimals, size_premium)


__all__ = ["MAX_TIERS", "MarginSchedule", "MarginTier", "ScheduleArrays", "check_notional", "check_size_underlying"]
