"""Options maths (the pure layer under option margin): Black-76 pricing, Greeks and implied volatility,
and SVI volatility smiles and surfaces.

* :mod:`ramparts.options.black76`  vectorised Black-76 on the forward, linear and inverse (coin-settled)
  conventions, all first- and second-order Greeks used for risk, and implied-volatility inversion;
* :mod:`ramparts.options.svi`      raw-SVI smiles fitted per expiry, the :class:`~ramparts.options.svi.VolSurface`
  interpolating in total variance, and the loader of the Deribit chain snapshot.

Everything here is ``numpy.float64``; money becomes integer base units only in the margin layer
(:mod:`ramparts.margin.option_standard`, :mod:`ramparts.margin.portfolio`), rounded up.
"""

from ramparts.options.black76 import (
    Greeks,
    black76_greeks,
    black76_price,
    implied_vol,
)
from ramparts.options.svi import (
    SviFit,
    SviParams,
    SviSlice,
    VolSurface,
    fit_chain,
    fit_svi,
    load_deribit_chain,
)

__all__ = [
    "Greeks",
    "SviFit",
    "SviParams",
    "SviSlice",
    "VolSurface",
    "black76_greeks",
    "black76_price",
    "fit_chain",
    "fit_svi",
    "implied_vol",
    "load_deribit_chain",
]
