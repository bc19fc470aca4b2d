"""The deterministic engine: typed events, the state machine, its position store and its journal node, and the
compiled margin kernels and indexes it runs (:mod:`ramparts.engine.kernels`, :mod:`ramparts.engine.batch_kernel`,
:mod:`ramparts.engine.liquidation_index`, :mod:`ramparts.engine.slack_index`). The engine is the top of the margin
stack: it imports the liquidation waterfall and hands itself to it as a
:class:`~ramparts.liquidation.state.LiquidationState`; nothing below imports it."""

from ramparts.engine.engine import AccountRisk, Engine
from ramparts.engine.events import (
    AssetPrice,
    Deposit,
    ExchangeRate,
    Fill,
    FundingTick,
    FundInsurance,
    Genesis,
    ListAsset,
    ListInstrument,
    OpenSubAccount,
    OraclePrice,
    ParameterChange,
    Settlement,
    Tick,
    Withdraw,
    parse_event,
)

__all__ = [
    "AccountRisk",
    "AssetPrice",
    "Deposit",
    "Engine",
    "ExchangeRate",
    "Fill",
    "FundInsurance",
    "FundingTick",
    "Genesis",
    "ListAsset",
    "ListInstrument",
    "OpenSubAccount",
    "OraclePrice",
    "ParameterChange",
    "Settlement",
    "Tick",
    "Withdraw",
    "parse_event",
]
