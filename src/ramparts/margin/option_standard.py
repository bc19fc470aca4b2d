"""Strategy-based ("standard") option margin: the per-leg short-option formulas of Deribit / Derive's
StandardManager, capped for defined-risk combinations by the portfolio's maximum loss at expiry.

This module owns :class:`StandardOptionParams`, :func:`isolated_requirements` (one requirement per leg),
:func:`max_loss` (the worst payoff of a set of legs on one underlying and expiry) and
:func:`standard_margin` / :func:`standard_margin_by_expiry` (their combination). Inputs are
``float64`` arrays; :meth:`StandardMarginResult.to_units` turns a requirement into ``int`` base units
rounded **up** (solvency first, as :mod:`ramparts.fixedpoint`).

The formulas
------------
For a leg of ``q < 0`` contracts (shorts; long options have **no requirement and no collateral value**),
``S`` the underlying mark (index) price, ``K`` the strike and ``m`` the option's mark price::

    OTM amount   call: max(K − S, 0)            put: max(S − K, 0)
    IM per unit  max(im_base − OTM/S, im_floor) · S + m               (short call and short put)
    MM per unit  mm_base · S + m
    short put    IM ≥ put_im_over_mm · MM                             (Derive: IM ≤ MM·mmOffsetScale)

with the published parameters ``im_base = 0.15``, ``im_floor = 0.10``, ``mm_base = 0.075`` (Deribit's
standard option margin; Derive's ``maxSpotReq``, ``minSpotReq``, ``mm{Call,Put}SpotReq`` in its test
configuration, ``put_im_over_mm = mmOffsetScale = 1.05``). In the **inverse** (coin-settled, Deribit)
convention ``m`` is the coin price and the ``· S`` factors drop, so requirements are in coins per
contract; in the **linear** convention everything is in quote currency per contract.

The requirement of the legs of one underlying and expiry (Derive's ``expiryMargin = max(Σ isolated,
maxLoss)`` in its sign convention) is::

    requirement = min( Σ_legs isolated requirement , max_loss )

where ``max_loss = max(0, −min_P payoff(P))`` evaluates the expiry payoff of *all* legs (longs
included) at ``P = 0``, at every strike and at ``P → ∞`` — the payoff is piecewise linear between
strikes (linear) or ``α/P + β`` (inverse, coin units), so its minimum is at one of those points. The
requirement is therefore **never above the sum of the legs**, and for a defined-risk combination
(vertical spread, box, butterfly, covered structures) it **equals the maximum loss whenever that is
smaller**: a box has no requirement, a bear call spread needs exactly its strike width. An unbounded
loss (net short calls in linear units; net short puts with ``Σ q·K < 0`` in inverse units, whose coin
loss grows without bound as ``P → 0``) leaves the sum of the legs.

The requirement is against *cash-like* collateral: premium received sits in the balance and the
option's mark enters through ``+ m`` (the cost to buy the short back), exactly as the venues publish.

References
----------
* ``../shared/reference/open-source-venues.md`` §3.1 — Derive v2 ``StandardManager`` (short call /
  short put / long / ``maxLoss`` / ``expiryMargin`` formulas and the test-configuration parameters).
* ``../shared/reference/cex-and-clearinghouses.md`` — Deribit (its portfolio margin; the standard option
  margin formulas and the 0.15 / 0.10 / 0.075 parameters are Deribit's public "Inverse options margin"
  documentation, which the reference folder does not reproduce: Derive's SRM is its on-chain twin).
"""

from __future__ import annotations

import math
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
        Maintenance rate (Deribit 0.075, Derive ``mm{Call,Put}SpotReq``).
    put_im_over_mm : float
        A short put's initial requirement is at least this multiple of its maintenance
        (Derive ``mmOffsetScale`` 1.05; Deribit's ``IM = max(…, MM)`` is 1.0).
    """

    im_base: float = 0.15
    im_floor: float = 0.10
    mm_base: float = 0.075
    put_im_over_mm: float = 1.05

    def __post_init__(self) -> None:
        for name in ("im_base", "im_floor", "mm_base", "put_im_over_mm"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InvalidInput(name, f"must be a finite non-negative number, got {v!r}")
        if self.im_floor > self.im_base:
            raise InvalidInput("im_floor", f"{self.im_floor} exceeds im_base {self.im_base}")
        if self.mm_base > self.im_floor:
            raise InvalidInput("mm_base", f"{self.mm_base} exceeds im_floor {self.im_floor} (MM must not exceed IM)")


DERIBIT = StandardOptionParams(put_im_over_mm=1.0)
DERIVE_TEST = StandardOptionParams()


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


def _spot(spot: Any) -> float:
    s = float_array(spot, "spot", positive=True)
    if s.ndim != 0:
        raise InvalidInput("spot", "one underlying price per call")
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
    otm = np.where(c, np.maximum(k - s, 0.0), np.maximum(s - k, 0.0)) / s
    scale = 1.0 if inverse else s
    im_unit = np.maximum(params.im_base - otm, params.im_floor) * scale + m
    mm_unit = params.mm_base * scale + m
    im_unit = np.where(c, im_unit, np.maximum(im_unit, params.put_im_over_mm * mm_unit))
    short = np.maximum(-q, 0.0)
    return im_unit * short, mm_unit * short


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
    # net identical legs (same type and strike) first: no cancellation round-off in the payoff sums
    keys, inv = np.unique(np.stack([c.astype(np.float64), k]), axis=1, return_inverse=True)
    q = np.bincount(inv.ravel(), weights=q, minlength=keys.shape[1])
    c, k = keys[0].astype(bool), keys[1]
    pts = np.unique(k)
    # quote-currency payoff at each strike: Σ q·max(±(P − K), 0)
    diff = pts[:, None] - k[None, :]
    usd = (np.where(c[None, :], np.maximum(diff, 0.0), np.maximum(-diff, 0.0)) * q[None, :]).sum(axis=1)
    net_calls = float(q[c].sum())
    at_zero_usd = float((q[~c] * k[~c]).sum())  # payoff at P = 0 (puts pay K)
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


@dataclass(frozen=True)
class StandardMarginResult:
    """Standard margin of the legs of one underlying and expiry (floats in the convention's units).

    Attributes
    ----------
    initial, maintenance : float
        ``min(Σ isolated, max_loss)``.
    sum_initial, sum_maintenance : float
        The legs' isolated requirements summed.
    max_loss : float
        The combination's maximum loss at expiry (``inf`` when unbounded).
    """

    initial: float
    maintenance: float
    sum_initial: float
    sum_maintenance: float
    max_loss: float

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
) -> StandardMarginResult:
    """Standard margin of a portfolio of option legs on **one** underlying and expiry.

    ``requirement = min(Σ isolated, max_loss)`` for both the initial and the maintenance level;
    arguments as in :func:`isolated_requirements`.

    Returns
    -------
    StandardMarginResult
    """
    im, mm = isolated_requirements(is_call, strike, quantity, mark, spot, inverse=inverse, params=params)
    ml = max_loss(is_call, strike, quantity, inverse=inverse)
    s_im, s_mm = float(im.sum()), float(mm.sum())
    return StandardMarginResult(min(s_im, ml), min(s_mm, ml), s_im, s_mm, ml)


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
) -> dict[Any, StandardMarginResult]:
    """:func:`standard_margin` for each expiry of one underlying (legs grouped by ``expiry`` label).

    The account's option requirement is the sum over expiries (no offset between expiries, as
    Derive's ``Σ_expiries expiryMargin``).
    """
    e = np.atleast_1d(np.asarray(expiry))
    c, k, q, m = _legs(is_call, strike, quantity, mark)
    if e.shape != c.shape:
        raise InvalidInput("expiry", f"one label per leg expected, got {e.shape} for {c.shape} legs")
    out: dict[Any, StandardMarginResult] = {}
    for label in np.unique(e):
        sel = e == label
        key = label.item() if hasattr(label, "item") else label
        out[key] = standard_margin(c[sel], k[sel], q[sel], m[sel], spot, inverse=inverse, params=params)
    return out
