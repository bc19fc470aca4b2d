"""Derive (Lyra) v2: the standard manager (SRM) in Derive's own 1e18 fixed point — option, perpetual,
base-asset, oracle-contingency and depeg terms, with the lyra-utils Black-76 that marks its options —
the Dutch auction (solvent and insolvent, with its security-module payout) in the same fixed point, and —
in :mod:`ramparts.venues.derive_pmrm`, re-exported here — PMRM_2's scenario portfolio margin.

Source: derivexyz/v2-core at commit ``7736900d395703c4f675376caa4c315402943831``
(``src/risk-managers/StandardManager.sol``, ``SRMPortfolioViewer.sol``, ``PMRM_2.sol``,
``PMRMLib_2.sol``, ``src/liquidation/DutchAuction.sol``), summarised in
``ramparts/reference/open-source-venues.md`` §3; Black-76 and its fixed-point helpers from
derivexyz/lyra-utils (``src/math/Black76.sol`` at ``1ca255d4d78cff8012ad50f566bf646153ec5eb7``,
``src/math/FixedPointMathLib.sol`` at ``3c9e344e46c1e7d6e21e23d9178f9597eadff2d0``,
``src/decimals/{Signed,}DecimalMath.sol``; v2-core pins the submodule at derive-utils ``8f6962cb…``,
which is not stored here: the upstream cases that assert exact integers — ``TestStandardManager_Portfolio_Cases``
— pass with these versions).

This module owns
-----------------
* ``wmul`` / ``wdiv`` (``multiplyDecimal`` / ``divideDecimal``: ``a·b/1e18``, ``a·1e18/b``, truncated
  toward zero as Solidity's ``/``) and :data:`WAD_ARITHMETIC`, the :class:`~ramparts.margin.option_standard.Arithmetic`
  that evaluates the short-option formulas of :mod:`ramparts.margin.option_standard` (their one home)
  exactly as the contract does;
* :func:`black76_prices` — lyra-utils ``Black76.prices`` ported line by line to Python integers
  (``ln``, ``exp``, ``sqrt``, ``stdNormalCDF`` with Solidity's shifts and truncating divisions);
* the SRM: :func:`srm_margin` (``_getMarginAndMarkToMarket``) over :class:`SRMMarket` holdings,
  :func:`srm_expiry_margin` (``_calcNetBasicMarginSingleExpiry``), :func:`srm_isolated_margin`
  (``_getIsolatedMargin``), and the decimal wrappers :func:`short_call_margin`, :func:`short_put_margin`,
  :func:`perp_margin`;
* the rest of lyra-utils that PMRM_2 and its tests use: :func:`annualise`, :func:`fp_sqrt`, :func:`fp_ln`,
  :func:`fp_exp`, :func:`decpow` and the SVI vol feed :func:`svi_vol` / :func:`svi_k` (``src/math/SVI.sol`` at
  ``759e962``; it reproduces the portfolio cases' marked vols to float64 precision);
* the standard manager's configuration and account hooks: :class:`StandardManagerConfig` (markets, the asset
  whitelist, the bounded setters ``srm_check_*``, OI fees :func:`srm_oi_fee`, ``handleAdjustment``'s risk-adding
  bypass, account-size check :func:`srm_previous_assets_length`, no-negative-cash and trusted-assessor rules, perp and
  option settlement), reverting with :class:`SRMRevert` under the contract's error names;
* what both managers' ``_preAdjustmentHooks`` keep as state, :class:`BaseManagerHooks`: the manager-data dispatch
  through a whitelist of callees (``BM_UnauthorizedCall``, once per trade id) and the per-manager asset caps
  (``BM_AssetCapExceeded``, :func:`bm_asset_cap_exceeded`) over the ledger of a ``WrappedERC20Asset``,
  :class:`WrappedAsset` (manager whitelist, caps, total positions, pre-trade snapshots);
* ``DutchAuction.sol`` (checked against ``test/auction/unit-tests`` in ``tests/test_venue_derive_auction_cases.py``):
  the pure :func:`da_discount_percentage`, :func:`da_buffer_margin`, :func:`da_max_proportion`,
  :func:`da_liquidation_fee`, :func:`da_solvent_bid_price`, :func:`da_insolvent_bid_price`, and
  :class:`DutchAuction`, the auctions' state machine (start, scenario update, bids with reserved cash,
  conversion to insolvent, termination, insolvent MM outstanding and the withdrawal block, the perp settlement a
  bid triggers, the manager whitelist and the bidder account's owner) over explicit margins, block times and
  security-module balance;
* PMRM_2 (:mod:`ramparts.venues.derive_pmrm`, names re-exported lazily): ``pmrm_arrange``, ``pmrm_precompute``,
  ``pmrm_scenario_pnl``, ``pmrm_margin``, ``pmrm_assess_risk`` … (checked against the 138 portfolio cases of
  ``TestPMRM_2_PortfolioCasesNEW`` in ``tests/test_venue_derive_pmrm_cases.py``) and ``PMRMManager`` (PMRM_2's
  setters, ``handleAdjustment`` (live-auction lock, supported assets, account size, risk check), OI fees and
  settlement).

Upstream cases reproduced (``test/risk-managers/unit-tests/StandardManager/``, ported in
``tests/test_venue_derive_cases.py``): ``_Portfolio_Cases`` 42/42, ``_Cases`` 28/28, ``_Option`` 33/34, ``_Perp`` 14/15,
``_Misc`` 10/10, ``_MutiAsset`` 12/12. Not reproduced: owner-only access control (``testViewerSetter``,
``testCannotSetPerpMarginRequirementFromNonOwner``); account balances (``SubAccounts``) are supplied by the caller,
not modelled.

The float / :class:`~fractions.Fraction` summaries :class:`PMRMParams`, :func:`vol_shocks`, :func:`static_discounts`,
:func:`contingencies`, :class:`AuctionParams`, :func:`buffer_margin`, :func:`auction_discount` and
:func:`max_fraction_purchasable` predate the exact ports and are kept for their callers; they quote the
reference's decimals, not the contract's truncations.

The SRM formulas (margin = collateral − requirement, negative = insufficient; ``amt < 0`` short,
``mtm = price·amt`` from Black-76 on the expiry's forward, discount 1)::

    short call  MM = mtm + mmCallSpotReq·S·amt
                IM = mult·S·amt + mtm,  mult = max(maxSpotReq − OTM, minSpotReq), OTM = max(K − S, 0)/S
    short put   MM = min(mmPutSpotReq·S·amt, MMPutMtMReq·mtm) + mtm          (the larger requirement)
                IM = min(mult·S·amt + mtm, MM·mmOffsetScale),  OTM = max(S − K, 0)/S
    expiry      max(Σ isolated, maxLoss),  maxLoss = min_{P ∈ {0} ∪ strikes} min(payoff(P), 0)
                                                     + unpaired(IM|MM)Scale·F·netCalls   if netCalls < 0
                IM only: − (1 − c)·OCFactor·S·Σ shorts   if c = min(spot, forward, vol conf.) < optionThreshold
    perp        −|pos|·perpPrice·(im|mm)PerpReq;  IM: − (1 − c)·OCFactor·S·|pos| if c = min(perp, spot conf.) < perpThreshold
    base        pos·S·marginFactor (IM ×IMScale, − (1 − c)·OCFactor·pos·S if spot conf. c < baseThreshold);
                MtM pos·S / stablePrice
    depeg (IM)  − (threshold − stable)·depegFactor·S·(|perp| + Σ shorts)   if stable < threshold
    market      perp + Σ expiries + base + depeg + unrealised perp cash;  account = Σ markets + cash

Every product is one ``multiplyDecimal`` in the contract's order (so ``(rate·S)·amt``, truncated at
each step). The parameters default to the upstream tests' configuration: options ``test/config-test.sol``
``getSRMParams`` (:data:`~ramparts.margin.option_standard.DERIVE_TEST`), perpetuals mm/im 5 % / 6.5 %
(``TestStandardManagerBase.t.sol``; ``config-test.sol`` itself has 6.5 % / 10 %), base factor 0.8 × 0.8,
oracle contingency thresholds and factor 0.4, depeg 0.98 × 1.2.

Units: decimal inputs of the wrappers (``int``, ``Fraction``, ``float`` via ``str``) are converted to
the 1e18 fixed point with :func:`to_wad` (truncation toward zero); the SRM functions take and return
wad integers. The sign convention is Derive's: a requirement is a **negative** margin.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from ramparts.errors import InvalidInput
from ramparts.margin.option_standard import (
    DERIVE_TEST,
    Arithmetic,
    StandardOptionParams,
    capped_requirement,
    short_option_requirements,
    unpaired_call_charge,
)

#: PMRM_2 lives in :mod:`ramparts.venues.derive_pmrm` (it imports this module's primitives); its names are
#: re-exported here lazily (PEP 562) so that ``derive.pmrm_margin`` and ``from ramparts.venues.derive import …`` work.
_PMRM_NAMES = ("VolShock", "PMRMScenario", "PMRM2Params", "PMRM2_CONFIG_TEST", "PMRM2_CONFIG_TEST_SCENARIOS",
               "PMRMCollateralParams", "PMRMStrike", "PMRMExpiry", "PMRMCollateral", "PMRMPortfolio", "PMRMOptionBalance",
               "PMRMForwardFeed", "PMRMCollateralBalance", "pmrm_arrange", "pmrm_expiry", "pmrm_precompute", "pmrm_scenario_pnl",
               "pmrm_margin", "pmrm_basis_scenarios", "pmrm_check_scenarios", "pmrm_assess_risk", "pmrm_vol_shocks",
               "pmrm_static_discounts", "pmrm_naked_shorts", "pmrm_expiry_mtm", "pmrm_skewed_expiry_mtm", "PMRMRevert",
               "PMRMManager", "PMRM_CASH", "PMRM_OPTION", "PMRM_PERP")


def __getattr__(name: str):
    if name in _PMRM_NAMES:
        from ramparts.venues import derive_pmrm

        return getattr(derive_pmrm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SRM", "PMRM", "AUCTION", "SRMLeg", "SRMMarket", "SRMParams", "WAD", "WAD_ARITHMETIC", "black76_prices",
           "buffer_margin", "auction_discount", "max_fraction_purchasable", "perp_margin", "short_call_margin",
           "short_put_margin", "srm_expiry_margin", "srm_isolated_margin", "srm_margin", "vol_shocks",
           "static_discounts", "to_wad", "wdiv", "wmul", "annualise", "fp_sqrt", "fp_ln", "fp_exp", "decpow", "svi_vol", "svi_k",
           "DutchAuction", "DutchAuctionParams", "DutchAuctionBid", "DutchAuctionState", "DutchAuctionRevert", "DA_CONFIG_TEST",
           "da_discount_percentage", "da_buffer_margin", "da_max_proportion", "da_liquidation_fee", "da_solvent_bid_price",
           "da_insolvent_bid_price", "SRMRevert", "StandardManagerConfig", "SRM_CASH", "SRM_PERP", "SRM_OPTION", "SRM_BASE",
           "srm_check_perp_margin_requirements", "srm_check_base_margin_params", "srm_check_option_margin_params",
           "srm_check_oracle_contingency_params", "srm_check_depeg_params", "srm_oi_fee", "srm_previous_assets_length",
           "bm_valid_max_account_size", "bm_oi_fee_charged", "bm_settled_cash", "bm_asset_cap_exceeded", "WrappedAsset",
           "WrappedAssetRevert", "BaseManagerHooks", *_PMRM_NAMES]

WAD = 10**18
YEAR_S = 365 * 86_400


def F(x) -> Fraction:
    if isinstance(x, float):
        if not math.isfinite(x):
            raise InvalidInput("value", f"must be finite, got {x!r}")
        return Fraction(str(x))
    return Fraction(x)


def to_wad(x) -> int:
    """A value in Derive's 1e18 fixed point, truncated toward zero as Solidity's division does."""
    v = F(x) * WAD
    return int(v.numerator // v.denominator) if v >= 0 else -int((-v.numerator) // v.denominator)


# ---------------------------------------------------------------------------------------- fixed point
def _tdiv(a: int, b: int) -> int:
    """Solidity's signed ``/`` (and ``sdiv``): the quotient truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def wmul(a: int, b: int) -> int:
    """``multiplyDecimal``: ``a·b / 1e18`` truncated toward zero (lyra-utils ``{Signed,}DecimalMath``)."""
    return _tdiv(a * b, WAD)


def wdiv(a: int, b: int) -> int:
    """``divideDecimal``: ``a·1e18 / b`` truncated toward zero."""
    return _tdiv(a * WAD, b)


def _select(flag, a, b):
    return a if flag else b


#: Derive's fixed point as the arithmetic of :func:`ramparts.margin.option_standard.short_option_requirements`.
WAD_ARITHMETIC = Arithmetic(wmul, wdiv, max, _select)


# ---------------------------------------------------------------------------------------- Black-76 (lyra-utils)
_N = (4062099735652764000328, 4080670594171652639712, 2067498006223917203771, 625581961353917287603,
      117578849504046139487, 12919787143353136591, 650478250178244362)
_M = (8124199471305528000657, 14643514515380871948050, 11756730424506726822413, 5470644798650576484341,
      1600821957476871612085, 296331772558254578451, 32386342837845824709, 1630477228166597028)
_SQRT_TWOPI_BASE2 = 46239130270042206915
_MAX_TOTAL_VOL = 24 * WAD


def _ln(x: int) -> int:
    """``FixedPointMathLib.ln``: ln of a 1e18 fixed-point number, an (8, 8) rational approximation."""
    if x < 1:
        raise InvalidInput("ln", "undefined for x ≤ 0")
    k = x.bit_length() - 1 - 96
    x = (x << (159 - k)) >> 159
    p = x + 3273285459638523848632254066296
    p = ((p * x) >> 96) + 24828157081833163892658089445524
    p = ((p * x) >> 96) + 43456485725739037958740375743393
    p = ((p * x) >> 96) - 11111509109440967052023855526967
    p = ((p * x) >> 96) - 45023709667254063763336534515857
    p = ((p * x) >> 96) - 14706773417378608786704636184526
    p = p * x - (795164235651350426258249787498 << 96)
    q = x + 5573035233440673466300451813936
    q = ((q * x) >> 96) + 71694874799317883764090561454958
    q = ((q * x) >> 96) + 283447036172924575727196451306956
    q = ((q * x) >> 96) + 401686690394027663651624208769553
    q = ((q * x) >> 96) + 204048457590392012362485061816622
    q = ((q * x) >> 96) + 31853899698501571402653359427138
    q = ((q * x) >> 96) + 909429971244387300277376558375
    r = _tdiv(p, q)
    r *= 1677202110996718588342820967067443963516166
    r += 16597577552685614221487285958193947469193820559219878177908093499208371 * k
    r += 600920179829731861736702779321621459595472258049074101567377883020018308
    return r >> 174


def _exp(x: int) -> int:
    """``FixedPointMathLib.exp``: e^x of a 1e18 fixed-point number, a (6, 7) rational approximation."""
    if x <= -42139678854452767551:
        return 0
    if x >= 135305999368893231589:
        raise InvalidInput("exp", "overflow")
    x = _tdiv(x << 78, 5**18)
    k = (_tdiv(x << 96, 54916777467707473351141471128) + 2**95) >> 96
    x = x - k * 54916777467707473351141471128
    p = x + 2772001395605857295435445496992
    p = ((p * x) >> 96) + 44335888930127919016834873520032
    p = ((p * x) >> 96) + 398888492587501845352592340339721
    p = ((p * x) >> 96) + 1993839819670624470859228494792842
    p = p * x + (4385272521454847904632057985693276 << 96)
    z = x + 750530180792738023273180420736
    z = ((z * x) >> 96) + 32788456221302202726307501949080
    w = x - 2218138959503481824038194425854
    w = ((w * z) >> 96) + 892943633302991980437332862907700
    q = z + w - 78174809823045304726920794422040
    q = ((q * w) >> 96) + 4203224763890128580604056984195872
    r = _tdiv(p, q)
    return (r * 3822833074963236453042738258902158003155416615667) >> (195 - k)


def _isqrt_babylonian(x: int) -> int:
    """``FixedPointMathLib._sqrt``: seven Babylonian steps from a power-of-two guess, rounded down."""
    if x == 0:
        return 0
    aux, result = x, 1
    for bits, shift in ((128, 64), (64, 32), (32, 16), (16, 8), (8, 4), (4, 2)):
        if aux >= 1 << bits:
            aux >>= bits
            result <<= shift
    if aux >= 4:
        result <<= 1
    for _ in range(7):
        result = (result + x // result) >> 1
    down = x // result
    return down if result >= down else result


def _std_normal_cdf(x: int) -> int:
    """``FixedPointMathLib.stdNormalCDF`` (Hart's rational approximation below 7.07, a continued fraction to 37)."""
    z = abs(x)
    if z > 37 * WAD:
        c = 0
    else:
        e = _exp(-(((z >> 1) * z) // WAD))
        z = (z << 46) // 5**18
        e = (e << 46) // 5**18
        if z < 130438178253327725388:
            n = ((_N[6] * z) >> 64) + _N[5]
            for coef in (_N[4], _N[3], _N[2], _N[1], _N[0]):
                n = ((n * z) >> 64) + coef
            d = ((_M[7] * z) >> 64) + _M[6]
            for coef in (_M[5], _M[4], _M[3], _M[2], _M[1], _M[0]):
                d = ((d * z) >> 64) + coef
            c = (n * e) // d
        else:
            f = 11990383647911208550
            f = (4 << 128) // (z + f)
            f = (3 << 128) // (z + f)
            f = (2 << 128) // (z + f)
            f = (1 << 128) // (z + f)
            f += z
            f = (f * _SQRT_TWOPI_BASE2) >> 64
            c = (e << 64) // f
        c = (c * 5**18) >> 46
    return c if x <= 0 else WAD - c


def black76_prices(seconds_to_expiry: int, vol: int, forward: int, strike: int, discount: int = WAD) -> tuple[int, int]:
    """lyra-utils ``Black76.prices``: ``(call, put)`` in 1e18 fixed point (all inputs wad integers).

    The standard call ``N(d1) − k·N(d2)`` on moneyness ``k = K/F`` with total volatility
    ``σ·√(T/365 d)``, scaled by the discounted forward and capped at the discounted forward / strike;
    the put by parity. Zero volatility prices the intrinsic value (up to the moneyness truncation).
    """
    for name, v in (("seconds_to_expiry", seconds_to_expiry), ("vol", vol), ("forward", forward), ("strike", strike), ("discount", discount)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidInput(name, f"must be a non-negative int (wad), got {v!r}")
    t = seconds_to_expiry * WAD // YEAR_S
    total_vol = vol * _isqrt_babylonian(t * WAD) // WAD
    fwd_disc = forward * discount // WAD
    if strike == 0:
        return fwd_disc, 0
    strike_disc = strike * discount // WAD
    if forward == 0:
        return 0, strike_disc
    m = strike * WAD // forward
    if total_vol >= _MAX_TOTAL_VOL:
        std_call = WAD
    else:
        tv = total_vol or 1
        mm = m or 1
        k = _ln(mm)
        half_v2t = (tv >> 1) * tv // WAD
        d1 = _tdiv((half_v2t - k) * WAD, tv)
        d2 = d1 - tv
        nd1 = _std_normal_cdf(d1)
        m_nd2 = mm * _std_normal_cdf(d2) // WAD
        std_call = nd1 - m_nd2 if nd1 >= m_nd2 else 0
    s = std_call + m
    std_put = s - WAD if s >= WAD else 0
    call = min(std_call * fwd_disc // WAD, fwd_disc)
    put = min(std_put * fwd_disc // WAD, strike_disc)
    return call, put


def annualise(seconds: int) -> int:
    """``Black76.annualise``: a duration in seconds as a wad year fraction (``secs·1e18 / 365 d``, rounded down)."""
    return seconds * WAD // YEAR_S


def fp_sqrt(x: int) -> int:
    """``FixedPointMathLib.sqrt``: √x of a non-negative wad number (``_sqrt(x·1e18)``, rounded down)."""
    if x < 0:
        raise InvalidInput("sqrt", "undefined for x < 0")
    return _isqrt_babylonian(x * WAD)


def fp_ln(x: int) -> int:
    """``FixedPointMathLib.ln`` of a wad number (reverts — :class:`InvalidInput` — for x ≤ 0)."""
    return _ln(x)


def fp_exp(x: int) -> int:
    """``FixedPointMathLib.exp`` of a wad number (0 below ≈ −42, :class:`InvalidInput` above ≈ 135)."""
    return _exp(x)


def decpow(a: int, b: int) -> int:
    """``FixedPointMathLib.decPow``: ``exp(ln(a)·b / 1e18)`` (the product truncated toward zero)."""
    return _exp(_tdiv(_ln(a) * b, WAD))


_SVI_MAX_TOTAL_VAR = 144 * WAD
_SVI_TOTAL_VOL_SCALAR = 4 * WAD


def svi_k(strike: int, a: int, b: int, sigma: int, forward: int) -> int:
    """lyra-utils ``SVI.getK``: ``ln(K/F)`` bounded to ``±4·√(a + b·σ)`` (``−bound`` when ``K/F`` truncates to 0)."""
    bound_arg = a + wmul(b, sigma)
    if bound_arg < 0:
        raise InvalidInput("svi", "SVI: value must be positive")
    k_bound = wmul(fp_sqrt(bound_arg), _SVI_TOTAL_VOL_SCALAR)
    if forward == 0:
        raise InvalidInput("forward", "division by zero")
    sk = wdiv(strike, forward)
    if sk == 0:
        return -k_bound
    return max(min(_ln(sk), k_bound), -k_bound)


def svi_vol(strike: int, a: int, b: int, rho: int, m: int, sigma: int, forward: int, tau: int) -> int:
    """lyra-utils ``SVI.getVol`` (``759e962``): the volatility of ``strike`` on an SVI slice, all wad integers.

    ``w = a + b·(√((k − m)² + σ²) + ρ·(k − m))`` capped at 144, with ``k = ln(K/F)`` bounded to
    ``±4·√(a + b·σ)``; the vol is ``√(w / τ)`` (``τ`` in wad years). 0 for a zero strike; a negative
    ``w``, a zero forward or a negative ``a + b·σ`` raise :class:`InvalidInput` (the library reverts).
    """
    if strike == 0:
        return 0
    if forward == 0:
        raise InvalidInput("forward", "SVI_NoForwardPrice")
    k_m = svi_k(strike, a, b, sigma, forward) - m
    inner = fp_sqrt(wmul(k_m, k_m) + wmul(sigma, sigma)) + wmul(rho, k_m)
    w = a + wmul(b, inner)
    if w < 0:
        raise InvalidInput("svi", "SVI_InvalidParameters (negative total variance)")
    w = min(w, _SVI_MAX_TOTAL_VAR)
    if tau <= 0:
        raise InvalidInput("tau", "must be positive")
    return fp_sqrt(wdiv(w, tau))


# ---------------------------------------------------------------------------------------- standard manager
@dataclass(frozen=True)
class SRMParams:
    """Standard-manager parameters of one market (decimals; :func:`to_wad` at use).

    ``option`` holds the option parameters under their :class:`StandardOptionParams` names
    (``im_base`` = ``maxSpotReq``, ``im_floor`` = ``minSpotReq``, ``mm_base`` = ``mmCallSpotReq``,
    ``mm_put_base`` = ``mmPutSpotReq``, ``mm_put_mark`` = ``MMPutMtMReq``, ``put_im_over_mm`` =
    ``mmOffsetScale``, ``unpaired_{im,mm}_scale``); a threshold of 0 disables its contingency. The
    depeg parameters are the manager's (one pair for all markets in Derive): give every market the same.
    """

    option: StandardOptionParams = DERIVE_TEST
    perp_mm_req: Fraction = Fraction(5, 100)
    perp_im_req: Fraction = Fraction(65, 1000)
    base_margin_factor: Fraction = Fraction(8, 10)
    base_im_scale: Fraction = Fraction(8, 10)
    oc_perp_threshold: Fraction = Fraction(4, 10)
    oc_option_threshold: Fraction = Fraction(4, 10)
    oc_base_threshold: Fraction = Fraction(4, 10)
    oc_factor: Fraction = Fraction(4, 10)
    depeg_threshold: Fraction = Fraction(98, 100)
    depeg_factor: Fraction = Fraction(12, 10)

    def __post_init__(self) -> None:
        if self.option.unpaired_im_scale is None:
            raise InvalidInput("option", "Derive's standard manager needs unpaired_im_scale / unpaired_mm_scale")

    def wad(self, name: str) -> int:
        """A parameter in 1e18 fixed point (``option.<name>`` for the option ones)."""
        if name.startswith("option."):
            return to_wad(getattr(self.option, name.split(".", 1)[1]))
        return to_wad(getattr(self, name))


SRM = SRMParams()


class _WadOptionParams:
    """An option-parameter view in wad integers, under the names :func:`short_option_requirements` reads."""

    __slots__ = ("im_base", "im_floor", "mm_base", "mm_put_base", "mm_put_mark", "put_im_over_mm")

    def __init__(self, p: StandardOptionParams) -> None:
        for name in self.__slots__:
            setattr(self, name, to_wad(getattr(p, name)))


def srm_isolated_margin(is_call: bool, strike: int, balance: int, mtm: int, spot: int, *, initial: bool, p: SRMParams = SRM) -> int:
    """``_getIsolatedMargin`` of one option position (wad; ≤ 0): 0 for a long, else the short-option
    formula of :func:`ramparts.margin.option_standard.short_option_requirements` in Derive's fixed point.

    ``mtm`` is the position's mark to market (``price·balance``, negative for a short).
    """
    if balance >= 0:
        return 0
    im, mm = short_option_requirements(is_call, strike, spot, -balance, -mtm, _WadOptionParams(p.option), ar=WAD_ARITHMETIC)
    return -(im if initial else mm)


def _settlement_value(strike: int, balance: int, price: int, is_call: bool) -> int:
    diff = price - strike
    if is_call and diff > 0:
        return wmul(diff, balance)
    if not is_call and diff < 0:
        return -wmul(diff, balance)
    return 0


@dataclass(frozen=True)
class SRMLeg:
    """One option balance: expiry (seconds from now), strike and signed balance (wad), type."""

    expiry_s: int
    strike: int
    is_call: bool
    balance: int


def srm_expiry_margin(legs: list[SRMLeg] | tuple[SRMLeg, ...], spot: int, forward: int, vols: Mapping[tuple[int, int], int],
                      *, initial: bool, p: SRMParams = SRM) -> tuple[int, int]:
    """``_calcNetBasicMarginSingleExpiry``: ``(max(Σ isolated, maxLoss), Σ mtm)`` of the legs of one expiry (wad).

    ``vols`` maps ``(expiry_s, strike)`` to the volatility (missing: 0, as an unset feed).
    """
    def payoff_floor(price: int) -> int:
        return min(sum(_settlement_value(leg.strike, leg.balance, price, leg.is_call) for leg in legs), 0)

    max_loss = payoff_floor(0)
    total_iso = total_mtm = net_calls = 0
    for leg in legs:
        call, put = black76_prices(max(leg.expiry_s, 0), vols.get((leg.expiry_s, leg.strike), 0), forward, leg.strike)
        mtm = wmul(call if leg.is_call else put, leg.balance)
        total_iso += srm_isolated_margin(leg.is_call, leg.strike, leg.balance, mtm, spot, initial=initial, p=p)
        total_mtm += mtm
        max_loss = min(payoff_floor(leg.strike), max_loss)
        if leg.is_call:
            net_calls += leg.balance
    charge = 0
    if net_calls < 0:
        scale = p.wad("option.unpaired_im_scale" if initial else "option.unpaired_mm_scale")
        charge = unpaired_call_charge(-net_calls, forward, scale, ar=WAD_ARITHMETIC)
    return -capped_requirement(-total_iso, -max_loss, charge), total_mtm


@dataclass(frozen=True)
class SRMMarket:
    """One market's holdings and feeds (wad integers; expiries in seconds from now).

    ``forwards`` maps an expiry to ``(forward, confidence)``, ``vols`` ``(expiry, strike)`` to the
    volatility and ``vol_confs`` an expiry to the vol feed's confidence (missing: 0, as an unset
    mock feed); ``perp_cash`` is the perpetual's unsettled funding plus unrealised PnL.
    """

    spot: int
    spot_conf: int = WAD
    legs: tuple[SRMLeg, ...] = ()
    forwards: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    vols: Mapping[tuple[int, int], int] = field(default_factory=dict)
    vol_confs: Mapping[int, int] = field(default_factory=dict)
    perp: int = 0
    perp_price: int = 0
    perp_conf: int = WAD
    perp_cash: int = 0
    base: int = 0
    params: SRMParams = SRM


def _penalty(threshold: int, conf: int, factor: int, *amounts: int) -> int:
    if threshold == 0 or conf >= threshold:
        return 0
    out = wmul(WAD - conf, factor)
    for a in amounts:
        out = wmul(out, a)
    return out


def _market_margin(m: SRMMarket, initial: bool, stable_price: int) -> tuple[int, int]:
    p = m.params
    oc = p.wad("oc_factor")
    # perpetual (_getNetPerpMargin)
    perp_margin_ = 0
    if m.perp:
        notional = wmul(abs(m.perp), m.perp_price)
        perp_margin_ = -wmul(notional, p.wad("perp_im_req" if initial else "perp_mm_req"))
        if initial:
            perp_margin_ -= _penalty(p.wad("oc_perp_threshold"), min(m.perp_conf, m.spot_conf), oc, m.spot, abs(m.perp))
    # options (_getNetOptionMarginAndMtM): expiries in order of first appearance, as the portfolio viewer
    expiries: dict[int, list[SRMLeg]] = {}
    for leg in m.legs:
        expiries.setdefault(leg.expiry_s, []).append(leg)
    option_margin = option_mtm = shorts_all = 0
    for expiry, legs in expiries.items():
        if expiry not in m.forwards or m.forwards[expiry][0] == 0:
            raise InvalidInput("forwards", f"no forward price for expiry {expiry} (SRM_NoForwardPrice)")
        fwd, fconf = m.forwards[expiry]
        margin, mtm = srm_expiry_margin(legs, m.spot, fwd, m.vols, initial=initial, p=p)
        option_margin += margin
        option_mtm += mtm
        shorts = sum(-leg.balance for leg in legs if leg.balance < 0)
        shorts_all += shorts
        if initial:
            conf = min(m.spot_conf, fconf, m.vol_confs.get(expiry, 0))
            option_margin -= _penalty(p.wad("oc_option_threshold"), conf, oc, m.spot, shorts)
    margin = 0
    # depeg (_getDepegMultiplier, IM only)
    if initial and stable_price < p.wad("depeg_threshold"):
        mult = wmul(p.wad("depeg_threshold") - stable_price, p.wad("depeg_factor"))
        if mult:
            margin = -wmul(wmul(abs(m.perp) + shorts_all, mult), m.spot)
    # base asset (_getBaseMarginAndMtM)
    base_margin = base_mtm = 0
    if m.base:
        notional = wmul(m.base, m.spot)
        base_margin = wmul(notional, p.wad("base_margin_factor"))
        base_mtm = wdiv(notional, stable_price)
        if initial:
            base_margin = wmul(base_margin, p.wad("base_im_scale"))
            if base_margin:
                base_margin -= _penalty(p.wad("oc_base_threshold"), m.spot_conf, oc, notional)
    unrealised = m.perp_cash if m.perp else 0
    margin += perp_margin_ + option_margin + base_margin + unrealised
    return margin, option_mtm + unrealised + base_mtm


def srm_margin(markets: list[SRMMarket] | tuple[SRMMarket, ...], cash: int = 0, *, initial: bool,
               stable_price: int = WAD) -> tuple[int, int]:
    """``_getMarginAndMarkToMarket``: ``(margin, mark to market)`` of an account (wad; margin < 0 = insufficient).

    ``stable_price`` is the stable-coin feed (depeg add-on at the initial level, base assets' MtM).
    """
    margin = mtm = 0
    for m in markets:
        a, b = _market_margin(m, initial, stable_price)
        margin += a
        mtm += b
    return margin + cash, mtm + cash


def perp_margin(position, perp_price, *, initial: bool = False, p: SRMParams = SRM) -> Fraction:
    """``−|pos| · perpPrice · (im|mm)PerpReq`` in decimals (confidence contingencies not included)."""
    notional = wmul(abs(to_wad(position)), to_wad(perp_price))
    return Fraction(-wmul(notional, p.wad("perp_im_req" if initial else "perp_mm_req")), WAD)


def _short_option_margin(is_call: bool, amount, strike, spot, mtm, initial: bool, p: SRMParams) -> Fraction:
    amt = to_wad(amount)
    if amt >= 0:
        raise InvalidInput("amount", "a short position has a negative amount")
    return Fraction(srm_isolated_margin(is_call, to_wad(strike), amt, to_wad(mtm), to_wad(spot), initial=initial, p=p), WAD)


def short_call_margin(amount, strike, spot, mtm, *, initial: bool, p: SRMParams = SRM) -> Fraction:
    """A short call (``amount < 0``, ``mtm`` its negative mark to market), in decimals:
    ``MM = mtm + mmCallSpotReq·spot·amt``; ``IM = mult·spot·amt + mtm``, ``mult = max(maxSpotReq − otm, minSpotReq)``."""
    return _short_option_margin(True, amount, strike, spot, mtm, initial, p)


def short_put_margin(amount, strike, spot, mtm, *, initial: bool, p: SRMParams = SRM) -> Fraction:
    """A short put, in decimals: ``MM = min(mmPutSpotReq·spot·amt, MMPutMtMReq·mtm) + mtm``;
    ``IM = min(mult·spot·amt + mtm, MM·mmOffsetScale)``, ``otm = (S − K)/S`` when ``S > K``."""
    return _short_option_margin(False, amount, strike, spot, mtm, initial, p)


@dataclass(frozen=True)
class PMRMParams:
    """PMRM_2 defaults quoted in the reference (§3.2)."""

    vol_range_up: float = 0.5
    vol_range_down: float = 0.275
    short_term_power: float = 0.3
    long_term_power: float = 0.13
    dte_floor_days: float = 1.0
    min_vol_up: float = 0.45
    base_static_discount: float = 0.95
    base_static_discount_neg: float = 1.04
    long_rate_mult: float = 1.0
    long_rate_add: float = 0.08
    short_rate_mult: float = 0.5
    short_rate_add: float = 0.08
    mm_perp: float = 0.015
    mm_option: float = 0.003
    im_perp: float = 0.005
    im_option: float = 0.002
    im_loss_factor: float = 1.0
    mm_loss_factor: float = 0.8


PMRM = PMRMParams()


def vol_shocks(vol: float, seconds_to_expiry: float, p: PMRMParams = PMRM) -> tuple[float, float]:
    """``(up, down)``: ``m = (30 d / max(T, DTE_FLOOR))^(T ≤ 30 d ? SHORTTERMPOWER : LONGTERMPOWER)``;
    ``up = max(vol·(1 + VOLRANGEUP·m), MIN_VOL_UP)`` (the up-shocked vol is floored), ``down = vol·max(0, 1 − VOLRANGEDOWN·m)``."""
    if not (math.isfinite(vol) and vol >= 0 and math.isfinite(seconds_to_expiry) and seconds_to_expiry >= 0):
        raise InvalidInput("vol", "vol and time to expiry must be finite and non-negative")
    t = max(seconds_to_expiry, p.dte_floor_days * 86_400)
    power = p.short_term_power if seconds_to_expiry <= 30 * 86_400 else p.long_term_power
    m = (30 * 86_400 / t) ** power
    return max(vol * (1 + p.vol_range_up * m), p.min_vol_up), vol * max(0.0, 1 - p.vol_range_down * m)


def static_discounts(rate: float, seconds_to_expiry: float, p: PMRMParams = PMRM) -> tuple[float, float]:
    """``(pos, neg)``: ``pos = BASE·e^(−t(r·LONG_MULT + LONG_ADD))``, ``neg = min(1/disc, BASE_NEG·e^(t(r·SHORT_MULT + SHORT_ADD)))``
    with ``disc = e^(−r·t)``, ``t`` in years."""
    t = seconds_to_expiry / YEAR_S
    pos = p.base_static_discount * math.exp(-t * (rate * p.long_rate_mult + p.long_rate_add))
    disc = math.exp(-rate * t)
    neg = min(1 / disc, p.base_static_discount_neg * math.exp(t * (rate * p.short_rate_mult + p.short_rate_add)))
    return pos, neg


def contingencies(perp_position, naked_shorts, spot, *, initial: bool, p: PMRMParams = PMRM) -> float:
    """``MMcont = |perp|·spot·MM_PERP + nakedShorts·spot·MM_OPTION``; the initial level subtracts
    ``IMcont`` on top (``IM_PERP``, ``IM_OPTION``), so its add-ons are the sums (2.0 % perp, 0.5 % option)."""
    perp, shorts, s = abs(float(perp_position)), abs(float(naked_shorts)), float(spot)
    mm = perp * s * p.mm_perp + shorts * s * p.mm_option
    return mm + (perp * s * p.im_perp + shorts * s * p.im_option if initial else 0.0)


@dataclass(frozen=True)
class AuctionParams:
    """Dutch-auction parameters (§3.3)."""

    buffer_margin_percentage: Fraction = Fraction(1, 10)
    fast_length_s: int = 600
    fast_end: Fraction = Fraction(8, 10)
    slow_length_s: int = 7_200


AUCTION = AuctionParams()


def buffer_margin(mm, mtm, p: AuctionParams = AUCTION) -> Fraction:
    """``BM = MM + (MM − MtM)·bufferMarginPercentage`` (liquidate back to BM, not MM)."""
    return F(mm) + (F(mm) - F(mtm)) * p.buffer_margin_percentage


def auction_discount(elapsed_s: int, p: AuctionParams = AUCTION) -> Fraction:
    """``d(t)``: 100 % → 80 % linearly over the fast auction, then 80 % → 0 over the slow one."""
    if elapsed_s < 0:
        raise InvalidInput("elapsed_s", "must be non-negative")
    if elapsed_s <= p.fast_length_s:
        return 1 - (1 - p.fast_end) * Fraction(elapsed_s, p.fast_length_s)
    slow = min(elapsed_s - p.fast_length_s, p.slow_length_s)
    return p.fast_end * (1 - Fraction(slow, p.slow_length_s))


def max_fraction_purchasable(bm, mtm, d, reserved_cash=0) -> Fraction:
    """``f = BM / (BM − MtM·d − reservedCash·(1 − d))``, clamped to [0, 1] (the buffer margin is negative when liquidatable)."""
    bm, mtm, d, rc = F(bm), F(mtm), F(d), F(reserved_cash)
    den = bm - mtm * d - rc * (1 - d)
    if den == 0:
        raise InvalidInput("auction", "the fraction is undefined (zero denominator)")
    return min(max(bm / den, Fraction(0)), Fraction(1))


# ---------------------------------------------------------------------------------------- Dutch auction (wad, exact)
class DutchAuctionRevert(InvalidInput):
    """A revert of ``DutchAuction.sol``; ``error`` is the contract's custom error (``DA_…``)."""

    def __init__(self, error: str, message: str = ""):
        self.error = error
        super().__init__("auction", error + (f" ({message})" if message else ""))


@dataclass(frozen=True)
class DutchAuctionParams:
    """``IDutchAuction.AuctionParams`` (wad percentages, lengths in seconds). Defaults:
    ``test/config-test.sol::getDefaultAuctionParam`` (100 % → 80 % over 10 min, → 0 over 2 h, insolvent 10 min,
    no liquidator fee, buffer 10 %)."""

    starting_mtm_percentage: int = WAD
    fast_auction_cutoff_percentage: int = 8 * WAD // 10
    fast_auction_length: int = 600
    slow_auction_length: int = 7_200
    insolvent_auction_length: int = 600
    liquidator_fee_rate: int = 0
    buffer_margin_percentage: int = WAD // 10

    def validate(self) -> DutchAuctionParams:
        """``setAuctionParams``: start ≤ 100 %, fee ≤ 10 %, cutoff ≤ start, buffer ≤ 400 % (``DA_InvalidParameter``)."""
        if any(getattr(self, n) < 0 for n in self.__dataclass_fields__):
            raise DutchAuctionRevert("DA_InvalidParameter", "uint fields")
        if (self.starting_mtm_percentage > WAD or self.liquidator_fee_rate > WAD // 10
                or self.fast_auction_cutoff_percentage > self.starting_mtm_percentage or self.buffer_margin_percentage > 4 * WAD):
            raise DutchAuctionRevert("DA_InvalidParameter")
        return self


DA_CONFIG_TEST = DutchAuctionParams()


def da_discount_percentage(elapsed_s: int, p: DutchAuctionParams = DA_CONFIG_TEST) -> int:
    """``_getDiscountPercentage``: start % → cutoff % linearly over the fast auction (``Δ·t / fastLength``),
    then cutoff % → 0 over the slow one (``cutoff − (cutoff·t / 1e18)·1e18 / slowLength``), 0 after (wad)."""
    if elapsed_s < 0:
        raise InvalidInput("elapsed_s", "must be non-negative (uint)")
    if elapsed_s < p.fast_auction_length:
        change = p.starting_mtm_percentage - p.fast_auction_cutoff_percentage
        return p.starting_mtm_percentage - change * elapsed_s // p.fast_auction_length
    if elapsed_s >= p.fast_auction_length + p.slow_auction_length:
        return 0
    return p.fast_auction_cutoff_percentage - wdiv(wmul(p.fast_auction_cutoff_percentage, elapsed_s - p.fast_auction_length),
                                                   p.slow_auction_length)


def da_buffer_margin(mm: int, mtm: int, p: DutchAuctionParams = DA_CONFIG_TEST) -> int:
    """``_getBufferMargin``: ``MM + (MM − MtM)·bufferMarginPercentage`` (wad)."""
    return mm + wmul(mm - mtm, p.buffer_margin_percentage)


def da_max_proportion(mtm: int, bm: int, discount: int, reserved_cash: int = 0, mtm_cutoff: int = 0) -> int:
    """``_getMaxProportion``: ``f = BM / (BM − MtM·d − R·(1 − d))`` with ``BM`` capped at 0; 100 % when
    ``MtM < mtmCutoff``. A negative result reverts (SafeCast), as does a zero denominator."""
    if mtm < mtm_cutoff:
        return WAD
    bm = min(bm, 0)
    den = bm - wmul(mtm, discount) - wmul(reserved_cash, WAD - discount)
    if den == 0:
        raise DutchAuctionRevert("DivisionByZero", "BM − MtM·d − R·(1 − d) = 0")
    f = wdiv(bm, den)
    if f < 0:
        raise DutchAuctionRevert("SafeCastOverflowedIntToUint", "negative proportion")
    return f


def da_liquidation_fee(mtm: int, bm: int, p: DutchAuctionParams = DA_CONFIG_TEST, mtm_cutoff: int = 0) -> int:
    """``_getLiquidationFee`` (solvent start): ``maxProportion(d = 1, R = 0)·|MtM|·liquidatorFeeRate``."""
    return wmul(wmul(da_max_proportion(mtm, bm, WAD, 0, mtm_cutoff), abs(mtm)), p.liquidator_fee_rate)


def da_solvent_bid_price(mtm: int, reserved_cash: int, elapsed_s: int, p: DutchAuctionParams = DA_CONFIG_TEST) -> int:
    """``_getSolventAuctionBidPrice``: ``(MtM − reservedCash)·d(t)``; 0 once the solvent auction is over;
    ``DA_ReservedCashGreaterThanMtM`` if the reserved cash exceeds the MtM before then."""
    if elapsed_s >= p.fast_auction_length + p.slow_auction_length:
        return 0
    if reserved_cash > mtm:
        raise DutchAuctionRevert("DA_ReservedCashGreaterThanMtM")
    return wmul(mtm - reserved_cash, da_discount_percentage(elapsed_s, p))


def da_insolvent_bid_price(mm: int, mtm: int, elapsed_s: int, p: DutchAuctionParams = DA_CONFIG_TEST) -> int:
    """``_getInsolventAuctionBidPrice`` (≤ 0: what the security module pays per 100 %): 0 if MM ≥ 0, else from
    ``min(MtM, 0)`` to ``MM`` linearly over the insolvent auction (``(MM − m)·t / length + m``, truncated toward 0)."""
    if mm >= 0:
        return 0
    m = min(mtm, 0)
    if elapsed_s >= p.insolvent_auction_length:
        return mm
    return _tdiv((mm - m) * elapsed_s, p.insolvent_auction_length) + m


@dataclass
class DutchAuctionState:
    """``IDutchAuction.Auction`` of one account."""

    account: int
    scenario: int
    insolvent: bool
    ongoing: bool
    cached_mm: int
    start_time: int
    reserved_cash: int = 0


@dataclass(frozen=True)
class DutchAuctionBid:
    """The result of a bid: the percentage of the current portfolio taken, the cash the bidder pays into the
    account (solvent) or receives (insolvent: ``sm_paid`` from the security module, ``socialized`` printed
    on the cash asset), and whether the bid terminated the auction."""

    percentage: int
    cash_from_bidder: int
    cash_to_bidder: int
    sm_paid: int = 0
    socialized: int = 0
    terminated: bool = False


class DutchAuction:
    """``DutchAuction.sol``'s auctions as a state machine over explicit inputs (wad integers, seconds).

    ``margins(account, scenario) -> (maintenance margin, mark to market)`` stands for the manager's
    ``getMarginAndMarkToMarket(account, false, scenario)``; every call takes the block time ``now``. The
    security module pays insolvent bids from ``sm_balance`` (as the upstream ``MockSM``: what it cannot
    pay is socialised). ``settle(account)`` (optional) stands for the manager's ``settleInterest`` +
    ``settlePerpsWithIndex``, which ``bid`` calls on the auctioned account before reading its margins.
    ``manager`` names the manager ``margins`` stands for (the one every account here is under); the auction's manager
    whitelist (``managerWhitelisted``, :meth:`set_whitelist_manager`) starts with it, as the upstream tests' ``setUp``
    leaves it (the contract's storage starts empty). ``owners`` maps account ids to their owners
    (``SubAccounts.ownerOf``), for a bid's ``DA_SenderNotOwner``. Not modelled: the last-trade-id guard, the bidder's
    manager (``DA_CannotBidWithDifferentManager``) and the transfer of the portfolio (``executeBid``) — the caller
    moves positions and updates what ``margins`` returns. Reverts raise :class:`DutchAuctionRevert` before any state
    changes.
    """

    def __init__(self, margins, params: DutchAuctionParams = DA_CONFIG_TEST, *, mtm_cutoff: int = 0, sm_balance: int = 0,
                 settle=None, manager: str = "manager", owners: Mapping[int, str] | None = None):
        self.margins = margins
        self.settle = settle
        self.manager = manager
        self.whitelisted_managers: set[str] = {manager}
        self.owners: dict[int, str] = dict(owners or {})
        self.params = params.validate()
        self.mtm_cutoff = mtm_cutoff
        self.sm_balance = sm_balance
        self.auctions: dict[int, DutchAuctionState] = {}
        self.total_insolvent_mm = 0
        self.fees_paid = 0
        self.socialized = 0

    def set_params(self, params: DutchAuctionParams) -> None:
        self.params = params.validate()

    def set_whitelist_manager(self, manager: str, whitelisted: bool) -> None:
        """``setWhitelistManager``: enable (or disable) starting and bidding on auctions of ``manager``'s accounts."""
        (self.whitelisted_managers.add if whitelisted else self.whitelisted_managers.discard)(manager)

    def _check_manager(self) -> None:
        if self.manager not in self.whitelisted_managers:
            raise DutchAuctionRevert("DA_NotWhitelistedManager", f"manager {self.manager!r}")

    def set_mtm_cutoff(self, cutoff: int) -> None:
        if cutoff > 1_000 * WAD:
            raise DutchAuctionRevert("DA_InvalidParameter", "mtmCutoff > 1,000")
        self.mtm_cutoff = cutoff

    def _margin(self, account: int, scenario: int) -> tuple[int, int, int]:
        mm, mtm = self.margins(account, scenario)
        return mm, da_buffer_margin(mm, mtm, self.params), mtm

    def _auction(self, account: int) -> DutchAuctionState:
        return self.auctions.get(account) or DutchAuctionState(account, 0, False, False, 0, 0)

    def _elapsed(self, a: DutchAuctionState, now: int) -> int:
        if now < a.start_time:
            raise InvalidInput("now", "before the auction's start")
        return now - a.start_time

    # -- start / convert / terminate
    def start_auction(self, account: int, scenario: int, now: int) -> int:
        """``startAuction``: the account's manager must be whitelisted (``DA_NotWhitelistedManager``); needs MM < 0;
        solvent when MtM > 0 (the liquidator fee, returned, is charged to the account), insolvent otherwise (its −MM
        joins ``total_insolvent_mm``)."""
        self._check_manager()
        mm, bm, mtm = self._margin(account, scenario)
        if mm >= 0:
            raise DutchAuctionRevert("DA_AccountIsAboveMaintenanceMargin")
        if self._auction(account).ongoing:
            raise DutchAuctionRevert("DA_AuctionAlreadyStarted")
        if mtm > 0:
            fee = da_liquidation_fee(mtm, bm, self.params, self.mtm_cutoff)
            self.fees_paid += fee
            self.auctions[account] = DutchAuctionState(account, scenario, False, True, 0, now)
            return fee
        self._start_insolvent(account, scenario, mm, now)
        return 0

    def _start_insolvent(self, account: int, scenario: int, mm: int, now: int) -> None:
        self.total_insolvent_mm += -mm
        self.auctions[account] = DutchAuctionState(account, scenario, True, True, -mm, now)

    def update_scenario_id(self, account: int, scenario: int, now: int) -> None:
        """``updateScenarioId``: anyone may switch to a scenario with a lower maintenance margin."""
        a = self._auction(account)
        if not a.ongoing:
            raise DutchAuctionRevert("DA_AuctionNotStarted")
        if self._margin(account, scenario)[0] >= self._margin(account, a.scenario)[0]:
            raise DutchAuctionRevert("DA_ScenarioIdNotWorse")
        a.scenario = scenario

    def convert_to_insolvent(self, account: int, now: int) -> None:
        """``convertToInsolventAuction``: once the solvent bid price is 0 and MM < 0 (restarts the clock)."""
        a = self._auction(account)
        mm, _bm, mtm = self._margin(account, a.scenario)
        if a.insolvent:
            raise DutchAuctionRevert("DA_AuctionAlreadyInInsolvencyMode")
        if self._solvent_bid_price(a, mtm, now) > 0:
            raise DutchAuctionRevert("DA_OngoingSolventAuction")
        if mm >= 0:
            raise DutchAuctionRevert("DA_AccountIsAboveMaintenanceMargin")
        self._start_insolvent(account, a.scenario, mm, now)

    def auction_status(self, account: int, now: int) -> tuple[bool, int, int, int]:
        """``getAuctionStatus``: ``(can terminate, MtM, MM, BM)`` — insolvent (or past the solvent auction):
        MM ≥ 0; solvent: MtM < 0, reserved cash ≥ MtM, or BM ≥ 0."""
        a = self._auction(account)
        if not a.ongoing:
            raise DutchAuctionRevert("DA_NotOngoingAuction")
        elapsed = self._elapsed(a, now)
        mm, bm, mtm = self._margin(account, a.scenario)
        if a.insolvent or elapsed >= self.params.fast_auction_length + self.params.slow_auction_length:
            return mm >= 0, mtm, mm, bm
        if mtm < 0 or a.reserved_cash >= mtm:
            return True, mtm, mm, bm
        return bm >= 0, mtm, mm, bm

    def terminate_auction(self, account: int, now: int) -> None:
        """``terminateAuction``: when :meth:`auction_status` allows it (releases its cached MM)."""
        if not self.auction_status(account, now)[0]:
            raise DutchAuctionRevert("DA_AuctionCannotTerminate")
        self._terminate(account)

    def _terminate(self, account: int) -> None:
        a = self.auctions[account]
        a.ongoing = False
        self.total_insolvent_mm -= a.cached_mm

    # -- views
    def _solvent_bid_price(self, a: DutchAuctionState, mtm: int, now: int) -> int:
        if not a.ongoing:
            raise DutchAuctionRevert("DA_AuctionNotStarted")
        return da_solvent_bid_price(mtm, a.reserved_cash, self._elapsed(a, now), self.params)

    def _insolvent_bid_price(self, a: DutchAuctionState, mm: int, mtm: int, now: int) -> int:
        if not a.ongoing:
            raise DutchAuctionRevert("DA_AuctionNotStarted")
        return da_insolvent_bid_price(mm, mtm, self._elapsed(a, now), self.params)

    def current_bid_price(self, account: int, now: int) -> int:
        """``getCurrentBidPrice``: the solvent price, or the (negative) insolvent one."""
        a = self._auction(account)
        mm, _bm, mtm = self._margin(account, a.scenario)
        if not a.insolvent:
            return self._solvent_bid_price(a, mtm, now)
        return self._insolvent_bid_price(a, mm, mtm, now)

    def max_proportion(self, account: int, scenario: int, now: int) -> int:
        """``getMaxProportion``: the largest fraction of the current portfolio purchasable now."""
        a = self._auction(account)
        _mm, bm, mtm = self._margin(account, scenario)
        if mtm < 0:
            raise DutchAuctionRevert("DA_SolventAuctionEnded")
        return da_max_proportion(mtm, bm, da_discount_percentage(now - a.start_time, self.params), a.reserved_cash, self.mtm_cutoff)

    def is_withdraw_blocked(self, sm_account_cash: int | None) -> bool:
        """``getIsWithdrawBlocked``: insolvent MM outstanding beyond the security module's cash
        (``None``: no SM account set — never blocked)."""
        if self.total_insolvent_mm > 0 and sm_account_cash is not None:
            if sm_account_cash < 0:
                raise DutchAuctionRevert("SafeCastOverflowedIntToUint", "negative SM cash balance")
            return self.total_insolvent_mm > sm_account_cash
        return False

    # -- bidding
    def bid(self, account: int, percent: int, now: int, *, bidder_cash: int | None, price_limit: int = 0,
            bidder: int | None = None, sender: str | None = None) -> DutchAuctionBid:
        """``bid``: buy ``percent`` (wad, ≤ 100 %) of the current portfolio.

        In the contract's order: the percentage (``DA_InvalidPercentage``), the manager whitelist
        (``DA_NotWhitelistedManager``), the settle hook, then — when a ``bidder`` account is given — its owner in
        :attr:`owners` must be ``sender`` (``msg.sender``; ``DA_SenderNotOwner``).

        ``bidder_cash`` is the bidder account's cash when cash is all it holds (``None`` otherwise:
        ``DA_InvalidBidderPortfolio``). Solvent: the bidder pays ``bidPrice·f`` (``f`` capped at the max
        proportion, which terminates the auction) into reserved cash and must hold that plus
        ``|BM − reserved|·f``. Insolvent: the bidder receives ``−bidPrice·f`` from the security module (the
        shortfall socialised) and must hold ``|MM|·f`` minus it; 100 % terminates. ``price_limit`` (≠ 0) caps
        the cash paid (solvent) or the negative of the cash received (insolvent).
        """
        if percent > WAD or percent <= 0:
            raise DutchAuctionRevert("DA_InvalidPercentage")
        self._check_manager()
        if self.settle is not None:  # realise the account's perp PnL and interest in cash first (DutchAuction.bid)
            self.settle(account)
        if bidder is not None:
            if bidder not in self.owners:
                raise InvalidInput("bidder", f"account {bidder} has no owner in owners (ownerOf reverts)")
            if self.owners[bidder] != sender:
                raise DutchAuctionRevert("DA_SenderNotOwner", f"account {bidder} is owned by {self.owners[bidder]!r}")
        can_terminate, mtm, mm, bm = self.auction_status(account, now)
        if can_terminate:
            raise DutchAuctionRevert("DA_AuctionShouldBeTerminated")
        a = self.auctions[account]

        def ensure(expected: int) -> None:
            if bidder_cash is None:
                raise DutchAuctionRevert("DA_InvalidBidderPortfolio")
            if bidder_cash < expected:
                raise DutchAuctionRevert("DA_InsufficientCash")

        if a.insolvent:
            price = self._insolvent_bid_price(a, mm, mtm, now)
            if price > 0:
                raise DutchAuctionRevert("SafeCastOverflowedIntToUint", "positive insolvent bid")
            to_bidder = wmul(-price, percent)
            ensure(wmul(abs(mm), percent) - to_bidder)
            if price_limit != 0 and -to_bidder > price_limit:
                raise DutchAuctionRevert("DA_PriceLimitExceeded")
            paid = min(self.sm_balance, to_bidder)
            self.sm_balance -= paid
            self.socialized += to_bidder - paid
            done = percent == WAD
            if done:
                self._terminate(account)
            return DutchAuctionBid(percent, 0, to_bidder, paid, to_bidder - paid, done)
        price = self._solvent_bid_price(a, mtm, now)
        if price <= 0:
            raise DutchAuctionRevert("DA_SolventAuctionEnded")
        discount = da_discount_percentage(now - a.start_time, self.params)
        max_of_current = da_max_proportion(mtm, bm, discount, a.reserved_cash, self.mtm_cutoff)
        done = False
        if percent >= max_of_current:
            percent, done = max_of_current, True
        from_bidder = wmul(price, percent)
        ensure(from_bidder + wmul(abs(bm - a.reserved_cash), percent))
        if price_limit != 0 and from_bidder > price_limit:
            raise DutchAuctionRevert("DA_PriceLimitExceeded")
        a.reserved_cash += from_bidder
        if done:
            self._terminate(account)
        return DutchAuctionBid(percent, from_bidder, 0, terminated=done)


# ---------------------------------------------------------------------------------------- SRM configuration and account hooks
class SRMRevert(InvalidInput):
    """A revert of ``StandardManager.sol``; ``error`` is the contract's custom error (``SRM_…``)."""

    def __init__(self, error: str, message: str = ""):
        self.error = error
        super().__init__("standard manager", error + (f" ({message})" if message else ""))


SRM_CASH = "cash"  #: the cash asset's name in :meth:`StandardManagerConfig.handle_adjustment` deltas
SRM_PERP, SRM_OPTION, SRM_BASE = "perpetual", "option", "base"  #: ``IStandardManager.AssetType``


def srm_check_perp_margin_requirements(mm_req: int, im_req: int) -> None:
    """``setPerpMarginRequirements``' bounds (wad): ``0 < mm ≤ im < 1`` else ``SRM_InvalidPerpMarginParams``."""
    if mm_req > im_req or mm_req == 0 or mm_req >= WAD or im_req >= WAD:
        raise SRMRevert("SRM_InvalidPerpMarginParams", f"need 0 < mm <= im < 1e18, got mm={mm_req}, im={im_req}")


def srm_check_base_margin_params(margin_factor: int, im_scale: int) -> None:
    """``setBaseAssetMarginFactor``' bounds (wad): both ``≤ 1`` else ``SRM_InvalidBaseDiscountFactor``."""
    if margin_factor > WAD or im_scale > WAD:
        raise SRMRevert("SRM_InvalidBaseDiscountFactor", "margin factor and IM scale must be <= 1e18")


_OPTION_WAD_NAMES = ("im_base", "im_floor", "mm_base", "mm_put_base", "mm_put_mark", "unpaired_im_scale", "unpaired_mm_scale",
                     "put_im_over_mm")  # OptionMarginParams' order: maxSpotReq … MMPutMtMReq, unpaired IM/MM, mmOffsetScale


def srm_check_option_margin_params(max_spot_req: int, min_spot_req: int, mm_call_spot_req: int, mm_put_spot_req: int,
                                   mm_put_mtm_req: int, unpaired_im_scale: int, unpaired_mm_scale: int, mm_offset_scale: int) -> None:
    """``setOptionMarginParams``' bounds (wad, struct order): spot requirements ≤ 1.2, maintenance rates ≤ 1,
    unpaired scales and ``mmOffsetScale`` in [1, 3], else ``SRM_InvalidOptionMarginParams``."""
    if (max_spot_req > 12 * WAD // 10 or min_spot_req > 12 * WAD // 10 or mm_call_spot_req > WAD or mm_put_spot_req > WAD
            or mm_put_mtm_req > WAD or any(not WAD <= s <= 3 * WAD for s in (unpaired_mm_scale, unpaired_im_scale, mm_offset_scale))):
        raise SRMRevert("SRM_InvalidOptionMarginParams")


def srm_check_oracle_contingency_params(perp_threshold: int, option_threshold: int, base_threshold: int, oc_factor: int) -> None:
    """``setOracleContingencyParams``' bounds (wad): all four ``≤ 1`` else ``SRM_InvalidOracleContingencyParams``."""
    if max(perp_threshold, option_threshold, base_threshold, oc_factor) > WAD:
        raise SRMRevert("SRM_InvalidOracleContingencyParams", "thresholds and factor must be <= 1e18")


def srm_check_depeg_params(threshold: int, depeg_factor: int) -> None:
    """``setDepegParameters``' bounds (wad): ``threshold ≤ 1``, ``depegFactor ≤ 3`` else ``SRM_InvalidDepegParams``."""
    if threshold > WAD or depeg_factor > 3 * WAD:
        raise SRMRevert("SRM_InvalidDepegParams", "need threshold <= 1e18 and depeg factor <= 3e18")


def srm_oi_fee(delta: int, price: int, fee_rate: int, oi_increased: bool) -> int:
    """``BasePortfolioViewer.getAssetOIFee``: ``|delta|·price·rate`` (two ``multiplyDecimal``) if the trade raised the
    open interest of the sub-id, else 0 (``price``: the expiry's forward for options, the perp price for perps)."""
    return wmul(wmul(abs(delta), price), fee_rate) if oi_increased else 0


def bm_oi_fee_charged(fee: int, has_recipient: bool, min_oi_fee: int) -> int:
    """``BaseManager._payFee``: the cash an account pays for its trade's OI ``fee`` — nothing when the fee is 0 or no
    fee recipient is set, else ``max(fee, minOIFee)`` (v2-core ``src/risk-managers/BaseManager.sol::_payFee`` @7736900)."""
    if fee == 0 or not has_recipient:
        return 0
    return max(fee, min_oi_fee)


def bm_settled_cash(values) -> int:
    """``BaseManager._settleAccountOptions``: the account's cash delta, ``Σ value`` over its option balances whose
    ``calcSettlementValue`` is ``(value, is_settled=True)``; unsettled ones are skipped (v2-core
    ``src/risk-managers/BaseManager.sol::_settleAccountOptions`` @7736900)."""
    return sum(v for v, settled in values if settled)


def srm_previous_assets_length(holdings: Mapping[tuple[str, int], int], deltas) -> int:
    """``BasePortfolioViewer.getPreviousAssetsLength``: how many assets the account held before ``deltas``
    (``(asset, delta[, sub_id])``), from its post-trade non-zero ``holdings`` keyed ``(asset, sub_id)``: a balance
    equal to its delta is new, a delta whose balance is gone closed one."""
    held = {k: v for k, v in holdings.items() if v != 0}
    removed = new = 0
    for d in deltas:
        asset, delta, sub_id = (*d, 0) if len(d) == 2 else d
        if delta == 0:
            continue
        if (asset, sub_id) in held:
            removed += held[(asset, sub_id)] == delta
        else:
            new += 1
    return len(held) + new - removed


def bm_valid_max_account_size(size: int) -> bool:
    """``BaseManager.setMaxAccountSize``' bound (both managers): ``8 ≤ size ≤ 500`` assets per account, else the
    setter reverts ``BM_InvalidMaxAccountSize`` (v2-core ``src/risk-managers/BaseManager.sol::setMaxAccountSize``
    @7736900)."""
    return 8 <= size <= 500


# ---------------------------------------------------------------------------------------- wrapped assets and BaseManager hooks
def _check_trade_id(trade_id: int) -> None:
    if isinstance(trade_id, bool) or not isinstance(trade_id, int) or trade_id <= 0:
        raise InvalidInput("trade_id", f"SubAccounts' trade ids start at 1, got {trade_id!r}")


class WrappedAssetRevert(InvalidInput):
    """A revert of ``WrappedERC20Asset.sol`` (or of its ``ManagerWhitelist``); ``error`` is the contract's custom error."""

    def __init__(self, error: str, message: str = ""):
        self.error = error
        super().__init__("wrapped asset", error + (f" ({message})" if message else ""))


def bm_asset_cap_exceeded(cap: int, pre_trade_position: int, post_trade_position: int) -> bool:
    """``BasePortfolioViewer._checkAssetCap``: a trade breaks an asset's per-manager cap only when it raised the
    manager's total position (``pre < post``) **and** the total ends above the cap (``post > cap``); a trade that
    lowers it passes even past the cap (v2-core ``src/risk-managers/BasePortfolioViewer.sol::_checkAssetCap``
    @7736900)."""
    return pre_trade_position < post_trade_position and post_trade_position > cap


class WrappedAsset:
    """The ledger of a ``WrappedERC20Asset`` (v2-core ``src/assets/WrappedERC20Asset.sol`` with
    ``utils/ManagerWhitelist.sol`` and ``utils/PositionTracking.sol`` @7736900) that the managers' asset-cap check reads:
    the whitelisted managers, each manager's cap ``totalPositionCap`` (0 until set), its total position
    ``totalPosition = Σ |balance|`` over the accounts it manages, and the total's snapshot taken at a trade's first
    adjustment (``totalPositionBeforeTrade``). Managers are keys (any hashable: the manager objects themselves).

    Not modelled: the ERC20 transfers and decimals conversion (an 18-decimal token: the amounts are the balances),
    ``onlyAccounts`` and owner-only access control. An EVM revert undoes the whole transaction: the caller (the
    ``SubAccounts`` harness) restores :attr:`total_position` and :attr:`snapshots` when a later hook of the same
    transaction reverts.
    """

    def __init__(self) -> None:
        self.whitelisted_managers: set = set()
        self.total_position_cap: dict = {}
        self.total_position: dict = {}
        self.snapshots: dict = {}  # (manager, trade id) -> total position before the trade

    def set_whitelist_manager(self, manager, whitelisted: bool) -> None:
        """``ManagerWhitelist.setWhitelistManager``."""
        (self.whitelisted_managers.add if whitelisted else self.whitelisted_managers.discard)(manager)

    def set_total_position_cap(self, manager, cap: int) -> None:
        """``PositionTracking.setTotalPositionCap`` (a uint: negative caps are refused)."""
        if cap < 0:
            raise InvalidInput("cap", f"must be >= 0 (uint), got {cap}")
        self.total_position_cap[manager] = cap

    def handle_adjustment(self, manager, trade_id: int, pre_balance: int, amount: int, sub_id: int = 0) -> int:
        """``WrappedERC20Asset.handleAdjustment``: the account's new balance ``pre + amount``. Reverts
        ``WERC_InvalidSubId`` (sub id ≠ 0), ``MW_UnknownManager`` (manager not whitelisted) and, for a non-zero
        amount, ``WERC_CannotBeNegative``; before the last check it snapshots the manager's total position for
        ``trade_id`` (once per trade) and moves it by ``|pre + amount| − |pre|`` (no cap check here: the manager
        makes it, :meth:`cap_exceeded`)."""
        _check_trade_id(trade_id)
        if sub_id != 0:
            raise WrappedAssetRevert("WERC_InvalidSubId", f"sub id {sub_id}")
        if manager not in self.whitelisted_managers:
            raise WrappedAssetRevert("MW_UnknownManager")
        post = pre_balance + amount
        if amount != 0 and post < 0:
            raise WrappedAssetRevert("WERC_CannotBeNegative", f"balance would be {post}")
        self.snapshots.setdefault((manager, trade_id), self.total_position.get(manager, 0))
        self.total_position[manager] = self.total_position.get(manager, 0) + abs(post) - abs(pre_balance)
        return post if amount != 0 else pre_balance

    def cap_exceeded(self, manager, trade_id: int) -> bool:
        """:func:`bm_asset_cap_exceeded` on the manager's cap, its snapshot for ``trade_id`` (0 if none was taken)
        and its current total position."""
        return bm_asset_cap_exceeded(self.total_position_cap.get(manager, 0), self.snapshots.get((manager, trade_id), 0),
                                     self.total_position.get(manager, 0))


class BaseManagerHooks:
    """The stateful part of ``BaseManager._preAdjustmentHooks`` shared by both managers (v2-core
    ``src/risk-managers/BaseManager.sol`` @7736900): the manager-data dispatch (``_processManagerData``: a
    whitelist of callees, ``setWhitelistedCallee``, and the last trade id whose data was processed) and the asset
    caps (``viewer.checkAllAssetCaps``). A subclass provides ``_revert(error, message)``."""

    def _init_base_hooks(self) -> None:
        self.whitelisted_callees: set[str] = set()
        self.last_oracle_update_trade_id = 0

    def _revert(self, error: str, message: str = "") -> InvalidInput:
        """The manager's revert (its exception, to raise) carrying ``error``."""
        raise NotImplementedError

    def set_whitelisted_callee(self, callee: str, whitelisted: bool) -> None:
        """``setWhitelistedCallee``: allow (or forbid) a receiver of manager data."""
        (self.whitelisted_callees.add if whitelisted else self.whitelisted_callees.discard)(callee)

    def process_manager_data(self, trade_id: int, manager_data, receivers: Mapping | None = None) -> None:
        """``_processManagerData``: ``manager_data`` is the decoded ``ManagerData[]``, ``(receiver, data)`` pairs.
        Nothing happens for empty data or a trade whose data was already processed (``lastOracleUpdateTradeId``: the
        first account's hook of a transfer does it, the others skip); else a receiver outside the whitelist reverts
        ``BM_UnauthorizedCall`` and each receiver's ``acceptData(data)`` — ``receivers[receiver](data)`` — runs in
        order. The whitelist is checked for every receiver before any is called (a revert undoes the earlier calls)."""
        manager_data = list(manager_data)
        if not manager_data:
            return
        _check_trade_id(trade_id)
        if self.last_oracle_update_trade_id == trade_id:
            return
        for receiver, _data in manager_data:
            if receiver not in self.whitelisted_callees:
                raise self._revert("BM_UnauthorizedCall", f"receiver {receiver!r} is not a whitelisted callee")
        receivers = receivers or {}
        missing = [r for r, _ in manager_data if r not in receivers]
        if missing:
            raise InvalidInput("receivers", f"no acceptData for {missing}")
        self.last_oracle_update_trade_id = trade_id
        for receiver, data in manager_data:
            receivers[receiver](data)

    def check_asset_caps(self, trade_id: int, holdings: Mapping[tuple[str, int], int], assets: Mapping[str, WrappedAsset]) -> None:
        """``BasePortfolioViewer.checkAllAssetCaps(this manager, account, tradeId)``: every asset the account holds
        (non-zero ``holdings`` keyed ``(asset, sub_id)``) that has a ledger in ``assets`` must pass
        :meth:`WrappedAsset.cap_exceeded`, else ``BM_AssetCapExceeded`` (cash is never checked; assets without a
        ledger here are not checked)."""
        _check_trade_id(trade_id)
        for name in dict.fromkeys(a for (a, _sid), v in holdings.items() if v != 0):
            ledger = assets.get(name)
            if ledger is not None and ledger.cap_exceeded(self, trade_id):
                raise self._revert("BM_AssetCapExceeded", f"{name!r}: total position {ledger.total_position.get(self, 0)} "
                                   f"> cap {ledger.total_position_cap.get(self, 0)}")

    def pre_adjustment_hooks(self, trade_id: int, holdings: Mapping[tuple[str, int], int] | None, manager_data=(),
                             receivers: Mapping | None = None, assets: Mapping[str, WrappedAsset] | None = None) -> None:
        """``_preAdjustmentHooks`` in order (the pause and the OI fee are not part of it here): the manager data,
        then the asset caps (when ``assets`` are given, which needs the post-trade ``holdings``)."""
        self.process_manager_data(trade_id, manager_data, receivers)
        if assets:
            if holdings is None:
                raise InvalidInput("holdings", "the asset-cap check needs the post-trade holdings")
            self.check_asset_caps(trade_id, holdings, assets)


def _wad_fraction(v: int) -> Fraction:
    return Fraction(v, WAD)


class StandardManagerConfig(BaseManagerHooks):
    """The standard manager's configuration and account hooks around :func:`srm_margin` (``StandardManager.sol``):
    markets (``createMarket``, ``SRM_MarketNotCreated``), the asset whitelist (``whitelistAsset``: one asset per market
    and type, a re-whitelisted slot drops its predecessor), the validated setters, oracles and stable feed (opaque
    names), OI fees (``_chargeAllOIFee`` / ``_payFee``), the trade check (``handleAdjustment`` / ``_assessRisk``, after
    :class:`BaseManagerHooks`' manager data and asset caps) and perp / option settlement (``settlePerpsWithIndex``,
    ``settleOptions``).

    Assets are names (``str``); a market's :class:`SRMParams` start at ``default_params`` (the contract's storage
    starts at zero: pass the parameters a test's ``setUp`` leaves). Owner-only access control is not modelled.
    """

    def __init__(self, default_params: SRMParams = SRM) -> None:
        self.default_params = default_params
        self.last_market_id = 0
        self.market_names: dict[int, str] = {}
        self.params: dict[int, SRMParams] = {}
        self.asset_map: dict[tuple[int, str], str] = {}
        self._details: dict[str, tuple[int, str]] = {}
        self.feeds: dict[int, tuple[str, str, str]] = {}
        self.stable_feed: str | None = None
        self.borrowing_enabled = False
        self.fee_recipient: str | None = None
        self.min_oi_fee = 0
        self.oi_fee_rate: dict[str, int] = {}
        self.fee_bypassed: set[str] = set()
        self.max_account_size = 128  # BaseManager.maxAccountSize's initial value
        self._init_base_hooks()

    def _revert(self, error: str, message: str = "") -> SRMRevert:
        return SRMRevert(error, message)

    # -- markets and assets
    def create_market(self, name: str) -> int:
        self.last_market_id += 1
        self.market_names[self.last_market_id] = name
        self.params[self.last_market_id] = self.default_params
        return self.last_market_id

    def _check_market(self, market_id: int) -> None:
        if not 1 <= market_id <= self.last_market_id:  # market 0 is never created (the contract checks only > last)
            raise SRMRevert("SRM_MarketNotCreated", f"market {market_id} (last created: {self.last_market_id})")

    def whitelist_asset(self, asset: str, market_id: int, asset_type: str) -> None:
        self._check_market(market_id)
        if asset_type not in (SRM_PERP, SRM_OPTION, SRM_BASE):
            raise InvalidInput("asset_type", f"must be one of {SRM_PERP}, {SRM_OPTION}, {SRM_BASE}; got {asset_type!r}")
        previous = self.asset_map.get((market_id, asset_type))
        if previous is not None:
            prev = self._details.pop(previous, None)
            if prev is not None:
                self.asset_map.pop(prev, None)
        # as the contract: an asset moved from another slot leaves that slot's assetMap entry in place
        self._details[asset] = (market_id, asset_type)
        self.asset_map[(market_id, asset_type)] = asset

    def asset_details(self, asset: str) -> tuple[bool, int, str | None]:
        """``assetDetails``: ``(isWhitelisted, marketId, assetType)`` (``(False, 0, None)`` if unknown)."""
        d = self._details.get(asset)
        return (True, *d) if d else (False, 0, None)

    def _whitelisted(self, asset: str) -> tuple[int, str]:
        d = self._details.get(asset)
        if d is None:
            raise SRMRevert("SRM_UnsupportedAsset", f"asset {asset!r} is not whitelisted")
        return d

    # -- setters (each checks the market, then its bounds)
    def set_perp_margin_requirements(self, market_id: int, mm_req: int, im_req: int) -> None:
        self._check_market(market_id)
        srm_check_perp_margin_requirements(mm_req, im_req)
        self.params[market_id] = dataclasses.replace(self.params[market_id], perp_mm_req=_wad_fraction(mm_req),
                                                     perp_im_req=_wad_fraction(im_req))

    def set_base_asset_margin_factor(self, market_id: int, margin_factor: int, im_scale: int) -> None:
        self._check_market(market_id)
        srm_check_base_margin_params(margin_factor, im_scale)
        self.params[market_id] = dataclasses.replace(self.params[market_id], base_margin_factor=_wad_fraction(margin_factor),
                                                     base_im_scale=_wad_fraction(im_scale))

    def set_option_margin_params(self, market_id: int, *params: int) -> None:
        """``OptionMarginParams`` in struct order (wad): maxSpotReq, minSpotReq, mmCallSpotReq, mmPutSpotReq,
        MMPutMtMReq, unpairedIMScale, unpairedMMScale, mmOffsetScale."""
        self._check_market(market_id)
        if len(params) != 8:
            raise InvalidInput("params", f"OptionMarginParams has 8 fields, got {len(params)}")
        srm_check_option_margin_params(*params)
        values = {}
        for n, v in zip(_OPTION_WAD_NAMES, params, strict=True):
            f = float(_wad_fraction(v))  # StandardOptionParams holds floats: refuse a value they cannot carry exactly
            if to_wad(f) != v:
                raise InvalidInput(n, f"{v} wei has no exact float decimal form; the option parameters are floats")
            values[n] = f
        # StandardOptionParams also refuses minSpotReq > maxSpotReq and mmCallSpotReq > minSpotReq (stricter than the contract)
        opt = dataclasses.replace(self.params[market_id].option, **values)
        self.params[market_id] = dataclasses.replace(self.params[market_id], option=opt)

    def option_margin_params(self, market_id: int) -> tuple[int, ...]:
        """``optionMarginParams(marketId)`` (wad, struct order)."""
        return tuple(self.params[market_id].wad("option." + n) for n in _OPTION_WAD_NAMES)

    def set_oracle_contingency_params(self, market_id: int, perp_threshold: int, option_threshold: int,
                                      base_threshold: int, oc_factor: int) -> None:
        self._check_market(market_id)
        srm_check_oracle_contingency_params(perp_threshold, option_threshold, base_threshold, oc_factor)
        self.params[market_id] = dataclasses.replace(
            self.params[market_id], oc_perp_threshold=_wad_fraction(perp_threshold), oc_option_threshold=_wad_fraction(option_threshold),
            oc_base_threshold=_wad_fraction(base_threshold), oc_factor=_wad_fraction(oc_factor))

    def set_depeg_parameters(self, threshold: int, depeg_factor: int) -> None:
        """Manager-wide in the contract: applied to every market's :class:`SRMParams` (and to markets created later)."""
        srm_check_depeg_params(threshold, depeg_factor)
        kw = {"depeg_threshold": _wad_fraction(threshold), "depeg_factor": _wad_fraction(depeg_factor)}
        self.default_params = dataclasses.replace(self.default_params, **kw)
        for m in self.params:
            self.params[m] = dataclasses.replace(self.params[m], **kw)

    def depeg_params(self) -> tuple[int, int]:
        return self.default_params.wad("depeg_threshold"), self.default_params.wad("depeg_factor")

    def oracle_contingency_params(self, market_id: int) -> tuple[int, int, int, int]:
        p = self.params[market_id]
        return tuple(p.wad(n) for n in ("oc_perp_threshold", "oc_option_threshold", "oc_base_threshold", "oc_factor"))

    def perp_margin_requirements(self, market_id: int) -> tuple[int, int]:
        return self.params[market_id].wad("perp_mm_req"), self.params[market_id].wad("perp_im_req")

    def set_oracles_for_market(self, market_id: int, spot_feed: str, forward_feed: str, vol_feed: str) -> None:
        self._check_market(market_id)
        self.feeds[market_id] = (spot_feed, forward_feed, vol_feed)

    def get_market_feeds(self, market_id: int) -> tuple[str, str, str] | tuple[None, None, None]:
        return self.feeds.get(market_id, (None, None, None))

    def set_stable_feed(self, feed: str) -> None:
        self.stable_feed = feed

    def set_max_account_size(self, size: int) -> None:
        """``BaseManager.setMaxAccountSize``: :func:`bm_valid_max_account_size` else ``BM_InvalidMaxAccountSize``."""
        if not bm_valid_max_account_size(size):
            raise SRMRevert("BM_InvalidMaxAccountSize", f"must be within [8, 500], got {size}")
        self.max_account_size = size

    # -- fees, trade checks and settlement
    def oi_fee(self, caller: str, trades: list[tuple[str, int, int, bool]]) -> int:
        """``_chargeAllOIFee`` + ``_payFee``: the cash the trader pays for ``(asset, delta, price, oi_increased)`` legs
        (0 for a fee-bypassed caller or without a fee recipient; else at least ``minOIFee``)."""
        if caller in self.fee_bypassed:
            return 0
        fee = 0
        for asset, delta, price, increased in trades:
            d = self._details.get(asset)
            if d is not None and d[1] in (SRM_PERP, SRM_OPTION):
                fee += srm_oi_fee(delta, price, self.oi_fee_rate.get(asset, 0), increased)
        return bm_oi_fee_charged(fee, self.fee_recipient is not None, self.min_oi_fee)

    def handle_adjustment(self, deltas: list[tuple], balances: Mapping[str, int], cash: int,
                          markets, *, trusted: bool = False, stable_price: int = WAD,
                          holdings: Mapping[tuple[str, int], int] | None = None, trade_id: int = 0, manager_data=(),
                          receivers: Mapping | None = None, assets: Mapping[str, WrappedAsset] | None = None) -> bool:
        """``handleAdjustment`` after a transfer: ``deltas`` are ``(asset, delta[, sub_id])`` (:data:`SRM_CASH` for cash),
        ``balances`` the post-trade perp balances, ``cash`` and ``markets`` the post-trade portfolio (perp PnL already
        settled into ``cash``; ``markets`` may be a zero-argument callable, evaluated after the manager data, as the
        contract reads its feeds only then); ``holdings`` (optional) every post-trade balance keyed ``(asset, sub_id)``,
        for the account-size check. First :meth:`BaseManagerHooks.pre_adjustment_hooks` (``trade_id``, ``manager_data``
        and its ``receivers``, the ``assets``' caps: ``BM_UnauthorizedCall``, ``BM_AssetCapExceeded``). Returns whether
        the risk check ran; raises :class:`SRMRevert` (``SRM_UnsupportedAsset``, ``SRM_TooManyAssets``,
        ``SRM_NoNegativeCash``, ``SRM_PortfolioBelowMargin``). A trade that only reduces perps, adds cash or buys options
        skips the check; a trusted risk assessor is held to maintenance, anyone else to initial margin. An account above
        ``max_account_size`` assets may trade only if it does not grow."""
        self.pre_adjustment_hooks(trade_id, holdings, manager_data, receivers, assets)
        risk_adding, positive_cash = False, True
        for asset, delta, *_ in deltas:
            if asset == SRM_CASH:
                if delta < 0:
                    risk_adding, positive_cash = True, False
                continue
            _market, kind = self._whitelisted(asset)
            if kind == SRM_PERP:
                pos = balances.get(asset, 0)
                if pos != 0 and delta * pos > 0:
                    risk_adding = True
            elif delta < 0:
                risk_adding = True
        if holdings is not None:
            n = sum(1 for v in holdings.values() if v != 0)
            if n > self.max_account_size and srm_previous_assets_length(holdings, deltas) < n:
                raise SRMRevert("SRM_TooManyAssets", f"{n} assets > max account size {self.max_account_size}")
        if not risk_adding:
            return False
        if not self.borrowing_enabled and cash < 0 and not positive_cash:
            raise SRMRevert("SRM_NoNegativeCash", f"cash would be {cash}")
        if callable(markets):
            markets = markets()
        margin, _ = srm_margin(markets, cash, initial=not trusted, stable_price=stable_price)
        if margin < 0:
            raise SRMRevert("SRM_PortfolioBelowMargin", f"{'maintenance' if trusted else 'initial'} margin {margin}")
        return True

    def settle_perps_with_index(self, balances: Mapping[str, int], pnl_and_funding: Mapping[str, tuple[int, int]]) -> int:
        """``settlePerpsWithIndex``: the cash delta (``pnl + funding``) of each market's perp the account holds;
        markets without a perp and zero balances are skipped. The cash may go negative (no check here)."""
        delta = 0
        for market_id in range(1, self.last_market_id + 1):
            perp = self.asset_map.get((market_id, SRM_PERP))
            if perp is None or balances.get(perp, 0) == 0:
                continue
            pnl, funding = pnl_and_funding.get(perp, (0, 0))
            delta += pnl + funding
        return delta

    def settle_options(self, option: str, values: list[tuple[int, bool]]) -> int:
        """``settleOptions``: the cash delta, the sum of ``calcSettlementValue`` over the account's settled sub-ids
        (``(value, is_settled)``); ``SRM_UnsupportedAsset`` for an asset that is not whitelisted."""
        self._whitelisted(option)
        return bm_settled_cash(values)
