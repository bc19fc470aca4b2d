"""Venue profiles: the published margin, liquidation and funding arithmetic of real venues.

* :mod:`ramparts.venues.binance`: USDⓈ-M leverage brackets, maintenance amounts, liquidation price;
* :mod:`ramparts.venues.dydx`: liquidity tiers, OI-scaled IMF, bankruptcy and fillable prices,
  insurance-fund delta, deleveraging conditions (quote quantums, ppm);
* :mod:`ramparts.venues.hyperliquid`: margin tiers, liquidation price, backstop threshold, ADL key,
  funding;
* :mod:`ramparts.venues.drift`: size-premium margin ratios, asset and liability weights,
  liquidation transfer price, socialised loss through funding (Drift's integer units);
* :mod:`ramparts.venues.derive`: Derive v2's standard manager (short options, perpetuals), PMRM_2's
  volatility shocks, static discounts and contingencies, and its Dutch auction (discount, buffer
  margin, fraction purchasable);
* :mod:`ramparts.venues.deribit`: Deribit's standard option margin (inverse units) and its
  portfolio-margin risk array (price points, vol shocks, extended table, contingencies, MM factor);
* :mod:`ramparts.venues.profiles`: each venue as an engine configuration for ``ramparts compare``.

Each module cites the source it follows (``../shared/reference/``) in its docstring.
"""
