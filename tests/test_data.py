"""The shipped market history (``ramparts.data``): every file present and intact, lookup, the user's override,
corruption refused, and ``fetch`` keeping only what matches its published hash."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ramparts.data as rd
from ramparts.data import DataFile, data_path, fetch, manifest
from ramparts.data.commands import app as data_app
from ramparts.errors import DataError

SRC = Path(rd.__file__).resolve().parents[2]  # src/


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("entry", [e for e in manifest().values() if e.shipped], ids=lambda e: e.path)
def test_every_shipped_file_is_there_and_matches_both_hashes(entry: DataFile):
    raw = (rd.PACKAGE_DIR / entry.file).read_bytes()
    assert sha(raw) == entry.sha256 and len(raw) == entry.bytes
    content = gzip.decompress(raw) if entry.file.endswith(".gz") else raw
    assert sha(content) == entry.content_sha256 and len(content) == entry.content_bytes
    assert entry.file.endswith(".gz"), "the data is kept compressed"
    assert entry.source and entry.terms and entry.description


def test_manifest_covers_every_file_in_the_package_and_every_folder_the_code_reads():
    on_disk = {p.relative_to(rd.PACKAGE_DIR).as_posix() for p in rd.PACKAGE_DIR.rglob("*")
               if p.is_file() and p.suffix == ".gz"}
    assert on_disk == {e.file for e in manifest().values() if e.shipped}
    # the files the lab names in its code resolve (a renamed file would otherwise fail only at run time)
    named = set()
    for py in (SRC / "ramparts").rglob("*.py"):
        named |= set(re.findall(r'"((?:crash_windows|hourly|daily|funding|options|liquidations|calibration)/[^"]+)"',
                                py.read_text(encoding="utf-8")))
        named |= {"crash_windows/" + n for n in re.findall(r'\{_CW\}/([^"]+)"', py.read_text(encoding="utf-8"))}
    assert len(named) >= 10, named
    for name in named:
        assert data_path(name).is_file(), name


def test_not_shipped_files_carry_a_pinned_public_address():
    fetchable = [e for e in manifest().values() if not e.shipped]
    assert {e.path.split("/")[0] for e in fetchable} == {"calibration"}
    for e in fetchable:
        assert e.url and re.search(r"/[0-9a-f]{40}/", e.url), e.url  # a commit, not a branch
        assert not (rd.PACKAGE_DIR / e.file).exists() and not (rd.PACKAGE_DIR / (e.file + ".gz")).exists()


def test_no_code_looks_for_data_outside_the_package():
    for py in (SRC / "ramparts").rglob("*.py"):
        text = py.read_text(encoding="utf-8")
        assert not re.search(r'["\']shared["\']\s*/\s*["\']data["\']', text), py
        assert "shared_data_dir" not in text, py


def test_every_cited_reference_ships_with_the_package():
    cited = set()
    for f in (SRC / "ramparts").rglob("*"):
        if f.suffix not in (".py", ".toml") or not f.is_file():
            continue
        text = f.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/reference" not in text, f  # a fresh clone has no ../shared
        cited.update(re.findall(r"ramparts/reference/([\w.-]+\.md)", text))
    assert cited >= {"open-source-venues.md", "cex-and-clearinghouses.md", "published-crash-figures.md"}
    for name in cited:
        assert (SRC / "ramparts" / "reference" / name).is_file(), name


def test_lookup_by_logical_or_shipped_name_and_unknown_names():
    a = data_path("funding/bitmex_XBTUSD_funding_2016-2020.csv")  # the original name; shipped compressed
    assert a == data_path("funding/bitmex_XBTUSD_funding_2016-2020.csv.gz") == data_path("./" + a.relative_to(rd.PACKAGE_DIR).as_posix())
    assert a.name.endswith(".csv.gz")
    with pytest.raises(DataError, match="no such data file 'hourly/typo.csv'.*ramparts data list"):
        data_path("hourly/typo.csv")


def test_a_corrupt_shipped_file_is_refused(tmp_path, monkeypatch):
    e = manifest()["calibration/hyperliquid_bad_debt_by_adl_wave_2025-10-10.csv.gz"]
    fake = tmp_path / "pkg"
    (fake / "calibration").mkdir(parents=True)
    target = fake / e.file
    shutil.copyfile(rd.PACKAGE_DIR / e.file, target)
    monkeypatch.setattr(rd, "PACKAGE_DIR", fake)
    assert data_path(e.path) == target  # intact copy accepted
    body = bytearray(target.read_bytes())
    body[-5] ^= 0x01
    target.write_bytes(bytes(body))
    with pytest.raises(DataError, match="corrupt or altered"):
        data_path(e.path)
    assert rd.status(e)[0] == "corrupt"
    target.unlink()
    with pytest.raises(DataError, match="missing from the installation"):
        data_path(e.path)


def test_user_override_wins_and_is_checked_against_its_sums(tmp_path, monkeypatch):
    own = tmp_path / "mine"
    (own / "hourly").mkdir(parents=True)
    f = own / "hourly" / "binance_spot_BTCUSDT_1h_2017-2022.csv"
    f.write_text("date,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,1,2,3\n")
    monkeypatch.setenv("RAMPARTS_DATA", str(own))
    assert data_path("hourly/binance_spot_BTCUSDT_1h_2017-2022.csv.gz") == f  # found without the .gz
    assert data_path("daily/coingecko_btc_price_volume_daily_2015-2026.csv").is_relative_to(rd.PACKAGE_DIR)
    (own / "SHA256SUMS").write_text(f"{'0' * 64}  ./hourly/binance_spot_BTCUSDT_1h_2017-2022.csv\n")
    with pytest.raises(DataError, match="corrupt or altered"):
        data_path("hourly/binance_spot_BTCUSDT_1h_2017-2022.csv")
    (own / "SHA256SUMS").write_text(f"{sha(f.read_bytes())}  ./hourly/binance_spot_BTCUSDT_1h_2017-2022.csv\n")
    assert data_path("hourly/binance_spot_BTCUSDT_1h_2017-2022.csv") == f
    monkeypatch.setenv("RAMPARTS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="RAMPARTS_DATA='.*nowhere' is not a folder"):
        data_path("hourly/binance_spot_BTCUSDT_1h_2017-2022.csv")


@pytest.fixture
def fetchable(tmp_path, monkeypatch):
    """A manifest with one not-shipped file whose published content is ``BODY``, and an empty cache."""
    body = b"account,asset\nA,BTC\n"
    entry = DataFile(path="calibration/example.csv.gz", file="calibration/example.csv", shipped=False,
                     content_sha256=sha(body), description="x", source="x", terms="no licence", content_bytes=len(body),
                     url="https://example.invalid/0123456789abcdef0123456789abcdef01234567/example.csv")
    m = dict(manifest())
    m[entry.path] = entry
    monkeypatch.setattr(rd, "manifest", lambda: m)
    monkeypatch.setenv("RAMPARTS_CACHE", str(tmp_path / "cache"))
    return entry, body


def test_fetch_keeps_a_matching_download_and_refuses_a_tampered_one(fetchable, tmp_path):
    entry, body = fetchable
    with pytest.raises(DataError, match="not shipped with ramparts.*ramparts data fetch calibration/example.csv.gz"):
        data_path(entry.path)
    with pytest.raises(DataError, match="does not match its published SHA-256.*nothing was written"):
        fetch(entry.path, opener=lambda url: body + b"tampered")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))

    def offline(url):
        raise OSError("network unreachable")

    with pytest.raises(DataError, match="cannot download calibration/example.csv.gz.*network unreachable"):
        fetch(entry.path, opener=offline)
    seen = []
    p = fetch(entry.path, opener=lambda url: seen.append(url) or body)
    assert seen == [entry.url] and gzip.decompress(p.read_bytes()) == body
    assert data_path(entry.path) == p and rd.status(entry)[0] == "ok"
    fetch(entry.path, opener=offline)  # an intact copy is not downloaded again
    p.write_bytes(gzip.compress(b"changed"))
    with pytest.raises(DataError, match="corrupt or altered"):
        data_path(entry.path)
    with pytest.raises(DataError, match="ships with ramparts"):
        fetch("crash_windows/2020-03-12_black_thursday.csv.gz")
    with pytest.raises(DataError, match="no such data file"):
        fetch("calibration/typo.csv")


def test_data_commands_list_verify_path_fetch(fetchable, monkeypatch):
    entry, body = fetchable
    monkeypatch.setenv("COLUMNS", "250")
    r = CliRunner()
    out = r.invoke(data_app, ["list", "--sources"], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert "crash_windows/2020-03-12_black_thursday.csv.gz" in out.output and "shipped, verified" in out.output
    assert "not fetched" in out.output and "cryofrost" in out.output
    out = r.invoke(data_app, ["list", "--folder", "nope"])
    assert out.exit_code == 2 and "--folder 'nope': no such folder" in out.output
    out = r.invoke(data_app, ["verify"], terminal_width=250)
    assert out.exit_code == 0 and f"{sum(e.shipped for e in manifest().values())} files verified, 0 corrupt" in out.output
    out = r.invoke(data_app, ["path", "options/deribit_BTC_DVOL_daily_close_2022-2025.csv"], terminal_width=250)
    assert out.exit_code == 0 and out.output.strip().endswith("deribit_BTC_DVOL_daily_close_2022-2025.csv.gz")
    out = r.invoke(data_app, ["path", "typo"])
    assert out.exit_code == 2 and "no such data file 'typo'" in out.output and "Traceback" not in out.output
    monkeypatch.setattr(rd, "_download", lambda url: body)
    out = r.invoke(data_app, ["fetch", entry.path], terminal_width=250)
    assert out.exit_code == 0, out.output
    assert rd.status(entry)[0] == "ok"
