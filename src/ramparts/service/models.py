"""The request and response bodies of the risk service (pydantic): the OpenAPI contract, stated in full.

This module owns what a well-formed request is, and says all of it in the schema, so that a request
the schema allows is never refused as malformed (422) for a reason the schema hides:

* **names**: sub-accounts ``account/sub`` (:data:`SUBACCOUNT`, each part 1 to 64 letters, digits and
  ``. _ : @ -``, the rule of :func:`ramparts.domain.accounts.check_name`), accounts
  (:data:`ACCOUNT`), asset and instrument symbols (:data:`SYMBOL`, 1 to 32 upper-case letters, digits,
  ``. _ -``: :func:`ramparts.domain.assets.check_symbol`), as ``pattern`` s;
* **decimals** (money, prices, sizes, rates) travel as JSON strings of plain ASCII digits matching a
  bounded pattern (no sign unless the field may be negative, at most 40 integer digits, at most 18
  fractional digits, no exponent, no ``_``, no other script's digits, no spaces), never as JSON
  numbers (a float is inexact before anyone reads it, and JSON cannot tell ``12`` from ``12.0``):
  :data:`PositiveDecimal`, :data:`NonNegativeDecimal`, :data:`SignedDecimal`. Every such value lies
  well inside the bounds of :func:`ramparts.fixedpoint.to_decimal`;
* **integers** (:data:`JsonInt`) carry ``minimum``/``maximum``, each exactly a float64, or ``format: int64``
  (times are integer nanoseconds since the Unix epoch, 0 to 2**63 - 1: :data:`Int64`); as in JSON Schema, a number with no fractional part is an
  integer (``5.0`` is ``5``), a string or a boolean is not; arrays carry ``minItems``/``maxItems``,
  strings ``minLength``/``maxLength``;
* request bodies forbid unknown fields and are validated strictly (no string for a number, no
  number for a string); the role-dependent ``account`` of a new key is stated as a ``oneOf``.

What the schema cannot know, because it depends on the venue's state (an instrument's tick grid, an
asset's decimals, the engine's time, a breaker's name, the free collateral), is the engine's to
refuse: 404 for an unknown entity, 409 for everything else (``error`` is the engine's reason, or
``invalid_input`` with the ``field``; see :mod:`ramparts.service.api`).

Optional ``ts`` fields exist only on requests from trusted machine roles (oracle, matcher,
liquidator, risk officer); when omitted the service stamps the event with the wall clock, never
earlier than the engine's time, and a ``ts`` more than the service's maximum clock skew (default 5
minutes) ahead of its wall clock is refused (see :mod:`ramparts.service.writer`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ramparts.validation import all_valid_unicode

INT64_MAX = 2**63 - 1

#: Free text kept by the service (a key's label, a custody note): no control characters (PostgreSQL cannot store NUL).
TEXT = r"^[^\x00-\x1F\x7F]*$"
#: One part of a name: an account, or the ``sub`` of ``account/sub`` (:func:`ramparts.domain.accounts.check_name`).
NAME_PART = r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}"
#: An account name (a trader key's account, a liquidator's keeper name).
ACCOUNT = rf"^{NAME_PART}$"
#: A sub-account id ``account/sub``.
SUBACCOUNT = rf"^{NAME_PART}/{NAME_PART}$"
#: An asset or instrument symbol (:func:`ramparts.domain.assets.check_symbol`).
SYMBOL_PART = r"[A-Z0-9][A-Z0-9._-]{0,31}"
SYMBOL = rf"^{SYMBOL_PART}$"
#: An insurance fund: ``global`` or an instrument symbol.
FUND = rf"^(?:global|{SYMBOL_PART})$"
#: A parameter target.
TARGET = rf"^(?:liquidation|breakers|portfolio|correlation|(?:asset|instrument):{SYMBOL_PART})$"
#: A parameter key.
PARAMETER_KEY = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
#: An API key id (16 hex digits) and a custody request id (``cr_`` and 16 hex digits).
KEY_ID = r"^[0-9a-f]{16}$"
REQUEST_ID = r"^cr_[0-9a-f]{16}$"

#: Digits of a decimal: at most 40 before the point (below 10**40) and 18 after it.
MAX_INT_DIGITS, MAX_FRACTION_DIGITS = 40, 18
_FRAC = rf"(?:\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?"
_INT_POS = rf"[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}}"
#: ``0.`` and 1 to 18 digits, not all zero.
_FRAC_POS = r"0\.(?:" + "|".join(
    f"{'0' * k}[1-9][0-9]{{0,{MAX_FRACTION_DIGITS - 1 - k}}}" for k in range(MAX_FRACTION_DIGITS)) + ")"
POSITIVE_DECIMAL = rf"^(?:{_INT_POS}{_FRAC}|{_FRAC_POS})$"
NON_NEGATIVE_DECIMAL = rf"^(?:0{_FRAC}|{_INT_POS}{_FRAC})$"
SIGNED_DECIMAL = rf"^-?(?:0{_FRAC}|{_INT_POS}{_FRAC})$"
DECIMAL_INT_MAX = 10**MAX_INT_DIGITS - 1


def _decimal(pattern: str, what: str):
    rx = re.compile(pattern)

    def check(value: Any) -> Decimal:
        if isinstance(value, str):
            if len(value) <= 64 and rx.fullmatch(value):
                return Decimal(value)
            raise PydanticCustomError("decimal", f"expected {what} as a string of ASCII digits (at most {MAX_INT_DIGITS} "
                                                 f"before the point and {MAX_FRACTION_DIGITS} after it, no exponent), "
                                                 f"got {value[:40]!r}")
        if isinstance(value, Decimal) and value.is_finite() and rx.fullmatch(format(value, "f")):  # from Python callers
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise PydanticCustomError("decimal", f"send the decimal {value!r} as a string (\"{value!r}\"): a JSON number "
                                                 "is refused (a float is inexact)")
        raise PydanticCustomError("decimal", f"expected {what} as a string, got {type(value).__name__}")

    schema = {"type": "string", "pattern": pattern, "maxLength": 64,
              "description": f"{what}: a string of ASCII digits, at most {MAX_INT_DIGITS} before the point and "
                             f"{MAX_FRACTION_DIGITS} after it, no exponent; never a JSON number"}
    return Annotated[Decimal, PlainValidator(check), PlainSerializer(str, return_type=str), WithJsonSchema(schema)]


#: A decimal > 0 (amounts, prices, sizes, grids, rates).
PositiveDecimal = _decimal(POSITIVE_DECIMAL, "a positive decimal")
#: A decimal >= 0 (fees, confidence intervals).
NonNegativeDecimal = _decimal(NON_NEGATIVE_DECIMAL, "a non-negative decimal")
#: A decimal of either sign (a funding premium).
SignedDecimal = _decimal(SIGNED_DECIMAL, "a decimal")


def _json_int(value: Any) -> Any:
    """JSON Schema's integer: a JSON number without a fractional part (``5.0`` is ``5``); never a bool or a string."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "expected an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def JsonInt(lo: int, hi: int):  # noqa: N802 - a type
    """An integer field in ``[lo, hi]``: an int, or a float with no fractional part (the bounds come before the
    validator, so that the schema states them as ``minimum``/``maximum``)."""
    return Annotated[int, Field(ge=lo, le=hi), BeforeValidator(_json_int)]


#: A time in ns (or another non-negative int64). Its upper bound is stated as ``format: int64`` (exactly 2**63 - 1):
#: FastAPI writes ``minimum``/``maximum`` as floats, and 2**63 - 1 would be stated as 2**63.
Int64 = Annotated[int, Field(ge=0, le=INT64_MAX), BeforeValidator(_json_int),
                  WithJsonSchema({"type": "integer", "format": "int64", "minimum": 0})]


def _unicode(value: Any) -> Any:
    """Every string (and key) of a free JSON value is valid Unicode: JSON's ``\\ud800`` escapes can spell a lone
    surrogate, which no UTF-8 answer could carry back (every read showing it would fail)."""
    if not all_valid_unicode(value):
        raise PydanticCustomError("string_unicode", "a string is not valid Unicode (a lone surrogate)")
    return value


#: A free JSON value (checked by the engine, 409), its strings valid Unicode; and a free JSON object.
FreeJson = Annotated[Any, AfterValidator(_unicode)]
FreeObject = Annotated[dict[str, Any], AfterValidator(_unicode)]
Ts = Field(default=None,
           description="event time (ns); default: now, never before the engine time; at most the service's clock skew "
                       "(default 5 minutes) ahead of its wall clock")
Name = Field(pattern=SUBACCOUNT, min_length=3, max_length=129, description="sub-account id 'account/sub'", examples=["alice/main"])
Symbol = Field(pattern=SYMBOL, min_length=1, max_length=32, examples=["BTC-PERP"])
AssetSymbol = Field(default="USDC", pattern=SYMBOL, min_length=1, max_length=32, examples=["USDC"])


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="machine-readable reason, e.g. invalid_input, unknown_entity, initial_margin, forbidden")
    field: str | None = Field(default=None, description="the offending field, when one is to blame")
    message: str


# ---------------------------------------------------------------------------------------- requests
class OpenSubAccountReq(_Req):
    subaccount: str = Name
    mode: Literal["cross", "isolated"] = "cross"
    instrument: str | None = Field(default=None, pattern=SYMBOL, min_length=1, max_length=32,
                                   description="the instrument of an isolated sub-account (required there, refused on cross)")


class CashReq(_Req):
    subaccount: str = Name
    amount: PositiveDecimal = Field(examples=["1000"], description="in whole units of the asset, on its grid (its decimals)")
    asset: str = AssetSymbol


class FillReq(_Req):
    instrument: str = Symbol
    buyer: str = Name
    seller: str = Name
    price: PositiveDecimal = Field(examples=["50000"], description="on the instrument's tick grid")
    size: PositiveDecimal = Field(examples=["0.1"], description="on the instrument's size step")
    buyer_fee: NonNegativeDecimal = Decimal(0)
    seller_fee: NonNegativeDecimal = Decimal(0)
    ts: Int64 | None = Ts


class FillBatchReq(_Req):
    fills: list[FillReq] = Field(min_length=1, max_length=1000, description="fills in matching order; journaled in one transaction")


MAX_BATCH_ITEMS = 100_000


class TradeBatchReq(_Req):
    """Batch mode: fills and index prices as integer columns (see :class:`ramparts.engine.events.TradeBatch`).

    The columns are as long as ``item_kind``; a batch whose columns disagree, whose indices fall
    outside their tables or whose ``time`` decreases is refused whole (409 ``invalid_input``)."""

    instruments: list[Annotated[str, Field(pattern=SYMBOL, min_length=1, max_length=32)]] = Field(
        min_length=1, max_length=10_000, examples=[["BTC-PERP"]])
    subaccounts: list[Annotated[str, Field(pattern=SUBACCOUNT, min_length=3, max_length=129)]] = Field(
        default_factory=list, max_length=2 * MAX_BATCH_ITEMS, examples=[["alice/main", "bob/main"]])
    item_kind: str = Field(pattern=r"^[FP]+$", min_length=1, max_length=MAX_BATCH_ITEMS,
                           description="F (fill) or P (index price) per item", examples=["FP"])
    time: list[Int64] = Field(max_length=MAX_BATCH_ITEMS, description="per item, ns since the epoch, never decreasing")
    instrument: list[JsonInt(0, 9_999)] = Field(max_length=MAX_BATCH_ITEMS,
                                                                  description="per item, a row of `instruments`", examples=[[0, 0]])
    buyer: list[JsonInt(-1, MAX_BATCH_ITEMS)] = Field(
        max_length=MAX_BATCH_ITEMS, description="per fill, a row of `subaccounts`; -1 on prices", examples=[[0, -1]])
    seller: list[JsonInt(-1, MAX_BATCH_ITEMS)] = Field(
        max_length=MAX_BATCH_ITEMS, description="per fill, a row of `subaccounts`; -1 on prices", examples=[[1, -1]])
    price: list[JsonInt(0, 4 * 10**15)] = Field(
        max_length=MAX_BATCH_ITEMS, description="ticks of the instrument's tick grid", examples=[[500000, 500100]])
    size: list[JsonInt(0, 4 * 10**15)] = Field(
        max_length=MAX_BATCH_ITEMS, description="lots (size steps); 0 on prices", examples=[[10, 0]])
    buyer_fee: list[JsonInt(0, 10**17)] | None = Field(default=None, max_length=MAX_BATCH_ITEMS,
                                                                          description="settlement base units")
    seller_fee: list[JsonInt(0, 10**17)] | None = Field(default=None, max_length=MAX_BATCH_ITEMS,
                                                                           description="settlement base units")
    ts: Int64 | None = Ts


class PriceReq(_Req):
    instrument: str = Symbol
    price: PositiveDecimal = Field(examples=["50000"])
    book_price: PositiveDecimal | None = None
    ts: Int64 | None = Ts


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    source: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$", min_length=1, max_length=64, examples=["binance"])
    price: PositiveDecimal = Field(examples=["50000"])
    conf: NonNegativeDecimal = Decimal(0)
    ts_ns: Int64


class QuotesReq(_Req):
    instrument: str = Symbol
    quotes: list[QuoteIn] = Field(min_length=1, max_length=64)
    ts: Int64 | None = Ts


class AssetReq(_Req):
    symbol: str = Field(pattern=SYMBOL, min_length=1, max_length=32, examples=["ETH"])
    decimals: JsonInt(0, 18) = Field(examples=[8])
    collateral: FreeObject | None = Field(
        default=None, examples=[{"haircut_ppm": 100_000}],
        description="collateral parameters (see ramparts.engine.events.ListAsset); the engine checks them (409)")
    ts: Int64 | None = Ts


class AssetPriceReq(_Req):
    asset: str = Field(pattern=SYMBOL, min_length=1, max_length=32, examples=["ETH"])
    price: PositiveDecimal = Field(examples=["3000"], description="settlement units per whole unit")
    ts: Int64 | None = Ts


class ExchangeRateReq(_Req):
    asset: str = Field(pattern=SYMBOL, min_length=1, max_length=32, examples=["WSTETH"])
    rate: PositiveDecimal = Field(examples=["1.17"], description="whole base units per whole unit")
    ts: Int64 | None = Ts


class BidReq(_Req):
    subaccount: str = Field(pattern=SUBACCOUNT, min_length=3, max_length=129, description="the account being liquidated",
                            examples=["alice/main"])
    keeper: str = Field(pattern=SUBACCOUNT, min_length=3, max_length=129,
                        description="the keeper's own sub-account (account of the key)", examples=["keeper1/main"])
    max_fraction_ppm: JsonInt(1, 1_000_000) | None = None
    size: PositiveDecimal | None = None
    min_discount_ppm: JsonInt(0, 1_000_000) = 0
    ts: Int64 | None = Ts


class BreakerResetReq(_Req):
    name: str = Field(min_length=1, max_length=128, description="a configured breaker's name (unknown: 409)")
    ts: Int64 | None = Ts


class FundingReq(_Req):
    instrument: str = Symbol
    premium: SignedDecimal | None = Field(default=None, description="per interval; default (mark - index) / index; at most "
                                                                    "the premium at which the rate reaches its cap (409 beyond)")
    ts: Int64 | None = Ts


class TickReq(_Req):
    ts: Int64 | None = Ts


class ParameterReq(_Req):
    target: str = Field(pattern=TARGET, min_length=1, max_length=80,
                        description="'liquidation', 'breakers', 'portfolio', 'correlation', 'asset:<SYMBOL>' or 'instrument:<SYMBOL>'",
                        examples=["liquidation"])
    key: str = Field(pattern=PARAMETER_KEY, min_length=1, max_length=80, examples=["penalty_ppm"],
                     description="the parameter (an unknown one is the engine's to refuse: 409)")
    value: FreeJson = Field(examples=[20000], description="the new value, any JSON (its strings valid Unicode); the engine "
                                                          "checks it (409)")
    ts: Int64 | None = Ts


class InstrumentReq(_Req):
    symbol: str = Symbol
    underlying: str = Field(pattern=SYMBOL, min_length=1, max_length=32, examples=["BTC"])
    instrument_kind: Literal["perpetual", "future"] = "perpetual"
    quote: str = AssetSymbol
    contract_size: PositiveDecimal = Decimal(1)
    size_step: PositiveDecimal = Field(examples=["0.001"])
    tick_size: PositiveDecimal = Field(examples=["0.1"])
    margin: FreeObject = Field(examples=[{"tiers": [["0", "0.1", "0.05"]]}],
                                   description="{'tiers': [[notional_floor, initial_rate, maintenance_rate], ...], "
                                               "'size_premium': rate}; the engine checks it (409)")
    expiry_ns: Int64 | None = None
    insurance_fund: Literal["global", "market"] = "global"
    oracle_max_age_ns: Int64 = 0
    ts: Int64 | None = Ts


class FundInsuranceReq(_Req):
    fund: str = Field(default="global", pattern=FUND, min_length=1, max_length=32)
    amount: PositiveDecimal = Field(examples=["100000"])
    ts: Int64 | None = Ts


#: every role of :data:`ramparts.service.auth.ROLES` (none is held back)
Role = Literal["trader", "oracle", "matcher", "sequencer", "liquidator", "custody", "risk_officer", "auditor"]
_UNBOUND_ROLES = ["oracle", "matcher", "sequencer", "custody", "risk_officer", "auditor"]


def _key_req_schema(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [
        {"properties": {"role": {"const": "trader"}, "account": {"type": "string", "pattern": ACCOUNT, "maxLength": 64}},
         "required": ["role", "account"]},
        {"properties": {"role": {"const": "liquidator"}, "account": {"anyOf": [{"type": "string", "pattern": ACCOUNT, "maxLength": 64}, {"type": "null"}]}}},
        {"properties": {"role": {"enum": _UNBOUND_ROLES}, "account": {"type": "null"}}},
    ]


class KeyReq(_Req):
    """A new API key: a trader key is bound to its ``account`` (required), a liquidator key may name its keeper
    ``account``, every other role's key is unbound (``account`` absent or null)."""

    model_config = ConfigDict(json_schema_extra=_key_req_schema)
    role: Role = Field(description="trader, oracle, matcher, sequencer, liquidator, custody, risk_officer or auditor")
    account: str | None = Field(default=None, pattern=ACCOUNT, min_length=1, max_length=64, validate_default=True,
                                description="the trader's account (required), or the liquidator's keeper name; null otherwise")
    label: str = Field(default="", max_length=200, pattern=TEXT, description="a note kept with the key (no control characters)")

    @field_validator("account")
    @classmethod
    def _bound(cls, account: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if role == "trader" and account is None:
            raise PydanticCustomError("account", "a trader key is bound to an account: account is required")
        if role in _UNBOUND_ROLES and account is not None:
            raise PydanticCustomError("account", f"only trader (its account) and liquidator (its keeper name) keys are bound, not {role}")
        return account


class CashRequestReq(_Req):
    """A trader asks custody to move money in or out of one of its sub-accounts."""

    kind: Literal["deposit", "withdrawal"]
    subaccount: str = Name
    amount: PositiveDecimal = Field(examples=["1000"], description="in whole units of the asset, on its grid (its decimals)")
    asset: str = AssetSymbol


class CashDecisionReq(_Req):
    note: str = Field(default="", max_length=200, pattern=TEXT, description="why (kept with the request; no control characters)")


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


class CashRequestView(BaseModel):
    """A trader's deposit or withdrawal request and what custody decided."""

    request_id: str = Field(pattern=REQUEST_ID)
    kind: Literal["deposit", "withdrawal"]
    subaccount: str
    asset: str
    amount: str
    status: Literal["pending", "confirming", "confirmed", "rejected", "cancelled"] = Field(
        description="pending until custody confirms (journaled: confirmed, with seq) or rejects it, or the trader cancels it; "
                    "confirming while its event is being journaled")
    requested_by: str = Field(description="the key id that asked")
    requested_ns: int
    decided_by: str | None = Field(description="the key id that confirmed, rejected or cancelled it")
    decided_ns: int | None
    seq: int | None = Field(description="the journaled Deposit / Withdraw of a confirmed request")
    note: str


class CashRequestList(BaseModel):
    requests: list[CashRequestView]


class CustodyView(BaseModel):
    """The money that crossed the venue's boundary: the ledger account ``external`` stands for the outside world."""

    asset: str = Field(description="the settlement asset")
    external: dict[str, str] = Field(description="per asset, the balance of the ledger account 'external': minus the money "
                                                 "deposited and not withdrawn (deposits come from it, withdrawals go to it)")
    totals: dict[str, str] = Field(description="the settlement asset's ledger by category (external, balances, insurance, "
                                               "fees, liquidators, socialised_loss, vm); they add up to zero")
    cap: str | None = Field(description="the most one custody key may move in one request (null: no cap); above it a "
                                        "risk officer's key is needed")
    pending: dict[str, int] = Field(description="pending requests by kind")
