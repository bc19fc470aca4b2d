"""Venue profiles: the published margin, liquidation and funding arithmetic of real venues.

* :mod:`ramparts.venues.binance`: USDⓈ-M leverage brackets, maintenance amounts, liquidation price;
* :mod:`ramparts.venues.dydx`: liquidity tiers, OI-scaled IMF, bankruptcy and fillable prices,
  insurance-fund delta, deleveraging conditions, the funding pipeline (premium, clamp, index delta,
  settlement) and the partial-liquidation sizes (quote quantums, ppm);
* :mod:`ramparts.venues.hyperliquid`: margin tiers, liquidation price, backstop threshold, ADL key,
  funding;
* :mod:`ramparts.venues.drift`: size-premium margin ratios, asset and liability weights, the fill
  margin type and high-leverage mode, the liquidation maths, liquidate_perp and resolve_perp_bankruptcy
  as pure functions, funding with its fee-pool cap (Drift's integer units); :mod:`ramparts.venues.drift_spot`:
  spot balances and the controller's liquidations over a whole account (spot, borrow for perp pnl, perp pnl for
  deposit, cross and isolated modes); :mod:`ramparts.venues.drift_amm`: the AMM's prices, trigger price, fill
  permission and TWAPs; :mod:`ramparts.venues.drift_fill`: a liquidation order filled against makers and the AMM;
  :mod:`ramparts.venues.drift_accounts`: Drift's on-chain account layouts decoded (mainnet snapshots in its tests);
* :mod:`ramparts.venues.derive`: Derive v2's standard manager (short options, perpetuals), PMRM_2's
  volatility shocks, static discounts and contingencies, and its Dutch auction (discount, buffer
  margin, fraction purchasable);
* :mod:`ramparts.venues.deribit`: Deribit's standard option margin (inverse units) and its
  portfolio-margin risk array (price points, vol shocks, extended table, contingencies, MM factor);
* :mod:`ramparts.venues.mango`: Mango v4 account health (init, maint, liquidation end) over token
  positions, spot open orders and perp positions, with asset and liability weights, the stable-price
  rule and deposit/borrow weight scaling, and the max swap / perp trade / borrow solvers (exact rationals);
* :mod:`ramparts.venues.synthetix`: Synthetix v3 perps' velocity funding (rate, unrecorded and accrued
  funding), the skew-adjusted fill price and market debt (18-decimal integers, Solidity truncation);
* :mod:`ramparts.venues.opyn`: Opyn Gamma's MarginCalculator: naked margin (spot shock, upper-bound
  table by time to expiry), spread margin, expired cash value, excess collateral, the liquidation
  auction's debt price (1e27 fixed point);
* :mod:`ramparts.venues.profiles`: each venue as an engine configuration for ``ramparts compare``.

Each module cites the source it follows (``ramparts/reference/``) in its docstring.
"""
