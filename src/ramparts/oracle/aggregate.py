"""Index aggregation from several oracle sources, and a time-weighted average price (TWAP).

This module owns

* :class:`SourceQuote`   one source's price, confidence and publish time;
* :class:`IndexAggregator` the configuration of the aggregation (known sources, minimum number of
  valid sources, per-source heartbeat, outlier rejection, per-source confidence limit) and its
  pure :meth:`~IndexAggregator.aggregate`, which returns an :class:`IndexReading`;
* :class:`Twap`          an immutable, serialisable time-weighted average accumulator.

It owns *no* gate: whether a reading may be used for margin, liquidation, funding, withdrawals or
risk-increasing fills is decided in :mod:`ramparts.oracle.gates`, and circuit breakers live in
:mod:`ramparts.oracle.breaker`.

Units and number types
----------------------
Every price and confidence is an ``int`` *lot price* (quote base units per lot, see
:mod:`ramparts.fixedpoint`), exactly as in :mod:`ramparts.oracle.mark`. At the boundary an
integral :class:`~decimal.Decimal` is accepted too; a fractional one (or a float, NaN, a bool) is an
:class:`~ramparts.errors.InvalidInput` - convert decimal prices with :meth:`SourceQuote.from_decimal`
(price rounded half-even, confidence rounded *up*, so that a rounded confidence is never narrower).
Times are integer **nanoseconds** (the engine's event time; there is no wall clock here). Rates
and thresholds are integer ppm (``10**6`` = 100 %).

Internally the median and the MAD are computed exactly with :class:`fractions.Fraction`; only the
final index is rounded (half-even) to an int lot price, so the result is identical on every
platform and independent of the order of the quotes.

The aggregation
---------------
1. A quote whose source is not configured, or a duplicate source, is bad input (``InvalidInput``).
2. A quote older than the source's heartbeat (``now − ts > max_age``) is rejected ``stale``; one
   from the future beyond ``max_future_ns`` is rejected ``future``.
3. A quote whose ``conf / price`` exceeds ``max_conf_ppm`` is rejected ``conf_too_wide``.
4. Outliers: with ``outlier="relative"`` a quote with ``|p − m| > max_deviation_ppm · m`` is
   rejected ``outlier`` (``m`` the median of the quotes that passed 2-3); with ``outlier="mad"`` the
   limit is ``mad_multiplier · max(MAD, min_mad_ppm · m)``. One pass, no iteration. With an even
   number of quotes the median is a midpoint, so two sources that disagree by more than twice the
   limit are *both* rejected: two sources cannot outvote each other, and the reading is invalid.
5. The index is the median of the survivors (mean of the two middle ones for an even count, rounded
   half-even). The reading is ``valid`` when at least ``min_sources`` survive.
6. The confidence of the reading is ``max(max_i conf_i, ⌈max_i |p_i − index|⌉)`` over the
   survivors: the widest source interval or the dispersion of the sources, whichever is wider.
   :func:`ramparts.oracle.gates.confidence_addon` turns it into a margin add-on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, localcontext
from fractions import Fraction
from typing import Any

from ramparts import validation as _v
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM, to_decimal

#: Outlier rejection methods of :class:`IndexAggregator`.
OUTLIER_METHODS = ("none", "relative", "mad")
#: Reasons a quote can be rejected with, in the order they are checked.
REJECT_REASONS = ("stale", "future", "conf_too_wide", "outlier")
#: Largest lot price or confidence accepted (far above any real price; keeps products bounded).


# validation helpers: shared with gates.py and breaker.py through ramparts.validation
_int, _price, _opt_price, _name, _ppm, _opt_ppm, _check_keys = _v.strict_int, _v.price, _v.opt_price, _v.name, _v.ppm, _v.opt_ppm, _v.check_keys
MAX_PRICE = _v.MAX_PRICE


def _round_half_even(x: Fraction) -> int:
    """Exact half-even rounding of a Fraction."""
    q, r = divmod(x.numerator, x.denominator)
    twice = 2 * r
    if twice > x.denominator or (twice == x.denominator and q % 2):
        q += 1
    return q


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _median(values: list[Fraction] | list[int]) -> Fraction:
    s = sorted(values)
    n = len(s)
    mid = n // 2
    if n % 2:
        return Fraction(s[mid])
    return (Fraction(s[mid - 1]) + Fraction(s[mid])) / 2


# ----------------------------------------------------------------------------------------------
# quotes and readings
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceQuote:
    """One oracle source's observation.

    Parameters
    ----------
    source : str
        The source's configured name (e.g. ``"binance"``, ``"pyth"``).
    price : int
        Lot price, quote base units per lot, ``> 0``.
    conf : int
        Half-width of the source's confidence interval, same unit as ``price``, ``≥ 0`` (0 when
        the source publishes none).
    ts_ns : int
        Publish time of the quote, ns since the epoch, ``≥ 0``.

    Raises
    ------
    InvalidInput
        Empty name, a NaN / float / fractional / non-positive price, a negative confidence or time.
    """

    source: str
    price: int
    conf: int
    ts_ns: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", _name(self.source, "quote.source"))
        object.__setattr__(self, "price", _price(self.price, f"quote[{self.source}].price"))
        object.__setattr__(self, "conf", _int(self.conf, f"quote[{self.source}].conf", lo=0, hi=MAX_PRICE))
        object.__setattr__(self, "ts_ns", _int(self.ts_ns, f"quote[{self.source}].ts_ns", lo=0))

    @classmethod
    def from_decimal(cls, source: str, price: Any, conf: Any, ts_ns: int, *, scale: int) -> SourceQuote:
        """Build a quote from decimal values: ``price × 10**scale`` rounded half-even to a lot price,
        ``conf × 10**scale`` rounded **up** (a rounded interval is never narrower).

        ``scale`` is the power of ten from the published unit to lot-price units (0 ≤ scale ≤ 36).

        Examples
        --------
        >>> SourceQuote.from_decimal("pyth", "50000.125", "12.0001", 7, scale=3)
        SourceQuote(source='pyth', price=50000125, conf=12001, ts_ns=7)
        """
        sc = _int(scale, "scale", lo=0, hi=36)
        with localcontext(Context(prec=80)):  # exact scaling whatever the caller's context
            p = to_decimal(price, f"quote[{source}].price").scaleb(sc)
            c = to_decimal(conf, f"quote[{source}].conf").scaleb(sc)
        if p.is_signed() and not p.is_zero():
            raise InvalidInput(f"quote[{source}].price", f"must be positive, got {price}")
        if c.is_signed() and not c.is_zero():
            raise InvalidInput(f"quote[{source}].conf", f"must be non-negative, got {conf}")
        return cls(
            source,
            int(p.to_integral_value(rounding=ROUND_HALF_EVEN)),
            int(c.to_integral_value(rounding=ROUND_CEILING)),
            ts_ns,
        )

    def to_dict(self) -> dict:
        return {"source": self.source, "price": self.price, "conf": self.conf, "ts_ns": self.ts_ns}

    @classmethod
    def from_dict(cls, d: Mapping) -> SourceQuote:
        _check_keys(d, "quote", ("source", "price", "conf", "ts_ns"))
        return cls(d["source"], d["price"], d["conf"], d["ts_ns"])


@dataclass(frozen=True, slots=True)
class IndexReading:
    """The result of one aggregation.

    Attributes
    ----------
    price : int or None
        Median of the valid sources (lot price), ``None`` when no source survived. Present even when
        ``valid`` is false (fewer than ``min_sources`` survived): a caller must check ``valid``.
    conf : int
        Confidence half-width (lot price units, ``≥ 0``): the widest surviving source interval or
        the largest distance of a surviving source from the index, whichever is larger.
    n_valid : int
        Number of sources that survived every check.
    rejected : dict[str, str]
        ``source → reason`` (one of :data:`REJECT_REASONS`), sorted by source.
    valid : bool
        ``n_valid ≥ min_sources``.
    reason : str
        ``"ok"`` or ``"too_few_sources"``.
    ts_ns : int
        The aggregation time (``now_ns``).
    oldest_ts_ns : int or None
        Publish time of the oldest surviving quote (for a staleness gate), ``None`` when none.
    """

    price: int | None
    conf: int
    n_valid: int
    rejected: dict[str, str]
    valid: bool
    reason: str
    ts_ns: int
    oldest_ts_ns: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "price", _opt_price(self.price, "reading.price"))
        object.__setattr__(self, "conf", _int(self.conf, "reading.conf", lo=0, hi=MAX_PRICE))
        object.__setattr__(self, "n_valid", _int(self.n_valid, "reading.n_valid", lo=0))
        object.__setattr__(self, "ts_ns", _int(self.ts_ns, "reading.ts_ns", lo=0))
        if self.oldest_ts_ns is not None:
            object.__setattr__(self, "oldest_ts_ns", _int(self.oldest_ts_ns, "reading.oldest_ts_ns", lo=0))
        if not isinstance(self.valid, bool):
            raise InvalidInput("reading.valid", f"expected a bool, got {self.valid!r}")
        if not isinstance(self.reason, str):
            raise InvalidInput("reading.reason", f"expected a string, got {self.reason!r}")
        if not isinstance(self.rejected, Mapping):
            raise InvalidInput("reading.rejected", f"expected an object, got {type(self.rejected).__name__}")
        rej = {}
        for k in sorted(self.rejected):
            reason = self.rejected[k]
            if reason not in REJECT_REASONS:
                raise InvalidInput(f"reading.rejected.{k}", f"unknown reason {reason!r} (known: {', '.join(REJECT_REASONS)})")
            rej[_name(k, "reading.rejected")] = reason
        object.__setattr__(self, "rejected", rej)
        if self.valid and self.price is None:
            raise InvalidInput("reading.price", "a valid reading needs a price")
        if (self.price is None) != (self.n_valid == 0):
            raise InvalidInput("reading.n_valid", f"{self.n_valid} valid sources but price {self.price!r}")

    def to_dict(self) -> dict:
        """Canonical JSON-able form (fixed key order, ``rejected`` sorted by source)."""
        return {
            "price": self.price,
            "conf": self.conf,
            "n_valid": self.n_valid,
            "rejected": dict(self.rejected),
            "valid": self.valid,
            "reason": self.reason,
            "ts_ns": self.ts_ns,
            "oldest_ts_ns": self.oldest_ts_ns,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> IndexReading:
        keys = ("price", "conf", "n_valid", "rejected", "valid", "reason", "ts_ns", "oldest_ts_ns")
        _check_keys(d, "reading", keys)
        return cls(**{k: d[k] for k in keys})


# ----------------------------------------------------------------------------------------------
# the aggregator
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexAggregator:
    """Configuration of the index aggregation (immutable, serialisable).

    Parameters
    ----------
    sources : tuple of str
        The configured source names (stored sorted). A quote from any other source is bad input.
    max_age_ns : int
        Default heartbeat: a quote older than this at aggregation time is ``stale`` (``> 0``, ns).
    min_sources : int
        Fewest surviving sources for a ``valid`` reading (``1 ≤ min_sources ≤ len(sources)``).
    source_max_age_ns : mapping of str to int
        Per-source heartbeat overriding ``max_age_ns`` (e.g. ×3 for a slow stablecoin feed).
    max_future_ns : int
        Tolerance for a quote timestamp ahead of ``now_ns`` (clock skew), ``≥ 0``.
    outlier : {"none", "relative", "mad"}
        Outlier rejection method, see the module docstring.
    max_deviation_ppm : int
        Relative limit ``|p − median| / median`` of the ``relative`` method (ppm, ``≤ 1e6``).
    mad_multiplier_ppm : int
        The ``mad`` method's limit in MADs, in ppm (``5_000_000`` = 5 MADs).
    min_mad_ppm : int
        Floor of the MAD as ppm of the median, so that identical sources do not reject a source
        one tick away (``mad`` method).
    max_conf_ppm : int or None
        Largest accepted ``conf / price`` of a single source (ppm), ``None`` for no limit.

    Raises
    ------
    InvalidInput
        Any malformed or inconsistent parameter.
    """

    sources: tuple[str, ...]
    max_age_ns: int
    min_sources: int = 1
    source_max_age_ns: Mapping[str, int] = field(default_factory=dict)
    max_future_ns: int = 0
    outlier: str = "relative"
    max_deviation_ppm: int = 20_000
    mad_multiplier_ppm: int = 5_000_000
    min_mad_ppm: int = 1_000
    max_conf_ppm: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, str) or not isinstance(self.sources, Iterable):
            raise InvalidInput("aggregator.sources", f"expected a list of names, got {self.sources!r}")
        srcs = [_name(s, "aggregator.sources") for s in self.sources]
        if not srcs:
            raise InvalidInput("aggregator.sources", "needs at least one source")
        if len(set(srcs)) != len(srcs):
            raise InvalidInput("aggregator.sources", f"duplicate source names in {srcs}")
        object.__setattr__(self, "sources", tuple(sorted(srcs)))
        object.__setattr__(self, "max_age_ns", _int(self.max_age_ns, "aggregator.max_age_ns", lo=1))
        object.__setattr__(self, "min_sources", _int(self.min_sources, "aggregator.min_sources", lo=1, hi=len(srcs)))
        if not isinstance(self.source_max_age_ns, Mapping):
            raise InvalidInput("aggregator.source_max_age_ns", f"expected an object, got {type(self.source_max_age_ns).__name__}")
        ages = {}
        for s in sorted(self.source_max_age_ns):
            if s not in srcs:
                raise InvalidInput("aggregator.source_max_age_ns", f"unknown source {s!r} (known: {', '.join(sorted(srcs))})")
            ages[s] = _int(self.source_max_age_ns[s], f"aggregator.source_max_age_ns.{s}", lo=1)
        object.__setattr__(self, "source_max_age_ns", ages)
        object.__setattr__(self, "max_future_ns", _int(self.max_future_ns, "aggregator.max_future_ns", lo=0))
        if self.outlier not in OUTLIER_METHODS:
            raise InvalidInput("aggregator.outlier", f"unknown method {self.outlier!r} (known: {', '.join(OUTLIER_METHODS)})")
        object.__setattr__(self, "max_deviation_ppm", _ppm(self.max_deviation_ppm, "aggregator.max_deviation_ppm"))
        object.__setattr__(self, "mad_multiplier_ppm", _int(self.mad_multiplier_ppm, "aggregator.mad_multiplier_ppm", lo=1, hi=1000 * PPM))
        object.__setattr__(self, "min_mad_ppm", _ppm(self.min_mad_ppm, "aggregator.min_mad_ppm"))
        object.__setattr__(self, "max_conf_ppm", _opt_ppm(self.max_conf_ppm, "aggregator.max_conf_ppm"))

    def __hash__(self) -> int:  # the ages mapping is a dict: hash the canonical form instead
        return hash(repr(self.to_dict()))

    def max_age_for(self, source: str) -> int:
        """Heartbeat of ``source`` in ns."""
        return self.source_max_age_ns.get(source, self.max_age_ns)

    def aggregate(self, quotes: Iterable[SourceQuote], now_ns: int) -> IndexReading:
        """Aggregate the latest quote of each source into an :class:`IndexReading` at ``now_ns``.

        Parameters
        ----------
        quotes : iterable of SourceQuote
            At most one per configured source; order does not matter.
        now_ns : int
            Aggregation time, ns since the epoch.

        Returns
        -------
        IndexReading
            Always returned for well-formed input, ``valid=False`` when too few sources survive.

        Raises
        ------
        InvalidInput
            A non-quote, an unknown or duplicate source, a bad ``now_ns``.

        Examples
        --------
        >>> agg = IndexAggregator(sources=("a", "b", "c"), max_age_ns=10, min_sources=2)
        >>> r = agg.aggregate([SourceQuote("a", 100, 1, 5), SourceQuote("b", 102, 1, 5), SourceQuote("c", 500, 1, 5)], 8)
        >>> r.price, r.conf, r.n_valid, r.rejected, r.valid
        (101, 1, 2, {'c': 'outlier'}, True)
        """
        now = _int(now_ns, "now_ns", lo=0)
        if isinstance(quotes, (SourceQuote, str, bytes)) or not isinstance(quotes, Iterable):
            raise InvalidInput("quotes", f"expected a list of SourceQuote, got {type(quotes).__name__}")
        seen: dict[str, SourceQuote] = {}
        for q in quotes:
            if not isinstance(q, SourceQuote):
                raise InvalidInput("quotes", f"expected SourceQuote items, got {type(q).__name__}")
            if q.source not in self.sources:
                raise InvalidInput("quote.source", f"unknown source {q.source!r} (known: {', '.join(self.sources)})")
            if q.source in seen:
                raise InvalidInput("quote.source", f"duplicate quote for source {q.source!r}")
            seen[q.source] = q

        rejected: dict[str, str] = {}
        alive: list[SourceQuote] = []
        for name in sorted(seen):
            q = seen[name]
            if now - q.ts_ns > self.max_age_for(name):
                rejected[name] = "stale"
            elif q.ts_ns - now > self.max_future_ns:
                rejected[name] = "future"
            elif self.max_conf_ppm is not None and q.conf * PPM > self.max_conf_ppm * q.price:
                rejected[name] = "conf_too_wide"
            else:
                alive.append(q)

        if alive and self.outlier != "none":
            med = _median([q.price for q in alive])
            if self.outlier == "relative":
                limit = med * self.max_deviation_ppm / PPM
            else:
                mad = _median([abs(q.price - med) for q in alive])
                limit = max(mad, med * self.min_mad_ppm / PPM) * self.mad_multiplier_ppm / PPM
            survivors = []
            for q in alive:
                if abs(q.price - med) > limit:
                    rejected[q.source] = "outlier"
                else:
                    survivors.append(q)
            alive = survivors

        n = len(alive)
        valid = n >= self.min_sources
        if n == 0:
            price, conf, oldest = None, 0, None
        else:
            price = _round_half_even(_median([q.price for q in alive]))
            conf = max(max(q.conf for q in alive), max(abs(q.price - price) for q in alive))
            oldest = min(q.ts_ns for q in alive)
        return IndexReading(
            price=price,
            conf=conf,
            n_valid=n,
            rejected=rejected,
            valid=valid,
            reason="ok" if valid else "too_few_sources",
            ts_ns=now,
            oldest_ts_ns=oldest,
        )

    def to_dict(self) -> dict:
        """Canonical JSON-able form, accepted by :meth:`from_dict`."""
        return {
            "sources": list(self.sources),
            "max_age_ns": self.max_age_ns,
            "min_sources": self.min_sources,
            "source_max_age_ns": dict(self.source_max_age_ns),
            "max_future_ns": self.max_future_ns,
            "outlier": self.outlier,
            "max_deviation_ppm": self.max_deviation_ppm,
            "mad_multiplier_ppm": self.mad_multiplier_ppm,
            "min_mad_ppm": self.min_mad_ppm,
            "max_conf_ppm": self.max_conf_ppm,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> IndexAggregator:
        keys = tuple(cls.__dataclass_fields__)
        _check_keys(d, "aggregator", ("sources", "max_age_ns"), keys)
        return cls(**{k: d[k] for k in keys if k in d})


# ----------------------------------------------------------------------------------------------
# TWAP
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Twap:
    """An immutable time-weighted average price accumulator over a sliding window.

    The price is a step function: each sample holds from its time until the next sample, but for
    at most ``max_gap_ns`` (a feed that stops publishing stops counting: time after the gap is not
    *covered*). The TWAP at ``now`` is the integral of the price over the covered part of
    ``[now − window_ns, now]`` divided by the covered time, rounded half-even to an int lot price;
    ``None`` when less than ``min_coverage_ppm`` of the window is covered (or nothing is).

    :meth:`add` returns a new accumulator (samples that can no longer reach any future window are
    dropped), so a failed update leaves the old one untouched.

    Parameters
    ----------
    window_ns : int
        Averaging window, ns (``> 0``), e.g. ``300 * 10**9`` for Drift's 5-minute TWAP.
    max_gap_ns : int or None
        Longest time a sample is held; ``None`` to hold it until the next one.
    min_coverage_ppm : int
        Fewest covered ppm of the window for a value (``0`` = any coverage).
    samples : tuple of (int, int)
        ``(ts_ns, lot_price)`` pairs, strictly increasing in time (normally built by :meth:`add`).

    Examples
    --------
    >>> t = Twap(window_ns=100).add(0, 1_000).add(50, 2_000)
    >>> t.value(100)   # 50 ns at 1,000 and 50 ns at 2,000
    1500
    >>> Twap(window_ns=100, max_gap_ns=10).add(0, 1_000).add(50, 2_000).value(100)   # 10 + 10 ns covered
    1500
    """

    window_ns: int
    max_gap_ns: int | None = None
    min_coverage_ppm: int = 0
    samples: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_ns", _int(self.window_ns, "twap.window_ns", lo=1))
        if self.max_gap_ns is not None:
            object.__setattr__(self, "max_gap_ns", _int(self.max_gap_ns, "twap.max_gap_ns", lo=1))
        object.__setattr__(self, "min_coverage_ppm", _ppm(self.min_coverage_ppm, "twap.min_coverage_ppm"))
        if isinstance(self.samples, (str, bytes)) or not isinstance(self.samples, Iterable):
            raise InvalidInput("twap.samples", f"expected a list of [ts_ns, price] pairs, got {self.samples!r}")
        out: list[tuple[int, int]] = []
        for i, s in enumerate(self.samples):
            pair = tuple(s) if isinstance(s, Iterable) and not isinstance(s, (str, bytes)) else ()
            if len(pair) != 2:
                raise InvalidInput(f"twap.samples[{i}]", f"expected a [ts_ns, price] pair, got {s!r}")
            ts, p = pair
            ts = _int(ts, f"twap.samples[{i}].ts_ns", lo=0)
            p = _price(p, f"twap.samples[{i}].price")
            if out and ts <= out[-1][0]:
                raise InvalidInput(f"twap.samples[{i}].ts_ns", f"times must increase strictly ({ts} after {out[-1][0]})")
            out.append((ts, p))
        object.__setattr__(self, "samples", tuple(out))

    @property
    def last_ts(self) -> int | None:
        """Time of the newest sample, or ``None``."""
        return self.samples[-1][0] if self.samples else None

    def add(self, ts_ns: int, price: int) -> Twap:
        """The accumulator with a new sample at ``ts_ns``.

        A sample at the same time as the newest one replaces it (last write wins); an older one is
        refused (:class:`~ramparts.errors.InvalidInput` on ``ts_ns``).
        """
        ts = _int(ts_ns, "ts_ns", lo=0)
        p = _price(price, "price")
        samples = list(self.samples)
        if samples and ts < samples[-1][0]:
            raise InvalidInput("ts_ns", f"time went backwards ({ts} < {samples[-1][0]})")
        if samples and ts == samples[-1][0]:
            samples[-1] = (ts, p)
        else:
            samples.append((ts, p))
        # drop samples whose successor starts at or before the earliest window start still reachable
        start = ts - self.window_ns
        k = 0
        while k + 1 < len(samples) and samples[k + 1][0] <= start:
            k += 1
        return Twap(self.window_ns, self.max_gap_ns, self.min_coverage_ppm, tuple(samples[k:]))

    def _integral(self, now: int) -> tuple[int, int]:
        start = now - self.window_ns
        area = covered = 0
        for i, (ts, p) in enumerate(self.samples):
            end = self.samples[i + 1][0] if i + 1 < len(self.samples) else now
            if self.max_gap_ns is not None:
                end = min(end, ts + self.max_gap_ns)
            lo, hi = max(ts, start), min(end, now)
            if hi > lo:
                area += p * (hi - lo)
                covered += hi - lo
        return area, covered

    def coverage_ns(self, now_ns: int) -> int:
        """Covered ns of the window ending at ``now_ns``."""
        return self._integral(self._check_now(now_ns))[1]

    def _check_now(self, now_ns: int) -> int:
        now = _int(now_ns, "now_ns", lo=0)
        if self.samples and now < self.samples[-1][0]:
            raise InvalidInput("now_ns", f"before the newest sample ({now} < {self.samples[-1][0]})")
        return now

    def value(self, now_ns: int) -> int | None:
        """The TWAP over ``[now_ns − window_ns, now_ns]`` (lot price, half-even), or ``None``."""
        now = self._check_now(now_ns)
        area, covered = self._integral(now)
        if covered == 0 or covered * PPM < self.min_coverage_ppm * self.window_ns:
            return None
        return _round_half_even(Fraction(area, covered))

    def to_dict(self) -> dict:
        """Canonical JSON-able form, accepted by :meth:`from_dict`."""
        return {
            "window_ns": self.window_ns,
            "max_gap_ns": self.max_gap_ns,
            "min_coverage_ppm": self.min_coverage_ppm,
            "samples": [[ts, p] for ts, p in self.samples],
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Twap:
        _check_keys(d, "twap", ("window_ns",), ("max_gap_ns", "min_coverage_ppm", "samples"))
        return cls(d["window_ns"], d.get("max_gap_ns"), d.get("min_coverage_ppm", 0), tuple(d.get("samples", ())))


__all__ = [
    "MAX_PRICE",
    "OUTLIER_METHODS",
    "REJECT_REASONS",
    "IndexAggregator",
    "IndexReading",
    "SourceQuote",
    "Twap",
]
