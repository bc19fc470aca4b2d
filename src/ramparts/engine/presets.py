"""Ready-made listings for demos, tests and the lab: a venue's genesis and common instruments.

These are conveniences that build ordinary events; nothing in the engine depends on them.
"""

from __future__ import annotations

from ramparts.engine import events as ev

#: A Binance-like BTC bracket table (notional floor USDC, initial rate, maintenance rate), trimmed.
BTC_TIERS = [
    ["0", "0.008", "0.004"],
    ["50000", "0.01", "0.005"],
    ["600000", "0.02", "0.01"],
    ["3000000", "0.04", "0.02"],
    ["12000000", "0.1", "0.05"],
    ["70000000", "0.2", "0.1"],
    ["100000000", "0.25", "0.125"],
    ["230000000", "0.5", "0.25"],
    ["480000000", "1", "0.5"],
]


def genesis(ts: int = 0, **liquidation) -> ev.Genesis:
    """USDC (6 decimals) settlement, backstop vault ``backstop/vault``, optional waterfall overrides."""
    return ev.Genesis(ts=ts, liquidation=liquidation)


def perpetual(
    symbol: str = "BTC-PERP",
    underlying: str = "BTC",
    *,
    ts: int = 0,
    size_step: str = "0.001",
    tick_size: str = "0.1",
    tiers: list | None = None,
    initial_rate: str = "0.1",
    maintenance_rate: str = "0.05",
    size_premium: str = "0",
    insurance_fund: str = "global",
    mark: dict | None = None,
) -> ev.ListInstrument:
    """A linear USDC perpetual; a flat schedule unless ``tiers`` are given."""
    return ev.ListInstrument(
        ts=ts,
        symbol=symbol,
        underlying=underlying,
        size_step=size_step,
        tick_size=tick_size,
        margin={"tiers": tiers or [["0", initial_rate, maintenance_rate]], "size_premium": size_premium},
        insurance_fund=insurance_fund,
        mark=mark,
    )


def future(symbol: str, underlying: str, expiry_ns: int, *, ts: int = 0, initial_rate: str = "0.1", maintenance_rate: str = "0.05") -> ev.ListInstrument:
    """A linear USDC dated future expiring at ``expiry_ns``."""
    return ev.ListInstrument(
        ts=ts,
        symbol=symbol,
        instrument_kind="future",
        underlying=underlying,
        size_step="0.001",
        tick_size="0.1",
        margin={"tiers": [["0", initial_rate, maintenance_rate]]},
        expiry_ns=expiry_ns,
    )
