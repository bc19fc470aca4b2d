"""Market history loaders: candles and funding series read from files, validated, with their gaps.

This module owns the crash lab's contact with market-data *files*. Everything it returns is plain
numpy (``int64`` nanosecond UTC timestamps, ``float64`` prices), validated on the way in, so that
the replay and the statistics never see a malformed row. What the lab does with the bars lives
elsewhere: :mod:`ramparts.lab.paths` turns candles into the oracle price path a replay feeds the
engine (and refines coarse bars from finer series), :mod:`ramparts.lab.events` names the built-in
crash windows and which series of their files to read.

What it provides
----------------
* :func:`load_candles` reads OHLCV candles into :class:`Candles`. Formats (``fmt="auto"`` detects
  them from the file name and the header):

  - CSV, plain or compressed (``.csv``, ``.csv.gz``, ``.csv.bz2``, ``.csv.zip``, ...), with the columns
    found by name, in any order and any case:

    * the shared ``crash_windows`` long format
      ``source_id, exchange, market, symbol, interval, open_time_utc, open, high, low, close, volume``
      (many series in one file: select one with ``source_id``, ``symbol``, ``market``, ``interval``);
    * freqtrade-style ``date, open, high, low, close, volume``;
    * Yahoo Finance ``ticker, Date, Close, High, Low, Open, Volume`` (the ``ticker`` column is a
      symbol column, so one file may hold many tickers);
    * the Bitstamp/Coinbase daily file ``timestamp, open, close, volume, unix_timestamp, high, low``
      (odd column order; ``timestamp`` is used, ``unix_timestamp`` is ignored);
    * the 12-column Binance kline layout (``open_time`` or ``datetime`` first), with or without its
      header (Binance's public monthly exports have none), epoch seconds, milliseconds or
      microseconds alike;
    * minute exports such as Bitstamp's or Coinbase's (``unix``/``Timestamp``/``time`` columns,
      ``Volume BTC`` or ``Volume_(BTC)`` volume columns); a first line without a comma (the URL
      banner some exporters write) is skipped;
    * a close-only file (a ``price`` or ``close`` column but no ``open/high/low``): each bar then
      has ``open = high = low = close``;
  - Parquet (``.parquet``, ``.pq``) and Feather/Arrow IPC (``.feather``, ``.ftr``, ``.arrow``, the
    freqtrade ``--data-format-ohlcv feather`` layout) with the same column names;
  - freqtrade JSON (``.json``, ``.json.gz``: a list of ``[epoch_ms, open, high, low, close, volume]``);
  - tardis.dev CSV: ``trades`` (``exchange, symbol, timestamp, local_timestamp, id, side, price,
    amount``) are aggregated into bars of ``interval`` (default one minute); ``derivative_ticker``
    (``..., last_price, index_price, mark_price``) likewise from ``price_field`` (default
    ``mark_price``).

* :func:`load_funding` reads funding-rate histories into a :class:`FundingSeries` (decimal rate per
  funding interval): BitMEX, Deribit hourly, the Binance/Bybit long format, the Binance daily-mean
  file, tardis ``derivative_ticker`` and freqtrade funding files.
* :func:`parse_interval`, :func:`format_interval`, :func:`to_ns` and :func:`iso_utc`: the interval
  and instant conventions every lab module shares.

Validation
----------
Every loader raises :class:`~ramparts.errors.DataError` naming the file and the offending row
(``line N`` for text files, counting the header as line 1; ``row N``, 1-based, for columnar
formats) for: an unparsable number or timestamp, a missing value (empty, ``NaN``), an infinite
value, a non-positive price, a bar with ``high < max(open, close)``, ``low > min(open, close)`` or
negative volume, a duplicate timestamp, a timestamp that goes backwards, and a timestamp off the
bar grid. A row whose four prices are *all* missing (the way some minute exports mark an empty
minute) is not an error: it is a missing bar, handled by the gap policy.

Gap policy
----------
A *gap* is a run of missing bars between two present ones. ``gaps="error"`` (the default) refuses a
gappy series; ``"skip"`` keeps the bars as they are (timestamps then jump over the gap);
``"forward_fill"`` inserts flat bars (``open = high = low = close =`` the previous close, volume 0,
flagged in :attr:`Candles.filled`). Whatever the policy, :attr:`Candles.gaps` reports what was
found as a :class:`GapReport`.

Timestamps
----------
All timestamps are ``int64`` nanoseconds since the Unix epoch, UTC. Timestamps without a zone are
read as UTC. Epoch numbers are read as seconds, milliseconds, microseconds or nanoseconds according
to their magnitude (``< 1e11`` s, ``< 1e14`` ms, ``< 1e17`` µs, else ns). Candle timestamps are bar
*open* times.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ramparts.errors import DataError, InvalidInput

__all__ = [
    "Candles",
    "FundingSeries",
    "GapPolicy",
    "GapReport",
    "format_interval",
    "iso_utc",
    "load_candles",
    "load_funding",
    "parse_interval",
    "to_ns",
]

NS_PER_SECOND = 1_000_000_000
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": NS_PER_SECOND, "m": 60 * NS_PER_SECOND,
            "h": 3600 * NS_PER_SECOND, "d": 86_400 * NS_PER_SECOND, "w": 7 * 86_400 * NS_PER_SECOND}
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "nat"})

GapPolicy = Literal["error", "forward_fill", "skip"]


# --------------------------------------------------------------------------------------------------
# small helpers: intervals, timestamps


def parse_interval(interval: str | int | pd.Timedelta) -> int:
    """Parse a bar or funding interval into integer nanoseconds.

    Parameters
    ----------
    interval : str, int or pandas.Timedelta
        A freqtrade/ccxt interval string (``"1m"``, ``"5m"``, ``"1h"``, ``"8h"``, ``"1d"``, ``"1w"``;
        also ``"30s"``, ``"100ms"``), a positive number of nanoseconds, or a ``Timedelta``.

    Returns
    -------
    int
        The interval in nanoseconds (always positive).

    Raises
    ------
    InvalidInput
        If the interval is malformed, zero or negative. ``"1M"`` (a calendar month) is refused
        because months have no fixed length.

    Examples
    --------
    >>> parse_interval("15m")
    900000000000
    >>> parse_interval("8h") == 8 * 3600 * 10**9
    True
    """
    if isinstance(interval, bool):
        raise InvalidInput("interval", f"expected an interval, got {interval!r}")
    if isinstance(interval, (int, np.integer)):
        ns = int(interval)
    elif isinstance(interval, pd.Timedelta):
        ns = int(interval.value)
    elif isinstance(interval, str):
        m = re.fullmatch(r"\s*(\d+)\s*(ns|us|ms|s|m|h|d|w)\s*", interval)
        if m is None:
            raise InvalidInput("interval", f"cannot parse {interval!r} (expected e.g. '1m', '5m', '1h', '8h', '1d')")
        ns = int(m.group(1)) * _UNIT_NS[m.group(2)]
    else:
        raise InvalidInput("interval", f"expected a string like '5m' or nanoseconds, got {type(interval).__name__}")
    if ns <= 0:
        raise InvalidInput("interval", f"must be positive, got {interval!r}")
    return ns


def format_interval(ns: int) -> str:
    """Nanoseconds as the shortest exact interval string: ``format_interval(3600 * 10**9) == "1h"`` (the inverse of :func:`parse_interval`)."""
    for unit in ("w", "d", "h", "m", "s", "ms", "us"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def to_ns(when: str | int | pd.Timestamp | np.datetime64) -> int:
    """Convert an instant to integer nanoseconds since the epoch, UTC.

    Parameters
    ----------
    when : str, int, pandas.Timestamp or numpy.datetime64
        An ISO-8601 string (``"2020-03-12T00:00:00Z"``; a string without a zone is read as UTC), an
        integer already in nanoseconds, or a timestamp object.

    Returns
    -------
    int
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises
    ------
    InvalidInput
        If the value cannot be read as an instant.
    """
    if isinstance(when, bool):
        raise InvalidInput("time", f"expected an instant, got {when!r}")
    if isinstance(when, (int, np.integer)):
        return int(when)
    try:
        ts = pd.Timestamp(when)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("time", f"cannot read {when!r} as an instant: {exc}") from None
    if ts is pd.NaT:
        raise InvalidInput("time", f"cannot read {when!r} as an instant")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)


def iso_utc(ns: int) -> str:
    """An instant (epoch nanoseconds) as ISO-8601 UTC to the second: ``2020-03-12T10:00:00Z``."""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_to_ns(values: np.ndarray) -> np.ndarray:
    """Epoch numbers (float64, finite) to int64 ns, the unit chosen by magnitude."""
    mag = float(np.nanmedian(np.abs(values))) if values.size else 0.0
    if mag < 1e11:
        scale = 1e9
    elif mag < 1e14:
        scale = 1e6
    elif mag < 1e17:
        scale = 1e3
    else:
        scale = 1.0
    return np.round(values * scale).astype(np.int64)


# --------------------------------------------------------------------------------------------------
# result types


@dataclass(frozen=True)
class GapReport:
    """The gaps a loader found in a bar series, and what it did about them.

    Attributes
    ----------
    policy : str
        The gap policy that was applied: ``"error"``, ``"forward_fill"`` or ``"skip"`` (``"report"``
        for funding series, which are never filled).
    interval_ns : int
        The bar (or funding) interval the gaps are measured against.
    spans : tuple of (int, int)
        One ``(start_ns, end_ns)`` pair per gap: ``start_ns`` is the open time of the first missing
        bar and ``end_ns`` the open time of the next present bar, so the gap is the half-open
        interval ``[start_ns, end_ns)`` and holds ``(end_ns - start_ns) // interval_ns`` missing bars.
    """

    policy: str
    interval_ns: int
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def count(self) -> int:
        """Number of gaps (runs of consecutive missing bars)."""
        return len(self.spans)

    @property
    def missing_bars(self) -> int:
        """Total number of missing bars over all gaps."""
        return sum((e - s) // self.interval_ns for s, e in self.spans)

    def describe(self, limit: int = 5) -> str:
        """Human-readable list of the first ``limit`` gaps, as ISO-8601 UTC intervals."""
        parts = [f"[{iso_utc(s)}, {iso_utc(e)})" for s, e in self.spans[:limit]]
        more = f" and {self.count - limit} more" if self.count > limit else ""
        return ", ".join(parts) + more


@dataclass(frozen=True, eq=False)
class Candles:
    """A validated OHLCV bar series.

    Attributes
    ----------
    ts_ns : numpy.ndarray of int64
        Bar open times, nanoseconds since the epoch (UTC), strictly increasing and on the grid
        ``ts_ns[0] + k * interval_ns``.
    open, high, low, close : numpy.ndarray of float64
        Prices in the quote currency; positive and finite, with
        ``low <= min(open, close) <= max(open, close) <= high``.
    volume : numpy.ndarray of float64
        Traded volume as the file gives it (base asset for freqtrade/Binance, USD for Yahoo); NaN
        throughout when the source has no volume (close-only files, tardis tickers); 0 for
        forward-filled bars.
    interval_ns : int
        Bar length in nanoseconds.
    symbol, source, market, exchange : str or None
        Metadata: the symbol as written in the file (or as given by the caller), the series id
        (``source_id`` of a long-format file, else the file name), the market type (``spot``,
        ``usdm_perp``, ``linear_perp``, ...) and the exchange, when known.
    gaps : GapReport
        Gaps found in the source, and the policy applied.
    filled : numpy.ndarray of bool
        ``True`` for bars inserted by ``gaps="forward_fill"``.
    path : str or None
        The file the bars came from.
    """

    ts_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    interval_ns: int
    symbol: str | None = None
    source: str | None = None
    market: str | None = None
    exchange: str | None = None
    gaps: GapReport = field(default_factory=lambda: GapReport("error", 1))
    filled: np.ndarray | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        n = len(self.ts_ns)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise InvalidInput(name, f"has {len(getattr(self, name))} values, ts_ns has {n}")
        if self.filled is None:
            object.__setattr__(self, "filled", np.zeros(n, dtype=bool))

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def interval(self) -> str:
        """The bar interval as a string (``"5m"``, ``"1h"``, ``"1d"``)."""
        return format_interval(self.interval_ns)

    @property
    def start_ns(self) -> int:
        """Open time of the first bar."""
        return int(self.ts_ns[0])

    @property
    def end_ns(self) -> int:
        """Close time of the last bar (its open time plus one interval)."""
        return int(self.ts_ns[-1]) + self.interval_ns

    def window(self, start: str | int | None = None, end: str | int | None = None) -> Candles:
        """The bars whose open time lies in ``[start, end)``.

        Parameters
        ----------
        start, end : str or int, optional
            Bounds as ISO-8601 strings or epoch nanoseconds; ``None`` leaves that side open.

        Returns
        -------
        Candles
            A new object; its gap report keeps only the gaps that intersect the window (clipped).
        """
        lo = -(2**63) if start is None else to_ns(start)
        hi = 2**63 - 1 if end is None else to_ns(end)
        m = (self.ts_ns >= lo) & (self.ts_ns < hi)
        spans = tuple((max(s, lo), min(e, hi)) for s, e in self.gaps.spans if s < hi and e > lo)
        assert self.filled is not None
        return replace(self, ts_ns=self.ts_ns[m], open=self.open[m], high=self.high[m], low=self.low[m],
                       close=self.close[m], volume=self.volume[m], filled=self.filled[m],
                       gaps=replace(self.gaps, spans=spans))

    def to_frame(self) -> pd.DataFrame:
        """The bars as a DataFrame indexed by UTC open time (columns open/high/low/close/volume/filled)."""
        idx = pd.DatetimeIndex(pd.to_datetime(self.ts_ns, unit="ns", utc=True), name="open_time")
        return pd.DataFrame({"open": self.open, "high": self.high, "low": self.low, "close": self.close,
                             "volume": self.volume, "filled": self.filled}, index=idx)


@dataclass(frozen=True, eq=False)
class FundingSeries:
    """A funding-rate history: one decimal rate per funding settlement.

    Attributes
    ----------
    ts_ns : numpy.ndarray of int64
        Settlement times (UTC nanoseconds), strictly increasing. Exchange timestamps are kept as
        recorded (Binance's carry a few milliseconds of jitter after the hour).
    rate : numpy.ndarray of float64
        The rate paid at each settlement, as a decimal fraction of the position's notional *per
        funding interval* (``0.0001`` = 0.01 %). Positive: longs pay shorts.
    interval_ns : numpy.ndarray of int64
        The length of the funding interval each rate accrues over (BitMEX changed from 24 h to 8 h in
        2016, so this may vary within a series).
    symbol, source : str or None
        Instrument and the file it came from.
    gaps : GapReport
        Spaces between consecutive settlements longer than 1.5 nominal intervals (policy
        ``"report"``: funding is never filled in).
    path : str or None
        The file the series came from.
    """

    ts_ns: np.ndarray
    rate: np.ndarray
    interval_ns: np.ndarray
    symbol: str | None = None
    source: str | None = None
    gaps: GapReport = field(default_factory=lambda: GapReport("report", 1))
    path: str | None = None

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def nominal_interval_ns(self) -> int:
        """The most common funding interval of the series, in nanoseconds."""
        vals, counts = np.unique(self.interval_ns, return_counts=True)
        return int(vals[np.argmax(counts)])

    def rate_per(self, interval: str | int) -> np.ndarray:
        """Each rate rescaled (linearly) to another interval, e.g. ``rate_per("1h")`` or ``rate_per("365d")``.

        Parameters
        ----------
        interval : str or int
            Target interval (see :func:`parse_interval`).

        Returns
        -------
        numpy.ndarray
            ``rate * target / interval_ns``, simple (not compounded) scaling.
        """
        return self.rate * (parse_interval(interval) / self.interval_ns)

    def window(self, start: str | int | None = None, end: str | int | None = None) -> FundingSeries:
        """The settlements with ``start <= ts < end`` (ISO strings or nanoseconds; ``None`` = open)."""
        lo = -(2**63) if start is None else to_ns(start)
        hi = 2**63 - 1 if end is None else to_ns(end)
        m = (self.ts_ns >= lo) & (self.ts_ns < hi)
        spans = tuple((max(s, lo), min(e, hi)) for s, e in self.gaps.spans if s < hi and e > lo)
        return replace(self, ts_ns=self.ts_ns[m], rate=self.rate[m], interval_ns=self.interval_ns[m],
                       gaps=replace(self.gaps, spans=spans))

    def to_frame(self) -> pd.DataFrame:
        """The series as a DataFrame indexed by UTC settlement time (columns rate, interval_ns)."""
        idx = pd.DatetimeIndex(pd.to_datetime(self.ts_ns, unit="ns", utc=True), name="funding_time")
        return pd.DataFrame({"rate": self.rate, "interval_ns": self.interval_ns}, index=idx)


# --------------------------------------------------------------------------------------------------
# reading files into string/typed frames


class _Table:
    """A raw table plus the means to name its rows in error messages."""

    def __init__(self, frame: pd.DataFrame, path: Path, text: bool, first_line: int = 2):
        # column names: lower-case, stripped; pandas' ".1" suffix for duplicated names is kept
        frame = frame.rename(columns=lambda c: str(c).strip().lower())
        self.frame = frame.reset_index(drop=True)
        self.path = path
        self.text = text
        self.first_line = first_line
        self.rows = np.arange(len(frame))  # original positions, survive selections

    def select(self, mask: np.ndarray) -> None:
        self.frame = self.frame.loc[mask].reset_index(drop=True)
        self.rows = self.rows[mask]

    def take(self, order: np.ndarray) -> None:
        self.frame = self.frame.iloc[order].reset_index(drop=True)
        self.rows = self.rows[order]

    def where(self, i: int) -> str:
        r = int(self.rows[i])
        return f"line {r + self.first_line}" if self.text else f"row {r + 1}"

    def fail(self, mask: np.ndarray, message: str) -> DataError:
        idx = np.flatnonzero(mask)
        i = int(idx[0])
        more = f" ({len(idx) - 1} more such rows)" if len(idx) > 1 else ""
        return DataError(f"{self.path}: {self.where(i)}: {message(i) if callable(message) else message}{more}")

    def has(self, *names: str) -> bool:
        return all(n in self.frame.columns for n in names)

    def first(self, *names: str) -> str | None:
        for n in names:
            if n in self.frame.columns:
                return n
        return None


def _open_text(path: Path):
    return pd.io.common.get_handle(str(path), "r", compression="infer", encoding="utf-8", errors="replace")


def _read_csv(path: Path) -> _Table:
    try:
        with _open_text(path) as h:
            head = h.handle.readline()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    skip = 0
    if head and "," not in head and ";" not in head and "\t" not in head:
        skip = 1  # a banner line such as the CryptoDataDownload URL
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skiprows=skip, compression="infer",
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}") from None
    if frame.empty and len(frame.columns) == 0:
        raise DataError(f"{path}: empty file")
    # a header-less file: every column name is a number (Binance's public kline exports)
    if all(_is_number(c) for c in frame.columns):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skiprows=skip, header=None,
                            compression="infer", skipinitialspace=True)
        names = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
                 "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
        if frame.shape[1] < 5:
            raise DataError(f"{path}: a header-less file needs at least time, open, high, low, close columns")
        frame.columns = names[: frame.shape[1]] + [f"extra_{i}" for i in range(max(0, frame.shape[1] - len(names)))]
        return _Table(frame, path, text=True, first_line=1 + skip)
    return _Table(frame, path, text=True, first_line=2 + skip)


def _is_number(text: Any) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _read_any(path: Path, fmt: str) -> _Table:
    name = path.name.lower()
    if fmt == "auto":
        if name.endswith((".parquet", ".pq")):
            fmt = "parquet"
        elif name.endswith((".feather", ".ftr", ".arrow")):
            fmt = "feather"
        elif re.search(r"\.json(\.gz|\.bz2|\.xz|\.zip)?$", name):
            fmt = "json"
        else:
            fmt = "csv"
    if fmt == "csv":
        return _read_csv(path)
    try:
        if fmt == "parquet":
            return _Table(pd.read_parquet(path), path, text=False)
        if fmt == "feather":
            import pyarrow.feather as feather

            return _Table(feather.read_table(str(path)).to_pandas(), path, text=False)
        if fmt == "json":
            with _open_text(path) as h:
                raw = json.load(h.handle)
            if not isinstance(raw, list) or (raw and not isinstance(raw[0], list)):
                raise DataError(f"{path}: expected a freqtrade JSON list of [ms, open, high, low, close, volume] rows")
            cols = ["date", "open", "high", "low", "close", "volume"]
            frame = pd.DataFrame([list(r)[:6] + [None] * (6 - len(r)) for r in raw], columns=cols, dtype=object)
            return _Table(frame, path, text=False)
    except DataError:
        raise
    except Exception as exc:  # pyarrow/JSON raise many types for a corrupt file
        raise DataError(f"{path}: not a readable {fmt} file: {exc}") from None
    raise InvalidInput("fmt", f"unknown format {fmt!r} (expected auto, csv, parquet, feather, json, tardis_trades, tardis_ticker)")


# --------------------------------------------------------------------------------------------------
# parsing columns


def _numeric(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """values, junk mask (unparsable text), missing mask (empty/NaN)."""
    if pd.api.types.is_bool_dtype(s):
        v = np.full(len(s), np.nan)
        return v, np.ones(len(s), dtype=bool), np.zeros(len(s), dtype=bool)
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return v, np.zeros(len(s), dtype=bool), np.isnan(v)
    txt = s.astype(object).where(s.notna(), "").astype(str).str.strip()
    v = pd.to_numeric(txt, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = txt.str.lower().isin(_MISSING).to_numpy()
    junk = np.isnan(v) & ~missing
    return v, junk, missing


def _times(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int64 ns, junk mask, missing mask."""
    n = len(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s):
        dt = pd.DatetimeIndex(s)
        dt = dt.tz_localize("UTC") if dt.tz is None else dt.tz_convert("UTC")
        missing = np.asarray(dt.isna())
        ns = dt.as_unit("ns").asi8.copy()
        return ns, np.zeros(n, dtype=bool), missing
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
        junk = ~missing & ~np.isfinite(v)
        out = np.zeros(n, dtype=np.int64)
        ok = ~missing & ~junk
        out[ok] = _epoch_to_ns(v[ok])
        return out, junk, missing
    txt = s.astype(object).where(s.notna(), "").astype(str).str.strip()
    missing = txt.str.lower().isin(_MISSING).to_numpy()
    num = pd.to_numeric(txt, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~missing
    out = np.zeros(n, dtype=np.int64)
    if present.any() and np.all(np.isfinite(num[present])):
        out[present] = _epoch_to_ns(num[present])
        return out, np.zeros(n, dtype=bool), missing
    dt = pd.to_datetime(txt.where(present, None), utc=True, format="ISO8601", errors="coerce")
    dt = pd.DatetimeIndex(dt)
    junk = present & np.asarray(dt.isna())
    ok = present & ~junk
    out[ok] = dt.as_unit("ns").asi8[ok]
    return out, junk, missing


def _require(tab: _Table, col: str, values: tuple[np.ndarray, np.ndarray, np.ndarray], what: str,
             allow_missing: np.ndarray | None = None) -> np.ndarray:
    v, junk, missing = values
    if junk.any():
        raw = tab.frame[col]
        raise tab.fail(junk, lambda i: f"unparsable {what} in column '{col}': {str(raw.iloc[i])!r}")
    miss = missing if allow_missing is None else missing & ~allow_missing
    if miss.any():
        raise tab.fail(miss, f"missing value (empty or NaN) in column '{col}'")
    if v.dtype.kind == "f":
        inf = ~np.isfinite(v) & ~missing
        if inf.any():
            raise tab.fail(inf, lambda i: f"non-finite {what} in column '{col}': {float(v[i])!r}")
    return v


# --------------------------------------------------------------------------------------------------
# series selection in long-format files


def _norm_symbol(s: str) -> str:
    s = str(s).upper().split(":")[0]
    return re.sub(r"[/\-_ .]", "", s)


_SERIES_COLS = ("source_id", "exchange", "market", "symbol", "ticker", "interval")


def _select_series(tab: _Table, *, symbol: str | None, source_id: str | None, market: str | None,
                   interval_ns: int | None, exchange: str | None = None,
                   series_cols: tuple[str, ...] = _SERIES_COLS) -> dict[str, str | None]:
    """Filter a long-format table down to one series; return that series' metadata.

    ``series_cols`` are the columns that tell series apart (funding files carry a ``source_id`` that
    records the provenance of each row of one merged series, so it is left out there).
    """
    f = tab.frame
    cols = [c for c in series_cols if c in f.columns]
    meta: dict[str, str | None] = {"symbol": symbol, "source_id": source_id, "market": market, "exchange": exchange}
    if source_id is not None and "source_id" in series_cols and "source_id" not in f.columns:
        raise DataError(f"{tab.path}: the file has no source_id column (it holds one series), so "
                        f"source_id={source_id!r} selects nothing; leave the selection out")
    if not cols:
        return meta
    sym_col = "symbol" if "symbol" in f.columns else ("ticker" if "ticker" in f.columns else None)
    mask = np.ones(len(f), dtype=bool)
    if source_id is not None and "source_id" in f.columns:
        mask &= (f["source_id"].astype(str).str.strip() == source_id).to_numpy()
    if symbol is not None and sym_col is not None:
        col = f[sym_col].astype(str).str.strip()
        exact = (col == symbol).to_numpy()
        mask &= exact if (exact & mask).any() else (col.map(_norm_symbol) == _norm_symbol(symbol)).to_numpy()
    if market is not None and "market" in f.columns:
        mask &= (f["market"].astype(str).str.strip().str.lower() == market.lower()).to_numpy()
    if exchange is not None and "exchange" in f.columns:
        mask &= (f["exchange"].astype(str).str.strip().str.lower() == exchange.lower()).to_numpy()
    if interval_ns is not None and "interval" in f.columns:
        ivals = f["interval"].astype(str).str.strip()
        parsed = {}
        for u in ivals.unique():
            try:
                parsed[u] = parse_interval(u)
            except InvalidInput:
                parsed[u] = -1
        mask &= (ivals.map(parsed) == interval_ns).to_numpy()
    key_cols = ["source_id"] if "source_id" in cols else cols
    keys = pd.Series([""] * len(f), index=f.index, dtype=object)
    for i, c in enumerate(key_cols):
        col = f[c].astype(str).str.strip()
        keys = col if i == 0 else keys + " " + col
    chosen = keys[mask].unique()
    if len(chosen) != 1:
        listing = _list_series(tab, keys, cols)
        asked = ", ".join(f"{k}={v!r}" for k, v in (("source_id", source_id), ("symbol", symbol), ("market", market),
                                                   ("exchange", exchange),
                                                   ("interval", None if interval_ns is None else format_interval(interval_ns)))
                          if v is not None) or "no selection"
        why = "no series matches" if len(chosen) == 0 else f"{len(chosen)} series match"
        hint = ", ".join(f"{c}=" for c in ("source_id", "symbol", "market", "exchange", "interval")
                         if c in cols or (c == "symbol" and "ticker" in cols))
        raise DataError(f"{tab.path}: {why} ({asked}); select one with {hint}. Available series:\n{listing}")
    tab.select(mask)
    f = tab.frame
    for c in ("source_id", "market", "exchange"):
        if c in f.columns:
            meta[c] = str(f[c].iloc[0]).strip()
    if sym_col is not None:
        meta["symbol"] = str(f[sym_col].iloc[0]).strip()
    if "interval" in f.columns:
        meta["interval"] = str(f["interval"].iloc[0]).strip()
    return meta


def _list_series(tab: _Table, keys: pd.Series, cols: list[str]) -> str:
    f = tab.frame
    tcol = tab.first(*_TIME_COLS, "funding_time_utc", "funding_timestamp")
    lines = []
    for key, idx in keys.groupby(keys, sort=False).groups.items():
        first = f.loc[idx[0]]
        desc = " ".join(str(first[c]).strip() for c in cols if c != "source_id")
        span = f" {str(f.loc[idx[0], tcol]).strip()} -> {str(f.loc[idx[-1], tcol]).strip()}" if tcol else ""
        label = key if "source_id" in cols else desc
        extra = f" ({desc})" if "source_id" in cols else ""
        lines.append(f"  - {label}{extra}: {len(idx)} rows{span}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# candles


_TIME_COLS = ("open_time_utc", "open_time", "open time", "timestamp", "date", "datetime", "time", "unix_timestamp",
              "unix", "ts")


def _ohlcv_arrays(tab: _Table) -> tuple[np.ndarray, ...]:
    f = tab.frame
    tcol = tab.first(*_TIME_COLS)
    if tcol is None:
        raise DataError(f"{tab.path}: no time column (looked for {', '.join(_TIME_COLS)}); columns are {list(f.columns)}")
    has_ohlc = tab.has("open", "high", "low", "close")
    close_col = "close" if "close" in f.columns else tab.first("price", "last_price", "mark_price")
    if not has_ohlc and close_col is None:
        raise DataError(f"{tab.path}: no price columns (need open/high/low/close, or close/price); "
                        f"columns are {list(f.columns)}")
    price_cols = ["open", "high", "low", "close"] if has_ohlc else [close_col]
    parsed = {c: _numeric(f[c]) for c in price_cols}
    # a row whose prices are all missing is a missing bar (minute exports mark empty minutes so)
    empty = np.logical_and.reduce([parsed[c][2] for c in price_cols])
    t = _require(tab, tcol, _times(f[tcol]), "timestamp")
    vals = [_require(tab, c, parsed[c], "number", allow_missing=empty) for c in price_cols]
    vcol = "volume" if "volume" in f.columns else next((c for c in f.columns if c.startswith("volume")), None)
    if vcol is not None:
        vol = _require(tab, vcol, _numeric(f[vcol]), "number", allow_missing=empty)
    else:
        vol = np.full(len(f), np.nan)
    if has_ohlc:
        o, h, lo, c = vals
    else:
        o = h = lo = c = vals[0]
    t_all = t.copy()
    keep = ~empty
    if not keep.all():
        tab.select(keep)
        t, o, h, lo, c, vol = (a[keep] for a in (t, o, h, lo, c, vol))
    return t, o.copy(), h.copy(), lo.copy(), c.copy(), vol.copy(), t_all


def _validate_bars(tab: _Table, o, h, lo, c, vol, validate_volume: bool = True) -> None:
    for name, a in (("open", o), ("high", h), ("low", lo), ("close", c)):
        bad = a <= 0
        if bad.any():
            raise tab.fail(bad, lambda i, a=a, name=name: f"non-positive price {name}={float(a[i])!r}")
    bad = h < np.maximum(o, c)
    if bad.any():
        raise tab.fail(bad, lambda i: f"high {float(h[i])!r} is below max(open, close) = {float(max(o[i], c[i]))!r}")
    bad = lo > np.minimum(o, c)
    if bad.any():
        raise tab.fail(bad, lambda i: f"low {float(lo[i])!r} is above min(open, close) = {float(min(o[i], c[i]))!r}")
    if validate_volume:
        bad = vol < 0
        if bad.any():
            raise tab.fail(bad, lambda i: f"negative volume {float(vol[i])!r}")


def _validate_order(tab: _Table, t: np.ndarray, what: str = "timestamp") -> None:
    if len(t) < 2:
        return
    d = np.diff(t)
    bad = np.concatenate([[False], d <= 0])
    if bad.any():
        i = int(np.argmax(bad))
        if t[i] == t[i - 1]:
            raise DataError(f"{tab.path}: {tab.where(i)}: duplicate {what} {iso_utc(t[i])} (also at {tab.where(i - 1)})")
        raise DataError(f"{tab.path}: {tab.where(i)}: {what} {iso_utc(t[i])} goes backwards "
                        f"(previous row, {tab.where(i - 1)}, is {iso_utc(t[i - 1])})")


def _infer_interval(t: np.ndarray) -> int:
    """The most common spacing of the timestamps (the smallest such one on a tie)."""
    d = np.diff(t)
    vals, counts = np.unique(d, return_counts=True)
    return int(vals[np.argmax(counts)])


def _apply_gaps(tab: _Table, t, o, h, lo, c, vol, interval_ns: int, policy: str):
    d = np.diff(t)
    off = np.concatenate([[False], d % interval_ns != 0])
    if off.any():
        raise tab.fail(off, lambda i: f"timestamp {iso_utc(t[i])} is off the {format_interval(interval_ns)} bar grid "
                                      f"(previous bar at {iso_utc(t[i - 1])})")
    gi = np.flatnonzero(d > interval_ns)
    spans = tuple((int(t[i]) + interval_ns, int(t[i + 1])) for i in gi)
    report = GapReport(policy, interval_ns, spans)
    filled = np.zeros(len(t), dtype=bool)
    if spans and policy == "error":
        raise DataError(f"{tab.path}: {report.count} gap(s), {report.missing_bars} missing "
                        f"{format_interval(interval_ns)} bar(s): {report.describe()}; "
                        "pass gaps='forward_fill' or gaps='skip' to accept them")
    if spans and policy == "forward_fill":
        pos = (t - t[0]) // interval_ns
        n = int(pos[-1]) + 1
        src = np.full(n, -1, dtype=np.int64)
        src[pos] = np.arange(len(t))
        last = np.maximum.accumulate(src)
        present = src >= 0
        prev_close = c[last]
        t = t[0] + np.arange(n, dtype=np.int64) * interval_ns
        o = np.where(present, o[last], prev_close)
        h = np.where(present, h[last], prev_close)
        lo = np.where(present, lo[last], prev_close)
        c = prev_close.copy()
        vol = np.where(present, vol[last], 0.0)
        filled = ~present
    return t, o, h, lo, c, vol, filled, report


def _tardis_kind(tab: _Table) -> str | None:
    if tab.has("exchange", "symbol", "timestamp", "local_timestamp", "price", "amount"):
        return "tardis_trades"
    if tab.has("exchange", "symbol", "timestamp", "local_timestamp") and tab.first("mark_price", "last_price", "index_price"):
        return "tardis_ticker"
    return None


def _bars_from_ticks(tab: _Table, t: np.ndarray, px: np.ndarray, amount: np.ndarray | None, interval_ns: int):
    order = np.argsort(t, kind="stable")  # exchange timestamps in tardis files may step back a little
    t, px = t[order], px[order]
    amount = None if amount is None else amount[order]
    bins = (t // interval_ns) * interval_ns
    starts = np.flatnonzero(np.concatenate([[True], bins[1:] != bins[:-1]]))
    ends = np.concatenate([starts[1:], [len(t)]]) - 1
    o, c = px[starts], px[ends]
    h = np.maximum.reduceat(px, starts)
    lo = np.minimum.reduceat(px, starts)
    vol = np.add.reduceat(amount, starts) if amount is not None else np.full(len(starts), np.nan)
    return bins[starts], o, h, lo, c, vol


def load_candles(
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    source_id: str | None = None,
    market: str | None = None,
    interval: str | int | None = None,
    exchange: str | None = None,
    fmt: str = "auto",
    gaps: GapPolicy = "error",
    sort: bool = False,
    price_field: str = "mark_price",
) -> Candles:
    """Load one validated OHLCV series from a market-data file.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Its format is detected from its name and header unless ``fmt`` says otherwise (see
        the module docstring for the formats).
    symbol : str, optional
        Select the series of this symbol in a file holding several (a ``symbol`` or ``ticker``
        column). An exact match is tried first, then a normalised one that ignores case, the
        separators ``/ - _`` and a ``:SETTLE`` suffix, so ``"BTCUSDT"`` matches ``BTC/USDT`` and
        ``BTC/USDT:USDT`` (use ``market`` to tell spot from perpetual). For a single-series file
        without a symbol column the value is only recorded as metadata.
    source_id : str, optional
        Select by the ``source_id`` column of the shared long format (exact match).
    market : str, optional
        Select by the ``market`` column (``spot``, ``usdm_perp``, ``linear_perp``; case-insensitive).
    interval : str or int, optional
        The bar interval. For a long-format file with an ``interval`` column it selects the series;
        for a file without one it is the expected bar length (otherwise inferred as the most common
        spacing of the timestamps); for tick files (tardis) it is the length of the bars the ticks
        are aggregated into (default ``"1m"``).
    exchange : str, optional
        Select by the ``exchange`` column (case-insensitive).
    fmt : {"auto", "csv", "parquet", "feather", "json", "tardis_trades", "tardis_ticker"}
        Force a format instead of detecting it.
    gaps : {"error", "forward_fill", "skip"}
        What to do with missing bars (see the module docstring). Default ``"error"``.
    sort : bool
        Sort the rows by time before validating them, for files stored newest first (e.g.
        CryptoDataDownload exports). Duplicates remain an error. Default ``False``: a row out of order
        is an error.
    price_field : str
        For a tardis ``derivative_ticker`` file, the column the bars are built from: ``mark_price``
        (default), ``last_price`` or ``index_price``. Rows where that field is empty are skipped.

    Returns
    -------
    Candles
        The validated bars with their metadata and gap report.

    Raises
    ------
    DataError
        If the file cannot be read or has an unknown layout; if the series selection is absent or
        ambiguous (the message lists every series in the file); if a row fails validation (the
        message names the file and the row); if the series has gaps and ``gaps="error"``; if it has
        fewer than two bars and no ``interval`` was given.
    InvalidInput
        If an argument is malformed (unknown ``gaps`` policy or ``fmt``, bad ``interval``).

    Notes
    -----
    The shared crash windows use ``market`` values ``spot``, ``usdm_perp`` (Binance USDⓈ-M
    perpetual, last-trade klines, not mark price) and ``linear_perp`` (Bybit USDT perpetual).

    Examples
    --------
    >>> bars = load_candles(data_path("crash_windows/2022-11_ftx_collapse.csv.gz"),
    ...                     source_id="bn_usdm_BTC_5m_trickbaker")  # doctest: +SKIP
    >>> bars.interval, len(bars)  # doctest: +SKIP
    ('5m', 1728)
    """
    if gaps not in ("error", "forward_fill", "skip"):
        raise InvalidInput("gaps", f"must be 'error', 'forward_fill' or 'skip', got {gaps!r}")
    if fmt not in ("auto", "csv", "parquet", "feather", "json", "tardis_trades", "tardis_ticker"):
        raise InvalidInput("fmt", f"unknown format {fmt!r}")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    interval_ns = None if interval is None else parse_interval(interval)
    tab = _read_any(p, "csv" if fmt.startswith("tardis") else fmt)
    kind = fmt if fmt.startswith("tardis") else _tardis_kind(tab)
    meta = _select_series(tab, symbol=symbol, source_id=source_id, market=market, exchange=exchange,
                          interval_ns=None if kind else interval_ns)
    if len(tab.frame) == 0:
        raise DataError(f"{p}: no rows")

    if kind is not None:
        f = tab.frame
        if kind == "tardis_trades":
            pcol, acol = "price", "amount"
        else:
            if price_field not in f.columns:
                raise DataError(f"{p}: no column {price_field!r} in this derivative_ticker file")
            pcol, acol = price_field, None
            px_raw = _numeric(f[pcol])
            present = ~px_raw[2]
            if not present.any():
                raise DataError(f"{p}: column {price_field!r} is empty throughout")
            tab.select(present)
            f = tab.frame
        t = _require(tab, "timestamp", _times(f["timestamp"]), "timestamp")
        px = _require(tab, pcol, _numeric(f[pcol]), "number")
        bad = px <= 0
        if bad.any():
            raise tab.fail(bad, lambda i: f"non-positive price {float(px[i])!r}")
        amount = None
        if acol is not None:
            amount = _require(tab, acol, _numeric(f[acol]), "number")
            bad = amount < 0
            if bad.any():
                raise tab.fail(bad, lambda i: f"negative amount {float(amount[i])!r}")
        interval_ns = interval_ns or parse_interval("1m")
        t, o, h, lo, c, vol = _bars_from_ticks(tab, t, px, amount, interval_ns)
        bar_tab = _Table(pd.DataFrame({"t": t}), p, text=False)
        meta["source_id"] = meta.get("source_id") or f"{p.name} ({kind}, {format_interval(interval_ns)} bars)"
        t, o, h, lo, c, vol, filled, report = _apply_gaps(bar_tab, t, o, h, lo, c, vol, interval_ns, gaps)
    else:
        t, o, h, lo, c, vol, t_all = _ohlcv_arrays(tab)
        if sort:
            order = np.argsort(t, kind="stable")
            tab.take(order)
            t, o, h, lo, c, vol = (a[order] for a in (t, o, h, lo, c, vol))
        _validate_bars(tab, o, h, lo, c, vol)
        _validate_order(tab, t)
        declared = meta.get("interval")
        if declared:
            try:
                interval_ns = parse_interval(declared)
            except InvalidInput:
                raise DataError(f"{p}: unparsable interval {declared!r}") from None
        if interval_ns is None:
            # rows whose prices are all missing still tell the spacing of the bars
            t_all = np.unique(t_all)
            if len(t_all) < 2:
                raise DataError(f"{p}: a single bar: pass interval= to say how long it is")
            interval_ns = _infer_interval(t_all)
        t, o, h, lo, c, vol, filled, report = _apply_gaps(tab, t, o, h, lo, c, vol, interval_ns, gaps)
    return Candles(ts_ns=t.astype(np.int64), open=o, high=h, low=lo, close=c, volume=vol, interval_ns=interval_ns,
                   symbol=meta.get("symbol"), source=meta.get("source_id") or p.name, market=meta.get("market"),
                   exchange=meta.get("exchange"), gaps=report, filled=filled, path=str(p))


# --------------------------------------------------------------------------------------------------
# funding


def _funding_gaps(ts: np.ndarray, intervals: np.ndarray, nominal: int) -> GapReport:
    """Settlements missing between two present ones: a spacing over 1.5 times the later interval."""
    d = np.diff(ts)
    iv = intervals[1:]
    gi = np.flatnonzero(d > 1.5 * iv)
    return GapReport("report", nominal, tuple((int(ts[i]) + int(iv[i]), int(ts[i + 1])) for i in gi))


def _nominal_from_diffs(ts: np.ndarray, default: int | None = None) -> int:
    if len(ts) < 2:
        if default is None:
            raise DataError("a funding series with one settlement has no inferable interval")
        return default
    minute = 60 * NS_PER_SECOND
    d = np.round(np.diff(ts) / minute).astype(np.int64) * minute  # Binance settles a few ms after the hour
    d = d[d > 0]
    vals, counts = np.unique(d, return_counts=True)
    return int(vals[np.argmax(counts)])


def load_funding(
    path: str | os.PathLike[str],
    *,
    symbol: str | None = None,
    fmt: str = "auto",
) -> FundingSeries:
    """Load a funding-rate history as decimal rates per funding interval.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Recognised layouts (``fmt="auto"`` detects them by their columns):

        * **BitMEX** ``timestamp, symbol, fundingInterval, fundingRate, fundingRateDaily``: the rate
          is per interval; the interval is read per row from ``fundingInterval``, which BitMEX
          encodes as an instant after 2000-01-01 (``2000-01-01T08:00:00Z`` = 8 h,
          ``2000-01-02T00:00:00Z`` = 24 h, the 2016 rows).
        * **Deribit hourly** ``time_dt, timestamp, prev_index_price, interest_8h, interest_1h,
          index_price, time_dt``: the rate is ``interest_1h`` (the funding of that hour) with a 1 h
          interval, stamped by the UTC epoch-ms ``timestamp``. The duplicated ``time_dt`` column is
          ignored: it is UK local time (one hour ahead of ``timestamp`` in summer), and the file is
          ordered by it, so around the October 2019 clock change two rows are out of UTC order. The
          loader therefore sorts Deribit rows by ``timestamp`` (a duplicate is still an error).
        * **Binance / Bybit long format** ``exchange, symbol, funding_time_utc, funding_rate[,
          source_id]``: decimal per 8 h; the nominal interval is inferred from the spacing of the
          settlements (rounded to the minute: Binance stamps settlements a few ms after the hour).
        * **Binance daily mean** ``date, funding_mean, funding_abs``: the mean of the day's 8-hourly
          Binance BTCUSDT rates. It is turned into a *daily* rate, ``3 × funding_mean`` with a 1 d
          interval (Binance BTCUSDT settled three times a day throughout 2019–2026).
        * **tardis.dev** ``derivative_ticker``: for every distinct ``funding_timestamp`` the rate is
          the last ``funding_rate`` published at or before it (the rate that was settled); the
          interval is the spacing of the settlements.
        * **freqtrade** funding files (``fmt="freqtrade"``): ``date`` and the rate in the ``open``
          column (CSV, Feather, Parquet or JSON).
        * any file with a time column and a ``funding_rate`` / ``rate`` / ``fundingrate`` column.
    symbol : str, optional
        Select one symbol in a file holding several (exact, then normalised match as in
        :func:`load_candles`).
    fmt : {"auto", "freqtrade"}
        ``"freqtrade"`` reads the rate from the ``open`` column.

    Returns
    -------
    FundingSeries
        Settlement times, rates (decimal per interval), per-settlement intervals and a gap report.

    Raises
    ------
    DataError
        Unknown layout, absent or ambiguous symbol (the message lists the symbols), an unparsable,
        missing or non-finite value, a rate of magnitude 1 or more (not a decimal rate: percent data
        must be divided by 100 first), a duplicate settlement time or one out of order.
    """
    if fmt not in ("auto", "freqtrade"):
        raise InvalidInput("fmt", f"must be 'auto' or 'freqtrade', got {fmt!r}")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    tab = _read_any(p, "auto")
    f = tab.frame
    hour, day = 3600 * NS_PER_SECOND, 86_400 * NS_PER_SECOND
    sort = False
    scale = 1.0
    fixed: int | None = None
    per_row: np.ndarray | None = None
    tardis = False
    if fmt == "freqtrade":
        tcol, rcol = tab.first(*_TIME_COLS), "open"
        if tcol is None or "open" not in f.columns:
            raise DataError(f"{p}: a freqtrade funding file needs a date and an open column; columns are {list(f.columns)}")
    elif tab.has("fundinginterval", "fundingrate"):
        tcol, rcol = "timestamp", "fundingrate"
    elif tab.has("interest_1h", "timestamp"):
        tcol, rcol, fixed, sort = "timestamp", "interest_1h", hour, True
    elif tab.has("funding_mean"):
        tcol, rcol, fixed, scale = tab.first("date", *_TIME_COLS), "funding_mean", day, 3.0
    elif tab.has("funding_timestamp", "funding_rate", "timestamp", "local_timestamp"):
        tcol, rcol, tardis = "funding_timestamp", "funding_rate", True
    else:
        tcol = tab.first("funding_time_utc", "funding_time", "fundingtime", "calc_time", *_TIME_COLS)
        rcol = tab.first("funding_rate", "fundingrate", "rate")
        if tcol is None or rcol is None:
            raise DataError(f"{p}: not a recognised funding file (columns {list(f.columns)})")
    if tcol is None:
        raise DataError(f"{p}: no time column (columns {list(f.columns)})")
    meta = _select_series(tab, symbol=symbol, source_id=None, market=None, interval_ns=None,
                          series_cols=("exchange", "symbol", "ticker"))
    f = tab.frame
    if len(f) == 0:
        raise DataError(f"{p}: no rows")

    if tardis:
        # keep rows that announce a settlement, then the last published rate for each settlement time
        ft_raw = _times(f["funding_timestamp"])
        rate_raw = _numeric(f["funding_rate"])
        keep = ~ft_raw[2] & ~rate_raw[2]
        if not keep.any():
            raise DataError(f"{p}: no funding_timestamp/funding_rate values (an exchange without discrete "
                            "settlements, such as Deribit, cannot be read this way)")
        tab.select(keep)
        f = tab.frame
        ft = _require(tab, "funding_timestamp", _times(f["funding_timestamp"]), "timestamp")
        pub = _require(tab, "timestamp", _times(f["timestamp"]), "timestamp")
        rate = _require(tab, "funding_rate", _numeric(f["funding_rate"]), "number")
        ok = pub <= ft
        ft, pub, rate = ft[ok], pub[ok], rate[ok]
        order = np.lexsort((pub, ft))
        ft, rate = ft[order], rate[order]
        last = np.concatenate([ft[1:] != ft[:-1], [True]])
        ts, rate = ft[last], rate[last]
        rows_tab = _Table(pd.DataFrame({"t": ts}), p, text=False)
        _validate_order(rows_tab, ts, "funding time")
    else:
        ts = _require(tab, tcol, _times(f[tcol]), "timestamp")
        rate = _require(tab, rcol, _numeric(f[rcol]), "number") * scale
        if "fundinginterval" in f.columns:
            iv = _require(tab, "fundinginterval", _times(f["fundinginterval"]), "interval")
            per_row = iv - to_ns("2000-01-01T00:00:00Z")
            bad = per_row <= 0
            if bad.any():
                raise tab.fail(bad, "fundingInterval is not after 2000-01-01 (BitMEX encodes the interval as an offset from it)")
        if sort:
            order = np.argsort(ts, kind="stable")
            tab.take(order)
            ts, rate = ts[order], rate[order]
            per_row = None if per_row is None else per_row[order]
        _validate_order(tab, ts, "funding time")
        big = np.abs(rate) >= 1.0
        if big.any():
            raise tab.fail(big, lambda i: f"funding rate {float(rate[i])!r} is not a decimal rate per interval "
                                          "(a percent series must be divided by 100)")
    if fixed is not None:
        nominal = fixed
    elif per_row is not None:
        vals, counts = np.unique(per_row, return_counts=True)
        nominal = int(vals[np.argmax(counts)])
    else:
        nominal = _nominal_from_diffs(ts)
    intervals = per_row if per_row is not None else np.full(len(ts), nominal, dtype=np.int64)
    return FundingSeries(ts_ns=ts.astype(np.int64), rate=rate.astype(np.float64), interval_ns=intervals.astype(np.int64),
                         symbol=meta.get("symbol"), source=p.name, gaps=_funding_gaps(ts, intervals, nominal), path=str(p))
