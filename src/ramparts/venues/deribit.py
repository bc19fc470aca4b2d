"""Deribit: standard (strategy-based) option margin and the portfolio-margin risk array.

Source: ``ramparts/reference/cex-and-clearinghouses.md`` (Deribit: the portfolio-margin
documentation and the ``private/pme/simulate`` API as returned in 2024 for BTC) for the risk
array: price range ±16 % in 4 buckets each side, three volatility scenarios per point, the vol
shock for an option with ``D`` days to expiry ``up = max(vol·(1 + 0.5·(30/D)^p), 0.5)``,
``down = vol·(1 − 0.25·(30/D)^p)``, ``p = 0.3`` if ``D < 30`` else ``0.13``, the extended table
(−66 %, −33 %, +50 % … +500 %, vol up only), a 1 % contingency per net short option per strike and on
offsetting futures, maintenance = 0.8 × initial. The standard margin's rates (short options:
``max(0.15 − OTM, 0.10)`` of the underlying plus the mark for initial, ``0.075`` plus the mark for
maintenance, in coin units) are Deribit's published values as implemented in
:mod:`ramparts.margin.option_standard`; the reference does not quote them, so treat them as ours.

Deribit's options are **inverse** (coin-settled): premiums and requirements are in BTC per BTC of
underlying; the functions here take ``inverse=True`` by default.
"""

from __future__ import annotations

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.margin.option_standard import DERIBIT, isolated_requirements, standard_margin
from ramparts.margin.portfolio import DERIBIT_GRID, PortfolioMarginParams, ScenarioGrid

__all__ = ["GRID", "PM_PARAMS", "price_points", "standard_margin", "vol_shocks", "short_option_margin"]

GRID: ScenarioGrid = DERIBIT_GRID
PM_PARAMS = PortfolioMarginParams(option_contingency=0.01, future_contingency=0.01, mm_factor=0.8)


def price_points(grid: ScenarioGrid = GRID) -> list[float]:
    """The core risk-array moves: 9 points from −16 % to +16 % in 4 buckets a side."""
    return list(grid.price_moves)


def vol_shocks(vol: float, days_to_expiry: float, grid: ScenarioGrid = GRID) -> tuple[float, float]:
    """``(up, down)`` shocked volatilities for an option with ``days_to_expiry`` days left."""
    if not (np.isfinite(vol) and vol >= 0 and np.isfinite(days_to_expiry) and days_to_expiry >= 0):
        raise InvalidInput("vol", "vol and days to expiry must be finite and non-negative")
    up, down = grid.shocked_vols(np.array([vol]), np.array([days_to_expiry / 365.0]))
    return float(up[0]), float(down[0])


def short_option_margin(is_call: bool, strike: float, quantity: float, mark: float, spot: float, *, inverse: bool = True) -> tuple[float, float]:
    """(initial, maintenance) of one short option leg under Deribit's standard margin."""
    im, mm = isolated_requirements(is_call, strike, quantity, mark, spot, inverse=inverse, params=DERIBIT)
    return float(im[0]), float(mm[0])
