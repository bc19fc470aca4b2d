"""ramparts: a layered margin and liquidation engine for crypto derivatives.

Capital is defended in layers, each absorbing what the one above could not:

1. ``ramparts.oracle``      oracle index and mark price models;
2. ``ramparts.margin``      initial / maintenance margin schedules, funding, liquidation price,
                            vectorised re-margining;
3. ``ramparts.liquidation`` the liquidation waterfall (partial steps, pricing, penalty split);
4. the insurance fund and 5. last resort (ADL, socialised loss), also in ``ramparts.liquidation``;

around them ``ramparts.ledger`` (exact double-entry ledger), ``ramparts.journal`` (append-only
event journal on SQLite or PostgreSQL), ``ramparts.engine`` (the deterministic state machine),
``ramparts.lab`` (replay and stress work) and ``ramparts.service`` (the API).
"""

__version__ = "0.1.0"
