"""Strategy-based ("standard") option margin: the per-leg short-option formulas of Deribit / Derive's
StandardManager, capped for defined-risk combinations by the portfolio's maximum loss at expiry.

This module owns :class:`StandardOptionParams`, the **one** home of the short-option formulas
(:func:`short_option_requirements`, written once over an :class:`Arithmetic`: float64 arrays here,
Derive's 1e18 fixed point with Solidity's truncation in :mod:`ramparts.venues.derive`), the charge
for unpaired short calls (:func:`unpaired_call_charge`) and the cap rule (:func:`capped_requirement`),
:func:`isolated_requirements` (one requirement per leg), :func:`max_loss` (the worst payoff of a set
of legs on one underlying and expiry) and :func:`standard_margin` / :func:`standard_margin_by_expiry`
(their combination). Inputs are ``float64`` arrays; :meth:`StandardMarginResult.to_units` turns a
requirement into ``int`` base units rounded **up** (solvency first, as :mod:`ramparts.fixedpoint`).

The formulas
------------
For a leg of ``n = −q > 0`` short contracts (long options have **no requirement and no collateral
value**), ``S`` the underlying mark (index) price, ``K`` the strike, ``M = n·m`` the mark value of the
short (``m`` the option's mark price) and ``U`` the unit price of the rates (``S`` linear, ``1``
inverse)::

    OTM          call: max(K − S, 0) / S        put: max(S − K, 0) / S
    IM           max(im_base − OTM, im_floor) · U · n + M                    (short call and short put)
    MM call      mm_base · U · n + M
    MM put       max(mm_put_base · U · n, mm_put_mark · M) + M               (Derive: the larger of the
                                                                              spot- and mark-based terms)
    IM put       max(IM, put_im_over_mm · MM put)                            (Derive: IM ≤ MM·mmOffsetScale)

Deribit's published parameters (``DERIBIT``): ``im_base = 0.15``, ``im_floor = 0.10``, ``mm_base =
mm_put_base = 0.075``, ``mm_put_mark = 0``, ``put_im_over_mm = 1`` (its ``IM = max(…, MM)``). Derive's
test configuration (``DERIVE_TEST``, derivexyz/v2-core ``test/config-test.sol`` ``getSRMParams``):
``maxSpotReq 0.15``, ``minSpotReq 0.10``, ``mm{Call,Put}SpotReq 0.075``, ``MMPutMtMReq 0.075``,
``mmOffsetScale 1.05``, ``unpaired{IM,MM}Scale 1.2 / 1.1``. In the **inverse** (coin-settled, Deribit)
convention marks are coin prices and ``U = 1``, so requirements are in coins; in the **linear**
convention everything is in quote currency.

The requirement of the legs of one underlying and expiry (Derive's ``expiryMargin = max(Σ isolated,
maxLoss)`` in its sign convention, ``StandardManager._calcNetBasicMarginSingleExpiry``) is::

    requirement = min( Σ_legs isolated requirement , cap )
    cap         = bounded loss + unpaired_scale · F · net short calls      (linear, unpaired scales set)
                = max_loss                                                  (otherwise)

``max_loss = max(0, −min_P payoff(P))`` evaluates the expiry payoff of *all* legs (longs included) at
``P = 0``, at every strike and at ``P → ∞`` — the payoff is piecewise linear between strikes (linear)
or ``α/P + β`` (inverse, coin units), so its minimum is at one of those points. The *bounded loss* is
the same minimum over ``P = 0`` and the strikes only. For a defined-risk combination (vertical spread,
box, butterfly, covered structures) the requirement **equals the maximum loss whenever that is
smaller than the legs**: a box has no requirement, a bear call spread needs exactly its strike width.

**Unpaired short calls** (linear): net short calls lose without bound as ``P → ∞``. Without unpaired
scales (Deribit) the cap is infinite and the legs' sum applies. With them (Derive) the loss beyond the
highest strike is charged as ``unpaired_(im|mm)_scale × F × net short calls`` on top of the bounded
loss, ``F`` the forward of the expiry (``forward=``, default the spot) — exactly Derive's
``maxLossMargin += unpairedScale · forwardPrice · netCalls``. The inverse convention ignores the
scales: a short inverse call loses at most one coin, so its maximum loss is already finite (an
inverse net short put, whose coin loss grows without bound as ``P → 0``, leaves the sum of the legs).

The requirement is against *cash-like* collateral: premium received sits in the balance and the
option's mark enters through ``+ M`` (the cost to buy the short back), exactly as the venues publish.

References
----------
* derivexyz/v2-core ``7736900d395703c4f675376caa4c315402943831``, ``src/risk-managers/StandardManager.sol``
  (``_getIsolatedMarginForCall``, ``_getIsolatedMarginForPut``, ``_calcMaxLoss``,
  ``_calcNetBasicMarginSingleExpiry``) and ``test/config-test.sol``; summarised in
  ``ramparts/reference/open-source-venues.md`` §3.1. Its test cases are ported in
  ``tests/test_venue_derive_cases.py`` (through :mod:`ramparts.venues.derive`, which evaluates these
  formulas in Derive's fixed point).
* ``ramparts/reference/cex-and-clearinghouses.md`` — Deribit (its portfolio margin; the standard option
  margin formulas and the 0.15 / 0.10 / 0.075 parameters are Deribit's public "Inverse options margin"
  documentation, which the reference folder does not reproduce: Derive's SRM is its on-chain twin).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.options.black76 import as_call_flags, float_array


@dataclass(frozen=True)
class StandardOptionParams:
    """Parameters of the standard option margin (decimal fractions of the underlying price).

    Attributes
    ----------
    im_base : float
        Initial rate before the OTM reduction (Deribit 0.15, Derive ``maxSpotReq``).
    im_floor : float
        Minimum initial rate (Deribit 0.10, Derive ``minSpotReq``).
    mm_base : float
        Maintenance rate of a short call (Deribit 0.075, Derive ``mmCallSpotReq``).
    put_im_over_mm : float
        A short put's initial requirement is at least this multiple of its maintenance
        (Derive ``mmOffsetScale`` 1.05; Deribit's ``IM = max(…, MM)`` is 1.0).
    mm_put_base : float or None
        Spot-based maintenance rate of a short put (Derive ``mmPutSpotReq``); ``None``: ``mm_base``.
    mm_put_mark : float
        Mark-based maintenance rate of a short put (Derive ``MMPutMtMReq`` 0.075; Deribit 0): the put's
        maintenance is ``max(mm_put_base · S · n, mm_put_mark · M) + M``.
    unpaired_im_scale, unpaired_mm_scale : float or None
        Derive's ``unpaired{IM,MM}Scale``: net short calls of an expiry are charged
        ``scale · forward · net short calls`` on top of the bounded loss (linear convention). ``None``
        (Deribit): no cap for net short calls (both or neither must be set).
    """

    im_base: float = 0.15
    im_floor: float = 0.10
    mm_base: float = 0.075
    put_im_over_mm: float = 1.05
    mm_put_base: float | None = None
    mm_put_mark: float = 0.0
    unpaired_im_scale: float | None = None
    unpaired_mm_scale: float | None = None

    def __post_init__(self) -> None:
        if self.mm_put_base is None:
            object.__setattr__(self, "mm_put_base", self.mm_base)
        for name in ("im_base", "im_floor", "mm_base", "put_im_over_mm", "mm_put_base", "mm_put_mark",
                     "unpaired_im_scale", "unpaired_mm_scale"):
            v = getattr(self, name)
            if v is None and name.startswith("unpaired"):
                continue
            if isinstance(v, bool) or not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InvalidInput(name, f"must be a finite non-negative number, got {v!r}")
        if (self.unpaired_im_scale is None) != (self.unpaired_mm_scale is None):
            raise InvalidInput("unpaired_im_scale", "set both unpaired scales or neither")
        if self.im_floor > self.im_base:
            raise InvalidInput("im_floor", f"{self.im_floor} exceeds im_base {self.im_base}")
        if self.mm_base > self.im_floor:
            raise InvalidInput("mm_base", f"{self.mm_base} exceeds im_floor {self.im_floor} (MM must not exceed IM)")


DERIBIT = StandardOptionParams(put_im_over_mm=1.0)
#: Derive's standard manager with the option parameters of derivexyz/v2-core ``test/config-test.sol``.
DERIVE_TEST = StandardOptionParams(mm_put_mark=0.075, unpaired_im_scale=1.2, unpaired_mm_scale=1.1)


@dataclass(frozen=True)
class Arithmetic:
    """The four operations :func:`short_option_requirements` and :func:`unpaired_call_charge` are
    written in, so the formulas exist once for every number system.

    ``mul(a, b)`` and ``div(a, b)`` are the products and quotients of *decimal* quantities (Derive's
    ``multiplyDecimal`` / ``divideDecimal`` truncate to 1e18 fixed point after each one), ``maximum``
    the element-wise larger, ``select(flag, a, b)`` ``a`` where ``flag`` else ``b``; ``+`` and ``−``
    are the operands' own.
    """

    mul: Callable[[Any, Any], Any]
    div: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]
    select: Callable[[Any, Any, Any], Any]


#: float64 (numpy) arithmetic, element-wise over arrays.
FLOAT = Arithmetic(np.multiply, np.divide, np.maximum, np.where)


def short_option_requirements(is_call: Any, strike: Any, spot: Any, shorts: Any, mark_value: Any, params: Any,
                              *, unit: Any = None, ar: Arithmetic = FLOAT) -> tuple[Any, Any]:
    """Initial and maintenance requirement ``(IM, MM)`` of short option legs (both ≥ 0).

    The formulas of the module docstring, in ``ar``'s arithmetic and in the order of Derive's
    ``_getIsolatedMarginForCall`` / ``_getIsolatedMarginForPut`` (``(rate · S) · n`` then ``+ M``).

    Parameters
    ----------
    is_call : bool or array of bool
    strike, spot : numbers (quote currency)
    shorts : number or array
        Short contracts ``n ≥ 0``.
    mark_value : number or array
        The shorts' mark value ``M = n · m ≥ 0`` (coins if inverse).
    params : StandardOptionParams or any object with its attribute names
        Rates (as ``ar``'s numbers: floats for :data:`FLOAT`, 1e18 integers for Derive's fixed point).
    unit : optional
        The price the rates multiply: the spot (default, linear) or ``1`` (inverse).
    ar : Arithmetic, optional
    """
    unit = spot if unit is None else unit
    otm = ar.div(ar.select(is_call, ar.maximum(strike - spot, 0), ar.maximum(spot - strike, 0)), spot)
    im = ar.mul(ar.mul(ar.maximum(params.im_base - otm, params.im_floor), unit), shorts) + mark_value
    mm_call = ar.mul(ar.mul(params.mm_base, unit), shorts) + mark_value
    mm_put = ar.maximum(ar.mul(ar.mul(params.mm_put_base, unit), shorts), ar.mul(params.mm_put_mark, mark_value)) + mark_value
    im_put = ar.maximum(im, ar.mul(mm_put, params.put_im_over_mm))
    return ar.select(is_call, im, im_put), ar.select(is_call, mm_call, mm_put)


def unpaired_call_charge(net_short_calls: Any, forward: Any, scale: Any, *, ar: Arithmetic = FLOAT) -> Any:
    """Derive's charge for net short calls of one expiry: ``(scale · forward) · net short calls`` (≥ 0)."""
    return ar.mul(ar.mul(scale, forward), net_short_calls)


def capped_requirement(sum_isolated: Any, bounded_loss: Any, charge: Any) -> Any:
    """``min(Σ isolated, bounded loss + charge)``: Derive's ``max(totalIsolatedMargin, maxLossMargin)``
    with requirements positive (``charge`` is ``inf`` where net short calls have no cap)."""
    return min(sum_isolated, bounded_loss + charge)


def _legs(is_call: Any, strike: Any, quantity: Any, mark: Any | None) -> tuple[np.ndarray, ...]:
    c = np.atleast_1d(as_call_flags(is_call))
    k = np.atleast_1d(float_array(strike, "strike", positive=True))
    q = np.atleast_1d(float_array(quantity, "quantity"))
    m = np.atleast_1d(float_array(0.0 if mark is None else mark, "mark", nonneg=True))
    try:
        c, k, q, m = np.broadcast_arrays(c, k, q, m)
    except ValueError as exc:
        raise InvalidInput("shape", f"leg arrays do not broadcast: {exc}") from None
    if c.ndim != 1:
        raise InvalidInput("shape", f"legs must be one-dimensional, got shape {c.shape}")
    return c, k, q, m


def _spot(spot: Any, field: str = "spot") -> float:
    s = float_array(spot, field, positive=True)
    if s.ndim != 0:
        raise InvalidInput(field, "one underlying price per call")
    return float(s)


def isolated_requirements(
    is_call: Any,
    strike: Any,
    quantity: Any,
    mark: Any,
    spot: Any,
    *,
    inverse: bool = True,
    params: StandardOptionParams = DERIBIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial and maintenance requirement of each leg on its own (0 for long legs).

    Parameters
    ----------
    is_call : array_like of bool or str
        Option type per leg.
    strike : array_like
        Strikes (quote currency), > 0.
    quantity : array_like
        Signed contracts (one contract = one unit of the underlying); negative = short.
    mark : array_like
        Option mark price per contract: coins if ``inverse``, quote currency otherwise.
    spot : float
        Underlying mark (index) price, quote currency.
    inverse : bool, optional
        Coin-settled (Deribit) units (default) or linear quote units.
    params : StandardOptionParams, optional
        Published parameters (default: Deribit's).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(im, mm)`` per leg, in the convention's units, for ``|quantity|`` contracts.
    """
    c, k, q, m = _legs(is_call, strike, quantity, mark)
    s = _spot(spot)
    short = np.maximum(-q, 0.0)
    return short_option_requirements(c, k, s, short, m * short, params, unit=1.0 if inverse else s)


def _net_identical(c: np.ndarray, k: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # net identical legs (same type and strike) first: no cancellation round-off in the payoff sums
    keys, inv = np.unique(np.stack([c.astype(np.float64), k]), axis=1, return_inverse=True)
    q = np.bincount(inv.ravel(), weights=q, minlength=keys.shape[1])
    return keys[0].astype(bool), keys[1], q


def _payoff_points(c: np.ndarray, k: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray]:
    """``(quote payoff at each distinct strike, payoff at P = 0, net calls, distinct strikes)``."""
    pts = np.unique(k)
    diff = pts[:, None] - k[None, :]
    usd = (np.where(c[None, :], np.maximum(diff, 0.0), np.maximum(-diff, 0.0)) * q[None, :]).sum(axis=1)
    return usd, float((q[~c] * k[~c]).sum()), float(q[c].sum()), pts


def max_loss(is_call: Any, strike: Any, quantity: Any, *, inverse: bool = True) -> float:
    """Largest loss at expiry of a set of legs on one underlying and expiry (≥ 0; may be ``inf``).

    The payoff (cash, premiums excluded) is evaluated at ``P = 0``, at every strike and at
    ``P → ∞`` (see the module docstring); the maximum loss is ``max(0, −min payoff)``.

    Parameters
    ----------
    is_call, strike, quantity : array_like
        As in :func:`isolated_requirements` (marks are not needed).
    inverse : bool, optional
        Payoff in coins (``max(P−K, 0)/P`` for a call) or in quote currency.

    Returns
    -------
    float
    """
    c, k, q, _m = _legs(is_call, strike, quantity, None)
    if c.size == 0:
        return 0.0
    c, k, q = _net_identical(c, k, q)
    usd, at_zero_usd, net_calls, pts = _payoff_points(c, k, q)
    if inverse:
        vals = list(usd / pts)
        vals.append(net_calls)  # P → ∞: each call pays 1 − K/P → 1 coin, puts 0
        if at_zero_usd < 0:
            return math.inf
        if at_zero_usd == 0:
            vals.append(-float(q[~c].sum()))  # payoff = (a + bP)/P → b with a = 0
    else:
        if net_calls < 0:
            return math.inf
        vals = [*usd, at_zero_usd]
    return max(0.0, -min(vals))


def _bounded_loss_linear(c: np.ndarray, k: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """``(max(0, −min payoff over P = 0 and the strikes), net short calls)`` in quote currency."""
    if c.size == 0:
        return 0.0, 0.0
    usd, at_zero_usd, net_calls, _pts = _payoff_points(*_net_identical(c, k, q))
    return max(0.0, -min(*usd, at_zero_usd)), max(-net_calls, 0.0)


@dataclass(frozen=True)
class StandardMarginResult:
    """Standard margin of the legs of one underlying and expiry (floats in the convention's units).

    Attributes
    ----------
    initial, maintenance : float
        ``min(Σ isolated, cap)``.
    sum_initial, sum_maintenance : float
        The legs' isolated requirements summed.
    max_loss : float
        The combination's maximum loss at expiry (``inf`` when unbounded).
    cap_initial, cap_maintenance : float
        The caps applied: ``max_loss``, or for net short calls with unpaired scales (linear) the
        bounded loss plus ``unpaired_(im|mm)_scale · forward · net short calls``.
    """

    initial: float
    maintenance: float
    sum_initial: float
    sum_maintenance: float
    max_loss: float
    cap_initial: float = math.inf
    cap_maintenance: float = math.inf

    def to_units(self, decimals: int) -> tuple[int, int]:
        """``(initial, maintenance)`` in integer base units (``× 10**decimals``), rounded **up**."""
        return requirement_units(self.initial, decimals), requirement_units(self.maintenance, decimals)


def requirement_units(value: float, decimals: int) -> int:
    """A non-negative requirement in base units, rounded up (solvency-favouring).

    A relative slack of 1e-15 (a few ulps) absorbs binary round-off (``0.1·3`` is not ``0.3``), so values that
    are mathematically exact in base units are not pushed one unit up.
    """
    if not math.isfinite(value) or value < 0:
        raise InvalidInput("requirement", f"must be finite and non-negative, got {value!r}")
    scaled = value * 10.0**decimals
    return int(math.ceil(scaled - 1e-15 * max(scaled, 1.0)))


def standard_margin(
    is_call: Any,
    strike: Any,
    quantity: Any,
    mark: Any,
    spot: Any,
    *,
    inverse: bool = True,
    params: StandardOptionParams = DERIBIT,
    forward: Any = None,
) -> StandardMarginResult:
    """Standard margin of a portfolio of option legs on **one** underlying and expiry.

    ``requirement = min(Σ isolated, cap)`` for both the initial and the maintenance level; arguments
    as in :func:`isolated_requirements`, ``forward`` the expiry's forward price (default the spot) for
    the unpaired-call charge of ``params`` with unpaired scales (linear convention only).

    Returns
    -------
    StandardMarginResult
    """
    im, mm = isolated_requirements(is_call, strike, quantity, mark, spot, inverse=inverse, params=params)
    c, k, q, _m = _legs(is_call, strike, quantity, None)
    ml = max_loss(c, k, q, inverse=inverse)
    cap_im = cap_mm = ml
    if not inverse and params.unpaired_im_scale is not None:
        bounded, net_short_calls = _bounded_loss_linear(c, k, q)
        if net_short_calls > 0:
            f = _spot(spot if forward is None else forward, "forward")
            cap_im = bounded + unpaired_call_charge(net_short_calls, f, params.unpaired_im_scale)
            cap_mm = bounded + unpaired_call_charge(net_short_calls, f, params.unpaired_mm_scale)
    s_im, s_mm = float(im.sum()), float(mm.sum())
    return StandardMarginResult(capped_requirement(s_im, cap_im, 0.0), capped_requirement(s_mm, cap_mm, 0.0),
                                s_im, s_mm, ml, float(cap_im), float(cap_mm))


def standard_margin_by_expiry(
    expiry: Any,
    is_call: Any,
    strike: Any,
    quantity: Any,
    mark: Any,
    spot: Any,
    *,
    inverse: bool = True,
    params: StandardOptionParams = DERIBIT,
    forward: Any = None,
) -> dict[Any, StandardMarginResult]:
    """:func:`standard_margin` for each expiry of one underlying (legs grouped by ``expiry`` label).

    The account's option requirement is the sum over expiries (no offset between expiries, as
    Derive's ``Σ_expiries expiryMargin``). ``forward`` is one price for all expiries or a mapping
    ``{expiry label: forward}`` (default the spot).
    """
    e = np.atleast_1d(np.asarray(expiry))
    c, k, q, m = _legs(is_call, strike, quantity, mark)
    if e.shape != c.shape:
        raise InvalidInput("expiry", f"one label per leg expected, got {e.shape} for {c.shape} legs")
    out: dict[Any, StandardMarginResult] = {}
    for label in np.unique(e):
        sel = e == label
        key = label.item() if hasattr(label, "item") else label
        f = forward.get(key) if isinstance(forward, dict) else forward
        out[key] = standard_margin(c[sel], k[sel], q[sel], m[sel], spot, inverse=inverse, params=params, forward=f)
    return out
