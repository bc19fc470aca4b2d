"""Venue profiles: the published margin, liquidation and funding arithmetic of real venues.

* :mod:`ramparts.venues.binance`: USDⓈ-M leverage brackets, maintenance amounts, liquidation price;
* :mod:`ramparts.venues.dydx`: liquidity tiers, OI-scaled IMF, bankruptcy and fillable prices,
  insurance-fund delta, deleveraging conditions (quote quantums, ppm);
* :mod:`ramparts.venues.hyperliquid`: margin tiers, liquidation price, backstop threshold, ADL key,
  funding;
* :mod:`ramparts.venues.drift`: size-premium margin ratios, asset and liability weights,
  liquidation transfer price, socialised loss through funding (Drift's integer units);
* :mod:`ramparts.venues.profiles`: each venue as an engine configuration for ``ramparts compare``.

Each module cites the source it follows (``../shared/reference/``) in its docstring.
"""
