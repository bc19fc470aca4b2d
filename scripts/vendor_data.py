"""Vendor the market history the product uses from ``../shared/data`` into ``src/ramparts/data``.

A maintainer's tool, run by hand when the shared material changes; nothing in the product or the
tests runs it (they read only what ships in the package). For every file listed in :data:`FILES`:

* a file that may be shipped is copied into ``src/ramparts/data/<folder>/``: byte for byte when it is
  already gzip-compressed, otherwise gzip-compressed here (deterministically: no name, mtime 0,
  level 9), so the decompressed bytes are the original's;
* a file whose terms do not allow shipping it inside the Apache-2.0 package is *not* copied; its
  manifest entry carries the public address ``ramparts data fetch`` downloads it from;
* ``MANIFEST.json`` records, per file, the logical path (the name in ``../shared/data``), the shipped
  file, the SHA-256 of the shipped bytes, the SHA-256 of the original content (equal to the entry of
  ``../shared/data/SHA256SUMS`` for a file copied byte for byte, or to the decompressed bytes),
  sizes, source and terms. The package verifies the shipped hash when it opens a file.

Usage: ``python scripts/vendor_data.py [--shared ../shared/data]``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "ramparts" / "data"

NO_LICENSE = "no licence stated by the source repository; exchange market data (public API prices), the exchange's API terms apply"
GPL_CODE = ("the source repository carries GPL-3.0, the licence of freqtrade's code, which is not a grant over the "
            "exchange market data it holds; the exchange's API terms apply")
MIT = "MIT (the source repository's licence)"

# path -> (what it is, source "repo @ commit : path", terms, ship?)
FILES: dict[str, tuple[str, str, str, bool]] = {
    "crash_windows/2020-03-12_black_thursday.csv.gz": (
        "Black Thursday 2020-03-11 → 03-14: Binance spot BTC 5m (ends 03-12 21:10), ETH 5m, BTC/ETH 30m, Binance USDⓈ-M perp 1h, FTX spot 1h",
        "cryofrost/freqtrade @ 8a29df15, aovolkov/freqml @ 783eaf24, aallvi/botcripto @ bcb6bd92, MoonEyes/freqtrade @ 43fcd9b5",
        GPL_CODE + " (cryofrost); " + NO_LICENSE + " (the others)", True),
    "crash_windows/2021-05-19_china_ban_crash.csv.gz": (
        "China ban 2021-05-18 → 05-21: Binance spot BTC/ETH 1m and 30m, perp 1h, FTX spot 1h",
        "tooyipjee/freqtrade @ 44523f8d, aallvi/botcripto @ bcb6bd92, MoonEyes/freqtrade @ 43fcd9b5",
        GPL_CODE + " (tooyipjee); " + NO_LICENSE + " (the others)", True),
    "crash_windows/2022-11_ftx_collapse.csv.gz": (
        "FTX collapse 2022-11-06 → 11-12: Binance spot and USDⓈ-M perp BTC/ETH 5m, perp 1h",
        "danielarroyave28/freqtrade-bot-hibirda @ 9f8f5009, TrickBaker/freqtrade-repos @ bf527fbb, MoonEyes/freqtrade @ 43fcd9b5",
        NO_LICENSE, True),
    "crash_windows/2024-08-05_yen_carry_unwind.csv.gz": (
        "Yen carry unwind 2024-08-02 → 08-07: Binance spot BTC/ETH 5m, Binance and Bybit perps 15m",
        "Moudux1/ft_userdata @ 544ffba3, Saam0/freqtrade @ d4877851, mohsenjfar/trade @ c24abab8", NO_LICENSE, True),
    "crash_windows/2025-10-10_tariff_liquidation_cascade.csv.gz": (
        "2025-10-10 cascade, 10-09 → 10-13: Binance spot BTC/ETH 5m, Binance perp BTC 5m, Binance and Bybit perps 15m",
        "Harthor/marketlab @ dbec125c, MurphyHoops/freqtradeOne @ 8f6e469c (MIT), Saam0/freqtrade @ d4877851, mohsenjfar/trade @ c24abab8",
        NO_LICENSE + "; MurphyHoops: MIT", True),
    "hourly/binance_spot_BTCUSDT_1h_2017-2022.csv.gz": (
        "Binance spot BTCUSDT 1h, 2017-08-17 → 2022-10-25 (27 maintenance gaps)",
        "justinbomber/freq_stgy @ 8de4abcd : user_data/data/binance/BTC_USDT-1h.json", NO_LICENSE, True),
    "hourly/binance_spot_ETHUSDT_1h_2017-2022.csv.gz": (
        "Binance spot ETHUSDT 1h, 2017-08-17 → 2022-10-25",
        "justinbomber/freq_stgy @ 8de4abcd : user_data/data/binance/ETH_USDT-1h.json", NO_LICENSE, True),
    "hourly/binance_usdm_BTCUSDT_perp_1h_2020-2022.csv.gz": (
        "Binance USDⓈ-M BTCUSDT perpetual 1h (last trade), 2020-01-01 → 2023-01-01",
        "MoonEyes/freqtrade @ 43fcd9b5 : user_data/data/binance/futures/BTC_USDT-1h-futures.json", NO_LICENSE, True),
    "hourly/binance_usdm_ETHUSDT_perp_1h_2020-2022.csv.gz": (
        "Binance USDⓈ-M ETHUSDT perpetual 1h (last trade), 2020-01-01 → 2023-01-01",
        "MoonEyes/freqtrade @ 43fcd9b5 : user_data/data/binance/futures/ETH_USDT-1h-futures.json", NO_LICENSE, True),
    "hourly/binance_spot_BTCUSDT_1h_2024-2026.csv.gz": (
        "Binance spot BTCUSDT 1h, 2024-01-21 → 2026-01-20",
        "MikeBrants/friendly-fishstick @ f7389f81 : data/Binance_BTCUSDT_1h.csv", NO_LICENSE, True),
    "hourly/binance_spot_ETHUSDT_1h_2024-2026.csv.gz": (
        "Binance spot ETHUSDT 1h, 2024-01-21 → 2026-01-20",
        "MikeBrants/friendly-fishstick @ c0c72f85 : data/Binance_ETHUSDT_1h.csv", NO_LICENSE, True),
    "daily/yahoo_finance_crypto_daily_2014-2025.csv.gz": (
        "Yahoo Finance daily OHLCV of BTC, ETH, LTC, XRP, BNB, DOGE, ADA, LINK, USDT, USDC, MATIC, SOL, AVAX, DOT to 2025-02-11",
        "budydeveloper/crypto-dataset @ 7791d624 : cryptos/<a>/<A>-USD_1d.csv", NO_LICENSE, True),
    "daily/binance_spot_BTCUSDT_1d_2018-2025.csv.gz": (
        "Binance spot BTCUSDT 1d klines, 2018-01-01 → 2025-02-20",
        "budydeveloper/crypto-dataset @ 11840c50 : binance/btc/BTCUSDT_1d.csv", NO_LICENSE, True),
    "daily/coingecko_btc_price_volume_daily_2015-2026.csv": (
        "CoinGecko BTC daily close and volume (USD), 2015-01-01 → 2026-02-13",
        "lukmol/gamlss-btc-VaR @ 5f40812a : data/btc_price_volume.csv", MIT, True),
    "daily/btcusd_bitstamp-coinbase_daily_2011-2025.csv": (
        "BTC/USD daily OHLCV, Bitstamp 2011-08 → 2015-07 then Coinbase, to 2025-09-24",
        "mathaszip/BTCprice @ 34486739 : data/btc/daily/BTCUSD_1d_candles_full.csv", NO_LICENSE, True),
    "funding/bitmex_XBTUSD_funding_2016-2020.csv": (
        "BitMEX XBTUSD funding per interval, 2016-05-14 → 2020-11-05",
        "nearridge/Hehmeyer @ 7744d79f : funding_data.csv", NO_LICENSE, True),
    "funding/deribit_BTC-PERPETUAL_funding_hourly_2019-2021.csv": (
        "Deribit BTC-PERPETUAL hourly funding (8h-equivalent and 1h) and index, 2019-04-30 → 2021-02-25",
        "nearridge/Hehmeyer @ 7744d79f : deribit_history.csv", NO_LICENSE, True),
    "funding/binance_usdm_BTCUSDT_ETHUSDT_funding_8h_2021-2025.csv.gz": (
        "Binance USDⓈ-M BTCUSDT / ETHUSDT 8h funding, 2021-06-29 → 2025-11 (merged, deduplicated)",
        "MoonEyes/freqtrade (6 commits), TrickBaker/freqtrade-repos @ bf527fbb, itumor/ft_userdata, "
        "MurphyHoops/freqtradeOne, kalyar197/eth-dashboard @ 7f581ecb", NO_LICENSE, True),
    "funding/bybit_linear_BTCUSDT_ETHUSDT_funding_8h_2023-2025.csv.gz": (
        "Bybit linear BTCUSDT / ETHUSDT 8h funding, 2023-11 → 2025-12",
        "mohsenjfar/trade @ c24abab8", NO_LICENSE, True),
    "funding/binance_BTC_funding_daily_mean_2019-2026.csv": (
        "Binance BTC perpetual funding, daily mean and mean absolute rate, 2019-09-10 → 2026-02-12",
        "lukmol/gamlss-btc-VaR @ 5f40812a : data/funding_rates.csv", MIT, True),
    "options/deribit_options_snapshot_20251230T173115Z.csv.gz": (
        "Deribit BTC and ETH option chain snapshot, 2025-12-30 17:31 UTC (1,304 options, prices in coin)",
        "znmahbub/SVCJ-Deribit-Inverse-Options-Pricer @ 516b0cb0 : data/deribit_options_snapshot_20251230T173115Z.csv",
        NO_LICENSE, True),
    "options/deribit_BTC_DVOL_daily_close_2022-2025.csv": (
        "Deribit BTC DVOL daily close, 2022-11-06 → 2025-11-12",
        "kalyar197/eth-dashboard @ 7f581ecb : historical_data/dvol_btc.json", NO_LICENSE, True),
    "liquidations/hyperliquid_2025-10-10_liq_plus_adl_by_ticker.csv": (
        "Hyperliquid 2025-10-10 liquidation and ADL notional and counts per ticker (171 tickers)",
        "ConejoCapital/HyperMultiAssetedADL @ bc34a96d : combined_impact_by_ticker.csv", NO_LICENSE.split(";")[0], True),
    "liquidations/hyperliquid_2025-10-10_adl_by_coin.csv": (
        "Hyperliquid 2025-10-10 ADL per coin (notional, PnL, leverage, users)",
        "ConejoCapital/HyperMultiAssetedADL @ 79bad0fa", NO_LICENSE.split(";")[0], True),
    "liquidations/hyperliquid_2025-10-10_adl_net_volume_by_ticker.csv": (
        "Hyperliquid 2025-10-10 ADL net volume and average price per ticker",
        "ConejoCapital/HyperMultiAssetedADL @ 79bad0fa", NO_LICENSE.split(";")[0], True),
    "liquidations/hyperliquid_2025-10-10_cascade_timing.json": (
        "Hyperliquid 2025-10-10 liquidations and ADLs per time bucket",
        "ConejoCapital/HyperMultiAssetedADL @ 79bad0fa", NO_LICENSE.split(";")[0], True),
    "liquidations/hyperliquid_2025-10-10_insurance_fund_underwater.json": (
        "Hyperliquid 2025-10-10 underwater accounts (302, −23.19M USD)",
        "ConejoCapital/HyperMultiAssetedADL @ 79bad0fa", NO_LICENSE.split(";")[0], True),
    "liquidations/hyperliquid_2025-10-10_realtime_analysis_summary.json": (
        "Hyperliquid 2025-10-10 real-time analysis summary (ADL total 2.10 bn USD)",
        "ConejoCapital/HyperMultiAssetedADL @ 79bad0fa", NO_LICENSE.split(";")[0], True),
    "calibration/hyperliquid_adl_headlines_2025-10-10.json.gz": (
        "Hyperliquid 2025-10-10 ADL headlines: deleveraged winners' equity / PnL quantiles, ADL overshoot",
        "pluriholonomic/autodeleveraging-analysis @ aae0be86 : out/headlines.json (its local inputs block removed)", MIT, True),
    "calibration/hyperliquid_bad_debt_by_adl_wave_2025-10-10.csv.gz": (
        "Hyperliquid 2025-10-10 bad debt by ADL wave (16 waves)",
        "pluriholonomic/autodeleveraging-analysis @ aae0be86 : out/bad_debt_loser_waves.csv", MIT, True),
    "calibration/hyperliquid_deficit_per_shock_cluster_by_coin_2025-10-10.csv.gz": (
        "Hyperliquid 2025-10-10 deficit per (coin, shock cluster)",
        "pluriholonomic/autodeleveraging-analysis @ aae0be86 : out/per_shock_metrics_queue.csv", MIT, True),
    "calibration/hyperliquid_btc_sol_positions_liquidated_adl_pnl_2025-10-10_2115-2127.csv.gz": (
        "Hyperliquid 2025-10-10 21:15–21:27: 13,031 (account × asset) BTC / SOL positions, liquidated and ADL flags, PnL",
        "ConejoCapital/HyperAnalyzeADL @ 18a7319909e0fa8d389cc1ed70ca04750849548a : results/positions_FINAL.csv",
        "GPL-3.0 (the repository's README badge): not shipped inside the Apache-2.0 package; `ramparts data fetch` downloads it",
        False),
    "calibration/multi_exchange_usd_volume_per_market_2025-10-10_2109-2200.csv.gz": (
        "USD volume per (exchange, spot/futures, market), 2025-10-10 21:09–22:00 UTC",
        "Jamster187/oct10-black-swan-analysis @ c291d3db35831ba24de214c667265487fe0929a1 : "
        "all_exchanges_liq_window_volume_spot_futures.csv",
        "no licence stated: not shipped; `ramparts data fetch` downloads it", False),
}

# the public address of a file that is not shipped (the original, uncompressed file at the pinned commit)
FETCH_URLS = {
    "calibration/hyperliquid_btc_sol_positions_liquidated_adl_pnl_2025-10-10_2115-2127.csv.gz":
        "https://raw.githubusercontent.com/ConejoCapital/HyperAnalyzeADL/18a7319909e0fa8d389cc1ed70ca04750849548a/"
        "results/positions_FINAL.csv",
    "calibration/multi_exchange_usd_volume_per_market_2025-10-10_2109-2200.csv.gz":
        "https://raw.githubusercontent.com/Jamster187/oct10-black-swan-analysis/c291d3db35831ba24de214c667265487fe0929a1/"
        "all_exchanges_liq_window_volume_spot_futures.csv",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    src: Path = args.shared
    sums = {}
    for line in (src / "SHA256SUMS").read_text().splitlines():
        h, name = line.split(maxsplit=1)
        sums[name.removeprefix("./")] = h
    on_disk = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()} - {"PROVENANCE.md", "SHA256SUMS"}
    missing = on_disk - set(FILES)
    if missing:
        raise SystemExit(f"files in {src} without an entry in FILES: {sorted(missing)}")
    for sub in {Path(p).parts[0] for p in FILES}:
        shutil.rmtree(DEST / sub, ignore_errors=True)
    entries = []
    for path, (what, source, terms, ship) in FILES.items():
        raw = (src / path).read_bytes()
        if sha256(raw) != sums[path]:
            raise SystemExit(f"{path}: does not match ../shared/data/SHA256SUMS")
        content = gzip.decompress(raw) if path.endswith(".gz") else raw
        entry = {"path": path, "description": what, "source": source, "terms": terms,
                 "content_sha256": sha256(content), "content_bytes": len(content)}
        if ship:
            if path.endswith(".gz"):
                shipped_name, shipped = path, raw
            else:
                shipped_name = path + ".gz"
                shipped = gzip.compress(raw, compresslevel=9, mtime=0)
            out = DEST / shipped_name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(shipped)
            entry.update(shipped=True, file=shipped_name, sha256=sha256(shipped), bytes=len(shipped))
        else:
            entry.update(shipped=False, url=FETCH_URLS[path],
                         file=path.removesuffix(".gz") if path.endswith(".gz") else path)
        entries.append(entry)
    manifest = {"format": 1, "generated_by": "scripts/vendor_data.py", "files": entries}
    (DEST / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    total = sum(e.get("bytes", 0) for e in entries)
    print(f"{sum(e['shipped'] for e in entries)} files shipped ({total / 1e6:.1f} MB), "
          f"{sum(not e['shipped'] for e in entries)} to fetch")


if __name__ == "__main__":
    main()
