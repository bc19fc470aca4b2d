"""Price paths: how the lab turns OHLC bars into the oracle observations a replay feeds the engine.

This module owns the path a replay walks and the record of how it was made
(:class:`PathProvenance`, carried by every :class:`PricePath` built here), so that a report can say
its bar size, where its intra-bar moves came from and which extremes it did not believe. A bar
says which prices were touched, not when, and the answer of a crash replay depends on that: Black
Thursday's 2020-03-12 10:00 hourly perpetual bar replayed as one jump from its open (7,358.51) to
its low (5,199.17) makes most of that run's bankruptcy deficit, while the 5-minute spot series of
the same hour never traded below 5,550.

Three ways to make a path
-------------------------
**Four-point path** (:func:`intrabar_path`, the lab's original path; ``method="coarse"``). Each bar
``[t, t+I)`` gives four observations at ``t, t+I/4, t+I/2, t+3I/4`` (integer ``I // 4`` steps): the
open, the two extremes in a chosen order, the close. ``worst_long`` visits the low first (the worst
case for a long), ``worst_short`` the high first, ``auto`` the usual backtesting heuristic (a rising
bar low first, a falling one high first), ``close`` one observation per bar.

**Refinement** (:func:`price_path`, ``method="refined"``). A bar of the base (coarse) series takes
its intra-bar path from a *finer* series of the same asset (bar length ``i`` with ``I % i == 0``)
that has every one of its ``k = I / i`` bars in ``[t, t+I)`` (none missing or forward-filled, on
the same grid); of several, the finest, then the one listed first. With ``(τ_j, f_j)``,
``j = 0 … 4k−1``, the finer bars' own four-point observations (``τ_0 = t`` is the first finer open,
``τ_e = t + I − i/4`` the last finer close) and ``O, H, L, C`` the coarse bar:

1. the basis between the two series moves linearly in log space across the bar, from the open
   ratio to the close ratio (it is observed only there)::

       b(τ) = b_o + (b_c − b_o) · (τ − t) / (τ_e − t),   b_o = ln(O / f_0),   b_c = ln(C / f_e)

2. ``p_j = f_j · exp(b(τ_j))``, so that ``p_0 = O`` and ``p_e = C`` exactly, then clipped into
   ``[L, H]`` (the coarse series did not trade outside its own bar);
3. the *confirmed* low ``L* = min p_j`` over the interior observations (at ``τ*``); the gap of the
   coarse low is ``g = (L* − L) / L*`` (for the high, ``g = (H − H*) / H*``). If ``g ≤ tolerance``
   the coarse extreme is confirmed and the observation at ``τ*`` is set to it, so the path honours
   the bar's O, H, L and C exactly. If ``g > tolerance`` the coarse extreme is an **unconfirmed
   wick**, listed in :attr:`PathProvenance.wicks`; the policy decides: ``wicks="clip"`` (default)
   keeps ``L*`` (the path honours the finer series' extreme), ``wicks="keep"`` visits the coarse
   extreme as one observation at ``τ*``.

The default tolerance, :data:`WICK_TOLERANCE` = 1 %, was set against the shipped crash windows
(every gap of every bar their BTC perpetuals' default refinement covers, measured): from a 5-minute
or 1-minute series, the largest gap left unflagged is 0.69 % (China ban 2021; Black Thursday 0.53 %,
yen carry 0.25 %) and the five flagged ones are the crash wicks, 1.2 % to 5.9 % (Black Thursday
2020-03-12 10:00: perpetual low 5,199.17 against a 5-minute spot low of 5,550). From a 30-minute
series the interpolated basis is cruder: on 2020-03-13, when the perpetual traded up to 2.6 % below
spot, seven extremes 1.1 % to 2.5 % beyond spot's are flagged, and listed, rather than believed.

**Bridge** (the fall-back of a refinement). A bar no finer series covers is bridged through its
points in the chosen order, ``O → X1 → X2 → C`` (``X1, X2`` the extremes), each leg cut into ``m``
equal steps **linear in log price**, ``3m + 1`` observations at ``t + j · (I // (3m+1))``. That is
the expected path of a Brownian bridge in log price between known points
(``E[X_s | X_0 = a, X_T = b] = a + (b − a) s / T``; Glasserman, *Monte Carlo Methods in Financial
Engineering*, 2003, §3.1): deterministic, and it honours O, H, L and C exactly. ``m`` is the least
number of steps per leg that puts the observations no further apart than ``bridge_step`` (default
:data:`BRIDGE_STEP`, 5 minutes, the finest BTC bar size in four of the five shipped windows):
``m = max(1, ceil((I / bridge_step − 1) / 3))``. With ``m = 1`` the bridge *is* the bar's
four-point path, and the bar is counted as ``coarse``: a 5-minute bar stays four points, an hourly
one becomes 13 (one every 4 min 37 s).

Every bar is counted as ``refined``, ``bridged`` or ``coarse`` in the path's provenance, with the
finer series used, the observation count, the median step, the wick policy and every flagged wick.
Everything here is deterministic: the same bars give the same path, to the bit.

:func:`resample_path` turns a path into bars of another size and back into a four-point path (the
bar-size axis of ``ramparts replay --sensitivity``, the bar of ``ramparts replay-options --bar``); the
result keeps the finer series and wicks of the path it was cut from. :func:`synthetic_provenance` is the
record of a Monte Carlo path (``ramparts stress``, ``calibrate``'s synthetic scenarios, ``depeg synthetic``),
so that every report states how its path was made, synthetic or not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from ramparts.errors import InvalidInput
from ramparts.lab.history import Candles, format_interval, iso_utc, parse_interval

__all__ = [
    "BRIDGE_STEP",
    "WICK_TOLERANCE",
    "IntrabarOrder",
    "PathProvenance",
    "PricePath",
    "Wick",
    "bridge_substeps",
    "cannot_refine",
    "intrabar_path",
    "price_path",
    "resample_path",
    "synthetic_provenance",
]

IntrabarOrder = Literal["olhc", "ohlc", "worst_long", "worst_short", "auto", "close"]
PathMethod = Literal["refined", "coarse"]
WickPolicy = Literal["clip", "keep"]

#: A coarse extreme more than this fraction beyond the finer series' confirmed extreme is an unconfirmed wick.
WICK_TOLERANCE = 0.01
#: The bridge puts a bar's observations no further apart than this.
BRIDGE_STEP = "5m"

_ORDERS: dict[str, tuple[str, ...]] = {
    "ohlc": ("open", "high", "low", "close"),
    "olhc": ("open", "low", "high", "close"),
    "worst_long": ("open", "low", "high", "close"),
    "worst_short": ("open", "high", "low", "close"),
}
_FOUR_POINT = ("olhc", "ohlc", "worst_long", "worst_short", "auto")


# --------------------------------------------------------------------------------------------------
# what a path is, and how it was made


@dataclass(frozen=True)
class Wick:
    """A coarse bar's extreme that the finer series does not confirm (see the module docstring).

    Attributes
    ----------
    bar_ns : int
        Open time of the coarse bar (UTC nanoseconds).
    side : {"low", "high"}
    coarse : float
        The coarse bar's extreme.
    confirmed : float
        The finer series' extreme in that bar, on the coarse series' level (after the basis).
    finer : float
        The finer series' own extreme (its price, before the basis).
    finer_source : str
        The finer series.
    at_ns : int
        When the finer series made its extreme (the path's observation time).
    gap : float
        How far the coarse extreme lies beyond the confirmed one, as a fraction of the confirmed one.
    action : {"clipped", "kept"}
        What the path did: ``clipped`` visits the confirmed extreme, ``kept`` the coarse one (a
        coarse path keeps every wick).
    """

    bar_ns: int
    side: str
    coarse: float
    confirmed: float
    finer: float
    finer_source: str
    at_ns: int
    gap: float
    action: str

    def to_dict(self) -> dict:
        return {"bar": iso_utc(self.bar_ns), "side": self.side, "coarse": self.coarse, "confirmed": round(self.confirmed, 8),
                "finer": self.finer, "finer_source": self.finer_source, "at": _iso_ns(self.at_ns), "gap": round(self.gap, 6),
                "action": self.action}

    def describe(self) -> str:
        return (f"{iso_utc(self.bar_ns)} {self.side} {self.coarse:,.2f} vs confirmed {self.confirmed:,.2f} "
                f"({self.finer_source} {self.finer:,.2f} at {_iso_ns(self.at_ns)[11:]}): {self.gap:.1%} beyond, {self.action}")


@dataclass(frozen=True)
class PathProvenance:
    """How a :class:`PricePath` was made: the record every report prints.

    Attributes
    ----------
    method : {"coarse", "refined", "resampled", "synthetic"}
        ``synthetic``: a Monte Carlo path drawn from a model (:func:`synthetic_provenance`), no historical bar.
    base_source : str or None
        The base series (a ``source_id`` or a file name; for a synthetic path, the model).
    base_interval_ns : int or None
        Its bar length.
    order : str or None
        The intra-bar order of the four-point paths and of the bridge.
    bars, bars_refined, bars_bridged, bars_coarse : int
        Bars of the base series, and how each was turned into observations (they add up to ``bars``).
    finer : tuple of (source, interval_ns, bars)
        The finer series that covered bars, finest first, and how many bars each covered (refined
        them, or, for a coarse path, checked their extremes).
    ignored : tuple of (source, reason)
        Series offered for refinement and not used.
    bridge_step_ns : int or None
        The bridge's largest step (``None`` when no bridge could be needed).
    wick_policy : str or None
        ``clip`` or ``keep`` (a coarse path keeps everything).
    wick_tolerance : float or None
    wicks : tuple of Wick
    observations : int
    median_step_ns : int
        Median time between consecutive observations.
    max_basis : float
        Largest ``|b_o|`` or ``|b_c|`` (log ratio of coarse to finer price) over the refined bars.
    notes : tuple of str
    """

    method: str
    base_source: str | None
    base_interval_ns: int | None
    order: str | None
    bars: int
    bars_refined: int = 0
    bars_bridged: int = 0
    bars_coarse: int = 0
    finer: tuple[tuple[str, int, int], ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()
    bridge_step_ns: int | None = None
    wick_policy: str | None = None
    wick_tolerance: float | None = None
    wicks: tuple[Wick, ...] = ()
    observations: int = 0
    median_step_ns: int = 0
    max_basis: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def base_interval(self) -> str | None:
        return None if self.base_interval_ns is None else format_interval(self.base_interval_ns)

    def share(self) -> dict[str, float]:
        """Fraction of the base bars refined, bridged and kept coarse."""
        n = max(self.bars, 1)
        return {"refined": self.bars_refined / n, "bridged": self.bars_bridged / n, "coarse": self.bars_coarse / n}

    def to_dict(self) -> dict:
        """The record as the summary JSON states it (times ISO-8601 UTC, intervals as ``"5m"``)."""
        return {
            "method": self.method,
            "base": {"source_id": self.base_source, "interval": self.base_interval, "bars": self.bars},
            "order": self.order,
            "bars": {"refined": self.bars_refined, "bridged": self.bars_bridged, "coarse": self.bars_coarse},
            "share": {k: round(v, 6) for k, v in self.share().items()},
            "finer_series": [{"source_id": s, "interval": format_interval(i), "bars_covered": b} for s, i, b in self.finer],
            "ignored_series": [{"source_id": s, "reason": r} for s, r in self.ignored],
            "bridge_step": None if self.bridge_step_ns is None else format_interval(self.bridge_step_ns),
            "observations": self.observations,
            "median_step_s": self.median_step_ns / 1e9,
            "max_abs_log_basis": round(self.max_basis, 6),
            "wick_policy": self.wick_policy,
            "wick_tolerance": self.wick_tolerance,
            "wicks": [w.to_dict() for w in self.wicks],
            "notes": list(self.notes),
        }

    def describe(self) -> str:
        """One line: the base series, its bar size and what was done to it."""
        base = f"{self.base_source or 'path'} ({self.base_interval or '?'} bars)"
        if self.method == "refined":
            used = ", ".join(f"{s} ({format_interval(i)})" for s, i, _ in self.finer) or "no finer series"
            return f"{base} refined from {used}"
        if self.method == "resampled":
            return f"{base}: {self.notes[0] if self.notes else 'resampled'}"
        if self.method == "synthetic":
            return f"synthetic path: {self.base_source or 'a model'}, one observation every {self.base_interval or '?'}"
        return f"{base} as four-point bars ({self.order})"

    def label(self) -> str:
        """A few words: ``refined: 1h bars from 5m, 30m``, ``coarse: 1h bars, four points each``."""
        if self.method == "refined":
            return f"refined: {self.base_interval} bars from " + (", ".join(format_interval(i) for _, i, _ in self.finer) or "none")
        if self.method == "resampled":
            return f"resampled to {self.base_interval} bars"
        if self.method == "synthetic":
            return f"synthetic: {self.base_source or 'a model'}, {self.base_interval} steps"
        return f"coarse: {self.base_interval} bars, four points each" if self.order != "close" else f"coarse: {self.base_interval} closes"

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a console table."""
        if self.method == "synthetic":
            return [("price path", self.describe()), ("  observations, step", f"{self.observations:,}, {_duration(self.median_step_ns)}")]
        sh = self.share()
        rows = [("price path", self.describe()),
                ("  bars refined / bridged / coarse",
                 f"{self.bars_refined:,} / {self.bars_bridged:,} / {self.bars_coarse:,} "
                 f"({sh['refined']:.0%} / {sh['bridged']:.0%} / {sh['coarse']:.0%})"),
                ("  observations, median step", f"{self.observations:,}, {_duration(self.median_step_ns)}")]
        if self.bars_bridged and self.bridge_step_ns:
            rows.append(("  bridge", f"O→extremes→C, log-linear, steps ≤ {format_interval(self.bridge_step_ns)}"))
        if self.wick_policy is not None:
            found = f"{len(self.wicks)} flagged" if self.finer else "not checked (no finer series)"
            rows.append(("  unconfirmed wicks", f"{found}; policy {self.wick_policy}, tolerance {self.wick_tolerance:.2%}"))
        return rows


def _iso_ns(ns: int) -> str:
    """ISO-8601 UTC, with the seconds' fraction when there is one."""
    s = iso_utc(ns)
    frac = int(ns) % 10**9
    return s if not frac else f"{s[:-1]}.{frac:09d}".rstrip("0") + "Z"


def _duration(ns: int) -> str:
    s = ns / 1e9
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60:
        m, r = divmod(s, 60)
        return f"{int(m)} min {r:g} s" if r else f"{int(m)} min"
    return f"{s:g} s"


@dataclass(frozen=True, eq=False)
class PricePath:
    """A path of oracle price observations: what the replay feeds the engine, one tick at a time.

    Attributes
    ----------
    ts_ns : numpy.ndarray of int64
        Observation times, nanoseconds since the epoch (UTC), strictly increasing.
    price : numpy.ndarray of float64
        Observed prices, positive and finite.
    symbol, source : str or None
        Metadata carried over from the candles (or given by the caller).
    interval_ns : int or None
        Length of the bars the path was built from (``None`` for a path not built from bars).
    order : str or None
        The intrabar order used by :func:`intrabar_path` (``None`` otherwise).
    provenance : PathProvenance or None
        How the path was made (``None`` for a path built by hand).

    Raises
    ------
    InvalidInput
        On construction, if the arrays differ in length, a timestamp does not increase strictly, or
        a price is not positive and finite.
    """

    ts_ns: np.ndarray
    price: np.ndarray
    symbol: str | None = None
    source: str | None = None
    interval_ns: int | None = None
    order: str | None = None
    provenance: PathProvenance | None = None

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts_ns, dtype=np.int64)
        px = np.asarray(self.price, dtype=np.float64)
        if ts.ndim != 1 or px.ndim != 1 or len(ts) != len(px):
            raise InvalidInput("price", f"ts_ns and price must be 1-D of equal length, got {ts.shape} and {px.shape}")
        if len(ts) and not np.all(np.diff(ts) > 0):
            i = int(np.argmax(np.diff(ts) <= 0)) + 1
            raise InvalidInput("ts_ns", f"must increase strictly; observation {i} is at or before the previous one")
        bad = ~np.isfinite(px) | (px <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidInput("price", f"must be positive and finite; observation {i} is {float(px[i])!r}")
        object.__setattr__(self, "ts_ns", ts)
        object.__setattr__(self, "price", px)

    def __len__(self) -> int:
        return len(self.ts_ns)

    def log_returns(self) -> np.ndarray:
        """Log returns between consecutive observations (length ``len(self) - 1``)."""
        return np.diff(np.log(self.price))


def _median_step(ts: np.ndarray) -> int:
    return int(np.median(np.diff(ts))) if len(ts) > 1 else 0


# --------------------------------------------------------------------------------------------------
# four-point paths


def _four_point_columns(candles: Candles, order: str) -> tuple[np.ndarray, ...]:
    if order == "auto":
        up = candles.close >= candles.open
        return (candles.open, np.where(up, candles.low, candles.high), np.where(up, candles.high, candles.low), candles.close)
    if order in _ORDERS:
        return tuple(getattr(candles, name) for name in _ORDERS[order])
    raise InvalidInput("order", f"must be one of olhc, ohlc, worst_long, worst_short, auto, close; got {order!r}")


def intrabar_path(candles: Candles, order: IntrabarOrder = "worst_long") -> PricePath:
    """Turn candles into an oracle price path with one or four observations per bar.

    A candle only says which prices were touched, not when. This function picks an order and
    places the observations at fixed points inside each bar of length ``I``:

    ========= ===========================================================
    offset    observation (four-point orders)
    ========= ===========================================================
    ``t``     the open
    ``t+I/4`` the first extreme (the low for ``olhc``/``worst_long``)
    ``t+I/2`` the second extreme (the high for ``olhc``/``worst_long``)
    ``t+3I/4`` the close
    ========= ===========================================================

    where ``t`` is the bar's open time (offsets are integer nanoseconds, ``I // 4`` etc.). The close
    is stamped a quarter bar before the next open, not at the bar's end, so that timestamps stay
    strictly increasing and every order puts the same close at the same instant (``"close"`` is a
    sub-path of all the others).

    Parameters
    ----------
    candles : Candles
        The bars (forward-filled bars, if any, give four equal observations).
    order : {"worst_long", "worst_short", "olhc", "ohlc", "auto", "close"}
        * ``"olhc"`` / ``"worst_long"``: open → low → high → close. Visiting the low first is the
          worst case for a long position (it is liquidated before any recovery).
        * ``"ohlc"`` / ``"worst_short"``: open → high → low → close, the worst case for a short.
        * ``"auto"``: the usual backtesting heuristic: a rising bar (close ≥ open) is taken as
          open → low → high → close, a falling one as open → high → low → close.
        * ``"close"``: one observation per bar, the close, at ``t + 3I/4``.

    Returns
    -------
    PricePath
        ``4 * len(candles)`` observations (``len(candles)`` for ``"close"``), with the candles'
        symbol, source and interval, and a provenance saying every bar is ``coarse``.

    Raises
    ------
    InvalidInput
        For an unknown order or an interval shorter than 4 ns.
    """
    n = len(candles)
    interval = int(candles.interval_ns)
    if interval < 4:
        raise InvalidInput("interval_ns", f"must be at least 4 ns to place four observations, got {interval}")
    ts = candles.ts_ns.astype(np.int64)
    if order == "close":
        t, price = ts + 3 * (interval // 4), candles.close.astype(np.float64)
    else:
        cols = _four_point_columns(candles, order)
        offsets = np.array([0, interval // 4, interval // 2, 3 * (interval // 4)], dtype=np.int64)
        price = np.column_stack(cols).reshape(4 * n).astype(np.float64)
        t = (ts[:, None] + offsets[None, :]).reshape(4 * n)
    prov = PathProvenance("coarse", candles.source, interval, order, n, bars_coarse=n, observations=len(t),
                          median_step_ns=_median_step(t))
    return PricePath(t, price, candles.symbol, candles.source, interval, order, prov)


# --------------------------------------------------------------------------------------------------
# refinement and bridge


def bridge_substeps(interval_ns: int, bridge_step_ns: int) -> int:
    """Steps per leg ``m`` of the bridge of a bar of ``interval_ns``: the least ``m ≥ 1`` with
    ``interval / (3m + 1) ≤ bridge_step`` (``m = max(1, ceil((I / step − 1) / 3))``)."""
    return max(1, math.ceil((interval_ns / bridge_step_ns - 1) / 3))


_QUOTES = ("USDT", "USDC", "BUSD", "USD", "EUR", "BTC")


def _asset(symbol: str | None) -> str | None:
    """The base asset of a symbol (``BTC/USDT:USDT`` → ``BTC``, ``BTCUSDT`` → ``BTC``), or ``None``."""
    if not symbol:
        return None
    head = re.split(r"[/\-_:]", symbol.strip().upper())[0]
    if head != symbol.strip().upper():
        return head
    for q in _QUOTES:
        if head.endswith(q) and len(head) > len(q):
            return head[: -len(q)]
    return head


def cannot_refine(base: Candles, finer: Candles) -> str | None:
    """Why ``finer`` cannot refine ``base`` (``None`` if it can): the same series, bars not strictly
    finer or not dividing the base's, or (both symbols known) another asset."""
    if finer.source is not None and finer.source == base.source and finer.interval_ns == base.interval_ns:
        return "it is the base series"
    a, b = _asset(base.symbol), _asset(finer.symbol)
    if a is not None and b is not None and a != b:
        return f"another asset ({finer.symbol} against {base.symbol})"
    if finer.interval_ns >= base.interval_ns:
        return f"its {finer.interval} bars are not finer than the base's {base.interval}"
    if base.interval_ns % finer.interval_ns:
        return f"its {finer.interval} bars do not divide the base's {base.interval}"
    return None


@dataclass
class _Finer:
    candles: Candles
    ts: np.ndarray  # the finer path's observation times, (n, 4)
    px: np.ndarray  # and prices, (n, 4)
    used: int = 0


def _covering(cands: list[_Finer], t: int, interval: int) -> tuple[_Finer, int, int] | None:
    """The finest candidate with every bar of ``[t, t + interval)``: (candidate, first bar, count)."""
    for c in cands:
        iv = c.candles.interval_ns
        k = interval // iv
        ts = c.candles.ts_ns
        lo = int(np.searchsorted(ts, t))
        if lo + k > len(ts) or ts[lo] != t or ts[lo + k - 1] != t + (k - 1) * iv:
            continue
        assert c.candles.filled is not None
        if c.candles.filled[lo : lo + k].any() or (k > 1 and not np.all(np.diff(ts[lo : lo + k]) == iv)):
            continue
        return c, lo, k
    return None


def _low_first(order: str, o: float, c: float) -> bool:
    if order == "auto":
        return c >= o
    return order in ("olhc", "worst_long")


def _refine_bar(t: int, o: float, h: float, lo_: float, c: float, fine: _Finer, first: int, k: int, order: str,
                wicks: str, tol: float) -> tuple[np.ndarray, np.ndarray, list[Wick], float]:
    """One coarse bar's observations from a covering finer series (formulas in the module docstring)."""
    ft = fine.ts[first : first + k].reshape(-1)
    fp = fine.px[first : first + k].reshape(-1)
    b_o, b_c = math.log(o / fp[0]), math.log(c / fp[-1])
    w = (ft - t) / float(ft[-1] - t)
    p = fp * np.exp(b_o + (b_c - b_o) * w)
    p[0], p[-1] = o, c
    p = np.clip(p, lo_, h)
    inner = p[1:-1]
    j_lo, j_hi = 1 + int(np.argmin(inner)), 1 + int(np.argmax(inner))
    if j_lo == j_hi:  # a flat interior: no timing to take from it, so the order decides
        a, b = 1, len(p) - 2
        j_lo, j_hi = (a, b) if _low_first(order, o, c) else (b, a)
    found: list[Wick] = []
    src = fine.candles.source or "finer series"
    for side, j, coarse in (("low", j_lo, lo_), ("high", j_hi, h)):
        confirmed = float(p[j])
        gap = (confirmed - coarse) / confirmed if side == "low" else (coarse - confirmed) / confirmed
        if gap <= 0:
            continue
        flagged = gap > tol
        if not flagged or wicks == "keep":
            p[j] = coarse
        if flagged:
            found.append(Wick(t, side, float(coarse), confirmed, float(fp[j]), src, int(ft[j]), float(gap),
                              "kept" if wicks == "keep" else "clipped"))
    return ft, p, found, max(abs(b_o), abs(b_c))


def _bridge_bar(t: int, interval: int, o: float, x1: float, x2: float, c: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``O → X1 → X2 → C``, ``m`` log-linear steps a leg, at ``t + j · (I // (3m + 1))``."""
    knots = np.log([o, x1, x2, c])
    s = np.arange(3 * m + 1) / m  # 0 … 3 in steps of 1/m
    leg = np.minimum(s.astype(np.int64), 2)
    logp = knots[leg] + (knots[leg + 1] - knots[leg]) * (s - leg)
    p = np.exp(logp)
    p[0], p[m], p[2 * m], p[3 * m] = o, x1, x2, c  # the knots exactly, not through exp(log(x))
    return t + np.arange(3 * m + 1, dtype=np.int64) * (interval // (3 * m + 1)), p


def price_path(
    candles: Candles,
    finer: Sequence[Candles] = (),
    *,
    method: PathMethod = "refined",
    order: IntrabarOrder = "worst_long",
    wicks: WickPolicy = "clip",
    tolerance: float = WICK_TOLERANCE,
    bridge_step: str | int = BRIDGE_STEP,
) -> PricePath:
    """The oracle path of ``candles``: refined from finer series, or their four-point path.

    Parameters
    ----------
    candles : Candles
        The base (coarse) series.
    finer : sequence of Candles
        Candidate finer series of the same asset, in order of preference among equal bar sizes.
        Those that cannot refine the base (:func:`cannot_refine`) are left out and listed in the
        provenance's ``ignored``.
    method : {"refined", "coarse"}
        ``"refined"``: every bar refined from the finest candidate covering it, else bridged (see the
        module docstring). ``"coarse"``: :func:`intrabar_path` exactly (today's path); the candidates
        are still used to *list* the unconfirmed wicks the path keeps.
    order : {"worst_long", "worst_short", "olhc", "ohlc", "auto"} (``"close"`` only with ``"coarse"``)
        The intra-bar order of the four-point paths (the finer series' and the bridge's).
    wicks : {"clip", "keep"}
        What a refined path does with an unconfirmed wick.
    tolerance : float
        How far (a fraction, in ``[0, 1)``) a coarse extreme may lie beyond the confirmed one before
        it is an unconfirmed wick. Default :data:`WICK_TOLERANCE` (1 %).
    bridge_step : str or int
        The bridge's largest step (default :data:`BRIDGE_STEP`, ``"5m"``).

    Returns
    -------
    PricePath
        With its :class:`PathProvenance`.

    Raises
    ------
    InvalidInput
        For an unknown method, order or wick policy, a tolerance outside ``[0, 1)``, a bad
        ``bridge_step``, or ``order="close"`` with ``method="refined"`` (a close-only path has no
        intra-bar path to refine).
    """
    if method not in ("refined", "coarse"):
        raise InvalidInput("method", f"must be refined or coarse, got {method!r}")
    if wicks not in ("clip", "keep"):
        raise InvalidInput("wicks", f"must be clip or keep, got {wicks!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (0 <= tolerance < 1):
        raise InvalidInput("tolerance", f"must be a fraction in [0, 1), got {tolerance!r}")
    try:
        step_ns = parse_interval(bridge_step)
    except InvalidInput as exc:
        raise InvalidInput("bridge_step", exc.message) from None
    if order not in (*_FOUR_POINT, "close"):
        raise InvalidInput("order", f"must be one of olhc, ohlc, worst_long, worst_short, auto, close; got {order!r}")
    if method == "refined" and order == "close":
        raise InvalidInput("order", "close keeps one observation a bar: there is no intra-bar path to refine (use the coarse path)")
    interval = int(candles.interval_ns)
    if interval < 4:
        raise InvalidInput("interval_ns", f"must be at least 4 ns to place four observations, got {interval}")

    ignored: list[tuple[str, str]] = []
    usable: list[tuple[int, int, Candles]] = []
    for pos, f in enumerate(finer):
        why = cannot_refine(candles, f)
        if why is None:
            usable.append((f.interval_ns, pos, f))
        else:
            ignored.append((f.source or f"series {pos}", why))
    check_order = order if order in _FOUR_POINT else "worst_long"
    cands = []
    for _, _, f in sorted(usable, key=lambda x: (x[0], x[1])):
        fp = intrabar_path(f, check_order)
        cands.append(_Finer(f, fp.ts_ns.reshape(-1, 4), fp.price.reshape(-1, 4)))

    m = bridge_substeps(interval, step_ns)
    ts_parts: list[np.ndarray] = []
    px_parts: list[np.ndarray] = []
    found: list[Wick] = []
    n_ref = n_bridge = n_coarse = 0
    max_basis = 0.0
    assert candles.filled is not None
    for i in range(len(candles)):
        t = int(candles.ts_ns[i])
        o, h, lo_, c = (float(candles.open[i]), float(candles.high[i]), float(candles.low[i]), float(candles.close[i]))
        cover = None if candles.filled[i] else _covering(cands, t, interval)
        if cover is not None:
            fine, first, k = cover
            bt, bp, w, basis = _refine_bar(t, o, h, lo_, c, fine, first, k, check_order, wicks if method == "refined" else "keep", tolerance)
            fine.used += 1
            found += w
            if method == "refined":
                ts_parts.append(bt)
                px_parts.append(bp)
                n_ref += 1
                max_basis = max(max_basis, basis)
                continue
        if method == "refined":
            low_first = _low_first(order, o, c)
            x1, x2 = (lo_, h) if low_first else (h, lo_)
            bt, bp = _bridge_bar(t, interval, o, x1, x2, c, m)
            ts_parts.append(bt)
            px_parts.append(bp)
            if m == 1:
                n_coarse += 1
            else:
                n_bridge += 1

    notes: list[str] = []
    if method == "coarse":
        base = intrabar_path(candles, order)
        ts, px = base.ts_ns, base.price
        n_coarse = len(candles)
        if cands:
            notes.append("coarse path: every bar as its own four-point path; the finer series only list the wicks it keeps")
    else:
        ts = np.concatenate(ts_parts) if ts_parts else np.zeros(0, dtype=np.int64)
        px = np.concatenate(px_parts) if px_parts else np.zeros(0)
        if not cands:
            notes.append("no finer series: every bar as its own bridge")
        if n_bridge:
            notes.append(f"{n_bridge} bar(s) no finer series covers, bridged O→extremes→C in {m} log-linear steps a leg "
                         f"({3 * m + 1} observations a bar), extremes not checked")
        if n_coarse and m == 1 and cands:
            notes.append(f"{n_coarse} bar(s) no finer series covers, kept as four-point bars, extremes not checked")
    prov = PathProvenance(
        method=method, base_source=candles.source, base_interval_ns=interval, order=order, bars=len(candles),
        bars_refined=n_ref, bars_bridged=n_bridge, bars_coarse=n_coarse,
        finer=tuple((c.candles.source or "finer series", c.candles.interval_ns, c.used) for c in cands),
        ignored=tuple(ignored), bridge_step_ns=step_ns if method == "refined" else None,
        wick_policy=wicks if method == "refined" else "keep", wick_tolerance=float(tolerance),
        wicks=tuple(w if method == "refined" else replace(w, action="kept") for w in found),
        observations=len(ts), median_step_ns=_median_step(ts), max_basis=max_basis, notes=tuple(notes))
    return PricePath(ts, px, candles.symbol, candles.source, interval, order, prov)


# --------------------------------------------------------------------------------------------------
# resampling


def resample_path(path: PricePath, interval: str | int, order: IntrabarOrder = "worst_long") -> PricePath:
    """The four-point path of ``path`` cut into bars of ``interval``: each bar (on the epoch grid)
    takes the open, high, low and close of the observations inside it; bars without one are left
    out. The bar-size axis of a sensitivity run (``ramparts replay --sensitivity``)."""
    iv = parse_interval(interval)
    if len(path) == 0:
        raise InvalidInput("path", "is empty")
    b = (path.ts_ns // iv) * iv
    starts = np.flatnonzero(np.r_[True, np.diff(b) != 0])
    ends = np.r_[starts[1:], len(b)]
    px = path.price
    bars = Candles(b[starts], px[starts], np.maximum.reduceat(px, starts), np.minimum.reduceat(px, starts), px[ends - 1],
                   np.full(len(starts), np.nan), iv, symbol=path.symbol, source=path.source)
    out = intrabar_path(bars, order)
    src = path.provenance
    how = src.describe() if src is not None else (path.source or "a path")
    assert out.provenance is not None
    prov = replace(out.provenance, method="resampled", base_interval_ns=iv,
                   notes=(f"{format_interval(iv)} bars of the observations of {how}",))
    if src is not None:  # the finer series and the wicks of the path it was cut from: its extremes are that path's
        prov = replace(prov, finer=src.finer, ignored=src.ignored, wick_policy=src.wick_policy, wick_tolerance=src.wick_tolerance,
                       wicks=src.wicks, max_basis=src.max_basis)
    return replace(out, provenance=prov)


def synthetic_provenance(model: str, step: str | int, observations: int, *, notes: Sequence[str] = ()) -> PathProvenance:
    """The record of a synthetic path (Monte Carlo draws, or a set shape): ``model`` (e.g. ``"Monte Carlo draws of
    GARCH(1,1)-t fitted to hourly BTC"``), one
    observation every ``step``, ``observations`` of them. No historical bar lies under it, so there is no finer
    series to refine from and no wick to check (``wick_policy`` is ``None``): a report says so instead."""
    iv = parse_interval(step)
    return PathProvenance("synthetic", model, iv, None, int(observations), observations=int(observations), median_step_ns=iv,
                          notes=("synthetic: made by a model, not read from a historical window; no bar to refine, "
                                 "no wick to check", *notes))
