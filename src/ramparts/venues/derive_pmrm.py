"""Derive (Lyra) v2 PMRM_2: the scenario ("SPAN-like") portfolio manager of one underlying, in Derive's
own 1e18 fixed point with Solidity's truncation.

Source: derivexyz/v2-core at commit ``7736900d395703c4f675376caa4c315402943831`` — ``src/risk-managers/PMRMLib_2.sol``
(``addPrecomputes``, ``getScenarioPnL``, ``getMarginAndMarkToMarket`` and the setters' bounds),
``src/risk-managers/PMRM_2.sol`` (``_arrangePortfolio``, ``setScenarios``, ``_assessRisk``, and in
:class:`PMRMManager` the setters and ``handleAdjustment``) and the structs of
``src/interfaces/IPMRM_2.sol`` / ``IPMRMLib_2.sol``; the fixed-point primitives (``multiplyDecimal``,
``divideDecimal``, ``ln``, ``exp``, ``sqrt``, ``decPow``, Black-76) are those of :mod:`ramparts.venues.derive`.
Summarised in ``ramparts/reference/open-source-venues.md`` §3.2. Checked against the upstream
``test/risk-managers/unit-tests/PMRM_2`` cases in ``tests/test_venue_derive_pmrm_cases.py``.

The formulas (margin = collateral value − requirement, negative = insufficient; every product one
``multiplyDecimal`` in the contract's order)::

    margin      = min(basisContingency, min_s scenarioPnL_s)·f − IMcont (initial only) − MMcont + totalMtM + cash
    f           = imFactor (+ (pegLossThreshold − stable)·pegLossFactor if stable < pegLossThreshold) | mmFactor
    scenarioPnL = perp·((shock − 1)·perpPrice)·damp
                + Σ_expiry (shockedMtM·(staticDiscountPos if ≥ 0 else staticDiscountNeg) − mtm)·damp   (skew: −|·|)
                + Σ_risk-cancelling collateral value·(shock − 1)·damp
    shockedMtM  = Σ_options Black76(T, max(minVol, vol·volShock), Fvar·shock + Ffixed, K, e^(−r·T))·amount
                  (minVol = minVolUpShock for Up; volShock = 1 | volShockUp | volShockDown)
    skew (Linear | Abs, spot not shocked): k = ln(K/F) (Abs: |k|), cap = cBase·√τ + baseCap,
                  k* = max(minKStar, √τ·widthScale·(volParamStatic + √τ·volParamScale)),
                  vol·max(0, 1 + clamp(k·cap/k*, −cap, cap))
    volShock    : m = decPow(30 d / max(T, dteFloor), T ≤ 30 d ? shortTermPower : longTermPower);
                  up = 1 + volRangeUp·m; down = max(0, 1 − volRangeDown·m)
    static disc.: pos = longBase·e^(−τ(r·longMult + longAdd)); neg = min(1/disc, shortBase / e^(−τ(r·shortMult + shortAdd)))
    basisCont   = Σ_expiry min(mtm(F·up) − mtm, mtm(F·down) − mtm, 0)·(addFactor + multFactor·τ)
    MMcont      = |perp|·S·MMPerp + nakedShorts·S·MMOption + Σ collateral·MMHaircut
    IMcont      = |perp|·S·IMPerp + (perp confidence) + nakedShorts·S·IMOption + Σ expiry (confidence on Σ|options|·S)
                  + Σ collateral (value·IMHaircut + confidence);  confidence(c, N) = (1 − c)·confMargin·N if c < confThreshold

Units: every value is a wad integer (1e18 = 1); times are seconds (``dte_floor`` too); the sign
convention is Derive's. Inputs are validated as the contract's setters do (:class:`InvalidInput`
where the contract reverts).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ramparts.errors import InvalidInput
from ramparts.venues.derive import (
    WAD,
    BaseManagerHooks,
    WrappedAsset,
    _tdiv,
    annualise,
    black76_prices,
    bm_oi_fee_charged,
    bm_settled_cash,
    bm_valid_max_account_size,
    decpow,
    fp_exp,
    fp_ln,
    fp_sqrt,
    srm_oi_fee,
    srm_previous_assets_length,
    wdiv,
    wmul,
)

__all__ = ["VolShock", "PMRMScenario", "PMRM2Params", "PMRM2_CONFIG_TEST", "PMRM2_CONFIG_TEST_SCENARIOS", "PMRMCollateralParams",
           "PMRMStrike", "PMRMExpiry", "PMRMCollateral", "PMRMPortfolio", "PMRMOptionBalance", "PMRMForwardFeed",
           "PMRMCollateralBalance", "pmrm_arrange", "pmrm_expiry", "pmrm_precompute", "pmrm_scenario_pnl", "pmrm_margin",
           "pmrm_basis_scenarios", "pmrm_check_scenarios", "pmrm_assess_risk", "pmrm_vol_shocks", "pmrm_static_discounts",
           "pmrm_naked_shorts", "pmrm_expiry_mtm", "pmrm_skewed_expiry_mtm", "PMRMRevert", "PMRMManager", "PMRM_CASH",
           "PMRM_OPTION", "PMRM_PERP"]

_30D = 30 * 86_400
_MAX_U64 = 2**64 - 1
_MAX_U128 = 2**128 - 1


class VolShock(enum.IntEnum):
    """``IPMRM_2.VolShockDirection``."""

    NONE = 0
    UP = 1
    DOWN = 2
    LINEAR = 3
    ABS = 4


@dataclass(frozen=True)
class PMRMScenario:
    """``IPMRM_2.Scenario``: a spot shock (1.2e18 = +20 %), a vol-shock direction, a dampening factor (may exceed 1)."""

    spot_shock: int
    vol_shock: VolShock = VolShock.NONE
    dampening: int = WAD


@dataclass(frozen=True)
class PMRM2Params:
    """The five parameter structs of ``PMRMLib_2`` (wad integers; ``dte_floor`` in seconds).

    Defaults: ``test/config-test.sol::getPMRM_2Params`` (the upstream unit tests' configuration).
    """

    # BasisContingencyParameters
    scenario_spot_up: int = 105 * WAD // 100
    scenario_spot_down: int = 95 * WAD // 100
    basis_cont_add_factor: int = 25 * WAD // 100
    basis_cont_mult_factor: int = WAD // 100
    # OtherContingencyParameters
    peg_loss_threshold: int = 98 * WAD // 100
    peg_loss_factor: int = 2 * WAD
    conf_threshold: int = 6 * WAD // 10
    conf_margin: int = 5 * WAD // 10
    mm_perp_percent: int = WAD // 100
    im_perp_percent: int = WAD // 100
    mm_option_percent: int = WAD // 100
    im_option_percent: int = WAD // 100
    # MarginParameters
    im_factor: int = WAD
    mm_factor: int = 8 * WAD // 10
    short_rate_mult_scale: int = 4 * WAD
    long_rate_mult_scale: int = 4 * WAD
    short_rate_add_scale: int = 5 * WAD // 100
    long_rate_add_scale: int = 5 * WAD // 100
    short_base_static_discount: int = 95 * WAD // 100
    long_base_static_discount: int = 95 * WAD // 100
    # VolShockParameters
    vol_range_up: int = 45 * WAD // 100
    vol_range_down: int = 3 * WAD // 10
    short_term_power: int = 3 * WAD // 10
    long_term_power: int = 13 * WAD // 100
    dte_floor: int = 86_400
    min_vol_up_shock: int = 4 * WAD // 10
    # SkewShockParameters
    linear_base_cap: int = 15 * WAD // 100
    abs_base_cap: int = 2 * WAD // 10
    linear_cbase: int = WAD // 10
    abs_cbase: int = WAD // 10
    min_k_star: int = WAD // 100
    width_scale: int = 4 * WAD
    vol_param_static: int = WAD
    vol_param_scale: int = -2 * WAD // 10

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidInput(name, f"must be an int (wad), got {v!r}")

    def validate(self) -> PMRM2Params:
        """The bounds the setters of ``PMRMLib_2`` enforce (each a ``PMRML2_Invalid*Parameters`` revert upstream)."""
        W = WAD
        unsigned = [n for n in self.__dataclass_fields__ if n not in (
            "short_term_power", "long_term_power", "linear_cbase", "abs_cbase", "min_k_star", "width_scale",
            "vol_param_static", "vol_param_scale")]
        for n in unsigned:  # uint fields: a negative value cannot be encoded
            if getattr(self, n) < 0:
                raise InvalidInput(n, "must be non-negative (uint)")
        checks = (
            ("BasisContingencyParameters", W < self.scenario_spot_up < 3 * W and self.scenario_spot_down < W
             and self.basis_cont_mult_factor <= 20 * W and self.basis_cont_add_factor <= 20 * W),
            ("OtherContingencyParameters", self.peg_loss_threshold <= 100 * W and self.peg_loss_factor <= 10 * W
             and self.conf_threshold <= W and self.conf_margin <= 20 * W and self.mm_perp_percent <= 3 * W
             and self.im_perp_percent <= 3 * W and self.mm_option_percent <= 2 * W and self.im_option_percent <= 2 * W),
            ("MarginParameters", W // 2 <= self.im_factor <= 10 * W and W // 10 <= self.mm_factor <= 10 * W
             and self.short_rate_mult_scale <= 10 * W and self.long_rate_mult_scale <= 10 * W
             and self.short_rate_add_scale <= 10 * W and self.long_rate_add_scale <= 10 * W
             and self.short_base_static_discount <= 4 * W and self.long_base_static_discount <= 4 * W),
            ("VolShockParameters", self.vol_range_up <= 10 * W and self.vol_range_down <= 10 * W
             and self.short_term_power <= 10 * W and self.long_term_power <= 10 * W and self.dte_floor <= 400 * 86_400
             and self.min_vol_up_shock <= 20 * W),
            ("SkewShockParameters", self.linear_base_cap <= 10 * W and self.abs_base_cap <= 10 * W
             and -10 * W <= self.linear_cbase <= 10 * W and -10 * W <= self.abs_cbase <= 10 * W
             and 0 <= self.min_k_star <= 10 * W and 0 <= self.width_scale <= 10 * W
             and 0 <= self.vol_param_static <= 10 * W and -20 * W <= self.vol_param_scale <= 20 * W),
        )
        for struct, ok in checks:
            if not ok:
                raise InvalidInput(struct, f"PMRML2_Invalid{struct} (outside the bounds PMRMLib_2's setter enforces)")
        return self


PMRM2_CONFIG_TEST = PMRM2Params()

#: ``test/config-test.sol::get_2_1DefaultScenarios``: spot ±15 % in 5 % steps × {Up, None, Down}, no skew, no tails.
PMRM2_CONFIG_TEST_SCENARIOS: tuple[PMRMScenario, ...] = tuple(
    PMRMScenario(s * WAD // 100, v) for s in (115, 110, 105, 100, 95, 90, 85) for v in (VolShock.UP, VolShock.NONE, VolShock.DOWN))


def pmrm_check_scenarios(scenarios: Sequence[PMRMScenario]) -> tuple[PMRMScenario, ...]:
    """``PMRM_2.setScenarios``' checks: 1 to 40 scenarios, at most one Abs and one Linear, each with a spot shock of 1."""
    scenarios = tuple(scenarios)
    if not 0 < len(scenarios) <= 40:
        raise InvalidInput("scenarios", "PMRM_2_InvalidScenarios (1 to 40 scenarios)")
    for kind in (VolShock.ABS, VolShock.LINEAR):
        skew = [s for s in scenarios if s.vol_shock == kind]
        if len(skew) > 1 or any(s.spot_shock != WAD for s in skew):
            raise InvalidInput("scenarios", f"PMRM_2_InvalidScenarios (one {kind.name} scenario at most, spot shock 1)")
    for s in scenarios:
        if s.spot_shock < 0 or s.dampening < 0:
            raise InvalidInput("scenarios", "spot shock and dampening are uint")
    return scenarios


def pmrm_basis_scenarios(p: PMRM2Params = PMRM2_CONFIG_TEST) -> tuple[PMRMScenario, ...]:
    """``getBasisContingencyScenarios``: spot up, spot down, unshocked — what a trusted risk assessor is checked on."""
    return (PMRMScenario(p.scenario_spot_up), PMRMScenario(p.scenario_spot_down), PMRMScenario(WAD))


@dataclass(frozen=True)
class PMRMCollateralParams:
    """``IPMRMLib_2.CollateralParameters`` of one collateral asset (haircuts wad)."""

    enabled: bool = True
    risk_cancelling: bool = False
    mm_haircut: int = 0
    im_haircut: int = 0

    def validate(self) -> PMRMCollateralParams:
        """``setCollateralParameters``: enabled, ``IM + MM ≤ 1`` and ``MM ≤ 1`` (``PMRML2_InvalidCollateralParameters``)."""
        if not (self.enabled and 0 <= self.mm_haircut and 0 <= self.im_haircut
                and self.im_haircut + self.mm_haircut <= WAD and self.mm_haircut <= WAD):
            raise InvalidInput("collateral", "PMRML2_InvalidCollateralParameters")
        return self


# ---------------------------------------------------------------------------------------- the arranged portfolio
@dataclass(frozen=True)
class PMRMStrike:
    """``IPMRM_2.StrikeHolding``: strike, volatility, signed amount (wad), call or put."""

    strike: int
    vol: int
    amount: int
    is_call: bool


@dataclass(frozen=True)
class PMRMExpiry:
    """``IPMRM_2.ExpiryHoldings``: the arranged inputs, then the precomputed fields (``addPrecomputes``)."""

    sec_to_expiry: int
    options: tuple[PMRMStrike, ...]
    forward_fixed: int
    forward_variable: int
    rate: int
    discount: int
    min_confidence: int
    net_options: int
    expiry: int = 0
    mtm: int = 0
    basis_up_mtm: int = 0
    basis_down_mtm: int = 0
    vol_shock_up: int = 0
    vol_shock_down: int = 0
    static_discount_pos: int = 0
    static_discount_neg: int = 0


@dataclass(frozen=True)
class PMRMCollateral:
    """``IPMRM_2.CollateralHoldings`` with the asset's parameters: value (in stable units) and confidence."""

    value: int
    min_confidence: int
    params: PMRMCollateralParams = PMRMCollateralParams()
    name: str = ""


@dataclass(frozen=True)
class PMRMPortfolio:
    """``IPMRM_2.Portfolio``. ``precomputed`` is set by :func:`pmrm_precompute` (then ``total_mtm`` includes
    the perp value, options and collateral, and the contingencies are filled)."""

    spot: int
    stable_price: int
    min_confidence: int
    cash: int = 0
    expiries: tuple[PMRMExpiry, ...] = ()
    collaterals: tuple[PMRMCollateral, ...] = ()
    perp_position: int = 0
    perp_price: int = 0
    perp_value: int = 0
    total_mtm: int = 0
    basis_contingency: int = 0
    mm_contingency: int = 0
    im_contingency: int = 0
    precomputed: bool = False


@dataclass(frozen=True)
class PMRMOptionBalance:
    """One option balance of an account: expiry (seconds from now; ≤ 0 = expired), strike, type, amount and
    the vol feed's volatility and confidence for it (wad)."""

    expiry: int
    strike: int
    is_call: bool
    amount: int
    vol: int
    vol_confidence: int = WAD


@dataclass(frozen=True)
class PMRMForwardFeed:
    """One expiry's forward (the portion moved by spot shocks and the fixed one), its confidence, and the
    interest-rate feed (rate may be negative: floored at 0) with its confidence."""

    variable: int
    fixed: int = 0
    confidence: int = WAD
    rate: int = 0
    rate_confidence: int = WAD


@dataclass(frozen=True)
class PMRMCollateralBalance:
    """A collateral balance, its spot feed (price, confidence) and the asset's parameters."""

    amount: int
    price: int
    confidence: int = WAD
    params: PMRMCollateralParams = PMRMCollateralParams()
    name: str = ""


def pmrm_expiry(sec_to_expiry: int, options: Iterable[PMRMStrike], forward_variable: int, forward_fixed: int = 0, rate: int = 0,
                min_confidence: int = WAD, expiry: int = 0) -> PMRMExpiry:
    """``_initialiseExpiries`` of one expiry: the rate floored at 0, ``discount = exp(−r·T / 365 d)`` (toUint64),
    ``netOptions = Σ|amount|``."""
    sec = max(int(sec_to_expiry), 0)
    rate = max(rate, 0)
    discount = fp_exp(_tdiv(-rate * sec, 365 * 86_400))
    if discount > _MAX_U64:
        raise InvalidInput("discount", "SafeCast: does not fit in 64 bits")
    options = tuple(options)
    return PMRMExpiry(sec, options, forward_fixed, forward_variable, rate, discount, min_confidence,
                      sum(abs(o.amount) for o in options), expiry)


def pmrm_arrange(*, spot: int, spot_confidence: int = WAD, stable_price: int = WAD, cash: int = 0,
                 options: Sequence[PMRMOptionBalance] = (), forwards: Mapping[int, PMRMForwardFeed] | None = None,
                 collaterals: Sequence[PMRMCollateralBalance] = (), perp: int = 0, perp_price: int = 0, perp_confidence: int = WAD,
                 perp_value: int = 0, max_expiries: int | None = None) -> PMRMPortfolio:
    """``PMRM_2._arrangePortfolio`` before ``addPrecomputes``, from balances and feed values.

    Expiries appear in the order of their first option, each expiry's options in reverse order of
    the balances and the collaterals reversed (as the contract fills them); an expiry's confidence is
    ``min(forward, rate, every option's vol confidence)``; a collateral is valued ``amount·price / stable``
    (plain integer division) with confidence ``min(its feed, spot)``; the perpetual's price (and its
    confidence in the portfolio's) only count when the position is non-zero, as does ``perp_value``
    (unsettled funding + unrealised PnL).
    """
    forwards = dict(forwards or {})
    if stable_price <= 0:
        raise InvalidInput("stable_price", "must be positive")
    order: list[int] = []
    by_expiry: dict[int, list[PMRMOptionBalance]] = {}
    for o in options:
        if o.expiry not in by_expiry:
            if max_expiries is not None and len(order) >= max_expiries:
                raise InvalidInput("options", "PMRM_2_TooManyExpiries")
            order.append(o.expiry)
            by_expiry[o.expiry] = []
        by_expiry[o.expiry].append(o)
    expiries = []
    for e in order:
        if e not in forwards:
            raise InvalidInput("forwards", f"no forward feed for expiry {e}")
        f = forwards[e]
        conf = min(f.confidence, f.rate_confidence)
        legs = by_expiry[e]
        for o in legs:
            conf = min(conf, o.vol_confidence)
            if o.strike < 0 or o.vol < 0 or o.strike > _MAX_U128:
                raise InvalidInput("options", "strike and vol are uint")
        strikes = [PMRMStrike(o.strike, o.vol, o.amount, o.is_call) for o in reversed(legs)]
        expiries.append(pmrm_expiry(e, strikes, f.variable, f.fixed, f.rate, conf, expiry=e))
    colls = []
    for c in reversed(collaterals):
        if c.amount < 0:
            raise InvalidInput("collaterals", "SafeCast: a collateral balance cannot be negative")
        colls.append(PMRMCollateral(c.amount * c.price // stable_price, min(c.confidence, spot_confidence), c.params, c.name))
    min_conf = spot_confidence
    if perp != 0:
        min_conf = min(min_conf, perp_confidence)
    return PMRMPortfolio(spot=spot, stable_price=stable_price, min_confidence=min_conf, cash=cash, expiries=tuple(expiries),
                         collaterals=tuple(colls), perp_position=perp, perp_price=perp_price if perp else 0,
                         perp_value=perp_value if perp else 0)


# ---------------------------------------------------------------------------------------- pricing of an expiry
def _b76(sec: int, vol: int, forward: int, strike: int, discount: int) -> tuple[int, int]:
    if vol > _MAX_U128 or forward > _MAX_U128 or strike > _MAX_U128:
        raise InvalidInput("black76", "SafeCast: does not fit in 128 bits")
    return black76_prices(sec, vol, forward, strike, discount)


def pmrm_expiry_mtm(e: PMRMExpiry, spot_shock: int, vol_shock: VolShock, p: PMRM2Params = PMRM2_CONFIG_TEST) -> int:
    """``_getExpiryShockedMTM``: Σ Black-76 price × amount at the forward ``Fvar·shock + Ffixed`` and the
    vols scaled by the expiry's up / down shock (the up-shocked vol floored at ``minVolUpShock``)."""
    shock, min_vol = WAD, 0
    if vol_shock == VolShock.UP:
        shock, min_vol = e.vol_shock_up, p.min_vol_up_shock
    elif vol_shock == VolShock.DOWN:
        shock = e.vol_shock_down
    forward = wmul(e.forward_variable, spot_shock) + e.forward_fixed
    total = 0
    for o in e.options:
        call, put = _b76(e.sec_to_expiry, max(min_vol, wmul(o.vol, shock)), forward, o.strike, e.discount)
        total += wmul(call if o.is_call else put, o.amount)
    return total


def _k_star(sqrt_tau: int, p: PMRM2Params) -> int:
    vol_param = p.vol_param_static + wmul(sqrt_tau, p.vol_param_scale)
    return max(p.min_k_star, wmul(wmul(sqrt_tau, p.width_scale), vol_param))


def pmrm_skewed_expiry_mtm(e: PMRMExpiry, vol_shock: VolShock, p: PMRM2Params = PMRM2_CONFIG_TEST) -> int:
    """``_getExpirySkewedShockedMTM``: the wings of the smile raised (Linear: by log-moneyness, Abs: by its
    absolute value), the forward unshocked."""
    linear = vol_shock == VolShock.LINEAR
    forward = e.forward_variable + e.forward_fixed
    sqrt_tau = fp_sqrt(annualise(e.sec_to_expiry))
    cap = (wmul(p.linear_cbase, sqrt_tau) + p.linear_base_cap) if linear else (wmul(p.abs_cbase, sqrt_tau) + p.abs_base_cap)
    k_star = _k_star(sqrt_tau, p)
    total = 0
    for o in e.options:
        if forward == 0:
            raise InvalidInput("forward", "division by zero (no forward price)")
        k = fp_ln(wdiv(o.strike, forward))
        if not linear:
            k = abs(k)
        if k_star == 0:
            raise InvalidInput("skew", "division by zero (k* = 0)")
        x = _tdiv(k * cap, k_star)
        mult = WAD + (min(cap, x) if k >= 0 else max(-cap, x))
        call, put = _b76(e.sec_to_expiry, wmul(o.vol, max(mult, 0)), forward, o.strike, e.discount)
        total += wmul(call if o.is_call else put, o.amount)
    return total


def pmrm_vol_shocks(sec_to_expiry: int, p: PMRM2Params = PMRM2_CONFIG_TEST) -> tuple[int, int]:
    """``_addVolShocks``: ``(up, down)`` multipliers, ``m = decPow(30 d / max(T, dteFloor), power)``,
    ``up = 1 + volRangeUp·m``, ``down = max(0, 1 − volRangeDown·m)``."""
    floor = max(sec_to_expiry, p.dte_floor)
    if floor <= 0:
        raise InvalidInput("dte_floor", "division by zero (T = dteFloor = 0)")
    tau = _30D * WAD // floor
    m = decpow(tau, p.short_term_power if sec_to_expiry <= _30D else p.long_term_power)
    return WAD + wmul(p.vol_range_up, m), max(0, WAD - wmul(p.vol_range_down, m))


def pmrm_static_discounts(sec_to_expiry: int, rate: int, discount: int, p: PMRM2Params = PMRM2_CONFIG_TEST) -> tuple[int, int]:
    """``_addStaticDiscount``: ``(pos, neg)``; ``pos = longBase·exp(−τ·(r·longMult + longAdd))``,
    ``neg = min(1 / discount, shortBase / exp(−τ·(r·shortMult + shortAdd)))``."""
    tau = annualise(sec_to_expiry)
    pos = wmul(p.long_base_static_discount, fp_exp(-wmul(tau, wmul(rate, p.long_rate_mult_scale) + p.long_rate_add_scale)))
    e_neg = fp_exp(-wmul(tau, wmul(rate, p.short_rate_mult_scale) + p.short_rate_add_scale))
    if e_neg == 0 or discount == 0:
        raise InvalidInput("static_discount", "division by zero (the discount underflows to 0)")
    return pos, min(wdiv(WAD, discount), wdiv(p.short_base_static_discount, e_neg))


def pmrm_naked_shorts(options: Sequence[PMRMStrike]) -> int:
    """``_addOptionContingency``'s count: per strike, shorts net of longs at the same strike (call or put alike)."""
    n = len(options)
    seen = [False] * n
    naked = 0
    for i in range(n):
        if seen[i]:
            continue
        a = options[i].amount
        found = False
        for j in range(i + 1, n):
            if options[i].strike == options[j].strike:
                seen[j] = True
                b = options[j].amount
                if a * b < 0:
                    naked += (abs(a) - min(-a, b)) if a < 0 else (abs(b) - min(a, -b))
                elif a < 0:
                    naked += abs(a) + abs(b)
                found = True
        if not found and a < 0:
            naked += abs(a)
    return naked


def _confidence_contingency(conf: int, notional: int, p: PMRM2Params) -> int:
    if conf < p.conf_threshold:
        return wmul(wmul(WAD - conf, p.conf_margin), notional)
    return 0


def pmrm_precompute(pf: PMRMPortfolio, p: PMRM2Params = PMRM2_CONFIG_TEST) -> PMRMPortfolio:
    """``addPrecomputes``: MtM, basis contingency, vol shocks, static discounts and the MM / IM contingencies."""
    if pf.precomputed:
        raise InvalidInput("portfolio", "already precomputed")
    total_mtm = pf.total_mtm + pf.perp_value
    perp_notional = wmul(abs(pf.perp_position), pf.spot)
    mm = wmul(perp_notional, p.mm_perp_percent)
    im = wmul(perp_notional, p.im_perp_percent) + _confidence_contingency(pf.min_confidence, perp_notional, p)
    basis = pf.basis_contingency
    expiries = []
    for e in pf.expiries:
        e = replace(e, min_confidence=min(pf.min_confidence, e.min_confidence))
        mtm = pmrm_expiry_mtm(e, WAD, VolShock.NONE, p)
        total_mtm += mtm
        up = pmrm_expiry_mtm(e, p.scenario_spot_up, VolShock.NONE, p)
        down = pmrm_expiry_mtm(e, p.scenario_spot_down, VolShock.NONE, p)
        factor = p.basis_cont_add_factor + wmul(p.basis_cont_mult_factor, annualise(e.sec_to_expiry))
        basis += wmul(min(up - mtm, down - mtm, 0), factor)
        vs_up, vs_down = pmrm_vol_shocks(e.sec_to_expiry, p)
        sd_pos, sd_neg = pmrm_static_discounts(e.sec_to_expiry, e.rate, e.discount, p)
        notional_shorts = wmul(pmrm_naked_shorts(e.options), pf.spot)
        mm += wmul(notional_shorts, p.mm_option_percent)
        im += wmul(notional_shorts, p.im_option_percent)
        im += _confidence_contingency(e.min_confidence, wmul(e.net_options, pf.spot), p)
        expiries.append(replace(e, mtm=mtm, basis_up_mtm=up, basis_down_mtm=down, vol_shock_up=vs_up, vol_shock_down=vs_down,
                                static_discount_pos=sd_pos, static_discount_neg=sd_neg))
    for c in pf.collaterals:
        if not c.params.enabled:
            raise InvalidInput("collaterals", "PMRML2_CollateralDisabled")
        total_mtm += c.value
        mm += wmul(c.value, c.params.mm_haircut)
        im += wmul(c.value, c.params.im_haircut) + _confidence_contingency(c.min_confidence, c.value, p)
    return replace(pf, expiries=tuple(expiries), total_mtm=total_mtm, basis_contingency=basis, mm_contingency=mm,
                   im_contingency=im, precomputed=True)


def _ready(pf: PMRMPortfolio, p: PMRM2Params) -> PMRMPortfolio:
    return pf if pf.precomputed else pmrm_precompute(pf, p)


def pmrm_scenario_pnl(pf: PMRMPortfolio, scenario: PMRMScenario, p: PMRM2Params = PMRM2_CONFIG_TEST) -> int:
    """``getScenarioPnL``: the scenario's dampened PnL against the MtM (wad; a loss is negative)."""
    pf = _ready(pf, p)
    s, damp = scenario, scenario.dampening
    pnl = 0
    if pf.perp_position != 0:
        pnl += wmul(wmul(pf.perp_position, wmul(s.spot_shock - WAD, pf.perp_price)), damp)
    skew = s.vol_shock in (VolShock.LINEAR, VolShock.ABS)
    for e in pf.expiries:
        if s.vol_shock == VolShock.NONE and s.spot_shock == WAD:
            shocked = e.mtm
        elif s.vol_shock == VolShock.NONE and s.spot_shock == p.scenario_spot_up:
            shocked = e.basis_up_mtm
        elif s.vol_shock == VolShock.NONE and s.spot_shock == p.scenario_spot_down:
            shocked = e.basis_down_mtm
        elif skew:
            shocked = pmrm_skewed_expiry_mtm(e, s.vol_shock, p)
        else:
            shocked = pmrm_expiry_mtm(e, s.spot_shock, s.vol_shock, p)
        shocked = wmul(shocked, e.static_discount_pos if shocked >= 0 else e.static_discount_neg)
        expiry_pnl = wmul(shocked - e.mtm, damp)
        pnl += -expiry_pnl if (skew and expiry_pnl > 0) else expiry_pnl
    for c in pf.collaterals:
        if c.params.risk_cancelling:
            pnl += wmul(wmul(c.value, s.spot_shock - WAD), damp)
    return pnl


def pmrm_margin(pf: PMRMPortfolio, scenarios: Sequence[PMRMScenario], *, initial: bool,
                p: PMRM2Params = PMRM2_CONFIG_TEST) -> tuple[int, int, int]:
    """``getMarginAndMarkToMarket``: ``(margin, mark to market, worst scenario index)`` — the index is
    ``len(scenarios)`` when the basis contingency is the worst. Precomputes the portfolio when needed."""
    if not scenarios:
        raise InvalidInput("scenarios", "PMRML2_InvalidGetMarginState (no scenarios)")
    pf = _ready(pf, p)
    min_span, worst = pf.basis_contingency, len(scenarios)
    for i, s in enumerate(scenarios):
        pnl = pmrm_scenario_pnl(pf, s, p)
        if pnl < min_span:
            min_span, worst = pnl, i
    factor = p.im_factor if initial else p.mm_factor
    if initial and pf.stable_price < p.peg_loss_threshold:
        factor += wmul(p.peg_loss_threshold - pf.stable_price, p.peg_loss_factor)
    min_span = wmul(min_span, factor)
    if initial:
        min_span -= pf.im_contingency
    min_span -= pf.mm_contingency
    mtm = pf.total_mtm + pf.cash
    return min_span + mtm, mtm, worst


def pmrm_assess_risk(pf: PMRMPortfolio, scenarios: Sequence[PMRMScenario], *, trusted: bool = False,
                     p: PMRM2Params = PMRM2_CONFIG_TEST) -> bool:
    """``_assessRisk``: whether a risk-adding trade passes — IM ≥ 0 over ``scenarios``, or for a trusted risk
    assessor MM ≥ 0 over the basis scenarios only (``PMRM_2_InsufficientMargin`` otherwise)."""
    if trusted:
        return pmrm_margin(pf, pmrm_basis_scenarios(p), initial=False, p=p)[0] >= 0
    return pmrm_margin(pf, scenarios, initial=True, p=p)[0] >= 0



# ---------------------------------------------------------------------------------------- manager configuration and hooks
class PMRMRevert(InvalidInput):
    """A revert of ``PMRM_2.sol`` (or of its ``BaseManager``); ``error`` is the contract's custom error."""

    def __init__(self, error: str, message: str = ""):
        self.error = error
        super().__init__("PMRM_2", error + (f" ({message})" if message else ""))


PMRM_CASH, PMRM_OPTION, PMRM_PERP = "cash", "option", "perp"  #: the manager's own assets in ``handle_adjustment`` deltas
_PMRM_FEEDS = ("spot", "stable", "forward", "interest_rate", "vol")


class PMRMManager(BaseManagerHooks):
    """PMRM_2's configuration and account hooks around :func:`pmrm_margin` (v2-core ``src/risk-managers/PMRM_2.sol``
    @7736900): ``maxExpiries`` (``initialize`` / ``setMaxExpiries``), ``maxAccountSize`` (``BaseManager``), the
    scenarios (``setScenarios`` → :func:`pmrm_check_scenarios`), the five feeds (opaque names, ``None`` for
    ``address(0)``), collateral assets (``setCollateralSpotFeed`` + ``PMRMLib_2.setCollateralParameters``), the
    trade check (``handleAdjustment``), OI fees (``_chargeAllOIFee``), ``getMarginAndMarkToMarket(account, isInitial,
    scenarioId)`` and perp / option settlement. Assets are names: :data:`PMRM_CASH`, :data:`PMRM_OPTION`,
    :data:`PMRM_PERP` or a collateral's.

    Defaults are the upstream unit tests' ``PMRM_2TestBase.setUp`` (maxExpiries 11, maxAccountSize 128 from
    ``__BaseManagerUpgradeable_init``, ``config-test.sol`` parameters and scenarios; no fee recipient). The
    manager-data dispatch and the asset caps of ``_preAdjustmentHooks`` are :class:`~ramparts.venues.derive.BaseManagerHooks`'.
    Not modelled: owner-only access control, the pause, and the ``SubAccounts`` ledger (the caller passes the
    post-trade holdings and the arranged :class:`PMRMPortfolio`, and moves the fee and settlement cash).
    """

    def __init__(self, *, max_expiries: int = 11, scenarios: Sequence[PMRMScenario] = PMRM2_CONFIG_TEST_SCENARIOS,
                 params: PMRM2Params = PMRM2_CONFIG_TEST, max_account_size: int = 128) -> None:
        if not 0 < max_expiries <= 30:  # initialize's bound
            raise PMRMRevert("PMRM_2_InvalidMaxExpiries", f"must be within [1, 30], got {max_expiries}")
        self.max_expiries = max_expiries
        self.scenarios = pmrm_check_scenarios(scenarios)
        self.params = params.validate()
        self.max_account_size = max_account_size
        self.feeds: dict[str, str | None] = dict.fromkeys(_PMRM_FEEDS)
        self.collateral_feeds: dict[str, str | None] = {}
        self.collateral_params: dict[str, PMRMCollateralParams] = {}
        self.fee_recipient: str | None = None
        self.min_oi_fee = 0
        self.oi_fee_rate: dict[str, int] = {}  # the viewer's setOIFeeRateBPS per asset (wad)
        self.fee_bypassed: set[str] = set()
        self._init_base_hooks()

    def _revert(self, error: str, message: str = "") -> PMRMRevert:
        return PMRMRevert(error, message)

    # -- setters
    def set_max_expiries(self, n: int) -> None:
        """``setMaxExpiries``: only raises the limit, to at most 30, else ``PMRM_2_InvalidMaxExpiries``."""
        if not (n <= 30 and n > self.max_expiries):
            raise PMRMRevert("PMRM_2_InvalidMaxExpiries", f"need {self.max_expiries} < n <= 30, got {n}")
        self.max_expiries = n

    def set_max_account_size(self, size: int) -> None:
        """``BaseManager.setMaxAccountSize``: :func:`~ramparts.venues.derive.bm_valid_max_account_size` else
        ``BM_InvalidMaxAccountSize``."""
        if not bm_valid_max_account_size(size):
            raise PMRMRevert("BM_InvalidMaxAccountSize", f"must be within [8, 500], got {size}")
        self.max_account_size = size

    def set_scenarios(self, scenarios: Sequence[PMRMScenario]) -> None:
        """``setScenarios``: replaces the margin scenarios (checked by :func:`pmrm_check_scenarios`)."""
        self.scenarios = pmrm_check_scenarios(scenarios)

    def set_feed(self, kind: str, feed: str | None) -> None:
        """``setSpotFeed`` / ``setStableFeed`` / ``setForwardFeed`` / ``setInterestRateFeed`` / ``setVolFeed``
        (``kind``: spot, stable, forward, interest_rate, vol); no check upstream."""
        if kind not in _PMRM_FEEDS:
            raise InvalidInput("kind", f"must be one of {_PMRM_FEEDS}, got {kind!r}")
        self.feeds[kind] = feed

    def set_collateral(self, asset: str, feed: str | None, params: PMRMCollateralParams | None = None) -> None:
        """``setCollateralSpotFeed`` (``PMRM_2_InvalidCollateralAsset`` for the option, perp or cash asset) and,
        when given, ``PMRMLib_2.setCollateralParameters`` (:meth:`PMRMCollateralParams.validate`)."""
        if asset in (PMRM_OPTION, PMRM_PERP, PMRM_CASH):
            raise PMRMRevert("PMRM_2_InvalidCollateralAsset", f"{asset!r} is one of the manager's own assets")
        self.collateral_feeds[asset] = feed
        if params is not None:
            self.collateral_params[asset] = params.validate()

    def collateral_enabled(self, asset: str) -> bool:
        """``_isCollateralEnabled``: a spot feed is set and the asset's parameters are enabled."""
        params = self.collateral_params.get(asset)
        return self.collateral_feeds.get(asset) is not None and params is not None and params.enabled

    # -- account hooks
    def handle_adjustment(self, deltas: Sequence[tuple], holdings: Mapping[tuple[str, int], int],
                          portfolio: PMRMPortfolio | None = None, *, trusted: bool = False, auction_live: bool = False,
                          trade_id: int = 0, manager_data=(), receivers: Mapping | None = None,
                          assets: Mapping[str, WrappedAsset] | None = None) -> bool:
        """``handleAdjustment`` of one account after a transfer; ``deltas`` are ``(asset, delta[, sub_id])``,
        ``holdings`` every post-trade balance keyed ``(asset, sub_id)`` and ``portfolio`` the post-trade arranged
        portfolio (needed only when the trade adds risk). In the contract's order: the pre-adjustment hooks
        (:meth:`~ramparts.venues.derive.BaseManagerHooks.pre_adjustment_hooks`: the trade's ``manager_data`` for its
        ``receivers``, ``BM_UnauthorizedCall``; the caps of the ``assets`` ledgers, ``BM_AssetCapExceeded``); an account
        under a live auction reverts ``BM_AccountUnderLiquidation``; any perp delta adds risk (the contract first settles the perp's
        realised PnL into cash: pass the holdings and portfolio after it), any other asset must be cash, the option or
        an enabled collateral (``PMRM_2_UnsupportedAsset``) and adds risk when its delta is negative; more than
        ``max_account_size`` non-zero balances reverts ``PMRM_2_TooManyAssets`` unless the account did not grow
        (``getPreviousAssetsLength``: :func:`~ramparts.venues.derive.srm_previous_assets_length`); a risk-adding
        trade must pass :func:`pmrm_assess_risk` (``PMRM_2_InsufficientMargin``). Returns whether the risk check ran.
        """
        self.pre_adjustment_hooks(trade_id, holdings, manager_data, receivers, assets)
        if auction_live:
            raise PMRMRevert("BM_AccountUnderLiquidation", "the account is being auctioned")
        risk_adding = False
        for asset, delta, *_ in deltas:
            if asset == PMRM_PERP:
                risk_adding = True
                continue
            if asset not in (PMRM_CASH, PMRM_OPTION) and not self.collateral_enabled(asset):
                raise PMRMRevert("PMRM_2_UnsupportedAsset", f"asset {asset!r}")
            if delta < 0:
                risk_adding = True
        n = sum(1 for v in holdings.values() if v != 0)
        if n > self.max_account_size and n > srm_previous_assets_length(holdings, deltas):
            raise PMRMRevert("PMRM_2_TooManyAssets", f"{n} assets > max account size {self.max_account_size}")
        if not risk_adding:
            return False
        if portfolio is None:
            raise InvalidInput("portfolio", "a risk-adding trade needs the post-trade portfolio")
        if not pmrm_assess_risk(portfolio, self.scenarios, trusted=trusted, p=self.params):
            raise PMRMRevert("PMRM_2_InsufficientMargin")
        return True

    def margin_and_mtm(self, portfolio: PMRMPortfolio, initial: bool, scenario_id: int) -> tuple[int, int]:
        """``getMarginAndMarkToMarket(account, isInitial, scenarioId)``: :func:`pmrm_margin` over the one scenario
        ``scenarios[scenario_id]`` — an id past the scenarios reverts (Solidity's out-of-bounds panic 0x32)."""
        if not 0 <= scenario_id < len(self.scenarios):
            raise PMRMRevert("Panic(0x32)", f"scenario {scenario_id} of {len(self.scenarios)}")
        margin, mtm, _ = pmrm_margin(portfolio, (self.scenarios[scenario_id],), initial=initial, p=self.params)
        return margin, mtm

    def oi_fee(self, caller: str, trades: Sequence[tuple[str, int, int, bool]]) -> int:
        """``_chargeAllOIFee`` + ``_payFee``: the cash the account pays for its ``(asset, delta, price, oi_increased)``
        legs — :func:`~ramparts.venues.derive.srm_oi_fee` on the option (price: the expiry's forward, fixed + variable
        portions) and the perp (price: the perp price); 0 for a fee-bypassed caller; then
        :func:`~ramparts.venues.derive.bm_oi_fee_charged`. The contract moves it to the fee recipient before the
        risk check, and a fee is not a delta (it makes no trade risk adding)."""
        if caller in self.fee_bypassed:
            return 0
        fee = sum(srm_oi_fee(delta, price, self.oi_fee_rate.get(asset, 0), increased)
                  for asset, delta, price, increased in trades if asset in (PMRM_OPTION, PMRM_PERP))
        return bm_oi_fee_charged(fee, self.fee_recipient is not None, self.min_oi_fee)

    def settle_options(self, option: str, values: Iterable[tuple[int, bool]]) -> int:
        """``settleOptions``: ``PMRM_2_UnsupportedAsset`` unless ``option`` is the manager's option asset, else the
        cash delta :func:`~ramparts.venues.derive.bm_settled_cash` of the account's ``(value, is_settled)``."""
        if option != PMRM_OPTION:
            raise PMRMRevert("PMRM_2_UnsupportedAsset", f"{option!r} is not the manager's option asset")
        return bm_settled_cash(values)

    def settle_perps_with_index(self, pnl: int, funding: int) -> int:
        """``settlePerpsWithIndex`` (anyone may call it): the cash delta ``pnl + funding`` the perp's realised PnL and
        funding move into the account — no account-size check, so an account may end above ``max_account_size``."""
        return pnl + funding
