"""What the liquidation waterfall reads and changes: the narrow view of a venue's state it works on.

This module owns :class:`LiquidationState`, the interface through which
:mod:`ramparts.liquidation.waterfall` sees a venue, and the smaller views it is made of
(:class:`PositionsView`, :class:`MarketView`, :class:`CollateralView`, :class:`DefencesView`,
:class:`FlagSetView`, :class:`ShardLinkView`). They are structural types
(:class:`typing.Protocol`): :class:`ramparts.engine.engine.Engine` provides them without naming
them, as OpenGamma Strata's pricers read market data through a provider interface rather than
the whole environment.

The layers import downward only: ``ramparts.liquidation`` imports the ledger, the domain types, the
margin formulas and the venues' arithmetic, never ``ramparts.engine``; the engine imports the
waterfall and hands itself over as a :class:`LiquidationState`. ``tests/test_layers.py`` checks both
directions: no module of a lower layer names a higher one (not even for typing or inside a function),
every attribute the waterfall reads of the state is declared here, and the engine provides every one.

What the view holds (quote base units, lots and lot prices of :mod:`ramparts.fixedpoint`):

* per sub-account ``s`` (its index): ``equity(s)`` (cash + position value − cost basis + haircut
  collateral value), the maintenance and initial requirements ``sub_mm[s]`` / ``sub_im[s]``, the
  flags ``in_liquidation``, ``margin_called``, ``is_system``, the insolvent set and the auction clocks;
* per position slot ``p`` (:class:`PositionsView`): ``sub``, ``lots``, ``value``, ``entry``, ``im``,
  ``mm``;
* the operations that move money or positions, each conserving value through the ledger:
  ``trade`` (a position change at a quote amount), ``realise`` (variation margin into cash),
  ``seize_collateral``, ``margin_calls`` (the calls and insolvency transitions of a set of
  sub-accounts), ``collateral_touched`` (a collateral balance changed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - types only, all from layers below this one
    import numpy as np

    from ramparts.domain.accounts import SubAccounts
    from ramparts.domain.assets import Asset
    from ramparts.domain.instruments import Instrument
    from ramparts.ledger.ledger import Ledger
    from ramparts.liquidation.config import LiquidationConfig


class PositionsView(Protocol):
    """The position store as the waterfall reads it: one slot a (sub-account, instrument) pair."""

    sub: np.ndarray  # int64, sub-account of each slot
    lots: np.ndarray  # int64, signed lots
    value: np.ndarray  # int64, lots × mark (quote units)
    entry: np.ndarray  # int64, cost basis (quote units)
    im: np.ndarray  # int64, the slot's initial requirement
    mm: np.ndarray  # int64, the slot's maintenance requirement

    def slot(self, sub: int, instr: int) -> int | None: ...

    def positions_of(self, sub: int) -> list[tuple[int, int]]: ...  # (instrument, slot) pairs

    def n_positions_of(self, sub: int) -> int: ...

    def holders(self, instr: int) -> np.ndarray: ...  # slots holding the instrument


class MarketView(Protocol):
    """One instrument's market: its mark (lot price) and whether it has settled."""

    mark: int
    settled: bool


class CollateralView(Protocol):
    """Multi-asset collateral: per non-settlement asset its state (``price`` among it)."""

    assets: dict


class DefencesView(Protocol):
    """The oracle defences: why an action on an instrument is blocked now, or ``None``."""

    def blocked(self, symbol: str, action: str) -> str | None: ...


class FlagSetView(Protocol):
    """A set of sub-accounts kept with its mask (the insolvent ones)."""

    def add(self, x: int) -> None: ...

    def discard(self, x: int) -> None: ...


class ShardLinkView(Protocol):
    """On a sharded venue (:mod:`ramparts.shard`), what this engine asks of the others."""

    def margin_calls(self, e: LiquidationState, subs: np.ndarray) -> list[dict]: ...

    def fund_drawn(self, instr_idx: int) -> int: ...

    def fund_draw(self, instr_idx: int, amount: int) -> None: ...

    def fund_balance(self, asset: str, key: str) -> int: ...

    def adl_candidates(self, e: LiquidationState, s: int, instr_idx: int, side: int) -> list: ...


@runtime_checkable
class LiquidationState(Protocol):
    """Everything :mod:`ramparts.liquidation.waterfall` reads of a venue and the operations it calls."""

    # -------------------------------------------------------------- venue
    seq: int
    time_ns: int
    settlement: Asset
    assets: dict[str, Asset]
    instruments: list[Instrument]
    markets: list[MarketView]
    liq: LiquidationConfig
    ledger: Ledger
    backstop: int | None
    collateral: CollateralView
    defences: DefencesView
    shard_link: ShardLinkView | None
    books: dict[int, dict]  # instrument → latest order-book snapshot

    # -------------------------------------------------------------- sub-accounts and positions
    subs: SubAccounts
    book: PositionsView
    sub_im: np.ndarray
    sub_mm: np.ndarray
    in_liquidation: np.ndarray
    margin_called: np.ndarray
    is_system: np.ndarray
    insolvent: FlagSetView

    # -------------------------------------------------------------- the waterfall's own bookkeeping
    auctions: dict[int, int]
    insolvent_auctions: dict[int, int]
    last_step_ns: dict[int, int]
    liq_freed: dict[int, int]
    pending_bids: list[dict]
    global_draws: dict[int, int]
    global_draws_ts: int

    # -------------------------------------------------------------- reads
    def equity(self, s: int) -> int: ...

    def equity_array(self, subs: np.ndarray | slice | None = None) -> np.ndarray: ...

    def sub_index(self, subaccount: str, field: str = "subaccount") -> int: ...

    def insurance_key(self, instr: Instrument) -> str: ...

    def book_account(self, field: str = "book_account") -> int: ...

    def borrowed(self, s: int) -> list[str]: ...

    def liquidation_choice(self, s: int) -> tuple[int, int]: ...

    def liquidation_paused(self) -> np.ndarray: ...

    def maintenance_after(self, s: int, instr: Instrument, lots_after: int) -> int: ...

    def requirements(self, instr: Instrument, lots: int, mark: int) -> tuple[int, int]: ...

    # -------------------------------------------------------------- changes (each conserves value)
    def trade(self, s: int, instr: Instrument, delta: int, quote: int) -> int: ...

    def realise(self, s: int) -> None: ...

    def seize_collateral(self, s: int) -> list[dict]: ...

    def margin_calls(self, subs: np.ndarray) -> list[dict]: ...

    def collateral_touched(self, symbol: str, s: int) -> None: ...
