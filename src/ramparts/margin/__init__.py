"""Account margin (layer 2): notional-tier schedules with a square-root size premium, their exact
int64 vectorised kernels, liquidation and bankruptcy prices, funding, and the pluggable margin models.

* :mod:`ramparts.margin.schedule`          :class:`MarginSchedule`, the exact scalar requirements;
* :mod:`ramparts.margin.vectorised`        the same requirements over numpy int64 arrays;
* :mod:`ramparts.margin.liquidation_price` the lot prices at which equity meets maintenance / zero;
* :mod:`ramparts.margin.funding`           perpetual funding rates and payments;
* :mod:`ramparts.margin.models`            the margin-model strategies the engine plugs in;
* :mod:`ramparts.margin.option_standard`   strategy-based (standard) option margin with a max-loss bound;
* :mod:`ramparts.margin.portfolio`         scenario (risk-array) portfolio margin, vectorised over accounts;
* :mod:`ramparts.margin.var_es`            VaR / expected-shortfall margin with fat tails and anti-procyclicality;
* :mod:`ramparts.margin.haircuts`          collateral valuation: static, size, dynamic and depeg haircuts;
* :mod:`ramparts.margin.correlation`       the stressed-correlation add-on for multi-asset cross accounts.
"""
