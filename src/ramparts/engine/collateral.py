"""The engine's multi-asset collateral: per-asset parameters and market state, and the venue's
correlation matrix.

This module owns the state the engine keeps for non-settlement collateral (the arithmetic lives in
:mod:`ramparts.margin.haircuts` and :mod:`ramparts.margin.correlation`):

* **Per asset** (``ListAsset(collateral={...})`` or ``ParameterChange(target="asset:<SYM>",
  key="collateral")``): its :class:`~ramparts.margin.haircuts.AssetParams`, an optional
  :class:`~ramparts.margin.haircuts.DynamicHaircutParams` with its cadence ``haircut_update_ns``
  and window ``vol_window``; its market price (``AssetPrice``, quote base units per whole unit),
  its exchange rate (``ExchangeRate``, × 10^18, pegged assets), its current dynamic haircut and the
  prices sampled at each haircut update (the realised-volatility window).
* **Venue-wide** a :class:`~ramparts.margin.correlation.CorrelationMatrix` over underlyings and its
  stress weight (``ParameterChange(target="correlation")``).
* **Derived** (not hashed, rebuilt on restore): every holder's haircut value of each asset
  (``contrib[asset][sub]``); the engine keeps their per-sub-account sum in ``Engine.sub_coll``.

A holding of an asset without a price (or whose peg base has no price, or an LST without a rate)
counts zero. Everything here except the derived values is part of the state hash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import MAX_BALANCE, PPM
from ramparts.margin.correlation import CorrelationMatrix
from ramparts.margin.haircuts import (
    AssetParams,
    CollateralParams,
    DynamicHaircutParams,
    collateral_value,
    dynamic_haircut_target,
    realised_vol_ppm,
    step_dynamic_haircut,
)

__all__ = ["AssetCollateral", "CollateralState", "parse_collateral"]

#: Engine keys of a ``collateral`` object besides the :class:`AssetParams` ones.
ENGINE_KEYS = ("dynamic", "haircut_update_ns", "vol_window", "borrow")
MAX_VOL_WINDOW = 10_000


@dataclass(frozen=True)
class AssetCollateral:
    """One collateral asset's parameters and market state (immutable: updates build a new one)."""

    params: AssetParams
    dynamic: DynamicHaircutParams | None = None
    haircut_update_ns: int = 0
    vol_window: int = 30
    price: int | None = None  # quote base units per whole unit
    price_ts: int = -1
    rate: int | None = None  # × RATE_SCALE, pegged assets
    dyn_ppm: int | None = None  # current dynamic haircut
    last_update_ns: int = -1
    samples: tuple[int, ...] = field(default_factory=tuple)
    borrow: tuple[int, int] | None = None  #: (initial, maintenance) ppm of a borrow's market value; None: not lendable
    #: the backing left behind the asset where it is held (ppm; derived from its location's state, not hashed here:
    #: :mod:`ramparts.engine.locations`): its price counts at ``⌊price × backing_ppm / 10^6⌋``
    backing_ppm: int = PPM

    def replace(self, **kw: Any) -> AssetCollateral:
        return dataclasses.replace(self, **kw)

    def params_dict(self) -> dict:
        d = self.params.to_dict()
        d.pop("decimals")
        d["dynamic"] = None if self.dynamic is None else self.dynamic.to_dict()
        d["haircut_update_ns"] = self.haircut_update_ns
        d["vol_window"] = self.vol_window
        if self.borrow is not None:  # absent unless configured, so a venue without borrowing hashes as before
            d["borrow"] = {"im_ppm": self.borrow[0], "mm_ppm": self.borrow[1]}
        return d

    def to_dict(self) -> dict:
        return {
            "params": self.params_dict(),
            "price": self.price,
            "price_ts": self.price_ts,
            "rate": self.rate,
            "dyn_ppm": self.dyn_ppm,
            "last_update_ns": self.last_update_ns,
            "samples": list(self.samples),
        }

    @classmethod
    def from_dict(cls, decimals: int, d: dict) -> AssetCollateral:
        base = parse_collateral(d["params"], decimals)
        return base.replace(price=d["price"], price_ts=d["price_ts"], rate=d["rate"], dyn_ppm=d["dyn_ppm"],
                            last_update_ns=d["last_update_ns"], samples=tuple(d["samples"]))

    # ------------------------------------------------------------------ dynamic haircut
    def dynamic_step(self, symbol: str, ts: int) -> tuple[AssetCollateral, list[dict]]:
        """One cadence update of the dynamic haircut at ``ts`` if it is due (pure).

        The current price is appended to the sampled window (the last ``vol_window`` samples);
        ``σ`` is their realised volatility with the cadence as the sampling interval (0 with fewer
        than 3 samples), and the haircut moves toward its target by at most the params' bounds.
        """
        if self.dynamic is None or self.price is None:
            return self, []
        if self.last_update_ns >= 0 and ts - self.last_update_ns < self.haircut_update_ns:
            return self, []
        samples = (self.samples + (self.price,))[-self.vol_window :]
        sigma = min(realised_vol_ppm(list(samples), self.haircut_update_ns), 100 * PPM) if len(samples) >= 3 else 0
        dp = self.dynamic
        prev = None if self.dyn_ppm is None else min(max(self.dyn_ppm, dp.floor_ppm), dp.cap_ppm)
        new = step_dynamic_haircut(prev, sigma, dp)
        target = dynamic_haircut_target(sigma, dp)
        fx = {"kind": "HaircutUpdated", "asset": symbol, "sigma_ppm": sigma, "target_ppm": target,
              "from_ppm": self.dyn_ppm, "to_ppm": new}
        return self.replace(samples=samples, dyn_ppm=new, last_update_ns=ts), [fx]


def parse_collateral(value: Any, decimals: int) -> AssetCollateral:
    """Validate a user ``collateral`` object (see :class:`~ramparts.engine.events.ListAsset`)."""
    if not isinstance(value, dict):
        raise InvalidInput("collateral", f"expected an object of collateral parameters, got {type(value).__name__}")
    d = dict(value)
    if "decimals" in d and d.pop("decimals") != decimals:
        raise InvalidInput("collateral.decimals", f"must equal the asset's decimals {decimals}")
    eng = {k: d.pop(k) for k in ENGINE_KEYS if k in d}
    try:
        params = AssetParams.from_dict({"decimals": decimals, **d})
    except InvalidInput as exc:
        raise InvalidInput("collateral." + exc.field.removeprefix("asset."), exc.message) from None
    dyn = eng.get("dynamic")
    dynamic = None
    if dyn is not None:
        try:
            dynamic = DynamicHaircutParams.from_dict(dyn)
        except InvalidInput as exc:
            raise InvalidInput("collateral." + exc.field, exc.message) from None
    cadence = eng.get("haircut_update_ns", 0)
    if not isinstance(cadence, int) or isinstance(cadence, bool) or cadence < 0:
        raise InvalidInput("collateral.haircut_update_ns", f"must be a non-negative int of nanoseconds, got {cadence!r}")
    if dynamic is not None and cadence <= 0:
        raise InvalidInput("collateral.haircut_update_ns", "a dynamic haircut needs a positive update cadence")
    window = eng.get("vol_window", 30)
    if not isinstance(window, int) or isinstance(window, bool) or not 3 <= window <= MAX_VOL_WINDOW:
        raise InvalidInput("collateral.vol_window", f"must be an int in [3, {MAX_VOL_WINDOW}], got {window!r}")
    borrow = eng.get("borrow")
    if borrow is not None:
        if not isinstance(borrow, dict) or set(borrow) != {"im_ppm", "mm_ppm"}:
            raise InvalidInput("collateral.borrow", "expected {'im_ppm': int, 'mm_ppm': int} (requirements on a borrow's market value)")
        im, mm = borrow["im_ppm"], borrow["mm_ppm"]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (im, mm)) or not 0 <= mm <= im <= PPM:
            raise InvalidInput("collateral.borrow", f"need 0 ≤ mm_ppm ≤ im_ppm ≤ 1e6, got {borrow!r}")
        borrow = (im, mm)
    return AssetCollateral(params, dynamic, cadence, window, borrow=borrow)


class CollateralState:
    """Every collateral asset's state and the venue's correlation matrix (see the module docstring)."""

    def __init__(self) -> None:
        self.quote: str | None = None
        self.quote_decimals = 0
        self.assets: dict[str, AssetCollateral] = {}
        self.correlation: CorrelationMatrix | None = None
        self.stress_ppm = 0
        # derived: haircut value of each holder's balance, per asset
        self.contrib: dict[str, dict[int, int]] = {}
        self._cparams: CollateralParams | None = None

    def set_quote(self, symbol: str, decimals: int) -> None:
        self.quote, self.quote_decimals = symbol, decimals

    @property
    def active(self) -> bool:
        return bool(self.assets) or self.correlation is not None or self.stress_ppm != 0

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict:
        return {
            "assets": {a: self.assets[a].to_dict() for a in sorted(self.assets)},
            "correlation": None if self.correlation is None else self.correlation.to_dict(),
            "stress_ppm": self.stress_ppm,
        }

    def load(self, d: dict | None, decimals: dict[str, int]) -> None:
        if not d:
            return
        self.assets = {a: AssetCollateral.from_dict(decimals[a], v) for a, v in d["assets"].items()}
        self.correlation = None if d.get("correlation") is None else CorrelationMatrix.from_dict(d["correlation"])
        self.stress_ppm = d.get("stress_ppm", 0)
        self.contrib = {a: {} for a in self.assets}
        self._cparams = None

    # ------------------------------------------------------------------ configuration
    def params_with(self, overrides: dict[str, AssetCollateral]) -> CollateralParams:
        """The :class:`CollateralParams` of every collateral asset (with ``overrides``); validates pegs."""
        if not overrides and self._cparams is not None:
            return self._cparams
        assets = {**self.assets, **overrides}
        table = {self.quote: AssetParams(self.quote_decimals)}
        table.update({a: ac.params for a, ac in assets.items()})
        for ac in assets.values():
            peg = ac.params.peg
            if peg is not None and peg.base is not None and peg.base not in assets:
                raise InvalidInput("collateral.peg.base", f"{peg.base!r} is not a listed collateral asset (pegged to the settlement asset: null)")
        try:
            cp = CollateralParams(self.quote, table)
        except InvalidInput as exc:
            raise InvalidInput(exc.field.replace("collateral.assets.", "collateral:"), exc.message) from None
        if not overrides:
            self._cparams = cp
        return cp

    def install(self, symbol: str, ac: AssetCollateral) -> None:
        self.assets[symbol] = ac
        self.contrib.setdefault(symbol, {})
        self._cparams = None

    def dependents(self, symbol: str) -> set[str]:
        """``symbol`` and the pegged assets whose fundamental price is based on it."""
        return {symbol} | {a for a, ac in self.assets.items() if ac.params.peg is not None and ac.params.peg.base == symbol}

    # ------------------------------------------------------------------ valuation
    def _can_value(self, symbol: str, assets: dict[str, AssetCollateral]) -> bool:
        ac = assets[symbol]
        if ac.price is None:
            return False
        peg = ac.params.peg
        if peg is not None and peg.base is not None:
            return ac.rate is not None and assets[peg.base].price is not None
        return True

    def values(self, symbol: str, amounts: list[int], overrides: dict[str, AssetCollateral] | None = None) -> np.ndarray:
        """Haircut values (int64, rounded down) of ``amounts`` base units of ``symbol``, one per holder (pure).

        Raises :class:`InvalidInput` when a value would exceed the balance limit.
        """
        overrides = overrides or {}
        assets = {**self.assets, **overrides}
        if not amounts or not self._can_value(symbol, assets):
            return np.zeros(len(amounts), dtype=np.int64)
        # a location's failure values its assets at the backing that remains (ramparts.engine.locations); none left: no value
        prices = {a: p for a, ac in assets.items() if ac.price is not None and (p := ac.price * ac.backing_ppm // PPM) > 0}
        peg = assets[symbol].params.peg
        if symbol not in prices or (peg is not None and peg.base is not None and peg.base not in prices):
            return np.zeros(len(amounts), dtype=np.int64)
        rates = {a: ac.rate for a, ac in assets.items() if ac.rate is not None}
        dyn = {a: ac.dyn_ppm for a, ac in assets.items() if ac.dyn_ppm is not None}
        mat = np.empty((len(amounts), 1), dtype=object)
        mat[:, 0] = amounts
        out = collateral_value(mat, prices, self.params_with(overrides), assets=[symbol], exchange_rates=rates, dynamic_haircuts=dyn)
        if out.size and int(np.abs(out).max()) > MAX_BALANCE:
            raise InvalidInput("price", f"the collateral value of a {symbol} holding would overflow the balance limit")
        return out

    def correlation_index(self) -> dict[str, int]:
        return {} if self.correlation is None else {a: i for i, a in enumerate(self.correlation.assets)}
