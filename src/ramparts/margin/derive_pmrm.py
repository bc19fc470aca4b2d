"""Derive v2 PMRM_2 on perp-only accounts as ramparts margin: the rates the ``derive-pmrm`` engine profile runs, read
off Derive's own portfolio margin (:func:`ramparts.venues.derive_pmrm.pmrm_margin`, v2-core ``7736900``
``src/risk-managers/PMRMLib_2.sol``), which stays the one home of the formula.

Why a rate is exact. For an account holding one perpetual of the manager's underlying (position ``q``, perp price
``P`` equal to the spot ``S``, every confidence 1, the stable coin at par, no options and no other collateral),
``PMRMLib_2.getMarginAndMarkToMarket`` is::

    margin = min(0, min_s q·(shock_s − 1)·P)·f − MMcont − IMcont (initial only) + MtM + cash
    MMcont = |q|·S·mmPerpPercent,   IMcont = |q|·S·imPerpPercent,   f = mmFactor | imFactor

(the basis contingency is 0 without options). Every term is linear in ``|q|·P`` with the worst scenario
fixed by the sign of ``q``, so ``MtM + cash − margin`` is the notional times a rate per side; with scenarios
symmetric around 1 (as ``config-test.sol``'s ±15 % in 5 % steps) one rate serves both sides: one flat bracket
of the engine's tier model, rounded up to base units as every ramparts requirement is. :func:`rates` evaluates
``pmrm_margin`` on one unit long and one unit short at price 1 and refuses asymmetric results.

Not carried by a rate (the ``derive-pmrm`` profile lists them): options and their scenarios (vol shocks,
static discounts, skew, basis contingency), other collateral, confidence and depeg terms, perp price ≠ spot,
and accounts holding several underlyings (PMRM_2 is one manager per underlying).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from ramparts.errors import InvalidInput
from ramparts.venues import derive_pmrm as pm
from ramparts.venues.derive import WAD

__all__ = ["rates", "tiers"]


def _rate(scenarios: Sequence[pm.PMRMScenario], p: pm.PMRM2Params, *, initial: bool) -> Fraction:
    out = []
    for q in (WAD, -WAD):
        pf = pm.pmrm_arrange(spot=WAD, perp=q, perp_price=WAD)
        margin, mtm, _ = pm.pmrm_margin(pf, scenarios, initial=initial, p=p)
        out.append(Fraction(mtm - margin, WAD))
    if out[0] != out[1]:
        raise InvalidInput("scenarios", f"PMRM_2 perp requirements differ by side (long {out[0]}, short {out[1]}): the "
                                        "engine's tier model takes one rate for both sides")
    return out[0]


def rates(scenarios: Sequence[pm.PMRMScenario] = pm.PMRM2_CONFIG_TEST_SCENARIOS,
          p: pm.PMRM2Params = pm.PMRM2_CONFIG_TEST) -> tuple[Fraction, Fraction]:
    """(initial, maintenance) margin rates of a perp-only PMRM_2 account, per unit of notional."""
    scenarios = pm.pmrm_check_scenarios(scenarios)
    return _rate(scenarios, p.validate(), initial=True), _rate(scenarios, p, initial=False)


def tiers(scenarios: Sequence[pm.PMRMScenario] = pm.PMRM2_CONFIG_TEST_SCENARIOS,
          p: pm.PMRM2Params = pm.PMRM2_CONFIG_TEST) -> list[list[str]]:
    """The engine's tier table (one bracket from 0) for the scenarios and parameters."""
    out = []
    for r in rates(scenarios, p):
        d = Decimal(r.numerator) / Decimal(r.denominator)
        if Fraction(d) != r or not 0 <= r <= 1:
            raise InvalidInput("scenarios", f"rate {r} is not an exact decimal in [0, 1]")
        out.append(str(d))
    return [["0", *out]]
