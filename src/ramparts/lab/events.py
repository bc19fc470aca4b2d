"""The named crash windows: which file, which window, which series the lab replays, and which finer series refine it.

This module owns the registry of built-in crash windows (:data:`NAMED_EVENTS`, whose files ship with
the package: :mod:`ramparts.data` finds and verifies them, ``RAMPARTS_DATA`` overrides), the lookup
of an event or a candle file by name (:func:`resolve_event`), and :func:`event_path`, the one place
where an event becomes the price path a replay walks: it loads the base series
(:meth:`NamedEvent.load`, :mod:`ramparts.lab.history`), the event's declared refinement candidates
(or the series the caller names) from the same file, and hands them to
:func:`ramparts.lab.paths.price_path`, whose docstring holds the formulas (basis, bridge, wick
tolerance) and their sources.

Rules
-----
* The base series of every named event is **the Binance USDⓈ-M BTCUSDT perpetual at the finest
  interval that covers the whole window** (see :data:`NAMED_EVENTS`).
* Its refinement candidates (:attr:`NamedEvent.refine`) are every other BTC series of the file, the
  same venue's perpetual first, then spot; the refinement keeps those strictly finer than the base
  (others are listed as ignored) and, per bar, uses the finest that covers it.
* A candle file given by the user is refined only from the series the caller names
  (``refine_source_ids``); those must be able to refine the base, or the call is refused.
* **Several markets** (:func:`event_paths`): an event's file also holds other assets' series
  (:attr:`NamedEvent.others`: ETH for every built-in window); each asset's path is made by the same rule
  (its venue's perpetual at the finest interval that covers the window, refined from that asset's finer
  series), then every path is read on the union of their observation times, each price carried
  forward from its own last observation (``p_a(t) = p_a(max{t_i ≤ t})``, the first observation before
  the asset's first). No altcoin has an intraday series in the shipped data (the daily Yahoo file
  ends 2025-02-11), so the built-in windows replay BTC and ETH at most.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ramparts.data import data_path
from ramparts.data import known as known_data
from ramparts.errors import DataError, InvalidInput
from ramparts.lab.history import Candles, GapPolicy, load_candles
from ramparts.lab.paths import (
    BRIDGE_STEP,
    WICK_TOLERANCE,
    IntrabarOrder,
    PathMethod,
    PricePath,
    WickPolicy,
    cannot_refine,
    price_path,
)

__all__ = ["NAMED_EVENTS", "MarketPaths", "NamedEvent", "event_path", "event_paths", "parse_markets", "resolve_event"]


@dataclass(frozen=True)
class NamedEvent:
    """A crash window and the series the lab replays for it by default.

    Attributes
    ----------
    name : str
        Registry key (``"ftx-2022"``) or, for a custom file, its stem.
    title : str
        One-line description.
    file : str
        Logical path of a shipped data file (:func:`ramparts.data.data_path`), or absolute for a custom file.
    source_id, symbol, market, interval : str or None
        The default series (``source_id`` alone identifies it in the long format; the others are
        informative).
    start, end : str or None
        The window, ``[start, end)`` as ISO-8601 UTC.
    low : float or None
        The series' lowest price in the window, as documented in the data's PROVENANCE (a check).
    rationale : str
        Why this series is the default, and the alternatives in the file.
    refine : tuple of str
        The refinement candidates: ``source_id`` of the file's other series of the same asset, in
        order of preference among equal bar sizes (:func:`event_path` keeps those finer than the
        base series and uses, per bar, the finest that covers it).
    """

    name: str
    title: str
    file: str
    source_id: str | None = None
    symbol: str | None = None
    market: str | None = None
    interval: str | None = None
    start: str | None = None
    end: str | None = None
    low: float | None = None
    rationale: str = ""
    refine: tuple[str, ...] = ()
    asset: str = "BTC"
    #: the other assets' series: ``(asset, source_id, refine)``, or ``(asset, source_id, refine, file)`` when the asset's
    #: series lives in another shipped file (``source_id`` then ``None`` for a single-series file)
    others: tuple[tuple, ...] = ()

    @property
    def assets(self) -> tuple[str, ...]:
        """The assets this event can replay: its own first, then :attr:`others` (``("BTC", "ETH")``)."""
        return (self.asset, *(o[0] for o in self.others))

    def for_asset(self, asset: str) -> NamedEvent:
        """The same window read for another asset of the file: that asset's base series and refinement candidates.

        Raises
        ------
        InvalidInput
            ``markets``: the event has no series for ``asset``.
        """
        a = asset.strip().upper()
        if a == self.asset:
            return self
        for other, source_id, refine, *file in self.others:
            if other == a:
                return replace(self, name=f"{self.name}:{a}", source_id=source_id, symbol=f"{a}/USDT:USDT",
                               file=file[0] if file else self.file,
                               interval=None, low=None, refine=refine, asset=a, others=(),
                               rationale=f"{a}: the same rule as the event's {self.asset} series (the venue's perpetual at the "
                                         "finest interval that covers the window), refined from the file's other "
                                         f"{a} series")
        have = ", ".join(self.assets)
        raise InvalidInput("markets", f"{self.name} has no {a} series (it has: {have})")

    @property
    def path(self) -> Path:
        """Absolute path of the event's file."""
        p = Path(self.file)
        return p if p.is_absolute() else data_path(p)

    def load(self, *, gaps: GapPolicy = "error", **selection: Any) -> Candles:
        """Load the event's candles, cut to its window.

        Parameters
        ----------
        gaps : {"error", "forward_fill", "skip"}
            Gap policy (see :func:`load_candles`).
        **selection
            Overrides of the default series (``source_id=``, ``symbol=``, ``market=``, ``interval=``),
            e.g. ``source_id="bn_spot_BTC_30m_aallvi"``. Passing any of them replaces the default
            selection entirely.

        Returns
        -------
        Candles
        """
        if not selection:
            selection = {"source_id": self.source_id} if self.source_id else {}
        bars = load_candles(self.path, gaps=gaps, **selection)
        return bars.window(self.start, self.end) if (self.start or self.end) else bars

    def load_finer(self, base: Candles, source_ids: Sequence[str] | None = None) -> list[Candles]:
        """The refinement candidates of ``base`` from the event's file, cut to ``base``'s span.

        Parameters
        ----------
        base : Candles
            The series to refine (its own ``source_id`` is left out of the candidates).
        source_ids : sequence of str, optional
            The candidates, instead of :attr:`refine`. Each must exist in the file and be able to
            refine ``base`` (:func:`ramparts.lab.paths.cannot_refine`); otherwise the call is refused.

        Returns
        -------
        list of Candles
            Loaded with ``gaps="skip"``: a bar a candidate misses is simply not covered by it.

        Raises
        ------
        InvalidInput
            ``refine_source_id``: a named series is not in the file, or cannot refine ``base``.
        """
        named = source_ids is not None
        ids = list(source_ids) if named else [s for s in self.refine if s != base.source]
        out = []
        for sid in ids:
            try:
                c = load_candles(self.path, source_id=sid, gaps="skip").window(base.start_ns, base.end_ns)
            except DataError as exc:
                text = str(exc)
                if named and "Available series:" in text:
                    listing = text.split("Available series:", 1)[1]
                    raise InvalidInput("refine_source_id", f"no series {sid!r} in {self.path.name} to refine from. "
                                                           f"Available series:{listing}") from None
                if named and "no source_id column" in text:
                    raise InvalidInput("refine_source_id", f"{self.path.name} holds a single series: there is no other "
                                                           "series to refine from") from None
                raise
            why = cannot_refine(base, c)
            if named and why is not None:
                raise InvalidInput("refine_source_id", f"{sid} cannot refine {base.source}: {why}")
            out.append(c)
        return out


_CW = "crash_windows"

#: The built-in crash windows (the shipped ``crash_windows/`` files of :mod:`ramparts.data`). The default series
#: follows one rule: **the Binance USDⓈ-M BTCUSDT perpetual at the finest interval that covers the whole
#: window** (the engine margins perpetuals; Binance is the venue with the deepest perpetual history
#: in the data, so events stay comparable). Caveat: those are last-trade klines, not Binance's mark
#: price, so their wicks are deeper than an index-based mark (Black Thursday: 3,621.81 perp against
#: 3,782.13 spot). Pass ``source_id=`` to :meth:`NamedEvent.load` for another series. ``refine`` lists every
#: other BTC series of the file (the same venue's perpetual first, then spot, then other venues), the candidates
#: :func:`event_path` refines the base series' bars from.
NAMED_EVENTS: dict[str, NamedEvent] = {
    e.name: e
    for e in (
        NamedEvent(
            "black-thursday-2020", "COVID crash, 12-13 March 2020", f"{_CW}/2020-03-12_black_thursday.csv.gz",
            source_id="bn_usdm_BTC_1h_mooneyes", symbol="BTC/USDT:USDT", market="usdm_perp", interval="1h",
            start="2020-03-11T00:00:00Z", end="2020-03-14T00:00:00Z", low=3621.81,
            rationale="Binance USDⓈ-M perpetual, 1h, complete over the window and through the second leg "
                      "(low 3,621.81 at 2020-03-13 02:00). The only BTC 5m series (bn_spot_BTC_5m_cryofrost) stops at "
                      "2020-03-12 21:10, before the second leg and the 03-13 low, so it cannot be the base; it refines "
                      "the hours it covers (through 20:00 on 03-12), bn_spot_BTC_30m_aallvi (spot, 30m, low 3,782.13) "
                      "the rest.",
            refine=("bn_spot_BTC_5m_cryofrost", "bn_spot_BTC_30m_aallvi", "ftx_spot_BTCUSD_1h_mooneyes"),
            others=(("ETH", "bn_usdm_ETH_1h_mooneyes", ("bn_spot_ETH_5m_aovolkov", "bn_spot_ETH_30m_aallvi",
                                                        "ftx_spot_ETHUSD_1h_mooneyes")),),
        ),
        NamedEvent(
            "china-ban-2021", "China mining/exchange ban crash, 19 May 2021", f"{_CW}/2021-05-19_china_ban_crash.csv.gz",
            source_id="bn_usdm_BTC_1h_mooneyes", symbol="BTC/USDT:USDT", market="usdm_perp", interval="1h",
            start="2021-05-18T00:00:00Z", end="2021-05-21T00:00:00Z", low=28688.0,
            rationale="Binance USDⓈ-M perpetual, 1h, the only perpetual in the file, complete (low 28,688 at "
                      "2021-05-19 13:00). Finer alternatives: bn_spot_BTC_1m_tooyipjee (1-minute spot, covers the "
                      "13:10 low of 30,000 but ends 2021-05-20 20:40) and bn_spot_BTC_30m_aallvi (complete).",
            refine=("bn_spot_BTC_1m_tooyipjee", "bn_spot_BTC_30m_aallvi", "ftx_spot_BTCUSD_1h_mooneyes"),
            others=(("ETH", "bn_usdm_ETH_1h_mooneyes", ("bn_spot_ETH_1m_tooyipjee", "bn_spot_ETH_30m_aallvi",
                                                        "ftx_spot_ETHUSD_1h_mooneyes")),),
        ),
        NamedEvent(
            "ftx-2022", "FTX collapse, 6-11 November 2022", f"{_CW}/2022-11_ftx_collapse.csv.gz",
            source_id="bn_usdm_BTC_5m_trickbaker", symbol="BTC/USDT:USDT", market="usdm_perp", interval="5m",
            start="2022-11-06T00:00:00Z", end="2022-11-12T00:00:00Z", low=15462.6,
            rationale="Binance USDⓈ-M perpetual, 5m, complete (low 15,462.6 at 2022-11-09 22:05). Alternatives: "
                      "bn_usdm_BTC_1h_mooneyes, bn_spot_BTC_5m_danielarroyave (spot low 15,588). No BTC series is "
                      "finer than 5m, so the default path is the perpetual's own bars.",
            refine=("bn_usdm_BTC_1h_mooneyes", "bn_spot_BTC_5m_danielarroyave"),
            others=(("ETH", "bn_usdm_ETH_5m_trickbaker", ("bn_usdm_ETH_1h_mooneyes", "bn_spot_ETH_5m_danielarroyave")),),
        ),
        NamedEvent(
            "yen-carry-2024", "Yen carry-trade unwind, 5 August 2024", f"{_CW}/2024-08-05_yen_carry_unwind.csv.gz",
            source_id="bn_usdm_BTC_15m_saam0", symbol="BTC/USDT:USDT", market="usdm_perp", interval="15m",
            start="2024-08-02T00:00:00Z", end="2024-08-07T00:00:00Z", low=48888.0,
            rationale="Binance USDⓈ-M perpetual, 15m (the finest perpetual), complete (low 48,888 at 2024-08-05 "
                      "06:15). Alternatives: bybit_lin_BTC_15m_mohsenjfar (Bybit perp, low 48,914.1), "
                      "bn_spot_BTC_5m_moudux (5m spot, low 49,000), which refines the perpetual's bars.",
            refine=("bn_spot_BTC_5m_moudux", "bybit_lin_BTC_15m_mohsenjfar"),
            others=(("ETH", "bn_usdm_ETH_15m_saam0", ("bn_spot_ETH_5m_moudux", "bybit_lin_ETH_15m_mohsenjfar")),),
        ),
        NamedEvent(
            "tariff-cascade-2025", "Tariff liquidation cascade, 10 October 2025",
            f"{_CW}/2025-10-10_tariff_liquidation_cascade.csv.gz",
            source_id="bn_usdm_BTC_5m_murphyhoops", symbol="BTC/USDT:USDT", market="usdm_perp", interval="5m",
            start="2025-10-09T00:00:00Z", end="2025-10-13T00:00:00Z", low=101516.5,
            rationale="Binance USDⓈ-M perpetual, 5m, complete (low 101,516.5 at 2025-10-10 21:20). Alternatives: "
                      "bn_usdm_BTC_15m_saam0, bybit_lin_BTC_15m_mohsenjfar (Bybit perp, low 101,045.9), "
                      "bn_spot_BTC_5m_harthor (5m spot, low 102,000). No BTC series is finer than 5m, so the "
                      "default path is the perpetual's own bars.",
            refine=("bn_usdm_BTC_5m_murphyhoops", "bn_usdm_BTC_15m_saam0", "bn_spot_BTC_5m_harthor",
                    "bybit_lin_BTC_15m_mohsenjfar"),
            others=(("ETH", "bn_usdm_ETH_15m_saam0", ("bn_spot_ETH_5m_harthor", "bybit_lin_ETH_15m_mohsenjfar")),),
        ),
        NamedEvent(
            "luna-2022", "LUNA / UST collapse week, 7-13 May 2022", "hourly/binance_usdm_BTCUSDT_perp_1h_2020-2022.csv.gz",
            symbol="BTC/USDT:USDT", market="usdm_perp", interval="1h",
            start="2022-05-07T00:00:00Z", end="2022-05-14T00:00:00Z", low=26631.0,
            rationale="Binance USDⓈ-M perpetual, 1h, from the continuous hourly file (low 26,631 on 2022-05-12). The shipped "
                      "data holds no intraday crash-window file for May 2022 (the 5-minute Binance and FTX spot series the "
                      "data's provenance lists for 2022-05 were not shipped), so no finer series refines it: the path is "
                      "the perpetual's four-point hourly bars, and --sensitivity shows how much that bar size weighs.",
            others=(("ETH", None, (), "hourly/binance_usdm_ETHUSDT_perp_1h_2020-2022.csv.gz"),),
        ),
    )
}


def resolve_event(name_or_path: str | os.PathLike[str]) -> NamedEvent:
    """Find a crash window by registry name, or wrap a file as an ad-hoc event.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A key of :data:`NAMED_EVENTS` (case-insensitive; ``_`` and spaces may stand for ``-``), or the
        path of a candle file. A relative path is looked up from the current directory and then
        among the shipped data files (:func:`ramparts.data.data_path`).

    Returns
    -------
    NamedEvent
        The registered event, or for a file an event with no default series and no window (its
        :meth:`~NamedEvent.load` then needs the selection arguments if the file holds several series).

    Raises
    ------
    DataError
        If the argument is neither a known name nor an existing file: "no such file" for what looks
        like a path (a folder separator or a file suffix), otherwise "unknown event" with the names.
    """
    if isinstance(name_or_path, str):
        key = re.sub(r"[_\s]+", "-", name_or_path.strip().lower())
        if key in NAMED_EVENTS:
            return NAMED_EVENTS[key]
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return NamedEvent(name=p.name.split(".")[0], title=f"custom file {p.name}", file=str(p.resolve()))
    if not p.is_absolute() and known_data(p):
        shipped = data_path(p)
        return NamedEvent(name=shipped.name.split(".")[0], title=f"data file {p.as_posix()}", file=str(shipped))
    text = str(name_or_path)
    if "/" in text or os.sep in text or re.search(r"\.[A-Za-z][A-Za-z0-9]{1,7}$", text):
        raise DataError(f"no such file: {text!r}")
    raise DataError(f"unknown event {text!r}: not one of {', '.join(NAMED_EVENTS)} (or give a candle file's path)")


def event_path(
    event: NamedEvent,
    *,
    gaps: GapPolicy = "error",
    source_id: str | None = None,
    method: PathMethod = "refined",
    refine_source_ids: Sequence[str] | None = None,
    order: IntrabarOrder = "worst_long",
    wicks: WickPolicy = "clip",
    tolerance: float = WICK_TOLERANCE,
    bridge_step: str | int = BRIDGE_STEP,
) -> PricePath:
    """The price path a replay of ``event`` walks, with the record of how it was made.

    Parameters
    ----------
    event : NamedEvent
        A named event or a candle file (:func:`resolve_event`).
    gaps : {"error", "forward_fill", "skip"}
        Gap policy of the base series.
    source_id : str, optional
        The base series, instead of the event's default.
    method : {"refined", "coarse"}
        ``"refined"`` (default): the base series' bars refined from finer series of the same asset
        (:func:`ramparts.lab.paths.price_path`); ``"coarse"``: their four-point path, as before
        refinement existed (the finer series then only list the wicks it keeps).
    refine_source_ids : sequence of str, optional
        The finer series to refine from, instead of the event's :attr:`NamedEvent.refine`. A candle
        file without a declared list is refined only from these.
    order, wicks, tolerance, bridge_step
        See :func:`ramparts.lab.paths.price_path`.

    Returns
    -------
    PricePath
        A file with no candidate gives the coarse path, its provenance saying why.
    """
    base = event.load(gaps=gaps, **({"source_id": source_id} if source_id else {}))
    named = refine_source_ids is not None and len(refine_source_ids) > 0
    finer = event.load_finer(base, list(refine_source_ids) if named and refine_source_ids else None)
    if method == "refined" and not finer and not named and not event.refine:
        path = price_path(base, (), method="coarse", order=order, wicks=wicks, tolerance=tolerance, bridge_step=bridge_step)
        assert path.provenance is not None
        named_event = event.name.split(":")[0] in NAMED_EVENTS
        note = ("not refined: no finer series of this asset ships for the window" if named_event
                else "not refined: a candle file is refined only from the finer series the caller names")
        return replace(path, provenance=replace(path.provenance, notes=(*path.provenance.notes, note)))
    return price_path(base, finer, method=method, order=order, wicks=wicks, tolerance=tolerance, bridge_step=bridge_step)


@dataclass(frozen=True, eq=False)
class MarketPaths:
    """Several markets' paths on one time axis (:func:`event_paths`).

    Attributes
    ----------
    ts_ns : numpy.ndarray of int64
        The union of the markets' observation times.
    prices : dict of str to numpy.ndarray
        ``{"BTC-PERP": ..., "ETH-PERP": ...}`` on ``ts_ns``, each carried forward from its own last observation;
        the first market is the primary one (the report's).
    paths : dict of str to PricePath
        Each market's own path, with its provenance, before alignment.
    """

    ts_ns: Any
    prices: dict[str, Any]
    paths: dict[str, PricePath]

    @property
    def primary(self) -> PricePath:
        return next(iter(self.paths.values()))

    def provenance(self) -> dict:
        """Each market's path record (the summary's ``paths``)."""
        return {sym: p.provenance.to_dict() for sym, p in self.paths.items() if p.provenance is not None}


def parse_markets(text: str | Sequence[str] | None, event: NamedEvent) -> tuple[str, ...]:
    """``--markets``: ``"BTC,ETH"`` (or ``"all"``) as the event's assets, checked, without repeats; the first is primary."""
    if text is None:
        return (event.asset,)
    items = [t.strip().upper() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if items == ["ALL"]:
        return event.assets
    if not items:
        raise InvalidInput("markets", f"name at least one asset (this event has: {', '.join(event.assets)})")
    seen: list[str] = []
    for a in items:
        if a.endswith("-PERP"):
            a = a[: -len("-PERP")]
        if a not in event.assets:
            if not event.others and event.file and Path(event.file).is_absolute() and event.source_id is None:
                raise InvalidInput("markets", f"a candle file replays one market; {a} is not in {event.name}")
            raise InvalidInput("markets", f"{event.name} has no {a} series (it has: {', '.join(event.assets)})")
        if a not in seen:
            seen.append(a)
    return tuple(seen)


def event_paths(event: NamedEvent, assets: Sequence[str], **kwargs: Any) -> MarketPaths:
    """The paths of ``assets`` (``("BTC", "ETH")``) over ``event``'s window, aligned on one time axis.

    Each asset's path is :func:`event_path` of :meth:`NamedEvent.for_asset` with the same ``kwargs``
    (``source_id`` and ``refine_source_ids`` apply to the event's own asset only). Alignment: the union of the
    observation times; each market's price at ``t`` is its last observation at or before ``t`` (its first
    before that), so no price is invented between observations.
    """
    import numpy as np

    if not assets:
        raise InvalidInput("markets", "name at least one asset")
    own = {k: kwargs.pop(k) for k in ("source_id", "refine_source_ids") if k in kwargs}
    paths: dict[str, PricePath] = {}
    for a in assets:
        ev_a = event.for_asset(a)
        paths[f"{a.upper()}-PERP"] = event_path(ev_a, **kwargs, **(own if ev_a is event else {}))
    ts = np.unique(np.concatenate([p.ts_ns for p in paths.values()]))
    prices = {}
    for sym, p in paths.items():
        idx = np.clip(np.searchsorted(p.ts_ns, ts, side="right") - 1, 0, len(p.ts_ns) - 1)
        prices[sym] = p.price[idx]
    return MarketPaths(ts, prices, paths)
