"""Collateral valuation: haircuts, liquidity and concentration, liabilities, LSTs and stablecoin pegs.

This module owns how much a multi-asset holding counts for as collateral, in quote base units:

* :class:`AssetParams`       per-asset static haircut, liability add-on, square-root liquidity
                             coefficient, concentration cap, and (for LSTs / stablecoins) a
                             :class:`PegParams`;
* :class:`CollateralParams`  the quote asset and the per-asset parameters;
* :func:`collateral_value`   the value of one account (a mapping → ``int``) or of many accounts at
                             once (an ``(accounts × assets)`` integer matrix → ``int64`` array);
* :func:`holding_breakdown`  every component of one holding's haircut, for reports and tests;
* :class:`DynamicHaircutParams`, :func:`dynamic_haircut_target`, :func:`step_dynamic_haircut`
                             the volatility- and liquidity-driven haircut with a bounded rate of
                             change (anti-procyclical), and :func:`realised_vol_ppm`.

It does not compute margin requirements (:mod:`ramparts.margin.schedule`) or the correlation
add-on (:mod:`ramparts.margin.correlation`).

Units
-----
* Holdings are ``int`` base units of each asset (``amount × 10**decimals``); a negative holding is
  a **borrow** (a liability).
* A price is an ``int`` number of **quote base units per whole unit** of the asset (ETH at
  3,000.00 USDC is ``3_000_000_000``); the quote asset's own price is ``10**quote_decimals``
  (implicit). The market value of ``a`` base units is ``a · price / 10**decimals``.
* Haircuts, add-ons and thresholds are ``int`` ppm (``10**6`` = 100 %).
* An LST exchange rate is an ``int`` in units of ``10**-18`` (:data:`RATE_SCALE`): whole base-asset
  units per whole LST unit (wstETH → ETH ≈ ``1.17e18``).
* Volatility is annualised, in ppm (``800_000`` = 80 %/yr); a year is :data:`YEAR_S` seconds.

Valuation of one holding (``amount > 0``)
-----------------------------------------
``P``  the asset's price, or for an asset with a :class:`PegParams` its *fundamental* price
``rate × base_price`` (the base asset's price, or the quote's for a stablecoin);
``mv = ⌊amount · P / 10^dec⌋``; the haircut ``h`` (ppm, capped at 100 %) is the sum of

* ``base``      ``max(haircut_ppm, dynamic haircut)``;
* ``liquidity`` ``min(impact_cap_ppm, ⌈impact_ppm · sqrt(mv / depth)⌉)`` (square-root impact of
  unwinding the holding into a book absorbing ``depth``);
* ``protocol``  the peg's ``protocol_addon_ppm`` (smart-contract / slashing risk);
* ``depeg``     ``⌈depeg_factor · max(0, depeg_threshold − ratio)⌉`` with
  ``ratio = ⌊10^6 · market_price / P⌋``: it grows as the market trades below the peg;

and, with a ``concentration_cap`` (quote units of ``mv``), the part of ``mv`` above the cap counts
at ``max(h, excess_haircut_ppm)`` (``10^6`` = not at all)::

    value = ⌊(min(mv, cap) · (10^6 − h) + (mv − min(mv, cap)) · (10^6 − max(h, excess))) / 10^6⌋

A borrow of ``b`` base units is a liability ``⌈b · P_L · (10^6 + liability_addon_ppm) / (10^6 · 10^dec)⌉``
with ``P_L`` the price, or ``max(market, fundamental)`` for a pegged asset. The account's collateral
value is the sum of the values minus the sum of the liabilities (it may be negative).

Rounding always favours solvency: every value rounds **down** and every haircut and liability
rounds **up**, all in exact Python-int arithmetic (the products exceed int64, so the account-matrix
path runs numpy *object* arrays of Python ints: vectorised in form, exact in value).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM
from ramparts.validation import MAX_PRICE as VALIDATION_MAX_PRICE
from ramparts.validation import name, ppm, price, strict_int

#: Scale of LST exchange rates (``10**18`` = 1 base unit per LST unit).
RATE_SCALE = 10**18
#: Seconds in a year for annualised volatility (365 days).
YEAR_S = 365 * 86_400
#: Largest price (quote base units per whole unit) accepted.
MAX_PRICE = VALIDATION_MAX_PRICE
#: Largest |holding| in base units accepted (10^36: 10^18 whole units of an 18-decimals token).
MAX_AMOUNT = 10**36

_INT64_MAX = 2**63 - 1
_CTX = Context(prec=34, rounding=ROUND_CEILING)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


_int, _ppm, _price, _name = strict_int, ppm, price, name  # the shared validators (ramparts.validation)


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def ceil_isqrt(n: int) -> int:
    """``⌈√n⌉`` for an int ``n ≥ 0``, exact."""
    r = math.isqrt(n)
    return r if r * r == n else r + 1


def _ceil_sqrt_ratio(num: int, den: int) -> int:
    """``⌈√(num / den)⌉`` exactly (``num ≥ 0``, ``den > 0``): the least ``n`` with ``n² · den ≥ num``."""
    return ceil_isqrt(_ceil_div(num, den))


def _keys(d: Any, field: str, allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    if not isinstance(d, Mapping):
        raise InvalidInput(field, f"expected an object, got {type(d).__name__}")
    extra = set(d) - set(allowed)
    if extra:
        raise InvalidInput(field, f"unknown keys {sorted(map(str, extra))}")
    for k in required:
        if k not in d:
            raise InvalidInput(f"{field}.{k}", "missing")


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PegParams:
    """Valuation of a liquid-staking token or a stablecoin through its peg.

    Parameters
    ----------
    base : str or None
        The asset it is redeemable for (``"ETH"`` for stETH), or ``None`` for the quote asset (a
        stablecoin pegged 1:1 or via an exchange rate to the quote).
    protocol_addon_ppm : int
        Flat haircut for protocol risk (contract, slashing, withdrawal queue).
    depeg_threshold_ppm : int
        ``market / fundamental`` ratio (ppm) below which the depeg haircut starts (``≤ 1e6``).
    depeg_factor_ppm : int
        Haircut per unit of ratio shortfall, ppm (``1_000_000``: a 2 % discount costs 2 %;
        ``2_000_000``: 4 %). Derive v2's stablecoin depeg parameters are 0.98 / 1.2.
    """

    base: str | None = None
    protocol_addon_ppm: int = 0
    depeg_threshold_ppm: int = PPM
    depeg_factor_ppm: int = PPM

    def __post_init__(self) -> None:
        if self.base is not None:
            object.__setattr__(self, "base", _name(self.base, "peg.base"))
        object.__setattr__(self, "protocol_addon_ppm", _ppm(self.protocol_addon_ppm, "peg.protocol_addon_ppm"))
        object.__setattr__(self, "depeg_threshold_ppm", _ppm(self.depeg_threshold_ppm, "peg.depeg_threshold_ppm"))
        object.__setattr__(self, "depeg_factor_ppm", _ppm(self.depeg_factor_ppm, "peg.depeg_factor_ppm", hi=100 * PPM))

    def depeg_haircut_ppm(self, ratio_ppm: int) -> int:
        """``⌈factor · max(0, threshold − ratio) / 10^6⌉``, capped at 100 % (ppm).

        Examples
        --------
        >>> PegParams("ETH", depeg_threshold_ppm=990_000, depeg_factor_ppm=2_000_000).depeg_haircut_ppm(950_000)
        80000
        """
        r = _int(ratio_ppm, "ratio_ppm", lo=0)
        return min(PPM, _ceil_div(self.depeg_factor_ppm * max(0, self.depeg_threshold_ppm - r), PPM))

    def to_dict(self) -> dict:
        return {
            "base": self.base,
            "protocol_addon_ppm": self.protocol_addon_ppm,
            "depeg_threshold_ppm": self.depeg_threshold_ppm,
            "depeg_factor_ppm": self.depeg_factor_ppm,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> PegParams:
        keys = tuple(cls.__dataclass_fields__)
        _keys(d, "peg", keys)
        return cls(**{k: d[k] for k in keys if k in d})


@dataclass(frozen=True, slots=True)
class AssetParams:
    """Collateral parameters of one asset (see the module docstring for the formulas).

    Parameters
    ----------
    decimals : int
        Base units per whole unit are ``10**decimals`` (0 … 36).
    haircut_ppm : int
        Static haircut (the floor of the base haircut).
    liability_addon_ppm : int
        A borrow counts at ``price × (1 + addon)``.
    depth : int or None
        Quote base units the market absorbs at ``impact_ppm`` of impact; ``None`` = no liquidity term.
    impact_ppm : int
        Square-root impact coefficient (ppm of haircut at ``mv = depth``).
    impact_cap_ppm : int
        Cap on the liquidity term.
    concentration_cap : int or None
        Market value (quote base units) counted at the normal haircut; ``None`` = no cap.
    excess_haircut_ppm : int
        Haircut of the value above the cap (``10^6``: counts zero).
    peg : PegParams or None
        Value through an exchange rate / peg with depeg and protocol haircuts.
    """

    decimals: int
    haircut_ppm: int = 0
    liability_addon_ppm: int = 0
    depth: int | None = None
    impact_ppm: int = 0
    impact_cap_ppm: int = PPM
    concentration_cap: int | None = None
    excess_haircut_ppm: int = PPM
    peg: PegParams | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "decimals", _int(self.decimals, "asset.decimals", lo=0, hi=36))
        object.__setattr__(self, "haircut_ppm", _ppm(self.haircut_ppm, "asset.haircut_ppm"))
        object.__setattr__(self, "liability_addon_ppm", _ppm(self.liability_addon_ppm, "asset.liability_addon_ppm", hi=100 * PPM))
        if self.depth is not None:
            object.__setattr__(self, "depth", _int(self.depth, "asset.depth", lo=1))
        object.__setattr__(self, "impact_ppm", _ppm(self.impact_ppm, "asset.impact_ppm", hi=100 * PPM))
        object.__setattr__(self, "impact_cap_ppm", _ppm(self.impact_cap_ppm, "asset.impact_cap_ppm"))
        if self.concentration_cap is not None:
            object.__setattr__(self, "concentration_cap", _int(self.concentration_cap, "asset.concentration_cap", lo=0))
        object.__setattr__(self, "excess_haircut_ppm", _ppm(self.excess_haircut_ppm, "asset.excess_haircut_ppm"))
        if self.peg is not None and not isinstance(self.peg, PegParams):
            raise InvalidInput("asset.peg", f"expected PegParams, got {type(self.peg).__name__}")

    def to_dict(self) -> dict:
        return {
            "decimals": self.decimals,
            "haircut_ppm": self.haircut_ppm,
            "liability_addon_ppm": self.liability_addon_ppm,
            "depth": self.depth,
            "impact_ppm": self.impact_ppm,
            "impact_cap_ppm": self.impact_cap_ppm,
            "concentration_cap": self.concentration_cap,
            "excess_haircut_ppm": self.excess_haircut_ppm,
            "peg": None if self.peg is None else self.peg.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> AssetParams:
        keys = tuple(cls.__dataclass_fields__)
        _keys(d, "asset", keys, ("decimals",))
        kw = {k: d[k] for k in keys if k in d}
        if kw.get("peg") is not None:
            kw["peg"] = PegParams.from_dict(kw["peg"])
        return cls(**kw)


@dataclass(frozen=True, slots=True)
class CollateralParams:
    """The quote (settlement) asset and the parameters of every collateral asset.

    ``assets`` must contain ``quote``; its price is implicit (``10**decimals``). A peg's base asset
    must be listed too, and may not itself be pegged.
    """

    quote: str
    assets: Mapping[str, AssetParams] = field(default_factory=dict)

    def __post_init__(self) -> None:
        q = _name(self.quote, "collateral.quote")
        if not isinstance(self.assets, Mapping):
            raise InvalidInput("collateral.assets", f"expected an object asset → AssetParams, got {type(self.assets).__name__}")
        assets = {}
        for a in sorted(self.assets):
            p = self.assets[a]
            if not isinstance(p, AssetParams):
                raise InvalidInput(f"collateral.assets.{a}", f"expected AssetParams, got {type(p).__name__}")
            assets[_name(a, "collateral.assets")] = p
        if q not in assets:
            raise InvalidInput("collateral.quote", f"the quote asset {q!r} must be listed in assets")
        for a, p in assets.items():
            if p.peg is None:
                continue
            if a == q:
                raise InvalidInput(f"collateral.assets.{a}.peg", "the quote asset cannot be pegged to itself")
            b = p.peg.base
            if b is not None:
                if b not in assets:
                    raise InvalidInput(f"collateral.assets.{a}.peg.base", f"unknown asset {b!r} (known: {', '.join(assets)})")
                if b == a or assets[b].peg is not None:
                    raise InvalidInput(f"collateral.assets.{a}.peg.base", f"{b!r} must be an unpegged asset other than {a!r}")
        object.__setattr__(self, "quote", q)
        object.__setattr__(self, "assets", assets)

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    @property
    def quote_price(self) -> int:
        """Price of the quote asset in its own base units per whole unit."""
        return 10 ** self.assets[self.quote].decimals

    def params(self, asset: str) -> AssetParams:
        if asset not in self.assets:
            raise InvalidInput("asset", f"unknown asset {asset!r} (known: {', '.join(self.assets)})")
        return self.assets[asset]

    def to_dict(self) -> dict:
        return {"quote": self.quote, "assets": {a: p.to_dict() for a, p in self.assets.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> CollateralParams:
        _keys(d, "collateral", ("quote", "assets"), ("quote", "assets"))
        if not isinstance(d["assets"], Mapping):
            raise InvalidInput("collateral.assets", "expected an object")
        return cls(d["quote"], {a: AssetParams.from_dict(p) for a, p in d["assets"].items()})


# ----------------------------------------------------------------------------------------------
# market inputs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Market:
    prices: dict[str, int]
    rates: dict[str, int]
    dynamic: dict[str, int]


def _market(params: CollateralParams, prices: Any, exchange_rates: Any, dynamic_haircuts: Any) -> _Market:
    if not isinstance(params, CollateralParams):
        raise InvalidInput("params", f"expected CollateralParams, got {type(params).__name__}")
    if not isinstance(prices, Mapping):
        raise InvalidInput("prices", f"expected an object asset → price, got {type(prices).__name__}")
    px = {}
    for a in prices:
        if a not in params.assets:
            raise InvalidInput("prices", f"unknown asset {a!r} (known: {', '.join(params.assets)})")
        px[a] = _price(prices[a], f"prices.{a}")
    if params.quote in px and px[params.quote] != params.quote_price:
        raise InvalidInput(f"prices.{params.quote}", f"the quote asset's price is {params.quote_price} by definition, got {px[params.quote]}")
    px[params.quote] = params.quote_price
    rates = {}
    if exchange_rates is not None:
        if not isinstance(exchange_rates, Mapping):
            raise InvalidInput("exchange_rates", f"expected an object, got {type(exchange_rates).__name__}")
        for a in exchange_rates:
            if a not in params.assets or params.assets[a].peg is None:
                raise InvalidInput("exchange_rates", f"{a!r} is not a pegged asset (pegged: {', '.join(k for k, p in params.assets.items() if p.peg) or 'none'})")
            rates[a] = _int(exchange_rates[a], f"exchange_rates.{a}", lo=1, hi=10**6 * RATE_SCALE)
    dyn = {}
    if dynamic_haircuts is not None:
        if not isinstance(dynamic_haircuts, Mapping):
            raise InvalidInput("dynamic_haircuts", f"expected an object, got {type(dynamic_haircuts).__name__}")
        for a in dynamic_haircuts:
            if a not in params.assets:
                raise InvalidInput("dynamic_haircuts", f"unknown asset {a!r} (known: {', '.join(params.assets)})")
            dyn[a] = _ppm(dynamic_haircuts[a], f"dynamic_haircuts.{a}")
    return _Market(px, rates, dyn)


@dataclass(frozen=True, slots=True)
class _Terms:
    """Everything about one asset that does not depend on the holding size."""

    num: int  # asset price = num / den (quote units per whole unit)
    den: int
    lnum: int  # liability price = lnum / den
    base_ppm: int
    protocol_ppm: int
    depeg_ppm: int
    ratio_ppm: int | None


def _terms(asset: str, params: CollateralParams, mkt: _Market) -> _Terms:
    ap = params.assets[asset]

    def price_of(a: str) -> int:
        if a not in mkt.prices:
            raise InvalidInput("prices", f"no price for {a!r}")
        return mkt.prices[a]

    base = max(ap.haircut_ppm, mkt.dynamic.get(asset, 0))
    if ap.peg is None:
        p = price_of(asset)
        return _Terms(p, 1, p, base, 0, 0, None)
    peg = ap.peg
    if peg.base is None:
        rate = mkt.rates.get(asset, RATE_SCALE)
        bp = params.quote_price
    else:
        if asset not in mkt.rates:
            raise InvalidInput("exchange_rates", f"no exchange rate for {asset!r} (to {peg.base})")
        rate, bp = mkt.rates[asset], price_of(peg.base)
    market = price_of(asset)
    fund = rate * bp  # fundamental price × RATE_SCALE
    ratio = market * RATE_SCALE * PPM // fund  # rounded down: a larger depeg haircut
    return _Terms(fund, RATE_SCALE, max(fund, market * RATE_SCALE), base, peg.protocol_addon_ppm, peg.depeg_haircut_ppm(ratio), ratio)


_ceil_isqrt_u = np.frompyfunc(ceil_isqrt, 1, 1)


def _column(amounts: np.ndarray, asset: str, params: CollateralParams, mkt: _Market) -> tuple[np.ndarray, ...]:
    """Per-account (value, liability, haircut, market value) of one asset column (object arrays)."""
    ap = params.assets[asset]
    zero = np.zeros(amounts.shape, dtype=object)
    if not amounts.any():
        return zero, zero, zero, zero
    t = _terms(asset, params, mkt)
    scale = 10**ap.decimals
    pos = np.where(amounts > 0, amounts, 0).astype(object)
    neg = np.where(amounts < 0, -amounts, 0).astype(object)
    mv = pos * t.num // (t.den * scale)
    h = t.base_ppm + t.protocol_ppm + t.depeg_ppm
    if ap.depth is not None and ap.impact_ppm:
        # ⌈impact · √(mv/depth)⌉ = ⌈√(⌈impact² · mv / depth⌉)⌉, capped
        liq = _ceil_isqrt_u(-((-(mv * ap.impact_ppm**2)) // ap.depth))
        liq = np.minimum(liq, ap.impact_cap_ppm)
        hc = np.minimum(liq + h, PPM)
    else:
        hc = np.full(amounts.shape, min(h, PPM), dtype=object)
    if ap.concentration_cap is None:
        value = mv * (PPM - hc) // PPM
    else:
        below = np.minimum(mv, ap.concentration_cap)
        above = mv - below
        value = (below * (PPM - hc) + above * (PPM - np.maximum(hc, ap.excess_haircut_ppm))) // PPM
    liab = -((-(neg * t.lnum * (PPM + ap.liability_addon_ppm))) // (t.den * scale * PPM))
    return value, liab, hc, mv


# ----------------------------------------------------------------------------------------------
# public valuation API
# ----------------------------------------------------------------------------------------------


def _amounts_matrix(holdings: Any, assets: Any, params: CollateralParams) -> tuple[np.ndarray, list[str]]:
    if assets is None:
        raise InvalidInput("assets", "an account matrix needs the list of its column assets")
    if isinstance(assets, str) or not isinstance(assets, Sequence):
        raise InvalidInput("assets", f"expected a list of asset names, got {assets!r}")
    names = list(assets)
    for a in names:
        if a not in params.assets:
            raise InvalidInput("assets", f"unknown asset {a!r} (known: {', '.join(params.assets)})")
    if len(set(names)) != len(names):
        raise InvalidInput("assets", f"duplicate assets in {names}")
    arr = np.asarray(holdings)
    if arr.dtype.kind not in "iuO" or arr.dtype == np.bool_:
        raise InvalidInput("holdings", f"expected integer base units, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidInput("holdings", f"expected an (accounts × assets) matrix, got shape {arr.shape}")
    if arr.shape[1] != len(names):
        raise InvalidInput("holdings", f"{arr.shape[1]} columns but {len(names)} assets: lengths must match")
    if arr.dtype.kind == "O":
        for i, v in enumerate(arr.ravel().tolist()):
            _int(v, f"holdings[{i}]", lo=-MAX_AMOUNT, hi=MAX_AMOUNT)
        return arr, names
    out = np.empty(arr.shape, dtype=object)
    out[...] = [[int(x) for x in row] for row in arr.tolist()]
    return out, names


def collateral_value(
    holdings: Any,
    prices: Mapping[str, int],
    params: CollateralParams,
    *,
    assets: Sequence[str] | None = None,
    exchange_rates: Mapping[str, int] | None = None,
    dynamic_haircuts: Mapping[str, int] | None = None,
) -> Any:
    """Haircut collateral value of one or many accounts, quote base units, rounded down.

    Parameters
    ----------
    holdings : mapping of str to int, or 2-D integer array
        One account's balances (asset → signed base units), or a matrix of shape
        ``(n_accounts, len(assets))``.
    prices : mapping of str to int
        Quote base units per whole unit of each asset (the quote's is implicit). Needed for every
        asset held (and a pegged asset's base); a pegged asset's entry is its *market* price.
    params : CollateralParams
    assets : sequence of str, optional
        Column names of a matrix ``holdings`` (required for a matrix, ignored for a mapping).
    exchange_rates : mapping of str to int, optional
        Pegged asset → rate to its base (× :data:`RATE_SCALE`); required for LSTs with a base,
        defaults to 1:1 for a stablecoin pegged to the quote.
    dynamic_haircuts : mapping of str to int, optional
        Current dynamic haircut (ppm) per asset, e.g. from :func:`step_dynamic_haircut`; the base
        haircut is the larger of it and the static one.

    Returns
    -------
    int or numpy.ndarray of int64
        ``Σ values − Σ liabilities``; an int for a mapping, one per account for a matrix.

    Raises
    ------
    InvalidInput
        Unknown assets, missing/non-positive/NaN prices, non-integer amounts, mismatched lengths,
        an overflowing int64 result (matrix path).

    Examples
    --------
    >>> params = CollateralParams("USDC", {"USDC": AssetParams(6), "ETH": AssetParams(18, haircut_ppm=100_000)})
    >>> collateral_value({"USDC": 5_000_000, "ETH": 10**18}, {"ETH": 3_000_000_000}, params)   # 5 + 0.9 · 3000
    2705000000
    """
    mkt = _market(params, prices, exchange_rates, dynamic_haircuts)
    if isinstance(holdings, Mapping):
        total = 0
        for a in sorted(holdings):
            if a not in params.assets:
                raise InvalidInput("holdings", f"unknown asset {a!r} (known: {', '.join(params.assets)})")
            amt = _int(holdings[a], f"holdings.{a}", lo=-MAX_AMOUNT, hi=MAX_AMOUNT)
            col = np.empty(1, dtype=object)
            col[0] = amt
            value, liab, _, _ = _column(col, a, params, mkt)
            total += int(value[0]) - int(liab[0])
        return total
    mat, names = _amounts_matrix(holdings, assets, params)
    total = np.zeros(mat.shape[0], dtype=object)
    for j, a in enumerate(names):
        value, liab, _, _ = _column(mat[:, j], a, params, mkt)
        total = total + value - liab
    if total.size and (max(total) > _INT64_MAX or min(total) < -_INT64_MAX):
        raise InvalidInput("holdings", "a collateral value overflows int64")
    return total.astype(np.int64)


@dataclass(frozen=True, slots=True)
class HoldingBreakdown:
    """The components of one holding's valuation (quote base units, ppm).

    ``market_value`` is ``mv`` (0 for a borrow), ``haircut_ppm`` the total haircut of the value
    below the concentration cap, ``liquidity_ppm`` the size-dependent part, ``ratio_ppm`` the
    market / fundamental ratio of a pegged asset (``None`` otherwise), ``value`` the haircut value
    and ``liability`` the borrow's liability.
    """

    market_value: int
    base_ppm: int
    liquidity_ppm: int
    protocol_ppm: int
    depeg_ppm: int
    ratio_ppm: int | None
    haircut_ppm: int
    value: int
    liability: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def holding_breakdown(
    asset: str,
    amount: int,
    prices: Mapping[str, int],
    params: CollateralParams,
    *,
    exchange_rates: Mapping[str, int] | None = None,
    dynamic_haircuts: Mapping[str, int] | None = None,
) -> HoldingBreakdown:
    """Every component of the valuation of ``amount`` base units of ``asset`` (see :func:`collateral_value`).

    Examples
    --------
    >>> params = CollateralParams("USDC", {"USDC": AssetParams(6), "SOL": AssetParams(9, haircut_ppm=50_000,
    ...                                    depth=1_000_000_000_000, impact_ppm=100_000, impact_cap_ppm=300_000)})
    >>> b = holding_breakdown("SOL", 25_000 * 10**9, {"SOL": 160_000_000}, params)   # mv = 4M USDC = 4 × depth
    >>> b.liquidity_ppm, b.haircut_ppm, b.value
    (200000, 250000, 3000000000000)
    """
    mkt = _market(params, prices, exchange_rates, dynamic_haircuts)
    params.params(asset)
    amt = _int(amount, "amount", lo=-MAX_AMOUNT, hi=MAX_AMOUNT)
    t = _terms(asset, params, mkt)
    col = np.empty(1, dtype=object)
    col[0] = amt
    value, liab, hc, mv = _column(col, asset, params, mkt)
    fixed = min(PPM, t.base_ppm + t.protocol_ppm + t.depeg_ppm)
    return HoldingBreakdown(
        market_value=int(mv[0]),
        base_ppm=t.base_ppm,
        liquidity_ppm=max(0, int(hc[0]) - fixed) if amt > 0 else 0,
        protocol_ppm=t.protocol_ppm,
        depeg_ppm=t.depeg_ppm,
        ratio_ppm=t.ratio_ppm,
        haircut_ppm=int(hc[0]) if amt > 0 else fixed,
        value=int(value[0]),
        liability=int(liab[0]),
    )


# ----------------------------------------------------------------------------------------------
# dynamic haircuts
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DynamicHaircutParams:
    """A haircut that follows volatility and liquidity, moving a bounded amount per update.

    ``target = clamp(base + ⌈k · σ · √(horizon / year)⌉ + ⌈liquidity · √(ref_depth / depth)⌉, floor, cap)``
    and each update moves at most ``max_up_ppm`` up and ``max_down_ppm`` down (anti-procyclical:
    a slow rise damps cliff effects, a slower fall keeps the buffer built in a crisis).

    Parameters
    ----------
    base_ppm : int
        Haircut at zero volatility and reference liquidity.
    k_ppm : int
        Confidence multiplier, ppm (``2_326_000`` ≈ the 99 % one-tailed normal quantile).
    horizon_s : int
        Liquidation horizon (margin period of risk), seconds, ``> 0``.
    floor_ppm, cap_ppm : int
        Bounds of the haircut, ``floor ≤ cap ≤ 1e6``.
    max_up_ppm, max_down_ppm : int
        Largest change per update (ppm of haircut).
    liquidity_ppm : int
        Illiquidity term at ``depth = ref_depth``; it shrinks as depth grows (``0`` = off).
    ref_depth : int or None
        Reference depth (quote base units); required when ``liquidity_ppm > 0``.
    """

    base_ppm: int
    k_ppm: int
    horizon_s: int
    floor_ppm: int = 0
    cap_ppm: int = PPM
    max_up_ppm: int = PPM
    max_down_ppm: int = PPM
    liquidity_ppm: int = 0
    ref_depth: int | None = None

    def __post_init__(self) -> None:
        f = "dynamic_haircut"
        for k in ("base_ppm", "floor_ppm", "cap_ppm", "max_up_ppm", "max_down_ppm", "liquidity_ppm"):
            object.__setattr__(self, k, _ppm(getattr(self, k), f"{f}.{k}"))
        object.__setattr__(self, "k_ppm", _ppm(self.k_ppm, f"{f}.k_ppm", hi=100 * PPM))
        object.__setattr__(self, "horizon_s", _int(self.horizon_s, f"{f}.horizon_s", lo=1, hi=100 * YEAR_S))
        if self.floor_ppm > self.cap_ppm:
            raise InvalidInput(f"{f}.floor_ppm", f"floor {self.floor_ppm} exceeds cap {self.cap_ppm}")
        if self.ref_depth is not None:
            object.__setattr__(self, "ref_depth", _int(self.ref_depth, f"{f}.ref_depth", lo=1))
        if self.liquidity_ppm and self.ref_depth is None:
            raise InvalidInput(f"{f}.ref_depth", "required when liquidity_ppm > 0")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Mapping) -> DynamicHaircutParams:
        keys = tuple(cls.__dataclass_fields__)
        _keys(d, "dynamic_haircut", keys, ("base_ppm", "k_ppm", "horizon_s"))
        return cls(**{k: d[k] for k in keys if k in d})


def dynamic_haircut_target(sigma_ppm: int, params: DynamicHaircutParams, depth: int | None = None) -> int:
    """The haircut (ppm) the dynamic model aims for at annualised volatility ``sigma_ppm`` and
    market ``depth`` (quote base units; ``None`` = the reference depth).

    Examples
    --------
    >>> p = DynamicHaircutParams(base_ppm=20_000, k_ppm=2_000_000, horizon_s=YEAR_S // 365)
    >>> dynamic_haircut_target(730_000, p)   # 2 · 0.73 · √(1/365) = 0.0764… → 2 % + 7.65 %
    96420
    """
    if not isinstance(params, DynamicHaircutParams):
        raise InvalidInput("params", f"expected DynamicHaircutParams, got {type(params).__name__}")
    sigma = _int(sigma_ppm, "sigma_ppm", lo=0, hi=100 * PPM)
    vol = _ceil_sqrt_ratio((params.k_ppm * sigma) ** 2 * params.horizon_s, PPM**2 * YEAR_S)
    liq = 0
    if params.liquidity_ppm:
        d = params.ref_depth if depth is None else _int(depth, "depth", lo=1)
        liq = _ceil_sqrt_ratio(params.liquidity_ppm**2 * params.ref_depth, d)
    return min(max(params.base_ppm + vol + liq, params.floor_ppm), params.cap_ppm)


def step_dynamic_haircut(
    prev_ppm: int | None, sigma_ppm: int, params: DynamicHaircutParams, depth: int | None = None
) -> int:
    """One update of the dynamic haircut: toward :func:`dynamic_haircut_target`, by at most
    ``max_up_ppm`` up or ``max_down_ppm`` down. ``prev_ppm=None`` (first update) starts at the target.

    The result always lies in ``[floor_ppm, cap_ppm]`` and within the rate band around ``prev_ppm``.

    Raises
    ------
    InvalidInput
        ``prev_ppm`` outside ``[floor_ppm, cap_ppm]``, bad volatility or depth.

    Examples
    --------
    >>> p = DynamicHaircutParams(base_ppm=20_000, k_ppm=2_000_000, horizon_s=86_400, max_up_ppm=10_000, max_down_ppm=2_000)
    >>> step_dynamic_haircut(20_000, 730_000, p), step_dynamic_haircut(96_420, 0, p)
    (30000, 94420)
    """
    target = dynamic_haircut_target(sigma_ppm, params, depth)
    if prev_ppm is None:
        return target
    prev = _int(prev_ppm, "prev_ppm", lo=params.floor_ppm, hi=params.cap_ppm)
    return min(max(target, prev - params.max_down_ppm), prev + params.max_up_ppm)


def realised_vol_ppm(prices: Sequence[int], interval_ns: int) -> int:
    """Annualised realised volatility (ppm, rounded up) of a series of prices sampled every ``interval_ns``.

    Sample standard deviation (``n − 1``) of the log returns, times ``√(year / interval)``, computed
    in a fixed 34-digit :mod:`decimal` context (correctly rounded ``ln`` and ``sqrt``), so the
    result is identical on every platform.

    Raises
    ------
    InvalidInput
        Fewer than 3 prices, a non-positive or non-integer price, a bad interval.

    Examples
    --------
    >>> realised_vol_ppm([100, 101, 100, 101, 100], 86_400 * 10**9)   # daily ±1 % swings: √(4·ln(1.01)²/3 · 365)
    219510
    """
    if isinstance(prices, (str, bytes)) or not isinstance(prices, (Sequence, np.ndarray)):
        raise InvalidInput("prices", f"expected a list of prices, got {type(prices).__name__}")
    ps = [_price(p, f"prices[{i}]") for i, p in enumerate(list(prices))]
    if len(ps) < 3:
        raise InvalidInput("prices", f"need at least 3 prices for a volatility, got {len(ps)}")
    dt = _int(interval_ns, "interval_ns", lo=1)
    with localcontext(_CTX):  # never the caller's thread context: the result must not depend on it
        rets = [(Decimal(b) / Decimal(a)).ln() for a, b in zip(ps, ps[1:], strict=False)]
        n = len(rets)
        mean = sum(rets, Decimal(0)) / n
        var = sum(((r - mean) * (r - mean) for r in rets), Decimal(0)) / (n - 1)
        vol = (var * Decimal(YEAR_S * 10**9) / Decimal(dt)).sqrt() * PPM
        return int(vol.to_integral_value(rounding=ROUND_CEILING))


__all__ = [
    "MAX_AMOUNT",
    "MAX_PRICE",
    "RATE_SCALE",
    "YEAR_S",
    "AssetParams",
    "CollateralParams",
    "DynamicHaircutParams",
    "HoldingBreakdown",
    "PegParams",
    "ceil_isqrt",
    "collateral_value",
    "dynamic_haircut_target",
    "holding_breakdown",
    "realised_vol_ppm",
    "step_dynamic_haircut",
]
