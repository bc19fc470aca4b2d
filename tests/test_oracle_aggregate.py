"""Index aggregation and TWAP: hand-worked tables (median, outliers, staleness, confidence), order
independence and TWAP exactness as properties, the canonical forms, and bad input.

Prices are int lot prices; times are ns (``S`` = one second).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput
from ramparts.oracle.aggregate import IndexAggregator, IndexReading, SourceQuote, Twap

S = 10**9
SRC = ("binance", "coinbase", "kraken", "okx", "pyth")
AGG = IndexAggregator(sources=SRC, max_age_ns=10 * S, min_sources=3, max_deviation_ppm=20_000)


def q(source: str, price: int, conf: int = 0, ts: int = 100 * S) -> SourceQuote:
    return SourceQuote(source, price, conf, ts)


def quotes(*prices, ts=100 * S, conf=0):
    return [q(s, p, conf, ts) for s, p in zip(SRC, prices, strict=False)]


CASES = [
    # (name, aggregator, quotes, now, price, conf, n_valid, rejected, valid)
    ("five agree", AGG, quotes(100_000, 100_010, 99_990, 100_020, 99_980), 100 * S, 100_000, 20, 5, {}, True),
    (
        "one outlier rejected: median 100,000, 110,000 is 10 % away > 2 %",
        AGG,
        quotes(100_000, 100_010, 99_990, 110_000, 99_980),
        100 * S,
        99_995,  # median of the 4 survivors: (99,990 + 100,000)/2
        15,  # farthest survivor 99,980 is 15 from 99,995
        4,
        {"okx": "outlier"},
        True,
    ),
    (
        "stale source dropped (11 s old, heartbeat 10 s)",
        AGG,
        [q("binance", 100_000), q("coinbase", 100_002), q("kraken", 100_004), q("okx", 90_000, ts=89 * S)],
        100 * S,
        100_002,
        2,
        3,
        {"okx": "stale"},
        True,
    ),
    (
        "exactly at the heartbeat is still fresh",
        AGG,
        [q("binance", 100_000, ts=90 * S), q("coinbase", 100_002), q("kraken", 100_004)],
        100 * S,
        100_002,
        2,
        3,
        {},
        True,
    ),
    (
        "too few sources: two stale leave two of three needed",
        AGG,
        [q("binance", 100_000), q("coinbase", 100_002), q("kraken", 100_004, ts=0), q("okx", 100_006, ts=0)],
        100 * S,
        100_001,
        1,
        2,
        {"kraken": "stale", "okx": "stale"},
        False,
    ),
    ("no quotes at all", AGG, [], 100 * S, None, 0, 0, {}, False),
    (
        "quote from the future rejected",
        AGG,
        [q("binance", 100_000), q("coinbase", 100_002), q("kraken", 100_004), q("okx", 100_006, ts=101 * S)],
        100 * S,
        100_002,
        2,
        3,
        {"okx": "future"},
        True,
    ),
    (
        "source confidence wider than 1 % rejected",
        IndexAggregator(sources=SRC, max_age_ns=10 * S, min_sources=2, max_conf_ppm=10_000),
        [q("binance", 100_000, 500), q("coinbase", 100_000, 1_001), q("kraken", 100_010, 1_000)],
        100 * S,
        100_005,  # (100,000 + 100,010)/2
        1_000,  # the widest surviving source interval
        2,
        {"coinbase": "conf_too_wide"},
        True,
    ),
    (
        "even count: median rounds half-even ((100,000 + 100,003)/2 = 100,001.5 → 100,002)",
        IndexAggregator(sources=SRC, max_age_ns=10 * S),
        quotes(100_000, 100_003),
        100 * S,
        100_002,
        2,
        2,
        {},
        True,
    ),
    (
        "MAD: 3 MADs around the median 102 reject 130 (28 away) but keep 98 (MAD 2)",
        IndexAggregator(sources=SRC, max_age_ns=10 * S, outlier="mad", mad_multiplier_ppm=3_000_000, min_mad_ppm=0),
        quotes(100, 102, 98, 103, 130),
        100 * S,
        101,  # survivors 98, 100, 102, 103: (100 + 102)/2
        3,
        4,
        {"pyth": "outlier"},
        True,
    ),
    (
        "MAD floor: identical sources do not reject one 0.05 % away (floor 0.1 %)",
        IndexAggregator(sources=SRC, max_age_ns=10 * S, outlier="mad", mad_multiplier_ppm=3_000_000, min_mad_ppm=1_000),
        quotes(100_000, 100_000, 100_000, 100_050),
        100 * S,
        100_000,
        50,
        4,
        {},
        True,
    ),
    (
        "no outlier rejection keeps everything",
        IndexAggregator(sources=SRC, max_age_ns=10 * S, outlier="none"),
        quotes(100, 101, 1_000),
        100 * S,
        101,
        899,  # the dispersion: 1,000 is 899 from the index
        3,
        {},
        True,
    ),
]


@pytest.mark.parametrize("name,agg,qs,now,price,conf,n_valid,rejected,valid", CASES, ids=[c[0] for c in CASES])
def test_aggregate_table(name, agg, qs, now, price, conf, n_valid, rejected, valid):
    r = agg.aggregate(qs, now)
    assert (r.price, r.conf, r.n_valid, r.rejected, r.valid) == (price, conf, n_valid, rejected, valid)
    assert r.reason == ("ok" if valid else "too_few_sources")
    assert r.ts_ns == now
    assert list(r.rejected) == sorted(r.rejected)


def test_per_source_heartbeat_overrides_the_default():
    agg = IndexAggregator(sources=SRC, max_age_ns=10 * S, source_max_age_ns={"pyth": 30 * S})
    r = agg.aggregate([q("pyth", 100_000, ts=75 * S), q("okx", 100_000, ts=75 * S)], 100 * S)
    assert r.rejected == {"okx": "stale"} and r.n_valid == 1 and r.oldest_ts_ns == 75 * S


def test_oldest_timestamp_is_of_the_survivors():
    r = AGG.aggregate([q("binance", 100_000, ts=95 * S), q("coinbase", 100_001, ts=99 * S), q("kraken", 100_002, ts=98 * S)], 100 * S)
    assert r.oldest_ts_ns == 95 * S


prices_st = st.lists(st.integers(1, 10**12), min_size=1, max_size=5)


@given(prices=prices_st, data=st.data())
@settings(max_examples=200, deadline=None)
def test_order_independent_and_inside_the_range(prices, data):
    agg = IndexAggregator(sources=SRC, max_age_ns=10 * S, outlier=data.draw(st.sampled_from(["none", "relative", "mad"])))
    qs = quotes(*prices)
    perm = data.draw(st.permutations(qs))
    a, b = agg.aggregate(qs, 100 * S), agg.aggregate(perm, 100 * S)
    assert a == b
    if len(prices) % 2 or agg.outlier == "none":
        assert a.n_valid >= 1  # an odd count's median always survives; an even one may not
    survivors = [x.price for x in qs if x.source not in a.rejected]
    assert len(survivors) == a.n_valid
    if survivors:
        assert min(survivors) <= a.price <= max(survivors)
        assert a.conf >= max(abs(p - a.price) for p in survivors)
    else:
        assert a.price is None and not a.valid


def test_from_decimal_rounds_price_half_even_and_conf_up():
    qt = SourceQuote.from_decimal("pyth", Decimal("50000.1235"), "0.0001", 1, scale=3)
    assert (qt.price, qt.conf) == (50_000_124, 1)
    assert SourceQuote.from_decimal("pyth", "1.0005", "0", 1, scale=3).price == 1_000  # half-even
    with pytest.raises(InvalidInput, match="price"):
        SourceQuote.from_decimal("pyth", "-1", "0", 1, scale=3)
    with pytest.raises(InvalidInput, match="conf"):
        SourceQuote.from_decimal("pyth", "1", "NaN", 1, scale=3)


def test_canonical_round_trips():
    r = AGG.aggregate(quotes(100_000, 100_010, 99_990, 110_000, 99_980, ts=95 * S), 100 * S)
    d = r.to_dict()
    assert IndexReading.from_dict(json.loads(json.dumps(d))) == r
    assert list(d) == ["price", "conf", "n_valid", "rejected", "valid", "reason", "ts_ns", "oldest_ts_ns"]
    agg = IndexAggregator(sources=("b", "a"), max_age_ns=5, source_max_age_ns={"b": 7}, max_conf_ppm=100, outlier="mad")
    assert agg.sources == ("a", "b")
    again = IndexAggregator.from_dict(json.loads(json.dumps(agg.to_dict())))
    assert again == agg and again.to_dict() == agg.to_dict()
    assert SourceQuote.from_dict(q("okx", 5, 1, 2).to_dict()) == q("okx", 5, 1, 2)


BAD_QUOTES = [
    # (name, builder, field fragment)
    ("NaN price", lambda: SourceQuote("okx", float("nan"), 0, 0), "price"),
    ("float price", lambda: SourceQuote("okx", 100.5, 0, 0), "price"),
    ("negative price", lambda: SourceQuote("okx", -1, 0, 0), "price"),
    ("zero price", lambda: SourceQuote("okx", 0, 0, 0), "price"),
    ("fractional Decimal price", lambda: SourceQuote("okx", Decimal("1.5"), 0, 0), "price"),
    ("bool price", lambda: SourceQuote("okx", True, 0, 0), "price"),
    ("negative conf", lambda: SourceQuote("okx", 1, -1, 0), "conf"),
    ("negative time", lambda: SourceQuote("okx", 1, 0, -1), "ts_ns"),
    ("empty source", lambda: SourceQuote("", 1, 0, 0), "source"),
]


@pytest.mark.parametrize("name,build,field", BAD_QUOTES, ids=[c[0] for c in BAD_QUOTES])
def test_bad_quotes(name, build, field):
    with pytest.raises(InvalidInput) as e:
        build()
    assert field in e.value.field


def test_integral_decimal_is_accepted():
    assert SourceQuote("okx", Decimal("100"), Decimal(0), 0).price == 100


BAD_AGGREGATE = [
    ("unknown source", [q("bitmex", 100)], 100 * S, "unknown source 'bitmex'"),
    ("duplicate source", [q("okx", 100), q("okx", 101)], 100 * S, "duplicate"),
    ("not a quote", [(1, 2)], 100 * S, "SourceQuote"),
    ("a single quote, not a list", q("okx", 100), 100 * S, "list"),
    ("negative now", [q("okx", 100)], -1, "now_ns"),
    ("NaN now", [q("okx", 100)], float("nan"), "now_ns"),
]


@pytest.mark.parametrize("name,qs,now,msg", BAD_AGGREGATE, ids=[c[0] for c in BAD_AGGREGATE])
def test_bad_aggregate_input(name, qs, now, msg):
    with pytest.raises(InvalidInput, match=msg):
        AGG.aggregate(qs, now)


BAD_CONFIG = [
    ("no sources", dict(sources=(), max_age_ns=1), "sources"),
    ("duplicate sources", dict(sources=("a", "a"), max_age_ns=1), "duplicate"),
    ("min_sources above the count", dict(sources=("a",), max_age_ns=1, min_sources=2), "min_sources"),
    ("zero heartbeat", dict(sources=("a",), max_age_ns=0), "max_age_ns"),
    ("unknown method", dict(sources=("a",), max_age_ns=1, outlier="zscore"), "unknown method"),
    ("age for an unknown source", dict(sources=("a",), max_age_ns=1, source_max_age_ns={"b": 1}), "unknown source"),
    ("deviation above 100 %", dict(sources=("a",), max_age_ns=1, max_deviation_ppm=2_000_000), "max_deviation_ppm"),
    ("a string of sources", dict(sources="abc", max_age_ns=1), "sources"),
]


@pytest.mark.parametrize("name,kw,msg", BAD_CONFIG, ids=[c[0] for c in BAD_CONFIG])
def test_bad_aggregator_config(name, kw, msg):
    with pytest.raises(InvalidInput, match=msg):
        IndexAggregator(**kw)


def test_reading_from_dict_refuses_junk():
    d = AGG.aggregate(quotes(1, 1, 1), 100 * S).to_dict()
    with pytest.raises(InvalidInput, match="unknown keys"):
        IndexReading.from_dict({**d, "extra": 1})
    with pytest.raises(InvalidInput, match="unknown reason"):
        IndexReading.from_dict({**d, "rejected": {"okx": "bored"}})
    with pytest.raises(InvalidInput, match="price"):
        IndexReading.from_dict({**d, "price": -5})


# ---------------------------------------------------------------------------------------- TWAP

TWAP_CASES = [
    # (name, twap config, samples, now, expected)
    ("constant", dict(window_ns=100), [(0, 1_000)], 100, 1_000),
    ("half and half", dict(window_ns=100), [(0, 1_000), (50, 2_000)], 100, 1_500),
    ("older sample only counts from the window start", dict(window_ns=100), [(0, 1_000), (150, 2_000)], 200, 1_500),
    ("a quarter at 1,000", dict(window_ns=100), [(0, 1_000), (75, 2_000)], 100, 1_250),
    ("rounds half-even: (1·1 + 1·2)/2 = 1.5 → 2", dict(window_ns=2), [(0, 1), (1, 2)], 2, 2),
    ("gap: samples held 10 ns at most", dict(window_ns=100, max_gap_ns=10), [(0, 1_000), (90, 4_000)], 100, 2_500),
    ("gap: nothing covered → None", dict(window_ns=100, max_gap_ns=10), [(0, 1_000)], 200, None),
    ("coverage below the minimum → None", dict(window_ns=100, max_gap_ns=10, min_coverage_ppm=500_000), [(0, 1_000), (90, 4_000)], 100, None),
    ("no samples", dict(window_ns=100), [], 100, None),
    ("zero elapsed", dict(window_ns=100), [(100, 7)], 100, None),
]


@pytest.mark.parametrize("name,cfg,samples,now,expected", TWAP_CASES, ids=[c[0] for c in TWAP_CASES])
def test_twap_table(name, cfg, samples, now, expected):
    t = Twap(**cfg)
    for ts, p in samples:
        t = t.add(ts, p)
    assert t.value(now) == expected


def _reference_twap(samples, window, max_gap, now):
    area = covered = 0
    for i, (ts, p) in enumerate(samples):
        end = samples[i + 1][0] if i + 1 < len(samples) else now
        if max_gap is not None:
            end = min(end, ts + max_gap)
        lo, hi = max(ts, now - window), min(end, now)
        if hi > lo:
            area += p * (hi - lo)
            covered += hi - lo
    if not covered:
        return None
    x = Fraction(area, covered)
    fl = math.floor(x)
    return fl + (1 if x - fl > Fraction(1, 2) or (x - fl == Fraction(1, 2) and fl % 2) else 0)


@given(
    steps=st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10**9)), min_size=1, max_size=40),
    window=st.integers(1, 200),
    max_gap=st.one_of(st.none(), st.integers(1, 60)),
    extra=st.integers(0, 100),
)
@settings(max_examples=200, deadline=None)
def test_twap_pruning_matches_the_full_history(steps, window, max_gap, extra):
    t, full, ts = Twap(window_ns=window, max_gap_ns=max_gap), [], 0
    for dt, p in steps:
        ts += dt
        t = t.add(ts, p)
        if full and full[-1][0] == ts:
            full[-1] = (ts, p)
        else:
            full.append((ts, p))
        assert t.value(ts) == _reference_twap(full, window, max_gap, ts)
    assert t.value(ts + extra) == _reference_twap(full, window, max_gap, ts + extra)
    assert len(t.samples) <= len(full)
    assert Twap.from_dict(json.loads(json.dumps(t.to_dict()))) == t


def test_twap_same_time_replaces_and_backwards_is_refused():
    t = Twap(window_ns=10).add(5, 100).add(5, 200)
    assert t.samples == ((5, 200),)
    with pytest.raises(InvalidInput, match="backwards"):
        t.add(4, 100)
    with pytest.raises(InvalidInput, match="before the newest sample"):
        t.value(4)
    assert t.samples == ((5, 200),)  # unchanged


BAD_TWAP = [
    ("zero window", lambda: Twap(window_ns=0), "window_ns"),
    ("NaN price", lambda: Twap(window_ns=10).add(0, float("nan")), "price"),
    ("negative price", lambda: Twap(window_ns=10).add(0, -3), "price"),
    ("negative time", lambda: Twap(window_ns=10).add(-1, 3), "ts_ns"),
    ("unsorted samples", lambda: Twap(window_ns=10, samples=((5, 1), (5, 2))), "strictly"),
    ("malformed sample", lambda: Twap(window_ns=10, samples=((5,),)), "pair"),
    ("unknown key", lambda: Twap.from_dict({"window_ns": 5, "span": 3}), "unknown keys"),
]


@pytest.mark.parametrize("name,build,msg", BAD_TWAP, ids=[c[0] for c in BAD_TWAP])
def test_bad_twap_input(name, build, msg):
    with pytest.raises(InvalidInput, match=msg):
        build()
