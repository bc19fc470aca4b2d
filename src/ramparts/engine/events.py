"""The typed events the engine consumes, and their canonical encoding for the journal.

Every change of engine state is one of these events; the engine is a pure state machine
``apply(event) -> effects`` over them (see :mod:`ramparts.engine.engine`). User-facing values
(prices, sizes, amounts) are decimals, given as strings of ASCII digits, ints or ``Decimal``
(never floats, within bounds: :data:`~ramparts.validation.StrictDecimal`), converted to the
integer grids by the engine, which names the offending field when a value is malformed. Times are
integer nanoseconds since the epoch, at most ``2**63 - 1``.

Input events
    ``Genesis`` (first, once), ``ListAsset``, ``ListInstrument``, ``OpenSubAccount``, ``Deposit``,
    ``Withdraw``, ``FundInsurance``, ``Fill``, ``OraclePrice``, ``OracleQuotes``, ``AssetPrice``, ``ExchangeRate``,
    ``FundingTick``, ``Settlement``, ``ParameterChange``, ``ResetBreaker``, ``LiabilitiesRoot``, ``LiquidationBid``, ``BookSnapshot``, ``TradeBatch``, ``Tick``;
    collateral held elsewhere (:mod:`ramparts.engine.locations`): ``ListLocation``, ``LocationStatus``,
    ``LocationDeposit``, ``LocationWithdraw``.

    ``TradeBatch`` is batch mode: fills and index prices as integer columns in one event (one
    journal row), each item applied exactly as its own ``Fill`` / ``OraclePrice`` would be; a
    refused item is a ``Rejected`` effect carrying its ``item`` number, and every effect of an
    item carries it too.

    ``BookSnapshot`` is market data for order-book liquidation (``LiquidationConfig.pricing =
    "order_book"``): the venue's displayed depth of one instrument, ``bids`` and ``asks`` as
    ``[[price, size], ...]`` (decimals; prices on the tick grid, sizes positive on the size step,
    bids strictly descending, asks strictly ascending, best bid below best ask, at most
    :data:`MAX_BOOK_LEVELS` a side). It replaces the instrument's previous snapshot in the state;
    the liquidity is that of the configured ``book_account`` (an existing, ordinary sub-account),
    and liquidation fills consume it until the next snapshot. Bad input is an ``InvalidInput``
    (an unknown instrument ``UnknownEntity``) and changes nothing.

Effects (what applying an event produced; journaled beside the event for audit, re-derived on
replay) are plain JSON-able dicts with a ``kind``: ``MarginCall``, ``LiquidationStep``,
``LiquidationEnded``, ``InsuranceFundDraw``, ``Deleverage``, ``SocialisedLoss``, ``BadDebt``,
``Funding``, ``Settled``, ``HaircutUpdated``, ``CollateralSeized``, ``OracleReading``, ``BreakerTripped``,
``BreakerReset``, ``LiabilitiesRootRecorded``; the later mechanisms add ``AuctionStarted``, ``AuctionInsolventFill``,
``BidQueued``, ``BidDropped``, ``BatchAuctionCleared``, ``BackstopLiquidation``, ``SocialisedFunding``, ``Dilution``
and ``InsuranceHedge``; order-book liquidation adds ``LiquidationUnfilled`` (an order that found
no level at its fillable price, or a fill the insurance fund could not pay); locations add
``DepositPending``, ``DepositConfirmed``, ``WithdrawalInFlight``, ``WithdrawalArrived``,
``LocationStatusChanged`` and ``PendingSeized``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ramparts.errors import InvalidInput, JournalCorrupt
from ramparts.fixedpoint import INT64_MAX, to_decimal
from ramparts.validation import StrictDecimal, all_valid_unicode


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    ts: int = Field(ge=0, le=INT64_MAX, description="event time, integer nanoseconds since the Unix epoch")


class Genesis(_Event):
    """Configures the venue: the settlement asset, the backstop vault and the waterfall."""

    kind: Literal["Genesis"] = "Genesis"
    settlement_asset: str = "USDC"
    settlement_decimals: int = 6
    backstop: str = "backstop/vault"
    liquidation: dict[str, Any] = Field(default_factory=dict)


class ListAsset(_Event):
    """Lists an asset. With ``collateral`` it counts towards equity at its haircut value.

    ``collateral`` holds :class:`~ramparts.margin.haircuts.AssetParams` keys (int ppm and quote base
    units: ``haircut_ppm``, ``liability_addon_ppm``, ``depth``, ``impact_ppm``, ``impact_cap_ppm``,
    ``concentration_cap``, ``excess_haircut_ppm``, ``peg``; ``decimals`` is this event's) and the
    engine's dynamic-haircut keys ``dynamic`` (:class:`~ramparts.margin.haircuts.DynamicHaircutParams`),
    ``haircut_update_ns`` (cadence) and ``vol_window`` (prices in the volatility window).
    """

    kind: Literal["ListAsset"] = "ListAsset"
    symbol: str
    decimals: int
    collateral: dict[str, Any] | None = None


class ListInstrument(_Event):
    """Lists a linear perpetual, a dated future or a European cash-settled option.

    An option needs ``expiry_ns``, ``strike``, ``option_type`` and ``index_instrument`` (a listed
    perpetual or future on the same underlying whose index price is the option's spot); its
    ``margin`` is ignored (standard option margin applies).

    ``margin`` is ``{"tiers": [[notional_floor, initial_rate, maintenance_rate], ...],
    "size_premium": rate_per_sqrt_unit}`` with decimal strings (floors in quote currency).
    """

    kind: Literal["ListInstrument"] = "ListInstrument"
    symbol: str
    instrument_kind: Literal["perpetual", "future", "option"] = "perpetual"
    underlying: str
    quote: str = "USDC"
    contract_size: StrictDecimal = Decimal(1)
    size_step: StrictDecimal
    tick_size: StrictDecimal
    margin: dict[str, Any]
    expiry_ns: int | None = None
    funding: dict[str, int] | None = None
    mark: dict[str, Any] | None = None
    insurance_fund: Literal["global", "market"] = "global"
    oracle_max_age_ns: int = Field(default=0, ge=0)
    strike: StrictDecimal | None = None
    option_type: Literal["call", "put"] | None = None
    index_instrument: str | None = None


class OpenSubAccount(_Event):
    kind: Literal["OpenSubAccount"] = "OpenSubAccount"
    subaccount: str
    mode: Literal["cross", "isolated", "portfolio"] = "cross"
    instrument: str | None = None


class Deposit(_Event):
    kind: Literal["Deposit"] = "Deposit"
    subaccount: str
    asset: str
    amount: StrictDecimal


class FundInsurance(_Event):
    """The venue pays into an insurance fund: ``fund`` is ``global`` or an instrument symbol."""

    kind: Literal["FundInsurance"] = "FundInsurance"
    fund: str = "global"
    amount: StrictDecimal


class Withdraw(_Event):
    kind: Literal["Withdraw"] = "Withdraw"
    subaccount: str
    asset: str
    amount: StrictDecimal


class Fill(_Event):
    """A trade from the external matching engine: ``buyer`` buys ``size`` from ``seller`` at ``price``."""

    kind: Literal["Fill"] = "Fill"
    instrument: str
    buyer: str
    seller: str
    price: StrictDecimal
    size: StrictDecimal
    buyer_fee: StrictDecimal = Decimal(0)
    seller_fee: StrictDecimal = Decimal(0)


class OraclePrice(_Event):
    """A new index price for an instrument (and optionally the book's mid/impact price for the mark model)."""

    kind: Literal["OraclePrice"] = "OraclePrice"
    instrument: str
    price: StrictDecimal
    book_price: StrictDecimal | None = None


class AssetPrice(_Event):
    """Market price of a collateral asset in the settlement asset, per whole unit (re-values its holders)."""

    kind: Literal["AssetPrice"] = "AssetPrice"
    asset: str
    price: StrictDecimal


class ExchangeRate(_Event):
    """Redemption rate of a pegged asset (an LST) to its peg's base: whole base units per whole unit."""

    kind: Literal["ExchangeRate"] = "ExchangeRate"
    asset: str
    rate: StrictDecimal


class FundingTick(_Event):
    """Pays one funding interval. ``premium`` (decimal per interval) defaults to (mark − index) / index.

    A ``scheduled`` tick (the service journals every tick so) keeps to the instrument's schedule: it
    is refused (``Rejected`` ``funding_too_soon``) sooner than ``funding.interval_seconds`` after the
    market's last tick, and a given ``premium`` beyond the one at which the rate reaches its cap
    (``max_rate_ppm + premium_clamp_ppm``) is refused (``InvalidInput``) rather than capped. An
    unscheduled tick (the lab's, which fires on its own clock, and every tick of older journals)
    pays whenever it comes, its premium at most ±1. Both compare event times only: the engine never
    reads the wall clock.
    """

    kind: Literal["FundingTick"] = "FundingTick"
    instrument: str
    premium: StrictDecimal | None = None
    scheduled: bool = False


class Settlement(_Event):
    """Expiry of a dated future at ``price``: every position is settled and closed."""

    kind: Literal["Settlement"] = "Settlement"
    instrument: str
    price: StrictDecimal


class ParameterChange(_Event):
    """Changes a parameter: ``target`` is ``liquidation``, ``instrument:<SYMBOL>`` (keys ``margin``,
    ``funding``, ``mark``, ``oracle_max_age_ns``, ``oracle``), ``breakers`` (key ``rules``),
    ``asset:<SYMBOL>`` (key ``collateral``: the asset's collateral parameters, as in :class:`ListAsset`)
    or ``correlation`` (key ``matrix``: ``{"assets": [...], "ppm": [[...]]}`` or null; key
    ``stress_ppm``: the stress weight, int ppm)."""

    kind: Literal["ParameterChange"] = "ParameterChange"
    target: str
    key: str
    value: Any


class SourceQuoteIn(BaseModel):
    """One oracle source's quote inside :class:`OracleQuotes` (prices in quote per underlying unit)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    source: str = Field(min_length=1, max_length=64)
    price: StrictDecimal
    conf: StrictDecimal = Decimal(0)
    ts_ns: int = Field(ge=0, le=INT64_MAX)


class OracleQuotes(_Event):
    """Quotes from several sources for one market; the engine aggregates them (median, outliers,
    staleness, confidence) with the market's configured aggregator and applies its gates."""

    kind: Literal["OracleQuotes"] = "OracleQuotes"
    instrument: str
    quotes: list[SourceQuoteIn] = Field(max_length=64)


class ResetBreaker(_Event):
    """Resets a tripped circuit breaker by hand (a risk officer's action)."""

    kind: Literal["ResetBreaker"] = "ResetBreaker"
    name: str = Field(min_length=1, max_length=128)
    by: str = Field(default="operator", min_length=1, max_length=64)


class LiabilitiesRoot(_Event):
    """Publishes the root of a Merkle sum tree of liabilities over the state after event ``sequence``.

    ``totals`` maps each asset to ``{"assets": str, "liabilities": str}`` (int base units): the sums
    of positive and of negative account equity. The engine recomputes both from its own state and
    rejects the event unless they agree to the unit, so a journaled root always matches the ledger;
    the root hash itself binds per-account salts the engine never sees (see
    :mod:`ramparts.solvency.engine_snapshot`).
    """

    kind: Literal["LiabilitiesRoot"] = "LiabilitiesRoot"
    snapshot_id: str = Field(min_length=1, max_length=256)
    sequence: int = Field(ge=0)
    root_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    account_count: int = Field(ge=0)
    totals: dict[str, dict[str, str]]


class LiquidationBid(_Event):
    """A keeper (``liquidator``, an ordinary sub-account) claims the next liquidation step of
    ``subaccount`` at the current price, or buys its Dutch auction at the current discount.

    The keeper receives the closed position and must pass initial margin after taking it. The
    step is the one the waterfall would take (to the buffer), capped by ``max_fraction_ppm`` of the
    position or by ``size`` (in the instrument's units; at most one of the two). The bid is refused
    when the current discount (the liquidator's share of the penalty, the oracle fee, or the
    auction's discount, in ppm) is below ``min_discount_ppm``. With ``batch_auction`` on, bids
    wait for the next tick and are cleared together at one uniform discount.
    """

    kind: Literal["LiquidationBid"] = "LiquidationBid"
    liquidator: str
    subaccount: str
    max_fraction_ppm: int | None = None
    size: StrictDecimal | None = None
    min_discount_ppm: int = 0


#: The most levels a side of a :class:`BookSnapshot` may have.
MAX_BOOK_LEVELS = 500


class BookSnapshot(_Event):
    """The venue's displayed liquidity of ``instrument``, ``[[price, size], ...]`` a side, best first
    (see the module docstring); order-book liquidation trades against it."""

    kind: Literal["BookSnapshot"] = "BookSnapshot"
    instrument: str
    bids: list[tuple[StrictDecimal, StrictDecimal]] = Field(default_factory=list, max_length=MAX_BOOK_LEVELS)
    asks: list[tuple[StrictDecimal, StrictDecimal]] = Field(default_factory=list, max_length=MAX_BOOK_LEVELS)


#: The most items a :class:`TradeBatch` may carry.
MAX_BATCH_ITEMS = 100_000
_BatchInt = Annotated[int, Field(ge=0, le=4 * 10**15)]  # MAX_NOTIONAL: a larger tick or lot count overflows anyway
_BatchSub = Annotated[int, Field(ge=-1, le=MAX_BATCH_ITEMS)]
_BatchFee = Annotated[int, Field(ge=0, le=10**17)]  # MAX_BALANCE


class TradeBatch(_Event):
    """Batch mode: an ordered run of fills and index prices in columnar form, one journal row.

    Item ``k`` is a fill (``item_kind[k] == "F"``) or an index price (``"P"``) of instrument
    ``instruments[instrument[k]]`` at time ``time[k]``; it is applied exactly as the equivalent
    :class:`Fill` or :class:`OraclePrice` event would be, in order, and a refused item changes
    nothing and is reported as a ``Rejected`` effect (the rest of the batch goes on). Integers on
    the instruments' own grids, as matching engines emit them:

    * ``price[k]``: ticks of the instrument's tick grid (a fill's price, or the index price:
      ``price = price[k] × tick_size``; a finer index needs an :class:`OraclePrice`);
    * ``size[k]``: lots (size steps) bought by ``subaccounts[buyer[k]]`` from
      ``subaccounts[seller[k]]``; ``buyer``, ``seller`` and ``size`` are ``-1``, ``-1``, ``0`` on
      price items;
    * ``buyer_fee`` / ``seller_fee``: settlement-asset base units (omitted: no fees).

    ``time`` never decreases and ends at or before ``ts``, which becomes the engine time.
    Structural faults (unequal lengths, an index out of its table, an unknown symbol or
    sub-account, time going backwards) reject the whole batch and change nothing.
    """

    kind: Literal["TradeBatch"] = "TradeBatch"
    instruments: list[str] = Field(min_length=1, max_length=10_000)
    subaccounts: list[str] = Field(default_factory=list, max_length=2 * MAX_BATCH_ITEMS)
    item_kind: str = Field(min_length=1, max_length=MAX_BATCH_ITEMS, pattern=r"^[FP]+$")
    time: list[Annotated[int, Field(ge=0, le=INT64_MAX)]] = Field(max_length=MAX_BATCH_ITEMS)
    instrument: list[Annotated[int, Field(ge=0, lt=10_000)]] = Field(max_length=MAX_BATCH_ITEMS)
    buyer: list[_BatchSub] = Field(max_length=MAX_BATCH_ITEMS)
    seller: list[_BatchSub] = Field(max_length=MAX_BATCH_ITEMS)
    price: list[_BatchInt] = Field(max_length=MAX_BATCH_ITEMS)
    size: list[_BatchInt] = Field(max_length=MAX_BATCH_ITEMS)
    buyer_fee: list[_BatchFee] | None = Field(default=None, max_length=MAX_BATCH_ITEMS)
    seller_fee: list[_BatchFee] | None = Field(default=None, max_length=MAX_BATCH_ITEMS)


class ListLocation(_Event):
    """Lists a location where collateral is held (a chain, a bridge, a custodian, another venue) and
    binds assets to it: ``assets`` maps each listed collateral asset to its exposure limit (whole
    units, the most the venue holds there). ``finality_ns``: how long a transfer over it takes to
    be final; ``pending_haircut_ppm``: the share of a pending deposit's value left out until then
    (see :mod:`ramparts.engine.locations`)."""

    kind: Literal["ListLocation"] = "ListLocation"
    location: str
    finality_ns: int = Field(ge=0, le=INT64_MAX)
    pending_haircut_ppm: int = Field(ge=0, le=1_000_000)
    assets: dict[str, StrictDecimal]


class LocationStatus(_Event):
    """A location halts, resumes or fails: ``status`` ``active``, ``halted`` (no deposits or
    withdrawals, nothing in transit moves) or ``failed`` (as halted, and its assets are valued at
    ``backing_ppm`` of their price: the backing that remains). ``backing_ppm`` is required when
    failing; otherwise omitted keeps the current one."""

    kind: Literal["LocationStatus"] = "LocationStatus"
    location: str
    status: Literal["active", "halted", "failed"]
    backing_ppm: int | None = Field(default=None, ge=0, le=1_000_000)
    note: str = Field(default="", max_length=256)


class LocationDeposit(_Event):
    """A deposit of an asset that arrives over its location: pending until the location's finality."""

    kind: Literal["LocationDeposit"] = "LocationDeposit"
    subaccount: str
    asset: str
    amount: StrictDecimal
    location: str


class LocationWithdraw(_Event):
    """A withdrawal of an asset out over its location: it leaves the account at once and arrives after
    the location's finality (in flight until then)."""

    kind: Literal["LocationWithdraw"] = "LocationWithdraw"
    subaccount: str
    asset: str
    amount: StrictDecimal
    location: str


class Tick(_Event):
    """Drives the liquidation waterfall; ``liquidator`` is the keeper credited with penalties."""

    kind: Literal["Tick"] = "Tick"
    liquidator: str = "keeper"


Event = Annotated[
    Genesis
    | ListAsset
    | ListInstrument
    | OpenSubAccount
    | Deposit
    | Withdraw
    | FundInsurance
    | Fill
    | OraclePrice
    | AssetPrice
    | ExchangeRate
    | FundingTick
    | Settlement
    | ParameterChange
    | LiabilitiesRoot
    | OracleQuotes
    | ResetBreaker
    | LiquidationBid
    | BookSnapshot
    | TradeBatch
    | ListLocation
    | LocationStatus
    | LocationDeposit
    | LocationWithdraw
    | Tick,
    Field(discriminator="kind"),
]

EVENT_TYPES: dict[str, type[_Event]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        Genesis,
        ListAsset,
        ListInstrument,
        OpenSubAccount,
        Deposit,
        Withdraw,
        FundInsurance,
        Fill,
        OraclePrice,
        AssetPrice,
        ExchangeRate,
        FundingTick,
        Settlement,
        ParameterChange,
        LiabilitiesRoot,
        OracleQuotes,
        ResetBreaker,
        LiquidationBid,
        BookSnapshot,
        TradeBatch,
        ListLocation,
        LocationStatus,
        LocationDeposit,
        LocationWithdraw,
        Tick,
    )
}

_ADAPTER: TypeAdapter = TypeAdapter(Event)


#: the one encoder of the canonical form (``json.dumps`` with these options builds one per call)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(obj: Any) -> str:
    """The canonical JSON text of a JSON-able object: sorted keys, no whitespace."""
    if type(obj) is list and not obj:  # most events' effects
        return "[]"
    return _CANONICAL.encode(obj)


#: JSON string literal of a ``str`` as the canonical encoder writes it (``ensure_ascii``): the same C function
json_string = json.encoder.encode_basestring_ascii


def _encode_fill(e: Fill) -> str:
    # the canonical text written directly: keys in sorted order, decimals as ``str``, as ``model_dump`` + the encoder
    return (f'{{"buyer":{json_string(e.buyer)},"buyer_fee":"{e.buyer_fee!s}","instrument":{json_string(e.instrument)},"kind":"Fill",'
            f'"price":"{e.price!s}","seller":{json_string(e.seller)},"seller_fee":"{e.seller_fee!s}","size":"{e.size!s}",'
            f'"ts":{int(e.ts)}}}')  # fmt: skip


def _encode_oracle_price(e: OraclePrice) -> str:
    book = "null" if e.book_price is None else f'"{e.book_price!s}"'
    return f'{{"book_price":{book},"instrument":{json_string(e.instrument)},"kind":"OraclePrice","price":"{e.price!s}","ts":{int(e.ts)}}}'


#: the most frequent events, encoded without the generic dump (``tests/test_event_encoding.py`` holds them equal to it)
def _encode_trade_batch(e: TradeBatch) -> str:
    # keys in sorted order; the integer columns by the compiled writer (a sixth of a 1,000-item batch's cost through
    # the generic encoder), the text tables and item_kind by json's own encoder
    from ramparts.engine.canonical import int_list  # (canonical imports this module)

    def fees(v: list[int] | None) -> str:
        return "null" if v is None else int_list(v)

    return (f'{{"buyer":{int_list(e.buyer)},"buyer_fee":{fees(e.buyer_fee)},"instrument":{int_list(e.instrument)},'
            f'"instruments":{_CANONICAL.encode(e.instruments)},"item_kind":{json_string(e.item_kind)},"kind":"TradeBatch",'
            f'"price":{int_list(e.price)},"seller":{int_list(e.seller)},"seller_fee":{fees(e.seller_fee)},'
            f'"size":{int_list(e.size)},"subaccounts":{_CANONICAL.encode(e.subaccounts)},"time":{int_list(e.time)},'
            f'"ts":{int(e.ts)}}}')  # fmt: skip


_FAST_ENCODE: dict[type, Any] = {Fill: _encode_fill, OraclePrice: _encode_oracle_price, TradeBatch: _encode_trade_batch}


#: the canonical texts of the fast encoders, read back without the validator (:func:`_decode_fast`): a name is printable
#: ASCII without ``"`` or ``\\`` (the encoder then writes it as is; anything else, and any other layout, is the validator's)
_NAME = r'"([ !#-\[\]-~]*)"'
_DEC = r'"([ !#-\[\]-~]{1,200})"'
_TS = r"(0|[1-9][0-9]{0,18})"
_FILL_TEXT = re.compile(rf'{{"buyer":{_NAME},"buyer_fee":{_DEC},"instrument":{_NAME},"kind":"Fill","price":{_DEC},'
                        rf'"seller":{_NAME},"seller_fee":{_DEC},"size":{_DEC},"ts":{_TS}}}')  # fmt: skip
_PRICE_TEXT = re.compile(rf'{{"book_price":(?:null|{_DEC}),"instrument":{_NAME},"kind":"OraclePrice","price":{_DEC},"ts":{_TS}}}')
#: decimal text → the validator's ``Decimal`` (or ``None``: refused), per distinct text (bounded; not state)
_DECIMALS: dict[str, Decimal | None] = {}
_new_object = object.__new__
_set_slot = object.__setattr__


def _decimal_of(text: str) -> Decimal | None:
    v = _DECIMALS.get(text, _DECIMALS)
    if v is _DECIMALS:
        try:
            v = to_decimal(text, "value")  # what StrictDecimal's validator returns for a JSON string
        except InvalidInput:
            v = None
        if len(_DECIMALS) >= 65_536:
            _DECIMALS.clear()
        _DECIMALS[text] = v
    return v


def _built(cls: type, values: dict[str, Any]) -> _Event:
    # what the validator builds from a text holding every field: the values in field order, every field set
    obj = _new_object(cls)
    _set_slot(obj, "__dict__", values)
    _set_slot(obj, "__pydantic_fields_set__", set(values))
    _set_slot(obj, "__pydantic_extra__", None)
    _set_slot(obj, "__pydantic_private__", None)
    return obj


def _decode_fill(text: str) -> Fill | None:
    m = _FILL_TEXT.fullmatch(text)
    if m is None:
        return None
    buyer, buyer_fee, instrument, price, seller, seller_fee, size, ts = m.groups()
    ts = int(ts)
    decimals = (_decimal_of(price), _decimal_of(size), _decimal_of(buyer_fee), _decimal_of(seller_fee))
    if ts > INT64_MAX or None in decimals:
        return None
    return _built(Fill, {"ts": ts, "kind": "Fill", "instrument": instrument, "buyer": buyer, "seller": seller, "price": decimals[0],
                         "size": decimals[1], "buyer_fee": decimals[2], "seller_fee": decimals[3]})  # fmt: skip


def _decode_oracle_price(text: str) -> OraclePrice | None:
    m = _PRICE_TEXT.fullmatch(text)
    if m is None:
        return None
    book_text, instrument, price, ts = m.groups()
    ts = int(ts)
    price, book = _decimal_of(price), None if book_text is None else _decimal_of(book_text)
    if ts > INT64_MAX or price is None or (book is None and book_text is not None):
        return None
    return _built(OraclePrice, {"ts": ts, "kind": "OraclePrice", "instrument": instrument, "price": price, "book_price": book})


#: per canonical text's opening, its reader: the event :func:`parse_event` would build, or ``None`` (then the validator
#: reads it, and words any error). ``tests/test_event_decoding.py`` holds the two equal on canonical and on altered texts.
_FAST_DECODE: dict[str, Any] = {'{"buyer":"': _decode_fill, '{"book_pri': _decode_oracle_price}


def _decode_fast(text: str) -> _Event | None:
    fast = _FAST_DECODE.get(text[:10])
    return None if fast is None else fast(text)


def encode_event(event: _Event) -> str:
    """Canonical JSON of an event (decimals as strings): ``canonical_json(event.model_dump(mode="json"))``, written
    directly for a ``Fill`` or an ``OraclePrice`` (a fifth of a journaled fill's cost otherwise) and a ``TradeBatch``
    (its integer columns by a compiled writer)."""
    fast = _FAST_ENCODE.get(type(event))
    if fast is not None:
        return fast(event)
    return canonical_json(event.model_dump(mode="json"))


def check_readable(payload: str) -> None:
    """Raise :class:`InvalidInput` unless the journal could read ``payload`` (an :func:`encode_event` text) back: a
    free JSON value (a parameter, a collateral or margin object) may hold a lone surrogate (``"\\ud800"``), which
    :func:`decode_event` refuses, so journaling it would leave a journal that no replay reads."""
    if "\\ud" not in payload:  # no surrogate escape at all: the common case costs one scan
        return
    if not all_valid_unicode(json.loads(payload)):
        raise InvalidInput("event", "a string is not valid Unicode (a lone surrogate): the journal could not read it back")


def parse_event(data: Any) -> _Event:
    """Validate a dict (or JSON text) into an event; a malformed one raises :class:`InvalidInput`."""
    try:
        if isinstance(data, str):
            fast = _decode_fast(data)
            if fast is not None:
                return fast
        if isinstance(data, (str, bytes)):
            return _ADAPTER.validate_json(data)
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "event"
        if err.get("type", "").startswith("union_tag"):
            field = "kind"
        raise InvalidInput(field, err.get("msg", "invalid")) from None


def decode_event(kind: str, payload: str, seq: int | None = None) -> _Event:
    """Decode a journal row back into its event; anything off raises :class:`JournalCorrupt`."""
    try:
        event = parse_event(payload)
    except InvalidInput as exc:
        raise JournalCorrupt(f"journal row {seq}: payload does not parse ({exc})") from None
    if event.kind != kind:
        raise JournalCorrupt(f"journal row {seq}: kind {kind!r} does not match payload {event.kind!r}")
    return event
