"""The engine: a deterministic state machine ``apply(event) -> effects`` over the journal's events.

It owns the whole risk state of a venue: the listed assets and instruments, the sub-accounts, the
positions (struct-of-arrays, :class:`~ramparts.engine.positions.PositionBook`), the exact ledger,
the marks, and the waterfall's bookkeeping. Applying an event either succeeds, returning its
effects, or raises a :class:`~ramparts.errors.RampartsError` and leaves the state **unchanged**:
every handler validates everything before it mutates anything.

Money flows (all balanced postings in :class:`~ramparts.ledger.Ledger`):

* a fill moves no cash: each side's cost basis changes by ``lots × price``; fees go to ``fees``;
* variation margin: whenever a sub-account is touched (fill, withdrawal, liquidation) its
  positions' unrealised PnL ``lots × mark − cost`` is realised into its cash against the market's
  ``vm:<SYMBOL>`` settlement account and the cost reset to ``lots × mark``; a funding tick
  realises every position of the market, which brings ``vm:<SYMBOL>`` back to exactly zero;
* funding is paid as variation margin at each :class:`FundingTick`, payers rounded up and
  receivers down, the residue to ``fees``;
* the waterfall moves penalties, insurance-fund draws, deleveraging and socialised loss
  (see :mod:`ramparts.liquidation.waterfall`).

One :class:`OraclePrice` re-margins only the holders of that instrument, in one vectorised numpy
pass: per-position caches of notional value, initial and maintenance margin are recomputed and the
per-sub-account sums adjusted by the differences, so the equity and requirement of every
sub-account are always current without touching the others. By default it goes further
(:mod:`~ramparts.engine.tick_slack`): each sub-account keeps a band of marks within which its
margin slack provably holds, and a tick re-margins only the holders whose band the new mark
leaves; the caches of the others catch up on read, and effects and state are those of the full
pass (``Engine.lazy_remargin = False`` forces it).

Equity of a sub-account = cash + Σ (lots × mark − cost) + the haircut value of its other
collateral assets (cached per sub-account in ``sub_coll``, re-valued over an asset's holders
when its price, exchange rate or haircut changes; see :mod:`ramparts.engine.collateral`).
Requirements are the sum of the per-position schedule requirements (a sub-account in
``isolated`` mode holds a single instrument), plus, with a venue correlation matrix, the stressed
correlation add-on of cross sub-accounts holding several underlyings, plus the requirements on
borrowed assets; options add the max-loss bound of their combinations and ``portfolio``
sub-accounts replace the sum by a scenario requirement. Initial margin is checked on
risk-increasing fills and on withdrawals; maintenance drives liquidation.

The handlers of each concern beyond the core live in mixins, one module each:
:mod:`~ramparts.engine.collateral_ops` (collateral, borrowing, correlation add-on),
:mod:`~ramparts.engine.oracle_ops` (quoted oracle, gates, breakers),
:mod:`~ramparts.engine.derivatives_ops` (options, portfolio margin, the waterfall's position
choice), :mod:`~ramparts.engine.solvency_ops` (proof of liabilities),
:mod:`~ramparts.engine.batch_ops` (batch mode: ``TradeBatch``, compiled by
:mod:`~ramparts.engine.batch_kernel`), :mod:`~ramparts.engine.tick_slack` (the lazy
re-margin of oracle ticks) and :mod:`~ramparts.engine.locations` (collateral held elsewhere:
finality, transit, exposure limits, halts and failures).

On a shard of a sharded venue (:mod:`ramparts.shard`), ``shard_link`` is how the engine reaches the
sub-accounts another shard owns (a trade leg, its VM, a fill's fee and margin check); it is ``None``
for one engine, which then behaves, and hashes, exactly as without it.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np

from ramparts.domain.accounts import _NAME, MODE_CODE, MarginMode, SubAccountId, SubAccounts
from ramparts.domain.assets import Asset, check_symbol
from ramparts.domain.instruments import Instrument, InstrumentKind
from ramparts.engine import canonical, snapshot
from ramparts.engine import events as ev
from ramparts.engine.batch_kernel import reprice_holders
from ramparts.engine.batch_ops import BatchOps
from ramparts.engine.collateral import CollateralState, parse_collateral
from ramparts.engine.collateral_ops import CollateralOps
from ramparts.engine.defences import OracleDefences
from ramparts.engine.derivatives_ops import DerivativesOps
from ramparts.engine.events import canonical_json
from ramparts.engine.flagged import FlaggedSet
from ramparts.engine.locations import LocationOps, LocationState
from ramparts.engine.oracle_ops import OracleOps
from ramparts.engine.positions import PositionBook
from ramparts.engine.solvency_ops import SolvencyOps
from ramparts.engine.tick_slack import TickSlackOps
from ramparts.errors import InvalidInput, RampartsError, Rejected, UnknownEntity
from ramparts.fixedpoint import MAX_NOTIONAL, PPB, PPM, to_decimal
from ramparts.ledger.ledger import Ledger
from ramparts.liquidation.config import LiquidationConfig
from ramparts.liquidation.waterfall import keeper_bid, run_waterfall
from ramparts.margin.funding import FundingParams, funding_rate_ppb, premium_index_ppb
from ramparts.margin.models import CompositeMarginModel
from ramparts.margin.schedule import MarginSchedule
from ramparts.oracle.mark import IndexMark, MarkState, mark_model_from_dict

#: Version of the canonical state (and snapshots). 2 added proof-of-liabilities roots, oracle defences,
#: options and portfolio sub-accounts; a snapshot of another version is not restored: the journal is
#: replayed from its first event instead (see :func:`ramparts.engine.node.replay`).
STATE_VERSION = 2


def snapshot_version(blob: bytes) -> int | None:
    """The state version recorded in a snapshot blob, or ``None`` if it cannot be read."""
    if snapshot.is_container(blob):
        state = snapshot.peek_state(blob)
        return None if state is None else state.get("version")
    try:
        return json.loads(zlib.decompress(blob)).get("version")
    except Exception:  # noqa: BLE001 - unreadable: the caller treats it as corrupt
        return None


_POSITIONS_KEY = b'"positions":['
_INT64 = np.iinfo(np.int64)
_PART = _NAME.pattern.removesuffix(r"\Z")
#: every canonical "account/sub" text of a register, joined by newlines (no name can hold one)
_SUB_NAMES = re.compile(rf"(?:{_PART}/{_PART}\n)*\Z")


def _parse_state(raw: bytes, trusted: bool) -> dict:
    """``json.loads`` of a canonical state. When ``trusted`` (its bytes matched the journaled state hash, so
    the engine wrote them), the positions' table, over two thirds of a large venue's bytes, is cut out and parsed
    by numpy into an ``(n, 5)`` int64 array instead of a list per position (at 1M sub-accounts × 4 positions:
    ~1.3 s against ~5.5 s for the lists and their conversion); anything unexpected in it falls back to
    ``json.loads`` of the whole."""
    i = raw.find(_POSITIONS_KEY) if trusted else -1
    if i < 0 or raw.find(_POSITIONS_KEY, i + 1) >= 0:  # a second one could be a nested key: not cut blindly
        return json.loads(raw)
    start = i + len(_POSITIONS_KEY) - 1
    end = raw.find(b"]]", start)
    if end < 0 or raw[start + 1: start + 2] != b"[":  # "[]": nothing to cut
        return json.loads(raw)
    seg = raw[start + 1: end + 1]  # "[s,i,l,c,e],[s,i,l,c,e],…"
    rows = seg.count(b"[")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns when it stops short of the end
            table = np.fromstring(seg.replace(b"[", b"").replace(b"]", b""), dtype=np.int64, sep=",")
    except Exception:  # noqa: BLE001 - not plain integers: the general path decides
        return json.loads(raw)
    # numpy saturates an integer beyond int64 where json.loads + np.array would refuse it: those go the long way
    if table.size != 5 * rows or (table == _INT64.max).any() or (table == _INT64.min).any():
        return json.loads(raw)
    d = json.loads(raw[: start] + b"[]" + raw[end + 2:])
    if d.get("positions") != []:
        return json.loads(raw)
    d["positions"] = table.reshape(rows, 5)
    return d


def _checked_names(names: list) -> list[str]:
    """``names`` once each is a canonical sub-account text (:meth:`SubAccountId.canonical`), all in one
    regular-expression pass (a quarter of the per-text parse's time at a million)."""
    try:
        checked = _SUB_NAMES.match("\n".join(names) + "\n" if names else "")
    except TypeError:  # a text that is no string: refused below
        checked = None
    if not checked:
        names = [SubAccountId.canonical(n) for n in names]  # raises on the first that is not canonical
    return names


class _Tables(NamedTuple):
    """The state's three large tables as the engine holds them (:meth:`Engine._tables`)."""

    names: list[str]
    instruments: Sequence[int]
    flags: bytes
    positions: np.ndarray  # (n, 5): sub, instrument, lots, cost, entry, sorted by (sub, instrument)
    before: list  # the ledger's rows before the sub-accounts' settlement cash
    cash_subs: np.ndarray
    cash: np.ndarray
    after: list  # and after it


class _SubColumns(NamedTuple):
    """A snapshot container's sub-account register (:meth:`SubAccounts.extend`'s columns)."""

    names: list[str]
    instruments: np.ndarray
    flags: bytes


class _LedgerColumns(NamedTuple):
    """A snapshot container's ledger (:meth:`Ledger.load_columns`'s parts)."""

    named: list
    cash_subs: np.ndarray
    cash: np.ndarray


def _sub_rows(rows: list) -> tuple[list[str], np.ndarray, bytes]:
    """A snapshot's ``[text, mode, instrument, system]`` rows as the columns :meth:`SubAccounts.extend` takes (texts,
    bound instruments with −1 for none, flags), each text checked as :meth:`SubAccountId.canonical` checks it, all
    texts in one regular-expression pass (a quarter of the per-text parse's time at a million); an unknown mode
    raises ``KeyError``."""
    names = _checked_names([r[0] for r in rows])
    n = len(rows)
    codes = np.fromiter(map(MODE_CODE.__getitem__, [r[1] for r in rows]), dtype=np.uint8, count=n)
    system = np.fromiter([bool(r[3]) for r in rows], dtype=np.bool_, count=n)
    instruments = np.fromiter([-1 if r[2] is None else r[2] for r in rows], dtype=np.int64, count=n)
    return names, instruments, (codes | (system.astype(np.uint8) << 2)).tobytes()


@dataclass
class MarketState:
    """Mutable per-instrument state: index, mark, mark-model state, status."""

    index_price: int = 0
    mark: int = 0
    mark_state: MarkState | None = None
    last_oracle_ns: int = -1
    last_funding_ns: int = -1
    settled: bool = False
    last_funding_rate_ppb: int = 0

    def to_dict(self) -> dict:
        ms = self.mark_state
        return {
            "index_price": self.index_price,
            "mark": self.mark,
            "mark_state": None if ms is None else [ms.mark, ms.ema_basis, ms.last_ts],
            "last_oracle_ns": self.last_oracle_ns,
            "last_funding_ns": self.last_funding_ns,
            "settled": self.settled,
            "last_funding_rate_ppb": self.last_funding_rate_ppb,
        }


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """A sub-account's risk at the current marks (quote base units)."""

    subaccount: str
    cash: int
    equity: int
    initial_margin: int
    maintenance_margin: int
    in_liquidation: bool

    @property
    def margin_ratio(self) -> float | None:
        """Maintenance margin / equity (≥ 1 means liquidatable); None without positions."""
        if self.maintenance_margin == 0:
            return None
        return float("inf") if self.equity <= 0 else self.maintenance_margin / self.equity

    @property
    def free_collateral(self) -> int:
        return max(self.equity - self.initial_margin, 0)


def _grow(arr: np.ndarray, n: int) -> np.ndarray:
    if n <= arr.shape[0]:
        return arr
    out = np.zeros(max(n, arr.shape[0] * 2), dtype=arr.dtype)
    # a page of np.zeros is resident only once written: copying a column that is (nearly) all zero, as most
    # of these are on a venue without options, portfolio margin or multi-asset collateral, would make it so
    k = np.count_nonzero(arr)
    if k > arr.shape[0] // 64:
        out[: arr.shape[0]] = arr
    elif k:
        nz = np.flatnonzero(arr)
        out[nz] = arr[nz]
    return out


class Engine(TickSlackOps, CollateralOps, OracleOps, DerivativesOps, SolvencyOps, BatchOps, LocationOps):
    """The deterministic margin and liquidation state machine (see the module docstring)."""

    #: re-margin tiered instruments of cross / isolated holders in one compiled pass (the numpy
    #: passes otherwise; the tests run both and compare)
    compiled_remargin = True
    #: a shard of a sharded venue (:mod:`ramparts.shard`): the link to the other shards, through which
    #: this engine reaches the sub-accounts it does not own; ``None`` (one engine owns everything)
    shard_link = None

    def __init__(self) -> None:
        self.genesis: dict | None = None
        self.settlement: Asset | None = None
        self.assets: dict[str, Asset] = {}
        self.instruments: list[Instrument] = []
        self.markets: list[MarketState] = []
        self.mark_models: list[Any] = []
        self._instr_by_symbol: dict[str, int] = {}
        self.subs = SubAccounts()  # identities as columns: ``subs[s]`` builds the record on demand
        self._sub_by_str = self.subs.by_name  # the canonical "account/sub" text of each id → index
        self._sub_by_id = self.subs.by_id  # SubAccountId → index, through its text (no second dict)
        self.book = PositionBook()
        self._lz_init()  # the lazy re-margin's state (ramparts.engine.tick_slack); registers itself as the book's owner
        self.ledger: Ledger | None = None
        self.liq = LiquidationConfig()
        self.margin_model = CompositeMarginModel()
        self._options_by_index: dict[int, list[int]] = {}  # index instrument → options whose spot it gives
        self.backstop: int | None = None
        # per-sub-account aggregates (quote units) and flags
        cap = 1024
        self.sub_value = np.zeros(cap, dtype=np.int64)
        self.sub_cost = np.zeros(cap, dtype=np.int64)
        self.sub_mm = np.zeros(cap, dtype=np.int64)
        self.sub_im = np.zeros(cap, dtype=np.int64)
        self.in_liquidation = np.zeros(cap, dtype=bool)
        self.margin_called = np.zeros(cap, dtype=bool)
        self.is_system = np.zeros(cap, dtype=bool)
        # the max-loss bound of option combinations: requirement adjustments (≤ 0) already in sub_im / sub_mm
        self.sub_opt_adj_im = np.zeros(cap, dtype=np.int64)
        self.sub_opt_adj_mm = np.zeros(cap, dtype=np.int64)
        # portfolio sub-accounts: scenario requirement − Σ per-position requirements, folded into sub_im / sub_mm
        self.sub_pm_adj_im = np.zeros(cap, dtype=np.int64)
        self.sub_pm_adj_mm = np.zeros(cap, dtype=np.int64)
        self.is_portfolio = np.zeros(cap, dtype=bool)
        self.n_portfolio = 0  # sub-accounts in portfolio mode (set once, in _add_sub): no per-tick scan of is_portfolio
        self.sub_isolated = np.full(cap, -1, dtype=np.int64)  # the instrument of an isolated sub-account, −1 otherwise
        self.pm_config: dict = {}  # portfolio margin: correlation between underlyings, contingencies, mm factor
        # multi-asset collateral: haircut value of non-settlement assets; correlation add-ons (in sub_im / sub_mm)
        self.sub_coll = np.zeros(cap, dtype=np.int64)
        self.sub_borrow_im = np.zeros(cap, dtype=np.int64)  # requirements on borrowed assets (in sub_im / sub_mm)
        self.sub_borrow_mm = np.zeros(cap, dtype=np.int64)
        self.sub_corr_im = np.zeros(cap, dtype=np.int64)
        self.sub_corr_mm = np.zeros(cap, dtype=np.int64)
        self.collateral = CollateralState()
        self.locations = LocationState()  # where collateral is held, and what is in transit (ramparts.engine.locations)
        self.last_step_ns: dict[int, int] = {}
        self.insolvent = FlaggedSet()  # sub-accounts with negative equity (a set, with its mask kept for the compiled passes)
        self.global_draws: dict[int, int] = {}
        self.global_draws_ts = -1
        self.auctions: dict[int, int] = {}  # sub-account → start of its Dutch auction, or of its liquidation under Drift's rising fee (ns)
        self.insolvent_auctions: dict[int, int] = {}  # sub-account → start of its Derive insolvent auction (ns)
        self.liq_freed: dict[int, int] = {}  # sub-account → margin its liquidation freed so far (Drift's max pct; base units)
        self.pending_bids: list[dict] = []  # keepers' bids waiting for the tick's batch auction
        # instrument → latest BookSnapshot: {"ts", "bids": [[lot price, lots], ...], "asks": [...]} (liquidation fills consume it)
        self.books: dict[int, dict] = {}
        self.liabilities_roots: list[dict] = []  # journaled Merkle-sum roots (proof of liabilities)
        self.defences = OracleDefences()  # oracle aggregation, gates and circuit breakers
        self.time_ns = 0
        self.seq = 0

    # ================================================================== public API
    def apply(self, event: ev._Event | dict) -> list[dict]:
        """Apply one event; returns its effects. On any error the state is unchanged."""
        if isinstance(event, dict):
            event = ev.parse_event(event)
        if event.ts < self.time_ns:
            raise InvalidInput("ts", f"event time {event.ts} is before the engine time {self.time_ns}")
        if self.genesis is None and not isinstance(event, ev.Genesis):
            raise Rejected("no_genesis", "the first event must be Genesis")
        handler = getattr(self, "_on_" + event.kind)
        if event.kind != "TradeBatch":  # a batch's bands hold only while nothing but its kernel changes the book
            self._band_live = False
        # the lazy re-margin applies each event under its policy (ramparts.engine.tick_slack)
        effects = self._lz_apply(event, handler) if self.lazy_remargin or self._lz_was_on else handler(event)
        self.time_ns = event.ts
        self.seq += 1
        return effects

    def sub_index(self, subaccount: str | SubAccountId, field: str = "subaccount") -> int:
        if isinstance(subaccount, str):  # the hot path: a known id as the events carry it
            idx = self._sub_by_str.get(subaccount)
            if idx is not None:
                return idx
        sid = SubAccountId.parse(subaccount, field)
        idx = self._sub_by_str.get(str(sid))
        if idx is None:
            raise UnknownEntity(field, f"unknown sub-account {sid}")
        return idx

    def instrument(self, symbol: str, field: str = "instrument") -> Instrument:
        idx = self._instr_by_symbol.get(symbol) if isinstance(symbol, str) else None
        if idx is None:
            raise UnknownEntity(field, f"unknown instrument {symbol!r}")
        return self.instruments[idx]

    def equity(self, s: int) -> int:
        self._lz_read(s)  # exact: brings this sub-account's caches up to date if a lazy tick left them behind
        return int(self.ledger.sub_cash[s]) + int(self._sub_value[s]) - int(self.sub_cost[s]) + int(self.sub_coll[s])

    def equity_array(self, subs: np.ndarray | slice | None = None) -> np.ndarray:
        """Equity of ``subs`` (default: every sub-account), vectorised: cash + uPnL + collateral value."""
        if subs is None:
            subs = slice(0, len(self.subs))
        self._lz_read(subs)
        return self.ledger.sub_cash[subs] + self._sub_value[subs] - self.sub_cost[subs] + self.sub_coll[subs]

    def risk(self, subaccount: str | int) -> AccountRisk:
        s = subaccount if isinstance(subaccount, int) else self.sub_index(subaccount)
        self._lz_read(s)
        return AccountRisk(
            subaccount=self.subs.name(s),
            cash=int(self.ledger.sub_cash[s]),
            equity=self.equity(s),
            initial_margin=int(self._sub_im[s]),
            maintenance_margin=int(self._sub_mm[s]),
            in_liquidation=bool(self.in_liquidation[s]),
        )

    def liquidation_price(self, subaccount: str | int) -> Decimal | None:
        """Liquidation price of a sub-account holding a single position (isolated, or a
        single-position cross account): the last price at which equity ≥ maintenance margin.
        ``None`` without exactly one position, or when no price liquidates it."""
        from ramparts.margin.liquidation_price import liquidation_price

        s = subaccount if isinstance(subaccount, int) else self.sub_index(subaccount)
        positions = self.book.positions_of(s)
        if len(positions) != 1:
            return None
        instr_idx, slot = positions[0]
        instr = self.instruments[instr_idx]
        lots, cost = int(self.book.lots[slot]), int(self.book.cost[slot])
        cash = int(self.ledger.sub_cash[s]) + int(self.sub_coll[s])  # collateral at its current haircut value
        lp = liquidation_price(lots, cost, cash, instr.schedule, instr.lot_underlying)
        return None if lp is None else instr.price(lp)

    def position(self, subaccount: str | int, symbol: str) -> tuple[int, int, int]:
        """(lots, cost, entry) of a position, zeros if flat."""
        s = subaccount if isinstance(subaccount, int) else self.sub_index(subaccount)
        slot = self.book.slot(s, self.instrument(symbol).index)
        if slot is None:
            return (0, 0, 0)
        return (int(self.book.lots[slot]), int(self.book.cost[slot]), int(self.book.entry[slot]))

    # notebook views (pandas is imported on first use, not with the engine); see ramparts.engine.frames
    def position_record(self, subaccount: str | int, symbol: str):
        """The position as a :class:`~ramparts.engine.frames.Position` named tuple: lots, size,
        cost and entry notional in base units, the average entry *price*, the mark, notional, uPnL."""
        from ramparts.engine import frames

        return frames.position_record(self, subaccount, symbol)

    def accounts(self):
        """Every non-system sub-account's cash, equity, margins, margin ratio and liquidation price
        as a pandas DataFrame: human units, with the exact integers in ``*_units`` columns."""
        from ramparts.engine import frames

        return frames.accounts(self)

    def positions(self):
        """Every open position as a pandas DataFrame (size, entry price, mark, notional, uPnL)."""
        from ramparts.engine import frames

        return frames.positions(self)

    def effects_frame(self, fx: list[dict]):
        """Effects (as :meth:`apply` returns them) as one pandas DataFrame: a row per effect, money in human units
        with the exact integers in ``*_units`` columns (:func:`ramparts.engine.frames.effects`)."""
        from ramparts.engine import frames

        return frames.effects(self, fx)

    def markets_frame(self):
        """Every instrument's index, mark, open interest and last funding rate as a pandas
        DataFrame (``markets`` itself is the list of :class:`MarketState`)."""
        from ramparts.engine import frames

        return frames.markets(self)

    def open_interest(self, symbol: str) -> int:
        """Long open interest in lots (equal to the short side)."""
        h = self.book.holders(self.instrument(symbol).index)
        lots = self.book.lots[h]
        return int(lots[lots > 0].sum())

    def insurance_key(self, instr: Instrument) -> str:
        return f"insurance:{instr.symbol}" if instr.insurance_fund == "market" else "insurance:global"

    # ================================================================== state hash / snapshot
    def state_dict(self) -> dict:
        """The canonical description of the whole state (derived caches excluded)."""
        led = self.ledger
        return self._state_header() | {
            "subs": self.subs.rows(),
            "positions": self.book.rows(),
            "ledger": [] if led is None else [[a, k, v] for a, k, v in led.items()],
        }

    def _state_header(self) -> dict:
        """:meth:`state_dict` but for its three large tables (the sub-accounts, the positions, the ledger)."""
        return {
            "version": STATE_VERSION,
            "seq": self.seq,
            "time_ns": self.time_ns,
            "genesis": self.genesis,
            "liquidation": self.liq.to_dict(),
            "assets": [self.assets[k].to_dict() for k in sorted(self.assets)],
            "instruments": [
                {"spec": i.to_dict(), "mark_model": self.mark_models[i.index].to_dict(), "market": self.markets[i.index].to_dict()}
                for i in self.instruments
            ],
            "waterfall": {
                "in_liquidation": np.nonzero(self.in_liquidation[: len(self.subs)])[0].tolist(),
                "margin_called": np.nonzero(self.margin_called[: len(self.subs)])[0].tolist(),
                "last_step_ns": sorted([k, v] for k, v in self.last_step_ns.items()),
                "insolvent": sorted(self.insolvent),
                "global_draws": sorted([k, v] for k, v in self.global_draws.items()),
                "global_draws_ts": self.global_draws_ts,
                # the later mechanisms' state, present only while it is not empty (a default venue hashes as before)
                **({"auctions": sorted([k, v] for k, v in self.auctions.items())} if self.auctions else {}),
                **({"pending_bids": self.pending_bids} if self.pending_bids else {}),
                **({"insolvent_auctions": sorted([k, v] for k, v in self.insolvent_auctions.items())} if self.insolvent_auctions else {}),
                **({"liq_freed": sorted([k, v] for k, v in self.liq_freed.items())} if self.liq_freed else {}),
            },
            "liabilities_roots": self.liabilities_roots,
            "defences": self.defences.to_dict(),
            "portfolio": self.pm_config,
        } | ({"collateral": self.collateral.to_dict()} if self.collateral.active else {}) | (
            {"books": [[i, self.books[i]] for i in sorted(self.books)]} if self.books else {}) | (
            {"locations": self.locations.to_dict()} if self.locations.active else {})

    def canonical_state(self) -> bytes:
        """``canonical_json(state_dict())`` as bytes, its three large tables written from the arrays
        (:mod:`ramparts.engine.canonical`: the same bytes, a fraction of the time at a million sub-accounts)."""
        return self._canonical_of(self._tables())

    def _tables(self) -> _Tables | None:
        """The three large tables of the state as arrays (``None`` before the genesis: there is no ledger)."""
        led = self.ledger
        if led is None:
            return None
        names, instruments, flags = self.subs.columns()
        before, held, amounts, after = led.canonical_parts()
        return _Tables(names, instruments, flags, self.book.table(), before, held, amounts, after)

    def _canonical_of(self, t: _Tables | None) -> bytes:
        if t is None:
            return canonical_json(self.state_dict()).encode()
        header = self._state_header()
        for name in ("subs", "positions", "ledger"):
            header[name] = canonical.marker(name)
        cash = canonical.int_rows(np.column_stack((t.cash_subs, t.cash)), prefix=f"{canonical_json(self.ledger.settlement_asset)},".encode())
        ledger = b",".join(x for x in (canonical_json([list(r) for r in t.before])[1:-1].encode(), cash,
                                       canonical_json([list(r) for r in t.after])[1:-1].encode()) if x)
        parts = {"subs": canonical.sub_rows(t.names, t.instruments, t.flags, [m.value for m in MarginMode]),
                 "positions": canonical.int_rows(t.positions), "ledger": ledger}
        try:
            return canonical.splice(canonical_json(header), parts)
        except ValueError:  # a kept text holding a marker: the general encoding
            return canonical_json(self.state_dict()).encode()

    def state_hash(self) -> str:
        """SHA-256 over the canonical encoding of the whole state."""
        return hashlib.sha256(self.canonical_state()).hexdigest()

    def snapshot(self) -> bytes:
        """A compressed canonical snapshot; :meth:`restore` rebuilds an identical engine."""
        return self.snapshot_and_hash()[1]

    def snapshot_and_hash(self) -> tuple[str, bytes]:
        """``(state_hash(), snapshot())``: the hash over the canonical state, and the snapshot as a container
        (:mod:`ramparts.engine.snapshot`): the state but for its three large tables as canonical JSON, the tables as
        arrays, taken at that hash. The tables are read from the engine once for both."""
        t = self._tables()
        state_hash = hashlib.sha256(self._canonical_of(t)).hexdigest()
        header = self._state_header()
        if t is None:
            t = _Tables([], np.zeros(0, dtype=np.int64), b"", np.zeros((0, 5), dtype=np.int64), [],
                        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [])
        header["ledger"] = [list(r) for r in (*t.before, *t.after)]  # every balance but the sub-accounts' cash (an array)
        arrays = {
            "sub_names": np.frombuffer("\n".join(t.names).encode(), dtype=np.uint8),  # (a canonical text holds no newline)
            "sub_instruments": np.asarray(t.instruments, dtype=np.int64),
            "sub_flags": np.frombuffer(t.flags, dtype=np.uint8),
            "positions": np.ascontiguousarray(t.positions.T),  # column by column: each read back without a copy
            "cash_subs": t.cash_subs.astype(np.int64),
            "cash": t.cash.astype(np.int64),
        }
        return state_hash, snapshot.pack(state_hash, header, arrays)

    @classmethod
    def restore(cls, blob: bytes, expect_hash: str | None = None) -> Engine:
        """The engine a :meth:`snapshot` was taken of. With ``expect_hash`` (the state hash journaled beside the
        snapshot), the snapshot's bytes are checked against it first: they *are* the canonical state, so a match
        proves the snapshot is the state the journal recorded, without rebuilding the hash from the restored engine
        (O(state): seconds at a million sub-accounts). That the restored engine reproduces the bytes is the
        property ``tests/test_integration_fuzz.py`` checks on random streams (every cache and the state hash)."""
        engine = cls.restore_current(blob, expect_hash)
        if engine is None:
            from ramparts.errors import JournalCorrupt

            raise JournalCorrupt(f"snapshot version {snapshot_version(blob)} is not {STATE_VERSION}")
        return engine

    @classmethod
    def restore_current(cls, blob: bytes, expect_hash: str | None = None) -> Engine | None:
        """:meth:`restore`, or ``None`` for a snapshot of another :data:`STATE_VERSION` (whose hash is not
        checked: :func:`~ramparts.engine.node.replay` then replays every event), from one parse of the blob."""
        from ramparts.errors import JournalCorrupt

        if snapshot.is_container(blob):
            return cls._restore_container(blob, expect_hash)
        try:
            raw = zlib.decompress(blob)
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a corrupt snapshot
            raise JournalCorrupt(f"snapshot does not parse: {exc}") from None
        verified = expect_hash is not None and hashlib.sha256(raw).hexdigest() == expect_hash
        try:
            d = _parse_state(raw, trusted=verified)
            version = d.get("version")
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a corrupt snapshot
            raise JournalCorrupt(f"snapshot does not parse: {exc}") from None
        if version != STATE_VERSION:
            return None
        if expect_hash is not None and not verified:
            raise JournalCorrupt("the snapshot's bytes do not reproduce its state hash")
        try:
            return cls._from_state_dict(d)
        except RampartsError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a corrupt snapshot
            raise JournalCorrupt(f"snapshot does not parse: {exc}") from None

    @classmethod
    def _restore_container(cls, blob: bytes, expect_hash: str | None) -> Engine | None:
        """:meth:`restore_current` of a container: its body checked against its digest, its state hash against
        ``expect_hash``, its tables read as arrays (:mod:`ramparts.engine.snapshot`)."""
        from ramparts.errors import JournalCorrupt

        try:
            state_hash, d, arrays = snapshot.unpack(blob)
        except snapshot.ContainerError as exc:
            raise JournalCorrupt(f"snapshot does not parse: {exc}") from None
        if d.get("version") != STATE_VERSION:
            return None
        if expect_hash is not None and state_hash != expect_hash:
            raise JournalCorrupt("the snapshot was taken at another state hash than the one journaled with it")
        try:
            text = arrays["sub_names"].tobytes().decode("utf-8")
            d["subs"] = _SubColumns(_checked_names(text.split("\n") if text else []), arrays["sub_instruments"],
                                    arrays["sub_flags"].tobytes())
            d["ledger"] = _LedgerColumns(d["ledger"], arrays["cash_subs"], arrays["cash"])
            d["positions"] = arrays["positions"].T
            return cls._from_state_dict(d)
        except RampartsError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure is a corrupt snapshot
            raise JournalCorrupt(f"snapshot does not parse: {exc}") from None

    @classmethod
    def _from_state_dict(cls, d: dict) -> Engine:
        e = cls()
        g = d["genesis"]
        if g is not None:
            e._on_Genesis(ev.Genesis(ts=0, **g))
        e.liq = LiquidationConfig.from_dict(d["liquidation"])
        for a in d["assets"]:
            e.assets[a["symbol"]] = Asset(a["symbol"], a["decimals"])
        for item in d["instruments"]:
            spec, market = dict(item["spec"]), item["market"]
            spec["margin"] = MarginSchedule.from_dict(spec["margin"])
            instr = e._build_instrument(len(e.instruments), spec)
            e._add_instrument(instr, mark_model_from_dict(item["mark_model"]))
            m = e.markets[instr.index]
            m.index_price, m.mark = market["index_price"], market["mark"]
            ms = market["mark_state"]
            m.mark_state = None if ms is None else MarkState(*ms)
            m.last_oracle_ns, m.last_funding_ns = market["last_oracle_ns"], market["last_funding_ns"]
            m.settled, m.last_funding_rate_ppb = market["settled"], market["last_funding_rate_ppb"]
        for instr in e.instruments:
            if instr.is_option:
                instr.spot_lot = e._spot_lot(instr) if not e.markets[instr.index].settled else instr.spot_lot
        e.pm_config = dict(d.get("portfolio", {}))  # before the positions: their requirements depend on it
        subs, k = d["subs"], len(e.subs)  # [0]: the vault, opened by Genesis
        if isinstance(subs, _SubColumns):
            e._add_sub_columns(subs.names[k:], subs.instruments[k:], subs.flags[k:])
        else:
            e._add_sub_columns(*_sub_rows(subs[k:]))
        led = d["ledger"]
        if isinstance(led, _LedgerColumns):
            e.ledger.load_columns(*led)
        else:
            e.ledger.load(led)
        e._load_positions(d["positions"])
        w = d["waterfall"]
        e.in_liquidation[w["in_liquidation"]] = True
        e.margin_called[w["margin_called"]] = True
        e.last_step_ns = {k: v for k, v in w["last_step_ns"]}
        e.insolvent = FlaggedSet(w["insolvent"])
        e.global_draws = {k: v for k, v in w["global_draws"]}
        e.global_draws_ts = w["global_draws_ts"]
        e.auctions = {k: v for k, v in w.get("auctions", [])}
        e.insolvent_auctions = {k: v for k, v in w.get("insolvent_auctions", [])}
        e.liq_freed = {k: v for k, v in w.get("liq_freed", [])}
        e.pending_bids = [dict(b) for b in w.get("pending_bids", [])]
        e.books = {i: {"ts": b["ts"], "bids": [list(x) for x in b["bids"]], "asks": [list(x) for x in b["asks"]]}
                   for i, b in d.get("books", [])}
        e.liabilities_roots = list(d.get("liabilities_roots", []))
        e.defences = OracleDefences.from_dict(d.get("defences"))
        e.collateral.load(d.get("collateral"), {a: x.decimals for a, x in e.assets.items()})
        e._loc_load(d.get("locations"))
        e._rebuild_collateral()
        e.time_ns, e.seq = d["time_ns"], d["seq"]
        e.book.opened_since_compact = 0  # opened in (instrument, sub-account) order into an empty book: laid out already
        e._lz_prime()
        return e

    # ================================================================== registration
    def _on_Genesis(self, e: ev.Genesis) -> list[dict]:
        if self.genesis is not None:
            raise Rejected("genesis", "Genesis may only be the first event")
        asset = Asset(check_symbol(e.settlement_asset, "settlement_asset"), e.settlement_decimals)
        liq = LiquidationConfig.from_dict(e.liquidation)
        backstop = SubAccountId.parse(e.backstop, "backstop")
        self.genesis = e.model_dump(mode="json", exclude={"kind", "ts"})
        self.settlement = asset
        self.assets[asset.symbol] = asset
        self.ledger = Ledger(asset.symbol)
        self.collateral.set_quote(asset.symbol, asset.decimals)
        self.liq = liq
        self.backstop = self._add_sub(backstop, MarginMode.CROSS, None, True)
        return []

    def _on_ListAsset(self, e: ev.ListAsset) -> list[dict]:
        if e.symbol in self.assets:
            raise Rejected("duplicate", f"asset {e.symbol} is already listed")
        asset = Asset(e.symbol, e.decimals)
        ac = None
        if e.collateral is not None:
            ac = parse_collateral(e.collateral, e.decimals)
            self.collateral.params_with({e.symbol: ac})  # validates the peg against the listed assets
        self.assets[e.symbol] = asset
        if ac is not None:
            self.collateral.install(e.symbol, ac)
        return []

    def _build_instrument(self, index: int, spec: dict) -> Instrument:
        quote = self.assets.get(spec["quote"])
        if quote is None:
            raise UnknownEntity("quote", f"unknown asset {spec['quote']!r}")
        if quote.symbol != self.settlement.symbol:
            raise InvalidInput("quote", f"instruments settle in {self.settlement.symbol} (the settlement asset)")
        schedule = spec["margin"]
        if not isinstance(schedule, MarginSchedule):
            schedule = _schedule_from_user(schedule, quote.decimals)
        funding = spec.get("funding")
        return Instrument(
            index=index,
            symbol=spec["symbol"],
            kind=InstrumentKind(spec["kind"]),
            underlying=spec["underlying"],
            quote=quote,
            contract_size=spec["contract_size"],
            size_step=spec["size_step"],
            tick_size=spec["tick_size"],
            schedule=schedule,
            expiry_ns=spec.get("expiry_ns"),
            funding=_funding_params(funding),
            insurance_fund=spec.get("insurance_fund", "global"),
            oracle_max_age_ns=spec.get("oracle_max_age_ns", 0),
            strike=spec.get("strike"),
            option_type=spec.get("option_type"),
            index_instrument=spec.get("index_instrument"),
        )

    def _add_instrument(self, instr: Instrument, mark_model: Any) -> None:
        """Register a validated instrument (an option's index instrument was checked by its listing)."""
        self.instruments.append(instr)
        self.markets.append(MarketState())
        self.mark_models.append(mark_model)
        self._instr_by_symbol[instr.symbol] = instr.index
        if instr.is_option:
            self._options_by_index.setdefault(self._instr_by_symbol[instr.index_instrument], []).append(instr.index)
            instr.spot_lot = self._spot_lot(instr)

    def _on_ListInstrument(self, e: ev.ListInstrument) -> list[dict]:
        if e.symbol in self._instr_by_symbol:
            raise Rejected("duplicate", f"instrument {e.symbol} is already listed")
        spec = {
            "symbol": e.symbol,
            "kind": e.instrument_kind,
            "underlying": e.underlying,
            "quote": e.quote,
            "contract_size": e.contract_size,
            "size_step": e.size_step,
            "tick_size": e.tick_size,
            "margin": e.margin,
            "expiry_ns": e.expiry_ns,
            "funding": e.funding,
            "insurance_fund": e.insurance_fund,
            "oracle_max_age_ns": e.oracle_max_age_ns,
            "strike": e.strike,
            "option_type": e.option_type,
            "index_instrument": e.index_instrument,
        }
        instr = self._build_instrument(len(self.instruments), spec)
        if instr.is_option:
            self._check_option(instr)
        model = IndexMark() if e.mark is None else _mark_model(e.mark)
        self._add_instrument(instr, model)
        return []

    def _add_sub(self, sid: SubAccountId, mode: MarginMode, instrument: int | None, system: bool) -> int:
        return self._add_subs([(sid, mode, instrument, system)])

    def _add_subs(self, items: Sequence[tuple[SubAccountId | str, MarginMode, int | None, bool]]) -> int:
        """Open sub-accounts ``(id or its canonical text, mode, bound instrument, system)`` in order; returns the
        index of the first (an event's one: :meth:`_add_sub_columns` takes a snapshot's million)."""
        first = len(self.subs)
        add = self.subs.add
        for sid, mode, instrument, system in items:
            add(sid, mode, instrument, system)
        n = self._grow_subs(first)
        if items:
            self.is_system[first:n] = [x[3] for x in items]
            pm = [x[1] is MarginMode.PORTFOLIO for x in items]
            self.is_portfolio[first:n] = pm
            self.n_portfolio += sum(pm)
            self.sub_isolated[first:n] = [-1 if x[2] is None else x[2] for x in items]
        return first

    def _add_sub_columns(self, names: list[str], instruments: Sequence[int], flags: bytes) -> int:
        """Open sub-accounts from columns (:meth:`SubAccounts.extend`'s: canonical texts, bound instruments or −1,
        mode and system flags) in order; returns the index of the first. The arrays grow once for all of them (a
        snapshot of a million sub-accounts restores in one pass)."""
        first = len(self.subs)
        self.subs.extend(names, instruments, flags)  # checked there before anything changes
        n = self._grow_subs(first)
        if names:
            f = np.frombuffer(flags, dtype=np.uint8)
            self.is_system[first:n] = (f & 4) != 0
            pm = (f & 3) == MODE_CODE[MarginMode.PORTFOLIO.value]
            self.is_portfolio[first:n] = pm
            self.n_portfolio += int(pm.sum())
            self.sub_isolated[first:n] = instruments
        return first

    def _grow_subs(self, first: int) -> int:
        """The ledger rows and per-sub-account arrays for the sub-accounts registered from ``first`` on; returns
        how many sub-accounts there are now."""
        n = len(self.subs)
        rows = self.ledger.add_subs(n - first)
        assert rows == first, (rows, first)
        self._lz_grow_subs(n)
        self.book.ensure_subs(n)  # compiled passes walk ``head[s]`` of any sub-account, positions or not
        for name in ("_sub_value", "sub_cost", "_sub_mm", "_sub_im", "in_liquidation", "margin_called", "is_system", "sub_opt_adj_im",
                     "sub_opt_adj_mm", "sub_pm_adj_im", "sub_pm_adj_mm", "is_portfolio", "sub_coll", "sub_corr_im", "sub_corr_mm",
                     "sub_borrow_im", "sub_borrow_mm", "sub_isolated"):
            setattr(self, name, _grow(getattr(self, name), n))
        return n

    def _load_positions(self, rows: Sequence[Sequence[int]] | np.ndarray) -> None:
        """Open the positions of a snapshot ``(sub, instrument, lots, cost, entry)`` (rows, or their int64 table)
        into the empty book, laid out instrument-major, and bring every cache to the current marks (one vectorised
        pass per instrument, as :meth:`remargin_all` does; per position where an instrument has no mark yet)."""
        if not len(rows):
            return
        table = np.asarray(rows, dtype=np.int64)  # the snapshot's own JSON integers (its bytes are hash-checked)
        if table.ndim != 2 or table.shape[1] != 5:
            raise ValueError("snapshot positions are not (sub, instrument, lots, cost, entry) rows")
        sub, instr, lots, cost, entry = (np.ascontiguousarray(table[:, j]) for j in range(5))
        if ((sub < 0) | (sub >= len(self.subs)) | (instr < 0) | (instr >= len(self.instruments))).any():
            raise ValueError("a snapshot position names no sub-account or instrument")
        self.book.bulk_open(sub, instr, lots, cost, entry)
        # each sub-account's cost basis: one reduction per run of equal sub-accounts (a snapshot's rows come sorted
        # by sub-account; ``np.add.at``, a quarter of a million-account restore, only for rows that do not)
        if sub.size > 1 and not bool((sub[1:] >= sub[:-1]).all()):
            order = np.argsort(sub, kind="stable")
            sub, cost = sub[order], cost[order]
        starts = np.flatnonzero(np.concatenate(([True], sub[1:] != sub[:-1])))
        self.sub_cost[sub[starts]] += np.add.reduceat(cost, starts)
        for ins in self.instruments:
            h = self.book.holders(ins.index)
            if not h.size:
                continue
            if self.markets[ins.index].mark:
                self._remargin(ins, h, calls=False)
            else:
                for slot in h.tolist():
                    self._refresh_slot(slot)
        self._lz_invalidate_all()

    def _on_OpenSubAccount(self, e: ev.OpenSubAccount) -> list[dict]:
        sid = SubAccountId.parse(e.subaccount)
        if sid in self._sub_by_id:
            raise Rejected("duplicate", f"sub-account {sid} already exists")
        mode = MarginMode(e.mode)
        instrument = None
        if mode is MarginMode.ISOLATED:
            if e.instrument is None:
                raise InvalidInput("instrument", "an isolated sub-account must name its instrument")
            instrument = self.instrument(e.instrument).index
        elif e.instrument is not None:
            raise InvalidInput("instrument", "only isolated sub-accounts are bound to an instrument")
        self._add_sub(sid, mode, instrument, False)
        return []

    # ================================================================== cash
    def _asset(self, symbol: str) -> Asset:
        a = self.assets.get(symbol) if isinstance(symbol, str) else None
        if a is None:
            raise UnknownEntity("asset", f"unknown asset {symbol!r}")
        return a

    def _positive_units(self, asset: Asset, amount: Decimal, field: str = "amount") -> int:
        units = asset.units(amount, field)
        if units <= 0:
            raise InvalidInput(field, f"must be positive, got {amount}")
        if units > 10**17:
            raise InvalidInput(field, f"{amount} overflows the amount limit")
        return units

    def _on_Deposit(self, e: ev.Deposit) -> list[dict]:
        s = self.sub_index(e.subaccount)
        asset = self._asset(e.asset)
        units = self._positive_units(asset, e.amount)
        self._refuse_bound(asset.symbol, "deposit")  # an asset held at a location moves over it (LocationDeposit)
        if asset.symbol in self.collateral.assets:
            self.collateral.values(asset.symbol, [self.ledger.balance(asset.symbol, s) + units])  # validates: the value stays within limits
        self.ledger.transfer(asset.symbol, "external", s, units)
        self.collateral_touched(asset.symbol, s)
        return []

    def _on_Withdraw(self, e: ev.Withdraw, dest: str | None = None) -> list[dict]:
        """A withdrawal; ``dest``: where a location's withdrawal sends the units (:mod:`ramparts.engine.locations`)."""
        s = self.sub_index(e.subaccount)
        asset = self._asset(e.asset)
        units = self._positive_units(asset, e.amount)
        if dest is None:
            self._refuse_bound(asset.symbol, "withdraw")  # an asset held at a location leaves over it (LocationWithdraw)
            dest = "external"
        insolvent = len(self.insolvent) if self.shard_link is None else self.shard_link.insolvent_count()  # every shard's
        if insolvent:
            raise Rejected("withdrawals_gated", f"withdrawals are gated while {insolvent} sub-account(s) have negative equity")
        held = [self.instruments[i].symbol for i, _ in self.book.positions_of(s)]
        for symbol in ["*", *held, *([asset.symbol] if asset.symbol != self.settlement.symbol else [])]:
            why = self.defences.blocked(symbol, "withdrawal")
            if why:
                raise Rejected("withdrawals_paused", f"withdrawals from {self.subs[s].id} are paused: {why}")
        if asset.symbol == self.settlement.symbol:
            free = self.equity(s) - int(self.sub_im[s])
            if self.in_liquidation[s]:
                raise Rejected("in_liquidation", f"{self.subs[s].id} is being liquidated")
            if units > free:
                raise Rejected(
                    "free_collateral",
                    f"withdrawal of {asset.amount(units)} exceeds free collateral {asset.amount(max(free, 0))} "
                    f"(equity {asset.amount(self.equity(s))}, initial margin {asset.amount(int(self.sub_im[s]))})",
                )
            cash = self.equity(s) - int(self.sub_coll[s])  # the cash balance once unrealised PnL is realised
            if units > cash:
                raise Rejected("insufficient_balance", f"withdrawal of {asset.amount(units)} exceeds the cash balance "
                                                       f"{asset.amount(max(cash, 0))}: borrowing against collateral is not supported")
            self.realise(s)
        else:
            bal = self.ledger.balance(asset.symbol, s)
            ac = self.collateral.assets.get(asset.symbol)
            if units > bal and (ac is None or ac.borrow is None or ac.price is None):
                raise Rejected("insufficient_balance", f"withdrawal of {asset.amount(units)} exceeds the balance {asset.amount(bal)}"
                                                       f"{'' if ac is None or ac.borrow is None else ' (no price yet to lend against)'}")
            if units > bal:
                held = -self.ledger.balance(asset.symbol, "external")  # what depositors left with the venue
                if held - units < 0:
                    raise Rejected("insufficient_liquidity", f"the venue holds {asset.amount(held)} {asset.symbol}: it cannot lend "
                                                             f"{asset.amount(units - max(bal, 0))}")
            if asset.symbol in self.collateral.assets:
                self._check_collateral_withdrawal(s, asset, units, bal)
        self.ledger.transfer(asset.symbol, s, dest, units)
        self.collateral_touched(asset.symbol, s)
        return []

    def _on_FundInsurance(self, e: ev.FundInsurance) -> list[dict]:
        units = self._positive_units(self.settlement, e.amount)
        if e.fund == "global":
            key = "insurance:global"
        else:
            instr = self.instrument(e.fund, "fund")
            if instr.insurance_fund != "market":
                raise InvalidInput("fund", f"{instr.symbol} is backed by the global fund")
            key = f"insurance:{instr.symbol}"
        self.ledger.transfer(self.settlement.symbol, "external", key, units)
        return []

    # ================================================================== positions
    def requirements(self, instr: Instrument, lots: int, mark: int) -> tuple[int, int]:
        """(initial, maintenance) of one position at ``mark``, exact."""
        return self.margin_model.position_requirements(instr, lots, mark)

    def _refresh_slot(self, slot: int) -> None:
        """Recompute one position's caches at the current mark and fold the change into its sub-account."""
        b = self.book
        instr = self.instruments[int(b.instr[slot])]
        s = int(b.sub[slot])
        lots = int(b.lots[slot])
        value = lots * self.markets[instr.index].mark
        im, mm = self.requirements(instr, lots, self.markets[instr.index].mark) if lots else (0, 0)
        self.sub_value[s] += value - int(b.value[slot])
        self.sub_im[s] += im - int(b.im[slot])
        self.sub_mm[s] += mm - int(b.mm[slot])
        b.value[slot], b.im[slot], b.mm[slot] = value, im, mm
        if instr.is_option and not self.is_portfolio[s]:
            self._option_bound(s)
        if self.collateral.correlation is not None and not self.is_portfolio[s]:
            self._corr_refresh(np.array([s], dtype=np.int64))
        if self.is_portfolio[s]:
            self._portfolio([s])

    def trade(self, s: int, instr: Instrument, delta: int, quote: int) -> int:
        """Change a position by ``delta`` lots for a signed total ``quote`` paid (cost basis += quote)."""
        if self.shard_link is not None and not self.shard_link.owns(self, s):
            return self.shard_link.trade(self, s, instr, delta, quote)  # another shard's account: its owner trades it
        b = self.book
        slot = b.slot(s, instr.index)
        if slot is None:
            slot = b.open(s, instr.index)
        old = int(b.lots[slot])
        new = old + delta
        entry = int(b.entry[slot])
        if old == 0 or (old > 0) == (delta > 0):
            entry += quote
        elif new == 0 or (new > 0) == (old > 0):  # reduced: keep the average entry price
            scaled = abs(entry) * abs(new) // abs(old)
            entry = scaled if entry >= 0 else -scaled
        else:  # flipped: the remainder opened at this trade's average price
            entry = quote * new // delta
        b.lots[slot] = new
        b.cost[slot] += quote
        b.entry[slot] = entry
        self.sub_cost[s] += quote
        self._refresh_slot(slot)
        self._lz_traded(s, instr.index, new)  # the lazy re-margin's watch (ramparts.engine.tick_slack)
        return slot

    def realise(self, s: int) -> None:
        """Realise variation margin of every position of ``s`` at the current marks."""
        if self.shard_link is not None and not self.shard_link.owns(self, s):
            return self.shard_link.realise(self, s)
        b = self.book
        for instr_idx, slot in self.book.positions_of(s):
            pnl = int(b.value[slot]) - int(b.cost[slot])
            if pnl:
                self.ledger.post(self.settlement.symbol, ((s, pnl), (f"vm:{self.instruments[instr_idx].symbol}", -pnl)))
                b.cost[slot] += pnl
                self.sub_cost[s] += pnl
            if b.lots[slot] == 0:
                b.close(slot)

    def _check_tradeable(self, instr: Instrument, ts: int) -> MarketState:
        m = self.markets[instr.index]
        if m.settled:
            raise Rejected("settled", f"{instr.symbol} has expired and settled")
        if instr.expiry_ns is not None and ts >= instr.expiry_ns:
            raise Rejected("expired", f"{instr.symbol} expired at {instr.expiry_ns}")
        if m.mark <= 0:
            raise Rejected("no_oracle", f"{instr.symbol} has no oracle price yet")
        if instr.oracle_max_age_ns and ts - m.last_oracle_ns > instr.oracle_max_age_ns:
            raise Rejected("stale_oracle", f"{instr.symbol} oracle is {(ts - m.last_oracle_ns) / 1e9:.3f}s old")
        return m

    def _on_Fill(self, e: ev.Fill) -> list[dict]:
        instr = self.instrument(e.instrument)
        m = self._check_tradeable(instr, e.ts)
        buyer = self.sub_index(e.buyer, "buyer")
        seller = self.sub_index(e.seller, "seller")
        if buyer == seller:
            raise InvalidInput("seller", "buyer and seller are the same sub-account")
        price = instr.lot_price(e.price, "price", on_tick=True)
        lots = instr.lots(e.size, "size")
        if lots <= 0:
            raise InvalidInput("size", f"must be positive, got {e.size}")
        q = self.settlement
        fees = (q.units(e.buyer_fee, "buyer_fee"), q.units(e.seller_fee, "seller_fee"))
        for f, name in zip(fees, ("buyer_fee", "seller_fee"), strict=True):
            if f < 0:
                raise InvalidInput(name, "fees must be non-negative (rebates are not supported)")
        sides = ((buyer, lots, fees[0], "buyer"), (seller, -lots, fees[1], "seller"))
        for s, delta, fee, field in sides:
            self._check_fill_side(s, instr, m, delta, price, fee, field)
        for s, delta, fee, _ in sides:
            self.trade(s, instr, delta, delta * price)
            if fee:
                if self.shard_link is None or self.shard_link.owns(self, s):
                    self.ledger.transfer(q.symbol, s, "fees", fee)
                else:  # another shard's account: its owner takes the fee
                    self.shard_link.fee(self, s, q.symbol, fee)
            self.realise(s)
        return []

    def _check_fill_side(self, s: int, instr: Instrument, m: MarketState, delta: int, price: int, fee: int, field: str) -> None:
        if self.shard_link is not None and not self.shard_link.owns(self, s):  # another shard's account: its owner checks it
            return self.shard_link.check_fill_side(self, s, instr.index, delta, price, fee, field)
        sub = self.subs[s]
        if sub.mode is MarginMode.ISOLATED and sub.instrument != instr.index:
            raise Rejected("isolated", f"{sub.id} is isolated on {self.instruments[sub.instrument].symbol}")
        slot = self.book.slot(s, instr.index)
        old = int(self.book.lots[slot]) if slot is not None else 0
        new = old + delta
        if abs(new) * max(price, m.mark, instr.spot_lot) > MAX_NOTIONAL:
            raise InvalidInput("size", f"the position of {sub.id} would overflow the notional limit")
        if sub.system:
            return
        equity_after = self.equity(s) + delta * (m.mark - price) - fee
        increasing = abs(new) > abs(old) or (new != 0 and (new > 0) != (old > 0))
        if increasing:
            why = self.defences.blocked(instr.symbol, "risk_increasing_fill")
            if why:
                raise Rejected("risk_increasing_paused", f"{field} {sub.id}: risk-increasing fills on {instr.symbol} are paused: {why}")
            if self.is_portfolio[s]:
                from ramparts.engine.portfolio import requirements

                im_after = int(requirements(self, [s], {(s, instr.index): new})[0][0]) + int(self.sub_borrow_im[s])
            else:
                im_old = int(self.book.im[slot]) if slot is not None else 0
                im_new, _ = self.requirements(instr, new, m.mark)
                im_after = int(self.sub_im[s]) - im_old + im_new
                if self.collateral.correlation is not None:
                    im_after += self._corr_im_after(s, instr, slot, im_new) - int(self.sub_corr_im[s])
            if equity_after < im_after:
                q = self.settlement
                raise Rejected(
                    "initial_margin",
                    f"{field} {sub.id}: equity after the fill {q.amount(equity_after)} is below its initial margin {q.amount(im_after)}",
                )
        elif equity_after < 0:
            raise Rejected("insufficient_equity", f"{field} {sub.id}: the fee would leave negative equity")

    # ================================================================== prices, funding, settlement
    def _on_OraclePrice(self, e: ev.OraclePrice) -> list[dict]:
        instr = self.instrument(e.instrument)
        if self.markets[instr.index].settled:
            raise Rejected("settled", f"{instr.symbol} has settled")
        index = instr.lot_price(e.price, "price", on_tick=False)
        book = None if e.book_price is None else instr.lot_price(e.book_price, "book_price", on_tick=False)
        apply_index = self._index_update(instr, index, book, e.ts, str(e.price))
        breaker_state, breaker_fx = self.defences.observe(e.ts, instr.symbol, price=index, oracle_valid=True)
        # validated: mutate
        effects = apply_index()
        if breaker_state is not None:
            self.defences.breaker_state = breaker_state
        return breaker_fx + effects

    def _index_update(self, instr: Instrument, index: int, book: int | None, ts: int, shown: str):
        """Validate a new index for ``instr``; returns the closure that applies it (and re-margins)."""
        m = self.markets[instr.index]
        state = self.mark_models[instr.index].update(m.mark_state, index, book, ts)
        if state.mark <= 0 or state.mark > MAX_NOTIONAL:
            raise InvalidInput("price", f"the mark price {state.mark} is out of range")
        if self.book.n_holders(instr.index) and not self._lz_notional_ok(instr.index, state.mark):
            raise InvalidInput("price", f"{shown} would overflow the notional limit of a position")

        def apply() -> list[dict]:
            m.index_price, m.mark_state, m.mark, m.last_oracle_ns = index, state, state.mark, ts
            effects = self._remargin_tick(instr)  # lazily where it can (ramparts.engine.tick_slack)
            for o in self._options_by_index.get(instr.index, ()):  # options priced off this index: new spot
                opt = self.instruments[o]
                opt.spot_lot = self._spot_lot(opt)
                if self.markets[o].mark and not self.markets[o].settled:
                    effects += self._remargin_tick(opt)
            return effects

        return apply

    def _remargin(self, instr: Instrument, h: np.ndarray, calls: bool = True) -> list[dict]:
        """One vectorised pass over the holders ``h`` of ``instr`` at its current mark."""
        if not h.size:
            return []
        b = self.book
        mark = self.markets[instr.index].mark
        if (self.compiled_remargin and not instr.is_option and not instr.schedule.size_premium_ppm
                and self.collateral.correlation is None
                and not (self.n_portfolio and self.is_portfolio[b.sub[h]].any())):  # fmt: skip
            return self._remargin_compiled(instr, h, mark, calls)
        subs = b.sub[h]
        lots = b.lots[h]
        value = lots * mark
        im, mm = self.margin_model.position_requirements_array(instr, lots, mark)
        self.sub_value[subs] += value - b.value[h]
        self.sub_im[subs] += im - b.im[h]
        self.sub_mm[subs] += mm - b.mm[h]
        b.value[h], b.im[h], b.mm[h] = value, im, mm
        if instr.is_option:
            for sub in subs[~self.is_portfolio[subs]].tolist():
                self._option_bound(sub)
        if self.collateral.correlation is not None:
            self._corr_refresh(subs[~self.is_portfolio[subs]])  # one slot per sub-account and instrument: ``subs`` is unique
        pm = subs[self.is_portfolio[subs]]
        if pm.size:
            self._portfolio(np.unique(pm).tolist())
        return self.margin_calls(subs) if calls else []

    def _remargin_compiled(self, instr: Instrument, h: np.ndarray, mark: int, calls: bool) -> list[dict]:
        """:meth:`_remargin` of a tiered instrument held by cross / isolated sub-accounts, in one
        compiled pass (:func:`~ramparts.engine.batch_kernel.reprice_holders`): the same arithmetic,
        margin calls and insolvency tracking, without the numpy temporaries."""
        b = self.book
        n = int(h.size)
        fx_item, fx_sub, fx_equity, fx_mm, ins_sub, ins_flag = self._row_scratch(n if calls else 0)  # rows written are counted
        # the kernel flips the mask's entries itself; each flip comes back as an ins_* row applied to the set below
        insolvent = self.insolvent.mask(len(self.subs)) if calls else np.zeros(0, dtype=np.bool_)
        counters = np.zeros(5, dtype=np.int64)
        reprice_holders(0, instr.index, mark, 0, n, h, calls, b.sub, b.lots, b.value, b.im, b.mm, self.is_system,
                        self.ledger.sub_cash, self.sub_value, self.sub_cost, self.sub_coll, self.sub_im, self.sub_mm,
                        self.margin_called, insolvent, *self._batch_tables(), fx_item, fx_sub, fx_equity, fx_mm,
                        ins_sub, ins_flag, counters)  # fmt: skip
        for r in range(int(counters[1])):
            if ins_flag[r]:
                self.insolvent.add(int(ins_sub[r]))
            else:
                self.insolvent.discard(int(ins_sub[r]))
        calls_made = int(counters[0])
        order = np.argsort(fx_sub[:calls_made], kind="stable")
        return [{"kind": "MarginCall", "subaccount": str(self.subs[int(fx_sub[r])].id), "equity": int(fx_equity[r]),
                 "maintenance": int(fx_mm[r])} for r in order.tolist()]  # fmt: skip

    def _row_scratch(self, room: int) -> tuple[np.ndarray, ...]:
        """Row buffers for :func:`reprice_holders` with room for ``room`` rows each, kept between
        ticks (fresh arrays of a big instrument's holder count cost page faults on every tick)."""
        bufs = getattr(self, "_row_bufs", None)
        if bufs is None or bufs[0].size < room:
            size = max(room, 2 * (bufs[0].size if bufs is not None else 0), 1024)
            bufs = (*(np.empty(size, dtype=np.int64) for _ in range(5)), np.empty(size, dtype=np.int8))
            self._row_bufs = bufs
        return bufs

    def compact_positions(self) -> bool:
        """Lay the position book out instrument-major again (:meth:`PositionBook.compact`), so that an
        oracle tick streams through its holders' slots instead of gathering them from all over the
        book. Changes nothing observable (the state hash is the same) and is not an event: run it
        when the book is quiet (:func:`~ramparts.engine.node.replay` does, and :class:`~ramparts.engine.node.Node`
        after a snapshot). Returns whether there was anything to do."""
        if self.book.laid_out:
            return False
        self.book.compact()
        self._band_live = False  # a batch's bands are kept per slot: the slots were renumbered
        return True

    def remargin_all(self) -> list[dict]:
        """Full re-margin: recompute every position at the current marks (one vectorised pass per
        instrument), then flag margin calls over every sub-account at once. The lazy re-margin's
        bands are forgotten (its callers may have written positions straight into the book)."""
        for instr in self.instruments:
            h = self.book.holders(instr.index)
            if h.size and self.markets[instr.index].mark:
                self._remargin(instr, h, calls=False)
        n = len(self.subs)
        effects = self.margin_calls(np.arange(n, dtype=np.int64)) if n else []
        self._lz_invalidate_all()
        self._band_live = False
        return effects

    def margin_calls(self, subs: np.ndarray) -> list[dict]:
        """Flag newly breached sub-accounts among ``subs`` (unique) and track insolvency."""
        equity = self.equity_array(subs)
        mm = self.sub_mm[subs]
        breach = (equity < mm) & ~self.is_system[subs]
        new = subs[breach & ~self.margin_called[subs]]
        self.margin_called[subs[breach]] = True
        negative = subs[(equity < 0) & ~self.is_system[subs]]
        if negative.size:
            self.insolvent.update(negative.tolist())
        if self.insolvent:
            self.insolvent.difference_update(subs[equity >= 0].tolist())
        effects = []
        for s in np.sort(new).tolist():
            effects.append({"kind": "MarginCall", "subaccount": self.subs.name(s), "equity": self.equity(s), "maintenance": int(self.sub_mm[s])})
        return effects

    def _realise_market(self, instr: Instrument, h: np.ndarray) -> None:
        """Realise variation margin of every holder of ``instr`` (vectorised)."""
        if not h.size:
            return
        b = self.book
        subs = b.sub[h]
        pnl = b.value[h] - b.cost[h]
        self.ledger.post_sub_cash_vector(subs, pnl, f"vm:{instr.symbol}")
        b.cost[h] = b.value[h]
        self.sub_cost[subs] += pnl

    def _on_FundingTick(self, e: ev.FundingTick) -> list[dict]:
        instr = self.instrument(e.instrument)
        if instr.kind is not InstrumentKind.PERPETUAL:
            raise InvalidInput("instrument", f"{instr.symbol} is not a perpetual")
        m = self.markets[instr.index]
        if m.mark <= 0:
            raise Rejected("no_oracle", f"{instr.symbol} has no oracle price yet")
        why = self.defences.blocked(instr.symbol, "funding")
        if why:
            raise Rejected("funding_paused", f"funding on {instr.symbol} is paused: {why}")
        f = instr.funding
        if e.scheduled and m.last_funding_ns >= 0:
            due = m.last_funding_ns + f.interval_seconds * 10**9
            if e.ts < due:
                raise Rejected("funding_too_soon", f"{instr.symbol} paid funding at {m.last_funding_ns}; the next interval "
                                                   f"({f.interval_seconds} s) is due at {due}, not {e.ts}")
        if e.premium is None:
            premium_ppb = premium_index_ppb(m.mark, m.index_price)
        else:
            p = to_decimal(e.premium, "premium")
            if e.scheduled:  # beyond this the rate is capped anyway: a larger premium is a mistake or an attack
                bound = Decimal(f.max_rate_ppm + f.premium_clamp_ppm) / PPM
                if abs(p) > bound:
                    raise InvalidInput("premium", f"{e.premium} is beyond ±{bound} per interval, where the funding rate "
                                                  f"of {instr.symbol} reaches its cap ({f.max_rate_ppm} ppm)")
            elif abs(p) > 1:
                raise InvalidInput("premium", f"{e.premium} is not a plausible premium per interval")
            premium_ppb = int((p * PPB).to_integral_value())
        rate = funding_rate_ppb(premium_ppb, instr.funding)
        h = self.book.holders(instr.index)
        paid = received = 0
        if h.size and rate:
            value = self.book.value[h]
            owes = value * np.sign(rate)  # > 0: this position pays
            a = np.abs(value)
            r = abs(rate)
            q, rem = np.divmod(a, PPB)
            exact_num = rem * r  # < 1e9 * 4e7: fits in int64
            up = q * r + (exact_num + PPB - 1) // PPB
            down = q * r + exact_num // PPB
            delta = np.where(owes > 0, -up, np.where(owes < 0, down, 0)).astype(np.int64)
            paid = int(-delta[delta < 0].sum())
            received = int(delta[delta > 0].sum())
            self.ledger.post_sub_cash_vector(self.book.sub[h], delta, "fees")
        m.last_funding_ns, m.last_funding_rate_ppb = e.ts, rate
        self._realise_market(instr, h)
        effects = [{"kind": "Funding", "instrument": instr.symbol, "rate_ppb": rate, "paid": paid, "received": received, "residue_to_fees": paid - received}]
        return effects + (self.margin_calls(self.book.sub[h]) if h.size else [])

    def _on_Settlement(self, e: ev.Settlement) -> list[dict]:
        instr = self.instrument(e.instrument)
        if instr.kind is InstrumentKind.PERPETUAL:
            raise InvalidInput("instrument", f"{instr.symbol} is a perpetual: it never settles")
        m = self.markets[instr.index]
        if m.settled:
            raise Rejected("settled", f"{instr.symbol} has already settled")
        if e.ts < instr.expiry_ns:
            raise InvalidInput("ts", f"{instr.symbol} expires at {instr.expiry_ns}, settlement at {e.ts} is early")
        if instr.is_option:  # ``price`` is the underlying's settlement price; the option settles at its intrinsic value
            spot = instr.lot_price(e.price, "price", on_tick=False)
            price = instr.intrinsic_lot(spot)
            instr.spot_lot = spot
        else:
            price = instr.lot_price(e.price, "price", on_tick=False)
        h = self.book.holders(instr.index).copy()
        if h.size and int(np.abs(self.book.lots[h]).max()) * price > MAX_NOTIONAL:
            raise InvalidInput("price", "settlement price overflows the notional limit")
        m.mark = m.index_price = price
        m.settled = True
        effects = self._remargin(instr, h)
        self._realise_market(instr, h)
        b = self.book
        for slot in h.tolist():
            s = int(b.sub[slot])
            self.sub_cost[s] -= int(b.cost[slot])
            b.lots[slot] = 0
            b.cost[slot] = 0
            b.entry[slot] = 0
            self._refresh_slot(slot)
            b.close(slot)
        effects.append({"kind": "Settled", "instrument": instr.symbol, "price": str(instr.price(price)), "positions": int(h.size)})
        return effects

    # ================================================================== parameters
    def _on_ParameterChange(self, e: ev.ParameterChange) -> list[dict]:
        if e.target == "liquidation":
            new = self.liq.replace(e.key, e.value)
            if e.key == "book_account" and new.book_account:
                k = self.sub_index(new.book_account, "value")
                if self.is_system[k] or self.subs[k].mode is MarginMode.ISOLATED:
                    raise InvalidInput("value", f"{new.book_account} must be an ordinary cross sub-account to stand behind the book")
            self.liq = new
            return []
        if e.target == "portfolio":
            from ramparts.engine.portfolio import validate_config

            self.pm_config = {**self.pm_config, e.key: validate_config(e.key, e.value)}
            subs = np.nonzero(self.is_portfolio[: len(self.subs)])[0].tolist()
            if subs:
                self._portfolio(subs)
                return self.margin_calls(np.asarray(subs, dtype=np.int64))
            return []
        if e.target == "breakers":
            if e.key != "rules":
                raise InvalidInput("key", f"unknown breakers parameter {e.key!r} (rules)")
            breakers, state = self.defences.configure_breakers(e.value, e.ts)
            for instr in self.instruments:  # seed the move windows with the current index
                if self.markets[instr.index].index_price > 0:
                    state, _ = breakers.observe(state, e.ts, instr.symbol, price=self.markets[instr.index].index_price)
            self.defences.breakers, self.defences.breaker_state = breakers, state
            return []
        if e.target == "correlation":
            return self._set_correlation(e.key, e.value)
        if e.target.startswith("asset:"):
            return self._set_asset_collateral(e.target.split(":", 1)[1], e.key, e.value)
        if not e.target.startswith("instrument:"):
            raise InvalidInput("target", f"unknown target {e.target!r} (liquidation, breakers, portfolio, correlation, asset:<SYMBOL> or instrument:<SYMBOL>)")
        instr = self.instrument(e.target.split(":", 1)[1], "target")
        if e.key == "margin":
            if not isinstance(e.value, dict):
                raise InvalidInput("value", "margin must be an object with tiers")
            instr.schedule = _schedule_from_user(e.value, instr.quote.decimals)
            self.margin_model.invalidate(instr)
        elif e.key == "funding":
            instr.funding = _funding_params(e.value)
        elif e.key == "mark":
            self.mark_models[instr.index] = _mark_model(e.value)
        elif e.key == "oracle":
            if e.value is None:
                self.defences.markets.pop(instr.symbol, None)
            else:
                self.defences.markets[instr.symbol] = self.defences.configure_market(instr.symbol, e.value)
            return []
        elif e.key == "oracle_max_age_ns":
            if not isinstance(e.value, int) or isinstance(e.value, bool) or e.value < 0:
                raise InvalidInput("value", "oracle_max_age_ns must be a non-negative int")
            instr.oracle_max_age_ns = e.value
        else:
            raise InvalidInput("key", f"unknown instrument parameter {e.key!r} (margin, funding, mark, oracle, oracle_max_age_ns)")
        return self._remargin(instr, self.book.holders(instr.index)) if self.markets[instr.index].mark else []

    # ================================================================== liquidation
    def _on_Tick(self, e: ev.Tick) -> list[dict]:
        self.check_liquidator(e.liquidator)
        before = self._refresh_defences(e.ts)
        if self.collateral.assets:
            before += self._collateral_tick(e.ts)
        if self.locations.active:  # deposits and withdrawals over a location complete at their finality
            before += self._locations_tick(e.ts)
        if self._lz_waterfall_quiet(e.ts):  # lazy re-margin: provably nothing for the waterfall to do
            if self.global_draws_ts != e.ts:  # what run_waterfall does when it does nothing else
                self.global_draws, self.global_draws_ts = {}, e.ts
            return before + self._after_waterfall(e.ts)
        return before + run_waterfall(self, e.ts, e.liquidator) + self._after_waterfall(e.ts)

    @staticmethod
    def check_liquidator(name: object) -> None:
        """A Tick's liquidator: the name its penalty share is paid to."""
        if not isinstance(name, str) or not name or len(name) > 64:
            raise InvalidInput("liquidator", "must be a non-empty name of at most 64 characters")

    def book_account(self, field: str = "book_account") -> int:
        """The sub-account behind the displayed liquidity (``LiquidationConfig.book_account``): it
        must be configured, exist and be an ordinary sub-account."""
        name = self.liq.book_account
        if not name:
            raise Rejected("no_book_account", "no liquidation.book_account is configured to stand behind the book")
        k = self.sub_index(name, field)
        if self.is_system[k]:
            raise InvalidInput(field, f"{name} is a system account; the book account must be an ordinary sub-account")
        sub = self.subs[k]
        if sub.mode is MarginMode.ISOLATED:
            raise InvalidInput(field, f"{name} is isolated; the book account must be a cross sub-account")
        return k

    def _on_BookSnapshot(self, e: ev.BookSnapshot) -> list[dict]:
        """Stores the latest displayed depth of an instrument (validated in full first, see
        :class:`~ramparts.engine.events.BookSnapshot`); order-book liquidation consumes it."""
        instr = self.instrument(e.instrument)
        if self.markets[instr.index].settled:
            raise Rejected("settled", f"{instr.symbol} has settled")
        self.book_account()
        sides: dict[str, list[list[int]]] = {}
        for name, levels, sign in (("bids", e.bids, -1), ("asks", e.asks, 1)):
            if len(levels) > ev.MAX_BOOK_LEVELS:
                raise InvalidInput(name, f"at most {ev.MAX_BOOK_LEVELS} levels a side, got {len(levels)}")
            out: list[list[int]] = []
            for i, (price, size) in enumerate(levels):
                p = instr.lot_price(price, f"{name}[{i}].price", on_tick=True)
                q = instr.lots(size, f"{name}[{i}].size")
                if q <= 0:
                    raise InvalidInput(f"{name}[{i}].size", f"must be positive, got {size}")
                if abs(q) * p > MAX_NOTIONAL:
                    raise InvalidInput(f"{name}[{i}].size", f"{size} at {price} overflows the notional limit")
                if out and (p - out[-1][0]) * sign <= 0:
                    order = "descending" if sign < 0 else "ascending"
                    raise InvalidInput(f"{name}[{i}].price", f"{name} must be strictly {order} (best first), got {price} after "
                                                             f"{instr.price(out[-1][0])}")
                out.append([p, q])
            sides[name] = out
        if sides["bids"] and sides["asks"] and sides["bids"][0][0] >= sides["asks"][0][0]:
            raise InvalidInput("asks[0].price", f"crossed book: best bid {instr.price(sides['bids'][0][0])} ≥ best ask "
                                                f"{instr.price(sides['asks'][0][0])}")
        # validated: mutate
        self.books[instr.index] = {"ts": e.ts, "bids": sides["bids"], "asks": sides["asks"]}
        return []

    def _on_LiquidationBid(self, e: ev.LiquidationBid) -> list[dict]:
        """A keeper claims a liquidation step (or an auction) of a liquidatable sub-account at the
        current price; with ``batch_auction`` the bid waits for the next tick's clearing. Validated
        in full before anything changes (see :func:`ramparts.liquidation.waterfall.keeper_bid`)."""
        return keeper_bid(self, e, e.ts)


# ====================================================================== helpers
def _schedule_from_user(value: dict, quote_decimals: int) -> MarginSchedule:
    if not isinstance(value, dict) or "tiers" not in value:
        raise InvalidInput("margin", "expected {'tiers': [[notional_floor, initial_rate, maintenance_rate], ...]}")
    tiers = value["tiers"]
    if not isinstance(tiers, list) or not tiers or not all(isinstance(t, (list, tuple)) and len(t) == 3 for t in tiers):
        raise InvalidInput("margin.tiers", "expected a non-empty list of [notional_floor, initial_rate, maintenance_rate]")
    extra = set(value) - {"tiers", "size_premium"}
    if extra:
        raise InvalidInput("margin", f"unknown keys {sorted(extra)}")
    return MarginSchedule.from_rates([tuple(t) for t in tiers], quote_decimals, size_premium=value.get("size_premium", 0))


def _funding_params(value: dict | None) -> FundingParams:
    if value is None:
        return FundingParams()
    if not isinstance(value, dict):
        raise InvalidInput("funding", "expected an object")
    known = set(FundingParams.__dataclass_fields__)
    for k, v in value.items():
        if k not in known:
            raise InvalidInput(f"funding.{k}", f"unknown parameter (known: {', '.join(sorted(known))})")
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise InvalidInput(f"funding.{k}", "must be a non-negative int")
    if value.get("interval_seconds", 1) == 0:
        raise InvalidInput("funding.interval_seconds", "must be positive")
    return FundingParams(**value)


def _mark_model(value: Any):
    if not isinstance(value, dict):
        raise InvalidInput("mark", "expected an object describing the mark model")
    try:
        return mark_model_from_dict(value)
    except RampartsError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput("mark", f"invalid mark model: {exc}") from None


__all__ = ["AccountRisk", "Engine", "MarketState"]


