"""The named crash windows: their series and windows, lookup by name or file, and the path an event gives a replay.

The registry's figures are checked against the shipped files (and the lows of their PROVENANCE.md);
the refinement candidates each event declares are checked to be series of the same asset in its
file; a candle file is refined only from the series its caller names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ramparts.errors import DataError, InvalidInput
from ramparts.lab.events import NAMED_EVENTS, event_path, resolve_event
from ramparts.lab.history import load_candles, parse_interval, to_ns
from ramparts.lab.paths import cannot_refine

FREQTRADE = """date,open,high,low,close,volume
2024-01-01T00:00:00Z,100,110,95,105,1.5
2024-01-01T00:05:00Z,105,106,90,91,2.0
2024-01-01T00:10:00Z,91,99,91,98,0.5
"""


@pytest.mark.parametrize("name", sorted(NAMED_EVENTS))
def test_named_events_cover_their_window_and_low(name):
    ev = NAMED_EVENTS[name]
    c = ev.load()
    # a single-series file (luna-2022's hourly perpetual) names itself; its market is in the file's name
    assert c.source == (ev.source_id or ev.path.name) and c.interval == ev.interval
    assert c.market == "usdm_perp" or (ev.source_id is None and "usdm" in ev.path.name)
    assert c.start_ns == to_ns(ev.start) and c.end_ns == to_ns(ev.end)
    assert len(c) == (to_ns(ev.end) - to_ns(ev.start)) // parse_interval(ev.interval)
    assert c.gaps.count == 0
    assert c.low.min() == ev.low  # the lows of the PROVENANCE sanity table


def test_black_thursday_default_includes_the_second_leg():
    bars = resolve_event("black-thursday-2020").load()
    low_at = int(bars.ts_ns[np.argmin(bars.low)])
    assert low_at == to_ns("2020-03-13T02:00:00Z")
    five = resolve_event("black-thursday-2020").load(source_id="bn_spot_BTC_5m_cryofrost")
    assert five.end_ns == to_ns("2020-03-12T21:15:00Z")  # stops before the second leg: not a default
    assert five.low.min() > bars.low.min()


def test_resolve_event_names_files_and_refusals(tmp_path, monkeypatch):
    assert resolve_event("Black_Thursday_2020") is NAMED_EVENTS["black-thursday-2020"]
    custom = resolve_event("crash_windows/2022-11_ftx_collapse.csv.gz")  # a shipped data file by its name
    assert custom.source_id is None and custom.path.is_file()
    assert len(custom.load(source_id="bn_spot_BTC_5m_danielarroyave")) == 1728
    with pytest.raises(DataError, match="(?s)unknown event 'luna'.*ftx-2022"):
        resolve_event("luna")
    with pytest.raises(DataError, match="no such file: 'candles/typo.csv'"):
        resolve_event("candles/typo.csv")
    with pytest.raises(DataError, match="no such file: 'typo.csv'"):
        resolve_event("typo.csv")
    single = tmp_path / "one.csv"
    single.write_text(FREQTRADE)
    assert len(load_candles(single)) == 3
    with pytest.raises(DataError, match="no source_id column.*source_id='bn_x' selects nothing"):
        load_candles(single, source_id="bn_x")
    monkeypatch.setenv("RAMPARTS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="RAMPARTS_DATA"):
        resolve_event("crash_windows/2022-11_ftx_collapse.csv.gz")


@pytest.mark.parametrize("name", sorted(NAMED_EVENTS))
def test_declared_refinement_candidates_are_the_same_asset_in_the_same_file(name):
    ev = NAMED_EVENTS[name]
    base = ev.load()
    # tariff-cascade-2025 lists its own series; luna-2022's file holds one series: no finer one ships for May 2022
    assert ev.refine and ev.source_id not in ev.refine or name in ("tariff-cascade-2025", "luna-2022")
    finer = ev.load_finer(base)
    assert [c.source for c in finer] == [s for s in ev.refine if s != ev.source_id]
    for c in finer:
        assert c.symbol.startswith("BTC/") and (cannot_refine(base, c) is None or "not finer" in cannot_refine(base, c))


@pytest.mark.parametrize("name", sorted(NAMED_EVENTS))
def test_every_named_event_ships_its_eth_series(name):
    ev = NAMED_EVENTS[name]
    assert ev.assets == ("BTC", "ETH")
    eth = ev.for_asset("ETH")
    bars = eth.load()
    assert bars.symbol is None or bars.symbol.startswith("ETH/")
    assert bars.start_ns == to_ns(ev.start) and len(bars) > 0
    for c in eth.load_finer(bars):
        assert c.symbol.startswith("ETH/")


def _two_series(tmp_path, fine_low: float = 99.5):
    """One hourly bar (a_1h) over twelve 5-minute bars (a_5m) of the same asset, and an ETH series (e_5m)."""
    t = pd.date_range("2024-01-01", periods=12, freq="5min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    j = np.arange(12.0)
    fine = pd.DataFrame({"source_id": "a_5m", "symbol": "BTC/USDT", "interval": "5m", "time": t, "open": 100 + j,
                         "high": 101.5 + j, "low": 99.5 + j, "close": 101 + j, "volume": 1.0})
    fine.loc[0, "low"] = fine_low
    coarse = pd.DataFrame({"source_id": ["a_1h"], "symbol": "BTC/USDT:USDT", "interval": "1h", "time": [t[0]], "open": [100.0],
                           "high": [112.5], "low": [90.0], "close": [112.0], "volume": [1.0]})
    eth = fine.assign(source_id="e_5m", symbol="ETH/USDT")
    p = tmp_path / "two.csv"
    pd.concat([coarse, fine, eth]).to_csv(p, index=False)
    return p


def test_a_candle_file_is_refined_only_from_the_series_named(tmp_path):
    ev = resolve_event(str(_two_series(tmp_path)))
    plain = event_path(ev, source_id="a_1h")
    assert plain.provenance.method == "coarse" and len(plain) == 4
    assert any("refined only from the finer series the caller names" in n for n in plain.provenance.notes)
    refined = event_path(ev, source_id="a_1h", refine_source_ids=["a_5m"])
    prov = refined.provenance
    assert prov.method == "refined" and prov.bars_refined == 1 and len(refined) == 48
    (w,) = prov.wicks  # the coarse low of 90 against the 5-minute low of 99.5 (no basis): 9.5 / 99.5 = 9.55 % beyond
    assert (w.side, w.coarse, w.finer, w.action) == ("low", 90.0, 99.5, "clipped") and w.gap == pytest.approx(9.5 / 99.5, rel=1e-12)
    assert refined.price.min() == 99.5 and refined.price[0] == 100.0 and refined.price[-1] == 112.0
    kept = event_path(ev, source_id="a_1h", refine_source_ids=["a_5m"], wicks="keep")
    assert kept.price.min() == 90.0


@pytest.mark.parametrize("ids, message", [
    (["nope"], "no series 'nope' in two.csv to refine from. Available series:"),
    (["e_5m"], "e_5m cannot refine a_1h: another asset"),
    (["a_1h"], "a_1h cannot refine a_1h: it is the base series"),
])
def test_a_named_series_that_cannot_refine_is_refused(tmp_path, ids, message):
    ev = resolve_event(str(_two_series(tmp_path)))
    with pytest.raises(InvalidInput) as exc:
        event_path(ev, source_id="a_1h", refine_source_ids=ids)
    assert exc.value.field == "refine_source_id" and message in exc.value.message
