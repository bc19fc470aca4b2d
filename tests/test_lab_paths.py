"""Price paths of the crash lab: four-point bars, refinement from a finer series, the bridge, wicks, resampling.

The synthetic cases are valued by hand: twelve 5-minute bars rising by 1 a bar (open 100 + j, close
101 + j, high close + 0.5, low open − 0.5) under one hourly bar, so the refined path's every
observation has a closed form. The real-data cases check the shipped windows against figures read
off the files (Black Thursday's 10:00 perpetual bar against its 5-minute spot bars).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ramparts.errors import InvalidInput
from ramparts.lab.events import NAMED_EVENTS, event_path
from ramparts.lab.history import Candles, to_ns
from ramparts.lab.paths import (
    PricePath,
    bridge_substeps,
    cannot_refine,
    intrabar_path,
    price_path,
    resample_path,
)

MIN = 60 * 10**9
HOUR = 60 * MIN
T0_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, by hand: 19723 days × 86400 s
Q5 = 5 * MIN // 4  # a quarter of a 5-minute bar: 75 s


def bars(o, h, lo, c, interval=HOUR, t0=T0_NS, source="coarse_1h", symbol="BTC/USDT:USDT", ts=None) -> Candles:
    n = len(np.atleast_1d(o))
    t = np.asarray(ts, dtype=np.int64) if ts is not None else t0 + np.arange(n, dtype=np.int64) * interval
    return Candles(t, *(np.atleast_1d(np.asarray(x, dtype=float)) for x in (o, h, lo, c)), np.ones(n), interval,
                   symbol=symbol, source=source)


def fine12(**kw) -> Candles:
    """Twelve 5-minute bars from T0: open 100 + j, close 101 + j, high close + 0.5, low open − 0.5."""
    j = np.arange(12.0)
    return bars(100 + j, 101.5 + j, 99.5 + j, 101 + j, interval=5 * MIN, source=kw.pop("source", "fine_5m"),
                symbol=kw.pop("symbol", "BTC/USDT"), **kw)


#: The fine path by hand (worst_long: open, low, high, close at 0, 75, 150, 225 s into each bar).
FINE_T = np.array([T0_NS + j * 5 * MIN + q * Q5 for j in range(12) for q in range(4)], dtype=np.int64)
FINE_P = np.array([v for j in range(12) for v in (100 + j, 99.5 + j, 101.5 + j, 101 + j)], dtype=float)


# ---------------------------------------------------------------------------------------------- four-point paths


def _two_bars() -> Candles:
    ts = np.array([T0_NS, T0_NS + HOUR], dtype=np.int64)
    return Candles(ts, np.array([100.0, 104.0]), np.array([110.0, 106.0]), np.array([95.0, 90.0]),
                   np.array([104.0, 92.0]), np.ones(2), HOUR, symbol="X")


@pytest.mark.parametrize("order,prices", [
    ("worst_long", [100, 95, 110, 104, 104, 90, 106, 92]),
    ("olhc", [100, 95, 110, 104, 104, 90, 106, 92]),
    ("worst_short", [100, 110, 95, 104, 104, 106, 90, 92]),
    ("ohlc", [100, 110, 95, 104, 104, 106, 90, 92]),
    # rising first bar: low first; falling second bar: high first
    ("auto", [100, 95, 110, 104, 104, 106, 90, 92]),
])
def test_intrabar_orders_and_timing(order, prices):
    path = intrabar_path(_two_bars(), order)
    assert isinstance(path, PricePath) and path.order == order and path.symbol == "X"
    assert path.price.tolist() == prices
    q = HOUR // 4
    assert path.ts_ns.tolist() == [T0_NS, T0_NS + q, T0_NS + 2 * q, T0_NS + 3 * q,
                                   T0_NS + HOUR, T0_NS + HOUR + q, T0_NS + HOUR + 2 * q, T0_NS + HOUR + 3 * q]
    prov = path.provenance
    assert (prov.method, prov.bars, prov.bars_coarse, prov.observations, prov.median_step_ns) == ("coarse", 2, 2, 8, q)


def test_intrabar_close_is_a_subpath():
    bars_ = _two_bars()
    close = intrabar_path(bars_, "close")
    assert close.price.tolist() == [104, 92]
    full = intrabar_path(bars_, "worst_long")
    assert full.ts_ns[3::4].tolist() == close.ts_ns.tolist() and full.price[3::4].tolist() == close.price.tolist()
    with pytest.raises(InvalidInput, match="order"):
        intrabar_path(bars_, "random")


def test_price_path_validates():
    with pytest.raises(InvalidInput, match="increase strictly"):
        PricePath(np.array([1, 1]), np.array([1.0, 2.0]))
    with pytest.raises(InvalidInput, match="positive and finite"):
        PricePath(np.array([1, 2]), np.array([1.0, np.nan]))
    with pytest.raises(InvalidInput, match="equal length"):
        PricePath(np.array([1, 2]), np.array([1.0]))
    assert PricePath([1, 2], [1.0, np.e]).log_returns() == pytest.approx([1.0])


# ---------------------------------------------------------------------------------------------- refinement


def test_a_constant_basis_gives_the_fine_path_scaled():
    # the coarse bar is the fine series × 1.01 throughout: open 101, close 112 × 1.01, low 99.5 × 1.01, high 112.5 × 1.01
    coarse = bars(101.0, 113.625, 100.495, 113.12)
    path = price_path(coarse, [fine12()])
    assert path.ts_ns.tolist() == FINE_T.tolist()
    assert path.price == pytest.approx(FINE_P * 1.01, rel=1e-12)
    assert path.price[0] == 101.0 and path.price[-1] == 113.12  # starts at the coarse open, ends at the coarse close
    assert path.price.min() == 100.495 and path.price.max() == 113.625  # and honours its extremes exactly
    prov = path.provenance
    assert (prov.method, prov.bars_refined, prov.bars_bridged, prov.bars_coarse) == ("refined", 1, 0, 0)
    assert prov.finer == (("fine_5m", 5 * MIN, 1),) and prov.wicks == () and prov.observations == 48
    assert prov.median_step_ns == Q5 and prov.max_basis == pytest.approx(math.log(1.01))


def test_the_basis_moves_linearly_in_log_space_from_the_open_ratio_to_the_close_ratio():
    # basis 1 at the open (100 / 100), 1.02 at the close (114.24 / 112); the last fine close is at 55 min + 225 s
    span = 55 * MIN + 3 * Q5
    w = (FINE_T - T0_NS) / span
    expected = FINE_P * 1.02 ** w
    low, high = 99.5 * 1.02 ** (Q5 / span), 112.5 * 1.02 ** ((55 * MIN + 2 * Q5) / span)  # the mapped extremes, by hand
    path = price_path(bars(100.0, high, low, 112 * 1.02), [fine12()])
    assert path.price == pytest.approx(expected, rel=1e-12)
    assert path.price[0] == 100.0 and path.price[-1] == 112 * 1.02
    assert path.provenance.wicks == ()


def test_the_path_stays_inside_the_coarse_bar():
    # the fine series goes higher (mapped: 113.625) than the coarse bar's high of 110: clipped there
    path = price_path(bars(101.0, 110.0, 100.495, 109.0), [fine12()])
    assert path.price.max() == 110.0 and path.price.min() == 100.495
    assert path.price[0] == 101.0 and path.price[-1] == 109.0


#: (side, policy, coarse low, coarse high, index of the extreme's observation, what the path visits there, flagged)
WICKS = [
    ("low", "clip", 0.9 * 100.495, 113.625, 1, 100.495, True),  # 10 % below the confirmed low: not believed
    ("low", "keep", 0.9 * 100.495, 113.625, 1, 0.9 * 100.495, True),  # visited once, at the fine low's time
    ("high", "clip", 100.495, 1.1 * 113.625, 46, 113.625, True),
    ("high", "keep", 100.495, 1.1 * 113.625, 46, 1.1 * 113.625, True),
    ("low", "clip", 0.995 * 100.495, 113.625, 1, 0.995 * 100.495, False),  # 0.5 %: confirmed within tolerance, honoured
]


@pytest.mark.parametrize("side, policy, low, high, at, visited, flagged", WICKS)
def test_unconfirmed_wicks_are_flagged_and_the_policy_decides(side, policy, low, high, at, visited, flagged):
    path = price_path(bars(101.0, high, low, 113.12), [fine12()], wicks=policy)
    assert path.price[at] == pytest.approx(visited, rel=1e-12)
    others = np.delete(np.arange(48), at)
    assert path.price[others] == pytest.approx(FINE_P[others] * 1.01, rel=1e-12)  # the rest is the fine path's shape
    wicks = path.provenance.wicks
    assert len(wicks) == int(flagged)
    if flagged:
        w = wicks[0]
        assert (w.side, w.action, w.finer_source, w.at_ns) == (side, "clipped" if policy == "clip" else "kept", "fine_5m", int(FINE_T[at]))
        assert w.coarse == (low if side == "low" else high) and w.finer == FINE_P[at]
        assert w.confirmed == pytest.approx(FINE_P[at] * 1.01, rel=1e-12) and w.gap == pytest.approx(0.1, rel=1e-9)
        d = w.to_dict()
        assert d["bar"] == "2024-01-01T00:00:00Z" and d["at"] == ("2024-01-01T00:01:15Z" if side == "low" else "2024-01-01T00:57:30Z")


def test_the_tolerance_is_a_parameter():
    coarse = bars(101.0, 113.625, 0.98 * 100.495, 113.12)  # 2 % below
    assert len(price_path(coarse, [fine12()]).provenance.wicks) == 1
    assert price_path(coarse, [fine12()], tolerance=0.025).provenance.wicks == ()


# ---------------------------------------------------------------------------------------------- bridge and coverage


@pytest.mark.parametrize("order, knots", [("worst_long", (100, 80, 120, 110)), ("worst_short", (100, 120, 80, 110)),
                                          ("auto", (100, 80, 120, 110))])
def test_no_finer_series_bridges_through_open_extremes_and_close(order, knots):
    path = price_path(bars(100.0, 120.0, 80.0, 110.0), [], order=order)  # an hour, steps ≤ 5 min: 4 steps a leg
    step = HOUR // 13
    assert path.ts_ns.tolist() == [T0_NS + j * step for j in range(13)]
    p = path.price
    assert (p[0], p[4], p[8], p[12]) == knots  # O, X1, X2, C exactly
    assert p.min() == 80.0 and p.max() == 120.0
    a, b, c, d = knots
    # log-linear legs: the midpoint of a leg is the geometric mean of its ends
    assert (p[2], p[6], p[10]) == pytest.approx((math.sqrt(a * b), math.sqrt(b * c), math.sqrt(c * d)), rel=1e-12)
    for lo_, hi_ in ((0, 4), (4, 8), (8, 12)):
        leg = np.diff(p[lo_ : hi_ + 1])
        assert (leg > 0).all() or (leg < 0).all()
    prov = path.provenance
    assert (prov.bars_refined, prov.bars_bridged, prov.bars_coarse) == (0, 1, 0)
    assert any("4 log-linear steps a leg" in n for n in prov.notes)


def test_a_bar_already_as_fine_as_the_bridge_step_is_its_own_four_point_path():
    b = bars([100.0, 101.0], [102.0, 103.0], [99.0, 98.0], [101.0, 99.0], interval=5 * MIN)
    path, plain = price_path(b, []), intrabar_path(b)
    assert path.ts_ns.tolist() == plain.ts_ns.tolist() and path.price.tolist() == plain.price.tolist()
    assert path.provenance.bars_coarse == 2 and path.provenance.bars_bridged == 0


@pytest.mark.parametrize("interval, step, m", [(HOUR, 5 * MIN, 4), (5 * MIN, 5 * MIN, 1), (15 * MIN, 5 * MIN, 1),
                                               (20 * MIN, 5 * MIN, 1), (30 * MIN, 5 * MIN, 2), (HOUR, MIN, 20)])
def test_bridge_substeps(interval, step, m):
    assert bridge_substeps(interval, step) == m
    assert interval / (3 * m + 1) <= step  # observations no further apart than the step
    assert m == 1 or interval / (3 * (m - 1) + 1) > step  # and no more of them than that needs


#: fine bars' open times that do not cover the hour: half of it, one bar missing, a grid 2.5 minutes off
PARTIAL = {
    "first half only": [T0_NS + j * 5 * MIN for j in range(6)],
    "one bar missing": [T0_NS + j * 5 * MIN for j in range(12) if j != 7],
    "off the grid": [T0_NS + 150 * 10**9 + j * 5 * MIN for j in range(12)],
}


@pytest.mark.parametrize("case", PARTIAL)
def test_partial_coverage_falls_back_to_the_bridge(case):
    ts = PARTIAL[case]
    n = len(ts)
    fine = bars(np.full(n, 100.0), np.full(n, 101.0), np.full(n, 99.0), np.full(n, 100.0), interval=5 * MIN, ts=ts, source="f")
    coarse = bars(100.0, 120.0, 80.0, 110.0)
    path = price_path(coarse, [fine])
    bridge = price_path(coarse, [])
    assert path.price.tolist() == bridge.price.tolist() and path.ts_ns.tolist() == bridge.ts_ns.tolist()
    assert path.provenance.bars_bridged == 1 and path.provenance.finer == (("f", 5 * MIN, 0),)


def test_a_forward_filled_fine_bar_does_not_cover():
    fine = fine12()
    filled = np.zeros(12, dtype=bool)
    filled[3] = True
    fine = Candles(fine.ts_ns, fine.open, fine.high, fine.low, fine.close, fine.volume, fine.interval_ns, symbol=fine.symbol,
                   source="f", filled=filled)
    assert price_path(bars(101.0, 113.625, 100.495, 113.12), [fine]).provenance.bars_bridged == 1


def test_the_finest_covering_series_wins_then_the_first_listed():
    coarse = bars(101.0, 113.625, 100.495, 113.12)
    j = np.arange(4.0)
    f15 = bars(100 + 3 * j, 103.5 + 3 * j, 99.5 + 3 * j, 103 + 3 * j, interval=15 * MIN, source="f15", symbol="BTC/USDT")
    path = price_path(coarse, [f15, fine12()])
    assert path.provenance.finer == (("fine_5m", 5 * MIN, 1), ("f15", 15 * MIN, 0)) and len(path) == 48
    gappy = fine12(ts=[T0_NS + k * 5 * MIN for k in range(12)])
    gappy = Candles(gappy.ts_ns[:-1], gappy.open[:-1], gappy.high[:-1], gappy.low[:-1], gappy.close[:-1], gappy.volume[:-1],
                    5 * MIN, symbol="BTC/USDT", source="gappy")
    path = price_path(coarse, [gappy, f15])
    assert path.provenance.finer == (("gappy", 5 * MIN, 0), ("f15", 15 * MIN, 1)) and len(path) == 16
    twin = fine12(source="twin")
    assert price_path(coarse, [twin, fine12()]).provenance.finer[0] == ("twin", 5 * MIN, 1)


@pytest.mark.parametrize("finer, reason", [
    (dict(symbol="ETH/USDT"), "another asset"),
    (dict(interval=HOUR, source="other_1h"), "not finer"),
    (dict(interval=7 * MIN), "do not divide"),
    (dict(interval=HOUR, source="coarse_1h"), "the base series"),
])
def test_series_that_cannot_refine_are_left_out_and_said(finer, reason):
    coarse = bars(101.0, 113.625, 100.495, 113.12)
    kw = {"interval": 5 * MIN, "source": "x", "symbol": "BTC/USDT", **finer}
    f = bars(100.0, 101.0, 99.0, 100.0, **kw)
    assert reason in cannot_refine(coarse, f)
    path = price_path(coarse, [f])
    assert path.provenance.ignored[0][0] == kw["source"] and reason in path.provenance.ignored[0][1]
    assert path.provenance.bars_bridged == 1
    assert cannot_refine(coarse, fine12()) is None and cannot_refine(bars(1.0, 1.0, 1.0, 1.0, symbol="BTCUSDT"), fine12()) is None


def test_coarse_method_is_the_four_point_path_and_lists_the_wicks_it_keeps():
    coarse = bars(101.0, 113.625, 0.9 * 100.495, 113.12)
    path, plain = price_path(coarse, [fine12()], method="coarse"), intrabar_path(coarse)
    assert path.price.tolist() == plain.price.tolist() and path.ts_ns.tolist() == plain.ts_ns.tolist()
    prov = path.provenance
    assert prov.method == "coarse" and prov.bars_coarse == 1 and prov.wick_policy == "keep"
    assert [(w.side, w.action) for w in prov.wicks] == [("low", "kept")]


@pytest.mark.parametrize("kwargs, field", [
    ({"method": "fine"}, "method"), ({"wicks": "trim"}, "wicks"), ({"tolerance": -0.1}, "tolerance"), ({"tolerance": 1.0}, "tolerance"),
    ({"tolerance": float("nan")}, "tolerance"), ({"bridge_step": "0m"}, "bridge_step"), ({"bridge_step": "soon"}, "bridge_step"),
    ({"order": "close"}, "order"), ({"order": "sideways"}, "order"),
])
def test_bad_arguments_name_their_field(kwargs, field):
    with pytest.raises(InvalidInput) as exc:
        price_path(bars(101.0, 113.625, 100.495, 113.12), [fine12()], **kwargs)
    assert exc.value.field == field


def test_paths_are_deterministic():
    coarse = bars(101.0, 113.625, 0.9 * 100.495, 113.12)
    a, b = price_path(coarse, [fine12()]), price_path(coarse, [fine12()])
    assert a.ts_ns.tobytes() == b.ts_ns.tobytes() and a.price.tobytes() == b.price.tobytes()
    assert a.provenance.to_dict() == b.provenance.to_dict()
    ev = NAMED_EVENTS["black-thursday-2020"]
    x, y = event_path(ev), event_path(ev)
    assert x.price.tobytes() == y.price.tobytes() and x.provenance.to_dict() == y.provenance.to_dict()


# ---------------------------------------------------------------------------------------------- resampling


def test_resample_path_takes_each_bars_open_high_low_close():
    t = T0_NS + np.arange(8, dtype=np.int64) * MIN
    p = PricePath(t, [10.0, 12.0, 9.0, 11.0, 10.5, 20.0, 18.0, 19.0], source="s")
    r = resample_path(p, "5m")
    assert r.price.tolist() == [10.0, 9.0, 12.0, 10.5, 20.0, 18.0, 20.0, 19.0]
    q = 5 * MIN // 4
    assert r.ts_ns.tolist() == [T0_NS + k * q for k in range(4)] + [T0_NS + 5 * MIN + k * q for k in range(4)]
    assert r.provenance.method == "resampled" and r.provenance.base_interval == "5m"


# ---------------------------------------------------------------------------------------------- the shipped windows


def test_black_thursday_refined_flags_the_ten_oclock_wick():
    path = event_path(NAMED_EVENTS["black-thursday-2020"])
    prov = path.provenance
    # 5m spot covers 2020-03-11 00:00 to 2020-03-12 21:15 (45 whole hours), 30m spot the other 27
    assert (prov.bars, prov.bars_refined) == (72, 72)
    assert prov.finer == (("bn_spot_BTC_5m_cryofrost", 5 * MIN, 45), ("bn_spot_BTC_30m_aallvi", 30 * MIN, 27))
    assert prov.ignored == (("ftx_spot_BTCUSD_1h_mooneyes", "its 1h bars are not finer than the base's 1h"),)
    assert prov.observations == 45 * 48 + 27 * 8 == len(path)
    ten = to_ns("2020-03-12T10:00:00Z")
    (w,) = [w for w in prov.wicks if w.bar_ns == ten and w.side == "low"]
    assert w.coarse == 5199.17 and w.finer == 5550.0 and w.finer_source == "bn_spot_BTC_5m_cryofrost"
    assert w.confirmed == pytest.approx(5550.0, rel=0.01) and w.gap > 0.05 and w.action == "clipped"
    assert to_ns("2020-03-12T10:45:00Z") <= w.at_ns < to_ns("2020-03-12T10:50:00Z")
    in_bar = (path.ts_ns >= ten) & (path.ts_ns < ten + HOUR)
    assert path.price[in_bar].min() == pytest.approx(w.confirmed) and path.price[in_bar][0] == 7358.51
    kept = event_path(NAMED_EVENTS["black-thursday-2020"], wicks="keep")
    assert kept.price[in_bar].min() == 5199.17 and int(kept.ts_ns[in_bar][np.argmin(kept.price[in_bar])]) == w.at_ns


@pytest.mark.parametrize("name", ["ftx-2022", "tariff-cascade-2025"])
def test_a_window_with_nothing_finer_keeps_its_bars(name):
    ev = NAMED_EVENTS[name]
    refined, coarse = event_path(ev), event_path(ev, method="coarse")
    assert refined.price.tobytes() == coarse.price.tobytes() and refined.ts_ns.tobytes() == coarse.ts_ns.tobytes()
    assert refined.provenance.bars_coarse == refined.provenance.bars and refined.provenance.finer == ()


def test_yen_carry_is_refined_from_five_minute_spot_without_a_wick():
    prov = event_path(NAMED_EVENTS["yen-carry-2024"]).provenance
    assert prov.finer == (("bn_spot_BTC_5m_moudux", 5 * MIN, 480),) and prov.bars_refined == 480 and prov.wicks == ()
