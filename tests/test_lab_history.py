"""Market-history loaders of the crash lab: formats, validation, gap policy, funding, real files.

(Paths made from the bars are tested in test_lab_paths.py, the named crash windows in test_lab_events.py.)

Synthetic files are written to ``tmp_path`` with values chosen by hand; the real files of the shared
data folder are checked against the figures published in its PROVENANCE.md (an independent source).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from ramparts.data import data_path
from ramparts.errors import DataError, InvalidInput
from ramparts.lab.history import (
    format_interval,
    iso_utc,
    load_candles,
    load_funding,
    parse_interval,
    to_ns,
)

MIN = 60 * 10**9
HOUR = 60 * MIN
T0 = "2024-01-01T00:00:00Z"
T0_NS = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z, by hand: 19723 days × 86400 s




def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return p


FREQTRADE = """date,open,high,low,close,volume
2024-01-01T00:00:00Z,100,110,95,105,1.5
2024-01-01T00:05:00Z,105,106,90,91,2.0
2024-01-01T00:10:00Z,91,99,91,98,0.5
"""


# ---------------------------------------------------------------------------------------------- formats


def test_freqtrade_csv_gz_round_trip(tmp_path):
    c = load_candles(write(tmp_path, "BTC_USDT-5m.csv.gz", FREQTRADE))
    assert c.ts_ns.dtype == np.int64 and c.close.dtype == np.float64
    assert c.ts_ns.tolist() == [T0_NS, T0_NS + 5 * MIN, T0_NS + 10 * MIN]
    assert c.open.tolist() == [100, 105, 91] and c.high.tolist() == [110, 106, 99]
    assert c.low.tolist() == [95, 90, 91] and c.close.tolist() == [105, 91, 98]
    assert c.volume.tolist() == [1.5, 2.0, 0.5]
    assert c.interval_ns == 5 * MIN and c.interval == "5m"
    assert c.gaps.count == 0 and not c.filled.any()
    assert c.end_ns == T0_NS + 15 * MIN


LONG = """source_id,exchange,market,symbol,interval,open_time_utc,open,high,low,close,volume
spot_a,binance,spot,BTC/USDT,1h,2024-01-01T00:00:00Z,100,101,99,100.5,1
spot_a,binance,spot,BTC/USDT,1h,2024-01-01T01:00:00Z,100.5,102,100,101,1
perp_b,binance,usdm_perp,BTC/USDT:USDT,1h,2024-01-01T00:00:00Z,200,201,199,200.5,1
perp_b,binance,usdm_perp,BTC/USDT:USDT,1h,2024-01-01T01:00:00Z,200.5,202,200,201,1
eth_c,binance,spot,ETH/USDT,30m,2024-01-01T00:00:00Z,10,11,9,10,1
"""


def test_long_format_selects_one_series(tmp_path):
    p = write(tmp_path, "long.csv", LONG)
    a = load_candles(p, source_id="perp_b")
    assert a.close.tolist() == [200.5, 201] and a.market == "usdm_perp" and a.source == "perp_b"
    assert a.symbol == "BTC/USDT:USDT" and a.exchange == "binance" and a.interval == "1h"
    # normalised symbol + market tells the perpetual from spot
    assert load_candles(p, symbol="BTCUSDT", market="spot").source == "spot_a"
    assert load_candles(p, symbol="btc-usdt", market="USDM_PERP").source == "perp_b"
    assert load_candles(p, interval="30m").source == "eth_c"
    # the exact symbol wins over the normalised one
    assert load_candles(p, symbol="BTC/USDT").source == "spot_a"


def test_long_format_ambiguous_or_absent_lists_the_series(tmp_path):
    p = write(tmp_path, "long.csv", LONG)
    with pytest.raises(DataError) as e:
        load_candles(p, symbol="BTCUSDT")
    msg = str(e.value)
    assert "2 series match" in msg and "spot_a" in msg and "perp_b" in msg and "eth_c" in msg and "long.csv" in msg
    with pytest.raises(DataError, match="(?s)no series matches.*spot_a.*perp_b.*eth_c"):
        load_candles(p, source_id="nope")
    with pytest.raises(DataError, match="3 series match"):
        load_candles(p)


def test_yahoo_layout_with_tickers(tmp_path):
    text = ("ticker,Date,Close,High,Low,Open,Volume\n"
            "BTC-USD,2020-03-12,4970.79,7969.94,4860.35,7913.62,53980357243\n"
            "BTC-USD,2020-03-13,5563.71,5838.11,4106.98,5017.83,74156772075\n"
            "ETH-USD,2020-03-12,112.35,195.16,101.56,194.73,22997740407\n")
    c = load_candles(write(tmp_path, "yahoo.csv", text), symbol="BTC-USD")
    assert c.symbol == "BTC-USD" and c.interval == "1d"
    assert c.open.tolist() == [7913.62, 5017.83] and c.low.tolist() == [4860.35, 4106.98]
    assert c.ts_ns[0] == to_ns("2020-03-12")
    with pytest.raises(DataError, match="(?s)BTC-USD.*ETH-USD"):
        load_candles(write(tmp_path, "yahoo2.csv", text))


def test_bitstamp_odd_column_order(tmp_path):
    text = ("timestamp,open,close,volume,unix_timestamp,high,low\n"
            "2020-03-12 00:00:00,7935.0,4800.0,10.0,1583971200,7966.2,4644.0\n"
            "2020-03-13 00:00:00,4800.0,5640.0,12.0,1584057600,5978.0,3850.0\n")
    c = load_candles(write(tmp_path, "bitstamp.csv", text))
    assert c.open.tolist() == [7935.0, 4800.0] and c.close.tolist() == [4800.0, 5640.0]
    assert c.high.tolist() == [7966.2, 5978.0] and c.low.tolist() == [4644.0, 3850.0]
    assert c.ts_ns.tolist() == [1583971200 * 10**9, 1584057600 * 10**9]


@pytest.mark.parametrize("unit,factor", [("ms", 10**3), ("us", 10**6), ("s", 1)])
def test_headerless_binance_klines_any_epoch_unit(tmp_path, unit, factor):
    t = 1_583_971_200  # 2020-03-12T00:00:00Z
    rows = [f"{(t + 60 * i) * factor},{100 + i},{101 + i},{99 + i},{100.5 + i},3,{(t + 60 * i + 59) * factor},0,0,0,0,0"
            for i in range(3)]
    c = load_candles(write(tmp_path, f"BTCUSDT-1m-2020-03-{unit}.csv", "\n".join(rows) + "\n"))
    assert c.ts_ns.tolist() == [(t + 60 * i) * 10**9 for i in range(3)]
    assert c.close.tolist() == [100.5, 101.5, 102.5] and c.interval == "1m"


def test_minute_export_with_banner_volume_column_and_newest_first(tmp_path):
    text = ("https://www.CryptoDataDownload.com\n"
            "unix,date,symbol,open,high,low,close,Volume BTC,Volume USD\n"
            "1583971320,2020-03-12 00:02:00,BTC/USD,7902,7903,7900,7901,0.3,2370\n"
            "1583971260,2020-03-12 00:01:00,BTC/USD,7910,7912,7901,7902,0.5,3951\n"
            "1583971200,2020-03-12 00:00:00,BTC/USD,7900,7911,7899,7910,0.4,3164\n")
    p = write(tmp_path, "Bitstamp_BTCUSD_minute.csv", text)
    with pytest.raises(DataError, match="line 4: timestamp 2020-03-12T00:01:00Z goes backwards"):
        load_candles(p)  # banner = line 1, header = line 2, first data row = line 3
    c = load_candles(p, sort=True)
    assert c.close.tolist() == [7910, 7902, 7901] and c.volume.tolist() == [0.4, 0.5, 0.3]
    assert c.symbol == "BTC/USD"


def test_close_only_file(tmp_path):
    c = load_candles(write(tmp_path, "cg.csv", "date,price,volume\n2015-01-01,314.2,1\n2015-01-02,315.0,2\n"))
    assert c.open.tolist() == c.high.tolist() == c.low.tolist() == c.close.tolist() == [314.2, 315.0]


def _frame():
    return pd.DataFrame({
        "date": pd.to_datetime([T0_NS, T0_NS + 15 * MIN, T0_NS + 30 * MIN], unit="ns", utc=True),
        "open": [100.0, 101.0, 99.0], "high": [102.0, 101.5, 100.0], "low": [99.5, 98.0, 97.0],
        "close": [101.0, 99.0, 98.5], "volume": [5.0, 6.0, 7.0],
    })


def test_freqtrade_feather_written_with_pyarrow(tmp_path):
    p = tmp_path / "BTC_USDT_USDT-15m-futures.feather"
    feather.write_feather(pa.Table.from_pandas(_frame(), preserve_index=False), str(p))
    c = load_candles(p)
    assert c.ts_ns.tolist() == [T0_NS, T0_NS + 15 * MIN, T0_NS + 30 * MIN]
    assert c.low.tolist() == [99.5, 98.0, 97.0] and c.interval == "15m"


def test_parquet_and_validation_reports_rows(tmp_path):
    p = tmp_path / "bars.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(), preserve_index=False), p)
    assert load_candles(p).close.tolist() == [101.0, 99.0, 98.5]
    bad = _frame()
    bad.loc[2, "high"] = 98.0  # below open 99
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), p)
    with pytest.raises(DataError, match=r"bars.parquet: row 3: high 98.0 is below max\(open, close\) = 99.0"):
        load_candles(p)


def test_freqtrade_json(tmp_path):
    rows = [[T0_NS // 10**6 + i * 3_600_000, 10 + i, 12 + i, 9 + i, 11 + i, 1.0] for i in range(3)]
    p = tmp_path / "ETH_USDT-1h.json"
    p.write_text(json.dumps(rows))
    c = load_candles(p)
    assert c.interval == "1h" and c.close.tolist() == [11, 12, 13] and c.ts_ns[0] == T0_NS


TRADES = """exchange,symbol,timestamp,local_timestamp,id,side,price,amount
binance-futures,BTCUSDT,1704067200100000,1704067200101000,1,buy,100,1
binance-futures,BTCUSDT,1704067230000000,1704067230001000,2,sell,98,2
binance-futures,ETHUSDT,1704067231000000,1704067231001000,3,sell,5,2
binance-futures,BTCUSDT,1704067245000000,1704067245001000,4,buy,103,0.5
binance-futures,BTCUSDT,1704067259000000,1704067259001000,5,sell,101,1
binance-futures,BTCUSDT,1704067261000000,1704067261001000,6,buy,102,4
binance-futures,BTCUSDT,1704067380000000,1704067380001000,7,buy,104,1
"""


def test_tardis_trades_aggregate_into_bars(tmp_path):
    p = write(tmp_path, "binance-futures_trades_2024-01-01_BTCUSDT.csv.gz", TRADES)
    with pytest.raises(DataError, match="(?s)BTCUSDT.*ETHUSDT"):
        load_candles(p)
    with pytest.raises(DataError, match="1 gap"):
        load_candles(p, symbol="BTCUSDT")  # minute 00:02 has no trade
    c = load_candles(p, symbol="BTCUSDT", gaps="skip")
    # by hand: minute 0 trades 100, 98, 103, 101 (amounts 1, 2, 0.5, 1); minute 1: 102 (4); minute 3: 104 (1)
    assert c.ts_ns.tolist() == [T0_NS, T0_NS + MIN, T0_NS + 3 * MIN]
    assert c.open.tolist() == [100, 102, 104] and c.high.tolist() == [103, 102, 104]
    assert c.low.tolist() == [98, 102, 104] and c.close.tolist() == [101, 102, 104]
    assert c.volume.tolist() == [4.5, 4, 1]
    assert c.gaps.spans == ((T0_NS + 2 * MIN, T0_NS + 3 * MIN),)
    five = load_candles(p, symbol="BTCUSDT", interval="5m")
    assert len(five) == 1 and five.high[0] == 104 and five.low[0] == 98 and five.volume[0] == 9.5


TICKER = """exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price
binance-futures,BTCUSDT,1704067200000000,1704067200001000,1704096000000000,0.0001,,10,100,100,100.2
binance-futures,BTCUSDT,1704067230000000,1704067230001000,1704096000000000,0.00012,,10,99,99,
binance-futures,BTCUSDT,1704067260000000,1704067260001000,1704096000000000,0.00015,,10,99,99,99.1
binance-futures,BTCUSDT,1704096000000000,1704096000001000,1704124800000000,-0.0002,,10,99,99,98.7
binance-futures,BTCUSDT,1704124800000000,1704124800001000,1704153600000000,0.0003,,10,99,99,99.5
"""


def test_tardis_derivative_ticker_bars_and_funding(tmp_path):
    p = write(tmp_path, "binance-futures_derivative_ticker_2024-01-01_BTCUSDT.csv", TICKER)
    c = load_candles(p, gaps="skip")  # mark price; the row with an empty mark is skipped
    assert c.close.tolist() == [100.2, 99.1, 98.7, 99.5] and np.isnan(c.volume).all()
    last = load_candles(p, gaps="skip", price_field="last_price")
    assert last.open[0] == 100 and last.close[0] == 99
    f = load_funding(p)
    # the settled rate is the last one published before each funding time
    assert f.ts_ns.tolist() == [1704096000 * 10**9, 1704124800 * 10**9, 1704153600 * 10**9]
    assert f.rate.tolist() == [0.00015, -0.0002, 0.0003]
    assert f.nominal_interval_ns == 8 * HOUR


# ---------------------------------------------------------------------------------------------- validation


def _bars(rows: list[str]) -> str:
    return "date,open,high,low,close,volume\n" + "\n".join(rows) + "\n"


GOOD = ["2024-01-01T00:00:00Z,100,110,95,105,1", "2024-01-01T00:05:00Z,105,106,90,91,2",
        "2024-01-01T00:10:00Z,91,99,91,98,1"]


@pytest.mark.parametrize("row,message", [
    ("2024-01-01T00:05:00Z,105,1o6,90,91,2", r"line 3: unparsable number in column 'high': '1o6'"),
    ("2024-01-01T00:05:00Z,105,106,NaN,91,2", r"line 3: missing value \(empty or NaN\) in column 'low'"),
    ("2024-01-01T00:05:00Z,105,106,90,,2", r"line 3: missing value \(empty or NaN\) in column 'close'"),
    ("2024-01-01T00:05:00Z,105,inf,90,91,2", r"line 3: non-finite number in column 'high'"),
    ("2024-01-01T00:05:00Z,0,106,0,91,2", r"line 3: non-positive price open=0.0"),
    ("2024-01-01T00:05:00Z,-5,106,-6,91,2", r"line 3: non-positive price open=-5.0"),
    ("2024-01-01T00:05:00Z,105,104,90,91,2", r"line 3: high 104.0 is below max\(open, close\) = 105.0"),
    ("2024-01-01T00:05:00Z,105,106,92,91,2", r"line 3: low 92.0 is above min\(open, close\) = 91.0"),
    ("2024-01-01T00:05:00Z,105,106,90,91,-2", r"line 3: negative volume -2.0"),
    ("2024-13-01T00:05:00Z,105,106,90,91,2", r"line 3: unparsable timestamp in column 'date'"),
    ("2024-01-01T00:00:00Z,105,106,90,91,2", r"line 3: duplicate timestamp 2024-01-01T00:00:00Z \(also at line 2\)"),
    ("2023-12-31T23:55:00Z,105,106,90,91,2", r"line 3: timestamp 2023-12-31T23:55:00Z goes backwards"),
])
def test_validation_names_file_and_line(tmp_path, row, message):
    p = write(tmp_path, "bad.csv", _bars([GOOD[0], row, GOOD[2]]))
    with pytest.raises(DataError, match=message) as e:
        load_candles(p)
    assert str(p) in str(e.value)


def test_off_grid_timestamp_is_an_error(tmp_path):
    rows = [*GOOD, "2024-01-01T00:17:00Z,91,99,91,98,1", "2024-01-01T00:20:00Z,98,99,97,98,1"]
    with pytest.raises(DataError, match="line 5: timestamp 2024-01-01T00:17:00Z is off the 5m bar grid"):
        load_candles(write(tmp_path, "grid.csv", _bars(rows)))


def test_unknown_layouts_and_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_candles(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="no time column"):
        load_candles(write(tmp_path, "x.csv", "a,b\n1,2\n"))
    with pytest.raises(DataError, match="no price columns"):
        load_candles(write(tmp_path, "y.csv", "date,foo\n2024-01-01,2\n"))
    with pytest.raises(DataError, match="pass interval="):
        load_candles(write(tmp_path, "one.csv", _bars(GOOD[:1])))
    assert load_candles(write(tmp_path, "one2.csv", _bars(GOOD[:1])), interval="5m").interval_ns == 5 * MIN
    with pytest.raises(InvalidInput, match="gaps"):
        load_candles(write(tmp_path, "z.csv", FREQTRADE), gaps="fill")
    with pytest.raises(DataError, match="not a readable parquet"):
        load_candles(write(tmp_path, "junk.parquet", "not parquet"))


# ---------------------------------------------------------------------------------------------- gaps

GAPPY = ["2024-01-01T00:00:00Z,100,101,99,100,1", "2024-01-01T01:00:00Z,100,102,100,101,1",
         # 02:00 and 03:00 missing
         "2024-01-01T04:00:00Z,103,104,102,103,1",
         # 05:00 missing
         "2024-01-01T06:00:00Z,104,105,103,104,1"]


def test_gap_policies(tmp_path):
    p = write(tmp_path, "gappy.csv", _bars(GAPPY))
    with pytest.raises(DataError, match=r"2 gap\(s\), 3 missing 1h bar\(s\): \[2024-01-01T02:00:00Z, 2024-01-01T04:00:00Z\)"):
        load_candles(p)
    skip = load_candles(p, gaps="skip")
    assert len(skip) == 4 and skip.gaps.policy == "skip"
    assert skip.gaps.spans == ((T0_NS + 2 * HOUR, T0_NS + 4 * HOUR), (T0_NS + 5 * HOUR, T0_NS + 6 * HOUR))
    assert skip.gaps.count == 2 and skip.gaps.missing_bars == 3
    ff = load_candles(p, gaps="forward_fill")
    assert ff.ts_ns.tolist() == [T0_NS + k * HOUR for k in range(7)]
    assert ff.filled.tolist() == [False, False, True, True, False, True, False]
    # filled bars are flat at the previous close, with no volume
    assert ff.open.tolist() == [100, 100, 101, 101, 103, 103, 104]
    assert ff.high.tolist() == [101, 102, 101, 101, 104, 103, 105]
    assert ff.close.tolist() == [100, 101, 101, 101, 103, 103, 104]
    assert ff.volume.tolist() == [1, 1, 0, 0, 1, 0, 1]
    assert ff.gaps.count == 2
    w = ff.window("2024-01-01T03:00:00Z", "2024-01-01T05:00:00Z")
    assert len(w) == 2 and w.gaps.spans == ((T0_NS + 3 * HOUR, T0_NS + 4 * HOUR),)


def test_rows_with_all_prices_missing_are_missing_bars(tmp_path):
    rows = [GOOD[0], "2024-01-01T00:05:00Z,,,,,", GOOD[2]]
    p = write(tmp_path, "kaggle.csv", _bars(rows))
    with pytest.raises(DataError, match="1 gap"):
        load_candles(p)
    assert load_candles(p, gaps="forward_fill").close.tolist() == [105, 105, 98]


def test_parse_interval_and_to_ns():
    assert parse_interval("15m") == 15 * MIN and parse_interval("8h") == 8 * HOUR and parse_interval("1d") == 24 * HOUR
    assert parse_interval(123) == 123
    for bad in ("1M", "five minutes", 0, -5, True):
        with pytest.raises(InvalidInput):
            parse_interval(bad)
    assert to_ns(T0) == T0_NS == to_ns("2024-01-01 00:00:00") == to_ns("2024-01-01T01:00:00+01:00")
    assert iso_utc(T0_NS + 90 * MIN) == "2024-01-01T01:30:00Z"
    for text in ("15m", "1h", "8h", "1d", "90s", "100ms"):
        assert format_interval(parse_interval(text)) == text
    assert format_interval(90 * MIN) == "90m"


# ---------------------------------------------------------------------------------------------- funding


def test_funding_long_format_synthetic(tmp_path):
    text = ("exchange,symbol,funding_time_utc,funding_rate,source_id\n"
            "binance,BTCUSDT,2021-06-29T16:00:00.000Z,3.883e-05,a\n"
            "binance,BTCUSDT,2021-06-30T00:00:00.011Z,0.0001,a\n"
            "binance,ETHUSDT,2021-06-30T00:00:00.002Z,0.0002,b\n"
            "binance,BTCUSDT,2021-06-30T08:00:00.002Z,-0.0003,b\n")
    p = write(tmp_path, "funding.csv", text)
    with pytest.raises(DataError, match="(?s)BTCUSDT.*ETHUSDT"):
        load_funding(p)
    f = load_funding(p, symbol="BTC/USDT:USDT")
    assert f.rate.tolist() == [3.883e-05, 0.0001, -0.0003]
    assert f.ts_ns[1] == to_ns("2021-06-30T00:00:00Z") + 11 * 10**6  # the jitter is kept, not rounded away
    assert f.nominal_interval_ns == 8 * HOUR and f.interval_ns.tolist() == [8 * HOUR] * 3
    assert f.rate_per("1h") == pytest.approx(np.array([3.883e-05, 0.0001, -0.0003]) / 8)
    bad = write(tmp_path, "pct.csv", "exchange,symbol,funding_time_utc,funding_rate\nx,BTC,2021-01-01T00:00:00Z,1.5\n")
    with pytest.raises(DataError, match="line 2: funding rate 1.5 is not a decimal rate"):
        load_funding(bad)
    dup = write(tmp_path, "dup.csv", "exchange,symbol,funding_time_utc,funding_rate\n"
                "x,BTC,2021-01-01T00:00:00Z,0.1\nx,BTC,2021-01-01T00:00:00Z,0.1\n")
    with pytest.raises(DataError, match="line 3: duplicate funding time"):
        load_funding(dup)


def test_freqtrade_funding_reads_the_open_column(tmp_path):
    p = write(tmp_path, "BTC_USDT_USDT-8h-funding_rate.csv",
              "date,open,high,low,close,volume\n2024-01-01T00:00:00Z,0.0001,0,0,0,0\n2024-01-01T08:00:00Z,0.0002,0,0,0,0\n")
    f = load_funding(p, fmt="freqtrade")
    assert f.rate.tolist() == [0.0001, 0.0002] and f.nominal_interval_ns == 8 * HOUR


def test_bitmex_funding():
    f = load_funding(data_path("funding/bitmex_XBTUSD_funding_2016-2020.csv"))
    assert len(f) == 4866 and f.symbol == "XBTUSD"  # PROVENANCE: 4,866 rows
    # fundingInterval 2000-01-02T00:00:00Z = 24 h in the 2016 rows, then 8 h
    assert f.interval_ns[0] == 24 * HOUR and f.interval_ns[-1] == 8 * HOUR and f.nominal_interval_ns == 8 * HOUR
    assert int((f.interval_ns == 24 * HOUR).sum()) == 22
    assert f.gaps.count == 0  # the 24 h spacing of 2016 is its own interval, not a gap
    # PROVENANCE: "BitMEX funding hits the -0.375 % cap from 2020-03-13 04:00"
    i = int(np.searchsorted(f.ts_ns, to_ns("2020-03-13T04:00:00Z")))
    assert f.ts_ns[i] == to_ns("2020-03-13T04:00:00Z") and f.rate[i] == pytest.approx(-0.00375)


def test_deribit_hourly_funding_is_resorted_by_utc():
    path = data_path("funding/deribit_BTC-PERPETUAL_funding_hourly_2019-2021.csv")
    f = load_funding(path)
    assert len(f) == 16008 and f.nominal_interval_ns == HOUR
    assert np.all(np.diff(f.ts_ns) > 0)
    # the file is ordered by UK local time; around the 2019-10-27 clock change the UTC hours 00:00 and 01:00
    # are listed in reverse. Both hours are present after sorting.
    for h in ("2019-10-27T00:00:00Z", "2019-10-27T01:00:00Z"):
        assert to_ns(h) in set(f.ts_ns.tolist())
    # the one real hole: two missing hours on 2020-08-27
    assert f.gaps.spans == ((to_ns("2020-08-27T06:00:00Z"), to_ns("2020-08-27T08:00:00Z")),)
    raw = pd.read_csv(path)
    by_ts = dict(zip(raw["timestamp"] * 10**6, raw["interest_1h"], strict=True))
    assert all(by_ts[t] == r for t, r in zip(f.ts_ns.tolist()[:500], f.rate.tolist()[:500], strict=True))


def test_binance_and_bybit_funding():
    path = data_path("funding/binance_usdm_BTCUSDT_ETHUSDT_funding_8h_2021-2025.csv.gz")
    btc = load_funding(path, symbol="BTCUSDT")
    eth = load_funding(path, symbol="ETHUSDT")
    assert len(btc) == 4805 and len(eth) == 3828  # PROVENANCE row counts
    assert btc.gaps.count == 0
    # PROVENANCE: ETH gap 2023-01-08 -> 2023-12-01
    assert eth.gaps.count == 1
    s, e = eth.gaps.spans[0]
    assert _day(s) == "2023-01-08" and _day(e) == "2023-12-01"
    # PROVENANCE: Binance BTC 8h minimum -0.119 % during FTX
    ftx = btc.window("2022-11-06", "2022-11-20")
    assert ftx.rate.min() == pytest.approx(-0.00119, abs=5e-6)
    bybit = load_funding(data_path("funding/bybit_linear_BTCUSDT_ETHUSDT_funding_8h_2023-2025.csv.gz"), symbol="ETHUSDT")
    assert len(bybit) == 2220 and bybit.window("2025-10-01", "2025-11-01").rate.min() == pytest.approx(-0.00118, abs=5e-6)


def _day(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").strftime("%Y-%m-%d")


def test_daily_mean_funding_is_a_daily_rate():
    daily = load_funding(data_path("funding/binance_BTC_funding_daily_mean_2019-2026.csv"))
    assert len(daily) == 2348 and daily.nominal_interval_ns == 24 * HOUR
    # PROVENANCE: the mean on 2020-03-13 is -0.127 %, i.e. a daily total of 3 × -0.127 %
    i = int(np.searchsorted(daily.ts_ns, to_ns("2020-03-13")))
    assert daily.rate[i] == pytest.approx(3 * -0.00127, abs=3 * 5e-6)
    # independent check: the sum of each day's 8-hourly settlements (PROVENANCE: the means agree within 3.5e-5)
    eight = load_funding(data_path("funding/binance_usdm_BTCUSDT_ETHUSDT_funding_8h_2021-2025.csv.gz"), symbol="BTCUSDT")
    per_day = eight.to_frame()["rate"].groupby(lambda t: t.floor("D")).agg(["sum", "count"])
    per_day = per_day[per_day["count"] == 3]
    d = daily.to_frame()["rate"]
    common = per_day.index.intersection(d.index)
    assert len(common) > 1500
    assert np.max(np.abs(d.loc[common].to_numpy() - per_day.loc[common, "sum"].to_numpy())) < 3 * 3.6e-5


# ---------------------------------------------------------------------------------------------- real candles


def test_hourly_file_has_the_documented_27_gaps():
    path = data_path("hourly/binance_spot_BTCUSDT_1h_2017-2022.csv.gz")
    with pytest.raises(DataError, match="27 gap"):
        load_candles(path)
    skip = load_candles(path, gaps="skip")
    ff = load_candles(path, gaps="forward_fill")
    raw = pd.to_datetime(pd.read_csv(path)["open_time_utc"], utc=True)
    steps = raw.diff().dropna()
    assert skip.gaps.count == int((steps > pd.Timedelta("1h")).sum()) == 27  # PROVENANCE: 27 gaps
    assert skip.gaps.missing_bars == int((steps / pd.Timedelta("1h") - 1).sum())
    assert len(ff) == (raw.iloc[-1] - raw.iloc[0]) / pd.Timedelta("1h") + 1
    assert len(skip) == 45345 and int(ff.filled.sum()) == skip.gaps.missing_bars


def test_daily_files_match_provenance_checks():
    y = load_candles(data_path("daily/yahoo_finance_crypto_daily_2014-2025.csv.gz"), symbol="BTC-USD")
    day = int(np.searchsorted(y.ts_ns, to_ns("2020-03-13")))
    assert y.low[day] == pytest.approx(4106.98, abs=0.01) and y.close[day] == pytest.approx(5563.71, abs=0.01)
    r = np.diff(np.log(y.close))
    assert r.min() == pytest.approx(-0.465, abs=0.001)  # worst daily log return, 2020-03-12
    assert _day(y.ts_ns[1:][np.argmin(r)]) == "2020-03-12"
    with pytest.raises(DataError, match="69 missing 1d"):  # AVAX has a 70-day hole in 2020
        load_candles(data_path("daily/yahoo_finance_crypto_daily_2014-2025.csv.gz"), symbol="AVAX-USD")
    b = load_candles(data_path("daily/binance_spot_BTCUSDT_1d_2018-2025.csv.gz"))
    assert b.low[int(np.searchsorted(b.ts_ns, to_ns("2020-03-13")))] == 3782.13
    bs = load_candles(data_path("daily/btcusd_bitstamp-coinbase_daily_2011-2025.csv"))
    assert len(bs) == 5152 and bs.low[int(np.searchsorted(bs.ts_ns, to_ns("2020-03-12")))] == pytest.approx(4644, abs=1)


def test_eth_perp_wick_loads_as_is():
    c = load_candles(data_path("crash_windows/2020-03-12_black_thursday.csv.gz"), source_id="bn_usdm_ETH_1h_mooneyes")
    i = int(np.searchsorted(c.ts_ns, to_ns("2020-03-13T02:00:00Z")))
    assert (c.open[i], c.high[i], c.close[i]) == (95.73, 323.0, 110.8)  # PROVENANCE anomaly, kept
