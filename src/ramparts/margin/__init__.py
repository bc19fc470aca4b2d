"""Account margin (layer 2): notional-tier schedules with a square-root size premium, their exact
int64 vectorised kernels, liquidation and bankruptcy prices, funding, and the pluggable margin models.

* :mod:`ramparts.margin.schedule`          :class:`MarginSchedule`, the exact scalar requirements;
* :mod:`ramparts.margin.vectorised`        the same requirements over numpy int64 arrays;
* :mod:`ramparts.margin.layout`            the packed tier tables and account-major book the compiled kernels
                                           read, and the plain-numpy full re-margin that checks them;
* :mod:`ramparts.margin.liquidation_price` the lot prices at which equity meets maintenance / zero;
* :mod:`ramparts.margin.funding`           perpetual funding rates and payments;
* :mod:`ramparts.margin.models`            the margin-model strategies the engine plugs in;
* :mod:`ramparts.margin.option_standard`   strategy-based (standard) option margin with a max-loss bound;
* :mod:`ramparts.margin.portfolio`         scenario (risk-array) portfolio margin, vectorised over accounts;
* :mod:`ramparts.margin.var_es`            VaR / expected-shortfall margin with fat tails and anti-procyclicality;
* :mod:`ramparts.margin.haircuts`          collateral valuation: static, size, dynamic and depeg haircuts;
* :mod:`ramparts.margin.correlation`       the stressed-correlation add-on for multi-asset cross accounts.

This layer holds formulas and their plain twins. The compiled kernels that evaluate them over a venue
(the full re-margin, the incremental tick, the liquidation-price and margin-slack indexes) are the
engine's: :mod:`ramparts.engine.kernels`, :mod:`ramparts.engine.liquidation_index`,
:mod:`ramparts.engine.slack_index`. Nothing here imports the engine (``tests/test_layers.py``).
"""
