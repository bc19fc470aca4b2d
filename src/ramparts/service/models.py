"""The request and response bodies of the risk service (pydantic), so that the OpenAPI spec is complete.

Money, prices and sizes travel as decimal strings (exact; :data:`~ramparts.validation.StrictDecimal`,
the same rule as the events': ASCII digits, integers allowed, JSON floats refused); times are
integer nanoseconds since the Unix epoch. Request bodies forbid unknown fields. Optional ``ts``
fields exist only on requests from trusted machine roles (oracle, matcher, liquidator, risk
officer); when omitted the service stamps the event with the wall clock, never earlier than the
engine's time, and a ``ts`` more than the service's maximum clock skew (default 5 minutes) ahead of
its wall clock is refused (see :mod:`ramparts.service.writer`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ramparts.validation import StrictDecimal

INT64_MAX = 2**63 - 1
Ts = Field(default=None, ge=0, le=INT64_MAX,
           description="event time (ns); default: now, never before the engine time; at most the service's clock skew "
                       "(default 5 minutes) ahead of its wall clock")
Name = Field(min_length=1, max_length=129, description="sub-account id 'account/sub'", examples=["alice/main"])
Symbol = Field(min_length=1, max_length=64, examples=["BTC-PERP"])


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="machine-readable reason, e.g. invalid_input, unknown_entity, initial_margin, forbidden")
    field: str | None = Field(default=None, description="the offending field, when one is to blame")
    message: str


# ---------------------------------------------------------------------------------------- requests
class OpenSubAccountReq(_Req):
    subaccount: str = Name
    mode: Literal["cross", "isolated"] = "cross"
    instrument: str | None = Field(default=None, max_length=64)


class CashReq(_Req):
    subaccount: str = Name
    amount: StrictDecimal = Field(examples=["1000"])
    asset: str = Field(default="USDC", min_length=1, max_length=32)


class FillReq(_Req):
    instrument: str = Symbol
    buyer: str = Name
    seller: str = Name
    price: StrictDecimal = Field(examples=["50000"])
    size: StrictDecimal = Field(examples=["0.1"])
    buyer_fee: StrictDecimal = Decimal(0)
    seller_fee: StrictDecimal = Decimal(0)
    ts: int | None = Ts


class FillBatchReq(_Req):
    fills: list[FillReq] = Field(min_length=1, max_length=1000, description="fills in matching order; journaled in one transaction")


class TradeBatchReq(_Req):
    """Batch mode: fills and index prices as integer columns (see :class:`ramparts.engine.events.TradeBatch`)."""

    instruments: list[str] = Field(min_length=1, max_length=10_000, examples=[["BTC-PERP"]])
    subaccounts: list[str] = Field(default_factory=list, max_length=200_000, examples=[["alice/main", "bob/main"]])
    item_kind: str = Field(min_length=1, max_length=100_000, description="F (fill) or P (index price) per item", examples=["FP"])
    time: list[Annotated[int, Field(ge=0, le=INT64_MAX)]] = Field(max_length=100_000, description="per item, ns since the epoch, never decreasing")
    instrument: list[int] = Field(max_length=100_000, description="per item, a row of `instruments`", examples=[[0, 0]])
    buyer: list[int] = Field(max_length=100_000, description="per fill, a row of `subaccounts`; -1 on prices", examples=[[0, -1]])
    seller: list[int] = Field(max_length=100_000, description="per fill, a row of `subaccounts`; -1 on prices", examples=[[1, -1]])
    price: list[int] = Field(max_length=100_000, description="ticks of the instrument's tick grid", examples=[[500000, 500100]])
    size: list[int] = Field(max_length=100_000, description="lots (size steps); 0 on prices", examples=[[10, 0]])
    buyer_fee: list[int] | None = Field(default=None, max_length=100_000, description="settlement base units")
    seller_fee: list[int] | None = Field(default=None, max_length=100_000, description="settlement base units")
    ts: int | None = Ts


class PriceReq(_Req):
    instrument: str = Symbol
    price: StrictDecimal = Field(examples=["50000"])
    book_price: StrictDecimal | None = None
    ts: int | None = Ts


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, max_length=64, examples=["binance"])
    price: StrictDecimal = Field(examples=["50000"])
    conf: StrictDecimal = Decimal(0)
    ts_ns: int = Field(ge=0, le=INT64_MAX)


class QuotesReq(_Req):
    instrument: str = Symbol
    quotes: list[QuoteIn] = Field(min_length=1, max_length=64)
    ts: int | None = Ts


class AssetReq(_Req):
    symbol: str = Field(min_length=1, max_length=32, examples=["ETH"])
    decimals: int = Field(ge=0, le=18, examples=[8])
    collateral: dict[str, Any] | None = Field(default=None, examples=[{"haircut_ppm": 100_000}])
    ts: int | None = Ts


class AssetPriceReq(_Req):
    asset: str = Field(min_length=1, max_length=32, examples=["ETH"])
    price: StrictDecimal = Field(examples=["3000"], description="settlement units per whole unit")
    ts: int | None = Ts


class ExchangeRateReq(_Req):
    asset: str = Field(min_length=1, max_length=32, examples=["wstETH"])
    rate: StrictDecimal = Field(examples=["1.17"], description="whole base units per whole unit")
    ts: int | None = Ts


class BidReq(_Req):
    subaccount: str = Field(min_length=3, max_length=129, description="the account being liquidated", examples=["alice/main"])
    keeper: str = Field(min_length=3, max_length=129, description="the keeper's own sub-account (account of the key)",
                        examples=["keeper1/main"])
    max_fraction_ppm: int | None = Field(default=None, ge=1, le=1_000_000)
    size: StrictDecimal | None = None
    min_discount_ppm: int = Field(default=0, ge=0, le=1_000_000)
    ts: int | None = Ts


class BreakerResetReq(_Req):
    name: str = Field(min_length=1, max_length=128)
    ts: int | None = Ts


class FundingReq(_Req):
    instrument: str = Symbol
    premium: StrictDecimal | None = Field(default=None, description="per interval; default (mark - index) / index; at most "
                                                                   "the premium at which the rate reaches its cap")
    ts: int | None = Ts


class TickReq(_Req):
    ts: int | None = Ts


class ParameterReq(_Req):
    target: str = Field(min_length=1, max_length=80, description="'liquidation', 'breakers' or 'instrument:<SYMBOL>'", examples=["liquidation"])
    key: str = Field(min_length=1, max_length=80, examples=["penalty_ppm"])
    value: Any = Field(examples=[20000])
    ts: int | None = Ts


class InstrumentReq(_Req):
    symbol: str = Symbol
    underlying: str = Field(min_length=1, max_length=32, examples=["BTC"])
    instrument_kind: Literal["perpetual", "future"] = "perpetual"
    quote: str = "USDC"
    contract_size: StrictDecimal = Decimal(1)
    size_step: StrictDecimal = Field(examples=["0.001"])
    tick_size: StrictDecimal = Field(examples=["0.1"])
    margin: dict[str, Any] = Field(examples=[{"tiers": [["0", "0.1", "0.05"]]}])
    expiry_ns: int | None = Field(default=None, ge=0, le=INT64_MAX)
    insurance_fund: Literal["global", "market"] = "global"
    oracle_max_age_ns: int = Field(default=0, ge=0, le=INT64_MAX)
    ts: int | None = Ts


class FundInsuranceReq(_Req):
    fund: str = Field(default="global", min_length=1, max_length=64)
    amount: StrictDecimal = Field(examples=["100000"])
    ts: int | None = Ts


class KeyReq(_Req):
    #: every role of :data:`ramparts.service.auth.ROLES` (``sequencer`` included: none is held back)
    role: Literal["trader", "oracle", "matcher", "sequencer", "liquidator", "risk_officer", "auditor"] = Field(
        description="trader, oracle, matcher, sequencer, liquidator, risk_officer or auditor")
    account: str | None = Field(default=None, max_length=64, description="the trader's account, or the liquidator's keeper name")
    label: str = Field(default="", max_length=200)


# ---------------------------------------------------------------------------------------- responses
class EventAck(BaseModel):
    """An event the node journaled: acknowledged only after the journal transaction committed."""

    seq: int
    ts: int
    kind: str
    effects: list[dict[str, Any]]


class FillOutcome(BaseModel):
    index: int
    accepted: bool
    seq: int | None = None
    effects: list[dict[str, Any]] | None = None
    error: ErrorBody | None = None


class FillBatchAck(BaseModel):
    accepted: int
    rejected: int
    outcomes: list[FillOutcome]


class PositionView(BaseModel):
    instrument: str
    size: str
    entry_price: str | None
    mark: str
    notional: str
    unrealised_pnl: str
    initial_margin: str
    maintenance_margin: str


class AccountRiskView(BaseModel):
    subaccount: str
    mode: str
    cash: str
    equity: str
    initial_margin: str
    maintenance_margin: str
    free_collateral: str
    margin_ratio: float | None = Field(description="maintenance / equity (>= 1 liquidatable); null without positions or with equity <= 0")
    liquidation_price: str | None
    state: Literal["healthy", "margin_called", "in_liquidation", "bankrupt"]
    positions: list[PositionView]


class AccountSummary(BaseModel):
    subaccount: str
    equity: str
    maintenance_margin: str
    margin_ratio: float | None
    state: str


class AccountList(BaseModel):
    accounts: list[AccountSummary]


class QueueView(BaseModel):
    seq: int
    accounts: list[AccountSummary] = Field(description="in breach or in liquidation, most at risk first")


class InsuranceView(BaseModel):
    asset: str
    funds: dict[str, str]
    total: str


class AdlEntry(BaseModel):
    rank: int
    subaccount: str
    size: str
    profit_pct: float
    leverage: float | None
    score: float


class AdlView(BaseModel):
    instrument: str
    longs: list[AdlEntry] = Field(description="deleveraged, in this order, against a bankrupt short")
    shorts: list[AdlEntry] = Field(description="deleveraged, in this order, against a bankrupt long")


class MarketView(BaseModel):
    symbol: str
    kind: str
    index_price: str | None
    mark: str | None
    open_interest: str
    open_interest_notional: str
    holders: int
    settled: bool
    last_funding_rate_ppb: int


class MarketList(BaseModel):
    markets: list[MarketView]


class JournalEvent(BaseModel):
    seq: int
    ts: int
    kind: str
    payload: dict[str, Any]
    effects: list[dict[str, Any]]


class EventPage(BaseModel):
    events: list[JournalEvent]
    next_from_seq: int | None = Field(description="pass as from_seq for the next page; null at the end")
    last_seq: int


class StateView(BaseModel):
    seq: int
    time_ns: int
    state_hash: str


class BreakerView(BaseModel):
    configured: bool
    breakers: list[dict[str, Any]]
    gates: dict[str, dict[str, Any]] = Field(default_factory=dict)


class KeyView(BaseModel):
    key_id: str
    role: str
    account: str | None
    label: str
    created_ns: int
    revoked_ns: int | None


class KeyCreated(KeyView):
    token: str = Field(description="the API key; shown only once")


class TicketCreated(BaseModel):
    """A single-use WebSocket ticket: ``/v1/stream?ticket=...`` within ``expires_in_s`` seconds."""

    ticket: str
    expires_in_s: float
    key_id: str


class KeyList(BaseModel):
    keys: list[KeyView]


class AuditList(BaseModel):
    entries: list[dict[str, Any]]


class Overview(BaseModel):
    """Everything the dashboard shows, in one read."""

    seq: int
    time_ns: int
    state_hash: str
    accounts: int
    ratio_histogram: dict[str, int]
    queue: list[AccountSummary]
    insurance: InsuranceView
    markets: list[MarketView]
    breakers: BreakerView
    counters: dict[str, int]
