"""The deterministic engine: typed events, the state machine, its position store and its journal node."""

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
